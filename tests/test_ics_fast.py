"""The batch ICS writer writes the reference's bytes: `ics_fast.CalendarRenderer().render(plan, options)`
equals `ics.export(plan, options)` (icalendar's `Calendar.to_ical()`) for random plans made by the real
planning core — zones with odd rules, timed and all-day series, boosters, reschedules and cancelled items,
names and clinic details with `;`, `,`, `\\` and non-ASCII text — with a cold memo, a warm one and a tiny
one that is always forgetting; a warm memo never puts one patient's line in another's file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from needlecli import catalog, planning, plans, revisions
from needlecli.config import Config
from needlecli.errors import NeedleError
from needlecli.model import ExportOptions, Plan
from needlecli.render import ics, ics_fast
from tests.plan_helpers import ALL_NO

ON = dt.date(2026, 12, 1)
CONFIG = Config(path=Path("<test>"), exists=False, uid_key="test-uid-key-0123456789abcdef")
ODD_ZONES = (
    "Europe/London",
    "Europe/Dublin",  # "negative DST": winter is the daylight-saving offset in the zone database
    "America/Havana",  # changes at midnight
    "Asia/Beirut",  # changes at midnight, on the last Sunday
    "Australia/Lord_Howe",  # a 30-minute change
    "Etc/UTC",
    "UTC",
    "Africa/Abidjan",  # GMT all year: written in UTC
    "America/New_York",
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Casablanca",  # DST suspended for Ramadan: no yearly rule
    "Asia/Tehran",
    "America/St_Johns",
    "Antarctica/Troll",  # a two-hour change
    "Asia/Kolkata",
)
ALL_ZONES = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})
#: Text a clinic or a patient's name may hold: TEXT escapes, multi-byte characters, long runs.
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(";,\\:\"'^ -—·"),
        st.sampled_from("aZ09éüßøÆ名前テスト한국어🙂"),
        st.characters(min_codepoint=0x20, max_codepoint=0x2FFF),
    ),
    min_size=1,
    max_size=120,
).filter(str.isprintable)


@st.composite
def plans_and_options(draw: st.DrawFn) -> tuple[Plan, ExportOptions]:
    indication = draw(st.sampled_from(catalog.indications()))
    protocol = catalog.load_treatment(indication)
    zone = draw(st.one_of(st.sampled_from(ODD_ZONES), st.sampled_from(ALL_ZONES)))
    timed = draw(st.booleans())
    flags = planning.PlanFlags(
        patient=draw(st.text(alphabet="PQ0123456789-", min_size=1, max_size=12)),
        start=draw(st.dates(dt.date(2026, 12, 1), dt.date(2031, 12, 31))),
        sessions=draw(st.none() | st.integers(protocol.sessions.min, protocol.sessions.max)),
        time=dt.time(draw(st.integers(0, 23)), draw(st.sampled_from((0, 15, 30, 45, 7)))) if timed else None,
        duration=draw(st.none() | st.sampled_from((15, 45, 60, 90, 240))),
        tz=zone if timed or draw(st.booleans()) else None,
        boosters=draw(st.integers(0, 2)),
        clinic_days=draw(st.none() | st.just(frozenset(range(7)))),
    )
    screening = None
    if draw(st.booleans()):
        answers = {**ALL_NO, "uses_retinoids": draw(st.booleans())}
        screening = planning.screen_answers(catalog.load_screening(), answers, ON)  # type: ignore[arg-type]
    try:
        plan = planning.new_plan(protocol, flags, CONFIG, ON, screening=screening)
        if draw(st.booleans()):
            # Rebuilt over a saved plan: same ids, higher SEQUENCE, and the items now gone CANCELLED.
            saved = plans.read_plan(plans.to_toml_ready(plans.plan_document(plan)), "saved")
            again = dataclasses.replace(
                flags,
                start=flags.start + dt.timedelta(days=draw(st.integers(1, 90))),  # type: ignore[operator]
                sessions=draw(st.integers(protocol.sessions.min, protocol.sessions.max)),
                boosters=draw(st.integers(0, 1)),
            )
            rebuilt = planning.new_plan(protocol, again, CONFIG, ON, screening=screening)
            now = dt.datetime(2026, 12, 2, draw(st.integers(0, 23)), draw(st.integers(0, 59)), tzinfo=dt.UTC)
            plan = revisions.rebuild_over(rebuilt, saved, "saved", now)
    except NeedleError:
        assume(False)
    options = ExportOptions(
        document=draw(st.sampled_from(("plan", "aftercare"))),
        name=draw(st.none() | TEXT),  # --include-name
        clinic_name=draw(st.none() | TEXT),
        clinic_phone=draw(st.none() | st.sampled_from(("+44 20 7946 0000", "020; 7946, 0000"))),
        clinic_address=draw(st.none() | TEXT),
    )
    return plan, options


WARM = ics_fast.CalendarRenderer()
#: Forgets half of what it knows every few lines: every line is made, kept, dropped and made again.
FORGETFUL = ics_fast.CalendarRenderer(memo_lines=16, memo_blocks=2)
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@PROPERTY
@given(plans_and_options())
def test_the_fast_renderer_writes_the_reference_bytes(case: tuple[Plan, ExportOptions]) -> None:
    plan, options = case
    want = ics.export(plan, options)
    assert ics_fast.CalendarRenderer().render(plan, options) == want  # cold
    assert WARM.render(plan, options) == want  # warm: every example so far in its memo
    assert FORGETFUL.render(plan, options) == want
    assert ics.calendar_component(ics.spec_of(plan, options)).to_ical() == want


def varied_cases(n: int) -> list[tuple[Plan, ExportOptions]]:
    """n different patients: zones, times, names and clinics in turn (deterministic)."""
    out = []
    names = (None, "Zoë; O'Brien, Jr", "a\\b,c", "名前 テスト", None, "Émile Zola")
    for i in range(n):
        protocol = catalog.load_treatment(catalog.indications()[i % 4])
        flags = planning.PlanFlags(
            patient=f"P{i:04d}",
            start=dt.date(2027, 1 + i % 12, 1 + (i * 7) % 28),
            sessions=protocol.sessions.min + i % (protocol.sessions.max - protocol.sessions.min + 1),
            time=dt.time(8 + i % 10, 30) if i % 3 else None,
            tz=ODD_ZONES[i % len(ODD_ZONES)],
            boosters=i % 2,
        )
        plan = planning.new_plan(protocol, flags, CONFIG, ON)
        options = ExportOptions(
            name=names[i % len(names)],
            clinic_name="Harbour Skin" if i % 2 else None,
            clinic_address=f"{i} Quay St, Bristol" if i % 4 == 1 else None,
        )
        out.append((plan, options))
    return out


@pytest.fixture(scope="module")
def cases() -> list[tuple[Plan, ExportOptions]]:
    return varied_cases(48)


@pytest.mark.parametrize("memo", [ics_fast.MEMO_LINES, 40])
def test_a_warm_memo_never_mixes_patients(memo: int, cases: list[tuple[Plan, ExportOptions]]) -> None:
    """Many different plans through one renderer, forwards, backwards and forwards again: each file is
    exactly its own reference, and no patient's name or calendar id stays in the memo."""
    renderer = ics_fast.CalendarRenderer(memo_lines=memo)
    want = [ics.export(plan, options) for plan, options in cases]
    for order in (range(len(cases)), reversed(range(len(cases))), range(len(cases))):
        for i in order:
            assert renderer.render(*cases[i]) == want[i], i
    kept = b"".join([*renderer._lines.values(), *renderer._uids.values()])
    keys = "\n".join(str(part) for key in [*renderer._lines, *renderer._uids] for part in key)
    for plan, options in cases:
        assert plan.plan_id.encode() not in kept and plan.plan_id not in keys
        if options.name:
            assert options.name not in keys
    assert len(renderer._lines) <= memo
    if memo == ics_fast.MEMO_LINES:  # room for every line: each was made once, then only read
        assert renderer.misses == len(renderer._lines)


