"""Turn raw answers (from a TOML/JSON file, a prompt or a CSV cell) into typed values.

Pure: no I/O. Every problem is collected so the user sees them all at once, and
an unknown key is always an error, so a typo can never pass as "no".
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping

from needlecli.errors import AnswersError
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


def parse_date(text: str) -> dt.date:
    """Strict ISO ``YYYY-MM-DD`` (rejects 2026-02-30, 2026-2-3 and datetimes)."""
    s = text.strip()
    if len(s) != 10 or s[4] != "-" or s[7] != "-":
        raise BadAnswer("not a date; use YYYY-MM-DD, e.g. 2026-05-31")
    try:
        day = dt.date.fromisoformat(s)
    except ValueError:
        raise BadAnswer("not a real calendar date") from None
    return check_year(day)


MIN_YEAR, MAX_YEAR = 1900, 2200


def check_year(day: dt.date) -> dt.date:
    """Dates far outside a clinic's horizon are typos, and would overflow date arithmetic."""
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise BadAnswer(f"out of range (years {MIN_YEAR}-{MAX_YEAR})")
    return day


def coerce(question: Question, value: object) -> AnswerValue:
    """Check a value read from a TOML or JSON answers file against its question."""
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
            return parse_date(value)
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
    raise BadAnswer(f"must be a Fitzpatrick type 1-6 (or I-VI), not {_show(value)}")


def check_range(question: Question, value: int) -> int:
    low, high = question.minimum, question.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadAnswer(f"must be a whole number from {low} to {high}")
    return value


def parse_text(question: Question, text: str) -> AnswerValue:
    """Parse a typed answer (a prompt reply or a CSV cell)."""
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
        return parse_date(s)
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
    protocol: ScreeningProtocol, raw: Mapping[str, object], source: str
) -> tuple[dict[str, AnswerValue], list[str]]:
    """Validate a mapping of answers: (typed answers, missing question ids).

    Raises AnswersError naming every unknown key and every bad value.
    """
    ids = protocol.ids
    problems: list[str] = []
    answers: dict[str, AnswerValue] = {}
    for key, value in raw.items():
        if key not in ids:
            hint = difflib.get_close_matches(str(key), ids, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            problems.append(f"unknown question '{key}'{extra}")
            continue
        try:
            answers[key] = coerce(protocol.question(key), value)
        except BadAnswer as exc:
            problems.append(f"{key}: {exc}")
    if problems:
        raise AnswersError(f"{source}: " + "; ".join(problems))
    missing = [q for q in ids if q not in answers]
    return answers, missing


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
