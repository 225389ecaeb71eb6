"""Opt-in runtime trace: entry points (or a command) run in a sandbox -> `RuntimeReport`. EDGE.

Static analysis cannot see imports whose names are computed (plugin registries,
``importlib.import_module(name)``, classes named in a YAML config, lazy ``__getattr__``
packages). This stage imports each entry point in a subprocess of the ANALYSED
interpreter under an import hook (``envcapture/_tracer.py``, stdlib only, Python 3.8+;
why it wraps ``__import__`` rather than using a meta-path finder or an audit hook is
explained there), and reads back what was imported, by whom, from where.

An entry point is imported as a module, never run as ``__main__``: a script is loaded
with ``spec_from_file_location("__envcapture_entry__", path)`` so its ``if __name__ ==
"__main__":`` block does not fire; a script WITHOUT that guard is never imported (it
would start the job: nanoGPT's ``train.py``), the modules its body imports are imported
one by one instead (`envcapture.analysis.guard`), with a note; ``-m pkg.mod`` imports ``pkg.mod`` (a package's
``__main__`` is not run: it is unguarded by nature). ``command`` (``--runtime-cmd``)
runs a whole command instead, with the hook injected as ``sitecustomize`` through
``PYTHONPATH``, so every Python process it starts (launchers such as ``torchrun``
included) is traced; ``python`` as the first word is replaced by the analysed
interpreter, and that interpreter's directory leads ``PATH``.

Containment, each run (the mechanics live in ``envcapture/_sandbox.py``):

* the working directory is a temporary COPY of the project (VCS, caches, virtualenvs and
  files over `MAX_COPY_BYTES` left out), so files the code writes land in the copy;
  what it wrote is reported (`RuntimeTrace.written_files`);
* a timeout; on expiry the whole process group (its own session) is killed, and any
  process left in that session after it;
* the network is cut off with a new network namespace (``unshare --net`` as root,
  ``unshare --user --map-root-user --net`` otherwise) when the kernel allows it; when it
  does not, the report says so;
* environment variables keep well-known libraries offline (`OFFLINE_ENV`), proxies point
  to a closed local port, ``TMPDIR`` is private, no bytecode is written, stdin is empty;
  the caller's ``PYTHON*`` variables are dropped (they belong to whoever runs envcapture,
  not to the job).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from envcapture.analysis.guard import has_main_guard, module_level_imports
from envcapture.analysis.model import EntryKind, EntryPoint
from envcapture.analysis.runtime._sandbox import (
    IGNORED_DIRS,
    MAX_COPY_BYTES,
    OFFLINE_ENV,
    RunResult,
    Sandbox,
    child_env,
    file_states,
    inside,
    is_ignored_dir,
    last_line,
    network_isolation,
    network_note,
    run_contained,
    written_since,
)
from envcapture.analysis.runtime.datarefs import (
    DATA_SUFFIXES,
    find_data_refs,
    resolve_data_refs,
)
from envcapture.analysis.runtime.model import DataRef, RuntimeReport, RuntimeTrace, TracedImport, TraceOutcome
from envcapture.analysis.stdlib import is_stdlib
from envcapture.environment.distributions import owners_of
from envcapture.environment.model import EnvSnapshot

__all__ = [
    "DEFAULT_TIMEOUT",
    "IGNORED_DIRS",
    "MAX_COPY_BYTES",
    "MAX_DATA_FILE_BYTES",
    "OFFLINE_ENV",
    "network_isolation",
    "scan_data_refs",
    "trace_runtime",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
"""Seconds each traced run may take."""

MAX_DATA_FILE_BYTES = 1024 * 1024
"""Data files larger than this are not scanned for dotted names."""

_PYTHON_NAMES = ("python", "python3")


def _tracer_source() -> str:
    return resources.files("envcapture.analysis.runtime").joinpath("_tracer.py").read_text(encoding="utf-8")


# --- reading the trace --------------------------------------------------------------------------


class _Places:
    """Absolute file names in the child -> (what the report shows, who owns the file)."""

    def __init__(self, box: Sandbox, snapshot: EnvSnapshot) -> None:
        self.copy = str(box.copy)
        self.private = str(box.private)
        self.site = [os.path.realpath(p) for p in snapshot.site_packages] + list(snapshot.site_packages)
        editable = [path for dist in snapshot.distributions for path in dist.editable_roots]
        editable += [os.path.dirname(path) for _, path in snapshot.editable_mappings]
        self.editable = [p for p in editable if p]
        self.stdlib = [os.path.realpath(p) for p in snapshot.stdlib_dirs] + list(snapshot.stdlib_dirs)

    def where(self, filename: object) -> tuple[str | None, str]:
        if not isinstance(filename, str) or not filename or filename.startswith("<"):
            return None, "unknown"
        path = filename if os.path.isabs(filename) else os.path.join(self.copy, filename)
        path = os.path.normpath(path)
        if inside(path, self.private):
            return None, "entry"
        if inside(path, self.copy):
            return Path(path).relative_to(self.copy).as_posix(), "project"
        real = os.path.realpath(path)
        for candidate in (path, real):
            if any(inside(candidate, s) for s in self.site if s):
                return candidate, "distribution"
        for candidate in (path, real):
            if any(inside(candidate, e) for e in self.editable):
                return candidate, "distribution"
        for candidate in (path, real):
            if any(inside(candidate, s) for s in self.stdlib if s):
                return candidate, "stdlib"
        return path, "other"


def _read_events(path: Path) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return events
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short by the kill
        if isinstance(event, dict):
            events.append(event)
    return events


@dataclass
class _Parsed:
    imports: tuple[TracedImport, ...]
    error: dict[str, object] | None
    done: bool
    pending: str | None  # the last import that never finished (for a timeout)


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse(events: Iterable[dict[str, object]], places: _Places) -> _Parsed:
    files: dict[str, str | None] = {}
    failures: dict[tuple[object, object, object], dict[str, object]] = {}
    raw_imports: list[dict[str, object]] = []
    error: dict[str, object] | None = None
    done = False
    for event in events:
        kind = event.get("e")
        if kind == "imp":
            raw_imports.append(event)
        elif kind == "mod" and isinstance(event.get("m"), str):
            files[str(event["m"])] = places.where(event.get("file"))[0]
        elif kind == "fail":
            failures.setdefault((event.get("m"), event.get("f"), event.get("l")), event)
        elif kind == "error" and error is None:
            error = event
        elif kind == "done":
            done = True
    imports: set[TracedImport] = set()
    pending: str | None = None
    for event in raw_imports:
        module = event.get("m")
        if not isinstance(module, str) or not module or module.startswith("__envcapture"):
            continue
        importer, importer_kind = places.where(event.get("f"))
        fail = failures.get((module, event.get("f"), event.get("l")))
        via = str(event.get("via") or "import")
        if module not in files and fail is None and via != "loaded":
            pending = module
        common = {
            "importer": importer,
            "line": _as_int(event.get("l")),
            "importer_kind": importer_kind,
            "scope": "module" if event.get("fn") in ("<module>", None) else "function",
            "via": via,
        }
        imports.add(
            TracedImport(
                module=module,
                file=files.get(module),
                error=f"{fail.get('x')}: {fail.get('msg')}" if fail is not None else None,
                missing=str(fail["missing"]) if fail is not None and fail.get("missing") else None,
                **common,  # type: ignore[arg-type]
            )
        )
        # ``import a.b.c`` imports ``a`` and ``a.b`` first, on behalf of the same line.
        parts = module.split(".")
        for depth in range(1, len(parts)):
            parent = ".".join(parts[:depth])
            if parent in files:
                imports.add(TracedImport(module=parent, file=files[parent], **common))  # type: ignore[arg-type]
    ordered = sorted(imports, key=lambda i: (i.module, i.importer or "", i.line or 0, i.via, i.importer_kind))
    return _Parsed(imports=tuple(ordered), error=error, done=done, pending=pending)


def _failed_at(error: Mapping[str, object], places: _Places) -> str | None:
    frames = error.get("tb")
    if not isinstance(frames, list):
        return None
    for frame in reversed(frames):
        if isinstance(frame, list) and len(frame) == 2:
            where, kind = places.where(frame[0])
            if kind == "project" and where is not None:
                return f"{where}:{frame[1]}" if isinstance(frame[1], int) else where
    return None


def _trace_of(
    label: str, run: RunResult, parsed: _Parsed, places: _Places, timeout: float, written: tuple[str, ...], *, command: bool
) -> RuntimeTrace:
    if run.stderr_tail.strip():
        logger.debug("runtime trace of %s: stderr ends with: %s", label, last_line(run.stderr_tail))
    if run.returncode is None:
        message = f"timed out after {timeout:g} s"
        if parsed.pending:
            message += f" while importing {parsed.pending}"
        return RuntimeTrace(
            entry=label, outcome=TraceOutcome.TIMEOUT, message=message, imports=parsed.imports, written_files=written
        )
    error = parsed.error
    if error is not None:
        kind, text = str(error.get("x")), str(error.get("msg") or "")
        module = error.get("module")
        if kind == "SystemExit" and text in ("", "0", "None"):
            return RuntimeTrace(
                entry=label,
                outcome=TraceOutcome.OK,
                message="the module called sys.exit(0) while being imported",
                imports=parsed.imports,
                written_files=written,
            )
        return RuntimeTrace(
            entry=label,
            outcome=TraceOutcome.ERROR,
            message=f"{kind}: {text}" if text else kind,
            failed_import=module if isinstance(module, str) and not module.startswith("__envcapture") else None,
            failed_at=_failed_at(error, places),
            imports=parsed.imports,
            written_files=written,
        )
    if (command and run.returncode == 0) or (not command and parsed.done):
        return RuntimeTrace(entry=label, outcome=TraceOutcome.OK, imports=parsed.imports, written_files=written)
    detail = last_line(run.stderr_tail)
    what = "exited" if run.returncode >= 0 else "was killed by a signal"
    message = f"{what} with code {run.returncode}" if run.returncode >= 0 else f"{what} ({-run.returncode})"
    if not command:
        message += " before the import finished"
    if detail:
        message += f": {detail}"
    return RuntimeTrace(entry=label, outcome=TraceOutcome.ERROR, message=message, imports=parsed.imports, written_files=written)


def _entry_pythonpath(entry: EntryPoint, copy: Path) -> list[str]:
    paths: list[str] = []
    for item in entry.pythonpath:
        if not item or "${" in item:
            continue
        p = Path(item)
        paths.append(str(p if p.is_absolute() else Path(os.path.normpath(copy / p))))
    return paths


def _split_command(command: str, python: str, copy: Path) -> tuple[list[str], dict[str, str], list[str]]:
    """``A=1 PYTHONPATH=src python train.py`` -> argv, assignments, PYTHONPATH entries."""
    words = shlex.split(command)
    assignments: dict[str, str] = {}
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    if words and words[0] == "env":
        words.pop(0)
    if words and (os.path.basename(words[0]) in _PYTHON_NAMES or _is_versioned_python(words[0])):
        words[0] = python
    pythonpath = []
    for item in assignments.pop("PYTHONPATH", "").split(os.pathsep):
        if item:
            p = Path(item)
            pythonpath.append(str(p if p.is_absolute() else copy / p))
    return words, assignments, pythonpath


def _is_versioned_python(word: str) -> bool:
    name = os.path.basename(word)
    return name.startswith("python3.") and name[len("python3.") :].isdigit()


def trace_runtime(
    entry_points: Sequence[EntryPoint],
    *,
    project: Path,
    snapshot: EnvSnapshot,
    python: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    command: str | None = None,
    workdir: Path | None = None,
    isolate_network: bool = True,
) -> RuntimeReport:
    """Import each entry point (or run ``command``) under the import hook, contained.

    :param project: the job's working directory; copied, never written to.
    :param snapshot: the analysed environment (tells distribution files from stdlib ones).
    :param python: the interpreter to run; default ``snapshot.executable``.
    :param timeout: seconds per run; the run's process group is killed on expiry.
    :param command: a full command to run instead of importing the entry points.
    :param workdir: create the sandbox under this directory and KEEP it (for inspection and
        tests); by default it is a temporary directory removed at the end.
    :param isolate_network: try to cut the network off (see `network_isolation`).
    :returns: one `RuntimeTrace` per entry point (or one for the command). Failures of the
        traced code are reported in it, never raised.
    """
    project = Path(project).resolve()
    interpreter = python or snapshot.executable
    prefix: tuple[str, ...] = ()
    if isolate_network:
        prefix, why_not = network_isolation(interpreter)
        network = network_note(prefix) if prefix else str(why_not)
    else:
        network = "not cut off: disabled by the caller"
    box = Sandbox.create(project, workdir)
    places = _Places(box, snapshot)
    tracer = box.private / "_envcapture_tracer.py"
    tracer.write_text(_tracer_source(), encoding="utf-8")
    traces: list[RuntimeTrace] = []
    notes = [f"not copied into the sandbox: {item}" for item in box.skipped]
    unguarded: list[str] = []
    try:
        if command is not None:
            traces.append(_trace_command(command, box=box, places=places, python=interpreter, prefix=prefix, timeout=timeout))
        else:
            for index, entry in enumerate(entry_points):
                traces.append(
                    _trace_entry(
                        entry, index, box=box, places=places, python=interpreter, prefix=prefix, timeout=timeout,
                        unguarded=unguarded,
                    )
                )  # fmt: skip
    finally:
        if workdir is None:
            shutil.rmtree(box.root, ignore_errors=True)
    return RuntimeReport(
        timeout=timeout,
        network_isolated=bool(prefix),
        network=network,
        command=command,
        traces=tuple(traces),
        notes=tuple(
            [
                *notes,
                *(
                    f'{target}: no `if __name__ == "__main__":` guard, so it was not imported (that would start the '
                    "job); its module-level imports were imported one by one"
                    for target in unguarded
                ),
            ]
        ),
    )


def _trace_entry(
    entry: EntryPoint,
    index: int,
    *,
    box: Sandbox,
    places: _Places,
    python: str,
    prefix: Sequence[str],
    timeout: float,
    unguarded: list[str],
) -> RuntimeTrace:
    label = str(entry)
    if entry.kind is EntryKind.SCRIPT:
        script = Path(os.path.normpath(box.copy / entry.target))
        if not script.is_file():
            return RuntimeTrace(entry=label, outcome=TraceOutcome.NOT_RUN, message=f"{entry.target} does not exist")
        config: dict[str, object] = {"kind": "script", "target": str(script), "path0": str(script.parent)}
        source = script.read_bytes()
        if not has_main_guard(source):
            # Importing it would start the job (nanoGPT's train.py): import what its module
            # body imports, one by one, instead.
            modules = [[i.line, i.module, list(i.names)] for i in module_level_imports(source)]
            config = {**config, "kind": "imports", "modules": modules}
            unguarded.append(entry.target)
    else:
        config = {"kind": "module", "target": entry.target, "path0": str(box.copy)}
    out = box.private / f"trace-{index}.jsonl"
    config["out"] = str(out)
    config_file = box.private / f"trace-{index}.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    env = child_env(box, python, _entry_pythonpath(entry, box.copy), {})
    argv = [*prefix, python, "-B", str(box.private / "_envcapture_tracer.py"), str(config_file)]
    before = file_states(box.copy)
    try:
        run = run_contained(argv, box=box, env=env, timeout=timeout, log=box.private / f"trace-{index}.stderr")
    except OSError as exc:
        return RuntimeTrace(entry=label, outcome=TraceOutcome.NOT_RUN, message=f"cannot run {python}: {exc.strerror or exc}")
    written = written_since(before, file_states(box.copy))
    return _trace_of(label, run, _parse(_read_events(out), places), places, timeout, written, command=False)


def _trace_command(
    command: str, *, box: Sandbox, places: _Places, python: str, prefix: Sequence[str], timeout: float
) -> RuntimeTrace:
    try:
        argv, assignments, pythonpath = _split_command(command, python, box.copy)
    except ValueError as exc:
        return RuntimeTrace(entry=command, outcome=TraceOutcome.NOT_RUN, message=f"cannot parse the command: {exc}")
    if not argv:
        return RuntimeTrace(entry=command, outcome=TraceOutcome.NOT_RUN, message="the command is empty")
    hook = box.private / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_tracer_source(), encoding="utf-8")
    out = box.private / "trace-cmd.jsonl"
    env = child_env(box, python, [str(hook), *pythonpath], {**assignments, "ENVCAPTURE_TRACE_OUT": str(out)})
    before = file_states(box.copy)
    try:
        run = run_contained([*prefix, *argv], box=box, env=env, timeout=timeout, log=box.private / "trace-cmd.stderr")
    except OSError as exc:
        return RuntimeTrace(entry=command, outcome=TraceOutcome.NOT_RUN, message=f"cannot run {argv[0]}: {exc.strerror or exc}")
    written = written_since(before, file_states(box.copy))
    return _trace_of(command, run, _parse(_read_events(out), places), places, timeout, written, command=True)


# --- data files ---------------------------------------------------------------------------------


def _data_files(project: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(project):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not is_ignored_dir(here / d) and not (here / d).is_symlink())
        for name in sorted(filenames):
            if name.endswith(DATA_SUFFIXES):
                path = here / name
                try:
                    if path.is_file() and path.stat().st_size <= MAX_DATA_FILE_BYTES:
                        found.append(path)
                except OSError:
                    continue
    return found


def scan_data_refs(project: Path, snapshot: EnvSnapshot, *, target_python: str) -> tuple[DataRef, ...]:
    """Dotted names in the project's YAML/JSON/TOML files that name code (see `datarefs`).

    Every ``*.yaml``, ``*.yml``, ``*.json`` and ``*.toml`` under ``project`` is read, except
    files over `MAX_DATA_FILE_BYTES` and those under `IGNORED_DIRS`. A name is local when
    ``a/b.py`` or ``a/b/__init__.py`` exists under the project or its ``src/``.
    """
    project = Path(project).resolve()
    roots = [project] + ([project / "src"] if (project / "src").is_dir() else [])

    def is_local(module: str) -> bool:
        rel = Path(*module.split("."))
        return any((r / rel).with_suffix(".py").is_file() or (r / rel / "__init__.py").is_file() for r in roots)

    refs: list[DataRef] = []
    for path in _data_files(project):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        refs.extend(find_data_refs(text, path=path.relative_to(project).as_posix()))
    return resolve_data_refs(
        refs,
        is_local=is_local,
        owners=lambda module: owners_of(snapshot, module),
        is_stdlib=lambda module: is_stdlib(module, target_python),
    )


def __dir__() -> list[str]:
    return list(__all__)
