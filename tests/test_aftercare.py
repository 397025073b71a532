"""Aftercare checklists, for one session and for a saved plan, against their golden files.

Regenerate the golden files after an intended change with:

    NEEDLE_REGEN_GOLDEN=1 .venv/bin/pytest tests -k golden
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.harness import Result, check_golden, output, run
from tests.plan_helpers import ON, saved_plan, screening_record

pytestmark = pytest.mark.usefixtures("clinic_config")


def test_golden_aftercare_session_md() -> None:
    check_golden(
        "aftercare-session.md", output("aftercare", "--session-date", "2026-12-01", "--indication", "fine-lines")
    )


def test_golden_aftercare_plan_md(tmp_path: Path) -> None:
    check_golden("aftercare-plan.md", output("aftercare", "--plan", str(saved_plan(tmp_path)), "--format", "md"))


def test_golden_aftercare_session_ics() -> None:
    data = output(
        "aftercare",
        "--session-date",
        "2026-12-01",
        "--indication",
        "fine-lines",
        "--patient",
        "P-7",
        "--format",
        "ics",
        "--on",
        ON,
    )
    check_golden("aftercare-session.ics", data)


# ----------------------------------------------------------------- a single session's screening


def aftercare(*args: str) -> Result:
    return run("aftercare", "--on", ON, *args)


def test_a_single_sessions_screening_applies_its_cautions(tmp_path: Path) -> None:
    """`aftercare --session-date --screening`: a herpes history adds the prescribed-medicine reminder, as
    `plan --screening` does, unnamed; the record's patient is the calendar's."""
    record = screening_record(tmp_path, herpes_history=True)
    session = ("--session-date", "2026-12-10", "--indication", "fine-lines")
    plain = aftercare(*session)
    assert plain.exit_code == 0, plain.stderr
    assert "Take the medicine your prescriber gave you" not in plain.stdout
    screened = aftercare(*session, "--screening", str(record))
    assert screened.exit_code == 0, screened.stderr
    assert "Take the medicine your prescriber gave you" in screened.stdout
    assert "herpes" not in screened.stdout.lower() and "antiviral" not in screened.stdout.lower()
    ics = aftercare(*session, "--screening", str(record), "--format", "ics")  # the record names patient P1
    assert ics.exit_code == 0, ics.stderr
    assert "SUMMARY:Your prescribed medicine" in ics.stdout
    assert ics.stdout == aftercare(*session, "--screening", str(record), "--format", "ics", "--patient", "P1").stdout
    code, _, err = aftercare(*session, "--screening", str(record), "--patient", "P2")
    assert (code, err.strip()) == (2, "needle: error: --screening: the record is for patient 'P1', not 'P2'")
    code, _, err = aftercare("--plan", str(saved_plan(tmp_path)), "--screening", str(record))
    assert code == 2 and "--plan keeps its own screening" in err


@pytest.mark.parametrize(
    ("changes", "day", "expected"),
    [
        ({"keloid_history": True}, "2026-12-10", 4),  # contraindicated
        ({"pregnant": True}, "2026-12-10", 3),  # deferred with no end date
        ({"isotretinoin_last_dose": "2026-08-31"}, "2027-02-27", 2),  # deferred until 2027-02-28
        ({"isotretinoin_last_dose": "2026-08-31"}, "2027-02-28", 0),
    ],
)
def test_a_single_session_the_screening_does_not_allow_is_refused(
    tmp_path: Path, changes: dict[str, object], day: str, expected: int
) -> None:
    record = screening_record(tmp_path, **changes)
    code, out, err = aftercare("--session-date", day, "--indication", "fine-lines", "--screening", str(record))
    assert code == expected, err
    if expected == 2:
        assert err.strip() == (
            "needle: error: --session-date 2027-02-27: the screening defers treatment until 2027-02-28; "
            "give a session date on or after it"
        )
    if expected:
        assert out == ""


def test_a_plan_saved_without_a_patient_exports_its_calendar_under_its_own_id(tmp_path: Path) -> None:
    saved = tmp_path / "p.toml"
    output("plan", "--indication", "fine-lines", "--start", "2026-12-07", "--on", ON, "--format", "toml",
           "--out", str(saved))  # fmt: skip
    plan_id = tomllib.loads(saved.read_text())["plan_id"]
    first = output("aftercare", "--plan", str(saved), "--format", "ics", "--on", ON)
    uids = [line for line in first.decode().splitlines() if line.startswith("UID:")]
    assert uids and all(u.startswith(f"UID:{plan_id}-") for u in uids)
    assert (
        output("aftercare", "--plan", str(saved), "--format", "ics", "--on", ON) == first
    )  # stable: re-import updates
