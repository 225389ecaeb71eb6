"""Plain data passed between the stages: frozen, sorted, free of I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

from packaging.utils import canonicalize_name

__all__ = [
    "EXTRACTOR_VERSION",
    "Condition",
    "DataRef",
    "Diagnostic",
    "DistName",
    "DistributionInfo",
    "DynamicKind",
    "EntryKind",
    "EntryPoint",
    "EnvSnapshot",
    "ImportSite",
    "ModuleName",
    "PathAddition",
    "RuntimeFinding",
    "RuntimeReport",
    "RuntimeTrace",
    "Scope",
    "Severity",
    "SourceFacts",
    "Target",
    "TraceOutcome",
    "TracedImport",
    "dist_name",
]

ModuleName = NewType("ModuleName", str)
"""A dotted, absolute module name: ``sklearn.linear_model``."""

DistName = NewType("DistName", str)
"""A distribution name canonicalized by PEP 503 rules: ``scikit-learn``."""


def dist_name(name: str) -> DistName:
    """Canonicalize ``name`` (``PyYAML`` -> ``pyyaml``)."""
    return DistName(canonicalize_name(name))


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Diagnostic:
    """A problem found while analysing that does not stop the analysis.

    ``file`` is relative to the project (POSIX) where it can be.
    """

    file: str | None
    line: int | None
    code: str  # stable, kebab-case: "parse-error", "undecided-entry-point", ...
    message: str
    severity: Severity = Severity.WARNING

    def __str__(self) -> str:
        where = self.file or ""
        if where and self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message


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
    """

    kind: EntryKind
    target: str
    source: str = "cmd"  # "cmd", "root-paths" or "cli"
    launcher: str | None = None  # "torchrun", "deepspeed", "accelerate launch", ...
    interpreter: str | None = None  # "python3.10" when the command names one
    pythonpath: tuple[str, ...] = ()

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


EXTRACTOR_VERSION = 1
"""Bumped whenever extraction (analyzers/imports.py) changes what it returns for the same
source: part of the cache key (cache.py), so no stale facts are reused."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceFacts:
    """What one source file says about imports; the cached unit of extraction."""

    imports: tuple[ImportSite, ...] = ()
    path_additions: tuple[PathAddition, ...] = ()
    has_main_guard: bool = False
    error: Diagnostic | None = None  # set when the file does not parse; imports is then ()
    diagnostics: tuple[Diagnostic, ...] = ()  # non-fatal findings (relative import beyond top, ...)


# --- the analysed environment (environment.py) ----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class DistributionInfo:
    """One installed distribution, read from its ``.dist-info`` / ``.egg-info``."""

    name: DistName
    display_name: str  # the Name field as written: "PyYAML"
    version: str
    requires: tuple[str, ...] = ()  # Requires-Dist, raw
    provides_extras: tuple[str, ...] = ()
    requires_python: str | None = None
    top_level: tuple[ModuleName, ...] = ()  # import names it provides at the top
    modules: tuple[ModuleName, ...] = ()  # every module/package dotted name its RECORD holds
    location: str = ""  # the sys.path entry it is installed in (absolute)
    metadata_dir: str = ""  # absolute path of the .dist-info / .egg-info directory
    direct_url: str | None = None  # PEP 610 direct_url.json text, verbatim
    editable_roots: tuple[str, ...] = ()  # absolute source dirs of an editable install
    installer: str | None = None
    requested: bool = False  # REQUESTED file present (installed on purpose)
    has_record: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvSnapshot:
    """The analysed interpreter and what is installed in it, read in one subprocess."""

    executable: str
    python_version: str  # "3.11.7"
    implementation: str = "cpython"
    sys_platform: str = "linux"
    platform_machine: str = "x86_64"
    prefix: str = ""
    base_prefix: str = ""
    sys_path: tuple[str, ...] = ()  # absolute entries, the script dir and cwd removed
    site_packages: tuple[str, ...] = ()  # in sys.path order; may lie inside a stdlib dir
    stdlib_dirs: tuple[str, ...] = ()  # sysconfig stdlib/platstdlib holding os.py, lib-dynload
    distributions: tuple[DistributionInfo, ...] = ()
    editable_mappings: tuple[tuple[str, str], ...] = ()  # (top-level name, abs path) from PEP 660 finders
    # Later copies of a name already found earlier on sys.path (importlib uses the first).
    shadowed: tuple[DistributionInfo, ...] = ()
    # Unreadable metadata directories and the like: reported, not fatal.
    diagnostics: tuple[Diagnostic, ...] = ()

    def distribution(self, name: str) -> DistributionInfo | None:
        wanted = dist_name(name)
        for dist in self.distributions:
            if dist.name == wanted:
                return dist
        return None


# --- the target ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The machine the job will run on: Linux x86_64 with a given CPython."""

    python_version: str  # "3.10" or "3.10.13"
    sys_platform: str = "linux"
    platform_machine: str = "x86_64"
    platform_system: str = "Linux"
    os_name: str = "posix"
    implementation_name: str = "cpython"
    manylinux: str = "2_28"  # glibc level of the target
    cuda: str | None = None  # e.g. "12.1" for a CUDA target; None: plain index builds

    @property
    def python_minor(self) -> tuple[int, int]:
        major, minor = self.python_version.split(".")[:2]
        return int(major), int(minor)

    def marker_environment(self) -> dict[str, str]:
        """The PEP 508 marker environment of the target."""
        major, minor = self.python_minor
        parts = self.python_version.split(".")
        full = self.python_version if len(parts) >= 3 else f"{major}.{minor}.0"
        return {
            "implementation_name": self.implementation_name,
            "implementation_version": full,
            "os_name": self.os_name,
            "platform_machine": self.platform_machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": self.platform_system,
            "platform_version": "",
            "python_full_version": full,
            "python_version": f"{major}.{minor}",
            "sys_platform": self.sys_platform,
        }


