"""Which environment analyze and check read: --python, [tool.envcapture] python, VIRTUAL_ENV, .venv/, else bare."""

from __future__ import annotations

import sys
from pathlib import Path

from envcapture.environment.discover import bare_snapshot, find_environment
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.model import DistName


def _venv(root: Path) -> Path:
    python = root / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    return python


def test_order(tmp_path: Path) -> None:
    project = tmp_path / "job"
    project.mkdir()
    active = _venv(tmp_path / "active")
    local = _venv(project / ".venv")
    env = {"VIRTUAL_ENV": str(tmp_path / "active")}
    # --python first
    assert find_environment(project, "3.11", env).source == "--python"
    # then [tool.envcapture] python, relative to the project
    (project / "pyproject.toml").write_text('[tool.envcapture]\npython = "envs/train"\n')
    choice = find_environment(project, None, env)
    assert (choice.python, choice.source) == (str(project / "envs/train"), "[tool.envcapture] python")
    (project / "pyproject.toml").write_text("[tool.envcapture]\n")
    # then VIRTUAL_ENV
    choice = find_environment(project, None, env)
    assert (choice.python, choice.source) == (str(active), "VIRTUAL_ENV")
    # then .venv/ in the project
    choice = find_environment(project, None, {})
    assert (choice.python, choice.source) == (str(local), ".venv/ in the project")
    assert "from .venv/ in the project" in choice.describe()


def test_venv_dir_and_bare(tmp_path: Path) -> None:
    project = tmp_path / "job"
    project.mkdir()
    choice = find_environment(project, None, {})
    assert choice.bare and choice.python is None
    assert "bare mode" in choice.describe()
    python = _venv(project / "venv")
    assert find_environment(project, None, {}).python == str(python)


def test_pre_commit_hook_environment_is_passed_over(tmp_path: Path) -> None:
    """pre-commit sets VIRTUAL_ENV to the hook's own environment (envcapture's): not the project's."""
    project = tmp_path / "job"
    project.mkdir()
    hook = tmp_path / "hook-env"
    _venv(hook)
    env = {"VIRTUAL_ENV": str(hook), "PRE_COMMIT": "1"}
    assert find_environment(project, None, env, own_prefix=str(hook)).bare
    # an activated environment that is not envcapture's own still counts
    assert find_environment(project, None, env, own_prefix=sys.prefix).source == "VIRTUAL_ENV"


def test_bare_snapshot_keeps_only_the_standard_library() -> None:
    dist = DistributionInfo(name=DistName("pyyaml"), display_name="PyYAML", version="6.0")
    snapshot = EnvSnapshot(
        executable=sys.executable,
        python_version="3.11.7",
        sys_path=("/usr/lib/python3.11", "/usr/lib/python311.zip", "/venv/site-packages", "/extra"),
        site_packages=("/venv/site-packages",),
        stdlib_dirs=("/usr/lib/python3.11",),
        distributions=(dist,),
        editable_mappings=(("edit_me", "/src/edit_me"),),
    )
    bare = bare_snapshot(snapshot)
    assert bare.sys_path == ("/usr/lib/python3.11", "/usr/lib/python311.zip")
    assert (bare.site_packages, bare.distributions, bare.editable_mappings) == ((), (), ())
