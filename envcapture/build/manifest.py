"""``manifest.json``: the contract between the build side and the target side.

The build side writes it (`dump_manifest`); the target side (`envcapture run`, `verify`,
`image`) reads it (`read_manifest`, `load_manifest`) and checks every artifact against it
(`hash_checks`). This module imports nothing of the rest of the build side, so that the
target side loads only what it runs: the names of the bundle's files, the schema and its
major-version rule, a typed view of the document, and the hash check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envcapture._fs import document_header, read_document

__all__ = [
    "INPUTS",
    "LOCAL_CODE",
    "MANIFEST",
    "MANIFEST_SCHEMA",
    "MANIFEST_SCHEMA_VERSION",
    "REQUIREMENTS_LOCK",
    "WHEELHOUSE",
    "Check",
    "InstallSection",
    "Manifest",
    "ManifestArtifact",
    "ManifestTarget",
    "dump_manifest",
    "hash_checks",
    "load_manifest",
    "read_manifest",
]

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "envcapture/manifest"
# 1.1: the job section, inputs.tar.gz, plain bundles; 1.2: verify, local packages; 1.3: read files, sdist
MANIFEST_SCHEMA_VERSION = "1.3"
LOCAL_CODE = "local-code.tar.gz"
WHEELHOUSE = "wheelhouse"
INPUTS = "inputs.tar.gz"
REQUIREMENTS_LOCK = "requirements.lock.txt"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Check:
    """One verification step: ``step`` is ``hash``, ``install``, ``import`` (a
    distribution's module), ``entry`` (an entry point loaded as a module, or one of the
    module-level imports of an unguarded script), ``local`` (a local module, from the job's
    working directory), ``data`` (a data file next to its package) or ``file`` (a file the
    code reads by path, where it expects it)."""

    step: str
    subject: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestArtifact:
    """A file of the bundle with the size and sha256 it must have."""

    path: str
    kind: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestTarget:
    """The target as the manifest names it: what the target side needs of it, without
    loading the build side's `Target` (a job VM reads only this module of the build side)."""

    python_version: str
    sys_platform: str = "linux"
    platform_machine: str = "x86_64"
    manylinux: str = "2_28"

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ManifestTarget:
        target = _mapping(doc.get("target")) or {}
        return cls(
            python_version=str(target.get("python_version", "")),
            sys_platform=str(target.get("sys_platform", "linux")),
            platform_machine=str(target.get("platform_machine", "x86_64")),
            manylinux=str(target.get("manylinux", "2_28")),
        )

    @property
    def python_minor(self) -> tuple[int, int]:
        major, minor = [*self.python_version.split("."), "0", "0"][:2]
        return int(major or 0), int(minor or 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallSection:
    """How the target installs the environment: pip options over the wheelhouse."""

    requirements: str = REQUIREMENTS_LOCK
    find_links: str = WHEELHOUSE
    no_deps: bool = False
    require_hashes: bool = False
    direct: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """A typed view of a manifest document; ``raw`` keeps the document as read."""

    schema_version: str
    generator: str
    cmd: str | None
    install: InstallSection
    artifacts: tuple[ManifestArtifact, ...]
    local_code_path: str | None
    verify_modules: tuple[str, ...]
    verify: Mapping[str, Any] | None
    job: Mapping[str, Any] | None
    target: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Manifest:
        install = doc.get("install") or {}
        return cls(
            schema_version=str(doc.get("schema_version", "")),
            generator=str(doc.get("generator", "")),
            cmd=doc.get("cmd") if isinstance(doc.get("cmd"), str) else None,
            install=InstallSection(
                requirements=str(install.get("requirements", REQUIREMENTS_LOCK)),
                find_links=str(install.get("find_links", WHEELHOUSE)),
                no_deps=bool(install.get("no_deps")),
                require_hashes=bool(install.get("require_hashes")),
                direct=tuple(str(d) for d in install.get("direct") or ()),
            ),
            artifacts=tuple(
                ManifestArtifact(
                    path=str(a.get("path", "")),
                    kind=str(a.get("kind", "")),
                    sha256=str(a.get("sha256", "")),
                    size=int(a.get("size", -1)) if isinstance(a.get("size"), int) else -1,
                )
                for a in doc.get("artifacts", [])
                if isinstance(a, dict)
            ),
            local_code_path=(doc.get("local_code") or {}).get("path"),
            verify_modules=tuple(str(m) for m in doc.get("verify_modules") or ()),
            verify=_mapping(doc.get("verify")),
            job=_mapping(doc.get("job")),
            target=_mapping(doc.get("target")) or {},
            raw=doc,
        )

    def lists(self, path: str) -> bool:
        """Whether ``path`` is one of the bundle's hashed artifacts."""
        return any(a.path == path for a in self.artifacts)


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) else None


def read_manifest(bundle: Path) -> dict[str, Any]:
    """The manifest document of ``bundle``, checked for schema and major version.

    :raises InputError: missing, not JSON, another schema, or another major version.
    """
    return read_document(
        Path(bundle) / MANIFEST,
        schema=MANIFEST_SCHEMA,
        version=MANIFEST_SCHEMA_VERSION,
        what="manifest",
        missing_hint=f"is {bundle} an envcapture bundle?",
    )


def load_manifest(bundle: Path) -> Manifest:
    """`read_manifest`, as a typed `Manifest`."""
    return Manifest.from_json(read_manifest(bundle))


def dump_manifest(doc: Mapping[str, Any]) -> str:
    """The one way a manifest is written: the schema header first, 2-space JSON, a final newline."""
    header = document_header(MANIFEST_SCHEMA, MANIFEST_SCHEMA_VERSION)
    return json.dumps({**header, **doc}, indent=2, ensure_ascii=False) + "\n"


def hash_checks(bundle: Path, manifest: Mapping[str, Any]) -> list[Check]:
    """Every artifact the manifest lists, checked for its size and sha256 (a path that
    leaves the bundle fails without being read)."""
    checks = []
    for item in manifest.get("artifacts", []):
        rel = str(item.get("path", ""))
        path = bundle / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            checks.append(Check(step="hash", subject=rel, ok=False, detail="path leaves the bundle"))
            continue
        try:
            digest = hashlib.sha256()
            size = 0
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
                    size += len(block)
        except OSError as exc:
            checks.append(Check(step="hash", subject=rel, ok=False, detail=f"missing: {exc.strerror or exc}"))
            continue
        if digest.hexdigest() != item.get("sha256") or size != item.get("size"):
            checks.append(
                Check(step="hash", subject=rel, ok=False, detail=f"sha256 {digest.hexdigest()} != {item.get('sha256')}")
            )
        else:
            checks.append(Check(step="hash", subject=rel, ok=True))
    return checks
