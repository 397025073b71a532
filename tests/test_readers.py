"""Calendars every reader reads the same: a sample of needle's calendars over more than 60 zones
(spring-forward gaps, repeated hours, rule changes, southern summers, boosters across years, the UTC
fallback) read by four independent readers, each through the file's own VTIMEZONE — icalendar
(`Timezone.to_tz`, no zone lookup), vobject, ical.js (the parser Thunderbird uses; node) and libical
(Evolution's; GObject introspection) — and every session's instant checked against the zone
database needle says it used (X-NEEDLE-TZDATA): 0 disagreements.

ical.js comes from npm (`.ci/run` installs it into .ci/node_modules, or set NEEDLE_ICALJS to its
folder) and libical from Debian's gir1.2-ical-3.0 with the system python3. A reader that is missing
is skipped at a developer's desk; with NEEDLE_REQUIRE_READERS=1 (`.ci/run`) it fails the test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import icalendar
import pytest

from needlecli import zones
from needlecli.render import ics
from tests.harness import output

REPO = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("NEEDLE_REQUIRE_READERS") == "1"

ZONES = [
    # rule changes, gaps and folds of every kind
    "America/Havana", "Africa/Cairo", "Asia/Beirut", "America/Santiago", "America/Nuuk", "Africa/Casablanca",
    "Asia/Gaza", "Europe/Dublin", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham",
    "America/St_Johns", "Asia/Tehran", "Antarctica/Troll", "America/Vancouver", "America/Edmonton",
    "America/Winnipeg", "Europe/Chisinau", "America/Mexico_City", "Asia/Amman", "America/Asuncion",
    "America/Godthab", "Asia/Hebron", "Africa/El_Aaiun", "Asia/Damascus", "America/Scoresbysund",
    # southern hemisphere
    "Australia/Sydney", "Australia/Melbourne", "Australia/Adelaide", "Australia/Hobart", "Pacific/Auckland",
    "Pacific/Norfolk", "Antarctica/Macquarie", "America/Punta_Arenas", "Pacific/Easter",
    # the rest of the world, with and without DST
    "Europe/Paris", "Europe/Berlin", "Europe/Helsinki", "Europe/Lisbon", "Europe/Istanbul", "Europe/Moscow",
    "Atlantic/Azores", "Atlantic/Canary", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Halifax", "America/Sao_Paulo",
    "America/Bogota", "America/Caracas", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Tokyo", "Asia/Shanghai",
    "Asia/Singapore", "Asia/Dubai", "Asia/Karachi", "Australia/Perth", "Australia/Eucla", "Pacific/Kiritimati",
    "Pacific/Apia", "Africa/Johannesburg", "Africa/Lagos", "Etc/UTC", "UTC",
]  # fmt: skip


#: Zones at UTC+0 on the span's first day: a reader that compares a zone with UTC over the years
#: before its observances (vobject: 2000-2019) must still see their summer time.
LATE = ("Europe/London", "Europe/Dublin", "Europe/Lisbon", "Atlantic/Canary", "Antarctica/Troll", "Atlantic/Azores")


def sample() -> list[tuple[str, tuple[str, ...]]]:
    """(zone, plan arguments) of every calendar: for each zone a series at 10:30, a series with three
    boosters across years, and, where the zone changes its clocks in 2027, a session in the gap of its
    first forward change and one in the repeated hour of its first backward change."""
    out = []
    for tz in ZONES:
        base = ("--tz", tz, "--clinic-days", "mon-sun", "--patient", f"P-{tz.replace('/', '-')}")
        out.append((tz, (*base, "-i", "fine-lines", "--on", "2026-12-01", "--start", "2027-01-04", "--time", "10:30")))
        out.append((tz, (*base, "-i", "deep-scars", "--on", "2026-12-01", "--start", "2027-02-01", "--time", "17:45",
                         "--sessions", "6", "--boosters", "3")))  # fmt: skip
        if tz in LATE:  # the span's last years, where vobject once read London as plain UTC
            out.append((tz, (*base, "-i", "texture", "--on", "2049-05-01", "--start", "2049-06-07", "--time", "10:30")))
        real = zones.zone(tz)
        for change in ics.transitions(tz, dt.datetime(2027, 1, 1), dt.datetime(2028, 1, 1))[:4]:
            utc = change.replace(tzinfo=dt.UTC)
            before = (utc - dt.timedelta(minutes=1)).astimezone(real)
            after = utc.astimezone(real)
            gained = after.utcoffset() - before.utcoffset()  # type: ignore[operator]
            if gained == dt.timedelta(0):
                continue
            # Forward: a wall time inside the gap; back: one in the repeated hour (its first occurrence).
            local = (before + dt.timedelta(minutes=1)) if gained > dt.timedelta(0) else (after - gained / 2)
            day, at = local.date(), local.strftime("%H:%M")
            on = (day - dt.timedelta(days=7)).isoformat()
            out.append((tz, (*base, "-i", "texture", "--on", on, "--start", day.isoformat(), "--time", at,
                             "--sessions", "3")))  # fmt: skip
    return out


def expected_instants(args: tuple[str, ...]) -> dict[str, dt.datetime]:
    """Session and booster id -> UTC instant, from the same plan as JSON (computed with the zone data)."""
    doc = json.loads(output("plan", *args, "--format", "json"))
    items = [*doc["sessions"], *doc.get("boosters", [])]
    return {i["id"]: dt.datetime.fromisoformat(i["start"]).astimezone(dt.UTC) for i in items if i.get("start")}


@pytest.fixture(scope="module")
def calendars(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, dt.datetime]]]:
    folder = tmp_path_factory.mktemp("calendars")
    expected: dict[str, dict[str, dt.datetime]] = {}
    for n, (_, args) in enumerate(sample()):
        name = f"{n:03d}.ics"
        (folder / name).write_bytes(output("plan", *args, "--format", "ics"))
        expected[name] = expected_instants(args)
    return folder, expected


def key_of(uid: str) -> str:
    return uid.split("@")[0].split("-", 1)[1]


def check(reader: str, read: dict[str, dict[str, float]], expected: dict[str, dict[str, dt.datetime]]) -> None:
    wrong = []
    for name, instants in expected.items():
        got = read.get(name, {})
        for key, when in instants.items():
            if got.get(key) != when.timestamp():
                wrong.append((name, key, when.isoformat(), got.get(key)))
    assert not wrong, f"{reader}: {len(wrong)} sessions at another instant, e.g. {wrong[:5]}"


def test_the_sample_is_wide(calendars: tuple[Path, dict[str, dict[str, dt.datetime]]]) -> None:
    folder, expected = calendars
    files = sorted(folder.glob("*.ics"))
    assert len(files) >= 200 and len({tz for tz, _ in sample()}) >= 60
    texts = [f.read_text() for f in files]
    assert all("X-NEEDLE-TZDATA:" + zones.database().version in t for t in texts)
    assert sum("BEGIN:VTIMEZONE" not in t for t in texts) >= 4  # the UTC zones: instants in UTC
    assert not any("RDATE" in t or "X-WR-TIMEZONE" in t for t in texts)
    assert sum(len(v) for v in expected.values()) > 1000


def test_icalendar_through_the_files_own_vtimezone(calendars: tuple[Path, dict[str, dict[str, dt.datetime]]]) -> None:
    folder, expected = calendars
    read: dict[str, dict[str, float]] = {}
    for f in sorted(folder.glob("*.ics")):
        cal = icalendar.Calendar.from_ical(f.read_bytes())
        own = {str(t["TZID"]): t.to_tz(lookup_tzid=False) for t in cal.walk("VTIMEZONE")}
        got = read.setdefault(f.name, {})
        for ev in cal.walk("VEVENT"):
            prop = ev["DTSTART"]
            if not isinstance(prop.dt, dt.datetime):
                continue
            tzid = prop.params.get("TZID")
            when = prop.dt.replace(tzinfo=None).replace(tzinfo=own[tzid]) if tzid else prop.dt
            got[key_of(str(ev["UID"]))] = when.timestamp()
    check("icalendar", read, expected)


def test_vobject(calendars: tuple[Path, dict[str, dict[str, dt.datetime]]]) -> None:
    vobject = pytest.importorskip("vobject") if not REQUIRED else __import__("vobject")
    folder, expected = calendars
    read: dict[str, dict[str, float]] = {}
    for f in sorted(folder.glob("*.ics")):
        cal = vobject.readOne(f.read_text())
        got = read.setdefault(f.name, {})
        for ev in cal.vevent_list:
            start = ev.dtstart.value
            if isinstance(start, dt.datetime):
                got[key_of(ev.uid.value)] = start.timestamp()
    check("vobject", read, expected)


ICALJS = """
const fs = require('fs');
const path = require('path');
const cjs = path.join(process.argv[2], 'dist/ical.es5.cjs');  // ical.js 2 is an ES module; this is its CommonJS build
const found = require(fs.existsSync(cjs) ? cjs : process.argv[2]);
const ICAL = found.default || found;
const out = {};
for (const file of process.argv.slice(3)) {
  const root = new ICAL.Component(ICAL.parse(fs.readFileSync(file, 'utf8')));
  for (const vtz of root.getAllSubcomponents('vtimezone')) ICAL.TimezoneService.register(vtz);
  const got = {};
  for (const vev of root.getAllSubcomponents('vevent')) {
    const ev = new ICAL.Event(vev);
    if (ev.startDate.isDate) continue;
    got[ev.uid.split('@')[0].split('-').slice(1).join('-')] = ev.startDate.toUnixTime();
  }
  for (const vtz of root.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.remove(vtz.getFirstPropertyValue('tzid'));
  }
  out[require('path').basename(file)] = got;
}
process.stdout.write(JSON.stringify(out));
"""


def icaljs_module() -> str | None:
    for folder in (os.environ.get("NEEDLE_ICALJS"), str(REPO / ".ci" / "node_modules" / "ical.js")):
        if folder and (Path(folder) / "package.json").is_file():
            return folder
    return None


def test_icaljs(calendars: tuple[Path, dict[str, dict[str, dt.datetime]]], tmp_path: Path) -> None:
    node, module = shutil.which("node"), icaljs_module()
    if node is None or module is None:
        if REQUIRED:
            pytest.fail("ical.js is not installed (.ci/run: npm install --prefix .ci ical.js)")
        pytest.skip("node or ical.js not installed (npm install --prefix .ci ical.js)")
    folder, expected = calendars
    script = tmp_path / "read.js"
    script.write_text(ICALJS)
    files = [str(f) for f in sorted(folder.glob("*.ics"))]
    r = subprocess.run([node, str(script), module, *files], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    check("ical.js", json.loads(r.stdout), expected)


LIBICAL = """
import json, os, sys
import gi
gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as I
out = {}
for path in sys.argv[1:]:
    root = I.Component.new_from_string(open(path, encoding="utf-8").read())
    got = {}
    ev = root.get_first_component(I.ComponentKind.VEVENT_COMPONENT)
    while ev is not None:
        t = ev.get_dtstart()
        if not t.is_date():
            got[ev.get_uid().split("@")[0].split("-", 1)[1]] = t.as_timet_with_zone(t.get_timezone())
        ev = root.get_next_component(I.ComponentKind.VEVENT_COMPONENT)
    out[os.path.basename(path)] = got
print(json.dumps(out))
"""


def test_libical(calendars: tuple[Path, dict[str, dict[str, dt.datetime]]]) -> None:
    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import gi; gi.require_version('ICalGLib', '3.0')"], capture_output=True)
    if probe.returncode != 0:
        if REQUIRED:
            pytest.fail("libical's GObject bindings are not installed (apt-get install gir1.2-ical-3.0)")
        pytest.skip("libical's GObject bindings are not installed (apt-get install gir1.2-ical-3.0)")
    folder, expected = calendars
    files = [str(f) for f in sorted(folder.glob("*.ics"))]
    r = subprocess.run([python, "-c", LIBICAL, *files], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    check("libical", {k: {u: float(t) for u, t in v.items()} for k, v in json.loads(r.stdout).items()}, expected)
