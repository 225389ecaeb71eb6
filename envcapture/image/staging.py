"""A bundle's wheelhouse and local code -> file trees laid out as in the image, without running the target Python. EDGE: files.

The virtualenv lives at the fixed prefix `VENV_PREFIX` (``/opt/envcapture/venv``): a fixed
path keeps script shebangs, ``RECORD`` files and layer bytes identical for every job and
machine, and keeps the environment apart from the base image's own ``site-packages``.
Its ``bin/python`` is an absolute symlink to the base image's interpreter (default
``/usr/local/bin/python3``, where the official ``python:3.X`` images have it), and
``pyvenv.cfg`` is written here (``home`` = that interpreter's directory), exactly what
``python -m venv --symlinks --without-pip`` would produce, so the base's Python starts
in the virtualenv when called through it.

Each wheel is checked first (its sha256 against the lock's ``--hash`` and the manifest),
then installed with the ``installer`` library into its own staging root (so the image
can put a heavy distribution in a layer of its own): the scheme is the virtualenv's
``lib/pythonX.Y/site-packages``, ``bin`` and ``include/site/pythonX.Y/<name>``, console
scripts get ``#!/opt/envcapture/venv/bin/python``, and no bytecode is compiled (``.pyc``
files embed timestamps and would be written by the wrong interpreter).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from envcapture.errors import BuildError, InputError
from envcapture.image.layers import (
    TreeEntry,
    dir_entry,
    file_entry,
    scan_tree,
    symlink_entry,
    with_parents,
)
from envcapture.resolution.requirements import parse_requirements_text

__all__ = [
    "DEFAULT_BASE_PYTHON",
    "VENV_PREFIX",
    "CheckedWheel",
    "StagedDistribution",
    "check_wheels",
    "install_wheel",
    "python_xy",
    "stage_local_code",
    "staged_entries",
    "venv_entries",
]


def __dir__() -> list[str]:
    return __all__


log = logging.getLogger(__name__)

VENV_PREFIX = "/opt/envcapture/venv"
DEFAULT_BASE_PYTHON = "/usr/local/bin/python3"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class CheckedWheel:
    """A wheel of the bundle whose sha256 matched the lock and the manifest."""

    name: str
    version: str
    path: Path
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StagedDistribution:
    """A distribution installed under ``root`` (a staging root: paths below it are image paths)."""

    name: str
    version: str
    root: Path
    files: int
    installed_size: int


def python_xy(version: str) -> str:
    """``"3.11"`` of ``"3.11"`` or ``"3.11.7"``.

    :raises InputError: not a CPython version.
    """
    parts = version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise InputError(f"target python_version {version!r}: expected X.Y or X.Y.Z")
    return f"{parts[0]}.{parts[1]}"


def _lock_hashes(bundle: Path, manifest: Mapping[str, Any]) -> dict[str, set[str]]:
    name = str(manifest.get("install", {}).get("requirements") or "requirements.lock.txt")
    path = bundle / name
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the bundle's lock ({exc})") from exc
    parsed = parse_requirements_text(text, file=name)
    hashes: dict[str, set[str]] = {}
    for req in parsed.requirements:
        if req.name is not None:
            hashes.setdefault(str(req.name), set()).update(
                h.removeprefix("sha256:") for h in req.hashes if h.startswith("sha256:")
            )
    return hashes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_wheels(bundle: Path, manifest: Mapping[str, Any]) -> tuple[CheckedWheel, ...]:
    """Every distribution of the manifest with its wheel, hash-checked, sorted by name.

    Hashes are required: a pin without a ``--hash`` in the lock, a wheel whose sha256 is
    not among the lock's hashes or differs from the manifest's artifact, or a distribution
    the target would fetch itself (a direct reference) stops the image.

    :raises BuildError: a missing wheel, a missing hash, a mismatch.
    """
    locked = _lock_hashes(bundle, manifest)
    artifacts = {a["path"]: a.get("sha256") for a in manifest.get("artifacts", []) if isinstance(a, dict)}
    checked: list[CheckedWheel] = []
    for dist in manifest.get("distributions", []):
        name, version, wheel = str(dist["name"]), str(dist["version"]), dist.get("wheel")
        subject = f"{name}=={version}"
        if not wheel:
            raise BuildError(
                f"{subject}: step image: not in the wheelhouse (the target would fetch it); an image installs "
                "only what the bundle ships, offline"
            )
        path = bundle / str(wheel)
        if not path.is_file():
            raise BuildError(f"{subject}: step image: {wheel} is missing from the bundle")
        want = locked.get(str(canonicalize_name(name)))
        if not want:
            raise BuildError(f"{subject}: step image: the lock has no --hash for it; hashes are required")
        got = _sha256(path)
        if got not in want:
            raise BuildError(f"{subject}: step image: {wheel} has sha256 {got}, not a hash the lock allows")
        if artifacts.get(str(wheel)) not in (None, got):
            raise BuildError(f"{subject}: step image: {wheel} has sha256 {got}, the manifest says {artifacts[str(wheel)]}")
        checked.append(CheckedWheel(name=name, version=version, path=path, sha256=got))
    return tuple(sorted(checked))


def venv_entries(*, prefix: str, base_python: str, python_version: str) -> tuple[TreeEntry, ...]:
    """The virtualenv skeleton: ``pyvenv.cfg``, ``bin/python*`` symlinks to ``base_python``,
    an empty ``site-packages`` and the ``lib64`` link ``venv`` makes on 64-bit Linux."""
    if not base_python.startswith("/"):
        raise InputError(f"--base-python {base_python!r}: expected an absolute path in the base image")
    xy = python_xy(python_version)
    root = prefix.strip("/")
    home = str(PurePosixPath(base_python).parent)
    cfg = f"home = {home}\ninclude-system-site-packages = false\nversion = {python_version}\nexecutable = {base_python}\n"
    return with_parents(
        [
            file_entry(f"{root}/pyvenv.cfg", data=cfg.encode("utf-8")),
            symlink_entry(f"{root}/bin/python", base_python),
            symlink_entry(f"{root}/bin/python3", "python"),
            symlink_entry(f"{root}/bin/python{xy}", "python"),
            dir_entry(f"{root}/lib/python{xy}/site-packages"),
            symlink_entry(f"{root}/lib64", "lib"),
        ]
    )


def install_wheel(wheel: CheckedWheel, root: Path, *, prefix: str, python_version: str) -> StagedDistribution:
    """Install ``wheel`` with ``installer`` into the staging root ``root`` as if ``root``
    were ``/``: files land in ``root/<prefix>/...``, scripts point at ``<prefix>/bin/python``.

    :raises BuildError: the wheel is invalid, or a file would leave the virtualenv.
    """
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.exceptions import InstallerError
    from installer.sources import WheelFile

    xy = python_xy(python_version)
    site = f"{prefix}/lib/python{xy}/site-packages"
    schemes = {
        "purelib": site,
        "platlib": site,
        "headers": f"{prefix}/include/site/python{xy}/{canonicalize_name(wheel.name)}",
        "scripts": f"{prefix}/bin",
        "data": prefix,
    }
    destination = SchemeDictionaryDestination(
        schemes,
        interpreter=f"{prefix}/bin/python",
        script_kind="posix",
        bytecode_optimization_levels=(),
        destdir=str(root),
    )
    try:
        with WheelFile.open(wheel.path) as source:
            source.validate_record()
            install(source, destination, {"INSTALLER": b"envcapture\n"})
    except (InstallerError, ValueError, OSError, KeyError) as exc:
        raise BuildError(f"{wheel.name}=={wheel.version}: step image install: {exc}") from exc
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if not path.is_symlink():
                files += 1
                size += path.stat().st_size
    return StagedDistribution(name=wheel.name, version=wheel.version, root=root, files=files, installed_size=size)


def stage_local_code(archive: Path, root: Path, *, workdir: str, expected_sha256: str | None = None) -> tuple[TreeEntry, ...]:
    """Unpack ``local-code.tar.gz`` into the staging root ``root`` at ``workdir`` (e.g.
    ``/job``) and return its entries.

    :raises InputError: ``workdir`` is not absolute.
    :raises BuildError: the archive's sha256 differs from the manifest's, or it holds
        anything but regular files with safe relative paths.
    """
    pure = PurePosixPath(workdir)
    if not workdir.startswith("/") or ".." in pure.parts:
        raise InputError(f"--workdir {workdir!r}: expected an absolute path without '..'")
    if expected_sha256 is not None and _sha256(archive) != expected_sha256:
        raise BuildError(f"{archive.name}: step image: sha256 differs from the manifest's")
    rel_root = pure.as_posix().strip("/")
    target = root / rel_root if rel_root else root
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            rel = PurePosixPath(member.name)
            if not member.isfile() or rel.is_absolute() or ".." in rel.parts or not rel.parts:
                raise BuildError(f"{archive.name}: step image: unexpected entry {member.name!r}")
            dest = target.joinpath(*rel.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            handle = tar.extractfile(member)
            assert handle is not None
            with open(dest, "wb") as out:
                while block := handle.read(1 << 20):
                    out.write(block)
            os.chmod(dest, 0o755 if member.mode & 0o111 else 0o644)
    return scan_tree(root)


def staged_entries(stage: Sequence[StagedDistribution]) -> tuple[TreeEntry, ...]:
    """The merged entries of several staging roots (a later root wins a shared path)."""
    merged: list[TreeEntry] = []
    for dist in stage:
        merged.extend(scan_tree(dist.root))
    return with_parents(merged)
