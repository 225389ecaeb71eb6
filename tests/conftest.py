"""Shared pytest setup: ``tests/`` on sys.path for ``from helpers import ...``, session fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from helpers import FixtureEnv, ReadOnlyDir, WheelFactory, isolate_pip_config, make_fixture_env, make_tabular_env, make_venv

# The builder fixtures (a local index of real wheels, the buildjob project, one cold build)
# serve the build, image and runtime tests.
pytest_plugins = ["build_fixtures"]


# A test is slow when it builds wheels, virtualenvs or images, or runs an interpreter in a
# subprocess (`pytest -m "not slow"` is the inner loop). A test that uses one of these
# fixtures, directly or through another fixture, does; tests that do it themselves say
# @pytest.mark.slow.
SLOW_FIXTURES = frozenset(
    {
        "builder_python",  # a virtualenv (wheel_factory, fixture_env, fixture_snapshot use it)
        "index_dirs",  # builds the fixture wheels of the lock/index tests
        "buildjob",  # a virtualenv with a VCS and an editable install (cold_build builds a bundle)
        "handmade",  # a virtualenv
        "python_rootfs",  # a root file system made from a CPython
        "engine",  # a Docker engine
        "registry",  # a registry server
        "shop",  # CPython 3.11 virtualenvs of the projects that ship (tests/ship_support.py)
    }
)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def builder_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv python with pip and a wheel-building setuptools (seeded, offline)."""
    return make_venv(tmp_path_factory.mktemp("builder") / "venv")


@pytest.fixture(scope="session")
def wheel_factory(tmp_path_factory: pytest.TempPathFactory, builder_python: Path) -> WheelFactory:
    """Builds ``tests/fixtures/dists/<name>`` wheels once per session: ``wheel_factory("dist-alpha")``."""
    return WheelFactory(wheelhouse=tmp_path_factory.mktemp("wheelhouse"), python=builder_python)


@pytest.fixture(scope="session")
def fixture_env(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> FixtureEnv:
    """A virtualenv with every fixture distribution installed (see `helpers.FixtureEnv`). Do not modify it."""
    return make_fixture_env(tmp_path_factory.mktemp("fixture-env"), wheel_factory)


@pytest.fixture(scope="session")
def tabular_env(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Path:
    """The python of a virtualenv with tabular, arrowlite and dist-alpha (`helpers.make_tabular_env`). Do not modify it."""
    return make_tabular_env(tmp_path_factory.mktemp("tabular-env"), wheel_factory)


@pytest.fixture(autouse=True, scope="session")
def _isolated_pip_config() -> None:
    """envcapture builds from the sources of pip's configuration; the machine's (a global
    pip.conf with an extra index and find-links, PIP_FIND_LINKS) is not the tests': they
    set PIP_CONFIG_FILE=/dev/null in their environment, or their own pip.conf."""
    isolate_pip_config()


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never write to the user's cache directory."""
    import os

    os.environ["ENVCAPTURE_CACHE_DIR"] = str(tmp_path_factory.mktemp("envcapture-cache"))


@pytest.fixture(scope="session")
def fixture_snapshot(fixture_env: FixtureEnv):  # type: ignore[no-untyped-def]
    """`EnvSnapshot` of `fixture_env`, read once per session."""
    from envcapture.environment.snapshot import snapshot_environment

    return snapshot_environment(str(fixture_env.python))


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[ReadOnlyDir]:
    """A directory no file can be created in: mode 0555 for a user; for root, who writes
    through modes, a read-only tmpfs mounted there (skipped where mounting is not allowed)."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield ReadOnlyDir(path=path, reason="Permission denied")
        finally:
            path.chmod(0o755)
        return
    if shutil.which("mount") is None:
        pytest.skip("root writes through mode 0555, and there is no mount command for a read-only tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"root writes through mode 0555, and a read-only tmpfs cannot be mounted here: {done.stderr.strip()}")
    try:
        yield ReadOnlyDir(path=path, reason="Read-only file system")
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
