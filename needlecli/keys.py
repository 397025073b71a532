"""The secret that keys calendar UIDs, so no UID can be traced back to a patient id or indication.

The config's `uid_key` wins (a clinic with several machines sets the same one everywhere);
otherwise needle creates a key on first use and keeps it in the user's data folder
(`$XDG_DATA_HOME/needle/uid_key`, `~/.local/share/needle/uid_key` on Linux), saying where once.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from needlecli.config import Config
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


def uid_key(config: Config, announce: bool = True) -> str:
    """The config's key, else the one in the data folder, created (0600) on first use."""
    if config.uid_key:
        return config.uid_key
    folder = data_dir()
    path = folder / FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the calendar id key: {getattr(exc, 'strerror', None) or exc}") from None
    if len(text) >= 16:
        return text
    import secrets

    key = secrets.token_hex(16)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return uid_key(config, announce)  # another needle created it meanwhile: use theirs
    except OSError as exc:
        raise UsageError(
            f"cannot keep the calendar id key in {folder}: {exc.strerror or exc} "
            "(set uid_key in the config, or NEEDLE_DATA_DIR)"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    if announce:
        print(
            f"needle: created the key that keeps calendar ids private in {path}; keep it (calendars "
            "already sent update only while it stays the same), or set uid_key in the config",
            file=sys.stderr,
        )
    return key


def with_uid_key(config: Config) -> Config:
    return dataclasses.replace(config, uid_key=uid_key(config))
