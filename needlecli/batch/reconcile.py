"""Handling one row against the folder: plan it (or keep the file an earlier run wrote from the same
row), write it through the writer threads, and remove only files needle wrote that the list no
longer supports.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from needlecli import export, revisions
from needlecli.batch.context import Context
from needlecli.batch.folder import write_file
from needlecli.batch.history import events_of, events_of_history, history_of, history_text
from needlecli.batch.names import Task
from needlecli.batch.results import RowResult
from needlecli.batch.row import patient_of, plan_row, readable_id
from needlecli.errors import NeedleError

if TYPE_CHECKING:
    from needlecli.render.ics_read import CalendarHistory


def handle(ctx: Context, task: Task) -> RowResult:
    """Plan one row and write its file (atomic, 0600); never raises. See `decide`."""
    result, data = decide(ctx, task)
    if data is None:
        return result
    try:
        write_file(ctx.out_dir / result.name, data)
    except NeedleError as exc:  # e.g. a full disk: this row failed, the run and its summary go on
        return _unwritten(result, exc, task.history)
    return result


#: Threads a batch process writes its files with: their fsyncs overlap (the file system commits them
#: together) and overlap the planning of the next rows.
WRITERS = 4


def handle_chunk(ctx: Context, tasks: list[Task]) -> list[RowResult]:
    """Plan a chunk of rows, each file written (atomic, 0600, fsynced) by this process's writer threads,
    so that the disk's syncs overlap each other and the planning of the next rows. Returns only once
    every file of the chunk is on disk: the parent records a row (manifest, summary) after its file is
    synced. When planning a row raises, it waits for the writes already under way and starts no other.
    A worker process stopped by SIGTERM dies at once (atomic writes leave no half file); a file renamed
    into place but not yet recorded is read back by the next run, so its SEQUENCE never goes back."""
    from concurrent.futures import Future
    from concurrent.futures import wait as wait_for

    writer = writer_threads()
    pending: list[tuple[RowResult, Future[None] | None, str]] = []
    try:
        for task in tasks:
            result, data = decide(ctx, task)
            future = writer.submit(write_file, ctx.out_dir / result.name, data) if data is not None else None
            pending.append((result, future, task.history))
    except BaseException:
        wait_for([f for _, f, _ in pending if f is not None and not f.cancel()])
        raise
    wait_for([f for _, f, _ in pending if f is not None])  # every write ended, whatever happens below
    done = []
    for result, future, history in pending:
        try:
            if future is not None:
                future.result()
        except NeedleError as exc:
            result = _unwritten(result, exc, history)
        done.append(result)
    return done


_WRITER: tuple[int, Any] | None = None


def writer_threads() -> Any:
    """This process's pool of WRITERS threads (made on first use; a forked child makes its own)."""
    from concurrent.futures import ThreadPoolExecutor

    global _WRITER
    if _WRITER is None or _WRITER[0] != os.getpid():
        _WRITER = (os.getpid(), ThreadPoolExecutor(WRITERS, thread_name_prefix="needle-writer"))
    return _WRITER[1]


def _unwritten(result: RowResult, exc: NeedleError, history: str) -> RowResult:
    """A planned row whose file could not be written: an error; the earlier file is kept as it was,
    and so is the history of the plan in it (what the next run rebuilds over)."""
    error = f"row {result.row}: {exc}"
    return RowResult(result.row, result.patient_id, "error", error=error, name=result.name, history=history)


