"""What an existing `--out` file is, so needle never replaces a file it did not write.

`--out` may replace a file needle wrote of the same kind (a calendar over a calendar, a saved plan
of the same patient over a saved plan); it refuses a file that is one of the command's own inputs,
a needle file of another kind or another patient, and any file needle did not write. Devices and
FIFOs are streams, written into as they are (see `needlecli.records.write_atomic`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from needlecli.errors import UsageError

#: How much of an existing file is read to tell what it is.
HEAD_BYTES = 64 * 1024

#: What each --format writes, as a kind of file.
KINDS = {
    "toml": "saved plan",
    "json": "saved plan",
    "ics": "calendar",
    "html": "handout",
    "md": "Markdown document",
    "table": "plan table",
    "record": "screening record",
    "due": "due list",
}


def identify(path: Path) -> tuple[str | None, str | None]:
    """(kind, patient) of a file needle wrote; (None, None) for anything else. The patient is known
    for saved plans and screening records."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None, None
    text = head.decode("utf-8", "replace")
    if _is_due_list(text):
        return "due list", None
    if text.startswith("BEGIN:VCALENDAR") and "PRODID:-//needle//" in text:
        return "calendar", None
    if '<meta name="generator" content="needle">' in text or (
        text.upper().startswith("<!DOCTYPE HTML>")
        and ("<title>Your treatment calendar and aftercare" in text or "<title>Your aftercare" in text)
    ):
        return "handout", None  # the generator line since this version; the handout's title before it
    if text.startswith(("# Clinician plan sheet", "# Aftercare after microneedling")):
        return "Markdown document", None
    if text.startswith("Treatment plan · "):
        return "plan table", None
    if text.startswith('{\n  "resourceType": ') and '"source": "https://needle.invalid/fhir/needle"' in text:
        return "FHIR document", None
    for record, kind in (("needle-plan", "saved plan"), ("needle-screening", "screening record")):
        if f'record = "{record}"' in text or f'"record": "{record}"' in text:
            return kind, _patient(path)
    return None, None


def _is_due_list(text: str) -> bool:
    """`needle due` in any of its formats."""
    first = text.split("\n", 1)[0]
    return (
        (text.startswith("BEGIN:VCALENDAR") and "PRODID:-//needle//due//" in text)
        or '<meta name="generator" content="needle due">' in text
        or (first.startswith("Due ") and "and anything overdue" in first)
        or first.startswith("patient,indication,what,number,of,date,start,status,check")
        or (text.lstrip().startswith("[") and ('"check":' in text or text.strip() == "[]"))
    )


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _patient(path: Path) -> str | None:
    from needlecli import documents

    try:
        data = documents.read_bytes(path, "file")
        doc = documents.parse_json(data) if data.lstrip().startswith(b"{") else documents.parse_toml(data)
    except (documents.DocumentError, OSError, ValueError):
        return None
    patient = doc.get("patient", "") if isinstance(doc, dict) else None
    return patient if isinstance(patient, str) else None


def guard(out: Path | None, writing: str, patient: str | None = None, inputs: Iterable[Path | None] = ()) -> None:
    """Refuse to replace ``out`` unless it is a file needle wrote of kind ``writing`` (a key of
    ``KINDS``) and, for saved plans and records, of the same patient."""
    if out is None or str(out) == "-":
        return
    try:
        st = os.stat(out)
    except OSError:
        return  # nothing there (or not reachable: the write says why)
    from needlecli.records import own_fd, writes_in_place

    if not stat.S_ISREG(st.st_mode) or writes_in_place(out) or own_fd(out) is not None:
        return  # a device, a FIFO, or the shell's own stdout (`--out /dev/stdout >> log`)
    mine = [g for g in inputs if g is not None and str(g) != "-" and _same(g, out)]
    kind, theirs = identify(out)
    wanted = KINDS[writing]
    if kind is None:
        if st.st_size == 0:
            return  # an empty file holds nothing to lose (a name made with touch or mktemp)
        raise UsageError(f"--out: {out} exists and is not a file needle wrote; choose another name or move it")
    if kind != wanted:
        whose = " (this command's own input)" if mine else ""
        raise UsageError(
            f"--out: {out} holds a {kind}{whose}; writing a {wanted} would replace it; choose another file"
        )
    if theirs is not None and patient is not None and theirs != patient:
        raise UsageError(f"--out: {out} holds the {kind} of another patient; choose another file")
