"""`needle aftercare`: the patient's aftercare checklist (Markdown) or calendar (ICS)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from needlecli.errors import UsageError

if TYPE_CHECKING:
    from needlecli.config import Config
    from needlecli.model import PlanRequest, TreatmentProtocol

HELP = """Export the aftercare checklist for one session (--session-date with
--indication) or for every session of a saved plan (--plan), as a Markdown
task list grouped by day (--format md) or a calendar file (--format ics).

The content comes from the protocol. Exports carry no diagnosis, finding or
name; --include-name --name NAME adds the name for the patient's own copy.
The clinic's name and phone (from `needle config`) go under the warning signs.
"""

EPILOG = """\b
Examples:
  needle aftercare --session-date 2026-12-01 --indication fine-lines
  needle aftercare --session-date 2026-12-01 --indication fine-lines --format md --out aftercare.md
  needle aftercare --plan p42-plan.toml --format md --out p42-aftercare.md
  needle aftercare --plan p42-plan.toml --format ics --out p42.ics
  needle aftercare --session-date 2026-12-01 --indication acne-scars --patient P-0042 \\
      --time 10:30 --tz Europe/London --format ics --out session.ics
"""


def aftercare(
    session_date: str | None = typer.Option(None, "--session-date", help="The session's date, YYYY-MM-DD."),
    indication: str | None = typer.Option(None, "--indication", "-i", help="With --session-date: the protocol."),
    plan_file: Path | None = typer.Option(None, "--plan", help="A saved plan (from `needle plan --format toml`)."),
    fmt: str = typer.Option("md", "--format", "-f", help="md or ics."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file (atomic, mode 0600)."),
    patient: str | None = typer.Option(None, "--patient", "-p", help="Patient id (calendar ids; never shown)."),
    time: str | None = typer.Option(None, "--time", help="With --session-date: session start HH:MM."),
    tz: str | None = typer.Option(None, "--tz", help="With --time: IANA time zone."),
    name: str | None = typer.Option(None, "--name", help="Patient's name, used only with --include-name."),
    include_name: bool = typer.Option(False, "--include-name", help="Show --name in the export."),
    on: str | None = typer.Option(None, "--on", help="Export date, YYYY-MM-DD.  [default: today]"),
) -> None:
    from needlecli import aftercare as core
    from needlecli import catalog, scheduling
    from needlecli.cli.common import check_out, check_patient, parse_flag_date, parse_on
    from needlecli.cli.plan import _from_saved, check_name
    from needlecli.config import load_config
    from needlecli.records import write_atomic

    day = parse_on(on)
    patient = check_patient(patient)
    shown_name = check_name(name, include_name)
    if fmt not in ("md", "ics"):
        raise UsageError(f"--format: expected md or ics, got {fmt!r}")
    if out is not None:
        check_out(out)
    if (session_date is None) == (plan_file is None):
        raise UsageError("give either --session-date (with --indication) or --plan")
    cfg = load_config()
    notes: list[str] = []
    if plan_file is not None:
        if indication or time or tz:
            raise UsageError("--plan fixes the indication and times; drop --indication, --time and --tz")
        plan = _from_saved(plan_file, [], day, notes)
        if patient and patient != plan.request.patient:
            raise UsageError(f"--patient {patient!r} does not match the plan's patient {plan.request.patient!r}")
        protocol = catalog.load_treatment(catalog.ref_of(plan.protocol.origin))
    else:
        assert session_date is not None
        if indication is None:
            raise UsageError("--session-date needs --indication (fine-lines, acne-scars, texture, deep-scars)")
        protocol = catalog.load_treatment(indication)
        when = parse_flag_date(session_date, "--session-date")
        request = _request(protocol, cfg, patient, when, time, tz)
        plan = scheduling.single_session_plan(protocol, request, when, day, cfg.uid_key or "")
    for note in notes:
        print(f"needle: {note}", file=sys.stderr)

    if fmt == "md":
        from needlecli.render.markdown import aftercare_markdown

        if plan_file is not None:
            checklists = core.plan_checklists(protocol, plan)
        else:
            checklists = (core.session_checklist(protocol, plan.sessions[0].date, plan.request.uses_retinoids),)
        data = aftercare_markdown(
            checklists,
            protocol.warning_signs,
            clinic_name=cfg.name,
            clinic_phone=cfg.phone,
            patient_name=shown_name,
        ).encode("utf-8")
    else:
        if not plan.request.patient:
            raise UsageError("--format ics needs --patient: calendar ids must be unique per patient")
        from needlecli.render.ics import plan_calendar

        data = plan_calendar(plan, name=shown_name, calendar_name="Microneedling aftercare")
    if out is not None:
        write_atomic(out, data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def _request(
    protocol: TreatmentProtocol,
    cfg: Config,
    patient: str | None,
    when: dt.date,
    time: str | None,
    tz: str | None,
) -> PlanRequest:
    from needlecli import clinic
    from needlecli.model import ClinicRules, PlanRequest

    at = clinic.parse_time(time) if time is not None else None
    if tz is not None and at is None:
        raise UsageError("--tz goes with --time")
    zone = clinic.check_zone(tz) if tz is not None else (cfg.time_zone or "UTC")
    return PlanRequest(
        patient=patient or "",
        indication=protocol.info.name,
        start=when,
        sessions=1,
        interval_weeks=protocol.interval_weeks.default,
        clinic=ClinicRules(frozenset(range(7)), frozenset()),
        time=at,
        duration_minutes=cfg.session_minutes,
        tz=zone,
    )
