"""Requirements files, ``pyproject.toml`` and inline comments -> `Declared`, `CheckSettings`, ignores. EDGE: reads files.

* requirements files in pip syntax (``-r`` includes followed), through `parse_requirements_file`;
* PEP 621 ``[project.dependencies]`` and ``[project.optional-dependencies]``; TOML parsers
  give no positions, so each dependency string is found in the text, in order, after its key;
* ``[tool.envcapture]``: ``entry-points``, ``ignore``, ``mapping``, ``python``, ``require-pins``,
  and the job commands' ``with`` and ``installed-extras`` (read by `envcapture.config.pyproject`);
  any other key is an `InputError` naming it, with its line;
* ``# envcapture: ignore``, ``# envcapture: ignore[missing, EC002]`` on a line.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from envcapture._fs import read_user_file
from envcapture.check.model import CheckSettings, Declared, DeclaredRequirement, rule_code
from envcapture.config.pyproject import (
    header_pos,
    key_pos,
    line_of,
    load_toml,
    read_project_settings,
    settings_line,
    string_pos,
)
from envcapture.errors import InputError, Location, RequirementsError
from envcapture.model import DistName, dist_name
from envcapture.resolution.requirements import parse_requirements_file

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - Python 3.10: tomli, a dependency there (pyproject.toml)
    import tomli as _toml

__all__ = [
    "SETTINGS_KEYS",
    "read_declared",
    "read_inline_ignores",
    "read_pyproject_requirements",
    "read_requirements",
    "read_settings",
]


def __dir__() -> list[str]:
    return list(__all__)


SETTINGS_KEYS = ("entry-points", "ignore", "installed-extras", "mapping", "python", "require-pins", "with")
_IGNORE_RE = re.compile(r"#\s*envcapture:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


# --- requirements files ------------------------------------------------------------------------


def read_requirements(path: Path, *, root: Path) -> tuple[DeclaredRequirement, ...]:
    """The requirements of the pip requirements file ``path`` and of the files it includes.

    :raises RequirementsError: unreadable file, bad line, bad include.
    """
    parsed = parse_requirements_file(path, root=root)
    return tuple(
        DeclaredRequirement(
            name=line.name,
            written_name=line.display_name,
            text=line.text,
            file=line.location.file or _rel(path, root),
            line=line.location.line or 1,
            source="requirements",
            specifier=line.specifier,
            url=line.url,
            path=line.path,
            editable=line.editable,
            extras=line.extras,
            markers=line.markers,
        )
        for line in parsed.requirements
    )


# --- pyproject.toml -----------------------------------------------------------------------------


class _Locator:
    """Finds each dependency string in order; falls back to its key's line."""

    def __init__(self, text: str) -> None:
        self.text = text

    def lines(self, values: list[str], start: int | None) -> list[int]:
        cursor = start or 0
        fallback = line_of(self.text, start) if start is not None else 1
        out = []
        for value in values:
            pos = string_pos(self.text, value, cursor)
            if pos is None:
                out.append(fallback)
                continue
            out.append(line_of(self.text, pos))
            cursor = pos + len(value) + 2
        return out


def _pep508(value: object, loc: Location) -> Requirement:
    if not isinstance(value, str):
        raise InputError(f"expected a PEP 508 string, got {value!r}", location=loc)
    try:
        return Requirement(value)
    except InvalidRequirement as exc:
        raise RequirementsError(f"cannot parse {value!r}: {str(exc).splitlines()[0]}", location=loc) from exc


def read_pyproject_requirements(path: Path, *, root: Path) -> tuple[tuple[DeclaredRequirement, ...], DistName | None]:
    """PEP 621 dependencies and optional dependencies of ``path``, and ``[project] name``.

    :raises InputError: not TOML, or a dependency that is not a PEP 508 string.
    """
    shown = _rel(path, root)
    data, text = load_toml(path, shown)
    project = data.get("project")
    if not isinstance(project, dict):
        return (), None
    name = project.get("name")
    own = dist_name(name) if isinstance(name, str) else None
    table = header_pos(text, "project") or 0
    locator = _Locator(text)
    out: list[DeclaredRequirement] = []

    def add(values: object, key: str, start: int | None, group: str | None) -> None:
        if not isinstance(values, list):
            raise InputError(f"expected a list of strings, got {type(values).__name__}", location=Location(file=shown, key=key))
        strings = [v if isinstance(v, str) else "" for v in values]
        for value, line in zip(values, locator.lines(strings, start), strict=True):
            loc = Location(file=shown, line=line, key=key)
            req = _pep508(value, loc)
            out.append(
                DeclaredRequirement(
                    name=dist_name(req.name),
                    written_name=req.name,
                    text=str(value),
                    file=shown,
                    line=line,
                    source="pyproject",
                    specifier=str(req.specifier),
                    url=req.url,
                    extras=frozenset(dist_name(e) for e in req.extras),
                    markers=str(req.marker) if req.marker is not None else None,
                    group=group,
                )
            )

    if "dependencies" in project:
        add(project["dependencies"], "project.dependencies", key_pos(text, "dependencies", table), None)
    optional = project.get("optional-dependencies")
    if isinstance(optional, dict):
        sub = header_pos(text, "project.optional-dependencies")
        base = sub if sub is not None else (key_pos(text, "optional-dependencies", table) or table)
        for group, values in optional.items():
            add(values, f"project.optional-dependencies.{group}", key_pos(text, group, base) or base, group)
    return tuple(out), own


# --- [tool.envcapture] ---------------------------------------------------------------------------


def _names(value: object, loc: Location) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("expected a list of package names", location=loc)
    return frozenset(v.strip() for v in value if v.strip())


