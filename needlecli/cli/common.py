"""Small helpers shared by the commands (no heavy imports: the command modules import this at
start-up for their shell completion, so everything else is imported where it is used)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from needlecli.errors import Terminated, UsageError

if TYPE_CHECKING:
    from needlecli.model import ExportOptions, Plan, ScreeningProtocol, TreatmentProtocol
    from needlecli.plans import SavedPlan
    from needlecli.records import ScreeningRecord


def parse_on(value: str | None, flag: str = "--on", order: str = "ISO") -> dt.date:
    """The evaluation date: the flag's date (ISO, or in the clinic's date ``order``), or today."""
    if value is None:
        return dt.date.today()
    return parse_flag_date(value, flag, order)


def stamp_of(on: str | None, order: str = "ISO") -> dt.datetime:
    """When a plan revision is made: now (UTC, to the second), or midnight of --on (reproducible)."""
    if on is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    from needlecli.dates import parse_date

    return dt.datetime.combine(parse_date(on, order), dt.time(), tzinfo=dt.UTC)  # --on, read (and echoed) before


def parse_flag_date(value: str, flag: str, order: str = "ISO") -> dt.date:
    """A date flag's value: ISO, a month name, or day and month as numbers in the clinic's date
    ``order`` (`needlecli.dates`). A date written the order-dependent way (03/05/2026) is echoed
    on stderr as understood ("--start 03/05/2026: Sun 3 May 2026"), so a misread shows at once."""
    from needlecli.dates import BadAnswer, describe, is_numeric_day_month, parse_date

    try:
        day = parse_date(value, order)
    except BadAnswer as exc:
        raise UsageError(f"{flag}: {value!r} is {exc}") from None
    if is_numeric_day_month(value):
        print(f"needle: {flag} {value.strip()}: {describe(day)}", file=sys.stderr)
    return day


def check_out(out: Path, stdout_ok: bool = True) -> None:
    """Fail before any work (or any question) if --out cannot be written there.

    ``-`` is standard output (unless ``stdout_ok`` is False); a device or FIFO is written into
    as it is (see `needlecli.records.write_atomic`).
    """
    if str(out) == "-":
        if not stdout_ok:
            raise UsageError("--out -: this command writes a file; give a file name")
        require_stdout()
        return
    from needlecli.records import name_problem

    try:
        folder = out.parent if str(out.parent) else Path(".")
        if not folder.is_dir():
            raise UsageError(f"--out: folder {folder} does not exist")
        if out.is_dir():
            raise UsageError(f"--out: {out} is a folder; give a file name")
        problem = name_problem(out)
    except OSError as exc:
        raise UsageError(f"--out: cannot use {out}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte
        raise UsageError(f"--out: {out!r} is not a usable file name") from None
    if problem:
        raise UsageError(f"--out: {problem}")


def require_stdout() -> None:
    """Refuse to start a command whose output would go nowhere (`needle ... >&-`)."""
    if sys.stdout is None:
        raise UsageError(STDOUT_CLOSED)


#: Said when the output has nowhere to go; the translator says the same for any command.
STDOUT_CLOSED = "stdout is closed"


#: The signals that stop a run in order, as Ctrl-C does: SIGTERM (kill, a service manager) and
#: SIGHUP (the terminal closed). Each exits 128 + its number.
STOP_SIGNALS = ("SIGTERM", "SIGHUP")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP unwind like Ctrl-C, so the same clean-up runs (nothing
    half-written, no temp file left) and the exit code is 143 or 129.

    A process forked inside (a batch worker) does not inherit the stop: there the signal does
    what it would by default, so the parent alone handles it.
    """
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return
    owner = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated(signum)

    numbers = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    old = {num: signal.signal(num, handler) for num in numbers}
    try:
        yield
    finally:
        for num, previous in old.items():
            signal.signal(num, previous)


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def check_name(name: str | None, include_name: bool) -> str | None:
    """The name to show in exports: asked for with --name (which implies --include-name)."""
    if name is not None and not name.strip():
        raise UsageError("--name: give the patient's name, or leave --name out")
    if include_name and name is None:
        raise UsageError("--include-name needs --name NAME")
    if name is not None and (not name.isprintable() or len(name) > 100):
        raise UsageError("--name: must be one line of printable text, at most 100 characters")
    return name.strip() if name is not None else None


