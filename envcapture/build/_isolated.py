"""Private EDGE helper of the wheelhouse: one wheel built in a fixed directory, in a build
environment of its own, with compiler flags that keep this machine's paths out of it.

A compiled extension records where it was built: the compiler writes the source and
include directories into the debug information, and an interpreter built with an rpath
(pyenv) adds its ``lib`` directory to the ``.so``. pip's own build isolation works in
random directories (``pip-build-env-*``, ``pip-req-build-*``), so two cold builds of the
same source differ. Here every path a build sees is fixed or mapped:

* the source is copied (or unpacked) to ``/tmp/envcapture-build.<uid>/<key>/src``, where
  ``key`` names the content (the store key), not the run: the same source always builds
  in the same directory, whatever ``TMPDIR``, the store or the project's own path;
* the build requirements go into a virtualenv at ``<key>/env`` (installed by pip from the
  job's indexes, as build isolation does), then ``pip wheel --no-build-isolation`` builds
  with it; ``TMPDIR`` is ``<key>/tmp``;
* ``CPPFLAGS`` (appended by setuptools/distutils, meson and autotools to every compile
  and link) maps the source to ``.``, the build environment to ``/envcapture-build/env``
  and the interpreter's include directories to ``/python/include``
  (``-ffile-prefix-map``, when the compiler has it: GCC 8, clang 10); ``LDSHARED`` and
  ``LDCXXSHARED`` lose the interpreter's ``-Wl,-rpath`` (setuptools reads them).

Builds of one key are serialised with ``flock``; the directory is emptied before and
after. Without ``/tmp``, ``flock`` or a directory only this user can write, the build runs
in a private temporary directory instead (still correct, not path-independent).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envcapture.build._pip import PipRun, run_pip

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "BuildDir",
    "IsolatedBuildError",
    "build_directory",
    "build_in",
    "sweep_build_dirs",
]

log = logging.getLogger(__name__)

_FIXED_PARENT = Path("/tmp")  # noqa: S108 - not TMPDIR on purpose: the path must not depend on the session
_MAPPED_ENV = "/envcapture-build/env"
_MAPPED_INCLUDE = "/python/include"
# pip's default for a project without [build-system] (PEP 517/518)
_DEFAULT_REQUIRES = ("setuptools>=40.8.0",)
_DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"


class IsolatedBuildError(Exception):
    """A step of the build failed: ``step`` (build-env, build-requirements, build-wheel) and pip's reason."""

    def __init__(self, step: str, detail: str, run: PipRun | None = None) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail
        self.run = run


@dataclass(frozen=True, slots=True)
class BuildDir:
    """The directory of one build: ``src`` (the project), ``env``, ``tmp``, ``out`` (the wheel)."""

    root: Path
    fixed: bool  # False: a random fallback directory (see the module doc)

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def env(self) -> Path:
        return self.root / "env"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def out(self) -> Path:
        return self.root / "out"


# --- the fixed directory ------------------------------------------------------------------------


def _fixed_base() -> Path | None:
    """``/tmp/envcapture-build.<uid>``, a real directory owned by this user that no one
    else can write (never a link someone else planted), or ``None``."""
    getuid = getattr(os, "getuid", None)
    if getuid is None or not _FIXED_PARENT.is_dir():
        return None
    base = _FIXED_PARENT / f"envcapture-build.{getuid()}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(base)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != getuid() or info.st_mode & 0o022:
        log.warning("%s is not a private directory of this user: building in a random directory", base)
        return None
    return base


