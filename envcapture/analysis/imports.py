"""Import extraction: source text -> `SourceFacts` (import sites, sys.path additions), via libcst.

Conventions of the output:

* ``ImportSite.line`` and ``column`` are both **1-based**; the column counts characters
  (code points, a tab is one), at the ``import`` / ``from`` keyword of a statement or at
  the start of the callee of a dynamic import (``importlib.import_module(...)``).
  ``import a, b`` gives two sites at the same place.
* ``optional``: in the ``try`` body, the ``else`` block, or an import-catching handler
  (the fallback) of a ``try`` that catches ``ImportError``, ``ModuleNotFoundError``,
  ``Exception``, ``BaseException`` (or a tuple holding one, or a bare ``except:``); in a
  ``with contextlib.suppress(ImportError):`` block; every ``find_spec`` call. Not in
  ``finally``. A ``def``/``lambda`` body resets it: the ``try`` around a definition does
  not protect the call.
* ``type_only``: under ``if TYPE_CHECKING:`` (bare, ``typing.``/``typing_extensions.``
  or an alias of either), not in its ``else``.
* ``conditions``: the enclosing ``if`` tests that are literal platform/version checks
  (see `evaluate_condition`), outermost first, rendered canonically (module aliases
  replaced by ``sys``/``os``/``platform``, double quotes). For ``if A and x:`` the
  literal conjuncts are kept; in an ``else`` the test is negated (``elif`` adds the
  earlier tests negated).
* ``scope``: comprehensions do not open a scope (they run where they stand); lambdas do.
* A source without ``import``, ``sys.path`` and ``__main__`` in its text is not parsed
  at all (it can yield no fact), so a syntax error in it is not reported.

``SourceFacts.error`` (severity ERROR, nothing else reported) has the codes
``binary-file``, ``decode-error``, ``parse-error`` (line and message from CPython's
parser when it agrees the file is invalid: libcst's own positions point past the
culprit), ``too-deeply-nested`` and ``internal-error``; ``SourceFacts.diagnostics``
(WARNING) ``relative-import-beyond-top`` and ``relative-import-unresolved``.
libcst parses with its native parser, whatever the running interpreter: Python 3.12
syntax (PEP 695, nested f-string quotes) parses on 3.10 and 3.11; no
``PartialParserConfig`` is needed (its ``python_version`` does not restrict that parser).
"""

from __future__ import annotations

import ast
import io
import logging
import posixpath
import re
import tokenize
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Final, Literal, NamedTuple

import libcst as cst
from libcst._nodes.internal import CodegenState  # private: see _StartRecorder
from libcst.helpers import get_full_name_for_node
from libcst.metadata import MetadataWrapper, PositionProvider

from envcapture.analysis.conditions import evaluate_condition, import_is_active, is_literal_test
from envcapture.analysis.model import (
    EXTRACTOR_VERSION,
    Condition,
    DynamicKind,
    ImportSite,
    PathAddition,
    Scope,
    SourceFacts,
)
from envcapture.errors import InputError, Location
from envcapture.model import Diagnostic, ModuleName, Severity

__all__ = [
    "EXTRACTOR_VERSION",
    "decode_source",
    "evaluate_condition",
    "extract_source_facts",
    "import_is_active",
]


_log = logging.getLogger(__name__)

# Text that any file with a fact to report contains (`__import__` contains "import").
_ANY_FACT_MARKERS: Final = ("import", "sys.path", "__main__")
# Text a statement needs before its expressions are walked for calls and assignments.
_CALL_MARKERS: Final = ("import_module", "__import__", "find_spec", "sys.path")

