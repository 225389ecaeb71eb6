"""analysis/classify.py: what is not owned by any distribution, reports without absolute paths,
try/except ImportError alternatives and imports implied by a submodule."""

from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from helpers import make_venv, run

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.classify import Analysis, Status, classify
from envcapture.analysis.model import ImportSite
from envcapture.analysis.report import render_json
from envcapture.analysis.walk import Edge, ImportGraph, ModuleKind, Resolution
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.environment.snapshot import snapshot_environment
from envcapture.model import ModuleName, Target, dist_name


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


# --- try/except ImportError alternatives ------------------------------------------------------------

GYM = "try:\n    import gymnasium as gym\nexcept ImportError:\n    import gym\n"


def _bare() -> EnvSnapshot:
    """Nothing installed (bare mode): every third-party import is unresolved and guessed."""
    return EnvSnapshot(executable=sys.executable, python_version="3.11.7")


def _analyze(tmp_path: Path, source: str, snapshot: EnvSnapshot, **files: str) -> Analysis:
    (tmp_path / "job.py").write_text(source)
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(text)
    return analyze(["job.py"], project=tmp_path, options=AnalysisOptions(use_cache=False), snapshot=snapshot)


def _statuses(analysis: Analysis) -> dict[str, tuple[str, tuple[str, ...]]]:
    """module or distribution -> (status, alternatives of its first site)."""
    out = {u.module: (u.status.value, u.import_sites[0].alternatives) for u in analysis.unresolved}
    out.update({d.name: (d.status.value, d.import_sites[0].alternatives) for d in analysis.distributions})
    return out


def test_bare_mode_takes_the_preferred_alternative(tmp_path: Path) -> None:
    analysis = _analyze(tmp_path, GYM, _bare())
    assert _statuses(analysis) == {"gymnasium": ("required", ("gym",)), "gym": ("optional", ("gymnasium",))}
    # the job cannot start without one of them: said like any required import that is missing
    assert [d.message for d in analysis.diagnostics] == ["gymnasium is imported but not installed (guess: gymnasium)"]
    site = json.loads(render_json(analysis))["unresolved"][1]["import_sites"][0]
    assert (site["module"], site["status"], site["alternatives"]) == ("gymnasium", "required", ["gym"])


@pytest.mark.parametrize(
    ("source", "files", "expected"),
    [
        # a standard-library fallback: the job always starts, ujson stays optional
        ("try:\n    import ujson as json\nexcept ImportError:\n    import json\n", {}, {"ujson": ("optional", ("json",))}),
        # a local fallback ships with the job
        (
            "try:\n    import fastimpl\nexcept ImportError:\n    import slowimpl\n",
            {"slowimpl": ""},
            {"fastimpl": ("optional", ("slowimpl",))},
        ),
        # a standard-library preferred side (importlib.metadata on 3.8+): the backport is not needed
        (
            "try:\n    from importlib.metadata import version\nexcept ImportError:\n    from importlib_metadata import version\n",
            {},
            {"importlib_metadata": ("optional", ("importlib.metadata",))},
        ),
        # the fallback is needed by an unguarded import anyway: the job has it
        (
            "import numpy\ntry:\n    import torch\nexcept ImportError:\n    import numpy as torch\n",
            {},
            {"numpy": ("required", ()), "torch": ("optional", ("numpy",))},
        ),
        # the try's imports together are one side; a fallback in a function keeps its scope
        (
            "def load():\n    try:\n        import a\n        import b\n    except ImportError:\n        import c\n",
            {},
            {"a": ("required", ("c",)), "b": ("required", ("c",)), "c": ("optional", ("a", "b"))},
        ),
        # a type-only or inactive group stays so
        (
            "import sys\nif sys.platform == 'win32':\n    " + GYM.replace("\n", "\n    ").rstrip() + "\n",
            {},
            {"gymnasium": ("inactive", ("gym",)), "gym": ("inactive", ("gymnasium",))},
        ),
    ],
    ids=["stdlib-fallback", "local-fallback", "stdlib-preferred", "needed-elsewhere", "two-preferred", "inactive"],
)
def test_alternatives_already_there_change_nothing(
    tmp_path: Path, source: str, files: dict[str, str], expected: dict[str, tuple[str, tuple[str, ...]]]
) -> None:
    assert _statuses(_analyze(tmp_path, source, _bare(), **files)) == expected


