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

Pure and cheap to import (``datetime`` and ``re``, and the answers module the CLI loads
anyway): python-dateutil's parser fills in missing parts from a default date and reads
two-digit years, which is exactly what must be refused here, so the few forms above are read
by hand. The code lives in `needlecli.answers` because the pure core (answers files, CSV
cells) reads dates with it and may import only the modules tests/test_architecture.py lists
as pure; import it from here.

Usage::

    from needlecli.dates import DateError, describe, parse_date

    day = parse_date("03/05/2026", "DMY")   # datetime.date(2026, 5, 3)
    describe(day)                          # 'Sun 3 May 2026'
    parse_date("03/05/26", "DMY")          # DateError: a date with a two-digit year; ...
"""

from __future__ import annotations

from needlecli.answers import (
    DEFAULT_ORDER,
    MAX_YEAR,
    MIN_YEAR,
    MONTH_NAMES,
    ORDERS,
    WEEKDAY_NAMES,
    check_order,
    check_year,
    describe,
    forms,
    is_numeric_day_month,
    layout,
    parse_date,
)
from needlecli.answers import BadAnswer as DateError

__all__ = [
    "DEFAULT_ORDER",
    "MAX_YEAR",
    "MIN_YEAR",
    "MONTH_NAMES",
    "ORDERS",
    "WEEKDAY_NAMES",
    "DateError",
    "check_order",
    "check_year",
    "describe",
    "forms",
    "is_numeric_day_month",
    "layout",
    "parse_date",
]
