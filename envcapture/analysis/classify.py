"""ImportGraph + EnvSnapshot -> Analysis: each import sorted into stdlib, local, distribution, unknown.

Pure: the snapshot was read before, the graph was walked before. Each finding keeps the import
sites that need it and its status for the target, the strongest of its sites':
required > conditional > optional > type-only > inactive.

Two rules go beyond the import statements themselves:

* alternatives: ``try: import gymnasium as gym`` / ``except ImportError: import gym`` needs one
  of the two, unless one side is always there (the standard library, the job's own code, or a
  distribution an unguarded import needs anyway: ``except ImportError: import json``), when it
  needs nothing more. Else the side the job takes is judged like the interpreter would: the
  ``try``'s imports when they are all installed, else the ``except``'s when those are, else
  (bare mode) the ``try``'s, the author's preference. That side's sites lose the ``try``'s
  "optional" (required, or whatever else guards them); the other side stays optional. Every
  site of the group lists the other side's modules in ``SiteRef.alternatives``;
* implied imports (``mapping.implied_imports``): ``from torch.utils.tensorboard import
  SummaryWriter`` imports ``tensorboard`` too, at the same site, with the same status.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import TYPE_CHECKING, NamedTuple

from envcapture.analysis.finder import RootOrigin
from envcapture.analysis.model import DataFile, DynamicKind, EntryPoint
from envcapture.analysis.stdlib import is_stdlib
from envcapture.analysis.walk import Edge, ImportGraph, LocalFile, ModuleKind, PrefixImport, Resolution
from envcapture.model import Diagnostic, DistName, ModuleName, Severity, Target

if TYPE_CHECKING:
    from envcapture.analysis.runtime.model import RuntimeReport
    from envcapture.environment.model import EnvSnapshot

__all__ = [
    "DYNAMIC_PREFIX_UNRESOLVED",
    "RUNTIME_IMPORT",
    "AddedDistribution",
    "Analysis",
    "CacheStats",
    "DistributionUse",
    "SiteRef",
    "Status",
    "UnresolvedModule",
    "classify",
    "strongest_site",
]


class Status(str, enum.Enum):
    REQUIRED = "required"
    CONDITIONAL = "conditional"  # behind a platform/version test the target may pass
    OPTIONAL = "optional"  # try/except ImportError, find_spec
    TYPE_ONLY = "type-only"  # under TYPE_CHECKING: never shipped
    INACTIVE = "inactive"  # behind a test the target fails (win32-only on Linux)

    @property
    def ships(self) -> bool:
        """Whether the job makes the import when it runs on the target, so its distribution
        goes into the environment: guarded and optional imports do (they are installed here,
        so the job uses them); type-only and inactive ones do not."""
        return self in (Status.REQUIRED, Status.CONDITIONAL, Status.OPTIONAL)


_RANK = {s: i for i, s in enumerate(Status)}


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class SiteRef:
    """An import site as reports show it: ``file:line`` plus how it is guarded."""

    file: str
    line: int
    column: int
    module: str
    scope: str
    status: Status
    dynamic: str | None = None
    conditions: tuple[str, ...] = ()
    found_by: str = "static"  # "static" or "runtime" (seen while the runtime trace ran)
    prefix: str | None = None  # the literal prefix of a computed name ("pkg.plugins."): model.ImportSite.prefix
    branch: bool = False  # inside an if/else body: model.ImportSite.branch
    # try/except ImportError: the modules the other branch imports instead; the job needs this
    # import or those (see the module docstring)
    alternatives: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DistributionUse:
    name: DistName
    display_name: str
    version: str
    import_names: tuple[str, ...]
    import_sites: tuple[SiteRef, ...]
    status: Status
    reason: str
    shared_with: tuple[DistName, ...] = ()  # other distributions that provide the same module
    found_by: str = "static"  # "static", "runtime" (only the runtime trace saw it) or "both"


RUNTIME_IMPORT = "runtime-import"
"""`AddedDistribution.rule` of what the runtime pass adds (`envcapture.analysis.runtime.inside`)."""


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class AddedDistribution:
    """An installed distribution the job gets although its code does not import it, and why.

    ``rule`` is one of the rules of the README's "What ships and why": ``installed-extra``
    (``via`` ``pandas[parquet]``: an extra whose requirements are all installed),
    ``runtime-import`` (``via`` ``pandas``: imported by an included distribution while
    the runtime pass ran), ``with`` (``via`` ``--with pyarrow`` or ``pyproject.toml:12``).
    """

    name: DistName
    display_name: str
    version: str
    rule: str
    via: str
    reason: str  # "extra parquet of pandas, installed locally", "imported by pandas at run time"
    parent: DistName | None = None  # the distribution that brought it in, for --explain


@dataclass(frozen=True, slots=True, kw_only=True)
class UnresolvedModule:
    module: str
    guess: str | None
    guess_source: str | None
    import_sites: tuple[SiteRef, ...]
    status: Status
    reason: str
    found_by: str = "static"  # "static", "runtime" or "both"
    guess_confidence: str | None = None  # mapping.Confidence value: "high", "medium", "low"


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """How the extraction cache served one analysis (for --stats and the benchmarks).

    ``write_error``: why the cache could not be written (``<directory> (<reason>)``), empty
    when it could; the analysis went on without storing what it parsed.
    """

    hits: int = 0
    misses: int = 0
    parsed: int = 0
    write_error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """What the job needs, and why. The JSON report is rendered from this (report.py)."""

    project: str
    target: Target
    interpreter_version: str
    entry_points: tuple[EntryPoint, ...]
    local_files: tuple[LocalFile, ...]
    distributions: tuple[DistributionUse, ...]
    unresolved: tuple[UnresolvedModule, ...]
    stdlib: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]
    graph: ImportGraph
    stats: CacheStats = CacheStats()
    runtime: RuntimeReport | None = None  # the opt-in runtime pass (analyzers/trace.py, merge.py)
    environment: str = ""  # which environment was analysed and why (discover.EnvironmentChoice.describe)
    prefix_imports: tuple[PrefixImport, ...] = ()  # dynamic imports by a literal prefix, as resolved (walk.PrefixImport)
    # What ships although the code does not import it: run-time imports by included
    # distributions (merge.py), then, once resolved, installed extras and --with
    # (resolution/additions.py). Sorted by name.
    added: tuple[AddedDistribution, ...] = ()
    data_files: tuple[DataFile, ...] = ()  # read or run by a literal path, or named in cmd (analysis/datapaths.py)


def site_status(edge: Edge, *, taken: bool = False) -> Status:
    """The status of one import site for the target; ``taken``: the side of a try/except
    ImportError alternative that the job takes, which the ``try`` no longer makes optional."""
    site = edge.site
    if edge.active is False:
        return Status.INACTIVE
    if site.type_only:
        return Status.TYPE_ONLY
    if (site.optional and not taken) or site.dynamic is DynamicKind.FIND_SPEC:
        return Status.OPTIONAL
    if site.conditions and edge.active is None:
        return Status.CONDITIONAL
    return Status.REQUIRED


_NEEDED = frozenset({Status.REQUIRED, Status.CONDITIONAL})


class _Alternative(NamedTuple):
    status: Status
    alternatives: tuple[str, ...]


def _always_there(edge: Edge, needed_elsewhere: set[str]) -> bool:
    """Whether the import of ``edge`` works on the target whatever is installed: the standard
    library, the job's own code, or a module an unguarded import needs anyway."""
    res = edge.resolution
    if res.kind is ModuleKind.STDLIB or (res.kind is ModuleKind.LOCAL and res.missing_part is None):
        return True
    return edge.site.module.split(".")[0] in needed_elsewhere


