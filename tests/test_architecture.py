"""The shape of the house: which module may import what, and which modules stay pure.

Read from the source (every import, at module level or inside a function), so an
arrow pointing the wrong way fails here before it hides in a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "needlecli"

#: The pure core: plain functions over dataclasses. No files, clock, environment or printing.
PURE = (
    "model", "recorded", "course", "dates", "identity", "screening", "scheduling", "revisions", "aftercare",
    "answers", "planning", "export",
)  # fmt: skip
#: Modules the pure core may import from needlecli (themselves pure, or only data parsing).
PURE_MAY_IMPORT = {*PURE, "errors", "clinic", "zones"}  # zones: which database zoneinfo reads, chosen once
#: Third-party or standard modules a pure module never imports.
IMPURE_MODULES = ("os", "sys", "pathlib", "tempfile", "subprocess", "shutil", "socket", "time", "io", "builtins")
#: Calls that read the clock, the environment or files.
IMPURE_CALLS = ("today", "now", "utcnow", "getenv", "open", "read_text", "read_bytes", "print", "input")


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out[".".join(parts)] = path
    return out


def imports(path: Path) -> set[str]:
    """Every module imported anywhere in the file (absolute names; `from . import x` resolved)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def runtime_imports(path: Path) -> set[str]:
    """Imports outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped |= {id(n) for sub in node.body for n in ast.walk(sub)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_the_walk_sees_every_module() -> None:
    names = modules()
    assert {"planning", "batch", "cli", "cli.plan", "render.ics", "export"} <= set(names)
    assert "needlecli.planning" in imports(names["cli.plan"])


#: Entry points: they start the CLI (launch imports it only when the help cache cannot answer).
ENTRY_POINTS = ("__main__", "launch")


@pytest.mark.parametrize("name", sorted(n for n in modules() if not n.startswith("cli") and n not in ENTRY_POINTS))
def test_nothing_below_the_cli_imports_typer_rich_or_the_cli(name: str) -> None:
    bad = {
        m
        for m in imports(modules()[name])
        if m.split(".")[0] in ("typer", "rich", "click") or m == "needlecli.cli" or m.startswith("needlecli.cli.")
    }
    assert not bad, f"needlecli/{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_only_the_pure_core(name: str) -> None:
    found = runtime_imports(modules()[name])
    ours = {m.split(".")[1] for m in found if m.startswith("needlecli.") and m.count(".") >= 1}
    ours -= {"__version__"}
    assert ours <= PURE_MAY_IMPORT, f"needlecli/{name} imports {sorted(ours - PURE_MAY_IMPORT)}"
    outside = {m for m in found if m.split(".")[0] in IMPURE_MODULES}
    assert not outside, f"needlecli/{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_read_no_clock_environment_or_file(name: str) -> None:
    tree = ast.parse(modules()[name].read_text())
    calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in IMPURE_CALLS:
                calls.add(called)
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            calls.add("environ")
    assert not calls, f"needlecli/{name} calls {sorted(calls)}"


def test_the_planning_path_is_written_once() -> None:
    """`plan`, `aftercare` and `batch` reach plans only through needlecli.planning."""
    names = modules()
    for user in ("cli.plan", "cli.aftercare", "batch.row"):
        found = imports(names[user])
        assert "needlecli.planning" in found, user
        assert not any(m.startswith("needlecli.scheduling") for m in found), f"{user} plans by itself"


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports at run time (anywhere in the file), below the CLI."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        if name.startswith("cli") or name in ENTRY_POINTS:
            continue
        deps = set()
        for imp in runtime_imports(path):
            if not imp.startswith("needlecli."):
                continue
            target = imp.removeprefix("needlecli.")
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def test_no_import_cycle_below_the_cli() -> None:
    """A module never depends on itself through others (config -> keys -> config was one)."""
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                found.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert found == [], [" -> ".join(c) for c in found]


#: The floors of the house, bottom up. A module imports only from its own floor or below: the pure
#: core never reaches the files, the files never reach a renderer, nothing but the CLI reaches batch.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "dates", "recorded", "model", "identity", "choices", "bundled", "zones", "folders"),  # the ground
    # the pure core
    (
        "screening",
        "scheduling",
        "revisions",
        "course",
        "aftercare",
        "answers",
        "clinic",
        "floors",
        "planning",
        "export",
    ),
    # files and protocols
    (
        "documents",
        "keys",
        "records",
        "plans",
        "config",
        "catalog",
        "validation",
        "case_file",
        "cases",
        "outfiles",
        "register",
    ),
    ("render",),  # documents for people and calendars
    ("batch",),  # a clinic's list
)


def _floor(name: str) -> int:
    top = name.split(".")[0]
    for level, rooms in enumerate(FLOORS):
        if top in rooms:
            return level
    raise AssertionError(f"needlecli/{name} is on no floor: add it to FLOORS")


def test_every_module_is_on_a_floor_and_no_arrow_points_up() -> None:
    up = [
        f"{name} (floor {_floor(name)}) -> {dep} (floor {_floor(dep)})"
        for name, deps in _graph().items()
        if name
        for dep in deps
        if dep and _floor(dep) > _floor(name)
    ]
    assert up == []


#: A module a newcomer can read in one sitting.
MAX_LINES = 650


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_a_house_of_its_own(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"needlecli/{name} has {lines} lines"


def test_every_package_is_in_the_wheel() -> None:
    """A package missing from pyproject's list installs without it (and works only from a checkout)."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        "needlecli" + "".join(f".{p}" for p in init.parent.relative_to(PACKAGE).parts)
        for init in PACKAGE.rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
