"""SPEC.md invariants checked end to end: random answers and clinic calendars go through
`needle screen --out` and `needle plan --screening --out`, and the files on disk are checked."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from needlecli import catalog
from needlecli.model import WEEKDAYS
from tests.harness import run

SCREEN = catalog.load_screening()
DATES = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2028, 12, 31))


def answer(q_type: str) -> st.SearchStrategy[object]:
    # Mostly "no": with even odds nearly every patient would be contraindicated and never planned.
    if q_type == "bool":
        return st.integers(0, 9).map(lambda n: n == 0)
    if q_type == "date":
        return st.one_of(st.none(), st.none(), DATES.map(dt.date.isoformat))
    if q_type == "int":  # age: mostly adults
        return st.one_of(st.integers(22, 90), st.integers(22, 90), st.integers(0, 21))
    return st.integers(1, 6)


ANSWERS = st.fixed_dictionaries({q.id: answer(q.type) for q in SCREEN.questions})


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    answers=ANSWERS,
    on=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 31)),
    indication=st.sampled_from(["fine-lines", "acne-scars", "texture", "deep-scars"]),
    weekdays=st.sets(st.integers(0, 6), min_size=1),
    closed=st.lists(st.integers(0, 200), max_size=25),
    boosters=st.integers(0, 2),
    start_offset=st.integers(-400, 100),
)
def test_what_is_written_obeys_the_spec(  # type: ignore[no-untyped-def]
    tmp_path_factory, answers, on, indication, weekdays, closed, boosters, start_offset
) -> None:
    d: Path = tmp_path_factory.mktemp("e2e")
    # A date after the evaluation date is a typo (an error of its own, tested elsewhere): fold it back.
    answers = {k: (min(v, on.isoformat()) if isinstance(v, str) else v) for k, v in answers.items()}
    (d / "a.json").write_text(json.dumps(answers))
    code, out, err = run(
        "screen",
        "--answers",
        str(d / "a.json"),
        "--on",
        on.isoformat(),
        "--patient",
        "P1",
        "--out",
        str(d / "rec.toml"),
        "--json",
    )
    assert code in (0, 3, 4), err
    doc = json.loads(out)
    rec = tomllib.loads((d / "rec.toml").read_text())
    assert stat.S_IMODE((d / "rec.toml").stat().st_mode) == 0o600
    assert rec["verdict"] == doc["verdict"]
    if any(f["category"] == "contraindicated" for f in doc["findings"]):
        assert doc["verdict"] == "contraindicated" and code == 4
    closed_days = sorted({on + dt.timedelta(days=n) for n in closed})
    days = ",".join(WEEKDAYS[w] for w in sorted(weekdays))
    args = [
        "plan",
        "--indication",
        indication,
        "--screening",
        str(d / "rec.toml"),
        "--on",
        on.isoformat(),
        "--clinic-days",
        days,
        "--boosters",
        str(boosters),
        "--start",
        (on + dt.timedelta(days=start_offset)).isoformat(),  # often before the screening date
        "--format",
        "toml",
        "--out",
        str(d / "plan.toml"),
    ]
    for c in closed_days:
        args += ["--closed", c.isoformat()]
    code, _, err = run(*args)
    if doc["verdict"] == "contraindicated":
        assert code == 4 and not (d / "plan.toml").exists()
        return
    if doc["verdict"] == "defer" and doc["earliest_date"] is None:
        assert code == 3 and not (d / "plan.toml").exists()
        return
    if code == 2:  # no open day fits the spacing rules: a clear refusal, and no file
        assert "no open clinic day" in err and not (d / "plan.toml").exists()
        return
    assert code == 0, err
    plan = tomllib.loads((d / "plan.toml").read_text())
    assert stat.S_IMODE((d / "plan.toml").stat().st_mode) == 0o600
    proto = catalog.load_treatment(indication)
    sessions = [s["date"] for s in plan["sessions"]]
    earliest = dt.date.fromisoformat(doc["earliest_date"]) if doc["earliest_date"] else on
    for day in sessions + [b["date"] for b in plan["boosters"]]:
        assert day.weekday() in weekdays and day not in closed_days  # never on a closed day
        assert day >= earliest >= on  # never before the screening, never inside a dated deferral
    for a, b in itertools.pairwise(sessions):
        assert proto.interval_weeks.min * 7 <= (b - a).days <= proto.interval_weeks.max * 7
    by_number = {s["number"]: s["date"] for s in plan["sessions"]}
    for w in plan["windows"]:
        if w["kind"] == "pause":
            assert w["last_day"] == by_number[w["session"]] - dt.timedelta(days=1)
    # Cautions reach the plan: the antiviral window around every session of a herpes history, depths
    # never deeper than the protocol's, one step shallower for Fitzpatrick IV-VI, and the causes in notes.
    causes = {n["cause"] for n in plan["notes"]}
    antiviral = [w for w in plan["windows"] if w["kind"] == "antiviral"]
    if answers["herpes_history"]:
        assert sorted(w["session"] for w in antiviral) == sorted(by_number)
        for w in antiviral:
            day = by_number[w["session"]]
            assert (w["first_day"], w["last_day"]) == (day - dt.timedelta(days=1), day + dt.timedelta(days=7))
        assert "herpes_history" in causes
    else:
        assert antiviral == []
    standard = {zone: (lo, hi) for zone, lo, hi in proto.depth_mm}
    for s in plan["sessions"]:
        for z in s["depth_mm"]:
            lo, hi = standard[z["zone"]]
            assert z["min"] <= lo and z["max"] <= hi
            if answers["fitzpatrick"] >= 4 or answers["hyperpigmentation_tendency"]:
                assert z["max"] <= max(proto.depth_floor_mm, hi - proto.depth_step_mm)
    # Plans keep the screening's answers (re-screened on every read), never only what was derived from them.
    assert plan["screening"]["answers"]["herpes_history"] == answers["herpes_history"]
    assert sorted(p.name for p in d.iterdir()) == ["a.json", "plan.toml", "rec.toml"]  # no temp files left


def test_the_property_reaches_plans(tmp_path: Path) -> None:
    # Guard against vacuity: an all-clear patient with an open calendar plans.
    answers = {q.id: {"bool": False, "date": None, "fitzpatrick": 2, "int": 35}[q.type] for q in SCREEN.questions}
    (tmp_path / "a.json").write_text(json.dumps(answers))
    assert (
        run("screen", "-a", str(tmp_path / "a.json"), "--on", "2026-12-01", "--out", str(tmp_path / "r.toml"))[0] == 0
    )
    code, _, err = run(
        "plan", "-i", "fine-lines", "--screening", str(tmp_path / "r.toml"), "--on", "2026-12-01", "--format", "json"
    )
    assert code == 0, err


NASTY = [
    ("--on", "2026-02-30"),
    ("--on", "0000-01-01"),
    ("--on", "9999-12-31"),
    ("--start", "1899-12-31"),
    ("--tz", "../../etc/passwd"),
    ("--tz", "Europe/Lon don"),
    ("--tz", "UTC+5"),
    ("--time", "25:00"),
    ("--time", "12:60"),
    ("--time", "-1:00"),
    ("--patient", ""),
    ("--patient", "\x00"),
    ("--patient", "x" * 300),
    ("--closed", "2026-13-01"),
    ("--clinic-days", "mon-mon-fri"),
    ("--holidays", "GB-"),
    ("--holidays", "ZZ"),
    ("--sessions", "0"),
    ("--interval-weeks", "-1"),
    ("--duration", "99999"),
    ("--boosters", "21"),
]


@pytest.mark.parametrize(("flag", "value"), NASTY)
def test_hand_picked_nasties(flag: str, value: str) -> None:
    code, out, err = run("plan", "--indication", "fine-lines", "--on", "2026-12-01", flag, value, "--format", "json")
    assert code == 2 and out == "" and err.startswith("needle: error: ") and err.count("\n") == 1, (flag, err)