def _installed(edge: Edge) -> bool:
    return edge.resolution.kind is ModuleKind.INSTALLED and edge.resolution.missing_part is None


def _alternatives(graph: ImportGraph) -> dict[Edge, _Alternative]:
    """The status and alternatives of every site of a try/except ImportError group (module docstring)."""
    groups: dict[tuple[str, int], list[Edge]] = defaultdict(list)
    needed_elsewhere: set[str] = set()
    for edge in graph.edges:
        if edge.site.alternative_group is not None:
            groups[(edge.importer, edge.site.alternative_group)].append(edge)
        else:
            top = edge.site.module.split(".")[0]
            if top not in needed_elsewhere and site_status(edge) in _NEEDED:
                needed_elsewhere.add(top)
    out: dict[Edge, _Alternative] = {}
    for edges in groups.values():
        preferred = [e for e in edges if not e.site.fallback]
        fallback = [e for e in edges if e.site.fallback]
        if not preferred or not fallback:
            continue  # one side is not reached (a relative import above the top): no choice to make
        sides = (preferred, fallback)
        taken: list[Edge] | None = None  # None: a side is always there, the job needs nothing more
        if not any(all(_always_there(e, needed_elsewhere) for e in side) for side in sides):
            taken = next((side for side in sides if all(_installed(e) for e in side)), preferred)
        for side, other in (sides, sides[::-1]):
            for edge in side:
                names = tuple(dict.fromkeys(e.site.module for e in other if e.site.module != edge.site.module))
                out[edge] = _Alternative(site_status(edge, taken=side is taken), names)
    return out


