"""Issue 13: the target's accelerator, variant swaps resolved with everything they require,
said out loud, and locks that do not depend on paths.

A real PEP 503 index on 127.0.0.1 serves small wheels standing in for PyTorch's builds:
``torch 2.13.0+cpu`` (no requirements) and ``torch 2.13.0`` (the "CUDA build", requiring
``triton==3.7.1``, ``nvidia-fakeblas-cu13`` and ``cuda-toolkit``). The job's virtualenv has
the ``+cpu`` build, as ``pip install torch==2.13.0`` gives on a machine without a GPU.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from build_support import fake_wheel, run_cli, write_index_job
from helpers import make_venv, run
from index_server import IndexServer

from envcapture.config.accelerator import choose_accelerator, parse_accelerator
from envcapture.errors import InputError
from envcapture.model import Target
from envcapture.resolution.closure import variant_for_target
from envcapture.resolution.model import ResolveOptions
from envcapture.resolution.summary import format_size, target_line

pytestmark = pytest.mark.slow

FAKES = {
    ("torch", "2.13.0+cpu"): [],
    ("torch", "2.13.0"): ["triton==3.7.1", "nvidia-fakeblas-cu13==13.0.1", "cuda-toolkit==13.0.3"],
    ("triton", "3.7.1"): [],
    ("triton", "3.9.0"): [],
    ("nvidia-fakeblas-cu13", "13.0.1"): ["cuda-toolkit"],
    ("cuda-toolkit", "13.0.3"): [],
    ("needs-new-triton", "1.0"): ["triton>=3.9"],
}


@pytest.fixture(scope="module")
def gpu_index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("gpu-index")
    files = root / "files"
    for (name, version), deps in FAKES.items():
        fake_wheel(name, version, deps, root / "src", files)
    server = IndexServer(files).start()
    yield server, files
    server.stop()


def _job(
    tmp: Path, index_url: str, files: Path, *, imports: str = "torch", installs: tuple[str, ...] = (), extra: str = ""
) -> Path:
    train = "".join(f"import {m}\n" for m in imports.split()) + "print('trained')\n"
    write_index_job(tmp / "project", index_url, train, extra)
    python = make_venv(tmp / "venv", seed=False)
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-index", "--no-deps",
         "--find-links", str(files), "torch==2.13.0+cpu", *installs])  # fmt: skip
    return python


@pytest.fixture(autouse=True)
def _isolated_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The machine's pip configuration is not the test's: set it in the test environment."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "ENVCAPTURE_ACCELERATOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path / "cache"))


# --- pure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "types", "expected"),
    [
        ("cu126", ("c1.4",), ("cuda", "12.6", "--accelerator cu126")),
        ("CU130", (), ("cuda", "13.0", "--accelerator cu130")),
        ("cpu", ("g1.1",), ("cpu", None, "--accelerator cpu")),
        (None, ("c1.4", "g1.1"), ("cpu", None, "cloud-instance-types c1.4")),
        (None, ("gt4.1",), ("cuda", None, "cloud-instance-types gt4.1")),
        (None, ("g2.mig",), ("cuda", None, "cloud-instance-types g2.mig")),
        (None, ("zz9.1",), (None, None, "the local install")),
        (None, (), (None, None, "the local install")),
    ],
)
def test_the_accelerator_comes_from_the_flag_then_the_instance_type(flag, types, expected) -> None:  # type: ignore[no-untyped-def]
    chosen = choose_accelerator(flag, types)
    assert (chosen.accelerator, chosen.cuda, chosen.source) == expected


def test_a_bad_accelerator_is_one_line() -> None:
    with pytest.raises(InputError, match=r"^--accelerator: 'rocm' is not an accelerator \(cpu, cuda"):
        parse_accelerator("rocm")


@pytest.mark.parametrize(
    ("target", "installed", "wanted"),
    [
        (Target(python_version="3.11", accelerator="cuda"), "2.13.0+cpu", "2.13.0"),
        (Target(python_version="3.11", accelerator="cuda"), "2.13.0", None),
        (Target(python_version="3.11", accelerator="cuda", cuda="12.6"), "2.13.0+cpu", "2.13.0+cu126"),
        (Target(python_version="3.11", accelerator="cuda", cuda="12.6"), "2.13.0+cu126", None),
        (Target(python_version="3.11", accelerator="cpu"), "2.13.0+cpu", None),
        (Target(python_version="3.11", accelerator="cpu"), "2.13.0", "2.13.0+cpu"),
        (Target(python_version="3.11"), "2.13.0+cpu", None),
    ],
)
def test_the_target_variant_of_torch(target: Target, installed: str, wanted: str | None) -> None:
    assert variant_for_target("torch", installed, target, ResolveOptions()) == wanted
    assert variant_for_target("numpy", "2.0.0+cpu", target, ResolveOptions()) is None


def test_the_target_line() -> None:
    assert target_line(Target(python_version="3.11.4", accelerator="cuda", cuda="12.6")) == (
        "Target: CPython 3.11, linux x86_64, CUDA 12.6"
    )
    assert target_line(Target(python_version="3.12", accelerator="cpu")).endswith(", CPU")
    assert format_size(2_912_000_000) == "2.9 GB" and format_size(527_100_000) == "527.1 MB"


# --- the CLI on a real index ----------------------------------------------------------------------


def test_gpu_target_lock_has_the_variant_and_all_it_requires_hashed(gpu_index, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    server, files = gpu_index
    python = _job(tmp_path, server.url, files, extra="cloud-instance-types: [g1.1]\n")
    project = tmp_path / "project"
    code, out, err = run_cli(["lock", "--python", str(python), "-o", str(tmp_path / "L1")], capsys, project)
    assert code == 0, err
    assert out.splitlines()[0] == "Target: CPython 3.11, linux x86_64, CUDA 13", out + err
    assert "swap: torch 2.13.0+cpu -> 2.13.0 (CUDA 13 build) for the GPU target, +3 packages" in out
    lock = (tmp_path / "L1" / "requirements.lock.txt").read_text()
    for line in ("torch==2.13.0 \\", "triton==3.7.1 \\", "nvidia-fakeblas-cu13==13.0.1 \\", "cuda-toolkit==13.0.3 \\"):
        assert line in lock
    assert lock.count("--hash=sha256:") == 4
    assert "+cpu" not in lock.split("\n\n", 1)[1]
    env = json.loads((tmp_path / "L1" / "environment.json").read_text())
    assert env["target"]["accelerator"] == "cuda"
    assert env["variant_swaps"][0]["added"] == ["cuda-toolkit", "nvidia-fakeblas-cu13", "triton"]
    assert (tmp_path / "L1" / "pylock.toml").exists()


def test_lock_gives_the_swap_size_when_the_index_gives_file_sizes(gpu_index, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An index that answers PEP 691 JSON (with PEP 700 sizes, as PyPI does) lets lock say the
    swap's download size too, and the lock's hashes are the same as from the HTML pages."""
    _, files = gpu_index
    server = IndexServer(files, json_pages=True).start()
    try:
        python = _job(tmp_path, server.url, files, extra="cloud-instance-types: [g1.1]\n")
        code, out, err = run_cli(["lock", "--python", str(python), "-o", str(tmp_path / "L")], capsys, tmp_path / "project")
    finally:
        server.stop()
    assert code == 0, err
    names = ("torch-2.13.0-", "triton-3.7.1-", "nvidia_fakeblas_cu13-13.0.1-", "cuda_toolkit-13.0.3-")
    size = sum(p.stat().st_size for p in files.iterdir() if p.name.startswith(names))
    assert f"swap: torch 2.13.0+cpu -> 2.13.0 (CUDA 13 build) for the GPU target, +3 packages, {format_size(size)}" in out
    lock = (tmp_path / "L" / "requirements.lock.txt").read_text()
    assert lock.count("--hash=sha256:") == 4
    pylock = (tmp_path / "L" / "pylock.toml").read_text()
    assert re.search(r"size = \d+", pylock), pylock


