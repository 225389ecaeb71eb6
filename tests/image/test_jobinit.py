"""envcapture's init (envcapture/image/jobinit.py), run as the image runs it: a subprocess
of this machine's Python, and PID 1 of a new PID namespace (``unshare``) as in a container.
The Cmd that starts it (envcapture/image/command.py) is run for real, too. The same in a
container: tests/image/test_image.py::test_docker_stop_delivers_the_graceful_shutdown_signal_to_the_job."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envcapture.config.sections.compute import SIGNALS
from envcapture.image.command import INIT_PATH, container_cmd
from envcapture.image.jobinit import FORWARDED

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the init runs in Linux images")

JOBINIT = Path(__file__).resolve().parents[2] / "envcapture" / "image" / "jobinit.py"
INIT = [sys.executable, "-I", "-S", str(JOBINIT)]
PYTHON = shlex.quote(sys.executable)
# The job's "python" is this interpreter.
JOB_ENV = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}

# Traps SIGTERM, cleans up for a while (the init must wait for it), leaves a marker, exits 7.
TRAIN = """\
import signal, sys, time
def stop(signum, frame):
    time.sleep(0.5)
    with open("marker", "w") as out:
        out.write("train got " + signal.Signals(signum).name)
    sys.exit(7)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "prep.py").write_text('print("prep", flush=True)\n')
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    lines = []
    while "ready" not in lines:
        line = proc.stdout.readline()
        assert line, f"the job ended before it was ready: {lines}"
        lines.append(line.strip())


def _stop(argv: list[str], cwd: Path) -> tuple[int, float]:
    """Start ``argv`` (the init), wait for the job's "ready", send SIGTERM to the init:
    (the init's exit status, seconds it took to exit)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=JOB_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        _wait_ready(proc)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=10)
        return status, time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("script", "status"),
    [
        ("python prep.py && python train.py", 128 + signal.SIGTERM),  # sh dies of the signal too
        ("python prep.py\npython train.py", 128 + signal.SIGTERM),  # several lines: sh -e
        ("exec python train.py", 7),  # one command: the job is the init's child, its status is the init's
    ],
    ids=["and-list", "lines", "exec"],
)
@pytest.mark.slow
def test_sigterm_to_the_init_reaches_the_job_behind_sh(tmp_path: Path, script: str, status: int) -> None:
    project = _project(tmp_path)
    shell = ["/bin/sh", "-e", "-c", script] if "\n" in script else ["/bin/sh", "-c", script]
    got, seconds = _stop([*INIT, *shell], project)
    assert (project / "marker").read_text() == "train got SIGTERM"  # written before the init exited
    assert got == status
    assert seconds < 5


def test_every_graceful_shutdown_signal_is_forwarded() -> None:
    assert set(SIGNALS) <= set(FORWARDED)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"])
def test_the_configured_stop_signal_reaches_the_whole_group(tmp_path: Path, name: str) -> None:
    """No handler anywhere: ``sleep`` and the ``sh`` that waits for it die of the forwarded signal."""
    sig = int(getattr(signal, name))
    # "ready" comes from the process that then sleeps: it is in the group before the signal is sent.
    script = "sh -c 'echo ready; exec sleep 30'; echo after"
    proc = subprocess.Popen([*INIT, "/bin/sh", "-c", script], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        _wait_ready(proc)
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 128 + sig
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_exit_status_and_bad_commands(tmp_path: Path) -> None:
    run = subprocess.run([*INIT, "/bin/sh", "-c", "exit 3"], capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 3
    run = subprocess.run([*INIT, "/bin/sh", "-c", "kill -KILL $$"], capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 128 + signal.SIGKILL
    run = subprocess.run([*INIT, str(tmp_path / "missing")], capture_output=True, text=True, timeout=30, check=False)
    assert (run.returncode, run.stderr) == (127, f"envcapture-init: {tmp_path / 'missing'}: No such file or directory\n")
    run = subprocess.run(INIT, capture_output=True, text=True, timeout=30, check=False)
    assert (run.returncode, run.stderr) == (2, "usage: init.py COMMAND [ARG...]\n")


@pytest.mark.slow
def test_the_job_gets_default_signal_dispositions(tmp_path: Path) -> None:
    """Python ignores SIGPIPE; the job must not inherit that (``yes | head`` must end)."""
    run = subprocess.run(
        [*INIT, "/bin/sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"], capture_output=True, text=True, timeout=30
    )
    masks = dict(line.split(":\t") for line in run.stdout.splitlines())
    assert int(masks["SigIgn"], 16) & (1 << (signal.SIGPIPE - 1)) == 0
    assert int(masks["SigBlk"], 16) == 0


def _launcher(cmd: str, python: str) -> list[str]:
    """The Cmd of a plain job's image, pointed at this checkout's init instead of the image's."""
    return [arg.replace(INIT_PATH, str(JOBINIT)) for arg in container_cmd(cmd, python=python, plain=True)]


