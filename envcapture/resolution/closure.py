"""Direct requirements + `EnvSnapshot` + `Target` -> `Closure` of exact pins, pure except where marked EDGE.

The stage answers, for every distribution the job needs on the target: which version,
from where (PEP 610 identity: index, VCS commit, URL, local directory, editable), why
(the import sites or parent distributions), and how it reaches the VM (`Delivery`).
Requires-Dist markers are evaluated for the *target* environment, never the local one.
Every choice that is not obvious is recorded as a `Decision` with its reason. The data
types live in `envcapture.resolution.model`.

What the target needs but the local environment lacks is resolved by
`envcapture.resolution.target.complete_for_target` (EDGE, ``uv pip compile``); manual mode
and requirements files are turned into direct requirements by `envcapture.resolution.manual`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envcapture._urls import mask_url
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.errors import ResolutionError
from envcapture.model import DistName, Target, dist_name
from envcapture.resolution.extras import evaluate_marker, extra_reason, installed_extras
from envcapture.resolution.model import (
    Artifact,
    Closure,
    Decision,
    Delivery,
    DirectRequirement,
    Dropped,
    Origin,
    OriginKind,
    Pin,
    ResolveOptions,
    Unresolved,
    Via,
    ViaKind,
)
from envcapture.resolution.platforms import LOCAL_PLATFORM_ONLY, TORCH_INDEX, TORCH_VARIANTS, describe_target
from envcapture.resolution.urls import file_url_path

__all__ = ["origin_from_direct_url", "resolve", "variant_for_target"]


def __dir__() -> list[str]:
    return list(__all__)


log = logging.getLogger(__name__)


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


# --- the closure --------------------------------------------------------------------------


@dataclass
class _State:
    dist: DistributionInfo
    extras: set[str] = field(default_factory=set)  # asked for (requirements, Requires-Dist)
    installed_extras: set[str] = field(default_factory=set)  # added by the installed-extras rule
    walked_extras: set[str] = field(default_factory=set)
    walked_base: bool = False
    via: set[Via] = field(default_factory=set)
    markers: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Placement:
    """What an origin kind decides for a pin: the version asked for, where it comes from, how it travels."""

    version: str
    origin: Origin
    delivery: Delivery = Delivery.INDEX
    source: str | None = None
    artifacts: tuple[Artifact, ...] = ()
    extra_index: str | None = None


def _via_kind(source: str) -> ViaKind:
    file, _, line = source.rpartition(":")
    if file and line.isdigit() and not file.endswith((".py", ".pyw", ".ipynb")):
        return ViaKind.REQUIREMENT
    return ViaKind.IMPORT


def _canonical(extra: str) -> str:
    return dist_name(extra)


def resolve(
    direct: Sequence[DirectRequirement],
    snapshot: EnvSnapshot,
    target: Target,
    options: ResolveOptions,
) -> Closure:
    """The closure of ``direct`` for ``target``, pinned to what ``snapshot`` has installed.

    :raises ResolutionError: a distribution's ``direct_url.json`` cannot be read.
    """
    return _ClosureWalk(snapshot, target, options).run(direct)


class _ClosureWalk:
    """One resolution: the direct requirements, then their Requires-Dist breadth first
    (markers for the target), then one `Pin` per distribution reached."""

    def __init__(self, snapshot: EnvSnapshot, target: Target, options: ResolveOptions) -> None:
        self.snapshot = snapshot
        self.target = target
        self.options = options
        self.env_t = target.marker_environment()
        self.env_l = _local_environment(snapshot)
        self.where = describe_target(target)
        self.decisions: list[Decision] = []
        self.dropped: dict[DistName, str] = {}
        self.unresolved: dict[DistName, Unresolved] = {}
        self.states: dict[DistName, _State] = {}
        self.queue: list[DistName] = []
        self.requires_cache: dict[DistName, list[Requirement]] = {}

    def run(self, direct: Sequence[DirectRequirement]) -> Closure:
        for req in sorted(direct, key=lambda r: r.name):
            self._add_direct(req)
        if self.options.no_deps:
            self.decisions.append(
                Decision(
                    subject="no-deps",
                    action="skip-dependencies",
                    reason="env.python.pip.no-deps is true: only the direct requirements are pinned and "
                    "the target installs them with --no-deps, as pip does",
                )
            )
        while self.queue:
            name = self.queue.pop(0)
            if not self.options.no_deps:
                self._walk(self.states[name])
        pins: list[Pin] = []
        extra_indexes: list[str] = []
        for name in sorted(self.states):
            pin, extra_index = self._make_pin(self.states[name])
            pins.append(pin)
            if extra_index and extra_index not in extra_indexes:
                extra_indexes.append(extra_index)
        return self._closure(pins, extra_indexes)

    # --- the walk ---------------------------------------------------------------------------

    def _need(self, dist: DistributionInfo, extras: Iterable[str], via: Via, marker: str | None) -> None:
        state = self.states.get(dist.name)
        if state is None:
            state = self.states[dist.name] = _State(dist=dist)
        state.extras.update(extras)
        state.via.add(via)
        if marker:
            state.markers.add(marker)
        if dist.name not in self.queue:
            self.queue.append(dist.name)

    def _add_unresolved(self, name: DistName, spec: str, extras: Iterable[str], via: Via, reason: str) -> None:
        old = self.unresolved.get(name)
        if old is None:
            self.unresolved[name] = Unresolved(
                name=name, specifier=spec, extras=frozenset(extras), required_by=(via,), reason=reason
            )
            return
        specs = ",".join(s for s in dict.fromkeys([*old.specifier.split(","), *spec.split(",")]) if s)
        try:
            merged = str(SpecifierSet(specs)) if specs else ""
        except InvalidSpecifier:
            merged = specs
        self.unresolved[name] = replace(
            old,
            specifier=merged,
            extras=old.extras | frozenset(extras),
            required_by=tuple(sorted({*old.required_by, via})),
        )

    def _add_direct(self, req: DirectRequirement) -> None:
        vias = [Via(source=s, kind=_via_kind(s)) for s in req.via] + list(req.reasons)
        vias = vias or [Via(source="(direct)", kind=ViaKind.IMPORT)]
        if req.markers:
            try:
                marker = Marker(req.markers)
            except InvalidMarker as exc:
                raise ResolutionError(f"{req.name}: invalid marker {req.markers!r} ({', '.join(req.via)})") from exc
            if not evaluate_marker(marker, self.env_t):
                self.dropped[req.name] = f"marker '{marker}' is false for the target ({self.where})"
                return
        if req.name in LOCAL_PLATFORM_ONLY:
            self.dropped[req.name] = f"{LOCAL_PLATFORM_ONLY[req.name]}; not installable on the target ({self.where})"
            return
        dist = self.snapshot.distribution(req.name)
        if dist is None:
            self._add_unresolved(
                req.name,
                req.specifier,
                req.extras,
                vias[0],
                "not installed in the analysed environment" + (f" (wanted at {req.url})" if req.url else ""),
            )
            return
        if req.declared or req.specifier:
            self._pin_decision(req, dist)
        for via in vias:
            self._need(dist, req.extras, via, None)

    def _walk(self, state: _State) -> None:
        """Follow the Requires-Dist of ``state`` for the extras not walked yet."""
        dist = state.dist
        name = dist.name
        if name not in self.requires_cache:
            self.requires_cache[name] = self._parse_requires(dist)
        if not state.walked_base and self.options.installed_extras:
            self._add_installed_extras(state)
        new_extras = sorted((state.extras | state.installed_extras) - state.walked_extras)
        contexts = ([""] if not state.walked_base else []) + new_extras
        state.walked_base = True
        state.walked_extras.update(new_extras)
        for extra in new_extras:
            if extra in state.installed_extras:
                continue
            if dist.provides_extras and extra not in {_canonical(e) for e in dist.provides_extras}:
                self.decisions.append(
                    Decision(
                        subject=name,
                        action="unknown-extra",
                        reason=f"extra {extra!r} is requested but {dist.display_name} {dist.version} does not provide it",
                    )
                )
        for dep_req in self.requires_cache[name]:
            self._follow(state, dep_req, contexts)

    def _add_installed_extras(self, state: _State) -> None:
        """The installed-extras rule (`envcapture.resolution.extras`): each extra of the
        distribution whose requirements are all installed here joins the walk."""
        dist = state.dist
        for found in installed_extras(dist, self.snapshot, self.env_t):
            if found.extra in state.extras:
                continue  # asked for already
            wanted = ", ".join(found.requirements)
            if found.skipped:
                self.decisions.append(
                    Decision(
                        subject=dist.name,
                        action="skip-installed-extra",
                        reason=f"extra {found.extra} of {dist.display_name} is installed locally ({wanted}) but names "
                        "tooling a job does not import at run time (envcapture/data/skipped_extras.txt); "
                        "--with adds one of its distributions on purpose",
                    )
                )
                continue
            state.installed_extras.add(found.extra)
            self.decisions.append(
                Decision(
                    subject=dist.name,
                    action="installed-extra",
                    reason=f"{extra_reason(dist.display_name, [found.extra])}: {wanted} joins the closure",
                )
            )

    def _parent_via(self, state: _State, applies: list[str]) -> Via:
        """``pandas``, ``pandas[parquet]`` (asked for) or, when only extras the installed-extras
        rule added apply, ``pandas[parquet]`` with that rule's reason."""
        name = state.dist.name
        if "" in applies:
            return Via(source=name)
        source = f"{name}[{','.join(applies)}]"
        if all(a in state.installed_extras and a not in state.extras for a in applies):
            return Via(source=source, kind=ViaKind.INSTALLED_EXTRA, reason=extra_reason(state.dist.display_name, applies))
        return Via(source=source)

    def _follow(self, state: _State, dep_req: Requirement, contexts: list[str]) -> None:
        """One Requires-Dist entry of ``state``'s distribution, walked in the extras ``contexts`` (``""``: the base)."""
        dist = state.dist
        env_t, env_l = self.env_t, self.env_l
        child = dist_name(dep_req.name)
        applies = [c for c in contexts if dep_req.marker is None or evaluate_marker(dep_req.marker, env_t, c)]
        parent_via = self._parent_via(state, applies)
        if not applies:
            locally_true = dep_req.marker is not None and any(evaluate_marker(dep_req.marker, env_l, c) for c in contexts)
            if locally_true and self.snapshot.distribution(child) is not None and child not in self.dropped:
                self.dropped[child] = (
                    f"{dist.display_name} requires it only when {dep_req.marker}: false for the target ({self.where})"
                )
            return
        if child in LOCAL_PLATFORM_ONLY:
            self.dropped[child] = f"{LOCAL_PLATFORM_ONLY[child]}; not installable on the target ({self.where})"
            return
        marker_reason = f"{dist.display_name} requires '{dep_req}': true for the target" if dep_req.marker is not None else None
        dep = self.snapshot.distribution(child)
        if dep is None:
            local_true = dep_req.marker is None or any(evaluate_marker(dep_req.marker, env_l, c) for c in contexts)
            why = "not installed in the analysed environment"
            if dep_req.marker is not None and not local_true:
                why = f"needed only on the target ({dep_req.marker}), so not installed locally"
            self._add_unresolved(child, str(dep_req.specifier), (_canonical(e) for e in dep_req.extras), parent_via, why)
            return
        if dep_req.specifier and not dep_req.specifier.contains(dep.version, prereleases=True):
            self.decisions.append(
                Decision(
                    subject=child,
                    action="installed-violates-requirement",
                    reason=f"{dist.display_name} requires '{dep_req.name}{dep_req.specifier}' but "
                    f"{dep.version} is installed; pinned to the installed version",
                )
            )
        self._need(dep, (_canonical(e) for e in dep_req.extras), parent_via, marker_reason)

    def _parse_requires(self, dist: DistributionInfo) -> list[Requirement]:
        result = []
        for text in dist.requires:
            try:
                result.append(Requirement(text))
            except InvalidRequirement as exc:
                self.decisions.append(
                    Decision(
                        subject=dist.name,
                        action="skip-invalid-requirement",
                        reason=f"its metadata lists {text!r}, which is not PEP 508 ({str(exc).splitlines()[0]})",
                    )
                )
        return result

    def _pin_decision(self, req: DirectRequirement, dist: DistributionInfo) -> None:
        where = ", ".join(req.via) or "a requirement"
        exact = f"=={dist.version}"
        if req.specifier == exact or req.specifier == f"==={dist.version}":
            return
        try:
            spec = SpecifierSet(req.specifier)
        except InvalidSpecifier:  # pragma: no cover - specifiers come from packaging
            spec = SpecifierSet()
        if req.specifier and not spec.contains(dist.version, prereleases=True):
            self.decisions.append(
                Decision(
                    subject=req.name,
                    action="installed-violates-requirement",
                    reason=f"{where} asks '{req.name}{req.specifier}' but {dist.version} is installed; "
                    "the installed version is the source of truth and is pinned",
                )
            )
            return
        asked = f"'{req.specifier}'" if req.specifier else "no version"
        self.decisions.append(
            Decision(
                subject=req.name,
                action="pinned-to-installed",
                reason=f"{where} asks {asked}; pinned to the installed {dist.display_name}=={dist.version}",
            )
        )

    # --- the result -------------------------------------------------------------------------

    def _closure(self, pins: list[Pin], extra_indexes: list[str]) -> Closure:
        options = self.options
        for name in list(self.dropped):
            if name in self.states:
                del self.dropped[name]
        for name in list(self.unresolved):
            if name in self.states:  # pragma: no cover - an installed dist is never unresolved
                del self.unresolved[name]
        for item in self.unresolved.values():
            self.decisions.append(
                Decision(
                    subject=item.name,
                    action="unresolved-for-target",
                    reason=f"required by {', '.join(str(v) for v in item.required_by)}: {item.reason}; "
                    "complete_for_target resolves it from the configured indexes",
                )
            )
        for link in options.find_links:
            if urlsplit(link).scheme not in ("http", "https"):
                self.decisions.append(
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
            dropped=tuple(sorted(Dropped(name=n, reason=r) for n, r in self.dropped.items())),
            decisions=tuple(sorted(set(self.decisions))),
            unresolved_for_target=tuple(sorted(self.unresolved.values())),
            options=effective,
        )

    # --- pins, one method per origin kind -----------------------------------------------------

    def _make_pin(self, state: _State) -> tuple[Pin, str | None]:
        """The pin of ``state`` and the extra index it needs (a PyTorch variant index), if any."""
        dist = state.dist
        try:
            origin = origin_from_direct_url(dist.direct_url, editable_roots=dist.editable_roots)
        except ResolutionError as exc:
            raise ResolutionError(f"{dist.display_name} {dist.version}: {exc.message}") from exc
        try:
            parsed: Version | None = Version(dist.version)
        except InvalidVersion:
            parsed = None
        label = parsed.local if parsed is not None else None
        mapped = (
            _map_torch(dist, parsed, self.target, self.options)
            if origin.kind is OriginKind.INDEX and dist.name in TORCH_VARIANTS and parsed is not None
            else None
        )
        if mapped is not None:
            placed = self._pin_torch_variant(dist, origin, mapped)
        else:
            by_kind = {
                OriginKind.INDEX: self._pin_index,
                OriginKind.VCS: self._pin_vcs,
                OriginKind.URL: self._pin_url,
                OriginKind.EDITABLE: self._pin_editable,
                OriginKind.LOCAL_DIR: self._pin_local_dir,
            }
            placed = by_kind[origin.kind](dist, origin, label)
        self._check_requires_python(dist)
        pin = Pin(
            name=dist.name,
            display_name=dist.display_name,
            version=placed.version,
            origin=placed.origin,
            delivery=placed.delivery,
            installed_version=dist.version,
            extras=frozenset(state.extras),
            installed_extras=frozenset(state.installed_extras - state.extras),
            via=tuple(sorted(state.via)),
            marker_reason="; ".join(sorted(state.markers)) or None,
            local_label=label,
            requires_python=dist.requires_python,
            artifacts=placed.artifacts,
            source=placed.source,
        )
        return pin, placed.extra_index

    def _pin_torch_variant(self, dist: DistributionInfo, origin: Origin, mapped: tuple[str, str | None, str]) -> _Placement:
        """torch/torchvision/torchaudio whose target variant differs from the installed one:
        pinned to the target's variant; `complete_for_target` resolves what it requires."""
        version, extra_index, reason = mapped
        self.decisions.append(Decision(subject=dist.name, action="map-local-version", reason=reason))
        return _Placement(version=version, origin=replace(origin, index_url=extra_index), extra_index=extra_index)

    def _pin_index(self, dist: DistributionInfo, origin: Origin, label: str | None) -> _Placement:
        """An index release; one with a local version label travels in the wheelhouse."""
        if label is None:
            return _Placement(version=dist.version, origin=origin)
        index = _variant_index(dist.name, label, self.options)
        if index is not None:
            self.decisions.append(
                Decision(
                    subject=dist.name,
                    action="variant-index",
                    reason=f"{dist.display_name} {dist.version} is the '+{label}' build of the PyTorch index; "
                    f"{index} is added as a source for it (no configured index names it)",
                )
            )
            origin = replace(origin, index_url=index)
        self.decisions.append(
            Decision(
                subject=dist.name,
                action="ship-wheel",
                reason=f"{dist.display_name} {dist.version} has the local version label '+{label}', "
                "which indexes do not serve as is: its wheel is shipped in the wheelhouse "
                "(fetched by exact version or repacked from the installed files)",
            )
        )
        return _Placement(version=dist.version, origin=origin, delivery=Delivery.WHEELHOUSE)

    def _pin_vcs(self, dist: DistributionInfo, origin: Origin, label: str | None) -> _Placement:
        """A VCS checkout: pinned to its commit, or built here when the repository is on this machine."""
        if origin.is_local:
            self.decisions.append(
                Decision(
                    subject=dist.name,
                    action="build-wheel",
                    reason=f"installed from a {origin.vcs} repository on this machine at commit "
                    f"{origin.commit_id}: the target cannot reach it, so a wheel is built from "
                    "that commit and shipped in the wheelhouse",
                )
            )
            return _Placement(
                version=dist.version, origin=origin, delivery=Delivery.WHEELHOUSE, source=file_url_path(origin.url or "")
            )
        rev = f" (asked for {origin.requested_revision!r})" if origin.requested_revision else ""
        self.decisions.append(
            Decision(
                subject=dist.name,
                action="pin-commit",
                reason=f"installed from {origin.vcs} {mask_url(origin.url or '')}{rev}: pinned to "
                f"commit {origin.commit_id}, not to an index release of the same name",
            )
        )
        return _Placement(version=dist.version, origin=origin, delivery=Delivery.DIRECT)

    def _pin_url(self, dist: DistributionInfo, origin: Origin, label: str | None) -> _Placement:
        """An archive URL: a direct reference, or the local file shipped in the wheelhouse."""
        filename = (origin.url or "").split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        artifacts: tuple[Artifact, ...] = ()
        if origin.archive_hash:
            algo, _, digest = origin.archive_hash.partition("=")
            artifacts = (Artifact(filename=filename, url=origin.url, hashes=(f"{algo}:{digest}",)),)
        if not origin.is_local:
            return _Placement(version=dist.version, origin=origin, delivery=Delivery.DIRECT, artifacts=artifacts)
        self.decisions.append(
            Decision(
                subject=dist.name,
                action="ship-wheel",
                reason=f"installed from the local file {filename}: the file is shipped in the "
                "wheelhouse (built into a wheel first if it is an sdist)",
            )
        )
        return _Placement(
            version=dist.version,
            origin=origin,
            delivery=Delivery.WHEELHOUSE,
            source=file_url_path(origin.url or ""),
            artifacts=artifacts,
        )

    def _pin_editable(self, dist: DistributionInfo, origin: Origin, label: str | None) -> _Placement:
        """An editable install: a wheel built from its source."""
        source = dist.editable_roots[0] if dist.editable_roots else file_url_path(origin.url or "")
        self.decisions.append(
            Decision(
                subject=dist.name,
                action="build-wheel",
                reason=f"editable install of {Path(source).name or dist.display_name}: a wheel is built from "
                "its source and shipped in the wheelhouse, keeping its metadata, dependencies, entry "
                "points and compiled extensions (its files are not shipped again as local code)",
            )
        )
        return _Placement(version=dist.version, origin=origin, delivery=Delivery.WHEELHOUSE, source=source)

    def _pin_local_dir(self, dist: DistributionInfo, origin: Origin, label: str | None) -> _Placement:
        """A local directory (not editable): a wheel built from it."""
        source = file_url_path(origin.url or "")
        self.decisions.append(
            Decision(
                subject=dist.name,
                action="build-wheel",
                reason=f"installed from the local directory {Path(source).name}: a wheel is built from "
                "it and shipped in the wheelhouse, not replaced by an index release of the same name",
            )
        )
        return _Placement(version=dist.version, origin=origin, delivery=Delivery.WHEELHOUSE, source=source)

    def _check_requires_python(self, dist: DistributionInfo) -> None:
        if not dist.requires_python:
            return
        target = self.target
        try:
            ok = SpecifierSet(dist.requires_python).contains(target.marker_environment()["python_full_version"], prereleases=True)
        except InvalidSpecifier:
            ok = True
        if not ok:
            self.decisions.append(
                Decision(
                    subject=dist.name,
                    action="requires-python-mismatch",
                    reason=f"{dist.display_name} {dist.version} requires Python {dist.requires_python}, "
                    f"the target runs {target.python_version}",
                )
            )


