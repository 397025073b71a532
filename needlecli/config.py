"""Clinic configuration: a TOML file so nobody retypes the same flags.

Location: $NEEDLE_CONFIG if set, else `config.toml` in the platform config
folder (`app_dir`: the same folder click's get_app_dir("needle") names, e.g.
~/.config/needle on Linux), worked out here so reading the config needs no CLI
library.
Flags override the file; the file overrides the defaults.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from needlecli import documents
from needlecli.clinic import SESSION_MINUTES, check_zone, parse_time, parse_weekdays, split_region
from needlecli.errors import UsageError

KEYS: tuple[str, ...] = (
    "name",
    "phone",
    "address",
    "clinician",
    "days",
    "closed",
    "holidays",
    "time_zone",
    "session_time",
    "session_minutes",
    "date_order",
    "device_max_depth_mm",
    "protocols_dir",
    "uid_key",
)
DATE_ORDERS: tuple[str, ...] = ("ISO", "DMY", "MDY")
#: The deepest any protocol may go (catalog.MAX_DEPTH_MM); a device maximum cannot exceed it.
MAX_DEVICE_DEPTH_MM = 3.0

STARTER = """\
# needle clinic configuration. Flags given on the command line override these.
# `needle config show` prints the effective values and where each came from.

[clinic]
# Shown on aftercare checklists ("call the clinic" warning signs) and patient documents.
# name = "Harbour Skin Clinic"
# phone = "+44 20 7946 0000"
# address = "1 Harbour Street, Portsmouth PO1 2AB"

# Written into screening records.
# clinician = "Dr A. Rao"

# Open weekdays: mon-fri, or a list such as mon,wed,fri.
days = "mon-fri"

# Dates the clinic is closed (besides public holidays).
closed = []

# Public holidays to treat as closed: a country code, optionally with a
# subdivision, e.g. "GB", "GB-SCT", "US-CA". Leave out for none.
# holidays = "GB"

# IANA time zone for session times, e.g. "Europe/London".
# time_zone = "Europe/London"

# Default session start (24-hour HH:MM) and length in minutes.
# session_time = "10:00"
session_minutes = 60

# How dates in patient lists (batch CSV files) are written when they are not ISO:
# "ISO" (2026-12-01), "DMY" (01/12/2026 is 1 December) or "MDY" (12/01/2026 is 1 December).
date_order = "ISO"

# The deepest your device goes, in mm (more than 0, at most 3.0): every zone is capped at it.
# device_max_depth_mm = 2.5

# A folder of the clinic's own protocol files. A file there named NAME.toml overrides the
# bundled protocol NAME (or adds a new one) for every command. "~" is your home folder; a
# relative path is relative to the folder this file is in. The folder must exist.
# protocols_dir = "protocols"

# A secret that keys calendar UIDs, so a calendar file cannot be traced back to a
# patient id by guessing. Keep it, and keep it private: changing it changes every UID.
uid_key = "{uid_key}"
"""


@dataclass(frozen=True)
class Config:
    path: Path
    exists: bool
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    clinician: str | None = None
    days: frozenset[int] = frozenset(range(5))
    closed: frozenset[dt.date] = frozenset()
    holidays: str | None = None
    time_zone: str | None = None
    session_time: dt.time | None = None
    session_minutes: int = 60
    date_order: str = "ISO"
    device_max_depth_mm: float | None = None
    #: Absolute path of the clinic's own protocols folder (checked to exist when the config is read).
    protocols_dir: Path | None = None
    uid_key: str | None = None
    #: key -> where its value came from ("default" or the file's path)
    sources: dict[str, str] = field(default_factory=dict)


def app_dir(app: str = "needle", platform: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The platform's config folder for ``app`` (the same answer as click's ``get_app_dir(app)``):
    ``%APPDATA%\\needle`` on Windows, ``~/Library/Application Support/needle`` on macOS, else
    ``$XDG_CONFIG_HOME/needle`` or ``~/.config/needle``."""
    platform = sys.platform if platform is None else platform
    env = os.environ if environ is None else environ
    if platform.startswith("win"):
        return Path(os.path.join(env.get("APPDATA") or os.path.expanduser("~"), app))
    if platform == "darwin":
        return Path(os.path.join(os.path.expanduser("~/Library/Application Support"), app))
    folder = env.get("XDG_CONFIG_HOME", os.path.expanduser("~/.config"))
    return Path(os.path.join(folder, "-".join(app.split()).lower()))


def config_path() -> Path:
    env = os.environ.get("NEEDLE_CONFIG")
    if env:
        return Path(env)
    return app_dir("needle") / "config.toml"


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    try:
        data = documents.read_bytes(path, "a config file")
    except documents.NoSuchFile:
        return Config(path=path, exists=False, sources=dict.fromkeys(KEYS, "default"))
    except documents.DocumentError as exc:
        raise UsageError(f"config {path}: {exc}") from None
    return parse_config(data, path)


