"""The command line: `envcapture lock`, `build`, `verify` and `run`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from envcapture._fs import document_header
from envcapture.cli import (
    EXIT_BUILD,
    EXIT_FINDINGS,
    _allow_secret_env_option,
    _allow_unresolved_option,
    _console,
    _count,
    _entry_words,
    _err_console,
    _full_collections_again,
    _guarded,
    _job_inputs,
    _job_options,
    _json_option,
    _python_request,
    _shown_path,
    _ui,
    _ui_options,
    _warn_cache,
    _with_options,
)

if TYPE_CHECKING:  # envcapture run loads this module: the resolution stage stays unloaded
    from envcapture.resolution.capture import Capture
    from envcapture.resolution.model import Closure


@click.command("lock")
@_job_options
@_with_options
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for requirements.lock.txt, pylock.toml and environment.json.",
)
@click.option("--offline", is_flag=True, help="Do not ask the indexes for hashes and warnings.")
@_ui_options
@_allow_unresolved_option
@_guarded
def lock_cmd(
    entries: tuple[str, ...],
    modules: tuple[str, ...],
    config_file: Path | None,
    python: str | None,
    target_python: str | None,
    accelerator: str | None,
    project: Path | None,
    with_requirements: tuple[str, ...],
    installed_extras: bool | None,
    out_dir: Path,
    offline: bool,
    allow_unresolved: bool,
) -> None:
    """Resolve the job's environment for the target and write the lock files to OUTPUT."""
    from envcapture.build.lock import lock_job
    from envcapture.cli._target import regenerate, say_added, say_sources, say_swaps, say_target
    from envcapture.resolution.capture import Additions, capture
    from envcapture.resolution.indexes import IndexClient, attach_artifacts, index_warnings

    ui = _ui()
    entries = _entry_words(entries, modules)
    paths, config_file, project = _job_inputs(entries, config_file, project, "lock")
    python = _python_request(python)
    with ui.activity() as activity:
        activity.phase("reading the environment")
        result = capture(
            paths,
            config=config_file,
            project=project,
            python=python,
            target_python=target_python,
            accelerator=accelerator,
            complete=not offline,
            allow_unresolved=allow_unresolved,
            progress=activity.files if activity.enabled else None,
            additions=Additions(with_requirements=with_requirements, installed_extras=installed_extras),
        )
        ui.detail(f"resolved {_count(len(result.closure.pins), 'distribution')} for Python {result.target.python_version}")
        warnings: list[str] = []
        unbuilt: str | None = None
        if not offline:
            from dataclasses import replace

            activity.phase("asking the indexes for hashes")
            client = IndexClient(result.closure.options)
            closure = attach_artifacts(result.closure, result.target, client)
            warnings = [str(w) for w in index_warnings(closure, result.target, client)]
            # the local packages are hashed as the wheels the bundle will ship: built now
            # (reproducibly, into the store that envcapture build reads next)
            closure, unbuilt = _local_wheels(closure, result, activity)
            result = replace(result, closure=closure)
    _warn_cache(result.analysis.stats.write_error)
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    say_target(out, ui, result.target, result.closure, [(d.name, d.version) for d in result.snapshot.distributions])
    say_sources(ui, result.closure)
    say_swaps(out, result.closure, result.target, _download_sizes(result.closure))
    for warning in (*result.warnings, *warnings):
        ui.note(f"warning: {warning}")
    command = regenerate(
        "lock",
        config_file,
        entries,
        with_requirements=with_requirements,
        installed_extras=installed_extras,
        target_python=target_python,
        accelerator=accelerator,
    )
    _warn_requirements_contradictions(result, config_file, python)
    _warn_dynamic_imports(result.analysis)
    written = lock_job(result, out_dir, command=command)
    pins = result.closure.pins
    out.print(f"locked {len(pins)} distributions for Python {result.target.python_version} on linux x86_64", markup=False)
    say_added(out, result.analysis)
    for path in written.paths:
        out.print(f"  wrote {_shown_path(path)}", markup=False)
    if unbuilt is not None:
        ui.note(f"warning: the local packages were not built, so the lock has no hashes for them: {unbuilt}")
    for name, why in written.skipped:
        ui.note(f"note: {name} not written: {why}")
    for dropped in result.closure.dropped:
        ui.note(f"note: dropped {dropped.name}: {dropped.reason}")
    for unresolved in result.closure.unresolved_for_target:
        ui.note(f"warning: {unresolved.requirement()} is needed on the target but not installed here: {unresolved.reason}")


