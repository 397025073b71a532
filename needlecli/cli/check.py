"""`needle check`: the re-check before a session — the protocol's re-check questions asked again,
screened on the day, kept in the register, and applied to each of the patient's series."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from needlecli.cli.series import (
    JSON,
    ON,
    PATIENT,
    Active,
    Revision,
    next_revision,
    patient_arg,
    record_revision,
    with_note,
)
from needlecli.errors import VERDICT_EXIT_CODES, AnswersError, UsageError

if TYPE_CHECKING:
    from needlecli.config import Config
    from needlecli.model import Plan
    from needlecli.records import ScreeningRecord
    from needlecli.register.store import Register

# ----------------------------------------------------------------- check

CHECK_HELP = """The re-check before a session: asks again only what can change between
sessions (the screening protocol's recheck questions: pregnancy, skin today,
medicines, recent procedures ...); the other answers carry over from the
patient's latest screening. The whole set is screened again on --on and kept
in the register as a re-check; output and exit status as `needle screen`.

At a terminal the questions are asked (the answer on record shown); otherwise
--answers FILE holds exactly those question ids.

Its effect on the patient's active series: cautions re-derived (a new
revision when anything changed); a dated deferral moves the next session to
the first open day on or after its end (the rest follow); an undated deferral
puts the series on hold and a contraindication stops it (the remaining
sessions cancelled). A re-check counts as that day's check for `needle done`."""

CHECK_EPILOG = """\b
Examples:
  needle check P-0042
  needle check P-0042 --answers today.toml --on 2027-01-04 --json
"""


def check(
    patient: str = PATIENT,
    answers_file: Path | None = typer.Option(None, "--answers", "-a", help="The re-check answers (TOML or JSON)."),
    on: str | None = ON,
    json_out: bool = JSON,
    protocol: str = typer.Option("screening", "--protocol", help="Screening protocol: a bundled name or a path."),
) -> None:
    import tomllib

    import tomli_w

    from needlecli import answers as answers_mod
    from needlecli import catalog, records, screening
    from needlecli.cli.common import parse_on, stdin_is_terminal
    from needlecli.cli.register import for_reading, for_writing, key_of, now_utc, where
    from needlecli.config import load_config, with_uid_key
    from needlecli.register.events import indications_of, insert_screening, latest_screening
    from needlecli.register.journal import pack

    patient = patient_arg(patient)
    cfg = with_uid_key(load_config())
    day = parse_on(on, order=cfg.date_order)
    proto = catalog.load_screening(protocol, cfg.protocols_dir)
    asked = [q.id for q in proto.questions if q.recheck]
    if not asked:
        raise UsageError(f"screening protocol {proto.info.name} marks no question recheck = true: nothing to ask")
    reader = for_reading(cfg)
    last = latest_screening(reader, patient) if reader is not None else None
    if reader is not None:
        reader.close()
    if last is None:
        raise UsageError(f"{patient} has no screening in the register ({where(cfg)}): screen first")
    record = records.screening_record_of(tomllib.loads(last.record), f"{patient}'s screening (entry {last.entry})")
    if day < record.evaluated_on:
        raise UsageError(f"--on {day.isoformat()}: before the latest screening ({record.evaluated_on.isoformat()})")
    carried = {k: v for k, v in record.answers.items() if k in proto.ids and k not in asked}
    carried_typed, _ = answers_mod.read_answers(proto, carried, "the screening on record", "ISO")
    on_record = {k: v for k, v in record.answers.items() if k in asked}
    recorded, _ = answers_mod.read_answers(proto, on_record, "the screening on record", "ISO")
    raw: dict[str, object] = {}
    source = "answers"
    if answers_file is not None:
        raw = records.read_answers_file(answers_file)
        source = str(answers_file)
        wrong = [k for k in raw if k in proto.ids and k not in asked]
        if wrong:
            raise AnswersError(f"{source}: {', '.join(wrong)}: not re-check questions (they carry over)")
    given, _ = answers_mod.read_answers(proto, raw, source, cfg.date_order)
    missing = [q for q in asked if q not in given]
    if missing:
        if not stdin_is_terminal() or str(answers_file) == "-":
            raise AnswersError(f"{source}: missing re-check answer(s) for {', '.join(missing)}")
        from needlecli.cli import interactive as ui

        merged = {**carried_typed, **given}
        try:
            given = ui.run_interview(proto, merged, missing, day, to_stderr=json_out, order=cfg.date_order,
                                     defaults=recorded)  # fmt: skip
        except (KeyboardInterrupt, EOFError):
            print("\nRe-check cancelled; nothing was saved.", file=sys.stderr)
            raise typer.Exit(130) from None
    answers = {**carried_typed, **given}
    result = screening.evaluate(proto, answers, day)
    doc = records.screening_record(result=result, protocol=proto, answers=answers, patient=patient,
                                   clinician=cfg.clinician)  # fmt: skip
    text = tomli_w.dumps(doc)
    rechecked = records.screening_record_of(tomllib.loads(text), "the re-check")
    with for_writing(cfg) as register:
        changes = [
            _recheck_series(cfg, register, patient, ind, day, rechecked) for ind in indications_of(register, patient)
        ]
        with register.writing() as db:  # the re-check and what it does to each series: one transaction
            entry = insert_screening(db, key=key_of(cfg), patient=patient, evaluated_on=day.isoformat(),
                                     verdict=result.verdict, protocol=proto.info.sha256, blob=pack(text),
                                     at=now_utc(), kind="rechecked")  # fmt: skip
            effects = []
            for effect, change in changes:
                if change is not None:
                    active, revised, sha = change
                    revision = record_revision(cfg, db, active, revised, None, sha, day)
                    said = f"{effect['effect']}{_slot_moves(revised, active.written)} (revision {revision})"
                    effect = {**effect, "effect": said, "revision": revision}
                effects.append(effect)
    if json_out:
        import json

        print(json.dumps(records.result_json(result, proto, patient) | {"series": [e for e in effects if e]}, indent=2))
    else:
        from needlecli.cli.render import print_result

        print_result(result, proto, patient, clinician=cfg.clinician, today=dt.date.today(), say_not_saved=False,
                     order=cfg.date_order)  # fmt: skip
    print(f"needle: re-check kept in the register under {patient} (entry {entry.seq})", file=sys.stderr)
    for e in effects:
        if e:
            print(f"needle: {e['indication']} series: {e['effect']}", file=sys.stderr)
    raise typer.Exit(VERDICT_EXIT_CODES[result.verdict])


