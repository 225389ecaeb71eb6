"""Benchmark: ``envcapture build`` of a torch job for a GPU target, cold and warm, with sizes.

Run by hand (the cold build downloads about 2.7 GB from PyPI; the test suite's
tests/runtime/test_torch_gpu.py keeps its own store):

    .venv/bin/python benchmarks/bench_torch.py [--python /root/.pyenv/versions/3.11.7/bin/python]
        [--torch 2.13.0] [--instance g1.1] [--no-run] [--keep DIR]

In a temporary directory it makes the job's virtualenv the way a data scientist does
(``pip install torch==2.13.0`` with the machine's pip configuration: here the CPU build
``2.13.0+cpu``) for the job of ``examples/torch-job`` (a ``train.py`` that trains a linear
model, a ``config.yaml`` asking for a GPU instance). Then, each in a fresh ``envcapture`` process with one cache directory:

* cold: an empty store: torch's CUDA build and everything it requires is downloaded, the
  bundle is written and verified (installed offline into a scratch environment);
* warm: the same job again into another directory: every wheel from the store;
* warm, no verify: the same with ``--no-verify`` (the packaging alone);
* target: ``envcapture run`` of the bundle with the network cut off (``unshare -n`` when
  there is one) and an empty environment cache: the environment built from the bundle.

It prints seconds, what was downloaded and at what rate (the bytes over the cold build's
time beyond the warm one's), the download and unpacked size of each wheel and of the whole
environment, and whether the cold and warm bundles are byte-identical. Numbers, not
assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench_support import digest_dir, python_311, run_checked

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "torch-job"  # train.py trains a linear model; config.yaml asks for a g1.1


def _envcapture_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "ENVCAPTURE_", "PYTHON"))}
    env["ENVCAPTURE_CACHE_DIR"] = str(cache)
    return env


def _build(project: Path, cache: Path, python: Path, out: Path, *extra: str) -> tuple[float, dict[str, int]]:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    done = run_checked(
        [
            sys.executable,
            "-m",
            "envcapture.cli",
            "build",
            "--config",
            str(project / "config.yaml"),
            "--python",
            str(python),
            "-o",
            str(out),
            "--json",
            *extra,
        ],
        env=_envcapture_env(cache),
        cwd=project,
    )
    return time.perf_counter() - start, json.loads(done.stdout)["counters"]


def _unpacked(wheel: Path) -> int:
    with zipfile.ZipFile(wheel) as archive:
        return sum(info.file_size for info in archive.infolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--python", default=None, help="CPython for the job's virtualenv (default: a 3.11)")
    parser.add_argument("--torch", default="2.13.0", help="the torch the job's virtualenv installs (default: 2.13.0)")
    parser.add_argument("--instance", default="g1.1", help="cloud-instance-types of the config (default: g1.1, a GPU)")
    parser.add_argument("--no-run", action="store_true", help="skip the offline run on the target")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temporary directory)")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="envcapture-bench-torch-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        project = root / "project"
        project.mkdir(exist_ok=True)
        shutil.copy(EXAMPLE / "train.py", project / "train.py")
        config = (EXAMPLE / "config.yaml").read_text()
        (project / "config.yaml").write_text(config.replace("[g1.1]", f"[{args.instance}]"))
        venv = root / "venv"
        vpython = venv / "bin" / "python"
        if not vpython.exists():
            t = time.perf_counter()
            run_checked([python_311(args.python), "-m", "venv", str(venv)])
            run_checked([str(vpython), "-m", "pip", "install", "--quiet", f"torch=={args.torch}"])
            print(f"job environment ready in {time.perf_counter() - t:.1f} s (not part of the benchmark)")
        local = run_checked([str(vpython), "-c", "import torch; print(torch.__version__)"]).stdout.strip()
        print(f"the job's virtualenv has torch {local}; target: cloud-instance-types [{args.instance}]")

        cache = root / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        rows = []
        cold_s, cold = _build(project, cache, vpython, root / "cold" / "bundle")
        rows.append(("cold (empty store), verified", cold_s, cold))
        warm_s, warm = _build(project, cache, vpython, root / "warm" / "bundle")
        rows.append(("warm (every wheel stored), verified", warm_s, warm))
        bare_s, bare = _build(project, cache, vpython, root / "bare" / "bundle", "--no-verify")
        rows.append(("warm, --no-verify", bare_s, bare))

        wheelhouse = root / "cold" / "bundle" / "wheelhouse"
        wheels = sorted(wheelhouse.glob("*.whl"), key=lambda p: -p.stat().st_size)
        download = sum(p.stat().st_size for p in wheels)
        unpacked = {p: _unpacked(p) for p in wheels}
        print(
            f"\nwheelhouse: {len(wheels)} wheels, {download / 1e9:.2f} GB download, {sum(unpacked.values()) / 1e9:.2f} GB unpacked"
        )
        for wheel in wheels:
            print(f"  {wheel.name:78} {wheel.stat().st_size / 1e6:9.1f} MB {unpacked[wheel] / 1e6:9.1f} MB unpacked")

        print(f"\n{'build':38} {'seconds':>8} {'downloads':>9} {'store hits':>10} {'MB downloaded':>13}")
        for label, seconds, c in rows:
            print(f"{label:38} {seconds:8.1f} {c['downloads']:9d} {c['store_hits']:10d} {c['bytes_downloaded'] / 1e6:13.1f}")
        fetch_s = max(cold_s - warm_s, 1e-9)
        print(f"\ndownload rate: {cold['bytes_downloaded'] / 1e6 / fetch_s:.1f} MB/s (bytes over cold - warm seconds)")
        same = digest_dir(root / "cold" / "bundle") == digest_dir(root / "warm" / "bundle")
        print(f"cold and warm bundles byte-identical: {same}")
        print(f"cold / warm: {cold_s / warm_s:.1f}x")

        if not args.no_run:
            offline = ["unshare", "-n"] if shutil.which("unshare") and os.geteuid() == 0 else []
            start = time.perf_counter()
            ran = run_checked(
                [
                    *offline,
                    sys.executable,
                    "-m",
                    "envcapture.cli",
                    "run",
                    str(root / "warm" / "bundle"),
                    "--workdir",
                    str(root / "target" / "run"),
                ],
                env=_envcapture_env(root / "target" / "cache"),
                cwd=root,
            )
            total = time.perf_counter() - start
            setup = re.search(r"setup ([\d.]+) s", ran.stderr)
            line = next((x for x in ran.stdout.splitlines() if x.startswith("torch ")), "?")
            network = "offline (unshare -n)" if offline else "with the network"
            print(f"\ntarget: envcapture run {network}, empty environment cache: {total:.1f} s")
            print(f"  environment built from the bundle in {setup.group(1) if setup else '?'} s; the job printed: {line}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.chdir(REPO)
    main()
