"""`batch` and calendars over time: a rerun into last run's folder updates the patients' calendars
(same UIDs, SEQUENCE above, removed items cancelled), and `--clinic-calendar` writes the clinic's own
calendar of every session with the same UIDs as the patients' files."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import icalendar
import pytest

from tests.harness import run

HEADER = "patient_id,indication,start,sessions,time,tz"


def batch(src: Path, out: Path, on: str, *args: str) -> tuple[int, str, str]:
    return run("batch", str(src), "--out-dir", str(out), "--on", on, "--quiet", *args)


def events(path: Path) -> dict[str, icalendar.Event]:
    """UID -> VEVENT of a calendar file."""
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    found = {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}
    assert len(found) == len(cal.walk("VEVENT")), "UIDs must be unique in a file"
    return found


def sessions(found: dict[str, icalendar.Event]) -> dict[str, icalendar.Event]:
    return {uid: ev for uid, ev in found.items() if re.search(r"-(session|booster)-\d+@", uid)}


def status(ev: icalendar.Event) -> str:
    return str(ev.get("STATUS", ""))


def write(src: Path, *rows: str) -> None:
    src.write_text("\n".join([HEADER, *rows]) + "\n")


# ----------------------------------------------------------------- a rerun updates instead of duplicating


def test_a_moved_start_keeps_the_uids_raises_sequence_and_cancels_what_is_gone(tmp_path: Path) -> None:
    src, out = tmp_path / "list.csv", tmp_path / "plans"
    write(src, "P1,fine-lines,2027-01-04,4,10:30,Europe/London")
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    before = events(out / "P1.ics")
    assert {int(ev["SEQUENCE"]) for ev in before.values()} == {0}

    # The clinic moves the start a week and drops a session.
    write(src, "P1,fine-lines,2027-01-11,3,10:30,Europe/London")
    code, _, err = batch(src, out, "2026-12-02", "--format", "ics")
    assert code == 0, err
    after = events(out / "P1.ics")
    assert set(after) == set(before)  # every UID again: nothing duplicates in a calendar that imported run 1
    live = {u: ev for u, ev in after.items() if status(ev) != "CANCELLED"}
    gone = {u: ev for u, ev in after.items() if status(ev) == "CANCELLED"}
    assert gone and all(int(ev["SEQUENCE"]) == int(before[u]["SEQUENCE"]) + 1 for u, ev in gone.items())
    assert any(u.endswith("-session-4@needle.invalid") for u in gone)
    for uid, ev in live.items():
        assert int(ev["SEQUENCE"]) == int(before[uid]["SEQUENCE"]) + 1
        assert ev.decoded("DTSTAMP") > before[uid].decoded("DTSTAMP")
    first = next(ev for u, ev in live.items() if u.endswith("-session-1@needle.invalid"))
    assert first.decoded("DTSTART") == dt.datetime(2027, 1, 11, 10, 30, tzinfo=first.decoded("DTSTART").tzinfo)


def test_a_rerun_of_the_same_list_is_byte_identical(tmp_path: Path) -> None:
    src, out = tmp_path / "list.csv", tmp_path / "plans"
    write(src, "P1,fine-lines,2027-01-04,3,10:30,Europe/London", "P2,texture,2027-01-05,3,,")
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.ics")}
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    assert {p.name: p.read_bytes() for p in out.glob("*.ics")} == first


def test_a_withdrawn_plan_is_cancelled_and_a_later_plan_revives_it_above(tmp_path: Path) -> None:
    src, out, clinic = tmp_path / "list.csv", tmp_path / "plans", tmp_path / "clinic.ics"
    write(src, "P1,fine-lines,2027-01-04,3,10:30,Europe/London", "P2,texture,2027-01-05,3,,")
    assert batch(src, out, "2026-12-01", "--format", "ics", "--clinic-calendar", str(clinic))[0] == 0
    run1 = sessions(events(clinic))
    p1 = {u for u, ev in run1.items() if str(ev["SUMMARY"]).startswith("P1 ")}
    assert len(p1) == 3

    # P1's row can no longer be planned (a typo): its file goes, its sessions are cancelled for the clinic.
    write(src, "P1,fine-lines,2027-13-04,3,10:30,Europe/London", "P2,texture,2027-01-05,3,,")
    code, _, err = batch(src, out, "2026-12-02", "--format", "ics", "--clinic-calendar", str(clinic))
    assert code == 1, err
    assert "removed P1.ics from an earlier run" in (out / "summary.csv").read_text()
    assert not (out / "P1.ics").exists()
    run2 = sessions(events(clinic))
    for uid in p1:
        assert status(run2[uid]) == "CANCELLED"
        assert int(run2[uid]["SEQUENCE"]) == int(run1[uid]["SEQUENCE"]) + 1

    # Fixed: the same UIDs come back, above their cancellation.
    write(src, "P1,fine-lines,2027-01-04,3,10:30,Europe/London", "P2,texture,2027-01-05,3,,")
    assert batch(src, out, "2026-12-03", "--format", "ics", "--clinic-calendar", str(clinic))[0] == 0
    run3 = sessions(events(clinic))
    patient = sessions(events(out / "P1.ics"))
    for uid in p1:
        assert status(run3[uid]) == "CONFIRMED"
        assert int(run3[uid]["SEQUENCE"]) > int(run2[uid]["SEQUENCE"])
        assert int(patient[uid]["SEQUENCE"]) == int(run3[uid]["SEQUENCE"])


def test_a_changed_indication_updates_the_same_calendar(tmp_path: Path) -> None:
    src, out = tmp_path / "list.csv", tmp_path / "plans"
    write(src, "P1,fine-lines,2027-01-04,3,,")
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    before = sessions(events(out / "P1.ics"))
    write(src, "P1,acne-scars,2027-01-04,3,,")
    assert batch(src, out, "2026-12-02", "--format", "ics")[0] == 0
    after = sessions(events(out / "P1.ics"))
    assert set(before) <= set(after)
    assert all(int(after[u]["SEQUENCE"]) == 1 for u in before)


def test_toml_into_a_folder_holding_a_saved_plan_rebuilds_over_it(tmp_path: Path) -> None:
    """A plan saved by `needle plan --out` in the folder: batch keeps its calendar ids."""
    out = tmp_path / "plans"
    out.mkdir()
    saved = out / "P1.toml"
    code, _, err = run("plan", "--patient", "P1", "-i", "fine-lines", "--start", "2027-01-04", "--on", "2026-12-01",
                       "--format", "toml", "--out", str(saved))  # fmt: skip
    assert code == 0, err
    old_id = re.search(r'plan_id = "([0-9a-f]+)"', saved.read_text())
    assert old_id
    src = tmp_path / "list.csv"
    write(src, "P1,fine-lines,2027-01-18,3,,")  # another start: a fresh plan would get another id
    assert batch(src, out, "2026-12-02", "--format", "toml")[0] == 0
    text = saved.read_text()
    assert f'plan_id = "{old_id.group(1)}"' in text
    assert re.search(r"^revision = 1$", text, re.M), text


# ----------------------------------------------------------------- the clinic calendar


def test_the_clinic_calendar_has_every_session_with_the_patients_uids(tmp_path: Path) -> None:
    src, out, clinic = tmp_path / "list.csv", tmp_path / "plans", tmp_path / "clinic.ics"
    src.write_text(
        "patient_id,indication,start,sessions,time,tz,name\n"
        "P1,fine-lines,2027-01-04,3,10:30,Europe/London,Zoë Secret\n"
        "P2,deep-scars,2027-01-05,4,,,Ann Secret\n"
        "P3,texture,2027-03-28,3,01:30,Europe/London,Bob Secret\n"
    )
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nname = "Harbour Skin"\naddress = "1 Harbour St, Portsmouth"\n')
    env = {"NEEDLE_CONFIG": str(config)}
    code, _, err = run("batch", str(src), "--out-dir", str(out), "--on", "2026-12-01", "--quiet", "--format", "ics",
                       "--include-name", "--clinic-calendar", str(clinic), env=env)  # fmt: skip
    assert code == 0, err
    assert os.stat(clinic).st_mode & 0o777 == 0o600
    data = clinic.read_bytes()
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["X-WR-CALNAME"]) == "Microneedling sessions — Harbour Skin"
    found = sessions(events(clinic))
    assert len(found) == 3 + 4 + 3
    text = data.decode()
    for secret in ("Secret", "fine-lines", "deep-scars", "texture", "scar", "retino", "VALARM"):
        assert secret not in text, secret  # a clinician document, but never a name or a finding
    for pid in ("P1", "P2", "P3"):
        patient = sessions(events(out / f"{pid}.ics"))
        mine = {u: ev for u, ev in found.items() if str(ev["SUMMARY"]).startswith(f"{pid} · ")}
        assert set(mine) == set(patient)
        for uid, ev in mine.items():
            theirs = patient[uid]
            assert int(ev["SEQUENCE"]) == int(theirs["SEQUENCE"])
            assert ev.decoded("DTSTAMP") == theirs.decoded("DTSTAMP")
            start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
            if isinstance(start, dt.datetime):  # the same instants, in UTC
                assert start.utcoffset() == dt.timedelta(0)
                assert start == theirs.decoded("DTSTART") and end == theirs.decoded("DTEND")
                assert str(ev["LOCATION"]) == "1 Harbour St, Portsmouth"
            else:
                assert start == theirs.decoded("DTSTART")
    titles = sorted(str(ev["SUMMARY"]) for ev in found.values())
    assert "P2 · microneedling session 4 of 4" in titles
    assert "P1 · microneedling session 1 of 3" in titles


def test_the_clinic_calendar_covers_rows_reused_from_the_last_run(tmp_path: Path) -> None:
    src, out, clinic = tmp_path / "list.csv", tmp_path / "plans", tmp_path / "clinic.ics"
    write(src, "P1,fine-lines,2027-01-04,3,10:30,Europe/London", "P2,texture,2027-01-05,3,,")
    assert batch(src, out, "2026-12-01", "--format", "ics", "--clinic-calendar", str(clinic))[0] == 0
    first = clinic.read_bytes()
    code, stdout, err = run("batch", str(src), "--out-dir", str(out), "--on", "2026-12-01", "--format", "ics",
                            "--json", "--clinic-calendar", str(clinic))  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["reused"] == 2  # nothing planned again, yet every session is in the calendar
    assert clinic.read_bytes() == first


def test_the_clinic_calendar_is_written_only_when_the_run_completes(tmp_path: Path) -> None:
    src, out, clinic = tmp_path / "list.csv", tmp_path / "plans", tmp_path / "clinic.ics"
    src.write_text("patient_id,indication\nP1,fine-lines\n")  # no start column: the file is unusable
    code, _, err = batch(src, out, "2026-12-01", "--clinic-calendar", str(clinic))
    assert code == 2 and not clinic.exists(), err


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("plans/clinic.ics", "--clinic-calendar: write it outside --out-dir"),
        ("nowhere/clinic.ics", "--clinic-calendar: folder nowhere does not exist"),
        ("clinic.txt", "--clinic-calendar: clinic.txt should end in .ics"),
        (".", "--clinic-calendar: . is a folder"),
    ],
)
def test_clinic_calendar_paths_are_checked_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plans").mkdir()
    write(tmp_path / "list.csv", "P1,fine-lines,2027-01-04,3,,")
    code, _, err = run("batch", "list.csv", "--out-dir", "plans", "--on", "2026-12-01", "--clinic-calendar", where)
    assert code == 2, err
    assert err.strip().startswith(f"needle: error: {message}"), err
    assert list((tmp_path / "plans").iterdir()) == []


def test_calcurse_imports_the_clinic_calendar(tmp_path: Path) -> None:
    calcurse = shutil.which("calcurse")
    if calcurse is None:
        if os.environ.get("CI"):
            pytest.fail("calcurse is not installed; .ci/run installs it (apt-get install calcurse)")
        pytest.skip("calcurse not installed (apt-get install calcurse)")
    src, out, clinic = tmp_path / "list.csv", tmp_path / "plans", tmp_path / "clinic.ics"
    write(src, "P1,fine-lines,2027-01-04,3,10:30,Europe/London", "P2,texture,2027-01-05,3,,")
    assert batch(src, out, "2026-12-01", "--format", "ics", "--clinic-calendar", str(clinic))[0] == 0
    home = tmp_path / "calcurse"
    home.mkdir()
    r = subprocess.run([calcurse, "-D", str(home), "-i", str(clinic)], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "TZ": "Europe/London"})  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"(\d+) apps / (\d+) events / (\d+) todos / (\d+) skipped", r.stdout)
    assert m and tuple(map(int, m.groups())) == (3, 3, 0, 0), r.stdout  # 3 timed sessions, 3 all-day ones
    assert any(line.startswith("01/04/2027 @ 10:30") for line in (home / "apts").read_text().splitlines())


def test_khal_updates_instead_of_duplicating_after_a_rerun(tmp_path: Path) -> None:
    """A real client that files events by UID (khal): importing last run's file and then this run's
    leaves one event per UID, the sessions at their new dates and time, the dropped one cancelled."""
    khal = shutil.which("khal")
    if khal is None:
        if os.environ.get("CI"):
            pytest.fail("khal is not installed; .ci/run installs it (apt-get install khal)")
        pytest.skip("khal not installed (apt-get install khal)")
    vdir = tmp_path / "vdir"
    vdir.mkdir()
    config = tmp_path / "khal.conf"
    config.write_text(
        f"[calendars]\n[[clinic]]\npath = {vdir}\ntype = calendar\n"
        "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
        "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n"
        "local_timezone = Europe/London\ndefault_timezone = Europe/London\n"
    )
    env = {**os.environ, "TZ": "Europe/London", "XDG_DATA_HOME": str(tmp_path / "data")}

    def khal_run(*args: str) -> str:
        r = subprocess.run([khal, "-c", str(config), *args], capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    src, out = tmp_path / "list.csv", tmp_path / "plans"
    write(src, "P1,fine-lines,2027-01-04,4,10:30,Europe/London")
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    khal_run("import", "--batch", str(out / "P1.ics"))
    write(src, "P1,fine-lines,2027-01-11,3,11:00,Europe/London")
    assert batch(src, out, "2026-12-02", "--format", "ics")[0] == 0
    khal_run("import", "--batch", str(out / "P1.ics"))

    uids = events(out / "P1.ics")
    assert len(list(vdir.glob("*.ics"))) == len(uids) == 40  # one event per UID: nothing duplicated
    listed = khal_run("list", "--day-format", "", "--format", "{start-date} {start-time} {title} [{status}]",
                      "2027-01-01", "2027-06-01")  # fmt: skip
    sessions_seen = sorted({line.strip() for line in listed.splitlines() if "Microneedling session" in line})
    assert sessions_seen == [
        "2027-01-11 11:00 Microneedling session 1 [CONFIRMED ]",
        "2027-02-08 11:00 Microneedling session 2 [CONFIRMED ]",
        "2027-03-08 11:00 Microneedling session 3 [CONFIRMED ]",
    ]
    assert "Cancelled [CANCELLED ]" in listed


def test_batch_ics_is_byte_for_byte_what_plan_writes(tmp_path: Path) -> None:
    """batch renders ICS with its per-process renderer: the bytes are `needle plan`'s own."""
    from tests.harness import output

    src, out = tmp_path / "list.csv", tmp_path / "plans"
    rows = [
        ("P1", "fine-lines", "2027-01-04", "3", "10:30", "Europe/London"),
        ("P2", "deep-scars", "2027-03-27", "4", "01:30", "Europe/Dublin"),
        ("P3", "texture", "2027-01-05", "3", "", ""),
        ("P4", "acne-scars", "2027-11-01", "3", "09:00", "America/Havana"),
    ]
    write(src, *(",".join(r) for r in rows))
    assert batch(src, out, "2026-12-01", "--format", "ics", "--jobs", "2")[0] == 0
    for pid, indication, start, sessions, time, tz in rows:
        args = ["plan", "--patient", pid, "-i", indication, "--start", start, "--sessions", sessions,
                "--on", "2026-12-01", "--format", "ics"]  # fmt: skip
        if time:
            args += ["--time", time, "--tz", tz]
        assert (out / f"{pid}.ics").read_bytes() == output(*args), pid


