"""The parser of a cold analysis: source files -> `SourceFacts`, here or in worker processes. EDGE: processes.

Files are added as the walk finds them and taken, in the walk's order, when it reaches
them. Until a file waits for each worker (at least `PARALLEL_THRESHOLD`; `FRESH_WORKERS_THRESHOLD`
when workers would start as fresh interpreters), this process parses each one the walk takes;
from then on a pool of worker processes parses them ahead of the walk, in batches.

What a worker costs to start: an interpreter that imports libcst is ~0.35 s of CPU.
Python's default start method forks on Linux up to 3.13 (unsafe while another thread runs,
and the progress display refreshes from one; deprecated then on 3.12+), and starts fresh
interpreters from 3.14 (forkserver) and on macOS (spawn), each importing libcst. Here, on
Linux with no other thread alive, the workers are forked after this process imported the
extractor (`prepare_parser`): they start with libcst loaded, in milliseconds, the garbage
collector's objects frozen so that their collections leave the inherited pages shared.
Otherwise a fork server imports the extractor once (``set_forkserver_preload``) and forks
them; Windows spawns them.

What a file costs to send: a task is ~0.15 ms of CPU in queues and wake-ups on both sides
(a parse, 2-4 ms). A worker gets `BATCH` files per task while every worker is busy; while
one is idle it gets what waits now (a small batch returns sooner to a starved walk), and
when the walk takes a file not yet sent, what waits is shared out among the workers. A
worker returns a batch's facts as one list of `dump_facts` pickles, which the facts cache
and the analysis entry store as they are.
"""

from __future__ import annotations

import itertools
import sys
from collections import deque
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

from envcapture.analysis.cache import dump_facts, load_facts
from envcapture.analysis.model import SourceFacts

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from multiprocessing.context import BaseContext

__all__ = [
    "BATCH",
    "FRESH_WORKERS_THRESHOLD",
    "PARALLEL_THRESHOLD",
    "ParseJob",
    "Parser",
    "parse_batch",
    "prepare_parser",
    "prepare_pool",
]


def __dir__() -> list[str]:
    return list(__all__)


# Below this many files waiting, this process parses them. Forked with libcst loaded, a
# worker costs a few milliseconds, less than a file's parse: from the second file waiting
# on, they parse in parallel (with 32, this process parsed a 300-file project's first ~20
# files alone, ~45 ms of one core while the other waited; counted with callgrind).
PARALLEL_THRESHOLD = 2
# The same for workers that start a fresh interpreter (a fork server while another thread
# runs, as the progress display's on a terminal; spawn on macOS and Windows): each imports
# libcst, ~0.35 s of CPU, more than a few dozen files' parse (a 3-file project's cold run
# on a terminal took 0.8 s with 2, 0.4 s with this).
FRESH_WORKERS_THRESHOLD = 32
# Files per task while every worker is busy. A cold run of a 300-file project (212 parsed):
# 1.65 s and 2.72 s of CPU one file a task, 1.55 s and 2.55 s with 4, 8 or 16.
BATCH = 8

# A file to parse: its bytes, the module it is read as, whether it is a package's
# __init__, and its project-relative path (for diagnostics).
ParseJob = tuple[bytes, str, bool, str]


def prepare_parser() -> None:
    """Import the extractor (libcst, ~0.2 s; half that with its dataclasses' methods compiled
    already, `compiled_dataclasses`) now: a cold analysis does it while the environment
    probe runs, and forked workers inherit it."""
    import envcapture.analysis._libcst  # noqa: F401 - libcst, its dataclass methods compiled once
    from envcapture.analysis.imports import extract_source_facts

    # The first extraction loads what libcst loads on first use (its native parser, ~5 ms)
    # and fills the walk's dispatch tables: done here, no file waits for it.
    dump_facts(extract_source_facts(b"import os\nif os:\n    import sys\n", module="__main__", is_package=False))


def prepare_pool() -> None:
    """Import what starting the workers imports (multiprocessing, ~15 ms): a cold analysis
    does it while the environment probe runs."""
    import concurrent.futures.process  # noqa: F401
    import multiprocessing.connection  # noqa: F401


def _worker_started() -> None:
    """A worker collects its young objects 70 times less often: a parse makes thousands (libcst's
    nodes, gone with the file), few in cycles, and the worker ends with the analysis."""
    import gc

    gc.set_threshold(_WORKER_YOUNG_THRESHOLD, 50, 1 << 30)


_WORKER_YOUNG_THRESHOLD = 50_000  # allocations (CPython's default: 700); 1.5% fewer instructions a file


def _parse(job: ParseJob) -> SourceFacts:
    from envcapture.analysis.imports import extract_source_facts

    data, module, is_package, rel = job
    return extract_source_facts(data, module=module, is_package=is_package, path=rel)


def parse_batch(jobs: Sequence[ParseJob]) -> list[bytes]:
    """The facts of ``jobs``, in order, as `dump_facts` pickles (what a worker returns)."""
    if "envcapture.analysis.imports" not in sys.modules:  # a spawned worker
        prepare_parser()
    return [dump_facts(_parse(job)) for job in jobs]


