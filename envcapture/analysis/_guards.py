"""What the guards around an import mean: optional (``try``/``suppress``), type-only, platform conditions.

`GuardEffects` turns a `Frame`'s guards into an `Effect`, reading names through the
module's aliases (``qualname``) and caching the effect of each guard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NamedTuple, get_args

import libcst as cst

from envcapture.analysis._nodes import literal_str
from envcapture.analysis._visitor import Frame, Guard, GuardKind
from envcapture.analysis.conditions import is_literal_test
from envcapture.analysis.model import Condition

__all__ = ["Effect", "GuardEffects"]

_IMPORT_ERRORS: Final = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_FIND_SPEC: Final = frozenset({"importlib.util.find_spec", "pkgutil.find_loader", "importlib.find_loader"})
_TYPE_CHECKING: Final = frozenset({"TYPE_CHECKING", "typing.TYPE_CHECKING", "typing_extensions.TYPE_CHECKING"})
_GUARD_KINDS: Final = get_args(GuardKind)


class Effect(NamedTuple):
    optional: bool = False
    type_only: bool = False
    conditions: tuple[Condition, ...] = ()
    # inside an ``if``/``else`` body (``if args.wandb: import wandb``): the import runs only
    # when a test passes at run time, which the analysis cannot decide
    branch: bool = False


class GuardEffects:
    """The effects of the guards of one module, with names resolved by ``qualname``."""

    def __init__(self, qualname: Callable[[cst.BaseExpression], str | None]) -> None:
        self._qualname = qualname
        self.effects: dict[int, Effect] = {}

    def effect(self, frame: Frame) -> Effect:
        optional = type_only = False
        conditions: list[Condition] = []
        for guard in frame.guards:
            effect = self.guard_effect(guard)
            optional = optional or effect.optional
            type_only = type_only or effect.type_only
            conditions.extend(c for c in effect.conditions if c not in conditions)
        branch = any(guard.kind in ("if", "else") for guard in frame.guards)
        return Effect(optional, type_only, tuple(conditions), branch)

    def guard_effect(self, guard: Guard) -> Effect:
        """The effect of one guard (computed once per guard)."""
        key = id(guard.node) * 8 + _GUARD_KINDS.index(guard.kind)
        effect = self.effects.get(key)
        if effect is None:
            effect = self.effects[key] = self._guard_effect(guard)
        return effect

    def alternative_role(self, frame: Frame) -> tuple[cst.CSTNode, bool] | None:
        """(the ``try`` statement, in its ``except`` branch?) for an import that is optional only
        because of that one ``try``: in its body, or in one of its import-catching handlers.

        Anything else that makes it optional too (an outer ``try``, a ``suppress``, a
        ``find_spec`` test) leaves it out: its alternatives are not this ``try``'s.
        """
        making_optional = [g for g in frame.guards if self.guard_effect(g).optional]
        if len(making_optional) != 1:
            return None
        guard = making_optional[0]
        if guard.kind == "try":
            return guard.node, False
        if guard.kind == "handler" and guard.owner is not None:
            return guard.owner, True
        return None

    def _guard_effect(self, guard: Guard) -> Effect:
        node = guard.node
        if isinstance(node, (cst.Try, cst.TryStar)):
            return Effect(optional=any(self._catches_import_error(h.type) for h in node.handlers))
        if isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)):
            return Effect(optional=self._catches_import_error(node.type))
        if isinstance(node, cst.With):
            return Effect(optional=any(self._suppresses_import_error(item.item) for item in node.items))
        assert isinstance(node, cst.If)
        test = node.test
        if guard.kind == "if":
            conjuncts = _operands(test, cst.And)
            type_only = any(self._qualname(c) in _TYPE_CHECKING for c in conjuncts)
            # ``if find_spec("wandb"):``: the body runs only where the module is installed.
            optional = any(self._is_availability_test(c) for c in conjuncts)
            whole = self._literal_test(test)
            if whole is not None:
                return Effect(optional=optional, type_only=type_only, conditions=(Condition(expression=whole),))
            found = (self._literal_test(c) for c in conjuncts if c is not test)
            return Effect(optional=optional, type_only=type_only, conditions=tuple(Condition(expression=e) for e in found if e))
        negated_tc = (
            isinstance(test, cst.UnaryOperation)
            and isinstance(test.operator, cst.Not)
            and self._qualname(test.expression) in _TYPE_CHECKING
        )
        whole = self._literal_test(test)
        if whole is not None:
            return Effect(type_only=negated_tc, conditions=(Condition(expression=whole, negated=True),))
        disjuncts = [self._literal_test(d) for d in _operands(test, cst.Or) if d is not test]
        return Effect(
            type_only=negated_tc,
            conditions=tuple(Condition(expression=e, negated=True) for e in disjuncts if e),
        )

    def _is_availability_test(self, test: cst.BaseExpression) -> bool:
        """``find_spec("x")``, ``importlib.util.find_spec("x") is not None`` (any alias)."""
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            target = test.comparisons[0]
            comparator = target.comparator
            if isinstance(target.operator, cst.IsNot) and isinstance(comparator, cst.Name) and comparator.value == "None":
                test = test.left
        return isinstance(test, cst.Call) and self._qualname(test.func) in _FIND_SPEC

    def _catches_import_error(self, handled: cst.BaseExpression | None) -> bool:
        if handled is None:
            return True  # bare except:
        if isinstance(handled, (cst.Tuple, cst.List)):
            return any(self._catches_import_error(e.value) for e in handled.elements)
        return (self._qualname(handled) or "").removeprefix("builtins.") in _IMPORT_ERRORS

    def _suppresses_import_error(self, item: cst.BaseExpression) -> bool:
        return (
            isinstance(item, cst.Call)
            and self._qualname(item.func) == "contextlib.suppress"
            and any(self._catches_import_error(a.value) for a in item.args if not a.star)
        )

    def _literal_test(self, test: cst.BaseExpression) -> str | None:
        """Canonical source of ``test`` when it is a literal platform/version check."""
        rendered = self._render(test)
        if rendered is None or not is_literal_test(rendered):
            return None
        return rendered

    def _render(self, node: cst.BaseExpression) -> str | None:
        """Source text of a simple expression with aliases resolved, or None."""
        if isinstance(node, (cst.Name, cst.Attribute)):
            return self._qualname(node)
        if isinstance(node, cst.Integer):
            return node.value
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            value = literal_str(node)
            return _quote(value) if value is not None else None
        if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
            items = [self._render(e.value) if not isinstance(e, cst.StarredElement) else None for e in node.elements]
            if None in items:
                return None
            body = ", ".join(i for i in items if i is not None)
            if isinstance(node, cst.Tuple):
                return f"({body},)" if len(items) == 1 else f"({body})"
            return f"[{body}]" if isinstance(node, cst.List) else ("{" + body + "}" if items else None)
        if isinstance(node, cst.UnaryOperation):
            operand = self._render(node.expression)
            if operand is None:
                return None
            if isinstance(node.operator, cst.Not):
                return f"not {operand}" if not isinstance(node.expression, cst.BooleanOperation) else f"not ({operand})"
            if isinstance(node.operator, cst.Minus) and isinstance(node.expression, cst.Integer):
                return f"-{operand}"
            return None
        if isinstance(node, cst.BooleanOperation):
            word = "and" if isinstance(node.operator, cst.And) else "or"
            sides = []
            for side in (node.left, node.right):
                text = self._render(side)
                if text is None:
                    return None
                if isinstance(side, cst.BooleanOperation) and type(side.operator) is not type(node.operator):
                    text = f"({text})"
                sides.append(text)
            return f"{sides[0]} {word} {sides[1]}"
        if isinstance(node, cst.Comparison):
            parts = [self._render(node.left)]
            for target in node.comparisons:
                parts += [_COMPARISON_OPS.get(type(target.operator)), self._render(target.comparator)]
            return None if None in parts else " ".join(p for p in parts if p is not None)
        if isinstance(node, cst.Call):
            func = self._render(node.func) if isinstance(node.func, (cst.Name, cst.Attribute)) else None
            if func is None or any(a.star or a.keyword is not None for a in node.args):
                return None
            args = [self._render(a.value) for a in node.args]
            return None if None in args else f"{func}({', '.join(a for a in args if a is not None)})"
        if isinstance(node, cst.Subscript) and len(node.slice) == 1:
            value = self._render(node.value)
            piece = node.slice[0].slice
            if isinstance(piece, cst.Index):
                index = self._render(piece.value)
                return None if value is None or index is None else f"{value}[{index}]"
            if isinstance(piece, cst.Slice) and piece.step is None:
                bounds = [self._render(b) if b is not None else "" for b in (piece.lower, piece.upper)]
                return None if value is None or None in bounds else f"{value}[{bounds[0]}:{bounds[1]}]"
        return None


_COMPARISON_OPS: Final[dict[type[cst.BaseCompOp], str]] = {
    cst.Equal: "==",
    cst.NotEqual: "!=",
    cst.LessThan: "<",
    cst.LessThanEqual: "<=",
    cst.GreaterThan: ">",
    cst.GreaterThanEqual: ">=",
    cst.In: "in",
    cst.NotIn: "not in",
}


def _operands(node: cst.BaseExpression, operator: type[cst.BaseBooleanOp]) -> list[cst.BaseExpression]:
    """The operands of an ``and`` (or ``or``) chain, flattened; [node] for anything else."""
    if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, operator):
        return _operands(node.left, operator) + _operands(node.right, operator)
    return [node]


def _quote(value: str) -> str:
    if '"' in value or "\\" in value or not value.isprintable():
        return repr(value)
    return f'"{value}"'
