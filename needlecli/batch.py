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
import json
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Container, Hashable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple

from needlecli import clinic, export, identity, planning
from needlecli.answers import parse_text
from needlecli.dates import BadAnswer, parse_date
from needlecli.errors import NeedleError, ScreeningRefusal, UsageError
from needlecli.model import ExportOptions, Plan, ScreeningProtocol, TreatmentProtocol

if TYPE_CHECKING:
    from needlecli.config import Config
    from needlecli.render.ics import CalendarHistory

REQUIRED_COLUMNS = ("patient_id", "indication", "start")
OPTIONAL_COLUMNS = ("name", "sessions", "interval_weeks", "time", "tz")
#: summary.csv's columns, in order (new ones go at the end: scripts read the columns they know by position).
SUMMARY_FIELDS = (
    "row",
    "patient_id",
    "status",
    "verdict",
    "first_session",
    "last_session",
    "file",
    "error",
    "notes",
)
Status = Literal["planned", "refused", "error"]


@dataclass(frozen=True)
class RowResult:
    row: int
    patient_id: str
    status: Status
    _: dataclasses.KW_ONLY  # the rest by name: fourteen positional strings were easy to swap
    verdict: str = ""
    first_session: str = ""
    last_session: str = ""
    file: str = ""
    error: str = ""
    #: The plan's notes and what planning said of the row (a pause already under way, a caution ...).
    notes: tuple[str, ...] = ()
    # Not in the summary: for the run's own book-keeping (the reuse manifest).
    #: The file name the row owns (planned or not), the row's reuse key, the sha256 of what it wrote.
    name: str = ""
    key: str = ""
    digest: str = ""
    #: True when the file of an earlier run was current and kept instead of planned again.
    reused: bool = False
    #: What the next run rebuilds over (`history_text`), "" when nothing; the clinic calendar's events.
    history: str = ""
    clinic: bytes = b""
    #: ``history`` as the manifest keeps it (`_pack`), when a worker process packed it (then
    #: ``history`` is ""): the compression is done beside the planning, not in the parent.
    packed: bytes = b""

    def as_dict(self) -> dict[str, Any]:
        """The summary line for --json: what is missing is null (summary.csv leaves it empty); the
        notes are a list (summary.csv joins them with `; `)."""
        doc = {f: (getattr(self, f) if getattr(self, f) != "" else None) for f in SUMMARY_FIELDS if f != "notes"}
        return {**doc, "notes": list(self.notes)}


# ----------------------------------------------------------------- reading


def sniff_delimiter(header_line: str) -> str:
    """`;` when the header has more semicolons than commas (European spreadsheets), else `,`."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


#: A row: (spreadsheet row number, cells, problem). With a problem the cells are those that could be
#: read (maybe only the first few, maybe None), so the row can still name its patient.
Row = tuple[int, list[str] | None, str]
MAX_CELL = 10_000
#: A quoted cell may span this many lines; reading a physical line stops at MAX_LINE characters.
MAX_CELL_LINES = 20
MAX_LINE = 100_000


#: Header names practice systems give needle's columns (after `_column_name`'s clean-up).
HEADER_ALIASES = {
    "patient": "patient_id",
    "patient_number": "patient_id",
    "patient_no": "patient_id",
    "start_date": "start",
    "first_session": "start",
    "first_session_date": "start",
    "patient_name": "name",
    "full_name": "name",
    "number_of_sessions": "sessions",
    "session_count": "sessions",
    "interval": "interval_weeks",
    "time_zone": "tz",
    "timezone": "tz",
    "appointment_time": "time",
    "session_time": "time",
    "start_time": "time",
}


def _column_name(text: str) -> str:
    """`Patient ID`, ` patient_id `, `PATIENT-ID` -> `patient_id`; `Start Date` -> `start`."""
    name = re.sub(r"[\s-]+", "_", text.strip().lstrip("\ufeff").casefold())
    return HEADER_ALIASES.get(name, name)


class _Lines:
    """Physical lines of at most MAX_LINE characters (a longer one is cut short and flagged, the
    rest of it skipped), with push-back so that reading can resume on any line already read."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.back: list[tuple[str, bool]] = []  # a stack: the next line is last
        self.eat_lf = False

    def next(self) -> tuple[str, bool] | None:
        """(line, longer than MAX_LINE), or None at the end."""
        if self.back:
            return self.back.pop()
        line = self.stream.readline(MAX_LINE + 1)
        if self.eat_lf:  # the `\n` of a `\r\n` that ended a line too long to keep
            self.eat_lf = False
            if line == "\n":
                line = self.stream.readline(MAX_LINE + 1)
        if not line:
            return None
        if len(line) <= MAX_LINE:
            return line, False
        tail = line
        while tail and tail[-1] not in "\r\n":
            tail = self.stream.readline(1 << 16)
        self.eat_lf = tail.endswith("\r")
        return line[:MAX_LINE], True

    def push_back(self, lines: list[tuple[str, bool]]) -> None:
        self.back.extend(reversed(lines))


