"""Fixtures of the builder tests: a local PEP 503 index of real wheels, the ``buildjob``
project with its virtualenv (index, VCS and editable dependencies), and one cold build.

The index holds real wheels copied from this machine's wheel mirror (``/opt/pypi/files``):
``psutil`` (compiled, ``cp36-abi3-manylinux``: installs on CPython 3.10 and 3.11),
``markupsafe`` (compiled, ``cp311-cp311-manylinux`` only) and ``setuptools`` (the build
backend that isolated builds install). Tests skip when the mirror is missing. Nothing
touches the network: every pip call is isolated (``PIP_CONFIG_FILE=/dev/null``, an
explicit index on 127.0.0.1).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from build_support import (
    BUILD_COMMAND,
    INDEX_WHEELS,
    MIRROR,
    PLACEHOLDER_INDEX,
    PROJECTS,
    BuildJob,
    Built,
    make_git_repo,
    pyenv_python,
)
from helpers import copy_fixture, make_venv, pip_install
from index_server import IndexServer


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the real wheels of the test index."""
    missing = [f for f in INDEX_WHEELS.values() if not (MIRROR / f).is_file()]
    if missing:
        pytest.skip(f"the local wheel mirror lacks {', '.join(missing)}")
    out = tmp_path_factory.mktemp("build-index")
    for filename in INDEX_WHEELS.values():
        shutil.copyfile(MIRROR / filename, out / filename)
    return out


@pytest.fixture(scope="session")
def index(index_dir: Path) -> Iterator[IndexServer]:
    """The index, served on 127.0.0.1 for the whole session."""
    server = IndexServer(index_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def buildjob(tmp_path_factory: pytest.TempPathFactory, index: IndexServer, index_dir: Path) -> BuildJob:
    """``tests/fixtures/projects/buildjob`` in a CPython 3.11 virtualenv with psutil (from the
    index), build-vcsdep (``git+file://...@<commit>``) and build-editdep (``pip install -e``)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    py311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if py311 is None:
        pytest.skip("no CPython 3.11 on this machine")
    root = tmp_path_factory.mktemp("buildjob")
    sources = root / "sources"
    sources.mkdir()
    vcs = copy_fixture("build-vcsdep", sources)
    commit = make_git_repo(vcs)
    editable = copy_fixture("build-editdep", sources)
    project = root / "project"
    shutil.copytree(PROJECTS / "buildjob", project)
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace(PLACEHOLDER_INDEX, index.url), "utf-8")
    python = make_venv(root / "venv", py311)
    pip_install(python, "psutil==7.2.2", f"git+file://{vcs}@{commit}", "-e", editable, find_links=[index_dir])
    return BuildJob(
        root=root,
        project=project,
        config=config,
        python=python,
        vcs_repo=vcs,
        commit=commit,
        editable=editable,
        index=index,
    )


@pytest.fixture(scope="session")
def cold_build(buildjob: BuildJob, tmp_path_factory: pytest.TempPathFactory) -> Built:
    from envcapture.build.bundle import build_bundle
    from envcapture.build.store import Store

    root = tmp_path_factory.mktemp("cold-build")
    store = Store(root / "store")
    result = build_bundle(
        config=buildjob.config, python=str(buildjob.python), output=root / "bundle", store=store, command=BUILD_COMMAND
    )
    return Built(bundle=root / "bundle", store_root=root / "store", result=result)
