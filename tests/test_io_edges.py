"""Edges of input and output, end to end: where --out points (a device, a FIFO, a link, `-`, a
name too long), a closed or non-UTF-8 stdout, dates at the year limits in every loader, control
characters in ids and names read from files, a config folder that cannot be made, and SIGHUP.

Every failure is one clear line on stderr with exit 2: never a traceback, never exit 70, and
nothing half-written left behind.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from needlecli import records
from tests.harness import command, run
from tests.plan_helpers import ALL_NO_FALSE, saved_plan, screening_record, toml_answers
from tests.test_cli_basics import COMMANDS

ON = "2026-12-01"
PLAN_JSON = ["plan", "--indication", "fine-lines", "--on", ON, "--format", "json"]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def one_error_line(err: str) -> None:
    assert err.startswith("needle: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err, err


def needle(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`needle ARGS` as its own process, with extra environment; stdout and stderr captured."""
    return subprocess.run(command(*args), capture_output=True, env={**os.environ, **(env or {})}, timeout=timeout)


# ----------------------------------------------------------------- where --out points


def test_out_to_a_fifo_streams_into_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    code, _, err = run(*PLAN_JSON, "--out", str(fifo))
    thread.join(10)
    assert code == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO, not replaced by a file
    assert got and json.loads(got[0])["indication"] == "fine-lines"
    assert hidden(tmp_path) == []


def test_out_to_a_fifo_nobody_reads_is_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = run(*PLAN_JSON, "--out", str(fifo))  # must not hang waiting for a reader
    assert code == 2
    one_error_line(err)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and hidden(tmp_path) == []


@pytest.mark.parametrize("fmt", ["json", "ics"])
def test_out_to_a_link_to_stdout_writes_through_it(tmp_path: Path, fmt: str) -> None:
    # What `--out /dev/stdout` is, without touching the real /dev/stdout.
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    r = needle("plan", "--patient", "P1", "--indication", "fine-lines", "--on", ON, "--format", fmt, "--out", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert (b"BEGIN:VCALENDAR" if fmt == "ics" else b'"indication"') in r.stdout
    assert hidden(tmp_path) == []


def test_out_to_stdout_appended_to_a_log_keeps_the_log(tmp_path: Path) -> None:
    # `needle ... --out /dev/stdout >> log`: the shell's file is written as opened (appending),
    # never replaced by a new file (which would lose the log).
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    log = tmp_path / "log.txt"
    log.write_text("earlier lines\n")
    with log.open("ab") as fh:
        r = subprocess.run(command(*PLAN_JSON, "--out", str(link)), stdout=fh, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    text = log.read_text()
    assert text.startswith("earlier lines\n{") and json.loads(text.split("\n", 1)[1])["indication"] == "fine-lines"
    assert link.is_symlink() and hidden(tmp_path) == []


def test_out_dash_is_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*PLAN_JSON, "--out", "-")
    assert code == 0, err
    assert json.loads(out)["indication"] == "fine-lines"
    code, out, err = run("aftercare", "--session-date", ON, "--indication", "fine-lines", "--on", ON, "--out", "-")
    assert code == 0 and out.startswith("#"), err
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_screen_out_dash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # were it taken as a file name, "-" lands here
    code, out, err = run("screen", "--answers", str(toml_answers(tmp_path)), "--on", ON, "--out", "-")
    assert code == 2 and out == ""
    one_error_line(err)


def test_a_link_to_a_regular_file_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "real" / "plan.json"
    target.parent.mkdir()
    target.write_text('{"record": "needle-plan", "patient": ""}')  # a plan needle wrote earlier
    link = tmp_path / "current.json"
    link.symlink_to(target)
    code, _, err = run(*PLAN_JSON, "--out", str(link))
    assert code == 0, err
    assert link.is_symlink()  # the link stays; its target gets the new plan, atomically
    assert json.loads(target.read_text())["indication"] == "fine-lines"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert hidden(tmp_path) == hidden(target.parent) == []


def test_a_device_is_written_without_a_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # /dev/null is a character device: streamed to, never renamed over (as root, that would replace it).
    before = os.lstat("/dev/null")

    def no_temp(*args: object, **kwargs: object) -> None:
        raise AssertionError("a device must not get a temp file")

    monkeypatch.setattr(records.tempfile, "mkstemp", no_temp)
    records.write_atomic(Path("/dev/null"), b"data")
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


# ----------------------------------------------------------------- long names


def test_the_longest_legal_name_is_written(tmp_path: Path) -> None:
    name = "p" * 250 + ".json"  # 255 bytes: the most a file name may be
    code, _, err = run(*PLAN_JSON, "--out", str(tmp_path / name))
    assert code == 0, err
    assert json.loads((tmp_path / name).read_text())["indication"] == "fine-lines"
    assert hidden(tmp_path) == []


def test_a_long_non_ascii_name_is_written(tmp_path: Path) -> None:
    name = "é" * 120 + ".json"  # 245 bytes in UTF-8
    records.write_atomic(tmp_path / name, b"{}")
    assert (tmp_path / name).read_bytes() == b"{}" and hidden(tmp_path) == []


@pytest.mark.parametrize(
    "cmd",
    [
        PLAN_JSON,
        ["aftercare", "--session-date", ON, "--indication", "fine-lines", "--on", ON],
        ["screen", "--answers", "ANSWERS", "--on", ON],
    ],
    ids=["plan", "aftercare", "screen"],
)
@pytest.mark.parametrize("where", ["name", "folder"])
def test_a_name_too_long_is_one_line(tmp_path: Path, cmd: list[str], where: str) -> None:
    answers = toml_answers(tmp_path)
    cmd = [str(answers) if a == "ANSWERS" else a for a in cmd]
    out = tmp_path / ("x" * 300 + ".toml") if where == "name" else tmp_path / ("d" * 300) / "f.toml"
    code, _, err = run(*cmd, "--out", str(out))
    assert code == 2
    one_error_line(err)
    assert hidden(tmp_path) == []


def test_batch_out_dir_too_long_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start\nP1,fine-lines,2026-12-01\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / ("d" * 300)), "--on", ON, "--jobs", "1")
    assert code == 2
    one_error_line(err)


