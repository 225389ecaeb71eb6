"""Line-aware YAML nodes -> typed values, every problem collected as one located line.

`NodeReader` is the generic half of the config checker: it knows nothing of the job-config
keys. Each getter returns the value, or ``None`` after recording a problem (the caller goes
on, so that every problem of a file is reported at once). Messages go through `clean`: one
line, credentials masked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import replace

from envcapture._urls import mask_url
from envcapture.config import _yaml as y
from envcapture.config.scalars import parse_duration, parse_size
from envcapture.errors import InputError, Location

__all__ = [
    "NAME_RE",
    "NodeReader",
    "clean",
    "describe",
    "did_you_mean",
    "join",
    "quote",
    "text_of",
]

#: A variable or parameter name (env, args, ``var``).
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off")


def clean(text: str) -> str:
    """One line, credentials masked: every message goes through here."""
    return mask_url(" ".join(text.split()) if "\n" in text or "\r" in text else text)


def quote(text: str, limit: int = 60) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters with ``...``."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def describe(node: y.Node) -> str:
    """What a node is, for "expected X, got Y" messages."""
    if isinstance(node, y.Mapping):
        return "a mapping"
    if isinstance(node, y.Sequence):
        return "a list"
    if node.kind == "str":
        return quote(node.text)
    if node.kind in ("int", "float"):
        return f"the number {quote(node.text, 30)[1:-1]}"
    if node.kind == "bool":
        return f"the boolean {node.text}"
    if node.kind == "null":
        return "nothing (null)"
    if node.tag.startswith("tag:yaml.org,2002:"):
        return f"{quote(node.text)} (a YAML {node.tag.rsplit(':', 1)[-1]}; quote it)"
    return f"{quote(node.text)} ({node.tag or 'an unsupported value'})"


def text_of(node: y.Node) -> str:
    """A scalar's text as written; what it is for anything else."""
    return node.text if isinstance(node, y.Scalar) else describe(node)


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """``did you mean 'X'?`` for the closest choice (or one differing only in case), else None."""
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not matches:
        folded = {choice.lower(): choice for choice in choices}
        if word.lower() in folded:
            matches = [folded[word.lower()]]
    return f"did you mean {matches[0]!r}?" if matches else None


def join(path: str, key: str) -> str:
    """The key path of ``key`` under ``path`` (``""`` is the top level)."""
    return f"{path}.{key}" if path else key


def _masked_location(location: Location | None) -> Location | None:
    if location is None or not location.key:
        return location
    return replace(location, key=mask_url(location.key))


