"""`needle batch`: mixed rows, hostile ids, spreadsheet CSVs, screening, modes, piping, kills."""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import icalendar
import pytest

from tests.harness import Result, run, run_process, start_process, wait_for_files
from tests.plan_helpers import DATE_QUESTIONS, SPEC_QUESTION_IDS

ON = "2026-12-01"
SCREEN_IDS = SPEC_QUESTION_IDS
NO = {q: "no" for q in SCREEN_IDS} | dict.fromkeys(DATE_QUESTIONS, "") | {"fitzpatrick": "2", "age": "35"}


def batch(*args: str, input: str | bytes | None = None) -> Result:
    """`needle batch ARGS --on ON`, in process."""
    return run("batch", *args, "--on", ON, input=input)


def summary(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_mixed_rows(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "list.csv",
        "patient_id,indication,start,sessions,interval_weeks\n"
        "P1,fine-lines,2026-12-01,,\n"
        "P2,deep-scars,2026-12-05,4,8\n"
        "\n"
        "P3,laser,2026-12-01,,\n"
        "P4,acne-scars,2026-02-30,,\n"
        "P5,texture,2026-12-02,9,\n"
        "P6,texture\n"
        "P8,texture,2026-12-02\n"
        "P7,texture,2026-12-02,3,4,extra\n"
        "P9,texture,2026-12-02,3,4,,\n",
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json", "--jobs", "1")
    assert code == 1
    assert err.splitlines()[:5] == [
        "row 5: unknown indication 'laser' (use one of acne-scars, deep-scars, fine-lines, texture)",
        "row 6: start: '2026-02-30' is not a real calendar date",
        "row 7: sessions 9 is outside texture's range 3-6",
        "row 8: missing column 'start' (2 of 5 cells)",
        "row 10: unknown column: 6 cells but the header has 5",
    ]
    rows = summary(out)
    assert [(r["row"], r["patient_id"], r["status"]) for r in rows] == [
        ("2", "P1", "planned"),
        ("3", "P2", "planned"),
        ("5", "P3", "error"),
        ("6", "P4", "error"),
        ("7", "P5", "error"),
        ("8", "P6", "error"),
        ("9", "P8", "planned"),  # optional trailing cells left out: empty
        ("10", "P7", "error"),
        ("11", "P9", "planned"),  # trailing empty cells, as Excel writes them
    ]
    assert (rows[0]["first_session"], rows[0]["last_session"]) == ("2026-12-01", "2027-01-26")
    assert (rows[1]["first_session"], rows[1]["last_session"]) == ("2026-12-07", "2027-05-24")  # Sat -> Mon, 8 weeks
    doc = json.loads((out / "P2.json").read_text())
    assert [s["date"] for s in doc["sessions"]] == ["2026-12-07", "2027-02-01", "2027-03-29", "2027-05-24"]
    assert sorted(os.listdir(out)) == ["P1.json", "P2.json", "P8.json", "P9.json", "summary.csv"]


HOSTILE = ["../../x", "/etc/passwd", ".bashrc", "a b", "a_b", "a:b", "a?b", "ok-1", "ü-ñ", "CON"]


def test_hostile_ids_stay_inside_the_folder(tmp_path: Path) -> None:
    lines = ["patient_id,indication,start"] + [f'"{pid}",fine-lines,2026-12-01' for pid in HOSTILE]
    lines += [",fine-lines,2026-12-01", f"{'x' * 300},fine-lines,2026-12-01"]
    src = write_csv(tmp_path / "list.csv", "\n".join(lines) + "\n")
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "ics")
    assert code == 1
    rows = summary(out)
    planned = [r for r in rows if r["status"] == "planned"]
    assert [r["patient_id"] for r in planned] == HOSTILE
    files = [r["file"] for r in planned]
    assert len(set(files)) == len(files)  # "a b" and "a_b", "a:b" and "a?b" never share a file
    for name in files:
        assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".")
        assert (out / name).is_file()
    assert files[HOSTILE.index("a_b")] == "a_b.ics" and files[HOSTILE.index("ok-1")] == "ok-1.ics"
    assert sorted(os.listdir(out)) == sorted([*files, "summary.csv"])  # nothing written elsewhere
    assert not (tmp_path / "x.ics").exists()
    assert "row 12: patient_id is empty" in err
    assert "row 13: patient_id: a patient id must be 1-100 printable characters" in err
    # Every calendar is a whole, valid file with distinct UIDs across patients.
    uids = [str(e["UID"]) for f in files for e in icalendar.Calendar.from_ical((out / f).read_bytes()).walk("VEVENT")]
    assert (
        len(uids) == len(set(uids)) == 30 * len(files)
    )  # 3 sessions, each with 6 pauses (4 from procedure waits) and 3 aftercare windows