def _local_wheels(closure: Closure, result: Capture, activity: Any) -> tuple[Closure, str | None]:
    """``closure`` with the wheels of its local packages built and hashed; or as it was,
    with the reason, when they cannot be built here (the lock is still written)."""
    from envcapture.build.wheelhouse import WheelhouseOptions, build_local_wheels
    from envcapture.errors import BuildError

    activity.phase("building the local packages")
    options = WheelhouseOptions(analysed_python=result.snapshot.executable)
    try:
        house = build_local_wheels(closure, result.target, options=options, progress=activity.wheel_progress)
    except BuildError as exc:
        return closure, str(exc)
    return house.closure, None


@click.command("build")
@_job_options
@_with_options
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The bundle directory to write (replaced only when the new one is complete).",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Parallel downloads and builds (default: CPUs + 2, at most 8).")
@_json_option("build", "Print the manifest and the counters as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress on stderr (as -q, but notes are still printed).")
@_ui_options
@_allow_secret_env_option
@click.option(
    "--no-verify",
    is_flag=True,
    help="Do not verify the bundle (by default, when a CPython of the target version is here, the bundle is "
    "installed offline and the job's entry points, local modules and data files are checked; exit 3 on failure).",
)
@_allow_unresolved_option
@_guarded
def build_cmd(
    entries: tuple[str, ...],
    modules: tuple[str, ...],
    config_file: Path | None,
    python: str | None,
    target_python: str | None,
    accelerator: str | None,
    project: Path | None,
    with_requirements: tuple[str, ...],
    installed_extras: bool | None,
    out_dir: Path,
    jobs: int | None,
    as_json: bool,
    no_progress: bool,
    allow_secret_env: tuple[str, ...],
    no_verify: bool,
    allow_unresolved: bool,
) -> None:
    """Build the job's bundle in OUTPUT: locks, wheelhouse, local code, manifest; then verify it."""
    from envcapture.build.bundle import assemble_bundle
    from envcapture.build.wheelhouse import WheelhouseOptions
    from envcapture.cli._target import regenerate, say_added, say_build_target, say_sizes
    from envcapture.resolution.capture import Additions, capture

    ui = _ui()
    entries = _entry_words(entries, modules)
    paths, config_file, project = _job_inputs(entries, config_file, project, "build")
    python = _python_request(python)
    command = regenerate(
        "build",
        config_file,
        entries,
        with_requirements=with_requirements,
        installed_extras=installed_extras,
        target_python=target_python,
        accelerator=accelerator,
    )
    with ui.activity(not (no_progress or as_json)) as activity:
        activity.phase("reading the environment")
        cap = capture(
            paths,
            config=config_file,
            project=project,
            python=python,
            target_python=target_python,
            accelerator=accelerator,
            allow_unresolved=allow_unresolved,
            progress=activity.files if activity.enabled else None,
            additions=Additions(with_requirements=with_requirements, installed_extras=installed_extras),
        )
        ui.detail(f"resolved {_count(len(cap.closure.pins), 'distribution')} for Python {cap.target.python_version}")
        for warning in cap.warnings:
            ui.note(f"warning: {warning}")
        activity.phase("wheels")
        options = WheelhouseOptions(jobs=jobs, analysed_python=cap.snapshot.executable)
        result = assemble_bundle(
            cap,
            out_dir,
            wheelhouse_options=options,
            progress=activity.wheel_progress,
            command=command,
            allow_secret_env=allow_secret_env,
        )
    _warn_cache(cap.analysis.stats.write_error)
    for note in result.notes:
        ui.note(f"warning: {note}")
    stats = result.stats
    counters = {
        "downloads": stats.downloads,
        "builds": stats.builds,
        "copies": stats.copies,
        "store_hits": stats.store_hits,
        "bytes_downloaded": stats.bytes_downloaded,
        "corrupted": stats.corrupted,
    }
    verified = None
    if not no_verify and _can_verify(cap.target):
        from envcapture.runtime.verify import verify_bundle

        with ui.activity(not (no_progress or as_json)) as activity:
            activity.phase(f"verifying {result.path.name}: installing offline, importing the job's modules")
            verified = verify_bundle(result.path)
        for note in verified.notes:
            ui.note(f"note: verify: {note}")
    if as_json:
        added = [
            {"name": a.name, "version": a.version, "rule": a.rule, "via": a.via, "reason": a.reason} for a in cap.analysis.added
        ]
        doc = {"bundle": str(result.path), "counters": counters, "added": added, "manifest": result.manifest}
        if verified is not None:
            doc["verify"] = {
                "ok": verified.ok,
                "checks": [{"step": c.step, "subject": c.subject, "ok": c.ok, "detail": c.detail} for c in verified.checks],
            }
        click.echo(json.dumps(doc, indent=2))
        if verified is not None and not verified.ok:
            click.get_current_context().exit(EXIT_BUILD)
        return
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    sizes = say_build_target(out, ui, result)
    wheels = result.wheelhouse.wheels
    inputs = (result.manifest.get("job") or {}).get("inputs") or []
    out.print(
        f"built {_shown_path(result.path)}: {_count(len(wheels), 'wheel')} ({stats.downloads} downloaded, {stats.builds} built, "
        f"{stats.store_hits} from the store), {_count(len(result.local_code.files), 'local file')}, "
        f"{_count(len(inputs), 'input')}",
        markup=False,
    )
    say_added(out, cap.analysis)
    say_sizes(out, ui, sizes)
    for item in result.local_code.excluded:
        ui.note(f"note: left out {item.path} ({item.rule})")
    for item in ((result.manifest.get("job") or {}).get("inputs_archive") or {}).get("excluded") or []:
        ui.note(f"note: left out input {item['path']} ({item['rule']})")
    for name, why in result.skipped:
        ui.note(f"note: {name} not written: {why}")
    for name in result.wheelhouse.direct:
        ui.note(f"note: {name} is fetched by the target (direct reference), not shipped")
    _warn_dynamic_imports(cap.analysis)
    if verified is not None:
        failures = verified.failures
        if failures:
            for check in failures:
                _err_console().print(f"envcapture: error: verify: {check.step} {check.subject}: {check.detail}", markup=False)
            _err_console().print(
                f"envcapture: error: {result.path.name}: the job would fail on the target ({_count(len(failures), 'failed check')}); "
                "fix the project or the config and build again (--no-verify to keep the bundle anyway)",
                markup=False,
            )
            click.get_current_context().exit(EXIT_BUILD)
        out.print(
            f"verified offline with Python {verified.python_version}: {_count(len(verified.checks), 'check')} passed",
            markup=False,
        )


