"""`needle protocols test`: a clinic's example patients, and the bundled protocols' own cases."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from needlecli import cases, catalog
from needlecli.model import REQUIRED_QUESTIONS
from tests.harness import run
from tests.plan_helpers import ALL_NO, SPEC_QUESTION_IDS

REPO = Path(__file__).resolve().parent.parent
BUNDLED = ("screening.toml", "plans.toml")

HEAD = """\
[defaults]
answers = "all-clear"
on = 2026-12-01
"""


def write(tmp_path: Path, text: str, name: str = "cases.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def bundled_doc(name: str) -> dict:  # type: ignore[type-arg]
    return tomllib.loads(resources.files("needlecli.protocols").joinpath("cases", name).read_text())


# ----------------------------------------------------------------- the bundled cases


def test_the_bundled_cases_pass() -> None:
    code, out, err = run("protocols", "test")
    assert code == 0, out + err
    total = sum(len(bundled_doc(n)["cases"]) for n in BUNDLED)
    lines = out.splitlines()
    assert lines[-1] == f"{total} passed, 0 failed"
    assert len(lines) == total + 1
    assert all(line.startswith("ok   ") for line in lines[:-1])
    assert lines[0].startswith("ok   screening: ")  # the screening cases first, each named by its file


def test_the_wheel_ships_the_cases() -> None:
    folder = resources.files("needlecli.protocols").joinpath("cases")
    for name in BUNDLED:
        assert folder.joinpath(name).is_file(), name
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "needlecli.protocols.cases" in project["packages"]
    assert project["package-data"]["needlecli.protocols.cases"] == ["*.toml"]
    assert "cases" not in catalog.bundled_names()  # the cases folder is not a protocol


def test_every_screening_question_has_a_case() -> None:
    doc = bundled_doc("screening.toml")
    mentioned = {qid for case in doc["cases"] for qid in case.get("answers", {})}
    assert set(SPEC_QUESTION_IDS) <= mentioned, set(SPEC_QUESTION_IDS) - mentioned
    assert set(REQUIRED_QUESTIONS) == set(SPEC_QUESTION_IDS)
    every_verdict = {case["expect"]["verdict"] for case in doc["cases"]}
    assert every_verdict == {"eligible", "caution", "defer", "contraindicated"}


def test_every_caution_of_every_treatment_protocol_has_a_plan_case() -> None:
    doc = bundled_doc("plans.toml")
    noted = {n for case in doc["cases"] if "plan" in case for n in case["plan"].get("expect", {}).get("notes", [])}
    for name in ("fine-lines", "acne-scars", "texture", "deep-scars"):
        findings = {c.finding for c in catalog.load_treatment(name).cautions}
        assert findings <= noted, (name, findings - noted)
    shallower = {
        qid
        for case in doc["cases"]
        if case.get("plan", {}).get("expect", {}).get("shallower") not in (None, False)
        for qid in case.get("answers", {})
    }
    assert {"fitzpatrick", "hyperpigmentation_tendency", "isotretinoin_last_dose", "radiation_last_date"} <= shallower
    antiviral = [case for case in doc["cases"] if case.get("plan", {}).get("expect", {}).get("antiviral") is True]
    assert antiviral and all(case["answers"].get("herpes_history") is True for case in antiviral)


def test_all_clear_is_the_documented_answer_set() -> None:
    protocol = catalog.load_screening()
    assert cases.all_clear(protocol) == ALL_NO  # no/none, age 35, Fitzpatrick II


def test_bundled_cases_test_the_bundled_protocols_even_with_a_clinic_folder(
    tmp_path: Path, no_user_config: Path
) -> None:
    """A clinic's own screening.toml (here: stricter, isotretinoin 9 months) does not fail the bundled
    cases: they are the bundled protocols' cases. The note on stderr says so; the clinic's own case
    files test its own protocols (found by name, like every command)."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    text = catalog.read_source("screening")[0].decode()
    assert text.count("\nmonths = 6\n") == 2  # isotretinoin, surgery
    (folder / "screening.toml").write_text(text.replace("\nmonths = 6\n", "\nmonths = 9\n"))
    no_user_config.write_text(f'[clinic]\nprotocols_dir = "{folder}"\n')
    code, out, err = run("protocols", "test")
    assert code == 0, out + err
    assert "the bundled cases test the bundled protocols, not the clinic's own screening" in err
    mine = write(
        tmp_path,
        HEAD
        + """
[[cases]]
name = "isotretinoin: this clinic waits 9 months"
answers = { isotretinoin_last_dose = 2026-08-31 }
expect.verdict = "defer"
expect.earliest = 2027-05-31
""",
    )
    code, out, err = run("protocols", "test", str(mine))
    assert (code, err) == (0, "")
    assert out == "ok   isotretinoin: this clinic waits 9 months\n1 passed, 0 failed\n"


