"""Closure + configured indexes -> warnings that matter, and artifact hashes. EDGE: HTTP (PEP 503).

* dependency confusion: a locked name served by more than one configured index (pip
  takes the highest version across all of them), or a locally built distribution whose
  name an index also serves;
* a pinned version that the index does not have, or has without a wheel for the
  target (CPython 3.X, manylinux_2_28 and older, x86_64, or ``py3-none-any``);
* plain-HTTP indexes that pip ignores unless their host is a trusted host.

Pages are read from each index's ``/simple/<name>/`` (PEP 503 HTML) once per client
(`IndexClient` caches them); a ``file://`` index is read from the disk, as pip reads it
(``<name>/index.html``). Credentials in index URLs are sent as HTTP Basic auth and
never appear in a message.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from envcapture._http import is_loopback, open_url
from envcapture._urls import mask_url
from envcapture.model import Diagnostic, Severity, Target
from envcapture.resolution.model import Artifact, Closure, Delivery, OriginKind, PackageSource, Pin, ResolveOptions, SourceKind
from envcapture.resolution.requirements import expand_env_vars
from envcapture.resolution.sources import configured_indexes
from envcapture.resolution.urls import file_url_path

__all__ = [
    "IndexClient",
    "IndexFile",
    "attach_artifacts",
    "check_dependency_confusion",
    "check_target_wheels",
    "index_warnings",
]


def __dir__() -> list[str]:
    return __all__


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class IndexFile:
    """One file of a PEP 503 project page."""

    filename: str
    url: str
    hashes: tuple[str, ...] = ()  # "sha256:<hex>"
    requires_python: str | None = None
    yanked: bool = False
    size: int | None = None  # bytes, when the index says (PEP 700) or the file is on this machine


# PEP 691: the JSON form of a project page, asked for first; it also has each file's size
# (PEP 700), which the HTML form lacks. An index that only speaks HTML answers in HTML.
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_ACCEPT = f"{_SIMPLE_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"  # as pip asks


def _json_files(body: str, base: str) -> list[IndexFile]:
    """The files of a PEP 691 JSON project page (entries that are not well-formed are skipped)."""
    data = json.loads(body)
    listed = data.get("files") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        raise ValueError("no list of files")
    files: list[IndexFile] = []
    for entry in listed:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str) or not isinstance(entry.get("url"), str):
            continue
        given = entry.get("hashes")
        digests: dict[str, object] = given if isinstance(given, dict) else {}
        hashes = tuple(f"{algo}:{str(digests[algo]).lower()}" for algo in ("sha256", "sha384", "sha512") if digests.get(algo))
        requires_python = entry.get("requires-python")
        size = entry.get("size")
        files.append(
            IndexFile(
                filename=entry["filename"],
                url=urljoin(base, entry["url"]).partition("#")[0],
                hashes=hashes[:1],
                requires_python=requires_python if isinstance(requires_python, str) else None,
                yanked=bool(entry.get("yanked")),
                size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
            )
        )
    return files


class _LinkParser(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.files: list[IndexFile] = []
        self._attrs: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != "a" or self._attrs is None:
            return
        href = self._attrs.get("href") or ""
        url = urljoin(self.base, href)
        clean, _, fragment = url.partition("#")
        filename = "".join(self._text).strip() or unquote(clean.rstrip("/").rsplit("/", 1)[-1])
        hashes: tuple[str, ...] = ()
        algo, _, digest = fragment.partition("=")
        if algo in ("sha256", "sha384", "sha512") and digest:
            hashes = (f"{algo}:{digest.lower()}",)
        self.files.append(
            IndexFile(
                filename=filename,
                url=clean,
                hashes=hashes,
                requires_python=self._attrs.get("data-requires-python"),
                yanked="data-yanked" in self._attrs,
            )
        )
        self._attrs = None


class IndexClient:
    """Reads PEP 503 project pages of the indexes in ``options``, with a cache.

    ``environ`` expands ``${VAR}`` in index URLs (default: none set). A host in
    ``trusted_hosts`` may be plain HTTP or have a certificate that does not verify, as
    with pip; other plain-HTTP hosts are skipped like pip skips them (loopback excepted).
    """

    def __init__(
        self,
        options: ResolveOptions,
        *,
        environ: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.options = options
        self.environ = dict(environ or {})
        self.timeout = timeout
        self.cache: dict[tuple[str, str], tuple[IndexFile, ...] | None] = {}
        self.errors: dict[str, str] = {}
        self.fetches = 0

    @property
    def indexes(self) -> tuple[str, ...]:
        return configured_indexes(self.options)

    def _trusted(self, host: str) -> bool:
        for item in self.options.trusted_hosts:
            name = item.split(":", 1)[0] if not item.startswith("[") else item
            if item == host or name == host.split(":", 1)[0]:
                return True
        return False

    def usable(self, index_url: str) -> str | None:
        """``None`` when pip would use ``index_url``; else why it would not."""
        parts = urlsplit(expand_env_vars(index_url, self.environ))
        if parts.scheme == "http" and not is_loopback(parts.hostname or "") and not self._trusted(parts.netloc):
            return f"{mask_url(index_url)} is plain HTTP and {parts.hostname} is not a trusted host: pip ignores it"
        return None

    def project_files(self, index_url: str, name: str) -> tuple[IndexFile, ...] | None:
        """The files of project ``name`` on ``index_url``; ``None`` when the index does not
        have the project (404) or cannot be read (the reason goes to ``errors``)."""
        key = (index_url, canonicalize_name(name))
        if key in self.cache:
            return self.cache[key]
        result = self._fetch(index_url, key[1])
        self.cache[key] = result
        return result

    def _fetch(self, index_url: str, name: str) -> tuple[IndexFile, ...] | None:
        expanded = expand_env_vars(index_url, self.environ)
        parts = urlsplit(expanded)
        if parts.scheme == "file":  # a mirror on this machine, as pip reads it
            return self._fetch_local(index_url, Path(file_url_path(expanded)) / name)
        headers = {"Accept": _ACCEPT, "User-Agent": "envcapture"}
        if parts.username is not None or parts.password is not None:
            creds = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            parts = parts._replace(netloc=netloc)
        base = urlunsplit(parts).rstrip("/")
        page = f"{base}/{name}/"
        verify = not (parts.scheme == "https" and self._trusted(parts.netloc))  # as pip's --trusted-host
        self.fetches += 1
        try:
            with open_url(page, headers=headers, timeout=self.timeout, verify=verify) as response:
                final = response.geturl()
                kind = response.headers.get("Content-Type", "")
                body = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                self.errors[index_url] = f"HTTP {exc.code} from {mask_url(index_url)}"
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            self.errors[index_url] = f"{mask_url(index_url)} is unreachable ({reason})"
            return None
        if kind.split(";")[0].strip().lower() == _SIMPLE_JSON:
            try:
                return tuple(_json_files(body, final))
            except (ValueError, TypeError, RecursionError):
                self.errors[index_url] = f"{mask_url(index_url)} sent a project page that is not valid JSON"
                return None
        parser = _LinkParser(final)
        parser.feed(body)
        return tuple(parser.files)

    def _fetch_local(self, index_url: str, project: Path) -> tuple[IndexFile, ...] | None:
        page = project / "index.html" if project.is_dir() else project
        self.fetches += 1
        try:
            body = page.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.errors[index_url] = f"{mask_url(index_url)} cannot be read ({exc.strerror or exc})"
            return None
        parser = _LinkParser(page.as_uri())
        parser.feed(body)
        return tuple(_with_local_size(f) for f in parser.files)


def _with_local_size(file: IndexFile) -> IndexFile:
    """``file`` with its size when its URL is a file on this machine."""
    if not file.url.startswith("file:"):
        return file
    try:
        return replace(file, size=Path(file_url_path(file.url)).stat().st_size)
    except (OSError, ValueError):
        return file


def _version_of(filename: str) -> tuple[str, Version] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return name, version


def _python_ok(file: IndexFile, target: Target) -> bool:
    if not file.requires_python:
        return True
    try:
        full = target.marker_environment()["python_full_version"]
        return SpecifierSet(file.requires_python).contains(full, prereleases=True)
    except InvalidSpecifier:
        return True


def _files_for(files: tuple[IndexFile, ...], pin: Pin) -> list[IndexFile]:
    try:
        wanted = Version(pin.version)
    except InvalidVersion:
        return []
    return [f for f in files if (parsed := _version_of(f.filename)) is not None and parsed[1] == wanted and not f.yanked]


def _compatible(files: list[IndexFile], target: Target) -> tuple[list[IndexFile], list[IndexFile]]:
    tags = set(target.wheel_tags())
    wheels = []
    sdists = []
    for f in files:
        if f.filename.endswith(".whl"):
            _, _, _, file_tags = parse_wheel_filename(f.filename)
            if file_tags & tags and _python_ok(f, target):
                wheels.append(f)
        elif _python_ok(f, target):
            sdists.append(f)
    return wheels, sdists


def _index_pins(closure: Closure) -> list[Pin]:
    """Pins fetched from an index: index deliveries and local-label wheels of index origin."""
    return [p for p in closure.pins if p.origin.kind is OriginKind.INDEX]


def _indexes_for(pin: Pin, client: IndexClient) -> tuple[str, ...]:
    if pin.origin.index_url:
        return tuple(dict.fromkeys([pin.origin.index_url, *client.indexes]))
    return client.indexes


def _warn(code: str, message: str, severity: Severity = Severity.WARNING) -> Diagnostic:
    return Diagnostic(file=None, line=None, code=code, message=message, severity=severity)


def check_dependency_confusion(closure: Closure, client: IndexClient) -> tuple[Diagnostic, ...]:
    """Names of the lock that more than one configured index serves, and locally built
    distributions (editable, local directory, local VCS) whose name an index serves."""
    indexes = [i for i in client.indexes if client.usable(i) is None]
    found: list[Diagnostic] = []
    if len(indexes) < 1:
        return ()
    for pin in closure.pins:
        if pin.delivery is Delivery.DIRECT:
            continue  # a direct reference never consults an index
        serving = [i for i in indexes if client.project_files(i, pin.name)]
        if pin.origin.kind is OriginKind.INDEX and len(serving) > 1:
            found.append(
                _warn(
                    "dependency-confusion",
                    f"{pin.name} is served by {len(serving)} indexes ({', '.join(mask_url(i) for i in serving)}): "
                    "pip takes the highest version from any of them, so anyone who can publish "
                    f"{pin.name} on one index can replace it; the lock pins {pin.name}=={pin.version}"
                    + (" with hashes" if pin.hashes else "; add hashes or keep one index per name"),
                    Severity.ERROR,
                )
            )
        elif pin.origin.kind is not OriginKind.INDEX and serving:
            found.append(
                _warn(
                    "local-name-on-index",
                    f"{pin.name} is built locally ({pin.origin.kind.value} install) but "
                    f"{', '.join(mask_url(i) for i in serving)} also serves a project of that name: "
                    "it must come from the wheelhouse, never from the index",
                )
            )
    return tuple(found)


def check_target_wheels(closure: Closure, target: Target, client: IndexClient) -> tuple[Diagnostic, ...]:
    """Index pins whose exact version has no file the target can install without building."""
    found: list[Diagnostic] = []
    where = target.describe()
    for index in client.indexes:
        reason = client.usable(index)
        if reason is not None:
            found.append(_warn("insecure-index", reason))
    for pin in _index_pins(closure):
        if pin.delivery is Delivery.WHEELHOUSE:
            continue  # shipped as a wheel; the wheelhouse builder checks it
        files: list[IndexFile] = []
        seen_any = False
        for index in _indexes_for(pin, client):
            if client.usable(index) is not None:
                continue
            page = client.project_files(index, pin.name)
            if page is None:
                continue
            seen_any = True
            files += _files_for(page, pin)
        if not seen_any:
            if client.errors:
                continue  # unreachable: reported once below
            found.append(_warn("not-on-index", f"{pin.name} is not on any configured index"))
            continue
        if not files:
            found.append(_warn("version-not-on-index", f"{pin.name}=={pin.version} is not on the configured indexes"))
            continue
        wheels, sdists = _compatible(files, target)
        if wheels:
            continue
        if sdists:
            found.append(
                _warn(
                    "no-target-wheel",
                    f"{pin.name}=={pin.version} has no wheel for {where}, only an sdist: envcapture build "
                    "builds its wheel into the wheelhouse (compiled code needs a CPython of the target "
                    "version here); the lock hashes the sdist",
                )
            )
        else:
            names = ", ".join(sorted(f.filename for f in files)[:3])
            found.append(
                _warn(
                    "no-target-wheel",
                    f"{pin.name}=={pin.version} has no file for {where} (only {names})",
                    Severity.ERROR,
                )
            )
    for index in sorted(client.errors):
        found.append(_warn("index-unreachable", client.errors[index]))
    return tuple(found)


def attach_artifacts(closure: Closure, target: Target, client: IndexClient) -> Closure:
    """A closure whose index pins carry the target-compatible wheels and the sdist of their
    exact version, with the hashes the index publishes (first index that has them) and
    that index as where they were found."""
    pins = []
    for pin in closure.pins:
        if pin.origin.kind is not OriginKind.INDEX or pin.artifacts:
            pins.append(pin)
            continue
        artifacts: tuple[Artifact, ...] = ()
        for index in _indexes_for(pin, client):
            if client.usable(index) is not None:
                continue
            page = client.project_files(index, pin.name)
            if not page:
                continue
            wheels, sdists = _compatible(_files_for(page, pin), target)
            chosen = [f for f in [*wheels, *sdists[:1]] if f.hashes]
            if chosen:
                source = PackageSource(kind=SourceKind.INDEX, location=mask_url(index))
                artifacts = tuple(
                    sorted(
                        Artifact(filename=f.filename, url=f.url, hashes=f.hashes, size=f.size, found_on=source) for f in chosen
                    )
                )
                break
        pins.append(replace(pin, artifacts=artifacts) if artifacts else pin)
    return replace(closure, pins=tuple(pins))


def index_warnings(closure: Closure, target: Target, client: IndexClient) -> tuple[Diagnostic, ...]:
    """Both checks, dependency confusion first."""
    return check_dependency_confusion(closure, client) + check_target_wheels(closure, target, client)
