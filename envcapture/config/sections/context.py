"""What every section reader shares: the node reader, the path rules and the declared variables."""

from __future__ import annotations

from dataclasses import dataclass

from envcapture.config import _yaml as y
from envcapture.config.nodes import NodeReader
from envcapture.config.paths import PathRules

__all__ = ["Context", "Variables"]


class Variables:
    """The names declared for ``${NAME}`` in ``cmd``; a name may be declared once."""

    def __init__(self, reader: NodeReader) -> None:
        self.reader = reader
        self._declared: dict[str, tuple[y.Node, str]] = {}  # name -> (node, key path): one lookup per name

    def declare(self, name: str, node: y.Node, path: str) -> None:
        """Declare ``name`` at ``path``; a second declaration is a problem naming the first."""
        if name in self._declared:
            other_node, other_path = self._declared[name]
            self.reader.error(
                node,
                path,
                f"variable {name!r} is already used by {other_path} ({self.reader.where(other_node, other_path)})",
            )
            return
        self._declared[name] = (node, path)

    def names(self) -> frozenset[str]:
        return frozenset(self._declared)


@dataclass(frozen=True, slots=True)
class Context:
    """One config being checked: problems go to ``reader``, paths through ``paths``."""

    reader: NodeReader
    paths: PathRules
    variables: Variables
