"""The series over time: `needle done`, `needle missed` and `needle cancel` (and what `needle
check` shares with them). Each reads the patient's active series from the register, computes the
next revision with the pure `course` functions, checks it as any saved plan is checked, and writes
the outcome and the new revision in one transaction (each with its journal entry)."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

import typer

from needlecli.errors import UsageError

if TYPE_CHECKING:
    import sqlite3

    from needlecli.config import Config
    from needlecli.model import Plan, TreatmentProtocol
    from needlecli.plans import SavedPlan
    from needlecli.register.diary import Item
    from needlecli.register.events import Booking
    from needlecli.register.store import Register

PATIENT = typer.Argument(..., help="The patient id.", metavar="PATIENT")
INDICATION = typer.Option(None, "--indication", "-i", help="Which series (else the one booked last).")
ON = typer.Option(None, "--on", help="The day, YYYY-MM-DD.  [default: today]", show_default=False)
JSON = typer.Option(False, "--json", help="Print the result as one JSON document.")


def _exists(cfg: Config, patient: str) -> None:
    """A command that changes a series needs a register that holds one: never made by a refusal."""
    from needlecli.cli.register import for_reading, where

    reader = for_reading(cfg)
    if reader is None:
        raise UsageError(f"{patient} has no booked series in the register ({where(cfg)}); book one: plan --book")
    reader.close()


class Active:
    """The patient's series as the register holds it: the latest revision, read and checked."""

    def __init__(self, cfg: Config, register: Register, patient: str, indication: str | None) -> None:
        from needlecli.cli.register import booked_series, series_source
        from needlecli.plans import read_plan_text

        self.booked: Booking = booked_series(cfg, register, patient, indication)
        self.patient = patient
        self.source = series_source(cfg, patient, self.booked)
        self.saved: SavedPlan = read_plan_text(self.booked.plan, self.source)
        #: The revision written last (in the clinic's slots), once written.
        self.written: Revision | None = None
        #: The patient's latest screening or re-check when this was read (see `_write`).
        found = register.read("SELECT MAX(entry) FROM screenings WHERE patient = ?", (patient,))
        self.screened_entry: object = found[0][0] if found else None

    def plan_of(self, saved: SavedPlan, day: dt.date, notes: list[str]) -> tuple[Plan, TreatmentProtocol]:
        from needlecli.cli.common import plan_of_saved

        return plan_of_saved(saved, self.source, [], day, notes)


class Revision(NamedTuple):
    text: str
    plan: Plan
    items: list[Item]
    protocol: TreatmentProtocol


def next_revision(cfg: Config, active: Active, new: SavedPlan, day: dt.date, notes: list[str]) -> Revision:
    """The next revision: its saved text (checked as any saved plan is: the rules, the screening), the
    plan and its diary rows."""
    from needlecli import export, revisions
    from needlecli.cli.register import now_utc
    from needlecli.config import export_options
    from needlecli.register.diary import items_of

    plan, protocol = active.plan_of(new, day, notes)
    plan = revisions.rebuild_over(plan, active.saved, active.source, now_utc())
    text = export.render("toml", plan, export_options(cfg, "plan", protocol=protocol)).decode("utf-8")
    return Revision(text, plan, items_of(plan, protocol.review_months), protocol)


def _write(
    cfg: Config,
    register: Register,
    active: Active,
    new: Revision | None,
    outcome: tuple[str, str, str, dict[str, Any]] | None,
    protocol: str,
    day: dt.date,
) -> int:
    """The outcome (kind, session, day, detail) and the new revision, one transaction; the revision.
    The screening it was computed under must still be the patient's latest (another terminal's
    re-check in between is refused here, inside the transaction, not lost)."""
    with register.writing() as db:
        latest = db.execute("SELECT MAX(entry) FROM screenings WHERE patient = ?", (active.patient,)).fetchone()[0]
        if latest != active.screened_entry:
            from needlecli.errors import RegisterBusy

            raise RegisterBusy(
                f"{active.patient} was screened or re-checked by another command meanwhile; run this one again"
            )
        return record_revision(cfg, db, active, new, outcome, protocol, day)