def over_calendar(
    plan: Plan, out: Path, options: ExportOptions, document: str, key: str, stamp: dt.datetime, order: str
) -> tuple[Plan, ExportOptions, bool]:
    """``plan`` and its options (with the calendar's series mark, `identity.series_mark` for
    ``document`` under ``key``) as it is written over needle's calendar of the same series at ``out``
    (`plan` or `aftercare` ``--format ics --out`` again, with another start, time or number of sessions),
    what it did said on stderr (dates in the clinic's ``order``): the
    calendar ids it gave each item kept, every SEQUENCE raised and DTSTAMP moved (RFC 5545 3.8.7.4),
    the items that went written as cancelled, so a calendar that imported it updates instead of
    doubling; and whether the file already holds exactly this plan (then it is left as it is, not
    written again). A needle calendar there of another patient, indication or document is refused;
    one without a series mark (from stdout, `batch`, an older needle) is replaced; any other file is
    left to `outfiles.guard`."""
    from needlecli import export, revisions, zones
    from needlecli.cli import for_people
    from needlecli.identity import series_mark
    from needlecli.records import writes_in_place
    from needlecli.render.ics_read import series_of_calendar

    options = dataclasses.replace(options, series_mark=series_mark(plan.request, document, key))
    if writes_in_place(out) or not out.is_file():
        return plan, options, False
    try:
        with out.open("rb") as fh:
            data = fh.read(1 << 22)
    except OSError:
        return plan, options, False
    mark, found = series_of_calendar(data, zones.zone(plan.request.tz))
    if mark is not None and mark != options.series_mark:
        raise UsageError(
            f"--out: {out} is needle's calendar of another patient, indication or document; choose another file"
        )
    if found is None or mark is None:
        return plan, options, False
    before = revisions.History.of_calendar(plan.request.patient, plan.request.indication, found)
    same = revisions.with_revisions(
        dataclasses.replace(plan, plan_id=before.plan_id), lambda item, _: before.items.get(item, (0,))[0]
    )
    same = dataclasses.replace(same, revision=before.revision, stamp=before.stamp, cancelled=before.cancelled)
    if export.render("ics", same, options) == data:
        print(f"needle: {out} already holds this plan: unchanged", file=sys.stderr)
        return same, options, True
    rebuilt = revisions.rebuild_over(plan, before, f"--out {out}", stamp)
    went = len(rebuilt.cancelled) - len(before.cancelled)
    said = f"rebuilt over {out}: same calendar ids, SEQUENCE raised" + (
        f", {went} item{'s' if went != 1 else ''} no longer in the plan written as cancelled" if went > 0 else ""
    )
    print(f"needle: {for_people(said, order)}", file=sys.stderr)
    return rebuilt, options, False


def emit(data: bytes, out: Path | None) -> None:
    """Write a document to --out (atomic, mode 0600; a device or FIFO is streamed into) or to
    stdout (also for ``--out -``), as bytes whatever stdout's encoding. A calendar id key made for
    this command is written first (`keys.commit`): what is written may carry ids keyed by it."""
    from needlecli.keys import commit

    commit()
    if out is not None and str(out) != "-":
        from needlecli.records import write_atomic, writes_in_place

        write_atomic(out, data)
        if not writes_in_place(out):  # a file now (not a device or a pipe): say where it went
            print(f"needle: saved to {out}", file=sys.stderr)
        return
    require_stdout()
    stream = getattr(sys.stdout, "buffer", None)
    if stream is not None:
        sys.stdout.flush()  # anything written as text goes first
        stream.write(data)
        stream.flush()
    else:  # a text-only stream (a test harness, an IDE console)
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()


def parse_range(text: str, flag: str, order: str = "ISO") -> tuple[dt.date, dt.date]:
    """`START..END`, both dates inclusive (a single date is a one-day range)."""
    first_text, sep, last_text = text.partition("..")
    first = parse_flag_date(first_text, flag, order)
    last = parse_flag_date(last_text, flag, order) if sep else first
    if last < first:
        raise UsageError(f"{flag}: {text!r} ends before it starts")
    return first, last


def parse_zones(text: str | None, flag: str = "--zones") -> tuple[str, ...]:
    """``cheeks,scars``: the zones a plan treats (checked against the protocol when planning)."""
    if text is None:
        return ()
    zones = tuple(z.strip().lower() for z in text.split(","))
    if not all(zones):
        raise UsageError(f"{flag}: expected zone names separated by commas, such as cheeks,scars; got {text!r}")
    return zones


def parse_moves(specs: list[str], order: str = "ISO") -> list[tuple[str, dt.date]]:
    """`--move N=DATE` (session N) or `--move BN=DATE` (booster N): (label, date); DATE as any date flag."""
    moves = []
    for spec in specs:
        label_text, sep, date_text = spec.partition("=")
        label = label_text.strip().upper()
        number = label[1:] if label.startswith("B") else label
        if not sep or not (number.isdecimal() and number.isascii()):
            raise UsageError(f"--move: expected N=YYYY-MM-DD or BN=YYYY-MM-DD such as 3=2027-02-10, got {spec!r}")
        moves.append((label, parse_flag_date(date_text, "--move", order)))
    return moves


