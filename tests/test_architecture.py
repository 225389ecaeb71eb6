"""The pipeline flows one way, and no private name crosses a stage.

The direction is import-linter's ``layers`` contract in ``pyproject.toml`` (grimp sees every
import: relative ones, imports under ``if``, imports inside functions). These tests run the
contracts, prove that a reverse import breaks them (a test of the test), and check what
import-linter does not: private modules and names stay inside their stage.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "envcapture"
PYPROJECT = REPO / "pyproject.toml"
STAGES = ("config", "environment", "analysis", "resolution", "build", "check", "image", "runtime")


def _lint_imports(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_import_contracts_are_kept() -> None:
    pytest.importorskip("importlinter")
    done = _lint_imports(REPO, dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


REVERSE_IMPORTS = [
    # (file, text appended, the import-linter line naming the broken direction)
    (
        "resolution/requirements.py",
        "\n\ndef _late() -> object:\n    from envcapture.image.oci import build_image\n\n    return build_image\n",
        "envcapture.resolution is not allowed to import envcapture.image",
    ),
    (
        "analysis/walk.py",
        "\nif False:\n    from ..check import rules  # noqa\n",
        "envcapture.analysis is not allowed to import envcapture.check",
    ),
    (
        "runtime/supervise.py",
        "\nfrom envcapture.build import wheelhouse  # noqa\n",
        "envcapture.runtime is not allowed to import envcapture.build",
    ),
]


@pytest.mark.parametrize(("file", "added", "expected"), REVERSE_IMPORTS, ids=["in-function", "relative-under-if", "target-side"])
def test_a_reverse_import_breaks_the_contracts(tmp_path: Path, file: str, added: str, expected: str) -> None:
    pytest.importorskip("importlinter")
    copy = tmp_path / "repo"
    shutil.copytree(PACKAGE, copy / "envcapture", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(PYPROJECT, copy / "pyproject.toml")
    with open(copy / "envcapture" / file, "a", encoding="utf-8") as handle:
        handle.write(added)
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = _lint_imports(copy, env)
    assert done.returncode != 0, done.stdout
    assert expected in done.stdout


def _stage(module: str) -> str:
    """``envcapture.build.lock`` -> ``build``; top-level modules have no stage (``""``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGES) else ""


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path, root: Path) -> list[tuple[int, str, str | None]]:
    """Every import in ``path`` (any depth): (line, absolute module, imported name or None)."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return found


def _private_crossings(root: Path) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        importer = _module_name(path, root)
        for line, module, name in _imports(path, root):
            if not module.startswith("envcapture"):
                continue
            full = f"{module}.{name}" if name else module
            private_module = next((p for p in module.split(".")[2:] if p.startswith("_") and p != "__init__"), None)
            private = private_module or (name is not None and name.startswith("_") and not name.startswith("__"))
            if private and _stage(module) and _stage(module) != _stage(importer):
                problems.append(f"{path.relative_to(root.parent)}:{line}: {importer} imports {full}, private to {_stage(module)}")
    return problems


def test_no_private_name_crosses_a_stage() -> None:
    assert _private_crossings(PACKAGE) == []


def test_the_private_name_check_sees_a_crossing(tmp_path: Path) -> None:
    copy = tmp_path / "envcapture"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "runtime" / "run.py", "a", encoding="utf-8") as handle:
        handle.write("\n\ndef _late() -> None:\n    from ..build._pip import run_pip  # noqa\n")
    assert _private_crossings(copy) == [
        f"envcapture/runtime/run.py:{len((PACKAGE / 'runtime' / 'run.py').read_text().splitlines()) + 4}: "
        "envcapture.runtime.run imports envcapture.build._pip.run_pip, private to build"
    ]


def test_every_stage_is_a_folder_with_a_model_or_a_reason() -> None:
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert folders == sorted((*STAGES, "cli"))  # cli: the edge, one module per command group


def test_no_module_is_over_800_lines() -> None:
    sizes = {str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > 800} == {}


def test_docs_architecture_names_every_module_and_folder() -> None:
    """docs/architecture.md matches the folders: every stage folder is in the picture and
    every module is named in the table (by its path, or by its name in its folder's row)."""
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    picture = doc[: doc.index("## Stages")]
    assert [s for s in (*STAGES, "cli") if f"  {s}/" not in picture] == []
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        rel = path.relative_to(PACKAGE).as_posix()
        if rel not in doc and f"`{path.name}`" not in doc:
            missing.append(rel)
    assert missing == []
