"""The screening core: every default rule, precedence and earliest_date, with exact dates."""

from __future__ import annotations

import datetime as dt

import pytest

from needlecli import catalog
from needlecli.dates import add_months
from needlecli.model import AnswerValue, ScreeningProtocol
from needlecli.screening import all_no, evaluate

D = dt.date
ON = D(2026, 12, 1)


@pytest.fixture(scope="module")
def proto() -> ScreeningProtocol:
    return catalog.load_screening()


def screen(proto: ScreeningProtocol, on: dt.date = ON, **changes: AnswerValue):  # type: ignore[no-untyped-def]
    answers = all_no(proto)
    for k in changes:
        assert k in answers, k
    answers.update(changes)
    return evaluate(proto, answers, on)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (D(2026, 8, 31), 6, D(2027, 2, 28)),
        (D(2027, 8, 31), 6, D(2028, 2, 29)),  # leap year
        (D(2026, 3, 31), 1, D(2026, 4, 30)),
        (D(2026, 1, 15), 12, D(2027, 1, 15)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
    ],
)
def test_calendar_month_arithmetic(start: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(start, months) == expected


def test_all_no_is_eligible_on_the_evaluation_date(proto: ScreeningProtocol) -> None:
    r = screen(proto)
    assert (r.verdict, r.earliest_date, r.findings) == ("eligible", ON, ())


@pytest.mark.parametrize(
    ("qid", "category"),
    [
        ("pregnant", "defer"),
        ("active_acne", "defer"),
        ("active_dermatitis", "defer"),
        ("open_wounds", "defer"),
        ("active_infection", "defer"),
        ("herpes_history", "caution"),
        ("keloid_history", "contraindicated"),
        ("bleeding_disorder", "contraindicated"),
        ("uncontrolled_diabetes", "contraindicated"),
        ("immunosuppression", "contraindicated"),
        ("anticoagulants", "caution"),
        ("hyperpigmentation_tendency", "caution"),
        ("photosensitizing_meds", "caution"),
    ],
)
def test_each_yes_no_rule(proto: ScreeningProtocol, qid: str, category: str) -> None:
    r = screen(proto, **{qid: True})
    assert [(f.id, f.category, f.until) for f in r.findings] == [(qid, category, None)]
    assert r.verdict == category
    expected_earliest = {"contraindicated": None, "defer": None, "caution": ON}[category]
    assert r.earliest_date == expected_earliest


def test_uses_retinoids_adds_no_finding(proto: ScreeningProtocol) -> None:
    r = screen(proto, uses_retinoids=True)
    assert (r.verdict, r.findings) == ("eligible", ())


@pytest.mark.parametrize(
    ("ftype", "verdict"),
    [(1, "eligible"), (2, "eligible"), (3, "eligible"), (4, "caution"), (5, "caution"), (6, "caution")],
)
def test_fitzpatrick(proto: ScreeningProtocol, ftype: int, verdict: str) -> None:
    r = screen(proto, fitzpatrick=ftype)
    assert r.verdict == verdict
    assert [f.id for f in r.findings] == ([] if verdict == "eligible" else ["fitzpatrick"])


def test_isotretinoin_month_end_defer_then_caution(proto: ScreeningProtocol) -> None:
    last = D(2026, 8, 31)
    # Within 6 months: defer until 2027-02-28 (month end), caution until 2027-08-31.
    r = screen(proto, on=D(2026, 12, 1), isotretinoin_last_dose=last)
    assert r.verdict == "defer"
    assert r.earliest_date == D(2027, 2, 28)
    assert [(f.category, f.until) for f in r.findings] == [("defer", D(2027, 2, 28)), ("caution", D(2027, 8, 31))]
    # The day before `until` the deferral still applies; on `until` it no longer does.
    assert screen(proto, on=D(2027, 2, 27), isotretinoin_last_dose=last).verdict == "defer"
    on_until = screen(proto, on=D(2027, 2, 28), isotretinoin_last_dose=last)
    assert (on_until.verdict, on_until.earliest_date) == ("caution", D(2027, 2, 28))
    assert [(f.category, f.until) for f in on_until.findings] == [("caution", D(2027, 8, 31))]
    # Caution ends on last dose + 12 months.
    assert screen(proto, on=D(2027, 8, 30), isotretinoin_last_dose=last).verdict == "caution"
    done = screen(proto, on=D(2027, 8, 31), isotretinoin_last_dose=last)
    assert (done.verdict, done.findings) == ("eligible", ())


def test_radiation_defers_twelve_months(proto: ScreeningProtocol) -> None:
    r = screen(proto, on=D(2026, 12, 1), radiation_last_date=D(2026, 2, 28))
    assert (r.verdict, r.earliest_date) == ("defer", D(2027, 2, 28))
    # After the deferral, past radiation stays a caution with no end (screening protocol 2.x).
    later = screen(proto, on=D(2027, 2, 28), radiation_last_date=D(2026, 2, 28))
    assert later.verdict == "caution"
    assert [(f.id, f.category, f.until) for f in later.findings] == [("radiation_last_date", "caution", None)]


def test_earliest_date_is_the_latest_dated_deferral(proto: ScreeningProtocol) -> None:
    r = screen(proto, isotretinoin_last_dose=D(2026, 10, 15), radiation_last_date=D(2026, 3, 1))
    assert r.verdict == "defer"
    assert r.earliest_date == D(2027, 4, 15)  # isotretinoin + 6 months beats radiation + 12 months (2027-03-01)


def test_undated_deferral_makes_earliest_date_null(proto: ScreeningProtocol) -> None:
    r = screen(proto, pregnant=True, isotretinoin_last_dose=D(2026, 10, 15))
    assert (r.verdict, r.earliest_date) == ("defer", None)


def test_precedence(proto: ScreeningProtocol) -> None:
    assert screen(proto, herpes_history=True, active_acne=True).verdict == "defer"
    r = screen(proto, herpes_history=True, active_acne=True, keloid_history=True)
    assert (r.verdict, r.earliest_date) == ("contraindicated", None)
    assert screen(proto, herpes_history=True, fitzpatrick=6).verdict == "caution"


def test_missing_answer_is_never_read_as_no(proto: ScreeningProtocol) -> None:
    answers = all_no(proto)
    del answers["keloid_history"]
    with pytest.raises(ValueError, match="keloid_history"):
        evaluate(proto, answers, ON)


def test_patient_wording_is_safe(proto: ScreeningProtocol) -> None:
    anticoag = proto.question("anticoagulants").rules[0].patient_message
    assert "prescriber" in anticoag
    assert "discuss" in anticoag
    assert "keep taking" in anticoag.lower()
    herpes = proto.question("herpes_history").rules[0].patient_message
    assert "medicine" in herpes and "prescriber" in herpes
    import re

    for q in proto.questions:
        for rule in q.rules:
            # Never an instruction to stop a medicine: "stop" only appears negated ("don't stop").
            for m in re.finditer(r"\bstop\b", rule.patient_message, re.I):
                before = rule.patient_message[max(0, m.start() - 8) : m.start()].lower()
                assert "don't" in before or "not" in before, rule.patient_message


def test_severity_of_names_read_from_files() -> None:
    from needlecli.model import severity_of

    assert [severity_of(v) for v in ("eligible", "caution", "defer", "contraindicated")] == [0, 1, 2, 3]
    assert severity_of("approved") == 3  # an unknown verdict is never treated as permissive