# --- the runtime trace (analyzers/trace.py, merge.py, datarefs.py) -------------------------


class TraceOutcome(str, enum.Enum):
    OK = "ok"  # the entry point imported cleanly (or the command exited 0)
    ERROR = "error"  # importing it raised (or the command exited non-zero)
    TIMEOUT = "timeout"  # killed with its process group after the timeout
    NOT_RUN = "not-run"  # could not be started (interpreter, sandbox)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class TracedImport:
    """One import seen while the job's code ran, with who asked for it.

    Paths are project-relative POSIX inside the project, absolute outside. ``importer_kind``:
    "project" (the job's code), "distribution" (site-packages or an editable install),
    "stdlib", "entry" (the tracer importing a ``-m`` entry), "unknown" (seen only in
    ``sys.modules`` at the end, or frozen import machinery).
    """

    module: str
    importer: str | None = None
    line: int | None = None
    importer_kind: str = "unknown"
    scope: str = "module"  # "module" when the import ran at module level, else "function"
    via: str = "import"  # "import" (statement, __import__), "import_module", "loaded"
    file: str | None = None  # where the module was loaded from; None: builtin, not loaded
    error: str | None = None  # "ModuleNotFoundError: No module named 'x'" when it failed
    missing: str | None = None  # ImportError.name of a failed import


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeTrace:
    """One run: an entry point imported as a module, or the ``--runtime-cmd`` command."""

    entry: str  # "main.py", "-m pkg.mod" or the command
    outcome: TraceOutcome
    message: str | None = None  # one line: the exception, the timeout, why it did not start
    failed_import: str | None = None  # the innermost module whose import raised
    failed_at: str | None = None  # "models/broken.py:3": the deepest project frame of the error
    imports: tuple[TracedImport, ...] = ()
    written_files: tuple[str, ...] = ()  # project-relative files the run created or changed (in the copy)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class DataRef:
    """A dotted name in a data file (``target: models.autoencoder.AutoencoderKL``): a candidate."""

    file: str  # project-relative POSIX
    line: int
    key: str  # "target", "_target_", "class_path", ...
    value: str  # the dotted name as written
    module: str | None = None  # the longest prefix that is a module (local or installed)
    kind: str = "unknown"  # "local", "distribution", "stdlib", "unknown"
    distribution: DistName | None = None


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class RuntimeFinding:
    """Something only the runtime trace found, added to the analysis."""

    kind: str  # "local-file", "distribution", "unresolved", "stdlib"
    name: str  # the path, distribution, module or stdlib top-level name
    imported_by: tuple[str, ...] = ()  # "main.py:12" sites in the job's code


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeReport:
    """What the opt-in runtime pass did, how it was contained, and what it added."""

    timeout: float
    network_isolated: bool
    network: str  # how it was cut off, or why it was not
    command: str | None = None  # --runtime-cmd when given
    traces: tuple[RuntimeTrace, ...] = ()
    found_only_at_runtime: tuple[RuntimeFinding, ...] = ()
    not_attributed: tuple[str, ...] = ()  # top-level names imported only from inside distributions
    data_refs: tuple[DataRef, ...] = ()
    notes: tuple[str, ...] = ()
