"""Clinic calendar inputs: weekday lists, times, time zones and public holidays.

Parsers raise UsageError with a message that names the flag or config key.
`holidays` is imported only when a country is asked for.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from zoneinfo import ZoneInfoNotFoundError

from needlecli import zones
from needlecli.errors import UsageError
from needlecli.model import MAX_DEPTH_MM, WEEKDAYS


def parse_weekdays(text: str, where: str = "--clinic-days") -> frozenset[int]:
    """`mon-fri`, `mon,wed,fri`, `tue-sat`, `sat-mon` (wraps), or a mix: `mon,wed-fri`."""
    days: set[int] = set()
    parts = [p.strip().lower() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise UsageError(f"{where}: expected days like mon-fri or mon,wed,fri, got {text!r}")
    for part in parts:
        ends = [e.strip() for e in part.split("-")]
        if len(ends) > 2 or any(e[:3] not in WEEKDAYS or not _is_day_name(e) for e in ends):
            raise UsageError(f"{where}: {part!r} is not a weekday or range (use mon tue wed thu fri sat sun)")
        a, b = WEEKDAYS.index(ends[0][:3]), WEEKDAYS.index(ends[-1][:3])
        i = a
        while True:
            days.add(i)
            if i == b:
                break
            i = (i + 1) % 7
    return frozenset(days)


def _is_day_name(word: str) -> bool:
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    return any(len(word) >= 3 and name.startswith(word) for name in full)


def format_weekdays(days: Iterable[int]) -> str:
    return ",".join(WEEKDAYS[d] for d in sorted(set(days)))


def parse_time(text: str, where: str = "--time") -> dt.time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m or not (0 <= int(m[1]) <= 23 and 0 <= int(m[2]) <= 59):
        raise UsageError(f"{where}: expected a 24-hour time HH:MM such as 09:30, got {text!r}")
    return dt.time(int(m[1]), int(m[2]))


def check_zone(name: str, where: str = "--tz") -> str:
    """An IANA zone name such as Europe/London; raises UsageError otherwise."""
    if (
        not name
        or name != name.strip()
        or name.startswith(("/", "posix/", "right/"))
        or ".." in name
        or name in ("localtime", "Factory", "posixrules")
    ):
        raise UsageError(f"{where}: {name!r} is not an IANA time zone such as Europe/London")
    if name.lower() == name or " " in name:  # `europe/london`, `America/New York`: the zone database's spelling
        name = _zone_spelling(name) or name
    try:
        zones.zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        known = _zone_spelling(name)
        if known is None:
            import difflib

            names = _zone_names()
            close = difflib.get_close_matches(name.casefold(), names, n=1)
            hint = f"did you mean {names[close[0]]}?" if close else "use an IANA name such as Europe/London"
            raise UsageError(f"{where}: unknown time zone {name!r} ({hint})") from None
        name = known
    if name in ("localtime", "Factory", "posixrules"):
        raise UsageError(f"{where}: {name!r} is not an IANA time zone such as Europe/London")
    return name


def _zone_spelling(name: str) -> str | None:
    """The zone database's own spelling of ``name`` typed in another case or with spaces, or None."""
    key = name.strip().replace(" ", "_").casefold()
    return _zone_names().get(key)


@functools.cache
def _zone_names() -> dict[str, str]:
    import zoneinfo

    zones.database()  # the database every command reads
    return {z.casefold(): z for z in zoneinfo.available_timezones() if not z.startswith(("posix/", "right/"))}


#: The shortest and longest session needle plans, in minutes (a bound on typos, not a clinical rule).
SESSION_MINUTES = (5, 480)


def check_duration(minutes: int, where: str = "--duration") -> int:
    lo, hi = SESSION_MINUTES
    if not lo <= minutes <= hi:
        raise UsageError(f"{where}: session length must be {lo}-{hi} minutes, got {minutes}")
    return minutes


#: The deepest needle a device setting can be (a bound on typos; the protocol's depths are the rule).


def check_depth(mm: float, where: str = "--max-depth") -> float:
    if not 0 < mm <= MAX_DEPTH_MM:
        raise UsageError(f"{where}: must be more than 0 and at most {MAX_DEPTH_MM:g} mm, got {mm:g}")
    return mm


def split_region(code: str, where: str = "--holidays") -> tuple[str, str | None]:
    """`GB` -> (GB, None); `GB-SCT` -> (GB, SCT); `US-CA` -> (US, CA)."""
    m = re.fullmatch(r"([A-Za-z]{2,3})(?:-([A-Za-z0-9]{1,5}))?", code.strip())
    if not m:
        raise UsageError(f"{where}: expected a country code such as GB, or GB-SCT with a subdivision, got {code!r}")
    return m[1].upper(), (m[2].upper() if m[2] else None)


def public_holidays(code: str, years: Iterable[int], where: str = "--holidays") -> frozenset[dt.date]:
    """Public holidays of a country (optionally a subdivision) for the given years."""
    country, subdiv = split_region(code, where)
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise UsageError(f"{where}: no public-holiday data for country {country!r}")
    if subdiv is not None and subdiv not in supported[country]:
        subs = ", ".join(supported[country]) or "none"
        raise UsageError(f"{where}: {country} has no subdivision {subdiv!r} (known: {subs})")
    try:
        found = holidays.country_holidays(country, subdiv=subdiv, years=sorted(set(years)))
    except NotImplementedError as exc:
        raise UsageError(f"{where}: {exc}") from None
    return frozenset(found.keys())


@functools.lru_cache(maxsize=64)
def regions_adding_holidays(code: str, years: tuple[int, ...]) -> tuple[str, ...]:
    """The regions of country ``code`` (as --holidays takes them: `GB-ENG`) whose own public holidays
    close days in ``years`` that the country alone leaves open (`GB`: England's Easter Monday, say).
    None for a code that names a region already, or a country without data or regional holidays."""
    country, subdiv = split_region(code)
    if subdiv is not None:
        return ()
    import holidays

    regions = holidays.list_supported_countries().get(country)
    if not regions:
        return ()
    common = holidays.country_holidays(country, years=list(years))
    found = []
    for region in regions:
        if region != region.upper() or not re.fullmatch(r"[A-Z0-9]{1,5}", region):
            continue  # not a code --holidays can name (the package's city and school-zone categories)
        try:
            own = holidays.country_holidays(country, subdiv=region, years=list(years))
        except NotImplementedError:
            continue
        if own.keys() - common.keys():
            found.append(f"{country}-{region}")
    return tuple(found)
