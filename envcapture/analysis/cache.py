"""The persistent caches of the analysis (EDGE: files under the user's cache dir).

`FactsCache`: per-file extraction results, keyed by the SHA-256 of the file's bytes, the
module name it is read as (relative imports depend on it) and envcapture's version, so an
edited file, a moved file or a new envcapture never reuses a stale entry. Content-addressed:
shared by every project. One SQLite database, written once per analysis (one transaction).

`AnalysisCache`: whole analyses, keyed by everything an analysis is a function of besides
the files (project, entry points, target, interpreter snapshot, envcapture version); an
entry records what the walk looked at (every file read, every directory listed) by stat
and by content digest. When every stat is unchanged, the recorded analysis is the answer;
a changed stat costs a digest of that one file or listing. A file whose digest changed is
parsed again: when its facts are the recorded ones (an edit that moves no import), the walk
would find what it found, and the recorded analysis still stands; else the walk runs again,
reusing the recorded facts of every unchanged file (`AnalysisEntry.reusable`). A changed
listing means a re-walk too. A stat younger than two seconds before the walk started is never
trusted alone (a file may change twice within one timestamp tick), its digest is checked
instead. An entry keeps each file's facts and the analysis's import graph pickled apart,
unpickled when first used: a warm run reads neither.

Entries of both are written atomically (a transaction; a temp file + rename) and verified on
read: a damaged entry is a miss, never an error, so concurrent runs and interrupted writes
are safe. A cache that cannot be written (a read-only or full disk, no permission) is given
up for writing at the first failure, which ``write_error`` keeps (``<directory> (<reason>)``)
for the one-line warning the command prints; the analysis goes on without it, as pip does
with its cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import operator
import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from envcapture._fs import atomic_write_bytes, default_cache_dir, read_user_file, sha256_bytes
from envcapture._version import __version__
from envcapture.analysis.model import (
    EXTRACTOR_VERSION,
    ImportSite,
    SourceFacts,
)
from envcapture.analysis.walk import Edge, ImportGraph, Resolution

if TYPE_CHECKING:
    import sqlite3  # imported when the facts are first read or written: a warm analysis reads none

__all__ = [
    "FACTS_DATABASE",
    "SOURCE_LIMIT",
    "AnalysisCache",
    "AnalysisEntry",
    "FactsCache",
    "FileKey",
    "FileRecord",
    "Stat",
    "default_cache_dir",
    "dir_digest",
    "dump_facts",
    "listing_digest",
    "load_facts",
    "racy_after",
    "shown_path",
    "stat_of",
]

_FORMAT = 5  # 5: pickled facts in the database; 4: SourceFacts.fact_digest; 3: ImportSite.branch, alternative_group, fallback; 2: ImportSite.prefix


def _write_error(root: Path, exc: OSError) -> str:
    return f"{root} ({exc.strerror or exc})"


FACTS_DATABASE = "facts.sqlite3"
"""The file of `FactsCache`, in its directory ``<cache>/facts``. A new table layout takes a new name."""

_BUSY_TIMEOUT = 10.0  # s: another analysis's commit holds the lock for milliseconds
_SCHEMA = "CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, entry BLOB NOT NULL) WITHOUT ROWID"


def _is_damage(exc: Exception) -> bool:
    """Whether a sqlite3 error says the file is not a (sound) database: SQLITE_NOTADB and
    SQLITE_CORRUPT are plain `DatabaseError`s; a lock, a read-only file or a full disk is an
    `OperationalError`, the database itself being sound."""
    import sqlite3

    return type(exc) is sqlite3.DatabaseError


def _facts_of_entry(entry: object, key: str) -> SourceFacts | None:
    """The facts a stored entry holds; None when it is damaged or another key's (a miss)."""
    prefix = key.encode() + b"\n"
    if not isinstance(entry, bytes) or not entry.startswith(prefix):
        return None
    return load_facts(entry[len(prefix) :])


