#!/usr/bin/env python3
"""Accuracy of "what does this job need?" in bare mode: envcapture against pipreqs, deptry and FawltyDeps.

Usage::

    pip install -e '.[bench]'
    python benchmarks/bench_accuracy.py [--json] [--only NAME] [--tools envcapture,pipreqs]

The corpus is ``benchmarks/corpus/*/``: small stand-in projects written for this benchmark
with the import patterns of real ML repositories (a nanoGPT-like trainer, a whisper-like
package run as ``python -m``, diffusers-like example scripts, a yolov5-like repo with
optional backends in functions, a Google Cloud user, absl/fire CLIs, ...). Each has a
``truth.toml``: its ``entry-points`` and the distributions they ``needed`` (PEP 503
names). The rule for the truth: a distribution is needed when code an entry point reaches
imports it outside ``try/except ImportError``, ``TYPE_CHECKING`` and ``find_spec`` guards
(at module level or in a function: a function's import runs when the job calls it), or
imports a submodule of another one that imports it (``torch.utils.tensorboard`` needs
tensorboard). ``try: import a`` / ``except ImportError: import b`` needs one of the two: ``a``,
the preferred one, since nothing is installed.

Each project is copied to a temporary directory (no tool writes into the corpus) with an
empty ``requirements.txt`` (deptry and FawltyDeps need a declaration to compare with), and
every tool runs where nothing of the project is installed:

* envcapture: ``envcapture analyze ENTRIES --json`` with no ``VIRTUAL_ENV`` and no ``.venv/``
  (bare mode); its answer is every required or conditional distribution, installed or guessed;
* pipreqs: ``pipreqs --print --mode no-pin`` (the whole tree; PyPI is asked for unknown names);
* deptry: its DEP001 (missing) module names, as distribution names (deptry maps a module to a
  distribution only when it is installed);
* FawltyDeps: ``--check-undeclared --json``, the undeclared names (likewise).

Names are compared after PEP 503 normalisation. Precision, recall and F1 are computed per
project and averaged (macro); time is the wall time of each tool's run, summed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = Path(__file__).resolve().parent / "corpus"
BIN = Path(sys.executable).parent
TOOLS = ("envcapture", "pipreqs", "deptry", "fawltydeps")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Project:
    name: str
    path: Path
    entry_points: list[str]
    needed: set[str]


@dataclass
class Score:
    predicted: set[str] = field(default_factory=set)
    seconds: float = 0.0
    error: str = ""

    def prf(self, truth: set[str]) -> tuple[float, float, float]:
        hit = len(self.predicted & truth)
        precision = hit / len(self.predicted) if self.predicted else (1.0 if not truth else 0.0)
        recall = hit / len(truth) if truth else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1


def load_corpus(only: str | None) -> list[Project]:
    projects = []
    for truth in sorted(CORPUS.glob("*/truth.toml")):
        data = tomllib.loads(truth.read_text("utf-8"))
        if only and truth.parent.name != only:
            continue
        projects.append(
            Project(
                name=truth.parent.name,
                path=truth.parent,
                entry_points=list(data["entry-points"]),
                needed={canonical(n) for n in data["needed"]},
            )
        )
    return projects


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH")}
    env["ENVCAPTURE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-accuracy-cache-")
    return env


def _tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def _run(cmd: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600, check=False)
    return done, time.perf_counter() - start


def run_envcapture(project: Project, work: Path) -> Score:
    # "-m pkg" entries are single arguments after "--" (click would read -m as an option).
    done, seconds = _run([_tool("envcapture"), "analyze", "--json", "--no-cache", "-q", "--", *project.entry_points], work)
    if done.returncode not in (0, 1):
        return Score(seconds=seconds, error=(done.stderr.strip().splitlines() or ["?"])[-1])
    doc = json.loads(done.stdout)
    needed = {"required", "conditional"}
    predicted = {canonical(d["name"]) for d in doc["distributions"] if d["status"] in needed}
    predicted |= {canonical(u["guess"]) for u in doc["unresolved"] if u["status"] in needed and u["guess"]}
    return Score(predicted=predicted, seconds=seconds)


def run_pipreqs(project: Project, work: Path) -> Score:
    cmd = [_tool("pipreqs"), "--print", "--mode", "no-pin", "--pypi-server", "https://pypi.org/pypi/", "."]
    done, seconds = _run(cmd, work)
    if done.returncode != 0:
        return Score(seconds=seconds, error=(done.stderr.strip().splitlines() or ["?"])[-1])
    names = {canonical(line.split("=")[0].strip()) for line in done.stdout.splitlines() if line.strip()}
    return Score(predicted=names, seconds=seconds)


def run_deptry(project: Project, work: Path) -> Score:
    out = work / ".deptry.json"
    done, seconds = _run([_tool("deptry"), ".", "--json-output", str(out)], work)
    if not out.is_file():
        return Score(seconds=seconds, error=(done.stderr.strip().splitlines() or ["?"])[-1])
    issues = json.loads(out.read_text("utf-8"))
    names = {canonical(i["module"]) for i in issues if i["error"]["code"] == "DEP001"}
    return Score(predicted=names, seconds=seconds)


def run_fawltydeps(project: Project, work: Path) -> Score:
    cmd = [_tool("fawltydeps"), "--code", ".", "--deps", "requirements.txt", "--check-undeclared", "--json"]
    done, seconds = _run(cmd, work)
    try:
        doc = json.loads(done.stdout)
    except json.JSONDecodeError:
        return Score(seconds=seconds, error=(done.stderr.strip().splitlines() or ["?"])[-1])
    names = {canonical(u["name"]) for u in doc.get("undeclared_deps", [])}
    return Score(predicted=names, seconds=seconds)


RUNNERS = {"envcapture": run_envcapture, "pipreqs": run_pipreqs, "deptry": run_deptry, "fawltydeps": run_fawltydeps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", help="one project of the corpus")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--details", action="store_true", help="print each tool's misses and extras per project")
    args = parser.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    projects = load_corpus(args.only)
    results: dict[str, dict[str, Score]] = {t: {} for t in tools}
    for project in projects:
        for tool in tools:
            with tempfile.TemporaryDirectory(prefix=f"bench-{project.name}-") as tmp:
                work = Path(tmp) / project.name
                shutil.copytree(project.path, work, ignore=shutil.ignore_patterns("truth.toml", "__pycache__"))
                (work / "requirements.txt").write_text("", encoding="utf-8")
                results[tool][project.name] = RUNNERS[tool](project, work)
    table = []
    for tool in tools:
        scores = [(p, results[tool][p.name]) for p in projects]
        prf = [s.prf(p.needed) for p, s in scores]
        n = len(prf) or 1
        row = {
            "tool": tool,
            "precision": sum(x[0] for x in prf) / n,
            "recall": sum(x[1] for x in prf) / n,
            "f1": sum(x[2] for x in prf) / n,
            "seconds": sum(s.seconds for _, s in scores),
            "errors": {p.name: s.error for p, s in scores if s.error},
            "projects": {
                p.name: {
                    "missed": sorted(p.needed - s.predicted),
                    "extra": sorted(s.predicted - p.needed),
                    "precision": round(x[0], 3),
                    "recall": round(x[1], 3),
                }
                for (p, s), x in zip(scores, prf, strict=True)
            },
        }
        table.append(row)
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    print(f"{len(projects)} projects, bare mode (nothing installed)\n")
    print("| tool | macro precision | macro recall | macro F1 | time (s) |")
    print("|---|---|---|---|---|")
    for row in table:
        print(f"| {row['tool']} | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1']:.2f} | {row['seconds']:.1f} |")
    for row in table:
        if row["errors"]:
            print(f"\n{row['tool']} failed on: " + "; ".join(f"{k}: {v}" for k, v in row["errors"].items()))
        if args.details:
            print(f"\n{row['tool']}:")
            for name, detail in row["projects"].items():
                print(f"  {name}: P={detail['precision']} R={detail['recall']} missed={detail['missed']} extra={detail['extra']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
