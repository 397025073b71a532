"""Booking into the clinic's slots: each session at the first free place of its day, capacity never
exceeded (also with many processes at once), a full slot asked for by --time named with the free ones."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.harness import command, run
from tests.test_register import register, screen, verify

__all__ = ["register"]  # the fixture, used by name

ON = "2026-12-01"


@pytest.fixture
def clinic(tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nsession_time = "10:30"\nslots = ["09:00", "10:30", "13:00"]\ncapacity = 2\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    return register


def book(patient: str, *args: str) -> tuple[int, str, str]:
    return run("plan", "--patient", patient, "--indication", "fine-lines", "--start", "2026-12-07", "--on", ON,
               "--book", *args)  # fmt: skip


def places() -> Counter[str]:
    code, out, _ = run("due", "--on", "2026-12-07", "--days", "1", "--format", "json")
    assert code == 0
    return Counter(str(i["start"])[11:16] for i in json.loads(out))


def test_sessions_fill_the_slots_in_order_and_a_full_day_is_closed(clinic: Path, tmp_path: Path) -> None:
    for n in range(7):
        assert screen(tmp_path, f"P-{n}")[0] == 0
    for n in range(6):
        code, _, err = book(f"P-{n}")
        assert code == 0, err
    assert places() == Counter({"10:30": 2, "09:00": 2, "13:00": 2})
    # The day is full: for this session it is a closed day; the next open day with a place it is.
    code, _, err = book("P-6")
    assert code == 0 and "session 1 moved from 2026-12-07 to 2026-12-08: every slot of its day is full" in err
    code, out, _ = run("export", "P-6", "--format", "json", "--on", ON)
    sessions = json.loads(out)["sessions"]
    assert (sessions[0]["date"], sessions[0]["start"][11:16]) == ("2026-12-08", "09:00")
    for pid, at in (("P-0", "09:00"), ("P-2", "10:30"), ("P-4", "13:00")):  # the earliest slot with a place
        code, out, _ = run("export", pid, "--format", "json", "--on", ON)
        assert [s["start"][11:16] for s in json.loads(out)["sessions"]] == [at] * 3, pid
    assert verify()[0] == 0


def test_a_full_slot_asked_for_names_the_free_ones(clinic: Path, tmp_path: Path) -> None:
    for n in range(3):
        assert screen(tmp_path, f"P-{n}")[0] == 0
    assert book("P-0", "--time", "10:30")[0] == 0 and book("P-1", "--time", "10:30")[0] == 0
    code, _, err = book("P-2", "--time", "10:30")
    assert code == 2 and "the 10:30 slot is full (capacity 2); free slots that day: 09:00, 13:00" in err
    code, _, err = book("P-2", "--time", "11:00")
    assert code == 2 and "11:00 is not a slot" in err
    assert book("P-2", "--time", "13:00")[0] == 0
    assert places()["13:00"] == 1


def test_capacity_holds_with_eight_processes_at_once(clinic: Path, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[clinic]\nsession_time = "10:30"\nslots = ["09:00", "10:30", "13:00"]\n')
    for n in range(8):
        assert screen(tmp_path, f"P-{n}")[0] == 0
    env = dict(os.environ)
    procs = [
        subprocess.Popen(command("plan", "--patient", f"P-{n}", "--indication", "fine-lines", "--start", "2026-12-07",
                                 "--on", ON, "--book"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for n in range(8)
    ]  # fmt: skip
    codes = [p.wait(timeout=120) for p in procs]
    assert all(c in (0, 75) for c in codes), codes  # booked, or the register was busy: run it again
    _, out, _ = run("due", "--on", "2026-12-07", "--days", "120", "--format", "json")
    held = Counter((i["date"], str(i["start"])[11:16]) for i in json.loads(out) if i["what"] == "session")
    assert held and max(held.values()) == 1, held  # three slots a day, one place each: never two
    assert sum(held.values()) == 3 * codes.count(0)
    assert verify()[0] == 0


def test_slots_and_capacity_are_checked_in_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nslots = ["9am", "10:30", "10:30"]\ncapacity = 0\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    code, _, err = run("config", "show")
    assert code == 2 and err.count("\n") == 1
    for part in ("clinic.slots[0]", "clinic.slots: a time is given twice", "clinic.capacity"):
        assert part in err, part
    config.write_text('[clinic]\nslots = ["13:00", "09:00"]\ncapacity = 3\n')
    code, out, _ = run("config", "show", "--json")
    values = json.loads(out)["values"]
    assert values["slots"]["value"] == ["09:00", "13:00"] and values["capacity"]["value"] == 3


def test_a_reflow_takes_a_free_slot_too(clinic: Path, tmp_path: Path) -> None:
    """`missed` books the session again where a slot has a place: never over capacity."""
    from tests.test_series import check

    (tmp_path / "config.toml").write_text('[clinic]\nsession_time = "10:30"\nslots = ["09:00", "10:30"]\n')
    for n in range(3):
        assert screen(tmp_path, f"P-{n}")[0] == 0
    code, _, err = run("plan", "--patient", "P-0", "--indication", "fine-lines", "--start", "2026-12-08", "--on", ON,
                       "--book")  # fmt: skip
    assert code == 0, err
    code, _, err = run("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", "2026-12-08", "--on", ON,
                       "--book")  # fmt: skip
    assert code == 0, err  # 10:30: 09:00 is P-0's
    assert book("P-2")[0] == 0  # Mon 7 Dec at 09:00
    assert check(tmp_path, "P-2", "2026-12-07")[0] == 0
    code, out, err = run("missed", "P-2", "--on", "2026-12-07")  # again from Tue 8 Dec: full, so Wed 9 Dec
    assert code == 0 and "booked again on 2026-12-09" in out, (out, err)
    code, out, _ = run("due", "--on", "2026-12-08", "--days", "2", "--format", "json")
    held = Counter((i["date"], str(i["start"])[11:16]) for i in json.loads(out))
    assert all(n <= 1 for n in held.values()), held
    assert verify()[0] == 0


@settings(max_examples=10, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["book", "missed", "cancel"]), st.integers(0, 4), st.integers(0, 6)),
        min_size=1,
        max_size=7,
    )
)
def test_no_slot_is_ever_over_capacity_and_due_matches_the_series(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, int]]
) -> None:
    """Any sequence of bookings, misses and cancellations: no (day, slot) holds more than its places,
    and every item `due` lists is a booked, unrecorded session of that patient's latest revision."""
    tmp = tmp_path_factory.mktemp("slots")
    config = tmp / "config.toml"
    config.write_text('[clinic]\nsession_time = "10:30"\nslots = ["09:00", "10:30"]\ncapacity = 1\n')
    env = {"NEEDLE_CONFIG": str(config), "NEEDLE_REGISTER": str(tmp / "reg.sqlite3")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        screened: set[str] = set()
        for what, who, shift in steps:
            pid = f"P-{who}"
            if pid not in screened:
                assert screen(tmp, pid)[0] == 0
                screened.add(pid)
            start = (dt.date(2026, 12, 7) + dt.timedelta(days=shift)).isoformat()
            if what == "book":
                run("plan", "--patient", pid, "--indication", "fine-lines", "--start", start, "--on", ON, "--book")
            elif what == "missed":
                run("missed", pid, "--on", start)
            else:
                run("cancel", pid, "--reason", "a test")
            code, out, _ = run("due", "--on", "2026-12-01", "--days", "366", "--format", "json")
            assert code == 0
            items = [i for i in json.loads(out) if i["what"] == "session"]
            held = Counter((i["date"], str(i["start"])[11:16]) for i in items)
            assert not held or max(held.values()) <= 1, held
            for i in items:
                code, doc, _ = run("export", str(i["patient"]), "--format", "json", "--on", ON)
                assert code == 0
                sessions = {(s["date"], s["status"]) for s in json.loads(doc)["sessions"]}
                assert (i["date"], "booked") in sessions, (i, sessions)
        assert verify()[0] == 0


def test_batch_book_never_books_beyond_a_slots_capacity(clinic: Path, tmp_path: Path) -> None:
    """A row's time cell asks for that slot (like --time): full, or not a slot, is that row's error,
    naming the free ones; the other rows take the earliest free slot of their days."""
    src = tmp_path / "l.csv"
    src.write_text(
        "patient_id,indication,start,time\n"
        + "".join(f"B{n},fine-lines,2026-12-07,10:30\n" for n in range(3))
        + "B3,fine-lines,2026-12-07,11:00\nB4,fine-lines,2026-12-07,\n"
    )
    code, out, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", ON, "--book", "--json",
                         "--jobs", "1")  # fmt: skip
    assert code == 1, err
    rows = json.loads(out)["rows"]
    assert [r["status"] for r in rows] == ["planned", "planned", "error", "error", "planned"]  # capacity 2
    assert (
        "session 1 on 2026-12-07: the 10:30 slot is full (capacity 2); free slots that day: 09:00, 13:00"
        in (rows[2]["error"])
    )
    assert "11:00 is not a slot" in rows[3]["error"]
    assert sorted(p.name for p in (tmp_path / "o").glob("*.ics")) == ["B0.ics", "B1.ics", "B4.ics"]  # none unbooked
    assert "session 1: booked at 09:00, the earliest free slot that day" in rows[4]["notes"]
    assert places() == Counter({"10:30": 2, "09:00": 1}) and verify()[0] == 0
    ics = (tmp_path / "o" / "B4.ics").read_text()
    assert "DTSTART;TZID=UTC:20261207T090000" in ics or "DTSTART:20261207T090000Z" in ics, ics


