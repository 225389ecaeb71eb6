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

__all__ = ["STARTUP_MODULES", "Found", "FoundKind", "ModuleFinder", "Root", "RootOrigin"]

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


class _Listing:
    __slots__ = ("dirs", "files")

    def __init__(self, files: frozenset[str], dirs: frozenset[str]) -> None:
        self.files = files
        self.dirs = dirs


class ModuleFinder:
    """Resolves dotted names against an ordered list of roots, caching directory listings.

    ``extension_suffixes`` are the compiled-module suffixes to accept; any ``.so``/``.pyd``
    is accepted by default because installed extensions were built for the *local*
    platform, which may not be the target's.
    """

    def __init__(self) -> None:
        self._listings: dict[Path, _Listing] = {}
        self._found: dict[tuple[str, tuple[Root, ...]], Found | None] = {}

    def _listing(self, directory: Path) -> _Listing:
        cached = self._listings.get(directory)
        if cached is not None:
            return cached
        files: set[str] = set()
        dirs: set[str] = set()
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    try:
                        if entry.is_dir():
                            dirs.add(entry.name)
                        elif entry.is_file():
                            files.add(entry.name)
                    except OSError:
                        continue
        except OSError:
            pass
        listing = _Listing(frozenset(files), frozenset(dirs))
        self._listings[directory] = listing
        return listing

    def _find_in(self, directory: Path, part: str) -> tuple[FoundKind, Path] | None:
        """A package or module named ``part`` directly in ``directory``, or a namespace portion."""
        listing = self._listing(directory)
        if part in listing.dirs:
            sub = self._listing(directory / part)
            for init in ("__init__.py", "__init__.pyc"):
                if init in sub.files:
                    return FoundKind.PACKAGE, directory / part / init
            for name in sub.files:
                if name.startswith("__init__.") and name.endswith((".so", ".pyd")):
                    return FoundKind.PACKAGE, directory / part / name
        for name in listing.files:
            if name.startswith(part + ".") and name.endswith((".so", ".pyd")):
                # ``part.cpython-311-x86_64-linux-gnu.so``, ``part.abi3.so``, ``part.so``
                middle = name[len(part) : name.rindex(".")]
                if middle == "" or middle.count(".") == 1:
                    return FoundKind.EXTENSION, directory / name
        for suffix in _SOURCE_SUFFIXES:
            if part + suffix in listing.files:
                return FoundKind.MODULE, directory / (part + suffix)
        for suffix in _BYTECODE_SUFFIXES:
            if part + suffix in listing.files:
                return FoundKind.BYTECODE, directory / (part + suffix)
        if part in listing.dirs:
            return FoundKind.NAMESPACE, directory / part
        return None

    def find_top(self, part: str, roots: tuple[Root, ...]) -> Found | None:
        """Find a top-level name on ``roots`` in order (PathFinder over sys.path)."""
        key = (part, roots)
        if key in self._found:
            return self._found[key]
        portions: list[tuple[Root, Path]] = []
        result: Found | None = None
        for root in roots:
            hit = self._find_in(root.path, part)
            if hit is None:
                continue
            kind, path = hit
            if kind is FoundKind.NAMESPACE:
                portions.append((root, path))
                continue
            result = self._make(part, kind, root, path)
            break
        if result is None and portions:
            result = Found(
                name=part,
                kind=FoundKind.NAMESPACE,
                root=portions[0][0],
                file=None,
                search_dirs=tuple(p for _, p in portions),
                search_roots=tuple(r for r, _ in portions),
            )
        self._found[key] = result
        return result

    def find_sub(self, name: str, parent: Found) -> Found | None:
        """Find ``name`` (dotted, a child of ``parent``) in the parent's ``__path__``."""
        part = name.rpartition(".")[2]
        portions: list[tuple[Root, Path]] = []
        roots = parent.search_roots or (parent.root,) * len(parent.search_dirs)
        for directory, root in zip(parent.search_dirs, roots, strict=True):
            hit = self._find_in(directory, part)
            if hit is None:
                continue
            kind, path = hit
            if kind is FoundKind.NAMESPACE:
                portions.append((root, path))
                continue
            return self._make(name, kind, root, path)
        if portions:
            return Found(
                name=name,
                kind=FoundKind.NAMESPACE,
                root=portions[0][0],
                file=None,
                search_dirs=tuple(p for _, p in portions),
                search_roots=tuple(r for r, _ in portions),
            )
        return None

    @staticmethod
    def _make(name: str, kind: FoundKind, root: Root, path: Path) -> Found:
        if kind is FoundKind.PACKAGE:
            return Found(name=name, kind=kind, root=root, file=path, search_dirs=(path.parent,))
        return Found(name=name, kind=kind, root=root, file=path)
