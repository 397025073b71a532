"""Fuzz every loader through the CLI: each command succeeds or prints exactly one clear line on
stderr with exit 2 (1 for batch row failures; 3/4 are screening outcomes) — never a traceback,
never an internal error, never a partial file."""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from needlecli import catalog
from needlecli.model import REQUIRED_QUESTIONS
from tests.harness import run
from tests.plan_helpers import ALL_NO_FALSE

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
ON = "2026-12-01"

# Values a TOML file can hold, nested a little.
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from([*REQUIRED_QUESTIONS, "pregnent", "", "x y", "__import__"])


def invoke(*args: str, input: str | None = None, allowed: tuple[int, ...] = (0, 2)) -> tuple[int, str]:
    r = run(*args, input=input)  # a crash fails here, with its traceback
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.exit_code in allowed, (r.exit_code, r.stderr)
    if args[:2] == ("protocols", "validate"):  # lists every problem, one line each, prefixed by the file
        assert all(line.startswith(args[2] + ": ") for line in r.stderr.splitlines()), r.stderr
    elif r.exit_code == 2:
        assert r.stderr.startswith("needle: error: ") and r.stderr.count("\n") == 1, r.stderr
    return r.exit_code, r.stderr


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@FUZZ
@given(st.binary(max_size=200))
def test_answers_files_of_random_bytes(tmp_path_factory, data: bytes) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("a")
    for name in ("a.toml", "a.json", "a"):
        (d / name).write_bytes(data)
        invoke("screen", "--answers", str(d / name), "--on", ON, "--out", str(d / "rec.toml"), allowed=(2,))
    assert not (d / "rec.toml").exists() and leftovers(d) == []


