"""The whole consultation (screening protocol 2.x): every check the seed and the device label ask
for, with exact verdicts and dates, and the cautions that change the plan."""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path

import pytest
import tomli_w

from needlecli import catalog
from needlecli.errors import ProtocolError
from needlecli.model import ScreeningProtocol, TreatmentProtocol
from needlecli.screening import evaluate, patient_lines
from tests.harness import output, run
from tests.plan_helpers import ALL_NO, ALL_NO_FALSE

D = dt.date
ON = D(2026, 12, 1)
SCREENING = catalog.load_screening()


def screen(on: dt.date = ON, **changes: object):  # type: ignore[no-untyped-def]
    return evaluate(SCREENING, {**ALL_NO, **changes}, on)  # type: ignore[arg-type]


def found(on: dt.date = ON, **changes: object) -> list[tuple[str, str, dt.date | None]]:
    return [(f.id, f.category, f.until) for f in screen(on, **changes).findings]


# ----------------------------------------------------------------- every new rule, exact


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"breastfeeding": True}, [("breastfeeding", "defer", None)]),
        ({"age": 17}, [("age", "defer", None)]),
        ({"age": 0}, [("age", "defer", None)]),
        ({"age": 18}, [("age", "caution", None)]),
        ({"age": 21}, [("age", "caution", None)]),
        ({"age": 22}, []),
        ({"sunburn_last_date": D(2026, 11, 20)}, [("sunburn_last_date", "defer", D(2026, 12, 18))]),
        ({"skin_cancer_in_area": True}, [("skin_cancer_in_area", "contraindicated", None)]),
        ({"lesions_in_area": True}, [("lesions_in_area", "caution", None)]),
        ({"diabetes": True}, [("diabetes", "caution", None)]),
        (
            {"diabetes": True, "uncontrolled_diabetes": True},
            [("diabetes", "caution", None), ("uncontrolled_diabetes", "contraindicated", None)],
        ),
        ({"autoimmune_disease": True}, [("autoimmune_disease", "caution", None)]),
        ({"anesthetic_allergy": True}, [("anesthetic_allergy", "caution", None)]),
        ({"metal_allergy": True}, [("metal_allergy", "contraindicated", None)]),
        ({"topical_allergy": True}, [("topical_allergy", "caution", None)]),
        ({"neurotoxin_last_date": D(2026, 11, 20)}, [("neurotoxin_last_date", "defer", D(2026, 12, 4))]),
        ({"filler_last_date": D(2026, 11, 20)}, [("filler_last_date", "defer", D(2026, 12, 18))]),
        ({"peel_last_date": D(2026, 11, 20)}, [("peel_last_date", "defer", D(2026, 12, 4))]),
        ({"laser_last_date": D(2026, 11, 30)}, [("laser_last_date", "defer", D(2027, 2, 28))]),  # month end
        ({"surgery_last_date": D(2026, 8, 31)}, [("surgery_last_date", "defer", D(2027, 2, 28))]),
        ({"vaccine_last_date": D(2026, 11, 20)}, [("vaccine_last_date", "caution", D(2026, 12, 4))]),
        (
            {"radiation_last_date": D(2026, 3, 1)},
            [("radiation_last_date", "defer", D(2027, 3, 1)), ("radiation_last_date", "caution", None)],
        ),
    ],
)
def test_every_new_rule(changes: dict[str, object], expected: list[tuple[str, str, dt.date | None]]) -> None:
    assert found(**changes) == expected


