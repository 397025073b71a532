"""`batch --book` into the clinic's slots (config `slots`, `capacity`): each planned row's sessions
in the earliest slot of their day with a free place, in input order, counting what the register
holds and the rows of this run booked before it — the rules of `plan --book` (`course.slotted`).

The workers plan every row at its own time, in parallel; only the parent, inside the booking's
transaction, knows which places are taken. A row planned at places that are the ones `slotted` would
give it is booked as it is (no planning again: the common case). Any other row is placed again here
from its saved plan, like `plan --book`, and its file written again before it is booked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections import Counter
from typing import TYPE_CHECKING, Any

from needlecli.batch.results import RowResult

if TYPE_CHECKING:
    import sqlite3

    from needlecli.batch.context import Context


class Places:
    """The places taken in each slot, by (day, HH:MM): read from the register (inside the booking's
    transaction) a day at a time on first use, then counted up as this run books rows. One per
    transaction: what another process booked between two transactions is read again."""

    def __init__(self, db: sqlite3.Connection, ctx: Context) -> None:
        self.db = db
        self.slots = ctx.config.booking_slots
        self.capacity = ctx.config.capacity
        self.zone = ctx.config.time_zone or "UTC"
        self._days: dict[str, Counter[str]] = {}

    def load(self, days: set[str]) -> None:
        """Read the places of ``days`` not read yet, in one query."""
        wanted = sorted(d for d in days if d not in self._days)
        for n in range(0, len(wanted), 500):
            part = wanted[n : n + 500]
            for d in part:
                self._days[d] = Counter()
            marks = ",".join("?" * len(part))
            for day, start, held in self.db.execute(
                "SELECT day, substr(start, 12, 5), COUNT(*) FROM diary WHERE status = 'booked' AND what != 'review' "
                f"AND start IS NOT NULL AND day IN ({marks}) GROUP BY day, substr(start, 12, 5)",
                part,
            ):
                self._days[str(day)][str(start)] += int(held)

    def held(self, day: str) -> Counter[str]:
        if day not in self._days:
            self.load({day})
        return self._days[day]

    def walls(self, day: str) -> tuple[str, ...]:
        """The clinic's slots as they start on ``day`` (one a DST change skips starts later)."""
        return _walls(day, self.slots, self.zone)

    def others(self, own: Counter[tuple[str, str]]) -> _Others:
        """The places other series hold (read with ``get``, as `course.slotted` reads them): this
        run's rows booked so far included, the days read as they are asked for."""
        return _Others(self, own)

    def own(self, series: int | None) -> Counter[tuple[str, str]]:
        """The places ``series`` holds now (a booking over it gives them back)."""
        if series is None:
            return Counter()
        return Counter(
            (str(day), str(start))
            for day, start in self.db.execute(
                "SELECT day, substr(start, 12, 5) FROM diary WHERE series = ? AND status = 'booked' "
                "AND what != 'review' AND start IS NOT NULL",
                (series,),
            )
        )

    def as_planned(self, r: RowResult, own: Counter[tuple[str, str]]) -> bool:
        """Are the row's sessions each in the place `slotted` would give it (the one its time asked for,
        with a free place; else the earliest slot of its day with one)?"""
        mine: Counter[tuple[str, str]] = Counter()
        capacity = self.capacity
        for item in timed(r):
            day, at = item.day, item.start[11:16]
            held = self.held(day)

            def free(wall: str, day: str = day, held: Counter[str] = held) -> bool:
                return held[wall] - own[(day, wall)] + mine[(day, wall)] < capacity

            walls = self.walls(day)
            if r.slot_asked:
                if at not in walls or not free(at):
                    return False
            elif next((w for w in walls if free(w)), None) != at:  # the earliest with a place
                return False
            mine[(day, at)] += 1
        return True

    def take(self, r: RowResult, own: Counter[tuple[str, str]]) -> None:
        """Count the row's sessions as booked (once its booking is in the transaction), and give back
        ``own``, the places its series held before."""
        for (day, at), n in own.items():
            if day in self._days:
                self._days[day][at] -= n
        for item in timed(r):
            self.held(item.day)[item.start[11:16]] += 1


