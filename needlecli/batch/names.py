"""File names: each row claims its patient's file name in input order; a name given out twice
(another row, an NFC/NFD or case-only twin) is that row's error.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Container, Iterable, Iterator, MutableMapping
from typing import Any, NamedTuple

from needlecli import identity
from needlecli.batch.context import Context
from needlecli.batch.manifest import Manifest, Written, reuse_key
from needlecli.batch.row import patient_of, readable_id
from needlecli.batch.rows import Row
from needlecli.errors import NeedleError, UsageError


class Task(NamedTuple):
    row: int
    cells: list[str] | None
    #: The file name this row owns ("" when none), the row's problem ("" when none).
    name: str
    problem: str
    #: The reuse key ("" when the row cannot be reused) and what an earlier run wrote under ``name``.
    key: str = ""
    earlier: Written | None = None
    #: The history of the plan an earlier run made under ``name`` ("" when none).
    history: str = ""
    #: The sha256 of the file an earlier run recorded writing under ``name`` ("" when none).
    recorded: str = ""


class Claims(MutableMapping[str, tuple[int, int]]):
    """The file names given out in a run (name -> (row, hash of the id)), in a private temporary
    SQLite database (pages spill to a temp file the OS removes): memory stays flat for any list
    length, where a dict grows ~130 bytes a row. Written by the pool's task thread, read after it."""

    def __init__(self, table: str = "names", db: Any = None) -> None:
        """``table``: one name per claim; ``db``: another Claims' database, for a second table in it."""
        import sqlite3

        # "": private, on disk, deleted on close
        self._db = db if db is not None else sqlite3.connect("", check_same_thread=False)
        self._table = table
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (name TEXT PRIMARY KEY, row INTEGER, ident INTEGER, stem TEXT)"
        )
        if db is None:  # the run's own names: `stems` looks them up by temp-file stem
            self._db.execute(f"CREATE INDEX {table}_stems ON {table} (stem)")

    def __getitem__(self, name: str) -> tuple[int, int]:
        found = self._db.execute(f"SELECT row, ident FROM {self._table} WHERE name = ?", (name,)).fetchone()
        if found is None:
            raise KeyError(name)
        return int(found[0]), int(found[1])

    def __contains__(self, name: object) -> bool:
        return self._db.execute(f"SELECT 1 FROM {self._table} WHERE name = ?", (name,)).fetchone() is not None

    def __setitem__(self, name: str, value: tuple[int, int]) -> None:
        from needlecli.records import temp_stem

        self._db.execute(f"INSERT OR REPLACE INTO {self._table} VALUES (?, ?, ?, ?)", (name, *value, temp_stem(name)))

    def __delitem__(self, name: str) -> None:
        self._db.execute(f"DELETE FROM {self._table} WHERE name = ?", (name,))

    def __iter__(self) -> Iterator[str]:
        return (row[0] for row in self._db.execute(f"SELECT name FROM {self._table}").fetchall())

    def __len__(self) -> int:
        return int(self._db.execute(f"SELECT count(*) FROM {self._table}").fetchone()[0])

    def folded(self) -> MutableMapping[str, tuple[int, int]]:
        """The same claims under a key for collisions: the name of the id in NFC, in any case."""
        return Claims("folds", self._db)

    def stems(self) -> Container[str]:
        """The temp-file stems (`records.temp_stem`) of the names given out, for `remove_temp_files`."""
        db, table = self._db, self._table

        class Stems:
            def __contains__(self, stem: object) -> bool:
                return db.execute(f"SELECT 1 FROM {table} WHERE stem = ? LIMIT 1", (stem,)).fetchone() is not None

        return Stems()

    def close(self) -> None:
        self._db.close()


def _ident(pid: str) -> int:
    """A stable number for a patient id (the same in every process: Python's str hash is salted)."""
    return int.from_bytes(hashlib.sha256(pid.encode("utf-8", "surrogateescape")).digest()[:7], "big")


def claim_names(
    ctx: Context,
    rows: Iterable[Row],
    claimed: MutableMapping[str, tuple[int, int]] | None = None,
    manifest: Manifest | None = None,
    fingerprint: str = "",
) -> Iterator[Task]:
    """Give each row its file name, in input order, in one place: a name already taken by an
    earlier row (a duplicate id, or two ids that clean up alike) is an error, never an overwrite.

    A row that cannot be read still owns its name when its id cell could be read (so the plan an
    earlier run wrote for it is removed). A blank or unusable id owns nothing. ``claimed`` (name ->
    (row, hash of the id)) is filled as names are given out.
    """
    taken: MutableMapping[str, tuple[int, int]] = {} if claimed is None else claimed
    folds: MutableMapping[str, tuple[int, int]] = taken.folded() if isinstance(taken, Claims) else {}
    id_column = ctx.header.index("patient_id")
    for number, cells, problem in rows:
        if not problem and cells is not None and id_column >= len(cells):
            yield Task(number, cells, "", "")  # no id cell: planning says which column is missing
            continue
        pid = readable_id(ctx, cells)
        try:
            if not problem and not patient_of(ctx, cells).strip():
                raise UsageError("patient_id is empty")
            identity.check_patient(pid, "patient_id")
        except NeedleError as exc:
            yield Task(number, cells, "", problem or f"row {number}: {exc}")
            continue
        name = f"{identity.safe_name(pid)}.{ctx.fmt}"
        # One claim for ids that are the same text in another Unicode form (Zoë typed or pasted) and
        # for names that differ only in case: one file on a case-insensitive disk (macOS, Windows).
        same = unicodedata.normalize("NFC", pid)
        claim = f"{identity.safe_name(same)}.{ctx.fmt}".casefold()
        if claim in folds:
            first, ident = folds[claim]
            if problem:
                yield Task(number, cells, "", problem)
            elif ident == _ident(same):
                yield Task(
                    number,
                    cells,
                    "",
                    f"row {number}: patient_id {pid!r} is already on row {first} (one row per patient)",
                )
            else:
                why = (
                    f"row {number}: patient_id {pid!r} gives the same file name as row {first}'s ({name}, in any case)"
                )
                yield Task(number, cells, "", why)
            continue
        taken[name] = folds[claim] = (number, _ident(same))
        if manifest is None:
            yield Task(number, cells, name, problem)
            continue
        earlier, history = manifest.lookup(name)
        recorded = earlier.digest if earlier is not None else ""
        if problem or cells is None:
            yield Task(number, cells, name, problem, history=history, recorded=recorded)
            continue
        key = reuse_key(ctx, fingerprint, cells)
        current = earlier if key and earlier is not None and earlier.key == key else None
        yield Task(number, cells, name, "", key, current, history, recorded)
