"""`needle aftercare`: the patient's aftercare checklist (Markdown) or calendar (ICS)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from needlecli import export
from needlecli.cli.common import complete_formats, complete_treatments
from needlecli.errors import UsageError

HELP = """Export the aftercare checklist for one session (--session-date with
--indication) or for every session of a saved plan (--plan), as a Markdown
task list grouped by day (--format md), a printable handout (--format html) or
a calendar file (--format ics); --out takes the format from its extension.

The content comes from the protocol. With --screening (a record from `needle
screen --out`), a single session's cautions apply as in `needle plan
--screening` (a contraindicated record refuses with exit 4, a deferral without
a date with exit 3). Exports carry no diagnosis, finding or name; --name NAME
adds the name for the patient's own copy.
The clinic's name and phone (from `needle config`) go under the warning signs.
"""

EPILOG = """\b
Examples:
  needle aftercare --session-date 2026-12-01 --indication fine-lines
  needle aftercare --session-date 2026-12-01 --indication fine-lines --format md --out aftercare.md
  needle aftercare --session-date 2026-12-10 --indication fine-lines --screening p42-screening.toml
  needle aftercare --plan p42-plan.toml --out p42-aftercare.html
  needle aftercare --plan p42-plan.toml --format ics --out p42.ics
  needle aftercare --session-date 2026-12-01 --indication acne-scars --patient P-0042 \\
      --time 10:30 --tz Europe/London --format ics --out session.ics
"""


def aftercare(
    session_date: str | None = typer.Option(
        None, "--session-date", help="The session's date: 2026-12-01, 1 Dec 2026, or per date_order."
    ),
    indication: str | None = typer.Option(
        None, "--indication", "-i", help="With --session-date: the protocol.", autocompletion=complete_treatments
    ),
    plan_file: Path | None = typer.Option(None, "--plan", help="A saved plan (from `needle plan --format toml`)."),
    screening: Path | None = typer.Option(
        None, "--screening", help="With --session-date: a screening record (`needle screen --out`); its cautions apply."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help=export.help_text("aftercare") + ".  [default: from --out's extension, else md]",
        show_default=False,
        autocompletion=complete_formats("aftercare"),
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file (atomic, mode 0600)."),
    patient: str | None = typer.Option(None, "--patient", "-p", help="Patient id (calendar ids; never shown)."),
    time: str | None = typer.Option(None, "--time", help="With --session-date: session start HH:MM."),
    tz: str | None = typer.Option(None, "--tz", help="With --time: IANA time zone."),
    name: str | None = typer.Option(None, "--name", help="Patient's name, shown in the export (a patient's own copy)."),
    include_name: bool = typer.Option(False, "--include-name", help="Show the name (implied by --name)."),
    on: str | None = typer.Option(None, "--on", help="Export date, YYYY-MM-DD.  [default: today]"),
) -> None:
    from needlecli import catalog, choices, clinic, identity, planning
    from needlecli.cli import common
    from needlecli.config import export_options, load_config, with_uid_key

    config = load_config()
    order = config.date_order
    day = common.parse_on(on, order=order)
    patient = identity.check_patient(patient)
    shown_name = common.check_name(name, include_name)
    if fmt is not None:
        fmt = choices.pick(fmt, export.formats("aftercare"), "--format")  # ICS, Md ...
    fmt = export.from_suffix(fmt, str(out) if out else None, "aftercare", "md")
    export.choose(fmt, "aftercare")
    if out is not None:
        common.check_out(out)
    if (session_date is None) == (plan_file is None):
        raise UsageError("give either --session-date (with --indication) or --plan")
    cfg = with_uid_key(config)
    notes: list[str] = []
    if plan_file is not None:
        if indication or time or tz:
            raise UsageError("--plan fixes the indication and times; drop --indication, --time and --tz")
        if screening is not None:
            raise UsageError("--plan keeps its own screening; drop --screening")
        plan, protocol = common.load_saved_plan(plan_file, [], day, notes)
        if patient and patient != plan.request.patient:
            raise UsageError(f"--patient {patient!r} does not match the plan's patient {plan.request.patient!r}")
    else:
        assert session_date is not None
        if indication is None:
            raise UsageError(f"--session-date needs --indication ({', '.join(catalog.indications())})")
        when = common.parse_flag_date(session_date, "--session-date", order)
        terms = None
        screening_protocol = None
        if screening is not None:
            record, screening_protocol = common.load_screening_record(screening, cfg.protocols_dir)
            patient = planning.patient_of_record(record, patient)
            basis = planning.basis_of(record, screening_protocol)
            terms = planning.record_terms(basis, screening_protocol, str(screening), notes, record.findings)
        protocol = catalog.load_treatment(indication, cfg.protocols_dir, screening_protocol)
        flags = planning.PlanFlags(
            patient=patient,
            time=clinic.parse_time(time) if time is not None else None,
            tz=clinic.check_zone(tz) if tz is not None else None,
        )
        plan = planning.one_session(
            protocol, flags, cfg, when, day, screening=terms, source=str(screening), notes=notes
        )
    if fmt == "ics" and not plan.request.patient and plan_file is None:
        # A saved plan keeps its own (random) plan id; a single session's id is derived from its request.
        raise UsageError("--format ics needs --patient: calendar ids must be unique per patient")
    from needlecli import outfiles

    outfiles.guard(out, fmt, plan.request.patient or None, (plan_file, screening))
    from needlecli.cli import for_people

    for note in notes:
        print(f"needle: {for_people(note, order)}", file=sys.stderr)
    options = export_options(cfg, "aftercare", name=shown_name, protocol=protocol, series=plan_file is not None)
    if fmt == "ics" and out is not None and plan.request.patient:  # written again over it: rebuilt over
        stamp = common.stamp_of(on, order)
        plan, options, unchanged = common.over_calendar(
            plan, out, options, "aftercare", cfg.uid_key or "", stamp, order
        )
        if unchanged:
            return  # the file is left as it is
    common.emit(export.render(fmt, plan, options), out)