# ----------------------------------------------------------------- a failing case


WRONG = (
    HEAD
    + """
[[cases]]
name = "isotretinoin 3 months ago"
answers = { isotretinoin_last_dose = 2026-08-31, herpes_history = true }
expect.verdict = "caution"
expect.earliest = 2027-03-01
expect.findings = ["fitzpatrick"]
[cases.plan]
indication = "acne-scars"
expect.first_session = 2027-03-02
expect.antiviral = false
expect.shallower = [1]
expect.depth_max = { cheeks = 2.0 }
expect.notes = ["anticoagulants"]

[[cases]]
name = "pregnant"
answers = { pregnant = true }
expect.verdict = "defer"
expect.earliest = false
[cases.plan]
indication = "fine-lines"

[[cases]]
name = "all clear"
expect.verdict = "eligible"
expect.earliest = 2026-12-01
"""
)


def test_a_wrong_case_fails_with_expected_and_got(tmp_path: Path) -> None:
    code, out, err = run("protocols", "test", str(write(tmp_path, WRONG)))
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "FAIL isotretinoin 3 months ago",
        "  verdict: expected caution, got defer",
        "  earliest: expected 2027-03-01, got 2027-02-28",
        "  findings: expected to include fitzpatrick, got isotretinoin_last_dose, herpes_history",
        "  plan.first_session: expected 2027-03-02, got 2027-03-01",
        "  plan.antiviral: expected no session, got every session",
        "  plan.shallower: expected session 1, got every session",
        "  plan.depth_max.cheeks: expected at most 2 mm, got 2.25 mm in every session",
        "  plan.notes: expected to include anticoagulants, got screening, schedule, herpes_history, "
        "isotretinoin_last_dose, device-label",
        "FAIL pregnant",
        "  plan: expected a plan, got refused (defer)",
        "ok   all clear",
        "1 passed, 2 failed",
    ]


def test_json(tmp_path: Path) -> None:
    code, out, err = run("protocols", "test", "--json", str(write(tmp_path, WRONG)))
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert (doc["passed"], doc["failed"]) == (1, 2)
    first, second, third = doc["cases"]
    assert first["name"] == "isotretinoin 3 months ago" and first["passed"] is False
    assert (first["verdict"], first["earliest_date"]) == ("defer", "2027-02-28")
    assert first["sessions"] == ["2027-03-01", "2027-03-29", "2027-04-26"]
    assert first["mismatches"][0] == {"key": "verdict", "expected": "caution", "got": "defer"}
    assert second["mismatches"] == [{"key": "plan", "expected": "a plan", "got": "refused (defer)"}]
    assert third == {
        "file": str(tmp_path / "cases.toml"),
        "name": "all clear",
        "passed": True,
        "verdict": "eligible",
        "earliest_date": "2026-12-01",
        "findings": [],
        "sessions": [],
        "mismatches": [],
    }


