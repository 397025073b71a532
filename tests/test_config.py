"""The clinic config file: every problem in one line, and `needle config init | show`.
(How the config and the flags combine into a plan: test_planning.py.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

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
