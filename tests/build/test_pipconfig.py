"""Issue 13 item 6: a build finds packages where pip found them (pip's configuration of the
analysed environment, under config.yaml's options) and the lock says where each came from.

Each test sets its pip configuration in its environment: ``PIP_CONFIG_FILE`` names a
pip.conf of the test (an index on 127.0.0.1 from tests/index_server.py, a find-links
directory), ``XDG_CONFIG_DIRS`` an empty directory so the machine's global pip.conf stays
out. The last test uses the machine's own configuration, to find ``torch 2.13.0+cpu``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from build_support import pyenv_python
from helpers import FIXTURE_DISTS, PIP_SOURCE_VARS, machine_pip_environ, make_venv, pip_install
from index_server import IndexServer, build_fixture_wheel

from envcapture.build.bundle import build_bundle
from envcapture.build.store import Store
from envcapture.cli import main

COMMAND = "envcapture build --config config.yaml"
MAIN = "import alpha_mod\nimport lock_speedup\n\nprint('pipconf ok')\n"


@dataclass(frozen=True)
class Job:
    """A project whose venv got dist-alpha from an index and lock-speedup from a find-links directory."""

    project: Path
    python: Path
    index_dir: Path  # dist-alpha
    links_dir: Path  # lock-speedup


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Job:
    py311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if py311 is None:
        pytest.skip("no CPython 3.11 on this machine")
    root = tmp_path_factory.mktemp("pipconf-job")
    index_dir, links_dir = root / "index", root / "links"
    build_fixture_wheel(FIXTURE_DISTS / "dist-alpha", index_dir)
    build_fixture_wheel(FIXTURE_DISTS / "lock-speedup", links_dir)
    python = make_venv(root / "venv", py311)
    pip_install(python, "--no-deps", "dist-alpha==1.0.0", "lock-speedup==0.5", find_links=[index_dir, links_dir])
    project = root / "project"
    project.mkdir()
    (project / "main.py").write_text(MAIN, "utf-8")
    _config(project)
    return Job(project=project, python=python, index_dir=index_dir, links_dir=links_dir)


def _config(project: Path, index_url: str | None = None) -> Path:
    pip = f"    pip:\n      index-url: {index_url}\n" if index_url else ""
    config = project / "config.yaml"
    config.write_text(f"name: pipconf\ncmd: python main.py\nenv:\n  python:\n    type: auto\n{pip}", "utf-8")
    return config


@pytest.fixture
def pip_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test's pip.conf (write it), as PIP_CONFIG_FILE; no global pip.conf of the machine."""
    conf = tmp_path / "pip.conf"
    conf.write_text("", "utf-8")
    (tmp_path / "xdg").mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    yield conf


def _pin_block(lock: str, name: str) -> str:
    """The lines of one pin in requirements.lock.txt: its requirement line to the next pin."""
    match = re.search(rf"^{re.escape(name)}==.*?(?=^\S|\Z)", lock, re.MULTILINE | re.DOTALL)
    assert match is not None, lock
    return match.group(0)


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.slow
def test_sources_named_only_in_pip_conf_are_found_and_recorded(job: Job, pip_conf: Path, tmp_path: Path) -> None:
    server = IndexServer(job.index_dir).start()
    try:
        pip_conf.write_text(f"[global]\nindex-url = {server.url}\n[install]\nfind-links = {job.links_dir}\n", "utf-8")
        result = build_bundle(
            config=job.project / "config.yaml",  # no index in it
            python=str(job.python),
            output=tmp_path / "bundle",
            store=Store(tmp_path / "store"),
            command=COMMAND,
        )
    finally:
        server.stop()
    assert (result.stats.downloads, result.stats.builds) == (2, 0)
    assert "/simple/dist-alpha/" in server.requests
    lock = (tmp_path / "bundle" / "requirements.lock.txt").read_text("utf-8")
    assert f"\n--index-url {server.url}\n" in lock  # pip's index is the job's now
    assert f"    # from {server.url}\n" in _pin_block(lock, "dist-alpha")
    assert f"    # from {job.links_dir} (find-links)\n" in _pin_block(lock, "lock-speedup")
    pylock = (tmp_path / "bundle" / "pylock.toml").read_text("utf-8")
    assert f'name = "dist-alpha"\nversion = "1.0.0"\nrequires-python = ">=3.8"\nindex = "{server.url}"' in pylock
    assert 'name = "lock-speedup"\nversion = "0.5"\nrequires-python = ">=3.8"\n[[packages.wheels]]' in pylock  # no index
    env = json.loads((tmp_path / "bundle" / "environment.json").read_text("utf-8"))
    found = {d["name"]: d["found_on"] for d in env["distributions"]}
    assert found == {
        "dist-alpha": [{"kind": "index", "location": server.url}],
        "lock-speedup": [{"kind": "find-links", "location": str(job.links_dir)}],
    }
    reasons = {d["reason"] for d in env["decisions"] if d["action"] == "pip-config"}
    assert reasons == {
        f"--index-url {server.url} from pip.conf [global]: env.python.pip does not set it",
        f"--find-links {job.links_dir} from pip.conf [install]: env.python.pip does not set it",
    }