def record_revision(
    cfg: Config,
    db: sqlite3.Connection,
    active: Active,
    new: Revision | None,
    outcome: tuple[str, str, str, dict[str, Any]] | None,
    protocol: str,
    day: dt.date,
) -> int:
    """`_write` inside the caller's transaction."""
    from needlecli.cli.register import key_of, now_utc, where
    from needlecli.register.events import insert_booking, insert_outcome
    from needlecli.register.journal import pack

    key, now = key_of(cfg), now_utc()
    revision = active.booked.revision
    if new is not None:
        new = _slotted(cfg, db, new, day)  # the clinic's slots, read and taken in this transaction
        active.written = new
        if outcome is not None and outcome[0] == "missed":  # where it was booked again, in the end
            again = next(a.date for a in new.plan.appointments if a.label == outcome[1] and a.status == "booked")
            outcome[3]["again"] = again.isoformat()
    if outcome is not None:
        kind, session, on_date, detail = outcome
        insert_outcome(db, key=key, patient=active.patient, indication=active.booked.indication, kind=kind,
                       session=session, on_date=on_date, detail=detail, protocol=protocol, at=now)  # fmt: skip
    if new is not None:
        _, revision = insert_booking(db, key=key, patient=active.patient, indication=active.booked.indication,
                                     booked_on=day.isoformat(), blob=pack(new.text),
                                     revision_of=active.booked.revision, protocol=protocol, at=now,
                                     where=f"register {where(cfg)}", items=new.items,
                                     plan_id=new.plan.plan_id)  # fmt: skip
    return revision


def _slotted(cfg: Config, db: sqlite3.Connection, new: Revision, day: dt.date) -> Revision:
    """The revision with its sessions in the clinic's slots (read and taken in this transaction)."""
    from needlecli.cli.slots import into_slots
    from needlecli.config import export_options
    from needlecli.register.diary import items_of

    options = export_options(cfg, "plan", protocol=new.protocol)
    plan, text = into_slots(cfg, db, new.plan, options, day, [], False, new.protocol)
    if text == new.text:
        return new
    return Revision(text, plan, items_of(plan, new.protocol.review_months), new.protocol)


def _summary(plan: Plan) -> list[dict[str, Any]]:
    return [
        {"session": a.label, "date": a.date.isoformat(), "status": a.status, "id": a.key} for a in plan.appointments
    ]


def _report(json_out: bool, doc: dict[str, Any], line: str, notes: list[str]) -> None:
    import json

    for note in notes:
        print(f"needle: note: {note}", file=sys.stderr)
    if json_out:
        print(json.dumps(doc, indent=2))
    else:
        print(line)


def patient_arg(patient: str) -> str:
    from needlecli.identity import check_patient

    checked = check_patient(patient, "PATIENT")
    assert checked is not None
    return checked


# ----------------------------------------------------------------- done

DONE_HELP = """Record a session as done (SESSION: 2, or B1 for a booster; default: the
first session not recorded yet), on --on (default today).

Refused unless the patient was screened or re-checked (`needle check`) that same
day (the screening protocol's [record] check_before_each_session). --depth
ZONE=MM (repeatable) records the depth used: deeper than the plan allows for
that zone and session is refused without --override REASON (kept, shown in
history); the session's aftercare follows the depth used. A session done on
another day than booked moves the later sessions by the spacing rules.
Every change is a new revision of the series (same calendar ids, SEQUENCE
raised): `needle export` afterwards updates the patient's calendar."""

DONE_EPILOG = """\b
Examples:
  needle done P-0042
  needle done P-0042 2 --on 2027-01-04 --depth cheeks=1.0 --device "Pen A6" --lot L2231
  needle done P-0042 --depth scars=2.0 --override "scar assessed, clinician decision"
"""


