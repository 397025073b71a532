"""One way to run `needle` in the tests: in process, or as a separate process.

In process (fast; most tests)::

    code, out, err = run("plan", "--indication", "fine-lines")   # unpacks as a tuple
    r = run("plan", "--indication", "fine-lines", input="...")
    r.exit_code, r.stdout, r.stderr, r.stdout_bytes, r.exception
    data = output("plan", ..., "--format", "ics")                  # stdout bytes of a run that must succeed

A crash (any exception but SystemExit) fails the test with its own traceback, and
no run may print one; a test that wants to see the exception passes
``allow_exception=True`` and reads ``r.exception``.

As a separate process (signals, worker pools, pipes, start-up)::

    run_process("batch", "l.csv", ..., timeout=120)      # subprocess.run, output captured
    start_process("batch", "l.csv", ..., stderr=PIPE)    # subprocess.Popen
    command("screen", "--on", ON)                        # the argv, e.g. for pexpect

And what came out, against the golden files (``check_golden``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from needlecli.cli import app

GOLDEN = Path(__file__).parent / "golden"


class Result(tuple[int, str, str]):
    """What one in-process run gave: unpacks and compares as ``(exit_code, stdout, stderr)``."""

    stdout_bytes: bytes
    exception: BaseException | None

    def __new__(
        cls, exit_code: int, stdout: str, stderr: str, stdout_bytes: bytes, exception: BaseException | None
    ) -> Result:
        self = super().__new__(cls, (exit_code, stdout, stderr))
        self.stdout_bytes = stdout_bytes
        self.exception = exception
        return self

    @property
    def exit_code(self) -> int:
        return self[0]

    @property
    def stdout(self) -> str:
        return self[1]

    @property
    def stderr(self) -> str:
        return self[2]


def run(
    *args: str,
    input: str | bytes | None = None,
    env: Mapping[str, str | None] | None = None,
    allow_exception: bool = False,
) -> Result:
    """Run ``needle ARGS`` in this process (``env``: variables to set, or unset with None)."""
    r = CliRunner().invoke(app, list(args), input=input, env=env, catch_exceptions=allow_exception)
    if not allow_exception:
        assert "Traceback" not in r.stderr, r.stderr
    return Result(r.exit_code, r.stdout, r.stderr, r.stdout_bytes, r.exception)


def output(*args: str, input: str | bytes | None = None, env: Mapping[str, str | None] | None = None) -> bytes:
    """The stdout bytes of ``needle ARGS``, which must succeed."""
    r = run(*args, input=input, env=env)
    assert r.exit_code == 0, r.stderr
    return r.stdout_bytes


def command(*args: str) -> list[str]:
    """The argv that runs ``needle ARGS`` as its own process, under this interpreter."""
    return [sys.executable, "-m", "needlecli", *args]


def run_process(
    *args: str, input: str | bytes | None = None, timeout: float = 60, text: bool = False
) -> subprocess.CompletedProcess[Any]:
    """Run ``needle ARGS`` as its own process and wait for it; stdout and stderr are captured."""
    return subprocess.run(command(*args), input=input, capture_output=True, timeout=timeout, text=text)


def start_process(*args: str, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``needle ARGS`` as its own process (``popen``: e.g. stderr=PIPE, start_new_session=True)."""
    return subprocess.Popen(command(*args), **popen)


def wait_for_files(folder: Path, count: int, suffix: str = ".ics", seconds: float = 60) -> None:
    """Wait until a running batch has written ``count`` files (or the time is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if folder.is_dir() and sum(1 for f in os.listdir(folder) if f.endswith(suffix)) >= count:
            return
        time.sleep(0.02)


def check_golden(name: str, data: bytes) -> None:
    """``data`` must equal tests/golden/NAME; after an intended change, rerun with NEEDLE_REGEN_GOLDEN=1
    (e.g. ``NEEDLE_REGEN_GOLDEN=1 .venv/bin/pytest tests -k golden``) and review the diff."""
    path = GOLDEN / name
    # The zone data release a calendar names is the installed tzdata's: the golden file says "GOLDEN".
    data = re.sub(rb"X-NEEDLE-TZDATA:[0-9a-z]+", b"X-NEEDLE-TZDATA:GOLDEN", data)
    if os.environ.get("NEEDLE_REGEN_GOLDEN"):
        path.write_bytes(data)
    assert path.exists(), f"missing golden file {name}: run with NEEDLE_REGEN_GOLDEN=1"
    assert data == path.read_bytes(), f"{name} differs from its golden file"
