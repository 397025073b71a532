"""What earlier runs wrote: the folder's reuse record (SQLite, in the data folder), the run's
fingerprint and each row's reuse key, and pruning records of folders gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from needlecli.batch.context import Context
from needlecli.batch.history import pack, unpack
from needlecli.batch.results import RowResult

#: A folder's record unused for this long is removed (its folder is gone, or was never run again):
#: without it a rerun only plans every row again, so nothing is lost but time.
MANIFEST_DAYS = 180


def prune_manifests(home: Path, keep: Path, now: float | None = None) -> int:
    """Remove the records of folders no run has used for MANIFEST_DAYS (each ~15 MB per 20k rows)."""
    import time

    limit = (now if now is not None else time.time()) - MANIFEST_DAYS * 86400
    removed = 0
    with contextlib.suppress(OSError), os.scandir(home) as entries:
        for entry in entries:
            if not entry.name.endswith(".sqlite3") or entry.path == str(keep):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < limit:
                    for suffix in ("", "-wal", "-shm"):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path + suffix)
                    removed += 1
    return removed


class Manifest:
    """What earlier runs wrote into one output folder, so a rerun keeps files that are still current.

    One SQLite file per folder in the user's data folder (never in the output folder, which holds
    only the plans and summary.csv): for each file name (kept as a hash) the reuse key of the row
    that wrote it (a hash of the row's cells and of everything else the file depends on), the
    sha256 of its bytes, the summary facts, and the plan's history (ids, revisions, item spans:
    what the next run rebuilds over, so a changed row updates the patient's calendar instead of
    duplicating it). The history outlives a withdrawn plan (its items kept as cancelled). A file is
    reused only when its row's key matches and its bytes still hash to what was written, so a
    reused file is the one a clean run writes.
    Anything wrong with the manifest only means planning again, never a failed run.
    """

    def __init__(self, path: Path, key: str = "") -> None:
        import sqlite3

        self.path = path
        self._key = key.encode("utf-8")
        self._error = sqlite3.Error
        self._writer = self._connect()
        self._writer.execute(
            "CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, key TEXT NOT NULL, digest TEXT NOT NULL, "
            "verdict TEXT NOT NULL, first TEXT NOT NULL, last TEXT NOT NULL, history TEXT NOT NULL DEFAULT '', "
            "notes TEXT)"
        )
        columns = {row[1] for row in self._writer.execute("PRAGMA table_info(files)")}
        if "history" not in columns:  # a manifest from before histories were kept
            self._writer.execute("ALTER TABLE files ADD COLUMN history TEXT NOT NULL DEFAULT ''")
        if "notes" not in columns:  # from before the summary had notes: NULL, so no file of it is reused
            self._writer.execute("ALTER TABLE files ADD COLUMN notes TEXT")
        self._writer.commit()
        self._reader = self._connect(check_same_thread=False)  # for claim_names, in the pool's task thread
        self._pending = 0

    def _connect(self, check_same_thread: bool = True) -> Any:
        import sqlite3

        db = sqlite3.connect(self.path, timeout=10, check_same_thread=check_same_thread)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @classmethod
    def open(cls, folder: Path, key: str = "") -> Manifest | None:
        """The manifest of ``folder`` (created empty), or None when it cannot be used."""
        from needlecli.keys import data_dir

        try:
            st = os.stat(folder)
            ident = f"{st.st_dev}:{st.st_ino}:{os.path.realpath(folder)}"
            home = data_dir() / "batch"
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = home / (hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".sqlite3")
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            os.utime(path)  # used now: kept by prune_manifests for another MANIFEST_DAYS
        except (OSError, ValueError):
            return None
        prune_manifests(home, keep=path)
        for _attempt in range(2):
            try:
                return cls(path, key)
            except Exception:  # a damaged manifest: start a new one
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(OSError):
                        os.unlink(f"{path}{suffix}")
                with contextlib.suppress(OSError):
                    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        return None

    def _id(self, name: str) -> str:
        """The row of a file name: keyed (the calendar id key), so the manifest cannot be searched
        for a guessed patient id."""
        import hmac

        return hmac.new(
            self._key, b"needle batch file\0" + name.encode("utf-8", "surrogateescape"), "sha256"
        ).hexdigest()

    def lookup(self, name: str) -> tuple[Written | None, str]:
        """(what an earlier run wrote under ``name``, or None when it wrote none, or wrote it before
        the summary had notes), and the plan's history ("" when none)."""
        try:
            row = self._reader.execute(
                "SELECT key, digest, verdict, first, last, notes, history FROM files WHERE name = ?",
                (self._id(name),),
            ).fetchone()
        except self._error:
            return None, ""
        if not row:
            return None, ""
        notes = _notes_of(row[5])
        written = (
            Written(row[0], row[1], row[2], row[3], row[4], notes) if row[0] and row[1] and notes is not None else None
        )
        return written, unpack(row[6])

    def record(self, result: RowResult) -> None:
        """Note what a row did to its file: written (with the key, digest and history), or removed (the
        history kept when there is one, its items cancelled)."""
        if not result.name:
            return
        try:
            if result.reused:
                return
            planned = result.status == "planned" and result.key and result.digest
            if planned or result.history or result.packed:
                self._writer.execute(
                    "INSERT OR REPLACE INTO files (name, key, digest, verdict, first, last, history, notes) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self._id(result.name),
                        result.key if planned else "",
                        result.digest if planned else "",
                        result.verdict,
                        result.first_session,
                        result.last_session,
                        result.packed or pack(result.history),
                        json.dumps(result.notes, ensure_ascii=False) if planned else None,
                    ),
                )
            else:
                self._writer.execute("DELETE FROM files WHERE name = ?", (self._id(result.name),))
            self._pending += 1
            if self._pending >= 32:  # cheap (WAL, no fsync): a kill loses at most these
                self.commit()
        except self._error:
            pass

    def commit(self) -> None:
        with contextlib.suppress(self._error):
            self._writer.commit()
        self._pending = 0

    def close(self) -> None:
        self.commit()
        for db in (self._reader, self._writer):
            with contextlib.suppress(self._error):
                db.close()


