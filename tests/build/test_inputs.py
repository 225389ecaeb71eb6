"""Issue 16 item 1: the job's ``inputs`` go through the local code's walker: secrets never
ship, symlinks never lead out of the project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from envcapture.build.job import collect_inputs
from envcapture.config.loader import load_config
from envcapture.errors import InputError

SECRETS = {
    "data/.env": "dotenv",
    "data/.git": "vcs-metadata",
    "data/id_rsa": "private-key",
    "data/secrets.yaml": "secrets",
    "data/sub/.netrc": "credentials",
    "data/__pycache__": "bytecode-cache",
}


def _project(tmp_path: Path, inputs: str) -> Path:
    project = tmp_path / "project"
    (project / "data" / "sub").mkdir(parents=True)
    (project / "data" / "a.txt").write_text("a\n")
    (project / "data" / "sub" / "b.txt").write_text("b\n")
    (project / "data" / ".env").write_text("API_TOKEN=x\n")
    (project / "data" / ".git").mkdir()
    (project / "data" / ".git" / "config").write_text("url = https://u:TOKEN@example.com/r.git\n")
    (project / "data" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (project / "data" / "secrets.yaml").write_text("password: x\n")
    (project / "data" / "sub" / ".netrc").write_text("machine x login y password z\n")
    (project / "data" / "__pycache__").mkdir()
    (project / "data" / "__pycache__" / "m.cpython-312.pyc").write_bytes(b"\0")
    (project / ".env").write_text("SECRET=1\n")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("[core]\n")
    (project / "config.yaml").write_text(f"name: j\ncmd: cat data/a.txt\ninputs:\n{inputs}")
    return project


def test_directory_input_leaves_secrets_out_with_their_rule(tmp_path: Path) -> None:
    project = _project(tmp_path, "  - data/\n")
    inputs = collect_inputs(load_config(project / "config.yaml"))
    assert [rel for rel, _ in inputs.files] == ["data/a.txt", "data/sub/b.txt"]
    assert {e.path: e.rule for e in inputs.excluded} == SECRETS


def test_directory_input_with_a_variable_is_placed_and_filtered(tmp_path: Path) -> None:
    project = _project(tmp_path, "  - data/:\n      var: D\n")
    inputs = collect_inputs(load_config(project / "config.yaml"))
    assert [rel for rel, _ in inputs.files] == ["inputs/D/data/a.txt", "inputs/D/data/sub/b.txt"]
    assert {e.path: e.rule for e in inputs.excluded} == {k.replace("data/", "inputs/D/data/", 1): v for k, v in SECRETS.items()}


@pytest.mark.parametrize(
    ("entry", "rule"),
    [(".env", "dotenv"), (".git/", "vcs-metadata"), ("data/id_rsa", "private-key"), ("data/secrets.yaml", "secrets"),
     (".git/config", "vcs-metadata")],
)  # fmt: skip
def test_a_secret_listed_by_name_is_refused(tmp_path: Path, entry: str, rule: str) -> None:
    project = _project(tmp_path, f"  - {entry}\n")
    with pytest.raises(InputError) as caught:
        collect_inputs(load_config(project / "config.yaml"))
    assert str(caught.value).endswith(
        f"inputs[0]: input '{entry.rstrip('/')}': never shipped ({rule}); refused (remove it from inputs)"
    )


@pytest.mark.parametrize("target", ["/etc/passwd", "outside"])
def test_a_link_out_of_the_project_inside_an_input_is_refused(tmp_path: Path, target: str) -> None:
    project = _project(tmp_path, "  - data/\n")
    if target == "outside":
        (tmp_path / "outside").write_text("private\n")
        target = str(tmp_path / "outside")
    os.symlink(target, project / "data" / "link")
    with pytest.raises(InputError) as caught:
        collect_inputs(load_config(project / "config.yaml"))
    assert f"data/link: a symlink to {target!r}, outside the project; refused" in str(caught.value)


def test_a_link_inside_the_project_ships_its_content(tmp_path: Path) -> None:
    project = _project(tmp_path, "  - data/\n")
    os.symlink("../config.yaml", project / "data" / "cfg")
    os.symlink("../.env", project / "data" / "settings")  # its target is a secret: left out
    inputs = collect_inputs(load_config(project / "config.yaml"))
    assert dict(inputs.files)["data/cfg"] == (project / "config.yaml").resolve()
    assert {e.path: e.rule for e in inputs.excluded}["data/settings"] == "dotenv"


def test_build_notes_what_it_left_out_and_the_archive_has_no_secret(tmp_path: Path) -> None:
    project = _project(tmp_path, "  - data/\n")
    out = tmp_path / "bundle"
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "build", "-c", str(project / "config.yaml"), "-o", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for path, rule in SECRETS.items():
        assert f"envcapture: note: left out input {path} ({rule})" in done.stderr
    with tarfile.open(out / "inputs.tar.gz") as tar:
        assert tar.getnames() == ["data/a.txt", "data/sub/b.txt"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["path"] for e in manifest["job"]["inputs_archive"]["excluded"]} == set(SECRETS)


def test_local_paths_leave_secrets_yaml_out(tmp_path: Path) -> None:
    from envcapture.build.localcode import select_local_files

    project = _project(tmp_path, "  - data/a.txt\n")
    chosen = select_local_files(project, paths=["data/"])
    assert {e.path: e.rule for e in chosen.excluded} == SECRETS