def test_waits_end_exactly_on_their_date_month_ends_and_leap_days() -> None:
    # Calendar months stay calendar months: 2027-08-31 + 6 months = 2028-02-29 (a leap year).
    on = D(2027, 12, 1)
    r = screen(on, surgery_last_date=D(2027, 8, 31))
    assert (r.verdict, r.earliest_date) == ("defer", D(2028, 2, 29))
    assert screen(D(2028, 2, 28), surgery_last_date=D(2027, 8, 31)).verdict == "defer"
    assert screen(D(2028, 2, 29), surgery_last_date=D(2027, 8, 31)).verdict == "eligible"
    # Weeks are days: sunburn on 2028-02-01 + 4 weeks = 2028-02-29.
    assert screen(D(2028, 2, 10), sunburn_last_date=D(2028, 2, 1)).earliest_date == D(2028, 2, 29)
    # earliest_date covers every dated wait: the latest one wins.
    r = screen(ON, filler_last_date=D(2026, 11, 25), laser_last_date=D(2026, 11, 1), sunburn_last_date=D(2026, 11, 30))
    assert (r.verdict, r.earliest_date) == ("defer", D(2027, 2, 1))


def test_precedence_with_the_new_questions() -> None:
    r = screen(metal_allergy=True, breastfeeding=True, filler_last_date=D(2026, 11, 20), lesions_in_area=True)
    assert (r.verdict, r.earliest_date) == ("contraindicated", None)
    r = screen(breastfeeding=True, filler_last_date=D(2026, 11, 20))
    assert (r.verdict, r.earliest_date) == ("defer", None)  # an undated deferral: re-assess


def test_a_date_after_the_evaluation_date_is_an_error(tmp_path: Path) -> None:
    answers = tmp_path / "a.toml"
    answers.write_text(tomli_w.dumps({**ALL_NO_FALSE, "filler_last_date": D(2026, 12, 2)}))
    code, out, err = run("screen", "--answers", str(answers), "--on", "2026-12-01", "--json")
    assert code == 2 and out == ""
    assert err == (
        "needle: error: filler_last_date: the date is after the evaluation date (2026-12-01); check the year\n"
    )


def test_a_v1_answers_file_names_the_missing_ids_in_one_line() -> None:
    code, _, err = run("screen", "--answers", "examples/eligible.toml", "--on", "2026-12-01")
    assert code == 0, err  # the shipped example is current
    v1 = {k: v for k, v in ALL_NO_FALSE.items() if k not in ("age", "breastfeeding", "metal_allergy")}
    code, _, err = run("screen", "--answers", "-", "--on", "2026-12-01", input=json.dumps(v1))
    assert code == 2 and err.count("\n") == 1
    assert "missing answer(s) for age, breastfeeding, metal_allergy" in err


def test_yes_and_no_read_the_same_everywhere(tmp_path: Path) -> None:
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({**ALL_NO_FALSE, "pregnant": "yes", "keloid_history": "no", "age": "40"}))
    code, out, _ = run("screen", "--answers", str(answers), "--on", "2026-12-01", "--json")
    assert code == 3 and [f["id"] for f in json.loads(out)["findings"]] == ["pregnant"]


# ----------------------------------------------------------------- wording


def test_a_permanent_verdict_never_says_right_now() -> None:
    for q in SCREENING.questions:
        for rule in q.rules:
            if rule.category == "contraindicated":  # permanent: never "right now", "for now", "yet"
                for word in ("right now", "for now", " yet"):
                    assert word not in rule.patient_message.lower(), q.id


def test_patient_lines_never_contradict() -> None:
    r = screen(keloid_history=True, herpes_history=True, anticoagulants=True)
    lines = patient_lines(r)
    assert lines == (SCREENING.question("keloid_history").rules[0].patient_message,)  # no "extra care" beside it
    r = screen(pregnant=True, herpes_history=True)
    assert patient_lines(r)[0].startswith("We don't treat during pregnancy")
    assert len(patient_lines(r)) == 2


# ----------------------------------------------------------------- a clinic's protocol: never silently looser


def clinic_copy(tmp_path: Path, edit: str, to: str) -> Path:
    text = catalog.read_source("screening")[0].decode()
    assert edit in text
    path = tmp_path / "clinic-screening.toml"
    path.write_text(text.replace(edit, to, 1))
    return path