@pytest.mark.slow
def test_config_yaml_index_beats_pip_conf(job: Job, pip_conf: Path, tmp_path: Path) -> None:
    from_pip, from_config = IndexServer(job.index_dir).start(), IndexServer(job.index_dir).start()
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text(MAIN, "utf-8")
    config = _config(project, index_url=from_config.url)
    try:
        pip_conf.write_text(f"[global]\nindex-url = {from_pip.url}\nfind-links = {job.links_dir}\n", "utf-8")
        build_bundle(config=config, python=str(job.python), output=tmp_path / "bundle", store=Store(tmp_path / "store"))
    finally:
        from_pip.stop()
        from_config.stop()
    assert from_pip.requests == [] and "/simple/dist-alpha/" in from_config.requests
    lock = (tmp_path / "bundle" / "requirements.lock.txt").read_text("utf-8")
    assert f"\n--index-url {from_config.url}\n" in lock and from_pip.url not in lock
    assert f"    # from {from_config.url}\n" in _pin_block(lock, "dist-alpha")
    assert f"    # from {job.links_dir} (find-links)\n" in _pin_block(lock, "lock-speedup")  # a key config.yaml leaves to pip
    env = json.loads((tmp_path / "bundle" / "environment.json").read_text("utf-8"))
    assert {
        "subject": "pip configuration",
        "action": "pip-config-overridden",
        "reason": f"--index-url {from_pip.url} from pip.conf [global] is not used: env.python.pip.index-url comes first",
    } in env["decisions"]


