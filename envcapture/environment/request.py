"""``--python REQUEST`` -> an interpreter on this machine, found as uv finds one.

A request is an interpreter path (``/usr/bin/python3.11``, ``.venv/bin/python``), a
virtualenv directory (``.venv``: its ``bin/python``), a version (``3.10``, ``3.10.13``,
``3``) or a versioned name (``python3.12``, ``cpython3.12``, ``cpython@3.12``, ``py3.12``),
or any other command name on ``PATH`` (``pypy3``).

A version is looked for, in order, in the active virtualenv (``$VIRTUAL_ENV``), on ``PATH``
(``python3.12``, ``python3``, ``python``: every directory, so a pyenv shim that does not run
the version is passed over), in pyenv's versions (``$PYENV_ROOT/versions/3.12.*``, newest
first) and in uv's managed interpreters (``$UV_PYTHON_INSTALL_DIR``, else
``$XDG_DATA_HOME/uv/python``, else ``~/.local/share/uv/python``). Each candidate is run once
to read its version. When none fits, one `InterpreterError` line names what was tried.
"""

from __future__ import annotations

import functools
import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envcapture.errors import InterpreterError

if TYPE_CHECKING:
    from packaging.version import Version

__all__ = ["PythonRequest", "parse_request", "resolve_python"]


def __dir__() -> list[str]:
    return list(__all__)