def _leading_cells(text: str, delimiter: str) -> list[str] | None:
    """The cells of a line that ends in the middle of a cell (cut short, or an unclosed quote):
    every cell but the last, which may be incomplete."""
    try:
        cells = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:
        return None
    return [c.strip() for c in cells[:-1]]


def read_rows(stream: IO[str]) -> tuple[list[str], Iterator[Row]]:
    """(header, iterator of (spreadsheet row number, cells, problem)).

    Blank lines are skipped but counted, so N is the row a spreadsheet shows
    (the header is row 1 unless blank lines come before it). Empty trailing
    columns, as Excel adds them, are dropped. Text that is not UTF-8 (the
    stream decodes with surrogateescape), a cell too large to be real, a line over
    MAX_LINE characters or a quoted cell that does not close within MAX_CELL_LINES
    lines (a stray quote) make that row a problem, never the end of the run: reading
    resumes on the line after the one where the row started, so later rows keep
    their numbers. Memory is bounded by MAX_CELL_LINES * MAX_LINE.
    """
    lines = _Lines(stream)
    number = 1
    got = lines.next()
    while got is not None and not got[1] and not got[0].strip():
        number += 1
        got = lines.next()
    if got is None:
        raise UsageError("the CSV is empty (it needs a header row: patient_id,indication,start)")
    first, too_long = got
    if too_long:
        raise UsageError(f"the header line is longer than {MAX_LINE} characters (is this the clinic's CSV list?)")
    if "\x00" in first or not _utf8(first):
        raise UsageError("the CSV is not UTF-8 text (save it as 'CSV UTF-8' from the spreadsheet)")
    delimiter = sniff_delimiter(first)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([first], delimiter=delimiter))]
    except csv.Error as exc:
        raise UsageError(f"the header row is not readable CSV ({exc})") from None
    while header and not header[-1]:
        header.pop()
    header_row = number

    def record(line: str) -> tuple[list[str] | None, str]:
        """Read one record that starts with ``line``: (cells, problem); on a problem, the lines
        read after ``line`` are pushed back to be read again as rows of their own."""
        if '"' not in line:
            return line.rstrip("\r\n").split(delimiter), ""
        taken: list[tuple[str, bool]] = []
        why = ""

        def feed() -> Iterator[str]:
            nonlocal why
            yield line
            size = 0
            while True:  # the csv module asks for another line only while a quoted cell is open
                if len(taken) + 1 >= MAX_CELL_LINES:
                    why = f"a quoted cell is not closed within {MAX_CELL_LINES} lines (a stray quote?)"
                    return
                if size > MAX_CELL:
                    why = f"a quoted cell is longer than {MAX_CELL} characters"
                    return
                nxt = lines.next()
                if nxt is None:
                    why = "a quoted cell is not closed (a stray quote?)"
                    return
                taken.append(nxt)
                if nxt[1]:
                    why = f"a quoted cell is longer than {MAX_CELL} characters"
                    return
                size += len(nxt[0])
                yield nxt[0]

        try:
            cells: list[str] | None = next(csv.reader(feed(), delimiter=delimiter), [])
        except csv.Error as exc:
            cells, why = None, f"unreadable CSV ({exc})"
        if why:
            lines.push_back(taken)
            return _leading_cells(line, delimiter), why
        return cells, ""

    def rows() -> Iterator[Row]:
        n = header_row
        while True:
            got = lines.next()
            if got is None:
                return
            n += 1
            line, too_long = got
            if too_long:
                yield n, _leading_cells(line, delimiter), f"row {n}: the line is longer than {MAX_LINE} characters"
                continue
            cells, problem = record(line)
            if problem:
                yield n, cells, f"row {n}: {problem}"
                continue
            assert cells is not None
            if not cells or all(not c.strip() for c in cells):
                continue
            cells = [c.strip() for c in cells]
            while len(cells) > len(header) and not cells[-1]:
                cells.pop()  # trailing empty cells (Excel)
            if any(len(c) > MAX_CELL for c in cells):
                yield n, cells, f"row {n}: a cell is longer than {MAX_CELL} characters"
            elif not all(_utf8(c) for c in cells):
                yield n, cells, f"row {n}: not UTF-8 text (save the CSV as 'CSV UTF-8')"
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