# ----------------------------------------------------------------- config init


def test_config_init_under_a_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    monkeypatch.setenv("NEEDLE_CONFIG", str(afile / "config.toml"))
    code, _, err = run("config", "init")
    assert code == 2
    one_error_line(err)


def test_config_init_with_home_a_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "passwd"
    afile.write_text("root:x:0:0\n")
    monkeypatch.delenv("NEEDLE_CONFIG")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(afile))
    code, _, err = run("config", "init")
    assert code == 2
    one_error_line(err)
    assert afile.read_text() == "root:x:0:0\n"


def test_config_init_in_a_read_only_home_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path / "home" / ".config" / "needle" / "config.toml"))

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "mkdir", read_only)  # root ignores mode bits: simulate
    code, _, err = run("config", "init")
    assert code == 2
    one_error_line(err)
    assert "Permission denied" in err


def test_config_init_name_too_long_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path / ("c" * 300 + ".toml")))
    code, _, err = run("config", "init")
    assert code == 2
    one_error_line(err)
    monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path / ("d" * 300) / "config.toml"))
    code, _, err = run("config", "init")
    assert code == 2
    one_error_line(err)


# ----------------------------------------------------------------- control characters from files


def test_a_record_patient_id_with_control_characters_is_refused(tmp_path: Path) -> None:
    rec = screening_record(tmp_path)
    doc = tomllib.loads(rec.read_text())
    doc["patient"] = "P1\x1b[2J\x07"
    rec.write_text(tomli_w.dumps(doc))
    code, out, err = run("plan", "--indication", "fine-lines", "--on", ON, "--screening", str(rec))
    assert code == 2 and out == ""
    one_error_line(err)
    assert "\x1b" not in err and "\x07" not in err


def test_a_record_patient_id_too_long_is_refused(tmp_path: Path) -> None:
    rec = screening_record(tmp_path)
    doc = tomllib.loads(rec.read_text())
    doc["patient"] = "P" * 101
    rec.write_text(tomli_w.dumps(doc))
    code, _, err = run("plan", "--indication", "fine-lines", "--on", ON, "--screening", str(rec))
    assert code == 2
    one_error_line(err)


def test_a_saved_plan_patient_id_with_control_characters_is_refused(tmp_path: Path) -> None:
    path = saved_plan(tmp_path)
    doc = tomllib.loads(path.read_text())
    doc["patient"] = "P\x1b]0;pwned\x07"
    path.write_text(tomli_w.dumps(doc))
    for cmd in (["plan", "--from", str(path), "--format", "json"], ["aftercare", "--plan", str(path)]):
        code, out, err = run(*cmd, "--on", ON)
        assert code == 2 and out == "", cmd
        one_error_line(err)
        assert "\x1b" not in err


