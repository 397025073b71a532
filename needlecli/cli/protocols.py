"""`needle protocols`: list, show, validate and test protocol files."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from needlecli.cli.common import complete_protocols
from needlecli.errors import UsageError

if TYPE_CHECKING:
    from needlecli import cases

app = typer.Typer(
    help="List, show, validate and test treatment and screening protocols.",
    rich_markup_mode=None,
    no_args_is_help=True,
    epilog=(
        "\b\nExamples:\n  needle protocols list\n  needle protocols show fine-lines > my-fine-lines.toml\n"
        "  needle protocols validate my-fine-lines.toml\n  needle protocols test my-cases.toml"
    ),
)


@app.command("list", epilog="\b\nExample:\n  needle protocols list --json")
def list_(json_out: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """List the protocols: the bundled ones and the clinic's own (config: protocols_dir), and where each is from."""
    from needlecli import catalog
    from needlecli.cli.common import require_stdout
    from needlecli.config import load_config
    from needlecli.errors import ProtocolError, one_line

    require_stdout()
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
        import json

        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            where = "bundled" if r["source"] == "bundled" else r["path"]
            if r["overrides_bundled"]:
                where += ", overrides the bundled one"
            if r["problem"] is None:
                line = f"{r['name']:<{width}}  {r['kind']:<9}  {r['version']:<7}  {r['title']}  ({where})"
            else:
                line = f"{r['name']:<{width}}  {'INVALID':<9}  {'-':<7}  {r['problem']}  ({where})"
            print(one_line(line))  # a file name in the clinic's folder is shown, never obeyed
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
    name: str = typer.Argument(
        ...,
        help="A protocol name (the clinic's protocols_dir first, then bundled) or a path.",
        autocompletion=complete_protocols,
    ),
    fmt: str = typer.Option(
        "toml", "--format", "-f", help="toml (the file itself), or fhir (a screening protocol as a FHIR Questionnaire)."
    ),
) -> None:
    """Print a protocol file as TOML (a starting point for a clinic's own), or a screening protocol as
    a FHIR R4 Questionnaire (--format fhir: gated follow-ups with enableWhen)."""
    from needlecli import catalog, choices
    from needlecli.cli.common import emit, require_stdout
    from needlecli.config import load_config
    from needlecli.model import ScreeningProtocol

    fmt = choices.pick(fmt, ("toml", "fhir"), "--format")
    require_stdout()
    data, origin = catalog.read_source(name, load_config().protocols_dir)
    protocol = catalog.parse(data, origin)  # refuse to show an invalid file as if it were usable
    if fmt == "toml":
        emit(data, None)  # the file's own bytes, whatever stdout's encoding
        return
    if not isinstance(protocol, ScreeningProtocol):
        raise UsageError(f"--format fhir: {name} is a treatment protocol; a Questionnaire is made of a screening one")
    from needlecli.render.fhir import dumps, questionnaire

    emit(dumps(questionnaire(protocol)), None)


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
        import json

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


TEST_EPILOG = """\b
Examples:
  needle protocols test                      # the bundled cases, against the bundled protocols
  needle protocols test clinic-cases.toml    # a clinic's own example patients
  needle protocols test cases/*.toml --json

\b
A case file (TOML):
  [defaults]
  answers = "all-clear"      # every question no/none, age 35, Fitzpatrick II
  on = 2026-12-01
  [[cases]]
  name = "isotretinoin 3 months ago"
  answers = { isotretinoin_last_dose = 2026-09-01 }
  expect.verdict = "defer"
  expect.earliest = 2027-03-01     # or false for none

Exit status: 0 every case passes, 1 any fails, 2 a bad case file (nothing is run)."""


