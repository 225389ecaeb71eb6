"""The parse guard: a cheap scan of a source text that refuses what would crash libcst. PURE.

libcst's native parser recurses on the machine stack: around 1,500 nested brackets,
10,000 chained operators or a few thousand nested ``lambda:`` it crashes the process
(SIGSEGV, exit 139, no message), and it is quadratic in memory well before (5,000 nested
``lambda:`` take 4.7 GB). CPython itself refuses more than 200 nested brackets, and
deeper trees would hit Python's recursion limit in the walk anyway. `nesting_problem`
measures the depth with one regular-expression pass (strings and comments skipped)
before libcst sees the text; the analysis reports what it finds as the per-file
diagnostic ``too-deeply-nested``.

The measure: ``chain`` approximates the depth of the expression tree. An operator, a
keyword operator (``and or not if else lambda await``), a string and a bracket add one; a
separator (``,`` ``:`` ``=`` ``;``) goes back to the depth at the enclosing bracket, a
newline outside brackets to 0, except while a ``lambda`` waits for its ``:`` at that
bracket level (the body of ``lambda: lambda: ...`` nests, so its ``:`` keeps the depth,
and so do the ``,`` and ``=`` of its parameters). Indentation deeper than
`MAX_INDENT` levels is refused too (CPython stops at 100).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MAX_BRACKETS", "MAX_CHAIN", "MAX_INDENT", "nesting_problem"]


def __dir__() -> list[str]:
    return __all__


MAX_BRACKETS: Final = 200
MAX_CHAIN: Final = 1000
MAX_INDENT: Final = 100

_PATTERN: Final = r"""
      (?P<s>'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''
        |\"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
        |'[^'\\\n]*(?:\\.[^'\\\n]*)*'
        |"[^"\\\n]*(?:\\.[^"\\\n]*)*")
    | (?P<c>\#[^\r\n]*)
    | (?P<bs>\\\r?\n)
    | (?P<o>[(\[{])
    | (?P<x>[)\]}])
    | (?P<n>(?:\r\n?|\n)[ \t]*)
    | (?P<lam>\blambda\b)
    | (?P<op>\*\*|//|<<|>>|->|==|!=|<=|>=|:=|[-+*/%@&|^~<>.]KEYWORDS)
    | (?P<sep>[,;:=])
"""
_PLAIN_RE: Final = re.compile(_PATTERN.replace("KEYWORDS", ""), re.VERBOSE)
_KEYWORDS_RE: Final = re.compile(_PATTERN.replace("KEYWORDS", r"|\b(?:and|or|not|if|else|await)\b"), re.VERBOSE)
_KEYWORD_TEXTS: Final = (" and ", " or ", "not ", " if ", " else ", "await ")


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def nesting_problem(text: str) -> tuple[int, str] | None:
    """``(line, message)`` when ``text`` nests deeper than libcst can safely parse, else ``None``.

    Linear in the size of ``text``; never raises.
    """
    chain = 0
    stack: list[int] = []  # the chain at each open bracket
    lambdas: list[int] = [0]  # per bracket level: lambdas still waiting for their ':'
    indents: list[int] = [0]
    keywords = sum(text.count(k) for k in _KEYWORD_TEXTS) > MAX_CHAIN // 2
    for match in (_KEYWORDS_RE if keywords else _PLAIN_RE).finditer(text):
        kind = match.lastgroup
        if kind == "op" or kind == "s":
            chain += 1
        elif kind == "lam":
            chain += 1
            lambdas[-1] += 1
        elif kind == "sep":
            if lambdas[-1]:
                if match.group() == ":":
                    lambdas[-1] -= 1
                chain += 1
            else:
                chain = stack[-1] + 1 if stack else 0
        elif kind == "o":
            stack.append(chain)
            lambdas.append(0)
            chain += 1
            if len(stack) > MAX_BRACKETS:
                return _line(text, match.start()), f"brackets nested deeper than {MAX_BRACKETS} levels"
        elif kind == "x":
            chain = stack.pop() + 1 if stack else 0
            if len(lambdas) > 1:
                lambdas.pop()
        elif kind == "n" and not stack:
            chain = 0
            lambdas[0] = 0
            width = len(match.group().lstrip("\r\n").expandtabs(8))
            end = match.end()
            if end < len(text) and text[end] not in "\r\n#":  # a blank or comment line does not indent
                while width < indents[-1]:
                    indents.pop()
                if width > indents[-1]:
                    indents.append(width)
                    if len(indents) - 1 > MAX_INDENT:
                        return _line(text, end), f"blocks nested deeper than {MAX_INDENT} levels"
        if chain > MAX_CHAIN:
            return _line(text, match.start()), f"expression deeper than {MAX_CHAIN} levels"
    return None
