"""`needle batch`: plan a whole clinic list from a CSV file, one file per patient."""

from __future__ import annotations

import contextlib
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

import typer

from needlecli import export
from needlecli.errors import RowsFailed, UsageError, one_line

if TYPE_CHECKING:
    from rich.progress import Progress

    from needlecli.batch.context import Context
    from needlecli.batch.manifest import Manifest
    from needlecli.batch.results import RowResult
    from needlecli.batch.rows import Row
    from needlecli.register.store import Register

HELP = """Plan every patient of a CSV list (a file, or - for stdin) and write one
file per patient into --out-dir, plus summary.csv with a line per input row.

Columns: patient_id, indication, start (required); name, sessions,
interval_weeks, time, tz (optional); and the screening question ids, all or
none: with them every row is screened on --on, a contraindication or an undated
deferral gives no plan (an outcome, not an error) and a dated deferral moves the
first session. UTF-8 with or without BOM, `,` or `;`, CRLF or LF.

A row that cannot be read or planned is reported as `row N: reason` (the header
is row 1) and the others still run; so is a row whose first session would be
before --on, unless --allow-past. Exit 0 when every row was handled, 1 when
any row failed, 2 when the file or flags are unusable. Clinic days, closures,
holidays, time zone and session length come from `needle config`.
summary.csv's last column, notes, holds each plan's notes (a pause already
under way, what a screening caution changes).

--book also books every planned row as the patient's active series in the
clinic register (a new revision when booked before: same calendar ids, SEQUENCE
raised); with the screening columns, each row's screening is kept there too.

One batch at a time writes into a folder (a second one stops with exit 2).
summary.csv is removed when a run starts changing files and written when it
ends. A rerun keeps each file an earlier run wrote from the same row with the
same settings, byte for byte, instead of planning it again (--json gives the
number as "reused"), and still removes the plans the list no longer supports.
"""

EPILOG = """\b
Examples:
  needle batch patients.csv --out-dir plans --format ics
  needle batch patients.csv --out-dir plans --format json --jobs 2 --json > summary.json
  needle batch patients.csv --out-dir plans --protocol clinic/screening.toml
  needle batch patients.csv --out-dir plans --format ics --book
  export-from-practice-system | needle batch - --out-dir plans --format md --quiet
"""


