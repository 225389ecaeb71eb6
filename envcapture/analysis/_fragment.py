"""Source text -> the statements that can hold a fact, as one smaller text for libcst, and its digest.

libcst's parse is most of the extraction's cost, and most of a module is code no import
fact can come from: function and class bodies without an import, a dynamic import or a
``sys.path`` change. CPython's own parser (``compile(..., PyCF_ONLY_AST)``, a few times
faster than libcst's, in C) gives the statement boundaries; only the statements whose text
shows a fact marker are handed to libcst, whole lines at a time, each with the line it
starts at in the source:

* a top-level statement (with its decorators) that holds a marker is kept;
* in a kept ``class`` or ``def`` whose header holds none, only the body statements that hold
  one are kept (recursively), under a stand-in header (``def _():``, ``async def _():`` or
  ``class _:``, all the header's facts: the scope): the scope and the guards around them stay;
* in a kept ``if``, ``try``, ``with``, ``for`` or ``while``, every clause header stays (the
  guards of an import are read from the tests, the handlers' types and the items), and in
  each block only the statements that hold one (recursively); a block left empty becomes a
  ``pass`` at its first line (a block on its header's line keeps the statement whole);
* any other compound statement (``match``) is kept whole.

A fact is only ever read from a statement whose own text holds a marker (`ANY_FACT_MARKERS`,
and `walk_markers`: the dynamic-import and ``sys.path`` names, their aliases, and the
data-file readers' `DATA_MARKERS`), or from a compound statement's header (always walked)
building a path on a module-level name that may hold one, so the kept statements give the
facts the whole file gives, at the same lines and columns; when the file reads files, every
line naming such a name (``DATA = "data/x.csv"``, ``def load(p=ROOT / "x.json"):``) stays as
well, so the datafiles reader sees each of its bindings and uses. A
source CPython rejects (a syntax error, or syntax newer than the running interpreter) is
not cut: libcst parses all of it, as before.

`fact_digest` hashes the kept statements, their lines and the markers: two versions of a
file with one digest have the same facts, which an edit far from any import (the common
case) shows without importing libcst.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
import re
import unicodedata
import warnings
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final

from envcapture.analysis._readers import reader_markers
from envcapture.analysis._source import decode_source
from envcapture.analysis.model import EXTRACTOR_VERSION
from envcapture.analysis.nesting import MAX_CHAIN, nesting_problem
from envcapture.errors import InputError

__all__ = ["ANY_FACT_MARKERS", "DATA_MARKERS", "NO_FACTS", "Fragment", "fact_digest", "fact_fragment", "walk_markers"]

# Text that any file with a fact to report contains (`__import__` contains "import"); a file
# without an import reads a file only through a builtin (open, exec) or its own __file__.
ANY_FACT_MARKERS: Final = ("import", "sys.path", "__main__", "open(", "exec(", "__file__")
# Text a statement needs before it is walked for the files it reads (`datafiles`).
DATA_MARKERS: Final = reader_markers()
# Text a statement needs before its expressions are walked for calls and assignments.
_CALL_MARKERS: Final = ("import_module", "__import__", "find_spec", "sys.path")
NO_FACTS: Final = "no-facts"
"""The digest of a source without any fact marker: never parsed, it has no facts."""

# The lines as CPython's tokenizer counts them: \r\n, \r and \n end a line, nothing else
# (str.splitlines would also split at \f, \v, \x1c-\x1e, \x85, \u2028 and \u2029).
_LINE: Final = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_SCOPES: Final = frozenset((ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))


def walk_markers(text: str, extra: tuple[str, ...] = ()) -> set[str] | None:
    """Text that makes a statement worth walking for calls (``extra``: more of it, such as the
    data-file readers'), or None when no statement needs it."""
    # names bound to importlib/sys things must also open a statement
    aliased = set(_alias_markers(text))
    markers = _CALL_MARKERS + extra
    if aliased or any(marker in text for marker in markers):
        return aliased | set(markers)
    return None


def _alias_markers(text: str) -> Iterator[str]:
    """Text that a call through an alias shows: ``il.`` after ``import importlib as il``,
    ``im(`` after ``from importlib import import_module as im`` (the same for ``sys``)."""
    if "importlib" not in text and "sys" not in text:
        return  # what both patterns need: most modules import neither
    for match in _MODULE_ALIAS_RE.finditer(text):
        yield f"{match.group(1)}."
    for match in _FROM_ALIAS_RE.finditer(text):
        for item in match.group(1).split(","):
            name, _, local = item.strip(" ()\t\\").partition(" as ")
            if local.strip() and name.strip() in ("import_module", "find_spec", "__import__"):
                yield f"{local.strip()}("
            elif name.strip() == "path":  # from sys import path
                yield f"{local.strip() or 'path'}."


# ``import(?<=\bimport)`` is ``\bimport``, but starting with its text, which the search looks
# for before trying the pattern (rather than trying it at every position: ~20 times slower).
_MODULE_ALIAS_RE: Final = re.compile(r"import(?<=\bimport)\s+(?:importlib|sys)(?:\.\w+)*\s+as\s+(\w+)")
_FROM_ALIAS_RE: Final = re.compile(r"from(?<=\bfrom)\s+(?:importlib(?:\.util)?|sys)\s+import\s+([^\n;#]+)")


@dataclass(frozen=True, slots=True)
class Fragment:
    """The kept statements: ``text`` for libcst; ``runs`` maps its lines back to the source.

    ``shallow``: no logical line of the source reaches `MAX_CHAIN` characters, so none nests
    deeper than libcst can parse (the nesting scan can be skipped, see `_logical_lines`).
    """

    text: str
    runs: tuple[tuple[int, int], ...]  # (first line in text, the same line in the source), ascending
    digest: str
    shallow: bool
    walk: set[str] | None  # `walk_markers` of the source
    # (line, column, is ``from``) where each import statement starts in the source, in order:
    # CPython's parse gives them, which spares libcst's position pass most of its work (a
    # column of -1: not known, after a form feed; libcst's pass places them all then).
    import_starts: tuple[tuple[int, int, bool], ...]
    # Each line of simple statements the fragment holds (``a = 1; b = 2`` is one), in order:
    # their statement types and whether their source lines hold one of ``walk`` (empty when
    # ``walk`` is None). The walk reads this instead of generating each statement's code.
    statement_lines: tuple[tuple[tuple[str, ...], bool], ...] = ()
    # The plain imports ``text`` holds (a module-level import alone on its line, which starts
    # it): source line -> the line. `_importparts` learns their parts from libcst's parse.
    plain: Mapping[int, str] = dataclasses.field(default_factory=dict)
    # (source line, the line) of the plain imports left out of ``text`` (``leave_out``): their
    # parts are known; the digest still reads them.
    left_out: tuple[tuple[int, str], ...] = ()
    # Where each module-level statement of ``text`` starts in it (character offsets, the first
    # 0): the statements on shared lines (``a = 1; b = 2``) are one. `imports` parses a
    # statement it has parsed before in another file once (`_statements`).
    tops: tuple[int, ...] = ()

    def source_line(self, line: int) -> int:
        """The source line of ``line`` (1-based) of ``text``."""
        for start, source in reversed(self.runs):
            if start <= line:
                return source + line - start
        raise ValueError(f"line {line} is not in the fragment")


def fact_fragment(text: str, leave_out: Callable[[str], bool] | None = None) -> Fragment | None:
    """The statements of ``text`` that can hold a fact; None when CPython's parser does not
    accept ``text`` (libcst then parses it all). A plain import whose line ``leave_out``
    accepts is not in the text (`Fragment.left_out`); the digest is the same."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes: SyntaxWarning on 3.12+
            module = ast.parse(text)  # ast.py's own compile(): no __future__ flags of ours
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    if "\f" in text and _FORM_FEED_INDENT.search(text):
        return None  # libcst's columns in a block follow its first line's form feed: cut, they would move
    lines = _source_lines(text)
    starts = list(accumulate(map(len, lines), initial=0))  # starts[n]: characters before line n + 1
    statements = _Statements(starts)
    statements.visit(module.body, top=True)
    found = _find_markers(text)
    aliased = set(_alias_markers(text))
    walk = aliased | _WALKED if aliased or any(marker in _WALKED for marker, _ in found) else None
    # A module-level name may hold a path a kept statement reads (``DATA = "data/x.csv"``,
    # then ``pd.read_csv(DATA)``), and `datafiles` follows it only when nothing else binds it:
    # when statements are walked, every statement assigning such a name stays.
    names = _path_names(statements.module_values) if walk is not None else set()
    # Only a def or class whose text holds "import" or such a name can hold an import or a
    # binding of one, unless a name there is spelled otherwise (CPython normalizes non-ASCII
    # names: NFKC): the others are not visited.
    statements.visit_scopes(text, ("import", *names) if not names or text.isascii() else None)
    if walk is None:
        walk_lines = None
        keep_lines = _lines_holding(text, starts, found)
    else:
        found += [(marker, text.find(marker)) for marker in aliased.difference(_ALL_MARKERS)]
        walk_lines = _lines_holding(text, starts, [(marker, at) for marker, at in found if marker in walk])
        keep_lines = walk_lines | _lines_holding(text, starts, [(marker, at) for marker, at in found if marker not in walk])
        keep_lines.update(_bindings(statements.assignments, names))
        # A compound statement's header is walked, markers or not: a path built there on such a
        # name (``def load(path=ROOT / "cfg.json"):``, ``@register(ROOT / "x")``) is a file
        # read. The lines naming one stay, so such a header is kept whole.
        keep_lines.update(_lines_naming(text, lines, starts, names))
    kept: list[tuple[int, int, str | None]] = []
    whole: list[ast.stmt] = []
    _select(module.body, lines, _MarkedLines(keep_lines, len(starts)), kept, whole)
    plain = _plain_imports(module.body, lines) if leave_out is not None else {}
    left_out: list[tuple[int, str]] = []
    signature = chr(0).join((*ANY_FACT_MARKERS, *sorted(walk or ()), *sorted(names)))
    digest = hashlib.sha256(f"envcapture-fragment/{EXTRACTOR_VERSION}\0{signature}".encode())
    chunks: list[str] = []
    hashed: list[str] = []  # what the digest reads after the signature, as text
    runs: list[tuple[int, int]] = []
    placeholders: list[int] = []
    tops: list[int] = []
    top_lines = _top_lines(module.body)
    size = 0  # characters in ``chunks``
    at = 1
    follows = 0  # the source line that continues the last run
    for first, last, stand_in in kept:
        if stand_in is not None:
            chunk = stand_in
            if not stand_in.endswith(":\n"):  # a ``pass`` standing in for a block (not a header)
                placeholders.append(first)
        else:
            chunk = lines[first - 1] if first == last else "".join(lines[first - 1 : last])
            if chunk and not chunk.endswith(("\n", "\r")):
                chunk += "\n"  # the source's last line: the next run starts a line of its own
        hashed += (f"\0{first}\0", chunk)
        if (
            first in plain
            and leave_out is not None
            and stand_in is None
            and first == last
            and not (chunks and _continues(chunks[-1]))  # left out, the next chunk would continue that line
            and leave_out(plain[first])
        ):
            left_out.append((first, plain.pop(first)))
            continue  # `at` and `follows` stay: the next chunk starts a run
        if first != follows:
            runs.append((at, first))
        if first in top_lines:
            tops.append(size)
        chunks.append(chunk)
        size += len(chunk)
        at += last - first + 1
        follows = last + 1
    digest.update("".join(hashed).encode("utf-8", "surrogatepass"))  # the line numbers are ASCII
    walked = _MarkedLines(walk_lines, len(starts)) if walk_lines is not None else None
    if left_out:
        gone = {line for line, _ in left_out}
        whole = [node for node in whole if node.lineno not in gone]
        statements.imports = [node for node in statements.imports if node.lineno not in gone]
    return Fragment(
        text="".join(chunks),
        runs=tuple(runs),
        digest=digest.hexdigest(),
        shallow=statements.longest < MAX_CHAIN,  # see _Statements.visit_scopes
        walk=walk,
        import_starts=tuple(_start(node, lines) for node in sorted(statements.imports, key=lambda n: (n.lineno, n.col_offset))),
        statement_lines=_statement_lines(whole, placeholders, walked) if walked is not None else (),
        plain=plain,
        left_out=tuple(left_out),
        tops=tuple(tops),
    )


def _top_lines(body: Sequence[ast.stmt]) -> set[int]:
    """The first line of each module-level statement (with its decorators) that starts a line of
    its own: statements sharing a line (``a = 1; b = 2``, or ``x = (1,\n); y = 2``) are one.
    A decorated def or class also at its ``def`` or ``class`` line: cut to its body, it starts
    at its stand-in there (`_header`)."""
    lines: set[int] = set()
    end = 0
    for node in body:
        first = _first_line(node)
        if first > end:
            lines.add(first)
            lines.add(node.lineno)
        end = max(end, node.end_lineno or first)
    return lines


def _plain_imports(body: Sequence[ast.stmt], lines: list[str]) -> dict[int, str]:
    """The module-level imports alone on a line that they start (no indentation, no other
    statement there), by line: the line (see `_importparts`)."""
    plain: dict[int, str] = {}
    for index, node in enumerate(body):
        line = node.lineno
        if (
            type(node) in _IMPORT_TYPES
            and node.end_lineno == line
            and (index == 0 or (body[index - 1].end_lineno or 0) < line)
            and (index + 1 == len(body) or _first_line(body[index + 1]) > line)
            and lines[line - 1].startswith(("import", "from"))
            and len(lines[line - 1]) <= _PLAIN_LINE_LIMIT  # the memory of a generated line thousands long is not worth it
            and not _continues(lines[line - 1])  # its logical line goes on: left out, it would not end there
        ):
            plain[line] = lines[line - 1]
    return plain


_PLAIN_LINE_LIMIT: Final = 500


def _continues(chunk: str) -> bool:
    """Whether ``chunk``'s last line ends with a backslash (a line continuation, or a comment's
    last character): what follows it in a text is read as the same logical line."""
    return chunk.rstrip("\r\n").endswith("\\")


_WALKED: Final = frozenset((*_CALL_MARKERS, *DATA_MARKERS))
# Every marker whose lines may be looked for, each once (some are both kinds), in groups that
# share their first four characters (``read_``: the thirteen pandas readers), each group under
# the prefix its markers share: most texts lack it, which one search then tells.
_ALL_MARKERS: Final = tuple(dict.fromkeys((*ANY_FACT_MARKERS, *_CALL_MARKERS, *DATA_MARKERS)))
_MARKER_GROUPS: Final = tuple(
    (os.path.commonprefix(group), group)  # noqa: RUF071  # of text, not of paths
    for group in {marker[:4]: tuple(m for m in _ALL_MARKERS if m[:4] == marker[:4]) for marker in _ALL_MARKERS}.values()
)


def _find_markers(text: str) -> list[tuple[str, int]]:
    """(marker, where it first occurs in ``text``) of each of `_ALL_MARKERS` that ``text`` holds."""
    found: list[tuple[str, int]] = []
    for prefix, group in _MARKER_GROUPS:
        after = text.find(prefix)
        if after >= 0:  # no marker of the group occurs before its prefix does
            found += [(marker, at) for marker in group if (at := text.find(marker, after)) >= 0]
    return found


# Characters str.splitlines ends a line at besides \n (CPython's tokenizer does not).
_OTHER_LINE_BREAKS: Final = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def _source_lines(text: str) -> list[str]:
    """The lines of ``text``, with their line breaks, as CPython's tokenizer counts them."""
    if any(character in text for character in _OTHER_LINE_BREAKS):
        return _LINE.findall(text)
    return text.splitlines(keepends=True)  # the same lines when only \n ends one, in C


