"""Plans as documents: JSON/TOML-ready dicts, and reading a saved plan back.

A saved plan (``needle plan --format toml --out plan.toml``) keeps the whole
request (clinic days, closed dates including the public holidays used, times)
so that a reschedule uses the same rules, and every item's identity and
revision so calendar exports can update in place.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from needlecli.clinic import format_weekdays
from needlecli.documents import Checker
from needlecli.errors import NeedleError, RecordError, UsageError
from needlecli.model import (
    DEVICE_MAXIMUM,
    MAX_DEPTH_MM,
    Cancelled,
    ClinicRules,
    DepthZone,
    Finding,
    Note,
    Plan,
    PlanRequest,
    ProtocolRef,
    ScreeningBasis,
    Window,
    finding_in_file,
)
from needlecli.recorded import Course, Done

T = TypeVar("T")

RECORD = "needle-plan"
#: 2: the screening's answers are kept (re-screened on every read); notes name their cause; depths per session.
FORMAT = 2


def _window(w: Window) -> dict[str, Any]:
    return {
        "kind": w.kind,
        "session": w.session,
        "first_day": w.first_day,
        "last_day": w.last_day,
        "title": w.title,
        "items": list(w.items),
        "id": w.key,
        "revision": w.revision,
    }


def _depth(zones: tuple[DepthZone, ...]) -> list[dict[str, Any]]:
    out = []
    for z in zones:
        zone: dict[str, Any] = {"zone": z.zone, "min": z.min_mm, "max": z.max_mm}
        if z.reasons:
            zone["reasons"] = list(z.reasons)
        if z.note:
            zone["note"] = z.note
        out.append(zone)
    return out


def _screening(basis: ScreeningBasis | None) -> dict[str, Any] | None:
    if basis is None:
        return None
    return {
        "protocol": {
            "name": basis.protocol.name,
            "version": basis.protocol.version,
            "sha256": basis.protocol.sha256,
            "origin": basis.protocol.origin,
        },
        "evaluated_on": basis.evaluated_on,
        "verdict": basis.verdict,
        "earliest_date": basis.earliest_date or False,
        "answers": dict(basis.answers),
    }


def _when(d: dt.date, start: dt.datetime | None, end: dt.datetime | None) -> dict[str, Any]:
    out: dict[str, Any] = {"date": d, "weekday": f"{d:%a}"}
    if start is not None and end is not None:
        out["start"] = start
        out["end"] = end
    return out


def _course(course: Course | None) -> dict[str, Any] | None:
    """What happened to a booked series (the register's outcomes), kept with the plan it shapes."""
    if course is None:
        return None
    return {
        "done": [
            {"session": d.label, "date": d.day, "depth_mm": [{"zone": z, "mm": mm} for z, mm in d.depth_mm]}
            for d in course.done
        ],
        "occurrences": [{"session": label, "occurrence": n} for label, n in course.occurrences],
        "resumed": list(course.resumed) or None,
        "halted": course.halted,
        "reason": course.reason or None,
    }


def _read_course(c: Checker, req: Mapping[str, Any]) -> Course | None:
    tbl = c.table(req, "course", "request", required=False)
    if tbl is None:
        return None
    path = "request.course"
    c.unknown(tbl, path, ("done", "occurrences", "resumed", "halted", "reason"))
    done = []
    for p, d in c.tables(tbl, "done", path, required=False, allow_empty=True):
        zones = tuple(
            (c.string(z, "zone", zp), c.number(z, "mm", zp, unit="mm") or 0.0)
            for zp, z in c.tables(d, "depth_mm", p, required=False, allow_empty=True)
        )
        done.append(Done(_label(c, d, p), c.date(d, "date", p) or _NO_DATE, zones))
    occurrences = tuple(
        (_label(c, o, p), c.integer(o, "occurrence", p, 2, MAX_REVISION) or 2)
        for p, o in c.tables(tbl, "occurrences", path, required=False, allow_empty=True)
    )
    halted = c.string(tbl, "halted", path, allow_empty=True)
    if halted not in ("", "on-hold", "stopped"):
        c.err(f"{path}.halted", 'must be "", "on-hold" or "stopped"')
    resumed = tuple(c.strings(tbl, "resumed", path)) if "resumed" in tbl else ()
    reason = _printable(c, tbl, "reason", path) if tbl.get("reason") else ""
    return Course(tuple(done), occurrences, resumed, halted, reason)


def _slot_times(c: Checker, req: Mapping[str, Any], relabel: Callable[..., Any]) -> tuple[tuple[str, dt.time], ...]:
    from needlecli.clinic import parse_time

    out = []
    for p, row in c.tables(req, "slot_times", "request", required=False, allow_empty=True):
        at = relabel(parse_time, c.string(row, "time", p), f"{p}.time")
        if at is not None:
            out.append((_label(c, row, p), at))
    return tuple(out)


def _label(c: Checker, tbl: Mapping[str, Any], path: str) -> str:
    label = c.string(tbl, "session", path)
    if not (label.isdigit() or (label[:1] == "B" and label[1:].isdigit())) or label.lstrip("B").startswith("0"):
        c.err(f"{path}.session", f"must be a session number or B1, B2 ..., not {label!r}")
    return label


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as plain data (dates and aware datetimes as objects; None for unset)."""
    req = plan.request
    return {
        "record": RECORD,
        "format": FORMAT,
        "plan_id": plan.plan_id,
        "revision": plan.revision,
        "patient": req.patient,
        "indication": req.indication,
        "created_on": plan.created_on,
        "stamp": plan.stamp,
        "protocol": {
            "name": plan.protocol.name,
            "version": plan.protocol.version,
            "sha256": plan.protocol.sha256,
            "origin": plan.protocol.origin,
        },
        "request": {
            "start": req.start,
            "sessions": req.sessions,
            "interval_weeks": req.interval_weeks,
            "boosters": req.boosters,
            "not_before": req.not_before,
            "uses_retinoids": req.uses_retinoids,
            "away": [[a, b] for a, b in req.away],
            "sun_trips": [[a, b] for a, b in req.sun_trips],
            "max_depth_mm": req.max_depth_mm,
            "time": f"{req.time:%H:%M}" if req.time else None,
            "duration_minutes": req.duration_minutes,
            "time_zone": req.tz,
            "clinic_days": format_weekdays(req.clinic.weekdays),
            "closed": sorted(req.clinic.closed),
            "holidays": req.clinic.holidays,
            "zones": list(req.zones) if req.zones else None,
            "course": _course(req.course),
            "slot_times": [{"session": label, "time": f"{t:%H:%M}"} for label, t in req.slot_times] or None,
        },
        "screening": _screening(req.screening),
        # Derived from the screening's answers every time the plan is read (never read back from a file).
        "verdict": req.screening.verdict if req.screening is not None else None,
        "findings": [
            {"id": f.id, "category": f.category, "until": f.until, "message": f.message} for f in req.findings
        ],
        "sessions": [
            {
                "number": s.number,
                **_when(s.date, s.start, s.end),
                "id": s.key,
                "revision": s.revision,
                "depth_mm": _depth(s.depth),
                "deep": s.deep,
                "cautions": list(s.flags),
                "status": s.status,
                "depth_used_mm": [{"zone": z, "mm": mm} for z, mm in s.used] or None,
            }
            for s in plan.sessions
        ],
        "windows": [_window(w) for w in plan.windows],
        "boosters": [
            {
                "number": b.number,
                **_when(b.date, b.start, b.end),
                "id": b.key,
                "revision": b.revision,
                "depth_mm": _depth(b.depth),
                "deep": b.deep,
                "cautions": list(b.flags),
                "status": b.status,
                "depth_used_mm": [{"zone": z, "mm": mm} for z, mm in b.used] or None,
                "windows": [_window(w) for w in b.windows],
            }
            for b in plan.boosters
        ],
        "depth_mm": _depth(plan.depth),
        "notes": [{"cause": n.cause, "text": n.text} for n in plan.notes],
        "cancelled": [
            {"id": c.key, "first_day": c.first_day, "last_day": c.last_day, "revision": c.revision}
            for c in plan.cancelled
        ],
    }


def to_json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: to_json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_ready(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def to_toml_ready(value: Any) -> Any:
    """TOML has no null: None values are left out."""
    if isinstance(value, dict):
        return {k: to_toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_toml_ready(v) for v in value]
    return value


# ----------------------------------------------------------------- reading


@dataclass(frozen=True)
class SavedPlan:
    """What a saved plan file holds, checked; `scheduling.rebuild` turns it back into a Plan."""

    plan_id: str
    revision: int
    created_on: dt.date
    protocol: ProtocolRef
    request: PlanRequest
    session_dates: tuple[dt.date, ...]
    booster_dates: tuple[dt.date, ...]
    revisions: Mapping[str, int]
    #: What each item looked like when saved (dates; a window's items), to spot changes on re-export.
    signatures: Mapping[str, tuple[object, ...]]
    notes: tuple[Note, ...]
    stamp: dt.datetime | None = None
    cancelled: tuple[Cancelled, ...] = ()
    #: The findings and verdict the file shows (derived: compared with its screening, never trusted).
    findings: tuple[Finding, ...] = ()
    verdict: str | None = None
    #: Traces of a screening the file shows on its sessions: caution ids in force, depths made shallower.
    marks: tuple[str, ...] = ()


_NO_DATE = dt.date.min  # stands in for a date that failed its check (never used: the problems are raised)


def read_plan(doc: Mapping[str, Any], source: str) -> SavedPlan:
    """Check a saved plan document (parsed TOML); RecordError names the key path of every problem."""
    from needlecli.clinic import check_zone, parse_time, parse_weekdays

    if doc.get("record") != RECORD:
        raise RecordError(f'{source}: not a needle plan (record = "{RECORD}" is missing)')
    if doc.get("format") == 1:
        raise RecordError(
            f"{source}: saved by an older needle (plan format 1, which did not keep the screening's answers); "
            "plan again from the screening record"
        )
    if doc.get("format") != FORMAT:
        raise RecordError(f"{source}: plan format {doc.get('format')!r} is not supported (expected {FORMAT})")
    c = Checker()

    def relabel(fn: Callable[..., T], *args: Any) -> T | None:
        """Run a flag parser on a value from the file; its UsageError becomes one more problem."""
        try:
            return fn(*args)
        except NeedleError as exc:
            c.problems.append(str(exc))
            return None

    proto = c.table(doc, "protocol", "") or {}
    req = c.table(doc, "request", "") or {}
    closed = c.dates(req, "closed", "request")
    days = c.string(req, "clinic_days", "request")
    time_text = c.optional_string(req, "time", "request")
    zone = c.string(req, "time_zone", "request")
    weekdays = relabel(parse_weekdays, days, "request.clinic_days") if days else None
    time = relabel(parse_time, time_text, "request.time") if time_text else None
    tz = relabel(check_zone, zone, "request.time_zone") if zone else None
    request = PlanRequest(
        patient=c.string(doc, "patient", "", allow_empty=True),
        indication=c.string(doc, "indication", "", allow_empty=True),
        start=c.date(req, "start", "request") or _NO_DATE,
        sessions=c.integer(req, "sessions", "request") or 0,
        interval_weeks=c.integer(req, "interval_weeks", "request") or 0,
        clinic=ClinicRules(
            weekdays=weekdays or frozenset(),
            closed=frozenset(closed),
            holidays=c.optional_string(req, "holidays", "request"),
        ),
        boosters=c.integer(req, "boosters", "request") or 0,
        not_before=c.date(req, "not_before", "request", required=False),
        uses_retinoids=c.boolean(req, "uses_retinoids", "request", required=False),
        time=time,
        duration_minutes=c.integer(req, "duration_minutes", "request") or 0,
        tz=tz or "UTC",
        away=_spans(c, req, "away"),
        sun_trips=_spans(c, req, "sun_trips"),
        max_depth_mm=_depth_cap(c, req),
        screening=_read_screening(c, doc),
        zones=tuple(c.strings(req, "zones", "request")) if "zones" in req else (),
        course=_read_course(c, req),
        slot_times=_slot_times(c, req, relabel),
    )
    revisions: dict[str, int] = {}
    signatures: dict[str, tuple[object, ...]] = {}

    def item(tbl: Mapping[str, Any], p: str, *signature: object) -> None:
        key = c.string(tbl, "id", p)
        revisions[key] = c.integer(tbl, "revision", p, 0, MAX_REVISION) or 0
        signatures[key] = signature

    session_dates: list[dt.date] = []
    for i, (p, s) in enumerate(c.tables(doc, "sessions", "")):
        if c.integer(s, "number", p) not in (i + 1, None):
            c.err(f"{p}.number", f"must be {i + 1}")
        session_dates.append(c.date(s, "date", p) or _NO_DATE)
        item(s, p, session_dates[-1])

    def windows(tbl: Mapping[str, Any], path: str) -> None:
        for p, w in c.tables(tbl, "windows", path, allow_empty=True):
            first, last = c.date(w, "first_day", p), c.date(w, "last_day", p)
            item(w, p, first, last, tuple(c.array(w, "items", p) or ()))

    booster_dates: list[dt.date] = []
    for p, b in c.tables(doc, "boosters", "", allow_empty=True):
        booster_dates.append(c.date(b, "date", p) or _NO_DATE)
        item(b, p, booster_dates[-1])
        windows(b, p)
    windows(doc, "")
    notes = [
        Note(_printable(c, n, "cause", p), _printable(c, n, "text", p))
        for p, n in c.tables(doc, "notes", "", required=False, allow_empty=True)
    ]
    plan_id = c.string(doc, "plan_id", "")
    revision = c.integer(doc, "revision", "", 0, MAX_REVISION)
    created_on = c.date(doc, "created_on", "")
    ref = ProtocolRef(
        name=c.string(proto, "name", "protocol"),
        version=c.string(proto, "version", "protocol"),
        sha256=c.string(proto, "sha256", "protocol"),
        origin=c.string(proto, "origin", "protocol"),
    )
    stamp = _stamp(c, doc)
    cancelled = tuple(
        Cancelled(
            c.string(x, "id", p),
            c.date(x, "first_day", p) or _NO_DATE,
            c.date(x, "last_day", p) or _NO_DATE,
            c.integer(x, "revision", p, 0, MAX_REVISION) or 0,
        )
        for p, x in c.tables(doc, "cancelled", "", required=False, allow_empty=True)
    )
    findings = _findings(c, doc)
    marks = _marks(doc)
    if c.problems:  # every check above, stamp and cancellations included, before anything is used
        raise RecordError(f"{source}: {c.summary()}")
    if len(session_dates) != request.sessions:
        raise RecordError(
            f"{source}: sessions: has {len(session_dates)} sessions but request.sessions is {request.sessions}"
        )
    if any(b <= a for a, b in itertools.pairwise(session_dates)):
        raise RecordError(f"{source}: sessions: dates must increase")
    return SavedPlan(
        plan_id=plan_id,
        revision=revision or 0,
        created_on=created_on or _NO_DATE,
        protocol=ref,
        request=request,
        session_dates=tuple(session_dates),
        booster_dates=tuple(booster_dates),
        revisions=revisions,
        signatures=signatures,
        notes=tuple(notes),
        stamp=stamp,
        cancelled=cancelled,
        findings=findings,
        verdict=doc.get("verdict") if isinstance(doc.get("verdict"), str) else None,
        marks=marks,
    )


def _marks(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """What only a screening puts on an appointment: the dated cautions in force on it, and depths
    made shallower by a finding (any reason but the device maximum)."""
    out: set[str] = set()
    for key in ("sessions", "boosters"):
        items = doc.get(key)
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, Mapping):
                continue
            if item.get("cautions"):
                out.add("cautions in force")
            zones = item.get("depth_mm")
            for zone in zones if isinstance(zones, list) else ():
                reasons = zone.get("reasons") if isinstance(zone, Mapping) else None
                if isinstance(reasons, list) and any(r != DEVICE_MAXIMUM for r in reasons):
                    out.add("shallower depths")
    return tuple(sorted(out))


def _findings(c: Checker, doc: Mapping[str, Any]) -> tuple[Finding, ...]:
    """The findings a saved plan shows (any category the file names counts as the strictest)."""
    out = []
    for p, f in c.tables(doc, "findings", "", required=False, allow_empty=True):
        out.append(finding_in_file(f, c.string(f, "id", p)))
    return tuple(out)


#: A revision past this is no edit a clinic makes (a calendar's SEQUENCE is a 32-bit number in practice).
MAX_REVISION = 1_000_000


def _printable(c: Checker, tbl: Mapping[str, Any], key: str, path: str) -> str:
    """Text shown at the terminal and in documents: printable, one line (no escape sequences)."""
    text = c.string(tbl, key, path)
    if text and not text.isprintable():
        c.err(f"{path}.{key}", "must be printable text on one line")
    return text


def _depth_cap(c: Checker, req: Mapping[str, Any]) -> float | None:
    cap = c.number(req, "max_depth_mm", "request", required=False, unit="mm")
    if cap is not None and not 0 < cap <= MAX_DEPTH_MM:
        c.err("request.max_depth_mm", f"must be more than 0 and at most {MAX_DEPTH_MM} mm, got {cap:g}")
        return None
    return cap


def _spans(c: Checker, req: Mapping[str, Any], key: str) -> tuple[tuple[dt.date, dt.date], ...]:
    """`[[first, last], ...]` date pairs (the patient's away and sun-trip ranges)."""
    out = []
    for i, pair in enumerate(c.array(req, key, "request", required=False) or []):
        p = f"request.{key}[{i}]"
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in pair)
        ):
            c.err(p, "must be [first, last], two dates")
        elif pair[1] < pair[0]:
            c.err(p, "ends before it starts")
        else:
            out.append((pair[0], pair[1]))
    return tuple(out)


