"""Issue 16 item 5: every file opened by a user-given path is read bounded, after a type
check: FIFOs, devices and ``/dev/stdin`` are refused at once, never block or read forever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envcapture._fs import read_user_file
from envcapture.errors import RequirementsError
from envcapture.resolution.requirements import parse_requirements_file


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text("import os\n")
    os.mkfifo(tmp_path / "fifo.txt")
    return tmp_path


@pytest.mark.parametrize(
    ("include", "why"),
    [
        ("/dev/stdin", "not a regular file (a FIFO)"),  # stdin is a pipe nobody closes
        ("fifo.txt", "not a regular file (a FIFO)"),
        ("/dev/zero", "not a regular file (a character device)"),
        (".", "not a regular file (a directory)"),
    ],
)
def test_include_of_a_special_file_is_refused_at_once(project: Path, include: str, why: str) -> None:
    (project / "requirements.txt").write_text(f"requests\n-r {include}\n")
    with subprocess.Popen(
        [sys.executable, "-m", "envcapture.cli", "check", "-r", "requirements.txt", "main.py"],
        cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        _, err = proc.communicate(timeout=120)  # stdin stays open until the end: /dev/stdin never sees EOF
    assert proc.returncode == 2
    assert err.strip() == f"envcapture: error: requirements.txt:2: -r {include}: cannot read {include!r}: {why}"


@pytest.mark.parametrize("given", ["fifo.txt", "/dev/zero"])
def test_requirements_file_itself_special(project: Path, given: str) -> None:
    with pytest.raises(RequirementsError, match=r"cannot read requirements file: not a regular file"):
        parse_requirements_file(given, root=project)


def test_nul_byte_in_an_include_path_is_exit_2(project: Path) -> None:
    (project / "requirements.txt").write_bytes(b"-r a\x00b\n")
    with pytest.raises(RequirementsError) as caught:
        parse_requirements_file("requirements.txt", root=project)
    assert str(caught.value).endswith("cannot read 'a\\x00b': a NUL byte in the file name")


def test_nul_byte_in_a_requirement_line_is_exit_2(project: Path) -> None:
    (project / "requirements.txt").write_bytes(b"numpy\x00==1\n")
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "check", "-r", "requirements.txt", "main.py"],
        cwd=project, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("envcapture: error: requirements.txt:1: cannot parse 'numpy\\x00==1'")


def test_read_user_file_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 1001)
    assert read_user_file(big, limit=1001) == b"x" * 1001
    with pytest.raises(OSError, match="larger than 1000 bytes"):
        read_user_file(big, limit=1000)


def test_pyproject_fifo_is_refused(project: Path) -> None:
    os.mkfifo(project / "pyproject.toml")
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "check", "--pyproject", "pyproject.toml", "main.py"],
        cwd=project, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "pyproject.toml: cannot read the file: not a regular file (a FIFO)" in done.stderr
