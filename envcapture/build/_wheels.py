"""Private helpers of the wheelhouse: target tags, wheel inspection and normalization, source trees."""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from email.parser import Parser
from pathlib import Path
from typing import IO

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from envcapture._fs import atomic_writer, sha256_file
from envcapture.model import Target

__all__ = [
    "DEFAULT_SOURCE_DATE_EPOCH",
    "copy_tree",
    "is_pure_wheel",
    "normalize_wheel",
    "tag_key",
    "tags_tried",
    "tree_digest",
    "unpack_sdist",
    "wheel_problem",
]

DEFAULT_SOURCE_DATE_EPOCH = 315532800
"""1980-01-01T00:00:00Z, the earliest time a zip entry can carry."""

_COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# Not part of a source tree to build: VCS data, caches, earlier build output, virtualenvs.
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs"}
)
_SKIP_TOP_DIRS = frozenset({"build", "dist"})


# --- target tags ------------------------------------------------------------------------------


def tags_tried(target: Target) -> str:
    major, minor = target.python_minor
    plats = target.platform_tags()
    return (
        f"cp{major}{minor}-cp{major}{minor}, cp3*-abi3, cp{major}{minor}-none, py3-none on "
        f"{plats[0]} .. {plats[len(plats) - 4]}, {', '.join(plats[-3:])}; py3-none-any"
    )


def wheel_problem(
    filename: str, name: str, version: str, installed_version: str, target: Target, *, built_here: bool
) -> str | None:
    """Why the wheel ``filename`` is not the one of ``name==version`` for ``target``, or ``None``."""
    try:
        wheel_name, wheel_version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        return str(exc)
    if str(canonicalize_name(wheel_name)) != str(canonicalize_name(name)):
        return f"got {filename}, a wheel of {wheel_name}"
    try:
        same = wheel_version == Version(version)
    except InvalidVersion:
        same = str(wheel_version) == version
    if not same:
        return (
            f"the source now gives version {wheel_version} but {installed_version or version} is installed "
            "(reinstall it, or revert the version change, then build again)"
        )
    if not tags & set(target.wheel_tags(built_here=built_here)):
        return f"{filename} does not install on the target (tags tried: {tags_tried(target)})"
    return None


def tag_key(target: Target) -> str:
    major, minor = target.python_minor
    return f"cp{major}{minor}-{target.implementation_name}-manylinux_{target.manylinux}_{target.platform_machine}"


# --- wheels ---------------------------------------------------------------------------------


def _wheel_meta(path: Path) -> tuple[dict[str, str], list[str]]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        wheel_file = next((n for n in names if n.count("/") == 1 and n.endswith(".dist-info/WHEEL")), None)
        meta = Parser().parsestr(archive.read(wheel_file).decode("utf-8")) if wheel_file else None
    return ({k: str(v) for k, v in meta.items()} if meta else {}), names


def is_pure_wheel(path: Path) -> bool:
    """A wheel without compiled code: every tag is ``*-none-any``, ``Root-Is-Purelib`` is
    true and no file is a shared library."""
    try:
        _, _, _, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename:
        return False
    if not all(t.abi == "none" and t.platform == "any" for t in tags):
        return False
    meta, names = _wheel_meta(path)
    if meta.get("Root-Is-Purelib", "true").strip().lower() != "true":
        return False
    return not any(n.lower().endswith(_COMPILED_SUFFIXES) or ".so." in n.lower() for n in names)


def _zip_order(names: Sequence[str]) -> list[str]:
    """Sorted, with ``*.dist-info/`` last and its ``RECORD`` the very last (the wheel spec's
    recommendation, which lets installers stream)."""

    def key(name: str) -> tuple[int, str]:
        top = name.split("/", 1)[0]
        if top.endswith(".dist-info") and name.count("/") == 1:
            return (2 if name.endswith("/RECORD") else 1, name)
        return (0, name)

    return sorted(names, key=key)


