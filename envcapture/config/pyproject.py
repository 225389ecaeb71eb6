"""A project's ``pyproject.toml`` -> the ``[tool.envcapture]`` keys the job commands read, located. Reads one file.

``with`` (a list of requirement strings: installed distributions to ship although the code
does not import them, ``with = ["pyarrow"]``) and ``installed-extras`` (true or false: the
installed-extras rule, on by default). TOML parsers give no positions, so each key and
string is found in the text; errors name ``pyproject.toml:LINE: tool.envcapture.KEY``.
The check stage reads the other keys of the table with the same helpers.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from envcapture._fs import read_user_file
from envcapture.errors import InputError, Location

__all__ = [
    "ProjectSettings",
    "WithEntry",
    "header_pos",
    "key_pos",
    "line_of",
    "load_toml",
    "parse_with",
    "read_project_settings",
    "settings_line",
    "string_pos",
]


def __dir__() -> list[str]:
    return list(__all__)


# --- located TOML ---------------------------------------------------------------------------------


def load_toml(path: Path, shown: str) -> tuple[dict[str, Any], str]:
    """The parsed document and its text.

    :raises InputError: the file cannot be read or is not TOML (``shown:LINE``).
    """
    try:
        text = read_user_file(path).decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError("no such file", location=Location(file=shown)) from exc
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", location=Location(file=shown)) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read the file: {exc}", location=Location(file=shown)) from exc
    # Imported here: most projects have no pyproject.toml, and a cold analysis reads this module.
    if sys.version_info >= (3, 11):
        import tomllib as _toml
    else:  # pragma: no cover - Python 3.10: tomli, a dependency there (pyproject.toml)
        import tomli as _toml
    try:
        return _toml.loads(text), text
    except _toml.TOMLDecodeError as exc:
        # tomllib puts the position in the text only: "Invalid value (at line 3, column 9)"
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(found.group(1)) if found else None
        first = str(exc).split(" (at ", 1)[0]
        raise InputError(f"not valid TOML: {first}", location=Location(file=shown, line=line)) from exc


def line_of(text: str, pos: int) -> int:
    """The 1-based line of offset ``pos``."""
    return text.count("\n", 0, pos) + 1


def header_pos(text: str, table: str) -> int | None:
    """Where the ``[table]`` header starts."""
    match = re.search(rf"(?m)^\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?$", text)
    return match.start() if match else None


def key_pos(text: str, key: str, start: int) -> int | None:
    """Where ``key =`` (bare or quoted) starts a line, after ``start``."""
    quoted = rf"(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')"
    match = re.compile(rf"(?m)^\s*{quoted}\s*=").search(text, start)
    return match.start() if match else None


def string_pos(text: str, value: str, start: int) -> int | None:
    """Where the string ``value``, in either quotes, first appears after ``start``."""
    for quote in ('"', "'"):
        pos = text.find(f"{quote}{value}{quote}", start)
        if pos >= 0:
            return pos
    return None


def settings_line(text: str, key: str) -> int | None:
    """The line of ``key`` in ``[tool.envcapture]`` (its own sub-table, else ``key =``, else the header)."""
    header = header_pos(text, "tool.envcapture")
    sub = header_pos(text, f"tool.envcapture.{key}")
    if sub is not None:
        return line_of(text, sub)
    if header is not None:
        pos = key_pos(text, key, header)
        if pos is not None:
            return line_of(text, pos)
        return line_of(text, header)
    return None


# --- the job commands' keys ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WithEntry:
    """One ``with`` requirement as written, and where (``pyproject.toml:12: tool.envcapture.with[0]``)."""

    text: str
    location: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectSettings:
    """The ``[tool.envcapture]`` keys of the job commands; defaults when the file or table is absent."""

    with_requirements: tuple[WithEntry, ...] = ()
    installed_extras: bool | None = None  # None: not set (the rule's default applies)


def parse_with(text: object, location: Location) -> Requirement:
    """A ``--with`` / ``with`` value as a PEP 508 requirement naming an installed distribution.

    :raises InputError: not a string, not PEP 508, or a URL (what ships is what is installed).
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"expected a requirement such as 'pyarrow' or 'pyarrow>=15', got {text!r}", location=location)
    try:
        req = Requirement(text.strip())
    except InvalidRequirement as exc:
        raise InputError(f"{text!r} is not a requirement: {str(exc).splitlines()[0]}", location=location) from exc
    if req.url:
        raise InputError(
            f"{text!r} is a URL requirement; name the distribution ({req.name}): what ships is the version installed",
            location=location,
        )
    return req


def read_project_settings(project: Path, *, shown: str = "pyproject.toml") -> ProjectSettings:
    """``with`` and ``installed-extras`` of ``[tool.envcapture]`` in ``project/pyproject.toml``.

    Other keys are not looked at (the check stage validates the whole table).

    :raises InputError: the file is not TOML; a value of the wrong type or a ``with``
        entry that is not a requirement (``pyproject.toml:LINE: tool.envcapture.with[i]``).
    """
    path = project / "pyproject.toml"
    if not path.is_file():
        return ProjectSettings()
    data, text = load_toml(path, shown)
    tool = data.get("tool")
    section = tool.get("envcapture") if isinstance(tool, dict) else None
    if not isinstance(section, dict):
        return ProjectSettings()
    return ProjectSettings(
        with_requirements=_with_entries(section.get("with"), text, shown),
        installed_extras=_installed_extras(section.get("installed-extras"), text, shown),
    )


def _with_entries(value: object, text: str, shown: str) -> tuple[WithEntry, ...]:
    if value is None:
        return ()
    line = settings_line(text, "with")
    where = Location(file=shown, line=line, key="tool.envcapture.with")
    if not isinstance(value, list):
        raise InputError('expected a list of requirements (with = ["pyarrow"])', location=where)
    entries = []
    cursor = key_pos(text, "with", header_pos(text, "tool.envcapture") or 0) or 0
    for index, item in enumerate(value):
        pos = string_pos(text, item, cursor) if isinstance(item, str) else None
        if pos is not None:
            cursor = pos + 1
        location = Location(
            file=shown, line=line_of(text, pos) if pos is not None else line, key=f"tool.envcapture.with[{index}]"
        )
        parse_with(item, location)
        entries.append(WithEntry(text=str(item).strip(), location=location))
    return tuple(entries)


def _installed_extras(value: object, text: str, shown: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    where = Location(file=shown, line=settings_line(text, "installed-extras"), key="tool.envcapture.installed-extras")
    raise InputError(f"expected true or false, got {value!r}", location=where)