def test_batch_renders_ics_with_one_renderer_per_process() -> None:
    from needlecli import export
    from needlecli.render.ics import export as one_plan
    from needlecli.render.ics_fast import CalendarRenderer

    fast = export.EXPORTERS["ics"].renderer(many=True)
    assert isinstance(getattr(fast, "__self__", None), CalendarRenderer)
    # One plan (`needle plan`, `aftercare`): icalendar's own serialiser, the reference writer.
    assert export.EXPORTERS["ics"].renderer(many=False) is one_plan
    assert export.EXPORTERS["json"].renderer(many=True) is export.EXPORTERS["json"].renderer(many=False)


def test_a_damaged_or_planted_history_only_means_planning_afresh() -> None:
    import zlib

    from needlecli.batch.history import pack as _pack
    from needlecli.batch.history import unpack as _unpack

    assert _unpack(_pack('{"v":1}')) == '{"v":1}'
    assert _unpack(b"not zlib") == "" and _unpack("text") == "" and _unpack(None) == ""
    assert _unpack(zlib.compress(b"\0" * (1 << 22))) == ""  # a bomb is refused, not inflated
    assert _unpack(zlib.compress(b"\xff\xfe")) == ""


# ----------------------------------------------------------------- when the record of the folder is gone or behind


def _sequences(path: Path) -> dict[str, int]:
    return {uid: int(ev["SEQUENCE"]) for uid, ev in events(path).items()}


