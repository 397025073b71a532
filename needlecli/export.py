"""The export registry: every file format needle writes, in one place.

`plan`, `aftercare` and `batch` take their `--format` choices and help from here,
and write what ``exporter.render(plan, options)`` returns. A new format is one
module under `needlecli/render/` with ``export(plan, options) -> bytes`` and one
line in ``EXPORTERS``. Renderer modules are imported only when used (start-up).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from needlecli.errors import UsageError

if TYPE_CHECKING:  # the registry is read at start-up (for --help): no model import here
    from needlecli.model import Plan, TreatmentProtocol

#: What a document is about: a whole plan, or the aftercare around its sessions.
Document = Literal["plan", "aftercare"]
Audience = Literal["patient", "clinician"]


@dataclass(frozen=True)
class ExportOptions:
    """What a renderer needs besides the plan."""

    document: Document = "plan"
    #: The patient's name, only when asked for (`--include-name`).
    name: str | None = None
    clinic_name: str | None = None
    clinic_phone: str | None = None
    #: The treatment protocol the plan follows (aftercare checklists and warning signs).
    protocol: TreatmentProtocol | None = None
    #: False for a single session's aftercare (`aftercare --session-date`): no next session is known.
    series: bool = True


Render = Callable[["Plan", ExportOptions], bytes]


@dataclass(frozen=True)
class Exporter:
    format: str
    suffix: str
    help: str
    documents: tuple[Document, ...]
    #: ``module:function`` under needlecli.render, imported on first use.
    target: str

    def render(self, plan: Plan, options: ExportOptions) -> bytes:
        module, _, function = self.target.partition(":")
        return cast(Render, getattr(importlib.import_module(f"needlecli.render.{module}"), function))(plan, options)


both: tuple[Document, ...] = ("plan", "aftercare")
EXPORTERS: dict[str, Exporter] = {
    e.format: e
    for e in (
        Exporter("json", ".json", "the plan as JSON (clinician)", ("plan",), "data:export_json"),
        Exporter("toml", ".toml", "a saved plan for --from (clinician)", ("plan",), "data:export_toml"),
        Exporter(
            "md", ".md", "Markdown: the plan sheet or the aftercare checklist", ("plan", "aftercare"), "markdown:export"
        ),
        Exporter("ics", ".ics", "a calendar file (patient)", both, "ics:export"),
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


def help_text(document: Document, extra: tuple[str, ...] = ()) -> str:
    return ", ".join((*extra, *formats(document)))


def render(fmt: str, plan: Plan, options: ExportOptions) -> bytes:
    return EXPORTERS[fmt].render(plan, options)
