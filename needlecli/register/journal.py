"""The register's journal: one entry per write, in the same transaction, hash-chained.

An entry holds its sequence number, the UTC time, the event, the patient as a keyed hash (the
``uid_key``), the needle version, the protocol's hash, the SHA-256 of the canonical JSON of what
was stored, the previous entry's hash and its own (SHA-256 over all of these, as canonical JSON).
Triggers refuse UPDATE and DELETE on the table.

`verify` recomputes the chain *and* checks every register row against the entry that wrote it,
so an edited screening, plan or outcome is found, not only an edited journal. Removing the newest
entries together with their rows cannot be seen from inside one file: ``head`` (a hash printed
earlier) must still be in the journal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from needlecli import __version__
from needlecli.errors import RegisterTampered
from needlecli.register.codec import canonical as canonical
from needlecli.register.codec import pack as pack
from needlecli.register.codec import sha256 as sha256
from needlecli.register.codec import unpack as unpack
from needlecli.register.store import Register

GENESIS = "0" * 64
EVENTS = ("screened", "rechecked", "booked", "done", "missed", "cancelled")


class Entry(NamedTuple):
    seq: int
    at: str
    event: str
    patient: str
    version: str
    protocol: str
    content: str
    prev: str
    hash: str


def patient_hash(key: str, patient: str) -> str:
    """The patient as the journal holds them: HMAC-SHA256 with the calendar id key."""
    return hmac.new(key.encode("utf-8"), patient.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def entry_hash(
    seq: int, at: str, event: str, patient: str, version: str, protocol: str, content: str, prev: str
) -> str:
    return sha256(canonical([seq, at, event, patient, version, protocol, content, prev]))


def key_mark(key: str) -> str:
    """What the register keeps of the uid_key its patient hashes are made with (never the key)."""
    return patient_hash(key, "needle register key")


def head(db: sqlite3.Connection) -> tuple[int, str]:
    row = db.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def append(
    db: sqlite3.Connection,
    *,
    event: str,
    patient: str,
    key: str,
    protocol: str,
    content: Mapping[str, Any],
    at: dt.datetime,
    where: str = "register",
    after: tuple[int, str] | None = None,
) -> Entry:
    """Append one entry (inside the caller's transaction) for ``content``, the row it stores.
    ``after``: the journal's head as the caller already read it (`head`), else it is read here."""
    assert event in EVENTS
    mark = db.execute("SELECT value FROM meta WHERE name = 'key'").fetchone()
    if mark is None:
        db.execute("INSERT INTO meta (name, value) VALUES ('key', ?)", (key_mark(key),))
    elif mark[0] != key_mark(key):
        from needlecli.errors import RegisterError

        raise RegisterError(
            f"{where}: written with another uid_key than the one in use; set that key (uid_key in the config) "
            "to record anything here (patients are kept as hashes made with it)"
        )
    last, prev = after if after is not None else head(db)
    seq = last + 1
    stamp = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    who = patient_hash(key, patient)
    digest = sha256(canonical(content))
    own = entry_hash(seq, stamp, event, who, __version__, protocol, digest, prev)
    entry = Entry(seq, stamp, event, who, __version__, protocol, digest, prev, own)
    db.execute("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", entry)
    return entry


# ----------------------------------------------------------------- what each row stores


def _digest(blob: object) -> str:
    return sha256(blob) if isinstance(blob, bytes) else ""


def screening_content(
    row: int, patient: str, kind: str, evaluated_on: str, verdict: str, record: bytes
) -> dict[str, Any]:
    """What a screenings row stores, as its journal entry hashes it (the record by the SHA-256 of its
    stored bytes: verifying never has to unpack it)."""
    return {
        "table": "screenings",
        "id": row,
        "patient": patient,
        "kind": kind,
        "evaluated_on": evaluated_on,
        "verdict": verdict,
        "record": _digest(record),
    }


def booking_content(
    row: int,
    series: int,
    patient: str,
    indication: str,
    revision: int,
    booked_on: str,
    plan: bytes,
    diary: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """What a bookings row stores (with its series' patient and indication), as its entry hashes it;
    with the digest of its diary rows (bookings made before the diary had none) and the patient's
    name when the booking was given one."""
    extra = ({} if diary is None else {"diary": diary}) | ({} if name is None else {"name": name})
    return extra | {
        "table": "bookings",
        "id": row,
        "series": series,
        "patient": patient,
        "indication": indication,
        "revision": revision,
        "booked_on": booked_on,
        "plan": _digest(plan),
    }


def outcome_content(
    row: int, series: int, patient: str, indication: str, kind: str, session: str, on_date: str, detail: bytes
) -> dict[str, Any]:
    """What an outcomes row stores (a session done or missed, a cancellation), as its entry hashes it."""
    return {
        "table": "outcomes",
        "id": row,
        "series": series,
        "patient": patient,
        "indication": indication,
        "kind": kind,
        "session": session,
        "on_date": on_date,
        "detail": _digest(detail),
    }


#: Every row table: the query that gives (entry, event, patient, content) for each of its rows.
def _screening_rows(db: sqlite3.Connection) -> Iterator[tuple[Any, str, str, dict[str, Any]]]:
    """(entry, event, patient, content) of every screenings row, in entry order."""
    for row, entry, patient, kind, evaluated_on, verdict, record in db.execute(
        "SELECT id, entry, patient, kind, evaluated_on, verdict, record FROM screenings ORDER BY entry"
    ):
        yield entry, kind, patient, screening_content(row, patient, kind, evaluated_on, verdict, record)


def _booking_rows(db: sqlite3.Connection) -> Iterator[tuple[Any, str, str, dict[str, Any]]]:
    """(entry, event, patient, content) of every bookings row (with its series), in entry order."""
    for row, entry, series, patient, indication, revision, booked_on, plan, diary, name in db.execute(
        "SELECT b.id, b.entry, b.series, s.patient, s.indication, b.revision, b.booked_on, b.plan, b.diary, b.name "
        "FROM bookings b LEFT JOIN series s ON s.id = b.series ORDER BY b.entry"
    ):
        content = booking_content(row, series, patient, indication, revision, booked_on, plan, diary, name)
        yield entry, "booked", patient, content


def _outcome_rows(db: sqlite3.Connection) -> Iterator[tuple[Any, str, str, dict[str, Any]]]:
    """(entry, event, patient, content) of every outcomes row (with its series), in entry order."""
    for row, entry, series, patient, indication, kind, session, on_date, detail in db.execute(
        "SELECT o.id, o.entry, o.series, s.patient, s.indication, o.kind, o.session, o.on_date, o.detail "
        "FROM outcomes o LEFT JOIN series s ON s.id = o.series ORDER BY o.entry"
    ):
        content = outcome_content(row, series, patient, indication, kind, session, on_date, detail)
        yield entry, kind, patient, content


# ----------------------------------------------------------------- verifying


def _by_entry(db: sqlite3.Connection) -> Iterator[tuple[Any, str, str, dict[str, Any]]]:
    """Every row of every table, in entry order (a cell edited to a non-number sorts last)."""
    import heapq

    def order(row: tuple[Any, str, str, dict[str, Any]]) -> tuple[bool, int]:
        entry = row[0]
        return (not isinstance(entry, int) or isinstance(entry, bool), entry if isinstance(entry, int) else 0)

    return heapq.merge(_screening_rows(db), _booking_rows(db), _outcome_rows(db), key=order)


def check_row(register: Register, entry: int, event: str, content: Mapping[str, Any]) -> None:
    """A row about to be used (the screening a booking takes, the revision it rebuilds over) checked
    against the entry that wrote it: an edit made outside needle is refused here, not used."""
    row = register.read("SELECT * FROM journal WHERE seq = ?", (entry,))
    where = f"register {register.path}: entry {entry}"
    if not row:
        raise RegisterTampered(f"{where}: not in the journal (run `needle register verify`)")
    e = Entry(*row[0])  # type: ignore[arg-type]
    try:
        want = entry_hash(e.seq, e.at, e.event, e.patient, e.version, e.protocol, e.content, e.prev)
        same = sha256(canonical(content)) == e.content
    except (TypeError, ValueError):  # a value of the wrong kind written into a cell
        want, same = "", False
    if e.hash != want or e.event != event or not same:
        raise RegisterTampered(f"{where}: changed after it was written; not used (run `needle register verify`)")


class Verified(NamedTuple):
    entries: int
    head: str
    #: False when the register was written with another uid_key: its patient hashes were not checked.
    patients_checked: bool = True


TRIGGERS = ("journal_append_only_update", "journal_append_only_delete")


def verify(register: Register, key: str | None, expected_head: str | None = None) -> Verified:
    """Recompute the chain and check every row against its entry; RegisterTampered names the first
    entry (or row) that fails."""
    where = f"register {register.path}"
    db = register.db
    try:
        triggers = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        marks = db.execute("SELECT value FROM meta").fetchall()
        has_entries = db.execute("SELECT 1 FROM journal LIMIT 1").fetchone() is not None
        if has_entries and (len(marks) != 1 or db.execute("SELECT name FROM meta").fetchone()[0] != "key"):
            raise RegisterTampered(f"{where}: its record of the uid_key it was written with was changed")
        mark_ok = key is not None and bool(marks) and marks[0][0] == key_mark(key)
        other_key = key is not None and bool(marks) and not mark_ok
        checked = key is not None
        missing = [t for t in TRIGGERS if t not in triggers]
        if missing:
            raise RegisterTampered(f"{where}: the journal's append-only triggers were removed ({', '.join(missing)})")
        # The rows in entry order beside the journal in seq order: one pass over each, flat memory.
        rows = _by_entry(db)
        pending = next(rows, None)
        prev, count, seen_head = GENESIS, 0, expected_head is None
        for line in db.execute(
            "SELECT seq, at, event, patient, version, protocol, content, prev, hash FROM journal ORDER BY seq"
        ):
            e = Entry(*line)
            count += 1
            if e.seq != count:
                raise RegisterTampered(f"{where}: entry {count} is missing (the next is {e.seq})")
            if e.prev != prev:
                raise RegisterTampered(
                    f"{where}: entry {e.seq}: does not follow entry {e.seq - 1} (the chain is broken)"
                )
            if not all(isinstance(v, str) for v in e[1:]):
                raise RegisterTampered(f"{where}: entry {e.seq}: holds a value of the wrong kind (edited)")
            want = entry_hash(e.seq, e.at, e.event, e.patient, e.version, e.protocol, e.content, e.prev)
            if e.hash != want:
                raise RegisterTampered(f"{where}: entry {e.seq}: its hash does not match what it holds (edited)")
            prev = e.hash
            if not seen_head and e.hash == expected_head:
                seen_head = True
            if pending is not None and isinstance(pending[0], int) and pending[0] < e.seq:
                entry, _, _, content = pending
                if entry >= 1:
                    raise RegisterTampered(f"{where}: entry {entry}: written by more than one row")
                table = content["table"]
                raise RegisterTampered(f"{where}: a {table} row points at entry {entry}, which is not in the journal")
            if pending is None or pending[0] != e.seq:
                raise RegisterTampered(f"{where}: entry {e.seq}: the row it wrote is gone")
            _, event, patient, content = pending
            pending = next(rows, None)
            if not all(isinstance(v, (str, int, type(None))) and not isinstance(v, bool) for v in content.values()):
                raise RegisterTampered(f"{where}: a {content['table']} row holds a value of the wrong kind (edited)")
            if event != e.event:
                raise RegisterTampered(f"{where}: entry {e.seq}: its row is a {event} row, the journal says {e.event}")
            if not isinstance(patient, str) or sha256(canonical(content)) != e.content:
                raise RegisterTampered(
                    f"{where}: entry {e.seq}: its {content['table']} row was changed after it was written"
                )
            if key is not None and checked and patient_hash(key, patient) != e.patient:
                if not other_key:
                    raise RegisterTampered(f"{where}: entry {e.seq}: its row names another patient than the journal")
                checked = False  # written with another uid_key: the patients cannot be checked, all else can
            elif other_key and key is not None and patient_hash(key, patient) == e.patient:
                raise RegisterTampered(f"{where}: its record of the uid_key it was written with was changed")
        if pending is not None:
            entry, _, _, content = pending
            if isinstance(entry, int) and 1 <= entry <= count:
                raise RegisterTampered(f"{where}: entry {entry}: written by more than one row")
            table = content["table"]
            raise RegisterTampered(f"{where}: a {table} row points at entry {entry}, which is not in the journal")
        from needlecli.register.diary import mismatches

        try:
            problem = next(mismatches(db), None)
        except (TypeError, ValueError):  # a value of the wrong kind written into a cell
            problem = "a row holds a value of the wrong kind (edited)"
        if problem is not None:
            raise RegisterTampered(f"{where}: diary: {problem}")
        if not seen_head:
            raise RegisterTampered(
                f"{where}: the journal no longer holds entry {expected_head} (newer entries were removed)"
            )
    except sqlite3.Error as exc:
        raise RegisterTampered(f"{where}: cannot be read whole ({exc})") from None
    return Verified(count, prev, checked)


def entries(register: Register, patient_key: str | None = None) -> list[Entry]:
    """The journal, oldest first; with ``patient_key`` (a patient hash) only that patient's."""
    if patient_key is None:
        rows = register.read("SELECT * FROM journal ORDER BY seq")
    else:
        rows = register.read("SELECT * FROM journal WHERE patient = ? ORDER BY seq", (patient_key,))
    return [Entry(*r) for r in rows]  # type: ignore[arg-type]
