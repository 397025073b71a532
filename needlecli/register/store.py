"""Opening the register: where it is, creating it (0600 in a 0700 folder) only for a command that
writes, refusing a file that is not a needle register, is damaged or was written by a newer
needle (never altering it), and migrating an older schema forward in one transaction.

Every write is one ``BEGIN IMMEDIATE`` transaction (`Register.writing`): a killed command leaves
the register as it was before it or after it; a second writer waits for the lock up to
``LOCK_SECONDS``, then the command stops with exit 75.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from needlecli.errors import RegisterBusy, RegisterError

#: ``PRAGMA application_id`` of a needle register ("NDRG"): any other SQLite file is not one.
APPLICATION_ID = 0x4E445247
#: The schema this needle writes (``PRAGMA user_version``).
SCHEMA = 4
#: How long a command waits for another one's write lock.
LOCK_SECONDS = 30.0
FILE = "register.sqlite3"

#: The schema, as the statements that take a register from version N-1 to N (index N-1).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE journal (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            patient TEXT NOT NULL,
            version TEXT NOT NULL,
            protocol TEXT NOT NULL,
            content TEXT NOT NULL,
            prev TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )""",
        """CREATE TRIGGER journal_append_only_update BEFORE UPDATE ON journal
            BEGIN SELECT RAISE(ABORT, 'the register journal is append-only'); END""",
        """CREATE TRIGGER journal_append_only_delete BEFORE DELETE ON journal
            BEGIN SELECT RAISE(ABORT, 'the register journal is append-only'); END""",
        """CREATE TABLE screenings (
            id INTEGER PRIMARY KEY,
            entry INTEGER NOT NULL UNIQUE REFERENCES journal(seq) DEFERRABLE INITIALLY DEFERRED,
            patient TEXT NOT NULL,
            kind TEXT NOT NULL,
            evaluated_on TEXT NOT NULL,
            verdict TEXT NOT NULL,
            record BLOB NOT NULL
        )""",
        "CREATE INDEX screenings_by_patient ON screenings(patient, id)",
        """CREATE TABLE series (
            id INTEGER PRIMARY KEY,
            patient TEXT NOT NULL,
            indication TEXT NOT NULL,
            UNIQUE (patient, indication)
        )""",
        """CREATE TABLE bookings (
            id INTEGER PRIMARY KEY,
            entry INTEGER NOT NULL UNIQUE REFERENCES journal(seq) DEFERRABLE INITIALLY DEFERRED,
            series INTEGER NOT NULL REFERENCES series(id),
            revision INTEGER NOT NULL,
            booked_on TEXT NOT NULL,
            plan BLOB NOT NULL,
            UNIQUE (series, revision)
        )""",
    ),
    (  # 2: what happened to a series: sessions done or missed, a cancellation
        """CREATE TABLE outcomes (
            id INTEGER PRIMARY KEY,
            entry INTEGER NOT NULL UNIQUE REFERENCES journal(seq) DEFERRABLE INITIALLY DEFERRED,
            series INTEGER NOT NULL REFERENCES series(id),
            kind TEXT NOT NULL,
            session TEXT NOT NULL,
            on_date TEXT NOT NULL,
            detail BLOB NOT NULL
        )""",
        "CREATE INDEX outcomes_by_series ON outcomes(series, id)",
    ),
    (  # 3: the diary (`needle due`): each series' latest items by day; the booking keeps their digest
        "ALTER TABLE bookings ADD COLUMN diary TEXT",
        """CREATE TABLE diary (
            series INTEGER NOT NULL REFERENCES series(id),
            booking INTEGER NOT NULL REFERENCES bookings(id),
            plan_id TEXT NOT NULL,
            key TEXT NOT NULL,
            what TEXT NOT NULL,
            label TEXT NOT NULL,
            of INTEGER NOT NULL,
            day TEXT NOT NULL,
            start TEXT,
            status TEXT NOT NULL,
            end_at TEXT,
            revision INTEGER NOT NULL,
            PRIMARY KEY (series, key)
        )""",
        "CREATE INDEX diary_by_day ON diary(day) WHERE status = 'booked'",  # what is still to do
        "CREATE INDEX screenings_by_day ON screenings(patient, evaluated_on)",
    ),
    (  # 4: the patient's name, kept with a booking when one was given (`due` and `export --include-name`)
        "ALTER TABLE bookings ADD COLUMN name TEXT",
    ),
)
assert len(MIGRATIONS) == SCHEMA


def register_path(configured: Path | None = None) -> Path:
    """``$NEEDLE_REGISTER``, else the config's ``register``, else ``register.sqlite3`` in needle's
    data folder (beside ``uid_key``)."""
    env = os.environ.get("NEEDLE_REGISTER")
    if env:
        return Path(env)
    if configured is not None:
        return configured
    from needlecli.keys import data_dir

    return data_dir() / FILE


