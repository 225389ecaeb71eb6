"""The command line: `envcapture config check` and `envcapture analyze`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from envcapture._fs import document_header
from envcapture.cli import (
    EXIT_FINDINGS,
    _allow_secret_env_option,
    _console,
    _entry_words,
    _err_console,
    _guarded,
    _job_inputs,
    _job_options,
    _json_option,
    _mask,
    _print_human,
    _python_request,
    _shown_path,
    _start_reading_environment,
    _ui,
    _ui_options,
    _warn_cache,
    _with_options,
)
from envcapture.errors import ConfigError


@click.group("config")
def config_group() -> None:
    """Work with a job's config.yaml."""


@config_group.command("check")
@click.argument("config_file", default="config.yaml", type=click.Path(dir_okay=False, path_type=Path))
@_json_option("config check", "Print the result as JSON.")
@click.option(
    "--python",
    "python",
    help="Interpreter the derived settings come from: a path, a virtualenv or a version (default: the active virtualenv, else this Python).",
)
@_allow_secret_env_option
@_ui_options
@_guarded
def config_check(config_file: Path, as_json: bool, python: str | None, allow_secret_env: tuple[str, ...]) -> None:
    """Validate CONFIG_FILE; print its entry points and python settings, given or derived
    (a derived version or local-paths is computed from the analysed interpreter and the code).
    Refuses what build refuses in the config: a missing entry script, an env.vars name that
    looks like a secret (unless --allow-secret-env NAME)."""
    from envcapture.analysis.entries import entry_points_for, missing_entry_scripts
    from envcapture.config.loader import load_config
    from envcapture.config.secret_env import secret_env_problems

    ui = _ui()
    job = load_config(config_file)
    project = Path(job.project_dir).resolve()
    problems = [*missing_entry_scripts(job, project), *secret_env_problems(job, allow_secret_env)]
    if problems:
        raise ConfigError.from_problems(sorted(problems, key=lambda p: (p.location.line or 0) if p.location else 0))
    entries, diags = entry_points_for(job, (), project)
    py = job.env.python
    settings: dict[str, Any] = {}
    if py is not None:
        settings["type"] = py.mode
        derived = _derived_settings(job, _python_request(python), as_json)
        for key, setting in (
            ("version", py.version),
            ("requirements-file", py.requirements_file),
            ("root-paths", py.root_paths),
            ("local-paths", py.local_paths),
        ):
            value = setting.value
            settings[key] = {"value": list(value) if isinstance(value, tuple) else value, "given": setting.given}
            if not setting.given and key in derived:
                settings[key]["derived"], settings[key]["derived_from"] = derived[key]
        pip = py.pip
        settings["pip"] = {
            "index-url": _mask(pip.index_url.value),
            "extra-index-urls": [_mask(u) for u in pip.extra_index_urls.value or ()],
            "trusted-hosts": list(pip.trusted_hosts.value or ()),
            "no-deps": bool(pip.no_deps.value),
        }
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    if as_json:
        doc = {
            **document_header("envcapture/config-check", "1.1"),
            "config": str(config_file),
            "plain": py is None,
            "entry_points": [str(e) for e in entries],
            "python": settings,
            "warnings": list(job.warnings),
            "diagnostics": [str(d) for d in diags],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    out.print(f"{config_file}: ok", markup=False)
    for w in job.warnings:
        ui.note(f"warning: {w}")
    if py is None:
        out.print("environment: plain (no env.python): only inputs travel", markup=False)
    else:
        out.print(f"environment: python, type {py.mode}", markup=False)
        for key, value in settings.items():
            if key in ("type", "pip"):
                continue
            if value["given"]:
                out.print(f"  {key}: {_setting_text(value['value'])} (given)", markup=False)
            elif "derived" in value:
                out.print(f"  {key}: {_setting_text(value['derived'])} (derived from {value['derived_from']})", markup=False)
            else:
                out.print(f"  {key}: - (derived at lock time)", markup=False)
        out.print(f"  pip: {json.dumps(settings['pip'])}", markup=False)
    out.print("entry points: " + (", ".join(str(e) for e in entries) or "none"), markup=False)
    for d in diags:
        ui.note(f"note: {d}")


def _setting_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return "none" if value in (None, "") else str(value)


def _derived_settings(job: Any, python: str | None, quiet: bool) -> dict[str, tuple[Any, str]]:
    """What lock and build derive for the settings the config leaves out: the version of the
    analysed interpreter, the local files the analysis reaches, the entry points of cmd."""
    from envcapture.analysis.api import AnalysisOptions, analyze
    from envcapture.environment.snapshot import default_interpreter, snapshot_environment

    ui = _ui()
    derived: dict[str, tuple[Any, str]] = {}
    with ui.activity(not quiet) as activity:
        activity.phase("reading the environment")
        snapshot = snapshot_environment(python or default_interpreter())
        where = f"the analysed interpreter {_shown_path(snapshot.executable)}"
        derived["version"] = (snapshot.python_version, where)
        derived["requirements-file"] = (None, f"the imports the analysis finds, as installed in {where}")
        options = AnalysisOptions(python=snapshot.executable, progress=activity.files if activity.enabled else None)
        analysis = analyze(config=job, options=options, snapshot=snapshot)
    _warn_cache(analysis.stats.write_error)
    derived["root-paths"] = ([str(e) for e in analysis.entry_points], "cmd")
    derived["local-paths"] = ([f.path for f in analysis.local_files], "the analysis: the local files the entry points reach")
    return derived


@click.command("analyze")
@_job_options
@_with_options
@_json_option("analyze", "Print the analysis as JSON (schema envcapture/analysis 1.1).")
@click.option(
    "--explain", "explain_name", metavar="NAME", help="Print the chain of imports that pulled NAME in (JSON with --json)."
)
@click.option("--no-cache", is_flag=True, help="Parse every file again; do not read or write the cache.")
@click.option("--strict", is_flag=True, help="Exit 1 when a required import is not installed.")
@click.option("--stats", is_flag=True, help="Print cache statistics to stderr.")
@click.option("-j", "--jobs", type=int, help="Parser processes (default: every core).")
@click.option(
    "--runtime",
    is_flag=True,
    help="Also import the entry points (never running their __main__ block) in a sandboxed subprocess of the analysed interpreter and add the imports only seen at run time.",
)
@click.option(
    "--runtime-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Time limit of each runtime trace.",
)
@click.option(
    "--runtime-cmd",
    metavar="COMMAND",
    help='Trace a whole command instead (implies --runtime), e.g. "python train.py --max-steps 1".',
)
@_ui_options
@_guarded
def analyze_cmd(
    entries: tuple[str, ...],
    modules: tuple[str, ...],
    config_file: Path | None,
    python: str | None,
    target_python: str | None,
    accelerator: str | None,
    project: Path | None,
    as_json: bool,
    explain_name: str | None,
    no_cache: bool,
    strict: bool,
    stats: bool,
    jobs: int | None,
    runtime: bool,
    runtime_timeout: float,
    runtime_cmd: str | None,
    with_requirements: tuple[str, ...],
    installed_extras: bool | None,
) -> None:
    """Explain what the job needs: ENTRIES are scripts or directories with __main__.py (and
    -m MODULE modules), else the config's cmd.

    On a terminal the report is a set of tables; piped, one complete record per line
    (``name==version  file:line, ...  [status; import names]``); --json for programs.
    """
    ui = _ui()
    entries = _entry_words(entries, modules)
    paths, config_file, project = _job_inputs(entries, config_file, project, "analyze")
    python = _python_request(python)
    _start_reading_environment(python, config_file, project)  # it runs while the analysis is imported

    from envcapture.analysis.api import AnalysisOptions
    from envcapture.analysis.report import explain, explain_json, render_analysis, render_json, render_plain
    from envcapture.errors import InputError
    from envcapture.resolution.capture import Additions, analyze_job

    with ui.activity(not as_json) as activity:
        activity.phase("reading the environment")
        options = AnalysisOptions(
            python=python,
            target_python=target_python,
            accelerator=accelerator,
            use_cache=not no_cache,
            jobs=jobs,
            runtime=runtime or runtime_cmd is not None,
            runtime_timeout=runtime_timeout,
            runtime_cmd=runtime_cmd,
            progress=activity.files if activity.enabled else None,
        )
        additions = Additions(with_requirements=with_requirements, installed_extras=installed_extras)
        analysis = analyze_job(paths, config=config_file, project=project, options=options, additions=additions)
    s = analysis.stats
    _warn_cache(s.write_error, no_cache_option=True)
    if stats:
        _err_console().print(f"cache: {s.hits} hits, {s.misses} misses, {s.parsed} files parsed", markup=False)
    ui.detail(
        f"analysed {len(analysis.local_files)} local files with Python {analysis.interpreter_version} "
        f"({s.hits} from the cache, {s.parsed} parsed)"
    )
    if explain_name:
        doc = explain_json(analysis, explain_name)
        lines = explain(analysis, explain_name)
        if doc is None or lines is None:
            raise InputError(f"--explain {explain_name}: not imported by the job")
        if as_json:
            doc = {**document_header("envcapture/explain", "1.0"), **doc}
            click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        else:
            click.echo("\n".join(lines))
        return
    if as_json:
        click.echo(render_json(analysis), nl=False)
    else:
        from envcapture.cli._target import say_target
        from envcapture.resolution.summary import planned_swaps

        installed = [(d.name, d.version) for d in analysis.distributions]
        say_target(_console(highlight=False, soft_wrap=True, emoji=False, markup=False), ui, analysis.target, None, installed)
        for line in planned_swaps(analysis.target, installed):
            ui.note(f"swap: {line}")
        _print_human(render_analysis(analysis), lambda: render_plain(analysis))
    if strict and any(u.status.value == "required" for u in analysis.unresolved):
        click.get_current_context().exit(EXIT_FINDINGS)