class Header(NamedTuple):
    #: Column names as needle reads them, one per cell (an ignored column: "" — never looked up).
    columns: list[str]
    #: True when the screening columns are present (all of them).
    screened: bool
    #: The columns needle does not use, as the file names them (with a "did you mean" when close).
    ignored: list[str]


def check_header(raw: list[str], screening_ids: Iterable[str]) -> Header:
    """Read the header: names in any case or spacing, practice-system aliases (`Start Date`);
    columns needle does not use (`First Name`, `DOB`) are ignored and named once."""
    ids = tuple(screening_ids)
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *ids)
    columns: list[str] = []
    ignored: list[str] = []
    first_of: dict[str, str] = {}
    for text in raw:
        col = _column_name(text)
        if not col:
            raise UsageError("the header has an empty column name")
        if col not in known:
            close = difflib.get_close_matches(col, known, n=1, cutoff=0.8)
            ignored.append(repr(text) + (f" (did you mean {close[0]!r}?)" if close else ""))
            columns.append("")
            continue
        if col in first_of:
            raise UsageError(f"column {col!r} appears twice in the header ({first_of[col]!r} and {text!r})")
        first_of[col] = text
        columns.append(col)
    missing = [c for c in REQUIRED_COLUMNS if c not in first_of]
    if missing:
        near = [
            h for h in raw if _column_name(h) not in known and difflib.get_close_matches(_column_name(h), missing, n=1)
        ]
        raise UsageError(
            f"missing column(s): {', '.join(missing)}" + (f" (is {near[0]!r} meant to be it?)" if near else "")
        )
    screening = [q for q in ids if q in first_of]
    near_questions = [
        (text, close[0])
        for text in raw
        if _column_name(text) not in known
        and (close := difflib.get_close_matches(_column_name(text), [q for q in ids if q not in first_of], 1, 0.8))
    ]
    if near_questions:
        # A misspelt screening header must never pass as "not screened": one, or all of them.
        text, qid = near_questions[0]
        more = f" (and {len(near_questions) - 1} more)" if len(near_questions) > 1 else ""
        raise UsageError(
            f"column {text!r} looks like the screening question {qid!r}{more}; fix the header (screening columns "
            "must be all or none, spelt as the question ids)"
        )
    if screening and len(screening) != len(ids):
        absent = [q for q in ids if q not in first_of]
        raise UsageError(f"screening columns must be all or none; missing: {', '.join(absent)}")
    return Header(columns, bool(screening), ignored)


# ----------------------------------------------------------------- file names


# ----------------------------------------------------------------- planning one row