@pytest.fixture
def own_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder of this test's own (the record of output folders lives there)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "uid_key").write_text("test-uid-key-0123456789abcdef\n")
    monkeypatch.setenv("NEEDLE_DATA_DIR", str(data))
    return data


def test_a_moved_folder_or_a_lost_record_never_lowers_a_sequence(tmp_path: Path, own_data: Path) -> None:
    """The calendar in the folder counts: a rebuild goes above its SEQUENCEs even when the record
    of the folder (kept in the data folder, by the folder's identity) is gone."""
    src, out = tmp_path / "list.csv", tmp_path / "plans"
    write(src, "P1,fine-lines,2027-01-04,4,10:30,Europe/London")
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    write(src, "P1,fine-lines,2027-01-11,3,10:30,Europe/London")
    assert batch(src, out, "2026-12-02", "--format", "ics")[0] == 0
    before = _sequences(out / "P1.ics")
    moved = tmp_path / "plans-2026"
    out.rename(moved)
    write(src, "P1,fine-lines,2027-01-04,4,10:30,Europe/London")
    assert batch(src, moved, "2026-12-03", "--format", "ics")[0] == 0
    after = events(moved / "P1.ics")
    assert set(after) == set(before)
    for uid, ev in after.items():
        assert int(ev["SEQUENCE"]) == before[uid] + 1, uid
        assert status(ev) != "CANCELLED"  # session 4 is back, above its cancellation

    # The record itself lost (a new machine, a damaged file): the same.
    for db in (own_data / "batch").glob("*"):
        db.unlink()
    write(src, "P1,fine-lines,2027-01-18,3,10:30,Europe/London")
    assert batch(src, moved, "2026-12-04", "--format", "ics")[0] == 0
    again = _sequences(moved / "P1.ics")
    assert all(again[uid] > int(ev["SEQUENCE"]) for uid, ev in after.items())


