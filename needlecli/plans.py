"""Plans as documents: JSON/TOML-ready dicts, and reading a saved plan back.

A saved plan (``needle plan --format toml --out plan.toml``) keeps the whole
request (clinic days, closed dates including the public holidays used, times)
so that a reschedule uses the same rules, and every item's identity and
revision so calendar exports can update in place.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from needlecli.clinic import format_weekdays
from needlecli.errors import RecordError
from needlecli.model import ClinicRules, Plan, PlanRequest, ProtocolRef, Window

RECORD = "needle-plan"
FORMAT = 1


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


def _when(d: dt.date, start: dt.datetime | None, end: dt.datetime | None) -> dict[str, Any]:
    out: dict[str, Any] = {"date": d, "weekday": f"{d:%a}"}
    if start is not None and end is not None:
        out["start"] = start
        out["end"] = end
    return out


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
            "pih": req.pih,
            "time": f"{req.time:%H:%M}" if req.time else None,
            "duration_minutes": req.duration_minutes,
            "time_zone": req.tz,
            "clinic_days": format_weekdays(req.clinic.weekdays),
            "closed": sorted(req.clinic.closed),
            "holidays": req.clinic.holidays,
        },
        "sessions": [
            {"number": s.number, **_when(s.date, s.start, s.end), "id": s.key, "revision": s.revision}
            for s in plan.sessions
        ],
        "windows": [_window(w) for w in plan.windows],
        "boosters": [
            {
                "number": b.number,
                **_when(b.date, b.start, b.end),
                "id": b.key,
                "revision": b.revision,
                "windows": [_window(w) for w in b.windows],
            }
            for b in plan.boosters
        ],
        "depth_mm": [{"zone": z.zone, "min": z.min_mm, "max": z.max_mm} for z in plan.depth],
        "notes": list(plan.notes),
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
    notes: tuple[str, ...]


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, msg: str) -> RecordError:
        return RecordError(f"{self.source}: {path}: {msg}")

    def get(
        self, tbl: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...], optional: bool = False
    ) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in tbl:
            if optional:
                return None
            raise self.fail(full, "missing")
        val = tbl[key]
        if kind is dt.date and isinstance(val, dt.datetime):
            raise self.fail(full, "must be a date, not a date-time")
        if isinstance(val, bool) and kind in (int, (int,)):
            raise self.fail(full, "must be a whole number")
        if not isinstance(val, kind):
            raise self.fail(full, f"has the wrong type ({type(val).__name__})")
        return val


def read_plan(doc: Mapping[str, Any], source: str) -> SavedPlan:
    """Check a saved plan document (parsed TOML); RecordError names the key path of a problem."""
    r = _Reader(source)
    if doc.get("record") != RECORD:
        raise RecordError(f'{source}: not a needle plan (record = "{RECORD}" is missing)')
    if doc.get("format") != FORMAT:
        raise RecordError(f"{source}: plan format {doc.get('format')!r} is not supported (expected {FORMAT})")
    proto = r.get(doc, "protocol", "", dict)
    req = r.get(doc, "request", "", dict)
    from needlecli.clinic import check_zone, parse_time, parse_weekdays

    closed = r.get(req, "closed", "request", list)
    for i, d in enumerate(closed):
        if not isinstance(d, dt.date) or isinstance(d, dt.datetime):
            raise r.fail(f"request.closed[{i}]", "must be a date")
    time_text = r.get(req, "time", "request", str, optional=True)
    try:
        clinic = ClinicRules(
            weekdays=parse_weekdays(r.get(req, "clinic_days", "request", str), "request.clinic_days"),
            closed=frozenset(closed),
            holidays=r.get(req, "holidays", "request", str, optional=True),
        )
        time = parse_time(time_text, "request.time") if time_text else None
        tz = check_zone(r.get(req, "time_zone", "request", str), "request.time_zone")
    except Exception as exc:  # UsageError from the parsers: re-label as a record problem
        raise RecordError(f"{source}: {exc}") from None
    request = PlanRequest(
        patient=r.get(doc, "patient", "", str),
        indication=r.get(doc, "indication", "", str),
        start=r.get(req, "start", "request", dt.date),
        sessions=r.get(req, "sessions", "request", int),
        interval_weeks=r.get(req, "interval_weeks", "request", int),
        clinic=clinic,
        boosters=r.get(req, "boosters", "request", int),
        not_before=r.get(req, "not_before", "request", dt.date, optional=True),
        uses_retinoids=r.get(req, "uses_retinoids", "request", bool, optional=True),
        pih=r.get(req, "pih", "request", bool),
        time=time,
        duration_minutes=r.get(req, "duration_minutes", "request", int),
        tz=tz,
    )
    revisions: dict[str, int] = {}
    signatures: dict[str, tuple[object, ...]] = {}

    def window(w: object, p: str) -> None:
        if not isinstance(w, dict):
            raise r.fail(p, "must be a table")
        key = r.get(w, "id", p, str)
        revisions[key] = r.get(w, "revision", p, int)
        items = r.get(w, "items", p, list)
        signatures[key] = (r.get(w, "first_day", p, dt.date), r.get(w, "last_day", p, dt.date), tuple(items))

    sessions = r.get(doc, "sessions", "", list)
    session_dates: list[dt.date] = []
    for i, s in enumerate(sessions):
        p = f"sessions[{i}]"
        if not isinstance(s, dict):
            raise r.fail(p, "must be a table")
        if r.get(s, "number", p, int) != i + 1:
            raise r.fail(f"{p}.number", f"must be {i + 1}")
        session_dates.append(r.get(s, "date", p, dt.date))
        revisions[r.get(s, "id", p, str)] = r.get(s, "revision", p, int)
        signatures[r.get(s, "id", p, str)] = (session_dates[-1],)
    if any(v < 0 for v in revisions.values()) or r.get(doc, "revision", "", int) < 0:
        raise RecordError(f"{source}: revisions must be 0 or more")
    if len(session_dates) != request.sessions:
        raise r.fail("sessions", f"has {len(session_dates)} sessions but request.sessions is {request.sessions}")
    if any(b <= a for a, b in itertools.pairwise(session_dates)):
        raise r.fail("sessions", "dates must increase")
    booster_dates: list[dt.date] = []
    for i, b in enumerate(r.get(doc, "boosters", "", list)):
        p = f"boosters[{i}]"
        if not isinstance(b, dict):
            raise r.fail(p, "must be a table")
        booster_dates.append(r.get(b, "date", p, dt.date))
        revisions[r.get(b, "id", p, str)] = r.get(b, "revision", p, int)
        signatures[r.get(b, "id", p, str)] = (booster_dates[-1],)
        for j, w in enumerate(r.get(b, "windows", p, list)):
            window(w, f"{p}.windows[{j}]")
    for i, w in enumerate(r.get(doc, "windows", "", list)):
        window(w, f"windows[{i}]")
    if any(v < 0 for v in revisions.values()):
        raise RecordError(f"{source}: revisions must be 0 or more")
    notes = r.get(doc, "notes", "", list, optional=True) or []
    return SavedPlan(
        plan_id=r.get(doc, "plan_id", "", str),
        revision=r.get(doc, "revision", "", int),
        created_on=r.get(doc, "created_on", "", dt.date),
        protocol=ProtocolRef(
            name=r.get(proto, "name", "protocol", str),
            version=r.get(proto, "version", "protocol", str),
            sha256=r.get(proto, "sha256", "protocol", str),
            origin=r.get(proto, "origin", "protocol", str),
        ),
        request=request,
        session_dates=tuple(session_dates),
        booster_dates=tuple(booster_dates),
        revisions=revisions,
        signatures=signatures,
        notes=tuple(str(n) for n in notes),
    )
