"""Entry points + source facts -> ImportGraph: every import resolved like the interpreter would.

Search order for a top-level name, as ``python <entry>`` on the target would see it:

1. builtin and start-up modules (``sys``, ``os``...): nothing shadows them;
2. the local roots: the script's directory (``sys.path[0]``), or the working directory for
   ``python -m``; ``PYTHONPATH`` from ``cmd``; ``sys.path.insert``/``append`` seen in the code;
3. the target's standard library (by name, for the *target* version);
4. the analysed interpreter's ``sys.path`` (site-packages, ``.pth`` entries), then PEP 660
   editable finders;
5. last resort, flagged as such: the working directory and ``src/`` when Python would not
   search them. The files ship, but the import fails on the target, whose ``sys.path`` is
   the real one: an error (``fallback-import``) with the fix, ``PYTHONPATH=.`` (or ``src``)
   in ``cmd`` or installing the project; a warning for an optional or function-level import.

Local modules are followed transitively; installed distributions are not descended into
(their dependencies come from metadata). Only the walk reads files, through ``read_facts``.

The files the code reads or runs by a literal path (``SourceFacts.file_refs``) and the ones
``cmd`` names are resolved against the project as the target would (`datapaths`); a file
run as Python (``exec(open("configurator.py").read())``, ``runpy.run_path``) is walked like
a module, in the walk of the file that runs it.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from envcapture.analysis.datapaths import DataFiles
from envcapture.analysis.finder import (
    STARTUP_MODULES,
    Found,
    FoundKind,
    ModuleFinder,
    Root,
    RootOrigin,
)
from envcapture.analysis.model import DataFile, EntryKind, EntryPoint, FileUse, ImportSite, SourceFacts, prefix_reason
from envcapture.analysis.stdlib import is_stdlib
from envcapture.environment.model import EnvSnapshot
from envcapture.model import Diagnostic, Severity, Target

__all__ = [
    "FALLBACK_IMPORT",
    "Edge",
    "ImportGraph",
    "LocalFile",
    "ModuleKind",
    "PrefixImport",
    "Resolution",
    "build_import_graph",
]

# Directories a local package ships without (build/localcode.py leaves them out by the same names).
_TEST_DIRS = frozenset({"tests", "test", "testing"})
# Read once: an enum member's ``.value`` is a property lookup, and the walk asks for each import site.
_HEURISTIC_ROOT = RootOrigin.HEURISTIC.value

FALLBACK_IMPORT = "fallback-import"
"""Diagnostic code: an import found only through a directory that is not on the target's ``sys.path``."""


class FactsReader(Protocol):
    """Reads the facts of local files: told of each file when the walk finds it (so it can
    parse ahead, in parallel), asked for them when the walk reaches it; caching lives
    behind it too."""

    def submit(self, path: Path, module: str, is_package: bool) -> None:
        """``path`` (absolute) will be asked for, read as ``module``."""

    def take(self, path: Path, module: str, is_package: bool) -> SourceFacts:
        """The facts of a submitted file (a read or parse failure is ``SourceFacts.error``)."""


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
    via: str | None = None  # how the import at reached_from named it, when not by its name: prefix_reason()


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class PrefixImport:
    """A dynamic import whose name has a literal prefix (``import_module("pkg.plugins." + name)``),
    as the walk resolved the package the prefix names.

    A local package (``kind`` LOCAL) ships whole from ``directories`` (project-relative, one per
    namespace portion) and each of its modules (``files``) is analysed; an installed one is
    required with its distribution (``distributions``, filled in by classification); an unknown
    one is a warning.
    """

    importer: str
    line: int
    prefix: str  # "pkg.plugins." (absolute)
    package: str  # "pkg.plugins"
    kind: ModuleKind
    directories: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    distributions: tuple[str, ...] = ()  # display names

    @property
    def reason(self) -> str:
        return prefix_reason(self.prefix)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportGraph:
    entry_points: tuple[EntryPoint, ...]
    local_files: tuple[LocalFile, ...]  # sorted by path
    edges: tuple[Edge, ...]  # sorted by importer, line, column
    diagnostics: tuple[Diagnostic, ...]
    prefix_imports: tuple[PrefixImport, ...] = ()  # sorted by importer, line
    data_files: tuple[DataFile, ...] = ()  # sorted by path: read or run by a literal path, or named in cmd


