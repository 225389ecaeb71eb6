"""A script's source -> is it safe to import (``if __name__ == "__main__":``), and its module-level imports. Pure.

Importing an entry script runs its module body. A script whose work sits behind the
``__main__`` guard only defines things when imported, so the runtime pass and ``verify``
import it; a script without the guard (nanoGPT's ``train.py``) would start the job, so
they never import it and check its module-level imports one by one instead.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

__all__ = ["ModuleImport", "has_main_guard", "module_level_imports"]


def __dir__() -> list[str]:
    return __all__


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ModuleImport:
    """``import module`` (``names`` empty) or ``from module import names``, at ``line``."""

    line: int
    module: str
    names: tuple[str, ...] = ()
    optional: bool = False  # inside a ``try`` that handles the failure


def _is_main_test(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    values = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(values) == 1


def _parse(source: str | bytes) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def has_main_guard(source: str | bytes) -> bool:
    """Whether the module body has a top-level ``if __name__ == "__main__":`` (either
    operand order); ``False`` for a file that does not parse."""
    tree = _parse(source)
    return tree is not None and any(isinstance(node, ast.If) and _is_main_test(node.test) for node in tree.body)


def _body_nodes(body: list[ast.stmt], optional: bool = False) -> list[tuple[ast.stmt, bool]]:
    """The statements that run at import, each with whether it sits in a ``try`` that
    handles errors: the body, into ``if``/``try``/``with`` blocks, never into functions,
    classes or the ``__main__`` block."""
    out: list[tuple[ast.stmt, bool]] = []
    for node in body:
        out.append((node, optional))
        if isinstance(node, ast.If):
            if not _is_main_test(node.test):
                out += _body_nodes(node.body, optional) + _body_nodes(node.orelse, optional)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            handled = optional or bool(getattr(node, "handlers", []))
            out += _body_nodes(getattr(node, "body", []), handled)
            for handler in getattr(node, "handlers", []):
                out += _body_nodes(handler.body, optional)
            out += _body_nodes(getattr(node, "orelse", []), optional) + _body_nodes(getattr(node, "finalbody", []), optional)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            out += _body_nodes(node.body, optional)
    return out


def module_level_imports(source: str | bytes) -> tuple[ModuleImport, ...]:
    """The absolute imports that run when the module body runs, in line order (relative
    imports have no meaning in a script and are left out; so is a file that does not parse)."""
    tree = _parse(source)
    if tree is None:
        return ()
    found: list[ModuleImport] = []
    for node, optional in _body_nodes(tree.body):
        if isinstance(node, ast.Import):
            found += [ModuleImport(line=node.lineno, module=alias.name, optional=optional) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = tuple(a.name for a in node.names if a.name != "*")
            found.append(ModuleImport(line=node.lineno, module=node.module, names=names, optional=optional))
    return tuple(sorted(set(found)))
