"""`Closure` -> lock texts: ``requirements.lock.txt``, ``pylock.toml``, ``environment.json``. Pure, except `write_lock`.

Every renderer is deterministic: sorted packages, sorted ``# via`` sources and hashes,
no timestamps, usernames or absolute paths. Credentials never appear in clear: in the
requirements lock a URL's ``user:token@`` becomes ``${ENVCAPTURE_INDEX_TOKEN}@`` (pip
expands ``${VAR}`` in requirements files), elsewhere it is masked as ``***@``.

Where each file came from, when known (`Artifact.found_on`: the index or find-links
location pip found it on), is a ``# from`` line under the pin, pylock's ``index`` of the
package (an index only) and ``found_on`` in ``environment.json``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.pylock import Pylock, PylockValidationError

from envcapture._fs import GENERATOR, atomic_write_text, document_header, sha256_file
from envcapture._urls import mask_url
from envcapture.analysis.api import ConfigLike, EntryPointsLike
from envcapture.build.manifest import REQUIREMENTS_LOCK
from envcapture.environment.model import EnvSnapshot
from envcapture.errors import BuildError
from envcapture.model import Target
from envcapture.resolution.capture import Capture, capture
from envcapture.resolution.model import Artifact, Closure, Delivery, OriginKind, PackageSource, Pin, SourceKind, Via
from envcapture.resolution.sources import DEFAULT_INDEX

# The TOML reader that checks what we write; on Python 3.10 without tomli the dict is
# validated instead. Typed as a module-or-None so mypy agrees with or without tomli.
_toml: types.ModuleType | None
if sys.version_info >= (3, 11):
    import tomllib

    _toml = tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli

        _toml = tomli
    except ImportError:
        _toml = None

__all__ = [
    "ENVIRONMENT_SCHEMA",
    "ENVIRONMENT_SCHEMA_VERSION",
    "LocalFileHash",
    "RenderOptions",
    "WrittenLock",
    "built_from_sdist",
    "credential_env_vars",
    "hash_local_files",
    "lock_job",
    "lock_url",
    "render_environment_json",
    "render_pylock",
    "render_requirements",
    "target_json",
    "write_lock",
]


def __dir__() -> list[str]:
    return __all__


ENVIRONMENT_SCHEMA = "envcapture/environment"
ENVIRONMENT_SCHEMA_VERSION = "1.3"  # 1.1: local_files; 1.2: installed_extras, via reasons and rule kinds; 1.3: found_on

PYLOCK = "pylock.toml"
ENVIRONMENT_JSON = "environment.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderOptions:
    """How to render the requirements lock.

    ``command`` is printed in the header as the way to regenerate the file;
    ``wheelhouse`` (a directory relative to the lock) is added as ``--find-links`` when
    some pin is shipped as a wheel; ``target`` is named in the header.
    """

    command: str = "envcapture lock"
    target: Target | None = None
    wheelhouse: str | None = "wheelhouse"


# --- credentials --------------------------------------------------------------------------

_USERINFO_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@]*)@(?P<rest>.*)$")
_ENV_REF_RE = re.compile(r"(\$\{[A-Z0-9_]+\})(:\$\{[A-Z0-9_]+\})?")


def _literal_credentials(url: str) -> tuple[str, str] | None:
    """(host[:port], userinfo) when ``url`` carries credentials written in clear."""
    match = _USERINFO_RE.match(url)
    if match is None:
        return None
    info = match.group("userinfo")
    if info == "git" or _ENV_REF_RE.fullmatch(info):
        return None
    host = urlsplit(f"{match.group('scheme')}{match.group('rest')}").netloc.lower()
    return host, info


def _closure_urls(closure: Closure) -> list[str]:
    opts = closure.options
    urls = [u for u in (opts.index_url, *opts.extra_index_urls, *opts.find_links) if u]
    for pin in closure.pins:
        for url in (pin.origin.url, pin.origin.index_url, *(a.url for a in pin.artifacts)):
            if url:
                urls.append(url)
    return urls


def credential_env_vars(closure: Closure) -> dict[str, str]:
    """``{host: VAR}``: the variable that must hold ``user:token`` for each host whose
    credentials were written in clear. One host: ``ENVCAPTURE_INDEX_TOKEN``; several:
    ``ENVCAPTURE_INDEX_TOKEN_<HOST>`` each."""
    hosts = sorted({found[0] for url in _closure_urls(closure) if (found := _literal_credentials(url))})
    if len(hosts) == 1:
        return {hosts[0]: "ENVCAPTURE_INDEX_TOKEN"}
    return {h: "ENVCAPTURE_INDEX_TOKEN_" + re.sub(r"[^A-Z0-9]+", "_", h.upper()).strip("_") for h in hosts}


def lock_url(url: str, env_vars: Mapping[str, str]) -> str:
    """``url`` with clear credentials replaced by the ``${VAR}`` of its host."""
    found = _literal_credentials(url)
    if found is None:
        return url
    match = _USERINFO_RE.match(url)
    assert match is not None
    var = env_vars.get(found[0])
    if var is None:
        return mask_url(url)
    return f"{match.group('scheme')}${{{var}}}@{match.group('rest')}"


def _public_url(url: str | None) -> str | None:
    """For JSON: credentials masked, local ``file:`` URLs reduced to their last segment."""
    if url is None:
        return None
    if urlsplit(url).scheme == "file":
        name = url.rstrip("/").rsplit("/", 1)[-1]
        return f"file:<local>/{name}"
    return mask_url(url)


# --- requirements.lock.txt ------------------------------------------------------------------


def _via_lines(pin: Pin) -> list[str]:
    sources = sorted({str(v) for v in pin.via})
    if not sources:
        return []
    if len(sources) == 1:
        return [f"    # via {sources[0]}"]
    return ["    # via", *(f"    #   {s}" for s in sources)]


def _found_on(pin: Pin) -> list[PackageSource]:
    """The sources the pin's files were found on (one, unless two files came from two)."""
    return sorted({a.found_on for a in pin.artifacts if a.found_on is not None})


