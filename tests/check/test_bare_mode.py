"""``envcapture check`` where the project's packages are not installed (a fresh clone, a pre-commit hook).

Nothing is found (no --python, [tool.envcapture] python, VIRTUAL_ENV or .venv/): bare mode.
Imports are named from the import-name table, declarations matched through the same table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from envcapture.check.job import CheckOptions, run_check


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX", "PRE_COMMIT"):
        monkeypatch.delenv(name, raising=False)


def _check(project: Path, source: str, requirements: str) -> tuple[list[str], str]:
    (project / "train.py").write_text(source)
    (project / "requirements.txt").write_text(requirements)
    result = run_check(CheckOptions(project=project, entry_points=("train.py",), use_cache=False))
    return [f"{f.code} {f.message}" for f in result.findings], result.environment


def test_undeclared_import_is_named_and_declared_names_match(tmp_path: Path, bare: None) -> None:
    findings, environment = _check(tmp_path, "import yaml\nimport fire\n", "PyYAML\n")
    assert "bare mode" in environment
    assert len(findings) == 1, findings
    assert findings[0].startswith("EC001 fire is imported but not declared"), findings
    assert "declare fire" in findings[0]
    findings, _ = _check(tmp_path, "import yaml\nimport fire\n", "PyYAML\nfire\n")
    assert findings == []


def test_import_name_declared_is_wrong_name(tmp_path: Path, bare: None) -> None:
    findings, _ = _check(tmp_path, "import yaml\n", "yaml\n")
    assert [f.split(" ", 1)[0] for f in findings] == ["EC003"], findings
    assert "declare PyYAML" in findings[0]


def test_declared_provider_wins_over_the_most_likely_one(tmp_path: Path, bare: None) -> None:
    source = "import cv2\nimport sklearn\nimport dotenv\nimport google.cloud.bigquery\n"
    requirements = "opencv-python-headless\nscikit-learn\npython-dotenv\ngoogle-cloud-bigquery\n"
    findings, _ = _check(tmp_path, source, requirements)
    assert findings == []


def test_unused_declaration_still_reported(tmp_path: Path, bare: None) -> None:
    findings, _ = _check(tmp_path, "import yaml\n", "PyYAML\nrequests\n")
    assert [f.split(" ", 1)[0] for f in findings] == ["EC002"], findings


def test_project_venv_is_used(tmp_path: Path, bare: None, fixture_env: object) -> None:
    (tmp_path / ".venv").symlink_to(fixture_env.venv)  # type: ignore[attr-defined]
    findings, environment = _check(tmp_path, "import alpha_mod\n", "dist-alpha==1.0.0\n")
    assert environment.endswith("(from .venv/ in the project)"), environment
    assert findings == []
