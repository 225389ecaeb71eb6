"""Where libcst nodes start: one codegen pass that counts lines and stops at the last wanted node.

The position mechanism of the extraction (import statements excepted when `_fragment` cut the
file: CPython's parse, made anyway, placed them, and the file was checked to hold the same
import statements in the same order): ``PositionProvider`` builds a ``CodeRange``
for every node of the module (measured on libcst's own sources it costs 1.6x the parse
itself); ``ast`` would need a second parse, cannot read syntax newer than the running
interpreter, and counts UTF-8 bytes where libcst counts characters. This pass is the walk
``PositionProvider`` itself makes (``Module._codegen``) without keeping the text, a tenth of
its cost, and gives the same start positions (a test compares them over libcst's sources).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import libcst as cst
from libcst._nodes.internal import CodegenState  # private: see _StartRecorder

__all__ = ["starts"]


def starts(tree: cst.Module, nodes: Sequence[cst.CSTNode]) -> dict[int, tuple[int, int]]:
    """(1-based line, 0-based column) where each node's syntax starts, by ``id``.

    Raises `RuntimeError` if a node is not found in ``tree`` (or libcst's codegen changed
    under `_StartRecorder`).
    """
    wanted = {id(n) for n in nodes}
    recorder = _StartRecorder(tree, wanted)
    if wanted:
        try:
            tree._codegen(recorder)
        except _AllFound:
            pass
    if len(recorder.starts) != len(wanted):
        raise RuntimeError(f"positions of {len(wanted) - len(recorder.starts)} nodes not found by libcst codegen")
    return recorder.starts


class _StartRecorder(CodegenState):
    """A codegen pass that keeps no text: it counts lines and notes where wanted nodes start."""

    __slots__ = ("_wanted", "column", "line", "starts")

    def __init__(self, tree: cst.Module, wanted: set[int]) -> None:
        super().__init__(default_indent=tree.default_indent, default_newline=tree.default_newline)
        self._wanted = wanted
        self.starts: dict[int, tuple[int, int]] = {}
        self.line = 1
        self.column = 0

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def add_token(self, value: str) -> None:
        if "\n" in value or "\r" in value:
            self.line += value.count("\n") + value.count("\r") - value.count("\r\n")
            self.column = len(value) - max(value.rfind("\n"), value.rfind("\r")) - 1
        else:
            self.column += len(value)

    @contextmanager
    def record_syntactic_position(
        self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None, end_node: cst.CSTNode | None = None
    ) -> Iterator[None]:
        key = id(node)
        if key in self._wanted and key not in self.starts:
            self.starts[key] = (self.line, self.column)
            if len(self.starts) == len(self._wanted):
                raise _AllFound  # the rest of the module need not be generated
        yield


class _AllFound(Exception):
    pass
