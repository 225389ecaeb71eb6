"""Small readings of libcst nodes that the extraction modules share: literal strings, call arguments."""

from __future__ import annotations

import libcst as cst

__all__ = ["argument", "integer", "literal_str"]


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
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        try:
            value = node.evaluated_value
        except Exception:  # noqa: BLE001 - an f-string part or an odd escape: not a literal
            return None
        return value if isinstance(value, str) else None
    return None
