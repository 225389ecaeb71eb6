"""Literal platform/version tests (``if sys.platform == "win32":``) evaluated for the target.

Pure, over ``ast`` only: the extraction (imports.py) records a guarding test as text in a
`Condition`; this module decides it for a `Target`. Kept apart from extraction so that a
warm analysis, which parses nothing, never imports libcst.
"""

from __future__ import annotations

import ast
import functools
from typing import Final, NamedTuple

from envcapture.analysis.model import Condition, ImportSite
from envcapture.model import Target

__all__ = ["evaluate_condition", "import_is_active", "is_literal_test"]


def evaluate_condition(cond: Condition, target: Target) -> bool | None:
    """Whether the literal test ``cond`` holds on ``target`` (``negated`` applied).

    Understands ``sys.platform`` (``==``, ``!=``, ``in``, ``.startswith(str or tuple)``),
    ``os.name``, ``platform.system()``, ``platform.machine()``, ``sys.implementation.name``,
    ``sys.version_info`` (compared with a tuple, sliced ``[:n]``, indexed, or
    ``.major``/``.minor``/``.micro``) and ``and``/``or``/``not`` of those. Returns None
    when the test is not understood (``PY2``, ``six.PY3``) or needs what the target does
    not say (``sys.version_info >= (3, 10, 2)`` for a target ``3.10``).
    """
    tree = _parse_condition(cond.expression)
    if tree is None:
        return None
    try:
        result = _truth(tree, target)
    except _Unsupported:
        return None
    return None if result is None else result is not cond.negated


def import_is_active(site: ImportSite, target: Target) -> bool | None:
    """Whether all of ``site.conditions`` hold on ``target``: False if one is False, None if
    one is undecidable and none False, else True. ``type_only`` is not considered."""
    undecided = False
    for cond in site.conditions:
        result = evaluate_condition(cond, target)
        if result is False:
            return False
        undecided = undecided or result is None
    return None if undecided else True


class _Unsupported(Exception):
    """The test holds something that is not a literal platform/version check."""


class _Unknown:
    """A value the target does not give (the micro version of a ``3.10`` target)."""


_UNKNOWN: Final = _Unknown()
_PROBE_TARGET: Final = Target(python_version="3.10")


class _VersionInfo(NamedTuple):
    major: int
    minor: int
    micro: int | None


@functools.lru_cache(maxsize=1024)
def _parse_condition(expression: str) -> ast.expr | None:
    try:
        return ast.parse(expression.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _truth(node: ast.expr, target: Target) -> bool | None:
    """Three-valued truth of a test; raises `_Unsupported` for what is not a literal check."""
    if isinstance(node, ast.BoolOp):
        results = [_truth(value, target) for value in node.values]  # all of them: support check
        decisive = isinstance(node.op, ast.Or)
        if decisive in results:
            return decisive
        return None if None in results else not decisive
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        result = _truth(node.operand, target)
        return None if result is None else not result
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        if not any(_is_probe(o) for o in operands):
            raise _Unsupported
        values = [_value(o, target) for o in operands]
        results = [_compare(op, a, b) for op, a, b in zip(node.ops, values, values[1:], strict=False)]
        if False in results:
            return False
        return None if None in results else True
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "startswith"
        and _is_probe(node.func.value)
        and len(node.args) == 1
        and not node.keywords
    ):
        subject, prefix = _value(node.func.value, target), _value(node.args[0], target)
        if not isinstance(subject, str) or not isinstance(prefix, (str, tuple)):
            raise _Unsupported
        if isinstance(prefix, tuple) and not all(isinstance(p, str) for p in prefix):
            raise _Unsupported
        return subject.startswith(prefix)
    raise _Unsupported


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


_PROBES: Final = frozenset(
    {
        "sys.platform",
        "os.name",
        "sys.implementation.name",
        "sys.version_info",
        "sys.version_info.major",
        "sys.version_info.minor",
        "sys.version_info.micro",
    }
)
_PROBE_CALLS: Final = frozenset({"platform.system", "platform.machine", "platform.python_implementation"})


def _is_probe(node: ast.expr) -> bool:
    if isinstance(node, ast.Subscript):
        return _dotted(node.value) == "sys.version_info"
    if isinstance(node, ast.Call):
        return not node.args and not node.keywords and _dotted(node.func) in _PROBE_CALLS
    return _dotted(node) in _PROBES


