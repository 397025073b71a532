"""`needle protocols`: list, show and validate protocol files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="List, show and validate treatment and screening protocols.",
    rich_markup_mode=None,
    no_args_is_help=True,
    epilog=(
        "\b\nExamples:\n  needle protocols list\n  needle protocols show fine-lines > my-fine-lines.toml\n"
        "  needle protocols validate my-fine-lines.toml"
    ),
)


@app.command("list", epilog="\b\nExample:\n  needle protocols list --json")
def list_(json_out: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """List the bundled protocols."""
    from needlecli import catalog

    rows = []
    for name in catalog.bundled_names():
        p = catalog.load(name)
        rows.append({"name": p.info.name, "kind": p.info.kind, "version": p.info.version, "title": p.info.title})
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['kind']:<9}  {r['version']:<7}  {r['title']}")


@app.command(
    "show",
    epilog="\b\nExamples:\n  needle protocols show deep-scars\n  needle protocols show screening > my-screening.toml",
)
def show(name: str = typer.Argument(..., help="A bundled protocol name or a .toml path.")) -> None:
    """Print a protocol file as TOML (a starting point for a clinic's own)."""
    from needlecli import catalog

    data, origin = catalog.read_source(name)
    catalog.parse(data, origin)  # refuse to show an invalid file as if it were usable
    sys.stdout.write(data.decode("utf-8"))


@app.command(
    "validate", epilog="\b\nExample:\n  needle protocols validate clinic/fine-lines.toml clinic/screening.toml"
)
def validate(
    paths: list[Path] = typer.Argument(..., help="Protocol files to check.", show_default=False),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Check protocol files; list every problem with its key path (exit 2 if any)."""
    from needlecli import catalog
    from needlecli.errors import ProtocolError

    results: list[dict[str, Any]] = []
    bad = False
    for path in paths:
        try:
            data, origin = catalog.read_file(path)
            problems, proto = catalog.check(data, origin)
        except ProtocolError as exc:
            problems, proto = exc.problems, None
        bad = bad or bool(problems)
        results.append(
            {
                "path": str(path),
                "valid": not problems,
                "problems": problems,
                "name": proto.info.name if proto else None,
                "version": proto.info.version if proto else None,
                "kind": proto.info.kind if proto else None,
            }
        )
    if json_out:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if r["valid"]:
                print(f"{r['path']}: ok ({r['kind']} protocol '{r['name']}' {r['version']})")
            else:
                for problem in r["problems"]:
                    print(f"{r['path']}: {problem}", file=sys.stderr)
    if bad:
        raise typer.Exit(2)
