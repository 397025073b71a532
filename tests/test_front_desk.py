"""What a clinic meets in its first hour (issue 14): dates in the clinic's order, choices in any
case or spacing, one-line command-line mistakes, completion and -V, --name, answers files that
are something else, and aftercare's --out extension.

(The interview's dates, through a real terminal: test_cli_interactive.py. The config file's
init and JSON: test_config.py.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from needlecli import catalog, choices, dates
from needlecli.errors import UsageError
from tests.harness import command, output, run
from tests.plan_helpers import json_answers, plan_json, saved_plan, screening_record

ON = "2026-12-01"

# ------------------------------------------------------------------ dates.parse_date


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-03-05", "ISO", dt.date(2026, 3, 5)),
        ("2026-3-5", "ISO", dt.date(2026, 3, 5)),
        ("2026-3-5", "DMY", dt.date(2026, 3, 5)),  # year first is ISO in every order
        ("2026/03/05", "MDY", dt.date(2026, 3, 5)),
        ("20260305", "ISO", dt.date(2026, 3, 5)),
        (" 2026-03-05 ", "ISO", dt.date(2026, 3, 5)),
        ("03/05/2026", "DMY", dt.date(2026, 5, 3)),
        ("25/12/2026", "ISO", dt.date(2026, 12, 25)),  # the only reading that is a date: no order needed
        ("12/31/2027", "ISO", dt.date(2027, 12, 31)),
        ("05/05/2026", "ISO", dt.date(2026, 5, 5)),  # both readings the same day
        ("03/05/2026", "MDY", dt.date(2026, 3, 5)),
        ("3.5.2026", "DMY", dt.date(2026, 5, 3)),
        ("3-5-2026", "MDY", dt.date(2026, 3, 5)),
        ("01/12/2026", "DMY", dt.date(2026, 12, 1)),  # SPEC.md: 1 December under DMY
        ("12/01/2026", "MDY", dt.date(2026, 12, 1)),
        ("3 May 2026", "ISO", dt.date(2026, 5, 3)),
        ("3 May 2026", "MDY", dt.date(2026, 5, 3)),  # a month name is read the same in every order
        ("May 3, 2026", "DMY", dt.date(2026, 5, 3)),
        ("5 mar 2026", "ISO", dt.date(2026, 3, 5)),
        ("5-MAR-2026", "ISO", dt.date(2026, 3, 5)),
        ("1st June 2026", "ISO", dt.date(2026, 6, 1)),
        ("30 Sept 2026", "ISO", dt.date(2026, 9, 30)),
        ("Tue 5 May 2026", "ISO", dt.date(2026, 5, 5)),  # what describe() prints reads back
        ("tuesday, 5 may 2026", "DMY", dt.date(2026, 5, 5)),
        ("1900-01-01", "ISO", dt.date(1900, 1, 1)),
        ("2200-12-31", "ISO", dt.date(2200, 12, 31)),
    ],
)
def test_parse_date_reads_what_a_front_desk_types(text: str, order: str, expected: dt.date) -> None:
    assert dates.parse_date(text, order) == expected


NOT_A_DATE_ISO = "not a date; use YYYY-MM-DD or a month name, e.g. 2026-05-31 or 31 May 2026"
NOT_A_DATE_DMY = "not a date; use DD/MM/YYYY, YYYY-MM-DD or a month name, e.g. 31/05/2026, 2026-05-31 or 31 May 2026"
AMBIGUOUS = (
    "ambiguous (day and month as numbers need date_order DMY or MDY in the clinic config); "
    "use YYYY-MM-DD or a month name, e.g. 2026-05-31 or 31 May 2026"
)


@pytest.mark.parametrize(
    ("text", "order", "message"),
    [
        ("03/05/2026", "ISO", AMBIGUOUS),  # never guessed without the clinic's order
        ("31/02/2026", "ISO", "not a date in either order of day and month; check the day"),  # never "ambiguous"
        ("May 2026", "ISO", "not a full date; give the day, the month and the year, e.g. 31 May 2026"),
        ("3 May", "DMY", "not a full date; give the day, the month and the year, e.g. 31 May 2026"),
        ("3/5/26", "DMY", "a date with a two-digit year; write the year in full, as in DD/MM/YYYY"),
        ("5/3/26", "MDY", "a date with a two-digit year; write the year in full, as in MM/DD/YYYY"),
        ("3 May 26", "ISO", "a date with a two-digit year; write the year in full, e.g. 31 May 2026"),
        ("2026-02-30", "ISO", "not a real calendar date"),
        ("31/02/2026", "DMY", "not a real calendar date"),
        ("31 Sept 2026", "ISO", "not a real calendar date"),
        ("9999-12-01", "ISO", "out of range (years 1900-2200)"),
        ("1899-12-31", "ISO", "out of range (years 1900-2200)"),
        ("0000-01-01", "ISO", "out of range (years 1900-2200)"),
        ("Mon 5 May 2026", "ISO", "not on the weekday it names; check the day"),
        ("", "ISO", NOT_A_DATE_ISO),
        ("yesterday", "ISO", NOT_A_DATE_ISO),
        ("2026-03-05T10:00", "ISO", NOT_A_DATE_ISO),
        ("2026-03/05", "DMY", NOT_A_DATE_DMY),  # one separator throughout
        ("3 Mai 2026", "DMY", NOT_A_DATE_DMY),
        ("3 May June 2026", "DMY", NOT_A_DATE_DMY),
        ("３ May 2026", "DMY", NOT_A_DATE_DMY),  # full-width digits
        ("1" * 41, "ISO", NOT_A_DATE_ISO),
    ],
)
def test_parse_date_refuses_in_one_line_without_repeating_the_value(text: str, order: str, message: str) -> None:
    with pytest.raises(dates.DateError) as info:
        dates.parse_date(text, order)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_an_unknown_order_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="date order must be ISO, DMY or MDY"):
        dates.parse_date("2026-01-01", "YMD")
    assert dates.check_order(" dmy ") == "DMY"


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)))
def test_every_form_reads_back_the_same_day(day: dt.date) -> None:
    assert dates.parse_date(dates.describe(day)) == day
    assert dates.parse_date(day.isoformat(), "DMY") == day
    assert dates.parse_date(f"{day.year}-{day.month}-{day.day}") == day
    assert dates.parse_date(f"{day.day:02}/{day.month:02}/{day.year}", "DMY") == day
    assert dates.parse_date(f"{day.month}/{day.day}/{day.year}", "MDY") == day
    assert dates.parse_date(f"{dates.MONTH_NAMES[day.month - 1]} {day.day}, {day.year}", "ISO") == day


def known_messages(order: str) -> set[str]:
    """Every message parse_date gives in ``order``: none depends on the value typed."""
    return {
        f"not a date; use {dates.forms(order)}",
        AMBIGUOUS,
        "not a full date; give the day, the month and the year, e.g. 31 May 2026",
        f"a date with a two-digit year; write the year in full, as in {dates.layout(order)}",
        "a date with a two-digit year; write the year in full, e.g. 31 May 2026",
        "not a real calendar date",
        "out of range (years 1900-2200)",
        "not on the weekday it names; check the day",
        "not a date in either order of day and month; check the day",
    }


@given(st.one_of(st.text(max_size=30), st.from_regex(r"[0-9]{1,5}[-/. ][0-9A-Za-z]{1,9}[-/., ]{1,2}[0-9]{1,5}")))
def test_any_text_is_a_date_or_a_date_error_that_never_repeats_it(text: str) -> None:
    for order in dates.ORDERS:
        try:
            day = dates.parse_date(text, order)
        except dates.DateError as exc:
            assert str(exc) in known_messages(order)  # so never the value itself
        else:
            assert dates.MIN_YEAR <= day.year <= dates.MAX_YEAR


def test_describe_is_unambiguous() -> None:
    assert dates.describe(dt.date(2026, 5, 5)) == "Tue 5 May 2026"
    assert dates.describe(dt.date(2027, 2, 28)) == "Sun 28 Feb 2027"
    assert dates.is_numeric_day_month("03/05/2026") and not dates.is_numeric_day_month("2026-05-03")
    assert not dates.is_numeric_day_month("3 May 2026")


# ------------------------------------------------------------------ date flags in the clinic's order


def test_date_flags_follow_the_clinic_date_order(no_user_config: Path) -> None:
    no_user_config.write_text('[clinic]\ndate_order = "DMY"\n')
    code, out, err = run(
        "plan", "--on", "30/11/2026", "--indication", "fine-lines", "--start", "01/12/2026", "-f", "json"
    )
    assert code == 0, err
    assert json.loads(out)["sessions"][0]["date"] == "2026-12-01"
    # The order-dependent form is echoed as understood, so a misread shows at once.
    assert err.splitlines()[:2] == [
        "needle: --on 30/11/2026: Mon 30 Nov 2026",
        "needle: --start 01/12/2026: Tue 1 Dec 2026",
    ]
    no_user_config.write_text('[clinic]\ndate_order = "MDY"\n')
    code, out, err = run("plan", "--on", ON, "--indication", "fine-lines", "--start", "12/01/2026", "-f", "json")
    assert code == 0 and json.loads(out)["sessions"][0]["date"] == "2026-12-01"
    assert "needle: --start 12/01/2026: Tue 1 Dec 2026" in err.splitlines()


def test_iso_and_month_names_need_no_order_and_are_not_echoed() -> None:
    code, out, err = run("plan", "--on", ON, "--indication", "fine-lines", "--start", "1 Dec 2026", "-f", "json")
    assert code == 0 and json.loads(out)["sessions"][0]["date"] == "2026-12-01"
    assert "Tue 1 Dec 2026" not in err
    assert plan_json("--indication", "fine-lines", "--start", "2026-12-1")["sessions"][0]["date"] == "2026-12-01"


def test_a_slashed_date_without_a_configured_order_is_refused() -> None:
    code, out, err = run("plan", "--on", ON, "--indication", "fine-lines", "--start", "01/12/2026")
    assert (code, out) == (2, "")
    assert err == f"needle: error: --start: '01/12/2026' is {AMBIGUOUS}\n"


def test_every_date_flag_takes_the_clinic_order(tmp_path: Path, no_user_config: Path) -> None:
    no_user_config.write_text('[clinic]\ndate_order = "DMY"\n')
    # --closed and --away
    doc = json.loads(
        output(
            "plan",
            "--on",
            ON,
            "--indication",
            "fine-lines",
            "--start",
            "1/12/2026",
            "--closed",
            "1/12/2026",
            "--away",
            "2/12/2026..3/12/2026",
            "-f",
            "json",
        )
    )
    assert doc["sessions"][0]["date"] == "2026-12-04"
    # --move on a saved plan, booster too
    path = saved_plan(tmp_path)
    code, out, err = run("plan", "--from", str(path), "--on", ON, "--move", "B1=2/8/2027", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["boosters"][0]["date"] == "2027-08-02"
    assert "needle: --move 2/8/2027: Mon 2 Aug 2027" in err
    # aftercare --session-date, screen --on
    md = output("aftercare", "--session-date", "1/12/2026", "--indication", "fine-lines", "--on", "1/12/2026")
    assert "## Day 0 — Tue 1 Dec 2026" in md.decode()
    code, out, _ = run("screen", "--answers", str(json_answers(tmp_path)), "--on", "1/12/2026", "--json")
    assert code == 0 and json.loads(out)["evaluated_on"] == ON


def test_string_dates_in_an_answers_file_take_the_clinic_order(tmp_path: Path, no_user_config: Path) -> None:
    no_user_config.write_text("")  # the default order first (an empty clinic config)
    answers = json_answers(tmp_path, isotretinoin_last_dose="03/08/2026", filler_last_date="20 Nov 2026")
    code, out, err = run("screen", "--answers", str(answers), "--on", ON, "--json")
    assert code == 2 and "isotretinoin_last_dose: ambiguous" in err and "filler_last_date" not in err
    answers = json_answers(tmp_path, isotretinoin_last_dose="31/08/2026", filler_last_date="20 Nov 2026")
    no_user_config.write_text('[clinic]\ndate_order = "DMY"\n')
    code, out, err = run("screen", "--answers", str(answers), "--on", ON, "--json")
    assert code == 3, err
    doc = json.loads(out)
    assert doc["earliest_date"] == "2027-02-28"  # 2026-08-31 + 6 months
    assert {f["id"]: f["until"] for f in doc["findings"] if f["category"] == "defer"} == {
        "isotretinoin_last_dose": "2027-02-28",
        "filler_last_date": "2026-12-18",
    }


def test_a_date_error_never_shows_an_answer(tmp_path: Path) -> None:
    answers = json_answers(tmp_path, isotretinoin_last_dose="31/02/1987")
    code, _, err = run("screen", "--answers", str(answers), "--on", ON)
    assert code == 2 and "isotretinoin_last_dose: not a date in either order" in err and "1987" not in err
    answers = json_answers(tmp_path, isotretinoin_last_dose="03/02/1987")
    code, _, err = run("screen", "--answers", str(answers), "--on", ON)
    assert code == 2 and "isotretinoin_last_dose: ambiguous" in err and "1987" not in err


# ------------------------------------------------------------------ choices in any case or spacing


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ICS", "ics"), ("Acne-Scars", "acne-scars"), (" acne scars ", "acne-scars"), ("ACNE__SCARS", "acne-scars")],
)
def test_choices_normalise(text: str, expected: str) -> None:
    assert choices.normalise(text) == expected
    assert choices.pick(text, ["ics", "acne-scars", "md"], "--x") == expected


def test_choices_pick_refuses_with_a_suggestion() -> None:
    with pytest.raises(UsageError) as info:
        choices.pick("icss", ["table", "ics", "md"], "--format")
    assert str(info.value) == "--format: expected one of table, ics, md, got 'icss' (did you mean 'ics'?)"
    with pytest.raises(UsageError) as info:
        choices.pick("pdf", ["table", "ics"], "row 3: format")
    assert str(info.value) == "row 3: format: expected one of table, ics, got 'pdf'"


@pytest.mark.parametrize("indication", ["Acne-Scars", "acne scars", "ACNE_SCARS", "acne-scars"])
def test_indication_in_any_case_or_spacing(indication: str) -> None:
    assert plan_json("--indication", indication, "--start", ON)["indication"] == "acne-scars"


def test_format_in_any_case() -> None:
    ics = output("plan", "--on", ON, "--indication", "fine-lines", "--patient", "P1", "--format", "ICS")
    assert ics.startswith(b"BEGIN:VCALENDAR")
    md = output("aftercare", "--session-date", ON, "--indication", "Fine Lines", "--format", "MD")
    assert md.startswith(b"# Aftercare")


def test_protocol_names_in_any_case_everywhere(tmp_path: Path) -> None:
    assert run("protocols", "show", "Deep Scars").stdout.startswith("#")
    code, out, _ = run(
        "screen", "--answers", str(json_answers(tmp_path)), "--on", ON, "--protocol", "SCREENING", "--json"
    )
    assert code == 0 and json.loads(out)["protocol"]["name"] == "screening"
    assert catalog.locate("Fine_Lines") == "bundled:fine-lines"


def test_a_clinic_protocol_name_in_any_case(tmp_path: Path) -> None:
    folder = tmp_path / "protocols"
    folder.mkdir()
    text = catalog.read_source("fine-lines")[0].decode().replace('name = "fine-lines"', 'name = "neck-lines"')
    (folder / "neck-lines.toml").write_text(text)
    assert catalog.load_treatment("Neck Lines", folder).info.name == "neck-lines"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["plan", "--indication", "fine-lines", "--format", "icss"],
            "--format: expected one of table, json, toml, md, ics, html, got 'icss' (did you mean 'ics'?)",
        ),
        (
            ["aftercare", "--session-date", ON, "--indication", "fine-lines", "--format", "Mark Down"],
            "--format: expected one of md, ics, html, got 'Mark Down'",
        ),
        (["plan", "--indication", "acne scar"], "acne scar: unknown protocol (did you mean 'acne-scars'?"),
    ],
)
def test_unknown_choices_stay_one_line_errors(args: list[str], message: str) -> None:
    code, out, err = run(*args, "--on", ON)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"needle: error: {message}"), err


# ------------------------------------------------------------------ command-line mistakes in one line


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["plan", "--strat", "2026-12-01"], "no such option --strat (did you mean --start?)"),
        (["plan", "--Start", "2026-12-01"], "no such option --Start (did you mean --start?)"),
        (["plan", "--xyzzy"], "no such option --xyzzy (see needle plan --help)"),
        (["--bogus"], "no such option --bogus (see needle --help)"),
        (["plan", "--start"], "--start: needs a value"),
        (["plan", "-n", "three"], "--sessions: 'three' is not a whole number"),
        (["plan", "--max-depth", "deep"], "--max-depth: 'deep' is not a number"),
        (["plan", "--include-name=yes"], "--include-name: takes no value"),
        (["scren"], "no such command 'scren' (did you mean 'screen'?)"),
        (["protocols", "validate"], "missing PATHS (see needle protocols validate --help)"),
        (["protocols", "list", "extra"], "got unexpected extra argument(s) (extra) (see needle protocols list --help)"),
    ],
)
def test_command_line_mistakes_are_one_line_exit_2(args: list[str], line: str) -> None:
    assert run(*args) == (2, "", f"needle: error: {line}\n")


def test_a_group_without_its_command_still_shows_its_help() -> None:
    code, out, err = run("config")
    assert code == 2 and "Usage: " in out + err and "Write a commented starter config file" in out + err


def test_click_mistakes_are_one_line_in_a_real_process() -> None:
    r = subprocess.run(command("plan", "--strat", "2026-12-01"), capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (
        2,
        "",
        "needle: error: no such option --strat (did you mean --start?)\n",
    )


# ------------------------------------------------------------------ -V and shell completion


def test_dash_capital_v_is_the_version() -> None:
    assert run("-V") == run("--version")
    assert run("-V").exit_code == 0


def test_help_offers_completion() -> None:
    out = run("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out and "-V, --version" in out


def _complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_NEEDLE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    r = subprocess.run(command(), capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_completion_completes_commands_and_options() -> None:
    assert _complete("needle pl", 1) == ["plan"]
    assert _complete("needle protocols v", 2) == ["validate"]
    assert "--indication" in _complete("needle plan --ind", 2)


def test_completion_offers_protocols_and_formats() -> None:
    assert _complete("needle plan --indication ", 3) == ["acne-scars", "deep-scars", "fine-lines", "texture"]
    assert _complete("needle plan --indication ac", 3) == ["acne-scars"]
    assert _complete("needle screen --protocol ", 3) == ["screening"]  # never a treatment protocol
    assert _complete("needle aftercare --format ", 3) == ["md", "ics", "html"]
    assert _complete("needle plan -f t", 3) == ["table", "toml"]
    assert _complete("needle protocols show d", 3) == ["deep-scars"]


def test_show_completion_prints_a_script() -> None:
    env = {**os.environ, "_NEEDLE_COMPLETE": "source_bash"}
    r = subprocess.run(command(), capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and "_needle_completion" in r.stdout and "complete " in r.stdout


# ------------------------------------------------------------------ --name implies --include-name


def test_name_implies_include_name() -> None:
    ics = output("plan", "--on", ON, "--indication", "fine-lines", "--patient", "P1", "-f", "ics", "--name", "Jane Doe")
    assert b"SUMMARY:Microneedling session 1 \xe2\x80\x94 Jane Doe" in ics
    md = output("aftercare", "--session-date", ON, "--indication", "fine-lines", "--name", "Jane Doe").decode()
    assert "For: Jane Doe" in md
    # Without a name there is still none, and --include-name alone still asks for one.
    assert b"Jane" not in output("plan", "--on", ON, "--indication", "fine-lines", "--patient", "P1", "-f", "ics")
    assert run("plan", "--on", ON, "--indication", "fine-lines", "--include-name") == (
        2,
        "",
        "needle: error: --include-name needs --name NAME\n",
    )
    assert run("aftercare", "--session-date", ON, "--indication", "fine-lines", "--name", " ") == (
        2,
        "",
        "needle: error: --name: give the patient's name, or leave --name out\n",
    )


# ------------------------------------------------------------------ needle's own files are not answers files


def test_a_saved_plan_is_not_an_answers_file(tmp_path: Path) -> None:
    path = saved_plan(tmp_path)
    assert run("screen", "--answers", str(path), "--on", ON) == (
        2,
        "",
        f"needle: error: {path} is a saved plan, not an answers file (use needle plan --from {path})\n",
    )


def test_other_needle_files_are_named(tmp_path: Path) -> None:
    record = screening_record(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nname = "Harbour"\n')
    protocol = tmp_path / "fl.toml"
    protocol.write_bytes(catalog.read_source("fine-lines")[0])
    screening = tmp_path / "sc.toml"
    screening.write_bytes(catalog.read_source("screening")[0])
    cases = tmp_path / "cases.toml"
    cases.write_text('[[cases]]\nname = "x"\n')
    expected = {
        record: f"a screening record, not an answers file (use needle plan --screening {record})",
        config: f"a clinic config file, not an answers file (use it with NEEDLE_CONFIG={config})",
        protocol: f"a treatment protocol, not an answers file (use needle plan --indication {protocol})",
        screening: f"a screening protocol, not an answers file (use needle screen --protocol {screening})",
        cases: f"a protocol test file, not an answers file (use needle protocols test {cases})",
    }
    for path, what in expected.items():
        assert run("screen", "--answers", str(path), "--on", ON) == (2, "", f"needle: error: {path} is {what}\n")


def test_a_clinic_question_named_like_a_sign_is_still_an_answer() -> None:
    from needlecli.answers import foreign_kind

    assert foreign_kind({"clinic": {"x": 1}}) == "config"
    assert foreign_kind({"clinic": {"x": 1}}, ids=("clinic",)) is None
    assert foreign_kind({"record": "needle-plan", "pregnant": False}) == "plan"
    assert foreign_kind({"pregnant": False}) is None


# ------------------------------------------------------------------ aftercare --out takes the format from the extension


@pytest.mark.parametrize(
    ("suffix", "start"), [(".html", b"<!DOCTYPE html>"), (".ics", b"BEGIN:VCALENDAR"), (".md", b"# ")]
)
def test_aftercare_out_takes_the_format_from_the_extension(tmp_path: Path, suffix: str, start: bytes) -> None:
    out = tmp_path / f"care{suffix}"
    args = ("aftercare", "--session-date", ON, "--indication", "fine-lines", "--patient", "P1", "--on", ON)
    code, _, err = run(*args, "--out", str(out))
    assert code == 0, err
    assert out.read_bytes().lstrip().upper().startswith(start.upper())


def test_aftercare_extension_contradicting_format_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "care.ics"
    args = ("aftercare", "--session-date", ON, "--indication", "fine-lines", "--patient", "P1", "--on", ON)
    assert run(*args, "--format", "md", "--out", str(out)) == (
        2,
        "",
        "needle: error: --out: the extension .ics means --format ics, not md\n",
    )
    assert not out.exists()
    # An extension needle does not write keeps the default (md), and --format still wins for it.
    txt = tmp_path / "care.txt"
    assert run(*args, "--out", str(txt))[0] == 0 and txt.read_text().startswith("# Aftercare")


def test_time_zones_in_any_case_or_with_spaces() -> None:
    """`--tz europe/london` and `America/New York` name zones; the file gets the database's spelling."""
    from needlecli.clinic import check_zone
    from needlecli.errors import UsageError

    assert check_zone("europe/london") == "Europe/London"
    assert check_zone("America/New York") == "America/New_York"
    assert check_zone("EUROPE/LONDON") == "Europe/London"
    assert check_zone("Europe/London") == "Europe/London"
    for bad, message in (
        ("factory", "--tz: 'Factory' is not an IANA time zone such as Europe/London"),
        ("Europe/Lodnon", "--tz: unknown time zone 'Europe/Lodnon' (did you mean Europe/London?)"),
    ):
        with pytest.raises(UsageError) as err:
            check_zone(bad)
        assert str(err.value) == message
    code, out, err_text = run("plan", "--patient", "P1", "-i", "fine-lines", "--on", "2026-12-01", "--time", "10:00",
                              "--tz", "europe/london", "--format", "ics")  # fmt: skip
    assert code == 0, err_text
    assert "TZID:Europe/London" in out and "DTSTART;TZID=Europe/London:20261201T100000" in out


