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
    """One file format: its name, file suffix, help, the documents it can hold, and its renderer."""

    __slots__ = ("documents", "format", "help", "many", "patients", "suffix", "target")

    def __init__(
        self,
        fmt: str,
        suffix: str,
        help: str,
        documents: tuple[Document, ...],
        target: str,
        many: str = "",
        patients: Literal["", "ids", "none"] = "",
    ) -> None:
        self.format = fmt
        self.suffix = suffix
        self.help = help
        self.documents = documents
        #: ``module:function`` under needlecli.render, imported on first use.
        self.target = target
        #: ``module:Class`` of a renderer for many plans in one process (batch), whose
        #: ``render(plan, options)`` returns the same bytes faster; "" when the function serves.
        self.many = many
        #: What of the patient the file batch writes (the patient's document: the calendar, the
        #: handout, the aftercare checklist) holds when no name is shown: "none" (the same bytes for
        #: every patient with the same plan), "ids" (the plan id, only at the start of each UID line),
        #: "" (anything: a clinician document names the patient). Batch renders a series shared by many
        #: patients once for "none" and "ids" (`batch.Context.series`).
        self.patients = patients

    def render(self, plan: Plan, options: ExportOptions) -> bytes:
        return self.renderer(many=False)(plan, options)

    def renderer(self, many: bool) -> Render:
        """The function that renders one plan; with ``many``, a fresh renderer built to render a
        whole batch in one process (it may keep what it learns between calls)."""
        if many and self.many:
            module, _, name = self.many.partition(":")
            return cast("Render", getattr(importlib.import_module(f"needlecli.render.{module}"), name)().render)
        module, _, function = self.target.partition(":")
        return cast("Render", getattr(importlib.import_module(f"needlecli.render.{module}"), function))


BOTH: tuple[Document, ...] = ("plan", "aftercare")
EXPORTERS: dict[str, Exporter] = {
    e.format: e
    for e in (
        Exporter("json", ".json", "the plan as JSON (clinician)", ("plan",), "data:export_json"),
        Exporter("toml", ".toml", "a saved plan for --from (clinician)", ("plan",), "data:export_toml"),
        Exporter(
            "md",
            ".md",
            "Markdown: the plan sheet, or the aftercare checklist",
            BOTH,
            "markdown:export",
            patients="none",
        ),
        Exporter(
            "ics",
            ".ics",
            "a calendar file (patient)",
            BOTH,
            "ics_fast:render",
            many="ics_fast:CalendarRenderer",
            patients="ids",
        ),
        Exporter("html", ".html", "a printable patient handout", BOTH, "html:export", patients="none"),
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
