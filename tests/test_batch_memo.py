"""A batch plans and renders a series once for every patient who gets the same one: the second patient's
plan is the first's with its own patient and plan id (`planning.for_patient`), and its file the first's
with its plan id put in. Both must be exactly what planning and rendering afresh give."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from needlecli import catalog, export, planning
from needlecli.batch import context, reconcile
from needlecli.batch.context import Context
from needlecli.config import Config
from needlecli.errors import NeedleError
from needlecli.model import ExportOptions
from tests.harness import run
from tests.plan_helpers import ALL_NO

ON = dt.date(2026, 12, 1)
CONFIG = Config(path=Path("<test>"), exists=False, uid_key="test-uid-key-0123456789abcdef")
ZONES = ("Europe/London", "Europe/Dublin", "America/Havana", "Australia/Lord_Howe", "UTC", "Asia/Kolkata")


@st.composite
def series(draw: st.DrawFn) -> tuple[str, planning.PlanFlags, planning.ScreeningTerms | None]:
    indication = draw(st.sampled_from(catalog.indications()))
    protocol = catalog.load_treatment(indication)
    timed = draw(st.booleans())
    flags = planning.PlanFlags(
        start=draw(st.dates(dt.date(2026, 11, 1), dt.date(2029, 12, 31))),
        sessions=draw(st.none() | st.integers(protocol.sessions.min, protocol.sessions.max)),
        interval_weeks=draw(st.none() | st.integers(protocol.interval_weeks.min, protocol.interval_weeks.max)),
        time=dt.time(draw(st.integers(0, 23)), draw(st.sampled_from((0, 30, 45)))) if timed else None,
        tz=draw(st.sampled_from(ZONES)) if timed else None,
    )
    terms = None
    if draw(st.booleans()):
        answers = {
            **ALL_NO,
            "uses_retinoids": draw(st.booleans()),
            "herpes_history": draw(st.booleans()),  # a caution: antiviral windows around every session
            "fitzpatrick": draw(st.integers(1, 6)),
        }
        terms = planning.screen_answers(catalog.load_screening(), answers, ON)  # type: ignore[arg-type]
    return indication, flags, terms


PATIENTS = st.text(alphabet="PQRabc0123456789-_ ", min_size=1, max_size=16).filter(lambda p: p.strip() == p)


@settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(series(), PATIENTS, PATIENTS, st.sampled_from(["", "another-clinic-key"]))
def test_another_patients_series_is_what_planning_afresh_gives(
    case: tuple[str, planning.PlanFlags, planning.ScreeningTerms | None], first: str, second: str, key: str
) -> None:
    indication, flags, terms = case
    protocol = catalog.load_treatment(indication)
    config = Config(path=Path("<test>"), exists=False, uid_key=key or None)
    try:
        made = planning.new_plan(protocol, _for(flags, first), config, ON, screening=terms)
    except NeedleError:
        assume(False)
    fresh = planning.new_plan(protocol, _for(flags, second), config, ON, screening=terms)
    assert planning.for_patient(made, second, key) == fresh


def _for(flags: planning.PlanFlags, patient: str) -> planning.PlanFlags:
    import dataclasses

    return dataclasses.replace(flags, patient=patient)


@pytest.mark.parametrize("fmt", ["ics", "md", "html"])
def test_a_remembered_file_is_the_file_rendered_afresh(fmt: str) -> None:
    """The file kept for a series, with another patient's plan id put in, is byte for byte what the
    format's renderer writes for that patient's own plan."""
    exporter = export.EXPORTERS[fmt]
    render = exporter.renderer(many=False)
    rng = random.Random(7)
    for indication in catalog.indications():
        protocol = catalog.load_treatment(indication)
        flags = planning.PlanFlags(start=dt.date(2027, 3, rng.randint(1, 28)), time=dt.time(10, 30), tz="Europe/London")
        options = ExportOptions(document="aftercare" if fmt == "md" else "plan", protocol=protocol,
                                clinic_name="Clinic; Ltd, Leeds", clinic_phone="0113 496 0000")  # fmt: skip
        ctx = Context(on=ON, fmt=fmt, out_dir=Path("."), header=[], screening=None, config=CONFIG)
        first = planning.new_plan(protocol, _for(flags, "P1"), CONFIG, ON)
        key = ctx.series_key(protocol, flags, None)
        assert key is not None
        ctx.remember_series(key, first, render(first, options))
        kept_plan, template, _ = ctx.series[key]
        assert first.plan_id.encode() not in b"".join(template.parts)
        for patient in ("P2", "Q-77", "a b"):
            plan = planning.for_patient(kept_plan, patient, CONFIG.uid_key or "")
            assert template.with_plan_id(plan.plan_id) == render(plan, options), (fmt, indication, patient)


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_a_file_that_names_its_patient_is_never_remembered(fmt: str) -> None:
    """Should a patient's handout or checklist ever hold the patient's id, it is not kept for the next
    patient."""
    protocol = catalog.load_treatment("fine-lines")
    flags = planning.PlanFlags(start=dt.date(2027, 3, 1))
    ctx = Context(on=ON, fmt=fmt, out_dir=Path("."), header=[], screening=None, config=CONFIG)
    plan = planning.new_plan(protocol, _for(flags, "PT-4711"), CONFIG, ON)
    key = ctx.series_key(protocol, flags, None)
    assert key is not None
    ctx.remember_series(key, plan, b"Aftercare for PT-4711\n")
    assert key not in ctx.series
    ctx.remember_series(key, plan, b"Aftercare\n")
    assert key in ctx.series


def test_clinician_formats_are_never_remembered() -> None:
    """JSON and TOML name the patient: each row is planned and written afresh."""
    for fmt in ("json", "toml"):
        ctx = Context(on=ON, fmt=fmt, out_dir=Path("."), header=[], screening=None, config=CONFIG)
        protocol = catalog.load_treatment("fine-lines")
        assert ctx.series_key(protocol, planning.PlanFlags(start=dt.date(2027, 1, 4)), None) is None


def test_a_batch_of_shared_series_writes_what_one_plan_at_a_time_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list where many patients share a series, some screened with a caution, some named: every file
    is the file of a run that plans each row afresh (the series memo switched off)."""
    header = "patient_id,name,indication,start,sessions,time,tz"
    rows = []
    for i in range(24):
        indication = catalog.indications()[i % 2]
        start = "2027-01-04" if i % 3 else "2027-01-11"
        name = "Ann O'Neil" if i % 5 == 0 else ""
        rows.append(f"P{i:03d},{name},{indication},{start},3,10:30,Europe/London")
    src = tmp_path / "list.csv"
    src.write_text("\n".join([header, *rows]) + "\n")
    for fmt in ("ics", "md", "html", "json"):
        remembered, afresh = tmp_path / f"memo-{fmt}", tmp_path / f"fresh-{fmt}"
        planned: list[bool] = []
        for out, memo in ((remembered, True), (afresh, False)):
            with monkeypatch.context() as m:
                if not memo:
                    m.setattr(Context, "series_key", lambda *_: None)
                real = planning.new_plan

                def counted(
                    *a: Any, real: Any = real, memo: bool = memo, planned: list[bool] = planned, **k: Any
                ) -> Any:
                    planned.append(memo)
                    return real(*a, **k)

                m.setattr(planning, "new_plan", counted)
                code, _, err = run("batch", str(src), "--out-dir", str(out), "--on", "2026-12-01", "--format", fmt,
                                   "--include-name", "--jobs", "1", "--quiet")  # fmt: skip
            assert code == 0, err
        # 2 indications x 2 starts, and the 5 named rows (a name is in the file): planned once each.
        assert planned.count(True) == (24 if fmt == "json" else 4 + 5) and planned.count(False) == 24
        names = sorted(p.name for p in afresh.glob(f"*.{fmt}"))
        assert len(names) == 24
        for name in names:
            assert (remembered / name).read_bytes() == (afresh / name).read_bytes(), (fmt, name)


