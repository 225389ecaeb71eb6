"""Private HTTP helper: one urllib client for the package indexes and the OCI registry."""

from __future__ import annotations

import http.client
import ipaddress
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

__all__ = ["is_loopback", "open_url"]


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1`` (brackets allowed): a server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_url(
    url: str,
    *,
    timeout: float,
    method: str = "GET",
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    verify: bool = True,
) -> http.client.HTTPResponse:
    """Send one request to an ``http``/``https`` URL; the response is a context manager.

    A loopback host is spoken to directly, never through the ``*_proxy`` of the environment
    (a proxy cannot reach this machine's loopback). ``verify=False`` accepts any certificate,
    as pip's ``--trusted-host`` does.

    :raises ValueError: ``url`` is not http(s): ``file:`` or custom schemes are never opened.
    :raises urllib.error.HTTPError: the server answered with an error status.
    :raises urllib.error.URLError, OSError: the server could not be reached.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {parts.scheme or 'no scheme'}")
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({} if is_loopback(parts.hostname or "") else None)]
    if not verify:
        handlers.append(urllib.request.HTTPSHandler(context=ssl._create_unverified_context()))  # noqa: S323 - pip's --trusted-host
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310 - the scheme is checked above
    return cast(http.client.HTTPResponse, urllib.request.build_opener(*handlers).open(request, timeout=timeout))