def test_a_deleted_or_disabled_rule_is_refused(tmp_path: Path) -> None:
    text = catalog.read_source("screening")[0].decode()
    keloid = re.search(
        r'\[\[questions\.rules\]\]\nwhen = true\ncategory = "contraindicated"\nmessage = "Keloid[^\[]*', text
    )
    assert keloid is not None
    no_rule = tmp_path / "no-rule.toml"
    no_rule.write_text(text.replace(keloid.group(0), "", 1))
    code, _, err = run("protocols", "validate", str(no_rule))
    assert code == 2 and err.count("\n") == 1
    assert "(keloid_history): looser than the standard rule (contraindicated" in err
    pregnant = 'when = true\ncategory = "defer"\nmessage = "Pregnancy'
    never = clinic_copy(tmp_path, pregnant, pregnant.replace("when = true", "when = false"))
    code, _, err = run("protocols", "validate", str(never))
    assert code == 2 and "questions[1] (pregnant): looser than the standard rule (defer" in err
    shorter = clinic_copy(tmp_path, "months = 6\n", "months = 3\n")
    code, _, err = run("protocols", "validate", str(shorter))
    assert code == 2 and "(isotretinoin_last_dose): looser than the standard rule" in err
    stricter = clinic_copy(tmp_path, "months = 6\n", "months = 9\n")
    assert run("protocols", "validate", str(stricter)).exit_code == 0  # stricter is always fine


def test_the_recheck_before_each_session_is_never_dropped_silently(tmp_path: Path) -> None:
    dropped = clinic_copy(
        tmp_path, 'id = "pregnant"\ntype = "bool"\nrecheck = true\n', 'id = "pregnant"\ntype = "bool"\n'
    )
    code, _, err = run("protocols", "validate", str(dropped))
    assert code == 2 and "questions[1] (pregnant): not asked again before each session (recheck)" in err
    relaxed = clinic_copy(tmp_path, "check_before_each_session = true", "check_before_each_session = false")
    code, _, err = run("protocols", "validate", str(relaxed))
    assert code == 2 and "record.check_before_each_session: false lets `needle done` go without" in err
    why = clinic_copy(tmp_path, "check_before_each_session = true",
                      'check_before_each_session = false\noverride = "checked at the door by the nurse"')  # fmt: skip
    assert run("protocols", "validate", str(why)).exit_code == 0


def test_an_override_with_a_reason_is_accepted_and_recorded(tmp_path: Path) -> None:
    pregnant = 'when = true\ncategory = "defer"\nmessage = "Pregnancy'
    text = catalog.read_source("screening")[0].decode()
    text = text.replace(pregnant, pregnant.replace('category = "defer"', 'category = "caution"'), 1)
    text = text.replace(
        'prompt = "Is the patient pregnant, or could she be?"',
        'prompt = "Is the patient pregnant, or could she be?"\noverride = "Obstetric clinic: treats under supervision"',
        1,
    )
    path = tmp_path / "clinic.toml"
    path.write_text(text)
    assert run("protocols", "validate", str(path)).exit_code == 0
    answers = tmp_path / "a.toml"
    answers.write_text(tomli_w.dumps({**ALL_NO_FALSE, "pregnant": True}))
    rec = tmp_path / "rec.toml"
    code = run("screen", "--protocol", str(path), "-a", str(answers), "--on", "2026-12-01", "--out", str(rec)).exit_code
    assert code == 0
    assert tomllib.loads(rec.read_text())["overrides"] == [
        {"question": "pregnant", "reason": "Obstetric clinic: treats under supervision"}
    ]


# ----------------------------------------------------------------- cautions change the plan


def record(tmp_path: Path, **changes: object) -> Path:
    answers = tmp_path / "answers.toml"
    answers.write_text(tomli_w.dumps({**ALL_NO_FALSE, **changes}))
    rec = tmp_path / "rec.toml"
    code, _, err = run("screen", "-a", str(answers), "--on", "2026-12-01", "--patient", "P1", "--out", str(rec))
    assert code in (0, 3), err
    return rec


