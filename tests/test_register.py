"""The clinic register through the CLI: screenings kept, series booked and re-booked, history,
export, and a journal that verifies, and fails on any edit made outside needle."""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from needlecli.register.store import APPLICATION_ID, SCHEMA
from tests.harness import command, run

ON = "2026-12-01"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A register of this test's own (not made yet): $NEEDLE_REGISTER points at it."""
    path = tmp_path / "reg" / "register.sqlite3"
    monkeypatch.setenv("NEEDLE_REGISTER", str(path))
    return path


def answers(tmp_path: Path, **changed: object) -> Path:
    doc = tomllib.loads((EXAMPLES / "eligible.toml").read_text())
    doc.update(changed)
    import tomli_w

    path = tmp_path / f"answers-{len(list(tmp_path.glob('answers-*')))}.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def screen(tmp_path: Path, patient: str, on: str = ON, **changed: object) -> tuple[int, str, str]:
    return run("screen", "--answers", str(answers(tmp_path, **changed)), "--patient", patient, "--on", on, "--json")


def book(patient: str, *args: str, on: str = ON) -> tuple[int, str, str]:
    return run(
        "plan", "--patient", patient, "--indication", "fine-lines", "--on", on, "--book", "--format", "json", *args
    )


def verify(*args: str) -> tuple[int, str, str]:
    return run("register", "verify", *args)


def test_a_screening_with_a_patient_id_is_kept_and_shown_in_history(tmp_path: Path, register: Path) -> None:
    assert not register.exists()
    code, out, err = screen(tmp_path, "P-1")
    assert code == 0 and json.loads(out)["verdict"] == "eligible"
    assert err.strip().endswith("needle: screening kept in the register under P-1 (entry 1)")
    assert stat.S_IMODE(os.stat(register).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(register.parent).st_mode) == 0o700
    code, out, _ = run("history", "P-1", "--json")
    assert code == 0
    [event] = json.loads(out)
    assert (event["event"], event["date"], event["verdict"], event["findings"]) == ("screened", ON, "eligible", [])
    assert event["protocol"]["name"] == "screening" and len(event["protocol"]["sha256"]) == 64


def test_no_register_and_no_patient_keep_nothing(tmp_path: Path, register: Path) -> None:
    code, _, err = run("screen", "--answers", str(answers(tmp_path)), "--patient", "P-1", "--on", ON,
                       "--json", "--no-register")  # fmt: skip
    assert code == 0 and "register" not in err
    assert run("screen", "--answers", str(answers(tmp_path)), "--on", ON, "--json")[0] == 0
    assert not register.exists()  # a command that keeps nothing never creates it


def test_reading_commands_never_create_the_register(register: Path) -> None:
    assert run("history", "P-1") == (2, "", f"needle: error: no patient 'P-1' in the register ({register}); "
                                            "screen or book them first\n")  # fmt: skip
    code, out, _ = verify()
    assert code == 0 and out.startswith("0 entries, head " + "0" * 64)
    assert run("register", "log", "--json")[:2] == (0, "[]\n")
    assert not register.exists() and not register.parent.exists()


def test_booking_uses_the_latest_registered_screening(tmp_path: Path, register: Path) -> None:
    code, _, err = book("P-1", "--start", "2026-12-07")
    assert code == 2 and "P-1 has no screening in the register" in err and "screen first" in err
    # A dated deferral in the register moves the first session, as --screening does.
    assert screen(tmp_path, "P-1", isotretinoin_last_dose="2026-10-01")[0] == 3
    code, out, err = book("P-1", "--start", "2026-12-07")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["sessions"][0]["date"] >= "2027-04-01"
    assert plan["verdict"] == "defer"
    assert "booked: P-1's fine-lines series, revision 1 (entry 2, head " in err


