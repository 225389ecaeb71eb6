"""The analysed interpreter and what is installed in it."""

from __future__ import annotations

from dataclasses import dataclass, field

from envcapture.model import Diagnostic, DistName, ModuleName, dist_name

# --- the analysed environment (environment.py) ----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class DistributionInfo:
    """One installed distribution, read from its ``.dist-info`` / ``.egg-info``."""

    name: DistName
    display_name: str  # the Name field as written: "PyYAML"
    version: str
    requires: tuple[str, ...] = ()  # Requires-Dist, raw
    provides_extras: tuple[str, ...] = ()
    requires_python: str | None = None
    top_level: tuple[ModuleName, ...] = ()  # import names it provides at the top
    modules: tuple[ModuleName, ...] = ()  # every module/package dotted name its RECORD holds
    location: str = ""  # the sys.path entry it is installed in (absolute)
    metadata_dir: str = ""  # absolute path of the .dist-info / .egg-info directory
    direct_url: str | None = None  # PEP 610 direct_url.json text, verbatim
    editable_roots: tuple[str, ...] = ()  # absolute source dirs of an editable install
    installer: str | None = None
    requested: bool = False  # REQUESTED file present (installed on purpose)
    has_record: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvSnapshot:
    """The analysed interpreter and what is installed in it, read in one subprocess."""

    executable: str
    python_version: str  # "3.11.7"
    implementation: str = "cpython"
    sys_platform: str = "linux"
    platform_machine: str = "x86_64"
    prefix: str = ""
    base_prefix: str = ""
    sys_path: tuple[str, ...] = ()  # absolute entries, the script dir and cwd removed
    site_packages: tuple[str, ...] = ()  # in sys.path order; may lie inside a stdlib dir
    stdlib_dirs: tuple[str, ...] = ()  # sysconfig stdlib/platstdlib holding os.py, lib-dynload
    distributions: tuple[DistributionInfo, ...] = ()
    editable_mappings: tuple[tuple[str, str], ...] = ()  # (top-level name, abs path) from PEP 660 finders
    # Later copies of a name already found earlier on sys.path (importlib uses the first).
    shadowed: tuple[DistributionInfo, ...] = ()
    # Unreadable metadata directories and the like: reported, not fatal.
    diagnostics: tuple[Diagnostic, ...] = ()
    # The SHA-256 of the snapshot cache entry it was read from or stored as (fingerprint and
    # snapshot): a cheap key for what is a function of the whole environment, where a repr
    # of thousands of modules would cost milliseconds. "" when built without the cache
    # (`envcapture.environment.snapshot.snapshot_identity` then digests the repr). Not part
    # of the snapshot's value.
    identity: str = field(default="", compare=False, repr=False)

    def distribution(self, name: str) -> DistributionInfo | None:
        wanted = dist_name(name)
        for dist in self.distributions:
            if dist.name == wanted:
                return dist
        return None
