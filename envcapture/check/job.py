"""``envcapture check``, glued: options -> declared sources + analysis + closure (+ index) -> `CheckResult`.

EDGE: reads the project's files and config, runs the analysed interpreter once (its
snapshot), reads sources through the analysis cache, asks the index only with
``check_index``, and rewrites requirements files only with ``fix``. The rules themselves
are `envcapture.check.rules.check` (pure).

Order: the project directory (``--project``, else the config's, else the current one);
``[tool.envcapture]`` of its ``pyproject.toml``; the entry points (arguments, else the
config's ``cmd``/``root-paths``, else ``[tool.envcapture] entry-points``, else
``config.yaml`` if present); the declared sources (``--requirements``/``--pyproject``,
else the config's ``env.python.requirements-file``, else ``requirements.txt``, else
``pyproject.toml``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from envcapture._fs import atomic_write_bytes, read_user_file
from envcapture.analysis.api import AnalysisOptions, analyze, snapshot_for_analysis
from envcapture.analysis.classify import Analysis
from envcapture.check.declared import read_declared, read_inline_ignores, read_settings
from envcapture.check.fix import rewrite_requirements
from envcapture.check.model import CheckSettings, Declared, DeclaredRequirement, Finding, IndexProblem
from envcapture.check.rules import check, undecided_unused
from envcapture.config.loader import JobConfig, load_config
from envcapture.config.pyproject import WithEntry
from envcapture.environment.model import EnvSnapshot
from envcapture.errors import InputError, Location, RequirementsError
from envcapture.model import DistName, Severity, Target
from envcapture.resolution.additions import with_requests, with_requirements
from envcapture.resolution.closure import resolve
from envcapture.resolution.manual import merge_file_options
from envcapture.resolution.model import Closure, DirectRequirement, ResolveOptions
from envcapture.resolution.requirements import parse_requirements_file

__all__ = ["CheckOptions", "CheckResult", "apply_fixes", "run_check"]


def __dir__() -> list[str]:
    return list(__all__)


# The index verdicts that make a pin not installable (indexes.check_target_wheels codes);
# an sdist-only pin (a warning there) can still be built on the target.
_NOT_INSTALLABLE = frozenset({"no-target-wheel", "version-not-on-index", "not-on-index"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOptions:
    entry_points: tuple[str, ...] = ()  # scripts (absolute, or relative to the project) or "-m pkg.mod"
    config: Path | None = None
    project: Path | None = None
    requirements: tuple[Path, ...] = ()
    pyproject: bool = False
    python: str | None = None
    target_python: str | None = None
    accelerator: str | None = None  # cpu, cuda, cuXYZ (see envcapture.config.accelerator)
    require_pins: bool = False  # on top of [tool.envcapture] require-pins
    with_requirements: tuple[str, ...] = ()  # --with: shipped although not imported (never EC002)
    installed_extras: bool | None = None  # None: [tool.envcapture] installed-extras, else on
    check_index: bool = False
    fix: bool = False
    use_cache: bool = True
    cache_dir: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """What is still wrong (``findings``), what ``--fix`` repaired, and what was read."""

    findings: tuple[Finding, ...]
    declared: Declared
    settings: CheckSettings
    entry_points: tuple[str, ...]
    fixed: tuple[Finding, ...] = ()
    written: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    target: Target | None = None
    environment: str = ""  # which environment was analysed and why (the report's first line)
    cache_write_error: str = ""  # the analysis cache could not be written (`CacheStats.write_error`)


def _project_dir(options: CheckOptions) -> Path:
    if options.project is not None:
        return options.project.resolve()
    if options.config is not None:
        return options.config.resolve().parent
    return Path.cwd().resolve()


def _sources(options: CheckOptions, project: Path, job: JobConfig | None) -> tuple[list[Path], Path | None]:
    requirements = [p if p.is_absolute() else Path.cwd() / p for p in options.requirements]
    pyproject = project / "pyproject.toml" if options.pyproject else None
    if requirements or pyproject is not None:
        return requirements, pyproject
    spec = job.env.python if job is not None else None
    if spec is not None and spec.requirements_file.given and spec.requirements_file.value:
        return [project / spec.requirements_file.value], None
    if (project / "requirements.txt").is_file():
        return [project / "requirements.txt"], None
    if (project / "pyproject.toml").is_file():
        return [], project / "pyproject.toml"
    raise InputError(
        f"nothing declares the requirements: no requirements.txt nor pyproject.toml in {project}",
        hint="give --requirements FILE or --pyproject",
    )


def _closure(
    analysis: Analysis,
    declared: Declared,
    snapshot: EnvSnapshot,
    target: Target,
    options: ResolveOptions,
    added: tuple[DirectRequirement, ...] = (),
) -> Closure:
    """The closure of what is declared, imported and ``added`` (``with``): its ``via``
    parents are the dependency graph, installed extras included."""
    direct: dict[str, DirectRequirement] = {}
    for req in declared.requirements:
        if req.name is None or snapshot.distribution(req.name) is None:
            continue
        old = direct.get(req.name)
        direct[req.name] = DirectRequirement(
            name=req.name,
            extras=req.extras | (old.extras if old else frozenset()),
            via=(*(old.via if old else ()), req.where),
            markers=req.markers if old is None else None,
        )
    for use in analysis.distributions:
        if use.status.ships and use.name not in direct:
            direct[use.name] = DirectRequirement(name=use.name, via=tuple(str(s) for s in use.import_sites))
    return resolve([*sorted(direct.values(), key=lambda r: r.name), *added], snapshot, target, options)


def _resolve_options(job: JobConfig | None, requirement_files: list[Path], project: Path) -> ResolveOptions:
    from envcapture.resolution.capture import resolve_options

    options = resolve_options(job)
    for path in requirement_files:
        parsed = parse_requirements_file(path, root=project)
        options, _ = merge_file_options(options, parsed)
    return options


def _index_problems(closure: Closure, target: Target) -> tuple[list[IndexProblem], list[str]]:
    from envcapture.resolution.indexes import IndexClient, check_target_wheels

    client = IndexClient(closure.options, environ=os.environ)
    problems: list[IndexProblem] = []
    notes: dict[str, None] = {}
    for pin in closure.pins:
        for diag in check_target_wheels(replace(closure, pins=(pin,)), target, client):
            if diag.code in _NOT_INSTALLABLE and (diag.code != "no-target-wheel" or diag.severity is Severity.ERROR):
                problems.append(IndexProblem(name=pin.name, version=pin.version, message=diag.message))
            else:
                notes.setdefault(f"{diag.code}: {diag.message}")
    return problems, list(notes)


def apply_fixes(
    findings: tuple[Finding, ...], project: Path, fixable: frozenset[str]
) -> tuple[tuple[Finding, ...], tuple[str, ...]]:
    """Rewrite the requirements files named by the fixes (atomically, mode kept).

    Only files in ``fixable`` (the requirements files read) are touched. Returns the
    findings fixed and the files written.
    """
    edits: dict[str, tuple[list[int], dict[int, str], list[str], list[Finding]]] = {}
    for f in findings:
        if f.fix is None or f.fix.file not in fixable:
            continue
        remove, rename, add, done = edits.setdefault(f.fix.file, ([], {}, [], []))
        if f.fix.action == "remove" and f.fix.line is not None:
            remove.append(f.fix.line)
        elif f.fix.action == "rename" and f.fix.line is not None:
            rename[f.fix.line] = f.fix.text
        elif f.fix.action == "add":
            if f.fix.text not in add:
                add.append(f.fix.text)
        else:  # pragma: no cover - check() makes no other fix
            continue
        done.append(f)
    fixed: list[Finding] = []
    written: list[str] = []
    for file, (remove, rename, add, done) in sorted(edits.items()):
        path = project / file
        try:
            data = read_user_file(path)
            text = data.decode("utf-8")
        except OSError as exc:
            raise RequirementsError(f"cannot rewrite the file: {exc.strerror or exc}", location=Location(file=file)) from exc
        except UnicodeDecodeError as exc:
            raise RequirementsError(f"cannot rewrite the file: {exc}", location=Location(file=file)) from exc
        new = rewrite_requirements(text, remove=remove, rename=rename, add=add)
        if new != text:
            atomic_write_bytes(path, new.encode("utf-8"), mode=stat.S_IMODE(path.stat().st_mode))
            written.append(file)
        fixed.extend(done)
    return tuple(fixed), tuple(written)


def run_check(options: CheckOptions, *, snapshot: EnvSnapshot | None = None) -> CheckResult:
    """Check the project's declared requirements against what its entry points import.

    :raises InputError: nothing to check, bad config, requirements file, ``[tool.envcapture]`` or ``--with``.
    :raises ResolutionError: an installed distribution's metadata cannot be read; a ``with``
        distribution is not installed in the analysed environment.
    """
    project = _project_dir(options)
    settings = read_settings(project / "pyproject.toml", root=project)
    if options.require_pins:
        settings = replace(settings, require_pins=True)
    requests = with_requests(options.with_requirements, settings.with_requirements)
    cli_with = tuple(WithEntry(text=r.text, location=r.location) for r in requests[: len(options.with_requirements)])
    settings = replace(settings, with_requirements=(*cli_with, *settings.with_requirements))
    job = load_config(options.config) if options.config is not None else None
    entries = options.entry_points
    if not entries and job is None:
        entries = settings.entry_points
        if not entries:
            if (project / "config.yaml").is_file():
                job = load_config(project / "config.yaml")
            else:
                raise InputError(
                    "nothing to check: give entry points (envcapture check train.py), --config config.yaml, "
                    "or entry-points in [tool.envcapture] of pyproject.toml"
                )
    requirement_files, pyproject = _sources(options, project, job)
    declared = read_declared(root=project, requirements=requirement_files, pyproject=pyproject)
    analysis_options = AnalysisOptions(
        python=options.python,
        target_python=options.target_python,
        accelerator=options.accelerator,
        use_cache=options.use_cache,
        cache_dir=options.cache_dir,
    )
    environment = ""
    if snapshot is None:
        snapshot, choice = snapshot_for_analysis(entries, job, project, analysis_options)
        environment = choice.describe()
    # Bare mode has nothing installed to pin a `with` distribution to: it only counts as used.
    added = with_requirements(requests, snapshot) if snapshot.distributions else ()
    analysis = analyze(entries, config=job, project=project, options=analysis_options, snapshot=snapshot)
    resolve_opts = _resolve_options(job, requirement_files, project) if options.check_index else ResolveOptions()
    extras = options.installed_extras if options.installed_extras is not None else settings.installed_extras
    resolve_opts = replace(resolve_opts, installed_extras=extras is not False)
    closure = _closure(analysis, declared, snapshot, analysis.target, resolve_opts, added)
    notes = [f"{d}" for d in analysis.diagnostics if d.severity is not Severity.INFO and d.code != "unresolved-import"]
    problems: list[IndexProblem] = []
    if options.check_index:
        problems, index_notes = _index_problems(closure, analysis.target)
        notes.extend(index_notes)
        analysis, guess_notes = _verify_guesses(analysis, resolve_opts)
        notes.extend(guess_notes)
    site_files = {s.file for d in analysis.distributions for s in d.import_sites}
    site_files |= {s.file for u in analysis.unresolved for s in u.import_sites}
    inline = read_inline_ignores(project, sorted(site_files | set(declared.files)))
    findings = check(
        analysis,
        declared,
        closure=closure,
        snapshot=snapshot,
        settings=settings,
        inline_ignores=inline,
        index_problems=problems,
    )
    undecided = undecided_unused(analysis, declared, closure=closure, snapshot=snapshot, settings=settings, inline_ignores=inline)
    if undecided:
        notes.append(_undecided_note(undecided, declared))
    fixed: tuple[Finding, ...] = ()
    written: tuple[str, ...] = ()
    if options.fix:
        fixable = frozenset(r.file for r in declared.requirements if r.source == "requirements") | (
            {declared.fix_file} if declared.fix_file else set()
        )
        fixed, written = apply_fixes(findings, project, fixable)
        if any(f.fix is not None and f.fix.file not in fixable for f in findings):
            notes.append("--fix rewrites requirements files only: fix pyproject.toml by hand")
        if any(f.fix is not None and f.fix.action == "add" for f in fixed) and _uses_hashes(project, written):
            notes.append("added requirements have no --hash: pip's hash-checking mode needs one for every line")
        findings = tuple(f for f in findings if f not in fixed)
    return CheckResult(
        findings=findings,
        declared=declared,
        settings=settings,
        entry_points=tuple(str(e) for e in analysis.entry_points),
        fixed=fixed,
        written=written,
        notes=tuple(notes),
        target=analysis.target,
        environment=environment,
        cache_write_error=analysis.stats.write_error,
    )


def _shown(names: Sequence[str], limit: int) -> str:
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


def _undecided_note(undecided: tuple[tuple[DeclaredRequirement, tuple[DistName, ...]], ...], declared: Declared) -> str:
    """One line for the declarations EC002 could not judge (`undecided_unused`)."""
    declarations = [f"{req.written_name or req.name} ({req.where})" for req, _ in undecided]
    written = {r.name: r.written_name for r in declared.requirements if r.name is not None and r.written_name}
    parents = sorted({written.get(p, p) for _, unknown in undecided for p in unknown}, key=str.lower)
    it, they = ("it", "it") if len(declarations) == 1 else ("them", "they")
    one = len(parents) == 1
    return (
        f"EC002 not judged for {_shown(declarations, 5)}: no code imports {it}, but {they} may be required by "
        f"{_shown(parents, 3)}, whose requirements are unknown (not installed in the analysed environment); "
        f"install {'it' if one else 'them'}, or analyse an environment where {'it is' if one else 'they are'} "
        "(--python, a .venv/), to judge"
    )


def _verify_guesses(analysis: Analysis, options: ResolveOptions) -> tuple[Analysis, list[str]]:
    """Same-name guesses looked up on the configured index: found ones gain confidence, others are noted."""
    from envcapture.analysis.mapping import SOURCE_SAME_NAME, Confidence
    from envcapture.resolution.indexes import IndexClient

    client = IndexClient(options, environ=os.environ)
    notes: list[str] = []
    unresolved = []
    for u in analysis.unresolved:
        if u.guess is None or u.guess_source != SOURCE_SAME_NAME:
            unresolved.append(u)
            continue
        found = any(client.usable(url) is None and client.project_files(url, u.guess) for url in client.indexes)
        if found:
            u = replace(u, guess_source="same name (found on the index)", guess_confidence=Confidence.MEDIUM.value)
        else:
            notes.append(
                f"{u.module}: no project named {u.guess} on the configured index; "
                "name its distribution in [tool.envcapture] mapping"
            )
        unresolved.append(u)
    return replace(analysis, unresolved=tuple(unresolved)), notes


def _uses_hashes(project: Path, files: tuple[str, ...]) -> bool:
    for file in files:
        try:
            if "--hash" in read_user_file(project / file).decode("utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False
