"""Pure series scheduling: build_plan(protocol, request, on) -> Plan, and reschedule.

Rules (SPEC.md, `needle plan`):
- the first session falls on the first open clinic day >= start (and >= a
  screening deferral date);
- each next session falls at previous + interval, moved forward to the next
  open day, and never outside [previous + min weeks, previous + max weeks];
  if no open day fits, SchedulingError says which session and why;
- boosters follow the series, each the protocol's booster interval after the
  previous session or booster, moved forward to an open day, never later than
  the previous + the booster maximum;
- around every session (and booster): a pause window from `days_before` days
  before to the day before, and the protocol's aftercare windows.

No I/O, no clock: the planning date and the clinic calendar are arguments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping
from typing import cast

from needlecli import zones
from needlecli.clinic import check_duration
from needlecli.dates import add_months
from needlecli.errors import SchedulingError
from needlecli.identity import item_key, plan_id_for
from needlecli.model import (
    Appointment,
    AppointmentKind,
    Caution,
    ClinicRules,
    DepthZone,
    Note,
    PauseSpec,
    Plan,
    PlanRequest,
    ProtocolRef,
    TreatmentProtocol,
    Window,
    WindowKind,
    WindowSpec,
)

__all__ = ["SchedulingError", "build_plan", "single_session_plan"]

MAX_BOOSTERS = 20
#: How far ahead the first session may be searched for before giving up.
FIRST_SESSION_HORIZON_DAYS = 366


def day_label(day: dt.date) -> str:
    return f"{day.isoformat()} ({day:%a})"


def next_open(clinic: ClinicRules, day: dt.date, latest: dt.date) -> dt.date | None:
    """The first open day in [day, latest], or None."""
    while day <= latest:
        if clinic.is_open(day):
            return day
        day += dt.timedelta(days=1)
    return None


def first_session_date(request: PlanRequest) -> dt.date:
    earliest = request.start
    if request.not_before is not None and request.not_before > earliest:
        earliest = request.not_before
    horizon = earliest + dt.timedelta(days=FIRST_SESSION_HORIZON_DAYS)
    found = next_open(request.clinic, earliest, horizon)
    if found is None:
        raise SchedulingError(
            f"session 1: no open clinic day between {day_label(earliest)} and {day_label(horizon)}; "
            "check the clinic days"
        )
    return found


def next_session_date(protocol: TreatmentProtocol, request: PlanRequest, number: int, previous: dt.date) -> dt.date:
    """Session ``number``'s date given the previous session's date."""
    weeks = protocol.interval_weeks
    target = previous + dt.timedelta(weeks=request.interval_weeks)
    latest = previous + dt.timedelta(weeks=weeks.max)
    found = next_open(request.clinic, target, latest)
    if found is None:
        raise SchedulingError(
            f"session {number}: no open clinic day between {day_label(target)} ({request.interval_weeks} weeks after "
            f"session {number - 1} on {previous.isoformat()}) and {day_label(latest)} (the {weeks.max}-week maximum "
            f"for {protocol.info.name}); move a session or reopen a day"
        )
    return found


def next_booster_date(protocol: TreatmentProtocol, request: PlanRequest, number: int, previous: dt.date) -> dt.date:
    months = protocol.booster_months
    target = add_months(previous, months.default)
    earliest = add_months(previous, months.min)
    latest = add_months(previous, months.max)
    found = next_open(request.clinic, target, latest)
    day = target - dt.timedelta(days=1)
    while found is None and day >= earliest:  # nothing on or after the target: the nearest open day before it
        if request.clinic.is_open(day):
            found = day
        day -= dt.timedelta(days=1)
    if found is None:
        raise SchedulingError(
            f"booster {number}: no open clinic day between {day_label(earliest)} and {day_label(latest)} "
            f"({months.min}-{months.max} months after {previous.isoformat()})"
        )
    return found


def check_spacing(
    protocol: TreatmentProtocol, number: int, previous: dt.date, day: dt.date, *, resumed: bool = False
) -> None:
    """Raise unless ``day`` lies within [previous + min weeks, previous + max weeks]; ``resumed`` (after
    a missed session or a re-check deferral): any later day will do; the minimum still holds."""
    weeks = protocol.interval_weeks
    lo = previous + dt.timedelta(weeks=weeks.min)
    hi = previous + dt.timedelta(weeks=weeks.max)
    if resumed and day > hi:
        return
    if not lo <= day <= hi:
        gap = (day - previous).days
        apart = (
            "the same day as"
            if gap == 0
            else f"{abs(gap)} day{'' if abs(gap) == 1 else 's'} {'after' if gap > 0 else 'before'}"
        )
        raise SchedulingError(
            f"session {number} on {day.isoformat()} would be {apart} session "
            f"{number - 1} ({previous.isoformat()}); it must fall between {lo.isoformat()} and {hi.isoformat()} "
            f"({weeks.min}-{weeks.max} weeks)"
        )


def avoid_items(pause: PauseSpec, uses_retinoids: bool | None) -> tuple[str, ...]:
    """What a pause says to avoid: retinoid items unless the screening says the patient uses none."""
    if uses_retinoids is False:
        return pause.items
    return pause.retinoid_items + pause.items


def pause_items(pause: PauseSpec, uses_retinoids: bool | None) -> tuple[str, ...]:
    """Everything a pause covers: what it says to avoid, then what to pause only with the physician's
    approval."""
    return avoid_items(pause, uses_retinoids) + pause.ask_items


def active(finding: str, request: PlanRequest, day: dt.date) -> bool:
    """Does a caution finding of the screening cover an appointment on ``day``?"""
    return any(
        f.id == finding and f.category == "caution" and (f.until is None or day < f.until) for f in request.findings
    )


def active_cautions(protocol: TreatmentProtocol, request: PlanRequest, day: dt.date) -> tuple[Caution, ...]:
    """The protocol's cautions that a finding of the screening covers on ``day`` (``active``), in the
    protocol's order; none without findings (the common case, checked once instead of per caution)."""
    if not request.findings:
        return ()
    return tuple(c for c in protocol.cautions if active(c.finding, request, day))


