"""Runtime import tracer: runs INSIDE the analysed interpreter and records every import.

This file is not imported by envcapture: `envcapture.analysis.runtime.trace` copies it into a
private directory and runs it with the analysed interpreter. It must run on Python 3.8+
with the standard library only, and never import envcapture.

Two ways in:

* entry mode, ``python -B _envcapture_tracer.py CONFIG.json``: install the hook, then
  import ONE entry point as a module (a script through ``spec_from_file_location`` under
  the name ``__envcapture_entry__``, so its ``if __name__ == "__main__":`` block does not
  run; ``-m pkg.mod`` by name), then exit with ``os._exit`` (no user ``atexit`` handler,
  no wait for the user's non-daemon threads).
* command mode, as ``sitecustomize`` on ``PYTHONPATH``: install the hook at start-up in
  every Python process of the command, then chain to the environment's own
  ``sitecustomize`` if there is one. Output path from ``ENVCAPTURE_TRACE_OUT``.

The hook wraps ``builtins.__import__`` (every ``import`` statement, ``__import__()`` and
C code's ``PyImport_Import`` go through it) and ``importlib.import_module``. A wrapper
sees every import *call* with the exact calling frame, including imports of modules
already in ``sys.modules``: that is what attributes a module to the user's code when a
distribution happened to import it first. A ``sys.meta_path`` finder or the ``import``
audit event would only see the first load, and would also fire for mere
``importlib.util.find_spec`` probes (meta_path). Loads that bypass both wrappers
(``spec.loader.exec_module``, ``importlib._bootstrap`` internals) are caught by a final
``sys.modules`` diff, without an importer.

Output: JSON lines appended to one file with ``os.write`` on an ``O_APPEND`` descriptor
(one event per line, written as it happens, so a trace killed by the timeout keeps what
it saw; several processes of one command may share the file). Never stdout: user code
prints there. Events (``e``): ``imp`` (an import call: module, importer file and line,
function name, via), ``mod`` (a module and the file it was loaded from), ``fail`` (the
innermost import that raised: exception type, message, missing module name), ``error``
(the entry point's import raised: type, message, traceback frames), ``done``.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import json
import os
import sys
import threading
from importlib.machinery import PathFinder
from types import FrameType, ModuleType
from typing import Any, Callable, Dict, Mapping, Sequence  # noqa: UP035 - Python 3.8

# Evaluated at run time, where Python 3.8 has no ``dict[...]``; annotations are strings.
Event = Dict[str, Any]  # noqa: UP006

__all__ = ["install", "main"]

_ORIG_IMPORT = builtins.__import__
_ORIG_IMPORT_MODULE = importlib.import_module
_MAX_MESSAGE = 300
_MAX_FRAMES = 30


class _Recorder:
    """The trace of one process: deduplicated events, written one line at a time."""

    def __init__(self, out_path: str) -> None:
        self.fd = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.local = threading.local()
        self.seen_imports: set[tuple[str, str | None, int | None]] = set()
        self.imported: set[str] = set()  # module names of seen_imports
        self.seen_modules: set[str] = set()
        # id(exc) -> (exc, module): the innermost import that raised it (exc kept alive so
        # that its id is not reused)
        self.failures: dict[int, tuple[BaseException, str]] = {}
        self.baseline = set(sys.modules)

    def write(self, event: Event) -> None:
        event["pid"] = self.pid
        line = json.dumps(event, ensure_ascii=True, separators=(",", ":")) + "\n"
        data = line.encode("ascii")
        with self.lock:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]

    # --- the hook --------------------------------------------------------------------------

    def busy(self) -> bool:
        return getattr(self.local, "busy", False)

    def on_import(self, module: str, frame: FrameType | None, via: str) -> None:
        code = getattr(frame, "f_code", None)
        filename = getattr(code, "co_filename", None) if code is not None else None
        line = getattr(frame, "f_lineno", None)
        func = getattr(code, "co_name", None) if code is not None else None
        key = (module, filename, line)
        with self.lock:
            if key in self.seen_imports:
                return
            self.seen_imports.add(key)
            self.imported.add(module)
        self.write({"e": "imp", "m": module, "f": filename, "l": line, "fn": func, "via": via})

    def on_loaded(self, names: list[str]) -> None:
        for name in names:
            with self.lock:
                if name in self.seen_modules:
                    continue
                module = sys.modules.get(name)
                if module is None:
                    continue
                self.seen_modules.add(name)
            self.write({"e": "mod", "m": name, "file": _module_file(module)})

    def on_failure(self, module: str, frame: FrameType | None, exc: BaseException) -> None:
        self.on_failed_load(module, exc)
        with self.lock:
            if id(exc) in self.failures:
                return  # an outer import re-raising what an inner one already reported
            self.failures[id(exc)] = (exc, module)
        code = getattr(frame, "f_code", None)
        event = {
            "e": "fail",
            "m": module,
            "f": getattr(code, "co_filename", None) if code is not None else None,
            "l": getattr(frame, "f_lineno", None),
            "x": type(exc).__name__,
            "msg": _one_line(exc),
        }
        if isinstance(exc, ImportError) and getattr(exc, "name", None):
            event["missing"] = exc.name
        self.write(event)

    def on_failed_load(self, module: str, exc: BaseException) -> None:
        """A module that was found, then raised: importlib dropped it from ``sys.modules``,
        but its own frame in the traceback still tells which file it was."""
        with self.lock:
            if module in self.seen_modules:
                return
        tb = exc.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_globals.get("__name__") == module and frame.f_code.co_name == "<module>":
                with self.lock:
                    self.seen_modules.add(module)
                self.write({"e": "mod", "m": module, "file": frame.f_code.co_filename, "failed": True})
                return
            tb = tb.tb_next

    def failed_module(self, exc: BaseException) -> str | None:
        with self.lock:
            found = self.failures.get(id(exc))
        return found[1] if found is not None else None

    def final(self) -> None:
        """Modules loaded in ways the wrappers did not see, then their files."""
        self.local.busy = True
        try:
            names = sorted(set(sys.modules) - self.baseline)
            with self.lock:
                unseen = [n for n in names if n not in self.seen_modules]
            for name in unseen:
                if name not in self.imported:
                    self.write({"e": "imp", "m": name, "f": None, "l": None, "fn": None, "via": "loaded"})
            self.on_loaded(unseen)
        finally:
            self.local.busy = False


_recorder: _Recorder | None = None


def _module_file(module: ModuleType) -> str | None:
    filename = getattr(module, "__file__", None)
    if isinstance(filename, str):
        return filename
    path = getattr(module, "__path__", None)
    try:
        entries = list(path) if path is not None else []
    except Exception:  # noqa: BLE001 - a broken __path__ is not our problem
        entries = []
    return entries[0] if entries and isinstance(entries[0], str) else None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return first[:_MAX_MESSAGE]


def _package_of(globals_: object) -> str | None:
    """``__package__`` of the importing module, as importlib computes it for relative imports."""
    if not isinstance(globals_, dict):
        return None
    package = globals_.get("__package__")
    if isinstance(package, str) and package:
        return package
    spec = globals_.get("__spec__")
    parent = getattr(spec, "parent", None)
    if isinstance(parent, str):
        return parent
    name = globals_.get("__name__")
    if not isinstance(name, str):
        return None
    return name if "__path__" in globals_ else name.rpartition(".")[0]


def _absolute(name: str, globals_: object, level: int) -> str | None:
    if level == 0:
        return name
    package = _package_of(globals_)
    if not isinstance(package, str) or not package:
        return None
    bits = package.rsplit(".", level - 1)
    if len(bits) < level:
        return None
    base = bits[0]
    return f"{base}.{name}" if name else base


def _prefixes(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _traced_import(
    name: str,
    globals: Mapping[str, object] | None = None,
    locals: Mapping[str, object] | None = None,
    fromlist: Sequence[str] | None = (),
    level: int = 0,
) -> ModuleType:
    rec = _recorder
    if rec is None or rec.busy():
        return _ORIG_IMPORT(name, globals, locals, fromlist, level)
    frame = sys._getframe(1)
    module = _guarded(rec, _before_import, rec, name, globals, level, frame)
    try:
        result = _ORIG_IMPORT(name, globals, locals, fromlist, level)
    except BaseException as exc:
        _guarded(rec, rec.on_failure, module or name, frame, exc)
        raise
    if module:
        _guarded(rec, _after_import, rec, module, fromlist, frame)
    return result


def _guarded(rec: _Recorder, func: Callable[..., Any], *args: Any) -> Any:
    """Run bookkeeping with the hook off; a failure in it must never break the user's import."""
    rec.local.busy = True
    try:
        return func(*args)
    except Exception:  # noqa: BLE001
        return None
    finally:
        rec.local.busy = False


