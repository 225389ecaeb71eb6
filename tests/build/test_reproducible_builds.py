"""Issue 13 item 5: the same bytes whatever the paths (envcapture/build/_isolated.py, wheelhouse.py, lock.py).

* a compiled local project (setup.py with a C ``Extension``, ``pip install ./cext``) gives
  the same wheel from two cold builds of two copies of the job at other paths, other
  stores and other temporary directories;
* an index version published only as an sdist is built into the wheelhouse, locked with
  the sdist's hash, and the bundle verifies offline;
* ``lock`` hashes the local packages as the wheels the bundle ships and writes pylock.toml.

Real pip, real virtualenvs, real gcc, indexes on 127.0.0.1; the machine's pip
configuration is kept out (``PIP_CONFIG_FILE=/dev/null``, no ``PIP_*`` variables).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
from build_support import INDEX_WHEELS, MIRROR, BuildJob, Built, pyenv_python, run_cli
from helpers import FIXTURE_DISTS, make_venv, pip_install
from index_server import IndexServer

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from packaging.pylock import Pylock

from envcapture.build import _isolated
from envcapture.build._isolated import _without_rpath, build_directory, sweep_build_dirs
from envcapture.build._wheels import unpack_sdist
from envcapture.build.bundle import build_bundle
from envcapture.runtime.environment import environment_key

# what pip installs to build a setup.py project: setuptools and wheel (which needs packaging)
LEGACY_BACKEND = (INDEX_WHEELS["setuptools"], "wheel-0.46.3-py3-none-any.whl", "packaging-26.3-py3-none-any.whl")
PYTHON_311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")


@pytest.fixture(autouse=True)
def _isolated_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's pip configuration (extra indexes, find-links) is not the test's."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT", "ENVCAPTURE_ACCELERATOR"):
        monkeypatch.delenv(var, raising=False)


def _cold(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """An empty store and another temporary directory for the next build."""
    (root / "tmp").mkdir(parents=True)
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("TMPDIR", str(root / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(root / "tmp"))


def _job(project: Path, index_url: str, imports: str) -> None:
    project.mkdir(parents=True)
    (project / "main.py").write_text(f"import {imports}\n\nprint('ok')\n")
    (project / "config.yaml").write_text(
        f"cmd: python main.py\nenv:\n  python:\n    type: auto\n    pip:\n      index-url: {index_url}\n"
    )


def _wheel(bundle: Path, prefix: str) -> Path:
    (found,) = [p for p in (bundle / "wheelhouse").iterdir() if p.name.startswith(prefix)]
    return found


# --- pure parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("gcc -shared -L/py/lib -Wl,-rpath,/py/lib -Wl,-rpath,/opt/x/lib", "gcc -shared -L/py/lib -Wl,-rpath,/opt/x/lib"),
        ("gcc -shared -Wl,-rpath=/py/lib/sub", "gcc -shared"),
        ("gcc -shared -Wl,-rpath,/pyx/lib", None),  # another installation: not the interpreter's
        ("gcc -shared", None),
    ],
)
def test_the_interpreters_rpath_is_dropped_from_the_link_command(command: str, expected: str | None) -> None:
    assert _without_rpath(command, ["/py"]) == expected


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_unpack_sdist_strips_the_top_directory_and_refuses_escapes(tmp_path: Path) -> None:
    good = _tar(tmp_path / "p-1.tar.gz", {"p-1/setup.py": b"x", "p-1/p/__init__.py": b""})
    unpack_sdist(good, tmp_path / "src")
    assert sorted(p.relative_to(tmp_path / "src").as_posix() for p in (tmp_path / "src").rglob("*.py")) == [
        "p/__init__.py",
        "setup.py",
    ]
    for members, why in (
        ({"p-1/setup.py": b"", "p-1/../../evil": b""}, "leads outside the archive"),
        ({"p-1/setup.py": b"", "q-1/setup.py": b""}, "not one top directory but 2"),
    ):
        with pytest.raises(ValueError, match=why):
            unpack_sdist(_tar(tmp_path / "bad.tar.gz", members), tmp_path / "bad")


def test_the_fixed_build_directory_is_private_locked_and_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_isolated, "_FIXED_PARENT", tmp_path)
    base = tmp_path / f"envcapture-build.{os.getuid()}"
    with build_directory("ab" * 32, tmp_path / "fallback", "x-") as bd:
        assert (bd.fixed, bd.root) == (True, base / ("ab" * 8))
        assert {p.name for p in bd.root.iterdir()} == {"tmp", "out"}
        (bd.root / "out" / "x.whl").write_bytes(b"x")
        assert sweep_build_dirs() == 0  # locked: a live build
    assert not bd.root.exists()  # emptied afterwards
    killed = base / ("cd" * 8)  # a build that was killed: its lock is free
    (killed / "src").mkdir(parents=True)
    (base / f"{killed.name}.lock").touch()
    assert sweep_build_dirs() == 1 and not killed.exists()
    # a base directory others can write (or a link someone planted): a random directory instead
    base.chmod(0o777)
    (tmp_path / "fallback").mkdir()
    with build_directory("ab" * 32, tmp_path / "fallback", "x-") as bd:
        assert not bd.fixed and bd.root.parent == tmp_path / "fallback"


# --- a compiled local project ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
@pytest.mark.skipif(PYTHON_311 is None, reason="no CPython 3.11 on this machine")
def test_a_compiled_local_project_gives_the_same_wheel_from_two_cold_builds_at_other_paths(
    index: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    builds = []
    for name in ("one/project", "elsewhere/much/deeper/project"):
        project = tmp_path / name
        _job(project, index.url, "reprocext")
        shutil.copytree(FIXTURE_DISTS / "repro-cext", project / "cext")
        venv = make_venv(project.parent / "venv", PYTHON_311)
        pip_install(venv, project / "cext")  # pip install ./cext: compiled here, in the source tree
        builds.append((project, venv))
    bundles = []
    for i, (project, venv) in enumerate(builds):
        _cold(monkeypatch, tmp_path / f"cold{i}")
        bundle = tmp_path / f"out{i}" / "bundle"
        code, out, err = run_cli(["build", "--python", str(venv), "-o", str(bundle)], capsys, project)
        assert code == 0, out + err  # and verified: the extension imports from the wheel, offline
        bundles.append(bundle)
    wheels = [_wheel(b, "repro_cext-0.2.0-cp311-cp311-linux_x86_64") for b in bundles]
    assert wheels[0].read_bytes() == wheels[1].read_bytes()
    for name in ("requirements.lock.txt", "pylock.toml", "environment.json", "manifest.json"):
        assert (bundles[0] / name).read_bytes() == (bundles[1] / name).read_bytes(), name
    manifests = [json.loads((b / "manifest.json").read_text()) for b in bundles]
    assert environment_key(manifests[0]) == environment_key(manifests[1])
    sha = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    assert f"--hash=sha256:{sha}" in (bundles[0] / "requirements.lock.txt").read_text()
    with zipfile.ZipFile(wheels[0]) as archive:
        (so,) = [n for n in archive.namelist() if n.endswith(".so")]
        binary = archive.read(so)
    # no path of this machine in the binary: neither project, store, temporary nor build
    # directory, nor the interpreter's installation (debug info and rpath)
    for path in (*builds[0], *builds[1], tmp_path, Path("/tmp/envcapture-build"), Path(PYTHON_311).resolve().parents[1]):  # type: ignore[arg-type]
        assert str(path).encode() not in binary, path
    assert b"/python/include" in binary  # the interpreter's headers, mapped
    assert b"reprocext/_add.c" in binary  # the source, relative to the project


# --- an index version with only an sdist -----------------------------------------------------------


def _sdist(out: Path) -> Path:
    """``sdist-only-0.6.2.tar.gz`` of the fixture, deterministic (one top directory, fixed times)."""
    source = FIXTURE_DISTS / "sdist-only"
    path = out / "sdist-only-0.6.2.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(source.iterdir()):
            info = tar.gettarinfo(str(file), arcname=f"sdist-only-0.6.2/{file.name}")
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 315532800, 0, 0, "", "", 0o644
            with open(file, "rb") as handle:
                tar.addfile(info, handle)
    return path


@pytest.mark.slow
@pytest.mark.skipif(PYTHON_311 is None, reason="no CPython 3.11 on this machine")
def test_an_sdist_only_version_is_built_into_the_wheelhouse_and_verifies_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tmp_path / "index"
    files.mkdir()
    sdist = _sdist(files)
    sdist_sha = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if not all((MIRROR / f).is_file() for f in LEGACY_BACKEND):
        pytest.skip("the local wheel mirror lacks the build backend")
    for backend in LEGACY_BACKEND:
        shutil.copyfile(MIRROR / backend, files / backend)
    server = IndexServer(files).start()
    project = tmp_path / "project"
    _job(project, server.url, "sdist_only")
    venv = make_venv(tmp_path / "venv", PYTHON_311)
    pip_install(venv, "sdist-only==0.6.2", find_links=[files])  # by name: an index install, no direct URL
    _cold(monkeypatch, tmp_path / "cold")
    try:
        bundle = tmp_path / "bundle"
        code, out, err = run_cli(["build", "--python", str(venv), "-o", str(bundle), "--json"], capsys, project)
        assert code == 0, out + err
        wheel = _wheel(bundle, "sdist_only-0.6.2-py3-none-any.whl")
        wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lock = (bundle / "requirements.lock.txt").read_text()
        assert (
            f"sdist-only==0.6.2 \\\n    --hash=sha256:{min(sdist_sha, wheel_sha)} \\\n"
            f"    --hash=sha256:{max(sdist_sha, wheel_sha)}\n"
        ) in lock
        assert (
            "    # shipped in the wheelhouse, built from sdist-only-0.6.2.tar.gz (the index has no wheel for the target)" in lock
        )
        assert f"    # from {server.url}\n" in lock  # where pip found the sdist, as for a downloaded wheel
        environment = json.loads((bundle / "environment.json").read_text())
        (locked,) = [d for d in environment["distributions"] if d["name"] == "sdist-only"]
        assert locked["found_on"] == [{"kind": "index", "location": server.url}]
        pylock = tomllib.loads((bundle / "pylock.toml").read_text())
        Pylock.from_dict(pylock)
        (package,) = [p for p in pylock["packages"] if p["name"] == "sdist-only"]
        assert package["index"] == server.url
        assert package["wheels"] == [
            {
                "name": wheel.name,
                "path": f"wheelhouse/{wheel.name}",
                "size": wheel.stat().st_size,
                "hashes": {"sha256": wheel_sha},
            }
        ]
        assert package["tool"]["envcapture"]["built-from-sdist"] == {
            "name": sdist.name, "size": sdist.stat().st_size, "hashes": {"sha256": sdist_sha},
        }  # fmt: skip
        manifest = json.loads((bundle / "manifest.json").read_text())
        (dist,) = [d for d in manifest["distributions"] if d["name"] == "sdist-only"]
        assert (dist["source"], dist["sdist"]) == ("built", {"filename": sdist.name, "sha256": sdist_sha})
        # warm: the store answers for the sdist and its wheel, nothing is fetched or built
        code, out, err = run_cli(["build", "--python", str(venv), "-o", str(bundle), "--json"], capsys, project)
        assert code == 0, out + err
        counters = json.loads(out)["counters"]
        assert (counters["downloads"], counters["builds"]) == (0, 0)
        assert (bundle / "requirements.lock.txt").read_text() == lock  # the sdist's source too, from the store
        # the lock hashes the sdist, the file pip would fetch from the index
        code, out, err = run_cli(["lock", "--python", str(venv), "-o", str(tmp_path / "L")], capsys, project)
        assert code == 0, err
        assert f"sdist-only==0.6.2 \\\n    --hash=sha256:{sdist_sha}\n" in (tmp_path / "L" / "requirements.lock.txt").read_text()
        assert "only an sdist: envcapture build builds its wheel into the wheelhouse" in err
    finally:
        server.stop()
    code, out, err = run_cli(["verify", str(bundle)], capsys, tmp_path)  # the index is gone: offline
    assert code == 0, out + err


# --- lock with local packages ----------------------------------------------------------------------


def test_lock_hashes_the_local_packages_as_the_wheels_the_bundle_ships(
    buildjob: BuildJob, cold_build: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """buildjob: psutil from the index, build-vcsdep from a local git commit, build-editdep
    editable. The lock builds the two local wheels (cold: its own store) and hashes them:
    the same bytes as the cold build's, so its requirements lock is the bundle's."""
    _cold(monkeypatch, tmp_path / "cold")
    out_dir = tmp_path / "lock"
    code, _, err = run_cli(
        ["lock", "--config", "config.yaml", "--python", str(buildjob.python), "-o", str(out_dir)], capsys, buildjob.project
    )
    assert code == 0, err
    assert (out_dir / "pylock.toml").is_file() and "not written" not in err and "warning" not in err
    lock = (out_dir / "requirements.lock.txt").read_text()
    bundled = (cold_build.bundle / "requirements.lock.txt").read_text()
    shipped = {a["path"].split("/")[-1]: a["sha256"] for a in cold_build.result.manifest["artifacts"] if a["kind"] == "wheel"}  # type: ignore[attr-defined]
    for filename, sha in shipped.items():
        assert f"--hash=sha256:{sha}" in lock, filename
    assert "# No --hash lines" not in lock
    assert lock.replace("envcapture lock --config", "envcapture build --config") == bundled
    pylock = tomllib.loads((out_dir / "pylock.toml").read_text())
    Pylock.from_dict(pylock)
    packages = {p["name"]: p for p in pylock["packages"]}
    editable = next(f for f in shipped if f.startswith("build_editdep-"))
    assert packages["build-editdep"]["wheels"] == [
        {"name": editable, "path": f"wheelhouse/{editable}", "size": (cold_build.bundle / "wheelhouse" / editable).stat().st_size,
         "hashes": {"sha256": shipped[editable]}}
    ]  # fmt: skip
    assert packages["psutil"]["index"] == buildjob.index.url
    # the lock left the wheels in the store: the build that follows builds nothing again
    result = build_bundle(config=buildjob.config, python=str(buildjob.python), output=tmp_path / "bundle")
    assert result.stats.builds == 0
