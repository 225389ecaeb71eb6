"""Source bytes -> text, and the checks before libcst parses it (encodings, nesting, parse errors).

``decode_source`` decodes as the interpreter would (PEP 263 cookie, UTF-8 BOM);
``nesting_problem`` refuses what would crash libcst's native parser; ``syntax_error``
words a parse failure with CPython's parser (and flags Python 2 code).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from typing import Final

import libcst as cst

from envcapture.errors import InputError, Location

__all__ = ["decode_source", "nesting_problem", "syntax_error"]


# libcst's native parser recurses on the machine stack: around 1,500 nested brackets or
# 10,000 chained operators it crashes the process (SIGSEGV), and it is quadratic well
# before. CPython refuses more than 200 nested brackets; deeper trees would hit Python's
# recursion limit in the walk anyway. `nesting_problem` checks this before parsing.
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


def syntax_error(text: str, exc: cst.ParserSyntaxError, path: str | None) -> tuple[int, str]:
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


def nesting_problem(text: str) -> tuple[int, str] | None:
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
