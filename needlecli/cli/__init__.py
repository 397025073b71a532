"""The `needle` command line: a thin layer that parses, calls the core and renders.

Start-up matters (it is typed at a front desk): this module and the command
modules import only typer at module level; rich, tomli_w and friends are
imported inside the commands that use them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from needlecli import __version__
from needlecli.errors import BROKEN_PIPE, InternalError, NeedleError, UsageError, interrupt_code, one_line

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

    NeedleError: its message and its EXIT_CODE (2 for user errors). Ctrl-C: 130; SIGTERM 143 and
    SIGHUP 129 stop the same orderly way (temp files removed). A closed pipe: 141, silently. A
    closed stdout (`needle ... >&-`): "stdout is closed", 2. An OSError no command turned into a
    message (a path the system refuses): its reason and file, 2. Anything else is a bug: one
    line naming the exception type only (never its message, which could hold patient data),
    exit 70; `--debug` or NEEDLE_DEBUG=1 shows the traceback instead.
    """

    def invoke(self, ctx: Any) -> Any:
        from typer._click.exceptions import ClickException

        from needlecli.cli.common import STDOUT_CLOSED, sigterm_as_interrupt

        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except NeedleError as exc:
            if debugging():
                raise
            say(f"needle: error: {one_line(str(exc))}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            if debugging():
                raise
            say("\nneedle: interrupted")
            raise typer.Exit(interrupt_code(exc)) from None
        except BrokenPipeError:
            # The reader went away (`needle ... | head`): stop quietly, without a second error at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(BROKEN_PIPE) from None
        except Exception as exc:
            if debugging():
                raise
            if sys.stdout is None and isinstance(exc, (AttributeError, OSError, ValueError)):
                say(f"needle: error: {STDOUT_CLOSED}")
                raise typer.Exit(UsageError.exit_code) from None
            if isinstance(exc, OSError):
                where = f"{exc.filename}: " if exc.filename is not None else ""
                say(f"needle: error: {one_line(where + (exc.strerror or type(exc).__name__))}")
                raise typer.Exit(UsageError.exit_code) from None
            say(
                f"needle: internal error ({type(exc).__name__}); this is a bug: please report it with the "
                "command you ran (rerun with --debug to see the traceback)"
            )
            raise typer.Exit(InternalError.exit_code) from None


def say(line: str) -> None:
    """One line on stderr; if stderr itself is gone (a closed terminal), nothing."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


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
    fit_streams()
    app(prog_name="needle")


#: What text becomes on a terminal or file that is not UTF-8 (`PYTHONIOENCODING=ascii`, a Latin-1
#: locale): one ASCII character for each character needle prints (so tables stay aligned), "?"
#: for anything else.
ASCII_FALLBACK = {
    "\u2014": "-",  # em dash
    "\u2013": "-",  # en dash
    "\u2212": "-",  # minus
    "\u2022": "*",  # bullet
    "\u00b7": "-",  # middle dot
    "\u2026": ".",  # ellipsis (rich's truncation mark)
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2264": "<",
    "\u2265": ">",
    "\u00d7": "x",
    "\u2192": ">",
    "\u2713": "v",
    "\u2717": "x",
    "\u00a0": " ",
}


def _fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    out = []
    for ch in text:
        sub = ASCII_FALLBACK.get(ch, "?")
        try:
            sub.encode(exc.encoding)
        except (UnicodeError, LookupError):
            sub = "?"
        out.append(sub)
    return "".join(out), exc.end


def fit_streams() -> None:
    """Make stdout and stderr degrade instead of crash when they cannot encode a character.

    Text (tables, panels, messages) to a stream that is not UTF-8 loses what it cannot show
    (an em dash becomes "-", anything unknown "?"); documents written as bytes (ICS, Markdown,
    JSON to --out or to stdout's buffer) are untouched. Rich sees the stream's encoding and
    draws ASCII boxes.
    """
    import codecs

    codecs.register_error("needle-ascii", _fallback)
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if not encoding:
            continue
        try:
            if codecs.lookup(encoding).name == "utf-8":
                continue
            stream.reconfigure(errors="needle-ascii")  # type: ignore[union-attr]
        except (AttributeError, LookupError, ValueError, OSError):
            continue
