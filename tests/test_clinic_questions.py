"""A clinic's own screening question works in every command that screens.

The question list always comes from the screening protocol in use (`--protocol`),
never from a fixed list: `screen --answers`, `plan --screening` and `batch`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import tomli_w

from needlecli import catalog
from tests.harness import run
from tests.plan_helpers import ALL_NO, SPEC_QUESTION_IDS
from tests.test_batch import NO
from tests.test_batch import batch as run_batch

ON = "2026-12-01"
EXTRA = "thread_lift_last_month"
EXTRA_QUESTION = f"""
[[questions]]
id = "{EXTRA}"
type = "bool"
section = "History"
prompt = "Has the patient had a thread lift in the last month?"

[[questions.rules]]
when = true
category = "defer"
message = "Thread lift in the last month: defer; re-assess at the follow-up."
patient_message = "We'll wait a little after your thread lift before microneedling."
source = "This clinic's own rule (test)."
"""


def clinic_protocol(folder: Path) -> Path:
    """The bundled screening protocol plus one question of the clinic's own."""
    data, _ = catalog.read_source("screening")
    text = data.decode("utf-8").replace('name = "screening"', 'name = "clinic-screening"', 1)
    path = folder / "clinic-screening.toml"
    path.write_text(text + EXTRA_QUESTION)
    assert EXTRA in catalog.load_screening(str(path)).ids
    return path


def answers(folder: Path, extra: bool | None) -> Path:
    doc = dict(ALL_NO) if extra is None else {**ALL_NO, EXTRA: extra}
    path = folder / f"answers-{extra}.toml"
    path.write_text(tomli_w.dumps({k: (False if v is None else v) for k, v in doc.items()}))
    return path


def test_screen_asks_the_clinic_question(tmp_path: Path) -> None:
    proto = clinic_protocol(tmp_path)
    code, out, _ = run(
        "screen", "--protocol", str(proto), "--answers", str(answers(tmp_path, True)), "--on", ON, "--json"
    )
    assert code == 3 and json.loads(out)["findings"][0]["id"] == EXTRA
    code, out, _ = run(
        "screen", "--protocol", str(proto), "--answers", str(answers(tmp_path, False)), "--on", ON, "--json"
    )
    assert code == 0 and json.loads(out)["verdict"] == "eligible"
    code, _, err = run("screen", "--protocol", str(proto), "--answers", str(answers(tmp_path, None)), "--on", ON)
    assert code == 2 and f"missing answer(s) for {EXTRA}" in err
    # The bundled protocol does not know the clinic's question: a typo must never pass as "no".
    code, _, err = run("screen", "--answers", str(answers(tmp_path, False)), "--on", ON)
    assert code == 2 and f"unknown question '{EXTRA}'" in err


def test_plan_screening_rereads_the_clinic_question(tmp_path: Path) -> None:
    proto = clinic_protocol(tmp_path)
    for extra, expected in ((False, 0), (True, 3)):
        record = tmp_path / f"rec-{extra}.toml"
        run("screen", "--protocol", str(proto), "--answers", str(answers(tmp_path, extra)), "--on", ON,
            "--patient", "P1", "--out", str(record))  # fmt: skip
        code, out, err = run(
            "plan", "--indication", "fine-lines", "--screening", str(record), "--on", ON, "--format", "json"
        )  # checked against the protocol in force, never the path the record names
        assert code == 2 and f"does not ask; it was screened under {proto}: give that protocol with --protocol" in err
        code, out, err = run(
            "plan", "--indication", "fine-lines", "--screening", str(record), "--protocol", str(proto),
            "--on", ON, "--format", "json",
        )  # fmt: skip
        assert code == expected, err
        if extra:
            assert "defers treatment with no end date" in err
        else:
            assert json.loads(out)["sessions"][0]["date"] == "2026-12-01"


def csv_list(path: Path, ids: tuple[str, ...], rows: dict[str, dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "indication", "start", *ids])
        for pid, values in rows.items():
            w.writerow([pid, "fine-lines", ON, *({**NO, **values}[q] for q in ids)])
    return path