def _read_screening(c: Checker, doc: Mapping[str, Any]) -> ScreeningBasis | None:
    tab = c.table(doc, "screening", "", required=False)
    if tab is None:
        return None
    proto = c.table(tab, "protocol", "screening") or {}
    earliest = tab.get("earliest_date")
    if earliest is not False and not (isinstance(earliest, dt.date) and not isinstance(earliest, dt.datetime)):
        c.err("screening.earliest_date", "must be a date or false")
        earliest = None
    answers = c.table(tab, "answers", "screening") or {}
    return ScreeningBasis(
        protocol=ProtocolRef(
            name=c.string(proto, "name", "screening.protocol"),
            version=c.string(proto, "version", "screening.protocol"),
            sha256=c.string(proto, "sha256", "screening.protocol"),
            origin=c.string(proto, "origin", "screening.protocol"),
        ),
        evaluated_on=c.date(tab, "evaluated_on", "screening") or _NO_DATE,
        verdict=c.string(tab, "verdict", "screening"),
        earliest_date=earliest or None,
        answers=tuple(answers.items()),
    )


def _stamp(c: Checker, doc: Mapping[str, Any]) -> dt.datetime | None:
    value = doc.get("stamp")
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        c.err("stamp", "must be a date-time with its offset (UTC)")
        return None
    return value.astimezone(dt.UTC)


