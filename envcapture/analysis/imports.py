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
* ``alternative_group`` and ``fallback``: ``try: import a`` / ``except ImportError: import b``
  (optional only because of that one ``try``, both sides importing something) gives ``a``
  and ``b`` the line of the ``try``; ``b``, in the ``except`` branch, is the ``fallback``.
  Not for the ``else`` block, nor for an import an outer guard also makes optional.
* ``type_only``: under ``if TYPE_CHECKING:`` (bare, ``typing.``/``typing_extensions.``
  or an alias of either), not in its ``else``.
* ``conditions``: the enclosing ``if`` tests that are literal platform/version checks
  (see `evaluate_condition`), outermost first, rendered canonically (module aliases
  replaced by ``sys``/``os``/``platform``, double quotes). For ``if A and x:`` the
  literal conjuncts are kept; in an ``else`` the test is negated (``elif`` adds the
  earlier tests negated).
* ``scope``: comprehensions do not open a scope (they run where they stand); lambdas do.
* ``file_refs``: the files named by a literal path (`datafiles`), sorted by line.
* A source without ``import``, ``sys.path``, ``__main__``, ``open(``, ``exec(`` and
  ``__file__`` in its text is not parsed at all (it can yield no fact), so a syntax error
  in it is not reported. Of the others, libcst parses only the statements that can hold a
  fact (`_fragment`), once CPython's parser has accepted the whole file; a file it rejects
  is parsed whole, as before.

``SourceFacts.error`` (severity ERROR, nothing else reported) has the codes
``binary-file``, ``decode-error``, ``parse-error`` (line and message from CPython's
parser when it agrees the file is invalid: libcst's own positions point past the
culprit), ``too-deeply-nested`` and ``internal-error``; ``SourceFacts.diagnostics``
(WARNING) ``relative-import-beyond-top``, ``relative-import-unresolved`` and
``computed-import`` (``import_module(name)``: no literal package in the name).

A dynamic import whose name is computed behind a literal head (``"pkg.plugins." + name``,
``f"models.{arch}"``, ``"pkg.%s" % name``, ``"pkg.{}".format(name)``, ``"." + name`` with a
literal or ``__name__``/``__package__`` package) is a site of the package the head names,
with ``ImportSite.prefix`` set; ``__import__("importlib").import_module("x")`` is read like
``importlib.import_module("x")``.
libcst parses with its native parser, whatever the running interpreter: Python 3.12
syntax (PEP 695, nested f-string quotes) parses on 3.10 and 3.11; no
``PartialParserConfig`` is needed (its ``python_version`` does not restrict that parser).

The work is split by concern: `nesting` (the pre-parse nesting scan), `_source` (bytes -> text, parse
error messages), `_fragment` (the statements worth parsing, the facts' digest), `_visitor` (the walk
that collects import sites and their context), `_guards` (optional / type-only / conditions),
`_syspath` (``sys.path`` additions), `_positions` (lines and columns), `_statements` (the
module-level statements libcst parsed in another file), `_nodes` (literals and
call arguments), `datafiles` (the files the code reads or runs by a literal path); this module
resolves names, relative and dynamic imports, and assembles `SourceFacts`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Final, cast

import libcst as cst

from envcapture.analysis._fragment import ANY_FACT_MARKERS, NO_FACTS, Fragment, fact_fragment
from envcapture.analysis._guards import GuardEffects
from envcapture.analysis._importparts import KNOWN_PLAIN, ImportParts, import_parts
from envcapture.analysis._nodes import argument, integer, literal_head, literal_str
from envcapture.analysis._positions import starts
from envcapture.analysis._source import decode_source, syntax_error
from envcapture.analysis._statements import KNOWN_STATEMENTS, parse_fragment
from envcapture.analysis._syspath import SysPathReader
from envcapture.analysis._visitor import FROM_IMPORTS, FactsVisitor, Frame, Pending, walk_markers
from envcapture.analysis.conditions import evaluate_condition, import_is_active
from envcapture.analysis.datafiles import DATA_MARKERS, FileRefReader, module_bindings
from envcapture.analysis.model import (
    EXTRACTOR_VERSION,
    DynamicKind,
    FileRef,
    ImportSite,
    PathAddition,
    Scope,
    SourceFacts,
)
from envcapture.analysis.nesting import nesting_problem
from envcapture.errors import InputError
from envcapture.model import Diagnostic, ModuleName, Severity

__all__ = [
    "COMPUTED_IMPORT",
    "EXTRACTOR_VERSION",
    "decode_source",
    "evaluate_condition",
    "extract_source_facts",
    "import_is_active",
]


_log = logging.getLogger(__name__)

# A package nests one directory per level and Linux's PATH_MAX is 4096 bytes: a relative
# import of a higher level always goes beyond the top (and "." * level would be huge).
_MAX_LEVEL: Final = 2048
COMPUTED_IMPORT: Final = "computed-import"
"""Diagnostic code: a dynamic import whose module name has no literal package prefix."""
_DUNDER_IMPORTS: Final = ("__import__", "builtins.__import__", "importlib.__import__")
# Where a plain import stands (`_importparts`): at module level, under no guard.
_MODULE_FRAME: Final = Frame(Scope.MODULE, ())


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
    if not any(marker in text for marker in ANY_FACT_MARKERS):
        return SourceFacts(fact_digest=NO_FACTS)
    try:
        return _facts_of_text(text, module, is_package, path, leave_out=True)
    except _Unplaced:
        return _facts_of_text(text, module, is_package, path, leave_out=False)


class _Unplaced(Exception):
    """The import statements libcst found are not those CPython's parse placed: the plain
    imports left out of the fragment cannot be put among them (the fragment is made again)."""


def _facts_of_text(text: str, module: str, is_package: bool, path: str | None, *, leave_out: bool) -> SourceFacts:
    fragment = fact_fragment(text, KNOWN_PLAIN.__contains__ if leave_out else None)
    problem = None if fragment is not None and fragment.shallow else nesting_problem(text)
    if problem is not None:
        return _failed(path, problem[0], "too-deeply-nested", problem[1])
    tree: cst.Module | None = None
    if fragment is not None:
        try:
            tree = parse_fragment(fragment, parse_module, KNOWN_STATEMENTS)
        except Exception:  # noqa: BLE001 - libcst rejects what CPython accepts (newer syntax): parse it all
            fragment = None
    if tree is None:
        try:
            tree = parse_module(text)
        except cst.ParserSyntaxError as exc:
            line, message = syntax_error(text, exc, path)
            return _failed(path, line, "parse-error", message)
        except RecursionError:
            return _failed(path, None, "too-deeply-nested", "expression nested too deeply to parse")
        except Exception as exc:  # noqa: BLE001 - a libcst bug (its own node checks refusing its parse) stops one file only
            return _internal_error(path, "libcst cannot parse this file", exc)
    try:
        facts = _Extraction(tree, text, module=module, is_package=is_package, path=path, fragment=fragment).facts()
    except _Unplaced:
        raise
    except RecursionError:
        return _failed(path, None, "too-deeply-nested", "expression nested too deeply to analyse")
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop the analysis of a project
        return _internal_error(path, "import extraction failed", exc)
    return facts if fragment is None else replace(facts, fact_digest=fragment.digest)


# libcst checks every node it builds (`CSTNode.__post_init__` calls `_validate`): the checks
# guard trees built by hand, and its own parser's output passes them (a comment there says
# they could leave the parse; one known exception, libcst issue 1061, ``() if 0 else(lambda:
# x)``, is then parsed instead of failing). They are a fifth of a parse: skipped while this
# parses, as long as ``__post_init__`` is still that one call (another libcst keeps its own).
_POST_INIT: Final = cst.CSTNode.__post_init__
_VALIDATION_ONLY: Final = _POST_INIT.__code__.co_names == ("_validate",)


def _not_validated(node: cst.CSTNode) -> None:
    pass


def parse_module(text: str) -> cst.Module:
    """`libcst.parse_module`, without re-checking the nodes its parser built (see above).

    The class attribute is swapped for the parse, and the swap is not per thread: a node
    another thread of the process builds meanwhile is not checked either. envcapture's own
    threads build none (the workers run one thread; the analysing process's others only
    display progress); a caller of the API that builds nodes in threads loses nothing but
    those checks, and a concurrent parse at worst keeps them on."""
    if not _VALIDATION_ONLY:
        return cst.parse_module(text)
    cst.CSTNode.__post_init__ = _not_validated  # type: ignore[method-assign,assignment]
    try:
        return cst.parse_module(text)
    finally:
        cst.CSTNode.__post_init__ = _POST_INIT  # type: ignore[method-assign]


def _failed(path: str | None, line: int | None, code: str, message: str) -> SourceFacts:
    return SourceFacts(error=Diagnostic(file=path, line=line, code=code, message=message, severity=Severity.ERROR))


def _internal_error(path: str | None, what: str, exc: Exception) -> SourceFacts:
    """``what`` failed on one file: its ``internal-error`` (the traceback only in the debug log)."""
    _log.debug("%s for %s", what, path, exc_info=True)
    first_line = str(exc).partition("\n")[0]
    return _failed(path, None, "internal-error", f"{what}: {type(exc).__name__}: {first_line}")


class _Extraction:
    """One file: walk, resolve names against the file's imports, then place the findings."""

    def __init__(
        self, tree: cst.Module, text: str, *, module: str, is_package: bool, path: str | None, fragment: Fragment | None
    ) -> None:
        self.tree = tree  # of ``fragment.text`` when given (its lines map back to the source), else of ``text``
        self.text = text
        self.fragment = fragment
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        if module == "__main__":
            self.package = ""
        self.path = path
        self.aliases: dict[str, str] = {}
        self.guards = GuardEffects(self._qualname)
        self.sys_path = SysPathReader(self._qualname)
        self.notes: list[tuple[object, str, str]] = []  # node (or a plain import's stand-in), code, message

    def facts(self) -> SourceFacts:
        if self.fragment is not None:
            visitor = FactsVisitor(self.tree, self.fragment.walk, self.fragment.statement_lines)
        else:
            visitor = FactsVisitor(self.tree, walk_markers(self.text, DATA_MARKERS))
        visitor.walk(self.tree)
        # Where the import statements start, when CPython's parse says: their sites are made
        # in place (the others are placed once libcst's positions are known).
        where = self._import_starts([p.node for p in visitor.imports])
        statements = self._import_statements(visitor.imports, where)
        for _, parts, _ in statements:
            self._register_aliases(parts)
        found: list[tuple[object, ImportSite]] = []
        roles: list[tuple[cst.CSTNode, bool] | None] = []  # per found site: alternative_role
        for node, parts, frame in statements:
            role = self.guards.alternative_role(frame)
            for static in self._static_sites(node, parts, frame, where.get(id(node), (0, -1))):
                found.append((node, static))
                roles.append(role)
        for pending in visitor.calls:
            site = self._dynamic_site(pending)
            if site is not None:
                found.append((pending.node, site))
                # ``find_spec`` only asks whether a module is there, and a computed name (a
                # prefix) is no one module: neither is one side of an alternative.
                alternative = site.dynamic is not DynamicKind.FIND_SPEC and site.prefix is None
                roles.append(self.guards.alternative_role(pending.frame) if alternative else None)
        groups = _alternative_groups(roles)
        additions: list[tuple[cst.CSTNode, PathAddition]] = []
        for pending in visitor.calls:
            additions.extend((pending.node, a) for a in self.sys_path.of_call(pending.node))
        for pending in visitor.assigns:
            additions.extend((pending.node, a) for a in self.sys_path.of_assign(pending.node))
        reader = FileRefReader(self._qualname, module_bindings(visitor.bindings), visitor.enclosing)
        refs = list(reader.refs(p.node for p in visitor.expressions))

        nodes = [n for n, _ in found] + [n for n, _ in additions] + [n for n, _, _ in self.notes] + list(groups)
        nodes += [n for n, _ in refs]
        rest = cast("list[cst.CSTNode]", [n for n in nodes if id(n) not in where])  # a stand-in is in ``where``
        if rest:
            placed_rest = starts(self.tree, rest)
            if self.fragment is not None:
                to_source = self.fragment.source_line
                placed_rest = {key: (to_source(line), column) for key, (line, column) in placed_rest.items()}
            where.update(placed_rest)
        grouped = {id(t) for t in groups}
        placed = []
        for (node, site), role in zip(found, roles, strict=True):
            line, column = where[id(node)]
            if (site.line, site.column) != (line, column + 1):
                site = replace(site, line=line, column=column + 1)
            if role is not None and id(role[0]) in grouped:
                site = replace(site, alternative_group=where[id(role[0])][0], fallback=role[1])
            placed.append(site)
        imports = sorted(placed, key=lambda s: (s.line, s.column))
        path_additions = tuple(
            sorted(
                (replace(addition, line=where[id(node)][0]) for node, addition in additions),
                key=lambda a: a.line,
            )
        )
        diagnostics = tuple(
            sorted(
                Diagnostic(file=self.path, line=where[id(node)][0], code=code, message=message)
                for node, code, message in self.notes
            )
        )
        file_refs: list[FileRef] = sorted({replace(ref, line=where[id(node)][0]) for node, ref in refs})
        return SourceFacts(
            imports=tuple(imports),
            path_additions=path_additions,
            has_main_guard=any(_is_main_guard(stmt) for stmt in self.tree.body),
            diagnostics=diagnostics,
            file_refs=tuple(file_refs),
        )

    def _import_starts(self, statements: list[cst.CSTNode]) -> dict[int, tuple[int, int]]:
        """Where each import statement starts (by ``id``), as CPython's parse of the file found
        them: the same statements in the same order, or nothing (libcst's pass places them)."""
        known = self.fragment.import_starts if self.fragment is not None else ()
        if (
            len(known) != len(statements)
            or any(column < 0 for _, column, _ in known)
            or any(is_from != isinstance(node, FROM_IMPORTS) for node, (_, _, is_from) in zip(statements, known, strict=True))
        ):
            if self.fragment is not None and self.fragment.left_out:
                raise _Unplaced
            return {}
        return {id(node): (line, column) for node, (line, column, _) in zip(statements, known, strict=True)}

    def _import_statements(
        self, parsed: Sequence[Pending], where: dict[int, tuple[int, int]]
    ) -> list[tuple[object, ImportParts, Frame]]:
        """(node, parts, frame) of each import statement, in source order: those libcst parsed,
        and the plain imports left out of the fragment (each under a stand-in node, placed in
        ``where``), whose parts were learnt from an earlier parse, which learns the new ones."""
        statements: list[tuple[object, ImportParts, Frame]] = [(p.node, import_parts(p.node), p.frame) for p in parsed]
        fragment = self.fragment
        if fragment is None:
            return statements
        known = [(number, KNOWN_PLAIN[line]) for number, line in fragment.left_out]  # before learning: it may clear
        for node, parts, _ in statements:
            line = fragment.plain.get(where[id(node)][0]) if where else None
            if line is not None:
                KNOWN_PLAIN.learn(line, parts)
        if not known:
            return statements
        for number, parts in known:
            stand_in = object()
            where[id(stand_in)] = (number, 0)
            statements.append((stand_in, parts, _MODULE_FRAME))
        return sorted(statements, key=lambda statement: where[id(statement[0])])  # holds the stand-ins: ``where`` keys them

    # names
    def _register_aliases(self, parts: ImportParts) -> None:
        if not parts.is_from:
            for full, asname in parts.names:
                if asname is not None:
                    self.aliases[asname] = full
                else:
                    head = full.partition(".")[0]
                    self.aliases.setdefault(head, head)
            return
        base = self._resolve(parts.module, parts.level) if parts.level else parts.module
        if base is None or not base:
            return
        for imported, asname in parts.names:
            self.aliases[asname if asname is not None else imported] = f"{base}.{imported}"

    def _qualname(self, node: cst.BaseExpression) -> str | None:
        parts: list[str] = []
        # type() first: libcst's classes are ABCs, whose isinstance is slow when it fails.
        while type(node) is cst.Attribute and isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if type(node) is cst.Call and isinstance(node, cst.Call):  # __import__("importlib").import_module(...)
            returned = self._imported_module(node)
            if returned is None:
                return None
            parts.append(returned)
        elif isinstance(node, cst.Name):
            parts.append(self.aliases.get(node.value, node.value))
        else:
            return None
        return ".".join(reversed(parts))

    def _imported_module(self, call: cst.Call) -> str | None:
        """The module a literal import call returns: ``__import__("a.b")`` gives ``a`` (the
        top-level package, as without a fromlist), ``importlib.import_module("a.b")`` gives ``a.b``."""
        qualname = self._qualname(call.func)
        name = literal_str(argument(call, 0, "name"))
        if name is None or not name or name.startswith("."):
            return None
        if qualname == "importlib.import_module":
            return name
        if qualname in _DUNDER_IMPORTS and argument(call, 3, "fromlist") is None:
            return name.partition(".")[0]
        return None

    def _resolve(self, name: str, level: int, package: str | None = None) -> str | None:
        """Absolute name of a relative import (importlib's ``_resolve_name``); None above the top."""
        base_package = self.package if package is None else package
        if not base_package:
            return None
        bits = base_package.rsplit(".", level - 1)
        if len(bits) < level:
            return None
        return f"{bits[0]}.{name}" if name else bits[0]

    def _relative(self, node: object, name: str, level: int, package: str | None = None) -> str:
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
    def _static_sites(self, stmt: object, parts: ImportParts, frame: Frame, start: tuple[int, int]) -> Iterator[ImportSite]:
        """The sites of an import statement starting at ``start`` (line, 0-based column)."""
        effect, scope = self.guards.effect(frame), frame.scope
        modules: list[tuple[str, tuple[str, ...], int]]
        if not parts.is_from:
            modules = [(full, (), 0) for full, _ in parts.names]
        else:
            level, name = parts.level, parts.module
            names = tuple(imported for imported, _ in parts.names) if parts.names else ("*",)
            modules = [(self._relative(stmt, name, level) if level else name, names, level)]
        for module, names, level in modules:
            yield ImportSite(
                line=start[0],
                column=start[1] + 1,
                module=ModuleName(module),
                names=names,
                level=level,
                scope=scope,
                optional=effect.optional,
                type_only=effect.type_only,
                conditions=effect.conditions,
                branch=effect.branch,
            )

    # dynamic imports
    def _dynamic_site(self, pending: Pending) -> ImportSite | None:
        call = pending.node
        assert isinstance(call, cst.Call)
        qualname = self._qualname(call.func)
        if qualname == "importlib.import_module":
            kind = DynamicKind.IMPORT_MODULE
        elif qualname in _DUNDER_IMPORTS:
            kind = DynamicKind.DUNDER_IMPORT
        elif qualname == "importlib.util.find_spec":
            kind = DynamicKind.FIND_SPEC
        else:
            return None
        head, complete = literal_head(argument(call, 0, "name"))
        if not complete:
            # An availability check with a computed name (a loop over optional backends) ships nothing.
            return None if kind is DynamicKind.FIND_SPEC else self._prefix_site(pending, kind, head)
        name = head
        if not name.strip("."):
            return None
        names: tuple[str, ...] = ()
        level = len(name) - len(name.lstrip("."))
        if kind is DynamicKind.DUNDER_IMPORT:
            fromlist = argument(call, 3, "fromlist")
            if isinstance(fromlist, (cst.List, cst.Tuple)):
                items = [literal_str(e.value) for e in fromlist.elements]
                names = tuple(i for i in items if i is not None)
            level_arg = argument(call, 4, "level")
            literal_level = integer(level_arg) if isinstance(level_arg, cst.Integer) else 0
            if literal_level is None or literal_level > _MAX_LEVEL:
                why = f"relative import {name!r} with a level above {_MAX_LEVEL} goes beyond the top-level package of {self.module!r}"
                self.notes.append((call, "relative-import-beyond-top", why))
                return None
            level = literal_level
            module = self._relative(call, name, level) if level else name
        elif level:
            package_arg = argument(call, 1, "package")
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
        effect = self.guards.effect(pending.frame)
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
            branch=effect.branch,
        )

    def _prefix_site(self, pending: Pending, kind: DynamicKind, head: str) -> ImportSite | None:
        """A dynamic import whose name is computed: a site for the package its literal head
        names (``"pkg.plugins." + name`` -> ``pkg.plugins``), else a ``computed-import`` note."""
        call = pending.node
        assert isinstance(call, cst.Call)
        effect = self.guards.effect(pending.frame)
        dots = len(head) - len(head.lstrip("."))
        package_part, _, partial = head[dots:].rpartition(".")
        if kind is DynamicKind.DUNDER_IMPORT:
            level_arg = argument(call, 4, "level")
            level = integer(level_arg) if level_arg is not None else 0
            if dots or level is None or level > _MAX_LEVEL:
                level = None
        else:
            level = dots
        module: str | None = None
        if level is not None and all(part.isidentifier() for part in package_part.split(".") if package_part):
            if level == 0 and package_part:
                module = package_part
            elif level:
                package = self._package_argument(argument(call, 1, "package")) if kind is DynamicKind.IMPORT_MODULE else None
                if package is None and kind is DynamicKind.DUNDER_IMPORT:
                    package = self.package  # __import__ resolves a level against the caller's package
                if package is None:
                    why = f"relative import {head!r} + ... with a package that is not a literal"
                    self.notes.append((call, "relative-import-unresolved", why))
                    return None
                resolved = self._relative(call, package_part, level, package)
                if resolved.startswith("."):
                    return None  # beyond the top: noted
                module = resolved
        if module is None:
            if not effect.type_only:
                written = " ".join(self.tree.code_for_node(call).split())
                shown = written if len(written) <= 60 else written[:57] + "..."
                why = f" (its literal part {head!r} names no package)" if head else ""
                message = f"{shown}: the module name is computed at run time{why}; `envcapture analyze --runtime` would see what it imports"
                self.notes.append((call, COMPUTED_IMPORT, message))
            return None
        return ImportSite(
            line=0,
            column=0,
            module=ModuleName(module),
            level=level or 0,
            scope=pending.frame.scope,
            optional=effect.optional,
            type_only=effect.type_only,
            conditions=effect.conditions,
            dynamic=kind,
            prefix=f"{module}.{partial}",
            branch=effect.branch,
        )

    def _package_argument(self, node: cst.BaseExpression | None) -> str | None:
        if isinstance(node, cst.Name) and node.value == "__name__":
            return "" if self.module == "__main__" else self.module
        if isinstance(node, cst.Name) and node.value == "__package__":
            return self.package
        return literal_str(node)


def _alternative_groups(roles: Sequence[tuple[cst.CSTNode, bool] | None]) -> list[cst.CSTNode]:
    """The ``try`` statements whose body imports something and whose ``except ImportError``
    branch imports something else: the job needs one of the two (in the order found)."""
    preferred = [role[0] for role in roles if role is not None and not role[1]]
    fallback = {id(role[0]) for role in roles if role is not None and role[1]}
    return list({id(t): t for t in preferred if id(t) in fallback}.values())


def _is_main_guard(stmt: cst.CSTNode) -> bool:
    if type(stmt) is not cst.If or not isinstance(stmt, cst.If) or not isinstance(stmt.test, cst.Comparison):
        return False
    test = stmt.test
    if len(test.comparisons) != 1 or not isinstance(test.comparisons[0].operator, cst.Equal):
        return False
    sides = (test.left, test.comparisons[0].comparator)
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    return len(names) == 1 and any(literal_str(s) == "__main__" for s in sides)