def test_the_same_plan_for_another_patient_differs_only_in_its_ids() -> None:
    """Two patients with the same series: the renderer's files differ exactly where the reference's do."""
    renderer = ics_fast.CalendarRenderer()
    protocol = catalog.load_treatment("fine-lines")
    a, b = (
        planning.new_plan(
            protocol,
            planning.PlanFlags(patient=p, start=dt.date(2027, 1, 4), time=dt.time(10, 30), tz="Europe/London"),
            CONFIG,
            ON,
        )
        for p in ("P1", "P2")
    )
    options = ExportOptions(name=None)
    first, second = renderer.render(a, options), renderer.render(b, options)
    assert first == ics.export(a, options) and second == ics.export(b, options)
    assert first.replace(a.plan_id.encode(), b.plan_id.encode()) == second


def test_the_same_wall_time_in_zones_with_the_same_offsets_is_two_different_lines() -> None:
    """London and Dublin (and London and UTC in winter) share every instant: the memo must still
    tell `DTSTART;TZID=Europe/London` from `DTSTART;TZID=Europe/Dublin` and from `...Z`."""
    renderer = ics_fast.CalendarRenderer()
    protocol = catalog.load_treatment("fine-lines")
    options = ExportOptions()
    for zone in ("Europe/London", "Europe/Dublin", "Etc/UTC", "Europe/London", "Africa/Abidjan", "Europe/Dublin"):
        flags = planning.PlanFlags(patient="P1", start=dt.date(2027, 1, 4), time=dt.time(10, 30), tz=zone)
        plan = planning.new_plan(protocol, flags, CONFIG, ON)
        assert renderer.render(plan, options) == ics.export(plan, options), zone