def _before_import(rec: _Recorder, name: str, globals_: object, level: int, frame: FrameType) -> str | None:
    module = _absolute(name, globals_, level)
    if module:
        rec.on_import(module, frame, "import")
    return module


def _after_import(rec: _Recorder, module: str, fromlist: Any, frame: FrameType) -> None:
    loaded = _prefixes(module)
    for item in fromlist or ():
        if isinstance(item, str) and item != "*":
            sub = f"{module}.{item}"
            if sub in sys.modules:
                # ``from pkg import sub``: sub is a module import of its own.
                rec.on_import(sub, frame, "import")
                loaded.append(sub)
    rec.on_loaded(loaded)


def _traced_import_module(name: str, package: str | None = None) -> ModuleType:
    rec = _recorder
    if rec is None or rec.busy():
        return _ORIG_IMPORT_MODULE(name, package)
    frame = sys._getframe(1)
    module = _guarded(rec, _before_import_module, rec, name, package, frame) or name
    try:
        result = _ORIG_IMPORT_MODULE(name, package)
    except BaseException as exc:
        _guarded(rec, rec.on_failure, module, frame, exc)
        raise
    _guarded(rec, rec.on_loaded, _prefixes(module))
    return result


def _before_import_module(rec: _Recorder, name: object, package: str | None, frame: FrameType) -> str | None:
    if not isinstance(name, str):
        return None
    module = importlib.util.resolve_name(name, package) if name.startswith(".") else name
    rec.on_import(module, frame, "import_module")
    return module