@app.command("test", epilog=TEST_EPILOG)
def test(
    paths: list[Path] | None = typer.Argument(
        None,
        help="Case files (TOML). Without any, the cases shipped with the bundled protocols run against them.",
        show_default=False,
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the results as one JSON document."),
) -> None:
    """Run example patients through the protocols: each case's verdict, earliest date and plan facts
    must be as expected. Prints `ok NAME` or `FAIL NAME` with expected vs got, then `N passed, M failed`."""
    from needlecli import case_file, cases
    from needlecli.config import Config, load_config

    with contextlib.ExitStack() as stack:
        if paths:
            protocols_dir = load_config().protocols_dir
            files = [(str(p), p) for p in paths]
        else:
            protocols_dir = None  # the bundled cases test the bundled protocols (see the README)
            files = [(f"bundled:{p.name}", p) for p in stack.enter_context(_bundled_case_files())]
            _note_clinic_overrides()
        ready: list[tuple[str, list[cases.ReadyCase]]] = []
        bad: list[str] = []
        for label, path in files:
            try:
                ready.append((label, _load_cases(label, path, protocols_dir)))
            except case_file.CaseFileError as exc:
                bad.append(str(exc))
        if bad:
            from needlecli.errors import one_line

            for line in bad:
                print(f"needle: error: {one_line(line)}", file=sys.stderr)
            raise typer.Exit(2)
        # Plans in cases use needle's own defaults (Mon-Fri, no holidays, no device maximum), not
        # the clinic's calendar: a case means the same on every machine.
        neutral = Config(path=Path("<cases>"), exists=False)
        results = [(label, cases.run_case(case, neutral)) for label, batch in ready for case in batch]
    several = len(files) > 1
    if json_out:
        import json

        print(json.dumps(cases.as_json(results), indent=2))
    else:
        for label, result in results:
            for line in cases.report_lines(result, _short(label) if several else ""):
                print(line)
        print(cases.summary_line([r for _, r in results]))
    if any(not r.passed for _, r in results):
        raise typer.Exit(1)


def _short(label: str) -> str:
    """How a case line names its file when several run: the bundled file's stem, else the path given."""
    return Path(label.removeprefix("bundled:")).stem if label.startswith("bundled:") else label


def _load_cases(label: str, path: Path, protocols_dir: Path | None) -> list[cases.ReadyCase]:
    """Read, check and resolve one case file; CaseFileError (one line, every problem) if it is bad."""
    from needlecli import case_file, cases, documents

    try:
        raw = documents.parse_toml(documents.read_bytes(path, "a case file"))
    except documents.NoSuchFile:
        raise case_file.CaseFileError(label, ["no such file"]) from None
    except documents.DocumentError as exc:
        raise case_file.CaseFileError(label, [str(exc)]) from None
    parsed, problems = case_file.parse_case_file(raw)
    return cases.prepare(parsed, _loaders(path.parent, protocols_dir), label, problems)


def _looks_like_path(ref: str) -> bool:
    """As every command reads --protocol: a name unless it has a slash, starts with a dot or ends in .toml."""
    return "/" in ref or "\\" in ref or ref.endswith(".toml") or ref.startswith(".")


def _loaders(base: Path, protocols_dir: Path | None) -> cases.Loaders:
    """Protocols by name (the clinic's protocols_dir first, then bundled) or by path, and answers
    files; relative paths are relative to the case file's folder."""
    from needlecli import cases, catalog, records

    def near(ref: str) -> str:
        return str(base / ref) if _looks_like_path(ref) and not Path(ref).is_absolute() else ref

    def answers_file(ref: str) -> Mapping[str, object]:
        return records.read_answers_file(base / ref)

    return cases.Loaders(
        screening=lambda ref: catalog.load_screening(near(ref), protocols_dir),
        treatment=lambda ref: catalog.load_treatment(near(ref), protocols_dir),
        answers_file=answers_file,
    )


@contextlib.contextmanager
def _bundled_case_files() -> Iterator[list[Path]]:
    """The case files shipped in the package (``needlecli.protocols/cases/*.toml``), as real files."""
    from importlib import resources

    folder = resources.files("needlecli.protocols").joinpath("cases")
    # The screening cases first, then the plans' (and any others) by name.
    entries = sorted(
        (e for e in folder.iterdir() if e.name.endswith(".toml")), key=lambda e: (e.name != "screening.toml", e.name)
    )
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(resources.as_file(e)) for e in entries]


def _note_clinic_overrides() -> None:
    """Say on stderr when the clinic's own protocols replace bundled ones the bundled cases do not test."""
    from needlecli import catalog
    from needlecli.config import load_config

    folder = load_config().protocols_dir
    mine = sorted(set(catalog.clinic_names(folder)) & set(catalog.bundled_names()))
    if mine:
        print(
            f"needle: note: the bundled cases test the bundled protocols, not the clinic's own "
            f"{', '.join(mine)} in {folder}; test those with the clinic's case files: needle protocols test FILE.toml",
            file=sys.stderr,
        )
