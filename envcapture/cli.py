"""The command line: parse -> call the library -> render -> exit code (EDGE: stdout, stderr, exit).

Exit codes: 0 ok; 1 ``check`` found problems (and ``analyze --strict`` found unresolved
imports); 2 bad input or usage; 3 resolution or build failure; 4 internal error.
Results go to stdout; diagnostics to stderr, one line each, never a traceback unless
``--debug``. Human output adapts: tables on a terminal, one complete record per line when
stdout is a pipe or a file, ``--json`` for programs; progress shows on stderr only when it
is a terminal (never with ``--json`` or ``-q``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from envcapture._fs import document_header
from envcapture._version import __version__
from envcapture.errors import ConfigError, EnvcaptureError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_BUILD, EXIT_INTERNAL = 0, 1, 2, 3, 4


def _console(**options: Any) -> Console:
    """A rich console; rich is imported only by commands that print (start-up time)."""
    from rich.console import Console

    return Console(**options)


def _err_console() -> Console:
    return _console(stderr=True, highlight=False, soft_wrap=True, emoji=False, markup=False)


# The user's paths (missing, forbidden, not a directory): bad input; the rest (a full or
# read-only disk, an I/O error) stops the build or the run: exit 3.
_INPUT_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EINVAL,
                           errno.ENAMETOOLONG, errno.ELOOP, errno.EEXIST, errno.ENOTEMPTY})  # fmt: skip


def _os_error(exc: OSError) -> tuple[int, str]:
    """(exit code, line) for an `OSError`: the path(s), what failed, the system's words."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    reason = exc.strerror or str(exc) or type(exc).__name__
    line = f"{paths}: {reason}" if paths else f"I/O error: {reason}"
    return (EXIT_INPUT if exc.errno in _INPUT_ERRNOS else EXIT_BUILD), line


def _fail(exc: BaseException, debug: bool) -> int:
    err = _err_console()
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            err.print(f"envcapture: error: {problem}", markup=False)
        return exc.exit_code
    if isinstance(exc, EnvcaptureError):
        err.print(f"envcapture: error: {exc}", markup=False)
        return exc.exit_code
    if isinstance(exc, OSError):  # an I/O error no edge named: still one line, never exit 4
        code, where = _os_error(exc)
        err.print(f"envcapture: error: {where}", markup=False)
        return code
    line = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    err.print(f"envcapture: internal error: {line} (run with --debug for the traceback)", markup=False)
    return EXIT_INTERNAL


@dataclass(slots=True)
class _Ui:
    """How much to say on stderr: ``-q`` only errors (and results), ``-v`` also details."""

    quiet: bool = False
    verbose: bool = False
    started: float = field(default_factory=time.monotonic)

    def note(self, line: str) -> None:
        """A note or a warning: ``envcapture: note: ...``; silenced by ``-q``."""
        if not self.quiet:
            _err_console().print(f"envcapture: {line}", markup=False)

    def detail(self, line: str) -> None:
        """Only with ``-v``: which interpreter, how long, what the cache did."""
        if self.verbose and not self.quiet:
            _err_console().print(f"envcapture: {line} [{time.monotonic() - self.started:.2f} s]", markup=False)

    @contextlib.contextmanager
    def activity(self, enabled: bool = True) -> Iterator[_Activity]:
        """Progress on stderr while the block runs: a rich display on a terminal, erased at
        the end; nothing when stderr is not a terminal, with ``-q`` or when not ``enabled``."""
        activity = _Activity(enabled and not self.quiet and _stderr_is_terminal())
        try:
            yield activity
        finally:
            activity.stop()


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


class _Activity:
    """One live progress line (rich, transient); every method is a no-op when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        if enabled:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=_err_console(),
                transient=True,
            )
            self._task = self._progress.add_task("working", total=None)
            self._progress.start()

    def phase(self, description: str, *, total: int | None = None, completed: int = 0) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description, total=total, completed=completed)

    def files(self, read: int, parsed: int) -> None:
        """The analysis callback: files read so far (of which parsed, not from the cache)."""
        if self._progress is not None:
            self._progress.update(self._task, description=f"analysing imports: {read} files ({parsed} parsed)")

    def wheel(self, event: Any) -> None:
        """The wheelhouse callback: one event per wheel downloaded, built or copied."""
        if self._progress is not None:
            what = f"wheels {event.done}/{event.total}" + ("" if event.action == "start" else f": {event.action} {event.name}")
            self._progress.update(self._task, description=what, completed=event.done, total=event.total)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _ui() -> _Ui:
    ctx = click.get_current_context()
    ui = ctx.meta.get("envcapture.ui")
    if not isinstance(ui, _Ui):
        ui = ctx.meta["envcapture.ui"] = _Ui()
    return ui


def _ui_options(func: F) -> F:
    """``-q/--quiet`` and ``-v/--verbose``: every command has them."""
    func = click.option(
        "-v", "--verbose", is_flag=True, help="Also say which interpreter, how long each step took, what the cache did."
    )(func)
    return click.option("-q", "--quiet", is_flag=True, help="No progress, notes or warnings on stderr: results and errors only.")(
        func
    )


def _json_option(command: str, help_text: str) -> Callable[[F], F]:
    """``--json``, also set by ``ENVCAPTURE_<COMMAND>_JSON=1`` (and the older ``..._AS_JSON``)."""
    prefix = "ENVCAPTURE_" + command.upper().replace(" ", "_").replace("-", "_")
    return click.option("--json", "as_json", is_flag=True, envvar=[f"{prefix}_JSON", f"{prefix}_AS_JSON"], help=help_text)


def _python_request(python: str | None) -> str | None:
    """``--python``: an interpreter path, a virtualenv directory or a version (3.10, python3.12)."""
    if python is None:
        return None
    from envcapture.environment.request import resolve_python

    found = resolve_python(python)
    _ui().detail(f"--python {python}: {found}")
    return found


_NARROW = 64  # below this many columns, the report is printed as lines, wrapped


def _print_human(renderable: Any, plain: Callable[[], str]) -> None:
    """A report for people: rich tables on a terminal, else ``plain()``: complete lines, never cut."""
    if sys.stdout.isatty():
        console = _console(highlight=False, emoji=False, markup=False)
        if console.width < _NARROW:  # a table of five columns in 40 cells folds every word
            from rich.text import Text

            console.print(Text(plain().rstrip("\n")), overflow="fold")
        else:
            console.print(renderable)
    else:
        click.echo(plain(), nl=False)


def _shown_path(path: str | os.PathLike[str]) -> str:
    """A path as messages show it: normalised (no ``a/../b``), relative to the current
    directory when it is inside it."""
    text = os.path.normpath(os.fspath(path))
    if os.path.isabs(text):
        try:
            rel = os.path.relpath(text)
        except ValueError:
            return text
        return text if rel.startswith("..") else rel
    return text


def _guarded(func: F) -> F:
    """Turn envcapture errors into one line and an exit code; never a traceback.

    Also takes ``quiet`` and ``verbose`` (`_ui_options`) out of the arguments into `_ui`.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        ctx.meta["envcapture.ui"] = _Ui(quiet=bool(kwargs.pop("quiet", False)), verbose=bool(kwargs.pop("verbose", False)))
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            _err_console().print("envcapture: interrupted", markup=False)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
            ctx.exit(_fail(exc, debug))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "ENVCAPTURE"})
