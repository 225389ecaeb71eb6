"""File trees -> deterministic OCI layer blobs (tar + gzip) with their digest and diff_id. EDGE: files.

A layer is written from a list of `TreeEntry` (directories, regular files, symlinks),
never from a walk of the disk as it happens to be: the same entries give the same bytes on
any machine with the same zlib. The rules (see ``docs/image.md``):

- entries sorted by their path components, every parent directory present;
- mtime ``SOURCE_DATE_EPOCH`` (or 0) on every entry, uid/gid 0, no user or group names;
- modes normalized: directories 0755, files 0755 when any execute bit is set else 0644,
  symlinks 0777; no setuid/setgid/sticky bits, no device files, no hard links;
- PAX format (a ``path``/``linkpath`` record only for names longer than ustar allows);
- gzip level 6 with no file name and a zero timestamp in its header.

``digest`` is the sha256 of the compressed blob (what the manifest names), ``diff_id``
the sha256 of the uncompressed tar (what the image config's ``rootfs`` lists). Both are
computed while writing, in one pass. A base image given as a root filesystem tarball is
taken as it is (`import_layer`): its owners and modes are the base's business.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from envcapture._fs import atomic_writer
from envcapture.errors import BuildError, InputError

__all__ = [
    "GZIP_LEVEL",
    "LAYER_MEDIA_TYPE",
    "Layer",
    "TreeEntry",
    "dir_entry",
    "file_entry",
    "import_layer",
    "normalize_mode",
    "scan_tree",
    "source_date_epoch",
    "symlink_entry",
    "with_parents",
    "write_layer",
    "write_tar",
]


def __dir__() -> list[str]:
    return __all__


LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
GZIP_LEVEL = 6
"""zlib's default: level 9 saves ~1% on wheels and costs twice the time on a 2 GB torch layer."""
_CHUNK = 1 << 20

