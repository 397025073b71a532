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
    pause = next(w for w in doc["windows"] if w["id"] == "pause-skincare-1")
    assert pause == {
        "kind": "pause",
        "session": 1,
        "first_day": "2026-11-26",
        "last_day": "2026-11-30",
        "title": "Skincare pause",
        "items": pause["items"],
        "id": "pause-skincare-1",
        "revision": 0,
    }
    assert pause["items"][0].startswith("retinoids")
    # The screening's procedure waits (6 months, 3 months, 4 weeks, 2 weeks), sun 14 days, skincare 5 days;
    # acne-scars treats cheeks and scars to 2.5 mm by default: a deeper pass, every aftercare window
    # through day 6.
    assert [(w["kind"], w["first_day"], w["last_day"]) for w in doc["windows"][0:9]] == [
        ("pause", "2026-06-01", "2026-11-30"),
        ("pause", "2026-09-01", "2026-11-30"),
        ("pause", "2026-11-03", "2026-11-30"),
        ("pause", "2026-11-17", "2026-11-30"),
        ("pause", "2026-11-17", "2026-11-30"),
        ("pause", "2026-11-26", "2026-11-30"),
        ("aftercare", "2026-12-01", "2026-12-07"),
        ("aftercare", "2026-12-01", "2026-12-07"),
        ("aftercare", "2026-12-01", "2026-12-07"),
    ]
    assert doc["boosters"] == []
    assert doc["sessions"][0]["deep"] is True and doc["sessions"][0]["cautions"] == []
    assert doc["sessions"][0]["depth_mm"] == [
        {"zone": "cheeks", "min": 1.5, "max": 2.5},
        {"zone": "scars", "min": 1.5, "max": 2.5},
    ]
    assert doc["screening"] is None and doc["verdict"] is None and doc["findings"] == []
    assert any(n["cause"] == "not-screened" for n in doc["notes"])


def test_broken_saved_plan(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('record = "needle-plan"\nformat = 2\n')
    code, _, err = run("plan", "--from", str(bad))
    assert code == 2 and f"{bad}: protocol: missing" in err
    bad.write_text('record = "needle-plan"\nformat = 1\n')
    code, _, err = run("plan", "--from", str(bad))
    assert code == 2 and "saved by an older needle (plan format 1" in err
    bad.write_text("garbage = [")
    code, _, err = run("plan", "--from", str(bad))
    assert code == 2 and "not a valid saved plan" in err
