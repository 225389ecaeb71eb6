"""On the target: a bundle -> its job run to the end in an offline environment. EDGE: install, exec, signals.

``run_bundle(bundle, workdir)`` (and ``envcapture run``), in this order; see ``docs/runtime.md``:

1. the run directory is created (it must not exist or be empty) and ``status.json``
   says Pending;
2. every artifact of ``manifest.json`` is checked against its size and sha256, and every
   ``env.vars`` entry must have a value: otherwise the run stops here, before anything is
   installed or started, with one line naming the file or variable (`InputError`, exit 2);
3. the environment (not for a plain job): reused from ``<cache>/envs/`` or built offline
   from the wheelhouse (`envcapture.runtime.environment`; `BuildError`, exit 3);
4. ``local-code.tar.gz`` and ``inputs.tar.gz`` are unpacked into ``RUN_DIR/work`` (regular
   files and directories only; absolute paths, ``..`` and links are refused);
5. ``${VAR}`` references are resolved (inputs, outputs, datasets, s3-mounts,
   output-datasets, args, ``env.vars``, ``DS_PROJECT_HOME``); ``cmd`` runs as an argv list,
   or through ``/bin/sh -c`` when it uses shell syntax (``/bin/sh -e -c`` when it has several
   command lines: each runs in order, the first failure stops it), in its own process group, with the
   environment's ``bin`` first on ``PATH`` and ``VIRTUAL_ENV`` set (state Running);
6. the job's outputs are copied to ``RUN_DIR/outputs``; the state becomes Complete (exit
   0), Failed (any other exit) or Cancelled (SIGINT, SIGTERM or SIGHUP to the runtime;
   see `envcapture.runtime.supervise` for the graceful shutdown).

``RUN_DIR/status.json`` (schema ``envcapture/run-status``) is rewritten at each step; it is
a run record, with timestamps and absolute paths, not a reproducible artifact.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tarfile
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from envcapture._fs import atomic_write_bytes, default_cache_dir, document_header
from envcapture.build.manifest import hash_checks, read_manifest
from envcapture.errors import EnvcaptureError, InputError
from envcapture.runtime.environment import RunEnv, ensure_environment
from envcapture.runtime.supervise import Cancellation, Cancelled, Outcome, supervise

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "RUN_STATUS_SCHEMA",
    "RunResult",
    "RunState",
    "command_argv",
    "run_bundle",
    "shown_command",
]


def __dir__() -> list[str]:
    return __all__


RUN_STATUS_SCHEMA = "envcapture/run-status"
RUN_STATUS_SCHEMA_VERSION = "1.0"
EXIT_FAILED = 1
EXIT_CANCELLED = 130  # what a shell reports for a job stopped by Ctrl+C (128 + SIGINT)
PROJECT_HOME = "DS_PROJECT_HOME"
_REF_RE = re.compile(r"\$\{([^}]*)\}")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Outside a ${VAR} the config declared, any of these needs a shell: pipes, lists,
# redirections, subshells, other expansions, globs, quoting escapes.
_SHELL_RE = re.compile(r"[|&;<>()$`\\*?\[\]{}~]")
_ASSIGNMENT_RE = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*=")
# Not the job's business: the runtime's own interpreter settings.
_DROPPED_ENV = frozenset({"VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__"})


class RunState(str, enum.Enum):
    """The job's life cycle, as the platforms name it."""

    PENDING = "Pending"  # the bundle is checked, the environment built, the files placed
    RUNNING = "Running"
    COMPLETE = "Complete"  # exit code 0
    FAILED = "Failed"  # any other exit code, or the run stopped before the job started
    CANCELLED = "Cancelled"  # SIGINT/SIGTERM/SIGHUP to the runtime


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """A finished run: its directory, final state, the job's exit code (``None`` when it
    never started), the setup time and the status document written."""

    run_dir: Path
    state: RunState
    exit_code: int | None
    setup_seconds: float | None
    environment: RunEnv | None
    missing_outputs: tuple[str, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_status(self) -> int:
        """What ``envcapture run`` exits with: 0 Complete, 1 Failed, 130 Cancelled."""
        if self.state is RunState.COMPLETE:
            return 0
        if self.state is RunState.CANCELLED:
            return EXIT_CANCELLED
        return EXIT_FAILED


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso(timestamp: float) -> str:
    moment = _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Status:
    """``status.json``, rewritten atomically at each change."""

    def __init__(self, run_dir: Path, bundle: Path) -> None:
        self.path = run_dir / "status.json"
        self.doc: dict[str, Any] = {
            **document_header(RUN_STATUS_SCHEMA, RUN_STATUS_SCHEMA_VERSION),
            "state": RunState.PENDING.value,
            "bundle": str(bundle),
            "run_dir": str(run_dir),
            "workdir": str(run_dir / "work"),
            "cmd": None,
            "argv": None,
            "shell": None,
            "plain": None,
            "created_at": _now(),
            "started_at": None,
            "finished_at": None,
            "setup_seconds": None,
            "setup": {},
            "environment": None,
            "pid": None,
            "exit_code": None,
            "signal": None,
            "cancel": None,
            "outputs": [],
            "missing_outputs": [],
            "leftover_processes": 0,
            "error": None,
        }

    def create(self) -> None:
        """Write the first ``status.json`` exclusively: it is the run directory's marker, so
        two runs racing on one empty directory cannot both start (the second is refused).
        The record is written to a temporary file and hard-linked into place (``link`` fails
        when the name exists), so a reader never sees an empty ``status.json``."""
        data = (json.dumps(self.doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.link(tmp, self.path)
        except FileExistsError:
            raise InputError(f"{self.path.parent}: another run started in this directory; give a new --workdir") from None
        except OSError as exc:
            raise InputError(f"{self.path}: cannot create the run record: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def update(self, **fields: Any) -> None:
        """Rewrite ``status.json`` atomically; on a full disk (no room for the temporary
        file) overwrite it in place, which needs no new block for a record of this size.

        :raises InputError: neither way works (the line names the file).
        """
        self.doc.update(fields)
        data = (json.dumps(self.doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            atomic_write_bytes(self.path, data)
        except OSError as exc:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.ftruncate(fd, len(data))
                finally:
                    os.close(fd)
            except OSError:
                raise InputError(f"{self.path}: cannot write the run record: {exc.strerror or exc}") from exc


# --- the bundle ---------------------------------------------------------------------------------


def _job(manifest: Mapping[str, Any]) -> dict[str, Any]:
    job = manifest.get("job")
    if job is None:  # a 1.0 bundle: its cmd and nothing else
        cmd = manifest.get("cmd")
        if not isinstance(cmd, str) or not cmd.strip():
            raise InputError("manifest.json: the bundle has no job (built without a config.yaml); nothing to run")
        job = {"cmd": cmd, "plain": False}
    if not isinstance(job, dict) or not isinstance(job.get("cmd"), str) or not job["cmd"].strip():
        raise InputError("manifest.json: job.cmd: expected the command to run")
    return job


def _inside_path(value: object, what: str) -> str:
    """A path of the manifest's job section that must stay inside the job's working
    directory: relative, POSIX, no ``..``, no NUL. A crafted manifest is refused before
    anything is created for the job."""
    text = str(value) if value is not None else ""
    pure = PurePosixPath(text)
    if not text or "\x00" in text or "\\" in text or pure.is_absolute() or ".." in pure.parts or pure.parts in ((), (".",)):
        raise InputError(
            f"manifest.json: {what}: {text!r} is not a path inside the job's working directory; "
            "refusing to write outside the run directory"
        )
    return pure.as_posix()


def _check_job_paths(job: Mapping[str, Any]) -> None:
    for key in ("inputs", "outputs"):
        items = job.get(key) or []
        if not isinstance(items, list):
            raise InputError(f"manifest.json: job.{key}: expected a list")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise InputError(f"manifest.json: job.{key}[{index}]: expected an object")
            _inside_path(item.get("path"), f"job.{key}[{index}].path")


def _check_artifacts(root: Path, manifest: Mapping[str, Any]) -> None:
    """Every artifact has the size and sha256 the manifest gives; the first that does not
    stops the run with a line naming it."""
    sizes = {str(a.get("path")): a.get("size") for a in manifest.get("artifacts", []) if isinstance(a, dict)}
    for check in hash_checks(root, dict(manifest)):
        if check.ok:
            continue
        where = f"{root.name}/{check.subject}"
        expected = sizes.get(check.subject)
        try:
            size: int | None = (root / check.subject).stat().st_size
        except OSError:
            size = None
        if size is None or check.detail.startswith(("missing", "path leaves")):
            reason = check.detail
        elif size != expected:
            reason = f"{size} bytes, the manifest says {expected} (truncated or replaced)"
        else:
            reason = check.detail.replace(" != ", " does not match the manifest's ")
        raise InputError(f"{where}: {reason}; refusing to run a damaged or modified bundle")


def _listed(manifest: Mapping[str, Any], path: str) -> bool:
    return any(isinstance(a, dict) and a.get("path") == path for a in manifest.get("artifacts", []))


def _job_env_vars(job: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in job.get("env") or []:
        name = str(item.get("name"))
        if item.get("value") is None:
            raise InputError(
                f"env.vars: {name} has no value: the config gives none and it was not set where the bundle was built",
                hint=f"give it in config.yaml (- {name}: value) or set it before envcapture build",
            )
        values[name] = str(item["value"])
    return values


def _same_content(source: IO[bytes], path: Path) -> bool:
    with open(path, "rb") as have:
        while True:
            a, b = source.read(1 << 20), have.read(1 << 20)
            if a != b:
                return False
            if not a:
                return True


def _extract(archive: Path, dest: Path, what: str, *, over: str | None = None) -> int:
    """Unpack the regular files and directories of ``archive`` under ``dest``; refuse
    absolute paths, ``..``, links and special files. Return the number of files.

    ``over`` names what is already unpacked there (the local code): an entry that would
    replace one of its files with other bytes is refused (the same bytes are skipped)."""
    count = 0
    target = dest
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name
                pure = PurePosixPath(name)
                if name.startswith("/") or pure.is_absolute() or ".." in pure.parts or "\\" in name:
                    raise InputError(f"{what}: entry {name!r} leaves the working directory (absolute or '..'); refused")
                if not pure.parts or pure.parts == (".",):
                    continue
                target = dest.joinpath(*pure.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    kind = "link" if member.issym() or member.islnk() else "special file"
                    raise InputError(f"{what}: entry {name!r} is a {kind}; only regular files are unpacked")
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isfile() entries always have data
                    continue
                if over is not None and os.path.lexists(target):
                    if target.is_file() and not target.is_symlink() and _same_content(source, target):
                        continue
                    raise InputError(f"{what}: entry {name!r} would overwrite {name} of {over}; refused")
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                os.chmod(target, 0o755 if member.mode & 0o100 else 0o644)
                count += 1
    except OSError as exc:
        where = exc.filename or target
        raise InputError(f"{what}: cannot be unpacked into {where}: {exc.strerror or exc}") from exc
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise InputError(f"{what}: cannot be unpacked: {exc}") from exc
    return count


# --- the command ---------------------------------------------------------------------------------


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".") or "_"


def _variables(job: Mapping[str, Any], run_dir: Path, work: Path, env_vars: Mapping[str, str]) -> dict[str, str]:
    """What each ``${NAME}`` of ``cmd`` means on this machine; creates the directories."""
    values: dict[str, str] = {}
    for item in list(job.get("inputs") or []) + list(job.get("outputs") or []):
        if item.get("var"):
            values[str(item["var"])] = str(work / str(item["path"]))
    for item in list(job.get("datasets") or []) + list(job.get("s3_mounts") or []):
        name = str(item.get("var") or item.get("id"))
        path = run_dir / "mounts" / _safe_name(name)
        path.mkdir(parents=True, exist_ok=True)
        values[name] = str(path)
    for item in job.get("output_datasets") or []:
        path = run_dir / "output-datasets" / _safe_name(str(item["var"]))
        path.mkdir(parents=True, exist_ok=True)
        values[str(item["var"])] = str(path)
    for item in job.get("args") or []:
        values[str(item["name"])] = str(item["value"])
    if "attach-project-disk" in (job.get("flags") or []):
        home = run_dir / "project-home"
        home.mkdir(parents=True, exist_ok=True)
        values[PROJECT_HOME] = str(home)
    values.update(env_vars)
    return values


def _command_lines(cmd: str) -> list[str]:
    """``cmd`` as its command lines, read as sh and the analysis read it
    (`envcapture.analysis.entrypoints`): a newline outside quotes ends a command (a folded
    YAML string is one line: the config loader folds it), a backslash-newline joins two
    lines, and ``#`` at the start of a word comments out the rest of its line. Blank lines
    are dropped."""
    lines: list[str] = []
    out: list[str] = []
    quote = ""
    word_start = True
    i, n = 0, len(cmd)
    while i < n:
        ch = cmd[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
            out.append(ch)
            i += 1
            continue
        if ch == "\\" and i + 1 < n:
            if cmd[i + 1] != "\n":
                out.append(cmd[i : i + 2])
                word_start = False
            i += 2
            continue
        if quote:
            quote = "" if ch == '"' else quote
            out.append(ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
            word_start = False
        elif ch == "#" and word_start:
            while i < n and cmd[i] != "\n":
                i += 1
            continue
        elif ch == "\n":
            lines.append("".join(out))
            out = []
            word_start = True
        else:
            out.append(ch)
            word_start = ch in " \t|&;<>()"
        i += 1
    lines.append("".join(out))
    return [line.strip() for line in lines if line.strip()]


def command_argv(cmd: str, variables: Mapping[str, str]) -> tuple[list[str], bool]:
    """``cmd`` as (argv, uses_shell).

    Without shell syntax, ``cmd`` is split like a POSIX shell would (``shlex``) and each
    ``${NAME}`` is replaced inside its word (a value with spaces stays one argument).
    With shell syntax (``&&``, ``|``, ``;``, redirections, ``$VAR``, globs, quotes escaped
    with ``\\``, an ``A=b`` prefix) it runs as ``/bin/sh -c cmd``: the shell
    expands ``${NAME}`` from the job's environment, where every variable is exported;
    only a name the shell cannot expand (an s3-mount id with a ``-``) is replaced, quoted.
    Several command lines (a literal ``cmd: |``) run as ``/bin/sh -e -c``: every line, in
    order, stopping at the first that fails. Comments and backslash-newlines are read as
    `_command_lines` reads them, as the analysis does.

    >>> command_argv("python main.py --params ${P}", {"P": "/run/in put.json"})
    (['python', 'main.py', '--params', '/run/in put.json'], False)
    >>> command_argv("python a.py && python b.py", {})
    (['/bin/sh', '-c', 'python a.py && python b.py'], True)
    >>> command_argv("mkdir -p out\\npython train.py", {})
    (['/bin/sh', '-e', '-c', 'mkdir -p out\\npython train.py'], True)
    """
    lines = _command_lines(cmd)
    text = "\n".join(lines)
    bare = _REF_RE.sub(lambda m: "_" if m.group(1) in variables else m.group(0), text)
    words: list[str] | None = None
    if len(lines) == 1 and not _SHELL_RE.search(bare) and not _ASSIGNMENT_RE.match(bare):
        try:
            words = shlex.split(text)
        except ValueError:
            words = None
    if words:
        return [_REF_RE.sub(lambda m: variables.get(m.group(1), m.group(0)), w) for w in words], False

    def shell_ref(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables and not _IDENT_RE.match(name):
            return shlex.quote(variables[name])
        return match.group(0)

    script = _REF_RE.sub(shell_ref, text)
    return (["/bin/sh", "-e", "-c", script] if len(lines) > 1 else ["/bin/sh", "-c", script]), True


def shown_command(argv: list[str], shell: bool, variables: Mapping[str, str]) -> str:
    """The command as the ``Running:`` line shows it: with the values of the ``${NAME}``s.

    >>> shown_command(["python", "main.py", "--in", "/run/a b.wav"], False, {})
    "python main.py --in '/run/a b.wav'"
    >>> shown_command(["/bin/sh", "-c", "python a.py ${A} && echo done"], True, {"A": "/run/a.wav"})
    'python a.py /run/a.wav && echo done'
    >>> shown_command(["/bin/sh", "-e", "-c", "mkdir -p out\\npython train.py"], True, {})
    'mkdir -p out; python train.py'
    """
    if not shell:
        return shlex.join(argv)
    if argv[1] == "-e":  # several command lines: shown joined by "; "
        text = "; ".join(" ".join(line.split()) for line in argv[-1].split("\n") if line.strip())
    else:
        text = " ".join(argv[-1].split())  # the line as written, on one line
    return _REF_RE.sub(lambda m: shlex.quote(variables[m.group(1)]) if m.group(1) in variables else m.group(0), text)


def _job_environ(variables: Mapping[str, str], env_vars: Mapping[str, str], venv: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV and not k.startswith("ENVCAPTURE_")}
    env.update({k: v for k, v in variables.items() if _IDENT_RE.match(k)})
    env.update(env_vars)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH") or os.defpath])
    return env


def _collect_outputs(job: Mapping[str, Any], work: Path, out_dir: Path) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Copy the outputs to ``out_dir``: (rows, missing, errors). A copy that fails (a full
    disk, an unreadable file) is an error line naming the path, not an exception."""
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    errors: list[str] = []
    for item in job.get("outputs") or []:
        rel = str(item["path"])
        source = work / rel
        dest = out_dir / rel
        collected = False
        try:
            if source.is_dir():
                shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
                collected = True
            elif source.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)
                collected = True
            else:
                missing.append(rel)
        except (OSError, shutil.Error) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
            errors.append(f"output {rel}: cannot copy it to {dest}: {detail}")
        rows.append({"path": rel, "var": item.get("var"), "collected": collected})
    return rows, missing, errors


# --- the run -------------------------------------------------------------------------------------


def _run_dir(workdir: str | Path | None, bundle: Path) -> Path:
    if workdir is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        run_dir = Path.cwd() / f"{bundle.name}-run-{stamp}-{os.getpid()}"
    else:
        run_dir = Path(workdir).absolute()
    try:
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise InputError(f"{run_dir}: exists and is not empty; give a new --workdir (a run never overwrites files)")
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{run_dir}: cannot create the run directory: {exc.strerror or exc}") from exc
    return run_dir


def _stream(stream: Any) -> BinaryIO | None:
    return getattr(stream, "buffer", None) if stream is not None else None


def run_bundle(
    bundle: str | Path,
    workdir: str | Path | None = None,
    *,
    python: str | None = None,
    cache_dir: str | Path | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the job of ``bundle`` in the run directory ``workdir`` (default: a new
    ``<bundle>-run-<time>-<pid>`` in the current directory); see the module docstring.

    :param python: the interpreter for the environment (default: a CPython of the
        target version found here).
    :param cache_dir: where environments are kept (default: ``$ENVCAPTURE_CACHE_DIR``,
        else the user's cache directory), under ``envs/``.
    :param stdout: where the job's stdout is streamed besides its log (default: this
        process' stdout); ``stderr`` likewise.
    :param log: receives the runtime's own one-line messages (states, warnings).
    :returns: the `RunResult`; a job that failed or was cancelled is a result, not an error.
    :raises InputError: the run directory is not empty; the bundle is not one, is damaged
        or modified, has an unsafe archive or a variable without a value (status Failed,
        nothing started).
    :raises BuildError: the environment cannot be built (status Failed, nothing started).
    """
    began = time.monotonic()
    say = log or (lambda line: None)
    root = Path(bundle).absolute()
    run_dir = _run_dir(workdir, root)
    work = run_dir / "work"
    status = _Status(run_dir, root)
    status.create()
    runenv: RunEnv | None = None
    setup: dict[str, float] = {}
    with Cancellation() as cancellation:
        try:
            manifest = read_manifest(root)
            job = _job(manifest)
            _check_job_paths(job)
            plain = bool(job.get("plain"))
            status.update(cmd=job["cmd"], plain=plain)
            _check_artifacts(root, manifest)
            env_vars = _job_env_vars(job)
            setup["verify"] = round(time.monotonic() - began, 4)
            mark = time.monotonic()
            if not plain:
                say("Pending: preparing the environment")
                runenv = ensure_environment(
                    root, manifest, envs=Path(cache_dir or default_cache_dir()) / "envs", python=python, log=say
                )
                status.update(environment={
                    "key": runenv.key, "path": str(runenv.path), "reused": runenv.reused,
                    "python_version": runenv.python_version, "pip_calls": runenv.pip_calls,
                })  # fmt: skip
            setup["environment"] = round(time.monotonic() - mark, 4)
            mark = time.monotonic()
            work.mkdir()
            local = (manifest.get("local_code") or {}).get("path")
            if not plain and local and _listed(manifest, str(local)):
                _extract(root / str(local), work, f"{root.name}/{local}")
            archive = (job.get("inputs_archive") or {}).get("path")
            if archive and _listed(manifest, str(archive)):
                _extract(root / str(archive), work, f"{root.name}/{archive}", over=str(local or "the local code"))
            for item in job.get("outputs") or []:  # the job writes there: the directories exist
                (work / str(item["path"])).parent.mkdir(parents=True, exist_ok=True)
            variables = _variables(job, run_dir, work, env_vars)
            argv, shell = command_argv(str(job["cmd"]), variables)
            environ = _job_environ(variables, env_vars, runenv.path if runenv else None)
            setup["files"] = round(time.monotonic() - mark, 4)
            setup_seconds = round(time.monotonic() - began, 4)
            status.update(argv=argv, shell=shell, setup=setup, setup_seconds=setup_seconds)
            how = "" if runenv is None else f"; environment {runenv.key[:12]} {'reused' if runenv.reused else 'built'}"
            say(f"Running: {shown_command(argv, shell, variables)} (setup {setup_seconds:.2f} s{how})")
            graceful = job.get("graceful_shutdown")
            shutdown = None
            if graceful:
                shutdown = (int(signal.Signals[str(graceful["signal"])]), float(graceful["timeout_seconds"]))

            def started(pid: int) -> None:
                status.update(state=RunState.RUNNING.value, pid=pid, started_at=_now())

            try:
                outcome = supervise(
                    argv, cwd=work, env=environ, logs=run_dir / "logs",
                    sinks=(stdout or _stream(sys.stdout), stderr or _stream(sys.stderr)),
                    shutdown=shutdown, cancellation=cancellation, on_start=started,
                )  # fmt: skip
            except (OSError, ValueError) as exc:  # argv[0] missing or not executable (a NUL): what a shell reports
                code = 127 if isinstance(exc, FileNotFoundError) else 126
                reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
                message = f"envcapture: cannot start {argv[0]!r}: {reason}\n".encode()
                with open(run_dir / "logs" / "stderr.log", "ab") as handle:
                    handle.write(message)
                now = time.time()
                outcome = Outcome(pid=0, returncode=code, started=now, finished=now)
                say(f"cannot start {argv[0]!r}: {reason}")
        except Cancelled as cancel:
            name = signal.Signals(cancel.signum).name
            status.update(
                state=RunState.CANCELLED.value,
                finished_at=_now(),
                setup=setup,
                error=f"cancelled by {name} before the job started",
            )
            say(f"Cancelled: {name} before the job started")
            return RunResult(
                run_dir=run_dir,
                state=RunState.CANCELLED,
                exit_code=None,
                setup_seconds=None,
                environment=runenv,
                status=status.doc,
            )
        except EnvcaptureError as exc:
            status.update(state=RunState.FAILED.value, finished_at=_now(), setup=setup, error=str(exc))
            raise
        except OSError as exc:  # a full or read-only disk, a file we cannot read: one line, exit 2
            where = exc.filename or run_dir
            error = InputError(f"{where}: cannot set up the run: {exc.strerror or exc}")
            status.update(state=RunState.FAILED.value, finished_at=_now(), setup=setup, error=str(error))
            raise error from exc
        except Exception as exc:
            line = f"{type(exc).__name__}: {exc}".splitlines()[0]
            status.update(state=RunState.FAILED.value, finished_at=_now(), setup=setup, error=f"internal error: {line}")
            raise
    return _finish(status, job, run_dir, work, outcome, runenv, setup_seconds, say)


def _finish(
    status: _Status,
    job: Mapping[str, Any],
    run_dir: Path,
    work: Path,
    outcome: Outcome,
    runenv: RunEnv | None,
    setup_seconds: float,
    say: Callable[[str], None],
) -> RunResult:
    code = outcome.returncode
    killed_by = None
    if code < 0:
        try:
            killed_by = signal.Signals(-code).name
        except ValueError:
            killed_by = f"signal {-code}"
    exit_code = 128 - code if code < 0 else code
    outputs, missing, errors = _collect_outputs(job, work, run_dir / "outputs")
    errors = [*outcome.log_errors, *errors]
    if outcome.cancel_signal is not None:
        state = RunState.CANCELLED
    elif code == 0 and not errors:
        state = RunState.COMPLETE
    else:
        state = RunState.FAILED
    for rel in missing:
        say(f"warning: output {rel} was not written by the job")
    for line in errors:
        say(f"error: {line}")
    cancel = None
    if outcome.cancel_signal is not None:
        graceful = job.get("graceful_shutdown")
        cancel = {
            "received": signal.Signals(outcome.cancel_signal).name,
            "sent": outcome.sent,
            "timeout_seconds": graceful.get("timeout_seconds") if graceful else None,
            "killed": outcome.killed,
            "seconds": round(outcome.cancel_seconds or 0.0, 3),
        }
    status.update(
        state=state.value, started_at=_iso(outcome.started), finished_at=_iso(outcome.finished), pid=outcome.pid or None,
        exit_code=exit_code, signal=killed_by, cancel=cancel, outputs=outputs, missing_outputs=missing,
        leftover_processes=outcome.leftovers, error="; ".join(errors) or None,
    )  # fmt: skip
    if outcome.leftovers:
        say(f"note: killed {outcome.leftovers} process(es) the job left running")
    detail = f"exit code {exit_code}" + (f" ({killed_by})" if killed_by else "")
    if cancel is not None:
        sent = f"sent {cancel['sent']}, " if cancel["sent"] else ""
        detail += f"; {cancel['received']} received, {sent}{'SIGKILL after the timeout' if outcome.sent and outcome.killed else 'SIGKILL' if outcome.killed else 'no SIGKILL needed'}"
    say(f"{state.value}: {detail}; run record {run_dir / 'status.json'}")
    return RunResult(
        run_dir=run_dir, state=state, exit_code=exit_code, setup_seconds=setup_seconds, environment=runenv,
        missing_outputs=tuple(missing), status=status.doc,
    )  # fmt: skip