def pause_start(pause: PauseSpec, day: dt.date) -> dt.date:
    """The first day of a pause before a session on ``day``: its months, weeks and days before it.

    A procedure's pause is never shorter than the screening's wait: a procedure the day before the
    pause starts has ended its wait by the session (month-end clamping checked day by day)."""
    if not pause.months:
        return day - dt.timedelta(weeks=pause.weeks, days=pause.days_before)
    return _months_before(pause.months, pause.weeks, pause.days_before, day)


@functools.lru_cache(maxsize=1 << 16)
def _months_before(months: int, weeks: int, days: int, day: dt.date) -> dt.date:
    """``pause_start`` of a wait in calendar months (remembered: month arithmetic is the costly part of
    planning, and a batch asks for the same few thousand session days again and again)."""
    first = add_months(day, -months) - dt.timedelta(weeks=weeks, days=days)
    while add_months(first - dt.timedelta(days=1), months) + dt.timedelta(weeks=weeks, days=days) > day:
        first -= dt.timedelta(days=1)
    return first


def treated_zones(protocol: TreatmentProtocol, request: PlanRequest) -> tuple[str, ...]:
    """The zones a plan treats: `--zones`, else the protocol's default zones, else every zone."""
    return request.zones or protocol.default_zones or protocol.zones


def is_deep(protocol: TreatmentProtocol, depth: tuple[DepthZone, ...]) -> bool:
    """A deeper pass: the deepest planned depth over the zones treated is beyond ``deep_from_mm``."""
    return any(z.max_mm > protocol.deep_from_mm for z in depth)


def caution_flags(request: PlanRequest, day: dt.date) -> tuple[str, ...]:
    """The dated caution findings still in force on ``day`` (a vaccine two weeks ago, isotretinoin)."""
    return tuple(
        dict.fromkeys(
            f.id for f in request.findings if f.category == "caution" and f.until is not None and day < f.until
        )
    )


def _last_day(spec: WindowSpec, day: dt.date, end: dt.datetime | None) -> int:
    """A window's last day after a session on ``day``; hours count from the session's real end."""
    if spec.hours is None or end is None:
        return spec.last_day
    reach = end.astimezone(dt.UTC) + dt.timedelta(hours=spec.hours) - dt.timedelta(microseconds=1)
    assert end.tzinfo is not None
    return max(spec.last_day, (reach.astimezone(end.tzinfo).date() - day).days)


