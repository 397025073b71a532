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
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from needlecli import documents
from needlecli.clinic import SESSION_MINUTES, check_zone, parse_time, parse_weekdays, split_region
from needlecli.errors import UsageError
from needlecli.model import MAX_DEPTH_MM, Document, ExportOptions, TreatmentProtocol

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
    "slots",
    "capacity",
    "date_order",
    "device_max_depth_mm",
    "protocols_dir",
    "register",
    "uid_key",
)
DATE_ORDERS: tuple[str, ...] = ("ISO", "DMY", "MDY")

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

# Public holidays to treat as closed: a country code with its region, e.g.
# "GB-ENG" for England ("GB-WLS", "GB-SCT", "GB-NIR", "US-CA" ...). A country
# alone closes only the days common to all of it: "GB" leaves England's Easter
# Monday and August bank holiday open. Leave out for none.
# holidays = "GB-ENG"

# IANA time zone for session times, e.g. "Europe/London".
# time_zone = "Europe/London"

# Default session start (24-hour HH:MM) and length in minutes.
# session_time = "10:00"
session_minutes = 60

# Booking (`--book`): the session start times of a day, and how many sessions run at once. A
# booked session takes the first free place at its time, else the earliest free slot of its day.
# Default: session_time as the only slot, capacity 1.
# slots = ["09:00", "10:30", "13:00", "14:30", "16:00"]
# capacity = 1

# How dates written with numbers only are read, in patient lists (batch CSV files), date flags
# (--start, --on ...) and the interview: "ISO" (2026-12-01; 01/12/2026 is refused as ambiguous),
# "DMY" (01/12/2026 is 1 December) or "MDY" (12/01/2026 is 1 December). ISO dates and dates with
# a month name (1 Dec 2026) are read the same way in every order.
date_order = "ISO"

# The deepest your device goes, in mm (more than 0, at most 3.0): every zone is capped at it.
# device_max_depth_mm = 2.5

# A folder of the clinic's own protocol files. A file there named NAME.toml overrides the
# bundled protocol NAME (or adds a new one) for every command. "~" is your home folder; a
# relative path is relative to the folder this file is in. The folder must exist.
# protocols_dir = "protocols"

# The clinic register (screenings, booked series, the journal): an SQLite file. Default:
# register.sqlite3 in needle's data folder, beside uid_key. $NEEDLE_REGISTER overrides it.
# register = "~/clinic/register.sqlite3"

# A secret that keys calendar UIDs, so a calendar file cannot be traced back to a
# patient id by guessing. Keep it, and keep it private: changing it changes every UID, and
# calendars already sent then duplicate on re-import. `needle config init --force` keeps it;
# only `--new-uid-key` replaces it.
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
    #: Booking's session start times of a day (empty: session_time alone), and places at each.
    slots: tuple[dt.time, ...] = ()
    capacity: int = 1
    date_order: str = "ISO"
    device_max_depth_mm: float | None = None
    #: Absolute path of the clinic's own protocols folder (checked to exist when the config is read).
    protocols_dir: Path | None = None
    #: Absolute path of the clinic register, when set (see `needlecli.register.store.register_path`).
    register: Path | None = None
    uid_key: str | None = None
    #: key -> where its value came from ("default" or the file's path)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def booking_slots(self) -> tuple[dt.time, ...]:
        """The day's slots a booking takes: `slots`, else `session_time` alone, else none."""
        return self.slots or ((self.session_time,) if self.session_time else ())


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


def export_options(
    config: Config,
    document: Document,
    *,
    name: str | None = None,
    protocol: TreatmentProtocol | None = None,
    series: bool = True,
) -> ExportOptions:
    """What a renderer needs besides the plan: the clinic's name, phone and address from ``config``
    (the one place they are taken from it), the patient's name when shown, and the treatment
    protocol the plan was made with (its checklists and handout words: never loaded again)."""
    return ExportOptions(
        document=document,
        name=name,
        clinic_name=config.name,
        clinic_phone=config.phone,
        clinic_address=config.address,
        protocol=protocol,
        series=series,
    )


def config_path() -> Path:
    env = os.environ.get("NEEDLE_CONFIG")
    if env:
        return Path(env)
    return app_dir("needle") / "config.toml"


