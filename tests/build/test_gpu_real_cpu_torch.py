"""Issue 13 with the machine's REAL ``torch 2.13.0+cpu`` wheel (191 MB, 12,248 files) and the
real wheels it requires (filelock, typing-extensions, setuptools, sympy, mpmath, networkx,
jinja2, markupsafe, fsspec), served by a PEP 503 index on 127.0.0.1 next to a small stand-in
for the CUDA build, ``torch 2.13.0``: it requires what the real CPU build requires, plus
``triton``, ``nvidia-fakeblas-cu13`` and ``cuda-toolkit`` (stand-ins too: PyPI's are 2.7 GB).

The real wheels come from this machine's pip configuration (``pip download torch==2.13.0+cpu``
finds them in its find-links directory and file:// index, offline), once per module; the test
skips, with the reason, where they cannot be had. The job's CPython 3.11 virtualenv installs
the real CPU build from the local index, as ``pip install torch==2.13.0`` does on a machine
without a GPU. envcapture then sees only the local index (config.yaml's ``pip``): nothing here
touches PyPI.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest
from build_support import fake_wheel, pyenv_python, run_cli, write_index_job
from helpers import machine_pip_environ, make_venv, run
from index_server import IndexServer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

pytestmark = pytest.mark.slow

TORCH_CPU = "torch==2.13.0+cpu"
CUDA_ONLY = {  # what the CUDA build requires beyond the CPU build's requirements
    ("triton", "3.7.1"): [],
    ("nvidia-fakeblas-cu13", "13.0.1"): ["cuda-toolkit"],
    ("cuda-toolkit", "13.0.3"): [],
}
GPU_ONLY_NAMES = ("nvidia", "triton", "cuda")


@dataclass(frozen=True)
class RealCpuIndex:
    """The files of the local index: the real CPU build and its real requirements, the CUDA stand-ins."""

    files: Path
    cpu_wheel: Path  # the real torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
    cpu_requires: tuple[str, ...]  # its Requires-Dist without extras: filelock, sympy>=1.13.3, ...


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _requires_dist(wheel: Path) -> tuple[str, ...]:
    name, version, _, _ = parse_wheel_filename(wheel.name)
    with zipfile.ZipFile(wheel) as archive:
        metadata = Parser().parsestr(archive.read(f"{name}-{version}.dist-info/METADATA").decode("utf-8"))
    return tuple(r for r in metadata.get_all("Requires-Dist", []) if Requirement(r).marker is None)


def _python311() -> str:
    python = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if python is None:
        pytest.skip("no CPython 3.11 on this machine (the real torch 2.13.0+cpu wheel is for cp311)")
    return python


@pytest.fixture(scope="module")
def real_cpu_index(tmp_path_factory: pytest.TempPathFactory) -> RealCpuIndex:
    """Downloads the real wheels once per module with the machine's pip configuration."""
    root = tmp_path_factory.mktemp("real-cpu-index")
    files = root / "files"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", "3.11",
         "--dest", str(files), TORCH_CPU],
        env=machine_pip_environ(), capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")]
        pytest.skip(f"the machine's pip configuration does not give {TORCH_CPU}: {errors[-1] if errors else done.returncode}")
    cpu_wheel = next(files.glob("torch-2.13.0+cpu-*.whl"))
    cpu_requires = _requires_dist(cpu_wheel)
    fake_wheel("torch", "2.13.0", [*cpu_requires, *(f"{n}=={v}" for n, v in CUDA_ONLY)], root / "src", files)
    for (name, version), deps in CUDA_ONLY.items():
        fake_wheel(name, version, deps, root / "src", files)
    return RealCpuIndex(files=files, cpu_wheel=cpu_wheel, cpu_requires=cpu_requires)


