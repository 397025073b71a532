"""One reader and one checker for every document needle reads.

Protocol files, answers files (TOML or JSON), screening records, saved plans and the
clinic config all go through here:

* **Reading** (`read_bytes`, `decode`, `parse_toml`, `parse_json`): the limits every
  loader shares. The size is checked before reading (`stat` first; only regular files are
  read, so ``/dev/zero`` or a FIFO is refused at once; ``-`` is standard input, read with
  a bounded read); nesting depth; the number of keys and array items; integers of more
  than 4,300 digits. A UTF-8 byte order mark is accepted. Each failure is one
  `DocumentError` whose message names no file and repeats no content (answers are patient
  data): the caller puts the file name in front and raises its own error class.
* **Checking** (`Checker`): walks a parsed document collecting *every* problem with its
  key path (``request.sessions: must be a whole number, not a string``), suggests the near
  miss for an unknown key (``did you mean 'clinic.holidays'?``), and offers typed getters.
  Domain checks (a protocol's rules, a plan's dates) are built on these in their modules.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from needlecli import errors
from needlecli.dates import MAX_YEAR, MIN_YEAR
from needlecli.errors import one_line

#: Largest file any loader reads (protocols, answers, records, saved plans, config).
MAX_BYTES = 1_000_000
#: Deepest nesting of tables and arrays (the document itself is level 1).
MAX_DEPTH = 32
#: Most keys plus array items in one document, counted over every level.
MAX_ITEMS = 100_000
#: Most digits in an integer (Python's own limit for converting text to int).
MAX_INT_DIGITS = 4_300

#: Every date in every document lies in these years (`needlecli.answers.check_year`): a date
#: outside is a typo, and would overflow date arithmetic (9999-12-31 + 1 day).
YEAR_RANGE = f"a date out of range (years {MIN_YEAR}-{MAX_YEAR})"

_BOM = b"\xef\xbb\xbf"
_BIG = 10**MAX_INT_DIGITS


class DocumentError(Exception):
    """A document that cannot be read or parsed. The message names no file and quotes no content."""


class NoSuchFile(DocumentError):
    """The file does not exist (some callers fall back to defaults)."""


class SyntaxProblem(DocumentError):
    """Not valid TOML or JSON; ``language`` and the parser's ``detail`` (a position, never the text)."""

    def __init__(self, language: str, detail: str) -> None:
        self.language = language
        self.detail = detail
        super().__init__(f"not valid {language}: {detail}")


# ----------------------------------------------------------------- reading


def read_bytes(path: Path, what: str, limit: int = MAX_BYTES, *, stdin: bool = False) -> bytes:
    """The bytes of a regular file no larger than ``limit``, checked before reading.

    ``what`` names the kind of file for messages ("an answers file"). With ``stdin``, the path
    ``-`` reads standard input (at most ``limit`` bytes, bounded).
    """
    if stdin and str(path) == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise DocumentError(f"too large for {what} (more than {limit} bytes)")
        return data
    _check_stat(_os_call(os.stat, path), what, limit)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = _os_call(os.open, path, flags)
    try:
        _check_stat(os.fstat(fd), what, limit)  # the file may have been swapped since the stat
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # it grew while being read
        raise DocumentError(f"too large for {what} (more than {limit} bytes)")
    return data


def _os_call(fn: Any, path: Path, *args: Any) -> Any:
    try:
        return fn(path, *args)
    except FileNotFoundError:
        raise NoSuchFile("no such file") from None
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror or exc}") from None
    except ValueError:  # e.g. a NUL byte in the path
        raise DocumentError("not a usable file name") from None


