"""Pure contraindication screening: evaluate(protocol, answers, on) -> ScreeningResult.

No I/O and no clock: the evaluation date is a parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from dateutil.relativedelta import relativedelta

from needlecli.model import (
    SEVERITY,
    AnswerValue,
    Finding,
    Question,
    Rule,
    ScreeningProtocol,
    ScreeningResult,
    Verdict,
)


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar-month arithmetic: 2026-08-31 + 6 months = 2027-02-28."""
    result: dt.date = day + relativedelta(months=months)
    return result


def _fires(question: Question, rule: Rule, value: AnswerValue, on: dt.date) -> tuple[bool, dt.date | None]:
    """Whether ``rule`` applies on ``on`` for this answer, and until when (exclusive)."""
    if question.type == "bool":
        return (isinstance(value, bool) and value == rule.when), None
    if question.type == "date":
        if not isinstance(value, dt.date) or rule.months is None:
            return False, None
        until = add_months(value, rule.months)
        # A dated rule applies on the days before `until`; on `until` it no longer applies.
        return on < until, until
    return (isinstance(value, int) and not isinstance(value, bool) and value in rule.values), None


def findings(protocol: ScreeningProtocol, answers: Mapping[str, AnswerValue], on: dt.date) -> list[Finding]:
    """Every rule that applies on ``on``, in protocol order.

    Raises KeyError if an answer is missing: an unanswered question must never
    be read as "no".
    """
    out: list[Finding] = []
    for q in protocol.questions:
        value = answers[q.id]
        for rule in q.rules:
            fires, until = _fires(q, rule, value, on)
            if fires:
                out.append(Finding(q.id, rule.category, rule.message, rule.patient_message, until))
    return out


def verdict_of(found: list[Finding] | tuple[Finding, ...]) -> Verdict:
    """The most restrictive category among the findings (precedence order)."""
    verdict: Verdict = "eligible"
    for f in found:
        if SEVERITY[f.category] > SEVERITY[verdict]:
            verdict = f.category
    return verdict


def earliest_date(verdict: Verdict, found: list[Finding] | tuple[Finding, ...], on: dt.date) -> dt.date | None:
    """SPEC: for defer, the first day no dated deferral applies (None if any is undated);
    eligible/caution: the evaluation date; contraindicated: None."""
    if verdict == "contraindicated":
        return None
    if verdict in ("eligible", "caution"):
        return on
    dates: list[dt.date] = []
    for f in found:
        if f.category != "defer":
            continue
        if f.until is None:
            return None
        dates.append(f.until)
    return max(dates) if dates else None


def evaluate(protocol: ScreeningProtocol, answers: Mapping[str, AnswerValue], on: dt.date) -> ScreeningResult:
    missing = [q for q in protocol.ids if q not in answers]
    if missing:
        raise ValueError(f"unanswered questions: {', '.join(missing)}")
    found = findings(protocol, answers, on)
    verdict = verdict_of(found)
    return ScreeningResult(
        verdict=verdict,
        earliest_date=earliest_date(verdict, found, on),
        findings=tuple(found),
        evaluated_on=on,
    )


def all_no(protocol: ScreeningProtocol) -> dict[str, AnswerValue]:
    """A complete answer set with nothing to report (Fitzpatrick I); handy for tests and demos."""
    out: dict[str, AnswerValue] = {}
    for q in protocol.questions:
        out[q.id] = {"bool": False, "date": None, "fitzpatrick": 1}[q.type]
    return out
