"""The analysis pipeline, glued: config -> entry points -> import graph -> classified modules.

``analyze()`` is the Python API the job CLI calls; each stage it calls is a plain function
over plain data. The side effects live here: reading the config, running the analysed
interpreter once (libcst imported meanwhile when the analysis will parse), reading source
files (through the cache, in parallel when many).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, Union

from envcapture._fs import read_user_file, sha256_bytes
from envcapture.analysis.ahead import WalkAhead, claim_walk_ahead
from envcapture.analysis.cache import (
    SOURCE_LIMIT,
    AnalysisCache,
    AnalysisEntry,
    FactsCache,
    FileKey,
    FileRecord,
    dir_digest,
    listing_digest,
    racy_after,
    shown_path,
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
    from envcapture.analysis.finder import ModuleFinder
    from envcapture.analysis.parsepool import Parser
    from envcapture.config.model import JobConfig
    from envcapture.environment.discover import EnvironmentChoice
    from envcapture.environment.model import EnvSnapshot

# A warm analysis is a few stats and one small unpickle: what only a walk needs (the
# walk, the finder, libcst, the config loader and YAML, the process pool) is imported
# where it is used.

__all__ = [
    "AnalysisOptions",
    "ConfigLike",
    "EntryPointsLike",
    "analyze",
    "entry_point_args",
    "job_config",
    "project_directory",
    "snapshot_for_analysis",
]

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


class _FactsReader:
    """Reads sources through the caches; parses the misses ahead of the walk, in parallel
    once enough are waiting (`envcapture.analysis.parsepool`).

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
        ahead: WalkAhead | None = None,
    ) -> None:
        self.project = str(project)
        self.cache = cache
        self.jobs = jobs if jobs is not None else (os.cpu_count() or 1)
        self.parsed = 0
        self.read = 0
        self.records: dict[FileKey, FileRecord] = {}
        self._previous = previous
        self._progress = progress
        # made when a file is not in the caches, or the walk ahead's (its workers parse on)
        self._parser: Parser | None = ahead.parser if ahead is not None else None
        self._ahead = ahead
        self._parsed_ahead: dict[FileKey, tuple[SourceFacts, bytes | None]] = {}
        self._done: dict[FileKey, SourceFacts] = {}
        self._parsing: dict[FileKey, str] = {}  # given to the parser: its facts-cache key
        self._taken: set[FileKey] = set()

    def _tick(self, read: int = 0, parsed: int = 0) -> None:
        self.read += read
        self.parsed += parsed
        if self._progress is not None:
            self._progress(self.read, self.parsed)

    def close(self) -> None:
        """Stop the parser's workers and write what was parsed to the facts cache (both start
        again if the reader is used after)."""
        try:
            if self._parser is not None:
                self._parser.close()
        finally:
            self.cache.close()

    def submit(self, path: Path, module: str, is_package: bool) -> None:
        key = (str(path), module, is_package)
        if key in self._done or key in self._parsing or key in self._taken:
            return
        name, rel = key[0], shown_path(key[0], self.project)
        stat = stat_of(name)
        reusable = self._previous.reusable(name, module, is_package, stat) if self._previous is not None else None
        if reusable is not None:
            self.records[key] = reusable
            self._done[key] = reusable.facts
            self.cache.hits += 1
            return
        try:
            data = read_user_file(name, limit=SOURCE_LIMIT)
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
        if self._ahead is not None:
            # Parsed ahead, or being parsed, for this content: taken as this reader's parse.
            ahead = self._ahead.parsed(key, facts_key)
            if ahead is not None:
                self._parsed_ahead[key] = ahead
                self._parsing[key] = facts_key
                return
            if self._ahead.in_parser(key, facts_key):
                self._parsing[key] = facts_key
                return
        if self._parser is None:
            from envcapture.analysis.parsepool import Parser  # a warm analysis parses nothing

            self._parser = Parser(self.jobs)
        self._parsing[key] = facts_key
        self._parser.add(key, (data, module, is_package, rel))

    def _ready(self, key: FileKey) -> SourceFacts:
        """The facts of a submitted file, parsed here or by the pool if not yet done."""
        facts = self._done.get(key)
        if facts is not None:
            return facts
        ahead = self._parsed_ahead.pop(key, None)
        if ahead is not None:
            facts, stored = ahead
        else:
            assert self._parser is not None
            facts, stored = self._parser.take_stored(key)
        self.cache.put(self._parsing.pop(key), facts, stored)
        self._done[key] = facts
        self._tick(parsed=1)
        record = self.records.get(key)
        if record is not None:
            self.records[key] = FileRecord(record.stat, record.digest, facts, stored)
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
            data = read_user_file(name, limit=SOURCE_LIMIT)
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


