"""Batch planning over a clinic's CSV list: streaming, per-row errors, safe file names.

Rows are read one at a time (memory stays flat), each row becomes a request,
is screened when the screening columns are present, planned and exported to
its own file (atomic, mode 0600), and reported as one summary line. A bad row
is `row N: reason` (the header is row 1, as a spreadsheet numbers it); the
other rows still run. Worker processes plan and write; the parent keeps input
order and writes the summary.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import difflib
import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from needlecli import clinic, export, planning
from needlecli.answers import BadAnswer, parse_date, parse_text
from needlecli.errors import NeedleError, ScreeningRefusal, UsageError
from needlecli.model import ExportOptions, ScreeningProtocol, TreatmentProtocol

if TYPE_CHECKING:
    from needlecli.config import Config

REQUIRED_COLUMNS = ("patient_id", "indication", "start")
OPTIONAL_COLUMNS = ("name", "sessions", "interval_weeks", "time", "tz")
SUMMARY_FIELDS = ("row", "patient_id", "status", "verdict", "first_session", "last_session", "file", "error")
Status = Literal["planned", "refused", "error"]


@dataclass(frozen=True)
class RowResult:
    row: int
    patient_id: str
    status: Status
    verdict: str = ""
    first_session: str = ""
    last_session: str = ""
    file: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------- reading


def sniff_delimiter(header_line: str) -> str:
    """`;` when the header has more semicolons than commas (European spreadsheets), else `,`."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


#: A row the reader could not split into cells: (row number, None, reason).
Row = tuple[int, list[str] | None, str]
MAX_CELL = 10_000


def _column_name(text: str) -> str:
    """`Patient ID`, ` patient_id `, `PATIENT-ID` -> `patient_id`."""
    return re.sub(r"[\s-]+", "_", text.strip().lstrip("\ufeff").lower())


def read_rows(stream: IO[str]) -> tuple[list[str], Iterator[Row]]:
    """(header, iterator of (spreadsheet row number, cells or None, problem)).

    Blank lines are skipped but counted, so N is the row a spreadsheet shows
    (the header is row 1 unless blank lines come before it). Empty trailing
    columns, as Excel adds them, are dropped. Text that is not UTF-8 (the
    stream decodes with surrogateescape) or a cell too large to be real makes
    that row a problem, never the end of the run.
    """
    number = 1
    first = stream.readline()
    while first and not first.strip():
        number += 1
        first = stream.readline()
    if not first:
        raise UsageError("the CSV is empty (it needs a header row: patient_id,indication,start)")
    if "\x00" in first or not _utf8(first):
        raise UsageError("the CSV is not UTF-8 text (save it as 'CSV UTF-8' from the spreadsheet)")
    delimiter = sniff_delimiter(first)
    header = [_column_name(h) for h in next(csv.reader([first], delimiter=delimiter))]
    while header and not header[-1]:
        header.pop()
    header_row = number

    def rows() -> Iterator[Row]:
        reader = csv.reader(stream, delimiter=delimiter)
        n = header_row
        while True:
            n += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield n, None, f"row {n}: unreadable CSV ({exc})"
                continue
            if not cells or all(not c.strip() for c in cells):
                continue
            cells = [c.strip() for c in cells]
            while len(cells) > len(header) and not cells[-1]:
                cells.pop()  # trailing empty cells (Excel)
            if any(len(c) > MAX_CELL for c in cells):
                yield n, None, f"row {n}: a cell is longer than {MAX_CELL} characters"
            elif not all(_utf8(c) for c in cells):
                yield n, None, f"row {n}: not UTF-8 text (save the CSV as 'CSV UTF-8')"
            else:
                yield n, cells, ""

    return header, rows()