#: New series a batch process keeps to plan and render once for every patient who gets the same,
#: and the most bytes of their files it keeps (a handout is about 40 KB, a calendar 15 KB).
SERIES = 256
SERIES_BYTES = 4 << 20


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
    #: When this run's revisions are made (DTSTAMP of a rebuilt plan); default midnight of ``on``.
    stamp: dt.datetime | None = None
    #: Render each planned patient's events for the clinic calendar (`--clinic-calendar`).
    clinic_calendar: bool = False
    #: The folder held no file of the run's format when the run (holding its lock) began: no row's
    #: name can have a calendar an earlier run wrote, so none is looked for (`holds_no_files`).
    empty_folder: bool = False
    #: Plan a row whose first session is before ``on`` (`--allow-past`); else that row is an error.
    allow_past: bool = False
    #: Notes said once for the whole run (the config's holidays country): not repeated in each row's.
    run_notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from needlecli import catalog

        self._protocols: dict[str, TreatmentProtocol] = {}
        self.catalog = catalog
        self._render: Callable[[Plan, ExportOptions], bytes] | None = None
        #: series key -> (the first patient's new plan, its file cut at its plan id, the row's notes):
        #: see series_key.
        self.series: dict[Hashable, tuple[Plan, tuple[bytes, ...], tuple[str, ...]]] = {}
        self._series_bytes = 0

    def render(self, plan: Plan, options: ExportOptions) -> bytes:
        """The file of one plan, by this process's renderer for the run's format (made on first use:
        for ICS one that keeps what it learns between patients)."""
        if self._render is None:
            self._render = export.EXPORTERS[self.fmt].renderer(many=True)
        return self._render(plan, options)

    def series_key(
        self, protocol: TreatmentProtocol, flags: planning.PlanFlags, terms: planning.ScreeningTerms | None
    ) -> Hashable | None:
        """What a new plan is computed from in this run, but the patient: rows with equal keys get the
        same series, plan ids aside (`planning.for_patient`). None when the format's file may hold more
        of the patient than the plan id (JSON, TOML), or the screening terms cannot be compared."""
        if export.EXPORTERS[self.fmt].patients == "":
            return None
        key = (id(protocol), tuple(v for k, v in vars(flags).items() if k != "patient"), terms)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def remember_series(self, key: Hashable, plan: Plan, data: bytes, notes: tuple[str, ...] = ()) -> None:
        """Keep a new plan, its file and its row's notes for the next row with the same key (up to SERIES kept; past it
        the older half is forgotten). The file is kept cut at its plan id, where it holds one: only at the
        start of UID lines (ICS), or nowhere (patient documents); any other file is not kept, nor a
        patient document that holds the patient's id anywhere (it names nobody: should one ever, it must
        not be handed to the next patient; a calendar's short ids can collide with its syntax, `-P1D`)."""
        plan_id = plan.plan_id.encode("ascii")
        parts = tuple(data.split(plan_id))
        if export.EXPORTERS[self.fmt].patients == "none" and (
            len(parts) > 1 or plan.request.patient.encode("utf-8", "surrogateescape") in data
        ):
            return
        if not all(part.endswith(b"\r\nUID:") for part in parts[:-1]):
            return
        size = sum(map(len, parts))
        if len(self.series) >= SERIES or self._series_bytes + size > SERIES_BYTES:
            for old in list(self.series)[: len(self.series) // 2 + 1]:
                self._series_bytes -= sum(map(len, self.series.pop(old)[1]))
        self.series[key] = (plan, parts, notes)
        self._series_bytes += size

    def protocol(self, name: str) -> TreatmentProtocol:
        """The treatment protocol an indication cell names, in any case or spacing (`Acne Scars`)."""
        if name not in self._protocols:
            from needlecli import choices

            protocols_dir = self.config.protocols_dir
            options = dict.fromkeys([*self.catalog.INDICATIONS, *self.catalog.names(protocols_dir)])
            found = choices.find(name, options)
            if found is None:
                hint = choices.suggestion(name, options)
                raise UsageError(
                    f"unknown indication {name!r} (use one of {', '.join(self.catalog.INDICATIONS)})"
                    + (f"; did you mean {hint!r}?" if hint else "")
                )
            self._protocols[name] = self.catalog.load_treatment(found, protocols_dir, self.screening)
        return self._protocols[name]


def _int(value: str, column: str) -> int:
    if not (value.isascii() and value.isdecimal()):
        raise UsageError(f"{column}: {value!r} is not a whole number")
    return int(value)


def patient_of(ctx: Context, cells: list[str] | None) -> str:
    idx = ctx.header.index("patient_id")
    return cells[idx] if cells is not None and idx < len(cells) else ""


def plan_row(
    ctx: Context,
    number: int,
    cells: list[str],
    history: planning.History | None = None,
    now: dt.datetime | None = None,
) -> tuple[RowResult, bytes | None, str]:
    """Plan one row, rebuilt over ``history`` when given (as of ``now``, else the run's stamp):
    (summary, file bytes or None, file name). Never raises."""
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
        return _plan(ctx, number, row, history, now)
    except (NeedleError, BadAnswer) as exc:
        return RowResult(number, pid, "error", error=f"row {number}: {exc}"), None, ""
    except Exception as exc:  # a bug must cost one row, not the run (and never print patient data)
        error = f"row {number}: internal error ({type(exc).__name__}); please report it"
        return RowResult(number, pid, "error", error=error), None, ""


def _plan(
    ctx: Context,
    number: int,
    row: dict[str, str],
    history: planning.History | None = None,
    now: dt.datetime | None = None,
) -> tuple[RowResult, bytes | None, str]:
    for column in REQUIRED_COLUMNS:
        if not row[column].strip():
            raise UsageError(f"{column} is empty")
    pid = identity.check_patient(row["patient_id"], "patient_id") or ""
    if ctx.include_name and row.get("name") and not row["name"].isprintable():
        raise UsageError("name: must be one line of printable text")
    protocol = ctx.protocol(row["indication"])
    order = ctx.config.date_order
    try:
        start = parse_date(row["start"], order)
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
                answers[q.id] = parse_text(q, row[q.id], order)
            except BadAnswer as exc:
                raise UsageError(f"{q.id}: {exc}") from None
        terms = planning.screen_answers(ctx.screening, answers, ctx.on)
    shown = (row.get("name") or None) if ctx.include_name else None
    # A fresh series like one already made in this process except for the patient: that plan with this
    # patient's id and plan id, and its file with the plan id put in (see Context.series).
    same = ctx.series_key(protocol, flags, terms) if history is None and shown is None else None
    known = ctx.series.get(same) if same is not None else None
    if known is not None:
        plan = planning.for_patient(known[0], pid, ctx.config.uid_key or "")
        data = plan.plan_id.encode("ascii").join(known[1])
        notes = known[2]
    else:
        said: list[str] = []
        try:
            plan = planning.new_plan(
                protocol,
                flags,
                ctx.config,
                ctx.on,
                screening=terms,
                notes=said,
                allow_past=ctx.allow_past,
                start_flag="start",
            )
        except ScreeningRefusal:
            assert terms is not None
            why = "contraindicated" if terms.refusal == "contraindicated" else "deferred with no end date (re-assess)"
            error = f"no plan: {why} ({', '.join(terms.refusing_findings())})"
            return RowResult(number, pid, "refused", verdict=terms.verdict, error=error), None, ""
        if history is not None and history.patient == pid:
            # Last run's plan for this patient: the same calendar ids, SEQUENCE above, removed items cancelled
            # (a changed indication too: the clinic changed its list, the patient's calendar must follow).
            plan = planning.rebuild_over(
                plan, history, "batch", now or ctx.stamp or planning.midnight(ctx.on), same_indication=False
            )
        cfg = ctx.config
        patient_document = ctx.fmt == "md"  # md: the patient's aftercare for the series; html/ics: patient files
        options = ExportOptions(
            document="aftercare" if patient_document else "plan",
            name=shown,
            clinic_name=cfg.name,
            clinic_phone=cfg.phone,
            clinic_address=cfg.address,
            protocol=protocol,
        )
        data = ctx.render(plan, options)
        notes = row_notes(plan, [n for n in said if n not in ctx.run_notes], terms)
        if same is not None:
            ctx.remember_series(same, plan, data, notes)
    name = f"{identity.safe_name(pid)}.{ctx.fmt}"
    made = planning.History.of_plan(plan)
    times = {a.key: (a.start, a.end) for a in plan.appointments if a.start and a.end}
    kept = history_text(ctx, made, times)
    clinic_events = _events_of(ctx, pid, made, times) if ctx.clinic_calendar else b""
    return (
        RowResult(
            number,
            pid,
            "planned",
            verdict=terms.verdict if terms else "",
            first_session=plan.sessions[0].date.isoformat(),
            last_session=plan.sessions[-1].date.isoformat(),
            file=name,
            notes=notes,
            history=kept,
            clinic=clinic_events,
        ),
        data,
        name,
    )


def row_notes(plan: Plan, said: list[str], terms: planning.ScreeningTerms | None) -> tuple[str, ...]:
    """A planned row's notes for the summary: the plan's own, then what planning said of the row (a
    deferral once: the plan's note names it when it moved the start)."""
    notes = [n.text for n in plan.notes]
    moved = any(n.cause == "screening" for n in plan.notes)
    skip = planning.deferral_note(terms) if terms is not None and moved else None
    notes += [n for n in said if n != skip and n not in notes]
    return tuple(notes)


# ----------------------------------------------------------------- what the next run rebuilds over


#: The highest revision a kept history may hold: far above any real plan's, far below what a calendar
#: can carry (RFC 5545's SEQUENCE is a 32-bit integer); above it the history is not one of ours.
MAX_REVISION = 1_000_000

#: key -> (start, end) of each timed appointment of a plan.
Times = dict[str, tuple[dt.datetime, dt.datetime]]


def patient_mark(ctx: Context, pid: str) -> str:
    """A keyed hash of a patient id: what a history keeps instead of the id (`identity.patient_mark`)."""
    return identity.patient_mark(ctx.config.uid_key or "", pid)


def history_text(ctx: Context, h: planning.History, times: Times | None = None) -> str:
    """What a later run needs to rebuild over a plan (and to write its clinic calendar events), as
    compact JSON: ids, revisions, item spans, cancelled items and the appointments' times. Never the
    patient id (a keyed hash of it) or the indication: the manifest is kept outside the folder."""
    doc = {
        "v": 1,
        "patient": patient_mark(ctx, h.patient) if h.patient else "",
        "indication": "",
        "plan_id": h.plan_id,
        "revision": h.revision,
        "created_on": h.created_on.isoformat(),
        "stamp": h.stamp.isoformat() if h.stamp else None,
        "items": [[k, r, f.isoformat(), last.isoformat()] for k, (r, f, last) in h.items.items()],
        "cancelled": [[c.key, c.first_day.isoformat(), c.last_day.isoformat(), c.revision] for c in h.cancelled],
        "times": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in (times or {}).items()},
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def history_of(ctx: Context, text: str, pid: str) -> tuple[planning.History, Times] | None:
    """The history and appointment times `history_text` wrote for patient ``pid``; None when ``text``
    is not one, or is another patient's (anything wrong only means planning afresh)."""
    from needlecli.dates import MAX_YEAR, MIN_YEAR
    from needlecli.model import Cancelled

    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("v") != 1:
            return None

        def day(value: object) -> dt.date:
            if not isinstance(value, str):
                raise TypeError(value)
            found = dt.date.fromisoformat(value)
            if not MIN_YEAR <= found.year <= MAX_YEAR:
                raise ValueError(value)
            return found

        def when(value: object) -> dt.datetime:
            if not isinstance(value, str):
                raise TypeError(value)
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
                raise ValueError(value)
            return moment

        def whole(value: object) -> int:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_REVISION:
                raise TypeError(value)
            return value

        def text_of(value: object) -> str:
            if not isinstance(value, str):
                raise TypeError(value)
            return value

        items = {text_of(k): (whole(r), day(f), day(last)) for k, r, f, last in doc["items"]}
        cancelled = tuple(Cancelled(text_of(k), day(f), day(last), whole(r)) for k, f, last, r in doc["cancelled"])
        times = {text_of(k): (when(a), when(b)) for k, (a, b) in doc["times"].items()}
        if not pid or text_of(doc["patient"]) != patient_mark(ctx, pid):
            return None
        if not re.fullmatch(r"[0-9a-f]{16}", text_of(doc["plan_id"])):  # what plan ids look like
            return None
        history = planning.History(
            pid,
            text_of(doc["indication"]),
            text_of(doc["plan_id"]),
            whole(doc["revision"]),
            day(doc["created_on"]),
            when(doc["stamp"]) if doc["stamp"] is not None else None,
            items,
            cancelled,
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
        return None
    return history, times


def _clinic_events(ctx: Context, pid: str, history: str) -> bytes:
    """The clinic calendar's events of a kept history (checked as every kept history is)."""
    found = history_of(ctx, history, pid)
    return b"" if found is None else _events_of(ctx, pid, *found)


def _events_of(ctx: Context, pid: str, history: planning.History, times: Times) -> bytes:
    from needlecli.render import clinic_ics

    try:
        return clinic_ics.events(pid, history, times, address=ctx.config.address)
    except Exception:  # a history the calendar cannot hold: the patient's events are left out, the run goes on
        return b""


# ----------------------------------------------------------------- one run per folder


def lock_folder(folder: Path) -> int | None:
    """Take the folder's batch lock (flock on the folder itself, so no lock file is left behind).

    Returns the descriptor that holds it (close it to let go), None where locks are not
    supported; raises UsageError when another `needle batch` holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(f"another needle batch is writing into {folder}; wait for it to end") from None
    except OSError:  # a file system without locks: run unlocked, as before
        os.close(fd)
        return None
    global _LOCK_FD
    _LOCK_FD = fd
    return fd


def unlock_folder(fd: int | None) -> None:
    global _LOCK_FD
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    _LOCK_FD = None


_LOCK_FD: int | None = None


# ----------------------------------------------------------------- what earlier runs wrote


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
        return written, _unpack(row[6])

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
                        result.packed or _pack(result.history),
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


def _pack(history: str) -> bytes:
    """A history as the manifest keeps it: zlib-compressed JSON (a fifth of the size)."""
    import zlib

    return zlib.compress(history.encode("utf-8"), 6) if history else b""


def _unpack(stored: object) -> str:
    """The history `_pack` stored ("" for anything else: planning afresh is always safe)."""
    import zlib

    if not isinstance(stored, bytes) or not stored:
        return ""
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(stored, 1 << 20)  # a history is a few KiB: more is not one of ours
        return "" if inflate.unconsumed_tail else text.decode("utf-8")
    except (zlib.error, UnicodeDecodeError):
        return ""


def run_fingerprint(ctx: Context) -> str:
    """A hash of everything besides the row that a file depends on: the planning date, format and
    options, the config (with the calendar id key), the screening protocol, needle's own code and
    version, and the versions of the calendar, holiday and time zone data."""
    import importlib.metadata
    import zoneinfo

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
    zones = []
    for folder in zoneinfo.TZPATH:
        with contextlib.suppress(OSError):
            st = os.stat(os.path.join(folder, "tzdata.zi"))
            zones.append((folder, st.st_size, st.st_mtime_ns))
    doc = {
        "version": needlecli.__version__,
        "code": code,
        "packages": versions,
        "zones": zones,
        "on": ctx.on.isoformat(),
        "fmt": ctx.fmt,
        "include_name": ctx.include_name,
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


# ----------------------------------------------------------------- the worker side

_CTX: Context | None = None


def init_worker(ctx: Context, parent: int | None = None) -> None:
    """Set up a worker: the parent handles Ctrl-C (and stops the workers), so workers ignore it;
    a worker whose parent is gone (kill -9) ends at once, quietly."""
    import signal

    global _CTX
    _CTX = ctx
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # pool.terminate() must simply end a worker
    if _LOCK_FD is not None:  # the parent's hold on the folder lock is the parent's alone
        with contextlib.suppress(OSError):
            os.close(_LOCK_FD)
    if parent is not None:
        _end_with(parent)


def _end_with(parent: int) -> None:
    """End this worker when ``parent`` ends, before it can print a broken pipe's traceback."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    else:  # elsewhere: look every tenth of a second
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.1)
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # gone already, before the death signal was set
        os._exit(0)


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


def readable_id(ctx: Context, cells: list[str] | None) -> str:
    """The row's patient id cell when it could be read (text, not too long), else ""."""
    pid = patient_of(ctx, cells)
    return pid if len(pid) <= MAX_CELL and _utf8(pid) else ""


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


def run_task(ctx: Context, task: Task) -> RowResult:
    """Plan one row and write its file (atomic, 0600); never raises. See `prepare`."""
    result, data = prepare(ctx, task)
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


def run_chunk(ctx: Context, tasks: list[Task]) -> list[RowResult]:
    """Plan a chunk of rows, each file written (atomic, 0600, fsynced) by this process's writer threads,
    so that the disk's syncs overlap each other and the planning of the next rows. Returns only once
    every file of the chunk is on disk: the parent records a row (manifest, summary) after its file is
    synced. When planning a row raises, it waits for the writes already under way and starts no other.
    A worker process stopped by SIGTERM dies at once (atomic writes leave no half file); a file renamed
    into place but not yet recorded is read back by the next run, so its SEQUENCE never goes back."""
    from concurrent.futures import Future
    from concurrent.futures import wait as wait_for

    writer = _writer()
    pending: list[tuple[RowResult, Future[None] | None, str]] = []
    try:
        for task in tasks:
            result, data = prepare(ctx, task)
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


def _writer() -> Any:
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


def prepare(ctx: Context, task: Task) -> tuple[RowResult, bytes | None]:
    """Plan one row: its summary line and the bytes to write under its name (None: nothing to write).
    Never raises.

    When a row that owns a file name is refused by screening or cannot be read or planned any more,
    a file left under that name by an earlier run is removed: a folder of plans must never hold a
    stale plan for a patient the list no longer plans (a new contraindication, say). A failed write
    keeps the earlier file, as write_atomic promises. A file an earlier run wrote from the same row
    with the same everything else, still byte for byte as written, is kept instead of planned again.
    """
    number, cells, name, problem, key, earlier, history, recorded = task
    on_disk = _digest_of(ctx.out_dir / name) if name and ctx.fmt == "ics" and not ctx.empty_folder else ""
    if earlier is not None and cells is not None and (on_disk or _digest_of(ctx.out_dir / name)) == earlier.digest:
        pid = patient_of(ctx, cells)
        clinic_events = _clinic_events(ctx, pid, history) if ctx.clinic_calendar else b""
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
        )
        return reused, None
    pid = readable_id(ctx, cells)
    if not history and name and ctx.fmt == "toml":
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


