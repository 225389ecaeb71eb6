"""Tests for envcapture.analysis.entrypoints: cmd text -> entry points, diagnostics, errors."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envcapture.analysis.entrypoints import (
    LAUNCHER_DISTRIBUTIONS,
    CommandAnalysis,
    entry_points_from_root_paths,
    find_entry_points,
)
from envcapture.analysis.model import EntryKind, EntryPoint
from envcapture.errors import CommandError, ConfigError, InputError
from envcapture.model import Severity

PROJECT = frozenset(
    {"main.py", "other.py", "train.py", "tool.py", "run.sh", "bin/tool", "src/main.py", "src/other.py", "cfg/other.py"}
)


def S(target: str, **kw: Any) -> EntryPoint:
    return EntryPoint(kind=EntryKind.SCRIPT, target=target, **kw)


def M(target: str, **kw: Any) -> EntryPoint:
    return EntryPoint(kind=EntryKind.MODULE, target=target, **kw)


PY = {"interpreter": "python"}
PY3 = {"interpreter": "python3"}

CASES = [
    # --- the platform's own examples -------------------------------------------------------
    (
        "python3 src/main.py --params ${PARAMS} --features ${conn}/features.tsv --model ${MODEL} --epochs 5",
        [S("src/main.py", **PY3)],
    ),
    ("python3 src/main.py\n  --params ${PARAMS}\n  --epochs 5\n", [S("src/main.py", **PY3)]),
    ("python main.py other.py", [S("main.py", **PY), S("other.py")]),
    ("deepspeed main.py --num_gpus=1 --deepspeed_stage 2 --apply_lora True", [S("main.py", launcher="deepspeed")]),
    # --- interpreters and their options --------------------------------------------------------
    ("python main.py", [S("main.py", **PY)]),
    ("python3.10 main.py", [S("main.py", interpreter="python3.10")]),
    ("/path/to/venv/bin/python main.py", [S("main.py", interpreter="/path/to/venv/bin/python")]),
    (".venv/bin/python3 -u -OO -B main.py", [S("main.py", interpreter=".venv/bin/python3")]),
    ("python -uB -X importtime -Xdev -W ignore -Werror --check-hash-based-pycs always main.py", [S("main.py", **PY)]),
    ("python -s -S -E -I -v -q -b -O main.py", [S("main.py", **PY)]),
    ("python -- main.py --x", [S("main.py", **PY)]),
    ("python ./src/main.py", [S("src/main.py", **PY)]),
    ("python3 main.py \\\n  --epochs 5", [S("main.py", **PY3)]),
    # --- python -m ---------------------------------------------------------------------------------
    ("python -m pkg.mod --x 1", [M("pkg.mod", **PY)]),
    ("python -mpkg.mod", [M("pkg.mod", **PY)]),
    ("python3 -um pkg.mod other.py", [M("pkg.mod", **PY3), S("other.py")]),
    (
        "python -m torch.distributed.run --nproc_per_node=2 --nnodes 1 train.py --lr 0.1",
        [S("train.py", launcher="python -m torch.distributed.run", **PY)],
    ),
    (
        "python -m torch.distributed.launch --use_env --nproc_per_node 8 train.py",
        [S("train.py", launcher="python -m torch.distributed.launch", **PY)],
    ),
    (
        "python -m accelerate.commands.launch --num_processes 2 train.py",
        [S("train.py", launcher="python -m accelerate.commands.launch", **PY)],
    ),
    (
        "python -m deepspeed.launcher.runner --num_gpus 1 main.py",
        [S("main.py", launcher="python -m deepspeed.launcher.runner", **PY)],
    ),
    ("python -m cProfile -o prof.out -s time main.py", [S("main.py", launcher="python -m cProfile", **PY)]),
    ("python -m pip install -r requirements.txt && python main.py", [S("main.py", **PY)]),
    # --- environment prefixes ----------------------------------------------------------------
    ("PYTHONPATH=. CUDA_VISIBLE_DEVICES=0 python train.py", [S("train.py", pythonpath=(".",), **PY)]),
    ("PYTHONPATH=src:lib:$PYTHONPATH python -m app", [M("app", pythonpath=("src", "lib"), **PY)]),
    ("env A=B PYTHONPATH=src python main.py", [S("main.py", pythonpath=("src",), **PY)]),
    ("env -u X -i python main.py", [S("main.py", **PY)]),
    ("env -C src python main.py", [S("src/main.py", **PY)]),
    ("export PYTHONPATH=lib && cd src && python -m app", [M("app", pythonpath=("src/lib",), **PY)]),
    # --- launchers that take a script ------------------------------------------------------
    ("deepspeed --num_gpus=1 main.py", [S("main.py", launcher="deepspeed")]),
    (
        "deepspeed --num_gpus 2 --hostfile hosts --master_port 29500 --include localhost:0 main.py --x 1",
        [S("main.py", launcher="deepspeed")],
    ),
    ("deepspeed --module pkg.train", [M("pkg.train", launcher="deepspeed")]),
    ("torchrun --nproc_per_node=4 train.py", [S("train.py", launcher="torchrun")]),
    ("torchrun --nproc-per-node 4 --nnodes 1 train.py", [S("train.py", launcher="torchrun")]),
    ("torchrun --standalone -m pkg.train --epochs 1", [M("pkg.train", launcher="torchrun")]),
    ("torchrun --some-new-option 3 train.py", [S("train.py", launcher="torchrun")]),
    ("accelerate launch --num_processes 2 train.py", [S("train.py", launcher="accelerate launch")]),
    ("accelerate launch --config_file cfg.yaml train.py --lr 1", [S("train.py", launcher="accelerate launch")]),
    ("accelerate launch --multi_gpu -m pkg.train", [M("pkg.train", launcher="accelerate launch")]),
    ("uv run --with torch train.py", [S("train.py", launcher="uv run")]),
    # --- launchers and wrappers that take a command --------------------------------------------
    ("horovodrun -np 4 python train.py", [S("train.py", launcher="horovodrun", **PY)]),
    ("mpirun -np 4 --allow-run-as-root -H host1,host2 python train.py", [S("train.py", launcher="mpirun", **PY)]),
    ("mpirun -n 4 --mca btl ^openib -x LD_LIBRARY_PATH python train.py", [S("train.py", launcher="mpirun", **PY)]),
    ("mpirun -np 2 ./train.py", [S("train.py", launcher="mpirun")]),
    ("srun -N 1 --ntasks=4 python train.py", [S("train.py", launcher="srun", **PY)]),
    ("nohup python main.py > out.log 2>&1 &", [S("main.py", **PY)]),
    ("time python main.py", [S("main.py", **PY)]),
    ("nice -n 10 python main.py", [S("main.py", **PY)]),
    ("nice -10 python main.py", [S("main.py", **PY)]),
    ("exec python main.py", [S("main.py", **PY)]),
    ("timeout 3600 python main.py", [S("main.py", **PY)]),
    ("timeout -s KILL 1h python main.py", [S("main.py", **PY)]),
    ("stdbuf -oL python main.py | tee log.txt", [S("main.py", **PY)]),
    ("taskset -c 0-3 python main.py", [S("main.py", **PY)]),
    ("sudo -E python main.py", [S("main.py", **PY)]),
    ("conda run -n env --no-capture-output python main.py", [S("main.py", **PY)]),
    ("poetry run python main.py", [S("main.py", **PY)]),
    # --- shell wrappers, lists, pipelines, redirections, cd ------------------------------------
    ('bash -c "python main.py && python other.py"', [S("main.py", **PY), S("other.py", **PY)]),
    ("sh -c 'cd src && python main.py'", [S("src/main.py", **PY)]),
    ("bash -lc 'python -m app'", [M("app", **PY)]),
    ("bash -euxo pipefail -c 'python main.py | tee log'", [S("main.py", **PY)]),
    (
        "python main.py && python other.py || python train.py ; python tool.py",
        [S("main.py", **PY), S("other.py", **PY), S("train.py", **PY), S("tool.py", **PY)],
    ),
    ("python main.py < in.txt 2>> err.log", [S("main.py", **PY)]),
    ("cd src && python main.py", [S("src/main.py", **PY)]),
    ("cd src && python main.py other.py", [S("src/main.py", **PY), S("src/other.py")]),
    ("(cd src && python main.py); python main.py", [S("src/main.py", **PY), S("main.py", **PY)]),
    ("cd src; cd ..; python main.py", [S("main.py", **PY)]),
    ("eval 'python main.py'", [S("main.py", **PY)]),
    # --- .py files passed to other programs; direct execution ------------------------------------
    ("python main.py --config other.py", [S("main.py", **PY), S("other.py")]),
    ("python main.py --config=cfg/other.py", [S("main.py", **PY), S("cfg/other.py")]),
    ("python main.py task=other.py", [S("main.py", **PY), S("other.py")]),
    ("python main.py notes.py ${X}/other.py", [S("main.py", **PY)]),
    ("./train.py --epochs 3", [S("train.py")]),
    ("tool.py --x", [S("tool.py")]),
    ("src/main.py", [S("src/main.py")]),
    # --- comments and duplicates -----------------------------------------------------------
    ("python main.py  # was: python other.py", [S("main.py", **PY)]),
    ("python main.py --tag=a#b", [S("main.py", **PY)]),
    ("python main.py && python3 main.py", [S("main.py", **PY)]),
]


@pytest.mark.parametrize(("cmd", "expected"), CASES, ids=[c for c, _ in CASES])
def test_entry_points(cmd: str, expected: list[EntryPoint]) -> None:
    analysis = find_entry_points(cmd, project_files=PROJECT)
    assert list(analysis.entry_points) == expected
    assert analysis.is_python
    assert [d for d in analysis.diagnostics if d.severity is not Severity.INFO] == []


def test_case_table_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_source_is_recorded() -> None:
    analysis = find_entry_points("python main.py", source="cli")
    assert analysis.entry_points == (S("main.py", source="cli", **PY),)


def test_analysis_pythonpath_collects_every_command() -> None:
    analysis = find_entry_points("PYTHONPATH=src python a.py && cd x && PYTHONPATH=.:/opt/lib python b.py")
    assert analysis.pythonpath == ("src", "x", "/opt/lib")
    assert isinstance(analysis, CommandAnalysis)


def test_project_files_decide_arguments_only() -> None:
    assert find_entry_points("python main.py other.py").entry_points == (S("main.py", **PY),)
    # a script in the script position is an entry point whether listed or not
    assert find_entry_points("python gone.py", project_files=PROJECT).entry_points == (S("gone.py", **PY),)


def test_launchers_have_distributions() -> None:
    for cmd in ("torchrun t.py", "deepspeed t.py", "accelerate launch t.py", "horovodrun python t.py"):
        (entry,) = find_entry_points(cmd).entry_points
        assert entry.launcher in LAUNCHER_DISTRIBUTIONS


# --- diagnostics --------------------------------------------------------------------------------

UNDECIDED = [
    "python ${SCRIPT}",
    "python3 ${conn}/main.py",
    "cd ${VAR} && python main.py",
    "cd && python main.py",
    "python -m ${MODULE}",
    "${PYTHON} main.py",
    "torchrun --some-new-option 3 pkg",
    "accelerate launch --weird",
]


@pytest.mark.parametrize("cmd", UNDECIDED)
def test_undecided_names_root_paths(cmd: str) -> None:
    analysis = find_entry_points(cmd, project_files=PROJECT)
    assert analysis.entry_points == ()
    (diag,) = analysis.diagnostics
    assert diag.code == "undecided-entry-point"
    assert diag.severity is Severity.WARNING
    assert "env.python.root-paths" in diag.message
    assert "\n" not in diag.message


def test_undecided_keeps_the_decidable_part() -> None:
    analysis = find_entry_points("python main.py && cd $D && python other.py")
    assert analysis.entry_points == (S("main.py", **PY),)
    assert [d.code for d in analysis.diagnostics] == ["undecided-entry-point"]
    assert "cd $D" in analysis.diagnostics[0].message


@pytest.mark.parametrize("cmd", ["python -c 'import main'", "python - < script.py", "python", "python -u"])
def test_inline_code_is_info(cmd: str) -> None:
    analysis = find_entry_points(cmd)
    assert analysis.is_python and analysis.entry_points == ()
    (diag,) = analysis.diagnostics
    assert (diag.code, diag.severity) == ("inline-code", Severity.INFO)
    assert "root-paths" in diag.message


def test_inline_code_arguments_are_scanned() -> None:
    analysis = find_entry_points("python -c 'import runpy' other.py", project_files=PROJECT)
    assert analysis.entry_points == (S("other.py"),)


def test_outside_project_is_warned_not_kept() -> None:
    analysis = find_entry_points("python /opt/tools/x.py && cd .. && python y.py && python main.py")
    assert analysis.is_python and analysis.entry_points == ()
    assert [d.code for d in analysis.diagnostics] == ["entry-point-outside-project"] * 3
    assert all("root-paths" in d.message for d in analysis.diagnostics)


@pytest.mark.parametrize("cmd", ["python --version", "python -V", "torchrun --help", "command -v python"])
def test_commands_that_only_print(cmd: str) -> None:
    assert find_entry_points(cmd).entry_points == ()


# --- plain jobs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "info"),
    [
        ("echo hi", False),
        ("uname -a && dpkg -l && ls -la", False),
        ("cat main.py > copy.py", False),
        ("source venv/bin/activate", False),
        ("./run.sh", True),
        ("bash run.sh other.py", True),
        ("sh -e ./setup.sh", True),
        ("./bin/tool --x", True),
        ("nohup ./bin/tool", True),
        ("uv run ./run.sh", True),
    ],
)
def test_plain_jobs(cmd: str, info: bool) -> None:
    analysis = find_entry_points(cmd, project_files=PROJECT)
    assert analysis == CommandAnalysis(entry_points=(), is_python=False, diagnostics=analysis.diagnostics, pythonpath=())
    if info:
        (diag,) = analysis.diagnostics
        assert (diag.code, diag.severity) == ("unanalysed-script", Severity.INFO)
        assert "root-paths" in diag.message
    else:
        assert analysis.diagnostics == ()


# --- a newline ends a command; shebang scripts --------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        # a literal `cmd: |`: every line is a command of its own, as in sh
        ("mkdir -p out\npython train.py", [S("train.py", **PY)]),
        ("mkdir -p out\npython train.py --x 1\npython -m pkg.eval\n", [S("train.py", **PY), M("pkg.eval", **PY)]),
        ("export PYTHONPATH=src\ncd sub\npython main.py", [S("sub/main.py", **PY, pythonpath=("sub/src",))]),
        ("python main.py &&\n  python other.py", [S("main.py", **PY), S("other.py", **PY)]),
        ("python main.py \\\n  --epochs 5\npython other.py", [S("main.py", **PY), S("other.py", **PY)]),
        ("# prepare\nmkdir -p out  # comment\n\npython train.py", [S("train.py", **PY)]),
        ('python -c "import a\nprint(1)"\npython main.py', [S("main.py", **PY)]),
    ],
)
def test_newline_separates_commands(cmd: str, expected: list[EntryPoint]) -> None:
    assert list(find_entry_points(cmd, project_files=PROJECT).entry_points) == expected


def test_folded_text_joined_by_the_loader_is_one_command() -> None:
    """The loader folds `cmd: >`; on one line, the options belong to the script."""
    assert find_entry_points("python3 src/main.py --params x --epochs 5").entry_points == (S("src/main.py", **PY3),)
    # Unfolded, the second line would be a command of its own: not a Python entry point.
    analysis = find_entry_points("mkdir -p out\n  --params x")
    assert (analysis.entry_points, analysis.is_python) == ((), False)


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        ("./bin/tool --x", [S("bin/tool")]),
        ("nohup ./bin/tool", [S("bin/tool")]),
        ("cd bin && ./tool", [S("bin/tool")]),
        ("PYTHONPATH=. ./bin/tool", [S("bin/tool", pythonpath=(".",))]),
        ("bin/tool", [S("bin/tool")]),
        ("tool", []),  # no slash: sh looks it up on PATH, not in the project
        ("./run.sh", []),
    ],
)
def test_shebang_scripts_are_entry_points(cmd: str, expected: list[EntryPoint]) -> None:
    analysis = find_entry_points(cmd, project_files=PROJECT, python_scripts=frozenset({"bin/tool", "tool"}))
    assert list(analysis.entry_points) == expected
    assert analysis.is_python is bool(expected)


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        ("", "cmd: empty command: there is nothing to run"),
        ("  \n\t ", "cmd: empty command: there is nothing to run"),
        ("# just a comment", "cmd: empty command: there is nothing to run"),
        ("A=B", "cmd: empty command: there is nothing to run"),
        ("python 'main.py", "cmd: unbalanced quote: the ' at line 1, column 8 is never closed (near \"'main.py\")"),
        ('python main.py\n  --name "x', "cmd: unbalanced quote: the \" at line 2, column 10 is never closed (near '\"x')"),
        ("python main.py \\", "cmd: the command ends with a lone backslash"),
        (
            'bash -c "python \'a.py"',
            "cmd: unbalanced quote in the bash -c string: the ' at line 1, column 8 is never closed (near \"'a.py\")",
        ),
    ],
)
def test_command_errors(cmd: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        find_entry_points(cmd)
    assert str(caught.value) == message
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 2


def test_quotes_are_fine_when_balanced() -> None:
    analysis = find_entry_points("""python "main.py" --name 'it''s' --msg "a \\"b\\" c" # it's""")
    assert analysis.entry_points == (S("main.py", **PY),)