def batch(
    source: str = typer.Argument(..., help="The CSV file, or - for stdin.", metavar="FILE.csv|-"),
    out_dir: Path = typer.Option(..., "--out-dir", "-d", help="Folder for the files (created if missing)."),
    fmt: str = typer.Option("ics", "--format", "-f", help=export.help_text("plan") + "."),
    protocol: str = typer.Option(
        "screening", "--protocol", help="Screening protocol for the screening columns: a bundled name or a .toml path."
    ),
    on: str | None = typer.Option(None, "--on", help="Planning and screening date.  [default: today]"),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Worker processes.  [default: CPU count]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or final line."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    include_name: bool = typer.Option(
        False, "--include-name", help="Put the `name` column (or First Name and Last Name) into the patients' files."
    ),
    boosters: int = typer.Option(0, "--boosters", help="Boosters after each series (a `boosters` cell wins)."),
    allow_past: bool = typer.Option(
        False, "--allow-past", help="Plan rows whose first session is before --on (else each is a row error)."
    ),
    book: bool = typer.Option(
        False, "--book", help="Book every planned row in the clinic register (and keep each row's screening)."
    ),
    clinic_calendar: Path | None = typer.Option(
        None,
        "--clinic-calendar",
        help="Also write one calendar of every planned session for the clinic's own calendar app "
        "(patient ids in titles; the same calendar ids as the patients' files).",
        metavar="FILE.ics",
    ),
) -> None:
    from needlecli import catalog, choices
    from needlecli.batch import engine, folder
    from needlecli.batch import rows as core_rows
    from needlecli.batch.context import Context
    from needlecli.batch.manifest import Manifest
    from needlecli.cli.common import parse_on, stamp_of
    from needlecli.config import load_config, with_uid_key

    fmt = choices.pick(fmt, export.formats("plan"), "--format")  # ICS, Md ...
    cfg = with_uid_key(load_config())  # calendar ids keyed as `plan` keys them
    day = parse_on(on, order=cfg.date_order)
    n_jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    if not 1 <= n_jobs <= 64:
        raise UsageError(f"--jobs: expected 1-64, got {n_jobs}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir: {out_dir} is not a folder")
    if clinic_calendar is not None:
        _check_clinic_calendar(clinic_calendar, out_dir)
    register: Register | None = None
    stream = _open(source)
    lock: int | None = None
    manifest: Manifest | None = None
    try:
        seen: dict[str, int] = {}  # what reading the list met (rows read as Windows-1252)
        header, rows = core_rows.read_rows(stream, seen)
        screening = catalog.load_screening(protocol, cfg.protocols_dir)
        read = core_rows.check_header(header, screening.ids)
        if book:  # opened (created on first use) once the list is known to be usable
            from needlecli.cli.register import for_writing

            register = for_writing(cfg)
        header, screened = read.columns, read.screened
        if include_name and not {"name", "first_name", "last_name"} & set(header) and not json_out:
            print("needle: note: --include-name: the list has no name column (name, or First Name and Last Name): "
                  "no names are shown", file=sys.stderr)  # fmt: skip
        if read.ignored and not json_out:
            columns = "columns" if len(read.ignored) > 1 else "column"
            names = ", ".join(read.ignored)
            print(f"needle: note: ignoring {len(read.ignored)} {columns} needle does not use: {names}", file=sys.stderr)
        run_notes: tuple[str, ...] = ()
        if cfg.holidays:  # an unknown country is one error for the run, not one per row
            from needlecli.clinic import public_holidays
            from needlecli.planning import region_note

            public_holidays(cfg.holidays, [day.year], "config clinic.holidays")
            regions = region_note(cfg.holidays, "config clinic.holidays", day)  # once, not once a row
            run_notes = (regions,) if regions else ()
            for note in run_notes:
                print(f"needle: note: {note}", file=sys.stderr)
        from needlecli.keys import commit

        commit()  # the files carry calendar ids: a key made for this run is written now (not on a bad header)
        lock, empty = engine.open_folder(out_dir, fmt)
        ctx = Context(
            on=day,
            fmt=fmt,
            out_dir=out_dir,
            header=header,
            screening=screening if screened else None,
            config=cfg,
            include_name=include_name,
            boosters=boosters,
            stamp=stamp_of(on, cfg.date_order),
            clinic_calendar=clinic_calendar is not None,
            empty_folder=empty,
            allow_past=allow_past,
            run_notes=run_notes,
            register=register.path if register is not None else None,
        )
        # Booking re-plans every row: a file kept from an earlier run could miss a booking made since.
        manifest = Manifest.open(out_dir, cfg.uid_key or "") if register is None else None
        places: Counter[str] | None = Counter() if register is None and cfg.booking_slots else None
        from needlecli.cli.common import sigterm_as_interrupt
        from needlecli.errors import interrupt_code

        try:
            with sigterm_as_interrupt():
                counts = _run(ctx, rows, n_jobs, quiet, json_out, source, manifest, lock is not None,
                              clinic_calendar, register, places)  # fmt: skip
        except KeyboardInterrupt as exc:
            print(
                "needle: batch interrupted; the files written so far are whole, summary.csv was not "
                "written; run the same command again to complete the job",
                file=sys.stderr,
            )
            raise typer.Exit(interrupt_code(exc)) from None
    finally:
        if register is not None:
            register.close()
        if manifest is not None:
            manifest.close()
        if lock is not None:
            folder.unlock_folder(lock)
        if stream is not sys.stdin:
            stream.close()
    reused = counts.pop("reused")
    crowded = _crowded(places, cfg.capacity) if places else None
    if crowded and not quiet:
        from needlecli.cli import for_people

        print(f"needle: note: {for_people(crowded, cfg.date_order)}", file=sys.stderr)
    if seen.get("windows-1252") and not quiet:
        lines = seen["windows-1252"]
        print(f"needle: note: {source}: not UTF-8; read {lines} line(s) as Windows-1252 (Excel's plain 'CSV'): "
              "check accented names in the files, or save the list as 'CSV UTF-8'", file=sys.stderr)  # fmt: skip
    if not quiet and not json_out:
        kept = f" ({reused} already current from an earlier run)" if reused else ""
        print(
            f"{counts['planned']} planned{kept}, {counts['refused']} refused by screening, {counts['error']} failed; "
            f"summary: {out_dir / 'summary.csv'}",
            file=sys.stderr,
        )
    raise typer.Exit(RowsFailed.exit_code if counts["error"] else 0)


def _crowded(places: Counter[str], capacity: int) -> str | None:
    """The run's one note when its sessions share a start beyond the clinic's capacity (without
    `--book` nothing places them: each row keeps its time)."""
    over = {at: n for at, n in places.items() if n > capacity}
    if not over:
        return None
    fullest = min(over, key=lambda at: (-over[at], at))  # the most patients; of those, the earliest
    day, time = fullest.split(" ")
    return (
        f"{len(over)} of {len(places)} session start times hold more patients than the clinic's capacity "
        f"({capacity}), the most {over[fullest]} on {day} at {time}: this run books nothing (use --book to "
        "put each session in a free slot: config slots, capacity)"
    )


