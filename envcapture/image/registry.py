"""An OCI image layout -> a registry, through the OCI distribution API over HTTP(S) with ``urllib``. EDGE: network.

`push_image` uploads every blob the registry lacks (``HEAD /v2/<name>/blobs/<digest>``,
then ``POST /v2/<name>/blobs/uploads/`` and one monolithic ``PUT <location>?digest=``),
then the config, then ``PUT /v2/<name>/manifests/<tag>``, and checks that the registry's
``Docker-Content-Digest`` is the manifest digest envcapture computed.

Credentials come from the Docker client configuration (``$DOCKER_CONFIG/config.json``,
else ``~/.docker/config.json``): ``auths.<registry>.auth`` (base64 ``user:password``) or
``username``/``password``. They are sent as HTTP Basic to a registry that asks for Basic,
or exchanged for a token at the ``realm`` of a ``Bearer`` challenge (Docker Hub, GHCR).
Credential helpers (``credsStore``/``credHelpers``) are not run. A registry on a
loopback address is spoken to over plain HTTP, like Docker's built-in insecure range;
any other over HTTPS unless ``insecure=True``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envcapture._http import is_loopback, open_url
from envcapture.errors import BuildError, InputError
from envcapture.image.oci import MANIFEST_MEDIA_TYPE, image_layout_blob, layout_manifest

__all__ = ["PushResult", "Reference", "docker_credentials", "parse_reference", "push_image"]


def __dir__() -> list[str]:
    return __all__


_CHUNK = 1 << 20
_TIMEOUT = 300.0
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """``REGISTRY/REPOSITORY:TAG``: ``registry`` is ``host[:port]``."""

    registry: str
    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    def with_digest(self, digest: str) -> str:
        return f"{self.registry}/{self.repository}@{digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    reference: Reference
    digest: str
    uploaded: int
    existing: int
    bytes_uploaded: int


def parse_reference(text: str) -> Reference:
    """``REGISTRY/REPO[:TAG]`` (the registry part is required: a host with a dot or a
    port, or ``localhost``); the tag defaults to ``latest``.

    :raises InputError: no registry, a bad repository name or tag.
    """
    first, sep, rest = text.partition("/")
    if not sep or not rest or not ("." in first or ":" in first or first == "localhost"):
        raise InputError(f"--push {text!r}: expected REGISTRY/REPOSITORY:TAG (e.g. 127.0.0.1:5000/team/job:v1)")
    repo, tag = rest, "latest"
    if ":" in rest.rsplit("/", 1)[-1]:
        repo, _, tag = rest.rpartition(":")
    if "@" in rest:
        raise InputError(f"--push {text!r}: push to a tag; the digest is what the push returns")
    if not _REPO_RE.match(repo) or not _TAG_RE.match(tag):
        raise InputError(f"--push {text!r}: invalid repository {repo!r} or tag {tag!r}")
    return Reference(registry=first, repository=repo, tag=tag)


def _is_loopback(registry: str) -> bool:
    return is_loopback(urllib.parse.urlsplit(f"//{registry}").hostname or "")


def docker_credentials(registry: str, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(username, password) for ``registry`` from the Docker config, or ``None``.

    :raises InputError: the config exists but cannot be read or decoded.
    """
    env = os.environ if environ is None else environ
    folder = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path(env.get("HOME", str(Path.home()))) / ".docker"
    path = folder / "config.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the Docker config ({exc})") from exc
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    keys = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/", f"https://{registry}/v2/"]
    if registry in ("docker.io", "registry-1.docker.io"):
        keys.append("https://index.docker.io/v1/")
    for key in keys:
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(str(entry["auth"])).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(f"{path}: auths.{key}.auth is not base64 of user:password") from exc
            return user, password
        if entry.get("username") is not None:
            return str(entry["username"]), str(entry.get("password", ""))
    return None


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class _Session:
    """Requests to one registry, with the authorization its challenges ask for."""

    def __init__(self, ref: Reference, *, insecure: bool, credentials: tuple[str, str] | None) -> None:
        scheme = "http" if insecure or _is_loopback(ref.registry) else "https"
        self.base = f"{scheme}://{ref.registry}"
        self.ref = ref
        self.credentials = credentials
        self.authorization: str | None = None

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base}{path}"

    def _basic(self) -> str:
        assert self.credentials is not None
        user, password = self.credentials
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")

    def _authenticate(self, challenge: str) -> bool:
        scheme, params = _parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None or self.authorization is not None:
                return False
            self.authorization = self._basic()
            return True
        if scheme == "bearer" and "realm" in params and not (self.authorization or "").startswith("Bearer"):
            query = {k: v for k, v in params.items() if k in ("service", "scope")}
            if "scope" not in query:
                query["scope"] = f"repository:{self.ref.repository}:pull,push"
            auth = {"Authorization": self._basic()} if self.credentials is not None else {}
            try:
                with open_url(f"{params['realm']}?{urllib.parse.urlencode(query)}", headers=auth, timeout=_TIMEOUT) as response:
                    doc = json.loads(response.read())
            except (urllib.error.URLError, ValueError, OSError) as exc:
                raise BuildError(f"step push: token request to {params['realm']} failed: {exc}") from exc
            token = doc.get("token") or doc.get("access_token")
            if not token:
                return False
            self.authorization = f"Bearer {token}"
            return True
        return False

    def request(
        self, method: str, path: str, *, data: Any = None, headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (200,)
    ) -> tuple[int, Any, bytes]:
        for _attempt in range(3):
            sent = dict(headers or {})
            if self.authorization:
                sent["Authorization"] = self.authorization
            try:
                with open_url(self.url(path), method=method, data=data, headers=sent, timeout=_TIMEOUT) as response:
                    return response.status, response.headers, response.read()
            except urllib.error.HTTPError as exc:
                body = exc.read()
                if exc.code == 401 and self._authenticate(exc.headers.get("WWW-Authenticate", "")):
                    if hasattr(data, "seek"):
                        data.seek(0)
                    continue
                if exc.code in ok:
                    return exc.code, exc.headers, body
                if exc.code in (401, 403):
                    have = "the credentials" if self.credentials else "no credentials"
                    raise BuildError(
                        f"step push: {method} {self.url(path)}: HTTP {exc.code} unauthorized with {have} for {self.ref.registry}",
                        hint="docker login, or add auths in $DOCKER_CONFIG/config.json",
                    ) from exc
                raise BuildError(f"step push: {method} {self.url(path)}: HTTP {exc.code} {_errors(body)}".rstrip()) from exc
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise BuildError(f"step push: {method} {self.url(path)}: {getattr(exc, 'reason', exc)}") from exc
        raise BuildError(f"step push: {method} {self.url(path)}: unauthorized (check the credentials in the Docker config)")


