"""The files a job reads or runs by path: extraction (datafiles.py), resolution against the
project (datapaths.py), and what `analyze` makes of them (walk, report, --explain)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.classify import Analysis
from envcapture.analysis.datapaths import DataFiles
from envcapture.analysis.entrypoints import find_entry_points
from envcapture.analysis.finder import ModuleFinder
from envcapture.analysis.imports import extract_source_facts
from envcapture.analysis.model import DataFile, FileReason, FileRef, FileUse
from envcapture.analysis.report import analysis_to_json, explain, render_plain
from envcapture.environment.model import EnvSnapshot

READ, EXEC, REL, DEFAULT = FileUse.READ, FileUse.EXEC, FileUse.FILE_RELATIVE, FileUse.DEFAULT
SNAPSHOT = EnvSnapshot(executable=sys.executable, python_version="3.11.7")


def refs(source: str) -> list[tuple[int, str, FileUse, str, bool]]:
    facts = extract_source_facts(textwrap.dedent(source), module="__main__", is_package=False)
    assert facts.error is None
    return [(r.line, r.path, r.use, r.how, r.from_file_dir) for r in facts.file_refs]


# --- extraction: source -> FileRef ----------------------------------------------------------------

FOUND = [
    ("exec(open('configurator.py').read())", (1, "configurator.py", EXEC, "exec(open(...))", False)),
    ("exec(compile(open('c.py').read(), 'c.py', 'exec'))", (1, "c.py", EXEC, "exec(open(...))", False)),
    ("from pathlib import Path\nexec(Path('c.py').read_text())", (2, "c.py", EXEC, "exec(Path(...).read_text())", False)),
    ("import runpy\nrunpy.run_path('tools/x.py')", (2, "tools/x.py", EXEC, "runpy.run_path", False)),
    ("from runpy import run_path\nrun_path('x.py')", (2, "x.py", EXEC, "run_path", False)),
    ("open('x.json')", (1, "x.json", READ, "open", False)),
    ("open('./cfg/../x.json', 'rb')", (1, "x.json", READ, "open", False)),
    ("import json\ncfg = json.load(open('x.json'))", (2, "x.json", READ, "json.load(open(...))", False)),
    ("import yaml\ny = yaml.safe_load(open('cfg/a.yaml'))", (2, "cfg/a.yaml", READ, "yaml.safe_load(open(...))", False)),
    ("from pathlib import Path\nPath('cfg/a.yaml').read_text()", (2, "cfg/a.yaml", READ, "Path(...).read_text()", False)),
    ("import pathlib\npathlib.Path('w.bin').read_bytes()", (2, "w.bin", READ, "Path(...).read_bytes()", False)),
    ("import numpy as np\nnp.load('x.npy')", (2, "x.npy", READ, "np.load", False)),
    ("import pandas as pd\npd.read_csv('data/x.csv', sep=';')", (2, "data/x.csv", READ, "pd.read_csv", False)),
    ("import torch\ntorch.load(f='ckpt.pt')", (2, "ckpt.pt", READ, "torch.load", False)),
    ("from PIL import Image\nImage.open('img.png')", (2, "img.png", READ, "Image.open", False)),
    ("import os\nopen(os.path.join('data', 'x.txt'))", (2, "data/x.txt", READ, "open", False)),
    (
        "from pathlib import Path\nm = Path(__file__).parent / 'assets' / 'mel.npz'",
        (2, "assets/mel.npz", REL, "__file__-relative", True),
    ),
    (
        "import os\nx = os.path.join(os.path.dirname(__file__), 'assets', 'x.npz')",
        (2, "assets/x.npz", REL, "__file__-relative", True),
    ),
    (
        "from pathlib import Path\nROOT = Path(__file__).resolve().parents[1]\nopen(ROOT / 'data' / 'coco.yaml')",
        (3, "../data/coco.yaml", READ, "open", True),
    ),
    (
        "import os\nHERE = os.path.dirname(__file__)\nNAME = 'v.txt'\ndef f():\n    return open(os.path.join(HERE, NAME))",
        (5, "v.txt", READ, "open", True),
    ),
    (
        "import argparse\np = argparse.ArgumentParser()\np.add_argument('--cfg', default='cfg/x.yaml')",
        (3, "cfg/x.yaml", DEFAULT, "argparse default", False),
    ),
    (
        "import click\n@click.command()\n@click.option('--c', default='cfg/c.yaml')\ndef main(c):\n    pass",
        (3, "cfg/c.yaml", DEFAULT, "click default", False),
    ),
    ("with open('a.txt') as f:\n    pass", (1, "a.txt", READ, "open", False)),
    ("import soundfile\nsoundfile.read('a.wav')", (2, "a.wav", READ, "soundfile.read", False)),
]


@pytest.mark.parametrize(("source", "expected"), FOUND, ids=[s.splitlines()[-1] for s, _ in FOUND])
def test_a_file_named_by_a_literal_path_is_found(source: str, expected: tuple[int, str, FileUse, str, bool]) -> None:
    assert refs(source) == [expected]


NOT_FOUND = [
    "open(name)",  # a variable
    "open(f'{run}/x.json')",  # an f-string
    "open('/etc/passwd')",  # absolute: not the project's
    "open('out.txt', 'w')",  # written, not read
    "open('log.txt', mode='a')",
    "from pathlib import Path\nPath('o.txt').open('w')",
    "import os, sys\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))",  # a sys.path addition
    "from pathlib import Path\nROOT = Path(__file__).parent",  # the file's own directory: no literal part
    "print('config.yaml')",  # a literal that no reader takes
    "import os\nD = 'a'\nD = 'b'\nopen(os.path.join(D, 'x'))",  # bound twice: unknown
    "import os\nD = 'a'\ndef f(D='c'):\n    D = 'd'\n    return open(D)",  # shadowed in a function
    "import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', default=3)",
    "exec(code)",
    "import numpy as np\nnp.save('x.npy', a)",
    # a reader named so commonly that only its module's name opens the statement to the walk
    "import soundfile as sf\nsf.read('a.wav')",
]


@pytest.mark.parametrize("source", NOT_FOUND)
def test_no_file_without_a_literal_read(source: str) -> None:
    assert refs(source) == []


def test_only_the_outermost_expression_counts() -> None:
    source = """\
        from pathlib import Path
        ASSETS = Path(__file__).parent / "assets"
        with open(ASSETS / "vocab" / "words.txt") as f:
            pass
        """
    assert refs(source) == [
        (2, "assets", REL, "__file__-relative", True),
        (3, "assets/vocab/words.txt", READ, "open", True),
    ]


def test_a_file_without_imports_is_read_for_its_file_references() -> None:
    """A module with no import statement still reads through the builtins (configurator-style)."""
    assert refs("cfg = open('cfg/a.yaml').read()\nexec(open('more.py').read())\n") == [
        (1, "cfg/a.yaml", READ, "open", False),
        (2, "more.py", EXEC, "exec(open(...))", False),
    ]


# --- cmd arguments ----------------------------------------------------------------------------------

PROJECT_FILES = frozenset({"train.py", "config/train_x.py", "models/yolov5n.yaml", "cfg/a.yaml", "data"})


@pytest.mark.parametrize(
    ("cmd", "named"),
    [
        ("python train.py --cfg models/yolov5n.yaml", ("models/yolov5n.yaml",)),
        ("python train.py --cfg=models/yolov5n.yaml", ("models/yolov5n.yaml",)),
        ("python train.py config/train_x.py", ("config/train_x.py",)),
        ("cd config && python ../train.py train_x.py", ("config/train_x.py",)),
        ("python train.py --cfg ${CFG} --other gone.yaml -x ../cfg/a.yaml", ()),
        ("cat cfg/a.yaml && python train.py", ()),  # not an argument of a Python command
    ],
)
def test_cmd_arguments_name_project_files(cmd: str, named: tuple[str, ...]) -> None:
    assert find_entry_points(cmd, project_files=PROJECT_FILES).named_files == named


# --- resolution against the project -----------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _ref(path: str, use: FileUse = READ, *, rel: bool = False, line: int = 3) -> FileRef:
    return FileRef(line=line, path=path, use=use, how="open", from_file_dir=rel)


def test_paths_resolve_as_the_target_resolves_them(tmp_path: Path) -> None:
    project = _tree(tmp_path / "p", {"cfg/a.yaml": "", "pkg/assets/v.json": "", "pkg/m.py": "", "pkg/cfg/a.yaml": ""})
    (project / "pkg" / "assets" / "sub").mkdir()
    data = DataFiles(project, ModuleFinder().entry_kind)
    assert data.add_ref("pkg/m.py", _ref("cfg/a.yaml")) == "cfg/a.yaml"  # the working directory, not pkg/
    assert data.add_ref("pkg/m.py", _ref("cfg/a.yaml", rel=True)) == "pkg/cfg/a.yaml"  # next to the file
    assert data.add_ref("pkg/m.py", _ref("assets", REL, rel=True)) == "pkg/assets"  # a directory, from __file__
    assert data.add_ref("pkg/m.py", _ref("pkg/assets")) is None  # a directory from the cwd: no
    assert data.add_ref("pkg/m.py", _ref(".", REL, rel=True)) is None  # its own directory
    assert data.add_ref("pkg/m.py", _ref("..", REL, rel=True)) is None  # the project
    assert data.add_ref("pkg/m.py", _ref("../cfg/a.yaml", rel=True)) == "cfg/a.yaml"
    assert data.add_ref("pkg/m.py", _ref("../../outside.txt", rel=True)) is None
    assert data.add_ref("pkg/m.py", _ref("gone.yaml")) is None
    found = {f.path: f for f in data.data_files()}
    assert sorted(found) == ["cfg/a.yaml", "pkg/assets", "pkg/cfg/a.yaml"]
    assert found["pkg/assets"].is_dir and found["pkg/assets"].ships
    assert [str(r) for r in found["cfg/a.yaml"].reasons] == [
        "read by pkg/m.py:3 (open)",
        "read by pkg/m.py:3 (open, __file__-relative)",
    ]


def test_left_out_files_say_why(tmp_path: Path) -> None:
    project = _tree(
        tmp_path / "p",
        {
            ".env": "",
            "keys/id_rsa": "",
            ".git/config": "",
            "venv/pyvenv.cfg": "",
            "venv/data.txt": "",
            "data/x.csv": "",
            "p.json": "",
        },
    )
    data = DataFiles(project, ModuleFinder().entry_kind, inputs=["data/", "./p.json"])
    for path in (".env", "keys/id_rsa", ".git/config", "venv/data.txt", "data/x.csv", "p.json"):
        assert data.add_ref("main.py", _ref(path)) == path
    data.add_named("p.json")
    left_out = {f.path: f.left_out for f in data.data_files()}
    assert left_out == {
        ".env": "dotenv",
        ".git/config": "vcs-metadata",
        "data/x.csv": "job-input",
        "keys/id_rsa": "private-key",
        "p.json": "job-input",
        "venv/data.txt": "virtualenv",
    }


def test_a_symlink_out_of_the_project_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.bin").write_text("x")
    project = _tree(tmp_path / "p", {"main.py": ""})
    os.symlink(tmp_path / "elsewhere.bin", project / "big.bin")
    data = DataFiles(project, ModuleFinder().entry_kind)
    assert data.add_ref("main.py", _ref("big.bin")) is None
    assert data.data_files() == ()
    (note,) = data.diagnostics
    assert (note.file, note.line, note.code) == ("main.py", 3, "data-file-outside-project")
    assert "main.py:3 reads big.bin, a symlink that leads out of the project" in note.message


def test_reasons_read_as_the_report_shows_them() -> None:
    assert str(FileReason(use=FileUse.CMD, how="named in cmd")) == "named in cmd"
    assert str(FileReason(use=EXEC, how="exec(open(...))", file="train.py", line=12)) == "read by train.py:12 (exec(open(...)))"
    assert str(FileReason(use=REL, how="__file__-relative", file="a/b.py", line=4, from_file_dir=True)) == (
        "read by a/b.py:4 (__file__-relative)"
    )
    assert str(FileReason(use=DEFAULT, how="argparse default", file="t.py", line=8)) == "named by t.py:8 (argparse default)"


# --- analyze: the walk, the report, --explain ---------------------------------------------------------

JOB = {
    "train.py": """\
        import argparse
        batch = 1
        exec(open("configurator.py").read())
        parser = argparse.ArgumentParser()
        parser.add_argument("--model", default="cfg/model.yaml")
        token = open(".env").read()
        tokens = open("data/tokens.txt").read()
        """,
    "configurator.py": "import helper\nbatch = helper.BATCH\nextra = open('cfg/extra.txt').read()\n",
    "cfg/extra.txt": "x\n",
    "helper.py": "BATCH = 7\n",
    "config/train_x.py": "batch = 8\n",
    "cfg/model.yaml": "layers: 2\n",
    "cfg/data.yaml": "name: tiny\n",
    "data/tokens.txt": "a b\n",
    ".env": "A=1\n",
}
CONFIG = {
    "cmd": "python train.py config/train_x.py --data cfg/data.yaml",
    "inputs": ["data/tokens.txt"],
    "env": {"python": "auto"},
}


def _job(root: Path) -> Path:
    return _tree(root, {rel: textwrap.dedent(text) for rel, text in JOB.items()})


def _analyze(project: Path) -> Analysis:
    options = AnalysisOptions(use_cache=False)
    return analyze(config=CONFIG, project=project, options=options, snapshot=SNAPSHOT)


def test_analyze_ships_what_the_job_reads_with_its_reasons(tmp_path: Path) -> None:
    analysis = _analyze(_job(tmp_path / "job"))
    assert render_plain(analysis).splitlines()[2:14] == [
        "Local files to ship (7):",
        "cfg/data.yaml  named in cmd",
        "cfg/extra.txt  read by configurator.py:3 (open)",
        "cfg/model.yaml  named by train.py:5 (argparse default)",
        "config/train_x.py  named in cmd",
        "configurator.py  read by train.py:3 (exec(open(...)))",
        "helper.py  reached from configurator.py:1",  # imported by the file train.py runs
        "train.py  entry point",
        "Read by the job, not shipped (2):",
        ".env  read by train.py:6 (open)  [never ships (dotenv)]",
        "data/tokens.txt  read by train.py:7 (open)  [a job input: it travels in inputs]",
        "Distributions (0):",
    ]


def test_json_lists_each_data_file(tmp_path: Path) -> None:
    doc = analysis_to_json(_analyze(_job(tmp_path / "job")))
    assert doc["schema_version"] == "1.3"
    configurator = next(f for f in doc["data_files"] if f["path"] == "configurator.py")
    assert configurator == {
        "path": "configurator.py",
        "kind": "file",
        "ships": True,
        "left_out": None,
        "analysed": True,
        "reasons": [
            {
                "use": "exec",
                "how": "exec(open(...))",
                "file": "train.py",
                "line": 3,
                "from_file_dir": False,
                "text": "read by train.py:3 (exec(open(...)))",
            }
        ],
    }
    assert "helper.py" in doc["local_files"]


def test_explain_a_file_read_by_path(tmp_path: Path) -> None:
    analysis = _analyze(_job(tmp_path / "job"))
    assert explain(analysis, "configurator.py") == [
        "configurator.py ships as local code (and is analysed as Python: its imports count) because:",
        "  train.py is an entry point",
        "  train.py:3 reads configurator.py (exec(open(...)))",
    ]
    assert explain(analysis, "cfg/data.yaml") == ["cfg/data.yaml ships as local code because:", "  cmd names cfg/data.yaml"]
    assert explain(analysis, ".env") == [
        ".env does not ship (dotenv: such files never leave the machine); the job reads it:",
        "  train.py is an entry point",
        "  train.py:6 reads .env (open)",
    ]
    assert explain(analysis, "cfg/extra.txt") == [
        "cfg/extra.txt ships as local code because:",
        "  train.py is an entry point",
        "  train.py:3 reads configurator.py (exec(open(...)))",
        "  configurator.py:3 reads cfg/extra.txt (open)",
    ]
    assert explain(analysis, "helper.py") == [
        "helper.py ships as local code because:",
        "  train.py is an entry point",
        "  train.py:3 reads configurator.py (exec(open(...)))",
        "  configurator.py:1 imports helper (helper.py)",
    ]


def test_data_file_model_says_whether_it_ships() -> None:
    reason = FileReason(use=READ, how="open", file="a.py", line=1)
    assert DataFile(path="x", reasons=(reason,)).ships
    assert not DataFile(path="x", reasons=(reason,), left_out="dotenv").ships
