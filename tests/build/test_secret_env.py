"""Issue 16 item 8: an ``env.vars`` name that looks like a secret is refused by the build
(and by ``config check``, with the same line) unless ``--allow-secret-env`` lists it: its
value would be stored in clear."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _envcapture(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "run.sh").write_text("echo $API_TOKEN\n")
    (project / "config.yaml").write_text(
        "name: j\ncmd: sh run.sh\ninputs:\n  - run.sh\nenv:\n  vars:\n    - DEVICE_COUNT: 8\n    - API_TOKEN: abc123\n"
    )
    return subprocess.run([sys.executable, "-m", "envcapture.cli", *args], cwd=project, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def _build(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _envcapture(tmp_path, "build", "-c", "config.yaml", "-o", str(tmp_path / "b"), "--no-progress", *extra)


def test_secret_looking_env_var_is_refused_with_its_line(tmp_path: Path) -> None:
    done = _build(tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "envcapture: error: config.yaml:8:7: env.vars[1]: API_TOKEN looks like a secret: its "
        "value would be stored in clear in the bundle's manifest, the image config and the Dockerfile; refused "
        "(pass it at run time instead, or allow it with --allow-secret-env API_TOKEN)"
    )
    assert not (tmp_path / "b").exists()


def test_allowed_secret_env_var_ships(tmp_path: Path) -> None:
    done = _build(tmp_path, "--allow-secret-env", "API_TOKEN")
    assert done.returncode == 0, done.stderr
    env = json.loads((tmp_path / "b" / "manifest.json").read_text())["job"]["env"]
    assert [(e["name"], e["value"]) for e in env] == [("DEVICE_COUNT", "8"), ("API_TOKEN", "abc123")]


def test_config_check_refuses_it_with_the_build_s_line(tmp_path: Path) -> None:
    """The pre-submit check catches what the build would refuse, with the same line and exit code."""
    checked = _envcapture(tmp_path, "config", "check", "config.yaml")
    built = _build(tmp_path)
    assert checked.returncode == built.returncode == 2
    assert checked.stderr == built.stderr
    assert checked.stderr.startswith("envcapture: error: config.yaml:8:7: env.vars[1]: API_TOKEN looks like a secret: ")
    allowed = _envcapture(tmp_path, "config", "check", "config.yaml", "--allow-secret-env", "API_TOKEN")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith("config.yaml: ok\n")
    assert "looks like a secret" not in allowed.stderr
