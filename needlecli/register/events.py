"""What the register holds, written and read: screenings (and, later, re-checks), booked revisions
of a patient's series, and a patient's history. Each write is one transaction with its journal
entry; rows hold the documents needle already writes (a screening record, a saved plan, as TOML),
so what comes back out is read by the same checked readers as a file.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

from needlecli.errors import RegisterBusy, RegisterError
from needlecli.register import diary, journal
from needlecli.register.diary import Item
from needlecli.register.journal import Entry
from needlecli.register.store import Register


class BookedMeanwhile(RegisterBusy):
    """Another command booked the same series between this one's reading and its writing (exit 75)."""


def booked_meanwhile(where: str, patient: str, indication: str) -> BookedMeanwhile:
    return BookedMeanwhile(
        f"{where}: {patient}'s {indication} series was booked again by another command while this one "
        "planned; run it again"
    )


class Screening(NamedTuple):
    entry: int
    kind: str
    evaluated_on: str
    verdict: str
    record: str


class Booking(NamedTuple):
    entry: int
    indication: str
    revision: int
    booked_on: str
    plan: str
    #: The name it was booked with (`plan --book --name`, `batch --book --include-name`), else None.
    name: str | None = None


def add_screening(
    register: Register,
    *,
    key: str,
    patient: str,
    record: dict[str, Any],
    record_text: str,
    at: dt.datetime,
    kind: str = "screened",
) -> Entry:
    """Keep a screening (the record `screen --out` writes, as TOML) under ``patient``."""
    with register.writing() as db:
        return insert_screening(
            db,
            key=key,
            patient=patient,
            evaluated_on=str(record["evaluated_on"]),
            verdict=str(record["verdict"]),
            protocol=str(record.get("protocol", {}).get("sha256", "")),
            blob=journal.pack(record_text),
            at=at,
            kind=kind,
        )


def insert_screening(
    db: sqlite3.Connection,
    *,
    key: str,
    patient: str,
    evaluated_on: str,
    verdict: str,
    protocol: str,
    blob: bytes,
    at: dt.datetime,
    kind: str = "screened",
) -> Entry:
    """A screening row and its journal entry, inside the caller's transaction (the row first, so its id
    is in what the entry hashes)."""
    last = journal.head(db)
    seq = last[0] + 1
    made = db.execute(
        "INSERT INTO screenings (entry, patient, kind, evaluated_on, verdict, record) VALUES (?, ?, ?, ?, ?, ?)",
        (seq, patient, kind, evaluated_on, verdict, blob),
    )
    content = journal.screening_content(int(made.lastrowid or 0), patient, kind, evaluated_on, verdict, blob)
    entry = journal.append(
        db, event=kind, patient=patient, key=key, protocol=protocol, content=content, at=at, after=last
    )
    assert entry.seq == seq
    return entry


def latest_screening(register: Register | None, patient: str) -> Screening | None:
    """The patient's latest screening or re-check (by journal order)."""
    if register is None:
        return None
    rows = register.read(
        "SELECT entry, kind, evaluated_on, verdict, record, id FROM screenings WHERE patient = ? "
        "ORDER BY entry DESC LIMIT 1",
        (patient,),
    )
    if not rows:
        return None
    entry, kind, evaluated_on, verdict, blob, row = rows[0]
    content = journal.screening_content(row, patient, str(kind), str(evaluated_on), str(verdict), blob)  # type: ignore[arg-type]
    journal.check_row(register, int(entry), str(kind), content)  # type: ignore[call-overload]
    return Screening(int(entry), str(kind), str(evaluated_on), str(verdict), _text(register, blob, entry))  # type: ignore[call-overload]


def latest_booking(register: Register | None, patient: str, indication: str | None = None) -> Booking | None:
    """The patient's active series (for ``indication``, else the one booked last): its latest revision."""
    if register is None:
        return None
    sql = (
        "SELECT b.entry, s.indication, b.revision, b.booked_on, b.plan, b.id, b.series, b.diary, b.name "
        "FROM bookings b JOIN series s ON s.id = b.series "
        "WHERE s.patient = ?" + (" AND s.indication = ?" if indication else "") + " ORDER BY b.entry DESC LIMIT 1"
    )
    rows = register.read(sql, (patient, indication) if indication else (patient,))
    if not rows:
        return None
    entry, found, revision, booked_on, blob, row, series, kept, name = rows[0]
    content = journal.booking_content(row, series, patient, str(found), int(revision), str(booked_on), blob, kept, name)  # type: ignore[arg-type, call-overload]
    journal.check_row(register, int(entry), "booked", content)  # type: ignore[call-overload]
    text = _text(register, blob, entry)
    return Booking(int(entry), str(found), int(revision), str(booked_on), text, None if name is None else str(name))  # type: ignore[call-overload]


