"""Plan documents a clinician would sign (SPEC v3, `needle plan`): every finding on the clinician
sheet, the screening's own waits in the patient's pause, aftercare by depth, caution items only on
the days they cover, hours from the real end, moves with their reasons, the device label, and
records checked against the protocol in force."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tomllib
from pathlib import Path

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from needlecli import aftercare, catalog, scheduling, validation
from needlecli.config import Config
from needlecli.model import Finding, ScreeningProtocol
from needlecli.screening import evaluate, wait_end
from tests.harness import output, run
from tests.plan_helpers import ALL_NO, ON, plan_json, request, screening_record, screening_without_herpes_rule

D = dt.date
CONFIG = Config(path=Path("<test>"), exists=False)
PROCEDURES = ("neurotoxin_last_date", "filler_last_date", "peel_last_date", "laser_last_date", "surgery_last_date")


def _plan(*args: str) -> tuple[int, str, str]:
    return run("plan", "--on", ON, *args)


# ---------------------------------------------------------------- 1. every finding on the clinician sheet

SIX = {
    "age": 19,
    "diabetes": True,
    "autoimmune_disease": True,
    "photosensitizing_meds": True,
    "vaccine_last_date": "2026-11-25",  # 5 days before the screening
    "topical_allergy": True,
}


def test_every_finding_reaches_every_clinician_document(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, **SIX)
    findings = {f["id"] for f in tomllib.loads(rec.read_text())["findings"]}
    assert findings == {"age", "diabetes", "autoimmune_disease", "photosensitizing_meds", "vaccine_last_date",
                        "topical_allergy"}  # fmt: skip
    args = ("--indication", "fine-lines", "--screening", str(rec), "--start", "2026-12-07")
    doc = plan_json(*args)
    assert doc["verdict"] == "caution"
    assert {f["id"] for f in doc["findings"]} == findings
    vaccine = next(f for f in doc["findings"] if f["id"] == "vaccine_last_date")
    assert vaccine["category"] == "caution" and vaccine["until"] == "2026-12-09" and vaccine["message"]
    # Session 1 (Mon 7 Dec) falls inside the vaccine's two weeks; the later ones do not.
    assert [s["cautions"] for s in doc["sessions"]] == [["vaccine_last_date"], [], []]
    for fmt in ("md", "table", "toml"):
        code, out, err = _plan(*args, "--format", fmt)
        assert code == 0, err
        for fid in findings:
            assert fid in out, (fmt, fid)
        assert "physician clearance" in out.lower() or fmt == "toml", fmt  # autoimmune: the clinician's message
    md = output("plan", "--on", ON, *args, "--format", "md").decode()
    assert "| 1 | Mon 7 Dec 2026 | vaccine_last_date |" in md


def test_a_plan_without_a_screening_says_not_screened() -> None:
    doc = plan_json("--indication", "fine-lines", "--start", "2026-12-07")
    assert doc["screening"] is None and doc["verdict"] is None and doc["findings"] == []
    assert any(n["cause"] == "not-screened" for n in doc["notes"])
    md = output("plan", "--on", ON, "--indication", "fine-lines", "--start", "2026-12-07", "--format", "md")
    assert b"## Screening\n\nNot screened" in md


# ---------------------------------------------------------------- 2. the pause is the screening's own waits


def test_the_pause_names_every_procedure_with_its_own_wait(tmp_path: Path) -> None:
    doc = plan_json("--indication", "fine-lines", "--start", "2027-03-01")
    spans = {w["id"]: (w["first_day"], w["items"]) for w in doc["windows"] if w["session"] == 2}
    # Session 2 on Mon 29 Mar 2027: laser 15 days before it (2027-03-14) falls inside its laser pause.
    assert spans["pause-procedures-3mo-2"] == ("2026-12-29", ["deep peels, dermabrasion or laser treatments"])
    assert spans["pause-procedures-6mo-2"] == ("2026-09-29", ["facial surgery"])
    assert spans["pause-procedures-4wk-2"] == ("2027-03-01", ["fillers"])
    assert spans["pause-procedures-2wk-2"][0] == "2027-03-15"
    assert all("other facial treatments" not in i for w in doc["windows"] for i in w["items"])
    saved = tmp_path / "plan.toml"
    saved.write_bytes(_saved_toml())
    handout = output("aftercare", "--plan", str(saved), "--on", ON, "--format", "md").decode()
    assert "Facial treatments pause, 3 months before: Tue 29 Dec 2026 – Sun 28 Mar 2027" in handout
    assert "- [ ] No deep peels, dermabrasion or laser treatments" in handout


def _saved_toml() -> bytes:
    return output("plan", "--on", ON, "--indication", "fine-lines", "--start", "2027-03-01", "--format", "toml")


def test_a_clinic_that_changes_a_wait_changes_the_handout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "protocols"
    folder.mkdir()
    text = (catalog.bundled_folder() / "screening.toml").read_text()
    # Stricter than the standard: laser defers 4 months (no override needed to be stricter).
    stricter = text.replace("months = 3\n", "months = 4\n", 1)
    assert stricter != text
    (folder / "screening.toml").write_text(stricter)
    config = tmp_path / "config.toml"
    config.write_text(f'[clinic]\nprotocols_dir = "{folder}"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    doc = plan_json("--indication", "fine-lines", "--start", "2027-03-01")
    assert {w["id"]: w["first_day"] for w in doc["windows"]}["pause-procedures-4mo-1"] == "2026-11-01"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    session=st.dates(D(2026, 1, 1), D(2030, 12, 31)),
    waits=st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 10), st.integers(0, 40)).filter(lambda w: any(w)),
        min_size=5,
        max_size=5,
    ),
    indication=st.sampled_from(catalog.indications()),
)
def test_no_patient_pause_lets_a_procedure_closer_than_the_screening_wait(
    session: dt.date, waits: list[tuple[int, int, int]], indication: str
) -> None:
    """For any screening protocol's procedure waits: a procedure on the day before its pause starts has
    ended its wait by the session, so the screening on the session day would not defer for it."""
    screening = _with_waits(catalog.load_screening(), dict(zip(PROCEDURES, waits, strict=True)))
    treatment = catalog.with_procedure_waits(catalog.load_treatment(indication), screening)
    plan = scheduling.build_plan(treatment, request(indication, session), session)
    first = plan.sessions[0]
    for item in treatment.procedures:
        window = next(w for w in first.windows if w.kind == "pause" and item.item in w.items)
        before = window.first_day - dt.timedelta(days=1)
        answers = {**ALL_NO, "age": 30, "fitzpatrick": 2, item.question: before}
        result = evaluate(screening, answers, first.date)
        assert not any(f.id == item.question for f in result.findings), (item.question, window)
        for rule in screening.question(item.question).rules:
            assert wait_end(rule, before) <= first.date


def _with_waits(protocol: ScreeningProtocol, waits: dict[str, tuple[int, int, int]]) -> ScreeningProtocol:
    questions = []
    for q in protocol.questions:
        if q.id in waits:
            months, weeks, days = waits[q.id]
            rules = tuple(
                dataclasses.replace(r, months=months or None, weeks=weeks or None, days=days or None) for r in q.rules
            )
            q = dataclasses.replace(q, rules=rules)
        questions.append(q)
    return dataclasses.replace(protocol, questions=tuple(questions))


# ---------------------------------------------------------------- every finding, as a property


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.fixed_dictionaries(
        {},
        optional={
            "diabetes": st.booleans(),
            "autoimmune_disease": st.booleans(),
            "photosensitizing_meds": st.booleans(),
            "herpes_history": st.booleans(),
            "anticoagulants": st.booleans(),
            "topical_allergy": st.booleans(),
            "lesions_in_area": st.booleans(),
            "age": st.integers(18, 30),
            "fitzpatrick": st.integers(1, 6),
            "vaccine_last_date": st.dates(D(2026, 10, 1), D(2026, 11, 30)),
            "isotretinoin_last_dose": st.dates(D(2025, 6, 1), D(2026, 5, 31)),
            "radiation_last_date": st.dates(D(2020, 1, 1), D(2025, 11, 30)),
        },
    ),
    indication=st.sampled_from(catalog.indications()),
)
def test_every_finding_of_a_screening_appears_on_the_clinician_sheet(
    changes: dict[str, object], indication: str
) -> None:
    from needlecli import planning
    from needlecli.render.markdown import plan_markdown

    screening = catalog.load_screening()
    answers = {**ALL_NO, "uses_retinoids": True, **changes}
    terms = planning.screen_answers(screening, answers, D(2026, 12, 1))  # type: ignore[arg-type]
    if terms.refusal is not None:
        return
    treatment = catalog.load_treatment(indication)
    plan = planning.new_plan(treatment, planning.PlanFlags(patient="P1"), CONFIG, D(2026, 12, 1), screening=terms)
    sheet = plan_markdown(plan)
    for f in terms.findings:
        assert f"| {f.id} | {f.category} |" in sheet
        assert f.message.replace("|", "\\|") in sheet


# ---------------------------------------------------------------- 3. aftercare follows depth


def test_acne_scars_gets_the_deeper_pass_aftercare() -> None:
    doc = plan_json("--indication", "acne-scars", "--start", "2026-12-07")
    last = {w["id"]: w["last_day"] for w in doc["windows"] if w["session"] == 1 and w["kind"] == "aftercare"}
    assert last == {
        "aftercare-no-makeup-1": "2026-12-13",  # through day 6, not the 72 h of a shallow pass
        "aftercare-no-heat-1": "2026-12-13",
        "aftercare-no-actives-1": "2026-12-13",
    }
    assert [s["deep"] for s in doc["sessions"]] == [True, True, True]
    handout = output("aftercare", "--session-date", "2026-12-07", "--indication", "acne-scars", "--on", ON).decode()
    assert "redness that lasts longer than 7 days" in handout
    assert "redness that lasts longer than 3 days" not in handout
    assert "Makeup is fine again from today" not in handout.split("## From day 7")[0]
    assert "sterile, fragrance-free aftercare products" in handout
    # A fine-lines plan over the forehead and neck only is not a deeper pass.
    shallow = plan_json("--indication", "fine-lines", "--start", "2026-12-07", "--zones", "forehead,neck")
    assert [s["deep"] for s in shallow["sessions"]] == [False, False, False]
    assert [z["zone"] for z in shallow["depth_mm"]] == ["forehead", "neck"]


def test_zones_are_checked() -> None:
    code, _, err = _plan("--indication", "fine-lines", "--zones", "cheeks,elbow")
    assert code == 2 and "--zones: elbow" in err


@settings(max_examples=60, deadline=None)
@given(
    indication=st.sampled_from(catalog.indications()),
    zones=st.sets(st.sampled_from(validation.DEPTH_ZONES), min_size=1),
    start=st.dates(D(2026, 12, 1), D(2028, 12, 31)),
    cap=st.one_of(st.none(), st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5])),
)
def test_depth_based_aftercare_never_shortens_a_window(
    indication: str, zones: set[str], start: dt.date, cap: float | None
) -> None:
    protocol = catalog.load_treatment(indication)
    req = request(indication, start, zones=tuple(sorted(zones)), max_depth_mm=cap)
    plan = scheduling.build_plan(protocol, req, D(2026, 12, 1))
    for s in plan.sessions:
        assert s.deep == any(z.max_mm > protocol.deep_from_mm for z in s.depth)
        for spec in protocol.aftercare:
            w = s.window(spec.id)
            assert w is not None
            assert w.last_day >= s.date + dt.timedelta(days=spec.last_day)  # never shorter than the protocol
            if s.deep:
                assert w.last_day >= s.date + dt.timedelta(days=protocol.deep_through_day)


# ---------------------------------------------------------------- 4. caution items only on covered days


def test_the_medicine_reminder_stays_inside_its_window(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, herpes_history=True)
    for indication, outside in (("fine-lines", "## From day 8"), ("deep-scars", "## Days 8–9")):
        saved = tmp_path / f"{indication}.toml"
        output("plan", "--on", ON, "-i", indication, "--screening", str(rec), "--start", "2026-12-07",
               "--format", "toml", "--out", str(saved))  # fmt: skip
        md = output("aftercare", "--plan", str(saved), "--on", ON).decode()
        medicine = "Take the medicine your prescriber gave you"
        first = md.split("## After session 2")[0]
        assert "## Day 7 — Mon 14 Dec 2026" in first
        day7 = first.split("## Day 7 — Mon 14 Dec 2026")[1].split("## ")[0]
        assert medicine in day7
        later = first.split(outside)[1].split("## Before session 2")[0]
        assert medicine not in later, indication


def test_the_medicine_event_has_a_reminder_the_evening_before(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, herpes_history=True)
    data = output("plan", "--on", ON, "-i", "fine-lines", "--screening", str(rec), "--start", "2026-12-07",
                  "--patient", "P1", "--format", "ics")  # fmt: skip
    cal = icalendar.Calendar.from_ical(data)
    medicine = [e for e in cal.walk("VEVENT") if str(e["UID"]).split("@")[0].endswith(("medicine-1",))]
    assert len(medicine) == 1
    event = medicine[0]
    assert event.decoded("DTSTART") == D(2026, 12, 6)
    alarms = event.walk("VALARM")
    assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == -dt.timedelta(hours=4)  # 20:00 the day before


def test_a_medicine_window_already_under_way_is_named(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, herpes_history=True)
    doc = plan_json("-i", "fine-lines", "--screening", str(rec))  # session 1 on the planning day
    assert doc["sessions"][0]["date"] == ON
    assert any("antiviral window" in n["text"] and "already past" in n["text"] for n in doc["notes"])


@settings(max_examples=40, deadline=None)
@given(
    indication=st.sampled_from(catalog.indications()),
    start=st.dates(D(2026, 12, 1), D(2028, 6, 30)),
    last=st.integers(0, 12),
    first=st.integers(-3, 0),
)
def test_a_caution_item_never_appears_on_a_day_outside_its_window(
    indication: str, start: dt.date, last: int, first: int
) -> None:
    protocol = catalog.load_treatment(indication)
    herpes = next(c for c in protocol.cautions if c.window is not None)
    assert herpes.window is not None
    window = dataclasses.replace(herpes.window, first_day=first, last_day=last)
    cautions = tuple(dataclasses.replace(c, window=window) if c is herpes else c for c in protocol.cautions)
    protocol = dataclasses.replace(protocol, cautions=cautions)
    finding = Finding(herpes.finding, "caution", "m", "p")
    plan = scheduling.build_plan(protocol, request(indication, start, findings=(finding,)), D(2026, 12, 1))
    for s in plan.sessions:
        w = s.window(window.id)
        assert w is not None
        covered = set()
        for g in aftercare.day_groups(protocol, s):
            if any(i in g.do for i in window.items):
                assert g.last_date is not None, g  # never an open-ended "From day N"
                assert w.first_day <= g.first_date and g.last_date <= w.last_day, (g, w)
                day = g.first_date
                while day <= g.last_date:
                    covered.add(day)
                    day += dt.timedelta(days=1)
        # Every day of the window from the session day on is listed with the medicine.
        expected = {s.date + dt.timedelta(days=d) for d in range(max(0, first), last + 1)}
        assert covered == expected


# ---------------------------------------------------------------- 5. hours from the real end


def test_hours_count_from_the_sessions_real_end() -> None:
    late = plan_json("-i", "fine-lines", "--start", "2026-12-07", "--time", "23:30", "--tz", "Europe/London")
    makeup = next(w for w in late["windows"] if w["id"] == "aftercare-no-makeup-1")
    assert makeup["last_day"] == "2026-12-11"  # ends 00:30 on the 8th: 72 h reach 00:30 on the 11th
    day = plan_json("-i", "fine-lines", "--start", "2026-12-07", "--time", "10:30", "--tz", "Europe/London")
    makeup = next(w for w in day["windows"] if w["id"] == "aftercare-no-makeup-1")
    assert makeup["last_day"] == "2026-12-10"


# ---------------------------------------------------------------- 6. moves carry their reason


def test_moved_sessions_say_why_and_a_sun_trip_in_aftercare_is_flagged() -> None:
    doc = plan_json("-i", "fine-lines", "--start", "2026-12-07", "--closed", "2027-01-04")
    moved = [n["text"] for n in doc["notes"] if n["cause"] == "moved"]
    assert moved == ["Session 2 moved from 2027-01-04 to 2027-01-05: the clinic is closed that day."]
    doc = plan_json("-i", "fine-lines", "--start", "2026-12-07", "--away", "2027-01-04..2027-01-06")
    assert any("Session 2 moved from 2027-01-04 to 2027-01-07: the patient is away" in n["text"] for n in doc["notes"])
    doc = plan_json("-i", "fine-lines", "--start", "2026-12-07", "--sun-trip", "2026-12-09..2026-12-12")
    flagged = [n["text"] for n in doc["notes"] if n["cause"] == "sun-trip"]
    assert flagged and "session 1's aftercare" in flagged[0]


# ---------------------------------------------------------------- 7. the device label and the floor


def test_the_device_label_note_and_the_depth_floor() -> None:
    doc = plan_json("-i", "acne-scars", "--start", "2026-12-07")
    assert any(n["cause"] == "device-label" and "1.5 mm" in n["text"] for n in doc["notes"])
    capped = plan_json("-i", "acne-scars", "--start", "2026-12-07", "--max-depth", "1.5")
    assert not any(n["cause"] == "device-label" for n in capped["notes"])
    code, _, err = _plan("-i", "fine-lines", "--max-depth", "0.2")
    assert code == 2 and "below fine-lines's shallowest depth (0.25 mm)" in err


# ---------------------------------------------------------------- 8. records against the protocol in force


def test_a_record_cannot_choose_its_own_protocol(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, herpes_history=True)
    copy = tmp_path / "my-screening.toml"
    copy.write_text(screening_without_herpes_rule(), encoding="utf-8")
    assert catalog.check(copy.read_bytes(), str(copy))[0] == []  # a valid, looser protocol
    edited = rec.read_text().replace('origin = "bundled:screening"', f'origin = "{copy}"')
    assert edited != rec.read_text()
    rec.write_text(edited)
    doc = plan_json("-i", "fine-lines", "--screening", str(rec), "--start", "2026-12-07")
    assert any(w["kind"] == "antiviral" for w in doc["windows"])  # the rule in force, not the file's copy
    assert any(n["cause"] == "herpes_history" for n in doc["notes"])


def test_a_record_whose_answers_and_findings_disagree_is_refused(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, fitzpatrick=5, herpes_history=True)  # caution either way
    rec.write_text(rec.read_text().replace("fitzpatrick = 5", "fitzpatrick = 2"))
    code, _, err = _plan("-i", "fine-lines", "--screening", str(rec))
    assert code == 2 and "findings do not match the answers" in err


def test_a_changed_protocol_and_its_overrides_show_in_the_plan(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, herpes_history=True)
    text = (catalog.bundled_folder() / "screening.toml").read_text()
    stricter = text.replace("months = 3\n", "months = 4\n", 1)
    clinic = tmp_path / "clinic-screening.toml"
    clinic.write_text(stricter)
    code, out, err = _plan("-i", "fine-lines", "--screening", str(rec), "--protocol", str(clinic), "--format", "json")
    assert code == 0, err
    notes = json.loads(out)["notes"]
    assert any(n["cause"] == "screening" and "checked again under the one in force" in n["text"] for n in notes)
