"""URLs in the resolution stage: credentials masked for output, ``file://`` URLs read as paths. Pure."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = ["file_url_path", "mask_url"]


def __dir__() -> list[str]:
    return list(__all__)


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


def file_url_path(url: str) -> str:
    """The local path of a ``file://`` URL (percent-escapes decoded): ``file:///a%20b`` -> ``/a b``."""
    return unquote(urlsplit(url).path)
