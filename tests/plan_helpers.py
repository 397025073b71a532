"""Shared builders for planning tests."""

from __future__ import annotations

import datetime as dt

from needlecli import catalog
from needlecli.model import ClinicRules, PlanRequest

MON_FRI = frozenset(range(5))


def request(
    indication: str = "fine-lines",
    start: dt.date = dt.date(2026, 12, 1),
    *,
    sessions: int | None = None,
    interval: int | None = None,
    weekdays: frozenset[int] = MON_FRI,
    closed: frozenset[dt.date] | set[dt.date] = frozenset(),
    **kw: object,
) -> PlanRequest:
    proto = catalog.load_treatment(indication)
    return PlanRequest(
        patient=str(kw.pop("patient", "P1")),
        indication=indication,
        start=start,
        sessions=sessions or proto.sessions.default,
        interval_weeks=interval or proto.interval_weeks.default,
        clinic=ClinicRules(weekdays, frozenset(closed), None),
        **kw,  # type: ignore[arg-type]
    )


#: The question ids SPEC.md fixes, spelled out here independently of the code under test.
SPEC_QUESTION_IDS: tuple[str, ...] = (
    "pregnant",
    "isotretinoin_last_dose",
    "active_acne",
    "active_dermatitis",
    "open_wounds",
    "active_infection",
    "herpes_history",
    "keloid_history",
    "bleeding_disorder",
    "uncontrolled_diabetes",
    "immunosuppression",
    "radiation_last_date",
    "anticoagulants",
    "hyperpigmentation_tendency",
    "photosensitizing_meds",
    "fitzpatrick",
    "uses_retinoids",
)
DATE_QUESTIONS = ("isotretinoin_last_dose", "radiation_last_date")

#: An answers document with nothing to report (Fitzpatrick II), as a clinic would write it.
ALL_NO: dict[str, object] = {
    q: (None if q in DATE_QUESTIONS else 2 if q == "fitzpatrick" else False) for q in SPEC_QUESTION_IDS
}