def _hashable(closure: Closure) -> bool:
    """pip's hash-checking mode needs a hash for every line and refuses VCS lines."""
    return bool(closure.pins) and all(
        p.hashes and not (p.delivery is Delivery.DIRECT and p.origin.kind is OriginKind.VCS) for p in closure.pins
    )


def _requirement_line(pin: Pin, env_vars: Mapping[str, str]) -> str:
    extras = f"[{','.join(sorted(pin.extras))}]" if pin.extras else ""
    if pin.delivery is Delivery.DIRECT:
        ref = pin.origin.direct_reference()
        if ref:
            return f"{pin.name}{extras} @ {lock_url(ref, env_vars)}"
    return f"{pin.name}{extras}=={pin.version}"


def _iter_requirement_lines(closure: Closure, options: RenderOptions) -> Iterator[str]:
    env_vars = credential_env_vars(closure)
    hashes = _hashable(closure)
    opts = closure.options
    yield "#"
    what = f" for {options.target.describe()}" if options.target else ""
    yield f"# This file is autogenerated by {GENERATOR}{what}."
    yield "# To regenerate it, run:"
    yield "#"
    yield f"#    {options.command}"
    yield "#"
    if not hashes and closure.pins:
        vcs = [p.name for p in closure.pins if p.delivery is Delivery.DIRECT and p.origin.kind is OriginKind.VCS]
        missing = sum(1 for p in closure.pins if not p.hashes and p.name not in vcs)
        if vcs:
            yield f"# No --hash lines: pip's hash-checking mode refuses VCS requirements ({', '.join(vcs)})."
        if missing:
            yield f"# No --hash lines: {missing} of {len(closure.pins)} packages have no known artifact hash yet"
            yield "# (pip's hash-checking mode needs one for every package); they are added"
            yield "# once the wheelhouse is built."
        yield "#"
    if opts.no_deps:
        yield "# Install with pip's --no-deps (env.python.pip.no-deps: true);"
        yield "# pip does not accept --no-deps inside a requirements file."
        yield "#"
    for host, var in sorted(env_vars.items()):
        yield f"# Set {var} to the credentials for {host} (user:token); pip expands it."
    if env_vars:
        yield "#"
    if opts.no_index:
        yield "--no-index"
    elif opts.index_url:
        yield f"--index-url {lock_url(opts.index_url, env_vars)}"
    for url in opts.extra_index_urls:
        yield f"--extra-index-url {lock_url(url, env_vars)}"
    for host in opts.trusted_hosts:
        yield f"--trusted-host {host}"
    for link in opts.find_links:
        if urlsplit(link).scheme in ("http", "https"):
            yield f"--find-links {lock_url(link, env_vars)}"
    if options.wheelhouse and any(p.delivery is Delivery.WHEELHOUSE for p in closure.pins):
        yield f"--find-links {options.wheelhouse}"
    if opts.pre:
        yield "--pre"
    if opts.prefer_binary:
        yield "--prefer-binary"
    yield ""
    for pin in closure.pins:
        line = _requirement_line(pin, env_vars)
        if hashes:
            digests = pin.hashes
            yield f"{line} \\"
            for i, digest in enumerate(digests):
                tail = " \\" if i < len(digests) - 1 else ""
                yield f"    --hash={digest}{tail}"
        else:
            yield line
        yield from _via_lines(pin)
        for source in _found_on(pin):
            yield f"    # from {mask_url(str(source))}"
        if pin.delivery is Delivery.WHEELHOUSE:
            yield f"    # shipped in the wheelhouse ({pin.origin.kind.value} install)"
        elif (sdist := built_from_sdist(pin)) is not None:
            yield f"    # shipped in the wheelhouse, built from {sdist.filename} (the index has no wheel for the target)"
    if closure.dropped:
        yield ""
        yield "# Left out for the target:"
        for item in closure.dropped:
            yield f"#   {item.name}: {item.reason}"
    if closure.unresolved_for_target:
        yield ""
        yield "# Needed on the target but not resolved (not installed locally):"
        for unresolved in closure.unresolved_for_target:
            yield f"#   {unresolved.requirement()}"