def _statement_lines(
    kept: Sequence[ast.stmt], placeholders: Sequence[int], walked: _MarkedLines
) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """`Fragment.statement_lines` of the statements kept whole (and all they hold), and of
    the ``pass`` standing in for a block at each line of ``placeholders``."""
    simple: list[tuple[int, int, int, str]] = [(line, -1, line, "Pass") for line in placeholders]
    pending = list(kept)
    while pending:
        node = pending.pop()
        if type(node) in _BLOCK_FIELDS:  # its body, ``else`` and ``finally`` blocks, its handlers' and cases' bodies
            for name in _BLOCK_FIELDS[type(node)]:
                pending.extend(getattr(node, name))
            for clause in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):
                pending.extend(clause.body)
        else:
            simple.append((node.lineno, node.col_offset, node.end_lineno or node.lineno, type(node).__name__))
    simple.sort()
    groups: list[tuple[int, int, list[str]]] = []
    for first, _, last, name in simple:
        if groups and first <= groups[-1][1]:
            groups[-1][2].append(name)
            if last > groups[-1][1]:
                groups[-1] = (groups[-1][0], last, groups[-1][2])
        else:
            groups.append((first, last, [name]))
    return tuple((tuple(names), walked.any_in(first, last)) for first, last, names in groups)


