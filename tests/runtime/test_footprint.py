"""The target side loads little: `envcapture run` of a bundle loads at most 16 envcapture modules.

A job VM runs the bundle; it must not load the analysis, the resolver or the build side
(import-linter forbids the imports; this counts what a real run loads).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from envcapture.build.bundle import build_bundle
from envcapture.build.store import Store

JOBS = Path(__file__).resolve().parents[1] / "fixtures" / "runtime_jobs"

_COUNT = """
import atexit, sys
def dump():
    mods = sorted(m for m in sys.modules if m == "envcapture" or m.startswith("envcapture."))
    sys.stderr.write("@@modules@@" + ",".join(mods) + "\\n")
atexit.register(dump)
from envcapture.cli import main
main(sys.argv[1:])
"""


def test_envcapture_run_loads_at_most_16_envcapture_modules(tmp_path: Path) -> None:
    project = shutil.copytree(JOBS / "plain", tmp_path / "project")
    bundle = tmp_path / "bundle"
    build_bundle(config=project / "config.yaml", python=sys.executable, output=bundle, store=Store(tmp_path / "store"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "ENVCAPTURE_"))}
    env["ENVCAPTURE_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, "-c", _COUNT, "run", str(bundle), "--workdir", str(tmp_path / "run")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    modules = done.stderr.split("@@modules@@", 1)[1].strip().split(",")
    assert not [m for m in modules if m.startswith(("envcapture.analysis", "envcapture.resolution", "envcapture.config"))]
    assert [m for m in modules if m.startswith("envcapture.build")] == ["envcapture.build", "envcapture.build.manifest"]
    assert len(modules) <= 16, modules  # 16: envcapture._documents, the one schema header and reader
