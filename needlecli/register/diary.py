"""The clinic's diary: every item of each series' latest revision as a row (a session, a booster, the
outcome review), indexed by day, so `needle due` (and a slot's places) never parse a plan.

The rows are derived from the booked plan and written with its booking, in the same transaction;
the booking's journal entry hashes their digest, and `register verify` checks that each series' rows
are exactly the ones its latest booking wrote.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from needlecli.dates import add_months
from needlecli.model import Plan


class Item(NamedTuple):
    key: str
    what: str  # session, booster or review
    label: str  # 2, B1, or "" for the review
    of: int  # how many sessions the series has (boosters: how many boosters)
    day: str
    start: str | None
    status: str  # booked, done or cancelled
    end: str | None = None
    revision: int = 0  # the calendar's SEQUENCE for it


def items_of(plan: Plan, review_months: int) -> list[Item]:
    """The diary rows of a plan: its sessions, boosters and the outcome review (``review_months``
    after its last session or booster; cancelled with the series)."""
    out: list[Item] = []
    for a in plan.appointments:
        of = len(plan.sessions) if a.kind == "session" else len(plan.boosters)
        start = a.start.isoformat() if a.start is not None else None
        end = a.end.isoformat() if a.end is not None else None
        out.append(Item(a.key, a.kind, a.label, of, a.date.isoformat(), start, a.status, end, a.revision))
    last = max(a.date for a in plan.appointments)
    halted = bool(plan.request.course and plan.request.course.halted)
    review = add_months(last, review_months).isoformat()
    out.append(Item("review", "review", "", len(plan.sessions), review, None, "cancelled" if halted else "booked"))
    return out


def items_of_document(doc: Mapping[str, Any], review_months: int = 3) -> list[Item]:
    """The same rows from a saved plan document (a register written before the diary existed)."""
    out: list[Item] = []
    halted = bool(doc.get("request", {}).get("course", {}).get("halted"))
    days: list[dt.date] = []
    for kind, table in (("session", "sessions"), ("booster", "boosters")):
        rows = doc.get(table, [])
        for row in rows:
            day = row["date"]
            days.append(day)
            start, end = row.get("start"), row.get("end")
            label = str(row["number"]) if kind == "session" else f"B{row['number']}"
            status = row.get("status", "booked")
            out.append(Item(row["id"], kind, label, len(rows), day.isoformat(), start.isoformat() if start else None,
                            status, end.isoformat() if end else None, int(row.get("revision", 0))))  # fmt: skip
    if days:
        sessions = len(doc.get("sessions", []))
        review = add_months(max(days), review_months).isoformat()
        out.append(Item("review", "review", "", sessions, review, None, "cancelled" if halted else "booked"))
    return out


def digest(plan_id: str, items: Iterable[Item]) -> str:
    from needlecli.register.codec import canonical, sha256

    return sha256(canonical([plan_id, sorted([list(i) for i in items])]))


def replace(db: sqlite3.Connection, series: int, booking: int, plan_id: str, items: list[Item]) -> None:
    """The series' rows become ``items`` (its latest booking's), inside the caller's transaction."""
    db.execute("DELETE FROM diary WHERE series = ?", (series,))
    db.executemany(
        "INSERT INTO diary (series, booking, plan_id, key, what, label, of, day, start, status, end_at, revision) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(series, booking, plan_id, *i) for i in items],
    )