def _can_verify(target: Any) -> bool:
    """Whether a CPython of the target version is on this machine to verify with; a note if not."""
    from envcapture.environment.interpreters import find_interpreter, host_matches

    if host_matches(target.sys_platform, target.platform_machine) and find_interpreter(target.python_version) is not None:
        return True
    _ui().note(
        f"note: not verified: no CPython {target.python_version} on this {target.sys_platform} "
        f"{target.platform_machine} machine (envcapture verify BUNDLE where there is one)"
    )
    return False


@click.command("verify")
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--python",
    "python",
    help="CPython of the target version to verify with: a path, a virtualenv or a version (default: found on this machine).",
)
@_json_option("verify", "Print the result as JSON.")
@_ui_options
@_guarded
def verify_cmd(bundle: Path, python: str | None, as_json: bool) -> None:
    """Install BUNDLE offline into a fresh virtualenv and import its modules (exit 1 on failure)."""
    from envcapture.runtime.verify import verify_bundle

    python = _python_request(python)
    with _ui().activity(not as_json) as activity:
        activity.phase(f"verifying {bundle.name}: installing offline into a fresh virtualenv, importing")
        result = verify_bundle(bundle, python=python)
    if as_json:
        doc = {
            **document_header("envcapture/verify", "1.0"),
            "python_version": result.python_version,
            "offline_method": result.offline_method,
            "ok": result.ok,
            "checks": [{"step": c.step, "subject": c.subject, "ok": c.ok, "detail": c.detail} for c in result.checks],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
        counts: dict[str, int] = {}
        for check in result.checks:
            if check.ok:
                counts[check.step] = counts.get(check.step, 0) + 1
        passed = "  ok: " + (", ".join(f"{n} {step}" for step, n in sorted(counts.items())) or "nothing")
        if result.ok:
            out.print(f"verified with Python {result.python_version}, offline: {result.offline_method}", markup=False)
            out.print(passed, markup=False)
        else:
            failed = len(result.failures)
            out.print(
                f"verify FAILED: {failed} of {len(result.checks)} checks (Python {result.python_version}, "
                f"offline: {result.offline_method})",
                markup=False,
            )
            for check in result.failures:
                out.print(f"  FAILED {check.step} {check.subject}: {check.detail}", markup=False)
            out.print(passed, markup=False)
        for note in result.notes:
            _ui().note(f"note: {note}")
    if not result.ok:
        click.get_current_context().exit(EXIT_FINDINGS)


@click.command("run")
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--workdir",
    "workdir",
    type=click.Path(file_okay=True, path_type=Path),
    help="The run directory to create (must not exist or be empty): status.json, logs/, outputs/, and work/ where the job runs. Default: BUNDLE-run-TIME-PID in the current directory.",
)
@click.option(
    "--python",
    "python",
    help="CPython of the target version for the job's environment: a path, a virtualenv or a version (default: found on this machine).",
)
@_ui_options
@_guarded
def run_cmd(bundle: Path, workdir: Path | None, python: str | None) -> None:
    """Run the job of BUNDLE here: verify it, build or reuse its environment offline, run cmd.

    Exit status: 0 Complete, 1 Failed (the job's exit code is in status.json), 2 the bundle
    is damaged or incomplete (nothing ran), 3 the environment cannot be built, 130 Cancelled.
    """
    from envcapture.runtime.run import run_bundle

    _full_collections_again()
    err = _err_console()
    ui = _ui()

    def say(line: str) -> None:  # -q: no state lines (the job's own output is still streamed)
        if not ui.quiet or line.startswith("warning:"):
            err.print(f"envcapture: {line}", markup=False)

    result = run_bundle(bundle, workdir, python=_python_request(python), log=say)
    click.get_current_context().exit(result.exit_status)