# Statements that hold blocks of statements (libcst's BaseCompoundStatement), with the names
# of their fields that are blocks; a ``try``'s handlers and a ``match``'s cases hold one each.
_BLOCK_FIELDS: Final[dict[type[ast.stmt], tuple[str, ...]]] = {
    getattr(ast, name): fields
    for names, fields in (
        (("FunctionDef", "AsyncFunctionDef", "ClassDef", "With", "AsyncWith"), ("body",)),
        (("If", "For", "AsyncFor", "While"), ("body", "orelse")),
        (("Try", "TryStar"), ("body", "orelse", "finalbody")),
        (("Match",), ()),
    )
    for name in names
    if hasattr(ast, name)  # TryStar: 3.11+
}
_TRY_TYPES: Final = frozenset(getattr(ast, name) for name in ("Try", "TryStar") if hasattr(ast, name))
_IMPORT_TYPES: Final = frozenset((ast.Import, ast.ImportFrom))
_ASSIGNMENT_TYPES: Final = frozenset((ast.Assign, ast.AnnAssign, ast.AugAssign))


def _start(node: ast.stmt, lines: list[str]) -> tuple[int, int, bool]:
    line = lines[node.lineno - 1]
    column = node.col_offset  # in UTF-8 bytes; libcst counts characters
    if not line.isascii():
        column = len(line.encode("utf-8", "surrogatepass")[:column].decode("utf-8", "replace"))
    if "\f" in line[:column]:
        column = -1  # libcst counts a form feed of the indentation in a block, not at the top: unknown
    return node.lineno, column, isinstance(node, ast.ImportFrom)


