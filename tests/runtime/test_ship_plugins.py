"""Plugins loaded by a computed name ship, end to end: built with the CLI, run offline.

``tests/fixtures/ship/plugins``: ``train.py`` runs ``importlib.import_module("plugins." +
sys.argv[1])``; ``plugins/`` is a bare directory (no ``__init__.py``) with two plugins, one of
which imports ``scaling.py`` of the project root and reads ``weights.json`` next to itself.
Nothing imports the plugins by name: the literal prefix ``plugins.`` makes the package ship
whole and each of its modules analysed, so ``scaling.py`` ships too. The job is captured from
a virtualenv made with CPython 3.11, built with ``envcapture build`` (which verifies the
bundle) and run with ``envcapture run`` under ``unshare -n`` with the project and its
virtualenv renamed away (as tests/runtime/test_ship.py does).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from build_support import pyenv_python
from helpers import make_venv
from ship_support import cli

from envcapture.runtime.verify import offline_prefix

PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "ship" / "plugins"


@dataclass(frozen=True)
class Job:
    root: Path
    project: Path
    venv: Path
    python: Path
    bundle: Path
    build: subprocess.CompletedProcess[str]

    def manifest(self) -> dict:  # type: ignore[type-arg]
        return json.loads((self.bundle / "manifest.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def plugins_job(tmp_path_factory: pytest.TempPathFactory) -> Job:
    py311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if py311 is None:
        pytest.skip("no CPython 3.11 on this machine")
    root = tmp_path_factory.mktemp("ship-plugins")
    project = shutil.copytree(PROJECT, root / "project")
    python = make_venv(root / "venv", py311)
    done = cli(
        "build", "--config", project / "config.yaml", "--python", python, "-o", root / "bundle", "--no-progress",
        cache=root / "cache", cwd=root,
    )  # fmt: skip
    return Job(root=root, project=project, venv=root / "venv", python=python, bundle=root / "bundle", build=done)


def test_analyze_says_why_the_plugins_ship(plugins_job: Job) -> None:
    done = cli("analyze", "--config", "config.yaml", "--python", plugins_job.python, cache=plugins_job.root / "cache",
                cwd=plugins_job.project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "plugins/fancy.py  reached from train.py:8, dynamic (prefix plugins.)" in lines
    assert "plugins/plain.py  reached from train.py:8, dynamic (prefix plugins.)" in lines
    assert "scaling.py  reached from plugins/fancy.py:6" in lines
    assert not any("computed-import" in line or "test_fancy" in line for line in lines)


def test_plugin_package_ships_whole_and_verifies(plugins_job: Job) -> None:
    build = plugins_job.build
    assert build.returncode == 0, build.stdout + build.stderr
    assert "verified offline with Python 3.11" in build.stdout
    assert "warning" not in build.stderr
    manifest = plugins_job.manifest()
    local = manifest["local_code"]
    assert [f["path"] for f in local["files"]] == [
        "plugins/fancy.py",
        "plugins/plain.py",
        "plugins/weights.json",
        "scaling.py",
        "train.py",
    ]
    assert local["packages"] == [{"name": "plugins", "path": "plugins"}]
    assert local["excluded"] == [{"path": "plugins/tests", "rule": "tests"}]
    with tarfile.open(plugins_job.bundle / "local-code.tar.gz") as archive:
        assert sorted(archive.getnames()) == [f["path"] for f in local["files"]]
    # verify imported each plugin and what it imports, from the job's working directory
    (entry,) = manifest["verify"]["entries"]
    assert {(m["name"], m["required"]) for m in entry["modules"]} == {
        ("plugins.fancy", True),
        ("plugins.plain", True),
        ("scaling", True),
    }


def test_plugins_run_offline(plugins_job: Job, tmp_path: Path) -> None:
    prefix = offline_prefix()
    if not prefix or os.geteuid() != 0:
        pytest.skip("cannot cut the network here: needs root and a working `unshare -n`")
    assert plugins_job.build.returncode == 0, plugins_job.build.stderr
    bundle = shutil.copytree(plugins_job.bundle, tmp_path / "bundle")
    hidden = [(p, p.with_name(p.name + ".away")) for p in (plugins_job.project, plugins_job.venv)]
    for path, away in hidden:
        path.rename(away)
    try:
        done = cli("run", bundle, "--workdir", tmp_path / "run", cache=tmp_path / "cache", cwd=tmp_path, prefix=prefix)
    finally:
        for path, away in hidden:
            away.rename(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "plain plugin\nfancy plugin: 42\n" in done.stdout
    assert "Complete: exit code 0" in done.stderr
    assert (tmp_path / "run" / "outputs" / "results" / "plugins.txt").read_text() == "plain plugin\nfancy plugin: 42\n"


def test_lock_warns_where_nothing_can_ship(plugins_job: Job, tmp_path: Path) -> None:
    """A name with no literal package, and a prefix naming nothing: one warning line each,
    with file:line; the lock is still written."""
    project = tmp_path / "job"
    project.mkdir()
    (project / "train.py").write_text(
        "import importlib\nimport sys\n\n"
        "if __name__ == '__main__':\n"
        "    importlib.import_module(sys.argv[1])\n"
        "    __import__('backends.' + sys.argv[2])\n"
    )
    (project / "config.yaml").write_text("cmd: python train.py a b\nenv:\n  python: auto\n")
    done = cli("lock", "--config", "config.yaml", "-o", "out", "--offline", "--python", plugins_job.python,
                cache=tmp_path / "cache", cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("envcapture: warning:")]
    assert warnings == [
        "envcapture: warning: train.py:5: importlib.import_module(sys.argv[1]): the module name is computed at run time; "
        "`envcapture analyze --runtime` would see what it imports",
        "envcapture: warning: train.py:6: dynamic import with the prefix backends.: backends is not a package of the "
        "project nor installed, so nothing it loads can ship",
    ]
    assert (project / "out" / "requirements.lock.txt").is_file()
