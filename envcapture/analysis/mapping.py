"""Import name of a module that is NOT installed -> the distribution that probably provides it. Pure.

Two tables under ``envcapture/data/``: ``extra_mapping.txt`` (envcapture's own, wins)
and ``pipreqs_mapping.txt`` (pipreqs 0.5.0, Apache-2.0, see ``data/NOTICE``). A lookup
tries the longest dotted prefix of the module first (``google.cloud.storage.blob`` ->
``google.cloud.storage``). A name in neither table has no guess: the module name is
never silently taken for a distribution name; the caller decides.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources

__all__ = ["distribution_candidates", "guess_distribution"]

_EXTRA = "extra_mapping.txt"
_PIPREQS = "pipreqs_mapping.txt"
_NO_GUESS = "-"


def _lines(filename: str) -> list[tuple[str, str]]:
    text = (resources.files("envcapture") / "data" / filename).read_text(encoding="utf-8")
    pairs = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or ":" not in line:
            continue
        module, dist = (part.strip() for part in line.split(":", 1))
        if module and dist:
            pairs.append((module, dist))
    return pairs


@functools.cache
def _tables() -> tuple[Mapping[str, str], Mapping[str, tuple[str, ...]]]:
    extra = dict(_lines(_EXTRA))
    pipreqs: dict[str, list[str]] = {}
    for module, dist in _lines(_PIPREQS):
        candidates = pipreqs.setdefault(module, [])
        if dist not in candidates:
            candidates.append(dist)
    return extra, {module: tuple(dists) for module, dists in pipreqs.items()}


def distribution_candidates(module: str) -> tuple[str, ...]:
    """Every distribution the tables name for the longest known dotted prefix of ``module``.

    ``()`` when no prefix is known or the entry says "no guess" (``google``). pipreqs
    lists several projects for some names (``azure``, ``plone``): all are returned, in
    the table's order. Names are as the tables spell them (``PyYAML``), not canonical.
    """
    extra, pipreqs = _tables()
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        prefix = ".".join(parts[:depth])
        if prefix in extra:
            dist = extra[prefix]
            return () if dist == _NO_GUESS else (dist,)
        if prefix in pipreqs:
            return pipreqs[prefix]
    return ()


def guess_distribution(module: str) -> str | None:
    """The distribution that probably provides ``module`` when it is not installed, or None.

    ``sklearn.linear_model`` -> ``"scikit-learn"``; ``google.protobuf.message`` ->
    ``"protobuf"``; ``google.foo`` -> None (a namespace shared by many projects); a
    name pipreqs maps to several projects -> None; an unknown name -> None.
    """
    candidates = distribution_candidates(module)
    return candidates[0] if len(candidates) == 1 else None


def __dir__() -> list[str]:
    return list(__all__)
