"""Reading input files with one clear error per failure (shared by every loader).

The limits themselves live in `needlecli.documents`; this keeps the older call shape.
"""

from __future__ import annotations

from pathlib import Path

from needlecli import documents
from needlecli.errors import NeedleError


def read_bytes(path: Path, what: str, error: type[NeedleError], limit: int = documents.MAX_BYTES) -> bytes:
    """The file's bytes, or ``error`` with a one-line reason (missing, a folder, a device or pipe,
    unreadable, too large), checked before anything is read."""
    try:
        return documents.read_bytes(path, what, limit)
    except documents.DocumentError as exc:
        raise error(f"{path}: {exc}") from None