@functools.lru_cache(maxsize=8192)
def _walls(day: str, slots: tuple[dt.time, ...], zone: str) -> tuple[str, ...]:
    """The slots' real starts on ``day`` (kept for the run: they depend on the day and the zone only,
    never on the register; 40 slots for each of a year's days cost a second when computed per
    transaction)."""
    from needlecli.scheduling import wall_time

    date = dt.date.fromisoformat(day)
    return tuple(f"{wall_time(date, t, zone):%H:%M}" for t in slots)


class _Others:
    def __init__(self, places: Places, own: Counter[tuple[str, str]]) -> None:
        self.places, self.own = places, own

    def get(self, place: tuple[str, str], default: int, /) -> int:
        day, at = place
        return self.places.held(day)[at] - self.own[place] or default


def timed(r: RowResult) -> list[Any]:
    """The row's booked sessions and boosters with a start time (the diary rows that take a place)."""
    return [i for i in r.diary if i.start is not None and i.status == "booked" and i.what != "review"]


def placed(
    ctx: Context, db: sqlite3.Connection, places: Places, r: RowResult
) -> tuple[RowResult, Counter[tuple[str, str]]]:
    """The row in the clinic's slots, and the places its series held before (for `Places.take`): as
    planned when its places are the ones it would get, else placed again from its saved plan
    (`course.slotted`: a full day is a closed day for that session) and its file written again. A row
    that cannot be placed raises SchedulingError naming the session; one whose file cannot be
    written, NeedleError."""
    if not places.slots or not timed(r):
        return r, Counter()
    from needlecli.register.events import series_id

    series = series_id(db, r.patient_id, r.indication)
    own = places.own(series)
    if places.as_planned(r, own):
        return r, own
    return _again(ctx, r, places.others(own)), own


def _again(ctx: Context, r: RowResult, held: _Others) -> RowResult:
    from needlecli import course, export, planning, revisions
    from needlecli.batch.folder import write_file
    from needlecli.batch.history import events_of, history_text
    from needlecli.batch.history import pack as pack_history
    from needlecli.config import export_options
    from needlecli.plans import read_plan_text
    from needlecli.register.codec import pack, unpack
    from needlecli.register.diary import items_of

    source = f"row {r.row}"
    saved = read_plan_text(unpack(r.booking), source)
    protocol = ctx.protocol(r.indication)
    notes: list[str] = []
    cfg = ctx.config
    moved = course.slotted(saved, held, cfg.booking_slots, cfg.capacity, asked=r.slot_asked,
                           protocol=protocol, notes=notes)  # fmt: skip
    for label, at in moved.request.slot_times:
        notes.append(f"session {label}: booked at {at:%H:%M}, the earliest free slot that day")
    plan = planning.saved_plan(protocol, moved, [], ctx.on, source, [], ctx.screening)
    options = export_options(cfg, export.EXPORTERS[ctx.fmt].batch_document, name=r.shown or None, protocol=protocol)
    data = ctx.render(plan, options)
    text = export.render("toml", plan, export_options(cfg, "plan", protocol=protocol)).decode("utf-8")
    write_file(ctx.out_dir / r.name, data)
    made = revisions.History.of_plan(plan)
    times = {a.key: (a.start, a.end) for a in plan.appointments if a.start and a.end}
    history = history_text(ctx, made, times)
    return dataclasses.replace(
        r,
        first_session=plan.sessions[0].date.isoformat(),
        last_session=plan.sessions[-1].date.isoformat(),
        digest=hashlib.sha256(data).hexdigest(),
        notes=r.notes + tuple(n for n in notes if n not in r.notes),
        history="" if r.packed else history,
        packed=pack_history(history) if r.packed else b"",
        clinic=events_of(ctx, r.patient_id, made, times) if ctx.clinic_calendar else b"",
        booking=pack(text),
        diary=tuple(items_of(plan, protocol.review_months)),
    )