def test_duplicate_ids_do_not_overwrite(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "l.csv", "patient_id,indication,start\nP1,fine-lines,2026-12-01\nP1,texture,2027-01-04\n"
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1
    assert "row 3: patient_id 'P1' is already on row 2 (one row per patient)" in err
    assert json.loads((out / "P1.json").read_text())["indication"] == "fine-lines"


def test_excel_csv_bom_semicolon_crlf(tmp_path: Path) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes("\ufeffpatient_id ; indication ; start\r\n P1 ; fine-lines ; 2026-12-01 \r\n\r\n".encode())
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 0, err
    assert summary(out)[0]["first_session"] == "2026-12-01"


def test_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = batch(
        "-", "--out-dir", str(out), "--format", "md", input="patient_id,indication,start\nP9,texture,2026-12-03\n"
    )
    assert code == 0, err
    assert (out / "P9.md").read_text().startswith("# Aftercare after microneedling")  # the patient's document


def test_screening_columns(tmp_path: Path) -> None:
    header = ["patient_id", "indication", "start", *SCREEN_IDS]

    def row(pid: str, **changes: str) -> str:
        values = {**NO, **changes}
        return ",".join([pid, "acne-scars", "2026-12-01", *(values[q] for q in SCREEN_IDS)])

    src = write_csv(
        tmp_path / "s.csv",
        "\n".join(
            [
                ",".join(header),
                row("OK"),
                row("ISO", isotretinoin_last_dose="2026-08-31"),  # defer until Sun 2027-02-28
                row("KEL", keloid_history="yes"),
                row("PREG", pregnant="true"),
                row("BAD", fitzpatrick="7"),
            ]
        )
        + "\n",
    )
    out = tmp_path / "out"
    code, _, _ = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1  # only BAD failed
    rows = {r["patient_id"]: r for r in summary(out)}
    assert rows["OK"]["status"] == "planned" and rows["OK"]["verdict"] == "eligible"
    assert (rows["ISO"]["verdict"], rows["ISO"]["first_session"]) == ("defer", "2027-03-01")
    assert (rows["KEL"]["status"], rows["KEL"]["verdict"], rows["KEL"]["file"]) == ("refused", "contraindicated", "")
    assert rows["KEL"]["error"] == "no plan: contraindicated (keloid_history)"
    assert (rows["PREG"]["status"], rows["PREG"]["verdict"]) == ("refused", "defer")
    assert rows["BAD"]["error"] == "row 6: fitzpatrick: not a Fitzpatrick type; use 1-6 or I-VI"
    assert not (out / "KEL.json").exists() and not (out / "PREG.json").exists()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("patient_id,indication,strat", "missing column(s): start (is 'strat' meant to be start? rename that header)"),
        (
            "Patient ID,Indication,Start,Start Date",
            "column 'start' appears twice in the header ('Start' and 'Start Date')",
        ),
        ("patient_id,indication", "missing column(s): start"),
        (
            "patient_id,indication,start,pregnant",
            "screening columns must be all or none; missing: age, breastfeeding, active_acne",
        ),
        ("", "the CSV is empty"),
    ],
)
def test_unusable_header_is_exit_2(tmp_path: Path, header: str, message: str) -> None:
    src = write_csv(tmp_path / "h.csv", header + "\n" if header else "")
    code, _, err = batch(str(src), "--out-dir", str(tmp_path / "out"))
    assert code == 2 and message in err and err.count("\n") == 1


def test_file_modes_and_summary_json(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "l.csv", "patient_id,indication,start\nP1,fine-lines,2026-12-01\n")
    out = tmp_path / "out"
    code, stdout, _ = batch(str(src), "--out-dir", str(out), "--format", "ics", "--json")
    assert code == 0
    doc = json.loads(stdout)
    assert doc["counts"] == {"planned": 1, "refused": 0, "error": 0}
    assert doc["rows"][0]["file"] == "P1.ics"
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    # The folder batch made is private too (its file names are patient ids); a folder that exists keeps its mode.
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    assert batch(str(src), "--out-dir", str(shared / "new" / "out"), "--format", "ics")[0] == 0
    assert stat.S_IMODE((shared / "new" / "out").stat().st_mode) == 0o700
    assert batch(str(src), "--out-dir", str(shared), "--format", "ics")[0] == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o750