def _warn_requirements_contradictions(result: Any, config_file: Path | None, python: str | None) -> None:
    """In manual mode with a requirements file: say where it contradicts the imports
    (missing, unused, wrong name), as `envcapture check` would; the lock still follows the file."""
    from envcapture.check.job import CheckOptions, run_check

    spec = result.config.env.python if result.config is not None else None
    if spec is None or spec.mode != "manual" or not spec.requirements_file.given:
        return
    checked = run_check(CheckOptions(config=config_file, python=python), snapshot=result.snapshot)
    for finding in checked.findings:
        if finding.code in ("EC001", "EC002", "EC003"):
            _ui().note(f"warning: {finding}")


def _warn_dynamic_imports(analysis: Any) -> None:
    """Dynamic imports whose modules cannot ship: a computed name with no literal package
    (``import_module(name)``), or a prefix whose package is nowhere; one line each."""
    from envcapture.analysis.classify import DYNAMIC_PREFIX_UNRESOLVED
    from envcapture.analysis.imports import COMPUTED_IMPORT

    for diagnostic in analysis.diagnostics:
        if diagnostic.code in (COMPUTED_IMPORT, DYNAMIC_PREFIX_UNRESOLVED):
            _ui().note(f"warning: {diagnostic}")


def _download_sizes(closure: Any) -> dict[Any, int]:
    """Each index pin's download size as its index gives it (PEP 700, or a file on this
    machine): the largest of its target wheels, else its sdist; pins without one are left out."""
    sizes: dict[Any, int] = {}
    for pin in closure.pins:
        wheels = [a.size for a in pin.artifacts if a.size is not None and a.filename.endswith(".whl")]
        others = [a.size for a in pin.artifacts if a.size is not None]
        if wheels or others:
            sizes[pin.name] = max(wheels or others)
    return sizes
