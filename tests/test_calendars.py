"""Calendars that stay right: every VTIMEZONE read strictly by RFC 5545 agrees with the zone
database at every transition (an hour and a minute either side), session ends survive DST
changes, ids are keyed, names are escaped, and a revision's DTSTAMP moves forward."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import subprocess
import zoneinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil.rrule import rrulestr

from needlecli import zones
from needlecli.render import ics
from tests.harness import output, run

HARD = [
    "America/Havana",
    "Africa/Cairo",
    "Asia/Beirut",
    "America/Santiago",
    "America/Nuuk",
    "Africa/Casablanca",
    "Asia/Gaza",
    "Europe/Dublin",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Tehran",
    "Antarctica/Troll",
]
ZONES = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})
# Every zone in CI; a fixed sample (the hard ones and a deterministic 40 more) at a developer's desk.
SAMPLE = (
    ZONES
    if os.environ.get("CI") or os.environ.get("NEEDLE_ALL_ZONES")
    else sorted(set(HARD) | set(random.Random(5545).sample(ZONES, 40)))
)


def read_vtimezone(text: str) -> list[tuple[dt.datetime, dt.timedelta, dt.timedelta]]:
    """An independent, strict RFC 5545 reading of one VTIMEZONE's text (no icalendar code): every
    onset as (UTC instant, offset before, offset after). DTSTART and RDATE are local times in
    TZOFFSETFROM; RRULE repeats DTSTART."""
    unfolded = re.sub(r"\r\n[ \t]", "", text)
    onsets = []
    for block in re.findall(r"BEGIN:(?:STANDARD|DAYLIGHT)\r\n(.*?)END:(?:STANDARD|DAYLIGHT)", unfolded, re.S):
        props: dict[str, list[str]] = {}
        for line in block.split("\r\n"):
            if line:
                name, _, value = line.partition(":")
                props.setdefault(name.split(";")[0], []).append(value)

        def offset(v: str) -> dt.timedelta:
            sign = -1 if v[0] == "-" else 1
            return sign * dt.timedelta(hours=int(v[1:3]), minutes=int(v[3:5]), seconds=int(v[5:7] or 0))

        before, after = offset(props["TZOFFSETFROM"][0]), offset(props["TZOFFSETTO"][0])
        start = dt.datetime.strptime(props["DTSTART"][0], "%Y%m%dT%H%M%S")
        local = [start]
        for rule in props.get("RRULE", []):
            # An observance's UNTIL is UTC (RFC 5545 3.3.10): the local time before the change here.
            until = re.search(r"UNTIL=(\d{8}T\d{6})Z", rule)
            if until:
                wall = dt.datetime.strptime(until[1], "%Y%m%dT%H%M%S") + before
                rule = rule.replace(until[0], f"UNTIL={wall:%Y%m%dT%H%M%S}")
            local += list(rrulestr(rule, dtstart=start).between(start, dt.datetime(2052, 1, 1)))
        for rdates in props.get("RDATE", []):
            local += [dt.datetime.strptime(v, "%Y%m%dT%H%M%S") for v in rdates.split(",")]
        onsets += [(wall - before, before, after) for wall in local]
    return sorted(onsets)


def offset_at(onsets: list[tuple[dt.datetime, dt.timedelta, dt.timedelta]], utc: dt.datetime) -> dt.timedelta:
    current = onsets[0][1]
    for when, _, after in onsets:
        if when > utc:
            break
        current = after
    return current


#: The scan's steps, coarse to fine: a day (no zone changes twice within a day: an hourly scan of every
#: zone over 2000-2050 found the same changes), then a quarter hour, then the minute.
STEPS = (dt.timedelta(days=1), dt.timedelta(minutes=15), dt.timedelta(minutes=1))


def real_changes(
    zone: ZoneInfo, start: dt.datetime, end: dt.datetime, steps: tuple[dt.timedelta, ...] = STEPS
) -> list[dt.datetime]:
    """Every change of the zone's UTC offset in [start, end), each found to the minute: a scan by the
    first step, each change looked for again by the next ones within the step it fell in."""
    out = []
    t = start
    previous = t.replace(tzinfo=dt.UTC).astimezone(zone).utcoffset()
    while t < end:
        t += steps[0]
        now = t.replace(tzinfo=dt.UTC).astimezone(zone).utcoffset()
        if now != previous:
            out += real_changes(zone, t - steps[0], t, steps[1:]) if len(steps) > 1 else [t]
            previous = now
    return out


@pytest.mark.parametrize("tzid", SAMPLE)
def test_every_vtimezone_agrees_with_the_zone_database_at_every_transition(tzid: str) -> None:
    """Over the whole span every VTIMEZONE covers (2000-2050): one definition per zone name."""
    vtz = ics._vtimezone(tzid)
    if vtz is None:  # the zone cannot be written as a VTIMEZONE: events are exact UTC instants instead
        return
    text = vtz.to_ical().decode()
    assert "RDATE" not in text  # one observance per change: readers keep only an RDATE list's first value
    onsets = read_vtimezone(text)
    zone = zones.zone(tzid)
    start, end = dt.datetime(2000, 1, 1), dt.datetime(2051, 1, 1)
    instants = [start + dt.timedelta(days=d, hours=12) for d in range(0, (end - start).days, 9)]
    for change in real_changes(zone, start, end):
        instants += [change + dt.timedelta(minutes=m) for m in (-60, -1, 0, 1, 60)]
    for t in instants:
        expected = t.replace(tzinfo=dt.UTC).astimezone(zone).utcoffset()
        assert offset_at(onsets, t) == expected, (tzid, t, text)


def test_the_hard_zones_keep_a_vtimezone() -> None:
    # Beirut, Cairo, Havana, Santiago, Nuuk and Casablanca used to fall back to a wrong RDATE form.
    for tzid in ("America/Havana", "Africa/Cairo", "Asia/Beirut", "America/Santiago", "America/Nuuk"):
        vtz = ics._vtimezone(tzid)
        assert vtz is not None and b"RRULE" in vtz.to_ical() and b"RDATE" not in vtz.to_ical(), tzid
    york = ics._vtimezone("America/New_York")
    assert york is not None
    # The spring-forward onset is the local time before the change: 02:00, not 03:00.
    assert "DTSTART:20070311T020000\r\nRRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3" in york.to_ical().decode()
    dublin = ics._vtimezone("Europe/Dublin")
    assert dublin is not None
    daylight = [c for c in dublin.walk("DAYLIGHT")]
    assert {str(c["TZNAME"]) for c in daylight} == {"IST"}  # summer is DAYLIGHT, as clients expect


@pytest.mark.parametrize("tzid", ["Australia/Sydney", "Pacific/Auckland", "Australia/Lord_Howe", "Pacific/Chatham",
                                  "America/Santiago"])  # fmt: skip
def test_a_southern_summer_opens_as_daylight(tzid: str) -> None:
    """The span opens on 1 January, summer in the south: that first observance is DAYLIGHT (readers
    that take "the" standard and daylight pair from the block types read +11 as summer time)."""
    data = output("plan", "--patient", "P1", "-i", "fine-lines", "--on", "2026-12-01", "--start", "2027-01-04",
                  "--time", "10:30", "--tz", tzid, "--clinic-days", "mon-sun", "--format", "ics")  # fmt: skip
    (vtz,) = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    first = vtz.subcomponents[0]
    assert first.name == "DAYLIGHT", vtz.to_ical().decode()[:400]
    assert all(c.name == "STANDARD" for c in vtz.subcomponents if c.decoded("TZOFFSETTO") < first.decoded("TZOFFSETTO"))


def test_one_definition_per_zone_whatever_the_plans_years() -> None:
    """Plans of 2027 and of 2033 carry the very same VTIMEZONE (a client caching zones by name reads
    one definition), and no X-WR-TIMEZONE."""
    blocks = []
    for on, start in (("2027-01-01", "2027-01-04"), ("2033-06-01", "2033-06-06")):
        data = output("plan", "--patient", "P1", "-i", "fine-lines", "--on", on, "--start", start,
                      "--time", "10:00", "--tz", "America/Santiago", "--format", "ics")  # fmt: skip
        text = data.decode()
        assert "X-WR-TIMEZONE" not in text
        blocks.append(text[text.index("BEGIN:VTIMEZONE") : text.index("END:VTIMEZONE")])
    assert blocks[0] == blocks[1]


def session_events(data: bytes) -> list[icalendar.Event]:
    return [e for e in icalendar.Calendar.from_ical(data).walk("VEVENT") if "session" in str(e["SUMMARY"])]


@pytest.mark.parametrize(
    ("tz", "day", "time", "minutes"),
    [
        ("America/New_York", "2027-11-07", "01:30", 60),  # fall back: the end would read 01:30 again
        ("America/New_York", "2027-11-07", "00:45", 90),  # the end falls in the repeated hour
        ("Europe/London", "2027-10-31", "01:15", 60),
        ("Pacific/Chatham", "2027-04-04", "03:00", 60),
        ("America/New_York", "2027-03-14", "01:30", 60),  # spring forward
        ("Europe/London", "2027-03-28", "00:30", 45),
    ],
)
def test_session_length_is_right_across_dst_changes(tz: str, day: str, time: str, minutes: int) -> None:
    data = output(
        "plan", "--patient", "P1", "-i", "fine-lines", "--on", "2027-03-01", "--start", day, "--time", time,
        "--duration", str(minutes), "--tz", tz, "--clinic-days", "mon-sun", "--format", "ics",
    )  # fmt: skip
    first = session_events(data)[0]
    start, end = first.decoded("DTSTART"), first.decoded("DTEND")
    assert end.astimezone(dt.UTC) - start.astimezone(dt.UTC) == dt.timedelta(minutes=minutes)
    # What a client that reads the wall-clock DTEND would see is right too (or DTEND is in UTC).
    raw = str(first["DTEND"].to_ical().decode())
    if not raw.endswith("Z"):
        assert end.replace(tzinfo=None) - start.replace(tzinfo=None) == dt.timedelta(minutes=minutes)


def test_calcurse_reads_every_dst_session_at_its_length(tmp_path: Path) -> None:
    calcurse = shutil.which("calcurse")
    if calcurse is None:
        pytest.skip("calcurse not installed (apt-get install calcurse)")
    data = output(
        "plan", "--patient", "P1", "-i", "fine-lines", "--on", "2027-11-01", "--start", "2027-11-07",
        "--time", "01:30", "--tz", "America/New_York", "--clinic-days", "mon-sun", "--format", "ics",
    )  # fmt: skip
    (tmp_path / "p.ics").write_bytes(data)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "TZ": "America/New_York"}
    r = subprocess.run([calcurse, "-D", str(home), "-i", str(tmp_path / "p.ics")], capture_output=True, text=True,
                       timeout=30, env=env)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"(\d+) apps / \d+ events / \d+ todos / 0 skipped", r.stdout), r.stdout
    first = next(line for line in (home / "apts").read_text().splitlines() if line.startswith("11/07/2027 @"))
    # calcurse keeps local wall times: 01:30 EDT to 01:30 EST, one hour later in real time.
    assert first.startswith("11/07/2027 @ 01:30 -> 11/07/2027 @ 01:30"), first


def test_etc_utc_has_no_unused_vtimezone() -> None:
    data = output("plan", "--patient", "P1", "-i", "fine-lines", "--on", "2026-12-01", "--time", "10:00",
                  "--tz", "Etc/UTC", "--format", "ics")  # fmt: skip
    assert b"VTIMEZONE" not in data and b"X-WR-TIMEZONE" not in data
    assert b"DTSTART:20261201T100000Z" in data


def test_the_calendar_name_is_escaped_text() -> None:
    data = output("plan", "--patient", "P1", "-i", "fine-lines", "--on", "2026-12-01", "--format", "ics",
                  "--include-name", "--name", "Zoë; O'Brien, Jr")  # fmt: skip
    assert "X-WR-CALNAME:Microneedling plan — Zoë\\; O'Brien\\, Jr" in data.decode()
    assert "Zoë; O'Brien, Jr" not in data.decode()  # never the raw text a reader would cut at the comma


def test_the_pause_text_never_reveals_an_answer(tmp_path: Path) -> None:
    from tests.plan_helpers import toml_answers

    texts = []
    for uses in (True, False):
        answers = toml_answers(tmp_path, uses_retinoids=uses)
        rec = tmp_path / f"rec-{uses}.toml"
        run("screen", "-a", str(answers), "--on", "2026-12-01", "--patient", "P1", "--out", str(rec))
        data = output("plan", "-i", "fine-lines", "--screening", str(rec), "--on", "2026-12-01",
                      "--start", "2026-12-07", "--format", "ics")  # fmt: skip
        texts.append(data)
        lower = data.decode().lower()
        for word in ("retinol", "tretinoin", "adapalene", "ibuprofen", "aspirin", "fish oil", "benzoyl"):
            assert word not in lower, word
    assert texts[0] == texts[1]  # the calendar is the same whatever the answer


def test_a_same_day_reschedule_gets_a_later_dtstamp(tmp_path: Path) -> None:
    saved = tmp_path / "plan.toml"
    output("plan", "--patient", "P1", "-i", "fine-lines", "--on", "2026-12-01", "--start", "2026-12-07",
           "--format", "toml", "--out", str(saved))  # fmt: skip
    first = icalendar.Calendar.from_ical(output("plan", "--from", str(saved), "--format", "ics", "--on", "2026-12-01"))
    output("plan", "--from", str(saved), "--move", "2=2027-01-05", "--on", "2026-12-01", "--format", "toml",
           "--out", str(saved))  # fmt: skip
    second = icalendar.Calendar.from_ical(output("plan", "--from", str(saved), "--format", "ics", "--on", "2026-12-01"))
    one = {str(e["UID"]): e for e in first.walk("VEVENT")}
    two = {str(e["UID"]): e for e in second.walk("VEVENT")}
    moved = [u for u in two if int(two[u]["SEQUENCE"]) > int(one[u]["SEQUENCE"])]
    assert moved and all(two[u].decoded("DTSTAMP") > one[u].decoded("DTSTAMP") for u in moved)
    # Re-exporting the saved revision is byte-identical.
    again = output("plan", "--from", str(saved), "--format", "ics", "--on", "2026-12-20")
    assert again == output("plan", "--from", str(saved), "--format", "ics", "--on", "2026-12-21")


def test_sessions_carry_the_clinic_and_windows_do_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[clinic]\nname = "Harbour Skin"\nphone = "+44 20 7946 0000"\naddress = "1 Quay St, Bristol"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(cfg))
    data = output("plan", "--patient", "P1", "-i", "fine-lines", "--on", "2026-12-01", "--format", "ics")
    for ev in icalendar.Calendar.from_ical(data).walk("VEVENT"):
        if "session" in str(ev["SUMMARY"]):
            assert str(ev["LOCATION"]) == "1 Quay St, Bristol"
            assert "Harbour Skin · +44 20 7946 0000" in str(ev["DESCRIPTION"])
        else:
            assert "LOCATION" not in ev and "Harbour" not in str(ev.get("DESCRIPTION", ""))


def test_rebuilding_over_a_saved_plan_updates_and_cancels_instead_of_duplicating(tmp_path: Path) -> None:
    saved = tmp_path / "plan.toml"
    base = ("plan", "--patient", "P1", "-i", "fine-lines", "--format", "toml", "--out", str(saved))
    output(*base, "--on", "2026-12-01", "--start", "2026-12-07", "--sessions", "4")
    old = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(
        output("plan", "--from", str(saved), "--format", "ics", "--on", "2026-12-01")).walk("VEVENT")}  # fmt: skip
    # Another start and one session fewer, rebuilt onto the saved plan: same ids, higher SEQUENCE.
    r = run(*base, "--on", "2026-12-02", "--start", "2026-12-14", "--sessions", "3")
    assert r.exit_code == 0 and "rebuilt over" in r.stderr
    new = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(
        output("plan", "--from", str(saved), "--format", "ics", "--on", "2026-12-02")).walk("VEVENT")}  # fmt: skip
    assert set(new) == set(old)  # nothing new to duplicate: every old id is updated or cancelled
    cancelled = {u for u, e in new.items() if str(e.get("STATUS")) == "CANCELLED"}
    assert cancelled == {u for u in old if u.split("-", 1)[1].endswith("-4@needle.invalid") or "session-4" in u}
    for uid, ev in new.items():
        assert int(ev["SEQUENCE"]) == int(old[uid]["SEQUENCE"]) + 1
        assert ev.decoded("DTSTAMP") > old[uid].decoded("DTSTAMP")
    # The cancellations stay in the saved plan and every later export of it.
    output("plan", "--from", str(saved), "--move", "2=2027-01-12", "--on", "2026-12-03", "--format", "toml",
           "--out", str(tmp_path / "moved.toml"))  # fmt: skip
    moved = output("plan", "--from", str(tmp_path / "moved.toml"), "--format", "ics", "--on", "2026-12-03")
    assert moved.count(b"STATUS:CANCELLED") == len(cancelled)
    # Onto another patient's plan: refused, the file untouched.
    before = saved.read_bytes()
    r = run(
        "plan", "--patient", "P2", "-i", "fine-lines", "--format", "toml", "--out", str(saved), "--on", "2026-12-02"
    )
    assert r.exit_code == 2 and "holds the plan of another patient or indication" in r.stderr
    assert saved.read_bytes() == before


def fake_host_zones(folder: Path, version: str) -> Path:
    """A host zone database of release ``version`` whose America/Vancouver is Los Angeles' (an hour
    behind the shipped data's permanent -07:00 from November 2026)."""
    from importlib.resources import files

    (folder / "America").mkdir(parents=True)
    (folder / "tzdata.zi").write_text(f"# version {version}\n")
    la = files("tzdata.zoneinfo.America").joinpath("Los_Angeles").read_bytes()
    (folder / "America" / "Vancouver").write_bytes(la)
    return folder


