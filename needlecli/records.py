"""Files: reading answers, writing screening records, atomic writes.

Every file that holds patient data is written atomically (a hidden temporary
file in the same folder, fsync, then rename) with mode 0600, so a failed or
interrupted run never leaves a half-written file under its final name. The temp
file's name is bounded (`.START-OF-NAME.XXXXXXXX.tmp`), so every name the file
system allows can be written. A symbolic link is written through (its target is
replaced, the link stays); `/dev/stdout` and `/dev/fd/N` are written to the open
descriptor itself; any other device or FIFO is streamed into, never replaced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from needlecli import __version__, documents
from needlecli.dates import MAX_YEAR, MIN_YEAR
from needlecli.errors import AnswersError, RecordError
from needlecli.model import AnswerValue, Finding, ScreeningProtocol, ScreeningResult, finding_in_file

MAX_INPUT_BYTES = documents.MAX_BYTES


#: Longest file name when the file system cannot say (NAME_MAX on Linux, macOS and Windows).
DEFAULT_NAME_MAX = 255
#: How much of the final name a temp file's name repeats (in bytes): `.NAME.XXXXXXXX.tmp` stays
#: far below any file system's limit, so every legal name can be written.
TEMP_PREFIX_BYTES = 40


def write_atomic(path: Path, data: bytes | Iterable[bytes], mode: int = 0o600) -> None:
    """Write ``data`` (bytes, or chunks of them) to ``path`` atomically with ``mode``; raise
    RecordError on failure.

    A regular file (or a new one) is replaced whole: a hidden temp file in the same folder,
    fsync, then rename, so the existing file is untouched unless the whole new file was
    written. A symbolic link is written through: its target is replaced that way and the link
    stays. A device, FIFO or socket (``/dev/stdout``, ``/dev/null``, a named pipe) is not a
    file to replace: the bytes are streamed into it, with no temp file; a FIFO nobody reads
    from is an error rather than a wait.
    """
    try:
        _write(path, data, mode)
    except OSError as exc:
        raise RecordError(f"cannot write {path}: {exc.strerror or exc}") from None
    except ValueError:  # e.g. a NUL byte in the path
        raise RecordError(f"cannot write {path!r}: not a usable file name") from None


def writes_in_place(path: Path) -> bool:
    """True when ``path`` is ``-`` (stdout) or names a device, FIFO or socket: written as a
    stream, never read back or replaced."""
    if str(path) == "-":
        return True
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))


def name_problem(path: Path) -> str | None:
    """Why ``path``'s file name cannot be created in its folder (too long for the file system), or None."""
    folder = path.parent if str(path.parent) else Path(".")
    size = len(os.fsencode(path.name))
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = DEFAULT_NAME_MAX
    if limit <= 0:
        limit = DEFAULT_NAME_MAX
    if size > limit:
        return f"the file name is too long ({size} bytes; at most {limit})"
    return None


def _write(path: Path, chunks: bytes | Iterable[bytes], mode: int) -> None:
    data = chunks if isinstance(chunks, bytes) else None
    parts: Iterable[bytes] = (chunks,) if isinstance(chunks, bytes) else chunks
    fd = own_fd(path)
    if fd is not None:  # /dev/stdout, /dev/fd/N: this process's own open file, as the shell opened it
        if fd in (1, 2):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                (sys.stdout if fd == 1 else sys.stderr).flush()
        _write_all(fd, data if data is not None else b"".join(parts))
        return
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise RecordError(f"cannot write {path}: it is a folder")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _stream(path, data if data is not None else b"".join(parts))
        return
    target = Path(os.path.realpath(path)) if os.path.islink(path) else path
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RecordError(f"cannot write {path}: folder {folder} does not exist")
    problem = name_problem(target)
    if problem:
        raise RecordError(f"cannot write {path}: {problem}")
    replace_file(target, parts, mode)


def replace_file(target: Path, chunks: Iterable[bytes], mode: int = 0o600, suffix: str = ".tmp") -> None:
    """Replace the regular file ``target`` (or create it) whole: the chunks go into a hidden temp
    file in the same folder (`.NAME.XXXXXXXX<suffix>`, created exclusively with ``mode``), which is
    fsynced and renamed over ``target``; on any failure the temp file is removed and ``target`` is
    untouched. Raises OSError. ``suffix`` lets `batch` clean up only temp files of its own."""
    folder = target.parent if str(target.parent) else Path(".")
    fd = -1
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{temp_stem(target.name)}.", suffix=suffix, dir=folder)
        os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask took from mkstemp's 0600
        for chunk in chunks:
            _write_all(fd, chunk)
        os.fsync(fd)
        closing, fd = fd, -1  # never closed twice, even when close() fails (the number may be reused)
        os.close(closing)
        os.replace(tmp, target)
        tmp = ""
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def temp_stem(name: str) -> str:
    """The start of ``name``, at most TEMP_PREFIX_BYTES bytes once encoded (whole characters only)."""
    if len(name) <= TEMP_PREFIX_BYTES and name.isascii():
        return name or "out"
    out: list[str] = []
    size = 0
    for ch in name:
        size += len(os.fsencode(ch))
        if size > TEMP_PREFIX_BYTES:
            break
        out.append(ch)
    return "".join(out) or "out"


