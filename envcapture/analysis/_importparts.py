"""What an import statement says, apart from where it stands: its `ImportParts`, and those of the
plain imports a parser process has read (`KNOWN_PLAIN`).

Most lines of a cut file (`_fragment`) are module-level imports on a line of their own, and a
project repeats them from file to file (``import os``, ``import torch.nn as nn``). Such a line
says the same wherever it stands: the fragment leaves out a line whose parts libcst already
gave, and the extraction takes them from here, with the line and column CPython's parse gave.
Its first occurrence in a process is parsed as any other statement; the facts are the same.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import libcst as cst
from libcst.helpers import get_full_name_for_node

from envcapture.analysis._nodes import BoundedMemo

__all__ = ["KNOWN_PLAIN", "ImportParts", "KnownPlainImports", "import_parts"]


class ImportParts(NamedTuple):
    """An ``import`` (``level`` 0, ``module`` empty) or a ``from`` statement, as written."""

    is_from: bool
    level: int  # the dots of a relative ``from`` import
    module: str  # the module of a ``from`` import, without its dots ("" for ``from . import x``)
    # (dotted name, ``as`` name or None) of each alias; empty for ``from m import *``
    names: tuple[tuple[str, str | None], ...]


def import_parts(stmt: cst.CSTNode) -> ImportParts:
    """The parts of an ``import`` or ``from`` statement libcst parsed (a `_visitor.IMPORTS` or
    `_visitor.FROM_IMPORTS` node)."""
    raw = getattr(stmt, "names", ())
    aliases = () if isinstance(raw, cst.ImportStar) else raw
    names = tuple(
        (
            get_full_name_for_node(alias.name) or "",
            alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else None,
        )
        for alias in aliases
    )
    if not hasattr(stmt, "relative"):
        return ImportParts(False, 0, "", names)
    module = getattr(stmt, "module", None)
    return ImportParts(True, len(stmt.relative), (get_full_name_for_node(module) or "") if module is not None else "", names)


class KnownPlainImports(BoundedMemo[str, ImportParts]):
    """The parts of plain import lines (`Fragment.plain`), by the line's text, as read so far."""

    def __init__(self, limit: int = 20_000) -> None:  # lines
        super().__init__(limit)

    def learn(self, line: str, parts: ImportParts) -> None:
        if line not in self:
            self.remember(line, parts)


KNOWN_PLAIN: Final = KnownPlainImports()
