"""ahead.py: while the probe runs, the local code is walked and parsed ahead of the snapshot;
the analysis takes those parses by content and gives exactly what it gives without them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import make_venv

from envcapture.analysis import ahead as ahead_module
from envcapture.analysis.ahead import WalkAhead, claim_walk_ahead, walk_ahead
from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.classify import Analysis
from envcapture.analysis.entries import entry_points_for
from envcapture.environment.model import EnvSnapshot


def _project(root: Path) -> tuple[Path, EnvSnapshot]:
    """``main.py`` importing a local package of 30 modules, a package installed in ``site``
    that ``src/`` of the project holds too (the walk ahead, seeing nothing installed, takes
    the local copy), ``yaml`` (nowhere) and ``json``."""
    pkg = root / "job" / "pkg"
    pkg.mkdir(parents=True)
    (root / "job" / "main.py").write_text("import json\nimport pkg\nimport shadowed\nimport yaml\n")
    (pkg / "__init__.py").write_text("".join(f"from . import m{i}\n" for i in range(30)))
    for i in range(30):
        (pkg / f"m{i}.py").write_text(f"import os\nfrom .m{(i + 1) % 30} import name\nname = {i}\n")
    local_copy = root / "job" / "src" / "shadowed"
    local_copy.mkdir(parents=True)
    (local_copy / "__init__.py").write_text("from . import extra\n")
    (local_copy / "extra.py").write_text("import numpy\n")
    site = root / "site"
    (site / "shadowed").mkdir(parents=True)
    (site / "shadowed" / "__init__.py").write_text("")
    snapshot = EnvSnapshot(executable=sys.executable, python_version="3.11.7", sys_path=(str(site),), site_packages=(str(site),))
    return root / "job", snapshot


def _options() -> AnalysisOptions:
    return AnalysisOptions(use_cache=False, jobs=2)


def _analysis(project: Path, snapshot: EnvSnapshot) -> Analysis:
    return analyze(["main.py"], project=project, options=_options(), snapshot=snapshot)


def _walk_ahead(project: Path, finished: object = lambda: False) -> WalkAhead:
    entries, _ = entry_points_for(None, ("main.py",), project)
    walk_ahead(entries, project, cache_dir=None, use_cache=False, jobs=2, target_python=None, finished=finished)  # type: ignore[arg-type]
    (ahead,) = ahead_module._current.values()
    return ahead


def _same_but_timing(analysis: Analysis) -> Analysis:
    return replace(analysis, stats=replace(analysis.stats, write_error=""))


def test_the_analysis_takes_the_parses_ahead_and_gives_what_it_gives_without(tmp_path: Path) -> None:
    project, snapshot = _project(tmp_path)
    without = _analysis(project, snapshot)
    ahead = _walk_ahead(project)
    local = {str(project / f.path) for f in without.local_files}
    shadowed = {str(project / "src" / "shadowed" / name) for name in ("__init__.py", "extra.py")}
    assert ahead.parsed_files == local | shadowed  # the walk ran to its end: all taken from the parser

    taken = _analysis(project, snapshot)
    assert _same_but_timing(taken) == _same_but_timing(without)
    assert taken.stats.parsed == without.stats.parsed == 32  # counted as the analysis' own parses
    assert ahead.parsed_files == shadowed  # the guess the analysis did not take
    assert not ahead_module._current


def test_a_file_changed_after_its_parse_ahead_is_read_again(tmp_path: Path) -> None:
    project, snapshot = _project(tmp_path)
    ahead = _walk_ahead(project)
    assert str(project / "pkg" / "m7.py") in ahead.parsed_files
    (project / "pkg" / "m7.py").write_text("import os\nfrom . import added\nname = 7\n")
    (project / "pkg" / "added.py").write_text("import requests\n")

    taken = _analysis(project, snapshot)
    assert "pkg/added.py" in {f.path for f in taken.local_files}
    assert "requests" in {u.module for u in taken.unresolved}
    claim_walk_ahead(project, ())  # none left to claim: the analysis took it
    assert _same_but_timing(taken) == _same_but_timing(_analysis(project, snapshot))


def test_the_walk_ahead_stops_once_the_probe_is_done(tmp_path: Path) -> None:
    """Stopped with files in the parser: the analysis takes those still the same from the
    parser's workers, and parses again one changed meanwhile."""
    project, snapshot = _project(tmp_path)
    without = _analysis(project, snapshot)
    looks: list[int] = []

    def finished() -> bool:
        looks.append(1)
        return len(looks) > 12

    ahead = _walk_ahead(project, finished)
    assert ahead.parsed_files and ahead.parsing_files  # stopped midway, files in the parser
    assert len(ahead.parsed_files | ahead.parsing_files) < 32
    changed = sorted(ahead.parsing_files)[0]
    Path(changed).write_text(Path(changed).read_text() + "import changed_meanwhile\n")

    taken = _analysis(project, snapshot)
    assert "changed_meanwhile" in {u.module for u in taken.unresolved}
    assert taken.stats.parsed == without.stats.parsed
    assert len(taken.local_files) == len(without.local_files)


