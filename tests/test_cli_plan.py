"""`needle plan` as a command: bad flags are one line and exit 2, every format renders and saves.

(How a request becomes a plan: test_planning.py.)
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from tests.harness import run

ON = "2026-12-01"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--indication", "deep-scars", "--interval-weeks", "4"],
            "interval-weeks 4 is outside deep-scars's range 6-8 weeks",
        ),
        (["--indication", "fine-lines", "--sessions", "9"], "sessions 9 is outside fine-lines's range 3-6"),
        (["--indication", "nope"], "unknown protocol"),
        (["--indication", "screening"], "not a treatment protocol"),
        (["--indication", "fine-lines", "--start", "2026-02-30"], "--start: '2026-02-30' is not a real calendar date"),
        (["--indication", "fine-lines", "--tz", "Mars/Olympus"], "--tz: unknown time zone 'Mars/Olympus'"),
        (["--indication", "fine-lines", "--time", "25:00"], "--time: expected a 24-hour time HH:MM"),
        (["--indication", "fine-lines", "--clinic-days", "mon-fry"], "--clinic-days: 'mon-fry' is not a weekday"),
        (["--indication", "fine-lines", "--holidays", "XX"], "--holidays: no public-holiday data for country 'XX'"),
        (["--indication", "fine-lines", "--holidays", "GB-ZZ"], "GB has no subdivision 'ZZ'"),
        (["--indication", "fine-lines", "--format", "pdf"], "--format: expected one of table, json, toml, md"),
        (["--indication", "fine-lines", "--duration", "0"], "--duration: session length must be 5-480 minutes"),
        (["--indication", "fine-lines", "--boosters", "-1"], "--boosters must be 0 to 20, got -1"),
        (["--move", "2=2027-01-01"], "--move needs --from"),
        ([], "--indication is required"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    code, out, err = run("plan", "--on", ON, *args)
    assert code == 2, (out, err)
    assert out == ""
    assert err.startswith("needle: error: ") and err.count("\n") == 1
    assert message in err


def test_every_format_renders(tmp_path: Path) -> None:
    args = [
        "plan",
        "--on",
        ON,
        "--patient",
        "P1",
        "--indication",
        "fine-lines",
        "--start",
        "2026-12-01",
        "--time",
        "10:00",
        "--tz",
        "Europe/London",
        "--boosters",
        "1",
    ]
    code, out, _ = run(*args)
    assert code == 0 and "Tue 1 Dec 2026" in out and "B1" in out and "Needle depth" in out
    code, out, _ = run(*args, "--format", "md")
    assert code == 0
    assert out.startswith("# Clinician plan sheet: fine-lines\n")
    assert (
        "| 1 | Tue 1 Dec 2026 | 10:00–11:00 GMT | Tue 17 – Mon 30 Nov | Thu 26 – Mon 30 Nov "
        "| Tue 1 – Fri 4 Dec | Tue 1 – Sat 5 Dec | Tue 1 – Mon 7 Dec |" in out
    )
    code, out, _ = run(*args, "--format", "toml")
    assert code == 0
    doc = tomllib.loads(out)
    assert doc["record"] == "needle-plan" and str(doc["sessions"][0]["date"]) == "2026-12-01"
    for fmt, name in (("table", "p.txt"), ("md", "p.md"), ("json", "p.json"), ("toml", "p.toml")):
        target = tmp_path / name
        code, out, _ = run(*args, "--format", fmt, "--out", str(target))
        assert code == 0 and out == ""
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert "2026" in target.read_text()
    assert sorted(os.listdir(tmp_path)) == ["p.json", "p.md", "p.toml", "p.txt"]  # no temp files left


def test_hostile_numbers_fail_fast_without_tracebacks() -> None:
    for args, message in [
        (["--sessions", "99999999999999999999", "--holidays", "GB"], "sessions 99999999999999999999 is outside"),
        (["--boosters", "1000"], "--boosters must be 0 to 20"),
        (["--start", "9999-10-20"], "out of range (years 1900-2200)"),
        (["--patient", "x" * 101], "--patient: a patient id must be"),
        (["--patient", "x\ny"], "--patient: a patient id must be"),
    ]:
        code, out, err = run("plan", "--on", ON, "--indication", "fine-lines", *args)
        assert code == 2 and out == "" and message in err, (args, err)
        assert "Traceback" not in err


def test_out_takes_the_format_from_its_extension(tmp_path: Path) -> None:
    import icalendar

    args = ("plan", "--patient", "P1", "-i", "fine-lines", "--on", ON)
    assert run(*args, "--out", str(tmp_path / "p.ics")).exit_code == 0
    assert icalendar.Calendar.from_ical((tmp_path / "p.ics").read_bytes()).walk("VEVENT")
    assert run(*args, "--out", str(tmp_path / "p7.toml")).exit_code == 0
    assert run("plan", "--from", str(tmp_path / "p7.toml"), "--on", ON, "--format", "json").exit_code == 0
    assert run(*args, "--out", str(tmp_path / "p.JSON")).exit_code == 0
    assert (tmp_path / "p.JSON").read_text().startswith("{")
    assert run(*args, "--out", str(tmp_path / "p.txt")).exit_code == 0  # the table, as text
    code, _, err = run(*args, "--out", str(tmp_path / "x.ics"), "--format", "md")
    assert code == 2 and "--out: the extension .ics means --format ics, not md" in err
    assert not (tmp_path / "x.ics").exists()