def windows_for(
    protocol: TreatmentProtocol,
    request: PlanRequest,
    number: int,
    day: dt.date,
    prefix: str = "",
    *,
    deep: bool = False,
    end: dt.datetime | None = None,
) -> tuple[Window, ...]:
    """The pause windows before an appointment on ``day``, the aftercare windows after it, and
    the windows a caution adds around it (the antiviral medicine).

    ``prefix`` ("" for sessions, "booster-" for boosters) keeps every window's key unique in its plan.
    ``deep``: a deeper pass, every aftercare window through the protocol's ``deep_through_day`` at least.
    ``end``: the session's end, from which windows given in hours are counted.
    """
    out = [
        Window(
            kind="pause",
            spec=f"pause-{pause.id}",
            session=number,
            first_day=pause_start(pause, day),
            last_day=day - dt.timedelta(days=1),
            title=pause.title,
            items=pause_items(pause, request.uses_retinoids),
            key=f"{prefix}pause-{pause.id}-{number}",
            calendar=pause.calendar,
            procedure=pause.procedure,
            wait=pause.wait_label if pause.procedure else "",
        )
        for pause in protocol.all_pauses
    ]
    specs: list[tuple[WindowKind, WindowSpec]] = [("aftercare", spec) for spec in protocol.aftercare]
    specs += [
        (cast(WindowKind, c.window_kind), c.window)
        for c in active_cautions(protocol, request, day)
        if c.window is not None
    ]
    for kind, spec in specs:
        last = _last_day(spec, day, end)
        if deep and kind == "aftercare":
            last = max(last, protocol.deep_through_day)
        out.append(
            Window(
                kind=kind,
                spec=spec.id,
                session=number,
                first_day=day + dt.timedelta(days=spec.first_day),
                last_day=day + dt.timedelta(days=last),
                title=spec.title,
                items=spec.items,
                key=f"{prefix}{kind}-{spec.id}-{number}" if kind == "aftercare" else f"{prefix}{spec.id}-{number}",
            )
        )
    return tuple(out)


def wall_time(day: dt.date, at: dt.time, tz: str) -> dt.time:
    """When a session set for ``at`` on ``day`` really starts, on the local clock: a time a DST change
    skips (02:30 on a spring-forward day) is the instant after it (03:30), as `_times` makes it."""
    zone = zones.zone(tz)
    return dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC).astimezone(zone).time()


def _times(request: PlanRequest, day: dt.date, label: str = "") -> tuple[dt.datetime | None, dt.datetime | None]:
    if request.time is None:
        return None, None
    at = dict(request.slot_times).get(label, request.time)  # booked into another slot of that day
    zone = zones.zone(request.tz)
    # Through UTC: a wall time skipped by a DST change (02:30 on a spring-forward day) becomes the
    # real instant after it, an ambiguous one takes its first occurrence, and the duration is real time.
    start_utc = dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)
    end_utc = start_utc + dt.timedelta(minutes=request.duration_minutes)
    return start_utc.astimezone(zone), end_utc.astimezone(zone)


def depth_for(protocol: TreatmentProtocol, request: PlanRequest, day: dt.date) -> tuple[DepthZone, ...]:
    """Needle depth by zone treated for an appointment on ``day``: one step shallower while a caution
    that asks for it covers the day (one step, however many causes), capped at the device maximum."""
    causes = tuple(c.finding for c in active_cautions(protocol, request, day) if c.shallower)
    notes = dict(protocol.depth_notes)
    cap = request.max_depth_mm
    treated = set(treated_zones(protocol, request))
    zones = []
    for zone, lo, hi in protocol.depth_mm:
        if zone not in treated:
            continue
        if causes:
            step, floor = protocol.depth_step_mm, protocol.depth_floor_mm
            lo = max(floor, round(lo - step, 2))
            hi = max(lo, round(hi - step, 2))
        capped = cap is not None and hi > cap
        if cap is not None and capped:
            hi = cap
            lo = min(lo, cap)
        zones.append(DepthZone(zone, lo, hi, causes, notes.get(zone, ""), capped))
    return tuple(zones)