@pytest.mark.slow
def test_the_image_cmd_runs_the_init_when_the_python_is_there(tmp_path: Path) -> None:
    project = _project(tmp_path)
    got, _ = _stop(_launcher("python prep.py\npython train.py", sys.executable), project)
    assert (got, (project / "marker").read_text()) == (128 + signal.SIGTERM, "train got SIGTERM")
    # Several lines run under sh -e: the first failing line ends the job.
    run = subprocess.run(_launcher("false\necho never", sys.executable), capture_output=True, text=True, timeout=30)
    assert (run.returncode, run.stdout) == (1, "")


@pytest.mark.slow
def test_the_image_cmd_without_the_python_runs_the_command_alone(tmp_path: Path) -> None:
    """A plain job's base image without Python: the command runs as before, under sh."""
    run = subprocess.run(
        _launcher("echo $0 && echo ok", str(tmp_path / "no-python")), capture_output=True, text=True, timeout=30, check=False
    )
    assert (run.returncode, run.stdout) == (0, "/bin/sh\nok\n")


def _pid_namespace() -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("a PID namespace (unshare -p) needs root here")
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed (util-linux)")
    probe = subprocess.run([unshare, "-p", "-f", "--kill-child", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare -p does not work here: {probe.stderr.strip()}")
    return [unshare, "-p", "-f", "--kill-child"]


@pytest.mark.slow
def test_as_pid_1_sigterm_stops_a_job_without_a_handler(tmp_path: Path) -> None:
    """PID 1 of a namespace gets only the signals it handles: ``sh -c "a && b"`` as PID 1
    ignores SIGTERM (what ``docker stop`` saw), the init forwards it and the job dies of it."""
    unshare = _pid_namespace()
    script = f"sleep 30 & {PYTHON} -c \"print('ready', flush=True); import time; time.sleep(30)\" && echo after"

    def stop_pid1(argv: list[str]) -> int | None:
        proc = subprocess.Popen([*unshare, *argv], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        try:
            _wait_ready(proc)
            (pid1,) = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
            os.kill(pid1, signal.SIGTERM)
            try:
                return proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                return None
        finally:
            if proc.poll() is None:
                proc.kill()  # unshare --kill-child takes PID 1, and the namespace with it
                proc.wait()

    assert stop_pid1(["/bin/sh", "-c", script]) is None  # sh as PID 1: SIGTERM is ignored
    assert stop_pid1([*INIT, "/bin/sh", "-c", script]) == 128 + signal.SIGTERM


@pytest.mark.slow
def test_as_pid_1_orphans_are_reaped(tmp_path: Path) -> None:
    """A process whose parent ended is the init's: it is reaped, no zombie stays."""
    unshare = _pid_namespace()
    count_zombies = (
        "import os\n"
        "states = []\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try: states.append(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0])\n"
        "    except OSError: pass\n"
        "print(states.count('Z'))\n"
    )
    (tmp_path / "zombies.py").write_text(count_zombies)
    script = f"sh -c 'sleep 0.2 &'; sleep 1; {PYTHON} zombies.py"
    run = subprocess.run(
        [*unshare, "--mount-proc", *INIT, "/bin/sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (run.returncode, run.stdout) == (0, "0\n"), run.stderr