PRACTICE_SLOTS = ["09:00", "10:30", "12:00", "14:00", "15:30"]


def practice_export(tmp_path: Path, rows: int = 200) -> Path:
    """A practice-system list like the one that double-booked a clinic: everyone at the clinic's one
    session time, starts bunched on a few days."""
    src = tmp_path / "practice.csv"
    kinds = ["fine-lines", "acne-scars", "fine-lines", "texture"]
    src.write_text(
        "patient_id,indication,start\n"
        + "".join(
            f"P{n:03d},{kinds[n % 4]},{dt.date(2027, 3, 1) + dt.timedelta(days=(n * 7) % 12)}\n" for n in range(rows)
        )
    )
    return src


def diary_places() -> list[tuple[str, str]]:
    """Every booked place in the register: (day, HH:MM)."""
    code, out, err = run("due", "--on", "2027-03-01", "--days", "366", "--format", "json")
    assert code == 0, err
    return [(str(i["date"]), str(i["start"])[11:16]) for i in json.loads(out) if i["start"]]


def test_a_practice_export_booked_in_slots_fills_days_in_order(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 200-row list, 5 slots x capacity 2: no slot over capacity, each day's slots filled in order
    (a slot holds someone only when every earlier one is full), every row booked, the files' times the
    register's, the same with two worker processes, and a rerun books nothing new."""
    config = tmp_path / "config.toml"
    slots = ", ".join(f'"{t}"' for t in PRACTICE_SLOTS)
    config.write_text(f'[clinic]\nsession_time = "10:30"\nslots = [{slots}]\ncapacity = 2\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    src = practice_export(tmp_path)
    code, out, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", "2027-02-01", "--book",
                         "--json", "--jobs", "1")  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [r["status"] for r in rows] == ["planned"] * 200
    held = Counter(diary_places())
    assert max(held.values()) == 2
    for day in {d for d, _ in held}:
        counts = [held[(day, t)] for t in PRACTICE_SLOTS]
        used = [n for n in counts if n]
        assert counts[: len(used)] == [2] * (len(used) - 1) + used[-1:], (day, counts)  # filled in order
    assert any("every slot of its day is full" in n for r in rows for n in r["notes"])  # full days were closed
    import icalendar

    starts = Counter()
    for f in (tmp_path / "o").glob("*.ics"):
        for ev in icalendar.Calendar.from_ical(f.read_bytes()).walk("VEVENT"):
            if str(ev.get("SUMMARY", "")).lower().startswith(("session", "microneedling")) and "DTSTART" in ev:
                start = ev.decoded("DTSTART")
                if isinstance(start, dt.datetime):
                    starts[(start.date().isoformat(), f"{start:%H:%M}")] += 1
    assert starts == held  # every calendar shows the place the register holds
    assert verify()[0] == 0
    before = {f.name: f.read_bytes() for f in (tmp_path / "o").glob("*.ics")}
    code, out, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", "2027-02-01", "--book",
                         "--json", "--jobs", "2")  # fmt: skip
    assert code == 0, err
    changed = [r for r in json.loads(out)["rows"] if not any("unchanged" in n for n in r["notes"])]
    assert not changed, changed[:3]
    assert {f.name: f.read_bytes() for f in (tmp_path / "o").glob("*.ics")} == before
    assert Counter(diary_places()) == held