def _check_stat(st: os.stat_result, what: str, limit: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise DocumentError(f"is a folder, not {what}")
    if not stat.S_ISREG(st.st_mode):
        raise DocumentError(f"not a regular file (a device, pipe or socket cannot be {what})")
    if st.st_size > limit:
        raise DocumentError(f"too large for {what} ({st.st_size} bytes; the limit is {limit})")


def decode(data: bytes) -> str:
    """UTF-8 text, with or without a byte order mark."""
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text (byte {exc.start + skip})") from None


def parse_toml(data: bytes | str) -> dict[str, Any]:
    """A TOML document within the shared limits."""
    text = decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SyntaxProblem("TOML", str(exc)) from None
    except RecursionError:
        raise DocumentError(_too_deep()) from None
    except ValueError as exc:  # int() past sys.get_int_max_str_digits()
        raise DocumentError(_too_long() if "digits" in str(exc) else "not valid TOML") from None
    check_shape(doc)
    return doc


def parse_json(data: bytes | str, object_pairs_hook: Any = None) -> Any:
    """A JSON document within the shared limits (exceptions from the hook pass through)."""
    import json

    text = decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    try:
        doc = json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as exc:
        raise SyntaxProblem("JSON", exc.msg) from None
    except RecursionError:
        raise DocumentError(_too_deep()) from None
    except ValueError as exc:
        if "digits" not in str(exc):
            raise
        raise DocumentError(_too_long()) from None
    check_shape(doc)
    return doc


def check_shape(doc: object, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
    """Refuse a parsed document nested too deeply, with too many items or a huge integer.

    Iterative, so it cannot itself run out of stack.
    """
    items = 0
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        val, depth = stack.pop()
        if isinstance(val, dict):
            children: Any = val.values()
        elif isinstance(val, list):
            children = val
        else:
            if isinstance(val, int) and not isinstance(val, bool) and abs(val) >= _BIG:
                raise DocumentError(_too_long())
            if isinstance(val, dt.date) and not MIN_YEAR <= val.year <= MAX_YEAR:
                where = path_to(doc, val)
                raise DocumentError(one_line(f"{where + ': ' if where else ''}{YEAR_RANGE}"))
            continue
        if depth > max_depth:
            raise DocumentError(_too_deep(max_depth))
        items += len(children)
        if items > max_items:
            raise DocumentError(f"too many keys and items (more than {max_items})")
        stack.extend((child, depth + 1) for child in children)


def path_to(doc: object, target: object) -> str:
    """The key path of the value ``target`` (by identity) inside ``doc``, for a message ("" if not found)."""
    stack: list[tuple[object, str]] = [(doc, "")]
    while stack:
        val, path = stack.pop()
        if val is target:
            return path
        if isinstance(val, dict):
            stack.extend((v, join(path, str(k))) for k, v in val.items())
        elif isinstance(val, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(val))
    return ""


def _too_deep(limit: int = MAX_DEPTH) -> str:
    return f"nested too deeply (more than {limit} levels of tables and arrays)"


def _too_long() -> str:
    return f"a number has more than {MAX_INT_DIGITS} digits"


summary = errors.summary  # problems as one line (defined with the errors: the pure core uses it too)


# ----------------------------------------------------------------- checking


def join(path: str, key: str) -> str:
    """The key path of ``key`` inside ``path`` ("" is the document itself)."""
    return f"{path}.{key}" if path else key


def kind(val: object) -> str:
    """What a value is, for messages ("a string"): never the value itself."""
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
        dt.date: "a date",
        dt.datetime: "a date-time",
        dt.time: "a time",
    }
    return names.get(type(val), "a " + type(val).__name__)


class Checker:
    """Walks a parsed document, collecting every problem with its key path.

    Getters take the table, the key and the table's own path, record a problem when the value
    is missing (if required) or of the wrong kind, and then return None (`string` returns ""
    and `strings`/`dates` return (), so text and lists need no None checks). Callers look at
    ``problems`` before trusting what they got.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []

    def err(self, path: str, msg: str) -> None:
        self.problems.append(one_line(f"{path}: {msg}" if path else msg))

    def summary(self, limit: int = 10) -> str:
        return summary(self.problems, limit)

    def unknown(self, tbl: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
        """An error for each key not in ``allowed``, with the near miss if there is one."""
        for key in tbl:
            if key not in allowed:
                import difflib

                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f" (did you mean '{join(path, hint[0])}'?)" if hint else ""
                self.err(join(path, key), f"unknown key{extra}")

    def _get(self, tbl: Mapping[str, Any], key: str, path: str, required: bool, missing: str = "missing") -> Any:
        if key not in tbl:
            if required:
                self.err(join(path, key), missing)
            return None
        return tbl[key]

    def table(self, parent: Mapping[str, Any], key: str, path: str, required: bool = True) -> dict[str, Any] | None:
        val = self._get(parent, key, path, required, "missing table")
        if val is None:
            return None
        if not isinstance(val, dict):
            self.err(join(path, key), f"must be a table, not {kind(val)}")
            return None
        return val

    def tables(
        self, parent: Mapping[str, Any], key: str, path: str, required: bool = True, allow_empty: bool = False
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path, table) for each table of an array of tables ([[key]])."""
        full = join(path, key)
        if allow_empty:
            missing = f"missing (an empty list is written as {key} = [])"
        else:
            missing = f"missing (add at least one [[{full}]] table)"
        val = self._get(parent, key, path, required, missing)
        if val is None:
            return
        if not isinstance(val, list) or not all(isinstance(x, dict) for x in val):
            self.err(full, "must be an array of tables ([[...]])")
            return
        if not val and not allow_empty:
            self.err(full, "must not be empty")
        for i, item in enumerate(val):
            yield f"{full}[{i}]", item

    def array(self, tbl: Mapping[str, Any], key: str, path: str, required: bool = True) -> list[Any] | None:
        val = self._get(tbl, key, path, required)
        if val is None:
            return None
        if not isinstance(val, list):
            self.err(join(path, key), f"must be a list, not {kind(val)}")
            return None
        return val

    def string(
        self, tbl: Mapping[str, Any], key: str, path: str, required: bool = True, allow_empty: bool = False
    ) -> str:
        """The text, or "" (a problem is recorded if it is required and missing, empty or not text)."""
        val = self._get(tbl, key, path, required)
        if val is None:
            return ""
        if not isinstance(val, str):
            self.err(join(path, key), f"must be a string, not {kind(val)}")
            return ""
        if required and not allow_empty and not val.strip():
            self.err(join(path, key), "must not be empty")
        return val

    def optional_string(self, tbl: Mapping[str, Any], key: str, path: str) -> str | None:
        """The text if the key is there (a problem if it is not text), else None."""
        if key not in tbl:
            return None
        val = tbl[key]
        if not isinstance(val, str):
            self.err(join(path, key), f"must be a string, not {kind(val)}")
            return None
        return val

    def integer(
        self,
        tbl: Mapping[str, Any],
        key: str,
        path: str,
        lo: int | None = None,
        hi: int | None = None,
        required: bool = True,
    ) -> int | None:
        val = self._get(tbl, key, path, required)
        if val is None:
            return None
        full = join(path, key)
        if isinstance(val, bool) or not isinstance(val, int):
            self.err(full, f"must be a whole number, not {kind(val)}")
            return None
        if (lo is not None and val < lo) or (hi is not None and val > hi):
            if lo is not None and hi is not None:
                self.err(full, f"must be between {lo} and {hi}, got {val}")
            elif lo is not None:
                self.err(full, f"must be {lo} or more, got {val}")
            else:
                self.err(full, f"must be {hi} or less, got {val}")
            return None
        return val

    def number(
        self, tbl: Mapping[str, Any], key: str, path: str, required: bool = True, unit: str = ""
    ) -> float | None:
        """A whole or decimal number (not a boolean); ``unit`` names it in messages ("mm")."""
        val = self._get(tbl, key, path, required)
        if val is None:
            return None
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            self.err(join(path, key), f"must be a number{' of ' + unit if unit else ''}, not {kind(val)}")
            return None
        import math

        if isinstance(val, float) and not math.isfinite(val):
            self.err(join(path, key), f"must be a number{' of ' + unit if unit else ''}, not {val}")
            return None
        return float(val)

    def boolean(self, tbl: Mapping[str, Any], key: str, path: str, required: bool = True) -> bool | None:
        val = self._get(tbl, key, path, required)
        if val is None:
            return None
        if not isinstance(val, bool):
            self.err(join(path, key), f"must be true or false, not {kind(val)}")
            return None
        return val

    def date(self, tbl: Mapping[str, Any], key: str, path: str, required: bool = True) -> dt.date | None:
        """A calendar date (a TOML date such as 2026-12-01; a date-time is refused)."""
        val = self._get(tbl, key, path, required)
        if val is None:
            return None
        full = join(path, key)
        if isinstance(val, dt.datetime):
            self.err(full, "must be a date, not a date-time")
            return None
        if not isinstance(val, dt.date):
            self.err(full, f"must be a date (YYYY-MM-DD), not {kind(val)}")
            return None
        if not MIN_YEAR <= val.year <= MAX_YEAR:
            self.err(full, YEAR_RANGE)
            return None
        return val

    def strings(
        self, tbl: Mapping[str, Any], key: str, path: str, required: bool = True, allow_empty: bool = False
    ) -> tuple[str, ...]:
        """A list of non-empty strings."""
        val = self._get(tbl, key, path, required)
        if val is None:
            return ()
        full = join(path, key)
        if not isinstance(val, list) or not all(isinstance(x, str) and x.strip() for x in val):
            self.err(full, "must be a list of non-empty strings")
            return ()
        if not val and not allow_empty:
            self.err(full, "must not be empty")
        return tuple(cast(list[str], val))

    def dates(
        self, tbl: Mapping[str, Any], key: str, path: str, required: bool = True, text: bool = False
    ) -> tuple[dt.date, ...]:
        """A list of dates; with ``text``, "YYYY-MM-DD" strings count too. Each bad item is named."""
        val = self._get(tbl, key, path, required)
        if val is None:
            return ()
        full = join(path, key)
        if not isinstance(val, list):
            self.err(full, f"must be a list of dates, not {kind(val)}")
            return ()
        out: list[dt.date] = []
        for i, item in enumerate(val):
            day: dt.date | None = None
            if text and isinstance(item, str):
                try:
                    day = dt.date.fromisoformat(item.strip())
                except ValueError:
                    self.err(f"{full}[{i}]", "not a date (YYYY-MM-DD)")
            elif isinstance(item, dt.datetime) or not isinstance(item, dt.date):
                self.err(f"{full}[{i}]", "must be a date (YYYY-MM-DD)")
            else:
                day = item
            if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
                self.err(f"{full}[{i}]", YEAR_RANGE)
            elif day is not None:
                out.append(day)
        return tuple(out)


def as_text_cell(text: str) -> str:
    """A cell a spreadsheet shows as the text it is: one that starts like a formula (= + - @, a tab
    or CR, after any spaces a spreadsheet skips) gets a leading ' (OWASP's advice for CSV injection)."""
    return "'" + text if text.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")) else text
