"""Analysis + declared requirements (+ Closure) -> tuple[Finding]: the rules of ``envcapture check``. Pure.

Rules, each with a stable code and name, and one function each:

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
one the target never runs only makes a declaration used (no EC002). A needed site with
alternatives (``try: import gymnasium`` / ``except ImportError: import gym``, see
`envcapture.analysis.classify`) is not missing when one of its alternatives is declared.

EC002 needs the dependency graph: a declared distribution nothing imports may be a
dependency of another declared or imported one. The requirements of a distribution the job
needs but that is not installed are unknown, and so are those of every declaration in bare
mode (nothing installed: the declarations are the environment to be). A declaration that may
be a dependency of one of those is not reported: `undecided_unused` names it. ``check`` reads no
file: the inline ``# envcapture: ignore[...]`` comments come in as ``inline_ignores``, the
index's verdicts as ``index_problems`` (both gathered by `envcapture.check.job`). The data
types live in `envcapture.check.model`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from envcapture.analysis.classify import Analysis, SiteRef, Status
from envcapture.analysis.mapping import (
    SOURCE_SAME_NAME,
    distribution_candidates,
    guess_distribution,
    import_names_of,
    submodules_importing,
)
from envcapture.check.model import (
    RULES,
    CheckSettings,
    Declared,
    DeclaredRequirement,
    Finding,
    Fix,
    IndexProblem,
    InlineIgnores,
)
from envcapture.config.pyproject import parse_with
from envcapture.environment.distributions import owners_of
from envcapture.environment.model import EnvSnapshot
from envcapture.model import DistName, dist_name
from envcapture.resolution.model import Closure, OriginKind

__all__ = ["check", "undecided_unused"]


def __dir__() -> list[str]:
    return list(__all__)


# Sites that make a distribution *needed* by the job on the target.
_NEEDED = frozenset({Status.REQUIRED, Status.CONDITIONAL})
_SHOWN_SITES = 3
_LOCAL_INSTALLS = {
    OriginKind.EDITABLE: "an editable install",
    OriginKind.LOCAL_DIR: "installed from a local directory",
    OriginKind.VCS: "installed from a VCS checkout",
    OriginKind.URL: "installed from a URL",
}


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


def _related(a: str, b: str) -> bool:
    """Whether one dotted name is the other or inside it (``google.cloud``, ``google.cloud.storage``)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _local_tops(analysis: Analysis) -> frozenset[str]:
    return frozenset(f.module.split(".")[0] for f in analysis.local_files if f.module)


def _dependency_map(closure: Closure | None) -> dict[DistName, set[DistName]]:
    """parent -> children, from the ``via`` parents of the closure's pins."""
    children: dict[DistName, set[DistName]] = {}
    if closure is None:
        return children
    for pin in closure.pins:
        for via in pin.via:
            parent = via.parent
            if parent is not None and parent != pin.name:
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
    known = {dist_name(d) for d in distribution_candidates(module)}
    if req.name in known:
        return None  # one of the distributions that provide the module under that name
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
    how: str = ""  # for a distribution that is not installed: where its name comes from


def _uses(
    analysis: Analysis, settings: CheckSettings, declared_names: Mapping[DistName, object]
) -> tuple[dict[DistName, _Use], list[tuple[str, list[SiteRef]]], dict[str, DistName]]:
    """Distributions imported (by canonical name), the imports no distribution is known for,
    and the distribution each imported module is given."""
    uses: dict[DistName, _Use] = {}
    providers: dict[str, DistName] = {}
    for d in analysis.distributions:
        providers.update(dict.fromkeys(d.import_names, d.name))
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
    provided = _declared_imports(declared_names)
    for u in analysis.unresolved:
        top = u.module.split(".")[0]
        if top in local:
            continue  # a missing module of a local package: not a requirements problem
        dist = settings.mapped(u.module)
        how = "[tool.envcapture] mapping"
        if dist is None:
            # A declared distribution known to provide the module (PyYAML for yaml) wins over
            # the most likely one (opencv-python-headless declared, not opencv-python).
            dist = _provider(u.module, provided)
            how = "declared"
        if dist is None and u.guess is not None:
            dist, how = u.guess, u.guess_source or "the import-name mapping"
        if dist is None:
            unknown.append((u.module, list(u.import_sites)))
            continue
        name = dist_name(dist)
        providers[u.module] = name
        use = uses.get(name)
        if use is None:
            uses[name] = _Use(
                name=name,
                display=dist,
                version="",
                modules=(u.module,),
                sites=list(u.import_sites),
                installed=False,
                how=how,
            )
        else:
            use.sites = sorted([*use.sites, *u.import_sites])
            use.modules = tuple(sorted({*use.modules, u.module}))
    return uses, unknown, providers


