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

import copy
import datetime as dt
import functools
from typing import NamedTuple
from zoneinfo import ZoneInfo

import icalendar  # noqa: TID253 - this module is imported only by commands that write ICS

from needlecli import __version__
from needlecli.identity import UID_DOMAIN
from needlecli.model import Appointment, ExportOptions, Plan, Window
from needlecli.render.common import day_text

PRODID = f"-//needle//needle {__version__}//EN"


WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@functools.lru_cache(maxsize=64)
def _vtimezone(tzid: str, first_year: int, last_year: int) -> icalendar.Timezone | None:
    """One VTIMEZONE per zone and span of years, built once, checked, and reused.

    icalendar lists each DST change as an RDATE; Outlook ignores RDATE and
    approximates a zone from DTSTART, RRULE and the offsets alone (MS-STANOICAL
    2.2.47), so changes that recur on the same weekday rule every year become an
    RRULE. Every onset is written as RFC 5545 reads it: the local time *before*
    the change. Whatever is written is read back independently and checked
    against the zone database at every transition of the span, an hour either
    side; if no form agrees (rules RFC 5545 cannot express), None tells the
    caller to write times in UTC instead.
    """
    first, last = dt.date(first_year, 1, 1), dt.date(last_year + 1, 1, 1)
    # At least three years, so a yearly rule is only ever inferred from repeated changes.
    horizon = dt.date(max(last_year + 1, first_year + 3), 1, 1)
    base = icalendar.Timezone.from_tzid(tzid, first_date=first, last_date=horizon)
    for rules in (True, False):
        candidate = _rfc_form(copy.deepcopy(base), rules)
        if _agrees(candidate, tzid, first, last):
            return candidate
    return None


def _rfc_form(tz: icalendar.Timezone, rules: bool) -> icalendar.Timezone:
    """Onsets as local times before each change; yearly RRULEs where the changes follow one (with
    ``rules``); observances named by the direction of their change (DAYLIGHT when clocks go forward,
    so a zone with "negative DST" such as Europe/Dublin reads as clients expect)."""
    out = icalendar.Timezone()
    for key, value in tz.property_items(recursive=False):
        if key not in ("BEGIN", "END", "COMMENT"):
            out.add(key, value, encode=False)
    for sub in tz.subcomponents:
        if sub.name not in ("STANDARD", "DAYLIGHT"):
            continue
        before: dt.timedelta = sub.decoded("TZOFFSETFROM")
        after: dt.timedelta = sub.decoded("TZOFFSETTO")
        rdates = sub.get("RDATE", [])
        rdates = rdates if isinstance(rdates, list) else [rdates]
        starts = [sub.decoded("DTSTART")] + [p.dt for r in rdates for p in r.dts]
        # icalendar writes the time after the change when the clocks go forward; RFC 5545 wants the time before.
        gain = after - before
        onsets = sorted(d - gain if gain > dt.timedelta(0) else d for d in starts)
        kind = icalendar.TimezoneDaylight if after > before else icalendar.TimezoneStandard
        obs = kind()
        if sub.get("TZNAME"):
            obs.add("tzname", str(sub["TZNAME"]))
        obs.add("tzoffsetfrom", before)
        obs.add("tzoffsetto", after)
        obs.add("dtstart", onsets[0])
        rule = yearly_rule(onsets) if rules and len(onsets) >= 2 else None
        if rule is not None:
            obs.add("rrule", rule)
        elif len(onsets) > 1:
            obs.add("rdate", onsets[1:])
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
            local += list(rrulestr(text, dtstart=start).between(start, until, inc=False))
        rdates = sub.get("RDATE", [])
        for r in rdates if isinstance(rdates, list) else [rdates]:
            local += [p.dt for p in r.dts]
        onsets += [(wall - before, before, after) for wall in local if wall - before <= until]
    return sorted(onsets)


def _agrees(tz: icalendar.Timezone, tzid: str, first: dt.date, last: dt.date) -> bool:
    """Does the VTIMEZONE give the zone database's UTC offset at every transition of [first, last),
    an hour and a minute either side, and at noon every week?"""
    start = dt.datetime.combine(first, dt.time()) - dt.timedelta(days=1)
    end = dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1)
    onsets = _observances(tz, end)
    if not onsets:
        return False
    first_from = onsets[0][1]  # before the first onset, its TZOFFSETFROM applies
    real = ZoneInfo(tzid)

    def ours(utc: dt.datetime) -> dt.timedelta:
        offset = first_from
        for when, _, after in onsets:
            if when > utc:
                break
            offset = after
        return offset

    def theirs(utc: dt.datetime) -> dt.timedelta:
        value = utc.replace(tzinfo=dt.UTC).astimezone(real).utcoffset()
        assert value is not None
        return value

    instants = [start + dt.timedelta(days=7 * i, hours=12) for i in range((end - start).days // 7 + 1)]
    for change in transitions(tzid, start, end):
        instants += [change + dt.timedelta(minutes=m) for m in (-60, -1, 0, 1, 60)]
    return all(ours(t) == theirs(t) for t in instants)


def transitions(tzid: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The UTC instants (naive) in [start, end) at which the zone's offset changes, to the minute.

    Scans every six hours and narrows each change down by halves; instants are POSIX seconds
    (``datetime.fromtimestamp(t, zone)`` is the zone database's reading of the UTC instant ``t``)."""
    real = ZoneInfo(tzid)
    epoch = dt.datetime(1970, 1, 1)
    fromtimestamp = dt.datetime.fromtimestamp

    def offset(t: int) -> dt.timedelta | None:
        return fromtimestamp(t, real).utcoffset()

    first = int((start - epoch).total_seconds())
    stop = int((end - epoch).total_seconds())
    step = 6 * 3600
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
    return out


def yearly_rule(starts: list[dt.datetime]) -> dict[str, object] | None:
    """FREQ=YEARLY;BYMONTH=m;BYDAY=nWD if every change falls on the same nth (or last) weekday
    of the same month at the same time, in consecutive years; else None (keep the RDATE list)."""
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
    real = ZoneInfo(tzid)
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
    stamp = plan.stamp or dt.datetime.combine(plan.created_on, dt.time(0, 0), tzinfo=dt.UTC)
    timed = [s.start for s in plan.sessions if s.start] + [b.start for b in plan.boosters if b.start]
    utc = False
    zone = None
    if timed and always_utc(plan.request.tz, min(timed).year, max(timed).year):
        utc = True  # UTC, Etc/UTC and friends: times in UTC, no VTIMEZONE to declare
    elif timed:
        # Whole years: both DST changes of every year appear (and one VTIMEZONE serves many plans).
        zone = (plan.request.tz, min(timed).year, max(timed).year)
        if _vtimezone(*zone) is None:
            utc = True  # no VTIMEZONE agrees with the zone database: exact instants in UTC instead
            zone = None
        else:
            props.append(("X-WR-TIMEZONE", plan.request.tz, True))
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
    return calendar_spec(plan, name=options.name, calendar_name=CALENDAR_NAMES[options.document], clinic=clinic)


def export(plan: Plan, options: ExportOptions) -> bytes:
    """The reference writer: icalendar components built with ``add()``, then ``to_ical()``. Batch
    writes the same bytes faster with `needlecli.render.ics_fast.CalendarRenderer`."""
    data: bytes = calendar_component(spec_of(plan, options)).to_ical()
    return data
