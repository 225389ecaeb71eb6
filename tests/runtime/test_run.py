"""``envcapture run``: a bundle deployed and run on "the target" (envcapture/runtime.py).

The jobs live in ``tests/fixtures/runtime_jobs/<name>/``:

* ``pyjob``: a local package, dist-alpha (imported as ``alpha_mod``) from the test index,
  Yaml-Like (imported as ``yamlish`` inside a function) installed from a local directory,
  an input saved in a variable, an output, ``args`` and ``env.vars`` (one copied from the
  build machine). It is captured from its own virtualenv, built with ``build_bundle`` and
  run with the network cut off (``unshare -n``) in another directory.
* ``plain`` / ``shell``: no ``env.python``: only the inputs travel; ``cmd`` as an argv list,
  and through ``/bin/sh -c``.
* ``trap`` / ``ignore`` / ``nograce``: shell scripts for the graceful-shutdown rules.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from build_support import INDEX_WHEELS, MIRROR, pyenv_python
from helpers import WheelFactory, copy_fixture, make_venv, pip_install
from index_server import IndexServer

from envcapture.build.bundle import build_bundle
from envcapture.build.store import Store
from envcapture.config.loader import load_config
from envcapture.errors import InputError
from envcapture.runtime.run import RunState, command_argv, run_bundle
from envcapture.runtime.verify import offline_prefix, verify_bundle

JOBS = Path(__file__).resolve().parents[1] / "fixtures" / "runtime_jobs"
DOCS = Path(__file__).resolve().parents[2] / "docs"
PLACEHOLDER_INDEX = "http://127.0.0.1:9/simple"
PY_EXPECTED = "alpha 42 yamlish=2.1 total=10 tag=nightly run greeting=bonjour marker={marker}"


# --- helpers ---------------------------------------------------------------------------------------


def _cli_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "ENVCAPTURE_"))}
    env["ENVCAPTURE_CACHE_DIR"] = str(cache)
    return env


def _envcapture_run(
    bundle: Path, run_dir: Path, *, cache: Path, prefix: tuple[str, ...] = (), cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "envcapture.cli", "run", str(bundle), "--workdir", str(run_dir)],
        cwd=cwd or run_dir.parent, env=_cli_env(cache), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _status(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "status.json").read_text("utf-8"))


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("envcapture: error:")]


def _offline() -> tuple[str, ...]:
    """``unshare -n`` (as root) around the run, or skip."""
    prefix = offline_prefix()
    if not prefix or os.geteuid() != 0:
        pytest.skip("cannot cut the network here: needs root and a working `unshare -n`")
    return prefix


def _marked(marker: str) -> list[int]:
    """Live processes whose environment holds RUN_MARKER=<marker>."""
    needle = f"RUN_MARKER={marker}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


def _group(pgid: int) -> list[int]:
    """Processes (zombies excepted) of the process group ``pgid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != b"Z":
            found.append(int(name))
    return found


def _rewrite_artifact(bundle: Path, rel: str, data: bytes) -> None:
    """Replace a bundle file and record its new hash, as a consistent (malicious) bundle would."""
    (bundle / rel).write_bytes(data)
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for item in manifest["artifacts"]:
        if item["path"] == rel:
            item["sha256"] = hashlib.sha256(data).hexdigest()
            item["size"] = len(data)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


