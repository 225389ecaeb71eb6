"""Shared pytest setup: ``tests/`` on sys.path for ``from helpers import ...``, session fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from helpers import FixtureEnv, WheelFactory, make_fixture_env, make_venv

# The builder fixtures (a local index of real wheels, the buildjob project, one cold build)
# serve the build, image and runtime tests.
pytest_plugins = ["build_fixtures"]


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
