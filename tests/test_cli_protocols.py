"""`needle protocols list | show | validate`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from needlecli import catalog
from tests.harness import run


def test_list() -> None:
    code, out, _ = run("protocols", "list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == ["acne-scars", "deep-scars", "fine-lines", "screening", "texture"]
    assert "deep-scars  treatment  3.2.0    Deep scars" in out


def test_list_json() -> None:
    code, out, _ = run("protocols", "list", "--json")
    assert code == 0
    doc = json.loads(out)
    assert {d["name"]: d["kind"] for d in doc}["screening"] == "screening"
    assert len(doc) == 5


def test_show_prints_the_toml_verbatim() -> None:
    code, out, _ = run("protocols", "show", "deep-scars")
    assert code == 0
    assert out == catalog.read_source("deep-scars")[0].decode()
    assert tomllib.loads(out)["interval_weeks"]["min"] == 6


def test_show_unknown() -> None:
    code, out, err = run("protocols", "show", "deep-scar")
    assert code == 2 and out == ""
    assert "did you mean 'deep-scars'?" in err


def test_validate_ok(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_bytes(catalog.read_source("fine-lines")[0])
    code, out, err = run("protocols", "validate", str(path))
    assert code == 0 and err == ""
    assert out.strip() == f"{path}: ok (treatment protocol 'fine-lines' 3.2.0)"


def test_validate_lists_every_problem_with_key_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = catalog.read_source("fine-lines")[0].decode()
    bad.write_text(
        text.replace("max = 6\ndefault = 3", "max = 2\ndefault = 3").replace("days_before = 5", "days_before = 0")
    )
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    code, out, err = run("protocols", "validate", str(bad), str(empty), str(tmp_path / "missing.toml"))
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"{bad}: sessions.max: must be >= sessions.min (3), got 2",
        f"{bad}: pause[1].days_before: must be between 1 and 60, got 0",
        f"{empty}: protocol: missing table (a protocol file must name itself: [protocol] name = ...)",
        f"{tmp_path / 'missing.toml'}: no such file",
    ]


def test_validate_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[protocol]\nname = "x"\nkind = "treatment"\n')
    code, out, _ = run("protocols", "validate", "--json", str(bad))
    assert code == 2
    (doc,) = json.loads(out)
    assert doc["valid"] is False
    assert "protocol.version: missing" in doc["problems"]
    assert "sessions: missing table" in doc["problems"]