def names(register: Register, patients: Iterable[str]) -> dict[str, str]:
    """The name each patient was last booked with (a booking keeps one only when it was given one:
    `plan --book --name`, `batch --book --include-name`); patients never named are left out. Each
    booking's row is the one its journal entry vouches for (`register verify` checks them all)."""
    wanted = sorted(set(patients))
    out: dict[str, str] = {}
    for n in range(0, len(wanted), 500):
        part = wanted[n : n + 500]
        for patient, name in register.read(
            "SELECT s.patient, b.name FROM bookings b JOIN series s ON s.id = b.series "
            f"WHERE b.name IS NOT NULL AND s.patient IN ({','.join('?' * len(part))}) ORDER BY b.entry",
            tuple(part),
        ):
            out[str(patient)] = str(name)
    return out


def indications_of(register: Register | None, patient: str) -> list[str]:
    if register is None:
        return []
    return [str(r[0]) for r in register.read("SELECT indication FROM series WHERE patient = ? ORDER BY id", (patient,))]


def book(
    register: Register,
    *,
    key: str,
    patient: str,
    indication: str,
    booked_on: dt.date,
    plan_text: str,
    revision_of: int | None,
    protocol: str,
    at: dt.datetime,
    items: list[Item] | None = None,
    plan_id: str = "",
) -> tuple[Entry, int]:
    """Keep a booked revision of the patient's series for ``indication``: revision 1 for a new series,
    else one above the latest. ``revision_of`` is the revision the plan was rebuilt over (None for a
    new series): when another command booked in between, this one is refused, never lost.
    Returns the journal entry and the series revision."""
    with register.writing() as db:
        return insert_booking(
            db,
            key=key,
            patient=patient,
            indication=indication,
            booked_on=booked_on.isoformat(),
            blob=journal.pack(plan_text),
            revision_of=revision_of or 0,
            protocol=protocol,
            at=at,
            where=f"register {register.path}",
            items=items,
            plan_id=plan_id,
        )


def series_id(db: sqlite3.Connection, patient: str, indication: str) -> int | None:
    """The id of the patient's series for ``indication``, None when there is none."""
    row = db.execute("SELECT id FROM series WHERE patient = ? AND indication = ?", (patient, indication)).fetchone()
    return int(row[0]) if row is not None else None


def latest_revision(db: sqlite3.Connection, patient: str, indication: str) -> tuple[int | None, int]:
    """The id of the patient's series for ``indication`` (None when there is none) and its latest
    booked revision (0: none)."""
    found = series_id(db, patient, indication)
    if found is None:
        return None, 0
    top = db.execute("SELECT COALESCE(MAX(revision), 0) FROM bookings WHERE series = ?", (found,))
    return found, int(top.fetchone()[0])


def insert_booking(
    db: sqlite3.Connection,
    *,
    key: str,
    patient: str,
    indication: str,
    booked_on: str,
    blob: bytes,
    revision_of: int,
    protocol: str,
    at: dt.datetime,
    where: str,
    items: list[Item] | None = None,
    plan_id: str = "",
    name: str | None = None,
) -> tuple[Entry, int]:
    """A booked revision and its journal entry, inside the caller's transaction (see `book`); with
    ``items``, the series' diary rows become those (their digest kept with the booking); with
    ``name``, the patient's name (`names`)."""
    found, latest = latest_revision(db, patient, indication)
    if revision_of != latest:
        raise booked_meanwhile(where, patient, indication)
    if found is None:
        made = db.execute("INSERT INTO series (patient, indication) VALUES (?, ?)", (patient, indication))
        series = int(made.lastrowid or 0)
    else:
        series = found
    revision = latest + 1
    last = journal.head(db)
    seq = last[0] + 1
    kept = diary.digest(plan_id, items) if items is not None else None
    made = db.execute(
        "INSERT INTO bookings (entry, series, revision, booked_on, plan, diary, name) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq, series, revision, booked_on, blob, kept, name),
    )
    row = int(made.lastrowid or 0)
    if items is not None:
        diary.replace(db, series, row, plan_id, items)
    else:
        db.execute("DELETE FROM diary WHERE series = ?", (series,))  # never rows of an older revision
    content = journal.booking_content(row, series, patient, indication, revision, booked_on, blob, kept, name)
    entry = journal.append(
        db, event="booked", patient=patient, key=key, protocol=protocol, content=content, at=at, where=where, after=last
    )
    assert entry.seq == seq
    return entry, revision


