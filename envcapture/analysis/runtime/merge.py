"""Static `Analysis` + `RuntimeReport` -> one `Analysis`: runtime findings added, none removed. Pure.

Rules:

* a module seen at run time whose file is in the project is a local file to ship, whoever
  imported it (a distribution's ``instantiate()`` importing the user's class by name
  included): found only at run time, it is added with ``found_by="runtime"``;
* a distribution, a standard-library module or a failed import counts only when the
  job's own code (a project file) made the import. Imports made from inside a
  distribution belong to that distribution's metadata; they are listed in
  ``RuntimeReport.not_attributed`` and not added as the job's imports. One exception
  (`envcapture.analysis.runtime.inside`): an installed distribution that a distribution
  the job includes imported (pandas importing pyarrow) is required: it joins
  ``Analysis.added`` with the reason ``imported by pandas at run time``;
* what static analysis found and the run did not import is kept (it may be on another
  code path); what both found becomes ``found_by="both"``;
* sites of the run are ``SiteRef(found_by="runtime")``; a distribution found statically
  gains the runtime sites at lines static analysis did not see (a computed import), and
  its status becomes the strongest of all its sites;
* a trace that failed, timed out or could not start becomes a diagnostic saying that the
  static results still stand.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from envcapture.analysis.classify import (
    AddedDistribution,
    Analysis,
    DistributionUse,
    SiteRef,
    Status,
    UnresolvedModule,
)
from envcapture.analysis.mapping import guess
from envcapture.analysis.runtime.inside import InsideImport, added_at_run_time
from envcapture.analysis.runtime.model import (
    RuntimeFinding,
    RuntimeReport,
    RuntimeTrace,
    TracedImport,
    TraceOutcome,
)
from envcapture.analysis.stdlib import is_stdlib
from envcapture.analysis.walk import LocalFile
from envcapture.environment.distributions import owners_of
from envcapture.environment.model import EnvSnapshot
from envcapture.model import Diagnostic, DistName, Severity

__all__ = ["RUNTIME_REASON", "merge_runtime"]

RUNTIME_REASON = "seen at run time"
_USER = ("project", "entry")
_RANK = {s: i for i, s in enumerate(Status)}


@dataclass
class _Found:
    """What the traces say, before it is merged."""

    local: dict[str, tuple[str, tuple[str, int] | None]] = field(default_factory=dict)  # path -> module, reached_from
    local_by: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    dists: dict[DistName, list[SiteRef]] = field(default_factory=lambda: defaultdict(list))
    dist_names: dict[DistName, set[str]] = field(default_factory=lambda: defaultdict(set))
    unknown: dict[str, list[SiteRef]] = field(default_factory=lambda: defaultdict(list))
    unknown_reason: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # unknown because the import failed
    unknown_fatal: set[str] = field(default_factory=set)  # ... and that failure ended the trace
    stdlib: set[str] = field(default_factory=set)
    inside_dists: set[str] = field(default_factory=set)
    inside_imports: set[InsideImport] = field(default_factory=set)  # ... that loaded, with their importer
    user_modules: set[str] = field(default_factory=set)


def _site(imp: TracedImport) -> SiteRef:
    return SiteRef(
        file=imp.importer or "?",
        line=imp.line or 0,
        column=0,
        module=imp.module,
        scope=imp.scope,
        status=Status.REQUIRED,
        dynamic="import_module" if imp.via == "import_module" else None,
        found_by="runtime",
    )


def _missing_module(imp: TracedImport) -> str | None:
    """The module an import failed to FIND (not one that was found and then raised)."""
    if imp.error is None or imp.missing is None:
        return None
    missing = imp.missing
    if imp.module == missing or imp.module.startswith(missing + ".") or missing.startswith(imp.module + "."):
        return missing
    return None


def _collect(report: RuntimeReport, snapshot: EnvSnapshot, python_version: str, static_modules: dict[str, str]) -> _Found:
    found = _Found()
    for trace in report.traces:
        fatal = trace.failed_import if trace.outcome is TraceOutcome.ERROR else None
        for imp in trace.imports:
            _collect_one(imp, trace, fatal, found, snapshot, python_version, static_modules)
    return found


def _collect_one(
    imp: TracedImport,
    trace: RuntimeTrace,
    fatal: str | None,
    found: _Found,
    snapshot: EnvSnapshot,
    python_version: str,
    static_modules: dict[str, str],
) -> None:
    by_user = imp.importer_kind in _USER
    where = f"{imp.importer}:{imp.line}" if imp.importer and imp.line else (imp.importer or "")
    # 1. The job's own files ship whoever imported them.
    local_path = imp.file if imp.file is not None and not imp.file.startswith("/") else None
    if local_path is None and imp.file is None and _missing_module(imp) is None and imp.module in static_modules:
        # Found but never finished loading (it raised, or the timeout hit): known statically.
        local_path = static_modules[imp.module]
    if local_path is not None:
        reached = (imp.importer, imp.line) if by_user and imp.importer and imp.line else None
        previous = found.local.get(local_path)
        if previous is None or (previous[1] is None and reached is not None):
            found.local[local_path] = (imp.module, reached)
        if where and by_user:
            found.local_by[local_path].add(where)
        return
    missing = _missing_module(imp)
    if imp.error is not None and missing is None:
        return  # found, then raised: the trace's message reports it
    top = (missing or imp.module).split(".")[0]
    if not by_user:
        if imp.importer_kind == "distribution" and not is_stdlib(top, python_version):
            found.inside_dists.add(missing or imp.module)
            if missing is None and imp.importer:
                found.inside_imports.add(InsideImport(module=imp.module, importer=imp.importer, line=imp.line))
        return
    found.user_modules.add(missing or imp.module)
    if missing is not None:
        found.unknown[missing].append(_site(imp))
        found.unknown_reason.setdefault(missing, f"{RUNTIME_REASON}: the import failed ({imp.error})")
        found.failed.add(missing)
        if fatal is not None and (fatal == imp.module or fatal == missing):
            found.unknown_fatal.add(missing)
        return
    if is_stdlib(imp.module, python_version):
        found.stdlib.add(top)
        return
    owners = owners_of(snapshot, imp.module)
    if owners:
        for owner in owners:
            found.dists[owner].append(_site(imp))
            found.dist_names[owner].add(imp.module)
        return
    if imp.file is None:
        return  # builtin, or never finished loading: nothing to say
    found.unknown[imp.module].append(_site(imp))
    found.unknown_reason.setdefault(
        imp.module, f"{RUNTIME_REASON}: loaded from outside the project, from a file no installed distribution claims"
    )


def _strongest(sites: tuple[SiteRef, ...]) -> Status:
    return min((s.status for s in sites), key=_RANK.__getitem__)


def _new_sites(existing: tuple[SiteRef, ...], runtime: list[SiteRef]) -> tuple[SiteRef, ...]:
    seen = {(s.file, s.line) for s in existing}
    fresh: list[SiteRef] = []
    for site in sorted(set(runtime)):
        if (site.file, site.line) not in seen:
            seen.add((site.file, site.line))
            fresh.append(site)
    return tuple(fresh)


def _where(sites: list[SiteRef] | tuple[SiteRef, ...]) -> tuple[str, ...]:
    return tuple(sorted({f"{s.file}:{s.line}" for s in sites}))


def _diagnostics(report: RuntimeReport) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for trace in report.traces:
        if trace.outcome is TraceOutcome.OK:
            continue
        file, line = trace.entry, None
        if trace.failed_at:
            head, _, tail = trace.failed_at.rpartition(":")
            file, line = (head, int(tail)) if tail.isdigit() else (trace.failed_at, None)
        if trace.outcome is TraceOutcome.ERROR:
            what = f"importing {trace.failed_import} raised" if trace.failed_import else "failed:"
            code = "runtime-import-failed"
        elif trace.outcome is TraceOutcome.TIMEOUT:
            what, code = "", "runtime-timeout"
        else:
            what, code = "could not run:", "runtime-not-run"
        text = " ".join(p for p in (f"runtime trace of {trace.entry}:", what, trace.message or "") if p)
        out.append(
            Diagnostic(
                file=None if trace.entry.startswith("-m ") or report.command else file,
                line=line,
                code=code,
                message=f"{text}; the static results still stand",
                severity=Severity.WARNING,
            )
        )
    if not report.network_isolated:
        out.append(
            Diagnostic(
                file=None,
                line=None,
                code="runtime-network",
                message=f"runtime trace: network {report.network}",
                severity=Severity.INFO,
            )
        )
    return out


def merge_runtime(analysis: Analysis, report: RuntimeReport, snapshot: EnvSnapshot) -> Analysis:
    """Add what the runtime ``report`` saw to the static ``analysis``; never remove anything.

    :returns: a new `Analysis` whose ``runtime`` is ``report`` with
        ``found_only_at_runtime`` and ``not_attributed`` filled in.
    """
    version = analysis.target.python_version
    static_modules = {f.module: f.path for f in analysis.local_files}
    found = _collect(report, snapshot, version, static_modules)
    findings: list[RuntimeFinding] = []

    files: dict[str, LocalFile] = {f.path: f for f in analysis.local_files}
    for path, (module, reached) in found.local.items():
        if path in files:
            if files[path].found_by == "static":
                files[path] = replace(files[path], found_by="both")
            continue
        files[path] = LocalFile(path=path, module=module, reached_from=reached, found_by="runtime")
        findings.append(RuntimeFinding(kind="local-file", name=path, imported_by=tuple(sorted(found.local_by.get(path, ())))))

    dists: dict[DistName, DistributionUse] = {d.name: d for d in analysis.distributions}
    for name, sites in found.dists.items():
        current = dists.get(name)
        if current is not None:
            all_sites = current.import_sites + _new_sites(current.import_sites, sites)
            dists[name] = replace(
                current,
                import_sites=all_sites,
                import_names=tuple(sorted(set(current.import_names) | found.dist_names[name])),
                status=_strongest(all_sites),
                found_by="both" if current.found_by == "static" else current.found_by,
            )
            continue
        info = snapshot.distribution(name)
        runtime_sites = _new_sites((), sites)
        shared = tuple(sorted({o for m in found.dist_names[name] for o in owners_of(snapshot, m) if o != name}))
        dists[name] = DistributionUse(
            name=name,
            display_name=info.display_name if info else name,
            version=info.version if info else "",
            import_names=tuple(sorted(found.dist_names[name])),
            import_sites=runtime_sites,
            status=Status.REQUIRED,
            reason=f"{RUNTIME_REASON} (imported by {', '.join(_where(runtime_sites)[:3])})",
            shared_with=shared,
            found_by="runtime",
        )
        findings.append(RuntimeFinding(kind="distribution", name=name, imported_by=_where(runtime_sites)))

    unresolved: dict[str, UnresolvedModule] = {u.module: u for u in analysis.unresolved}
    diagnostics = list(analysis.diagnostics)
    for module, sites in found.unknown.items():
        known = unresolved.get(module)
        if known is not None:
            if known.found_by == "static":
                unresolved[module] = replace(known, found_by="both")
            continue
        if any(module == m or module.startswith(m + ".") for m in static_modules):
            continue  # a submodule of a local package: the trace message says what failed
        runtime_sites = _new_sites((), sites)
        status = Status.REQUIRED
        if module in found.failed and module not in found.unknown_fatal:
            status = Status.OPTIONAL  # the failure was caught: the code went on without it
        # The same guess as the static pass gives a module that is not installed (tables, else
        # the same name, with its source and confidence), so both kinds of finding read alike.
        found_guess = guess(module)
        unresolved[module] = UnresolvedModule(
            module=module,
            guess=found_guess.distribution if found_guess else None,
            guess_source=found_guess.source if found_guess else None,
            guess_confidence=found_guess.confidence.value if found_guess else None,
            import_sites=runtime_sites,
            status=status,
            reason=found.unknown_reason[module],
            found_by="runtime",
        )
        findings.append(RuntimeFinding(kind="unresolved", name=module, imported_by=_where(runtime_sites)))
        if status is Status.REQUIRED:
            first = runtime_sites[0]
            diagnostics.append(
                Diagnostic(
                    file=first.file,
                    line=first.line or None,
                    code="unresolved-import",
                    message=f"{module} is imported at run time but not installed"
                    + (f" (guess: {found_guess.distribution})" if found_guess else ""),
                    severity=Severity.WARNING,
                )
            )

    new_stdlib = found.stdlib - set(analysis.stdlib)
    findings.extend(RuntimeFinding(kind="stdlib", name=name) for name in sorted(new_stdlib))

    included = [d.name for d in dists.values() if d.status.ships]
    env = analysis.target.marker_environment()
    inside, inside_findings = added_at_run_time(sorted(found.inside_imports), included, snapshot, env)
    findings.extend(inside_findings)
    added = _merge_added(analysis.added, inside)

    attributed = {m.split(".")[0] for m in found.user_modules} | {f.module.split(".")[0] for f in files.values()}
    for d in dists.values():
        attributed.update(n.split(".")[0] for n in d.import_names)
    added_names = {a.name for a in inside}
    attributed.update(m.module.split(".")[0] for m in found.inside_imports if set(owners_of(snapshot, m.module)) & added_names)
    not_attributed = tuple(sorted({m.split(".")[0] for m in found.inside_dists} - attributed))

    diagnostics.extend(_diagnostics(report))
    runtime = replace(
        report,
        found_only_at_runtime=tuple(sorted(findings)),
        not_attributed=not_attributed,
    )
    return replace(
        analysis,
        local_files=tuple(sorted(files.values(), key=lambda f: f.path)),
        distributions=tuple(sorted(dists.values(), key=lambda d: d.name)),
        unresolved=tuple(sorted(unresolved.values(), key=lambda u: u.module)),
        stdlib=tuple(sorted(set(analysis.stdlib) | found.stdlib)),
        diagnostics=tuple(sorted(set(diagnostics), key=lambda d: (d.file or "", d.line or 0, d.code, d.message))),
        runtime=runtime,
        added=added,
    )


def _merge_added(old: tuple[AddedDistribution, ...], new: tuple[AddedDistribution, ...]) -> tuple[AddedDistribution, ...]:
    """``old`` and ``new``, one row per (name, rule, via), sorted."""
    rows = {(a.name, a.rule, a.via): a for a in (*old, *new)}
    return tuple(sorted(rows.values()))


def __dir__() -> list[str]:
    return list(__all__)
