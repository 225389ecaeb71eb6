"""Entry points + source facts -> ImportGraph: every import resolved like the interpreter would.

Search order for a top-level name, as ``python <entry>`` on the target would see it:

1. builtin and start-up modules (``sys``, ``os``...): nothing shadows them;
2. the local roots: the script's directory (``sys.path[0]``), or the working directory for
   ``python -m``; ``PYTHONPATH`` from ``cmd``; ``sys.path.insert``/``append`` seen in the code;
3. the target's standard library (by name, for the *target* version);
4. the analysed interpreter's ``sys.path`` (site-packages, ``.pth`` entries), then PEP 660
   editable finders;
5. last resort, flagged as such: the working directory and ``src/`` when Python would not
   search them (the job may rely on an install that is missing).

Local modules are followed transitively; installed distributions are not descended into
(their dependencies come from metadata). Only the walk reads files, through ``read_facts``.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from envcapture.analysis.finder import (
    STARTUP_MODULES,
    Found,
    FoundKind,
    ModuleFinder,
    Root,
    RootOrigin,
)
from envcapture.analysis.model import EntryKind, EntryPoint, ImportSite, SourceFacts
from envcapture.analysis.stdlib import is_stdlib
from envcapture.environment.model import EnvSnapshot
from envcapture.model import Diagnostic, Severity, Target

__all__ = [
    "Edge",
    "ImportGraph",
    "LocalFile",
    "ModuleKind",
    "Resolution",
    "build_import_graph",
]

FactsReader = Callable[[list[tuple[Path, str, bool]]], list[SourceFacts]]
"""[(absolute file, dotted module name, is_package)] -> SourceFacts in the same order.

