"""The scheduling core with exact dates."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from needlecli import catalog
from needlecli.clinic import public_holidays
from needlecli.model import ClinicRules, Finding, Range, TreatmentProtocol
from needlecli.revisions import reschedule
from needlecli.scheduling import SchedulingError, build_plan
from tests.plan_helpers import MON_FRI, request

D = dt.date
ON = D(2026, 12, 1)


def proto(name: str = "fine-lines") -> TreatmentProtocol:
    return catalog.load_treatment(name)


def dates(plan) -> list[dt.date]:  # type: ignore[no-untyped-def]
    return [s.date for s in plan.sessions]


def test_default_series_every_four_weeks() -> None:
    plan = build_plan(proto(), request(start=D(2026, 12, 1)), ON)
    assert dates(plan) == [D(2026, 12, 1), D(2026, 12, 29), D(2027, 1, 26)]
    assert plan.boosters == ()
    # SPEC: the screening's own procedure waits (surgery 6 months, laser 3 months, filler 4 weeks,
    # neurotoxin and peels 2 weeks), sun and waxing 14 days before, skincare 5 days before (to the day
    # before); after it, makeup for 72 h (through day 3), heat, sweat and exfoliants through day 4,
    # actives through day 6.
    assert [(w.kind, w.spec, w.first_day, w.last_day) for w in plan.sessions[0].windows] == [
        ("pause", "pause-procedures-6mo", D(2026, 6, 1), D(2026, 11, 30)),
        ("pause", "pause-procedures-3mo", D(2026, 9, 1), D(2026, 11, 30)),
        ("pause", "pause-procedures-4wk", D(2026, 11, 3), D(2026, 11, 30)),
        ("pause", "pause-procedures-2wk", D(2026, 11, 17), D(2026, 11, 30)),
        ("pause", "pause-sun", D(2026, 11, 17), D(2026, 11, 30)),
        ("pause", "pause-skincare", D(2026, 11, 26), D(2026, 11, 30)),
        ("aftercare", "no-makeup", D(2026, 12, 1), D(2026, 12, 4)),
        ("aftercare", "no-heat", D(2026, 12, 1), D(2026, 12, 5)),
        ("aftercare", "no-actives", D(2026, 12, 1), D(2026, 12, 7)),
    ]


def test_christmas_start_with_gb_holidays_moves_to_the_29th() -> None:
    closed = public_holidays("GB", [2026, 2027])
    req = request(start=D(2026, 12, 25))
    req = req.__class__(**{**req.__dict__, "clinic": ClinicRules(MON_FRI, closed, "GB")})
    plan = build_plan(proto(), req, ON)
    assert dates(plan)[0] == D(2026, 12, 29)  # Fri 25 Christmas, Sat/Sun, Mon 28 Boxing Day (substitute)
    assert "Session 1 moved from 2026-12-25 to 2026-12-29" in plan.notes[0].text


def test_weekend_start_moves_to_monday() -> None:
    plan = build_plan(proto(), request(start=D(2026, 12, 5)), ON)  # a Saturday
    assert dates(plan) == [D(2026, 12, 7), D(2027, 1, 4), D(2027, 2, 1)]


def test_a_closed_day_pushes_one_session_only() -> None:
    plan = build_plan(proto(), request(start=D(2026, 12, 1), closed={D(2026, 12, 29)}), ON)
    assert dates(plan) == [D(2026, 12, 1), D(2026, 12, 30), D(2027, 1, 27)]


def test_closed_stretch_makes_the_window_impossible() -> None:
    # Session 2 may fall 4-6 weeks after 2026-12-01: 2026-12-29 .. 2027-01-12. Close all of it.
    stretch = {D(2026, 12, 29) + dt.timedelta(days=i) for i in range(15)}
    with pytest.raises(SchedulingError) as info:
        build_plan(proto(), request(start=D(2026, 12, 1), closed=stretch), ON)
    msg = str(info.value)
    assert msg.startswith("session 2: no open clinic day between 2026-12-29 (Tue)")
    assert "2027-01-12 (Tue) (the 6-week maximum for fine-lines)" in msg


def test_deep_scars_spacing() -> None:
    plan = build_plan(proto("deep-scars"), request("deep-scars", start=D(2026, 12, 1)), ON)
    assert dates(plan) == [D(2026, 12, 1), D(2027, 1, 12), D(2027, 2, 23)]  # 6 weeks apart
    plan8 = build_plan(proto("deep-scars"), request("deep-scars", start=D(2026, 12, 1), interval=8, sessions=4), ON)
    assert dates(plan8) == [D(2026, 12, 1), D(2027, 1, 26), D(2027, 3, 23), D(2027, 5, 18)]


def test_interval_outside_the_protocol_range() -> None:
    with pytest.raises(SchedulingError, match="interval-weeks 4 is outside deep-scars's range 6-8 weeks"):
        build_plan(proto("deep-scars"), request("deep-scars", interval=4), ON)
    with pytest.raises(SchedulingError, match="sessions 7 is outside fine-lines's range 3-6"):
        build_plan(proto(), request(sessions=7), ON)


def test_screening_deferral_to_a_sunday_moves_to_monday() -> None:
    plan = build_plan(proto(), request(start=D(2026, 12, 1), not_before=D(2027, 2, 28)), ON)  # Sun
    assert dates(plan)[0] == D(2027, 3, 1)
    assert plan.notes[0].text.startswith("The screening defers treatment until 2027-02-28")


def test_dst_offsets_in_london() -> None:
    req = request(start=D(2027, 3, 1), time=dt.time(10, 30), tz="Europe/London", duration_minutes=45)
    plan = build_plan(proto(), req, ON)
    assert dates(plan) == [D(2027, 3, 1), D(2027, 3, 29), D(2027, 4, 26)]
    s1, s2, _ = plan.sessions
    assert s1.start is not None and s1.start.isoformat() == "2027-03-01T10:30:00+00:00"
    assert s1.end is not None and s1.end.isoformat() == "2027-03-01T11:15:00+00:00"
    assert s2.start is not None and s2.start.isoformat() == "2027-03-29T10:30:00+01:00"  # BST from 28 March
    assert s2.start.tzname() == "BST"


def test_boosters_six_months_apart_on_open_days() -> None:
    plan = build_plan(proto(), request(start=D(2026, 12, 1), boosters=2), ON)
    assert dates(plan)[-1] == D(2027, 1, 26)
    # 2027-07-26 is a Monday; + 6 months = 2028-01-26, a Wednesday.
    assert [b.date for b in plan.boosters] == [D(2027, 7, 26), D(2028, 1, 26)]
    sun = plan.boosters[0].window("pause-sun")
    assert sun is not None and sun.key == "booster-pause-sun-1"
    assert sun.last_day == D(2027, 7, 25)


def test_booster_due_on_a_weekend_at_the_maximum_moves_back() -> None:
    # Series 2026-01-08, 02-05, 03-05 (Thu); + 6 months (the maximum) = Sat 2026-09-05.
    plan = build_plan(proto(), request(start=D(2026, 1, 8), boosters=1), ON)
    assert dates(plan)[-1] == D(2026, 3, 5)
    assert plan.boosters[0].date == D(2026, 9, 4)  # the nearest open day before it: Fri


def test_booster_moves_forward_when_it_can() -> None:
    p = dataclasses.replace(proto(), booster_months=Range(3, 6, 4))
    plan = build_plan(p, request(start=D(2026, 1, 8), boosters=1), ON)
    assert plan.boosters[0].date == D(2026, 7, 6)  # + 4 months = Sun 2026-07-05 -> Mon


def test_session_times_across_dst_changes() -> None:
    # 02:30 does not exist in New York on 2027-03-14: the session starts at the real instant after the gap.
    req = request(start=D(2027, 3, 14), time=dt.time(2, 30), tz="America/New_York", weekdays=frozenset(range(7)))
    s = build_plan(proto(), req, ON).sessions[0]
    assert s.start is not None and s.end is not None
    assert s.start.isoformat() == "2027-03-14T03:30:00-04:00"
    assert (s.end - s.start) == dt.timedelta(minutes=60) and s.end > s.start
    # 01:30 happens twice in London on 2026-10-25: the first one (BST), and the session lasts 60 minutes.
    req = request(start=D(2026, 10, 25), time=dt.time(1, 30), tz="Europe/London", weekdays=frozenset(range(7)))
    s = build_plan(proto(), req, ON).sessions[0]
    assert s.start is not None and s.end is not None
    assert s.start.isoformat() == "2026-10-25T01:30:00+01:00"
    assert s.end.astimezone(dt.UTC) - s.start.astimezone(dt.UTC) == dt.timedelta(minutes=60)


def test_moves_into_the_past_are_refused() -> None:
    plan = build_plan(proto(), request(start=D(2026, 12, 1)), ON)
    with pytest.raises(SchedulingError, match="before 2026-12-10"):
        reschedule(proto(), plan, 1, D(2026, 12, 8), D(2026, 12, 10))


def test_retinoid_items_follow_the_screening() -> None:
    p = proto()
    skincare = next(x for x in p.pauses if x.id == "skincare")
    unknown = build_plan(p, request(), ON).sessions[0].window("pause-skincare").items  # type: ignore[union-attr]
    uses = build_plan(p, request(uses_retinoids=True), ON).sessions[0].window("pause-skincare").items  # type: ignore[union-attr]
    none = build_plan(p, request(uses_retinoids=False), ON).sessions[0].window("pause-skincare").items  # type: ignore[union-attr]
    assert unknown == uses == skincare.retinoid_items + skincare.items + skincare.ask_items
    assert none == skincare.items + skincare.ask_items


def test_a_pause_already_under_way_names_what_the_pause_covers() -> None:
    # Session 1 on 2026-12-03, planned on 2026-12-01: its 5-day skincare pause began on 2026-11-28.
    p = proto()
    skincare = next(x for x in p.pauses if x.id == "skincare")

    def note(**kw: object) -> str:
        plan = build_plan(p, request(start=D(2026, 12, 3), **kw), ON)
        return next(n.text for n in plan.notes if "skincare pause (5 days) started on 2026-11-28" in n.text)

    assert f"({', '.join(skincare.retinoid_items + skincare.items)})" in note()
    assert f"({', '.join(skincare.items)})" in note(uses_retinoids=False)
    assert skincare.retinoid_items[0] not in note(uses_retinoids=False)


def test_pih_depth_is_one_step_shallower() -> None:
    p = proto("acne-scars")
    fitz = Finding("fitzpatrick", "caution", "m", "p")
    every = p.zones
    normal = {z.zone: (z.min_mm, z.max_mm) for z in build_plan(p, request("acne-scars", zones=every), ON).depth}
    plan = build_plan(p, request("acne-scars", findings=(fitz,), zones=every), ON)
    pih = {z.zone: (z.min_mm, z.max_mm) for z in plan.depth}
    assert normal["cheeks"] == (1.5, 2.5) and pih["cheeks"] == (1.25, 2.25)
    assert normal["periorbital"] == (0.25, 0.5) and pih["periorbital"] == (0.25, 0.25)
    assert [n.cause for n in plan.notes if n.cause not in ("schedule", "not-screened", "device-label")] == [
        "fitzpatrick"
    ]
    assert all(z.reasons == ("fitzpatrick",) for z in plan.sessions[0].depth)


def test_plan_id_is_stable_and_distinct() -> None:
    a = build_plan(proto(), request(patient="A"), ON)
    assert build_plan(proto(), request(patient="A"), D(2026, 12, 2)).plan_id == a.plan_id
    assert build_plan(proto(), request(patient="B"), ON).plan_id != a.plan_id


def test_reschedule_moves_later_sessions_and_keeps_earlier_ones() -> None:
    p = proto()
    plan = build_plan(p, request(start=D(2026, 12, 1), sessions=4, boosters=1), ON)
    assert dates(plan) == [D(2026, 12, 1), D(2026, 12, 29), D(2027, 1, 26), D(2027, 2, 23)]
    moved = reschedule(p, plan, 3, D(2027, 2, 2), D(2026, 12, 10))
    assert dates(moved) == [D(2026, 12, 1), D(2026, 12, 29), D(2027, 2, 2), D(2027, 3, 2)]
    assert moved.plan_id == plan.plan_id and moved.revision == 1
    assert [s.revision for s in moved.sessions] == [0, 0, 1, 1]
    assert [s.key for s in moved.sessions] == [s.key for s in plan.sessions]
    assert moved.boosters[0].date == D(2027, 9, 2) and moved.boosters[0].revision == 1
    revs = {w.key: w.revision for w in moved.windows}
    assert revs["pause-sun-1"] == 0 and revs["pause-sun-3"] == 1 and revs["aftercare-no-actives-4"] == 1
    again = reschedule(p, moved, 3, D(2027, 2, 3), D(2026, 12, 11))
    assert [s.revision for s in again.sessions] == [0, 0, 2, 2]


def test_reschedule_refuses_what_breaks_the_rules() -> None:
    p = proto()
    plan = build_plan(p, request(start=D(2026, 12, 1)), ON)
    with pytest.raises(SchedulingError, match="Sat is not a clinic day"):
        reschedule(p, plan, 2, D(2027, 1, 2), ON)
    with pytest.raises(SchedulingError, match="must fall between 2026-12-29 and 2027-01-12"):
        reschedule(p, plan, 2, D(2026, 12, 22), ON)
    with pytest.raises(SchedulingError, match=r"would be 21 days after session 1 \(2026-12-01\)"):
        reschedule(p, plan, 2, D(2026, 12, 22), ON)
    with pytest.raises(SchedulingError, match=r"on 2026-12-02 would be 1 day after session 1 \("):
        reschedule(p, plan, 2, D(2026, 12, 2), ON)
    assert plan.sessions[1].date == D(2026, 12, 29)
    with pytest.raises(SchedulingError, match=r"session 3 on 2026-12-28 would be 1 day before session 2 \("):
        reschedule(p, plan, 3, D(2026, 12, 28), ON)
    with pytest.raises(SchedulingError, match="there is no session 4"):
        reschedule(p, plan, 4, D(2027, 3, 1), ON)
    deferred = build_plan(p, request(start=D(2026, 12, 1), not_before=D(2026, 12, 10)), ON)
    with pytest.raises(SchedulingError, match="defers treatment until 2026-12-10"):
        reschedule(p, deferred, 1, D(2026, 12, 9), ON)


def test_no_open_weekday_at_all() -> None:
    with pytest.raises(SchedulingError, match="no open weekdays"):
        build_plan(proto(), request(weekdays=frozenset()), ON)
