"""The accelerator of the target: ``--accelerator`` / ``ENVCAPTURE_ACCELERATOR``, else the
config's first ``cloud-instance-types`` entry, else the variant installed locally. Pure.

Values of ``--accelerator``: ``cpu``; ``cuda`` (the index's default CUDA build: PyPI's Linux
x86_64 torch wheels are CUDA builds); ``cuXYZ`` (a CUDA line of the PyTorch index:
``cu126`` is CUDA 12.6, ``cu130`` CUDA 13.0). Instance types map to an accelerator by their
family through the table ``envcapture/data/instance_types.json`` (data, not code).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from envcapture._fs import data_file
from envcapture.errors import InputError

__all__ = ["ACCELERATOR_ENV", "AcceleratorChoice", "choose_accelerator", "instance_families", "parse_accelerator"]


def __dir__() -> list[str]:
    return list(__all__)


ACCELERATOR_ENV = "ENVCAPTURE_ACCELERATOR"
_CU_RE = re.compile(r"^cu(?P<major>\d{2,3}?)(?P<minor>\d)$")
_FAMILY_RE = re.compile(r"^(?P<family>[a-z]+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceleratorChoice:
    """The target's accelerator and where it was decided.

    ``accelerator``: ``"cpu"``, ``"cuda"`` or ``None`` (the locally installed variant is
    kept); ``cuda``: the CUDA line (``"12.6"``) or ``None``; ``source``: for people
    (``--accelerator cu126``, ``cloud-instance-types g1.1``, ``the local install``).
    """

    accelerator: str | None
    cuda: str | None
    source: str


def parse_accelerator(text: str, *, where: str = "--accelerator") -> tuple[str, str | None]:
    """``cpu`` / ``cuda`` / ``cuXYZ`` -> (accelerator, CUDA line).

    :raises InputError: any other value (one line naming ``where``).
    """
    value = text.strip().lower()
    if value in ("cpu", "cuda"):
        return value, None
    match = _CU_RE.match(value)
    if match is None:
        raise InputError(f"{where}: {text!r} is not an accelerator (cpu, cuda, or a CUDA line such as cu126, cu128, cu130)")
    return "cuda", f"{int(match.group('major'))}.{match.group('minor')}"


@functools.lru_cache(maxsize=1)
def instance_families() -> Mapping[str, str]:
    """``{family: accelerator}`` from ``envcapture/data/instance_types.json``."""
    text = data_file("instance_types.json").read_text(encoding="utf-8")
    return {str(row["family"]): str(row["accelerator"]) for row in json.loads(text)["families"]}


def _instance_accelerator(instance_type: str) -> str | None:
    match = _FAMILY_RE.match(instance_type.strip().lower())
    if match is None:
        return None
    families = instance_families()
    family = match.group("family")
    for size in range(len(family), 0, -1):
        found = families.get(family[:size])
        if found is not None:
            return found
    return None


def choose_accelerator(flag: str | None, instance_types: Sequence[str] = ()) -> AcceleratorChoice:
    """The accelerator from ``flag`` (``--accelerator`` or ``ENVCAPTURE_ACCELERATOR``), else
    the first of ``instance_types`` (an unknown family decides nothing), else none.

    :raises InputError: ``flag`` is not an accelerator.
    """
    if flag:
        accelerator, cuda = parse_accelerator(flag)
        return AcceleratorChoice(accelerator=accelerator, cuda=cuda, source=f"--accelerator {flag.strip().lower()}")
    if instance_types:
        first = instance_types[0]
        found = _instance_accelerator(first)
        if found is not None:
            return AcceleratorChoice(accelerator=found, cuda=None, source=f"cloud-instance-types {first}")
    return AcceleratorChoice(accelerator=None, cuda=None, source="the local install")