def read_settings(path: Path, *, root: Path) -> CheckSettings:
    """``[tool.envcapture]`` of the ``pyproject.toml`` at ``path``; defaults when absent.

    :raises InputError: an unknown key (named, with a hint), or a value of the wrong type.
    """
    if not path.is_file():
        return CheckSettings()
    shown = _rel(path, root)
    data, text = load_toml(path, shown)
    tool = data.get("tool", {})
    section = tool.get("envcapture") if isinstance(tool, dict) else None
    if section is None:
        return CheckSettings()

    def loc(key: str) -> Location:
        return Location(file=shown, line=settings_line(text, key), key=f"tool.envcapture.{key}")

    if not isinstance(section, dict):
        raise InputError("expected a table", location=Location(file=shown, key="tool.envcapture"))
    for key in section:
        if key not in SETTINGS_KEYS:
            close = difflib.get_close_matches(key, SETTINGS_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(SETTINGS_KEYS)}"
            raise InputError("unknown key", location=loc(key), hint=hint)
    entry_points: tuple[str, ...] = ()
    if "entry-points" in section:
        value = section["entry-points"]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise InputError('expected a list of scripts or "-m module" strings', location=loc("entry-points"))
        entry_points = tuple(value)
    ignore: set[tuple[str, str]] = set()
    if "ignore" in section:
        table = section["ignore"]
        if not isinstance(table, dict):
            raise InputError('expected a table of rule -> package names (ignore = {EC002 = ["black"]})', location=loc("ignore"))
        for rule, names in table.items():
            code = rule_code(rule)
            if code is None:
                raise InputError(
                    f"unknown rule {rule!r}", location=loc("ignore").child(rule), hint="rules are EC001..EC006 or their names"
                )
            for name in _names(names, loc("ignore").child(rule)):
                ignore.add((code, name))
                ignore.add((code, dist_name(name)))
    mapping: list[tuple[str, str]] = []
    if "mapping" in section:
        table = section["mapping"]
        if not isinstance(table, dict) or not all(isinstance(v, str) and v.strip() for v in table.values()):
            raise InputError(
                'expected a table of import name -> distribution (mapping = {mymod = "my-dist"})', location=loc("mapping")
            )
        mapping = sorted((str(k), str(v).strip()) for k, v in table.items())
    require_pins = section.get("require-pins", False)
    if not isinstance(require_pins, bool):
        raise InputError(f"expected true or false, got {require_pins!r}", location=loc("require-pins"))
    python = section.get("python")
    if python is not None and (not isinstance(python, str) or not python.strip()):
        raise InputError(
            'expected an interpreter, a virtualenv directory or a version (python = ".venv")', location=loc("python")
        )
    job_keys = read_project_settings(path.parent, shown=shown)
    return CheckSettings(
        entry_points=entry_points,
        ignore=frozenset(ignore),
        mapping=tuple(mapping),
        require_pins=require_pins,
        python=python.strip() if python else None,
        with_requirements=job_keys.with_requirements,
        installed_extras=job_keys.installed_extras,
    )


# --- all sources -----------------------------------------------------------------------------------


def read_declared(
    *,
    root: Path,
    requirements: Iterable[Path] = (),
    pyproject: Path | None = None,
) -> Declared:
    """What ``requirements`` files and ``pyproject``'s PEP 621 tables declare.

    Additions of ``--fix`` go to the first requirements file. ``[project] name`` is read
    from ``root/pyproject.toml`` even when it is not a source.
    """
    reqs: list[DeclaredRequirement] = []
    files: list[str] = []
    fix_file: str | None = None
    for path in requirements:
        found = read_requirements(path, root=root)
        shown = _rel(path if path.is_absolute() else root / path, root)
        if fix_file is None:
            fix_file = shown
        files.append(shown)
        files.extend(f for f in dict.fromkeys(r.file for r in found) if f not in files)
        reqs.extend(found)
    own: DistName | None = None
    if pyproject is not None:
        found_py, own = read_pyproject_requirements(pyproject, root=root)
        files.append(_rel(pyproject, root))
        reqs.extend(found_py)
    elif (root / "pyproject.toml").is_file():
        try:
            data = _toml.loads(read_user_file(root / "pyproject.toml").decode("utf-8-sig"))
            name = data.get("project", {}).get("name")
            own = dist_name(name) if isinstance(name, str) else None
        except (OSError, UnicodeDecodeError, _toml.TOMLDecodeError, AttributeError):
            own = None
    return Declared(requirements=tuple(reqs), files=tuple(dict.fromkeys(files)), fix_file=fix_file, project_name=own)


def read_inline_ignores(root: Path, files: Iterable[str]) -> Mapping[tuple[str, int], frozenset[str]]:
    """``(file, line)`` -> rule codes of every ``# envcapture: ignore[...]`` comment in ``files``.

    A bare ``ignore`` maps to the empty set (every rule); unknown names are dropped.
    Unreadable files have no ignores (the analysis reports them).
    """
    found: dict[tuple[str, int], frozenset[str]] = {}
    for file in dict.fromkeys(files):
        try:
            text = read_user_file(root / file, limit=64 << 20).decode("utf-8", errors="replace")
        except OSError:
            continue
        if "envcapture" not in text:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            match = _IGNORE_RE.search(line)
            if match is None:
                continue
            codes = match.group("codes")
            if codes is None:
                found[(file, number)] = frozenset()
                continue
            known = {rule_code(c) for c in codes.split(",") if c.strip()}
            found[(file, number)] = frozenset(c for c in known if c is not None) or frozenset({"-"})
    return found