#: Lines of 74, 75 and 76 octets and escapes at the fold: the edges of the short-line shortcut.
EDGES = [
    "x" * 70,
    "x" * 71,
    "x" * 72,
    "x" * 66 + ";",
    "x" * 70 + ",",
    "x" * 69 + "\\",
    "é" * 35,
    "é" * 36,
    "a" * 69 + "é",
]


@settings(deadline=None, max_examples=300)
@given(
    st.sampled_from(EDGES)
    | st.text(alphabet=st.sampled_from('ab;,\\^"é名🙂 :'), max_size=200)
    | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=60, max_size=90)
    | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=160)
)
def test_a_private_line_is_the_line_icalendar_writes(text: str) -> None:
    """UIDs and names skip only what icalendar's `_foldline` provably leaves as it is (a line of at most
    74 ASCII characters); any other line is folded by icalendar."""
    import icalendar
    from icalendar.parser.string import _foldline

    renderer = ics_fast.CalendarRenderer()
    for cls in (icalendar.Event, icalendar.Calendar):
        for name in ("UID", "SUMMARY", "DESCRIPTION", "LOCATION"):
            probe = cls()
            probe.add(name, text)
            want = b"".join(probe.content_line(n, v).to_ical() + b"\r\n" for n, v in probe.property_items()[1:-1])
            assert renderer._private_line(cls, name, text) == want
    line = f"UID:{text}"
    if len(line) <= 74 and line.isascii():
        assert _foldline(line) == line


#: Text whose folds fall on escapes: runs of backslashes and carets around every fold position.
ESCAPY = st.text(alphabet=st.sampled_from("a\\^,;n"), min_size=60, max_size=400)


@settings(deadline=None, max_examples=1000)
@given(
    ESCAPY
    | st.text(alphabet=st.sampled_from('ab;,\\^"é名🙂 :'), max_size=400)
    | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=400)
    | st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x10FFFF, exclude_categories=("Cs",)), max_size=300
    )
    | st.builds(lambda a, b: a + "\\" + b, st.text(alphabet="x", min_size=70, max_size=80), ESCAPY)
)
def test_fold_is_icalendars_foldline(text: str) -> None:
    """The ASCII fast path folds exactly where icalendar 7.3's `_foldline` does: 74 octets a line, never
    right after a backslash or caret; escapes, multi-byte characters and lines of every length."""
    from icalendar.parser.string import _foldline

    line = text.replace("\n", " ")
    assert ics_fast.fold(line) == _foldline(line).encode("utf-8")


def test_fold_keeps_an_escape_on_one_line() -> None:
    r"""A `\,` whose backslash is the 74th character moves whole to the next line (icalendar issue #1501)."""
    line = "DESCRIPTION:" + "x" * 61 + "\\, and more text after the escape"
    assert len(line.split("\\")[0]) == 73
    folded = ics_fast.fold(line).split(b"\r\n ")
    assert folded[0] == line[:73].encode() and folded[1].startswith(b"\\,")
    assert [len(part) for part in folded] == [73, len(line) - 73]