@pytest.mark.parametrize(("version", "offset"), [("2020a", "-0700"), ("2099a", "-0800")])
def test_the_newer_zone_database_is_used_and_named(tmp_path: Path, version: str, offset: str) -> None:
    """A host database older than the shipped tzdata is ignored (Python's zoneinfo would read it first);
    a newer one is used. Either way the calendar names the release its times were computed with."""
    import sys

    host = fake_host_zones(tmp_path / "zones", version)
    shipped = zones.shipped_version()
    assert shipped is not None and shipped > "2020a"
    env = {**os.environ, "PYTHONTZPATH": str(host), "NEEDLE_CONFIG": os.devnull, "NEEDLE_DATA_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "needlecli", "plan", "--patient", "P1", "-i", "fine-lines", "--on",
                        "2027-11-20", "--start", "2027-12-06", "--time", "10:00", "--tz", "America/Vancouver",
                        "--format", "ics"], capture_output=True, env=env, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert f"X-NEEDLE-TZDATA:{shipped if version < shipped else version}" in text
    cal = icalendar.Calendar.from_ical(r.stdout)
    (vtz,) = cal.walk("VTIMEZONE")
    theirs = vtz.to_tz(lookup_tzid=False)  # the file's own definition, as a reader without zone data reads it
    starts = [e["DTSTART"].dt for e in cal.walk("VEVENT") if isinstance(e["DTSTART"].dt, dt.datetime)]
    first = min(starts).replace(tzinfo=None).replace(tzinfo=theirs)
    assert first.strftime("%H:%M%z") == f"10:00{offset}"


