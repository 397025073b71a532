"""Dates as a front desk types them, read one way everywhere: date flags, the interview,
answers files and batch CSV cells.

Always accepted, whatever the clinic's order: ISO with or without leading zeros
(``2026-03-05``, ``2026-3-5``, ``2026/3/5``, ``20260305``) and dates with a month name in
English, full or abbreviated, in any order of day and month (``3 May 2026``,
``May 3, 2026``, ``5 mar 2026``, ``Tue 5 May 2026``; a weekday, if given, must match).
Day and month as numbers (``03/05/2026``, ``3.5.2026``, ``3-5-2026``) are read in the
clinic's ``date_order`` (config): ``DMY`` reads 03/05/2026 as 3 May, ``MDY`` as 5 March.
Under the default ``ISO`` they are refused as ambiguous rather than guessed (SPEC.md: dates
are ISO, or in the clinic's order).

Strict: a partial date (``May 2026``), a two-digit year (``3/5/26``), a day that does not
exist (``2026-02-30``) and a year outside 1900-2200 are errors. Every error is a
:class:`DateError` (a ValueError) whose one-line message never repeats the value, as values
may be patient answers; callers that may show the value (a flag) add it themselves. Each
message reads after "'VALUE' is ...", e.g. "not a real calendar date".

Pure and cheap to import (``datetime`` and ``re``): python-dateutil's parser fills in
missing parts from a default date and reads two-digit years, which is exactly what must be
refused here, so the few forms above are read by hand. Calendar-month arithmetic
(``add_months``) lives here too; it is python-dateutil's ``relativedelta``, imported on first use.

Usage::

    from needlecli.dates import DateError, describe, parse_date

    day = parse_date("03/05/2026", "DMY")   # datetime.date(2026, 5, 3)
    describe(day)                          # 'Sun 3 May 2026'
    parse_date("03/05/26", "DMY")          # DateError: a date with a two-digit year; ...
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

__all__ = [
    "DEFAULT_ORDER",
    "MAX_YEAR",
    "MIN_YEAR",
    "MONTH_NAMES",
    "ORDERS",
    "WEEKDAY_NAMES",
    "BadAnswer",
    "DateError",
    "add_months",
    "check_order",
    "check_year",
    "describe",
    "forms",
    "is_numeric_day_month",
    "layout",
    "parse_date",
]


class BadAnswer(ValueError):
    """One answer that cannot be used; the message says what is expected.

    Messages never repeat the answer itself (answers are patient data and stderr may be logged):
    they read "not a real calendar date", "must be true or false, not a string".
    """


# ----------------------------------------------------------------- dates

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
                # Only the readings that are dates count: 31/12/2027 can only be 31 December, and
                # 31/02/2026 is no date in any order (never "ambiguous").
                readings = {_real(int(c), int(month), int(day)) for day, month in ((a, b), (b, a))} - {None}
                if len(readings) == 1:
                    return readings.pop()  # type: ignore[return-value]
                if not readings:
                    raise BadAnswer("not a date in either order of day and month; check the day")
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


def _real(year: int, month: int, day: int) -> dt.date | None:
    """The date, or None when there is no such day."""
    try:
        return _make(year, month, day)
    except BadAnswer:
        return None


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


#: An ISO date in running text; not one inside a path or file name (``plan-2026-12-01.ics``), a
#: longer token (``2026-12-01T10:30``) or quotes (what someone typed is quoted as they typed it).
_ISO_IN_TEXT = re.compile(r"(?<![\w./\\'\"-])(\d{4})-(\d{2})-(\d{2})(?![\w/\\'\"-]|\.\w)")
#: An ISO date anywhere (inside a path too): what makes a typed text worth keeping as typed.
_ISO_IN_TEXT_ANY = re.compile(r"\d{4}-\d{2}-\d{2}")


def shown(text: str, order: str = DEFAULT_ORDER, typed: Iterable[str] = ()) -> str:
    """Text for people with its ISO dates written in the clinic's ``order`` (DMY: ``31/12/2026``, MDY:
    ``12/31/2026``; ISO: as it is). Where the text quotes one of ``typed`` (what the command was given:
    its arguments, a file's path, a row's patient id) that holds a date, it is left as it was typed: a
    patient id or a file name that looks like a date is not one. Machine formats (JSON, the CSV date
    columns, calendars, saved files) keep ISO."""
    if order not in ("DMY", "MDY"):
        return text
    kept: list[tuple[int, int]] = []
    for t in {t for t in typed if _ISO_IN_TEXT_ANY.search(t)}:
        at = text.find(t)
        while at >= 0:
            kept.append((at, at + len(t)))
            at = text.find(t, at + 1)
    form = r"\3/\2/\1" if order == "DMY" else r"\2/\3/\1"

    def written(m: re.Match[str]) -> str:
        if any(a <= m.start() and m.end() <= b for a, b in kept):
            return m.group(0)
        return m.expand(form)

    return _ISO_IN_TEXT.sub(written, text)


def describe(day: dt.date) -> str:
    """The date in a form nobody can misread, in any date order: ``Tue 5 May 2026``."""
    return f"{WEEKDAY_NAMES[day.weekday()][:3]} {day.day} {MONTH_NAMES[day.month - 1][:3]} {day.year}"


def is_numeric_day_month(text: str) -> bool:
    """Whether ``text`` writes day and month as numbers in the clinic's order (``03/05/2026``): the
    form a reader of another order would misread, so the date understood is worth echoing."""
    m = _NUMERIC.fullmatch(text.strip())
    return m is not None and len(m.group(1)) <= 2 and len(m.group(4)) == 4


#: What a date that cannot be read raises (the same class as any unusable answer).
DateError = BadAnswer


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar-month arithmetic: 2026-08-31 + 6 months = 2027-02-28."""
    from dateutil.relativedelta import relativedelta  # imported on first use: start-up

    result: dt.date = day + relativedelta(months=months)
    return result
