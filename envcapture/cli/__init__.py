"""The command line: parse -> call the library -> render -> exit code (EDGE: stdout, stderr, exit).

Exit codes: 0 ok; 1 ``check`` found problems (and ``analyze --strict`` found unresolved
imports); 2 bad input or usage; 3 resolution or build failure; 4 internal error.
Results go to stdout; diagnostics to stderr, one line each, never a traceback unless
``--debug``. Human output adapts: tables on a terminal, one complete record per line when
stdout is a pipe or a file, ``--json`` for programs; progress shows on stderr only when it
is a terminal (never with ``--json`` or ``-q``).

Each command lives in the module of its part of the pipeline (`analyze`, `bundle`, `image`,
`check`, `cache`) and is loaded only when it runs (`_LazyGroup`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from envcapture._version import __version__
from envcapture.errors import ConfigError, EnvcaptureError

if TYPE_CHECKING:
    from rich.console import Console


__all__ = ["cli", "main"]


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
        the end (a bar per large download); elsewhere (CI, a pipe) one line per wheel;
        nothing with ``-q`` or when not ``enabled``."""
        shown = enabled and not self.quiet
        terminal = _stderr_is_terminal()
        activity = _Activity(shown and terminal, lines=shown and not terminal)
        try:
            yield activity
        finally:
            activity.stop()


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


# A download gets its own bar from this size on (smaller ones finish before a bar is read).
_BAR_BYTES = 1 << 20


class _Activity:
    """One live progress line (rich, transient) and a bar per large download, or with
    ``lines`` one plain line per wheel; every method is a no-op when neither is on."""

    def __init__(self, enabled: bool, *, lines: bool = False) -> None:
        self.enabled = enabled
        self.lines = lines and not enabled
        self._progress: Any = None
        self._task: Any = None
        self._pins: dict[str, Any] = {}  # name -> the task of its download or build
        if enabled:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[amount]}"),
                TimeElapsedColumn(),
                console=_err_console(),
                transient=True,
            )
            self._task = self._progress.add_task("working", total=None, amount="")
            self._progress.start()

    @property
    def wheel_progress(self) -> Callable[[Any], None] | None:
        """The wheelhouse callback when anything is shown of it."""
        return self.wheel if (self.enabled or self.lines) else None

    def phase(self, description: str, *, total: int | None = None, completed: int = 0) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description, total=total, completed=completed)

    def files(self, read: int, parsed: int) -> None:
        """The analysis callback: files read so far (of which parsed, not from the cache)."""
        if self._progress is not None:
            self._progress.update(self._task, description=f"analysing imports: {read} files ({parsed} parsed)")

    def wheel(self, event: Any) -> None:
        """The wheelhouse callback (`WheelEvent`): wheels done of all on the main line, a bar
        per download of 1 MiB or more (bytes, speed) and a line per build while it runs;
        with ``lines``, one line per wheel once it is there."""
        if self.lines:
            self._wheel_line(event)
        if self._progress is None:
            return
        if event.action == "downloading":
            self._pin_bar(event)
            return
        if event.action == "building":
            if (fetched := self._pins.pop(event.name, None)) is not None:  # the sdist it builds came first
                self._progress.remove_task(fetched)
            self._pins[event.name] = self._progress.add_task(f"  building {event.name} {event.version}", total=None, amount="")
            return
        task = self._pins.pop(event.name, None)
        if task is not None:
            self._progress.remove_task(task)
        what = f"wheels {event.done}/{event.total}" + ("" if event.action == "start" else f": {event.action} {event.name}")
        self._progress.update(self._task, description=what, completed=event.done, total=event.total)

    def _pin_bar(self, event: Any) -> None:
        from envcapture.resolution.summary import format_size

        size = event.bytes_total
        amount = f"{format_size(event.bytes_done)} of {format_size(size)}" if size else format_size(event.bytes_done)
        task = self._pins.get(event.name)
        if task is None:
            if size and size < _BAR_BYTES:
                return
            task = self._pins[event.name] = self._progress.add_task(
                f"  downloading {event.name} {event.version}", total=size or None, amount=amount
            )
        self._progress.update(task, completed=event.bytes_done, total=size or None, amount=amount)

    def _wheel_line(self, event: Any) -> None:
        if event.action in ("start", "downloading", "building"):
            return
        from envcapture.resolution.summary import format_size

        what = {"cached": "from the store"}.get(event.action, event.action)
        line = f"envcapture: wheel {event.done}/{event.total}: {event.name} {event.version} {what}"
        if event.size:
            line += f" ({format_size(event.size)})"
        if event.found_on is not None and event.action in ("downloaded", "built"):  # built: from an index's sdist
            line += f" from {event.found_on}"
        _err_console().print(line, markup=False, highlight=False, soft_wrap=True)

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


def _warn_cache(write_error: str, *, no_cache_option: bool = False) -> None:
    """The one line for an analysis cache that could not be written (`CacheStats.write_error`):
    the analysis went on without storing, as pip goes on when its cache is not writable."""
    if write_error:
        hint = "set ENVCAPTURE_CACHE_DIR to a writable directory" + (", or pass --no-cache" if no_cache_option else "")
        _ui().note(f"warning: cannot write the analysis cache {write_error}; analysed without caching ({hint})")


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


def _start_reading_environment(python: str | None, config_file: Path | None, project: Path | None) -> None:
    """Start the probe of the environment the command will read, before the command imports
    the analysis (`start_probe`): the project directory as the analysis takes it."""
    from envcapture.environment.discover import start_reading

    directory = project if project is not None else config_file.parent if config_file is not None else Path.cwd()
    start_reading(directory.resolve(), python)


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


