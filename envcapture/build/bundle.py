"""A job -> its bundle directory: analysis -> resolution -> lock -> wheelhouse -> local code -> manifest. EDGE.

The bundle (see ``docs/build.md``)::

    BUNDLE/
      manifest.json          schema envcapture/manifest: target, cmd, entry points, every
                             artifact's path + sha256 + size, the modules to verify
      requirements.lock.txt  pip lock with --hash lines (one per pin: the wheel shipped)
      pylock.toml            PEP 751
      environment.json       schema envcapture/environment, with the hashes
      wheelhouse/*.whl       one wheel per pin the target installs from here
      local-code.tar.gz      the job's own files, deterministic
      inputs.tar.gz          the config's inputs (only when it lists some), deterministic

A plain job (no ``env.python``) gets only ``manifest.json`` and ``inputs.tar.gz``: no
lock, no wheelhouse, no local code (``job.plain`` is true; see `envcapture.build.job`).

It is built in ``BUNDLE.tmp-<random>`` next to ``BUNDLE`` and renamed into place only
when complete; an existing bundle is replaced (atomically where the kernel can swap two
directories), anything else at that path is refused. Two builds of an unchanged job give
the same bytes; a warm build downloads and builds nothing (the `Store`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import posixpath
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envcapture._fs import atomic_write_text, document_header, pid_alive, replace_directory, sha256_file
from envcapture.analysis.api import ConfigLike, EntryPointsLike, job_config
from envcapture.analysis.datapaths import JOB_INPUT
from envcapture.analysis.guard import has_main_guard, module_level_imports
from envcapture.analysis.model import DataFile, DynamicKind, EntryKind, EntryPoint
from envcapture.analysis.walk import Edge, ModuleKind
from envcapture.build.job import collect_inputs, job_json, write_inputs
from envcapture.build.localcode import LocalBundle, Selection, package_dir, select_local_files, write_local_bundle
from envcapture.build.lock import (
    ENVIRONMENT_JSON,
    PYLOCK,
    LocalFileHash,
    RenderOptions,
    target_json,
    write_lock,
)
from envcapture.build.manifest import (
    INPUTS,
    LOCAL_CODE,
    MANIFEST,
    MANIFEST_SCHEMA,
    MANIFEST_SCHEMA_VERSION,
    REQUIREMENTS_LOCK,
    WHEELHOUSE,
    dump_manifest,
)
from envcapture.build.store import Store, StoreKind, usable_store
from envcapture.build.wheelhouse import (
    SdistFile,
    WheelEvent,
    Wheelhouse,
    WheelhouseOptions,
    WheelhouseStats,
    build_wheelhouse,
    write_wheelhouse,
)
from envcapture.config.secret_env import check_env_names
from envcapture.errors import BuildError, InputError, ResolutionError
from envcapture.resolution.capture import Additions, Capture, capture
from envcapture.resolution.model import Closure, ResolveOptions
from envcapture.resolution.refusals import local_paths_refusal

__all__ = [
    "LOCAL_CODE",
    "MANIFEST",
    "MANIFEST_SCHEMA",
    "MANIFEST_SCHEMA_VERSION",
    "BuildResult",
    "assemble_bundle",
    "build_bundle",
    "check_local_paths",
    "render_manifest",
    "verify_plan",
]


def __dir__() -> list[str]:
    return __all__


_PID_FILE = ".envcapture-build.pid"


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    """The bundle written at ``path``; ``stats`` counts what this run downloaded and built."""

    path: Path
    manifest: dict[str, Any]
    capture: Capture
    wheelhouse: Wheelhouse
    local_code: LocalBundle
    skipped: tuple[tuple[str, str], ...] = ()  # (file, why) lock files not written
    notes: tuple[str, ...] = ()  # warnings: the store could not be written and a temporary one was used

    @property
    def stats(self) -> WheelhouseStats:
        return self.wheelhouse.stats


# --- the manifest (pure) ------------------------------------------------------------------------


def verify_modules(cap: Capture, closure: Closure) -> list[str]:
    """Top-level modules of the distributions the job imports and the target installs."""
    pinned = {p.name for p in closure.pins}
    modules: set[str] = set()
    for use in cap.analysis.distributions:
        if use.name in pinned and use.status.value in ("required", "conditional", "optional"):
            modules.update(name.split(".")[0] for name in use.import_names)
    return sorted(modules)


def _sdist_json(sdist: SdistFile | None) -> dict[str, str] | None:
    return {"filename": sdist.filename, "sha256": sdist.sha256} if sdist is not None else None


def render_manifest(
    cap: Capture,
    wheelhouse: Wheelhouse,
    local_code: LocalBundle,
    artifacts: Sequence[tuple[str, str, str, int]],
    *,
    job: Mapping[str, Any] | None = None,
    packages: Sequence[tuple[str, str]] = (),
    verify: Mapping[str, Any] | None = None,
) -> str:
    """``manifest.json`` text: ``artifacts`` are (relative path, kind, sha256, size).
    Deterministic: no timestamps, no absolute paths; lists sorted as documented."""
    closure = wheelhouse.closure
    wheels = {w.name: w for w in wheelhouse.wheels}
    hashable = all(p.hashes for p in closure.pins) and not wheelhouse.direct
    doc: dict[str, Any] = {
        **document_header(MANIFEST_SCHEMA, MANIFEST_SCHEMA_VERSION),
        "target": target_json(cap.target),
        "cmd": cap.config.cmd if cap.config is not None else None,
        "entry_points": [
            {
                "kind": e.kind.value,
                "target": e.target,
                "launcher": e.launcher,
                "interpreter": e.interpreter,
                "pythonpath": list(e.pythonpath),
            }
            for e in cap.analysis.entry_points
        ],
        "install": {
            "requirements": REQUIREMENTS_LOCK,
            "find_links": WHEELHOUSE,
            "no_deps": closure.options.no_deps,
            "require_hashes": hashable,
            "direct": list(wheelhouse.direct),
        },
        "distributions": [
            {
                "name": p.name,
                "version": p.version,
                "delivery": p.delivery.value,
                "origin": p.origin.kind.value,
                "wheel": f"{WHEELHOUSE}/{wheels[p.name].filename}" if p.name in wheels else None,
                "source": wheels[p.name].source.value if p.name in wheels else None,
                "sdist": _sdist_json(wheels[p.name].sdist) if p.name in wheels else None,
            }
            for p in closure.pins
        ],
        "local_code": {
            "path": LOCAL_CODE,
            "mode": "local-paths" if cap.local_paths is not None else "analysis",
            "files": [{"path": f.path, "size": f.size, "mode": f"{f.mode:04o}", "sha256": f.sha256} for f in local_code.files],
            "excluded": [{"path": e.path, "rule": e.rule} for e in local_code.excluded],
            "packages": [{"name": name, "path": path} for path, name in sorted(packages)],
            "read_files": _read_files_json(cap, local_code),
        },
        "verify_modules": verify_modules(cap, closure),
        "verify": dict(verify) if verify is not None else None,
        "job": dict(job) if job is not None else None,
        "artifacts": [{"path": path, "kind": kind, "sha256": sha, "size": size} for path, kind, sha, size in sorted(artifacts)],
    }
    return dump_manifest(doc)


def _read_files_json(cap: Capture, local: LocalBundle) -> list[dict[str, Any]]:
    """The manifest's ``local_code.read_files``: every file the code reads or runs by path
    (or ``cmd`` names), why, and whether it ships (else the rule or ``job-input``)."""
    shipped = {f.path for f in local.files}
    excluded = {e.path: e.rule for e in local.excluded}
    return [
        {
            "path": data.path,
            "kind": "directory" if data.is_dir else "file",
            "reasons": [str(reason) for reason in data.reasons],
            "shipped": _shipped_data(data, shipped),
            "left_out": data.left_out or excluded.get(data.path),
        }
        for data in cap.analysis.data_files
    ]


# --- EDGE: directories ------------------------------------------------------------------------


def _clean_stale(output: Path) -> None:
    """Remove ``BUNDLE.tmp-*`` / ``BUNDLE.old-*`` directories left by killed builds."""
    parent = output.parent
    if not parent.is_dir():
        return
    for sibling in parent.iterdir():
        name = sibling.name
        if not name.startswith((f"{output.name}.tmp-", f"{output.name}.old-")) or not sibling.is_dir():
            continue
        try:
            pid = int((sibling / _PID_FILE).read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and pid_alive(pid):
            continue
        shutil.rmtree(sibling, ignore_errors=True)


def _is_bundle(path: Path) -> bool:
    try:
        doc = json.loads((path / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("schema") == MANIFEST_SCHEMA


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)


def _publish(tmp: Path, output: Path) -> None:
    """Move the finished ``tmp`` to ``output``, replacing an older bundle there."""
    if not output.exists():
        os.rename(tmp, output)
        return
    if not output.is_dir() or not (_is_bundle(output) or not any(output.iterdir())):
        raise InputError(f"{output}: exists and is not an envcapture bundle; refusing to replace it")
    if _exchange(tmp, output):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old bundle
        return
    replace_directory(tmp, output)


# --- the build ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Local:
    """What goes into ``local-code.tar.gz``, and the local packages shipped whole."""

    files: tuple[str, ...]
    paths: tuple[str, ...]
    packages: tuple[tuple[str, str], ...]  # (directory, dotted name)
    keep_out: Mapping[str, str]
    directories: tuple[str, ...] = ()  # read by path from __file__: shipped whole


def _live(edge: Edge) -> bool:
    return edge.active is not False and not edge.site.type_only


def _required(edge: Edge) -> bool:
    return _live(edge) and not edge.site.optional and edge.site.dynamic is not DynamicKind.FIND_SPEC


def _local_selection(cap: Capture) -> _Local:
    """The analysis' local files plus entry scripts and, whole, the local packages they
    belong to; or the manual ``local-paths``."""
    scripts = [e.target for e in cap.analysis.entry_points if e.kind is EntryKind.SCRIPT]
    if cap.local_paths is not None:
        return _Local(files=tuple(scripts), paths=tuple(cap.local_paths), packages=(), keep_out={})
    # Files the code reads by path go to the walker too: one that the rules never ship is
    # left out there, with its rule in the manifest. A job input stays an input.
    data = [f for f in cap.analysis.data_files if f.left_out != JOB_INPUT]
    inputs = {f.path for f in cap.analysis.data_files if f.left_out == JOB_INPUT}
    code = (f.path for f in cap.analysis.local_files if f.path not in inputs)
    files = sorted({*code, *scripts, *(f.path for f in data if not f.is_dir)})
    packages = {found for f in cap.analysis.local_files if (found := package_dir(cap.project, f.path, f.module))}
    # A package loaded by a computed name (``import_module("plugins." + name)``) ships whole
    # even as a bare directory (no __init__.py), unless a package around it already does.
    for loaded in cap.analysis.prefix_imports:
        for directory in loaded.directories:
            if not any(directory == d or directory.startswith(d + "/") for d, _ in packages):
                packages.add((directory, loaded.package))
    keep_out: dict[str, str] = {}
    if cap.config is not None:
        for spec in cap.config.inputs:
            if spec.var is None and not os.path.isabs(os.path.expanduser(spec.path)):
                keep_out[os.path.normpath(spec.path).replace(os.sep, "/")] = "job-input"
    directories = tuple(sorted(f.path for f in data if f.is_dir))
    return _Local(files=tuple(files), paths=(), packages=tuple(sorted(packages)), keep_out=keep_out, directories=directories)


def check_local_paths(cap: Capture, shipped: Sequence[str]) -> None:
    """Refuse ``local-paths`` whose selected files (test directories and secrets left out)
    leave out a local module the job imports; `capture` refused what the listed paths
    leave out before, this sees what the selection excluded. ``--allow-unresolved`` goes on.

    :raises ResolutionError: one line naming the module, the importing file:line and the fix.
    """
    if cap.local_paths is None or cap.allow_unresolved:
        return
    refusal = local_paths_refusal(cap.analysis, cap.config, cap.local_paths, shipped=frozenset(shipped))
    if refusal is not None:
        raise refusal.error()


def _entry_file(cap: Capture, entry: EntryPoint) -> str | None:
    """The project-relative file an entry point runs first."""
    if entry.kind is EntryKind.SCRIPT:
        return os.path.normpath(entry.target).replace(os.sep, "/")
    by_module = {f.module: f.path for f in cap.analysis.local_files}
    return by_module.get(f"{entry.target}.__main__") or by_module.get(entry.target)


def _reached(cap: Capture, start: str) -> set[str]:
    """The local files the job imports (or runs: ``exec(open(...).read())``) from ``start`` on
    (live imports only)."""
    out: dict[str, list[str]] = {}
    for edge in cap.analysis.graph.edges:
        res = edge.resolution
        if res.kind is ModuleKind.LOCAL and res.file is not None and res.missing_part is None and _live(edge):
            out.setdefault(edge.importer, []).append(res.file)
    for data in cap.analysis.data_files:
        for reason in data.reasons if data.analysed else ():
            if reason.file is not None:
                out.setdefault(reason.file, []).append(data.path)
    seen = {start}
    todo = [start]
    while todo:
        for nxt in out.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def verify_plan(cap: Capture, local: LocalBundle, packages: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The manifest's ``verify`` section: per entry point, how to load it without running
    the job (``guarded``: imported as a module; else its module-level ``imports`` one by
    one), the local modules it reaches (``required``: an unguarded import, so a failure
    fails the check), the data files of their packages, relative to the package, and the
    files the code reads by path (`_read_checks`)."""
    shipped = {f.path for f in local.files}
    required_files = {
        e.resolution.file for e in cap.analysis.graph.edges if e.resolution.kind is ModuleKind.LOCAL and _required(e)
    }
    by_file = {f.path: f.module for f in cap.analysis.local_files}
    entries: list[dict[str, Any]] = []
    firsts = [_entry_file(cap, entry) for entry in cap.analysis.entry_points]
    walks = [(first, _reached(cap, first) if first is not None else set()) for first in firsts]
    reads = _read_checks(cap, shipped, walks)
    for entry, (first, reached), read_files in zip(cap.analysis.entry_points, walks, reads, strict=True):
        source = b""
        if first is not None and first in shipped:
            try:
                source = (cap.project / first).read_bytes()
            except OSError:
                source = b""
        main = entry.kind is EntryKind.MODULE and first is not None and first.endswith("/__main__.py")
        guarded = bool(source) and not main and has_main_guard(source)
        modules = sorted(
            ({"name": by_file[path], "file": path, "required": path in required_files}
             for path in reached if path in by_file and path != first and by_file[path] != "__main__"),
            key=lambda m: (str(m["name"]), str(m["file"])),
        )  # fmt: skip
        reached_packages = {
            found for path in reached if path in by_file and (found := package_dir(cap.project, path, by_file[path]))
        }
        data = [
            {"package": name, "path": f.path[len(directory) + 1 :]}
            for directory, name in sorted(reached_packages)
            for f in local.files
            if f.path.startswith(directory + "/") and not f.path.endswith((".py", ".pyi"))
        ]
        path0 = posixpath.dirname(first) if entry.kind is EntryKind.SCRIPT and first else ""
        entries.append(
            {
                "kind": entry.kind.value,
                "target": entry.target,
                "file": first if first in shipped else None,
                "path0": path0 or ".",
                "pythonpath": [p for p in entry.pythonpath if p and "${" not in p],
                "guarded": guarded,
                "imports": []
                if guarded or not source
                else [
                    {"line": i.line, "module": i.module, "names": list(i.names), "optional": i.optional}
                    for i in module_level_imports(source)
                ],
                "modules": modules,
                "data_files": data,
                "read_files": read_files,
            }
        )
    return {"entries": entries}


