"""Shared test helpers: virtualenvs, offline pip, fixture wheels (``from helpers import ...``).

Every pip call is isolated from the machine's global pip configuration (an extra index,
find-links): ``PIP_*`` variables are dropped, ``PIP_CONFIG_FILE=/dev/null``, and
``--no-index`` with only the caller's ``--find-links``. No helper touches the network.

envcapture honours the pip configuration of the environment it analyses, so the tests set
theirs in their environment: `isolate_pip_config` (a session fixture of conftest.py) sets
``PIP_CONFIG_FILE=/dev/null`` and removes the ``PIP_*`` source variables from
``os.environ``; a test that wants a pip configuration sets ``PIP_CONFIG_FILE`` to its own
file, and `machine_pip_environ` gives back what the machine had.

Virtualenvs are made with ``virtualenv`` (a dependency of envcapture): ~0.5 s with pip and
setuptools seeded from its embedded wheels, offline, versus ~3 s for ``python -m venv``
plus ensurepip. Seeded setuptools (>= 70.1, with ``bdist_wheel`` built in) is what
builds fixture wheels and editable installs with ``--no-build-isolation``; the dev venv's
own setuptools may be too old to build without the ``wheel`` package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FIXTURE_DISTS",
    "FIXTURE_WHEELS",
    "PIP_SOURCE_VARS",
    "TABULAR_DISTS",
    "FixtureEnv",
    "ReadOnlyDir",
    "WheelFactory",
    "build_wheel",
    "build_wheels",
    "copy_fixture",
    "isolate_pip_config",
    "machine_pip_environ",
    "make_fixture_env",
    "make_tabular_env",
    "make_venv",
    "pip_env",
    "pip_install",
    "run",
    "venv_python",
]

TESTS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ReadOnlyDir:
    """The ``read_only_dir`` fixture: a directory no file can be created in, and the
    system's words for why (``strerror``): mode 0555 for a user, a read-only mount for root."""

    path: Path
    reason: str  # "Permission denied" or "Read-only file system"


FIXTURE_DISTS = TESTS / "fixtures" / "dists"
"""Tiny setuptools projects, one per directory named after the distribution."""


# pip's settings that say where packages come from, as environment variables.
PIP_SOURCE_VARS = (
    "PIP_CONFIG_FILE",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_TRUSTED_HOST",
    "PIP_NO_INDEX",
)
_MACHINE_PIP: dict[str, str] = {}


def isolate_pip_config() -> None:
    """Turn the machine's pip configuration off for this process and its children
    (``PIP_CONFIG_FILE=/dev/null``, no ``PIP_*`` source variables); remember it."""
    for var in PIP_SOURCE_VARS:
        if var in os.environ and var not in _MACHINE_PIP:
            _MACHINE_PIP[var] = os.environ.pop(var)
    os.environ["PIP_CONFIG_FILE"] = os.devnull


def machine_pip_environ() -> dict[str, str]:
    """``os.environ`` with the machine's own pip settings back (as before `isolate_pip_config`)."""
    env = {k: v for k, v in os.environ.items() if k not in PIP_SOURCE_VARS}
    env.update(_MACHINE_PIP)
    return env


def pip_env() -> dict[str, str]:
    """``os.environ`` without pip settings and Python path overrides, pip config disabled."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def run(cmd: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None) -> str:
    """Run ``cmd`` with `pip_env`; return stdout; raise AssertionError with the output on failure."""
    done = subprocess.run(
        [str(part) for part in cmd],
        cwd=cwd,
        env=pip_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"command failed ({done.returncode}): {' '.join(map(str, cmd))}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done.stdout


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtualenv at ``venv``."""
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def make_venv(path: Path, python: str | None = None, *, seed: bool = True) -> Path:
    """Create a virtualenv at ``path`` for ``python`` (default: this interpreter); return its python.

    ``seed`` installs pip and setuptools from virtualenv's embedded wheels (offline).
    """
    cmd: list[str] = [sys.executable, "-m", "virtualenv", "--quiet", "--no-periodic-update"]
    cmd += ["--python", python or sys.executable]
    if not seed:
        cmd.append("--no-seed")
    run([*cmd, str(path)])
    return venv_python(path)


def _has_pip(python: Path | str) -> bool:
    done = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            "import importlib.util as u, sys; sys.exit(u.find_spec('pip') is None)",
        ],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def pip_install(python: Path | str, *args: str | os.PathLike[str], find_links: Iterable[Path] = ()) -> str:
    """``pip install`` into the environment of ``python``, offline, with ``--no-build-isolation``.

    Uses that environment's own pip when it has one, else this interpreter's pip with
    ``--python``. ``args`` are requirements, paths and extra options (``--no-deps``,
    ``-e``, ``--target``).
    """
    if _has_pip(python):
        cmd: list[str] = [str(python), "-m", "pip"]
    else:
        cmd = [sys.executable, "-m", "pip", "--python", str(python)]
    cmd += ["install", "--no-index", "--no-build-isolation", "--no-cache-dir", "--quiet"]
    cmd += [f"--find-links={link}" for link in find_links]
    cmd += [str(arg) for arg in args]
    return run(cmd)


