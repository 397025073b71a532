"""iCalendar export with the `icalendar` package: the only module that imports it.

One timed event per session (all-day when the plan has no time), all-day
events with exclusive DTEND for every pause and aftercare window, one VALARM
per reminder (Outlook keeps only one per item), a VTIMEZONE for the zone used,
METHOD:PUBLISH and X-WR-CALNAME. UIDs come from the plan id (itself derived
from the patient, indication and start) and each item's stable key, so a
re-export updates events in place; SEQUENCE is the item's revision. DTSTAMP
comes from the plan, not the wall clock, so the same plan gives the same bytes.

Private by default: titles and descriptions carry no diagnosis, screening
finding or name; the patient's name appears only when passed as ``name``.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from zoneinfo import ZoneInfo

import icalendar  # noqa: TID253 - this module is imported only by commands that write ICS

from needlecli import __version__
from needlecli.model import Appointment, ExportOptions, Plan, Window
from needlecli.render.common import day_text

PRODID = f"-//needle//needle {__version__}//EN"
UID_DOMAIN = "needle.invalid"


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
    """The UTC instants (naive) in [start, end) at which the zone's offset changes, to the minute."""
    real = ZoneInfo(tzid)

    def offset(utc: dt.datetime) -> dt.timedelta | None:
        return utc.replace(tzinfo=dt.UTC).astimezone(real).utcoffset()

    out = []
    step = dt.timedelta(hours=6)
    t = start
    while t < end:
        nxt = t + step
        if offset(t) != offset(nxt):
            lo, hi = t, nxt  # the change happens in (lo, hi]
            while hi - lo > dt.timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= lo:
                    break
                if offset(mid) == offset(lo):
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
        t = nxt
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


def always_utc(tzid: str, first_year: int, last_year: int) -> bool:
    """Is the zone plain UTC over those years (offset 0, no change)?"""
    real = ZoneInfo(tzid)
    noon = dt.datetime(first_year, 1, 1, 12, tzinfo=dt.UTC)
    if noon.astimezone(real).utcoffset() != dt.timedelta(0):
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


def _alarm(trigger: dt.timedelta, text: str) -> icalendar.Alarm:
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", trigger)
    alarm.add("description", text)
    return alarm


def _base(plan: Plan, key: str, revision: int, summary: str, stamp: dt.datetime) -> icalendar.Event:
    ev = icalendar.Event()
    ev.add("uid", _uid(plan, key))
    ev.add("dtstamp", stamp)
    ev.add("sequence", revision)
    ev.add("summary", summary)
    return ev


def _all_day(ev: icalendar.Event, first: dt.date, last: dt.date) -> None:
    ev.add("dtstart", first)
    ev.add("dtend", last + dt.timedelta(days=1))  # exclusive
    ev.add("transp", "TRANSPARENT")


def _session_event(
    plan: Plan,
    key: str,
    revision: int,
    label: str,
    day: dt.date,
    start: dt.datetime | None,
    end: dt.datetime | None,
    stamp: dt.datetime,
    name: str | None,
    pauses: tuple[Window, ...],
    utc: bool = False,
) -> icalendar.Event:
    summary = label + (f" — {name}" if name else "")
    ev = _base(plan, key, revision, summary, stamp)
    if start is not None and end is not None:
        # A session across a DST change, or starting or ending in a repeated hour, is written as exact
        # UTC instants: clients disagree on ambiguous local times (calcurse takes the second occurrence).
        exact = utc or not wall_clock_safe(start, end)
        ev.add("dtstart", start.astimezone(dt.UTC) if exact else start)
        ev.add("dtend", end.astimezone(dt.UTC) if exact else end)
        alarm = _alarm(dt.timedelta(days=-1), f"{label} tomorrow at {start:%H:%M}")
    else:
        ev.add("dtstart", day)
        ev.add("dtend", day + dt.timedelta(days=1))
        alarm = _alarm(dt.timedelta(hours=-6), f"{label} tomorrow")  # 18:00 the evening before
    lines = [plan.wording.arrive]
    # Calendar wording is the protocol's fixed text: it names no medicine and never varies with an answer.
    lines += [f"{p.title} ({len(_days(p))} days before): {p.calendar}" for p in pauses]
    ev.add("description", "\n".join(lines))
    ev.add("status", "CONFIRMED")
    ev.add_component(alarm)
    return ev