@pytest.mark.parametrize("key", ["name", "version", "title"])
def test_protocol_names_must_be_printable(tmp_path: Path, key: str) -> None:
    from needlecli import catalog

    doc = tomllib.loads(catalog.read_source("fine-lines")[0].decode())
    doc["protocol"][key] = "fine\x1b[31mlines\x07"
    path = tmp_path / "p.toml"
    path.write_text(tomli_w.dumps(doc))
    code, out, err = run("protocols", "validate", str(path))
    assert code == 2
    assert "\x1b" not in out + err and "\x07" not in out + err
    code, out, err = run("plan", "--indication", str(path), "--on", ON, "--format", "json")
    assert code == 2 and "\x1b" not in out + err
    one_error_line(err)


# ----------------------------------------------------------------- dates at the year limits


def record_with(tmp_path: Path, **changes: object) -> Path:
    rec = screening_record(tmp_path)
    doc = tomllib.loads(rec.read_text())
    doc.update(changes)
    rec.write_text(tomli_w.dumps(doc))
    return rec


@pytest.mark.parametrize(
    "change",
    [
        {"evaluated_on": dt.date(9999, 12, 31)},
        {"evaluated_on": dt.date(26, 1, 1)},
        {"evaluated_on": dt.date(9626, 1, 1)},
        {"evaluated_on": dt.date(1899, 12, 31)},
        {"evaluated_on": dt.date(2201, 1, 1)},
        {"verdict": "defer", "earliest_date": dt.date(9999, 12, 31)},
    ],
    ids=["9999", "0026", "9626", "1899", "2201", "earliest-9999"],
)
def test_a_record_with_a_date_out_of_range_is_refused(tmp_path: Path, change: dict[str, object]) -> None:
    rec = record_with(tmp_path, **change)
    code, out, err = run("plan", "--indication", "fine-lines", "--on", ON, "--screening", str(rec))
    assert code == 2 and out == ""
    one_error_line(err)
    assert "1900" in err and "2200" in err


def test_a_record_finding_until_out_of_range_is_refused(tmp_path: Path) -> None:
    rec = screening_record(tmp_path, isotretinoin_last_dose="2026-08-31")
    doc = tomllib.loads(rec.read_text())
    doc["findings"][0]["until"] = dt.date(9999, 12, 31)
    rec.write_text(tomli_w.dumps(doc))
    code, _, err = run("plan", "--indication", "fine-lines", "--on", ON, "--screening", str(rec))
    assert code == 2
    one_error_line(err)


def shift_years(doc: object, years: int) -> object:
    """Every date in a parsed document, moved by ``years``."""
    if isinstance(doc, dict):
        return {k: shift_years(v, years) for k, v in doc.items()}
    if isinstance(doc, list):
        return [shift_years(v, years) for v in doc]
    if isinstance(doc, dt.date):
        return doc.replace(year=doc.year + years)
    return doc


@pytest.mark.parametrize("years", [7971, -2000, 174])  # sessions in 9998, in the year 27, in 2201
def test_a_saved_plan_with_dates_out_of_range_is_refused(tmp_path: Path, years: int) -> None:
    path = saved_plan(tmp_path)
    doc = tomllib.loads(path.read_text())
    path.write_text(tomli_w.dumps(shift_years(doc, years)))
    for cmd in (
        ["plan", "--from", str(path), "--format", "json"],
        ["plan", "--from", str(path), "--format", "ics"],
        ["aftercare", "--plan", str(path)],
    ):
        code, out, err = run(*cmd, "--on", ON)
        assert code == 2 and out == "", (cmd, err)
        one_error_line(err)


def test_a_saved_plan_session_in_9999_11_is_refused(tmp_path: Path) -> None:
    path = saved_plan(tmp_path)
    doc = tomllib.loads(path.read_text())
    last = doc["sessions"][-1]
    last["date"] = dt.date(9999, 11, 29)
    path.write_text(tomli_w.dumps(doc))
    for cmd in (["plan", "--from", str(path), "--format", "json"], ["aftercare", "--plan", str(path)]):
        code, _, err = run(*cmd, "--on", ON)
        assert code == 2, err
        one_error_line(err)


