"""Own interpreter or ``--python`` -> `EnvSnapshot`, read by one probe subprocess. EDGE.

The analysed interpreter runs ``envcapture/_probe.py`` (stdlib only, Python 3.8+), sent
on stdin behind a tiny Python-2-safe bootstrap that refuses interpreters older than 3.8
with a clear message. It is started as ``python -E -B -c BOOTSTRAP``:

* ``site`` runs (no ``-S``/``-I``): the environment's ``.pth`` files, editable finders
  and ``site-packages`` are part of what the job sees, so they must be on ``sys.path``.
* ``-E`` ignores ``PYTHON*`` variables of *our* process: ``PYTHONPATH`` belongs to the
  job's command and is captured from it (`EntryPoint.pythonpath`), not from whoever runs
  envcapture; ``PYTHONHOME``/``PYTHONSAFEPATH``/``PYTHONSTARTUP`` would skew the probe.
* no ``-s``: the user site-packages directory stays when the interpreter itself would use
  it (a system or pyenv Python does, a venv without system site-packages does not), since
  the job run with that interpreter imports from it too.
* ``-B``: the probe writes no bytecode into the analysed environment.
* the script arrives on stdin, so ``sys.path[0]`` is ``''`` (the cwd), which the probe
  removes: neither the probe's directory nor the caller's cwd leaks into the snapshot.
  It is written without waiting (it fits a pipe's buffer), so the probe runs while the
  caller does other work (``while_probing``: a cold analysis imports its parser meanwhile).

Nothing is filtered by name: the snapshot lists exactly what the analysed interpreter
has. envcapture's own dependencies never leak into it because the probe runs in the
job's interpreter, not in envcapture's (analysing envcapture's own venv lists envcapture,
click, rich... because that interpreter has them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from envcapture._fs import atomic_write_bytes, default_cache_dir, sha256_bytes
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.environment.request import resolve_python
from envcapture.errors import InterpreterError
from envcapture.model import Diagnostic, ModuleName, dist_name

if TYPE_CHECKING:
    import logging
    import subprocess

__all__ = ["PROBE_TIMEOUT", "default_interpreter", "snapshot_environment", "snapshot_identity", "start_probe"]


def _logger() -> logging.Logger:
    # logging is imported when something is logged: a warm analysis logs nothing.
    import logging

    return logging.getLogger(__name__)


PROBE_TIMEOUT = 60.0
"""Seconds the probe may run (a cold environment on a network disk can be slow)."""

_TOO_OLD_EXIT = 86
# Valid Python 2 and 3: an old interpreter must reach the version test, not a SyntaxError.
_BOOTSTRAP = (
    "import sys\n"
    "if sys.version_info < (3, 8):\n"
    "    sys.stderr.write('envcapture-probe: Python %d.%d\\n' % sys.version_info[:2])\n"
    f"    sys.exit({_TOO_OLD_EXIT})\n"
    "exec(compile(sys.stdin.read(), '<envcapture-probe>', 'exec'), {'__name__': '__main__'})\n"
)


def default_interpreter() -> str:
    """The interpreter to analyse when ``--python`` is not given.

    The active virtualenv's python (``$VIRTUAL_ENV/bin/python``, ``Scripts\\python.exe``
    on Windows) when ``VIRTUAL_ENV`` is set, else the interpreter running envcapture.
    """
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        if sys.platform == "win32":
            return str(Path(venv, "Scripts", "python.exe"))
        return str(Path(venv, "bin", "python"))
    return sys.executable


def snapshot_environment(
    python: str | None = None,
    *,
    timeout: float = PROBE_TIMEOUT,
    use_cache: bool = True,
    while_probing: Callable[[Callable[[], bool]], object] | None = None,
) -> EnvSnapshot:
    """Read the interpreter ``python`` (default: `default_interpreter`) and what it has installed.

    :param python: an interpreter request (`resolve_python`): a path, a virtualenv
        directory, a version (``3.10``, ``python3.12``) or a name looked up on ``PATH``.
    :param timeout: seconds before the probe is killed.
    :param while_probing: called once the probe runs, before waiting for it, so that the
        caller's work overlaps the subprocess, with a function telling whether the probe's
        document can be read (the caller may stop then); not called when the snapshot comes
        from the cache (no probe) or the probe's source could not be handed over without
        waiting.
        What it raises kills the probe and propagates.
    :returns: the snapshot; distributions sorted by canonical name.
    :raises InterpreterError: the interpreter is missing, not executable, not a
        Python >= 3.8, or the probe fails or times out (one line, with the last line
        of its stderr).
    """
    executable = _locate(default_interpreter()) if python is None else resolve_python(python)
    early = _early.pop(executable, None)
    if isinstance(early, EnvSnapshot):
        snapshot = early if use_cache else None
    else:
        snapshot = _cached_snapshot(executable) if use_cache and early is None else None
    if snapshot is None:
        started = early if isinstance(early, _Started) else None
        snapshot = _build_snapshot(_run_probe(executable, timeout, while_probing, started), executable)
        if use_cache:
            snapshot = _store_snapshot(executable, snapshot)
    for diagnostic in snapshot.diagnostics:
        _logger().warning("%s", diagnostic)
    return snapshot


def snapshot_identity(snapshot: EnvSnapshot) -> str:
    """A digest equal only for equal snapshots: `EnvSnapshot.identity` when the snapshot
    cache gave one, else the SHA-256 of the snapshot's repr."""
    return snapshot.identity or sha256_bytes(repr(snapshot).encode("utf-8", "surrogateescape"))