def test_a_walk_ahead_of_other_entry_points_is_stopped_not_taken(tmp_path: Path) -> None:
    project, snapshot = _project(tmp_path)
    (project / "other.py").write_text("import pkg\n")
    ahead = _walk_ahead(project, iter([False] * 5 + [True] * 1000).__next__)
    assert ahead.parser is not None
    analysis = analyze(["other.py"], project=project, options=_options(), snapshot=snapshot)
    assert analysis.stats.parsed == 32  # other.py, pkg and its 30 modules: its own parses
    assert ahead.parser._pool is None  # its workers stopped
    assert not ahead_module._current


def test_an_interrupted_walk_ahead_stops_its_workers_and_leaves_nothing_to_claim(tmp_path: Path) -> None:
    """Ctrl-C during the walk ahead (raised where the walk looks at the probe): no analysis
    follows, its workers stop then, not at the interpreter's teardown."""
    project, _ = _project(tmp_path)
    walking: list[WalkAhead] = []

    def interrupted() -> bool:
        walking[:] = ahead_module._current.values()
        if walking[0].parser is not None and walking[0].parser._pool is not None:
            raise KeyboardInterrupt
        return False

    entries, _ = entry_points_for(None, ("main.py",), project)
    with pytest.raises(KeyboardInterrupt):
        walk_ahead(entries, project, cache_dir=None, use_cache=False, jobs=2, target_python=None, finished=interrupted)
    assert not ahead_module._current  # nothing for the next analysis to claim
    (ahead,) = walking
    assert ahead.parser is not None and ahead.parser._pool is None  # its workers stopped


def test_a_walk_ahead_no_analysis_claims_is_stopped_before_exit(tmp_path: Path) -> None:
    """`check --with` a distribution not installed fails after the snapshot, the walk ahead
    unclaimed: its workers are stopped at exit, the error is the one line printed."""
    project, _ = _project(tmp_path)
    (project / "requirements.txt").write_text("PyYAML\n")
    python = make_venv(tmp_path / "venv", seed=False)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # A probe of a second or so: the walk ahead starts its workers meanwhile.
    Path(purelib, "slow_start.pth").write_text("import time; time.sleep(0.6)\n")
    installed = Path(purelib, "present-1.0.dist-info")  # something installed: --with is checked
    installed.mkdir()
    (installed / "METADATA").write_text("Metadata-Version: 2.1\nName: present\nVersion: 1.0\n")
    (installed / "RECORD").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "check", "main.py", "--with", "absent-dist", "--python", str(python)],
        cwd=project, env={**os.environ, "ENVCAPTURE_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 3
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("envcapture: error: --with: absent-dist is not installed")


def test_an_analysis_takes_no_walk_ahead_of_another_thread(tmp_path: Path) -> None:
    """Two analyses of one project in two threads: the one given its snapshot takes nothing
    of the other's walk ahead, still walking (both used its parser: a KeyError)."""
    project, snapshot = _project(tmp_path)
    without = _analysis(project, snapshot)
    entries, _ = entry_points_for(None, ("main.py",), project)
    walking, go_on = threading.Event(), threading.Event()

    def finished() -> bool:
        walking.set()
        go_on.wait(60)
        return False

    options = {"cache_dir": None, "use_cache": False, "jobs": 2, "target_python": None, "finished": finished}
    other = threading.Thread(target=walk_ahead, args=(entries, project), kwargs=options)
    other.start()
    try:
        assert walking.wait(60)
        taken = _analysis(project, snapshot)
    finally:
        go_on.set()
        other.join(60)
    assert _same_but_timing(taken) == _same_but_timing(without)
    (ahead,) = ahead_module._current.values()  # the other thread's, for its own analysis
    assert ahead.parsed_files  # walked to its end, its parser its own
    ahead_module._drop_all()
