"""`needle plan`: the treatment-series calendar for one patient."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from needlecli import export
from needlecli.bundled import indications
from needlecli.cli.common import complete_formats, complete_treatments
from needlecli.errors import UsageError

if TYPE_CHECKING:
    import datetime as dt

    from needlecli.config import Config
    from needlecli.model import Plan, TreatmentProtocol
    from needlecli.records import ScreeningRecord

HELP = """Plan a patient's treatment series: session dates on open clinic days,
the pause window before each session and the aftercare windows after it,
boosters, and needle depth by zone.

Clinic days, closed dates, holidays, time zone and session time come from the
clinic config (`needle config show`) unless given here. With --screening, a
contraindicated record refuses (exit 4), a deferral without a date refuses
(exit 3), and a dated deferral moves the first session to that date or later.

Save with --format toml --out plan.toml; later, --from plan.toml --move 3=DATE
moves session 3 and recomputes the later sessions under the same rules.

--book makes the plan the patient's active series for the indication in the
clinic register (without --screening: the patient's latest registered
screening applies). Booking again is a new revision of the same series: the
same calendar ids, SEQUENCE raised, sessions that went cancelled. Without
--book nothing is kept: a preview.
"""

EPILOG = """\b
Examples:
  needle plan --patient P-0042 --indication acne-scars --start 2026-12-01
  needle plan --patient P-0042 --indication deep-scars --screening p42-screening.toml \\
      --time 10:30 --tz Europe/London --holidays GB-ENG --boosters 2 --format json
  needle plan --patient P-0042 --indication fine-lines --format toml --out p42-plan.toml
  needle plan --from p42-plan.toml --format ics --out p42.ics
  needle plan --from p42-plan.toml --move 3=2027-02-10 --format toml --out p42-plan.toml
  needle plan --patient P-0042 --indication fine-lines --start 2027-01-04 --book
