"""The libcst walk of one module: import statements, candidate calls and assignments, and their context.

`FactsVisitor` records each import statement (and each call or subscript assignment that
may be a dynamic import or a ``sys.path`` change, each ``/`` that may build a path) with its
`Frame`: the scope it runs in and the enclosing guards (``if``/``else``, ``try``, except
handlers, ``with``), whose effect is decided after the walk, once the module's aliases are
known. When expressions are walked, the names each statement binds are recorded too (a
path held in a module-level name: ``ROOT = Path(__file__).parent``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Final, Literal, NamedTuple

import libcst as cst

from envcapture.analysis._fragment import walk_markers
from envcapture.analysis.model import Scope

__all__ = ["FROM_IMPORTS", "IMPORTS", "FactsVisitor", "Frame", "Guard", "GuardKind", "Pending", "walk_markers"]

# PEP 810 `lazy import` nodes exist from libcst 1.9 on.
IMPORTS: Final[tuple[type[cst.CSTNode], ...]] = tuple(t for t in (cst.Import, getattr(cst, "LazyImport", None)) if t is not None)
FROM_IMPORTS: Final[tuple[type[cst.CSTNode], ...]] = tuple(
    t for t in (cst.ImportFrom, getattr(cst, "LazyImportFrom", None)) if t is not None
)
_ALL_IMPORTS: Final = frozenset(IMPORTS + FROM_IMPORTS)  # by type: every libcst class is an ABC, whose isinstance is slow
_STATEMENT_NODES: Final = (
    cst.Module,
    cst.BaseCompoundStatement,
    cst.BaseSuite,
    cst.SimpleStatementLine,
    cst.Else,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)

# libcst's native parser recurses on the machine stack: around 1,500 nested brackets or
# 10,000 chained operators it crashes the process (SIGSEGV), and it is quadratic well


GuardKind = Literal["if", "else", "try", "try-else", "handler", "with"]


class Guard(NamedTuple):
    """An enclosing construct whose effect on an import is decided after the walk.

    ``try`` is the body of a ``try`` statement (``node``), ``try-else`` its ``else`` block;
    a ``handler`` guard keeps the ``try`` statement it belongs to in ``owner``.
    """

    kind: GuardKind
    node: cst.CSTNode
    owner: cst.CSTNode | None = None


class Frame(NamedTuple):
    scope: Scope
    guards: tuple[Guard, ...]


class Pending(NamedTuple):
    node: cst.CSTNode  # an import statement, a call, a `sys.path` assignment or a `/`
    frame: Frame


_SEQUENCES: Final = frozenset((cst.Tuple, cst.List))
_ANNOTATED: Final = frozenset((cst.AnnAssign, cst.AugAssign))
# Methods called without arguments that read a file: Path("x").read_text(), open(p).read().
_READ_METHODS: Final = frozenset({"read_text", "read_bytes", "open", "read"})


class FactsVisitor(cst.CSTVisitor):
    """Collects import statements, candidate calls and their enclosing guards in one walk.

    Expressions are walked only in statements whose text may hold a dynamic import or
    a ``sys.path`` change (``markers``); compound-statement headers always are.
    """

    def __init__(
        self, tree: cst.Module, markers: set[str] | None, statement_lines: Sequence[tuple[tuple[str, ...], bool]] = ()
    ) -> None:
        super().__init__()
        self._tree = tree
        self._markers = markers  # None: no statement needs its expressions walked
        # Whether each line of simple statements holds a marker, in order, as CPython's parse
        # of the source found them (`Fragment.statement_lines`); once a line's statement types
        # differ from libcst's, the statements' code is generated to find out, as without it.
        self._lines: Iterator[tuple[tuple[str, ...], bool]] | None = iter(statement_lines) if statement_lines else None
        self.frames: list[Frame] = [Frame(Scope.MODULE, ())]
        self._tries: list[cst.CSTNode] = []  # the try statements being walked, innermost last
        self.imports: list[Pending] = []
        self.calls: list[Pending] = []
        self.assigns: list[Pending] = []
        self.expressions: list[Pending] = []  # the calls and `a / b` operations, in source order (outer first)
        # id of each walked call and binary operation -> id of the nearest one holding it (0: none),
        # which tells `datafiles` what an accounted-for expression holds without walking it again.
        self.enclosing: dict[int, int] = {}
        self._open: list[int] = []  # the calls and operations being walked, innermost last
        self.bindings: list[tuple[str, cst.BaseExpression | None, Scope]] = []  # name, value (None: not one), scope

    def on_visit(self, node: cst.CSTNode) -> bool:
        # With no call to look for, only statements matter: headers, expressions and
        # whitespace are not entered (most of the nodes of a module).
        if self._markers is None and not isinstance(node, _STATEMENT_NODES):
            return False
        return super().on_visit(node)

    def walk(self, node: cst.CSTNode) -> None:
        """Visit ``node`` and what it holds, calling the same methods as ``node.visit(self)``.

        libcst's own traversal rebuilds every node it visits (its visitors and transformers
        share one code path), which costs as much as the parse. This one reads the fields:
        whitespace and punctuation are not entered, and siblings come in field order, which
        keeps the order of the statements within each block (what `imports` relies on) and
        puts every node after the ones that hold it.
        """
        plan = _PLANS.get(type(node)) or _plan(type(node))
        if self._markers is None and not plan.statement:
            enter = False
        else:
            enter = plan.visit is None or plan.visit(self, node) is not False
        if enter:
            for field, before, after in plan.fields:
                value = getattr(node, field)
                if before is not None:
                    before(self, node)
                # Types, not isinstance: every libcst class is an ABC, whose isinstance is slow.
                kind = type(value)
                if kind in _PLANS:
                    self.walk(value)
                elif kind is tuple or kind is list:
                    for item in value:
                        if type(item) in _PLANS or _is_node(item):
                            self.walk(item)
                elif kind not in _NOT_NODES and _is_node(value):
                    self.walk(value)
                if after is not None:
                    after(self, node)
        if plan.leave is not None:
            plan.leave(self, node)

    # statements that hold imports
    def _small_statements(self, node: cst.SimpleStatementLine | cst.SimpleStatementSuite) -> bool:
        for stmt in node.body:
            if type(stmt) in _ALL_IMPORTS:
                self.imports.append(Pending(stmt, self.frames[-1]))
        if self._markers is None:
            return False
        for stmt in node.body:
            self._bind(stmt)
        if self._lines is not None:
            kinds, holds = next(self._lines, ((), False))
            if kinds == tuple(type(stmt).__name__ for stmt in node.body):
                return holds
            self._lines = None
        # The statement's own lines, comments on them included; not the comment lines above
        # (its leading_lines): the rule `Fragment.statement_lines` follows.
        code = "".join(self._tree.code_for_node(stmt) for stmt in node.body) + self._tree.code_for_node(node.trailing_whitespace)
        return any(marker in code for marker in self._markers)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        return self._small_statements(node)

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> bool:
        return self._small_statements(node)

    def _bind(self, stmt: cst.BaseSmallStatement) -> None:
        """The names ``stmt`` binds: ``a = b = value``, ``a: T = value``; ``a += x`` and
        tuple targets bind a name to no single value."""
        scope = self.frames[-1].scope
        # type() first: libcst's classes are ABCs, whose isinstance is slow when it fails.
        if type(stmt) is cst.Assign and isinstance(stmt, cst.Assign):
            for target in stmt.targets:
                name = target.target
                if type(name) is cst.Name and isinstance(name, cst.Name):
                    self.bindings.append((name.value, stmt.value, scope))
                elif type(name) in _SEQUENCES and isinstance(name, (cst.Tuple, cst.List)):
                    for element in name.elements:
                        if type(element.value) is cst.Name and isinstance(element.value, cst.Name):
                            self.bindings.append((element.value.value, None, scope))
        elif (
            type(stmt) in _ANNOTATED
            and isinstance(stmt, (cst.AnnAssign, cst.AugAssign))
            and type(stmt.target) is cst.Name
            and isinstance(stmt.target, cst.Name)
        ):
            value = stmt.value if type(stmt) is cst.AnnAssign else None
            self.bindings.append((stmt.target.value, value, scope))

    def visit_Import(self, node: cst.Import) -> bool:
        return False  # recorded by its statement line

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def _open_expression(self, node: cst.CSTNode) -> None:
        self.enclosing[id(node)] = self._open[-1] if self._open else 0
        self._open.append(id(node))

    def _close_expression(self, node: cst.CSTNode) -> None:
        if self._open and self._open[-1] == id(node):  # not opened when expressions are not walked
            self._open.pop()

    def leave_Call(self, original_node: cst.Call) -> None:
        self._close_expression(original_node)

    def leave_BinaryOperation(self, original_node: cst.BinaryOperation) -> None:
        self._close_expression(original_node)

    def visit_Call(self, node: cst.Call) -> None:
        self._open_expression(node)
        if (node.args and isinstance(node.func, (cst.Name, cst.Attribute))) or (
            isinstance(node.func, cst.Attribute) and node.func.attr.value in _READ_METHODS
        ):
            pending = Pending(node, self.frames[-1])
            self.calls.append(pending)
            self.expressions.append(pending)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self._open_expression(node)
        if isinstance(node.operator, cst.Divide):  # Path(__file__).parent / "assets"
            self.expressions.append(Pending(node, self.frames[-1]))

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Subscript):
            self.assigns.append(Pending(node, self.frames[-1]))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.AddAssign):
            self.assigns.append(Pending(node, self.frames[-1]))

    # the context stack
    def _push(self, kind: GuardKind, node: cst.CSTNode, owner: cst.CSTNode | None = None) -> None:
        top = self.frames[-1]
        self.frames.append(Frame(top.scope, (*top.guards, Guard(kind, node, owner))))

    def _enter_scope(self, scope: Scope) -> None:
        top = self.frames[-1]
        if scope is Scope.CLASS:  # a class body runs at once: its guards still apply
            guards = top.guards
        else:  # a body that runs later: only the conditions of its definition remain
            guards = tuple(g for g in top.guards if g.kind in ("if", "else"))
        self.frames.append(Frame(scope, guards))

    def _pop(self, node: cst.CSTNode) -> None:
        self.frames.pop()

    def visit_If_body(self, node: cst.If) -> None:
        self._push("if", node)

    def visit_If_orelse(self, node: cst.If) -> None:
        self._push("else", node)

    def visit_Try(self, node: cst.Try) -> None:
        self._tries.append(node)

    def visit_TryStar(self, node: cst.TryStar) -> None:
        self._tries.append(node)

    def leave_Try(self, original_node: cst.Try) -> None:
        self._tries.pop()

    def leave_TryStar(self, original_node: cst.TryStar) -> None:
        self._tries.pop()

    def visit_Try_body(self, node: cst.Try) -> None:
        self._push("try", node)

    def visit_Try_orelse(self, node: cst.Try) -> None:
        self._push("try-else", node)

    def visit_TryStar_body(self, node: cst.TryStar) -> None:
        self._push("try", node)

    def visit_TryStar_orelse(self, node: cst.TryStar) -> None:
        self._push("try-else", node)

    # A handler's body is walked while its try statement is the innermost one being walked.
    def visit_ExceptHandler_body(self, node: cst.ExceptHandler) -> None:
        self._push("handler", node, self._tries[-1])

    def visit_ExceptStarHandler_body(self, node: cst.ExceptStarHandler) -> None:
        self._push("handler", node, self._tries[-1])

    def visit_With_body(self, node: cst.With) -> None:
        self._push("with", node)

    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self._enter_scope(Scope.FUNCTION)

    def visit_Lambda_body(self, node: cst.Lambda) -> None:
        self._enter_scope(Scope.FUNCTION)

    def visit_ClassDef_body(self, node: cst.ClassDef) -> None:
        self._enter_scope(Scope.CLASS)

    leave_If_body = leave_If_orelse = _pop
    leave_Try_body = leave_Try_orelse = leave_TryStar_body = leave_TryStar_orelse = _pop
    leave_ExceptHandler_body = leave_ExceptStarHandler_body = leave_With_body = _pop
    leave_FunctionDef_body = leave_Lambda_body = leave_ClassDef_body = _pop


# Fields that hold only whitespace, comments and punctuation: nothing a fact comes from.
_SKIPPED_FIELDS: Final = frozenset(
    {
        "asynchronous", "colon", "comma", "default_indent", "default_newline", "dot", "encoding", "equal", "footer",
        "header", "indent", "leading_lines", "lines_after_decorators", "lpar", "newline", "operator", "rpar",
        "semicolon", "star", "trailing_whitespace",
    }
)  # fmt: skip

_Hook = Callable[[FactsVisitor, cst.CSTNode], object]


class _Plan(NamedTuple):
    """How `FactsVisitor.walk` visits one node type: its hooks and the fields to enter."""

    visit: _Hook | None
    leave: _Hook | None
    fields: tuple[tuple[str, _Hook | None, _Hook | None], ...]  # name, visit_<Type>_<name>, leave_<Type>_<name>
    statement: bool  # one of `_STATEMENT_NODES`: entered even when expressions are not


_PLANS: dict[type[cst.CSTNode], _Plan] = {}


def _plan(kind: type[cst.CSTNode]) -> _Plan:
    name = kind.__name__
    fields = tuple(
        (f.name, getattr(FactsVisitor, f"visit_{name}_{f.name}", None), getattr(FactsVisitor, f"leave_{name}_{f.name}", None))
        for f in dataclasses.fields(kind)
        if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace")
    )
    plan = _Plan(
        getattr(FactsVisitor, f"visit_{name}", None),
        getattr(FactsVisitor, f"leave_{name}", None),
        fields,
        issubclass(kind, _STATEMENT_NODES),
    )
    _PLANS[kind] = plan
    return plan


_NOT_NODES: set[type] = {str, type(None)}  # the types of field values that are not nodes, as met


def _is_node(value: object) -> bool:
    """Whether ``value``, of a type `FactsVisitor.walk` has not met yet, is a node; its type
    is then looked up in `_PLANS` (a node's) or `_NOT_NODES` from then on."""
    if isinstance(value, cst.CSTNode):
        _plan(type(value))
        return True
    _NOT_NODES.add(type(value))
    return False
