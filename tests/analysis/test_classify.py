"""analyzers/classify.py: what is not owned by any distribution, and reports without absolute paths."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest
from helpers import make_venv, run

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.classify import Status
from envcapture.analysis.report import render_json
from envcapture.environment.snapshot import snapshot_environment


@pytest.mark.slow
def test_module_in_site_packages_without_an_owner_is_not_a_distribution(tmp_path: Path) -> None:
    """A file dropped into site-packages by hand (no RECORD names it) is not mistaken for
    an installed distribution, nor for local code: it is reported, with no absolute path."""
    python = make_venv(tmp_path / "venv", seed=False)
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    (site / "stray.py").write_text("VALUE = 1\n")
    project = tmp_path / "job"
    project.mkdir()
    (project / "main.py").write_text("import stray\n\nif __name__ == '__main__':\n    print(stray.VALUE)\n")
    analysis = analyze(
        ["main.py"],
        project=project,
        options=AnalysisOptions(cache_dir=tmp_path / "cache"),
        snapshot=snapshot_environment(str(python), use_cache=False),
    )
    doc = json.loads(render_json(analysis))
    assert doc["distributions"] == []
    assert doc["local_files"] == ["main.py"]
    [stray] = doc["unresolved"]
    assert (stray["module"], stray["status"]) == ("stray", "required")
    assert "no installed distribution's RECORD claims it" in stray["reason"]
    text = render_json(analysis)
    assert str(tmp_path) not in text and sysconfig.get_paths()["purelib"] not in text


def test_the_statuses_that_ship() -> None:
    """One rule for capture (what is locked) and check (what must be declared)."""
    assert {s for s in Status if s.ships} == {Status.REQUIRED, Status.CONDITIONAL, Status.OPTIONAL}