def test_json_of_the_bundled_cases() -> None:
    code, out, _ = run("protocols", "test", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["failed"] == 0 and doc["passed"] == len(doc["cases"])
    assert {c["file"] for c in doc["cases"]} == {f"bundled:{n}" for n in BUNDLED}


def test_several_files_name_their_file(tmp_path: Path) -> None:
    ok = write(tmp_path, HEAD + '[[cases]]\nname = "fine"\nexpect.verdict = "eligible"\nexpect.earliest = 2026-12-01\n')
    wrong = write(tmp_path, WRONG, "wrong.toml")
    code, out, _ = run("protocols", "test", str(ok), str(wrong))
    assert code == 1
    assert f"ok   {ok}: fine" in out.splitlines()
    assert f"FAIL {wrong}: pregnant" in out.splitlines()
    assert out.splitlines()[-1] == "2 passed, 2 failed"


# ----------------------------------------------------------------- answers files and paths


def test_answers_file_relative_to_the_case_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "clinic"
    folder.mkdir()
    patient = {**{k: (False if v is None else v) for k, v in ALL_NO.items()}, "filler_last_date": "2026-11-10"}
    (folder / "patient-7.json").write_text(json.dumps(patient))
    (folder / "patient-8.toml").write_text("herpes_history = true\n")
    case_file = write(
        folder,
        """
[defaults]
on = 2026-12-01
answers_file = "patient-7.json"

[[cases]]
name = "patient 7 as recorded: filler 3 weeks ago"
expect.verdict = "defer"
expect.earliest = 2026-12-08
expect.findings = ["filler_last_date"]

[[cases]]
name = "patient 7, filler long ago, and patient 8's herpes answer"
answers_file = "patient-8.toml"
answers = { filler_last_date = false }
expect.verdict = "caution"
expect.earliest = 2026-12-01
expect.findings = ["herpes_history"]
expect.findings_absent = ["filler_last_date"]
""",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run("protocols", "test", str(case_file))
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1] == "2 passed, 0 failed"


def test_a_protocol_path_is_relative_to_the_case_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "clinic"
    folder.mkdir()
    text = catalog.read_source("acne-scars")[0].decode().replace("cheeks = [1.5, 2.5]", "cheeks = [1.0, 2.0]")
    (folder / "my-acne.toml").write_text(text)
    case_file = write(
        folder,
        HEAD
        + """
[[cases]]
name = "Fitzpatrick IV on the clinic's own acne protocol"
answers = { fitzpatrick = 4 }
expect.verdict = "caution"
expect.earliest = 2026-12-01
[cases.plan]
indication = "my-acne.toml"
start = 2027-03-01
expect.depth = { cheeks = [0.75, 1.75] }
""",
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run("protocols", "test", str(case_file))
    assert (code, err) == (0, ""), out


# ----------------------------------------------------------------- bad files: exit 2, one line


CASE = '[[cases]]\nname = "x"\nexpect.verdict = "eligible"\nexpect.earliest = 2026-12-01\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no such file"),
        ("[[cases]\nname = 1\n", "not valid TOML"),
        (
            HEAD + '[[cases]]\nname = "x"\nexpect.verdict = "eligible"\nexpect.earliest = 2026-12-01\nexpct = 1\n',
            "cases[0].expct: unknown key (did you mean 'cases[0].expect'?)",
        ),
        (
            HEAD.replace("answers =", "answer =") + CASE,
            "defaults.answer: unknown key (did you mean 'defaults.answers'?)",
        ),
        (
            HEAD + CASE + "answers = { fitzpatrick = 9 }\n",
            "cases[0].answers: fitzpatrick: must be a Fitzpatrick type 1-6",
        ),
        (
            HEAD + CASE + "answers = { herpes = true }\n",
            "cases[0].answers: unknown question 'herpes' (did you mean 'herpes_history'?)",
        ),
        (
            HEAD + CASE + "answers = { filler_last_date = 2027-01-01 }\n",
            "cases[0].answers: filler_last_date: the date is after the evaluation date (2026-12-01)",
        ),
        (
            HEAD + CASE + '[cases.plan]\nindication = "acne-scar"\n',
            "cases[0].plan.indication: acne-scar: unknown protocol (did you mean 'acne-scars'?",
        ),
        (
            HEAD + CASE + '[cases.plan]\nindication = "screening"\n',
            "cases[0].plan.indication: bundled:screening: protocol.kind: 'screening' is a screening protocol",
        ),
        (
            HEAD + CASE.replace('"eligible"', '"deferred"'),
            "cases[0].expect.verdict: must be one of eligible, caution, defer, contraindicated, not 'deferred' "
            "(did you mean 'defer'?)",
        ),
        (
            HEAD + CASE.replace("2026-12-01", "true"),
            "cases[0].expect.earliest: must be a date (YYYY-MM-DD) or false for none, not a boolean",
        ),
        (
            HEAD + CASE + 'expect.findings = ["isotretinoin_last_dos"]\n',
            "cases[0].expect.findings[0]: unknown question 'isotretinoin_last_dos' "
            "(did you mean 'isotretinoin_last_dose'?)",
        ),
        (
            HEAD + CASE + '[cases.plan]\nindication = "acne-scars"\nsessions = 9\nexpect.depth_max = { cheek = 2 }\n',
            "cases[0].plan.sessions: must be between 3 and 6 for acne-scars, got 9; "
            "cases[0].plan.expect.depth_max.cheek: unknown zone (did you mean 'cheeks'?)",
        ),
        (
            '[[cases]]\nname = "x"\nanswers = { pregnant = true }\nexpect.verdict = "defer"\nexpect.earliest = false\n',
            "cases[0].on: missing (the evaluation date; or give on in [defaults])",
        ),
        (
            '[[cases]]\nname = "x"\non = 2026-12-01\nanswers = { pregnant = true }\nexpect.verdict = "defer"\n'
            "expect.earliest = false\n",
            "cases[0].answers: no answer for age, breastfeeding",
        ),
        (HEAD + CASE + CASE, "cases[1].name: the same name as cases[0]"),
        (HEAD + CASE + 'answers_file = "nowhere.toml"\n', "cases[0].answers_file: "),
        ("", "cases: missing (add at least one [[cases]] table)"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "cases.toml"
    if text is not None:
        path.write_text(text)
    code, out, err = run("protocols", "test", str(path))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"needle: error: {path}: ")
    assert message in err


def test_a_bad_file_runs_no_case(tmp_path: Path) -> None:
    good = write(tmp_path, WRONG, "good.toml")
    code, out, err = run("protocols", "test", str(good), str(tmp_path / "missing.toml"), "--json")
    assert (code, out) == (2, "")
    assert err == f"needle: error: {tmp_path / 'missing.toml'}: no such file\n"


def test_every_problem_is_listed_with_its_key_path(tmp_path: Path) -> None:
    text = (
        HEAD.replace("answers =", "answer =")
        + CASE.replace('"eligible"', '"deferred"')
        + 'answers = { herpes = true }\n[cases.plan]\nindication = "acne-scar"\nexpect.shalower = true\n'
    )
    code, _, err = run("protocols", "test", str(write(tmp_path, text)))
    assert code == 2
    for fragment in (
        "defaults.answer: unknown key",
        "cases[0].expect.verdict:",
        "cases[0].plan.expect.shalower: unknown key (did you mean 'cases[0].plan.expect.shallower'?)",
        "cases[0].plan.indication: acne-scar: unknown protocol",
        "cases[0].answers: unknown question 'herpes'",
    ):
        assert fragment in err


def test_the_case_runner_is_pure() -> None:
    """needlecli/cases.py reads no file, clock or environment and prints nothing: the CLI hands it
    what it needs (test_architecture's rules for the pure core)."""
    from tests import test_architecture as arch

    path = arch.modules()["cases"]
    found = arch.runtime_imports(path)
    assert not {m for m in found if m.split(".")[0] in (*arch.IMPURE_MODULES, "typer", "rich", "click")}
    ours = {m.split(".")[1] for m in found if m.startswith("needlecli.")}
    assert ours <= {*arch.PURE_MAY_IMPORT, "documents", "cases", "case_file"}, ours
    import ast

    called = {
        (n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", ""))
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Call)
    }
    assert not called & set(arch.IMPURE_CALLS)


def test_help() -> None:
    code, out, _ = run("protocols", "test", "--help")
    assert code == 0
    assert "expect.verdict" in out and "Exit status" in out


def test_the_readme_example_passes(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Testing a protocol: `needle protocols test`", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    code, out, err = run("protocols", "test", str(write(tmp_path, example)))
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1] == "1 passed, 0 failed"
