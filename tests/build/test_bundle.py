"""``envcapture build``: the whole bundle of the ``buildjob`` fixture (envcapture/builders/build.py).

buildjob imports a local package, psutil (compiled, from the index), build-vcsdep (installed
from a local git repository at a commit) and build-editdep (installed editable).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from build_support import (
    BUILD_COMMAND,
    INDEX_WHEELS,
    BuildJob,
    Built,
    bundle_files,
    pyenv_python,
)
from click.testing import CliRunner

from envcapture.build.bundle import build_bundle
from envcapture.build.store import Store
from envcapture.build.wheelhouse import WheelhouseStats
from envcapture.cli import cli
from envcapture.errors import InputError
from envcapture.runtime.verify import offline_prefix, verify_bundle

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXPECTED_OUTPUT = "buildjob ok hello-vm 42 vcs-1.2.0 editable-0.3.0 cores=True"


def _copy_store(built: Built, dest: Path) -> Store:
    shutil.copytree(built.store_root, dest)
    return Store(dest)


def _run_entry_point(bundle: Path, venv: Path, workdir: Path) -> str:
    """Unpack the local code and run ``python main.py`` in ``venv``, with no network."""
    workdir.mkdir(parents=True)
    with tarfile.open(bundle / "local-code.tar.gz") as tar:
        tar.extractall(workdir, filter="data") if sys.version_info >= (3, 12) else tar.extractall(workdir)  # noqa: S202 - the archive the test just built
    done = subprocess.run(
        [*offline_prefix(), str(venv / "bin" / "python"), "main.py"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin")},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_bundle_layout_and_manifest(cold_build: Built, buildjob: BuildJob) -> None:
    bundle = cold_build.bundle
    assert sorted(bundle_files(bundle)) == [
        "environment.json",
        "local-code.tar.gz",
        "manifest.json",
        "pylock.toml",
        "requirements.lock.txt",
        "wheelhouse/build_editdep-0.3.0-py3-none-any.whl",
        "wheelhouse/build_vcsdep-1.2.0-py3-none-any.whl",
        f"wheelhouse/{INDEX_WHEELS['psutil']}",
    ]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert list(manifest)[:3] == ["schema", "schema_version", "generator"]
    assert (manifest["schema"], manifest["schema_version"]) == ("envcapture/manifest", "1.3")
    assert manifest["cmd"] == "python main.py"
    assert [e["target"] for e in manifest["entry_points"]] == ["main.py"]
    assert manifest["verify_modules"] == ["editdep", "psutil", "vcsdep"]
    assert [(d["name"], d["origin"], d["source"]) for d in manifest["distributions"]] == [
        ("build-editdep", "editable", "built"),
        ("build-vcsdep", "vcs", "built"),
        ("psutil", "index", "downloaded"),
    ]
    assert [f["path"] for f in manifest["local_code"]["files"]] == ["localpkg/__init__.py", "localpkg/helpers.py", "main.py"]
    for item in manifest["artifacts"]:
        data = (bundle / item["path"]).read_bytes()
        assert (len(data), __import__("hashlib").sha256(data).hexdigest()) == (item["size"], item["sha256"])
    text = (bundle / "manifest.json").read_text()
    for private in (str(buildjob.root), str(Path.home()), "/tmp/"):
        assert private not in text  # no absolute paths
    # The lock pins each wheel by the sha256 of the file shipped, and only that one.
    lock = (bundle / "requirements.lock.txt").read_text()
    for item in manifest["artifacts"]:
        if item["kind"] == "wheel":
            assert f"--hash=sha256:{item['sha256']}" in lock
    assert lock.count("--hash=") == 3
    assert "# To regenerate it, run:\n#\n#    envcapture build --config config.yaml\n" in lock
    env = json.loads((bundle / "environment.json").read_text())
    assert all(len(d["hashes"]) == 1 for d in env["distributions"])
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((DOCS / "schema" / "manifest.schema.json").read_text())
    jsonschema.validate(manifest, schema)
    assert not list(bundle.parent.glob("bundle.tmp-*"))


def test_cold_and_warm_builds_are_byte_identical(cold_build: Built, buildjob: BuildJob, tmp_path: Path) -> None:
    """A warm rebuild downloads and builds nothing; a second cold build (another store)
    gives the same bytes: manifest, locks, built wheels, local-code archive."""
    reference = bundle_files(cold_build.bundle)
    warm = build_bundle(
        config=buildjob.config,
        python=str(buildjob.python),
        output=tmp_path / "warm" / "bundle",
        store=Store(cold_build.store_root),
        command=BUILD_COMMAND,
    )
    assert warm.stats == WheelhouseStats(store_hits=3)
    assert bundle_files(warm.path) == reference
    cold = build_bundle(
        config=buildjob.config,
        python=str(buildjob.python),
        output=tmp_path / "cold" / "bundle",
        store=Store(tmp_path / "store2"),
        command=BUILD_COMMAND,
    )
    assert (cold.stats.downloads, cold.stats.builds, cold.stats.store_hits) == (1, 2, 0)
    assert cold.stats.bytes_downloaded == (cold.path / "wheelhouse" / INDEX_WHEELS["psutil"]).stat().st_size
    assert bundle_files(cold.path) == reference
    # Building again over an existing bundle replaces it (only once the new one is complete).
    again = build_bundle(
        config=buildjob.config,
        python=str(buildjob.python),
        output=cold.path,
        store=Store(tmp_path / "store2"),
        command=BUILD_COMMAND,
    )
    assert again.stats.store_hits == 3 and bundle_files(again.path) == reference
    assert sorted(p.name for p in cold.path.parent.iterdir()) == ["bundle"]


def test_builds_verifies_offline_and_runs(cold_build: Built, tmp_path: Path) -> None:
    result = verify_bundle(cold_build.bundle, venv=tmp_path / "venv")
    assert result.ok, result.failures
    assert result.python_version.startswith("3.11.")
    assert [c.subject for c in result.checks if c.step == "import"] == ["editdep", "psutil", "vcsdep"]
    assert _run_entry_point(cold_build.bundle, tmp_path / "venv", tmp_path / "work") == EXPECTED_OUTPUT


@pytest.mark.slow
def test_target_python_310_from_a_311_environment(cold_build: Built, buildjob: BuildJob, tmp_path: Path) -> None:
    if pyenv_python("3.10") is None:
        pytest.skip("no CPython 3.10 under /root/.pyenv/versions (needed to build and verify for 3.10)")
    store = _copy_store(cold_build, tmp_path / "store")
    result = build_bundle(
        config=buildjob.config,
        python=str(buildjob.python),
        target_python="3.10",
        output=tmp_path / "bundle",
        store=store,
        command=BUILD_COMMAND,
    )
    # The pure-Python wheels built for 3.11 are reused (the store keys them by "any");
    # psutil is fetched again for cp310 (the same abi3 wheel, under another key).
    assert (result.stats.downloads, result.stats.builds, result.stats.store_hits) == (1, 0, 2)
    manifest = result.manifest
    assert manifest["target"]["python_version"] == "3.10"
    assert "CPython 3.10" in (result.path / "requirements.lock.txt").read_text()
    assert (result.path / "wheelhouse" / INDEX_WHEELS["psutil"]).is_file()
    verified = verify_bundle(result.path, venv=tmp_path / "venv310")
    assert verified.ok, verified.failures
    assert verified.python_version.startswith("3.10.")
    assert _run_entry_point(result.path, tmp_path / "venv310", tmp_path / "work") == EXPECTED_OUTPUT


@pytest.mark.slow
def test_interrupted_build_completes_identically(cold_build: Built, buildjob: BuildJob, tmp_path: Path) -> None:
    """SIGKILL ``envcapture build`` once the first wheel is in the store, run it again: it
    completes, and the bundle is byte-identical to an uninterrupted build."""
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "ENVCAPTURE_CACHE_DIR": str(cache)}
    cmd = [
        sys.executable,
        "-m",
        "envcapture.cli",
        "build",
        "--config",
        str(buildjob.config),
        "--python",
        str(buildjob.python),
        "-o",
        str(out / "bundle"),
        "--json",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    objects = cache / "store" / "objects"
    index_entries = cache / "store" / "index"
    deadline = time.monotonic() + 120
    try:
        while not any(index_entries.glob("*/*.json")):  # a wheel is stored and recorded
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no wheel reached the store"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the build and its pip subprocesses
        proc.communicate()
    assert not (out / "bundle").exists()
    landed = sorted(p.name for p in objects.glob("*/*"))
    assert landed  # at least one wheel is stored; whatever else was in flight is not
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    counters = json.loads(done.stdout)["counters"]
    assert counters["store_hits"] >= 1 and counters["store_hits"] + counters["downloads"] + counters["builds"] == 3
    assert bundle_files(out / "bundle") == bundle_files(cold_build.bundle)
    assert sorted(p.name for p in out.iterdir()) == ["bundle"]
    store = Store(cache / "store")
    for path in store.objects_dir.glob("*/*"):
        assert __import__("hashlib").sha256(path.read_bytes()).hexdigest() == path.name


def test_manual_local_paths_leave_out_secrets(cold_build: Built, buildjob: BuildJob, tmp_path: Path) -> None:
    project = buildjob.copy_project(tmp_path / "project")
    config = project / "config.yaml"
    config.write_text(config.read_text().replace("type: auto", "type: manual\n    local-paths: [main.py, localpkg/]"))
    for rel in (
        "localpkg/.env",
        "localpkg/id_rsa",
        "localpkg/__pycache__/helpers.cpython-311.pyc",
        "localpkg/.git/HEAD",
        "notes.txt",
    ):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("secret\n")
    result = build_bundle(
        config=config,
        python=str(buildjob.python),
        output=tmp_path / "bundle",
        store=_copy_store(cold_build, tmp_path / "store"),
        command=BUILD_COMMAND,
    )
    local = result.manifest["local_code"]
    assert local["mode"] == "local-paths"
    assert [f["path"] for f in local["files"]] == ["localpkg/__init__.py", "localpkg/helpers.py", "main.py"]
    assert local["excluded"] == [
        {"path": "localpkg/.env", "rule": "dotenv"},
        {"path": "localpkg/.git", "rule": "vcs-metadata"},
        {"path": "localpkg/__pycache__", "rule": "bytecode-cache"},
        {"path": "localpkg/id_rsa", "rule": "private-key"},
    ]
    with tarfile.open(result.path / "local-code.tar.gz") as tar:
        assert tar.getnames() == ["localpkg/__init__.py", "localpkg/helpers.py", "main.py"]
    # Same local code as the auto-mode build: the archive is the same bytes.
    assert (result.path / "local-code.tar.gz").read_bytes() == (cold_build.bundle / "local-code.tar.gz").read_bytes()


def test_cli_build_json_and_refusals(
    cold_build: Built, buildjob: BuildJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(cold_build.store_root, cache / "store")
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(cache))
    runner = CliRunner()
    out = tmp_path / "bundle"
    args = ["build", "--config", str(buildjob.config), "--python", str(buildjob.python), "-o", str(out)]
    done = runner.invoke(cli, [*args, "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["counters"] == {"downloads": 0, "builds": 0, "copies": 0, "store_hits": 3, "bytes_downloaded": 0, "corrupted": 0}
    assert bundle_files(out) == bundle_files(cold_build.bundle)
    done = runner.invoke(cli, args)
    assert done.exit_code == 0
    first, second = done.stdout.splitlines()[:2]
    assert first == "Target: CPython 3.11, linux x86_64, accelerator as installed"
    assert second.startswith(f"built {out}: 3 wheels (0 downloaded, 0 built, 3 from the store), 3 local files")
    assert "environment: " in done.stdout and " unpacked" in done.stdout
    # Something that is not a bundle is never replaced.
    other = tmp_path / "precious"
    other.mkdir()
    (other / "data.txt").write_text("keep me")
    done = runner.invoke(cli, [*args[:-1], str(other)])
    assert done.exit_code == 2
    assert f"envcapture: error: {other}: exists and is not an envcapture bundle; refusing to replace it" in done.output
    assert (other / "data.txt").read_text() == "keep me"
    # A local path that is a symlink out of the project is refused, by name.
    project = buildjob.copy_project(tmp_path / "project")
    (project / "localpkg" / "evil.py").symlink_to("/etc/hostname")
    config = project / "config.yaml"
    config.write_text(config.read_text().replace("type: auto", "type: manual\n    local-paths: [main.py, localpkg/]"))
    done = runner.invoke(cli, ["build", "--config", str(config), "--python", str(buildjob.python), "-o", str(tmp_path / "b2")])
    assert done.exit_code == 2
    assert (
        "envcapture: error: localpkg/evil.py: a symlink to '/etc/hostname', outside the project; refused "
        "(copy the file into the project, or list it in inputs)"
    ) in done.output
    assert not (tmp_path / "b2").exists() and not list(tmp_path.glob("b2.tmp-*"))


def test_unresolvable_target_is_a_resolution_error(cold_build: Built, buildjob: BuildJob, tmp_path: Path) -> None:
    from dataclasses import replace

    from envcapture.build.bundle import assemble_bundle
    from envcapture.errors import ResolutionError
    from envcapture.resolution.model import Unresolved

    cap = cold_build.result.capture  # type: ignore[attr-defined]
    broken = replace(
        cap,
        closure=replace(
            cap.closure, unresolved_for_target=(Unresolved(name="tomli", specifier=">=1.1", reason="needed only on the target"),)
        ),
    )  # type: ignore[arg-type]
    with pytest.raises(
        ResolutionError, match=r"^tomli>=1\.1: step resolve for CPython 3\.11 on linux x86_64: needed on the target"
    ):
        assemble_bundle(broken, tmp_path / "bundle", store=Store(cold_build.store_root))
    assert not (tmp_path / "bundle").exists()
    assert InputError.exit_code == 2
