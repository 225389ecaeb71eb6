"""Analysis + declared requirements (+ Closure) -> tuple[Finding]: the rules of ``envcapture check``. Pure.

Rules, each with a stable code and name:

=======  ===============  =====================================================================
EC001    missing          imported by code an entry point reaches, not declared
EC002    unused           declared, neither imported nor a dependency of what is declared/imported
EC003    wrong-name       an import name declared as if it were a distribution (``sklearn``)
EC004    transitive       imported, but only installed as a dependency of a declared distribution
EC005    unpinned         declared without ``==`` (only when pins are required)
EC006    not-installable  a pin the target cannot install from the configured index (``--check-index``)
=======  ===============  =====================================================================

Which imports count: a *required* or *conditional* import site makes a distribution
needed (EC001, EC004); an optional one (``try/except ImportError``), a type-only one or
one the target never runs only makes a declaration used (no EC002). ``check`` reads no
file: the inline ``# envcapture: ignore[...]`` comments come in as ``inline_ignores``, the
index's verdicts as ``index_problems`` (both gathered by `envcapture.check.job`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from envcapture.analysis.classify import Analysis, SiteRef, Status
from envcapture.analysis.mapping import guess_distribution
from envcapture.environment.distributions import owners_of
from envcapture.environment.model import EnvSnapshot
from envcapture.model import DistName, dist_name
from envcapture.resolution.model import Closure, OriginKind, ViaKind

__all__ = [
    "RULES",
    "CheckSettings",
    "Declared",
    "DeclaredRequirement",
    "Finding",
    "Fix",
    "IndexProblem",
    "check",
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

# Sites that make a distribution *needed* by the job on the target.
_NEEDED = frozenset({Status.REQUIRED, Status.CONDITIONAL})
_SHOWN_SITES = 3
_LOCAL_INSTALLS = {
    OriginKind.EDITABLE: "an editable install",
    OriginKind.LOCAL_DIR: "installed from a local directory",
    OriginKind.VCS: "installed from a VCS checkout",
    OriginKind.URL: "installed from a URL",
}


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


def _inline_hit(inline: InlineIgnores, code: str, file: str | None, line: int | None) -> bool:
    if file is None or line is None:
        return False
    codes = inline.get((file, line))
    return codes is not None and (not codes or code in codes)


def _sites_text(sites: Sequence[SiteRef]) -> str:
    shown = ", ".join(str(s) for s in sites[:_SHOWN_SITES])
    more = len(sites) - _SHOWN_SITES
    return shown + (f" and {more} more" if more > 0 else "")


def _is_pinned(specifier: str) -> bool:
    try:
        spec = SpecifierSet(specifier)
    except InvalidSpecifier:
        return False
    return any(s.operator in ("==", "===") and not s.version.endswith("*") for s in spec)


def _local_tops(analysis: Analysis) -> frozenset[str]:
    return frozenset(f.module.split(".")[0] for f in analysis.local_files if f.module)


def _dependency_map(closure: Closure | None) -> dict[DistName, set[DistName]]:
    """parent -> children, from the ``via`` parents of the closure's pins."""
    children: dict[DistName, set[DistName]] = {}
    if closure is None:
        return children
    for pin in closure.pins:
        for via in pin.via:
            if via.kind is ViaKind.PARENT:
                parent = dist_name(via.source.split("[", 1)[0])
                if parent != pin.name:
                    children.setdefault(parent, set()).add(pin.name)
    return children


def _descendants(children: Mapping[DistName, set[DistName]], root: DistName) -> set[DistName]:
    seen: set[DistName] = set()
    stack = list(children.get(root, ()))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(children.get(name, ()))
    seen.discard(root)
    return seen


def _right_name(req: DeclaredRequirement, settings: CheckSettings, snapshot: EnvSnapshot | None) -> tuple[str, str] | None:
    """(distribution, how we know) when ``req`` names an import name, not a distribution."""
    written = req.written_name
    if written is None or req.name is None or req.url or req.path:
        return None
    if snapshot is not None and snapshot.distribution(req.name) is not None:
        return None  # an installed distribution of that name: a real distribution
    module = written.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", module):
        return None
    candidates: list[tuple[str, str]] = []
    mapped = settings.mapped(module)
    if mapped:
        candidates.append((mapped, "[tool.envcapture] mapping"))
    if snapshot is not None:
        owners = owners_of(snapshot, module)
        if len(owners) == 1:
            info = snapshot.distribution(owners[0])
            candidates.append((info.display_name if info else owners[0], "installed metadata"))
    guess = guess_distribution(module)
    if guess:
        candidates.append((guess, "the import-name mapping"))
    for dist, how in candidates:
        if dist_name(dist) != req.name:
            return dist, how
    return None