def variant_for_target(name: str, version: str, target: Target, options: ResolveOptions) -> str | None:
    """The version of the target's build of an installed index package published in
    accelerator variants (``torch 2.13.0+cpu`` -> ``2.13.0`` for a GPU target), or ``None``
    when the installed build is the target's."""
    canonical = dist_name(name)
    if canonical not in TORCH_VARIANTS:
        return None
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    info = DistributionInfo(name=canonical, display_name=name, version=version, requires=())
    mapped = _map_torch(info, parsed, target, options)
    return mapped[0] if mapped is not None else None


def _torch_index_for(tag: str, options: ResolveOptions) -> str | None:
    """The configured index that serves the PyTorch ``tag`` variant (``.../whl/cu126``), if any."""
    for url in (options.index_url, *options.extra_index_urls):
        if url and url.rstrip("/").endswith(f"/{tag}") and "pytorch" in url:
            return None  # configured: nothing to add
    if options.index_url or options.find_links or options.no_index:
        return None  # a private index or find-links directory: trusted to serve it
    return f"{TORCH_INDEX}/{tag}"


def _variant_index(name: DistName, label: str, options: ResolveOptions) -> str | None:
    """The PyTorch index a kept local label (``+cpu``, ``+cu126``) comes from, when no
    configured source is trusted to serve it."""
    if name not in TORCH_VARIANTS or not (label == "cpu" or label.startswith("cu") or label.startswith("rocm")):
        return None
    return _torch_index_for(label, options)


