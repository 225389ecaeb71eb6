"""``cmd`` and ``args``: the command, its parameters, and the ``${NAME}`` references it makes."""

from __future__ import annotations

import re

from envcapture.config import _yaml as y
from envcapture.config.model import PROJECT_HOME
from envcapture.config.nodes import NAME_RE, did_you_mean, join, quote
from envcapture.config.sections.context import Context

__all__ = ["check_quotes", "check_references", "read_args", "read_cmd"]

_REF_RE = re.compile(r"\$\{([^}]*)\}")


def read_cmd(ctx: Context, root: y.Mapping, found: dict[str, y.Entry]) -> str | None:
    """``cmd`` (required): a non-empty string, trailing newlines stripped.

    A newline ends a command, as in sh: a literal ``|`` block is a script. A folded ``>``
    string is one command: the newlines YAML keeps before more indented lines (the
    platform's own examples) fold too.
    """
    if "cmd" not in found:
        ctx.reader.error(root, "cmd", "required key is missing", "cmd is the command that runs the job")
        return None
    node = found["cmd"].value
    cmd = ctx.reader.string(node, "cmd")
    if cmd is None:
        return None
    if "\0" in cmd:  # no program or argument can hold one
        ctx.reader.error(node, "cmd", "the command contains a NUL character")
        return None
    cmd = cmd.rstrip("\n")
    if isinstance(node, y.Scalar) and node.style == ">":
        cmd = re.sub(r"\n[ \t]*", " ", cmd)
    return cmd


def read_args(ctx: Context, node: y.Node) -> tuple[tuple[str, str], ...]:
    """``args``: ``NAME: scalar`` pairs, each value kept as written; each name is declared."""
    reader = ctx.reader
    mapping = reader.mapping(node, "args")
    if mapping is None:
        return ()
    out: list[tuple[str, str]] = []
    for entry in mapping.entries:
        path = join("args", y.key_label(entry.key.text))
        if not NAME_RE.match(entry.key.text):
            reader.error(entry.key, path, f"{quote(entry.key.text)} is not a valid parameter name")
            continue
        value = reader.text_value(entry.value, path)
        if value is not None:
            ctx.variables.declare(entry.key.text, entry.key, path)
            out.append((entry.key.text, value))
    return tuple(out)


def check_references(ctx: Context, cmd_node: y.Scalar, cmd: str, declared: frozenset[str], flags: tuple[str, ...]) -> None:
    """Each ``${NAME}`` in ``cmd`` must be declared; ``$NAME`` is left to the shell."""
    reader = ctx.reader
    seen: set[str] = set()
    for match in _REF_RE.finditer(cmd):
        name = match.group(1)
        if name in seen:
            continue
        seen.add(name)
        node = reader.at_text(cmd_node, match.group(0))
        if name == PROJECT_HOME and "attach-project-disk" not in flags:
            reader.warn(node, "cmd", f"${{{name}}} is set only with flags: [attach-project-disk]")
        if name in declared:
            continue
        if not name.strip():
            reader.error(node, "cmd", "empty variable reference ${}")
            continue
        reader.error(
            node,
            "cmd",
            f"undeclared variable ${{{name}}}",
            did_you_mean(name, sorted(declared)) or "declare it in inputs, outputs, datasets, s3-mounts, args or env.vars",
        )


def check_quotes(ctx: Context, cmd_node: y.Scalar, cmd: str) -> None:
    """A quote in ``cmd`` that sh would never close, located in the config file (not inside ``cmd``)."""
    opened = _unclosed_quote(cmd)
    if opened is not None:
        node = ctx.reader.at_text(cmd_node, cmd[opened:].split("\n", 1)[0])
        near = " ".join(cmd[opened : opened + 24].split())
        ctx.reader.error(node, "cmd", f"unbalanced quote: the {cmd[opened]} is never closed (near {near!r})")


def _unclosed_quote(cmd: str) -> int | None:
    """The offset of a quote in ``cmd`` that is never closed, read as sh reads it
    (backslash escapes, ``'...'`` without escapes, ``#`` comments at a word's start)."""
    quote, opened, i, word_start = "", 0, 0, True
    while i < len(cmd):
        ch = cmd[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            i += 2
            word_start = False
            continue
        elif quote == '"':
            quote = "" if ch == '"' else quote
        elif ch in "'\"":
            quote, opened = ch, i
        elif ch == "#" and word_start:
            while i < len(cmd) and cmd[i] != "\n":
                i += 1
            continue
        word_start = not quote and ch in " \t\r\n;&|()"
        i += 1
    return opened if quote else None
