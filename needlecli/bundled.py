"""The protocols shipped with needle: their folder, their names, and the indications among them.

Light on purpose (the standard library only): command help lists the indications without loading a
protocol. Loading and validating is `catalog`'s.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = "needlecli.protocols"
#: The bundled screening protocol's name; every other bundled protocol is an indication.
STANDARD_SCREENING = "screening"


def bundled_folder() -> Path:
    """The folder of the protocols shipped in the package (`needlecli.protocols`, a plain folder in
    every install pip makes). Read as files: `importlib.resources` would add ~10 ms to every start."""
    import importlib

    package = importlib.import_module(_PACKAGE)  # an empty package: its folder is what matters
    return Path(next(iter(package.__path__)))


def bundled_names() -> list[str]:
    """Names of the protocols shipped inside the package, sorted."""
    return sorted(name[:-5] for name in os.listdir(bundled_folder()) if name.endswith(".toml"))


def indications() -> tuple[str, ...]:
    """The bundled indications, read from the protocols shipped in the package: every bundled
    protocol but the screening one, by name. A new bundled indication is one new file."""
    return tuple(n for n in bundled_names() if n != STANDARD_SCREENING)
