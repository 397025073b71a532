"""The run: every row handled (here, or by worker processes), summary.csv and the clinic calendar
written only when the run completes, and nothing half-done left behind when it does not.

The command line (`cli/batch.py`) reads its flags, builds the `Context` and calls `run`; what it
shows while the run goes (progress, each row's error, the --json rows) it does in ``on_result``.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from needlecli.batch import folder, names, workers
from needlecli.batch.context import Context
from needlecli.batch.manifest import Manifest, run_fingerprint
from needlecli.batch.reconcile import handle, holds_no_files
from needlecli.batch.results import SUMMARY_FIELDS, RowResult, summary_csv_line
from needlecli.batch.rows import Row
from needlecli.errors import RecordError, UsageError
from needlecli.register.store import Register

#: Rows a worker process takes at a time.
CHUNK = 32
#: `--book`: rows booked in one register transaction.
BOOK_EVERY = 256


def open_folder(out_dir: Path, fmt: str) -> tuple[int | None, bool]:
    """Make the output folder ready for a run: created (0700: file names are patient ids), the
    folder's lock taken (a second batch stops here, before touching anything), the temp files of a
    killed run removed, and the summary of an earlier run removed (from here on files change).

    Returns the lock (None where the file system has none) and whether the folder held no file of the
    format (with the lock held, none can appear but this run's: no earlier calendar is looked for)."""
    lock: int | None = None
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = folder.lock_folder(out_dir)
        if lock is not None:
            folder.remove_temp_files(out_dir)
        empty = lock is not None and holds_no_files(out_dir, fmt)
        with contextlib.suppress(FileNotFoundError):
            (out_dir / "summary.csv").unlink()
            folder.sync_folder(out_dir)
    except OSError as exc:
        folder.unlock_folder(lock)
        raise UsageError(f"--out-dir: cannot use {out_dir}: {exc.strerror or exc}") from None
    return lock, empty


def run(
    ctx: Context,
    rows: Iterable[Row],
    *,
    jobs: int = 1,
    manifest: Manifest | None = None,
    locked: bool = False,
    clinic_calendar: Path | None = None,
    on_result: Callable[[RowResult], None] | None = None,
    start_method: str | None = None,
    register: Register | None = None,
    key: str = "",
    places: Counter[str] | None = None,
) -> dict[str, int]:
    """Handle every row, in input order; write summary.csv (and the clinic calendar) only when the
    run completes. ``on_result`` sees each row's result after its file is on disk and recorded.

    With ``register`` (`--book`), each planned row is booked there (and each screened row's screening
    kept), BOOK_EVERY rows to a transaction, before the rows are recorded or reported: a row shown as
    planned is booked. ``places`` counts the planned rows' session starts ("YYYY-MM-DD HH:MM"): a run
    that books nothing says where they share a start beyond the clinic's capacity.

    Returns the counts by status and ``reused`` (planned rows whose file from an earlier run was
    current). On any failure or interrupt the workers are stopped, the run's temp files removed (all
    batch temp files when ``locked``, else only those of the names it gave out) and the error raised.
    """
    import tempfile

    counts = {"planned": 0, "refused": 0, "error": 0}
    reused = 0
    try:
        # mkstemp: a fresh name, created exclusively with mode 0600 (never through a planted symlink).
        fd, tmp_name = tempfile.mkstemp(prefix=".summary.csv.", suffix=folder.TEMP_SUFFIX, dir=ctx.out_dir)
    except OSError as exc:
        raise RecordError(f"cannot write in {ctx.out_dir}: {exc.strerror or exc}") from None
    summary_tmp = Path(tmp_name)
    # The clinic calendar's events, spooled in input order (flat memory), written whole at the end.
    clinic_events = tempfile.TemporaryFile("w+b", dir=ctx.out_dir) if clinic_calendar else None  # noqa: SIM115
    claimed = names.Claims()
    fingerprint = run_fingerprint(ctx) if manifest is not None else ""
    pool = None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as summary:
            summary.write(",".join(SUMMARY_FIELDS) + "\n")
            tasks = names.claim_names(ctx, rows, claimed, manifest, fingerprint)
            results: Iterator[RowResult]
            if jobs == 1:
                results = (handle(ctx, t) for t in tasks)
            else:
                pool = workers.start(ctx, jobs, start_method)
                results = workers.results(pool, tasks, CHUNK)
            pending: list[RowResult] = []

            def settle() -> None:
                nonlocal reused
                done = _book(ctx, register, key, pending) if register is not None else pending
                for result in done:
                    counts[result.status] += 1
                    if places is not None and result.status == "planned":
                        places.update(result.starts)
                    reused += result.reused
                    if manifest is not None:
                        manifest.record(result)  # after the worker synced the file
                    summary.write(summary_csv_line(result))
                    if clinic_events is not None and result.clinic:
                        clinic_events.write(result.clinic)
                    if on_result is not None:
                        on_result(result)
                pending.clear()

            for result in results:
                pending.append(result)
                if register is None or len(pending) >= BOOK_EVERY:
                    settle()
            settle()
            _sync(summary)
        if clinic_calendar is not None and clinic_events is not None:
            write_clinic_calendar(clinic_calendar, clinic_events, ctx.config.name)
        os.replace(summary_tmp, ctx.out_dir / "summary.csv")
        folder.sync_folder(ctx.out_dir)
    except BaseException as exc:
        if pool is not None:
            workers.stop(pool)  # Ctrl-C, SIGTERM or a failure: stop the workers now
            pool = None
        with contextlib.suppress(OSError):
            # What a stopped write left behind: with the folder's lock held any batch temp file is this
            # run's or stale; without it, only those of the names this run gave out.
            folder.remove_temp_files(ctx.out_dir, None if locked else claimed.stems())
        if isinstance(exc, OSError):  # the summary or the list itself: a full disk, a read-only folder
            where = exc.filename or ctx.out_dir
            raise RecordError(f"batch stopped: {where}: {exc.strerror or exc}; summary.csv was not written") from None
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        ctx.close()
        with contextlib.suppress(OSError):
            summary_tmp.unlink()
        claimed.close()
        if clinic_events is not None:
            clinic_events.close()
    return {**counts, "reused": reused}


def _book(ctx: Context, register: Register, key: str, results: list[RowResult]) -> list[RowResult]:
    """Keep the rows' screenings and bookings in the register, in one transaction, in input order,
    each row's sessions in the clinic's slots (`batch.slots`). A row with no place the rules allow,
    or whose series another command booked meanwhile, becomes that row's error (and its file goes).

    Three steps: each row placed in turn (its places counted for the rows after it); the files of the
    rows placed elsewhere than their worker planned written again, together (the writer threads); then
    each row's screening and booking inserted, in order."""
    import datetime as dt

    from needlecli.batch.reconcile import writer_threads
    from needlecli.batch.slots import Places, placed, timed
    from needlecli.dates import BadAnswer
    from needlecli.errors import NeedleError
    from needlecli.register.events import BookedMeanwhile, insert_booking, insert_screening

    now = dt.datetime.now(dt.UTC)
    screening_sha = ctx.screening.info.sha256 if ctx.screening is not None else ""
    where = f"register {register.path}"
    with register.writing() as db:
        places = Places(db, ctx)  # the slots' places: read once for the days these rows book
        places.load({i.day for r in results if r.booking and r.status == "planned" for i in timed(r)})
        decided: list[tuple[RowResult, Any]] = []  # each row, and the write of its file placed again
        for r in results:
            write = None
            if r.booking and r.status == "planned":
                try:
                    r, data, own = placed(ctx, db, places, r, where)
                except (NeedleError, BadAnswer) as exc:  # no place the rules allow, or booked meanwhile
                    r = _unbooked(ctx, r, f"row {r.row}: {exc}")
                except Exception as exc:  # a bug costs the row, not the run (and never prints patient data)
                    r = _unbooked(ctx, r, f"row {r.row}: internal error ({type(exc).__name__}); please report it")
                else:
                    if data is not None and own:
                        # It gives places back to the rows after it: its file is written (and its booking
                        # then certain) first. A failed write leaves those places with its old booking.
                        try:
                            folder.write_file(ctx.out_dir / r.name, data)
                        except NeedleError as exc:
                            decided.append((_unbooked(ctx, r, f"row {r.row}: {exc}"), None))
                            continue
                        data = None
                    places.take(r, own)  # counted now, for the rows after it
                    if data is not None:  # a new series: a failed write leaves a place free, never one too many
                        write = writer_threads().submit(folder.write_file, ctx.out_dir / r.name, data)
            decided.append((r, write))
        out = []
        for r, write in decided:
            if write is not None:
                try:
                    write.result()
                except NeedleError as exc:  # its places stay counted: left free, never one too many
                    r = _unbooked(ctx, r, f"row {r.row}: {exc}")
            if r.screening_record:
                insert_screening(db, key=key, patient=r.patient_id, evaluated_on=r.screened_on, verdict=r.verdict,
                                 protocol=screening_sha, blob=r.screening_record, at=now)  # fmt: skip
            if r.booking and r.status == "planned":
                try:
                    db.execute("SAVEPOINT row")
                    insert_booking(db, key=key, patient=r.patient_id, indication=r.indication,
                                   booked_on=ctx.on.isoformat(), blob=r.booking,
                                   revision_of=r.booked_over, protocol=r.protocol_sha, at=now, where=where,
                                   items=list(r.diary), plan_id=r.plan_id, name=r.shown or None)  # fmt: skip
                    db.execute("RELEASE row")
                except BookedMeanwhile as exc:
                    db.execute("ROLLBACK TO row")
                    db.execute("RELEASE row")
                    r = _unbooked(ctx, r, f"row {r.row}: {exc}")
            out.append(r)
    return out


def _unbooked(ctx: Context, r: RowResult, error: str) -> RowResult:
    """A planned row that could not be booked: an error, and its file (written by this run for a
    booking that was not made) removed, so no calendar of an appointment nobody holds is handed out."""
    import dataclasses

    if r.file:
        with contextlib.suppress(OSError):
            (ctx.out_dir / r.file).unlink()
    return dataclasses.replace(r, status="error", error=error, file="", first_session="", last_session="", clinic=b"")


def _sync(summary: Any) -> None:
    import sys

    summary.flush()
    try:
        os.fsync(summary.fileno())  # on disk before it takes the name
    except OSError as exc:  # whole for every reader all the same: say so, and go on
        print(f"needle: warning: summary.csv may not be on disk yet: {exc.strerror or exc}", file=sys.stderr)


def write_clinic_calendar(path: Path, events: IO[bytes], clinic_name: str | None) -> None:
    """The clinic calendar: icalendar's head and tail of a calendar around the spooled events,
    written atomically (0600) in one pass."""
    from needlecli.records import write_atomic
    from needlecli.render.clinic_ics import frame

    head, tail = frame(clinic_name)

    def chunks() -> Iterator[bytes]:
        yield head
        events.seek(0)
        while block := events.read(1 << 20):
            yield block
        yield tail

    write_atomic(path, chunks())