@dataclass
class _Use:
    """A distribution the job's code imports (installed or only guessed)."""

    name: DistName
    display: str
    version: str
    modules: tuple[str, ...]
    sites: list[SiteRef]
    installed: bool


def _uses(
    analysis: Analysis, settings: CheckSettings, declared_names: Mapping[DistName, object]
) -> tuple[dict[DistName, _Use], list[tuple[str, list[SiteRef]]]]:
    """Distributions imported (by canonical name) and the imports no distribution is known for."""
    uses: dict[DistName, _Use] = {}
    for d in analysis.distributions:
        # Installed metadata is the truth for installed modules; ``mapping`` is for the rest.
        uses[d.name] = _Use(
            name=d.name,
            display=d.display_name,
            version=d.version,
            modules=d.import_names,
            sites=list(d.import_sites),
            installed=True,
        )
    unknown: list[tuple[str, list[SiteRef]]] = []
    local = _local_tops(analysis)
    for u in analysis.unresolved:
        top = u.module.split(".")[0]
        if top in local:
            continue  # a missing module of a local package: not a requirements problem
        dist = settings.mapped(u.module) or u.guess
        if dist is None:
            as_dist = dist_name(top)
            if as_dist in declared_names:
                dist = top
        if dist is None:
            unknown.append((u.module, list(u.import_sites)))
            continue
        name = dist_name(dist)
        use = uses.get(name)
        if use is None:
            uses[name] = _Use(
                name=name, display=dist, version="", modules=(u.module,), sites=list(u.import_sites), installed=False
            )
        else:
            use.sites = sorted([*use.sites, *u.import_sites])
            use.modules = tuple(sorted({*use.modules, u.module}))
    return uses, unknown