_IMPORT_ERRORS: Final = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_TYPE_CHECKING: Final = frozenset({"TYPE_CHECKING", "typing.TYPE_CHECKING", "typing_extensions.TYPE_CHECKING"})
_PATH_CLASSES: Final = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath", "Path"})
# PEP 810 `lazy import` nodes exist from libcst 1.9 on.
_IMPORTS: Final[tuple[type[cst.CSTNode], ...]] = tuple(t for t in (cst.Import, getattr(cst, "LazyImport", None)) if t is not None)
_FROM_IMPORTS: Final[tuple[type[cst.CSTNode], ...]] = tuple(
    t for t in (cst.ImportFrom, getattr(cst, "LazyImportFrom", None)) if t is not None
)
_ALL_IMPORTS: Final = _IMPORTS + _FROM_IMPORTS
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
# before. CPython refuses more than 200 nested brackets; deeper trees would hit Python's
# recursion limit in the walk anyway. `_nesting_problem` checks this before parsing.
_MAX_BRACKETS: Final = 200
_MAX_CHAIN: Final = 1000
_SCAN_PATTERN: Final = r"""
      (?P<s>'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''
        |\"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
        |'[^'\\\n]*(?:\\.[^'\\\n]*)*'
        |"[^"\\\n]*(?:\\.[^"\\\n]*)*")
    | (?P<c>\#[^\r\n]*)
    | (?P<bs>\\\r?\n)
    | (?P<o>[(\[{])
    | (?P<x>[)\]}])
    | (?P<n>\r\n?|\n)
    | (?P<op>\*\*|//|<<|>>|->|==|!=|<=|>=|:=|[-+*/%@&|^~<>.]KEYWORDS)
    | (?P<sep>[,;:=])
"""
# Keywords cost a third more to scan for: only when a file has many of them.
_SCAN_RE: Final = re.compile(_SCAN_PATTERN.replace("KEYWORDS", ""), re.VERBOSE)
_SCAN_KEYWORDS_RE: Final = re.compile(_SCAN_PATTERN.replace("KEYWORDS", r"|\b(?:and|or|not|if|else|lambda|await)\b"), re.VERBOSE)
_KEYWORD_TEXTS: Final = (" and ", " or ", "not ", " if ", " else ", "lambda", "await ")


# --- public API ------------------------------------------------------------------------------


def decode_source(data: bytes) -> str:
    """Decode a Python source file as the interpreter would (PEP 263 cookie, UTF-8 BOM).

    Returns the text without the BOM. Raises `InputError` (its location's ``line`` set
    where known) when the cookie names an unknown codec or the bytes do not decode.
    """
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        # Unknown codec, a BOM with a non-UTF-8 cookie, or undecodable bytes in the first
        # two lines with no cookie (tokenize then reports "invalid or missing ...").
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise _decode_error(data, bad, "utf-8") from exc
        raise InputError(f"bad encoding declaration: {exc}", location=Location(line=_cookie_line(data))) from exc
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _decode_error(data, exc, encoding) from exc
    except LookupError as exc:  # pragma: no cover - detect_encoding checks the codec
        raise InputError(f"unknown encoding {encoding!r}", location=Location(line=_cookie_line(data))) from exc


def extract_source_facts(source: bytes | str, *, module: str, is_package: bool, path: str | None = None) -> SourceFacts:
    """What one source file says about imports: import sites, ``sys.path`` additions, main guard.

    ``module`` is the file's dotted name (``__main__`` for a script; the package name
    with ``is_package=True`` for an ``__init__.py``) and resolves relative imports;
    ``path`` only names the file in diagnostics. Pure, and never raises on bad input: a
    file that cannot be decoded or parsed gives ``SourceFacts(error=...)``.
    """
    if isinstance(source, bytes):
        nul = source.find(b"\x00")
        if nul >= 0:
            return _failed(path, source.count(b"\n", 0, nul) + 1, "binary-file", "binary file (contains NUL bytes)")
        try:
            text = decode_source(source)
        except InputError as exc:
            line = exc.location.line if exc.location is not None else None
            return _failed(path, line, "decode-error", exc.message)
    else:
        text = source.removeprefix("\ufeff")
        nul = text.find("\x00")
        if nul >= 0:
            return _failed(path, text.count("\n", 0, nul) + 1, "binary-file", "binary file (contains NUL characters)")
    if not any(marker in text for marker in _ANY_FACT_MARKERS):
        return SourceFacts()
    problem = _nesting_problem(text)
    if problem is not None:
        return _failed(path, problem[0], "too-deeply-nested", problem[1])
    try:
        tree = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        line, message = _syntax_error(text, exc, path)
        return _failed(path, line, "parse-error", message)
    except RecursionError:
        return _failed(path, None, "too-deeply-nested", "expression nested too deeply to parse")
    try:
        return _Extraction(tree, text, module=module, is_package=is_package, path=path).facts()
    except RecursionError:
        return _failed(path, None, "too-deeply-nested", "expression nested too deeply to analyse")
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop the analysis of a project
        _log.debug("import extraction failed for %s", path, exc_info=True)
        first_line = str(exc).partition("\n")[0]
        message = f"import extraction failed: {type(exc).__name__}: {first_line}"
        return _failed(path, None, "internal-error", message)


# --- decoding and failures ---------------------------------------------------------------------


