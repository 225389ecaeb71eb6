"""Entry points as Python runs them (envcapture/analysis/entries.py) and the target's sys.path
(the fallback-import rule of envcapture/analysis/walk.py), on real project trees.

Each project is written into a temporary directory and analysed against the real
environment of this interpreter (or, for the installed-project case, a real virtualenv
with ``pip install -e``).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import make_venv, pip_install

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.classify import Analysis
from envcapture.analysis.entries import NO_ENTRY_POINT, entry_points_for, missing_entry_scripts
from envcapture.analysis.model import EntryKind, EntryPoint
from envcapture.analysis.walk import FALLBACK_IMPORT
from envcapture.config.loader import load_config
from envcapture.environment.model import EnvSnapshot
from envcapture.environment.snapshot import snapshot_environment
from envcapture.errors import InputError
from envcapture.model import Severity


@pytest.fixture(scope="module")
def here() -> EnvSnapshot:
    """The environment of this interpreter: none of the projects below is installed in it."""
    return snapshot_environment(sys.executable)


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), "utf-8")
    return root


def run(project: Path, snapshot: EnvSnapshot, *entries: str, config: str | None = None) -> Analysis:
    options = AnalysisOptions(use_cache=False, jobs=1)
    job = project / config if config else None
    return analyze(entries, config=job, project=project, options=options, snapshot=snapshot)


def files(analysis: Analysis) -> list[str]:
    return [f.path for f in analysis.local_files]


def diags(analysis: Analysis, code: str) -> list[Any]:
    return [d for d in analysis.diagnostics if d.code == code]


WHISPER = {
    "whisper/__init__.py": "from .model import load\n",
    "whisper/__main__.py": "from .transcribe import cli\n\ncli()\n",
    "whisper/transcribe.py": "import json\nfrom . import utils\n\n\ndef cli():\n    pass\n",
    "whisper/model.py": "def load():\n    pass\n",
    "whisper/utils.py": "X = 1\n",
    "whisper/unused.py": "import nothing_at_all\n",
}


# --- a package's __main__.py or __init__.py is the package ----------------------------------------


@pytest.mark.parametrize("given", ["whisper/__main__.py", "whisper/__init__.py", "whisper"])
def test_package_entry_is_analysed_as_python_dash_m(tmp_path: Path, here: EnvSnapshot, given: str) -> None:
    project = write(tmp_path, WHISPER)
    if given == "whisper":  # a directory: python runs its __main__.py as a script
        analysis = run(project, here, given)
        assert [str(e) for e in analysis.entry_points] == ["whisper/__main__.py"]
        assert files(analysis) == ["whisper/__main__.py"]  # `from .transcribe` fails, as in Python
        (note,) = diags(analysis, "entry-point-directory")
        assert note.severity is Severity.INFO and "relative imports in it fail" in note.message
        return
    analysis = run(project, here, given)
    assert [str(e) for e in analysis.entry_points] == ["-m whisper"]
    assert files(analysis) == [
        "whisper/__init__.py",
        "whisper/__main__.py",
        "whisper/model.py",
        "whisper/transcribe.py",
        "whisper/utils.py",
    ]
    (note,) = diags(analysis, "entry-point-package")
    assert note.severity is Severity.INFO
    assert note.message == f"{given} is the package whisper: analysed as `python -m whisper`, so its relative imports resolve"
    assert [d for d in analysis.diagnostics if d.severity is not Severity.INFO] == []


def test_package_without_main_is_imported(tmp_path: Path, here: EnvSnapshot) -> None:
    project = write(tmp_path, {k: v for k, v in WHISPER.items() if not k.endswith("__main__.py")})
    analysis = run(project, here, "whisper/__init__.py")
    (entry,) = analysis.entry_points
    assert (entry.kind, entry.target, entry.runs_main) == (EntryKind.MODULE, "whisper", False)
    assert files(analysis) == ["whisper/__init__.py", "whisper/model.py"]
    assert "`import whisper` (it has no __main__.py)" in diags(analysis, "entry-point-package")[0].message
    assert diags(analysis, "entry-point-missing") == []  # not "package has no __main__ module"


def test_nested_package_entry_gets_its_root_on_the_path(tmp_path: Path, here: EnvSnapshot) -> None:
    project = write(
        tmp_path,
        {
            "src/tool/__init__.py": "",
            "src/tool/cli/__init__.py": "",
            "src/tool/cli/__main__.py": "from ..core import go\nfrom tool.core import go as again\n",
            "src/tool/core.py": "def go():\n    pass\n",
        },
    )
    analysis = run(project, here, "src/tool/cli/__main__.py")
    (entry,) = analysis.entry_points
    assert (str(entry), entry.pythonpath) == ("-m tool.cli", ("src",))
    assert files(analysis) == ["src/tool/__init__.py", "src/tool/cli/__init__.py", "src/tool/cli/__main__.py", "src/tool/core.py"]
    assert "with src on sys.path" in diags(analysis, "entry-point-package")[0].message
    assert diags(analysis, FALLBACK_IMPORT) == []


def test_package_main_in_cmd_and_root_paths(tmp_path: Path, here: EnvSnapshot) -> None:
    project = write(
        tmp_path,
        {
            **WHISPER,
            "config.yaml": """\
                cmd: python whisper/__main__.py audio.wav
                env:
                  python:
                    type: auto
                    root-paths: [whisper/__init__.py]
                """,
        },
    )
    analysis = run(project, here, config="config.yaml")
    assert [str(e) for e in analysis.entry_points] == ["-m whisper"]  # one entry: the package
    assert "whisper/transcribe.py" in files(analysis)
    warning = next(d for d in diags(analysis, "entry-point-package") if d.severity is Severity.WARNING)
    assert warning.message == (
        "cmd runs whisper/__main__.py as a plain script, where relative imports fail and whisper is not "
        "importable unless installed; it is analysed as `python -m whisper`: write that in cmd"
    )


def test_directory_in_cmd_runs_its_main_as_a_script(tmp_path: Path, here: EnvSnapshot) -> None:
    project = write(
        tmp_path,
        {
            "app/__main__.py": "import helper\nimport json\n",  # sys.path[0] is app/
            "app/helper.py": "X = 1\n",
            "config.yaml": "cmd: python app --x 1\nenv:\n  python: auto\n",
        },
    )
    analysis = run(project, here, config="config.yaml")
    assert [str(e) for e in analysis.entry_points] == ["app/__main__.py"]
    assert files(analysis) == ["app/__main__.py", "app/helper.py"]
    assert [d for d in analysis.diagnostics if d.severity is not Severity.INFO] == []


def test_directory_without_main_is_refused(tmp_path: Path) -> None:
    project = write(tmp_path, {"lib/a.py": ""})
    with pytest.raises(InputError, match=r"^lib: a directory without __main__.py, which Python cannot run$"):
        entry_points_for(None, ["lib"], project)


# --- shebang scripts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shebang", "python"),
    [
        ("#!/usr/bin/env python3", True),
        ("#!/usr/bin/env python", True),
        ("#!/usr/bin/env -S python3.11 -u", True),
        ("#!/opt/venv/bin/python3", True),
        ("#! /usr/bin/python3 -O", True),
        ("#!/bin/sh", False),
        ("#!/usr/bin/env bash", False),
        ("# no shebang", False),
    ],
)
def test_extensionless_shebang_script_in_cmd(tmp_path: Path, here: EnvSnapshot, shebang: str, python: bool) -> None:
    project = write(
        tmp_path,
        {
            "bin/train": f"{shebang}\nimport json\nimport mylib\n",
            "bin/mylib.py": "X = 1\n",
            "config.yaml": "cmd: ./bin/train --epochs 1\nenv:\n  python: auto\n",
        },
    )
    analysis = run(project, here, config="config.yaml")
    if python:
        assert [str(e) for e in analysis.entry_points] == ["bin/train"]
        assert files(analysis) == ["bin/mylib.py", "bin/train"]
    else:
        assert analysis.entry_points == ()
        assert [d.code for d in analysis.diagnostics] == ["unanalysed-script"]


# --- cmd: | ---------------------------------------------------------------------------------------


def test_every_line_of_a_literal_cmd_is_analysed(tmp_path: Path, here: EnvSnapshot) -> None:
    project = write(
        tmp_path,
        {
            **WHISPER,
            "prep.py": "import prep_lib\n",
            "prep_lib.py": "",
            "train.py": "import json\n",
            "config.yaml": """\
                cmd: |
                  mkdir -p out
                  python prep.py --out out
                  python train.py
                  python -m whisper
                env:
                  python: auto
                """,
        },
    )
    config = load_config(project / "config.yaml")
    assert config.cmd == "mkdir -p out\npython prep.py --out out\npython train.py\npython -m whisper"
    analysis = run(project, here, config="config.yaml")
    assert [str(e) for e in analysis.entry_points] == ["prep.py", "train.py", "-m whisper"]
    assert {"prep_lib.py", "train.py", "whisper/transcribe.py"} <= set(files(analysis))


# --- refusals: missing scripts, no entry point ----------------------------------------------------


def test_missing_entry_scripts_are_located_in_the_config(tmp_path: Path) -> None:
    project = write(
        tmp_path,
        {
            "train.py": "",
            "lib/x.py": "",
            "config.yaml": """\
                name: job
                cmd: |
                  mkdir -p out
                  python train.py && python ./eval.py
                  (cd sub && python run.py)
                  python lib --x
                  python -m not.checked
                env:
                  python: auto
                """,
        },
    )
    config = load_config(project / "config.yaml")
    problems = [str(p) for p in missing_entry_scripts(config, project.resolve())]
    source = str(project / "config.yaml")
    assert problems == [
        f"{source}:4:29: cmd: 'eval.py' does not exist (looked in {project.resolve()}) (cmd runs it from the config's directory)",
        f"{source}:5:21: cmd: 'sub/run.py' does not exist (looked in {project.resolve()}) (cmd runs it from the config's directory)",
        f"{source}:6:10: cmd: 'lib' is a directory without __main__.py, which Python cannot run "
        "(cmd runs it from the config's directory)",
    ]


def test_python_job_without_entry_point_is_an_error(tmp_path: Path, here: EnvSnapshot) -> None:
    project = write(tmp_path, {"config.yaml": "cmd: python -c 'import json'\nenv:\n  python: auto\n"})
    analysis = run(project, here, config="config.yaml")
    (error,) = diags(analysis, NO_ENTRY_POINT)
    assert error.severity is Severity.ERROR and "env.python.root-paths" in error.message
    plain = write(tmp_path / "plain", {"config.yaml": "cmd: python -c 'import json'\n"})
    assert diags(run(plain, here, config="config.yaml"), NO_ENTRY_POINT) == []  # plain: no Python environment


# --- the target's sys.path, exactly ---------------------------------------------------------------

SUBDIR_SCRIPT = {
    "mypkg/__init__.py": "",
    "mypkg/core.py": "X = 1\n",
    "scripts/train.py": """\
        import mypkg.core
        try:
            import mypkg.optional_bits
        except ImportError:
            pass


        def later():
            from mypkg import core
        """,
    "mypkg/optional_bits.py": "",
}


def test_import_through_the_project_root_from_a_subdirectory_is_an_error(tmp_path: Path, here: EnvSnapshot) -> None:
    project = write(tmp_path, SUBDIR_SCRIPT)
    analysis = run(project, here, "scripts/train.py")
    assert "mypkg/core.py" in files(analysis)  # it ships, but the import fails on the target
    found = {(d.file, d.line, d.severity) for d in diags(analysis, FALLBACK_IMPORT)}
    assert found == {
        ("scripts/train.py", 1, Severity.ERROR),
        ("scripts/train.py", 3, Severity.WARNING),
        ("scripts/train.py", 9, Severity.WARNING),
    }
    error = next(d for d in diags(analysis, FALLBACK_IMPORT) if d.severity is Severity.ERROR)
    assert error.message == (
        "import mypkg.core is found only in the project directory, which is not on sys.path when the job runs "
        "(it searches scripts/ first, then the installed packages): add PYTHONPATH=. to cmd, "
        "or install the project (pip install -e .)"
    )


@pytest.mark.parametrize(
    "cmd",
    [
        "PYTHONPATH=. python scripts/train.py",
        "export PYTHONPATH=.\npython scripts/train.py",
        "cd scripts && PYTHONPATH=.. python train.py",
    ],
)
def test_pythonpath_in_cmd_is_the_fix(tmp_path: Path, here: EnvSnapshot, cmd: str) -> None:
    project = write(tmp_path, SUBDIR_SCRIPT)
    (project / "config.yaml").write_text("cmd: |\n" + textwrap.indent(cmd, "  ") + "\nenv:\n  python: auto\n")
    analysis = run(project, here, config="config.yaml")
    assert [e.target for e in analysis.entry_points] == ["scripts/train.py"]
    assert diags(analysis, FALLBACK_IMPORT) == []
    assert "mypkg/core.py" in files(analysis)


def test_src_layout_module_without_pythonpath_is_an_error(tmp_path: Path, here: EnvSnapshot) -> None:
    project = write(
        tmp_path, {"src/mypkg/__init__.py": "", "src/mypkg/__main__.py": "from mypkg import core\n", "src/mypkg/core.py": ""}
    )
    error, site = diags(run(project, here, "-m mypkg"), FALLBACK_IMPORT)
    assert (error.severity, site.severity) == (Severity.ERROR, Severity.ERROR)
    assert (site.file, site.line) == ("src/mypkg/__main__.py", 1)
    assert error.message == (
        "-m mypkg is found only in src/, which is not on sys.path when the job runs: "
        "add PYTHONPATH=src to cmd, or install the project (pip install -e .)"
    )
    write(project, {"config.yaml": "cmd: PYTHONPATH=src python -m mypkg\nenv:\n  python: auto\n"})
    assert diags(run(project, here, config="config.yaml"), FALLBACK_IMPORT) == []


@pytest.mark.slow  # makes a virtualenv and pip-installs the project
def test_installed_project_needs_no_pythonpath(tmp_path: Path) -> None:
    """``pip install -e .`` puts the project on sys.path: the import works, nothing to fix."""
    project = write(
        tmp_path / "project",
        {
            **{f"src/{k}": v for k, v in SUBDIR_SCRIPT.items() if k.startswith("mypkg/")},
            "scripts/train.py": "import mypkg.core\n",
            "pyproject.toml": """\
                [build-system]
                requires = ["setuptools"]
                build-backend = "setuptools.build_meta"

                [project]
                name = "mypkg"
                version = "0.1.0"

                [tool.setuptools]
                package-dir = { "" = "src" }
                packages = ["mypkg"]
                """,
        },
    )
    python = make_venv(tmp_path / "venv")
    pip_install(python, "--no-deps", "-e", project)
    analysis = run(project, snapshot_environment(str(python)), "scripts/train.py")
    assert diags(analysis, FALLBACK_IMPORT) == []
    assert "src/mypkg/core.py" in files(analysis)


def test_entry_point_model_defaults() -> None:
    assert EntryPoint(kind=EntryKind.MODULE, target="x").runs_main is True