class NodeReader:
    """Typed getters over one composed document, collecting ``problems`` and ``warnings``.

    ``aliases`` maps a refused key to the key it means in the same mapping (``description``:
    ``desc``); ``homes`` maps a key written one level off to the key path it belongs under.
    Both only shape the hint of an unknown key.
    """

    def __init__(
        self,
        document: y.Document,
        source: str,
        *,
        aliases: AbcMapping[str, str] | None = None,
        homes: AbcMapping[str, str] | None = None,
    ) -> None:
        self.document = document
        self.source = source
        self.aliases: AbcMapping[str, str] = aliases or {}
        self.homes: AbcMapping[str, str] = homes or {}
        self.problems: list[InputError] = [
            InputError(
                clean(problem.message),
                location=_masked_location(problem.location),
                hint=clean(problem.hint) if problem.hint else None,
            )
            for problem in document.problems
        ]
        self.warnings: list[str] = []

    # locations and reporting -----------------------------------------------------------

    def loc(self, node: y.Node | None, path: str) -> Location:
        """``file:line:col: key.path`` of a node (no position for a node built from Python)."""
        line = node.line if node is not None else None
        column = node.column if node is not None else None
        return Location(file=self.source, line=line, column=column, key=mask_url(path) or None)

    def where(self, node: y.Node, path: str) -> str:
        """``file:line:col`` of a node, for naming a second place in one message."""
        return str(self.loc(node, "")) or path

    def error(self, node: y.Node | None, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(
            InputError(
                clean(message),
                location=self.loc(node, path),
                hint=clean(hint) if hint else None,
            )
        )

    def warn(self, node: y.Node, path: str, message: str) -> None:
        self.warnings.append(f"{self.loc(node, path)}: {clean(message)}")

    def written(self, node: y.Node) -> str | None:
        """``node`` as written in the file (``None`` for a mapping given as Python data)."""
        text = self.document.text
        if text is None or not isinstance(node, y.Scalar) or node.start is None or node.end is None:
            return None
        return text[node.start : node.end]

    def at_text(self, node: y.Scalar, needle: str) -> y.Scalar:
        """A stand-in node placed where ``needle`` is written inside ``node``."""
        position = y.position_of(self.document, node, needle)
        if position is None:
            return node
        return y.Scalar(value=needle, kind="str", text=needle, line=position[0], column=position[1])

    # shapes ----------------------------------------------------------------------------

    def fields(self, node: y.Mapping, path: str, allowed: tuple[str, ...]) -> dict[str, y.Entry]:
        """The entries of ``node`` whose key is ``allowed``; every other key is an "unknown key"."""
        found: dict[str, y.Entry] = {}
        for entry in node.entries:
            name = entry.key.text
            if name in allowed:
                found[name] = entry
                continue
            hint = did_you_mean(name, allowed)
            alias = self.aliases.get(name)
            home = self.homes.get(name)
            if alias is not None and alias in allowed:
                hint = f"did you mean {alias!r}?"
            elif hint is None and home is not None and home != path:
                hint = f"it belongs under {home!r}"
            self.error(entry.key, join(path, y.key_label(name)), "unknown key", hint)
        return found

    def mapping(self, node: y.Node, path: str) -> y.Mapping | None:
        if isinstance(node, y.Mapping):
            return node
        self.error(node, path, f"expected a mapping, got {describe(node)}")
        return None

    def sequence(self, node: y.Node, path: str) -> y.Sequence | None:
        if isinstance(node, y.Sequence):
            return node
        hint = "write it as a list: [value] or '- value' lines" if isinstance(node, y.Scalar) else None
        self.error(node, path, f"expected a list, got {describe(node)}", hint)
        return None

    def string(self, node: y.Node, path: str, *, empty_ok: bool = False) -> str | None:
        if isinstance(node, y.Scalar) and node.kind == "str":
            if not empty_ok and not node.text.strip():
                self.error(node, path, "must not be empty")
                return None
            return node.text
        hint = None
        if isinstance(node, y.Scalar) and node.kind in ("int", "float", "bool"):
            hint = f"quote it: '{node.text}'"
        self.error(node, path, f"expected a string, got {describe(node)}", hint)
        return None

    def boolean(self, node: y.Node, path: str) -> bool | None:
        if isinstance(node, y.Scalar) and node.kind == "bool" and isinstance(node.value, bool):
            return node.value
        hint = None
        if isinstance(node, y.Scalar) and node.quoted and node.text.lower() in _BOOLEAN_WORDS:
            hint = "a quoted value is a string: remove the quotes"
        self.error(node, path, f"expected true or false, got {describe(node)}", hint)
        return None

    def text_value(self, node: y.Node, path: str) -> str | None:
        """A scalar as text, verbatim as written (env values, args, labels)."""
        if isinstance(node, y.Scalar) and node.kind != "null":
            return node.text
        self.error(node, path, f"expected a value (string or number), got {describe(node)}")
        return None

    def name(self, node: y.Node, path: str, what: str) -> str | None:
        """A variable name; a key such as ``ON`` or ``8`` is read as the text written."""
        if isinstance(node, y.Scalar) and node.kind in ("int", "float", "bool"):
            text: str | None = node.text
        else:
            text = self.string(node, path)
        if text is None:
            return None
        if not NAME_RE.match(text):
            self.error(
                node,
                path,
                f"{quote(text)} is not a valid {what}",
                "letters, digits and '_', not starting with a digit",
            )
            return None
        return text

    def strings(
        self, node: y.Node, path: str, check: Callable[[str, y.Node, str], str | None] | None = None
    ) -> tuple[str, ...] | None:
        """A list of strings, each passed through ``check(text, node, path)``; None if any fails."""
        seq = self.sequence(node, path)
        if seq is None:
            return None
        values: list[str] = []
        ok = True
        for i, item in enumerate(seq.items):
            item_path = f"{path}[{i}]"
            text = self.string(item, item_path)
            if text is not None and check is not None:
                text = check(text, item, item_path)
            if text is None:
                ok = False
            else:
                values.append(text)
        return tuple(values) if ok else None

    # units ------------------------------------------------------------------------------

    def size(self, node: y.Node, path: str) -> int | None:
        """A size with a unit (`parse_size`), more than 0; a bare number has no unit."""
        if isinstance(node, y.Scalar) and node.kind in ("int", "float"):
            self.error(
                node,
                path,
                f"the size {node.text} has no unit",
                f"write e.g. {node.text}Gb; 1 Gb = 2**30 bytes",
            )
            return None
        text = self.string(node, path)
        if text is None:
            return None
        try:
            size = parse_size(text)
        except ValueError:
            self.error(node, path, f"expected a size such as 150Gb or 1Tb, got {quote(text)}")
            return None
        if size <= 0:
            self.error(node, path, "the size must be more than 0")
            return None
        return size

    def duration(self, node: y.Node, path: str) -> float | None:
        """A duration (`parse_duration`) in seconds, more than 0."""
        if isinstance(node, y.Scalar) and node.kind in ("int", "str", "float"):
            try:
                seconds = parse_duration(node.text)
            except ValueError:
                pass
            else:
                if seconds <= 0:
                    self.error(node, path, "the duration must be more than 0")
                    return None
                return seconds
        hint = None
        if isinstance(node, y.Scalar) and node.kind in ("int", "float") and ":" in node.text:
            hint = f"YAML reads {node.text} as a base-60 number; write it as 1m30s"
        self.error(
            node,
            path,
            f"expected a duration such as 15s, 1m30s, 2h or whole seconds, got {describe(node)}",
            hint,
        )
        return None
