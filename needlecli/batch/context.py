"""The run context: what every row of a run needs, built once per process (picklable: a worker
started by spawn gets it whole, its caches empty).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from needlecli import export, planning
from needlecli.errors import UsageError
from needlecli.model import ExportOptions, Plan, ScreeningProtocol, TreatmentProtocol

if TYPE_CHECKING:
    from needlecli.config import Config
    from needlecli.register.store import Register
    from needlecli.render.common import Template

#: New series a batch process keeps to plan and render once for every patient who gets the same,
#: and the most bytes of their files it keeps (a handout is about 40 KB, a calendar 15 KB).
SERIES = 256
SERIES_BYTES = 4 << 20


@dataclass
class Context:
    """What every row needs; built once per run, and handed whole to each worker process."""

    on: dt.date
    fmt: str
    out_dir: Path
    header: list[str]
    #: The screening protocol when the list has its screening columns, else None.
    screening: ScreeningProtocol | None
    config: Config
    include_name: bool = False
    #: When this run's revisions are made (DTSTAMP of a rebuilt plan); default midnight of ``on``.
    stamp: dt.datetime | None = None
    #: Render each planned patient's events for the clinic calendar (`--clinic-calendar`).
    clinic_calendar: bool = False
    #: The folder held no file of the run's format when the run (holding its lock) began: no row's
    #: name can have a calendar an earlier run wrote, so none is looked for (`holds_no_files`).
    empty_folder: bool = False
    #: Plan a row whose first session is before ``on`` (`--allow-past`); else that row is an error.
    allow_past: bool = False
    #: Notes said once for the whole run (the config's holidays country): not repeated in each row's.
    run_notes: tuple[str, ...] = ()
    #: `--book`: the clinic register each planned row is booked into (read here for the revision a
    #: row rebuilds over; the parent writes).
    register: Path | None = None
    #: `--boosters N`: boosters after the series for rows without a `boosters` cell.
    boosters: int = 0

    def __post_init__(self) -> None:
        self._booked: Any = None  # this process's read-only view of the register (`booked`)
        self._protocols: dict[str, TreatmentProtocol] = {}
        self._aliases: dict[str, str] | None = None
        self._render: Callable[[Plan, ExportOptions], bytes] | None = None
        #: series key -> (the first patient's new plan, its file as a template, the row's notes):
        #: see series_key.
        self.series: dict[Hashable, tuple[Plan, Template, tuple[str, ...]]] = {}
        #: `--book`: series key -> (patient, plan id, saved plan TOML) of the first patient booked with it.
        self.saved_texts: dict[Hashable, tuple[str, str, str]] = {}
        self._series_bytes = 0
        #: `--book` with slots, in the parent (`batch.slots`): a saved plan read from its text, by that
        #: text with its patient and plan id taken out; a series placed again and its file (as a
        #: template) and saved plan text, by what it was placed from but the patient.
        self.saved_plans: dict[str, Any] = {}
        self.placed: dict[bytes, tuple[Plan, Template, str]] = {}

    def __getstate__(self) -> dict[str, object]:
        """The run's settings only: a worker process (fork or spawn) starts with empty caches."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    def booked(self, patient: str, indication: str) -> tuple[int, str, str | None] | None:
        """The revision number and saved plan (TOML) of the patient's series for ``indication`` in the
        register (`--book`), checked against its journal entry, and the name the register keeps for
        the patient (`events.names`: the last one a booking was given); None when there is none."""
        from needlecli.register.events import latest_booking, names

        view = self._view()
        if view is None:
            return None
        found = latest_booking(view, patient, indication)
        if found is None:
            return None
        return found.revision, found.plan, names(view, [patient]).get(patient)

    def screened(self, patient: str) -> str | None:
        """The record (TOML) of the patient's latest screening or re-check in the register (`--book`),
        checked against its journal entry; None when there is none."""
        from needlecli.register.events import latest_screening

        view = self._view()
        found = latest_screening(view, patient) if view is not None else None
        return found.record if found is not None else None

    def _view(self) -> Register | None:
        from needlecli.register.store import open_for_reading

        if self.register is None:
            return None
        if self._booked is None:
            self._booked = open_for_reading(self.register) or False
        return self._booked or None

    def close(self) -> None:
        """Close this process's view of the register (`booked`), if it opened one."""
        if self._booked:
            self._booked.close()
        self._booked = None

    def render(self, plan: Plan, options: ExportOptions) -> bytes:
        """The file of one plan, by this process's renderer for the run's format (made on first use:
        for ICS one that keeps what it learns between patients)."""
        if self._render is None:
            self._render = export.EXPORTERS[self.fmt].renderer(many=True)
        return self._render(plan, options)

    def series_key(
        self, protocol: TreatmentProtocol, flags: planning.PlanFlags, terms: planning.ScreeningTerms | None
    ) -> Hashable | None:
        """What a new plan is computed from in this run, but the patient: rows with equal keys get the
        same series, plan ids aside (`planning.for_patient`). None when the format's file may hold more
        of the patient than the plan id (JSON, TOML), or the screening terms cannot be compared."""
        if export.EXPORTERS[self.fmt].patients == "":
            return None
        key = (id(protocol), tuple(v for k, v in vars(flags).items() if k != "patient"), terms)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def remember_series(self, key: Hashable, plan: Plan, data: bytes, notes: tuple[str, ...] = ()) -> None:
        """Keep a new plan, its file and its row's notes for the next row with the same key (up to SERIES
        kept; past it the older half is forgotten). The file is kept as a template for another plan id:
        a calendar cut at its UIDs (`ics_fast.template`), a patient document whole; any other file is
        not kept, nor a patient document that holds the plan id or the patient's id anywhere (it names
        nobody: should one ever, it must not be handed to the next patient)."""
        template = self.template_of(plan, data)
        if template is None:
            return
        size = template.size
        if len(self.series) >= SERIES or self._series_bytes + size > SERIES_BYTES:
            for old in list(self.series)[: len(self.series) // 2 + 1]:
                self._series_bytes -= self.series.pop(old)[1].size
        self.series[key] = (plan, template, notes)
        self._series_bytes += size

    def template_of(self, plan: Plan, data: bytes) -> Template | None:
        """``plan``'s file as a template for the same series of another patient (`remember_series`), or
        None when it cannot be one."""
        from needlecli.render.common import Template

        if export.EXPORTERS[self.fmt].patients == "none":
            named = (
                plan.plan_id.encode("ascii") in data or plan.request.patient.encode("utf-8", "surrogateescape") in data
            )
            return None if named else Template((data,))
        from needlecli.render.ics_fast import template as calendar_template

        return calendar_template(data, plan.plan_id)

    def protocol(self, name: str) -> TreatmentProtocol:
        """The treatment protocol an indication cell names, in any case or spacing (`Acne Scars`)."""
        if name not in self._protocols:
            from needlecli import catalog, choices

            protocols_dir = self.config.protocols_dir
            options = dict.fromkeys([*catalog.indications(), *catalog.names(protocols_dir)])
            found = choices.find(name, options)
            if found is None:  # a practice system's own name for it: a protocol's `aliases`
                if self._aliases is None:
                    self._aliases = catalog.aliases(protocols_dir)
                found = self._aliases.get(choices.normalise(name))
            if found is None:
                hint = choices.suggestion(name, options)
                raise UsageError(
                    f"unknown indication {name!r} (use one of {', '.join(catalog.indications())})"
                    + (f"; did you mean {hint!r}?" if hint else "")
                )
            self._protocols[name] = catalog.load_treatment(found, protocols_dir, self.screening)
        return self._protocols[name]
