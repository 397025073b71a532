"""A booked series over time, pure: a session done (on its real day, with the depth used), a booking
missed (booked again as a new occurrence), a re-check's deferral (the rest re-flow), a stop.

Each function takes the saved revision (`plans.SavedPlan`: the request and the dates) and returns the
next one; `planning.saved_plan` turns it into a Plan and checks it against the rules again, so what a
command records is read back by the same checks as any saved plan. Sessions already done never move.
No I/O, no clock: the day is passed in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Protocol

from needlecli.dates import add_months
from needlecli.errors import SchedulingError, UsageError
from needlecli.model import Note, TreatmentProtocol
from needlecli.recorded import Course, Done
from needlecli.scheduling import FIRST_SESSION_HORIZON_DAYS, compute_dates, day_label, next_open, wall_time

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from needlecli.plans import SavedPlan

#: A session label: ``2`` for session 2, ``B1`` for booster 1.
Label = str


class Held(Protocol):
    """The places other series hold, by (day, HH:MM), read with ``get`` (a dict, or a view that reads
    the days it is asked for)."""

    def get(self, place: tuple[str, str], default: int, /) -> int: ...


def course_of(saved: SavedPlan) -> Course:
    return saved.request.course or Course()


def labels(saved: SavedPlan) -> list[Label]:
    """Every session's and booster's label, in order."""
    return [str(n) for n in range(1, len(saved.session_dates) + 1)] + [
        f"B{n}" for n in range(1, len(saved.booster_dates) + 1)
    ]


def date_of(saved: SavedPlan, label: Label) -> dt.date:
    if label.startswith("B"):
        return saved.booster_dates[int(label[1:]) - 1]
    return saved.session_dates[int(label) - 1]


def status(saved: SavedPlan) -> str:
    """``active``, ``on-hold``, ``stopped`` or ``completed`` (every session and booster done)."""
    course = course_of(saved)
    if course.halted:
        return course.halted
    return "completed" if len(course.done) == len(labels(saved)) else "active"


def rebook_refusal(saved: SavedPlan, patient: str, *, restart: bool = True) -> str | None:
    """Why booking a new plan over this series is refused (None: it is not): a series with a history —
    sessions done or missed, on hold — is changed by check, done and missed only, so a recorded session
    never moves and a cancelled calendar id never comes back. A stopped series is not refused: booking
    again starts a new series (new calendar ids)."""
    course = saved.request.course
    if course is None or (course.halted == "stopped" and restart):
        return None
    if course.halted == "stopped":
        return f"the series is stopped ({course.reason}): book a new one with needle plan --book"
    if course.halted == "on-hold":
        return f"the series is on hold ({course.reason}): a clear re-check resumes it (needle check {patient})"
    done = ", ".join(d.label for d in course.done)
    what = f"sessions recorded ({done})" if done else "a missed session booked again"
    return (
        f"the series has {what}, which never change: move the rest with needle check, missed or done, "
        f"or end it with needle cancel {patient} and book a new one"
    )


def next_open_label(saved: SavedPlan) -> Label | None:
    """The first session (or booster) not recorded yet; None when all are."""
    done = {d.label for d in course_of(saved).done}
    return next((label for label in labels(saved) if label not in done), None)


def pick(saved: SavedPlan, given: str | None, verb: str) -> Label:
    """The session a command names (``3``, ``B1``, any case), else the first not recorded yet; refused
    when the series is halted, the session is recorded already, or one before it is not."""
    course = course_of(saved)
    if course.halted:
        raise UsageError(f"the series is {course.halted}: nothing to mark {verb} (book it again to restart)")
    all_labels = labels(saved)
    first = next_open_label(saved)
    if given is None:
        if first is None:
            raise UsageError("every session of the series is recorded already")
        return first
    label = given.strip().upper()
    if label not in all_labels:
        raise UsageError(f"SESSION: there is no session {given!r} (the series has {', '.join(all_labels)})")
    if course.done_on(label) is not None:
        raise UsageError(f"session {label} is recorded as done already; a recorded session never changes")
    if label != first:
        raise UsageError(f"session {first} is not recorded yet: record it (done or missed) before session {label}")
    return label


def _previous_done(saved: SavedPlan, label: Label) -> dt.date | None:
    """The day of the last session done before ``label``."""
    course = course_of(saved)
    order = labels(saved)
    before = order[: order.index(label)]
    days = [d.day for d in course.done if d.label in before]
    return max(days) if days else None


def _reflow(
    protocol: TreatmentProtocol, saved: SavedPlan, course: Course, label: Label, day: dt.date
) -> tuple[tuple[dt.date, ...], tuple[dt.date, ...]]:
    """The dates with ``label`` on ``day``: the ones done stay, those before it stay, the later ones
    follow the spacing rules from it."""
    request = dataclasses.replace(saved.request, course=course)
    if label.startswith("B"):
        number = int(label[1:])
        fixed = dict(enumerate(saved.session_dates, 1))
        pinned = {n: d for n, d in enumerate(saved.booster_dates, 1) if n < number} | {number: day}
        dates, boosters = compute_dates(protocol, request, fixed, pinned)
    else:
        number = int(label)
        fixed = {n: d for n, d in enumerate(saved.session_dates, 1) if n < number} | {number: day}
        dates, boosters = compute_dates(protocol, request, fixed)
    return tuple(dates), tuple(boosters)


def _with(saved: SavedPlan, course: Course, dates: tuple[dt.date, ...], boosters: tuple[dt.date, ...]) -> SavedPlan:
    return dataclasses.replace(
        saved,
        request=dataclasses.replace(saved.request, course=course),
        session_dates=dates,
        booster_dates=boosters,
    )


def record_done(
    protocol: TreatmentProtocol, saved: SavedPlan, label: Label, day: dt.date, used: tuple[tuple[str, float], ...]
) -> SavedPlan:
    """``label`` done on ``day`` with the depths ``used``: its date from now on (the later sessions
    re-flow from it when it differs from the booked one)."""
    previous = _previous_done(saved, label)
    if previous is not None and day <= previous:
        raise UsageError(f"--on {day.isoformat()}: the session before was done on {previous.isoformat()}")
    course = course_of(saved)
    if label.startswith("B"):  # a booster: never sooner than the protocol's months after what came before
        order = labels(saved)
        before = order[order.index(label) - 1]
        was = course.done_on(before)
        last = was.day if was is not None else date_of(saved, before)
        soonest = add_months(last, protocol.booster_months.min)
        if day < soonest:
            raise UsageError(
                f"booster {label[1:]} on {day.isoformat()}: sooner than {protocol.booster_months.min} months after "
                f"{last.isoformat()}; the earliest is {soonest.isoformat()}"
            )
    if previous is not None and not label.startswith("B"):
        weeks = protocol.interval_weeks
        soonest = previous + dt.timedelta(weeks=weeks.min)
        if day < soonest:  # the minimum spacing is the skin's recovery: never closer
            raise UsageError(
                f"session {label} on {day.isoformat()}: only {(day - previous).days} days after the session before "
                f"({previous.isoformat()}); the earliest is {soonest.isoformat()} ({weeks.min} weeks)"
            )
        if day > previous + dt.timedelta(weeks=weeks.max) and label not in course.resumed:
            course = dataclasses.replace(course, resumed=(*course.resumed, label))  # late: the series resumes
    course = dataclasses.replace(course, done=(*course.done, Done(label, day, used)))
    if day == date_of(saved, label):
        return _with(saved, course, saved.session_dates, saved.booster_dates)
    try:
        dates, boosters = _reflow(protocol, saved, course, label, day)
    except SchedulingError as exc:
        raise SchedulingError(f"session {label} done on {day.isoformat()}: {exc}") from None
    return _with(saved, course, dates, boosters)


def first_day(protocol: TreatmentProtocol, saved: SavedPlan, label: Label, earliest: dt.date) -> dt.date:
    """The first open day for ``label`` on or after ``earliest``, and never closer than the minimum
    spacing to the last session done."""
    previous = _previous_done(saved, label)
    if previous is not None and not label.startswith("B"):
        earliest = max(earliest, previous + dt.timedelta(weeks=protocol.interval_weeks.min))
    clinic = saved.request.clinic
    horizon = earliest + dt.timedelta(days=FIRST_SESSION_HORIZON_DAYS)
    found = next_open(clinic, earliest, horizon)
    if found is None:
        raise SchedulingError(
            f"session {label}: no open clinic day between {day_label(earliest)} and {day_label(horizon)}"
        )
    return found


def record_missed(
    protocol: TreatmentProtocol, saved: SavedPlan, label: Label, on: dt.date
) -> tuple[SavedPlan, dt.date, Note | None]:
    """``label``'s booking missed: booked again as a new occurrence (a new calendar id) on the first
    open day on or after ``on`` (the minimum spacing kept), the rest re-flowing from it. A gap beyond
    the maximum spacing is allowed, with a note. Returns the revision, the new day and the note."""
    booked = date_of(saved, label)
    if on < booked:
        raise UsageError(
            f"session {label} is booked for {booked.isoformat()}, after --on {on.isoformat()}: it cannot be missed "
            "yet (to move it, plan --from the exported plan with --move)"
        )
    course = course_of(saved)
    occurrences = dict(course.occurrences)
    occurrences[label] = course.occurrence(label) + 1
    resumed = course.resumed if label in course.resumed else (*course.resumed, label)
    course = dataclasses.replace(course, occurrences=tuple(occurrences.items()), resumed=resumed)
    # Missed on its own day: booked again from the next day on, never for the day just missed.
    day = first_day(protocol, saved, label, max(on, booked + dt.timedelta(days=1)))
    dates, boosters = _reflow(protocol, saved, course, label, day)
    return _with(saved, course, dates, boosters), day, _gap_note(protocol, saved, label, day, "a missed session")


def deferred(protocol: TreatmentProtocol, saved: SavedPlan, until: dt.date) -> tuple[SavedPlan, Note | None]:
    """A re-check defers treatment until ``until``: the next session not done moves to the first open
    day on or after it (when it is before), the rest re-flowing from it; a gap beyond the maximum
    spacing is allowed, with a note."""
    label = next_open_label(saved)
    if label is None or date_of(saved, label) >= until:
        return saved, None
    course = course_of(saved)
    resumed = course.resumed if label in course.resumed else (*course.resumed, label)
    course = dataclasses.replace(course, resumed=resumed)
    day = first_day(protocol, saved, label, until)
    dates, boosters = _reflow(protocol, saved, course, label, day)
    return _with(saved, course, dates, boosters), _gap_note(protocol, saved, label, day, "the re-check's deferral")


def resumed_from_hold(saved: SavedPlan) -> SavedPlan:
    """An on-hold series active again: the sessions not done, cancelled while on hold, are booked again
    under new calendar ids (a cancelled one never comes back)."""
    course = course_of(saved)
    done = {d.label for d in course.done}
    occurrences = dict(course.occurrences)
    for label in labels(saved):
        if label not in done:
            occurrences[label] = course.occurrence(label) + 1
    course = dataclasses.replace(course, halted="", reason="", occurrences=tuple(occurrences.items()))
    return _with(saved, course, saved.session_dates, saved.booster_dates)


def halted(saved: SavedPlan, how: str, reason: str) -> SavedPlan:
    """The series ``on-hold`` or ``stopped``: every session not done is cancelled (dates kept)."""
    course = dataclasses.replace(course_of(saved), halted=how, reason=reason)
    return _with(saved, course, saved.session_dates, saved.booster_dates)


def _gap_note(protocol: TreatmentProtocol, saved: SavedPlan, label: Label, day: dt.date, after: str) -> Note | None:
    previous = _previous_done(saved, label)
    if previous is None or label.startswith("B"):
        return None
    weeks = protocol.interval_weeks
    if day <= previous + dt.timedelta(weeks=weeks.max):
        return None
    gap = (day - previous).days
    return Note(
        "schedule",
        f"Session {label} on {day.isoformat()} is {_weeks(gap)} after the last session done "
        f"({previous.isoformat()}), beyond the usual {weeks.max}-week maximum, after {after}: the series "
        "resumes, it does not restart.",
    )


def _weeks(days: int) -> str:
    w, d = divmod(days, 7)
    out = f"{w} week{'' if w == 1 else 's'}"
    return out + (f" {d} day{'' if d == 1 else 's'}" if d else "")


def slotted(
    saved: SavedPlan,
    taken: Mapping[tuple[str, str], int] | Held,
    slots: tuple[dt.time, ...],
    capacity: int,
    *,
    asked: bool = False,
    protocol: TreatmentProtocol | None = None,
    notes: list[str] | None = None,
) -> SavedPlan:
    """Each session not done at its time if that slot of its day has a free place (``taken``: the
    places other series hold, by (day, HH:MM): any mapping, read with ``get``), else at the earliest
    slot of the day with one. A day
    with none is refused, naming the session; with ``asked`` (the time was asked for), a full slot is
    refused, naming the free ones. The plan's own sessions count too. Capacity is never exceeded."""
    request = saved.request
    course = course_of(saved)
    if request.time is None or not slots or course.halted:
        return saved
    done = {d.label for d in course.done}
    chosen = dict(request.slot_times)
    added: dict[tuple[str, str], int] = {}  # this plan's own sessions placed so far

    def used(place: tuple[str, str]) -> int:
        return taken.get(place, 0) + added.get(place, 0)

    def wall(day: str, t: dt.time) -> tuple[str, str]:
        """The place a slot is on ``day``: its real local start (a slot a DST change skips starts later)."""
        return day, f"{wall_time(dt.date.fromisoformat(day), t, request.tz):%H:%M}"

    for label in labels(saved):
        if label in done:
            continue
        day = date_of(saved, label).isoformat()
        wanted = chosen.get(label, request.time)
        free = [t for t in slots if used(wall(day, t)) < capacity]
        if not free and not asked and protocol is not None:  # a full day is closed for this session
            moved = _next_free_day(protocol, saved, label, used, slots, capacity)
            if moved is not None:
                if notes is not None:
                    notes.append(f"session {label} moved from {day} to {date_of(moved, label).isoformat()}: "
                                 "every slot of its day is full")  # fmt: skip
                saved = moved
                day = date_of(saved, label).isoformat()
                free = [t for t in slots if used(wall(day, t)) < capacity]
        if asked and wanted in free:  # the slot asked for (--time)
            at = wanted
        elif free and not asked:  # the earliest slot of the day with a free place
            at = free[0]
        else:
            names = ", ".join(f"{t:%H:%M}" for t in free) or "none"
            what = f"the {wanted:%H:%M} slot is full" if wanted in slots else f"{wanted:%H:%M} is not a slot"
            raise SchedulingError(
                f"session {label} on {day}: {what} (capacity {capacity}); free slots that day: {names}"
            )
        added[wall(day, at)] = added.get(wall(day, at), 0) + 1
        if at == request.time:
            chosen.pop(label, None)
        else:
            chosen[label] = at
    return dataclasses.replace(saved, request=dataclasses.replace(request, slot_times=tuple(chosen.items())))


def _next_free_day(
    protocol: TreatmentProtocol,
    saved: SavedPlan,
    label: Label,
    used: Callable[[tuple[str, str]], int],
    slots: tuple[dt.time, ...],
    capacity: int,
) -> SavedPlan | None:
    """``label`` on the next open day with a free slot that the spacing rules allow (the later sessions
    following from it); None when there is none before the rules' latest day."""
    day = date_of(saved, label)
    for n in range(1, FIRST_SESSION_HORIZON_DAYS + 1):
        candidate = day + dt.timedelta(days=n)
        if not saved.request.clinic.is_open(candidate):
            continue
        places = [(candidate.isoformat(), f"{wall_time(candidate, t, saved.request.tz):%H:%M}") for t in slots]
        if not any(used(place) < capacity for place in places):
            continue
        try:
            dates, boosters = _reflow(protocol, saved, course_of(saved), label, candidate)
        except SchedulingError:
            return None  # past the spacing rules' latest day: no later day will do
        return _with(saved, course_of(saved), dates, boosters)
    return None