def explicit_none(path: Path) -> bool:
    """``NEEDLE_CONFIG=/dev/null``: run without any clinic config (as ``GIT_CONFIG_GLOBAL=/dev/null``)."""
    return str(path) == os.devnull


#: The config this process read last (`load_config`): its date order and the paths it names.
_READ: list[Config] = []


def shown_order() -> str:
    """The date order of the config this command read (`date_order`; ISO when it read none): what a
    message for people writes its dates in (`dates.shown`)."""
    return _READ[-1].date_order if _READ else "ISO"


def named_paths() -> tuple[str, ...]:
    """The paths the config this command read names (itself, its register and protocols folder): a
    date in one is part of a name (`cli.typed_arguments`)."""
    return tuple(str(p) for c in _READ for p in (c.path, c.register, c.protocols_dir) if p is not None)


def forget_read_config() -> None:
    """A new command (tests run many in one process): no config read yet (`shown_order`, `named_paths`)."""
    _READ.clear()


def load_config(path: Path | None = None) -> Config:
    """The clinic config (kept for the command's messages: `shown_order`, `named_paths`)."""
    cfg = _load_config(path)
    _READ[:] = [cfg]
    return cfg


def _load_config(path: Path | None = None) -> Config:
    """The clinic config. The default location may be absent (every value is then the default);
    a file named by ``$NEEDLE_CONFIG`` (or ``path``) must exist: a typo in it would otherwise drop
    the clinic's settings (its device cap among them) without a word. ``/dev/null`` names no config."""
    named = path is not None or bool(os.environ.get("NEEDLE_CONFIG"))
    path = path or config_path()
    if explicit_none(path):
        return Config(path=path, exists=False, sources=dict.fromkeys(KEYS, "default"))
    try:
        data = documents.read_bytes(path, "a config file")
    except documents.NoSuchFile:
        if named:
            raise UsageError(
                f"config {path}: no such file (named by NEEDLE_CONFIG; create it with `needle config init`, "
                f"or set NEEDLE_CONFIG={os.devnull} to run without a clinic config)"
            ) from None
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


