"""What ships although the code does not import it: ``--with`` requests -> `DirectRequirement`s; `Closure` -> `AddedDistribution`s. Pure.

Three rules add an installed distribution (README, "What ships and why"):

* ``installed-extra``: an extra whose requirements are all installed here
  (`envcapture.resolution.extras`, applied by the closure walk);
* ``runtime-import``: imported by an included distribution while ``analyze --runtime``
  ran (`envcapture.analysis.runtime.inside`), turned into a direct requirement here;
* ``with``: asked for by name with ``--with NAME`` or ``[tool.envcapture] with``, pinned
  to the version installed; one that is not installed is refused (`ResolutionError`).

After resolution every pin that is in the closure only through these rules is listed as
an `AddedDistribution` on the analysis, with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from envcapture.analysis.classify import RUNTIME_IMPORT, AddedDistribution, Analysis
from envcapture.config.pyproject import WithEntry, parse_with
from envcapture.environment.model import EnvSnapshot
from envcapture.errors import Location, ResolutionError
from envcapture.model import dist_name
from envcapture.resolution.model import Closure, DirectRequirement, Via, ViaKind

__all__ = ["WithRequest", "added_from_closure", "attach_added", "runtime_requirements", "with_requests", "with_requirements"]


def __dir__() -> list[str]:
    return list(__all__)


@dataclass(frozen=True, slots=True, kw_only=True)
class WithRequest:
    """One distribution asked for by name: the requirement as written and where it was written
    (``--with`` on the command line, or ``pyproject.toml:12`` with its key path)."""

    text: str
    source: str  # what the lock's "# via" shows: "--with pyarrow>=15", "pyproject.toml:12"
    location: Location


def with_requests(cli: Sequence[str], settings: Iterable[WithEntry] = ()) -> tuple[WithRequest, ...]:
    """The ``--with`` values (validated) followed by the ``[tool.envcapture] with`` entries.

    :raises InputError: a value that is not a requirement, or a URL.
    """
    out = []
    for index, text in enumerate(cli):
        location = Location(key=f"--with[{index}]" if len(cli) > 1 else "--with")
        parse_with(text, location)
        out.append(WithRequest(text=text.strip(), source=f"--with {text.strip()}", location=location))
    for entry in settings:
        where = f"{entry.location.file}:{entry.location.line}" if entry.location.line else str(entry.location.file)
        out.append(WithRequest(text=entry.text, source=where, location=entry.location))
    return tuple(out)


def with_requirements(requests: Sequence[WithRequest], snapshot: EnvSnapshot) -> tuple[DirectRequirement, ...]:
    """One direct requirement per request, pinned to the installed version.

    :raises ResolutionError: a requested distribution is not installed in ``snapshot``, or
        the installed version is outside the requested range (one line naming it and the fix).
    """
    out = []
    for request in requests:
        req = parse_with(request.text, request.location)
        name = dist_name(req.name)
        dist = snapshot.distribution(name)
        if dist is None:
            raise ResolutionError(
                f"{req.name} is not installed in the analysed environment ({snapshot.executable})",
                location=request.location,
                hint=f"install it there (pip install '{request.text}'), or drop it from --with / [tool.envcapture] with",
            )
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            raise ResolutionError(
                f"{dist.display_name} {dist.version} is installed, which is not {req.specifier}",
                location=request.location,
                hint=f"install a matching version (pip install '{request.text}'), or change the requirement",
            )
        reason = (
            f"asked for with {request.source}"
            if request.source.startswith("--with")
            else (f"asked for in [tool.envcapture] with ({request.source})")
        )
        out.append(
            DirectRequirement(
                name=name,
                extras=frozenset(dist_name(e) for e in req.extras),
                markers=str(req.marker) if req.marker is not None else None,
                reasons=(Via(source=request.source, kind=ViaKind.WITH, reason=reason),),
            )
        )
    return tuple(out)


def runtime_requirements(analysis: Analysis) -> tuple[DirectRequirement, ...]:
    """The runtime pass's additions (``imported by pandas at run time``) as direct requirements."""
    out = []
    for added in analysis.added:
        if added.rule != RUNTIME_IMPORT:
            continue
        via = Via(source=added.via, kind=ViaKind.RUNTIME_IMPORT, reason=added.reason)
        out.append(DirectRequirement(name=added.name, reasons=(via,)))
    return tuple(out)


_RULES = {ViaKind.INSTALLED_EXTRA: "installed-extra", ViaKind.RUNTIME_IMPORT: RUNTIME_IMPORT, ViaKind.WITH: "with"}


def added_from_closure(closure: Closure) -> tuple[AddedDistribution, ...]:
    """Each pin in ``closure`` only through the rules that add a distribution, one row per
    reason (a pin also imported by the code or required by another distribution is not added)."""
    rows = []
    for pin in closure.pins:
        if not pin.via or not all(v.kind.adds for v in pin.via):
            continue
        for via in pin.via:
            rows.append(
                AddedDistribution(
                    name=pin.name,
                    display_name=pin.display_name,
                    version=pin.version,
                    rule=_RULES[via.kind],
                    via=via.source,
                    reason=via.reason,
                    parent=via.parent,
                )
            )
    return tuple(sorted(rows))


def attach_added(analysis: Analysis, closure: Closure) -> Analysis:
    """``analysis`` with ``added`` as the resolved ``closure`` says."""
    return replace(analysis, added=added_from_closure(closure))
