"""Every fixture project under tests/fixtures/projects/<name>/ analysed and compared with its expected.json.

Each project pins cases of the static analysis (guards, scopes, relative imports, ``-m``,
shadowing, src layout, namespace packages, editable installs, broken files, 3.12 syntax).
The environment is `fixture_env`: a real virtualenv with the fixture distributions installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.report import analysis_to_json

PROJECTS = Path(__file__).resolve().parent.parent / "fixtures" / "projects"


def _cases() -> list[Any]:
    out = []
    for project in sorted(PROJECTS.iterdir()):
        expected = project / "expected.json"
        if not expected.is_file():
            continue
        for i, case in enumerate(json.loads(expected.read_text())["cases"]):
            out.append(pytest.param(project, case, id=f"{project.name}-{i}"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("project,case", _cases())
def test_fixture_project(project: Path, case: dict[str, Any], fixture_snapshot: Any, tmp_path: Path) -> None:
    before = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if not p.is_symlink())
    options = AnalysisOptions(target_python=case.get("target_python"), cache_dir=tmp_path / "cache")
    config = project / case["config"] if "config" in case else None
    analysis = analyze(case.get("entries", ()), config=config, project=project, options=options, snapshot=fixture_snapshot)
    doc = analysis_to_json(analysis)

    if "entry_points" in case:
        assert doc["entry_points"] == case["entry_points"]
    assert doc["local_files"] == case["local_files"]
    assert {d["name"]: d["status"] for d in doc["distributions"]} == case["distributions"]
    assert {u["module"]: {"guess": u["guess"], "status": u["status"]} for u in doc["unresolved"]} == case["unresolved"]
    if "stdlib" in case:
        assert doc["stdlib"] == case["stdlib"]
    problems = sorted([d["file"], d["line"], d["code"]] for d in doc["diagnostics"] if d["severity"] != "info")
    assert problems == sorted(case["diagnostics"], key=lambda x: (x[0], x[1] or 0, x[2]))
    for wanted in case.get("sites", []):
        sites = [s for d in doc["distributions"] + doc["unresolved"] for s in d["import_sites"]]
        assert any(all(s.get(k) == v for k, v in wanted.items()) for s in sites), (wanted, sites)
    # The analysis never writes into the project.
    after = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if not p.is_symlink())
    assert after == before


PY310 = Path("/root/.pyenv/versions/3.10.13/bin/python")


@pytest.mark.slow
@pytest.mark.skipif(not PY310.exists(), reason="no Python 3.10 interpreter under pyenv on this machine")
def test_312_syntax_analysed_from_a_310_interpreter(tmp_path: Path) -> None:
    """The analysed interpreter and the target are 3.10; the file uses PEP 695 syntax that
    3.10 cannot parse: libcst still reads its imports (the job would fail to import it on
    3.10, which is for the user to fix; envcapture's job is to see what it needs)."""
    from helpers import make_venv

    from envcapture.environment.snapshot import snapshot_environment

    python = make_venv(tmp_path / "venv310", python=str(PY310), seed=False)
    snapshot = snapshot_environment(str(python))
    assert snapshot.python_version.startswith("3.10.")
    analysis = analyze(
        ["main.py"], project=PROJECTS / "py312", options=AnalysisOptions(cache_dir=tmp_path / "cache"), snapshot=snapshot
    )
    doc = analysis_to_json(analysis)
    assert doc["target"]["python_version"] == "3.10"
    assert doc["local_files"] == ["main.py", "modern.py"]
    assert [
        (u["module"], u["status"], [(s["file"], s["line"], s["scope"]) for s in u["import_sites"]]) for u in doc["unresolved"]
    ] == [("alpha_mod", "required", [("modern.py", 5, "function")])]
    assert [d["code"] for d in doc["diagnostics"] if d["code"] == "parse-error"] == []
