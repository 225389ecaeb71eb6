"""config/secret_env.py: ``env.vars`` names that look like secrets, refused by ``config check``
as by ``build`` (tests/build/test_secret_env.py) unless ``--allow-secret-env`` lists them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from envcapture.cli import cli
from envcapture.config.loader import parse_config
from envcapture.config.secret_env import check_env_names, looks_secret, secret_env_problems
from envcapture.errors import ConfigError


@pytest.mark.parametrize(
    ("name", "secret"),
    [("API_TOKEN", True), ("aws_secret_access_key", True), ("DB_PASSWORD", True), ("SSH_KEY", True), ("HF_TOKEN", True),
     ("DEVICE_COUNT", False), ("PYTHONUNBUFFERED", False), ("EPOCHS", False)],
)  # fmt: skip
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_every_secret_name_is_a_problem_at_its_line() -> None:
    config = parse_config("name: j\ncmd: ls\nenv:\n  vars:\n    - API_TOKEN: a\n    - EPOCHS: 5\n    - AWS_SECRET_ACCESS_KEY\n")
    assert [str(p) for p in secret_env_problems(config, allowed=["AWS_SECRET_ACCESS_KEY"])] == [
        "<config>:5:7: env.vars[0]: API_TOKEN looks like a secret: its value would be stored in clear in the bundle's manifest, "
        "the image config and the Dockerfile; refused (pass it at run time instead, or allow it with --allow-secret-env API_TOKEN)"
    ]
    with pytest.raises(ConfigError) as caught:
        check_env_names(config)
    assert [p.location.key for p in caught.value.problems if p.location] == ["env.vars[0]", "env.vars[2]"]
    check_env_names(config, ["API_TOKEN", "AWS_SECRET_ACCESS_KEY"])


def test_config_check_lists_every_secret_name_and_reads_the_allow_variable(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.yaml").write_text(
        "name: j\ncmd: ls\nenv:\n  vars:\n    - HF_TOKEN: x\n    - EPOCHS: 5\n    - db_password: y\n    - SSH_KEY\n"
    )
    runner = CliRunner()
    done = runner.invoke(cli, ["config", "check", str(project / "config.yaml"), "--allow-secret-env", "SSH_KEY"])
    assert done.exit_code == 2
    where = project / "config.yaml"
    assert [line.split(" looks like")[0] for line in done.stderr.splitlines()] == [
        f"envcapture: error: {where}:5:7: env.vars[0]: HF_TOKEN",
        f"envcapture: error: {where}:7:7: env.vars[2]: db_password",
    ]
    allowed = runner.invoke(
        cli, ["config", "check", str(where)], env={"ENVCAPTURE_CONFIG_CHECK_ALLOW_SECRET_ENV": "HF_TOKEN db_password SSH_KEY"}
    )
    assert allowed.exit_code == 0, allowed.stderr
