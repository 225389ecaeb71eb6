"""Benchmark: cold and warm ``envcapture build`` of a realistic job (numpy + pandas from PyPI).

Run by hand (it downloads ~30 MB from PyPI; the test suite never does):

    .venv/bin/python benchmarks/bench_build.py [--python /root/.pyenv/versions/3.11.7/bin/python]
        [--numpy 2.3.5 --pandas 2.3.3] [--index-url https://pypi.org/simple] [--keep DIR]

In a temporary directory it makes the job's virtualenv (CPython 3.11: numpy, pandas and
their dependencies installed from the index, plus a local pure-Python package installed
editable, which the wheelhouse must build), a project whose ``train.py`` imports them and
a local package, and a ``config.yaml`` naming the index. Then it times, each in a fresh
``envcapture`` subprocess with its own cache directory:

* cold: empty store (every wheel downloaded for cp311 manylinux_2_28 x86_64, one built);
* warm: the same store, unchanged job (nothing downloaded or built);
* warm after an edit: one local file changed (only local-code.tar.gz changes).

and prints seconds, bytes downloaded and whether the bundles are byte-identical. Numbers,
not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_support import digest_dir, python_311, run_checked

REPO = Path(__file__).resolve().parents[1]

TRAIN = '''"""A small training job: numpy + pandas + local code."""

import numpy as np
import pandas as pd

from features import build_features
import fastmath


def main() -> None:
    frame = pd.DataFrame({"x": np.arange(10.0)})
    print(build_features(frame).sum().sum(), fastmath.scale(2))


if __name__ == "__main__":
    main()
'''

FEATURES = """import pandas as pd


def build_features(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["x2"] = out["x"] ** 2
    return out
"""

FASTMATH_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "fastmath"
version = "0.1.0"

[tool.setuptools]
py-modules = ["fastmath"]
"""


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _build(root: Path, cache: Path, python: Path, out: Path) -> tuple[float, dict[str, int]]:
    env = {**os.environ, "ENVCAPTURE_CACHE_DIR": str(cache)}
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    done = run_checked(
        [
            sys.executable,
            "-m",
            "envcapture.cli",
            "build",
            "--config",
            str(root / "project" / "config.yaml"),
            "--python",
            str(python),
            "-o",
            str(out),
            "--json",
        ],
        env=env,
    )
    elapsed = time.perf_counter() - start
    return elapsed, json.loads(done.stdout)["counters"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", default=None, help="CPython 3.11 for the job's virtualenv (default: this one if 3.11, else pyenv's)"
    )
    parser.add_argument("--index-url", default="https://pypi.org/simple")
    parser.add_argument("--numpy", default="2.3.5")
    parser.add_argument("--pandas", default="2.3.3")
    parser.add_argument("--keep", type=Path, help="Work in DIR and keep it (default: a temporary directory).")
    args = parser.parse_args()

    python = python_311(args.python)

    root = args.keep or Path(tempfile.mkdtemp(prefix="envcapture-bench-build-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        project = root / "project"
        if project.exists():
            shutil.rmtree(project)
        project.mkdir()
        (project / "train.py").write_text(TRAIN)
        (project / "features.py").write_text(FEATURES)
        (project / "config.yaml").write_text(
            f"name: bench\ncmd: python train.py\nenv:\n  python:\n    type: auto\n    pip:\n      index-url: {args.index_url}\n"
        )
        fastmath = root / "fastmath"
        fastmath.mkdir(exist_ok=True)
        (fastmath / "pyproject.toml").write_text(FASTMATH_PYPROJECT)
        (fastmath / "fastmath.py").write_text("def scale(x: int) -> int:\n    return 3 * x\n")

        venv = root / "venv"
        vpython = venv / "bin" / "python"
        if not vpython.exists():
            t = time.perf_counter()
            run_checked([sys.executable, "-m", "virtualenv", "--quiet", "--python", python, str(venv)])
            run_checked(
                [
                    str(vpython),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--index-url",
                    args.index_url,
                    f"numpy=={args.numpy}",
                    f"pandas=={args.pandas}",
                ],
                env=_pip_env(),
            )
            run_checked(
                [str(vpython), "-m", "pip", "install", "--quiet", "--no-build-isolation", "-e", str(fastmath)], env=_pip_env()
            )
            print(f"job environment ready in {time.perf_counter() - t:.1f} s (not part of the benchmark)")

        cache = root / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        rows = []
        cold_s, cold = _build(root, cache, vpython, root / "cold" / "bundle")
        rows.append(("cold (empty store)", cold_s, cold))
        warm_s, warm = _build(root, cache, vpython, root / "warm" / "bundle")
        rows.append(("warm (unchanged job)", warm_s, warm))
        (project / "features.py").write_text(FEATURES + "\n# edited\n")
        edit_s, edit = _build(root, cache, vpython, root / "edit" / "bundle")
        rows.append(("warm, one local file edited", edit_s, edit))
        (project / "features.py").write_text(FEATURES)

        wheels = sorted(p.name for p in (root / "cold" / "bundle" / "wheelhouse").glob("*.whl"))
        size = sum(p.stat().st_size for p in (root / "cold" / "bundle" / "wheelhouse").glob("*.whl"))
        print(f"\nwheelhouse: {len(wheels)} wheels, {size / 1e6:.1f} MB")
        for name in wheels:
            print(f"  {name}")
        print(f"\n{'build':32} {'seconds':>8} {'downloads':>9} {'builds':>6} {'store hits':>10} {'MB downloaded':>13}")
        for label, seconds, c in rows:
            print(
                f"{label:32} {seconds:8.2f} {c['downloads']:9d} {c['builds']:6d} {c['store_hits']:10d} "
                f"{c['bytes_downloaded'] / 1e6:13.2f}"
            )
        same = digest_dir(root / "cold" / "bundle") == digest_dir(root / "warm" / "bundle")
        print(f"\ncold and warm bundles byte-identical: {same}")
        print(f"cold / warm: {cold_s / warm_s:.1f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.chdir(REPO)
    main()