def _already_written(ctx: Context, task: Task, history: planning.History | None, digest: str) -> RowResult | None:
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
    if not same and data is not None and history is not None and history.stamp is not None and ctx.fmt == "ics":
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
    """What a calendar needle wrote at ``path`` says of its plan (`ics.history_of_calendar`), or None
    when it cannot be read or is not one of needle's."""
    from needlecli.render.ics import history_of_calendar

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
            after = before.withdrawn(ctx.stamp or planning.midnight(ctx.on)) if before.items else before
            kept = history_text(ctx, after)
            clinic_events = _clinic_events(ctx, result.patient_id, kept) if ctx.clinic_calendar else b""
        except Exception:  # a history that cannot be withdrawn is dropped, never the run
            kept, clinic_events = "", b""
        result = dataclasses.replace(result, history=kept, clinic=clinic_events)
    if name and _remove_stale(ctx.out_dir / name):
        return dataclasses.replace(result, error=f"{result.error} (removed {name} from an earlier run)")
    return result


def _calendar_history(ctx: Context, path: Path, pid: str) -> str:
    """The history a calendar needle wrote at ``path`` holds (ids, SEQUENCEs, spans), or ""."""
    from needlecli.model import Cancelled

    if not pid:
        return ""
    try:
        found = _read_calendar(path)
        if found is None:
            return ""
        plan_id, live, gone, stamp = found
        revision = max([r for r, _, _ in live.values()] + [c[3] for c in gone])
        history = planning.History(
            pid, "", plan_id, revision, stamp.date(), stamp, live, tuple(Cancelled(k, f, la, r) for k, f, la, r in gone)
        )
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
    from needlecli.plans import read_plan
    from needlecli.records import read_toml_file

    if not path.is_file():
        return ""
    try:
        doc = read_toml_file(path, "saved plan")
        if doc.get("record") != "needle-plan":
            return ""
        return history_text(ctx, planning.History.of_saved(read_plan(doc, str(path))))
    except NeedleError:
        return ""


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