class _Statements:
    """What `fact_fragment` reads from all the statements of a module, not only from those it
    keeps: the imports, the longest logical line, the bindings of path names (`visit`, then
    `visit_scopes`: each statement is visited once, and a def or class only when it may matter).

    `nesting_problem` counts at most one step per token and starts again at 0 at each newline
    outside brackets, so its depth never exceeds the length of a logical line. Each logical
    line lies within the lines of a simple statement, or of a compound statement's header
    (from its first decorator to the line its block starts on, which the header may share);
    ``else:``, ``try:`` and ``finally:`` are a token or two. CPython, which accepted the file,
    already refuses more nested brackets and blocks than the scan does.
    """

    def __init__(self, ends: list[int]) -> None:
        self.ends = ends  # ends[n]: characters up to the end of line n
        self.longest = 0  # an upper bound of the characters of any logical line visited
        self.imports: list[ast.stmt] = []  # the import statements, in no particular order
        self.assignments: list[ast.stmt] = []  # every assignment, annotation or augmented assignment
        self.module_values: list[tuple[str, ast.expr]] = []  # (name, value) assigned at module level
        self.scopes: list[ast.stmt] = []  # the defs and classes met, waiting for `visit_scopes`

    def visit(self, body: Sequence[ast.stmt], top: bool) -> None:
        """Visit the statements of ``body`` (at module level when ``top``: outside any def or
        class) and those their blocks hold, but for the defs and classes, put aside."""
        ends, longest = self.ends, self.longest
        # The dispatch is on type(node), which mypy does not narrow: the nodes are typed Any.
        pending: list[tuple[Sequence[Any], bool]] = [(body, top)]  # (block, at module level)
        while pending:
            block, top = pending.pop()
            for node in block:
                kind = type(node)
                fields = _BLOCK_FIELDS.get(kind)
                if fields is None:  # a simple statement
                    length = ends[node.end_lineno] - ends[node.lineno - 1]
                    if length > longest:
                        longest = length
                    if kind in _IMPORT_TYPES:
                        self.imports.append(node)
                    elif kind in _ASSIGNMENT_TYPES:
                        self.assignments.append(node)
                        if top and kind is not ast.AugAssign and node.value is not None:
                            targets = node.targets if kind is ast.Assign else (node.target,)
                            self.module_values += [(target.id, node.value) for target in targets if type(target) is ast.Name]
                elif kind in _SCOPES:
                    self.scopes.append(node)
                elif kind is ast.Match:  # ``match <subject>:`` is a header too (a match has cases), and each ``case``
                    longest = max(longest, ends[node.cases[0].pattern.lineno] - ends[node.lineno - 1])
                    for case in node.cases:
                        longest = max(longest, ends[_first_line(case.body[0])] - ends[case.pattern.lineno - 1])
                        pending.append((case.body, top))
                else:
                    longest = max(longest, ends[_first_line(node.body[0])] - ends[node.lineno - 1])
                    pending.append((node.body, top))
                    if kind in _TRY_TYPES:
                        for handler in node.handlers:
                            longest = max(longest, ends[_first_line(handler.body[0])] - ends[handler.lineno - 1])
                            pending.append((handler.body, top))
                    for name in fields[1:]:  # ``else`` and ``finally``
                        other = getattr(node, name)
                        if other:
                            pending.append((other, top))
        self.longest = longest

    def visit_scopes(self, text: str, words: Sequence[str] | None) -> None:
        """Visit the defs and classes put aside (and those they hold) whose text holds one of
        ``words`` (all of them when None) or spans `MAX_CHAIN` characters: none of the others
        holds a logical line that long, so `longest` still tells whether any does."""
        ends = self.ends
        while self.scopes:
            scope: Any = self.scopes.pop()
            first = _first_line(scope)
            start, end = ends[first - 1], ends[scope.end_lineno]
            if words is None or end - start >= MAX_CHAIN or any(text.find(word, start, end) >= 0 for word in words):
                self.longest = max(self.longest, ends[_first_line(scope.body[0])] - start)
                self.visit(scope.body, top=False)


