"""The one document checker and the limits every loader shares.

Loaders: protocol files, answers files (TOML and JSON), screening records, saved plans and
the clinic config. Each limit is one clear error naming the file (exit 2 from the CLI),
never a traceback, a hang or exit 70, and never a repeat of what the file says.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from needlecli import catalog, config, documents, records
from needlecli.cli import app
from needlecli.errors import AnswersError, NeedleError, ProtocolError, RecordError, UsageError
from needlecli.plans import read_plan
from tests.plan_helpers import ALL_NO_FALSE

ON = "2026-11-20"
SECRET = "SECRET-7731"


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args), input=input)
    return r.exit_code, r.stdout, r.stderr


def answers_doc() -> dict[str, object]:
    return dict(ALL_NO_FALSE) | {"fitzpatrick": 2}


def make_record(folder: Path) -> Path:
    (folder / "a.json").write_text(json.dumps(answers_doc()))
    rec = folder / "rec.toml"
    code, _, err = run("screen", "-a", str(folder / "a.json"), "--on", ON, "--patient", "P1", "--out", str(rec))
    assert code == 0, err
    return rec


def make_saved_plan(folder: Path) -> Path:
    out = folder / "plan.toml"
    code, _, err = run(
        "plan", "--patient", "P1", "--indication", "fine-lines", "--on", ON, "--start", "2026-12-01",
        "--format", "toml", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    return out


def load_saved_plan(path: Path) -> object:
    return read_plan(records.read_toml_file(path, "saved plan"), str(path))


# (loader, error class, file suffix, valid content maker)
Loader = tuple[Callable[[Path], object], type[NeedleError], str, Callable[[Path], bytes]]
LOADERS: dict[str, Loader] = {
    "protocol": (
        lambda p: catalog.load(str(p)),
        ProtocolError,
        ".toml",
        lambda d: catalog.read_source("fine-lines")[0],
    ),
    "answers-toml": (
        records.read_answers_file,
        AnswersError,
        ".toml",
        lambda d: "".join(f"{k} = {json.dumps(v)}\n" for k, v in answers_doc().items()).encode(),
    ),
    "answers-json": (records.read_answers_file, AnswersError, ".json", lambda d: json.dumps(answers_doc()).encode()),
    "screening-record": (records.read_screening_record, RecordError, ".toml", lambda d: make_record(d).read_bytes()),
    "saved-plan": (load_saved_plan, RecordError, ".toml", lambda d: make_saved_plan(d).read_bytes()),
    "config": (config.load_config, UsageError, ".toml", lambda d: b'[clinic]\nname = "Harbour"\n'),
}


def toml_or_json(suffix: str, toml_value: str, json_value: str) -> bytes:
    """A document with a secret string and one bad value ``x`` (as TOML or JSON)."""
    if suffix == ".json":
        return f'{{"s": "{SECRET}", "x": {json_value}}}'.encode()
    return f's = "{SECRET}"\nx = {toml_value}\n'.encode()


CASES: dict[str, tuple[Callable[[str], bytes], str]] = {
    # 500 levels: the parsers themselves run out of stack (RecursionError) ...
    "deep-500": (lambda s: toml_or_json(s, "[" * 500 + "]" * 500, "[" * 500 + "]" * 500), "nested too deeply"),
    # ... 40 levels parse, and the depth check after parsing refuses them.
    "deep-40": (lambda s: toml_or_json(s, "[" * 40 + "]" * 40, "[" * 40 + "]" * 40), "nested too deeply"),
    "deep-tables": (
        lambda s: (
            toml_or_json(s, "1", "[" * 40 + "]" * 40)
            if s == ".json"
            else f's = "{SECRET}"\n[{".".join(["a"] * 40)}]\nx = 1\n'.encode()
        ),
        "nested too deeply",
    ),
    "huge-int": (lambda s: toml_or_json(s, "1" * 5000, "1" * 5000), "more than 4300 digits"),
    "huge-hex": (lambda s: toml_or_json(s, "0x" + "f" * 4000, "-" + "9" * 4301), "more than 4300 digits"),
    "many-items": (
        lambda s: toml_or_json(s, "[" + "0," * 100_001 + "]", "[" + "0," * 100_000 + "0]"),
        "too many keys and items (more than 100000)",
    ),
    "oversized": (lambda s: b"# " + b"x" * 1_000_000 + b"\n", "too large for"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_has_every_limit(tmp_path: Path, loader: str, case: str) -> None:
    load, error, suffix, _ = LOADERS[loader]
    make, expected = CASES[case]
    path = tmp_path / f"doc{suffix}"
    path.write_bytes(make(suffix))
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert expected in message and str(path) in message, message
    assert "\n" not in message and SECRET not in message


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_devices_and_pipes_are_refused_without_reading(tmp_path: Path, loader: str) -> None:
    load, error, suffix, _ = LOADERS[loader]
    fifo = tmp_path / f"fifo{suffix}"
    os.mkfifo(fifo)  # nobody writes: reading it would block forever
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(error, match="not a regular file") as info:
            load(path)
        assert str(path) in str(info.value)
    with pytest.raises(error, match="is a folder"):
        load(tmp_path)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_byte_order_mark_is_accepted(tmp_path: Path, loader: str) -> None:
    load, _, suffix, make = LOADERS[loader]
    folder = tmp_path / "made"
    folder.mkdir()
    path = tmp_path / f"doc{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + make(folder))
    assert load(path) is not None


def test_bom_protocol_keeps_its_bytes_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_bytes(b"\xef\xbb\xbf" + catalog.read_source("fine-lines")[0])
    code, out, err = run("protocols", "validate", str(path))
    assert code == 0 and err == "" and "ok (treatment protocol 'fine-lines'" in out
    assert catalog.load_treatment(str(path)).sessions.default == 3


def test_not_utf8_names_the_byte(tmp_path: Path) -> None:
    with pytest.raises(documents.DocumentError, match=r"not UTF-8 text \(byte 5\)"):
        documents.decode(b"\xef\xbb\xbfab\xff")


def test_a_file_just_under_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"# " + b"x" * (documents.MAX_BYTES - 4) + b"\n\n")
    assert len(documents.read_bytes(path, "a test file")) == documents.MAX_BYTES
    assert documents.parse_toml(documents.read_bytes(path, "a test file")) == {}


def test_shape_limits_are_exact() -> None:
    nested: object = 1
    for _ in range(documents.MAX_DEPTH - 1):
        nested = [nested]
    documents.check_shape(nested)  # 31 lists, each one level: 31 levels
    documents.check_shape({"x": nested})  # 32
    with pytest.raises(documents.DocumentError, match="nested too deeply"):
        documents.check_shape({"y": {"x": nested}})
    documents.check_shape(list(range(documents.MAX_ITEMS)))
    with pytest.raises(documents.DocumentError, match="too many"):
        documents.check_shape({"a": list(range(documents.MAX_ITEMS))})
    documents.check_shape({"x": 10**4299})
    with pytest.raises(documents.DocumentError, match="4300 digits"):
        documents.check_shape({"x": [-(10**4300)]})


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "needlecli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=os.environ | {"NEEDLE_DEBUG": ""},
    )


def test_cli_refuses_a_fifo_and_dev_zero_quickly(tmp_path: Path) -> None:
    fifo = tmp_path / "answers.toml"
    os.mkfifo(fifo)
    for args in (
        ["protocols", "validate", str(fifo)],
        ["screen", "-a", str(fifo), "--on", ON],
        ["screen", "-a", "/dev/zero", "--on", ON],
        ["plan", "--from", "/dev/zero"],
        ["plan", "--indication", "fine-lines", "--on", ON, "--screening", str(fifo)],
        ["plan", "--indication", str(fifo), "--on", ON],
    ):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "not a regular file" in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_cli_config_limits_are_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    monkeypatch.setenv("NEEDLE_CONFIG", str(cfg))
    for content, message in [
        (b"[clinic]\nx = " + b"[" * 500 + b"]" * 500, "nested too deeply"),
        (b"[clinic]\nsession_minutes = " + b"9" * 5000, "more than 4300 digits"),
        (b"[clinic]\nclosed = [" + b"2026-01-01," * 100_001 + b"]", "too large for a config file"),
    ]:
        cfg.write_bytes(content)
        code, out, err = run("config", "show")
        assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
        assert err.startswith(f"needle: error: config {cfg}: ")
    cfg.unlink()
    os.mkfifo(cfg)
    r = cli("config", "show")
    assert r.returncode == 2 and "not a regular file" in r.stderr and r.stderr.count("\n") == 1


def test_cli_deep_protocol_is_exit_2_not_70(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "{a = " * 500 + "1" + "}" * 500 + "\n")  # about 3 KB
    code, _, err = run("protocols", "validate", str(deep))
    assert code == 2 and err.strip() == f"{deep}: nested too deeply (more than 32 levels of tables and arrays)"
    code, _, err = run("plan", "--indication", str(deep), "--on", ON)
    assert code == 2 and err.count("\n") == 1 and "nested too deeply" in err


def test_answers_from_stdin_are_bounded_and_checked() -> None:
    code, _, err = run("screen", "-a", "-", "--on", ON, input="#" * (documents.MAX_BYTES + 10))
    assert code == 2 and "-: too large for an answers file" in err
    code, _, err = run("screen", "-a", "-", "--on", ON, input='{"x": ' + "[" * 600 + "]" * 600 + "}")
    assert code == 2 and "nested too deeply" in err
    code, out, err = run("screen", "-a", "-", "--on", ON, "--json", input="\ufeff" + json.dumps(answers_doc()))
    assert code == 0, err
    assert json.loads(out)["verdict"] == "eligible"


def test_answers_errors_never_repeat_values(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(f'pregnant = "{SECRET}"\nnope = "{SECRET}"\n')
    code, _, err = run("screen", "-a", str(path), "--on", ON)
    assert code == 2 and SECRET not in err and "unknown question 'nope'" in err


# ----------------------------------------------------------------- the checker


def test_checker_collects_every_problem_with_key_paths() -> None:
    doc = tomllib.loads(
        """
        [request]
        sessions = "three"
        start = 2026-12-01T10:00:00
        pih = 1
        closed = [2026-12-24, "soon", 2026-12-25]
        names = ["a", ""]
        depth = true
        [[visits]]
        number = 0
        [[visits]]
        number = 2
        """
    )
    c = documents.Checker()
    req = c.table(doc, "request", "")
    assert req is not None
    assert c.integer(req, "sessions", "request") is None
    assert c.date(req, "start", "request") is None
    assert c.boolean(req, "pih", "request") is None
    assert c.dates(req, "closed", "request") == (dt.date(2026, 12, 24), dt.date(2026, 12, 25))
    assert c.strings(req, "names", "request") == ()
    assert c.number(req, "depth", "request", unit="mm") is None
    assert c.string(req, "title", "request") == ""
    assert c.optional_string(req, "time", "request") is None
    assert c.date(req, "not_before", "request", required=False) is None
    numbers = [c.integer(v, "number", p, 1, 20) for p, v in c.tables(doc, "visits", "")]
    assert numbers == [None, 2]
    assert c.table(doc, "missing", "") is None
    assert c.problems == [
        "request.sessions: must be a whole number, not a string",
        "request.start: must be a date, not a date-time",
        "request.pih: must be true or false, not a number",
        "request.closed[1]: must be a date (YYYY-MM-DD)",
        "request.names: must be a list of non-empty strings",
        "request.depth: must be a number of mm, not a boolean",
        "request.title: missing",
        "visits[0].number: must be between 1 and 20, got 0",
        "missing: missing table",
    ]
    assert documents.summary(c.problems, limit=2).endswith("(and 7 more problem(s))")


def test_checker_suggests_the_near_miss_with_its_path() -> None:
    c = documents.Checker()
    c.unknown({"holiday": "GB", "zzz": 1, "days": "mon-fri"}, "clinic", ("holidays", "days"))
    assert c.problems == [
        "clinic.holiday: unknown key (did you mean 'clinic.holidays'?)",
        "clinic.zzz: unknown key",
    ]


def test_protocol_near_miss_names_the_key_path(tmp_path: Path) -> None:
    text = catalog.read_source("fine-lines")[0].decode().replace("days_before =", "day_before =")
    problems, _ = catalog.check(text.encode(), "x")
    assert "pause[0].day_before: unknown key (did you mean 'pause[0].days_before'?)" in problems
    assert "pause[0].days_before: missing" in problems


def test_saved_plan_lists_every_problem(tmp_path: Path) -> None:
    saved = make_saved_plan(tmp_path)
    text = saved.read_text()
    text = text.replace("sessions = 3", 'sessions = "3"').replace("boosters = 0", "boosters = true")
    saved.write_text(text)
    code, _, err = run("plan", "--from", str(saved))
    assert code == 2 and err.count("\n") == 1
    assert "request.sessions: must be a whole number, not a string" in err
    assert "request.boosters: must be a whole number, not a boolean" in err


def test_screening_record_lists_every_problem(tmp_path: Path) -> None:
    rec = make_record(tmp_path)
    doc = tomllib.loads(rec.read_text())
    text = rec.read_text().replace(f"evaluated_on = {doc['evaluated_on']}", 'evaluated_on = "x"')
    text = text.replace('verdict = "eligible"', "verdict = 3")
    rec.write_text(text)
    with pytest.raises(RecordError) as info:
        records.read_screening_record(rec)
    assert "verdict: must be a string, not a number" in str(info.value)
    assert "evaluated_on: must be a date (YYYY-MM-DD), not a string" in str(info.value)


# ----------------------------------------------------------------- config


def test_config_does_not_import_typer() -> None:
    code = (
        "import sys, needlecli.config as c; c.config_path(); c.load_config(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'rich')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_config_folder_matches_click(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import typer

    monkeypatch.delenv("NEEDLE_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.config_path() == Path(typer.get_app_dir("needle")) / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert config.config_path() == Path(typer.get_app_dir("needle")) / "config.toml"
    if sys.platform.startswith("linux"):
        assert config.config_path() == tmp_path / ".config" / "needle" / "config.toml"
    home = Path(os.path.expanduser("~"))
    assert config.app_dir("needle", "linux", {"XDG_CONFIG_HOME": "/etc/xdg"}) == Path("/etc/xdg/needle")
    assert config.app_dir("needle", "linux", {}) == home / ".config" / "needle"
    assert config.app_dir("needle", "darwin", {}) == home / "Library" / "Application Support" / "needle"
    win = config.app_dir("needle", "win32", {"APPDATA": "C:\\Users\\a\\AppData\\Roaming"})
    assert str(win) == os.path.join("C:\\Users\\a\\AppData\\Roaming", "needle")
    assert config.app_dir("needle", "win32", {}) == home / "needle"


def write_config(monkeypatch: pytest.MonkeyPatch, folder: Path, text: str) -> Path:
    path = folder / "config.toml"
    path.write_text(text)
    monkeypatch.setenv("NEEDLE_CONFIG", str(path))
    return path


def test_new_config_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine").mkdir()
    path = write_config(
        monkeypatch,
        tmp_path,
        '[clinic]\naddress = "1 Harbour St"\ndate_order = "dmy"\ndevice_max_depth_mm = 2\nprotocols_dir = "mine"\n',
    )
    cfg = config.load_config()
    assert cfg.address == "1 Harbour St" and cfg.date_order == "DMY" and cfg.device_max_depth_mm == 2.0
    assert cfg.protocols_dir == tmp_path / "mine" and cfg.protocols_dir.is_absolute()
    rows = {k: (v, src) for k, v, src in config.describe(cfg)}
    assert rows["date_order"] == ("DMY", str(path))
    assert rows["device_max_depth_mm"] == ("2 mm", str(path))
    assert rows["protocols_dir"] == (str(tmp_path / "mine"), str(path))
    assert rows["address"] == ("1 Harbour St", str(path))
    code, out, _ = run("config", "show", "--json")
    assert code == 0 and json.loads(out)["values"]["protocols_dir"]["value"] == str(tmp_path / "mine")
    # Defaults.
    write_config(monkeypatch, tmp_path, "[clinic]\n")
    cfg = config.load_config()
    assert (cfg.address, cfg.date_order, cfg.device_max_depth_mm, cfg.protocols_dir) == (None, "ISO", None, None)


def test_protocols_dir_home_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "protos").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    write_config(monkeypatch, tmp_path, '[clinic]\nprotocols_dir = "~/protos"\n')
    assert config.load_config().protocols_dir == home / "protos"
    write_config(monkeypatch, tmp_path, f"[clinic]\nprotocols_dir = {json.dumps(str(home / 'protos'))}\n")
    assert config.load_config().protocols_dir == home / "protos"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('date_order = "YMD"', "clinic.date_order: must be ISO, DMY or MDY"),
        ("date_order = 1", "clinic.date_order: must be a string, not a number"),
        ("device_max_depth_mm = 0", "clinic.device_max_depth_mm: must be more than 0 and at most 3.0 mm, got 0"),
        ("device_max_depth_mm = 3.5", "clinic.device_max_depth_mm: must be more than 0 and at most 3.0 mm, got 3.5"),
        ("device_max_depth_mm = true", "clinic.device_max_depth_mm: must be a number of mm, not a boolean"),
        ('device_max_depth_mm = "2"', "clinic.device_max_depth_mm: must be a number of mm, not a string"),
        ('address = ""', "clinic.address: must not be empty"),
        ('protocols_dir = "nowhere"', "clinic.protocols_dir: no such folder: "),
        ('protocols_dir = "config.toml"', "clinic.protocols_dir: not a folder: "),
        ("protocols_dir = 5", "clinic.protocols_dir: must be a string, not a number"),
        ('holiday = "GB"', "clinic.holiday: unknown key (did you mean 'clinic.holidays'?)"),
        ('adress = "x"', "clinic.adress: unknown key (did you mean 'clinic.address'?)"),
    ],
)
def test_bad_new_config_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, message: str) -> None:
    path = write_config(monkeypatch, tmp_path, f"[clinic]\n{line}\n")
    with pytest.raises(UsageError) as info:
        config.load_config()
    assert str(info.value).startswith(f"config {path}: {message}")
    code, _, err = run("protocols", "list")
    assert code == 2 and err.count("\n") == 1 and message in err


def test_config_problems_are_all_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(monkeypatch, tmp_path, 'days = "mon"\n[clinic]\nsession_minutes = 4\nclosed = [1]\nname = 3\n')
    with pytest.raises(UsageError) as info:
        config.load_config()
    message = str(info.value)
    for part in (
        "days: unknown key (settings go under [clinic])",
        "clinic.session_minutes: must be between 5 and 480, got 4",
        "clinic.closed[0]: must be a date (YYYY-MM-DD)",
        "clinic.name: must be a string, not a number",
    ):
        assert part in message


def test_starter_config_shows_the_new_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path / "config.toml"))
    code, _, err = run("config", "init")
    assert code == 0, err
    text = (tmp_path / "config.toml").read_text()
    for key in ("address", "date_order", "device_max_depth_mm", "protocols_dir"):
        assert f"{key} = " in text
    cfg = config.load_config()
    assert cfg.date_order == "ISO" and cfg.uid_key and len(cfg.uid_key) >= 16
    code, out, _ = run("config", "show")
    assert code == 0 and "date_order" in out and "protocols_dir" in out


# ----------------------------------------------------------------- protocols_dir lookup


def clinic_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "protocols"
    folder.mkdir()
    text = catalog.read_source("fine-lines")[0].decode()
    (folder / "fine-lines.toml").write_text(text.replace('version = "3.2.0"', 'version = "9.9.9"'))
    own = text.replace('name = "fine-lines"', 'name = "neck-lines"').replace('title = "', 'title = "Neck: ', 1)
    (folder / "neck-lines.toml").write_text(own)
    screening = catalog.read_source("screening")[0].decode()
    (folder / "screening.toml").write_text(screening.replace('version = "', 'version = "clinic-', 1))
    return folder


def test_the_clinic_copy_wins_over_the_bundled_one(tmp_path: Path) -> None:
    folder = clinic_folder(tmp_path)
    proto = catalog.load_treatment("fine-lines", protocols_dir=folder)
    assert proto.info.version == "9.9.9"
    assert proto.info.origin == str((folder / "fine-lines.toml").absolute())
    assert catalog.load_treatment(catalog.ref_of(proto.info.origin)).info.version == "9.9.9"
    assert catalog.load_treatment("fine-lines").info.version == "3.2.0"  # no folder: bundled
    assert catalog.load_screening("screening", protocols_dir=folder).info.version.startswith("clinic-")
    assert catalog.load_treatment("deep-scars", protocols_dir=folder).info.origin == "bundled:deep-scars"


def test_a_name_only_in_the_clinic_folder_is_found(tmp_path: Path) -> None:
    folder = clinic_folder(tmp_path)
    assert catalog.load_treatment("neck-lines", protocols_dir=folder).info.name == "neck-lines"
    assert "neck-lines" in catalog.names(folder) and "deep-scars" in catalog.names(folder)
    assert catalog.names() == catalog.bundled_names()
    with pytest.raises(ProtocolError, match="unknown protocol"):
        catalog.load_treatment("neck-lines")
    with pytest.raises(ProtocolError, match="did you mean 'neck-lines'"):
        catalog.load_treatment("neck-line", protocols_dir=folder)
    # A path still loads that file, whatever the folder holds.
    path = folder / "neck-lines.toml"
    assert catalog.load_treatment(str(path), protocols_dir=tmp_path).info.origin == str(path)


def test_protocols_list_and_show_use_the_configured_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = clinic_folder(tmp_path)
    write_config(monkeypatch, tmp_path, '[clinic]\nprotocols_dir = "protocols"\n')
    code, out, err = run("protocols", "list")
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert sorted(lines) == ["acne-scars", "deep-scars", "fine-lines", "neck-lines", "screening", "texture"]
    assert "9.9.9" in lines["fine-lines"] and str(folder / "fine-lines.toml") in lines["fine-lines"]
    assert "overrides the bundled one" in lines["fine-lines"]
    assert lines["deep-scars"].endswith("(bundled)")
    assert str(folder / "neck-lines.toml") in lines["neck-lines"] and "overrides" not in lines["neck-lines"]
    code, out, _ = run("protocols", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["fine-lines"]["source"] == "clinic" and rows["fine-lines"]["overrides_bundled"] is True
    assert rows["texture"]["source"] == "bundled" and rows["texture"]["path"] is None
    code, out, _ = run("protocols", "show", "fine-lines")
    assert code == 0 and 'version = "9.9.9"' in out
    code, out, _ = run("protocols", "show", "neck-lines")
    assert code == 0 and 'name = "neck-lines"' in out


def test_an_invalid_clinic_file_is_listed_as_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = clinic_folder(tmp_path)
    (folder / "broken.toml").write_text("[protocol]\n")
    write_config(monkeypatch, tmp_path, f"[clinic]\nprotocols_dir = {json.dumps(str(folder))}\n")
    code, out, err = run("protocols", "list")
    assert code == 2 and "broken" in out and "INVALID" in out and "fine-lines" in out
    assert err.count("\n") == 1 and str(folder / "broken.toml") in err


def test_a_missing_protocols_dir_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(monkeypatch, tmp_path, '[clinic]\nprotocols_dir = "gone"\n')
    for args in (["protocols", "list"], ["protocols", "show", "fine-lines"], ["config", "show"]):
        code, out, err = run(*args)
        assert code == 2 and out == "" and err.count("\n") == 1, (args, err)
        assert f"config {path}: clinic.protocols_dir: no such folder: {tmp_path / 'gone'}" in err
