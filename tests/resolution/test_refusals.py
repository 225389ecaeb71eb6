"""envcapture.resolution.refusals: what cannot run on the target is refused by ``lock`` and
``build`` before anything is built, and ``--allow-unresolved`` goes on.

Each case runs the CLI in a subprocess against a real virtualenv (CPython of this test run)
with fixture wheels installed from a local index on 127.0.0.1: ``new-python`` (Requires-Python
>=3.11), ``dep-rich`` (requires ``dist-alpha>=1.0``, imports it) and ``dist-alpha``. The exit
code and the exact stderr line are checked: one line, no traceback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import FIXTURE_DISTS, make_venv, pip_env, run
from index_server import IndexServer, build_fixture_wheel

from envcapture.model import Target, dist_name
from envcapture.resolution.model import Closure, Origin, OriginKind, Pin, Via, ViaKind
from envcapture.resolution.refusals import requires_python_refusals

SHIP = Path(__file__).resolve().parents[1] / "fixtures" / "ship"
WHEELS = ("new-python", "dep-rich", "dist-alpha")

# --- pure: Requires-Python against the target ------------------------------------------------


def _pin(name: str, requires_python: str | None, *via: Via) -> Pin:
    return Pin(
        name=dist_name(name),
        display_name=name,
        version="2.0",
        installed_version="2.0",
        origin=Origin(kind=OriginKind.INDEX),
        requires_python=requires_python,
        via=via,
    )


def test_requires_python_names_the_site_the_parent_and_the_fix() -> None:
    closure = Closure(
        pins=(
            _pin("app-lib", ">=3.8", Via(source="train.py:4", kind=ViaKind.IMPORT)),
            _pin("new-python", ">=3.11", Via(source="app-lib")),
            _pin("odd", "not a specifier", Via(source="train.py:5", kind=ViaKind.IMPORT)),
        )
    )
    (refusal,) = requires_python_refusals(closure, Target(python_version="3.10"))
    assert str(refusal.error()) == (
        "train.py:4: new-python 2.0 (required by app-lib) has Requires-Python >=3.11, which excludes the target's "
        "Python 3.10; install a new-python release that supports Python 3.10, or target Python >=3.11, "
        "or --allow-unresolved"
    )
    assert requires_python_refusals(closure, Target(python_version="3.11")) == []


# --- the CLI on a real environment -------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    python: Path
    index: IndexServer
    cache: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A virtualenv of this interpreter with the fixture wheels installed from a local index."""
    root = tmp_path_factory.mktemp("refusals")
    wheels = root / "wheels"
    wheels.mkdir()
    for name in WHEELS:
        build_fixture_wheel(FIXTURE_DISTS / name, wheels)
    server = IndexServer(wheels).start()
    try:
        python = make_venv(root / "venv", seed=False)
        run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--index-url", server.url, *WHEELS])
        yield Env(python=python, index=server, cache=root / "cache")
    finally:
        server.stop()


def _cli(env: Env, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = pip_env()
    environ["ENVCAPTURE_CACHE_DIR"] = str(env.cache)
    return subprocess.run(
        [sys.executable, "-m", "envcapture.cli", *args, "--python", str(env.python)],
        cwd=project, env=environ, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _go(env: Env, project: Path, verb: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``lock`` (offline) or ``build`` of ``project``'s config.yaml into ``project/out``."""
    args = [verb, "-c", "config.yaml", "-o", "out", *extra]
    if verb == "lock":
        args.append("--offline")
    return _cli(env, project, *args)


def _project(tmp_path: Path, config: str, **files: str) -> Path:
    project = tmp_path / "job"
    project.mkdir()
    (project / "config.yaml").write_text(config)
    for name, text in files.items():
        (project / name.replace("__", ".")).write_text(text)
    return project


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("envcapture: warning:")]


AUTO = "cmd: python train.py\nenv:\n  python: auto\n"
TRAIN = """import json
import typing

import fire

try:
    import wandb
except ImportError:
    wandb = None
if typing.TYPE_CHECKING:
    import mypy_extensions
import sys
if sys.platform == "win32":
    import winreg_helpers


def main():
    import tensorboardX
    return tensorboardX


if __name__ == "__main__":
    print(json.dumps(fire is not None))
"""


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["lock", "build"])
def test_a_module_level_import_nothing_provides_is_refused(env: Env, tmp_path: Path, verb: str) -> None:
    project = _project(tmp_path, AUTO, train__py=TRAIN)
    done = _go(env, project, verb)
    assert (done.returncode, done.stdout) == (3, ""), done.stderr
    assert done.stderr.splitlines() == [
        "envcapture: error: train.py:4: import fire: not installed in the analysed environment and not local; "
        "pip install fire, or --allow-unresolved"
    ]
    assert not (project / "out").exists()
    # --allow-unresolved goes on, saying what it went on with (build would then fail verify
    # on the same import: --no-verify).
    done = _go(env, project, verb, "--allow-unresolved", *(["--no-verify"] if verb == "build" else []))
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stderr) == [
        "envcapture: warning: train.py:4: import fire: not installed in the analysed environment and not local "
        "(--allow-unresolved: going on)",
        "envcapture: warning: train.py:18: import tensorboardX inside a function: not installed in the analysed "
        "environment, so that code path may never run (pip install tensorboardX if it does)",
    ]


