"""A bundle -> an OCI image layout, a ``docker load`` tarball and a Dockerfile, without a daemon. EDGE: files.

``build_image`` writes, in the output directory ``DIR`` (see ``docs/image.md``)::

    DIR/
      oci-layout             {"imageLayoutVersion": "1.0.0"}
      index.json             one manifest, annotated with org.opencontainers.image.ref.name
      blobs/sha256/<hex>     the image config, the manifest and every layer
      image.tar              the same blobs plus the manifest.json of `docker save` (docker load)
      Dockerfile             FROM base, ADD each layer, ENV, WORKDIR, CMD: for other engines
      .dockerignore          keeps image.tar and image.json out of a build context
      image.json             schema envcapture/image: digest, layers, base, rebase_required

Layers, most stable first: the base image's (when given as an OCI layout or a root
filesystem tarball), the virtualenv skeleton with envcapture's init
(`envcapture.image.jobinit`, the ``Cmd`` of `envcapture.image.command` starts it), one layer
per distribution installed larger than `HEAVY_LAYER_BYTES`, the other distributions, and the
job's local code at the working directory. Editing a local file changes only the last layer. Two builds of the same
bundle with the same options give the same digest: no timestamps (``created`` is
``SOURCE_DATE_EPOCH`` or 1970), sorted entries, fixed owners and modes, canonical JSON.

A base known only by name (``python:3.11-slim``) is not pulled: its layers are not in
the image, whose config then holds only envcapture's layers, and ``rebase_required`` says
so; build ``DIR/Dockerfile`` with an engine, or give ``--base-oci``/``--base-rootfs``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from envcapture._fs import atomic_write_bytes, atomic_write_text, document_header, read_document, replace_directory, sha256_file
from envcapture._version import __version__
from envcapture.build.manifest import read_manifest
from envcapture.config.model import JobConfig
from envcapture.errors import InputError
from envcapture.image.command import INIT_PATH, container_cmd, init_entry
from envcapture.image.layers import (
    LAYER_MEDIA_TYPE,
    Layer,
    TreeEntry,
    dir_entry,
    file_entry,
    import_layer,
    scan_tree,
    source_date_epoch,
    with_parents,
    write_layer,
    write_tar,
)
from envcapture.image.staging import (
    DEFAULT_BASE_PYTHON,
    VENV_PREFIX,
    StagedDistribution,
    check_wheels,
    install_wheel,
    python_xy,
    stage_local_code,
    staged_entries,
    venv_entries,
)

__all__ = [
    "CONFIG_MEDIA_TYPE",
    "DOCKERFILE",
    "HEAVY_LAYER_BYTES",
    "IMAGE_JSON",
    "IMAGE_SCHEMA",
    "IMAGE_SCHEMA_VERSION",
    "IMAGE_TAR",
    "INDEX_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "BaseImage",
    "ImageOptions",
    "ImageResult",
    "build_image",
    "config_env",
    "default_base",
    "default_repo_tag",
    "image_layout_blob",
    "layout_manifest",
    "parse_base",
    "read_image",
    "render_dockerfile",
]


def __dir__() -> list[str]:
    return __all__


IMAGE_JSON = "image.json"
IMAGE_TAR = "image.tar"
DOCKERFILE = "Dockerfile"
IMAGE_SCHEMA = "envcapture/image"
IMAGE_SCHEMA_VERSION = "1.1"  # 1.1: "init", and "cmd" of any length (it starts the init)
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
HEAVY_LAYER_BYTES = 50_000_000
"""A distribution installed larger than this (torch, nvidia-*, tensorflow) gets its own layer."""
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL_BASE_NAME = "org.opencontainers.image.base.name"
LABEL_BASE_DIGEST = "org.opencontainers.image.base.digest"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

_DOCKER_MANIFEST_TYPES = frozenset({MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json"})
_INDEX_TYPES = frozenset({INDEX_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.list.v2+json"})
# Docker's layer media types -> the OCI ones (same bytes).
_LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip": LAYER_MEDIA_TYPE,
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


# --- options and results ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseImage:
    """The base: a reference (``name``, ``digest``) and, when given locally, its layers."""

    name: str | None = None
    digest: str | None = None
    source: str = "name"  # name | rootfs | oci
    layers: tuple[Layer, ...] = ()
    config: Mapping[str, Any] | None = None

    @property
    def reference(self) -> str | None:
        if self.name and self.digest:
            return f"{self.name}@{self.digest}"
        return self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageOptions:
    """What `build_image` needs beyond the bundle.

    ``base``: ``NAME[:TAG][@sha256:...]`` (default: `default_base`); ``base_rootfs`` /
    ``base_oci``: a local base whose layers are prepended (``base_oci`` is ``DIR`` or
    ``DIR:REF``); ``env``: ``(NAME, value)`` pairs in order (see `config_env`).
    """

    base: str | None = None
    base_rootfs: Path | None = None
    base_oci: str | None = None
    base_python: str = DEFAULT_BASE_PYTHON
    workdir: str = "/job"
    repo_tag: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    stop_signal: str | None = None
    heavy_layer_bytes: int = HEAVY_LAYER_BYTES
    source_date_epoch: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageResult:
    """The image written at ``path``. ``digest`` is the manifest's (what a registry names)."""

    path: Path
    digest: str
    config_digest: str
    manifest_size: int
    repo_tag: str
    layers: tuple[Layer, ...]
    base: BaseImage
    rebase_required: bool
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    workdir: str
    base_python: str
    notes: tuple[str, ...] = field(default=())

    @property
    def ref_name(self) -> str:
        return self.repo_tag.rsplit(":", 1)[1]

    @property
    def image_tar(self) -> Path:
        return self.path / IMAGE_TAR

    def to_json(self) -> dict[str, Any]:
        """The ``image.json`` document (schema envcapture/image 1.1)."""
        return {
            **document_header(IMAGE_SCHEMA, IMAGE_SCHEMA_VERSION),
            "digest": self.digest,
            "config_digest": self.config_digest,
            "manifest_size": self.manifest_size,
            "repo_tag": self.repo_tag,
            "ref_name": self.ref_name,
            "platform": "linux/amd64",
            "base": {
                "name": self.base.name,
                "digest": self.base.digest,
                "source": self.base.source,
                "layers": len(self.base.layers),
            },
            "rebase_required": self.rebase_required,
            "prefix": VENV_PREFIX,
            "base_python": self.base_python,
            "workdir": self.workdir,
            "cmd": list(self.cmd),
            "init": INIT_PATH,
            "env": list(self.env),
            "layers": [
                {
                    "name": layer.name,
                    "digest": layer.digest,
                    "diff_id": layer.diff_id,
                    "size": layer.size,
                    "media_type": layer.media_type,
                    "files": layer.files,
                    "unpacked_size": layer.unpacked_size,
                }
                for layer in self.layers
            ],
            "files": {"oci_layout": ".", "docker_archive": IMAGE_TAR, "dockerfile": DOCKERFILE},
            "notes": list(self.notes),
        }