def _value(node: ast.expr, target: Target) -> object:
    """The value of a probe or a literal on ``target``."""
    if isinstance(node, ast.Constant) and type(node.value) in (str, int):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) is int:
            return -operand.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_value(e, target) for e in node.elts)
    if isinstance(node, ast.Set):
        return frozenset(_value(e, target) for e in node.elts)
    major, minor = target.python_minor
    parts = target.python_version.split(".")
    micro = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    version = _VersionInfo(major, minor, micro)
    if isinstance(node, ast.Subscript) and _dotted(node.value) == "sys.version_info":
        known = (major, minor) if micro is None else (major, minor, micro)
        piece = node.slice
        if isinstance(piece, ast.Slice) and piece.lower is None and piece.step is None:
            upper = _value(piece.upper, target) if piece.upper is not None else 3
            if type(upper) is not int or not 0 < upper <= 3:
                raise _Unsupported
            return known[:upper] if upper <= len(known) else _UNKNOWN
        index = _value(piece, target)
        if type(index) is not int or not 0 <= index <= 2:
            raise _Unsupported
        return known[index] if index < len(known) else _UNKNOWN
    if isinstance(node, ast.Call) and _is_probe(node):
        name = _dotted(node.func)
        if name == "platform.system":
            return target.platform_system
        if name == "platform.machine":
            return target.platform_machine
        return {"cpython": "CPython", "pypy": "PyPy"}.get(target.implementation_name, _UNKNOWN)
    name = _dotted(node)
    probes: dict[str | None, object] = {
        "sys.platform": target.sys_platform,
        "os.name": target.os_name,
        "sys.implementation.name": target.implementation_name,
        "sys.version_info": version,
        "sys.version_info.major": major,
        "sys.version_info.minor": minor,
        "sys.version_info.micro": _UNKNOWN if micro is None else micro,
    }
    if name in probes:
        return probes[name]
    raise _Unsupported


_ORDER_OPS: Final = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_FLIPPED: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _compare(op: ast.cmpop, left: object, right: object) -> bool | None:
    if isinstance(op, (ast.In, ast.NotIn)):
        if not isinstance(right, (tuple, frozenset, str)) or isinstance(left, _VersionInfo):
            raise _Unsupported
        if left is _UNKNOWN:
            return None
        try:
            found = left in right
        except TypeError:
            return None
        return found if isinstance(op, ast.In) else not found
    symbol = _ORDER_OPS.get(type(op))
    if symbol is None:
        raise _Unsupported  # `is`, `is not`
    if isinstance(right, _VersionInfo):
        left, right, symbol = right, left, _FLIPPED[symbol]
    if left is _UNKNOWN or right is _UNKNOWN:
        return None
    if isinstance(left, _VersionInfo):
        if not isinstance(right, tuple) or not all(type(x) is int for x in right):
            raise _Unsupported
        return _compare_version(symbol, left, right)
    try:
        return _ordered(symbol, left, right)
    except TypeError:
        return None


def _compare_version(symbol: str, version: _VersionInfo, other: tuple[int, ...]) -> bool | None:
    """``sys.version_info <symbol> other`` where the micro version may be unknown.

    ``sys.version_info`` is the 5-tuple ``(major, minor, micro, "final", 0)``: longer than
    any tuple compared here, so it is the greater one when their common part is equal.
    """
    if len(other) > 3:
        raise _Unsupported  # (3, 10, 0, 0): compares "final" with an int
    known: tuple[int, ...] = (version.major, version.minor)
    if version.micro is not None:
        known += (version.micro,)
    common = min(len(known), len(other))
    if known[:common] != other[:common]:
        return _ordered(symbol, known[:common], other[:common])
    if len(other) > len(known):
        return None  # (3, 10, 2) against a target "3.10"
    return _ordered(symbol, 1, 0)


def _ordered(symbol: str, a: object, b: object) -> bool:
    if symbol == "==":
        return a == b
    if symbol == "!=":
        return a != b
    if symbol == "<":
        return a < b  # type: ignore[operator,no-any-return]
    if symbol == "<=":
        return a <= b  # type: ignore[operator,no-any-return]
    if symbol == ">":
        return a > b  # type: ignore[operator,no-any-return]
    return a >= b  # type: ignore[operator,no-any-return]


def is_literal_test(rendered: str) -> bool:
    """Whether ``rendered`` (a normalized ``if`` test) is a literal platform/version check
    that `evaluate_condition` understands."""
    tree = _parse_condition(rendered)
    if tree is None:
        return False
    try:
        _truth(tree, _PROBE_TARGET)
    except _Unsupported:
        return False
    return True