class _LazyGroup(click.Group):
    """The command group, loading each command's module only when that command runs (click's
    lazy-loading pattern): ``envcapture run`` on a job VM imports nothing of the analysis."""

    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module, _, attr = self._lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


_COMMANDS = {
    "config": "envcapture.cli.analyze:config_group",
    "analyze": "envcapture.cli.analyze:analyze_cmd",
    "lock": "envcapture.cli.bundle:lock_cmd",
    "build": "envcapture.cli.bundle:build_cmd",
    "verify": "envcapture.cli.bundle:verify_cmd",
    "run": "envcapture.cli.bundle:run_cmd",
    "image": "envcapture.cli.image:image_cmd",
    "check": "envcapture.cli.check:check_cmd",
    "cache": "envcapture.cli.cache:cache_group",
}


@click.group(
    cls=_LazyGroup,
    lazy=_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "ENVCAPTURE"},
)
@click.version_option(__version__, "--version", prog_name="envcapture", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Capture the Python environment of an ML job for a Linux x86_64 GPU VM."""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _mask(url: str | None) -> str | None:
    from envcapture._urls import mask_url

    return mask_url(url) if url else url


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


_allow_secret_env_option = click.option(
    "--allow-secret-env",
    "allow_secret_env",
    multiple=True,
    metavar="NAME",
    help="Allow this env.vars entry although its name looks like a secret (*TOKEN*, *SECRET*, *PASSWORD*, *PASSWD*, "
    "*KEY*): its value ships in clear in the bundle and the image; repeatable.",
)


_allow_unresolved_option = click.option(
    "--allow-unresolved",
    is_flag=True,
    help="Go on when the job cannot run as analysed (a missing entry script, no entry point, an import found only "
    "outside the target's sys.path or nowhere, local-paths leaving out an imported module, a pin whose Requires-Python "
    "excludes the target, no-deps leaving out a requirement); refused by default, each becomes a warning.",
)


_accelerator_option = click.option(
    "--accelerator",
    envvar="ENVCAPTURE_ACCELERATOR",
    metavar="cpu|cuda|cuXYZ",
    help="The target's accelerator: cpu, cuda (the index's default CUDA build) or a CUDA line such as cu126 "
    "(env ENVCAPTURE_ACCELERATOR; default: the first cloud-instance-types entry, else the build installed here).",
)


def _with_options(func: F) -> F:
    """``--with NAME`` (repeatable) and ``--installed-extras/--no-installed-extras``: what ships
    beyond the imports, for analyze, lock, build and check."""
    func = click.option(
        "--installed-extras/--no-installed-extras",
        "installed_extras",
        default=None,
        help="Ship the extras whose requirements are all installed here (pandas[parquet] -> pyarrow), test/dev/docs "
        "extras left out (default: on in auto mode; [tool.envcapture] installed-extras).",
    )(func)
    return click.option(
        "--with",
        "with_requirements",
        multiple=True,
        metavar="NAME",
        help="Also ship this installed distribution although the code does not import it (a requirement such as "
        "pyarrow or 'pyarrow>=15', pinned to the installed version); repeatable; adds to [tool.envcapture] with.",
    )(func)


def _job_options(func: F) -> F:
    """ENTRIES, --config, --python, --target-python, --accelerator, --project: how every job command names its job."""
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
            help="Interpreter whose environment is analysed (default: for analyze, [tool.envcapture] python, the active "
            "virtualenv, a .venv/ in the project, else bare mode with guessed names; for the others, the active "
            "virtualenv, else this Python).",
        ),
        click.option(
            "--target-python", help="Target Python version (default: the config's version, else the analysed interpreter's)."
        ),
        _accelerator_option,
        click.option(
            "--project",
            type=click.Path(file_okay=False, path_type=Path),
            help="The job's working directory (default: the config's directory, else the current one).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _no_collections_at_exit() -> None:
    """Freeze the garbage collector's objects at exit: the interpreter's last collections
    would walk every object still alive (libcst's node classes, the analysis) only to free
    memory the process gives back anyway, ~25 ms of a 0.4 s cold run."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)  # once, however often main() runs in one process
    atexit.register(gc.freeze)


@contextlib.contextmanager
def _no_full_collections() -> Iterator[None]:
    """No full garbage collection while a command runs (the young generations are collected
    as usual), the collector's thresholds restored after. What a cold analysis makes (facts,
    import sites, edges, the analysis) lives to its end, and each full collection went through
    all of it, and libcst's classes, to free next to nothing: ~0.1 s of the analysing process
    for a 1,352-file project (its parser workers, forked meanwhile, skip them too)."""
    import gc

    thresholds = gc.get_threshold()
    _usual_thresholds.append(thresholds)
    gc.set_threshold(thresholds[0], thresholds[1], _YOUNG_COLLECTIONS_BETWEEN_FULL_ONES)
    try:
        yield
    finally:
        gc.set_threshold(*_usual_thresholds.pop())


# More young-generation collections than a command makes: none is followed by a full one.
_YOUNG_COLLECTIONS_BETWEEN_FULL_ONES = 1 << 30
_usual_thresholds: list[tuple[int, int, int]] = []  # the collector's, before each command


def _full_collections_again() -> None:
    """The collector's usual thresholds back, for a command that runs for long (``run``
    supervises a job for hours): cyclic garbage must not pile up there."""
    import gc

    if _usual_thresholds:
        gc.set_threshold(*_usual_thresholds[-1])


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``envcapture`` console script."""
    from envcapture._fs import compiled_dataclasses

    _no_collections_at_exit()
    try:
        with _no_full_collections(), compiled_dataclasses():
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