def _cuda_tag(cuda: str) -> str:
    return "cpu" if cuda.lower() == "cpu" else "cu" + cuda.replace(".", "")


def _map_torch(
    dist: DistributionInfo, parsed: Version, target: Target, options: ResolveOptions
) -> tuple[str, str | None, str] | None:
    """(version, extra index, reason) of the target's variant of a PyTorch package, or
    ``None`` when the installed variant is the target's (or the target keeps it)."""
    public = parsed.public
    label = parsed.local
    shown = f"{dist.name} {dist.version}"
    if options.torch_cuda is not None:  # the API's explicit variant
        tag = _cuda_tag(options.torch_cuda)
        index = f"{TORCH_INDEX}/{tag}"
        return (
            f"{public}+{tag}",
            index,
            f"{shown} -> {dist.name}=={public}+{tag} from --extra-index-url {index} (torch_cuda={options.torch_cuda!r})",
        )
    if target.gpu and target.cuda is None:
        if label is None:
            return None  # PyPI's Linux wheels are the CUDA build already
        return (
            public,
            None,
            f"{shown} -> {dist.name}=={public}: the target has a GPU ({describe_target(target)}); a local version "
            f"label is never sent to an index, and the index's Linux x86_64 wheels of {dist.name} are CUDA builds",
        )
    if target.gpu or target.accelerator == "cpu":
        tag = _cuda_tag(target.cuda or "cpu")
        if label == tag:
            return None
        found = _torch_index_for(tag, options)
        where = f"from --extra-index-url {found}" if found else "from the configured indexes"
        what = "has no GPU" if tag == "cpu" else f"runs CUDA {target.cuda}"
        return (
            f"{public}+{tag}",
            found,
            f"{shown} -> {dist.name}=={public}+{tag} {where}: the target {what} ({describe_target(target)})",
        )
    return None