def test_a_contraindicated_screening_books_nothing(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-9", skin_cancer_in_area=True)[0] == 4
    code, _, _ = book("P-9", "--start", "2026-12-07")
    assert code == 4
    code, out, _ = run("history", "P-9", "--json")
    assert [e["event"] for e in json.loads(out)] == ["screened"]


def test_rebooking_keeps_uids_raises_sequence_and_cancels_what_went(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    assert book("P-1", "--start", "2026-12-07", "--sessions", "4")[0] == 0
    code, first, _ = run("export", "P-1", "--format", "ics", "--on", ON)
    assert code == 0
    code, _, err = book("P-1", "--start", "2026-12-14", "--sessions", "3", on="2026-12-02")
    assert code == 0 and "revision 2; rebuilt over revision 1: same calendar ids" in err
    code, second, _ = run("export", "P-1", "--format", "ics", "--on", "2026-12-02")
    assert code == 0

    def events(text: str) -> dict[str, tuple[int, str]]:
        cal = Calendar.from_ical(text)
        return {str(e["UID"]): (int(e.get("SEQUENCE", 0)), str(e.get("STATUS", ""))) for e in cal.walk("VEVENT")}

    before, after = events(first), events(second)
    assert set(before) <= set(after)  # no calendar id is lost
    sessions = [u for u in before if "-session-" in u]
    assert len(sessions) == 4
    gone = [u for u in sessions if after[u][1] == "CANCELLED"]
    assert len(gone) == 1 and gone[0].split("@")[0].endswith("session-4")
    moved = [u for u in sessions if u not in gone]
    assert all(after[u][0] > before[u][0] for u in moved)  # the dates changed: SEQUENCE rose
    code, out, _ = run("history", "P-1", "--json")
    booked = [e for e in json.loads(out) if e["event"] == "booked"]
    assert [(b["revision"], len(b["sessions"])) for b in booked] == [(1, 4), (2, 3)]
    assert booked[1]["cancelled"] and verify()[0] == 0


def test_export_toml_is_a_saved_plan_plan_from_reads(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    code, booked, _ = book("P-1", "--start", "2026-12-07")
    assert code == 0
    saved = tmp_path / "p1.toml"
    assert run("export", "P-1", "--format", "toml", "--out", str(saved))[0] == 0
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    code, again, err = run("plan", "--from", str(saved), "--on", ON, "--format", "json")
    assert code == 0, err
    assert [s["date"] for s in json.loads(again)["sessions"]] == [s["date"] for s in json.loads(booked)["sessions"]]
    for fmt, marker in (("md", "# "), ("html", "<!doctype html"), ("json", '"sessions"')):
        code, out, err = run("export", "P-1", "--format", fmt, "--on", ON)
        assert code == 0 and marker in out.lower() if fmt == "html" else marker in out, (fmt, err)
        if fmt in ("md", "html"):
            assert "P-1" not in out  # patient documents carry no id


def test_export_needs_a_booked_series(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    code, _, err = run("export", "P-1", "--format", "ics")
    assert code == 2 and "P-1 has no booked series in the register" in err


def test_verify_prints_the_head_and_checks_an_earlier_one(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    code, out, _ = verify()
    assert code == 0 and out.startswith("1 entries, head ")
    head = out.split("head ")[1].split(":")[0]
    assert len(head) == 64
    assert screen(tmp_path, "P-2")[0] == 0
    assert verify("--head", head)[0] == 0
    assert verify("--head", "f" * 64)[0] == 1
    assert verify("--head", "nope")[0] == 2


def _edit(register: Path, sql: str, *params: object) -> None:
    db = sqlite3.connect(register)
    db.execute(sql, params)
    db.commit()
    db.close()


def test_the_journal_refuses_update_and_delete(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    db = sqlite3.connect(register)
    for sql in ("UPDATE journal SET event = 'booked'", "DELETE FROM journal"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE screenings SET verdict = 'eligible' WHERE entry = 1",
        "UPDATE screenings SET record = (SELECT record FROM screenings WHERE entry = 2) WHERE entry = 1",
        "UPDATE screenings SET patient = 'P-2'",
        "UPDATE bookings SET plan = zeroblob(100)",
        "UPDATE bookings SET revision = 5",
        "UPDATE series SET indication = 'acne-scars'",
        "DELETE FROM bookings",
        "DROP TRIGGER journal_append_only_update",
    ],
)
def test_an_edit_outside_needle_fails_verify(tmp_path: Path, register: Path, sql: str) -> None:
    assert screen(tmp_path, "P-1", skin_cancer_in_area=True)[0] == 4
    assert screen(tmp_path, "P-1")[0] == 0
    assert book("P-1", "--start", "2026-12-07")[0] == 0
    assert verify()[0] == 0
    _edit(register, sql)
    code, out, err = verify()
    assert code == 1 and out == "" and err.startswith(f"needle: error: register {register}: "), err


def test_an_edited_journal_entry_fails_verify_at_it(tmp_path: Path, register: Path) -> None:
    for p in ("P-1", "P-2", "P-3"):
        assert screen(tmp_path, p)[0] == 0
    db = sqlite3.connect(register)
    db.execute("DROP TRIGGER journal_append_only_update")
    db.execute("UPDATE journal SET at = '2020-01-01T00:00:00Z' WHERE seq = 2")
    db.execute("CREATE TRIGGER journal_append_only_update BEFORE UPDATE ON journal "
               "BEGIN SELECT RAISE(ABORT, 'the register journal is append-only'); END")  # fmt: skip
    db.commit()
    db.close()
    code, _, err = verify()
    assert code == 1 and "entry 2: its hash does not match" in err


def test_a_foreign_a_newer_and_a_damaged_file_are_refused_and_kept(tmp_path: Path, register: Path) -> None:
    register.parent.mkdir()
    db = sqlite3.connect(register)
    db.execute("CREATE TABLE notes (x)")
    db.commit()
    db.close()
    before = register.read_bytes()
    code, _, err = screen(tmp_path, "P-1")
    assert code == 2 and "not a needle register" in err
    assert register.read_bytes() == before
    register.unlink()
    db = sqlite3.connect(register)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA + 1}")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()
    before = register.read_bytes()
    code, _, err = run("history", "P-1")
    assert code == 2 and "written by a newer needle" in err
    assert screen(tmp_path, "P-1")[0] == 2 and register.read_bytes() == before
    register.write_bytes(b"this is not a database at all" * 100)
    code, _, err = verify()
    assert code in (1, 2) and "Traceback" not in err and err.count("\n") == 1


# ----------------------------------------------------------------- a register this user cannot write

#: The user a test run as root gives a register to: root writes through any file mode.
NOBODY = 65534
#: Imports needle and exits 0 when a read-only file (argv[1]) cannot be written: file modes apply.
_PROBE = """import sys, needlecli
try:
    open(sys.argv[1], "ab")
except PermissionError:
    sys.exit(0)
sys.exit(1)
"""


class Unprivileged(NamedTuple):
    """Someone file modes apply to, running needle: this user, or (as root) nobody, or root without the
    capabilities that override file modes (when nobody cannot reach this interpreter)."""

    folder: Path  # a fresh folder that user can reach, with a data folder (the tests' uid_key) of its own
    prefix: list[str]  # before the command
    popen: dict[str, Any]  # subprocess keywords
    owner: int | None  # whom the register's folder and file are given to (None: they stay as they are)

    def give(self, path: Path) -> None:
        if self.owner is not None:
            os.chown(path, self.owner, self.owner)

    def run(self, register: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """``needle ARGS`` with ``register``, as that user."""
        return self.process(register, command(*args))

    def process(self, register: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
        data = self.folder / "data"
        env = {**os.environ, "NEEDLE_REGISTER": str(register), "NEEDLE_DATA_DIR": str(data), "HOME": str(data),
               "NEEDLE_CACHE_DIR": str(data / "cache")}  # fmt: skip
        return subprocess.run([*self.prefix, *argv], env=env, capture_output=True, text=True, timeout=60,
                              **self.popen)  # fmt: skip


@pytest.fixture
def unprivileged() -> Iterator[Unprivileged]:
    folder = Path(tempfile.mkdtemp(prefix="needle-register-"))  # pytest's own folders are 0700 (root's, in CI)
    try:
        folder.chmod(0o755)
        data = folder / "data"
        data.mkdir(mode=0o700)
        (data / "uid_key").write_bytes((Path(os.environ["NEEDLE_DATA_DIR"]) / "uid_key").read_bytes())
        (data / "uid_key").chmod(0o600)
        probe = folder / "probe"
        probe.write_text("")
        probe.chmod(0o444)
        ways = [Unprivileged(folder, [], {}, None)]
        if os.geteuid() == 0:
            caps = "-dac_override,-dac_read_search"
            without_override = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
            nobody = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
            ways = [Unprivileged(folder, [], nobody, NOBODY), Unprivileged(folder, without_override, {}, None)]
        tried = []
        for way in ways:
            for path in (data, data / "uid_key"):
                os.chown(path, way.owner if way.owner is not None else os.geteuid(), -1)
            try:
                r = way.process(folder / "none.sqlite3", [sys.executable, "-c", _PROBE, str(probe)])
            except OSError as exc:  # no setpriv
                tried.append(str(exc))
                continue
            if r.returncode == 0:
                yield way
                return
            tried.append(r.stderr.strip().splitlines()[-1:][0] if r.stderr.strip() else f"exit {r.returncode}")
        pytest.skip(f"cannot run {sys.executable} as a user file modes apply to: {'; '.join(tried)}")
    finally:
        for path in (folder, *folder.rglob("*")):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o700)  # so that a run as this user can remove it
        shutil.rmtree(folder, ignore_errors=True)


def _one_line(err: str, register: Path) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"needle: error: register {register}: "), err
    return err


@pytest.mark.parametrize(
    ("file_mode", "folder_mode"),
    [(0o444, 0o700), (0o600, 0o500), (0o444, 0o500)],
    ids=["read-only-file", "read-only-folder", "both"],
)
def test_a_register_that_cannot_be_written_is_one_line_and_kept_as_it_is(
    unprivileged: Unprivileged, monkeypatch: pytest.MonkeyPatch, file_mode: int, folder_mode: int
) -> None:
    """Run as someone file modes apply to (as root: nobody): a screening with a patient id into a
    register it cannot write is one line naming the register (exit 2), and the register is left byte
    for byte as it was, and still verifies. A read-only file in a folder SQLite can write into
    (its -wal and -shm) can still be read; a read-only folder says so, for reading too."""
    folder = unprivileged.folder / "reg"
    register = folder / "register.sqlite3"
    monkeypatch.setenv("NEEDLE_REGISTER", str(register))
    assert screen(unprivileged.folder, "P-1")[0] == 0
    logged = run("register", "log", "--json")
    before = register.read_bytes()
    for path, mode in ((register, file_mode), (folder, folder_mode)):
        unprivileged.give(path)
        path.chmod(mode)
    try:
        ans = answers(unprivileged.folder)  # 0644, in a folder that user can read
        r = unprivileged.run(register, "screen", "--answers", str(ans), "--patient", "P-2", "--on", ON, "--json")
        read = unprivileged.run(register, "register", "verify")
    finally:
        folder.chmod(0o700)
        register.chmod(0o600)
    assert r.returncode == 2, r.stderr
    err = _one_line(r.stderr, register)
    if folder_mode & 0o200:
        assert err == f"needle: error: register {register}: read-only (cannot record anything here)\n"
        assert read.returncode == 0 and read.stdout.startswith("1 entries, head "), read.stderr
    else:  # SQLite cannot make the files it keeps beside the register
        assert err.startswith(f"needle: error: register {register}: read-only: its folder cannot be written"), err
        assert read.returncode == 2 and read.stdout == "" and _one_line(read.stderr, register) == err
    assert register.read_bytes() == before
    assert verify()[0] == 0 and run("register", "log", "--json") == logged


# ----------------------------------------------------------------- a full disk

#: Where a write runs out of room (RLIMIT_FSIZE): (a connection held open meanwhile, the limit in bytes,
#: whether the command's change is kept). SQLite maps a 32 KiB -shm file beside the register, and commits
#: by appending to the -wal file (a 32-byte header, then 4,120 bytes a page), copied into the register
#: when the last connection closes. A connection held open (another terminal's needle) keeps both files:
#: the limit then falls inside the command's own transaction.
FULL_DISK: list[tuple[bool, int, bool]] = [
    (False, 16 * 1024, False),  # the -shm file cannot be made: nothing is written at all
    (False, 64 * 1024, True),  # the commit fits the -wal; copying it into the register on close may not
    (True, 0, False),  # the -wal's header
    (True, 4000, False),  # its first page
    (True, 32 + 4120 + 2000, False),  # mid-way through its second page
    (True, 32 + 3 * 4120, False),  # at the start of its fourth page
]


def _limited(limit: int) -> Callable[[], None]:
    """A child's set-up: no file may grow past ``limit`` bytes (a write past it fails with EFBIG)."""

    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize("what", ["screen", "plan --book"])
def test_a_full_disk_is_one_line_and_the_register_is_as_it_was(tmp_path: Path, register: Path, what: str) -> None:
    """A write that runs out of room at spread-out points is one line naming the register (exit 2), and
    the register still verifies and holds exactly what it held before; a change whose commit got in is
    kept whole; a later command with room records as usual."""
    assert screen(tmp_path, "P-1")[0] == 0
    assert book("P-1", "--start", "2026-12-07")[0] == 0

    def argv_of(i: int) -> list[str]:
        if what == "screen":
            return command("screen", "--answers", str(answers(tmp_path)), "--patient", "P-2", "--on", ON, "--json")
        start = (dt.date(2026, 12, 14) + dt.timedelta(weeks=i)).isoformat()  # a change each time: booked anew
        return command("plan", "--patient", "P-1", "--indication", "fine-lines", "--start", start,
                       "--on", "2026-12-02", "--book", "--format", "json")  # fmt: skip

    held: sqlite3.Connection | None = None
    try:
        for i, (hold, limit, kept) in enumerate(FULL_DISK):
            argv = argv_of(i)
            if hold and held is None:
                held = sqlite3.connect(register)
            if held is not None:
                held.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty -wal: the limit counts from 0
            code, before, _ = run("register", "log", "--json")
            assert code == 0
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60, preexec_fn=_limited(limit))
            after = json.loads(run("register", "log", "--json")[1])
            if kept:
                assert r.returncode == 0, (limit, r.stderr)
                assert len(after) == len(json.loads(before)) + 1 and after[:-1] == json.loads(before), limit
            else:
                assert r.returncode == 2, (limit, r.stderr)
                err = _one_line(r.stderr, register)
                assert err.startswith(f"needle: error: register {register}: cannot write: disk I/O error"), err
                assert err.endswith("; this change was not recorded\n") or not hold, err  # stopped at its commit
                assert after == json.loads(before), limit
            assert verify()[0] == 0, limit
    finally:
        if held is not None:
            held.close()
    code, before, _ = run("register", "log", "--json")
    r = subprocess.run(argv_of(len(FULL_DISK)), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(run("register", "log", "--json")[1])) == len(json.loads(before)) + 1
    assert verify()[0] == 0


def test_the_config_names_the_register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nregister = "clinic/reg.sqlite3"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    monkeypatch.delenv("NEEDLE_REGISTER", raising=False)
    assert screen(tmp_path, "P-1")[0] == 0
    assert (tmp_path / "clinic" / "reg.sqlite3").is_file()
    code, out, _ = run("config", "show", "--json")
    assert code == 0 and json.loads(out)["values"]["register"]["value"] == str(tmp_path / "clinic" / "reg.sqlite3")


def test_backup_is_a_consistent_copy_never_over_a_file(tmp_path: Path, register: Path) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    copy = tmp_path / "backup.sqlite3"
    code, out, _ = run("register", "backup", str(copy))
    assert code == 0 and out == f"backed up {register} to {copy}\n"
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600
    import subprocess

    from tests.harness import command

    r = subprocess.run(command("register", "verify"), env={**os.environ, "NEEDLE_REGISTER": str(copy)},
                       capture_output=True, timeout=60)  # fmt: skip
    assert r.returncode == 0 and r.stdout.startswith(b"1 entries, head "), r.stderr
    code, _, err = run("register", "backup", str(copy))
    assert code == 2 and "exists" in err


def test_two_terminals_booking_at_once_both_land_in_order(tmp_path: Path, register: Path) -> None:
    """Separate processes, started together: each booking is one transaction; none is lost."""
    import subprocess

    from tests.harness import command

    assert screen(tmp_path, "P-1")[0] == 0
    assert screen(tmp_path, "P-2")[0] == 0
    env = {**os.environ, "NEEDLE_REGISTER": str(register)}
    procs = [
        subprocess.Popen(command("plan", "--patient", p, "--indication", "texture", "--start", start,
                                 "--on", ON, "--book", "--format", "json"),
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for p, start in (("P-1", "2026-12-07"), ("P-2", "2026-12-07"), ("P-1", "2026-12-14"))
    ]  # fmt: skip
    codes = [p.wait(timeout=120) for p in procs]
    errs = [p.stderr.read().decode() if p.stderr else "" for p in procs]
    assert all(c in (0, 75) for c in codes), errs
    assert verify()[0] == 0
    rows = sqlite3.connect(register).execute("SELECT count(*) FROM bookings").fetchone()[0]
    assert rows == codes.count(0)


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["screen", "book"]), st.sampled_from(["P-1", "P-2"]), st.integers(0, 20)),
        min_size=1,
        max_size=6,
    )
)
def test_any_sequence_of_screen_and_book_keeps_verify_green(tmp_path_factory: pytest.TempPathFactory,
                                                           steps: list[tuple[str, str, int]]) -> None:  # fmt: skip
    tmp = tmp_path_factory.mktemp("seq")
    path = tmp / "register.sqlite3"
    env = {"NEEDLE_REGISTER": str(path)}
    mp = pytest.MonkeyPatch()
    mp.setenv("NEEDLE_REGISTER", str(path))
    try:
        booked: dict[str, set[str]] = {}
        for what, patient, day in steps:
            if what == "screen":
                assert screen(tmp, patient)[0] == 0
            else:
                code, out, err = book(patient, "--start", f"2026-12-{7 + day:02d}")
                if code == 0:
                    uids = {s["id"] for s in json.loads(out)["sessions"]}
                    booked.setdefault(patient, set()).update(uids)
                else:
                    assert "screen first" in err
            assert verify()[0] == 0, env
        for patient, keys in booked.items():  # a revision never loses a calendar id
            code, ics, _ = run("export", patient, "--format", "ics", "--on", ON)
            assert code == 0 and all(f"-{key}@needle.invalid" in ics for key in keys), patient
    finally:
        mp.undo()