@click.version_option(__version__, "--version", prog_name="envcapture", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Capture the Python environment of an ML job for a Linux x86_64 GPU VM."""


# --- config --------------------------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """Work with a job's config.yaml."""


@config_group.command("check")
@click.argument("config_file", default="config.yaml", type=click.Path(dir_okay=False, path_type=Path))
@_json_option("config check", "Print the result as JSON.")
@click.option(
    "--python",
    "python",
    help="Interpreter the derived settings come from: a path, a virtualenv or a version (default: the active virtualenv, else this Python).",
)
@_ui_options
@_guarded
def config_check(config_file: Path, as_json: bool, python: str | None) -> None:
    """Validate CONFIG_FILE; print its entry points and python settings, given or derived
    (a derived version or local-paths is computed from the analysed interpreter and the code)."""
    from envcapture.analysis.entries import entry_points_for, missing_entry_scripts
    from envcapture.config.loader import load_config

    ui = _ui()
    job = load_config(config_file)
    project = Path(job.project_dir).resolve()
    missing = missing_entry_scripts(job, project)
    if missing:
        raise ConfigError.from_problems(missing)
    entries, diags = entry_points_for(job, (), project)
    py = job.env.python
    settings: dict[str, Any] = {}
    if py is not None:
        settings["type"] = py.mode
        derived = _derived_settings(job, _python_request(python), as_json)
        for key, setting in (
            ("version", py.version),
            ("requirements-file", py.requirements_file),
            ("root-paths", py.root_paths),
            ("local-paths", py.local_paths),
        ):
            value = setting.value
            settings[key] = {"value": list(value) if isinstance(value, tuple) else value, "given": setting.given}
            if not setting.given and key in derived:
                settings[key]["derived"], settings[key]["derived_from"] = derived[key]
        pip = py.pip
        settings["pip"] = {
            "index-url": _mask(pip.index_url.value),
            "extra-index-urls": [_mask(u) for u in pip.extra_index_urls.value or ()],
            "trusted-hosts": list(pip.trusted_hosts.value or ()),
            "no-deps": bool(pip.no_deps.value),
        }
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    if as_json:
        doc = {
            **document_header("envcapture/config-check", "1.1"),
            "config": str(config_file),
            "plain": py is None,
            "entry_points": [str(e) for e in entries],
            "python": settings,
            "warnings": list(job.warnings),
            "diagnostics": [str(d) for d in diags],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    out.print(f"{config_file}: ok", markup=False)
    for w in job.warnings:
        ui.note(f"warning: {w}")
    if py is None:
        out.print("environment: plain (no env.python): only inputs travel", markup=False)
    else:
        out.print(f"environment: python, type {py.mode}", markup=False)
        for key, value in settings.items():
            if key in ("type", "pip"):
                continue
            if value["given"]:
                out.print(f"  {key}: {_setting_text(value['value'])} (given)", markup=False)
            elif "derived" in value:
                out.print(f"  {key}: {_setting_text(value['derived'])} (derived from {value['derived_from']})", markup=False)
            else:
                out.print(f"  {key}: - (derived at lock time)", markup=False)
        out.print(f"  pip: {json.dumps(settings['pip'])}", markup=False)
    out.print("entry points: " + (", ".join(str(e) for e in entries) or "none"), markup=False)
    for d in diags:
        ui.note(f"note: {d}")


def _setting_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return "none" if value in (None, "") else str(value)


def _derived_settings(job: Any, python: str | None, quiet: bool) -> dict[str, tuple[Any, str]]:
    """What lock and build derive for the settings the config leaves out: the version of the
    analysed interpreter, the local files the analysis reaches, the entry points of cmd."""
    from envcapture.analysis.api import AnalysisOptions, analyze
    from envcapture.environment.snapshot import default_interpreter, snapshot_environment

    ui = _ui()
    derived: dict[str, tuple[Any, str]] = {}
    with ui.activity(not quiet) as activity:
        activity.phase("reading the environment")
        snapshot = snapshot_environment(python or default_interpreter())
        where = f"the analysed interpreter {_shown_path(snapshot.executable)}"
        derived["version"] = (snapshot.python_version, where)
        derived["requirements-file"] = (None, f"the imports the analysis finds, as installed in {where}")
        options = AnalysisOptions(python=snapshot.executable, progress=activity.files if activity.enabled else None)
        analysis = analyze(config=job, options=options, snapshot=snapshot)
    derived["root-paths"] = ([str(e) for e in analysis.entry_points], "cmd")
    derived["local-paths"] = ([f.path for f in analysis.local_files], "the analysis: the local files the entry points reach")
    return derived


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _mask(url: str | None) -> str | None:
    from envcapture._urls import mask_url

    return mask_url(url) if url else url


# --- analyze -------------------------------------------------------------------------------


def _entry_words(entries: tuple[str, ...], modules: tuple[str, ...] = ()) -> tuple[str, ...]:
    """ENTRIES and ``-m MODULE`` options as entry points, read as python reads its own:
    ``-m app.cli``, ``-mapp.cli`` and ``"-m app.cli"`` name a module; paths stay paths."""
    from envcapture.errors import InputError

    out: list[str] = []
    words = iter(entries)
    for word in words:
        if re.fullmatch(r"python(3(\.\d+)?)?", word) and not Path(word).exists():
            continue  # `envcapture analyze -- python -m app.cli`: the interpreter is implied
        if word == "-m":
            name = next(words, None)
            if name is None:
                raise InputError("-m: expected a module name after it, as in `python -m pkg.mod`")
            out.append(f"-m {name}")
        elif word.startswith("-m"):
            out.append(f"-m {word[2:].strip()}")
        else:
            out.append(word)
    out.extend(f"-m {name.strip()}" for name in modules)
    return tuple(out)


def _entry_paths(entries: tuple[str, ...]) -> tuple[str, ...]:
    """Paths on the command line are relative to where the user stands, not to the project."""
    from envcapture.errors import InputError

    out = []
    for entry in entries:
        if entry.startswith("-m "):
            out.append(entry)
            continue
        path = Path(entry)
        if not (path.is_file() or (path / "__main__.py").is_file()):
            what = "a directory without __main__.py, which Python cannot run" if path.is_dir() else "no such file"
            raise InputError(f"{entry}: {what}")
        out.append(str(path.resolve()))
    return tuple(out)


def _job_inputs(
    entries: tuple[str, ...], config_file: Path | None, project: Path | None, verb: str
) -> tuple[tuple[str, ...], Path | None, Path | None]:
    """What names the job: ENTRIES, else ``--config``, else ``./config.yaml``.

    Entry points given on the command line make the current directory the project
    unless ``--project`` or ``--config`` says otherwise.
    """
    from envcapture.errors import InputError

    if config_file is None and not entries:
        if not Path("config.yaml").is_file():
            raise InputError(f"nothing to {verb}: give entry points (envcapture {verb} main.py) or --config config.yaml")
        config_file = Path("config.yaml")
    paths = _entry_paths(entries)
    if project is None and entries and config_file is None:
        project = Path.cwd()
    return paths, config_file, project


_module_option = click.option(
    "-m",
    "--module",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="An entry point run as `python -m MODULE` runs it (repeatable; next to script ENTRIES).",
)

_allow_unresolved_option = click.option(
    "--allow-unresolved",
    is_flag=True,
    help="Go on when the job cannot run as analysed (a missing entry script, no entry point, an import "
    "found only outside the target's sys.path); refused by default.",
)


def _job_options(func: F) -> F:
    """ENTRIES, --config, --python, --target-python, --project: how every job command names its job."""
    decorators = [
        click.argument("entries", nargs=-1),
        _module_option,
        click.option(
            "-c",
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The job's config.yaml: entry points from cmd and root-paths, python settings.",
        ),
        click.option(
            "--python",
            "python",
            help="Interpreter whose environment is analysed (default: the active virtualenv, else this Python).",
        ),
        click.option(
            "--target-python", help="Target Python version (default: the config's version, else the analysed interpreter's)."
        ),
        click.option(
            "--project",
            type=click.Path(file_okay=False, path_type=Path),
            help="The job's working directory (default: the config's directory, else the current one).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


@cli.command("analyze")
@_job_options
@_json_option("analyze", "Print the analysis as JSON (schema envcapture/analysis 1.1).")
@click.option(
    "--explain", "explain_name", metavar="NAME", help="Print the chain of imports that pulled NAME in (JSON with --json)."
)
@click.option("--no-cache", is_flag=True, help="Parse every file again; do not read or write the cache.")
@click.option("--strict", is_flag=True, help="Exit 1 when a required import is not installed.")
@click.option("--stats", is_flag=True, help="Print cache statistics to stderr.")
@click.option("-j", "--jobs", type=int, help="Parser processes (default: every core).")
@click.option(
    "--runtime",
    is_flag=True,
    help="Also import the entry points (never running their __main__ block) in a sandboxed subprocess of the analysed interpreter and add the imports only seen at run time.",
)
@click.option(
    "--runtime-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Time limit of each runtime trace.",
)
@click.option(
    "--runtime-cmd",
    metavar="COMMAND",
    help='Trace a whole command instead (implies --runtime), e.g. "python train.py --max-steps 1".',
)
@_ui_options
@_guarded
def analyze_cmd(
    entries: tuple[str, ...],
    modules: tuple[str, ...],
    config_file: Path | None,
    python: str | None,
    target_python: str | None,
    project: Path | None,
    as_json: bool,
    explain_name: str | None,
    no_cache: bool,
    strict: bool,
    stats: bool,
    jobs: int | None,
    runtime: bool,
    runtime_timeout: float,
    runtime_cmd: str | None,
) -> None:
    """Explain what the job needs: ENTRIES are scripts or directories with __main__.py (and
    -m MODULE modules), else the config's cmd.

    On a terminal the report is a set of tables; piped, one complete record per line
    (``name==version  file:line, ...  [status; import names]``); --json for programs.
    """
    from envcapture.analysis.api import AnalysisOptions, analyze
    from envcapture.analysis.report import explain, explain_json, render_analysis, render_json, render_plain
    from envcapture.errors import InputError

    ui = _ui()
    entries = _entry_words(entries, modules)
    paths, config_file, project = _job_inputs(entries, config_file, project, "analyze")
    python = _python_request(python)
    with ui.activity(not as_json) as activity:
        activity.phase("reading the environment")
        options = AnalysisOptions(
            python=python,
            target_python=target_python,
            use_cache=not no_cache,
            jobs=jobs,
            runtime=runtime or runtime_cmd is not None,
            runtime_timeout=runtime_timeout,
            runtime_cmd=runtime_cmd,
            progress=activity.files if activity.enabled else None,
        )
        analysis = analyze(paths, config=config_file, project=project, options=options)
    s = analysis.stats
    if stats:
        _err_console().print(f"cache: {s.hits} hits, {s.misses} misses, {s.parsed} files parsed", markup=False)
    ui.detail(
        f"analysed {len(analysis.local_files)} local files with Python {analysis.interpreter_version} "
        f"({s.hits} from the cache, {s.parsed} parsed)"
    )
    if explain_name:
        doc = explain_json(analysis, explain_name)
        lines = explain(analysis, explain_name)
        if doc is None or lines is None:
            raise InputError(f"--explain {explain_name}: not imported by the job")
        if as_json:
            doc = {**document_header("envcapture/explain", "1.0"), **doc}
            click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        else:
            click.echo("\n".join(lines))
        return
    if as_json:
        click.echo(render_json(analysis), nl=False)
    else:
        _print_human(render_analysis(analysis), lambda: render_plain(analysis))
    if strict and any(u.status.value == "required" for u in analysis.unresolved):
        click.get_current_context().exit(EXIT_FINDINGS)


# --- lock ----------------------------------------------------------------------------------


def _warn_requirements_contradictions(result: Any, config_file: Path | None, python: str | None) -> None:
    """In manual mode with a requirements file: say where it contradicts the imports
    (missing, unused, wrong name), as `envcapture check` would; the lock still follows the file."""
    from envcapture.check.job import CheckOptions, run_check

    spec = result.config.env.python if result.config is not None else None
    if spec is None or spec.mode != "manual" or not spec.requirements_file.given:
        return
    checked = run_check(CheckOptions(config=config_file, python=python), snapshot=result.snapshot)
    for finding in checked.findings:
        if finding.code in ("EC001", "EC002", "EC003"):
            _ui().note(f"warning: {finding}")


@cli.command("lock")
@_job_options
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for requirements.lock.txt, pylock.toml and environment.json.",
)
@click.option("--offline", is_flag=True, help="Do not ask the indexes for hashes and warnings.")
@_ui_options
@_allow_unresolved_option
@_guarded
def lock_cmd(
    entries: tuple[str, ...],
    modules: tuple[str, ...],
    config_file: Path | None,
    python: str | None,
    target_python: str | None,
    project: Path | None,
    out_dir: Path,
    offline: bool,
    allow_unresolved: bool,
) -> None:
    """Resolve the job's environment for the target and write the lock files to OUTPUT."""
    from envcapture.build.lock import lock_job
    from envcapture.resolution.capture import capture
    from envcapture.resolution.indexes import IndexClient, attach_artifacts, index_warnings

    ui = _ui()
    entries = _entry_words(entries, modules)
    paths, config_file, project = _job_inputs(entries, config_file, project, "lock")
    python = _python_request(python)
    with ui.activity() as activity:
        activity.phase("reading the environment")
        result = capture(
            paths,
            config=config_file,
            project=project,
            python=python,
            target_python=target_python,
            complete=not offline,
            allow_unresolved=allow_unresolved,
            progress=activity.files if activity.enabled else None,
        )
        ui.detail(f"resolved {_count(len(result.closure.pins), 'distribution')} for Python {result.target.python_version}")
        warnings: list[str] = []
        if not offline:
            from dataclasses import replace

            activity.phase("asking the indexes for hashes")
            client = IndexClient(result.closure.options)
            closure = attach_artifacts(result.closure, result.target, client)
            warnings = [str(w) for w in index_warnings(closure, result.target, client)]
            result = replace(result, closure=closure)
    for warning in warnings:
        ui.note(f"warning: {warning}")
    parts = ["envcapture lock"]
    if config_file is not None:
        parts.append(f"--config {config_file}")
    if target_python:
        parts.append(f"--target-python {target_python}")
    parts.extend([*entries, f"-o {out_dir}"])
    command = " ".join(parts)
    _warn_requirements_contradictions(result, config_file, python)
    written = lock_job(result, out_dir, command=command)
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    pins = result.closure.pins
    out.print(f"locked {len(pins)} distributions for Python {result.target.python_version} on linux x86_64", markup=False)
    for path in written.paths:
        out.print(f"  wrote {_shown_path(path)}", markup=False)
    for name, why in written.skipped:
        ui.note(f"note: {name} not written: {why}")
    for dropped in result.closure.dropped:
        ui.note(f"note: dropped {dropped.name}: {dropped.reason}")
    for unresolved in result.closure.unresolved_for_target:
        ui.note(f"warning: {unresolved.requirement()} is needed on the target but not installed here: {unresolved.reason}")


# --- build, verify, cache ------------------------------------------------------------------


@cli.command("build")
@_job_options
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The bundle directory to write (replaced only when the new one is complete).",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Parallel downloads and builds (default: CPUs + 2, at most 8).")
@_json_option("build", "Print the manifest and the counters as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress on stderr (as -q, but notes are still printed).")
@_ui_options
@click.option(
    "--allow-secret-env",
    "allow_secret_env",
    multiple=True,
    metavar="NAME",
    help="Ship this env.vars entry although its name looks like a secret (*TOKEN*, *SECRET*, *PASSWORD*, *KEY*); repeatable.",
)
@click.option(
    "--no-verify",
    is_flag=True,
    help="Do not verify the bundle (by default, when a CPython of the target version is here, the bundle is "
    "installed offline and the job's entry points, local modules and data files are checked; exit 3 on failure).",
)
@_allow_unresolved_option
@_guarded
def build_cmd(
    entries: tuple[str, ...],
    modules: tuple[str, ...],
    config_file: Path | None,
    python: str | None,
    target_python: str | None,
    project: Path | None,
    out_dir: Path,
    jobs: int | None,
    as_json: bool,
    no_progress: bool,
    allow_secret_env: tuple[str, ...],
    no_verify: bool,
    allow_unresolved: bool,
) -> None:
    """Build the job's bundle in OUTPUT: locks, wheelhouse, local code, manifest; then verify it."""
    from envcapture.build.bundle import assemble_bundle
    from envcapture.build.wheelhouse import WheelhouseOptions
    from envcapture.resolution.capture import capture

    ui = _ui()
    entries = _entry_words(entries, modules)
    paths, config_file, project = _job_inputs(entries, config_file, project, "build")
    python = _python_request(python)
    parts = ["envcapture build"]
    if config_file is not None:
        parts.append(f"--config {config_file.name}")
    if target_python:
        parts.append(f"--target-python {target_python}")
    parts.extend([*entries, f"-o {out_dir.name}"])
    with ui.activity(not (no_progress or as_json)) as activity:
        activity.phase("reading the environment")
        cap = capture(
            paths,
            config=config_file,
            project=project,
            python=python,
            target_python=target_python,
            allow_unresolved=allow_unresolved,
            progress=activity.files if activity.enabled else None,
        )
        ui.detail(f"resolved {_count(len(cap.closure.pins), 'distribution')} for Python {cap.target.python_version}")
        activity.phase("wheels")
        options = WheelhouseOptions(jobs=jobs, analysed_python=cap.snapshot.executable)
        result = assemble_bundle(
            cap,
            out_dir,
            wheelhouse_options=options,
            progress=activity.wheel if activity.enabled else None,
            command=" ".join(parts),
            allow_secret_env=allow_secret_env,
        )
    stats = result.stats
    counters = {
        "downloads": stats.downloads,
        "builds": stats.builds,
        "copies": stats.copies,
        "store_hits": stats.store_hits,
        "bytes_downloaded": stats.bytes_downloaded,
        "corrupted": stats.corrupted,
    }
    verified = None
    if not no_verify and _can_verify(cap.target):
        from envcapture.runtime.verify import verify_bundle

        with ui.activity(not (no_progress or as_json)) as activity:
            activity.phase(f"verifying {result.path.name}: installing offline, importing the job's modules")
            verified = verify_bundle(result.path)
        for note in verified.notes:
            ui.note(f"note: verify: {note}")
    if as_json:
        doc = {"bundle": str(result.path), "counters": counters, "manifest": result.manifest}
        if verified is not None:
            doc["verify"] = {
                "ok": verified.ok,
                "checks": [{"step": c.step, "subject": c.subject, "ok": c.ok, "detail": c.detail} for c in verified.checks],
            }
        click.echo(json.dumps(doc, indent=2))
        if verified is not None and not verified.ok:
            click.get_current_context().exit(EXIT_BUILD)
        return
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    wheels = result.wheelhouse.wheels
    inputs = (result.manifest.get("job") or {}).get("inputs") or []
    out.print(
        f"built {_shown_path(result.path)}: {_count(len(wheels), 'wheel')} ({stats.downloads} downloaded, {stats.builds} built, "
        f"{stats.store_hits} from the store), {_count(len(result.local_code.files), 'local file')}, "
        f"{_count(len(inputs), 'input')}",
        markup=False,
    )
    for item in result.local_code.excluded:
        ui.note(f"note: left out {item.path} ({item.rule})")
    for item in ((result.manifest.get("job") or {}).get("inputs_archive") or {}).get("excluded") or []:
        ui.note(f"note: left out input {item['path']} ({item['rule']})")
    for name, why in result.skipped:
        ui.note(f"note: {name} not written: {why}")
    for name in result.wheelhouse.direct:
        ui.note(f"note: {name} is fetched by the target (direct reference), not shipped")
    if verified is not None:
        failures = verified.failures
        if failures:
            for check in failures:
                _err_console().print(f"envcapture: error: verify: {check.step} {check.subject}: {check.detail}", markup=False)
            _err_console().print(
                f"envcapture: error: {result.path.name}: the job would fail on the target ({_count(len(failures), 'failed check')}); "
                "fix the project or the config and build again (--no-verify to keep the bundle anyway)",
                markup=False,
            )
            click.get_current_context().exit(EXIT_BUILD)
        out.print(
            f"verified offline with Python {verified.python_version}: {_count(len(verified.checks), 'check')} passed",
            markup=False,
        )


def _can_verify(target: Any) -> bool:
    """Whether a CPython of the target version is on this machine to verify with; a note if not."""
    from envcapture.environment.interpreters import find_interpreter, host_matches

    if host_matches(target.sys_platform, target.platform_machine) and find_interpreter(target.python_version) is not None:
        return True
    _ui().note(
        f"note: not verified: no CPython {target.python_version} on this {target.sys_platform} "
        f"{target.platform_machine} machine (envcapture verify BUNDLE where there is one)"
    )
    return False


@cli.command("verify")
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--python",
    "python",
    help="CPython of the target version to verify with: a path, a virtualenv or a version (default: found on this machine).",
)
@_json_option("verify", "Print the result as JSON.")
@_ui_options
@_guarded
def verify_cmd(bundle: Path, python: str | None, as_json: bool) -> None:
    """Install BUNDLE offline into a fresh virtualenv and import its modules (exit 1 on failure)."""
    from envcapture.runtime.verify import verify_bundle

    python = _python_request(python)
    with _ui().activity(not as_json) as activity:
        activity.phase(f"verifying {bundle.name}: installing offline into a fresh virtualenv, importing")
        result = verify_bundle(bundle, python=python)
    if as_json:
        doc = {
            **document_header("envcapture/verify", "1.0"),
            "python_version": result.python_version,
            "offline_method": result.offline_method,
            "ok": result.ok,
            "checks": [{"step": c.step, "subject": c.subject, "ok": c.ok, "detail": c.detail} for c in result.checks],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
        counts: dict[str, int] = {}
        for check in result.checks:
            if check.ok:
                counts[check.step] = counts.get(check.step, 0) + 1
        passed = "  ok: " + (", ".join(f"{n} {step}" for step, n in sorted(counts.items())) or "nothing")
        if result.ok:
            out.print(f"verified with Python {result.python_version}, offline: {result.offline_method}", markup=False)
            out.print(passed, markup=False)
        else:
            failed = len(result.failures)
            out.print(
                f"verify FAILED: {failed} of {len(result.checks)} checks (Python {result.python_version}, "
                f"offline: {result.offline_method})",
                markup=False,
            )
            for check in result.failures:
                out.print(f"  FAILED {check.step} {check.subject}: {check.detail}", markup=False)
            out.print(passed, markup=False)
        for note in result.notes:
            _ui().note(f"note: {note}")
    if not result.ok:
        click.get_current_context().exit(EXIT_FINDINGS)


@cli.command("run")
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--workdir",
    "workdir",
    type=click.Path(file_okay=True, path_type=Path),
    help="The run directory to create (must not exist or be empty): status.json, logs/, outputs/, and work/ where the job runs. Default: BUNDLE-run-TIME-PID in the current directory.",
)
@click.option(
    "--python",
    "python",
    help="CPython of the target version for the job's environment: a path, a virtualenv or a version (default: found on this machine).",
)
@_ui_options
@_guarded
def run_cmd(bundle: Path, workdir: Path | None, python: str | None) -> None:
    """Run the job of BUNDLE here: verify it, build or reuse its environment offline, run cmd.

    Exit status: 0 Complete, 1 Failed (the job's exit code is in status.json), 2 the bundle
    is damaged or incomplete (nothing ran), 3 the environment cannot be built, 130 Cancelled.
    """
    from envcapture.runtime.run import run_bundle

    err = _err_console()
    ui = _ui()

    def say(line: str) -> None:  # -q: no state lines (the job's own output is still streamed)
        if not ui.quiet or line.startswith("warning:"):
            err.print(f"envcapture: {line}", markup=False)

    result = run_bundle(bundle, workdir, python=_python_request(python), log=say)
    click.get_current_context().exit(result.exit_status)


@cli.command("image")
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The image directory to write: OCI layout, image.tar (docker load), Dockerfile, image.json.",
)
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The job's config.yaml: its name (the tag) and env.docker (the base); env.vars and graceful-shutdown for bundles built before manifest 1.1 (default: ./config.yaml when its cmd is the bundle's).",
)
@click.option(
    "--base",
    metavar="NAME[@DIGEST]",
    help="The base image (default: the config's env.docker image, else python:<target X.Y>-slim). Never pulled.",
)
@click.option(
    "--base-rootfs",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A root filesystem tarball (tar or tar.gz): the base's layer, prepended.",
)
@click.option("--base-oci", metavar="DIR[:REF]", help="An OCI image layout holding the base image: its layers are prepended.")
@click.option(
    "--base-python",
    default="/usr/local/bin/python3",
    show_default=True,
    help="The base image's interpreter: the virtualenv's bin/python links to it.",
)
@click.option(
    "--workdir", default="/job", show_default=True, help="Where the local code goes: the container's working directory."
)
@click.option(
    "--tag", "repo_tag", metavar="REPO:TAG", help="The name docker load gives the image (default: envcapture/<job name>:latest)."
)
@click.option(
    "--heavy-layer-mb",
    type=click.FloatRange(min=0),
    default=50.0,
    show_default=True,
    help="A distribution installed larger than this many MB gets a layer of its own.",
)
@click.option("--load", "load_it", is_flag=True, help="docker load image.tar into the daemon (Docker SDK; DOCKER_HOST).")
@click.option(
    "--run",
    "run_it",
    is_flag=True,
    help="Load, then run the job's cmd in a container with no network; exit 1 when the job fails.",
)
@click.option(
    "--push",
    "push_ref",
    metavar="REGISTRY/REPO:TAG",
    help="Push the image (OCI distribution API; credentials from the Docker config's auths).",
)
@click.option("--insecure-registry", is_flag=True, help="Push over plain HTTP (a registry on a loopback address always is).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print image.json (schema envcapture/image), with the load, run and push results, as JSON.",
)
@_ui_options
@_guarded
def image_cmd(
    bundle: Path,
    out_dir: Path,
    config_file: Path | None,
    base: str | None,
    base_rootfs: Path | None,
    base_oci: str | None,
    base_python: str,
    workdir: str,
    repo_tag: str | None,
    heavy_layer_mb: float,
    load_it: bool,
    run_it: bool,
    push_ref: str | None,
    insecure_registry: bool,
    as_json: bool,
) -> None:
    """Build the OCI image of BUNDLE in OUTPUT, deterministically and without a daemon."""
    import os

    from envcapture.build.manifest import read_manifest
    from envcapture.config.loader import load_config
    from envcapture.errors import InputError
    from envcapture.image.oci import (
        ImageOptions,
        build_image,
        config_env,
        default_repo_tag,
    )

    err = _err_console()
    manifest = read_manifest(bundle)
    explicit = config_file is not None
    if config_file is None and Path("config.yaml").is_file():
        config_file = Path("config.yaml")
    config = load_config(config_file) if config_file is not None else None
    if config is not None and " ".join(config.cmd.split()) != " ".join(str(manifest.get("cmd") or "").split()):
        if explicit:
            raise InputError(f"{config_file}: its cmd differs from the bundle's; rebuild the bundle from this config")
        _ui().note(f"note: ignored {config_file}: its cmd is not the bundle's")
        config = None
    env: tuple[tuple[str, str], ...] = ()
    stop_signal = docker_image = None
    if config is not None:
        if not isinstance(manifest.get("job"), dict):  # a 1.0 manifest: the variables come from the config
            env, missing = config_env(config, os.environ)
            for name in missing:
                _ui().note(f"note: env.vars {name} is not set here; left out of the image")
            stop_signal = config.graceful_shutdown.signal if config.graceful_shutdown else None
        if config.env.docker is not None:
            docker_image = config.env.docker.image or config.env.docker.id
    options = ImageOptions(
        base=base,
        base_rootfs=base_rootfs,
        base_oci=base_oci,
        base_python=base_python,
        workdir=workdir,
        repo_tag=repo_tag or default_repo_tag(config.name if config is not None else None),
        env=env,
        stop_signal=stop_signal,
        heavy_layer_bytes=int(heavy_layer_mb * 1_000_000),
    )
    if (load_it or run_it or push_ref) and base_rootfs is None and base_oci is None:
        raise InputError(
            "--load, --run and --push need the base's layers in the image: give --base-oci or --base-rootfs "
            f"(a base known only by name is never pulled), or build {out_dir / 'Dockerfile'} with an engine"
        )
    with _ui().activity(not as_json) as activity:
        activity.phase(f"building the image of {bundle.name}")
        result = build_image(bundle, out_dir, options=options, docker_image=docker_image)
    doc = result.to_json()
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    if not as_json:
        out.print(f"image {out_dir}: {result.digest} {result.repo_tag}", markup=False)
        for layer in result.layers:
            out.print(f"  {layer.name:<24} {layer.digest[:19]}  {layer.size:>12,} bytes", markup=False)
        for note in result.notes:
            _ui().note(f"note: {note}")
    status = 0
    if load_it or run_it:
        from envcapture.image.engine import docker_client, load_image, run_image

        client = docker_client()
        image_id = load_image(client, result.path)
        doc["load"] = {"image_id": image_id, "repo_tag": result.repo_tag}
        if not as_json:
            out.print(f"loaded {result.repo_tag} ({image_id})", markup=False)
        if run_it:
            ran = run_image(client, image_id)
            doc["run"] = {"network": "none", "status": ran.status, "output": ran.output}
            status = ran.status
            if not as_json:
                click.echo(ran.output, nl=False)
                err.print(f"envcapture: the job exited with status {ran.status} (network: none)", markup=False)
    if push_ref:
        from envcapture.image.registry import push_image

        pushed = push_image(result.path, push_ref, insecure=insecure_registry)
        doc["push"] = {
            "reference": str(pushed.reference),
            "digest": pushed.digest,
            "pull": pushed.reference.with_digest(pushed.digest),
            "uploaded": pushed.uploaded,
            "existing": pushed.existing,
            "bytes_uploaded": pushed.bytes_uploaded,
        }
        if not as_json:
            out.print(
                f"pushed {pushed.reference.with_digest(pushed.digest)} ({pushed.uploaded} blobs uploaded, "
                f"{pushed.existing} already there)",
                markup=False,
            )
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    if status != 0:
        click.get_current_context().exit(EXIT_FINDINGS)


