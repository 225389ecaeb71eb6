"""Imports made inside distributions while the runtime pass ran -> the installed distributions they add. Pure.

``pandas.read_parquet`` imports ``pyarrow`` inside pandas: pyarrow is in no Requires-Dist
of pandas and no import of the job's code, yet the job fails without it. When a
distribution the job includes (one its code imports, or one those require, markers
evaluated for the target) imported an installed distribution at run time, that
distribution is added with the reason ``imported by pandas at run time``; what it brings
in is followed the same way, until nothing changes. An importer the job does not include
(a ``.pth`` start-up hook, a plugin the environment loads by itself) adds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement

from envcapture.analysis.classify import RUNTIME_IMPORT, AddedDistribution
from envcapture.analysis.runtime.model import RuntimeFinding
from envcapture.environment.distributions import owners_of
from envcapture.environment.model import EnvSnapshot
from envcapture.model import DistName, ModuleName, dist_name

__all__ = ["InsideImport", "added_at_run_time", "requires_closure"]


def __dir__() -> list[str]:
    return list(__all__)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class InsideImport:
    """A module imported by a file of an installed distribution (``importer``: absolute path)."""

    module: str
    importer: str
    line: int | None = None


def _true_for(marker: Marker | None, env: Mapping[str, str]) -> bool:
    if marker is None:
        return True
    try:
        return marker.evaluate({**env, "extra": ""})
    except Exception:  # noqa: BLE001 - an undecidable marker keeps the dependency
        return True


def requires_closure(names: Iterable[DistName], snapshot: EnvSnapshot, env: Mapping[str, str]) -> set[DistName]:
    """``names`` and every installed distribution their Requires-Dist reaches (base
    requirements, markers evaluated in the target's ``env``)."""
    seen: set[DistName] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        dist = snapshot.distribution(name)
        if dist is None:
            continue
        for text in dist.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if _true_for(req.marker, env) and snapshot.distribution(req.name) is not None:
                stack.append(dist_name(req.name))
    return seen


def _module_of(relative: str) -> str:
    """``pandas/io/parquet.py`` -> ``pandas.io.parquet``; ``pkg/__init__.py`` -> ``pkg``."""
    parts = list(PurePath(relative).parts)
    stem = parts[-1].split(".", 1)[0]
    if stem == "__init__":
        parts.pop()
    else:
        parts[-1] = stem
    return ".".join(parts)


def _inside(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` (POSIX), or None when it is not below it."""
    if not root:
        return None
    root = root.rstrip(os.sep)
    if not path.startswith(root + os.sep):
        return None
    return PurePath(path[len(root) + 1 :]).as_posix()


class _Owners:
    """Importer file -> (the distribution owning it, the path below its sys.path entry)."""

    def __init__(self, snapshot: EnvSnapshot) -> None:
        self.snapshot = snapshot
        sites = [*snapshot.site_packages, *(os.path.realpath(p) for p in snapshot.site_packages)]
        self.sites = list(dict.fromkeys(sites))
        self.editable = [
            (root, dist.name)
            for dist in snapshot.distributions
            for given in dist.editable_roots
            for root in dict.fromkeys((given, os.path.realpath(given)))
        ]

    def of(self, path: str) -> tuple[DistName, str] | None:
        for candidate in dict.fromkeys((path, os.path.realpath(path))):
            for root, owner in self.editable:
                rel = _inside(candidate, root)
                if rel is not None:
                    return owner, rel
            for site in self.sites:
                rel = _inside(candidate, site)
                if rel is None:
                    continue
                owners = owners_of(self.snapshot, ModuleName(_module_of(rel)))
                if len(owners) == 1:  # several: a shared namespace, no single importer
                    return owners[0], rel
        return None


def added_at_run_time(
    imports: Sequence[InsideImport], included: Iterable[DistName], snapshot: EnvSnapshot, env: Mapping[str, str]
) -> tuple[tuple[AddedDistribution, ...], tuple[RuntimeFinding, ...]]:
    """The installed distributions that the ``included`` ones imported at run time (see the
    module docstring), one `AddedDistribution` per (distribution, importer), and a
    `RuntimeFinding` per distribution (``imported_by``: the importing file below its
    ``sys.path`` entry, with the line: ``tabular/__init__.py:7``)."""
    owners = _Owners(snapshot)
    # (owner of the module, owner of the importer, where) for every import across two distributions
    edges: list[tuple[DistName, DistName, str]] = []
    for imp in sorted(set(imports)):
        found = owners.of(imp.importer)
        if found is None:
            continue
        by, below = found
        for owner in owners_of(snapshot, imp.module):
            if owner != by:
                edges.append((owner, by, f"{below}:{imp.line}" if imp.line else below))
    reach = requires_closure(included, snapshot, env)
    added: dict[DistName, dict[DistName, set[str]]] = {}
    changed = True
    while changed:
        changed = False
        for owner, importer, where in edges:
            if importer not in reach:
                continue
            if owner not in reach:
                reach |= requires_closure([owner], snapshot, env)
                added[owner] = {}
                changed = True
            if owner in added:
                added[owner].setdefault(importer, set()).add(where)
    rows: list[AddedDistribution] = []
    findings: list[RuntimeFinding] = []
    for owner, importers in sorted(added.items()):
        info = snapshot.distribution(owner)
        for importer in sorted(importers):
            parent = snapshot.distribution(importer)
            rows.append(
                AddedDistribution(
                    name=owner,
                    display_name=info.display_name if info else owner,
                    version=info.version if info else "",
                    rule=RUNTIME_IMPORT,
                    via=importer,
                    reason=f"imported by {parent.display_name if parent else importer} at run time",
                    parent=importer,
                )
            )
        findings.append(
            RuntimeFinding(
                kind="distribution", name=owner, imported_by=tuple(sorted({w for ws in importers.values() for w in ws}))
            )
        )
    return tuple(rows), tuple(findings)