def render_requirements(closure: Closure, options: RenderOptions | None = None) -> str:
    """The pip-tools style requirements lock of ``closure``: header, pip options, one
    ``name==version`` (or ``name @ git+url@commit``) per pin with ``--hash`` lines when
    every pin has a known hash, and ``# via`` lines."""
    lines = list(_iter_requirement_lines(closure, options or RenderOptions()))
    return "\n".join(lines) + "\n"


# --- pylock.toml -----------------------------------------------------------------------------


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(type(value))  # pragma: no cover - only the types above are rendered


def _toml_document(doc: Mapping[str, Any]) -> str:
    """A small TOML writer for pylock's shape: scalars, then ``[[packages]]`` with
    ``[packages.x]`` sub-tables and ``[[packages.wheels]]`` arrays."""
    out: list[str] = []
    for key, value in doc.items():
        if key != "packages":
            out.append(f"{key} = {_toml_value(value)}")
    if not doc["packages"]:
        out.append("packages = []")  # a job with no third-party distribution
    for package in doc["packages"]:
        out.append("")
        out.append("[[packages]]")
        tables: list[tuple[str, Any]] = []
        for key, value in package.items():
            if isinstance(value, Mapping) or (isinstance(value, list) and value and isinstance(value[0], Mapping)):
                tables.append((key, value))
            else:
                out.append(f"{key} = {_toml_value(value)}")
        for key, value in tables:
            if isinstance(value, Mapping):
                out.append(f"[packages.{key}]")
                out.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
            else:
                for item in value:
                    out.append(f"[[packages.{key}]]")
                    out.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
    return "\n".join(out) + "\n"


