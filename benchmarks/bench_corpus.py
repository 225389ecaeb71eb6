"""Benchmark: envcapture cold, warm and one-file-edited next to deptry and pipreqs, on a corpus.

Run: ``.venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/bench_corpus.py``
(``--repeat 3`` rounds, medians reported; ``--only NAME`` for one project).

The corpus is ten stand-in projects generated here (seeded, no third-party code vendored),
laid out as ML repositories are: a ``src/`` or flat package of models, layers, data, training
and utilities; example and training scripts as entry points; tests, docs scripts and
benchmarks that whole-tree tools read and envcapture does not need. Several hundred to 3,000
files each. Every tool runs as a CLI process, the way a user or a pre-commit hook runs it:

- envcapture ``analyze ENTRY --json``: cold (empty cache directory), warm (nothing changed),
  edited (one reached file changed, then ``analyze``);
- ``deptry .`` and ``pipreqs --use-local --print --mode no-pin .`` (no network) over the tree.

It prints per-project seconds, the totals, the ratios the goals are stated in, and the peak
memory (RSS summed over the analysing process and its parser workers, sampled every 20 ms)
of a cold analysis of the 3,000-file project. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

THIRD_PARTY = ["numpy", "yaml", "requests", "tqdm", "click", "packaging"]


@dataclass(frozen=True)
class Spec:
    name: str
    files: int  # Python files in the tree
    layout: str  # "src" or "flat"
    reached: float  # share of the files the entry point reaches
    seed: int


CORPUS = [
    Spec("diffusion-lab", 3000, "src", 0.45, 1),
    Spec("vision-models", 1800, "src", 0.5, 2),
    Spec("llm-finetune", 1200, "flat", 0.4, 3),
    Spec("speech-toolkit", 1000, "src", 0.55, 4),
    Spec("rl-baselines", 800, "flat", 0.6, 5),
    Spec("graph-nets", 700, "src", 0.5, 6),
    Spec("tabular-automl", 600, "flat", 0.5, 7),
    Spec("detection-zoo", 500, "flat", 0.65, 8),
    Spec("timeseries-forecast", 400, "src", 0.6, 9),
    Spec("nlp-tokenizers", 300, "flat", 0.7, 10),
]

MODULE = '''"""{title}.

Part of the generated stand-in project {project}: {kind} code, about as long and as
import-dense as the real thing.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

{imports}

if TYPE_CHECKING:
    from collections.abc import Iterable

try:
    import {optional}
except ImportError:  # optional accelerator
    {optional} = None

logger = logging.getLogger(__name__)


@dataclass
class {cls}Config:
    hidden_size: int = {n}
    num_layers: int = {layers}
    dropout: float = 0.1
    activation: str = "gelu"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.hidden_size % 8:
            raise ValueError(f"hidden_size must be a multiple of 8, got {{self.hidden_size}}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout out of range")


class {cls}:
    """A {kind} component ({n})."""

    def __init__(self, config: {cls}Config | None = None) -> None:
        self.config = config or {cls}Config()
        self.config.validate()
        self.weights = [[math.sin(i * j) for j in range(4)] for i in range(self.config.num_layers)]

    def forward(self, values: Iterable[float]) -> list[float]:
        out = []
        for i, value in enumerate(values):
            row = self.weights[i % len(self.weights)]
            acc = sum(w * value for w in row)
            if self.config.activation == "gelu":
                acc = 0.5 * acc * (1.0 + math.tanh(0.79788456 * (acc + 0.044715 * acc**3)))
            out.append(acc)
        return out

    def save(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "{cls}.txt"), "w", encoding="utf-8") as fh:
            for row in self.weights:
                fh.write(" ".join(f"{{w:.6f}}" for w in row) + "\\n")
        logger.info("saved %s to %s", type(self).__name__, path)

    def __repr__(self) -> str:
        return f"{cls}(hidden_size={{self.config.hidden_size}}, layers={{self.config.num_layers}})"


def build_{fn}(**overrides: Any) -> {cls}:
    config = {cls}Config(**overrides)
    return {cls}(config)


def _schedule_{fn}(step: int, warmup: int = 100, total: int = 10_000) -> float:
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def export_{fn}(model: {cls}, fmt: str = "onnx") -> str:
    if fmt == "onnx":
        import {lazy}  # heavy: imported only when exporting

        return "exported with " + str({lazy})
    return repr(model)
