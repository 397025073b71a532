"""Crashes and hangs at the edges (issue: safety round three, items 11 and the smaller ones): help
with stdout closed or on a full device, a help cache that is not a file, and saved-plan values no
clinic writes (a revision of 10**50, nan depths, an empty cancellation)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import output, run
from tests.plan_helpers import ON

NEEDLE = [sys.executable, "-c", "from needlecli.launch import main; main()"]


def needle(*args: str, env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*NEEDLE, *args], env=env, capture_output=False, timeout=60, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "NEEDLE_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": ""}


def test_help_with_stdout_closed_is_one_line(env: dict[str, str]) -> None:
    for _ in range(2):  # rendered, then from the cache
        r = needle("--help", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert r.returncode == 0
    shell = [*NEEDLE, "--help"]
    r = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *shell], env=env, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 2 and r.stderr == b"needle: error: stdout is closed\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_help_on_a_full_device_is_one_line(env: dict[str, str]) -> None:
    for _ in range(2):  # rendered, then from the cache
        with open("/dev/full", "wb") as full:
            r = subprocess.run([*NEEDLE, "--help"], env=env, stdout=full, stderr=subprocess.PIPE, timeout=60)
        assert r.returncode == 2
        assert r.stderr == b"needle: error: cannot write to stdout: No space left on device\n"


def test_a_help_cache_entry_that_is_not_a_file_is_never_read(env: dict[str, str], tmp_path: Path) -> None:
    needle("--help", env=env, stdout=subprocess.DEVNULL)
    (entry,) = (tmp_path / "cache").glob("help-*.txt")
    entry.unlink()
    entry.symlink_to("/dev/zero")
    r = subprocess.run([*NEEDLE, "--help"], env=env, capture_output=True, timeout=30)
    assert (r.returncode == 0 and r.stdout.startswith(b"\nUsage: needle")) or r.stdout.startswith(b"Usage")
    assert len(r.stdout) < 100_000


def saved(tmp_path: Path) -> Path:
    path = tmp_path / "p.toml"
    output("plan", "--on", ON, "-i", "fine-lines", "--patient", "P1", "--format", "toml", "--out", str(path))
    return path


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("revision = 0\n", "revision = 100000000000000000000000000000000000000000000000000\n", "must be between 0"),
        ("[request]\n", "[request]\nmax_depth_mm = nan\n", "max_depth_mm: must be a number of mm, not nan"),
        ("[request]\n", "[request]\nmax_depth_mm = -1.0\n", "max_depth_mm: must be more than 0"),
        ("cancelled = []", "cancelled = [{}]", "cancelled[0].id: missing"),
        ("stamp = ", 'stamp = "yesterday"\nold_stamp = ', "stamp: must be a date-time"),
    ],
)
def test_saved_plan_values_no_clinic_writes_are_one_error(tmp_path: Path, old: str, new: str, said: str) -> None:
    path = saved(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    code, out, err = run("plan", "--from", str(path), "--on", ON, "--format", "ics")
    assert code == 2 and out == "" and said in err, err


def test_eighty_thousand_unknown_keys_are_one_short_line(tmp_path: Path) -> None:
    answers = tmp_path / "a.toml"
    answers.write_text("".join(f"j{i} = 1\n" for i in range(80_000)))
    code, _, err = run("screen", "--answers", str(answers), "--on", ON)
    assert code == 2 and err.count("\n") == 1 and len(err) < 2_000
    assert "(and 79990 more problem(s))" in err


def test_config_init_makes_a_private_folder_whatever_the_umask(tmp_path: Path) -> None:
    config = tmp_path / "new" / "config.toml"
    env = {**os.environ, "NEEDLE_CONFIG": str(config), "NEEDLE_DATA_DIR": str(tmp_path / "data")}
    r = subprocess.run(["sh", "-c", 'umask 000 && exec "$@"', "sh", *NEEDLE, "config", "init"], env=env,
                       capture_output=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (config.parent.stat().st_mode & 0o777) == 0o700
    assert (config.stat().st_mode & 0o777) == 0o600


def test_an_overridden_eligible_verdict_never_says_no_contraindications(tmp_path: Path) -> None:
    from tests.plan_helpers import screening_without_herpes_rule

    proto = tmp_path / "clinic.toml"
    proto.write_text(screening_without_herpes_rule())
    answers = tmp_path / "a.toml"
    answers.write_text(
        (Path(__file__).parent.parent / "examples" / "eligible.toml")
        .read_text()
        .replace("herpes_history = false", "herpes_history = true")
    )
    code, out, _ = run("screen", "--answers", str(answers), "--protocol", str(proto), "--on", ON)
    assert code == 0 and "no contraindications found" not in out
    assert "ELIGIBLE under this clinic's rules" in out and "herpes_history (override: prescriber decides)" in out


def test_fitzpatrick_six_as_text_is_six_in_a_file_too(tmp_path: Path) -> None:
    from tests.plan_helpers import toml_answers

    answers = toml_answers(tmp_path, fitzpatrick='"6"')
    code, out, err = run("screen", "--answers", str(answers), "--on", ON, "--json")
    assert code == 0, err and '"fitzpatrick"' in out


def test_a_slashed_date_in_an_answers_file_is_echoed_as_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.plan_helpers import toml_answers

    config = tmp_path / "config.toml"
    config.write_text('[clinic]\ndate_order = "DMY"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    answers = toml_answers(tmp_path, vaccine_last_date='"03/10/2026"')
    code, _, err = run("screen", "--answers", str(answers), "--on", ON, "--json")
    assert code == 0, err
    assert "vaccine_last_date '03/10/2026' read as Sat 3 Oct 2026 (date_order DMY)" in err
