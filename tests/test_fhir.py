"""FHIR R4: `needle export PATIENT --format fhir` and `needle protocols show screening --format fhir`,
every document validated by an independent FHIR library (fhir.resources, its R4B models: the nearest
to R4 it ships), for every state a series goes through; references resolve; the Appointments' ids
are the calendar's UIDs; the Questionnaire's enableWhen opens what the interview opens."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from needlecli import catalog
from needlecli.cli.interactive import plan_steps
from tests.harness import run
from tests.test_register import register, screen, verify
from tests.test_series import booked, check

__all__ = ["register"]  # the fixture, used by name

pytest.importorskip("fhir.resources")
ON = "2026-12-01"


#: R4's required bindings for the codes needle writes (fhir.resources checks types, not these).
CODES = {
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                         "history", "searchset", "collection"},
    ("Appointment", "status"): {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
                                "entered-in-error", "checked-in", "waitlist"},
    ("CarePlan", "status"): {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    ("CarePlan", "intent"): {"proposal", "plan", "order", "option"},
    ("DetectedIssue", "status"): {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                  "entered-in-error", "unknown"},
    ("DetectedIssue", "severity"): {"high", "moderate", "low"},
    ("QuestionnaireResponse", "status"): {"in-progress", "completed", "amended", "entered-in-error", "stopped"},
    ("Questionnaire", "status"): {"draft", "active", "retired", "unknown"},
}  # fmt: skip
DETAIL_STATUS = {"not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "unknown",
                 "entered-in-error"}  # fmt: skip


def validate(doc: dict[str, Any]) -> None:
    """The document and each resource in it, by fhir.resources' R4B models (required elements,
    cardinality, types, no unknown elements), and the codes of R4's required bindings."""
    kind = doc["resourceType"]
    model = getattr(importlib.import_module(f"fhir.resources.R4B.{kind.lower()}"), kind)
    model.model_validate(doc)
    for (resource, element), allowed in CODES.items():
        if resource == kind and element in doc:
            assert doc[element] in allowed, (kind, element, doc[element])
    for activity in doc.get("activity", []):
        assert "detail" not in activity or activity["detail"]["status"] in DETAIL_STATUS
    for entry in doc.get("entry", []):
        validate(entry["resource"])


