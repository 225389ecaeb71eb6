"""Private EDGE helper of the runtime: run one command in its own process group, stream its
output to the terminal and to log files, and cancel it the way the platform does.

* The job starts in a new session (``start_new_session=True``), so its process group is
  its own: a Ctrl+C at the terminal reaches the runtime only, and the runtime decides what
  the job gets.
* `Cancellation` turns SIGINT, SIGTERM and SIGHUP sent to the runtime into a cancel
  request. While the environment is being built it raises `Cancelled` (the build is
  abandoned, its temporary directory removed); once the job runs it only records the
  request and `supervise` acts on it: the configured ``graceful-shutdown`` signal to the
  whole group, then SIGKILL to the group after the timeout; without a
  ``graceful-shutdown`` section SIGKILL at once (the platform's documented behaviour). A
  second request during the wait sends SIGKILL at once.
* The job dies with the runtime: its main process has ``PR_SET_PDEATHSIG`` (SIGKILL), and
  a watchdog process kills its whole group when the runtime is killed (SIGKILL, the OOM
  killer) before it could do so itself.
* When the job's main process has exited, whatever is left of its group (background
  children) is killed with SIGKILL and reaped: a finished job leaves no process behind.
  A process that left the group on purpose (``setsid``) is out of reach.
* stdout and stderr are read in binary chunks by two threads, each written to its log file
  and to the runtime's stream, flushed per chunk. A closed terminal does not stop the
  logging.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from envcapture._fs import live_members

__all__ = ["Cancellation", "Cancelled", "Outcome", "group_members", "supervise"]

_POLL = 0.05  # seconds between checks of the job and of cancel requests
_CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Cancelled(BaseException):
    """A cancel request (SIGINT/SIGTERM/SIGHUP) arrived before the job started.

    A `BaseException`, like `KeyboardInterrupt`, so that no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class Cancellation:
    """Context manager: while active, SIGINT, SIGTERM and SIGHUP are cancel requests.

    ``raising`` (the default until `supervise` starts the job) makes the handler raise
    `Cancelled`; otherwise requests are only counted. Outside the main thread Python
    cannot install handlers: requests then follow the process' own dispositions.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.raising = True
        self.installed = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        if self.raising:
            raise Cancelled(signum)

    def __enter__(self) -> Cancellation:  # noqa: PYI034 - typing.Self needs Python 3.11
        if threading.current_thread() is threading.main_thread():
            for sig in _CANCEL_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
            self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How the job ended. ``returncode`` as `subprocess` gives it (negative: killed by that
    signal); ``cancel_signal`` is what the runtime received, ``sent`` what the job was
    sent first, ``killed`` whether SIGKILL went to the group; ``leftovers`` counts the
    processes of the group still alive after the main one exited; ``log_errors`` names the
    logs that could not be kept (the job still ran to its end, its pipes drained)."""

    pid: int
    returncode: int
    started: float
    finished: float
    cancel_signal: int | None = None
    cancel_seconds: float | None = None  # from the request to the end of the main process
    sent: str | None = None
    killed: bool = False
    leftovers: int = 0
    log_errors: tuple[str, ...] = ()  # logs that could not be written (a full disk): the run failed


def group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid``, from ``/proc`` (Linux; empty elsewhere)."""
    return live_members(pgid=pgid)


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _become_subreaper() -> None:
    """Orphans of the job are re-parented to the runtime (Linux ``PR_SET_CHILD_SUBREAPER``),
    which reaps them; without it they would wait for an init that may not reap (a
    container's pid 1 often does not)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process' own symbols: libc is loaded
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``PR_SET_PDEATHSIG``: the job's main process gets SIGKILL when the runtime dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


# The watchdog: a tiny process in its own session that holds the read end of a pipe from
# the runtime. EOF without "done" means the runtime died (SIGKILL, OOM killer): it kills
# the job's whole process group, which PR_SET_PDEATHSIG alone (the main process only)
# would leave running behind a shell.
_WATCHDOG = (
    "import os,signal,sys\n"
    "data=sys.stdin.buffer.read()\n"
    "if data!=b'done':\n"
    "    try: os.killpg(int(sys.argv[1]),signal.SIGKILL)\n"
    "    except OSError: pass\n"
)


def _watchdog(pgid: int) -> subprocess.Popen[bytes] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(pgid)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )  # fmt: skip
    except OSError:
        return None


def _release(watchdog: subprocess.Popen[bytes] | None) -> None:
    if watchdog is None or watchdog.stdin is None:
        return
    with contextlib.suppress(OSError):
        watchdog.stdin.write(b"done")
    with contextlib.suppress(OSError):
        watchdog.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        watchdog.wait(timeout=5)


