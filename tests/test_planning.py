"""From a request to a plan: flags over the clinic config, holidays and closed days, screening
records that gate the plan, and saved plans with their moves (`needle plan`, end to end)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.harness import run
from tests.plan_helpers import ON, plan_json, screening_record

# ----------------------------------------------------------------- times, zones, clinic days, holidays


def test_times_zone_and_boosters() -> None:
    doc = plan_json(
        "--indication",
        "fine-lines",
        "--start",
        "2027-03-01",
        "--time",
        "10:30",
        "--tz",
        "Europe/London",
        "--duration",
        "45",
        "--boosters",
        "1",
    )
    s = doc["sessions"]
    assert (s[0]["start"], s[0]["end"]) == ("2027-03-01T10:30:00+00:00", "2027-03-01T11:15:00+00:00")
    assert s[1]["start"] == "2027-03-29T10:30:00+01:00"
    assert doc["boosters"][0]["date"] == "2027-10-26"
    assert doc["boosters"][0]["start"] == "2027-10-26T10:30:00+01:00"  # still BST: it ends on 31 October 2027


def test_holidays_and_closed_days() -> None:
    doc = plan_json("--indication", "fine-lines", "--start", "2026-12-25", "--holidays", "GB", "--closed", "2027-01-26")
    # 25 Dec (Christmas) and 28 Dec (Boxing Day, substitute) are GB holidays; 26 Jan is closed.
    assert [s["date"] for s in doc["sessions"]] == ["2026-12-29", "2027-01-27", "2027-02-24"]


GB_NOTE = (
    "closes only the holidays common to all of GB; for a region's own holidays give its code: "
    "GB-ENG, GB-NIR, GB-SCT, GB-WLS"
)


def test_a_country_whose_regions_add_holidays_says_so_once() -> None:
    """`--holidays GB` closes only the UK-wide days: England's Easter Monday and Late Summer Bank
    Holiday stay open, and one note names the regions' codes; `GB-ENG` closes them, with no note."""
    start = ("--indication", "fine-lines", "--start", "2027-08-30", "--on", ON, "--format", "json")
    code, out, err = run("plan", *start, "--holidays", "GB")
    assert code == 0, err
    assert err.splitlines() == [f"needle: --holidays GB {GB_NOTE}"]
    assert json.loads(out)["sessions"][0]["date"] == "2027-08-30"  # the Late Summer Bank Holiday: open
    code, out, err = run("plan", *start, "--holidays", "GB-ENG")
    assert (code, err) == (0, "")
    assert json.loads(out)["sessions"][0]["date"] == "2027-08-31"
    code, out, err = run("plan", *start[:3], "2027-03-29", *start[4:], "--holidays", "GB-ENG")  # Easter Monday
    assert (code, err, json.loads(out)["sessions"][0]["date"]) == (0, "", "2027-03-30")
    code, _, err = run("plan", *start, "--holidays", "IE")  # no regional holidays: nothing to say
    assert (code, err) == (0, "")


def test_the_holidays_note_for_the_config(no_user_config: Path) -> None:
    no_user_config.write_text('[clinic]\nholidays = "GB"\n')
    code, _, err = run("plan", "--indication", "fine-lines", "--start", "2027-08-30", "--on", ON, "--format", "json")
    assert code == 0, err
    assert err.splitlines() == [f'needle: config clinic.holidays "GB" {GB_NOTE}']


def test_time_without_zone_says_utc() -> None:
    code, out, err = run("plan", "--indication", "texture", "--on", ON, "--time", "09:00", "--format", "json")
    assert code == 0
    assert "session times are in UTC" in err
    assert json.loads(out)["sessions"][0]["start"] == "2026-12-01T09:00:00+00:00"


def test_clinic_days_list() -> None:
    doc = plan_json("--indication", "fine-lines", "--start", "2026-12-01", "--clinic-days", "mon,wed")
    assert [s["date"] for s in doc["sessions"]] == ["2026-12-02", "2026-12-30", "2027-01-27"]