def _shipped_data(data: DataFile, shipped: set[str]) -> bool:
    return data.path in shipped or (data.is_dir and any(p.startswith(data.path + "/") for p in shipped))


def _read_checks(cap: Capture, shipped: set[str], walks: Sequence[tuple[str | None, set[str]]]) -> list[list[dict[str, Any]]]:
    """Per entry point, the files the code reads by path that its check looks for, where the
    code expects them: in the working directory, or next to the reading module as imported
    (``module``, ``relative``) when the path is built from that module's ``__file__``. Each
    is checked once, by the first entry that reaches the file reading it (else the first)."""
    by_file = {f.path: f.module for f in cap.analysis.local_files}
    plans: list[list[dict[str, Any]]] = [[] for _ in walks]
    done: set[tuple[str, str | None]] = set()
    for data in cap.analysis.data_files:
        if not _shipped_data(data, shipped):
            continue
        for reason in data.reasons:
            reader = reason.file
            owner = next((i for i, (_, reached) in enumerate(walks) if reader in reached), 0)
            first = walks[owner][0] if walks else None
            module = by_file.get(reader) if reader is not None and reason.from_file_dir and reader != first else None
            module = None if module == "__main__" else module
            if (data.path, module) in done or not plans:
                continue
            done.add((data.path, module))
            plans[owner].append(
                {
                    "path": data.path,
                    "kind": "directory" if data.is_dir else "file",
                    "module": module,
                    "relative": posixpath.relpath(data.path, posixpath.dirname(str(reader))) if module else None,
                    "by": str(reason),
                }
            )
    return plans