@settings(deadline=None, max_examples=300)
@given(
    st.text(alphabet=st.sampled_from("0123456789abcdef"), min_size=16, max_size=16)
    | st.text(alphabet=st.sampled_from("0123456789abcdefABCDEFg-"), min_size=14, max_size=18),
    st.sampled_from(["-s1@needle.invalid", "-s2-pause-retinoids@needle.invalid", "-"])
    | st.text(alphabet=st.sampled_from("ab-,;\\é@."), max_size=80).map(lambda t: "-" + t),
)
def test_a_uid_from_the_memo_is_the_line_icalendar_writes(plan_id: str, rest: str) -> None:
    """UIDs come from a memo of icalendar's line with the plan id as zeros, the real plan id put back:
    the same bytes as icalendar's own line for any UID — a long one that folds, escapes, non-ASCII, an id
    that is not 16 lowercase hex digits — made cold and warm; the memo keeps no plan id."""
    import icalendar

    renderer = ics_fast.CalendarRenderer()
    value = plan_id + rest
    for cls in (icalendar.Event, icalendar.Calendar):
        probe = cls()
        probe.add("UID", value)
        want = b"".join(probe.content_line(n, v).to_ical() + b"\r\n" for n, v in probe.property_items()[1:-1])
        assert renderer._private_line(cls, "UID", value) == want  # cold
        assert renderer._private_line(cls, "UID", value) == want  # from the memo
    kept = b"".join(renderer._uids.values()) + "".join(str(k) for k in renderer._uids).encode()
    if plan_id not in ics_fast.PLACEHOLDER_ID + rest:  # (else the id is also part of the rest)
        assert plan_id.encode() not in kept


def test_uids_are_made_once_per_item_not_once_per_patient() -> None:
    """A batch's UIDs differ only in the plan id: icalendar makes each item's line once."""
    renderer = ics_fast.CalendarRenderer()
    made = []
    real = renderer._private_text
    renderer._private_text = lambda cls, name, value: made.append(value) or real(cls, name, value)  # type: ignore[method-assign]
    protocol = catalog.load_treatment("fine-lines")
    for patient in ("P1", "P2", "P3"):
        flags = planning.PlanFlags(patient=patient, start=dt.date(2027, 1, 4), time=dt.time(10, 30), tz="Europe/London")
        plan = planning.new_plan(protocol, flags, CONFIG, ON)
        assert renderer.render(plan, ExportOptions()) == ics.export(plan, ExportOptions())
    assert made and all(v.startswith(ics_fast.PLACEHOLDER_ID) for v in made)
    assert len(made) == len(set(made)) == len(plan.appointments) + len(plan.windows)


def test_the_shortcut_serves_only_icalendar_versions_it_was_proven_under(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under any other icalendar, batch writes through `ics.export`: the library writes."""
    from needlecli import export
    from needlecli.render import ics, ics_fast

    assert ics_fast.proven()  # the suite runs on a proven version (else the equality tests say why)
    assert ics_fast.proven("7.3.2") and not ics_fast.proven("7.4.0") and not ics_fast.proven("8.0")
    assert not ics_fast.proven("7") and not ics_fast.proven("seven.three")
    exporter = export.EXPORTERS["ics"]
    assert exporter.renderer(many=False) is ics.export  # single plans: always icalendar's serialiser
    assert type(exporter.renderer(many=True).__self__) is ics_fast.CalendarRenderer  # type: ignore[attr-defined]
    monkeypatch.setattr(ics_fast, "PROVEN", ((7, 2),))
    assert exporter.renderer(many=True) is ics.export


def test_a_calendar_is_cut_only_at_the_start_of_its_uids() -> None:
    from needlecli.render.ics_fast import template

    cal = b"BEGIN:VEVENT\r\nUID:0123456789abcdef-session-1@needle.invalid\r\nEND:VEVENT\r\n"
    cut = template(cal, "0123456789abcdef")
    assert cut is not None and cut.with_plan_id("fedcba9876543210") == cal.replace(b"0123", b"fedc").replace(
        b"456789abcdef", b"ba9876543210")  # fmt: skip
    assert template(cal + b"DESCRIPTION:0123456789abcdef\r\n", "0123456789abcdef") is None
