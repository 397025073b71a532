"""One path from a request to a plan: `plan`, `aftercare` and `batch` all go through here.

A request is what the user asked for (flags, or a CSV row) merged over the clinic's
config and the protocol's defaults, gated by a screening (a saved record, or answers
screened on the spot), or a saved plan and the moves asked of it. The commands read
the files and parse the flags; this module turns the typed pieces into a `Plan`.

No file, clock or environment is read here: protocols, records, saved plans, the
config and the planning date are arguments. (Public holidays come from the
`holidays` package's data, imported on first use.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from needlecli import clinic, revisions, scheduling
from needlecli.answers import read_answers
from needlecli.errors import AnswersError, Contraindicated, Deferred, RecordError, UsageError
from needlecli.identity import plan_id_for
from needlecli.model import (
    AnswerValue,
    ClinicRules,
    Finding,
    Note,
    Plan,
    PlanRequest,
    ProtocolRef,
    ScreeningBasis,
    ScreeningProtocol,
    ScreeningResult,
    Span,
    TreatmentProtocol,
    Verdict,
    as_verdict,
    severity_of,
)
from needlecli.revisions import midnight, next_stamp, rebuild_over
from needlecli.screening import evaluate

if TYPE_CHECKING:
    from needlecli.config import Config
    from needlecli.plans import SavedPlan
    from needlecli.records import ScreeningRecord


@dataclass(frozen=True)
class PlanFlags:
    """What was asked for one plan (command-line flags or a CSV row), typed.

    None means "not given": the clinic config, then the protocol's default, applies.
    """

    patient: str | None = None
    start: dt.date | None = None
    sessions: int | None = None
    interval_weeks: int | None = None
    clinic_days: frozenset[int] | None = None
    closed: frozenset[dt.date] = frozenset()
    holidays: str | None = None
    time: dt.time | None = None
    duration: int | None = None
    tz: str | None = None
    boosters: int = 0
    away: tuple[tuple[dt.date, dt.date], ...] = ()
    sun_trips: tuple[tuple[dt.date, dt.date], ...] = ()
    max_depth: float | None = None
    zones: tuple[str, ...] = ()


Refusal = Literal["contraindicated", "undated deferral"]


@dataclass(frozen=True)
class ScreeningTerms:
    """What a screening result means for planning (the same for `plan --screening`, saved plans and `batch`)."""

    verdict: Verdict
    earliest: dt.date | None
    evaluated_on: dt.date
    #: The screening protocol's `record.valid_days`: older at planning, a note says to screen again.
    valid_days: int
    refusal: Refusal | None
    not_before: dt.date | None
    uses_retinoids: bool | None
    findings: tuple[Finding, ...]
    #: What the plan keeps of the screening, to screen its answers again whenever it is read.
    basis: ScreeningBasis
    #: For the plan's notes: the protocol in force differs from the record's, its overrides.
    plan_notes: tuple[Note, ...] = ()

    def refuse(self, source: str) -> None:
        """Raise the refusal (exit 4 or 3) when the screening does not allow a plan."""
        if self.refusal == "contraindicated":
            raise Contraindicated(f"{source}: the screening verdict is contraindicated ({self.evaluated_on}); no plan")
        if self.refusal is not None:
            raise Deferred(f"{source}: the screening defers treatment with no end date; re-assess before planning")

    def refusing_findings(self) -> tuple[str, ...]:
        """The finding ids behind a refusal: the contraindications, or the deferrals without a date."""
        if self.refusal == "contraindicated":
            return tuple(dict.fromkeys(f.id for f in self.findings if f.category == "contraindicated"))
        return tuple(dict.fromkeys(f.id for f in self.findings if f.category == "defer" and f.until is None))


def terms_of(
    screening: ScreeningProtocol,
    result: ScreeningResult,
    answers: dict[str, AnswerValue],
    basis: ScreeningBasis,
) -> ScreeningTerms:
    """Refuse contraindicated patients and undated deferrals; otherwise never start before the
    screening itself, nor before the end of a dated deferral."""
    verdict, earliest, evaluated_on = result.verdict, result.earliest_date, result.evaluated_on
    refusal: Refusal | None = None
    if verdict == "contraindicated":
        refusal = "contraindicated"
    elif verdict == "defer" and earliest is None:
        refusal = "undated deferral"
    not_before = max(earliest, evaluated_on) if verdict == "defer" and earliest else evaluated_on
    retinoids = answers.get("uses_retinoids")
    return ScreeningTerms(
        verdict=verdict,
        earliest=earliest,
        evaluated_on=evaluated_on,
        valid_days=screening.valid_days,
        refusal=refusal,
        not_before=not_before,
        uses_retinoids=retinoids if isinstance(retinoids, bool) else None,
        findings=result.findings,
        basis=basis,
    )


def _ref(protocol: ScreeningProtocol) -> ProtocolRef:
    info = protocol.info
    return ProtocolRef(info.name, info.version, info.sha256, info.origin)


def screen_answers(screening: ScreeningProtocol, answers: dict[str, AnswerValue], on: dt.date) -> ScreeningTerms:
    """Screen typed answers on ``on`` (a batch row's screening columns)."""
    result = evaluate(screening, answers, on)
    kept = tuple((k, False if v is None else v) for k, v in answers.items())
    basis = ScreeningBasis(_ref(screening), on, result.verdict, result.earliest_date, kept)
    return terms_of(screening, result, answers, basis)


def basis_of(record: ScreeningRecord, screening: ScreeningProtocol) -> ScreeningBasis:
    """What a plan keeps of a screening record."""
    ref = dataclasses.replace(_ref(screening), sha256=record.protocol_sha256, origin=record.protocol_origin)
    return ScreeningBasis(ref, record.evaluated_on, record.verdict, record.earliest_date, tuple(record.answers.items()))


def _finding_key(f: Finding) -> tuple[str, str, dt.date | None]:
    return (f.id, f.category, f.until)


def record_terms(
    basis: ScreeningBasis,
    screening: ScreeningProtocol,
    source: str,
    notes: list[str],
    stored: tuple[Finding, ...] | None = None,
) -> ScreeningTerms:
    """A saved screening (a record, or the one kept in a saved plan), re-evaluated from its answers
    under the screening protocol in force: never more permissive than the rules.

    With the screening protocol unchanged, a verdict or ``stored`` findings (a record's) that disagree
    with the answers are refused (a hand-edited file). With a changed protocol, the more restrictive of
    the two verdicts is used, and the findings of both (so a rule loosened since cannot drop a caution).
    """
    try:
        answers, missing = read_answers(screening, dict(basis.answers), f"{source}: answers")
    except AnswersError as exc:
        raise RecordError(str(exc)) from None
    if missing:
        raise RecordError(f"{source}: answers: missing {', '.join(missing)}; screen again")
    try:
        fresh = evaluate(screening, answers, basis.evaluated_on)
    except AnswersError as exc:
        raise RecordError(f"{source}: {exc}") from None
    same = screening.info.sha256 == basis.protocol.sha256
    plan_notes: list[Note] = []
    if not same:
        plan_notes.append(
            Note(
                "screening",
                f"The screening was made under another version of the screening protocol "
                f"({basis.protocol.name} {basis.protocol.version}, {basis.protocol.sha256[:12]}); it was checked "
                f"again under the one in force ({screening.info.name} {screening.info.version}, "
                f"{screening.info.sha256[:12]}), taking the stricter result.",
            )
        )
    plan_notes += [
        Note("override", f"Screening protocol {screening.info.name} loosens {qid} (override: {reason}).")
        for qid, reason in screening.overrides
    ]
    verdict = as_verdict(basis.verdict)
    earliest = basis.earliest_date
    if (fresh.verdict, fresh.earliest_date) != (verdict, earliest):
        if same:
            raise RecordError(f"{source}: the verdict does not match the answers (was it edited?); screen again")
        notes.append(f"the screening protocol changed since {source} was written; using the stricter result")
        if severity_of(fresh.verdict) > severity_of(verdict):
            verdict, earliest = fresh.verdict, fresh.earliest_date
        elif fresh.verdict == verdict == "defer":
            both = (earliest, fresh.earliest_date)
            earliest = None if both[0] is None or both[1] is None else max(both[0], both[1])
    findings = fresh.findings
    if stored is not None:
        known = {_finding_key(f) for f in fresh.findings}
        if known != {_finding_key(f) for f in stored}:
            if same:
                raise RecordError(
                    f"{source}: the findings do not match the answers under the screening protocol in force "
                    "(was it edited?); screen again"
                )
            findings += tuple(f for f in stored if _finding_key(f) not in known)
    result = dataclasses.replace(fresh, verdict=verdict, earliest_date=earliest, findings=findings)
    terms = terms_of(screening, result, answers, basis)
    return dataclasses.replace(terms, plan_notes=tuple(plan_notes))


def with_patient_dates(protocol: TreatmentProtocol, request: PlanRequest) -> PlanRequest:
    """The clinic calendar with the patient's own dates blocked: away, and the days after a sun trip."""
    after = protocol.after_sun_trip_days
    blocked = tuple(Span(a, b, f"the patient is away ({a.isoformat()} to {b.isoformat()})") for a, b in request.away)
    blocked += tuple(
        Span(a, b + dt.timedelta(days=after), f"within {after} days after the patient's sun trip ({a}..{b})")
        for a, b in request.sun_trips
    )
    return dataclasses.replace(request, clinic=dataclasses.replace(request.clinic, blocked=blocked))


@functools.lru_cache(maxsize=256)
def _public_holidays(region: str, first: int, stop: int, where: str) -> frozenset[dt.date]:
    return clinic.public_holidays(region, range(first, stop), where)


def holidays_in(region: str, years: range, where: str) -> frozenset[dt.date]:
    """A region's public holidays over ``years`` (remembered: a batch asks for the same ones often)."""
    return _public_holidays(region, years.start, years.stop, where)


#: The most region codes the holidays note names (the US has 46 with holidays of their own).
SHOWN_REGIONS = 8


def region_note(region: str, where: str, on: dt.date) -> str | None:
    """What to say when ``region`` is a country whose regions add public holidays of their own (judged
    over the year of ``on`` and the next): it closes only the days common to all of the country."""
    codes = clinic.regions_adding_holidays(region, (on.year, on.year + 1))
    if not codes:
        return None
    country = clinic.split_region(region, where)[0]
    shown = ", ".join(codes[:SHOWN_REGIONS])
    if len(codes) > SHOWN_REGIONS:
        shown += f" and {len(codes) - SHOWN_REGIONS} more"
    given = f"--holidays {region}" if where == "--holidays" else f'{where} "{region}"'
    return (
        f"{given} closes only the holidays common to all of {country}; "
        f"for a region's own holidays give its code: {shown}"
    )


def build_request(
    protocol: TreatmentProtocol,
    flags: PlanFlags,
    config: Config,
    on: dt.date,
    *,
    screening: ScreeningTerms | None = None,
    notes: list[str] | None = None,
) -> PlanRequest:
    """Flags over the clinic config over the protocol's defaults, gated by the screening."""
    notes = notes if notes is not None else []
    begin = flags.start or on
    region = flags.holidays if flags.holidays is not None else config.holidays
    region_where = "--holidays" if flags.holidays is not None else "config clinic.holidays"
    if region:
        clinic.split_region(region, region_where)
        note = region_note(region, region_where, on)
        if note is not None and note not in notes:
            notes.append(note)
    at = flags.time if flags.time is not None else config.session_time
    zone = flags.tz if flags.tz is not None else config.time_zone
    if at is not None and zone is None:  # guessed: say so (a configured zone is the clinic's choice)
        notes.append("session times are in UTC (no --tz and no time_zone in the clinic config)")
    weekdays = flags.clinic_days if flags.clinic_days is not None else config.days
    closed = flags.closed | config.closed
    for first, last in (*flags.away, *flags.sun_trips):
        if last < first:
            raise UsageError(f"--away/--sun-trip: {first}..{last} ends before it starts")
    request = PlanRequest(
        patient=flags.patient or "",
        indication=protocol.info.name,
        start=begin,
        sessions=flags.sessions if flags.sessions is not None else protocol.sessions.default,
        interval_weeks=flags.interval_weeks if flags.interval_weeks is not None else protocol.interval_weeks.default,
        clinic=ClinicRules(frozenset(weekdays), frozenset(closed), region),
        boosters=flags.boosters,
        not_before=screening.not_before if screening else None,
        uses_retinoids=screening.uses_retinoids if screening else None,
        time=at,
        duration_minutes=flags.duration if flags.duration is not None else config.session_minutes,
        tz=zone or "UTC",
        findings=screening.findings if screening else (),
        away=flags.away,
        sun_trips=flags.sun_trips,
        max_depth_mm=flags.max_depth if flags.max_depth is not None else config.device_max_depth_mm,
        screening=screening.basis if screening else None,
        zones=flags.zones,
    )
    request = with_patient_dates(protocol, request)
    scheduling.validate_request(protocol, request)  # before fetching holidays for a huge range
    if region:
        first = max(begin, request.not_before or begin)
        extra = holidays_in(region, scheduling.holiday_years(protocol, request, first), region_where)
        request = dataclasses.replace(request, clinic=dataclasses.replace(request.clinic, closed=closed | extra))
    return request


def new_plan(
    protocol: TreatmentProtocol,
    flags: PlanFlags,
    config: Config,
    on: dt.date,
    *,
    screening: ScreeningTerms | None = None,
    source: str = "screening",
    notes: list[str] | None = None,
    stamp: dt.datetime | None = None,
    allow_past: bool = True,
    start_flag: str = "--start",
    fresh_id: Callable[[], str] | None = None,
) -> Plan:
    """A new series from flags (or a CSV row); refused (exit 3 or 4) when the screening forbids it,
    and (without ``allow_past``) when its first session would be before ``on`` (the error names
    ``start_flag``, where the start was given).

    ``stamp`` is when the plan is made (UTC; default midnight of ``on``): its calendar DTSTAMP.
    A plan for no patient id has nothing to key its calendar ids on: with ``fresh_id`` (the caller's
    source of random ids; a saved plan keeps the one it got) its plan id is a fresh one."""
    notes = notes if notes is not None else []
    if screening is not None:
        _gate(screening, source, on, notes)
        if screening.verdict == "defer":
            notes.append(deferral_note(screening))
    request = build_request(protocol, flags, config, on, screening=screening, notes=notes)
    plan = scheduling.build_plan(protocol, request, on, config.uid_key or "")
    if screening is not None and screening.plan_notes:
        plan = dataclasses.replace(plan, notes=screening.plan_notes + plan.notes)
    if not allow_past and plan.sessions[0].date < on:
        raise UsageError(
            f"{start_flag}: the first session would be on {plan.sessions[0].date.isoformat()}, before "
            f"{on.isoformat()} (--on/today); give a later {start_flag}, or --allow-past to record "
            "a past series"
        )
    if not request.patient and fresh_id is not None:
        plan = dataclasses.replace(plan, plan_id=fresh_id())
    return dataclasses.replace(plan, stamp=stamp or midnight(on))


def over_saved(plan: Plan, saved: SavedPlan, out: str, now: dt.datetime, notes: list[str]) -> Plan:
    """A new plan written as a saved plan over the saved plan ``saved`` at ``out`` (`plan --out
    p.toml` again): rebuilt over it, so the calendars that imported it update instead of doubling."""
    rebuilt = rebuild_over(plan, saved, f"--out {out}", now)
    notes.append(f"rebuilt over {out}: same calendar ids, revision {rebuilt.revision}")
    return rebuilt


def _gate(screening: ScreeningTerms, source: str, on: dt.date, notes: list[str]) -> None:
    """Refuse what the screening does not allow (exit 4 or 3); note a screening too old to rely on."""
    screening.refuse(source)
    age = (on - screening.evaluated_on).days
    if age > screening.valid_days:
        notes.append(f"the screening is {age} days old ({screening.evaluated_on}); consider screening again")


def deferral_note(screening: ScreeningTerms) -> str:
    """What `new_plan` says of a dated deferral (the plan itself notes it when it moved the start)."""
    return f"screening defers treatment until {screening.earliest}: sessions start on or after it"


def for_patient(plan: Plan, patient: str, uid_key: str) -> Plan:
    """A new plan (``new_plan``'s, revision 0) for another patient with the same flags otherwise:
    only the request's patient and the plan id derived from it differ (a batch plans many patients
    alike and computes each such series once). tests/test_batch_memo.py holds it to ``new_plan``."""
    request = dataclasses.replace(plan.request, patient=patient)
    return dataclasses.replace(plan, request=request, plan_id=plan_id_for(request, key=uid_key))


def patient_of_record(record: ScreeningRecord, patient: str | None) -> str | None:
    """The patient a plan is for: the flag, which must agree with the record's patient id."""
    if patient is not None and not record.patient:
        raise UsageError(
            "--screening: the record names no patient, so it cannot be checked against --patient; "
            "screen again with --patient"
        )
    if patient is not None and record.patient != patient:
        raise UsageError(f"--screening: the record is for patient {record.patient!r}, not {patient!r}")
    return patient or record.patient or None


def saved_plan(
    protocol: TreatmentProtocol,
    saved: SavedPlan,
    moves: Sequence[tuple[str, dt.date]],
    on: dt.date,
    source: str,
    notes: list[str] | None = None,
    screening: ScreeningProtocol | None = None,
    stamp: dt.datetime | None = None,
) -> Plan:
    """A saved plan checked against the rules again, then each move applied in turn.

    What a screening imposes (the start, the retinoid pause, cautions, depths) is derived again
    from the screening answers the plan keeps, never taken from the derived fields in the file.
    """
    notes = notes if notes is not None else []
    if protocol.info.sha256 != saved.protocol.sha256:
        notes.append(
            f"protocol {saved.protocol.name} has changed since the plan was saved "
            f"({saved.protocol.version} -> {protocol.info.version}); windows follow the current file"
        )
    request = with_patient_dates(protocol, saved.request)
    said: tuple[Note, ...] = ()  # what the screening protocol in force says of this plan's screening
    if request.screening is not None:
        if screening is None:
            raise RecordError(f"{source}: the plan's screening protocol is needed to read it")
        terms = record_terms(request.screening, screening, f"{source}: screening", notes, saved.findings or None)
        if request.course is None or not request.course.halted:  # a halted series keeps what halted it
            terms.refuse(f"{source}: screening")
        said = terms.plan_notes
        not_before = max(d for d in (terms.not_before, request.not_before) if d is not None)
        request = dataclasses.replace(
            request, not_before=not_before, uses_retinoids=terms.uses_retinoids, findings=terms.findings
        )
    else:
        derived = _screening_derived(protocol, saved)
        if derived:
            raise RecordError(
                f"{source}: carries what a screening imposes ({', '.join(derived)}) but not the screening "
                "that made it ([screening] is missing; was it edited?); plan again from the screening record"
            )
        if request.uses_retinoids is False:
            # Without a screening nothing says the patient uses no retinoids.
            request = dataclasses.replace(request, uses_retinoids=None)
    scheduling.validate_request(protocol, request)
    if request.clinic.holidays and moves:
        # Moves may reach years the saved holidays do not cover: add those years again.
        latest = max([*saved.session_dates, *saved.booster_dates, on, *(day for _, day in moves)])
        years = range(saved.session_dates[0].year, latest.year + 3)
        extra = holidays_in(request.clinic.holidays, years, "request.holidays")
        request = dataclasses.replace(
            request, clinic=dataclasses.replace(request.clinic, closed=request.clinic.closed | extra)
        )
    revisions.check_saved(protocol, request, saved.session_dates, source, saved.booster_dates)
    plan = revisions.rebuild(
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
        on=on,
    )
    kept = saved.stamp or midnight(saved.created_on)
    revised = plan.revision != saved.revision
    for label, day in moves:
        booster = label.upper().startswith("B")
        plan = revisions.reschedule(protocol, plan, int(label.lstrip("Bb")), day, on, booster=booster)
    plan = dataclasses.replace(plan, cancelled=saved.cancelled)
    if said:
        plan = dataclasses.replace(plan, notes=tuple(n for n in said if n not in plan.notes) + plan.notes)
    if moves or revised:
        return dataclasses.replace(plan, stamp=next_stamp(kept, stamp or midnight(on)))
    return dataclasses.replace(plan, stamp=kept)


def _screening_derived(protocol: TreatmentProtocol, saved: SavedPlan) -> list[str]:
    """What a saved plan without a screening still carries that only a screening makes: a deferral's
    start, findings or a verdict, caution windows, caution or screening notes."""
    out = []
    if saved.request.not_before is not None:
        out.append("request.not_before")
    if saved.findings or saved.verdict:
        out.append("findings" if saved.findings else "verdict")
    out += saved.marks
    caution_windows = {c.window.id for c in protocol.cautions if c.window is not None}
    if any(key.rsplit("-", 1)[0].removeprefix("booster-") in caution_windows for key in saved.signatures):
        out.append("caution windows")
    causes = {c.finding for c in protocol.cautions} | {"screening"}
    if any(n.cause in causes for n in saved.notes):
        out.append("screening notes")
    return out


def one_session(
    protocol: TreatmentProtocol,
    flags: PlanFlags,
    config: Config,
    day: dt.date,
    on: dt.date,
    *,
    screening: ScreeningTerms | None = None,
    source: str = "screening",
    notes: list[str] | None = None,
) -> Plan:
    """A one-session plan on ``day`` as given (`aftercare --session-date`): no spacing or clinic-day rules.

    With a ``screening``, its cautions apply as in a series (the prescribed-medicine window, say); it is
    refused as `new_plan` refuses it, and so is a day before the end of a dated deferral."""
    if flags.tz is not None and flags.time is None:
        raise UsageError("--tz goes with --time")
    if screening is not None and day < screening.evaluated_on:
        raise UsageError(
            f"--session-date {day.isoformat()}: before the screening ({screening.evaluated_on.isoformat()}); "
            "a session is never planned before its screening"
        )
    if screening is not None:
        _gate(screening, source, on, notes if notes is not None else [])
        if screening.verdict == "defer" and screening.not_before is not None and day < screening.not_before:
            raise UsageError(
                f"--session-date {day.isoformat()}: the screening defers treatment until "
                f"{screening.not_before.isoformat()}; give a session date on or after it"
            )
    request = PlanRequest(
        patient=flags.patient or "",
        indication=protocol.info.name,
        start=day,
        sessions=1,
        interval_weeks=protocol.interval_weeks.default,
        clinic=ClinicRules(frozenset(range(7)), frozenset()),
        time=flags.time,
        duration_minutes=config.session_minutes,
        tz=flags.tz or config.time_zone or "UTC",
        uses_retinoids=screening.uses_retinoids if screening else None,
        findings=screening.findings if screening else (),
        screening=screening.basis if screening else None,
    )
    return scheduling.single_session_plan(protocol, request, day, on, config.uid_key or "")