EntryKind = Literal["dir", "file", "symlink"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeEntry:
    """One entry of a layer: a relative POSIX ``path`` (no leading ``/``), its kind and mode;
    a file's bytes come from ``source`` (a file on disk) or ``data``."""

    path: str
    kind: EntryKind
    mode: int
    size: int = 0
    source: Path | None = None
    data: bytes | None = None
    linkname: str = ""

    @property
    def sort_key(self) -> tuple[str, ...]:
        return PurePosixPath(self.path).parts


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    """A written layer blob: ``digest`` and ``diff_id`` are ``sha256:<hex>``; ``name`` says
    what it holds (``venv``, ``dist:torch``, ``distributions``, ``local-code``, ``base``)."""

    name: str
    digest: str
    diff_id: str
    size: int
    media_type: str = LAYER_MEDIA_TYPE
    files: int = 0
    unpacked_size: int = 0

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


def source_date_epoch(environ: Mapping[str, str] | None = None) -> int:
    """``$SOURCE_DATE_EPOCH`` (reproducible-builds.org) as an int, else 0.

    :raises InputError: it is set but not a non-negative integer.
    """
    raw = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise InputError(f"SOURCE_DATE_EPOCH {raw!r}: expected a non-negative integer (seconds since 1970)")
    return int(raw)


def normalize_mode(mode: int, kind: EntryKind) -> int:
    """0755 for directories and executables, 0644 for other files, 0777 for symlinks."""
    if kind == "dir":
        return 0o755
    if kind == "symlink":
        return 0o777
    return 0o755 if mode & 0o111 else 0o644


def _check_path(path: str) -> str:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or path != pure.as_posix():
        raise BuildError(f"layer entry {path!r}: not a normalized relative path")
    return path


def dir_entry(path: str) -> TreeEntry:
    return TreeEntry(path=_check_path(path), kind="dir", mode=0o755)


def file_entry(path: str, *, data: bytes | None = None, source: Path | None = None, executable: bool = False) -> TreeEntry:
    """A regular file from ``data`` or from the file ``source`` (its size read now)."""
    if (data is None) == (source is None):
        raise ValueError("give exactly one of data and source")
    size = len(data) if data is not None else Path(source).stat().st_size  # type: ignore[arg-type,unused-ignore]
    return TreeEntry(
        path=_check_path(path), kind="file", mode=0o755 if executable else 0o644, size=size, data=data, source=source
    )


def symlink_entry(path: str, target: str) -> TreeEntry:
    return TreeEntry(path=_check_path(path), kind="symlink", mode=0o777, linkname=target)


def with_parents(entries: Iterable[TreeEntry]) -> tuple[TreeEntry, ...]:
    """``entries`` plus every missing parent directory, sorted by path components; a path
    given twice keeps its last entry (a later distribution overwrites, as pip does)."""
    by_path: dict[str, TreeEntry] = {}
    for entry in entries:
        by_path[entry.path] = entry
    for path in list(by_path):
        for parent in PurePosixPath(path).parents:
            key = parent.as_posix()
            if key == ".":
                break
            existing = by_path.get(key)
            if existing is None:
                by_path[key] = dir_entry(key)
            elif existing.kind != "dir":
                raise BuildError(f"layer entry {path!r}: its parent {key!r} is a {existing.kind}, not a directory")
    return tuple(sorted(by_path.values(), key=lambda e: e.sort_key))


def scan_tree(root: Path, *, under: str = "") -> tuple[TreeEntry, ...]:
    """The entries of the staging directory ``root`` (paths relative to it, as in the
    image), restricted to ``under`` when given; modes normalized.

    :raises BuildError: a device, socket or fifo in the tree.
    """
    start = root / under if under else root
    found: list[TreeEntry] = []
    if not os.path.lexists(start):
        return ()
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames.sort()
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        if rel_dir != ".":
            found.append(dir_entry(rel_dir))
        for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
            path = base / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                found.append(symlink_entry(rel, os.readlink(path)))
            elif stat.S_ISREG(st.st_mode):
                found.append(
                    TreeEntry(path=rel, kind="file", mode=normalize_mode(st.st_mode, "file"), size=st.st_size, source=path)
                )
            else:
                raise BuildError(f"{path}: not a regular file, directory or symlink; cannot put it in a layer")
    return with_parents(found)


class _HashingSink:
    """A write-only stream that hashes what passes through and counts it."""

    def __init__(self, target: BinaryIO | None) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        if self.target is not None:
            self.target.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()


def _tarinfo(entry: TreeEntry, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = normalize_mode(entry.mode, entry.kind)
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.linkname
    else:
        info.type = tarfile.REGTYPE
        info.size = entry.size
    return info


def _add_entries(tar: tarfile.TarFile, entries: Sequence[TreeEntry], mtime: int) -> tuple[int, int]:
    files = unpacked = 0
    for entry in entries:
        info = _tarinfo(entry, mtime)
        if entry.kind != "file":
            tar.addfile(info)
            continue
        files += 1
        unpacked += entry.size
        if entry.data is not None:
            tar.addfile(info, io.BytesIO(entry.data))
            continue
        assert entry.source is not None
        with open(entry.source, "rb") as handle:
            if os.fstat(handle.fileno()).st_size != entry.size:
                raise BuildError(f"{entry.source}: changed while the layer was written")
            tar.addfile(info, handle)
    return files, unpacked


def _blob_path(blobs: Path, hexdigest: str) -> Path:
    return blobs / hexdigest


def write_layer(entries: Sequence[TreeEntry], blobs: Path, *, name: str, mtime: int = 0) -> Layer:
    """Write ``entries`` (see `with_parents`) as a gzip layer into ``blobs`` (the
    ``blobs/sha256`` directory of an OCI layout), named by its digest.

    :raises BuildError: a source file changed or vanished while being written.
    """
    try:
        with atomic_writer(blobs / "layer", durable=False) as staged:
            compressed = _HashingSink(staged.file)
            with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=GZIP_LEVEL, mtime=0) as gz:  # type: ignore[arg-type,unused-ignore]
                uncompressed = _HashingSink(gz)  # type: ignore[arg-type,unused-ignore]
                with tarfile.open(fileobj=uncompressed, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload,unused-ignore]
                    files, unpacked = _add_entries(tar, entries, mtime)
            digest = compressed.digest.hexdigest()
            staged.dest = _blob_path(blobs, digest)
    except OSError as exc:
        raise BuildError(f"layer {name}: step write: {exc}") from exc
    return Layer(
        name=name,
        digest=f"sha256:{digest}",
        diff_id=f"sha256:{uncompressed.digest.hexdigest()}",
        size=compressed.size,
        files=files,
        unpacked_size=unpacked,
    )


def write_tar(entries: Sequence[TreeEntry], dest: Path, *, mtime: int = 0) -> str:
    """Write ``entries`` as an uncompressed deterministic tar at ``dest`` (atomically);
    return its sha256 hex digest."""
    with atomic_writer(dest, durable=False) as staged:
        sink = _HashingSink(staged.file)
        with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload,unused-ignore]
            _add_entries(tar, entries, mtime)
    return sink.digest.hexdigest()


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def import_layer(path: Path, blobs: Path, *, name: str = "base") -> Layer:
    """A root filesystem tarball as a layer, its entries kept as they are: a gzip file is
    used byte for byte, an uncompressed tar is compressed (deterministically).

    :raises InputError: ``path`` is missing or not a tar archive.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected a root filesystem tarball)")
    try:
        with tarfile.open(path, mode="r:*") as tar:
            first = tar.next()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a tar archive ({exc})") from exc
    if first is None:
        raise InputError(f"{path}: an empty tar archive; a base root filesystem needs files")
    with atomic_writer(blobs / "layer", durable=False) as staged:
        compressed = _HashingSink(staged.file)
        uncompressed = _HashingSink(None)
        if _is_gzip(path):
            with open(path, "rb") as src:
                while block := src.read(_CHUNK):
                    compressed.write(block)
            with gzip.open(path, "rb") as src_gz:
                while block := src_gz.read(_CHUNK):
                    uncompressed.write(block)
        else:
            with (
                open(path, "rb") as src,
                gzip.GzipFile(
                    filename="",
                    mode="wb",
                    fileobj=compressed,
                    compresslevel=GZIP_LEVEL,
                    mtime=0,  # type: ignore[arg-type,unused-ignore]
                ) as gz,
            ):
                while block := src.read(_CHUNK):
                    uncompressed.write(block)
                    gz.write(block)
        digest = compressed.digest.hexdigest()
        staged.dest = _blob_path(blobs, digest)
    return Layer(name=name, digest=f"sha256:{digest}", diff_id=f"sha256:{uncompressed.digest.hexdigest()}", size=compressed.size)
