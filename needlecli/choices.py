"""Choices and protocol names as people type them: ``ICS``, ``Acne-Scars``, ``acne scars``,
``acne_scars`` all name the same thing.

One reading everywhere a choice or a protocol name is read (`--format`, `--indication`,
`protocols show`, batch cells): case folded, surrounding space dropped, runs of spaces and
underscores become one hyphen. An unknown value stays an error, one line with a "did you
mean". Pure and cheap to import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from needlecli.errors import UsageError

_SEPARATORS = re.compile(r"[\s_\-\u2010-\u2015]+")  # spaces, underscores, hyphens and dashes (Word's "–")


def normalise(text: str) -> str:
    """The comparable form of a choice: ``" Acne_Scars "`` -> ``"acne-scars"``, ``"Microneedling – acne
    scars"`` -> ``"microneedling-acne-scars"``."""
    return _SEPARATORS.sub("-", text.strip()).strip("-").casefold()


def find(text: str, options: Iterable[str]) -> str | None:
    """The option ``text`` names (exactly, else after :func:`normalise`), or None."""
    options = list(options)
    if text in options:
        return text
    key = normalise(text)
    return next((o for o in options if normalise(o) == key), None)


def suggestion(text: str, options: Iterable[str]) -> str | None:
    """The option closest to ``text`` (compared normalised), for a "did you mean"."""
    import difflib  # only when a value is wrong: not at every start-up

    by_key = {normalise(o): o for o in options}
    key = normalise(text)
    part = [o for k, o in by_key.items() if key and (k.startswith(key) or key in k.split("-"))]
    if len(part) == 1:  # `acne` for acne-scars
        return part[0]
    # Close in spelling, not merely two letters shared: `icss` is ics, `csv` is not.
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.75)
    return by_key[close[0]] if close else None


def pick(text: str, options: Iterable[str], what: str) -> str:
    """The option ``text`` names; else UsageError, one line:
    ``--format: expected one of table, json, md, got 'icss' (did you mean 'ics'?)``.

    ``what`` names the flag or field (``--format``, ``row 3: indication``).
    """
    options = list(options)
    found = find(text, options)
    if found is not None:
        return found
    hint = suggestion(text, options)
    extra = f" (did you mean '{hint}'?)" if hint else ""
    raise UsageError(f"{what}: expected one of {', '.join(options)}, got {text!r}{extra}")