Called once per level of the walk with every file of that level, so the reader can parse
them in parallel; caching lives behind it too."""


class ModuleKind(str, enum.Enum):
    STDLIB = "stdlib"
    LOCAL = "local"
    INSTALLED = "installed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Resolution:
    """Where one imported module name comes from, and why we think so."""

    module: str
    kind: ModuleKind
    reason: str
    file: str | None = None  # project-relative POSIX for local files, absolute for installed
    root: str | None = None  # RootOrigin value for local/installed
    missing_part: str | None = None  # for UNKNOWN: the first dotted prefix that was not found


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Edge:
    """One import site in one local file, resolved."""

    importer: str  # project-relative POSIX path of the importing file
    site: ImportSite
    resolution: Resolution
    active: bool | None  # for the target: False when a literal condition rules it out


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class LocalFile:
    """A local file the job reaches; ``reached_from`` names the first import that pulled it in."""

    path: str  # project-relative POSIX
    module: str
    reached_from: tuple[str, int] | None = None  # (importer path, line); None for entry points
    found_by: str = "static"  # "static", "runtime" (only the runtime trace reached it) or "both"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportGraph:
    entry_points: tuple[EntryPoint, ...]
    local_files: tuple[LocalFile, ...]  # sorted by path
    edges: tuple[Edge, ...]  # sorted by importer, line, column
    diagnostics: tuple[Diagnostic, ...]


def _rel(path: Path, project: Path) -> str | None:
    try:
        return PurePosixPath(path.relative_to(project)).as_posix()
    except ValueError:
        return None


def _module_name_for(found: Found) -> tuple[str, bool]:
    return found.name, found.kind is FoundKind.PACKAGE


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.relative_to(directory)
    except ValueError:
        return False
    return True


class _Walk:
    """The mutable state of one walk from one entry point; produces plain data."""

    def __init__(
        self,
        *,
        project: Path,
        snapshot: EnvSnapshot,
        target: Target,
        read_facts: FactsReader,
        finder: ModuleFinder,
        evaluate: Callable[[ImportSite, Target], bool | None],
    ) -> None:
        self.project = project
        self.snapshot = snapshot
        self.target = target
        self.read_facts = read_facts
        self.finder = finder
        self.evaluate = evaluate
        self.local_roots: list[Root] = []
        site_dirs: list[Root] = []
        for entry in snapshot.sys_path:
            p = Path(entry)
            # The analysed interpreter's own stdlib dirs are not searched: stdlib membership is
            # judged by name for the target version, not by what the local Python ships.
            if entry in snapshot.stdlib_dirs or entry.endswith(".zip"):
                continue
            site_dirs.append(Root(p, RootOrigin.SITE))
        self.site_roots = tuple(site_dirs)
        self.editable = {name: Path(path) for name, path in snapshot.editable_mappings}
        self.heuristic_roots: tuple[Root, ...] = ()
        self.files: dict[Path, LocalFile] = {}
        self.edges: list[Edge] = []
        self.diagnostics: list[Diagnostic] = []
        self.queue: deque[tuple[Path, str, bool]] = deque()

    # --- resolution --------------------------------------------------------------------------

    def roots(self) -> tuple[Root, ...]:
        return tuple(self.local_roots)

    def find(self, module: str) -> tuple[list[Found], str | None, ModuleKind | None]:
        """Resolve ``module``: the chain of found prefixes, the first missing prefix, or stdlib."""
        parts = module.split(".")
        top = parts[0]
        if top in STARTUP_MODULES:
            return [], None, ModuleKind.STDLIB
        chain: list[Found] = []
        # sys.path is [local roots..., stdlib, site...]: a local module or package wins; a
        # local bare directory is only a namespace portion, which the stdlib or a regular
        # package further down the path beats, and which merges with site portions.
        found = self.finder.find_top(top, self.roots())
        if found is not None and found.kind is FoundKind.NAMESPACE:
            if is_stdlib(top, self.target.python_version):
                return [], None, ModuleKind.STDLIB
            found = self.finder.find_top(top, self.roots() + self.site_roots)
        if found is None and is_stdlib(top, self.target.python_version):
            return [], None, ModuleKind.STDLIB
        if found is None:
            found = self.finder.find_top(top, self.site_roots)
        if found is None and top in self.editable:
            path = self.editable[top]
            root = Root(path.parent, RootOrigin.EDITABLE)
            found = self.finder.find_top(top, (root,))
        if found is None and self.heuristic_roots:
            found = self.finder.find_top(top, self.heuristic_roots)
        if found is None:
            return [], top, None
        chain.append(found)
        for i in range(1, len(parts)):
            name = ".".join(parts[: i + 1])
            if not chain[-1].is_package:
                return chain, name, None
            sub = self.finder.find_sub(name, chain[-1])
            if sub is None:
                return chain, name, None
            chain.append(sub)
        return chain, None, None

    def resolution(self, module: str) -> tuple[Resolution, list[Found]]:
        chain, missing, special = self.find(module)
        if special is ModuleKind.STDLIB:
            why = (
                "builtin or start-up module"
                if module.split(".")[0] in STARTUP_MODULES
                else f"standard library of Python {self.target.python_version}"
            )
            return Resolution(module=module, kind=ModuleKind.STDLIB, reason=why), chain
        if not chain:
            reason = "not found on the job's search path nor in the analysed environment"
            return (
                Resolution(module=module, kind=ModuleKind.UNKNOWN, reason=reason, missing_part=missing),
                chain,
            )
        last = chain[-1]
        root = last.root
        file_path = last.file if last.file is not None else (last.search_dirs[0] if last.search_dirs else None)
        if root.is_local:
            rel = _rel(file_path, self.project) if file_path is not None else None
            if root.origin is RootOrigin.HEURISTIC:
                reason = (
                    f"found in {_rel(root.path, self.project) or root.path} of the project, which is "
                    "not on sys.path when the job runs: it ships, but the job may need an install"
                )
            else:
                reason = f"local code, found via {root.origin.value} {_rel(root.path, self.project) or root.path}"
            if missing is not None:
                reason += f"; submodule {missing} not found"
            return (
                Resolution(
                    module=module,
                    kind=ModuleKind.LOCAL,
                    reason=reason,
                    file=rel,
                    root=root.origin.value,
                    missing_part=missing,
                ),
                chain,
            )
        # Installed (site or editable). An editable install of the project's own code is local.
        if (
            file_path is not None
            and _inside(file_path, self.project)
            and not any(_inside(file_path, Path(s)) for s in self.snapshot.site_packages)
        ):
            rel = _rel(file_path, self.project)
            return (
                Resolution(
                    module=module,
                    kind=ModuleKind.LOCAL,
                    reason=f"local code installed in development mode ({root.origin.value} path)",
                    file=rel,
                    root=root.origin.value,
                    missing_part=missing,
                ),
                chain,
            )
        return (
            Resolution(
                module=module,
                kind=ModuleKind.INSTALLED,
                reason=f"installed in the analysed environment ({root.origin.value})",
                file=str(file_path) if file_path is not None else None,
                root=root.origin.value,
                missing_part=missing,
            ),
            chain,
        )

    # --- walking -----------------------------------------------------------------------------

    def enqueue(self, path: Path, module: str, is_package: bool, reached_from: tuple[str, int] | None) -> None:
        if path in self.files:
            return
        rel = _rel(path, self.project)
        if rel is None:
            self.diagnostics.append(
                Diagnostic(
                    file=None,
                    line=None,
                    code="outside-project",
                    message=f"local module {module} is outside the project ({path}); it cannot ship",
                    severity=Severity.WARNING,
                )
            )
            return
        self.files[path] = LocalFile(path=rel, module=module, reached_from=reached_from)
        self.queue.append((path, module, is_package))

    def enqueue_chain(self, chain: Iterable[Found], reached_from: tuple[str, int]) -> None:
        for found in chain:
            installed = not found.root.is_local and found.root.origin is not RootOrigin.EDITABLE
            if installed and not (found.file is not None and _inside(found.file, self.project)):
                continue
            if found.file is None or found.kind in (FoundKind.EXTENSION, FoundKind.BYTECODE):
                # Compiled and sourceless local modules ship as files but have no imports we can read.
                if found.file is not None:
                    rel = _rel(found.file, self.project)
                    if rel is not None and found.file not in self.files:
                        self.files[found.file] = LocalFile(path=rel, module=found.name, reached_from=reached_from)
                continue
            name, is_pkg = _module_name_for(found)
            self.enqueue(found.file, name, is_pkg, reached_from)

    def run(self) -> None:
        while self.queue:
            level = list(self.queue)
            self.queue.clear()
            for (path, _module, _is_package), facts in zip(level, self.read_facts(level), strict=True):
                self.process(path, facts)

    def process(self, path: Path, facts: SourceFacts) -> None:
        rel = self.files[path].path
        if facts.error is not None:
            self.diagnostics.append(facts.error)
            return
        self.diagnostics.extend(facts.diagnostics)
        for addition in facts.path_additions:
            base = self.project if addition.cwd_relative else path.parent
            new = Path(os.path.normpath(base / addition.path))
            root = Root(new, RootOrigin.SYS_PATH)
            if root not in self.local_roots:
                if addition.prepend:
                    self.local_roots.insert(0, root)
                else:
                    self.local_roots.append(root)
        for site in facts.imports:
            self.visit_site(rel, site)

    def visit_site(self, importer: str, site: ImportSite) -> None:
        active = self.evaluate(site, self.target)
        if site.module.startswith("."):
            return  # unresolvable relative import: extraction reported it
        parent, parent_chain = self.resolution(site.module)
        # ``from pkg import name``: ``name`` counts only when it is a submodule; an attribute
        # is not an import. Installed submodules matter only under a namespace package, where
        # they decide which distribution owns the import (``from google import protobuf``).
        parent_is_namespace = bool(parent_chain) and parent_chain[-1].kind is FoundKind.NAMESPACE
        resolved: list[tuple[Resolution, list[Found]]] = []
        for name in site.names:
            if name == "*" or parent.kind not in (ModuleKind.LOCAL, ModuleKind.INSTALLED):
                continue
            if parent.missing_part is not None:
                continue
            res, chain = self.resolution(f"{site.module}.{name}")
            if res.missing_part is not None or res.kind not in (ModuleKind.LOCAL, ModuleKind.INSTALLED):
                continue
            if res.kind is ModuleKind.INSTALLED and not parent_is_namespace:
                continue
            resolved.append((res, chain))
        if not (parent_is_namespace and resolved):
            resolved.insert(0, (parent, parent_chain))
        for res, chain in resolved:
            self.edges.append(Edge(importer=importer, site=site, resolution=res, active=active))
            if active is False or site.type_only:
                continue
            if res.kind is ModuleKind.LOCAL:
                self.enqueue_chain(chain, (importer, site.line))


def _entry_roots(entry: EntryPoint, project: Path, script: Path | None) -> list[Root]:
    roots: list[Root] = []
    if entry.kind is EntryKind.SCRIPT and script is not None:
        roots.append(Root(script.parent, RootOrigin.SCRIPT_DIR))
    else:
        roots.append(Root(project, RootOrigin.CWD))
    for item in entry.pythonpath:
        if "${" in item or not item:
            continue
        p = Path(item)
        roots.append(Root(p if p.is_absolute() else Path(os.path.normpath(project / p)), RootOrigin.PYTHONPATH))
    return roots


def build_import_graph(
    entry_points: Iterable[EntryPoint],
    *,
    project: Path,
    snapshot: EnvSnapshot,
    target: Target,
    read_facts: FactsReader,
    evaluate: Callable[[ImportSite, Target], bool | None],
) -> ImportGraph:
    """Walk every entry point's imports to the closure of local code.

    :param project: the job's working directory (absolute, resolved).
    :param read_facts: the extraction stage, usually behind the cache.
    :param evaluate: decides whether a conditional import is active on the target.
    """
    project = project.resolve()
    finder = ModuleFinder()
    entries = tuple(entry_points)
    files: dict[Path, LocalFile] = {}
    edges: set[Edge] = set()
    diagnostics: set[Diagnostic] = set()
    heuristic: list[Root] = [Root(project, RootOrigin.HEURISTIC)]
    if (project / "src").is_dir():
        heuristic.append(Root(project / "src", RootOrigin.HEURISTIC))
    for entry in entries:
        walk = _Walk(
            project=project,
            snapshot=snapshot,
            target=target,
            read_facts=read_facts,
            finder=finder,
            evaluate=evaluate,
        )
        script: Path | None = None
        if entry.kind is EntryKind.SCRIPT:
            script = Path(os.path.normpath(project / entry.target))
        walk.local_roots = _entry_roots(entry, project, script)
        walk.heuristic_roots = tuple(r for r in heuristic if r not in walk.local_roots)
        if entry.kind is EntryKind.SCRIPT:
            assert script is not None
            if not script.is_file():
                diagnostics.add(
                    Diagnostic(
                        file=entry.target,
                        line=None,
                        code="entry-point-missing",
                        message=f"entry point {entry.target} does not exist",
                        severity=Severity.ERROR,
                    )
                )
                continue
            walk.enqueue(script, "__main__", False, None)
        else:
            _enqueue_module_entry(walk, entry, diagnostics)
        walk.run()
        for path, local in walk.files.items():
            files.setdefault(path, local)
        edges.update(walk.edges)
        diagnostics.update(walk.diagnostics)
    return ImportGraph(
        entry_points=entries,
        local_files=tuple(sorted(files.values(), key=lambda f: f.path)),
        edges=tuple(sorted(edges, key=lambda e: (e.importer, e.site.line, e.site.column, e.resolution.module))),
        diagnostics=tuple(sorted(diagnostics, key=lambda d: (d.file or "", d.line or 0, d.code, d.message))),
    )


def _enqueue_module_entry(walk: _Walk, entry: EntryPoint, diagnostics: set[Diagnostic]) -> None:
    """``python -m pkg.mod``: import ``pkg`` (its ``__init__``), then run ``pkg/mod.py``
    (or ``pkg/mod/__main__.py`` when ``pkg.mod`` is a package), as runpy does."""
    res, chain = walk.resolution(entry.target)
    if res.kind is not ModuleKind.LOCAL or not chain or res.missing_part:
        diagnostics.add(
            Diagnostic(
                file=None,
                line=None,
                code="entry-point-missing",
                message=f"-m {entry.target}: {res.reason}"
                if res.kind is not ModuleKind.LOCAL
                else f"-m {entry.target}: module not found in the project",
                severity=Severity.ERROR if res.kind is ModuleKind.UNKNOWN or res.missing_part else Severity.INFO,
            )
        )
        return
    *parents, last = chain
    for found in parents:
        if found.file is not None:
            walk.enqueue(found.file, found.name, True, None)
    if last.is_package:
        if last.file is not None:
            walk.enqueue(last.file, last.name, True, None)
        main = walk.finder.find_sub(f"{last.name}.__main__", last)
        if main is None or main.file is None:
            diagnostics.add(
                Diagnostic(
                    file=None,
                    line=None,
                    code="entry-point-missing",
                    message=f"-m {entry.target}: package has no __main__ module",
                    severity=Severity.ERROR,
                )
            )
            return
        walk.enqueue(main.file, f"{last.name}.__main__", False, None)
    elif last.file is not None:
        walk.enqueue(last.file, last.name, False, None)