def test_closed_stretch_is_exit_2_naming_the_session() -> None:
    closed = []
    for i in range(15):
        closed += ["--closed", f"2026-12-{29 + i}" if 29 + i <= 31 else f"2027-01-{29 + i - 31:02d}"]
    code, _, err = run("plan", "--on", ON, "--indication", "fine-lines", "--start", "2026-12-01", *closed)
    assert code == 2
    assert "session 2: no open clinic day between 2026-12-29" in err


# ----------------------------------------------------------------- the clinic config under the flags


def test_config_drives_defaults_and_flags_override(no_user_config: Path) -> None:
    no_user_config.write_text(
        '[clinic]\nname = "Harbour"\ndays = "tue-sat"\nclosed = [2026-12-01]\nholidays = "GB"\n'
        'time_zone = "Europe/London"\nsession_time = "09:15"\nsession_minutes = 30\n'
    )
    doc = plan_json("--indication", "fine-lines", "--start", "2026-12-01")
    assert doc["sessions"][0]["date"] == "2026-12-02"  # 1 Dec closed by config
    assert doc["sessions"][0]["start"] == "2026-12-02T09:15:00+00:00"
    assert doc["sessions"][0]["end"] == "2026-12-02T09:45:00+00:00"
    doc = plan_json(
        "--indication", "fine-lines", "--start", "2026-12-05", "--clinic-days", "mon-fri", "--time", "14:00"
    )
    assert doc["sessions"][0]["date"] == "2026-12-07"  # flag beats config: Saturday no longer open
    assert doc["sessions"][0]["start"] == "2026-12-07T14:00:00+00:00"
    code, out, _ = run("config", "show")
    assert code == 0
    assert f"config file: {no_user_config}" in out
    assert "days" in out and "tue,wed,thu,fri,sat" in out and str(no_user_config) in out
    assert "clinician" in out and "(not set)" in out and "(default)" in out


def test_a_configured_zone_is_not_announced_on_every_plan(no_user_config: Path) -> None:
    no_user_config.write_text('[clinic]\ntime_zone = "Europe/London"\nclinician = "Dr Rao"\n')
    code, out, err = run("plan", "--on", ON, "--indication", "fine-lines", "--time", "10:00", "--format", "json")
    assert code == 0 and err == ""  # the clinic chose it; only a guessed zone (UTC) is said
    assert json.loads(out)["sessions"][0]["start"].endswith("+00:00")  # GMT in December


# ----------------------------------------------------------------- screening records gate the plan


def test_screening_contraindicated_exit_4(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, keloid_history=True)
    code, out, err = run("plan", "--on", ON, "--indication", "fine-lines", "--screening", str(rec))
    assert (code, out) == (4, "")
    assert "contraindicated" in err and "no plan" in err


def test_screening_undated_defer_exit_3(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, pregnant=True)
    code, _, err = run("plan", "--on", ON, "--indication", "fine-lines", "--screening", str(rec))
    assert code == 3 and "no end date" in err


