"""Direct requirements + `EnvSnapshot` + `Target` -> `Closure` of exact pins, pure except where marked EDGE.

The stage answers, for every distribution the job needs on the target: which version,
from where (PEP 610 identity: index, VCS commit, URL, local directory, editable), why
(the import sites or parent distributions), and how it reaches the VM (`Delivery`).
Requires-Dist markers are evaluated for the *target* environment, never the local one.
Every choice that is not obvious is recorded as a `Decision` with its reason.

What the target needs but the local environment lacks is resolved by
`envcapture.resolution.target.complete_for_target` (EDGE, ``uv pip compile``); manual mode
and requirements files are turned into direct requirements by `envcapture.resolution.manual`.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.errors import ResolutionError
from envcapture.model import DistName, Target, dist_name

__all__ = [
    "Artifact",
    "Closure",
    "Decision",
    "Delivery",
    "DirectRequirement",
    "Dropped",
    "Origin",
    "OriginKind",
    "Pin",
    "ResolveOptions",
    "Unresolved",
    "Via",
    "ViaKind",
    "mask_url",
    "origin_from_direct_url",
    "resolve",
]


def __dir__() -> list[str]:
    return __all__


log = logging.getLogger(__name__)

TORCH_INDEX = "https://download.pytorch.org/whl"
# Packages whose builds differ per accelerator; the nvidia-* CUDA libraries ride along.
_TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio", "triton", "pytorch-triton"})
# The three that the PyTorch index publishes per variant (+cpu, +cu121, ...).
_TORCH_VARIANTS = frozenset({"torch", "torchvision", "torchaudio"})
# Distributions that only exist for (or only make sense on) a desktop platform; a Linux
# target never needs them even when nothing in their metadata says so.
_LOCAL_PLATFORM_ONLY = {
    "pywin32": "Windows only (win32 APIs)",
    "pywin32-ctypes": "Windows only (win32 APIs)",
    "pypiwin32": "Windows only (win32 APIs)",
    "wmi": "Windows only (WMI)",
    "winshell": "Windows only",
    "pywinpty": "Windows only (ConPTY)",
    "appnope": "macOS only (App Nap)",
    "pyobjc": "macOS only (Objective-C bridge)",
    "pyobjc-core": "macOS only (Objective-C bridge)",
}


def is_torch_family(name: str) -> bool:
    """torch, torchvision, torchaudio, triton and the nvidia-* CUDA companions."""
    return name in _TORCH_FAMILY or name.startswith("nvidia-")


# --- data ---------------------------------------------------------------------------------


class OriginKind(str, enum.Enum):
    INDEX = "index"
    VCS = "vcs"
    URL = "url"
    LOCAL_DIR = "local-dir"
    EDITABLE = "editable"


class Delivery(str, enum.Enum):
    """How a pinned distribution reaches the target."""

    INDEX = "index"  # name==version from the configured (or a mapped) index
    DIRECT = "direct"  # a PEP 508 direct reference the target fetches: VCS commit or URL
    WHEELHOUSE = "wheelhouse"  # a wheel built or copied here and shipped with the job


class ViaKind(str, enum.Enum):
    IMPORT = "import"  # an import site, "train.py:3"
    REQUIREMENT = "requirement"  # a requirements-file line, "requirements.txt:4"
    PARENT = "parent"  # a distribution whose Requires-Dist names this one


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Via:
    """Why a distribution is in the closure: ``source`` is a site, a file:line or a name."""

    source: str
    kind: ViaKind = ViaKind.PARENT

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Origin:
    """Where an installed distribution came from (PEP 610 ``direct_url.json``).

    ``archive_hash`` is ``"sha256=<hex>"`` as in PEP 610; ``index_url`` is set only when a
    pin must come from a specific index (a PyTorch variant index).
    """

    kind: OriginKind
    url: str | None = None
    vcs: str | None = None
    commit_id: str | None = None
    requested_revision: str | None = None
    subdirectory: str | None = None
    archive_hash: str | None = None
    index_url: str | None = None

    @property
    def is_local(self) -> bool:
        """The URL points at this machine (``file://``): the target cannot fetch it."""
        return self.url is not None and urlsplit(self.url).scheme == "file"

    def direct_reference(self) -> str | None:
        """The PEP 508 URL to install this origin exactly: ``git+https://h/r.git@<commit>``."""
        if self.url is None or self.kind in (OriginKind.INDEX, OriginKind.EDITABLE, OriginKind.LOCAL_DIR):
            return None
        url = self.url
        if self.kind is OriginKind.VCS:
            url = f"{self.vcs}+{url}" if self.vcs and not url.startswith(f"{self.vcs}+") else url
            if self.commit_id:
                url = f"{url}@{self.commit_id}"
        if self.subdirectory:
            url = f"{url}#subdirectory={self.subdirectory}"
        return url


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Artifact:
    """One file a pin can be installed from, with its hashes (``"sha256:<hex>"``)."""

    filename: str
    hashes: tuple[str, ...]
    url: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Pin:
    """One distribution of the closure, at the exact version the target installs.

    ``version`` is what the target asks for (a mapped PyTorch variant may differ from
    ``installed_version``). ``local_label`` is the local version label found installed
    (``"cpu"`` for ``2.13.0+cpu``). ``source`` is the absolute local path a wheelhouse
    build reads (never rendered into any output).
    """

    name: DistName
    display_name: str
    version: str
    origin: Origin
    delivery: Delivery = Delivery.INDEX
    installed_version: str = ""
    extras: frozenset[str] = frozenset()
    via: tuple[Via, ...] = ()
    marker_reason: str | None = None
    local_label: str | None = None
    requires_python: str | None = None
    artifacts: tuple[Artifact, ...] = ()
    source: str | None = None

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(sorted({h for a in self.artifacts for h in a.hashes}))


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Dropped:
    """A distribution left out for the target, and why."""

    name: DistName
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Decision:
    """A choice made while resolving: ``subject`` (a name or an option), ``action``
    (kebab-case, stable), ``reason`` (one sentence for people)."""

    subject: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Unresolved:
    """A distribution the target needs that the local environment does not have."""

    name: DistName
    specifier: str = ""
    extras: frozenset[str] = frozenset()
    required_by: tuple[Via, ...] = ()
    reason: str = ""

    def requirement(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveOptions:
    """pip options for the target (``env.python.pip`` merged with a requirements file).

    ``torch_cuda``: ``None`` maps PyTorch local builds to the plain index release (PyPI's
    Linux wheels are CUDA builds); ``"12.1"`` pins ``+cu121`` from the PyTorch index;
    ``"cpu"`` pins ``+cpu`` from it.
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_deps: bool = False
    torch_cuda: str | None = None
    no_index: bool = False
    pre: bool = False
    prefer_binary: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectRequirement:
    """A distribution the job needs directly. ``via``: import sites or file:line.

    ``declared`` marks one that a person wrote (a requirements file): how its specifier
    was pinned is then reported as a decision.
    """

    name: DistName
    extras: frozenset[str] = frozenset()
    via: tuple[str, ...] = ()
    specifier: str = ""
    url: str | None = None
    editable: bool = False
    markers: str | None = None
    declared: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Closure:
    """Everything the target installs, sorted by name, with what was left out and why."""

    pins: tuple[Pin, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    decisions: tuple[Decision, ...] = ()
    unresolved_for_target: tuple[Unresolved, ...] = ()
    options: ResolveOptions = field(default_factory=ResolveOptions)

    def pin(self, name: str) -> Pin | None:
        wanted = dist_name(name)
        return next((p for p in self.pins if p.name == wanted), None)


# --- credentials --------------------------------------------------------------------------

_USERINFO_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@]*)@")


def mask_url(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://***@host/x``; ``${VAR}`` references and
    the ``git@`` user of SSH URLs are kept (PEP 610 keeps them too)."""
    match = _USERINFO_RE.match(url)
    if match is None:
        return url
    info = match.group("userinfo")
    if info == "git" or re.fullmatch(r"(\$\{[A-Z0-9_]+\})(:\$\{[A-Z0-9_]+\})?", info):
        return url
    return f"{match.group('scheme')}***@{url[match.end() :]}"


# --- PEP 610 -------------------------------------------------------------------------------


def origin_from_direct_url(text: str | None, *, editable_roots: Sequence[str] = ()) -> Origin:
    """The `Origin` described by a PEP 610 ``direct_url.json`` (``None``: an index release).

    :raises ResolutionError: the JSON is not a PEP 610 document.
    """
    if text is None:
        if editable_roots:  # a legacy (egg-link / setup.py develop) editable install
            return Origin(kind=OriginKind.EDITABLE, url=Path(editable_roots[0]).as_uri())
        return Origin(kind=OriginKind.INDEX)
    try:
        data = json.loads(text)
        url = data["url"]
        if not isinstance(data, dict) or not isinstance(url, str):
            raise TypeError("url is not a string")
    except (ValueError, KeyError, TypeError) as exc:
        raise ResolutionError(f"direct_url.json is not PEP 610 JSON: {exc}") from exc
    sub = data.get("subdirectory") if isinstance(data.get("subdirectory"), str) else None
    if isinstance(data.get("vcs_info"), dict):
        vcs = data["vcs_info"]
        return Origin(
            kind=OriginKind.VCS,
            url=url,
            vcs=str(vcs.get("vcs", "git")),
            commit_id=vcs.get("commit_id"),
            requested_revision=vcs.get("requested_revision"),
            subdirectory=sub,
        )
    if isinstance(data.get("archive_info"), dict):
        info = data["archive_info"]
        digest = None
        hashes = info.get("hashes")
        if isinstance(hashes, dict) and hashes:
            algo = "sha256" if "sha256" in hashes else sorted(hashes)[0]
            digest = f"{algo}={hashes[algo]}"
        elif isinstance(info.get("hash"), str):
            digest = info["hash"]
        return Origin(kind=OriginKind.URL, url=url, archive_hash=digest, subdirectory=sub)
    dir_info = data.get("dir_info")
    editable = isinstance(dir_info, dict) and bool(dir_info.get("editable"))
    kind = OriginKind.EDITABLE if editable else OriginKind.LOCAL_DIR
    return Origin(kind=kind, url=url, subdirectory=sub)


def _file_url_path(url: str) -> str:
    return unquote(urlsplit(url).path)


# --- marker environments ------------------------------------------------------------------


def _local_environment(snapshot: EnvSnapshot) -> dict[str, str]:
    parts = snapshot.python_version.split(".")
    system = {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}.get(snapshot.sys_platform, "")
    return {
        "implementation_name": snapshot.implementation,
        "implementation_version": snapshot.python_version,
        "os_name": "nt" if snapshot.sys_platform == "win32" else "posix",
        "platform_machine": snapshot.platform_machine,
        "platform_python_implementation": "CPython" if snapshot.implementation == "cpython" else snapshot.implementation,
        "platform_release": "",
        "platform_system": system,
        "platform_version": "",
        "python_full_version": snapshot.python_version,
        "python_version": ".".join(parts[:2]),
        "sys_platform": snapshot.sys_platform,
    }


def _evaluate(marker: Marker, env: Mapping[str, str], extra: str = "") -> bool:
    try:
        return marker.evaluate({**env, "extra": extra})
    except Exception:  # noqa: BLE001 - an undecidable marker (platform_release >= "5") keeps the dependency
        return True


def _describe(target: Target) -> str:
    major, minor = target.python_minor
    cuda = f", CUDA {target.cuda}" if target.cuda else ""
    return f"{target.sys_platform} {target.platform_machine}, CPython {major}.{minor}{cuda}"


# --- the closure --------------------------------------------------------------------------


@dataclass
class _State:
    dist: DistributionInfo
    extras: set[str] = field(default_factory=set)
    walked_extras: set[str] = field(default_factory=set)
    walked_base: bool = False
    via: set[Via] = field(default_factory=set)
    markers: set[str] = field(default_factory=set)


def _parse_requires(dist: DistributionInfo, decisions: list[Decision]) -> list[Requirement]:
    result = []
    for text in dist.requires:
        try:
            result.append(Requirement(text))
        except InvalidRequirement as exc:
            decisions.append(
                Decision(
                    subject=dist.name,
                    action="skip-invalid-requirement",
                    reason=f"its metadata lists {text!r}, which is not PEP 508 ({str(exc).splitlines()[0]})",
                )
            )
    return result


def _via_kind(source: str) -> ViaKind:
    file, _, line = source.rpartition(":")
    if file and line.isdigit() and not file.endswith((".py", ".pyw", ".ipynb")):
        return ViaKind.REQUIREMENT
    return ViaKind.IMPORT


def resolve(
    direct: Sequence[DirectRequirement],
    snapshot: EnvSnapshot,
    target: Target,
    options: ResolveOptions,
) -> Closure:
    """The closure of ``direct`` for ``target``, pinned to what ``snapshot`` has installed.

    :raises ResolutionError: a distribution's ``direct_url.json`` cannot be read.
    """
    env_t = target.marker_environment()
    env_l = _local_environment(snapshot)
    where = _describe(target)
    decisions: list[Decision] = []
    dropped: dict[DistName, str] = {}
    unresolved: dict[DistName, Unresolved] = {}
    states: dict[DistName, _State] = {}
    queue: list[DistName] = []
    requires_cache: dict[DistName, list[Requirement]] = {}

    def need(dist: DistributionInfo, extras: Iterable[str], via: Via, marker: str | None) -> None:
        state = states.get(dist.name)
        if state is None:
            state = states[dist.name] = _State(dist=dist)
        state.extras.update(extras)
        state.via.add(via)
        if marker:
            state.markers.add(marker)
        if dist.name not in queue:
            queue.append(dist.name)

    def add_unresolved(name: DistName, spec: str, extras: Iterable[str], via: Via, reason: str) -> None:
        old = unresolved.get(name)
        if old is None:
            unresolved[name] = Unresolved(name=name, specifier=spec, extras=frozenset(extras), required_by=(via,), reason=reason)
            return
        specs = ",".join(s for s in dict.fromkeys([*old.specifier.split(","), *spec.split(",")]) if s)
        try:
            merged = str(SpecifierSet(specs)) if specs else ""
        except InvalidSpecifier:
            merged = specs
        unresolved[name] = replace(
            old,
            specifier=merged,
            extras=old.extras | frozenset(extras),
            required_by=tuple(sorted({*old.required_by, via})),
        )

    for req in sorted(direct, key=lambda r: r.name):
        vias = [Via(source=s, kind=_via_kind(s)) for s in req.via] or [Via(source="(direct)", kind=ViaKind.IMPORT)]
        if req.markers:
            try:
                marker = Marker(req.markers)
            except InvalidMarker as exc:
                raise ResolutionError(f"{req.name}: invalid marker {req.markers!r} ({', '.join(req.via)})") from exc
            if not _evaluate(marker, env_t):
                dropped[req.name] = f"marker '{marker}' is false for the target ({where})"
                continue
        if req.name in _LOCAL_PLATFORM_ONLY:
            dropped[req.name] = f"{_LOCAL_PLATFORM_ONLY[req.name]}; not installable on the target ({where})"
            continue
        dist = snapshot.distribution(req.name)
        if dist is None:
            add_unresolved(
                req.name,
                req.specifier,
                req.extras,
                vias[0],
                "not installed in the analysed environment" + (f" (wanted at {req.url})" if req.url else ""),
            )
            continue
        if req.declared or req.specifier:
            _pin_decision(req, dist, decisions)
        for via in vias:
            need(dist, req.extras, via, None)

    if options.no_deps:
        decisions.append(
            Decision(
                subject="no-deps",
                action="skip-dependencies",
                reason="env.python.pip.no-deps is true: only the direct requirements are pinned and "
                "the target installs them with --no-deps, as pip does",
            )
        )

    while queue:
        name = queue.pop(0)
        state = states[name]
        if options.no_deps:
            continue
        dist = state.dist
        if name not in requires_cache:
            requires_cache[name] = _parse_requires(dist, decisions)
        new_extras = sorted(state.extras - state.walked_extras)
        contexts = ([""] if not state.walked_base else []) + new_extras
        state.walked_base = True
        state.walked_extras.update(new_extras)
        for extra in new_extras:
            if dist.provides_extras and extra not in {_canonical(e) for e in dist.provides_extras}:
                decisions.append(
                    Decision(
                        subject=name,
                        action="unknown-extra",
                        reason=f"extra {extra!r} is requested but {dist.display_name} {dist.version} does not provide it",
                    )
                )
        for dep_req in requires_cache[name]:
            child = dist_name(dep_req.name)
            applies = [c for c in contexts if dep_req.marker is None or _evaluate(dep_req.marker, env_t, c)]
            parent_via = Via(source=name if "" in applies else f"{name}[{','.join(applies)}]")
            if not applies:
                if dep_req.marker is not None and any(_evaluate(dep_req.marker, env_l, c) for c in contexts):
                    if snapshot.distribution(child) is not None and child not in dropped:
                        dropped[child] = (
                            f"{dist.display_name} requires it only when {dep_req.marker}: false for the target ({where})"
                        )
                continue
            if child in _LOCAL_PLATFORM_ONLY:
                dropped[child] = f"{_LOCAL_PLATFORM_ONLY[child]}; not installable on the target ({where})"
                continue
            marker_reason = (
                f"{dist.display_name} requires '{dep_req}': true for the target" if dep_req.marker is not None else None
            )
            dep = snapshot.distribution(child)
            if dep is None:
                local_true = dep_req.marker is None or any(_evaluate(dep_req.marker, env_l, c) for c in contexts)
                why = "not installed in the analysed environment"
                if dep_req.marker is not None and not local_true:
                    why = f"needed only on the target ({dep_req.marker}), so not installed locally"
                add_unresolved(child, str(dep_req.specifier), (_canonical(e) for e in dep_req.extras), parent_via, why)
                continue
            if dep_req.specifier and not dep_req.specifier.contains(dep.version, prereleases=True):
                decisions.append(
                    Decision(
                        subject=child,
                        action="installed-violates-requirement",
                        reason=f"{dist.display_name} requires '{dep_req.name}{dep_req.specifier}' but "
                        f"{dep.version} is installed; pinned to the installed version",
                    )
                )
            need(dep, (_canonical(e) for e in dep_req.extras), parent_via, marker_reason)

    pins: list[Pin] = []
    extra_indexes: list[str] = []
    for name in sorted(states):
        state = states[name]
        pin, pin_decisions, extra_index = _make_pin(state, target, options)
        pins.append(pin)
        decisions.extend(pin_decisions)
        if extra_index and extra_index not in extra_indexes:
            extra_indexes.append(extra_index)
    for name in list(dropped):
        if name in states:
            del dropped[name]
    for name in list(unresolved):
        if name in states:  # pragma: no cover - an installed dist is never unresolved
            del unresolved[name]
    for item in unresolved.values():
        decisions.append(
            Decision(
                subject=item.name,
                action="unresolved-for-target",
                reason=f"required by {', '.join(str(v) for v in item.required_by)}: {item.reason}; "
                "complete_for_target resolves it from the configured indexes",
            )
        )
    for link in options.find_links:
        if urlsplit(link).scheme not in ("http", "https"):
            decisions.append(
                Decision(
                    subject=f"find-links {link}",
                    action="local-find-links",
                    reason="a local directory is not on the target: it is not written to the lock "
                    "(its wheels travel in the wheelhouse)",
                )
            )
    effective = replace(
        options,
        extra_index_urls=tuple(dict.fromkeys([*options.extra_index_urls, *extra_indexes])),
    )
    return Closure(
        pins=tuple(pins),
        dropped=tuple(sorted(Dropped(name=n, reason=r) for n, r in dropped.items())),
        decisions=tuple(sorted(set(decisions))),
        unresolved_for_target=tuple(sorted(unresolved.values())),
        options=effective,
    )


def _canonical(extra: str) -> str:
    return dist_name(extra)


def _pin_decision(req: DirectRequirement, dist: DistributionInfo, decisions: list[Decision]) -> None:
    where = ", ".join(req.via) or "a requirement"
    exact = f"=={dist.version}"
    if req.specifier == exact or req.specifier == f"==={dist.version}":
        return
    try:
        spec = SpecifierSet(req.specifier)
    except InvalidSpecifier:  # pragma: no cover - specifiers come from packaging
        spec = SpecifierSet()
    if req.specifier and not spec.contains(dist.version, prereleases=True):
        decisions.append(
            Decision(
                subject=req.name,
                action="installed-violates-requirement",
                reason=f"{where} asks '{req.name}{req.specifier}' but {dist.version} is installed; "
                "the installed version is the source of truth and is pinned",
            )
        )
        return
    asked = f"'{req.specifier}'" if req.specifier else "no version"
    decisions.append(
        Decision(
            subject=req.name,
            action="pinned-to-installed",
            reason=f"{where} asks {asked}; pinned to the installed {dist.display_name}=={dist.version}",
        )
    )


def _make_pin(state: _State, target: Target, options: ResolveOptions) -> tuple[Pin, list[Decision], str | None]:
    dist = state.dist
    decisions: list[Decision] = []
    try:
        origin = origin_from_direct_url(dist.direct_url, editable_roots=dist.editable_roots)
    except ResolutionError as exc:
        raise ResolutionError(f"{dist.display_name} {dist.version}: {exc.message}") from exc
    try:
        parsed = Version(dist.version)
    except InvalidVersion:
        parsed = None
    label = parsed.local if parsed is not None else None
    version = dist.version
    delivery = Delivery.INDEX
    source: str | None = None
    artifacts: tuple[Artifact, ...] = ()
    extra_index: str | None = None
    subject = dist.name

    if origin.kind is OriginKind.INDEX:
        if dist.name in _TORCH_VARIANTS and parsed is not None and (label or options.torch_cuda):
            version, extra_index, reason = _map_torch(dist, parsed, target, options)
            origin = replace(origin, index_url=extra_index)
            decisions.append(Decision(subject=subject, action="map-local-version", reason=reason))
            if label is not None or extra_index is not None:
                decisions.append(
                    Decision(
                        subject=subject,
                        action="variant-dependencies",
                        reason=f"the target build {dist.name}=={version} may require libraries "
                        f"(nvidia-*, triton) that the local build does not list; complete_for_target "
                        "resolves them for the target",
                    )
                )
        elif label is not None:
            delivery = Delivery.WHEELHOUSE
            decisions.append(
                Decision(
                    subject=subject,
                    action="ship-wheel",
                    reason=f"{dist.display_name} {dist.version} has the local version label '+{label}', "
                    "which indexes do not serve as is: its wheel is shipped in the wheelhouse "
                    "(fetched by exact version or repacked from the installed files)",
                )
            )
    elif origin.kind is OriginKind.VCS:
        if origin.is_local:
            delivery = Delivery.WHEELHOUSE
            source = _file_url_path(origin.url or "")
            decisions.append(
                Decision(
                    subject=subject,
                    action="build-wheel",
                    reason=f"installed from a {origin.vcs} repository on this machine at commit "
                    f"{origin.commit_id}: the target cannot reach it, so a wheel is built from "
                    "that commit and shipped in the wheelhouse",
                )
            )
        else:
            delivery = Delivery.DIRECT
            rev = f" (asked for {origin.requested_revision!r})" if origin.requested_revision else ""
            decisions.append(
                Decision(
                    subject=subject,
                    action="pin-commit",
                    reason=f"installed from {origin.vcs} {mask_url(origin.url or '')}{rev}: pinned to "
                    f"commit {origin.commit_id}, not to an index release of the same name",
                )
            )
    elif origin.kind is OriginKind.URL:
        filename = (origin.url or "").split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if origin.archive_hash:
            algo, _, digest = origin.archive_hash.partition("=")
            artifacts = (Artifact(filename=filename, url=origin.url, hashes=(f"{algo}:{digest}",)),)
        if origin.is_local:
            delivery = Delivery.WHEELHOUSE
            source = _file_url_path(origin.url or "")
            decisions.append(
                Decision(
                    subject=subject,
                    action="ship-wheel",
                    reason=f"installed from the local file {filename}: the file is shipped in the "
                    "wheelhouse (built into a wheel first if it is an sdist)",
                )
            )
        else:
            delivery = Delivery.DIRECT
    elif origin.kind is OriginKind.EDITABLE:
        delivery = Delivery.WHEELHOUSE
        source = dist.editable_roots[0] if dist.editable_roots else _file_url_path(origin.url or "")
        decisions.append(
            Decision(
                subject=subject,
                action="build-wheel",
                reason=f"editable install of {Path(source).name or dist.display_name}: a wheel is built from "
                "its source and shipped in the wheelhouse, keeping its metadata, dependencies, entry "
                "points and compiled extensions (its files are not shipped again as local code)",
            )
        )
    else:  # LOCAL_DIR
        delivery = Delivery.WHEELHOUSE
        source = _file_url_path(origin.url or "")
        decisions.append(
            Decision(
                subject=subject,
                action="build-wheel",
                reason=f"installed from the local directory {Path(source).name}: a wheel is built from "
                "it and shipped in the wheelhouse, not replaced by an index release of the same name",
            )
        )

    if dist.requires_python:
        try:
            ok = SpecifierSet(dist.requires_python).contains(target.marker_environment()["python_full_version"], prereleases=True)
        except InvalidSpecifier:
            ok = True
        if not ok:
            decisions.append(
                Decision(
                    subject=subject,
                    action="requires-python-mismatch",
                    reason=f"{dist.display_name} {dist.version} requires Python {dist.requires_python}, "
                    f"the target runs {target.python_version}",
                )
            )

    pin = Pin(
        name=dist.name,
        display_name=dist.display_name,
        version=version,
        origin=origin,
        delivery=delivery,
        installed_version=dist.version,
        extras=frozenset(state.extras),
        via=tuple(sorted(state.via)),
        marker_reason="; ".join(sorted(state.markers)) or None,
        local_label=label,
        requires_python=dist.requires_python,
        artifacts=artifacts,
        source=source,
    )
    return pin, decisions, extra_index


def _map_torch(dist: DistributionInfo, parsed: Version, target: Target, options: ResolveOptions) -> tuple[str, str | None, str]:
    public = parsed.public
    shown = f"{dist.name} {dist.version}"
    cuda = options.torch_cuda
    if cuda is None:
        what = f"a CUDA Linux target ({_describe(target)})" if target.cuda else f"the Linux target ({_describe(target)})"
        return (
            public,
            None,
            f"{shown} -> {dist.name}=={public}: a local version label is never sent to an index; "
            f"PyPI's Linux x86_64 wheels of {dist.name} are CUDA builds, the right variant for {what}",
        )
    tag = "cpu" if cuda.lower() == "cpu" else "cu" + cuda.replace(".", "")
    index = f"{TORCH_INDEX}/{tag}"
    return (
        f"{public}+{tag}",
        index,
        f"{shown} -> {dist.name}=={public}+{tag} from --extra-index-url {index} (torch_cuda={cuda!r})",
    )
