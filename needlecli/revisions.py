"""Pure revisions of a series: a session moved (`reschedule`), a saved plan turned back into a
Plan (`rebuild`) after its dates are checked against the rules (`check_saved`), and the revision
of each item raised exactly when what a calendar client sees of it changed; what a rebuild needs
of an earlier revision (`History`), and a plan rebuilt over it (`rebuild_over`).

No I/O, no clock: like `scheduling`, whose rules and assembly it uses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from needlecli.dates import add_months
from needlecli.errors import SchedulingError, UsageError
from needlecli.model import (
    Appointment,
    Cancelled,
    Note,
    Plan,
    PlanRequest,
    TreatmentProtocol,
    Window,
)
from needlecli.scheduling import (
    FIRST_SESSION_HORIZON_DAYS,
    assemble,
    check_spacing,
    compute_dates,
    day_label,
)

if TYPE_CHECKING:
    from needlecli.plans import SavedPlan


def reschedule(
    protocol: TreatmentProtocol, plan: Plan, number: int, day: dt.date, on: dt.date, booster: bool = False
) -> Plan:
    """Move session ``number`` (or booster ``number``) to ``day`` and recompute what follows it:
    the later sessions, windows and boosters. Earlier ones stay. Every item keeps its key; an item
    whose dates changed gets its revision raised, so calendar clients update it instead of adding a copy.
    """
    label = f"B{number}" if booster else str(number)
    items = plan.boosters if booster else plan.sessions
    if not 1 <= number <= len(items):
        what = "booster" if booster else "session"
        raise SchedulingError(f"--move: there is no {what} {label} (the plan has {len(items)})")
    try:
        return _moved(protocol, plan, number, day, on, booster, label)
    except SchedulingError as exc:
        fits = _first_fit(protocol, plan, number, day, on, booster, label)
        hint = f"; the first day every rule allows is {day_label(fits)}" if fits is not None and fits != day else ""
        raise SchedulingError(f"{exc}{hint}") from None


def _first_fit(
    protocol: TreatmentProtocol, plan: Plan, number: int, day: dt.date, on: dt.date, booster: bool, label: str
) -> dt.date | None:
    """The first day from ``day`` on that the move would pass every rule at (open, not before today or
    a deferral, the spacing rules), within the first-session horizon; None when there is none."""
    start = max(day, on, plan.request.not_before or on)
    for n in range(FIRST_SESSION_HORIZON_DAYS + 1):
        candidate = start + dt.timedelta(days=n)
        if not plan.request.clinic.is_open(candidate):
            continue
        try:
            _moved(protocol, plan, number, candidate, on, booster, label)
        except SchedulingError:
            continue
        return candidate
    return None


def _moved(
    protocol: TreatmentProtocol, plan: Plan, number: int, day: dt.date, on: dt.date, booster: bool, label: str
) -> Plan:
    request = plan.request
    if not request.clinic.is_open(day):
        raise SchedulingError(f"--move {label}={day.isoformat()}: {request.clinic.why_closed(day)}")
    if day < on:
        raise SchedulingError(f"--move {label}={day.isoformat()}: that is before {on.isoformat()} (today)")
    if request.not_before is not None and day < request.not_before:
        raise SchedulingError(
            f"--move {label}={day.isoformat()}: the screening defers treatment until {request.not_before.isoformat()}"
        )
    if booster:
        fixed = {s.number: s.date for s in plan.sessions}
        pinned = {b.number: b.date for b in plan.boosters if b.number < number} | {number: day}
        dates, boosters = compute_dates(protocol, request, fixed, pinned)
    else:
        fixed = {s.number: s.date for s in plan.sessions if s.number < number}
        fixed[number] = day  # later sessions follow the rules again from the moved one
        dates, boosters = compute_dates(protocol, request, fixed)
    new = assemble(protocol, request, on, dates, boosters, plan.plan_id, plan.revision + 1, plan.notes)
    return _carry_revisions(plan, new)


Signature = tuple[object, ...]


def signature(item: Appointment | Window) -> Signature:
    """What a calendar client sees change: the dates (and a window's items)."""
    if isinstance(item, Window):
        return (item.first_day, item.last_day, item.items)
    return (item.date,)


def with_revisions(plan: Plan, revision: Callable[[str, Signature], int]) -> Plan:
    """The plan with every item's revision set by ``revision(key, signature)``."""

    def appointment(a: Appointment) -> Appointment:
        windows = tuple(dataclasses.replace(w, revision=revision(w.key, signature(w))) for w in a.windows)
        return dataclasses.replace(a, revision=revision(a.key, signature(a)), windows=windows)

    return dataclasses.replace(
        plan,
        sessions=tuple(appointment(s) for s in plan.sessions),
        boosters=tuple(appointment(b) for b in plan.boosters),
    )


def plan_items(plan: Plan) -> list[Appointment | Window]:
    """Every item of a plan that has an identity and a revision: appointments and their windows."""
    items: list[Appointment | Window] = []
    for a in plan.appointments:
        items += [a, *a.windows]
    return items


def _carry_revisions(old: Plan, new: Plan) -> Plan:
    """Keep each item's revision, raised by one where its dates changed; new items start at 0."""
    before = {item.key: (item.revision, signature(item)) for item in plan_items(old)}

    def revision(key: str, sig: Signature) -> int:
        if key not in before:
            return 0
        rev, old_sig = before[key]
        return rev + 1 if old_sig != sig else rev

    return with_revisions(new, revision)


def check_saved(
    protocol: TreatmentProtocol,
    request: PlanRequest,
    dates: tuple[dt.date, ...],
    source: str,
    boosters: tuple[dt.date, ...] = (),
) -> None:
    """A saved plan's sessions and boosters must still obey the rules (a hand-edited file must not slip through)."""
    if len(boosters) != request.boosters:
        raise SchedulingError(f"{source}: has {len(boosters)} boosters but request.boosters is {request.boosters}")
    course = request.course
    done = {d.label: d.day for d in course.done} if course is not None else {}
    resumed = course.resumed if course is not None else ()
    previous = dates[-1] if dates else None
    for number, day in enumerate(boosters, 1):
        label = f"B{number}"
        if label in done:
            if done[label] != day:
                raise SchedulingError(f"{source}: booster {number} on {day.isoformat()} was recorded on another day")
            previous = day
            continue
        if not request.clinic.is_open(day):
            raise SchedulingError(f"{source}: booster {number} on {day.isoformat()}: {request.clinic.why_closed(day)}")
        if label in resumed and previous is not None and day > add_months(previous, protocol.booster_months.max):
            previous = day
            continue
        if previous is not None and not add_months(previous, protocol.booster_months.min) <= day <= add_months(
            previous, protocol.booster_months.max
        ):
            raise SchedulingError(
                f"{source}: booster {number} on {day.isoformat()} must fall {protocol.booster_months.min}-"
                f"{protocol.booster_months.max} months after {previous.isoformat()}"
            )
        previous = day
    for number, day in enumerate(dates, 1):
        label = str(number)
        if label in done:  # recorded: a fact, on the day it was recorded
            if done[label] != day:
                raise SchedulingError(
                    f"{source}: session {number} on {day.isoformat()} was recorded as done on {done[label].isoformat()}"
                )
        elif not request.clinic.is_open(day):
            raise SchedulingError(f"{source}: session {number} on {day.isoformat()}: {request.clinic.why_closed(day)}")
        elif request.not_before is not None and day < request.not_before and not (course and course.halted):
            raise SchedulingError(
                f"{source}: session {number} on {day.isoformat()} is before the screening deferral "
                f"({request.not_before.isoformat()})"
            )
        if number > 1:
            both_done = label in done and str(number - 1) in done  # the maximum is past, the minimum never
            try:
                check_spacing(protocol, number, dates[number - 2], day, resumed=label in resumed or both_done)
            except SchedulingError as exc:
                raise SchedulingError(f"{source}: {exc}") from None


def rebuild(
    protocol: TreatmentProtocol,
    request: PlanRequest,
    *,
    plan_id: str,
    revision: int,
    created_on: dt.date,
    session_dates: tuple[dt.date, ...],
    booster_dates: tuple[dt.date, ...],
    revisions: Mapping[str, int],
    notes: tuple[Note, ...],
    signatures: Mapping[str, Signature] | None = None,
    on: dt.date | None = None,
) -> Plan:
    """Turn a saved plan's dates back into a full Plan (windows from the protocol, revisions kept).

    If the protocol changed since the plan was saved, an item whose dates or items now differ
    from ``signatures`` gets its revision raised (and the plan's, with ``on`` as its new date),
    so calendar clients replace the old event instead of keeping it.
    """
    plan = assemble(protocol, request, created_on, list(session_dates), list(booster_dates), plan_id, revision, notes)
    saved = signatures or {}
    changed: list[str] = []

    def rev(key: str, sig: Signature) -> int:
        if key in saved and saved[key] != sig:
            changed.append(key)
            return revisions.get(key, 0) + 1
        return revisions.get(key, 0)

    plan = with_revisions(plan, rev)
    if changed:
        plan = dataclasses.replace(plan, revision=revision + 1, created_on=on or created_on)
    return plan


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def next_stamp(previous: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """A new revision's stamp: now, and always later than the revision before it (a same-day
    reschedule with --on must still look newer to a calendar client)."""
    if previous is None:
        return now
    return max(now, previous + dt.timedelta(seconds=1))


@dataclass(frozen=True)
class History:
    """What a rebuild needs of an earlier revision of a plan: its ids, revisions and item spans.

    From a saved plan file (`History.of_saved`) or, for `batch`, from what the run before wrote
    into the same folder (`History.of_plan`, kept between runs by the batch manifest).
    """

    patient: str
    indication: str
    plan_id: str
    revision: int
    created_on: dt.date
    stamp: dt.datetime | None
    #: key -> (revision, first day, last day) of every item the earlier revision had.
    items: dict[str, tuple[int, dt.date, dt.date]]
    cancelled: tuple[Cancelled, ...] = ()

    @classmethod
    def of_saved(cls, saved: SavedPlan) -> History:
        items = {}
        for key, signature in saved.signatures.items():
            first = signature[0]
            last = signature[1] if len(signature) > 1 else first
            assert isinstance(first, dt.date) and isinstance(last, dt.date)
            items[key] = (saved.revisions.get(key, 0), first, last)
        return cls(
            saved.request.patient,
            saved.request.indication,
            saved.plan_id,
            saved.revision,
            saved.created_on,
            saved.stamp,
            items,
            saved.cancelled,
        )

    @classmethod
    def of_calendar(
        cls,
        patient: str,
        indication: str,
        found: tuple[
            str, dict[str, tuple[int, dt.date, dt.date]], list[tuple[str, dt.date, dt.date, int]], dt.datetime
        ],
    ) -> History:
        """The history a calendar needle wrote holds (`render.ics_read.history_of_calendar`): its plan id,
        live items and cancelled ones; its revision the highest SEQUENCE in it."""
        plan_id, live, gone, stamp = found
        revision = max([r for r, _, _ in live.values()] + [c[3] for c in gone] + [0])
        cancelled = tuple(Cancelled(k, f, la, r) for k, f, la, r in gone)
        return cls(patient, indication, plan_id, revision, stamp.date(), stamp, live, cancelled)

    def withdrawn(self, now: dt.datetime) -> History:
        """This history once its plan is withdrawn (the patient refused, or no longer plannable): every
        item cancelled one revision above, as of ``now`` (a later rebuild revives them above that)."""
        gone = tuple(Cancelled(key, first, last, rev + 1) for key, (rev, first, last) in self.items.items())
        return dataclasses.replace(
            self,
            revision=self.revision + 1,
            stamp=next_stamp(self.stamp or midnight(self.created_on), now),
            items={},
            cancelled=tuple(c for c in self.cancelled if c.key not in self.items) + gone,
        )

    @classmethod
    def of_plan(cls, plan: Plan) -> History:
        items = {}
        for item in plan_items(plan):
            if isinstance(item, Window):
                items[item.key] = (item.revision, item.first_day, item.last_day)
            else:
                items[item.key] = (item.revision, item.date, item.date)
        return cls(
            plan.request.patient,
            plan.request.indication,
            plan.plan_id,
            plan.revision,
            plan.created_on,
            plan.stamp,
            items,
            plan.cancelled,
        )


def rebuild_over(
    plan: Plan, saved: SavedPlan | History, source: str, now: dt.datetime, *, same_indication: bool = True
) -> Plan:
    """A plan rebuilt over an earlier one (`--out` onto a saved plan, `batch` into last run's folder):
    the same calendar ids for items that still exist, each with a SEQUENCE above the saved one; items
    that no longer exist are kept as cancelled, so a calendar that imported the old plan updates and
    removes instead of duplicating. ``same_indication=False`` (batch: the clinic changed a patient's
    indication in its list) rebuilds over a plan of another indication for the same patient too."""
    before = saved if isinstance(saved, History) else History.of_saved(saved)
    if before.patient != plan.request.patient or (same_indication and before.indication != plan.request.indication):
        raise UsageError(f"{source}: holds the plan of another patient or indication; choose another --out file")
    items = plan_items(plan)
    keys = {i.key for i in items}
    raised = {key: before.items[key][0] + 1 for key in keys if key in before.items}
    for c in before.cancelled:  # an item cancelled before and back now: above its cancellation
        if c.key in keys and c.key not in raised:
            raised[c.key] = c.revision + 1

    def revision(key: str, _signature: Signature) -> int:
        return raised.get(key, 0)

    rebuilt = with_revisions(dataclasses.replace(plan, plan_id=before.plan_id), revision)
    gone = [Cancelled(key, first, last, rev + 1) for key, (rev, first, last) in before.items.items() if key not in keys]
    still = tuple(c for c in before.cancelled if c.key not in keys and c.key not in before.items)
    return dataclasses.replace(
        rebuilt,
        revision=before.revision + 1,
        cancelled=still + tuple(gone),
        stamp=next_stamp(before.stamp or midnight(before.created_on), now),
    )


def as_booked(plan: Plan, saved: SavedPlan) -> Plan:
    """``plan`` (new, for the saved plan's patient and indication) as the saved revision holds it: that
    plan id, revision number, creation day, stamp, cancelled items, and each item's revision. When it
    reads as the saved text, booking ``plan`` would change nothing: a rerun books no new revision."""
    same = with_revisions(dataclasses.replace(plan, plan_id=saved.plan_id), lambda key, _s: saved.revisions.get(key, 0))
    return dataclasses.replace(
        same, revision=saved.revision, created_on=saved.created_on, stamp=saved.stamp, cancelled=saved.cancelled
    )
