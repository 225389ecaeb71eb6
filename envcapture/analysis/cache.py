"""The persistent caches of the analysis (EDGE: files under the user's cache dir).

`FactsCache`: per-file extraction results, keyed by the SHA-256 of the file's bytes, the
module name it is read as (relative imports depend on it) and envcapture's version, so an
edited file, a moved file or a new envcapture never reuses a stale entry. Content-addressed:
shared by every project.

`AnalysisCache`: whole analyses, keyed by everything an analysis is a function of besides
the files (project, entry points, target, interpreter snapshot, envcapture version); an
entry records what the walk looked at (every file read, every directory listed) by stat
and by content digest. When every stat is unchanged, the recorded analysis is the answer;
a changed stat costs a digest of that one file or listing; a changed digest means a re-walk
that reuses the recorded facts of every unchanged file (`AnalysisEntry.reusable`). A stat
younger than two seconds before the walk started is never trusted alone (a file may change
twice within one timestamp tick), its digest is checked instead.

Entries of both are written atomically (temp file + rename) and verified on read: a damaged
entry is a miss, never an error, so concurrent runs and interrupted writes are safe. A cache
that cannot be written (a read-only or full disk, no permission) is given up for writing at
the first failure, which ``write_error`` keeps (``<directory> (<reason>)``) for the one-line
warning the command prints; the analysis goes on without it, as pip does with its cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envcapture._fs import atomic_write_bytes, default_cache_dir, read_user_file, sha256_bytes
from envcapture._version import __version__
from envcapture.analysis.model import (
    EXTRACTOR_VERSION,
    Condition,
    DynamicKind,
    FileRef,
    FileUse,
    ImportSite,
    PathAddition,
    Scope,
    SourceFacts,
)
from envcapture.model import Diagnostic, ModuleName, Severity

__all__ = [
    "AnalysisCache",
    "AnalysisEntry",
    "FactsCache",
    "FileRecord",
    "Stat",
    "default_cache_dir",
    "dir_digest",
    "facts_from_json",
    "facts_to_json",
    "listing_digest",
    "racy_after",
    "stat_of",
]

_FORMAT = 3  # 2: ImportSite.prefix; 3: ImportSite.branch, alternative_group, fallback


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
                "prefix": s.prefix,
                "branch": s.branch,
                "alternative_group": s.alternative_group,
                "fallback": s.fallback,
            }
            for s in facts.imports
        ],
        "path_additions": [[a.line, a.path, a.cwd_relative, a.prepend] for a in facts.path_additions],
        "has_main_guard": facts.has_main_guard,
        "error": _diag_to_json(facts.error) if facts.error else None,
        "diagnostics": [_diag_to_json(d) for d in facts.diagnostics],
        "file_refs": [[r.line, r.path, r.use.value, r.how, r.from_file_dir] for r in facts.file_refs],
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
                prefix=s["prefix"],
                branch=s["branch"],
                alternative_group=s["alternative_group"],
                fallback=s["fallback"],
            )
            for s in data["imports"]
        ),
        path_additions=tuple(
            PathAddition(line=line, path=p, cwd_relative=cwd, prepend=pre) for line, p, cwd, pre in data["path_additions"]
        ),
        has_main_guard=data["has_main_guard"],
        error=_diag_from_json(data["error"]) if data["error"] else None,
        diagnostics=tuple(_diag_from_json(d) for d in data["diagnostics"]),
        file_refs=tuple(
            FileRef(line=line, path=p, use=FileUse(use), how=how, from_file_dir=rel)
            for line, p, use, how, rel in data["file_refs"]
        ),
    )


def _write_error(root: Path, exc: OSError) -> str:
    return f"{root} ({exc.strerror or exc})"


class FactsCache:
    """A directory of JSON entries ``facts/ab/abcdef....json``; counts hits and misses."""

    def __init__(self, root: Path | None = None, *, enabled: bool = True) -> None:
        self.root = (root or default_cache_dir()) / "facts"
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.write_error = ""  # set by the first write that fails; no write is tried after it

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
        if not self.enabled or self.write_error:
            return
        data = json.dumps({"key": key, "facts": facts_to_json(facts)}, separators=(",", ":")).encode()
        try:
            atomic_write_bytes(self._path(key), data, durable=False)
        except OSError as exc:  # a read-only or full cache directory only costs speed
            self.write_error = _write_error(self.root, exc)


# --- the whole-analysis cache ------------------------------------------------------------------

_ANALYSIS_FORMAT = 5  # 5: ImportSite.branch; 2: ImportSite.prefix, LocalFile.via, ImportGraph.prefix_imports; 3: Analysis.added; 4: Analysis.data_files
_RACY_NS = 2_000_000_000  # a stat this close to the walk's start is checked by digest

Stat = tuple[int, int, int]
"""(size, mtime_ns, inode) of a file or directory."""


def stat_of(path: str) -> Stat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def listing_digest(files: frozenset[str] | set[str], dirs: frozenset[str] | set[str]) -> str:
    """The digest of a directory listing as `ModuleFinder` sees it (files and directories apart)."""
    text = "\0".join(sorted(files)) + "\0/\0" + "\0".join(sorted(dirs))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def dir_digest(path: str) -> str | None:
    """`listing_digest` of ``path`` as it is now; None when it cannot be listed."""
    from envcapture.analysis.finder import scan_directory  # only when a directory's stat moved

    listing = scan_directory(path)
    return None if listing is None else listing_digest(*listing)


def _file_digest(path: str) -> str | None:
    try:
        return sha256_bytes(read_user_file(path, limit=64 << 20))  # never blocks on a FIFO
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A source file the walk read: its stat when read, the digest of its bytes, its facts."""

    stat: Stat
    digest: str
    facts: SourceFacts