def _status(edge: Edge, alternative: _Alternative | None) -> Status:
    """An import's status: its group's when it is one side of an alternative."""
    return alternative.status if alternative is not None else site_status(edge)


def _site_ref(edge: Edge, alternative: _Alternative | None = None) -> SiteRef:
    site = edge.site
    return SiteRef(
        file=edge.importer,
        line=site.line,
        column=site.column,
        module=edge.resolution.module,
        scope=site.scope.value,
        status=_status(edge, alternative),
        dynamic=site.dynamic.value if site.dynamic else None,
        conditions=tuple(("not " if c.negated else "") + c.expression for c in site.conditions),
        prefix=site.prefix,
        branch=site.branch,
        alternatives=alternative.alternatives if alternative is not None else (),
    )


_INSTALLED_ROOTS = (RootOrigin.SITE.value, RootOrigin.EDITABLE.value)


def _keeps_no_site(res: Resolution) -> bool:
    """Whether `classify` keeps no site of an import resolved as ``res`` (its implied imports
    apart): the standard library, and the job's own code where it is (not installed, whole),
    which only the graph lists."""
    if res.kind is ModuleKind.STDLIB:
        return True
    return res.kind is ModuleKind.LOCAL and res.missing_part is None and res.root not in _INSTALLED_ROOTS


def _strongest(sites: list[SiteRef]) -> Status:
    return min((s.status for s in sites), key=_RANK.__getitem__)


def strongest_site(sites: tuple[SiteRef, ...]) -> SiteRef:
    """The first site (in file, line order) among those with the strongest status."""
    best = _strongest(list(sites))
    return next(s for s in sites if s.status is best)


