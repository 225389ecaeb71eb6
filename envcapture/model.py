"""The few plain types every stage shares: names, diagnostics and the target machine.

Each stage keeps its own output types in its own ``model`` module
(``analysis.model``, ``environment.model``, ``resolution.model``, ...).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, NewType

if TYPE_CHECKING:
    from packaging.tags import Tag

__all__ = [
    "Diagnostic",
    "DistName",
    "ModuleName",
    "Severity",
    "Target",
    "dist_name",
]

ModuleName = NewType("ModuleName", str)
"""A dotted, absolute module name: ``sklearn.linear_model``."""

DistName = NewType("DistName", str)
"""A distribution name canonicalized by PEP 503 rules: ``scikit-learn``."""


def dist_name(name: str) -> DistName:
    """Canonicalize ``name`` (``PyYAML`` -> ``pyyaml``)."""
    # Imported here: packaging.utils loads packaging.tags and .version (~30 ms), which a
    # warm analysis never needs.
    from packaging.utils import canonicalize_name

    return DistName(canonicalize_name(name))


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Diagnostic:
    """A problem found while analysing that does not stop the analysis.

    ``file`` is relative to the project (POSIX) where it can be.
    """

    file: str | None
    line: int | None
    code: str  # stable, kebab-case: "parse-error", "undecided-entry-point", ...
    message: str
    severity: Severity = Severity.WARNING

    def __str__(self) -> str:
        where = self.file or ""
        if where and self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message


# --- the target ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The machine the job will run on: Linux x86_64 with a given CPython."""

    python_version: str  # "3.10" or "3.10.13"
    sys_platform: str = "linux"
    platform_machine: str = "x86_64"
    platform_system: str = "Linux"
    os_name: str = "posix"
    implementation_name: str = "cpython"
    manylinux: str = "2_28"  # glibc level of the target
    cuda: str | None = None  # the CUDA line of a GPU target ("12.6", "13.0"); None: the index's default build
    accelerator: str | None = None  # "cpu" or "cuda"; None: the variant installed locally is kept

    @property
    def gpu(self) -> bool:
        """A CUDA target (``accelerator="cuda"``, or a CUDA line given)."""
        return self.accelerator == "cuda" or self.cuda is not None

    def accelerator_text(self) -> str:
        """``CPU``, ``CUDA 12.6``, ``CUDA`` (the index's default build), or ``as installed``."""
        if self.gpu:
            return f"CUDA {self.cuda}" if self.cuda else "CUDA"
        return "CPU" if self.accelerator == "cpu" else "accelerator as installed"

    @property
    def python_minor(self) -> tuple[int, int]:
        major, minor = self.python_version.split(".")[:2]
        return int(major), int(minor)

    def marker_environment(self) -> dict[str, str]:
        """The PEP 508 marker environment of the target."""
        major, minor = self.python_minor
        parts = self.python_version.split(".")
        full = self.python_version if len(parts) >= 3 else f"{major}.{minor}.0"
        return {
            "implementation_name": self.implementation_name,
            "implementation_version": full,
            "os_name": self.os_name,
            "platform_machine": self.platform_machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": self.platform_system,
            "platform_version": "",
            "python_full_version": full,
            "python_version": f"{major}.{minor}",
            "sys_platform": self.sys_platform,
        }

    def describe(self) -> str:
        """``CPython 3.11 on linux x86_64 (manylinux_2_28, CUDA 12.1)``: the target in messages
        and in the header of the lock file."""
        major, minor = self.python_minor
        acc = f", {self.accelerator_text()}" if self.gpu or self.accelerator == "cpu" else ""
        return f"CPython {major}.{minor} on {self.sys_platform} {self.platform_machine} (manylinux_{self.manylinux}{acc})"

    def platform_tags(self) -> tuple[str, ...]:
        """``manylinux_2_28_x86_64`` down to ``manylinux_2_5_x86_64``, then the legacy aliases
        ``manylinux2014``/``2010``/``1`` at or below the target's glibc (pip matches platform
        strings exactly, so ``pip download --platform`` gets each of them)."""
        arch = self.platform_machine
        glibc_major, glibc_minor = (int(x) for x in self.manylinux.split("_")[:2])
        platforms = [f"manylinux_{glibc_major}_{m}_{arch}" for m in range(glibc_minor, 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        platforms += [f"{legacy[m]}_{arch}" for m in (17, 12, 5) if m <= glibc_minor]
        return tuple(platforms)

    def wheel_tags(self, *, built_here: bool = False) -> tuple[Tag, ...]:
        """The wheel tags the target installs, most specific first: ``cp3X-cp3X``, ``abi3``,
        ``cp3X-none``, ``py3*-none`` on `platform_tags`, then ``py3-none-any``.

        ``linux_<arch>`` only with ``built_here``: a wheel built on this Linux machine by the
        target's CPython. From an index such a wheel is not portable (it links against the
        glibc of whatever machine built it) and ``pip download --platform manylinux_*``
        never takes it.
        """
        from packaging.tags import compatible_tags, cpython_tags

        major, minor = self.python_minor
        platforms = list(self.platform_tags())
        if built_here:
            platforms.append(f"linux_{self.platform_machine}")
        interp = f"cp{major}{minor}"
        tags = [*cpython_tags(python_version=(major, minor), abis=[interp], platforms=platforms)]
        tags += compatible_tags(python_version=(major, minor), interpreter=interp, platforms=platforms)
        return tuple(dict.fromkeys(tags))
