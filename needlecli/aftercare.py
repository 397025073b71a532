"""Pure aftercare checklists: what to do and avoid, day by day, after each session.

The content comes from the protocol: `[[checklist]]` groups give the to-dos,
and what to avoid in a group is every `[[aftercare]]` window that covers all
of it, so the checklist and the calendar windows can never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from needlecli.model import Plan, TreatmentProtocol, Window
from needlecli.scheduling import pause_items


@dataclass(frozen=True)
class DayGroup:
    first_day: int
    last_day: int | None
    first_date: dt.date
    last_date: dt.date | None
    do: tuple[str, ...]
    avoid: tuple[str, ...]


@dataclass(frozen=True)
class NextPause:
    """The pause before the next session: dated from a plan, or generic (first/last None)."""

    label: str
    session_date: dt.date | None
    first_day: dt.date | None
    last_day: dt.date | None
    days_before: int
    items: tuple[str, ...]


@dataclass(frozen=True)
class SessionChecklist:
    label: str
    session_date: dt.date
    groups: tuple[DayGroup, ...]
    next_pause: NextPause


def day_groups(protocol: TreatmentProtocol, session: dt.date) -> tuple[DayGroup, ...]:
    out = []
    for g in protocol.checklist:
        end = g.last_day if g.last_day is not None else g.first_day
        avoid: list[str] = []
        if g.last_day is not None:
            for spec in protocol.aftercare:
                if spec.first_day <= g.first_day and spec.last_day >= end:
                    avoid += [i for i in spec.items if i not in avoid]
        out.append(
            DayGroup(
                first_day=g.first_day,
                last_day=g.last_day,
                first_date=session + dt.timedelta(days=g.first_day),
                last_date=session + dt.timedelta(days=g.last_day) if g.last_day is not None else None,
                do=g.do,
                avoid=tuple(avoid),
            )
        )
    return tuple(out)


def session_checklist(
    protocol: TreatmentProtocol, session: dt.date, uses_retinoids: bool | None = None, label: str = "Your session"
) -> SessionChecklist:
    """One session's checklist when the next session is not known (a generic pause reminder)."""
    pause = NextPause(
        label="your next session",
        session_date=None,
        first_day=None,
        last_day=None,
        days_before=protocol.pause_days_before,
        items=pause_items(protocol, uses_retinoids),
    )
    return SessionChecklist(label, session, day_groups(protocol, session), pause)


def _pause(label: str, date: dt.date, w: Window, days_before: int) -> NextPause:
    return NextPause(label, date, w.first_day, w.last_day, days_before, w.items)


def plan_checklists(protocol: TreatmentProtocol, plan: Plan) -> tuple[SessionChecklist, ...]:
    """A checklist for every session and booster of a plan, each with the dated pause before the next one."""
    entries: list[tuple[str, dt.date, Window]] = []
    for a in plan.appointments:
        pause = a.window("pause")
        assert pause is not None, "every appointment has its pause window"
        entries.append((f"{a.kind.capitalize()} {a.number}", a.date, pause))
    out = []
    for i, (label, day, _) in enumerate(entries):
        if i + 1 < len(entries):
            nlabel, nday, npause = entries[i + 1]
            nxt = _pause(nlabel.lower(), nday, npause, protocol.pause_days_before)
        else:
            nxt = NextPause(
                "any future session",
                None,
                None,
                None,
                protocol.pause_days_before,
                pause_items(protocol, plan.request.uses_retinoids),
            )
        out.append(SessionChecklist(label, day, day_groups(protocol, day), nxt))
    return tuple(out)