def _decode_error(data: bytes, exc: UnicodeDecodeError, encoding: str) -> InputError:
    line = data.count(b"\n", 0, exc.start) + 1
    byte = data[exc.start : exc.start + 1].hex()
    return InputError(
        f"cannot decode as {encoding}: byte 0x{byte} at line {line} ({exc.reason})",
        location=Location(line=line),
    )


def _cookie_line(data: bytes) -> int:
    first_two = data.split(b"\n", 2)[:2]
    return 2 if len(first_two) == 2 and b"coding" not in first_two[0] and b"coding" in first_two[1] else 1


def _failed(path: str | None, line: int | None, code: str, message: str) -> SourceFacts:
    return SourceFacts(error=Diagnostic(file=path, line=line, code=code, message=message, severity=Severity.ERROR))


def _syntax_error(text: str, exc: cst.ParserSyntaxError, path: str | None) -> tuple[int, str]:
    """Line and one-line message for a file libcst rejects.

    libcst's native parser reports the position of the token *after* the culprit (often
    the next line) and a long "expected one of ..." list, so CPython's parser is asked
    for the line and message; it runs only on this failure path.
    """
    for number, raw in enumerate(text.splitlines(), start=1):
        if re.match(r"(<{7}|={7}|>{7})( |$)", raw):
            return number, "unresolved merge conflict marker"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes: SyntaxWarning under -W error
            compile(text, path or "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as cpython:
        message = (cpython.msg or "invalid syntax").splitlines()[0]
        if re.match(r"Missing parentheses in call to|multiple exception types must|leading zeros in decimal", message):
            message += " (Python 2 code?)"
        return cpython.lineno or exc.raw_line, message
    except (ValueError, RecursionError, MemoryError):
        pass
    # CPython accepts it (newer syntax than libcst knows): keep libcst's own words.
    first = exc.message.splitlines()[0] if exc.message else "invalid syntax"
    return exc.raw_line, first if len(first) <= 160 else first[:157] + "..."


def _nesting_problem(text: str) -> tuple[int, str] | None:
    """A cheap scan that refuses what would crash or stall libcst's parser.

    Strings and comments are skipped; ``chain`` approximates the depth of the expression
    tree: operators, nested brackets and trailers add one, a separator (``,`` ``:`` ``=``)
    goes back to the depth at the enclosing bracket, a newline outside brackets to 0.
    """
    chain = 0
    stack: list[int] = []
    keywords = sum(text.count(k) for k in _KEYWORD_TEXTS) > _MAX_CHAIN // 2
    for match in (_SCAN_KEYWORDS_RE if keywords else _SCAN_RE).finditer(text):
        kind = match.lastgroup
        if kind == "op" or kind == "s":
            chain += 1
        elif kind == "sep":
            chain = stack[-1] + 1 if stack else 0
        elif kind == "o":
            stack.append(chain)
            chain += 1
            if len(stack) > _MAX_BRACKETS:
                line = text.count("\n", 0, match.start()) + 1
                return line, f"brackets nested deeper than {_MAX_BRACKETS} levels"
        elif kind == "x":
            chain = stack.pop() + 1 if stack else 0
        elif kind == "n" and not stack:
            chain = 0
        if chain > _MAX_CHAIN:
            line = text.count("\n", 0, match.start()) + 1
            return line, f"expression deeper than {_MAX_CHAIN} levels"
    return None


# --- the walk ----------------------------------------------------------------------------------


class _Guard(NamedTuple):
    """An enclosing construct whose effect on an import is decided after the walk."""

    kind: Literal["if", "else", "try", "handler", "with"]
    node: cst.CSTNode


class _Frame(NamedTuple):
    scope: Scope
    guards: tuple[_Guard, ...]


class _Pending(NamedTuple):
    node: cst.CSTNode  # an import statement, a call or a `sys.path` assignment
    frame: _Frame


class _FactsVisitor(cst.CSTVisitor):
    """Collects import statements, candidate calls and their enclosing guards in one walk.

    Expressions are walked only in statements whose text may hold a dynamic import or
    a ``sys.path`` change (``markers``); compound-statement headers always are.
    """

    def __init__(self, tree: cst.Module, markers: set[str] | None) -> None:
        super().__init__()
        self._tree = tree
        self._markers = markers  # None: no statement needs its expressions walked
        self.frames: list[_Frame] = [_Frame(Scope.MODULE, ())]
        self.imports: list[_Pending] = []
        self.calls: list[_Pending] = []
        self.assigns: list[_Pending] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        # With no call to look for, only statements matter: headers, expressions and
        # whitespace are not entered (most of the nodes of a module).
        if self._markers is None and not isinstance(node, _STATEMENT_NODES):
            return False
        return super().on_visit(node)

    # statements that hold imports
    def _small_statements(self, node: cst.SimpleStatementLine | cst.SimpleStatementSuite) -> bool:
        for stmt in node.body:
            if isinstance(stmt, _ALL_IMPORTS):
                self.imports.append(_Pending(stmt, self.frames[-1]))
        if self._markers is None:
            return False
        code = self._tree.code_for_node(node)
        return any(marker in code for marker in self._markers)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        return self._small_statements(node)

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> bool:
        return self._small_statements(node)

    def visit_Import(self, node: cst.Import) -> bool:
        return False  # recorded by its statement line

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        if node.args and isinstance(node.func, (cst.Name, cst.Attribute)):
            self.calls.append(_Pending(node, self.frames[-1]))

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Subscript):
            self.assigns.append(_Pending(node, self.frames[-1]))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.AddAssign):
            self.assigns.append(_Pending(node, self.frames[-1]))

    # the context stack
    def _push(self, kind: Literal["if", "else", "try", "handler", "with"], node: cst.CSTNode) -> None:
        top = self.frames[-1]
        self.frames.append(_Frame(top.scope, (*top.guards, _Guard(kind, node))))

    def _enter_scope(self, scope: Scope) -> None:
        top = self.frames[-1]
        if scope is Scope.CLASS:  # a class body runs at once: its guards still apply
            guards = top.guards
        else:  # a body that runs later: only the conditions of its definition remain
            guards = tuple(g for g in top.guards if g.kind in ("if", "else"))
        self.frames.append(_Frame(scope, guards))

    def _pop(self, node: cst.CSTNode) -> None:
        self.frames.pop()

    def visit_If_body(self, node: cst.If) -> None:
        self._push("if", node)

    def visit_If_orelse(self, node: cst.If) -> None:
        self._push("else", node)

    def visit_Try_body(self, node: cst.Try) -> None:
        self._push("try", node)

    def visit_Try_orelse(self, node: cst.Try) -> None:
        self._push("try", node)

    def visit_TryStar_body(self, node: cst.TryStar) -> None:
        self._push("try", node)

    def visit_TryStar_orelse(self, node: cst.TryStar) -> None:
        self._push("try", node)

    def visit_ExceptHandler_body(self, node: cst.ExceptHandler) -> None:
        self._push("handler", node)

    def visit_ExceptStarHandler_body(self, node: cst.ExceptStarHandler) -> None:
        self._push("handler", node)

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


