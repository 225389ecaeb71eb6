"""The data of the check stage: the rule codes, what a project declares, its settings, the index's
verdicts and the `Finding`s the rules report.

`envcapture.check.declared` reads `Declared` and `CheckSettings` from the project's files;
`envcapture.check.rules` turns them (with the analysis) into `Finding`s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from envcapture.config.pyproject import WithEntry
from envcapture.model import DistName

__all__ = [
    "RULES",
    "CheckSettings",
    "Declared",
    "DeclaredRequirement",
    "Finding",
    "Fix",
    "IndexProblem",
    "InlineIgnores",
    "rule_code",
]


def __dir__() -> list[str]:
    return list(__all__)


RULES: Mapping[str, str] = {
    "EC001": "missing",
    "EC002": "unused",
    "EC003": "wrong-name",
    "EC004": "transitive",
    "EC005": "unpinned",
    "EC006": "not-installable",
}
_BY_NAME = {name: code for code, name in RULES.items()}


def rule_code(text: str) -> str | None:
    """``"EC001"``, ``"ec001"`` or ``"missing"`` -> ``"EC001"``; anything else -> None."""
    upper = text.strip().upper()
    if upper in RULES:
        return upper
    return _BY_NAME.get(text.strip().lower())


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclaredRequirement:
    """One declared requirement: a requirements-file line or a ``pyproject.toml`` string.

    ``source`` is ``"requirements"`` or ``"pyproject"``; ``group`` the optional-dependencies
    extra it belongs to (``None`` for the main list). ``name`` is ``None`` for an unnamed
    path or URL. ``written_name`` is the name as written (``PyYAML``, ``sklearn``).
    """

    name: DistName | None
    written_name: str | None
    text: str
    file: str
    line: int
    source: str = "requirements"
    specifier: str = ""
    url: str | None = None
    path: str | None = None
    editable: bool = False
    extras: frozenset[str] = frozenset()
    markers: str | None = None
    group: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """Everything the project declares, in file order.

    ``files`` are the sources read (includes too); ``fix_file`` is the requirements file
    where ``--fix`` adds lines (``None`` when only ``pyproject.toml`` declares);
    ``project_name`` is ``[project] name`` (never reported missing: it is the project).
    """

    requirements: tuple[DeclaredRequirement, ...] = ()
    files: tuple[str, ...] = ()
    fix_file: str | None = None
    project_name: DistName | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSettings:
    """``[tool.envcapture]`` of ``pyproject.toml`` (and the flags that override it).

    ``ignore`` holds ``(code, name)`` pairs: rule ``code`` is not reported for ``name``
    (a canonical distribution name or an import name). ``mapping`` adds import name ->
    distribution pairs, tried before envcapture's own table.
    """

    entry_points: tuple[str, ...] = ()
    ignore: frozenset[tuple[str, str]] = frozenset()
    mapping: tuple[tuple[str, str], ...] = ()
    require_pins: bool = False
    python: str | None = None  # the interpreter or virtualenv to analyse (environment.discover)
    with_requirements: tuple[WithEntry, ...] = ()  # shipped although not imported: never EC002
    installed_extras: bool | None = None  # the installed-extras rule (None: its default, on)

    def ignores(self, code: str, names: Iterable[str]) -> bool:
        return any((code, n) in self.ignore for n in names)

    def mapped(self, module: str) -> str | None:
        """The distribution ``mapping`` gives for the longest dotted prefix of ``module``."""
        table = dict(self.mapping)
        parts = module.split(".")
        for depth in range(len(parts), 0, -1):
            found = table.get(".".join(parts[:depth]))
            if found:
                return found
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexProblem:
    """The index's verdict on one pin: ``name==version`` cannot be installed on the target."""

    name: DistName
    version: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """What ``--fix`` does about a finding: ``add`` ``text`` at the end of ``file``,
    ``remove`` the requirement at ``file:line``, or ``rename`` it to ``text``."""

    action: str
    file: str
    line: int | None
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem: rule ``code`` (``EC001``) and name (``missing``), where, and what to do.

    ``file``/``line`` name the import site for EC001/EC004, the requirement otherwise.
    ``distribution`` is the canonical name concerned (``None`` when no distribution is known).
    """

    code: str
    rule: str
    file: str | None
    line: int | None
    message: str
    distribution: DistName | None = None
    fix: Fix | None = None
    column: int | None = None
    subjects: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def sort_key(self) -> tuple[str, str, int, str]:
        return (self.code, self.file or "", self.line or 0, self.distribution or "")

    def __str__(self) -> str:
        where = self.file or ""
        if where and self.line is not None:
            where += f":{self.line}"
        head = f"{where}: " if where else ""
        return f"{head}{self.code} {self.rule}: {self.message}"


InlineIgnores = Mapping[tuple[str, int], frozenset[str]]
"""``(file, line)`` -> rule codes ignored there; an empty set ignores every rule."""
