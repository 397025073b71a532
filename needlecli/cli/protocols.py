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
    """List the protocols: the bundled ones and the clinic's own (config: protocols_dir), and where each is from."""
    from needlecli import catalog
    from needlecli.config import load_config
    from needlecli.errors import ProtocolError

    folder = load_config().protocols_dir
    bundled = set(catalog.bundled_names())
    rows: list[dict[str, Any]] = []
    for name in catalog.names(folder):
        origin = catalog.locate(name, folder)
        row: dict[str, Any] = {"name": name, "kind": None, "version": None, "title": None}
        row["source"] = "bundled" if origin.startswith("bundled:") else "clinic"
        row["path"] = None if origin.startswith("bundled:") else origin
        row["overrides_bundled"] = row["source"] == "clinic" and name in bundled
        try:
            p = catalog.load(name, folder)
            row.update(kind=p.info.kind, version=p.info.version, title=p.info.title, problem=None)
        except ProtocolError as exc:
            row["problem"] = exc.problems[0] if exc.problems else "invalid protocol"
        rows.append(row)
    if json_out:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            where = "bundled" if r["source"] == "bundled" else r["path"]
            if r["overrides_bundled"]:
                where += ", overrides the bundled one"
            if r["problem"] is None:
                print(f"{r['name']:<{width}}  {r['kind']:<9}  {r['version']:<7}  {r['title']}  ({where})")
            else:
                print(f"{r['name']:<{width}}  {'INVALID':<9}  {'-':<7}  {r['problem']}  ({where})")
    invalid = [r["path"] or r["name"] for r in rows if r["problem"] is not None]
    if invalid:
        print(
            f"needle: error: invalid protocol file(s): {', '.join(invalid)} (check with `needle protocols validate`)",
            file=sys.stderr,
        )
        raise typer.Exit(2)


@app.command(
    "show",
    epilog="\b\nExamples:\n  needle protocols show deep-scars\n  needle protocols show screening > my-screening.toml",
)
def show(
    name: str = typer.Argument(..., help="A protocol name (the clinic's protocols_dir first, then bundled) or a path."),
) -> None:
    """Print a protocol file as TOML (a starting point for a clinic's own)."""
    from needlecli import catalog
    from needlecli.config import load_config

    data, origin = catalog.read_source(name, load_config().protocols_dir)
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
