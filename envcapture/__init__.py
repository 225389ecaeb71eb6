"""envcapture: capture the Python environment of an ML job for a Linux x86_64 GPU VM.

The job CLI calls `analyze` (what the job needs, and why), `capture` (the environment
resolved for the target), `lock_job` (write the lock files) and `build_bundle`; each takes
the job's config as a path (str or PathLike), a `JobConfig` or a parsed mapping
(docs/api.md). Names are imported lazily so
that ``import envcapture`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envcapture._version import __version__

__all__ = [
    "Additions",
    "AnalysisOptions",
    "EnvcaptureError",
    "__version__",
    "analyze",
    "build_bundle",
    "capture",
    "load_config",
    "lock_job",
    "run_bundle",
    "verify_bundle",
]

if TYPE_CHECKING:
    from envcapture.analysis.api import AnalysisOptions, analyze
    from envcapture.build.bundle import build_bundle
    from envcapture.build.lock import lock_job
    from envcapture.config.loader import load_config
    from envcapture.errors import EnvcaptureError
    from envcapture.resolution.capture import Additions, capture
    from envcapture.runtime.run import run_bundle
    from envcapture.runtime.verify import verify_bundle

_LAZY = {
    "analyze": "envcapture.analysis.api",
    "AnalysisOptions": "envcapture.analysis.api",
    "capture": "envcapture.resolution.capture",
    "Additions": "envcapture.resolution.capture",
    "lock_job": "envcapture.build.lock",
    "load_config": "envcapture.config.loader",
    "EnvcaptureError": "envcapture.errors",
    "build_bundle": "envcapture.build.bundle",
    "verify_bundle": "envcapture.runtime.verify",
    "run_bundle": "envcapture.runtime.run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'envcapture' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return list(__all__)
