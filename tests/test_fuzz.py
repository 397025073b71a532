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
        run("screen", "-a", f"{t}/a.json", "--on", ON, "--patient", "P1", "--out", f"{t}/r.toml", "--no-register")
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


# ----------------------------------------------------------------- derived fields never loosen a plan
#
# What a screening imposes on a plan is re-derived from the answers every time a file is read
# (SPEC: Invariants). These fuzzers edit the *derived* fields of a saved plan and of a screening
# record (never the answers) and check the plan read back against the plan from the unedited
# file: no session earlier, no pause, aftercare or antiviral window missing, shorter or with fewer
# items, no zone deeper. Refusing the edited file (exit 2, or a screening refusal) is fine too.

#: A patient whose screening changes the plan every way it can: a dated deferral (isotretinoin,
#: which also makes depths shallower for 12 months), retinoid use, herpes (antiviral windows),
#: Fitzpatrick V (shallower), anticoagulants and lesions (notes).
IMPOSING = dict(ALL_NO_FALSE) | {
    "isotretinoin_last_dose": "2026-08-31",
    "herpes_history": True,
    "fitzpatrick": 5,
    "uses_retinoids": True,
    "anticoagulants": True,
    "lesions_in_area": True,
}


def imposing_files() -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    """(the screening record, the saved plan made from it, that plan as `plan --from` shows it)."""
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        (Path(t) / "a.json").write_text(json.dumps(IMPOSING))
        rec, plan = Path(t) / "r.toml", Path(t) / "p.toml"
        run("screen", "-a", f"{t}/a.json", "--on", ON, "--patient", "P1", "--out", str(rec), "--no-register")
        r = run(
            "plan", "--indication", "fine-lines", "--on", ON, "--screening", str(rec), "--boosters", "1",
            "--format", "toml", "--out", str(plan),
        )  # fmt: skip
        assert r.exit_code == 0, r.stderr
        shown = run("plan", "--from", str(plan), "--on", ON, "--format", "json")
        assert shown.exit_code == 0, shown.stderr
        return tomllib.loads(rec.read_text()), tomllib.loads(plan.read_text()), json.loads(shown.stdout)


IMPOSING_RECORD, IMPOSING_PLAN, IMPOSING_SHOWN = imposing_files()


def no_looser(got: dict, base: dict) -> None:  # type: ignore[type-arg]
    """``got`` (a `plan --format json` document) is at least as strict as ``base``."""
    assert len(got["sessions"]) == len(base["sessions"])
    for g, b in zip(got["sessions"], base["sessions"], strict=True):
        assert g["date"] >= b["date"], ("a session moved earlier", g["date"], b["date"])
    for b in base["windows"]:
        covering = [
            g
            for g in got["windows"]
            if g["kind"] == b["kind"]
            and g["session"] == b["session"]
            and g["first_day"] <= b["first_day"]
            and g["last_day"] >= b["last_day"]
            and set(b["items"]) <= set(g["items"])
        ]
        assert covering, ("a window went missing, got shorter or lost items", b)
    base_depth = {z["zone"]: z["max"] for z in base["depth_mm"]}
    for z in got["depth_mm"]:
        assert z["max"] <= base_depth.get(z["zone"], 0), ("deeper", z)
    for gs, bs in zip(got["sessions"], base["sessions"], strict=True):
        deepest = {z["zone"]: z["max"] for z in bs.get("depth_mm", [])}
        for z in gs.get("depth_mm", []):
            assert z["max"] <= deepest.get(z["zone"], 0), ("deeper at a session", gs["number"], z)


def derived_paths(doc: dict, prefixes: tuple[tuple[object, ...], ...]) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
    """Every path in ``doc`` under one of ``prefixes`` (a prefix may name a key that is not there yet)."""
    found = [p for p in paths_of(doc) if any(p[: len(x)] == x for x in prefixes)]
    return found + [x for x in prefixes if x not in found]


def near_dates(base: dt.date) -> st.SearchStrategy[dt.date]:
    return st.integers(-200, 200).map(lambda n: base + dt.timedelta(days=n))


#: Values an editor would put into a derived field: dates near the plan's, switches, other
#: verdicts, kinds and categories, depths, lists and nothing at all.
DERIVED_VALUES = st.one_of(
    near_dates(dt.date(2027, 3, 1)),
    st.booleans(),
    st.sampled_from(["eligible", "caution", "defer", "contraindicated", "pause", "aftercare", "antiviral", ""]),
    st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.5, 3.0, -1.0, 10.0]),
    st.just([]),
    st.lists(st.sampled_from(["makeup", "retinoids", "x"]), max_size=2),
    st.integers(-1, 5),
    st.text(max_size=10),
)