def plan_doc(rec: Path, *extra: str, indication: str = "acne-scars") -> dict:  # type: ignore[type-arg]
    data = output(
        "plan", "--indication", indication, "--screening", str(rec), "--on", "2026-12-01",
        "--start", "2026-12-07", "--format", "json", *extra,
    )  # fmt: skip
    doc: dict = json.loads(data)  # type: ignore[type-arg]
    return doc


def test_herpes_history_adds_the_antiviral_window_to_every_session(tmp_path: Path) -> None:
    doc = plan_doc(record(tmp_path, herpes_history=True), "--boosters", "1")
    antiviral = [(w["session"], w["first_day"], w["last_day"]) for w in doc["windows"] if w["kind"] == "antiviral"]
    assert antiviral == [
        (1, "2026-12-06", "2026-12-14"),
        (2, "2027-01-03", "2027-01-11"),
        (3, "2027-01-31", "2027-02-08"),
    ]
    assert [w["kind"] for w in doc["boosters"][0]["windows"]].count("antiviral") == 1
    assert any(n["cause"] == "herpes_history" for n in doc["notes"])
    # The patient's documents say what to do without naming a drug, a dose or the condition.
    saved = tmp_path / "plan.toml"
    output("plan", "-i", "acne-scars", "--screening", str(tmp_path / "rec.toml"), "--on", "2026-12-01",
           "--start", "2026-12-07", "--format", "toml", "--out", str(saved))  # fmt: skip
    ics = output("aftercare", "--plan", str(saved), "--format", "ics", "--on", "2026-12-01").decode()
    md = output("aftercare", "--plan", str(saved), "--format", "md", "--on", "2026-12-01").decode()
    assert "SUMMARY:Your prescribed medicine" in ics
    assert "Take the medicine your prescriber gave you for this treatment" in md
    for text in (ics, md):
        for word in ("antiviral", "herpes", "aciclovir", "valaciclovir"):
            assert word not in text.lower()


def test_isotretinoin_caution_makes_only_the_sessions_inside_it_shallower(tmp_path: Path) -> None:
    # Last dose 2026-03-15: deferral until 2026-09-15, caution until 2027-03-15.
    doc = plan_doc(record(tmp_path, isotretinoin_last_dose=D(2026, 3, 15)), "--sessions", "6")
    cheeks = [next(z for z in s["depth_mm"] if z["zone"] == "cheeks") for s in doc["sessions"]]
    dates = [s["date"] for s in doc["sessions"]]
    assert dates == ["2026-12-07", "2027-01-04", "2027-02-01", "2027-03-01", "2027-03-29", "2027-04-26"]
    assert [(c["min"], c["max"]) for c in cheeks] == [(1.25, 2.25)] * 4 + [(1.5, 2.5)] * 2
    assert cheeks[0]["reasons"] == ["isotretinoin_last_dose"] and "reasons" not in cheeks[4]
    top = next(z for z in doc["depth_mm"] if z["zone"] == "cheeks")
    assert (top["min"], top["max"]) == (1.25, 2.25)  # the summary is never deeper than any session


@pytest.mark.parametrize("changes", [{"fitzpatrick": 5}, {"fitzpatrick": "VI"}, {"hyperpigmentation_tendency": True}])
def test_pih_cautions_make_every_depth_one_step_shallower(tmp_path: Path, changes: dict[str, object]) -> None:
    doc = plan_doc(record(tmp_path, **changes), "--zones", "cheeks,periorbital,scars")
    for s in doc["sessions"]:
        zones = {z["zone"]: (z["min"], z["max"]) for z in s["depth_mm"]}
        assert zones["cheeks"] == (1.25, 2.25) and zones["periorbital"] == (0.25, 0.25)  # never below 0.25 mm


