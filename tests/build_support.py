"""Helpers of the builder tests (``from build_support import ...``): the test index's wheels,
git repositories with fixed dates, the ``buildjob`` records, bundle comparisons."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from index_server import IndexServer, build_fixture_wheel

__all__ = [
    "BUILD_COMMAND",
    "COMMIT_TIME",
    "GIT_ENV",
    "INDEX_WHEELS",
    "MIRROR",
    "PLACEHOLDER_INDEX",
    "PROJECTS",
    "BuildJob",
    "Built",
    "bundle_files",
    "fake_wheel",
    "git",
    "make_git_repo",
    "pyenv_python",
    "run_cli",
]

MIRROR = Path("/opt/pypi/files")
INDEX_WHEELS = {
    "psutil": "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl",
    "markupsafe": "markupsafe-3.0.3-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
    "setuptools": "setuptools-84.0.0-py3-none-any.whl",
}
PROJECTS = Path(__file__).resolve().parent / "fixtures" / "projects"
PLACEHOLDER_INDEX = "http://127.0.0.1:9/simple"
BUILD_COMMAND = "envcapture build --config config.yaml"
"""What the CLI writes in the lock header for ``envcapture build --config config.yaml -o bundle`` (no -o: the header is the same whatever the output)."""
GIT_ENV = {
    "GIT_AUTHOR_NAME": "envcapture tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "envcapture tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
COMMIT_TIME = 1704164645  # GIT_COMMITTER_DATE above


def pyenv_python(version: str) -> str | None:
    """``/root/.pyenv/versions/<version>.*/bin/python`` (newest), or ``None``."""
    found = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python"))
    return str(found[-1]) if found else None


def fake_wheel(name: str, version: str, deps: list[str], src: Path, out: Path) -> Path:
    """A small pure-Python wheel of ``name`` ``version`` requiring ``deps``, built under ``src``
    into ``out`` (stands in for a large one: torch's CUDA build, nvidia-* libraries)."""
    module = name.replace("-", "_")
    project = src / f"{module}-{version}"
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text(f"__version__ = {version!r}\n# {'x' * 2000}\n")
    deps_text = ", ".join(json.dumps(d) for d in deps)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps_text}]\n'
        f'[tool.setuptools]\npackages = ["{module}"]\n'
    )
    return build_fixture_wheel(project, out)


def write_index_job(project: Path, index_url: str, train: str, extra: str = "") -> Path:
    """A job at ``project``: ``train.py`` with ``train``, and a config.yaml that runs it, takes the
    installed environment and names ``index_url`` as the only index (``extra``: more keys)."""
    project.mkdir(parents=True)
    (project / "train.py").write_text(train)
    (project / "config.yaml").write_text(
        f"cmd: python train.py\nenv:\n  python:\n    type: auto\n    pip:\n      index-url: {index_url}\n{extra}"
    )
    return project


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], cwd: Path) -> tuple[int, str, str]:
    """``envcapture ARGS`` in this process, run from ``cwd``: (exit code, stdout, stderr)."""
    from envcapture.cli import main

    old = Path.cwd()
    os.chdir(cwd)
    try:
        code = main(args)
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    return code, out, err


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_git_repo(source: Path) -> str:
    """``git init`` + commit ``source`` (fixed author and dates); return the commit id."""
    git("init", "-q", cwd=source)
    git("add", ".", cwd=source)
    git("commit", "-q", "-m", "fixture", cwd=source)
    return git("rev-parse", "HEAD", cwd=source)


@dataclass(frozen=True)
class BuildJob:
    """The ``buildjob`` project and the virtualenv it runs in."""

    root: Path
    project: Path
    config: Path
    python: Path  # the job's virtualenv (CPython 3.11)
    vcs_repo: Path
    commit: str
    editable: Path
    index: IndexServer

    def copy_project(self, dest: Path) -> Path:
        """Another copy of the project (same config, same index)."""
        shutil.copytree(self.project, dest)
        return dest


@dataclass(frozen=True)
class Built:
    """A cold build of ``buildjob`` (the reference the other tests compare with)."""

    bundle: Path
    store_root: Path
    result: object


def bundle_files(bundle: Path) -> dict[str, bytes]:
    """Every file of a bundle directory by relative path."""
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}
