"""Private EDGE helper of the runtime: the job's virtualenv, built offline from a bundle's
wheelhouse once and reused by every later run of the same lock. EDGE: virtualenv, pip, files.

Key: the SHA-256 of the lock's sha256, the target Python (``X.Y`` and implementation),
the sorted sha256 of every wheel and the install flags (``no_deps``, ``require_hashes``),
all read from the (verified) manifest; ``<cache>/envs/<key[:32]>/`` holds the
environment, with ``envcapture-env.json`` naming what it was built from.

A build happens in ``envs/.tmp-<key>-<pid>-<random>/`` and is renamed into place only when
pip and the byte-compilation have finished, so a build killed half-way is never reused;
its directory is removed by the next build once its process is gone. Two runs building
the same key at once both finish; the first rename wins and the other one's copy is
dropped. Scripts written by pip and virtualenv name the temporary directory in their
``#!`` line and activation scripts; they are rewritten to the final path before the
rename, and modules are byte-compiled with the final path as their file name, so the
environment does not know it was built elsewhere.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envcapture._fs import document_header, key_id, pid_alive
from envcapture.environment.interpreters import find_interpreter
from envcapture.errors import BuildError, InputError
from envcapture.runtime.verify import _offline_env, offline_install_command

__all__ = ["ENV_MARKER", "RunEnv", "ensure_environment", "environment_key"]

ENV_FORMAT = "envcapture-env/1"  # bumped when the way environments are built changes
ENV_MARKER = "envcapture-env.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEnv:
    """The environment a job runs in; ``pip_calls`` is 0 when it was reused."""

    path: Path
    key: str
    reused: bool
    python_version: str
    interpreter: str
    pip_calls: int


def _artifact(manifest: Mapping[str, Any], path: str) -> dict[str, Any] | None:
    for item in manifest.get("artifacts", []):
        if isinstance(item, dict) and item.get("path") == path:
            return item
    return None


def environment_key(manifest: Mapping[str, Any]) -> str:
    """The key of the environment ``manifest`` installs.

    :raises InputError: the manifest does not list the lock it names.
    """
    install = manifest.get("install") or {}
    lock_path = str(install.get("requirements", "requirements.lock.txt"))
    lock = _artifact(manifest, lock_path)
    if lock is None:
        raise InputError(f"manifest.json: install.requirements names {lock_path}, which is not among the artifacts")
    target = manifest.get("target") or {}
    version = str(target.get("python_version", ""))
    return key_id(
        {
            "format": ENV_FORMAT,
            "lock": lock.get("sha256"),
            "python": ".".join(version.split(".")[:2]),
            "implementation": target.get("implementation_name", "cpython"),
            "wheels": sorted(str(a.get("sha256")) for a in manifest.get("artifacts", []) if a.get("kind") == "wheel"),
            "no_deps": bool(install.get("no_deps")),
            "require_hashes": bool(install.get("require_hashes")),
        }
    )


def _clean_stale(envs: Path) -> None:
    """Remove ``.tmp-*`` builds whose process is gone (killed builds)."""
    for entry in envs.iterdir():
        if not entry.name.startswith((".tmp-", ".old-")):
            continue
        parts = entry.name.split("-")
        pid = int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0
        if pid and pid != os.getpid() and pid_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _read_marker(path: Path, key: str) -> dict[str, Any] | None:
    """The marker of a complete environment for ``key`` at ``path``, else ``None``."""
    try:
        doc = json.loads((path / ENV_MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None
    if not os.path.exists(path / "bin" / "python"):  # the base interpreter went away
        return None
    return doc


def _tail(text: str, limit: int = 400) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-2:]
    return " ".join(errors)[:limit] or "no output"


def _relocate(tmp: Path, final: Path) -> None:
    """Rewrite ``tmp`` as ``final`` in the text files of ``bin/`` and in ``pyvenv.cfg``."""
    old, new = os.fsencode(tmp), os.fsencode(final)
    candidates = [tmp / "pyvenv.cfg"]
    bindir = tmp / "bin"
    if bindir.is_dir():
        candidates += sorted(p for p in bindir.iterdir() if p.is_file() and not p.is_symlink())
    for path in candidates:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if old in data and b"\0" not in data[:8192]:  # text only: never patch a binary
            mode = path.stat().st_mode
            path.write_bytes(data.replace(old, new))
            os.chmod(path, mode)


def ensure_environment(
    bundle: Path,
    manifest: Mapping[str, Any],
    *,
    envs: Path,
    python: str | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> RunEnv:
    """The environment of ``bundle``: reused from ``envs`` when a complete one exists,
    else built offline (virtualenv + ``pip install --no-index --find-links wheelhouse
    --require-hashes -r requirements.lock.txt``) and published there.

    :param python: the interpreter to build with (default: a CPython of the target
        version, see `find_interpreter`).
    :raises BuildError: no interpreter of the target version; virtualenv or pip failed.
    """
    key = environment_key(manifest)
    final = envs / key[:32]
    marker = _read_marker(final, key)
    if marker is not None:
        return RunEnv(
            path=final, key=key, reused=True, python_version=str(marker.get("python_version", "")),
            interpreter=str(marker.get("interpreter", "")), pip_calls=0,
        )  # fmt: skip
    target = manifest.get("target") or {}
    version = str(target.get("python_version", ""))
    minor = ".".join(version.split(".")[:2])
    interpreter = python or find_interpreter(version)
    if interpreter is None:
        raise BuildError(
            f"step environment: no CPython {minor} on this machine for the job",
            hint=f"install Python {minor} (pyenv install {minor}, or python{minor} on PATH), or pass --python PATH",
        )
    envs.mkdir(parents=True, exist_ok=True)
    _clean_stale(envs)
    tmp = envs / f".tmp-{key[:16]}-{os.getpid()}-{secrets.token_hex(4)}"
    env = _offline_env()
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # pip's own .pyc would name the temporary directory
    try:
        log(f"building the environment with {interpreter} (offline, from the wheelhouse)")
        made = subprocess.run(
            [sys.executable, "-m", "virtualenv", "--quiet", "--no-periodic-update", "--no-download", "--no-setuptools",
             "--no-vcs-ignore", "--prompt", "envcapture", "--python", interpreter, str(tmp)],
            env=env, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        if made.returncode != 0:
            raise BuildError(f"step virtualenv for CPython {minor} ({interpreter}): {_tail(made.stderr + made.stdout)}")
        vpython = tmp / "bin" / "python"
        probe = subprocess.run(
            [str(vpython), "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        actual = probe.stdout.strip()
        if ".".join(actual.split(".")[:2]) != minor:
            raise BuildError(f"step environment: {interpreter} is Python {actual or '?'}, the bundle targets {minor}")
        install = manifest.get("install") or {}
        cmd = offline_install_command(vpython, bundle, manifest)
        done = subprocess.run(cmd, env=env, cwd=envs, capture_output=True, text=True, check=False, timeout=3600)
        if done.returncode != 0:
            raise BuildError(f"step pip install (offline, from {bundle.name}/wheelhouse): {_tail(done.stderr + done.stdout)}")
        # Byte-compile now, under the final path (-s/-p), so the first run starts fast and
        # tracebacks name files where they will be.
        subprocess.run(
            [str(vpython), "-m", "compileall", "-q", "-j", "0", "-s", str(tmp), "-p", str(final), str(tmp / "lib")],
            env=env, capture_output=True, check=False, timeout=1800,
        )  # fmt: skip
        _relocate(tmp, final)
        doc = {
            **document_header("envcapture/run-environment", "1.0"),
            "key": key,
            "python_version": actual,
            "interpreter": interpreter,
            "lock_sha256": (_artifact(manifest, str(install.get("requirements", "requirements.lock.txt"))) or {}).get("sha256"),
            "wheels": sum(1 for a in manifest.get("artifacts", []) if a.get("kind") == "wheel"),
        }
        (tmp / ENV_MARKER).write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
        try:
            os.rename(tmp, final)
        except OSError:
            if _read_marker(final, key) is None:  # not a concurrent build that finished first
                if final.exists():
                    aside = envs / f".old-{key[:16]}-{os.getpid()}-{secrets.token_hex(4)}"
                    os.rename(final, aside)
                    shutil.rmtree(aside, ignore_errors=True)
                os.rename(tmp, final)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunEnv(path=final, key=key, reused=False, python_version=actual, interpreter=interpreter, pip_calls=1)