def test_batch_screens_with_the_clinic_question(tmp_path: Path) -> None:
    proto = clinic_protocol(tmp_path)
    ids = (*SPEC_QUESTION_IDS, EXTRA)
    src = csv_list(tmp_path / "list.csv", ids, {"OK": {EXTRA: "no"}, "LIFT": {EXTRA: "yes"}})
    out = tmp_path / "out"
    code, _, err = run_batch(str(src), "--out-dir", str(out), "--format", "json", "--protocol", str(proto))
    assert code == 0, err
    with (out / "summary.csv").open(newline="") as fh:
        rows = {r["patient_id"]: r for r in csv.DictReader(fh)}
    assert (rows["OK"]["status"], rows["OK"]["verdict"]) == ("planned", "eligible")
    assert (rows["LIFT"]["status"], rows["LIFT"]["verdict"]) == ("refused", "defer")
    # Without --protocol the bundled questions apply; the clinic's column is not one of them, and the
    # run says it ignores it (a practice system's extra columns are ignored, named once).
    code, _, err = run_batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 0 and f"needle: note: ignoring 1 column needle does not use: '{EXTRA}'" in err
    # With --protocol, the clinic's question is required like every other screening column (never exit 70).
    short = csv_list(tmp_path / "short.csv", SPEC_QUESTION_IDS, {"OK": {}})
    code, _, err = run_batch(str(short), "--out-dir", str(out), "--format", "json", "--protocol", str(proto))
    assert code == 2 and f"screening columns must be all or none; missing: {EXTRA}" in err


def clinic_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose protocols_dir holds the clinic's own `screening.toml` (with the extra question)."""
    folder = tmp_path / "protocols"
    folder.mkdir()
    own = clinic_protocol(tmp_path).read_text().replace('name = "clinic-screening"', 'name = "screening"', 1)
    (folder / "screening.toml").write_text(own)
    config = tmp_path / "config.toml"
    config.write_text(f'[clinic]\nprotocols_dir = "{folder}"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    return folder


def test_protocols_dir_gives_every_command_the_clinic_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clinic_folder(tmp_path, monkeypatch)
    # screen: the clinic's screening.toml is "screening" now; no path to pass.
    code, out, _ = run("screen", "--answers", str(answers(tmp_path, True)), "--on", ON, "--json")
    assert code == 3 and json.loads(out)["findings"][0]["id"] == EXTRA
    # plan --screening: the record names the clinic file, and its answers are re-read against it.
    record = tmp_path / "rec.toml"
    code, _, _ = run("screen", "--answers", str(answers(tmp_path, False)), "--on", ON, "--patient", "P1",
                     "--out", str(record))  # fmt: skip
    assert code == 0
    code, out, err = run(
        "plan", "--indication", "fine-lines", "--screening", str(record), "--on", ON, "--format", "json"
    )
    assert code == 0, err
    # batch: the clinic's question is a screening column without --protocol.
    ids = (*SPEC_QUESTION_IDS, EXTRA)
    src = csv_list(tmp_path / "list.csv", ids, {"OK": {EXTRA: "no"}, "LIFT": {EXTRA: "yes"}})
    code, _, err = run_batch(str(src), "--out-dir", str(tmp_path / "out"), "--format", "json")
    assert code == 0, err
    with (tmp_path / "out" / "summary.csv").open(newline="") as fh:
        rows = {r["patient_id"]: r["status"] for r in csv.DictReader(fh)}
    assert rows == {"OK": "planned", "LIFT": "refused"}


def test_protocols_dir_treatment_protocol_wins_over_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = clinic_folder(tmp_path, monkeypatch)
    data, _ = catalog.read_source("fine-lines")
    (folder / "fine-lines.toml").write_text(data.decode().replace("default = 3", "default = 5", 1))
    code, out, err = run("plan", "--indication", "fine-lines", "--start", ON, "--on", ON, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["sessions"]) == 5
    # aftercare and batch find the same clinic file by name.
    code, _, err = run("aftercare", "--session-date", ON, "--indication", "fine-lines", "--on", ON)
    assert code == 0, err
    src = tmp_path / "plain.csv"
    src.write_text(f"patient_id,indication,start\nP1,fine-lines,{ON}\n")
    code, _, err = run_batch(str(src), "--out-dir", str(tmp_path / "o2"), "--format", "json")
    assert code == 0, err
    assert len(json.loads((tmp_path / "o2" / "P1.json").read_text())["sessions"]) == 5