@FUZZ
@given(st.dictionaries(KEYS, VALUES, max_size=20))
def test_answers_toml_documents(tmp_path_factory, doc: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    d = tmp_path_factory.mktemp("t")
    try:
        (d / "a.toml").write_text(tomli_w.dumps(doc))
    except (TypeError, ValueError):
        return
    invoke("screen", "--answers", str(d / "a.toml"), "--on", ON, "--json", allowed=(0, 2, 3, 4))


@FUZZ
@given(st.one_of(JSON_VALUES, st.dictionaries(KEYS, JSON_VALUES, max_size=20)))
def test_answers_json_documents(tmp_path_factory, doc: object) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("j")
    (d / "a.json").write_text(json.dumps(doc))
    invoke("screen", "--answers", str(d / "a.json"), "--on", ON, allowed=(0, 2, 3, 4))


@FUZZ
@given(st.text(max_size=25))
def test_flag_values(text: str) -> None:
    for flag in ("--on", "--start", "--tz", "--time", "--clinic-days", "--closed", "--holidays", "--patient"):
        invoke("plan", "--indication", "fine-lines", "--on", ON, flag, text, "--format", "json")
    invoke("plan", "--indication", text, "--on", ON, "--format", "json")
    invoke("screen", "--on", text, "--answers", "/nonexistent.toml")


def paths_of(doc: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths_of(v, (*prefix, i))
    return out


def mutate(doc: dict, path: tuple[object, ...], value: object, delete: bool) -> dict:  # type: ignore[type-arg]
    import copy

    doc = copy.deepcopy(doc)
    node: object = doc
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value  # type: ignore[index]
    return doc


@st.composite
def mutated(draw: st.DrawFn, doc: dict) -> dict:  # type: ignore[type-arg]
    out = doc
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(out)
        if not paths:
            break
        out = mutate(out, draw(st.sampled_from(paths)), draw(VALUES), draw(st.booleans()))
    return out


PROTOCOL = tomllib.loads(catalog.read_source("fine-lines")[0].decode())


@FUZZ
@given(mutated(PROTOCOL))
def test_protocol_files(tmp_path_factory, doc: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    d = tmp_path_factory.mktemp("p")
    try:
        (d / "p.toml").write_text(tomli_w.dumps(doc))
    except (TypeError, ValueError):
        return
    invoke("protocols", "validate", str(d / "p.toml"))
    invoke(
        "plan",
        "--indication",
        str(d / "p.toml"),
        "--on",
        ON,
        "--patient",
        "P1",
        "--format",
        "ics",
        "--out",
        str(d / "p.ics"),
    )
    assert leftovers(d) == []


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "days",
                "closed",
                "holidays",
                "time_zone",
                "session_time",
                "session_minutes",
                "clinician",
                "phone",
                "bogus",
            ]
        ),
        VALUES,
        max_size=6,
    )
)
def test_config_files(tmp_path_factory, clinic: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    d = tmp_path_factory.mktemp("c")
    try:
        (d / "config.toml").write_text(tomli_w.dumps({"clinic": clinic}))
    except (TypeError, ValueError):
        return
    os.environ["NEEDLE_CONFIG"] = str(d / "config.toml")
    try:
        invoke("config", "show")
        invoke("plan", "--indication", "fine-lines", "--on", ON, "--format", "json")
    finally:
        del os.environ["NEEDLE_CONFIG"]


def saved_plan_doc() -> dict:  # type: ignore[type-arg]
    r = run(
        "plan", "--patient", "P1", "--indication", "fine-lines", "--on", ON, "--start", "2026-12-01",
        "--boosters", "1", "--time", "10:00", "--tz", "Europe/London", "--format", "toml",
    )  # fmt: skip
    return tomllib.loads(r.stdout)


SAVED = saved_plan_doc()


@FUZZ
@given(mutated(SAVED), st.sampled_from(["", "2=2027-01-05", "1=2026-12-02", "3=2027-02-01"]))
def test_saved_plans(tmp_path_factory, doc: dict, move: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    d = tmp_path_factory.mktemp("s")
    try:
        (d / "plan.toml").write_text(tomli_w.dumps(doc))
    except (TypeError, ValueError):
        return
    args = ["plan", "--from", str(d / "plan.toml"), "--on", ON, "--format", "ics", "--out", str(d / "out.ics")]
    invoke(*args, *(["--move", move] if move else []))
    assert leftovers(d) == []


def screening_record_doc() -> dict:  # type: ignore[type-arg]
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        answers = dict(ALL_NO_FALSE) | {"fitzpatrick": 5, "isotretinoin_last_dose": "2026-08-31"}
        (Path(t) / "a.json").write_text(json.dumps(answers))
        run("screen", "-a", f"{t}/a.json", "--on", ON, "--patient", "P1", "--out", f"{t}/r.toml")
        return tomllib.loads((Path(t) / "r.toml").read_text())


RECORD = screening_record_doc()


@FUZZ
@given(mutated(RECORD))
def test_screening_records(tmp_path_factory, doc: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    d = tmp_path_factory.mktemp("r")
    try:
        (d / "rec.toml").write_text(tomli_w.dumps(doc))
    except (TypeError, ValueError):
        return
    code, _ = invoke(
        "plan",
        "--indication",
        "fine-lines",
        "--on",
        ON,
        "--screening",
        str(d / "rec.toml"),
        "--format",
        "json",
        allowed=(0, 2, 3, 4),
    )
    if code == 0:
        # Whatever the record says, a plan never starts inside the answers' deferral (2027-02-28).
        r = run(
            "plan", "--indication", "fine-lines", "--on", ON, "--screening", str(d / "rec.toml"), "--format", "json"
        )
        first = json.loads(r.stdout)["sessions"][0]["date"]
        assert first >= "2027-02-28" or doc.get("answers", {}).get("isotretinoin_last_dose") != dt.date(2026, 8, 31)


CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["fine-lines", "deep-scars", "2026-12-01", "3", "10:30", "Europe/London", "yes", "no", "", "../x", "."]
    ),
)


@FUZZ
@given(st.lists(st.lists(CELL, min_size=0, max_size=5), max_size=8), st.sampled_from([",", ";"]))
def test_batch_rows(tmp_path_factory, rows: list, sep: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    import csv
    import io

    d = tmp_path_factory.mktemp("b")
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep)
    w.writerow(["patient_id", "indication", "start", "sessions", "time"])
    w.writerows(rows)
    (d / "l.csv").write_text(buf.getvalue())
    out = d / "out"
    invoke(
        "batch", str(d / "l.csv"), "--out-dir", str(out), "--format", "ics", "--on", ON, "--jobs", "1", allowed=(0, 1)
    )
    files = [p for p in d.rglob("*") if p.is_file()]
    assert all(p == d / "l.csv" or p.parent == out for p in files)  # nothing escapes the output folder
    assert leftovers(out) == []


HEADER_COLUMNS = ["patient_id", "indication", "start", "sessions", "time", "name", "tz", "interval_weeks"]


@FUZZ
@given(
    st.permutations(HEADER_COLUMNS).flatmap(lambda cols: st.integers(3, len(cols)).map(lambda n: cols[:n])),
    st.lists(st.lists(st.one_of(CELL, st.text(alphabet="\n\r\"';,\x00é", max_size=6)), max_size=9), max_size=6),
    st.binary(max_size=40),
)
def test_batch_any_header_any_bytes(tmp_path_factory, header: list, rows: list, junk: bytes) -> None:  # type: ignore[no-untyped-def, type-arg]
    import csv
    import io

    d = tmp_path_factory.mktemp("bb")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    (d / "l.csv").write_bytes(buf.getvalue().encode("utf-8", "surrogatepass") + junk)
    out = d / "out"
    invoke(
        "batch",
        str(d / "l.csv"),
        "--out-dir",
        str(out),
        "--format",
        "md",
        "--on",
        ON,
        "--jobs",
        "1",
        "--include-name",
        allowed=(0, 1, 2),
    )
    if out.exists():
        assert leftovers(out) == []
        assert all(p.parent == out for p in out.rglob("*"))