def assemble_bundle(
    cap: Capture,
    output: Path,
    *,
    store: Store | None = None,
    wheelhouse_options: WheelhouseOptions | None = None,
    progress: Callable[[WheelEvent], None] | None = None,
    command: str = "envcapture build",
    environ: Mapping[str, str] | None = None,
    allow_secret_env: Sequence[str] = (),
) -> BuildResult:
    """Build the bundle of an analysed and resolved job into ``output``.

    An ``env.vars`` name that looks like a secret (`envcapture.config.secret_env.looks_secret`)
    is refused unless ``allow_secret_env`` lists it.

    ``environ`` (default ``os.environ``) gives the values of ``env.vars`` listed without
    one; a plain job (no ``env.python``) gets no lock, wheelhouse or local code. A ``store``
    (default: the user's) that cannot be written is replaced by a temporary one for this
    build, and ``notes`` of the result say so (`envcapture.build.store.usable_store`).

    :raises ResolutionError: the target needs distributions the environment lacks.
    :raises BuildError: a wheel cannot be fetched or built (package, target, step named).
    :raises InputError: a local file or symlink leads outside the project; ``output``
        exists and is not a bundle.
    """

    def assemble(into: Store) -> BuildResult:
        return _assemble(cap, output, store=into, wheelhouse_options=wheelhouse_options, progress=progress,
                         command=command, environ=environ, allow_secret_env=allow_secret_env)  # fmt: skip

    if cap.config is not None and cap.config.env.python is None:  # plain: nothing goes through the store
        return assemble(store or Store())
    with usable_store(store or Store()) as (usable, note):
        result = assemble(usable)
    return replace(result, notes=(note,)) if note else result