def _rel(path: Path | str, project: Path | str) -> str | None:
    """``path`` relative to ``project`` as POSIX text, lexically (as `Path.relative_to`), or None."""
    path, project = str(path), str(project)
    if path == project:
        return "."
    prefix = project if project.endswith("/") else project + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def _module_name_for(found: Found) -> tuple[str, bool]:
    return found.name, found.kind is FoundKind.PACKAGE


def _inside(path: Path | str, directory: Path | str) -> bool:
    return _rel(path, directory) is not None


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
        data: DataFiles,
    ) -> None:
        self.project = project
        self.data = data
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
        self.site_packages = tuple(str(Path(s)) for s in snapshot.site_packages)
        self.project_str = str(project)
        # resolution(module) is a function of the module name while the local roots stay
        # the same: answered once per walk (and again after a sys.path addition).
        self._resolved: dict[str, tuple[Resolution, list[Found]]] = {}
        # The local modules whose chain of files was enqueued, under the same local roots: an
        # import met again (most are) enqueues nothing new, its files being known already.
        self._chains_enqueued: set[str] = set()
        self._roots: tuple[Root, ...] | None = None
        self.editable = {name: Path(path) for name, path in snapshot.editable_mappings}
        self.heuristic_roots: tuple[Root, ...] = ()
        self.files: dict[Path, LocalFile] = {}
        self.edges: list[Edge] = []
        self.diagnostics: list[Diagnostic] = []
        self.queue: deque[tuple[Path, str, bool]] = deque()
        self.prefixes: list[PrefixImport] = []

    # --- resolution --------------------------------------------------------------------------

    def roots(self) -> tuple[Root, ...]:
        if self._roots is None:
            self._roots = tuple(self.local_roots)
        return self._roots

    def set_local_roots(self, roots: list[Root]) -> None:
        self.local_roots = roots
        self._roots = None
        self._resolved.clear()
        self._chains_enqueued.clear()

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
        known = self._resolved.get(module)
        if known is None:
            known = self._resolved[module] = self._resolution(module)
        return known

    def _resolution(self, module: str) -> tuple[Resolution, list[Found]]:
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
            rel = _rel(file_path, self.project_str) if file_path is not None else None
            if root.origin is RootOrigin.HEURISTIC:
                reason = (
                    f"found in {_rel(root.path, self.project) or root.path} of the project, which is "
                    "not on sys.path when the job runs: it ships, but the import fails on the target"
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
            and _inside(file_path, self.project_str)
            and not any(_inside(file_path, s) for s in self.site_packages)
        ):
            rel = _rel(file_path, self.project_str)
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

    def fix_for(self, root: Root) -> str:
        rel = _rel(root.path, self.project) or str(root.path)
        return f"add PYTHONPATH={rel} to cmd, or install the project (pip install -e .)"

    def fallback(self, importer: str, site: ImportSite, module: str, root: Root) -> None:
        """An import that resolves only through a heuristic root: it fails on the target."""
        rel = _rel(root.path, self.project) or str(root.path)
        where = "the project directory" if rel == "." else f"{rel}/"
        searched = ", ".join(
            "the working directory"
            if (_rel(r.path, self.project) or str(r.path)) == "."
            else f"{_rel(r.path, self.project) or r.path}/"
            for r in self.local_roots
        )
        certain = site.scope.value == "module" and not site.optional
        message = (
            f"import {module} is found only in {where}, which is not on sys.path when the job runs "
            f"(it searches {searched} first, then the installed packages): {self.fix_for(root)}"
        )
        if not certain:
            what = "optional import" if site.optional else "import inside a function"
            message += f" (a warning: an {what} may not run)"
        self.diagnostics.append(
            Diagnostic(
                file=importer,
                line=site.line,
                code=FALLBACK_IMPORT,
                message=message,
                severity=Severity.ERROR if certain else Severity.WARNING,
            )
        )

    # --- walking -----------------------------------------------------------------------------

    def enqueue(
        self, path: Path, module: str, is_package: bool, reached_from: tuple[str, int] | None, via: str | None = None
    ) -> None:
        if path in self.files:
            return
        rel = _rel(path, self.project_str)
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
        self.files[path] = LocalFile(path=rel, module=module, reached_from=reached_from, via=via)
        self.queue.append((path, module, is_package))
        self.read_facts.submit(path, module, is_package)

    def enqueue_resolved(
        self, res: Resolution, chain: list[Found], reached_from: tuple[str, int], via: str | None = None
    ) -> None:
        """`enqueue_chain` for the ``chain`` that `resolution` answered for ``res``, the first time
        only: again, every file in it is known (or outside the project, reported already)."""
        if res.module not in self._chains_enqueued:
            self._chains_enqueued.add(res.module)
            self.enqueue_chain(chain, reached_from, via)

    def enqueue_chain(self, chain: Iterable[Found], reached_from: tuple[str, int], via: str | None = None) -> None:
        """Enqueue the local files of ``chain``; ``via`` is said of its last one only."""
        chain = list(chain)
        for found in chain:
            named = via if found is chain[-1] else None
            if (
                not found.root.is_local
                and found.root.origin is not RootOrigin.EDITABLE
                and not (found.file is not None and _inside(found.file, self.project_str))
            ):
                continue
            if found.file is None or found.kind in (FoundKind.EXTENSION, FoundKind.BYTECODE):
                # Compiled and sourceless local modules ship as files but have no imports we can read.
                if found.file is not None:
                    rel = _rel(found.file, self.project_str)
                    if rel is not None and found.file not in self.files:
                        self.files[found.file] = LocalFile(path=rel, module=found.name, reached_from=reached_from, via=named)
                continue
            name, is_pkg = _module_name_for(found)
            self.enqueue(found.file, name, is_pkg, reached_from, named)

    def run(self) -> None:
        # Breadth first, in the order files were found (as the interpreter would meet them
        # level by level); the reader parses ahead of this loop.
        while self.queue:
            path, module, is_package = self.queue.popleft()
            self.process(path, self.read_facts.take(path, module, is_package))

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
                roots = list(self.local_roots)
                if addition.prepend:
                    roots.insert(0, root)
                else:
                    roots.append(root)
                self.set_local_roots(roots)
        for site in facts.imports:
            self.visit_site(rel, site)
        for ref in facts.file_refs:
            found = self.data.add_ref(rel, ref)
            if found is not None and ref.use is FileUse.EXEC:
                # Runs as Python where it is executed: with this walk's sys.path, as __main__.
                self.data.mark_analysed(found)
                self.enqueue(self.project / found, "__main__", False, (rel, ref.line))

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
        if parent.missing_part is None and parent.kind in (ModuleKind.LOCAL, ModuleKind.INSTALLED):
            for name in site.names:
                if name == "*":
                    continue
                res, chain = self.resolution(f"{site.module}.{name}")
                if res.missing_part is not None or res.kind not in (ModuleKind.LOCAL, ModuleKind.INSTALLED):
                    continue
                if res.kind is ModuleKind.INSTALLED and not parent_is_namespace:
                    continue
                resolved.append((res, chain))
        if not (parent_is_namespace and resolved):
            resolved.insert(0, (parent, parent_chain))
        reported = False
        for res, chain in resolved:
            self.edges.append(Edge(importer=importer, site=site, resolution=res, active=active))
            if active is False or site.type_only:
                continue
            if res.root == _HEURISTIC_ROOT and chain and not reported:
                self.fallback(importer, site, res.module, chain[0].root)
                reported = True  # once per import statement
            if res.kind is ModuleKind.LOCAL:
                self.enqueue_resolved(res, chain, (importer, site.line))
        if site.prefix is not None and active is not False and not site.type_only:
            self.expand_prefix(importer, site, site.prefix, parent, parent_chain, active)

    def expand_prefix(
        self, importer: str, site: ImportSite, prefix: str, res: Resolution, chain: list[Found], active: bool | None
    ) -> None:
        """``import_module("pkg.plugins." + name)``: any module of ``pkg.plugins`` may load, so
        a local package's modules are all walked (their imports count) and it ships whole."""
        found = chain[-1] if chain else None
        kind = ModuleKind.UNKNOWN if res.missing_part is not None else res.kind  # pkg.gone below a local pkg
        record = PrefixImport(importer=importer, line=site.line, prefix=prefix, package=res.module, kind=kind)
        if kind is not ModuleKind.LOCAL or found is None or not found.is_package:
            self.prefixes.append(record)
            return
        reason = prefix_reason(prefix)
        directories = tuple(rel for d in found.search_dirs if (rel := _rel(d, self.project_str)) is not None)
        files: list[str] = []
        seen = {os.path.realpath(d) for d in found.search_dirs}
        packages = [found]
        while packages:  # breadth first, each directory once (a symlink loop ends here)
            package = packages.pop(0)
            for part in self.finder.submodule_names(package):
                sub, sub_chain = self.resolution(f"{package.name}.{part}")
                if sub.kind is not ModuleKind.LOCAL or sub.missing_part is not None or not sub_chain:
                    continue
                module = sub_chain[-1]
                if module.is_package and part in _TEST_DIRS:
                    continue  # the package ships without its tests: their imports do not count
                if module.is_package:
                    real = {os.path.realpath(d) for d in module.search_dirs}
                    if not real & seen:
                        seen |= real
                        packages.append(module)
                if module.kind is FoundKind.NAMESPACE:
                    continue  # a bare directory (data, or a namespace portion): nothing to import
                self.edges.append(Edge(importer=importer, site=site, resolution=sub, active=active))
                self.enqueue_resolved(sub, sub_chain, (importer, site.line), reason)
                if sub.file is not None:
                    files.append(sub.file)
        self.prefixes.append(replace(record, directories=directories, files=tuple(sorted(files))))


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
    finder: ModuleFinder | None = None,
    named_files: Iterable[str] = (),
    inputs: Iterable[str] = (),
) -> ImportGraph:
    """Walk every entry point's imports to the closure of local code.

    :param project: the job's working directory (absolute, resolved).
    :param read_facts: the extraction stage, usually behind the cache.
    :param evaluate: decides whether a conditional import is active on the target.
    :param finder: the module finder to use (its listings tell what the walk looked at).
    :param named_files: project files ``cmd`` names as arguments (``--cfg models/x.yaml``).
    :param inputs: the config's ``inputs`` (project-relative): data files among them stay inputs.
    """
    project = project.resolve()
    finder = finder if finder is not None else ModuleFinder()
    data = DataFiles(project, finder.entry_kind, inputs=inputs)
    entries = tuple(entry_points)
    scripts = {e.target for e in entries if e.kind is EntryKind.SCRIPT}
    for named in named_files:
        data.add_named(named)
        if named in scripts:
            data.mark_analysed(named)  # python train.py config/train_x.py: walked as an entry point
    files: dict[Path, LocalFile] = {}
    edges: list[Edge] = []
    diagnostics: set[Diagnostic] = set()
    prefixes: set[PrefixImport] = set()
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
            data=data,
        )
        script: Path | None = None
        if entry.kind is EntryKind.SCRIPT:
            script = Path(os.path.normpath(project / entry.target))
        walk.set_local_roots(_entry_roots(entry, project, script))
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
        edges.extend(walk.edges)
        diagnostics.update(walk.diagnostics)
        prefixes.update(walk.prefixes)
    diagnostics.update(data.diagnostics)
    return ImportGraph(
        entry_points=entries,
        local_files=tuple(sorted(files.values(), key=lambda f: f.path)),
        edges=_unique_edges(edges),
        diagnostics=tuple(sorted(diagnostics, key=lambda d: (d.file or "", d.line or 0, d.code, d.message))),
        prefix_imports=tuple(sorted(prefixes)),
        data_files=data.data_files(),
    )


