"""Manual mode and requirements files -> direct requirements and options (env.python type: manual)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from packaging.specifiers import SpecifierSet

from envcapture._urls import mask_url
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.errors import ConfigError, Location, RequirementsError
from envcapture.model import DistName
from envcapture.resolution.model import Decision, DirectRequirement, ResolveOptions
from envcapture.resolution.requirements import ParsedRequirements, expand_env_vars
from envcapture.resolution.urls import file_url_path

__all__ = ["ManualSettings", "complete_manual", "merge_file_options", "requirements_to_direct"]


def _norm_url(url: str) -> str:
    url = url.split("#", 1)[0]
    for prefix in ("git+", "hg+", "svn+", "bzr+"):
        if url.startswith(prefix):
            url = url[len(prefix) :]
    parts = urlsplit(url)
    path = parts.path
    if "@" in path:  # VCS revision
        path = path.rsplit("@", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", ""))


def _match_unnamed(
    line_url: str | None, line_path: str | None, snapshot: EnvSnapshot, base_dir: str | None
) -> DistributionInfo | None:
    if line_path is not None:
        path = line_path
        if not os.path.isabs(path):
            if base_dir is None:
                return None
            path = os.path.join(base_dir, path)
        wanted = os.path.normpath(path)
        for dist in snapshot.distributions:
            roots = [os.path.normpath(r) for r in dist.editable_roots]
            if dist.direct_url:
                try:
                    url = json.loads(dist.direct_url).get("url", "")
                except ValueError:
                    url = ""
                if isinstance(url, str) and url.startswith("file:"):
                    roots.append(os.path.normpath(file_url_path(url)))
            if wanted in roots:
                return dist
        return None
    if line_url is not None:
        wanted = _norm_url(line_url)
        for dist in snapshot.distributions:
            if dist.direct_url:
                try:
                    url = json.loads(dist.direct_url).get("url", "")
                except ValueError:
                    continue
                if isinstance(url, str) and _norm_url(url) == wanted:
                    return dist
    return None


def requirements_to_direct(
    parsed: ParsedRequirements,
    snapshot: EnvSnapshot,
    *,
    base_dir: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[DirectRequirement]:
    """The direct requirements a requirements file declares, merged per name, sorted.

    Unnamed lines (``./pkg``, ``-e ../lib``, a URL without ``#egg=``) are named by the
    installed distribution they were installed from (``base_dir`` anchors relative paths,
    like pip's current directory). Specifiers are kept: `resolve` pins to the installed
    version and reports it; a requirement that is not installed is left for the target.

    :raises RequirementsError: an unnamed line matches no installed distribution.
    """
    merged: dict[DistName, DirectRequirement] = {}
    for line in parsed.requirements:
        name = line.name
        if name is None:
            url = expand_env_vars(line.url, environ or {}) if line.url else None
            dist = _match_unnamed(url, line.path, snapshot, base_dir)
            if dist is None:
                raise RequirementsError(
                    f"cannot tell which distribution {line.text!r} is: nothing in the analysed environment was installed from it",
                    location=line.location,
                    hint="install it there, or write 'name @ URL' or '#egg=name'",
                )
            name = dist.name
        url = line.url
        if url is None and line.path is not None:
            url = line.path
        item = DirectRequirement(
            name=name,
            extras=line.extras,
            via=(str(line.location),),
            specifier=line.specifier,
            url=url,
            editable=line.editable,
            markers=line.markers,
            declared=True,
        )
        old = merged.get(name)
        if old is not None:
            specs = ",".join(s for s in (old.specifier, item.specifier) if s)
            markers = None
            if old.markers and item.markers:
                markers = old.markers if old.markers == item.markers else f"({old.markers}) or ({item.markers})"
            item = DirectRequirement(
                name=name,
                extras=old.extras | item.extras,
                via=(*old.via, *item.via),
                specifier=str(SpecifierSet(specs)) if specs else "",
                url=old.url or item.url,
                editable=old.editable or item.editable,
                markers=markers,
                declared=True,
            )
        merged[name] = item
    return [merged[n] for n in sorted(merged)]


def merge_file_options(
    config: ResolveOptions, parsed: ParsedRequirements, *, config_keys: frozenset[str] | None = None
) -> tuple[ResolveOptions, tuple[Decision, ...]]:
    """Merge pip options written in a requirements file with ``env.python.pip``.

    Precedence, decided like a pip command line over its files, not like pip's internals:
    a single-valued option (``index-url``, ``no-index``) set in the config wins over the
    file, and the override is reported; lists (``extra-index-url``, ``trusted-host``,
    ``find-links``) are merged, config first; flags (``--pre``, ``--prefer-binary``) are
    on when either sets them. (pip itself lets a file's ``--index-url`` replace the
    command line's index list, extra indexes included; the lock makes that moot, since it
    carries one merged set of options.) ``no-deps`` exists only in the config.
    ``config_keys`` names the options the config set explicitly (default: the non-empty ones).
    """
    decisions: list[Decision] = []
    index_url = config.index_url
    file_index = parsed.option("index-url")
    no_index = config.no_index
    set_in_config = (
        config_keys
        if config_keys is not None
        else frozenset(k for k, v in (("index-url", config.index_url), ("no-index", config.no_index)) if v)
    )
    if file_index is not None and file_index.value is not None:
        if "index-url" in set_in_config and index_url is not None and index_url != file_index.value:
            decisions.append(
                Decision(
                    subject="index-url",
                    action="option-overridden",
                    reason=f"{file_index.location} sets --index-url {mask_url(file_index.value)}; "
                    f"env.python.pip.index-url {mask_url(index_url)} wins",
                )
            )
        elif index_url is None:
            index_url = file_index.value
    file_no_index = parsed.option("no-index")
    if file_no_index is not None:
        if index_url is not None and "index-url" in set_in_config:
            decisions.append(
                Decision(
                    subject="no-index",
                    action="option-overridden",
                    reason=f"{file_no_index.location} sets --no-index; env.python.pip.index-url wins",
                )
            )
        else:
            no_index = True
    merged = replace(
        config,
        index_url=index_url,
        no_index=no_index,
        extra_index_urls=tuple(dict.fromkeys([*config.extra_index_urls, *parsed.extra_index_urls])),
        trusted_hosts=tuple(dict.fromkeys([*config.trusted_hosts, *parsed.trusted_hosts])),
        find_links=tuple(dict.fromkeys([*config.find_links, *parsed.find_links])),
        pre=config.pre or parsed.pre,
        prefer_binary=config.prefer_binary or parsed.prefer_binary,
    )
    return merged, tuple(decisions)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualSettings:
    """The effective values of ``type: manual``; ``derived`` names those not given
    (config spelling: ``version``, ``requirements-file``, ``local-paths``)."""

    version: str
    requirements: tuple[DirectRequirement, ...]
    requirements_file: str | None
    local_paths: tuple[str, ...]
    derived: frozenset[str]
    notes: tuple[Decision, ...] = ()


_VERSION_RE = re.compile(r"3\.\d{1,2}(\.\d{1,3})?")


def complete_manual(
    *,
    version: str | None,
    requirements_file: str | None,
    local_paths: Sequence[str] | None,
    snapshot: EnvSnapshot,
    file_requirements: Sequence[DirectRequirement] | None = None,
    detected_requirements: Sequence[DirectRequirement] = (),
    detected_local_paths: Sequence[str] = (),
) -> ManualSettings:
    """Fill what a ``type: manual`` config leaves out from the current environment.

    ``file_requirements`` are the requirements-file's (`requirements_to_direct`), given
    with ``requirements_file``; ``detected_*`` come from analysing the job's code.
    Every value not given is derived: ``version`` from the analysed interpreter,
    requirements from the detected imports, local paths from the detected local modules.

    :raises ConfigError: nothing is given, or ``version`` is not ``3.X`` / ``3.X.Y``.
    """
    if version is None and requirements_file is None and local_paths is None:
        raise ConfigError(
            "type: manual needs at least one of version, requirements-file, local-paths",
            location=Location(key="env.python"),
            hint="use 'python: auto' to derive everything",
        )
    derived: set[str] = set()
    notes: list[Decision] = []
    if version is None:
        effective_version = snapshot.python_version
        derived.add("version")
    else:
        if not _VERSION_RE.fullmatch(version):
            raise ConfigError(
                f"expected a Python version like 3.10 or 3.10.13, got {version!r}",
                location=Location(key="env.python.version"),
            )
        effective_version = version
        local = ".".join(snapshot.python_version.split(".")[:2])
        if ".".join(version.split(".")[:2]) != local:
            notes.append(
                Decision(
                    subject="version",
                    action="version-differs",
                    reason=f"the target runs Python {version}, the analysed interpreter is "
                    f"{snapshot.python_version}: versions are pinned from it and markers are "
                    f"evaluated for {version}",
                )
            )
    if requirements_file is None:
        requirements = tuple(sorted(detected_requirements, key=lambda r: r.name))
        derived.add("requirements-file")
    else:
        requirements = tuple(sorted(file_requirements or (), key=lambda r: r.name))
    if local_paths is None:
        paths = tuple(sorted(dict.fromkeys(detected_local_paths)))
        derived.add("local-paths")
    else:
        paths = tuple(local_paths)
    return ManualSettings(
        version=effective_version,
        requirements=requirements,
        requirements_file=requirements_file,
        local_paths=paths,
        derived=frozenset(derived),
        notes=tuple(notes),
    )
