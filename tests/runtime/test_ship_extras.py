"""What ships beyond the imports, end to end: a job whose library imports an installed
distribution inside one of its functions runs offline on the "VM".

``tests/fixtures/ship/extras``: ``main.py`` calls ``tabular.read_parquet()``, which imports
``arrowlite`` inside tabular (as ``pandas.read_parquet`` imports ``pyarrow``); tabular's
``parquet`` extra names arrowlite. The virtualenv (CPython 3.11) has tabular, arrowlite and
dist-alpha (tabular's ``test`` extra) installed from a PEP 503 index on 127.0.0.1, which the
config names. Each job is built with ``envcapture build`` and run with ``envcapture run``
under ``unshare -n`` with the project and its virtualenv renamed away, as in test_ship.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from build_support import pyenv_python
from helpers import TABULAR_DISTS, WheelFactory, make_venv, pip_install
from index_server import IndexServer
from ship_support import cli

from envcapture.runtime.verify import offline_prefix

PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "ship" / "extras"
PLACEHOLDER_INDEX = "http://127.0.0.1:9/simple"


@dataclass(frozen=True)
class Shop:
    """A CPython 3.11 virtualenv with the tabular fixture installed from the index that serves it."""

    root: Path
    python: Path
    index: IndexServer


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Iterator[Shop]:
    py311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if py311 is None:
        pytest.skip("no CPython 3.11 on this machine")
    root = tmp_path_factory.mktemp("ship-extras")
    index_dir = root / "index"
    index_dir.mkdir()
    for wheel in wheel_factory.build(*TABULAR_DISTS):
        shutil.copy(wheel, index_dir)
    python = make_venv(root / "venv", py311)
    pip_install(python, *TABULAR_DISTS, find_links=[index_dir])
    server = IndexServer(index_dir).start()
    try:
        yield Shop(root=root, python=python, index=server)
    finally:
        server.stop()


@dataclass(frozen=True)
class Job:
    project: Path
    bundle: Path
    build: subprocess.CompletedProcess[str]

    def manifest(self) -> dict:  # type: ignore[type-arg]
        return json.loads((self.bundle / "manifest.json").read_text("utf-8"))

    def lock(self) -> str:
        return (self.bundle / "requirements.lock.txt").read_text("utf-8")


def _build(shop: Shop, name: str, *options: str, pyproject: str | None = None) -> Job:
    base = shop.root / name
    project = shutil.copytree(PROJECT, base / "project")
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace(PLACEHOLDER_INDEX, shop.index.url), "utf-8")
    if pyproject is not None:
        (project / "pyproject.toml").write_text(pyproject, "utf-8")
    done = cli("build", "--config", config, "--python", shop.python, "-o", base / "bundle", "--no-progress", *options,
                cache=base / "cache", cwd=base)  # fmt: skip
    return Job(project=project, bundle=base / "bundle", build=done)


def _run_offline(shop: Shop, job: Job, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``envcapture run`` of a copy of the bundle, network cut off, project and virtualenv renamed away."""
    prefix = offline_prefix()
    if not prefix or os.geteuid() != 0:
        pytest.skip("cannot cut the network here: needs root and a working `unshare -n`")
    bundle = shutil.copytree(job.bundle, tmp / "bundle")
    venv = shop.python.parent.parent
    hidden = [(p, p.with_name(p.name + ".away")) for p in (job.project, venv)]
    for path, away in hidden:
        path.rename(away)
    try:
        return cli("run", bundle, "--workdir", tmp / "run", cache=tmp / "cache", cwd=tmp, prefix=prefix)
    finally:
        for path, away in hidden:
            away.rename(path)


def _shipped(job: Job) -> list[str]:
    return sorted(d["name"] for d in job.manifest()["distributions"])


def test_installed_extra_ships_and_the_job_runs_offline(shop: Shop, tmp_path: Path) -> None:
    job = _build(shop, "default")
    assert job.build.returncode == 0, job.build.stderr
    assert "  added arrowlite==1.0.3 (extra parquet of tabular, installed locally)" in job.build.stdout
    assert "verified offline with Python 3.11" in job.build.stdout
    # dist-alpha is installed and named by tabular's `test` extra: a test extra stays home.
    assert _shipped(job) == ["arrowlite", "tabular"]
    assert "arrowlite==1.0.3 \\\n" in job.lock() and "    # via tabular[parquet]\n" in job.lock()
    done = _run_offline(shop, job, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "extras ok" in done.stdout
    assert (tmp_path / "run" / "outputs" / "results" / "rows.txt").read_text("utf-8") == "rows=3\n"


def test_without_the_rule_the_job_fails_on_the_vm(shop: Shop, tmp_path: Path) -> None:
    """The failure the rule prevents: verify imports the job's modules (tabular imports fine),
    but read_parquet() fails on the target."""
    job = _build(shop, "rule-off", "--no-installed-extras")
    assert job.build.returncode == 0, job.build.stderr
    assert _shipped(job) == ["tabular"]
    done = _run_offline(shop, job, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "No module named 'arrowlite'" in done.stdout + done.stderr + _logs(tmp_path / "run")


def test_with_in_pyproject_ships_it_in_auto_mode(shop: Shop, tmp_path: Path) -> None:
    job = _build(shop, "with", "--no-installed-extras", "--no-verify", pyproject='[tool.envcapture]\nwith = ["arrowlite"]\n')
    assert job.build.returncode == 0, job.build.stderr
    assert "  added arrowlite==1.0.3 (asked for in [tool.envcapture] with (pyproject.toml:2))" in job.build.stdout
    assert _shipped(job) == ["arrowlite", "tabular"]
    assert "    # via pyproject.toml:2\n" in job.lock()
    done = _run_offline(shop, job, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "outputs" / "results" / "rows.txt").read_text("utf-8") == "rows=3\n"


def _logs(run_dir: Path) -> str:
    logs = run_dir / "logs"
    return (
        "".join(p.read_text("utf-8", errors="replace") for p in sorted(logs.rglob("*")) if p.is_file()) if logs.is_dir() else ""
    )
