"""Hypothesis properties for the SPEC.md plan invariants over random starts,
closed-day sets, clinic weekdays and protocols."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from needlecli import catalog, scheduling
from needlecli.dates import add_months
from needlecli.model import ClinicRules, Finding, PlanRequest, Range, TreatmentProtocol
from needlecli.planning import with_patient_dates
from needlecli.revisions import reschedule
from needlecli.scheduling import SchedulingError, build_plan

BASES = [catalog.load_treatment(n) for n in ("fine-lines", "acne-scars", "texture", "deep-scars")]
STARTS = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2030, 12, 31))


@st.composite
def protocols(draw: st.DrawFn) -> TreatmentProtocol:
    base = draw(st.sampled_from(BASES))
    lo = draw(st.integers(1, 8))
    hi = draw(st.integers(lo, lo + 4))
    s_lo = draw(st.integers(1, 5))
    s_hi = draw(st.integers(s_lo, 8))
    pauses = tuple(dataclasses.replace(p, days_before=draw(st.integers(1, 21))) for p in base.pauses)
    return dataclasses.replace(
        base,
        interval_weeks=Range(lo, hi, draw(st.integers(lo, hi))),
        sessions=Range(s_lo, s_hi, s_lo),
        pauses=pauses,
    )


CAUTION_IDS = (
    "herpes_history",
    "isotretinoin_last_dose",
    "fitzpatrick",
    "hyperpigmentation_tendency",
    "anticoagulants",
)


@st.composite
def findings(draw: st.DrawFn, start: dt.date) -> tuple[Finding, ...]:
    out = []
    for fid in draw(st.sets(st.sampled_from(CAUTION_IDS))):
        until = draw(st.one_of(st.none(), st.builds(lambda d: start + dt.timedelta(days=d), st.integers(-30, 400))))
        out.append(Finding(fid, "caution", "m", "p", until if fid == "isotretinoin_last_dose" else None))
    return tuple(out)


@st.composite
def ranges(draw: st.DrawFn, start: dt.date) -> tuple[tuple[dt.date, dt.date], ...]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        first = start + dt.timedelta(days=draw(st.integers(-20, 300)))
        out.append((first, first + dt.timedelta(days=draw(st.integers(0, 20)))))
    return tuple(out)


@st.composite
def cases(draw: st.DrawFn) -> tuple[TreatmentProtocol, PlanRequest]:
    proto = draw(st.one_of(st.sampled_from(BASES), protocols()))
    start = draw(STARTS)
    weekdays = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    closed = frozenset(start + dt.timedelta(days=d) for d in draw(st.sets(st.integers(-10, 500), max_size=120)))
    not_before = draw(st.one_of(st.none(), st.builds(lambda d: start + dt.timedelta(days=d), st.integers(-30, 200))))
    req = PlanRequest(
        patient="P",
        indication=proto.info.name,
        start=start,
        sessions=draw(st.integers(proto.sessions.min, proto.sessions.max)),
        interval_weeks=draw(st.integers(proto.interval_weeks.min, proto.interval_weeks.max)),
        clinic=ClinicRules(weekdays, closed),
        boosters=draw(st.integers(0, 2)),
        not_before=not_before,
        uses_retinoids=draw(st.one_of(st.none(), st.booleans())),
        findings=draw(findings(start)),
        away=draw(ranges(start)),
        sun_trips=draw(ranges(start)),
        max_depth_mm=draw(st.one_of(st.none(), st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]))),
    )
    return proto, with_patient_dates(proto, req)


def check_invariants(proto: TreatmentProtocol, req: PlanRequest, plan, moved: bool = False) -> None:  # type: ignore[no-untyped-def]
    days = [s.date for s in plan.sessions] + [b.date for b in plan.boosters]
    assert len(plan.sessions) == req.sessions and len(plan.boosters) == req.boosters
    for d in days:
        assert req.clinic.is_open(d), d  # no session on a closed day
        if not moved:  # a practitioner may move a session before the original start, never before a deferral
            assert d >= req.start
        if req.not_before is not None:
            assert d >= req.not_before  # a dated deferral is never violated
    for a, b in zip(plan.sessions, plan.sessions[1:], strict=False):
        gap = (b.date - a.date).days
        assert proto.interval_weeks.min * 7 <= gap <= proto.interval_weeks.max * 7
    windows = list(plan.windows) + [w for b in plan.boosters for w in b.windows]
    by_session = {s.number: s.date for s in plan.sessions}
    for b in plan.boosters:
        for w in b.windows:
            assert w.session == b.number
    pauses = {f"pause-{p.id}": p for p in proto.all_pauses}
    for w in plan.windows:
        if w.kind == "pause":
            assert w.last_day == by_session[w.session] - dt.timedelta(days=1)  # every pause ends the day before
            spec = pauses[w.spec]
            if spec.procedure:  # a procedure on the day before the pause has ended its wait by the session
                before = w.first_day - dt.timedelta(days=1)
                end = add_months(before, spec.months) + dt.timedelta(weeks=spec.weeks, days=spec.days_before)
                assert end <= by_session[w.session]
            else:
                assert (w.last_day - w.first_day).days == spec.days_before - 1
    after = proto.after_sun_trip_days
    herpes = any(f.id == "herpes_history" for f in req.findings)
    standard = {zone: (lo, hi) for zone, lo, hi in proto.depth_mm}
    for a in plan.appointments:
        for first, last in req.away:
            assert not first <= a.date <= last  # never while the patient is away
        for first, last in req.sun_trips:
            assert not first <= a.date <= last + dt.timedelta(days=after)  # nor during or just after a sun trip
        antiviral = [w for w in a.windows if w.kind == "antiviral"]
        if herpes:  # every appointment of a herpes-history plan has its antiviral window
            assert [(w.first_day, w.last_day) for w in antiviral] == [
                (a.date - dt.timedelta(days=1), a.date + dt.timedelta(days=7))
            ]
        else:
            assert antiviral == []
        stepped = any(c.shallower and scheduling.active(c.finding, req, a.date) for c in proto.cautions)
        for z in a.depth:  # a caution never makes a depth deeper; the device maximum caps every zone
            lo, hi = standard[z.zone]
            assert z.min_mm <= lo and z.max_mm <= hi and z.min_mm <= z.max_mm
            if stepped:
                assert z.max_mm <= max(proto.depth_floor_mm, round(hi - proto.depth_step_mm, 2))
            if req.max_depth_mm is not None:
                assert z.max_mm <= req.max_depth_mm
    for w in windows:
        assert w.first_day <= w.last_day
    keys = [s.key for s in plan.sessions] + [w.key for w in windows] + [b.key for b in plan.boosters]
    assert len(keys) == len(set(keys))  # identities are unique within a plan


@given(cases())
def test_plan_invariants(case: tuple[TreatmentProtocol, PlanRequest]) -> None:
    proto, req = case
    try:
        plan = build_plan(proto, req, dt.date(2025, 1, 1))
    except SchedulingError:
        return
    check_invariants(proto, req, plan)
    assert build_plan(proto, req, dt.date(2025, 1, 1)) == plan  # same inputs, same plan


@given(cases(), st.data())
def test_reschedule_keeps_the_invariants(case: tuple[TreatmentProtocol, PlanRequest], data: st.DataObject) -> None:
    proto, req = case
    try:
        plan = build_plan(proto, req, dt.date(2025, 1, 1))
    except SchedulingError:
        return
    number = data.draw(st.integers(1, len(plan.sessions)))
    day = plan.sessions[number - 1].date + dt.timedelta(days=data.draw(st.integers(-20, 20)))
    try:
        moved = reschedule(proto, plan, number, day, dt.date(2025, 1, 1))
    except SchedulingError:
        return
    check_invariants(proto, req, moved, moved=True)
    assert moved.sessions[number - 1].date == day
    assert moved.sessions[: number - 1] == plan.sessions[: number - 1]  # earlier sessions stay
    for old, new in zip(plan.sessions, moved.sessions, strict=True):
        assert new.revision == old.revision + (old.date != new.date)


@given(STARTS, st.integers(3, 6), st.integers(0, 5), st.sampled_from(BASES), st.data())
def test_a_valid_request_with_no_closures_always_plans(
    start: dt.date, n: int, boosters: int, proto: TreatmentProtocol, data: st.DataObject
) -> None:
    weeks = data.draw(st.integers(proto.interval_weeks.min, proto.interval_weeks.max))
    req = PlanRequest("P", proto.info.name, start, n, weeks, ClinicRules(frozenset(range(5)), frozenset()), boosters)
    check_invariants(proto, req, build_plan(proto, req, start))  # must not raise SchedulingError


def test_the_strategy_reaches_plans() -> None:
    # Guard against a vacuous property: a plain request must plan.
    proto = BASES[0]
    req = PlanRequest("P", "fine-lines", dt.date(2026, 1, 5), 3, 4, ClinicRules(frozenset(range(5)), frozenset()))
    check_invariants(proto, req, build_plan(proto, req, dt.date(2026, 1, 1)))