@st.composite
def derived_edits(draw: st.DrawFn, doc: dict, prefixes: tuple[tuple[object, ...], ...]) -> dict:  # type: ignore[type-arg]
    out = doc
    for _ in range(draw(st.integers(1, 4))):
        paths = derived_paths(out, prefixes)
        path = draw(st.sampled_from(paths))
        node: object = out
        try:
            for key in path[:-1]:
                node = node[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(node, (dict, list)):
            continue
        if isinstance(node, list) and not (isinstance(path[-1], int) and path[-1] < len(node)):
            continue
        if isinstance(node, list) and draw(st.booleans()):  # delete a window, a note, a finding
            import copy

            out = copy.deepcopy(out)
            parent: object = out
            for key in path[:-1]:
                parent = parent[key]  # type: ignore[index]
            del parent[path[-1]]  # type: ignore[attr-defined]
            continue
        delete = draw(st.booleans()) and isinstance(node, dict) and path[-1] in node
        out = mutate(out, path, draw(DERIVED_VALUES), delete)
    return out


PLAN_DERIVED: tuple[tuple[object, ...], ...] = (
    ("request", "not_before"),
    ("request", "uses_retinoids"),
    ("screening", "verdict"),
    ("screening", "earliest_date"),
    ("windows",),
    ("sessions", 0, "depth_mm"),
    ("sessions", 1, "depth_mm"),
    ("sessions", 2, "depth_mm"),
    ("boosters",),
    ("depth_mm",),
    ("notes",),
)
RECORD_DERIVED: tuple[tuple[object, ...], ...] = (
    ("verdict",),
    ("earliest_date",),
    ("findings",),
    ("overrides",),
)


@FUZZ
@given(derived_edits(IMPOSING_PLAN, PLAN_DERIVED))
def test_editing_a_saved_plans_derived_fields_never_loosens_it(tmp_path_factory, doc: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    d = tmp_path_factory.mktemp("dp")
    try:
        (d / "plan.toml").write_text(tomli_w.dumps(doc))
    except (TypeError, ValueError):
        return
    code, _ = invoke("plan", "--from", str(d / "plan.toml"), "--on", ON, "--format", "json")
    if code == 0:
        r = run("plan", "--from", str(d / "plan.toml"), "--on", ON, "--format", "json")
        no_looser(json.loads(r.stdout), IMPOSING_SHOWN)
    code, _ = invoke("aftercare", "--plan", str(d / "plan.toml"), "--on", ON, "--format", "md")


@FUZZ
@given(derived_edits(IMPOSING_RECORD, RECORD_DERIVED))
def test_editing_a_records_derived_fields_never_loosens_the_plan(tmp_path_factory, doc: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    d = tmp_path_factory.mktemp("dr")
    try:
        (d / "rec.toml").write_text(tomli_w.dumps(doc))
    except (TypeError, ValueError):
        return
    args = ("plan", "--indication", "fine-lines", "--on", ON, "--boosters", "1", "--format", "json")
    code, _ = invoke(*args, "--screening", str(d / "rec.toml"), allowed=(0, 2, 3, 4))
    if code == 0:
        r = run(*args, "--screening", str(d / "rec.toml"))
        no_looser(json.loads(r.stdout), IMPOSING_SHOWN)


@FUZZ
@given(
    st.sampled_from(["evaluated_on", "earliest_date", "created_on", "start", "not_before", "session", "until"]),
    st.sampled_from([dt.date(1899, 12, 31), dt.date(1, 1, 1), dt.date(2201, 1, 1), dt.date(9999, 12, 31)]),
)
def test_a_date_past_the_year_limits_anywhere_is_one_line(tmp_path_factory, where: str, day: dt.date) -> None:  # type: ignore[no-untyped-def]
    import copy

    d = tmp_path_factory.mktemp("y")
    rec, plan = copy.deepcopy(IMPOSING_RECORD), copy.deepcopy(IMPOSING_PLAN)
    if where == "evaluated_on":
        rec["evaluated_on"] = plan["screening"]["evaluated_on"] = day
    elif where == "earliest_date":
        rec["earliest_date"] = plan["screening"]["earliest_date"] = day
    elif where == "until":
        rec["findings"][0]["until"] = day
    elif where == "created_on":
        plan["created_on"] = day
    elif where == "session":
        plan["sessions"][-1]["date"] = day
    else:
        plan["request"][where] = day
    if rec != IMPOSING_RECORD:
        (d / "rec.toml").write_text(tomli_w.dumps(rec))
        invoke("plan", "--indication", "fine-lines", "--on", ON, "--screening", str(d / "rec.toml"), allowed=(2,))
    if plan != IMPOSING_PLAN:
        (d / "plan.toml").write_text(tomli_w.dumps(plan))
        invoke("plan", "--from", str(d / "plan.toml"), "--on", ON, "--format", "ics", allowed=(2,))
        invoke("aftercare", "--plan", str(d / "plan.toml"), "--on", ON, allowed=(2,))