def _first_line(node: ast.stmt) -> int:
    if type(node) in _SCOPES:
        decorators: list[ast.expr] = node.decorator_list  # type: ignore[attr-defined]  # every scope has one
        if decorators:
            return decorators[0].lineno  # decorators come first, in order
    return node.lineno


def _lines_holding(text: str, starts: list[int], found: Sequence[tuple[str, int]]) -> set[int]:
    """The lines (from 1) that hold one of the markers of ``found`` ((marker, where it first
    occurs in ``text``)): one pass over the text per marker (no marker spans lines: none holds
    a line break)."""
    marked: set[int] = set()
    last = len(starts) - 1
    for marker, at in found:
        while at >= 0:
            line = bisect_right(starts, at)
            marked.add(line)
            at = text.find(marker, starts[line]) if line < last else -1
    return marked


def _lines_naming(text: str, lines: list[str], starts: list[int], names: set[str]) -> set[int]:
    """The lines (from 1) that hold one of ``names``, also spelled as CPython reads a non-ASCII
    identifier (NFKC: ``ＲＯＯＴ`` is ``ROOT``)."""
    marked = _lines_holding(text, starts, [(name, text.find(name)) for name in names])
    if names and not text.isascii():
        for number, line in enumerate(lines, start=1):
            if not line.isascii() and any(name in unicodedata.normalize("NFKC", line) for name in names):
                marked.add(number)
    return marked