def check(
    analysis: Analysis,
    declared: Declared,
    *,
    closure: Closure | None = None,
    snapshot: EnvSnapshot | None = None,
    settings: CheckSettings = CheckSettings(),
    inline_ignores: InlineIgnores | None = None,
    index_problems: Sequence[IndexProblem] = (),
) -> tuple[Finding, ...]:
    """Compare what ``declared`` says with what ``analysis`` found; every problem, sorted by rule.

    :param closure: the closure of the declared and imported distributions; its ``via``
        parents tell which distributions are dependencies of others (EC002, EC004).
        Without it every undeclared import is EC001.
    :param snapshot: the analysed environment: names a declared import name's distribution
        from installed metadata (EC003) and tells local installs (no ``==`` fix for them).
    """
    inline = inline_ignores or {}
    found: list[Finding] = []
    fix_file = declared.fix_file

    # Declarations by the name they effectively declare (EC003 renames first).
    effective: dict[DistName, list[DeclaredRequirement]] = {}
    for req in declared.requirements:
        if req.name is None:
            continue
        right = _right_name(req, settings, snapshot)
        name = req.name
        if right is not None:
            dist, how = right
            name = dist_name(dist)
            fix = Fix(action="rename", file=req.file, line=req.line, text=dist) if req.source == "requirements" else None
            found.append(
                Finding(
                    code="EC003",
                    rule=RULES["EC003"],
                    file=req.file,
                    line=req.line,
                    message=f"{req.written_name} is an import name, not a distribution: declare {dist} (from {how})",
                    distribution=req.name,
                    fix=fix,
                    subjects=frozenset({req.name, name}),
                )
            )
        effective.setdefault(name, []).append(req)

    uses, unknown = _uses(analysis, settings, effective)
    children = _dependency_map(closure)
    declared_desc: dict[DistName, set[DistName]] = {n: _descendants(children, n) for n in effective}

    # EC001 / EC004: what the job needs and nothing declares.
    for use in sorted(uses.values(), key=lambda u: u.name):
        if use.name in effective or use.name == declared.project_name:
            continue
        through = sorted(n for n, desc in declared_desc.items() if use.name in desc)
        code = "EC004" if through else "EC001"
        sites = [s for s in use.sites if s.status in _NEEDED and not _inline_hit(inline, code, s.file, s.line)]
        if not sites:
            continue
        pin = f"{use.display}=={use.version}" if use.version else use.display
        pinned = closure.pin(use.name) if closure is not None else None
        origin = pinned.origin.kind if pinned is not None else OriginKind.INDEX
        local_install = use.installed and origin is not OriginKind.INDEX
        fix = None
        if fix_file is not None and use.installed and use.version and not local_install:
            fix = Fix(action="add", file=fix_file, line=None, text=pin)
        modules = ", ".join(use.modules)
        if code == "EC004":
            message = (
                f"{modules} is imported but {use.display} is only installed as a dependency of "
                f"{', '.join(through)}: declare {pin} (imported at {_sites_text(sites)})"
            )
        elif not use.installed:
            message = (
                f"{modules} is imported but not declared, and not installed in the analysed environment: "
                f"declare {use.display} (imported at {_sites_text(sites)})"
            )
        elif local_install:
            how = _LOCAL_INSTALLS.get(origin, "installed locally")
            message = (
                f"{modules} is imported but {use.display} is not declared: it is {how} here, "
                f"declare it by path or URL (imported at {_sites_text(sites)})"
            )
        else:
            message = f"{modules} is imported but {use.display} is not declared: add {pin} (imported at {_sites_text(sites)})"
        first = sites[0]
        found.append(
            Finding(
                code=code,
                rule=RULES[code],
                file=first.file,
                line=first.line,
                column=first.column,
                message=message,
                distribution=use.name,
                fix=fix,
                subjects=frozenset({use.name, *use.modules, *(m.split(".")[0] for m in use.modules)}),
            )
        )
    for module, all_sites in unknown:
        sites = [s for s in all_sites if s.status in _NEEDED and not _inline_hit(inline, "EC001", s.file, s.line)]
        if not sites:
            continue
        first = sites[0]
        found.append(
            Finding(
                code="EC001",
                rule=RULES["EC001"],
                file=first.file,
                line=first.line,
                column=first.column,
                message=f"{module} is imported but not declared, and no known distribution provides it "
                f"(imported at {_sites_text(sites)}); add it to [tool.envcapture] mapping",
                subjects=frozenset({module, module.split(".")[0]}),
            )
        )

    # EC002: declared, not used, not needed by anything used or declared.
    used = set(uses)
    reached: set[DistName] = set()  # every dependency of what is declared or imported
    for other in set(effective) | used:
        reached |= declared_desc.get(other) or _descendants(children, other)
    for name, reqs in effective.items():
        if name in used or name in reached or name == declared.project_name:
            continue
        for req in reqs:
            fix = Fix(action="remove", file=req.file, line=req.line, text=req.text) if req.source == "requirements" else None
            where = f" (in [project.optional-dependencies] {req.group})" if req.group else ""
            found.append(
                Finding(
                    code="EC002",
                    rule=RULES["EC002"],
                    file=req.file,
                    line=req.line,
                    message=f"{req.written_name or name} is declared{where} but no code the entry points reach imports it",
                    distribution=name,
                    fix=fix,
                    subjects=frozenset({name}),
                )
            )

    # EC005: pins, when asked for.
    if settings.require_pins:
        for req in declared.requirements:
            if req.name is None or req.url or req.path or req.editable or _is_pinned(req.specifier):
                continue
            installed = snapshot.distribution(req.name) if snapshot is not None else None
            how = "not pinned" if not req.specifier else f"loosely pinned ({req.specifier})"
            advice = f": pin it, {installed.display_name}=={installed.version} is installed" if installed else ": pin it with =="
            found.append(
                Finding(
                    code="EC005",
                    rule=RULES["EC005"],
                    file=req.file,
                    line=req.line,
                    message=f"{req.written_name} is {how}{advice}",
                    distribution=req.name,
                    subjects=frozenset({req.name}),
                )
            )

    # EC006: the index's verdicts, placed on the declaration, else the import site.
    for problem in index_problems:
        reqs = effective.get(problem.name, [])
        file: str | None = None
        line: int | None = None
        if reqs:
            file, line = reqs[0].file, reqs[0].line
        elif problem.name in uses and uses[problem.name].sites:
            file, line = uses[problem.name].sites[0].file, uses[problem.name].sites[0].line
        else:
            parents = sorted(n for n, desc in declared_desc.items() if problem.name in desc)
            if parents:
                file, line = effective[parents[0]][0].file, effective[parents[0]][0].line
        found.append(
            Finding(
                code="EC006",
                rule=RULES["EC006"],
                file=file,
                line=line,
                message=f"{problem.name}=={problem.version} is not installable on the target: {problem.message}",
                distribution=problem.name,
                subjects=frozenset({problem.name}),
            )
        )

    kept = [
        f
        for f in found
        if not settings.ignores(f.code, f.subjects)
        and not (f.code not in ("EC001", "EC004") and _inline_hit(inline, f.code, f.file, f.line))
    ]
    return tuple(sorted(kept, key=Finding.sort_key))
