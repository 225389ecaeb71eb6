"""The package type-checks with plain ``mypy``: strict, for Python 3.10 (style.md section 7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_mypy_strict() -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        # The configuration in pyproject.toml ([tool.mypy]: strict, the package, Python 3.10).
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