def _context() -> BaseContext:
    """How workers start: forked from this process (Linux, no other thread), else from a
    fork server that imported the extractor, else spawned (see the module docstring)."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if _forks() and "fork" in methods:
        prepare_parser()
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["envcapture.analysis._libcst", "envcapture.analysis.imports"])
        return context
    return multiprocessing.get_context("spawn")


def _forks() -> bool:
    """Whether workers started now are forked from this process (`_context`)."""
    import threading

    return sys.platform == "linux" and threading.active_count() == 1


class Parser:
    """The files the walk will take, parsed here or by worker processes (see the module
    docstring); ``key`` is the caller's name for a file, taken once. The workers start once
    ``threshold`` files wait; by default once a file waits for each (at least
    `PARALLEL_THRESHOLD` when they would be forked, else `FRESH_WORKERS_THRESHOLD`)."""

    def __init__(self, workers: int, *, threshold: int | None = None, batch: int = BATCH) -> None:
        self.workers = workers
        self.threshold = threshold
        self.batch = batch
        self.start_method: str | None = None  # how the workers started ("fork", "forkserver", "spawn"); None: none did
        self._pool: ProcessPoolExecutor | None = None
        self._waiting: dict[Hashable, ParseJob] = {}  # not sent, in the order added
        self._sent: dict[Hashable, tuple[Future[list[bytes]], int, ParseJob]] = {}
        self._in_flight: deque[Future[list[bytes]]] = deque()  # batches not known done, oldest first
        self._unstarted = False  # a pool whose first task will start its workers

    def __contains__(self, key: Hashable) -> bool:
        return key in self._waiting or key in self._sent

    def add(self, key: Hashable, job: ParseJob) -> None:
        self._waiting[key] = job
        if self._pool is None and self.workers > 1 and len(self._waiting) >= self._start_threshold():
            self._start()
        if self._pool is not None:
            self._dispatch()

    def _start_threshold(self) -> int:
        # At least one file waiting for each worker: a pool starts all its forked workers at
        # its first task, and a 3-file project on a 32-core machine forked 32 (~0.2 s).
        if self.threshold is not None:
            return self.threshold
        forked = max(PARALLEL_THRESHOLD, self.workers)
        if len(self._waiting) < forked or _forks():
            return forked
        return max(FRESH_WORKERS_THRESHOLD, self.workers)

    def take(self, key: Hashable) -> SourceFacts:
        """The facts of an added file: parsed here when there are no workers, else waited for."""
        return self.take_stored(key)[0]

    def take_stored(self, key: Hashable) -> tuple[SourceFacts, bytes | None]:
        """`take`, with the facts' `dump_facts` when a worker made it (None when parsed here)."""
        job = self._waiting.get(key)
        if job is not None and self._pool is None:
            del self._waiting[key]
            return _parse(job), None
        if job is not None:
            self._share_out()
        future, index, job = self._sent.pop(key)
        if future.cancelled():  # sent before `close`: parsed here
            return _parse(job), None
        stored = future.result()[index]
        facts = load_facts(stored)
        if facts is None:  # cannot happen: this process's own classes, pickled by its fork
            raise RuntimeError(f"a parser worker returned unreadable facts for {job[3]}")
        return facts, stored

    def ready(self, key: Hashable, timeout: float) -> bool:
        """Whether `take` of an added file would not wait for a worker (it is parsed, or would
        be parsed here); waits up to ``timeout`` seconds for its batch."""
        if key in self._waiting:
            if self._pool is None:
                return True
            self._share_out()
        future = self._sent[key][0]
        if not future.done():
            from concurrent.futures import wait

            wait((future,), timeout)
        return future.done()

    def forget(self, key: Hashable) -> None:
        """Drop an added file (its content changed): it is not taken, and may be added again."""
        self._waiting.pop(key, None)
        self._sent.pop(key, None)

    def close(self) -> None:
        """Stop the workers (what they were not given yet is parsed here if taken); the next
        file added past the threshold starts them again."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _start(self) -> None:
        from concurrent.futures import ProcessPoolExecutor

        context = _context()
        self.start_method = context.get_start_method()
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_worker_started)
        self._unstarted = True

    def _idle_workers(self) -> int:
        # Batches finish about in the order sent: dropping the done ones from the front keeps
        # this O(1) a call (asking every one, it was 0.6 s of a 1,352-file analysis).
        while self._in_flight and self._in_flight[0].done():
            self._in_flight.popleft()
        return self.workers - len(self._in_flight)

    def _dispatch(self) -> None:
        """Send full batches; while a worker is idle, send what waits now."""
        while len(self._waiting) >= self.batch or (self._waiting and self._idle_workers() > 0):
            self._send(self.batch)

    def _share_out(self) -> None:
        """Send every waiting file, in up to one batch per worker."""
        size = min(-(-len(self._waiting) // self.workers), self.batch)
        while self._waiting:
            self._send(size)

    def _send(self, size: int) -> None:
        assert self._pool is not None
        keys = list(itertools.islice(self._waiting, size))
        jobs = [self._waiting.pop(key) for key in keys]
        if self._unstarted:
            # The first task forks the workers: freeze what exists, so their collections
            # leave the inherited pages alone (shared, not copied).
            import gc

            self._unstarted = False
            gc.freeze()
            try:
                future = self._pool.submit(parse_batch, jobs)
            finally:
                gc.unfreeze()
        else:
            future = self._pool.submit(parse_batch, jobs)
        self._in_flight.append(future)
        for index, (key, job) in enumerate(zip(keys, jobs, strict=True)):
            self._sent[key] = (future, index, job)