def normalize_wheel(source: Path, dest: Path, *, epoch: int = DEFAULT_SOURCE_DATE_EPOCH) -> None:
    """Rewrite the wheel ``source`` to ``dest`` byte-reproducibly: entries sorted, every
    timestamp ``epoch`` (UTC, at least 1980), permissions 0644 (0755 when executable), no
    directory entries, extra fields or comments, DEFLATE level 9, RECORD lines sorted."""
    date_time = time.gmtime(max(epoch, DEFAULT_SOURCE_DATE_EPOCH))[:6]
    with (
        atomic_writer(dest) as staged,
        zipfile.ZipFile(source) as zin,
        zipfile.ZipFile(staged.file, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        infos = {i.filename: i for i in zin.infolist() if not i.is_dir()}
        for name in _zip_order(list(infos)):
            info = infos[name]
            data = zin.read(info)
            if name.endswith(".dist-info/RECORD") and name.count("/") == 1:
                lines = [ln for ln in data.decode("utf-8").splitlines() if ln.strip()]
                own = [ln for ln in lines if ln.split(",", 1)[0] == name]
                rest = sorted(ln for ln in lines if ln.split(",", 1)[0] != name)
                data = ("\n".join(rest + (own or [f"{name},,"])) + "\n").encode("utf-8")
            entry = zipfile.ZipInfo(name, date_time=date_time)
            mode = (info.external_attr >> 16) & 0o777
            entry.external_attr = ((0o755 if mode & 0o111 else 0o644) | stat.S_IFREG) << 16
            entry.create_system = 3
            entry.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


# --- source trees -----------------------------------------------------------------------------


def _skip_dir(rel_parts: tuple[str, ...], path: Path) -> bool:
    name = rel_parts[-1]
    if name in _SKIP_DIRS or name.endswith(".egg-info"):
        return True
    if len(rel_parts) == 1 and name in _SKIP_TOP_DIRS:
        return True
    return (path / "pyvenv.cfg").is_file()


def _walk_tree(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, path) of the files of a source tree, sorted, skipping what
    a build must not see; symlinks are followed only inside ``root``."""
    real_root = root.resolve()
    stack: list[tuple[tuple[str, ...], Path]] = [((), root)]
    seen: set[tuple[int, int]] = set()
    files: list[tuple[str, Path]] = []
    while stack:
        parts, directory = stack.pop()
        try:
            st = directory.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = (*parts, entry.name)
            path = Path(entry.path)
            if entry.is_symlink():
                try:
                    path.resolve(strict=True).relative_to(real_root)
                except (OSError, RuntimeError, ValueError):
                    continue
            if entry.is_dir():
                if not _skip_dir(rel, path):
                    stack.append((rel, path))
            elif entry.is_file() and not entry.name.endswith((".pyc", ".pyo")):
                files.append(("/".join(rel), path))
    return iter(sorted(files))


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for rel, path in _walk_tree(root):
        executable = os.access(path, os.X_OK)
        digest.update(f"{rel}\0{int(executable)}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def copy_tree(root: Path, dest: Path) -> None:
    for rel, path in _walk_tree(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


# --- sdists -----------------------------------------------------------------------------------


def _member_path(name: str) -> str:
    """A member's path below the sdist's top directory, checked: relative, no ``..``."""
    clean = posixpath.normpath(name.replace("\\", "/"))
    if clean.startswith("/") or clean == ".." or clean.startswith("../"):
        raise ValueError(f"member {name!r} leads outside the archive")
    return clean


def _strip_top(names: Sequence[str]) -> str:
    tops = {n.split("/", 1)[0] for n in names if n not in (".", "")}
    if len(tops) != 1:
        raise ValueError(f"not one top directory but {len(tops)}")
    return tops.pop()


def _write_member(dest: Path, top: str, path: str, source: IO[bytes], executable: bool) -> None:
    rel = path[len(top) + 1 :] if path.startswith(top + "/") else ""
    if not rel:
        raise ValueError(f"member {path!r} is not inside {top}/")
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out)
    target.chmod(0o755 if executable else 0o644)


def unpack_sdist(archive: Path, dest: Path) -> None:
    """Unpack the sdist ``archive`` (``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``,
    ``.zip``) so that its one top directory (``name-version/``) becomes ``dest``.

    Only regular files and directories are written, modes 0644/0755; a member outside
    the archive's top directory, a link or a device is refused: sdists are downloaded
    input, and `tarfile`'s own safety filter exists only on recent patch releases.

    :raises ValueError: an unsafe or malformed member, not exactly one top directory.
    :raises tarfile.TarError, zipfile.BadZipFile: not an archive.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zin:
            infos = [(i, _member_path(i.filename)) for i in zin.infolist()]
            top = _strip_top([p for _, p in infos])
            for info, _ in infos:
                if (info.external_attr >> 16) & 0o170000 == stat.S_IFLNK:
                    raise ValueError(f"member {info.filename!r} is a link")
            for info, path in infos:
                if not info.is_dir():
                    with zin.open(info) as source:
                        _write_member(dest, top, path, source, bool((info.external_attr >> 16) & 0o111))
        return
    with tarfile.open(archive, "r:*") as tin:
        members = [(m, _member_path(m.name)) for m in tin.getmembers()]
        top = _strip_top([p for _, p in members])
        for member, _ in members:
            if not (member.isdir() or member.isfile()):
                raise ValueError(f"member {member.name!r} is not a regular file or directory")
        for member, path in members:
            handle = tin.extractfile(member) if member.isfile() else None
            if handle is not None:
                with handle:
                    _write_member(dest, top, path, handle, bool(member.mode & 0o111))