def test_batch_book_in_slots_is_the_same_with_worker_processes(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    slots = ", ".join(f'"{t}"' for t in PRACTICE_SLOTS)
    config.write_text(f'[clinic]\nsession_time = "10:30"\nslots = [{slots}]\ncapacity = 2\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    src = practice_export(tmp_path, 60)
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "a"), "--on", "2027-02-01", "--book",
                       "--jobs", "2")  # fmt: skip
    assert code == 0, err
    two = Counter(diary_places())
    monkeypatch.setenv("NEEDLE_REGISTER", str(tmp_path / "other.sqlite3"))
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "b"), "--on", "2027-02-01", "--book",
                       "--jobs", "1")  # fmt: skip
    assert code == 0, err
    assert Counter(diary_places()) == two


def test_a_slot_a_dst_change_skips_still_has_its_places(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """01:30 on 28 Mar 2027 (London) does not exist: the sessions there start at 02:30, and that place
    is counted as the 01:30 slot's."""
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\ndays = "mon-sun"\nslots = ["01:30", "09:00"]\ncapacity = 1\n'
                      'session_time = "01:30"\ntime_zone = "Europe/London"\n')  # fmt: skip
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    for n in range(3):
        assert screen(tmp_path, f"P-{n}")[0] == 0
        code, _, err = run("plan", "--patient", f"P-{n}", "--indication", "fine-lines", "--start", "2027-03-28",
                           "--on", ON, "--book")  # fmt: skip
        assert code == 0, err
    code, out, _ = run("due", "--on", "2027-03-28", "--days", "1", "--format", "json")
    held = Counter(str(i["start"]) for i in json.loads(out))
    assert held and max(held.values()) == 1, held


