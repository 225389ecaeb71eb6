"""The job's ``cmd`` -> the image's ``Cmd``, started by envcapture's init (`envcapture.image.jobinit`). Pure.

The ``Cmd`` runs ``/opt/envcapture/init.py`` with the image's Python; the init runs the
job's shell command in a process group of its own and forwards the stop signal of
``docker stop`` to it (see `envcapture.image.jobinit` for why ``sh`` as PID 1 cannot):

* a job with a virtualenv: ``[<venv>/bin/python, -I, -S, /opt/envcapture/init.py, /bin/sh, -c, SCRIPT]``
  (the virtualenv's Python is the base image's, which the job needs anyway);
* a plain job (no ``env.python``, any base image): ``/bin/sh -c`` runs the init with
  ``--base-python`` when the image has it, else the shell command as is (``sh`` is then PID
  1: a compound command gets no signal).

``SCRIPT`` is what ``envcapture run`` runs: ``exec <cmd>`` for one simple command (the
job replaces the shell), ``cmd`` for a compound one (``a && b``, a pipeline), and several
command lines run under ``sh -e`` (every line, stopping at the first that fails). ``-I -S``:
the init ignores ``PYTHON*`` variables, the user's site-packages and ``.pth`` files, which
are the job's; the job still gets the whole environment.
"""

from __future__ import annotations

import re
from importlib import resources

from envcapture.image.layers import TreeEntry, file_entry

__all__ = ["INIT_PATH", "container_cmd", "init_entry"]


def __dir__() -> list[str]:
    return __all__


INIT_PATH = "/opt/envcapture/init.py"
INIT_NAME = "envcapture-init"  # $0 of the plain job's launcher: what sh names in its errors

# Lists, pipes, redirections, subshells, a newline or a leading assignment: more than one
# simple command, which ``exec`` cannot hand the shell's process to.
_COMPOUND_RE = re.compile(r"[|&;<>()`\n]|^\s*[A-Za-z_][A-Za-z0-9_]*=|^\s*exec\s")
# $1: the Python; the rest: the command. Without that Python, the command alone.
_LAUNCHER = f'py=$1; shift; if [ -x "$py" ]; then exec "$py" -I -S {INIT_PATH} "$@"; fi; exec "$@"'


def _shell(cmd: str) -> list[str]:
    text = cmd.strip()
    if "\n" in text:
        return ["/bin/sh", "-e", "-c", text]
    if not text or _COMPOUND_RE.search(text):
        return ["/bin/sh", "-c", text]
    return ["/bin/sh", "-c", f"exec {text}"]


def container_cmd(cmd: str, *, python: str, plain: bool) -> list[str]:
    """The image's ``Cmd`` for ``cmd``: the init with ``python`` runs it (see above).

    >>> container_cmd("python main.py", python="/opt/envcapture/venv/bin/python", plain=False)
    ['/opt/envcapture/venv/bin/python', '-I', '-S', '/opt/envcapture/init.py', '/bin/sh', '-c', 'exec python main.py']
    >>> container_cmd("python a.py && python b.py", python="/usr/local/bin/python3", plain=True)[3:]
    ['envcapture-init', '/usr/local/bin/python3', '/bin/sh', '-c', 'python a.py && python b.py']
    """
    shell = _shell(cmd)
    if plain:
        return ["/bin/sh", "-c", _LAUNCHER, INIT_NAME, python, *shell]
    return [python, "-I", "-S", INIT_PATH, *shell]


def init_entry() -> TreeEntry:
    """The init as a layer entry at `INIT_PATH` (mode 0755)."""
    data = resources.files("envcapture.image").joinpath("jobinit.py").read_bytes()
    return file_entry(INIT_PATH.lstrip("/"), data=data, executable=True)
