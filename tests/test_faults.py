"""Faults: unwritable folders, a full disk, a failed overwrite, SIGTERM; and privacy and
no-network guarantees, end to end."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from needlecli import records
from needlecli.errors import RecordError
from tests.harness import command, run, start_process, wait_for_files
from tests.plan_helpers import ALL_NO_FALSE

ON = "2026-12-01"


def hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def disk_full(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_failed_overwrite_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "plan.toml"
    target.write_text("the old plan\n")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(RecordError, match="No space left on device"):
        records.write_atomic(target, b"new contents")
    assert target.read_text() == "the old plan\n"
    assert hidden(tmp_path) == []  # the temp file was removed


def test_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(records.tempfile, "mkstemp", read_only)  # root ignores mode bits: simulate
    code, out, err = run(
        "plan", "--indication", "fine-lines", "--on", ON, "--format", "json", "--out", str(tmp_path / "p.json")
    )
    assert code == 2 and out == ""
    assert err == f"needle: error: cannot write {tmp_path / 'p.json'}: Permission denied\n"
    assert list(tmp_path.iterdir()) == []


def test_cli_disk_full_keeps_the_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "p.ics"
    target.write_bytes(b"BEGIN:VCALENDAR\r\nPRODID:-//needle//needle 0.1.0//EN\r\nold\r\nEND:VCALENDAR\r\n")
    monkeypatch.setattr(os, "fsync", disk_full)
    code, _, err = run(
        "plan", "--patient", "P1", "--indication", "fine-lines", "--on", ON, "--format", "ics", "--out", str(target)
    )
    assert code == 2 and "No space left on device" in err and err.count("\n") == 1
    assert target.read_bytes() == b"BEGIN:VCALENDAR\r\nPRODID:-//needle//needle 0.1.0//EN\r\nold\r\nEND:VCALENDAR\r\n"
    assert hidden(tmp_path) == []


@pytest.mark.parametrize(
    "cmd",
    [
        ["plan", "--indication", "fine-lines", "--format", "md"],
        ["aftercare", "--session-date", ON, "--indication", "fine-lines"],
        ["screen", "--answers", "/nonexistent.toml"],
    ],
)
def test_missing_parent_folder(tmp_path: Path, cmd: list[str]) -> None:
    code, _, err = run(*cmd, "--on", ON, "--out", str(tmp_path / "no" / "such" / "f.md"))
    assert code == 2 and err == f"needle: error: --out: folder {tmp_path / 'no' / 'such'} does not exist\n"


def test_batch_disk_full_reports_rows_and_keeps_going(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start\nP1,fine-lines,2026-12-01\nP2,texture,2026-12-01\n")
    monkeypatch.setattr(os, "fsync", disk_full)
    out = tmp_path / "out"
    code, _, err = run("batch", str(src), "--out-dir", str(out), "--jobs", "1", "--on", ON)
    assert code == 1
    assert err.splitlines()[:2] == [
        f"row 2: cannot write {out / 'P1.ics'}: No space left on device",
        f"row 3: cannot write {out / 'P2.ics'}: No space left on device",
    ]
    assert sorted(os.listdir(out)) == ["summary.csv"]  # no partial files; the summary says what failed


def test_sigterm_during_the_interview_saves_nothing(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    from tests.test_cli_interactive import prompt_of, wait_until_reading_stdin

    out = tmp_path / "records" / "r.toml"
    out.parent.mkdir()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "dumb", "NO_COLOR": "1", "PYTHONUTF8": "1"}
    needle, *args = command("screen", "--on", ON, "--out", str(out))
    child = pexpect.spawn(needle, args, env=env, encoding="utf-8", timeout=10, dimensions=(50, 200))
    child.expect_exact(prompt_of("age"))
    child.sendline("40")
    child.expect_exact(prompt_of("pregnant"))
    # Only once the child is blocked waiting for a key: a signal that lands while it is still
    # on its way into input() is noticed by nothing, and the interview waits for ever.
    wait_until_reading_stdin(child.pid)
    child.kill(signal.SIGTERM)
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus is None and child.exitstatus == 143
    assert "Screening cancelled; nothing was saved." in child.before
    assert "Traceback" not in child.before
    assert list(out.parent.iterdir()) == []  # neither the record nor a hidden temporary file


def test_sigterm_during_batch(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    with src.open("w") as fh:
        fh.write("patient_id,indication,start\n")
        for i in range(3000):
            fh.write(f"P{i},fine-lines,2026-12-01\n")
    out = tmp_path / "out"
    proc = start_process("batch", str(src), "--out-dir", str(out), "--on", ON, stderr=subprocess.PIPE)
    wait_for_files(out, 20)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert b"batch interrupted" in err and b"Traceback" not in err
    import icalendar

    assert [name for name in os.listdir(out) if name.startswith(".")] == []
    for name in os.listdir(out):
        assert len(list(icalendar.Calendar.from_ical((out / name).read_bytes()).walk("VEVENT"))) == 30


# ----------------------------------------------------------------- privacy and network


SECRET_DATE = "2026-08-31"


def test_answers_never_appear_in_error_messages(tmp_path: Path) -> None:
    answers = dict(ALL_NO_FALSE) | {
        "isotretinoin_last_dose": "31/08/2026 on Roaccutane",
        "fitzpatrick": "type five-ish",
        "pregnant": "maybe, 8 weeks",
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps(answers))
    code, out, err = run("screen", "--answers", str(path), "--on", ON)
    assert code == 2
    for secret in ("Roaccutane", "31/08/2026", "five-ish", "8 weeks"):
        assert secret not in err + out


def test_no_network_access(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("needle tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps(dict(ALL_NO_FALSE) | {"fitzpatrick": 2}))
    rec = tmp_path / "rec.toml"
    plan = tmp_path / "plan.toml"
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start\nP1,fine-lines,2026-12-01\n")
    for cmd in (
        ["screen", "--answers", str(answers), "--on", ON, "--patient", "P1", "--out", str(rec)],
        [
            "plan",
            "--patient",
            "P1",
            "--indication",
            "fine-lines",
            "--on",
            ON,
            "--screening",
            str(rec),
            "--holidays",
            "GB-SCT",
            "--time",
            "10:00",
            "--tz",
            "Europe/London",
            "--format",
            "toml",
            "--out",
            str(plan),
        ],
        ["plan", "--from", str(plan), "--format", "ics"],
        ["aftercare", "--plan", str(plan), "--format", "md"],
        ["batch", str(src), "--out-dir", str(tmp_path / "out"), "--jobs", "1", "--on", ON],
        ["protocols", "list"],
        ["config", "show"],
    ):
        code, _, err = run(*cmd)
        assert code == 0, (cmd, err)


def test_protocol_text_is_data_not_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from needlecli import catalog

    text = (
        catalog.read_source("fine-lines")[0]
        .decode()
        .replace('title = "Fine lines"', "title = \"__import__('os').system('touch PWNED') {open('/etc/passwd')}\"")
    )
    (tmp_path / "p.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("plan", "--indication", str(tmp_path / "p.toml"), "--on", ON, "--format", "md")
    assert code == 0
    assert not (tmp_path / "PWNED").exists() and "root:" not in out


def test_a_bug_is_one_line_and_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from needlecli import scheduling

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret patient detail")

    monkeypatch.setattr(scheduling, "build_plan", broken)
    code, out, err = run("plan", "--indication", "fine-lines", "--on", ON)
    assert code == 70 and out == ""
    assert err.startswith("needle: internal error (RuntimeError); this is a bug") and err.count("\n") == 1
    assert "secret" not in err  # an exception's message may hold patient data: only its type is shown
    r = run("--debug", "plan", "--indication", "fine-lines", "--on", ON, allow_exception=True)
    assert isinstance(r.exception, RuntimeError)  # the traceback reaches the user
    monkeypatch.setenv("NEEDLE_DEBUG", "1")
    r = run("plan", "--indication", "fine-lines", "--on", ON, allow_exception=True)
    assert isinstance(r.exception, RuntimeError)


def test_batch_into_an_unwritable_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start\nP1,fine-lines,2026-12-01\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON)
    assert code == 2 and err == f"needle: error: cannot write in {tmp_path / 'out'}: Permission denied\n"
