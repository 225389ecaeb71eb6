"""Issue 13 end to end, with the real PyTorch: a job whose virtualenv has the machine's CPU
build (``pip install torch==2.13.0`` gives ``2.13.0+cpu`` here), built with the CLI for a GPU
target, verified, and run offline from the bundle alone.

The virtualenv is made as a data scientist makes it, with this machine's pip configuration
(its find-links directory has ``torch 2.13.0+cpu``). ``config.yaml`` asks for a GPU instance
(``cloud-instance-types: [g1.1]``), so ``build`` swaps in PyPI's CUDA build of torch with all
it requires (``nvidia-*``, ``cuda-toolkit``, ``triton``: about 2.7 GB), pinned and hashed,
and verifies the bundle offline. Then the project and its virtualenv are renamed away and
``envcapture run`` rebuilds the environment from the bundle alone, with the network cut off
(``unshare -n``), in an empty environment cache, and runs the training script (on the CPU:
this machine has no GPU, and the CUDA build runs there too).

The wheels are large: the build keeps them in a store that outlives the test
(``~/.cache/envcapture-tests/torch-gpu``, or ``$ENVCAPTURE_TEST_TORCH_STORE``), so only the
first run downloads them; later runs download nothing. The test skips, with the reason, when
the CPU build cannot be installed here or PyPI cannot be reached.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from build_support import pyenv_python
from helpers import machine_pip_environ, make_venv

from envcapture.runtime.verify import offline_prefix

pytestmark = pytest.mark.slow

# The job: examples/torch-job (train.py trains a linear model, config.yaml asks for a g1.1).
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch-job"


def _store() -> Path:
    configured = os.environ.get("ENVCAPTURE_TEST_TORCH_STORE")
    return Path(configured) if configured else Path.home() / ".cache" / "envcapture-tests" / "torch-gpu"


def _env(cache: Path) -> dict[str, str]:
    """The user's environment, pip configuration included (it is where torch+cpu comes from),
    with envcapture's cache at ``cache``."""
    machine = machine_pip_environ()
    env = {k: v for k, v in machine.items() if not k.startswith(("VIRTUAL_ENV", "ENVCAPTURE_", "PYTHON"))}
    env["ENVCAPTURE_CACHE_DIR"] = str(cache)
    return env


def _envcapture(*args: str | Path, cache: Path, cwd: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "envcapture.cli", *(str(a) for a in args)],
        cwd=cwd, env=_env(cache), capture_output=True, text=True, timeout=3000, check=False,
    )  # fmt: skip


def _pypi_reachable() -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen("https://pypi.org/simple/torch/", timeout=20) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_a_cpu_torch_job_built_for_a_gpu_runs_offline_from_the_bundle(tmp_path: Path) -> None:
    prefix = offline_prefix()
    if not prefix or os.geteuid() != 0:
        pytest.skip("cannot cut the network here: needs root and a working `unshare -n`")
    python = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if python is None:
        pytest.skip("no CPython 3.11 on this machine (the machine's torch 2.13.0+cpu wheel is for cp311)")
    project = shutil.copytree(EXAMPLE, tmp_path / "project")
    venv = tmp_path / "venv"
    venv_python = make_venv(venv, python)
    installed = subprocess.run(
        [str(venv_python), "-m", "pip", "install", "-q", "torch==2.13.0"],
        env=_env(tmp_path / "unused"), capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    version = subprocess.run(
        [str(venv_python), "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if installed.returncode != 0 or version != "2.13.0+cpu":
        pytest.skip(f"pip install torch==2.13.0 does not give the CPU build here ({version or installed.stderr[-300:]})")
    if not _pypi_reachable():
        pytest.skip("PyPI cannot be reached: the CUDA build of torch cannot be had")

    store = _store()
    built = _envcapture(
        "build", "-c", project / "config.yaml", "--python", venv, "-o", tmp_path / "bundle", "--no-progress",
        cache=store, cwd=project,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    out = built.stdout + built.stderr
    assert "Target: CPython 3.11, linux x86_64, CUDA 13" in out
    swap = re.search(r"swap: torch 2\.13\.0\+cpu -> 2\.13\.0 \(CUDA 13 build\) for the GPU target, \+(\d+) packages", out)
    assert swap is not None, out
    assert int(swap.group(1)) >= 15
    assert re.search(r"verified offline with Python 3\.11\.\d+: \d+ checks passed", out), out

    lock = (tmp_path / "bundle" / "requirements.lock.txt").read_text("utf-8")
    pins = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", lock, flags=re.MULTILINE))
    assert pins["torch"] == "2.13.0"  # the CUDA build, no local label
    assert pins["triton"] == "3.7.1"
    for name in ("nvidia-cublas", "nvidia-cudnn-cu13", "nvidia-nccl-cu13", "cuda-toolkit"):
        assert name in pins, f"{name} is not pinned:\n{lock}"
    blocks = re.split(r"\n(?=[a-z0-9])", lock.split("\n\n", 1)[-1])
    unhashed = [b.split("==")[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert unhashed == [], f"pins without hashes: {unhashed}"
    wheels = sorted(p.name for p in (tmp_path / "bundle" / "wheelhouse").glob("*.whl"))
    assert any(w.startswith("torch-2.13.0-cp311-") for w in wheels), wheels
    assert not any("+cpu" in w for w in wheels), wheels

    # The target: no project, no virtualenv, no network, an empty environment cache.
    for path in (project, venv):
        path.rename(path.with_name(path.name + ".away"))
    try:
        ran = _envcapture(
            "run",
            tmp_path / "bundle",
            "--workdir",
            tmp_path / "run",
            cache=tmp_path / "target-cache",
            cwd=tmp_path,
            prefix=prefix,
        )
    finally:
        for path in (project, venv):
            path.with_name(path.name + ".away").rename(path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    line = next((x for x in ran.stdout.splitlines() if x.startswith("torch ")), "")
    assert re.fullmatch(r"torch 2\.13\.0\+cu\d+ on (cpu|cuda): loss \d+\.\d{4}", line), ran.stdout
    assert "environment" in ran.stderr and "built" in ran.stderr  # from the bundle, not a cache

    # 8 GB of unpacked environments and wheels: not left for the next test run's disk.
    for heavy in ("bundle", "target-cache", "run", "venv"):
        shutil.rmtree(tmp_path / heavy, ignore_errors=True)