def test_screening_dated_defer_to_a_sunday(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, isotretinoin_last_dose="2026-08-31", uses_retinoids=False, fitzpatrick=5)
    code, out, err = run("plan", "--on", ON, "--indication", "acne-scars", "--screening", str(rec), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["sessions"][0]["date"] == "2027-03-01"  # deferral ends Sun 2027-02-28
    assert doc["patient"] == "P1"
    assert "screening defers treatment until 2027-02-28" in err
    assert not any("retinoid" in item for item in doc["windows"][0]["items"])
    assert {d["zone"]: d["max"] for d in doc["depth_mm"]}["cheeks"] == 2.25  # PIH: one step shallower


def test_sessions_never_fall_before_the_screening(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, on="2027-01-10", isotretinoin_last_dose="2026-06-01")  # caution
    code, out, err = run(
        "plan",
        "--on",
        "2027-01-10",
        "--indication",
        "fine-lines",
        "--screening",
        str(rec),
        "--start",
        "2026-07-01",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["sessions"][0]["date"] == "2027-01-11"  # Sun 10 Jan -> Mon 11 Jan


def test_screening_for_another_patient_is_refused(tmp_path: Path) -> None:
    rec = screening_record(tmp_path)
    code, _, err = run("plan", "--on", ON, "--indication", "fine-lines", "--patient", "P2", "--screening", str(rec))
    assert code == 2 and "the record is for patient 'P1', not 'P2'" in err


# ----------------------------------------------------------------- saved plans: --from and --move


def save_fine_lines_plan(tmp_path: Path, *extra: str) -> Path:
    """A saved fine-lines plan for P1 starting 2026-12-01 (planned on ON), with extra flags."""
    saved = tmp_path / "plan.toml"
    code, _, err = run(
        "plan", "--on", ON, "--patient", "P1", "--indication", "fine-lines", "--start", "2026-12-01",
        *extra, "--format", "toml", "--out", str(saved),
    )  # fmt: skip
    assert code == 0, err
    return saved


def test_saved_plan_round_trip_and_move(tmp_path: Path) -> None:
    saved = save_fine_lines_plan(tmp_path, "--sessions", "4", "--boosters", "1", "--holidays", "GB")
    first = saved.read_text()
    # Re-export without a move: the same plan.
    code, out, err = run("plan", "--from", str(saved), "--format", "toml", "--on", ON)
    assert code == 0, err
    assert out == first
    # Move session 3; the later sessions follow, earlier ones stay, revisions rise.
    code, _, err = run(
        "plan", "--from", str(saved), "--move", "3=2027-02-02", "--on", ON, "--format", "toml", "--out", str(saved)
    )
    assert code == 0, err
    doc = tomllib.loads(saved.read_text())
    assert [str(s["date"]) for s in doc["sessions"]] == ["2026-12-01", "2026-12-29", "2027-02-02", "2027-03-02"]
    assert [s["revision"] for s in doc["sessions"]] == [0, 0, 1, 1]
    assert doc["revision"] == 1
    assert str(doc["boosters"][0]["date"]) == "2027-09-02" and doc["boosters"][0]["revision"] == 1
    assert doc["plan_id"] == tomllib.loads(first)["plan_id"]


def test_bad_moves(tmp_path: Path) -> None:
    saved = save_fine_lines_plan(tmp_path)
    for move, message in [
        ("3", "expected N=YYYY-MM-DD"),
        ("x=2027-01-01", "expected N=YYYY-MM-DD"),
        ("2=2027-01-02", "Sat is not a clinic day"),
        ("2=2027-02-30", "not a real calendar date"),
        ("9=2027-01-04", "there is no session 9"),
    ]:
        code, _, err = run("plan", "--from", str(saved), "--move", move)
        assert code == 2 and message in err, (move, err)
    code, _, err = run("plan", "--from", str(saved), "--sessions", "5")
    assert code == 2 and "the saved plan fixes --sessions" in err


def test_saved_plan_is_checked_again(tmp_path: Path) -> None:
    saved = save_fine_lines_plan(tmp_path, "--holidays", "GB")
    good = saved.read_text()
    saved.write_text(good.replace("date = 2026-12-29", "date = 2026-12-25"))
    code, _, err = run("plan", "--from", str(saved))
    assert code == 2 and "session 2 on 2026-12-25: the clinic is closed that day" in err
    saved.write_text(good.replace("interval_weeks = 4", "interval_weeks = -3"))
    code, _, err = run("plan", "--from", str(saved))
    assert code == 2 and "interval-weeks -3 is outside fine-lines's range 4-6" in err
    saved.write_text(good.replace("duration_minutes = 60", "duration_minutes = 99999999999"))
    code, _, err = run("plan", "--from", str(saved))
    assert code == 2 and "session length must be 5-480 minutes" in err
    # Moves into years the saved holidays did not cover still respect public holidays.
    saved.write_text(good)
    code, _, err = run("plan", "--from", str(saved), "--move", "1=2030-12-25", "--on", ON)
    assert code == 2 and "the clinic is closed that day" in err
    code, _, err = run("plan", "--from", str(saved), "--move", "²=2027-01-05")
    assert code == 2 and "expected N=YYYY-MM-DD" in err
    code, _, err = run("plan", "--from", str(saved), "--sessions", "0")
    assert code == 2 and "the saved plan fixes --sessions" in err


def test_hand_edited_boosters_and_revisions_are_refused(tmp_path: Path) -> None:
    saved = save_fine_lines_plan(tmp_path, "--boosters", "1")
    good = saved.read_text()
    doc = tomllib.loads(good)
    booster = doc["boosters"][0]["date"]
    sunday = booster + __import__("datetime").timedelta(days=6 - booster.weekday())
    saved.write_text(good.replace(f"date = {booster}", f"date = {sunday}"))
    code, _, err = run("plan", "--from", str(saved))
    assert code == 2 and f"booster 1 on {sunday}: Sun is not a clinic day" in err
    saved.write_text(good.replace(f"date = {booster}", "date = 2026-12-02"))
    code, _, err = run("plan", "--from", str(saved))
    assert code == 2 and "booster 1 on 2026-12-02 must fall 3-6 months after" in err
    saved.write_text(good.replace("revision = 0", "revision = -3", 1))
    code, _, err = run("plan", "--from", str(saved))
    assert code == 2 and "revision: must be between 0 and 1000000, got -3" in err


def test_a_plan_in_the_past_needs_allow_past() -> None:
    code, out, err = run("plan", "--on", ON, "-i", "fine-lines", "--start", "2025-01-01", "--format", "json")
    assert code == 2 and out == ""
    assert "the first session would be on 2025-01-01, before 2026-12-01" in err and "--allow-past" in err
    code, out, _ = run(
        "plan", "--on", ON, "-i", "fine-lines", "--start", "2025-01-01", "--allow-past", "--format", "json"
    )
    assert code == 0 and json.loads(out)["sessions"][0]["date"] == "2025-01-01"


def test_move_a_booster_and_closed_days_say_why_and_when(tmp_path: Path) -> None:
    saved = tmp_path / "plan.toml"
    run("plan", "--patient", "P1", "-i", "fine-lines", "--on", ON, "--start", "2026-12-07", "--boosters", "2",
        "--format", "toml", "--out", str(saved))  # fmt: skip
    before = json.loads(run("plan", "--from", str(saved), "--format", "json", "--on", ON).stdout)
    assert [b["date"] for b in before["boosters"]] == ["2027-07-30", "2028-01-28"]
    code, out, err = run("plan", "--from", str(saved), "--move", "B1=2027-07-12", "--format", "json", "--on", ON)
    assert code == 0, err
    after = json.loads(out)
    assert [s["date"] for s in after["sessions"]] == [s["date"] for s in before["sessions"]]
    assert [b["date"] for b in after["boosters"]] == ["2027-07-12", "2028-01-12"]  # the next follows it
    code, _, err = run("plan", "--from", str(saved), "--move", "2=2027-01-09", "--on", ON)
    assert (
        code == 2
        and "--move 2=2027-01-09: Sat is not a clinic day; the first day every rule allows is 2027-01-11" in err
    )
    # The suggestion passes every rule: the next open day (Mon 28 Dec) is closer than the spacing allows.
    code, _, err = run("plan", "--from", str(saved), "--move", "2=2026-12-26", "--on", ON)
    assert code == 2 and "; the first day every rule allows is 2027-01-04 (Mon)" in err, err
    code, out, _ = run("plan", "--from", str(saved), "--move", "2=2027-01-04", "--format", "json", "--on", ON)
    assert code == 0 and json.loads(out)["sessions"][1]["date"] == "2027-01-04"
    code, _, err = run("plan", "--from", str(saved), "--move", "B3=2028-06-01", "--on", ON)
    assert code == 2 and "there is no booster B3 (the plan has 2)" in err
    code, _, err = run("plan", "--from", str(saved), "--move", "B1=2027-03-01", "--on", ON)
    assert code == 2 and "booster 1 on 2027-03-01 must fall between" in err