def copy_fixture(name: str, dest_dir: Path) -> Path:
    """A copy of ``tests/fixtures/dists/<name>`` under ``dest_dir`` (builds write into the tree)."""
    dest = dest_dir / name
    shutil.copytree(FIXTURE_DISTS / name, dest, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    return dest


def _pyproject(source_dir: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    with open(source_dir / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


# PEP 517 build_wheel hooks for several projects in ONE process of the builder python:
# pip runs three hook subprocesses per project (~1 s each on a loaded 2-core machine).
_BUILD_SCRIPT = """
import importlib, json, os, sys
jobs = json.loads(sys.argv[1])
out = sys.stdout
sys.stdout = sys.stderr  # backends print progress
built = []
for source, backend_name, wheel_dir in jobs:
    os.chdir(source)
    module, _, attr = backend_name.partition(":")
    backend = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        backend = getattr(backend, part)
    built.append(os.path.join(wheel_dir, backend.build_wheel(wheel_dir)))
out.write(json.dumps(built))
"""


def build_wheels(source_dirs: Sequence[Path], out_dir: Path, *, python: Path | str | None = None) -> list[Path]:
    """Build one wheel per project; return their paths in ``source_dirs`` order.

    Sources are copied to a temporary directory first, so the fixture tree stays clean.
    The PEP 517 ``build_wheel`` hook of each project's backend runs without build
    isolation, all projects in one process of ``python`` (what ``pip wheel --no-deps
    --no-build-isolation`` does, minus its three subprocesses per project), so
    ``python`` must have the backend: setuptools >= 70.1 (or setuptools with ``wheel``)
    for the fixtures. Default: this interpreter. Offline by construction.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="envcapture-build-") as tmp:
        jobs = []
        for index, source in enumerate(source_dirs):
            staged = Path(tmp, "src", source.name)
            shutil.copytree(source, staged, ignore=shutil.ignore_patterns("build", "*.egg-info"))
            backend = _pyproject(source).get("build-system", {}).get("build-backend", "setuptools.build_meta:__legacy__")
            wheel_dir = Path(tmp, "wheels", str(index))
            wheel_dir.mkdir(parents=True)
            jobs.append([str(staged), backend, str(wheel_dir)])
        output = run([str(python or sys.executable), "-c", _BUILD_SCRIPT, json.dumps(jobs)])
        result = []
        for built in json.loads(output):
            target = out_dir / Path(built).name
            shutil.move(built, target)
            result.append(target)
    return result


def build_wheel(source_dir: Path, out_dir: Path, *, python: Path | str | None = None) -> Path:
    """Build the wheel of the project at ``source_dir`` into ``out_dir``; return its path (see `build_wheels`)."""
    return build_wheels([source_dir], out_dir, python=python)[0]


@dataclass
class WheelFactory:
    """Builds fixture wheels once per test session into ``wheelhouse`` (the ``wheel_factory`` fixture).

    ``factory("dist-alpha")`` -> path of its wheel; ``factory.build(*names)`` builds several
    in one pip run. ``wheelhouse`` is the ``--find-links`` directory.
    """

    wheelhouse: Path
    python: Path | str | None = None
    _built: dict[str, Path] = field(default_factory=dict)

    def build(self, *names: str) -> list[Path]:
        missing = [name for name in dict.fromkeys(names) if name not in self._built]
        if missing:
            wheels = build_wheels([FIXTURE_DISTS / n for n in missing], self.wheelhouse, python=self.python)
            self._built.update(zip(missing, wheels, strict=True))
        return [self._built[name] for name in names]

    def __call__(self, name: str) -> Path:
        return self.build(name)[0]


@dataclass(frozen=True)
class FixtureEnv:
    """A virtualenv with the fixture distributions installed (the ``fixture_env`` fixture).

    From the wheelhouse by name: dist-alpha, ns-one, ns-two, dep-rich (no direct_url).
    From a local directory, not editable: Yaml-Like (``local_dir``).
    Editable (PEP 660): edit-me (flat layout: a finder, ``editable_dir``) and edit-src
    (src layout: a static ``.pth``, ``editable_src_dir``).
    """

    venv: Path
    python: Path
    site_packages: Path
    local_dir: Path
    editable_dir: Path
    editable_src_dir: Path


FIXTURE_WHEELS = ("dist-alpha", "ns-one", "ns-two", "dep-rich")


def make_fixture_env(root: Path, wheels: WheelFactory) -> FixtureEnv:
    """Create the `FixtureEnv` under ``root`` (about 5 s)."""
    wheels.build(*FIXTURE_WHEELS)
    python = make_venv(root / "venv")
    sources = root / "sources"
    sources.mkdir()
    local_dir = copy_fixture("Yaml-Like", sources)
    editable_dir = copy_fixture("edit-me", sources)
    editable_src_dir = copy_fixture("edit-src", sources)
    pip_install(
        python, "--no-deps", *FIXTURE_WHEELS, local_dir, "-e", editable_dir, "-e", editable_src_dir,
        find_links=[wheels.wheelhouse],
    )  # fmt: skip
    site = run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    return FixtureEnv(
        venv=root / "venv",
        python=python,
        site_packages=Path(site.strip()),
        local_dir=local_dir,
        editable_dir=editable_dir,
        editable_src_dir=editable_src_dir,
    )


TABULAR_DISTS = ("tabular", "arrowlite", "dist-alpha")
"""The installed-extras fixture: tabular 2.1.0 (extras parquet -> arrowlite, test -> dist-alpha,
fast -> arrowlite>=9, plot -> a distribution never installed), arrowlite 1.0.3, dist-alpha."""


def make_tabular_env(root: Path, wheels: WheelFactory, python: str | None = None) -> Path:
    """A virtualenv under ``root`` with `TABULAR_DISTS` installed from their wheels (no
    ``direct_url.json``: index releases, as pandas and pyarrow from PyPI); returns its python."""
    wheels.build(*TABULAR_DISTS)
    venv_py = make_venv(root / "venv", python)
    pip_install(venv_py, *TABULAR_DISTS, find_links=[wheels.wheelhouse])
    return venv_py
