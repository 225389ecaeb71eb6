"""The opt-in runtime trace (analyzers/trace.py) and its merge (analyzers/merge.py).

Fixture projects live in tests/fixtures/runtime/<name>/; they run in a sandbox copy under
the fixture virtualenv (`fixture_env`), so each test also checks the fixture tree is untouched.
"""

from __future__ import annotations

import ast
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.classify import Analysis
from envcapture.analysis.model import EntryKind, EntryPoint
from envcapture.analysis.report import analysis_to_json, render_analysis
from envcapture.analysis.runtime.merge import merge_runtime
from envcapture.analysis.runtime.model import RuntimeReport, RuntimeTrace, TracedImport, TraceOutcome
from envcapture.analysis.runtime.trace import OFFLINE_ENV, network_isolation, trace_runtime
from envcapture.analysis.stdlib import stdlib_names
from envcapture.cli import cli

RUNTIME = Path(__file__).resolve().parent.parent / "fixtures" / "runtime"
TRACER = Path(__file__).resolve().parents[2] / "envcapture" / "analysis" / "runtime" / "_tracer.py"


def _tree(project: Path) -> list[str]:
    return sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))


@pytest.fixture
def untouched(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The fixture project named by the test's parameter, checked unchanged afterwards."""
    project = RUNTIME / request.param
    before = _tree(project)
    yield project
    assert _tree(project) == before, "the runtime trace wrote into the project"


def _analyze(project: Path, snapshot: Any, tmp_path: Path, *entries: str, **options: Any) -> Analysis:
    opts = AnalysisOptions(runtime=True, cache_dir=tmp_path / "cache", **options)
    return analyze(entries or ("main.py",), project=project, options=opts, snapshot=snapshot)


def _script(target: str = "main.py") -> EntryPoint:
    return EntryPoint(kind=EntryKind.SCRIPT, target=target, source="cli")


def _files(analysis: Analysis) -> dict[str, str]:
    return {f.path: f.found_by for f in analysis.local_files}


def _dists(analysis: Analysis) -> dict[str, str]:
    return {d.name: d.found_by for d in analysis.distributions}


# --- the tracer script ---------------------------------------------------------------------------


def test_tracer_is_stdlib_only_python38_code() -> None:
    source = TRACER.read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 8))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= stdlib_names((3, 8))
    assert not any(name.startswith("envcapture") for name in imported)


def _python38() -> str | None:
    """A working Python 3.8 (PATH, else a pyenv install), or None."""
    import glob
    import shutil
    import subprocess

    candidates = [shutil.which("python3.8") or ""]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(root, "versions", "3.8*", "bin", "python3.8")))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


@pytest.mark.slow
def test_tracer_runs_on_python38(tmp_path: Path) -> None:
    from envcapture.environment.snapshot import snapshot_environment

    python = _python38()
    if python is None:
        pytest.skip("no Python 3.8 interpreter found")
    snapshot = snapshot_environment(python)
    report = trace_runtime([_script()], project=RUNTIME / "config_driven", snapshot=snapshot)
    (trace,) = report.traces
    assert trace.outcome is TraceOutcome.OK, trace.message
    assert {"util", "models", "models.autoencoder"} <= {i.module for i in trace.imports if i.importer_kind == "project"}
    cmd = trace_runtime([], project=RUNTIME / "side_effect", snapshot=snapshot, command="python main.py")
    assert [(t.outcome, t.written_files) for t in cmd.traces] == [(TraceOutcome.OK, ("side_effect.txt",))]


