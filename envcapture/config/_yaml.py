"""Line-aware YAML: text (or an already parsed object) -> a tree of nodes with 1-based positions.

The text is composed with PyYAML's ``SafeLoader`` (``yaml.compose``), never constructed,
so every mapping key and every value keeps its line and column. What this module does on
top of PyYAML:

* **Duplicate keys are errors.** PyYAML silently keeps the last one; here the first one is
  kept and each later one is reported at its own position.
* **Scalars are resolved with PyYAML's SafeLoader rules** (YAML 1.1 resolvers), and the text
  as written is kept beside the value, so a caller can tell ``3.10`` (read as the number 3.1)
  from ``3.1``, or an unquoted ``1:30`` (a YAML 1.1 base-60 integer, 90) from ``90``.
* **Booleans.** A plain (unquoted) scalar is a boolean when it is one of
  ``true/false`` (YAML 1.2 core) or ``yes/no/on/off`` (YAML 1.1, kept for compatibility with
  PyYAML and the platform's own client), each written all lower case, capitalized or all
  upper case: ``true``, ``True``, ``TRUE``, ``Yes``, ``OFF``. Mixed case (``tRue``), ``y``/``n``
  and every *quoted* scalar (``"yes"``, ``'true'``) are strings, so a quoted ``"yes"`` given
  for a boolean key is an error for the caller to report.
* Timestamps, binary and other tagged scalars are not constructed: they become
  ``kind="other"`` with their text. Merge keys (``<<``), complex (non-scalar) keys and
  recursive aliases are reported as problems.
* Syntax errors become one `ConfigError` naming ``file:line:col``, never a PyYAML traceback.
"""

from __future__ import annotations

from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

import yaml
from yaml.constructor import SafeConstructor

from envcapture.errors import ConfigError, InputError, Location

__all__ = [
    "Document",
    "Entry",
    "Mapping",
    "Node",
    "Scalar",
    "ScalarKind",
    "Sequence",
    "compose",
    "from_python",
    "key_label",
    "position_of",
]

ScalarKind: TypeAlias = Literal["str", "int", "float", "bool", "null", "other"]