def test_a_file_written_but_not_recorded_still_counts(tmp_path: Path, own_data: Path) -> None:
    """A run stopped between renaming a file into place and recording it: the record says SEQUENCE 0,
    the patient's phone may have SEQUENCE 1; the next run must go above the file, not the record."""
    import shutil

    src, out = tmp_path / "list.csv", tmp_path / "plans"
    write(src, "P1,fine-lines,2027-01-04,3,10:30,Europe/London")
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    shutil.copytree(own_data / "batch", tmp_path / "record-after-run-1")
    write(src, "P1,fine-lines,2027-01-11,3,10:30,Europe/London")
    assert batch(src, out, "2026-12-02", "--format", "ics")[0] == 0
    on_phone = _sequences(out / "P1.ics")
    assert set(on_phone.values()) == {1}
    # The record goes back to run 1, as if run 2 was killed after its rename and before its record.
    shutil.rmtree(own_data / "batch")
    shutil.copytree(tmp_path / "record-after-run-1", own_data / "batch")
    write(src, "P1,fine-lines,2027-01-18,3,10:30,Europe/London")
    assert batch(src, out, "2026-12-03", "--format", "ics")[0] == 0
    after = _sequences(out / "P1.ics")
    assert set(after) == set(on_phone)
    assert all(after[uid] == 2 for uid in on_phone)  # above the file's 1, not the record's 0 + 1


