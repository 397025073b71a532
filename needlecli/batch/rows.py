"""Reading a clinic's CSV list: streaming rows, bounded cells, the header and its screening columns."""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple

from needlecli.errors import UsageError

REQUIRED_COLUMNS = ("patient_id", "indication", "start")
OPTIONAL_COLUMNS = ("name", "first_name", "last_name", "sessions", "interval_weeks", "boosters", "time", "tz")


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
    # What a receptionist's export calls the treatment (its values: a protocol's name or `aliases`).
    "treatment": "indication",
    "treatment_name": "indication",
    "treatment_type": "indication",
    "procedure": "indication",
    "service": "indication",
    "service_name": "indication",
    "first_name": "first_name",
    "firstname": "first_name",
    "forename": "first_name",
    "given_name": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "number_of_boosters": "boosters",
    "number_of_sessions": "sessions",
    "session_count": "sessions",
    "interval": "interval_weeks",
    "time_zone": "tz",
    "timezone": "tz",
    "appointment_time": "time",
    "session_time": "time",
    "start_time": "time",
}


#: Words in a header that likely means a required column a list lacks (for the error's suggestion).
_LIKELY = {
    "patient_id": ("patient", "client", "mrn", "record", "id"),
    "indication": ("treat", "proced", "servic", "indicat", "condition", "reason"),
    "start": ("date", "start", "appointment", "booking", "first"),
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


def as_windows_1252(text: str) -> str:
    """Text that was not UTF-8 (decoded with surrogateescape) read as Windows-1252, the encoding
    Excel's plain "CSV" uses on Windows (`Zoë`, `Siobhán`); unchanged when it is UTF-8 or when its
    bytes are not Windows-1252 either (five byte values are undefined there)."""
    if is_utf8(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("cp1252")
    except UnicodeError:
        return text


def read_rows(stream: IO[str], seen: dict[str, int] | None = None) -> tuple[list[str], Iterator[Row]]:
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
    seen = {} if seen is None else seen
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
    if not is_utf8(first):
        first = as_windows_1252(first)
        seen["windows-1252"] = seen.get("windows-1252", 0) + 1
    if "\x00" in first or not is_utf8(first):
        raise UsageError("the CSV is neither UTF-8 nor Windows-1252 text (save it as 'CSV UTF-8' from the spreadsheet)")
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
            if not all(is_utf8(c) for c in cells):
                cells = [as_windows_1252(c) for c in cells]
                seen["windows-1252"] = seen.get("windows-1252", 0) + 1
            # A cell still not text in a column needle reads is that row's error when it is read
            # (`batch.row`); in a column needle does not use it costs nothing.
            if any(len(c) > MAX_CELL for c in cells):
                yield n, cells, f"row {n}: a cell is longer than {MAX_CELL} characters"
            else:
                yield n, cells, ""

    return header, rows()


def is_utf8(text: str) -> bool:
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
        unused = [h for h in raw if _column_name(h) not in known]
        near = [h for h in unused if difflib.get_close_matches(_column_name(h), missing, n=1)]
        near += [h for h in unused if any(word in _column_name(h) for word in _LIKELY[missing[0]])]
        raise UsageError(
            f"missing column(s): {', '.join(missing)}"
            + (f" (is {near[0]!r} meant to be {missing[0]}? rename that header)" if near else "")
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
