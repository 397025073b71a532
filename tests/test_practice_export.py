"""A practice system's export as a front desk has it (issue 29, the costly half): a `Treatment` column
whose values are the system's service names, Excel's Windows-1252 `CSV`, `First Name` + `Last Name`,
boosters, and the numbers a spreadsheet cell can hold."""

from __future__ import annotations

import json
from pathlib import Path

import icalendar
import pytest

from tests.harness import run

ON = "2026-12-01"
HEADER = "Patient ID,First Name,Last Name,Treatment,Start Date,DOB,Phone"
PEOPLE = [("Zoë", "Smith"), ("Siobhán", "Ní Bhriain"), ("Ana", "López"), ("Jo", "Bloggs")]
SERVICES = ["Microneedling – acne scars", "MICRONEEDLING - Fine Lines", "fine-lines", "Microneedling for skin texture"]


def export_csv(path: Path, encoding: str = "cp1252", rows: int = 4) -> Path:
    lines = [HEADER]
    for i in range(rows):
        first, last = PEOPLE[i % 4]
        lines.append(f"P-{i},{first},{last},{SERVICES[i % 4]},2027-01-{4 + i % 20:02d},01/02/1980,0207 946 000{i % 10}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def batch(src: Path, out: Path, *args: str) -> tuple[int, list[dict[str, object]], str]:
    code, stdout, err = run("batch", str(src), "--out-dir", str(out), "--on", ON, "--json", "--jobs", "1", *args)
    return code, json.loads(stdout)["rows"] if stdout.strip() else [], err


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "utf-8-sig"])
def test_a_practice_export_with_treatment_and_names(tmp_path: Path, encoding: str) -> None:
    src = export_csv(tmp_path / "export.csv", encoding)
    code, rows, err = batch(src, tmp_path / "o", "--include-name")
    assert code == 0, err
    assert [r["status"] for r in rows] == ["planned"] * 4
    said = [line for line in err.splitlines() if "Windows-1252" in line]
    assert len(said) == (1 if encoding == "cp1252" else 0), err
    names = {}
    for f in sorted((tmp_path / "o").glob("*.ics")):
        cal = icalendar.Calendar.from_ical(f.read_bytes())
        names[f.stem] = str(cal["X-WR-CALNAME"]).split(" — ", 1)[1]
    assert names == {"P-0": "Zoë Smith", "P-1": "Siobhán Ní Bhriain", "P-2": "Ana López", "P-3": "Jo Bloggs"}
    plans = {}
    for n in range(4):
        code, out, _ = run("plan", "--patient", f"P-{n}", "--indication", ["acne-scars", "fine-lines", "fine-lines",
                           "texture"][n], "--start", f"2027-01-0{4 + n}", "--on", ON, "--format", "json")  # fmt: skip
        plans[n] = json.loads(out)["sessions"][0]["date"]
    assert [r["first_session"] for r in rows] == [plans[n] for n in range(4)]  # each service read as its protocol


def test_bytes_in_a_column_needle_does_not_use_never_fail_a_row(tmp_path: Path) -> None:
    """0x81 is not Windows-1252 either: in the DOB column it costs nothing; in a name it is that row's error."""
    src = tmp_path / "l.csv"
    src.write_bytes(b"patient_id,indication,start,DOB,name\r\nP-1,fine-lines,2027-01-04,\x81\x81,Jo\r\n"
                    b"P-2,fine-lines,2027-01-04,1980,J\x81o\r\n")  # fmt: skip
    code, rows, _err = batch(src, tmp_path / "o", "--include-name")
    assert code == 1
    assert rows[0]["status"] == "planned"
    assert rows[1]["status"] == "error" and "name: not UTF-8 or Windows-1252 text" in str(rows[1]["error"])


def test_a_missing_column_names_the_likely_one(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text("Patient ID,Treatment Plan Item,Start Date\nP-1,fine-lines,2027-01-04\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", ON)
    assert code == 2
    assert "missing column(s): indication (is 'Treatment Plan Item' meant to be indication? rename that header)" in err


def test_an_unknown_service_name_is_that_rows_error(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text("patient_id,Service,start\nP-1,Microneedling - tattoo removal,2027-01-04\nP-2,Microneedling - "
                   "acne scars,2027-01-04\n")  # fmt: skip
    code, rows, _ = batch(src, tmp_path / "o")
    assert code == 1 and [r["status"] for r in rows] == ["error", "planned"]
    assert "unknown indication 'Microneedling - tattoo removal'" in str(rows[0]["error"])


def test_include_name_without_a_name_column_says_so(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start\nP-1,fine-lines,2027-01-04\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", ON, "--include-name")
    assert code == 0
    assert "--include-name: the list has no name column (name, or First Name and Last Name): no names are shown" in err


def test_boosters_from_a_column_or_the_flag(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start,Boosters\nP-1,fine-lines,2027-01-04,2\nP-2,fine-lines,2027-01-04,\n")
    for flag, expected in (((), {"P-1": 2, "P-2": 0}), (("--boosters", "1"), {"P-1": 2, "P-2": 1})):
        out = tmp_path / f"o{len(flag)}"
        code, _rows, err = batch(src, out, "--format", "json", *flag)
        assert code == 0, err
        got = {p: len(json.loads((out / f"{p}.json").read_text())["boosters"]) for p in ("P-1", "P-2")}
        assert got == expected, flag


def test_a_huge_number_in_a_cell_is_one_clear_row_error(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start,sessions\nP-1,fine-lines,2027-01-04," + "9" * 5000 + "\n")
    code, rows, _ = batch(src, tmp_path / "o")
    assert code == 1
    assert "sessions: 999999999999... (5000 digits) is not a sensible number" in str(rows[0]["error"])
    assert "internal error" not in str(rows[0]["error"])