def _assemble(
    cap: Capture,
    output: Path,
    *,
    store: Store,
    wheelhouse_options: WheelhouseOptions | None,
    progress: Callable[[WheelEvent], None] | None,
    command: str,
    environ: Mapping[str, str] | None,
    allow_secret_env: Sequence[str],
) -> BuildResult:
    closure = cap.closure
    plain = cap.config is not None and cap.config.env.python is None
    if closure.unresolved_for_target and not plain:
        names = ", ".join(u.requirement() for u in closure.unresolved_for_target)
        raise ResolutionError(
            f"{names}: step resolve for CPython {cap.target.python_version} on linux x86_64: needed on the "
            "target but not installed in the analysed environment and not resolved here",
            hint="install them into the job's environment, or install uv so envcapture can resolve them",
        )
    output = Path(os.path.abspath(output))  # normalised: messages never show a/../b
    if output.exists() and not (output.is_dir() and (_is_bundle(output) or not any(output.iterdir()))):
        raise InputError(f"{output}: exists and is not an envcapture bundle; refusing to replace it")
    options = wheelhouse_options or WheelhouseOptions(analysed_python=cap.snapshot.executable)
    if cap.config is not None:
        check_env_names(cap.config, allow_secret_env)
    inputs = collect_inputs(cap.config) if cap.config is not None else None
    selected = _local_selection(cap)
    selection = Selection(files=(), excluded=())
    if not plain:
        selection = select_local_files(
            cap.project, files=selected.files, paths=selected.paths,
            packages=[d for d, _ in selected.packages], keep_out=selected.keep_out, directories=selected.directories,
        )  # fmt: skip
        check_local_paths(cap, [rel for rel, _ in selection.files])
    if plain:
        wheelhouse = Wheelhouse(closure=Closure(options=closure.options), wheels=(), stats=WheelhouseStats())
    else:
        wheelhouse = build_wheelhouse(closure, cap.target, store=store, options=options, progress=progress)

    tmp = output.with_name(f"{output.name}.tmp-{secrets.token_hex(6)}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(output)
        tmp.mkdir()
    except OSError as exc:
        raise BuildError(f"{exc.filename or tmp}: cannot create the bundle directory: {exc.strerror or exc}") from exc
    try:
        (tmp / _PID_FILE).write_text(str(os.getpid()))
        locked = wheelhouse.closure
        if cap.decisions:
            locked = replace(locked, decisions=tuple(sorted({*locked.decisions, *cap.decisions})))
        local = LocalBundle(sha256="", size=0, files=(), excluded=())
        packages: tuple[tuple[str, str], ...] = ()
        skipped: tuple[tuple[str, str], ...] = ()  # a plain job writes no lock
        if not plain:
            local = write_local_bundle(cap.project, tmp / LOCAL_CODE, selection=selection)
            packages = selected.packages
            shipped = [LocalFileHash(path=f.path, sha256=f.sha256, size=f.size) for f in local.files]
            written = write_lock(
                tmp,
                locked,
                cap.target,
                options=RenderOptions(command=command, target=cap.target),
                snapshot=cap.snapshot,
                local_files=shipped,
            )
            skipped = written.skipped
            write_wheelhouse(wheelhouse, tmp / WHEELHOUSE, store=store)
            try:
                entry = store.put_file(tmp / LOCAL_CODE, kind=StoreKind.BUNDLE, filename=LOCAL_CODE)
                store.record({"op": "bundle", "sha256": entry.sha256}, entry)
            except OSError:
                pass  # the store only speeds up uploads; the bundle is complete without it
        artifacts: list[tuple[str, str, str, int]] = []
        for name, kind in ((REQUIREMENTS_LOCK, "lock"), (PYLOCK, "lock"), (ENVIRONMENT_JSON, "environment")):
            path = tmp / name
            if path.exists():
                artifacts.append((name, kind, sha256_file(path), path.stat().st_size))
        for wheel in wheelhouse.wheels:
            artifacts.append((f"{WHEELHOUSE}/{wheel.filename}", "wheel", wheel.sha256, wheel.size))
        if not plain:
            artifacts.append((LOCAL_CODE, "local-code", local.sha256, local.size))
        archive = write_inputs(inputs, tmp / INPUTS) if inputs is not None else None
        if archive is not None:
            artifacts.append((INPUTS, "inputs", archive.sha256, archive.size))
        job = job_json(cap.config, inputs, archive, environ=environ) if cap.config is not None and inputs is not None else None
        plan = None if plain else verify_plan(cap, local, packages)
        text = render_manifest(cap, wheelhouse, local, artifacts, job=job, packages=packages, verify=plan)
        atomic_write_text(tmp / MANIFEST, text)
        (tmp / _PID_FILE).unlink()
        for path in tmp.rglob("*"):
            if path.is_file():
                _fsync(path)
        _publish(tmp, output)
    except OSError as exc:  # a full or read-only disk under -o: one line naming the file
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildError(f"{exc.filename or tmp}: cannot write the bundle {output}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(
        path=output,
        manifest=json.loads(text),
        capture=cap,
        wheelhouse=wheelhouse,
        local_code=local,
        skipped=skipped,
    )


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:  # pragma: no cover - a file we just wrote
        if exc.errno != errno.ENOENT:
            raise
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_bundle(
    entry_points: EntryPointsLike = (),
    *,
    output: str | os.PathLike[str],
    config: ConfigLike | None = None,
    project: str | os.PathLike[str] | None = None,
    python: str | None = None,
    target_python: str | None = None,
    accelerator: str | None = None,
    options: ResolveOptions | None = None,
    store: Store | None = None,
    wheelhouse_options: WheelhouseOptions | None = None,
    progress: Callable[[WheelEvent], None] | None = None,
    command: str = "envcapture build",
    environ: Mapping[str, str] | None = None,
    allow_secret_env: Sequence[str] = (),
    allow_unresolved: bool = False,
    additions: Additions | None = None,
) -> BuildResult:
    """Analyse, resolve, lock and build the job into the bundle directory ``output``.

    Arguments as for `envcapture.resolution.capture.capture` (``config``: a path, a
    `JobConfig` or a parsed mapping, ``additions``: ``--with`` and the installed-extras
    switch); ``options`` replaces ``env.python.pip``; ``store`` defaults to the user's cache.

    :raises InputError: bad config, entry points, local files; ``output`` is not a bundle.
    :raises ResolutionError: the environment cannot be resolved for the target.
    :raises BuildError: a wheel cannot be fetched or built.
    """
    job = job_config(config, project=project)
    plain = job is not None and job.env.python is None  # nothing to resolve: only the inputs travel
    cap = capture(
        entry_points,
        config=job,
        project=project,
        python=python,
        target_python=target_python,
        accelerator=accelerator,
        options=options,
        complete=not plain,
        allow_unresolved=allow_unresolved,
        additions=additions if additions is not None else Additions(),
    )
    wh_options = wheelhouse_options or WheelhouseOptions(analysed_python=cap.snapshot.executable, environ=environ)
    return assemble_bundle(
        cap,
        Path(os.fspath(output)),
        store=store,
        wheelhouse_options=wh_options,
        progress=progress,
        command=command,
        environ=environ,
        allow_secret_env=allow_secret_env,
    )