def calendar_items(path: Path) -> dict[str, tuple[int, str, str]]:
    """UID -> (SEQUENCE, STATUS, DTSTAMP) of every event of the calendar at ``path``."""
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["UID"]): (int(e.get("SEQUENCE", 0)), str(e.get("STATUS", "")), e["DTSTAMP"].to_ical().decode())
            for e in cal.walk("VEVENT")}  # fmt: skip


def test_writing_a_plan_again_over_its_calendar_updates_it(tmp_path: Path) -> None:
    """`plan --out q.ics` with 4 sessions, then with 3 from the next day: every earlier calendar id is
    still there (the ones that went as cancelled), every SEQUENCE raised, DTSTAMP moved; a new --time
    raises them again; the same plan again leaves the file byte for byte."""
    q = tmp_path / "q.ics"
    base = ("plan", "--patient", "P1", "-i", "fine-lines", "--tz", "Europe/London", "--out", str(q))
    assert run(*base, "--start", "2027-01-04", "--sessions", "4", "--time", "10:30", "--on", "2026-12-01")[0] == 0
    first = calendar_items(q)
    code, _, err = run(*base, "--start", "2027-01-05", "--sessions", "3", "--time", "10:30", "--on", "2026-12-02")
    assert code == 0 and "rebuilt over" in err and "written as cancelled" in err, err
    second = calendar_items(q)
    assert set(first) <= set(second)  # no calendar id vanishes
    gone = {uid for uid, (_, status, _) in second.items() if status == "CANCELLED"}
    assert gone and all("session-4" in u or "-4@" in u or second[u][0] > first[u][0] for u in gone)
    assert all(second[uid][0] > first[uid][0] for uid in first)  # SEQUENCE up for each
    assert {s for _, _, s in second.values()} == {"20261202T000000Z"}
    code, _, err = run(*base, "--start", "2027-01-05", "--sessions", "3", "--time", "11:30", "--on", "2026-12-02")
    assert code == 0
    third = calendar_items(q)
    live = [uid for uid, (_, status, _) in third.items() if status != "CANCELLED"]
    assert all(third[uid][0] > second[uid][0] for uid in live) and {third[u][2] for u in live} == {"20261202T000001Z"}
    before = q.read_bytes()
    code, _, err = run(*base, "--start", "2027-01-05", "--sessions", "3", "--time", "11:30", "--on", "2026-12-02")
    assert code == 0 and "already holds this plan: unchanged" in err and q.read_bytes() == before


