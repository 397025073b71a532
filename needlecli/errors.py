"""Exceptions that carry their own exit code; the CLI translates them in one place."""

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
