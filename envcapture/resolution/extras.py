"""An installed distribution + `EnvSnapshot` + the target's markers -> its installed extras. Pure.

A library often imports an optional dependency inside one of its functions:
``pandas.read_parquet`` imports ``pyarrow``, ``httpx`` imports ``h2`` for HTTP/2. Static
analysis of the job never sees that import, and the library's base requirements do not
name it; its *extra* does (``pandas[parquet]``, ``httpx[http2]``). When every requirement
of such an extra (those true for the target) is installed in the analysed environment,
the job was set up with that extra: the rule adds the extra, and its requirements join
the closure with the reason ``extra parquet of pandas, installed locally``.

False positives are kept out two ways: an extra counts only when *all* its requirements
are installed at versions it accepts (one installed package shared by many extras does
not pull any of them in), and extras that name tooling a job never imports at run time
(``test``, ``dev``, ``docs``, ``lint``...) are skipped, from the data table
``envcapture/data/skipped_extras.txt``.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement

from envcapture._fs import data_file
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.model import DistName, dist_name

__all__ = [
    "InstalledExtra",
    "evaluate_marker",
    "extra_reason",
    "installed_extras",
    "is_skipped_extra",
    "provided_extras",
    "skipped_extra_patterns",
]


def __dir__() -> list[str]:
    return list(__all__)


_DATA = "skipped_extras.txt"
# ``extra == "parquet"`` / ``'parquet' == extra``: the extras a marker can apply to. Reading
# them from the text spares evaluating every requirement of a distribution for each of its
# extras (transformers has ~100 extras over ~200 requirement lines).
_EXTRA_IN_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']|["']([^"']+)["']\s*==\s*extra""")


def evaluate_marker(marker: Marker, env: Mapping[str, str], extra: str = "") -> bool:
    """``marker`` in ``env`` with ``extra`` set; an undecidable marker (``platform_release
    >= "5"`` with an empty release) counts as true, which keeps the dependency."""
    try:
        return marker.evaluate({**env, "extra": extra})
    except Exception:  # noqa: BLE001 - packaging raises several types for undecidable markers
        return True


@functools.cache
def skipped_extra_patterns() -> tuple[str, ...]:
    """The patterns of ``envcapture/data/skipped_extras.txt``, normalised, in file order."""
    text = data_file(_DATA).read_text(encoding="utf-8")
    patterns = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            patterns.append("*".join(dist_name(part) if part else "" for part in line.split("*")))
    return tuple(patterns)


@functools.cache
def _skipped_regex() -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in skipped_extra_patterns()))


def is_skipped_extra(extra: str) -> bool:
    """Whether the extra names tooling a job never imports at run time (tests, docs, lint...)."""
    return _skipped_regex().match(dist_name(extra)) is not None


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class InstalledExtra:
    """An extra of ``dist`` whose requirements for the target are all installed here."""

    dist: DistName
    extra: str  # normalised (PEP 685)
    requirements: tuple[str, ...]  # the requirements it adds, as written ("pyarrow>=10.0.1")
    skipped: bool = False  # complete, but named in skipped_extras.txt: not added


def extra_reason(display_name: str, extras: Iterable[str]) -> str:
    """``extra parquet of pandas, installed locally`` (``extras a, b of ...`` for several)."""
    names = sorted(extras)
    label = "extra" if len(names) == 1 else "extras"
    return f"{label} {', '.join(names)} of {display_name}, installed locally"


def _parsed(dist: DistributionInfo) -> list[Requirement]:
    out = []
    for text in dist.requires:
        try:
            out.append(Requirement(text))
        except InvalidRequirement:
            continue  # the closure walk reports it as a decision
    return out


def _marker_extras(req: Requirement) -> set[DistName]:
    if req.marker is None:
        return set()
    return {dist_name(a or b) for a, b in _EXTRA_IN_MARKER.findall(str(req.marker))}


class _Judge:
    """Answers "is this extra of this distribution complete here?", remembering the answers
    (an extra may name another extra of the same or another distribution)."""

    def __init__(self, snapshot: EnvSnapshot, env: Mapping[str, str]) -> None:
        self.snapshot = snapshot
        self.env = env
        self.requires: dict[DistName, list[Requirement]] = {}
        self.by_extra: dict[DistName, dict[DistName, list[Requirement]]] = {}
        self.answers: dict[tuple[DistName, str], tuple[str, ...] | None] = {}

    def requirements_of(self, dist: DistributionInfo) -> list[Requirement]:
        if dist.name not in self.requires:
            self.requires[dist.name] = _parsed(dist)
        return self.requires[dist.name]

    def extra_requirements(self, dist: DistributionInfo, extra: str) -> list[Requirement]:
        """The requirements that ``extra`` adds for the target (not those of the base)."""
        if dist.name not in self.by_extra:
            index: dict[DistName, list[Requirement]] = {}
            for req in self.requirements_of(dist):
                for name in _marker_extras(req):
                    index.setdefault(name, []).append(req)
            self.by_extra[dist.name] = index
        return [
            req
            for req in self.by_extra[dist.name].get(dist_name(extra), ())
            if req.marker is not None
            and evaluate_marker(req.marker, self.env, extra)
            and not evaluate_marker(req.marker, self.env, "")
        ]

    def complete(self, dist: DistributionInfo, extra: str) -> tuple[str, ...] | None:
        """The requirements of ``extra`` when every one is installed at an accepted version
        (and so is each extra they name), else None; None for an extra that adds nothing."""
        key = (dist.name, extra)
        if key in self.answers:
            return self.answers[key]
        self.answers[key] = None  # a cycle through this extra (all -> parquet -> all) is not complete
        reqs = self.extra_requirements(dist, extra)
        ok = bool(reqs) and all(self._installed(req) for req in reqs)
        answer = tuple(sorted(str(_without_marker(r)) for r in reqs)) if ok else None
        self.answers[key] = answer
        return answer

    def _installed(self, req: Requirement) -> bool:
        child = self.snapshot.distribution(req.name)
        if child is None or req.url:
            return False
        if req.specifier and not req.specifier.contains(child.version, prereleases=True):
            return False
        return all(self.complete(child, dist_name(e)) is not None for e in req.extras)


def _without_marker(req: Requirement) -> Requirement:
    copy = Requirement(str(req))
    copy.marker = None
    return copy


def provided_extras(dist: DistributionInfo, requires: Sequence[Requirement]) -> list[str]:
    """Provides-Extra, normalised; for old metadata without it, the extras its markers name."""
    names: set[DistName] = {dist_name(e) for e in dist.provides_extras}
    if not names:
        for req in requires:
            names |= _marker_extras(req)
    return sorted(names)


def installed_extras(dist: DistributionInfo, snapshot: EnvSnapshot, env: Mapping[str, str]) -> tuple[InstalledExtra, ...]:
    """Every extra of ``dist`` complete in ``snapshot`` for the target marker environment
    ``env``, sorted; those named in ``skipped_extras.txt`` are returned with ``skipped``."""
    judge = _Judge(snapshot, env)
    found = []
    for extra in provided_extras(dist, judge.requirements_of(dist)):
        reqs = judge.complete(dist, extra)
        if reqs is None:
            continue
        found.append(InstalledExtra(dist=dist.name, extra=extra, requirements=reqs, skipped=is_skipped_extra(extra)))
    return tuple(found)
