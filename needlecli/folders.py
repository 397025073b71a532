"""Where needle keeps what it can make again (its cache): imported by the entry point at start-up,
so nothing but ``os`` and ``sys``."""

from __future__ import annotations

import os
import sys


def cache_dir() -> str:
    env = os.environ
    if env.get("NEEDLE_CACHE_DIR"):
        return env["NEEDLE_CACHE_DIR"]
    home = env.get("HOME") or os.path.expanduser("~")
    if sys.platform.startswith("win"):
        return os.path.join(env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local"), "needle", "cache")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "needle")
    return os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"), "needle")