def _stream(path: Path, data: bytes) -> None:
    """Write into a device, FIFO or socket as it is (no temp file, no rename)."""
    flags = os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: a FIFO with no reader fails at once (ENXIO)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise RecordError(f"cannot write {path}: nothing is reading from it") from None
        raise
    try:
        os.set_blocking(fd, True)
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_FD_LINK = re.compile(r"/(?:proc/self|proc/(\d+)|dev)/fd/(\d+)")


def own_fd(path: Path) -> int | None:
    """The descriptor N when ``path`` is (or links to) ``/dev/fd/N`` or ``/proc/self/fd/N`` of this
    process (``/dev/stdout`` is such a link on Linux): written with ``write(N)``, so the file
    the shell opened keeps its offset and ``>>`` appends, instead of the file being replaced."""
    current = os.path.abspath(path)
    for _ in range(40):  # at most as many links as the kernel follows
        match = _FD_LINK.fullmatch(current)
        if match and (match.group(1) is None or int(match.group(1)) == os.getpid()):
            return int(match.group(2))
        try:
            link = os.readlink(current)
        except (OSError, ValueError):
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    return None


def read_answers_file(path: Path) -> dict[str, object]:
    """Read an answers file: TOML, or JSON (by extension, else by first character); ``-`` is stdin."""
    try:
        text = documents.decode(documents.read_bytes(path, "an answers file", MAX_INPUT_BYTES, stdin=True))
        suffix = path.suffix.lower()
        if suffix == ".json" or (suffix != ".toml" and text.lstrip().startswith("{")):
            doc = documents.parse_json(text, object_pairs_hook=_no_duplicates)
            if not isinstance(doc, dict):
                raise AnswersError(f"{path}: must be a JSON object of question ids to answers")
            return doc
        return documents.parse_toml(text)
    except documents.DocumentError as exc:
        raise AnswersError(f"{path}: {exc}") from None
    except _DuplicateKey as exc:
        raise AnswersError(f"{path}: question {exc} is answered twice") from None


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(repr(key))
        out[key] = value
    return out


def screening_record(
    *,
    result: ScreeningResult,
    protocol: ScreeningProtocol,
    answers: dict[str, AnswerValue],
    patient: str | None,
    clinician: str | None,
) -> dict[str, Any]:
    """The screening record as a TOML-ready dict (None written as false, as in answers)."""
    record: dict[str, Any] = {
        "record": "needle-screening",
        "format": 1,
        "patient": patient or "",
        "evaluated_on": result.evaluated_on,
        "verdict": result.verdict,
        "earliest_date": result.earliest_date or False,
        "clinician": clinician or "",
        "needle_version": __version__,
        "protocol": {
            "name": protocol.info.name,
            "version": protocol.info.version,
            "sha256": protocol.info.sha256,
            "origin": protocol.info.origin,
        },
        "answers": {q: (False if v is None else v) for q, v in answers.items()},
        # Where the clinic's protocol is looser than the standard rules, and the reason it recorded.
        "overrides": [{"question": q, "reason": reason} for q, reason in protocol.overrides],
        "findings": [
            {
                "id": f.id,
                "category": f.category,
                "message": f.message,
                "patient_message": f.patient_message,
                "until": f.until or False,
            }
            for f in result.findings
        ],
    }
    return record


def result_json(result: ScreeningResult, protocol: ScreeningProtocol, patient: str | None) -> dict[str, Any]:
    """The `screen --json` document."""

    def iso(d: dt.date | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "patient": patient,
        "verdict": result.verdict,
        "earliest_date": iso(result.earliest_date),
        "evaluated_on": result.evaluated_on.isoformat(),
        "findings": [
            {
                "id": f.id,
                "category": f.category,
                "message": f.message,
                "patient_message": f.patient_message,
                "until": iso(f.until),
            }
            for f in result.findings
        ],
        "protocol": {"name": protocol.info.name, "version": protocol.info.version, "sha256": protocol.info.sha256},
    }


def write_screening_record(path: Path, record: dict[str, Any]) -> None:
    import tomli_w

    write_atomic(path, tomli_w.dumps(record).encode("utf-8"))


