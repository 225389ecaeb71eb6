"""Analysis -> the JSON document (schema envcapture/analysis 1.x) and rich renderables. Pure."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from envcapture._version import __version__
from envcapture.analysis.classify import Analysis, SiteRef, Status, strongest_site
from envcapture.analysis.runtime.model import RuntimeReport, TraceOutcome
from envcapture.analysis.walk import LocalFile
from envcapture.model import dist_name

__all__ = [
    "ANALYSIS_SCHEMA_VERSION",
    "analysis_to_json",
    "explain",
    "render_analysis",
    "render_json",
]

ANALYSIS_SCHEMA_VERSION = "1.1"  # 1.1: found_by, runtime


def _site_json(site: SiteRef) -> dict[str, Any]:
    return {
        "file": site.file,
        "line": site.line,
        "column": site.column,
        "module": site.module,
        "scope": site.scope,
        "status": site.status.value,
        "dynamic": site.dynamic,
        "conditions": list(site.conditions),
        "found_by": site.found_by,
    }


def _runtime_json(runtime: RuntimeReport | None) -> dict[str, Any] | None:
    """The ``runtime`` object (schema 1.1): null when the runtime pass did not run."""
    if runtime is None:
        return None
    kinds = {"local_files": "local-file", "distributions": "distribution", "unresolved": "unresolved", "stdlib": "stdlib"}
    return {
        "network_isolated": runtime.network_isolated,
        "network": runtime.network,
        "timeout_seconds": runtime.timeout,
        "command": runtime.command,
        "traces": [
            {
                "entry": t.entry,
                "outcome": t.outcome.value,
                "message": t.message,
                "failed_import": t.failed_import,
                "failed_at": t.failed_at,
                "imports_seen": len({i.module for i in t.imports}),
                "written_files": list(t.written_files),
            }
            for t in runtime.traces
        ],
        "found_only_at_runtime": {
            key: [{"name": f.name, "imported_by": list(f.imported_by)} for f in runtime.found_only_at_runtime if f.kind == kind]
            for key, kind in kinds.items()
        },
        "not_attributed": list(runtime.not_attributed),
        "data_refs": [
            {
                "file": r.file,
                "line": r.line,
                "key": r.key,
                "value": r.value,
                "module": r.module,
                "kind": r.kind,
                "distribution": r.distribution,
            }
            for r in runtime.data_refs
        ],
        "notes": list(runtime.notes),
    }


def analysis_to_json(analysis: Analysis) -> dict[str, Any]:
    """The documented JSON form (docs/schema/analysis.schema.json). Lists in a stated order:
    entry points as found, everything else sorted by name or path."""
    target = analysis.target
    return {
        "schema": "envcapture/analysis",
        "schema_version": ANALYSIS_SCHEMA_VERSION,
        "generator": f"envcapture {__version__}",
        "target": {
            "python_version": target.python_version,
            "sys_platform": target.sys_platform,
            "platform_machine": target.platform_machine,
        },
        "analysed_python_version": analysis.interpreter_version,
        "entry_points": [str(e) for e in analysis.entry_points],
        "local_files": [f.path for f in analysis.local_files],
        "distributions": [
            {
                "name": d.name,
                "display_name": d.display_name,
                "version": d.version,
                "status": d.status.value,
                "import_names": list(d.import_names),
                "import_sites": [_site_json(s) for s in d.import_sites],
                "reason": d.reason,
                "shared_with": list(d.shared_with),
                "found_by": d.found_by,
            }
            for d in analysis.distributions
        ],
        "unresolved": [
            {
                "module": u.module,
                "guess": u.guess,
                "guess_source": u.guess_source,
                "status": u.status.value,
                "import_sites": [_site_json(s) for s in u.import_sites],
                "reason": u.reason,
                "found_by": u.found_by,
            }
            for u in analysis.unresolved
        ],
        "stdlib": list(analysis.stdlib),
        "diagnostics": [
            {
                "file": d.file,
                "line": d.line,
                "code": d.code,
                "severity": d.severity.value,
                "message": d.message,
            }
            for d in analysis.diagnostics
        ],
        "runtime": _runtime_json(analysis.runtime),
    }


def render_json(analysis: Analysis) -> str:
    return json.dumps(analysis_to_json(analysis), indent=2, ensure_ascii=False) + "\n"


_STATUS_STYLE = {
    Status.REQUIRED: "green",
    Status.CONDITIONAL: "yellow",
    Status.OPTIONAL: "cyan",
    Status.TYPE_ONLY: "magenta",
    Status.INACTIVE: "dim",
}


def _sites_text(sites: tuple[SiteRef, ...], limit: int = 3) -> str:
    shown = [f"{s.file}:{s.line}" + ("" if s.scope == "module" else f" ({s.scope})") for s in sites[:limit]]
    if len(sites) > limit:
        shown.append(f"+{len(sites) - limit} more")
    return ", ".join(shown)


def render_analysis(analysis: Analysis) -> RenderableType:
    """The human report: entry points, local files, distributions, the rest by kind."""
    parts: list[RenderableType] = []
    target = analysis.target
    parts.append(
        Text.assemble(
            ("Target: ", "bold"),
            f"Python {target.python_version} on {target.sys_platform} {target.platform_machine}",
            f"  (analysed interpreter: Python {analysis.interpreter_version})",
        )
    )
    parts.append(Text.assemble(("Entry points: ", "bold"), ", ".join(str(e) for e in analysis.entry_points) or "none"))
    files = Table(title=f"Local files to ship ({len(analysis.local_files)})", title_justify="left", show_edge=False)
    files.add_column("file")
    files.add_column("reached from")
    for f in analysis.local_files:
        if f.reached_from is not None:
            reached = f"{f.reached_from[0]}:{f.reached_from[1]}"
        else:
            reached = "run time" if f.found_by == "runtime" else "entry point"
        files.add_row(f.path, reached)
    parts.append(files)
    dists = Table(title=f"Distributions ({len(analysis.distributions)})", title_justify="left", show_edge=False)
    for col in ("distribution", "version", "status", "imported as", "import sites"):
        dists.add_column(col)
    for d in analysis.distributions:
        dists.add_row(
            d.display_name,
            d.version,
            Text(d.status.value, style=_STATUS_STYLE[d.status]),
            ", ".join(d.import_names),
            _sites_text(d.import_sites),
        )
    parts.append(dists)
    if analysis.unresolved:
        unk = Table(title=f"Not installed ({len(analysis.unresolved)})", title_justify="left", show_edge=False)
        for col in ("module", "status", "guess", "import sites"):
            unk.add_column(col)
        for u in analysis.unresolved:
            unk.add_row(
                u.module,
                Text(u.status.value, style=_STATUS_STYLE[u.status]),
                f"{u.guess} (guessed)" if u.guess else "-",
                _sites_text(u.import_sites),
            )
        parts.append(unk)
    if analysis.stdlib:
        parts.append(Text.assemble(("Standard library: ", "bold"), ", ".join(analysis.stdlib)))
    if analysis.runtime is not None:
        parts.extend(_render_runtime(analysis.runtime))
    if analysis.diagnostics:
        diag = Table(title=f"Problems ({len(analysis.diagnostics)})", title_justify="left", show_edge=False)
        diag.add_column("where")
        diag.add_column("severity")
        diag.add_column("message")
        for problem in analysis.diagnostics:
            where = (problem.file or "") + (f":{problem.line}" if problem.line else "")
            diag.add_row(where or "-", problem.severity.value, problem.message)
        parts.append(diag)
    return Group(*parts)


_OUTCOME_STYLE = {
    TraceOutcome.OK: "green",
    TraceOutcome.ERROR: "red",
    TraceOutcome.TIMEOUT: "red",
    TraceOutcome.NOT_RUN: "yellow",
}


def _render_runtime(runtime: RuntimeReport) -> list[RenderableType]:
    """The runtime section: how each run went, and what only the run found."""
    parts: list[RenderableType] = [Text("Runtime trace", style="bold")]
    parts.append(Text.assemble("  network: ", runtime.network, f"; timeout {runtime.timeout:g} s per run"))
    for t in runtime.traces:
        line = Text.assemble("  ", t.entry, ": ", (t.outcome.value, _OUTCOME_STYLE[t.outcome]))
        if t.message:
            detail = t.message
            if t.failed_import:
                detail = f"importing {t.failed_import}: {detail}"
            if t.failed_at:
                detail += f" (at {t.failed_at})"
            line.append(f": {detail}")
        if t.outcome is not TraceOutcome.OK:
            line.append("; the static results still stand")
        parts.append(line)
        if t.written_files:
            parts.append(Text(f"    wrote (in the sandbox copy only): {', '.join(t.written_files)}"))
    if runtime.found_only_at_runtime:
        found = Table(
            title=f"Found only at run time ({len(runtime.found_only_at_runtime)})", title_justify="left", show_edge=False
        )
        for col in ("kind", "name", "imported by"):
            found.add_column(col)
        for f in runtime.found_only_at_runtime:
            found.add_row(
                f.kind,
                f.name,
                ", ".join(f.imported_by[:3]) + (f" +{len(f.imported_by) - 3} more" if len(f.imported_by) > 3 else "") or "-",
            )
        parts.append(found)
    else:
        parts.append(Text("  nothing found only at run time"))
    if runtime.not_attributed:
        parts.append(
            Text(
                "  imported only from inside distributions (their own dependencies, not added): "
                + ", ".join(runtime.not_attributed)
            )
        )
    if runtime.data_refs:
        refs = Table(
            title=f"Names in data files (candidates, not added) ({len(runtime.data_refs)})", title_justify="left", show_edge=False
        )
        for col in ("where", "value", "resolves to"):
            refs.add_column(col)
        for r in runtime.data_refs:
            to = {"local": f"local module {r.module}", "distribution": f"{r.distribution} ({r.module})"}.get(
                r.kind, "nothing installed"
            )
            refs.add_row(f"{r.file}:{r.line}", f"{r.key}: {r.value}", to)
        parts.append(refs)
    for note in runtime.notes:
        parts.append(Text(f"  note: {note}"))
    return parts


def _chain_to(file: str, files: dict[str, LocalFile], analysis: Analysis) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    current: str | None = file
    while current is not None and current not in seen:
        seen.add(current)
        local = files.get(current)
        if local is None or local.reached_from is None:
            lines.append(f"{current} is an entry point" if local is not None else f"{current}")
            break
        importer, line = local.reached_from
        lines.append(f"{importer}:{line} imports {local.module} ({current})")
        current = importer
    return list(reversed(lines))


def explain(analysis: Analysis, name: str) -> list[str] | None:
    """The chain of imports that pulled ``name`` in: a distribution, a module or a local file.

    Returns None when ``name`` is not part of the analysis.
    """
    files = {f.path: f for f in analysis.local_files}
    if name in files:
        return [f"{name} ships as local code because:", *("  " + s for s in _chain_to(name, files, analysis))]
    wanted = dist_name(name)
    for d in analysis.distributions:
        if d.name == wanted or name in d.import_names:
            site = strongest_site(d.import_sites)
            head = f"{d.display_name}=={d.version} is {d.status.value} because:"
            chain = _chain_to(site.file, files, analysis)
            chain.append(f"{site.file}:{site.line} imports {site.module} ({site.scope} scope, {site.status.value})")
            more = [f"  also imported at {s.file}:{s.line} ({s.status.value})" for s in d.import_sites if s is not site]
            return [head, *("  " + s for s in chain), *more]
    for u in analysis.unresolved:
        if u.module == name or u.module.split(".")[0] == name:
            site = strongest_site(u.import_sites)
            guess = f"; guess: {u.guess}" if u.guess else ""
            chain = _chain_to(site.file, files, analysis)
            chain.append(f"{site.file}:{site.line} imports {site.module} ({site.scope} scope, {site.status.value})")
            return [f"{u.module} is not installed ({u.reason}{guess}):", *("  " + s for s in chain)]
    for edge in analysis.graph.edges:
        if edge.resolution.module == name:
            chain = _chain_to(edge.importer, files, analysis)
            chain.append(f"{edge.importer}:{edge.site.line} imports {name} ({edge.resolution.kind.value})")
            return [f"{name} ({edge.resolution.reason}):", *("  " + s for s in chain)]
    return None
