"""The command line, in a real subprocess: exit codes, one-line errors, JSON, --explain, cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "train-job"
PROJECTS = REPO / "tests" / "fixtures" / "projects"


# Every test runs envcapture in a subprocess, and most of them probe an interpreter.
pytestmark = pytest.mark.slow


def envcapture(*args: str, cwd: Path | None = None, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if cache is not None:
        env["ENVCAPTURE_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "envcapture.cli", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_version() -> None:
    done = envcapture("--version")
    assert done.returncode == 0
    assert done.stdout.strip().startswith("envcapture 0.")


def test_analyze_example_json(tmp_path: Path) -> None:
    done = envcapture("analyze", "--config", str(EXAMPLE / "config.yaml"), "--json", "--python", sys.executable, cache=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "envcapture/analysis"
    assert doc["schema_version"].startswith("1.")
    assert doc["entry_points"] == ["train.py"]
    assert doc["local_files"] == ["cfg.py", "models/__init__.py", "models/linear.py", "train.py"]
    yaml = next(d for d in doc["distributions"] if d["name"] == "pyyaml")
    assert yaml["status"] == "required"
    assert [(s["file"], s["line"], s["scope"], s["dynamic"]) for s in yaml["import_sites"]] == [
        ("train.py", 21, "function", "import_module")
    ]
    torch = next(u for u in doc["unresolved"] if u["module"] == "torch")
    assert (torch["status"], torch["guess"]) == ("optional", "torch")
    assert "winreg" not in doc["stdlib"]  # only imported under sys.platform == "win32"
    # envcapture's own dependencies do not leak in: the job does not import click or rich.
    assert {d["name"] for d in doc["distributions"]} == {"pyyaml"}


def test_analyze_human_report_and_explain(tmp_path: Path) -> None:
    done = envcapture("analyze", "train.py", "--python", sys.executable, cwd=EXAMPLE, cache=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Local files to ship (4)" in done.stdout
    assert "PyYAML" in done.stdout
    done = envcapture("analyze", "train.py", "--python", sys.executable, "--explain", "cfg.py", cwd=EXAMPLE, cache=tmp_path)
    assert done.stdout.splitlines() == [
        "cfg.py ships as local code because:",
        "  train.py is an entry point",
        "  train.py:8 imports cfg (cfg.py)",
    ]
    done = envcapture("analyze", "train.py", "--python", sys.executable, "--explain", "nothing-such", cwd=EXAMPLE, cache=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "envcapture: error: --explain nothing-such: not imported by the job"


def test_warm_analysis_parses_nothing(tmp_path: Path) -> None:
    args = ("analyze", "--config", str(PROJECTS / "relative_deep" / "main.py"))
    first = envcapture(
        "analyze", str(PROJECTS / "relative_deep" / "main.py"), "--stats", "--python", sys.executable, cache=tmp_path
    )
    second = envcapture(
        "analyze", str(PROJECTS / "relative_deep" / "main.py"), "--stats", "--python", sys.executable, cache=tmp_path
    )
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr, args)
    assert "cache: 0 hits, 9 misses, 9 files parsed" in first.stderr
    assert "cache: 9 hits, 0 misses, 0 files parsed" in second.stderr


@pytest.mark.parametrize(
    "argv,code,line",
    [
        (["analyze", "missing.py"], 2, "envcapture: error: missing.py: no such file"),
        (["analyze", "main.py", "--python", "/nonexistent/python"], 2, None),
        (["config", "check", "nope.yaml"], 2, None),
        (["analyze", "--bogus"], 2, None),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, argv: list[str], code: int, line: str | None) -> None:
    (tmp_path / "main.py").write_text("import json\n")
    done = envcapture(*argv, cwd=tmp_path, cache=tmp_path / "cache")
    assert done.returncode == code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    if line is not None:
        assert lines[0] == line


def test_config_check_reports_every_problem(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "config.yaml").write_text(
        "cmd: python main.py --model ${MODLE}\n"
        "outputs:\n  - model.bin: MODEL\n"
        "env:\n  python:\n    type: auto\n    requirement-file: r.txt\n    pip:\n      no-deps: 'yes'\n"
    )
    done = envcapture("config", "check", "config.yaml", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3, done.stderr
    assert lines[0].startswith("envcapture: error: config.yaml:1:")
    assert "MODLE" in lines[0] and "did you mean 'MODEL'" in lines[0]
    assert "config.yaml:7:5: env.python.requirement-file: unknown key (did you mean 'requirements-file'?)" in lines[1]
    assert "config.yaml:9:16: env.python.pip.no-deps: expected true or false, got 'yes'" in lines[2]


def test_config_check_prints_entry_points_and_settings() -> None:
    done = envcapture("config", "check", str(PROJECTS / "src_layout" / "config.yaml"), "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads((REPO / "docs" / "schema" / "config-check.schema.json").read_text()))
    assert doc["entry_points"] == ["-m mypkg", "scripts/run.py"]
    assert doc["python"]["type"] == "auto"
    version = doc["python"]["version"]
    assert (version["value"], version["given"]) == (None, False)
    assert version["derived"] == ".".join(str(n) for n in sys.version_info[:3])
    assert version["derived_from"].startswith("the analysed interpreter ")


def test_json_matches_the_published_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "docs" / "schema" / "analysis.schema.json").read_text())
    for project, entry in (("guards", "main.py"), ("broken", "main.py"), ("namespace", "main.py")):
        done = envcapture("analyze", str(PROJECTS / project / entry), "--json", "--python", sys.executable, cache=tmp_path)
        assert done.returncode == 0, done.stderr
        jsonschema.validate(json.loads(done.stdout), schema)


def test_lock_manual_mode_warns_where_requirements_contradict_imports(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import yaml\nimport click\n\nif __name__ == '__main__':\n    print(yaml, click)\n")
    (tmp_path / "requirements.txt").write_text("PyYAML\nsklearn\n")
    (tmp_path / "config.yaml").write_text(
        "cmd: python train.py\nenv:\n  python:\n    type: manual\n    requirements-file: requirements.txt\n"
    )
    done = envcapture(
        "lock",
        "--config",
        "config.yaml",
        "-o",
        "out",
        "--offline",
        "--python",
        sys.executable,
        cwd=tmp_path,
        cache=tmp_path / "c",
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "EC00" in line]
    assert any(line.startswith("envcapture: warning: train.py:2: EC001 missing: click") for line in warnings), warnings
    assert any("requirements.txt:2: EC003 wrong-name: sklearn" in line and "scikit-learn" in line for line in warnings), warnings
    lock = (tmp_path / "out" / "requirements.lock.txt").read_text()
    assert "pyyaml==" in lock and "# via requirements.txt:1" in lock
    assert "click" not in lock  # the lock follows the file in manual mode; the warning says what is missing


def test_user_text_is_printed_verbatim(tmp_path: Path) -> None:
    """File names and config text are never read as rich markup or emoji codes."""
    project = tmp_path / "p[bold]q"
    project.mkdir()
    (project / "m:x:.py").write_text("import json\n")
    done = envcapture("analyze", "m:x:.py", "--python", sys.executable, cwd=project, cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert "m:x:.py" in done.stdout and "❌" not in done.stdout
    (tmp_path / "bad.yaml").write_text("root:x:0:0:[red]x[/red]\n")
    done = envcapture("config", "check", str(tmp_path / "bad.yaml"), cwd=tmp_path)
    assert done.returncode == 2
    assert "root:x:0:0:[red]x[/red]" in done.stderr and "❌" not in done.stderr


def test_lock_environment_json_lists_local_files_with_hashes(tmp_path: Path) -> None:
    import hashlib

    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "out"
    done = envcapture(
        "lock",
        "--config",
        str(EXAMPLE / "config.yaml"),
        "-o",
        str(out),
        "--offline",
        "--python",
        sys.executable,
        cache=tmp_path / "c",
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "environment.json").read_text())
    jsonschema.validate(doc, json.loads((REPO / "docs" / "schema" / "environment.schema.json").read_text()))
    assert [f["path"] for f in doc["local_files"]] == ["cfg.py", "models/__init__.py", "models/linear.py", "train.py"]
    for f in doc["local_files"]:
        data = (EXAMPLE / f["path"]).read_bytes()
        assert (f["sha256"], f["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
    assert [d["name"] for d in doc["distributions"]] == ["pyyaml"]


# --- entries on the command line, refusals of jobs that cannot start ------------------------------


def _app(root: Path) -> Path:
    """app/ (a package run with -m app.cli), scripts/run.py importing app from a subdirectory."""
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "cli.py").write_text("from . import core\n")
    (root / "app" / "core.py").write_text("import json\n")
    (root / "scripts").mkdir()
    (root / "scripts" / "run.py").write_text("import app.core\n")
    return root


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "app.cli"],
        ["--module", "app.cli"],
        ["-mapp.cli"],
        ["--", "-m", "app.cli"],
        ["--", "-m app.cli"],
        ["python", "-m", "app.cli"],
        ["--", "python3", "-m", "app.cli"],
    ],
)
def test_analyze_takes_modules_as_python_does(tmp_path: Path, argv: list[str]) -> None:
    project = _app(tmp_path / "p")
    done = envcapture("analyze", "--json", "--python", sys.executable, *argv, cwd=project, cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["entry_points"] == ["-m app.cli"]
    assert doc["local_files"] == ["app/__init__.py", "app/cli.py", "app/core.py"]


def test_modules_next_to_scripts_on_lock_and_check(tmp_path: Path) -> None:
    project = _app(tmp_path / "p")
    (project / "main.py").write_text("import json\n")
    done = envcapture("lock", "-m", "app.cli", "main.py", "-o", "out", "--offline", "--python", sys.executable,
                      cwd=project, cache=tmp_path / "c")  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (project / "out" / "environment.json").read_text()
    assert all(f'"path": "{name}"' in text for name in ("app/cli.py", "app/core.py", "main.py")), text
    (project / "requirements.txt").write_text("")
    done = envcapture("check", "-m", "app.cli", "-r", "requirements.txt", "--format", "json", "--python", sys.executable,
                      cwd=project, cache=tmp_path / "c")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entry_points"] == ["-m app.cli"]


def test_config_check_refuses_a_missing_entry_script(tmp_path: Path) -> None:
    (tmp_path / "prep.py").write_text("")
    (tmp_path / "config.yaml").write_text(
        "name: j\ncmd: |\n  python prep.py\n  python train.py --epochs 1\nenv:\n  python: auto\n"
    )
    done = envcapture("config", "check", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"envcapture: error: config.yaml:4:10: cmd: 'train.py' does not exist (looked in {tmp_path.resolve()}) "
        "(cmd runs it from the config's directory)"
    ]
    assert done.stdout == ""


@pytest.mark.parametrize("verb", ["lock", "build"])
def test_lock_and_build_refuse_what_cannot_start(tmp_path: Path, verb: str) -> None:
    project = _app(tmp_path / "p")
    config = project / "config.yaml"

    def go(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [verb, "-c", "config.yaml", "-o", "out", "--python", sys.executable, *extra]
        if verb == "lock":
            argv.append("--offline")
        return envcapture(*argv, cwd=project, cache=tmp_path / "c")

    # A missing entry script: exit 2, located in config.yaml.
    config.write_text("cmd: python scripts/gone.py\nenv:\n  python: auto\n")
    done = go()
    assert done.returncode == 2 and not (project / "out").exists()
    assert done.stderr.splitlines() == [
        f"envcapture: error: config.yaml:1:13: cmd: 'scripts/gone.py' does not exist (looked in {project.resolve()}) "
        "(fix cmd; --allow-unresolved goes on anyway)"
    ]
    # Python runs, but no entry point is known: exit 2, with the fix.
    config.write_text("cmd: python -c 'import app.core'\nenv:\n  python: auto\n")
    done = go()
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "envcapture: error: config.yaml:1:6: cmd: runs Python, but no entry point was found in it (list the scripts "
        "or -m modules it runs in env.python.root-paths; --allow-unresolved goes on anyway)"
    ]
    # An import found only through the project directory, which the target does not search: exit 3.
    config.write_text("cmd: python scripts/run.py\nenv:\n  python: auto\n")
    done = go()
    assert done.returncode == 3 and not (project / "out").exists()
    assert done.stderr.splitlines() == [
        "envcapture: error: scripts/run.py:1: import app.core is found only in the project directory, which is not on "
        "sys.path when the job runs (it searches scripts/ first, then the installed packages): add PYTHONPATH=. to cmd, "
        "or install the project (pip install -e .) (--allow-unresolved goes on anyway)"
    ]
    # --allow-unresolved goes on (build would then verify the bundle, which fails the same import).
    done = go("--allow-unresolved", *(["--no-verify"] if verb == "build" else []))
    assert done.returncode == 0, done.stderr
    # The fix the message gives works.
    config.write_text("cmd: PYTHONPATH=. python scripts/run.py\nenv:\n  python: auto\n")
    shutil.rmtree(project / "out")
    done = go()
    assert done.returncode == 0, done.stderr