def _hash_table(hashes: Sequence[str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for item in sorted(hashes):
        algo, _, digest = item.partition(":")
        table.setdefault(algo, digest)
    return table


def _environment_marker(target: Target) -> str:
    major, minor = target.python_minor
    return (
        f'sys_platform == "{target.sys_platform}" and platform_machine == "{target.platform_machine}" '
        f'and implementation_name == "{target.implementation_name}" and python_version == "{major}.{minor}"'
    )


def built_from_sdist(pin: Pin) -> Artifact | None:
    """The sdist a pin's wheel was built from here: the wheelhouse gives such a pin its
    wheel (no URL: it is in the bundle) and the index's sdist it came from."""
    wheels = [a for a in pin.artifacts if a.filename.endswith(".whl")]
    sdists = [a for a in pin.artifacts if not a.filename.endswith(".whl") and a.url is None]
    return sdists[0] if sdists and wheels and all(w.url is None for w in wheels) else None


def _pylock_package(pin: Pin, closure: Closure) -> dict[str, Any]:
    package: dict[str, Any] = {"name": pin.name, "version": pin.version}
    if pin.requires_python:
        package["requires-python"] = pin.requires_python
    origin = pin.origin
    if pin.delivery is Delivery.DIRECT and origin.kind is OriginKind.VCS:
        vcs: dict[str, Any] = {"type": origin.vcs or "git", "url": mask_url(origin.url or "")}
        if origin.requested_revision:
            vcs["requested-revision"] = origin.requested_revision
        vcs["commit-id"] = origin.commit_id or ""
        if origin.subdirectory:
            vcs["subdirectory"] = origin.subdirectory
        package["vcs"] = vcs
        return package
    if pin.delivery is Delivery.DIRECT and origin.kind is OriginKind.URL and pin.artifacts:
        archive: dict[str, Any] = {"url": mask_url(origin.url or ""), "hashes": _hash_table(pin.hashes)}
        if origin.subdirectory:
            archive["subdirectory"] = origin.subdirectory
        package["archive"] = archive
        return package
    if pin.delivery is Delivery.INDEX or origin.kind is OriginKind.INDEX:
        found = _found_on(pin)
        if not found:  # not known: the index pip asks first
            package["index"] = mask_url(origin.index_url or closure.options.index_url or DEFAULT_INDEX)
        elif found[0].kind is SourceKind.INDEX:
            package["index"] = mask_url(found[0].location)
        # a find-links location is no index: the wheel's path says where it is
    wheels = [a for a in pin.artifacts if a.filename.endswith(".whl")]
    sdists = [a for a in pin.artifacts if not a.filename.endswith(".whl")]
    built_from = built_from_sdist(pin)
    if sdists and built_from is None:
        sdist = sdists[0]
        package["sdist"] = _file_entry(sdist.filename, sdist.url, sdist.hashes, sdist.size)
    if wheels:
        package["wheels"] = [_file_entry(w.filename, w.url, w.hashes, w.size) for w in sorted(wheels)]
    if built_from is not None:
        # PEP 751 wants a URL or a path for an sdist; the bundle ships only the wheel built
        # from it, so its provenance (file and hash) is a tool entry
        source: dict[str, Any] = {"name": built_from.filename}
        if built_from.size is not None:
            source["size"] = built_from.size
        source["hashes"] = _hash_table(built_from.hashes)
        package["tool"] = {"envcapture": {"built-from-sdist": source}}
    return package


def _file_entry(filename: str, url: str | None, hashes: Sequence[str], size: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": filename}
    if url is not None and urlsplit(url).scheme != "file":
        entry["url"] = mask_url(url)
    else:
        entry["path"] = f"wheelhouse/{filename}"
    if size is not None:
        entry["size"] = size
    entry["hashes"] = _hash_table(hashes)
    return entry


def render_pylock(closure: Closure, target: Target) -> str:
    """The PEP 751 ``pylock.toml`` of ``closure`` for ``target``, checked with
    ``packaging.pylock.Pylock.from_dict`` before it is returned.

    :raises BuildError: a pin has no known artifact (PEP 751 needs a hashed file, a VCS
        commit or an archive for every package), or the document does not validate.
    """
    missing = [
        p.name
        for p in closure.pins
        if not p.artifacts and not (p.delivery is Delivery.DIRECT and p.origin.kind is OriginKind.VCS)
    ]
    if missing:
        raise BuildError(
            f"pylock.toml for {target.describe()}: no artifact hashes known for "
            f"{', '.join(missing)}; attach them from the index (envcapture.resolution.indexes.attach_artifacts) "
            "or build the wheelhouse first"
        )
    major, minor = target.python_minor
    doc: dict[str, Any] = {
        "lock-version": "1.0",
        "environments": [_environment_marker(target)],
        "requires-python": f"=={major}.{minor}.*",
        "created-by": "envcapture",
        "packages": [_pylock_package(p, closure) for p in closure.pins],
    }
    text = _toml_document(doc)
    try:
        # parse our own text back when a TOML reader exists, so the writer is checked too
        Pylock.from_dict(_toml.loads(text) if _toml is not None else doc)
    except (PylockValidationError, ValueError) as exc:
        raise BuildError(f"pylock.toml for {target.describe()} does not validate: {exc}") from exc
    return text


# --- environment.json ----------------------------------------------------------------------


def _via_json(via: Via) -> dict[str, str]:
    """``kind`` and ``source``; ``reason`` for the kinds that add a distribution the code does not import."""
    out = {"kind": via.kind.value, "source": via.source}
    if via.reason:
        out["reason"] = via.reason
    return out


def _pin_json(pin: Pin) -> dict[str, Any]:
    origin = pin.origin
    return {
        "name": pin.name,
        "display_name": pin.display_name,
        "version": pin.version,
        "installed_version": pin.installed_version or None,
        "delivery": pin.delivery.value,
        "origin": {
            "kind": origin.kind.value,
            "url": _public_url(origin.url),
            "vcs": origin.vcs,
            "commit_id": origin.commit_id,
            "requested_revision": origin.requested_revision,
            "subdirectory": origin.subdirectory,
            "archive_hash": origin.archive_hash,
            "index_url": _public_url(origin.index_url),
        },
        "extras": sorted(pin.extras),
        "installed_extras": sorted(pin.installed_extras),
        "local_label": pin.local_label,
        "marker_reason": pin.marker_reason,
        "via": [_via_json(v) for v in sorted(pin.via)],
        "hashes": list(pin.hashes),
        "found_on": [{"kind": s.kind.value, "location": mask_url(s.location)} for s in _found_on(pin)],
    }


def target_json(target: Target) -> dict[str, Any]:
    """The target as every JSON document writes it (environment.json, manifest.json)."""
    return {
        "python_version": target.python_version,
        "implementation_name": target.implementation_name,
        "sys_platform": target.sys_platform,
        "platform_machine": target.platform_machine,
        "manylinux": target.manylinux,
        "cuda": target.cuda,
        "accelerator": target.accelerator,
    }


def render_environment_json(
    closure: Closure,
    target: Target,
    *,
    snapshot: EnvSnapshot | None = None,
    decisions: Sequence[Any] = (),
    local_files: Sequence[LocalFileHash] | None = None,
) -> str:
    """The whole captured environment as JSON (``schema: envcapture/environment``):
    target, analysed Python, pip options (credentials masked), distributions with their
    origin, what was dropped and every decision with its reason. Deterministic; no
    absolute paths, usernames or credentials. ``decisions`` adds decisions made outside
    the closure (manual-mode notes, option merges); ``local_files`` (project-relative
    paths with their sha256 and size, sorted here) are the job's own files that ship."""
    opts = closure.options
    all_decisions = sorted({*closure.decisions, *decisions}, key=lambda d: (d.subject, d.action, d.reason))
    doc: dict[str, Any] = {
        **document_header(ENVIRONMENT_SCHEMA, ENVIRONMENT_SCHEMA_VERSION),
        "target": target_json(target),
        "analysed_python": (
            {
                "version": snapshot.python_version,
                "implementation": snapshot.implementation,
                "sys_platform": snapshot.sys_platform,
                "platform_machine": snapshot.platform_machine,
            }
            if snapshot is not None
            else None
        ),
        "pip_options": {
            "index_url": _public_url(opts.index_url),
            "extra_index_urls": [_public_url(u) for u in opts.extra_index_urls],
            "trusted_hosts": list(opts.trusted_hosts),
            "find_links": [_public_url(u) if "://" in u else u for u in opts.find_links],
            "no_index": opts.no_index,
            "no_deps": opts.no_deps,
            "pre": opts.pre,
            "prefer_binary": opts.prefer_binary,
            "torch_cuda": opts.torch_cuda,
        },
        "credential_env": dict(sorted(credential_env_vars(closure).items())),
        "distributions": [_pin_json(p) for p in closure.pins],
        "unresolved_for_target": [
            {
                "name": u.name,
                "specifier": u.specifier,
                "extras": sorted(u.extras),
                "required_by": [str(v) for v in u.required_by],
                "reason": u.reason,
            }
            for u in closure.unresolved_for_target
        ],
        "dropped": [{"name": d.name, "reason": d.reason} for d in closure.dropped],
        "variant_swaps": [
            {
                "name": s.name,
                "installed_version": s.installed_version,
                "version": s.version,
                "build": s.build,
                "added": list(s.added),
                "removed": list(s.removed),
            }
            for s in closure.swaps
        ],
        "decisions": [{"subject": d.subject, "action": d.action, "reason": d.reason} for d in all_decisions],
    }
    if local_files is not None:
        doc["local_files"] = [
            {"path": f.path, "sha256": f.sha256, "size": f.size} for f in sorted(local_files, key=lambda f: f.path)
        ]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# --- EDGE ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalFileHash:
    """A local file that ships with the job: project-relative POSIX path, sha256, size."""

    path: str
    sha256: str
    size: int


def hash_local_files(project: Path, paths: Sequence[str]) -> tuple[LocalFileHash, ...]:
    """EDGE: sha256 and size of each project-relative file in ``paths`` that is a file."""
    out = []
    for rel in paths:
        full = project / rel
        if full.is_file():
            out.append(LocalFileHash(path=rel, sha256=sha256_file(full), size=full.stat().st_size))
    return tuple(sorted(out, key=lambda f: f.path))


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenLock:
    """The files `write_lock` wrote, and why one was left out (``pylock.toml`` without hashes)."""

    paths: tuple[Path, ...]
    skipped: tuple[tuple[str, str], ...] = ()


def write_lock(
    directory: str | Path,
    closure: Closure,
    target: Target,
    *,
    options: RenderOptions | None = None,
    snapshot: EnvSnapshot | None = None,
    local_files: Sequence[LocalFileHash] | None = None,
) -> WrittenLock:
    """EDGE: write ``requirements.lock.txt``, ``pylock.toml`` and ``environment.json`` into
    ``directory``, each atomically (temp file + ``os.replace`` in the same directory).
    Everything is rendered before anything is written. ``pylock.toml`` is skipped (and
    the reason returned) while some pin has no known artifact hash."""
    out = Path(directory)
    render = options or RenderOptions(target=target)
    texts: list[tuple[str, str]] = [(REQUIREMENTS_LOCK, render_requirements(closure, render))]
    skipped: list[tuple[str, str]] = []
    try:
        texts.append((PYLOCK, render_pylock(closure, target)))
    except BuildError as exc:
        skipped.append((PYLOCK, str(exc)))
    texts.append((ENVIRONMENT_JSON, render_environment_json(closure, target, snapshot=snapshot, local_files=local_files)))
    paths = []
    for name, text in texts:
        path = out / name
        atomic_write_text(path, text)
        paths.append(path)
    return WrittenLock(paths=tuple(paths), skipped=tuple(skipped))


def lock_job(
    result: Capture | ConfigLike,
    out_dir: str | os.PathLike[str],
    *,
    command: str = "envcapture lock",
    entry_points: EntryPointsLike = (),
    project: str | os.PathLike[str] | None = None,
    python: str | None = None,
    target_python: str | None = None,
    accelerator: str | None = None,
) -> WrittenLock:
    """EDGE: write the lock files of ``result`` (``requirements.lock.txt``, ``pylock.toml``
    when every pin has a hash, ``environment.json``) into ``out_dir``.

    ``result`` is a `Capture`, or the job's config (a path, a `JobConfig` or a parsed
    mapping) to capture first with ``entry_points``, ``project``, ``python`` and
    ``target_python`` and ``accelerator``.
    """
    if not isinstance(result, Capture):
        result = capture(
            entry_points, config=result, project=project, python=python, target_python=target_python, accelerator=accelerator
        )
    out = Path(os.fspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    closure = result.closure
    if result.decisions:
        closure = replace(closure, decisions=tuple(sorted({*closure.decisions, *result.decisions})))
    # The job's own files with their hashes: what the analysis reached, or in manual mode the
    # files among the given local-paths (directories are expanded by the bundle builder).
    paths = result.local_paths if result.local_paths is not None else [f.path for f in result.analysis.local_files]
    return write_lock(
        out,
        closure,
        result.target,
        options=RenderOptions(command=command, target=result.target),
        snapshot=result.snapshot,
        local_files=hash_local_files(result.project, paths),
    )
