"""Requirements-file text + fixes -> new text, byte-identical outside the changed lines. Pure.

``--fix`` of ``envcapture check`` edits requirements files the way a person would:

* a removed requirement loses its whole logical line: the physical line it starts on and
  its ``\\`` continuation lines (``--hash`` lines, say), nothing else;
* a renamed requirement keeps everything after its name (specifier, markers, options,
  comment): only the name's characters change;
* added requirements go at the end, one per line, with the file's own line ending (the
  first one found; LF for a file with none); a last line without a newline gets one first.

Comments, blank lines, options (``--index-url``, ``-r``), order and every other byte stay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["rewrite_requirements", "split_lines"]


def __dir__() -> list[str]:
    return list(__all__)


_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$")
# pip's comment rule: '#' at the start or after whitespace.
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_NAME_RE = re.compile(r"^(?P<lead>\s*)(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")


def split_lines(text: str) -> list[str]:
    """The physical lines of ``text``, each with its own line ending (``\\r\\n``, ``\\n``, ``\\r``)."""
    return _LINE_RE.findall(text)


def _body(line: str) -> str:
    return line.rstrip("\r\n")


def _continues(line: str) -> bool:
    """pip joins a line ending in a backslash with the next, unless the line is a comment."""
    body = _body(line)
    return body.endswith("\\") and not _COMMENT_RE.match(body)


def rewrite_requirements(
    text: str,
    *,
    remove: Sequence[int] = (),
    rename: Mapping[int, str] | None = None,
    add: Sequence[str] = (),
) -> str:
    """``text`` with the logical lines starting at ``remove`` (1-based) deleted, the name at
    the start of each ``rename`` line replaced, and ``add`` appended.

    A line number that is not the start of a requirement line is left alone.
    """
    lines = split_lines(text)
    dropped: set[int] = set()
    for number in remove:
        index = number - 1
        if not 0 <= index < len(lines):
            continue
        dropped.add(index)
        while _continues(lines[index]) and index + 1 < len(lines):
            index += 1
            dropped.add(index)
    renamed = dict(rename or {})
    out: list[str] = []
    for index, line in enumerate(lines):
        if index in dropped:
            continue
        new_name = renamed.get(index + 1)
        if new_name is not None:
            match = _NAME_RE.match(line)
            if match is not None:
                line = match.group("lead") + new_name + line[match.end() :]
        out.append(line)
    if add:
        ending = next((line[len(_body(line)) :] for line in lines if line != _body(line)), "\n")
        if out and out[-1] == _body(out[-1]):
            out[-1] += ending
        out.extend(f"{item}{ending}" for item in add)
    return "".join(out)
