"""`needle plan`: the treatment-series calendar for one patient."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from needlecli.errors import NeedleError, UsageError

if TYPE_CHECKING:
    from needlecli.config import Config
    from needlecli.model import Plan, PlanRequest, TreatmentProtocol
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
"""

EPILOG = """\b
Examples:
  needle plan --patient P-0042 --indication acne-scars --start 2026-12-01
  needle plan --patient P-0042 --indication deep-scars --screening p42-screening.toml \\
      --time 10:30 --tz Europe/London --holidays GB --boosters 2 --format json
  needle plan --patient P-0042 --indication fine-lines --format toml --out p42-plan.toml
  needle plan --from p42-plan.toml --format ics --out p42.ics
  needle plan --from p42-plan.toml --move 3=2027-02-10 --format toml --out p42-plan.toml
"""

FORMATS = ("table", "json", "toml", "md", "ics")


class ScreeningRefusal(NeedleError):
    """The screening record does not allow planning (exit 3 or 4)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


def plan(
    patient: str | None = typer.Option(None, "--patient", "-p", help="Patient id (goes into ids and file names)."),
    indication: str | None = typer.Option(
        None, "--indication", "-i", help="fine-lines, acne-scars, texture, deep-scars, or a protocol .toml path."
    ),
    start: str | None = typer.Option(None, "--start", help="Earliest first session, YYYY-MM-DD.  [default: --on]"),
    sessions: int | None = typer.Option(None, "--sessions", "-n", help="Number of sessions.  [default: protocol's]"),
    interval_weeks: int | None = typer.Option(
        None, "--interval-weeks", "-w", help="Weeks between sessions.  [default: protocol's]"
    ),
    screening: Path | None = typer.Option(None, "--screening", help="A screening record from `needle screen --out`."),
    clinic_days: str | None = typer.Option(None, "--clinic-days", help="Open weekdays: mon-fri or mon,wed,fri."),
    closed: list[str] | None = typer.Option(None, "--closed", help="A closed date, YYYY-MM-DD (repeatable)."),
    holidays: str | None = typer.Option(None, "--holidays", help="Public holidays closed: GB, GB-SCT, US-CA ..."),
    time: str | None = typer.Option(None, "--time", help="Session start, HH:MM (24-hour)."),
    duration: int | None = typer.Option(None, "--duration", help="Session length in minutes.  [default: 60]"),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone, e.g. Europe/London."),
    boosters: int = typer.Option(0, "--boosters", help="Booster sessions after the series."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, toml, md or ics."),
    name: str | None = typer.Option(None, "--name", help="Patient's name, used only with --include-name."),
    include_name: bool = typer.Option(
        False, "--include-name", help="Put --name into calendar titles (a patient's own copy)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file (atomic, mode 0600)."),
    on: str | None = typer.Option(None, "--on", help="Planning date, YYYY-MM-DD.  [default: today]"),
    from_: Path | None = typer.Option(None, "--from", help="A saved plan (TOML) to re-export or reschedule."),
    move: list[str] | None = typer.Option(None, "--move", help="With --from: N=YYYY-MM-DD moves session N."),
) -> None:
    from needlecli import catalog, scheduling
    from needlecli.cli.common import check_out, check_patient, parse_on
    from needlecli.config import load_config

    day = parse_on(on)
    patient = check_patient(patient)
    shown_name = check_name(name, include_name)
    if fmt not in FORMATS:
        raise UsageError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if out is not None:
        check_out(out)
    cfg = load_config()
    notes: list[str] = []

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
        }
        clash = [k for k, v in given.items() if v is not None and v != []] + (["--boosters"] if boosters else [])
        if clash:
            raise UsageError(
                f"--from: the saved plan fixes {', '.join(clash)}; only --move, --format, --out, --on apply"
            )
        result = _from_saved(from_, move or [], day, notes)
    else:
        if move:
            raise UsageError("--move needs --from (a saved plan)")
        if indication is None:
            raise UsageError("--indication is required (fine-lines, acne-scars, texture, deep-scars, or a .toml path)")
        protocol = catalog.load_treatment(indication)
        request = _request(
            protocol,
            cfg,
            day,
            patient=patient,
            start=start,
            sessions=sessions,
            interval_weeks=interval_weeks,
            screening=screening,
            clinic_days=clinic_days,
            closed=closed or [],
            holidays=holidays,
            time=time,
            duration=duration,
            tz=tz,
            boosters=boosters,
            notes=notes,
        )
        result = scheduling.build_plan(protocol, request, day, cfg.uid_key or "")

    if fmt == "ics" and not result.request.patient:
        raise UsageError("--format ics needs --patient: calendar ids must be unique per patient")
    for note in notes:
        print(f"needle: {note}", file=sys.stderr)
    _emit(result, fmt, out, shown_name)


def _request(
    protocol: TreatmentProtocol,
    cfg: Config,
    day: dt.date,
    *,
    patient: str | None,
    start: str | None,
    sessions: int | None,
    interval_weeks: int | None,
    screening: Path | None,
    clinic_days: str | None,
    closed: list[str],
    holidays: str | None,
    time: str | None,
    duration: int | None,
    tz: str | None,
    boosters: int,
    notes: list[str],
) -> PlanRequest:
    import dataclasses

    from needlecli import clinic as clinic_mod
    from needlecli import scheduling
    from needlecli.cli.common import parse_flag_date as parse_date
    from needlecli.model import ClinicRules, PlanRequest

    not_before = None
    uses_retinoids = None
    pih = False
    if screening is not None:
        rec, verdict, earliest = _checked_screening(screening, notes)
        if patient is not None and rec.patient and rec.patient != patient:
            raise UsageError(f"--screening: the record is for patient {rec.patient!r}, not {patient!r}")
        patient = patient or rec.patient
        terms = scheduling.screening_terms(
            protocol, verdict, earliest, rec.evaluated_on, rec.uses_retinoids, rec.fitzpatrick
        )
        if terms.refusal == "contraindicated":
            raise ScreeningRefusal(
                f"{screening}: the screening verdict is contraindicated ({rec.evaluated_on}); no plan", 4
            )
        if terms.refusal is not None:
            raise ScreeningRefusal(
                f"{screening}: the screening defers treatment with no end date; re-assess before planning", 3
            )
        if verdict == "defer":
            notes.append(f"screening defers treatment until {earliest}: sessions start on or after it")
        not_before, uses_retinoids, pih = terms.not_before, terms.uses_retinoids, terms.pih
        age = (day - rec.evaluated_on).days
        if age > 90:
            notes.append(f"the screening is {age} days old ({rec.evaluated_on}); consider screening again")
    begin = parse_date(start, "--start") if start else day
    n = sessions if sessions is not None else protocol.sessions.default
    weeks = interval_weeks if interval_weeks is not None else protocol.interval_weeks.default
    weekdays = clinic_mod.parse_weekdays(clinic_days) if clinic_days is not None else cfg.days
    closed_days = {parse_date(c, "--closed") for c in closed} | set(cfg.closed)
    region = holidays if holidays is not None else cfg.holidays
    if region:
        clinic_mod.split_region(region)
    at = clinic_mod.parse_time(time) if time is not None else cfg.session_time
    zone = clinic_mod.check_zone(tz) if tz is not None else cfg.time_zone
    if at is not None and zone is None:
        notes.append("session times are in UTC (no --tz and no time_zone in the clinic config)")
    elif at is not None and tz is None:
        notes.append(f"session times are in {zone} (the clinic config's time_zone)")
    minutes = clinic_mod.check_duration(duration) if duration is not None else cfg.session_minutes
    request = PlanRequest(
        patient=patient or "",
        indication=protocol.info.name,
        start=begin,
        sessions=n,
        interval_weeks=weeks,
        clinic=ClinicRules(frozenset(weekdays), frozenset(closed_days), region),
        boosters=boosters,
        not_before=not_before,
        uses_retinoids=uses_retinoids,
        pih=pih,
        time=at,
        duration_minutes=minutes,
        tz=zone or "UTC",
    )
    scheduling.validate_request(protocol, request)  # before fetching holidays for a huge range
    if region:
        years = scheduling.holiday_years(protocol, request, max(begin, not_before or begin))
        closed_days |= clinic_mod.public_holidays(region, years)
        request = dataclasses.replace(request, clinic=ClinicRules(frozenset(weekdays), frozenset(closed_days), region))
    return request


def _checked_screening(path: Path, notes: list[str]) -> tuple[ScreeningRecord, str, dt.date | None]:
    """Read a screening record and re-evaluate its answers: never more permissive than the rules.

    With the protocol file unchanged, a verdict that disagrees with the answers is refused (a
    hand-edited record). With a changed protocol, the more restrictive of the two results is used.
    """
    from needlecli import catalog, screening
    from needlecli.answers import read_answers
    from needlecli.errors import AnswersError, RecordError
    from needlecli.model import severity_of
    from needlecli.records import read_screening_record

    rec = read_screening_record(path)
    origin = rec.protocol_origin
    proto = catalog.load_screening(catalog.ref_of(origin))
    try:
        answers, missing = read_answers(proto, rec.answers, f"{path}: answers")
    except AnswersError as exc:
        raise RecordError(str(exc)) from None
    if missing:
        raise RecordError(f"{path}: answers: missing {', '.join(missing)}; screen again")
    fresh = screening.evaluate(proto, answers, rec.evaluated_on)
    verdict, earliest = rec.verdict, rec.earliest_date
    if (fresh.verdict, fresh.earliest_date) != (verdict, earliest):
        if proto.info.sha256 == rec.protocol_sha256:
            raise RecordError(f"{path}: the verdict does not match the answers (was it edited?); screen again")
        notes.append(f"the screening protocol changed since {path} was written; using the stricter result")
        if severity_of(fresh.verdict) > severity_of(verdict):
            verdict, earliest = fresh.verdict, fresh.earliest_date
        elif fresh.verdict == verdict == "defer":
            both = (earliest, fresh.earliest_date)
            earliest = None if both[0] is None or both[1] is None else max(both[0], both[1])
    return rec, verdict, earliest


def _from_saved(path: Path, moves: list[str], day: dt.date, notes: list[str]) -> Plan:
    import contextlib
    import dataclasses

    from needlecli import catalog, scheduling
    from needlecli.cli.common import parse_flag_date
    from needlecli.plans import read_plan
    from needlecli.records import read_toml_file

    saved = read_plan(read_toml_file(path, "saved plan"), str(path))
    origin = saved.protocol.origin
    protocol = catalog.load_treatment(catalog.ref_of(origin))
    if protocol.info.sha256 != saved.protocol.sha256:
        notes.append(
            f"protocol {saved.protocol.name} has changed since the plan was saved "
            f"({saved.protocol.version} -> {protocol.info.version}); windows follow the current file"
        )
    request = saved.request
    scheduling.validate_request(protocol, request)
    if request.clinic.holidays and moves:
        # Moves may reach years the saved holidays do not cover: add those years again.
        from needlecli import clinic as clinic_mod

        latest = max([*saved.session_dates, *saved.booster_dates, day])
        for spec in moves:
            with contextlib.suppress(ValueError):
                latest = max(latest, dt.date.fromisoformat(spec.partition("=")[2].strip()))
        years = range(saved.session_dates[0].year, latest.year + 3)
        extra = clinic_mod.public_holidays(request.clinic.holidays, years, "request.holidays")
        request = dataclasses.replace(
            request, clinic=dataclasses.replace(request.clinic, closed=request.clinic.closed | extra)
        )
    scheduling.check_saved(protocol, request, saved.session_dates, str(path), saved.booster_dates)
    plan = scheduling.rebuild(
        protocol,
        request,
        plan_id=saved.plan_id,
        revision=saved.revision,
        created_on=saved.created_on,
        session_dates=saved.session_dates,
        booster_dates=saved.booster_dates,
        revisions=saved.revisions,
        notes=saved.notes,
        signatures=saved.signatures,
        on=day,
    )
    for spec in moves:
        number_text, sep, date_text = spec.partition("=")
        if not sep or not (number_text.strip().isdecimal() and number_text.strip().isascii()):
            raise UsageError(f"--move: expected N=YYYY-MM-DD such as 3=2027-02-10, got {spec!r}")
        plan = scheduling.reschedule(protocol, plan, int(number_text), parse_flag_date(date_text, "--move"), day)
    return plan


def check_name(name: str | None, include_name: bool) -> str | None:
    """The name to show in exports: only when asked for with --include-name."""
    if include_name and not (name and name.strip()):
        raise UsageError("--include-name needs --name NAME")
    if name is not None and (not name.isprintable() or len(name) > 100):
        raise UsageError("--name: must be one line of printable text, at most 100 characters")
    if name is not None and not include_name:
        raise UsageError("--name is used only with --include-name (names stay out of exports unless asked)")
    return name.strip() if include_name and name else None


def _emit(plan: Plan, fmt: str, out: Path | None, name: str | None = None) -> None:
    from needlecli.records import write_atomic

    if fmt == "table":
        if out is not None:
            from needlecli.cli.render import plan_table_text

            write_atomic(out, plan_table_text(plan).encode("utf-8"))
            return
        from needlecli.cli.render import print_plan

        print_plan(plan)
        return
    if fmt == "json":
        import json

        from needlecli.plans import plan_document, to_json_ready

        text = json.dumps(to_json_ready(plan_document(plan)), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "ics":
        from needlecli.render.ics import plan_calendar

        data = plan_calendar(plan, name=name)
        if out is not None:
            write_atomic(out, data)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    elif fmt == "toml":
        import tomli_w

        from needlecli.plans import plan_document, to_toml_ready

        text = tomli_w.dumps(to_toml_ready(plan_document(plan)))
    else:
        from needlecli.render.markdown import plan_markdown

        text = plan_markdown(plan)
    if out is not None:
        write_atomic(out, text.encode("utf-8"))
    else:
        sys.stdout.write(text)