def test_a_tampered_record_costs_nothing_but_the_history(tmp_path: Path, own_data: Path) -> None:
    """History entries that are not ours (absurd stamps, revisions, plan ids) are ignored: the run
    completes, the file is planned afresh, nothing crashes."""
    import sqlite3
    import zlib

    src, out, clinic = tmp_path / "list.csv", tmp_path / "plans", tmp_path / "clinic.ics"
    write(src, "P1,fine-lines,2027-01-04,3,10:30,Europe/London", "P2,texture,2027-01-05,3,,")
    assert batch(src, out, "2026-12-01", "--format", "ics", "--clinic-calendar", str(clinic))[0] == 0
    (db_path,) = (own_data / "batch").glob("*.sqlite3")
    db = sqlite3.connect(db_path)
    for name, blob in db.execute("SELECT name, history FROM files").fetchall():
        doc = json.loads(zlib.decompress(blob))
        doc["stamp"] = "9999-12-31T23:59:59+00:00"
        doc["revision"] = 2147483647
        doc["items"] = [[k, 2147483647, f, "9999-12-31"] for k, _, f, _ in doc["items"]]
        db.execute("UPDATE files SET history = ? WHERE name = ?", (zlib.compress(json.dumps(doc).encode()), name))
    db.commit()
    db.close()
    write(src, "P1,fine-lines,2027-13-04,3,10:30,Europe/London", "P2,texture,2027-01-12,3,,")
    code, _, err = batch(src, out, "2026-12-02", "--format", "ics", "--clinic-calendar", str(clinic))
    assert code == 1 and "internal error" not in err, err
    assert (out / "P2.ics").exists() and clinic.exists()
    assert all(0 < seq < 1000 for seq in _sequences(out / "P2.ics").values())


