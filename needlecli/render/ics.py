"""iCalendar export with the `icalendar` package (this module and its batch writer `ics_fast` import it).

One timed event per session (all-day when the plan has no time), all-day
events with exclusive DTEND for every pause and aftercare window, one VALARM
per reminder (Outlook keeps only one per item), a VTIMEZONE for the zone used,
METHOD:PUBLISH and X-WR-CALNAME. UIDs come from the plan id (itself derived
from the patient, indication and start) and each item's stable key, so a
re-export updates events in place; SEQUENCE is the item's revision. DTSTAMP
comes from the plan, not the wall clock, so the same plan gives the same bytes.

Private by default: titles and descriptions carry no diagnosis, screening
finding or name; the patient's name appears only when passed as ``name``.

What a calendar holds is described once (``calendar_spec``); ``export`` writes it
through icalendar components and ``to_ical()`` (the reference), and batch writes the
same bytes faster with `needlecli.render.ics_fast.CalendarRenderer`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from pathlib import Path
from typing import NamedTuple

import icalendar  # noqa: TID253 - this module is imported only by commands that write ICS

from needlecli import __version__, zones
from needlecli.identity import UID_DOMAIN
from needlecli.model import Appointment, ExportOptions, Plan, Window
from needlecli.render.common import day_text

PRODID = f"-//needle//needle {__version__}//EN"


WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


#: The years every VTIMEZONE covers, whatever its plan's: one definition per zone name in every file
#: needle writes with the same zone data (a client that caches zones by name, as vobject and Outlook
#: do, reads the same one from each). A timed event outside them is written in UTC.
SPAN = (2000, 2050)


@functools.lru_cache(maxsize=64)
def _vtimezone(tzid: str, first_year: int = SPAN[0], last_year: int = SPAN[1]) -> icalendar.Timezone | None:
    """The zone's checked VTIMEZONE (`_built`): from needle's cache folder when this needle, icalendar
    and zone data built it before (the very bytes icalendar wrote then: a fresh build costs about 30 ms
    of every `plan --format ics`), else built, checked and kept there. A kept copy is checked again
    against the zone database over each plan's own years before it is used (`holds`);
    tests/test_calendars.py proves the kept and the built bytes equal, and a tampered copy unused."""
    path = _kept_path(tzid, first_year, last_year)
    if path is not None:
        kept = _read_kept(path)
        if kept is not None:
            return kept
    built = _built(tzid, first_year, last_year)
    if built is not None and path is not None:
        _keep(path, built.to_ical())
    return built


def _kept_path(tzid: str, first_year: int, last_year: int) -> str | None:
    import hashlib
    import os

    from needlecli.folders import cache_dir

    made = str(getattr(icalendar, "__version__", ""))  # not importlib.metadata: 15 ms of every start-up
    if not made:
        return None
    chosen = zones.database()
    key = "\0".join([__version__, made, tzid, str(first_year), str(last_year), zones.release(tzid), chosen.source])
    name = f"vtimezone-{hashlib.sha256(key.encode()).hexdigest()[:32]}.ics"
    return os.path.join(cache_dir(), name)


def _read_kept(path: str) -> icalendar.Timezone | None:
    """The VTIMEZONE kept at ``path``: a regular file, at most 256 KiB, that icalendar reads back to
    the same bytes; else None (built again)."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 18:
            return None
        data = os.read(fd, (1 << 18) + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        found = icalendar.Timezone.from_ical(data)
    except Exception:
        return None
    if not isinstance(found, icalendar.Timezone) or found.to_ical() != data:
        return None
    return found


def _keep(path: str, data: bytes) -> None:
    """Keep a checked VTIMEZONE (best effort: a cache that cannot be written is not an error)."""
    import contextlib
    import os

    from needlecli.records import write_atomic

    with contextlib.suppress(OSError, Exception):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_atomic(Path(path), data)


def forget(tzid: str, first_year: int = SPAN[0], last_year: int = SPAN[1]) -> None:
    """Drop a kept VTIMEZONE that failed its check: the next `_vtimezone` builds it again."""
    import contextlib
    import os

    path = _kept_path(tzid, first_year, last_year)
    if path is not None:
        with contextlib.suppress(OSError):
            os.unlink(path)
    _vtimezone.cache_clear()


@functools.lru_cache(maxsize=256)
def holds(tzid: str, first_year: int, last_year: int) -> bool:
    """Does the zone's VTIMEZONE agree with the zone database over the years ``first_year``-``last_year``
    (a plan's own, checked on every use: a kept copy is trusted no further)?"""
    vtz = _vtimezone(tzid)
    return vtz is not None and _agrees(vtz, tzid, dt.date(first_year, 1, 1), dt.date(last_year + 1, 1, 1))


def _built(tzid: str, first_year: int = SPAN[0], last_year: int = SPAN[1]) -> icalendar.Timezone | None:
    """The zone's VTIMEZONE over the years ``first_year``-``last_year`` (`SPAN`), built and checked.

    Built from the zone database's own changes (`transitions`), one observance per change, typed by
    its direction (DAYLIGHT when clocks go forward; the first one DAYLIGHT when the clocks go back next,
    as in a southern summer), its DTSTART the local time before the change (RFC 5545). Changes that
    recur on one weekday rule in consecutive years become one observance with a yearly RRULE (Outlook
    reads only DTSTART, RRULE and the offsets: MS-STANOICAL 2.2.47), bounded by UNTIL unless it runs to
    the span's end. Never an RDATE list: ical.js reads only its first value, vobject keeps one, Outlook
    none. What is written is read back independently and checked against the zone database at every
    change of the span, an hour either side, and weekly; when no form agrees, None tells the caller
    to write times in UTC instead."""
    zones.database()  # the database every command reads
    start, end = dt.datetime(first_year, 1, 1), dt.datetime(last_year + 1, 1, 1)
    changes = _changes(tzid, start, end)
    for rules in (True, False):
        candidate = _component(tzid, start, changes, rules, last_year)
        if _agrees(candidate, tzid, start.date(), end.date()):
            return candidate
    return None


class _Change(NamedTuple):
    onset: dt.datetime  # the local wall time before the change
    before: dt.timedelta
    after: dt.timedelta
    name: str


def _changes(tzid: str, start: dt.datetime, end: dt.datetime) -> list[_Change]:
    real = zones.zone(tzid)

    def at(utc: dt.datetime) -> tuple[dt.timedelta, str]:
        local = utc.replace(tzinfo=dt.UTC).astimezone(real)
        offset = local.utcoffset()
        assert offset is not None
        return offset, local.tzname() or ""

    out = []
    for utc in transitions(tzid, start, end):
        before = at(utc - dt.timedelta(minutes=1))[0]
        after, name = at(utc)
        out.append(_Change(utc + before, before, after, name))
    first, name = at(start)
    return [_Change(start, first, first, name), *out]  # the first: what holds as the span begins


def _component(
    tzid: str, start: dt.datetime, changes: list[_Change], rules: bool, last_year: int
) -> icalendar.Timezone:
    """The VTIMEZONE of ``changes`` (the first is the offset as the span begins), with yearly rules
    where the changes follow one (``rules``)."""
    out = icalendar.Timezone()
    out.add("tzid", tzid)
    initial, rest = changes[0], changes[1:]
    summer = bool(rest) and rest[0].after < rest[0].before  # the clocks go back next: it is summer time
    blocks: list[tuple[_Change, dict[str, object] | None]] = [(initial, None)]
    runs: dict[tuple[dt.timedelta, dt.timedelta, str], list[list[_Change]]] = {}
    for change in rest:  # consecutive years of one rule, per (offsets, name)
        key = (change.before, change.after, change.name)
        groups = runs.setdefault(key, [])
        if rules and groups and yearly_rule([c.onset for c in groups[-1]] + [change.onset]) is not None:
            groups[-1].append(change)
        else:
            groups.append([change])
    for groups in runs.values():
        for group in groups:
            if len(group) >= 3:  # a rule inferred only from changes that repeat
                rule = yearly_rule([c.onset for c in group])
                assert rule is not None
                if group[-1].onset.year < last_year:  # the rule stops within the span: say when
                    # UNTIL is UTC (RFC 5545 3.3.10); some readers compare it with the local onset.
                    # A day after the last change holds it under either reading, a year before the next.
                    last = group[-1].onset - group[-1].before + dt.timedelta(days=1)
                    rule["until"] = last.replace(tzinfo=dt.UTC)
                blocks.append((group[0], rule))
            else:
                blocks += [(c, None) for c in group]
    for change, rule in sorted(blocks, key=lambda b: b[0].onset):
        forward = change.after > change.before or (change is initial and summer)
        obs = icalendar.TimezoneDaylight() if forward else icalendar.TimezoneStandard()
        if change.name:
            obs.add("tzname", change.name)
        obs.add("tzoffsetfrom", change.before)
        obs.add("tzoffsetto", change.after)
        obs.add("dtstart", change.onset)
        if rule is not None:
            obs.add("rrule", rule)
        out.add_component(obs)
    return out


def _observances(tz: icalendar.Timezone, until: dt.datetime) -> list[tuple[dt.datetime, dt.timedelta, dt.timedelta]]:
    """(UTC instant, offset from then on) for every onset up to ``until``, read straight from the
    properties (DTSTART, RRULE, RDATE, TZOFFSETFROM/TO) as RFC 5545 defines them — not from
    icalendar's own reading of the component, so the check does not share the writer's assumptions."""
    from dateutil.rrule import rrulestr

    onsets: list[tuple[dt.datetime, dt.timedelta, dt.timedelta]] = []
    for sub in tz.subcomponents:
        before: dt.timedelta = sub.decoded("TZOFFSETFROM")
        after: dt.timedelta = sub.decoded("TZOFFSETTO")
        start: dt.datetime = sub.decoded("DTSTART")
        local = [start]
        if "RRULE" in sub:
            raw = sub["RRULE"].to_ical()
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            # UNTIL is UTC (RFC 5545 3.3.10, for observances): as a local time before the change here.
            stop = re.search(r"UNTIL=(\d{8}T\d{6})Z", text)
            if stop:
                wall = dt.datetime.strptime(stop[1], "%Y%m%dT%H%M%S") + before
                text = text.replace(stop[0], f"UNTIL={wall:%Y%m%dT%H%M%S}")
            local += list(rrulestr(text, dtstart=start).between(start, until, inc=False))
        rdates = sub.get("RDATE", [])
        for r in rdates if isinstance(rdates, list) else [rdates]:
            local += [p.dt for p in r.dts]
        onsets += [(wall - before, before, after) for wall in local if wall - before <= until]
    return sorted(onsets)


def _agrees(tz: icalendar.Timezone, tzid: str, first: dt.date, last: dt.date) -> bool:
    """Does the VTIMEZONE give the zone database's UTC offset at every transition of [first, last),
    an hour and a minute either side, and at noon every week?"""
    start = dt.datetime.combine(first, dt.time())
    end = dt.datetime.combine(last, dt.time())
    onsets = _observances(tz, end + dt.timedelta(days=1))
    if not onsets:
        return False
    first_from = onsets[0][1]  # before the first onset, its TZOFFSETFROM applies
    real = zones.zone(tzid)

    whens = [when for when, _, _ in onsets]

    def ours(utc: dt.datetime) -> dt.timedelta:
        n = bisect.bisect_right(whens, utc)  # the onsets at or before ``utc``
        return onsets[n - 1][2] if n else first_from

    def theirs(utc: dt.datetime) -> dt.timedelta:
        value = utc.replace(tzinfo=dt.UTC).astimezone(real).utcoffset()
        assert value is not None
        return value

    instants = [start + dt.timedelta(days=7 * i, hours=12) for i in range((end - start).days // 7 + 1)]
    for change in transitions(tzid, start, end):
        instants += [change + dt.timedelta(minutes=m) for m in (-60, -1, 0, 1, 60)]
    return all(ours(t) == theirs(t) for t in instants)


@functools.lru_cache(maxsize=64)
def transitions(tzid: str, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, ...]:
    """The UTC instants (naive) in [start, end) at which the zone's offset changes, to the minute.

    Scans every 24 hours and narrows each change down by halves; instants are POSIX seconds
    (``datetime.fromtimestamp(t, zone)`` is the zone database's reading of the UTC instant ``t``).
    No zone changes twice within a day: an hourly scan of all 598 zones of 2026f over 2000-2050 found
    the same changes."""
    real = zones.zone(tzid)
    epoch = dt.datetime(1970, 1, 1)
    fromtimestamp = dt.datetime.fromtimestamp

    def offset(t: int) -> dt.timedelta | None:
        return fromtimestamp(t, real).utcoffset()

    first = int((start - epoch).total_seconds())
    stop = int((end - epoch).total_seconds())
    step = 24 * 3600
    out = []
    t, now = first, offset(first)
    while t < stop:
        nxt = t + step
        after = offset(nxt)
        if now != after:
            lo, hi = t, nxt  # the change happens in (lo, hi]
            while hi - lo > 60:
                mid = lo + (hi - lo) // 2
                mid -= mid % 60  # down to the whole minute
                if mid <= lo:
                    break
                if offset(mid) == now:
                    lo = mid
                else:
                    hi = mid
            out.append(epoch + dt.timedelta(seconds=hi))
        t, now = nxt, after
    return tuple(out)


def yearly_rule(starts: list[dt.datetime]) -> dict[str, object] | None:
    """FREQ=YEARLY;BYMONTH=m;BYDAY=nWD if every change falls on the same nth (or last) weekday
    of the same month at the same time, in consecutive years; else None (one observance each)."""
    starts = sorted(starts)
    if len({(d.month, d.weekday(), d.time()) for d in starts}) != 1:
        return None
    years = [d.year for d in starts]
    if years != list(range(years[0], years[0] + len(years))):
        return None
    code = WEEKDAY_CODES[starts[0].weekday()]
    if all((d + dt.timedelta(days=7)).month != d.month for d in starts):
        nth = -1
    else:
        nths = {(d.day - 1) // 7 + 1 for d in starts}
        if len(nths) != 1:
            return None
        nth = nths.pop()
    return {"freq": "yearly", "bymonth": starts[0].month, "byday": f"{nth}{code}"}


@functools.lru_cache(maxsize=256)
def always_utc(tzid: str, first_year: int, last_year: int) -> bool:
    """Is the zone plain UTC over those years (offset 0, no change)?"""
    real = zones.zone(tzid)
    for year in range(first_year, last_year + 1):  # an offset other than 0 says no at once (London in summer)
        for month in (1, 7):
            if dt.datetime(year, month, 1, 12, tzinfo=dt.UTC).astimezone(real).utcoffset() != dt.timedelta(0):
                return False
    start = dt.datetime(first_year, 1, 1)
    return not transitions(tzid, start, dt.datetime(last_year + 1, 1, 1))


def wall_clock_safe(start: dt.datetime, end: dt.datetime) -> bool:
    """Does the local end time read right in every client? Not when a DST change falls inside the
    session (the wall clock gains or loses an hour: a 60-minute session from 01:30 on a fall-back night
    ends at 01:30 again) or when the end is an ambiguous local time: then DTEND is written in UTC."""
    wall = end.replace(tzinfo=None) - start.replace(tzinfo=None)
    real = end.astimezone(dt.UTC) - start.astimezone(dt.UTC)  # (aware times in one zone subtract as wall times)
    if wall != real:
        return False
    zone = end.tzinfo
    assert zone is not None
    return all(zone.utcoffset(t.replace(fold=1 - t.fold)) == zone.utcoffset(t) for t in (start, end))


def _uid(plan: Plan, key: str) -> str:
    return f"{plan.plan_id}-{key}@{UID_DOMAIN}"


# ----------------------------------------------------------------- what a calendar holds
#
# The calendar is first described as plain data (CalendarSpec): each component's properties in the
# order they are added, as (NAME, value as given to ``Component.add``, shared). ``export`` (the
# reference) turns the description into icalendar components with ``add()`` and calls ``to_ical()``;
# `needlecli.render.ics_fast` serialises the same description with icalendar's own content lines and
# a memo (batch). One description, two ways to write it: their bytes are the same (tests/test_ics_fast.py).

#: (NAME, value as given to ``Component.add``, shared). ``shared`` is False for what belongs to one
#: patient (a UID, any text with the patient's name): such lines are never kept between calendars.
Prop = tuple[str, object, bool]
#: A reminder: (TRIGGER, DESCRIPTION); ACTION is DISPLAY.
AlarmSpec = tuple[dt.timedelta, str]
#: An event: its properties and its reminder, if any.
EventSpec = tuple[tuple[Prop, ...], AlarmSpec | None]


class CalendarSpec(NamedTuple):
    """A whole calendar: its own properties, the VTIMEZONE it declares (``_vtimezone``'s arguments), its events."""

    props: tuple[Prop, ...]
    zone: tuple[str, int, int] | None
    events: tuple[EventSpec, ...]


def _base(plan: Plan, key: str, revision: int, summary: str, stamp: dt.datetime, private: bool = False) -> list[Prop]:
    return [
        ("UID", _uid(plan, key), False),
        ("DTSTAMP", stamp, True),
        ("SEQUENCE", revision, True),
        ("SUMMARY", summary, not private),
    ]


def _all_day(first: dt.date, last: dt.date) -> list[Prop]:
    return [
        ("DTSTART", first, True),
        ("DTEND", last + dt.timedelta(days=1), True),  # exclusive
        ("TRANSP", "TRANSPARENT", True),
    ]


def _session_event(
    plan: Plan,
    a: Appointment,
    label: str,
    stamp: dt.datetime,
    name: str | None,
    utc: bool,
    location: str | None,
    contact: str,
) -> EventSpec:
    summary = ("Cancelled: " if a.status == "cancelled" else "") + label + (f" — {name}" if name else "")
    props = _base(plan, a.key, a.revision, summary, stamp, private=bool(name))
    alarm: AlarmSpec | None
    if a.start is not None and a.end is not None:
        # A session across a DST change, or starting or ending in a repeated hour, is written as exact
        # UTC instants: clients disagree on ambiguous local times (calcurse takes the second occurrence).
        exact = utc or not wall_clock_safe(a.start, a.end)
        props.append(("DTSTART", a.start.astimezone(dt.UTC) if exact else a.start, True))
        props.append(("DTEND", a.end.astimezone(dt.UTC) if exact else a.end, True))
        alarm = (dt.timedelta(days=-1), f"{label} tomorrow at {a.start:%H:%M}")
    else:
        props.append(("DTSTART", a.date, True))
        props.append(("DTEND", a.date + dt.timedelta(days=1), True))
        alarm = (dt.timedelta(hours=-6), f"{label} tomorrow")  # 18:00 the evening before
    lines = [plan.wording.arrive]
    # Calendar wording is the protocol's fixed text: it names no medicine and never varies with an answer.
    lines += [f"{p.title} ({_length(p)} days before): {p.calendar}" for p in a.windows if p.kind == "pause"]
    if contact:
        lines.append(contact)
    props.append(("DESCRIPTION", "\n".join(lines), True))
    # A cancelled session (the series on hold or stopped) is removed by the client; a done one has happened.
    props.append(("STATUS", "CANCELLED" if a.status == "cancelled" else "CONFIRMED", True))
    if location:
        props.append(("LOCATION", location, True))
    return tuple(props), (alarm if a.status == "booked" else None)


def _length(w: Window) -> int:
    """The window's length in days (both ends included)."""
    return (w.last_day - w.first_day).days + 1


#: `Mon 4 Jan 2027` for a session day (a batch asks for the same few hundred days again and again).
_day_text = functools.lru_cache(maxsize=4096)(day_text)


def _window_event(plan: Plan, w: Window, session_label: str, session_day: dt.date, stamp: dt.datetime) -> EventSpec:
    alarm: AlarmSpec | None = None
    if w.kind == "pause":
        props = _base(plan, w.key, w.revision, w.title, stamp)
        text = f"Before your {session_label.lower()} on {_day_text(session_day)}: {w.calendar}"
        alarm = (dt.timedelta(hours=-4), f"From tomorrow: {w.title.lower()}")  # 20:00
    elif w.kind == "aftercare":
        props = _base(plan, w.key, w.revision, f"Aftercare: {w.title}", stamp)
        text = "Avoid " + ", ".join(w.items) + f" (after your {session_label.lower()})."
    else:  # a caution's window: something to do around the session, in the protocol's plain words
        props = _base(plan, w.key, w.revision, w.title, stamp)
        text = " ".join(w.items) + f" (around your {session_label.lower()})."
        alarm = (dt.timedelta(hours=-4), f"From tomorrow: {w.title.lower()}")  # 20:00 the evening before
    props.append(("DESCRIPTION", text, True))
    props += _all_day(w.first_day, w.last_day)
    return tuple(props), alarm


def calendar_spec(
    plan: Plan,
    *,
    name: str | None = None,
    calendar_name: str = "Microneedling plan",
    clinic: tuple[str | None, str | None, str | None] = (None, None, None),
    series_mark: str | None = None,
) -> CalendarSpec:
    """What the plan's calendar holds (see ``export``), as plain data."""
    props: list[Prop] = [
        ("PRODID", PRODID, True),
        ("VERSION", "2.0", True),
        ("CALSCALE", "GREGORIAN", True),
        ("METHOD", "PUBLISH", True),
        # X-WR-CALNAME is free text: escaped as TEXT (`;` and `,`), or clients cut the name short.
        ("X-WR-CALNAME", icalendar.vText(calendar_name + (f" — {name}" if name else "")), not name),
    ]
    if series_mark:  # whose series this is, as a keyed hash: a later --out onto this file rebuilds over it
        props.append(("X-NEEDLE-SERIES", series_mark, True))
    stamp = plan.stamp or dt.datetime.combine(plan.created_on, dt.time(0, 0), tzinfo=dt.UTC)
    timed = [s.start for s in plan.sessions if s.start] + [b.start for b in plan.boosters if b.start]
    utc = False
    zone = None
    if timed:
        # The zone data the times were computed with (`zones.database`): a reader with other data can tell.
        props.append(("X-NEEDLE-TZDATA", zones.release(plan.request.tz), True))
    if timed and always_utc(plan.request.tz, min(timed).year, max(timed).year):
        utc = True  # UTC, Etc/UTC and friends: times in UTC, no VTIMEZONE to declare
    elif timed:
        # One VTIMEZONE per zone name, over SPAN whatever the plan's years. No X-WR-TIMEZONE: readers that
        # apply it (recurring-ical-events) misread UTC times in a repeated hour; the VTIMEZONE names the zone.
        zone = (plan.request.tz, *SPAN)
        inside = SPAN[0] <= min(timed).year and max(timed).year <= SPAN[1]
        years = (plan.request.tz, min(timed).year, max(timed).year)
        if inside and _vtimezone(*zone) is not None and not holds(*years):
            forget(plan.request.tz)  # a kept copy the zone database contradicts: built again, never used
            holds.cache_clear()
        if not inside or _vtimezone(*zone) is None or not holds(*years):
            utc = True  # outside the span, or no VTIMEZONE agrees with the zone database: instants in UTC
            zone = None
    single = len(plan.sessions) == 1
    clinic_name, clinic_phone, clinic_address = clinic
    contact = " · ".join(x for x in (clinic_name, clinic_phone) if x)

    def labels(a: Appointment) -> tuple[str, str]:
        """(event title, how its windows refer to it)."""
        if a.kind == "booster":
            return f"Microneedling booster {a.number}", f"booster {a.number}"
        return (
            ("Microneedling session", "session")
            if single
            else (f"Microneedling session {a.number}", f"session {a.number}")
        )

    events: list[EventSpec] = []

    def appointment(a: Appointment) -> None:
        events.append(_session_event(plan, a, labels(a)[0], stamp, name, utc, clinic_address, contact))

    def windows(a: Appointment) -> None:
        label = labels(a)[1]
        for w in a.windows:
            event = _window_event(plan, w, label, a.date, stamp)
            if a.status == "cancelled":  # no session, no pause or aftercare around it
                event = ((*event[0], ("STATUS", "CANCELLED", True)), None)
            events.append(event)

    # Every session, then the sessions' windows, then each booster with its windows.
    for s in plan.sessions:
        appointment(s)
    for s in plan.sessions:
        windows(s)
    for b in plan.boosters:
        appointment(b)
        windows(b)
    for c in plan.cancelled:  # removed from the plan: a client that has the event deletes it
        cancelled = _base(plan, c.key, c.revision, "Cancelled", stamp)
        cancelled.append(("STATUS", "CANCELLED", True))
        events.append((tuple(cancelled + _all_day(c.first_day, c.last_day)), None))
    return CalendarSpec(tuple(props), zone, tuple(events))


def alarm_component(trigger: dt.timedelta, text: str) -> icalendar.Alarm:
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", trigger)
    alarm.add("description", text)
    return alarm


def calendar_component(spec: CalendarSpec) -> icalendar.Calendar:
    """The description as icalendar components, every property added with ``Component.add``."""
    cal = icalendar.Calendar()
    for key, value, _ in spec.props:
        cal.add(key, value)
    if spec.zone is not None:
        vtz = _vtimezone(*spec.zone)
        assert vtz is not None
        cal.add_component(vtz)
    for props, alarm in spec.events:
        ev = icalendar.Event()
        for key, value, _ in props:
            ev.add(key, value)
        if alarm is not None:
            ev.add_component(alarm_component(*alarm))
        cal.add_component(ev)
    return cal


CALENDAR_NAMES = {"plan": "Microneedling plan", "aftercare": "Microneedling aftercare"}


def spec_of(plan: Plan, options: ExportOptions) -> CalendarSpec:
    """The calendar ``export(plan, options)`` writes, as plain data."""
    clinic = (options.clinic_name, options.clinic_phone, options.clinic_address)
    return calendar_spec(plan, name=options.name, calendar_name=CALENDAR_NAMES[options.document], clinic=clinic,
                         series_mark=options.series_mark)  # fmt: skip


def export(plan: Plan, options: ExportOptions) -> bytes:
    """The reference writer: icalendar components built with ``add()``, then ``to_ical()``. Batch
    writes the same bytes faster with `needlecli.render.ics_fast.CalendarRenderer`."""
    data: bytes = calendar_component(spec_of(plan, options)).to_ical()
    return data
