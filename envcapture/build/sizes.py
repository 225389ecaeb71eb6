"""How big the environment is: download and unpacked size per wheel and in all. EDGE: reads the wheels.

The download size is the wheel's size; the unpacked size is the sum of its members'
uncompressed sizes (what ``pip install`` writes, without bytecode). A total above
`SIZE_WARNING` (``ENVCAPTURE_SIZE_WARNING_GB`` overrides it) earns a warning: every run
of the job on a fresh VM downloads and unpacks that much.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from envcapture.build.wheelhouse import WheelFile
from envcapture.model import DistName

__all__ = ["SIZE_WARNING", "PackageSize", "size_warning_bytes", "wheel_sizes"]


def __dir__() -> list[str]:
    return __all__


SIZE_WARNING = 5 * 10**9  # bytes unpacked


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class PackageSize:
    """One wheel of the environment: its download size and unpacked size in bytes."""

    name: DistName
    version: str
    download: int
    unpacked: int


def _unpacked(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile):
        return 0


def wheel_sizes(directory: Path, wheels: Iterable[WheelFile]) -> tuple[PackageSize, ...]:
    """The sizes of ``wheels`` (as written to ``directory``), largest unpacked first."""
    found = [
        PackageSize(name=w.name, version=w.version, download=w.size, unpacked=_unpacked(directory / w.filename)) for w in wheels
    ]
    return tuple(sorted(found, key=lambda s: (-s.unpacked, s.name)))


def size_warning_bytes(environ: Mapping[str, str] | None = None) -> int:
    """`SIZE_WARNING`, or ``ENVCAPTURE_SIZE_WARNING_GB`` (decimal GB) when set to a number."""
    raw = (os.environ if environ is None else environ).get("ENVCAPTURE_SIZE_WARNING_GB", "")
    try:
        return int(float(raw) * 10**9) if raw.strip() else SIZE_WARNING
    except ValueError:
        return SIZE_WARNING