def _edge_order(edge: Edge) -> tuple[str, int, int, str]:
    return (edge.importer, edge.site.line, edge.site.column, edge.resolution.module)


def _unique_edges(edges: list[Edge]) -> tuple[Edge, ...]:
    """``edges`` sorted (`_edge_order`, then as walked), each once: two entry points reaching
    the same file walk its imports twice. Compared only within a run of one order key, not
    hashed: a set of them hashed each edge's site and resolution whole (~3% of the walk)."""
    ordered = sorted(edges, key=_edge_order)
    unique: list[Edge] = []
    run = 0  # where the run of the last edge's order key starts in ``unique``
    last: tuple[str, int, int, str] | None = None
    for edge in ordered:
        order = _edge_order(edge)
        if order != last:
            run, last = len(unique), order
        elif edge in unique[run:]:
            continue
        unique.append(edge)
    return tuple(unique)


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
    if res.root == _HEURISTIC_ROOT:
        rel = _rel(chain[0].root.path, walk.project) or str(chain[0].root.path)
        diagnostics.add(
            Diagnostic(
                file=None,
                line=None,
                code=FALLBACK_IMPORT,
                message=f"-m {entry.target} is found only in {'the project directory' if rel == '.' else rel + '/'}, "
                f"which is not on sys.path when the job runs: {walk.fix_for(chain[0].root)}",
                severity=Severity.ERROR,
            )
        )
    *parents, last = chain
    for found in parents:
        if found.file is not None:
            walk.enqueue(found.file, found.name, True, None)
    if last.is_package:
        if last.file is not None:
            walk.enqueue(last.file, last.name, True, None)
        if not entry.runs_main:
            return  # the package itself is the entry: imported, nothing runs as __main__
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
