"""Plans as documents: the JSON a plan is written as, and reading a saved plan back."""

from __future__ import annotations

from pathlib import Path

from tests.harness import run
from tests.plan_helpers import plan_json


def test_json_shape_and_dates() -> None:
    doc = plan_json("--patient", "P1", "--indication", "acne-scars", "--start", "2026-12-01")
    assert doc["indication"] == "acne-scars"
    assert [(s["number"], s["date"]) for s in doc["sessions"]] == [
        (1, "2026-12-01"),
        (2, "2026-12-29"),
        (3, "2027-01-26"),
    ]
    assert "start" not in doc["sessions"][0]
    pause = doc["windows"][0]
    assert pause == {
        "kind": "pause",
        "session": 1,
        "first_day": "2026-11-26",
        "last_day": "2026-11-30",
        "title": "Pause before your session",
        "items": pause["items"],
        "id": "pause-1",
        "revision": 0,
    }
    assert pause["items"][0].startswith("topical retinoids")
    assert [(w["kind"], w["first_day"], w["last_day"]) for w in doc["windows"][1:3]] == [
        ("aftercare", "2026-12-01", "2026-12-03"),
        ("aftercare", "2026-12-01", "2026-12-07"),
    ]
    assert doc["boosters"] == []


def test_broken_saved_plan(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('record = "needle-plan"\nformat = 1\n')
    code, _, err = run("plan", "--from", str(bad))
    assert code == 2 and f"{bad}: protocol: missing" in err
    bad.write_text("garbage = [")
    code, _, err = run("plan", "--from", str(bad))
    assert code == 2 and "not a valid saved plan" in err
