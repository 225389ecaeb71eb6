"""Module name + TARGET Python version -> is it the standard library's? Pure (reads package data).

The table (``envcapture/data/stdlib_modules.json``, made by ``scripts/gen_stdlib.py``)
holds the top-level names per minor version 3.8 to 3.14, so the answer is for the
target, not for the interpreter running envcapture: ``distutils`` is stdlib for 3.11
and not for 3.12; ``tomllib`` only from 3.11. A version newer than the table uses its
newest row (the removals of a future version are not known yet).
"""

from __future__ import annotations

import functools
import json
import re

from envcapture._fs import data_file
from envcapture.errors import InputError

__all__ = ["SUPPORTED_VERSIONS", "is_stdlib", "stdlib_names"]

_DATA = "stdlib_modules.json"
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:[.\w+-]*)\s*$")


@functools.cache
def _table() -> dict[tuple[int, int], frozenset[str]]:
    text = data_file(_DATA).read_text(encoding="utf-8")
    document = json.loads(text)
    return {_parse_minor(version): frozenset(names) for version, names in document["versions"].items()}


def _parse_minor(version: str) -> tuple[int, int]:
    match = _VERSION.match(version)
    if match is None:
        raise InputError(f"python version {version!r}: expected MAJOR.MINOR such as '3.11'")
    return int(match.group(1)), int(match.group(2))


SUPPORTED_VERSIONS: tuple[tuple[int, int], ...] = tuple((3, minor) for minor in range(8, 15))
"""The minor versions the table covers; newer ones use the newest row."""


def stdlib_names(python_minor: tuple[int, int]) -> frozenset[str]:
    """The top-level standard-library module names of Python ``python_minor`` (private ``_x`` ones too).

    :raises InputError: a version older than 3.8 (or not Python 3).
    """
    table = _table()
    if python_minor in table:
        return table[python_minor]
    newest = max(table)
    if python_minor[0] == newest[0] and python_minor > newest:
        return table[newest]
    oldest = min(table)
    raise InputError(
        f"python {python_minor[0]}.{python_minor[1]}: the standard-library table covers "
        f"{oldest[0]}.{oldest[1]} to {newest[0]}.{newest[1]}"
    )


def is_stdlib(module: str, python_version: str) -> bool:
    """Whether ``module`` (dotted, absolute) belongs to the standard library of ``python_version``.

    ``python_version`` is ``"3.10"`` or ``"3.10.13"``. Judged on the top-level name:
    ``os.path`` is stdlib, ``distutils.core`` is not on 3.12. A relative name
    (``.sibling``) is never stdlib.

    :raises InputError: an unreadable or unsupported version.
    """
    if not module or module.startswith("."):
        return False
    return module.split(".", 1)[0] in stdlib_names(_parse_minor(python_version))


def __dir__() -> list[str]:
    return list(__all__)
