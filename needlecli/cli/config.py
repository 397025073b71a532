"""`needle config`: show the effective clinic configuration, or write a starter file."""

from __future__ import annotations

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
    from needlecli.config import describe, json_document, load_config

    require_stdout()
    cfg = load_config()
    if json_out:
        import json

        print(json.dumps(json_document(cfg), indent=2))
        return
    rows = describe(cfg)
    from needlecli.config import explicit_none

    absent = " (none: defaults in use)" if explicit_none(cfg.path) else " (not found; defaults in use)"
    print(f"config file: {cfg.path}" + ("" if cfg.exists else absent))
    width = max(len(k) for k, _, _ in rows)
    for key, value, source in rows:
        print(f"  {key:<{width}}  {value:<30}  ({source})")


@app.command(
    "init",
    epilog="\b\nExamples:\n  needle config init\n  needle config init --force\n"
    "  needle config init --force --new-uid-key",
)
def init(
    force: bool = typer.Option(
        False, "--force", help="Rewrite an existing file: its values and uid_key are kept, the old file backed up."
    ),
    new_uid_key: bool = typer.Option(
        False, "--new-uid-key", help="Write a new uid_key: calendars already sent would duplicate on re-import."
    ),
) -> None:
    """Write a commented starter config file (again with --force, keeping the clinic's values)."""
    import sys

    from needlecli.config import config_path, init_config

    written = init_config(config_path(), force=force, new_uid_key=new_uid_key)
    for line in written.warnings:
        print(line, file=sys.stderr)
    for line in written.said:
        print(line)