# --- what only the run can see ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["plugins"], indirect=True)
def test_plugin_registry_with_computed_names(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    analysis = _analyze(untouched, fixture_snapshot, tmp_path)
    files = _files(analysis)
    assert files["main.py"] in ("static", "both")
    assert files["registry.py"] == "both"
    for plugin in ("plugins/__init__.py", "plugins/a.py", "plugins/b.py"):
        assert files[plugin] == "runtime", plugin
    dists = _dists(analysis)
    # Imported by the plugins (project files) at run time.
    assert dists["edit-me"] == "runtime"
    assert dists["dep-rich"] == "runtime"
    # dep_rich's own __init__ imports alpha_mod: the distribution's business, not the job's.
    assert "dist-alpha" not in dists
    assert analysis.runtime is not None
    assert "alpha_mod" in analysis.runtime.not_attributed
    # A function-level import the run never executed is kept from the static pass.
    assert dists["yaml-like"] == "static"
    edit_me = next(d for d in analysis.distributions if d.name == "edit-me")
    assert edit_me.reason.startswith("seen at run time")
    assert [(s.file, s.line, s.found_by) for s in edit_me.import_sites] == [("plugins/a.py", 1, "runtime")]
    found = {(f.kind, f.name): f.imported_by for f in analysis.runtime.found_only_at_runtime}
    assert found[("local-file", "plugins/a.py")] == ("main.py:8",)
    assert ("distribution", "dep-rich") in found
    assert analysis.runtime.traces[0].outcome is TraceOutcome.OK
    # The guarded main() never ran: no marker anywhere.
    assert not (untouched / "MAIN_RAN").exists()


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["plugins"], indirect=True)
def test_entry_is_imported_not_run_as_main(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    report = trace_runtime([_script()], project=untouched, snapshot=fixture_snapshot, workdir=tmp_path / "box")
    (trace,) = report.traces
    assert trace.outcome is TraceOutcome.OK, trace.message
    assert trace.written_files == ()
    (copy,) = (tmp_path / "box").glob("envcapture-trace-*/work/plugins")
    assert (copy / "main.py").is_file()
    assert not (copy / "MAIN_RAN").exists()
    assert not (untouched / "MAIN_RAN").exists()
    # The print on stdout did not disturb the trace (it has its own file).
    by = {(i.module, i.importer) for i in trace.imports}
    assert ("plugins.a", "main.py") in by
    a = next(i for i in trace.imports if i.module == "plugins.a")
    assert (a.via, a.importer_kind, a.file, a.line) == ("import_module", "project", "plugins/a.py", 8)


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["plugins"], indirect=True)
def test_module_entry_and_imports_inside_distributions(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    entry = EntryPoint(kind=EntryKind.MODULE, target="plugins.b", source="cli")
    report = trace_runtime([entry], project=untouched, snapshot=fixture_snapshot)
    (trace,) = report.traces
    assert trace.entry == "-m plugins.b"
    assert trace.outcome is TraceOutcome.OK, trace.message
    kinds = {(i.module, i.importer_kind) for i in trace.imports}
    assert ("plugins.b", "entry") in kinds
    assert ("dep_rich", "project") in kinds
    assert ("alpha_mod", "distribution") in kinds
    inside = next(i for i in trace.imports if i.module == "alpha_mod")
    assert inside.importer is not None and inside.importer.endswith("dep_rich/__init__.py")


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["config_driven"], indirect=True)
def test_config_driven_instantiate(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    analysis = _analyze(untouched, fixture_snapshot, tmp_path)
    files = _files(analysis)
    assert files["models/autoencoder.py"] == "runtime"
    assert files["models/__init__.py"] == "runtime"
    assert files["util.py"] == "both"
    assert analysis.runtime is not None
    refs = {(r.file, r.line, r.key, r.value): (r.kind, r.module, r.distribution) for r in analysis.runtime.data_refs}
    assert refs == {
        ("configs/model.yaml", 2, "target", "models.autoencoder.AutoencoderKL"): ("local", "models.autoencoder", None),
        ("configs/model.yaml", 4, "_target_", "alpha_mod.core.Thing"): ("distribution", "alpha_mod.core", "dist-alpha"),
    }
    # Candidates only: the YAML's alpha_mod is not a requirement.
    assert "dist-alpha" not in _dists(analysis)


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["lazy"], indirect=True)
def test_lazy_module_package(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    analysis = _analyze(untouched, fixture_snapshot, tmp_path)
    files = _files(analysis)
    assert files["lazypkg/__init__.py"] == "both"
    # import_module("." + name, __name__) names lazypkg as its prefix: every submodule is
    # analysed statically, and the run confirms the one it touched.
    assert files["lazypkg/heavy.py"] == "both"
    assert files["lazypkg/light.py"] == "static"  # never touched at run time
    assert _dists(analysis)["yaml-like"] == "both"
    yaml_like = next(d for d in analysis.distributions if d.name == "yaml-like")
    assert [(s.file, s.line) for s in yaml_like.import_sites] == [("lazypkg/heavy.py", 1)]
    heavy = next(f for f in analysis.local_files if f.path == "lazypkg/heavy.py")
    assert heavy.reached_from == ("lazypkg/__init__.py", 9)


# --- containment ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["side_effect"], indirect=True)
def test_side_effects_land_in_the_copy(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    report = trace_runtime([_script()], project=untouched, snapshot=fixture_snapshot, workdir=tmp_path / "box")
    (trace,) = report.traces
    assert trace.outcome is TraceOutcome.OK, trace.message
    assert trace.written_files == ("side_effect.txt",)
    (copy,) = (tmp_path / "box").glob("envcapture-trace-*/work/side_effect")
    assert (copy / "side_effect.txt").read_text() == "written while being imported\n"
    assert not (untouched / "side_effect.txt").exists()


@pytest.mark.parametrize("untouched", ["unguarded"], indirect=True)
def test_unguarded_script_is_never_imported(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    """nanoGPT's train.py has no ``__main__`` guard: importing it would start the training.
    Only its module-level imports are imported, as the script (importer main.py, their lines)."""
    report = trace_runtime([_script()], project=untouched, snapshot=fixture_snapshot, workdir=tmp_path / "box")
    (trace,) = report.traces
    assert trace.outcome is TraceOutcome.OK, trace.message
    assert trace.written_files == ()
    (copy,) = (tmp_path / "box").glob("envcapture-trace-*/work/unguarded")
    assert not (copy / "started.txt").exists()
    by = {(i.module, i.importer, i.line) for i in trace.imports}
    assert ("helper", "main.py", 5) in by and ("json", "main.py", 3) in by
    assert ("csv", "helper.py", 4) in by  # the imported module's body runs as it would
    assert any("main.py: no `if __name__" in note for note in report.notes)


def _processes_in(directory: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd.startswith(str(directory)):
            found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("untouched", ["hang"], indirect=True)
def test_timeout_kills_the_process_group(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    box = tmp_path / "box"
    start = time.monotonic()
    report = trace_runtime([_script()], project=untouched, snapshot=fixture_snapshot, timeout=3, workdir=box)
    elapsed = time.monotonic() - start
    (trace,) = report.traces
    assert trace.outcome is TraceOutcome.TIMEOUT
    assert trace.message is not None and trace.message.startswith("timed out after 3 s")
    assert elapsed < 20
    # The hanging interpreter and the child it started are gone: no process works in the sandbox.
    assert _processes_in(box.resolve()) == []
    assert {"subprocess", "time"} <= {i.module for i in trace.imports}  # the partial trace is kept


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["hang"], indirect=True)
def test_timeout_is_reported_and_static_results_stand(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    analysis = _analyze(untouched, fixture_snapshot, tmp_path, runtime_timeout=2)
    assert _files(analysis) == {"main.py": "static"}
    (diag,) = [d for d in analysis.diagnostics if d.code == "runtime-timeout"]
    assert diag.message == "runtime trace of main.py: timed out after 2 s; the static results still stand"
    assert analysis_to_json(analysis)["runtime"]["traces"][0]["outcome"] == "timeout"


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["broken"], indirect=True)
def test_import_that_raises_is_reported(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    report = trace_runtime([_script(), _script("missing.py")], project=untouched, snapshot=fixture_snapshot)
    raised, missing = report.traces
    assert (raised.outcome, raised.failed_import, raised.message, raised.failed_at) == (
        TraceOutcome.ERROR,
        "helper",
        "RuntimeError: boom at import",
        "helper.py:2",
    )
    assert (missing.outcome, missing.failed_import, missing.message) == (
        TraceOutcome.ERROR,
        "not_installed_xyz",
        "ModuleNotFoundError: No module named 'not_installed_xyz'",
    )


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["broken"], indirect=True)
def test_failed_import_keeps_static_results(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    analysis = _analyze(untouched, fixture_snapshot, tmp_path, "main.py", "missing.py")
    assert _files(analysis) == {"helper.py": "both", "main.py": "static", "missing.py": "static"}
    assert _dists(analysis) == {"dist-alpha": "both"}
    (unresolved,) = analysis.unresolved
    assert (unresolved.module, unresolved.found_by) == ("not_installed_xyz", "both")
    messages = sorted(d.message for d in analysis.diagnostics if d.code == "runtime-import-failed")
    assert messages == [
        "runtime trace of main.py: importing helper raised RuntimeError: boom at import; the static results still stand",
        (
            "runtime trace of missing.py: importing not_installed_xyz raised ModuleNotFoundError: "
            "No module named 'not_installed_xyz'; the static results still stand"
        ),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["broken"], indirect=True)
def test_module_that_raises_still_ships(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    analysis = _analyze(untouched, fixture_snapshot, tmp_path, "dyn.py")
    # Only the run knows late_fail.py (a computed name); it raised, yet it is the job's file.
    assert _files(analysis) == {"dyn.py": "static", "late_fail.py": "runtime"}
    assert analysis.runtime is not None
    (trace,) = analysis.runtime.traces
    assert (trace.failed_import, trace.message, trace.failed_at) == ("late_fail", "ValueError: late failure", "late_fail.py:1")


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["network"], indirect=True)
def test_network_and_offline_variables(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    report = trace_runtime([_script()], project=untouched, snapshot=fixture_snapshot, workdir=tmp_path / "box")
    (trace,) = report.traces
    assert trace.outcome is TraceOutcome.OK, trace.message
    (copy,) = (tmp_path / "box").glob("envcapture-trace-*/work/network")
    text = (copy / "net.txt").read_text()
    assert f"HF_HUB_OFFLINE={OFFLINE_ENV['HF_HUB_OFFLINE']}" in text
    prefix, why_not = network_isolation(str(fixture_snapshot.executable))
    if prefix:
        assert report.network_isolated and report.network.startswith("cut off: unshare")
        assert text.startswith("blocked: ")
    else:
        assert not report.network_isolated and report.network == why_not
        assert report.network.startswith("not cut off")


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["plugins"], indirect=True)
def test_runtime_cmd_runs_the_whole_command(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    analysis = _analyze(untouched, fixture_snapshot, tmp_path, runtime_cmd="python main.py --max-steps 1")
    assert analysis.runtime is not None
    (trace,) = analysis.runtime.traces
    assert (trace.entry, trace.outcome) == ("python main.py --max-steps 1", TraceOutcome.OK)
    # Run as __main__ this time: main() wrote its marker, in the sandbox copy only.
    assert trace.written_files == ("MAIN_RAN",)
    assert _files(analysis)["plugins/b.py"] == "runtime"
    assert _dists(analysis)["dep-rich"] == "runtime"


# --- merging, pure --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["plugins"], indirect=True)
def test_merge_never_removes_and_skips_distribution_imports(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    static = analyze(("main.py",), project=untouched, options=AnalysisOptions(cache_dir=tmp_path), snapshot=fixture_snapshot)
    assert static.runtime is None
    trace = RuntimeTrace(
        entry="main.py",
        outcome=TraceOutcome.OK,
        imports=(
            # dep_rich imports alpha_mod from inside site-packages: not the job's import.
            TracedImport(
                module="alpha_mod", importer="/venv/site-packages/dep_rich/__init__.py", line=2, importer_kind="distribution"
            ),
            TracedImport(
                module="json", importer="main.py", line=3, importer_kind="project", file="/usr/lib/python3/json/__init__.py"
            ),
            TracedImport(
                module="ghost",
                importer="registry.py",
                line=4,
                importer_kind="project",
                scope="function",
                error="ModuleNotFoundError: No module named 'ghost'",
                missing="ghost",
            ),
        ),
    )
    report = RuntimeReport(timeout=30, network_isolated=False, network="not cut off: test", traces=(trace,))
    merged = merge_runtime(static, report, fixture_snapshot)
    # Nothing static is lost.
    assert {f.path for f in static.local_files} <= {f.path for f in merged.local_files}
    assert {d.name for d in static.distributions} <= {d.name for d in merged.distributions}
    assert _dists(merged)["yaml-like"] == "static"
    assert "dist-alpha" not in _dists(merged)
    assert merged.runtime is not None and merged.runtime.not_attributed == ("alpha_mod",)
    assert "json" in merged.stdlib
    ghost = next(u for u in merged.unresolved if u.module == "ghost")
    assert (ghost.found_by, ghost.status.value) == ("runtime", "optional")  # the run went on: caught
    assert [d.code for d in merged.diagnostics if d.code.startswith("runtime")] == ["runtime-network"]
    empty = merge_runtime(static, RuntimeReport(timeout=1, network_isolated=True, network="cut off"), fixture_snapshot)
    assert empty.local_files == static.local_files and empty.distributions == static.distributions


def test_merge_guesses_like_the_static_pass() -> None:
    """A module only the run saw missing gets the static pass's guess: the tables, else the same
    name, with the guess's source and confidence."""
    from envcapture.analysis.mapping import SOURCE_SAME_NAME, guess
    from envcapture.analysis.walk import ImportGraph
    from envcapture.environment.model import EnvSnapshot
    from envcapture.model import Target

    snapshot = EnvSnapshot(executable="/venv/bin/python", python_version="3.11.7")
    static = Analysis(
        project=".",
        target=Target(python_version="3.11"),
        interpreter_version="3.11.7",
        entry_points=(_script(),),
        local_files=(),
        distributions=(),
        unresolved=(),
        stdlib=(),
        diagnostics=(),
        graph=ImportGraph(entry_points=(_script(),), local_files=(), edges=(), diagnostics=()),
    )
    failed = tuple(
        TracedImport(
            module=name,
            importer="main.py",
            line=line,
            importer_kind="project",
            error=f"ModuleNotFoundError: No module named '{name}'",
            missing=name,
        )
        for line, name in ((3, "sklearn"), (4, "ghost_pkg"))
    )
    trace = RuntimeTrace(entry="main.py", outcome=TraceOutcome.ERROR, failed_import="ghost_pkg", imports=failed)
    merged = merge_runtime(static, RuntimeReport(timeout=1, network_isolated=True, network="cut off", traces=(trace,)), snapshot)
    found = {u.module: (u.guess, u.guess_source, u.guess_confidence, u.status.value) for u in merged.unresolved}
    sklearn = guess("sklearn")
    assert sklearn is not None
    assert found == {
        "sklearn": ("scikit-learn", sklearn.source, "high", "optional"),  # the run went on without it
        "ghost_pkg": ("ghost-pkg", SOURCE_SAME_NAME, "low", "required"),  # its failure ended the run
    }
    assert "ghost_pkg is imported at run time but not installed (guess: ghost-pkg)" in [d.message for d in merged.diagnostics]


# --- report and CLI ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["plugins"], indirect=True)
def test_cli_runtime_section_and_json(untouched: Path, fixture_env: Any) -> None:
    runner = CliRunner()
    args = ["analyze", "--runtime", str(untouched / "main.py"), "--project", str(untouched), "--python", str(fixture_env.python)]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Runtime trace" in result.output
    assert "Found only at run time" in result.output
    assert "plugins/a.py" in result.output
    result = runner.invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema_version"] == "1.3"
    runtime = doc["runtime"]
    assert [t["outcome"] for t in runtime["traces"]] == ["ok"]
    assert {f["name"] for f in runtime["found_only_at_runtime"]["local_files"]} == {
        "plugins/__init__.py",
        "plugins/a.py",
        "plugins/b.py",
    }
    assert {d["name"]: d["found_by"] for d in doc["distributions"]}["dep-rich"] == "runtime"


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["broken"], indirect=True)
def test_render_reports_failure_in_one_line(untouched: Path, fixture_snapshot: Any, tmp_path: Path) -> None:
    from rich.console import Console

    analysis = _analyze(untouched, fixture_snapshot, tmp_path)
    console = Console(width=200, record=True)
    console.print(render_analysis(analysis))
    text = console.export_text()
    assert (
        "main.py: error: importing helper: RuntimeError: boom at import (at helper.py:2); the static results still stand" in text
    )


@pytest.mark.slow
def test_json_without_runtime_has_null(fixture_snapshot: Any, tmp_path: Path) -> None:
    analysis = analyze(
        ("main.py",), project=RUNTIME / "side_effect", options=AnalysisOptions(cache_dir=tmp_path), snapshot=fixture_snapshot
    )
    doc = analysis_to_json(analysis)
    assert doc["runtime"] is None and doc["schema_version"] == "1.3"


# --- distributions imported by included distributions ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("untouched", ["parquet"], indirect=True)
def test_distribution_imported_by_an_included_distribution_is_required(
    untouched: Path, tabular_env: Path, tmp_path: Path
) -> None:
    """tabular.read_parquet() imports arrowlite inside tabular: the run sees it, and arrowlite
    (installed, required by no Requires-Dist of tabular) is added with its reason."""
    from envcapture.analysis.classify import AddedDistribution
    from envcapture.environment.snapshot import snapshot_environment

    snapshot = snapshot_environment(str(tabular_env))
    analysis = _analyze(untouched, snapshot, tmp_path, runtime_cmd="python main.py")
    assert analysis.runtime is not None
    assert [t.outcome for t in analysis.runtime.traces] == [TraceOutcome.OK]
    assert analysis.added == (
        AddedDistribution(
            name="arrowlite",  # type: ignore[arg-type]
            display_name="arrowlite",
            version="1.0.3",
            rule="runtime-import",
            via="tabular",
            reason="imported by tabular at run time",
            parent="tabular",  # type: ignore[arg-type]
        ),
    )
    assert "arrowlite" not in _dists(analysis)  # not an import of the job's code
    assert "arrowlite" not in analysis.runtime.not_attributed
    found = {(f.kind, f.name): f.imported_by for f in analysis.runtime.found_only_at_runtime}
    assert found[("distribution", "arrowlite")] == ("tabular/__init__.py:11",)
    # Entry mode imports main.py without running main(): nothing is seen, nothing added.
    static_only = _analyze(untouched, snapshot, tmp_path)
    assert static_only.added == ()
    # The CLI: --json lists it; the lock path (capture) turns it into a pin with the reason.
    args = ["analyze", str(untouched / "main.py"), "--runtime-cmd", "python main.py", "--project", str(untouched)]
    args += ["--python", str(tabular_env)]
    result = CliRunner().invoke(cli, [*args, "--no-installed-extras", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [(a["name"], a["rule"], a["via"], a["reason"]) for a in json.loads(result.output)["added"]] == [
        ("arrowlite", "runtime-import", "tabular", "imported by tabular at run time")
    ]
    result = CliRunner().invoke(cli, [*args, "--explain", "arrowlite"], catch_exceptions=False)
    assert result.output.splitlines()[0] == "arrowlite==1.0.3 ships although the code does not import it, because:"
    assert "  tabular -> arrowlite (imported by tabular at run time)" in result.output.splitlines()
    from envcapture.resolution.capture import direct_requirements
    from envcapture.resolution.closure import resolve
    from envcapture.resolution.model import ResolveOptions, Via, ViaKind

    closure = resolve(direct_requirements(analysis), snapshot, analysis.target, ResolveOptions())
    pin = closure.pin("arrowlite")
    assert pin is not None
    assert pin.via == (Via(source="tabular", kind=ViaKind.RUNTIME_IMPORT, reason="imported by tabular at run time"),)