def test_out_says_where_it_saved_and_csv_is_not_ics(tmp_path: Path) -> None:
    out = tmp_path / "p.ics"
    code, _, err = run("plan", "-i", "fine-lines", "--patient", "P1", "--on", ON, "--out", str(out))
    assert code == 0 and f"needle: saved to {out}" in err
    code, _, err = run("plan", "-i", "fine-lines", "--on", ON, "--format", "csv")
    assert code == 2 and "did you mean" not in err  # `csv` is not a misspelt `ics`
    code, _, err = run("plan", "-i", "fine-lines", "--on", ON, "--format", "icss")
    assert code == 2 and "did you mean 'ics'?" in err


def test_each_sessions_preparation_is_a_heading_of_its_own_level(tmp_path: Path) -> None:
    """ "Before session 2" is a section beside "Session 1", not inside it; a sentence (the painkillers
    to pause only if the physician approves) is not one more item of a list of words."""
    saved = tmp_path / "p.toml"
    assert run("plan", "-i", "fine-lines", "--patient", "P1", "--on", ON, "--start", "2027-01-04", "--format",
               "toml", "--out", str(saved))[0] == 0  # fmt: skip
    text = output("aftercare", "--plan", str(saved), "--format", "md", "--on", ON).decode()
    assert "## Before session 2 (" in text and "### Before session" not in text
    sheet = output("plan", "-i", "fine-lines", "--on", ON, "--start", "2027-01-04", "--format", "md").decode()
    assert "- Painkillers" not in sheet and "\nPainkillers such as ibuprofen" in sheet


