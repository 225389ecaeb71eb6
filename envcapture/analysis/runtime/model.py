"""What the opt-in runtime pass saw."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from envcapture.model import DistName

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