def test_aftercare_again_with_another_time_raises_the_sequence(tmp_path: Path) -> None:
    a = tmp_path / "a.ics"
    base = ("aftercare", "--patient", "P1", "--indication", "fine-lines", "--session-date", "2027-01-04", "--tz",
            "Europe/London", "--format", "ics", "--out", str(a))  # fmt: skip
    assert run(*base, "--time", "10:30", "--on", "2026-12-01")[0] == 0
    first = calendar_items(a)
    code, _, err = run(*base, "--time", "14:00", "--on", "2026-12-01")
    assert code == 0 and "rebuilt over" in err, err
    second = calendar_items(a)
    assert set(first) == set(second) and all(second[u][0] == first[u][0] + 1 for u in first)
    assert all(second[u][2] > first[u][2] for u in first)  # DTSTAMP moved on


def test_a_zone_the_newer_host_lacks_names_the_shipped_release(tmp_path: Path) -> None:
    import sys

    host = tmp_path / "zones"
    (host / "Europe").mkdir(parents=True)
    (host / "tzdata.zi").write_text("# version 2099b\n")
    from importlib.resources import files

    (host / "Europe" / "London").write_bytes(files("tzdata.zoneinfo.Europe").joinpath("London").read_bytes())
    env = {**os.environ, "PYTHONTZPATH": str(host), "NEEDLE_CONFIG": os.devnull, "NEEDLE_DATA_DIR": str(tmp_path)}
    for tz, release in (("America/Vancouver", zones.shipped_version()), ("Europe/London", "2099b")):
        r = subprocess.run([sys.executable, "-m", "needlecli", "plan", "--patient", "P1", "-i", "fine-lines", "--on",
                            "2027-01-01", "--time", "10:00", "--tz", tz, "--format", "ics"], capture_output=True,
                           env=env, timeout=60)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert f"X-NEEDLE-TZDATA:{release}".encode() in r.stdout, tz