@pytest.mark.parametrize(
    ("day", "ok"),
    [
        ("1899-12-31", False),
        ("1900-01-01", True),
        ("2200-12-31", True),
        ("2201-01-01", False),
        ("0026-01-01", False),
        ("9999-12-31", False),
    ],
)
def test_every_loader_at_the_year_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, day: str, ok: bool) -> None:
    """Each loader takes a date inside 1900-2200 and refuses one outside with one line."""
    date = dt.date.fromisoformat(day)

    def check(code: int, err: str, allowed: tuple[int, ...] = (0, 3, 4)) -> None:
        assert "Traceback" not in err and "internal error" not in err, err
        if ok:
            assert code in allowed, err
        else:
            assert code == 2, err
            one_error_line(err)

    # answers files, TOML date and JSON string (evaluated on the last day allowed, so no date is "after" it)
    last = "2200-12-31"
    code, _, err = run("screen", "--answers", str(toml_answers(tmp_path, filler_last_date=day)), "--on", last)
    check(code, err)
    (tmp_path / "a.json").write_text(json.dumps({**ALL_NO_FALSE, "filler_last_date": day}))
    code, _, err = run("screen", "--answers", str(tmp_path / "a.json"), "--on", last)
    check(code, err)
    # flags
    code, _, err = run("screen", "--answers", str(toml_answers(tmp_path)), "--on", day)
    check(code, err)
    # a screening record
    rec = record_with(tmp_path, evaluated_on=date)
    code, _, err = run("plan", "--indication", "fine-lines", "--on", ON, "--screening", str(rec), "--allow-past")
    check(code, err, (0, 2, 3, 4))  # in range, a record may still be refused for other reasons
    # a saved plan's creation date
    path = saved_plan(tmp_path)
    doc = tomllib.loads(path.read_text())
    doc["created_on"] = date
    path.write_text(tomli_w.dumps(doc))
    code, _, err = run("plan", "--from", str(path), "--on", ON, "--format", "json")
    check(code, err)
    # the clinic config's closed dates
    cfg = tmp_path / "config.toml"
    cfg.write_text(tomli_w.dumps({"clinic": {"closed": [date]}}))
    monkeypatch.setenv("NEEDLE_CONFIG", str(cfg))
    code, _, err = run("config", "show")
    check(code, err)
    monkeypatch.setenv("NEEDLE_CONFIG", os.devnull)
    # a case file
    cases = tmp_path / "cases.toml"
    cases.write_text(
        tomli_w.dumps(
            {
                "defaults": {"answers": "all-clear", "on": date},
                "cases": [{"name": "limit", "expect": {"verdict": "eligible", "earliest": date}}],
            }
        )
    )
    code, _, err = run("protocols", "test", str(cases))
    assert "Traceback" not in err
    assert code in ((0, 1) if ok else (2,)), err
    # a CSV row
    src = tmp_path / "l.csv"
    src.write_text(f"patient_id,indication,start\nP1,fine-lines,{day}\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON, "--jobs", "1", "--quiet")
    assert "Traceback" not in err and code in (0, 1), err


# ----------------------------------------------------------------- stdout closed, or not UTF-8


#: The register the command cases read (made by `cli_cases`, in a folder of its own).
IO_REGISTER = Path(tempfile.mkdtemp(prefix="needle-io-register-")) / "register.sqlite3"


def cli_cases(tmp: Path) -> dict[str, list[list[str]]]:
    """For each command (the list comes from the app), invocations that write to stdout."""
    answers = toml_answers(tmp)
    rec = screening_record(tmp)
    plan = saved_plan(tmp)
    src = tmp / "l.csv"
    src.write_text("patient_id,indication,start\nP1,fine-lines,2026-12-01\n")
    from needlecli import catalog

    proto = tmp / "p.toml"
    proto.write_bytes(catalog.read_source("fine-lines")[0])
    # A register holding a screened and booked patient, for history, export and register.
    assert run("screen", "--answers", str(answers), "--on", ON, "--patient", "P1-io")[0] == 0
    booked = run(
        "plan", "--patient", "P1-io", "--indication", "fine-lines", "--start", "2026-12-07", "--on", ON, "--book"
    )
    assert booked[0] == 0, booked
    # A second patient, whose series `cancel` ends; the re-check's answers (the recheck questions only).
    assert run("screen", "--answers", str(answers), "--on", ON, "--patient", "P2-io")[0] == 0
    assert run("plan", "--patient", "P2-io", "--indication", "texture", "--start", "2026-12-07", "--on", ON,
               "--book")[0] == 0  # fmt: skip
    from needlecli.catalog import load_screening

    recheck = {q.id for q in load_screening("screening").questions if q.recheck}
    doc = tomllib.loads(answers.read_text())
    rechecked = tmp / "recheck.toml"
    rechecked.write_text(tomli_w.dumps({k: v for k, v in doc.items() if k in recheck}))
    return {
        "check": [
            ["check", "P1-io", "--answers", str(rechecked), "--on", "2026-12-07"],
            ["check", "P1-io", "--answers", str(rechecked), "--on", "2026-12-07", "--json"],
        ],
        "done": [["done", "P1-io", "--on", "2026-12-07"], ["done", "P1-io", "--on", "2026-12-07", "--json"]],
        "missed": [["missed", "P1-io", "--on", "2027-01-11"], ["missed", "P1-io", "--on", "2027-01-11", "--json"]],
        "cancel": [["cancel", "P2-io", "--reason", "a test"], ["cancel", "P2-io", "--reason", "again", "--json"]],
        "due": [
            ["due", "--on", ON, "--days", "60", "--format", fmt] for fmt in ("table", "json", "csv", "ics", "html")
        ],
        "screen": [
            ["screen", "--answers", str(answers), "--on", ON, "--patient", "P1"],
            ["screen", "--answers", str(answers), "--on", ON, "--json"],
        ],
        "plan": [
            ["plan", "--indication", "fine-lines", "--on", ON, "--screening", str(rec), "--format", fmt]
            for fmt in ("table", "json", "toml", "md", "ics", "html")
        ]
        + [["plan", "--from", str(plan), "--on", ON]],
        "aftercare": [["aftercare", "--plan", str(plan), "--on", ON, "--format", fmt] for fmt in ("md", "ics", "html")],
        "batch": [["batch", str(src), "--out-dir", str(tmp / "out"), "--on", ON, "--jobs", "1", "--json"]],
        "protocols": [["protocols"]],
        "protocols list": [["protocols", "list"]],
        "protocols show": [["protocols", "show", "screening"]],
        "protocols validate": [["protocols", "validate", str(proto)]],
        "protocols test": [["protocols", "test"]],
        "config": [["config"]],
        "config show": [["config", "show"], ["config", "show", "--json"]],
        "config init": [["config", "init", "--force"]],
        "history": [["history", "P1-io"], ["history", "P1-io", "--json"]],
        "export": [["export", "P1-io", "--format", fmt, "--on", ON] for fmt in ("md", "ics", "html", "json", "toml")],
        "register": [["register"]],
        "register verify": [["register", "verify"]],
        "register log": [["register", "log"], ["register", "log", "--json"]],
        "register backup": [["register", "backup", str(tmp / "backup.sqlite3")]],
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[list[str]]]]:
    tmp = tmp_path_factory.mktemp("io")
    with pytest.MonkeyPatch.context() as mp:
        (tmp / "config.toml").write_text("")  # an empty clinic config: every value the default
        mp.setenv("NEEDLE_CONFIG", str(tmp / "config.toml"))  # the builders run before the per-test fixtures
        mp.setenv("NEEDLE_REGISTER", str(IO_REGISTER))
        built = cli_cases(tmp)
    yield built