def _utf8(text: str) -> bool:
    """False when the text holds bytes that were not UTF-8 (decoded with surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_header(header: list[str], screening_ids: Iterable[str]) -> bool:
    """Validate the header; True when the screening columns are present (all of them)."""
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *screening_ids)
    seen: set[str] = set()
    for col in header:
        if not col:
            raise UsageError("the header has an empty column name")
        if col in seen:
            raise UsageError(f"column {col!r} appears twice in the header")
        seen.add(col)
        if col not in known:
            hint = difflib.get_close_matches(col, known, n=1)
            raise UsageError(f"unknown column {col!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise UsageError(f"missing column(s): {', '.join(missing)}")
    screening = [q for q in screening_ids if q in seen]
    if screening and len(screening) != len(tuple(screening_ids)):
        absent = [q for q in screening_ids if q not in seen]
        raise UsageError(f"screening columns must be all or none; missing: {', '.join(absent)}")
    return bool(screening)


# ----------------------------------------------------------------- file names


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(patient_id: str) -> str:
    """A file name stem from a patient id: no separators, no `..`, not hidden, bounded.

    When anything had to change, a short hash of the original id is appended so
    that two ids that clean up the same never share a file.
    """
    stem = _SAFE.sub("_", patient_id).strip("._-")[:60] or "patient"
    if stem != patient_id:
        digest = hashlib.sha256(patient_id.encode("utf-8")).hexdigest()[:8]
        stem = f"{stem}-{digest}"
    return stem


# ----------------------------------------------------------------- planning one row


@dataclass
class Context:
    """What every row needs; built once per process."""

    on: dt.date
    fmt: str
    out_dir: Path
    header: list[str]
    #: The screening protocol when the list has its screening columns, else None.
    screening: ScreeningProtocol | None
    config: Config
    include_name: bool = False

    def __post_init__(self) -> None:
        from needlecli import catalog

        self._protocols: dict[str, TreatmentProtocol] = {}
        self.catalog = catalog

    def protocol(self, name: str) -> TreatmentProtocol:
        if name not in self._protocols:
            protocols_dir = self.config.protocols_dir
            if name not in self.catalog.INDICATIONS and name not in self.catalog.names(protocols_dir):
                raise UsageError(f"unknown indication {name!r} (use one of {', '.join(self.catalog.INDICATIONS)})")
            self._protocols[name] = self.catalog.load_treatment(name, protocols_dir)
        return self._protocols[name]


def _int(value: str, column: str) -> int:
    if not (value.isascii() and value.isdecimal()):
        raise UsageError(f"{column}: {value!r} is not a whole number")
    return int(value)


def patient_of(ctx: Context, cells: list[str] | None) -> str:
    idx = ctx.header.index("patient_id")
    return cells[idx] if cells is not None and idx < len(cells) else ""


def plan_row(ctx: Context, number: int, cells: list[str]) -> tuple[RowResult, bytes | None, str]:
    """Plan one row: (summary, file bytes or None, file name). Never raises."""
    pid = patient_of(ctx, cells)
    try:
        if len(cells) < len(ctx.header):
            absent = ctx.header[len(cells) :]
            questions = ctx.screening.ids if ctx.screening is not None else ()
            required = [c for c in absent if c in REQUIRED_COLUMNS or c in questions]
            if required:
                raise UsageError(f"missing column {required[0]!r} ({len(cells)} of {len(ctx.header)} cells)")
            cells = cells + [""] * len(absent)  # optional trailing cells left out: empty
        if len(cells) > len(ctx.header):
            raise UsageError(f"unknown column: {len(cells)} cells but the header has {len(ctx.header)}")
        row = dict(zip(ctx.header, cells, strict=True))
        return _plan(ctx, number, row)
    except (NeedleError, BadAnswer) as exc:
        return RowResult(number, pid, "error", error=f"row {number}: {exc}"), None, ""
    except Exception as exc:  # a bug must cost one row, not the run (and never print patient data)
        error = f"row {number}: internal error ({type(exc).__name__}); please report it"
        return RowResult(number, pid, "error", error=error), None, ""


def _plan(ctx: Context, number: int, row: dict[str, str]) -> tuple[RowResult, bytes | None, str]:
    pid = planning.check_patient(row["patient_id"], "patient_id") or ""
    if ctx.include_name and row.get("name") and not row["name"].isprintable():
        raise UsageError("name: must be one line of printable text")
    protocol = ctx.protocol(row["indication"])
    try:
        start = parse_date(row["start"])
    except BadAnswer as exc:
        raise UsageError(f"start: {row['start']!r} is {exc}") from None
    flags = planning.PlanFlags(
        patient=pid,
        start=start,
        sessions=_int(row["sessions"], "sessions") if row.get("sessions") else None,
        interval_weeks=_int(row["interval_weeks"], "interval_weeks") if row.get("interval_weeks") else None,
        time=clinic.parse_time(row["time"], "time") if row.get("time") else None,
        tz=clinic.check_zone(row["tz"], "tz") if row.get("tz") else None,
    )
    terms = None
    if ctx.screening is not None:
        answers = {}
        for q in ctx.screening.questions:
            try:
                answers[q.id] = parse_text(q, row[q.id])
            except BadAnswer as exc:
                raise UsageError(f"{q.id}: {exc}") from None
        terms = planning.screen_answers(ctx.screening, answers, ctx.on)
    try:
        plan = planning.new_plan(protocol, flags, ctx.config, ctx.on, screening=terms)
    except ScreeningRefusal:
        assert terms is not None
        why = "contraindicated" if terms.refusal == "contraindicated" else "deferred with no end date (re-assess)"
        error = f"no plan: {why} ({', '.join(terms.refusing_findings())})"
        return RowResult(number, pid, "refused", verdict=terms.verdict, error=error), None, ""
    name = f"{safe_name(pid)}.{ctx.fmt}"
    shown = (row.get("name") or None) if ctx.include_name else None
    data = export.render(ctx.fmt, plan, ExportOptions(document="plan", name=shown))
    return (
        RowResult(
            number,
            pid,
            "planned",
            verdict=terms.verdict if terms else "",
            first_session=plan.sessions[0].date.isoformat(),
            last_session=plan.sessions[-1].date.isoformat(),
            file=name,
        ),
        data,
        name,
    )


# ----------------------------------------------------------------- the worker side

_CTX: Context | None = None


def init_worker(ctx: Context) -> None:
    """Set up a worker: the parent handles Ctrl-C (and stops the workers), so workers ignore it."""
    import signal

    global _CTX
    _CTX = ctx
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # pool.terminate() must simply end a worker


#: (row number, cells or None, the file name this row owns, or an error for the row)
Task = tuple[int, list[str] | None, str, str]


def claim_names(ctx: Context, rows: Iterable[Row]) -> Iterator[Task]:
    """Give each row its file name, in input order, in one place: a name already taken by an
    earlier row (a duplicate id, or two ids that clean up alike) is an error, never an overwrite."""
    taken: dict[str, int] = {}
    for number, cells, problem in rows:
        name = f"{safe_name(patient_of(ctx, cells))}.{ctx.fmt}" if cells is not None else ""
        if problem or cells is None:
            yield number, cells, "", problem
        elif name in taken:
            yield number, cells, "", f"row {number}: patient_id gives the same file as row {taken[name]} ({name})"
        else:
            taken[name] = number
            yield number, cells, name, ""


def run_task(ctx: Context, task: Task) -> RowResult:
    """Plan one row and write its file (atomic, 0600); never raises.

    When a row that owns a file name is refused by screening or cannot be planned any more,
    a file left under that name by an earlier run is removed: a folder of plans must never
    hold a stale plan for a patient the list no longer plans (a new contraindication, say).
    A failed write keeps the earlier file, as write_atomic promises.
    """
    number, cells, name, problem = task
    if problem or cells is None:
        return RowResult(number, patient_of(ctx, cells), "error", error=problem)
    result, data, _ = plan_row(ctx, number, cells)
    if data is None:
        if _remove_stale(ctx.out_dir / name):
            result = dataclasses.replace(result, error=f"{result.error} (removed {name} from an earlier run)")
        return result
    from needlecli.records import write_atomic

    try:
        write_atomic(ctx.out_dir / name, data)
    except NeedleError as exc:  # e.g. a full disk: this row failed, the run and its summary go on
        return RowResult(number, result.patient_id, "error", error=f"row {number}: {exc}")
    return dataclasses.replace(result, file=name)


def _remove_stale(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True


_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def remove_temp_files(folder: Path) -> int:
    """Remove write_atomic's hidden temp files left by a run that was killed mid-write."""
    removed = 0
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) and _TEMP.match(entry.name):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


def work(task: Task) -> RowResult:
    """run_task in a worker process (the context was set by init_worker)."""
    assert _CTX is not None
    return run_task(_CTX, task)


def summary_csv_line(result: RowResult) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([getattr(result, f) for f in SUMMARY_FIELDS])
    return buf.getvalue()