_TAG = "tag:yaml.org,2002:"
_KINDS: dict[str, ScalarKind] = {
    f"{_TAG}str": "str",
    f"{_TAG}int": "int",
    f"{_TAG}float": "float",
    f"{_TAG}bool": "bool",
    f"{_TAG}null": "null",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Scalar:
    """A scalar: its resolved ``value``, its ``kind`` and its ``text`` as written.

    ``line``/``column`` are 1-based and ``start``/``end`` are offsets into the document
    text; all four are ``None`` for a node built from a Python object.
    """

    value: str | int | float | bool | None
    kind: ScalarKind
    text: str
    quoted: bool = False
    style: str = ""  # "|" literal or ">" folded block, "'" or '"' quoted, "" plain
    tag: str = ""
    line: int | None = None
    column: int | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sequence:
    """A YAML sequence (a Python list or tuple)."""

    items: tuple[Node, ...]
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One ``key: value`` pair of a mapping; the key is always a scalar."""

    key: Scalar
    value: Node


@dataclass(frozen=True, slots=True, kw_only=True)
class Mapping:
    """A YAML mapping, its entries in document order, duplicate keys already removed."""

    entries: tuple[Entry, ...]
    line: int | None = None
    column: int | None = None


Node: TypeAlias = "Scalar | Sequence | Mapping"


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A composed document: its root (``None`` when empty) and the problems found.

    ``text`` is the source text (``None`` for a Python object); ``problems`` holds the
    duplicate keys, merge keys, complex keys and recursive aliases, each located.
    """

    root: Node | None
    text: str | None
    problems: tuple[InputError, ...] = ()


def compose(text: str, *, source: str = "<config>") -> Document:
    """Compose one YAML document from ``text``.

    :raises ConfigError: the text is not valid YAML (one problem, ``file:line:col``).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, source) from exc
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        message = f"invalid YAML: unacceptable character #x{exc.character:04x}"
        if isinstance(exc.character, bytes):  # pragma: no cover - only for byte input
            message = "invalid YAML: text is not valid UTF-8"
        raise ConfigError(message, location=Location(file=source, line=line, column=column)) from exc
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error is one of the above
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"invalid YAML: {first}", location=Location(file=source)) from exc
    except RecursionError as exc:
        raise ConfigError("invalid YAML: nested too deeply", location=Location(file=source)) from exc
    if node is None:
        return Document(root=None, text=text)
    builder = _Builder(source)
    try:
        root = builder.convert(node, Location(file=source))
    except RecursionError as exc:
        raise ConfigError("invalid YAML: nested too deeply", location=Location(file=source)) from exc
    return Document(root=root, text=text, problems=tuple(builder.problems))


def from_python(obj: object) -> Node:
    """Build a node tree (without positions) from an already parsed Python object.

    Dicts become mappings (keys turned to text), lists and tuples sequences; ``str``, ``int``,
    ``float``, ``bool`` and ``None`` keep their kind; anything else is ``kind="other"``.
    A self-referencing container is cut at the repeat with an ``other`` scalar.
    """
    return _from_python(obj, set())


def position_of(document: Document, node: Scalar, needle: str) -> tuple[int, int] | None:
    """The 1-based line and column of ``needle`` written inside ``node``'s source text.

    Useful for a ``${VAR}`` inside a multi-line ``cmd``; ``None`` when unknown.
    """
    if document.text is None or node.start is None or node.end is None:
        return None
    offset = document.text.find(needle, node.start, node.end)
    if offset < 0:
        return None
    return _line_column(document.text, offset)


# --- internals -----------------------------------------------------------------------------


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _syntax_error(exc: yaml.MarkedYAMLError, source: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "cannot parse"
    hint = None
    if exc.context and exc.problem:
        hint = exc.context
        if exc.context_mark is not None and exc.problem_mark is not None:
            hint += f" started at line {exc.context_mark.line + 1}"
    location = Location(
        file=source,
        line=mark.line + 1 if mark is not None else None,
        column=mark.column + 1 if mark is not None else None,
    )
    return ConfigError(f"invalid YAML: {_one_line(problem)}", location=location, hint=hint)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def key_label(text: str) -> str:
    """A key as it appears in a key path: bare when simple, quoted otherwise."""
    if text and text.isprintable() and not any(c in text for c in " .[]'\""):
        return text
    return repr(text)


class _Builder:
    """Converts PyYAML nodes, collecting problems; aliases are shared, not re-converted."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[InputError] = []
        self._done: dict[int, Node] = {}
        self._active: set[int] = set()
        self._constructor = SafeConstructor()

    def _location(self, node: yaml.Node, where: Location) -> Location:
        return Location(
            file=self.source,
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
            key=where.key,
        )

    def convert(self, node: yaml.Node, where: Location) -> Node:
        key = id(node)
        if key in self._done:
            return self._done[key]
        if key in self._active:
            self.problems.append(InputError("recursive YAML alias", location=self._location(node, where)))
            return self._scalar_of(None, "null", "null", node)
        self._active.add(key)
        try:
            result = self._convert(node, where)
        finally:
            self._active.discard(key)
        self._done[key] = result
        return result

    def _convert(self, node: yaml.Node, where: Location) -> Node:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if isinstance(node, yaml.SequenceNode):
            items = tuple(self.convert(item, where.child(f"[{i}]")) for i, item in enumerate(node.value))
            return Sequence(items=items, line=line, column=column)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, where)
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, where: Location) -> Mapping:
        entries: list[Entry] = []
        seen: dict[str, int | None] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge":
                self.problems.append(
                    InputError(
                        "YAML merge keys ('<<') are not supported; write the keys out",
                        location=self._location(key_node, where.child("<<")),
                    )
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(
                    InputError(
                        "a mapping key must be a plain value, not a list or mapping",
                        location=self._location(key_node, where),
                    )
                )
                continue
            key = self._scalar(key_node)
            path = where.child(key_label(key.text))
            if key.text in seen:
                first = seen[key.text]
                self.problems.append(
                    InputError(
                        "duplicate key",
                        location=self._location(key_node, path),
                        hint=f"first given at line {first}" if first is not None else None,
                    )
                )
                continue
            seen[key.text] = key.line
            entries.append(Entry(key=key, value=self.convert(value_node, path)))
        return Mapping(
            entries=tuple(entries),
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
        )

    def _scalar(self, node: yaml.ScalarNode) -> Scalar:
        text = str(node.value)
        kind = _KINDS.get(node.tag, "other")
        value: str | int | float | bool | None = text
        if kind in ("int", "float", "bool"):
            try:
                if kind == "int":
                    value = self._constructor.construct_yaml_int(node)
                elif kind == "float":
                    value = self._constructor.construct_yaml_float(node)
                else:
                    value = self._constructor.construct_yaml_bool(node)
            except (ValueError, KeyError, TypeError, yaml.YAMLError):
                kind, value = "other", text  # e.g. !!int "abc"
        elif kind == "null":
            value = None
        return self._scalar_of(value, kind, text, node)

    @staticmethod
    def _scalar_of(value: str | float | bool | None, kind: ScalarKind, text: str, node: yaml.Node) -> Scalar:
        style = getattr(node, "style", None)
        return Scalar(
            value=value,
            kind=kind,
            text=text,
            quoted=style in ("'", '"'),
            style=style or "",
            tag=str(node.tag),
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
            start=node.start_mark.index,
            end=node.end_mark.index,
        )


def _python_scalar(obj: object) -> Scalar:
    if obj is None:
        return Scalar(value=None, kind="null", text="null")
    if isinstance(obj, bool):
        return Scalar(value=obj, kind="bool", text="true" if obj else "false")
    if isinstance(obj, int):
        return Scalar(value=obj, kind="int", text=str(obj))
    if isinstance(obj, float):
        return Scalar(value=obj, kind="float", text=repr(obj))
    if isinstance(obj, str):
        return Scalar(value=obj, kind="str", text=obj)
    try:
        text = str(obj)
    except Exception:  # noqa: BLE001 - a foreign object's __str__ may raise anything
        text = type(obj).__name__
    return Scalar(value=text, kind="other", text=text, tag=f"a Python {type(obj).__name__}")


def _from_python(obj: object, active: set[int]) -> Node:
    if isinstance(obj, AbcMapping | list | tuple):
        if id(obj) in active:
            return Scalar(value="<recursive>", kind="other", text="<recursive>", tag="recursive")
        active.add(id(obj))
        try:
            if isinstance(obj, AbcMapping):
                entries = tuple(Entry(key=_python_scalar(k), value=_from_python(v, active)) for k, v in obj.items())
                return Mapping(entries=entries)
            return Sequence(items=tuple(_from_python(item, active) for item in obj))
        finally:
            active.discard(id(obj))
    return _python_scalar(obj)
