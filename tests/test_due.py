"""`needle due`: the clinic's diary from the register — statuses, checks, reviews, every format parsed
back, the printable list through a real browser, and the diary kept honest by `register verify`."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from icalendar import Calendar

from needlecli.register.store import SCHEMA
from tests.harness import run
from tests.test_handout import _browser, _pdf
from tests.test_register import register, screen, verify
from tests.test_series import check

__all__ = ["register"]  # the fixture, used by name

ON = "2026-12-01"


def book(patient: str, indication: str, start: str, *args: str) -> None:
    code, _, err = run("plan", "--patient", patient, "--indication", indication, "--start", start, "--on", ON,
                       "--book", *args)  # fmt: skip
    assert code == 0, err


@pytest.fixture
def clinic(tmp_path: Path, register: Path) -> Path:
    """Two patients booked: P-1 fine-lines from Mon 7 Dec at 10:30, P-2 texture from Tue 8 Dec."""
    for p in ("P-1", "P-2"):
        assert screen(tmp_path, p)[0] == 0
    book("P-1", "fine-lines", "2026-12-07", "--time", "10:30")
    book("P-2", "texture", "2026-12-08")
    return register


def due(*args: str) -> list[dict[str, object]]:
    code, out, err = run("due", *args, "--format", "json")
    assert code == 0, err
    return list(json.loads(out))


def test_the_week_with_its_checks(clinic: Path, tmp_path: Path) -> None:
    items = due("--on", "2026-12-07")
    assert [(i["patient"], i["what"], i["number"], i["of"], i["date"], i["start"], i["status"], i["check"])
            for i in items] == [
        ("P-1", "session", 1, 3, "2026-12-07", "2026-12-07T10:30:00+00:00", "booked", "needed"),
        ("P-2", "session", 1, 3, "2026-12-08", None, "booked", "needed"),
    ]  # fmt: skip
    assert check(tmp_path, "P-1", "2026-12-07")[0] == 0
    assert [i["check"] for i in due("--on", "2026-12-07")] == ["done", "needed"]
    # A week later: P-2's session 1 was never recorded: overdue; P-1's done is gone from the list.
    assert run("done", "P-1", "--on", "2026-12-07")[0] == 0
    items = due("--on", "2026-12-14")
    assert [(i["patient"], i["date"], i["status"]) for i in items] == [("P-2", "2026-12-08", "overdue")]
    assert due("--on", "2026-12-14", "--patient", "P-1") == []
    assert [i["date"] for i in due("--on", "2027-01-04", "--patient", "P-1")] == ["2027-01-04"]


def test_a_review_follows_the_last_session_and_a_stopped_series_is_gone(clinic: Path, tmp_path: Path) -> None:
    for day in ("2026-12-07", "2027-01-04", "2027-02-01"):
        assert check(tmp_path, "P-1", day)[0] == 0
        assert run("done", "P-1", "--on", day)[0] == 0
    items = due("--on", "2027-05-01", "--patient", "P-1")
    assert [(i["what"], i["date"], i["check"]) for i in items] == [("review", "2027-05-01", None)]
    assert run("cancel", "P-2", "--reason", "moved away")[0] == 0
    assert due("--on", "2026-12-07", "--days", "366", "--patient", "P-2") == []
    assert verify()[0] == 0


def test_every_format_says_the_same(clinic: Path, tmp_path: Path) -> None:
    items = due("--on", "2026-12-07", "--days", "30")
    code, out, _ = run("due", "--on", "2026-12-07", "--days", "30", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["patient"], r["date"], r["number"], r["start"]) for r in rows] == [
        (str(i["patient"]), str(i["date"]), str(i["number"]), i["start"] or "") for i in items
    ]
    code, out, _ = run("due", "--on", "2026-12-07", "--days", "30")
    lines = out.splitlines()
    assert code == 0 and all(len(line) <= 80 for line in lines) and len(lines) == len(items) + 2
    # The clinic's calendar: each item with the calendar id of the patient's own file.
    r = run("due", "--on", "2026-12-07", "--days", "30", "--format", "ics")
    uids = [str(e["UID"]) for e in Calendar.from_ical(r.stdout_bytes).walk("VEVENT")]
    assert len(uids) == len(items)
    patients = set()
    for pid in ("P-1", "P-2"):
        e = run("export", pid, "--format", "ics", "--on", ON)
        patients |= {str(ev["UID"]) for ev in Calendar.from_ical(e.stdout_bytes).walk("VEVENT")}
    assert set(uids) <= patients


def test_the_day_list_is_escaped_and_prints(clinic: Path, tmp_path: Path) -> None:
    assert screen(tmp_path, "<b>P&3</b>")[0] == 0
    book("<b>P&3</b>", "texture", "2026-12-09")
    code, page, _ = run("due", "--on", "2026-12-07", "--format", "html")
    assert code == 0 and "<script" not in page.lower()
    assert "&lt;b&gt;P&amp;3&lt;/b&gt;" in page and "<b>P&3</b>" not in page
    browser = _browser()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium poppler-utils)")
    html, pdf = tmp_path / "due.html", tmp_path / "due.pdf"
    html.write_text(page, encoding="utf-8")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"]
    subprocess.run([*flags, f"--print-to-pdf={pdf}", html.as_uri()], capture_output=True, timeout=120, cwd=tmp_path)
    text = _pdf("pdftotext", pdf)
    for part in ("Due Mon 7 Dec 2026", "P-1", "<b>P&3</b>", "session 1/3", "needed", "10:30"):
        assert part in text, part


def test_no_register_is_an_empty_diary_and_bad_flags_are_one_line(register: Path) -> None:
    assert due("--on", ON) == []
    assert not register.exists()
    for args, says in ((["--days", "0"], "--days"), (["--format", "pdf"], "--format"), (["--on", "soon"], "--on")):
        code, _, err = run("due", *args)
        assert code == 2 and says in err and err.count("\n") == 1, args


def test_an_edited_diary_row_fails_verify(clinic: Path) -> None:
    db = sqlite3.connect(clinic)
    db.execute("UPDATE diary SET day = '2026-12-25' WHERE key = 'session-1' AND plan_id IN "
               "(SELECT plan_id FROM diary LIMIT 1)")  # fmt: skip
    db.commit()
    db.close()
    code, _, err = verify()
    assert code == 1 and "diary" in err


def test_a_register_from_before_the_diary_gets_one(clinic: Path, tmp_path: Path) -> None:
    """A register without its diary (schema 2, or the table lost): `due` upgrades it once, filling the
    diary from each series' latest booking, with the very rows (and digest) the bookings wrote."""
    db = sqlite3.connect(clinic)
    db.executescript(
        "DROP INDEX diary_by_day; DROP INDEX screenings_by_day; DROP TABLE diary; PRAGMA user_version = 2;"
    )
    db.close()
    assert [i["patient"] for i in due("--on", "2026-12-07")] == ["P-1", "P-2"]  # upgraded, filled
    assert sqlite3.connect(clinic).execute("PRAGMA user_version").fetchone()[0] == SCHEMA
    assert verify()[0] == 0
    book("P-1", "fine-lines", "2026-12-14", "--time", "10:30")  # a new revision: its own diary rows
    assert [i["date"] for i in due("--on", "2026-12-07", "--days", "8", "--patient", "P-1")] == ["2026-12-14"]
    assert verify()[0] == 0


