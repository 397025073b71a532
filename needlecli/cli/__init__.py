"""The `needle` command line: a thin layer that parses, calls the core and renders.

Start-up matters (it is typed at a front desk): this module and the command
modules import only typer at module level; rich, tomli_w and friends are
imported inside the commands that use them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

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
  needle plan --patient P1 --indication acne-scars --start 2026-12-01 --book
  needle check P1                                # before a session: what may have changed
  needle done P1 --depth cheeks=1.0              # the session, as given
  needle due                                     # who is due this week, and their checks
  needle history P1
  needle export P1 --format ics --out p1.ics
  needle register verify
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

    #: `needle --help` lists the commands in these groups, in this order (any other under "Other").
    SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("Consultation", ("screen", "plan", "aftercare")),
        ("Series", ("check", "done", "missed", "cancel", "history", "export")),
        ("Clinic", ("due", "batch", "register")),
        ("Setup", ("protocols", "config")),
    )

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands, grouped: what a consultation uses, a series over time, the clinic, setup."""
        found = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                found[name] = cmd
        if not found:
            return
        limit = formatter.width - 6 - max(len(n) for n in found)
        placed = {n for _, names in self.SECTIONS for n in names}
        sections = [*self.SECTIONS, ("Other", tuple(n for n in found if n not in placed))]
        for title, names in sections:
            rows = [(n, found[n].get_short_help_str(limit)) for n in names if n in found]
            if rows:
                with formatter.section(f"{title} commands"):
                    formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """Parsing the top level (`needle --bogus`): a mistake is one line, as everywhere."""
        from typer._click.exceptions import ClickException

        global _typed
        _typed = tuple(args)  # what the command line said (an error quotes a date typed there as typed)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except ClickException as exc:
            fail_usage(exc)

    def invoke(self, ctx: Any) -> Any:
        from typer._click.exceptions import ClickException

        from needlecli.cli.common import STDOUT_CLOSED, sigterm_as_interrupt
        from needlecli.config import forget_read_config, shown_order

        forget_read_config()
        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except ClickException as exc:  # a mistyped option, a missing value, a bad number, an unknown command
            fail_usage(exc)
        except NeedleError as exc:
            if debugging():
                raise
            say(f"needle: error: {one_line(for_people(str(exc), shown_order()))}")
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


def fail_usage(exc: Exception) -> NoReturn:
    """Say what click found wrong with the command line in needle's one line, and exit 2.

    A group typed without its command (`needle config`) still shows its help, as click does.
    """
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
    from typer._click.exceptions import UsageError as ClickUsageError

    if isinstance(exc, NoArgsIsHelpError) or not isinstance(exc, ClickException):
        raise exc
    say(f"needle: error: {one_line(usage_message(exc))}")
    raise typer.Exit(UsageError.exit_code if isinstance(exc, ClickUsageError) else exc.exit_code)


def usage_message(exc: Exception) -> str:
    """click's error, as needle words its own: ``no such option --strat (did you mean --start?)``,
    ``--start: needs a value``, ``--sessions: 'x' is not a whole number``,
    ``no such command 'scren' (did you mean 'screen'?)``."""
    import difflib
    import re

    from typer._click.exceptions import BadOptionUsage, BadParameter, ClickException, MissingParameter, NoSuchOption

    ctx = getattr(exc, "ctx", None)
    path = " ".join(["needle", *ctx.command_path.split()[1:]]) if ctx is not None else "needle"
    see = f" (see {path} --help)"
    if isinstance(exc, NoSuchOption):
        name = exc.option_name
        known: list[str] = []
        if ctx is not None:
            known = [o for p in ctx.command.get_params(ctx) for o in (*p.opts, *p.secondary_opts) if o.startswith("-")]
        same = [o for o in known if o.casefold() == name.casefold()]
        close = same or difflib.get_close_matches(name, list(exc.possibilities or known), n=1, cutoff=0.6)
        return f"no such option {name}" + (f" (did you mean {close[0]}?)" if close else see)
    if isinstance(exc, BadOptionUsage):
        text = exc.message
        if "requires an argument" in text:
            return f"{exc.option_name}: needs a value"
        if "does not take a value" in text:
            return f"{exc.option_name}: takes no value"
        return f"{exc.option_name}: {_plain(text)}"
    if isinstance(exc, MissingParameter):
        param = exc.param
        if param is not None and getattr(param, "param_type_name", "") == "option":
            return f"{_flag(param)}: needs a value"
        what = (param.human_readable_name if param is not None else "an argument").strip("{}").upper()
        return f"missing {what}{see}"
    if isinstance(exc, BadParameter):
        text = _plain(exc.message)
        text = re.sub(r"is not a valid (int|integer)$", "is not a whole number", text)
        text = re.sub(r"is not a valid float$", "is not a number", text)
        where = _flag(exc.param) if exc.param is not None else "value"
        return f"{where}: {text}"
    if isinstance(exc, ClickException):
        text = re.sub(r"\. Did you mean (.+)\?$", r" (did you mean \1?)", exc.format_message())
        plain = _plain(text)
        return plain + ("" if "did you mean" in plain else see)
    return str(exc)


