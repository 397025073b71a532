"""Help, examples, version, start-up imports, and the README documenting every command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer._click.core import Command  # typer bundles click; needlecli.cli imports it the same way

from needlecli import __version__
from needlecli.cli import app
from tests.harness import run, run_process

ROOT = Path(__file__).resolve().parent.parent


def command_paths(command: Command, path: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command and subcommand under ``command``, as the words typed after `needle`."""
    found = [list(path)] if path else []
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            found += command_paths(sub, (*path, name))
    return found


#: Read from the app, so a new command must come with help that has an example and a README mention.
COMMANDS = command_paths(typer.main.get_command(app))


def test_the_command_list_comes_from_the_app() -> None:
    assert ["plan"] in COMMANDS and ["protocols", "validate"] in COMMANDS  # groups are walked into
    assert len(COMMANDS) == len({" ".join(c) for c in COMMANDS})


def test_top_level_help_has_an_example() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "Examples:" in out and "needle screen --answers" in out


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_help_has_an_example(cmd: list[str]) -> None:
    code, out, _ = run(*cmd, "--help")
    assert code == 0
    assert re.search(r"Examples?:\n\s+needle " + " ".join(cmd), out), out


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_readme_documents_every_command(cmd: list[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"needle {' '.join(cmd)}" in readme


def test_version() -> None:
    assert run("--version") == (0, f"needle {__version__}\n", "")


def test_unknown_command_is_a_usage_error() -> None:
    code, _, _ = run("scren")
    assert code == 2


HEAVY = ("rich.console", "rich.table", "rich.progress", "rich.prompt", "icalendar", "holidays", "tomli_w", "dateutil",
         "sqlite3", "needlecli.register.store")  # fmt: skip


def test_importing_the_cli_stays_light() -> None:
    code = f"import sys, needlecli.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_help_stays_light() -> None:
    code = (
        "import sys\nfrom needlecli.cli import app\n"
        "try:\n    app(['--help'], prog_name='needle')\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', ' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1].strip() == "LOADED"


def test_plan_without_book_never_opens_the_register(tmp_path: Path) -> None:
    """Only the commands that use the register load SQLite: a preview plan and a screen without a
    patient id start no slower."""
    code = (
        "import sys\nfrom needlecli.cli import app\n"
        "for args in (['plan', '-i', 'fine-lines', '--start', '2027-01-04', '--on', '2026-12-01', '--format', 'json'],"
        " ['screen', '--answers', sys.argv[1], '--on', '2026-12-01', '--json']):\n"
        "    try:\n        app(args, prog_name='needle')\n    except SystemExit:\n        pass\n"
        "print('LOADED', ' '.join(m for m in ('sqlite3', 'needlecli.register.store') if m in sys.modules))"
    )
    answers = Path(__file__).resolve().parent.parent / "examples" / "eligible.toml"
    out = subprocess.run([sys.executable, "-c", code, str(answers)], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1].strip() == "LOADED"


def test_python_dash_m() -> None:
    r = run_process("--version", text=True)
    assert (r.returncode, r.stdout) == (0, f"needle {__version__}\n")