def test_cpu_targets_keep_the_cpu_build_and_ship_no_nvidia(gpu_index, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    server, files = gpu_index
    python = _job(tmp_path, server.url, files, extra="cloud-instance-types: [c1.4]\n")
    project = tmp_path / "project"
    code, out, err = run_cli(["lock", "--python", str(python), "-o", str(tmp_path / "by-type")], capsys, project)
    assert code == 0, err
    assert out.splitlines()[0] == "Target: CPython 3.11, linux x86_64, CPU"
    assert "swap:" not in out
    by_type = (tmp_path / "by-type" / "requirements.lock.txt").read_text()
    assert "torch==2.13.0+cpu" in by_type and "nvidia" not in by_type and "triton" not in by_type
    # the flag wins over the config, and a GPU instance type is overridden by --accelerator cpu
    (project / "config.yaml").write_text((project / "config.yaml").read_text().replace("c1.4", "g1.1"))
    code, out, err = run_cli(
        ["lock", "--accelerator", "cpu", "--python", str(python), "-o", str(tmp_path / "by-flag")], capsys, project
    )
    assert code == 0, err
    assert out.splitlines()[0].endswith(", CPU")
    by_flag = (tmp_path / "by-flag" / "requirements.lock.txt").read_text()
    assert "torch==2.13.0+cpu" in by_flag and "nvidia" not in by_flag


def test_no_accelerator_keeps_the_local_build_and_says_how_to_target_a_gpu(gpu_index, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    server, files = gpu_index
    python = _job(tmp_path, server.url, files)
    code, out, err = run_cli(["analyze", "--python", str(python)], capsys, tmp_path / "project")
    assert code == 0, err
    assert out.splitlines()[0] == "Target: CPython 3.11, linux x86_64, accelerator as installed"
    assert "keeps the installed torch 2.13.0+cpu (a CPU build); to target a GPU pass --accelerator cuda" in err
    code, out, err = run_cli(["analyze", "--accelerator", "cuda", "--python", str(python)], capsys, tmp_path / "project")
    assert code == 0, err
    assert "swap: torch 2.13.0+cpu -> 2.13.0 for the GPU target" in err


def test_a_conflicting_local_pin_is_decided_for_the_variant(gpu_index, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    server, files = gpu_index
    python = _job(tmp_path, server.url, files, imports="torch triton", installs=("triton==3.9.0",))
    code, _out, err = run_cli(
        ["lock", "--accelerator", "cuda", "--python", str(python), "-o", str(tmp_path / "L")], capsys, tmp_path / "project"
    )
    assert code == 0, err
    lock = (tmp_path / "L" / "requirements.lock.txt").read_text()
    assert "triton==3.7.1" in lock and "triton==3.9.0" not in lock
    env = json.loads((tmp_path / "L" / "environment.json").read_text())
    wins = [d for d in env["decisions"] if d["action"] == "variant-requirement-wins"]
    assert wins and wins[0]["reason"].startswith(
        "triton 3.9.0 is installed, but torch 2.13.0 (CUDA 13 build) requires triton==3.7.1"
    )


def test_a_conflict_without_a_solution_is_refused_naming_both_sides(gpu_index, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    server, files = gpu_index
    python = _job(
        tmp_path, server.url, files, imports="torch needs_new_triton", installs=("triton==3.9.0", "needs-new-triton==1.0")
    )
    code, _out, err = run_cli(
        ["lock", "--accelerator", "cuda", "--python", str(python), "-o", str(tmp_path / "L")], capsys, tmp_path / "project"
    )
    assert code == 3, err
    line = next(ln for ln in err.splitlines() if ln.startswith("envcapture: error:"))
    assert "torch==2.13.0" in line and "needs-new-triton" in line and "triton" in line
    assert not (tmp_path / "L").exists()


def test_gpu_build_verifies_offline_and_is_the_same_whatever_the_paths(gpu_index, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    _, files = gpu_index
    server = IndexServer(files).start()  # its own: stopped below to show verify is offline
    python = _job(tmp_path, server.url, files, extra="cloud-instance-types: [g1.1]\n")
    project = tmp_path / "project"
    code, out, err = run_cli(["build", "--python", str(python), "-o", str(tmp_path / "out" / "B1")], capsys, project)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Target: CPython 3.11, linux x86_64, CUDA 13"
    assert any(
        ln.startswith("swap: torch 2.13.0+cpu -> 2.13.0 (CUDA 13 build) for the GPU target, +3 packages, ") for ln in lines
    )
    assert any(ln.startswith("environment: ") and "download" in ln and "unpacked" in ln for ln in lines)
    assert any(ln.strip().startswith("torch 2.13.0: ") for ln in lines)
    bundle = tmp_path / "out" / "B1"
    wheels = sorted(p.name for p in (bundle / "wheelhouse").iterdir())
    assert any(w.startswith("nvidia_fakeblas_cu13-13.0.1") for w in wheels) and any(w.startswith("triton-3.7.1") for w in wheels)
    # another output directory, and a copy of the project at another path: the same bytes
    copy = tmp_path / "elsewhere" / "proj"
    shutil.copytree(project, copy)
    code, _, err = run_cli(["build", "--python", str(python), "-o", str(tmp_path / "B2")], capsys, copy)
    assert code == 0, err
    for name in ("requirements.lock.txt", "pylock.toml", "environment.json", "manifest.json"):
        assert (bundle / name).read_bytes() == (tmp_path / "B2" / name).read_bytes(), name
    code, _, err = run_cli(["lock", "--python", str(python), "-o", str(tmp_path / "L1")], capsys, project)
    assert code == 0, err
    code, _, err = run_cli(["lock", "--python", str(python), "-o", str(tmp_path / "x" / "L2")], capsys, copy)
    assert code == 0, err
    for name in ("requirements.lock.txt", "pylock.toml", "environment.json"):
        assert (tmp_path / "L1" / name).read_bytes() == (tmp_path / "x" / "L2" / name).read_bytes(), name
    assert "-o" not in (tmp_path / "L1" / "requirements.lock.txt").read_text().split("\n\n")[0]
    server.stop()  # offline: nothing serves the index any more
    code, out, err = run_cli(["verify", str(bundle)], capsys, tmp_path)
    assert code == 0, out + err
