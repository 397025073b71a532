"""One row to one plan: the request its cells make, screened when the list has the screening
columns, planned and rendered (a series computed for an earlier patient is reused).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Hashable
from typing import Any

from needlecli import clinic, export, identity, planning, revisions
from needlecli.answers import parse_text
from needlecli.batch.context import Context
from needlecli.batch.history import events_of, history_text
from needlecli.batch.results import RowResult
from needlecli.batch.rows import MAX_CELL, REQUIRED_COLUMNS, is_utf8
from needlecli.config import export_options
from needlecli.dates import BadAnswer, parse_date
from needlecli.errors import NeedleError, ScreeningRefusal, UsageError
from needlecli.model import AnswerValue, Plan, TreatmentProtocol


def _int(value: str, column: str) -> int:
    if not (value.isascii() and value.isdecimal()):
        raise UsageError(f"{column}: {value[:20]!r} is not a whole number")
    if len(value) > 6:  # int() of a few thousand digits is refused by Python itself: say what is wrong
        raise UsageError(f"{column}: {value[:12]}... ({len(value)} digits) is not a sensible number")
    return int(value)


def patient_of(ctx: Context, cells: list[str] | None) -> str:
    idx = ctx.header.index("patient_id")
    return cells[idx] if cells is not None and idx < len(cells) else ""


def plan_row(
    ctx: Context,
    number: int,
    cells: list[str],
    history: revisions.History | None = None,
    now: dt.datetime | None = None,
) -> tuple[RowResult, bytes | None, str]:
    """Plan one row, rebuilt over ``history`` when given (as of ``now``, else the run's stamp):
    (summary, file bytes or None, file name). Never raises."""
    pid = patient_of(ctx, cells)
    try:
        if len(cells) < len(ctx.header):
            absent = ctx.header[len(cells) :]
            questions = ctx.screening.ids if ctx.screening is not None else ()
            required = [c for c in absent if c in REQUIRED_COLUMNS or c in questions]
            if required:
                raise UsageError(f"missing column {required[0]!r} ({len(cells)} of {len(ctx.header)} cells)")
            cells = cells + [""] * len(absent)  # optional trailing cells left out: empty
        if len(cells) > len(ctx.header):
            raise UsageError(f"unknown column: {len(cells)} cells but the header has {len(ctx.header)}")
        row = dict(zip(ctx.header, cells, strict=True))
        row.pop("", None)  # the columns needle does not use: whatever bytes they hold cost nothing
        unreadable = next((column for column, value in row.items() if not is_utf8(value)), None)
        if unreadable is not None:
            raise UsageError(f"{unreadable}: not UTF-8 or Windows-1252 text (save the CSV as 'CSV UTF-8')")
        if not row.get("name") and (row.get("first_name") or row.get("last_name")):
            row["name"] = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
        return _plan_cells(ctx, number, row, history, now)
    except (NeedleError, BadAnswer) as exc:
        return RowResult(number, pid, "error", error=f"row {number}: {exc}"), None, ""
    except Exception as exc:  # a bug must cost one row, not the run (and never print patient data)
        error = f"row {number}: internal error ({type(exc).__name__}); please report it"
        return RowResult(number, pid, "error", error=error), None, ""


def _plan_cells(
    ctx: Context,
    number: int,
    row: dict[str, str],
    history: revisions.History | None = None,
    now: dt.datetime | None = None,
) -> tuple[RowResult, bytes | None, str]:
    for column in REQUIRED_COLUMNS:
        if not row[column].strip():
            raise UsageError(f"{column} is empty")
    pid = identity.check_patient(row["patient_id"], "patient_id") or ""
    if ctx.include_name and row.get("name") and not row["name"].isprintable():
        raise UsageError("name: must be one line of printable text")
    protocol = ctx.protocol(row["indication"])
    order = ctx.config.date_order
    try:
        start = parse_date(row["start"], order)
    except BadAnswer as exc:
        raise UsageError(f"start: {row['start']!r} is {exc}") from None
    flags = planning.PlanFlags(
        patient=pid,
        start=start,
        sessions=_int(row["sessions"], "sessions") if row.get("sessions") else None,
        interval_weeks=_int(row["interval_weeks"], "interval_weeks") if row.get("interval_weeks") else None,
        boosters=_int(row["boosters"], "boosters") if row.get("boosters") else ctx.boosters,
        time=clinic.parse_time(row["time"], "time") if row.get("time") else None,
        tz=clinic.check_zone(row["tz"], "tz") if row.get("tz") else None,
    )
    terms = None
    answers: dict[str, AnswerValue] = {}
    if ctx.screening is not None:
        for q in ctx.screening.questions:
            try:
                answers[q.id] = parse_text(q, row[q.id], order)
            except BadAnswer as exc:
                raise UsageError(f"{q.id}: {exc}") from None
        terms = planning.screen_answers(ctx.screening, answers, ctx.on)
    kept = _screening_kept(ctx, pid, answers) if ctx.register is not None and ctx.screening is not None else None
    before = ctx.booked(pid, protocol.info.name) if ctx.register is not None else None
    refusal = None  # a series with a history (sessions done or missed, on hold): batch never books over it
    if before is not None:
        from needlecli.course import rebook_refusal
        from needlecli.plans import read_plan_text

        source = f"the register: {pid}'s {protocol.info.name} series, revision {before[0]}"
        saved = read_plan_text(before[1], source)
        refusal = rebook_refusal(saved, pid, restart=False)
    unchanged = renamed = False
    shown = (row.get("name") or None) if ctx.include_name else None
    if ctx.include_name and shown is None and before is not None:
        shown = before[2]  # no name in the row: the one the register keeps (as `export --include-name`)
    # A fresh series like one already made in this process except for the patient: that plan with this
    # patient's id and plan id, and its file with the plan id put in (see Context.series).
    fresh = history is None and shown is None and before is None
    same = ctx.series_key(protocol, flags, terms) if fresh else None
    known = ctx.series.get(same) if same is not None else None
    if known is not None:
        plan = planning.for_patient(known[0], pid, ctx.config.uid_key or "")
        data = known[1].with_plan_id(plan.plan_id)
        notes = known[2]
    else:
        said: list[str] = []
        try:
            plan = planning.new_plan(
                protocol,
                flags,
                ctx.config,
                ctx.on,
                screening=terms,
                notes=said,
                allow_past=ctx.allow_past,
                start_flag="start",
            )
        except ScreeningRefusal:
            assert terms is not None
            why = "contraindicated" if terms.refusal == "contraindicated" else "deferred with no end date (re-assess)"
            error = f"no plan: {why} ({', '.join(terms.refusing_findings())})"
            refused = RowResult(number, pid, "refused", verdict=terms.verdict, error=error)
            if kept is not None:
                refused = dataclasses.replace(refused, screening_record=kept[0], screened_on=kept[1])
            return refused, None, ""
        if before is None and history is not None and history.patient == pid:
            # Last run's plan for this patient: the same calendar ids, SEQUENCE above, removed items cancelled
            # (a changed indication too: the clinic changed its list, the patient's calendar must follow).
            plan = revisions.rebuild_over(
                plan, history, "batch", now or ctx.stamp or revisions.midnight(ctx.on), same_indication=False
            )
        if before is not None:
            # Booked before: this booking is the series' next revision (same calendar ids, SEQUENCE up),
            # unless it would change nothing (a rerun of the same list): then the booked revision stays.
            if refusal is not None:
                # Under way or on hold: the row asking for the series as booked is the register's series
                # as it is now (its file as `needle export` writes it); a row asking for another is refused,
                # and so is one for a stopped series.
                halted = saved.request.course.halted if saved.request.course is not None else None
                if halted == "stopped" or not _asks_for(ctx, plan, saved, protocol, source):
                    raise UsageError(f"--book: {refusal}")
                # The register's series as `needle export` writes it (the screening protocol in force).
                from needlecli import catalog

                folder = ctx.config.protocols_dir
                in_force = ctx.screening or catalog.load_screening(catalog.STANDARD_SCREENING, folder)
                plan, unchanged = catalog.plan_in_force(saved, source, [], ctx.on, [], folder, in_force)[0], True
                said.clear()  # what planning said of the row's own plan: not the one written
                state = (
                    "on hold (a clear re-check resumes it)" if halted else "under way (check, done and missed move it)"
                )
                said.append(f"already booked: revision {before[0]}, {state}; unchanged")
            else:
                same_plan = revisions.as_booked(plan, saved)
                same_text = _saved_text(ctx, None, same_plan, protocol)
                if same_text != before[1]:  # the clinic's slots may have placed it elsewhere: as booked there?
                    same_plan = _in_slots_of(ctx, same_plan, same_text, saved, protocol, source)
                    same_text = _saved_text(ctx, None, same_plan, protocol)
                stamp = now or ctx.stamp or revisions.midnight(ctx.on)
                if same_text == before[1] and (shown is None or shown == before[2]):
                    plan, unchanged = same_plan, True
                    said.append(f"already booked: revision {before[0]}, unchanged")
                elif same_text == before[1]:  # only the name changed: booked again as it is, in its places
                    plan, renamed = revisions.rebuild_over(same_plan, saved, source, stamp), True
                    said.append(f"already booked: revision {before[0]}, booked again under the name given")
                else:
                    plan = revisions.rebuild_over(plan, saved, source, stamp)
        cfg = ctx.config
        options = export_options(cfg, export.EXPORTERS[ctx.fmt].batch_document, name=shown, protocol=protocol)
        data = ctx.render(plan, options)
        notes = row_notes(plan, [n for n in said if n not in ctx.run_notes], terms)
        if same is not None:
            ctx.remember_series(same, plan, data, notes)
    name = f"{identity.safe_name(pid)}.{ctx.fmt}"
    made = revisions.History.of_plan(plan)
    times = {a.key: (a.start, a.end) for a in plan.appointments if a.start and a.end}
    kept_history = history_text(ctx, made, times)
    clinic_events = events_of(ctx, pid, made, times) if ctx.clinic_calendar else b""
    booking: dict[str, Any] = {}
    if kept is not None:
        booking |= {"screening_record": kept[0], "screened_on": kept[1]}
    if ctx.register is not None and not unchanged:
        from needlecli.register.journal import pack

        text = _saved_text(ctx, same, plan, protocol)
        from needlecli.register.diary import items_of

        booking |= {
            "diary": tuple(items_of(plan, protocol.review_months)),
            "plan_id": plan.plan_id,
            "booking": pack(text),
            "indication": protocol.info.name,
            "booked_over": before[0] if before is not None else 0,
            "protocol_sha": protocol.info.sha256,
            "slot_asked": bool(row.get("time")),
            "renamed": renamed,
            "shown": shown or "",
        }
    return (
        RowResult(
            number,
            pid,
            "planned",
            verdict=terms.verdict if terms else "",
            first_session=plan.sessions[0].date.isoformat(),
            last_session=plan.sessions[-1].date.isoformat(),
            file=name,
            notes=notes,
            history=kept_history,
            starts=tuple(f"{a.start:%Y-%m-%d %H:%M}" for a in plan.appointments if a.start and a.status == "booked"),
            clinic=clinic_events,
            **booking,
        ),
        data,
        name,
    )


def _saved_text(ctx: Context, same: Hashable | None, plan: Plan, protocol: TreatmentProtocol) -> str:
    """The plan as a saved plan (TOML) for the register: for a series already booked in this process
    under another patient, that text with this patient and plan id put in (`plans.retext`)."""
    from needlecli.plans import retext

    kept = ctx.saved_texts.get(same) if same is not None else None
    if kept is not None:
        text = retext(kept[2], kept[0], kept[1], plan.request.patient, plan.plan_id)
        if text is not None:
            return text
    text = export.render("toml", plan, export_options(ctx.config, "plan", protocol=protocol)).decode("utf-8")
    if same is not None and kept is None:
        if len(ctx.saved_texts) >= 256:
            ctx.saved_texts.clear()
        ctx.saved_texts[same] = (plan.request.patient, plan.plan_id, text)
    return text


def _in_slots_of(ctx: Context, plan: Plan, text: str, booked: Any, protocol: TreatmentProtocol, source: str) -> Plan:
    """The booked revision when ``plan`` (saved as ``text``) was asked for as it was (the same request
    and protocol): the row is the same, and only the clinic's slots placed it elsewhere (`batch.slots`:
    another slot, a full day closed): a rerun of the row books nothing new. Else ``plan`` (placed again
    when booked)."""
    saved = _read_back(text, source)
    if saved is None or saved.protocol != booked.protocol:
        return plan
    if saved.request != dataclasses.replace(booked.request, slot_times=()):
        return plan
    try:
        return planning.saved_plan(protocol, booked, [], ctx.on, source, [], ctx.screening)
    except NeedleError:
        return plan


def _asks_for(ctx: Context, plan: Plan, booked: Any, protocol: TreatmentProtocol, source: str) -> bool:
    """Does the row ask for the series ``booked`` as it was booked (the same protocol and request, but
    for what happened since and the slots it was placed in)?"""
    asked = _read_back(_saved_text(ctx, None, plan, protocol), source)
    if asked is None:
        return False

    # What happened since (the course, the slots it was placed in) and what its screening imposes (a
    # re-check before each session renews it in the register) are the register's: the rest is the series.
    def series(request: Any) -> Any:
        return dataclasses.replace(request, slot_times=(), course=None, screening=None, not_before=None,
                                   uses_retinoids=None, findings=())  # fmt: skip

    return bool(asked.protocol == booked.protocol and series(asked.request) == series(booked.request))


def _read_back(text: str, source: str) -> Any:
    """A plan's saved text read back as a saved plan (what a booking of it would keep); None when it
    does not read back."""
    from needlecli.plans import read_plan_text

    try:
        return read_plan_text(text, source)
    except NeedleError:
        return None


def _screening_kept(ctx: Context, pid: str, answers: dict[str, AnswerValue]) -> tuple[bytes, str] | None:
    """The row's screening as the register keeps it (`batch --book`): the record `screen --out`
    writes, packed, and its evaluation date; None when it is the patient's latest registered screening
    already (a rerun of the same list keeps no second copy)."""
    import tomli_w

    from needlecli import records, screening
    from needlecli.register.journal import pack

    assert ctx.screening is not None
    result = screening.evaluate(ctx.screening, answers, ctx.on)
    record = records.screening_record(
        result=result, protocol=ctx.screening, answers=answers, patient=pid, clinician=ctx.config.clinician
    )
    text = tomli_w.dumps(record)
    if ctx.screened(pid) == text:
        return None
    return pack(text), ctx.on.isoformat()


def row_notes(plan: Plan, said: list[str], terms: planning.ScreeningTerms | None) -> tuple[str, ...]:
    """A planned row's notes for the summary: the plan's own, then what planning said of the row (a
    deferral once: the plan's note names it when it moved the start)."""
    notes = [n.text for n in plan.notes]
    moved = any(n.cause == "screening" for n in plan.notes)
    skip = planning.deferral_note(terms) if terms is not None and moved else None
    notes += [n for n in said if n != skip and n not in notes]
    return tuple(notes)


def readable_id(ctx: Context, cells: list[str] | None) -> str:
    """The row's patient id cell when it could be read (text, not too long), else ""."""
    pid = patient_of(ctx, cells)
    return pid if len(pid) <= MAX_CELL and is_utf8(pid) else ""
