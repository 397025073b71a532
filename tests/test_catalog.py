"""Protocol loading and validation: bundled files validate; broken files name key paths."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from needlecli import catalog
from needlecli.errors import ProtocolError
from needlecli.model import REQUIRED_QUESTIONS, ScreeningProtocol, TreatmentProtocol


def bundled_text(name: str) -> str:
    return resources.files("needlecli.protocols").joinpath(f"{name}.toml").read_text("utf-8")


def problems(text: str) -> list[str]:
    found, proto = catalog.check(text.encode(), "test.toml")
    assert (proto is None) == bool(found)
    return found


def test_bundled_names() -> None:
    assert catalog.bundled_names() == ["acne-scars", "deep-scars", "fine-lines", "screening", "texture"]


@pytest.mark.parametrize("name", catalog.bundled_names())
def test_every_bundled_protocol_validates(name: str) -> None:
    assert problems(bundled_text(name)) == []
    proto = catalog.load(name)
    assert proto.info.name == name
    assert proto.info.version and proto.info.sources and proto.info.title
    assert len(proto.info.sha256) == 64


def test_screening_defines_every_spec_question() -> None:
    from tests.plan_helpers import SPEC_QUESTION_IDS

    assert REQUIRED_QUESTIONS == SPEC_QUESTION_IDS
    proto = catalog.load_screening()
    assert set(REQUIRED_QUESTIONS) <= set(proto.ids)
    for q in proto.questions:
        for rule in q.rules:
            assert rule.message and rule.patient_message and rule.source


@pytest.mark.parametrize(
    ("name", "interval", "sessions"),
    [
        ("fine-lines", (4, 6, 4), (3, 6, 3)),
        ("acne-scars", (4, 6, 4), (3, 6, 3)),
        ("texture", (4, 6, 4), (3, 6, 3)),
        ("deep-scars", (6, 8, 6), (3, 6, 3)),
    ],
)
def test_seed_defaults(name: str, interval: tuple[int, int, int], sessions: tuple[int, int, int]) -> None:
    """SPEC.md: the seed's numbers at their conservative end."""
    p = catalog.load_treatment(name)
    assert isinstance(p, TreatmentProtocol)
    assert (p.interval_weeks.min, p.interval_weeks.max, p.interval_weeks.default) == interval
    assert (p.sessions.min, p.sessions.max, p.sessions.default) == sessions
    assert (p.booster_months.min, p.booster_months.max, p.booster_months.default) == (3, 6, 6)
    assert {x.id: x.days_before for x in p.pauses} == {"sun": 14, "skincare": 5}
    windows = {w.id: (w.first_day, w.last_day) for w in p.aftercare}
    if name == "deep-scars":  # deeper passes: 5-7 days of recovery; actives longer
        assert windows == {"no-makeup": (0, 6), "no-heat": (0, 6), "no-actives": (0, 9)}
    else:  # makeup 72 h (through day 3), heat 3-5 days (through day 4), actives 7 days (through day 6)
        assert windows == {"no-makeup": (0, 3), "no-heat": (0, 4), "no-actives": (0, 6)}
    antiviral = next(c.window for c in p.cautions if c.finding == "herpes_history")
    assert antiviral is not None and (antiviral.first_day, antiviral.last_day) == (-1, 7)
    shallower = {c.finding for c in p.cautions if c.shallower}
    assert {"isotretinoin_last_dose", "hyperpigmentation_tendency", "fitzpatrick"} <= shallower
    assert (p.depth_step_mm, p.depth_floor_mm, p.after_sun_trip_days) == (0.25, 0.25, 14)
    zones = [z for z, _, _ in p.depth_mm]
    assert zones == ["forehead", "periorbital", "nose", "cheeks", "perioral", "jaw", "neck", "scars"]
    assert all(0.25 <= lo <= hi <= 2.5 for _, lo, hi in p.depth_mm)


def test_empty_file_is_invalid() -> None:
    assert problems("") == ["protocol: missing table (a protocol file must name itself: [protocol] name = ...)"]


def test_not_toml() -> None:
    (only,) = problems("[protocol\nname=")
    assert only.startswith("not valid TOML:")


def test_not_utf8() -> None:
    found, _ = catalog.check(b"\xff\xfe[protocol]", "x.toml")
    assert found == ["not UTF-8 text (byte 0)"]


