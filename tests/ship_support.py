"""Helpers of the "what ships" tests (``from ship_support import ...``): a real project of
``tests/fixtures/ship/<name>/`` copied, given its own CPython 3.11 virtualenv, built with the
CLI, and run with ``envcapture run`` with the network cut off and the project and its
virtualenv renamed away (tests/runtime/test_ship.py, tests/runtime/test_ship_datafiles.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from build_support import INDEX_WHEELS, MIRROR, pyenv_python
from helpers import make_venv, pip_install
from index_server import IndexServer

from envcapture.runtime.verify import offline_prefix

__all__ = ["PLACEHOLDER_INDEX", "SHIP", "Job", "Shop", "build_job", "cli", "errors", "open_shop", "run_offline"]

SHIP = Path(__file__).resolve().parent / "fixtures" / "ship"
PLACEHOLDER_INDEX = "http://127.0.0.1:9/simple"


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "ENVCAPTURE_", "PYTHON"))}
    env["ENVCAPTURE_CACHE_DIR"] = str(cache)
    env["PIP_CONFIG_FILE"] = os.devnull  # the machine's pip configuration is not the test's
    return env


def cli(*args: str | Path, cache: Path, cwd: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``envcapture ARGS`` in a process of its own, with its own cache directory."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "envcapture.cli", *(str(a) for a in args)],
        cwd=cwd, env=_env(cache), capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("envcapture: error:")]


@dataclass(frozen=True)
class Shop:
    root: Path
    python: str
    index: IndexServer


@contextmanager
def open_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """CPython 3.11 and a local index with setuptools (the projects' build backend)."""
    setuptools = MIRROR / INDEX_WHEELS["setuptools"]
    if not setuptools.is_file():
        pytest.skip(f"the local wheel mirror lacks {setuptools.name} (the build backend of the fixtures)")
    py311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if py311 is None:
        pytest.skip("no CPython 3.11 on this machine")
    root = tmp_path_factory.mktemp("ship")
    (root / "index").mkdir()
    shutil.copy(setuptools, root / "index")
    server = IndexServer(root / "index").start()
    try:
        yield Shop(root=root, python=py311, index=server)
    finally:
        server.stop()


@dataclass(frozen=True)
class Job:
    project: Path
    venv: Path
    python: Path
    bundle: Path
    cache: Path
    build: subprocess.CompletedProcess[str]

    def manifest(self) -> dict[str, Any]:
        return dict(json.loads((self.bundle / "manifest.json").read_text("utf-8")))


def build_job(shop: Shop, name: str, *install: str, extra: tuple[str, ...] = ()) -> Job:
    """Copy ``name``, make its virtualenv (``install``: pip arguments, the project as ``{p}``),
    build it with the CLI."""
    base = shop.root / name
    project = shutil.copytree(SHIP / name, base / "project")
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace(PLACEHOLDER_INDEX, shop.index.url), "utf-8")
    python = make_venv(base / "venv", shop.python)
    if install:
        pip_install(python, *(arg.format(p=project) for arg in install))
    cache = base / "cache"
    done = cli(
        "build", "--config", config, "--python", python, "-o", base / "bundle", "--no-progress", *extra, cache=cache, cwd=base
    )
    return Job(project=project, venv=base / "venv", python=python, bundle=base / "bundle", cache=cache, build=done)


def run_offline(job: Job, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``envcapture run`` of a copy of the bundle with the network cut off and the project
    and its virtualenv renamed away."""
    prefix = offline_prefix()
    if not prefix or os.geteuid() != 0:
        pytest.skip("cannot cut the network here: needs root and a working `unshare -n`")
    bundle = shutil.copytree(job.bundle, tmp / "bundle")
    hidden = [(p, p.with_name(p.name + ".away")) for p in (job.project, job.venv)]
    for path, away in hidden:
        path.rename(away)
    try:
        return cli("run", bundle, "--workdir", tmp / "run", cache=tmp / "cache", cwd=tmp, prefix=prefix)
    finally:
        for path, away in hidden:
            away.rename(path)
