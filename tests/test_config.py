"""The clinic config file: every problem in one line, and `needle config init | show`.
(How the config and the flags combine into a plan: test_planning.py.)"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import tomllib
from pathlib import Path

import pytest

from needlecli.config import Written, backup_path, init_config, json_document, load_config
from needlecli.errors import UsageError
from tests.harness import run
from tests.plan_helpers import ON


def test_bad_config_is_one_line(no_user_config: Path) -> None:
    no_user_config.write_text('[clinic]\ndays = "funday"\ntime_zone = "Nowhere/City"\nsesion_minutes = 5\n')
    code, _, err = run("plan", "--on", ON, "--indication", "fine-lines")
    assert code == 2 and err.count("\n") == 1
    assert "clinic.days: 'funday' is not a weekday" in err
    assert "clinic.time_zone: unknown time zone 'Nowhere/City'" in err
    assert "clinic.sesion_minutes: unknown key (did you mean 'clinic.session_minutes'?)" in err


def test_config_init(no_user_config: Path) -> None:
    code, out, _ = run("config", "init")
    assert code == 0 and out.strip() == f"wrote {no_user_config}"
    assert tomllib.loads(no_user_config.read_text())["clinic"]["days"] == "mon-fri"
    code, _, err = run("config", "init")
    assert code == 2 and "already exists" in err
    assert run("config", "init", "--force")[0] == 0
    assert run("config", "show")[0] == 0


# ------------------------------------------------------------------ config show --json: JSON types


def test_json_document_uses_null_and_numbers(no_user_config: Path) -> None:
    no_user_config.write_text(
        '[clinic]\nname = "Harbour"\nsession_minutes = 45\ndevice_max_depth_mm = 2.5\n'
        'closed = ["2026-12-24", 2026-12-23]\ndays = "mon,wed"\nsession_time = "09:30"\n'
    )
    doc = json.loads(json.dumps(json_document(load_config())))
    values = {k: v["value"] for k, v in doc["values"].items()}
    assert values == {
        "name": "Harbour",
        "phone": None,
        "address": None,
        "clinician": None,
        "days": "mon,wed",
        "closed": ["2026-12-23", "2026-12-24"],
        "holidays": None,
        "time_zone": None,
        "session_time": "09:30",
        "session_minutes": 45,
        "slots": [],
        "capacity": 1,
        "date_order": "ISO",
        "device_max_depth_mm": 2.5,
        "protocols_dir": None,
        "register": None,
        "uid_key": None,
    }
    assert doc["values"]["name"]["source"] == str(no_user_config)
    assert doc["values"]["phone"]["source"] == "default"
    assert (doc["path"], doc["exists"]) == (str(no_user_config), True)


def test_json_document_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEEDLE_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # the default place, with nothing there
    doc = json_document(load_config())
    assert doc["exists"] is False
    assert doc["values"]["session_minutes"] == {"value": 60, "source": "default"}
    assert doc["values"]["name"] == {"value": None, "source": "default"}
    assert doc["values"]["closed"] == {"value": [], "source": "default"}


def test_a_set_uid_key_is_never_shown(no_user_config: Path) -> None:
    no_user_config.write_text('[clinic]\nuid_key = "0123456789abcdef-secret"\n')
    doc = json_document(load_config())
    assert doc["values"]["uid_key"]["value"] == "(set; not shown)"
    assert "secret" not in json.dumps(doc)


# ------------------------------------------------------------------ config init: keeps what a clinic set

DATA_KEY = "test-uid-key-0123456789abcdef"  # tests/conftest.py's key in the data folder

CLINIC = """\
# our own notes
[clinic]
name = "Harbour Skin Clinic"
phone = "+44 20 7946 0000"
holidays = "GB-SCT"
closed = [2026-12-24, "2026-12-31"]
session_minutes = 45
date_order = "DMY"
device_max_depth_mm = 2.5
uid_key = "clinic-key-0123456789abcdef"
"""


def test_init_writes_the_key_already_in_use(no_user_config: Path) -> None:
    written = init_config(no_user_config)
    assert written == Written((f"wrote {no_user_config}",))
    cfg = load_config()
    assert cfg.uid_key == DATA_KEY  # calendars already made with the data folder's key keep their ids
    assert stat.S_IMODE(os.stat(no_user_config).st_mode) == 0o600
    assert not backup_path(no_user_config).exists()


def test_the_starter_suggests_a_region_for_public_holidays(no_user_config: Path) -> None:
    """A country alone closes only its nationwide holidays (GB: not England's Easter Monday): the
    starter suggests the region's code."""
    init_config(no_user_config)
    text = no_user_config.read_text()
    assert '\n# holidays = "GB-ENG"\n' in text and 'holidays = "GB"' not in text


def test_init_without_force_refuses(no_user_config: Path) -> None:
    no_user_config.write_text(CLINIC)
    with pytest.raises(UsageError) as info:
        init_config(no_user_config)
    assert str(info.value) == (
        f"{no_user_config} already exists (use --force to rewrite it, keeping its values and uid_key)"
    )
    assert no_user_config.read_text() == CLINIC


def test_init_force_keeps_the_values_and_the_key_and_backs_up(no_user_config: Path) -> None:
    no_user_config.write_text(CLINIC)
    before = load_config()
    written = init_config(no_user_config, force=True)
    bak = no_user_config.with_name("config.toml.bak")
    assert written.said == (
        f"wrote {no_user_config} (kept name, phone, closed, holidays, session_minutes, date_order, "
        f"device_max_depth_mm; kept the uid_key); the old file is {bak}",
    )
    assert written.warnings == ()
    after = load_config()
    for key in ("name", "phone", "holidays", "closed", "session_minutes", "date_order", "device_max_depth_mm"):
        assert getattr(after, key) == getattr(before, key), key
    assert after.uid_key == "clinic-key-0123456789abcdef"
    assert after.closed == {dt.date(2026, 12, 24), dt.date(2026, 12, 31)}
    text = no_user_config.read_text()
    assert "# Open weekdays: mon-fri" in text  # the starter's comments, for every key
    assert bak.read_text() == CLINIC  # the old file, byte for byte, private
    assert stat.S_IMODE(os.stat(bak).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(no_user_config).st_mode) == 0o600
    # Again: the same values; the backup is the file just replaced.
    init_config(no_user_config, force=True)
    assert load_config().uid_key == "clinic-key-0123456789abcdef"
    assert bak.read_text() == text


def test_a_new_key_only_when_asked_with_a_warning(no_user_config: Path) -> None:
    no_user_config.write_text(CLINIC)
    written = init_config(no_user_config, force=True, new_uid_key=True)
    bak = backup_path(no_user_config)
    assert written.warnings == (
        "needle: warning: a new uid_key: calendars already sent will duplicate on re-import "
        f"(their events do not update any more); the old key stays in {bak}",
    )
    assert written.said[0].endswith(f"; a new uid_key); the old file is {bak}")
    key = load_config().uid_key
    assert key is not None and len(key) == 32 and key not in (DATA_KEY, "clinic-key-0123456789abcdef")
    assert load_config().name == "Harbour Skin Clinic"
    assert 'uid_key = "clinic-key-0123456789abcdef"' in bak.read_text()


def test_a_broken_file_is_kept_unless_starting_again(no_user_config: Path) -> None:
    no_user_config.write_text('[clinic]\nname = "unterminated\n')
    with pytest.raises(UsageError, match="--force keeps its values and uid_key, so fix it first"):
        init_config(no_user_config, force=True)
    assert no_user_config.read_text() == '[clinic]\nname = "unterminated\n'
    assert not backup_path(no_user_config).exists()
    written = init_config(no_user_config, force=True, new_uid_key=True)
    assert backup_path(no_user_config).read_text() == '[clinic]\nname = "unterminated\n'
    assert written.said[0].startswith(f"wrote {no_user_config} (no values to keep; a new uid_key)")
    assert load_config().name is None


def test_keys_that_are_no_settings_are_left_out_and_said(no_user_config: Path) -> None:
    no_user_config.write_text('top = 1\n[clinic]\nname = "A"\nsesion_minutes = 5\nphone = {x = 1}\n')
    written = init_config(no_user_config, force=True)
    bak = backup_path(no_user_config)
    assert written.warnings == (
        f"needle: left out top, clinic.sesion_minutes, clinic.phone (not config keys; they stay in {bak})",
    )
    cfg = load_config()
    assert (cfg.name, cfg.phone, cfg.session_minutes) == ("A", None, 60)


def test_config_show_text_still_says_not_set() -> None:
    code, out, _ = run("config", "show")  # NEEDLE_CONFIG=/dev/null: no clinic config
    assert code == 0 and "(not set)" in out
    assert out.splitlines()[0] == f"config file: {os.devnull} (none: defaults in use)"


def test_a_named_config_that_does_not_exist_is_an_error(no_user_config: Path) -> None:
    """A typo in NEEDLE_CONFIG would otherwise drop every clinic setting (the device cap among them)."""
    for args in (["config", "show"], ["screen", "--answers", "x.toml"], ["protocols", "list"]):
        code, out, err = run(*args)
        assert code == 2 and out == "", (args, err)
        assert err == (
            f"needle: error: config {no_user_config}: no such file (named by NEEDLE_CONFIG; create it with "
            f"`needle config init`, or set NEEDLE_CONFIG={os.devnull} to run without a clinic config)\n"
        ), args
    code, out, _ = run("config", "init")  # the one command that makes it
    assert code == 0 and no_user_config.exists()
    code, out, err = run("config", "show")
    assert code == 0 and out.splitlines()[0] == f"config file: {no_user_config}", err


def test_dev_null_names_no_config_and_is_never_written() -> None:
    code, _, err = run("config", "init")
    said = f"NEEDLE_CONFIG={os.devnull} names no config file: point it at the file to write"
    assert code == 2 and err == f"needle: error: {said}\n"


@pytest.mark.parametrize("char", ["\u000b", "\u001b", "\u0007", "\u000c", "\u0085", "\u2028", "\u2029", "\t"])
def test_config_text_with_a_control_character_is_refused(
    char: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Word's soft line break, ESC, BEL, form feed, NEL and the Unicode line/paragraph separators in
    the clinic's address: one line naming the key and the character's code, never the raw character
    (not in a calendar's LOCATION, not echoed to the terminal by `config show`)."""
    config = tmp_path / "config.toml"
    escaped = f"\\u{ord(char):04X}"
    config.write_text(f'[clinic]\naddress = "1 Harbour Street{escaped}Portsmouth"\nname = "Clinic"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    for args in (("config", "show"), ("plan", "--patient", "P1", "-i", "fine-lines", "--on", ON, "--format", "ics")):
        code, out, err = run(*args)
        assert code == 2, (args, out, err)
        assert f"clinic.address: must be one line of printable text (it holds U+{ord(char):04X} at character 17)" in (
            err
        )
        assert char not in out + err and len(err.strip().splitlines()) == 1, err


def test_closed_dates_follow_the_configs_own_date_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`closed = ["25/12/2026", "03/01/2027"]` under `date_order = "DMY"` is 25 Dec and 3 Jan (not an error,
    not 1 March); ISO and TOML dates still read; a bad one names its item."""
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\ndate_order = "DMY"\nclosed = ["25/12/2026", "04/01/2027", "2027-01-05", 2027-01-06]\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    assert load_config().closed == frozenset(
        {dt.date(2026, 12, 25), dt.date(2027, 1, 4), dt.date(2027, 1, 5), dt.date(2027, 1, 6)}
    )
    code, out, err = run("plan", "-i", "fine-lines", "--start", "04/01/2027", "--on", "01/12/2026", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["sessions"][0]["date"] == "2027-01-07"  # 4, 5 and 6 Jan closed
    config.write_text('[clinic]\ndate_order = "DMY"\nclosed = ["31/02/2027"]\n')
    code, _, err = run("config", "show")
    assert code == 2 and "clinic.closed[0]: not a real calendar date" in err


@pytest.mark.parametrize(
    "text", ["Tehran \u0645\u06cc\u200c\u062e", "Rue\u00a0de la Paix", "Clinic \U0001f469\u200d\u2695\ufe0f"]
)
def test_config_text_keeps_what_is_text(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A no-break space, Persian's zero-width non-joiner, an emoji's joiner: text, not control characters."""
    import tomli_w

    config = tmp_path / "config.toml"
    config.write_text(tomli_w.dumps({"clinic": {"address": text}}))
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    assert load_config().address == text


@pytest.mark.parametrize(("text", "said"), [("Clinic \u202eevil", "U+202E"), ("x" * 301, "at most 300 characters")])
def test_config_text_refuses_overrides_and_essays(
    text: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomli_w

    config = tmp_path / "config.toml"
    config.write_text(tomli_w.dumps({"clinic": {"name": text}}))
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    code, _, err = run("config", "show")
    assert code == 2 and "clinic.name: " in err and said in err