def _related(a: str, b: str) -> bool:
    """Whether one dotted name is the other or inside it."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _namespace_portions(res: Resolution, names: tuple[str, ...]) -> tuple[str, ...]:
    """The names imported below an installed namespace directory (``res.file`` is a directory).

    ``import google.cloud.bigquery`` with only ``google.cloud`` found -> ``("google.cloud.bigquery",)``;
    ``from google.cloud import pubsub_v1`` -> ``("google.cloud.pubsub_v1",)``; ``()`` for a
    regular module or package (its file has a suffix) and for a bare ``import google.cloud``.
    """
    if res.file is None or "." in PurePath(res.file).name:
        return ()
    if res.missing_part is not None:
        return (res.missing_part,)
    return tuple(f"{res.module}.{name}" for name in names if name.isidentifier())


def classify(graph: ImportGraph, snapshot: EnvSnapshot, target: Target, *, project: str = ".") -> Analysis:
    """Sort every resolved import of ``graph`` for ``target``."""
    # Imported here: unpickling a recorded `Analysis` loads this module, and needs neither.
    from envcapture.analysis.mapping import guess, implied_imports, namespace_portion
    from envcapture.environment.distributions import module_owners, owners_of

    by_dist: dict[DistName, list[SiteRef]] = defaultdict(list)
    names_by_dist: dict[DistName, set[str]] = defaultdict(set)
    shared: dict[DistName, set[DistName]] = defaultdict(set)
    unknown: dict[str, list[SiteRef]] = defaultdict(list)
    unknown_reason: dict[str, str] = {}
    local_missing: set[str] = set()  # modules missing from a local package: no distribution to guess
    stdlib: set[str] = set()
    installed_locally: set[DistName] = set()
    diagnostics = list(graph.diagnostics)
    alternatives = _alternatives(graph)
    implied_seen: set[tuple[str, int, int, str]] = set()
    implied_by: dict[str, str] = {}  # an implied module not installed -> the submodule importing it
    for edge in graph.edges:
        res = edge.resolution
        # Only the sites of a try/except ImportError group have alternatives: the others are not
        # looked up (an `Edge` hashes every field of its site and resolution).
        alternative = alternatives.get(edge) if edge.site.alternative_group is not None else None
        if res.kind is ModuleKind.STDLIB and _status(edge, alternative) is not Status.INACTIVE:
            stdlib.add(res.module.split(".")[0])
        implied_by_edge = implied_imports(edge.site.module, edge.site.names)
        if not implied_by_edge and _keeps_no_site(res):
            # Most imports (the standard library, the job's own modules): nothing else to note
            # (making a `SiteRef` for each was most of this function's time).
            continue
        ref = _site_ref(edge, alternative)
        for submodule, implied in implied_by_edge:
            # ``torch.utils.tensorboard`` imports ``tensorboard``: named like any import of it.
            seen = (edge.importer, edge.site.line, edge.site.column, implied)
            if seen in implied_seen or is_stdlib(implied, target.python_version):
                continue
            implied_seen.add(seen)
            implied_owners = owners_of(snapshot, implied)
            for owner in implied_owners:
                by_dist[owner].append(ref)
                names_by_dist[owner].add(implied)
            if not implied_owners:
                implied_by.setdefault(implied, submodule)
                unknown[implied].append(ref)
                unknown_reason.setdefault(
                    implied, f"{submodule} imports {implied}, a module of another distribution, which is not installed"
                )
        if res.kind is ModuleKind.STDLIB:
            pass  # counted among the standard modules used, above
        elif res.kind is ModuleKind.LOCAL:
            if res.root in _INSTALLED_ROOTS and res.missing_part is None:
                # The project's own code, installed (``pip install -e .``): the target needs
                # that distribution too, or the import works only from the project's directory.
                for owner in owners_of(snapshot, res.module):
                    by_dist[owner].append(ref)
                    names_by_dist[owner].add(res.module)
                    installed_locally.add(owner)
            if res.missing_part is not None:
                # ``import pkg.gone`` where ``pkg`` is local: the job fails here at run time.
                unknown[res.missing_part].append(ref)
                local_missing.add(res.missing_part)
                unknown_reason.setdefault(res.missing_part, f"{res.missing_part} is not in the local package")
        elif res.kind is ModuleKind.INSTALLED:
            portions = _namespace_portions(res, edge.site.names)
            if portions:
                # A PEP 420 namespace (``google.cloud``) is shared: what is imported below it
                # belongs to the distribution providing that portion, never to a sibling.
                for portion in portions:
                    portion_owners = module_owners(snapshot).get(ModuleName(portion), ())
                    for owner in portion_owners:
                        by_dist[owner].append(ref)
                        names_by_dist[owner].add(portion)
                    if not portion_owners:
                        unknown[portion].append(ref)
                        unknown_reason.setdefault(
                            portion, f"no installed distribution provides {portion} (its namespace is shared by several)"
                        )
                continue
            owners = owners_of(snapshot, res.module)
            if not owners:
                key = res.module
                unknown[key].append(ref)
                # No absolute path in the reason: reports carry no machine-specific paths.
                unknown_reason[key] = (
                    f"found on the analysed interpreter's sys.path ({res.root}) but no installed distribution's RECORD claims it"
                )
                continue
            for owner in owners:
                by_dist[owner].append(ref)
                names_by_dist[owner].add(res.module)
                if len(owners) > 1:
                    shared[owner].update(o for o in owners if o != owner)
        else:
            key = res.missing_part or res.module
            if res.missing_part and res.missing_part != res.module.split(".")[0]:
                # ``pkg.missing`` inside a local or installed package: report where it failed.
                key = res.missing_part
            # Below a namespace shared by many projects (``google.cloud``), the portion imported
            # names the distribution, not the namespace: ``google.cloud.bigquery``.
            keys = namespace_portion(res.module, edge.site.names)
            for name in keys or (key,):
                unknown[name].append(ref)
                unknown_reason.setdefault(name, res.reason)
    dists: list[DistributionUse] = []
    for name, sites in by_dist.items():
        info = snapshot.distribution(name)
        sites.sort()
        status = _strongest(sites)
        also = tuple(sorted(shared.get(name, ())))
        reason = "imported by the job's code"
        if name in installed_locally:
            reason = (
                "the project's own code, installed from its directory: built as a wheel so the import works from any directory"
            )
        if also:
            reason += "; the module is also provided by " + ", ".join(also)
        dists.append(
            DistributionUse(
                name=name,
                display_name=info.display_name if info else name,
                version=info.version if info else "",
                import_names=tuple(sorted(names_by_dist[name])),
                import_sites=tuple(sites),
                status=status,
                reason=reason,
                shared_with=also,
            )
        )
    unresolved: list[UnresolvedModule] = []
    for module, sites in unknown.items():
        sites.sort()
        found = None if module in local_missing or module.startswith(".") else guess(module)
        status = _strongest(sites)
        unresolved.append(
            UnresolvedModule(
                module=module,
                guess=found.distribution if found else None,
                guess_source=found.source if found else None,
                guess_confidence=found.confidence.value if found else None,
                import_sites=tuple(sites),
                status=status,
                reason=unknown_reason[module],
            )
        )
        if status is Status.REQUIRED and strongest_site(tuple(sites)).prefix is None:  # a prefix: below
            first = strongest_site(tuple(sites))
            via = implied_by.get(module)
            notes = [f"{via} imports it"] if via is not None and not _related(first.module, module) else []
            notes += [f"guess: {found.distribution}"] if found else []
            diagnostics.append(
                Diagnostic(
                    file=first.file,
                    line=first.line,
                    code="unresolved-import",
                    message=f"{module} is imported but not installed" + (f" ({'; '.join(notes)})" if notes else ""),
                    severity=Severity.WARNING,
                )
            )
    prefix_imports = _resolved_prefixes(graph, snapshot, diagnostics)
    return Analysis(
        project=project,
        target=target,
        interpreter_version=snapshot.python_version,
        entry_points=graph.entry_points,
        local_files=graph.local_files,
        distributions=tuple(sorted(dists, key=lambda d: d.name)),
        unresolved=tuple(sorted(unresolved, key=lambda u: u.module)),
        stdlib=tuple(sorted(stdlib)),
        diagnostics=tuple(sorted(set(diagnostics), key=lambda d: (d.file or "", d.line or 0, d.code, d.message))),
        graph=graph,
        prefix_imports=prefix_imports,
        data_files=graph.data_files,
    )


DYNAMIC_PREFIX_UNRESOLVED = "dynamic-prefix-unresolved"
"""Diagnostic code: the package a dynamic import's literal prefix names is neither local nor installed."""


def _resolved_prefixes(graph: ImportGraph, snapshot: EnvSnapshot, diagnostics: list[Diagnostic]) -> tuple[PrefixImport, ...]:
    """The graph's prefix imports with the distributions that provide an installed package;
    a warning for each whose package is not found."""
    from envcapture.environment.distributions import owners_of

    out: list[PrefixImport] = []
    for item in graph.prefix_imports:
        if item.kind is ModuleKind.INSTALLED:
            owners = owners_of(snapshot, item.package)
            names = sorted((info.display_name if (info := snapshot.distribution(o)) else o) for o in owners)
            item = replace(item, distributions=tuple(names))
        elif item.kind is ModuleKind.UNKNOWN:
            diagnostics.append(
                Diagnostic(
                    file=item.importer,
                    line=item.line,
                    code=DYNAMIC_PREFIX_UNRESOLVED,
                    message=f"dynamic import with the prefix {item.prefix}: {item.package} is not a package of the project "
                    "nor installed, so nothing it loads can ship",
                    severity=Severity.WARNING,
                )
            )
        out.append(item)
    return tuple(out)
