"""The time zone database needle uses: the newer of the host's (``zoneinfo.TZPATH``, e.g.
/usr/share/zoneinfo) and the one shipped with needle (the ``tzdata`` package), the same in every
command and process. Python's ``zoneinfo`` reads the host's first whenever it has one, however old:
a host with 2025b data and the package's 2026f put a Vancouver session an hour apart from a reader
with current data. The choice is made once per process, before the first zone is read, by setting
zoneinfo's search path (``reset_tzpath``): every ``ZoneInfo`` in the process (icalendar's too) then
reads the same database. ``database()`` says which; calendars carry its version.
"""

from __future__ import annotations

import functools
import os
import re
from typing import NamedTuple
from zoneinfo import ZoneInfo


class Database(NamedTuple):
    version: str  # the IANA release, such as 2026f; "unknown" when no database says
    source: str  # "the tzdata package" or the host folder it is read from


def _release(text: str) -> tuple[int, str] | None:
    found = re.fullmatch(r"(\d{4})([a-z]{1,2})", text.strip())
    return (int(found[1]), found[2]) if found else None


def host_version(folder: str) -> str | None:
    """The IANA release of the zone database in ``folder`` (its ``tzdata.zi`` first line, or the
    ``+VERSION`` file some systems have), None when it does not say."""
    try:
        with open(os.path.join(folder, "tzdata.zi"), encoding="ascii", errors="replace") as fh:
            first = fh.readline()
        found = re.match(r"#\s*version\s+(\S+)", first)
        if found and _release(found[1]):
            return found[1]
    except OSError:
        pass
    try:
        with open(os.path.join(folder, "+VERSION"), encoding="ascii", errors="replace") as fh:
            text = fh.read(32).strip()
        return text if _release(text) else None
    except OSError:
        return None


def shipped_version() -> str | None:
    """The IANA release of the ``tzdata`` package installed with needle, None without it."""
    from importlib import import_module

    try:
        tzdata = import_module("tzdata")
    except ImportError:
        return None
    version = str(getattr(tzdata, "IANA_VERSION", ""))
    return version if _release(version) else None


@functools.cache
def database() -> Database:
    """Choose the zone database for this process (once) and say which: the host's when it is newer
    than the shipped one, else the shipped one (a tie, or a host that does not say its version)."""
    import zoneinfo

    shipped = shipped_version()
    hosts = [(v, folder) for folder in zoneinfo.TZPATH if (v := host_version(folder))]
    newest = max(hosts, key=lambda h: _release(h[0]) or (0, "")) if hosts else None
    if shipped is not None and (newest is None or (_release(newest[0]) or (0, "")) <= (_release(shipped) or (0, ""))):
        zoneinfo.reset_tzpath(to=())  # no folder: zoneinfo reads the tzdata package
        ZoneInfo.clear_cache()
        return Database(shipped, "the tzdata package")
    if newest is not None:
        zoneinfo.reset_tzpath(to=(newest[1],))
        ZoneInfo.clear_cache()
        return Database(newest[0], newest[1])
    return Database("unknown", "the system")


def release(name: str) -> str:
    """The release zone ``name`` is read from: the chosen host folder's when it holds the zone, else the
    shipped package's (zoneinfo falls back to it for a zone the host lacks, e.g. `US/Pacific` on a
    Debian without tzdata-legacy): what a calendar of that zone says it was made with."""
    chosen = database()
    if chosen.source != "the tzdata package" and not os.path.isfile(os.path.join(chosen.source, name)):
        return shipped_version() or chosen.version
    return chosen.version


def zone(name: str) -> ZoneInfo:
    """The zone ``name`` from the database `database` chose (ZoneInfoNotFoundError, ValueError or
    OSError when there is none)."""
    database()
    return ZoneInfo(name)
