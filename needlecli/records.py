"""Files: reading answers, writing screening records, atomic writes.

Every file that holds patient data is written atomically (a hidden temporary
file in the same folder, fsync, then rename) with mode 0600, so a failed or
interrupted run never leaves a half-written file under its final name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from needlecli import __version__
from needlecli.errors import AnswersError, RecordError
from needlecli.files import read_bytes
from needlecli.model import AnswerValue, ScreeningProtocol, ScreeningResult

MAX_INPUT_BYTES = 1_000_000


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with ``mode``; raise RecordError on failure.

    The existing file (if any) is untouched unless the whole new file was written.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise RecordError(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise RecordError(f"cannot write {path}: it is a folder")
    fd = -1
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = ""
    except OSError as exc:
        raise RecordError(f"cannot write {path}: {exc.strerror or exc}") from None
    except ValueError:  # e.g. a NUL byte in the path
        raise RecordError(f"cannot write {path!r}: not a usable file name") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def read_answers_file(path: Path) -> dict[str, object]:
    """Read an answers file: TOML, or JSON (by extension, else by first character)."""
    if str(path) == "-":
        data = _stdin_bytes()
        if len(data) > MAX_INPUT_BYTES:
            raise AnswersError("-: too large for an answers file")
    else:
        data = read_bytes(path, "an answers file", AnswersError, MAX_INPUT_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnswersError(f"{path}: not UTF-8 text") from None
    suffix = path.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".toml" and text.lstrip().startswith("{"))
    if is_json:
        try:
            doc = json.loads(text, object_pairs_hook=_no_duplicates)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise AnswersError(f"{path}: not valid JSON: {getattr(exc, 'msg', exc)}") from None
        except _DuplicateKey as exc:
            raise AnswersError(f"{path}: question {exc} is answered twice") from None
        if not isinstance(doc, dict):
            raise AnswersError(f"{path}: must be a JSON object of question ids to answers")
        return doc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnswersError(f"{path}: not valid TOML: {exc}") from None


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(repr(key))
        out[key] = value
    return out


def _stdin_bytes() -> bytes:
    import sys

    return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)


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
    data = read_bytes(path, f"a {what}", RecordError, 10 * MAX_INPUT_BYTES)
    try:
        return tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise RecordError(f"{path}: not a valid {what} (TOML: {exc})") from None


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


def read_screening_record(path: Path) -> ScreeningRecord:
    doc = read_toml_file(path, "screening record")
    if doc.get("record") != "needle-screening":
        raise RecordError(f"{path}: not a needle screening record (make one with `needle screen --out`)")

    def field_(key: str, kinds: tuple[type, ...]) -> Any:
        if key not in doc:
            raise RecordError(f"{path}: {key}: missing")
        val = doc[key]
        if isinstance(val, dt.datetime) or not isinstance(val, kinds):
            raise RecordError(f"{path}: {key}: has the wrong type ({type(val).__name__})")
        return val

    verdict = field_("verdict", (str,))
    if verdict not in ("contraindicated", "defer", "caution", "eligible"):
        raise RecordError(f"{path}: verdict: unknown verdict {verdict!r}")
    earliest = field_("earliest_date", (dt.date, bool))
    if earliest is True:
        raise RecordError(f"{path}: earliest_date: must be a date or false")
    _check_consistent(path, verdict, earliest or None, doc.get("findings"))
    answers = doc.get("answers", {})
    if not isinstance(answers, dict):
        raise RecordError(f"{path}: answers: must be a table")
    retinoids = answers.get("uses_retinoids")
    fitz = answers.get("fitzpatrick")
    proto = doc.get("protocol")
    if (
        not isinstance(proto, dict)
        or not isinstance(proto.get("origin"), str)
        or not isinstance(proto.get("sha256"), str)
    ):
        raise RecordError(f"{path}: protocol: missing its origin and sha256; screen again")
    return ScreeningRecord(
        answers=answers,
        protocol_origin=proto["origin"],
        protocol_sha256=proto["sha256"],
        patient=field_("patient", (str,)),
        verdict=verdict,
        earliest_date=earliest or None,
        evaluated_on=field_("evaluated_on", (dt.date,)),
        uses_retinoids=retinoids if isinstance(retinoids, bool) else None,
        fitzpatrick=fitz if isinstance(fitz, int) and not isinstance(fitz, bool) else None,
    )


def _check_consistent(path: Path, verdict: str, earliest: dt.date | None, findings: object) -> None:
    """Refuse a record whose verdict is more permissive than its own findings (e.g. hand-edited)."""
    from needlecli.model import severity_of

    if findings is None:
        raise RecordError(f"{path}: findings: missing (an empty list is written as findings = [])")
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        raise RecordError(f"{path}: findings: must be an array of tables")
    worst = "eligible"
    defer_untils: list[dt.date | None] = []
    for i, f in enumerate(findings):
        cat = f.get("category")
        if cat not in ("contraindicated", "defer", "caution"):
            raise RecordError(f"{path}: findings[{i}].category: unknown category {cat!r}")
        if severity_of(cat) > severity_of(worst):
            worst = cat
        if cat == "defer":
            until = f.get("until")
            defer_untils.append(until if isinstance(until, dt.date) else None)
    if severity_of(worst) > severity_of(verdict):
        raise RecordError(f"{path}: verdict {verdict!r} contradicts its findings ({worst}); screen again")
    if verdict == "defer" and defer_untils:
        expected = None if None in defer_untils else max(d for d in defer_untils if d is not None)
        if earliest != expected:
            raise RecordError(f"{path}: earliest_date contradicts the deferral findings; screen again")