def done(
    patient: str = PATIENT,
    session: str | None = typer.Argument(None, help="2, or B1 for a booster.", metavar="[SESSION]"),
    indication: str | None = INDICATION,
    on: str | None = ON,
    depth: list[str] = typer.Option([], "--depth", help="ZONE=MM: the depth used in a zone (repeatable)."),
    device: str | None = typer.Option(None, "--device", help="The device used."),
    lot: str | None = typer.Option(None, "--lot", help="The needle cartridge's lot."),
    note: str | None = typer.Option(None, "--note", help="A note for the record."),
    override: str | None = typer.Option(None, "--override", help="Why a depth beyond the plan's was used."),
    json_out: bool = JSON,
) -> None:
    from needlecli import course
    from needlecli.cli.common import parse_on
    from needlecli.cli.register import for_writing
    from needlecli.config import load_config, with_uid_key

    patient = patient_arg(patient)
    cfg = with_uid_key(load_config())
    day = parse_on(on, order=cfg.date_order)
    used = _depths(depth)
    for flag, text in (("--device", device), ("--lot", lot), ("--note", note), ("--override", override)):
        _printable(flag, text)
    _exists(cfg, patient)
    with for_writing(cfg) as register:
        active = Active(cfg, register, patient, indication)
        label = course.pick(active.saved, session, "done")
        _checked_today(cfg, register, active, day)
        notes: list[str] = []
        plan, protocol = active.plan_of(active.saved, day, notes)
        # The depths allowed on the day it was done (a caution may end, or still hold, on that day).
        new = course.record_done(protocol, active.saved, label, day, used)
        revised = next_revision(cfg, active, new, day, notes)
        appointment = next(a for a in revised.plan.appointments if a.label == label)
        allowed = {z.zone: z.max_mm for z in appointment.depth}
        if override and not any(zone in allowed and mm > allowed[zone] for zone, mm in used):
            raise UsageError("--override: no --depth is beyond the plan's for this session; nothing to override")
        for zone, mm in used:
            if zone not in allowed:
                raise UsageError(f"--depth {zone}: the plan treats {', '.join(allowed)} only")
            if mm > allowed[zone] and not override:
                raise UsageError(
                    f"--depth {zone}={mm:g}: deeper than the plan allows for session {label} "
                    f"({allowed[zone]:g} mm); give --override REASON to record it"
                )
        if not plan.request.clinic.is_open(day):
            notes.append(f"session {label} recorded on {day.isoformat()}, a day the clinic is closed "
                         f"({plan.request.clinic.why_closed(day)})")  # fmt: skip
        after = revised.plan
        detail = {"depth_mm": dict(used), "device": device, "lot": lot, "note": note, "override": override,
                  "booked_date": course.date_of(active.saved, label).isoformat(), "id": appointment.key}  # fmt: skip
        revision = _write(
            cfg, register, active, revised, ("done", label, day.isoformat(), detail), protocol.info.sha256, day
        )
        after = active.written.plan if active.written is not None else after
    upcoming = next((a for a in after.appointments if a.status == "booked"), None)
    nxt = f"; next: session {upcoming.label} on {upcoming.date.isoformat()}" if upcoming else "; the series is complete"
    line = f"{patient}: session {label} done on {day.isoformat()} (revision {revision}){nxt}"
    doc = {"patient": patient, "indication": active.booked.indication, "session": label, "date": day.isoformat(),
           "revision": revision, "sessions": _summary(after)}  # fmt: skip
    _report(json_out, doc, line, notes)


def _depths(given: list[str]) -> tuple[tuple[str, float], ...]:
    import math

    out: dict[str, float] = {}
    for item in given:
        zone, sep, mm_text = item.partition("=")
        zone = zone.strip().lower()
        try:
            mm = round(float(mm_text), 2) if mm_text.strip().isascii() else math.nan
        except ValueError:
            mm = math.nan
        if not sep or not zone or not math.isfinite(mm) or not 0 < mm <= 5:
            raise UsageError(f"--depth: expected ZONE=MM with MM a depth in mm (0-5), got {item!r}")
        if zone in out:
            raise UsageError(f"--depth: {zone} given twice")
        out[zone] = mm
    return tuple(out.items())


def _printable(flag: str, text: str | None) -> None:
    if text is not None and (not text.strip() or len(text) > 500 or not text.isprintable()):
        raise UsageError(f"{flag}: expected one line of text (1-500 printable characters)")


def _checked_today(cfg: Config, register: Register, active: Active, day: dt.date) -> None:
    """`done` needs a screening or re-check of the patient that same day (the protocol may relax it
    to its ``valid_days``), and the series must be under it: a screening of that day that is not the
    series' own (a plain `screen`) has not been applied to it — `needle check` does that."""
    from needlecli import catalog
    from needlecli.register.events import latest_screening, screened_on

    patient = active.patient
    last = latest_screening(register, patient)
    basis = active.saved.request.screening
    if (
        last is not None
        and last.kind == "screened"
        and last.evaluated_on == day.isoformat()
        and (basis is None or basis.evaluated_on.isoformat() != last.evaluated_on)
    ):
        raise UsageError(
            f"{patient} was screened on {day.isoformat()} but the series was not checked against it: run "
            f"needle check {patient} --on {day.isoformat()} (it applies today's answers to the series)"
        )
    if last is not None and last.verdict in ("defer", "contraindicated") and last.evaluated_on <= day.isoformat():
        raise UsageError(
            f"{patient}'s latest check ({last.evaluated_on}) is {last.verdict}: no session can be recorded as done "
            f"until a check allows treatment (needle check {patient})"
        )
    if screened_on(register, patient, day.isoformat()):
        return
    proto = catalog.load_screening(catalog.STANDARD_SCREENING, cfg.protocols_dir)
    if not proto.check_each_session and last is not None and proto.valid_days:
        age = (day - dt.date.fromisoformat(last.evaluated_on)).days
        if 0 <= age <= proto.valid_days:
            return
    raise UsageError(
        f"{patient} has no check on {day.isoformat()}: verify contraindications first "
        f"(needle check {patient} --on {day.isoformat()})"
    )