def _remove_json_entries(root: Path) -> None:
    """Remove the per-file JSON entries earlier versions wrote (``facts/ab/<key>.json``): no
    one reads them once the database is there."""
    import shutil

    try:
        with os.scandir(root) as listing:
            old = [e.path for e in listing if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for path in old:
        shutil.rmtree(path, ignore_errors=True)


class FactsCache:
    """One SQLite database ``facts/facts.sqlite3``, a row per parsed source (its `key`, and
    the key, a newline and the facts pickled as the analysis entries hold them: `dump_facts`,
    made once, by the parser worker); counts hits and misses.

    One database rather than a file per source: a cold analysis of a thousand files wrote a
    thousand files (a temporary file, a rename, a directory each: about 1 ms of system calls
    per file in the one process the parser workers wait for); now `put` keeps the entries in
    memory and `flush` (the analysis calls it when the walk ends, interrupted or not) writes
    them in one transaction. The database is opened at the first `get` (a warm analysis reads
    no facts and imports no sqlite3), with a busy timeout for a concurrent analysis's commit.
    Rollback journal, not WAL (WAL needs shared memory, which network file systems lack);
    ``synchronous=OFF``, since a row is verified on read (its key, its pickle): what a crash of
    the machine tears is a miss. A file that is not a sound database is a miss for every key,
    and is replaced at the next `flush`: the cache heals.
    """

    def __init__(self, root: Path | None = None, *, enabled: bool = True) -> None:
        self.root = (root or default_cache_dir()) / "facts"
        self.path = self.root / FACTS_DATABASE
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.write_error = ""  # set by the first write that fails; no write is tried after it
        self._pending: dict[str, bytes] = {}  # put, not yet flushed
        self._db: sqlite3.Connection | None = None
        self._opened = False  # whether `get` tried to open the database (absent: not retried)
        self._damaged = False  # the database is not sound: every get is a miss, flush replaces it

    @staticmethod
    def key(content: bytes, module: str, is_package: bool) -> str:
        header = f"envcapture-facts/{_FORMAT}/{__version__}/{EXTRACTOR_VERSION}/{module}/{int(is_package)}\0".encode()
        return sha256_bytes(header + content)

    def get(self, key: str) -> SourceFacts | None:
        entry: object = self._pending.get(key) if self.enabled else None
        if entry is None and self.enabled:
            entry = self._read(key)
        facts = _facts_of_entry(entry, key) if entry is not None else None
        if facts is None:
            self.misses += 1
            return None
        self.hits += 1
        return facts

    def put(self, key: str, facts: SourceFacts, stored: bytes | None = None) -> None:
        """Keep ``facts`` for the next `flush`; ``stored``: their `dump_facts`, when made already."""
        if not self.enabled or self.write_error:
            return
        self._pending[key] = key.encode() + b"\n" + (stored if stored is not None else dump_facts(facts))

    def flush(self) -> None:
        """Write what `put` kept, in one transaction; the first failure sets ``write_error``."""
        entries, self._pending = self._pending, {}
        if not entries or self.write_error:
            return
        import sqlite3

        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only or full cache directory only costs speed
            self.write_error = _write_error(self.root, exc)
            return
        if not self.path.exists():
            _remove_json_entries(self.root)
        for attempt in range(2):
            try:
                self._write(entries.items())
                return
            except sqlite3.Error as exc:
                self._close()  # rolls back what the failed transaction began
                if not (_is_damage(exc) and attempt == 0):
                    self.write_error = f"{self.root} ({exc})"  # locked past the timeout, read-only, full
                    return
            try:  # not a database, or a damaged one: start a new one
                for name in (self.path, self.path.with_name(FACTS_DATABASE + "-journal")):
                    name.unlink(missing_ok=True)  # a journal left for the damaged file must not be replayed
            except OSError as exc:
                self.write_error = _write_error(self.root, exc)
                return

    def close(self) -> None:
        """`flush`, then close the database (a later `get` opens it again)."""
        self.flush()
        self._close()

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db = None
        self._opened = self._damaged = False

    def _connect(self) -> sqlite3.Connection:
        import sqlite3

        # isolation_level=None: no implicit transactions, a read holds its lock only while it runs.
        db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous = OFF")
        except BaseException:
            db.close()
            raise
        return db

    def _read(self, key: str) -> object:
        """The stored entry of ``key`` (bytes, unless the row is damaged); None when there is none."""
        import sqlite3

        if not self._opened:
            self._opened = True
            if not self.path.exists():  # nothing stored yet: no file is created by a read
                return None
            try:
                self._db = self._connect()
            except sqlite3.Error as exc:  # a file that is not a database fails at the first statement
                self._damaged = _is_damage(exc)
                return None
        if self._db is None or self._damaged:
            return None
        try:
            rows = self._db.execute("SELECT entry FROM facts WHERE key = ?", (key,)).fetchall()
        except sqlite3.Error as exc:  # not a database, a lock held past the timeout, no table yet
            self._damaged = _is_damage(exc)
            return None
        return rows[0][0] if rows else None

    def _write(self, entries: Iterable[tuple[str, bytes]]) -> None:
        if self._db is None or self._damaged:
            self._close()
            self._db = self._connect()
            self._opened = True
        # IMMEDIATE: take the write lock first (waiting for another writer up to the timeout)
        # rather than fail when upgrading a read lock.
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute(_SCHEMA)
        self._db.executemany("INSERT OR REPLACE INTO facts (key, entry) VALUES (?, ?)", entries)
        self._db.execute("COMMIT")


# --- the whole-analysis cache ------------------------------------------------------------------

# 7: the graph's edges by columns; 6: per-file facts and the graph stored apart, read when
# first used; 5: ImportSite.branch
_ANALYSIS_FORMAT = 7
_RACY_NS = 2_000_000_000  # a stat this close to the walk's start is checked by digest

Stat = tuple[int, int, int]
"""(size, mtime_ns, inode) of a file or directory."""

FileKey = tuple[str, str, bool]
"""A file as the walk read it: (absolute path, module name, is_package)."""


def shown_path(path: str, project: str) -> str:
    """``path`` (a `FileKey`'s) as a diagnostic names it: relative to ``project`` when inside
    it, else whole."""
    return path[len(project) + 1 :] if path.startswith(project + "/") else path


SOURCE_LIMIT: Final = 64 << 20
"""Bytes past which a source file the analysis reads is refused (`read_user_file`'s limit)."""


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
        return sha256_bytes(read_user_file(path, limit=SOURCE_LIMIT))  # never blocks on a FIFO
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A source file the walk read: its stat when read, the digest of its bytes, its facts.

    ``stored``: the facts as the entry holds them (a pickle), when they came from the
    previous entry unchanged or from a parser worker (`dump_facts`): written as they are.
    """

    stat: Stat
    digest: str
    facts: SourceFacts
    stored: bytes | None = None


# One stored file: (stat, digest, pickled facts). Plain tuples: loading thousands of them
# costs no Python code, and the facts are unpickled only for the files a re-walk reads.
_StoredFile = tuple[Stat, str, bytes]


class AnalysisEntry:
    """One recorded analysis and what it depended on.

    ``dirs``: every directory the module finder listed (and the few paths probed directly),
    path -> (stat, listing digest), both None when absent. ``files``: every file read, by
    `FileKey`. The analysis (opaque here: api.py stores an `Analysis`) and each file's facts
    stay pickled until asked for (`analysis`, `facts_of`): a warm run reads neither the
    facts nor the import graph's edges.
    """

    __slots__ = ("_analysis", "_files", "dirs", "key", "racy_after")

    def __init__(
        self,
        *,
        key: str,
        racy_after: int,
        dirs: Mapping[str, tuple[Stat | None, str | None]],
        files: Mapping[FileKey, _StoredFile],
        analysis: bytes,
    ) -> None:
        self.key = key
        self.racy_after = racy_after  # ns: stats at or after this are verified by digest
        self.dirs = dirs
        self._files = files
        self._analysis = analysis

    @classmethod
    def record(
        cls,
        *,
        key: str,
        racy_after: int,
        dirs: Mapping[str, tuple[Stat | None, str | None]],
        files: Mapping[FileKey, FileRecord],
        analysis: Any,
    ) -> AnalysisEntry:
        """A new entry for ``analysis``; facts that came from the previous entry are kept as stored."""
        stored = {k: (r.stat, r.digest, r.stored if r.stored is not None else _dumps(r.facts)) for k, r in files.items()}
        return cls(key=key, racy_after=racy_after, dirs=dirs, files=stored, analysis=_dumps(analysis))

    @property
    def file_count(self) -> int:
        return len(self._files)

    def analysis(self) -> Any:
        """The recorded analysis; its import graph is read when first used."""
        return _loads(self._analysis)

    def facts_of(self, key: FileKey) -> SourceFacts | None:
        """The recorded facts of ``key``; None when there are none or they cannot be read."""
        stored = self._files.get(key)
        return None if stored is None else load_facts(stored[2])

    def _trusted(self, recorded: Stat | None, now: Stat | None) -> bool:
        return recorded == now and (now is None or now[1] < self.racy_after)

    def revalidate(self, now_ns: int) -> tuple[AnalysisEntry | None, tuple[FileKey, ...]]:
        """What changed since the entry was recorded, judged by stat, then by digest.

        ``(None, ())`` when a directory listing changed or a recorded file is gone: the
        walk must run again. Else ``(entry, edited)``: ``edited`` are the files whose
        bytes changed (their facts may not have), ``entry`` is this entry, or a copy with
        fresh stats for what had to be vouched for by its digest (touched, or too young
        to trust), so that the next run trusts it by stat alone.
        """
        fresh_dirs: dict[str, tuple[Stat | None, str | None]] = {}
        for path, (stat, digest) in self.dirs.items():
            now = stat_of(path)
            if not self._trusted(stat, now):
                if dir_digest(path) != digest:
                    return None, ()
                fresh_dirs[path] = (now, digest)
        fresh_stats: dict[str, Stat] = {}
        edited_paths: set[str] = set()
        checked: set[str] = set()
        for (path, _, _), (stat, digest, _) in self._files.items():
            if path in checked:
                continue
            checked.add(path)
            now = stat_of(path)
            if not self._trusted(stat, now):
                if now is None:
                    return None, ()
                if _file_digest(path) == digest:
                    fresh_stats[path] = now
                else:
                    edited_paths.add(path)
        edited = tuple(k for k in self._files if k[0] in edited_paths)
        if not fresh_dirs and not fresh_stats:
            return self, edited
        return (
            AnalysisEntry(
                key=self.key,
                racy_after=racy_after(now_ns),
                dirs={**self.dirs, **fresh_dirs},
                files={
                    k: (fresh_stats[k[0]], digest, facts) if k[0] in fresh_stats else (stat, digest, facts)
                    for k, (stat, digest, facts) in self._files.items()
                },
                analysis=self._analysis,
            ),
            edited,
        )

    def with_files(self, records: Mapping[FileKey, FileRecord], now_ns: int) -> AnalysisEntry:
        """This entry with ``records`` in place of its files of the same keys (files edited
        without changing their facts: the analysis stands)."""
        files = dict(self._files)
        for k, r in records.items():
            files[k] = (r.stat, r.digest, r.stored if r.stored is not None else _dumps(r.facts))
        return AnalysisEntry(key=self.key, racy_after=racy_after(now_ns), dirs=self.dirs, files=files, analysis=self._analysis)

    def reusable(self, path: str, module: str, is_package: bool, stat: Stat | None) -> FileRecord | None:
        """The recorded facts of ``path`` when its stat vouches for its bytes."""
        stored = self._files.get((path, module, is_package))
        if stored is not None and stat is not None and self._trusted(stored[0], stat):
            facts = load_facts(stored[2])
            if facts is not None:
                return FileRecord(stored[0], stored[1], facts, stored[2])
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
            # Only entries this user's envcapture wrote, in this user's cache directory; the
            # envelope holds builtins only (the analysis and facts are pickles inside it).
            envelope = pickle.loads(self._path(key).read_bytes())  # noqa: S301
            fmt, stored_key, racy, dirs, files, analysis = envelope
            if fmt != _ANALYSIS_FORMAT or stored_key != key:
                return None
            if not (isinstance(dirs, dict) and isinstance(files, dict) and isinstance(analysis, bytes)):
                return None
            return AnalysisEntry(key=key, racy_after=int(racy), dirs=dirs, files=files, analysis=analysis)
        except Exception:  # noqa: BLE001 - any damage (truncation, an old layout) is a miss
            return None

    def put(self, entry: AnalysisEntry) -> None:
        if not self.enabled or self.write_error:
            return
        envelope = (_ANALYSIS_FORMAT, entry.key, entry.racy_after, dict(entry.dirs), dict(entry._files), entry._analysis)
        try:
            atomic_write_bytes(self._path(entry.key), pickle.dumps(envelope, protocol=pickle.HIGHEST_PROTOCOL), durable=False)
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
    return _builder_of(cls)(values)


def _builder_of(cls: type) -> Callable[[tuple[Any, ...]], Any]:
    builder = _BUILDERS.get(cls)
    if builder is None:
        builder = _BUILDERS[cls] = _builder(cls)
    return builder


_BUILDERS: dict[type, Callable[[tuple[Any, ...]], Any]] = {}


def _builder(cls: type) -> Callable[[tuple[Any, ...]], Any]:
    """A function making a ``cls`` object from its fields' values: one statement a field,
    as `dataclasses` writes ``__init__`` (a loop over the setters took half as long again;
    the analysing process rebuilds every fact a worker sends). Unpacking refuses a tuple of
    another length: a pickle of another layout is damage, a miss."""
    setters = _setters(cls)
    count = len(setters)
    values = [f"v{i}" for i in range(count)]
    lines = [
        "def build(values):",
        f"    {', '.join(values)}{',' if count == 1 else ''} = values" if count else "    () = values",
        "    obj = new(cls)",
        *(f"    set{i}(obj, v{i})" for i in range(count)),
        "    return obj",
    ]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    namespace.update((f"set{i}", setter) for i, setter in enumerate(setters))
    exec("\n".join(lines), namespace)  # noqa: S102 - text made here of indices, no input
    builder: Callable[[tuple[Any, ...]], Any] = namespace["build"]
    return builder


class _Slotted:
    __slots__ = ("slot",)


_MEMBER_DESCRIPTOR: Final = type(_Slotted.__dict__["slot"])  # types.MemberDescriptorType, without importing types
_SETTERS: dict[type, tuple[Callable[[Any, Any], None], ...]] = {}
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """What sets each field of ``cls`` past its frozen ``__setattr__``: the slot's own
    descriptor (a C call), else ``object.__setattr__``."""
    setters = _SETTERS.get(cls)
    if setters is None:
        found: list[Callable[[Any, Any], None]] = []
        for name in _field_names(cls):
            slot = next((klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__), None)
            if isinstance(slot, _MEMBER_DESCRIPTOR):
                found.append(slot.__set__)
            else:
                found.append(lambda obj, value, name=name: object.__setattr__(obj, name, value))  # type: ignore[misc]
        setters = _SETTERS[cls] = tuple(found)
    return setters


def _getter(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """The values of the fields of a ``cls`` object, as a tuple (one C call)."""
    getter = _GETTERS.get(cls)
    if getter is None:
        names = _field_names(cls)
        if len(names) > 1:
            getter = operator.attrgetter(*names)
        else:
            getter = lambda obj, names=names: tuple(getattr(obj, name) for name in names)  # noqa: E731
        _GETTERS[cls] = getter
    return getter


class _StoredGraph(ImportGraph):
    """An `ImportGraph` of a recorded analysis, unpickled when first used.

    Its edges are most of a recorded analysis (an import site and its resolution per
    import), and only ``--explain`` and ``build`` read them: a warm ``analyze`` need not
    rebuild thousands of objects it never looks at. Until then the fields are unset and
    `__getattr__` fills them in; it equals, hashes, prints and pickles as the graph it holds.
    """

    __slots__ = ("_blob",)

    def __getattr__(self, name: str) -> Any:
        # Called only for an attribute that is not set: a field, before the first use.
        blob = object.__getattribute__(self, "_blob")
        if blob is None or name not in _field_names(ImportGraph):
            raise AttributeError(name)
        graph = _loads(blob)
        for field in _field_names(ImportGraph):
            object.__setattr__(self, field, getattr(graph, field))
        object.__setattr__(self, "_blob", None)
        return getattr(self, name)

    def loaded(self) -> ImportGraph:
        """The graph as a plain `ImportGraph`."""
        return _rebuild(ImportGraph, tuple(getattr(self, name) for name in _field_names(ImportGraph)))  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImportGraph):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _field_names(ImportGraph))

    def __hash__(self) -> int:
        return hash(self.loaded())

    def __repr__(self) -> str:
        return repr(self.loaded())


def _stored_graph(blob: bytes) -> _StoredGraph:
    graph = object.__new__(_StoredGraph)
    object.__setattr__(graph, "_blob", blob)
    return graph


def _reducer_of(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """How a ``cls`` object pickles: `_rebuild` of its fields' values, its getter bound once
    (an analysis entry pickles tens of thousands of objects, each through this)."""
    getter = _getter(cls)

    def reduce(obj: Any) -> tuple[Any, ...]:
        return _rebuild, (cls, getter(obj))

    return reduce


def _reduce_graph_eagerly(graph: ImportGraph) -> tuple[Any, ...]:
    """The graph with its edges by columns (`_edge_columns`): a recorded analysis is mostly
    edges, and one reducer call each for an edge, its site and its resolution was most of
    the time its entry took to write (80 ms of a 3,000-file project's, 37 ms by columns)."""
    if type(graph) is _StoredGraph:
        graph = graph.loaded()
    values = _getter(ImportGraph)(graph)
    return _rebuild_graph, (values[:_EDGES], _edge_columns(graph.edges), values[_EDGES + 1 :])


_EDGES: Final = _field_names(ImportGraph).index("edges")


def _edge_columns(edges: tuple[Edge, ...]) -> tuple[Any, ...]:
    """The edges as columns: importers, actives, and the field values of each distinct site and
    resolution (by identity, as pickle's memo keeps them) with each edge's index into them."""
    site_values, site_refs = _distinct_values([edge.site for edge in edges], ImportSite)
    resolution_values, resolution_refs = _distinct_values([edge.resolution for edge in edges], Resolution)
    importers = [edge.importer for edge in edges]
    actives = [edge.active for edge in edges]
    return importers, actives, site_values, site_refs, resolution_values, resolution_refs


def _distinct_values(objects: list[Any], cls: type) -> tuple[list[tuple[Any, ...]], list[int]]:
    getter = _getter(cls)
    index: dict[int, int] = {}
    values: list[tuple[Any, ...]] = []
    refs: list[int] = []
    for obj in objects:
        at = index.get(id(obj))
        if at is None:
            at = index[id(obj)] = len(values)
            values.append(getter(obj))
        refs.append(at)
    return values, refs


def _rebuild_graph(head: tuple[Any, ...], columns: tuple[Any, ...], tail: tuple[Any, ...]) -> ImportGraph:
    importers, actives, site_values, site_refs, resolution_values, resolution_refs = columns
    sites = list(map(_builder_of(ImportSite), site_values))
    resolutions = list(map(_builder_of(Resolution), resolution_values))
    build_edge = _builder_of(Edge)
    edges = tuple(
        build_edge((importer, sites[site], resolutions[resolution], active))
        for importer, active, site, resolution in zip(importers, actives, site_refs, resolution_refs, strict=True)
    )
    graph: ImportGraph = _rebuild(ImportGraph, (*head, edges, *tail))
    return graph


def _reduce_graph_lazily(graph: ImportGraph) -> tuple[Any, ...]:
    blob = getattr(graph, "_blob", None) if type(graph) is _StoredGraph else None
    if blob is None:  # a graph built by this run, or a stored one already read
        blob = _dumps(graph, lazy_graphs=False)
    return _stored_graph, (blob,)


class _Reducers(dict[type, Any]):
    """The pickler's dispatch table: a reducer for each slotted dataclass, found on first use.

    A dispatch table is looked up by the C pickler for objects of other than the builtin
    types only (a ``reducer_override`` would be called from C for every tuple and list too).
    """

    def __init__(self, *, lazy_graphs: bool) -> None:
        graph = _reduce_graph_lazily if lazy_graphs else _reduce_graph_eagerly
        super().__init__({ImportGraph: graph, _StoredGraph: graph})

    def __missing__(self, cls: type) -> Any:
        if dataclasses.is_dataclass(cls) and hasattr(cls, "__slots__"):
            reducer = self[cls] = _reducer_of(cls)
            return reducer
        raise KeyError(cls)  # pickled as usual


_LAZY_REDUCERS = _Reducers(lazy_graphs=True)
_EAGER_REDUCERS = _Reducers(lazy_graphs=False)


def _dumps(obj: Any, *, lazy_graphs: bool = True) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _LAZY_REDUCERS if lazy_graphs else _EAGER_REDUCERS
    pickler.dump(obj)
    return buffer.getvalue()


def dump_facts(facts: SourceFacts) -> bytes:
    """``facts`` as the facts cache and the analysis entries store them (a pickle): a parser
    worker makes it once, and neither store encodes the facts again."""
    return _dumps(facts)


def load_facts(blob: bytes) -> SourceFacts | None:
    """What `dump_facts` made; None when ``blob`` is damaged or of another layout (a miss:
    the file is read again)."""
    try:
        facts = _loads(blob)
    except Exception:  # noqa: BLE001 - any damage is a miss, never an error
        return None
    return facts if isinstance(facts, SourceFacts) else None


def _loads(blob: bytes) -> Any:
    # Only pickles this module wrote, read back from this user's cache directory.
    return pickle.loads(blob)  # noqa: S301


def racy_after(walk_started_ns: int) -> int:
    """The ``racy_after`` of an entry whose walk started at ``walk_started_ns``."""
    return walk_started_ns - _RACY_NS