def _check_clinic_calendar(path: Path, out_dir: Path) -> None:
    """--clinic-calendar: a file (or device) outside --out-dir, in a folder that exists."""
    from needlecli.records import writes_in_place

    if str(path) == "-":
        raise UsageError("--clinic-calendar: give a file name such as clinic.ics (or /dev/stdout)")
    if writes_in_place(path):
        return
    if path.is_dir():
        raise UsageError(f"--clinic-calendar: {path} is a folder; give a file name such as clinic.ics")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"--clinic-calendar: folder {folder} does not exist")
    if path.suffix.lower() != ".ics":
        raise UsageError(f"--clinic-calendar: {path} should end in .ics (it is a calendar file)")
    # A link is written through (records.write_atomic): what counts is where it points.
    target = Path(os.path.realpath(path))
    for where in {folder, target.parent}:
        with contextlib.suppress(OSError):
            if out_dir.exists() and os.path.samefile(where, out_dir):
                raise UsageError(
                    "--clinic-calendar: write it outside --out-dir (that folder holds one file per patient)"
                )


def _open(source: str) -> TextIO:
    import io

    if source == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline="")
    path = Path(source)
    try:
        return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{source}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise UsageError(f"{source}: cannot read: {exc.strerror or exc}") from None
    except ValueError:
        raise UsageError(f"{source!r}: not a usable file name") from None


def _count_lines(source: str) -> int | None:
    """Rows to expect (for the progress bar's ETA), counted without holding the file.

    Only for a regular file: a pipe or FIFO given by path (`<(...)`, /dev/stdin) can be read once.
    """
    import stat

    if source == "-":
        return None
    try:
        if not stat.S_ISREG(os.stat(source).st_mode):
            return None
        n = 0
        with open(source, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                n += block.count(b"\n")
    except (OSError, ValueError):
        return None
    return max(n - 1, 0) or None


def _progress(quiet: bool) -> Progress | None:
    """A rich progress bar with rate and ETA, only on a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:.0f} rows/s" if task.speed else "", style="progress.data.speed")

    return Progress(
        TextColumn("planning"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _run(
    ctx: Context,
    rows: Iterator[Row],
    n_jobs: int,
    quiet: bool,
    json_out: bool,
    source: str,
    manifest: Manifest | None,
    locked: bool,
    clinic_calendar: Path | None,
    register: Register | None = None,
    places: Counter[str] | None = None,
) -> dict[str, int]:
    """`engine.run` with what the terminal shows as it goes; the --json document once it completes."""
    import json
    import tempfile

    from needlecli.batch import engine

    progress = _progress(quiet or json_out)
    rows_json = tempfile.TemporaryFile("w+", encoding="utf-8", dir=ctx.out_dir) if json_out else None  # noqa: SIM115
    try:
        if progress:
            progress.start()
        show = _shown(progress, _count_lines(source), quiet, rows_json)
        counts = engine.run(
            ctx,
            rows,
            jobs=n_jobs,
            manifest=manifest,
            locked=locked,
            clinic_calendar=clinic_calendar,
            on_result=show,
            register=register,
            key=ctx.config.uid_key or "",
            places=places,
        )
        if rows_json is not None:
            rows_json.seek(0)
            sys.stdout.write('{"rows": [')
            for chunk in iter(lambda: rows_json.read(1 << 16), ""):
                sys.stdout.write(chunk)
            reused = counts["reused"]
            rest = {k: v for k, v in counts.items() if k != "reused"}
            sys.stdout.write('\n], "counts": ' + json.dumps(rest) + ', "reused": ' + str(reused) + "}\n")
    finally:
        if progress:
            progress.stop()
        if rows_json is not None:
            rows_json.close()
    return counts


def _shown(
    progress: Progress | None, total: int | None, quiet_errors: bool, rows_json: IO[str] | None
) -> Callable[[RowResult], None]:
    """What the terminal shows of each row as the run goes: the progress bar, the row's error line,
    and (with --json) its line of the rows document, spooled until the run completes."""
    import json

    from needlecli.cli import typed_arguments
    from needlecli.config import shown_order
    from needlecli.dates import shown

    order = shown_order()  # the row's error line for people; summary.csv and --json keep ISO
    typed = typed_arguments()
    task = progress.add_task("plan", total=total) if progress else None
    seen = 0

    def show(result: RowResult) -> None:
        nonlocal seen
        seen += 1
        if result.status == "error" and not quiet_errors:
            line = shown(one_line(result.error), order, typed=(result.patient_id, *typed))
            if progress:
                progress.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=sys.stderr)
        if rows_json is not None:
            rows_json.write(("," if seen > 1 else "") + "\n  " + json.dumps(result.as_dict()))
        if progress and task is not None:
            progress.advance(task)

    return show