def decide(ctx: Context, task: Task) -> tuple[RowResult, bytes | None]:
    """Plan one row: its summary line and the bytes to write under its name (None: nothing to write).
    Never raises.

    When a row that owns a file name is refused by screening or cannot be read or planned any more,
    a file left under that name by an earlier run is removed: a folder of plans must never hold a
    stale plan for a patient the list no longer plans (a new contraindication, say). A failed write
    keeps the earlier file, as write_atomic promises. A file an earlier run wrote from the same row
    with the same everything else, still byte for byte as written, is kept instead of planned again.
    """
    number, cells, name, problem, key, earlier, history, recorded = task
    reads_back = export.EXPORTERS[ctx.fmt].reads_back
    on_disk = _digest_of(ctx.out_dir / name) if name and reads_back == "calendar" and not ctx.empty_folder else ""
    if earlier is not None and cells is not None and (on_disk or _digest_of(ctx.out_dir / name)) == earlier.digest:
        pid = patient_of(ctx, cells)
        was = history_of(ctx, history, pid) if history else None
        clinic_events = events_of(ctx, pid, *was) if ctx.clinic_calendar and was is not None else b""
        live = was[0].items if was is not None else {}
        starts = tuple(f"{a:%Y-%m-%d %H:%M}" for k, (a, _) in was[1].items() if k in live) if was else ()
        reused = RowResult(
            number,
            pid,
            "planned",
            verdict=earlier.verdict,
            first_session=earlier.first,
            last_session=earlier.last,
            file=name,
            notes=earlier.notes,
            name=name,
            key=key,
            digest=earlier.digest,
            reused=True,
            history=history,
            clinic=clinic_events,
            starts=starts,
        )
        return reused, None
    pid = readable_id(ctx, cells)
    if not history and name and reads_back == "saved plan":
        saved = _saved_history(ctx, ctx.out_dir / name)  # a saved plan in the folder: rebuild over it too
        if saved:
            kept = _already_written(ctx, task, None, _digest_of(ctx.out_dir / name))
            if kept is not None:
                return kept, None
        history = saved
    found = history_of(ctx, history, pid) if history else None
    if on_disk and (on_disk != recorded or (history and found is None)):
        # A calendar in the folder that the record does not know, or whose history is unusable (a moved
        # folder, a lost or damaged record, a run stopped before it recorded the file). Kept when it is
        # what this run writes anyway; otherwise its ids and SEQUENCEs count, or a rebuild would reuse
        # them below what the patient's phone already has.
        kept = _already_written(ctx, task, found[0] if found is not None else None, on_disk)
        if kept is not None:
            return kept, None
        history = _newer_history(ctx, history, _calendar_history(ctx, ctx.out_dir / name, pid), pid)
        found = history_of(ctx, history, pid) if history else None
    foreign = bool(name) and not ctx.empty_folder and _foreign(ctx, ctx.out_dir / name, recorded, on_disk)
    if problem or cells is None:
        result = RowResult(number, pid, "error", error=problem, name=name)
        return (result if foreign else _removed(ctx, result, name, history)), None
    result, data, _ = plan_row(ctx, number, cells, found[0] if found is not None else None)
    if data is None:
        result = dataclasses.replace(result, name=name, key=key)
        return (result if foreign else _removed(ctx, result, name, history)), None
    if foreign:
        error = f"row {number}: {name} exists in {ctx.out_dir} and is not a file needle wrote; move it, and run again"
        return RowResult(number, pid, "error", error=error, name=name), None
    return dataclasses.replace(result, name=name, key=key, file=name, digest=hashlib.sha256(data).hexdigest()), data


def _already_written(ctx: Context, task: Task, history: revisions.History | None, digest: str) -> RowResult | None:
    """The row planned as this run plans it (over ``history``, the one the record kept), when the
    file already in the folder is byte for byte what that writes: a run stopped after writing the
    file and before recording it (Ctrl-C, SIGTERM, a kill, a crash). The file is kept and recorded;
    rebuilding over it would raise its SEQUENCE and stamp for nothing, and the folder would differ
    from a run that was never stopped. None when there is nothing to compare or the bytes differ."""
    if not digest or task.problem or task.cells is None:
        return None

    def matches(data: bytes | None) -> bool:
        return data is not None and hashlib.sha256(data).hexdigest() == digest

    result, data, _ = plan_row(ctx, task.row, task.cells, history)
    same = matches(data)
    if (
        not same
        and data is not None
        and history is not None
        and history.stamp is not None
        and export.EXPORTERS[ctx.fmt].reads_back == "calendar"
    ):
        # A rebuild is stamped with the run's clock (without --on): the stopped run's file has its own
        # stamp. The same rebuild as of that stamp: if its bytes are the file's, the file is kept.
        found = _read_calendar(ctx.out_dir / task.name)
        if found is not None and found[3] > history.stamp:
            result, data, _ = plan_row(ctx, task.row, task.cells, history, found[3])
            same = matches(data)
    if not same:
        return None
    return dataclasses.replace(result, name=task.name, key=task.key, file=task.name, digest=digest)


