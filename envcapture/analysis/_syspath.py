"""``sys.path`` changes a module makes with paths built from literals, ``__file__`` and the cwd -> `PathAddition`.

Read: ``sys.path.insert(i, X)``, ``.append(X)``, ``.extend([X, ...])``, ``sys.path += [X]``
and ``sys.path[:0] = [X]``, where ``X`` is a literal, ``os.getcwd()``/``Path.cwd()`` or
``__file__`` through ``os.path.dirname``/``abspath``/``join``, ``Path(...).parent``,
``.parents[i]``, ``/``, ``.joinpath``, ``.resolve()``. Anything else is left to runtime tracing.
`PathEvaluator`, which reads such expressions, also serves the data files (analysis/datafiles.py).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final, Literal, NamedTuple

import libcst as cst

from envcapture.analysis._nodes import argument, integer, literal_str
from envcapture.analysis.model import PathAddition

__all__ = ["PathEvaluator", "PathValue", "SysPathReader"]

_PATH_CLASSES: Final = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath", "Path"})
# Linux's PATH_MAX is 4096 bytes: no path has more parents than this, so a larger index of
# ``.parents`` raises IndexError at run time (and would loop that many times here).
_MAX_PARENTS: Final = 2048


class PathValue(NamedTuple):
    """``file``: ``__file__`` itself; ``dir``: ``rel`` from the file's directory;
    ``cwd``: ``rel`` from the working directory; ``abs``: the absolute path ``rel``."""

    base: Literal["file", "dir", "cwd", "abs"]
    rel: str

    def parent(self) -> PathValue:
        if self.base == "file":
            return PathValue("dir", ".")
        if self.base == "abs":
            return PathValue("abs", posixpath.dirname(self.rel) or "/")
        return PathValue(self.base, posixpath.normpath(posixpath.join(self.rel, "..")))


# A name bound to a name bound to ...: deeper than this, the value is not followed.
_MAX_NAME_DEPTH = 16


class PathEvaluator:
    """The value of a path expression built from literals, ``__file__`` and the cwd, names
    resolved by ``qualname``; ``bindings`` maps module-level names assigned once to their
    value (``ROOT = Path(__file__).parent``), followed when a path uses them (data files,
    analysis/datafiles.py; ``sys.path`` additions follow none)."""

    def __init__(
        self, qualname: Callable[[cst.BaseExpression], str | None], bindings: Mapping[str, cst.BaseExpression] | None = None
    ) -> None:
        self._qualname = qualname
        self._bindings = bindings or {}
        self._following: list[str] = []

    def value(self, node: cst.BaseExpression) -> PathValue | None:
        literal = literal_str(node)
        if literal is not None:
            if literal.startswith("/"):
                return PathValue("abs", posixpath.normpath(literal))
            if re.match(r"[A-Za-z]:[\\/]|\\\\", literal):
                return None  # a Windows path: nothing on a Linux target
            return PathValue("cwd", posixpath.normpath(literal or "."))
        if isinstance(node, cst.Name):
            if node.value == "__file__":
                return PathValue("file", "")
            return self._bound(node.value)
        if isinstance(node, cst.Attribute) and node.attr.value == "parent":
            inner = self.value(node.value)
            return inner.parent() if inner is not None else None
        if isinstance(node, cst.Subscript):  # Path(__file__).parents[i]
            if not (isinstance(node.value, cst.Attribute) and node.value.attr.value == "parents"):
                return None
            inner = self.value(node.value.value)
            index = node.slice[0].slice if len(node.slice) == 1 else None
            count = integer(index.value) if isinstance(index, cst.Index) else None
            if inner is None or count is None or count >= _MAX_PARENTS:
                return None
            for _ in range(count + 1):
                inner = inner.parent()
            return inner
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
            inner = self.value(node.left)
            return self._joined(inner, [node.right])
        if isinstance(node, cst.Call):
            return self._path_call(node)
        return None

    def _bound(self, name: str) -> PathValue | None:
        bound = self._bindings.get(name)
        if bound is None or name in self._following or len(self._following) >= _MAX_NAME_DEPTH:
            return None
        self._following.append(name)
        try:
            return self.value(bound)
        finally:
            self._following.pop()

    def _path_call(self, call: cst.Call) -> PathValue | None:
        args = [a.value for a in call.args if not a.star and a.keyword is None]
        if len(args) != len(call.args):
            return None
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in (
            "resolve",
            "absolute",
            "joinpath",
        ):
            inner = self.value(call.func.value)
            if call.func.attr.value == "joinpath":
                return self._joined(inner, args)
            return inner if not args else None
        qualname = self._qualname(call.func)
        if qualname in ("os.getcwd", "pathlib.Path.cwd", "Path.cwd") and not args:
            return PathValue("cwd", ".")
        if qualname in _PATH_CLASSES:
            if not args:
                return PathValue("cwd", ".")
            return self._joined(self.value(args[0]), args[1:])
        if not args:
            return None
        if qualname in ("os.path.abspath", "os.path.realpath", "os.path.normpath", "str", "os.fspath") and len(args) == 1:
            return self.value(args[0])
        if qualname == "os.path.dirname" and len(args) == 1:
            inner = self.value(args[0])
            return inner.parent() if inner is not None else None
        if qualname == "os.path.join":
            return self._joined(self.value(args[0]), args[1:])
        return None

    def _joined(self, base: PathValue | None, parts: Sequence[cst.BaseExpression]) -> PathValue | None:
        for part in parts:
            if base is None or base.base == "file":
                return None
            qualname = self._qualname(part) if isinstance(part, (cst.Name, cst.Attribute)) else None
            text = {"os.pardir": "..", "os.curdir": "."}.get(qualname or "") or literal_str(part)
            if text is None and isinstance(part, cst.Name):
                bound = self._bound(part.value)  # a name bound to a literal: "assets"
                text = bound.rel if bound is not None and bound.base == "cwd" else None
            if text is None:
                return None
            if text.startswith("/"):
                base = PathValue("abs", posixpath.normpath(text))
            else:
                base = PathValue(base.base, posixpath.normpath(posixpath.join(base.rel, text)))
        return base


class SysPathReader:
    """The ``sys.path`` additions of calls and assignments, with names resolved by ``qualname``."""

    def __init__(self, qualname: Callable[[cst.BaseExpression], str | None]) -> None:
        self._qualname = qualname
        self._paths = PathEvaluator(qualname)

    def of_call(self, call: cst.CSTNode) -> Iterator[PathAddition]:
        assert isinstance(call, cst.Call)
        qualname = self._qualname(call.func)
        if qualname == "sys.path.insert":
            values: Sequence[cst.BaseExpression | None] = [argument(call, 1, "object")]
            prepend = True
        elif qualname == "sys.path.append":
            values, prepend = [argument(call, 0, "object")], False
        elif qualname == "sys.path.extend":
            values, prepend = _elements(argument(call, 0, "iterable")), False
        else:
            return
        for value in values:
            addition = self._path_addition(value, prepend)
            if addition is not None:
                yield addition

    def of_assign(self, node: cst.CSTNode) -> Iterator[PathAddition]:
        if isinstance(node, cst.AugAssign):  # sys.path += [X]
            if self._qualname(node.target) == "sys.path":
                for value in _elements(node.value):
                    addition = self._path_addition(value, False)
                    if addition is not None:
                        yield addition
            return
        assert isinstance(node, cst.Assign)
        target = node.targets[0].target
        if not (isinstance(target, cst.Subscript) and self._qualname(target.value) == "sys.path"):
            return
        if len(target.slice) != 1 or not isinstance(target.slice[0].slice, cst.Slice):
            return
        piece = target.slice[0].slice
        if piece.step is not None or not _is_zero(piece.upper) or not (piece.lower is None or _is_zero(piece.lower)):
            return
        for value in _elements(node.value):  # sys.path[:0] = [X]
            addition = self._path_addition(value, True)
            if addition is not None:
                yield addition

    def _path_addition(self, node: cst.BaseExpression | None, prepend: bool) -> PathAddition | None:
        value = self._paths.value(node) if node is not None else None
        if value is None or value.base == "file":
            return None
        return PathAddition(line=0, path=value.rel, cwd_relative=value.base == "cwd", prepend=prepend)


def _elements(node: cst.BaseExpression | None) -> list[cst.BaseExpression | None]:
    if isinstance(node, (cst.List, cst.Tuple)):
        return [None if isinstance(e, cst.StarredElement) else e.value for e in node.elements]
    return []


def _is_zero(node: cst.BaseExpression | None) -> bool:
    return integer(node) == 0