def _lock(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path`` (waits for another build of the same key)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        return None
    return fd


def _try_lock(path: Path) -> int | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def sweep_build_dirs() -> int:
    """Remove the build directories of killed builds (no process holds their lock); return how many."""
    base = _fixed_base()
    if base is None:
        return 0
    removed = 0
    for entry in base.iterdir():
        if not entry.is_dir() or entry.is_symlink():
            continue
        fd = _try_lock(base / f"{entry.name}.lock")
        if fd is None:
            continue  # being built, or not one of ours
        try:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        finally:
            os.close(fd)
    return removed


@contextmanager
def build_directory(key: str, fallback_parent: Path, fallback_prefix: str) -> Iterator[BuildDir]:
    """The empty build directory of ``key`` (a hex digest naming the source), locked for this
    build and emptied afterwards; a random one under ``fallback_parent`` when no fixed one can be had."""
    base = _fixed_base()
    fd = _lock(base / f"{key[:16]}.lock") if base is not None else None
    if base is None or fd is None:
        with tempfile.TemporaryDirectory(prefix=fallback_prefix, dir=fallback_parent) as tmp:
            bd = BuildDir(root=Path(tmp), fixed=False)
            for sub in (bd.tmp, bd.out):
                sub.mkdir()
            yield bd
        return
    root = base / key[:16]
    try:
        shutil.rmtree(root, ignore_errors=True)  # a killed build of the same key
        bd = BuildDir(root=root, fixed=True)
        for sub in (bd.root, bd.tmp, bd.out):
            sub.mkdir(mode=0o700)
        yield bd
    finally:
        shutil.rmtree(root, ignore_errors=True)
        os.close(fd)


# --- compiler flags -----------------------------------------------------------------------------

_FACTS_SCRIPT = """
import json, sys, sysconfig
paths = sysconfig.get_paths()
names = ("CC", "LDSHARED", "LDCXXSHARED")
print(json.dumps({
    "prefixes": sorted({sys.base_prefix, sys.base_exec_prefix}),
    "include": sorted({paths.get("include") or "", paths.get("platinclude") or ""} - {""}),
    **{n: sysconfig.get_config_var(n) or "" for n in names},
}))
"""


@functools.cache
def _interpreter_facts(python: str) -> dict[str, Any]:
    """The builder's compiler, link commands, include directories and prefixes (sysconfig)."""
    try:
        done = subprocess.run([python, "-I", "-c", _FACTS_SCRIPT], capture_output=True, text=True, timeout=60, check=True)
        facts = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


@functools.cache
def _has_prefix_map(compiler: str) -> bool:
    """Does ``compiler`` (a command line such as ``gcc -pthread``) accept ``-ffile-prefix-map``?"""
    words = shlex.split(compiler)
    if not words or shutil.which(words[0]) is None:
        return False
    try:
        done = subprocess.run(
            [*words, "-ffile-prefix-map=/a=/b", "-fsyntax-only", "-x", "c", os.devnull],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _without_rpath(command: str, prefixes: Sequence[str]) -> str | None:
    """``command`` without ``-Wl,-rpath,<dir>`` flags that point into the interpreter's
    installation; ``None`` when it has none."""
    words = shlex.split(command)
    kept = []
    for word in words:
        match = re.fullmatch(r"-Wl,(?:-rpath[,=]|-R,?)(.+)", word)
        if match and any(match.group(1) == p or match.group(1).startswith(p.rstrip("/") + "/") for p in prefixes if p):
            continue
        kept.append(word)
    return shlex.join(kept) if len(kept) != len(words) else None


def compile_environ(bd: BuildDir, python: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that make a compiled build independent of the paths (see the module doc);
    a variable the caller set is extended (``CPPFLAGS``) or left alone (``LDSHARED``)."""
    facts = _interpreter_facts(python)
    extra: dict[str, str] = {}
    compiler = environ.get("CC") or str(facts.get("CC") or "")
    if compiler and _has_prefix_map(compiler):
        maps = [f"{bd.env}={_MAPPED_ENV}", f"{bd.src}=."]
        maps += [f"{inc}={_MAPPED_INCLUDE}" for inc in facts.get("include", ())]
        flags = " ".join(f"-ffile-prefix-map={m}" for m in maps)
        extra["CPPFLAGS"] = f"{environ['CPPFLAGS']} {flags}" if environ.get("CPPFLAGS") else flags
    for name in ("LDSHARED", "LDCXXSHARED"):
        if name not in environ and facts.get(name):
            stripped = _without_rpath(str(facts[name]), facts.get("prefixes", ()))
            if stripped is not None:
                extra[name] = stripped
    return extra


# --- the build ----------------------------------------------------------------------------------


def _build_system(project: Path) -> tuple[list[str], str, list[str]]:
    """(requires, build-backend, backend-path) of ``project``'s ``pyproject.toml``, with
    pip's defaults for a project without ``[build-system]``.

    :raises IsolatedBuildError: the file does not parse or the table is malformed.
    """
    path = project / "pyproject.toml"
    try:
        doc = tomllib.loads(path.read_text("utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IsolatedBuildError("build-requirements", f"pyproject.toml: {exc}") from exc
    table = doc.get("build-system")
    if table is None:
        return list(_DEFAULT_REQUIRES), _DEFAULT_BACKEND, []
    requires = table.get("requires") if isinstance(table, dict) else None
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise IsolatedBuildError("build-requirements", "pyproject.toml: build-system.requires is not a list of strings")
    backend = table.get("build-backend", _DEFAULT_BACKEND)
    backend_path = table.get("backend-path", [])
    if not isinstance(backend, str) or not isinstance(backend_path, list):
        raise IsolatedBuildError("build-requirements", "pyproject.toml: build-system.build-backend or backend-path is malformed")
    return list(requires), backend, [str(p) for p in backend_path]


# The backend's dynamic build requirements (PEP 517 get_requires_for_build_wheel), asked in
# the build environment from the project directory; backends print, so stdout is swapped.
_REQUIRES_SCRIPT = """
import importlib, json, os, sys
name, backend_path = json.loads(sys.argv[1])
sys.path[:0] = [os.path.abspath(p) for p in backend_path]
out, sys.stdout = sys.stdout, sys.stderr
module, _, attr = name.partition(":")
backend = importlib.import_module(module)
for part in filter(None, attr.split(".")):
    backend = getattr(backend, part)
hook = getattr(backend, "get_requires_for_build_wheel", None)
out.write(json.dumps(list(hook({})) if hook else []))
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Runner:
    python: str
    index_args: Sequence[str]
    env: Mapping[str, str]
    retries: int
    backoff: float
    timeout: float

    def pip(self, args: Sequence[str], *, cwd: Path | None = None) -> PipRun:
        return run_pip(args, env=self.env, retries=self.retries, backoff=self.backoff, timeout=self.timeout, cwd=cwd)

    def install(self, env_python: Path, requirements: Sequence[str], cwd: Path) -> None:
        args = ["--python", str(env_python), "install", "--no-cache-dir", "--progress-bar", "off"]
        args += ["--no-warn-script-location", *self.index_args, *requirements]
        run = self.pip(args, cwd=cwd)
        if run.returncode != 0:
            raise IsolatedBuildError("build-requirements", run.last_error(), run)


def build_in(
    bd: BuildDir,
    project: Path,
    *,
    python: str,
    index_args: Sequence[str],
    env: Mapping[str, str],
    retries: int,
    backoff: float,
    timeout: float,
) -> Path:
    """Build the wheel of ``project`` (inside ``bd``) with a build environment at
    ``bd.env`` made for ``python``; return the wheel's path in ``bd.out``.

    ``env`` is the subprocess environment (pip settings isolated, ``SOURCE_DATE_EPOCH``);
    ``TMPDIR`` and the compiler variables of `compile_environ` are added here.

    :raises IsolatedBuildError: the environment, its requirements or the wheel could not be made.
    """
    full_env = {**env, "TMPDIR": str(bd.tmp), **compile_environ(bd, python, env)}
    runner = _Runner(python=python, index_args=index_args, env=full_env, retries=retries, backoff=backoff, timeout=timeout)
    requires, backend, backend_path = _build_system(project)
    # virtualenv's own settings (VIRTUALENV_SYSTEM_SITE_PACKAGES...) would change the environment
    venv_env = {k: v for k, v in full_env.items() if not k.startswith("VIRTUALENV_")}
    made = subprocess.run(
        [sys.executable, "-m", "virtualenv", "--quiet", "--no-seed", "--no-periodic-update", "--python", python, str(bd.env)],
        env={**venv_env, "VIRTUALENV_CONFIG_FILE": os.devnull},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if made.returncode != 0:
        lines = (made.stderr or made.stdout).strip().splitlines()
        raise IsolatedBuildError("build-env", lines[-1] if lines else f"virtualenv exited with {made.returncode}")
    env_python = bd.env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    if requires:
        runner.install(env_python, requires, project)
    asked = subprocess.run(
        [
            str(env_python),
            "-I",
            "-c",
            _REQUIRES_SCRIPT,
            json.dumps([backend, backend_path]),
        ],  # -I: the project is not on sys.path
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        dynamic = json.loads(asked.stdout) if asked.returncode == 0 else None
    except ValueError:
        dynamic = None
    if not isinstance(dynamic, list):
        lines = asked.stderr.strip().splitlines()
        raise IsolatedBuildError(
            "build-requirements", f"{backend}: {lines[-1] if lines else 'get_requires_for_build_wheel failed'}"
        )
    extra = [str(r) for r in dynamic if str(r) not in requires]
    if extra:
        runner.install(env_python, extra, project)
    args = ["--python", str(env_python), "wheel", "--no-build-isolation", "--use-pep517", "--no-deps", "--no-cache-dir"]
    args += ["--progress-bar", "off", "--wheel-dir", str(bd.out), *index_args, str(project)]
    run = runner.pip(args, cwd=bd.root)
    wheels = sorted(bd.out.glob("*.whl"))
    if run.returncode != 0 or len(wheels) != 1:
        raise IsolatedBuildError("build-wheel", run.last_error(), run)
    return wheels[0]