# --- the snapshot cache: a repeated run (the pre-commit hook) skips the subprocess ---------------
#
# Keyed by the interpreter's path; valid while the fingerprint holds: the interpreter file,
# the environment's pyvenv.cfg, every sys.path directory (a directory's mtime changes when a
# distribution is added or removed, as its .dist-info directory comes and goes) and every
# .pth file in them (editable installs and path hooks live there). The probe's own source
# and the layout of the snapshot's classes are in it too. The snapshot is stored built
# (pickled): a warm analysis neither parses the probe's JSON nor canonicalizes its names.

_SNAPSHOT_FORMAT = 1


def _fingerprint(executable: str, snapshot: EnvSnapshot) -> list[object]:
    layout = [f.name for cls in (EnvSnapshot, DistributionInfo) for f in dataclasses.fields(cls)]
    items: list[object] = [_SNAPSHOT_FORMAT, hashlib.sha256(_probe_source().encode("utf-8")).hexdigest(), layout]
    paths = [executable, os.path.join(snapshot.prefix, "pyvenv.cfg"), *snapshot.sys_path]
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            items.append([path, None])
            continue
        items.append([path, st.st_mtime_ns, st.st_size])
        if os.path.isdir(path):
            try:
                names = sorted(n for n in os.listdir(path) if n.endswith(".pth"))
            except OSError:
                continue
            for name in names:
                try:
                    pst = os.stat(os.path.join(path, name))
                except OSError:
                    continue
                items.append([name, pst.st_mtime_ns, pst.st_size])
    return items


def _snapshot_cache_path(executable: str) -> Path:
    key = hashlib.sha256(os.path.realpath(executable).encode() + b"\0" + executable.encode()).hexdigest()
    return default_cache_dir() / "snapshots" / f"{key}.pickle"


def _cached_snapshot(executable: str) -> EnvSnapshot | None:
    try:
        # Only files this user's envcapture wrote, in this user's cache directory.
        data = _snapshot_cache_path(executable).read_bytes()
        fingerprint, snapshot = pickle.loads(data)  # noqa: S301
        if not isinstance(snapshot, EnvSnapshot) or fingerprint != _fingerprint(executable, snapshot):
            return None
    except Exception:  # noqa: BLE001 - a damaged or outdated entry is a miss: the probe runs
        return None
    return dataclasses.replace(snapshot, identity=sha256_bytes(data))


