"""Turn raw answers (from a TOML/JSON file, a prompt or a CSV cell) into typed values.

Also reads dates as people type them (the API is `needlecli.dates`).

Pure: no I/O. Every problem is collected so the user sees them all at once, and
an unknown key is always an error, so a typo can never pass as "no".
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping

from needlecli.dates import (
    DEFAULT_ORDER,
    BadAnswer,
    check_year,
    parse_date,
)
from needlecli.errors import AnswersError, summary
from needlecli.model import AnswerValue, Question, ScreeningProtocol

ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
TRUE_WORDS = frozenset({"y", "yes", "true", "1"})
FALSE_WORDS = frozenset({"n", "no", "false", "0"})
NONE_WORDS = frozenset({"", "none", "no", "n", "false", "never", "-"})


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
