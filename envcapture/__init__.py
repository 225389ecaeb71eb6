"""envcapture: capture the Python environment of an ML job for a Linux x86_64 GPU VM.

The job CLI calls `analyze` (what the job needs, and why), `capture` (the environment
resolved for the target) and `lock_job` (write the lock files). Names are imported lazily so
that ``import envcapture`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["EnvcaptureError", "__version__", "analyze", "capture", "load_config", "lock_job"]

if TYPE_CHECKING:
    from envcapture.analysis import analyze
    from envcapture.capture import capture, lock_job
    from envcapture.config import load_config
    from envcapture.errors import EnvcaptureError

_LAZY = {
    "analyze": "envcapture.analysis",
    "capture": "envcapture.capture",
    "lock_job": "envcapture.capture",
    "load_config": "envcapture.config",
    "EnvcaptureError": "envcapture.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'envcapture' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return list(__all__)
