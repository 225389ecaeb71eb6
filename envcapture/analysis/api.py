"""The analysis pipeline, glued: config -> entry points -> import graph -> classified modules.

``analyze()`` is the Python API the job CLI calls; each stage it calls is a plain function
over plain data. The side effects live here: reading the config, running the analysed
interpreter once, reading source files (through the cache, in parallel when many).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, Union

from envcapture._fs import read_user_file, sha256_bytes
from envcapture.analysis.cache import (
    AnalysisCache,
    AnalysisEntry,
    FactsCache,
    FileKey,
    FileRecord,
    dir_digest,
    facts_from_json,
    facts_to_json,
    listing_digest,
    racy_after,
    stat_of,
)
from envcapture.analysis.classify import Analysis, CacheStats
from envcapture.analysis.entries import cmd_named_files, entry_points_for
from envcapture.analysis.mapping import tables_digest
from envcapture.analysis.model import EntryKind, EntryPoint, SourceFacts
from envcapture.config.accelerator import choose_accelerator
from envcapture.environment.discover import snapshot_for_project
from envcapture.errors import InputError
from envcapture.model import Diagnostic, Severity, Target

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from envcapture.analysis.finder import ModuleFinder
    from envcapture.config.model import JobConfig
    from envcapture.environment.model import EnvSnapshot

# A warm analysis is a few stats and one small unpickle: what only a walk needs (the
# walk, the finder, libcst, the config loader and YAML, the process pool) is imported
# where it is used.

__all__ = ["AnalysisOptions", "ConfigLike", "EntryPointsLike", "analyze", "entry_point_args", "job_config", "project_directory"]

# What the Python API takes as a job's config: a loaded `JobConfig`, the path of a
# config.yaml (str or PathLike), or the config already parsed into a mapping (as a job CLI
# holds it).
ConfigLike: TypeAlias = Union["JobConfig", str, "os.PathLike[str]", Mapping[str, Any]]  # JobConfig: imported lazily
# Entry points: one script path, or a sequence of paths and "-m pkg.mod" strings.
EntryPointsLike = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def job_config(config: ConfigLike | None, *, project: str | os.PathLike[str] | None = None) -> JobConfig | None:
    """``config`` as a validated `JobConfig` (None stays None).

    A path is read with `load_config`; a mapping is validated with `parse_config`, its
    local paths checked against ``project`` (default: the current directory).

    :raises ConfigError: the config breaks a rule (every problem is listed).
    """
    if config is None:
        return None
    from envcapture.config.loader import JobConfig, load_config, parse_config

    if isinstance(config, JobConfig):
        return config
    if isinstance(config, Mapping):
        base = Path(os.fspath(project)) if project is not None else Path.cwd()
        return parse_config(config, project_dir=base.resolve())
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    raise TypeError(f"config: expected a path, a JobConfig or a mapping, got {type(config).__name__}")


def entry_point_args(entry_points: EntryPointsLike) -> tuple[str, ...]:
    """Entry points as strings: one path or many, each a str or PathLike."""
    if isinstance(entry_points, (str, os.PathLike)):
        return (os.fspath(entry_points),)
    return tuple(os.fspath(e) for e in entry_points)


# Below this many files waiting to be parsed, a process pool costs more (start-up; with the
# spawn start method, importing libcst in each worker: ~0.3 s) than it saves.
_PARALLEL_THRESHOLD = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisOptions:
    python: str | None = None  # the interpreter whose environment is analysed
    target_python: str | None = None  # default: the config's version, else the analysed one
    accelerator: str | None = None  # cpu, cuda, cuXYZ; default: cloud-instance-types, else as installed
    use_cache: bool = True
    cache_dir: Path | None = None
    jobs: int | None = None  # worker processes for parsing; None: every core
    extra_diagnostics: tuple[Diagnostic, ...] = field(default=())
    # Opt-in second pass (analyzers/trace.py): import the entry points in a sandboxed
    # subprocess of the analysed interpreter, or run ``runtime_cmd`` there; merged, never
    # replacing the static results.
    runtime: bool = False
    runtime_timeout: float = 30.0  # seconds per traced run
    runtime_cmd: str | None = None  # a full command to trace instead of importing the entry points
    # Called as files are read: (files read so far, of which parsed); for a progress display.
    progress: Callable[[int, int], None] | None = field(default=None, compare=False)


def _extract_job(args: tuple[bytes, str, bool, str]) -> dict[str, Any]:
    from envcapture.analysis.imports import extract_source_facts

    data, module, is_package, rel = args
    return facts_to_json(extract_source_facts(data, module=module, is_package=is_package, path=rel))


class _FactsReader:
    """Reads sources through the caches; parses the misses ahead of the walk, in parallel
    once enough are waiting (`_PARALLEL_THRESHOLD`).

    A file is reused from the previous analysis when its stat vouches for it, else read,
    looked up in the facts cache by content, else parsed. What was read is kept in
    ``records`` for the next analysis entry.
    """

    def __init__(
        self,
        project: Path,
        cache: FactsCache,
        jobs: int | None,
        progress: Callable[[int, int], None] | None = None,
        previous: AnalysisEntry | None = None,
    ) -> None:
        self.project = str(project)
        self.cache = cache
        self.jobs = jobs if jobs is not None else (os.cpu_count() or 1)
        self.parsed = 0
        self.read = 0
        self.records: dict[FileKey, FileRecord] = {}
        self._previous = previous
        self._progress = progress
        self._pool: ProcessPoolExecutor | None = None
        self._done: dict[FileKey, SourceFacts] = {}
        self._waiting: dict[FileKey, tuple[str, tuple[bytes, str, bool, str]]] = {}  # not yet sent to the pool
        self._running: dict[FileKey, tuple[str, Future[dict[str, Any]]]] = {}
        self._taken: set[FileKey] = set()

    def _tick(self, read: int = 0, parsed: int = 0) -> None:
        self.read += read
        self.parsed += parsed
        if self._progress is not None:
            self._progress(self.read, self.parsed)

    def close(self) -> None:
        """Stop the parser pool and write what was parsed to the facts cache (both start
        again if the reader is used after)."""
        try:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None
        finally:
            self.cache.close()

    def _rel(self, path: str) -> str:
        return path[len(self.project) + 1 :] if path.startswith(self.project + "/") else path

    def submit(self, path: Path, module: str, is_package: bool) -> None:
        key = (str(path), module, is_package)
        if key in self._done or key in self._waiting or key in self._running or key in self._taken:
            return
        name, rel = key[0], self._rel(key[0])
        stat = stat_of(name)
        reusable = self._previous.reusable(name, module, is_package, stat) if self._previous is not None else None
        if reusable is not None:
            self.records[key] = reusable
            self._done[key] = reusable.facts
            self.cache.hits += 1
            return
        try:
            data = read_user_file(name, limit=64 << 20)
        except OSError as exc:
            self.cache.misses += 1
            self._done[key] = SourceFacts(
                error=Diagnostic(
                    file=rel,
                    line=None,
                    code="read-error",
                    message=f"cannot read {rel}: {exc.strerror or exc}",
                    severity=Severity.ERROR,
                )
            )
            return
        facts_key = self.cache.key(data, module, is_package)
        cached = self.cache.get(facts_key)
        if stat is not None:  # the facts are filled in once known
            self.records[key] = FileRecord(stat, sha256_bytes(data), cached or SourceFacts())
        if cached is not None:
            self._done[key] = cached
            return
        self._waiting[key] = (facts_key, (data, module, is_package, rel))
        if self._pool is None and self.jobs > 1 and len(self._waiting) >= _PARALLEL_THRESHOLD:
            # One pool for the whole analysis, started once enough files wait.
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.jobs)
        if self._pool is not None:
            for waiting, (fkey, args) in self._waiting.items():
                self._running[waiting] = (fkey, self._pool.submit(_extract_job, args))
            self._waiting.clear()

    def _ready(self, key: FileKey) -> SourceFacts:
        """The facts of a submitted file, parsed here or by the pool if not yet done."""
        facts = self._done.get(key)
        if facts is not None:
            return facts
        if key in self._running:
            fkey, future = self._running.pop(key)
            facts = facts_from_json(future.result())
        else:
            # Imported here: libcst costs ~0.3 s to import, and a warm run parses nothing.
            from envcapture.analysis.imports import extract_source_facts

            fkey, (data, mod, is_pkg, rel) = self._waiting.pop(key)
            facts = extract_source_facts(data, module=mod, is_package=is_pkg, path=rel)
        self.cache.put(fkey, facts)
        self._done[key] = facts
        self._tick(parsed=1)
        record = self.records.get(key)
        if record is not None:
            self.records[key] = FileRecord(record.stat, record.digest, facts)
        return facts

    def still(self, path: Path, module: str, is_package: bool, recorded: SourceFacts) -> bool:
        """Whether the file, edited, still has the ``recorded`` facts by their digest (the
        statements they are read from did not change): then they are its facts, unparsed."""
        key, name = (str(path), module, is_package), str(path)
        if recorded.fact_digest is None:
            return False
        from envcapture.analysis._fragment import fact_digest  # no libcst: CPython's parser

        stat = stat_of(name)
        try:
            data = read_user_file(name, limit=64 << 20)
        except OSError:
            return False
        if stat is None or fact_digest(data) != recorded.fact_digest:
            return False
        self.records[key] = FileRecord(stat, sha256_bytes(data), recorded)
        self._done[key] = recorded
        self.cache.hits += 1
        return True

    def facts_of(self, path: Path, module: str, is_package: bool) -> SourceFacts:
        """The facts of a file, not counted as read by the walk (the edited files of a
        recorded analysis, compared before any walk)."""
        key = (str(path), module, is_package)
        self.submit(path, module, is_package)
        return self._ready(key)

    def take(self, path: Path, module: str, is_package: bool) -> SourceFacts:
        key = (str(path), module, is_package)
        self.submit(path, module, is_package)
        if key in self._taken:
            # A second entry point reaching the same file: counted as another cache read.
            if self.cache.enabled:
                self.cache.hits += 1
            else:
                self.cache.misses += 1
                self._tick(parsed=1)
            self._tick(read=1)
            return self._done[key]
        self._taken.add(key)
        facts = self._ready(key)
        self._tick(read=1)
        return facts


def _with_runtime(
    analysis: Analysis, entries: Sequence[EntryPoint], project: Path, snapshot: EnvSnapshot, options: AnalysisOptions
) -> Analysis:
    """The runtime pass: trace, scan data files for dotted names, merge (EDGE: subprocesses)."""
    from envcapture.analysis.runtime.merge import merge_runtime
    from envcapture.analysis.runtime.trace import scan_data_refs, trace_runtime

    report = trace_runtime(
        entries,
        project=project,
        snapshot=snapshot,
        timeout=options.runtime_timeout,
        command=options.runtime_cmd,
    )
    refs = scan_data_refs(project, snapshot, target_python=analysis.target.python_version)
    return merge_runtime(analysis, replace(report, data_refs=refs), snapshot)


def project_directory(job: JobConfig | None, project: str | os.PathLike[str] | None) -> Path:
    """The job's project directory, absolute: ``project`` when given, else the config's
    directory, else the current directory."""
    if project is not None:
        return Path(os.fspath(project)).resolve()
    if job is not None:
        return Path(job.project_dir).resolve()
    return Path.cwd().resolve()


def analyze(
    entry_points: EntryPointsLike = (),
    *,
    config: ConfigLike | None = None,
    project: str | os.PathLike[str] | None = None,
    options: AnalysisOptions = AnalysisOptions(),
    snapshot: EnvSnapshot | None = None,
) -> Analysis:
    """Analyse a job: what it imports, from where, and what must travel to the target.

    :param entry_points: script paths (str or PathLike) relative to the project (or
        absolute), or ``"-m pkg.mod"``; when empty, taken from the config's ``cmd`` and
        ``root-paths``.
    :param config: a loaded `JobConfig`, the path of a ``config.yaml`` (str or PathLike),
        or the config as a parsed mapping.
    :param project: the job's working directory; default the config's directory, else cwd.
    :raises InputError: bad config, missing entry point, unusable interpreter.
    """
    entry_points = entry_point_args(entry_points)
    job = job_config(config, project=project)
    project_dir = project_directory(job, project)
    if job is None and not entry_points:
        raise InputError("nothing to analyse: give entry points or --config config.yaml")
    entries, entry_diags = entry_points_for(job, entry_points, project_dir)
    named_files = cmd_named_files(job, project_dir) if not entry_points else ()
    inputs = _project_inputs(job)
    environment = ""
    if snapshot is None:
        snapshot, choice = snapshot_for_project(project_dir, options.python)
        environment = choice.describe()
    target_version = options.target_python
    if target_version is None and job is not None and job.env.python is not None:
        version = job.env.python.version.value
        target_version = str(version) if version else None
    if target_version is None:
        target_version = ".".join(snapshot.python_version.split(".")[:2])
    chosen = choose_accelerator(options.accelerator, job.cloud_instance_types if job is not None else ())
    target = Target(python_version=target_version, accelerator=chosen.accelerator, cuda=chosen.cuda)
    cache = FactsCache(options.cache_dir, enabled=options.use_cache)
    runtime = options.runtime or options.runtime_cmd is not None
    # The runtime pass runs the job's code: its result is never reused.
    analyses = AnalysisCache(options.cache_dir, enabled=options.use_cache and not runtime)
    key = analyses.key(
        str(project_dir), repr(entries), repr(target), repr(snapshot), tables_digest(), repr(named_files), repr(inputs)
    )
    previous = analyses.get(key)
    started = time.time_ns()
    current, edited = previous.revalidate(started) if previous is not None else (None, ())
    recorded = _recorded_analysis(current)
    reader: _FactsReader | None = None
    if current is not None and recorded is not None and edited:
        # Some files changed: read them again. When their facts are the recorded ones (an
        # edit that moves no import), the walk would find what it found: the analysis stands.
        reader = _FactsReader(project_dir, cache, options.jobs, options.progress, current)
        try:
            unchanged = _facts_unchanged(reader, current, edited)
        finally:
            reader.close()  # the walk below, if it runs, reopens what it needs
        if unchanged:
            current = current.with_files({k: reader.records[k] for k in edited}, started)
            previous = None  # written below
        else:
            recorded = None
    if current is not None and recorded is not None:
        # Warm: nothing the analysis depends on changed.
        if current is not previous:
            analyses.put(current)
        analysis = recorded
        reads = current.file_count
        if options.progress is not None:
            options.progress(reads, 0)
        if reader is None:
            stats = CacheStats(hits=reads, misses=0, parsed=0, write_error=analyses.write_error)
        else:
            stats = CacheStats(
                hits=reads - len(edited) + cache.hits,
                misses=cache.misses,
                parsed=reader.parsed,
                write_error=cache.write_error or analyses.write_error,
            )
    else:
        from envcapture.analysis.classify import classify
        from envcapture.analysis.conditions import import_is_active
        from envcapture.analysis.finder import ModuleFinder
        from envcapture.analysis.walk import build_import_graph

        if reader is None:
            reader = _FactsReader(project_dir, cache, options.jobs, options.progress, current or previous)
        finder = ModuleFinder()
        try:
            graph = build_import_graph(
                entries,
                project=project_dir,
                snapshot=snapshot,
                target=target,
                read_facts=reader,
                evaluate=import_is_active,
                finder=finder,
                named_files=named_files,
                inputs=inputs,
            )
        finally:
            reader.close()
        analysis = classify(graph, snapshot, target)
        analyses.put(
            AnalysisEntry.record(
                key=key,
                racy_after=racy_after(started),
                dirs=_looked_at(finder, project_dir, entries),
                files=reader.records,
                analysis=analysis,
            )
        )
        stats = CacheStats(
            hits=cache.hits, misses=cache.misses, parsed=reader.parsed, write_error=cache.write_error or analyses.write_error
        )
    if runtime:
        analysis = _with_runtime(analysis, entries, project_dir, snapshot, options)
    merged = tuple(
        sorted(
            set(analysis.diagnostics + entry_diags + options.extra_diagnostics),
            key=lambda d: (d.file or "", d.line or 0, d.code, d.message),
        )
    )
    return replace(analysis, diagnostics=merged, stats=stats, environment=environment)


def _project_inputs(job: JobConfig | None) -> tuple[str, ...]:
    """The config's inputs given by a relative path: a data file among them stays an input."""
    if job is None:
        return ()
    return tuple(spec.path for spec in job.inputs if not os.path.isabs(os.path.expanduser(spec.path)))


