"""The export registry: every file format needle writes, in one place.

`plan`, `aftercare` and `batch` take their `--format` choices and help from here,
and write what ``exporter.render(plan, options)`` returns. A new format is one
module under `needlecli/render/` with ``export(plan, options) -> bytes`` and one
line in ``EXPORTERS``. Renderer modules are imported only when used (start-up).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, cast

from needlecli.errors import UsageError

if TYPE_CHECKING:  # the registry is read at start-up (for --help): no model, no dataclasses here
    from needlecli.model import Document, ExportOptions, Plan

    Render = Callable[[Plan, ExportOptions], bytes]


class Exporter:
    """One file format: its name, file suffix, help, the documents it can hold, its renderer, and
    what `batch` does with its files (format-specific behaviour lives here, not in `if fmt ==`)."""

    __slots__ = ("batch_document", "documents", "format", "help", "kind", "many", "patients", "reads_back",
                 "suffix", "target")  # fmt: skip

    def __init__(
        self,
        fmt: str,
        suffix: str,
        help: str,
        documents: tuple[Document, ...],
        target: str,
        *,
        kind: str,
        many: str = "",
        patients: Literal["", "ids", "none"] = "",
        batch_document: Document = "plan",
        reads_back: Literal["", "calendar", "saved plan"] = "",
    ) -> None:
        self.format = fmt
        self.suffix = suffix
        self.help = help
        self.documents = documents
        #: ``module:function`` under needlecli.render, imported on first use.
        self.target = target
        #: What `outfiles.identify` calls a file of this format needle wrote ("calendar", "handout" ...).
        self.kind = kind
        #: ``module:Class`` of a renderer for many plans in one process (batch), whose
        #: ``render(plan, options)`` returns the same bytes faster; "" when the function serves.
        self.many = many
        #: What of the patient the file batch writes (the patient's document: the calendar, the
        #: handout, the aftercare checklist) holds when no name is shown: "none" (the same bytes for
        #: every patient with the same plan), "ids" (the plan id, only at the start of each UID line),
        #: "" (anything: a clinician document names the patient). Batch renders a series shared by many
        #: patients once for "none" and "ids" (`batch.context.Context.series`).
        self.patients = patients
        #: The document batch writes for each patient in this format.
        self.batch_document = batch_document
        #: What batch reads back from a file of this format an earlier run left (a moved folder, a lost
        #: record): a calendar's item revisions, or a saved plan's history; "" for nothing.
        self.reads_back = reads_back

    def render(self, plan: Plan, options: ExportOptions) -> bytes:
        return self.renderer(many=False)(plan, options)

    def renderer(self, many: bool) -> Render:
        """The function that renders one plan; with ``many``, a fresh renderer built to render a
        whole batch in one process (it may keep what it learns between calls), when this format has
        one proven under the installed libraries (else the function itself)."""
        if many and self.many:
            module, _, name = self.many.partition(":")
            try:
                found = importlib.import_module(f"needlecli.render.{module}")
            except ImportError:  # a library version it was not written for: the library writes
                found = None
            if found is not None and getattr(found, "proven", lambda: True)():
                return cast("Render", getattr(found, name)().render)
        module, _, function = self.target.partition(":")
        return cast("Render", getattr(importlib.import_module(f"needlecli.render.{module}"), function))


BOTH: tuple[Document, ...] = ("plan", "aftercare")
EXPORTERS: dict[str, Exporter] = {
    e.format: e
    for e in (
        Exporter("json", ".json", "the plan as JSON (clinician)", ("plan",), "data:export_json", kind="saved plan"),
        Exporter(
            "toml",
            ".toml",
            "a saved plan for --from (clinician)",
            ("plan",),
            "data:export_toml",
            kind="saved plan",
            reads_back="saved plan",
        ),
        Exporter(
            "md",
            ".md",
            "Markdown: the plan sheet, or the aftercare checklist",
            BOTH,
            "markdown:export",
            kind="Markdown document",
            patients="none",
            batch_document="aftercare",  # the patient's checklist for the series
        ),
        Exporter(
            "ics",
            ".ics",
            "a calendar file (patient)",
            BOTH,
            "ics:export",  # icalendar's own serialiser; batch: the proven shortcut below
            kind="calendar",
            many="ics_fast:CalendarRenderer",
            patients="ids",
            reads_back="calendar",
        ),
        Exporter("html", ".html", "a printable patient handout", BOTH, "html:export", kind="handout", patients="none"),
        Exporter(
            "fhir",
            ".json",
            "a FHIR R4 Bundle for a practice system (clinician)",
            ("record",),
            "fhir:export",
            kind="FHIR document",
        ),
    )
}


def formats(document: Document) -> tuple[str, ...]:
    """The formats a document can be written in, in registry order."""
    return tuple(f for f, e in EXPORTERS.items() if document in e.documents)


def choose(fmt: str, document: Document, extra: tuple[str, ...] = (), flag: str = "--format") -> str:
    """Check a --format value (``extra``: views the command adds, such as `table`)."""
    choices = extra + formats(document)
    if fmt not in choices:
        raise UsageError(f"{flag}: expected one of {', '.join(choices)}, got {fmt!r}")
    return fmt


def from_suffix(
    fmt: str | None, out: str | None, document: Document, default: str, extra: dict[str, str] | None = None
) -> str:
    """The format: --format as given; else from --out's extension (`.ics`, `.md`, `.html`, `.json`,
    `.toml`); else ``default``. An extension that contradicts --format is an error (a calendar app
    must never be handed a text table named .ics)."""
    by_suffix = {e.suffix: f for f, e in EXPORTERS.items() if document in e.documents} | (extra or {})
    suffix = ""
    if out is not None and "." in out.rsplit("/", 1)[-1]:
        suffix = "." + out.rsplit(".", 1)[-1].lower()
    implied = by_suffix.get(suffix)
    if fmt is None:
        return implied or default
    known = {e.suffix: f for f, e in EXPORTERS.items()} | (extra or {})
    means = implied or known.get(suffix)
    if means is not None and means != fmt:
        raise UsageError(f"--out: the extension {suffix} means --format {means}, not {fmt}")
    return fmt


def help_text(document: Document, extra: tuple[str, ...] = ()) -> str:
    return ", ".join((*extra, *formats(document)))


def render(fmt: str, plan: Plan, options: ExportOptions) -> bytes:
    return EXPORTERS[fmt].render(plan, options)
