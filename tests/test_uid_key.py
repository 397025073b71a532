"""The key that keeps calendar ids private (SPEC `ICS` (v3)): a bad key file is one clear error naming
it, never replaced; a new key is written whole and exclusively, so two first uses end with one key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import run

PLAN = ("plan", "-i", "fine-lines", "--patient", "P1", "--on", "2026-12-01", "--format", "ics")


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("NEEDLE_DATA_DIR", str(folder))
    monkeypatch.setenv("NEEDLE_CONFIG", os.devnull)
    return folder


@pytest.mark.parametrize("content", [b"", b"abc\n", b"   \n", b"\xff\xfe" * 10])
def test_a_bad_key_is_one_error_naming_the_file_and_is_kept(data: Path, content: bytes) -> None:
    key = data / "uid_key"
    key.write_bytes(content)
    code, out, err = run(*PLAN)
    assert code == 2 and out == ""
    assert err.startswith(f"needle: error: {key}: ") and err.count("\n") == 1
    assert key.read_bytes() == content  # never replaced: calendars already sent depend on it


def test_a_key_that_is_not_a_regular_file_is_refused_without_reading_it(data: Path) -> None:
    key = data / "uid_key"
    key.symlink_to("/dev/zero")
    code, _, err = run(*PLAN)
    assert code == 2 and "is not a regular file" in err
    key.unlink()
    os.mkfifo(key)
    r = subprocess.run([sys.executable, "-m", "needlecli", *PLAN], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "is not a regular file" in r.stderr


def test_a_key_readable_by_others_is_a_warning(data: Path) -> None:
    key = data / "uid_key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    key.chmod(0o644)
    code, _, err = run(*PLAN)
    assert code == 0 and "can be read by other users" in err


def test_two_first_uses_at_once_end_with_one_key(data: Path, tmp_path: Path) -> None:
    env = {**os.environ, "NEEDLE_DATA_DIR": str(data), "NEEDLE_CONFIG": os.devnull}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "needlecli", *PLAN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert len({o[0] for o in outs}) == 1  # every calendar made with the same key
    assert [p.name for p in data.iterdir()] == ["uid_key"]  # no temporary file left
    assert len((data / "uid_key").read_text().strip()) == 32
    assert sum(b"created the key" in o[1] for o in outs) == 1


def test_a_full_disk_on_first_use_leaves_no_key(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from needlecli import keys
    from needlecli.errors import UsageError

    real_write = os.write

    def full(fd: int, data_: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keys.os, "write", full)
    with pytest.raises(UsageError, match="No space left on device"):
        keys.uid_key(None)
    monkeypatch.setattr(keys.os, "write", real_write)
    assert list(data.iterdir()) == []  # nothing half-written: the next run creates the key afresh
    assert len(keys.uid_key(None, announce=False)) == 32


def test_a_command_that_fails_creates_no_key_and_says_nothing_of_one(data: Path, tmp_path: Path) -> None:
    """The key is written when a calendar id is, never beside an error (a past start, a bad header)."""
    code, _, err = run("plan", "-i", "fine-lines", "--patient", "P1", "--on", "2026-12-01", "--start", "2026-11-02")
    assert code == 2 and "created the key" not in err
    bad = tmp_path / "l.csv"
    bad.write_text("who,what\nP1,fine-lines\n")
    code, _, err = run("batch", str(bad), "--out-dir", str(tmp_path / "o"), "--on", "2026-12-01")
    assert code == 2 and "created the key" not in err
    assert not (data / "uid_key").exists()
    code, out, err = run(*PLAN)
    assert code == 0 and err.count("created the key") == 1 and (data / "uid_key").exists()
    key = (data / "uid_key").read_text().strip()
    import hashlib
    import hmac

    seed = b"needle-plan\0P1\0fine-lines\0"
    assert any(hmac.new(key.encode(), seed + day.encode(), hashlib.sha256).hexdigest()[:16] in out
               for day in ("2026-12-01", "2026-12-02"))  # fmt: skip
