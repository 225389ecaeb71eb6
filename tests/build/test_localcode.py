"""The local-code archive (envcapture/builders/bundle.py): selection, exclusions, symlinks, determinism."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import signal
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from envcapture.build.localcode import (
    ARCHIVE_MTIME,
    Excluded,
    exclusion_rule,
    package_dir,
    select_local_files,
    write_local_bundle,
)
from envcapture.errors import InputError


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """Symlink loops must not hang: fail any test here that runs over 20 s."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("the bundle test hung")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _write(root: Path, rel: str, text: str = "x = 1\n", mode: int | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    _write(project, "main.py", "import lib.util\n")
    _write(project, "lib/__init__.py", "")
    _write(project, "lib/util.py", "VALUE = 1\n")
    _write(project, "run.sh", "#!/bin/sh\necho hi\n", mode=0o775)
    return project


def _members(archive: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(archive, "r:gz") as tar:
        return tar.getmembers()


@pytest.mark.parametrize(
    ("path", "is_dir", "rule"),
    [
        (".git", True, "vcs-metadata"),
        ("sub/.git/config", False, "vcs-metadata"),
        (".git", False, "vcs-metadata"),  # a worktree's .git file
        ("pkg/__pycache__/m.cpython-311.pyc", False, "bytecode-cache"),
        ("pkg/m.pyc", False, "bytecode"),
        (".env", False, "dotenv"),
        ("conf/.env.production", False, "dotenv"),
        ("id_rsa", False, "private-key"),
        ("keys/id_ed25519.pub", False, "private-key"),
        ("tls/server.pem", False, "private-key"),
        ("tls/server.KEY", False, "private-key"),
        (".netrc", False, "credentials"),
        (".pypirc", False, "credentials"),
        ("gcp/credentials.json", False, "credentials"),
        (".aws/credentials", False, "credentials"),
        (".aws", True, "credentials"),
        ("cert.p12", False, "credentials"),
        ("main.py", False, None),
        ("envs.py", False, None),
        ("keyboard.py", False, None),
        ("docs/credentials.md", False, None),
    ],
)
def test_exclusion_rules(path: str, is_dir: bool, rule: str | None) -> None:
    assert exclusion_rule(path, is_dir=is_dir) == rule


def test_archive_is_deterministic_and_normalized(tmp_path: Path) -> None:
    project = _project(tmp_path)
    files = ["main.py", "lib/util.py", "lib/__init__.py", "run.sh"]
    first = write_local_bundle(project, tmp_path / "a.tar.gz", files=files)
    # Touch every file, change group/other bits, rebuild: same bytes.
    for path in project.rglob("*"):
        if path.is_file():
            os.utime(path, (1_700_000_000, 1_700_000_000))
    (project / "lib/util.py").chmod(0o600)
    second = write_local_bundle(project, tmp_path / "b.tar.gz", files=list(reversed(files)))
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert first.sha256 == second.sha256 == hashlib.sha256((tmp_path / "a.tar.gz").read_bytes()).hexdigest()
    assert first.size == (tmp_path / "a.tar.gz").stat().st_size

    raw = (tmp_path / "a.tar.gz").read_bytes()
    assert raw[:3] == b"\x1f\x8b\x08"
    assert raw[3] == 0  # FLG: no FNAME, no FEXTRA, no FCOMMENT
    assert raw[4:8] == b"\0\0\0\0"  # MTIME 0
    members = _members(tmp_path / "a.tar.gz")
    assert [m.name for m in members] == ["lib/__init__.py", "lib/util.py", "main.py", "run.sh"]
    for m in members:
        assert m.isreg()
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (ARCHIVE_MTIME, 0, 0, "", "")
    assert {m.name: m.mode for m in members} == {
        "lib/__init__.py": 0o644,
        "lib/util.py": 0o644,
        "main.py": 0o644,
        "run.sh": 0o755,
    }
    assert [(f.path, f.mode) for f in first.files][-1] == ("run.sh", 0o755)
    with gzip.open(tmp_path / "a.tar.gz") as gz, tarfile.open(fileobj=io.BytesIO(gz.read())) as tar:
        assert tar.extractfile("lib/util.py").read() == b"VALUE = 1\n"  # type: ignore[union-attr]

    (project / "lib/util.py").write_text("VALUE = 2\n")
    third = write_local_bundle(project, tmp_path / "c.tar.gz", files=files)
    assert third.sha256 != first.sha256


def test_local_paths_directory_leaves_out_secrets_and_junk(tmp_path: Path) -> None:
    project = _project(tmp_path)
    junk = [
        "lib/.git/HEAD",
        "lib/__pycache__/util.cpython-311.pyc",
        "lib/old.pyc",
        "lib/.env",
        "lib/.env.local",
        "lib/id_rsa",
        "lib/id_rsa.pub",
        "lib/certs/server.pem",
        "lib/certs/tls.key",
        "lib/.netrc",
        "lib/.pypirc",
        "lib/credentials.json",
        "lib/.aws/credentials",
        "lib/store.p12",
        "lib/venv/pyvenv.cfg",
        "lib/venv/lib/site.py",
    ]
    for rel in junk:
        _write(project, rel, "secret\n")
    selection = select_local_files(project, files=["main.py"], paths=["lib/"])
    assert [rel for rel, _ in selection.files] == ["lib/__init__.py", "lib/util.py", "main.py"]
    assert selection.excluded == (
        Excluded(path="lib/.aws", rule="credentials"),
        Excluded(path="lib/.env", rule="dotenv"),
        Excluded(path="lib/.env.local", rule="dotenv"),
        Excluded(path="lib/.git", rule="vcs-metadata"),
        Excluded(path="lib/.netrc", rule="credentials"),
        Excluded(path="lib/.pypirc", rule="credentials"),
        Excluded(path="lib/__pycache__", rule="bytecode-cache"),
        Excluded(path="lib/certs/server.pem", rule="private-key"),
        Excluded(path="lib/certs/tls.key", rule="private-key"),
        Excluded(path="lib/credentials.json", rule="credentials"),
        Excluded(path="lib/id_rsa", rule="private-key"),
        Excluded(path="lib/id_rsa.pub", rule="private-key"),
        Excluded(path="lib/old.pyc", rule="bytecode"),
        Excluded(path="lib/store.p12", rule="credentials"),
        Excluded(path="lib/venv", rule="virtualenv"),
    )
    bundle = write_local_bundle(project, tmp_path / "b.tar.gz", selection=selection)
    assert [m.name for m in _members(tmp_path / "b.tar.gz")] == ["lib/__init__.py", "lib/util.py", "main.py"]
    assert bundle.excluded == selection.excluded


def test_a_listed_secret_is_left_out_too(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _write(project, ".env", "TOKEN=1\n")
    selection = select_local_files(project, paths=[".env", "main.py"])
    assert [rel for rel, _ in selection.files] == ["main.py"]
    assert selection.excluded == (Excluded(path=".env", rule="dotenv"),)


def test_symlink_outside_the_project_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path)
    outside = _write(tmp_path, "elsewhere/secret.py", "KEY = 1\n")
    (project / "lib" / "secret.py").symlink_to(outside)
    with pytest.raises(InputError) as err:
        select_local_files(project, paths=["lib"])
    assert str(err.value) == (
        f"lib/secret.py: a symlink to {str(outside)!r}, outside the project; refused "
        "(copy the file into the project, or list it in inputs)"
    )
    assert type(err.value).exit_code == 2
    # A directory link that leads out is named the same way.
    (project / "lib" / "secret.py").unlink()
    (project / "data").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(InputError, match=r"^data: a symlink to .*, outside the project; refused"):
        select_local_files(project, paths=["."])


def test_path_leaving_the_project_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _write(tmp_path, "other.py")
    with pytest.raises(InputError, match=r"^local-paths '\.\./other\.py': leads outside the project directory; refused$"):
        select_local_files(project, paths=["../other.py"])


def test_symlink_inside_is_stored_as_its_content(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "alias.py").symlink_to("lib/util.py")
    (project / "libalias").symlink_to("lib", target_is_directory=True)
    _write(project, ".env", "TOKEN=1\n")
    (project / "settings.py").symlink_to(".env")
    selection = select_local_files(project, paths=["alias.py", "libalias", "settings.py"])
    assert [rel for rel, _ in selection.files] == ["alias.py", "libalias/__init__.py", "libalias/util.py"]
    assert selection.excluded == (Excluded(path="settings.py", rule="dotenv"),)
    write_local_bundle(project, tmp_path / "b.tar.gz", selection=selection)
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        member = tar.getmember("alias.py")
        assert member.isreg()
        assert tar.extractfile(member).read() == b"VALUE = 1\n"  # type: ignore[union-attr]


def test_symlink_loops_do_not_hang(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "lib" / "a").symlink_to("b")
    (project / "lib" / "b").symlink_to("a")
    (project / "lib" / "self").symlink_to("self")
    (project / "lib" / "up").symlink_to("..", target_is_directory=True)
    selection = select_local_files(project, paths=["lib"])
    assert [rel for rel, _ in selection.files] == ["lib/__init__.py", "lib/util.py"]
    assert selection.excluded == (
        Excluded(path="lib/a", rule="symlink-loop"),
        Excluded(path="lib/b", rule="symlink-loop"),
        Excluded(path="lib/self", rule="symlink-loop"),
        Excluded(path="lib/up", rule="symlink-loop"),
    )


# --- local packages ship whole ----------------------------------------------------------------------


def test_package_dir(tmp_path: Path) -> None:
    for rel in ("pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/mod.py", "ns/inner/__init__.py"):
        _write(tmp_path, rel)
    assert package_dir(tmp_path, "pkg/sub/mod.py", "pkg.sub.mod") == ("pkg", "pkg")
    assert package_dir(tmp_path, "pkg/sub/__init__.py", "pkg.sub") == ("pkg", "pkg")
    assert package_dir(tmp_path, "ns/inner/__init__.py", "ns.inner") == ("ns/inner", "ns.inner")  # ns has no __init__
    assert package_dir(tmp_path, "src/pkg/sub/mod.py", "pkg.sub.mod") is None  # not on disk here
    assert package_dir(tmp_path, "tool.py", "tool") is None
    assert package_dir(tmp_path, "main.py", "__main__") is None


def test_package_ships_whole_but_its_tests_and_inputs(tmp_path: Path) -> None:
    for rel in (
        "pkg/__init__.py", "pkg/unreached.py", "pkg/assets/mel.npz", "pkg/tests/test_pkg.py", "pkg/tests/conftest.py",
        "pkg/data/big.bin", "pkg/.env", "pkg/__pycache__/x.pyc", "main.py",
    ):  # fmt: skip
        _write(tmp_path, rel)
    selection = select_local_files(
        tmp_path,
        files=["main.py", "pkg/__init__.py", "pkg/tests/conftest.py"],
        packages=["pkg"],
        keep_out={"pkg/data": "job-input"},
    )
    assert [rel for rel, _ in selection.files] == [
        "main.py",
        "pkg/__init__.py",
        "pkg/assets/mel.npz",
        "pkg/tests/conftest.py",  # reached by the analysis: ships anyway
        "pkg/unreached.py",
    ]
    assert {(e.path, e.rule) for e in selection.excluded} == {
        ("pkg/.env", "dotenv"),
        ("pkg/__pycache__", "bytecode-cache"),
        ("pkg/data", "job-input"),
        ("pkg/tests", "tests"),
    }


def test_a_directory_the_code_reads_ships_whole_with_the_same_rules(tmp_path: Path) -> None:
    """``Path(__file__).parent / "assets"`` names a directory: it ships as a package does."""
    for rel in ("tool.py", "assets/mel.npz", "assets/sub/vocab.txt", "assets/secrets.yaml", "assets/cache/big.bin", "cfg.yaml"):
        _write(tmp_path, rel)
    selection = select_local_files(
        tmp_path, files=["tool.py", "cfg.yaml"], directories=["assets"], keep_out={"assets/cache": "job-input"}
    )
    assert [rel for rel, _ in selection.files] == ["assets/mel.npz", "assets/sub/vocab.txt", "cfg.yaml", "tool.py"]
    assert {(e.path, e.rule) for e in selection.excluded} == {("assets/secrets.yaml", "secrets"), ("assets/cache", "job-input")}