@pytest.mark.slow
def test_imports_that_may_not_run_are_warnings(env: Env, tmp_path: Path) -> None:
    """Optional, type-only, inactive on Linux, or inside a function: the job starts without
    them; a computed name has its own warning."""
    train = TRAIN.replace("import fire\n", "fire = None\n").replace(
        "import sys\n", "import sys\nimport importlib\nplugin = importlib.import_module('plugins_gone.' + sys.argv[0])\n"
    )
    project = _project(tmp_path, AUTO, train__py=train)
    done = _go(env, project, "lock")
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stderr) == [
        "envcapture: warning: train.py:20: import tensorboardX inside a function: not installed in the analysed "
        "environment, so that code path may never run (pip install tensorboardX if it does)",
        "envcapture: warning: train.py:14: dynamic import with the prefix plugins_gone.: plugins_gone is not a package "
        "of the project nor installed, so nothing it loads can ship",
    ]


@pytest.mark.slow
def test_an_import_under_a_run_time_if_is_a_warning(env: Env, tmp_path: Path) -> None:
    """``if args.wandb: import wandb`` runs only when the test passes, which the analysis
    cannot decide: the job may start without it (a warning, like a function-level import);
    the same import unguarded is refused."""
    train = 'import sys\nUSE = "--wandb" in sys.argv\nif USE:\n    import wandb_logger\nelse:\n    pass\nprint("ok")\n'
    project = _project(tmp_path, AUTO, train__py=train)
    done = _go(env, project, "lock")
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stderr) == [
        "envcapture: warning: train.py:4: import wandb_logger inside an if block: not installed in the analysed "
        "environment, so that code path may never run (pip install wandb-logger if it does)",
    ]
    (project / "train.py").write_text("import sys\nimport wandb_logger\n")
    done = _go(env, project, "lock")
    assert done.returncode == 3, done.stderr


@pytest.mark.slow
def test_manual_mode_accepts_an_import_its_requirements_file_provides(env: Env, tmp_path: Path) -> None:
    config = "cmd: python train.py\nenv:\n  python:\n    type: manual\n    requirements-file: requirements.txt\n"
    project = _project(tmp_path, config, train__py="import fire\nimport yaml\n", requirements__txt="fire==0.7.0\n")
    done = _go(env, project, "lock")
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        "envcapture: error: train.py:2: import yaml: not installed in the analysed environment and not local; "
        "list PyYAML in requirements.txt, or --allow-unresolved"
    ]
    (project / "requirements.txt").write_text("fire==0.7.0\npyyaml\n")  # a declared name in any spelling
    done = _go(env, project, "lock")
    assert done.returncode == 0, done.stderr
    assert "fire==0.7.0" in (project / "out" / "requirements.lock.txt").read_text()


NEW_PYTHON = "import new_python\n\nprint(new_python.VALUE)\n"


