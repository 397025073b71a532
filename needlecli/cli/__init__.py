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
from needlecli.errors import BROKEN_PIPE, InternalError, NeedleError, interrupt_code, one_line

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
    """Turns every failure into one line on stderr and an exit code, in one place.

    NeedleError: its message and its EXIT_CODE (2 for user errors). Ctrl-C: 130. A closed
    pipe: 141, silently. Anything else is a bug: one line naming the exception type only
    (never its message, which could hold patient data), exit 70; `--debug` or NEEDLE_DEBUG=1
    shows the traceback instead.
    """

    def invoke(self, ctx: Any) -> Any:
        from typer._click.exceptions import ClickException

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except NeedleError as exc:
            if debugging():
                raise
            print(f"needle: error: {one_line(str(exc))}", file=sys.stderr)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            if debugging():
                raise
            print("\nneedle: interrupted", file=sys.stderr)
            raise typer.Exit(interrupt_code(exc)) from None
        except BrokenPipeError:
            # The reader went away (`needle ... | head`): stop quietly, without a second error at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(BROKEN_PIPE) from None
        except Exception as exc:
            if debugging():
                raise
            print(
                f"needle: internal error ({type(exc).__name__}); this is a bug: please report it with the "
                "command you ran (rerun with --debug to see the traceback)",
                file=sys.stderr,
            )
            raise typer.Exit(InternalError.exit_code) from None


_debug = False


def debugging() -> bool:
    return _debug or bool(os.environ.get("NEEDLE_DEBUG"))


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
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks (also NEEDLE_DEBUG=1), for bug reports."),
) -> None:
    """Screen microneedling patients, plan series and export aftercare."""
    global _debug
    _debug = debug


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