class _Effect(NamedTuple):
    optional: bool = False
    type_only: bool = False
    conditions: tuple[Condition, ...] = ()


class _Extraction:
    """One file: walk, resolve names against the file's imports, then place the findings."""

    def __init__(self, tree: cst.Module, text: str, *, module: str, is_package: bool, path: str | None) -> None:
        self.tree = tree
        self.text = text
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        if module == "__main__":
            self.package = ""
        self.path = path
        self.aliases: dict[str, str] = {}
        self.effects: dict[int, _Effect] = {}
        self.notes: list[tuple[cst.CSTNode, str, str]] = []  # node, code, message

    def facts(self) -> SourceFacts:
        # names bound to importlib/sys things must also open a statement
        aliased = set(_alias_markers(self.text))
        markers = None
        if aliased or any(marker in self.text for marker in _CALL_MARKERS):
            markers = aliased | set(_CALL_MARKERS)
        visitor = _FactsVisitor(self.tree, markers)
        self.tree.visit(visitor)
        for pending in visitor.imports:
            self._register_aliases(pending.node)

        found: list[tuple[cst.CSTNode, ImportSite]] = []
        for pending in visitor.imports:
            found.extend((pending.node, site) for site in self._static_sites(pending))
        for pending in visitor.calls:
            site = self._dynamic_site(pending)
            if site is not None:
                found.append((pending.node, site))
        additions: list[tuple[cst.CSTNode, PathAddition]] = []
        for pending in visitor.calls:
            additions.extend((pending.node, a) for a in self._call_additions(pending.node))
        for pending in visitor.assigns:
            additions.extend((pending.node, a) for a in self._assign_additions(pending.node))

        nodes = [n for n, _ in found] + [n for n, _ in additions] + [n for n, _, _ in self.notes]
        starts = (_ast_import_starts(self.text, nodes) or _starts(self.tree, nodes)) if nodes else {}
        imports = sorted(
            (replace(site, line=starts[id(node)][0], column=starts[id(node)][1] + 1) for node, site in found),
            key=lambda s: (s.line, s.column),
        )
        path_additions = tuple(
            sorted(
                (replace(addition, line=starts[id(node)][0]) for node, addition in additions),
                key=lambda a: a.line,
            )
        )
        diagnostics = tuple(
            sorted(
                Diagnostic(file=self.path, line=starts[id(node)][0], code=code, message=message)
                for node, code, message in self.notes
            )
        )
        return SourceFacts(
            imports=tuple(imports),
            path_additions=path_additions,
            has_main_guard=any(_is_main_guard(stmt) for stmt in self.tree.body),
            diagnostics=diagnostics,
        )

    # names
    def _register_aliases(self, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, _IMPORTS):
            for alias in _aliases_of(stmt):
                full = get_full_name_for_node(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases[alias.asname.name.value] = full
                else:
                    head = full.partition(".")[0]
                    self.aliases.setdefault(head, head)
        elif isinstance(stmt, _FROM_IMPORTS):
            level, name = _from_parts(stmt)
            base = self._resolve(name, level) if level else name
            names = _aliases_of(stmt)
            if base is None or not base:
                return
            for alias in names:
                imported = get_full_name_for_node(alias.name) or ""
                local = imported
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                self.aliases[local] = f"{base}.{imported}"

    def _qualname(self, node: cst.BaseExpression) -> str | None:
        parts: list[str] = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name):
            return None
        parts.append(self.aliases.get(node.value, node.value))
        return ".".join(reversed(parts))

    def _resolve(self, name: str, level: int, package: str | None = None) -> str | None:
        """Absolute name of a relative import (importlib's ``_resolve_name``); None above the top."""
        base_package = self.package if package is None else package
        if not base_package:
            return None
        bits = base_package.rsplit(".", level - 1)
        if len(bits) < level:
            return None
        return f"{bits[0]}.{name}" if name else bits[0]

    def _relative(self, node: cst.CSTNode, name: str, level: int, package: str | None = None) -> str:
        resolved = self._resolve(name, level, package)
        if resolved is not None:
            return resolved
        written = "." * level + name
        if not (self.package if package is None else package):
            why = f"relative import {written!r} in {self.module!r}, which has no parent package"
        else:
            why = f"relative import {written!r} goes beyond the top-level package of {self.module!r}"
        self.notes.append((node, "relative-import-beyond-top", why))
        return written

    # import statements
    def _static_sites(self, pending: _Pending) -> Iterator[ImportSite]:
        stmt, effect, scope = pending.node, self._effect(pending.frame), pending.frame.scope
        modules: list[tuple[str, tuple[str, ...], int]]
        if isinstance(stmt, _IMPORTS):
            modules = [(get_full_name_for_node(a.name) or "", (), 0) for a in _aliases_of(stmt)]
        else:
            level, name = _from_parts(stmt)
            aliases = _aliases_of(stmt)
            names = tuple(get_full_name_for_node(a.name) or "" for a in aliases) if aliases else ("*",)
            modules = [(self._relative(stmt, name, level) if level else name, names, level)]
        for module, names, level in modules:
            yield ImportSite(
                line=0,
                column=0,
                module=ModuleName(module),
                names=names,
                level=level,
                scope=scope,
                optional=effect.optional,
                type_only=effect.type_only,
                conditions=effect.conditions,
            )

    # dynamic imports
    def _dynamic_site(self, pending: _Pending) -> ImportSite | None:
        call = pending.node
        assert isinstance(call, cst.Call)
        qualname = self._qualname(call.func)
        if qualname == "importlib.import_module":
            kind = DynamicKind.IMPORT_MODULE
        elif qualname in ("__import__", "builtins.__import__", "importlib.__import__"):
            kind = DynamicKind.DUNDER_IMPORT
        elif qualname == "importlib.util.find_spec":
            kind = DynamicKind.FIND_SPEC
        else:
            return None
        name = _literal_str(_argument(call, 0, "name"))
        if name is None or not name.strip("."):
            return None  # a variable or f-string: left to runtime tracing
        names: tuple[str, ...] = ()
        level = len(name) - len(name.lstrip("."))
        if kind is DynamicKind.DUNDER_IMPORT:
            fromlist = _argument(call, 3, "fromlist")
            if isinstance(fromlist, (cst.List, cst.Tuple)):
                items = [_literal_str(e.value) for e in fromlist.elements]
                names = tuple(i for i in items if i is not None)
            level_arg = _argument(call, 4, "level")
            level = int(level_arg.value, 0) if isinstance(level_arg, cst.Integer) else 0
            module = self._relative(call, name, level) if level else name
        elif level:
            package_arg = _argument(call, 1, "package")
            package = self._package_argument(package_arg)
            if package is None:
                self.notes.append(
                    (
                        call,
                        "relative-import-unresolved",
                        f"relative import {name!r} with a package that is not a literal",
                    )
                )
                module = name
            else:
                module = self._relative(call, name[level:], level, package)
        else:
            module = name
        effect = self._effect(pending.frame)
        return ImportSite(
            line=0,
            column=0,
            module=ModuleName(module),
            names=names,
            level=level,
            scope=pending.frame.scope,
            optional=effect.optional or kind is DynamicKind.FIND_SPEC,
            type_only=effect.type_only,
            conditions=effect.conditions,
            dynamic=kind,
        )

    def _package_argument(self, node: cst.BaseExpression | None) -> str | None:
        if isinstance(node, cst.Name) and node.value == "__name__":
            return "" if self.module == "__main__" else self.module
        if isinstance(node, cst.Name) and node.value == "__package__":
            return self.package
        return _literal_str(node)

    # sys.path
    def _call_additions(self, call: cst.CSTNode) -> Iterator[PathAddition]:
        assert isinstance(call, cst.Call)
        qualname = self._qualname(call.func)
        if qualname == "sys.path.insert":
            values: Sequence[cst.BaseExpression | None] = [_argument(call, 1, "object")]
            prepend = True
        elif qualname == "sys.path.append":
            values, prepend = [_argument(call, 0, "object")], False
        elif qualname == "sys.path.extend":
            values, prepend = _elements(_argument(call, 0, "iterable")), False
        else:
            return
        for value in values:
            addition = self._path_addition(value, prepend)
            if addition is not None:
                yield addition

    def _assign_additions(self, node: cst.CSTNode) -> Iterator[PathAddition]:
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
        value = self._path_value(node) if node is not None else None
        if value is None or value.base == "file":
            return None
        return PathAddition(line=0, path=value.rel, cwd_relative=value.base == "cwd", prepend=prepend)

    def _path_value(self, node: cst.BaseExpression) -> _PathValue | None:
        """The value of a path expression built from literals, ``__file__`` and the cwd."""
        literal = _literal_str(node)
        if literal is not None:
            if literal.startswith("/"):
                return _PathValue("abs", posixpath.normpath(literal))
            if re.match(r"[A-Za-z]:[\\/]|\\\\", literal):
                return None  # a Windows path: nothing on a Linux target
            return _PathValue("cwd", posixpath.normpath(literal or "."))
        if isinstance(node, cst.Name) and node.value == "__file__":
            return _PathValue("file", "")
        if isinstance(node, cst.Attribute) and node.attr.value == "parent":
            inner = self._path_value(node.value)
            return inner.parent() if inner is not None else None
        if isinstance(node, cst.Subscript):  # Path(__file__).parents[i]
            if not (isinstance(node.value, cst.Attribute) and node.value.attr.value == "parents"):
                return None
            inner = self._path_value(node.value.value)
            index = node.slice[0].slice if len(node.slice) == 1 else None
            if inner is None or not isinstance(index, cst.Index) or not isinstance(index.value, cst.Integer):
                return None
            for _ in range(int(index.value.value, 0) + 1):
                inner = inner.parent()
            return inner
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
            inner = self._path_value(node.left)
            return self._joined(inner, [node.right])
        if isinstance(node, cst.Call):
            return self._path_call(node)
        return None

    def _path_call(self, call: cst.Call) -> _PathValue | None:
        args = [a.value for a in call.args if not a.star and a.keyword is None]
        if len(args) != len(call.args):
            return None
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in (
            "resolve",
            "absolute",
            "joinpath",
        ):
            inner = self._path_value(call.func.value)
            if call.func.attr.value == "joinpath":
                return self._joined(inner, args)
            return inner if not args else None
        qualname = self._qualname(call.func)
        if qualname in ("os.getcwd", "pathlib.Path.cwd", "Path.cwd") and not args:
            return _PathValue("cwd", ".")
        if qualname in _PATH_CLASSES:
            if not args:
                return _PathValue("cwd", ".")
            return self._joined(self._path_value(args[0]), args[1:])
        if not args:
            return None
        if qualname in ("os.path.abspath", "os.path.realpath", "os.path.normpath", "str", "os.fspath") and len(args) == 1:
            return self._path_value(args[0])
        if qualname == "os.path.dirname" and len(args) == 1:
            inner = self._path_value(args[0])
            return inner.parent() if inner is not None else None
        if qualname == "os.path.join":
            return self._joined(self._path_value(args[0]), args[1:])
        return None

    def _joined(self, base: _PathValue | None, parts: Sequence[cst.BaseExpression]) -> _PathValue | None:
        for part in parts:
            if base is None or base.base == "file":
                return None
            qualname = self._qualname(part) if isinstance(part, (cst.Name, cst.Attribute)) else None
            text = {"os.pardir": "..", "os.curdir": "."}.get(qualname or "") or _literal_str(part)
            if text is None:
                return None
            if text.startswith("/"):
                base = _PathValue("abs", posixpath.normpath(text))
            else:
                base = _PathValue(base.base, posixpath.normpath(posixpath.join(base.rel, text)))
        return base

    # guards
    def _effect(self, frame: _Frame) -> _Effect:
        optional = type_only = False
        conditions: list[Condition] = []
        for guard in frame.guards:
            key = id(guard.node) * 8 + ("if", "else", "try", "handler", "with").index(guard.kind)
            effect = self.effects.get(key)
            if effect is None:
                effect = self.effects[key] = self._guard_effect(guard)
            optional = optional or effect.optional
            type_only = type_only or effect.type_only
            conditions.extend(c for c in effect.conditions if c not in conditions)
        return _Effect(optional, type_only, tuple(conditions))

    def _guard_effect(self, guard: _Guard) -> _Effect:
        node = guard.node
        if isinstance(node, (cst.Try, cst.TryStar)):
            return _Effect(optional=any(self._catches_import_error(h.type) for h in node.handlers))
        if isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)):
            return _Effect(optional=self._catches_import_error(node.type))
        if isinstance(node, cst.With):
            return _Effect(optional=any(self._suppresses_import_error(item.item) for item in node.items))
        assert isinstance(node, cst.If)
        test = node.test
        if guard.kind == "if":
            conjuncts = _operands(test, cst.And)
            type_only = any(self._qualname(c) in _TYPE_CHECKING for c in conjuncts)
            whole = self._literal_test(test)
            if whole is not None:
                return _Effect(type_only=type_only, conditions=(Condition(expression=whole),))
            found = (self._literal_test(c) for c in conjuncts if c is not test)
            return _Effect(type_only=type_only, conditions=tuple(Condition(expression=e) for e in found if e))
        negated_tc = (
            isinstance(test, cst.UnaryOperation)
            and isinstance(test.operator, cst.Not)
            and self._qualname(test.expression) in _TYPE_CHECKING
        )
        whole = self._literal_test(test)
        if whole is not None:
            return _Effect(type_only=negated_tc, conditions=(Condition(expression=whole, negated=True),))
        disjuncts = [self._literal_test(d) for d in _operands(test, cst.Or) if d is not test]
        return _Effect(
            type_only=negated_tc,
            conditions=tuple(Condition(expression=e, negated=True) for e in disjuncts if e),
        )

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
            value = _literal_str(node)
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