class Written(NamedTuple):
    """What the manifest keeps of a file an earlier run wrote: the row's reuse key, the file's sha256,
    and the summary facts of the row."""

    key: str
    digest: str
    verdict: str
    first: str
    last: str
    notes: tuple[str, ...]


def _notes_of(stored: object) -> tuple[str, ...] | None:
    """The notes `Manifest.record` stored (None for anything else: that row is planned again)."""
    if not isinstance(stored, str):
        return None
    try:
        notes = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        return None
    return tuple(notes)


def run_fingerprint(ctx: Context) -> str:
    """A hash of everything besides the row that a file depends on: the planning date, format and
    options, the config (with the calendar id key), the screening protocol, needle's own code and
    version, and the versions of the calendar, holiday and time zone data."""
    import importlib.metadata

    import needlecli

    def canon(value: object) -> object:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: canon(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {str(k): canon(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
        if isinstance(value, (set, frozenset)):
            return sorted((canon(v) for v in value), key=repr)
        if isinstance(value, (list, tuple)):
            return [canon(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return str(value)

    code = []
    package = Path(needlecli.__file__).parent
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            with contextlib.suppress(OSError):
                st = os.stat(os.path.join(root, f))
                code.append((os.path.relpath(os.path.join(root, f), package), st.st_size, st.st_mtime_ns))
    versions = {}
    for dist in ("icalendar", "holidays", "tzdata"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = ""
    from needlecli.zones import database

    zones = list(database())  # the zone data every row is planned with (its version, where it is read)
    doc = {
        "version": needlecli.__version__,
        "code": code,
        "packages": versions,
        "zones": zones,
        "on": ctx.on.isoformat(),
        "fmt": ctx.fmt,
        "include_name": ctx.include_name,
        "boosters": ctx.boosters,
        "allow_past": ctx.allow_past,
        "header": ctx.header,
        "screening": ctx.screening.info.sha256 if ctx.screening is not None else None,
        "config": canon(ctx.config),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode("utf-8", "surrogateescape")).hexdigest()


def reuse_key(ctx: Context, fingerprint: str, cells: list[str]) -> str:
    """The row's reuse key: its cells (by column), its treatment protocol and the run's fingerprint."""
    row = {k: v for k, v in zip(ctx.header, cells, strict=False) if k}  # not the columns needle ignores
    try:
        protocol = ctx.protocol(row.get("indication", "")).info.sha256
    except Exception:  # an unknown or broken indication: the row fails anyway, nothing to reuse
        return ""
    doc = json.dumps([fingerprint, protocol, row, len(cells)], sort_keys=True)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()
