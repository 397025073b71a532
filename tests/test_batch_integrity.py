"""`needle batch` and the folder it writes: what an earlier run left, two runs at once, kills and reruns,
CSVs that break mid-file. The folder must always agree with the list and with summary.csv."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import run, run_process, start_process, wait_for_files

ON = "2026-12-01"
INDICATIONS = ("fine-lines", "acne-scars", "texture", "deep-scars")


def batch(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    return run("batch", *args, "--on", ON, input=input)


def summary(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def listing(n: int, first: int = 0) -> str:
    lines = ["patient_id,indication,start"]
    lines += [f"P{i:05d},{INDICATIONS[i % 4]},2026-12-{1 + i % 28:02d}" for i in range(first, first + n)]
    return "\n".join(lines) + "\n"


def folder(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry of a folder: name -> (mode, bytes)."""
    return {p.name: (stat.S_IMODE(p.lstat().st_mode), p.read_bytes()) for p in sorted(out.iterdir())}


def clean_run(tmp_path: Path, src: Path, *args: str) -> Path:
    clean = tmp_path / "clean"
    r = run_process("batch", str(src), "--out-dir", str(clean), "--on", ON, "--quiet", *args, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return clean


# ----------------------------------------------------------------- 1. a row that now fails keeps no old plan


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (
            b"P2,fine-lines,2026-12-01,Jos\x81",
            "row 3: name: not UTF-8 or Windows-1252 text (save the CSV as 'CSV UTF-8')",
        ),
        (b"P2,fine-lines,2026-12-01," + b"x" * 10_001, "row 3: a cell is longer than 10000 characters"),
        (b'P2,fine-lines,2026-12-01,"Jo', "row 3: a quoted cell is not closed"),
    ],
    ids=["cp1252", "huge-cell", "open-quote"],
)
def test_a_row_that_can_no_longer_be_read_loses_its_old_plan(tmp_path: Path, bad_row: bytes, message: str) -> None:
    src = tmp_path / "l.csv"
    out = tmp_path / "out"
    good = b"patient_id,indication,start,name\nP1,texture,2026-12-02,Ann\n"
    src.write_bytes(good + b"P2,fine-lines,2026-12-01,Jose\nP3,texture,2026-12-03,Bo\n")
    assert batch(str(src), "--out-dir", str(out), "--format", "json")[0] == 0
    assert (out / "P2.json").exists()
    src.write_bytes(good + bad_row + b"\nP3,texture,2026-12-03,Bo\n")
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1
    assert not (out / "P2.json").exists()  # the list no longer supports that plan
    assert sorted(os.listdir(out)) == ["P1.json", "P3.json", "summary.csv"]
    rows = summary(out)
    assert [(r["row"], r["patient_id"], r["status"]) for r in rows] == [
        ("2", "P1", "planned"),
        ("3", "P2", "error"),
        ("4", "P3", "planned"),
    ]
    assert rows[1]["error"].startswith(message) and rows[1]["error"].endswith("(removed P2.json from an earlier run)")
    assert err.splitlines()[0] == rows[1]["error"]