class _MarkedLines:
    """Whether lines ``first`` to ``last`` hold a mark (`_lines_holding`): two lookups."""

    def __init__(self, marked: set[int], count: int) -> None:
        flags = [0] * count
        for line in marked:
            flags[line] = 1
        self._upto = list(accumulate(flags))  # _upto[n]: lines 1..n that hold one

    def any_in(self, first: int, last: int) -> bool:
        return self._upto[last] > self._upto[first - 1]


# A line whose indentation holds a form feed before code (not a blank or a comment line).
_FORM_FEED_INDENT: Final = re.compile(r"(?:^|[\r\n])[ \t]*\f[ \t\f]*[^ \t\f\r\n#]")


def _path_names(module_values: Sequence[tuple[str, ast.expr]]) -> set[str]:
    """The names assigned at module level (`_Statements.module_values`) a value that may be a
    path: one holding a string, ``__file__`` or another such name."""
    chosen: set[str] = set()
    depends: list[tuple[str, set[str]]] = []  # (name, the names its value may be a path through)
    for name, value in module_values:
        if name not in chosen:
            always, through = _path_shape(value)
            if always:
                chosen.add(name)
            elif through:
                depends.append((name, through))
    grew = bool(chosen)
    while grew:  # ``ROOT = Path(__file__).parent`` then ``CFG = ROOT / "cfg"``
        grew = False
        for name, through in depends:
            if name not in chosen and not through.isdisjoint(chosen):
                chosen.add(name)
                grew = True
    return chosen


def _bindings(assignments: Sequence[ast.stmt], names: set[str]) -> list[int]:
    """The first lines of the assignments (annotated, augmented) to one of ``names``: the
    bindings `FactsVisitor` counts (a name bound again is not followed, so each must stay).

    The statements are read from CPython's parse, not the text: a target may be split from
    its ``=`` over lines (``(a,\n DATA) = f()``, a backslash) or have no ``=`` (``DATA: str``).
    """
    if not names:
        return []
    found: list[int] = []
    for node in assignments:
        targets = node.targets if isinstance(node, ast.Assign) else (node.target,)  # type: ignore[attr-defined]
        if any(name in names for target in targets for name in _target_names(target)):
            found.append(node.lineno)
    return found


