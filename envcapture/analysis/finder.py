"""Find a module by name on a search path, the way CPython's PathFinder does, without importing.

The rules copied from ``importlib._bootstrap_external.FileFinder``: in each path entry a
directory with ``__init__`` is a regular package and wins at once; else a module file
(extension, then source, then bytecode) wins; a bare directory is a namespace *portion*
that is kept only if no entry yields a package or module (PEP 420). Submodules are looked
up in the parent's ``__path__``. Directory listings are cached: a lookup costs a dict probe.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["STARTUP_MODULES", "Found", "FoundKind", "ModuleFinder", "Root", "RootOrigin", "scan_directory"]

# Builtin modules and modules already imported when the interpreter starts (the same on
# CPython 3.10-3.13, Linux): a local file with one of these names never shadows them.
STARTUP_MODULES = frozenset(
    [
        "__main__",
        "_abc",
        "_ast",
        "_codecs",
        "_collections",
        "_collections_abc",
        "_frozen_importlib",
        "_frozen_importlib_external",
        "_functools",
        "_imp",
        "_io",
        "_locale",
        "_operator",
        "_signal",
        "_sitebuiltins",
        "_sre",
        "_stat",
        "_string",
        "_symtable",
        "_thread",
        "_tracemalloc",
        "_warnings",
        "_weakref",
        "abc",
        "atexit",
        "builtins",
        "codecs",
        "encodings",
        "errno",
        "faulthandler",
        "gc",
        "genericpath",
        "io",
        "itertools",
        "marshal",
        "os",
        "posix",
        "posixpath",
        "pwd",
        "site",
        "stat",
        "sys",
        "time",
        "zipimport",
    ]
)

_SOURCE_SUFFIXES = (".py",)
_BYTECODE_SUFFIXES = (".pyc",)


class RootOrigin(str, enum.Enum):
    """Why a directory is on the search path; decides local vs installed."""

    SCRIPT_DIR = "script-dir"  # sys.path[0] for `python path/to/script.py`
    PYTHONPATH = "pythonpath"  # PYTHONPATH=... in cmd
    CWD = "cwd"  # sys.path[0] for `python -m`
    SYS_PATH = "sys.path-insert"  # sys.path.insert/append in the job's code
    SITE = "site"  # the analysed interpreter's sys.path (site-packages, .pth entries)
    EDITABLE = "editable"  # a PEP 660 editable finder's mapping
    HEURISTIC = "heuristic"  # the working directory or src/ when Python would not search them


@dataclass(frozen=True, slots=True)
class Root:
    path: Path
    origin: RootOrigin

    @property
    def is_local(self) -> bool:
        return self.origin not in (RootOrigin.SITE, RootOrigin.EDITABLE)


class FoundKind(str, enum.Enum):
    MODULE = "module"  # a .py file
    PACKAGE = "package"  # a directory with __init__.py
    NAMESPACE = "namespace"  # PEP 420 portions only
    EXTENSION = "extension"  # a compiled module (.so / .pyd)
    BYTECODE = "bytecode"  # a sourceless .pyc


@dataclass(frozen=True, slots=True)
class Found:
    """Where ``name`` would be imported from.

    ``file`` is the module file or the package's ``__init__``; ``search_dirs`` is the
    package's ``__path__`` (several directories for a namespace package).
    """

    name: str
    kind: FoundKind
    root: Root
    file: Path | None
    search_dirs: tuple[Path, ...] = ()
    search_roots: tuple[Root, ...] = ()  # the root each search dir came from (namespace portions)

    @property
    def is_package(self) -> bool:
        return self.kind in (FoundKind.PACKAGE, FoundKind.NAMESPACE)


_EXTENSION_SUFFIXES = (".so", ".pyd")


class _Listing:
    __slots__ = ("_extensions", "dirs", "files")

    def __init__(self, files: frozenset[str], dirs: frozenset[str]) -> None:
        self.files = files
        self.dirs = dirs
        self._extensions: dict[str, list[str]] | None = None

    def extensions(self, stem: str) -> list[str]:
        """The compiled-module files (``.so``, ``.pyd``) whose name is ``stem`` up to its first
        dot, in the order of ``files``: every lookup of a name in a directory asks this, and
        scanning all its files each time cost more than the rest of the lookup."""
        if self._extensions is None:
            self._extensions = {}
            for name in self.files:
                if name.endswith(_EXTENSION_SUFFIXES):
                    self._extensions.setdefault(name.partition(".")[0], []).append(name)
        return self._extensions.get(stem, [])


def _join(directory: str, name: str) -> str:
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


class ModuleFinder:
    """Resolves dotted names against an ordered list of roots, caching directory listings.

    ``extension_suffixes`` are the compiled-module suffixes to accept; any ``.so``/``.pyd``
    is accepted by default because installed extensions were built for the *local*
    platform, which may not be the target's.

    The hot path works on strings: each directory is listed once, each (name, roots) and
    (name, parent) lookup is answered once; a `Path` is built only for what is found.
    """

    def __init__(self) -> None:
        self._listings: dict[str, _Listing] = {}
        self._found: dict[tuple[str, tuple[Root, ...]], Found | None] = {}
        self._subs: dict[tuple[str, int], tuple[Found, Found | None]] = {}
        self._root_dirs: dict[Root, str] = {}

    def listed(self) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
        """Every directory listed so far (absolute, as strings): (files, directories); empty
        when it could not be listed. What the lookups depended on, for the analysis cache."""
        return {d: (listing.files, listing.dirs) for d, listing in self._listings.items()}

    def _listing(self, directory: str) -> _Listing:
        cached = self._listings.get(directory)
        if cached is not None:
            return cached
        files, dirs = scan_directory(directory) or (frozenset(), frozenset())
        listing = _Listing(files, dirs)
        self._listings[directory] = listing
        return listing

    def entry_kind(self, directory: str, name: str) -> Literal["file", "dir"] | None:
        """Whether ``directory`` (absolute) holds a file or a directory called ``name``
        (links followed), from its cached listing: the existence checks of the data files
        the code reads, recorded with the rest for the analysis cache."""
        listing = self._listing(directory)
        if name in listing.files:
            return "file"
        return "dir" if name in listing.dirs else None

    def _find_in(self, directory: str, part: str) -> tuple[FoundKind, str] | None:
        """A package or module named ``part`` (one component of a dotted name: no dot) directly
        in ``directory``, or a namespace portion."""
        listing = self._listing(directory)
        if part in listing.dirs:
            sub_dir = _join(directory, part)
            sub = self._listing(sub_dir)
            for init in ("__init__.py", "__init__.pyc"):
                if init in sub.files:
                    return FoundKind.PACKAGE, f"{sub_dir}/{init}"
            compiled_inits = sub.extensions("__init__")
            if compiled_inits:
                return FoundKind.PACKAGE, f"{sub_dir}/{compiled_inits[0]}"
        for name in listing.extensions(part):
            # ``part.cpython-311-x86_64-linux-gnu.so``, ``part.abi3.so``, ``part.so``
            middle = name[len(part) : name.rindex(".")]
            if middle == "" or middle.count(".") == 1:
                return FoundKind.EXTENSION, _join(directory, name)
        for suffix in _SOURCE_SUFFIXES:
            if part + suffix in listing.files:
                return FoundKind.MODULE, _join(directory, part + suffix)
        for suffix in _BYTECODE_SUFFIXES:
            if part + suffix in listing.files:
                return FoundKind.BYTECODE, _join(directory, part + suffix)
        if part in listing.dirs:
            return FoundKind.NAMESPACE, _join(directory, part)
        return None

    def _root_dir(self, root: Root) -> str:
        text = self._root_dirs.get(root)
        if text is None:
            text = self._root_dirs[root] = str(root.path)
        return text

    def find_top(self, part: str, roots: tuple[Root, ...]) -> Found | None:
        """Find a top-level name on ``roots`` in order (PathFinder over sys.path)."""
        key = (part, roots)
        if key in self._found:
            return self._found[key]
        portions: list[tuple[Root, str]] = []
        result: Found | None = None
        for root in roots:
            hit = self._find_in(self._root_dir(root), part)
            if hit is None:
                continue
            kind, path = hit
            if kind is FoundKind.NAMESPACE:
                portions.append((root, path))
                continue
            result = self._make(part, kind, root, path)
            break
        if result is None and portions:
            result = _namespace(part, portions)
        self._found[key] = result
        return result

    def find_sub(self, name: str, parent: Found) -> Found | None:
        """Find ``name`` (dotted, a child of ``parent``) in the parent's ``__path__``."""
        key = (name, id(parent))
        memo = self._subs.get(key)
        if memo is not None and memo[0] is parent:
            return memo[1]
        result = self._find_sub(name, parent)
        self._subs[key] = (parent, result)  # holds ``parent``: its id stays unique
        return result

    def _find_sub(self, name: str, parent: Found) -> Found | None:
        part = name.rpartition(".")[2]
        portions: list[tuple[Root, str]] = []
        roots = parent.search_roots or (parent.root,) * len(parent.search_dirs)
        for directory, root in zip(parent.search_dirs, roots, strict=True):
            hit = self._find_in(str(directory), part)
            if hit is None:
                continue
            kind, path = hit
            if kind is FoundKind.NAMESPACE:
                portions.append((root, path))
                continue
            return self._make(name, kind, root, path)
        if portions:
            return _namespace(name, portions)
        return None

    def submodule_names(self, parent: Found) -> tuple[str, ...]:
        """The names of the modules and packages a package could import from its ``__path__``
        (sorted; ``__init__`` and ``__pycache__`` left out), read from the cached listings."""
        names: set[str] = set()
        for directory in parent.search_dirs:
            listing = self._listing(str(directory))
            for file in listing.files:
                stem, dot, suffix = file.partition(".")
                if dot and (file.endswith(_EXTENSION_SUFFIXES) or f".{suffix}" in (*_SOURCE_SUFFIXES, *_BYTECODE_SUFFIXES)):
                    names.add(stem)
            names.update(listing.dirs)
        return tuple(sorted(n for n in names if n.isidentifier() and n not in ("__init__", "__pycache__")))

    @staticmethod
    def _make(name: str, kind: FoundKind, root: Root, path: str) -> Found:
        file = Path(path)
        if kind is FoundKind.PACKAGE:
            return Found(name=name, kind=kind, root=root, file=file, search_dirs=(file.parent,))
        return Found(name=name, kind=kind, root=root, file=file)


def _namespace(name: str, portions: list[tuple[Root, str]]) -> Found:
    return Found(
        name=name,
        kind=FoundKind.NAMESPACE,
        root=portions[0][0],
        file=None,
        search_dirs=tuple(Path(p) for _, p in portions),
        search_roots=tuple(r for r, _ in portions),
    )


def scan_directory(path: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """(file names, directory names) in ``path``, following links as the import system does;
    None when it cannot be listed. An entry that cannot be stat'ed is left out."""
    files: set[str] = set()
    dirs: set[str] = set()
    try:
        with os.scandir(path) as it:
            for entry in it:
                try:
                    if entry.is_dir():
                        dirs.add(entry.name)
                    elif entry.is_file():
                        files.add(entry.name)
                except OSError:
                    continue
    except OSError:
        return None
    return frozenset(files), frozenset(dirs)
