"""Pure aftercare checklists: what to do and avoid, day by day, around each session.

Everything comes from the plan's own windows and the protocol's `[[checklist]]` day
groups: what to avoid in a group is every aftercare window of that appointment that
covers all of it, and a caution window (the prescribed medicine) adds its items to the
days it covers, so the checklist and the calendar can never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from needlecli.model import Appointment, Plan, TreatmentProtocol, Window, WindowKind


@dataclass(frozen=True)
class DayGroup:
    first_day: int
    last_day: int | None
    first_date: dt.date
    last_date: dt.date | None
    do: tuple[str, ...]
    avoid: tuple[str, ...]
    #: Plain statements for these days ("redness is normal today"), not boxes to tick.
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class BeforeLine:
    """One window before an appointment: a pause (things to avoid) or a caution window (to do)."""

    kind: WindowKind
    title: str
    first_day: dt.date
    last_day: dt.date
    #: A pause's things to avoid ("No ..." in a document); a caution window's things to do.
    items: tuple[str, ...]
    #: A pause's items to pause only if the physician approves, whole sentences (protocol `ask_items`).
    ask: tuple[str, ...] = ()
    #: A pause made from the screening's wait after a procedure (its title says how long), and the wait.
    procedure: bool = False
    wait: str = ""


@dataclass(frozen=True)
class Before:
    """What to do before an appointment; without a known appointment, how many days before."""

    label: str
    session_date: dt.date | None
    lines: tuple[BeforeLine, ...]


@dataclass(frozen=True)
class SessionChecklist:
    label: str
    session_date: dt.date
    groups: tuple[DayGroup, ...]
    next_pause: Before


@dataclass(frozen=True)
class Handout:
    """The patient's aftercare: what to do before the first appointment, then after each one."""

    before_first: Before | None
    sessions: tuple[SessionChecklist, ...]


def _relative(w: Window, day: dt.date) -> tuple[int, int]:
    return (w.first_day - day).days, (w.last_day - day).days


def _pieces(groups_first: int, groups_last: int | None, bounds: list[int]) -> list[tuple[int, int | None]]:
    """A checklist group cut where a caution window starts or ends inside it (``bounds``: the first
    day of a piece), so a caution's items are listed only under days the window covers."""
    cuts = sorted({b for b in bounds if b > groups_first and (groups_last is None or b <= groups_last)})
    starts = [groups_first, *cuts]
    return [(a, (starts[i + 1] - 1) if i + 1 < len(starts) else groups_last) for i, a in enumerate(starts)]


def day_groups(protocol: TreatmentProtocol, appointment: Appointment) -> tuple[DayGroup, ...]:
    out = []
    day = appointment.date
    # Cut where any window starts or ends inside a group (a caution's medicine, an aftercare window
    # made longer by a deeper pass or a late session's hours): every day lists exactly what covers it.
    spans = [_relative(w, day) for w in appointment.windows if w.kind != "pause"]
    bounds = [b for first, last in spans for b in (first, last + 1)]
    for g in protocol.checklist:
        facts = g.deep_facts if appointment.deep and g.deep_facts is not None else g.facts
        for i, (a, b) in enumerate(_pieces(g.first_day, g.last_day, bounds)):
            end = b if b is not None else a
            avoid: list[str] = []
            do = list(g.do)
            for w in appointment.windows:
                first, last = _relative(w, day)
                covers = b is not None and first <= a and last >= end
                if w.kind == "aftercare" and covers:
                    avoid += [i for i in w.items if i not in avoid]
                elif w.kind == "antiviral" and covers:
                    do += [i for i in w.items if i not in do]
            out.append(
                DayGroup(
                    first_day=a,
                    last_day=b,
                    first_date=day + dt.timedelta(days=a),
                    last_date=day + dt.timedelta(days=b) if b is not None else None,
                    do=tuple(do),
                    avoid=tuple(avoid),
                    facts=facts if i == 0 else (),
                )
            )
    return tuple(out)


def warning_signs(protocol: TreatmentProtocol, plan: Plan) -> tuple[str, ...]:
    """The signs that mean "call the clinic": the deeper-pass ones when any appointment is a deeper pass."""
    if protocol.deep_warning_signs is not None and any(a.deep for a in plan.appointments):
        return protocol.deep_warning_signs
    return protocol.warning_signs


def _line(w: Window, last_day: dt.date, asks: frozenset[str]) -> BeforeLine:
    """A window before an appointment; a pause's items split into things to avoid and the protocol's
    items to pause only if the physician approves."""
    if w.kind != "pause":
        return BeforeLine(w.kind, w.title, w.first_day, last_day, w.items)
    avoid = tuple(i for i in w.items if i not in asks)
    ask = tuple(i for i in w.items if i in asks)
    return BeforeLine(w.kind, w.title, w.first_day, last_day, avoid, ask, procedure=w.procedure, wait=w.wait)


def _asks(protocol: TreatmentProtocol) -> frozenset[str]:
    return frozenset(i for p in protocol.pauses for i in p.ask_items)


def before(appointment: Appointment, label: str, asks: frozenset[str] = frozenset()) -> Before:
    """The windows that start before an appointment, up to the day before it (``asks``: the
    protocol's items to pause only if the physician approves)."""
    eve = appointment.date - dt.timedelta(days=1)
    lines = tuple(
        _line(w, min(w.last_day, eve), asks)
        for w in appointment.windows
        if w.kind != "aftercare" and w.first_day <= eve
    )
    return Before(label, appointment.date, lines)


def _label(a: Appointment) -> str:
    return f"{a.kind.capitalize()} {a.number}"


def _open_ended(appointment: Appointment, label: str, asks: frozenset[str]) -> Before:
    """Before a session that is not planned yet: the same pauses, undated (no dates to give)."""
    lines = tuple(_line(w, w.last_day, asks) for w in appointment.windows if w.kind == "pause")
    return Before(label, None, lines)


def handout(protocol: TreatmentProtocol, plan: Plan, series: bool = True) -> Handout:
    """Every session and booster of a plan, each with the dated windows before the next one.

    With ``series`` (a saved plan), the handout starts with what to do before the first session;
    without (one session's aftercare), the next session is not known yet.
    """
    appointments = plan.appointments
    asks = _asks(protocol)
    out = []
    for i, a in enumerate(appointments):
        if i + 1 < len(appointments):
            nxt = before(appointments[i + 1], _label(appointments[i + 1]).lower(), asks)
        else:
            nxt = _open_ended(a, "any future session" if series else "your next session", asks)
        out.append(SessionChecklist(_label(a) if series else "Your session", a.date, day_groups(protocol, a), nxt))
    first = before(appointments[0], _label(appointments[0]).lower(), asks) if series and appointments else None
    return Handout(first, tuple(out))


def before_session(protocol: TreatmentProtocol, plan: Plan, label: str) -> Before | None:
    """The dated windows before the plan's first appointment (one session's handout: its calendar
    marks them, so its table dates them too); None for a plan with no appointment."""
    if not plan.appointments:
        return None
    return before(plan.appointments[0], label, _asks(protocol))


def days_before(line: BeforeLine, session_date: dt.date | None) -> int:
    """How many days before the session a line starts (its length for an undated pause)."""
    if session_date is None:
        return (line.last_day - line.first_day).days + 1
    return (session_date - line.first_day).days
