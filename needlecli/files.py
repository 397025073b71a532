"""Reading input files with one clear error per failure (shared by every loader)."""

from __future__ import annotations

from pathlib import Path

from needlecli.errors import NeedleError


def read_bytes(path: Path, what: str, error: type[NeedleError], limit: int) -> bytes:
    """The file's bytes, or ``error`` with a one-line reason (missing, a folder, unreadable, too large)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:  # e.g. a NUL byte in the path
        raise error(f"{path!r}: not a usable file name") from None
    if len(data) > limit:
        raise error(f"{path}: too large for {what} ({len(data)} bytes)")
    return data
