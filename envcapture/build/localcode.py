"""The job's local files -> ``local-code.tar.gz``: deterministic, secrets left out. EDGE: reads files, writes one.

The selection is the files the analysis reached plus the entry-point scripts, the files the
code reads or runs by a literal path or ``cmd`` names (``configurator.py``, ``cfg/model.yaml``)
and, whole, every local package they belong to (auto mode: the package's modules and data
files, such as ``assets/*.npz`` read through ``os.path.dirname(__file__)``, but not its
``tests`` directories nor the job's inputs), or the ``local-paths`` files and whole directories
(manual mode), laid out relative to the job's working directory. Left out, and reported
with the rule that matched (`envcapture._fs.exclusion_rule`), even inside a listed
directory or read by the code: VCS metadata (``.git``), bytecode
(``__pycache__``, ``*.pyc``), virtualenvs (a directory holding ``pyvenv.cfg``), ``.env``
files, private keys (``id_rsa*``, ``*.pem``, ``*.key``...), credential files
(``.netrc``, ``.pypirc``, ``credentials.json``, ``.aws/``, ``*.p12``...) and secrets files
(``secrets.yaml``, ``secrets.json``, ``*.secret``...).

The same walker, with the same rules and symlink policy, selects the files of the job's
``inputs`` (`select_input`): a directory input is walked like a ``local-paths``
directory, its secrets left out and reported; an input that is itself one of these
(``inputs: [.env]``, ``inputs: [.git/]``) is refused with the rule, since the user asked
for it by name.

Symlinks: one that leads outside the project is refused with an `InputError` naming it.
One that stays inside is stored as the content it points to (a plain file in the
archive; a linked directory is walked like a real one), so the archive unpacks the same
everywhere and never carries a link that dangles on the target; the target path is
checked against the rules too (``settings.py -> .env`` is left out). A link loop, or a
directory link back to one of its parents, is reported and skipped; nothing hangs.

The archive is byte-reproducible: entries sorted by path, regular files only, mtime
1980-01-01, uid/gid 0 without user or group names, modes 0644 or 0755 (executable),
PAX format, gzip level 9 with no timestamp and no file name in its header.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from envcapture._fs import atomic_writer, exclusion_rule
from envcapture.errors import BuildError, InputError

__all__ = [
    "ARCHIVE_MTIME",
    "BundleFile",
    "Excluded",
    "LocalBundle",
    "Selection",
    "exclusion_rule",
    "package_dir",
    "select_input",
    "select_local_files",
    "write_local_bundle",
]


def __dir__() -> list[str]:
    return __all__


ARCHIVE_MTIME = 315532800
"""1980-01-01T00:00:00Z: the mtime of every archive entry."""


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class BundleFile:
    """One file of the archive: project-relative POSIX path, size, mode, sha256."""

    path: str
    size: int
    mode: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Excluded:
    """A path left out of the archive and the rule that left it out."""

    path: str
    rule: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """What goes into the archive: (relative path, real file), sorted; and what does not."""

    files: tuple[tuple[str, Path], ...]
    excluded: tuple[Excluded, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalBundle:
    """The written archive: its sha256 and size, its files, and what was left out."""

    sha256: str
    size: int
    files: tuple[BundleFile, ...]
    excluded: tuple[Excluded, ...]


_TEST_DIRS = frozenset({"tests", "test", "testing"})


def package_dir(project: Path, path: str, module: str) -> tuple[str, str] | None:
    """(directory, dotted name) of the outermost regular package (one with ``__init__.py``)
    that holds the local module ``module`` found at ``path`` (project-relative), or ``None``
    for a top-level module or a script. ``pkg/sub/mod.py`` as ``pkg.sub.mod`` -> ``("pkg",
    "pkg")``; under a namespace package (no ``__init__.py``) the outermost regular one below it."""
    parts = module.split(".")
    pure = PurePosixPath(path)
    if module in ("", "__main__"):
        return None
    levels = len(parts) if pure.stem == "__init__" else len(parts) - 1
    if levels < 1:
        return None
    chain = [pure.parent]  # chain[i] is the directory of the package parts[: levels - i]
    for _ in range(levels - 1):
        chain.append(chain[-1].parent)
    for i in range(len(chain) - 1, -1, -1):  # outermost first
        candidate = chain[i]
        if candidate.parts and (project / candidate / "__init__.py").is_file():
            return candidate.as_posix(), ".".join(parts[: levels - i])
    return None


class _Selector:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.real_project = Path(os.path.realpath(project))
        self.files: dict[str, Path] = {}
        self.excluded: dict[str, str] = {}
        self.keep_out: dict[str, str] = {}  # project-relative path -> rule, for package trees
        self.in_package = False

    def _inside(self, real: Path) -> str | None:
        try:
            return real.relative_to(self.real_project).as_posix()
        except ValueError:
            return None

    def _rel(self, raw: str, key: str) -> str:
        text = raw.replace("\\", "/")
        pure = PurePosixPath(text)
        if pure.is_absolute():
            try:
                text = Path(text).relative_to(self.project).as_posix()
            except ValueError:
                raise InputError(f"{key} {raw!r}: outside the project directory; refused") from None
            pure = PurePosixPath(text)
        norm = os.path.normpath(pure.as_posix()).replace(os.sep, "/")
        if norm == ".." or norm.startswith("../"):
            raise InputError(f"{key} {raw!r}: leads outside the project directory; refused")
        return "" if norm == "." else norm

    def _real(self, rel: str) -> Path | None:
        """The real path of ``rel``; ``InputError`` when a link leads out, ``None`` for a loop."""
        path = self.project / rel if rel else self.project
        try:
            real = Path(os.path.realpath(path, strict=True))
        except (OSError, RuntimeError) as exc:
            if (isinstance(exc, OSError) and exc.errno == errno.ELOOP) or "loop" in str(exc).lower():
                self.excluded[rel] = "symlink-loop"
                return None
            if os.path.islink(path):
                self.excluded[rel] = "broken-symlink"
                return None
            raise
        if self._inside(real) is None:
            link = self._first_link(rel)
            raise InputError(
                f"{link}: a symlink to {os.readlink(self.project / link)!r}, outside the project; refused "
                "(copy the file into the project, or list it in inputs)"
            )
        return real

    def _first_link(self, rel: str) -> str:
        parts = PurePosixPath(rel).parts
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if os.path.islink(self.project / sub):
                return sub
        return rel

    def _rule(self, rel: str, real: Path, *, is_dir: bool) -> str | None:
        rule = exclusion_rule(rel, is_dir=is_dir)
        if rule is None:
            target_rel = self._inside(real)
            if target_rel and target_rel != rel:
                rule = exclusion_rule(target_rel, is_dir=is_dir)
        if rule is None and is_dir and (real / "pyvenv.cfg").is_file():
            rule = "virtualenv"
        return rule

    def add_file(self, raw: str, key: str, *, missing_ok: bool = False) -> None:
        rel = self._rel(raw, key)
        path = self.project / rel
        if not os.path.lexists(path):
            if missing_ok:
                return
            raise InputError(f"{key} {raw!r}: no such file or directory in the project")
        real = self._real(rel)
        if real is None:
            return
        if real.is_dir():
            self.add_tree(rel, real, ancestors=())
            return
        rule = self._rule(rel, real, is_dir=False)
        if rule is not None:
            self.excluded[rel] = rule
        elif real.is_file():
            self.files[rel] = real
        else:
            self.excluded[rel] = "not-a-regular-file"

    def add_package(self, rel: str) -> None:
        """A local package, whole: its modules and data files, but not its tests, nor
        paths kept out (the job's inputs)."""
        real = self._real(rel)
        if real is None or not real.is_dir():
            return
        self.in_package = True
        try:
            self.add_tree(rel, real, ancestors=())
        finally:
            self.in_package = False

    def add_tree(self, rel: str, real: Path, *, ancestors: tuple[Path, ...]) -> None:
        if self.in_package and rel in self.keep_out:
            self.excluded[rel] = self.keep_out[rel]
            return
        if self.in_package and PurePosixPath(rel).name in _TEST_DIRS:
            self.excluded[rel] = "tests"
            return
        if rel:
            rule = self._rule(rel, real, is_dir=True)
            if rule is not None:
                self.excluded[rel] = rule
                return
        if real in ancestors:
            self.excluded[rel] = "symlink-loop"
            return
        chain = (*ancestors, real)
        try:
            names = sorted(os.listdir(self.project / rel if rel else self.project))
        except OSError:
            self.excluded[rel] = "unreadable"
            return
        for name in names:
            child = f"{rel}/{name}" if rel else name
            child_real = self._real(child)
            if child_real is None:
                continue
            if child_real.is_dir():
                if child_real == real or real.is_relative_to(child_real):
                    self.excluded[child] = "symlink-loop"  # a link back to a parent directory
                    continue
                self.add_tree(child, child_real, ancestors=chain)
                continue
            rule = self._rule(child, child_real, is_dir=False)
            if rule is None and self.in_package:
                rule = self.keep_out.get(child)
            if rule is not None:
                self.excluded[child] = rule
            elif child_real.is_file():
                self.files[child] = child_real
            else:
                self.excluded[child] = "not-a-regular-file"


def select_input(root: Path, raw: str, *, key: str) -> Selection:
    """The files of one ``inputs`` entry ``raw`` (relative to ``root``, the project, or
    ``""`` for ``root`` itself: an input outside the project is its own root), with the
    rules and symlink policy of the local code. Paths in the selection are relative to
    ``root``.

    :raises InputError: the entry is missing, leads out of ``root`` (by ``..`` or by a
        symlink, also one inside a directory input), or is itself a file the rules never
        ship (named with its rule).
    """
    selector = _Selector(Path(root))
    rel = selector._rel(raw, key)
    path = selector.project / rel if rel else selector.project
    if not os.path.lexists(path):
        raise InputError(f"{key} {raw!r}: no such file or directory")
    real = selector._real(rel)
    if real is None:
        raise InputError(f"{key} {raw!r}: {selector.excluded.get(rel, 'unreadable')}; refused")
    is_dir = real.is_dir()
    named = rel or Path(root).name
    rule = exclusion_rule(named, is_dir=is_dir) or (selector._rule(rel, real, is_dir=is_dir) if rel else None)
    if rule is None and not rel and is_dir and (real / "pyvenv.cfg").is_file():
        rule = "virtualenv"
    if rule is not None:
        raise InputError(f"{key} {raw!r}: never shipped ({rule}); refused (remove it from inputs)")
    if not is_dir and not real.is_file():
        raise InputError(f"{key} {raw!r}: not a regular file or a directory; refused")
    selector.add_file(raw, key)
    excluded = {k: v for k, v in selector.excluded.items() if k not in selector.files}
    return Selection(
        files=tuple(sorted(selector.files.items())),
        excluded=tuple(sorted(Excluded(path=p, rule=r) for p, r in excluded.items())),
    )


def select_local_files(
    project: Path,
    *,
    files: Iterable[str] = (),
    paths: Iterable[str] = (),
    packages: Iterable[str] = (),
    keep_out: Mapping[str, str] | None = None,
    directories: Iterable[str] = (),
) -> Selection:
    """Choose the files of the archive.

    :param files: project-relative files the analysis reached, the files the code reads by
        path, and entry-point scripts; one the rules never ship is left out with its rule.
    :param paths: ``local-paths`` entries: files, or directories taken whole.
    :param packages: directories of local packages the job imports, taken whole but for
        their test directories (``tests``, ``test``, ``testing``: rule ``tests``) and the
        paths in ``keep_out`` (path -> rule, such as the job's inputs); files the analysis
        reached in such a directory ship anyway.
    :param directories: directories the code reads by path (``Path(__file__).parent /
        "assets"``), taken whole as packages are.
    :raises InputError: a path or a symlink leads outside the project; a listed path is missing.
    """
    selector = _Selector(Path(project))
    selector.keep_out = dict(keep_out or {})
    for raw in files:
        selector.add_file(raw, "local file")
    for raw in paths:
        selector.add_file(raw, "local-paths")
    for rel in sorted({*packages, *directories}):
        selector.add_package(rel)
    excluded = {k: v for k, v in selector.excluded.items() if k not in selector.files}
    return Selection(
        files=tuple(sorted(selector.files.items())),
        excluded=tuple(sorted(Excluded(path=p, rule=r) for p, r in excluded.items())),
    )


class _HashingReader:
    """A file wrapper that hashes what tarfile reads; a read error is an `InputError`
    naming the file (so that an `OSError` out of the writer is always a write error)."""

    def __init__(self, handle: BinaryIO, rel: str) -> None:
        self.handle = handle
        self.rel = rel
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.handle.read(size)
        except OSError as exc:
            raise InputError(f"local file {self.rel}: cannot read it: {exc.strerror or exc}") from exc
        self.digest.update(data)
        return data


def write_local_bundle(
    project: Path,
    dest: Path,
    *,
    files: Sequence[str] = (),
    paths: Sequence[str] = (),
    packages: Sequence[str] = (),
    keep_out: Mapping[str, str] | None = None,
    selection: Selection | None = None,
) -> LocalBundle:
    """Write the deterministic ``tar.gz`` of the selected files to ``dest`` (atomically:
    a temporary file in the same directory, then a rename).

    :raises InputError: see `select_local_files`; a file changed while being archived.
    """
    chosen = selection or select_local_files(project, files=files, paths=paths, packages=packages, keep_out=keep_out)
    entries: list[BundleFile] = []
    try:
        with atomic_writer(dest) as staged:
            with (
                gzip.GzipFile(filename="", mode="wb", fileobj=staged.file, compresslevel=9, mtime=0) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for rel, real in chosen.files:
                    try:
                        st = real.stat()
                        handle = open(real, "rb")  # noqa: SIM115 - closed by the with below
                    except OSError as exc:
                        raise InputError(f"local file {rel}: cannot read it: {exc.strerror or exc}") from exc
                    mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
                    info = tarfile.TarInfo(rel)
                    info.size = st.st_size
                    info.mtime = ARCHIVE_MTIME
                    info.mode = mode
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.type = tarfile.REGTYPE
                    with handle:
                        reader = _HashingReader(handle, rel)
                        try:
                            tar.addfile(info, reader)  # type: ignore[arg-type,unused-ignore]
                        except OSError as exc:
                            if exc.errno is not None:  # the archive's disk (full, read-only): below
                                raise
                            raise InputError(f"local file {rel}: changed while being archived ({exc})") from exc
                        if handle.read(1):
                            raise InputError(f"local file {rel}: changed while being archived (it grew)")
                    entries.append(BundleFile(path=rel, size=st.st_size, mode=mode, sha256=reader.digest.hexdigest()))
            staged.file.flush()
            digest = hashlib.sha256()
            size = 0
            with open(staged.path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
                    size += len(block)
    except OSError as exc:  # reading errors are InputError above: this is the archive's disk
        raise BuildError(f"{dest}: cannot write the archive: {exc.strerror or exc}") from exc
    return LocalBundle(sha256=digest.hexdigest(), size=size, files=tuple(entries), excluded=chosen.excluded)
