"""How the register writes what it keeps: canonical JSON, SHA-256, and documents packed (zlib)."""

from __future__ import annotations

import hashlib
import json


def canonical(value: object) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8 (the bytes a row's content hash is taken of)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(text: str) -> bytes:
    """A stored document (a screening record, a saved plan: TOML) as the register keeps it: zlib."""
    import zlib

    return zlib.compress(text.encode("utf-8"), 9)


def unpack(blob: object, limit: int = 1 << 22) -> str:
    """A stored document back; ValueError when it is not one (damaged, or too large: a bomb)."""
    import zlib

    if not isinstance(blob, bytes):
        raise ValueError("not a stored document")
    try:
        d = zlib.decompressobj()
        data = d.decompress(blob, limit + 1)
    except zlib.error:
        raise ValueError("not a stored document") from None
    if len(data) > limit or d.unconsumed_tail:
        raise ValueError("a stored document too large to read")
    return data.decode("utf-8")