def test_notes_name_their_cause(tmp_path: Path) -> None:
    doc = plan_doc(record(tmp_path, anticoagulants=True, anesthetic_allergy=True, lesions_in_area=True))
    notes = {n["cause"]: n["text"] for n in doc["notes"]}
    assert "bruising" in notes["anticoagulants"].lower()
    assert "no topical anaesthetic the patient reacts to" in notes["anesthetic_allergy"]
    assert "treat around them" in notes["lesions_in_area"]


def test_device_maximum_caps_every_zone_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = record(tmp_path)
    doc = plan_doc(rec, "--max-depth", "1.5")
    assert all(z["max"] <= 1.5 for s in doc["sessions"] for z in s["depth_mm"])
    cheeks = next(z for z in doc["sessions"][0]["depth_mm"] if z["zone"] == "cheeks")
    assert (cheeks["min"], cheeks["max"], cheeks["reasons"]) == (1.5, 1.5, ["device maximum"])
    assert any(n["cause"] == "device" for n in doc["notes"])
    config = tmp_path / "config.toml"
    config.write_text("[clinic]\ndevice_max_depth_mm = 1.0\n")
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    doc = plan_doc(rec, "--zones", "cheeks,periorbital")
    assert all(z["max"] <= 1.0 for s in doc["sessions"] for z in s["depth_mm"])
    periorbital = next(z for z in doc["depth_mm"] if z["zone"] == "periorbital")
    assert periorbital["note"] == "Outside the orbital rim only."
    code, _, err = run("plan", "-i", "fine-lines", "--on", "2026-12-01", "--max-depth", "0")
    assert code == 2 and "--max-depth: must be more than 0" in err


def test_a_saved_plan_rederives_cautions_from_its_answers(tmp_path: Path) -> None:
    rec = record(tmp_path, herpes_history=True, fitzpatrick=5, uses_retinoids=False)
    saved = tmp_path / "plan.toml"
    output("plan", "-i", "acne-scars", "--screening", str(rec), "--on", "2026-12-01", "--start", "2026-12-07",
           "--format", "toml", "--out", str(saved))  # fmt: skip
    text = saved.read_text()
    # Hand edits of what was derived change nothing: the answers kept with the plan decide.
    edited = text.replace('kind = "antiviral"', 'kind = "aftercare"').replace("uses_retinoids = false\n", "", 1)
    saved.write_text(edited)
    doc = json.loads(output("plan", "--from", str(saved), "--format", "json", "--on", "2026-12-01"))
    assert sum(w["kind"] == "antiviral" for w in doc["windows"]) == 3
    assert all(z["max"] <= 2.25 for z in doc["sessions"][0]["depth_mm"] if z["zone"] == "cheeks")
    skincare = next(w for w in doc["windows"] if w["id"] == "pause-skincare-1")
    assert not any("retinoid" in i for i in skincare["items"])  # uses none: the answers say so
    # ...and editing the kept answers themselves is caught against the kept verdict.
    saved.write_text(text.replace("keloid_history = false", "keloid_history = true"))
    code, _, err = run("plan", "--from", str(saved), "--format", "json", "--on", "2026-12-01")
    assert code == 2 and "the verdict does not match the answers" in err


# ----------------------------------------------------------------- windows at the seed's conservative end