def _declared_imports(declared_names: Mapping[DistName, object]) -> dict[str, DistName]:
    """Import name -> the declared distribution that provides it, from the import-name tables."""
    out: dict[str, DistName] = {}
    for name in sorted(declared_names):
        for module in import_names_of(name):
            out.setdefault(module, name)
    return out


def _provider(module: str, provided: Mapping[str, DistName]) -> DistName | None:
    """The distribution ``provided`` gives the longest dotted prefix of ``module``."""
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        found = provided.get(".".join(parts[:depth]))
        if found is not None:
            return found
    return None


# --- what every rule reads ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Facts:
    """The inputs of `check` and what the rules share, computed once.

    ``renames`` are the EC003 declarations: (requirement, the distribution it means, how we
    know). ``effective`` maps the name each declaration effectively declares (after those
    renames) to its declarations; ``uses`` the distributions imported; ``unknown`` the imports
    no distribution is known for; ``declared_desc`` every dependency of each declared name.
    """

    declared: Declared
    closure: Closure | None
    snapshot: EnvSnapshot | None
    settings: CheckSettings
    inline: InlineIgnores
    index_problems: Sequence[IndexProblem]
    renames: tuple[tuple[DeclaredRequirement, str, str], ...]
    effective: Mapping[DistName, list[DeclaredRequirement]]
    uses: Mapping[DistName, _Use]
    unknown: Sequence[tuple[str, list[SiteRef]]]
    providers: Mapping[str, DistName]  # imported module -> the distribution it is given
    declared_imports: Mapping[str, DistName]  # import name -> the declared distribution providing it (tables)
    children: Mapping[DistName, set[DistName]]
    declared_desc: Mapping[DistName, set[DistName]]

    def declared_alternative(self, site: SiteRef) -> str | None:
        """The first alternative of ``site`` (try/except ImportError) that something declared provides."""
        for module in site.alternatives:
            found = _provider(module, self.providers) or _provider(module, self.declared_imports)
            mapped = self.settings.mapped(module)
            if (found is not None and found in self.effective) or (mapped and dist_name(mapped) in self.effective):
                return module
        return None

    def needed_sites(self, sites: Sequence[SiteRef], code: str) -> list[SiteRef]:
        """The sites that make a distribution needed: required or conditional, not ignored inline,
        and with no declared alternative."""
        return [
            s
            for s in sites
            if s.status in _NEEDED and not _inline_hit(self.inline, code, s.file, s.line) and self.declared_alternative(s) is None
        ]

    def alternatives_text(self, sites: Sequence[SiteRef]) -> str:
        """``", or its alternative gym (try/except ImportError)"`` for sites with alternatives, else ``""``."""
        names = dict.fromkeys(
            self.uses[d].display if (d := _provider(m, self.providers)) is not None and d in self.uses else m
            for s in sites
            for m in s.alternatives
        )
        if not names:
            return ""
        plural = "s" if len(names) > 1 else ""
        return f", or its alternative{plural} {' and '.join(names)} (try/except ImportError)"

    def undeclared_uses(self) -> Iterator[tuple[_Use, list[DistName]]]:
        """Imported distributions nothing declares, by name, with the declared ones they are a dependency of."""
        for use in sorted(self.uses.values(), key=lambda u: u.name):
            if use.name in self.effective or use.name == self.declared.project_name:
                continue
            yield use, sorted(n for n, desc in self.declared_desc.items() if use.name in desc)