class _PathValue(NamedTuple):
    """``file``: ``__file__`` itself; ``dir``: ``rel`` from the file's directory;
    ``cwd``: ``rel`` from the working directory; ``abs``: the absolute path ``rel``."""

    base: Literal["file", "dir", "cwd", "abs"]
    rel: str

    def parent(self) -> _PathValue:
        if self.base == "file":
            return _PathValue("dir", ".")
        if self.base == "abs":
            return _PathValue("abs", posixpath.dirname(self.rel) or "/")
        return _PathValue(self.base, posixpath.normpath(posixpath.join(self.rel, "..")))


# --- small helpers over libcst nodes -----------------------------------------------------------


def _alias_markers(text: str) -> Iterator[str]:
    """Text that a call through an alias shows: ``il.`` after ``import importlib as il``,
    ``im(`` after ``from importlib import import_module as im`` (the same for ``sys``)."""
    for match in _MODULE_ALIAS_RE.finditer(text):
        yield f"{match.group(1)}."
    for match in _FROM_ALIAS_RE.finditer(text):
        for item in match.group(1).split(","):
            name, _, local = item.strip(" ()\t\\").partition(" as ")
            if local.strip() and name.strip() in ("import_module", "find_spec", "__import__"):
                yield f"{local.strip()}("
            elif name.strip() == "path":  # from sys import path
                yield f"{local.strip() or 'path'}."