def install(out_path: str) -> _Recorder:
    """Start recording imports of this process into ``out_path``."""
    global _recorder
    if _recorder is not None:
        return _recorder
    _recorder = _Recorder(out_path)
    builtins.__import__ = _traced_import
    importlib.import_module = _traced_import_module
    return _recorder


def _frames(tb: Any) -> list[list[Any]]:
    frames = []
    while tb is not None:
        frame = getattr(tb, "tb_frame", None)
        code = getattr(frame, "f_code", None)
        frames.append([getattr(code, "co_filename", None), getattr(tb, "tb_lineno", None)])
        tb = getattr(tb, "tb_next", None)
    return frames[-_MAX_FRAMES:]


def _imports_code(target: str, modules: list[Any]) -> Any:
    """The import statements of an unguarded script, each in its own ``try``, compiled as
    the script at their own lines (so the hook sees the script import them), and nothing else."""
    import ast

    body: list[Any] = []
    for line, name, names in modules:
        if names:
            stmt: Any = ast.ImportFrom(module=name, names=[ast.alias(name=n, asname=None) for n in names], level=0)
        else:
            stmt = ast.Import(names=[ast.alias(name=name, asname=None)])
        handler = ast.ExceptHandler(type=ast.Name(id="BaseException", ctx=ast.Load()), name=None, body=[ast.Pass()])
        node = ast.Try(body=[stmt], handlers=[handler], orelse=[], finalbody=[])
        for part in ast.walk(node):
            part.lineno = part.end_lineno = int(line)  # type: ignore[attr-defined]
            part.col_offset = part.end_col_offset = 0  # type: ignore[attr-defined]
        body.append(node)
    return compile(ast.Module(body=body, type_ignores=[]), target, "exec")


def _run_entry(config: dict[str, Any]) -> int:
    kind = config["kind"]
    target = config["target"]
    path0 = config["path0"]
    # ``python script.py`` puts the script's directory first; ``python -m`` the cwd.
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        sys.path[0] = path0  # not the tracer's own directory
    else:
        sys.path.insert(0, path0)
    rec = install(config["out"])
    rec.write({"e": "entry", "kind": kind, "target": target})
    status = 0
    try:
        if kind == "script":
            sys.argv = [target]
            spec = importlib.util.spec_from_file_location("__envcapture_entry__", target)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {target}")
            module = importlib.util.module_from_spec(spec)
            sys.modules["__envcapture_entry__"] = module
            spec.loader.exec_module(module)
        elif kind == "imports":  # a script without a __main__ guard: only what its body imports
            sys.argv = [target]
            exec(_imports_code(target, config.get("modules", [])), {"__name__": "__envcapture_entry__", "__file__": target})  # noqa: S102 - only import statements
        else:
            sys.argv = [target]
            _traced_import_module(target)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        status = 1
        rec.local.busy = True
        rec.write(
            {
                "e": "error",
                "x": type(exc).__name__,
                "msg": _one_line(exc),
                "module": rec.failed_module(exc),
                "tb": _frames(exc.__traceback__),
            }
        )
        rec.local.busy = False
    rec.final()
    rec.write({"e": "done", "status": status})
    return status


def _chain_sitecustomize() -> None:
    """Run the environment's own ``sitecustomize``, which this module shadows."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    status = _run_entry(config)
    # No user atexit handler, no wait for the user's non-daemon threads: the import is done.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
    return status  # pragma: no cover


if __name__ == "__main__":
    main(sys.argv)
elif __name__ == "sitecustomize":
    _out = os.environ.get("ENVCAPTURE_TRACE_OUT")
    if _out:
        import atexit

        atexit.register(install(_out).final)
    try:
        _chain_sitecustomize()
    except Exception as _exc:  # noqa: BLE001 - as site.py does: report, go on
        sys.stderr.write(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(_exc).__name__}: {_exc}\n")