def test_windows_follow_the_seed_at_its_conservative_end() -> None:
    fine = json.loads(
        output("plan", "-i", "fine-lines", "--on", "2026-12-01", "--start", "2026-12-07", "--format", "json")
    )
    spans = {w["id"]: (w["first_day"], w["last_day"]) for w in fine["windows"] if w["session"] == 1}
    assert spans == {
        "pause-procedures-6mo-1": ("2026-06-07", "2026-12-06"),  # surgery: the screening's 6 months
        "pause-procedures-3mo-1": ("2026-09-07", "2026-12-06"),  # deep peel, laser: 3 months
        "pause-procedures-4wk-1": ("2026-11-09", "2026-12-06"),  # filler: 4 weeks
        "pause-procedures-2wk-1": ("2026-11-23", "2026-12-06"),  # neurotoxin, light peel: 2 weeks
        "pause-sun-1": ("2026-11-23", "2026-12-06"),  # 14 days before
        "pause-skincare-1": ("2026-12-02", "2026-12-06"),  # 5 days before
        "aftercare-no-makeup-1": ("2026-12-07", "2026-12-10"),  # 72 h: through day 3
        "aftercare-no-heat-1": ("2026-12-07", "2026-12-11"),  # 5 days: through day 4
        "aftercare-no-actives-1": ("2026-12-07", "2026-12-13"),  # 7 days: through day 6
    }
    deep = json.loads(
        output("plan", "-i", "deep-scars", "--on", "2026-12-01", "--start", "2026-12-07", "--format", "json")
    )
    spans = {w["id"]: w["last_day"] for w in deep["windows"] if w["session"] == 1 and w["kind"] == "aftercare"}
    assert spans == {
        "aftercare-no-makeup-1": "2026-12-13",
        "aftercare-no-heat-1": "2026-12-13",
        "aftercare-no-actives-1": "2026-12-16",
    }
    skincare = next(w for w in fine["windows"] if w["id"] == "pause-skincare-1")["items"]
    assert any("only if your physician approves" in i for i in skincare)
    assert any("if yours is prescribed, check with your prescriber" in i for i in skincare)


ASK = "Painkillers such as ibuprofen or aspirin, and fish oil: pause them only if your physician approves."


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_patient_documents_never_tell_the_patient_to_stop_painkillers(tmp_path: Path, fmt: str) -> None:
    # SPEC: NSAIDs and fish oil only "if your physician approves" (never "stop"). A pause's things to
    # avoid are written "No ..."; the painkiller line is the protocol's own sentence, never prefixed.
    series = output(
        "plan", "-i", "fine-lines", "--on", "2026-12-01", "--start", "2026-12-07", "--out", str(tmp_path / "p.toml")
    )
    assert series == b""
    session = output(
        "aftercare", "--session-date", "2026-12-07", "-i", "fine-lines", "--on", "2026-12-01", "--format", fmt
    )
    handout = output("aftercare", "--plan", str(tmp_path / "p.toml"), "--format", fmt)
    for doc in (session.decode(), handout.decode()):
        assert ASK in doc
        assert "No painkillers" not in doc and "No Painkillers" not in doc
        assert "No exfoliants (AHA/BHA acids, scrubs, peels)" in doc and "No benzoyl peroxide" in doc
        assert not re.search(r"\bstop\b", doc.replace("don't stop", "").lower())


def test_ask_items_are_read_listed_last_and_optional() -> None:
    text = (Path(catalog.__file__).parent.parent / "protocols" / "texture.toml").read_bytes()
    proto = catalog.parse(text, "texture.toml")
    assert isinstance(proto, TreatmentProtocol)
    skincare = next(p for p in proto.pauses if p.id == "skincare")
    assert skincare.ask_items == (ASK,)
    assert ASK not in skincare.items
    plan = json.loads(
        output("plan", "-i", "texture", "--on", "2026-12-01", "--start", "2026-12-07", "--format", "json")
    )
    items = next(w for w in plan["windows"] if w["id"] == "pause-skincare-1")["items"]
    assert items[-1] == ASK and items[:-1] == [*skincare.retinoid_items, *skincare.items]
    # A clinic's own copy from before the key existed still loads (its items are all things to avoid).
    older = text.replace(b"ask_items = [", b"# ask_items = [")
    assert next(p for p in catalog.parse(older, "old.toml").pauses if p.id == "skincare").ask_items == ()  # type: ignore[union-attr]
    with pytest.raises(ProtocolError, match=r"pause\[1\]\.ask_items"):
        catalog.parse(text.replace(b'ask_items = ["', b'ask_items = [1, "'), "bad.toml")