def test_the_record_is_keyed_so_a_guessed_id_cannot_be_looked_up(tmp_path: Path, own_data: Path) -> None:
    import hashlib
    import sqlite3

    src, out = tmp_path / "list.csv", tmp_path / "plans"
    write(src, "10023,fine-lines,2027-01-04,3,,")
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    (db_path,) = (own_data / "batch").glob("*.sqlite3")
    names = [r[0] for r in sqlite3.connect(db_path).execute("SELECT name FROM files")]
    assert names and hashlib.sha256(b"needle batch file\0" + b"10023.ics").hexdigest() not in names


@pytest.mark.parametrize("how", ["symlink", "dash"])
def test_the_clinic_calendar_never_lands_on_a_patient_file(tmp_path: Path, how: str) -> None:
    src, out = tmp_path / "list.csv", tmp_path / "plans"
    write(src, "P1,fine-lines,2027-01-04,3,,", "P2,texture,2027-01-05,3,,")
    assert batch(src, out, "2026-12-01", "--format", "ics")[0] == 0
    mine = (out / "P1.ics").read_bytes()
    if how == "symlink":
        (tmp_path / "clinic.ics").symlink_to(out / "P1.ics")
        target = str(tmp_path / "clinic.ics")
        message = "--clinic-calendar: write it outside --out-dir"
    else:
        target = "-"
        message = "--clinic-calendar: give a file name such as clinic.ics (or /dev/stdout)"
    code, _, err = batch(src, out, "2026-12-01", "--format", "ics", "--clinic-calendar", target)
    assert code == 2 and message in err
    assert (out / "P1.ics").read_bytes() == mine