def test_out_over_another_patients_calendar_is_refused_and_the_same_plan_leaves_the_file(tmp_path: Path) -> None:
    q = tmp_path / "q.ics"
    base = ("-i", "fine-lines", "--start", "2027-01-04", "--time", "10:30", "--on", "2026-12-01", "--out", str(q))
    assert run("plan", "--patient", "P1", *base)[0] == 0
    before = q.read_bytes()
    code, _, err = run("plan", "--patient", "P2", *base)
    assert code == 2 and "is needle's calendar of another patient, indication or document" in err
    code, _, err = run("aftercare", "--patient", "P1", "--indication", "fine-lines", "--session-date", "2027-01-04",
                       "--format", "ics", "--out", str(q), "--on", "2026-12-01")  # fmt: skip
    assert code == 2 and "another patient, indication or document" in err
    assert q.read_bytes() == before
    q.chmod(0o644)  # a calendar the clinic hosts for its patients to subscribe to
    inode = q.stat().st_ino
    code, _, err = run("plan", "--patient", "P1", *base)
    assert code == 0 and "unchanged" in err and "saved to" not in err
    assert (q.stat().st_ino, q.stat().st_mode & 0o777) == (inode, 0o644)


def test_a_cancelled_session_written_in_utc_keeps_its_local_day(tmp_path: Path) -> None:
    """Auckland, past the span: sessions in UTC; session 4 on 2 Jan 2051 local is 1 Jan in UTC. Dropped,
    its cancellation is on the 2nd, the day the patient's calendar showed it."""
    nz = tmp_path / "nz.ics"
    base = ("plan", "--patient", "NZ1", "-i", "texture", "--on", "2050-09-01", "--time", "08:00", "--tz",
            "Pacific/Auckland", "--clinic-days", "mon-sun", "--start", "2050-10-10", "--out", str(nz))  # fmt: skip
    assert run(*base, "--sessions", "4")[0] == 0
    dates = [e.decoded("DTSTART") for e in icalendar.Calendar.from_ical(nz.read_bytes()).walk("VEVENT")
             if "session-4@" in str(e["UID"])]  # fmt: skip
    local = dates[0].astimezone(zones.zone("Pacific/Auckland")).date()
    assert run(*base, "--sessions", "3")[0] == 0
    [gone] = [e for e in icalendar.Calendar.from_ical(nz.read_bytes()).walk("VEVENT")
              if "session-4@" in str(e["UID"])]  # fmt: skip
    assert str(gone["STATUS"]) == "CANCELLED" and gone.decoded("DTSTART") == local


