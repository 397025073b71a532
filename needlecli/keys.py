"""The secret that keys calendar UIDs, so no UID can be traced back to a patient id or indication.

The config's `uid_key` wins (a clinic with several machines sets the same one everywhere);
otherwise needle creates a key on first use and keeps it in the user's data folder
(`$XDG_DATA_HOME/needle/uid_key`, `~/.local/share/needle/uid_key` on Linux), saying where once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from needlecli.errors import UsageError

FILE = "uid_key"


def data_dir(environ: dict[str, str] | None = None, platform: str | None = None) -> Path:
    """The user's data folder for needle, per platform conventions."""
    env = os.environ if environ is None else environ
    platform = platform or sys.platform
    if "NEEDLE_DATA_DIR" in env:
        return Path(env["NEEDLE_DATA_DIR"])
    home = Path(env.get("HOME") or Path.home())
    if platform.startswith("win"):
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "needle"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "needle"
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / "needle"


#: A key file is a short line of hex: anything larger is not one (a symlink to /dev/zero, a log).
MAX_KEY_BYTES = 4096
MIN_KEY_CHARS = 16


class KeyRaced(BaseException):
    """Another needle created the calendar id key while this command made its own: nothing keyed by
    it was written, and the command runs again with theirs."""


#: A key made for this command but not written yet (`uid_key(lazy=True)`): written by `commit` just
#: before the command writes anything that carries a calendar id, never by a command that fails first.
_PENDING: tuple[Path, str] | None = None


def commit() -> None:
    """Write the key `uid_key(lazy=True)` made for this command (0600, linked into place) and say so
    once; nothing when there is none. Another needle that created a different key meanwhile: an
    error, before anything keyed with ours is written."""
    global _PENDING
    if _PENDING is None:
        return
    path, key = _PENDING
    made = _create_key(path.parent, path, key)
    _PENDING = None
    if made is None:
        raise KeyRaced  # the other command's key it is: computed again with it, before anything is written
    print(
        f"needle: created the key that keeps calendar ids private in {path}; keep it (calendars "
        "already sent update only while it stays the same), or set uid_key in the config",
        file=sys.stderr,
    )


def uid_key(configured: str | None = None, announce: bool = True, *, lazy: bool = False) -> str:
    """The config's key, else the one in the data folder, created (0600) on first use.

    An existing key file that is empty, too short, not a regular file or unreadable is an error
    naming the file, never silently replaced: calendars already sent depend on it. A new key is
    written whole under a temporary name and linked into place, so the file is never seen empty or
    half-written, and two first uses at once end with one key that both use."""
    if configured:
        return configured
    folder = data_dir()
    path = folder / FILE
    key = _read_key(path)
    if key is not None:
        return key
    if lazy:  # made now, written by `commit` only when a calendar id is about to be written
        global _PENDING
        if _PENDING is None or _PENDING[0] != path:
            import secrets

            _PENDING = (path, secrets.token_hex(16))
        return _PENDING[1]
    key = _create_key(folder, path)
    if key is None:  # another needle created it meanwhile: use theirs
        theirs = _read_key(path)
        if theirs is None:
            raise UsageError(f"{path}: the calendar id key vanished while it was being created; run again")
        return theirs
    if announce:
        print(
            f"needle: created the key that keeps calendar ids private in {path}; keep it (calendars "
            "already sent update only while it stays the same), or set uid_key in the config",
            file=sys.stderr,
        )
    return key


def _bad(path: Path, what: str) -> UsageError:
    return UsageError(
        f"{path}: {what}; calendars already sent depend on this key: restore it from a backup (or set "
        "uid_key in the config); only if no calendar was ever sent, remove the file to start a new key"
    )


def _read_key(path: Path) -> str | None:
    """The key in ``path``, None when there is no file; an error for anything that is not a key."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not hang the open
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _bad(path, f"cannot read the calendar id key: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _bad(path, "is not a regular file")
        if st.st_size > MAX_KEY_BYTES:
            raise _bad(path, f"is {st.st_size} bytes, not a calendar id key")
        data = os.read(fd, MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise _bad(path, f"cannot read the calendar id key: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _bad(path, "is not text") from None
    if len(text) < MIN_KEY_CHARS or not text.isprintable() or any(c.isspace() for c in text):
        raise _bad(path, f"holds no calendar id key (empty or shorter than {MIN_KEY_CHARS} characters)")
    if st.st_mode & 0o077 and os.name == "posix":
        print(f"needle: warning: {path} can be read by other users; chmod 600 it", file=sys.stderr)
    return text


def _create_key(folder: Path, path: Path, key: str | None = None) -> str | None:
    """A new key (``key``, else a fresh one) written whole and linked into place; None when another
    process's key got there first."""
    import secrets
    import tempfile

    key = key or secrets.token_hex(16)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".uid_key.", dir=folder)
    except OSError as exc:
        raise UsageError(
            f"cannot keep the calendar id key in {folder}: {exc.strerror or exc} "
            "(set uid_key in the config, or NEEDLE_DATA_DIR)"
        ) from None
    try:
        try:
            os.write(fd, (key + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # atomic and exclusive: fails if a key is already there
        except FileExistsError:
            return None
    except OSError as exc:
        raise UsageError(
            f"cannot keep the calendar id key in {folder}: {exc.strerror or exc} "
            "(set uid_key in the config, or NEEDLE_DATA_DIR)"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return key
