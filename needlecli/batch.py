"""Batch planning over a clinic's CSV list: streaming, per-row errors, safe file names.

Rows are read one at a time (memory stays flat), each row becomes a request,
is screened when the screening columns are present, planned and exported to
its own file (atomic, mode 0600), and reported as one summary line. A bad row
is `row N: reason` (the header is row 1, as a spreadsheet numbers it); the
other rows still run. Worker processes plan and write; the parent keeps input
order and writes the summary.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import difflib
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from needlecli.answers import BadAnswer, parse_date, parse_text
from needlecli.errors import NeedleError, UsageError
from needlecli.model import ClinicRules, PlanRequest, ScreeningProtocol

REQUIRED_COLUMNS = ("patient_id", "indication", "start")
OPTIONAL_COLUMNS = ("name", "sessions", "interval_weeks", "time", "tz")
FORMATS = ("ics", "md", "json", "toml")
SUMMARY_FIELDS = ("row", "patient_id", "status", "verdict", "first_session", "last_session", "file", "error")
MAX_ID = 100


@dataclass(frozen=True)
class RowResult:
    row: int
    patient_id: str
    status: str  # planned | refused | error
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


def read_rows(stream: IO[str]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(header, iterator of (spreadsheet row number, cells)); blank lines are skipped but counted."""
    first = stream.readline()
    while first and not first.strip():
        first = stream.readline()
    if not first:
        raise UsageError("the CSV is empty (it needs a header row: patient_id,indication,start)")
    delimiter = sniff_delimiter(first)
    header = [h.strip().lstrip("\ufeff").lower() for h in next(csv.reader([first], delimiter=delimiter))]

    def rows() -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(stream, delimiter=delimiter)
        number = 1
        for cells in reader:
            number += 1
            if not cells or all(not c.strip() for c in cells):
                continue
            yield number, [c.strip() for c in cells]

    return header, rows()


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
    screened: bool
    clinic_days: frozenset[int]
    closed: frozenset[dt.date]
    holidays: str | None
    default_time: dt.time | None
    default_tz: str | None
    duration: int
    include_name: bool = False

    def __post_init__(self) -> None:
        from needlecli import catalog

        self._protocols: dict[str, Any] = {}
        self._holidays: dict[tuple[str, int, int], frozenset[dt.date]] = {}
        self.screening: ScreeningProtocol | None = catalog.load_screening() if self.screened else None
        self.catalog = catalog

    def protocol(self, name: str) -> Any:
        if name not in self._protocols:
            if name not in self.catalog.INDICATIONS and name not in self.catalog.bundled_names():
                raise UsageError(f"unknown indication {name!r} (use one of {', '.join(self.catalog.INDICATIONS)})")
            self._protocols[name] = self.catalog.load_treatment(name)
        return self._protocols[name]

    def holiday_dates(self, years: range) -> frozenset[dt.date]:
        if not self.holidays:
            return frozenset()
        key = (self.holidays, years.start, years.stop)
        if key not in self._holidays:
            from needlecli.clinic import public_holidays

            self._holidays[key] = public_holidays(self.holidays, years, "clinic holidays")
        return self._holidays[key]


def _int(value: str, column: str) -> int:
    if not (value.isascii() and value.isdecimal()):
        raise UsageError(f"{column}: {value!r} is not a whole number")
    return int(value)


def plan_row(ctx: Context, number: int, cells: list[str]) -> tuple[RowResult, bytes | None, str]:
    """Plan one row: (summary, file bytes or None, file name). Never raises for bad input."""
    idx = ctx.header.index("patient_id")
    pid = cells[idx] if idx < len(cells) else ""
    try:
        if len(cells) < len(ctx.header):
            raise UsageError(f"missing column {ctx.header[len(cells)]!r} ({len(cells)} of {len(ctx.header)} cells)")
        if len(cells) > len(ctx.header):
            raise UsageError(f"unknown column: {len(cells)} cells but the header has {len(ctx.header)}")
        row = dict(zip(ctx.header, cells, strict=True))
        pid = row["patient_id"]
        return _plan(ctx, number, row)
    except (NeedleError, BadAnswer) as exc:
        return RowResult(number, pid, "error", error=f"row {number}: {exc}"), None, ""


