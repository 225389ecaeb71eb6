"""The memo of ``analysis.added`` for ``envcapture analyze`` (EDGE: files under the user's cache dir).

`envcapture.resolution.capture.analyze_job` names what ships although the code does not
import it by resolving the closure from the installed metadata. On a warm run (the
analysis cache hits) that resolution, and the imports it needs (the closure walk,
``packaging``, the config loader and YAML), were most of the time. Its result is a
function of what `added_key` digests: the requirements the analysis makes (each
distribution imported, with its import sites, and the runtime pass's additions), the
target, the `Additions`, the bytes of the project's ``pyproject.toml`` (``[tool.envcapture]
with`` and ``installed-extras``), manual mode, the job's pip options, the analysed
environment (`snapshot_identity`) and envcapture's version. The memo keeps per key what
the resolution changed on the analysis: the ``added`` rows, or the ``resolution-failed``
warning. An error (a ``with`` distribution not installed, a bad ``[tool.envcapture]`` key)
is never kept: it is raised again on the next run.

An entry is one JSON file ``added/<key>.json``, written atomically and checked on read: a
damaged entry is a miss. A memo that cannot be written is given up for writing at the
first failure, which ``write_error`` keeps for the command's one-line warning, as
`envcapture.analysis.cache.AnalysisCache` does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envcapture._fs import atomic_write_bytes, default_cache_dir
from envcapture._version import __version__
from envcapture.analysis.classify import AddedDistribution, Analysis
from envcapture.model import Diagnostic, DistName, Severity

__all__ = ["AddedMemo", "AddedResult", "added_key"]


def __dir__() -> list[str]:
    return list(__all__)


_FORMAT = 1


def added_key(*parts: str | bytes) -> str:
    """A key over ``parts`` (each length-prefixed: no two lists of parts share one) and the versions."""
    digest = hashlib.sha256(f"envcapture-added/{_FORMAT}/{__version__}".encode())
    for part in parts:
        encoded = part if isinstance(part, bytes) else part.encode("utf-8", "surrogateescape")
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class AddedResult:
    """What resolving the closure changes on an analysis: its ``added`` rows, or (the
    closure could not be resolved) one more diagnostic, ``added`` left as it was."""

    added: tuple[AddedDistribution, ...] = ()
    failure: Diagnostic | None = None

    def applied_to(self, analysis: Analysis) -> Analysis:
        if self.failure is not None:
            return replace(analysis, diagnostics=(*analysis.diagnostics, self.failure))
        return replace(analysis, added=self.added)


def _result_to_json(result: AddedResult) -> dict[str, Any]:
    failure = result.failure
    return {
        "added": [[a.name, a.display_name, a.version, a.rule, a.via, a.reason, a.parent] for a in result.added],
        "failure": None
        if failure is None
        else [failure.file, failure.line, failure.code, failure.message, failure.severity.value],
    }


def _result_from_json(data: dict[str, Any]) -> AddedResult:
    added = tuple(
        AddedDistribution(
            name=DistName(name),
            display_name=display,
            version=version,
            rule=rule,
            via=via,
            reason=reason,
            parent=DistName(parent) if parent is not None else None,
        )
        for name, display, version, rule, via, reason, parent in data["added"]
    )
    for row in added:  # the rows as the JSON gave them must be strings
        if not all(isinstance(v, str) for v in (row.name, row.display_name, row.version, row.rule, row.via, row.reason)):
            raise TypeError("not a row of strings")
    raw = data["failure"]
    if raw is None:
        return AddedResult(added=added)
    file, line, code, message, severity = raw
    return AddedResult(
        added=added, failure=Diagnostic(file=file, line=line, code=code, message=message, severity=Severity(severity))
    )


class AddedMemo:
    """A directory of JSON entries ``added/<key>.json``, one `AddedResult` each."""

    def __init__(self, root: Path | None = None, *, enabled: bool = True) -> None:
        self.root = (root or default_cache_dir()) / "added"
        self.enabled = enabled
        self.write_error = ""  # set by the first write that fails; no write is tried after it

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> AddedResult | None:
        """The result stored under ``key``; None when absent, damaged or not this key's."""
        if not self.enabled:
            return None
        try:
            envelope = json.loads(self._path(key).read_bytes())
            if envelope["format"] != _FORMAT or envelope["key"] != key:
                return None
            return _result_from_json(envelope["result"])
        except (OSError, ValueError, KeyError, TypeError):  # any damage is a miss
            return None

    def put(self, key: str, result: AddedResult) -> None:
        if not self.enabled or self.write_error:
            return
        envelope = {"format": _FORMAT, "key": key, "result": _result_to_json(result)}
        data = json.dumps(envelope, separators=(",", ":")).encode("ascii")  # ASCII: lone surrogates escaped
        try:
            atomic_write_bytes(self._path(key), data, durable=False)
        except OSError as exc:  # a read-only or full cache directory only costs speed
            self.write_error = f"{self.root} ({exc.strerror or exc})"