def _recorded_analysis(entry: AnalysisEntry | None) -> Analysis | None:
    """The analysis ``entry`` holds; None when it cannot be read (then it is walked again)."""
    if entry is None:
        return None
    try:
        analysis = entry.analysis()
    except Exception:  # noqa: BLE001 - a damaged or outdated pickle is a miss
        return None
    return analysis if isinstance(analysis, Analysis) else None


def _facts_unchanged(reader: _FactsReader, entry: AnalysisEntry, edited: Sequence[FileKey]) -> bool:
    """Whether every edited file still exists and says what the entry recorded."""
    for key in edited:
        recorded = entry.facts_of(key)
        if recorded is None:
            return False
        if reader.still(Path(key[0]), key[1], key[2], recorded):
            continue
        facts = reader.facts_of(Path(key[0]), key[1], key[2])
        if key not in reader.records or facts != recorded:
            return False
    return True


def _looked_at(
    finder: ModuleFinder, project: Path, entries: Sequence[EntryPoint]
) -> dict[str, tuple[tuple[int, int, int] | None, str | None]]:
    """Every directory the walk depended on: the finder's listings, the project (``src/``
    is probed there) and each script's directory (a missing script may appear)."""
    looked: dict[str, tuple[tuple[int, int, int] | None, str | None]] = {}
    for directory, (files, dirs) in finder.listed().items():
        stat = stat_of(directory)
        looked[directory] = (stat, listing_digest(files, dirs) if stat is not None else None)
    probed = {str(project)}
    probed.update(os.path.dirname(os.path.normpath(project / e.target)) for e in entries if e.kind is EntryKind.SCRIPT)
    for directory in probed - looked.keys():
        stat = stat_of(directory)
        looked[directory] = (stat, dir_digest(directory) if stat is not None else None)
    return looked