def _tar_gz(entries: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _build_plain(name: str, dest: Path, **environ: str) -> Path:
    project = shutil.copytree(JOBS / name, dest / "project")
    build_bundle(config=project / "config.yaml", python=sys.executable, output=dest / "bundle",
                 store=Store(dest / "store"), environ={**os.environ, **environ})  # fmt: skip
    return dest / "bundle"


# --- the Python job ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PyJob:
    root: Path
    project: Path
    venv: Path  # the source virtualenv the job was captured from
    python: Path
    store: Store
    bundle: Path
    marker: str
    index: IndexServer


@pytest.fixture(scope="module")
def pyjob(tmp_path_factory: pytest.TempPathFactory, wheel_factory: WheelFactory) -> Iterator[PyJob]:
    """``runtime_jobs/pyjob`` captured from a CPython 3.11 virtualenv with dist-alpha (from
    the test index) and Yaml-Like (from a local directory), built into a bundle."""
    setuptools = MIRROR / INDEX_WHEELS["setuptools"]
    if not setuptools.is_file():
        pytest.skip(f"the local wheel mirror lacks {setuptools.name} (the build backend of Yaml-Like)")
    py311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if py311 is None:
        pytest.skip("no CPython 3.11 on this machine")
    root = tmp_path_factory.mktemp("runtime-pyjob")
    index_dir = root / "index"
    index_dir.mkdir()
    shutil.copy(wheel_factory("dist-alpha"), index_dir)
    shutil.copy(setuptools, index_dir)
    server = IndexServer(index_dir).start()
    try:
        project = shutil.copytree(JOBS / "pyjob", root / "project")
        config = project / "config.yaml"
        config.write_text(config.read_text("utf-8").replace(PLACEHOLDER_INDEX, server.url), "utf-8")
        (root / "sources").mkdir()
        yaml_like = copy_fixture("Yaml-Like", root / "sources")
        python = make_venv(root / "venv", py311)
        pip_install(python, "--no-deps", "dist-alpha", yaml_like, find_links=[wheel_factory.wheelhouse])
        store = Store(root / "store")
        marker = uuid.uuid4().hex
        build_bundle(config=config, python=str(python), output=root / "bundle", store=store,
                     environ={**os.environ, "RUN_MARKER": marker})  # fmt: skip
        yield PyJob(root=root, project=project, venv=root / "venv", python=python, store=store,
                    bundle=root / "bundle", marker=marker, index=server)  # fmt: skip
    finally:
        server.stop()


@dataclass(frozen=True)
class ColdRun:
    vm: Path
    bundle: Path
    run_dir: Path
    cache: Path
    done: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def cold_run(pyjob: PyJob, tmp_path_factory: pytest.TempPathFactory) -> ColdRun:
    """``envcapture run`` of the pyjob bundle, copied to another directory, with the network
    cut off and the source virtualenv and project moved out of the way."""
    prefix = _offline()
    vm = tmp_path_factory.mktemp("vm")
    bundle = shutil.copytree(pyjob.bundle, vm / "bundle")
    hidden = [(p, p.with_name(p.name + ".away")) for p in (pyjob.venv, pyjob.project, pyjob.root / "sources")]
    for path, away in hidden:
        path.rename(away)
    try:
        done = _envcapture_run(bundle, vm / "run", cache=vm / "cache", prefix=prefix, cwd=vm)
    finally:
        for path, away in hidden:
            away.rename(path)
    return ColdRun(vm=vm, bundle=bundle, run_dir=vm / "run", cache=vm / "cache", done=done)


def test_manifest_job_section(pyjob: PyJob) -> None:
    manifest = json.loads((pyjob.bundle / "manifest.json").read_text())
    assert manifest["schema_version"] == "1.3"
    job = manifest["job"]
    assert job["cmd"] == "python main.py --params ${PARAMS} --out ${RESULT} --tag ${TAG}"
    assert job["plain"] is False
    assert job["inputs"] == [{"path": "inputs/PARAMS/params.json", "var": "PARAMS", "type": "file"}]
    assert [f["path"] for f in job["inputs_archive"]["files"]] == ["inputs/PARAMS/params.json"]
    assert job["outputs"] == [{"path": "results/result.txt", "var": "RESULT"}]
    assert job["env"] == [
        {"name": "GREETING", "value": "bonjour", "source": "config"},
        {"name": "RUN_MARKER", "value": pyjob.marker, "source": "build-environment"},
    ]
    assert job["args"] == [{"name": "TAG", "value": "nightly run"}]
    assert job["graceful_shutdown"] is None
    kinds = {a["path"]: a["kind"] for a in manifest["artifacts"]}
    assert kinds["inputs.tar.gz"] == "inputs" and kinds["local-code.tar.gz"] == "local-code"
    assert sorted(d["name"] for d in manifest["distributions"]) == ["dist-alpha", "yaml-like"]
    assert sorted(f["path"] for f in manifest["local_code"]["files"]) == ["jobpkg/__init__.py", "jobpkg/compute.py", "main.py"]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(manifest, json.loads((DOCS / "schema" / "manifest.schema.json").read_text()))


def test_end_to_end_offline_in_a_fresh_environment(cold_run: ColdRun, pyjob: PyJob) -> None:
    done = cold_run.done
    assert done.returncode == 0, done.stderr
    run_dir = cold_run.run_dir
    result = (run_dir / "outputs" / "results" / "result.txt").read_text().splitlines()
    assert result[0] == PY_EXPECTED.format(marker=pyjob.marker)
    assert result[2] == "python=3.11"
    status = _status(run_dir)
    assert (status["state"], status["exit_code"], status["shell"]) == ("Complete", 0, False)
    assert status["argv"][:3] == ["python", "main.py", "--params"] and "nightly run" in status["argv"]
    env = status["environment"]
    assert (env["reused"], env["pip_calls"]) == (False, 1)
    venv = Path(env["path"])
    assert venv.parent == cold_run.cache / "envs" and result[1] == f"prefix={venv}"
    # The job's stdout went to the terminal and to its log.
    assert "pyjob ok: alpha 42" in done.stdout and "pyjob ok: alpha 42" in (run_dir / "logs" / "stdout.log").read_text()
    assert "envcapture: Running: python main.py" in done.stderr and "envcapture: Complete: exit code 0" in done.stderr
    # The new environment shares nothing with the one the job was captured from, and does
    # not know it was built in a temporary directory.
    source = os.fsencode(pyjob.venv)
    for path in venv.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert source not in data, path
            assert b"/envs/.tmp-" not in data, path
    cfg = (venv / "pyvenv.cfg").read_text()
    assert str(pyjob.venv) not in cfg and "include-system-site-packages = false" in cfg
    assert (venv / "bin" / "pip").read_text().splitlines()[0] == f"#!{venv}/bin/python"
    assert sorted(p.name for p in (cold_run.cache / "envs").iterdir()) == [venv.name]  # no leftover build
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(status, json.loads((DOCS / "schema" / "run-status.schema.json").read_text()))


def test_environment_reuse_is_fast_and_runs_no_pip(
    cold_run: ColdRun, pyjob: PyJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cold_run.done.returncode == 0, cold_run.done.stderr
    launched: list[list[str]] = []
    real_popen = subprocess.Popen

    class CountingPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            launched.append([str(a) for a in args] if isinstance(args, (list, tuple)) else [str(args)])
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", CountingPopen)
    out, err = io.BytesIO(), io.BytesIO()
    result = run_bundle(cold_run.bundle, tmp_path / "run2", cache_dir=cold_run.cache, stdout=out, stderr=err)
    monkeypatch.undo()
    assert result.state is RunState.COMPLETE, err.getvalue()
    assert result.environment is not None and result.environment.reused and result.environment.pip_calls == 0
    assert result.setup_seconds is not None and result.setup_seconds < 1.0
    # the job and its watchdog (which kills the job's group if the runtime is killed), nothing else: no pip, no virtualenv
    assert launched[0] == result.status["argv"] and len(launched) == 2 and "killpg" in launched[1][-2]
    assert not [argv for argv in launched if any("pip" in part or "virtualenv" in part for part in argv)]
    first = (cold_run.run_dir / "outputs" / "results" / "result.txt").read_text()
    assert (tmp_path / "run2" / "outputs" / "results" / "result.txt").read_text() == first
    # And through the CLI, in a new process, offline.
    again = _envcapture_run(cold_run.bundle, tmp_path / "run3", cache=cold_run.cache, prefix=_offline())
    assert again.returncode == 0, again.stderr
    status = _status(tmp_path / "run3")
    assert status["environment"]["reused"] is True and status["environment"]["pip_calls"] == 0
    assert status["setup_seconds"] < 1.0
    print(f"setup: cold {_status(cold_run.run_dir)['setup_seconds']:.2f} s, warm {result.setup_seconds:.3f} s "
          f"(in-process), {status['setup_seconds']:.3f} s (CLI)")  # fmt: skip


@pytest.mark.slow
def test_end_to_end_with_target_python_310(pyjob: PyJob, tmp_path: Path) -> None:
    if pyenv_python("3.10") is None:
        pytest.skip("no CPython 3.10 under /root/.pyenv/versions (needed to build and run for 3.10)")
    prefix = _offline()
    build_bundle(config=pyjob.project / "config.yaml", python=str(pyjob.python), target_python="3.10",
                 output=tmp_path / "bundle", store=pyjob.store, environ={**os.environ, "RUN_MARKER": pyjob.marker})  # fmt: skip
    assert json.loads((tmp_path / "bundle" / "manifest.json").read_text())["target"]["python_version"] == "3.10"
    done = _envcapture_run(tmp_path / "bundle", tmp_path / "run", cache=tmp_path / "cache", prefix=prefix)
    assert done.returncode == 0, done.stderr
    result = (tmp_path / "run" / "outputs" / "results" / "result.txt").read_text().splitlines()
    assert result[0] == PY_EXPECTED.format(marker=pyjob.marker)
    assert result[2] == "python=3.10"
    assert _status(tmp_path / "run")["environment"]["python_version"].startswith("3.10.")


@pytest.mark.slow
def test_killed_environment_build_is_never_reused(pyjob: PyJob, tmp_path: Path) -> None:
    """The runtime is killed (SIGKILL to its whole group, as when a VM goes away) while it
    builds the environment: the next run builds it again from scratch and removes the rest."""
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-m", "envcapture.cli", "run", str(pyjob.bundle), "--workdir", str(tmp_path / "run1")],
        env=_cli_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((cache / "envs").glob(".tmp-*/bin/python")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list((cache / "envs").glob(".tmp-*")), "the build was not caught in progress"
    assert _status(tmp_path / "run1")["state"] == "Pending"  # killed: nobody wrote the end
    result = run_bundle(pyjob.bundle, tmp_path / "run2", cache_dir=cache, stdout=io.BytesIO(), stderr=io.BytesIO())
    assert result.state is RunState.COMPLETE
    assert result.environment is not None and not result.environment.reused
    assert [p.name for p in (cache / "envs").iterdir()] == [result.environment.path.name]


# --- the bundle is refused before the job starts -----------------------------------------------------


def _copy_bundle(pyjob: PyJob, dest: Path) -> Path:
    return shutil.copytree(pyjob.bundle, dest)


def _refused(bundle: Path, tmp_path: Path, needle: str) -> dict[str, Any]:
    """Run ``bundle``; it must stop with exit 2 and one error line containing ``needle``,
    before anything is installed or the job writes anything."""
    cache = tmp_path / "cache"
    done = _envcapture_run(bundle, tmp_path / "run", cache=cache)
    assert done.returncode == 2, done.stderr
    lines = _error_lines(done.stderr)
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert done.stderr.strip() == lines[0]  # nothing else: no state line, no traceback
    assert not (tmp_path / "run" / "work").exists()  # no file placed, the job never started
    assert not (tmp_path / "run" / "outputs").exists()
    assert not (cache / "envs").exists()  # nothing installed
    status = _status(tmp_path / "run")
    assert status["state"] == "Failed" and status["exit_code"] is None and needle in status["error"]
    return status


def test_tampered_wheel_is_refused(pyjob: PyJob, tmp_path: Path) -> None:
    bundle = _copy_bundle(pyjob, tmp_path / "bundle")
    wheel = next((bundle / "wheelhouse").glob("dist_alpha-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    wheel.write_bytes(bytes(data))
    status = _refused(bundle, tmp_path, f"bundle/wheelhouse/{wheel.name}: sha256 ")
    assert "does not match the manifest's" in status["error"] and "refusing to run" in status["error"]


def test_truncated_archive_is_refused(pyjob: PyJob, tmp_path: Path) -> None:
    bundle = _copy_bundle(pyjob, tmp_path / "bundle")
    archive = bundle / "local-code.tar.gz"
    size = archive.stat().st_size
    archive.write_bytes(archive.read_bytes()[: size // 2])
    _refused(bundle, tmp_path, f"bundle/local-code.tar.gz: {size // 2} bytes, the manifest says {size} (truncated")


def test_missing_inputs_archive_is_refused(pyjob: PyJob, tmp_path: Path) -> None:
    bundle = _copy_bundle(pyjob, tmp_path / "bundle")
    (bundle / "inputs.tar.gz").unlink()
    _refused(bundle, tmp_path, "bundle/inputs.tar.gz: missing")


def test_environment_that_cannot_be_built_is_exit_3(pyjob: PyJob, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "run", str(pyjob.bundle), "--workdir", str(tmp_path / "run"), "--python", "/bin/false"],
        env=_cli_env(tmp_path / "cache"), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    lines = _error_lines(done.stderr)
    assert len(lines) == 1 and "step virtualenv for CPython 3.11 (/bin/false)" in lines[0]
    assert _status(tmp_path / "run")["state"] == "Failed" and not (tmp_path / "run" / "work").exists()
    assert list((tmp_path / "cache" / "envs").iterdir()) == []  # the half-built environment is gone


@pytest.mark.slow
def test_missing_input_stops_the_build(tmp_path: Path) -> None:
    project = shutil.copytree(JOBS / "plain", tmp_path / "project")
    config = load_config(project / "config.yaml")  # checked on disk: the input is there
    (project / "data" / "numbers.txt").unlink()
    with pytest.raises(InputError) as info:
        build_bundle(config=config, python=sys.executable, output=tmp_path / "bundle", store=Store(tmp_path / "store"))
    assert str(info.value) == (
        f"{project / 'config.yaml'}:6:5: inputs[1]: 'data/numbers.txt' does not exist at build time (looked in {project})"
    )
    assert not (tmp_path / "bundle").exists()


@pytest.mark.slow
def test_unsafe_archive_entries_are_refused(tmp_path: Path) -> None:
    bundle = _build_plain("plain", tmp_path / "build")
    for name, needle in (
        ("../escaped.txt", "leaves the working directory"),
        ("/etc/escaped.txt", "leaves the working directory"),
    ):
        _rewrite_artifact(bundle, "inputs.tar.gz", _tar_gz({"run.sh": b"#!/bin/sh\ntouch ran\n", name: b"x"}))
        run_dir = tmp_path / f"run-{len(name)}"
        done = _envcapture_run(bundle, run_dir, cache=tmp_path / "cache")
        assert done.returncode == 2 and needle in done.stderr and f"entry {name!r}" in done.stderr, done.stderr
        assert not (run_dir / "escaped.txt").exists() and not (run_dir / "work" / "ran").exists()
        assert _status(run_dir)["state"] == "Failed"


@pytest.mark.slow
def test_env_var_missing_at_build_time_is_refused_at_run_time(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "RUN_MARKER"}
    project = shutil.copytree(JOBS / "trap", tmp_path / "project")
    build_bundle(config=project / "config.yaml", python=sys.executable, output=tmp_path / "bundle",
                 store=Store(tmp_path / "store"), environ=environ)  # fmt: skip
    job = json.loads((tmp_path / "bundle" / "manifest.json").read_text())["job"]
    assert job["env"] == [{"name": "RUN_MARKER", "value": None, "source": "missing"}]
    done = _envcapture_run(tmp_path / "bundle", tmp_path / "run", cache=tmp_path / "cache")
    assert done.returncode == 2
    assert _error_lines(done.stderr) == [
        (
            "envcapture: error: env.vars: RUN_MARKER has no value: the config gives none and it was not set where the "
            "bundle was built (give it in config.yaml (- RUN_MARKER: value) or set it before envcapture build)"
        )
    ]
    assert not (tmp_path / "run" / "work").exists()


# --- plain jobs ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_plain_job_runs_with_only_its_inputs(tmp_path: Path) -> None:
    bundle = _build_plain("plain", tmp_path / "build")
    assert sorted(p.name for p in bundle.iterdir()) == ["inputs.tar.gz", "manifest.json"]  # no wheelhouse, no lock
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["job"]["plain"] is True and manifest["distributions"] == []
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(manifest, json.loads((DOCS / "schema" / "manifest.schema.json").read_text()))
    done = _envcapture_run(bundle, tmp_path / "run", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "run"
    assert (run_dir / "outputs" / "out" / "sum.txt").read_text() == "sum=15 greeting=hello home_is_dir=yes\n"
    assert "plain job done" in done.stdout and (run_dir / "logs" / "stdout.log").read_text() == "plain job done\n"
    status = _status(run_dir)
    assert (status["state"], status["argv"], status["environment"]) == ("Complete", ["./run.sh"], None)
    assert status["missing_outputs"] == ["never-written.txt"]  # reported; the state follows the exit code
    assert "envcapture: warning: output never-written.txt was not written by the job" in done.stderr
    assert not (tmp_path / "cache" / "envs").exists()
    jsonschema.validate(status, json.loads((DOCS / "schema" / "run-status.schema.json").read_text()))
    verified = verify_bundle(bundle)  # a plain bundle verifies by its hashes alone
    assert verified.ok and {c.step for c in verified.checks} == {"hash"}


@pytest.mark.slow
def test_shell_syntax_runs_through_sh(tmp_path: Path) -> None:
    bundle = _build_plain("shell", tmp_path / "build")
    done = _envcapture_run(bundle, tmp_path / "run", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "outputs" / "upper.txt").read_text() == "HELLO WORLD\n"
    assert done.stdout == "shouted loudly\n"
    status = _status(tmp_path / "run")
    assert status["shell"] is True and status["argv"][:2] == ["/bin/sh", "-c"]


@pytest.mark.slow
def test_failing_job_is_failed_with_its_exit_code(tmp_path: Path) -> None:
    project = shutil.copytree(JOBS / "plain", tmp_path / "project")
    (project / "run.sh").write_text("#!/bin/sh\necho broken >&2\nexit 7\n")
    build_bundle(
        config=project / "config.yaml", python=sys.executable, output=tmp_path / "bundle", store=Store(tmp_path / "store")
    )
    done = _envcapture_run(tmp_path / "bundle", tmp_path / "run", cache=tmp_path / "cache")
    assert done.returncode == 1
    status = _status(tmp_path / "run")
    assert (status["state"], status["exit_code"]) == ("Failed", 7)
    assert (tmp_path / "run" / "logs" / "stderr.log").read_text() == "broken\n" and "broken" in done.stderr


# --- cmd: | -- every line, in order, stopping at the first failure ------------------------------------

LINES_CONFIG = """\
name: lines
cmd: |
  mkdir -p out
  echo first > out/log.txt
  python step.py second
  {middle}
  python -m tools.step fourth
outputs:
  - out/log.txt
env:
  python: auto
"""


def _envcapture_build(project: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "build", "-c", "config.yaml", "-o", "bundle", "--python", sys.executable],
        cwd=project, env=_cli_env(cache), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("fails", [False, True], ids=["every-line", "stops-at-failure"])
def test_multi_line_cmd_runs_every_line_in_order(tmp_path: Path, fails: bool) -> None:
    """A literal ``cmd: |`` is a shell script: built with the CLI, run offline with the
    project moved away, each line runs in order and the first failure stops the rest."""
    prefix = _offline()
    project = tmp_path / "project"
    (project / "tools").mkdir(parents=True)
    (project / "steplib.py").write_text("import sys\n\ndef log(word):\n    open('out/log.txt', 'a').write(word + '\\n')\n")
    (project / "step.py").write_text("import sys\n\nimport steplib\n\nsteplib.log(sys.argv[1])\n")
    (project / "tools" / "__init__.py").write_text("")
    (project / "tools" / "step.py").write_text("import sys\n\nimport steplib\n\nsteplib.log(sys.argv[1])\n")
    (project / "fail.py").write_text("import sys\n\nimport steplib\n\nsteplib.log('failing')\nsys.exit(5)\n")
    middle = "python fail.py" if fails else "python step.py third"
    (project / "config.yaml").write_text(LINES_CONFIG.format(middle=middle))
    built = _envcapture_build(project, tmp_path / "cache")
    assert built.returncode == 0, built.stderr
    manifest = json.loads((project / "bundle" / "manifest.json").read_text())
    assert sorted(f["path"] for f in manifest["local_code"]["files"]) == sorted(
        ["steplib.py", "step.py", "tools/__init__.py", "tools/step.py"] + (["fail.py"] if fails else [])
    )
    vm = tmp_path / "vm"
    vm.mkdir()
    bundle = shutil.move(str(project / "bundle"), vm / "bundle")
    away = project.rename(tmp_path / "project.away")
    try:
        done = _envcapture_run(Path(bundle), vm / "run", cache=vm / "cache", prefix=prefix, cwd=vm)
    finally:
        away.rename(project)
    status = _status(vm / "run")
    assert status["argv"][:3] == ["/bin/sh", "-e", "-c"] and status["shell"] is True
    assert f"envcapture: Running: mkdir -p out; echo first > out/log.txt; python step.py second; {middle}; " in done.stderr
    log = (vm / "run" / "outputs" / "out" / "log.txt").read_text().splitlines()
    if fails:
        assert done.returncode == 1, done.stderr
        assert (status["state"], status["exit_code"]) == ("Failed", 5)
        assert log == ["first", "second", "failing"]  # the line after the failure never ran
    else:
        assert done.returncode == 0, done.stderr
        assert (status["state"], status["exit_code"]) == ("Complete", 0)
        assert log == ["first", "second", "third", "fourth"]


@pytest.mark.parametrize(
    ("cmd", "argv", "shell"),
    [
        ("python main.py --params ${P}", ["python", "main.py", "--params", "/r/in put.json"], False),
        ('python -u main.py --name "a b"', ["python", "-u", "main.py", "--name", "a b"], False),
        ("accelerate launch --num_processes=2 train.py", ["accelerate", "launch", "--num_processes=2", "train.py"], False),
        ("python a.py && python b.py", ["/bin/sh", "-c", "python a.py && python b.py"], True),
        ("python a.py | tee log.txt", ["/bin/sh", "-c", "python a.py | tee log.txt"], True),
        ("python a.py > ${P}", ["/bin/sh", "-c", "python a.py > ${P}"], True),
        ("PYTHONPATH=. python main.py", ["/bin/sh", "-c", "PYTHONPATH=. python main.py"], True),
        ("echo $HOME", ["/bin/sh", "-c", "echo $HOME"], True),
        ("python a.py; python b.py", ["/bin/sh", "-c", "python a.py; python b.py"], True),
        ("python a.py ${conn-1}/x && true", ["/bin/sh", "-c", "python a.py '/m/c 1'/x && true"], True),
        ("python main.py\n", ["python", "main.py"], False),
        # A newline ends a command, as in sh (the config loader folds a folded `cmd: >`):
        # several command lines run with sh -e, stopping at the first that fails.
        ("mkdir -p out\npython train.py", ["/bin/sh", "-e", "-c", "mkdir -p out\npython train.py"], True),
        (
            "PYTHONPATH=. python -u train.py\n  --epochs 5",
            ["/bin/sh", "-e", "-c", "PYTHONPATH=. python -u train.py\n--epochs 5"],
            True,
        ),
        ("python a.py \\\n  --x 1  # the rest is a comment\n --y 2", ["/bin/sh", "-e", "-c", "python a.py   --x 1\n--y 2"], True),
        ("python a.py \\\n  --x 1  # the rest is a comment\n", ["python", "a.py", "--x", "1"], False),
        ("\n\n  python main.py --p ${P}\n\n", ["python", "main.py", "--p", "/r/in put.json"], False),
        ("echo a\n# a comment line\necho ${P}", ["/bin/sh", "-e", "-c", "echo a\necho ${P}"], True),
        ("python -c 'print(1)\nprint(2)'", ["/bin/sh", "-c", "python -c 'print(1)\nprint(2)'"], True),
        ('python a.py --tag "a#b" #c', ["python", "a.py", "--tag", "a#b"], False),
    ],
)
def test_command_argv(cmd: str, argv: list[str], shell: bool) -> None:
    assert command_argv(cmd, {"P": "/r/in put.json", "conn-1": "/m/c 1"}) == (argv, shell)


# --- cancel: graceful shutdown ------------------------------------------------------------------------


def _start_and_cancel(
    bundle: Path, run_dir: Path, cache: Path, sig: signal.Signals
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Start ``envcapture run``, wait for the job to be running, send ``sig`` to the runtime;
    return the seconds from the signal to the runtime's exit, and its output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "envcapture.cli", "run", str(bundle), "--workdir", str(run_dir)],
        env=_cli_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (run_dir / "work" / "started.txt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    time.sleep(0.2)  # the background child is up too
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return time.monotonic() - sent, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _assert_nothing_left(status: dict[str, Any], marker: str) -> None:
    assert status["pid"] and _group(status["pid"]) == []
    assert _marked(marker) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl+C"])
def test_cancel_lets_the_job_checkpoint_within_the_timeout(tmp_path: Path, sig: signal.Signals) -> None:
    marker = uuid.uuid4().hex
    bundle = _build_plain("trap", tmp_path / "build", RUN_MARKER=marker)
    elapsed, done = _start_and_cancel(bundle, tmp_path / "run", tmp_path / "cache", sig)
    assert done.returncode == 130, done.stderr
    status = _status(tmp_path / "run")
    assert status["state"] == "Cancelled"
    assert (tmp_path / "run" / "work" / "checkpoint.txt").read_text().startswith("checkpoint after ")
    assert status["exit_code"] == 0  # the handler exited by itself...
    assert status["cancel"]["received"] == sig.name and status["cancel"]["sent"] == "SIGTERM"
    assert status["cancel"]["killed"] is False and elapsed < 5.0  # ...well within the 10 s timeout
    assert status["leftover_processes"] == 1  # the child that ignores SIGTERM, killed afterwards
    assert (tmp_path / "run" / "logs" / "stdout.log").exists()
    _assert_nothing_left(status, marker)


@pytest.mark.slow
def test_cancel_kills_a_job_that_ignores_the_signal_after_the_timeout(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    bundle = _build_plain("ignore", tmp_path / "build", RUN_MARKER=marker)
    elapsed, done = _start_and_cancel(bundle, tmp_path / "run", tmp_path / "cache", signal.SIGTERM)
    assert done.returncode == 130, done.stderr
    status = _status(tmp_path / "run")
    assert (status["state"], status["signal"], status["exit_code"]) == ("Cancelled", "SIGKILL", 137)
    assert status["cancel"]["killed"] is True and status["cancel"]["sent"] == "SIGTERM"
    assert 2.0 <= elapsed < 3.5  # the 2 s timeout, then SIGKILL
    assert 2.0 <= status["cancel"]["seconds"] < 2.5
    _assert_nothing_left(status, marker)


@pytest.mark.slow
def test_cancel_without_graceful_shutdown_kills_at_once(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    bundle = _build_plain("nograce", tmp_path / "build", RUN_MARKER=marker)
    elapsed, done = _start_and_cancel(bundle, tmp_path / "run", tmp_path / "cache", signal.SIGTERM)
    assert done.returncode == 130, done.stderr
    status = _status(tmp_path / "run")
    assert (status["state"], status["signal"]) == ("Cancelled", "SIGKILL")
    assert status["cancel"]["sent"] is None and status["cancel"]["killed"] is True
    assert not (tmp_path / "run" / "work" / "checkpoint.txt").exists()  # no chance to checkpoint
    assert elapsed < 1.0
    _assert_nothing_left(status, marker)
