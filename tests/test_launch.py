"""The entry point: `needle --help` and friends from a cache of what click rendered, without typer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import command


def needle(
    *args: str, cache: Path, columns: str = "80", extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEEDLE_CACHE_DIR": str(cache), "COLUMNS": columns}
    return subprocess.run([sys.executable, *extra, "-m", "needlecli", *args], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip


@pytest.mark.parametrize("args", [["--help"], ["-V"], ["--version"], ["plan", "--help"], ["batch", "--help"]])
def test_help_and_version_come_from_the_cache_the_second_time(tmp_path: Path, args: list[str]) -> None:
    cache = tmp_path / "cache"
    first = needle(*args, cache=cache)
    assert first.returncode == 0, first.stderr
    assert len(list(cache.glob("help-*.txt"))) == 1
    second = needle(*args, cache=cache, extra=("-X", "importtime"))
    assert second.returncode == 0
    assert second.stdout == first.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in second.stderr.splitlines() if "import time" in line]
    assert "needlecli.launch" in imported
    assert not [m for m in imported if m.startswith(("typer", "click", "needlecli.cli", "rich"))], imported


def test_the_cached_text_is_what_typer_prints(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    needle("plan", "--help", cache=cache)
    cached = needle("plan", "--help", cache=cache).stdout
    direct = "import sys; sys.argv = ['needle', 'plan', '--help']; from needlecli.cli import main; main()"
    live = subprocess.run([sys.executable, "-c", direct], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "80"})  # fmt: skip
    assert live.returncode == 0 and cached == live.stdout


def test_another_width_or_another_code_is_another_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    narrow, wide = needle("plan", "--help", cache=cache, columns="60"), needle("plan", "--help", cache=cache)
    assert narrow.stdout != wide.stdout and len(list(cache.glob("help-*.txt"))) == 2
    from needlecli import launch

    key = launch.cache_key(["plan", "--help"])
    module = Path(launch.__file__).parent / "cli" / "plan.py"
    st = module.stat()
    try:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the code changed
        assert launch.cache_key(["plan", "--help"]) != key
    finally:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_an_unusable_cache_still_prints_help(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = needle("--help", cache=blocker / "cache")
    assert r.returncode == 0 and r.stdout.startswith("Usage: needle")


def test_only_fixed_texts_are_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    r = needle("plan", "--strat", "2027-01-04", cache=cache)
    assert r.returncode == 2 and "no such option --strat" in r.stderr
    assert not cache.exists() or not list(cache.iterdir())
    assert command("--help")[-1] == "--help"
