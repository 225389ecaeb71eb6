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

A job that cannot run as analysed is refused on the way, before the target's indexes are
asked anything (unless ``allow_unresolved``, which turns each refusal into a warning): see
`envcapture.resolution.refusals` for what is refused and with which exit code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envcapture._fs import read_user_file
from envcapture.analysis.api import (
    AnalysisOptions,
    ConfigLike,
    EntryPointsLike,
    analyze,
    entry_point_args,
    job_config,
    project_directory,
    snapshot_for_analysis,
)
from envcapture.analysis.classify import Analysis
from envcapture.environment.snapshot import snapshot_identity
from envcapture.resolution.addedmemo import AddedMemo, AddedResult, added_key

if TYPE_CHECKING:
    from envcapture.config.model import JobConfig
    from envcapture.environment.model import EnvSnapshot
    from envcapture.environment.pipconfig import PipConfig
    from envcapture.model import DistName, Target
    from envcapture.resolution.model import Closure, Decision, DirectRequirement, ResolveOptions
    from envcapture.resolution.refusals import Refusal

# A warm `analyze_job` (the analysis cache and the memo of `added` hit) imports nothing
# more: what resolving needs (the closure walk, packaging, the config loader and YAML, the
# refusals, requirements files, uv) is imported by the functions that resolve.

__all__ = ["Additions", "Capture", "analyze_job", "capture", "direct_requirements", "resolve_options"]


def __dir__() -> list[str]:
    return __all__


@dataclass(frozen=True, slots=True, kw_only=True)
class Capture:
    """Everything known about a job before anything is built.

    ``local_paths`` is ``None`` in auto mode (ship what the analysis reached) and the
    effective ``local-paths`` in manual mode; ``decisions`` are the ones made outside
    the closure (manual-mode derivations, option merges). ``warnings`` are one line each:
    what ``allow_unresolved`` went on with, and imports inside functions that nothing
    provides (that code path may never run).
    """

    analysis: Analysis
    snapshot: EnvSnapshot
    target: Target
    closure: Closure
    config: JobConfig | None
    project: Path
    local_paths: tuple[str, ...] | None = None
    decisions: tuple[Decision, ...] = ()
    warnings: tuple[str, ...] = ()
    allow_unresolved: bool = False


def _pip_settings(config: JobConfig | None) -> dict[str, Any]:
    """``env.python.pip`` as the keyword arguments of `ResolveOptions` (none without a config)."""
    if config is None or config.env.python is None:
        return {}
    pip = config.env.python.pip
    return {
        "index_url": pip.index_url.value,
        "extra_index_urls": tuple(pip.extra_index_urls.value or ()),
        "trusted_hosts": tuple(pip.trusted_hosts.value or ()),
        "no_deps": bool(pip.no_deps.value),
    }


def resolve_options(config: JobConfig | None) -> ResolveOptions:
    """``env.python.pip`` as `ResolveOptions` (defaults without a config)."""
    from envcapture.resolution.model import ResolveOptions

    return ResolveOptions(**_pip_settings(config))


