"""`needle screen` without a terminal: answers files, JSON, records, exit codes, errors."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from needlecli import catalog
from tests.harness import run
from tests.plan_helpers import ALL_NO_FALSE, json_answers, toml_answers

ON = "2026-12-01"


def screen_json(path: Path, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, out, err = run("screen", "--answers", str(path), "--on", ON, "--json", *extra)
    assert err == ""
    return code, json.loads(out)


def test_eligible_json_exit_0(tmp_path: Path) -> None:
    code, doc = screen_json(toml_answers(tmp_path))
    assert code == 0
    assert doc["verdict"] == "eligible"
    assert doc["earliest_date"] == ON
    assert doc["findings"] == []


def test_toml_dates_and_month_end(tmp_path: Path) -> None:
    code, doc = screen_json(toml_answers(tmp_path, isotretinoin_last_dose="2026-08-31"))
    assert code == 3
    assert doc["verdict"] == "defer"
    assert doc["earliest_date"] == "2027-02-28"
    assert [(f["id"], f["category"], f["until"]) for f in doc["findings"]] == [
        ("isotretinoin_last_dose", "defer", "2027-02-28"),
        ("isotretinoin_last_dose", "caution", "2027-08-31"),
    ]


def test_json_answers_with_null_and_iso_strings(tmp_path: Path) -> None:
    code, doc = screen_json(json_answers(tmp_path, isotretinoin_last_dose=None, radiation_last_date="2026-06-30"))
    assert (code, doc["verdict"], doc["earliest_date"]) == (3, "defer", "2027-06-30")


def test_caution_exit_0(tmp_path: Path) -> None:
    code, doc = screen_json(json_answers(tmp_path, anticoagulants=True, fitzpatrick="V"))
    assert code == 0
    assert doc["verdict"] == "caution"
    assert [f["id"] for f in doc["findings"]] == ["anticoagulants", "fitzpatrick"]
    assert "discuss" in doc["findings"][0]["patient_message"]


def test_contraindicated_exit_4(tmp_path: Path) -> None:
    code, doc = screen_json(json_answers(tmp_path, keloid_history=True, active_acne=True))
    assert (code, doc["verdict"], doc["earliest_date"]) == (4, "contraindicated", None)
    assert {f["category"] for f in doc["findings"]} == {"contraindicated", "defer"}


def test_undated_defer_exit_3_with_null_date(tmp_path: Path) -> None:
    code, doc = screen_json(json_answers(tmp_path, pregnant=True))
    assert (code, doc["verdict"], doc["earliest_date"]) == (3, "defer", None)


def test_human_output(tmp_path: Path) -> None:
    code, out, err = run("screen", "-a", str(json_answers(tmp_path, herpes_history=True)), "--on", ON, "-p", "P-7")
    assert code == 0 and err.startswith("needle: screening kept in the register under P-7 (entry ")
    assert "CAUTION" in out and "P-7" in out
    assert "antiviral" in out


def test_out_to_missing_folder_fails_before_anything(tmp_path: Path) -> None:
    code, out, err = run("screen", "-a", str(json_answers(tmp_path)), "--out", str(tmp_path / "nope" / "r.toml"))
    assert code == 2 and out == ""
    assert err.strip() == f"needle: error: --out: folder {tmp_path / 'nope'} does not exist"


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("pregnent = true\n", ".toml", "unknown question 'pregnent' (did you mean 'pregnant'?)"),
        ('{"fitzpatrick": 7}', ".json", "fitzpatrick: must be a Fitzpatrick type 1-6"),
        ('{"fitzpatrick": true}', ".json", "fitzpatrick: must be a Fitzpatrick type 1-6, not a boolean"),
        ('{"pregnant": "maybe"}', ".json", "pregnant: must be true or false, not a string"),
        (
            '{"isotretinoin_last_dose": "2026-02-30"}',
            ".json",
            "isotretinoin_last_dose: not a real calendar date",
        ),
        (
            '{"isotretinoin_last_dose": "03/08/2026"}',
            ".json",
            "isotretinoin_last_dose: ambiguous (day and month as numbers need date_order DMY or MDY",
        ),
        (
            '{"isotretinoin_last_dose": "August 2026"}',
            ".json",
            "isotretinoin_last_dose: not a full date; give the day, the month and the year",
        ),
        (
            '{"isotretinoin_last_dose": "31/08/26"}',
            ".json",
            "isotretinoin_last_dose: a date with a two-digit year; write the year in full",
        ),
        (
            '{"isotretinoin_last_dose": true}',
            ".json",
            "isotretinoin_last_dose: give the date (YYYY-MM-DD), or false for none",
        ),
        ("radiation_last_date = 2026-01-01T10:00:00\n", ".toml", "radiation_last_date: must be a date without a time"),
        ("pregnant = [true]\n", ".toml", "pregnant: must be true or false, not a list"),
        ("isotretinoin_last_dose = 2026-02-30\n", ".toml", "not valid TOML"),
        ("[1, 2]", ".json", "must be a JSON object of question ids to answers"),
        ("{nope", ".json", "not valid JSON"),
    ],
)
def test_bad_answers_are_one_line_exit_2(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"a{suffix}"
    path.write_text(content)
    code, out, err = run("screen", "--answers", str(path), "--on", ON)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("needle: error: ")
    assert message in err
    assert "Traceback" not in err


def test_missing_answers_without_a_terminal_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({k: v for k, v in ALL_NO_FALSE.items() if k not in ("keloid_history", "fitzpatrick")}))
    code, out, err = run("screen", "--answers", str(path), "--on", ON)
    assert code == 2 and out == ""
    assert "missing answer(s) for keloid_history, fitzpatrick (stdin is not a terminal" in err


def test_no_answers_file_without_a_terminal_is_an_error() -> None:
    code, _, err = run("screen", "--on", ON)
    assert code == 2 and "missing answer(s) for age, pregnant," in err


def test_answers_from_stdin() -> None:
    code, out, err = run("screen", "--answers", "-", "--on", ON, "--json", input=json.dumps(ALL_NO_FALSE))
    assert code == 0, err
    assert json.loads(out)["verdict"] == "eligible"


def test_bad_on_date() -> None:
    code, _, err = run("screen", "--on", "2026-13-01")
    assert code == 2 and err.strip() == "needle: error: --on: '2026-13-01' is not a real calendar date"


def test_custom_screening_protocol(tmp_path: Path) -> None:
    text = catalog.read_source("screening")[0].decode()
    # A clinic that treats herpes history as a deferral rather than a caution.
    text = text.replace('category = "caution"\nmessage = "Herpes', 'category = "defer"\nmessage = "Herpes').replace(
        'name = "screening"', 'name = "clinic-screening"'
    )
    proto = tmp_path / "clinic.toml"
    proto.write_text(text)
    code, doc = screen_json(json_answers(tmp_path, herpes_history=True), "--protocol", str(proto))
    assert (code, doc["verdict"], doc["protocol"]["name"]) == (3, "defer", "clinic-screening")


def test_treatment_protocol_is_not_a_screening_protocol(tmp_path: Path) -> None:
    code, _, err = run("screen", "-a", str(json_answers(tmp_path)), "--protocol", "fine-lines")
    assert code == 2 and "not a screening protocol" in err


def test_far_dates_are_rejected(tmp_path: Path) -> None:
    code, _, err = run("screen", "-a", str(json_answers(tmp_path, isotretinoin_last_dose="9999-12-01")), "--on", ON)
    assert code == 2 and "isotretinoin_last_dose: out of range (years 1900-2200)" in err
    assert "9999" not in err  # answers are never echoed
    code, _, err = run("screen", "-a", str(toml_answers(tmp_path, radiation_last_date="9999-12-01")), "--on", ON)
    assert code == 2 and "out of range" in err


def test_clinician_comes_from_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[clinic]\nclinician = "Dr Config"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(cfg))
    out = tmp_path / "rec.toml"
    code, _, _ = run("screen", "-a", str(json_answers(tmp_path)), "--on", ON, "--out", str(out))
    assert code == 0 and tomllib.loads(out.read_text())["clinician"] == "Dr Config"
    run("screen", "-a", str(json_answers(tmp_path)), "--on", ON, "--out", str(out), "--clinician", "Dr Flag")
    assert tomllib.loads(out.read_text())["clinician"] == "Dr Flag"
