"""Hypothesis properties for the SPEC.md screening invariants, over random answers
and over random protocols (a clinic's own rules must obey them too)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import assume, given
from hypothesis import strategies as st

from needlecli import catalog
from needlecli.model import (
    CATEGORIES,
    SEVERITY,
    AnswerValue,
    ProtocolInfo,
    Question,
    Rule,
    ScreeningProtocol,
)
from needlecli.screening import evaluate

BUNDLED = catalog.load_screening()
DATES = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2060, 12, 31))


def answer_for(q: Question) -> st.SearchStrategy[AnswerValue]:
    if q.type == "bool":
        return st.booleans()
    if q.type == "date":
        return st.one_of(st.none(), DATES)
    if q.type == "int":
        return st.integers(min_value=q.minimum or 0, max_value=q.maximum or 120)
    return st.integers(min_value=1, max_value=6)


def not_after(answers: dict[str, AnswerValue], on: dt.date) -> dict[str, AnswerValue]:
    """A date answer after the evaluation date is an error (a typo): fold such dates back onto ``on``."""
    return {k: (min(v, on) if isinstance(v, dt.date) else v) for k, v in answers.items()}


def answers_for(proto: ScreeningProtocol) -> st.SearchStrategy[dict[str, AnswerValue]]:
    return st.fixed_dictionaries({q.id: answer_for(q) for q in proto.questions})


@st.composite
def protocols(draw: st.DrawFn) -> ScreeningProtocol:
    """Random screening protocols: bool, date and fitzpatrick questions with random rules."""
    n = draw(st.integers(min_value=1, max_value=8))
    questions = []
    for i in range(n):
        qtype = draw(st.sampled_from(["bool", "date", "fitzpatrick", "int"]))
        rules = []
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            cat = draw(st.sampled_from(CATEGORIES))
            if qtype == "bool":
                rules.append(Rule(cat, "m", "p", "s", when=True))
            elif qtype == "date":
                unit = draw(st.sampled_from(["months", "weeks", "days", "ever"]))
                if unit == "ever":
                    rules.append(Rule(cat, "m", "p", "s", ever=True))
                else:
                    rules.append(Rule(cat, "m", "p", "s", **{unit: draw(st.integers(min_value=1, max_value=36))}))
            elif qtype == "int":
                lo = draw(st.one_of(st.none(), st.integers(0, 120)))
                hi = draw(st.one_of(st.none(), st.integers(lo or 0, 120)))
                rules.append(
                    Rule(cat, "m", "p", "s", at_least=lo, at_most=hi if lo is not None or hi is not None else 50)
                )
            else:
                vals = draw(st.lists(st.integers(1, 6), min_size=1, max_size=6, unique=True))
                rules.append(Rule(cat, "m", "p", "s", values=tuple(sorted(vals))))
        bounds = {"minimum": 0, "maximum": 120} if qtype == "int" else {}
        questions.append(Question(f"q{i}", qtype, "S", "?", tuple(rules), **bounds))  # type: ignore[arg-type]
    info = ProtocolInfo("random", "screening", "0", "random", ("test",), "0" * 64, "test")
    return ScreeningProtocol(info, tuple(questions), valid_days=90)


@st.composite
def protocol_and_answers(draw: st.DrawFn) -> tuple[ScreeningProtocol, dict[str, AnswerValue]]:
    proto = draw(st.one_of(st.just(BUNDLED), protocols()))
    return proto, draw(answers_for(proto))


@given(protocol_and_answers(), DATES)
def test_contraindicated_finding_always_wins(pa: tuple[ScreeningProtocol, dict[str, AnswerValue]], on: dt.date) -> None:
    proto, answers = pa
    answers = not_after(answers, on)
    r = evaluate(proto, answers, on)
    if any(f.category == "contraindicated" for f in r.findings):
        assert r.verdict == "contraindicated"
        assert r.earliest_date is None
    # The verdict is exactly the most restrictive finding (never more permissive).
    worst = max((SEVERITY[f.category] for f in r.findings), default=0)
    assert SEVERITY[r.verdict] == worst


@given(protocol_and_answers(), DATES)
def test_earliest_date_respects_every_dated_deferral(
    pa: tuple[ScreeningProtocol, dict[str, AnswerValue]], on: dt.date
) -> None:
    proto, answers = pa
    answers = not_after(answers, on)
    r = evaluate(proto, answers, on)
    if r.verdict == "eligible" or r.verdict == "caution":
        assert r.earliest_date == on
        assert not any(f.category == "defer" for f in r.findings)
    if r.verdict == "defer":
        defers = [f for f in r.findings if f.category == "defer"]
        if any(f.until is None for f in defers):
            assert r.earliest_date is None
        else:
            assert r.earliest_date is not None
            for f in defers:
                assert f.until is not None and r.earliest_date >= f.until
            # It is the *first* such date: one day earlier a deferral still applies.
            assert r.earliest_date > on
            before = evaluate(proto, answers, r.earliest_date - dt.timedelta(days=1))
            assert any(f.category == "defer" for f in before.findings)
            after = evaluate(proto, answers, r.earliest_date)
            assert not any(f.category == "defer" for f in after.findings)


@given(protocol_and_answers(), DATES, st.data())
def test_one_more_yes_never_makes_the_verdict_more_permissive(
    pa: tuple[ScreeningProtocol, dict[str, AnswerValue]], on: dt.date, data: st.DataObject
) -> None:
    proto, answers = pa
    answers = not_after(answers, on)
    bools_no = [q.id for q in proto.questions if q.type == "bool" and answers[q.id] is False]
    dates_none = [q.id for q in proto.questions if q.type == "date" and answers[q.id] is None]
    dated = [q.id for q in proto.questions if q.type == "date" and isinstance(answers[q.id], dt.date)]
    assume(bools_no or dates_none or dated)
    qid = data.draw(st.sampled_from(bools_no + dates_none + dated))
    more = dict(answers)
    if qid in bools_no:
        more[qid] = True  # a "yes"
    elif qid in dates_none:
        more[qid] = data.draw(st.dates(max_value=on))  # a date instead of none
    else:
        current = answers[qid]
        assert isinstance(current, dt.date)
        more[qid] = data.draw(st.dates(min_value=current, max_value=on))  # a later date
    before = evaluate(proto, answers, on)
    after = evaluate(proto, more, on)
    assert SEVERITY[after.verdict] >= SEVERITY[before.verdict]
    # Every finding that applied still applies, for at least as long.
    for f in before.findings:
        assert any(
            g.id == f.id
            and g.category == f.category
            and (g.until is None or (f.until is not None and g.until >= f.until))
            for g in after.findings
        ), f
    # A deferral with a date can only move later, never earlier.
    if before.verdict == after.verdict == "defer" and before.earliest_date and after.earliest_date:
        assert after.earliest_date >= before.earliest_date


@given(answers_for(BUNDLED), DATES)
def test_bundled_findings_are_well_formed(answers: dict[str, AnswerValue], on: dt.date) -> None:
    r = evaluate(BUNDLED, not_after(answers, on), on)
    for f in r.findings:
        assert f.category in CATEGORIES
        assert f.message and f.patient_message
        if f.until is not None:
            assert f.until > on  # a dated finding only applies before its date
    assert r.evaluated_on == on


def test_random_protocol_strategy_is_not_vacuous() -> None:
    # Guard against a strategy that never produces the cases the properties are about.
    proto = dataclasses.replace(
        BUNDLED, questions=tuple(q for q in BUNDLED.questions if q.id in ("keloid_history", "pregnant"))
    )
    r = evaluate(proto, {"keloid_history": True, "pregnant": True}, dt.date(2026, 1, 1))
    assert r.verdict == "contraindicated"