# --- pure helpers -------------------------------------------------------------------------------


def parse_base(text: str) -> tuple[str, str | None]:
    """``NAME[:TAG][@sha256:HEX]`` -> (name, digest or None).

    :raises InputError: an empty name or a malformed digest.
    """
    name, _, digest = text.strip().partition("@")
    if not name:
        raise InputError(f"--base {text!r}: expected NAME[:TAG][@sha256:DIGEST]")
    if digest and not _DIGEST_RE.match(digest):
        raise InputError(f"--base {text!r}: the digest must be sha256: and 64 lowercase hex digits")
    return name, digest or None


def default_base(python_version: str, docker_image: str | None = None) -> str:
    """The config's ``env.docker`` image when set, else ``python:<X.Y>-slim``."""
    return docker_image or f"python:{python_xy(python_version)}-slim"


def default_repo_tag(job_name: str | None) -> str:
    """``envcapture/<job name, lowercased and cleaned>:latest``."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", (job_name or "job").lower()).strip("-._") or "job"
    return f"envcapture/{cleaned}:latest"


def _check_repo_tag(repo_tag: str) -> str:
    repo, sep, tag = repo_tag.rpartition(":")
    if not sep or "/" in tag:
        repo, tag = repo_tag, "latest"
    path = (
        repo.split("/", 1)[1]
        if "/" in repo and ("." in repo.split("/")[0] or ":" in repo.split("/")[0] or repo.split("/")[0] == "localhost")
        else repo
    )
    if not _NAME_RE.match(path) or not _TAG_RE.match(tag):
        raise InputError(f"--tag {repo_tag!r}: expected REPOSITORY:TAG (lowercase repository, tag of [A-Za-z0-9_.-])")
    return f"{repo}:{tag}"


def _containerd_name(repo_tag: str) -> str:
    first = repo_tag.split("/", 1)[0]
    if "/" in repo_tag and ("." in first or ":" in first or first == "localhost"):
        return repo_tag
    return f"docker.io/{repo_tag}" if "/" in repo_tag else f"docker.io/library/{repo_tag}"


def config_env(config: JobConfig, environ: Mapping[str, str]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """``env.vars`` as ``(NAME, value)`` pairs, and the names copied from ``environ``
    that are not set there (left out of the image)."""
    pairs: list[tuple[str, str]] = []
    missing: list[str] = []
    for var in config.env.vars:
        if var.value is not None:
            pairs.append((var.name, str(var.value)))
        elif var.name in environ:
            pairs.append((var.name, environ[var.name]))
        else:
            missing.append(var.name)
    return tuple(pairs), tuple(missing)


def _canonical(doc: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, ASCII: the bytes that are hashed."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge_env(base_env: Sequence[str], ours: Sequence[tuple[str, str]], *, venv: bool = True) -> list[str]:
    """Base variables first (PATH gets the venv's bin in front), then ours, later wins."""
    merged: dict[str, str] = {}
    for item in base_env:
        name, _, value = item.partition("=")
        merged[name] = value
    parts = [p for p in merged.get("PATH", DEFAULT_PATH).split(":") if p and p != f"{VENV_PREFIX}/bin"]
    merged["PATH"] = ":".join([f"{VENV_PREFIX}/bin", *parts] if venv else parts)  # keeps the base's position
    merged.pop("VIRTUAL_ENV", None)
    if venv:
        merged["VIRTUAL_ENV"] = VENV_PREFIX
    for name, value in ours:
        merged.pop(name, None)
        merged[name] = value
    return [f"{k}={v}" for k, v in merged.items()]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    """What the image runs, read from the manifest as ``envcapture run`` reads it."""

    cmd: str
    env: tuple[tuple[str, str], ...]
    stop_signal: str | None
    plain: bool
    archives: tuple[tuple[str, str, str | None], ...]  # (layer name, bundle path, sha256): inputs, local code
    output_dirs: tuple[str, ...]  # workdir-relative directories the job writes into
    notes: tuple[str, ...]


_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _container_cmd(plan: _Plan, options: ImageOptions) -> list[str]:
    """The image's ``Cmd``: envcapture's init runs ``plan.cmd`` (`envcapture.image.command`)."""
    python = options.base_python if plan.plain else f"{VENV_PREFIX}/bin/python"
    return container_cmd(plan.cmd, python=python, plain=plan.plain)


def _job_plan(manifest: Mapping[str, Any], options: ImageOptions) -> _Plan:
    """The command, variables and files of the job (manifest 1.1 ``job`` section; a 1.0
    manifest gives only ``cmd``, and the variables come from ``options.env``).

    Variables are what the runtime exports: each input and output with a variable is
    ``<workdir>/<path>``, then ``args``, then ``env.vars`` (later wins); ``options.env``
    comes last. Dataset and s3-mount variables are the platform's, set at run time.
    """
    raw_job = manifest.get("job")
    job: Mapping[str, Any] = raw_job if isinstance(raw_job, dict) else {}
    cmd = str(job.get("cmd") or manifest.get("cmd") or "").strip()
    if not cmd:
        scripts = [e["target"] for e in manifest.get("entry_points", []) if e.get("kind") == "script"]
        if len(scripts) != 1:
            raise InputError("the bundle has no cmd (it was built without a config); build it from a config.yaml with cmd")
        cmd = f"python {scripts[0]}"
    root = options.workdir.rstrip("/")
    pairs: list[tuple[str, str]] = []
    notes: list[str] = []
    for item in list(job.get("inputs") or []) + list(job.get("outputs") or []):
        if item.get("var"):
            pairs.append((str(item["var"]), f"{root}/{item['path']}"))
    pairs += [(str(item["name"]), str(item["value"])) for item in job.get("args") or []]
    for item in job.get("env") or []:
        if item.get("value") is None:
            notes.append(f"env.vars {item.get('name')} has no value (not set where the bundle was built); left out of the image")
        else:
            pairs.append((str(item["name"]), str(item["value"])))
    pairs = [(k, v) for k, v in pairs if _IDENT_RE.match(k)] + list(options.env)
    mounted = [str(r.get("var") or r.get("id")) for r in list(job.get("datasets") or []) + list(job.get("s3_mounts") or [])]
    mounted += [str(r.get("var")) for r in job.get("output_datasets") or []]
    if mounted:
        notes.append(f"{', '.join(mounted)}: mounted by the platform at run time, not set in the image")
    artifacts = {str(a.get("path")): a.get("sha256") for a in manifest.get("artifacts", []) if isinstance(a, dict)}
    archives: list[tuple[str, str, str | None]] = []
    inputs = (job.get("inputs_archive") or {}).get("path")
    if inputs and str(inputs) in artifacts:
        archives.append(("inputs", str(inputs), artifacts[str(inputs)]))
    local = (manifest.get("local_code") or {}).get("path")
    if local and str(local) in artifacts:
        archives.append(("local-code", str(local), artifacts[str(local)]))
    shutdown = job.get("graceful_shutdown") or {}
    outputs = sorted({str(PurePosixPath(str(item["path"])).parent) for item in job.get("outputs") or []} - {"."})
    return _Plan(
        cmd=cmd,
        env=tuple(pairs),
        stop_signal=options.stop_signal or shutdown.get("signal"),
        plain=bool(job.get("plain")),
        archives=tuple(archives),
        output_dirs=tuple(outputs),
        notes=tuple(notes),
    )


# --- the base image -----------------------------------------------------------------------------


def _read_blob(layout: Path, digest: str, *, verify: bool = True) -> bytes:
    algo, _, hexdigest = digest.partition(":")
    path = layout / "blobs" / algo / hexdigest
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{layout}: blob {digest} is missing ({exc.strerror})") from exc
    if verify and algo == "sha256" and hashlib.sha256(data).hexdigest() != hexdigest:
        raise InputError(f"{layout}: blob {digest} does not match its digest")
    return data


def _pick_manifest(layout: Path, index: Mapping[str, Any], ref: str | None, shown: str) -> dict[str, Any]:
    entries = [m for m in index.get("manifests", []) if isinstance(m, dict)]
    if ref is not None:
        entries = [m for m in entries if (m.get("annotations") or {}).get(REF_NAME) == ref]
        if not entries:
            raise InputError(f"--base-oci {shown!r}: no manifest named {ref!r} in index.json")
    if len(entries) > 1:
        amd64 = [m for m in entries if (m.get("platform") or {}).get("architecture") in ("amd64", None)]
        entries = amd64 or entries
    if len(entries) != 1:
        names = sorted({str((m.get("annotations") or {}).get(REF_NAME)) for m in entries})
        raise InputError(f"--base-oci {shown!r}: {len(entries)} manifests; name one as DIR:REF (refs: {', '.join(names)})")
    entry = entries[0]
    if entry.get("mediaType") in _INDEX_TYPES:
        nested = json.loads(_read_blob(layout, str(entry["digest"])))
        candidates = [
            m
            for m in nested.get("manifests", [])
            if (m.get("platform") or {}).get("os") == "linux" and (m.get("platform") or {}).get("architecture") == "amd64"
        ]
        if not candidates:
            raise InputError(f"--base-oci {shown!r}: the image index has no linux/amd64 manifest")
        entry = candidates[0]
    return dict(entry)


def _load_oci_base(spec: str, blobs: Path, name: str | None, digest: str | None) -> BaseImage:
    path = Path(spec)
    ref: str | None = None
    if not (path / "index.json").is_file() and ":" in spec:
        head, _, tail = spec.rpartition(":")
        path, ref = Path(head), tail
    if not (path / "index.json").is_file():
        raise InputError(f"--base-oci {spec!r}: not an OCI image layout (no index.json)")
    try:
        index = json.loads((path / "index.json").read_text("utf-8"))
        entry = _pick_manifest(path, index, ref, spec)
        manifest = json.loads(_read_blob(path, str(entry["digest"])))
        config = json.loads(_read_blob(path, str(manifest["config"]["digest"])))
        diff_ids = list(config["rootfs"]["diff_ids"])
        descriptors = list(manifest["layers"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"--base-oci {spec!r}: malformed image layout ({exc})") from exc
    if len(diff_ids) != len(descriptors):
        raise InputError(f"--base-oci {spec!r}: {len(descriptors)} layers but {len(diff_ids)} diff_ids")
    if (config.get("architecture"), config.get("os")) not in (("amd64", "linux"), (None, None)):
        raise InputError(
            f"--base-oci {spec!r}: a {config.get('os')}/{config.get('architecture')} image; the target is linux/amd64"
        )
    layers: list[Layer] = []
    blobs.mkdir(parents=True, exist_ok=True)
    for i, (desc, diff_id) in enumerate(zip(descriptors, diff_ids, strict=True)):
        layer_digest = str(desc["digest"])
        algo, _, hexdigest = layer_digest.partition(":")
        src = path / "blobs" / algo / hexdigest
        if algo != "sha256" or not src.is_file():
            raise InputError(f"--base-oci {spec!r}: layer {layer_digest} is missing")
        if sha256_file(src) != hexdigest:
            raise InputError(f"--base-oci {spec!r}: layer {layer_digest} does not match its digest")
        shutil.copyfile(src, blobs / hexdigest)
        media = str(desc.get("mediaType", LAYER_MEDIA_TYPE))
        layers.append(
            Layer(
                name=f"base:{i}",
                digest=layer_digest,
                diff_id=str(diff_id),
                size=int(desc["size"]),
                media_type=_LAYER_TYPES.get(media, media),
            )
        )
    return BaseImage(name=name, digest=digest or str(entry["digest"]), source="oci", layers=tuple(layers), config=config)


def _resolve_base(options: ImageOptions, default: str, blobs: Path) -> BaseImage:
    name: str | None
    digest: str | None
    if options.base is not None:
        name, digest = parse_base(options.base)
    elif options.base_rootfs is None and options.base_oci is None:
        name, digest = parse_base(default)
    else:
        name, digest = None, None
    if options.base_rootfs is not None and options.base_oci is not None:
        raise InputError("--base-rootfs and --base-oci: give one base, not both")
    if options.base_oci is not None:
        return _load_oci_base(options.base_oci, blobs, name, digest)
    if options.base_rootfs is not None:
        layer = import_layer(Path(options.base_rootfs), blobs, name="base:0")
        return BaseImage(name=name, digest=digest, source="rootfs", layers=(layer,))
    return BaseImage(name=name, digest=digest, source="name")


# --- documents ----------------------------------------------------------------------------------


def _image_config(
    base: BaseImage, layers: Sequence[Layer], *, plan: _Plan, options: ImageOptions, created: str, python_version: str
) -> dict[str, Any]:
    base_cfg = dict(base.config or {})
    inner = dict(base_cfg.get("config") or {})
    inner.pop("Entrypoint", None)  # our Cmd is the whole command line
    inner["Env"] = _merge_env(list(inner.get("Env") or []), plan.env, venv=not plan.plain)
    inner["Cmd"] = _container_cmd(plan, options)
    inner["WorkingDir"] = options.workdir
    if plan.stop_signal:
        inner["StopSignal"] = plan.stop_signal
    labels = dict(inner.get("Labels") or {})
    labels["io.envcapture.prefix"] = VENV_PREFIX
    labels["io.envcapture.target-python"] = python_version
    labels["io.envcapture.base-python"] = options.base_python
    if base.name:
        labels[LABEL_BASE_NAME] = base.name
    if base.digest:
        labels[LABEL_BASE_DIGEST] = base.digest
    if not base.layers:
        labels["io.envcapture.rebase-required"] = "true"
    inner["Labels"] = labels
    base_history = [h for h in base_cfg.get("history") or [] if isinstance(h, dict)]
    if sum(1 for h in base_history if not h.get("empty_layer")) != len(base.layers):
        shown = base.reference or f"base {base.source}"
        base_history = [{"created": created, "created_by": f"envcapture image: {shown}"} for _ in base.layers]
    history = base_history + [
        {"created": created, "created_by": f"envcapture image: {layer.name}", "comment": f"envcapture {__version__}"}
        for layer in layers[len(base.layers) :]
    ]
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": inner,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": history,
    }


def _descriptor(media_type: str, data: bytes) -> tuple[dict[str, Any], str]:
    hexdigest = hashlib.sha256(data).hexdigest()
    return {"mediaType": media_type, "digest": f"sha256:{hexdigest}", "size": len(data)}, hexdigest


def _dockerfile_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def render_dockerfile(base: BaseImage, layers: Sequence[Layer], *, plan: _Plan, options: ImageOptions, repo_tag: str) -> str:
    """A Dockerfile that rebuilds the same file system on ``base`` with any engine."""
    lines = [
        f"# Generated by envcapture {__version__}: the layers of this OCI layout on top of the base.",
        f"# Build it with your own engine:  docker build -t {repo_tag} .",
    ]
    own = list(layers[len(base.layers) :])
    if base.reference:
        lines.append(f"FROM {base.reference}")
    else:
        lines.append("FROM scratch")
        own = list(layers)
    for layer in own:
        lines.append(f"# {layer.name}: {layer.files} files, {layer.unpacked_size} bytes")
        lines.append(f"ADD blobs/sha256/{layer.hex} /")
    if not plan.plain:
        lines.append(f'ENV PATH="{VENV_PREFIX}/bin:$PATH" VIRTUAL_ENV="{VENV_PREFIX}"')
    for name, value in plan.env:
        lines.append(f"ENV {name}={_dockerfile_quote(value)}")
    if plan.stop_signal:
        lines.append(f"STOPSIGNAL {plan.stop_signal}")
    lines.append(f"WORKDIR {options.workdir}")
    lines.append("ENTRYPOINT []")
    lines.append("CMD " + json.dumps(_container_cmd(plan, options)))
    return "\n".join(lines) + "\n"


# --- the build ----------------------------------------------------------------------------------


def _with_dirs(entries: Sequence[TreeEntry], workdir: str, subdirs: Sequence[str]) -> tuple[TreeEntry, ...]:
    dirs = [dir_entry(f"{workdir}/{d}" if workdir else d) for d in subdirs]
    if workdir:
        dirs.append(dir_entry(workdir))
    return with_parents([*entries, *dirs])


def _prepare_output(output: Path) -> None:
    if not output.exists():
        return
    if not output.is_dir():
        raise InputError(f"{output}: exists and is not a directory; refusing to replace it")
    if any(output.iterdir()) and read_image(output, missing_ok=True) is None:
        raise InputError(f"{output}: exists and is not an envcapture image directory; refusing to replace it")


def read_image(path: Path, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """``DIR/image.json``, checked for schema and major version.

    :raises InputError: missing (unless ``missing_ok``), unreadable, or another schema/major.
    """
    return read_document(
        Path(path) / IMAGE_JSON,
        schema=IMAGE_SCHEMA,
        version=IMAGE_SCHEMA_VERSION,
        what="image document",
        missing_hint=f"is {path} an envcapture image directory?",
        foreign_ok=missing_ok,
    )


def build_image(
    bundle: str | Path, output: str | Path, *, options: ImageOptions | None = None, docker_image: str | None = None
) -> ImageResult:
    """Build the image of ``bundle`` (a directory from `build_bundle`) into ``output``.

    ``docker_image`` is the config's ``env.docker`` image, the default base.

    :raises InputError: not a bundle; bad options; ``output`` holds something else.
    :raises BuildError: a wheel fails its hash check or cannot be installed.
    """
    options = options or ImageOptions()
    bundle = Path(bundle)
    output = Path(output).absolute()
    manifest = read_manifest(bundle)
    target = manifest.get("target") or {}
    if target.get("sys_platform", "linux") != "linux" or target.get("platform_machine", "x86_64") != "x86_64":
        raise InputError(
            f"{bundle}: the bundle targets {target.get('sys_platform')}/{target.get('platform_machine')}; images are linux/amd64"
        )
    python_version = str(target.get("python_version") or "")
    python_xy(python_version)
    plan = _job_plan(manifest, options)
    repo_tag = _check_repo_tag(options.repo_tag or default_repo_tag(None))
    mtime = options.source_date_epoch if options.source_date_epoch is not None else source_date_epoch()
    wheels = () if plan.plain else check_wheels(bundle, manifest)

    _prepare_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{output.name}.tmp-", dir=output.parent))
    tmp.chmod(0o755)  # mkdtemp makes 0700; the image directory is as readable as any output
    stage = Path(tempfile.mkdtemp(prefix=f".{output.name}.stage-", dir=output.parent))
    try:
        blobs = tmp / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        base = _resolve_base(options, default_base(python_version, docker_image), blobs)
        layers: list[Layer] = list(base.layers)
        if not plan.plain:
            skeleton = venv_entries(prefix=VENV_PREFIX, base_python=options.base_python, python_version=python_version)
            skeleton = with_parents([*skeleton, init_entry()])  # the init changes only with envcapture
            layers.append(write_layer(skeleton, blobs, name="venv", mtime=mtime))
        staged: list[StagedDistribution] = []
        for wheel in wheels:
            root = stage / "dists" / wheel.name
            root.mkdir(parents=True)
            staged.append(install_wheel(wheel, root, prefix=VENV_PREFIX, python_version=python_version))
        heavy = [d for d in staged if d.installed_size > options.heavy_layer_bytes]
        rest = [d for d in staged if d.installed_size <= options.heavy_layer_bytes]
        for dist in heavy:
            layers.append(write_layer(scan_tree(dist.root), blobs, name=f"dist:{dist.name}", mtime=mtime))
        if rest:
            layers.append(write_layer(staged_entries(rest), blobs, name="distributions", mtime=mtime))
        # Inputs, then the local code (what changes most often) last; the working directory
        # and the directories the job writes into are always in the last layer.
        workdir = options.workdir.strip("/")
        for name, rel, sha in plan.archives:
            tree = stage_local_code(bundle / rel, stage / name, workdir=options.workdir, expected_sha256=sha)
            if name == plan.archives[-1][0]:
                tree = _with_dirs(tree, workdir, plan.output_dirs)
            layers.append(write_layer(tree, blobs, name=name, mtime=mtime))
        if not plan.archives or plan.archives[-1][0] != "local-code":  # a plain job: the init is here
            own = (init_entry(),) if plan.plain else ()
            layers.append(write_layer(_with_dirs(own, workdir, plan.output_dirs), blobs, name="local-code", mtime=mtime))

        created = _rfc3339(mtime)
        config_doc = _image_config(base, layers, plan=plan, options=options, created=created, python_version=python_version)
        config_bytes = _canonical(config_doc)
        config_desc, config_hex = _descriptor(CONFIG_MEDIA_TYPE, config_bytes)
        atomic_write_bytes(blobs / config_hex, config_bytes, durable=False)
        manifest_doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config_desc,
            "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size} for layer in layers],
        }
        annotations = {k: v for k, v in ((LABEL_BASE_NAME, base.name), (LABEL_BASE_DIGEST, base.digest)) if v}
        if annotations:
            manifest_doc["annotations"] = annotations
        manifest_bytes = _canonical(manifest_doc)
        manifest_desc, manifest_hex = _descriptor(MANIFEST_MEDIA_TYPE, manifest_bytes)
        atomic_write_bytes(blobs / manifest_hex, manifest_bytes, durable=False)
        ref_name = repo_tag.rsplit(":", 1)[1]
        index_doc = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [
                {
                    **manifest_desc,
                    "annotations": {CONTAINERD_NAME: _containerd_name(repo_tag), REF_NAME: ref_name},
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
        atomic_write_bytes(tmp / "oci-layout", _canonical({"imageLayoutVersion": "1.0.0"}), durable=False)
        atomic_write_bytes(tmp / "index.json", _canonical(index_doc), durable=False)
        docker_manifest = [
            {
                "Config": f"blobs/sha256/{config_hex}",
                "RepoTags": [repo_tag],
                "Layers": [f"blobs/sha256/{layer.hex}" for layer in layers],
            }
        ]
        archive = [
            file_entry("oci-layout", source=tmp / "oci-layout"),
            file_entry("index.json", source=tmp / "index.json"),
            file_entry("manifest.json", data=_canonical(docker_manifest)),
        ]
        archive += [file_entry(f"blobs/sha256/{p.name}", source=p) for p in sorted(blobs.iterdir())]
        write_tar(with_parents(archive), tmp / IMAGE_TAR, mtime=mtime)
        atomic_write_text(tmp / DOCKERFILE, render_dockerfile(base, layers, plan=plan, options=options, repo_tag=repo_tag))
        atomic_write_text(tmp / ".dockerignore", f"{IMAGE_TAR}\n{IMAGE_JSON}\n")
        notes: list[str] = list(plan.notes)
        if not base.layers:
            notes.append(
                f"the base {base.reference} is known only by name: its layers are not in this image, which must be "
                f"rebased on it (build {DOCKERFILE} with an engine, or give --base-oci/--base-rootfs)"
            )
        result = ImageResult(
            path=output,
            digest=manifest_desc["digest"],
            config_digest=config_desc["digest"],
            manifest_size=len(manifest_bytes),
            repo_tag=repo_tag,
            layers=tuple(layers),
            base=base,
            rebase_required=not base.layers,
            cmd=tuple(_container_cmd(plan, options)),
            env=tuple(config_doc["config"]["Env"]),
            workdir=options.workdir,
            base_python=options.base_python,
            notes=tuple(notes),
        )
        atomic_write_text(tmp / IMAGE_JSON, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        replace_directory(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return result


def image_layout_blob(layout: Path, digest: str) -> Path:
    """The path of blob ``digest`` in the OCI layout ``layout``."""
    algo, _, hexdigest = digest.partition(":")
    return Path(layout) / "blobs" / algo / hexdigest


def layout_manifest(layout: Path) -> tuple[dict[str, Any], bytes, str]:
    """(manifest, its bytes, its digest) of the single image in the OCI layout ``layout``.

    :raises InputError: not a layout with exactly one manifest.
    """
    try:
        index = json.loads((Path(layout) / "index.json").read_text("utf-8"))
        entry = _pick_manifest(Path(layout), index, None, str(layout))
        data = _read_blob(Path(layout), str(entry["digest"]))
        return json.loads(data), data, str(entry["digest"])
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{layout}: not an OCI image layout ({exc})") from exc