def big_csv(path: Path, n: int) -> Path:
    with path.open("w") as fh:
        fh.write("patient_id,indication,start\n")
        for i in range(n):
            fh.write(
                f"P{i:05d},{('fine-lines', 'acne-scars', 'texture', 'deep-scars')[i % 4]},2026-12-{1 + i % 28:02d}\n"
            )
    return path


def test_two_jobs_keep_input_order_and_pipes_get_no_ansi(tmp_path: Path) -> None:
    src = big_csv(tmp_path / "l.csv", 300)
    out = tmp_path / "out"
    r = run_process("batch", str(src), "--out-dir", str(out), "--jobs", "2", "--on", ON, timeout=120)
    assert r.returncode == 0, r.stderr
    assert b"\x1b[" not in r.stdout + r.stderr
    assert r.stderr.decode().strip() == f"300 planned, 0 refused by screening, 0 failed; summary: {out / 'summary.csv'}"
    rows = summary(out)
    assert [int(r["row"]) for r in rows] == list(range(2, 302))
    assert len(os.listdir(out)) == 301


def test_a_killed_run_leaves_only_whole_files_and_a_rerun_completes(tmp_path: Path) -> None:
    src = big_csv(tmp_path / "l.csv", 4000)
    out = tmp_path / "out"
    proc = start_process(
        "batch",
        str(src),
        "--out-dir",
        str(out),
        "--jobs",
        "2",
        "--on",
        ON,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_files(out, 50)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, mid-run
    proc.wait(timeout=30)
    finals = [f for f in os.listdir(out) if not f.startswith(".")]
    assert finals and "summary.csv" not in finals  # killed before the end: no summary claims completion
    for name in finals:
        cal = icalendar.Calendar.from_ical((out / name).read_bytes())  # every final file is whole
        assert len(list(cal.walk("VEVENT"))) == 30
    r = run_process("batch", str(src), "--out-dir", str(out), "--jobs", "2", "--quiet", "--on", ON, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len([f for f in os.listdir(out) if f.endswith(".ics")]) == 4000
    assert len(summary(out)) == 4000
    assert [f for f in os.listdir(out) if f.startswith(".")] == []  # the rerun cleared the killed run's temp files


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    src = big_csv(tmp_path / "l.csv", 4000)
    out = tmp_path / "out"
    proc = start_process(
        "batch",
        str(src),
        "--out-dir",
        str(out),
        "--jobs",
        "2",
        "--on",
        ON,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    wait_for_files(out, 30)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal sends: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"batch interrupted" in err and b"Traceback" not in err
    finals = [f for f in os.listdir(out) if not f.startswith(".")]
    assert "summary.csv" not in finals
    assert [f for f in os.listdir(out) if f.startswith(".")] == []  # no temp file with patient data left
    for name in finals:
        assert len(list(icalendar.Calendar.from_ical((out / name).read_bytes()).walk("VEVENT"))) == 30


def test_a_pipe_given_by_path_is_read_once(tmp_path: Path) -> None:
    data = "patient_id,indication,start\n" + "".join(f"P{i},fine-lines,2026-12-01\n" for i in range(40))
    out = tmp_path / "out"
    r = run_process("batch", "/dev/stdin", "--out-dir", str(out), "--jobs", "1", "--on", ON, input=data.encode())
    assert r.returncode == 0, r.stderr
    assert len(summary(out)) == 40


def test_screened_rows_never_start_before_the_screening(tmp_path: Path) -> None:
    header = ["patient_id", "indication", "start", *SCREEN_IDS]
    cells = ["P1", "fine-lines", "2026-01-05", *(NO[q] for q in SCREEN_IDS)]
    src = write_csv(tmp_path / "s.csv", ",".join(header) + "\n" + ",".join(cells) + "\n")
    code, _, err = batch(str(src), "--out-dir", str(tmp_path / "out"), "--format", "json")  # --on 2026-12-01
    assert code == 0, err
    assert summary(tmp_path / "out")[0]["first_session"] == "2026-12-01"


def test_a_refusal_removes_the_earlier_plan(tmp_path: Path) -> None:
    header = ",".join(["patient_id", "indication", "start", *SCREEN_IDS])

    def listing(**changes: str) -> Path:
        values = {**NO, **changes}
        return write_csv(
            tmp_path / "s.csv",
            header + "\n" + ",".join(["P1", "fine-lines", "2026-12-01", *(values[q] for q in SCREEN_IDS)]) + "\n",
        )

    out = tmp_path / "out"
    assert batch(str(listing()), "--out-dir", str(out), "--format", "json")[0] == 0
    assert (out / "P1.json").exists()
    code, _, _ = batch(str(listing(keloid_history="yes")), "--out-dir", str(out), "--format", "json")
    assert code == 0
    assert not (out / "P1.json").exists()  # a contraindicated patient must not keep a plan in the folder
    row = summary(out)[0]
    assert (row["status"], row["error"]) == (
        "refused",
        "no plan: contraindicated (keloid_history) (removed P1.json from an earlier run)",
    )


def test_spreadsheet_quirks(tmp_path: Path) -> None:
    src = tmp_path / "q.csv"
    src.write_bytes(
        b"\r\n\r\nPatient ID;Indication;Start;;\r\n"  # blank lines first, Excel's empty trailing columns
        b"A1;fine-lines;2026-12-01;;\r\n"
        b"A2;fine-lines;2026-02-30;;\r\n"
        b"A3;fine-lines;2026-12-0\x81;;\r\n"  # a byte neither UTF-8 nor Windows-1252
        b'"A4";"texture";"2026-12-02"\r\n' + b"A5;texture;" + b"9" * 20000 + b"\r\n" + b"A6;deep-scars;2026-12-03\r\n"
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1
    assert err.splitlines()[:3] == [
        "row 5: start: '2026-02-30' is not a real calendar date",  # the header is row 3
        "row 6: start: not UTF-8 or Windows-1252 text (save the CSV as 'CSV UTF-8')",
        "row 8: a cell is longer than 10000 characters",
    ]
    assert [r["status"] for r in summary(out)] == ["planned", "error", "error", "planned", "error", "planned"]


def test_utf16_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    src = tmp_path / "u.csv"
    src.write_bytes("patient_id,indication,start\nP1,fine-lines,2026-12-01\n".encode("utf-16"))
    code, _, err = batch(str(src), "--out-dir", str(tmp_path / "out"))
    assert code == 2 and "neither UTF-8 nor Windows-1252 text" in err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_names_are_checked_when_shown(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "n.csv",
        'indication,start,patient_id,name\nfine-lines,2026-12-01,P1,"Jane\nDoe"\nfine-lines,2026-12-01\n',
    )
    code, _, err = batch(str(src), "--out-dir", str(tmp_path / "out"), "--include-name")
    assert code == 1
    assert err.splitlines()[:2] == [
        "row 2: name: must be one line of printable text",
        "row 3: missing column 'patient_id' (2 of 4 cells)",  # a quoted cell may span lines: still one row
    ]


def test_a_planted_summary_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").symlink_to(victim)
    (out / "P1.ics").symlink_to(victim)
    src = write_csv(tmp_path / "l.csv", "patient_id,indication,start\nP1,fine-lines,2026-12-01\n")
    assert batch(str(src), "--out-dir", str(out))[0] == 0
    assert victim.read_text() == "keep me"
    assert not (out / "summary.csv").is_symlink() and not (out / "P1.ics").is_symlink()


def test_a_practice_system_export(tmp_path: Path) -> None:
    """Headers as practice systems write them: aliases, any case, and columns needle does not use
    ignored with one note naming them (with a "did you mean" where one is close)."""
    src = write_csv(
        tmp_path / "export.csv",
        "Patient ID;First Name;Last Name;Indication;Start Date;DOB;Sesions\r\n"
        "P7;Ann;Lee;fine-lines;2027-01-04;1980-02-03;4\r\n"
        "P8;Bo;Kim;texture;;1975-05-06;3\r\n",
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1, err
    lines = err.splitlines()
    assert lines[0] == (
        "needle: note: ignoring 2 columns needle does not use: 'DOB', 'Sesions' (did you mean 'sessions'?)"
    )
    assert "row 3: start is empty" in lines
    rows = {r["patient_id"]: r for r in summary(out)}
    assert rows["P7"]["status"] == "planned" and rows["P7"]["first_session"] == "2027-01-04"
    plan = json.loads((out / "P7.json").read_text())
    assert "Ann" not in json.dumps(plan) and "1980" not in json.dumps(plan)  # ignored means never read
    # Changing an ignored column (a phone number, say) does not plan the patient again.
    src.write_text(src.read_text().replace("1980-02-03", "1980-02-04"))
    code, stdout, _ = batch(str(src), "--out-dir", str(out), "--format", "json", "--json")
    assert json.loads(stdout)["reused"] == 1


def test_summary_json_has_nulls_for_what_is_missing(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "l.csv", "patient_id,indication,start\nP1,texture,2026-12-02\nP2,nope,2026-12-02\n")
    code, stdout, _ = batch(str(src), "--out-dir", str(tmp_path / "out"), "--format", "json", "--json")
    assert code == 1
    ok, bad = json.loads(stdout)["rows"]
    assert ok["verdict"] is None and ok["error"] is None and ok["row"] == 2 and ok["file"] == "P1.json"
    assert bad["first_session"] is None and bad["file"] is None and bad["error"].startswith("row 3: ")


def test_dates_in_the_clinic_order_and_indications_in_any_case(tmp_path: Path) -> None:
    """The CSV reads dates in the config's date_order (as the interview and the flags do), and
    indications and --format in any case or spacing."""
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\ndate_order = "DMY"\n')
    src = write_csv(
        tmp_path / "l.csv",
        "Patient ID;Indication;Start Date\nP1;Acne Scars;01/12/2026\nP2;FINE_LINES;3 Dec 2026\n"
        "P3;texture;12/31/2026\nP4;acne scar;2026-12-01\n",
    )
    out = tmp_path / "out"
    code, _, err = run("batch", str(src), "--out-dir", str(out), "--format", "JSON", "--on", "01/12/2026",
                       env={"NEEDLE_CONFIG": str(config)})  # fmt: skip
    assert code == 1, err
    rows = {r["patient_id"]: r for r in summary(out)}
    assert rows["P1"]["first_session"] == "2026-12-01"  # 1 December under DMY
    assert rows["P2"]["first_session"] == "2026-12-03"
    assert rows["P3"]["error"] == "row 4: start: '12/31/2026' is not a real calendar date"
    assert rows["P4"]["error"].endswith("did you mean 'acne-scars'?")
    assert json.loads((out / "P1.json").read_text())["indication"] == "acne-scars"


def test_a_row_that_would_start_before_on_is_an_error_unless_allow_past(tmp_path: Path) -> None:
    """As `plan` refuses a first session before --on, batch refuses that row (the others still run);
    --allow-past records a series already under way. A rerun without it does not keep the past plan."""
    src = write_csv(
        tmp_path / "l.csv", "patient_id,indication,start\nP1,fine-lines,2026-11-02\nP2,texture,2026-12-07\n"
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1
    assert err.splitlines()[0] == (
        "row 2: start: the first session would be on 2026-11-02, before 2026-12-01 (--on/today); "
        "give a later start, or --allow-past to record a past series"
    )
    assert [(r["patient_id"], r["status"]) for r in summary(out)] == [("P1", "error"), ("P2", "planned")]
    assert sorted(os.listdir(out)) == ["P2.json", "summary.csv"]
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json", "--allow-past")
    assert code == 0, err
    assert summary(out)[0]["first_session"] == "2026-11-02"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1
    assert summary(out)[0]["error"].endswith("record a past series (removed P1.json from an earlier run)")
    assert sorted(os.listdir(out)) == ["P2.json", "summary.csv"]


def test_the_summary_carries_each_plans_notes(tmp_path: Path) -> None:
    """summary.csv ends with a `notes` column (the plan's notes, `; `-separated) and --json has them as a
    list: a pause already under way reaches the clinic. A row that shares another's series, and a row
    kept from an earlier run, carry the same notes as one planned afresh."""
    src = write_csv(
        tmp_path / "l.csv",
        "patient_id,indication,start,time\n"
        "P1,fine-lines,2026-12-01,10:00\n"
        "P2,fine-lines,2026-12-01,10:00\n"
        "P3,texture,2027-01-04,\n"
        "P4,nope,2027-01-04,\n",
    )
    out = tmp_path / "out"
    code, stdout, _ = batch(str(src), "--out-dir", str(out), "--format", "ics", "--json", "--jobs", "1")
    assert code == 1
    first = (out / "summary.csv").read_text().splitlines()[0]
    assert first == "row,patient_id,status,verdict,first_session,last_session,file,error,notes"
    rows = {r["patient_id"]: r for r in summary(out)}
    notes = rows["P1"]["notes"].split("; ")
    assert notes[0].startswith("Session 1's sun and waxing pause (14 days) started on 2026-11-17, before 2026-12-01")
    assert notes[1].startswith("Session 1's skincare pause (5 days) started on 2026-11-26, before 2026-12-01")
    assert notes[2].startswith("Session 1's facial treatments pauses started before 2026-12-01")
    assert notes[3].startswith("Not screened")
    assert notes[4] == "session times are in UTC (no --tz and no time_zone in the clinic config)"
    assert len(notes) == 5
    assert rows["P2"]["notes"] == rows["P1"]["notes"]  # the same series, planned once
    assert rows["P3"]["notes"].endswith(
        "Not screened: no screening record was given. Screen the patient before session 1."
    )
    assert rows["P4"]["notes"] == ""
    listed = {r["patient_id"]: r["notes"] for r in json.loads(stdout)["rows"]}
    assert listed == {"P1": notes, "P2": notes, "P3": rows["P3"]["notes"].split("; "), "P4": []}
    before = (out / "summary.csv").read_bytes()
    code, stdout, _ = batch(str(src), "--out-dir", str(out), "--format", "ics", "--json", "--jobs", "1")
    assert code == 1 and json.loads(stdout)["reused"] == 3
    assert (out / "summary.csv").read_bytes() == before
    assert {r["patient_id"]: r["notes"] for r in json.loads(stdout)["rows"]} == listed


def test_a_note_is_never_a_spreadsheet_formula(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clinic's own protocol text that starts like a formula is written as text into summary.csv
    (a leading ' ), and as it is into --json."""
    from needlecli import catalog

    folder = tmp_path / "protocols"
    folder.mkdir()
    data, _ = catalog.read_source("fine-lines")
    text = data.decode()
    old = 'note = "Herpes history: antiviral'
    assert old in text
    (folder / "fine-lines.toml").write_text(text.replace(old, 'note = "=HYPERLINK(1) Herpes history: antiviral'))
    config = tmp_path / "config.toml"
    config.write_text(f'[clinic]\nprotocols_dir = "{folder}"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    header = ["patient_id", "indication", "start", *SCREEN_IDS]
    values = {**NO, "herpes_history": "yes"}
    cells = ["P1", "fine-lines", "2027-01-04", *(values[q] for q in SCREEN_IDS)]
    src = write_csv(tmp_path / "s.csv", ",".join(header) + "\n" + ",".join(cells) + "\n")
    out = tmp_path / "out"
    code, stdout, err = batch(str(src), "--out-dir", str(out), "--format", "json", "--json")
    assert code == 0, err
    assert summary(out)[0]["notes"].startswith("'=HYPERLINK(1) Herpes history")
    assert json.loads(stdout)["rows"][0]["notes"][0].startswith("=HYPERLINK(1) Herpes history")


def test_the_holidays_note_is_said_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config with `holidays = "GB"` gets one note for the whole run, not one a row (nor in the rows' notes)."""
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nholidays = "GB"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    src = write_csv(
        tmp_path / "l.csv",
        "patient_id,indication,start\nP1,fine-lines,2027-08-30\nP2,texture,2027-08-30\nP3,acne-scars,2027-09-06\n",
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json", "--jobs", "1")
    assert code == 0, err
    assert err.splitlines()[0] == (
        'needle: note: config clinic.holidays "GB" closes only the holidays common to all of GB; '
        "for a region's own holidays give its code: GB-ENG, GB-NIR, GB-SCT, GB-WLS"
    )
    assert err.count("GB-ENG") == 1
    rows = summary(out)[:2]
    assert [r["first_session"] for r in rows] == ["2027-08-30", "2027-08-30"]
    assert all("GB-ENG" not in r["notes"] and "holidays" not in r["notes"] for r in rows)
