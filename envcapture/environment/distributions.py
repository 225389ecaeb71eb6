"""`EnvSnapshot` -> which installed distributions own which import names. Pure."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

from envcapture.environment.model import EnvSnapshot
from envcapture.model import DistName, ModuleName

__all__ = ["module_owners", "owners_of"]

# module_owners() is asked once per import site; rebuilding the index (tens of thousands
# of names in an ML env) or hashing the whole frozen snapshot each time would dominate.
# A few recent snapshots are remembered by identity instead.
_CACHE_SIZE = 4
_cache: list[tuple[EnvSnapshot, Mapping[ModuleName, tuple[DistName, ...]]]] = []
_lock = threading.Lock()


def module_owners(snapshot: EnvSnapshot) -> Mapping[ModuleName, tuple[DistName, ...]]:
    """Every module name some distribution's ``modules`` holds -> the distributions holding it.

    Owners are sorted canonical names. Several owners for one name is normal for a
    namespace package at the top (``google``, ``nsroot``); for a module or a regular
    package it is a real conflict (two dists writing the same files). Only the
    distributions that win on ``sys.path`` count, not ``snapshot.shadowed``.
    The mapping is read-only and shared between calls for the same snapshot.
    """
    with _lock:
        for cached, known in _cache:
            if cached is snapshot:
                return known
    owners: dict[ModuleName, set[DistName]] = {}
    for dist in snapshot.distributions:
        for module in dist.modules:
            owners.setdefault(module, set()).add(dist.name)
    index: Mapping[ModuleName, tuple[DistName, ...]] = MappingProxyType(
        {module: tuple(sorted(names)) for module, names in sorted(owners.items())}
    )
    with _lock:
        _cache.insert(0, (snapshot, index))
        del _cache[_CACHE_SIZE:]
    return index


def owners_of(snapshot: EnvSnapshot, module: str) -> tuple[DistName, ...]:
    """The distributions owning the longest dotted prefix of ``module`` that any dist claims.

    ``google.protobuf.message`` -> ``("protobuf",)`` (not every dist under ``google``);
    ``nsroot`` -> both dists of the namespace; a name no dist claims -> ``()``.
    """
    index = module_owners(snapshot)
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        found = index.get(ModuleName(".".join(parts[:depth])))
        if found:
            return found
    return ()


def __dir__() -> list[str]:
    return list(__all__)