def shallowest(
    appointments: tuple[Appointment, ...], protocol: TreatmentProtocol, request: PlanRequest
) -> tuple[DepthZone, ...]:
    """For each zone, the shallowest range any appointment has (never deeper than any session)."""
    if not appointments:
        return depth_for(protocol, request, request.start)
    out = []
    for i, first in enumerate(appointments[0].depth):
        zones = [a.depth[i] for a in appointments]
        lo = min(z.min_mm for z in zones)
        hi = min(z.max_mm for z in zones)
        causes = tuple(dict.fromkeys(c for z in zones for c in z.causes))
        out.append(DepthZone(first.zone, lo, max(lo, hi), causes, first.note, any(z.capped for z in zones)))
    return tuple(out)


def holiday_years(protocol: TreatmentProtocol, request: PlanRequest, first: dt.date) -> range:
    """Years of public holidays a plan can touch: the series and every booster, with a year to spare."""
    days = request.sessions * protocol.interval_weeks.max * 7 + request.boosters * protocol.booster_months.max * 31
    return range(first.year, first.year + days // 365 + 2)


def validate_request(protocol: TreatmentProtocol, request: PlanRequest) -> None:
    s, w = protocol.sessions, protocol.interval_weeks
    if not s.min <= request.sessions <= s.max:
        raise SchedulingError(f"sessions {request.sessions} is outside {protocol.info.name}'s range {s.min}-{s.max}")
    if not w.min <= request.interval_weeks <= w.max:
        raise SchedulingError(
            f"interval-weeks {request.interval_weeks} is outside {protocol.info.name}'s range {w.min}-{w.max} weeks"
        )
    if not 0 <= request.boosters <= MAX_BOOSTERS:
        raise SchedulingError(f"--boosters must be 0 to {MAX_BOOSTERS}, got {request.boosters}")
    check_duration(request.duration_minutes, "request.duration_minutes")
    unknown = [z for z in request.zones if z not in protocol.zones]
    if unknown or len(set(request.zones)) != len(request.zones):
        raise SchedulingError(
            f"--zones: {', '.join(unknown) or 'a zone named twice'}: give {protocol.info.name}'s zones "
            f"({', '.join(protocol.zones)}), each once"
        )
    if request.max_depth_mm is not None and request.max_depth_mm < protocol.depth_floor_mm:
        raise SchedulingError(
            f"--max-depth {request.max_depth_mm:g} mm is below {protocol.info.name}'s shallowest depth "
            f"({protocol.depth_floor_mm:g} mm)"
        )
    if not request.clinic.weekdays:
        raise SchedulingError("the clinic has no open weekdays")


def compute_dates(
    protocol: TreatmentProtocol,
    request: PlanRequest,
    fixed: Mapping[int, dt.date],
    fixed_boosters: Mapping[int, dt.date] | None = None,
) -> tuple[list[dt.date], list[dt.date]]:
    """Session and booster dates; ``fixed`` pins session numbers to dates, ``fixed_boosters``
    booster numbers (reschedules)."""
    pinned = dict(fixed_boosters or {})
    course = request.course
    done: set[int] = set()
    resumed: tuple[str, ...] = ()
    if course is not None:  # what was done is where it was done
        for d in course.done:
            if d.label.startswith("B"):
                pinned[int(d.label[1:])] = d.day
            else:
                done.add(int(d.label))
                fixed = {**fixed, int(d.label): d.day}
        resumed = course.resumed
    dates: list[dt.date] = []
    for number in range(1, request.sessions + 1):
        if number in fixed:
            day = fixed[number]
            if number > 1:  # two sessions done: the maximum is past, the minimum never
                late_ok = str(number) in resumed or {number, number - 1} <= done
                check_spacing(protocol, number, dates[-1], day, resumed=late_ok)
        elif number == 1:
            day = first_session_date(request)
        else:
            day = next_session_date(protocol, request, number, dates[-1])
        dates.append(day)
    boosters: list[dt.date] = []
    previous = dates[-1]
    for number in range(1, request.boosters + 1):
        if number in pinned:
            months = protocol.booster_months
            lo, hi = add_months(previous, months.min), add_months(previous, months.max)
            label = f"B{number}"
            fact = course is not None and course.done_on(label) is not None  # done: where it was done
            late = label in resumed and pinned[number] > hi  # after a missed booster or a deferral
            if not (fact or late) and not lo <= pinned[number] <= hi:
                raise SchedulingError(
                    f"booster {number} on {pinned[number].isoformat()} must fall between {lo.isoformat()} and "
                    f"{hi.isoformat()} ({months.min}-{months.max} months after {previous.isoformat()})"
                )
            previous = pinned[number]
        else:
            previous = next_booster_date(protocol, request, number, previous)
        boosters.append(previous)
    return dates, boosters


def _appointment(
    protocol: TreatmentProtocol, request: PlanRequest, kind: AppointmentKind, number: int, day: dt.date
) -> Appointment:
    label = str(number) if kind == "session" else f"B{number}"
    start, end = _times(request, day, label)
    prefix = "" if kind == "session" else "booster-"
    depth = depth_for(protocol, request, day)
    deep = is_deep(protocol, depth)
    course = request.course
    status, occurrence = "booked", 1
    used: tuple[tuple[str, float], ...] = ()
    if course is not None:
        occurrence = course.occurrence(label)
        done = course.done_on(label)
        if done is not None:  # its aftercare follows the depth actually used
            status, used = "done", done.depth_mm
            deep = any(mm > protocol.deep_from_mm for _, mm in used) if used else deep
        elif course.halted:
            status = "cancelled"
    return Appointment(
        kind=kind,
        number=number,
        date=day,
        key=item_key(kind, number, occurrence),
        windows=windows_for(protocol, request, number, day, prefix=prefix, deep=deep, end=end),
        start=start,
        end=end,
        depth=depth,
        deep=deep,
        flags=caution_flags(request, day),
        status=status,
        used=used,
    )


def caution_notes(protocol: TreatmentProtocol, request: PlanRequest, days: list[dt.date]) -> tuple[Note, ...]:
    """A note for every caution that changes the plan (each naming its finding), the device cap and label."""
    covered = {c.finding for day in days for c in active_cautions(protocol, request, day)}
    notes = [Note(c.finding, c.note) for c in protocol.cautions if c.finding in covered]
    if request.screening is None:
        notes.append(
            Note("not-screened", "Not screened: no screening record was given. Screen the patient before session 1.")
        )
    notes += [
        Note("override", f"Treatment protocol {protocol.info.name} loosens {path} (override: {reason}).")
        for path, reason in protocol.overrides
    ]
    cap = request.max_depth_mm
    treated = set(treated_zones(protocol, request))
    deepest = max((hi for zone, _, hi in protocol.depth_mm if zone in treated), default=0.0)
    if cap is not None and deepest > cap:
        notes.append(Note("device", f"Every depth is capped at the device maximum of {cap:g} mm."))
    elif cap is None and deepest > protocol.label_max_mm and protocol.label_note:
        notes.append(Note("device-label", protocol.label_note))
    return tuple(notes)


def moved_notes(
    protocol: TreatmentProtocol, request: PlanRequest, dates: list[dt.date], boosters: list[dt.date]
) -> tuple[Note, ...]:
    """A note for every session or booster the clinic calendar moved off its computed date (a closed
    day, the patient away, the days after a sun trip), naming why."""
    out: list[Note] = []
    clinic = request.clinic

    def moved(what: str, target: dt.date, day: dt.date) -> None:
        if day > target and not any(clinic.is_open(target + dt.timedelta(days=i)) for i in range((day - target).days)):
            out.append(
                Note(
                    "moved",
                    f"{what} moved from {target.isoformat()} to {day.isoformat()}: {clinic.why_closed(target)}.",
                )
            )

    for number in range(2, len(dates) + 1):
        moved(f"Session {number}", dates[number - 2] + dt.timedelta(weeks=request.interval_weeks), dates[number - 1])
    previous = dates[-1] if dates else None
    for number, day in enumerate(boosters, 1):
        if previous is not None:
            moved(f"Booster {number}", add_months(previous, protocol.booster_months.default), day)
        previous = day
    return tuple(out)


def sun_trip_notes(request: PlanRequest, sessions: tuple[Appointment, ...]) -> tuple[Note, ...]:
    """A sun trip that falls inside a session's aftercare windows is flagged for the clinician."""
    out = []
    for first, last in request.sun_trips:
        for s in sessions:
            after = [w for w in s.windows if w.kind == "aftercare"]
            if not after:
                continue
            end = max(w.last_day for w in after)
            if first <= end and last >= s.date:
                out.append(
                    Note(
                        "sun-trip",
                        f"The sun trip {first.isoformat()}..{last.isoformat()} falls within "
                        f"{s.kind} {s.label}'s aftercare ({s.date.isoformat()} to {end.isoformat()}): "
                        "strict sun protection, or move the session.",
                    )
                )
    return tuple(out)


def assemble(
    protocol: TreatmentProtocol,
    request: PlanRequest,
    on: dt.date,
    dates: list[dt.date],
    booster_dates: list[dt.date],
    plan_id: str,
    revision: int,
    notes: tuple[Note, ...],
) -> Plan:
    sessions = tuple(_appointment(protocol, request, "session", n, day) for n, day in enumerate(dates, 1))
    boosters = tuple(_appointment(protocol, request, "booster", n, day) for n, day in enumerate(booster_dates, 1))
    kept = tuple(n for n in notes if n.cause in ("schedule", "screening"))
    return Plan(
        plan_id=plan_id,
        revision=revision,
        created_on=on,
        request=request,
        protocol=ProtocolRef(protocol.info.name, protocol.info.version, protocol.info.sha256, protocol.info.origin),
        sessions=sessions,
        boosters=boosters,
        depth=shallowest(sessions + boosters, protocol, request),
        wording=protocol.wording,
        notes=kept
        + moved_notes(protocol, request, dates, booster_dates)
        + sun_trip_notes(request, sessions + boosters)
        + caution_notes(protocol, request, [*dates, *booster_dates]),
    )


def build_plan(protocol: TreatmentProtocol, request: PlanRequest, on: dt.date, uid_key: str = "") -> Plan:
    """Compute the whole series for a request, planned on ``on``."""
    validate_request(protocol, request)
    dates, boosters = compute_dates(protocol, request, {})
    notes: list[Note] = []
    if request.not_before is not None and request.not_before > request.start:
        notes.append(
            Note(
                "screening",
                f"The screening defers treatment until {request.not_before.isoformat()}: the first session "
                f"is on or after that date ({dates[0].isoformat()}).",
            )
        )
    if dates[0] != max(request.start, request.not_before or request.start):
        first = max(request.start, request.not_before or request.start)
        notes.append(
            Note(
                "schedule",
                f"Session 1 moved from {first.isoformat()} to {dates[0].isoformat()}: "
                f"{request.clinic.why_closed(first)}.",
            )
        )
    procedures: list[str] = []
    for pause in protocol.all_pauses:
        started = pause_start(pause, dates[0])
        if started >= on:
            continue
        avoid = ", ".join(avoid_items(pause, request.uses_retinoids))
        if pause.procedure:
            if request.screening is None:  # a screening asks about these procedures itself
                procedures.append(f"{avoid} (since {started.isoformat()})")
            continue
        notes.append(
            Note(
                "schedule",
                f"Session 1's {pause.title.lower()} ({pause.wait_label}) started on {started.isoformat()}, before "
                f"{on.isoformat()}: check the patient has kept it ({avoid}), or start later.",
            )
        )
    if procedures:
        notes.append(
            Note(
                "schedule",
                f"Session 1's facial treatments pauses started before {on.isoformat()}: check the patient has had "
                f"none of these: {', '.join(procedures)} (or screen them, which asks).",
            )
        )
    for c in active_cautions(protocol, request, dates[0]):
        if c.window is not None and dates[0] + dt.timedelta(days=c.window.first_day) < on:
            begins = dates[0] + dt.timedelta(days=c.window.first_day)
            notes.append(
                Note(
                    "schedule",
                    f"Session 1's {c.window_kind} window ({c.window.title.lower()}) starts on {begins.isoformat()}, "
                    f"before {on.isoformat()}: it is already past; check the patient has started it, or start later.",
                )
            )
    return assemble(protocol, request, on, dates, boosters, plan_id_for(request, key=uid_key), 0, tuple(notes))


def single_session_plan(
    protocol: TreatmentProtocol, request: PlanRequest, day: dt.date, on: dt.date, uid_key: str = ""
) -> Plan:
    """A one-session plan on ``day`` as given (for `needle aftercare --session-date`): no spacing rules."""
    single = dataclasses.replace(request, start=day, sessions=1, boosters=0)
    return assemble(protocol, single, on, [day], [], plan_id_for(single, "aftercare", uid_key), 0, ())