@pytest.mark.slow
def test_a_pin_whose_requires_python_excludes_the_target_is_refused(env: Env, tmp_path: Path) -> None:
    config = "cmd: python train.py\nenv:\n  python:\n    type: manual\n    version: '3.10'\n"
    project = _project(tmp_path, config, train__py=NEW_PYTHON)
    refused = [
        "envcapture: error: train.py:1: new-python 2.0 has Requires-Python >=3.11, which excludes the target's "
        "Python 3.10; install a new-python release that supports Python 3.10, or target Python >=3.11, "
        "or --allow-unresolved"
    ]
    done = _go(env, project, "lock")
    assert (done.returncode, done.stderr.splitlines()) == (3, refused)
    # The target from --target-python: the same refusal.
    (project / "config.yaml").write_text("cmd: python train.py\nenv:\n  python: auto\n")
    done = _go(env, project, "lock", "--target-python", "3.10")
    assert (done.returncode, done.stderr.splitlines()) == (3, refused)
    done = _go(env, project, "lock", "--target-python", "3.10", "--allow-unresolved")
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stderr) == [
        "envcapture: warning: train.py:1: new-python 2.0 has Requires-Python >=3.11, which excludes the target's "
        "Python 3.10 (--allow-unresolved: going on)"
    ]
    done = _go(env, project, "lock", "--target-python", "3.12")
    assert done.returncode == 0, done.stderr


def _no_deps_config(env: Env, requirements: bool = True) -> str:
    lines = ["cmd: python train.py", "env:", "  python:", f"    type: {'manual' if requirements else 'auto'}"]
    if requirements:
        lines.append("    requirements-file: requirements.txt")
    lines += ["    pip:", f"      index-url: {env.index.url}", "      no-deps: true", ""]
    return "\n".join(lines)


@pytest.mark.slow
def test_no_deps_leaving_out_what_an_imported_distribution_requires_is_refused(env: Env, tmp_path: Path) -> None:
    project = _project(
        tmp_path, _no_deps_config(env), train__py="import dep_rich\n\nprint('ok')\n", requirements__txt="dep-rich==0.3.0\n"
    )
    done = _go(env, project, "lock")
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        "envcapture: error: config.yaml:8:7: env.python.pip.no-deps: dep-rich 0.3.0 (imported at train.py:1) requires "
        "dist-alpha>=1.0, which no-deps leaves out of the environment; list dist-alpha in requirements.txt or drop "
        "no-deps, or --allow-unresolved"
    ]
    # What the refusal saves: --allow-unresolved builds, and verify fails on the import.
    done = _go(env, project, "build", "--allow-unresolved", "--no-progress")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "envcapture: error: verify: import dep_rich: ModuleNotFoundError: No module named 'alpha_mod'" in done.stderr
    # The fix the line gives works.
    (project / "requirements.txt").write_text("dep-rich==0.3.0\ndist-alpha==1.0.0\n")
    done = _go(env, project, "lock")
    assert done.returncode == 0, done.stderr
    # In auto mode the fix is no-deps itself.
    (project / "config.yaml").write_text(_no_deps_config(env, requirements=False))
    done = _go(env, project, "lock")
    assert done.stderr.splitlines() == [
        "envcapture: error: config.yaml:7:7: env.python.pip.no-deps: dep-rich 0.3.0 (imported at train.py:1) requires "
        "dist-alpha>=1.0, which no-deps leaves out of the environment; drop no-deps, or list dist-alpha in a "
        "requirements file (type: manual), or --allow-unresolved"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["lock", "build"])
def test_local_paths_leaving_out_an_imported_module_are_refused(env: Env, tmp_path: Path, verb: str) -> None:
    project = shutil.copytree(SHIP / "manual_paths", tmp_path / "job")
    config = project / "config.yaml"
    config.write_text(config.read_text().replace("http://127.0.0.1:9/simple", env.index.url))
    done = _go(env, project, verb)
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        "envcapture: error: config.yaml:6:5: env.python.local-paths: local-paths leaves out tok/__init__.py (module tok), "
        "imported at main.py:4; add tok to local-paths or use type: auto, or --allow-unresolved"
    ]
    assert not (project / "out").exists()
    done = _go(env, project, verb, "--allow-unresolved", *(["--no-verify"] if verb == "build" else []))
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stderr) == [
        "envcapture: warning: config.yaml:6:5: env.python.local-paths: local-paths leaves out tok/__init__.py "
        "(module tok), imported at main.py:4 (--allow-unresolved: going on)"
    ]
