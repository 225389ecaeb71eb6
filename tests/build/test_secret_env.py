"""Issue 16 item 8: an ``env.vars`` name that looks like a secret is refused by the build
unless ``--allow-secret-env`` lists it: its value would be stored in clear."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envcapture.build.job import looks_secret


@pytest.mark.parametrize(
    ("name", "secret"),
    [("API_TOKEN", True), ("aws_secret_access_key", True), ("DB_PASSWORD", True), ("SSH_KEY", True), ("HF_TOKEN", True),
     ("DEVICE_COUNT", False), ("PYTHONUNBUFFERED", False), ("EPOCHS", False)],
)  # fmt: skip
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def _build(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "run.sh").write_text("echo $API_TOKEN\n")
    (project / "config.yaml").write_text(
        "name: j\ncmd: sh run.sh\ninputs:\n  - run.sh\nenv:\n  vars:\n    - DEVICE_COUNT: 8\n    - API_TOKEN: abc123\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "build", "-c", str(project / "config.yaml"), "-o", str(tmp_path / "b"),
         "--no-progress", *extra],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_secret_looking_env_var_is_refused_with_its_line(tmp_path: Path) -> None:
    done = _build(tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"envcapture: error: {tmp_path / 'project' / 'config.yaml'}:8:7: env.vars[1]: API_TOKEN looks like a secret: its "
        "value would be stored in clear in the bundle's manifest, the image config and the Dockerfile; refused "
        "(pass it at run time instead, or allow it with --allow-secret-env API_TOKEN)"
    )
    assert not (tmp_path / "b").exists()


def test_allowed_secret_env_var_ships(tmp_path: Path) -> None:
    done = _build(tmp_path, "--allow-secret-env", "API_TOKEN")
    assert done.returncode == 0, done.stderr
    env = json.loads((tmp_path / "b" / "manifest.json").read_text())["job"]["env"]
    assert [(e["name"], e["value"]) for e in env] == [("DEVICE_COUNT", "8"), ("API_TOKEN", "abc123")]
