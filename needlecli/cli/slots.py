"""Booking into the clinic's slots (config `slots`, `capacity`): shared by `plan --book` and the
series' re-flows (`check`, `done`, `missed`). Always called inside the booking's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from needlecli import export
from needlecli.errors import SchedulingError, UsageError

if TYPE_CHECKING:
    import datetime as dt
    import sqlite3

    from needlecli.config import Config
    from needlecli.model import ExportOptions, Plan, TreatmentProtocol


def into_slots(
    cfg: Config,
    db: sqlite3.Connection,
    plan: Plan,
    options: ExportOptions,
    day: dt.date,
    notes: list[str],
    asked: bool,
    protocol: TreatmentProtocol | None = None,
) -> tuple[Plan, str]:
    """The plan with each session in a slot of its day with a free place (config `slots`, default
    `session_time`; `capacity`), counting what the register holds; and its saved text."""
    from needlecli import course
    from needlecli.cli.common import plan_of_saved
    from needlecli.plans import read_plan_text
    from needlecli.register.diary import taken
    from needlecli.scheduling import FIRST_SESSION_HORIZON_DAYS

    text = export.render("toml", plan, options).decode("utf-8")
    slots = cfg.booking_slots
    if plan.request.time is None or not slots:
        return plan, text
    saved = read_plan_text(text, "the plan being booked")
    import datetime as dt

    from needlecli.register.events import series_id

    first = min(a.date for a in plan.appointments)
    last = max(a.date for a in plan.appointments) + dt.timedelta(days=FIRST_SESSION_HORIZON_DAYS * 2)
    series = series_id(db, plan.request.patient or "", plan.request.indication)
    held = taken(db, first.isoformat(), last.isoformat(), series)
    try:
        placed = course.slotted(saved, held, slots, cfg.capacity, asked=asked,
                                protocol=protocol, notes=notes)  # fmt: skip
    except SchedulingError as exc:
        raise UsageError(str(exc)) from None
    if placed == saved:
        return plan, text
    for label, at in placed.request.slot_times:
        notes.append(f"session {label}: booked at {at:%H:%M}, the earliest free slot that day")
    moved, _ = plan_of_saved(placed, "the plan being booked", [], day, [])
    return moved, export.render("toml", moved, options).decode("utf-8")
