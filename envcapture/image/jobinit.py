"""The init of envcapture's images (PID 1): the job's command in a process group of its own, stop signals forwarded to it.

Shipped in the image as ``/opt/envcapture/init.py`` and started by the image's Python as
``python -I -S /opt/envcapture/init.py /bin/sh -c CMD`` (see `envcapture.image.command`).
It is never imported by envcapture: it runs in the image, on the target's CPython (3.8 or
newer), with nothing but ``os``, ``signal`` and ``sys``.

Why: the kernel delivers to a PID 1 only the signals it has a handler for
(pid_namespaces(7)), and neither ``sh`` nor a job without a SIGTERM handler installs one;
``sh`` does not forward signals either. ``docker stop`` of ``sh -c "a && b"`` then did
nothing until the engine's SIGKILL ten seconds later (exit 137). This init:

* starts the command in a new process group (the terminal's foreground group when there
  is a terminal), with the default signal dispositions a job expects (Python ignores
  SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across ``exec``);
* forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH to the whole
  group (every ``graceful-shutdown`` signal is among them), so every process of the job
  gets the stop signal, as under ``envcapture run``;
* reaps every child that ends (orphans are reparented to PID 1);
* exits with the command's status: its exit code, or 128 + N when signal N ended it.
"""

from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["FORWARDED", "exit_status", "main"]

FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")
"""The signals sent on to the job's process group."""

_FORWARDED_SIGNALS = tuple(getattr(signal, name) for name in FORWARDED)


def exit_status(status: int) -> int:
    """A ``waitpid`` status as a shell reports it: the exit code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _in_foreground() -> bool:
    """Whether this process' group is its terminal's foreground group (``docker run -t``)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _take_terminal() -> None:
    """Make the new group the terminal's foreground group, so the job can read it (a
    background group reading its terminal is stopped by SIGTTIN)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # tcsetpgrp from a background group sends SIGTTOU
    try:
        os.tcsetpgrp(0, os.getpgrp())
    except OSError:
        pass  # not our controlling terminal: nothing to hand over
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _start(argv: list[str], *, foreground: bool) -> None:
    """In the forked child: own process group (the terminal's when ``foreground``),
    default dispositions, then ``exec``. Never returns."""
    code = 126
    try:
        for signum in (*_FORWARDED_SIGNALS, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        os.setpgid(0, 0)
        if foreground:
            _take_terminal()
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # a blocked mask would survive exec
        os.execvp(argv[0], argv)  # noqa: S606 - the job's own command, as its config gives it
    except OSError as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        os.write(2, f"envcapture-init: {argv[0]}: {exc.strerror or exc}\n".encode(errors="replace"))
    finally:
        os._exit(code)


def main(argv: list[str]) -> int:
    """Run ``argv`` as the job; return its status (see `exit_status`)."""
    if not argv:
        os.write(2, b"usage: init.py COMMAND [ARG...]\n")
        return 2
    group = 0
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = stopping or signum != signal.SIGWINCH
        if group <= 0:
            return  # never killpg(0): that is this process' own group (its caller's)
        try:
            os.killpg(group, signum)
        except OSError:
            pass  # the group has ended; its status is on its way

    foreground = _in_foreground()
    # Blocked until the group exists: a signal in between is held, then forwarded, not lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED_SIGNALS)
    for signum in _FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    child = os.fork()
    if child == 0:
        _start(argv, foreground=foreground)
    try:
        os.setpgid(child, child)  # the child does it too; whichever runs first wins
    except OSError:
        pass  # EACCES: the child has already called exec (and set its group)
    group = child
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED_SIGNALS)
    while True:
        pid, status = os.waitpid(-1, 0)  # any child: orphans of the job are reaped too
        if pid == child:
            if stopping:
                _wait_for_group(group)
            return exit_status(status)


def _wait_for_group(group: int) -> None:
    """After a forwarded signal, wait until no process of the job's group is left, reaping
    those that end. The signal also ends the ``sh`` that runs ``a && b``, while ``b`` may
    still be cleaning up (the engine's SIGKILL after its timeout bounds the wait); when PID
    1 exits, the kernel kills whatever is left in the container."""
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass  # none of ours: the rest of the group belongs to another parent
        try:
            os.killpg(group, 0)
        except OSError:
            return  # ESRCH: the group is empty
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