class Register:
    """An open register. ``path`` for messages; ``db`` the connection (autocommit: every write goes
    through `writing`)."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self.db = db

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction, taken with the write lock at once (``BEGIN IMMEDIATE``): committed when
        the block ends, rolled back when it raises (or the process dies: SQLite's journal)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _said(self.path, exc, change=True) from None
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _said(self.path, exc, change=True) from None
            raise

    def read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return list(self.db.execute(sql, params))
        except sqlite3.Error as exc:
            raise _said(self.path, exc) from None


def _said(path: Path, exc: sqlite3.Error, *, change: bool = False) -> RegisterError | RegisterBusy:
    """One line for what SQLite said (``change``: it stopped a write, which was rolled back)."""
    text = str(exc)
    name = getattr(exc, "sqlite_errorname", "")
    kept = "; this change was not recorded" if change else ""
    if "locked" in text or "busy" in text:
        return RegisterBusy(
            f"register {path}: another needle command has been writing to it for {LOCK_SECONDS:g} s; try again"
        )
    if name == "SQLITE_READONLY_DIRECTORY":  # SQLite cannot make its -wal and -shm files beside the register
        return RegisterError(
            f"register {path}: read-only: its folder cannot be written (SQLite keeps {path.name}-wal and -shm "
            "beside it)"
        )
    if "readonly" in text or "read-only" in text:
        return RegisterError(f"register {path}: read-only (cannot record anything here)")
    if name == "SQLITE_FULL" or "disk is full" in text:
        return RegisterError(f"register {path}: cannot write: the disk is full{kept}")
    if name.startswith("SQLITE_IOERR") and "READ" not in name:  # EFBIG (a file size limit) or ENOSPC on -shm
        return RegisterError(f"register {path}: cannot write: disk I/O error (a full disk? a file size limit?){kept}")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return RegisterError(f"register {path}: damaged or not an SQLite file ({text}); it was left as it is")
    return RegisterError(f"register {path}: {text}")


def open_for_reading(path: Path) -> Register | None:
    """The register at ``path``, or None when there is none yet (a command that only reads never
    creates it, and treats a missing one as empty)."""
    if not path.exists():
        return None
    if not path.is_file():
        raise RegisterError(f"register {path}: not a file")
    return _open(path, create=False)


def open_for_writing(path: Path) -> Register:
    """The register at ``path``, created (0600, its folder 0700) when there is none, and migrated
    to this needle's schema."""
    if path.exists() and not path.is_file():
        raise RegisterError(f"register {path}: not a file")
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        except FileExistsError:
            pass  # another command made it just now: it is migrated below, under the lock
        except OSError as exc:
            raise RegisterError(f"register {path}: cannot create it: {exc.strerror or exc}") from None
    register = _open(path, create=True)
    try:
        _migrate(register)
    except BaseException:
        register.close()
        raise
    return register


def _open(path: Path, *, create: bool) -> Register:
    try:
        db = sqlite3.connect(path, timeout=LOCK_SECONDS, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _said(path, exc) from None
    register = Register(path, db)
    try:
        app, version = _identity(register)
        empty = app == 0 and version == 0 and not register.read("SELECT name FROM sqlite_master LIMIT 1")
        if not empty and app != APPLICATION_ID:
            raise RegisterError(
                f"register {path}: not a needle register (another program's SQLite file); left as it is"
            )
        if version > SCHEMA:
            raise RegisterError(
                f"register {path}: written by a newer needle (schema {version}; this one knows {SCHEMA}); "
                "upgrade needle to use it"
            )
        if empty and not create:
            return register  # made by a command that stopped before its first write: reads as empty
        db.execute("PRAGMA foreign_keys = ON")
        if create or version:
            with contextlib.suppress(sqlite3.OperationalError):  # a read-only file keeps its mode
                db.execute("PRAGMA journal_mode = WAL")
    except BaseException:
        db.close()
        raise
    return register


def _identity(register: Register) -> tuple[int, int]:
    rows = register.read("PRAGMA application_id")
    app = int(rows[0][0]) if rows else 0  # type: ignore[call-overload]
    rows = register.read("PRAGMA user_version")
    version = int(rows[0][0]) if rows else 0  # type: ignore[call-overload]
    return app, version


def schema_version(register: Register) -> int:
    return _identity(register)[1]


def _migrate(register: Register) -> None:
    """Bring the register to SCHEMA, in one transaction (a newer one was refused on opening)."""
    if schema_version(register) == SCHEMA:
        return
    with register.writing() as db:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        for step in MIGRATIONS[version:]:
            for statement in step:
                added = re.fullmatch(r"ALTER TABLE (\w+) ADD COLUMN (\w+) .*", statement)
                if added and _has_column(db, added[1], added[2]):
                    continue  # a register whose diary was lost (filled again below) keeps its columns
                db.execute(statement)
        if version < 3:
            _fill_diary(db)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA}")


def _fill_diary(db: sqlite3.Connection) -> None:
    """The diary of a register written before it existed: each series' latest booking's items (their
    bookings keep no digest: written before, they are checked by their journal entries alone)."""
    import tomllib

    from needlecli.register import codec, diary

    for series, booking, blob in db.execute(
        "SELECT b.series, b.id, b.plan FROM bookings b "
        "WHERE b.revision = (SELECT MAX(revision) FROM bookings WHERE series = b.series)"
    ).fetchall():
        try:
            doc = tomllib.loads(codec.unpack(blob))
            diary.replace(db, series, booking, str(doc["plan_id"]), diary.items_of_document(doc))
        except (ValueError, KeyError, TypeError, tomllib.TOMLDecodeError):
            continue  # a damaged row: `register verify` names it; the diary skips it


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))
