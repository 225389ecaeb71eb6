"""Scalar text of a job config -> values: sizes and durations."""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["GiB", "TiB", "parse_duration", "parse_size"]

GiB = 2**30
TiB = 2**40

_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGTkmgt])(?:i?[Bb])?\Z")
_UNITS = {"K": 2**10, "M": 2**20, "G": GiB, "T": TiB}
_DURATION_RE = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+(?:\.[0-9]+)?)s)?\Z")


def parse_size(text: str) -> int:
    """``150Gb``, ``100GB``, ``1Tb``, ``10 TB``, ``512Mi`` -> bytes, in binary units (1 GB = 2**30).

    :raises ValueError: not a size with a unit.
    """
    match = _SIZE_RE.match(text.strip())
    if match is None:
        raise ValueError(text)
    number, unit = match.groups()
    return int(Decimal(number) * _UNITS[unit.upper()])


def parse_duration(text: str) -> float:
    """``15s``, ``1m``, ``2h``, ``1d2h3m``, ``1m30s``, ``1.5s`` or whole seconds ``90`` -> seconds.

    :raises ValueError: not a duration.
    """
    text = text.strip()
    if text.isdigit():
        return float(int(text))
    match = _DURATION_RE.match(text)
    if match is None or not any(match.groups()):
        raise ValueError(text)
    days, hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds
