"""Defects a review of the safety round found, each reproduced (issue 21 and 22 follow-ups)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
from pathlib import Path

from needlecli import aftercare, catalog, scheduling
from needlecli.model import Rule
from tests.harness import output, run
from tests.plan_helpers import ON, request, screening_record

D = dt.date


def bundled(name: str) -> str:
    return (catalog.bundled_folder() / f"{name}.toml").read_text(encoding="utf-8")


def test_two_filler_rules_give_two_pauses_never_one_shorter_than_either() -> None:
    screening = catalog.load_screening()
    filler = screening.question("filler_last_date")
    rules = (Rule("defer", "m", "p", "s", months=1), Rule("defer", "m", "p", "s", days=31))
    questions = tuple(dataclasses.replace(q, rules=rules) if q is filler else q for q in screening.questions)
    treatment = catalog.with_procedure_waits(
        catalog.load_treatment("fine-lines"), dataclasses.replace(screening, questions=questions)
    )
    plan = scheduling.build_plan(treatment, request("fine-lines", D(2027, 3, 1)), D(2026, 12, 1))
    starts = [w.first_day for w in plan.sessions[0].windows if "fillers" in w.items]
    assert min(starts) <= D(2027, 1, 29)  # filler on 2027-01-31 + 31 days = 2027-03-03: inside the pause


def test_a_deeper_pass_that_ends_mid_group_is_refused_and_late_hours_split_the_checklist(tmp_path: Path) -> None:
    text = bundled("fine-lines").replace("deep_through_day = 6", "deep_through_day = 8")
    path = tmp_path / "it.toml"
    path.write_text(text)
    code, _, err = run("protocols", "validate", str(path))
    assert code == 2 and "depth.deep_through_day: 8 does not end a checklist group" in err
    protocol = catalog.load_treatment("fine-lines")
    req = request("fine-lines", D(2026, 12, 7), time=dt.time(23, 30), tz="Europe/London")
    plan = scheduling.build_plan(protocol, req, D(2026, 12, 1))
    s = plan.sessions[0]
    makeup = s.window("no-makeup")
    assert makeup is not None and makeup.last_day == D(2026, 12, 11)  # day 4 from a 00:30 end
    day4 = next(g for g in aftercare.day_groups(protocol, s) if g.first_day == 4)
    assert "makeup" in day4.avoid


def test_ask_items_cannot_soften_an_item_to_avoid_nor_the_antiviral_window_its_words(tmp_path: Path) -> None:
    text = bundled("fine-lines")
    soft = text.replace(
        'ask_items = ["Painkillers', 'ask_items = ["unprotected sun and tanning (sunbeds too)", "Painkillers', 1
    )
    quiet = text.replace(
        'items = ["Take the medicine your prescriber gave you for this treatment, as they told you."]',
        'items = ["Nothing to do."]',
        1,
    )
    for edited, said in ((soft, "ask_items"), (quiet, "window.items")):
        assert edited != text
        path = tmp_path / "mine.toml"
        path.write_text(edited)
        code, _, err = run("protocols", "validate", str(path))
        assert code == 2 and said in err, err


def test_a_saved_plan_stripped_of_its_screening_but_not_its_marks_is_refused(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, isotretinoin_last_dose="2026-09-01", fitzpatrick=5)
    saved = tmp_path / "p.toml"
    output("plan", "--on", ON, "-i", "fine-lines", "--screening", str(rec), "--patient", "P1",
           "--format", "toml", "--out", str(saved))  # fmt: skip
    import tomllib

    import tomli_w

    doc = tomllib.loads(saved.read_text())
    for key in ("screening", "findings", "verdict", "notes"):
        doc.pop(key, None)
    doc["request"].pop("not_before", None)
    assert any(z.get("reasons") for s in doc["sessions"] for z in s["depth_mm"])
    text = tomli_w.dumps(doc)
    saved.write_text(text)
    code, _, err = run("plan", "--from", str(saved), "--on", ON, "--move", "1=2026-12-07", "--format", "json")
    assert code == 2 and "carries what a screening imposes" in err and "shallower depths" in err


def test_a_sun_trip_in_a_boosters_aftercare_is_flagged() -> None:
    doc = json.loads(
        output(
            "plan",
            "-p",
            "S",
            "-i",
            "fine-lines",
            "--start",
            "2027-01-04",
            "--on",
            "2027-01-01",
            "--boosters",
            "1",
            "--sun-trip",
            "2027-09-03..2027-09-10",
            "--format",
            "json",
        )
    )
    booster = doc["boosters"][0]["date"]
    flagged = [n["text"] for n in doc["notes"] if n["cause"] == "sun-trip"]
    assert any("booster B1" in t for t in flagged), (booster, doc["notes"])


def test_aftercare_never_before_the_screening(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, on="2027-01-01")
    code, _, err = run("aftercare", "--session-date", "2026-12-02", "-i", "fine-lines", "--screening", str(rec),
                       "--on", "2027-01-01")  # fmt: skip
    assert code == 2 and "before the screening (2027-01-01)" in err


def test_batch_keeps_a_users_file_put_under_a_name_a_run_once_used(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start\nP1,fine-lines,2026-12-07\n")
    out = tmp_path / "u"
    assert run("batch", str(src), "--out-dir", str(out), "--on", ON, "--format", "toml")[0] == 0
    (out / "P1.toml").write_text("my own notes\n")
    src.write_text("patient_id,indication,start\nP1,bogus,2026-12-07\n")
    run("batch", str(src), "--out-dir", str(out), "--on", ON, "--format", "toml")
    assert (out / "P1.toml").read_text() == "my own notes\n"
    with (out / "summary.csv").open(newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert "removed" not in row["error"]


def test_a_record_of_no_patient_is_not_replaced_by_a_patients(tmp_path: Path) -> None:
    answers = screening_record(tmp_path).parent / "answers.json"
    anon = tmp_path / "r0.toml"
    assert run("screen", "--answers", str(answers), "--on", ON, "--out", str(anon))[0] == 0
    code, _, err = run("screen", "--answers", str(answers), "--on", ON, "--patient", "P2", "--out", str(anon))
    assert code == 2 and "of another patient" in err


def test_a_handout_written_before_the_generator_line_is_still_needles(tmp_path: Path) -> None:
    from needlecli import outfiles

    old = tmp_path / "h.html"
    old.write_text("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<title>Your treatment calendar and aftercare · Clinic</title>\n")  # fmt: skip
    assert outfiles.identify(old) == ("handout", None)


def test_plan_from_takes_the_protocol_it_was_made_under_or_says_it_changed(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text(bundled("screening").replace("months = 3\n", "months = 4\n", 1))
    rec = screening_record(tmp_path)
    answers = rec.parent / "answers.json"
    run("screen", "--answers", str(answers), "--on", ON, "--patient", "E1", "--protocol", str(strict),
        "--out", str(rec))  # fmt: skip
    saved = tmp_path / "p.toml"
    output("plan", "--on", ON, "--screening", str(rec), "--protocol", str(strict), "-i", "fine-lines",
           "--start", "2027-03-01", "--format", "toml", "--out", str(saved))  # fmt: skip
    keep = json.loads(output("plan", "--from", str(saved), "--protocol", str(strict), "--on", ON, "--format", "json"))
    assert any(w["id"] == "pause-procedures-4mo-1" for w in keep["windows"])
    code, out, err = run("plan", "--from", str(saved), "--on", ON, "--format", "json")
    assert (code == 0 and "using the stricter result" in err) or "another version" in out
    notes = json.loads(out)["notes"]
    assert any(n["cause"] == "screening" and "checked again under the one in force" in n["text"] for n in notes)