def _facts(
    analysis: Analysis,
    declared: Declared,
    *,
    closure: Closure | None,
    snapshot: EnvSnapshot | None,
    settings: CheckSettings,
    inline: InlineIgnores,
    index_problems: Sequence[IndexProblem],
) -> _Facts:
    renames: list[tuple[DeclaredRequirement, str, str]] = []
    effective: dict[DistName, list[DeclaredRequirement]] = {}
    for req in declared.requirements:
        if req.name is None:
            continue
        right = _right_name(req, settings, snapshot)
        name = req.name
        if right is not None:
            dist, how = right
            renames.append((req, dist, how))
            name = dist_name(dist)
        effective.setdefault(name, []).append(req)
    uses, unknown, providers = _uses(analysis, settings, effective)
    children = _dependency_map(closure)
    return _Facts(
        declared=declared,
        closure=closure,
        snapshot=snapshot,
        settings=settings,
        inline=inline,
        index_problems=index_problems,
        renames=tuple(renames),
        effective=effective,
        uses=uses,
        unknown=unknown,
        providers=providers,
        declared_imports=_declared_imports(effective),
        children=children,
        declared_desc={n: _descendants(children, n) for n in effective},
    )


# --- the rules, one function each -----------------------------------------------------------------


def _missing(facts: _Facts) -> Iterator[Finding]:
    """EC001: imported by code the entry points reach (required or conditional), declared nowhere."""
    for use, through in facts.undeclared_uses():
        if not through:
            finding = _undeclared_use(facts, use, "EC001", through)
            if finding is not None:
                yield finding
    for module, all_sites in facts.unknown:
        sites = facts.needed_sites(all_sites, "EC001")
        if not sites:
            continue
        first = sites[0]
        yield Finding(
            code="EC001",
            rule=RULES["EC001"],
            file=first.file,
            line=first.line,
            column=first.column,
            message=f"{module} is imported but not declared, and no known distribution provides it "
            f"(imported at {_sites_text(sites)}){facts.alternatives_text(sites)}; add it to [tool.envcapture] mapping",
            subjects=frozenset({module, module.split(".")[0]}),
        )


def _not_imported(facts: _Facts) -> Iterator[tuple[DistName, list[DeclaredRequirement], list[DistName]]]:
    """Declarations nothing imports nor depends on, as far as the closure tells, and not asked
    for with ``--with`` / ``[tool.envcapture] with``, each with the distributions whose
    requirements are unknown (it may be one of them)."""
    used = set(facts.uses)
    used |= {dist_name(parse_with(e.text, e.location).name) for e in facts.settings.with_requirements}
    reached: set[DistName] = set()  # every dependency of what is declared or imported
    for other in set(facts.effective) | used:
        reached |= facts.declared_desc.get(other) or _descendants(facts.children, other)
    # The job needs these and they are not installed, so their requirements are unknown; in bare
    # mode (nothing installed at all) the declarations are the only description of the
    # environment, so every one of them counts. In an environment, a declaration that is not
    # installed takes no part in the job's environment: the closure stands.
    unknown = {u.name for u in facts.uses.values() if not u.installed and any(s.status in _NEEDED for s in u.sites)}
    if facts.snapshot is None or not facts.snapshot.distributions:
        unknown |= set(facts.effective)
    for name, reqs in facts.effective.items():
        if name in used or name in reached or name == facts.declared.project_name:
            continue
        yield name, reqs, sorted(n for n in unknown if n != name)


def _unused(facts: _Facts) -> Iterator[Finding]:
    """EC002: declared, not imported, not a dependency of anything imported or declared."""
    for name, reqs, unknown in _not_imported(facts):
        if unknown:
            continue  # maybe a dependency of one of them: `undecided_unused`
        for req in reqs:
            fix = Fix(action="remove", file=req.file, line=req.line, text=req.text) if req.source == "requirements" else None
            where = f" (in [project.optional-dependencies] {req.group})" if req.group else ""
            yield Finding(
                code="EC002",
                rule=RULES["EC002"],
                file=req.file,
                line=req.line,
                message=f"{req.written_name or name} is declared{where} but no code the entry points reach imports it",
                distribution=name,
                fix=fix,
                subjects=frozenset({name}),
            )