def test_the_checklist_agrees_with_the_windows(tmp_path: Path) -> None:
    md = output(
        "aftercare", "--session-date", "2026-12-07", "--indication", "fine-lines", "--on", "2026-12-01"
    ).decode()
    day4 = md.split("## Day 4")[1].split("\n## ")[0]
    assert "Avoid heat" in day4 and "warm showers" not in day4.lower() and "Avoid makeup" not in day4
    days56 = md.split("## Days 5–6")[1].split("\n## ")[0]
    assert "Avoid heat" not in days56 and "Warm showers and workouts are fine again" in days56
    # Facts are lines, not boxes to tick.
    assert "- [ ] Redness" not in md and "Redness, warmth, tightness and pinpoint spots are normal today." in md
    for sign in ("cold sores or blisters", "dark patches", "redness that lasts longer than 3 days", "new bumps"):
        assert sign in md


def test_a_plan_handout_starts_with_the_pause_before_session_one(tmp_path: Path) -> None:
    saved = tmp_path / "plan.toml"
    output("plan", "-i", "fine-lines", "--patient", "P1", "--on", "2026-12-01", "--start", "2026-12-21",
           "--format", "toml", "--out", str(saved))  # fmt: skip
    md = output("aftercare", "--plan", str(saved), "--format", "md", "--on", "2026-12-01").decode()
    first = md.split("\n## ")[1]
    assert first.startswith("Before session 1 (Mon 21 Dec 2026)")
    assert "Sun and waxing pause: Mon 7 – Sun 20 Dec" in first
    assert "Skincare pause: Wed 16 – Sun 20 Dec" in first


# ----------------------------------------------------------------- the patient's own dates


def test_away_and_sun_trips_keep_sessions_clear(tmp_path: Path) -> None:
    base = ["plan", "-i", "fine-lines", "--on", "2026-12-01", "--start", "2026-12-07", "--format", "json"]
    doc = json.loads(output(*base, "--away", "2026-12-07..2026-12-11"))
    assert doc["sessions"][0]["date"] == "2026-12-14"
    doc = json.loads(output(*base, "--sun-trip", "2026-12-01..2026-12-10"))
    assert doc["sessions"][0]["date"] == "2026-12-25" or doc["sessions"][0]["date"] == "2026-12-28"
    assert doc["sessions"][0]["date"] > "2026-12-24"  # none in the 14 days after the trip
    doc = json.loads(output(*base, "--away", "2027-01-04..2027-01-08", "--away", "2027-02-01..2027-02-05"))
    assert [s["date"] for s in doc["sessions"]] == ["2026-12-07", "2027-01-11", "2027-02-08"]
    code, _, err = run(*base, "--away", "2027-01-08..2027-01-04")
    assert code == 2 and "--away: '2027-01-08..2027-01-04' ends before it starts" in err
    code, _, err = run(*base, "--away", "2027-01-04..2027-05-30")  # no open day within the spacing rules
    assert code == 2 and "no open clinic day" in err


def test_protocol_files_are_complete() -> None:
    assert isinstance(SCREENING, ScreeningProtocol) and SCREENING.info.version.startswith("2.")
    gates = {q.id: q.asked_if for q in SCREENING.questions if q.asked_if}
    assert gates["uncontrolled_diabetes"] == "diabetes"
    assert {k for k, v in gates.items() if v == "recent_procedures"} == {
        "neurotoxin_last_date", "filler_last_date", "peel_last_date", "laser_last_date", "surgery_last_date"
    }  # fmt: skip
    assert all(q.help for q in SCREENING.questions)


def test_the_readme_shows_the_example_answers_an_installed_user_cannot_find() -> None:
    """examples/ is not in the wheel: the README shows eligible.toml inline, and it must stay the same."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    block = readme.split("save this as `answers.toml`", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    assert tomllib.loads(block) == tomllib.loads((root / "examples" / "eligible.toml").read_text())
