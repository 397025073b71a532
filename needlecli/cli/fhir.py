"""`needle export PATIENT --format fhir`: what the register holds of a patient as one FHIR R4 Bundle
(`render.fhir`), built from plain data: the latest screening screened again under the protocol in
force, and the active series (if any) as `needle export` reads it."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from needlecli.errors import UsageError

if TYPE_CHECKING:
    from needlecli.config import Config
    from needlecli.model import ScreeningProtocol
    from needlecli.register.events import Screening
    from needlecli.register.store import Register
    from needlecli.render.fhir import Screened


def export_fhir(
    cfg: Config,
    register: Register,
    patient: str,
    indication: str | None,
    name: str | None,
    include_name: bool,
    day: dt.date,
    stamp: dt.datetime,
    out: Path | None,
) -> None:
    from needlecli import __version__, catalog, course, export, outfiles
    from needlecli.cli import common
    from needlecli.cli.register import booked_series, series_source, where
    from needlecli.config import export_options
    from needlecli.identity import item_key
    from needlecli.plans import read_plan_text
    from needlecli.register.events import latest_booking, latest_screening, names
    from needlecli.render.fhir import ClinicalRecord

    with register:
        screened = latest_screening(register, patient)
        has_series = latest_booking(register, patient, indication) is not None
        booked = booked_series(cfg, register, patient, indication) if has_series or indication else None
        if screened is None and booked is None:
            raise UsageError(f"no patient {patient!r} in the register ({where(cfg)}); screen or book them first")
        if include_name and name is None:
            name = names(register, [patient]).get(patient)
            if name is None:
                raise UsageError(f"--include-name: no name is registered for {patient}; give it with --name NAME")
    protocol = catalog.load_screening(catalog.STANDARD_SCREENING, cfg.protocols_dir)
    screening = _screened(screened, protocol, patient) if screened is not None else None
    plan, series, reason, missed = None, "", "", frozenset[str]()
    if booked is not None:
        source = series_source(cfg, patient, booked)
        saved = read_plan_text(booked.plan, source)
        notes: list[str] = []
        plan, _ = common.plan_of_saved(saved, source, [], day, notes)
        history = course.course_of(saved)
        series, reason = course.status(saved), history.reason
        missed = frozenset(
            item_key("booster" if label.startswith("B") else "session", int(label.lstrip("B")), n)
            for label, occurrence in history.occurrences
            for n in range(1, occurrence)
        )
    # Never recorded before what it records (an --on earlier than the register's latest data).
    latest = [dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC) for d in (
        screening.evaluated_on if screening is not None else None, plan.created_on if plan is not None else None,
    ) if d is not None] + ([plan.stamp] if plan is not None and plan.stamp is not None else [])  # fmt: skip
    stamp = max([stamp, *latest])
    record = ClinicalRecord(patient=patient, protocol=protocol, made_at=stamp, version=__version__, on=day,
                            name=name, screening=screening, plan=plan, series=series, reason=reason,
                            missed=missed)  # fmt: skip
    outfiles.guard(out, "fhir", patient, ())
    options = export_options(cfg, "plan", name=name)
    if plan is None:
        from needlecli.render.fhir import bundle, dumps

        common.emit(dumps(bundle(record)), out)
        return
    import dataclasses

    common.emit(export.render("fhir", plan, dataclasses.replace(options, record=record)), out)


def _screened(found: Screening, protocol: ScreeningProtocol, patient: str) -> Screened:
    """The latest screening or re-check, screened again under the protocol in force (`planning.
    record_terms`: never more permissive than the rules, whatever the record shows)."""
    from needlecli import planning
    from needlecli.answers import read_answers
    from needlecli.records import screening_record_of
    from needlecli.render.fhir import Screened

    source = f"{patient}'s screening of {found.evaluated_on} in the register (entry {found.entry})"
    doc = tomllib.loads(found.record)
    record = screening_record_of(doc, source)
    terms = planning.record_terms(planning.basis_of(record, protocol), protocol, source, [], record.findings)
    answers, _ = read_answers(protocol, dict(record.answers), f"{source}: answers")
    clinician = doc.get("clinician")
    return Screened(record.evaluated_on, found.kind, terms.verdict, answers, terms.findings,
                    str(clinician) if clinician else None)  # fmt: skip