"""

#: Views the command adds to the export formats: the table at the terminal.
VIEWS = ("table",)


def plan(
    patient: str | None = typer.Option(None, "--patient", "-p", help="Patient id (goes into ids and file names)."),
    indication: str | None = typer.Option(
        None,
        "--indication",
        "-i",
        help=f"{', '.join(indications())}, or a protocol .toml path.",
        autocompletion=complete_treatments,
    ),
    start: str | None = typer.Option(
        None, "--start", help="Earliest first session: 2026-12-01, 1 Dec 2026, or per date_order.  [default: --on]"
    ),
    sessions: int | None = typer.Option(None, "--sessions", "-n", help="Number of sessions.  [default: protocol's]"),
    interval_weeks: int | None = typer.Option(
        None, "--interval-weeks", "-w", help="Weeks between sessions.  [default: protocol's]"
    ),
    screening: Path | None = typer.Option(None, "--screening", help="A screening record from `needle screen --out`."),
    screening_protocol_ref: str | None = typer.Option(
        None,
        "--protocol",
        help="The screening protocol in force for --screening or --from: a name or .toml path.  [default: the "
        "clinic's, else bundled]",
    ),
    clinic_days: str | None = typer.Option(None, "--clinic-days", help="Open weekdays: mon-fri or mon,wed,fri."),
    closed: list[str] | None = typer.Option(None, "--closed", help="A closed date, YYYY-MM-DD (repeatable)."),
    holidays: str | None = typer.Option(None, "--holidays", help="Public holidays closed: GB-ENG, GB-SCT, US-CA ..."),
    time: str | None = typer.Option(None, "--time", help="Session start, HH:MM (24-hour)."),
    duration: int | None = typer.Option(None, "--duration", help="Session length in minutes.  [default: 60]"),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone, e.g. Europe/London."),
    boosters: int = typer.Option(0, "--boosters", help="Booster sessions after the series."),
    away: list[str] | None = typer.Option(
        None, "--away", help="Dates the patient is away, START..END (repeatable): no session then."
    ),
    sun_trip: list[str] | None = typer.Option(
        None, "--sun-trip", help="A sun holiday, START..END (repeatable): no session during it or just after."
    ),
    allow_past: bool = typer.Option(
        False, "--allow-past", help="Allow a first session before --on (recording a series already under way)."
    ),
    max_depth: float | None = typer.Option(
        None, "--max-depth", help="The device's deepest setting in mm: caps every zone.  [default: config]"
    ),
    zones: str | None = typer.Option(
        None,
        "--zones",
        help="Zones treated, comma-separated: cheeks,scars.  [default: the protocol's default zones]",
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help=export.help_text("plan", VIEWS) + ".  [default: from --out's extension, else table]",
        show_default=False,
        autocompletion=complete_formats("plan", VIEWS),
    ),
    name: str | None = typer.Option(
        None, "--name", help="Patient's name for calendar titles and handouts (a patient's own copy)."
    ),
    include_name: bool = typer.Option(False, "--include-name", help="Show the name (implied by --name)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file (atomic, mode 0600)."),
    on: str | None = typer.Option(None, "--on", help="Planning date, YYYY-MM-DD.  [default: today]"),
    from_: Path | None = typer.Option(None, "--from", help="A saved plan (TOML) to re-export or reschedule."),
    move: list[str] | None = typer.Option(
        None, "--move", help="With --from: N=DATE moves session N, BN=DATE booster N (repeatable)."
    ),
    book: bool = typer.Option(
        False, "--book", help="Book it as the patient's active series in the clinic register (a new revision)."
    ),
) -> None:
    import secrets

    from needlecli import catalog, choices, clinic, identity, planning
    from needlecli.cli import common
    from needlecli.config import export_options, load_config, with_uid_key
    from needlecli.records import writes_in_place

    config = load_config()
    order = config.date_order
    day = common.parse_on(on, order=order)
    patient = identity.check_patient(patient)
    shown_name = common.check_name(name, include_name)
    if fmt is not None:
        fmt = choices.pick(fmt, (*VIEWS, *export.formats("plan")), "--format")  # ICS, Md ...
    fmt = export.from_suffix(fmt, str(out) if out else None, "plan", "table", {".txt": "table"})
    export.choose(fmt, "plan", VIEWS)
    if out is not None:
        common.check_out(out)
    cfg = with_uid_key(config)
    notes: list[str] = []
    registered = None  # the patient's latest screening in the register (--book without --screening)
    if book and from_ is not None:
        raise UsageError("--book plans from --patient and --indication (with the register's screening), not --from")
    if from_ is not None:
        given = {
            "--patient": patient,
            "--indication": indication,
            "--start": start,
            "--sessions": sessions,
            "--interval-weeks": interval_weeks,
            "--screening": screening,
            "--clinic-days": clinic_days,
            "--closed": closed,
            "--holidays": holidays,
            "--time": time,
            "--duration": duration,
            "--tz": tz,
            "--away": away,
            "--sun-trip": sun_trip,
            "--max-depth": max_depth,
            "--zones": zones,
        }
        clash = [k for k, v in given.items() if v is not None and v != []] + (["--boosters"] if boosters else [])
        if clash:
            raise UsageError(
                f"--from: the saved plan fixes {', '.join(clash)}; only --move, --format, --out, --on apply"
            )
        moves = common.parse_moves(move or [], order)
        result, protocol = common.load_saved_plan(
            from_, moves, day, notes, common.stamp_of(on, order), screening_ref=screening_protocol_ref
        )
    else:
        if move:
            raise UsageError("--move needs --from (a saved plan)")
        if indication is None:
            raise UsageError(f"--indication is required ({', '.join(catalog.indications())}, or a .toml path)")
        terms = None
        screening_protocol = None
        if book and screening is None:
            registered = _registered_screening(cfg, patient)
        if registered is not None:
            record, source = registered
            screening_protocol = catalog.load_screening(
                screening_protocol_ref or catalog.STANDARD_SCREENING, cfg.protocols_dir
            )
            basis = planning.basis_of(record, screening_protocol)
            terms = planning.record_terms(basis, screening_protocol, source, notes, record.findings)
        elif screening is not None:
            record, screening_protocol = common.load_screening_record(
                screening, cfg.protocols_dir, screening_protocol_ref
            )
            patient = planning.patient_of_record(record, patient)
            basis = planning.basis_of(record, screening_protocol)
            terms = planning.record_terms(basis, screening_protocol, str(screening), notes, record.findings)
        elif screening_protocol_ref is not None:
            raise UsageError("--protocol goes with --screening or --from (the screening protocol to check against)")
        protocol = catalog.load_treatment(indication, cfg.protocols_dir, screening_protocol)
        flags = planning.PlanFlags(
            patient=patient,
            start=common.parse_flag_date(start, "--start", order) if start else None,
            sessions=sessions,
            interval_weeks=interval_weeks,
            clinic_days=clinic.parse_weekdays(clinic_days) if clinic_days is not None else None,
            closed=frozenset(common.parse_flag_date(c, "--closed", order) for c in closed or []),
            holidays=holidays,
            time=clinic.parse_time(time) if time is not None else None,
            duration=clinic.check_duration(duration) if duration is not None else None,
            tz=clinic.check_zone(tz) if tz is not None else None,
            boosters=boosters,
            away=tuple(common.parse_range(a, "--away", order) for a in away or []),
            sun_trips=tuple(common.parse_range(a, "--sun-trip", order) for a in sun_trip or []),
            max_depth=clinic.check_depth(max_depth, "--max-depth") if max_depth is not None else None,
            zones=common.parse_zones(zones),
        )
        result = planning.new_plan(
            protocol,
            flags,
            cfg,
            day,
            screening=terms,
            source=registered[1] if registered is not None else str(screening),
            notes=notes,
            stamp=common.stamp_of(on, order),
            allow_past=allow_past,
            fresh_id=lambda: secrets.token_hex(8),  # no patient id: a random plan id keeps calendar ids unique
        )

    if from_ is None and out is not None and fmt == "toml" and out.exists() and not writes_in_place(out):
        from needlecli.plans import read_saved_plan

        saved = read_saved_plan(out)
        if saved is None:
            raise UsageError(f"--out: {out} exists and is not a saved needle plan; choose another file")
        result = planning.over_saved(result, saved, str(out), common.stamp_of(on, order), notes)
    if book:
        result = _book(cfg, result, protocol, day, notes, asked=time is not None, name=shown_name)
    from needlecli import outfiles

    if not (fmt == "toml" and from_ is None):  # a saved plan over a saved plan: rebuilt over it above
        outfiles.guard(out, fmt, result.request.patient or None, (from_, screening))
    from needlecli.cli import for_people

    for note in notes:
        print(f"needle: {for_people(note, order)}", file=sys.stderr)
    if fmt == "table":
        from needlecli.cli.render import plan_table_text, print_plan

        if out is None:
            print_plan(result, order)
        else:
            common.emit(plan_table_text(result).encode("utf-8"), out)
        return
    options = export_options(cfg, "plan", name=shown_name, protocol=protocol)
    if fmt == "ics" and out is not None and result.request.patient and not book:  # (a booked one: `export`)
        stamp = common.stamp_of(on, order)
        result, options, unchanged = common.over_calendar(result, out, options, "plan", cfg.uid_key or "", stamp, order)
        if unchanged:
            return  # the file is left as it is (its mode, its inode: a calendar a clinic hosts)
    common.emit(export.render(fmt, result, options), out)


def _registered_screening(cfg: Config, patient: str | None) -> tuple[ScreeningRecord, str]:
    """The patient's latest screening in the register, for --book without --screening."""
    import tomllib

    from needlecli.cli.register import for_reading, where
    from needlecli.records import screening_record_of
    from needlecli.register.events import latest_screening

    if not patient:
        raise UsageError("--book needs --patient (the series is booked under the patient's id)")
    register = for_reading(cfg)
    found = None
    if register is not None:
        with register:
            found = latest_screening(register, patient)
    if found is None:
        raise UsageError(
            f"--book: {patient} has no screening in the register ({where(cfg)}): screen first "
            f"(needle screen --patient {patient}), or give --screening"
        )
    source = f"{patient}'s screening of {found.evaluated_on} in the register (entry {found.entry})"
    return screening_record_of(tomllib.loads(found.record), source), source