def test_a_row_whose_id_cannot_be_read_touches_no_file(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    out = tmp_path / "out"
    src.write_bytes(b"patient_id,indication,start\nP1,texture,2026-12-02\nP\x812,texture,2026-12-02\n")
    code, _, _ = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1
    assert [(r["patient_id"], r["status"]) for r in summary(out)] == [("P1", "planned"), ("", "error")]
    assert sorted(os.listdir(out)) == ["P1.json", "summary.csv"]


# ----------------------------------------------------------------- 9. duplicate and blank ids: true messages


def test_blank_ids_are_row_errors_not_duplicates(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text(
        'patient_id,indication,start\n"",texture,2026-12-02\n" ",texture,2026-12-02\nP1,texture,2026-12-02\n'
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1
    assert err.splitlines()[:2] == ["row 2: patient_id is empty", "row 3: patient_id is empty"]
    assert "same file" not in err


def test_a_duplicate_names_the_row_that_has_the_id_and_only_says_written_when_it_was(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text(
        "patient_id,indication,start\n"
        "P1,laser,2026-12-02\n"  # fails: writes nothing
        "P1,texture,2026-12-02\n"
        "P2,texture,2026-12-02\n"  # writes P2.json
        "P2,texture,2026-12-03\n"
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json", "--jobs", "1")
    assert code == 1
    lines = err.splitlines()
    assert lines[1] == "row 3: patient_id 'P1' is already on row 2 (one row per patient)"
    assert lines[2] == "row 5: patient_id 'P2' is already on row 4 (one row per patient)"
    assert sorted(os.listdir(out)) == ["P2.json", "summary.csv"]


# ----------------------------------------------------------------- 4. and 8. CSVs that break mid-file


def test_one_stray_quote_costs_one_row_and_later_row_numbers_stay_right(tmp_path: Path) -> None:
    lines = listing(300).splitlines()
    lines[50] = lines[50].replace(",", ',"', 1)  # row 51: `P00049,"fine-lines,...` never closes
    src = tmp_path / "l.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json", "--jobs", "1")
    assert code == 1
    assert err.splitlines()[:-1] == ["row 51: a quoted cell is not closed within 20 lines (a stray quote?)"]
    rows = summary(out)
    assert [int(r["row"]) for r in rows] == list(range(2, 302))
    assert [r["row"] for r in rows if r["status"] != "planned"] == ["51"]
    assert rows[50]["patient_id"] == "P00050" and rows[50]["file"] == "P00050.json"
    assert rows[49]["patient_id"] == "P00049"  # the id cell came before the stray quote


def test_a_quoted_cell_over_10000_characters_within_20_lines(tmp_path: Path) -> None:
    big = "\n".join(["y" * 900] * 15)  # 15 lines, 13,514 characters, properly closed
    src = tmp_path / "l.csv"
    src.write_text(
        "patient_id,indication,start,name\n"
        "P1,texture,2026-12-02,a\n"
        f'P2,texture,2026-12-02,"{big}"\n'
        "P3,texture,2026-12-02,c\n"
    )
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json", "--jobs", "1")
    assert code == 1
    assert err.splitlines()[0] == "row 3: a quoted cell is longer than 10000 characters"
    # The cell's own lines are read again as rows: each is a row of its own (one bad cell, one row each).
    rows = summary(out)
    assert rows[0]["status"] == "planned" and rows[-1]["patient_id"] == "P3" and rows[-1]["status"] == "planned"
    assert rows[-1]["row"] == str(3 + 15)


def test_a_quoted_cell_over_20_lines(tmp_path: Path) -> None:
    text = "\n".join(["x"] * 25)
    src = tmp_path / "l.csv"
    src.write_text(f'patient_id,indication,start,name\nP1,texture,2026-12-02,"{text}"\nP2,texture,2026-12-02,b\n')
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json", "--jobs", "1")
    assert code == 1
    assert err.splitlines()[0] == "row 2: a quoted cell is not closed within 20 lines (a stray quote?)"
    rows = summary(out)
    assert (rows[-1]["row"], rows[-1]["patient_id"], rows[-1]["status"]) == ("27", "P2", "planned")


def test_a_legal_multi_line_cell_is_still_one_row(tmp_path: Path) -> None:
    text = "\n".join(["line"] * 20)  # 20 lines: allowed
    src = tmp_path / "l.csv"
    src.write_text(f'patient_id,indication,start,name\nP1,texture,2026-12-02,"{text}"\nP2,texture,2026-12-02,b\n')
    code, _, err = batch(str(src), "--out-dir", str(tmp_path / "out"), "--format", "json")
    assert code == 0, err
    assert [r["row"] for r in summary(tmp_path / "out")] == ["2", "3"]


def test_a_huge_header_is_one_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    with src.open("w") as fh:
        fh.write("patient_id,indication,start," + "x" * 2_000_000 + "\nP1,texture,2026-12-02\n")
    code, _, err = batch(str(src), "--out-dir", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1
    assert "the header line is longer than" in err


def test_a_huge_line_is_one_row(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    with src.open("w") as fh:
        fh.write("patient_id,indication,start\nP1,texture,2026-12-02\n")
        fh.write("P2,texture," + ",".join(["z" * 9_000] * 100) + "\n")  # 900 KB on one line
        fh.write("P3,texture,2026-12-02\n")
    out = tmp_path / "out"
    code, _, err = batch(str(src), "--out-dir", str(out), "--format", "json")
    assert code == 1
    assert err.splitlines()[:-1] == ["row 3: the line is longer than 100000 characters"]
    assert [(r["row"], r["patient_id"], r["status"]) for r in summary(out)] == [
        ("2", "P1", "planned"),
        ("3", "P2", "error"),
        ("4", "P3", "planned"),
    ]


# ----------------------------------------------------------------- 3. and 5. the summary


def test_an_interrupted_rerun_leaves_no_summary_from_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from needlecli.batch import engine, reconcile
    from needlecli.batch.context import Context
    from needlecli.batch.names import Task
    from needlecli.batch.results import RowResult

    src = tmp_path / "l.csv"
    src.write_text(listing(30))
    out = tmp_path / "out"
    assert batch(str(src), "--out-dir", str(out), "--format", "json", "--jobs", "1")[0] == 0
    assert (out / "summary.csv").exists()
    src.write_text(listing(30).replace("P00003,deep-scars,2026-12-04", "P00003,laser,2026-12-04"))
    real = reconcile.handle
    seen = []

    def stop_at_row_10(ctx: Context, task: Task) -> RowResult:
        seen.append(task[0])
        if task[0] == 10:
            raise KeyboardInterrupt
        return real(ctx, task)

    monkeypatch.setattr(engine, "handle", stop_at_row_10)
    code, _, err = run("batch", str(src), "--out-dir", str(out), "--format", "json", "--jobs", "1", "--on", ON)
    assert code == 130 and "batch interrupted" in err
    assert not (out / "P00003.json").exists()  # removed: the list now fails it
    assert not (out / "summary.csv").exists()  # the old summary would still list it
    assert [f for f in os.listdir(out) if f.startswith(".")] == []


def test_the_summary_is_synced_before_it_is_renamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(f"replace {os.path.basename(src)} {os.path.basename(dst)}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    src = tmp_path / "l.csv"
    src.write_text(listing(2))
    assert batch(str(src), "--out-dir", str(tmp_path / "out"), "--format", "json", "--jobs", "1")[0] == 0
    renamed = next(e for e in events if e.endswith(" summary.csv"))
    temp = renamed.split()[1]
    assert f"fsync {temp}" in events[: events.index(renamed)]


# ----------------------------------------------------------------- 6. reruns skip finished work


def test_a_rerun_skips_current_files_and_is_byte_identical(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text(listing(40))
    out = tmp_path / "out"
    code, stdout, _ = batch(str(src), "--out-dir", str(out), "--format", "json", "--json", "--jobs", "1")
    assert code == 0 and json.loads(stdout)["reused"] == 0
    before = folder(out)
    code, stdout, _ = batch(str(src), "--out-dir", str(out), "--format", "json", "--json", "--jobs", "1")
    doc = json.loads(stdout)
    assert code == 0 and doc["reused"] == 40 and doc["counts"]["planned"] == 40
    assert folder(out) == before
    # A file changed by hand, a changed row and a changed date are planned again; the rest is reused.
    (out / "P00001.json").write_text('{"record": "needle-plan", "patient": "P00001"}')  # still needle's
    src.write_text(listing(40).replace("P00002,texture,2026-12-03", "P00002,texture,2026-12-04"))
    code, stdout, _ = batch(str(src), "--out-dir", str(out), "--format", "json", "--json", "--jobs", "1")
    assert code == 0 and json.loads(stdout)["reused"] == 38
    assert json.loads((out / "P00001.json").read_text())["patient"] == "P00001"
    r = run("batch", str(src), "--out-dir", str(out), "--format", "json", "--json", "--on", "2026-12-02")
    assert json.loads(r.stdout)["reused"] == 0


def test_a_rerun_still_removes_what_the_list_no_longer_supports(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text(listing(10))
    out = tmp_path / "out"
    assert batch(str(src), "--out-dir", str(out), "--format", "json")[0] == 0
    src.write_text(listing(10).replace("P00004,fine-lines,2026-12-05", "P00004,laser,2026-12-05"))
    code, stdout, _ = batch(str(src), "--out-dir", str(out), "--format", "json", "--json")
    assert code == 1 and json.loads(stdout)["reused"] == 9
    assert not (out / "P00004.json").exists()


# ----------------------------------------------------------------- 2. two runs into one folder


def test_two_runs_into_one_folder_never_lose_work(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text(listing(50, first=5000))
    out = tmp_path / "out"
    # The first run reads its list from a pipe: it is certainly still running (and holding the
    # folder) while this test holds the rest of its list back.
    first = start_process(
        "batch",
        "-",
        "--out-dir",
        str(out),
        "--format",
        "json",
        "--jobs",
        "2",
        "--quiet",
        "--on",
        ON,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert first.stdin is not None
    text = listing(300)
    first.stdin.write(text[: text.index("P00100")].encode())
    first.stdin.flush()
    wait_for_files(out, 20, ".json")
    second = run_process("batch", str(small), "--out-dir", str(out), "--format", "json", "--on", ON, text=True)
    assert second.returncode == 2
    assert second.stderr == f"needle: error: another needle batch is writing into {out}; wait for it to end\n"
    first.stdin.write(text[text.index("P00100") :].encode())
    first.stdin.close()
    first.wait(timeout=300)
    err = first.stderr.read() if first.stderr else b""
    assert first.returncode == 0, err
    assert len(summary(out)) == 300 and all(r["status"] == "planned" for r in summary(out))
    assert [f for f in os.listdir(out) if f.startswith(".")] == []
    assert len(os.listdir(out)) == 301
    # Once the first has ended, the second runs; neither run's files are lost.
    again = run_process("batch", str(small), "--out-dir", str(out), "--format", "json", "--on", ON, "--quiet")
    assert again.returncode == 0, again.stderr
    assert len(os.listdir(out)) == 351 and len(summary(out)) == 50


def test_many_overlapping_runs_all_end_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    procs = []
    for k in range(4):
        src = tmp_path / f"l{k}.csv"
        src.write_text(listing(60, first=1000 * k))
        procs.append(
            start_process(
                "batch",
                str(src),
                "--out-dir",
                str(out),
                "--format",
                "json",
                "--quiet",
                "--on",
                ON,
                stderr=subprocess.PIPE,
            )
        )
    results = [(p.wait(timeout=300), p.stderr.read().decode() if p.stderr else "") for p in procs]
    for p in procs:
        if p.stderr:
            p.stderr.close()
    done = [k for k, (code, _) in enumerate(results) if code == 0]
    assert done, results
    for code, err in results:
        assert code == 0 or (code == 2 and "another needle batch is writing into" in err), err
    assert "Traceback" not in "".join(err for _, err in results)
    names = set(os.listdir(out))
    assert not [n for n in names if n.startswith(".")]
    for k in done:
        assert {f"P{1000 * k + i:05d}.json" for i in range(60)} <= names
    rows = summary(out)
    assert len(rows) == 60 and all((out / r["file"]).is_file() for r in rows)


# ----------------------------------------------------------------- 6. and 7. kills, then reruns


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_a_random_point_then_rerun_equals_a_clean_run(tmp_path: Path, seed: int) -> None:
    src = tmp_path / "l.csv"
    src.write_text(listing(300))
    clean = clean_run(tmp_path, src, "--format", "json", "--jobs", "2")
    out = tmp_path / "out"
    point = random.Random(seed).randrange(100, 280)
    proc = start_process(
        "batch",
        str(src),
        "--out-dir",
        str(out),
        "--format",
        "json",
        "--jobs",
        "2",
        "--on",
        ON,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_files(out, point, ".json")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    r = run_process("batch", str(src), "--out-dir", str(out), "--format", "json", "--jobs", "2", "--json", "--on", ON)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"planned": 300, "refused": 0, "error": 0}
    # What was written before the kill is not planned again, but for what was in flight: two chunks
    # of 32 rows with the workers, and up to 32 results not yet noted in the manifest.
    assert doc["reused"] >= point - 3 * 32
    assert folder(out) == folder(clean)


@pytest.mark.parametrize("fmt", ["ics", "toml"])
def test_a_rerun_keeps_the_current_files_the_record_does_not_know(tmp_path: Path, fmt: str) -> None:
    # A moved folder loses its record (it is kept by the folder's identity): every file in it is then
    # one the record does not know, like the files a stopped run wrote but had not recorded yet. Those
    # that are what the run writes anyway are kept as they are, not rebuilt with SEQUENCE 1 and a new
    # stamp: the folder ends as a clean run's.
    src = tmp_path / "l.csv"
    src.write_text(listing(40))
    clean = clean_run(tmp_path, src, "--format", fmt)
    first = run_process("batch", str(src), "--out-dir", str(tmp_path / "a"), "--format", fmt, "--on", ON, "--quiet")
    assert first.returncode == 0, first.stderr
    os.rename(tmp_path / "a", tmp_path / "b")
    r = run_process("batch", str(src), "--out-dir", str(tmp_path / "b"), "--format", fmt, "--on", ON, "--quiet")
    assert r.returncode == 0, r.stderr
    assert folder(tmp_path / "b") == folder(clean)
    # A file that is not what the run writes still counts: its ids are kept and its SEQUENCE raised.
    if fmt == "ics":
        os.rename(tmp_path / "b", tmp_path / "c")
        changed = (tmp_path / "c" / "P00003.ics").read_bytes().replace(b"SEQUENCE:0", b"SEQUENCE:4")
        (tmp_path / "c" / "P00003.ics").write_bytes(changed)
        r = run_process("batch", str(src), "--out-dir", str(tmp_path / "c"), "--format", fmt, "--on", ON, "--quiet")
        assert r.returncode == 0, r.stderr
        after = folder(tmp_path / "c")
        assert b"SEQUENCE:5" in after["P00003.ics"][1] and b"SEQUENCE:4" not in after["P00003.ics"][1]
        assert {k: v for k, v in after.items() if k != "P00003.ics"} == {
            k: v for k, v in folder(clean).items() if k != "P00003.ics"
        }


def test_a_stopped_rebuild_stamped_by_the_clock_is_kept_by_the_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without --on a rebuild is stamped with the clock, so the rerun of a stopped run would stamp the
    # same rebuild a little later. Simulated: a whole run that changed every row, then its record put
    # back as it was before (as if the run had been stopped before recording anything).
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(Path(os.environ["NEEDLE_DATA_DIR"]) / "uid_key", data / "uid_key")
    monkeypatch.setenv("NEEDLE_DATA_DIR", str(data))
    out = tmp_path / "out"

    def rows(month: int) -> Path:
        src = tmp_path / f"l{month}.csv"
        src.write_text(
            "patient_id,indication,start\n"
            + "".join(f"P{i},fine-lines,2030-{month:02d}-{1 + i:02d}\n" for i in range(20))
        )
        return src

    def batch(src: Path) -> None:
        r = run_process("batch", str(src), "--out-dir", str(out), "--format", "ics", "--quiet")
        assert r.returncode == 0, r.stderr

    batch(rows(1))
    shutil.copytree(data / "batch", tmp_path / "record-before")
    time.sleep(1.1)  # stamps are to the second: the rebuild gets a later one
    batch(rows(2))
    stopped = folder(out)
    assert b"SEQUENCE:1" in stopped["P3.ics"][1]
    shutil.rmtree(data / "batch")
    shutil.copytree(tmp_path / "record-before", data / "batch")
    time.sleep(1.1)
    batch(rows(2))
    assert folder(out) == stopped  # not rebuilt again: no SEQUENCE 2, no new stamp
    batch(rows(2))
    assert folder(out) == stopped  # and recorded: the next run reuses the files


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_calendar_run_then_rerun_equals_a_clean_run(tmp_path: Path, sig: signal.Signals) -> None:
    src = tmp_path / "l.csv"
    src.write_text(listing(1500))
    clean = clean_run(tmp_path, src, "--format", "ics", "--jobs", "2")
    out = tmp_path / "out"
    args = ("batch", str(src), "--out-dir", str(out), "--format", "ics", "--jobs", "2", "--on", ON)
    proc = start_process(*args, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_files(out, 300, ".ics")
    os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
    assert not (out / "summary.csv").exists()  # stopped before the end
    r = run_process(*args, "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"] == {"planned": 1500, "refused": 0, "error": 0}
    assert folder(out) == folder(clean)


def test_a_killed_parent_leaves_quiet_workers(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text(listing(1000))
    out = tmp_path / "out"
    proc = start_process(
        "batch",
        str(src),
        "--out-dir",
        str(out),
        "--format",
        "json",
        "--jobs",
        "2",
        "--on",
        ON,
        stderr=subprocess.PIPE,
    )
    wait_for_files(out, 30, ".json")
    os.kill(proc.pid, signal.SIGKILL)  # only the parent
    _, err = proc.communicate(timeout=60)  # EOF once every worker has ended too
    assert b"Traceback" not in err and b"Error" not in err, err.decode()[:2000]
    time.sleep(0.2)
    r = run_process("batch", str(src), "--out-dir", str(out), "--format", "json", "--jobs", "2", "--on", ON, "-q")
    assert r.returncode == 0, r.stderr
    assert len(summary(out)) == 1000 and [f for f in os.listdir(out) if f.startswith(".")] == []


def test_the_reuse_key_hides_patient_data(tmp_path: Path) -> None:
    """What a rerun keeps about a folder (outside it) holds hashes and dates, never an id or a name."""
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start,name\nSECRET-ID-7,texture,2026-12-02,Secret Name\n")
    out = tmp_path / "out"
    assert batch(str(src), "--out-dir", str(out), "--format", "json", "--include-name")[0] == 0
    data = Path(os.environ["NEEDLE_DATA_DIR"]) / "batch"
    blob = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert blob and b"Secret Name" not in blob and b"SECRET-ID-7" not in blob
    assert hashlib.sha256(b"SECRET-ID-7").hexdigest().encode() not in blob


# ----------------------------------------------------------------- the pipeline's parts


def test_the_name_table_is_a_mapping_kept_out_of_memory() -> None:
    from needlecli.batch.names import Claims
    from needlecli.records import temp_stem

    claims = Claims()
    long = "P" * 80 + ".ics"
    claims["P1.ics"] = (2, -(2**63))
    claims[long] = (3, 2**63 - 1)
    assert "P1.ics" in claims and "P2.ics" not in claims
    assert claims["P1.ics"] == (2, -(2**63)) and claims[long] == (3, 2**63 - 1)
    assert sorted(claims) == sorted(["P1.ics", long]) and len(claims) == 2
    stems = claims.stems()
    assert temp_stem(long) in stems and "P1.ics" in stems and "P2.ics" not in stems
    with pytest.raises(KeyError):
        claims["P2.ics"]
    claims.close()


def test_a_failed_write_in_a_chunk_costs_its_row_only(tmp_path: Path) -> None:
    """The writer thread's failure comes back as that row's error; the chunk's other files are whole."""
    from needlecli.batch.context import Context
    from needlecli.batch.names import Task
    from needlecli.batch.reconcile import handle_chunk
    from needlecli.config import Config

    out = tmp_path / "out"
    out.mkdir()
    (out / "P2.json").mkdir()  # a folder where P2's file should go: its write fails
    ctx = Context(
        on=dt.date(2026, 12, 1),
        fmt="json",
        out_dir=out,
        header=["patient_id", "indication", "start"],
        screening=None,
        config=Config(path=tmp_path / "none.toml", exists=False),
    )
    tasks = [Task(n, [f"P{n}", "texture", "2026-12-02"], f"P{n}.json", "") for n in (1, 2, 3)]
    results = handle_chunk(ctx, tasks)
    assert [r.status for r in results] == ["planned", "error", "planned"]
    assert results[1].error == f"row 2: cannot write {out / 'P2.json'}: it is a folder"
    for n in (1, 3):
        assert json.loads((out / f"P{n}.json").read_text())["sessions"]
        assert stat.S_IMODE(os.stat(out / f"P{n}.json").st_mode) == 0o600
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