def test_a_folder_with_no_file_of_the_format_is_told_apart(tmp_path: Path) -> None:
    assert reconcile.holds_no_files(tmp_path, "ics")
    (tmp_path / "summary.csv").write_text("")
    (tmp_path / "P1.md").write_text("")
    assert reconcile.holds_no_files(tmp_path, "ics") and not reconcile.holds_no_files(tmp_path, "md")
    (tmp_path / "P2.ICS").write_text("")  # the same name as P2.ics where case does not count
    assert not reconcile.holds_no_files(tmp_path, "ics")


def test_rows_look_for_an_earlier_calendar_only_where_one_can_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into a folder with no calendar in it, no row looks for one under its name; into a folder that
    has one (a moved folder, a lost record), every row does, and the found calendar's SEQUENCE counts."""
    looked: list[str] = []
    real = reconcile._digest_of
    monkeypatch.setattr(reconcile, "_digest_of", lambda path: looked.append(path.name) or real(path))
    src, out = tmp_path / "list.csv", tmp_path / "plans"
    src.write_text("patient_id,indication,start\nP1,fine-lines,2027-01-04\nP2,texture,2027-01-05\n")

    def batch_into(folder: Path, on: str) -> None:
        code, _, err = run("batch", str(src), "--out-dir", str(folder), "--on", on, "--format", "ics", "--jobs", "1")
        assert code == 0, err

    batch_into(out, "2026-12-01")
    assert looked == []
    moved = tmp_path / "moved"
    out.rename(moved)  # the record is kept by folder: this one has none, but it has the calendars
    batch_into(moved, "2026-12-02")
    assert sorted(set(looked)) == ["P1.ics", "P2.ics"]


def test_the_series_kept_stay_within_their_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "SERIES_BYTES", 40_000)  # about two calendars
    ctx = Context(on=ON, fmt="ics", out_dir=Path("."), header=[], screening=None, config=CONFIG)
    render = export.EXPORTERS["ics"].renderer(many=False)
    protocol = catalog.load_treatment("fine-lines")
    for day in range(4, 14):
        flags = planning.PlanFlags(start=dt.date(2027, 1, day), time=dt.time(10, 30), tz="Europe/London")
        plan = planning.new_plan(protocol, _for(flags, "P1"), CONFIG, ON)
        key = ctx.series_key(protocol, flags, None)
        assert key is not None
        ctx.remember_series(key, plan, render(plan, ExportOptions()))
        kept = sum(template.size for _, template, _ in ctx.series.values())
        assert kept == ctx._series_bytes <= 40_000 and key in ctx.series