def snapshot_for_analysis(
    entry_points: EntryPointsLike,
    job: JobConfig | None,
    project: Path,
    options: AnalysisOptions,
    *,
    then: Callable[[], object] | None = None,
) -> tuple[EnvSnapshot, EnvironmentChoice]:
    """`snapshot_for_project` for an analysis of ``entry_points`` (as `analyze` takes them):
    while the probe runs, the parser gets ready when the analysis will likely parse, and
    ``then`` runs (the caller imports what it needs after the analysis).

    :raises InterpreterError: the chosen interpreter is missing or unusable.
    """
    try:
        entries, _ = entry_points_for(job, entry_point_args(entry_points), project)
    except InputError:
        entries = ()  # `analyze` reports it, after the snapshot as before
    return _snapshot_while_warming(entries, project, options, then)


def _snapshot_while_warming(
    entries: Sequence[EntryPoint], project: Path, options: AnalysisOptions, then: Callable[[], object] | None = None
) -> tuple[EnvSnapshot, EnvironmentChoice]:
    """The environment's snapshot; while its probe runs (a new or changed environment: the
    snapshot cache missed), libcst is imported if an entry script is not in the facts
    cache, and what reading the snapshot and parsing in parallel import, then ``then``
    runs, then the local code is walked and parsed until the probe is done (`ahead`). The
    probe is ~0.2 s of waiting: a cold analysis imports and parses meanwhile what it would
    after, a warm one (no probe) none of it."""

    def warm_up(finished: Callable[[], bool]) -> None:
        import packaging.utils  # noqa: F401 - the snapshot's names are canonicalized with it

        parse = _will_parse(entries, project, options)
        if parse:
            from envcapture.analysis.parsepool import prepare_parser, prepare_pool

            prepare_parser()
            prepare_pool()
        if then is not None:
            then()
        # Where a pipe cannot be polled (Windows), `finished` would not see the probe's
        # document waiting: the walk ahead would run to its end first.
        if parse and os.name == "posix" and not finished():
            from envcapture.analysis.ahead import walk_ahead

            walk_ahead(
                entries,
                project,
                cache_dir=options.cache_dir,
                use_cache=options.use_cache,
                jobs=options.jobs,
                target_python=options.target_python,
                finished=finished,
            )

    return snapshot_for_project(project, options.python, while_probing=warm_up)


def _will_parse(entries: Sequence[EntryPoint], project: Path, options: AnalysisOptions) -> bool:
    """Whether the analysis is likely to parse: an entry script's facts (as the walk reads
    it: ``__main__``) are not in the facts cache, or an entry is a module (found later).
    An environment that changed under a project already analysed parses nothing."""
    if not options.use_cache:
        return bool(entries)
    cache = FactsCache(options.cache_dir)  # its own counts: this look-up is none of the analysis's
    try:
        for entry in entries:
            if entry.kind is not EntryKind.SCRIPT:
                return True
            try:
                data = read_user_file(os.path.normpath(project / entry.target), limit=SOURCE_LIMIT)
            except OSError:
                continue  # a missing script is a diagnostic, not a parse
            if cache.get(cache.key(data, "__main__", False)) is None:
                return True
        return False
    finally:
        cache.close()


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
        snapshot, choice = _snapshot_while_warming(entries, project_dir, options)
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
    ahead = claim_walk_ahead(project_dir, entries)  # what the walk ahead of the probe parsed
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
            reader = _FactsReader(project_dir, cache, options.jobs, options.progress, current or previous, ahead)
            ahead = None  # its parser is the reader's now
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
    if ahead is not None:
        ahead.close()
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
