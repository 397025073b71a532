"""Exceptions that carry their own exit code; the CLI translates them in one place.

Exit codes: 0 success (and the `eligible`/`caution` screening verdicts), 1 a batch
with failed rows, 2 bad input (every ``NeedleError`` unless it says otherwise),
3 deferred, 4 contraindicated, 70 a bug, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (the terminal
closed), 141 a closed pipe.
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """Make a message safe to print as one line: control characters (newlines too) are escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class NeedleError(Exception):
    """A problem the user can fix; printed as one line on stderr."""

    exit_code = 2


class UsageError(NeedleError):
    """Bad flags, values or input files."""


class AnswersError(NeedleError):
    """An answers file (or an interactive answer) that cannot be used."""


class ProtocolError(NeedleError):
    """A protocol file that cannot be loaded or fails validation.

    ``problems`` holds every problem found, each naming its key path.
    """

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = list(problems)
        first = problems[0] if problems else "invalid protocol"
        more = f" (and {len(problems) - 1} more problem(s); run `needle protocols validate`)"
        super().__init__(f"{origin}: {first}" + (more if len(problems) > 1 else ""))


class RecordError(NeedleError):
    """A screening record or saved file that cannot be read or written."""


class SchedulingError(NeedleError):
    """No open clinic day satisfies the spacing rules (or a move breaks them)."""


class ScreeningRefusal(NeedleError):
    """The screening does not allow planning: a deferral or a contraindication."""


class Deferred(ScreeningRefusal):
    """Deferred: `screen` exits with this code for a `defer` verdict, `plan` for an undated deferral."""

    exit_code = 3


class Contraindicated(ScreeningRefusal):
    """Contraindicated: `screen` and `plan` exit with this code."""

    exit_code = 4


class RowsFailed(NeedleError):
    """`batch` handled every row it could, but some rows failed (each is in summary.csv)."""

    exit_code = 1


class RegisterError(NeedleError):
    """The clinic register cannot be used: not a needle register, damaged, newer, read-only (exit 2)."""


class RegisterBusy(NeedleError):
    """Another command held the register's write lock for too long (EX_TEMPFAIL: try again)."""

    exit_code = 75


class RegisterTampered(NeedleError):
    """`register verify` found an entry or row that does not match its journal (exit 1)."""

    exit_code = 1


class InternalError(NeedleError):
    """A bug: never raised for user input; the translator uses its code for unexpected exceptions."""

    exit_code = 70


#: `needle screen`'s exit status for each verdict.
VERDICT_EXIT_CODES: dict[str, int] = {
    "eligible": 0,
    "caution": 0,
    "defer": Deferred.exit_code,
    "contraindicated": Contraindicated.exit_code,
}


#: Ctrl-C (128 + SIGINT) and a reader that went away (128 + SIGPIPE).
INTERRUPTED = 130
BROKEN_PIPE = 141


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into the same orderly stop as Ctrl-C (exit 128 + the signal's
    number: 143 for SIGTERM, 129 for SIGHUP)."""

    exit_code = 143

    def __init__(self, signum: int = 15) -> None:
        super().__init__()
        self.signum = signum
        self.exit_code = 128 + signum


def interrupt_code(exc: BaseException) -> int:
    """The exit code of a stop: Ctrl-C, SIGTERM or SIGHUP."""
    return exc.exit_code if isinstance(exc, Terminated) else INTERRUPTED


def summary(problems: list[str], limit: int = 10) -> str:
    """Problems as one line: the first ``limit`` joined with '; ', then how many more."""
    shown = "; ".join(problems[:limit])
    more = len(problems) - limit
    return shown + (f" (and {more} more problem(s))" if more > 0 else "")