def _read_calendar(path: Path) -> CalendarHistory | None:
    """What a calendar needle wrote at ``path`` says of its plan (`ics_read.history_of_calendar`), or None
    when it cannot be read or is not one of needle's."""
    from needlecli.render.ics_read import history_of_calendar

    try:
        with path.open("rb") as fh:
            return history_of_calendar(fh.read(1 << 22))
    except OSError:
        return None


def _removed(ctx: Context, result: RowResult, name: str, history: str = "") -> RowResult:
    """A row that gets no plan: the file an earlier run wrote for it is removed, and the plan's history
    is kept withdrawn (every item cancelled), for the clinic calendar and for a later rebuild."""
    found = history_of(ctx, history, result.patient_id) if history else None
    if found is not None:
        before = found[0]
        try:
            after = before.withdrawn(ctx.stamp or revisions.midnight(ctx.on)) if before.items else before
            kept = history_text(ctx, after)
            clinic_events = events_of_history(ctx, result.patient_id, kept) if ctx.clinic_calendar else b""
        except Exception:  # a history that cannot be withdrawn is dropped, never the run
            kept, clinic_events = "", b""
        result = dataclasses.replace(result, history=kept, clinic=clinic_events)
    if name and _remove_stale(ctx.out_dir / name):
        return dataclasses.replace(result, error=f"{result.error} (removed {name} from an earlier run)")
    return result


def _calendar_history(ctx: Context, path: Path, pid: str) -> str:
    """The history a calendar needle wrote at ``path`` holds (ids, SEQUENCEs, spans), or ""."""
    if not pid:
        return ""
    try:
        found = _read_calendar(path)
        if found is None:
            return ""
        history = revisions.History.of_calendar(pid, "", found)
        text = history_text(ctx, history)
        return text if history_of(ctx, text, pid) is not None else ""  # the same checks as a kept history
    except (OSError, ValueError):
        return ""


def _newer_history(ctx: Context, kept: str, on_disk: str, pid: str) -> str:
    """Of the history the record kept and the one the file holds, the later revision (the file's on a tie)."""
    if not on_disk:
        return kept
    a, b = history_of(ctx, kept, pid) if kept else None, history_of(ctx, on_disk, pid)
    if a is None or b is None:
        return on_disk if b is not None else kept
    return kept if a[0].revision > b[0].revision else on_disk


def _saved_history(ctx: Context, path: Path) -> str:
    """The history of a saved needle plan at ``path`` (`batch --format toml` into a folder of them), or ""."""
    from needlecli.plans import read_saved_plan

    if not path.is_file():
        return ""
    try:
        saved = read_saved_plan(path)
    except NeedleError:
        return ""
    return history_text(ctx, revisions.History.of_saved(saved)) if saved is not None else ""


def _digest_of(path: Path) -> str:
    """sha256 of a regular file of ours (mode 0600, not a link), else ""."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o600 or st.st_size > 1 << 26:
            return ""
        digest = hashlib.sha256()
        while block := os.read(fd, 1 << 16):
            digest.update(block)
        return digest.hexdigest()
    except OSError:
        return ""
    finally:
        os.close(fd)


def holds_no_files(folder: Path, fmt: str) -> bool:
    """Does ``folder`` hold no file named like the ones a run in format ``fmt`` writes (``*.fmt``, in
    any case)? True also means no row of this run can find a file an earlier run wrote under its name."""
    suffix = f".{fmt}"
    with os.scandir(folder) as entries:
        return not any(entry.name.lower().endswith(suffix) for entry in entries)


def _foreign(ctx: Context, path: Path, recorded: str, digest: str = "") -> bool:
    """Is there a file at ``path`` that needle did not write (neither the one the folder's record
    knows, nor recognisably one of needle's of this run's kind)? Such a file is never replaced or
    removed: the row that would write it is an error instead. ``digest``: the file's sha256 when the
    caller already has it (a calendar's, read once per row)."""
    from needlecli import outfiles

    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False  # a link is replaced, never followed (its target is kept); a folder fails the write
    if recorded and (digest or _digest_of(path)) == recorded:
        return False  # byte for byte what a run wrote and recorded
    # Anything else only when it is recognisably one of needle's: a user's own file put under a name
    # a run once used (or edited into something else) is theirs now.
    kind, _ = outfiles.identify(path)
    return kind != export.EXPORTERS[ctx.fmt].kind


def _remove_stale(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True
