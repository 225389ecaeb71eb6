"""Benchmark: cold and warm `envcapture analyze` on generated projects of growing size.

Run: ``.venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/bench_analyze.py``
(``--sizes 100,1000,3000`` to choose). For each size it generates a project whose entry
point reaches every file, then times, on the same tree:

- envcapture cold (empty cache, every core) and warm (same cache: nothing is parsed again),
  in-process, and warm again as a CLI process (interpreter start, environment probe, report),
  over the files the entry point reaches (``cold f/s`` counts those);
- a plain ``ast.parse`` pass and a ``libcst.parse_module`` pass over every file (one core);
- ``pipreqs`` and ``deptry`` over the whole tree, when installed (the ``bench`` extra).

It prints seconds, files/s and ratios. Numbers, not assertions: speed targets live here,
not in the tests.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THIRD_PARTY = ["numpy", "yaml", "requests", "click", "rich"]

MODULE_TEMPLATE = '''"""Generated module {name}."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
{imports}


@dataclass
class Model{idx}:
    size: int = {idx}
    name: str = "{name}"

    def forward(self, values: list[float]) -> list[float]:
        out = []
        for i, v in enumerate(values):
            if i % 2 == 0:
                out.append(v * self.size)
            else:
                out.append(v / (self.size + 1))
        return out

    def save(self, path: str) -> None:
        with open(os.path.join(path, "{name}.json"), "w") as fh:
            json.dump({{"size": self.size, "name": self.name}}, fh)


def helper_{idx}(x: int) -> int:
    import {lazy}

    total = 0
    for i in range(x):
        total += i * {idx}
    return total


def describe() -> str:
    return "module {name} with " + str(Model{idx}().size)
'''


def generate(root: Path, n_files: int, seed: int = 0, reached: float = 0.6) -> Path:
    """A project of ``n_files`` Python files, as real repositories are laid out: ``main.py``
    reaches a share ``reached`` of them (modules in packages of 50); the rest are tests and
    scripts that whole-tree tools read and envcapture does not need to."""
    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    n_tests = n_files - int(n_files * reached)
    n_files = n_files - n_tests
    (root / "tests").mkdir()
    for i in range(n_tests):
        text = MODULE_TEMPLATE.format(name=f"test{i:04d}", idx=i, imports="import pytest", lazy="pytest")
        (root / "tests" / f"test_{i:04d}.py").write_text(text)
    packages = []
    for start in range(0, n_files, 50):
        pkg = f"pkg{start // 50:03d}"
        packages.append(pkg)
        (root / pkg).mkdir()
        names = [f"mod{i:04d}" for i in range(start, min(start + 50, n_files))]
        (root / pkg / "__init__.py").write_text("".join(f"from . import {n}\n" for n in names))
        for idx, name in enumerate(names):
            imports = []
            if idx > 0:
                imports.append(f"from .{names[rng.randrange(idx)]} import describe as _d")
            imports.append(f"import {rng.choice(THIRD_PARTY)}")
            text = MODULE_TEMPLATE.format(name=name, idx=start + idx, imports="\n".join(imports), lazy=rng.choice(THIRD_PARTY))
            (root / pkg / f"{name}.py").write_text(text)
    (root / "main.py").write_text(
        "".join(f"import {p}\n" for p in packages) + '\n\nif __name__ == "__main__":\n    print("ok")\n'
    )
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\ndependencies = []\n')
    return root


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def time_ast(files: list[Path]) -> float:
    t = time.perf_counter()
    for f in files:
        ast.parse(f.read_bytes())
    return time.perf_counter() - t


def time_libcst(files: list[Path]) -> float:
    import libcst

    t = time.perf_counter()
    for f in files:
        libcst.parse_module(f.read_bytes())
    return time.perf_counter() - t


def time_envcapture(root: Path, cache: Path) -> tuple[float, int]:
    from envcapture.analysis.api import AnalysisOptions, analyze
    from envcapture.environment.snapshot import snapshot_environment

    snapshot = snapshot_environment(sys.executable)
    t = time.perf_counter()
    analysis = analyze(["main.py"], project=root, options=AnalysisOptions(cache_dir=cache), snapshot=snapshot)
    return time.perf_counter() - t, len(analysis.local_files)


def time_cli_warm(root: Path, cache: Path) -> float:
    """The warm run as a user sees it: a new process, the environment probe, the report."""
    env = dict(os.environ, ENVCAPTURE_CACHE_DIR=str(cache))
    argv = [sys.executable, "-m", "envcapture.cli", "analyze", "main.py", "--json", "--python", sys.executable]
    subprocess.run(argv, cwd=root, env=env, capture_output=True, check=True, timeout=600)  # fills the probe cache
    t = time.perf_counter()
    subprocess.run(argv, cwd=root, env=env, capture_output=True, check=True, timeout=600)
    return time.perf_counter() - t


def time_tool(argv: list[str], cwd: Path) -> float | None:
    exe = shutil.which(argv[0]) or str(Path(sys.executable).parent / argv[0])
    if not os.path.exists(exe):
        return None
    t = time.perf_counter()
    done = subprocess.run([exe, *argv[1:]], cwd=cwd, capture_output=True, text=True, check=False, timeout=1800)
    elapsed = time.perf_counter() - t
    if "Traceback" in done.stderr:  # a crashed tool is not a fast tool
        print(f"{argv[0]} failed: {done.stderr.strip().splitlines()[-1]}", file=sys.stderr)
        return None
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,3000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="envcapture-bench-"))
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}")
    header = (
        f"{'files':>6} {'reached':>7} {'MB':>6} {'cold s':>8} {'warm s':>8} {'warm cli s':>10} {'cold f/s':>9} {'ast s':>7} "
        f"{'libcst s':>9} {'pipreqs s':>10} {'deptry s':>9} {'cold/pipreqs':>13} {'warm/deptry (in-process/cli)':>29}"
    )
    print(header)
    try:
        for n in sizes:
            root = generate(base / f"p{n}", n)
            files = _files(root)
            mb = sum(f.stat().st_size for f in files) / 1e6
            cache = base / f"cache{n}"
            cold, reached = time_envcapture(root, cache)
            warm, _ = time_envcapture(root, cache)
            warm_cli = time_cli_warm(root, cache)
            t_ast = time_ast(files)
            t_cst = time_libcst(files)
            t_pipreqs = time_tool(["pipreqs", "--use-local", "--print", "--mode", "no-pin", "."], root)
            t_deptry = time_tool(["deptry", "."], root)
            ratio_p = f"{cold / t_pipreqs:.2f}" if t_pipreqs else "-"
            ratio_d = f"{warm / t_deptry:.2f}/{warm_cli / t_deptry:.2f}" if t_deptry else "-"
            print(
                f"{len(files):>6} {reached:>7} {mb:>6.2f} {cold:>8.2f} {warm:>8.2f} {warm_cli:>10.2f} {reached / cold:>9.0f} {t_ast:>7.2f} "
                f"{t_cst:>9.2f} {t_pipreqs or float('nan'):>10.2f} {t_deptry or float('nan'):>9.2f} "
                f"{ratio_p:>13} {ratio_d:>29}"
            )
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: {own:.0f} MB in the analysing process, {workers:.0f} MB in the largest child (parser worker or tool)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