def test_a_kept_vtimezone_is_the_built_one_and_a_tampered_one_is_never_used(tmp_path: Path) -> None:
    """`plan --format ics` keeps each zone's checked VTIMEZONE in the cache folder: the kept bytes are
    the ones the build writes, the next run gives the same calendar; a kept copy another zone's rules
    were put into is caught (checked over the plan's years), not used, and built again."""
    import sys

    cache = tmp_path / "cache"
    env = {**os.environ, "NEEDLE_CACHE_DIR": str(cache), "NEEDLE_CONFIG": os.devnull, "NEEDLE_DATA_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "needlecli", "plan", "--patient", "P1", "-i", "fine-lines", "--on", "2026-12-01",
            "--time", "10:30", "--tz", "Europe/London", "--format", "ics"]  # fmt: skip
    first = subprocess.run(argv, capture_output=True, env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    [kept] = cache.glob("vtimezone-*.ics")
    built = ics._built("Europe/London")
    assert built is not None and kept.read_bytes() == built.to_ical()
    again = subprocess.run(argv, capture_output=True, env=env, timeout=60)
    assert again.stdout == first.stdout
    tokyo = ics._built("Asia/Tokyo")
    assert tokyo is not None
    kept.write_bytes(tokyo.to_ical().replace(b"TZID:Asia/Tokyo", b"TZID:Europe/London"))
    tampered = subprocess.run(argv, capture_output=True, env=env, timeout=60)
    assert tampered.returncode == 0 and tampered.stdout == first.stdout
    assert kept.read_bytes() == built.to_ical()  # built again and kept