_VERSION_RE = re.compile(r"^(?:(?:c?python|py)[@-]?)?(?P<version>\d+(?:\.\d+){0,2})$", re.IGNORECASE)
_BARE_RE = re.compile(r"^(?:c?python|py)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class PythonRequest:
    """What ``--python`` asked for: ``kind`` is ``"path"``, ``"version"`` or ``"name"``.

    ``version`` is the requested ``(major, minor, patch)`` prefix for a version request
    (``()`` for a bare ``python``).
    """

    text: str
    kind: str
    version: tuple[int, ...] = ()

    def matches(self, full: str) -> bool:
        """Whether the interpreter version ``full`` (``X.Y.Z``) satisfies the request."""
        try:
            parts = tuple(int(p) for p in full.split(".")[:3])
        except ValueError:
            return False
        return parts[: len(self.version)] == self.version

    @property
    def label(self) -> str:
        return "Python " + ".".join(str(p) for p in self.version) if self.version else "a Python"


def parse_request(request: str | os.PathLike[str]) -> PythonRequest:
    """Sort ``request`` into a path, a version request or a command name."""
    text = os.fspath(request)
    seps = [s for s in (os.sep, os.altsep) if s]
    if any(s in text for s in seps) or text.startswith(("~", ".")) or os.path.exists(text):
        return PythonRequest(text=text, kind="path")
    match = _VERSION_RE.match(text)
    if match:
        return PythonRequest(text=text, kind="version", version=tuple(int(p) for p in match.group("version").split(".")))
    if _BARE_RE.match(text):
        return PythonRequest(text=text, kind="version")
    return PythonRequest(text=text, kind="name")


@functools.lru_cache(maxsize=128)
def _version_of(python: str) -> tuple[str | None, str]:
    """(``X.Y.Z`` or None, why not): the version of the CPython or PyPy at ``python``."""
    import subprocess  # here: a warm analysis runs no subprocess

    try:
        done = subprocess.run(
            [python, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "did not answer within 30 s"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        return None, lines[0] if lines else f"exit {done.returncode}"
    return done.stdout.strip() or None, "printed no version"


def _venv_python(directory: Path) -> Path | None:
    for rel in ("bin/python", "bin/python3", "Scripts/python.exe"):
        candidate = directory / rel
        if candidate.is_file():
            return candidate
    return None


def _checked_file(text: str, path: Path) -> str:
    if not path.exists():
        raise InterpreterError(f"{text}: interpreter not found")
    if path.is_dir():
        venv = _venv_python(path)
        if venv is None:
            raise InterpreterError(f"{text}: a directory that is not a virtualenv (no bin/python in it)")
        path = venv
    if not os.access(path, os.X_OK):
        raise InterpreterError(f"{text}: interpreter is not executable")
    return os.path.abspath(path)


def _home(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


def _newest_first(paths: list[str], pattern: re.Pattern[str]) -> list[str]:
    from packaging.version import InvalidVersion, Version  # only when looking for a version: start-up time

    def key(path: str) -> Version:
        match = pattern.search(path)
        try:
            return Version(match.group(1)) if match else Version("0")
        except InvalidVersion:
            return Version("0")

    return sorted(set(paths), key=key, reverse=True)


def _uv_dir(env: Mapping[str, str]) -> Path:
    if env.get("UV_PYTHON_INSTALL_DIR"):
        return Path(env["UV_PYTHON_INSTALL_DIR"])
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "uv" / "python"


def _find_version(req: PythonRequest, env: Mapping[str, str]) -> str:
    """The first interpreter satisfying a version request; else one line of what was tried."""
    digits = ".".join(str(p) for p in req.version)
    if not req.version:
        names = ["python3", "python"]
    elif len(req.version) == 1:
        names = [f"python{req.version[0]}", "python"]
    else:
        names = [f"python{req.version[0]}.{req.version[1]}", f"python{req.version[0]}", "python"]
    tried: list[str] = []
    seen: set[str] = set()
    rejected: list[str] = []

    def consider(path: str) -> bool:
        real = os.path.abspath(path)
        if real in seen or not os.path.isfile(real) or not os.access(real, os.X_OK):
            return False
        seen.add(real)
        version, why = _version_of(real)
        if version is None:
            rejected.append(f"{_home(real)}: {why}")
            return False
        if not req.matches(version):
            rejected.append(f"{_home(real)} is {version}")
            return False
        return True

    venv = env.get("VIRTUAL_ENV")
    if venv:
        tried.append("the active virtualenv")
        found = _venv_python(Path(venv))
        if found is not None and consider(str(found)):
            return os.path.abspath(found)
    tried.append(f"{', '.join(names)} on PATH")
    for directory in (env.get("PATH") or "").split(os.pathsep):
        for name in names:
            if directory and consider(os.path.join(directory, name)):
                return os.path.abspath(os.path.join(directory, name))
    minor_glob = f"{digits}*" if len(req.version) < 3 else digits
    roots = dict.fromkeys(r for r in (env.get("PYENV_ROOT"), str(Path.home() / ".pyenv")) if r)
    for root in roots:
        tried.append(f"pyenv {_home(os.path.join(root, 'versions', minor_glob))}")
        found_paths = glob.glob(os.path.join(root, "versions", minor_glob, "bin", "python"))
        for path in _newest_first(found_paths, re.compile(r"versions/(\d+\.\d+(?:\.\d+)?)")):
            if consider(path):
                return os.path.abspath(path)
    uv_root = _uv_dir(env)
    tried.append(f"uv-managed {_home(str(uv_root / ('cpython-' + minor_glob)))}")
    uv_paths = glob.glob(str(uv_root / f"cpython-{minor_glob}" / "bin" / "python3"))
    for path in _newest_first(uv_paths, re.compile(r"cpython-(\d+\.\d+(?:\.\d+)?)")):
        if consider(path):
            return os.path.abspath(path)
    detail = f"; passed over: {'; '.join(rejected[:4])}" + (f" and {len(rejected) - 4} more" if len(rejected) > 4 else "")
    raise InterpreterError(
        f"{req.text}: no {req.label} found; tried {', '.join(tried)}" + (detail if rejected else ""),
        hint=f"install it with uv python install {digits or '3'} or pyenv install {digits or '3'}, or pass an interpreter path",
    )


def resolve_python(request: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> str:
    """The interpreter executable ``request`` names (see the module docstring).

    :raises InterpreterError: one line: the path is missing or not an interpreter, or no
        interpreter satisfies the version, naming every place looked in.
    """
    env = os.environ if environ is None else environ
    req = parse_request(request)
    if req.kind == "path":
        return _checked_file(req.text, Path(os.path.expanduser(req.text)))
    if req.kind == "version":
        return _find_version(req, env)
    import shutil

    found = shutil.which(req.text, path=env.get("PATH"))
    if found is None:
        raise InterpreterError(f"{req.text}: interpreter not found on PATH")
    return os.path.abspath(found)