def _slot_moves(planned: Revision, written: Revision | None) -> str:
    """What booking into the clinic's slots changed of a revision's days (a full day moves a session)."""
    if written is None:
        return ""
    days = {a.label: a.date for a in planned.plan.appointments if a.status == "booked"}
    for a in written.plan.appointments:
        if a.status == "booked" and days.get(a.label, a.date) != a.date:
            return f"; session {a.label} booked on {a.date.isoformat()}: every slot of {days[a.label]} is full"
    return ""


def _but_screening(plan: Plan) -> dict[str, Any]:
    """The plan as a document, but the screening it was made under (its date, its answers)."""
    from needlecli.plans import plan_document

    doc = plan_document(plan)
    doc.pop("screening")
    doc["request"].pop("not_before")  # a constraint on the dates, which are compared
    return doc


def _recheck_series(
    cfg: Config, register: Register, patient: str, indication: str, day: dt.date, record: ScreeningRecord
) -> tuple[dict[str, Any], tuple[Active, Revision, str] | None]:
    """What the re-check does to one series (not halted or complete): what to say, and the new
    revision to book (the series, its saved text, the protocol hash), if any."""
    import dataclasses

    from needlecli import catalog, course, planning

    active = Active(cfg, register, patient, indication)
    state = course.status(active.saved)
    if state in ("stopped", "completed"):
        return {}, None
    screening_proto = catalog.load_screening(catalog.STANDARD_SCREENING, cfg.protocols_dir)
    basis = planning.basis_of(record, screening_proto)
    # The re-check is the series' screening from now on (what the file showed of the last one goes).
    request = dataclasses.replace(active.saved.request, screening=basis, not_before=None)
    new = dataclasses.replace(active.saved, request=request, findings=(), verdict=None)
    verdict, until = record.verdict, record.earliest_date
    notes: list[str] = []
    protocol = catalog.load_treatment(catalog.ref_of(active.saved.protocol.origin), cfg.protocols_dir, screening_proto)
    findings = ", ".join(dict.fromkeys(f.id for f in record.findings)) or verdict
    if verdict == "contraindicated" or (verdict == "defer" and until is None):
        how = "stopped" if verdict == "contraindicated" else "on-hold"
        new = course.halted(new, how, f"re-check {day.isoformat()}: {findings}")
        effect = f"{how} ({findings}): every remaining session cancelled"
    else:
        if state == "on-hold":  # the re-check allows treatment again: the series resumes, under new ids
            new = course.resumed_from_hold(new)
        # A dated deferral moves the next session to its end; any verdict moves a session still booked
        # before the re-check (overdue) to the re-check's day: the patient is here for it.
        deferral = verdict == "defer" and until is not None
        moved_from = course.next_open_label(new)
        new, gap = course.deferred(protocol, new, max(until, day) if deferral and until else day)
        if gap is not None:
            new = with_note(new, gap.text)
        nxt = course.next_open_label(new)
        moved = nxt is not None and nxt == moved_from and course.date_of(new, nxt) != course.date_of(active.saved, nxt)
        where_to = f": session {nxt} moved to {course.date_of(new, nxt).isoformat()}" if moved and nxt else ""
        if deferral and until:
            effect = f"deferred until {until.isoformat()}{where_to}"
        elif where_to:
            effect = f"{verdict}; session {nxt}, overdue, moved to the re-check's day ({day.isoformat()})"
        else:
            effect = f"{verdict}: cautions re-derived"
        if state == "on-hold":
            effect = f"resumed ({effect})"
    plan, tproto = active.plan_of(new, day, notes)
    before, _ = active.plan_of(active.saved, day, [])
    if _but_screening(plan) == _but_screening(before):  # the same sessions, windows, depths and notes
        return {"indication": indication, "effect": f"{verdict}: no change to the series"}, None
    return {"indication": indication, "effect": effect}, (
        active,
        next_revision(cfg, active, new, day, notes),
        tproto.info.sha256,
    )
