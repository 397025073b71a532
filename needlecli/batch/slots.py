"""`batch --book` into the clinic's slots (config `slots`, `capacity`): each planned row's sessions
in the earliest slot of their day with a free place, in input order, counting what the register
holds and the rows of this run booked before it — the rules of `plan --book` (`course.slotted`).

The workers plan every row at its own time, in parallel; only the parent, inside the booking's
transaction, knows which places are taken. A row planned at places that are the ones `slotted` would
give it is booked as it is (no planning again: the common case). Any other row is placed again here
from its saved plan, like `plan --book`, and its file written again (by the writer threads, all of a
transaction's at once) before it is booked. Rows placed alike but for the patient are planned and
rendered once (see `_rendered`).
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
        """Count the row's sessions as booked, and give back ``own``, the places its series held
        before (the rows after it may take them: its booking must then be made, see `engine._book`).
        The transaction's bookings are inserted after every row is placed, so every day this counts
        still holds what the register held when the transaction began."""
        for (day, at), n in own.items():
            self.held(day)[at] -= n  # read first: a day read later would still count them
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
    ctx: Context, db: sqlite3.Connection, places: Places, r: RowResult, where: str
) -> tuple[RowResult, bytes | None, Counter[tuple[str, str]]]:
    """The row in the clinic's slots, its file again when that changed (None when the worker's file
    stands), and the places its series held before (for `Places.take`): as planned when its places
    are the ones it would get, else placed again from its saved plan (`course.slotted`: a full day is
    a closed day for that session). A row that cannot be placed raises SchedulingError naming the
    session; one whose series another command booked since the worker read it, BookedMeanwhile."""
    if not places.slots or not timed(r):
        return r, None, Counter()
    from needlecli.register.events import booked_meanwhile, latest_revision

    series, latest = latest_revision(db, r.patient_id, r.indication)
    if latest != r.booked_over:  # the places its series holds are another booking's: never given back
        raise booked_meanwhile(where, r.patient_id, r.indication)
    own = places.own(series)
    if r.renamed or places.as_planned(r, own):  # a new name only: the places it holds, whatever the slots now
        return r, None, own
    again, data = _again(ctx, r, places.others(own))
    return again, data, own


#: Series placed again that the parent keeps (with their files as templates) for the next patient placed
#: alike; saved plans read that it keeps for the next patient with the same.
KEEP = 256


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if KEEP > 0:
        if len(cache) >= KEEP:
            cache.clear()
        cache[key] = value


def _saved_of(ctx: Context, r: RowResult) -> Any:
    """The row's saved plan (what its worker booked it as), read once for all the patients whose
    plans differ in the patient and plan id only (`plans.retext` cuts those two lines out of the text;
    `read_plan_text` reads everything else alike)."""
    from needlecli.plans import read_plan_text, retext
    from needlecli.register.codec import unpack

    text = unpack(r.booking)
    key = retext(text, r.patient_id, r.plan_id, "-", "-")
    kept = ctx.saved_plans.get(key) if key is not None else None
    if kept is not None:
        return dataclasses.replace(
            kept, plan_id=r.plan_id, request=dataclasses.replace(kept.request, patient=r.patient_id)
        )
    saved = read_plan_text(text, f"row {r.row}")
    if key is not None:
        _keep(ctx.saved_plans, key, saved)
    return saved


def _rendered(ctx: Context, r: RowResult, moved: Any) -> tuple[Any, bytes, str]:
    """The plan ``moved`` (a saved plan placed again), its file and its saved plan text. Computed once
    for all the rows placed alike but for the patient: a new series (its plan id the one its request
    gives) is the same plan for another patient (`planning.for_patient`), its file the same template."""
    from needlecli import export, planning
    from needlecli.config import export_options
    from needlecli.identity import plan_id_for
    from needlecli.plans import retext

    cfg = ctx.config
    uid_key = cfg.uid_key or ""
    key: bytes | None = None
    if export.EXPORTERS[ctx.fmt].patients != "" and moved.plan_id == plan_id_for(moved.request, key=uid_key):
        import pickle

        anyone = dataclasses.replace(moved, plan_id="", request=dataclasses.replace(moved.request, patient=""))
        try:
            key = pickle.dumps((r.indication, r.shown, anyone), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # not kept: only planned again
            key = None
    kept = ctx.placed.get(key) if key is not None else None
    if kept is not None:
        first, template, first_text = kept
        plan = planning.for_patient(first, r.patient_id, uid_key)
        text = retext(first_text, first.request.patient, first.plan_id, r.patient_id, plan.plan_id)
        if text is not None:
            return plan, template.with_plan_id(plan.plan_id), text
    protocol = ctx.protocol(r.indication)
    plan = planning.saved_plan(protocol, moved, [], ctx.on, f"row {r.row}", [], ctx.screening)
    options = export_options(cfg, export.EXPORTERS[ctx.fmt].batch_document, name=r.shown or None, protocol=protocol)
    data = ctx.render(plan, options)
    text = export.render("toml", plan, export_options(cfg, "plan", protocol=protocol)).decode("utf-8")
    if key is not None:
        made = ctx.template_of(plan, data)
        if made is not None:
            _keep(ctx.placed, key, (plan, made, text))
    return plan, data, text


def _again(ctx: Context, r: RowResult, held: _Others) -> tuple[RowResult, bytes]:
    from needlecli import course, revisions
    from needlecli.batch.history import events_of, history_text
    from needlecli.batch.history import pack as pack_history
    from needlecli.register.codec import pack
    from needlecli.register.diary import items_of

    saved = _saved_of(ctx, r)
    protocol = ctx.protocol(r.indication)
    notes: list[str] = []
    cfg = ctx.config
    moved = course.slotted(saved, held, cfg.booking_slots, cfg.capacity, asked=r.slot_asked,
                           protocol=protocol, notes=notes)  # fmt: skip
    for label, at in moved.request.slot_times:
        notes.append(f"session {label}: booked at {at:%H:%M}, the earliest free slot that day")
    plan, data, text = _rendered(ctx, r, moved)
    made = revisions.History.of_plan(plan)
    times = {a.key: (a.start, a.end) for a in plan.appointments if a.start and a.end}
    history = history_text(ctx, made, times)
    again = dataclasses.replace(
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
    return again, data