def test_a_recheck_deferral_into_a_full_day_says_where_the_session_went(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_series import check

    config = tmp_path / "config.toml"
    config.write_text('[clinic]\ndays = "mon,wed"\nsession_time = "09:00"\nslots = ["09:00", "10:30"]\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    for pid, start in (("F-1", "2027-01-04"), ("F-2", "2027-01-04"), ("D-1", "2026-12-07")):
        assert screen(tmp_path, pid)[0] == 0
        code, _, err = run("plan", "--patient", pid, "--indication", "fine-lines", "--start", start, "--on", ON,
                           "--book")  # fmt: skip
        assert code == 0, err
    code, _, err = check(tmp_path, "D-1", "2026-12-09", sunburn_last_date=dt.date(2026, 12, 6))
    assert code == 3 and "session 1 booked on 2027-01-06: every slot of 2027-01-04 is full" in err, err


def test_batch_without_book_says_once_where_sessions_share_a_start_beyond_capacity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nsession_time = "10:30"\ncapacity = 2\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    src = practice_export(tmp_path, 40)
    notes = []
    for _ in range(2):  # the second run keeps every file (already current): the note is the same
        code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", "2027-02-01", "--jobs", "1")
        assert code == 0, err
        said = [line for line in err.splitlines() if "capacity" in line]
        assert len(said) == 1, err
        notes.append(said[0])
    assert notes[0] == notes[1]
    assert notes[0].startswith("needle: note: ") and "hold more patients than the clinic's capacity (2)" in notes[0]
    assert "use --book to put each session in a free slot" in notes[0]
    # The numbers: every planned session, counted by its start.
    starts = Counter()
    import icalendar

    for f in (tmp_path / "o").glob("*.ics"):
        for ev in icalendar.Calendar.from_ical(f.read_bytes()).walk("VEVENT"):
            start = ev.decoded("DTSTART")
            if isinstance(start, dt.datetime):  # sessions and boosters (the windows are whole days)
                starts[f"{start:%Y-%m-%d %H:%M}"] += 1
    over = {k: n for k, n in starts.items() if n > 2}
    top = min(over, key=lambda k: (-over[k], k))
    assert f"{len(over)} of {len(starts)} session start times" in notes[0], (notes[0], over)
    assert f"the most {over[top]} on {top.replace(' ', ' at ')}" in notes[0]
    # Room for everyone: no note.
    config.write_text('[clinic]\nsession_time = "10:30"\ncapacity = 100\n')
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "p"), "--on", "2027-02-01", "--jobs", "1")
    assert code == 0 and "capacity" not in err