def test_sessions_max_below_min_names_the_key_path() -> None:
    text = bundled_text("fine-lines").replace("[sessions]\nmin = 3\nmax = 6", "[sessions]\nmin = 3\nmax = 2")
    assert problems(text) == ["sessions.max: must be >= sessions.min (3), got 2"]


def test_every_problem_is_collected() -> None:
    text = (
        bundled_text("deep-scars")
        .replace("default = 6\n\n[boosters]", "default = 9\n\n[boosters]")
        .replace("cheeks = [1.5, 2.5]", "cheeks = [2.5, 1.5]")
        .replace("days_before = 5", "days_before = 'five'")
        .replace('id = "no-actives"', 'id = "no-heat"')
        .replace('items = ["makeup"]', "items = ['makeup']\ncolour = 'red'", 1)
        .replace('version = "3.2.0"', 'version = ""')
    )
    assert problems(text) == [
        "protocol.version: must not be empty",
        "interval_weeks.default: must lie in interval_weeks.min..interval_weeks.max (6..8), got 9",
        "depth_mm.cheeks: must satisfy 0 < shallowest <= deepest <= 3.0 mm, got [2.5, 1.5]",
        "pause[1].days_before: must be a whole number, not a string",
        "aftercare[0].colour: unknown key",
        "aftercare[2].id: duplicate window id 'no-heat' (first at aftercare[1])",
    ]


def test_unknown_key_suggests_the_right_one() -> None:
    text = bundled_text("texture").replace("[interval_weeks]", "[intervals_weeks]")
    found = problems(text)
    assert "intervals_weeks: unknown key (did you mean 'interval_weeks'?)" in found
    assert "interval_weeks: missing table" in found


def test_screening_problems_name_question_and_rule() -> None:
    text = bundled_text("screening")
    text = text.replace(
        'category = "contraindicated"\nmessage = "Keloid', 'category = "forbidden"\nmessage = "Keloid', 1
    )
    text = text.replace("months = 6\n", "months = 0\n", 1)
    text = text.replace('id = "open_wounds"', 'id = "active_acne"')
    found = problems(text)
    assert "questions[10].rules[0].months: must be between 1 and 1200, got 0" in found
    assert "questions[5].id: duplicate question id 'active_acne' (first at questions[3])" in found
    assert "questions: missing required question 'open_wounds'" in found
    keloid = [p for p in found if "category" in p]
    assert keloid == [
        "questions[24].rules[0].category: must be one of contraindicated, defer, caution, got 'forbidden'"
    ]


def test_rule_trigger_must_fit_the_question_type() -> None:
    text = bundled_text("screening").replace(
        'when = true\ncategory = "defer"\nmessage = "Pregnancy', 'months = 3\ncategory = "defer"\nmessage = "Pregnancy'
    )
    found = problems(text)
    assert found == [
        "questions[1].rules[0].months: does not apply to a bool question",
        "questions[1].rules[0].when: missing (true or false)",
    ]


def test_kind_mismatch_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="treatment protocol, not a screening protocol"):
        catalog.load_screening("fine-lines")
    with pytest.raises(ProtocolError, match="screening protocol, not a treatment protocol"):
        catalog.load_treatment("screening")


def test_unknown_bundled_name_suggests() -> None:
    with pytest.raises(ProtocolError) as info:
        catalog.load("fine-line")
    assert "did you mean 'fine-lines'?" in str(info.value)


def test_clinic_protocol_from_a_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = (
        bundled_text("fine-lines")
        .replace('name = "fine-lines"', 'name = "clinic-lines"')
        .replace("default = 3", "default = 4")
    )
    path = tmp_path / "clinic.toml"
    path.write_text(text)
    p = catalog.load_treatment(str(path))
    assert (p.info.name, p.sessions.default, p.info.origin) == ("clinic-lines", 4, str(path))
    assert tomllib.loads(text)["protocol"]["name"] == "clinic-lines"


def test_screening_protocol_is_a_screening_protocol() -> None:
    assert isinstance(catalog.load("screening"), ScreeningProtocol)


def test_aftercare_windows_must_line_up_with_the_checklist() -> None:
    text = bundled_text("fine-lines").replace("hours = 72", "hours = 48", 1)
    assert problems(text) == [
        "aftercare[0].last_day: 2 does not end a checklist group (groups end on days 0, 3, 4, 6); "
        "the checklist would miss days of it"
    ]
