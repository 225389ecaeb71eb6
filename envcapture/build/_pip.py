"""Private EDGE helpers of the builders: pip subprocesses that see exactly the job's sources,
transient-error retries, download progress, and which source pip found a file on.

pip's configuration files are turned off in every subprocess (``PIP_CONFIG_FILE=/dev/null``,
no ``PIP_*`` source variables): the sources come on the command line, from the closure's
options, which already hold pip's configuration of the analysed environment under the
job's own (`envcapture.resolution.sources.with_pip_config`). So pip, uv and the lock see
one list of sources, and the lock can say which one each file came from.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.version import InvalidVersion, Version

from envcapture._fs import remove_debris, temp_prefix
from envcapture.resolution.model import PackageSource, ResolveOptions, SourceKind
from envcapture.resolution.requirements import expand_env_vars
from envcapture.resolution.sources import source_of_link

__all__ = [
    "PipRun",
    "found_in_meta",
    "found_meta",
    "found_on",
    "index_args",
    "pip_command",
    "pip_environ",
    "raw_progress",
    "run_pip",
]

log = logging.getLogger(__name__)


# pip settings that only change how this machine reaches an index (TLS, proxy, timeout,
# keyring), never which files are chosen: kept from the caller's environment.
_PIP_TRANSPORT = frozenset({"PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_DEFAULT_TIMEOUT", "PIP_KEYRING_PROVIDER"})


def pip_environ(
    environ: Mapping[str, str] | None = None, *, transport: Sequence[tuple[str, str]] = (), **extra: str
) -> dict[str, str]:
    """``environ`` (default ``os.environ``) without ``PIP_*``/``PYTHON*`` settings, with pip's
    configuration files disabled: pip sees only the sources given on its command line (the
    closure's, which the lock records). Transport settings stay: proxies, ``~/.netrc``,
    ``PIP_CERT``, ``PIP_CLIENT_CERT``, ``PIP_PROXY``, and ``transport`` (pip's ``cert``,
    ``proxy``... from its configuration files, `ResolveOptions.transport`) where the
    environment does not set them."""
    base = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in base.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV")) or k in _PIP_TRANSPORT}
    for key, value in transport:
        env.setdefault("PIP_" + key.upper().replace("-", "_"), value)
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
        where the output of a build subprocess goes), else its last two lines. A line that
        says which requirement was not found wins over pip's wrapper of it (pip 24+ prints
        only "Failed to build ... when installing build dependencies"; the cause is in
        the log)."""
        found: list[str] = []
        for text in (self.stderr, self.stdout, self.log):
            for line in _error_lines(text):
                if line in found:
                    found.remove(line)
                found.append(line)
            if found:
                break
        if not any(_NOT_FOUND.search(line) for line in found):
            causes = [line for line in _error_lines(self.log) if _NOT_FOUND.search(line)]
            if causes:
                found = list(dict.fromkeys(causes))
        if not found:
            lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
            found = lines[-2:]
        return " ".join(found[-2:])[:limit]


def _error_lines(text: str) -> list[str]:
    return [
        "ERROR: " + match.group(1).strip()
        for match in _ERROR_LINE.finditer(text)
        if not match.group(1).startswith("[present-")  # pip's rich-rendered duplicate
    ]


_NOT_FOUND = re.compile(r"Could not find a version|No matching distribution")
_ERROR_LINE = re.compile(r"\bERROR: (.+)")


@functools.cache
def _sweep_logs() -> None:
    """Once per process: the pip logs of builds that were killed before their cleanup."""
    remove_debris(tempfile.gettempdir(), "pip")


def _run_once(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path | None, timeout: float, on_line: Callable[[str], None] | None
) -> tuple[int, str, str]:
    """One pip process: (return code, stdout, stderr). With ``on_line``, stdout is read line
    by line as pip writes it (its ``raw`` progress) and stderr by a thread; ``timeout``
    kills the process either way."""
    if on_line is None:
        try:
            done = subprocess.run(cmd, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            return -1, "", f"pip timed out after {exc.timeout:.0f} s"
        return done.returncode, done.stdout, done.stderr
    proc = subprocess.Popen(
        cmd, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, stop)
    timer.start()
    out: list[str] = []
    try:
        for line in proc.stdout:
            out.append(line)
            try:
                on_line(line.rstrip("\n"))
            except Exception:  # a progress display never stops a download
                log.debug("progress callback failed", exc_info=True)
        returncode = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    if timed_out.is_set():
        return -1, "".join(out), f"pip timed out after {timeout:.0f} s"
    return returncode, "".join(out), "".join(errors)


def run_pip(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    retries: int = 2,
    backoff: float = 1.0,
    timeout: float = 900.0,
    cwd: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
    keep_log: bool = False,
    on_line: Callable[[str], None] | None = None,
) -> PipRun:
    """Run ``pip args`` (`pip_command`); retry ``retries`` times, waiting ``backoff``,
    ``2*backoff``... seconds, when it fails with what looks transient. pip's debug log is
    kept in the result when it fails, or always with ``keep_log`` (it names the page each
    file was found on: `found_on`); ``on_line`` gets each line of pip's output as it comes."""
    attempt = 0
    while True:
        attempt += 1
        _sweep_logs()
        fd, log_path = tempfile.mkstemp(prefix=temp_prefix("pip"), suffix=".log")
        os.close(fd)
        try:
            returncode, stdout, stderr = _run_once([*pip_command(), *args, "--log", log_path], env, cwd, timeout, on_line)
            try:
                log_text = Path(log_path).read_text("utf-8", errors="replace") if returncode != 0 or keep_log else ""
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


# --- progress -----------------------------------------------------------------------------------

_PROGRESS_RE = re.compile(r"^Progress (\d+) of (\d+)$")


@functools.cache
def _pip_has_raw_progress() -> bool:
    """pip 24.1 added ``--progress-bar raw`` (``Progress <done> of <total>`` lines on stdout)."""
    try:
        return Version(importlib.metadata.version("pip")) >= Version("24.1")
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):  # pragma: no cover - pip is a dependency
        return False


def raw_progress(on_bytes: Callable[[int, int], None] | None) -> tuple[list[str], Callable[[str], None] | None]:
    """pip's ``--progress-bar`` arguments and the line callback that turns its ``raw``
    progress into ``on_bytes(done, total)`` (total 0 when the server sent no length);
    ``off`` and no callback without ``on_bytes`` or with a pip older than 24.1."""
    if on_bytes is None or not _pip_has_raw_progress():
        return ["--progress-bar", "off"], None

    def on_line(line: str) -> None:
        match = _PROGRESS_RE.match(line.strip())
        if match:
            on_bytes(int(match.group(1)), int(match.group(2)))

    return ["--progress-bar", "raw"], on_line


# --- where pip found a file -----------------------------------------------------------------------

# pip's debug log names each candidate: "Found link <url> (from <page>) (requires-python:...), version: X";
# a file in a find-links directory has no page.
_FOUND_LINK_RE = re.compile(r"Found link (?P<url>\S+)(?: \(from (?P<page>\S+?)\))?(?: \(requires-python:[^)]*\))?, version: ")


def found_on(
    log_text: str,
    filename: str,
    options: ResolveOptions,
    *,
    extra_indexes: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> PackageSource | None:
    """The configured source pip found ``filename`` on, read from its debug log; ``None``
    when the log does not say. When several sources have a file of that name, a local
    find-links directory comes first, as pip lists local files before pages (and keeps
    the first of equal candidates)."""
    found: list[PackageSource] = []
    for match in _FOUND_LINK_RE.finditer(log_text):
        url = match.group("url")
        if unquote(urlsplit(url.partition("#")[0]).path).rsplit("/", 1)[-1] != filename:
            continue
        source = source_of_link(url, match.group("page"), options, extra_indexes=extra_indexes, environ=environ)
        if source is not None and source not in found:
            found.append(source)
    if not found:
        return None
    return sorted(found, key=lambda s: (s.kind is not SourceKind.FIND_LINKS, found.index(s)))[0]


def found_meta(source: PackageSource | None) -> dict[str, str] | None:
    """What a store entry records of where its file was found (`found_in_meta` reads it back)."""
    return {"found_on": source.location, "found_on_kind": source.kind.value} if source else None


def found_in_meta(meta: Sequence[tuple[str, str]]) -> PackageSource | None:
    """The source a store entry's ``meta`` (`found_meta`) names, if any."""
    fields = dict(meta)
    if fields.get("found_on") and fields.get("found_on_kind") in {k.value for k in SourceKind}:
        return PackageSource(kind=SourceKind(fields["found_on_kind"]), location=fields["found_on"])
    return None