@pytest.mark.slow
def test_installed_alternative_is_the_one_taken(tmp_path: Path, fixture_snapshot: Any) -> None:
    """The interpreter takes the try's import when it is installed, else the fallback's."""
    first = _analyze(tmp_path, "try:\n    import alpha_mod\nexcept ImportError:\n    import gym\n", fixture_snapshot)
    assert _statuses(first) == {"dist-alpha": ("required", ("gym",)), "gym": ("optional", ("alpha_mod",))}
    fallback = _analyze(tmp_path, "try:\n    import gymnasium\nexcept ImportError:\n    import alpha_mod\n", fixture_snapshot)
    assert _statuses(fallback) == {"dist-alpha": ("required", ("gymnasium",)), "gymnasium": ("optional", ("alpha_mod",))}
    assert fallback.diagnostics == ()  # nothing required is missing
    # a fallback the job always has: the installed preferred one is not needed
    warn = _analyze(tmp_path, "try:\n    import alpha_mod\nexcept ImportError:\n    import warnings\n", fixture_snapshot)
    assert _statuses(warn) == {"dist-alpha": ("optional", ("warnings",))}


# --- implied imports (data/implied_imports.txt) -------------------------------------------------------


def test_submodule_that_imports_another_distribution_bare(tmp_path: Path) -> None:
    source = (
        "from torch.utils.tensorboard import SummaryWriter\n"
        "from dask import dataframe, array\n"
        "try:\n    from jax.experimental import jax2tf\nexcept ImportError:\n    jax2tf = None\n"
        "import torch.utils.data\n"
    )
    analysis = _analyze(tmp_path, source, _bare())
    found = {u.module: (u.guess, u.status.value, [s.line for s in u.import_sites]) for u in analysis.unresolved}
    assert found == {
        "torch": ("torch", "required", [1, 7]),
        "tensorboard": ("tensorboard", "required", [1]),
        "dask": ("dask", "required", [2]),
        "pandas": ("pandas", "required", [2]),
        "numpy": ("numpy", "required", [2]),
        "jax": ("jax", "optional", [4]),
        "tensorflow": ("tensorflow", "optional", [4]),  # the site's status: optional here
    }
    tensorboard = next(u for u in analysis.unresolved if u.module == "tensorboard")
    assert (
        tensorboard.reason
        == "torch.utils.tensorboard imports tensorboard, a module of another distribution, which is not installed"
    )
    warnings = [d.message for d in analysis.diagnostics if d.message.startswith(("tensorboard", "pandas"))]
    assert warnings == [
        "tensorboard is imported but not installed (torch.utils.tensorboard imports it; guess: tensorboard)",
        "pandas is imported but not installed (dask.dataframe imports it; guess: pandas)",
    ]


def _dist(name: str, *modules: str) -> DistributionInfo:
    return DistributionInfo(
        name=dist_name(name),
        display_name=name,
        version="1.0",
        top_level=tuple(sorted({ModuleName(m.split(".")[0]) for m in modules})),
        modules=tuple(ModuleName(m) for m in modules),
    )


def test_submodule_that_imports_another_distribution_installed() -> None:
    """Installed, the implied module is named by RECORD ownership, like any import."""
    snapshot = EnvSnapshot(
        executable="/venv/bin/python",
        python_version="3.11.7",
        distributions=(
            _dist("torch", "torch", "torch.utils", "torch.utils.tensorboard"),
            _dist("tensorboard", "tensorboard"),
        ),
    )
    site = ImportSite(line=3, column=1, module=ModuleName("torch.utils.tensorboard"), names=("SummaryWriter",))
    resolution = Resolution(
        module="torch.utils.tensorboard",
        kind=ModuleKind.INSTALLED,
        reason="installed",
        file="/venv/site-packages/torch/utils/tensorboard/__init__.py",
        root="site",
    )
    graph = ImportGraph(
        entry_points=(),
        local_files=(),
        edges=(Edge(importer="train.py", site=site, resolution=resolution, active=True),),
        diagnostics=(),
    )
    analysis = classify(graph, snapshot, Target(python_version="3.11"))
    assert {d.name: (d.import_names, [str(s) for s in d.import_sites], d.status.value) for d in analysis.distributions} == {
        "tensorboard": (("tensorboard",), ["train.py:3"], "required"),
        "torch": (("torch.utils.tensorboard",), ["train.py:3"], "required"),
    }
    assert analysis.unresolved == ()