@cli.group("cache")
def cache_group() -> None:
    """Inspect and prune the store of wheels and bundles."""


@cache_group.command("info")
@_json_option("cache info", "Print the result as JSON.")
@_ui_options
@_guarded
def cache_info(as_json: bool) -> None:
    """Entries and bytes in the store, per kind."""
    from envcapture.build.store import Store

    info = Store().info()
    if as_json:
        doc = {
            **document_header("envcapture/cache-info", "1.0"),
            "root": str(info.root),
            "objects": info.objects,
            "bytes": info.bytes,
            "index_entries": info.index_entries,
            "temporary": info.temporary,
            "per_kind": [{"kind": k, "objects": n, "bytes": b} for k, n, b in info.per_kind],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    out.print(f"store: {info.root}", markup=False)
    out.print(f"  {info.objects} objects, {info.bytes} bytes, {info.index_entries} index entries", markup=False)
    for kind, count, size in info.per_kind:
        out.print(f"  {kind}: {count} objects, {size} bytes", markup=False)
    if info.temporary:
        out.print(f"  {info.temporary} temporary files (left by interrupted runs; prune removes old ones)", markup=False)


@cache_group.command("prune")
@click.option("--older-than", metavar="DURATION", help="Remove what was not used for DURATION (30d, 12h, 90m).")
@click.option("--all", "everything", is_flag=True, help="Remove everything.")
@_ui_options
@_guarded
def cache_prune(older_than: str | None, everything: bool) -> None:
    """Remove unused objects from the store (default: --older-than 30d)."""
    from envcapture.build.store import Store
    from envcapture.config.scalars import parse_duration
    from envcapture.errors import InputError

    if everything and older_than:
        raise InputError("--all and --older-than cannot be used together")
    seconds: float | None = None
    if not everything:
        try:
            seconds = parse_duration(older_than or "30d")
        except ValueError:
            raise InputError(f"--older-than: expected a duration like 30d, 12h or 90m, got {older_than!r}") from None
    result = Store().prune(older_than=seconds, everything=everything)
    _console(highlight=False, soft_wrap=True, emoji=False, markup=False).print(
        f"removed {result.objects} objects ({result.bytes} bytes) and {result.index_entries} index entries", markup=False
    )


# --- check ---------------------------------------------------------------------------------


@cli.command("check")
@click.argument("entries", nargs=-1)
@_module_option
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The job's config.yaml: entry points from cmd and root-paths, and env.python.requirements-file.",
)
@click.option(
    "-r",
    "--requirements",
    "requirements",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A requirements file (pip syntax, -r includes followed); repeatable.",
)
@click.option(
    "--pyproject", is_flag=True, help="Check [project.dependencies] and [project.optional-dependencies] of pyproject.toml."
)
@click.option(
    "--python", "python", help="Interpreter whose environment is analysed (default: the active virtualenv, else this Python)."
)
@click.option("--target-python", help="Target Python version (default: the config's version, else the analysed interpreter's).")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    help="The project directory (default: the config's directory, else the current one).",
)
@click.option(
    "--require-pins", is_flag=True, help="Report requirements without == (EC005), as [tool.envcapture] require-pins = true does."
)
@click.option(
    "--check-index",
    is_flag=True,
    help="Ask the configured index whether every pin installs on the target (EC006; needs the network).",
)
@click.option("--fix", is_flag=True, help="Rewrite the requirements file: add what is missing (pinned), remove what is unused.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json", "github"]),
    default="human",
    show_default=True,
    help="Output: grouped text, a JSON document (envcapture/check 1.0), or GitHub workflow annotations.",
)
@click.option("--no-cache", is_flag=True, help="Parse every file again; do not read or write the analysis cache.")
@_ui_options
@_guarded
def check_cmd(
    entries: tuple[str, ...],
    modules: tuple[str, ...],
    config_file: Path | None,
    requirements: tuple[Path, ...],
    pyproject: bool,
    python: str | None,
    target_python: str | None,
    project: Path | None,
    require_pins: bool,
    check_index: bool,
    fix: bool,
    fmt: str,
    no_cache: bool,
) -> None:
    """Check that the declared requirements match what the code imports (exit 1 on problems).

    ENTRIES are scripts (and -m MODULE modules); default: the config's cmd, else
    [tool.envcapture] entry-points of pyproject.toml. Rules: EC001 missing, EC002 unused,
    EC003 wrong-name, EC004 transitive, EC005 unpinned, EC006 not-installable.
    """
    from envcapture.check.job import CheckOptions, run_check
    from envcapture.check.report import render_github, render_human, render_json
    from envcapture.errors import InputError

    if requirements and pyproject:
        raise InputError("--requirements and --pyproject cannot be used together")
    ui = _ui()
    paths = tuple(e if e.startswith("-m ") else str(Path(e).resolve()) for e in _entry_words(entries, modules))
    python = _python_request(python)
    options = CheckOptions(
        entry_points=paths,
        config=config_file,
        project=project,
        requirements=requirements,
        pyproject=pyproject,
        python=python,
        target_python=target_python,
        require_pins=require_pins,
        check_index=check_index,
        fix=fix,
        use_cache=not no_cache,
    )
    with ui.activity(fmt == "human") as activity:
        activity.phase("analysing imports")
        result = run_check(options)
    if fmt != "json":
        for note in result.notes:
            ui.note(f"note: {note}")
    if result.written:
        ui.note(f"fixed {len(result.fixed)} problem(s) in {', '.join(result.written)}")
    if fmt == "json":
        click.echo(
            render_json(
                result.findings, entry_points=result.entry_points, declared_files=result.declared.files, fixed=result.fixed
            ),
            nl=False,
        )
    elif fmt == "github":
        click.echo(render_github(result.findings), nl=False)
    else:
        _console(highlight=False, soft_wrap=True, emoji=False, markup=False).print(
            render_human(result.findings, fixed=result.fixed)
        )
    if result.findings:
        click.get_current_context().exit(EXIT_FINDINGS)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``envcapture`` console script."""
    try:
        rv = cli.main(args=argv, prog_name="envcapture", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        _err_console().print("envcapture: aborted", markup=False)
        return 130
    except click.ClickException as exc:
        _err_console().print(f"envcapture: error: {exc.format_message()}", markup=False)
        return EXIT_INPUT if isinstance(exc, click.UsageError) else exc.exit_code
    return rv if isinstance(rv, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