@pytest.mark.parametrize("columns", ["80", "200"])
def test_the_plan_table_never_cuts_its_headers_at_80_columns(columns: str) -> None:
    """At 80 columns the table falls back to a list (no `hea…`, no date range a word per line); wide,
    it is the table."""
    code, out, _ = run("plan", "-i", "fine-lines", "--patient", "P1", "--start", "2027-01-04", "--on", ON, "--time",
                       "10:30", "--tz", "Europe/London", env={"COLUMNS": columns})  # fmt: skip
    assert code == 0
    assert "…" not in out and max(len(line.rstrip()) for line in out.splitlines()) <= int(columns)
    if columns == "80":
        assert "  Sun and waxing pause: Mon 21 Dec – Sun 3 Jan" in out
        assert "No retinoids, vitamin C or acids: Mon 4 – Sun 10 Jan" in out
    else:
        assert re.search(r"1\s+Mon 4 Jan 2027\s+10:30–11:30 GMT\s+Mon 21 Dec – Sun 3 Jan", out)


def test_a_dmy_clinic_reads_its_own_dates_and_machines_keep_iso(tmp_path: Path, no_user_config: Path) -> None:
    """The verdict panel and the notes a person reads say 28/02/2027 under DMY; JSON keeps ISO."""
    from tests.test_register import EXAMPLES

    no_user_config.write_text('[clinic]\ndate_order = "DMY"\n')
    code, out, _ = run("screen", "--answers", str(EXAMPLES / "deferred.toml"), "--on", "01/12/2026")
    assert code == 3 and "Earliest date: 28/02/2027 (Sun 28 Feb 2027)" in out and "2027-02-28" not in out
    code, out, _ = run("screen", "--answers", str(EXAMPLES / "deferred.toml"), "--on", "01/12/2026", "--json")
    assert json.loads(out)["earliest_date"] == "2027-02-28"
    code, _, err = run("plan", "-i", "fine-lines", "--on", "01/12/2026", "--start", "07/12/2026")
    assert code == 0 and not re.search(r"\d{4}-\d{2}-\d{2}", err), err


