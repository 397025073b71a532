"""Shared builders: plan requests, answers files, screening records and plans made with `needle`.

Each builder lives here once; how `needle` is run lives in tests/harness.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from needlecli import catalog
from needlecli.model import ClinicRules, PlanRequest
from tests.harness import output, run

ON = "2026-12-01"
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


#: The question ids SPEC.md fixes (screening protocol 2.x), spelled out here independently of the code under test.
SPEC_QUESTION_IDS: tuple[str, ...] = (
    "pregnant",
    "breastfeeding",
    "age",
    "isotretinoin_last_dose",
    "active_acne",
    "active_dermatitis",
    "open_wounds",
    "active_infection",
    "sunburn_last_date",
    "skin_cancer_in_area",
    "lesions_in_area",
    "herpes_history",
    "keloid_history",
    "bleeding_disorder",
    "diabetes",
    "uncontrolled_diabetes",
    "immunosuppression",
    "autoimmune_disease",
    "radiation_last_date",
    "anticoagulants",
    "anesthetic_allergy",
    "metal_allergy",
    "topical_allergy",
    "neurotoxin_last_date",
    "filler_last_date",
    "peel_last_date",
    "laser_last_date",
    "surgery_last_date",
    "vaccine_last_date",
    "hyperpigmentation_tendency",
    "photosensitizing_meds",
    "fitzpatrick",
    "uses_retinoids",
)
DATE_QUESTIONS = (
    "isotretinoin_last_dose",
    "sunburn_last_date",
    "radiation_last_date",
    "neurotoxin_last_date",
    "filler_last_date",
    "peel_last_date",
    "laser_last_date",
    "surgery_last_date",
    "vaccine_last_date",
)

#: An answers document with nothing to report (Fitzpatrick II), as a clinic would write it.
ALL_NO: dict[str, object] = {
    q: (None if q in DATE_QUESTIONS else 2 if q == "fitzpatrick" else 35 if q == "age" else False)
    for q in SPEC_QUESTION_IDS
}

#: ALL_NO as an answers file with no null writes it: a "none" date is false.
ALL_NO_FALSE: dict[str, object] = {q: (False if q in DATE_QUESTIONS else v) for q, v in ALL_NO.items()}


def toml_answers(tmp_path: Path, **changes: object) -> Path:
    lines = []
    for k, v in {**ALL_NO_FALSE, **changes}.items():
        lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else v}")
    path = tmp_path / "answers.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def json_answers(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({**ALL_NO_FALSE, **changes}))
    return path


#: The answers behind screening_record(): nothing to report, and the patient uses retinoids.
RECORD_ANSWERS = {**ALL_NO, "uses_retinoids": True}


def screening_record(tmp_path: Path, on: str = "2026-11-30", **changes: object) -> Path:
    """A real record, written by `needle screen --out`."""
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({**RECORD_ANSWERS, **changes}))
    out = tmp_path / "screening.toml"
    code, _, err = run("screen", "--answers", str(answers), "--on", on, "--patient", "P1", "--out", str(out))
    assert code in (0, 3, 4), err
    return out


def plan_json(*args: str) -> dict:  # type: ignore[type-arg]
    """`needle plan --on ON --format json ARGS`, which must succeed, as a document."""
    code, out, err = run("plan", "--on", ON, "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def plan_args(patient: str = "P-0042", indication: str = "acne-scars", *extra: str) -> list[str]:
    """The export tests' plan: timed, in Europe/London, with GB holidays and a booster."""
    return [
        "plan",
        "--on",
        ON,
        "--patient",
        patient,
        "--indication",
        indication,
        "--start",
        "2027-03-01",
        "--time",
        "10:30",
        "--tz",
        "Europe/London",
        "--holidays",
        "GB",
        "--boosters",
        "1",
        *extra,
    ]


def saved_plan(tmp_path: Path, patient: str = "P-0042") -> Path:
    """plan_args() saved as TOML."""
    path = tmp_path / f"{patient}.toml"
    output(*plan_args(patient), "--format", "toml", "--out", str(path))
    return path


def screening_without_herpes_rule(reason: str = "prescriber decides") -> str:
    """The bundled screening protocol with the herpes history rule removed, as a clinic would loosen
    it: valid only with its override line."""
    text = (catalog.bundled_folder() / "screening.toml").read_text(encoding="utf-8")
    start = text.index('id = "herpes_history"')
    rule = text.index("[[questions.rules]]", start)
    end = text.index("[[questions]]", rule)
    head = text[:start] + f'id = "herpes_history"\noverride = "{reason}"\n'
    return head + text[start + len('id = "herpes_history"\n') : rule] + text[end:]
