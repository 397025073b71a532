"""The output folder: one batch at a time (a lock on the folder), atomic file writes, the temp
files a killed run left, and syncing the folder.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Container
from pathlib import Path

from needlecli.errors import UsageError


def lock_folder(folder: Path) -> int | None:
    """Take the folder's batch lock (flock on the folder itself, so no lock file is left behind).

    Returns the descriptor that holds it (close it to let go), None where locks are not
    supported; raises UsageError when another `needle batch` holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(f"another needle batch is writing into {folder}; wait for it to end") from None
    except OSError:  # a file system without locks: run unlocked, as before
        os.close(fd)
        return None
    global _LOCK_FD
    _LOCK_FD = fd
    return fd


def unlock_folder(fd: int | None) -> None:
    global _LOCK_FD
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    _LOCK_FD = None


_LOCK_FD: int | None = None


#: The suffix of every temp file a batch writes: clean-up never touches another command's temp files.
TEMP_SUFFIX = ".batch.tmp"
_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.batch\.tmp$")


def write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically (records.replace_file: a hidden temp file in the same
    folder, fsync, rename), with a temp name only batch uses (`.NAME.XXXXXXXX.batch.tmp`)."""
    from needlecli.errors import RecordError
    from needlecli.records import replace_file

    if path.is_dir():
        raise RecordError(f"cannot write {path}: it is a folder")
    try:
        replace_file(path, (data,), mode, TEMP_SUFFIX)
    except OSError as exc:
        raise RecordError(f"cannot write {path}: {exc.strerror or exc}") from None


def remove_temp_files(folder: Path, names: Container[str] | None = None) -> int:
    """Remove the hidden temp files batch runs leave when stopped mid-write: every one when this run
    holds the folder's lock (``names`` None: any such file is stale or this run's), else only those
    of the file names this run gave out (``names``: their `records.temp_stem`s)."""
    removed = 0
    for entry in os.scandir(folder):
        if not (_TEMP.match(entry.name) and entry.is_file(follow_symlinks=False)):
            continue
        if names is not None and entry.name[1 : -(9 + len(TEMP_SUFFIX))] not in names:  # names: temp stems
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed += 1
    return removed


def sync_folder(folder: Path) -> None:
    """fsync a folder, so the renames into it are on disk too (where folders can be synced)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
