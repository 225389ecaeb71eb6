"""The pipeline flows one way: no module imports (at module level) a module downstream of it.

Imports inside functions are allowed: the CLI and the API glue load stages lazily.
A new module must be placed in LAYERS; the test says so when one is missing.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "envcapture"

# Stage order, upstream first; modules in one layer may import each other.
LAYERS: list[set[str]] = [
    {"errors", "_fs", "_yaml", "_procs"},
    {"model"},
    {"config", "requirements"},
    {"analyzers.entrypoints", "analyzers.stdlib", "analyzers.mapping", "_probe", "environment", "analyzers.distributions", "entries"},
    {"analyzers.conditions"},
    {"analyzers.imports", "analyzers.finder"},
    {"cache"},
    {"analyzers.modules"},
    {"analyzers.classify"},
    {"_tracer", "_sandbox", "analyzers.datarefs", "analyzers.trace", "analyzers.merge"},
    {"analysis"},
    {"resolve"},
    {"manual", "target_resolve"},
    {"indexes", "builders.lock"},
    {"capture"},
    {"declared", "check", "reqfix", "check_report", "checkjob"},
    {"store", "builders._pip", "builders._wheels", "builders.bundle", "builders.wheelhouse", "builders.job"},
    {"builders.build", "builders.verify"},
    {"builders.staging", "builders.layers", "builders.image", "builders.registry", "builders.engine", "runtime", "_runenv", "_supervise"},
    {"report"},
    {"cli", "__init__", "analyzers.__init__", "builders.__init__"},
]


def _rank(name: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return ".".join(rel.parts)


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks are not run-time imports
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("envcapture"):
            found.add(node.module.removeprefix("envcapture").lstrip("."))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("envcapture."):
                    found.add(alias.name.removeprefix("envcapture."))
    return {f for f in found if f}


def test_every_module_has_a_layer() -> None:
    missing = [_module_name(p) for p in sorted(PACKAGE.rglob("*.py")) if _rank(_module_name(p)) is None]
    assert missing == [], f"add these modules to LAYERS in {__file__}: {missing}"


def test_no_module_imports_downstream() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        rank = _rank(name)
        if rank is None:
            continue
        for imported in _top_level_imports(path):
            other = _rank(imported)
            if other is None:
                other = _rank(imported + ".__init__")
            if other is not None and other > rank:
                problems.append(f"{name} (layer {rank}) imports {imported} (layer {other})")
    assert problems == []
