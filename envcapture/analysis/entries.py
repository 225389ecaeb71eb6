"""Config + command line -> the job's entry points (glue over analyzers/entrypoints.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from envcapture.analysis.entrypoints import entry_points_from_root_paths, find_entry_points
from envcapture.analysis.model import EntryKind, EntryPoint
from envcapture.config.model import JobConfig
from envcapture.errors import InputError
from envcapture.model import Diagnostic

__all__ = ["entry_points_for"]


class _ProjectFiles:
    """``"path" in files`` tells whether a project-relative file exists (for cmd analysis)."""

    def __init__(self, project: Path) -> None:
        self.project = project

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str) or "${" in item:
            return False
        path = (self.project / item).resolve()
        try:
            path.relative_to(self.project)
        except ValueError:
            return False
        return path.is_file()


def entry_points_for(
    config: JobConfig | None, paths: Sequence[str], project: Path
) -> tuple[tuple[EntryPoint, ...], tuple[Diagnostic, ...]]:
    """Entry points from the command line, else from ``cmd`` plus ``root-paths``."""
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
        if not full.is_file():
            raise InputError(f"{raw}: no such file")
        entries.append(EntryPoint(kind=EntryKind.SCRIPT, target=rel, source="cli"))
    if config is not None and not paths:
        found = find_entry_points(config.cmd, project_files=_ProjectFiles(project))
        entries.extend(found.entry_points)
        diagnostics.extend(found.diagnostics)
        python = config.env.python
        if python is not None:
            root_paths = python.root_paths.value if python.root_paths.value else ()
            entries.extend(entry_points_from_root_paths(root_paths))
    unique: dict[tuple[EntryKind, str], EntryPoint] = {}
    for entry in entries:
        unique.setdefault((entry.kind, entry.target), entry)
    return tuple(unique.values()), tuple(diagnostics)