def read_toml_file(path: Path, what: str) -> dict[str, Any]:
    """Read a TOML file written by needle (a record or a saved plan); RecordError on any problem."""
    try:
        return documents.parse_toml(documents.read_bytes(path, f"a {what}"))
    except documents.SyntaxProblem as exc:
        raise RecordError(f"{path}: not a valid {what} ({exc.language}: {exc.detail})") from None
    except documents.DocumentError as exc:
        raise RecordError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class ScreeningRecord:
    """The parts of a screening record that planning needs."""

    patient: str
    verdict: str
    earliest_date: dt.date | None
    evaluated_on: dt.date
    uses_retinoids: bool | None
    fitzpatrick: int | None
    answers: dict[str, object]
    protocol_origin: str
    protocol_sha256: str
    #: The findings the record holds (compared with the answers screened again under the protocol in force).
    findings: tuple[Finding, ...] = ()


VERDICTS = ("contraindicated", "defer", "caution", "eligible")


def read_screening_record(path: Path) -> ScreeningRecord:
    return screening_record_of(read_toml_file(path, "screening record"), str(path))


def screening_record_of(doc: dict[str, Any], path: str) -> ScreeningRecord:
    """A screening record document (a file's, or the register's), checked; ``path`` names it in errors."""
    if doc.get("record") != "needle-screening":
        raise RecordError(f"{path}: not a needle screening record (make one with `needle screen --out`)")
    c = documents.Checker()
    patient = c.string(doc, "patient", "", allow_empty=True)
    if patient:  # shown at the terminal and saved into plans: checked as --patient is
        from needlecli.errors import UsageError
        from needlecli.identity import check_patient

        try:
            check_patient(patient, "patient")
        except UsageError as exc:
            c.problems.append(str(exc))
    verdict = c.string(doc, "verdict", "")
    if verdict and verdict not in VERDICTS:
        c.err("verdict", f"unknown verdict {verdict!r}")
    earliest: dt.date | None = None
    if "earliest_date" not in doc:
        c.err("earliest_date", "missing")
    elif doc["earliest_date"] is not False:
        val = doc["earliest_date"]
        if isinstance(val, dt.date) and not isinstance(val, dt.datetime):
            earliest = val
            if not MIN_YEAR <= val.year <= MAX_YEAR:
                c.err("earliest_date", documents.YEAR_RANGE)
        else:
            c.err("earliest_date", f"must be a date or false, not {documents.kind(val)}")
    evaluated_on = c.date(doc, "evaluated_on", "")
    answers = c.table(doc, "answers", "", required=False)
    proto = c.table(doc, "protocol", "")
    origin = sha = ""
    if proto is not None:
        origin = c.string(proto, "origin", "protocol")
        sha = c.string(proto, "sha256", "protocol")
    findings = [f for _, f in c.tables(doc, "findings", "", allow_empty=True)]
    if c.problems:
        raise RecordError(f"{path}: {c.summary()}")
    _check_consistent(path, verdict, earliest, findings)
    answers = answers or {}
    retinoids = answers.get("uses_retinoids")
    fitz = answers.get("fitzpatrick")
    return ScreeningRecord(
        answers=answers,
        protocol_origin=origin,
        protocol_sha256=sha,
        patient=patient,
        verdict=verdict,
        earliest_date=earliest,
        evaluated_on=evaluated_on or dt.date.min,
        uses_retinoids=retinoids if isinstance(retinoids, bool) else None,
        fitzpatrick=fitz if isinstance(fitz, int) and not isinstance(fitz, bool) else None,
        findings=tuple(finding_in_file(f, str(f.get("id", ""))) for f in findings),
    )


def _check_consistent(path: Path | str, verdict: str, earliest: dt.date | None, findings: list[dict[str, Any]]) -> None:
    """Refuse a record whose verdict is more permissive than its own findings (e.g. hand-edited)."""
    from needlecli.model import severity_of

    worst = "eligible"
    defer_untils: list[dt.date | None] = []
    for i, f in enumerate(findings):
        cat = f.get("category")
        if cat not in ("contraindicated", "defer", "caution"):
            raise RecordError(f"{path}: findings[{i}].category: unknown category {cat!r}")
        if severity_of(cat) > severity_of(worst):
            worst = cat
        until = f.get("until")
        if isinstance(until, dt.date) and not MIN_YEAR <= until.year <= MAX_YEAR:
            raise RecordError(f"{path}: findings[{i}].until: {documents.YEAR_RANGE}")
        if cat == "defer":
            defer_untils.append(until if isinstance(until, dt.date) else None)
    if severity_of(worst) > severity_of(verdict):
        raise RecordError(f"{path}: verdict {verdict!r} contradicts its findings ({worst}); screen again")
    if verdict == "defer" and defer_untils:
        expected = None if None in defer_untils else max(d for d in defer_untils if d is not None)
        if earliest != expected:
            raise RecordError(f"{path}: earliest_date contradicts the deferral findings; screen again")