def load_saved_plan(
    path: Path,
    moves: list[tuple[str, dt.date]],
    on: dt.date,
    notes: list[str],
    stamp: dt.datetime | None = None,
    screening_ref: str | None = None,
) -> tuple[Plan, TreatmentProtocol]:
    """A saved plan (`--from`, `aftercare --plan`), checked against its protocol, with the moves
    applied; and that treatment protocol (its checklists and handout words), loaded once."""
    from needlecli.errors import RecordError
    from needlecli.plans import RECORD, read_saved_plan

    saved = read_saved_plan(path)
    if saved is None:
        raise RecordError(f'{path}: not a needle plan (record = "{RECORD}" is missing)')
    return plan_of_saved(saved, str(path), moves, on, notes, stamp, screening_ref)


def plan_of_saved(
    saved: SavedPlan,
    source: str,
    moves: list[tuple[str, dt.date]],
    on: dt.date,
    notes: list[str],
    stamp: dt.datetime | None = None,
    screening_ref: str | None = None,
) -> tuple[Plan, TreatmentProtocol]:
    """A saved plan already read (a file's, or the register's), checked against the protocols in
    force, with the moves applied; and its treatment protocol."""
    from needlecli import catalog
    from needlecli.config import load_config

    protocols_dir = load_config().protocols_dir
    in_force = catalog.load_screening(screening_ref or catalog.STANDARD_SCREENING, protocols_dir)
    return catalog.plan_in_force(saved, source, moves, on, notes, protocols_dir, in_force, stamp)


def load_screening_record(
    path: Path, protocols_dir: Path | None = None, ref: str | None = None
) -> tuple[ScreeningRecord, ScreeningProtocol]:
    """A screening record and the screening protocol in force (``ref`` from `--protocol`, else the
    clinic's `protocols_dir`, else the bundled one): never a protocol the record names, which an
    edited record could point anywhere."""
    from needlecli import catalog
    from needlecli.records import read_screening_record

    record = read_screening_record(path)
    protocol = catalog.load_screening(ref or catalog.STANDARD_SCREENING, protocols_dir)
    unknown = [qid for qid in record.answers if qid not in protocol.ids]
    if unknown and record.protocol_sha256 != protocol.info.sha256:
        raise UsageError(
            f"--screening: {path} answers question {unknown[0]!r}, which screening protocol "
            f"{protocol.info.name} ({protocol.info.origin}) does not ask; it was screened under "
            f"{record.protocol_origin}: give that protocol with --protocol"
        )
    return record, protocol


def complete_treatments(incomplete: str) -> list[str]:
    """Shell completion for --indication: the treatment protocols (the clinic's own too)."""
    return _complete_protocols(incomplete, "treatment")


def complete_screenings(incomplete: str) -> list[str]:
    """Shell completion for screen --protocol: the screening protocols."""
    return _complete_protocols(incomplete, "screening")


def complete_protocols(incomplete: str) -> list[str]:
    """Shell completion for a protocol name of either kind (`protocols show`)."""
    return _complete_protocols(incomplete, None)


def _complete_protocols(incomplete: str, kind: str | None) -> list[str]:
    """Protocol names starting with what was typed (any case); a protocol that cannot be read, or a
    config that cannot, leaves completion quiet rather than printing an error into the shell."""
    from needlecli import catalog, choices, documents
    from needlecli.config import load_config
    from needlecli.errors import NeedleError

    try:
        folder = load_config().protocols_dir
    except NeedleError:
        folder = None
    found = []
    for name in catalog.names(folder):
        if not choices.normalise(name).startswith(choices.normalise(incomplete)):
            continue
        try:  # the kind the file declares (a Tab must answer at once: no full validation)
            declared = documents.parse_toml(catalog.read_source(name, folder)[0]).get("protocol", {}).get("kind")
        except (NeedleError, documents.DocumentError, AttributeError):
            continue
        if kind is None or declared == kind:
            found.append(name)
    return found


def complete_formats(document: str, extra: tuple[str, ...] = ()) -> Callable[[str], list[str]]:
    """Shell completion for --format: the formats ``document`` (plan or aftercare) is written in."""

    def complete(incomplete: str) -> list[str]:
        from needlecli import export

        names = (*extra, *export.formats("plan" if document == "plan" else "aftercare"))
        return [n for n in names if n.startswith(incomplete.lower())]

    return complete
