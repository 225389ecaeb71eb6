"""parsepool.py: files parsed here or by worker processes (forked, or from a fork server that
imported libcst), in batches, come back with the facts a parse here gives, in any order;
a cold analysis readies libcst while the environment probe runs, a warm one never imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.classify import Analysis, CacheStats
from envcapture.analysis.imports import extract_source_facts
from envcapture.analysis.parsepool import FRESH_WORKERS_THRESHOLD, ParseJob, Parser
from envcapture.environment.model import EnvSnapshot

SOURCES: list[ParseJob] = [
    (b"import json\nfrom . import sibling\n", "pkg.mod", False, "pkg/mod.py"),
    (b"from .sub import thing\nimport numpy as np\n", "pkg", True, "pkg/__init__.py"),
    (b"def broken(:\n    import yaml\n", "bad", False, "bad.py"),
    (b"import os\x00binary", "blob", False, "blob.py"),
    (b"x = 1\n", "plain", False, "plain.py"),
    (b"try:\n    import ujson as json\nexcept ImportError:\n    import json\n", "alt", False, "alt.py"),
    (b"import sys\nsys.path.insert(0, 'lib')\nif sys.platform == 'win32':\n    import winreg\n", "__main__", False, "main.py"),
]
JOBS: list[ParseJob] = [(data + b"\n" * i, module, pkg, rel) for i in range(4) for data, module, pkg, rel in SOURCES]


def _expected(job: ParseJob) -> object:
    data, module, is_package, rel = job
    return extract_source_facts(data, module=module, is_package=is_package, path=rel)


@pytest.fixture(params=["fork", "forkserver"])
def start_method(request: pytest.FixtureRequest) -> Iterator[str]:
    """The workers forked from this process, or (another thread alive: forking is unsafe)
    from a fork server."""
    if request.param == "fork":
        if sys.platform != "linux" or threading.active_count() > 1:
            pytest.skip("forked workers need Linux and this process alone on its thread")
        yield "fork"
        return
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        yield "forkserver"
    finally:
        stop.set()
        thread.join()


def test_workers_give_each_file_the_facts_a_parse_here_gives(start_method: str) -> None:
    parser = Parser(2, threshold=4, batch=3)
    try:
        for index, job in enumerate(JOBS):
            parser.add(index, job)
        assert parser.start_method == start_method
        facts = [parser.take(index) for index in range(len(JOBS))]
    finally:
        parser.close()
    assert facts == [_expected(job) for job in JOBS]


def test_workers_start_at_the_threshold_of_how_they_would_start(start_method: str) -> None:
    """Forked workers start once two files wait; workers that import libcst afresh (a fork
    server while another thread runs, as the progress display's on a terminal) only once
    FRESH_WORKERS_THRESHOLD do: a small project is parsed here (it took twice as long)."""
    assert 2 < len(JOBS) < FRESH_WORKERS_THRESHOLD
    parser = Parser(2)
    try:
        for index, job in enumerate(JOBS):
            parser.add(index, job)
        assert parser.start_method == ("fork" if start_method == "fork" else None)
        facts = [parser.take(index) for index in range(len(JOBS))]
    finally:
        parser.close()
    assert facts == [_expected(job) for job in JOBS]


def test_workers_start_once_a_file_waits_for_each() -> None:
    """A pool forks all its workers at its first task: with more workers than files (a small
    project on a many-core machine), this process parses them and forks none."""
    parser = Parser(len(JOBS) + 1)
    try:
        for index, job in enumerate(JOBS):
            parser.add(index, job)
        assert parser.start_method is None
        facts = [parser.take(index) for index in range(len(JOBS))]
    finally:
        parser.close()
    assert facts == [_expected(job) for job in JOBS]


def test_files_taken_out_of_order_or_before_they_are_sent() -> None:
    """A batch larger than what waits: the files wait until the walk takes one, then are
    shared out among the workers; taken in another order, each still gets its own facts."""
    parser = Parser(2, threshold=1, batch=100)
    try:
        for index, job in enumerate(JOBS):
            parser.add(index, job)
        order = list(range(len(JOBS)))[::-1]
        facts = {index: parser.take(index) for index in order}
        assert parser.start_method is not None
    finally:
        parser.close()
    assert [facts[i] for i in range(len(JOBS))] == [_expected(job) for job in JOBS]
    assert not any(index in parser for index in range(len(JOBS)))


def test_below_the_threshold_or_with_one_job_this_process_parses() -> None:
    for parser in (Parser(2, threshold=len(JOBS) + 1), Parser(1, threshold=1)):
        for index, job in enumerate(JOBS):
            parser.add(index, job)
        assert [parser.take(index) for index in range(len(JOBS))] == [_expected(job) for job in JOBS]
        assert parser.start_method is None  # no worker started
        parser.close()


# --- through the analysis ---------------------------------------------------------------------

SNAPSHOT = EnvSnapshot(executable=sys.executable, python_version="3.11.7")


def _project(root: Path, modules: int) -> Path:
    """``main.py`` importing a package whose modules import each other and a few names."""
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (root / "main.py").write_text("import pkg\nfrom pkg import m0\nimport yaml\n")
    (pkg / "__init__.py").write_text("".join(f"from . import m{i}\n" for i in range(modules)))
    for i in range(modules):
        body = (
            f"import json\nfrom .m{(i + 1) % modules} import name\ntry:\n    import numpy{i % 3}\nexcept ImportError:\n    pass\n"
        )
        (pkg / f"m{i}.py").write_text(body if i % 7 else body + "def broken(:\n")
    return root


def _analysis(project: Path, jobs: int) -> Analysis:
    result = analyze(["main.py"], project=project, options=AnalysisOptions(use_cache=False, jobs=jobs), snapshot=SNAPSHOT)
    return replace(result, stats=CacheStats(hits=0, misses=result.stats.misses, parsed=result.stats.parsed))


def test_a_parallel_analysis_is_the_serial_one(tmp_path: Path) -> None:
    project = _project(tmp_path / "job", 80)  # past the threshold: the workers parse
    parallel, serial = _analysis(project, 2), _analysis(project, 1)
    assert parallel == serial
    assert parallel.stats.parsed == 82 and len(parallel.local_files) == 82


# --- what a cold and a warm analysis import -------------------------------------------------------

_PROBE = """
import json, sys
from pathlib import Path
from envcapture.analysis.api import AnalysisOptions, job_config, snapshot_for_analysis, analyze
options = AnalysisOptions(python=sys.executable, cache_dir=Path(sys.argv[2]))
project = Path(sys.argv[1])
snapshot, _ = snapshot_for_analysis(["main.py"], None, project, options)
after_snapshot = "libcst" in sys.modules
analysis = analyze(["main.py"], project=project, options=options, snapshot=snapshot)
print(json.dumps({"after_snapshot": after_snapshot, "libcst": "libcst" in sys.modules,
                  "pool": "multiprocessing" in sys.modules, "parsed": analysis.stats.parsed}))
"""


def _imports(project: Path, facts: Path, snapshots: Path) -> dict[str, object]:
    env = {**os.environ, "ENVCAPTURE_CACHE_DIR": str(snapshots)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(project), str(facts)], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.slow  # runs an interpreter and the probe
def test_libcst_is_ready_after_a_cold_snapshot_and_never_imported_warm(tmp_path: Path) -> None:
    project = _project(tmp_path / "job", 40)
    cold = _imports(project, tmp_path / "cache", tmp_path / "snapshots")
    assert cold == {"after_snapshot": True, "libcst": True, "pool": cold["pool"], "parsed": 42}
    warm = _imports(project, tmp_path / "cache", tmp_path / "snapshots")  # the snapshot cache hits: no probe
    assert warm == {"after_snapshot": False, "libcst": False, "pool": False, "parsed": 0}
    # A new environment snapshot (the probe runs) for a project already analysed: nothing
    # to parse, so libcst is not imported while the probe runs.
    changed = _imports(project, tmp_path / "cache", tmp_path / "other-snapshots")
    assert changed == {"after_snapshot": False, "libcst": False, "pool": False, "parsed": 0}