@pytest.mark.parametrize("fmt", ["ics", "html"])
def test_rows_placed_alike_are_planned_once_and_give_the_same_files(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Rows the parent places elsewhere than their worker planned them, alike but for the patient, are
    planned and rendered once (`batch.slots`): their files and booked plans are byte for byte those of
    planning each row again, and the places the same."""
    import sqlite3

    from needlecli.batch import slots
    from needlecli.register.codec import unpack

    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nsession_time = "09:00"\nslots = ["09:00", "10:00", "11:00"]\ncapacity = 5\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    src = tmp_path / "list.csv"  # two series of 20 rows: each day's slots fill, then the next day's
    rows = [f"P{n:03d},{('fine-lines', 'acne-scars')[n % 2]},2027-01-0{4 + 2 * (n % 2)},3" for n in range(40)]
    src.write_text("patient_id,indication,start,sessions\n" + "\n".join(rows) + "\n")

    def booked(out: str) -> tuple[dict[str, bytes], list[tuple[str, str]], Counter[tuple[str, str]]]:
        code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / out), "--on", ON, "--book",
                           "--format", fmt, "--jobs", "1")  # fmt: skip
        assert code == 0, err
        files = {f.name: f.read_bytes() for f in (tmp_path / out).glob(f"*.{fmt}")}
        db = sqlite3.connect(os.environ["NEEDLE_REGISTER"])
        plans = sorted(
            (str(p), unpack(b))
            for p, b in db.execute("SELECT s.patient, b.plan FROM bookings b JOIN series s ON s.id = b.series")
        )
        db.close()
        return files, plans, Counter(diary_places())

    from needlecli import planning

    planned = Counter[str]()
    saved_plan = planning.saved_plan

    def counted(*args: object, **kwargs: object) -> object:
        planned[os.environ["NEEDLE_REGISTER"]] += 1
        return saved_plan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(planning, "saved_plan", counted)
    kept = booked("kept")
    assert len(kept[0]) == 40 and max(kept[2].values()) == 5
    monkeypatch.setenv("NEEDLE_REGISTER", str(tmp_path / "other.sqlite3"))
    monkeypatch.setattr(slots, "KEEP", 0)
    assert booked("each") == kept
    once, each = planned.values()
    assert each >= 30 and once <= each // 3, (once, each)  # most rows were placed elsewhere, alike


ONE_SLOT = '[clinic]\ndays = "mon-fri"\nsession_time = "09:00"\nslots = ["09:00"]\ncapacity = 1\n'


def _listed(path: Path, *rows: str) -> Path:
    lines = "".join(f"{pid},fine-lines,{start},3\n" for pid, start in (r.split(",") for r in rows))
    path.write_text("patient_id,indication,start,sessions\n" + lines)
    return path


def test_a_series_moved_off_its_places_gives_them_to_the_rows_after_it(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X booked on the 5th moves to the 18th: its places on the 5th go to Y, the row after it, even on a
    day the transaction had not read when X was placed (the bookings are inserted after the placing)."""
    (tmp_path / "c.toml").write_text(ONE_SLOT)
    monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path / "c.toml"))
    first = _listed(tmp_path / "a.csv", "Z,2027-01-04", "X,2027-01-05")
    code, _, err = run("batch", str(first), "--out-dir", str(tmp_path / "o"), "--on", ON, "--book", "--jobs", "1")
    assert code == 0, err
    then = _listed(tmp_path / "b.csv", "Z,2027-01-04", "X,2027-01-18", "Y,2027-01-04")
    code, _, err = run("batch", str(then), "--out-dir", str(tmp_path / "o"), "--on", ON, "--book", "--jobs", "1")
    assert code == 0, err
    code, out, _ = run("export", "Y", "--format", "json", "--on", ON)
    assert [s["date"] for s in json.loads(out)["sessions"]] == ["2027-01-05", "2027-02-02", "2027-03-02"]
    assert max(Counter(diary_places()).values()) == 1


