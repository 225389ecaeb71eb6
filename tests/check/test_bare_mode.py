"""``envcapture check`` where the project's packages are not installed (a fresh clone, a pre-commit hook).

Nothing is found (no --python, [tool.envcapture] python, VIRTUAL_ENV or .venv/): bare mode.
Imports are named from the import-name table, declarations matched through the same table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from envcapture.check.job import CheckOptions, CheckResult, run_check


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX", "PRE_COMMIT"):
        monkeypatch.delenv(name, raising=False)


def _result(project: Path, source: str, requirements: str) -> CheckResult:
    (project / "train.py").write_text(source)
    (project / "requirements.txt").write_text(requirements)
    return run_check(CheckOptions(project=project, entry_points=("train.py",), use_cache=False))


def _check(project: Path, source: str, requirements: str) -> tuple[list[str], str]:
    result = _result(project, source, requirements)
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


def test_unused_declaration_is_not_judged_without_metadata(tmp_path: Path, bare: None) -> None:
    """Nothing installed, so PyYAML's requirements are unknown: requests may be one of them (a
    pinned dependency, as `pip freeze` writes), so it is a note, not an EC002."""
    result = _result(tmp_path, "import yaml\n", "PyYAML\nrequests\n")
    assert result.findings == ()
    assert result.notes == (
        "EC002 not judged for requests (requirements.txt:2): no code imports it, but it may be required by PyYAML, "
        "whose requirements are unknown (not installed in the analysed environment); install it, or analyse an "
        "environment where it is (--python, a .venv/), to judge",
    )
    # with nothing else declared or imported, nothing can require it: unused for sure
    findings, _ = _check(tmp_path, "import os\n", "requests\n")
    assert findings == ["EC002 requests is declared but no code the entry points reach imports it"]
    # an ignored EC002 is no note either
    result = _result(tmp_path, "import yaml\n", "PyYAML\nrequests  # envcapture: ignore[unused]\n")
    assert (result.findings, result.notes) == ((), ())


RL_SCRIPT = (
    "try:\n    import gymnasium as gym\nexcept ImportError:\n    import gym\nfrom torch.utils.tensorboard import SummaryWriter\n"
)


def test_one_alternative_is_needed(tmp_path: Path, bare: None) -> None:
    """`try: import gymnasium` / `except ImportError: import gym`: either declaration will do."""
    findings, _ = _check(tmp_path, RL_SCRIPT, "torch\ntensorboard\n")
    assert findings == [
        "EC001 gymnasium is imported but not declared, and not installed in the analysed environment: "
        "declare gymnasium (imported at train.py:2), or its alternative gym (try/except ImportError)"
    ]
    for declared in ("gymnasium", "gym"):
        findings, _ = _check(tmp_path, RL_SCRIPT, f"torch\ntensorboard\n{declared}\n")
        assert findings == [], declared


def test_submodule_needing_another_distribution(tmp_path: Path, bare: None) -> None:
    """torch.utils.tensorboard imports tensorboard, which torch does not require."""
    findings, _ = _check(tmp_path, RL_SCRIPT, "torch\ngym\n")
    assert findings == [
        "EC001 tensorboard (through torch.utils.tensorboard) is imported but not declared, and not installed in the "
        "analysed environment: declare tensorboard (imported at train.py:5)"
    ]


def test_project_venv_is_used(tmp_path: Path, bare: None, fixture_env: object) -> None:
    (tmp_path / ".venv").symlink_to(fixture_env.venv)  # type: ignore[attr-defined]
    findings, environment = _check(tmp_path, "import alpha_mod\n", "dist-alpha==1.0.0\n")
    assert environment.endswith("(from .venv/ in the project)"), environment
    assert findings == []
