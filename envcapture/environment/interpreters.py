"""Python interpreters on this machine: find a CPython of a given version, and tell
whether this machine is the target's platform (only then can code built here run there).

Used by the build side (a target interpreter to build compiled wheels) and by the target
side (the interpreter that rebuilds the job's environment).
"""

from __future__ import annotations

import functools
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.version import InvalidVersion, Version

__all__ = ["find_interpreter", "host_matches"]


def host_matches(sys_platform: str, machine: str) -> bool:
    """Whether this machine is the target's platform (Linux x86_64): only then can a
    compiled wheel built here run there."""
    return sys.platform == sys_platform and platform.machine().lower() in (
        machine.lower(),
        {"x86_64": "amd64"}.get(machine, machine),
    )


@functools.lru_cache(maxsize=64)
def _probe(python: str) -> tuple[str, str] | None:
    """(``X.Y.Z``, implementation) of ``python``, or ``None`` when it does not run."""
    try:
        done = subprocess.run(
            [python, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3], sys.implementation.name)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    parts = done.stdout.split()
    return (parts[0], parts[1]) if len(parts) == 2 else None


def _version_key(path: str) -> Version:
    match = re.search(r"(\d+\.\d+(\.\d+)?)", Path(path).parent.parent.name)
    try:
        return Version(match.group(1)) if match else Version("0")
    except InvalidVersion:
        return Version("0")


def find_interpreter(version: str, *, hints: Sequence[str | None] = (), environ: Mapping[str, str] | None = None) -> str | None:
    """A CPython executable of ``version`` (``"3.10"`` or ``"3.10.13"``) on this machine.

    Looked for in order: ``hints`` (the analysed interpreter), the interpreter running
    envcapture, ``$ENVCAPTURE_PYTHON_3_10``, ``python3.10`` on ``PATH``, then pyenv's
    ``$PYENV_ROOT/versions/3.10.*/bin/python`` (newest patch first). Each candidate is run
    once to check its version.
    """
    env = os.environ if environ is None else environ
    parts = version.split(".")
    minor = ".".join(parts[:2])
    exact = version if len(parts) >= 3 else None
    candidates: list[str] = [h for h in hints if h]
    candidates.append(sys.executable)
    override = env.get(f"ENVCAPTURE_PYTHON_{minor.replace('.', '_')}")
    if override:
        candidates.insert(0, override)
    on_path = shutil.which(f"python{minor}")
    if on_path:
        candidates.append(on_path)
    roots = [env.get("PYENV_ROOT"), str(Path.home() / ".pyenv"), "/root/.pyenv"]
    pyenv: list[str] = []
    for root in dict.fromkeys(r for r in roots if r):
        pyenv += glob.glob(os.path.join(root, "versions", f"{minor}.*", "bin", "python"))
    candidates += sorted(set(pyenv), key=_version_key, reverse=True)
    fallback: str | None = None
    for candidate in dict.fromkeys(candidates):
        found = _probe(candidate)
        if found is None or found[1] != "cpython":
            continue
        full = found[0]
        if ".".join(full.split(".")[:2]) != minor:
            continue
        if exact is None or full == exact:
            return candidate
        fallback = fallback or candidate
    return fallback