def parse_config(data: bytes, path: Path) -> Config:
    where = f"config {path}"
    try:
        raw = documents.parse_toml(data)
    except documents.DocumentError as exc:
        raise UsageError(f"{where}: {exc}") from None
    c = documents.Checker()
    for key in raw:
        if key != "clinic":
            c.err(key, "unknown key (settings go under [clinic])")
    clinic = c.table(raw, "clinic", "", required=False) or {}
    c.unknown(clinic, "clinic", KEYS)
    values: dict[str, Any] = {}
    sources = dict.fromkeys(KEYS, "default")
    for key in KEYS:
        if key not in clinic:
            continue
        before = len(c.problems)
        try:
            val = _VALUES[key](c, clinic, key, path)
        except UsageError as exc:  # from the flag parsers (days, time zone ...): already key-pathed
            c.problems.append(str(exc))
            continue
        if val is not None and len(c.problems) == before:
            values[key] = val
            sources[key] = str(path)
    if c.problems:
        raise UsageError(f"{where}: {c.summary()}")
    return Config(path=path, exists=True, sources=sources, **values)


_Check = Callable[[documents.Checker, Mapping[str, Any], str, Path], object]


def _text(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    return c.string(tbl, key, "clinic").strip() or None


def _uid_key(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    val = tbl[key]
    if not isinstance(val, str) or len(val.strip()) < 16:
        c.err(f"clinic.{key}", "must be a secret string of at least 16 characters")
        return None
    return val.strip()


def _days(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    text = c.string(tbl, key, "clinic")
    return parse_weekdays(text, f"clinic.{key}") if text else None


def _closed(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    return frozenset(c.dates(tbl, key, "clinic", text=True))


def _holidays(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    text = c.string(tbl, key, "clinic")
    if not text:
        return None
    split_region(text, f"clinic.{key}")
    return text.strip().upper()


def _time_zone(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    text = c.string(tbl, key, "clinic")
    return check_zone(text, f"clinic.{key}") if text else None


def _session_time(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    text = c.string(tbl, key, "clinic")
    return parse_time(text, f"clinic.{key}") if text else None


def _session_minutes(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    return c.integer(tbl, key, "clinic", *SESSION_MINUTES)


def _date_order(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    text = c.string(tbl, key, "clinic").strip().upper()
    if text and text not in DATE_ORDERS:
        c.err(f"clinic.{key}", f"must be {', '.join(DATE_ORDERS[:-1])} or {DATE_ORDERS[-1]}")
        return None
    return text or None


def _device_depth(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    val = c.number(tbl, key, "clinic", unit="mm")
    if val is not None and not 0 < val <= MAX_DEVICE_DEPTH_MM:
        c.err(f"clinic.{key}", f"must be more than 0 and at most {MAX_DEVICE_DEPTH_MM} mm, got {val:g}")
        return None
    return val


def _protocols_dir(c: documents.Checker, tbl: Mapping[str, Any], key: str, path: Path) -> object:
    text = c.string(tbl, key, "clinic")
    if not text:
        return None
    where = f"clinic.{key}"
    try:
        folder = Path(text).expanduser()
    except RuntimeError:  # "~" with no home folder known
        c.err(where, "cannot expand '~' (no home folder is known); give the full path")
        return None
    except ValueError:
        c.err(where, "not a usable folder name")
        return None
    if not folder.is_absolute():
        folder = path.absolute().parent / folder
    folder = Path(os.path.normpath(folder))
    try:
        if not folder.exists():
            c.err(where, f"no such folder: {folder}")
            return None
        if not folder.is_dir():
            c.err(where, f"not a folder: {folder}")
            return None
    except (OSError, ValueError):
        c.err(where, f"cannot use {folder}")
        return None
    return folder


_VALUES: dict[str, _Check] = {
    "name": _text,
    "phone": _text,
    "address": _text,
    "clinician": _text,
    "days": _days,
    "closed": _closed,
    "holidays": _holidays,
    "time_zone": _time_zone,
    "session_time": _session_time,
    "session_minutes": _session_minutes,
    "date_order": _date_order,
    "device_max_depth_mm": _device_depth,
    "protocols_dir": _protocols_dir,
    "uid_key": _uid_key,
}


def describe(config: Config) -> list[tuple[str, str, str]]:
    """(key, effective value, source) for `needle config show`."""
    from needlecli.clinic import format_weekdays

    def show(key: str) -> str:
        val = getattr(config, key)
        if val is None:
            return "(not set)"
        if key == "uid_key":
            return "(set; not shown)"
        if key == "days":
            return format_weekdays(val)
        if key == "closed":
            return ", ".join(d.isoformat() for d in sorted(val)) or "(none)"
        if key == "session_time":
            return f"{val:%H:%M}"
        if key == "device_max_depth_mm":
            return f"{val:g} mm"
        return str(val)

    return [(key, show(key), config.sources.get(key, "default")) for key in KEYS]