def _wrong_name(facts: _Facts) -> Iterator[Finding]:
    """EC003: an import name declared as if it were a distribution."""
    for req, dist, how in facts.renames:
        assert req.name is not None  # only named requirements are renamed
        fix = Fix(action="rename", file=req.file, line=req.line, text=dist) if req.source == "requirements" else None
        yield Finding(
            code="EC003",
            rule=RULES["EC003"],
            file=req.file,
            line=req.line,
            message=f"{req.written_name} is an import name, not a distribution: declare {dist} (from {how})",
            distribution=req.name,
            fix=fix,
            subjects=frozenset({req.name, dist_name(dist)}),
        )


def _transitive(facts: _Facts) -> Iterator[Finding]:
    """EC004: imported, undeclared, installed only as a dependency of a declared distribution."""
    for use, through in facts.undeclared_uses():
        if through:
            finding = _undeclared_use(facts, use, "EC004", through)
            if finding is not None:
                yield finding


def _unpinned(facts: _Facts) -> Iterator[Finding]:
    """EC005: a named requirement without an exact ``==`` pin, when ``require-pins`` asks for them."""
    if not facts.settings.require_pins:
        return
    snapshot = facts.snapshot
    for req in facts.declared.requirements:
        if req.name is None or req.url or req.path or req.editable or _is_pinned(req.specifier):
            continue
        installed = snapshot.distribution(req.name) if snapshot is not None else None
        how = "not pinned" if not req.specifier else f"loosely pinned ({req.specifier})"
        advice = f": pin it, {installed.display_name}=={installed.version} is installed" if installed else ": pin it with =="
        yield Finding(
            code="EC005",
            rule=RULES["EC005"],
            file=req.file,
            line=req.line,
            message=f"{req.written_name} is {how}{advice}",
            distribution=req.name,
            subjects=frozenset({req.name}),
        )


def _not_installable(facts: _Facts) -> Iterator[Finding]:
    """EC006: the index's verdicts, placed on the declaration, else the import site, else a declared parent."""
    effective, uses = facts.effective, facts.uses
    for problem in facts.index_problems:
        reqs = effective.get(problem.name, [])
        file: str | None = None
        line: int | None = None
        if reqs:
            file, line = reqs[0].file, reqs[0].line
        elif problem.name in uses and uses[problem.name].sites:
            file, line = uses[problem.name].sites[0].file, uses[problem.name].sites[0].line
        else:
            parents = sorted(n for n, desc in facts.declared_desc.items() if problem.name in desc)
            if parents:
                file, line = effective[parents[0]][0].file, effective[parents[0]][0].line
        yield Finding(
            code="EC006",
            rule=RULES["EC006"],
            file=file,
            line=line,
            message=f"{problem.name}=={problem.version} is not installable on the target: {problem.message}",
            distribution=problem.name,
            subjects=frozenset({problem.name}),
        )


