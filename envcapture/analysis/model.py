"""What the static analysis produces: entry points, import sites, per-file facts, the files the code reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from envcapture.model import Diagnostic, ModuleName

# --- entry points (analyzers/entrypoints.py) ---------------------------------------------


class EntryKind(str, enum.Enum):
    SCRIPT = "script"  # a .py file run as __main__
    MODULE = "module"  # python -m pkg.mod


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class EntryPoint:
    """One place where Python starts running the job's code.

    ``target`` is a project-relative POSIX path for a script, a dotted name for a module.
    ``pythonpath`` holds ``PYTHONPATH`` entries set for this command (``PYTHONPATH=src``),
    relative to the working directory unless absolute; ``${VAR}`` placeholders stay as text.
    ``runs_main`` is false for a package given by its ``__init__.py`` when it has no
    ``__main__``: the package is imported, nothing runs as ``__main__``.
    """

    kind: EntryKind
    target: str
    source: str = "cmd"  # "cmd", "root-paths" or "cli"
    launcher: str | None = None  # "torchrun", "deepspeed", "accelerate launch", ...
    interpreter: str | None = None  # "python3.10" when the command names one
    pythonpath: tuple[str, ...] = ()
    runs_main: bool = True

    def __str__(self) -> str:
        return f"-m {self.target}" if self.kind is EntryKind.MODULE else self.target


# --- import extraction (analyzers/imports.py) ---------------------------------------------


class Scope(str, enum.Enum):
    MODULE = "module"
    FUNCTION = "function"  # inside a def (also a method)
    CLASS = "class"  # in a class body, outside any def


class DynamicKind(str, enum.Enum):
    IMPORT_MODULE = "import_module"  # importlib.import_module("x")
    DUNDER_IMPORT = "__import__"  # __import__("x")
    FIND_SPEC = "find_spec"  # importlib.util.find_spec("x"): an availability check


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Condition:
    """A literal ``if`` test that guards an import, kept as normalized source text.

    ``negated`` is true in the ``else`` branch (and in ``elif`` for earlier tests).
    Evaluated for the target later; extraction does not know the target.
    """

    expression: str  # e.g. 'sys.platform == "win32"', 'sys.version_info < (3, 11)'
    negated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ImportSite:
    """One import statement (or literal dynamic import) in one file.

    ``module`` is absolute (relative imports are resolved by extraction); for
    ``from a import b, c`` it is ``a`` and ``names`` is ``("b", "c")`` (``b`` may be a
    submodule: resolution checks). For ``import a.b`` ``names`` is empty.
    A relative import that climbs above the top-level package keeps ``module`` as
    written with leading dots and gets a diagnostic.

    ``prefix`` is set for a dynamic import whose name is computed behind a literal head
    (``importlib.import_module("pkg.plugins." + name)``, ``f"models.{arch}"``, ``"." + name``
    with ``package=__name__``): the head made absolute (``pkg.plugins.``), while ``module`` is
    the package it names, up to its last complete dot (``pkg.plugins``), which the walk
    ships and analyses whole.
    """

    line: int
    column: int
    module: ModuleName
    names: tuple[str, ...] = ()
    level: int = 0  # the relative level as written (0: absolute)
    scope: Scope = Scope.MODULE
    optional: bool = False  # inside try/except ImportError, ModuleNotFoundError, Exception, bare except
    type_only: bool = False  # under `if TYPE_CHECKING:` / `if typing.TYPE_CHECKING:`
    conditions: tuple[Condition, ...] = ()  # enclosing literal platform/version tests
    dynamic: DynamicKind | None = None
    prefix: str | None = None
    # inside an if/else body: runs only when its test passes (_guards.Effect); left out of
    # equality and order, as the statement is the same import wherever it stands
    branch: bool = field(default=False, compare=False)
    # ``try: import a`` / ``except ImportError: import b``: the job needs one of the two. Both
    # sites are optional, and carry the line of that ``try`` (which groups them); ``fallback``
    # marks the ones in the ``except`` branch, imported only when the ``try`` failed.
    alternative_group: int | None = None
    fallback: bool = False


def prefix_reason(prefix: str) -> str:
    """Why a module reached through a literal prefix is part of the job, as reports show it."""
    return f"dynamic (prefix {prefix})"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class PathAddition:
    """A ``sys.path.insert(0, X)`` / ``sys.path.append(X)`` whose X is decidable statically.

    ``path`` is POSIX, relative to the directory of the file that made the call
    (``Path(__file__).parent / "lib"`` -> ``lib``; ``os.path.dirname(__file__)`` -> ``.``),
    or absolute; a plain relative literal (``"src"``) is relative to the working
    directory and marked ``cwd_relative``.
    """

    line: int
    path: str
    cwd_relative: bool = False
    prepend: bool = True


class FileUse(str, enum.Enum):
    """How the job uses a file it names by path (analysis/datafiles.py)."""

    READ = "read"  # open("x.json"), np.load("x.npy"), Path("cfg/a.yaml").read_text()
    EXEC = "exec"  # exec(open("x.py").read()), runpy.run_path("x.py"): analysed for imports too
    FILE_RELATIVE = "file-relative"  # Path(__file__).parent / "assets" / "x.npz", anywhere in the code
    DEFAULT = "default"  # argparse add_argument(default="cfg/x.yaml"), click.option(default=...)
    CMD = "cmd"  # an argument of a Python command in cmd: --cfg models/x.yaml


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class FileRef:
    """A file one source file names by a literal path, as extraction reads it.

    ``path`` is POSIX and normalized; relative to the job's working directory, or to the
    directory of the file that names it when ``from_file_dir`` (built from ``__file__``).
    ``how`` is the code's own spelling, for people: ``exec(open(...))``, ``np.load``,
    ``open``, ``__file__-relative``, ``argparse default``.
    """

    line: int
    path: str
    use: FileUse
    how: str
    from_file_dir: bool = False


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class FileReason:
    """Why a file travels with the job: ``file``:``line`` reads it (``how``), or cmd names it
    (``file`` None). ``from_file_dir``: the code finds it next to ``file``, not in the working
    directory (what ``verify`` checks)."""

    use: FileUse
    how: str
    file: str | None = None
    line: int | None = None
    from_file_dir: bool = False

    @property
    def detail(self) -> str:
        """How the code names it: ``exec(open(...))``, ``open, __file__-relative``, ``named in cmd``."""
        if self.from_file_dir and self.use is not FileUse.FILE_RELATIVE:
            return f"{self.how}, __file__-relative"
        return self.how

    def __str__(self) -> str:
        if self.file is None:
            return self.how
        verb = "named by" if self.use is FileUse.DEFAULT else "read by"
        return f"{verb} {self.file}:{self.line} ({self.detail})"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class DataFile:
    """A project file (or a directory, when named from ``__file__``) the job reads or executes
    by its path rather than imports.

    ``left_out`` says why it does not ship as local code: an exclusion rule (``dotenv``,
    ``secrets``, ``vcs-metadata``... as the local-code walker names them) or ``job-input``
    (it is one of the config's ``inputs``, which travel as inputs). ``analysed``: executed as
    Python (``exec``, ``runpy``), its imports are part of the analysis.
    """

    path: str  # project-relative POSIX
    reasons: tuple[FileReason, ...]
    is_dir: bool = False
    analysed: bool = False
    left_out: str | None = None

    @property
    def ships(self) -> bool:
        return self.left_out is None


# 14: a kept statement's backslash continuation stays with it (the next kept statement continued its line);
# 13: the lines naming a path name stay (a header's path on it is a file read);
# 12: a cut def or class header stands in as `def _():` (fact digests);
# 11: every binding of a path name kept, form-feed-indented files whole; 10: compound statements' blocks cut to their statements holding a marker (fact digests);
# 9: the walked statements' rule (their own lines), working-directory and match-bound path names;
# 8: SourceFacts.fact_digest; 7: ImportSite.branch; 6: file_refs; 5: alternative_group, fallback;
# 4: ImportSite.prefix, computed-import diagnostics.
EXTRACTOR_VERSION = 14
"""Bumped whenever extraction (analysis/imports.py and its _modules) changes what it returns for the same
source: part of the cache key (cache.py), so no stale facts are reused."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceFacts:
    """What one source file says about imports; the cached unit of extraction."""

    imports: tuple[ImportSite, ...] = ()
    path_additions: tuple[PathAddition, ...] = ()
    has_main_guard: bool = False
    error: Diagnostic | None = None  # set when the file does not parse; imports is then ()
    diagnostics: tuple[Diagnostic, ...] = ()  # non-fatal findings (relative import beyond top, ...)
    file_refs: tuple[FileRef, ...] = ()  # files named by a literal path (analysis/datafiles.py)
    # The digest of what the facts were read from (_fragment.fact_digest), None when the whole
    # file was parsed: a new version of the file with this digest has these facts.
    fact_digest: str | None = field(default=None, compare=False)
