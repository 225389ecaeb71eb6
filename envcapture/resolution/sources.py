"""Where packages come from: ``env.python.pip`` over pip's own configuration, and which
configured source a file was found on. Pure (a relative find-links directory is read from the
working directory, as pip reads it).

`with_pip_config` lays config.yaml's options (merged with a requirements file's) over the
`PipConfig` pip reported for the analysed environment, key by key, as pip lays its own
files over each other: a key the job sets (``index-url``, ``extra-index-url``,
``trusted-host``, ``find-links``) replaces pip's value of that key, a key it leaves out
keeps pip's. Every setting taken from pip, or left out, is a `Decision` naming where it was
set. pip's ``no-index`` applies only while the job names no index itself.

`source_of_link` says which configured index or find-links location a link pip found
belongs to (pip logs each link with the page it was on), so the lock can say where each
file came from. Locations are written as configured with credentials masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from urllib.parse import unquote, urlsplit, urlunsplit

from envcapture._urls import mask_url
from envcapture.environment.pipconfig import PipConfig, PipSetting
from envcapture.resolution.model import Decision, PackageSource, ResolveOptions, SourceKind
from envcapture.resolution.requirements import expand_env_vars
from envcapture.resolution.urls import file_url_path

__all__ = ["DEFAULT_INDEX", "configured_indexes", "source_of_link", "with_pip_config"]


def __dir__() -> list[str]:
    return __all__


DEFAULT_INDEX = "https://pypi.org/simple"
"""pip's index when none is configured."""

_SUBJECT = "pip configuration"


def _shown(setting: PipSetting) -> str:
    return " ".join(mask_url(v) for v in setting.values)


def _used(setting: PipSetting) -> Decision:
    return Decision(
        subject=_SUBJECT,
        action="pip-config",
        reason=f"--{setting.key} {_shown(setting)} from {setting.origin}: env.python.pip does not set it",
    )


def _unused(setting: PipSetting, why: str) -> Decision:
    return Decision(
        subject=_SUBJECT,
        action="pip-config-overridden",
        reason=f"--{setting.key} {_shown(setting)} from {setting.origin} is not used: {why}",
    )


def with_pip_config(options: ResolveOptions, config: PipConfig) -> tuple[ResolveOptions, tuple[Decision, ...]]:
    """``options`` (the job's) over ``config`` (pip's), key by key; see the module doc.
    Returns the effective options and a decision per pip setting, used or not."""
    decisions: list[Decision] = []
    changes: dict[str, object] = {}
    job_names_index = options.no_index or bool(options.index_url) or bool(options.extra_index_urls)
    if (setting := config.get("no-index")) is not None and config.no_index:
        if job_names_index:
            decisions.append(_unused(setting, "the job names its indexes"))
        else:
            changes["no_index"] = True
            decisions.append(_used(setting))
    no_index = bool(changes.get("no_index")) or options.no_index
    for key, field, own in (
        ("index-url", "index_url", options.index_url),
        ("extra-index-url", "extra_index_urls", options.extra_index_urls),
    ):
        setting = config.get(key)
        if setting is None:
            continue
        if no_index:
            decisions.append(_unused(setting, "no-index is set"))
        elif own:
            decisions.append(_unused(setting, f"env.python.pip.{key}{'s' if key.startswith('extra') else ''} comes first"))
        else:
            changes[field] = setting.values[0] if field == "index_url" else setting.values
            decisions.append(_used(setting))
    for key, field, own in (
        ("find-links", "find_links", options.find_links),
        ("trusted-host", "trusted_hosts", options.trusted_hosts),
    ):
        setting = config.get(key)
        if setting is None:
            continue
        if own:
            decisions.append(_unused(setting, f"the job sets {key} itself"))
        else:
            changes[field] = setting.values
            decisions.append(_used(setting))
    if config.transport and not options.transport:
        changes["transport"] = config.transport
    if not changes:
        return options, tuple(sorted(decisions))
    return replace(options, **changes), tuple(sorted(decisions))  # type: ignore[arg-type]


def configured_indexes(options: ResolveOptions, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The indexes pip searches with ``options`` (pip's default without an index URL), then ``extra``."""
    if options.no_index:
        return ()
    return tuple(dict.fromkeys([options.index_url or DEFAULT_INDEX, *options.extra_index_urls, *extra]))


def _bare(url: str) -> str:
    """``url`` without credentials, fragment or query; scheme and host lower-cased: how a
    configured URL and the same URL in pip's log (credentials redacted) compare."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), host, unquote(parts.path), "", ""))


def _local_dir(location: str, environ: Mapping[str, str]) -> str | None:
    """The directory a find-links entry names on this machine (``/d``, ``file:///d``)."""
    expanded = expand_env_vars(location, environ)
    scheme = urlsplit(expanded).scheme
    if scheme == "file":
        return os.path.normpath(file_url_path(expanded))
    if scheme in ("http", "https"):
        return None
    return os.path.normpath(os.path.abspath(expanded))


def source_of_link(
    url: str,
    page: str | None,
    options: ResolveOptions,
    *,
    extra_indexes: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> PackageSource | None:
    """The configured source of a link pip found: the index whose pages hold ``page``, the
    find-links page ``page`` is, or the find-links directory that holds the local file
    ``url``; ``None`` when none matches."""
    env = environ or {}
    if page:
        seen = _bare(page).rstrip("/")
        for index in configured_indexes(options, extra_indexes):
            base = _bare(expand_env_vars(index, env)).rstrip("/")
            if seen == base or seen.startswith(base + "/"):
                return PackageSource(kind=SourceKind.INDEX, location=mask_url(index))
        for link in options.find_links:
            if _bare(expand_env_vars(link, env)).rstrip("/") == seen:
                return PackageSource(kind=SourceKind.FIND_LINKS, location=mask_url(link))
        return None
    if urlsplit(url).scheme != "file":
        return None
    path = os.path.normpath(file_url_path(url.partition("#")[0]))
    for link in options.find_links:
        directory = _local_dir(link, env)
        if directory is not None and (os.path.dirname(path) == directory or path == directory):
            return PackageSource(kind=SourceKind.FIND_LINKS, location=mask_url(link))
    return None
