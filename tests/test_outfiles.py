"""needle never replaces a file it did not write (SPEC: Invariants; issue: `--out` over a saved plan,
a record of another patient, or a user's own file)."""

from __future__ import annotations

from pathlib import Path

from tests.harness import output, run
from tests.plan_helpers import ON, screening_record


def saved(tmp_path: Path, patient: str = "P1") -> Path:
    path = tmp_path / f"{patient}.toml"
    output("plan", "--on", ON, "-i", "fine-lines", "--patient", patient, "--format", "toml", "--out", str(path))
    return path


def test_aftercare_never_replaces_its_own_saved_plan(tmp_path: Path) -> None:
    plan = saved(tmp_path)
    before = plan.read_bytes()
    code, _, err = run("aftercare", "--plan", str(plan), "--on", ON, "--out", str(plan), "--format", "md")
    assert code == 2 and "extension .toml means --format toml, not md" in err
    code, _, err = run(
        "aftercare", "--plan", str(plan), "--on", ON, "--format", "html", "--out", str(tmp_path / "o.toml")
    )
    assert code == 2 and "extension .toml" in err
    copy = tmp_path / "plan-copy"
    copy.write_bytes(before)
    code, _, err = run("aftercare", "--plan", str(plan), "--on", ON, "--format", "md", "--out", str(copy))
    assert code == 2 and "holds a saved plan" in err
    assert plan.read_bytes() == before and copy.read_bytes() == before


def test_screen_never_replaces_a_saved_plan_or_another_patients_record(tmp_path: Path) -> None:
    plan = saved(tmp_path, "P2")
    answers = screening_record(tmp_path).parent / "answers.json"
    before = plan.read_bytes()
    code, _, err = run("screen", "--answers", str(answers), "--on", ON, "--patient", "P1", "--out", str(plan))
    assert code == 2 and "holds a saved plan" in err and plan.read_bytes() == before
    other = tmp_path / "other.toml"
    run("screen", "--answers", str(answers), "--on", ON, "--patient", "P9", "--out", str(other))
    kept = other.read_bytes()
    code, _, err = run("screen", "--answers", str(answers), "--on", ON, "--patient", "P1", "--out", str(other))
    assert code == 2 and "of another patient" in err and other.read_bytes() == kept
    code, _, _ = run("screen", "--answers", str(answers), "--on", ON, "--patient", "P9", "--out", str(other))
    assert code == 0  # the same patient's record: screened again
    code, _, err = run("screen", "--answers", str(answers), "--on", ON, "--out", str(tmp_path / "r.md"))
    assert code == 2 and "a screening record is TOML" in err


def test_a_file_needle_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    mine = tmp_path / "notes.md"
    mine.write_text("# My own notes\n")
    code, _, err = run("plan", "--on", ON, "-i", "fine-lines", "--format", "md", "--out", str(mine))
    assert code == 2 and "is not a file needle wrote" in err
    assert mine.read_text() == "# My own notes\n"
    cal = tmp_path / "family.ics"
    cal.write_text("BEGIN:VCALENDAR\r\nPRODID:-//Apple Inc.//EN\r\nEND:VCALENDAR\r\n")
    code, _, err = run("plan", "--on", ON, "-i", "fine-lines", "--patient", "P1", "--format", "ics", "--out", str(cal))
    assert code == 2 and "is not a file needle wrote" in err
    # needle's own documents are replaced as before: the same kind, written again.
    sheet = tmp_path / "sheet.md"
    for _ in range(2):
        assert run("plan", "--on", ON, "-i", "fine-lines", "--format", "md", "--out", str(sheet))[0] == 0
    empty = tmp_path / "empty.ics"
    empty.touch()
    assert run("plan", "--on", ON, "-i", "fine-lines", "--patient", "P1", "--out", str(empty))[0] == 0
