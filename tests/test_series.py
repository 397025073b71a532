"""The series over time, through the CLI: `check` before a session, `done`, `missed`, `cancel`, and
what each does to the booked series (exact dates, calendar ids, SEQUENCE, STATUS) and the register."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from tests.harness import run
from tests.test_register import EXAMPLES, register, screen, verify

__all__ = ["register"]  # the fixture, used by name

ON = "2026-12-01"
RECHECK = [
    "pregnant",
    "breastfeeding",
    "active_acne",
    "active_dermatitis",
    "open_wounds",
    "active_infection",
    "sunburn_last_date",
    "skin_cancer_in_area",
    "lesions_in_area",
    "isotretinoin_last_dose",
    "anticoagulants",
    "photosensitizing_meds",
    "immunosuppression",
    "uses_retinoids",
    "herpes_history",
    "neurotoxin_last_date",
    "filler_last_date",
    "peel_last_date",
    "laser_last_date",
    "surgery_last_date",
    "vaccine_last_date",
]


def recheck_answers(tmp_path: Path, **changed: object) -> Path:
    doc = tomllib.loads((EXAMPLES / "eligible.toml").read_text())
    out = {k: doc[k] for k in RECHECK} | changed
    path = tmp_path / f"re-{len(list(tmp_path.glob('re-*')))}.toml"
    path.write_text(tomli_w.dumps(out))
    return path


def check(tmp_path: Path, patient: str, on: str, **changed: object) -> tuple[int, str, str]:
    return run("check", patient, "--answers", str(recheck_answers(tmp_path, **changed)), "--on", on, "--json")


def booked(tmp_path: Path, patient: str = "P-1", start: str = "2026-12-07") -> None:
    assert screen(tmp_path, patient)[0] == 0
    code, _, err = run("plan", "--patient", patient, "--indication", "fine-lines", "--start", start, "--on", ON,
                       "--book", "--format", "json")  # fmt: skip
    assert code == 0, err


def sessions(patient: str = "P-1") -> list[tuple[str, str, str]]:
    code, out, err = run("export", patient, "--format", "json", "--on", ON)
    assert code == 0, err
    doc = json.loads(out)
    return [(s["date"], s["status"], s["id"]) for s in doc["sessions"]]


def events(patient: str = "P-1") -> dict[str, tuple[int, str, str]]:
    code, out, _ = run("export", patient, "--format", "ics", "--on", ON)
    assert code == 0
    cal = Calendar.from_ical(out)
    return {
        str(e["UID"]).split("-", 1)[1].split("@")[0]: (int(e.get("SEQUENCE", 0)), str(e.get("STATUS", "")),
                                                       e["DTSTART"].dt.isoformat())
        for e in cal.walk("VEVENT")
    }  # fmt: skip


def history(patient: str = "P-1") -> list[dict[str, object]]:
    code, out, _ = run("history", patient, "--json")
    assert code == 0
    return list(json.loads(out))


def test_done_needs_that_days_check(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    code, _, err = run("done", "P-1", "--on", "2026-12-07")
    assert code == 2 and "needle check P-1 --on 2026-12-07" in err and err.count("\n") == 1
    code, out, err = check(tmp_path, "P-1", "2026-12-07")
    assert code == 0 and json.loads(out)["verdict"] == "eligible"
    assert "no change to the series" in err
    code, out, err = run("done", "P-1", "--on", "2026-12-07", "--depth", "cheeks=0.5", "--device", "Pen A6",
                         "--lot", "L1")  # fmt: skip
    assert code == 0, err
    assert out == "P-1: session 1 done on 2026-12-07 (revision 2); next: session 2 on 2027-01-04\n"
    assert [(d, s) for d, s, _ in sessions()] == [("2026-12-07", "done"), ("2027-01-04", "booked"),
                                                 ("2027-02-01", "booked")]  # fmt: skip
    done = [e for e in history() if e["event"] == "done"]
    assert done == [{"date": "2026-12-07", "event": "done", "entry": done[0]["entry"],
                     "recorded_at": done[0]["recorded_at"], "indication": "fine-lines", "session": "1",
                     "depth_mm": {"cheeks": 0.5}, "device": "Pen A6", "lot": "L1", "booked_date": "2026-12-07",
                     "id": "session-1"}]  # fmt: skip
    assert [e["event"] for e in history()] == ["screened", "booked", "rechecked", "done", "booked"]
    assert verify()[0] == 0


def test_done_on_another_day_moves_the_later_sessions_and_keeps_calendar_ids(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    before = events()
    assert check(tmp_path, "P-1", "2026-12-09")[0] == 0
    code, _, err = run("done", "P-1", "--on", "2026-12-09")
    assert code == 0, err
    # Session 1 on its real day; sessions 2 and 3 four weeks apart from it (Wednesdays are open).
    assert [d for d, _, _ in sessions()] == ["2026-12-09", "2027-01-06", "2027-02-03"]
    after = events()
    assert set(before) <= set(after)
    assert all(after[k][0] > before[k][0] for k in before)  # SEQUENCE raised on every calendar id
    assert after["session-1"][2] == "2026-12-09" and after["session-1"][1] == "CONFIRMED"
    assert verify()[0] == 0


def test_a_depth_beyond_the_plan_needs_an_override_and_the_aftercare_follows_it(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    code, _, err = run("done", "P-1", "--on", "2026-12-07", "--depth", "cheeks=2")
    assert code == 2 and "deeper than the plan allows for session 1" in err and "--override" in err
    assert [e["event"] for e in history()][-1] == "rechecked"  # nothing written
    code, _, err = run("done", "P-1", "--depth", "nose=1", "--on", "2026-12-07")
    assert code == 2 and "the plan treats" in err
    code, _, err = run("done", "P-1", "--on", "2026-12-07", "--depth", "cheeks=0.5", "--override", "why")
    assert code == 2 and "nothing to override" in err
    code, _, err = run("done", "P-1", "--on", "2026-12-07", "--depth", "cheeks=2", "--override", "thick scar tissue")
    assert code == 0, err
    assert next(e for e in history() if e["event"] == "done")["override"] == "thick scar tissue"
    code, out, _ = run("export", "P-1", "--format", "json", "--on", ON)
    first = json.loads(out)["sessions"][0]
    assert first["status"] == "done" and first["deep"] is True
    assert first["depth_used_mm"] == [{"zone": "cheeks", "mm": 2.0}]
    code, out, _ = run("history", "P-1")
    assert "override: thick scar tissue" in out


def test_missed_books_a_new_occurrence_and_cancels_the_old_one(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-07")[0] == 0
    code, _, err = run("missed", "P-1", "--on", "2026-12-10")
    assert code == 2 and "booked for 2027-01-04, after --on 2026-12-10: it cannot be missed yet" in err
    code, out, err = run("missed", "P-1", "--on", "2027-01-05")
    assert code == 0, err
    assert out == "P-1: session 2 of 2027-01-04 missed; booked again on 2027-01-05 (revision 3)\n"
    assert sessions()[1] == ("2027-01-05", "booked", "session-2-2")
    ics = events()
    assert ics["session-2"][1] == "CANCELLED" and ics["session-2-2"][1] == "CONFIRMED"
    # Missed again, much later: a gap beyond the 6-week maximum is allowed, with a note.
    code, out, err = run("missed", "P-1", "--on", "2027-03-01")
    assert code == 0, err
    assert "beyond the usual 6-week maximum, after a missed session" in err
    dates = [(d, s, k) for d, s, k in sessions()]
    assert dates[1] == ("2027-03-01", "booked", "session-2-3") and dates[2][0] == "2027-03-29"
    ics = events()
    assert ics["session-2"][1] == ics["session-2-2"][1] == "CANCELLED"
    assert [e["event"] for e in history()].count("missed") == 2 and verify()[0] == 0


def test_a_contraindication_at_the_recheck_stops_the_series(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-07")[0] == 0
    code, out, err = check(tmp_path, "P-1", "2027-01-04", skin_cancer_in_area=True)
    assert code == 4 and json.loads(out)["verdict"] == "contraindicated"
    assert "stopped (skin_cancer_in_area): every remaining session cancelled" in err
    assert [s for _, s, _ in sessions()] == ["done", "cancelled", "cancelled"]
    ics = events()
    assert ics["session-1"][1] == "CONFIRMED"
    assert ics["session-2"][1] == ics["session-3"][1] == "CANCELLED"
    assert all(status == "CANCELLED" for key, (_, status, _) in ics.items() if key.endswith("-2") and "pause" in key)
    code, _, err = run("done", "P-1", "--on", "2027-01-04")
    assert code == 2 and "the series is stopped" in err
    # Booking again starts a new series: new calendar ids; the cancelled ones never come back.
    code, out, _ = run("export", "P-1", "--format", "ics", "--on", ON)
    old = {str(e["UID"]) for e in Calendar.from_ical(out).walk("VEVENT")}
    assert screen(tmp_path, "P-1", on="2027-09-01")[0] == 0
    code, _, err = run("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", "2027-09-06",
                       "--on", "2027-09-01", "--book")  # fmt: skip
    assert code == 0 and "a new series" in err
    code, out, _ = run("export", "P-1", "--format", "ics", "--on", "2027-09-01")
    uids = {str(e["UID"]) for e in Calendar.from_ical(out).walk("VEVENT")}
    assert uids and uids.isdisjoint(old)
    assert verify()[0] == 0


def test_a_dated_deferral_at_the_recheck_moves_the_next_session(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-07")[0] == 0
    # Sunburn on 2027-01-02: defer until two weeks after it (2027-01-16, a Saturday; next open Monday).
    code, out, err = check(tmp_path, "P-1", "2027-01-04", sunburn_last_date=dt.date(2027, 1, 2))
    assert code == 3, err
    until = json.loads(out)["earliest_date"]
    assert f"deferred until {until}" in err
    dates = [d for d, _, _ in sessions()]
    assert dates[0] == "2026-12-07" and dates[1] >= until
    assert dt.date.fromisoformat(dates[2]) - dt.date.fromisoformat(dates[1]) == dt.timedelta(weeks=4)
    assert verify()[0] == 0


def test_an_undated_deferral_puts_the_series_on_hold_and_a_clear_recheck_resumes_it(
    tmp_path: Path, register: Path
) -> None:
    booked(tmp_path)
    code, _, err = check(tmp_path, "P-1", "2026-12-07", active_infection=True)
    assert code == 3 and "on-hold" in err
    assert {s for _, s, _ in sessions()} == {"cancelled"}
    code, _, err = check(tmp_path, "P-1", "2026-12-14")
    assert code == 0 and "resumed" in err, err
    assert next((d, s) for d, s, _ in sessions()) == ("2026-12-14", "booked")
    assert verify()[0] == 0


def test_check_answers_are_exactly_the_recheck_questions(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    path = recheck_answers(tmp_path, age=40)
    code, _, err = run("check", "P-1", "--answers", str(path), "--on", "2026-12-07")
    assert code == 2 and "age: not re-check questions" in err
    doc = tomllib.loads(recheck_answers(tmp_path).read_text())
    del doc["pregnant"]
    path.write_text(tomli_w.dumps(doc))
    code, _, err = run("check", "P-1", "--answers", str(path), "--on", "2026-12-07")
    assert code == 2 and "missing re-check answer(s) for pregnant" in err
    code, _, err = check(tmp_path, "P-9", "2026-12-07")
    assert code == 2 and "P-9 has no screening" in err
    code, _, err = check(tmp_path, "P-1", "2026-11-01")
    assert code == 2 and "before the latest screening" in err


def test_cancel_stops_the_rest_and_plan_book_never_rewrites_recorded_sessions(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-07")[0] == 0
    code, _, err = run("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", "2026-12-14",
                       "--on", ON, "--book")  # fmt: skip
    assert code == 2 and "sessions recorded (1), which never change" in err
    code, out, err = run("cancel", "P-1", "--reason", "moved away", "--on", "2026-12-20")
    assert code == 0 and "2 sessions" in out, err
    assert [s for _, s, _ in sessions()] == ["done", "cancelled", "cancelled"]
    assert history()[-2]["reason"] == "moved away"
    code, _, err = run("cancel", "P-1", "--reason", "again")
    assert code == 2 and "stopped already" in err
    code, _, err = run("missed", "P-1")
    assert code == 2 and "stopped" in err
    assert verify()[0] == 0


def test_every_series_command_is_in_the_register_journal_and_an_edited_outcome_fails_verify(
    tmp_path: Path, register: Path
) -> None:
    import sqlite3

    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-07", "--depth", "cheeks=0.5")[0] == 0
    code, out, _ = run("register", "log", "--json")
    assert [e["event"] for e in json.loads(out)] == ["screened", "booked", "rechecked", "done", "booked"]
    db = sqlite3.connect(register)
    detail = db.execute("SELECT detail FROM outcomes").fetchone()[0]
    db.execute("UPDATE outcomes SET detail = ?", (detail[:-1] + b"\x00",))
    db.commit()
    db.close()
    code, _, err = verify()
    assert code == 1 and "outcomes row was changed" in err


@settings(max_examples=12, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["done", "missed", "check"]), st.integers(0, 40)), max_size=6))
def test_any_sequence_keeps_recorded_sessions_and_the_spacing(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]
) -> None:
    """Whatever happens, a session done never moves, consecutive sessions keep the minimum spacing
    (and the maximum, but after a missed session or a deferral), and the journal verifies."""
    import os

    tmp_path = tmp_path_factory.mktemp("series")
    os.environ["NEEDLE_REGISTER"] = str(tmp_path / "reg.sqlite3")
    try:
        booked(tmp_path)
        day = dt.date(2026, 12, 7)
        recorded: dict[str, str] = {}
        for what, gap in steps:
            day += dt.timedelta(days=gap)
            if what == "check" or what == "done":
                assert check(tmp_path, "P-1", day.isoformat())[0] == 0
            if what == "done":
                code, out, _err = run("done", "P-1", "--on", day.isoformat(), "--json")
                if code == 0:
                    doc = json.loads(out)
                    recorded[doc["session"]] = doc["date"]
            elif what == "missed":
                run("missed", "P-1", "--on", day.isoformat())
            now = sessions()
            for label, date in recorded.items():  # never moved
                assert now[int(label) - 1][:2] == (date, "done")
            days = [dt.date.fromisoformat(d) for d, _, _ in now]
            assert all((b - a).days >= 28 or (a.isoformat() in recorded.values() and b.isoformat() in
                                                 recorded.values()) for a, b in itertools.pairwise(days))  # fmt: skip
        assert verify()[0] == 0
    finally:
        del os.environ["NEEDLE_REGISTER"]


def test_done_is_refused_after_a_check_that_defers_and_too_soon_after_the_last(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07", sunburn_last_date=dt.date(2026, 12, 5))[0] == 3
    code, _, err = run("done", "P-1", "--on", "2026-12-07")
    assert code == 2 and "latest check (2026-12-07) is defer" in err
    assert check(tmp_path, "P-1", "2027-01-04")[0] == 0
    assert run("done", "P-1", "--on", "2027-01-04")[0] == 0
    assert check(tmp_path, "P-1", "2027-01-11")[0] == 0
    code, _, err = run("done", "P-1", "--on", "2027-01-11")
    assert code == 2 and "only 7 days after the session before (2027-01-04); the earliest is 2027-02-01" in err
    assert verify()[0] == 0


def test_a_series_resumed_from_hold_books_new_calendar_ids(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07", active_infection=True)[0] == 3
    held = events()
    assert {status for key, (_, status, _) in held.items() if key.startswith("session")} == {"CANCELLED"}
    assert check(tmp_path, "P-1", "2026-12-14")[0] == 0
    now = events()
    assert all(now[key][1] == "CANCELLED" for key in held if key.startswith("session"))  # never come back
    assert [k for _, _, k in sessions()] == ["session-1-2", "session-2-2", "session-3-2"]


def test_a_refused_series_command_creates_no_register(tmp_path: Path, register: Path) -> None:
    for args in (["done", "P-1"], ["missed", "P-1"], ["cancel", "P-1", "--reason", "x"]):
        code, _, err = run(*args)
        assert code == 2 and "no booked series" in err
    assert not register.exists() and not register.parent.exists()


def test_a_booster_overdue_at_its_check_moves_to_that_day_and_is_done(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    code, _, err = run("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", "2026-12-07",
                       "--on", ON, "--book", "--boosters", "1")  # fmt: skip
    assert code == 0, err
    for day in ("2026-12-07", "2027-01-04", "2027-02-01"):
        assert check(tmp_path, "P-1", day)[0] == 0
        assert run("done", "P-1", "--on", day)[0] == 0
    # The booster's window (3-6 months after session 3) is past: the re-check moves it to its day.
    code, _, err = check(tmp_path, "P-1", "2027-09-01")
    assert code == 0 and "session B1, overdue, moved to the re-check's day (2027-09-01)" in err
    code, out, err = run("done", "P-1", "--on", "2027-09-01")
    assert code == 0 and out.endswith("the series is complete\n"), err
    code, out, _ = run("export", "P-1", "--format", "json", "--on", ON)
    assert [(b["date"], b["status"]) for b in json.loads(out)["boosters"]] == [("2027-09-01", "done")]
    assert verify()[0] == 0


def test_depths_are_plain_numbers_in_mm(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    for bad in ("cheeks=0.0000001", "cheeks=\u0663", "cheeks", "=1", "cheeks=1e1", "cheeks=nan", "cheeks=-1"):
        code, _, err = run("done", "P-1", "--on", "2026-12-07", "--depth", bad)
        assert code == 2 and err.count("\n") == 1 and "--depth" in err, bad
    code, _, err = run("done", "P-1", "--on", "2026-12-07", "--depth", "CHEEKS=0.5", "--depth", "cheeks=0.5")
    assert code == 2 and "given twice" in err


def test_booking_over_a_series_with_a_history_is_refused(tmp_path: Path, register: Path) -> None:
    """plan --book and batch --book never move a recorded session or revive a cancelled calendar id."""
    from tests.test_register import _batch_list

    booked(tmp_path)
    assert run("missed", "P-1", "--on", "2026-12-07")[0] == 0  # session-1-2 booked; session-1 cancelled
    code, _, err = run("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", "2026-12-14",
                       "--on", ON, "--book")  # fmt: skip
    assert code == 2 and "a missed session booked again, which never change" in err
    src = _batch_list(tmp_path / "l.csv", [("P-1", "fine-lines", "2026-12-14", {})])
    code, out, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", ON, "--book", "--json")
    assert code == 1 and "which never change" in json.loads(out)["rows"][0]["error"]
    assert events()["session-1"][1] == "CANCELLED" and verify()[0] == 0
    # On hold: only a clear re-check resumes it.
    assert check(tmp_path, "P-1", "2026-12-08", active_infection=True)[0] == 3
    code, _, err = run("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", "2026-12-21",
                       "--on", ON, "--book")  # fmt: skip
    assert code in (2, 3) and ("on hold" in err or "defers" in err)
    # Stopped: batch refuses; plan --book starts a new series.
    assert run("cancel", "P-1", "--reason", "x")[0] == 0
    code, out, _ = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", ON, "--book", "--json")
    assert code == 1 and "stopped" in json.loads(out)["rows"][0]["error"]


def test_a_plain_screen_of_the_day_must_be_applied_by_a_check(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    assert screen(tmp_path, "P-1", on="2026-12-07")[0] == 0
    code, _, err = run("done", "P-1", "--on", "2026-12-07")
    assert code == 2 and "the series was not checked against it: run needle check P-1" in err
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-07")[0] == 0


def test_a_booster_is_never_done_sooner_than_its_months(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    assert run("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", "2026-12-07", "--on", ON,
               "--book", "--boosters", "1")[0] == 0  # fmt: skip
    for day in ("2026-12-07", "2027-01-04", "2027-02-01"):
        assert check(tmp_path, "P-1", day)[0] == 0
        assert run("done", "P-1", "--on", day)[0] == 0
    assert check(tmp_path, "P-1", "2027-02-02")[0] == 0
    code, _, err = run("done", "P-1", "B1", "--on", "2027-02-02")
    assert code == 2 and "booster 1 on 2027-02-02: sooner than 3 months after 2027-02-01" in err


def test_a_hand_edited_history_in_a_saved_plan_cannot_break_the_minimum_spacing(tmp_path: Path, register: Path) -> None:
    booked(tmp_path)
    for day in ("2026-12-07", "2027-01-04"):
        assert check(tmp_path, "P-1", day)[0] == 0
        assert run("done", "P-1", "--on", day)[0] == 0
    code, text, _ = run("export", "P-1", "--format", "toml", "--on", ON)
    edited = text.replace("2027-01-04", "2026-12-14")  # session 2 "done" a week after session 1
    path = tmp_path / "edited.toml"
    path.write_text(edited)
    code, _, err = run("plan", "--from", str(path), "--on", ON, "--format", "ics")
    assert code == 2 and "must fall between" in err
