"""Benchmark: ``envcapture check`` as the pre-commit hook runs it, cold and warm cache.

Generates a project of ``--files`` modules (default 300) in a temporary directory: an
entry point ``train.py`` and a package ``app/`` whose modules import each other and a few
distributions installed in the analysed environment (this interpreter's by default:
click, rich, packaging, yaml, platformdirs), with a ``requirements.txt`` declaring them.
Then runs ``envcapture check`` in a subprocess, as pre-commit does:

* cold: an empty analysis cache (every file parsed);
* warm: the same project again (every file's facts from the cache), ``--repeat`` times;
* warm after an edit: one file changed, as in a typical commit.

Usage: ``.venv/bin/python benchmarks/bench_check.py [--files 300] [--repeat 5] [--python PATH]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THIRD_PARTY = [
    ("click", "click"),
    ("rich", "rich"),
    ("packaging", "packaging"),
    ("yaml", "PyYAML"),
    ("platformdirs", "platformdirs"),
]


def _version(python: str, dist: str) -> str:
    out = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def generate(root: Path, files: int, python: str) -> None:
    """A project of ``files`` modules under ``root``."""
    pkg = root / "app"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Generated package."""\n')
    for i in range(files):
        lines = [f'"""Generated module {i}."""', "from __future__ import annotations", "", "import os", "import json"]
        module, _ = THIRD_PARTY[i % len(THIRD_PARTY)]
        lines.append(f"import {module}")
        for j in (i + 1, i * 7 + 1, i * 13 + 2):  # local imports: every module is reached
            lines.append(f"from app import mod{j % files:04d}  # noqa: F401")
        lines += ["", "", f"def f{i}(x: int) -> int:", f"    return x + {i}", ""]
        lines += [f"class C{i}:", "    def m(self) -> str:", f"        return json.dumps({{'i': {i}}}) + os.sep", ""]
        (pkg / f"mod{i:04d}.py").write_text("\n".join(lines))
    imports = "\n".join(f"from app import mod{i:04d}" for i in range(0, files, max(1, files // 10)))
    (root / "train.py").write_text(f'"""Entry point."""\n{imports}\n\nif __name__ == "__main__":\n    pass\n')
    reqs = "".join(f"{dist}=={_version(python, dist)}\n" for _, dist in THIRD_PARTY)
    (root / "requirements.txt").write_text("# generated\n" + reqs)
    (root / "pyproject.toml").write_text('[tool.envcapture]\nentry-points = ["train.py"]\n')


def run_hook(root: Path, python: str, cache: Path) -> tuple[float, int, str]:
    env = dict(os.environ, ENVCAPTURE_CACHE_DIR=str(cache))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "check", "--python", python],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return time.perf_counter() - start, done.returncode, (done.stdout + done.stderr).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="the analysed interpreter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        root = Path(tmp) / "project"
        cache = Path(tmp) / "cache"
        generate(root, args.files, args.python)
        cold, code, out = run_hook(root, args.python, cache)
        if code != 0:
            print(f"unexpected exit {code}:\n{out}", file=sys.stderr)
            return 1
        warm = [run_hook(root, args.python, cache)[0] for _ in range(args.repeat)]
        target = root / "app" / "mod0001.py"
        target.write_text(target.read_text() + "\nEDITED = True\n")
        edited, _, _ = run_hook(root, args.python, cache)
    print(f"envcapture check on {args.files + 2} files (subprocess, as the pre-commit hook runs it)")
    print(f"  cold (empty cache):       {cold:.2f} s")
    print(f"  warm (median of {args.repeat}):      {statistics.median(warm):.2f} s  (min {min(warm):.2f} s)")
    print(f"  warm, one file edited:    {edited:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