def read_plan_text(text: str, source: str) -> SavedPlan:
    """A saved plan kept as TOML text (the register's), checked as a file's is (`read_plan`)."""
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecordError(f"{source}: not readable ({exc})") from None
    return read_plan(doc, source)


def read_saved_plan(path: Path) -> SavedPlan | None:
    """The saved plan at ``path``, read bounded and checked (`read_plan`), its patient id checked as
    ``--patient`` is (it is shown at the terminal and put into file names). None when the file is
    not a needle plan at all (no ``record = "needle-plan"``): each caller says what that means for
    it. The one reader of a saved plan file: `plan --from`, `aftercare --plan`, `plan --out` over a
    saved plan and `batch --format toml` all come here."""
    from needlecli.identity import check_patient
    from needlecli.records import read_toml_file

    doc = read_toml_file(path, "saved plan")
    if doc.get("record") != RECORD:
        return None
    saved = read_plan(doc, str(path))
    if saved.request.patient:
        try:
            check_patient(saved.request.patient, "patient")
        except UsageError as exc:
            raise RecordError(f"{path}: {exc}") from None
    return saved


def retext(text: str, patient: str, plan_id: str, new_patient: str, new_plan_id: str) -> str | None:
    """A saved plan's TOML ``text`` (of ``patient``'s plan ``plan_id``) as the same plan for another
    patient and plan id would be written (`planning.for_patient`: the plans differ in nothing else):
    the two lines put in, each as tomli_w writes it. None when either line is not there exactly once
    (then the caller writes the plan in full). Batch books a series shared by many patients with it;
    tests/test_register.py holds it to the full rendering, byte for byte."""
    import tomli_w

    old_p, new_p = "\n" + tomli_w.dumps({"patient": patient}), "\n" + tomli_w.dumps({"patient": new_patient})
    old_i, new_i = f'\nplan_id = "{plan_id}"\n', f'\nplan_id = "{new_plan_id}"\n'
    if text.count(old_p) != 1 or text.count(old_i) != 1:
        return None
    return text.replace(old_i, new_i, 1).replace(old_p, new_p, 1)
