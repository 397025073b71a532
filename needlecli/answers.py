"""Turn raw answers (from a TOML/JSON file, a prompt or a CSV cell) into typed values.

Also reads dates as people type them (the API is `needlecli.dates`).

Pure: no I/O. Every problem is collected so the user sees them all at once, and
an unknown key is always an error, so a typo can never pass as "no".
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping

from needlecli.errors import AnswersError, summary
from needlecli.model import AnswerValue, Question, ScreeningProtocol

ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
TRUE_WORDS = frozenset({"y", "yes", "true", "1"})
FALSE_WORDS = frozenset({"n", "no", "false", "0"})
NONE_WORDS = frozenset({"", "none", "no", "n", "false", "never", "-"})


class BadAnswer(ValueError):
    """One answer that cannot be used; the message says what is expected.

    Messages never repeat the answer itself (answers are patient data and stderr may be logged):
    they read "not a real calendar date", "must be true or false, not a string".
    """


# ----------------------------------------------------------------- dates
# (the public face is needlecli.dates; see its docstring)

#: The values of the config's `date_order` (SPEC.md); ISO is the default.
ORDERS: tuple[str, ...] = ("ISO", "DMY", "MDY")
DEFAULT_ORDER = "ISO"
#: Dates far outside a clinic's horizon are typos, and would overflow date arithmetic.
MIN_YEAR, MAX_YEAR = 1900, 2200
#: Longer than any date anyone types: refused before any work.
MAX_LENGTH = 40

MONTH_NAMES: tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAY_NAMES: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS: dict[str, int] = {
    **{name.casefold(): i for i, name in enumerate(MONTH_NAMES, 1)},
    **{name[:3].casefold(): i for i, name in enumerate(MONTH_NAMES, 1)},
    "sept": 9,
}
_WEEKDAYS: dict[str, int] = {
    **{name.casefold(): i for i, name in enumerate(WEEKDAY_NAMES)},
    **{name[:3].casefold(): i for i, name in enumerate(WEEKDAY_NAMES)},
    "tues": 1,
    "thur": 3,
    "thurs": 3,
}

_NUMERIC = re.compile(r"(\d+)([-/.])(\d+)\2(\d+)")
_COMPACT = re.compile(r"\d{8}")
_WORDY = re.compile(r"[A-Za-z0-9 ,./-]+")
_TOKEN = re.compile(r"(\d+)(st|nd|rd|th)?|([A-Za-z]+)", re.IGNORECASE)


def check_order(order: str) -> str:
    """A `date_order` value, in capitals; ValueError for anything else."""
    upper = order.strip().upper()
    if upper not in ORDERS:
        raise ValueError(f"date order must be {', '.join(ORDERS[:-1])} or {ORDERS[-1]}")
    return upper


def layout(order: str = DEFAULT_ORDER) -> str:
    """How a numeric date is written in ``order``: ``YYYY-MM-DD``, ``DD/MM/YYYY`` or ``MM/DD/YYYY``."""
    return {"DMY": "DD/MM/YYYY", "MDY": "MM/DD/YYYY"}.get(check_order(order), "YYYY-MM-DD")


def forms(order: str = DEFAULT_ORDER) -> str:
    """The accepted forms with examples (31 May 2026), for error messages and help."""
    order = check_order(order)
    if order == "DMY":
        return "DD/MM/YYYY, YYYY-MM-DD or a month name, e.g. 31/05/2026, 2026-05-31 or 31 May 2026"
    if order == "MDY":
        return "MM/DD/YYYY, YYYY-MM-DD or a month name, e.g. 05/31/2026, 2026-05-31 or May 31, 2026"
    return "YYYY-MM-DD or a month name, e.g. 2026-05-31 or 31 May 2026"


def not_a_date(order: str = DEFAULT_ORDER) -> BadAnswer:
    return BadAnswer(f"not a date; use {forms(order)}")


def parse_date(text: str, order: str = DEFAULT_ORDER) -> dt.date:
    """Read a date as a person types it (the forms: `needlecli.dates`); BadAnswer if it is none.

    ``order`` is the clinic's `date_order` (``ISO``, ``DMY`` or ``MDY``) for day and month
    written as numbers.
    """
    order = check_order(order)
    s = text.strip()
    if not s or len(s) > MAX_LENGTH or not s.isascii():
        raise not_a_date(order)
    numeric = _NUMERIC.fullmatch(s)
    if numeric:
        return _numeric(numeric.group(1), numeric.group(3), numeric.group(4), order)
    if _COMPACT.fullmatch(s):
        return _make(int(s[:4]), int(s[4:6]), int(s[6:]))
    if _WORDY.fullmatch(s) and any(c.isalpha() for c in s):
        return _wordy(s, order)
    raise not_a_date(order)


def _numeric(a: str, b: str, c: str, order: str) -> dt.date:
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2:  # year first: ISO, in every order
        return _make(int(a), int(b), int(c))
    if len(a) <= 2 and len(b) <= 2:
        if len(c) == 4:
            if order == "ISO":
                raise BadAnswer(
                    "ambiguous (day and month as numbers need date_order DMY or MDY in the clinic config); "
                    "use YYYY-MM-DD or a month name, e.g. 2026-05-31 or 31 May 2026"
                )
            day, month = (a, b) if order == "DMY" else (b, a)
            return _make(int(c), int(month), int(day))
        if len(c) <= 2:
            raise BadAnswer(f"a date with a two-digit year; write the year in full, as in {layout(order)}")
    raise not_a_date(order)


def _wordy(s: str, order: str) -> dt.date:
    """A date with a month name: one month, one day (1-2 digits), one four-digit year, and
    optionally a weekday, separated by spaces, commas, dots, hyphens or slashes."""
    rest = _TOKEN.sub(" ", s)
    if rest.strip(" ,./-"):
        raise not_a_date(order)
    month: int | None = None
    weekday: int | None = None
    numbers: list[str] = []
    for m in _TOKEN.finditer(s):
        digits, suffix, word = m.group(1), m.group(2), m.group(3)
        if digits is not None:
            if suffix and len(digits) > 2:
                raise not_a_date(order)
            numbers.append(digits)
            continue
        key = word.casefold()
        if key in _MONTHS and month is None:
            month = _MONTHS[key]
        elif key in _WEEKDAYS and weekday is None:
            weekday = _WEEKDAYS[key]
        else:
            raise not_a_date(order)
    if month is None:
        raise not_a_date(order)
    years = [n for n in numbers if len(n) == 4]
    days = [n for n in numbers if len(n) <= 2]
    if len(numbers) == 2 and len(years) == 1 and len(days) == 1:
        day = _make(int(years[0]), month, int(days[0]))
        if weekday is not None and day.weekday() != weekday:
            raise BadAnswer("not on the weekday it names; check the day")
        return day
    if len(numbers) == 2 and len(days) == 2:
        raise BadAnswer("a date with a two-digit year; write the year in full, e.g. 31 May 2026")
    if len(numbers) < 2:
        raise BadAnswer("not a full date; give the day, the month and the year, e.g. 31 May 2026")
    raise not_a_date(order)


def _make(year: int, month: int, day: int) -> dt.date:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadAnswer(f"out of range (years {MIN_YEAR}-{MAX_YEAR})")
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise BadAnswer("not a real calendar date") from None


def check_year(day: dt.date) -> dt.date:
    """A date (from TOML, or computed) within the years needle handles; BadAnswer otherwise."""
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise BadAnswer(f"out of range (years {MIN_YEAR}-{MAX_YEAR})")
    return day


def describe(day: dt.date) -> str:
    """The date in a form nobody can misread, in any date order: ``Tue 5 May 2026``."""
    return f"{WEEKDAY_NAMES[day.weekday()][:3]} {day.day} {MONTH_NAMES[day.month - 1][:3]} {day.year}"


def is_numeric_day_month(text: str) -> bool:
    """Whether ``text`` writes day and month as numbers in the clinic's order (``03/05/2026``): the
    form a reader of another order would misread, so the date understood is worth echoing."""
    m = _NUMERIC.fullmatch(text.strip())
    return m is not None and len(m.group(1)) <= 2 and len(m.group(4)) == 4


# ----------------------------------------------------------------- answers


def coerce(question: Question, value: object, order: str = DEFAULT_ORDER) -> AnswerValue:
    """Check a value read from a TOML or JSON answers file against its question (a date written as
    a string is read as typed dates are, day and month in the clinic's ``order``)."""
    if question.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS  # one reading of yes/no everywhere (CSV cells too)
        raise BadAnswer(f"must be true or false, not {_show(value)}")
    if question.type == "date":
        if value is None or value is False:
            return None
        if value is True:
            raise BadAnswer("give the date (YYYY-MM-DD), or false for none")
        if isinstance(value, dt.datetime):
            raise BadAnswer("must be a date without a time")
        if isinstance(value, dt.date):
            return check_year(value)
        if isinstance(value, str):
            return parse_date(value, order)
        raise BadAnswer(f"must be a date (YYYY-MM-DD) or false for none, not {_show(value)}")
    if question.type == "int":
        if isinstance(value, str):
            return parse_text(question, value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadAnswer(f"must be a whole number, not {_show(value)}")
        return check_range(question, value)
    # fitzpatrick
    if isinstance(value, bool):
        raise BadAnswer(f"must be a Fitzpatrick type 1-6, not {_show(value)}")
    if isinstance(value, int):
        if 1 <= value <= 6:
            return value
        raise BadAnswer("must be a Fitzpatrick type 1-6")
    if isinstance(value, str) and value.strip().upper() in ROMAN:
        return ROMAN[value.strip().upper()]
    if isinstance(value, str) and value.strip() in ("1", "2", "3", "4", "5", "6"):  # "6" as a CSV cell takes it
        return int(value.strip())
    raise BadAnswer(f"must be a Fitzpatrick type 1-6 (or I-VI), not {_show(value)}")


def check_range(question: Question, value: int) -> int:
    low, high = question.minimum, question.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadAnswer(f"must be a whole number from {low} to {high}")
    return value


def parse_text(question: Question, text: str, order: str = DEFAULT_ORDER) -> AnswerValue:
    """Parse a typed answer (a prompt reply or a CSV cell); dates in the clinic's ``order``."""
    s = text.strip()
    low = s.lower()
    if question.type == "bool":
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise BadAnswer("not yes or no")
    if question.type == "date":
        if low in NONE_WORDS:
            return None
        return parse_date(s, order)
    if question.type == "int":
        if not (s.isdecimal() and s.isascii() and len(s) <= 6):
            raise BadAnswer("not a whole number")
        return check_range(question, int(s))
    if s.upper() in ROMAN:
        return ROMAN[s.upper()]
    if s.isdecimal() and s.isascii() and 1 <= int(s) <= 6:
        return int(s)
    raise BadAnswer("not a Fitzpatrick type; use 1-6 or I-VI")


def read_answers(
    protocol: ScreeningProtocol, raw: Mapping[str, object], source: str, order: str = DEFAULT_ORDER
) -> tuple[dict[str, AnswerValue], list[str]]:
    """Validate a mapping of answers: (typed answers, missing question ids).

    Raises AnswersError naming every unknown key and every bad value; for another of needle's
    own files (a saved plan, a screening record ...), one line saying which it is.
    """
    ids = protocol.ids
    kind = foreign_kind(raw, ids)
    if kind is not None:
        what, use = FOREIGN_KINDS[kind]
        raise AnswersError(f"{source} is {what}, not an answers file ({use.format(path=source)})")
    problems: list[str] = []
    answers: dict[str, AnswerValue] = {}
    for key, value in raw.items():
        if key not in ids:
            hint = difflib.get_close_matches(str(key), ids, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            problems.append(f"unknown question '{key}'{extra}")
            continue
        try:
            answers[key] = coerce(protocol.question(key), value, order)
        except BadAnswer as exc:
            problems.append(f"{key}: {exc}")
    if problems:
        raise AnswersError(f"{source}: " + summary(problems))  # the first few, and how many more
    missing = [q for q in ids if q not in answers]
    return answers, missing


#: needle's own file kinds that are not answers files: (what it is, what to do with it).
FOREIGN_KINDS: dict[str, tuple[str, str]] = {
    "plan": ("a saved plan", "use needle plan --from {path}"),
    "record": ("a screening record", "use needle plan --screening {path}"),
    "config": ("a clinic config file", "use it with NEEDLE_CONFIG={path}"),
    "screening-protocol": ("a screening protocol", "use needle screen --protocol {path}"),
    "treatment-protocol": ("a treatment protocol", "use needle plan --indication {path}"),
    "cases": ("a protocol test file", "use needle protocols test {path}"),
}


def foreign_kind(raw: Mapping[str, object], ids: tuple[str, ...] = ()) -> str | None:
    """Which of needle's own files ``raw`` (a parsed TOML or JSON document) is, if it is not an
    answers file: a key of :data:`FOREIGN_KINDS`, or None. A key that is a question id of the
    protocol in use (a clinic's own question) never counts as a sign."""

    def has(key: str) -> bool:
        return key in raw and key not in ids

    record = raw.get("record") if has("record") else None
    if record == "needle-plan":
        return "plan"
    if record == "needle-screening":
        return "record"
    if has("clinic") and isinstance(raw["clinic"], Mapping):
        return "config"
    protocol = raw.get("protocol") if has("protocol") else None
    if isinstance(protocol, Mapping):
        return "treatment-protocol" if protocol.get("kind") == "treatment" else "screening-protocol"
    if has("cases") and isinstance(raw["cases"], list):
        return "cases"
    return None


def format_answer(question: Question, value: AnswerValue) -> str:
    """Human text for an answer (summary tables)."""
    if question.type == "bool":
        return "yes" if value else "no"
    if question.type == "date":
        return value.isoformat() if isinstance(value, dt.date) else "none"
    if question.type == "int":
        return str(value)
    roman = {v: k for k, v in ROMAN.items()}
    return f"{roman.get(int(value or 0), '?')} ({value})" if isinstance(value, int) else "?"


def _show(value: object) -> str:
    """The kind of a value, never the value itself."""
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return kinds.get(type(value), "a " + type(value).__name__)
