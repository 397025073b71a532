"""Clinic configuration: a TOML file so nobody retypes the same flags.

Location: $NEEDLE_CONFIG if set, else `config.toml` in the platform config
folder (typer.get_app_dir("needle"), e.g. ~/.config/needle on Linux).
Flags override the file; the file overrides the defaults.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from needlecli.clinic import check_zone, parse_time, parse_weekdays, split_region
from needlecli.errors import UsageError

KEYS: tuple[str, ...] = (
    "name",
    "phone",
    "clinician",
    "days",
    "closed",
    "holidays",
    "time_zone",
    "session_time",
    "session_minutes",
    "uid_key",
)

STARTER = """\
# needle clinic configuration. Flags given on the command line override these.
# `needle config show` prints the effective values and where each came from.

[clinic]
# Shown on aftercare checklists ("call the clinic" warning signs).
# name = "Harbour Skin Clinic"
# phone = "+44 20 7946 0000"

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
    clinician: str | None = None
    days: frozenset[int] = frozenset(range(5))
    closed: frozenset[dt.date] = frozenset()
    holidays: str | None = None
    time_zone: str | None = None
    session_time: dt.time | None = None
    session_minutes: int = 60
    uid_key: str | None = None
    #: key -> where its value came from ("default" or the file's path)
    sources: dict[str, str] = field(default_factory=dict)


def config_path() -> Path:
    env = os.environ.get("NEEDLE_CONFIG")
    if env:
        return Path(env)
    import typer

    return Path(typer.get_app_dir("needle")) / "config.toml"


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Config(path=path, exists=False, sources=dict.fromkeys(KEYS, "default"))
    except OSError as exc:
        raise UsageError(f"config {path}: cannot read: {exc.strerror or exc}") from None
    return parse_config(data, path)


def parse_config(data: bytes, path: Path) -> Config:
    where = f"config {path}"
    try:
        raw = tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    problems: list[str] = []
    for key in raw:
        if key != "clinic":
            problems.append(f"{key}: unknown key (settings go under [clinic])")
    clinic = raw.get("clinic", {})
    if not isinstance(clinic, dict):
        raise UsageError(f"{where}: clinic: must be a table")
    values: dict[str, Any] = {}
    sources = dict.fromkeys(KEYS, "default")
    for key, val in clinic.items():
        kp = f"clinic.{key}"
        try:
            values[key] = _parse_value(key, val, kp)
            sources[key] = str(path)
        except UsageError as exc:
            problems.append(str(exc))
    if problems:
        raise UsageError(f"{where}: " + "; ".join(problems))
    return Config(path=path, exists=True, sources=sources, **values)


def _parse_value(key: str, val: object, kp: str) -> object:
    if key not in KEYS:
        import difflib

        hint = difflib.get_close_matches(key, KEYS, n=1)
        raise UsageError(f"{kp}: unknown key" + (f" (did you mean 'clinic.{hint[0]}'?)" if hint else ""))
    if key == "uid_key":
        if not isinstance(val, str) or len(val.strip()) < 16:
            raise UsageError(f"{kp}: must be a secret string of at least 16 characters")
        return val.strip()
    if key in ("name", "phone", "clinician"):
        if not isinstance(val, str) or not val.strip():
            raise UsageError(f"{kp}: must be a non-empty string")
        return val.strip()
    if key == "days":
        if not isinstance(val, str):
            raise UsageError(f'{kp}: must be a string such as "mon-fri"')
        return parse_weekdays(val, kp)
    if key == "closed":
        if not isinstance(val, list):
            raise UsageError(f"{kp}: must be a list of dates")
        out = set()
        for i, item in enumerate(val):
            if isinstance(item, dt.datetime) or not isinstance(item, (dt.date, str)):
                raise UsageError(f"{kp}[{i}]: must be a date (YYYY-MM-DD)")
            if isinstance(item, str):
                try:
                    item = dt.date.fromisoformat(item)
                except ValueError:
                    raise UsageError(f"{kp}[{i}]: {item!r} is not a date (YYYY-MM-DD)") from None
            out.add(item)
        return frozenset(out)
    if key == "holidays":
        if not isinstance(val, str):
            raise UsageError(f'{kp}: must be a country code such as "GB"')
        split_region(val, kp)
        return val.strip().upper()
    if key == "time_zone":
        if not isinstance(val, str):
            raise UsageError(f'{kp}: must be a string such as "Europe/London"')
        return check_zone(val, kp)
    if key == "session_time":
        if not isinstance(val, str):
            raise UsageError(f'{kp}: must be a string "HH:MM"')
        return parse_time(val, kp)
    # session_minutes
    if isinstance(val, bool) or not isinstance(val, int) or not 5 <= val <= 480:
        raise UsageError(f"{kp}: must be a whole number of minutes 5-480")
    return val


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
        return str(val)

    return [(key, show(key), config.sources.get(key, "default")) for key in KEYS]
