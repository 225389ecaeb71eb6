"""CI runs the README's test command, exactly (the README is what a newcomer types)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text("utf-8").splitlines()
    marker = readme.index("# 2. Run the tests (this is what .ci/run runs)")
    command = readme[marker + 1]
    last = [line for line in (REPO / ".ci" / "run").read_text("utf-8").splitlines() if line.strip()][-1]
    assert last == command
