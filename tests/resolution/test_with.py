"""Adding distributions in auto mode: ``--with NAME`` and ``[tool.envcapture] with``, on analyze,
lock, build and check, and the refusals (envcapture.resolution.additions, envcapture.config.pyproject).

A real virtualenv (`tabular_env`: tabular, arrowlite, dist-alpha), the CLI in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from envcapture.cli import cli
from envcapture.config.pyproject import read_project_settings
from envcapture.errors import InputError, Location
from envcapture.resolution.additions import with_requests


@pytest.fixture
def job(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text("import tabular\n\nprint(tabular.read_parquet('t.csv'))\n", "utf-8")
    return tmp_path


def _invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _lock(job: Path, python: Path, *extra: str) -> tuple[int, str, str]:
    return _invoke("lock", job / "main.py", "--project", job, "--python", python, "-o", job / "lock", "--offline", *extra)


def _lock_text(job: Path) -> str:
    return (job / "lock" / "requirements.lock.txt").read_text("utf-8")


# --- the values, pure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a b", "--with: 'a b' is not a requirement: "),
        ("", "--with: expected a requirement such as 'pyarrow' or 'pyarrow>=15', got ''"),
        ("pyarrow @ https://example.invalid/pyarrow.whl", "--with: 'pyarrow @ https://example.invalid/pyarrow.whl' is a URL requirement; name the distribution (pyarrow)"),
    ],
)  # fmt: skip
def test_bad_values_are_input_errors(value: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        with_requests([value])
    assert str(caught.value).startswith(message)
    assert caught.value.exit_code == 2


def test_pyproject_entries_keep_their_lines(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "job"\n\n[tool.envcapture]\ninstalled-extras = false\nwith = [\n    "pyarrow>=15",\n    \'h2\',\n]\n',
        "utf-8",
    )
    settings = read_project_settings(tmp_path)
    assert settings.installed_extras is False
    assert [(e.text, str(e.location)) for e in settings.with_requirements] == [
        ("pyarrow>=15", "pyproject.toml:7: tool.envcapture.with[0]"),
        ("h2", "pyproject.toml:8: tool.envcapture.with[1]"),
    ]
    requests = with_requests(["numpy"], settings.with_requirements)
    assert [(r.text, r.source) for r in requests] == [
        ("numpy", "--with numpy"),
        ("pyarrow>=15", "pyproject.toml:7"),
        ("h2", "pyproject.toml:8"),
    ]
    assert requests[0].location == Location(key="--with")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('with = "pyarrow"', 'pyproject.toml:2: tool.envcapture.with: expected a list of requirements (with = ["pyarrow"])'),
        ('with = ["pyarrow", 3]', "pyproject.toml:2: tool.envcapture.with[1]: expected a requirement such as 'pyarrow' or 'pyarrow>=15', got 3"),
        ('with = ["py arrow"]', "pyproject.toml:2: tool.envcapture.with[0]: 'py arrow' is not a requirement: "),
        ('installed-extras = "no"', "pyproject.toml:2: tool.envcapture.installed-extras: expected true or false, got 'no'"),
    ],
)  # fmt: skip
def test_bad_pyproject_keys_name_file_line_and_key(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.envcapture]\n{table}\n", "utf-8")
    with pytest.raises(InputError) as caught:
        read_project_settings(tmp_path)
    assert str(caught.value).startswith(message)


# --- the commands -------------------------------------------------------------------------------------


def test_with_on_the_command_line_ships_an_installed_distribution(job: Path, tabular_env: Path) -> None:
    code, out, err = _lock(job, tabular_env, "--with", "dist-alpha>=1", "--no-installed-extras")
    assert code == 0, err
    assert "  added dist-alpha==1.0.0 (asked for with --with dist-alpha>=1)" in out
    lock = _lock_text(job)
    assert "dist-alpha==1.0.0\n    # via --with dist-alpha>=1\n" in lock
    assert "arrowlite" not in lock  # the rule is off
    # The header regenerates the same lock.
    assert "#    envcapture lock --with 'dist-alpha>=1' --no-installed-extras main.py\n" in lock
    env_doc = json.loads((job / "lock" / "environment.json").read_text("utf-8"))
    alpha = next(p for p in env_doc["distributions"] if p["name"] == "dist-alpha")
    assert alpha["via"] == [{"kind": "with", "source": "--with dist-alpha>=1", "reason": "asked for with --with dist-alpha>=1"}]


def test_with_in_pyproject(job: Path, tabular_env: Path) -> None:
    (job / "pyproject.toml").write_text('[tool.envcapture]\nwith = [\n    "dist-alpha",\n]\n', "utf-8")
    code, out, err = _lock(job, tabular_env)
    assert code == 0, err
    assert "dist-alpha==1.0.0\n    # via pyproject.toml:3\n" in _lock_text(job)
    assert "  added dist-alpha==1.0.0 (asked for in [tool.envcapture] with (pyproject.toml:3))" in out
    code, out, err = _invoke("analyze", job / "main.py", "--project", job, "--python", tabular_env, "--json")
    assert code == 0, err
    added = {(a["name"], a["rule"], a["via"]) for a in json.loads(out)["added"]}
    assert added == {("arrowlite", "installed-extra", "tabular[parquet]"), ("dist-alpha", "with", "pyproject.toml:3")}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("plotlite-missing", "envcapture: error: --with: plotlite-missing is not installed in the analysed environment ({python}) "
         "(install it there (pip install 'plotlite-missing'), or drop it from --with / [tool.envcapture] with)"),
        ("arrowlite>=9", "envcapture: error: --with: arrowlite 1.0.3 is installed, which is not >=9 "
         "(install a matching version (pip install 'arrowlite>=9'), or change the requirement)"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["lock", "analyze", "build", "check"])
def test_not_installed_is_refused_in_one_line(job: Path, tabular_env: Path, command: str, value: str, message: str) -> None:
    args: list[str | Path] = [command, job / "main.py", "--project", job, "--python", tabular_env, "--with", value]
    if command in ("lock", "build"):
        args += ["-o", job / "out"]
    if command == "check":
        (job / "requirements.txt").write_text("tabular\n", "utf-8")
    code, out, err = _invoke(*args)
    assert code == 3, out + err
    assert err.splitlines() == [message.format(python=tabular_env)]
    assert not (job / "out").exists()


def test_pyproject_refusal_names_the_line(job: Path, tabular_env: Path) -> None:
    (job / "pyproject.toml").write_text('[tool.envcapture]\nwith = ["dist-alpha", "plotlite-missing"]\n', "utf-8")
    code, _, err = _lock(job, tabular_env)
    assert code == 3
    assert err.startswith("envcapture: error: pyproject.toml:2: tool.envcapture.with[1]: plotlite-missing is not installed")
    (job / "pyproject.toml").write_text('[tool.envcapture]\nwith = "dist-alpha"\n', "utf-8")
    code, _, err = _lock(job, tabular_env)
    assert code == 2 and err.startswith("envcapture: error: pyproject.toml:2: tool.envcapture.with: expected a list")


def test_check_counts_with_as_used(job: Path, tabular_env: Path) -> None:
    (job / "requirements.txt").write_text("tabular==2.1.0\narrowlite==1.0.3\ndist-alpha==1.0.0\n", "utf-8")
    base = ("check", job / "main.py", "--project", job, "--python", tabular_env, "--format", "json")
    code, out, _ = _invoke(*base)
    findings = [(f["code"], f["line"]) for f in json.loads(out)["findings"]]
    # arrowlite ships through tabular[parquet]: not unused; dist-alpha is
    assert (code, findings) == (1, [("EC002", 3)])
    code, out, _ = _invoke(*base, "--with", "dist-alpha")
    assert (code, json.loads(out)["findings"]) == (0, [])
    (job / "pyproject.toml").write_text('[tool.envcapture]\nwith = ["dist-alpha"]\n', "utf-8")
    code, out, _ = _invoke(*base)
    assert (code, json.loads(out)["findings"]) == (0, [])
    code, out, _ = _invoke(*base, "--no-installed-extras")
    assert code == 1 and [(f["code"], f["line"]) for f in json.loads(out)["findings"]] == [("EC002", 2)]
