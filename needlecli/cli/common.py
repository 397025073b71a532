"""Small helpers shared by the commands (no heavy imports)."""

from __future__ import annotations

import datetime as dt
import sys

from needlecli.answers import BadAnswer, parse_date
from needlecli.errors import UsageError


def parse_on(value: str | None, flag: str = "--on") -> dt.date:
    """The evaluation date: the flag's ISO date, or today."""
    if value is None:
        return dt.date.today()
    return parse_flag_date(value, flag)


def parse_flag_date(value: str, flag: str) -> dt.date:
    try:
        return parse_date(value)
    except BadAnswer as exc:
        raise UsageError(f"{flag}: {exc}") from None


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False