def _store_snapshot(executable: str, snapshot: EnvSnapshot) -> EnvSnapshot:
    """Store ``snapshot`` in the cache; returns it with its `EnvSnapshot.identity`."""
    data = pickle.dumps((_fingerprint(executable, snapshot), snapshot), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        atomic_write_bytes(_snapshot_cache_path(executable), data, durable=False)
    except OSError:
        pass  # a read-only cache only costs the probe's time
    return dataclasses.replace(snapshot, identity=sha256_bytes(data))


# --- running the probe ---------------------------------------------------------------------


def _locate(python: str) -> str:
    if os.sep not in python and (os.altsep is None or os.altsep not in python):
        import shutil  # only for a bare name; a warm run with a path imports neither this nor subprocess

        found = shutil.which(python)
        if found is None:
            raise InterpreterError(f"{python}: interpreter not found on PATH")
        python = found
    path = os.path.abspath(python)
    if not os.path.exists(path):
        raise InterpreterError(f"{python}: interpreter not found")
    if not os.path.isfile(path):
        raise InterpreterError(f"{python}: interpreter is not a file")
    if not os.access(path, os.X_OK):
        raise InterpreterError(f"{python}: interpreter is not executable")
    return path


def _probe_source() -> str:
    # By path, not importlib.resources (which imports tempfile): every run fingerprints it.
    return Path(__file__).with_name("_probe.py").read_text(encoding="utf-8")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclasses.dataclass(frozen=True)
class _Started:
    """A probe running, and what of its script did not fit its stdin yet."""

    process: subprocess.Popen[bytes]
    unsent: bytes


# What `start_probe` found, by interpreter, until `snapshot_environment` takes it: the
# cached snapshot (checked), or the probe it started.
_early: dict[str, EnvSnapshot | _Started] = {}
_STOPPED_AT_EXIT: list[bool] = []  # whether `_stop_untaken` runs at exit (registered once)


def start_probe(python: str) -> None:
    """Begin reading the interpreter ``python`` names, before the caller needs it.

    The CLI knows the interpreter before it imports the analysis and libcst (~0.3 s of
    a cold analysis): the probe runs meanwhile, on another core. `snapshot_environment`
    of the same interpreter takes over what this found: the cached snapshot, else the
    running probe. A probe never taken is killed at exit. Errors are left to
    `snapshot_environment`, which meets them again and reports them.
    """
    try:
        executable = resolve_python(python)
    except InterpreterError:
        return
    if executable in _early:
        return
    snapshot = _cached_snapshot(executable)
    if snapshot is not None:
        _early[executable] = snapshot
        return
    try:
        process = _launch(executable)
    except InterpreterError:
        return
    if not _STOPPED_AT_EXIT:
        import atexit

        atexit.register(_stop_untaken)
        _STOPPED_AT_EXIT.append(True)
    _early[executable] = _Started(process, _hand_over(process, _probe_source().encode("utf-8")))


def _stop_untaken() -> None:
    for early in _early.values():
        if isinstance(early, _Started):
            process = early.process
            process.kill()
            # Not communicate(): a child the probe started may hold its pipes open for long.
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
            process.wait()
    _early.clear()


def _launch(executable: str) -> subprocess.Popen[bytes]:
    import subprocess

    try:
        return subprocess.Popen(
            [executable, "-E", "-B", "-c", _BOOTSTRAP],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InterpreterError(f"{executable}: cannot run interpreter: {reason}") from exc


def _run_probe(
    executable: str,
    timeout: float,
    while_probing: Callable[[Callable[[], bool]], object] | None = None,
    started: _Started | None = None,
) -> Mapping[str, object]:
    """The probe's document: ``started`` (by `start_probe`), else a probe started now."""
    import subprocess
    import time

    deadline = time.monotonic() + timeout
    if started is None:
        process = _launch(executable)
        unsent = None
    else:
        process, unsent = started.process, started.unsent
    with process:  # closes the pipes and reaps the process, as subprocess.run does
        try:
            if unsent is None:
                unsent = _hand_over(process, _probe_source().encode("utf-8"))
            if not unsent and while_probing is not None:
                while_probing(lambda: _finished(process))
            left = deadline - time.monotonic()  # what while_probing took counts; a probe done meanwhile is read whole
            out, err = process.communicate(unsent or None, timeout=left if left > 0 or process.poll() is None else None)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            raise InterpreterError(f"{executable}: environment probe timed out after {timeout:g} s") from exc
        except BaseException:
            process.kill()
            raise
    return _probe_document(executable, process.returncode, out, err)


def _finished(process: subprocess.Popen[bytes]) -> bool:
    """Whether the probe's document can be read: it exited, or its output waits (it writes
    it whole, at its end). Without `poll` on pipes (Windows), only once it exited."""
    if process.poll() is not None:
        return True
    if os.name != "posix" or process.stdout is None:
        return False
    import select

    # poll, not select: select refuses a descriptor past FD_SETSIZE (1024), the pipe's number
    # in a process holding many files open (a notebook, a server calling the API).
    waiting = select.poll()
    waiting.register(process.stdout, select.POLLIN)
    return bool(waiting.poll(0))


def _hand_over(process: subprocess.Popen[bytes], source: bytes) -> bytes:
    """Write ``source`` to the probe's stdin without blocking; what did not fit is returned
    (`communicate` sends it). When all of it went, stdin is closed: the probe has its
    script and runs on its own."""
    stdin = process.stdin
    if stdin is None or os.name != "posix":
        return source  # no non-blocking pipes: communicate() feeds it
    os.set_blocking(stdin.fileno(), False)
    sent = 0
    try:
        while sent < len(source):
            sent += os.write(stdin.fileno(), source[sent:])
    except BlockingIOError:
        return source[sent:]
    except BrokenPipeError:
        pass  # the interpreter exited without reading its script: its exit status says why
    stdin.close()
    process.stdin = None  # communicate() would flush the closed pipe
    return b""


def _probe_document(executable: str, returncode: int, out: bytes, err: bytes) -> Mapping[str, object]:
    """The probe's JSON document from its exit status and output.

    :raises InterpreterError: the interpreter is too old, failed, or printed no document.
    """
    from envcapture.environment import _probe  # its markers; what it imports runs in the probe

    stdout = out.decode("utf-8", errors="replace")
    stderr = err.decode("utf-8", errors="replace")
    if returncode == _TOO_OLD_EXIT and "envcapture-probe: Python" in stderr:
        version = _last_line(stderr).rsplit(" ", 1)[-1]
        raise InterpreterError(
            f"{executable}: Python {version} is too old",
            hint="envcapture needs Python 3.8 or newer",
        )
    start, end = stdout.rfind(_probe.BEGIN), stdout.rfind(_probe.END)
    if returncode != 0:
        detail = _last_line(stderr) or "no error output"
        raise InterpreterError(f"{executable}: environment probe failed (exit {returncode}): {detail}")
    if start < 0 or end < start:
        detail = _last_line(stderr) or _last_line(stdout) or "no output"
        raise InterpreterError(f"{executable}: not a Python interpreter ({detail})")
    try:
        document = json.loads(stdout[start + len(_probe.BEGIN) : end])
    except ValueError as exc:
        raise InterpreterError(f"{executable}: unreadable probe output: {exc}") from exc
    if not isinstance(document, dict):
        raise InterpreterError(f"{executable}: unreadable probe output: not an object")
    for line in stderr.splitlines():
        if line.strip():
            _logger().debug("probe stderr: %s", line)
    return document


# --- JSON -> model ------------------------------------------------------------------------


class _Malformed(ValueError):
    pass


def _str(raw: Mapping[str, object], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise _Malformed(f"{key}: expected a string, got {value!r}")
    return value


def _opt_str(raw: Mapping[str, object], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Malformed(f"{key}: expected a string or null, got {value!r}")
    return value


def _str_list(raw: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Malformed(f"{key}: expected a list of strings")
    return tuple(value)


def _pairs(raw: Mapping[str, object], key: str) -> tuple[tuple[str, str], ...]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise _Malformed(f"{key}: expected a list of pairs")
    pairs: list[tuple[str, str]] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise _Malformed(f"{key}: expected [name, path] pairs, got {item!r}")
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def _objects(raw: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _Malformed(f"{key}: expected a list of objects")
    return value


def _distribution(raw: Mapping[str, object]) -> DistributionInfo:
    display = _str(raw, "name")
    return DistributionInfo(
        name=dist_name(display),
        display_name=display,
        version=_str(raw, "version"),
        requires=_str_list(raw, "requires"),
        provides_extras=_str_list(raw, "provides_extras"),
        requires_python=_opt_str(raw, "requires_python"),
        top_level=tuple(ModuleName(name) for name in sorted(set(_str_list(raw, "top_level")))),
        modules=tuple(ModuleName(name) for name in sorted(set(_str_list(raw, "modules")))),
        location=_str(raw, "location"),
        metadata_dir=_str(raw, "metadata_dir"),
        direct_url=_opt_str(raw, "direct_url"),
        editable_roots=tuple(sorted(set(_str_list(raw, "editable_roots")))),
        installer=_opt_str(raw, "installer"),
        requested=bool(raw.get("requested", False)),
        has_record=bool(raw.get("has_record", True)),
    )


def _build_snapshot(raw: Mapping[str, object], executable: str) -> EnvSnapshot:
    try:
        winners = _objects(raw, "distributions")
        distributions = sorted((_distribution(d) for d in winners), key=lambda d: d.name)
        shadowed = sorted((_distribution(d) for d in _objects(raw, "shadowed")), key=lambda d: d.name)
        mappings: set[tuple[str, str]] = set()
        for dist in winners:
            mappings.update(_pairs(dist, "editable_mappings"))
        diagnostics = tuple(
            sorted(
                Diagnostic(
                    file=_str(problem, "path") or None,
                    line=None,
                    code="unreadable-distribution",
                    message=f"skipped an unreadable distribution: {_str(problem, 'error')}",
                )
                for problem in _objects(raw, "problems")
            )
        )
        snapshot = EnvSnapshot(
            executable=_str(raw, "executable") or executable,
            python_version=_str(raw, "python_version"),
            implementation=_str(raw, "implementation"),
            sys_platform=_str(raw, "sys_platform"),
            platform_machine=_str(raw, "platform_machine"),
            prefix=_str(raw, "prefix"),
            base_prefix=_str(raw, "base_prefix"),
            sys_path=_str_list(raw, "sys_path"),
            site_packages=_str_list(raw, "site_packages"),
            stdlib_dirs=_str_list(raw, "stdlib_dirs"),
            distributions=tuple(distributions),
            editable_mappings=tuple(sorted(mappings)),
            shadowed=tuple(shadowed),
            diagnostics=diagnostics,
        )
    except _Malformed as exc:
        raise InterpreterError(f"{executable}: unreadable probe output: {exc}") from exc
    return snapshot


def __dir__() -> list[str]:
    return list(__all__)
