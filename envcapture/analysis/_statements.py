"""The module-level statements libcst has parsed in this process, by their text: a statement met
again in another file is not parsed again (`parse_fragment`).

A project repeats its guards from file to file (``try: import apex`` / ``except ImportError:``,
``if TYPE_CHECKING:``, ``if is_torch_available():``), and libcst builds thousands of Python
objects for each (its parse is a third of a cut file's extraction). A module-level statement of a
fragment (`Fragment.tops`) starts a line, ends one, and is preceded by no blank or comment line,
so its libcst node is the same wherever it stands, with one exception: an indented block whose
indentation is the module's default keeps none of its own (``IndentedBlock.indent`` None), and
likewise a line ending in the module's default newline. So a node is taken again only into a
module with the defaults of the parse that built it; then the module's code, which the positions
pass (`_positions`) counts lines and columns in, is the fragment's text, character for character.

libcst's nodes are immutable, and the extraction keys what it learns of a node by ``id`` within
one file: a statement that a file holds twice is parsed for its second occurrence (one node
object appears once in a tree).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Final, NamedTuple

import libcst as cst

from envcapture.analysis._fragment import Fragment
from envcapture.analysis._nodes import BoundedMemo

__all__ = ["KNOWN_STATEMENTS", "KnownStatements", "parse_fragment"]


class _Parsed(NamedTuple):
    node: cst.BaseStatement
    default_indent: str
    default_newline: str


class KnownStatements(BoundedMemo[str, _Parsed]):
    """Module-level statements libcst parsed, by their text, with the defaults of their module:
    at most ``limit`` characters of them. Their nodes take 30 to 120 bytes a character (names
    and operators, lists of numbers): counted in statements, 3,000 of `_LONGEST` characters
    (a package's ``from .x import (...)``, unique to its file) would hold 200 to 700 MB."""

    def __init__(self, limit: int = 500_000) -> None:  # characters: about 3,000 statements of real code
        super().__init__(limit, weight=len)


KNOWN_STATEMENTS: Final = KnownStatements()

# A statement longer than this is not kept: it rarely repeats, and its nodes are many.
_LONGEST: Final = 2_000


def parse_fragment(fragment: Fragment, parse: Callable[[str], cst.Module], known: KnownStatements) -> cst.Module:
    """libcst's module of ``fragment.text`` (``parse`` parses a text), whose statements known
    already are taken from ``known`` and the others parsed (and learnt)."""
    text, tops = fragment.text, fragment.tops
    if not tops or tops[0] != 0:
        return parse(text)
    bounds = (*tops, len(text))
    statements = [text[start:end] for start, end in pairwise(bounds)]
    if any(statement.rstrip(" \t\f\r\n").endswith("\\") for statement in statements):
        return parse(text)  # a backslash continues a statement to its end: not one without what follows
    taken: list[_Parsed | None] = []
    in_file: set[str] = set()
    for statement in statements:
        parsed = known.get(statement) if statement not in in_file else None
        in_file.add(statement)
        taken.append(parsed)
    missing = [statement for statement, parsed in zip(statements, taken, strict=True) if parsed is None]
    if len(missing) == len(statements):
        module = parse(text)
        _learn(known, statements, module)
        return module
    module = parse("".join(missing))  # "": no statement (the text ends a line, as each statement does)
    defaults = (module.default_indent, module.default_newline)
    if len(module.body) != len(missing) or any(
        p is not None and (p.default_indent, p.default_newline) != defaults for p in taken
    ):
        return parse(text)  # another module's defaults (or statements not one node each): parsed whole
    _learn(known, missing, module)
    parsed_nodes = iter(module.body)
    body = [next(parsed_nodes) if parsed is None else parsed.node for parsed in taken]
    return module.with_changes(body=body, has_trailing_newline=True)


def _learn(known: KnownStatements, statements: list[str], module: cst.Module) -> None:
    if len(module.body) != len(statements):
        return  # not one node a statement: nothing to tell them apart by
    for statement, node in zip(statements, module.body, strict=True):
        if len(statement) <= _LONGEST and statement not in known:
            known.remember(statement, _Parsed(node, module.default_indent, module.default_newline))
