"""Markdown and ICS exports: golden files, parsers, a real calendar client, privacy.

Regenerate the golden files (these and test_aftercare.py's) after an intended change with:

    NEEDLE_REGEN_GOLDEN=1 .venv/bin/pytest tests -k golden
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream

from needlecli import zones
from tests.harness import check_golden, output, run
from tests.plan_helpers import plan_args, saved_plan

pytestmark = pytest.mark.usefixtures("clinic_config")

ON = "2026-12-01"
PRIVATE = re.compile(r"acne|scar|fine.lines|texture|keloid|isotretinoin|herpes|fitzpatrick|pregnan|Jane|Doe", re.I)


def events(data: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(data).walk("VEVENT"))


# ----------------------------------------------------------------- golden files


def test_golden_plan_ics(tmp_path: Path) -> None:
    check_golden("plan.ics", output(*plan_args(), "--format", "ics"))


def test_golden_plan_md() -> None:
    check_golden("plan.md", output(*plan_args(), "--format", "md"))


# ----------------------------------------------------------------- ICS properties


def test_ics_is_strict_rfc5545(tmp_path: Path) -> None:
    data = output(*plan_args(), "--format", "ics")
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))  # folded
    cal = icalendar.Calendar.from_ical(data)
    assert cal["METHOD"] == "PUBLISH" and cal["X-WR-CALNAME"] == "Microneedling plan"
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]
    strict = IcsCalendarStream.calendar_from_ics(data.decode())
    # 3 sessions + 5 windows each (2 pauses, 3 aftercare), 1 booster + 5 windows.
    assert len(strict.events) == len(events(data)) == 40
    for ev in events(data):
        if isinstance(ev.decoded("DTSTART"), dt.datetime):
            continue
        assert ev.decoded("DTEND") > ev.decoded("DTSTART")  # all-day: exclusive end
    alarms = [a for ev in events(data) for a in ev.walk("VALARM")]
    assert alarms and all(a.get("ACTION") and a.get("TRIGGER") and a.get("DESCRIPTION") for a in alarms)
    assert all(len(ev.walk("VALARM")) <= 1 for ev in events(data))


def test_dst_correct_local_times() -> None:
    data = output(*plan_args(), "--format", "json")
    import json

    doc = json.loads(data)
    starts = [s["start"] for s in doc["sessions"]]
    assert starts == ["2027-03-01T10:30:00+00:00", "2027-03-29T10:30:00+01:00", "2027-04-26T10:30:00+01:00"]
    ics = events(output(*plan_args(), "--format", "ics"))
    sessions = [e for e in ics if str(e["SUMMARY"]).startswith("Microneedling session")]
    local = [e.decoded("DTSTART") for e in sessions]
    assert [d.strftime("%H:%M %Z") for d in local] == ["10:30 GMT", "10:30 BST", "10:30 BST"]
    assert [d.astimezone(dt.UTC).strftime("%H:%M") for d in local] == ["10:30", "09:30", "09:30"]
    assert all(e["DTSTART"].params["TZID"] == "Europe/London" for e in sessions)


def test_reexport_is_byte_identical_and_uids_stable(tmp_path: Path) -> None:
    path = saved_plan(tmp_path)
    a = output("plan", "--from", str(path), "--format", "ics", "--on", ON)
    b = output("plan", "--from", str(path), "--format", "ics", "--on", "2027-01-15")
    c = output(*plan_args(), "--format", "ics")
    assert a == b == c


def test_uids_unique_within_a_file_and_across_patients(tmp_path: Path) -> None:
    one = [str(e["UID"]) for e in events(output(*plan_args("P-1"), "--format", "ics"))]
    two = [str(e["UID"]) for e in events(output(*plan_args("P-2"), "--format", "ics"))]
    assert len(set(one)) == len(one) == 40
    assert not set(one) & set(two)
    assert all(uid.endswith("@needle.invalid") for uid in one)


def test_move_keeps_uids_and_raises_sequence(tmp_path: Path) -> None:
    path = saved_plan(tmp_path)
    before = {str(e["UID"]): e for e in events(output("plan", "--from", str(path), "--format", "ics"))}
    output("plan", "--from", str(path), "--move", "2=2027-04-06", "--on", ON, "--format", "toml", "--out", str(path))
    after = {str(e["UID"]): e for e in events(output("plan", "--from", str(path), "--format", "ics"))}
    assert set(after) == set(before)  # same items, updated in place
    changed = {uid for uid in after if after[uid].decoded("DTSTART") != before[uid].decoded("DTSTART")}
    assert changed and all(int(after[u]["SEQUENCE"]) == int(before[u]["SEQUENCE"]) + 1 for u in changed)
    same = set(after) - changed
    assert same and all(int(after[u]["SEQUENCE"]) == int(before[u]["SEQUENCE"]) for u in same)
    s2 = next(e for e in after.values() if str(e["SUMMARY"]) == "Microneedling session 2")
    assert s2.decoded("DTSTART").date() == dt.date(2027, 4, 6)


def test_no_private_words_by_default(tmp_path: Path) -> None:
    for data in (
        output(*plan_args(), "--format", "ics"),
        output("aftercare", "--plan", str(saved_plan(tmp_path)), "--format", "ics"),
        output("aftercare", "--plan", str(saved_plan(tmp_path)), "--format", "md"),
        output("aftercare", "--session-date", "2026-12-01", "--indication", "acne-scars"),
    ):
        text = data.decode()
        assert not PRIVATE.search(text), PRIVATE.search(text)
        assert "P-0042" not in text  # the patient id is hashed into UIDs, never shown


def test_include_name_adds_the_name() -> None:
    data = output(*plan_args(), "--format", "ics", "--include-name", "--name", "Jane Doe")
    summaries = [str(e["SUMMARY"]) for e in events(data)]
    assert "Microneedling session 1 — Jane Doe" in summaries
    assert icalendar.Calendar.from_ical(data)["X-WR-CALNAME"] == "Microneedling plan — Jane Doe"
    md = output(
        "aftercare",
        "--session-date",
        "2026-12-01",
        "--indication",
        "fine-lines",
        "--include-name",
        "--name",
        "Jane Doe",
    ).decode()
    assert "For: Jane Doe" in md
    # --name implies --include-name
    r = run("aftercare", "--session-date", "2026-12-01", "--indication", "fine-lines", "--name", "Jane Doe")
    assert r.exit_code == 0 and "For: Jane Doe" in r.stdout


def test_ics_without_a_patient_gets_a_random_plan_id_kept_in_the_saved_plan(tmp_path: Path) -> None:
    args = ("plan", "--indication", "fine-lines", "--on", ON, "--start", "2026-12-01")
    one = [str(e["UID"]) for e in events(output(*args, "--format", "ics"))]
    two = [str(e["UID"]) for e in events(output(*args, "--format", "ics"))]
    assert len(set(one)) == len(one) and not set(one) & set(two)  # unique, and never shared by two plans
    saved = tmp_path / "plan.toml"
    output(*args, "--format", "toml", "--out", str(saved))
    again = [str(e["UID"]) for e in events(output("plan", "--from", str(saved), "--format", "ics", "--on", ON))]
    assert again == [str(e["UID"]) for e in events(output("plan", "--from", str(saved), "--format", "ics", "--on", ON))]


def test_all_day_sessions_without_a_time() -> None:
    data = output("plan", "--on", ON, "--patient", "P1", "--indication", "fine-lines", "--format", "ics")
    cal = icalendar.Calendar.from_ical(data)
    assert not cal.walk("VTIMEZONE")
    s1 = next(e for e in events(data) if str(e["SUMMARY"]) == "Microneedling session 1")
    assert s1.decoded("DTSTART") == dt.date(2026, 12, 1) and s1.decoded("DTEND") == dt.date(2026, 12, 2)
    assert s1.walk("VALARM")[0].decoded("TRIGGER") == dt.timedelta(hours=-6)


def test_files_are_written_0600(tmp_path: Path) -> None:
    out = tmp_path / "a.ics"
    output(*plan_args(), "--format", "ics", "--out", str(out))
    assert out.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ics", "config.toml"]


# ----------------------------------------------------------------- a real calendar client


def test_calcurse_imports_every_event(tmp_path: Path) -> None:
    calcurse = shutil.which("calcurse")
    if calcurse is None:
        if os.environ.get("CI"):
            pytest.fail("calcurse is not installed; .ci/run installs it (apt-get install calcurse)")
        pytest.skip("calcurse not installed (apt-get install calcurse)")
    ics = tmp_path / "plan.ics"
    output(*plan_args(), "--format", "ics", "--out", str(ics))
    home = tmp_path / "calcurse"
    home.mkdir()
    env = {**os.environ, "TZ": "UTC"}  # calcurse stores local times
    r = subprocess.run([calcurse, "-D", str(home), "-i", str(ics)], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"(\d+) apps / (\d+) events / (\d+) todos / (\d+) skipped", r.stdout)
    assert m, r.stdout
    apps, evs, todos, skipped = map(int, m.groups())
    assert (apps, evs, todos, skipped) == (4, 36, 0, 0)  # 3 timed sessions + booster; 36 all-day windows
    lines = (home / "apts").read_text().splitlines()
    assert len(lines) == 40
    assert any(line.startswith("03/01/2027 @ 10:30") for line in lines), lines


def test_vtimezone_uses_yearly_rules_outlook_understands() -> None:
    from needlecli.render.ics import yearly_rule

    london = [dt.datetime(2027, 3, 28, 2), dt.datetime(2028, 3, 26, 2), dt.datetime(2029, 3, 25, 2)]
    assert yearly_rule(london) == {"freq": "yearly", "bymonth": 3, "byday": "-1SU"}
    new_york = [dt.datetime(2027, 3, 14, 3), dt.datetime(2028, 3, 12, 3)]
    assert yearly_rule(new_york) == {"freq": "yearly", "bymonth": 3, "byday": "2SU"}
    assert yearly_rule([dt.datetime(2027, 3, 28, 2), dt.datetime(2029, 3, 25, 2)]) is None  # a gap year
    assert yearly_rule([dt.datetime(2027, 3, 28, 2), dt.datetime(2028, 4, 2, 2)]) is None  # the rule changed
    data = output(*plan_args(), "--boosters", "3", "--format", "ics")
    (tz,) = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    rules = [str(c.get("RRULE").to_ical(), "ascii") for c in tz.subcomponents if c.get("RRULE")]
    assert sorted(rules) == ["FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"]
    assert b"RDATE" not in data
    onsets = {c.name: c.decoded("DTSTART") for c in tz.subcomponents if c.get("RRULE")}
    # Local time before each change: 01:00 GMT in March, 02:00 BST in October; from the span's first year.
    assert onsets == {"DAYLIGHT": dt.datetime(2000, 3, 26, 1, 0), "STANDARD": dt.datetime(2000, 10, 29, 2, 0)}


def vtimezone_offsets_match_the_zone_database(data: bytes) -> int:
    """Check every timed event's offset as the file's own VTIMEZONE gives it (what Outlook reads)."""
    cal = icalendar.Calendar.from_ical(data)
    theirs = {str(t["TZID"]): t.to_tz(lookup_tzid=False) for t in cal.walk("VTIMEZONE")}
    checked = 0
    for ev in events(data):
        prop = ev["DTSTART"]
        if "TZID" in prop.params:
            wall = prop.dt.replace(tzinfo=None)
            tzid = prop.params["TZID"]
            assert wall.replace(tzinfo=theirs[tzid]).utcoffset() == wall.replace(tzinfo=zones.zone(tzid)).utcoffset()
            checked += 1
    return checked


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("Europe/London", "2027-03-01"),
        ("America/New_York", "2027-02-01"),
        ("Australia/Sydney", "2027-03-01"),
        ("Asia/Kolkata", "2027-03-01"),
        ("America/Nuuk", "2027-12-20"),
    ],
)
def test_the_files_own_vtimezone_agrees_with_the_zone_database(zone: str, start: str) -> None:
    data = output(
        "plan",
        "--on",
        ON,
        "--patient",
        "P1",
        "--indication",
        "deep-scars",
        "--start",
        start,
        "--sessions",
        "6",
        "--boosters",
        "3",
        "--time",
        "09:15",
        "--tz",
        zone,
        "--format",
        "ics",
    )
    assert vtimezone_offsets_match_the_zone_database(data) == 9


def test_morocco_keeps_a_vtimezone_and_a_plan_outside_the_span_is_in_utc() -> None:
    # Morocco's Ramadan clock changes follow no yearly rule: one observance per change (never an RDATE
    # list), and every session's offset is the zone database's.
    data = output("plan", "--on", ON, "--patient", "P1", "--indication", "deep-scars", "--start", "2026-12-21",
                  "--sessions", "6", "--time", "09:15", "--tz", "Africa/Casablanca", "--format", "ics")  # fmt: skip
    (tz,) = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    assert b"RDATE" not in data and len(tz.subcomponents) > 2
    assert vtimezone_offsets_match_the_zone_database(data) == 6
    # A plan whose sessions fall outside the years every VTIMEZONE covers (2000-2050): exact UTC instants.
    data = output("plan", "--on", "1999-06-01", "--patient", "P1", "--indication", "fine-lines", "--start",
                  "1999-06-07", "--time", "09:15", "--tz", "Europe/London", "--format", "ics")  # fmt: skip
    cal = icalendar.Calendar.from_ical(data)
    assert not cal.walk("VTIMEZONE")
    for ev in events(data):
        start = ev.decoded("DTSTART")
        if isinstance(start, dt.datetime):
            assert start.tzinfo is not None and start.utcoffset() == dt.timedelta(0)
            assert start.astimezone(zones.zone("Europe/London")).strftime("%H:%M") == "09:15"


def test_a_one_session_export_never_shares_uids_with_the_plan() -> None:
    plan = {
        str(e["UID"])
        for e in events(
            output(
                "plan",
                "--on",
                ON,
                "--patient",
                "P-7",
                "--indication",
                "fine-lines",
                "--start",
                "2026-12-01",
                "--format",
                "ics",
            )
        )
    }
    single = {
        str(e["UID"])
        for e in events(
            output(
                "aftercare",
                "--session-date",
                "2026-12-01",
                "--indication",
                "fine-lines",
                "--patient",
                "P-7",
                "--format",
                "ics",
                "--on",
                ON,
            )
        )
    }
    assert len(single) == 10 and not plan & single


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posix/Europe/London", "right/UTC"])
def test_only_real_zone_names(zone: str) -> None:
    r = run("plan", "--indication", "fine-lines", "--on", ON, "--time", "10:00", "--tz", zone)
    assert r.exit_code == 2 and "--tz" in r.stderr


def test_names_must_be_one_printable_line() -> None:
    r = run(
        "aftercare", "--session-date", ON, "--indication", "fine-lines", "--include-name", "--name", "Jane\n# Injected"
    )
    assert r.exit_code == 2 and "--name: must be one line of printable text" in r.stderr


def test_no_finding_reaches_the_calendar_after_a_screening(tmp_path: Path) -> None:
    from tests.plan_helpers import ALL_NO

    answers = {
        **ALL_NO,
        "fitzpatrick": 5,
        "herpes_history": True,
        "anticoagulants": True,
        "isotretinoin_last_dose": "2026-08-31",
        "photosensitizing_meds": True,
    }
    (tmp_path / "a.json").write_text(__import__("json").dumps(answers))
    rec = tmp_path / "rec.toml"
    run_code = run(
        "screen", "-a", str(tmp_path / "a.json"), "--on", ON, "--patient", "P-0042", "--out", str(rec)
    ).exit_code
    assert run_code == 3  # deferred until 2027-02-28, with cautions
    saved = tmp_path / "plan.toml"
    output(
        "plan",
        "--on",
        ON,
        "--indication",
        "acne-scars",
        "--screening",
        str(rec),
        "--format",
        "toml",
        "--out",
        str(saved),
    )
    plan_text = saved.read_text()
    assert "PIH" in plan_text  # the clinic's own plan carries the depth note...
    for data in (
        output("plan", "--from", str(saved), "--format", "ics"),
        output("aftercare", "--plan", str(saved), "--format", "ics"),
        output("aftercare", "--plan", str(saved), "--format", "md"),
    ):
        text = data.decode()
        for word in (
            "PIH",
            "Fitzpatrick",
            "herpes",
            "antiviral",
            "anticoag",
            "isotretinoin",
            "photosensit",
            "acne",
            "scar",
            "P-0042",
            "caution",
            "defer",
        ):
            assert word.lower() not in text.lower(), word  # ...the patient's calendar and checklist do not


def test_a_changed_protocol_raises_the_sequence_of_what_changed(tmp_path: Path) -> None:
    from needlecli import catalog

    proto = tmp_path / "clinic.toml"
    text = catalog.read_source("fine-lines")[0].decode()
    proto.write_text(text)
    saved = tmp_path / "plan.toml"
    output(
        "plan",
        "--on",
        ON,
        "--patient",
        "P1",
        "--indication",
        str(proto),
        "--start",
        "2026-12-01",
        "--format",
        "toml",
        "--out",
        str(saved),
    )
    before = {str(e["UID"]): e for e in events(output("plan", "--from", str(saved), "--format", "ics", "--on", ON))}
    # The clinic lengthens "no heat" to the whole first week.
    proto.write_text(text.replace("days = 5\n", "days = 7\n", 1))
    after = {
        str(e["UID"]): e for e in events(output("plan", "--from", str(saved), "--format", "ics", "--on", "2026-12-05"))
    }
    assert set(after) == set(before)
    bumped = {u for u in after if int(after[u]["SEQUENCE"]) == int(before[u]["SEQUENCE"]) + 1}
    assert bumped == {u for u in after if "aftercare-no-heat" in u}
    assert all(after[u].decoded("DTSTAMP") == dt.datetime(2026, 12, 5, tzinfo=dt.UTC) for u in after)


def test_uids_are_keyed_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    args = ["plan", "--on", ON, "--patient", "P-0042", "--indication", "acne-scars", "--start", "2026-12-01"]
    args += ["--format", "ics"]
    seed = b"needle-plan\0P-0042\0acne-scars\x002026-12-01"
    guess = hashlib.sha256(seed).hexdigest()[:16]

    def uids() -> list[str]:
        return [str(e["UID"]) for e in events(output(*args))]

    homes = {}
    for home in ("a", "b"):
        monkeypatch.setenv("NEEDLE_DATA_DIR", str(tmp_path / home))
        first = run(*args)
        assert first.exit_code == 0 and f"in {tmp_path / home / 'uid_key'}" in first.stderr  # says where, once
        assert run(*args).stderr == ""
        homes[home] = uids()
        assert homes[home] == uids()  # one home: the same UIDs every time
        assert stat.S_IMODE((tmp_path / home / "uid_key").stat().st_mode) == 0o600
        assert not any(u.startswith(guess) for u in homes[home])  # no guess of patient + indication checks out
    assert not set(homes["a"]) & set(homes["b"])  # two fresh homes: different UIDs
    # The clinic's config key wins (several machines share it), and is never shown.
    cfg = tmp_path / "fresh-config.toml"
    monkeypatch.setenv("NEEDLE_CONFIG", str(cfg))
    assert run("config", "init").exit_code == 0
    assert 'uid_key = "' in cfg.read_text()
    shown = run("config", "show").stdout
    assert "(set; not shown)" in shown and tomllib_key(cfg) not in shown
    keyed = uids()
    monkeypatch.setenv("NEEDLE_DATA_DIR", str(tmp_path / "a"))
    assert uids() == keyed and not set(keyed) & set(homes["a"])


def tomllib_key(cfg: Path) -> str:
    import tomllib

    return str(tomllib.loads(cfg.read_text())["clinic"]["uid_key"])