def test_a_moved_row_whose_file_cannot_be_written_keeps_its_places(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X moves off the 4th (its places there would go to Y), but its file cannot be written again: X
    keeps its booking and its places, and Y goes elsewhere: capacity 1 holds."""
    from needlecli.batch import engine, reconcile

    (tmp_path / "c.toml").write_text(ONE_SLOT)
    monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path / "c.toml"))
    first = _listed(tmp_path / "a.csv", "X,2027-01-04", "W,2027-01-05")
    code, _, err = run("batch", str(first), "--out-dir", str(tmp_path / "o"), "--on", ON, "--book", "--jobs", "1")
    assert code == 0, err
    handle = reconcile.handle

    def planted(ctx: object, task: tuple[int, ...]) -> object:  # a folder appears where X's file was
        result = handle(ctx, task)  # type: ignore[arg-type]
        if result.patient_id == "X":
            (tmp_path / "o" / "X.ics").unlink()
            (tmp_path / "o" / "X.ics").mkdir()
        return result

    monkeypatch.setattr(engine, "handle", planted)
    then = _listed(tmp_path / "b.csv", "W,2027-01-05", "X,2027-01-05", "Y,2027-01-04")
    code, _, err = run("batch", str(then), "--out-dir", str(tmp_path / "o"), "--on", ON, "--book", "--jobs", "1")
    assert code == 1 and "row 3: cannot write" in err and "X.ics: it is a folder" in err, err
    assert max(Counter(diary_places()).values()) == 1
    code, out, _ = run("export", "Y", "--format", "json", "--on", ON)
    assert json.loads(out)["sessions"][0]["date"] == "2027-01-06"


def test_a_name_corrected_in_the_list_is_booked_again_in_the_places_held(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun whose only change is a patient's name books the series again under that name, in the
    places it holds (never moved to an earlier free slot): `due` and `export --include-name` follow the
    list; a rerun after that is unchanged."""
    (tmp_path / "c.toml").write_text(ONE_SLOT.replace('slots = ["09:00"]', 'slots = ["09:00", "10:00"]'))
    monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path / "c.toml"))
    out = str(tmp_path / "o")

    def book(*rows: str) -> str:
        src = tmp_path / "l.csv"
        src.write_text("patient_id,indication,start,name\n" + "".join(f"{r}\n" for r in rows))
        code, _, err = run("batch", str(src), "--out-dir", out, "--on", ON, "--book", "--include-name", "--jobs", "1")
        assert code == 0, err
        return err

    book("A,fine-lines,2027-01-04,Ann Smith", "B,fine-lines,2027-01-04,Bo Lee")  # B at 10:00, A at 09:00
    held = Counter(diary_places())
    code, _, err = run("cancel", "A", "--on", ON, "--reason", "moved away")
    assert code == 0, err
    book("B,fine-lines,2027-01-04,Bo Leigh")  # 09:00 is free now: B stays at 10:00 all the same
    assert Counter(diary_places()) == held - Counter({p: 1 for p in held if p[1] == "09:00"})
    code, out_json, _ = run("due", "--on", "2027-01-04", "--days", "1", "--include-name", "--format", "json")
    assert [(i["patient"], i["name"], str(i["start"])[11:16]) for i in json.loads(out_json)] == [
        ("B", "Bo Leigh", "10:00")
    ]
    code, md, _ = run("export", "B", "--format", "md", "--include-name", "--on", ON)
    assert code == 0 and "Bo Leigh" in md
    book("B,fine-lines,2027-01-04,Bo Leigh")
    assert "already booked: revision 2, unchanged" in (tmp_path / "o" / "summary.csv").read_text()
    assert verify()[0] == 0


