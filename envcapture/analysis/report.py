"""Analysis -> the JSON document (schema envcapture/analysis 1.x) and rich renderables. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envcapture._fs import document_header, json_text
from envcapture.analysis.classify import AddedDistribution, Analysis, SiteRef, Status, UnresolvedModule, strongest_site
from envcapture.analysis.datapaths import JOB_INPUT
from envcapture.analysis.model import DataFile, FileUse, prefix_reason
from envcapture.analysis.walk import LocalFile
from envcapture.model import dist_name

if TYPE_CHECKING:  # rich is imported by the functions that render tables: --json never needs it
    from rich.console import RenderableType
    from rich.table import Table

    from envcapture.analysis.runtime.model import RuntimeReport  # only a runtime pass makes one

__all__ = [
    "ANALYSIS_SCHEMA_VERSION",
    "analysis_to_json",
    "explain",
    "explain_json",
    "render_analysis",
    "render_json",
    "render_plain",
    "split_unresolved",
]

ANALYSIS_SCHEMA_VERSION = (
    "1.3"  # 1.1: found_by, runtime; 1.2: dynamic_prefixes, site prefix and alternatives, added; 1.3: data_files
)


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
        "prefix": site.prefix,
        "alternatives": list(site.alternatives),
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


def _data_file_json(f: DataFile) -> dict[str, Any]:
    return {
        "path": f.path,
        "kind": "directory" if f.is_dir else "file",
        "ships": f.ships,
        "left_out": f.left_out,
        "analysed": f.analysed,
        "reasons": [
            {"use": r.use.value, "how": r.how, "file": r.file, "line": r.line, "from_file_dir": r.from_file_dir, "text": str(r)}
            for r in f.reasons
        ],
    }


def analysis_to_json(analysis: Analysis) -> dict[str, Any]:
    """The documented JSON form (docs/schema/analysis.schema.json). Lists in a stated order:
    entry points as found, everything else sorted by name or path."""
    target = analysis.target
    return {
        **document_header("envcapture/analysis", ANALYSIS_SCHEMA_VERSION),
        "target": {
            "python_version": target.python_version,
            "sys_platform": target.sys_platform,
            "platform_machine": target.platform_machine,
        },
        "analysed_python_version": analysis.interpreter_version,
        "environment": analysis.environment,
        "entry_points": [str(e) for e in analysis.entry_points],
        "local_files": [f.path for f in analysis.local_files],
        "data_files": [_data_file_json(f) for f in analysis.data_files],
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
                "guess_confidence": u.guess_confidence,
                "status": u.status.value,
                "import_sites": [_site_json(s) for s in u.import_sites],
                "reason": u.reason,
                "found_by": u.found_by,
            }
            for u in analysis.unresolved
        ],
        "added": [
            {
                "name": a.name,
                "display_name": a.display_name,
                "version": a.version,
                "rule": a.rule,
                "via": a.via,
                "reason": a.reason,
            }
            for a in analysis.added
        ],
        "stdlib": list(analysis.stdlib),
        "dynamic_prefixes": [
            {
                "file": p.importer,
                "line": p.line,
                "prefix": p.prefix,
                "package": p.package,
                "kind": p.kind.value,
                "reason": p.reason,
                "directories": list(p.directories),
                "files": list(p.files),
                "distributions": list(p.distributions),
            }
            for p in analysis.prefix_imports
        ],
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
    return json_text(analysis_to_json(analysis)) + "\n"


_STATUS_STYLE = {
    Status.REQUIRED: "green",
    Status.CONDITIONAL: "yellow",
    Status.OPTIONAL: "cyan",
    Status.TYPE_ONLY: "magenta",
    Status.INACTIVE: "dim",
}


def _site_text(site: SiteRef) -> str:
    text = f"{site.file}:{site.line}" + ("" if site.scope == "module" else f" ({site.scope})")
    text += f" (or {', '.join(site.alternatives)})" if site.alternatives else ""
    return text if site.prefix is None else f"{text} {prefix_reason(site.prefix)}"


def _sites_text(sites: tuple[SiteRef, ...], limit: int | None = 3) -> str:
    """``file:line`` of each site; with ``limit``, the first ones and ``+N more``."""
    shown = [_site_text(s) for s in (sites if limit is None else sites[:limit])]
    if limit is not None and len(sites) > limit:
        shown.append(f"+{len(sites) - limit} more")
    return ", ".join(shown)


_NEEDED = frozenset({Status.REQUIRED, Status.CONDITIONAL})


def split_unresolved(
    analysis: Analysis,
) -> tuple[tuple[UnresolvedModule, ...], tuple[UnresolvedModule, ...], tuple[UnresolvedModule, ...]]:
    """Modules not installed, as (needed to start, optional code paths, never run on the target).

    Needed to start: imported at module or class level, unguarded or behind a condition the
    target may pass. Optional code paths: imported only inside functions, or under
    ``try/except ImportError`` (a yolov5 job's tensorrt, coremltools...). Never run:
    type-only or inactive on the target.
    """
    needed, optional, never = [], [], []
    for u in analysis.unresolved:
        if any(s.status in _NEEDED and s.scope != "function" for s in u.import_sites):
            needed.append(u)
        elif any(s.status in _NEEDED or s.status is Status.OPTIONAL for s in u.import_sites):
            optional.append(u)
        else:
            never.append(u)
    return tuple(needed), tuple(optional), tuple(never)


def _optional_line(optional: tuple[UnresolvedModule, ...]) -> str:
    paths = sum(1 for u in optional for s in u.import_sites if s.status in _NEEDED or s.status is Status.OPTIONAL)
    names = ", ".join(u.module for u in optional)
    need = "needs a package" if paths == 1 and len(optional) == 1 else "need packages"
    return (
        f"{paths} optional code path{'s' if paths != 1 else ''} {need} that {'is' if len(optional) == 1 else 'are'} "
        f"not installed: {names} (envcapture analyze --explain NAME)"
    )


def _never_line(never: tuple[UnresolvedModule, ...]) -> str:
    return "Not installed, never imported on the target (type-only or inactive): " + ", ".join(u.module for u in never)


def _shown_diagnostics(analysis: Analysis, summarised: tuple[UnresolvedModule, ...]) -> list[Any]:
    """The problems, without the "imported but not installed" of modules summed up in one line."""
    quiet = tuple(f"{u.module} is imported but not installed" for u in summarised)
    return [d for d in analysis.diagnostics if not (d.code == "unresolved-import" and d.message.startswith(quiet))]


def _added_title(added: tuple[AddedDistribution, ...]) -> str:
    return f"Shipped, not imported by the code ({len({a.name for a in added})})"


def _added_line(a: AddedDistribution) -> str:
    """``arrowlite==1.0.3  via tabular[parquet]  [installed-extra; extra parquet of tabular, installed locally]``."""
    return f"{a.display_name}=={a.version}  via {a.via}  [{a.rule}; {a.reason}]"


def _reached(f: LocalFile) -> str:
    if f.reached_from is not None:
        return f"{f.reached_from[0]}:{f.reached_from[1]}" + (f", {f.via}" if f.via else "")
    return "run time" if f.found_by == "runtime" else "entry point"


def _reasons_text(f: DataFile, limit: int | None = 3) -> str:
    shown = [str(r) for r in (f.reasons if limit is None else f.reasons[:limit])]
    if limit is not None and len(f.reasons) > limit:
        shown.append(f"+{len(f.reasons) - limit} more")
    return "; ".join(shown)


def _left_out_text(f: DataFile) -> str:
    if f.left_out == JOB_INPUT:
        return "a job input: it travels in inputs"
    return f"never ships ({f.left_out})"


def _shipped_rows(analysis: Analysis, limit: int | None = 3) -> list[tuple[str, str, bool]]:
    """(path, why, read by path?) of every file that ships as local code: the modules the job
    reaches (and its entry points), and the files it reads or runs by path, by path; a
    directory ends in /."""
    data = {f.path: f for f in analysis.data_files if f.ships}
    rows = [(f.path, _reached(f), False) for f in analysis.local_files if f.path not in data]
    rows += [(path + ("/" if f.is_dir else ""), _reasons_text(f, limit), True) for path, f in data.items()]
    return sorted(rows)


def _table(title: str, *columns: str) -> Table:
    """A table that wraps and folds its cells to the terminal's width: nothing is cut off."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def render_analysis(analysis: Analysis) -> RenderableType:
    """The report for a terminal: entry points, local files, distributions, the rest by kind.

    Tables wrap to the console's width and fold long names: nothing is cut off.
    """
    from rich.console import Group
    from rich.text import Text

    parts: list[RenderableType] = []
    target = analysis.target
    if analysis.environment:
        parts.append(Text(analysis.environment, style="bold"))
    parts.append(
        Text.assemble(
            ("Interpreter: ", "bold"),
            f"Python {analysis.interpreter_version}, analysed for Python {target.python_version}"
            f" on {target.sys_platform} {target.platform_machine}",
        )
    )
    parts.append(Text.assemble(("Entry points: ", "bold"), ", ".join(str(e) for e in analysis.entry_points) or "none"))
    shipped = _shipped_rows(analysis)
    files = _table(f"Local files to ship ({len(shipped)})", "file", "reached from")
    for path, why, _ in shipped:
        files.add_row(path, why)
    parts.append(files)
    kept = [f for f in analysis.data_files if not f.ships]
    if kept:
        home = _table(f"Read by the job, not shipped ({len(kept)})", "file", "read by", "why")
        for f in kept:
            home.add_row(f.path, _reasons_text(f), _left_out_text(f))
        parts.append(home)
    dists = _table(
        f"Distributions ({len(analysis.distributions)})", "distribution", "version", "status", "imported as", "import sites"
    )
    for d in analysis.distributions:
        dists.add_row(
            d.display_name,
            d.version,
            Text(d.status.value, style=_STATUS_STYLE[d.status]),
            ", ".join(d.import_names),
            _sites_text(d.import_sites),
        )
    parts.append(dists)
    if analysis.added:
        added = _table(_added_title(analysis.added), "distribution", "version", "rule", "reason")
        for a in analysis.added:
            added.add_row(a.display_name, a.version, a.rule, a.reason)
        parts.append(added)
    needed, optional, never = split_unresolved(analysis)
    if needed:
        unk = _table(f"Not installed, needed to start ({len(needed)})", "module", "status", "guess", "import sites")
        for u in needed:
            unk.add_row(
                u.module,
                Text(u.status.value, style=_STATUS_STYLE[u.status]),
                f"{u.guess} ({u.guess_source or 'guessed'})" if u.guess else "-",
                _sites_text(u.import_sites),
            )
        parts.append(unk)
    if optional:
        parts.append(Text(_optional_line(optional), style="yellow"))
    if never:
        parts.append(Text(_never_line(never), style="dim"))
    if analysis.stdlib:
        parts.append(Text.assemble(("Standard library: ", "bold"), ", ".join(analysis.stdlib)))
    if analysis.runtime is not None:
        parts.extend(_render_runtime(analysis.runtime))
    problems = _shown_diagnostics(analysis, optional + never)
    if problems:
        diag = _table(f"Problems ({len(problems)})", "where", "severity", "message")
        for problem in problems:
            where = (problem.file or "") + (f":{problem.line}" if problem.line else "")
            diag.add_row(where or "-", problem.severity.value, problem.message)
        parts.append(diag)
    return Group(*parts)


def render_plain(analysis: Analysis) -> str:
    """The report as plain text for a pipe or a file: one complete record per line, never cut.

    Each distribution is ``name==version  file:line, ...  [status; import names]``, so
    ``grep`` finds a distribution with every import site; sections open with a heading line
    ending in ``:``.
    """
    target = analysis.target
    lines = [analysis.environment] if analysis.environment else []
    lines += [
        f"Interpreter: Python {analysis.interpreter_version}, analysed for Python {target.python_version}"
        f" on {target.sys_platform} {target.platform_machine}",
        "Entry points: " + (", ".join(str(e) for e in analysis.entry_points) or "none"),
    ]
    shipped = _shipped_rows(analysis, None)
    lines.append(f"Local files to ship ({len(shipped)}):")
    lines += [f"{path}  " + (why if by_path or why == "entry point" else f"reached from {why}") for path, why, by_path in shipped]
    kept = [f for f in analysis.data_files if not f.ships]
    if kept:
        lines.append(f"Read by the job, not shipped ({len(kept)}):")
        lines += [f"{f.path}  {_reasons_text(f, None)}  [{_left_out_text(f)}]" for f in kept]
    lines.append(f"Distributions ({len(analysis.distributions)}):")
    for d in analysis.distributions:
        lines.append(
            f"{d.display_name}=={d.version}  {_sites_text(d.import_sites, None)}  [{d.status.value}; import {', '.join(d.import_names)}]"
        )
    if analysis.added:
        lines.append(_added_title(analysis.added) + ":")
        lines += [_added_line(a) for a in analysis.added]
    needed, optional, never = split_unresolved(analysis)
    if needed:
        lines.append(f"Not installed, needed to start ({len(needed)}):")
        for u in needed:
            guess = f"; guess {u.guess} ({u.guess_source})" if u.guess else ""
            lines.append(f"{u.module}  {_sites_text(u.import_sites, None)}  [{u.status.value}; not installed{guess}]")
    if optional:
        lines.append(_optional_line(optional))
    if never:
        lines.append(_never_line(never))
    if analysis.stdlib:
        lines.append("Standard library: " + ", ".join(analysis.stdlib))
    if analysis.runtime is not None:
        lines += _plain_runtime(analysis.runtime)
    problems = _shown_diagnostics(analysis, optional + never)
    if problems:
        lines.append(f"Problems ({len(problems)}):")
        for p in problems:
            where = (p.file or "-") + (f":{p.line}" if p.line else "")
            lines.append(f"{where}  {p.severity.value}  {p.message}")
    return "\n".join(lines) + "\n"


def _plain_runtime(runtime: RuntimeReport) -> list[str]:
    from envcapture.analysis.runtime.model import TraceOutcome

    lines = ["Runtime trace:", f"network: {runtime.network}; timeout {runtime.timeout:g} s per run"]
    for t in runtime.traces:
        line = f"{t.entry}: {t.outcome.value}"
        if t.message:
            detail = f"importing {t.failed_import}: {t.message}" if t.failed_import else t.message
            line += f": {detail}" + (f" (at {t.failed_at})" if t.failed_at else "")
        if t.outcome is not TraceOutcome.OK:
            line += "; the static results still stand"
        lines.append(line)
        if t.written_files:
            lines.append(f"{t.entry}: wrote (in the sandbox copy only): {', '.join(t.written_files)}")
    lines.append(f"Found only at run time ({len(runtime.found_only_at_runtime)}):")
    lines += [f"{f.name}  {f.kind}  imported by {', '.join(f.imported_by) or '-'}" for f in runtime.found_only_at_runtime]
    if runtime.not_attributed:
        lines.append(
            "imported only from inside distributions (their own dependencies, not added): " + ", ".join(runtime.not_attributed)
        )
    if runtime.data_refs:
        lines.append(f"Names in data files (candidates, not added) ({len(runtime.data_refs)}):")
        for r in runtime.data_refs:
            to = {"local": f"local module {r.module}", "distribution": f"{r.distribution} ({r.module})"}.get(
                r.kind, "nothing installed"
            )
            lines.append(f"{r.file}:{r.line}  {r.key}: {r.value}  resolves to {to}")
    lines += [f"note: {note}" for note in runtime.notes]
    return lines


def _render_runtime(runtime: RuntimeReport) -> list[RenderableType]:
    """The runtime section: how each run went, and what only the run found."""
    from rich.text import Text

    from envcapture.analysis.runtime.model import TraceOutcome

    outcome_style = {
        TraceOutcome.OK: "green",
        TraceOutcome.ERROR: "red",
        TraceOutcome.TIMEOUT: "red",
        TraceOutcome.NOT_RUN: "yellow",
    }

    parts: list[RenderableType] = [Text("Runtime trace", style="bold")]
    parts.append(Text.assemble("  network: ", runtime.network, f"; timeout {runtime.timeout:g} s per run"))
    for t in runtime.traces:
        line = Text.assemble("  ", t.entry, ": ", (t.outcome.value, outcome_style[t.outcome]))
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
        found = _table(f"Found only at run time ({len(runtime.found_only_at_runtime)})", "kind", "name", "imported by")
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
        refs = _table(f"Names in data files (candidates, not added) ({len(runtime.data_refs)})", "where", "value", "resolves to")
        for r in runtime.data_refs:
            to = {"local": f"local module {r.module}", "distribution": f"{r.distribution} ({r.module})"}.get(
                r.kind, "nothing installed"
            )
            refs.add_row(f"{r.file}:{r.line}", f"{r.key}: {r.value}", to)
        parts.append(refs)
    for note in runtime.notes:
        parts.append(Text(f"  note: {note}"))
    return parts


def _step(file: str, line: int | None = None, imports: str | None = None, detail: str | None = None) -> dict[str, Any]:
    return {"file": file, "line": line, "imports": imports, "detail": detail}


def _chain_to(file: str, files: dict[str, LocalFile], runs: dict[str, DataFile] | None = None) -> list[dict[str, Any]]:
    """The imports from an entry point down to ``file``: the first step names the entry point.
    A file run by ``exec``/``runpy`` (``runs``) is reached by the line that runs it."""
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = file
    while current is not None and current not in seen:
        seen.add(current)
        local = files.get(current)
        if local is None or local.reached_from is None:
            steps.append(_step(current, detail="entry point" if local is not None else None))
            break
        importer, line = local.reached_from
        ran = runs.get(current) if runs else None
        how = next((r.detail for r in ran.reasons if (r.file, r.line) == (importer, line)), None) if ran else None
        if how is not None:
            steps.append(_step(importer, line, None, f"reads {current} ({how})"))
        else:
            steps.append(_step(importer, line, local.module, current + (f"; {local.via}" if local.via else "")))
        current = importer
    return list(reversed(steps))


def _site_step(site: SiteRef) -> dict[str, Any]:
    how = "" if site.prefix is None else f", {prefix_reason(site.prefix)}"
    return _step(site.file, site.line, site.module, f"{site.scope} scope, {site.status.value}{how}")


def explain_json(analysis: Analysis, name: str) -> dict[str, Any] | None:
    """Why ``name`` (a local file, a distribution, a module or a package prefix of one) is part
    of the job: ``kind``, a one-line ``summary`` and the ``chain`` of imports from an entry
    point (each step ``file``, ``line``, ``imports``, ``detail``). None when it is not."""
    files = {f.path: f for f in analysis.local_files}
    runs = {f.path: f for f in analysis.data_files if f.analysed}
    doc: dict[str, Any] = {"name": name}
    data = next((f for f in analysis.data_files if f.path == name.rstrip("/")), None)
    if data is not None:
        return {**doc, **_explain_data_file(data, files, runs)}
    if name in files:
        return {
            **doc,
            "kind": "local-file",
            "summary": f"{name} ships as local code because:",
            "chain": _chain_to(name, files, runs),
        }
    wanted = dist_name(name)
    for d in analysis.distributions:
        if d.name == wanted or name in d.import_names:
            site = strongest_site(d.import_sites)
            return {
                **doc,
                "kind": "distribution",
                "summary": f"{d.display_name}=={d.version} is {d.status.value} because:",
                "chain": [*_chain_to(site.file, files, runs), _site_step(site)],
                "also": [{"file": s.file, "line": s.line, "status": s.status.value} for s in d.import_sites if s is not site],
            }
    added = [a for a in analysis.added if a.name == wanted]
    if added:
        return {**doc, **_explain_added(analysis, added, files)}
    for u in analysis.unresolved:
        if u.module == name or u.module.split(".")[0] == name:
            site = strongest_site(u.import_sites)
            guess = f"; guess: {u.guess}" if u.guess else ""
            return {
                **doc,
                "kind": "not-installed",
                "summary": f"{u.module} is not installed ({u.reason}{guess}):",
                "chain": [*_chain_to(site.file, files, runs), _site_step(site)],
            }
    for f in analysis.local_files:  # a local module or package by its dotted name
        if f.module == name:
            found = explain_json(analysis, f.path)
            return None if found is None else {**found, "name": name}
    for edge in analysis.graph.edges:
        if edge.resolution.module == name:
            how = "" if edge.site.prefix is None else f", {prefix_reason(edge.site.prefix)}"
            return {
                **doc,
                "kind": edge.resolution.kind.value,
                "summary": f"{name} ({edge.resolution.reason}):",
                "chain": [
                    *_chain_to(edge.importer, files, runs),
                    _step(edge.importer, edge.site.line, name, edge.resolution.kind.value + how),
                ],
            }
    prefix = name + "."
    inside = sorted({e.resolution.module for e in analysis.graph.edges if e.resolution.module.startswith(prefix)})
    if inside:  # "mingpt" when the job imports mingpt.model
        found = explain_json(analysis, inside[0])
        if found is not None:
            more = f" (and {len(inside) - 1} more)" if len(inside) > 1 else ""
            return {**found, "name": name, "summary": f"{name} is imported as {inside[0]}{more}; " + found["summary"]}
    return None


def _explain_added(analysis: Analysis, added: list[AddedDistribution], files: dict[str, LocalFile]) -> dict[str, Any]:
    """A distribution shipped without an import: each reason, and the imports that pulled in
    the distribution that brought it (``pandas`` for ``pandas[parquet]``) when the code imports it."""
    first = added[0]
    chain: list[dict[str, Any]] = []
    for row in added:
        parent = next((d for d in analysis.distributions if d.name == row.parent), None)
        if parent is not None and parent.import_sites:
            site = strongest_site(parent.import_sites)
            chain += [*_chain_to(site.file, files), _site_step(site)]
        chain.append(_step(row.via, None, first.display_name, row.reason))
    return {
        "kind": "added",
        "summary": f"{first.display_name}=={first.version} ships although the code does not import it, because:",
        "chain": chain,
        "reasons": [{"rule": a.rule, "via": a.via, "reason": a.reason} for a in added],
    }


def _explain_data_file(data: DataFile, files: dict[str, LocalFile], runs: dict[str, DataFile]) -> dict[str, Any]:
    """A file the job reads or runs by path: why it ships (or why not), and from where."""
    what = "directory" if data.is_dir else "file"
    if data.ships:
        analysed = " (and is analysed as Python: its imports count)" if data.analysed else ""
        summary = f"{data.path} ships as local code{analysed} because:"
    elif data.left_out == JOB_INPUT:
        summary = f"{data.path} travels in inputs, not as local code; the job reads it:"
    else:
        summary = f"{data.path} does not ship ({data.left_out}: such files never leave the machine); the job reads it:"
    first = next((r for r in data.reasons if r.file is not None), data.reasons[0])
    if first.file is not None:
        verb = "names" if first.use is FileUse.DEFAULT else "reads"
        chain = [*_chain_to(first.file, files, runs), _step(first.file, first.line, None, f"{verb} {data.path} ({first.detail})")]
    else:
        chain = [_step("cmd", None, None, f"names {data.path}")]
    return {
        "kind": f"data-{what}",
        "summary": summary,
        "chain": chain,
        "also": [{"file": r.file, "line": r.line, "status": str(r)} for r in data.reasons if r is not first],
    }


def _step_text(step: dict[str, Any]) -> str:
    if step["imports"] is None and step["line"] is not None:
        return f"{step['file']}:{step['line']} {step['detail']}"
    if step["imports"] is None and step["file"] == "cmd":
        return f"cmd {step['detail']}"
    if step["imports"] is None:
        return f"{step['file']} is an entry point" if step["detail"] == "entry point" else str(step["file"])
    if step["line"] is None:  # a reason of the rules that add a distribution
        return f"{step['file']} -> {step['imports']} ({step['detail']})"
    return f"{step['file']}:{step['line']} imports {step['imports']} ({step['detail']})"


def explain(analysis: Analysis, name: str) -> list[str] | None:
    """The chain of imports that pulled ``name`` in, as lines: a distribution, a module, a
    package (``mingpt`` when ``mingpt.model`` is imported) or a local file.

    Returns None when ``name`` is not part of the analysis.
    """
    doc = explain_json(analysis, name)
    if doc is None:
        return None
    also = [
        f"  also {a['status']}"
        if doc["kind"].startswith("data-")
        else f"  also imported at {a['file']}:{a['line']} ({a['status']})"
        for a in doc.get("also", ())
    ]
    return [doc["summary"], *("  " + _step_text(s) for s in doc["chain"]), *also]