def _days(w: Window) -> list[dt.date]:
    return [w.first_day + dt.timedelta(days=i) for i in range((w.last_day - w.first_day).days + 1)]


def _window_event(
    plan: Plan, w: Window, session_label: str, session_day: dt.date, stamp: dt.datetime
) -> icalendar.Event:
    if w.kind == "pause":
        ev = _base(plan, w.key, w.revision, w.title, stamp)
        ev.add("description", f"Before your {session_label.lower()} on {day_text(session_day)}: {w.calendar}")
        ev.add_component(_alarm(dt.timedelta(hours=-4), f"From tomorrow: {w.title.lower()}"))  # 20:00
    elif w.kind == "aftercare":
        ev = _base(plan, w.key, w.revision, f"Aftercare: {w.title}", stamp)
        ev.add("description", "Avoid " + ", ".join(w.items) + f" (after your {session_label.lower()}).")
    else:  # a caution's window: something to do around the session, in the protocol's plain words
        ev = _base(plan, w.key, w.revision, w.title, stamp)
        ev.add("description", " ".join(w.items) + f" (around your {session_label.lower()}).")
    _all_day(ev, w.first_day, w.last_day)
    return ev


def plan_calendar(
    plan: Plan,
    *,
    name: str | None = None,
    calendar_name: str = "Microneedling plan",
    clinic: tuple[str | None, str | None, str | None] = (None, None, None),
) -> bytes:
    """The whole plan as an RFC 5545 calendar (CRLF, folded lines).

    ``clinic`` is (name, phone, address): sessions carry them (the address as LOCATION) so a
    patient's phone can get them there; windows do not.
    """
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # X-WR-CALNAME is free text: escaped as TEXT (`;` and `,`), or clients cut the name short.
    cal.add("x-wr-calname", icalendar.vText(calendar_name + (f" — {name}" if name else "")))
    stamp = plan.stamp or dt.datetime.combine(plan.created_on, dt.time(0, 0), tzinfo=dt.UTC)
    timed = [s.start for s in plan.sessions if s.start] + [b.start for b in plan.boosters if b.start]
    utc = False
    if timed and always_utc(plan.request.tz, min(timed).year, max(timed).year):
        utc = True  # UTC, Etc/UTC and friends: times in UTC, no VTIMEZONE to declare
    elif timed:
        # Whole years: both DST changes of every year appear (and one VTIMEZONE serves many plans).
        vtz = _vtimezone(plan.request.tz, min(timed).year, max(timed).year)
        if vtz is None:
            utc = True  # no VTIMEZONE agrees with the zone database: exact instants in UTC instead
        else:
            cal.add_component(vtz)
            cal.add("x-wr-timezone", plan.request.tz)
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

    def appointment(a: Appointment) -> None:
        title = labels(a)[0]
        pauses = tuple(w for w in a.windows if w.kind == "pause")
        ev = _session_event(plan, a.key, a.revision, title, a.date, a.start, a.end, stamp, name, pauses, utc)
        if clinic_address:
            ev.add("location", clinic_address)
        if contact:
            ev["DESCRIPTION"] = icalendar.vText(f"{ev['DESCRIPTION']}\n{contact}")
        cal.add_component(ev)

    def windows(a: Appointment) -> None:
        for w in a.windows:
            cal.add_component(_window_event(plan, w, labels(a)[1], a.date, stamp))

    # Every session, then the sessions' windows, then each booster with its windows.
    for s in plan.sessions:
        appointment(s)
    for s in plan.sessions:
        windows(s)
    for b in plan.boosters:
        appointment(b)
        windows(b)
    for c in plan.cancelled:  # removed from the plan: a client that has the event deletes it
        ev = _base(plan, c.key, c.revision, "Cancelled", stamp)
        ev.add("status", "CANCELLED")
        _all_day(ev, c.first_day, c.last_day)
        cal.add_component(ev)
    data: bytes = cal.to_ical()
    return data


CALENDAR_NAMES = {"plan": "Microneedling plan", "aftercare": "Microneedling aftercare"}


def export(plan: Plan, options: ExportOptions) -> bytes:
    clinic = (options.clinic_name, options.clinic_phone, options.clinic_address)
    return plan_calendar(plan, name=options.name, calendar_name=CALENDAR_NAMES[options.document], clinic=clinic)
