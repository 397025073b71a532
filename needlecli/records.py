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
from pathlib import Path
from typing import Any

from needlecli import __version__
from needlecli.errors import AnswersError, RecordError
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
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def read_answers_file(path: Path) -> dict[str, object]:
    """Read an answers file: TOML, or JSON (by extension, else by first character)."""
    try:
        data = path.read_bytes() if str(path) != "-" else _stdin_bytes()
    except FileNotFoundError:
        raise AnswersError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AnswersError(f"{path}: is a folder, not an answers file") from None
    except OSError as exc:
        raise AnswersError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise AnswersError(f"{path}: too large for an answers file ({len(data)} bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnswersError(f"{path}: not UTF-8 text") from None
    suffix = path.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".toml" and text.lstrip().startswith("{"))
    if is_json:
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise AnswersError(f"{path}: not valid JSON: {getattr(exc, 'msg', exc)}") from None
        if not isinstance(doc, dict):
            raise AnswersError(f"{path}: must be a JSON object of question ids to answers")
        return doc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnswersError(f"{path}: not valid TOML: {exc}") from None


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
