"""The data of the resolution stage: what `resolve` takes and the `Closure` it gives.

Frozen data only: the direct requirements and pip options going in; the pins with their
origins (PEP 610 identity), deliveries, artifacts and reasons (`Via`) coming out, with what
was dropped, left unresolved for the target, and every `Decision` taken on the way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from envcapture.model import DistName, dist_name

__all__ = [
    "Artifact",
    "Closure",
    "Decision",
    "Delivery",
    "DirectRequirement",
    "Dropped",
    "Origin",
    "OriginKind",
    "PackageSource",
    "Pin",
    "ResolveOptions",
    "SourceKind",
    "Unresolved",
    "VariantSwap",
    "Via",
    "ViaKind",
]


def __dir__() -> list[str]:
    return list(__all__)


class OriginKind(str, enum.Enum):
    INDEX = "index"
    VCS = "vcs"
    URL = "url"
    LOCAL_DIR = "local-dir"
    EDITABLE = "editable"


class Delivery(str, enum.Enum):
    """How a pinned distribution reaches the target."""

    INDEX = "index"  # name==version from the configured (or a mapped) index
    DIRECT = "direct"  # a PEP 508 direct reference the target fetches: VCS commit or URL
    WHEELHOUSE = "wheelhouse"  # a wheel built or copied here and shipped with the job


class ViaKind(str, enum.Enum):
    IMPORT = "import"  # an import site, "train.py:3"
    REQUIREMENT = "requirement"  # a requirements-file line, "requirements.txt:4"
    PARENT = "parent"  # a distribution whose Requires-Dist names this one
    # The rules that add a distribution the job's code does not import (README, "What
    # ships and why"); each Via of these kinds carries its ``reason``.
    INSTALLED_EXTRA = "installed-extra"  # "pandas[parquet]": an extra whose requirements are all installed here
    RUNTIME_IMPORT = "runtime-import"  # "pandas": an included distribution imported it at run time
    WITH = "with"  # "--with pyarrow", "pyproject.toml:12": asked for by name

    @property
    def adds(self) -> bool:
        """A kind that adds a distribution the code does not import (one of the rules above)."""
        return self in (ViaKind.INSTALLED_EXTRA, ViaKind.RUNTIME_IMPORT, ViaKind.WITH)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Via:
    """Why a distribution is in the closure: ``source`` is a site, a file:line or a name
    (``pandas``, ``pandas[parquet]``); ``reason`` says it in words for the kinds that add a
    distribution (``extra parquet of pandas, installed locally``)."""

    source: str
    kind: ViaKind = ViaKind.PARENT
    reason: str = ""

    def __str__(self) -> str:
        return self.source

    @property
    def parent(self) -> DistName | None:
        """The distribution that brought this one in (``pandas`` for ``pandas[parquet]``), if any."""
        if self.kind not in (ViaKind.PARENT, ViaKind.INSTALLED_EXTRA, ViaKind.RUNTIME_IMPORT):
            return None
        return dist_name(self.source.split("[", 1)[0])


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Origin:
    """Where an installed distribution came from (PEP 610 ``direct_url.json``).

    ``archive_hash`` is ``"sha256=<hex>"`` as in PEP 610; ``index_url`` is set only when a
    pin must come from a specific index (a PyTorch variant index).
    """

    kind: OriginKind
    url: str | None = None
    vcs: str | None = None
    commit_id: str | None = None
    requested_revision: str | None = None
    subdirectory: str | None = None
    archive_hash: str | None = None
    index_url: str | None = None

    @property
    def is_local(self) -> bool:
        """The URL points at this machine (``file://``): the target cannot fetch it."""
        return self.url is not None and urlsplit(self.url).scheme == "file"

    def direct_reference(self) -> str | None:
        """The PEP 508 URL to install this origin exactly: ``git+https://h/r.git@<commit>``."""
        if self.url is None or self.kind in (OriginKind.INDEX, OriginKind.EDITABLE, OriginKind.LOCAL_DIR):
            return None
        url = self.url
        if self.kind is OriginKind.VCS:
            url = f"{self.vcs}+{url}" if self.vcs and not url.startswith(f"{self.vcs}+") else url
            if self.commit_id:
                url = f"{url}@{self.commit_id}"
        if self.subdirectory:
            url = f"{url}#subdirectory={self.subdirectory}"
        return url


class SourceKind(str, enum.Enum):
    INDEX = "index"  # a PEP 503 index: ``location`` is its base URL
    FIND_LINKS = "find-links"  # a find-links directory or page


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class PackageSource:
    """Where pip found a file: an index or a find-links location, as configured, with
    credentials masked (``https://***@host/simple``): never a secret, safe to write."""

    kind: SourceKind
    location: str

    def __str__(self) -> str:
        return self.location if self.kind is SourceKind.INDEX else f"{self.location} (find-links)"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Artifact:
    """One file a pin can be installed from, with its hashes (``"sha256:<hex>"``) and,
    when known, the source it was found on."""

    filename: str
    hashes: tuple[str, ...]
    url: str | None = None
    size: int | None = None
    found_on: PackageSource | None = None


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Pin:
    """One distribution of the closure, at the exact version the target installs.

    ``version`` is what the target asks for (a mapped PyTorch variant may differ from
    ``installed_version``). ``local_label`` is the local version label found installed
    (``"cpu"`` for ``2.13.0+cpu``). ``source`` is the absolute local path a wheelhouse
    build reads (never rendered into any output).
    """

    name: DistName
    display_name: str
    version: str
    origin: Origin
    delivery: Delivery = Delivery.INDEX
    installed_version: str = ""
    extras: frozenset[str] = frozenset()
    via: tuple[Via, ...] = ()
    marker_reason: str | None = None
    local_label: str | None = None
    requires_python: str | None = None
    artifacts: tuple[Artifact, ...] = ()
    source: str | None = None
    # Extras whose requirements were all installed here and so joined the closure; not
    # written on the install line (those requirements are pinned lines of their own).
    installed_extras: frozenset[str] = frozenset()

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(sorted({h for a in self.artifacts for h in a.hashes}))


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Dropped:
    """A distribution left out for the target, and why."""

    name: DistName
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Decision:
    """A choice made while resolving: ``subject`` (a name or an option), ``action``
    (kebab-case, stable), ``reason`` (one sentence for people)."""

    subject: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Unresolved:
    """A distribution the target needs that the local environment does not have."""

    name: DistName
    specifier: str = ""
    extras: frozenset[str] = frozenset()
    required_by: tuple[Via, ...] = ()
    reason: str = ""

    def requirement(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveOptions:
    """pip options for the target: ``env.python.pip``, merged with a requirements file,
    over pip's own configuration (`envcapture.resolution.sources.with_pip_config`).

    ``torch_cuda``: ``None`` maps PyTorch local builds to the plain index release (PyPI's
    Linux wheels are CUDA builds); ``"12.1"`` pins ``+cu121`` from the PyTorch index;
    ``"cpu"`` pins ``+cpu`` from it. ``installed_extras``: an extra of a distribution in
    the closure whose requirements are all installed here joins it
    (`envcapture.resolution.extras`).
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_deps: bool = False
    torch_cuda: str | None = None
    no_index: bool = False
    pre: bool = False
    prefer_binary: bool = False
    installed_extras: bool = False
    transport: tuple[tuple[str, str], ...] = ()  # pip's cert, client-cert, proxy, keyring-provider


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectRequirement:
    """A distribution the job needs directly. ``via``: import sites or file:line;
    ``reasons``: the `Via` of a rule that adds it (``--with``, a run-time import by
    another distribution), with its words.

    ``declared`` marks one that a person wrote (a requirements file): how its specifier
    was pinned is then reported as a decision.
    """

    name: DistName
    extras: frozenset[str] = frozenset()
    via: tuple[str, ...] = ()
    specifier: str = ""
    url: str | None = None
    editable: bool = False
    markers: str | None = None
    declared: bool = False
    reasons: tuple[Via, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class VariantSwap:
    """A package published in accelerator variants whose target build replaces the local one.

    ``build`` names the target's build for people (``CUDA 13 build``, ``CPU build``);
    ``added`` are the packages the target build requires that the closure did not have
    (or had at another version), ``removed`` those only the local build required.
    """

    name: DistName
    installed_version: str
    version: str
    build: str
    added: tuple[DistName, ...] = ()
    removed: tuple[DistName, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Closure:
    """Everything the target installs, sorted by name, with what was left out and why."""

    pins: tuple[Pin, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    decisions: tuple[Decision, ...] = ()
    unresolved_for_target: tuple[Unresolved, ...] = ()
    options: ResolveOptions = field(default_factory=ResolveOptions)
    swaps: tuple[VariantSwap, ...] = ()

    def pin(self, name: str) -> Pin | None:
        wanted = dist_name(name)
        return next((p for p in self.pins if p.name == wanted), None)
