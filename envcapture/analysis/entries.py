"""Config + command line -> the job's entry points, as Python runs them (glue over entrypoints.py).

What Python does with each kind of entry, and so what the analysis walks:

* ``python main.py``: the script, with its directory first on ``sys.path``;
* ``python -m pkg.mod``: the module, found from the working directory (and ``PYTHONPATH``);
* ``python src/app``, a directory with ``__main__.py``: that file as a script, with the
  directory first on ``sys.path`` (the ``SCRIPT`` entry is ``src/app/__main__.py``);
* ``pkg/__main__.py`` or ``pkg/__init__.py`` of a package, given as the entry: the package,
  as ``python -m pkg`` runs it, so its relative imports resolve (a note says so; a package
  without ``__main__`` is imported, nothing runs as ``__main__``);
* ``./bin/train``, an extension-less project file whose ``#!`` line runs Python: a script.

`missing_entry_scripts` names the scripts ``cmd`` runs that do not exist, each located in
config.yaml (``config check``, ``lock`` and ``build`` refuse them); `cmd_named_files` the
project files its arguments name (``config/train_x.py``, ``--cfg models/yolov5n.yaml``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from envcapture.analysis.model import EntryKind, EntryPoint
from envcapture.errors import InputError
from envcapture.model import Diagnostic, Severity

if TYPE_CHECKING:
    from envcapture.analysis.entrypoints import CommandAnalysis
    from envcapture.config.model import JobConfig

__all__ = ["NO_ENTRY_POINT", "cmd_named_files", "entry_points_for", "missing_entry_scripts"]

NO_ENTRY_POINT = "no-entry-point"
"""Diagnostic code: ``cmd`` runs Python, but no entry point was found (``lock``/``build`` refuse)."""

_PYTHON_NAME = re.compile(r"python(3(\.\d+)?)?")
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_SHEBANG_BYTES = 256


def _inside(project: Path, item: object) -> Path | None:
    """The project file ``item`` (a project-relative POSIX path) names, if it is one."""
    if not isinstance(item, str) or "${" in item:
        return None
    path = (project / item).resolve()
    try:
        path.relative_to(project)
    except ValueError:
        return None
    return path


class _ProjectFiles:
    """``"path" in files`` tells whether a project-relative file exists (for cmd analysis)."""

    def __init__(self, project: Path) -> None:
        self.project = project

    def __contains__(self, item: object) -> bool:
        path = _inside(self.project, item)
        return path is not None and path.is_file()


class _PythonScripts:
    """``"bin/train" in scripts``: an extension-less project file whose ``#!`` line runs Python."""

    def __init__(self, project: Path) -> None:
        self.project = project

    def __contains__(self, item: object) -> bool:
        path = _inside(self.project, item)
        return path is not None and not path.suffix and path.is_file() and _runs_python(path)