def _target_names(target: ast.expr) -> Iterator[str]:
    """The names an assignment target binds: ``a``, ``a, (b, *c)``, ``[a, b]``."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


# What a path can be built as: a string, a call (Path(...), os.path.join(...)), an operation
# (``/``, ``+``), an attribute (``.parent``), a subscript (``.parents[1]``) or another name;
# never a list, a dict, a set or a tuple (``__all__ = [...]``).
_PATH_SHAPES: Final = (ast.Constant, ast.JoinedStr, ast.Call, ast.BinOp, ast.Attribute, ast.Subscript, ast.Name)


def _path_shape(expr: ast.expr) -> tuple[bool, set[str]]:
    """Whether ``expr`` may be a path whatever the names hold, and else the names through which
    it may be one (when one of them may be a path)."""
    if not isinstance(expr, _PATH_SHAPES) or (isinstance(expr, ast.Constant) and not isinstance(expr.value, str)):
        return False, set()
    if isinstance(expr, ast.Call) and not expr.args and not expr.keywords:
        return True, set()  # Path.cwd(), os.getcwd(), Path(): the working directory
    names: set[str] = set()
    pending: list[ast.AST] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return True, set()
        elif isinstance(node, ast.Name):
            if node.id == "__file__":
                return True, set()
            names.add(node.id)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return False, names


def _select(
    body: Sequence[ast.stmt],
    lines: list[str],
    markers: _MarkedLines,
    kept: list[tuple[int, int, str | None]],
    whole: list[ast.stmt],
) -> None:
    """Append the (first, last, None) source lines of the statements of ``body`` to keep, in
    order, and the statements kept whole to ``whole``; (line, line, "<indent>pass") stands
    in for a block of which nothing is kept."""
    # Statements sharing a line (``a = 1; import b``) are kept or dropped together.
    groups: list[tuple[int, int, list[ast.stmt]]] = []
    for node in body:
        first, last = _first_line(node), node.end_lineno or node.lineno
        if groups and first <= groups[-1][1]:
            group = groups[-1]
            group[2].append(node)
            if last > group[1]:
                groups[-1] = (group[0], last, group[2])
        else:
            groups.append((first, last, [node]))
    for first, last, nodes in groups:
        if not markers.any_in(first, last) or (type(nodes[0]) is ast.Expr and all(map(_is_string_statement, nodes))):
            continue  # a docstring that says "import" holds no fact
        if len(nodes) == 1 and type(nodes[0]) in _SCOPES:
            scope: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef = nodes[0]  # type: ignore[assignment]
            body_first = _first_line(scope.body[0])
            if body_first > scope.lineno and not markers.any_in(first, body_first - 1):
                inner: list[tuple[int, int, str | None]] = []
                inner_whole: list[ast.stmt] = []
                _select(scope.body, lines, markers, inner, inner_whole)
                if inner:  # else the markers are in comments or docstrings: no fact, nothing kept
                    kept.append(_header(scope, first, body_first - 1, lines))
                    kept.extend(inner)
                    whole.extend(inner_whole)
                continue
        elif len(nodes) == 1 and type(nodes[0]) in _BLOCKS and _select_blocks(nodes[0], lines, markers, kept, whole):
            continue
        kept.append((first, _continued(nodes[-1], last, lines), None))
        whole.extend(nodes)


# Compound statements whose blocks are cut like a function's body: their clause headers (the
# tests, handlers, items a guard is read from) stay whole, and in each block only the
# statements holding a marker, or ``pass`` when none does.
_BLOCKS: Final = frozenset(
    getattr(ast, name) for name in ("If", "For", "AsyncFor", "While", "With", "AsyncWith", "Try", "TryStar") if hasattr(ast, name)
)


def _select_blocks(
    node: ast.stmt, lines: list[str], markers: _MarkedLines, kept: list[tuple[int, int, str | None]], whole: list[ast.stmt]
) -> bool:
    """Keep the clause headers of ``node`` and what its blocks hold that `_select` keeps;
    False (nothing appended) when a block does not start a line of its own (``else: x = 1``)."""
    body: list[ast.stmt] = node.body  # type: ignore[attr-defined]  # every _BLOCKS statement has one
    clauses: list[tuple[int, list[ast.stmt]]] = [(node.lineno, body)]  # (header's first line, block)
    tail = node
    while (  # an ``elif`` is an If in the orelse that starts its line with ``elif``
        isinstance(tail, ast.If)
        and len(tail.orelse) == 1
        and isinstance(tail.orelse[0], ast.If)
        and lines[tail.orelse[0].lineno - 1].lstrip().startswith("elif")
    ):
        tail = tail.orelse[0]
        clauses.append((tail.lineno, tail.body))
    clauses += [(handler.lineno, handler.body) for handler in getattr(node, "handlers", ())]
    for block in (getattr(tail, "orelse", None), getattr(node, "finalbody", None)):
        if block:  # ``else:`` and ``finally:`` start after the block before them
            clauses.append(((clauses[-1][1][-1].end_lineno or 0) + 1, block))
    if not all(_starts_its_line(block[0], lines) for _, block in clauses):
        return False
    selected: list[tuple[int, int, list[tuple[int, int, str | None]]]] = []  # header lines, what the block keeps
    inner_whole: list[ast.stmt] = []
    for header, block in clauses:
        inner: list[tuple[int, int, str | None]] = []
        _select(block, lines, markers, inner, inner_whole)
        selected.append((header, _first_line(block[0]) - 1, inner))
    if not any(inner or markers.any_in(first, last) for first, last, inner in selected):
        return True  # the markers are in comments or docstrings: no fact, nothing kept
    for first, last, inner in selected:
        kept.append((first, last, None))
        if inner:
            kept.extend(inner)
        else:
            kept.append((last + 1, last + 1, _indentation(lines[last]) + "pass\n"))  # at the block's first line
    whole.extend(inner_whole)
    return True


def _continued(node: ast.stmt, last: int, lines: list[str]) -> int:
    r"""The last line of ``node``'s logical line: ``last`` (where its last token is), or a line
    after it when a backslash continues it there (``x = f \``, then a blank or ``\`` line).
    Kept without them, the next kept statement would continue that line in the fragment."""
    line, end = lines[last - 1], node.end_col_offset or 0  # in UTF-8 bytes
    text = line[end:] if line.isascii() else line.encode("utf-8", "surrogatepass")[end:].decode("utf-8", "surrogatepass")
    if text.strip() != "\\":
        return last  # no continuation (a backslash in a comment continues nothing), or one to a statement (``; \``)
    while last < len(lines):
        last += 1
        if lines[last - 1].strip() != "\\":
            break  # a blank or comment line ends the logical line
    return last


def _is_string_statement(node: ast.stmt) -> bool:
    """A statement that is a string literal and nothing else (a docstring)."""
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, (str, bytes))


def _header(
    scope: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef, first: int, last: int, lines: list[str]
) -> tuple[int, int, str | None]:
    """What stands for the header of a def or class cut to some of its body, from its first
    decorator (line ``first``) to line ``last``, which hold no marker: only whether it is a
    def, an async def or a class matters (the scope of what it holds), so ``def _():`` stands
    in for it at its ``def`` line (libcst parses no parameters, annotations nor decorators,
    and an edit of those keeps the digest). Kept whole when its body shares its last line."""
    if not _starts_its_line(scope.body[0], lines):
        return first, last, None
    kind = type(scope)
    stub = "class _:" if kind is ast.ClassDef else "async def _():" if kind is ast.AsyncFunctionDef else "def _():"
    return scope.lineno, scope.lineno, f"{_indentation(lines[scope.lineno - 1])}{stub}\n"


def _starts_its_line(node: ast.stmt, lines: list[str]) -> bool:
    """Whether only indentation comes before ``node`` on its first line (not ``if x: node``)."""
    decorators: list[ast.expr] | None = getattr(node, "decorator_list", None)
    line, column = (decorators[0].lineno, decorators[0].col_offset - 1) if decorators else (node.lineno, node.col_offset)
    return len(_indentation(lines[line - 1])) == column  # the indentation is ASCII: its characters are its UTF-8 bytes


def _indentation(line: str) -> str:
    """The whitespace ``line`` starts with."""
    return line[: len(line) - len(line.lstrip(" \t\f"))]


def fact_digest(source: bytes) -> str | None:
    """`SourceFacts.fact_digest` of ``source`` as `extract_source_facts` sets it when libcst
    accepts the kept statements; None when the file is not cut (it fails to decode, is too
    deeply nested or is rejected by CPython), whose facts then come from all of it."""
    if b"\x00" in source:
        return None
    try:
        text = decode_source(source)
    except InputError:
        return None
    if not any(marker in text for marker in ANY_FACT_MARKERS):
        return NO_FACTS
    fragment = fact_fragment(text)
    if fragment is None or (not fragment.shallow and nesting_problem(text) is not None):
        return None
    return fragment.digest
