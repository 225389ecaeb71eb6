"""The glue from analysis to resolution: config + environment -> `Capture` (analysis, snapshot, target, closure).

``capture()`` runs the analysed interpreter once (`snapshot_environment`), analyses the
job (`analyze`), turns what it imports into `DirectRequirement`s (or, in manual mode,
reads ``requirements-file``), maps ``env.python.pip`` to `ResolveOptions` (merged with the
requirements file's own options, over pip's own configuration in the analysed environment:
`read_pip_config`, `with_pip_config`) and calls `resolve`; with ``complete=True`` what the
target needs but the local environment lacks is resolved with `complete_for_target`.

What ships although the code does not import it joins the direct requirements or the
walk (`envcapture.resolution.additions`): run-time imports by included distributions,
``--with`` and ``[tool.envcapture] with`` (refused when not installed), and, in auto mode
unless turned off, the installed extras; the result lists them as ``analysis.added``.
``analyze_job`` does the same for ``envcapture analyze``, without completing for the target.

A job that cannot run as analysed is refused before anything is resolved (unless
``allow_unresolved``): a script ``cmd`` runs that does not exist or a Python job without an
entry point (`InputError`, exit 2), an import found only outside the target's ``sys.path``
(`ResolutionError`, exit 3).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from envcapture.analysis.api import (
    AnalysisOptions,
    ConfigLike,
    EntryPointsLike,
    analyze,
    entry_point_args,
    job_config,
    project_directory,
)
from envcapture.analysis.classify import Analysis
from envcapture.analysis.entries import NO_ENTRY_POINT, missing_entry_scripts
from envcapture.analysis.walk import FALLBACK_IMPORT
from envcapture.config.loader import JobConfig
from envcapture.config.pyproject import read_project_settings
from envcapture.environment.discover import snapshot_for_project
from envcapture.environment.model import EnvSnapshot
from envcapture.environment.pipconfig import PipConfig, read_pip_config
from envcapture.environment.snapshot import default_interpreter, snapshot_environment
from envcapture.errors import ConfigError, InputError, Location, ResolutionError
from envcapture.model import Diagnostic, Severity, Target
from envcapture.resolution.additions import attach_added, runtime_requirements, with_requests, with_requirements
from envcapture.resolution.closure import resolve
from envcapture.resolution.manual import (
    complete_manual,
    merge_file_options,
    requirements_to_direct,
)
from envcapture.resolution.model import Closure, Decision, DirectRequirement, ResolveOptions
from envcapture.resolution.requirements import parse_requirements_file
from envcapture.resolution.sources import with_pip_config
from envcapture.resolution.target import complete_for_target

__all__ = ["Additions", "Capture", "analyze_job", "capture", "direct_requirements", "refuse_unrunnable", "resolve_options"]


def __dir__() -> list[str]:
    return __all__


@dataclass(frozen=True, slots=True, kw_only=True)
class Capture:
    """Everything known about a job before anything is built.

    ``local_paths`` is ``None`` in auto mode (ship what the analysis reached) and the
    effective ``local-paths`` in manual mode; ``decisions`` are the ones made outside
    the closure (manual-mode derivations, option merges).
    """

    analysis: Analysis
    snapshot: EnvSnapshot
    target: Target
    closure: Closure
    config: JobConfig | None
    project: Path
    local_paths: tuple[str, ...] | None = None
    decisions: tuple[Decision, ...] = ()


def resolve_options(config: JobConfig | None) -> ResolveOptions:
    """``env.python.pip`` as `ResolveOptions` (defaults without a config)."""
    if config is None or config.env.python is None:
        return ResolveOptions()
    pip = config.env.python.pip
    return ResolveOptions(
        index_url=pip.index_url.value,
        extra_index_urls=tuple(pip.extra_index_urls.value or ()),
        trusted_hosts=tuple(pip.trusted_hosts.value or ()),
        no_deps=bool(pip.no_deps.value),
    )


def direct_requirements(analysis: Analysis) -> list[DirectRequirement]:
    """One requirement per distribution the job imports (type-only and inactive imports
    left out), ``via`` its import sites; and one per distribution the runtime pass saw an
    included distribution import (``imported by pandas at run time``)."""
    out = []
    for use in analysis.distributions:
        if not use.status.ships:
            continue
        out.append(DirectRequirement(name=use.name, via=tuple(str(s) for s in use.import_sites)))
    out.extend(runtime_requirements(analysis))
    return sorted(out, key=lambda r: r.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Additions:
    """What the caller adds to what the code imports: ``with_requirements`` (``--with``
    values, before ``[tool.envcapture] with``), and the installed-extras rule (``None``:
    ``[tool.envcapture] installed-extras``, else on in auto mode)."""

    with_requirements: tuple[str, ...] = ()
    installed_extras: bool | None = None


def _added_direct(
    additions: Additions, project: Path, snapshot: EnvSnapshot, *, manual: bool
) -> tuple[list[DirectRequirement], bool]:
    """The ``with`` requirements and whether the installed-extras rule applies.

    The rule is for auto mode: in manual mode the requirements file says what is installed.

    :raises InputError: a bad ``--with`` value or ``[tool.envcapture]`` key.
    :raises ResolutionError: a ``with`` distribution that is not installed.
    """
    settings = read_project_settings(project)
    requests = with_requests(additions.with_requirements, settings.with_requirements)
    direct = list(with_requirements(requests, snapshot))
    extras = additions.installed_extras
    if extras is None:
        extras = settings.installed_extras if settings.installed_extras is not None else not manual
    return direct, extras


_GO_ON = "--allow-unresolved goes on anyway"


def refuse_unrunnable(analysis: Analysis, config: JobConfig | None, project: Path) -> None:
    """Raise when the job cannot start on the target as analysed; see the module docstring.

    :raises ConfigError: scripts ``cmd`` runs are missing, or Python runs no entry point
        (every problem, each located in config.yaml).
    :raises ResolutionError: an import resolves only through a directory the target's
        ``sys.path`` lacks (the first one, with the fix, and how many more).
    """
    problems: list[InputError] = []
    if config is not None:
        for problem in missing_entry_scripts(config, project):
            problems.append(InputError(problem.message, location=problem.location, hint=f"fix cmd; {_GO_ON}"))
        if any(d.code == NO_ENTRY_POINT for d in analysis.diagnostics):
            where = config.cmd_location or Location(file=config.source, key="cmd")
            problems.append(
                InputError(
                    "runs Python, but no entry point was found in it",
                    location=where,
                    hint=f"list the scripts or -m modules it runs in env.python.root-paths; {_GO_ON}",
                )
            )
    if problems:
        raise ConfigError.from_problems(problems)
    if config is not None and config.env.python is None:
        return  # a plain job: only its inputs travel
    fallback = [d for d in analysis.diagnostics if d.code == FALLBACK_IMPORT and d.severity is Severity.ERROR]
    if fallback:
        more = f" [and {len(fallback) - 1} more: envcapture analyze lists them]" if len(fallback) > 1 else ""
        raise ResolutionError(f"{fallback[0]}{more}", hint=_GO_ON)


def capture(
    entry_points: EntryPointsLike = (),
    *,
    config: ConfigLike | None = None,
    project: str | os.PathLike[str] | None = None,
    python: str | None = None,
    target_python: str | None = None,
    accelerator: str | None = None,
    options: ResolveOptions | None = None,
    complete: bool = True,
    snapshot: EnvSnapshot | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    allow_unresolved: bool = False,
    additions: Additions = Additions(),
    pip_config: PipConfig | None = None,
) -> Capture:
    """Analyse and resolve a job for its target.

    Entry points, ``config`` (a path, a `JobConfig` or a parsed mapping) and ``project``
    as for `envcapture.analysis.api.analyze`; ``python`` is an interpreter request (a path,
    a virtualenv directory, a version).

    :param accelerator: the target's accelerator (``cpu``, ``cuda``, ``cu126``...); default
        the config's ``cloud-instance-types``, else the variant installed locally.
    :param options: pip options replacing ``env.python.pip`` (the requirements file's
        options are still merged in).
    :param complete: resolve what the target needs but the local environment lacks
        (`complete_for_target`, needs uv and the indexes).
    :param allow_unresolved: go on with a job `refuse_unrunnable` refuses.
    :param additions: ``--with`` requirements and the installed-extras switch (`Additions`).
    :param pip_config: pip's configuration under the job's options (default: asked of the
        analysed interpreter's pip, `read_pip_config`).
    :raises InputError: bad config, entry points, requirements file, interpreter or
        ``[tool.envcapture]`` key; a missing entry script; a Python job without an entry
        point; a pip configuration pip cannot read.
    :raises ResolutionError: an installed distribution's metadata cannot be read; an
        import found only outside the target's ``sys.path``; a ``with`` distribution
        that is not installed.
    """
    entry_points = entry_point_args(entry_points)
    job = job_config(config, project=project)
    project_dir = project_directory(job, project)
    if snapshot is None:
        snapshot = snapshot_environment(python or default_interpreter())
    analysis = analyze(
        entry_points,
        config=job,
        project=project_dir,
        options=AnalysisOptions(
            python=python, target_python=target_python, accelerator=accelerator, cache_dir=cache_dir, progress=progress
        ),
        snapshot=snapshot,
    )
    if not allow_unresolved:
        refuse_unrunnable(analysis, job, project_dir)
    target = analysis.target
    base_options = options if options is not None else resolve_options(job)
    direct = direct_requirements(analysis)
    decisions: list[Decision] = []
    local_paths: tuple[str, ...] | None = None
    spec = job.env.python if job is not None else None
    is_manual = spec is not None and spec.mode == "manual"
    added: list[DirectRequirement] = []
    use_extras = False
    if job is None or spec is not None:  # a plain job (no env.python) ships no environment
        added, use_extras = _added_direct(additions, project_dir, snapshot, manual=is_manual)
    base_options = replace(base_options, installed_extras=use_extras)
    if spec is not None and is_manual:
        req_file = spec.requirements_file.value if spec.requirements_file.given else None
        file_direct = None
        if req_file is not None:
            parsed = parse_requirements_file(req_file, root=project_dir)
            file_direct = requirements_to_direct(parsed, snapshot, base_dir=str(project_dir))
            keys = frozenset(k for k, s in (("index-url", spec.pip.index_url),) if s.given)
            base_options, merged = merge_file_options(base_options, parsed, config_keys=keys)
            decisions.extend(merged)
        manual = complete_manual(
            version=spec.version.value if spec.version.given else None,
            requirements_file=req_file,
            local_paths=spec.local_paths.value if spec.local_paths.given else None,
            snapshot=snapshot,
            file_requirements=file_direct,
            detected_requirements=direct,
            detected_local_paths=[f.path for f in analysis.local_files],
        )
        direct = list(manual.requirements)
        decisions.extend(manual.notes)
        if spec.local_paths.given:
            local_paths = manual.local_paths
    if pip_config is None:  # a plain job (no env.python) installs nothing
        plain = job is not None and job.env.python is None
        pip_config = PipConfig() if plain else read_pip_config(snapshot.executable)
    base_options, from_pip = with_pip_config(base_options, pip_config)
    decisions.extend(from_pip)
    closure = resolve([*direct, *added], snapshot, target, base_options)
    if complete:
        closure = complete_for_target(closure, target)
    if decisions:
        closure = replace(closure, decisions=tuple(sorted({*closure.decisions, *decisions})))
    return Capture(
        analysis=attach_added(analysis, closure),
        snapshot=snapshot,
        target=target,
        closure=closure,
        config=job,
        project=project_dir,
        local_paths=local_paths,
        decisions=tuple(decisions),
    )


def analyze_job(
    entry_points: EntryPointsLike = (),
    *,
    config: ConfigLike | None = None,
    project: str | os.PathLike[str] | None = None,
    options: AnalysisOptions | None = None,
    additions: Additions = Additions(),
) -> Analysis:
    """`analyze` in the environment `snapshot_for_project` finds, with ``added`` filled in:
    the closure is resolved from the installed metadata (no index, nothing completed for
    the target) to name what ships although the code does not import it.

    In bare mode (nothing installed to read) ``added`` keeps what the runtime pass found.

    :raises InputError: as `analyze`; a bad ``--with`` value or ``[tool.envcapture]`` key.
    :raises ResolutionError: a ``with`` distribution that is not installed.
    """
    options = options if options is not None else AnalysisOptions()
    job = job_config(config, project=project)
    project_dir = project_directory(job, project)
    snapshot, choice = snapshot_for_project(project_dir, options.python)
    analysis = analyze(entry_point_args(entry_points), config=job, project=project_dir, options=options, snapshot=snapshot)
    analysis = replace(analysis, environment=choice.describe())
    if choice.bare or (job is not None and job.env.python is None):
        return analysis
    spec = job.env.python if job is not None else None
    is_manual = spec is not None and spec.mode == "manual"
    added, use_extras = _added_direct(additions, project_dir, snapshot, manual=is_manual)
    resolve_with = replace(resolve_options(job), installed_extras=use_extras)
    try:
        closure = resolve([*direct_requirements(analysis), *added], snapshot, analysis.target, resolve_with)
    except ResolutionError as exc:  # analyze reports what it can: the lock would stop here
        problem = Diagnostic(
            file=None,
            line=None,
            code="resolution-failed",
            message=f"what ships beyond the imports is not shown: {exc}",
            severity=Severity.WARNING,
        )
        return replace(analysis, diagnostics=(*analysis.diagnostics, problem))
    return attach_added(analysis, closure)
