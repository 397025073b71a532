"""The `needle` command's entry point: help and version from a cache, everything else through typer.

`needle --help` (and `-h`, `--version`, `-V`, `needle COMMAND --help`) prints text that only
changes with needle's own code and the terminal's width, yet rendering it means importing typer
and building every command (about 6x `python -c pass`, most of it typer's import). So the text
click rendered is kept in the user's cache folder, keyed by needle's version, the modification
times and sizes of the modules that define the commands, the terminal's width and the arguments,
and printed from there on the next call without importing typer. Nothing is written by hand: a
missing or unreadable cache entry means rendering through typer (and keeping what it printed).
This module imports nothing beyond the standard library's basics (and `needlecli.folders`, which neither does).
"""

from __future__ import annotations

import os
import sys

from needlecli.folders import cache_dir

#: Arguments whose output is the same text every time (given the code and the terminal's width).
_FIXED = (("--help",), ("-h",), ("--version",), ("-V",))
_COMMANDS = ("screen", "plan", "aftercare", "batch", "protocols", "config")


def cacheable(args: list[str]) -> bool:
    if tuple(args) in _FIXED:
        return True
    return len(args) == 2 and args[0] in _COMMANDS and args[1] in ("--help", "-h")


def cache_key(args: list[str]) -> str:
    """A name for the text ``args`` print: it changes whenever the text could."""
    import hashlib
    import shutil

    import needlecli

    package = os.path.dirname(needlecli.__file__)
    encoding = getattr(sys.stdout, "encoding", None) or ""
    parts = [needlecli.__version__, str(shutil.get_terminal_size().columns), encoding, "\0".join(args)]
    for folder in (package, os.path.join(package, "cli")):
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    parts.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    return "help-" + hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".txt"


#: A cached help text is a few KiB; anything larger (a link to /dev/zero) is not one of ours.
MAX_CACHED_BYTES = 1 << 20


def main() -> None:
    args = sys.argv[1:]
    if cacheable(args) and not any(k.startswith("_NEEDLE_COMPLETE") for k in os.environ):
        if sys.stdout is None:  # `needle --help >&-`
            _fail("stdout is closed")
        text = _cached(args)
        if text is None:
            _render_and_keep(args)
            return
        _write(text)
        sys.exit(0)
    from needlecli.cli import main as run

    run()


def _cached(args: list[str]) -> bytes | None:
    """The kept text for ``args``: a regular file of at most MAX_CACHED_BYTES, else None."""
    import stat

    try:
        fd = os.open(os.path.join(cache_dir(), cache_key(args)), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CACHED_BYTES:
            return None
        data = os.read(fd, MAX_CACHED_BYTES + 1)
        return data if len(data) <= MAX_CACHED_BYTES else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _write(text: bytes) -> None:
    """Print ``text``; a pipe closed early ends quietly (141), a full device or a closed stdout is one line."""
    try:
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
    except (OSError, ValueError) as exc:
        _fail(f"cannot write to stdout: {getattr(exc, 'strerror', None) or exc}")


def _fail(message: str) -> None:
    """One line on stderr and exit 2, as every needle error; stdout is not flushed again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if sys.stdout is not None:
            os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    if sys.stderr is not None:
        print(f"needle: error: {message}", file=sys.stderr)
    os._exit(2)


def _render_and_keep(args: list[str]) -> None:
    """Run the command through typer, print what it printed, and keep it when it succeeded."""
    import contextlib
    import io

    from needlecli.cli import main as run

    buffer = io.BytesIO()
    out = io.TextIOWrapper(buffer, encoding=sys.stdout.encoding or "utf-8", errors="replace", newline=None)
    code: str | int | None = 0
    real = sys.stdout
    try:
        with contextlib.redirect_stdout(out):
            run()
    except SystemExit as exc:
        code = exc.code
    finally:
        out.flush()
        sys.stdout = real
    text = buffer.getvalue()
    _write(text)
    if code in (0, None) and text:
        _keep(os.path.join(cache_dir(), cache_key(args)), text)
    sys.exit(code)


def _keep(path: str, text: bytes) -> None:
    """Write the cache entry atomically (0600); a cache that cannot be written is no error."""
    import contextlib
    import tempfile

    folder = os.path.dirname(path)
    tmp = ""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".help.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
        os.replace(tmp, path)
        tmp = ""
    except OSError:
        pass
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _quiet_broken_pipe() -> None:
    """`needle --help | head`: end quietly with 141, as every other command does."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(141)