# --- root-paths ----------------------------------------------------------------------------------


def test_root_paths() -> None:
    got = entry_points_from_root_paths(["main.py", "./src/other.py", "-m pkg.mod", "lib/", "main.py"])
    assert got == (
        S("main.py", source="root-paths"),
        S("src/other.py", source="root-paths"),
        M("pkg.mod", source="root-paths"),
        S("lib", source="root-paths"),
    )


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["a.py", " "], "env.python.root-paths[1]: expected a path, got an empty string"),
        (["-m 1bad"], "env.python.root-paths[0]: expected '-m' and a dotted module name, got '-m 1bad'"),
        (["x.py", "-m"], "env.python.root-paths[1]: expected '-m' and a dotted module name, got '-m'"),
    ],
)
def test_root_paths_errors(paths: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        entry_points_from_root_paths(paths)
    assert str(caught.value) == message


# --- property: only CommandAnalysis or CommandError, and no I/O -------------------------------------

VOCABULARY = [
    "python",
    "python3",
    "python3.11",
    "/v/bin/python",
    "-m",
    "-u",
    "-X",
    "-c",
    "-W",
    "-",
    "--",
    "-OO",
    "torchrun",
    "deepspeed",
    "accelerate",
    "launch",
    "uv",
    "run",
    "mpirun",
    "-np",
    "4",
    "env",
    "nohup",
    "timeout",
    "bash",
    "sh",
    "-c",
    "eval",
    "cd",
    "export",
    "PYTHONPATH=src",
    "A=1",
    "&&",
    "||",
    ";",
    "|",
    "&",
    "(",
    ")",
    ">",
    "2>&1",
    "<",
    "'",
    '"',
    "\\",
    "#",
    "\n",
    "${X}",
    "$Y",
    "`z`",
    "$(date)",
    "main.py",
    "other.py",
    "./train.py",
    "src/",
    "..",
    "pkg.mod",
    "--nproc_per_node=2",
    "--num_gpus",
    "--module",
    "--no_python",
    "*.py",
    "~",
    "{",
    "}",
    "if",
    "then",
    "=",
]


@pytest.fixture(scope="module")
def quiet_cwd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty working directory of our own: the shared checkout changes under other writers."""
    path, old = str(tmp_path_factory.mktemp("cwd")), os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


def _check(cmd: str) -> None:
    before = sorted(os.listdir(os.getcwd()))
    with (
        mock.patch("builtins.open", side_effect=AssertionError("I/O")),
        mock.patch.object(subprocess, "Popen", side_effect=AssertionError("exec")),
        mock.patch.object(os, "system", side_effect=AssertionError("exec")),
    ):
        try:
            result = find_entry_points(cmd, project_files=PROJECT)
        except CommandError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("cmd: ")
            result = None
    assert sorted(os.listdir(os.getcwd())) == before
    if result is not None:
        assert isinstance(result, CommandAnalysis)
        keys = [(e.kind, e.target) for e in result.entry_points]
        assert len(keys) == len(set(keys))
        assert result.is_python or not result.entry_points
        assert all("\n" not in d.message for d in result.diagnostics)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_random_text(quiet_cwd: str, cmd: str) -> None:
    _check(cmd)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=25), st.sampled_from([" ", "", "\n"]))
def test_fuzz_vocabulary(quiet_cwd: str, words: list[str], sep: str) -> None:
    _check(sep.join(words))


def test_deep_nesting_is_cut_off() -> None:
    analysis = find_entry_points("nohup " * 200 + "python main.py")
    assert analysis.entry_points == ()
    assert analysis.diagnostics[0].code == "undecided-entry-point"
    nested = find_entry_points("(" * 300 + "python main.py" + ")" * 300)
    assert nested.diagnostics[0].code == "undecided-entry-point"