@pytest.fixture(scope="module")
def real_cpu_venv(real_cpu_index: RealCpuIndex, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CPython 3.11 virtualenv with the real CPU build installed from the local index, by name
    and with its requirements (an index install, no direct_url.json). Read only."""
    python = make_venv(tmp_path_factory.mktemp("real-cpu-venv") / "venv", _python311(), seed=False)
    server = IndexServer(real_cpu_index.files).start()
    try:
        run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-cache-dir",
             "--index-url", server.url, TORCH_CPU])  # fmt: skip
    finally:
        server.stop()
    return python


@pytest.fixture
def index(real_cpu_index: RealCpuIndex) -> Iterator[IndexServer]:
    """A server of the local index for one test (stopped in the test to show what is offline)."""
    server = IndexServer(real_cpu_index.files).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The machine's pip configuration is not the test's: set it in the test environment."""
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "ENVCAPTURE_ACCELERATOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path / "cache"))


def _project(tmp: Path, index_url: str, instance_type: str) -> Path:
    return write_index_job(
        tmp / "project", index_url, "import torch\n\nprint(torch.__version__)\n", f"cloud-instance-types: [{instance_type}]\n"
    )


def _pins(lock: str) -> dict[str, tuple[str, list[str], list[str]]]:
    """requirements.lock.txt -> {name: (version, sha256 hashes, '# from' sources)}."""
    pins = {}
    for block in re.findall(r"^[A-Za-z0-9][^\n]*==.*?(?=^\S|\Z)", lock, re.MULTILINE | re.DOTALL):
        requirement = block.split(" ", 1)[0].split(";", 1)[0]
        name, _, version = requirement.partition("==")
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        sources = re.findall(r"^\s+# from (\S+)", block, re.MULTILINE)
        pins[str(canonicalize_name(name))] = (version, hashes, sources)
    return pins


def _index_hashes(files: Path) -> dict[tuple[str, str], str]:
    """(name, version) -> sha256 of its one wheel on the local index."""
    hashes = {}
    for wheel in files.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        hashes[(str(name), str(version))] = _sha256(wheel)
    return hashes


def _assert_cpu_lock(lock: str, real_cpu_index: RealCpuIndex, index_url: str) -> None:
    pins = _pins(lock)
    version, hashes, sources = pins["torch"]
    assert version == "2.13.0+cpu" and hashes == [_sha256(real_cpu_index.cpu_wheel)], lock
    assert sources and all(s.startswith(index_url.rstrip("/")) for s in sources), lock
    assert not [n for n in pins if n.startswith(GPU_ONLY_NAMES)], lock
    for requirement in real_cpu_index.cpu_requires:  # and the real requirements, from the real wheels
        assert canonicalize_name(Requirement(requirement).name) in pins, (requirement, lock)


def test_a_gpu_target_swaps_the_real_cpu_build_for_the_cuda_build_and_verifies_offline(  # type: ignore[no-untyped-def]
    real_cpu_index, real_cpu_venv, index, tmp_path, capsys
) -> None:
    project = _project(tmp_path, index.url, "g1.1")
    code, out, err = run_cli(["lock", "--python", str(real_cpu_venv), "-o", str(tmp_path / "L")], capsys, project)
    assert code == 0, out + err
    assert out.splitlines()[0] == "Target: CPython 3.11, linux x86_64, CUDA 13", out + err
    swap = "swap: torch 2.13.0+cpu -> 2.13.0 (CUDA 13 build) for the GPU target, +3 packages"
    assert swap in out.splitlines(), out  # lock fetches no wheel: the sizes come with build
    lock = (tmp_path / "L" / "requirements.lock.txt").read_text()
    pins = _pins(lock)
    assert pins["torch"][0] == "2.13.0" and "+cpu" not in lock.split("\n\n", 1)[1], lock
    assert {"triton", "nvidia-fakeblas-cu13", "cuda-toolkit"} <= set(pins), lock
    for requirement in real_cpu_index.cpu_requires:  # the CPU build's real requirements stay, hashed
        assert canonicalize_name(Requirement(requirement).name) in pins, (requirement, lock)
    assert len(pins) == 13 and lock.count("--hash=sha256:") == 13, lock  # 9 real requirements, torch, 3 for CUDA
    on_index = _index_hashes(real_cpu_index.files)
    for name, (version, hashes, _) in pins.items():  # every pin hashed, with the hash of the index's wheel
        assert hashes == [on_index[(name, version)]], (name, lock)
    env = json.loads((tmp_path / "L" / "environment.json").read_text())
    assert env["variant_swaps"][0]["added"] == ["cuda-toolkit", "nvidia-fakeblas-cu13", "triton"]

    code, out, err = run_cli(["build", "--python", str(real_cpu_venv), "-o", str(tmp_path / "B")], capsys, project)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "Target: CPython 3.11, linux x86_64, CUDA 13", out
    assert any(re.fullmatch(re.escape(swap) + r", [0-9.]+ [kMG]?B", ln) for ln in lines), out
    assert any(re.match(r"verified offline with Python 3\.11\.\d+: \d+ checks passed", ln.strip()) for ln in lines), out
    total = next(ln for ln in lines if ln.startswith("environment: "))
    assert "download" in total and "unpacked" in total, out
    for shown in ("torch 2.13.0: ", "sympy 1.14.0: "):  # per package: its download and unpacked sizes
        assert any(ln.strip().startswith(shown) for ln in lines), (shown, out)
    wheelhouse = {p.name: p for p in (tmp_path / "B" / "wheelhouse").iterdir()}
    torch_wheels = [name for name in wheelhouse if name.startswith("torch-")]
    assert torch_wheels == ["torch-2.13.0-py3-none-any.whl"], sorted(wheelhouse)
    assert _sha256(wheelhouse["torch-2.13.0-py3-none-any.whl"]) == on_index[("torch", "2.13.0")]
    assert (tmp_path / "B" / "requirements.lock.txt").read_text().split("\n\n", 1)[1] == lock.split("\n\n", 1)[1]
    index.stop()  # offline: nothing serves the index any more
    code, out, err = run_cli(["verify", str(tmp_path / "B")], capsys, tmp_path)
    assert code == 0, out + err


def test_a_cpu_instance_type_keeps_the_real_cpu_build_and_ships_it_byte_identical(  # type: ignore[no-untyped-def]
    real_cpu_index, real_cpu_venv, index, tmp_path, capsys
) -> None:
    project = _project(tmp_path, index.url, "c1.4")
    code, out, err = run_cli(["lock", "--python", str(real_cpu_venv), "-o", str(tmp_path / "L")], capsys, project)
    assert code == 0, out + err
    assert out.splitlines()[0] == "Target: CPython 3.11, linux x86_64, CPU", out
    assert "swap:" not in out + err
    _assert_cpu_lock((tmp_path / "L" / "requirements.lock.txt").read_text(), real_cpu_index, index.url)

    code, out, err = run_cli(["build", "--python", str(real_cpu_venv), "-o", str(tmp_path / "B")], capsys, project)
    assert code == 0, out + err
    assert any(ln.strip().startswith("verified offline with Python 3.11") for ln in out.splitlines()), out
    _assert_cpu_lock((tmp_path / "B" / "requirements.lock.txt").read_text(), real_cpu_index, index.url)
    wheelhouse = sorted((tmp_path / "B" / "wheelhouse").iterdir())
    assert not [p.name for p in wheelhouse if p.name.startswith(GPU_ONLY_NAMES)], wheelhouse
    shipped = next(p for p in wheelhouse if p.name.startswith("torch-"))
    assert shipped.name == real_cpu_index.cpu_wheel.name
    assert shipped.stat().st_size == real_cpu_index.cpu_wheel.stat().st_size
    assert _sha256(shipped) == _sha256(real_cpu_index.cpu_wheel)


def test_accelerator_cpu_overrides_a_gpu_instance_type_and_keeps_the_real_cpu_build(  # type: ignore[no-untyped-def]
    real_cpu_index, real_cpu_venv, index, tmp_path, capsys
) -> None:
    project = _project(tmp_path, index.url, "g1.1")
    code, out, err = run_cli(
        ["lock", "--accelerator", "cpu", "--python", str(real_cpu_venv), "-o", str(tmp_path / "L")], capsys, project
    )
    assert code == 0, out + err
    assert out.splitlines()[0] == "Target: CPython 3.11, linux x86_64, CPU", out
    assert "swap:" not in out + err
    _assert_cpu_lock((tmp_path / "L" / "requirements.lock.txt").read_text(), real_cpu_index, index.url)
    env = json.loads((tmp_path / "L" / "environment.json").read_text())
    assert env["target"]["accelerator"] == "cpu" and not env.get("variant_swaps")
