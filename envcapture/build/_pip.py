"""Private EDGE helpers of the builders: pip subprocesses isolated from the machine's pip
configuration, interpreters of a given version, transient-error retries."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envcapture._fs import remove_debris, temp_prefix
from envcapture.resolution.model import ResolveOptions
from envcapture.resolution.requirements import expand_env_vars

__all__ = [
    "PipRun",
    "index_args",
    "pip_command",
    "pip_environ",
    "run_pip",
]

log = logging.getLogger(__name__)


# pip settings that only change how this machine reaches an index (TLS, proxy, timeout,
# keyring), never which files are chosen: kept from the caller's environment.
_PIP_TRANSPORT = frozenset({"PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_DEFAULT_TIMEOUT", "PIP_KEYRING_PROVIDER"})


def pip_environ(environ: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``environ`` (default ``os.environ``) without ``PIP_*``/``PYTHON*`` settings, with pip's
    configuration files disabled: the only indexes pip sees are the ones the job configured
    (the lock promises them), never a global ``pip.conf`` or ``PIP_FIND_LINKS``. Transport
    settings stay: proxies, ``~/.netrc``, ``PIP_CERT``, ``PIP_CLIENT_CERT``, ``PIP_PROXY``."""
    base = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in base.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV")) or k in _PIP_TRANSPORT}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["PYTHONHASHSEED"] = "0"
    env.update(extra)
    return env


@functools.lru_cache(maxsize=1)
def pip_command() -> tuple[str, ...]:
    """``python -m pip`` of the interpreter running envcapture (pip is a dependency)."""
    if importlib.util.find_spec("pip") is None:  # pragma: no cover - pip is a dependency
        return ()
    return (sys.executable, "-m", "pip")


def index_args(options: ResolveOptions, environ: Mapping[str, str]) -> list[str]:
    """pip's finder options for ``options``, ``${VAR}`` expanded from ``environ``."""
    args: list[str] = []
    if options.no_index:
        args.append("--no-index")
    elif options.index_url:
        args += ["--index-url", expand_env_vars(options.index_url, environ)]
    if not options.no_index:
        for url in options.extra_index_urls:
            args += ["--extra-index-url", expand_env_vars(url, environ)]
    for link in options.find_links:
        args += ["--find-links", expand_env_vars(link, environ)]
    for host in options.trusted_hosts:
        args += ["--trusted-host", host]
    if options.pre:
        args.append("--pre")
    return args


# pip's messages when a request failed for a reason that may pass: connection errors,
# timeouts, 5xx answers, truncated bodies (a wrong hash on a partial download). pip logs an
# index page it could not fetch only at debug level ("Could not fetch URL ... - skipping")
# and then reports "no matching distribution", so its debug log (--log) is searched too.
# A 404 is not transient: an extra index that lacks the project answers 404.
_TRANSIENT = re.compile(
    r"(Could not fetch URL \S+: (5\d\d |HTTPS?ConnectionPool|.*(timed out|Connection|RemoteDisconnected))|"
    r"ConnectionError|Connection (reset|refused|aborted)|Read timed out|Max retries exceeded|"
    r"Temporary failure in name resolution|ProxyError|IncompleteRead|ChunkedEncodingError|"
    r"RemoteDisconnected|\b5\d\d Server Error|THESE PACKAGES DO NOT MATCH THE HASHES)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PipRun:
    """The last attempt of a pip command: return code, output, attempts made."""

    returncode: int
    stdout: str
    stderr: str
    attempts: int
    log: str = ""  # pip's debug log of the attempt

    @property
    def transient(self) -> bool:
        return any(_TRANSIENT.search(text) for text in (self.stderr, self.stdout, self.log))

    def last_error(self, limit: int = 300) -> str:
        """pip's last two distinct ``ERROR:`` lines (from its output, else its debug log,
        where the output of a build subprocess goes), else its last two lines."""
        found: list[str] = []
        for text in (self.stderr, self.stdout, self.log):
            for match in _ERROR_LINE.finditer(text):
                line = "ERROR: " + match.group(1).strip()
                if match.group(1).startswith("[present-"):  # pip's rich-rendered duplicate
                    continue
                if line in found:
                    found.remove(line)
                found.append(line)
            if found:
                break
        if not found:
            lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
            found = lines[-2:]
        return " ".join(found[-2:])[:limit]


_ERROR_LINE = re.compile(r"\bERROR: (.+)")


@functools.cache
def _sweep_logs() -> None:
    """Once per process: the pip logs of builds that were killed before their cleanup."""
    remove_debris(tempfile.gettempdir(), "pip")


def run_pip(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    retries: int = 2,
    backoff: float = 1.0,
    timeout: float = 900.0,
    cwd: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PipRun:
    """Run ``pip args`` (`pip_command`); retry ``retries`` times, waiting ``backoff``,
    ``2*backoff``... seconds, when it fails with what looks transient."""
    attempt = 0
    while True:
        attempt += 1
        _sweep_logs()
        fd, log_path = tempfile.mkstemp(prefix=temp_prefix("pip"), suffix=".log")
        os.close(fd)
        try:
            try:
                done = subprocess.run(
                    [*pip_command(), *args, "--log", log_path],
                    env=dict(env),
                    cwd=cwd,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
                returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
            except subprocess.TimeoutExpired as exc:
                returncode, stdout, stderr = -1, "", f"pip timed out after {exc.timeout:.0f} s"
            try:
                log_text = Path(log_path).read_text("utf-8", errors="replace") if returncode != 0 else ""
            except OSError:
                log_text = ""
        finally:
            try:
                os.unlink(log_path)
            except OSError:
                pass
        run = PipRun(returncode=returncode, stdout=stdout, stderr=stderr, attempts=attempt, log=log_text)
        if run.returncode == 0 or attempt > retries or not run.transient:
            return run
        delay = backoff * (2 ** (attempt - 1))
        log.info("pip failed (%s); retrying in %.1f s", run.last_error(120), delay)
        sleep(delay)