def test_a_booking_killed_at_any_point_leaves_the_register_whole(tmp_path: Path, register: Path) -> None:
    """SIGKILL a booking process at spread-out points: after every kill the register verifies, and
    holds the booking whole or not at all."""
    import random
    import signal
    import subprocess
    import time

    from tests.harness import command

    assert screen(tmp_path, "P-1")[0] == 0
    env = {**os.environ, "NEEDLE_REGISTER": str(register)}
    rng = random.Random(24)
    done = 0
    for attempt in range(10):
        proc = subprocess.Popen(
            command("plan", "--patient", "P-1", "--indication", "texture", "--start", f"2026-12-{7 + attempt:02d}",
                    "--on", ON, "--book", "--format", "json"),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=60)
        done += code == 0
        assert verify()[0] == 0, attempt
        db = sqlite3.connect(register)
        bookings = db.execute("SELECT count(*) FROM bookings").fetchone()[0]
        entries = db.execute("SELECT count(*) FROM journal").fetchone()[0]
        db.close()
        assert entries == 1 + bookings  # the screening, and each booking with its entry
    assert done < 10  # some were killed mid-way (the point of the test)


def test_a_stored_document_edited_and_packed_again_fails_verify(tmp_path: Path, register: Path) -> None:
    """The careful forger: unpack the screening record, clear its finding, pack it again."""
    import zlib

    assert screen(tmp_path, "P-1", skin_cancer_in_area=True)[0] == 4
    db = sqlite3.connect(register)
    (blob,) = db.execute("SELECT record FROM screenings").fetchone()
    text = zlib.decompress(blob).decode().replace("skin_cancer_in_area = true", "skin_cancer_in_area = false")
    db.execute("UPDATE screenings SET record = ?, verdict = 'eligible'", (zlib.compress(text.encode(), 9),))
    db.commit()
    db.close()
    code, _, err = verify()
    assert code == 1 and "entry 1: its screenings row was changed after it was written" in err
    db = sqlite3.connect(register)  # and its findings, so the record reads as a consistent all-clear
    (blob,) = db.execute("SELECT record FROM screenings").fetchone()
    doc = tomllib.loads(zlib.decompress(blob).decode())
    doc["findings"], doc["verdict"] = [], "eligible"
    import tomli_w

    db.execute("UPDATE screenings SET record = ?", (zlib.compress(tomli_w.dumps(doc).encode(), 9),))
    db.commit()
    db.close()
    code, _, err = book("P-1", "--start", "2026-12-07")
    assert code == 1 and "entry 1: changed after it was written; not used" in err  # never booked as all-clear
    assert run("export", "P-1", "--format", "ics")[0] == 2


