"""URLs in the resolution stage: ``file://`` URLs read as paths (credentials: envcapture._urls). Pure."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["file_url_path"]


def __dir__() -> list[str]:
    return list(__all__)


def file_url_path(url: str) -> str:
    """The local path of a ``file://`` URL (percent-escapes decoded): ``file:///a%20b`` -> ``/a b``."""
    return unquote(urlsplit(url).path)