def mismatches(db: sqlite3.Connection) -> Iterator[str]:
    """Each series whose diary rows are not exactly those its latest booking wrote (by the digest the
    booking keeps): a row edited, added or removed outside needle."""
    latest = db.execute(
        "SELECT b.series, b.id, b.diary, b.plan FROM bookings b "
        "WHERE b.revision = (SELECT MAX(revision) FROM bookings WHERE series = b.series) ORDER BY b.series"
    )
    rows = db.execute(
        "SELECT series, booking, plan_id, key, what, label, of, day, start, status, end_at, revision FROM diary "
        "ORDER BY series, key"
    )
    pending = next(rows, None)
    for series, booking, kept, blob in latest:
        found: list[Item] = []
        plan_ids = set()
        while pending is not None and pending[0] <= series:
            if pending[0] < series or pending[1] != booking:
                yield f"series {pending[0]}: a diary row that no latest booking wrote"
            else:
                plan_ids.add(pending[2])
                found.append(Item(*pending[3:]))
            pending = next(rows, None)
        one = next(iter(plan_ids)) if len(plan_ids) == 1 else None
        if kept is None and found:  # filled on upgrade (no digest kept): the rows its booked plan gives
            kept = _derived(blob)
        if kept is not None and (one is None or digest(one, found) != kept):
            yield f"series {series}: its diary rows were changed after they were written"
    if pending is not None:
        yield f"series {pending[0]}: a diary row of no booked series"


class Due(NamedTuple):
    """One line of `needle due`."""

    patient: str
    indication: str
    what: str
    number: int | None
    of: int
    date: str
    start: str | None
    status: str  # booked or overdue
    check: str | None  # needed or done (sessions and boosters)
    plan_id: str
    key: str
    end: str | None
    revision: int


def due(db: sqlite3.Connection, on: dt.date, days: int, patient: str | None = None) -> list[Due]:
    """Every item not recorded, of each series' latest revision, up to ``on`` + ``days`` (those before
    ``on`` overdue), by date and time; each session's check: done when a screening or re-check of the
    patient is registered on its day. One query over the day index."""
    end = (on + dt.timedelta(days=days)).isoformat()
    sql = (
        "SELECT s.patient, s.indication, d.what, d.label, d.of, d.day, d.start, d.plan_id, d.key, d.end_at, "
        "d.revision, "
        "EXISTS (SELECT 1 FROM screenings c WHERE c.patient = s.patient AND c.evaluated_on = d.day) "
        "FROM diary d JOIN series s ON s.id = d.series "
        # Sessions and boosters overdue since whenever (never recorded); a review in the window only.
        "WHERE d.day < ? AND d.status = 'booked' AND (d.what != 'review' OR d.day >= ?)"
        + (" AND s.patient = ?" if patient else "")
        + " "
        "ORDER BY d.day, d.start IS NOT NULL, d.start, s.patient, s.indication, d.what"
    )
    out = []
    today = on.isoformat()
    for who, indication, what, label, of, day, start, plan_id, key, end_at, revision, checked in db.execute(
        sql, (end, on.isoformat(), patient) if patient else (end, on.isoformat())
    ):
        number = int(label.lstrip("B")) if label else None
        check = None if what == "review" else ("done" if checked else "needed")
        status = "overdue" if day < today else "booked"
        out.append(Due(who, indication, what, number, of, day, start, status, check, plan_id, key, end_at, revision))
    return out


def _derived(blob: object) -> str | None:
    """The digest of the rows a stored plan gives (its journal entry vouches for the plan)."""
    import tomllib

    from needlecli.register.codec import unpack

    try:
        doc = tomllib.loads(unpack(blob))
        return digest(str(doc["plan_id"]), items_of_document(doc))
    except (ValueError, KeyError, TypeError, tomllib.TOMLDecodeError):
        return "unreadable"


def taken(db: sqlite3.Connection, first: str, last: str, series: int | None) -> dict[tuple[str, str], int]:
    """How many places each (day, HH:MM) slot from ``first`` to ``last`` holds, booked by other
    series than ``series`` (read inside the booking's own transaction: two terminals never both take
    the last place; the range covers the days a full day may move a session to)."""
    out: dict[tuple[str, str], int] = {}
    for day, start in db.execute(
        "SELECT day, start FROM diary WHERE status = 'booked' AND what != 'review' AND start IS NOT NULL "
        "AND day >= ? AND day <= ? AND series IS NOT ?",
        (first, last, series),
    ):
        key = (str(day), str(start)[11:16])  # the local wall time of an ISO datetime with its offset
        out[key] = out.get(key, 0) + 1
    return out
