"""Local paths of a job config: relative to the project, no ``..``, inside it after symlinks, present.

The lexical rules always apply; the disk is read (``resolve``, ``exists``) only when
``check_disk`` is set. Nothing is ever written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from envcapture.config import _yaml as y
from envcapture.config.nodes import NodeReader, quote

__all__ = ["PathRules", "absolute", "has_parent_part", "is_absolute"]


def is_absolute(text: str) -> bool:
    """Absolute on POSIX or Windows, or starting with ``~``."""
    return PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or text.startswith("~")


def has_parent_part(text: str) -> bool:
    """``..`` is one of the parts (``/`` or ``\\`` separated)."""
    return ".." in re.split(r"[/\\]", text)


def absolute(path: Path) -> Path:
    """``path.absolute()``, or ``path`` as is when the current directory was removed."""
    try:
        return path.absolute()
    except OSError:
        return path


class PathRules:
    """Checks the local paths of one config against ``project_dir``, reporting to ``reader``."""

    def __init__(self, reader: NodeReader, project_dir: Path, *, check_disk: bool) -> None:
        self.reader = reader
        self.project_dir = project_dir
        self.check_disk = check_disk
        self._project_root: Path | None = None

    def project_root(self) -> Path | None:
        """The project directory with symlinks resolved (None when it cannot be resolved)."""
        if self._project_root is None:
            try:
                self._project_root = self.project_dir.resolve()
            except (OSError, RuntimeError, ValueError):
                return None
        return self._project_root

    def local_path(
        self,
        text: str,
        node: y.Node,
        path: str,
        *,
        inside: bool,
        must_exist: bool,
        absolute_hint: str | None = None,
    ) -> str | None:
        """Check a local path; ``inside``: relative, no '..', inside the project after symlinks."""
        error = self.reader.error
        if not text.strip():
            error(node, path, "empty path")
            return None
        if "\0" in text:
            error(node, path, "the path contains a NUL character")
            return None
        if inside and is_absolute(text):
            error(node, path, f"{quote(text)} is an absolute path", absolute_hint)
            return None
        if inside and has_parent_part(text):
            error(
                node,
                path,
                f"{quote(text)} contains '..'",
                "paths must stay inside the project directory",
            )
            return None
        if not self.check_disk:
            return text
        full = Path(os.path.expanduser(text)) if is_absolute(text) else self.project_dir / text
        try:
            if inside:
                root = self.project_root()
                resolved = full.resolve()
                if root is not None and not resolved.is_relative_to(root):
                    error(
                        node,
                        path,
                        f"{quote(text)} resolves to {resolved}, outside the project directory {root}",
                        "a symlink must not lead out of the project",
                    )
                    return None
            if must_exist and not full.exists():
                error(node, path, f"{quote(text)} does not exist", f"looked in {self.project_dir}")
                return None
        except (OSError, RuntimeError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            error(node, path, f"{quote(text)} cannot be checked: {reason}")
            return None
        return text

    def project_path(self, text: str, node: y.Node, path: str) -> str | None:
        """A file or directory that must exist inside the project, given relative to it."""
        return self.local_path(
            text, node, path, inside=True, must_exist=True,
            absolute_hint="give it relative to the project directory",
        )  # fmt: skip