def _undeclared_use(facts: _Facts, use: _Use, code: str, through: Sequence[DistName]) -> Finding | None:
    """The EC001 or EC004 finding of ``use`` at its first needed site (``None``: no needed site is left)."""
    sites = facts.needed_sites(use.sites, code)
    if not sites:
        return None
    closure = facts.closure
    fix_file = facts.declared.fix_file
    pin = f"{use.display}=={use.version}" if use.version else use.display
    pinned = closure.pin(use.name) if closure is not None else None
    origin = pinned.origin.kind if pinned is not None else OriginKind.INDEX
    local_install = use.installed and origin is not OriginKind.INDEX
    fix = None
    if fix_file is not None and use.installed and use.version and not local_install:
        fix = Fix(action="add", file=fix_file, line=None, text=pin)
    modules = ", ".join(use.modules)
    # ``from torch.utils.tensorboard import ...`` needs tensorboard: say which import brings it in
    bringing = sorted(
        {
            sub
            for s in sites
            if not any(_related(s.module, m) for m in use.modules)
            for m in use.modules
            for sub in submodules_importing(m)
            if _related(sub, s.module)
        }
    )
    if bringing:
        modules += f" (through {', '.join(bringing)})"
    also = facts.alternatives_text(sites)
    if code == "EC004":
        message = (
            f"{modules} is imported but {use.display} is only installed as a dependency of "
            f"{', '.join(through)}: declare {pin} (imported at {_sites_text(sites)}){also}"
        )
    elif not use.installed:
        guessed = " (a guess: the same name; verify it)" if use.how == SOURCE_SAME_NAME else ""
        message = (
            f"{modules} is imported but not declared, and not installed in the analysed environment: "
            f"declare {use.display}{guessed} (imported at {_sites_text(sites)}){also}"
        )
    elif local_install:
        how = _LOCAL_INSTALLS.get(origin, "installed locally")
        message = (
            f"{modules} is imported but {use.display} is not declared: it is {how} here, "
            f"declare it by path or URL (imported at {_sites_text(sites)}){also}"
        )
    else:
        message = f"{modules} is imported but {use.display} is not declared: add {pin} (imported at {_sites_text(sites)}){also}"
    first = sites[0]
    return Finding(
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


_NO_SETTINGS = CheckSettings()

_RULES: Mapping[str, Callable[[_Facts], Iterator[Finding]]] = {
    "EC001": _missing,
    "EC002": _unused,
    "EC003": _wrong_name,
    "EC004": _transitive,
    "EC005": _unpinned,
    "EC006": _not_installable,
}


def check(
    analysis: Analysis,
    declared: Declared,
    *,
    closure: Closure | None = None,
    snapshot: EnvSnapshot | None = None,
    settings: CheckSettings = _NO_SETTINGS,
    inline_ignores: InlineIgnores | None = None,
    index_problems: Sequence[IndexProblem] = (),
) -> tuple[Finding, ...]:
    """Compare what ``declared`` says with what ``analysis`` found; every problem, sorted by rule.

    :param closure: the closure of the declared and imported distributions; its ``via``
        parents tell which distributions are dependencies of others (EC002, EC004).
        Without it every undeclared import is EC001.
    :param snapshot: the analysed environment: names a declared import name's distribution
        from installed metadata (EC003) and tells local installs (no ``==`` fix for them).

    A declaration nothing imports is EC002 only when the requirements of everything it may be
    a dependency of are known (module docstring); `undecided_unused` names the others.
    """
    inline = inline_ignores or {}
    facts = _facts(
        analysis,
        declared,
        closure=closure,
        snapshot=snapshot,
        settings=settings,
        inline=inline,
        index_problems=index_problems,
    )
    found = [finding for rule in _RULES.values() for finding in rule(facts)]
    kept = [
        f
        for f in found
        if not settings.ignores(f.code, f.subjects)
        and not (f.code not in ("EC001", "EC004") and _inline_hit(inline, f.code, f.file, f.line))
    ]
    return tuple(sorted(kept, key=Finding.sort_key))


def undecided_unused(
    analysis: Analysis,
    declared: Declared,
    *,
    closure: Closure | None = None,
    snapshot: EnvSnapshot | None = None,
    settings: CheckSettings = _NO_SETTINGS,
    inline_ignores: InlineIgnores | None = None,
) -> tuple[tuple[DeclaredRequirement, tuple[DistName, ...]], ...]:
    """The declarations EC002 cannot judge: nothing imports them, and they may be a dependency of
    a distribution whose requirements are unknown (needed and not installed; in bare mode, any
    declared one).

    :returns: each such requirement with those distributions, in declaration order. The
        arguments are `check`'s; an EC002 ignored by ``settings`` or inline is left out.
    """
    inline = inline_ignores or {}
    facts = _facts(
        analysis,
        declared,
        closure=closure,
        snapshot=snapshot,
        settings=settings,
        inline=inline,
        index_problems=(),
    )
    out = [
        (req, tuple(unknown))
        for name, reqs, unknown in _not_imported(facts)
        if unknown and not settings.ignores("EC002", {name})
        for req in reqs
        if not _inline_hit(inline, "EC002", req.file, req.line)
    ]
    return tuple(sorted(out, key=lambda item: (item[0].file, item[0].line)))
