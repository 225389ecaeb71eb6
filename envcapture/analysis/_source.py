"""Source bytes -> text, and the words of a parse failure (encodings, parse errors).

``decode_source`` decodes as the interpreter would (PEP 263 cookie, UTF-8 BOM);
``syntax_error`` words a parse failure with CPython's parser (and flags Python 2 code).
What would crash libcst's native parser is refused before, by
`envcapture.analysis.nesting.nesting_problem`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from typing import TYPE_CHECKING

from envcapture.errors import InputError, Location

if TYPE_CHECKING:  # decoding must not load libcst: an edit far from any import is judged without it
    import libcst as cst

__all__ = ["decode_source", "syntax_error"]


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
