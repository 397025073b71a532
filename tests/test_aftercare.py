"""Aftercare checklists, for one session and for a saved plan, against their golden files.

Regenerate the golden files after an intended change with:

    NEEDLE_REGEN_GOLDEN=1 .venv/bin/pytest tests -k golden
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import check_golden, output
from tests.plan_helpers import ON, saved_plan

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
