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
    RRULE. Whatever is written is checked against the zone database for every
    day of the span; if neither form agrees (rare zones whose rules icalendar
    cannot express), None tells the caller to write times in UTC instead.
    """
    first, last = dt.date(first_year, 1, 1), dt.date(last_year + 1, 1, 1)
    # At least three years, so a yearly rule is only ever inferred from repeated changes.
    horizon = dt.date(max(last_year + 1, first_year + 3), 1, 1)
    base = icalendar.Timezone.from_tzid(tzid, first_date=first, last_date=horizon)
    ruled = _with_rrules(copy.deepcopy(base))
    for candidate in (ruled, base):
        if candidate is not None and _agrees(candidate, tzid, first, last):
            return candidate
    return None


def _with_rrules(tz: icalendar.Timezone) -> icalendar.Timezone | None:
    """RDATE lists rewritten as yearly RRULEs where the changes follow one; None if none do."""
    changed = False
    for sub in tz.subcomponents:
        if sub.name not in ("STANDARD", "DAYLIGHT") or sub.get("TZOFFSETFROM") == sub.get("TZOFFSETTO"):
            continue
        rdates = sub.get("RDATE", [])
        rdates = rdates if isinstance(rdates, list) else [rdates]
        starts = [sub.decoded("DTSTART")] + [p.dt for r in rdates for p in r.dts]
        # RFC 5545: an onset's DTSTART is the local time *before* the change (TZOFFSETFROM);
        # icalendar writes the time after it when the clocks go forward.
        gain: dt.timedelta = sub.decoded("TZOFFSETTO") - sub.decoded("TZOFFSETFROM")
        onsets = [d - gain for d in starts] if gain > dt.timedelta(0) else starts
        rule = yearly_rule(onsets) if len(onsets) >= 2 else None
        if rule is None:
            continue
        del sub["DTSTART"]
        sub.add("dtstart", min(onsets))
        sub.pop("RDATE", None)
        sub.add("rrule", rule)
        changed = True
    if changed:
        tz.pop("COMMENT", None)  # "only works from ... to ...": no longer true with a rule
    return tz if changed else None


def _agrees(tz: icalendar.Timezone, tzid: str, first: dt.date, last: dt.date) -> bool:
    """Does the VTIMEZONE give the zone database's UTC offset at 00:30, 12:00 and 23:30 of every day?"""
    ours = tz.to_tz(lookup_tzid=False)
    real = ZoneInfo(tzid)
    day = first
    while day < last:
        for hour, minute in ((0, 30), (12, 0), (23, 30)):
            wall = dt.datetime(day.year, day.month, day.day, hour, minute)
            if wall.replace(tzinfo=ours).utcoffset() != wall.replace(tzinfo=real).utcoffset():
                return False
        day += dt.timedelta(days=1)
    return True


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
        ev.add("dtstart", start.astimezone(dt.UTC) if utc else start)
        ev.add("dtend", end.astimezone(dt.UTC) if utc else end)
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


def plan_calendar(plan: Plan, *, name: str | None = None, calendar_name: str = "Microneedling plan") -> bytes:
    """The whole plan as an RFC 5545 calendar (CRLF, folded lines)."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", calendar_name + (f" — {name}" if name else ""))
    stamp = dt.datetime.combine(plan.created_on, dt.time(0, 0), tzinfo=dt.UTC)
    timed = [s.start for s in plan.sessions if s.start] + [b.start for b in plan.boosters if b.start]
    utc = False
    if timed and plan.request.tz != "UTC":
        # Whole years: both DST changes of every year appear (and one VTIMEZONE serves many plans).
        vtz = _vtimezone(plan.request.tz, min(timed).year, max(timed).year)
        if vtz is None:
            utc = True  # no VTIMEZONE agrees with the zone database: exact instants in UTC instead
        else:
            cal.add_component(vtz)
            cal.add("x-wr-timezone", plan.request.tz)
    single = len(plan.sessions) == 1

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
        cal.add_component(
            _session_event(
                plan,
                a.key,
                a.revision,
                title,
                a.date,
                a.start,
                a.end,
                stamp,
                name,
                pauses,
                utc,
            )
        )

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
    data: bytes = cal.to_ical()
    return data


CALENDAR_NAMES = {"plan": "Microneedling plan", "aftercare": "Microneedling aftercare"}


def export(plan: Plan, options: ExportOptions) -> bytes:
    return plan_calendar(plan, name=options.name, calendar_name=CALENDAR_NAMES[options.document])