def _flag(param: Any) -> str:
    """An option's longest name (``--sessions`` for ``-n/--sessions``), or an argument's name."""
    opts = [o for o in getattr(param, "opts", ()) if o.startswith("-")]
    return max(opts, key=len) if opts else str(param.human_readable_name).strip("{}").upper()


def _plain(text: str) -> str:
    """click's sentence as a clause: lower-case first letter, no full stop."""
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


_typed: tuple[str, ...] = ()


def typed_arguments() -> tuple[str, ...]:
    """What the command was given as text: its arguments, needle's environment (``NEEDLE_REGISTER``
    ...) and the paths the config names (a date inside any of them is part of a name, not a date)."""
    from needlecli.config import named_paths

    given = tuple(v for k, v in os.environ.items() if k.startswith("NEEDLE_"))
    return _typed + given + named_paths()


def for_people(text: str, order: str) -> str:
    """``text`` with its dates in the clinic's ``order``, but those inside what the command was given
    (`typed_arguments`): what every note and error on stderr says (`dates.shown`)."""
    from needlecli.dates import shown

    return shown(text, order, typed=typed_arguments())


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
    add_completion=True,  # --install-completion / --show-completion (typer's own; see README "Shell completion")
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
        False, "--version", "-V", help="Show the version and exit.", callback=_version, is_eager=True
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks (also NEEDLE_DEBUG=1), for bug reports."),
) -> None:
    """Screen microneedling patients, plan series and export aftercare."""
    global _debug
    _debug = debug


from needlecli.cli import aftercare as _aftercare  # noqa: E402
from needlecli.cli import batch as _batch  # noqa: E402
from needlecli.cli import check as _check  # noqa: E402
from needlecli.cli import config as _config  # noqa: E402
from needlecli.cli import due as _due  # noqa: E402
from needlecli.cli import history as _history  # noqa: E402
from needlecli.cli import plan as _plan  # noqa: E402
from needlecli.cli import protocols as _protocols  # noqa: E402
from needlecli.cli import register as _register  # noqa: E402
from needlecli.cli import screen as _screen  # noqa: E402
from needlecli.cli import series as _series  # noqa: E402

app.command("screen", help=_screen.HELP, epilog=_screen.EPILOG)(_screen.screen)
app.command("plan", help=_plan.HELP, epilog=_plan.EPILOG)(_plan.plan)
app.command("aftercare", help=_aftercare.HELP, epilog=_aftercare.EPILOG)(_aftercare.aftercare)
app.command("due", help=_due.HELP, epilog=_due.EPILOG)(_due.due)
app.command("batch", help=_batch.HELP, epilog=_batch.EPILOG)(_batch.batch)
app.command("check", help=_check.CHECK_HELP, epilog=_check.CHECK_EPILOG)(_check.check)
app.command("done", help=_series.DONE_HELP, epilog=_series.DONE_EPILOG)(_series.done)
app.command("missed", help=_series.MISSED_HELP, epilog=_series.MISSED_EPILOG)(_series.missed)
app.command("cancel", help=_series.CANCEL_HELP, epilog=_series.CANCEL_EPILOG)(_series.cancel)
app.command("history", help=_history.HISTORY_HELP, epilog=_history.HISTORY_EPILOG)(_history.history)
app.command("export", help=_history.EXPORT_HELP, epilog=_history.EXPORT_EPILOG)(_history.export)
app.add_typer(_register.app, name="register")
app.add_typer(_protocols.app, name="protocols")
app.add_typer(_config.app, name="config")


def main() -> None:
    from needlecli.keys import KeyRaced

    fit_streams()
    try:
        with only_command(sys.argv[1:]):
            app(prog_name="needle")
    except KeyRaced:  # two first uses at once: the other's key was written first; nothing was written here
        with only_command(sys.argv[1:]):
            app(prog_name="needle")


@contextlib.contextmanager
def only_command(args: list[str]) -> Iterator[None]:
    """While running a command named in full as the first argument (`needle plan ...`), let typer
    build that command alone: building every command's options costs more start-up than the command
    being run needs (typer reads each function's signature and type hints). Anything else (no
    command, a mistyped one, `--help`, shell completion) gets the whole app."""
    name = args[0] if args else ""
    commands, groups = app.registered_commands, app.registered_groups
    known = {c.name for c in commands} | {g.name for g in groups}
    if name not in known or any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        yield
        return
    app.registered_commands = [c for c in commands if c.name == name]
    app.registered_groups = [g for g in groups if g.name == name]
    try:
        yield
    finally:
        app.registered_commands, app.registered_groups = commands, groups


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