def _reap_group(pgid: int, *, timeout: float = 5.0) -> int:
    """SIGKILL what is left of the group and reap it; return how many processes were left."""
    left = group_members(pgid)
    if not left:
        return 0
    _killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = group_members(pgid)
        for pid in alive:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if not alive:
            break
        time.sleep(0.02)
    return len(left)


def _pump(source: BinaryIO, log_path: Path, sink: BinaryIO | None, errors: list[str]) -> None:
    """Copy ``source`` to its log and ``sink`` until EOF. A log that cannot be written (a
    full disk, an I/O error) is recorded in ``errors`` and given up, but the pipe is still
    drained (and the terminal still fed), so the job never blocks on a full pipe."""
    fd = source.fileno()
    log: BinaryIO | None = None
    try:
        log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - closed below, whatever happens
    except OSError as exc:
        errors.append(f"{log_path}: cannot open the log: {exc.strerror or exc}; the job's output was not kept")
    written = 0
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        if log is not None:
            try:
                log.write(chunk)
                written += len(chunk)
            except OSError as exc:
                errors.append(
                    f"{log_path}: cannot write the log after {written} bytes: {exc.strerror or exc}; "
                    "the rest of the job's output was not kept"
                )
                with contextlib.suppress(OSError):
                    log.close()
                log = None
        if sink is not None:
            try:
                sink.write(chunk)
                sink.flush()
            except (OSError, ValueError):
                sink = None  # the terminal went away: keep logging
    if log is not None:
        with contextlib.suppress(OSError):
            log.close()
    source.close()


@contextlib.contextmanager
def _pumps(
    proc: subprocess.Popen[bytes], logs: Path, sinks: tuple[BinaryIO | None, BinaryIO | None], errors: list[str]
) -> Iterator[None]:
    assert proc.stdout is not None and proc.stderr is not None
    threads = [
        threading.Thread(target=_pump, args=(proc.stdout, logs / "stdout.log", sinks[0], errors), name="job-stdout", daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, logs / "stderr.log", sinks[1], errors), name="job-stderr", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for thread in threads:
            thread.join(timeout=10)  # a process that escaped the group may hold the pipe


def supervise(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    logs: Path,
    sinks: tuple[BinaryIO | None, BinaryIO | None],
    shutdown: tuple[int, float] | None,
    cancellation: Cancellation,
    on_start: Callable[[int], None] = lambda pid: None,
) -> Outcome:
    """Run ``argv`` to the end (or until cancelled); see the module docstring.

    :param shutdown: (signal, timeout seconds) of ``graceful-shutdown``; ``None``: SIGKILL
        at once on cancel.
    :raises OSError: the command cannot be started (the caller names it).
    """
    _become_subreaper()
    logs.mkdir(parents=True, exist_ok=True)
    cancellation.raising = False
    if cancellation.count:  # a request that arrived between setup and here
        raise Cancelled(cancellation.signum or signal.SIGTERM)
    started = time.time()
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, close_fds=True, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )  # fmt: skip
    pgid = proc.pid
    watchdog = _watchdog(pgid)
    sent: str | None = None
    killed = False
    cancel_at: float | None = None
    deadline: float | None = None
    seen = 0
    log_errors: list[str] = []
    with _pumps(proc, logs, sinks, log_errors):
        on_start(proc.pid)
        while True:
            try:
                returncode = proc.wait(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancellation.count > seen:
                if seen == 0:
                    cancel_at = time.monotonic()
                    if shutdown is None:
                        killed = _killpg(pgid, signal.SIGKILL) or killed
                    else:
                        sent = signal.Signals(shutdown[0]).name
                        _killpg(pgid, shutdown[0])
                        deadline = cancel_at + shutdown[1]
                else:  # asked again while waiting: stop waiting
                    killed = _killpg(pgid, signal.SIGKILL) or killed
                seen = cancellation.count
            if deadline is not None and not killed and time.monotonic() >= deadline:
                killed = _killpg(pgid, signal.SIGKILL) or killed
        cancel_seconds = time.monotonic() - cancel_at if cancel_at is not None else None
        leftovers = _reap_group(pgid)
    _release(watchdog)
    return Outcome(
        pid=proc.pid,
        returncode=returncode,
        started=started,
        finished=time.time(),
        cancel_signal=cancellation.signum if cancel_at is not None else None,
        cancel_seconds=cancel_seconds,
        sent=sent,
        killed=killed,
        leftovers=leftovers,
        log_errors=tuple(log_errors),
    )