def test_a_name_change_keeps_its_places_and_a_missing_name_is_the_registered_one(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new name only: the places the series holds even when the clinic's slots changed since (no row
    error, no file removed); an empty name cell is the name the register keeps (the file shows it and
    nothing is booked again); a name booked earlier, then a booking without --include-name, then the
    same name again: nothing to book again."""
    config = tmp_path / "c.toml"
    config.write_text('[clinic]\nsession_time = "11:00"\ncapacity = 2\n')  # booked before the clinic had slots
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    out = tmp_path / "o"

    def book(*rows: str, named: bool = True) -> dict[str, str]:
        src = tmp_path / "l.csv"
        src.write_text("patient_id,indication,start,name\n" + "".join(f"{r}\n" for r in rows))
        flags = ["--include-name"] if named else []
        code, _, err = run("batch", str(src), "--out-dir", str(out), "--on", ON, "--book", "--jobs", "1", *flags)
        assert code == 0, err
        return {r["patient_id"]: r["notes"] for r in csv.DictReader((out / "summary.csv").open())}

    book("A,fine-lines,2027-01-04,Ann Smith", "B,fine-lines,2027-01-04,Bo")  # both at 11:00
    config.write_text('[clinic]\nsession_time = "11:00"\nslots = ["09:00", "10:00"]\ncapacity = 1\n')
    said = book("A,fine-lines,2027-01-04,Ann Smith", "B,fine-lines,2027-01-04,Bob")
    assert "already booked: revision 1, unchanged" in said["A"], said
    assert "already booked: revision 1, booked again under the name given" in said["B"], said
    _, due, _ = run("due", "--on", "2027-01-04", "--days", "1", "--include-name", "--format", "json")
    assert sorted((i["patient"], i["name"], str(i["start"])[11:16]) for i in json.loads(due)) == [
        ("A", "Ann Smith", "11:00"), ("B", "Bob", "11:00")]  # fmt: skip
    assert "Bob" in (out / "B.ics").read_text()
    said = book("A,fine-lines,2027-01-04,", "B,fine-lines,2027-01-04,Bob")  # A's name left out of the list
    assert all("unchanged" in n for n in said.values()), said
    assert "Ann Smith" in (out / "A.ics").read_text()
    book("A,fine-lines,2027-01-11,", named=False)  # moved, and booked without its name
    said = book("A,fine-lines,2027-01-11,Ann Smith")
    assert "already booked: revision 2, unchanged" in said["A"], said
    assert verify()[0] == 0


def test_a_series_under_way_is_kept_by_a_rerun_of_its_list(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sessions recorded done or missed: a rerun of the same list keeps the series as the register has
    it now (the file follows the register's re-flows; nothing booked), where it used to make the row an
    error and remove its calendar. A row asking for another series, or one for a stopped series, is
    still refused."""
    import icalendar

    (tmp_path / "c.toml").write_text('[clinic]\nsession_time = "10:30"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path / "c.toml"))
    src, out = tmp_path / "l.csv", tmp_path / "o"
    src.write_text("patient_id,indication,start\nA,fine-lines,2026-12-07\nB,fine-lines,2026-12-07\n")

    def rerun() -> tuple[int, dict[str, dict[str, str]], str]:
        code, _, err = run("batch", str(src), "--out-dir", str(out), "--on", "2026-12-08", "--book", "--jobs", "1",
                           "--allow-past")  # fmt: skip
        return code, {r["patient_id"]: r for r in csv.DictReader((out / "summary.csv").open())}, err

    def events(text: bytes) -> list[tuple[str, str, int]]:
        cal = icalendar.Calendar.from_ical(text)
        return sorted((str(e["UID"]), str(e.get("STATUS", "")), int(e.get("SEQUENCE", 0))) for e in cal.walk("VEVENT"))

    assert rerun()[0] == 0
    from tests.test_series import check

    assert screen(tmp_path, "A")[0] == 0 and check(tmp_path, "A", "2026-12-07")[0] == 0
    code, _, err = run("done", "A", "--on", "2026-12-07")
    assert code == 0, err
    assert run("missed", "B", "--on", "2026-12-08")[0] == 0
    code, rows, err = rerun()
    assert code == 0, err
    for pid in "AB":
        assert (
            rows[pid]["status"] == "planned" and "under way" in rows[pid]["notes"] and "unchanged" in rows[pid]["notes"]
        )
        _, exported, _ = run("export", pid, "--format", "ics", "--on", "2026-12-08")
        assert events((out / f"{pid}.ics").read_bytes()) == events(exported.encode()), pid  # the register's, now
    _, exported, _ = run("export", "B", "--format", "json", "--on", "2026-12-08")
    assert json.loads(exported)["sessions"][0]["date"] != "2026-12-07"  # the missed session, booked again
    src.write_text("patient_id,indication,start\nA,fine-lines,2027-01-11\n")  # another series for A
    code, rows, err = rerun()
    assert code == 1 and "the series has sessions recorded (1)" in rows["A"]["error"], rows
    assert run("cancel", "B", "--on", "2026-12-08", "--reason", "moved away")[0] == 0
    src.write_text("patient_id,indication,start\nB,fine-lines,2026-12-07\n")
    code, rows, err = rerun()
    assert code == 1 and "the series is stopped" in rows["B"]["error"], rows
