"""Small readings of libcst nodes that the extraction modules share: literal strings, call
arguments; and `BoundedMemo`, the memory of what a parser process has read."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import libcst as cst

__all__ = ["BoundedMemo", "argument", "integer", "literal_head", "literal_str"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class BoundedMemo(dict[_K, _V]):
    """What a process has read, by what it read it from: at most ``limit`` entries (or, with
    ``weight``, keys weighing that much together), past which the memory is given back and
    the reading starts again (a process may read any number of files; what it met last is as
    likely to come again as what it met first)."""

    def __init__(self, limit: int, weight: Callable[[_K], int] | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.used = 0  # the weight of the keys remembered
        self._weight = weight

    def remember(self, key: _K, value: _V) -> _V:
        """Keep ``value`` for ``key``, a key not remembered yet."""
        weight = 1 if self._weight is None else self._weight(key)
        if self.used + weight > self.limit:
            self.clear()
        self.used += weight
        self[key] = value
        return value

    def clear(self) -> None:
        super().clear()
        self.used = 0


def argument(call: cst.Call, index: int, keyword: str) -> cst.BaseExpression | None:
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in call.args):
        return None
    if index < len(positional):
        return positional[index].value
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    return None


def integer(node: cst.BaseExpression | None) -> int | None:
    """The value of an integer literal; None for anything else, or for digits past Python's
    ``int_max_str_digits`` (``int()`` refuses them; libcst keeps the literal as text)."""
    if not isinstance(node, cst.Integer):
        return None
    try:
        return int(node.value, 0)
    except ValueError:
        return None


def literal_str(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        # libcst evaluates a literal with ast.literal_eval (a compile() each time); a module
        # repeats its literals, and a process its modules' ("utf-8", "__main__").
        code = node.value
        if code in _SIMPLE_STRINGS:
            return _SIMPLE_STRINGS[code]
        return _SIMPLE_STRINGS.remember(code, _evaluated(node))
    if isinstance(node, cst.ConcatenatedString):
        return _evaluated(node)
    return None


def _evaluated(node: cst.SimpleString | cst.ConcatenatedString) -> str | None:
    try:
        value = node.evaluated_value
    except Exception:  # noqa: BLE001 - an f-string part or an odd escape: not a literal
        return None
    return value if isinstance(value, str) else None


# A simple string's code -> `literal_str` of it: its value, or None (bytes, an odd escape).
_SIMPLE_STRINGS: BoundedMemo[str, str | None] = BoundedMemo(50_000)


def literal_head(node: cst.BaseExpression | None) -> tuple[str, bool]:
    """The literal text a string expression starts with, and whether that is all of it.

    ``"pkg.plugins." + name`` -> ``("pkg.plugins.", False)``; ``f"models.{arch}"`` ->
    ``("models.", False)``; ``"a." + "b"`` -> ``("a.b", True)``; ``"pkg.%s" % name`` and
    ``"pkg.{}".format(name)`` -> ``("pkg.", False)``; a name or a call -> ``("", False)``.
    An escape in an f-string's text ends the head (its value is not decoded here).
    """
    value = literal_str(node)
    if value is not None:
        return value, True
    if isinstance(node, cst.FormattedString):
        return _formatted_head(node)
    if isinstance(node, cst.ConcatenatedString):  # "a." f"{x}": implicit concatenation with an f-string
        return _joined(node.left, node.right)
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, cst.Add):
            return _joined(node.left, node.right)
        if isinstance(node.operator, cst.Modulo):  # "pkg.%s" % name
            template = literal_str(node.left)
            return (template.partition("%")[0], False) if template is not None else ("", False)
        return "", False
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
        template = literal_str(node.func.value)  # "pkg.{}".format(name)
        return (template.partition("{")[0], False) if template is not None else ("", False)
    return "", False


def _joined(left: cst.BaseExpression, right: cst.BaseExpression) -> tuple[str, bool]:
    head, complete = literal_head(left)
    if not complete:
        return head, False
    rest, rest_complete = literal_head(right)
    return head + rest, rest_complete


def _formatted_head(node: cst.FormattedString) -> tuple[str, bool]:
    text: list[str] = []
    for part in node.parts:
        if not isinstance(part, cst.FormattedStringText):
            return "".join(text), False
        raw = part.value
        if "\\" in raw:
            text.append(raw.partition("\\")[0].replace("{{", "{").replace("}}", "}"))
            return "".join(text), False
        text.append(raw.replace("{{", "{").replace("}}", "}"))
    return "".join(text), True