def test_another_uid_key_verifies_all_but_the_patients_and_says_so(
    tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert screen(tmp_path, "P-1")[0] == 0
    other = tmp_path / "other-data"
    other.mkdir()
    (other / "uid_key").write_text("another-uid-key-0123456789abcdef\n")
    (other / "uid_key").chmod(0o600)
    monkeypatch.setenv("NEEDLE_DATA_DIR", str(other))
    code, out, err = verify()
    assert code == 0 and out.startswith("1 entries, head ")
    assert "written with another uid_key: its patient hashes were not checked" in err
    _edit(register, "UPDATE screenings SET verdict = 'defer'")
    assert verify()[0] == 1  # everything else is still checked
    code, _, err = screen(tmp_path, "P-2")  # and nothing is recorded with another key
    assert code == 2 and "written with another uid_key than the one in use" in err


# ----------------------------------------------------------------- batch --book


def _batch_list(path: Path, rows: list[tuple[str, str, str, dict[str, str]]]) -> Path:
    from tests.plan_helpers import DATE_QUESTIONS, SPEC_QUESTION_IDS

    no = {q: "no" for q in SPEC_QUESTION_IDS} | dict.fromkeys(DATE_QUESTIONS, "") | {"fitzpatrick": "2", "age": "35"}
    lines = [",".join(["patient_id", "indication", "start", *SPEC_QUESTION_IDS])]
    for pid, indication, start, changes in rows:
        values = no | changes
        lines.append(",".join([pid, indication, start, *(values[q] for q in SPEC_QUESTION_IDS)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_batch_book_keeps_each_rows_screening_and_books_each_planned_row(tmp_path: Path, register: Path) -> None:
    src = _batch_list(tmp_path / "l.csv", [
        ("B1", "fine-lines", "2027-01-04", {}),
        ("B2", "acne-scars", "2027-01-05", {"keloid_history": "yes"}),
        ("B3", "texture", "2027-01-06", {"herpes_history": "yes"}),
    ])  # fmt: skip
    out = tmp_path / "out"
    code, _, err = run("batch", str(src), "--out-dir", str(out), "--on", ON, "--book", "--jobs", "2", "--quiet")
    assert code == 0, err
    code, text, _ = run("history", "B2", "--json")
    assert code == 0 and [(e["event"], e["verdict"]) for e in json.loads(text)] == [("screened", "contraindicated")]
    code, text, _ = run("history", "B3", "--json")
    events = json.loads(text)
    assert [e["event"] for e in events] == ["screened", "booked"]
    assert events[0]["findings"] == ["herpes_history"] and events[1]["indication"] == "texture"
    for pid in ("B1", "B3"):  # the register's calendar is the file batch wrote, byte for byte
        r = run("export", pid, "--format", "ics", "--on", ON)
        assert r.exit_code == 0 and r.stdout_bytes == (out / f"{pid}.ics").read_bytes(), pid
    assert verify()[0] == 0
    # Booked again (another day): revision 2 of each series, same calendar ids, SEQUENCE up.
    code, _, err = run("batch", str(src), "--out-dir", str(out), "--on", "2026-12-02", "--book", "--quiet")
    assert code == 0, err
    code, text, _ = run("history", "B1", "--json")
    assert [e.get("revision") for e in json.loads(text) if e["event"] == "booked"] == [1, 2]
    cal = Calendar.from_ical((out / "B1.ics").read_bytes())
    assert all(int(e["SEQUENCE"]) >= 1 for e in cal.walk("VEVENT"))
    assert verify()[0] == 0


def test_batch_without_book_keeps_nothing(tmp_path: Path, register: Path) -> None:
    src = _batch_list(tmp_path / "l.csv", [("B1", "fine-lines", "2027-01-04", {})])
    assert run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON, "--quiet")[0] == 0
    assert not register.exists()


# ----------------------------------------------------------------- any single-cell edit is seen


TABLES = ("meta", "journal", "screenings", "series", "bookings", "outcomes", "diary")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A register with screenings (one refused), two bookings of one series and one of another."""
    tmp = tmp_path_factory.mktemp("filled")
    path = tmp / "register.sqlite3"
    mp = pytest.MonkeyPatch()
    mp.setenv("NEEDLE_REGISTER", str(path))
    # Module fixtures run before the per-test ones: the key is the one every test of the session uses.
    mp.setenv("NEEDLE_DATA_DIR", str(tmp_path_factory.getbasetemp() / "needle-data"))
    mp.setenv("NEEDLE_CONFIG", os.devnull)
    try:
        assert screen(tmp, "P-1", skin_cancer_in_area=True)[0] == 4
        assert screen(tmp, "P-1")[0] == 0
        assert screen(tmp, "P-2")[0] == 0
        assert book("P-1", "--start", "2026-12-07")[0] == 0
        assert book("P-1", "--start", "2026-12-14", on="2026-12-02")[0] == 0
        assert book("P-2", "--start", "2026-12-08")[0] == 0
        # A re-check, a session done and a cancellation: an outcomes row of each kind.
        recheck = tmp / "recheck.toml"
        doc = tomllib.loads(answers(tmp).read_text())
        from needlecli.catalog import load_screening

        asked = {q.id for q in load_screening("screening").questions if q.recheck}
        import tomli_w

        recheck.write_text(tomli_w.dumps({k: v for k, v in doc.items() if k in asked}))
        assert run("check", "P-2", "--answers", str(recheck), "--on", "2026-12-08")[0] == 0
        assert run("done", "P-2", "--on", "2026-12-08", "--depth", "cheeks=0.5")[0] == 0
        assert run("missed", "P-2", "--on", "2027-01-06")[0] == 0
        assert run("cancel", "P-1", "--reason", "moved away")[0] == 0
        assert run("register", "verify")[0] == 0
    finally:
        mp.undo()
    return path


def _copy(source: Path, target: Path) -> None:
    """A whole copy of a register (its WAL too): SQLite's backup API."""
    target.unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()


def _cells(path: Path) -> list[tuple[str, int, str]]:
    db = sqlite3.connect(path)
    cells = []
    for table in TABLES:
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        for (rowid,) in db.execute(f"SELECT rowid FROM {table}"):
            cells += [(table, rowid, c) for c in columns]
    db.close()
    return cells


def _set(path: Path, table: str, rowid: int, column: str, value: object) -> bool:
    """Write ``value`` into one cell as an outside program would (the journal's triggers dropped and
    put back). False when the database refuses it (a constraint): nothing was changed."""
    db = sqlite3.connect(path)
    triggers = [sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'")]
    try:
        db.execute("DROP TRIGGER IF EXISTS journal_append_only_update")
        db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (value, rowid))
        db.execute("DROP TRIGGER IF EXISTS journal_append_only_delete")
        for sql in triggers:
            db.execute(sql)
        db.commit()
        return True
    except sqlite3.IntegrityError:
        db.rollback()
        return False
    finally:
        db.close()


def _changed(value: object) -> object:
    if isinstance(value, int):
        return value + 1000
    if isinstance(value, bytes):
        return value[:-1] + bytes([value[-1] ^ 1]) if value else b"x"
    return f"{value}x"


def test_every_single_cell_edit_fails_verify(filled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cells = _cells(filled)
    assert len(cells) > 80
    copy = tmp_path / "register.sqlite3"
    monkeypatch.setenv("NEEDLE_REGISTER", str(copy))
    for table, rowid, column in cells:
        _copy(filled, copy)
        db = sqlite3.connect(copy)
        (old,) = db.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        db.close()
        if not _set(copy, table, rowid, column, _changed(old)):
            continue  # refused by the database itself (a UNIQUE column): no edit was made
        code, _, err = verify()
        assert code == 1, (table, rowid, column, err)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), value=st.one_of(st.integers(-5, 10**6), st.text(max_size=20), st.binary(max_size=20)))
def test_any_value_written_into_any_cell_fails_verify(
    filled: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, value: object
) -> None:
    table, rowid, column = data.draw(st.sampled_from(_cells(filled)))
    copy = tmp_path_factory.mktemp("cell") / "register.sqlite3"
    _copy(filled, copy)
    db = sqlite3.connect(copy)
    (old,) = db.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
    db.close()
    if value == old or not _set(copy, table, rowid, column, value):
        return
    mp = pytest.MonkeyPatch()
    mp.setenv("NEEDLE_REGISTER", str(copy))
    try:
        code, _, err = verify()
    finally:
        mp.undo()
    assert code == 1, (table, rowid, column, value, err)


@settings(max_examples=80, deadline=None)
@given(patient=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                       max_size=30).filter(lambda t: t.strip() and t.isprintable()))  # fmt: skip
def test_a_shared_series_saved_for_another_patient_is_the_full_rendering(patient: str) -> None:
    """`batch --book` writes a series shared by many patients to TOML once (`plans.retext`): byte for
    byte what writing each patient's plan in full gives."""
    import datetime as dt

    from needlecli import catalog, export, planning
    from needlecli.config import Config, export_options
    from needlecli.plans import retext

    config = Config(path=Path("none.toml"), exists=False, uid_key="retext-key-0123456789")
    protocol = catalog.load_treatment("acne-scars")
    flags = planning.PlanFlags(patient='P "1"', start=dt.date(2027, 1, 4), time=dt.time(10, 30), tz="Europe/London")
    first = planning.new_plan(protocol, flags, config, dt.date(2026, 12, 1))
    options = export_options(config, "plan", protocol=protocol)
    text = export.render("toml", first, options).decode()
    other = planning.for_patient(first, patient, config.uid_key or "")
    got = retext(text, first.request.patient, first.plan_id, patient, other.plan_id)
    assert got == export.render("toml", other, options).decode()


def test_a_batch_book_killed_at_any_point_leaves_the_register_whole(tmp_path: Path, register: Path) -> None:
    """SIGKILL `batch --book` (its workers too) at spread-out points: after every kill the register
    verifies and holds whole rows only (each booking with its journal entry); a final run completes."""
    import random
    import signal
    import subprocess
    import time

    from tests.harness import command

    src = tmp_path / "l.csv"
    src.write_text("patient_id,indication,start\n" + "".join(f"K{i:04d},fine-lines,2027-01-{4 + i % 20:02d}\n"
                                                            for i in range(400)))  # fmt: skip
    env = {**os.environ, "NEEDLE_REGISTER": str(register)}
    rng = random.Random(25)
    for attempt in range(6):
        proc = subprocess.Popen(
            command("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON, "--book", "--jobs", "2",
                    "--quiet"),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        time.sleep(rng.uniform(0.3, 2.5))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        if not register.exists():
            continue
        assert verify()[0] == 0, attempt
        db = sqlite3.connect(register)
        bookings, entries = db.execute(
            "SELECT (SELECT count(*) FROM bookings), (SELECT count(*) FROM journal)"
        ).fetchone()
        db.close()
        assert bookings == entries, attempt
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "out"), "--on", ON, "--book", "--quiet")
    assert code == 0, err
    assert verify()[0] == 0
    db = sqlite3.connect(register)
    assert db.execute("SELECT count(*) FROM series").fetchone() == (400,)
    db.close()
