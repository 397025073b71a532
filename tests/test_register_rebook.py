"""Booking what is already booked: a rerun of the same list (or the same `plan --book`) writes no new
revision and no second copy of a screening; a list that cannot be read creates no register."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import run
from tests.test_register import ON, _batch_list, book, register, screen, verify

__all__ = ["register"]  # the fixture, used by name


def _entries() -> int:
    code, out, _ = run("register", "log", "--json")
    assert code == 0
    return len(json.loads(out))


def test_a_rerun_of_the_same_list_books_nothing_new(tmp_path: Path, register: Path) -> None:
    src = _batch_list(tmp_path / "l.csv", [
        ("B1", "fine-lines", "2027-01-04", {}),
        ("B2", "texture", "2027-01-06", {"herpes_history": "yes"}),
        ("B3", "acne-scars", "2027-01-05", {"keloid_history": "yes"}),
    ])  # fmt: skip
    out = tmp_path / "out"
    args = ("batch", str(src), "--out-dir", str(out), "--on", ON, "--book", "--jobs", "2", "--json")
    code, _first, err = run(*args)
    assert code == 0, err
    entries = _entries()
    assert entries == 5  # three screenings, two bookings
    files = {p.name: p.read_bytes() for p in out.glob("*.ics")}
    code, again, err = run(*args)
    assert code == 0, err
    assert _entries() == entries  # no new revision, no second copy of a screening
    assert {p.name: p.read_bytes() for p in out.glob("*.ics")} == files  # the booked revision's files
    notes = {r["patient_id"]: r["notes"] for r in json.loads(again)["rows"]}
    assert any("already booked: revision 1, unchanged" in n for n in notes["B1"])
    for pid in ("B1", "B2"):
        r = run("export", pid, "--format", "ics", "--on", ON)
        assert r.exit_code == 0 and r.stdout_bytes == files[f"{pid}.ics"]
    # One row changed: only that series gets revision 2.
    changed = _batch_list(tmp_path / "l2.csv", [
        ("B1", "fine-lines", "2027-01-11", {}),
        ("B2", "texture", "2027-01-06", {"herpes_history": "yes"}),
    ])  # fmt: skip
    code, _, err = run("batch", str(changed), "--out-dir", str(out), "--on", ON, "--book", "--quiet")
    assert code == 0, err
    revisions = {}
    for pid in ("B1", "B2"):
        code, text, _ = run("history", pid, "--json")
        revisions[pid] = [e["revision"] for e in json.loads(text) if e["event"] == "booked"]
    assert revisions == {"B1": [1, 2], "B2": [1]}
    assert verify()[0] == 0


def test_plan_book_of_the_same_plan_again_is_unchanged(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    code, first, _ = book("P-1", "--start", "2026-12-07")
    assert code == 0
    code, second, err = book("P-1", "--start", "2026-12-07")
    assert code == 0 and "already booked: P-1's fine-lines series, revision 1, unchanged" in err
    assert json.loads(second)["sessions"] == json.loads(first)["sessions"]
    assert _entries() == 2
    code, _, err = book("P-1", "--start", "2026-12-14")
    assert code == 0 and "revision 2" in err and _entries() == 3


def test_a_list_that_cannot_be_read_creates_no_register(tmp_path: Path, register: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("patient,when\nP1,2027-01-04\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON, "--book", "--quiet")
    assert code == 2 and err.count("\n") == 1
    assert not register.exists() and not register.parent.exists()