def test_due_never_writes_over_a_file_it_did_not_write(clinic: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text("precious\n")
    code, _, err = run("due", "--on", "2026-12-07", "--out", str(mine))
    assert code == 2 and "not a file needle wrote" in err and mine.read_text() == "precious\n"
    code, _, err = run("due", "--on", "2026-12-07", "--out", str(clinic))
    assert code == 2 and verify()[0] == 0
    plan = tmp_path / "p1.toml"
    assert run("export", "P-1", "--format", "toml", "--out", str(plan))[0] == 0
    code, _, err = run("due", "--format", "csv", "--out", str(plan))
    assert code == 2 and "saved plan" in err
    for fmt in ("table", "json", "csv", "ics", "html"):  # its own list, again: replaced
        out = tmp_path / f"due.{fmt}"
        assert run("due", "--on", "2026-12-07", "--format", fmt, "--out", str(out))[0] == 0
        assert run("due", "--on", "2026-12-14", "--format", fmt, "--out", str(out))[0] == 0, fmt


def test_an_unknown_patient_is_one_line(clinic: Path) -> None:
    code, _, err = run("due", "--patient", "nobody")
    assert code == 2 and "no patient 'nobody'" in err and err.count("\n") == 1


def test_reviews_show_in_their_window_only(clinic: Path, tmp_path: Path) -> None:
    for day in ("2026-12-07", "2027-01-04", "2027-02-01"):
        assert check(tmp_path, "P-1", day)[0] == 0
        assert run("done", "P-1", "--on", day)[0] == 0
    assert [i["what"] for i in due("--on", "2027-04-28", "--patient", "P-1")] == ["review"]
    assert due("--on", "2027-06-01", "--patient", "P-1") == []  # past: not overdue for ever


def test_the_clinic_calendar_carries_the_patients_sequence_and_times(clinic: Path, tmp_path: Path) -> None:
    assert check(tmp_path, "P-1", "2026-12-09")[0] == 0
    assert run("done", "P-1", "--on", "2026-12-09")[0] == 0  # new revisions: SEQUENCE raised everywhere
    r = run("due", "--on", "2027-01-01", "--days", "30", "--format", "ics", "--patient", "P-1")
    mine = {str(e["UID"]): e for e in Calendar.from_ical(r.stdout_bytes).walk("VEVENT")}
    e = run("export", "P-1", "--format", "ics", "--on", ON)
    theirs = {str(ev["UID"]): ev for ev in Calendar.from_ical(e.stdout_bytes).walk("VEVENT")}
    assert mine and set(mine) <= set(theirs)
    for uid, ev in mine.items():
        assert int(ev["SEQUENCE"]) == int(theirs[uid]["SEQUENCE"]) >= 1
        assert ev["DTSTART"].dt == theirs[uid]["DTSTART"].dt and ev["DTEND"].dt == theirs[uid]["DTEND"].dt


def test_a_session_missed_on_its_day_is_booked_again_from_the_next(clinic: Path, tmp_path: Path) -> None:
    code, out, err = run("missed", "P-2", "--on", "2026-12-08")
    assert code == 0 and "booked again on 2026-12-09" in out, err


def test_a_diary_filled_on_upgrade_is_checked_against_the_booked_plans(clinic: Path) -> None:
    db = sqlite3.connect(clinic)
    db.executescript(
        "DROP INDEX diary_by_day; DROP INDEX screenings_by_day; DROP TABLE diary; PRAGMA user_version = 2;"
    )
    db.close()
    assert run("history", "P-1")[0] == 0  # a reading command upgrades it
    assert verify()[0] == 0
    db = sqlite3.connect(clinic)
    db.execute("UPDATE diary SET status = 'done' WHERE key = 'session-2'")
    db.commit()
    db.close()
    code, _, err = verify()
    assert code == 1 and "diary" in err


def test_names_only_with_include_name(clinic: Path, tmp_path: Path) -> None:
    """A name is kept with the booking that was given one (plan --book --name, batch --book
    --include-name): `due` shows it only with --include-name, in every format (escaped in the day
    list); `export --include-name` uses it; a changed name fails `register verify`."""
    assert screen(tmp_path, "P-3")[0] == 0
    book("P-3", "acne-scars", "2026-12-09", "--name", "Zoë <b>Ní</b> Bhriain")
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start,name\nB-1,texture,2026-12-10,Siobhán Murphy\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", ON, "--book", "--include-name")
    assert code == 0, err
    assert all("name" not in i for i in due("--on", "2026-12-07"))
    named = {i["patient"]: i["name"] for i in due("--on", "2026-12-07", "--include-name")}
    assert named == {"P-1": None, "P-2": None, "P-3": "Zoë <b>Ní</b> Bhriain", "B-1": "Siobhán Murphy"}
    code, out, _ = run("due", "--on", "2026-12-07", "--include-name")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80, out
    assert "Zoë <b>Ní</b>" in out and "Siobhán Murphy" in out
    code, out, _ = run("due", "--on", "2026-12-07")
    assert "Zoë" not in out and "Siobhán" not in out
    code, out, _ = run("due", "--on", "2026-12-07", "--include-name", "--format", "csv")
    rows = {r["patient"]: r["name"] for r in csv.DictReader(io.StringIO(out))}
    assert rows["B-1"] == "Siobhán Murphy" and rows["P-1"] == ""
    code, out, _ = run("due", "--on", "2026-12-07", "--include-name", "--format", "html")
    assert "Zoë &lt;b&gt;Ní&lt;/b&gt; Bhriain" in out and "<b>Ní</b>" not in out
    code, out, _ = run("due", "--on", "2026-12-07", "--include-name", "--format", "ics")
    summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(out.encode()).walk("VEVENT")]
    assert any(s.startswith("B-1 Siobhán Murphy: session 1/") for s in summaries), summaries
    code, out, _ = run("due", "--on", "2026-12-07", "--format", "ics")
    assert "Siobhán" not in out
    # export --include-name: the registered name; none registered is one line.
    code, out, err = run("export", "B-1", "--format", "md", "--include-name", "--on", ON)
    assert code == 0 and "Siobhán Murphy" in out, err
    code, _, err = run("export", "P-1", "--format", "md", "--include-name", "--on", ON)
    assert code == 2 and "no name is registered for P-1; give it with --name NAME" in err
    assert verify()[0] == 0
    db = sqlite3.connect(clinic)
    db.execute("UPDATE bookings SET name = 'Someone Else' WHERE name = 'Siobhán Murphy'")
    db.commit()
    db.close()
    assert verify()[0] == 1