# ----------------------------------------------------------------- missed

MISSED_HELP = """Record a booked session as missed (SESSION: default the first not recorded
yet) and book it again on the first open day on or after --on (default today),
never closer than the minimum spacing to the last session done; the later
sessions follow from it. The missed booking keeps its calendar id (cancelled
in the patient's calendar); the new one gets a new id. A gap beyond the
maximum spacing is allowed after a missed session, with a note."""

MISSED_EPILOG = """\b
Examples:
  needle missed P-0042
  needle missed P-0042 3 --on 2027-02-08
"""


def missed(
    patient: str = PATIENT,
    session: str | None = typer.Argument(None, help="2, or B1 for a booster.", metavar="[SESSION]"),
    indication: str | None = INDICATION,
    on: str | None = ON,
    json_out: bool = JSON,
) -> None:
    from needlecli import course
    from needlecli.cli.common import parse_on
    from needlecli.cli.register import for_writing
    from needlecli.config import load_config, with_uid_key

    patient = patient_arg(patient)
    cfg = with_uid_key(load_config())
    day = parse_on(on, order=cfg.date_order)
    _exists(cfg, patient)
    with for_writing(cfg) as register:
        active = Active(cfg, register, patient, indication)
        label = course.pick(active.saved, session, "missed")
        notes: list[str] = []
        plan, protocol = active.plan_of(active.saved, day, notes)
        was = next(a for a in plan.appointments if a.label == label)
        new, again, gap = course.record_missed(protocol, active.saved, label, day)
        if gap is not None:
            new = with_note(new, gap.text)
            notes.append(gap.text)
        revised = next_revision(cfg, active, new, day, notes)
        after = revised.plan
        detail = {"booked_date": was.date.isoformat(), "id": was.key, "again": again.isoformat()}
        revision = _write(
            cfg, register, active, revised, ("missed", label, day.isoformat(), detail), protocol.info.sha256, day
        )
        after = active.written.plan if active.written is not None else after
        again = dt.date.fromisoformat(detail["again"])
    line = (
        f"{patient}: session {label} of {was.date.isoformat()} missed; booked again on {again.isoformat()} "
        f"(revision {revision})"
    )
    doc = {"patient": patient, "indication": active.booked.indication, "session": label,
           "missed": was.date.isoformat(), "again": again.isoformat(), "revision": revision,
           "sessions": _summary(after)}  # fmt: skip
    _report(json_out, doc, line, notes)


def with_note(saved: SavedPlan, text: str) -> SavedPlan:
    import dataclasses

    from needlecli.model import Note

    return dataclasses.replace(saved, notes=(*saved.notes, Note("schedule", text)))


# ----------------------------------------------------------------- cancel

CANCEL_HELP = """Cancel every remaining session of the patient's active series (--reason is
kept in the register and shown in history). The sessions done stay; the others
are cancelled in every export (STATUS:CANCELLED). Booking again afterwards
starts a new series with new calendar ids."""

CANCEL_EPILOG = """\b
Examples:
  needle cancel P-0042 --reason "moved away"
"""


def cancel(
    patient: str = PATIENT,
    reason: str = typer.Option(..., "--reason", help="Why the series ends."),
    indication: str | None = INDICATION,
    on: str | None = ON,
    json_out: bool = JSON,
) -> None:
    from needlecli import course
    from needlecli.cli.common import parse_on
    from needlecli.cli.register import for_writing
    from needlecli.config import load_config, with_uid_key

    patient = patient_arg(patient)
    _printable("--reason", reason)
    cfg = with_uid_key(load_config())
    day = parse_on(on, order=cfg.date_order)
    _exists(cfg, patient)
    with for_writing(cfg) as register:
        active = Active(cfg, register, patient, indication)
        state = course.status(active.saved)
        if state in ("stopped", "completed"):
            raise UsageError(f"{patient}'s {active.booked.indication} series is {state} already")
        notes: list[str] = []
        new = course.halted(active.saved, "stopped", reason)
        revised = next_revision(cfg, active, new, day, notes)
        after = revised.plan
        detail = {"reason": reason}
        protocol = active.saved.protocol.sha256
        revision = _write(cfg, register, active, revised, ("cancelled", "", day.isoformat(), detail), protocol, day)
    gone = [a.label for a in after.appointments if a.status == "cancelled"]
    line = f"{patient}: {active.booked.indication} series cancelled ({len(gone)} sessions) (revision {revision})"
    doc = {"patient": patient, "indication": active.booked.indication, "cancelled": gone, "revision": revision,
           "sessions": _summary(after)}  # fmt: skip
    _report(json_out, doc, line, notes)