_MODULE_ALIAS_RE: Final = re.compile(r"\bimport\s+(?:importlib|sys)(?:\.\w+)*\s+as\s+(\w+)")
_FROM_ALIAS_RE: Final = re.compile(r"\bfrom\s+(?:importlib(?:\.util)?|sys)\s+import\s+([^\n;#]+)")


def _aliases_of(stmt: cst.CSTNode) -> Sequence[cst.ImportAlias]:
    names = getattr(stmt, "names", ())
    return () if isinstance(names, cst.ImportStar) else names


def _from_parts(stmt: cst.CSTNode) -> tuple[int, str]:
    module = getattr(stmt, "module", None)
    relative = getattr(stmt, "relative", ())
    return len(relative), (get_full_name_for_node(module) or "") if module is not None else ""


def _argument(call: cst.Call, index: int, keyword: str) -> cst.BaseExpression | None:
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in call.args):
        return None
    if index < len(positional):
        return positional[index].value
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    return None


def _literal_str(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        try:
            value = node.evaluated_value
        except Exception:  # noqa: BLE001 - an f-string part or an odd escape: not a literal
            return None
        return value if isinstance(value, str) else None
    return None


def _elements(node: cst.BaseExpression | None) -> list[cst.BaseExpression | None]:
    if isinstance(node, (cst.List, cst.Tuple)):
        return [None if isinstance(e, cst.StarredElement) else e.value for e in node.elements]
    return []


def _is_zero(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Integer) and node.evaluated_value == 0


def _operands(node: cst.BaseExpression, operator: type[cst.BaseBooleanOp]) -> list[cst.BaseExpression]:
    """The operands of an ``and`` (or ``or``) chain, flattened; [node] for anything else."""
    if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, operator):
        return _operands(node.left, operator) + _operands(node.right, operator)
    return [node]


