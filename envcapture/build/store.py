"""The content-addressed store of wheels and bundles under the user's cache dir. EDGE: files.

Layout (``<cache>/store/``)::

    objects/<h[:2]>/<h>          the bytes of one file, named by its SHA-256 ``h``
    index/<k[:2]>/<k>.json       a lookup key (name, version, target tags, origin) -> ``h``
    tmp/                         files being written; never read

Objects are written to ``tmp/`` while hashing (``tmp/envcapture-put-<pid>-*.tmp``), fsynced,
then renamed into ``objects/`` (atomic on POSIX, and on one file system) and the directory
fsynced; index entries are written the same way after their object. An interrupted write
leaves at most a temporary file in ``tmp/`` named after its dead writer, which the next
run removes (`Store.sweep`, with the download and build directories of killed builds,
where pip's own partial downloads go too), and a reader sees a whole object or none.
Every object is hashed again when it is used: a damaged or truncated object is deleted
with the index entries that name it and counted in ``corrupted``, and the caller fetches
or builds it again. A file name alone is never a key: two wheels with one name but other
bytes are two objects. Using an object touches its mtime, which ``prune`` reads as the
last use.

A store whose directory cannot be written (a read-only or full disk, no permission) is
replaced for one build by a temporary one (`usable_store`), with a one-line note: the build
goes on, as pip goes on without its cache when the cache directory is not writable.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envcapture._fs import atomic_write_bytes, atomic_writer, document_header, key_id, remove_debris, sha256_file, temp_prefix
from envcapture.analysis.cache import default_cache_dir

__all__ = ["PruneResult", "Store", "StoreEntry", "StoreInfo", "StoreKind", "key_id", "usable_store"]


def __dir__() -> list[str]:
    return __all__


INDEX_SCHEMA = "envcapture/store-index"
INDEX_SCHEMA_VERSION = "1.1"  # 1.1: meta
# A temporary file older than this was left by a killed process (a live one renames in seconds).
_STALE_TMP_SECONDS = 6 * 3600
# What a killed run leaves in tmp/: staged objects, download and build directories.
_DEBRIS_KINDS = ("put", "dl", "build")


class StoreKind(str, enum.Enum):
    DOWNLOADED = "wheel-downloaded"  # fetched from an index or find-links
    BUILT = "wheel-built"  # built here from a VCS commit, a directory or an sdist
    SDIST = "sdist-downloaded"  # an index's sdist that a wheel was built from (its hash is locked)
    BUNDLE = "bundle"  # a local-code archive


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreEntry:
    """One object of the store as a lookup returns it: verified, ready to copy. ``meta``:
    what the caller recorded with the key (where a wheel was found), sorted pairs."""

    sha256: str
    filename: str
    kind: StoreKind
    size: int
    path: Path
    meta: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreInfo:
    """What ``envcapture cache info`` prints: objects and bytes, in total and per kind."""

    root: Path
    objects: int
    bytes: int
    index_entries: int
    per_kind: tuple[tuple[str, int, int], ...]  # (kind, objects, bytes), sorted by kind
    temporary: int  # files left in tmp/


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneResult:
    objects: int
    bytes: int
    index_entries: int


class Store:
    """The store at ``root`` (default: ``default_cache_dir() / "store"``).

    Thread-safe: counters are guarded; files are only ever created by rename.
    ``hits``/``misses`` count `lookup` results, ``corrupted`` the damaged objects found.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir() / "store"
        self.hits = 0
        self.misses = 0
        self.corrupted = 0
        self._lock = threading.Lock()
        self._swept = False

    # --- paths ---------------------------------------------------------------------------

    @property
    def objects_dir(self) -> Path:
        return self.root / "objects"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def object_path(self, sha256: str) -> Path:
        return self.objects_dir / sha256[:2] / sha256

    def _index_path(self, kid: str) -> Path:
        return self.index_dir / kid[:2] / f"{kid}.json"

    def _count(self, attr: str) -> None:
        with self._lock:
            setattr(self, attr, getattr(self, attr) + 1)

    # --- writing ---------------------------------------------------------------------------

    def write_error(self) -> OSError | None:
        """Why no file can be created in the store (``None``: one can): tried with a file in ``tmp/``."""
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=temp_prefix("probe"), dir=self.tmp_dir)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return exc
        return None

    def put_file(self, source: Path, *, kind: StoreKind, filename: str | None = None) -> StoreEntry:
        """Copy ``source`` into the store (hashing it on the way); return its entry.

        The copy goes to ``tmp/`` first and is renamed to ``objects/<h[:2]>/<h>``; an
        object already present with the right bytes is kept as is.
        """
        self.sweep()
        digest = hashlib.sha256()
        size = 0
        with atomic_writer(self.tmp_dir / "put", prefix=temp_prefix("put")) as staged, open(source, "rb") as src:
            while block := src.read(1 << 20):
                digest.update(block)
                staged.file.write(block)
                size += len(block)
            sha = digest.hexdigest()
            final = self.object_path(sha)
            if self._valid(final, sha, size):
                staged.dest = None  # the object is there already, with the right bytes
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                staged.dest = final
        return StoreEntry(sha256=sha, filename=filename or Path(source).name, kind=kind, size=size, path=final)

    def sweep(self) -> int:
        """Once per store object: remove what killed runs left in ``tmp/`` (files and
        directories named after a process that is gone); return how many."""
        with self._lock:
            if self._swept:
                return 0
            self._swept = True
        return sum(remove_debris(self.tmp_dir, kind) for kind in _DEBRIS_KINDS)

    def record(self, key: Mapping[str, Any], entry: StoreEntry, *, meta: Mapping[str, str] | None = None) -> None:
        """Remember that ``key`` resolves to ``entry`` (written atomically, after the object),
        with ``meta`` (no secrets: it is written as is)."""
        kid = key_id(key)
        doc: dict[str, Any] = {
            **document_header(INDEX_SCHEMA, INDEX_SCHEMA_VERSION),
            "key": dict(key),
            "sha256": entry.sha256,
            "filename": entry.filename,
            "kind": entry.kind.value,
            "size": entry.size,
        }
        if meta:
            doc["meta"] = dict(sorted(meta.items()))
        data = (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode("utf-8")
        try:
            atomic_write_bytes(self._index_path(kid), data)
        except OSError:
            pass  # a read-only or full cache costs speed, not correctness

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def _valid(path: Path, sha: str, size: int | None = None) -> bool:
        try:
            if size is not None and path.stat().st_size != size:
                return False
            return sha256_file(path) == sha
        except OSError:
            return False

    def lookup(self, key: Mapping[str, Any]) -> StoreEntry | None:
        """The verified entry ``key`` resolves to, or ``None`` (missing or damaged: the
        damaged object and its index entry are removed)."""
        kid = key_id(key)
        index = self._index_path(kid)
        try:
            doc = json.loads(index.read_text("utf-8"))
            sha = str(doc["sha256"])
            filename = str(doc["filename"])
            kind = StoreKind(doc["kind"])
            size = int(doc["size"])
            meta = tuple(sorted((str(k), str(v)) for k, v in (doc.get("meta") or {}).items()))
            if doc.get("key") != json.loads(json.dumps(dict(key))):
                raise ValueError("key mismatch")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self._count("misses")
            return None
        path = self.object_path(sha)
        if not path.exists():
            self._drop(index)
            self._count("misses")
            return None
        if not self._valid(path, sha, size):
            self._count("corrupted")
            self._drop(path)
            self._drop(index)
            self._count("misses")
            return None
        self._touch(path)
        self._count("hits")
        return StoreEntry(sha256=sha, filename=filename, kind=kind, size=size, path=path, meta=meta)

    def get(self, sha256: str, *, filename: str = "", kind: StoreKind = StoreKind.DOWNLOADED) -> StoreEntry | None:
        """The object with this hash, verified, or ``None``."""
        path = self.object_path(sha256)
        if not path.exists():
            return None
        if not self._valid(path, sha256):
            self._count("corrupted")
            self._drop(path)
            return None
        self._touch(path)
        return StoreEntry(sha256=sha256, filename=filename or sha256, kind=kind, size=path.stat().st_size, path=path)

    def export(self, sha256: str, dest: Path) -> bool:
        """Copy the object ``sha256`` to the file ``dest``, hashing on the way; ``False``
        (and no ``dest``) when the object is missing or its bytes do not match, in which
        case a damaged object is removed."""
        path = self.object_path(sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as src, open(dest, "wb") as out:
                while block := src.read(1 << 20):
                    digest.update(block)
                    out.write(block)
        except FileNotFoundError:
            self._drop(dest)
            return False
        if digest.hexdigest() != sha256:
            self._count("corrupted")
            self._drop(path)
            self._drop(dest)
            return False
        os.chmod(dest, 0o644)
        self._touch(path)
        return True

    @staticmethod
    def _touch(path: Path) -> None:
        try:
            os.utime(path)
        except OSError:
            pass

    @staticmethod
    def _drop(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    # --- maintenance -------------------------------------------------------------------------

    def _index_docs(self) -> list[tuple[Path, dict[str, Any]]]:
        docs: list[tuple[Path, dict[str, Any]]] = []
        if not self.index_dir.is_dir():
            return docs
        for path in sorted(self.index_dir.glob("*/*.json")):
            try:
                doc = json.loads(path.read_text("utf-8"))
                if isinstance(doc, dict):
                    docs.append((path, doc))
            except (OSError, ValueError):
                continue
        return docs

    def _objects(self) -> list[Path]:
        if not self.objects_dir.is_dir():
            return []
        return sorted(p for p in self.objects_dir.glob("*/*") if p.is_file())

    def info(self) -> StoreInfo:
        """Count objects and bytes, per kind (an object's kind is its index entries')."""
        kinds: dict[str, str] = {}
        docs = self._index_docs()
        for _, doc in docs:
            if isinstance(doc.get("sha256"), str):
                kinds.setdefault(doc["sha256"], str(doc.get("kind", "unknown")))
        per: dict[str, list[int]] = {}
        total = 0
        objects = self._objects()
        for path in objects:
            size = path.stat().st_size
            total += size
            kind = kinds.get(path.name, "unindexed")
            slot = per.setdefault(kind, [0, 0])
            slot[0] += 1
            slot[1] += size
        temporary = len(list(self.tmp_dir.iterdir())) if self.tmp_dir.is_dir() else 0
        return StoreInfo(
            root=self.root,
            objects=len(objects),
            bytes=total,
            index_entries=len(docs),
            per_kind=tuple((k, v[0], v[1]) for k, v in sorted(per.items())),
            temporary=temporary,
        )

    def prune(self, *, older_than: float | None = None, everything: bool = False) -> PruneResult:
        """Delete objects not used for ``older_than`` seconds (every object with
        ``everything``), the index entries that name a missing object, and stale temporary
        files. Returns what was removed."""
        now = time.time()
        removed = removed_bytes = removed_index = 0
        for path in self._objects():
            try:
                stat = path.stat()
            except OSError:
                continue
            if everything or (older_than is not None and now - stat.st_mtime > older_than):
                self._drop(path)
                removed += 1
                removed_bytes += stat.st_size
        for path, doc in self._index_docs():
            sha = doc.get("sha256")
            if everything or not isinstance(sha, str) or not self.object_path(sha).exists():
                self._drop(path)
                removed_index += 1
        if self.tmp_dir.is_dir():
            for path in self.tmp_dir.iterdir():
                try:
                    if everything or now - path.stat().st_mtime > _STALE_TMP_SECONDS:
                        if path.is_dir():
                            shutil.rmtree(path, ignore_errors=True)
                        else:
                            path.unlink()
                except OSError:
                    continue
        for directory in (self.objects_dir, self.index_dir):
            if directory.is_dir():
                for sub in directory.iterdir():
                    try:
                        sub.rmdir()  # only when empty
                    except OSError:
                        pass
        return PruneResult(objects=removed, bytes=removed_bytes, index_entries=removed_index)


@contextmanager
def usable_store(store: Store) -> Iterator[tuple[Store, str]]:
    """(``store``, "") when files can be written in it; else (a temporary store, the note
    that names ``store``'s directory and why), the temporary store removed on exit (and the
    ones of killed builds, by their process id)."""
    problem = store.write_error()
    if problem is None:
        yield store, ""
        return
    remove_debris(tempfile.gettempdir(), "store")
    root = Path(tempfile.mkdtemp(prefix=temp_prefix("store")))
    note = (
        f"cannot write the wheel store {store.root} ({problem.strerror or problem}): building with a temporary "
        f"store in {root}, removed afterwards (set ENVCAPTURE_CACHE_DIR to a writable directory to keep the wheels)"
    )
    try:
        yield Store(root), note
    finally:
        shutil.rmtree(root, ignore_errors=True)
