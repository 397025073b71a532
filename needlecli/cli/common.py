"""Small helpers shared by the commands (no heavy imports)."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

from needlecli.answers import BadAnswer, parse_date
from needlecli.errors import UsageError


def parse_on(value: str | None, flag: str = "--on") -> dt.date:
    """The evaluation date: the flag's ISO date, or today."""
    if value is None:
        return dt.date.today()
    return parse_flag_date(value, flag)


def parse_flag_date(value: str, flag: str) -> dt.date:
    try:
        return parse_date(value)
    except BadAnswer as exc:
        raise UsageError(f"{flag}: {value!r} is {exc}") from None


def check_patient(value: str | None, flag: str = "--patient") -> str | None:
    """Patient ids go into (hashed) UIDs and (cleaned) file names: 1-100 printable characters."""
    if value is None:
        return None
    if not value.strip() or len(value) > 100 or not value.isprintable():
        raise UsageError(f"{flag}: a patient id must be 1-100 printable characters")
    return value


def check_out(out: Path) -> None:
    """Fail before any work (or any question) if --out cannot be written there."""
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"--out: folder {folder} does not exist")
    if out.is_dir():
        raise UsageError(f"--out: {out} is a folder; give a file name")


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the same orderly stop as Ctrl-C (exit 143 instead of 130)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM unwinds like Ctrl-C, so the same clean-up runs (nothing half-written)."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def interrupt_code(exc: BaseException) -> int:
    return 143 if isinstance(exc, Terminated) else 130


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False
