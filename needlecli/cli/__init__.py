"""The `needle` command line: a thin layer that parses, calls the core and renders.

Start-up matters (it is typed at a front desk): this module and the command
modules import only typer at module level; rich, tomli_w and friends are
imported inside the commands that use them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from needlecli import __version__
from needlecli.errors import NeedleError

HELP = """Screen microneedling patients for contraindications, plan treatment series
and hand out aftercare checklists.

\b
Examples:
  needle screen                                  # interactive screening at the desk
  needle screen --answers p1.toml --json         # scripted, verdict as JSON
  needle screen --answers p1.toml --patient P1 --out p1-screening.toml
  needle plan --patient P1 --indication acne-scars --start 2026-12-01
  needle protocols list
"""


class NeedleGroup(TyperGroup):
    """Translates NeedleError into one line on stderr and its exit code, in one place."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except NeedleError as exc:
            if os.environ.get("NEEDLE_DEBUG"):
                raise
            print(f"needle: error: {exc}", file=sys.stderr)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=NeedleGroup,
    help=HELP,
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"needle {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Screen microneedling patients, plan series and export aftercare."""


from needlecli.cli import aftercare as _aftercare  # noqa: E402
from needlecli.cli import batch as _batch  # noqa: E402
from needlecli.cli import config as _config  # noqa: E402
from needlecli.cli import plan as _plan  # noqa: E402
from needlecli.cli import protocols as _protocols  # noqa: E402
from needlecli.cli import screen as _screen  # noqa: E402

app.command("screen", help=_screen.HELP, epilog=_screen.EPILOG)(_screen.screen)
app.command("plan", help=_plan.HELP, epilog=_plan.EPILOG)(_plan.plan)
app.command("aftercare", help=_aftercare.HELP, epilog=_aftercare.EPILOG)(_aftercare.aftercare)
app.command("batch", help=_batch.HELP, epilog=_batch.EPILOG)(_batch.batch)
app.add_typer(_protocols.app, name="protocols")
app.add_typer(_config.app, name="config")


def main() -> None:
    app(prog_name="needle")