@dataclass(frozen=True, slots=True)
class AnalysisEntry:
    """One recorded analysis and what it depended on.

    ``dirs``: every directory the module finder listed (and the few paths probed directly),
    path -> (stat, listing digest), both None when absent. ``files``: every file read, by
    (path, module, is_package). ``analysis`` is opaque here (api.py stores an `Analysis`).
    """

    key: str
    racy_after: int  # ns: stats at or after this are verified by digest
    dirs: Mapping[str, tuple[Stat | None, str | None]]
    files: Mapping[tuple[str, str, bool], FileRecord]
    analysis: Any

    def _trusted(self, recorded: Stat | None, now: Stat | None) -> bool:
        return recorded == now and (now is None or now[1] < self.racy_after)

    def revalidate(self, now_ns: int) -> AnalysisEntry | None:
        """None when a recorded file or directory changed; else this entry, or a copy with
        fresh stats when some stat had to be vouched for by its digest (touched, or too
        young to trust), so that the next run trusts it by stat alone."""
        fresh_dirs: dict[str, tuple[Stat | None, str | None]] = {}
        for path, (stat, digest) in self.dirs.items():
            now = stat_of(path)
            if not self._trusted(stat, now):
                if dir_digest(path) != digest:
                    return None
                fresh_dirs[path] = (now, digest)
        fresh_files: dict[str, Stat] = {}
        checked: set[str] = set()
        for (path, _, _), record in self.files.items():
            if path in checked:
                continue
            checked.add(path)
            now = stat_of(path)
            if not self._trusted(record.stat, now):
                if now is None or _file_digest(path) != record.digest:
                    return None
                fresh_files[path] = now
        if not fresh_dirs and not fresh_files:
            return self
        return AnalysisEntry(
            key=self.key,
            racy_after=racy_after(now_ns),
            dirs={**self.dirs, **fresh_dirs},
            files={
                k: FileRecord(fresh_files[k[0]], r.digest, r.facts) if k[0] in fresh_files else r for k, r in self.files.items()
            },
            analysis=self.analysis,
        )

    def reusable(self, path: str, module: str, is_package: bool, stat: Stat | None) -> FileRecord | None:
        """The recorded facts of ``path`` when its stat vouches for its bytes."""
        record = self.files.get((path, module, is_package))
        if record is not None and stat is not None and self._trusted(record.stat, stat):
            return record
        return None


class AnalysisCache:
    """A directory of pickled `AnalysisEntry` files ``analyses/<key>.pickle``."""

    def __init__(self, root: Path | None = None, *, enabled: bool = True) -> None:
        self.root = (root or default_cache_dir()) / "analyses"
        self.enabled = enabled
        self.write_error = ""  # as `FactsCache.write_error`

    @staticmethod
    def key(*parts: str) -> str:
        """A key over ``parts`` (the project, entry points, target, snapshot...) and the versions."""
        digest = hashlib.sha256(f"envcapture-analysis/{_ANALYSIS_FORMAT}/{__version__}/{EXTRACTOR_VERSION}".encode())
        for part in parts:
            encoded = part.encode("utf-8", "surrogateescape")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.pickle"

    def get(self, key: str) -> AnalysisEntry | None:
        """The entry stored under ``key``; None when absent, damaged or not this key's."""
        if not self.enabled:
            return None
        try:
            # Only entries this user's envcapture wrote, in this user's cache directory.
            entry = pickle.loads(self._path(key).read_bytes())  # noqa: S301
            if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == _ANALYSIS_FORMAT:
                entry = entry[1]
        except Exception:  # noqa: BLE001 - any damage (truncation, an old class layout) is a miss
            return None
        if not isinstance(entry, AnalysisEntry) or entry.key != key:
            return None
        return entry

    def put(self, entry: AnalysisEntry) -> None:
        if not self.enabled or self.write_error:
            return
        try:
            buffer = io.BytesIO()
            _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump((_ANALYSIS_FORMAT, entry))
            data = buffer.getvalue()
            atomic_write_bytes(self._path(entry.key), data, durable=False)
        except OSError as exc:  # a read-only or full cache directory only costs speed
            self.write_error = _write_error(self.root, exc)
        except pickle.PicklingError:
            pass  # an analysis holding something unpicklable is not cached


# Frozen slotted dataclasses pickle through a generic ``__getstate__``/``__setstate__`` that
# looks up their fields for every object (2/3 of a warm run's time with 10,000 import sites);
# these rebuild them from a tuple of values instead.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    obj: Any = object.__new__(cls)
    for name, value in zip(_field_names(cls), values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if dataclasses.is_dataclass(cls) and hasattr(cls, "__slots__"):
            return _rebuild, (cls, tuple(getattr(obj, name) for name in _field_names(cls)))
        return NotImplemented


def racy_after(walk_started_ns: int) -> int:
    """The ``racy_after`` of an entry whose walk started at ``walk_started_ns``."""
    return walk_started_ns - _RACY_NS
