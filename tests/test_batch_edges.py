"""Batch at the edges (issue: safety round three): a misspelt screening header never passes as
"not screened", no cell of summary.csv is a live formula, and a file needle did not write is never
replaced or removed."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.harness import run
from tests.plan_helpers import ALL_NO_FALSE, ON


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_screening_header_misspelt_is_refused(tmp_path: Path) -> None:
    ids = list(ALL_NO_FALSE)
    header = ",".join(["patient_id", "indication", "start", *(f"{q}?" for q in ids)])
    row = ",".join(["P1", "fine-lines", "2026-12-07", *("no" for _ in ids)])
    src = write(tmp_path / "l.csv", header + "\n" + row + "\n")
    for extra in ((), ("--json",)):
        code, out, err = run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON, *extra)
        assert code == 2 and out == ""
        assert "looks like the screening question" in err and f"(and {len(ids) - 1} more)" in err
    assert not (tmp_path / "out").exists()


def test_no_summary_cell_is_a_live_formula(tmp_path: Path) -> None:
    src = write(
        tmp_path / "l.csv",
        "patient_id,indication,start\n"
        '"=HYPERLINK(""http://x"",""y"")",fine-lines,2026-12-07\n'
        "+cmd|' /C calc'!A0,fine-lines,2026-12-07\n"
        "@SUM(1+1),fine-lines,2026-12-07\n"
        "-1+1,fine-lines,2026-12-07\n"
        '" =1",fine-lines,2026-12-07\n'
        "=2,nope,2026-12-07\n",
    )
    run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON)
    with (tmp_path / "out" / "summary.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        for cell in row:
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), row
    ids = [r[1] for r in rows[1:]]
    assert '\'=HYPERLINK("http://x","y")' in ids and "'@SUM(1+1)" in ids and "'-1+1" in ids


def test_batch_never_removes_or_replaces_a_file_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "P1.ics").write_text("my own calendar\n")
    (out / "P2.ics").write_text("my own notes\n")
    src = write(
        tmp_path / "l.csv",
        "patient_id,indication,start\nP1,nope,2026-12-07\nP2,fine-lines,2026-12-07\nP3,fine-lines,2026-12-07\n",
    )
    code, _, _ = run("batch", str(src), "--out-dir", str(out), "--on", ON, "--format", "ics")
    assert code == 1
    assert (out / "P1.ics").read_text() == "my own calendar\n"  # a failed row removes only needle's files
    assert (out / "P2.ics").read_text() == "my own notes\n"  # a planned row never replaces a user's file
    assert (out / "P3.ics").read_text().startswith("BEGIN:VCALENDAR")
    with (out / "summary.csv").open(newline="", encoding="utf-8") as fh:
        rows = {r["patient_id"]: r for r in csv.DictReader(fh)}
    assert "removed" not in rows["P1"]["error"]
    assert rows["P2"]["status"] == "error" and "is not a file needle wrote" in rows["P2"]["error"]
    # needle's own file from an earlier run is still replaced, and removed when its row fails.
    src.write_text("patient_id,indication,start\nP3,nope,2026-12-07\n")
    run("batch", str(src), "--out-dir", str(out), "--on", ON, "--format", "ics")
    assert not (out / "P3.ics").exists()


def test_unicode_and_case_twins_never_share_or_split_a_file(tmp_path: Path) -> None:
    nfc, nfd = "Zo\u00eb-1", "Zoe\u0308-1"
    src = write(
        tmp_path / "l.csv",
        f"patient_id,indication,start\n{nfc},fine-lines,2026-12-07\n{nfd},fine-lines,2026-12-07\n"
        "P1,fine-lines,2026-12-07\np1,fine-lines,2026-12-07\n",
    )
    out = tmp_path / "out"
    code, _, _ = run("batch", str(src), "--out-dir", str(out), "--on", ON, "--format", "ics")
    assert code == 1
    with (out / "summary.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["planned", "error", "planned", "error"]
    assert "is already on row 2" in rows[1]["error"]  # the same id, typed in another Unicode form
    assert "same file name as row 4's (p1.ics, in any case)" in rows[3]["error"]
    assert len(list(out.glob("*.ics"))) == 2


def test_an_unscreened_row_in_1900_is_an_error_without_allow_past(tmp_path: Path) -> None:
    src = write(tmp_path / "l.csv", "patient_id,indication,start\nP1,fine-lines,1900-01-01\n")
    code, _, _ = run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON)
    assert code == 1
    with (tmp_path / "out" / "summary.csv").open(newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert row["status"] == "error" and "before 2026-12-01" in row["error"] and "--allow-past" in row["error"]


def test_records_of_folders_unused_for_half_a_year_are_removed(tmp_path: Path) -> None:
    import os
    import time

    data = Path(os.environ["NEEDLE_DATA_DIR"]) / "batch"
    data.mkdir(parents=True, exist_ok=True)
    old, recent = data / ("0" * 32 + ".sqlite3"), data / ("1" * 32 + ".sqlite3")
    for path in (old, recent, data / ("0" * 32 + ".sqlite3-wal")):
        path.write_bytes(b"")
    year_ago = time.time() - 365 * 86400
    os.utime(old, (year_ago, year_ago))
    src = write(tmp_path / "l.csv", "patient_id,indication,start\nP1,fine-lines,2026-12-07\n")
    assert run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON)[0] == 0
    assert not old.exists() and not (data / ("0" * 32 + ".sqlite3-wal")).exists()
    assert recent.exists()