def test_a_dmy_clinic_reads_its_errors_in_its_own_order(tmp_path: Path, no_user_config: Path) -> None:
    """An error a person reads writes its dates as DMY (the --move suggestion, a past start, a batch
    row's line on stderr); a path or file name holding a date, and summary.csv, keep theirs."""
    no_user_config.write_text('[clinic]\ndate_order = "DMY"\n')
    saved = tmp_path / "plan.toml"
    code, _, err = run("plan", "--patient", "P1", "-i", "fine-lines", "--on", "01/12/2026", "--start", "07/12/2026",
                       "--format", "toml", "--out", str(saved))  # fmt: skip
    assert code == 0, err
    code, _, err = run("plan", "--from", str(saved), "--move", "2=09/01/2027", "--on", "01/12/2026")
    assert code == 2
    assert "--move 2=09/01/2027: Sat is not a clinic day; the first day every rule allows is 11/01/2027" in err, err
    code, _, err = run("plan", "-i", "fine-lines", "--on", "01/12/2026", "--start", "04/11/2026")
    assert code == 2 and "would be on 04/11/2026, before 01/12/2026" in err and not re.search(r"\d{4}-\d\d-", err)
    folder = tmp_path / "gone-2027-01-04"
    code, _, err = run("plan", "-i", "fine-lines", "--on", "01/12/2026", "--start", "07/12/2026", "--format", "ics",
                       "--out", str(folder / "plan-2027-01-04.ics"))  # fmt: skip
    assert code != 0 and "/gone-2027-01-04 does not exist" in err, err
    src = tmp_path / "list.csv"
    src.write_text("patient_id,indication,start\nP1,fine-lines,04/11/2026\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "o"), "--on", "01/12/2026")
    assert code == 1 and "row 2: " in err and "04/11/2026" in err and "2026-11-04" not in err, err
    assert "2026-11-04" in (tmp_path / "o" / "summary.csv").read_text()  # a machine's file keeps ISO
    # What was typed stays as typed: a patient id or a file name that looks like a date is not one.
    code, _, err = run("export", "2027-01-05", "--format", "json", "--on", "01/12/2026",
                       env={"NEEDLE_REGISTER": str(tmp_path / "r.sqlite3")})  # fmt: skip
    assert code != 0 and "2027-01-05" in err and "05/01/2027" not in err, err
    code, _, err = run("batch", str(tmp_path / "run 2027-01-04 list.csv"), "--out-dir", str(tmp_path / "p"))
    assert code == 2 and "run 2027-01-04 list.csv" in err, err
    # A register path or an --out file name holding a date, in an error or a note: as it is.
    junk = tmp_path / "run 2027-01-04 x" / "r.sqlite3"
    junk.parent.mkdir()
    junk.write_bytes(b"not a register" * 100)
    code, _, err = run("history", "P1", env={"NEEDLE_REGISTER": str(junk)})
    assert code != 0 and "run 2027-01-04 x" in err and "04/01/2027" not in err, err
    named = tmp_path / "plan 2027-01-04 v2.toml"
    for start in ("04/01/2027", "11/01/2027"):
        code, _, err = run("plan", "--patient", "P1", "-i", "fine-lines", "--start", start, "--on", "01/12/2026",
                           "--format", "toml", "--out", str(named))  # fmt: skip
        assert code == 0 and "04/01/2027 v2" not in err, err
    # The note of a run whose sessions share a start beyond capacity: its date in the clinic's order.
    no_user_config.write_text('[clinic]\ndate_order = "DMY"\nsession_time = "10:30"\ncapacity = 1\n')
    src.write_text("patient_id,indication,start\nP1,fine-lines,04/01/2027\nP2,fine-lines,04/01/2027\n")
    code, _, err = run("batch", str(src), "--out-dir", str(tmp_path / "q"), "--on", "01/12/2026")
    assert code == 0 and "the most 2 on 04/01/2027 at 10:30" in err, err


@pytest.mark.parametrize(
    ("text", "dmy"),
    [
        ("on 2027-01-04, then 2027-02-01.", "on 04/01/2027, then 01/02/2027."),
        ("cannot write /tmp/plan-2027-01-04.ics: gone", "cannot write /tmp/plan-2027-01-04.ics: gone"),
        ("2027-01-04T10:30 and 2027-01-04 10:30", "2027-01-04T10:30 and 04/01/2027 10:30"),
        ("start: '2027-01-04' is in the past", "start: '2027-01-04' is in the past"),
        ("--move 2=2027-01-09: Sat", "--move 2=09/01/2027: Sat"),
    ],
)
def test_dates_for_people_leave_paths_and_quotes_alone(text: str, dmy: str) -> None:
    assert dates.shown(text, "DMY") == dmy


def test_a_date_typed_as_a_patient_id_stays_as_typed() -> None:
    said = "2027-01-05 has no booked series (first session 2027-01-05, then 2027-02-02)"
    assert dates.shown(said, "DMY", typed=["export", "2027-01-05"]) == (
        "2027-01-05 has no booked series (first session 2027-01-05, then 02/02/2027)"
    )
    # A date inside something typed keeps it only where the text quotes that whole thing.
    error = "register /d/run 2027-01-04 x/r.sqlite3: damaged; the first session would be on 2027-01-04"
    assert dates.shown(error, "DMY", typed=["/d/run 2027-01-04 x/r.sqlite3", "plans/2027-01-04"]) == (
        "register /d/run 2027-01-04 x/r.sqlite3: damaged; the first session would be on 04/01/2027"
    )
    assert dates.shown(said, "MDY") == "01/05/2027 has no booked series (first session 01/05/2027, then 02/02/2027)"
    assert dates.shown(said, "ISO", typed=["x"]) == said