#: Bidirectional embedding, override and isolate controls.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _text(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    """One line of printable text (as --name): a control character (Word's soft line break U+000B,
    ESC, BEL, U+2028 ...) would go raw into calendars, where a strict reader rejects the whole file,
    and onto the terminal with `config show`. The error names it by its code, never echoes it."""
    import unicodedata

    text = c.string(tbl, key, "clinic").strip()
    if len(text) > 300:
        c.err(f"clinic.{key}", f"at most 300 characters, not {len(text)}")
        return None
    # Control characters and line or paragraph breaks; bidi overrides (they reorder what a reader sees).
    # Not every non-printing character: a no-break space, Persian's zero-width non-joiner or an emoji's
    # joiner are text.
    bad = next((ch for ch in text if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI), None)
    if bad is not None:
        c.err(f"clinic.{key}", f"must be one line of printable text (it holds U+{ord(bad):04X} at character "
                               f"{text.index(bad) + 1})")  # fmt: skip
        return None
    return text or None


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
    """Closed days: TOML dates, or text in ISO or in the config's own `date_order` ("25/12/2026" under
    DMY), as every date the clinic types."""
    from needlecli.dates import MAX_YEAR, MIN_YEAR, BadAnswer, parse_date

    raw_order = tbl.get("date_order")
    order = (
        raw_order.strip().upper() if isinstance(raw_order, str) and raw_order.strip().upper() in DATE_ORDERS else "ISO"
    )
    val = tbl[key]
    if not isinstance(val, list):
        c.err(f"clinic.{key}", f"must be a list of dates, not {documents.kind(val)}")
        return None
    out: set[dt.date] = set()
    for i, item in enumerate(val):
        where = f"clinic.{key}[{i}]"
        if isinstance(item, str):
            try:
                day = parse_date(item, order)
            except BadAnswer as exc:
                c.err(where, str(exc))
                continue
        elif isinstance(item, dt.date) and not isinstance(item, dt.datetime):
            day = item
        else:
            c.err(where, "must be a date (YYYY-MM-DD)")
            continue
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            c.err(where, documents.YEAR_RANGE)
            continue
        out.add(day)
    return frozenset(out)


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


def _slots(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    values = c.strings(tbl, key, "clinic")
    times = []
    for i, text in enumerate(values):
        try:
            times.append(parse_time(text, f"clinic.{key}[{i}]"))
        except UsageError as exc:
            c.err(f"clinic.{key}[{i}]", str(exc).split(": ", 1)[-1])
    if len(set(times)) != len(times):
        c.err(f"clinic.{key}", "a time is given twice")
    return tuple(sorted(times)) if times and len(times) == len(values) else None


def _capacity(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    return c.integer(tbl, key, "clinic", 1, 100_000)


def _date_order(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    text = c.string(tbl, key, "clinic").strip().upper()
    if text and text not in DATE_ORDERS:
        c.err(f"clinic.{key}", f"must be {', '.join(DATE_ORDERS[:-1])} or {DATE_ORDERS[-1]}")
        return None
    return text or None


def _device_depth(c: documents.Checker, tbl: Mapping[str, Any], key: str, _: Path) -> object:
    val = c.number(tbl, key, "clinic", unit="mm")
    if val is not None and not 0 < val <= MAX_DEPTH_MM:
        c.err(f"clinic.{key}", f"must be more than 0 and at most {MAX_DEPTH_MM} mm, got {val:g}")
        return None
    return val


def _register(c: documents.Checker, tbl: Mapping[str, Any], key: str, path: Path) -> object:
    text = c.string(tbl, key, "clinic")
    if not text:
        return None
    try:
        file = Path(text).expanduser()
    except RuntimeError:
        c.err(f"clinic.{key}", "cannot expand '~' (no home folder is known); give the full path")
        return None
    except ValueError:
        c.err(f"clinic.{key}", "not a usable file name")
        return None
    if not file.is_absolute():
        file = path.absolute().parent / file
    return Path(os.path.normpath(file))


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
    "slots": _slots,
    "capacity": _capacity,
    "date_order": _date_order,
    "device_max_depth_mm": _device_depth,
    "protocols_dir": _protocols_dir,
    "register": _register,
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
        if key == "slots":
            return ", ".join(f"{t:%H:%M}" for t in val) or "(session_time)"
        if key == "device_max_depth_mm":
            return f"{val:g} mm"
        return str(val)

    return [(key, show(key), config.sources.get(key, "default")) for key in KEYS]


def json_document(config: Config) -> dict[str, Any]:
    """`needle config show --json`: every key's effective value as JSON types (null when unset,
    numbers as numbers, closed dates as ISO strings; the uid_key never shown) and its source."""
    from needlecli.clinic import format_weekdays

    def value(key: str) -> object:
        val = getattr(config, key)
        if val is None:
            return None
        if key == "uid_key":
            return "(set; not shown)"
        if key == "days":
            return format_weekdays(val)
        if key == "closed":
            return [d.isoformat() for d in sorted(val)]
        if key == "session_time":
            return f"{val:%H:%M}"
        if key == "slots":
            return [f"{t:%H:%M}" for t in val]
        if key in ("protocols_dir", "register"):
            return str(val)
        return val  # str, int (session_minutes) or float (device_max_depth_mm)

    return {
        "path": str(config.path),
        "exists": config.exists,
        "values": {key: {"value": value(key), "source": config.sources.get(key, "default")} for key in KEYS},
    }


@dataclass(frozen=True)
class Written:
    """What `needle config init` did: lines for stdout, and warnings and notes for stderr."""

    said: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def backup_path(path: Path) -> Path:
    """Where `config init --force` keeps the file it replaces: ``config.toml.bak`` beside it."""
    return path.with_name(path.name + ".bak")


def init_config(path: Path, force: bool = False, new_uid_key: bool = False) -> Written:
    """Write the commented starter config to ``path`` (atomic, mode 0600).

    Over an existing file only with ``force``, and then the values the clinic set are kept
    (written into the new starter, whose comments describe every current key) and so is the
    uid_key; the old file is kept beside it as ``config.toml.bak`` (mode 0600). A new uid_key only
    with ``new_uid_key``, with a warning: calendars already sent would duplicate on re-import.
    A new file gets the key already in use (the one in the data folder, created if there is none),
    so writing a config never changes a calendar id.
    """
    import secrets

    from needlecli import keys
    from needlecli.records import name_problem, write_atomic

    if explicit_none(path):
        raise UsageError(f"NEEDLE_CONFIG={path} names no config file: point it at the file to write")
    try:
        exists = path.exists()
        if exists and not force:
            raise UsageError(f"{path} already exists (use --force to rewrite it, keeping its values and uid_key)")
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path.parent, 0o700)  # whatever the umask: the folder holds the calendar id key's config
        problem = name_problem(path)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename not in (None, str(path)) else ""
        raise UsageError(f"cannot write the config {path}{where}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in $NEEDLE_CONFIG
        raise UsageError(f"cannot write the config {path!r}: not a usable file name") from None
    if problem:
        raise UsageError(f"cannot write the config {path}: {problem}")

    backup = backup_path(path)
    old_bytes = b""
    clinic: Mapping[str, Any] = {}
    dropped: list[str] = []
    if exists:
        try:
            old_bytes = documents.read_bytes(path, "a config file")
            raw = documents.parse_toml(old_bytes)
        except documents.DocumentError as exc:
            if not new_uid_key:
                raise UsageError(
                    f"config {path}: {exc}; --force keeps its values and uid_key, so fix it first "
                    "(or add --new-uid-key to start again from the starter file)"
                ) from None
            raw = {}
        table = raw.get("clinic")
        clinic = table if isinstance(table, Mapping) else {}
        dropped = [k for k in raw if k != "clinic"] + [f"clinic.{k}" for k in clinic if k not in KEYS]

    old_key = clinic.get("uid_key")
    kept_key = old_key.strip() if isinstance(old_key, str) and len(old_key.strip()) >= 16 else None
    warnings: list[str] = []
    if new_uid_key:
        key = secrets.token_hex(16)
        where = f"in {backup}" if kept_key else f"in {keys.data_dir() / keys.FILE}"
        warnings.append(
            "needle: warning: a new uid_key: calendars already sent will duplicate on re-import "
            f"(their events do not update any more); the old key stays {where}"
        )
    else:
        key = kept_key or keys.uid_key(None, announce=False)

    text = STARTER.replace("{uid_key}", key)
    kept: list[str] = []
    for name in KEYS:
        if name == "uid_key" or name not in clinic:
            continue
        line = _toml_line(name, clinic[name])
        if line is None:
            dropped.append(f"clinic.{name}")
            continue
        escaped = line.replace("\\", "\\\\")  # a replacement string: backslashes are literal
        text = re.sub(rf"^(# )?{name} = .*$", escaped, text, count=1, flags=re.MULTILINE)
        kept.append(name)
    if exists:
        write_atomic(backup, old_bytes, mode=0o600)
    write_atomic(path, text.encode("utf-8"), mode=0o600)
    if not exists:
        return Written((f"wrote {path}",), tuple(warnings))
    what = f"kept {', '.join(kept)}" if kept else "no values to keep"
    what += "; a new uid_key" if new_uid_key else "; kept the uid_key"
    if dropped:
        warnings.append(f"needle: left out {', '.join(dropped)} (not config keys; they stay in {backup})")
    return Written((f"wrote {path} ({what}); the old file is {backup}",), tuple(warnings))


def _toml_line(key: str, value: object) -> str | None:
    """``key = value`` as TOML for a value a clinic set, or None for a value that is no setting
    (a table): dates, lists of dates, strings and numbers are written back as they were."""
    import tomli_w

    simple = (str, int, float, bool, dt.date)
    if not (isinstance(value, simple) or (isinstance(value, list) and all(isinstance(v, simple) for v in value))):
        return None
    return tomli_w.dumps({key: value}).rstrip("\n")


def with_uid_key(config: Config) -> Config:
    """The config with the calendar id key filled in: its own, else the one in the data folder."""
    import dataclasses

    from needlecli import keys

    # Not written yet when it is new: `keys.commit` writes it when a calendar id is (never with an error).
    return dataclasses.replace(config, uid_key=keys.uid_key(config.uid_key, lazy=True))