def test_every_command_has_a_case(tmp_path: Path) -> None:
    assert sorted(cli_cases(tmp_path)) == sorted(" ".join(c) for c in COMMANDS)


@pytest.mark.parametrize("cmd", [" ".join(c) for c in COMMANDS])
def test_every_command_with_stdout_closed(cases: dict[str, list[list[str]]], cmd: str, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")  # `config init --force` rewrites it
    env = {"NEEDLE_CONFIG": str(tmp_path / "config.toml"), "NEEDLE_REGISTER": str(IO_REGISTER)}
    for args in cases[cmd]:
        r = subprocess.run(
            command(*args),
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
            preexec_fn=lambda: os.close(1),
            timeout=60,
        )
        err = r.stderr.decode("utf-8", "replace")
        assert r.returncode in (0, 2, 3, 4), (args, r.returncode, err)
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        if r.returncode == 2:  # a group without its subcommand shows its usage; else one error line
            assert err.startswith("Usage: ") or err.splitlines()[-1].startswith("needle: error: "), (args, err)


def test_closed_stdout_is_said(tmp_path: Path) -> None:
    for args in (PLAN_JSON, [*PLAN_JSON[:-1], "ics"]):
        r = subprocess.run(command(*args), stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=60)
        assert r.returncode == 2, r.stderr
        assert r.stderr.decode() == "needle: error: stdout is closed\n"


@pytest.mark.parametrize("cmd", [" ".join(c) for c in COMMANDS])
def test_every_command_with_an_ascii_stdout(cases: dict[str, list[list[str]]], cmd: str, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")  # `config init --force` rewrites it
    env = {"NEEDLE_CONFIG": str(tmp_path / "config.toml"), "PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0",
           "NEEDLE_REGISTER": str(IO_REGISTER)}  # fmt: skip
    for args in cases[cmd]:
        r = subprocess.run(
            command(*args), stdin=subprocess.DEVNULL, capture_output=True, env={**os.environ, **env}, timeout=60
        )
        err = r.stderr.decode("utf-8", "replace")
        assert r.returncode in (0, 2, 3, 4), (args, r.returncode, err)
        assert "Traceback" not in err and "internal error" not in err, (args, err)


def test_screen_on_an_ascii_terminal_shows_the_verdict(tmp_path: Path) -> None:
    answers = toml_answers(tmp_path, fitzpatrick=5)
    out = tmp_path / "rec.toml"
    env = {"PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0", "COLUMNS": "100"}
    r = needle("screen", "--answers", str(answers), "--on", ON, "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode("ascii")  # ASCII only
    assert "CAUTION" in text and "Screening record saved" in text
    r = needle("plan", "--indication", "fine-lines", "--on", ON, "--screening", str(out), env=env)
    assert r.returncode == 0, r.stderr
    assert "Treatment plan" in r.stdout.decode("ascii")


def test_ics_to_an_ascii_stdout_is_the_same_bytes(tmp_path: Path) -> None:
    args = ["plan", "--patient", "P1", "--indication", "fine-lines", "--on", ON, "--format", "ics"]
    plain = needle(*args)
    ascii_ = needle(*args, env={"PYTHONIOENCODING": "ascii"})
    assert plain.returncode == ascii_.returncode == 0
    assert plain.stdout == ascii_.stdout


# ----------------------------------------------------------------- SIGHUP


class Unhandled(Exception):
    pass


@pytest.fixture
def sighup_guard() -> object:
    """A SIGHUP that needle does not handle raises Unhandled here, instead of ending the test run."""

    def unhandled(signum: int, frame: object) -> None:
        raise Unhandled()

    old = signal.signal(signal.SIGHUP, unhandled)
    yield
    signal.signal(signal.SIGHUP, old)


def test_sighup_is_an_orderly_stop(sighup_guard: object) -> None:
    from needlecli.cli.common import sigterm_as_interrupt
    from needlecli.errors import Terminated, interrupt_code

    for signum, code in ((signal.SIGHUP, 129), (signal.SIGTERM, 143)):
        with pytest.raises(Terminated) as caught, sigterm_as_interrupt():
            os.kill(os.getpid(), signum)  # the handler runs before the next line
        assert interrupt_code(caught.value) == code


def test_sighup_during_a_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sighup_guard: object
) -> None:
    def hang_up(fd: int) -> None:
        os.kill(os.getpid(), signal.SIGHUP)

    monkeypatch.setattr(os, "fsync", hang_up)
    r = run(*PLAN_JSON, "--out", str(tmp_path / "p.json"), allow_exception=True)
    assert r.exit_code == 129 and not isinstance(r.exception, Unhandled), r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sighup_during_the_interview_saves_nothing(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    from tests.test_cli_interactive import prompt_of, wait_until_reading_stdin

    out = tmp_path / "records" / "r.toml"
    out.parent.mkdir()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "dumb", "NO_COLOR": "1", "PYTHONUTF8": "1"}
    exe, *args = command("screen", "--on", ON, "--out", str(out))
    child = pexpect.spawn(exe, args, env=env, encoding="utf-8", timeout=10, dimensions=(50, 200))
    child.expect_exact(prompt_of("age"))
    wait_until_reading_stdin(child.pid)
    child.kill(signal.SIGHUP)
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus is None and child.exitstatus == 129
    assert "Traceback" not in child.before
    assert list(out.parent.iterdir()) == []
