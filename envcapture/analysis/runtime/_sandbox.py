"""Private: a contained subprocess for the runtime trace (EDGE: files, processes, namespaces).

* `Sandbox`: a temporary directory holding a COPY of the project (the working directory of
  every run, so whatever the code writes lands there) and a private directory outside it;
* `run_contained`: one subprocess in its own session, stdin empty, stdout discarded,
  stderr to a log; on timeout the process group is killed, then whatever is left in its
  session (also after a clean exit: no orphan outlives a run);
* `network_isolation`: the ``unshare`` prefix that cuts the network off, when possible;
* `child_env`: the caller's environment minus ``PYTHON*``, plus `OFFLINE_ENV`.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from envcapture._fs import live_members

__all__ = [
    "IGNORED_DIRS",
    "MAX_COPY_BYTES",
    "OFFLINE_ENV",
    "RunResult",
    "Sandbox",
    "child_env",
    "file_states",
    "inside",
    "is_ignored_dir",
    "last_line",
    "network_isolation",
    "network_note",
    "run_contained",
    "written_since",
]

MAX_COPY_BYTES = 64 * 1024 * 1024
"""Files larger than this (checkpoints, datasets) are not copied into the sandbox."""

IGNORED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".hypothesis", ".ipynb_checkpoints", "node_modules",
        ".eggs", "wandb", "mlruns", ".idea", ".vscode",
    }
)  # fmt: skip
"""Directory names neither copied into the sandbox nor scanned for data files (and any
directory holding a ``pyvenv.cfg``: a virtualenv)."""

_DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, connections fail at once

OFFLINE_ENV: Mapping[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "WANDB_MODE": "disabled",
    "WANDB_SILENT": "true",
    "NEPTUNE_MODE": "offline",
    "CLEARML_OFFLINE_MODE": "1",
    "COMET_AUTO_LOG_DISABLE": "1",
    "DO_NOT_TRACK": "1",
    "DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "PIP_NO_INDEX": "1",
    "http_proxy": _DEAD_PROXY,
    "https_proxy": _DEAD_PROXY,
    "HTTP_PROXY": _DEAD_PROXY,
    "HTTPS_PROXY": _DEAD_PROXY,
    "ALL_PROXY": _DEAD_PROXY,
    "all_proxy": _DEAD_PROXY,
}
"""Set for every traced run: libraries that honour them stay offline even when the network
namespace cannot be cut. ``MLFLOW_TRACKING_URI`` (a private ``file:`` store) and ``TMPDIR``
are set per sandbox; ``NO_PROXY``/``no_proxy`` are removed so nothing bypasses the dead proxy."""

_DROPPED_ENV = ("NO_PROXY", "no_proxy", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")


# --- the sandbox ------------------------------------------------------------------------------


@dataclass
class Sandbox:
    root: Path  # everything below is removed at the end unless the caller keeps it
    copy: Path  # the project's copy: the working directory of every run
    private: Path  # tracer, configs, outputs: outside the copy
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, project: Path, parent: Path | None) -> Sandbox:
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="envcapture-trace-", dir=parent)).resolve()
        copy = root / "work" / (project.name or "project")
        private = root / "private"
        (private / "tmp").mkdir(parents=True)
        box = cls(root=root, copy=copy, private=private)
        box.skipped = _copy_project(project, copy)
        return box


def is_ignored_dir(path: Path) -> bool:
    return path.name in IGNORED_DIRS or (path / "pyvenv.cfg").is_file()


def inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _copy_project(project: Path, dest: Path) -> list[str]:
    """Copy ``project`` to ``dest``; return what was left out (project-relative, with why).

    Symlinks that stay inside the project are recreated (relative); a link leaving it is
    copied as the file it points at, never linked: a write through it would reach the
    original. Linked directories outside the project are left out.
    """
    skipped: list[str] = []
    real_project = os.path.realpath(project)
    real_dest = os.path.realpath(dest)
    dest.mkdir(parents=True)
    for dirpath, dirnames, filenames in os.walk(project):
        here = Path(dirpath)
        rel_dir = here.relative_to(project)
        keep: list[str] = []
        for name in sorted(dirnames):
            path = here / name
            rel = (rel_dir / name).as_posix()
            if path.is_symlink():
                target = os.path.realpath(path)
                if inside(target, real_project):
                    _relink(path, dest / rel, target, real_project, dest)
                else:
                    skipped.append(f"{rel}/ (a link to a directory outside the project)")
                continue
            if is_ignored_dir(path) or inside(real_dest, os.path.realpath(path)):
                continue  # the sandbox itself may sit inside the project ($TMPDIR=./tmp)
            (dest / rel).mkdir()
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            rel = (rel_dir / name).as_posix()
            try:
                if path.is_symlink():
                    target = os.path.realpath(path)
                    if inside(target, real_project):
                        _relink(path, dest / rel, target, real_project, dest)
                        continue
                if not path.is_file():
                    continue  # sockets, fifos, dangling links
                if path.stat().st_size > MAX_COPY_BYTES:
                    skipped.append(f"{rel} (over {MAX_COPY_BYTES // (1024 * 1024)} MB)")
                    continue
                shutil.copy2(path, dest / rel)
            except OSError as exc:
                skipped.append(f"{rel} ({exc.strerror or exc})")
    return skipped


def _relink(link: Path, new: Path, target: str, real_project: str, dest: Path) -> None:
    inside = Path(os.path.relpath(target, real_project))
    new.symlink_to(os.path.relpath(dest / inside, new.parent))


def file_states(root: Path) -> dict[str, tuple[int, int]]:
    states: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            path = Path(dirpath, name)
            try:
                st = path.lstat()
            except OSError:
                continue
            states[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return states


def written_since(before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]]) -> tuple[str, ...]:
    return tuple(sorted(path for path, state in after.items() if before.get(path) != state))


# --- network --------------------------------------------------------------------------------


@functools.cache
def network_isolation(python: str) -> tuple[tuple[str, ...], str | None]:
    """The command prefix that runs ``python`` without network, and how; or ``()`` and why not.

    Tries ``unshare --net`` (as root) and ``unshare --user --map-root-user --net`` (needs
    unprivileged user namespaces), each with ``python -c pass`` so a prefix that starts but
    cannot run the interpreter is not used. The answer is cached per interpreter.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return (), "not cut off: unshare(1) is not installed"
    candidates: list[tuple[str, ...]] = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        candidates.append((unshare, "--net"))
    candidates.append((unshare, "--user", "--map-root-user", "--net"))
    last = ""
    for prefix in candidates:
        try:
            done = subprocess.run([*prefix, python, "-c", "pass"], capture_output=True, timeout=15, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            last = str(exc)
            continue
        if done.returncode == 0:
            return prefix, None
        last = last_line(done.stderr.decode("utf-8", "replace")) or f"exit {done.returncode}"
    return (), f"not cut off: unshare failed ({last})"


def network_note(prefix: Sequence[str]) -> str:
    return "cut off: " + " ".join(["unshare", *prefix[1:]]) + " (a new, empty network namespace)"


# --- running ------------------------------------------------------------------------------------


def child_env(box: Sandbox, python: str, pythonpath: Sequence[str], extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k not in _DROPPED_ENV}
    env.update(OFFLINE_ENV)
    env["PATH"] = os.pathsep.join([os.path.dirname(python), env.get("PATH", os.defpath)])
    env["TMPDIR"] = str(box.private / "tmp")
    env["MLFLOW_TRACKING_URI"] = (box.private / "mlruns").as_uri()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    return env


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """Kill the run's process group, then whatever is left of its session."""
    for _ in range(3):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in live_members(sid=proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
        if not live_members(sid=proc.pid):
            return
        time.sleep(0.05)


@dataclass
class RunResult:
    returncode: int | None  # None: timed out
    stderr_tail: str


def run_contained(argv: Sequence[str], *, box: Sandbox, env: Mapping[str, str], timeout: float, log: Path) -> RunResult:
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            list(argv),
            cwd=box.copy,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # user code prints there; the trace has its own file
            stderr=err,
            start_new_session=True,  # its own session and process group, killed as a whole
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _kill_session(proc)  # also after a clean exit: no orphan outlives the run
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - 4096))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        tail = ""
    return RunResult(returncode=code, stderr_tail=tail)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