@pytest.mark.slow
def test_credentials_of_a_pip_conf_index_never_reach_the_lock_bundle_or_store(
    job: Job, pip_conf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "tok-s3cr3t-pipconf"
    server = IndexServer(job.index_dir, credentials=("ci", secret)).start()
    private = server.url.replace("http://", f"http://ci:{secret}@")
    masked = server.url.replace("http://", "http://***@")
    pip_conf.write_text(f"[global]\nindex-url = {private}\nfind-links = {job.links_dir}\n", "utf-8")
    os.environ["ENVCAPTURE_CACHE_DIR"], cache = str(tmp_path / "cache"), os.environ["ENVCAPTURE_CACHE_DIR"]
    old = Path.cwd()
    os.chdir(job.project)
    try:
        code = main(
            ["build", "--config", "config.yaml", "--python", str(job.python), "-o", str(tmp_path / "bundle"), "--no-verify"]
        )
    finally:
        os.chdir(old)
        os.environ["ENVCAPTURE_CACHE_DIR"] = cache
        server.stop()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert any(p.startswith("/files/dist_alpha") for p in server.requests)  # fetched with the credentials
    lock = (tmp_path / "bundle" / "requirements.lock.txt").read_text("utf-8")
    assert f"    # from {masked}\n" in _pin_block(lock, "dist-alpha")
    assert "--index-url http://${ENVCAPTURE_INDEX_TOKEN}@127.0.0.1:" in lock
    assert f"envcapture: note: pip config: --index-url {masked} from pip.conf [global]: env.python.pip does not set it" in err
    # not a terminal: one line per wheel, in the order they arrive
    assert re.search(rf"^envcapture: wheel [12]/2: dist-alpha 1\.0\.0 downloaded \(1 kB\) from {re.escape(masked)}$", err, re.M)
    for where in (tmp_path / "bundle", tmp_path / "cache"):
        assert secret.encode() not in _all_bytes(where), where
    assert secret not in out + err


# --- the machine's own pip configuration ---------------------------------------------------------------

TORCH = "torch==2.13.0+cpu"


def _machine_finds_torch(tmp_path: Path) -> str | None:
    """Why the machine's pip configuration cannot give this test torch 2.13.0+cpu for CPython
    3.11, or ``None`` when it can: pip resolves it without downloading (``--dry-run``)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "--only-binary=:all:",
         "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--target", str(tmp_path / "dry"),
         "--quiet", TORCH],
        env=machine_pip_environ(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")]
        return f"the machine's pip configuration does not find {TORCH}: {lines[-1] if lines else done.returncode}"
    return None


def _cpu_torch_job(tmp_path: Path, py311: str) -> tuple[Path, Path]:
    """(venv python, project): a job importing torch, in a venv with torch 2.13.0+cpu installed
    by name. A stand-in wheel: its metadata is all the analysis reads."""
    source = tmp_path / "torch-src"
    (source / "torch").mkdir(parents=True)
    (source / "torch" / "__init__.py").write_text("", "utf-8")
    (source / "pyproject.toml").write_text(
        '[project]\nname = "torch"\nversion = "2.13.0+cpu"\n[tool.setuptools]\npackages = ["torch"]\n', "utf-8"
    )
    build_fixture_wheel(source, tmp_path / "stand-in")
    python = make_venv(tmp_path / "venv", py311)
    pip_install(python, "--no-deps", TORCH, find_links=[tmp_path / "stand-in"])  # by name: an index install
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("import torch\n", "utf-8")
    (project / "config.yaml").write_text("name: cpu-job\ncmd: python main.py\nenv:\n  python:\n    type: auto\n", "utf-8")
    return python, project


@pytest.mark.slow
def test_a_kept_cpu_label_without_any_source_adds_the_pytorch_index(
    tmp_path: Path, pip_conf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No source in config.yaml or pip's configuration: the '+cpu' build comes from the
    PyTorch index of its label, and the output says so (lock --offline: nothing is fetched)."""
    python, project = _cpu_torch_job(tmp_path, sys.executable)
    old = Path.cwd()
    os.chdir(project)
    try:
        code = main(["lock", "--config", "config.yaml", "--python", str(python), "--accelerator", "cpu", "--offline",
                     "-o", str(tmp_path / "lock")])  # fmt: skip
    finally:
        os.chdir(old)
    _, err = capsys.readouterr()
    assert code == 0, err
    assert (
        "envcapture: note: torch: torch 2.13.0+cpu is the '+cpu' build of the PyTorch index; "
        "https://download.pytorch.org/whl/cpu is added as a source for it (no configured index names it)\n"
    ) in err
    env = json.loads((tmp_path / "lock" / "environment.json").read_text("utf-8"))
    torch = next(d for d in env["distributions"] if d["name"] == "torch")
    assert (torch["version"], torch["origin"]["index_url"]) == ("2.13.0+cpu", "https://download.pytorch.org/whl/cpu")


@pytest.mark.slow
def test_a_cpu_torch_is_found_through_the_machines_pip_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A +cpu venv built for a CPU target, no index in config.yaml: the machine's pip
    configuration finds torch 2.13.0+cpu (a ~190 MB wheel) and the lock says where."""
    py311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if py311 is None:
        pytest.skip("no CPython 3.11 on this machine")
    why = _machine_finds_torch(tmp_path)
    if why is not None:
        pytest.skip(why)
    for key in PIP_SOURCE_VARS:  # the machine's pip configuration, not the tests'
        monkeypatch.delenv(key, raising=False)
    for key, value in machine_pip_environ().items():
        if key.startswith("PIP_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path / "cache"))
    python, project = _cpu_torch_job(tmp_path, py311)
    old = Path.cwd()
    os.chdir(project)
    try:
        code = main(["build", "--config", "config.yaml", "--python", str(python), "--accelerator", "cpu", "-o",
                     str(tmp_path / "bundle"), "--no-verify"])  # fmt: skip
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("Target: CPython 3.11, linux x86_64, CPU\n")
    assert "envcapture: note: pip config: " in err
    lock = (tmp_path / "bundle" / "requirements.lock.txt").read_text("utf-8")
    block = _pin_block(lock, "torch")
    assert block.startswith("torch==2.13.0+cpu \\\n")
    where = re.search(r"^    # from (.+)$", block, re.MULTILINE)
    assert where is not None, block
    env = json.loads((tmp_path / "bundle" / "environment.json").read_text("utf-8"))
    torch = next(d for d in env["distributions"] if d["name"] == "torch")
    assert len(torch["found_on"]) == 1 and where.group(1).startswith(torch["found_on"][0]["location"])
    assert [p.name.split("-")[:3] for p in (tmp_path / "bundle" / "wheelhouse").iterdir()] == [["torch", "2.13.0+cpu", "cp311"]]
