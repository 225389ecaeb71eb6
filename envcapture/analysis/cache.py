"""The persistent cache of per-file extraction results (EDGE: files under the user's cache dir).

Keyed by the SHA-256 of the file's bytes, the module name it is read as (relative imports
depend on it) and envcapture's version, so an edited file, a moved file or a new
envcapture never reuses a stale entry. Entries are written atomically (temp file + rename)
and verified on read: a damaged entry is a miss, never an error, so concurrent runs and
interrupted writes are safe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envcapture._fs import atomic_write_bytes, default_cache_dir, sha256_bytes
from envcapture._version import __version__
from envcapture.analysis.model import (
    EXTRACTOR_VERSION,
    Condition,
    DynamicKind,
    ImportSite,
    PathAddition,
    Scope,
    SourceFacts,
)
from envcapture.model import Diagnostic, ModuleName, Severity

__all__ = ["FactsCache", "default_cache_dir", "facts_from_json", "facts_to_json"]

_FORMAT = 1


def _diag_to_json(d: Diagnostic) -> dict[str, Any]:
    return {"file": d.file, "line": d.line, "code": d.code, "message": d.message, "severity": d.severity.value}


def _diag_from_json(d: dict[str, Any]) -> Diagnostic:
    return Diagnostic(file=d["file"], line=d["line"], code=d["code"], message=d["message"], severity=Severity(d["severity"]))


def facts_to_json(facts: SourceFacts) -> dict[str, Any]:
    return {
        "imports": [
            {
                "line": s.line,
                "column": s.column,
                "module": s.module,
                "names": list(s.names),
                "level": s.level,
                "scope": s.scope.value,
                "optional": s.optional,
                "type_only": s.type_only,
                "conditions": [[c.expression, c.negated] for c in s.conditions],
                "dynamic": s.dynamic.value if s.dynamic else None,
            }
            for s in facts.imports
        ],
        "path_additions": [[a.line, a.path, a.cwd_relative, a.prepend] for a in facts.path_additions],
        "has_main_guard": facts.has_main_guard,
        "error": _diag_to_json(facts.error) if facts.error else None,
        "diagnostics": [_diag_to_json(d) for d in facts.diagnostics],
    }


def facts_from_json(data: dict[str, Any]) -> SourceFacts:
    return SourceFacts(
        imports=tuple(
            ImportSite(
                line=s["line"],
                column=s["column"],
                module=ModuleName(s["module"]),
                names=tuple(s["names"]),
                level=s["level"],
                scope=Scope(s["scope"]),
                optional=s["optional"],
                type_only=s["type_only"],
                conditions=tuple(Condition(expression=e, negated=n) for e, n in s["conditions"]),
                dynamic=DynamicKind(s["dynamic"]) if s["dynamic"] else None,
            )
            for s in data["imports"]
        ),
        path_additions=tuple(
            PathAddition(line=line, path=p, cwd_relative=cwd, prepend=pre) for line, p, cwd, pre in data["path_additions"]
        ),
        has_main_guard=data["has_main_guard"],
        error=_diag_from_json(data["error"]) if data["error"] else None,
        diagnostics=tuple(_diag_from_json(d) for d in data["diagnostics"]),
    )


class FactsCache:
    """A directory of JSON entries ``facts/ab/abcdef....json``; counts hits and misses."""

    def __init__(self, root: Path | None = None, *, enabled: bool = True) -> None:
        self.root = (root or default_cache_dir()) / "facts"
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(content: bytes, module: str, is_package: bool) -> str:
        header = f"envcapture-facts/{_FORMAT}/{__version__}/{EXTRACTOR_VERSION}/{module}/{int(is_package)}\0".encode()
        return sha256_bytes(header + content)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> SourceFacts | None:
        if not self.enabled:
            self.misses += 1
            return None
        try:
            raw = self._path(key).read_bytes()
            envelope = json.loads(raw)
            if envelope.get("key") != key:
                raise ValueError("key mismatch")
            facts = facts_from_json(envelope["facts"])
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return facts

    def put(self, key: str, facts: SourceFacts) -> None:
        if not self.enabled:
            return
        data = json.dumps({"key": key, "facts": facts_to_json(facts)}, separators=(",", ":")).encode()
        try:
            atomic_write_bytes(self._path(key), data, durable=False)
        except OSError:
            pass  # a read-only or full cache directory only costs speed
