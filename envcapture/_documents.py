"""Private JSON document helpers: the schema header every document opens with, and its reader.

Every JSON document envcapture writes opens with ``schema`` (``envcapture/<kind>``),
``schema_version`` (``MAJOR.MINOR``) and ``generator``. A reader accepts the major version it
knows (a newer minor only adds fields) and refuses anything else with an `InputError` naming
the file and both versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, overload

from envcapture._version import __version__
from envcapture.errors import InputError

__all__ = ["GENERATOR", "document_header", "read_document"]

GENERATOR = f"envcapture {__version__}"
"""The ``generator`` of every document, and the name in the lock file's header."""


def document_header(schema: str, version: str) -> dict[str, str]:
    """``{"schema": ..., "schema_version": ..., "generator": ...}``: spread it first into a document."""
    return {"schema": schema, "schema_version": version, "generator": GENERATOR}


def _major(version: str) -> str:
    return version.split(".")[0]


@overload
def read_document(
    path: Path, *, schema: str, version: str, what: str, missing_hint: str, foreign_ok: Literal[False] = False
) -> dict[str, Any]: ...
@overload
def read_document(
    path: Path, *, schema: str, version: str, what: str, missing_hint: str, foreign_ok: bool
) -> dict[str, Any] | None: ...
def read_document(
    path: Path, *, schema: str, version: str, what: str, missing_hint: str, foreign_ok: bool = False
) -> dict[str, Any] | None:
    """The JSON document at ``path``, checked for its ``schema`` and major ``version``.

    ``what`` names the document in messages (``manifest``); ``missing_hint`` ends the message
    for a missing file (``is BUNDLE an envcapture bundle?``). ``foreign_ok``: a missing file
    or another document is ``None`` rather than an error.

    :raises InputError: missing, not JSON, another schema, or another major version.
    """
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        if foreign_ok:
            return None
        raise InputError(f"{path}: no such file; {missing_hint}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        if foreign_ok:
            return None
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise InputError(f"{path}: not an envcapture {what} (schema {found!r})")
    found_version = str(doc.get("schema_version", ""))
    if _major(found_version) != _major(version):
        raise InputError(
            f"{path}: {what} schema_version {found_version!r}; this envcapture reads {version} (major {_major(version)})"
        )
    return doc
