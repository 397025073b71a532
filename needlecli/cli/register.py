"""`needle register verify | log | backup`, `needle history`, `needle export`: the clinic register
read back (and the helpers every command that writes to it uses)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from needlecli.errors import UsageError

if TYPE_CHECKING:
    from needlecli.config import Config
    from needlecli.register.events import Booking
    from needlecli.register.store import Register

app = typer.Typer(
    help="Check, list or back up the clinic register (screenings, booked series, the journal).",
    rich_markup_mode=None,
    no_args_is_help=True,
    epilog="\b\nExamples:\n  needle register verify\n  needle register log --patient P-0042\n"
    "  needle register backup /mnt/backup/register-2026-12-07.sqlite3",
)


def where(config: Config) -> Path:
    from needlecli.register.store import register_path

    return register_path(config.register)


def for_reading(config: Config) -> Register | None:
    """The register, or None when none exists yet (a reading command never creates it). One written
    by an earlier needle is brought to this needle's schema first (its tables and diary), once."""
    from needlecli.register.store import SCHEMA, open_for_reading, open_for_writing, schema_version

    register = open_for_reading(where(config))
    if register is not None and schema_version(register) < SCHEMA:
        register.close()
        return open_for_writing(where(config))
    return register


def booked_series(config: Config, register: Register, patient: str, indication: str | None) -> Booking:
    """The patient's latest booked revision (for ``indication``, else the series booked last); one
    line naming what there is when there is none."""
    from needlecli.register.events import indications_of, latest_booking

    booked = latest_booking(register, patient, indication)
    if booked is None:
        series = indications_of(register, patient)
        if indication and series:
            raise UsageError(f"{patient} has no {indication} series (booked: {', '.join(series)})")
        raise UsageError(f"{patient} has no booked series in the register ({where(config)}); book one with plan --book")
    return booked


def series_source(config: Config, patient: str, booked: Booking) -> str:
    """How a booked revision is named in messages (and as the source of its saved plan)."""
    return f"register {where(config)}: {patient}'s {booked.indication} series, revision {booked.revision}"


def for_writing(config: Config) -> Register:
    from needlecli.register.store import open_for_writing

    return open_for_writing(where(config))


def key_of(config: Config) -> str:
    from needlecli.keys import commit, uid_key

    commit()  # the register keeps patients keyed by it: a key made for this command is written now
    return uid_key(config.uid_key)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@app.command("verify", epilog="\b\nExamples:\n  needle register verify\n  needle register verify --head 3f5a...")
def verify(
    head: str | None = typer.Option(
        None, "--head", help="A head hash printed earlier: fails unless the journal still holds that entry."
    ),
) -> None:
    """Recompute the journal's hash chain and check every register row against the entry that wrote
    it. Prints the number of entries and the head hash; exit 0 when intact, 1 at the first entry that
    fails."""
    import re

    from needlecli.cli.common import require_stdout
    from needlecli.config import load_config
    from needlecli.register.journal import GENESIS
    from needlecli.register.journal import verify as check

    require_stdout()
    if head is not None and not re.fullmatch(r"[0-9a-f]{64}", head):
        raise UsageError("--head: expected the 64 hex digits a verify printed")
    cfg = load_config()
    register = for_reading(cfg)
    if register is None:
        if head is not None:
            raise UsageError(f"register {where(cfg)}: does not exist, so it holds no entry {head}")
        print(f"0 entries, head {GENESIS} (no register yet at {where(cfg)})")
        return
    with register:
        done = check(register, key_of(cfg), head)
    print(f"{done.entries} entries, head {done.head}: intact")
    if not done.patients_checked and done.entries:
        print(
            "needle: note: this register was written with another uid_key: its patient hashes were not checked "
            "(set that key in the config to check them)",
            file=sys.stderr,
        )


@app.command("log", epilog="\b\nExamples:\n  needle register log\n  needle register log --patient P-0042 --json")
def log(
    patient: str | None = typer.Option(None, "--patient", "-p", help="Only this patient's entries."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list, each entry with its full hashes."),
) -> None:
    """List the journal's entries, oldest first."""
    from needlecli.cli.common import require_stdout
    from needlecli.config import load_config
    from needlecli.identity import check_patient
    from needlecli.register.journal import entries, patient_hash

    require_stdout()
    patient = check_patient(patient)
    cfg = load_config()
    register = for_reading(cfg)
    found = []
    if register is not None:
        with register:
            found = entries(register, patient_hash(key_of(cfg), patient) if patient else None)
    if json_out:
        import json

        print(json.dumps([e._asdict() for e in found], indent=2))
        return
    for e in found:
        print(f"{e.seq:>7}  {e.at}  {e.event:<10}  patient {e.patient[:12]}  content {e.content[:12]}  {e.hash[:16]}")
    if not found:
        print("no entries", file=sys.stderr)


@app.command("backup", epilog="\b\nExample:\n  needle register backup /mnt/backup/register.sqlite3")
def backup(file: Path = typer.Argument(..., help="Where to write the copy (a new file).", metavar="FILE")) -> None:
    """Write a consistent copy of the register (SQLite's backup API), mode 0600."""
    import os
    import sqlite3

    from needlecli.config import load_config
    from needlecli.errors import RegisterError

    cfg = load_config()
    register = for_reading(cfg)
    if register is None:
        raise UsageError(f"register {where(cfg)}: does not exist yet; nothing to back up")
    if file.exists() or file.is_symlink():
        raise UsageError(f"{file} exists; give a new file name (a backup never replaces a file)")
    if not (file.parent if str(file.parent) else Path(".")).is_dir():
        raise UsageError(f"folder {file.parent} does not exist")
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        with register, sqlite3.connect(tmp) as copy:
            register.db.backup(copy)
        copy.close()
        os.link(tmp, file)  # never over a file that appeared meanwhile
    except FileExistsError:
        raise UsageError(f"{file} exists; give a new file name (a backup never replaces a file)") from None
    except (OSError, sqlite3.Error) as exc:
        raise RegisterError(f"cannot back up to {file}: {getattr(exc, 'strerror', None) or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"backed up {where(cfg)} to {file}")