'''

SCRIPT = '''"""{title}: a script of {project} that whole-tree tools read and the job does not run."""

import argparse
import sys

{imports}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    for step in range(args.steps):
        print(step, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
'''

KINDS = ["models", "layers", "schedulers", "data", "training", "utils", "pipelines", "losses", "metrics", "callbacks"]


def generate(root: Path, spec: Spec) -> tuple[str, str]:
    """Write the project; returns (entry point, a reached module to edit), both project-relative."""
    rng = random.Random(spec.seed)
    if root.exists():
        shutil.rmtree(root)
    pkg = spec.name.replace("-", "_")
    base = root / "src" / pkg if spec.layout == "src" else root / pkg
    n_lib = int(spec.files * spec.reached)
    n_other = spec.files - n_lib - 2
    # The library: sub-packages by kind, 30-80 modules each; the entry reaches all of it.
    modules: list[str] = []  # dotted names under pkg
    per_kind = max(1, n_lib // len(KINDS))
    for k, kind in enumerate(KINDS):
        count = per_kind if k < len(KINDS) - 1 else n_lib - per_kind * (len(KINDS) - 1)
        sub = base / kind
        sub.mkdir(parents=True, exist_ok=True)
        names = [f"{kind}_{i:04d}" for i in range(max(0, count - 1))]
        (sub / "__init__.py").write_text(
            f'"""{kind} of {spec.name}."""\n\n' + "".join(f"from .{n} import *  # noqa: F403\n" for n in names)
        )
        for i, name in enumerate(names):
            imports = [f"import {rng.choice(THIRD_PARTY)}"]
            if i:
                imports.append(f"from .{names[rng.randrange(i)]} import build_{names[rng.randrange(i)]} as _b")
            if k and rng.random() < 0.5:
                imports.append(f"from ..{KINDS[rng.randrange(k)]} import *  # noqa: F403")
            text = MODULE.format(
                title=f"{kind} {name}",
                project=spec.name,
                kind=kind,
                imports="\n".join(imports),
                optional=rng.choice(["apex", "xformers", "flash_attn", "triton"]),
                cls=f"Block{k}x{i}",
                fn=name,
                n=8 * (i + 1),
                layers=1 + i % 6,
                lazy=rng.choice(["onnx", "tensorrt", "coremltools"]),
            )
            (sub / f"{name}.py").write_text(text)
            modules.append(f"{kind}.{name}")
    (base / "__init__.py").write_text(
        f'"""{spec.name}."""\n\n__version__ = "0.1.0"\n\n' + "".join(f"from . import {k}\n" for k in KINDS)
    )
    # Scripts, tests, docs and benchmarks: read by whole-tree tools, not reached by the job.
    for i in range(n_other):
        folder = root / rng.choice(["tests", "tests/unit", "scripts", "docs/source", "benchmarks", "examples/community"])
        folder.mkdir(parents=True, exist_ok=True)
        imports = f"import {rng.choice(THIRD_PARTY)}\nimport pytest\nfrom {pkg} import {rng.choice(KINDS)}"
        (folder / f"file_{i:04d}.py").write_text(SCRIPT.format(title=f"script {i}", project=spec.name, imports=imports))
    (root / "examples").mkdir(exist_ok=True)
    entry = "examples/train.py"
    prefix = (
        "import sys, os\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'src'))\n"
        if spec.layout == "src"
        else ""
    )
    if spec.layout == "flat":
        prefix = "import sys, os\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))\n"
    (root / entry).write_text(
        f'"""Train a {spec.name} model."""\n\n{prefix}\nimport numpy\nimport yaml\n\nimport {pkg}\nfrom {pkg}.models import *  # noqa: F403\n\n'
        'if __name__ == "__main__":\n    print(numpy, yaml)\n'
    )
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{spec.name}"\nversion = "0.1.0"\ndependencies = ["numpy", "pyyaml", "requests", "tqdm", "click", "packaging"]\n'
    )
    edited = modules[len(modules) // 2]
    rel = base.relative_to(root).as_posix() + "/" + edited.replace(".", "/") + ".py"
    return entry, rel


def _env(cache: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' tools run from compiled bytecode
    if cache is not None:
        env["ENVCAPTURE_CACHE_DIR"] = str(cache)
    return env


def _tool(name: str) -> str | None:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else shutil.which(name)


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=1800)
    elapsed = time.perf_counter() - t
    if "Traceback" in done.stderr:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip().splitlines()[-1]}")
    return elapsed


def _tree_rss(pid: int) -> int:
    """RSS in bytes of ``pid`` and its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def peak_memory(argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)

    thread = threading.Thread(target=sample)
    thread.start()
    proc.wait()
    stop.set()
    thread.join()
    return peak


def run_round(base: Path, corpus: list[tuple[Spec, Path, str, str]], round_no: int) -> dict[str, dict[str, float]]:
    envcapture = [sys.executable, "-m", "envcapture.cli", "analyze"]
    deptry, pipreqs = _tool("deptry"), _tool("pipreqs")
    results: dict[str, dict[str, float]] = {}
    for spec, root, entry, edited in corpus:
        cache = base / f"cache-{spec.name}-{round_no}"
        shutil.rmtree(cache, ignore_errors=True)
        argv = [*envcapture, entry, "--json", "--python", sys.executable]
        row: dict[str, float] = {}
        row["cold"] = timed(argv, root, _env(cache))
        row["warm"] = timed(argv, root, _env(cache))
        target = root / edited
        target.write_text(target.read_text() + f"\nEDITED_IN_ROUND = {round_no}\n")
        row["edited"] = timed(argv, root, _env(cache))
        if deptry:
            row["deptry"] = timed([deptry, "."], root, _env())
        if pipreqs:
            row["pipreqs"] = timed([pipreqs, "--use-local", "--print", "--mode", "no-pin", "."], root, _env())
        results[spec.name] = row
        print(f"  round {round_no} {spec.name:<20} " + " ".join(f"{k} {v:6.2f}" for k, v in row.items()), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated corpus")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envcapture-corpus-"))
    specs = [s for s in CORPUS if args.only in (None, s.name)]
    load = os.getloadavg()
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, load average {load[0]:.1f} at start")
    try:
        corpus = []
        for spec in specs:
            root = base / spec.name
            entry, edited = generate(root, spec)
            corpus.append((spec, root, entry, edited))
        # Compile every tool's bytecode once, untimed.
        for tool in ("deptry", "pipreqs"):
            exe = _tool(tool)
            if exe:
                subprocess.run([exe, "--help"], capture_output=True, env=_env(), check=False)
        subprocess.run([sys.executable, "-m", "envcapture.cli", "--help"], capture_output=True, env=_env(), check=False)
        rounds = [run_round(base, corpus, r) for r in range(args.repeat)]
        columns = list(rounds[0][specs[0].name])
        print(f"\nmedian seconds over {args.repeat} rounds")
        print(f"{'project':<20} {'files':>5} " + " ".join(f"{c:>8}" for c in columns))
        totals = {c: 0.0 for c in columns}
        for spec in specs:
            med = {c: statistics.median(r[spec.name][c] for r in rounds) for c in columns}
            for c in columns:
                totals[c] += med[c]
            print(f"{spec.name:<20} {spec.files:>5} " + " ".join(f"{med[c]:>8.2f}" for c in columns))
        print(f"{'total':<20} {sum(s.files for s in specs):>5} " + " ".join(f"{totals[c]:>8.2f}" for c in columns))

        # Ratios of the round totals, median over rounds.
        def ratio(a: str, b: str) -> str:
            if b not in columns:
                return "-"
            return f"{statistics.median(sum(r[s.name][a] for s in specs) / sum(r[s.name][b] for s in specs) for r in rounds):.2f}"

        print(f"\ncold / pipreqs  {ratio('cold', 'pipreqs')}   (goal <= 1)")
        print(f"warm / deptry   {ratio('warm', 'deptry')}   (goal <= 0.3)")
        print(f"edited / deptry {ratio('edited', 'deptry')}   (goal <= 0.5)")
        big = max(corpus, key=lambda c: c[0].files)
        spec, root, entry, _ = big
        cache = base / "cache-memory"
        peak = peak_memory(
            [sys.executable, "-m", "envcapture.cli", "analyze", entry, "--json", "--python", sys.executable], root, _env(cache)
        )
        print(
            f"peak RSS of a cold analysis of {spec.name} ({spec.files} files), process + workers: {peak / 2**20:.0f} MB (goal < 500)"
        )
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"corpus kept in {base}")


if __name__ == "__main__":
    main()