def _runs_python(path: Path) -> bool:
    """Whether the ``#!`` line of ``path`` runs Python (``#!/usr/bin/env python3``,
    ``#!/usr/bin/env -S python3 -u``, ``#!/opt/venv/bin/python``)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SHEBANG_BYTES)
    except OSError:
        return False
    if not head.startswith(b"#!"):
        return False
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if words and posixpath.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    return bool(words) and bool(_PYTHON_NAME.fullmatch(posixpath.basename(words[0])))


def _package_of(directory: Path, project: Path) -> tuple[str, Path] | None:
    """The dotted name of the package ``directory`` and the directory its top package is
    in (where Python must search to import it), climbing ``__init__.py`` files inside the
    project; ``None`` when the project directory itself would be the package."""
    parts: list[str] = []
    here = directory
    while here != project and (here / "__init__.py").is_file():
        parts.append(here.name)
        here = here.parent
    if not parts or not all(_MODULE_NAME.fullmatch(p) for p in parts):
        return None
    return ".".join(reversed(parts)), here


def _as_python_runs_it(entry: EntryPoint, project: Path) -> tuple[EntryPoint, Diagnostic | None]:
    """A script entry that is a directory or a package's ``__main__``/``__init__``, made
    into what Python runs (see the module docstring); other entries unchanged."""
    if entry.kind is not EntryKind.SCRIPT:
        return entry, None
    path = _inside(project, entry.target)
    if path is None:
        return entry, None
    if path.is_dir():
        if not (path / "__main__.py").is_file():
            return entry, None  # reported by the walk and by missing_entry_scripts
        target = posixpath.normpath(f"{entry.target}/__main__.py")
        note = (
            f"{entry.target} is a directory: Python runs its __main__.py as a script, with "
            f"{entry.target} first on sys.path (relative imports in it fail; `python -m` runs a package)"
        )
        return replace(entry, target=target), Diagnostic(
            file=target, line=None, code="entry-point-directory", message=note, severity=Severity.INFO
        )
    if path.name not in ("__main__.py", "__init__.py") or not path.is_file():
        return entry, None
    package = _package_of(path.parent, project)
    if package is None:
        return entry, None
    name, root = package
    runs_main = path.name == "__main__.py" or (path.parent / "__main__.py").is_file()
    pythonpath = entry.pythonpath
    where = ""
    if root != project:
        rel = root.relative_to(project).as_posix()
        where = f", with {rel} on sys.path"
        if rel not in pythonpath:
            pythonpath = (*pythonpath, rel)
    module = replace(entry, kind=EntryKind.MODULE, target=name, pythonpath=pythonpath, runs_main=runs_main)
    how = f"`python -m {name}`" if runs_main else f"`import {name}` (it has no __main__.py)"
    message = f"{entry.target} is the package {name}: analysed as {how}{where}, so its relative imports resolve"
    severity = Severity.INFO
    if entry.source == "cmd":
        severity = Severity.WARNING
        message = (
            f"cmd runs {entry.target} as a plain script, where relative imports fail and {name} is not "
            f"importable unless installed; it is analysed as `python -m {name}`{where}: write that in cmd"
        )
    return module, Diagnostic(file=entry.target, line=None, code="entry-point-package", message=message, severity=severity)


def _cmd_analysis(config: JobConfig, project: Path) -> CommandAnalysis:
    from envcapture.analysis.entrypoints import find_entry_points  # only for a config's cmd: start-up time

    return find_entry_points(config.cmd, project_files=_ProjectFiles(project), python_scripts=_PythonScripts(project))


def entry_points_for(
    config: JobConfig | None, paths: Sequence[str], project: Path
) -> tuple[tuple[EntryPoint, ...], tuple[Diagnostic, ...]]:
    """Entry points from the command line, else from ``cmd`` plus ``root-paths``, each as
    Python runs it.

    :param paths: script paths (absolute or project-relative) or ``"-m pkg.mod"``.
    :raises InputError: a path given is outside the project, or neither a file nor a
        directory with ``__main__.py``.
    """
    diagnostics: list[Diagnostic] = []
    entries: list[EntryPoint] = []
    for raw in paths:
        if raw.startswith("-m "):
            entries.append(EntryPoint(kind=EntryKind.MODULE, target=raw[3:].strip(), source="cli"))
            continue
        p = Path(raw)
        full = (p if p.is_absolute() else project / p).resolve()
        try:
            rel = full.relative_to(project).as_posix()
        except ValueError:
            raise InputError(f"{raw}: the entry point is outside the project directory {project}") from None
        if full.is_dir() and not (full / "__main__.py").is_file():
            raise InputError(f"{raw}: a directory without __main__.py, which Python cannot run")
        if not full.exists():
            raise InputError(f"{raw}: no such file")
        entries.append(EntryPoint(kind=EntryKind.SCRIPT, target=rel, source="cli"))
    if config is not None and not paths:
        found = _cmd_analysis(config, project)
        entries.extend(found.entry_points)
        diagnostics.extend(found.diagnostics)
        python = config.env.python
        if python is not None:
            root_paths = python.root_paths.value if python.root_paths.value else ()
            from envcapture.analysis.entrypoints import entry_points_from_root_paths

            entries.extend(entry_points_from_root_paths(root_paths))
        if found.is_python and not entries and python is not None:
            diagnostics.append(
                Diagnostic(
                    file=None,
                    line=None,
                    code=NO_ENTRY_POINT,
                    message="cmd runs Python, but no entry point was found in it: list the scripts (or -m "
                    "modules) it runs in env.python.root-paths",
                    severity=Severity.ERROR,
                )
            )
    unique: dict[tuple[EntryKind, str], EntryPoint] = {}
    for raw_entry in entries:
        entry, note = _as_python_runs_it(raw_entry, project)
        if note is not None:
            diagnostics.append(note)
        key = (entry.kind, entry.target)
        if key not in unique or (entry.runs_main and not unique[key].runs_main):
            unique[key] = entry
    return tuple(unique.values()), tuple(dict.fromkeys(diagnostics))


def cmd_named_files(config: JobConfig | None, project: Path) -> tuple[str, ...]:
    """The project files that arguments of ``cmd``'s Python commands name (``python train.py
    config/train_x.py --cfg models/yolov5n.yaml``): they travel with the job."""
    if config is None:
        return ()
    return _cmd_analysis(config, project).named_files


def missing_entry_scripts(config: JobConfig, project: Path) -> tuple[InputError, ...]:
    """The scripts ``cmd`` runs that do not exist in the project (nor as a directory with
    ``__main__.py``), each located where ``cmd`` names it: ``config.yaml:4:10: cmd: ...``."""
    problems: list[InputError] = []
    for entry in _cmd_analysis(config, project).entry_points:
        if entry.kind is not EntryKind.SCRIPT:
            continue
        path = _inside(project, entry.target)
        if path is None or path.is_file() or (path / "__main__.py").is_file():
            continue
        if path.is_dir():
            message = f"{entry.target!r} is a directory without __main__.py, which Python cannot run"
        else:
            message = f"{entry.target!r} does not exist (looked in {project})"
        where = config.cmd_location_of(entry.target)
        for written in (f"./{entry.target}", posixpath.basename(entry.target)):
            if where != config.cmd_location:
                break  # found where cmd writes it
            where = config.cmd_location_of(written)
        problems.append(InputError(message, location=where, hint="cmd runs it from the config's directory"))
    return tuple(problems)