def insert_outcome(
    db: sqlite3.Connection,
    *,
    key: str,
    patient: str,
    indication: str,
    kind: str,
    session: str,
    on_date: str,
    detail: dict[str, Any],
    protocol: str,
    at: dt.datetime,
) -> Entry:
    """An outcome of the patient's series for ``indication`` (``done``, ``missed`` or ``cancelled``)
    and its journal entry, inside the caller's transaction."""
    found = series_id(db, patient, indication)
    if found is None:
        raise RegisterError(f"{patient} has no {indication} series")
    series = found
    blob = journal.pack(journal.canonical(detail).decode("utf-8"))
    last = journal.head(db)
    seq = last[0] + 1
    made = db.execute(
        "INSERT INTO outcomes (entry, series, kind, session, on_date, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (seq, series, kind, session, on_date, blob),
    )
    content = journal.outcome_content(
        int(made.lastrowid or 0), series, patient, indication, kind, session, on_date, blob
    )
    entry = journal.append(
        db, event=kind, patient=patient, key=key, protocol=protocol, content=content, at=at, after=last
    )
    assert entry.seq == seq
    return entry


def screened_on(register: Register | None, patient: str, day: str) -> bool:
    """Is a screening or re-check of ``patient`` registered that was evaluated on ``day``?"""
    if register is None:
        return False
    rows = register.read("SELECT 1 FROM screenings WHERE patient = ? AND evaluated_on = ? LIMIT 1", (patient, day))
    return bool(rows)


def history(register: Register | None, patient: str) -> list[dict[str, Any]]:
    """Every screening and booked revision of ``patient``, oldest first, as plain data: ``event``
    (screened, rechecked, booked), ``date``, ``entry`` and what each holds."""
    if register is None:
        return []
    out: list[dict[str, Any]] = []
    for entry, at, kind, evaluated_on, verdict, blob in register.read(
        "SELECT s.entry, j.at, s.kind, s.evaluated_on, s.verdict, s.record FROM screenings s "
        "JOIN journal j ON j.seq = s.entry WHERE s.patient = ?",
        (patient,),
    ):
        record = _text(register, blob, entry)
        out.append(
            {"event": kind, "date": evaluated_on, "at": at, "entry": entry, "verdict": verdict, "record": record}
        )
    for entry, at, indication, revision, booked_on, blob in register.read(
        "SELECT b.entry, j.at, s.indication, b.revision, b.booked_on, b.plan FROM bookings b "
        "JOIN series s ON s.id = b.series JOIN journal j ON j.seq = b.entry WHERE s.patient = ?",
        (patient,),
    ):
        plan = _text(register, blob, entry)
        out.append({"event": "booked", "date": booked_on, "at": at, "entry": entry,
                    "indication": indication, "revision": revision, "plan": plan})  # fmt: skip
    for entry, at, indication, kind, session, on_date, blob in register.read(
        "SELECT o.entry, j.at, s.indication, o.kind, o.session, o.on_date, o.detail FROM outcomes o "
        "JOIN series s ON s.id = o.series JOIN journal j ON j.seq = o.entry WHERE s.patient = ?",
        (patient,),
    ):
        import json

        detail = json.loads(_text(register, blob, entry))
        out.append({"event": kind, "date": on_date, "at": at, "entry": entry, "indication": indication,
                    "session": session, "detail": detail})  # fmt: skip
    return sorted(out, key=lambda e: int(e["entry"]))


def _text(register: Register, blob: object, entry: object) -> str:
    from needlecli.errors import RegisterError

    try:
        return journal.unpack(blob)
    except (ValueError, UnicodeDecodeError):
        raise RegisterError(
            f"register {register.path}: entry {entry}: its stored document is damaged (run `needle register verify`)"
        ) from None