def _plan(ctx: Context, number: int, row: dict[str, str]) -> tuple[RowResult, bytes | None, str]:
    from needlecli import clinic, scheduling
    from needlecli.cli.common import check_patient
    from needlecli.plans import plan_document, to_json_ready, to_toml_ready

    pid = check_patient(row["patient_id"], "patient_id") or ""
    protocol = ctx.protocol(row["indication"])
    try:
        start = parse_date(row["start"])
    except BadAnswer as exc:
        raise UsageError(f"start: {row['start']!r} is {exc}") from None
    sessions = _int(row["sessions"], "sessions") if row.get("sessions") else protocol.sessions.default
    weeks = _int(row["interval_weeks"], "interval_weeks") if row.get("interval_weeks") else None
    weeks = weeks if weeks is not None else protocol.interval_weeks.default
    at = clinic.parse_time(row["time"], "time") if row.get("time") else ctx.default_time
    tz = clinic.check_zone(row["tz"], "tz") if row.get("tz") else (ctx.default_tz or "UTC")
    verdict = ""
    not_before: dt.date | None = None
    uses_retinoids: bool | None = None
    pih = False
    if ctx.screening is not None:
        from needlecli.screening import evaluate

        answers = {}
        for q in ctx.screening.questions:
            try:
                answers[q.id] = parse_text(q, row[q.id])
            except BadAnswer as exc:
                raise UsageError(f"{q.id}: {exc}") from None
        result = evaluate(ctx.screening, answers, ctx.on)
        verdict = result.verdict
        if verdict == "contraindicated" or (verdict == "defer" and result.earliest_date is None):
            why = "contraindicated" if verdict == "contraindicated" else "deferred with no end date (re-assess)"
            return RowResult(number, pid, "refused", verdict=verdict, error=f"no plan: {why}"), None, ""
        not_before = result.earliest_date if verdict == "defer" else None
        retinoids = answers.get("uses_retinoids")
        uses_retinoids = retinoids if isinstance(retinoids, bool) else None
        pih = answers.get("fitzpatrick") in protocol.pih_fitzpatrick
    request = PlanRequest(
        patient=pid,
        indication=protocol.info.name,
        start=start,
        sessions=sessions,
        interval_weeks=weeks,
        clinic=ClinicRules(ctx.clinic_days, ctx.closed, ctx.holidays),
        not_before=not_before,
        uses_retinoids=uses_retinoids,
        pih=pih,
        time=at,
        duration_minutes=ctx.duration,
        tz=tz,
    )
    scheduling.validate_request(protocol, request)
    if ctx.holidays:
        first = max(start, not_before or start)
        days = sessions * protocol.interval_weeks.max * 7
        years = range(first.year, first.year + days // 365 + 2)
        request = dataclasses.replace(
            request, clinic=ClinicRules(ctx.clinic_days, ctx.closed | ctx.holiday_dates(years), ctx.holidays)
        )
    plan = scheduling.build_plan(protocol, request, ctx.on)
    name = f"{safe_name(pid)}.{ctx.fmt}"
    if ctx.fmt == "ics":
        from needlecli.render.ics import plan_calendar

        data = plan_calendar(plan, name=(row.get("name") or None) if ctx.include_name else None)
    elif ctx.fmt == "md":
        from needlecli.render.markdown import plan_markdown

        data = plan_markdown(plan).encode("utf-8")
    elif ctx.fmt == "json":
        data = (json.dumps(to_json_ready(plan_document(plan)), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    else:
        import tomli_w

        data = tomli_w.dumps(to_toml_ready(plan_document(plan))).encode("utf-8")
    return (
        RowResult(
            number,
            pid,
            "planned",
            verdict=verdict,
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


#: (row number, cells, the file name this row may write, or an error if its name is taken)
Task = tuple[int, list[str], str, str]


def claim_names(ctx: Context, rows: Iterable[tuple[int, list[str]]]) -> Iterator[Task]:
    """Give each row its file name, in input order, in one place: a name already taken by an
    earlier row (a duplicate id, or two ids that clean up alike) is an error, never an overwrite."""
    idx = ctx.header.index("patient_id")
    taken: dict[str, int] = {}
    for number, cells in rows:
        pid = cells[idx] if idx < len(cells) else ""
        name = f"{safe_name(pid)}.{ctx.fmt}"
        if name in taken:
            yield number, cells, name, f"row {number}: patient_id gives the same file as row {taken[name]} ({name})"
        else:
            taken[name] = number
            yield number, cells, name, ""


def run_task(ctx: Context, task: Task) -> RowResult:
    """Plan one row and write its file (atomic, 0600); never raises for bad input or a failed write."""
    number, cells, name, clash = task
    if clash:
        pid = cells[ctx.header.index("patient_id")] if cells else ""
        return RowResult(number, pid, "error", error=clash)
    result, data, _ = plan_row(ctx, number, cells)
    if data is None:
        return result
    from needlecli.records import write_atomic

    try:
        write_atomic(ctx.out_dir / name, data)
    except NeedleError as exc:  # e.g. a full disk: this row failed, the run and its summary go on
        return RowResult(number, result.patient_id, "error", error=f"row {number}: {exc}")
    return dataclasses.replace(result, file=name)


def work(task: Task) -> RowResult:
    """run_task in a worker process (the context was set by init_worker)."""
    assert _CTX is not None
    return run_task(_CTX, task)


def summary_csv_line(result: RowResult) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([getattr(result, f) for f in SUMMARY_FIELDS])
    return buf.getvalue()
