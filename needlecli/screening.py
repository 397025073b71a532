"""Pure contraindication screening: evaluate(protocol, answers, on) -> ScreeningResult.

No I/O and no clock: the evaluation date is a parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from needlecli.dates import add_months
from needlecli.errors import AnswersError
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


def wait_end(rule: Rule, day: dt.date) -> dt.date:
    """The day a dated rule stops applying for an answer of ``day``: calendar months, then weeks and days."""
    return add_months(day, rule.months or 0) + dt.timedelta(weeks=rule.weeks or 0, days=rule.days or 0)


def _fires(question: Question, rule: Rule, value: AnswerValue, on: dt.date) -> tuple[bool, dt.date | None]:
    """Whether ``rule`` applies on ``on`` for this answer, and until when (exclusive)."""
    if question.type == "bool":
        return (isinstance(value, bool) and value == rule.when), None
    if question.type == "date":
        if not isinstance(value, dt.date):
            return False, None
        if rule.ever:
            return True, None
        if not rule.dated:
            return False, None
        until = wait_end(rule, value)
        # A dated rule applies on the days before `until`; on `until` it no longer applies.
        return on < until, until
    if not isinstance(value, int) or isinstance(value, bool):
        return False, None
    if question.type == "int":
        low = rule.at_least if rule.at_least is not None else value
        high = rule.at_most if rule.at_most is not None else value
        return low <= value <= high, None
    return value in rule.values, None


def future_dates(protocol: ScreeningProtocol, answers: Mapping[str, AnswerValue], on: dt.date) -> list[str]:
    """The date questions answered with a day after the evaluation date (a typo, never a plan)."""
    later = []
    for q in protocol.questions:
        value = answers.get(q.id)
        if q.type == "date" and isinstance(value, dt.date) and value > on:
            later.append(q.id)
    return later


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
    later = future_dates(protocol, answers, on)
    if later:
        raise AnswersError(
            f"{', '.join(later)}: the date is after the evaluation date ({on.isoformat()}); check the year"
        )
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
        if q.type == "int":
            out[q.id] = quiet_number(q)
        else:
            out[q.id] = {"bool": False, "date": None, "fitzpatrick": 1}[q.type]
    return out


def quiet_number(question: Question) -> int | None:
    """An int answer that fires none of the question's rules, nearest the middle of its range."""
    low = question.minimum if question.minimum is not None else 0
    high = question.maximum if question.maximum is not None else low + 100
    middle = (low + high) // 2
    for step in range(high - low + 1):
        for value in (middle - step, middle + step):
            if low <= value <= high and not any(_fires(question, r, value, dt.date.min)[0] for r in question.rules):
                return value
    return None


#: Answer dates to compare two waits on: every day of a leap cycle (2000, a leap year, to 2003), which
#: holds every day of the month of every month in leap and common years. Calendar-month waits end on
#: days that depend only on those, so a wait at least as long on each of them is at least as long on
#: any date (2100, a common century year, falls like 2001).
_PROBE_DAYS = tuple(dt.date(2000, 1, 1) + dt.timedelta(days=i) for i in range(366 + 3 * 365))


def covers(rule: Rule, standard: Rule) -> bool:
    """Is ``rule`` at least as strict as ``standard`` for the same question: as severe a
    category, firing at least whenever the standard one fires, for at least as long?"""
    if SEVERITY[rule.category] < SEVERITY[standard.category]:
        return False
    if standard.when is not None:
        return rule.when == standard.when
    if standard.ever or standard.dated:
        if rule.ever:
            return True
        if standard.ever or not rule.dated:
            return False
        return all(wait_end(rule, d) >= wait_end(standard, d) for d in _PROBE_DAYS)
    if standard.values:
        return set(standard.values) <= set(rule.values)
    lo_ok = rule.at_least is None or (standard.at_least is not None and rule.at_least <= standard.at_least)
    hi_ok = rule.at_most is None or (standard.at_most is not None and rule.at_most >= standard.at_most)
    return (rule.at_least is not None or rule.at_most is not None) and lo_ok and hi_ok


def looser_questions(protocol: ScreeningProtocol, standard: ScreeningProtocol) -> list[tuple[str, Rule]]:
    """(question id, standard rule) for every standard rule that no rule of the protocol covers.

    A question with an ``override`` (the clinic's recorded reason) is exempt.
    """
    out: list[tuple[str, Rule]] = []
    mine = {q.id: q for q in protocol.questions}
    for ref in standard.questions:
        q = mine.get(ref.id)
        if q is None or q.override:
            continue
        for rule in ref.rules:
            if q.type != ref.type or not any(covers(r, rule) for r in q.rules):
                out.append((ref.id, rule))
    return out


def looser_gates(protocol: ScreeningProtocol, standard: ScreeningProtocol) -> list[tuple[str, str]]:
    """(question id, gate) for every question the interview asks only after a gate that the standard
    protocol does not put it behind: a "no" at the gate answers it "no" unasked, so gating loosens it.
    A question with an ``override`` is exempt."""
    ref = {q.id: q for q in standard.questions}
    out = []
    for q in protocol.questions:
        if q.asked_if is None or q.override:
            continue
        standard_q = ref.get(q.id)
        if standard_q is not None and standard_q.asked_if != q.asked_if:
            out.append((q.id, q.asked_if))
    return out


def patient_lines(result: ScreeningResult) -> tuple[str, ...]:
    """What to tell the patient, without contradictions: a contraindication's words alone (no
    "extra care with your treatment" beside "not suitable"); for a deferral, the reasons to wait
    and then the cautions for later; otherwise the cautions. Each line once, most severe first."""
    keep = {"contraindicated": ("contraindicated",), "defer": ("defer", "caution")}.get(result.verdict, ("caution",))
    ordered = sorted((f for f in result.findings if f.category in keep), key=lambda f: -SEVERITY[f.category])
    return tuple(dict.fromkeys(f.patient_message for f in ordered))
