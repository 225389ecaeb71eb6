"""Private URL helpers: credentials masked for messages, lock files and cache keys."""

from __future__ import annotations

import re

__all__ = ["mask_url"]

# scheme://userinfo@ anywhere in a text; RFC 3986 userinfo holds no "/", "?", "#" or "@".
_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]*)@")
# ${USER} or ${USER}:${TOKEN}: references pip expands, not secrets (PEP 610 keeps them too).
_REFERENCES_RE = re.compile(r"\$\{[A-Z0-9_]+\}(?::\$\{[A-Z0-9_]+\})?")


def _mask(match: re.Match[str]) -> str:
    info = match.group("userinfo")
    if info == "git" or _REFERENCES_RE.fullmatch(info):
        return match.group(0)
    return f"{match.group('scheme')}***@"


def mask_url(text: str) -> str:
    """Every ``scheme://user:token@`` in ``text`` as ``scheme://***@``.

    The whole user information goes, the user name too: a token is often the user name
    (``https://<token>@host``, ``https://<token>:x-oauth-basic@github.com``). Kept: the
    ``git@`` user of SSH URLs and ``${VAR}`` references, which pip expands at install time.
    """
    return _USERINFO_RE.sub(_mask, text)
