"""File references + the project -> `DataFile`s: each path resolved the way the target resolves it.

* A relative path is resolved against the job's working directory (the project root, where
  ``cmd`` runs); a path built from ``__file__`` against the directory of the file that
  names it. Either must stay inside the project.
* It counts only when it names an existing file; a directory counts only when named from
  ``__file__`` (``Path(__file__).parent / "assets"``), and never the reading file's own
  directory or one above it (that would be the whole package, or the project).
* A symlink that leads out of the project does not count (a note says so: the local code
  never carries one).
* What counts is reported with every reason; what never ships as local code says why in
  ``left_out``: the rules of the local-code walker (`envcapture._fs.exclusion_rule`: secrets,
  keys, VCS metadata, caches; and a directory holding ``pyvenv.cfg``, a virtualenv), or
  ``job-input`` for a path among (or under) the config's ``inputs``, which travel as inputs.

Existence is asked of a ``kind_of(directory, name)`` callable (the module finder's cached
listings, so that the analysis cache sees a referenced file appear or go); the symlink and
virtualenv checks read the disk directly.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final, Literal

from envcapture._fs import exclusion_rule
from envcapture.analysis.model import DataFile, FileReason, FileRef, FileUse
from envcapture.model import Diagnostic, Severity

__all__ = ["JOB_INPUT", "NAMED_IN_CMD", "DataFiles"]

JOB_INPUT: Final = "job-input"
"""``DataFile.left_out`` of a path among the config's ``inputs``."""

NAMED_IN_CMD: Final = "named in cmd"

KindOf = Callable[[str, str], Literal["file", "dir"] | None]


def _norm(path: str) -> str | None:
    """``path`` normalized, or None when it leaves the project (``..``) or is the project itself."""
    norm = posixpath.normpath(path)
    if norm in (".", "..") or norm.startswith(("../", "/")):
        return None
    return norm


class DataFiles:
    """The data files of one analysis, gathered over every entry point's walk."""

    def __init__(self, project: Path, kind_of: KindOf, *, inputs: Iterable[str] = ()) -> None:
        self.project = project
        self._real_project = os.path.realpath(project)
        self._kind_of = kind_of
        self._inputs = tuple(n for raw in inputs if (n := _norm(raw.replace("\\", "/"))) is not None)
        self._found: dict[str, tuple[bool, set[FileReason]]] = {}  # path -> (is_dir, reasons)
        self._analysed: set[str] = set()
        self.diagnostics: list[Diagnostic] = []

    def add_ref(self, reader: str, ref: FileRef) -> str | None:
        """Record ``ref``, made by the project file ``reader``; the project-relative path when
        it names a project file (or directory) that counts, else None."""
        base = posixpath.dirname(reader) if ref.from_file_dir else ""
        rel = _norm(posixpath.join(base, ref.path) if base else ref.path)
        if rel is None:
            return None
        kind = self._kind(rel)
        if kind is None or (kind == "dir" and not self._counts_as_dir(rel, reader, ref)):
            return None
        reason = FileReason(use=ref.use, how=ref.how, file=reader, line=ref.line, from_file_dir=ref.from_file_dir)
        if not self._inside(rel, reason):
            return None
        self._add(rel, kind == "dir", reason)
        return rel

    def add_named(self, rel: str) -> None:
        """A project file an argument of ``cmd`` names (checked to exist by the caller)."""
        norm = _norm(rel)
        if norm is not None and self._inside(norm, None):
            self._add(norm, False, FileReason(use=FileUse.CMD, how=NAMED_IN_CMD))

    def mark_analysed(self, rel: str) -> None:
        """``rel`` runs as Python: the walk reads its imports."""
        self._analysed.add(rel)

    def data_files(self) -> tuple[DataFile, ...]:
        return tuple(
            DataFile(
                path=rel,
                reasons=tuple(
                    sorted(reasons, key=lambda r: (r.file is not None, r.file or "", r.line or 0, r.how, r.from_file_dir))
                ),
                is_dir=is_dir,
                analysed=rel in self._analysed,
                left_out=self._left_out(rel, is_dir),
            )
            for rel, (is_dir, reasons) in sorted(self._found.items())
        )

    def _add(self, rel: str, is_dir: bool, reason: FileReason) -> None:
        known = self._found.setdefault(rel, (is_dir, set()))
        known[1].add(reason)

    def _kind(self, rel: str) -> Literal["file", "dir"] | None:
        directory, name = posixpath.split(rel)
        return self._kind_of(str(self.project / directory) if directory else str(self.project), name)

    @staticmethod
    def _counts_as_dir(rel: str, reader: str, ref: FileRef) -> bool:
        if not ref.from_file_dir or ref.use is FileUse.EXEC:
            return False
        reader_dir = posixpath.dirname(reader)
        return not (reader_dir == rel or reader_dir.startswith(rel + "/"))

    def _inside(self, rel: str, reason: FileReason | None) -> bool:
        """Whether ``rel`` stays in the project once symlinks are followed (a note when not)."""
        real = os.path.realpath(self.project / rel)
        if real == self._real_project or real.startswith(self._real_project + os.sep):
            return True
        where = f"{reason.file}:{reason.line} reads" if reason is not None and reason.file else "cmd names"
        self.diagnostics.append(
            Diagnostic(
                file=reason.file if reason is not None else None,
                line=reason.line if reason is not None else None,
                code="data-file-outside-project",
                message=f"{where} {rel}, a symlink that leads out of the project: it does not ship (list it in inputs)",
                severity=Severity.INFO,
            )
        )
        return False

    def _left_out(self, rel: str, is_dir: bool) -> str | None:
        if any(rel == item or rel.startswith(item + "/") for item in self._inputs):
            return JOB_INPUT
        rule = exclusion_rule(rel, is_dir=is_dir)
        if rule is None:
            real = Path(os.path.realpath(self.project / rel))
            try:
                target = real.relative_to(self._real_project).as_posix()
            except ValueError:
                target = rel
            rule = exclusion_rule(target, is_dir=is_dir) if target != rel else None
        if rule is None:
            parts = rel.split("/")
            dirs = parts if is_dir else parts[:-1]
            for i in range(1, len(dirs) + 1):  # a virtualenv: a directory holding pyvenv.cfg
                if (self.project / "/".join(dirs[:i]) / "pyvenv.cfg").is_file():
                    return "virtualenv"
        return rule
