"""What each row of a batch comes to: its result, and summary.csv's line for it."""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from typing import Any, Literal

from needlecli.documents import as_text_cell

#: summary.csv's columns, in order (new ones go at the end: scripts read the columns they know by position).
SUMMARY_FIELDS = (
    "row",
    "patient_id",
    "status",
    "verdict",
    "first_session",
    "last_session",
    "file",
    "error",
    "notes",
)
Status = Literal["planned", "refused", "error"]


@dataclass(frozen=True)
class RowResult:
    row: int
    patient_id: str
    status: Status
    _: dataclasses.KW_ONLY  # the rest by name: fourteen positional strings were easy to swap
    verdict: str = ""
    first_session: str = ""
    last_session: str = ""
    file: str = ""
    error: str = ""
    #: The plan's notes and what planning said of the row (a pause already under way, a caution ...).
    notes: tuple[str, ...] = ()
    # Not in the summary: for the run's own book-keeping (the reuse manifest).
    #: The file name the row owns (planned or not), the row's reuse key, the sha256 of what it wrote.
    name: str = ""
    key: str = ""
    digest: str = ""
    #: True when the file of an earlier run was current and kept instead of planned again.
    reused: bool = False
    #: What the next run rebuilds over (`history_text`), "" when nothing; the clinic calendar's events.
    history: str = ""
    clinic: bytes = b""
    #: ``history`` as the manifest keeps it (`pack`), when a worker process packed it (then
    #: ``history`` is ""): the compression is done beside the planning, not in the parent.
    packed: bytes = b""
    #: `batch --book`: what the parent keeps in the clinic register for this row, prepared by the worker:
    #: the row's screening record (packed TOML, with its evaluation date and verdict) and its booked
    #: plan (packed TOML, its indication, the revision it was rebuilt over, 0 for a new series, and
    #: its treatment protocol's hash).
    screening_record: bytes = b""
    screened_on: str = ""
    booking: bytes = b""
    indication: str = ""
    booked_over: int = 0
    protocol_sha: str = ""
    #: ... and its diary rows (`register.diary.Item`), with the plan id they belong to.
    diary: tuple[Any, ...] = ()
    plan_id: str = ""
    #: ... whether the row's time cell asked for its slot, and the name its file shows (`--include-name`):
    #: what placing the row in the clinic's slots again needs (`batch.slots`).
    slot_asked: bool = False
    shown: str = ""
    #: ... and whether only the name it is booked with changed (booked again in the places it holds).
    renamed: bool = False
    #: When the row's booked sessions and boosters start ("YYYY-MM-DD HH:MM", local): a run without
    #: `--book` counts them against the clinic's capacity (one note for the run).
    starts: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The summary line for --json: what is missing is null (summary.csv leaves it empty); the
        notes are a list (summary.csv joins them with `; `)."""
        doc = {f: (getattr(self, f) if getattr(self, f) != "" else None) for f in SUMMARY_FIELDS if f != "notes"}
        return {**doc, "notes": list(self.notes)}


def summary_csv_line(result: RowResult) -> str:
    buf = io.StringIO()
    cells = [_cell("; ".join(result.notes) if f == "notes" else getattr(result, f)) for f in SUMMARY_FIELDS]
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _cell(value: object) -> object:
    return as_text_cell(value) if isinstance(value, str) else value