def direct_requirements(analysis: Analysis) -> list[DirectRequirement]:
    """One requirement per distribution the job imports (type-only and inactive imports
    left out), ``via`` its import sites; and one per distribution the runtime pass saw an
    included distribution import (``imported by pandas at run time``)."""
    from envcapture.resolution.additions import runtime_requirements
    from envcapture.resolution.model import DirectRequirement

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
    from envcapture.config.pyproject import read_project_settings
    from envcapture.resolution.additions import with_requests, with_requirements

    settings = read_project_settings(project)
    requests = with_requests(additions.with_requirements, settings.with_requirements)
    direct = list(with_requirements(requests, snapshot))
    extras = additions.installed_extras
    if extras is None:
        extras = settings.installed_extras if settings.installed_extras is not None else not manual
    return direct, extras


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
    :param allow_unresolved: go on with a job `envcapture.resolution.refusals` refuses
        (each refusal becomes one of ``Capture.warnings``).
    :param additions: ``--with`` requirements and the installed-extras switch (`Additions`).
    :param pip_config: pip's configuration under the job's options (default: asked of the
        analysed interpreter's pip, `read_pip_config`).
    :raises InputError: bad config, entry points, requirements file, interpreter or
        ``[tool.envcapture]`` key; a missing entry script; a Python job without an entry
        point; a pip configuration pip cannot read.
    :raises ResolutionError: an installed distribution's metadata cannot be read; an
        import found only outside the target's ``sys.path``; a ``with`` distribution
        that is not installed; a module-level import that nothing provides; ``local-paths``
        leaving out an imported module; a pin whose Requires-Python excludes the target;
        ``no-deps`` leaving out what an imported distribution requires.
    """
    from envcapture.environment.pipconfig import PipConfig, read_pip_config
    from envcapture.environment.snapshot import default_interpreter, snapshot_environment
    from envcapture.resolution.additions import attach_added
    from envcapture.resolution.closure import resolve
    from envcapture.resolution.manual import complete_manual, merge_file_options, requirements_to_direct
    from envcapture.resolution.refusals import (
        local_paths_refusal,
        missing_imports,
        no_deps_refusals,
        requires_python_refusals,
    )
    from envcapture.resolution.requirements import parse_requirements_file
    from envcapture.resolution.sources import with_pip_config
    from envcapture.resolution.target import complete_for_target

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
    gate = _Gate(allow_unresolved)
    gate.starts(analysis, job, project_dir)
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
    req_file: str | None = None
    declared: frozenset[DistName] | None = None
    if spec is not None and is_manual:
        req_file = spec.requirements_file.value if spec.requirements_file.given else None
        file_direct = None
        if req_file is not None:
            parsed = parse_requirements_file(req_file, root=project_dir)
            file_direct = requirements_to_direct(parsed, snapshot, base_dir=str(project_dir))
            declared = frozenset(r.name for r in file_direct)
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
    python_job = job is None or spec is not None  # a plain job ships only its inputs: nothing to refuse
    if python_job:
        refused, in_functions = missing_imports(analysis, declared=declared, requirements_file=req_file)
        gate.settle(refused, listed_by="envcapture analyze lists them")
        gate.warnings.extend(in_functions)
    if local_paths is not None:
        gate.settle([r for r in (local_paths_refusal(analysis, job, local_paths),) if r is not None])
    if pip_config is None:  # a plain job (no env.python) installs nothing
        plain = job is not None and job.env.python is None
        pip_config = PipConfig() if plain else read_pip_config(snapshot.executable)
    base_options, from_pip = with_pip_config(base_options, pip_config)
    decisions.extend(from_pip)
    closure = resolve([*direct, *added], snapshot, target, base_options)
    if python_job:
        gate.settle(requires_python_refusals(closure, target))
        no_deps_at = spec.pip.no_deps.location if spec is not None and spec.pip.no_deps.given else None
        gate.settle(no_deps_refusals(closure, snapshot, target, analysis, location=no_deps_at, requirements_file=req_file))
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
        warnings=tuple(gate.warnings),
        allow_unresolved=allow_unresolved,
    )


class _Gate:
    """Raises the first refusal of each kind, or with ``allow_unresolved`` keeps them all as warnings."""

    def __init__(self, allow_unresolved: bool) -> None:
        self.allow = allow_unresolved
        self.warnings: list[str] = []

    def starts(self, analysis: Analysis, job: JobConfig | None, project: Path) -> None:
        """A missing entry script, no entry point, an import only a fallback finds (`refuse_unrunnable`)."""
        from envcapture.resolution.refusals import entry_problems, fallback_imports, refuse_unrunnable

        if not self.allow:
            refuse_unrunnable(analysis, job, project)
            return
        for problem in entry_problems(analysis, job, project):
            where = f"{problem.location}: " if problem.location is not None else ""
            self.warnings.append(f"{where}{problem.message} (--allow-unresolved: going on)")
        if job is None or job.env.python is not None:
            self.warnings.extend(f"{d} (--allow-unresolved: going on)" for d in fallback_imports(analysis))

    def settle(self, refusals: list[Refusal], *, listed_by: str = "") -> None:
        if not refusals:
            return
        if not self.allow:
            raise refusals[0].error(len(refusals) - 1, listed_by=listed_by)
        self.warnings.extend(r.warning() for r in refusals)


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

    The result is kept in the memo of `envcapture.resolution.addedmemo` (unless
    ``options.use_cache`` is off): the next run with the same inputs neither resolves nor
    imports what resolving needs.

    In bare mode (nothing installed to read) ``added`` keeps what the runtime pass found.

    :raises InputError: as `analyze`; a bad ``--with`` value or ``[tool.envcapture]`` key.
    :raises ResolutionError: a ``with`` distribution that is not installed.
    """
    options = options if options is not None else AnalysisOptions()
    job = job_config(config, project=project)
    project_dir = project_directory(job, project)
    snapshot, choice = snapshot_for_analysis(entry_points, job, project_dir, options, then=_import_resolution)
    analysis = analyze(entry_point_args(entry_points), config=job, project=project_dir, options=options, snapshot=snapshot)
    analysis = replace(analysis, environment=choice.describe())
    if choice.bare or (job is not None and job.env.python is None):
        return analysis
    spec = job.env.python if job is not None else None
    is_manual = spec is not None and spec.mode == "manual"
    memo = AddedMemo(options.cache_dir, enabled=options.use_cache)
    key = _added_key(analysis, job, additions, project_dir, snapshot, manual=is_manual) if memo.enabled else None
    result = memo.get(key) if key is not None else None
    if result is None:
        result = _resolve_added(analysis, job, additions, project_dir, snapshot, manual=is_manual)
        if key is not None:
            memo.put(key, result)
    analysis = result.applied_to(analysis)
    if memo.write_error and not analysis.stats.write_error:
        analysis = replace(analysis, stats=replace(analysis.stats, write_error=memo.write_error))
    return analysis


def _import_resolution() -> None:
    """Import what `_resolve_added` reads with (packaging's requirements and markers, ~40 ms):
    called while the environment probe runs, when the process would otherwise wait."""
    import envcapture.resolution.additions
    import envcapture.resolution.closure  # noqa: F401


def _added_key(
    analysis: Analysis, job: JobConfig | None, additions: Additions, project: Path, snapshot: EnvSnapshot, *, manual: bool
) -> str | None:
    """The memo key of `_resolve_added`: everything it reads (see `envcapture.resolution.addedmemo`);
    None when ``pyproject.toml`` cannot be read (then nothing is kept)."""
    pyproject = project / "pyproject.toml"
    settings = b"absent"
    if pyproject.is_file():  # as `read_project_settings` decides
        try:
            settings = b"present\0" + read_user_file(pyproject)
        except OSError:
            return None
    imported = [(use.name, [str(s) for s in use.import_sites]) for use in analysis.distributions if use.status.ships]
    return added_key(
        repr(imported),
        repr(analysis.added),  # before resolving: the runtime pass's additions only
        repr(analysis.target),
        repr(additions),
        settings,
        repr(manual),
        repr(sorted(_pip_settings(job).items())),
        snapshot_identity(snapshot),
    )


def _resolve_added(
    analysis: Analysis, job: JobConfig | None, additions: Additions, project: Path, snapshot: EnvSnapshot, *, manual: bool
) -> AddedResult:
    """What ships beyond the imports, from the closure resolved over the installed metadata.

    :raises InputError: a bad ``--with`` value or ``[tool.envcapture]`` key.
    :raises ResolutionError: a ``with`` distribution that is not installed.
    """
    from envcapture.errors import ResolutionError
    from envcapture.model import Diagnostic, Severity
    from envcapture.resolution.additions import added_from_closure
    from envcapture.resolution.closure import resolve

    added, use_extras = _added_direct(additions, project, snapshot, manual=manual)
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
        return AddedResult(failure=problem)
    return AddedResult(added=added_from_closure(closure))