def _errors(body: bytes) -> str:
    try:
        doc = json.loads(body)
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in doc.get("errors", [])) or body[:200].decode(
            "utf-8", "replace"
        )
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


def _upload(session: _Session, name: str, digest: str, blob: Path) -> None:
    _status, headers, _ = session.request("POST", f"/v2/{name}/blobs/uploads/", data=b"", ok=(202,))
    location = headers.get("Location")
    if not location:
        raise BuildError(f"step push: the registry gave no upload location for {digest}")
    if not location.startswith(("http://", "https://")):
        location = urllib.parse.urljoin(session.base + "/", location)
    joiner = "&" if urllib.parse.urlsplit(location).query else "?"
    size = blob.stat().st_size
    with open(blob, "rb") as handle:
        session.request(
            "PUT",
            f"{location}{joiner}digest={urllib.parse.quote(digest)}",
            data=handle,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            ok=(201, 204),
        )


def push_image(
    layout: str | Path, reference: str | Reference, *, insecure: bool = False, environ: Mapping[str, str] | None = None
) -> PushResult:
    """Push the image of the OCI layout ``layout`` to ``reference``.

    :raises InputError: a bad reference, a layout without its base layers, a bad Docker config.
    :raises BuildError: the registry refuses, or returns another digest.
    """
    ref = reference if isinstance(reference, Reference) else parse_reference(reference)
    layout = Path(layout)
    manifest, manifest_bytes, digest = layout_manifest(layout)
    labels: dict[str, Any] = {}
    try:
        config_doc = json.loads(image_layout_blob(layout, manifest["config"]["digest"]).read_bytes())
        labels = (config_doc.get("config") or {}).get("Labels") or {}
    except (OSError, ValueError, KeyError):
        pass
    if labels.get("io.envcapture.rebase-required") == "true":
        raise InputError(
            f"{layout}: the image lacks its base layers ({labels.get('org.opencontainers.image.base.name')}); give "
            "--base-oci or --base-rootfs, or build its Dockerfile with an engine and push that"
        )
    session = _Session(ref, insecure=insecure, credentials=docker_credentials(ref.registry, environ))
    uploaded = existing = sent = 0
    for desc in [*manifest["layers"], manifest["config"]]:
        blob_digest = str(desc["digest"])
        blob = image_layout_blob(layout, blob_digest)
        if not blob.is_file():
            raise InputError(f"{layout}: blob {blob_digest} is missing")
        status, _, _ = session.request("HEAD", f"/v2/{ref.repository}/blobs/{blob_digest}", ok=(200, 404))
        if status == 200:
            existing += 1
            continue
        _upload(session, ref.repository, blob_digest, blob)
        uploaded += 1
        sent += blob.stat().st_size
    _status, headers, _ = session.request(
        "PUT",
        f"/v2/{ref.repository}/manifests/{ref.tag}",
        data=manifest_bytes,
        headers={"Content-Type": str(manifest.get("mediaType") or MANIFEST_MEDIA_TYPE)},
        ok=(201,),
    )
    returned = headers.get("Docker-Content-Digest")
    if returned and returned != digest:
        raise BuildError(f"step push: {ref}: the registry stored the manifest as {returned}, not {digest}")
    return PushResult(reference=ref, digest=digest, uploaded=uploaded, existing=existing, bytes_uploaded=sent)
