"""The command line as a user meets it (issue 18): output that adapts to a terminal, a pipe
or a program; --python requests; progress; -q/-v; the grouped line of optional imports;
the small fixes; the Python API of docs/api.md. Real subprocesses, a real tmux terminal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from envcapture.cli import cli

REPO = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)


def envcapture(
    *args: str, cwd: Path, cache: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    environ.pop("VIRTUAL_ENV", None)
    if cache is not None:
        environ["ENVCAPTURE_CACHE_DIR"] = str(cache)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "envcapture.cli", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,  # stdout is a pipe: the plain, one-record-per-line report
        text=True,
        timeout=300,
        check=False,
    )


# Installed in the test environment, with names long enough for a 40-column terminal.
LONG_NAMES = {
    "jsonschema_specifications": "jsonschema-specifications",
    "charset_normalizer": "charset-normalizer",
    "markdown_it": "markdown-it-py",
    "sortedcontainers": "sortedcontainers",
    "pyproject_hooks": "pyproject_hooks",
}


def _long_project(root: Path) -> list[str]:
    """A job whose imports sit deep in the tree at three-digit lines; returns every file:line."""
    deep = root / "very_long_package_name" / "with_a_nested_subpackage"
    deep.mkdir(parents=True)
    (root / "very_long_package_name" / "__init__.py").write_text("")
    (deep / "__init__.py").write_text("")
    sites = []
    body = ["# padding\n"] * 120
    for i, module in enumerate(LONG_NAMES):
        body.append(f"import {module}\n")
        sites.append(f"very_long_package_name/with_a_nested_subpackage/module_with_a_long_name.py:{121 + i}")
    (deep / "module_with_a_long_name.py").write_text("".join(body))
    (root / "main.py").write_text("import very_long_package_name.with_a_nested_subpackage.module_with_a_long_name\n")
    return sites


# --- 1. human output that adapts ------------------------------------------------------------


def test_piped_report_is_complete_at_40_columns(tmp_path: Path) -> None:
    sites = _long_project(tmp_path / "p")
    done = envcapture(
        "analyze", "main.py", "--python", sys.executable, cwd=tmp_path / "p", cache=tmp_path / "c", env={"COLUMNS": "40"}
    )
    assert done.returncode == 0, done.stderr
    from importlib.metadata import version

    lines = done.stdout.splitlines()
    for module, dist in LONG_NAMES.items():
        record = [ln for ln in lines if ln.startswith(f"{dist}=={version(dist)}  ")]
        assert len(record) == 1, (dist, done.stdout)
        assert f"import {module}" in record[0]
    for site in sites:
        assert sum(site in ln for ln in lines) == 1, (site, done.stdout)
    assert "…" not in done.stdout and "┃" not in done.stdout  # no table, nothing cut
    grepped = subprocess.run(  # noqa: S602 - the pipe is the point
        f"{sys.executable} -m envcapture.cli analyze main.py --python {sys.executable} | grep charset",
        shell=True,
        cwd=tmp_path / "p",
        env={**os.environ, "COLUMNS": "40", "ENVCAPTURE_CACHE_DIR": str(tmp_path / "c")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert grepped.stdout.startswith("charset-normalizer=="), grepped.stdout
    assert sites[1] in grepped.stdout


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True, timeout=30).stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")
def test_terminal_shows_progress_then_a_clean_screen_and_whole_tables(tmp_path: Path) -> None:
    project = tmp_path / "big"
    pkg = project / "pkg"
    pkg.mkdir(parents=True)
    count = 700
    (pkg / "__init__.py").write_text("".join(f"from pkg import m{i}\n" for i in range(count)))
    body = "".join(f"def f{j}(x):\n    return [x * {j} for _ in range(3)]\n" for j in range(60))
    for i in range(count):
        (pkg / f"m{i}.py").write_text(f"import json\n{body}")
    (project / "main.py").write_text("import pkg\nimport charset_normalizer\n")
    done_marker = tmp_path / "done"
    socket = str(tmp_path / "tmux.sock")
    command = (
        f"cd {project} && ENVCAPTURE_CACHE_DIR={tmp_path / 'c'} {sys.executable} -m envcapture.cli analyze main.py "
        f"--python {sys.executable} --no-cache -j 1; touch {done_marker}; sleep 600"
    )
    _tmux("-S", socket, "new-session", "-d", "-x", "60", "-y", "50", command)
    try:
        seen_progress = ""
        deadline = time.monotonic() + 240
        while not done_marker.exists() and time.monotonic() < deadline:
            screen = _tmux("-S", socket, "capture-pane", "-p")
            if "analysing imports" in screen:
                seen_progress = screen
            time.sleep(0.1)
        assert done_marker.exists(), "the analysis did not finish"
        final = _tmux("-S", socket, "capture-pane", "-p", "-S", "-100")
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], check=False, timeout=30)
    assert re.search(r"analysing imports: \d+ files \(\d+ parsed\)", seen_progress), seen_progress
    assert "analysing imports" not in final and "reading the environment" not in final, final  # erased
    assert "Distributions (1)" in final and "┃" in final  # a table on a terminal
    assert "charset-normalizer" in final.replace("\n", "").replace(" ", "").replace("│", "")
    assert "…" not in final


# --- 2. --python requests ---------------------------------------------------------------------


def test_python_takes_a_virtualenv_directory_and_a_version(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("import yaml\n")
    done = envcapture("analyze", "main.py", "--python", str(VENV), "--json", cwd=tmp_path, cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert "pyyaml" in {d["name"] for d in json.loads(done.stdout)["distributions"]}
    from envcapture.environment.request import resolve_python

    try:
        found = resolve_python("3.12")
    except Exception:  # noqa: BLE001
        pytest.skip("no Python 3.12 on this machine")
    done = envcapture("analyze", "main.py", "--python", "python3.12", "--json", "-v", cwd=tmp_path, cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["analysed_python_version"].startswith("3.12.")
    assert f"--python python3.12: {found}" in done.stderr


def test_python_request_not_found_names_what_was_tried(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("import json\n")
    done = envcapture("analyze", "main.py", "--python", "3.99", cwd=tmp_path, cache=tmp_path / "c")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("envcapture: error: 3.99: no Python 3.99 found; tried ")
    for place in ("python3.99", "on PATH", "pyenv ", "uv-managed "):
        assert place in lines[0]
    done = envcapture("analyze", "main.py", "--python", str(tmp_path), cwd=tmp_path, cache=tmp_path / "c")
    assert done.returncode == 2
    assert done.stderr.strip().endswith("a directory that is not a virtualenv (no bin/python in it)")


# --- 3. quiet, verbose, on every command ---------------------------------------------------------


def _commands() -> list[list[str]]:
    # The group loads its commands lazily: ask it for each, as click does when one runs.
    ctx = click.Context(cli)
    out = []
    for name in cli.list_commands(ctx):  # type: ignore[attr-defined]
        command = cli.get_command(ctx, name)  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        out += [[name, sub] for sub in subs] if subs else [[name]]
    return out


@pytest.mark.parametrize("argv", _commands(), ids=" ".join)
def test_every_command_has_quiet_and_verbose(argv: list[str]) -> None:
    done = CliRunner().invoke(cli, [*argv, "--help"])
    assert done.exit_code == 0, done.output
    assert "-q, --quiet" in done.output and "-v, --verbose" in done.output


def test_quiet_and_verbose(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("import yaml\n")
    (tmp_path / "config.yaml").write_text("cmd: python main.py\nenv:\n  python:\n    type: auto\n")
    verbose = envcapture("analyze", "main.py", "--python", sys.executable, "-v", cwd=tmp_path, cache=tmp_path / "c")
    assert verbose.returncode == 0, verbose.stderr
    assert re.search(r"envcapture: analysed 1 local files with Python [\d.]+ \(\d+ from the cache, \d+ parsed\)", verbose.stderr)
    quiet = envcapture("config", "check", "-q", "--python", sys.executable, cwd=tmp_path, cache=tmp_path / "c")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    piped = envcapture("analyze", "main.py", "--python", sys.executable, cwd=tmp_path, cache=tmp_path / "c")
    assert piped.stderr == ""  # no progress when stderr is not a terminal


# --- 4. optional code paths: one line ----------------------------------------------------------


def test_function_level_imports_of_missing_packages_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "export.py").write_text(
        "import json\n\n\n"
        "def to_tensorrt(model):\n    import tensorrt\n    return tensorrt\n\n\n"
        "def to_coreml(model):\n    import coremltools\n    import coremltools.models\n    return coremltools\n\n\n"
        "def to_paddle(model):\n    import paddle\n    return paddle\n\n\n"
        "try:\n    import onnx\nexcept ImportError:\n    onnx = None\n"
    )
    (tmp_path / "main.py").write_text("import export\nimport needed_at_start\n")
    done = envcapture("analyze", "main.py", "--python", sys.executable, cwd=tmp_path, cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert (
        "5 optional code paths need packages that are not installed: coremltools, onnx, paddle, tensorrt "
        "(envcapture analyze --explain NAME)"
    ) in lines, done.stdout
    assert "Not installed, needed to start (1):" in lines
    assert any(ln.startswith("needed_at_start  main.py:2  [required; not installed") for ln in lines), done.stdout
    assert not any(ln.startswith(("tensorrt", "paddle")) for ln in lines)
    assert "Problems" not in done.stdout or "tensorrt" not in done.stdout.split("Problems", 1)[1]
    doc = json.loads(envcapture("analyze", "main.py", "--json", cwd=tmp_path, cache=tmp_path / "c").stdout)
    assert {u["module"] for u in doc["unresolved"]} >= {"tensorrt", "coremltools", "paddle", "onnx"}  # JSON keeps all
    explained = envcapture("analyze", "main.py", "--explain", "tensorrt", cwd=tmp_path, cache=tmp_path / "c")
    assert explained.stdout.splitlines()[-1] == "  export.py:5 imports tensorrt (function scope, required)"


# --- 5. the small fixes -------------------------------------------------------------------------


def test_json_env_var_and_explain_json_and_package_explain(tmp_path: Path) -> None:
    (tmp_path / "mingpt").mkdir()
    (tmp_path / "mingpt" / "model.py").write_text("import json\n")  # a namespace package
    (tmp_path / "main.py").write_text("import yaml\nfrom mingpt.model import json\n")
    env = {"ENVCAPTURE_ANALYZE_JSON": "1"}
    done = envcapture("analyze", "main.py", "--python", sys.executable, cwd=tmp_path, cache=tmp_path / "c", env=env)
    assert json.loads(done.stdout)["schema"] == "envcapture/analysis"
    # --python: without it (no VIRTUAL_ENV, no .venv/) the analysis is bare and nothing is installed
    done = envcapture(
        "analyze", "main.py", "--json", "--explain", "yaml", "--python", sys.executable, cwd=tmp_path, cache=tmp_path / "c"
    )
    doc = json.loads(done.stdout)
    assert (doc["schema"], doc["kind"], doc["name"]) == ("envcapture/explain", "distribution", "yaml")
    assert doc["chain"][-1] == {"file": "main.py", "line": 1, "imports": "yaml", "detail": "module scope, required"}
    done = envcapture("analyze", "main.py", "--explain", "mingpt", cwd=tmp_path, cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "mingpt is imported as mingpt.model; mingpt/model.py ships as local code because:",
        "  main.py is an entry point",
        "  main.py:2 imports mingpt.model (mingpt/model.py)",
    ]


def test_unbalanced_quote_in_cmd_is_located_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "config.yaml").write_text('name: x\ncmd: >\n  python main.py\n  --name "unclosed value\n')
    for argv in (["config", "check"], ["analyze"]):
        done = envcapture(*argv, cwd=tmp_path, cache=tmp_path / "c")
        assert done.returncode == 2
        assert done.stderr.strip() == (
            "envcapture: error: config.yaml:4:10: cmd: unbalanced quote: the \" is never closed (near '\"unclosed value')"
        )


def test_config_check_prints_derived_values(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("import helper\n")
    (tmp_path / "helper.py").write_text("import json\n")
    (tmp_path / "config.yaml").write_text("cmd: python main.py\nenv:\n  python:\n    type: auto\n")
    done = envcapture("config", "check", "--python", sys.executable, cwd=tmp_path, cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    version = ".".join(str(n) for n in sys.version_info[:3])
    assert f"  version: {version} (derived from the analysed interpreter " in done.stdout
    assert "  local-paths: helper.py, main.py (derived from the analysis" in done.stdout
    assert "  root-paths: main.py (derived from cmd)" in done.stdout
    assert "- (derived" not in done.stdout


def test_plain_job_run_line_shows_values_and_build_path_is_normalised(tmp_path: Path) -> None:
    job = tmp_path / "datafiles"
    job.mkdir()
    (job / "audio.wav").write_text("RIFF")
    (job / "config.yaml").write_text("cmd: cat -- ${AUDIO}\ninputs:\n  - audio.wav: AUDIO\n")  # plain: only inputs travel
    done = envcapture("build", "-o", "../datafiles-bundle", cwd=job, cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("Target: CPython "), done.stdout
    assert done.stdout.splitlines()[1].startswith(f"built {tmp_path / 'datafiles-bundle'}: "), done.stdout
    assert "/../" not in done.stdout + done.stderr
    run = envcapture("run", str(tmp_path / "datafiles-bundle"), "--workdir", str(tmp_path / "run"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    running = next(ln for ln in run.stderr.splitlines() if ln.startswith("envcapture: Running: "))
    assert "${AUDIO}" not in running
    assert re.match(r"envcapture: Running: cat -- /\S+/audio\.wav \(setup", running), running
    assert "RIFF" in run.stdout


# --- 6. the Python API ----------------------------------------------------------------------------


def test_api_doc_example_runs(tmp_path: Path) -> None:
    text = (REPO / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    script = tmp_path / "example.py"
    script.write_text(blocks[-1])
    env = {**os.environ, "ENVCAPTURE_CACHE_DIR": str(tmp_path / "c")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == ["['pyyaml']", "['environment.json', 'requirements.lock.txt']"]


def test_api_takes_mappings_pathlikes_and_configs(tmp_path: Path) -> None:
    import envcapture

    (tmp_path / "main.py").write_text("import yaml\n")
    (tmp_path / "config.yaml").write_text("cmd: python main.py\nenv:\n  python:\n    type: auto\n")
    options = envcapture.AnalysisOptions(python=sys.executable, cache_dir=tmp_path / "c")
    forms = [
        tmp_path / "config.yaml",
        str(tmp_path / "config.yaml"),
        envcapture.load_config(tmp_path / "config.yaml"),
        {"cmd": "python main.py", "env": {"python": {"type": "auto"}}},
    ]
    for config in forms:
        analysis = envcapture.analyze(config=config, project=tmp_path, options=options)
        assert [d.name for d in analysis.distributions] == ["pyyaml"], config
    analysis = envcapture.analyze(tmp_path / "main.py", project=str(tmp_path), options=options)
    assert [str(e) for e in analysis.entry_points] == ["main.py"]
    result = envcapture.capture(config=forms[-1], project=tmp_path, python=sys.executable, complete=False)
    written = envcapture.lock_job(result, tmp_path / "out")
    assert (tmp_path / "out" / "requirements.lock.txt") in written.paths


@pytest.mark.slow
def test_a_command_runs_without_full_collections_and_gives_the_thresholds_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """While a command runs, the garbage collector makes no full collection (a cold analysis's
    objects live to its end); after, its thresholds are as they were, for a process that calls
    ``main`` and goes on, as this one does."""
    import gc

    from envcapture.cli import main

    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path))
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []

    def note_thresholds(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            during.append(gc.get_threshold())

    gc.callbacks.append(note_thresholds)
    try:
        code = main(["analyze", str(REPO / "examples" / "train-job" / "train.py"), "--json", "--python", sys.executable])
    finally:
        gc.callbacks.remove(note_thresholds)
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["entry_points"]
    assert during, "no collection ran during the command"
    assert {thresholds[:2] for thresholds in during} == {before[:2]}  # the young generations: as before
    assert min(thresholds[2] for thresholds in during) > 1_000_000  # no full collection follows them
    assert gc.get_threshold() == before


def test_run_keeps_the_usual_full_collections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run`` supervises a job for hours: the collector's usual thresholds are back for it,
    so cyclic garbage does not pile up (what the run does is recorded, not done here)."""
    import gc

    import envcapture.runtime.run
    from envcapture.cli import main
    from envcapture.runtime.run import RunResult

    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    def record(*args: object, **kwargs: object) -> RunResult:
        seen.append(gc.get_threshold())
        raise KeyboardInterrupt

    monkeypatch.setattr(envcapture.runtime.run, "run_bundle", record)
    assert main(["run", str(tmp_path)]) == 130
    assert seen == [before]
    assert gc.get_threshold() == before
