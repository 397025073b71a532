"""`needle config`: show the effective clinic configuration, or write a starter file."""

from __future__ import annotations

import json

import typer

app = typer.Typer(
    help="Show or create the clinic configuration (clinic days, closures, holidays, time zone ...).",
    rich_markup_mode=None,
    no_args_is_help=True,
    epilog="\b\nExamples:\n  needle config init\n  needle config show\n  NEEDLE_CONFIG=clinic.toml needle config show",
)


@app.command("show", epilog="\b\nExample:\n  needle config show --json")
def show(json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Print the effective values and where each came from."""
    from needlecli.cli.common import require_stdout
    from needlecli.config import describe, load_config

    require_stdout()
    cfg = load_config()
    rows = describe(cfg)
    if json_out:
        doc = {
            "path": str(cfg.path),
            "exists": cfg.exists,
            "values": {k: {"value": v, "source": src} for k, v, src in rows},
        }
        print(json.dumps(doc, indent=2))
        return
    print(f"config file: {cfg.path}" + ("" if cfg.exists else " (not found; defaults in use)"))
    width = max(len(k) for k, _, _ in rows)
    for key, value, source in rows:
        print(f"  {key:<{width}}  {value:<30}  ({source})")


@app.command("init", epilog="\b\nExamples:\n  needle config init\n  needle config init --force")
def init(force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write a commented starter config file."""
    from needlecli.config import STARTER, config_path
    from needlecli.errors import UsageError
    from needlecli.records import name_problem, write_atomic

    path = config_path()
    try:
        if path.exists() and not force:
            raise UsageError(f"{path} already exists (use --force to overwrite)")
        path.parent.mkdir(parents=True, exist_ok=True)
        problem = name_problem(path)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename not in (None, str(path)) else ""
        raise UsageError(f"cannot write the config {path}{where}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in $NEEDLE_CONFIG
        raise UsageError(f"cannot write the config {path!r}: not a usable file name") from None
    if problem:
        raise UsageError(f"cannot write the config {path}: {problem}")
    import secrets

    write_atomic(path, STARTER.replace("{uid_key}", secrets.token_hex(16)).encode("utf-8"), mode=0o600)
    print(f"wrote {path}")