def _quote(value: str) -> str:
    if '"' in value or "\\" in value or not value.isprintable():
        return repr(value)
    return f'"{value}"'


def _is_main_guard(stmt: cst.CSTNode) -> bool:
    if not isinstance(stmt, cst.If) or not isinstance(stmt.test, cst.Comparison):
        return False
    test = stmt.test
    if len(test.comparisons) != 1 or not isinstance(test.comparisons[0].operator, cst.Equal):
        return False
    sides = (test.left, test.comparisons[0].comparator)
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    return len(names) == 1 and any(_literal_str(s) == "__main__" for s in sides)


# --- positions ---------------------------------------------------------------------------------


class _StartRecorder(CodegenState):
    """A codegen pass that keeps no text: it counts lines and notes where wanted nodes start.

    ``PositionProvider`` builds a ``CodeRange`` for every node of the module: measured
    on libcst's own sources it costs 1.6x the parse itself, this pass a tenth of that.
    It is the same walk (``Module._codegen``) and gives the same start positions (a test
    compares them); it falls back to ``PositionProvider`` if libcst changes under it.
    """

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


def _ast_import_starts(text: str, nodes: Sequence[cst.CSTNode]) -> dict[int, tuple[int, int]] | None:
    """Positions of import statements from ``ast`` (about 10x cheaper than libcst codegen).

    Only when every wanted node is an ``import``/``from`` statement (most files): they are
    matched in document order with ``ast``'s import nodes. Any doubt (the running Python
    cannot parse the file, the counts differ) returns None and `_starts` decides.
    """
    if not all(isinstance(n, (cst.Import, cst.ImportFrom)) for n in nodes):
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = sorted((node.lineno, node.col_offset) for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))
    unique = list(dict.fromkeys(id(n) for n in nodes))
    if len(found) != len(unique):
        return None
    lines = text.split("\n")
    starts: dict[int, tuple[int, int]] = {}
    for key, (line, offset) in zip(unique, found):
        source = lines[line - 1] if line - 1 < len(lines) else ""
        if not source.isascii():  # ast counts UTF-8 bytes, libcst counts characters
            offset = len(source.encode("utf-8")[:offset].decode("utf-8", errors="replace"))
        starts[key] = (line, offset)
    return starts


def _starts(tree: cst.Module, nodes: Sequence[cst.CSTNode]) -> dict[int, tuple[int, int]]:
    """(1-based line, 0-based column) where each node's syntax starts, by ``id``."""
    wanted = {id(n) for n in nodes}
    try:
        recorder = _StartRecorder(tree, wanted)
        try:
            tree._codegen(recorder)
        except _AllFound:
            pass
        if len(recorder.starts) == len(wanted):
            return recorder.starts
    except (AttributeError, TypeError):  # pragma: no cover - libcst internals changed
        pass
    positions = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)  # pragma: no cover
    return {id(n): (positions[n].start.line, positions[n].start.column) for n in nodes}  # pragma: no cover
