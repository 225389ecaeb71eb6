"""What cannot run on the target, found before anything is built: Analysis + config (+ Closure) -> refusals.

`envcapture.resolution.capture.capture` asks, in this order, and raises the first kind
found unless ``allow_unresolved`` (each is then a warning on the `Capture`):

* `entry_problems`: a script ``cmd`` runs that does not exist, a Python job without an
  entry point (`InputError`, exit 2);
* `fallback_imports`: an import found only outside the target's ``sys.path`` (exit 3);
* `missing_imports`: an import made when a module loads (module or class level: not inside
  a function, not under ``try/except ImportError``, ``TYPE_CHECKING`` or a platform test)
  of a module that is neither local nor installed, and in manual mode not covered by the
  requirements file (exit 3); the same inside a function is only a warning;
* `local_paths_refusal`: ``type: manual`` ``local-paths`` that leave out a local module the
  job imports (exit 3);
* `requires_python_refusals`: a pin whose Requires-Python excludes the target's Python (exit 3);
* `no_deps_refusals`: ``env.python.pip.no-deps: true`` leaving out what an imported
  distribution requires (exit 3).

Every refusal is one line: where, what, and the fix.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from envcapture.analysis.classify import Analysis, SiteRef, Status, UnresolvedModule
from envcapture.analysis.entries import NO_ENTRY_POINT, missing_entry_scripts
from envcapture.analysis.mapping import distribution_candidates, import_names_of
from envcapture.analysis.model import DynamicKind, Scope
from envcapture.analysis.walk import FALLBACK_IMPORT, Edge, ModuleKind
from envcapture.config.loader import JobConfig
from envcapture.environment.model import EnvSnapshot
from envcapture.errors import ConfigError, InputError, Location, ResolutionError
from envcapture.model import Diagnostic, DistName, Severity, Target, dist_name
from envcapture.resolution.model import Closure, Pin, ViaKind
from envcapture.resolution.platforms import LOCAL_PLATFORM_ONLY

__all__ = [
    "GO_ON",
    "Refusal",
    "entry_problems",
    "fallback_imports",
    "local_paths_refusal",
    "missing_imports",
    "no_deps_refusals",
    "refuse_unrunnable",
    "requires_python_refusals",
]


def __dir__() -> list[str]:
    return __all__


GO_ON = "--allow-unresolved goes on anyway"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """One reason the job cannot run on the target: where (a ``file:line``, or a config
    key), what, and the fix."""

    location: Location | None
    problem: str
    fix: str

    def error(self, more: int = 0, *, listed_by: str = "") -> ResolutionError:
        """The refusal as the error `capture` raises: ``where: problem; fix, or --allow-unresolved``,
        with how many more refusals of the same kind there are."""
        rest = ""
        if more:
            rest = f" [and {more} more" + (f": {listed_by}" if listed_by else "") + "]"
        return ResolutionError(f"{self.problem}; {self.fix}, or --allow-unresolved{rest}", location=self.location)

    def warning(self) -> str:
        """The refusal as a warning, when ``--allow-unresolved`` went on."""
        where = f"{self.location}: " if self.location is not None else ""
        return f"{where}{self.problem} (--allow-unresolved: going on)"


# --- the job starts -------------------------------------------------------------------------


def entry_problems(analysis: Analysis, config: JobConfig | None, project: Path) -> list[InputError]:
    """Scripts ``cmd`` runs that are missing, and a Python ``cmd`` without an entry point,
    each located in config.yaml."""
    problems: list[InputError] = []
    if config is None:
        return problems
    for problem in missing_entry_scripts(config, project):
        problems.append(InputError(problem.message, location=problem.location, hint=f"fix cmd; {GO_ON}"))
    if any(d.code == NO_ENTRY_POINT for d in analysis.diagnostics):
        where = config.cmd_location or Location(file=config.source, key="cmd")
        problems.append(
            InputError(
                "runs Python, but no entry point was found in it",
                location=where,
                hint=f"list the scripts or -m modules it runs in env.python.root-paths; {GO_ON}",
            )
        )
    return problems


def fallback_imports(analysis: Analysis) -> list[Diagnostic]:
    """Imports at module level that resolve only through a directory the target's
    ``sys.path`` lacks (the analysis gives each its fix)."""
    return [d for d in analysis.diagnostics if d.code == FALLBACK_IMPORT and d.severity is Severity.ERROR]


def refuse_unrunnable(analysis: Analysis, config: JobConfig | None, project: Path) -> None:
    """Raise when the job cannot start on the target: `entry_problems`, then `fallback_imports`.

    :raises ConfigError: scripts ``cmd`` runs are missing, or Python runs no entry point
        (every problem, each located in config.yaml).
    :raises ResolutionError: an import resolves only through a directory the target's
        ``sys.path`` lacks (the first one, with the fix, and how many more).
    """
    problems = entry_problems(analysis, config, project)
    if problems:
        raise ConfigError.from_problems(problems)
    if config is not None and config.env.python is None:
        return  # a plain job: only its inputs travel
    fallback = fallback_imports(analysis)
    if fallback:
        more = f" [and {len(fallback) - 1} more: envcapture analyze lists them]" if len(fallback) > 1 else ""
        raise ResolutionError(f"{fallback[0]}{more}", hint=GO_ON)


# --- imports of modules nobody provides -------------------------------------------------------


def _nowhere(module: str, site: SiteRef, kinds: dict[tuple[str, int, int, str], ModuleKind]) -> bool:
    """The site imports ``module`` and nothing provides it: found on no path, or a portion of
    an installed namespace (``google.cloud.bigquery`` next to google-cloud-storage) that no
    distribution provides. A module found on the analysed interpreter's path that no RECORD
    claims, or missing from a local package, is another problem."""
    kind = kinds.get((site.file, site.line, site.column, site.module))
    return kind is ModuleKind.UNKNOWN or (kind is ModuleKind.INSTALLED and module != site.module)


def _declared(unresolved: UnresolvedModule, declared: Collection[DistName]) -> bool:
    """Whether a requirements-file name provides the module: the guess or any distribution
    the import-name tables give it, or a declared distribution whose import names cover it."""
    module = unresolved.module
    names = {dist_name(n) for n in (unresolved.guess, *distribution_candidates(module)) if n}
    if names.intersection(declared):
        return True
    return any(module == n or module.startswith(f"{n}.") for d in declared for n in import_names_of(d))


def _starts_with_module(site: SiteRef) -> bool:
    """The import runs when its module loads, unguarded: module or class level, not
    optional, type-only, inactive, behind a platform/version test or inside an ``if`` body
    whose test is decided at run time (``if args.wandb: import wandb``)."""
    return site.status is Status.REQUIRED and site.scope != Scope.FUNCTION.value and not site.conditions and not site.branch


def missing_imports(
    analysis: Analysis, *, declared: Collection[DistName] | None = None, requirements_file: str | None = None
) -> tuple[list[Refusal], list[str]]:
    """(refusals, warnings) for the modules the job imports that are neither local nor installed.

    A refusal for each module imported when a module loads (`_starts_with_module`), at its
    first such site; a warning for each imported only inside functions (that code path may
    never run). ``declared``: in manual mode with a requirements file, its distribution
    names; a module they provide is fine (the target installs it from the file).
    """
    kinds = {(e.importer, e.site.line, e.site.column, e.resolution.module): e.resolution.kind for e in analysis.graph.edges}
    refused: list[Refusal] = []
    warned: list[tuple[str, int, str]] = []
    for unresolved in analysis.unresolved:
        # A computed name with a literal prefix (``import_module("plugins." + name)``) has
        # its own warning (the analysis' dynamic-prefix-unresolved): the module is not known.
        sites = [s for s in unresolved.import_sites if s.prefix is None and _nowhere(unresolved.module, s, kinds)]
        if not sites or (declared is not None and _declared(unresolved, declared)):
            continue
        name = unresolved.guess or "the distribution that provides it"
        fix = f"list {name} in {requirements_file}" if requirements_file else f"pip install {name}"
        starting = [s for s in sites if _starts_with_module(s)]
        in_function = [
            s
            for s in sites
            if (s.scope == Scope.FUNCTION.value or s.branch) and s.status in (Status.REQUIRED, Status.CONDITIONAL)
        ]
        if starting:
            refused.append(
                Refusal(
                    location=Location(file=starting[0].file, line=starting[0].line),
                    problem=f"import {unresolved.module}: not installed in the analysed environment and not local",
                    fix=fix,
                )
            )
        elif in_function:
            site = in_function[0]
            where = "inside a function" if site.scope == Scope.FUNCTION.value else "inside an if block"
            text = (
                f"{site}: import {unresolved.module} {where}: not installed in the analysed "
                f"environment, so that code path may never run ({fix} if it does)"
            )
            warned.append((site.file, site.line, text))
    refused.sort(key=lambda r: (r.location.file or "", r.location.line or 0) if r.location else ("", 0))
    return refused, [text for _, _, text in sorted(warned)]


# --- manual local-paths ----------------------------------------------------------------------


def _required(edge: Edge) -> bool:
    site = edge.site
    return edge.active is not False and not site.type_only and not site.optional and site.dynamic is not DynamicKind.FIND_SPEC


def _covered(path: str, local_paths: Sequence[str]) -> bool:
    for entry in local_paths:
        top = posixpath.normpath(entry.replace("\\", "/"))
        if top == "." or path == top or path.startswith(f"{top}/"):
            return True
    return False


def local_paths_refusal(
    analysis: Analysis, config: JobConfig | None, local_paths: Sequence[str], shipped: Collection[str] | None = None
) -> Refusal | None:
    """``local-paths`` that leave out a local module the job imports, or ``None``.

    ``shipped``: the files the bundle holds (what `build` selected); by default a module is
    covered when it is a listed file or lies under a listed directory.
    """
    for edge in analysis.graph.edges:
        res = edge.resolution
        if res.kind is not ModuleKind.LOCAL or res.file is None or res.missing_part is not None or not _required(edge):
            continue
        if res.root in ("site", "editable"):
            continue  # installed in development mode: it ships as a wheel
        if (res.file in shipped) if shipped is not None else _covered(res.file, local_paths):
            continue
        spec = config.env.python if config is not None else None
        where = spec.local_paths.location if spec is not None and spec.local_paths.given else None
        top = res.file.split("/")[0]
        return Refusal(
            location=where or Location(file=edge.importer, line=edge.site.line),
            problem=f"local-paths leaves out {res.file} (module {res.module}), imported at {edge.importer}:{edge.site.line}",
            fix=f"add {top} to local-paths or use type: auto",
        )
    return None


# --- the closure on the target ---------------------------------------------------------------


def _site_of(pin: Pin, pins: dict[DistName, Pin]) -> tuple[Location | None, str | None]:
    """The first import site or requirements line that brings ``pin`` in, following its
    parents, and the parent it is required by (``None`` for a direct one)."""
    queue: list[tuple[Pin, str | None]] = [(pin, None)]
    seen: set[DistName] = set()
    while queue:
        current, parent = queue.pop(0)
        if current.name in seen:
            continue
        seen.add(current.name)
        for via in current.via:
            if via.kind in (ViaKind.IMPORT, ViaKind.REQUIREMENT):
                file, _, line = via.source.rpartition(":")
                if file and line.isdigit():
                    return Location(file=file, line=int(line)), parent
        for via in current.via:
            if via.kind is ViaKind.PARENT:
                found = pins.get(dist_name(via.source.split("[", 1)[0]))
                if found is not None:
                    queue.append((found, parent or found.display_name))
    return None, None


def requires_python_refusals(closure: Closure, target: Target) -> list[Refusal]:
    """Pins whose Requires-Python excludes the target's Python: no release of that version
    installs there (pip finds "no matching distribution")."""
    python = target.marker_environment()["python_full_version"]
    pins = {p.name: p for p in closure.pins}
    out = []
    for pin in closure.pins:
        if not pin.requires_python:
            continue
        try:
            allowed = SpecifierSet(pin.requires_python).contains(python, prereleases=True)
        except InvalidSpecifier:
            continue  # pip ignores an invalid Requires-Python too
        if allowed:
            continue
        where, parent = _site_of(pin, pins)
        by = f" (required by {parent})" if parent else ""
        out.append(
            Refusal(
                location=where,
                problem=f"{pin.display_name} {pin.installed_version or pin.version}{by} has Requires-Python "
                f"{pin.requires_python}, which excludes the target's Python {target.python_version}",
                fix=f"install a {pin.display_name} release that supports Python {target.python_version}, "
                f"or target Python {pin.requires_python}",
            )
        )
    return out


def _applies(marker: Marker | None, env: dict[str, str], extras: Collection[str]) -> bool:
    if marker is None:
        return True
    for extra in ("", *sorted(extras)):
        try:
            if marker.evaluate({**env, "extra": extra}):
                return True
        except Exception:  # noqa: BLE001 - an undecidable marker keeps the requirement, as resolve does
            return True
    return False


def no_deps_refusals(
    closure: Closure,
    snapshot: EnvSnapshot,
    target: Target,
    analysis: Analysis,
    *,
    location: Location | None = None,
    requirements_file: str | None = None,
) -> list[Refusal]:
    """With ``no-deps``, the distributions the job imports (and what they bring in that is
    pinned) whose Requires-Dist, for the target, names a distribution that is not pinned:
    the target installs them with ``--no-deps``, and their import fails.

    ``location``: where ``no-deps`` is set; ``requirements_file``: where to list what is missing.
    """
    if not closure.options.no_deps:
        return []
    pins = {p.name: p for p in closure.pins}
    env = target.marker_environment()
    sites = {d.name: d.import_sites[0] for d in analysis.distributions if d.status.ships and d.import_sites}
    queue: list[tuple[DistName, str]] = [(n, f"imported at {sites[n]}") for n in sorted(sites) if n in pins]
    seen: set[DistName] = set()
    out = []
    while queue:
        name, why = queue.pop(0)
        info = snapshot.distribution(name)
        if name in seen or info is None:
            continue
        seen.add(name)
        missing: dict[DistName, str] = {}
        for text in info.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue  # resolve records it as a decision
            child = dist_name(req.name)
            if not _applies(req.marker, env, pins[name].extras) or child in LOCAL_PLATFORM_ONLY:
                continue
            if child in pins:
                queue.append((child, f"required by {info.display_name}"))
            else:
                extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
                missing.setdefault(child, f"{req.name}{extras}{req.specifier}")
        if not missing:
            continue
        names = ", ".join(sorted(missing))
        if requirements_file:
            fix = f"list {names} in {requirements_file} or drop no-deps"
        else:
            fix = f"drop no-deps, or list {names} in a requirements file (type: manual)"
        out.append(
            Refusal(
                location=location or _site_of(pins[name], pins)[0],
                problem=f"{info.display_name} {info.version} ({why}) requires "
                f"{', '.join(missing[n] for n in sorted(missing))}, which no-deps leaves out of the environment",
                fix=fix,
            )
        )
    return out
