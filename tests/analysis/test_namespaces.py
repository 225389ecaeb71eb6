"""Namespace packages: what is imported below a shared namespace belongs to the portion's distribution.

Installed: the fixture environment has ns-one (``nsroot.one``) and ns-two (``nsroot.two``),
two portions of the PEP 420 namespace ``nsroot``. Not installed: bare mode, the guesses.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.environment.discover import bare_snapshot
from envcapture.environment.snapshot import snapshot_environment


def _analyze(tmp_path: Path, source: str, snapshot: Any) -> Any:
    (tmp_path / "job.py").write_text(source)
    return analyze(["job.py"], project=tmp_path, options=AnalysisOptions(use_cache=False), snapshot=snapshot)


def test_installed_portion_goes_to_its_distribution(tmp_path: Path, fixture_snapshot: Any) -> None:
    analysis = _analyze(tmp_path, "import nsroot.one\nfrom nsroot import two\n", fixture_snapshot)
    assert {d.name: d.import_names for d in analysis.distributions} == {"ns-one": ("nsroot.one",), "ns-two": ("nsroot.two",)}
    assert analysis.unresolved == ()


def test_missing_portion_is_never_given_to_a_sibling(tmp_path: Path, fixture_snapshot: Any) -> None:
    analysis = _analyze(tmp_path, "import nsroot.one\nimport nsroot.three\nfrom nsroot import four\n", fixture_snapshot)
    assert [d.name for d in analysis.distributions] == ["ns-one"]
    assert analysis.distributions[0].import_sites[0].line == 1
    missing = {u.module: u for u in analysis.unresolved}
    assert set(missing) == {"nsroot.three", "nsroot.four"}
    assert "no installed distribution provides nsroot.three" in missing["nsroot.three"].reason


def test_not_installed_namespace_portions_are_guessed_by_portion(tmp_path: Path) -> None:
    snapshot = bare_snapshot(snapshot_environment(sys.executable))
    source = (
        "import google.cloud.bigquery\n"
        "from google.cloud import storage, aiplatform\n"
        "from google.protobuf import message\n"
        "import google.cloud.newservice.v1\n"
    )
    analysis = _analyze(tmp_path, source, snapshot)
    guesses = {u.module: (u.guess, u.guess_confidence) for u in analysis.unresolved}
    assert guesses == {
        "google.cloud.bigquery": ("google-cloud-bigquery", "high"),
        "google.cloud.storage": ("google-cloud-storage", "high"),
        "google.cloud.aiplatform": ("google-cloud-aiplatform", "high"),
        "google.protobuf": ("protobuf", "high"),
        "google.cloud.newservice": ("google-cloud-newservice", "low"),
    }
    assert analysis.distributions == ()


def test_bare_mode_guesses_every_third_party_import(tmp_path: Path) -> None:
    snapshot = bare_snapshot(snapshot_environment(sys.executable))
    source = (
        "import os\nimport yaml\nimport fire\nimport click\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pandas\n"
        "try:\n    import ujson as json\nexcept ImportError:\n    import json\n"
    )
    analysis = _analyze(tmp_path, source, snapshot)
    rows = {u.module: (u.guess, u.guess_source, u.status.value) for u in analysis.unresolved}
    assert rows["yaml"][0] == "PyYAML" and rows["yaml"][2] == "required"
    assert rows["fire"] == ("fire", "same name (unverified)", "required") or rows["fire"][0] == "fire"
    assert rows["click"][0] == "click"  # installed here, but bare mode reads nothing installed
    assert rows["pandas"][2] == "type-only"
    assert rows["ujson"][2] == "optional"
    assert analysis.distributions == ()
