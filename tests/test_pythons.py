"""CI on Python 3.10, 3.12 and 3.13 (the suite itself runs on the CI's python3).

For each interpreter found under ``~/.pyenv/versions``: a fresh venv, ``pip install -e
'.[test]'`` of this checkout (the README's install), then the fast tests of a few folders
(``-m "not slow"``) run by that interpreter. An interpreter that is absent is a skip with
the reason. Each step has a time limit, so a hang costs minutes, not the CI's 90.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYENV = Path.home() / ".pyenv" / "versions"
# Pure stages and the shared modules: where a Python version shows (syntax, the standard
# library, tomllib/tomli, importlib.resources), without building anything.
SUBSET = [
    "tests/config",
    "tests/analysis",
    "tests/resolution",
    "tests/check",
    "tests/test_model.py",
    "tests/test_urls.py",
    "tests/test_documents.py",
    "tests/test_http.py",
]
# Alone, each step takes under a minute; the limits leave room for a loaded 2-core CI
# machine and still end a hang well inside the CI's 90 minutes.
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 600


def _interpreter(minor: str) -> Path | None:
    """The newest ``~/.pyenv/versions/<minor>.*/bin/python``."""
    found = sorted(
        PYENV.glob(f"{minor}.*/bin/python"), key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()]
    )
    return found[-1] if found else None


def _environ(tmp: Path) -> dict[str, str]:
    """This process's environment without what would steer the inner pytest or interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON", "VIRTUAL_ENV", "COV_"))}
    env["ENVCAPTURE_CACHE_DIR"] = str(tmp / "cache")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _tail(done: subprocess.CompletedProcess[str], lines: int = 40) -> str:
    return "\n".join((done.stdout + done.stderr).splitlines()[-lines:])


@pytest.mark.slow
@pytest.mark.parametrize("minor", ["3.10", "3.12", "3.13"])
def test_fast_tests_pass_on(minor: str, tmp_path: Path) -> None:
    python = _interpreter(minor)
    if python is None:
        pytest.skip(f"no CPython {minor} under {PYENV}")
    env = _environ(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    vpython = venv / "bin" / "python"
    try:
        installed = subprocess.run(
            [str(vpython), "-m", "pip", "install", "-q", "-e", f"{REPO}[test]"],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False, env=env, cwd=tmp_path,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip install -e '.[test]' on CPython {minor} took over {INSTALL_TIMEOUT}s")
    assert installed.returncode == 0, f"pip install -e '.[test]' on CPython {minor}:\n{_tail(installed)}"
    try:
        done = subprocess.run(
            [str(vpython), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *SUBSET],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False, env=env, cwd=REPO,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"the fast tests on CPython {minor} took over {RUN_TIMEOUT}s; so far:\n{partial[-3000:]}")
    assert done.returncode == 0, f"the fast tests on CPython {minor} ({sys.executable} ran this):\n{_tail(done)}"