def _book(
    cfg: Config,
    plan: Plan,
    protocol: TreatmentProtocol,
    day: dt.date,
    notes: list[str],
    *,
    asked: bool = False,
    name: str | None = None,
) -> Plan:
    """Keep ``plan`` as the patient's active series for its indication: revision 1, or rebuilt over
    the latest revision (the same calendar ids, SEQUENCE raised, sessions that went cancelled); with
    the patient's ``name`` when one was given (`due` and `export` show it with --include-name)."""

    import dataclasses

    from needlecli import revisions
    from needlecli.cli.register import for_writing, key_of, now_utc, where
    from needlecli.cli.slots import into_slots
    from needlecli.config import export_options
    from needlecli.plans import read_plan_text
    from needlecli.register.diary import items_of
    from needlecli.register.events import insert_booking, latest_booking
    from needlecli.register.journal import pack

    patient = plan.request.patient
    if not patient:
        raise UsageError("--book needs --patient (the series is booked under the patient's id)")
    indication = plan.request.indication
    now = now_utc()
    options = export_options(cfg, "plan", protocol=protocol)
    with for_writing(cfg) as register:
        before = latest_booking(register, patient, indication)
        saved = None
        if before is not None:
            source = f"register {where(cfg)}: {patient}'s {indication} series, revision {before.revision}"
            saved = read_plan_text(before.plan, source)
            course = saved.request.course
            if course is not None and course.halted == "stopped":
                # Stopped: booking again starts a new series, with new calendar ids (never the cancelled ones).
                from needlecli.identity import plan_id_for

                fresh = plan_id_for(plan.request, f"series-{before.revision + 1}", key_of(cfg))
                plan = dataclasses.replace(plan, plan_id=fresh)
                saved = None
            else:
                from needlecli.course import rebook_refusal

                refusal = rebook_refusal(saved, patient)
                if refusal is not None:
                    raise UsageError(f"--book: {patient}'s {indication} series: {refusal}")
        if before is not None and saved is not None:
            same = revisions.as_booked(plan, saved)
            if export.render("toml", same, options).decode("utf-8") == before.plan:
                notes.append(
                    f"already booked: {patient}'s {indication} series, revision {before.revision}, unchanged "
                    "(nothing written to the register)"
                )
                return same
            plan = revisions.rebuild_over(plan, saved, source, now)
        elif before is not None:  # a new series after a stopped one: its revisions start again
            plan = dataclasses.replace(plan, stamp=now)
        with register.writing() as db:  # the slots' places are read and taken in one transaction
            plan, text = into_slots(cfg, db, plan, options, day, notes, asked, protocol)
            entry, revision = insert_booking(
                db,
                key=key_of(cfg),
                patient=patient,
                indication=indication,
                booked_on=day.isoformat(),
                blob=pack(text),
                revision_of=before.revision if before is not None else 0,
                protocol=protocol.info.sha256,
                at=now,
                where=f"register {where(cfg)}",
                items=items_of(plan, protocol.review_months),
                plan_id=plan.plan_id,
                name=name,
            )
    again = f"; rebuilt over revision {revision - 1}: same calendar ids" if revision > 1 else ""
    if before is not None and saved is None:
        again = f"; a new series after the one stopped at revision {revision - 1}: new calendar ids"
    notes.append(
        f"booked: {patient}'s {indication} series, revision {revision}{again} (entry {entry.seq}, head {entry.hash})"
    )
    return plan