#: What a batch in each format writes, as `outfiles.identify` names it.
_KIND_OF_FORMAT = {
    "ics": "calendar",
    "toml": "saved plan",
    "json": "saved plan",
    "md": "Markdown document",
    "html": "handout",
}


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
    return kind != _KIND_OF_FORMAT.get(ctx.fmt)


def _remove_stale(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True


#: The suffix of every temp file a batch writes: clean-up never touches another command's temp files.
TEMP_SUFFIX = ".batch.tmp"
_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.batch\.tmp$")


def write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically (records.replace_file: a hidden temp file in the same
    folder, fsync, rename), with a temp name only batch uses (`.NAME.XXXXXXXX.batch.tmp`)."""
    from needlecli.errors import RecordError
    from needlecli.records import replace_file

    if path.is_dir():
        raise RecordError(f"cannot write {path}: it is a folder")
    try:
        replace_file(path, (data,), mode, TEMP_SUFFIX)
    except OSError as exc:
        raise RecordError(f"cannot write {path}: {exc.strerror or exc}") from None


def remove_temp_files(folder: Path, names: Container[str] | None = None) -> int:
    """Remove the hidden temp files batch runs leave when stopped mid-write: every one when this run
    holds the folder's lock (``names`` None: any such file is stale or this run's), else only those
    of the file names this run gave out (``names``: their `records.temp_stem`s)."""
    removed = 0
    for entry in os.scandir(folder):
        if not (_TEMP.match(entry.name) and entry.is_file(follow_symlinks=False)):
            continue
        if names is not None and entry.name[1 : -(9 + len(TEMP_SUFFIX))] not in names:  # names: temp stems
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed += 1
    return removed


def sync_folder(folder: Path) -> None:
    """fsync a folder, so the renames into it are on disk too (where folders can be synced)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def work_chunk(tasks: list[Task]) -> list[RowResult]:
    """run_chunk in a worker process (the context was set by init_worker)."""
    assert _CTX is not None
    return [
        dataclasses.replace(r, history="", packed=_pack(r.history)) if r.history else r for r in run_chunk(_CTX, tasks)
    ]


def chunks(tasks: Iterable[Task], size: int) -> Iterator[list[Task]]:
    """Tasks in lists of ``size`` (the last one shorter), in order."""
    chunk: list[Task] = []
    for task in tasks:
        chunk.append(task)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def summary_csv_line(result: RowResult) -> str:
    buf = io.StringIO()
    cells = [_cell("; ".join(result.notes) if f == "notes" else getattr(result, f)) for f in SUMMARY_FIELDS]
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _cell(value: object) -> object:
    return as_text_cell(value) if isinstance(value, str) else value


def as_text_cell(text: str) -> str:
    """A cell a spreadsheet shows as the text it is: one that starts like a formula (= + - @, a tab
    or CR, after any spaces a spreadsheet skips) gets a leading ' (OWASP's advice for CSV injection)."""
    return "'" + text if text.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")) else text