def references(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from references(v)
    elif isinstance(value, list):
        for v in value:
            yield from references(v)


def export(patient: str, *args: str) -> dict[str, Any]:
    code, out, err = run("export", patient, "--format", "fhir", "--on", ON, *args)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    validate(doc)
    urls = {e["fullUrl"] for e in doc["entry"]}
    assert all(u.startswith("urn:uuid:") for u in urls) and len(urls) == len(doc["entry"])
    assert set(references(doc)) <= urls, set(references(doc)) - urls  # every reference resolves
    assert doc["type"] == "collection"
    return doc


def resources(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == kind]


def uids(patient: str) -> dict[str, str]:
    code, out, _ = run("export", patient, "--format", "ics", "--on", ON)
    assert code == 0
    return {str(e["UID"]): str(e.get("STATUS", "")) for e in Calendar.from_ical(out).walk("VEVENT")}


def appointments(doc: dict[str, Any]) -> dict[str, str]:
    return {a["identifier"][0]["value"]: a["status"] for a in resources(doc, "Appointment")}


def test_a_booked_series(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    doc = export("P-1")
    [patient] = resources(doc, "Patient")
    assert patient["identifier"][0]["value"] == "P-1" and "name" not in patient
    [plan] = resources(doc, "CarePlan")
    assert plan["status"] == "active" and plan["intent"] == "plan"
    assert appointments(doc) == {uid: "booked" for uid, status in uids("P-1").items() if status == "CONFIRMED"
                                 and "-session-" in uid}  # fmt: skip
    windows = [a["detail"] for a in plan["activity"] if "detail" in a]
    assert windows and all(w["doNotPerform"] for w in windows if w["code"]["coding"][0]["code"].startswith("pause"))
    [response] = resources(doc, "QuestionnaireResponse")
    [form] = resources(doc, "Questionnaire")
    assert response["questionnaire"] == f"{form['url']}|{form['version']}" and response["authored"] == ON
    assert response["status"] == "completed"
    [provenance] = resources(doc, "Provenance")
    sha = catalog.load_screening(catalog.STANDARD_SCREENING).info.sha256
    assert len(sha) == 64 and form["identifier"][0]["value"] == sha
    assert sha in provenance["entity"][0]["what"]["display"]
    [device] = resources(doc, "Device")
    assert device["deviceName"][0]["name"] == "needle"
    # The same export again: the same bytes (ids derived, not random).
    assert run("export", "P-1", "--format", "fhir", "--on", ON)[1] == run("export", "P-1", "--format", "fhir",
                                                                          "--on", ON)[1]  # fmt: skip


def test_partly_done_missed_and_cancelled(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-07")[0] == 0
    doc = export("P-1")
    statuses = sorted(appointments(doc).values())
    assert statuses == ["booked", "booked", "fulfilled"]
    # Session 2 missed: its booking a noshow under its own UID, booked again under a new one.
    assert run("missed", "P-1", "--on", "2027-01-05")[0] == 0
    doc = export("P-1")
    got = appointments(doc)
    assert sorted(got.values()) == ["booked", "booked", "fulfilled", "noshow"]
    assert {uid for uid, s in got.items() if s == "noshow"} == {
        u for u in got if u.split("@")[0].endswith("-session-2")
    }
    assert set(got) <= set(uids("P-1"))  # every Appointment's identifier is a UID of the patient's calendar
    assert run("cancel", "P-1", "--reason", "moved away", "--on", "2027-01-06")[0] == 0
    doc = export("P-1")
    [plan] = resources(doc, "CarePlan")
    assert plan["status"] == "revoked"
    assert sorted(appointments(doc).values()) == ["cancelled", "cancelled", "fulfilled", "noshow"]
    assert all(a.get("cancelationReason", {}).get("text") == "moved away"
               for a in resources(doc, "Appointment") if a["status"] == "cancelled")  # fmt: skip
    assert verify()[0] == 0


def test_a_contraindicated_screening_without_a_series(tmp_path: Path, register: Path) -> None:
    code, _, _ = screen(tmp_path, "P-9", skin_cancer_in_area=True, pregnant=True)
    assert code == 4
    doc = export("P-9")
    assert not resources(doc, "CarePlan") and not resources(doc, "Appointment")
    issues = {i["code"]["coding"][0]["code"]: i["severity"] for i in resources(doc, "DetectedIssue")}
    assert issues["skin_cancer_in_area"] == "high" and issues["pregnant"] in ("high", "moderate")
    [response] = resources(doc, "QuestionnaireResponse")
    answered = {i["linkId"]: i.get("answer") for i in response["item"]}
    assert answered["skin_cancer_in_area"] == [{"valueBoolean": True}]


def test_cautions_and_a_name(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-2", herpes_history=True)[0] == 0
    code, _, err = run("plan", "--patient", "P-2", "--indication", "acne-scars", "--start", "2026-12-07", "--on", ON,
                       "--book", "--name", "Siobhán Ní Bhriain")  # fmt: skip
    assert code == 0, err
    doc = export("P-2", "--include-name")
    assert resources(doc, "Patient")[0]["name"] == [{"text": "Siobhán Ní Bhriain"}]
    assert [i["severity"] for i in resources(doc, "DetectedIssue")] == ["low"]
    [plan] = resources(doc, "CarePlan")
    antiviral = [a["detail"] for a in plan["activity"] if "detail" in a and not a["detail"]["doNotPerform"]]
    assert antiviral  # the medicine window: something to do, not to avoid
    assert "name" not in resources(export("P-2"), "Patient")[0]


@pytest.mark.parametrize("indication", ["acne-scars", "deep-scars", "fine-lines", "texture"])
def test_every_bundled_treatment_protocol(tmp_path: Path, register: Path, indication: str) -> None:
    assert screen(tmp_path, "P-3")[0] == 0
    code, _, err = run("plan", "--patient", "P-3", "--indication", indication, "--start", "2026-12-07", "--on", ON,
                       "--time", "10:30", "--tz", "Europe/London", "--boosters", "1", "--book")  # fmt: skip
    assert code == 0, err
    doc = export("P-3")
    assert len(resources(doc, "Appointment")) >= 4


def test_the_validator_rejects_a_broken_document(tmp_path: Path, register: Path) -> None:
    from pydantic import ValidationError

    booked(tmp_path)
    out = run("export", "P-1", "--format", "fhir", "--on", ON)[1]
    doc = json.loads(out)
    appointment = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Appointment")
    for broken in ({k: v for k, v in appointment.items() if k != "participant"},  # required
                   appointment | {"bogus": True},  # no such element
                   appointment | {"start": "10:30"}):  # not an instant  # fmt: skip
        with pytest.raises(ValidationError):
            validate(broken)


def questionnaire() -> dict[str, Any]:
    code, out, err = run("protocols", "show", "screening", "--format", "fhir")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    validate(doc)
    return doc


def opened(form: dict[str, Any], answers: dict[str, bool]) -> set[str]:
    """The items an R4 form filler shows: an item with enableWhen only when each condition holds (one
    each here: enableBehavior is not needed), evaluated from the answers given."""
    out = set()
    for item in form["item"]:
        conditions = item.get("enableWhen", [])
        if all(answers.get(c["question"]) == c["answerBoolean"] for c in conditions if c["operator"] == "="):
            out.add(item["linkId"])
    return out


def test_the_questionnaire_opens_what_the_interview_opens() -> None:
    form = questionnaire()
    protocol = catalog.load_screening(catalog.STANDARD_SCREENING)
    links = [i["linkId"] for i in form["item"]]
    assert set(protocol.ids) <= set(links) and len(links) == len(set(links))
    assert form["url"].endswith("/Questionnaire/screening") and form["version"] == protocol.info.version
    # Every gate and every yes/no question something follows, answered both ways.
    parents = {q.asked_if for q in protocol.questions if q.asked_if}
    assert parents and {g.id for g in protocol.gates} <= parents
    for parent in sorted(parents):
        followers = {q.id for q in protocol.questions if q.asked_if == parent}
        everything_yes = {i["linkId"]: True for i in form["item"]}
        shown_yes = opened(form, everything_yes)
        shown_no = opened(form, everything_yes | {parent: False})
        assert followers <= shown_yes and not (followers & shown_no), parent
        if protocol.gate(parent) is None:  # a yes/no question: the interview's own plan of what it asks
            given = {parent: False}
            _, closed = plan_steps(protocol, given, [q.id for q in protocol.questions if q.id != parent])  # type: ignore[arg-type]
            assert {q.id for q in closed} == followers, parent
    # A date with its own yes/no lead-in: the date only after a yes.
    lead = next(q for q in protocol.questions if q.gate_prompt)
    item = next(i for i in form["item"] if i["linkId"] == lead.id)
    assert item["enableWhen"] == [{"question": f"{lead.id}-asked", "operator": "=", "answerBoolean": True}]


def test_show_fhir_needs_a_screening_protocol() -> None:
    code, _, err = run("protocols", "show", "fine-lines", "--format", "fhir")
    assert code == 2 and "fine-lines is a treatment protocol" in err


def test_no_fhir_library_at_start_up() -> None:
    import subprocess
    import sys

    loaded = "sorted(m for m in sys.modules if m.startswith(('fhir', 'needlecli.render.fhir', 'pydantic')))"
    probe = ("import sys, runpy; sys.argv = ['needle', '--help']\n"
             "try:\n    runpy.run_module('needlecli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             f"print({loaded})")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout + r.stderr


def required_answered(doc: dict[str, Any]) -> None:
    """qrs: a completed response answers every required item it holds (a date item may be "none")."""
    [form] = resources(doc, "Questionnaire")
    required = {i["linkId"] for i in form["item"] if i.get("required")}
    [response] = resources(doc, "QuestionnaireResponse")
    assert all("answer" in i for i in response["item"] if i["linkId"] in required), response["item"]


def test_a_question_that_finds_twice_gets_two_issues(tmp_path: Path, register: Path) -> None:
    """The repository's own deferred example: isotretinoin both defers and cautions (two findings of one
    question): two DetectedIssues with their own full URLs (bdl-7), both targets of the Provenance."""
    from tests.test_register import EXAMPLES

    code, _, _ = run("screen", "--patient", "P-10", "--answers", str(EXAMPLES / "deferred.toml"), "--on", ON)
    assert code in (0, 3)
    doc = export("P-10")
    codes = [i["code"]["coding"][0]["code"] for i in resources(doc, "DetectedIssue")]
    assert len(codes) == len(resources(doc, "DetectedIssue")) >= 2
    [provenance] = resources(doc, "Provenance")
    targets = [t["reference"] for t in provenance["target"]]
    assert len(targets) == len(set(targets))
    required_answered(doc)


def test_a_lead_in_is_a_yes_only_inside_its_window(tmp_path: Path, register: Path) -> None:
    """ "Sunburn ... in the last 4 weeks?": yes for a burn 10 days ago (and the date follows), no for
    one last year (and the old date, which found nothing, is not asked behind the no)."""
    for patient, day, expected in (("P-11", "2026-11-21", True), ("P-12", "2025-06-01", False)):
        screen(tmp_path, patient, sunburn_last_date=day)
        doc = export(patient)
        [response] = resources(doc, "QuestionnaireResponse")
        items = {i["linkId"]: i.get("answer") for i in response["item"]}
        assert items["sunburn_last_date-asked"] == [{"valueBoolean": expected}], patient
        assert ("sunburn_last_date" in items) is expected
        if expected:
            assert items["sunburn_last_date"] == [{"valueDate": day}]
        required_answered(doc)


def test_a_recheck_is_another_response(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    first = {r["id"] for r in resources(export("P-1"), "QuestionnaireResponse")}
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    second = resources(export("P-1"), "QuestionnaireResponse")
    assert {r["id"] for r in second}.isdisjoint(first) and second[0]["authored"] == "2026-12-07"


def test_a_missed_timed_booking_says_its_time_was_not_kept(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    code, _, err = run("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", "2026-12-07", "--on", ON,
                       "--time", "10:30", "--tz", "Europe/London", "--book")  # fmt: skip
    assert code == 0, err
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-07")[0] == 0
    assert run("missed", "P-1", "--on", "2027-01-05")[0] == 0
    doc = export("P-1")
    [noshow] = [a for a in resources(doc, "Appointment") if a["status"] == "noshow"]
    assert "time is not kept" in noshow["comment"]
    timed = [a for a in resources(doc, "Appointment") if a["status"] == "booked"]
    assert all(a["start"].endswith("T10:30:00Z") and "comment" not in a for a in timed)
