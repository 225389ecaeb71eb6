"""The walk ahead of the snapshot: while the environment probe runs, the local code the entry
points reach is read and parsed, so that the analysis finds it parsed. EDGE: processes.

A cold analysis waits for the probe (a subprocess of the analysed interpreter, ~0.2 s), and
its walk needs the probe's paths to tell the standard library, the installed packages and
the local code apart. The local code, most of what a cold analysis parses, is found from the
entry points' own directories and needs none of them: this walk follows the imports through
the local roots alone (a provisional snapshot with nothing installed), parses what it
reaches, here and in the parser's workers, and stops as soon as the probe's document can be
read. The analysis then takes each file's facts from here when the file's content (its
facts-cache key) is the one parsed, and the parser with its workers.

A guess is never an answer: the analysis walks as before and only its parses are spared. A
file this walk reaches and the analysis does not (a local package the environment shadows
with an installed copy) costs its parse and nothing else: the analysis' counts (hits,
misses, files parsed) and its facts cache hold only what it read itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from envcapture._fs import read_user_file
from envcapture.analysis.cache import SOURCE_LIMIT, FactsCache, FileKey, shown_path
from envcapture.analysis.model import EntryPoint, SourceFacts

if TYPE_CHECKING:
    from envcapture.analysis.parsepool import Parser

__all__ = ["ProbeFinished", "WalkAhead", "claim_walk_ahead", "walk_ahead"]

_WAIT = 0.002  # seconds a take waits for a worker before it looks at the probe again


class ProbeFinished(Exception):
    """The probe's document can be read: the walk ahead stops where it is."""


class WalkAhead:
    """The walk's reader (`walk.FactsReader`) for a walk ahead: reads, looks up the facts
    cache, parses; `ProbeFinished` from `take` once ``finished`` says so. What it parsed is
    offered to the analysis' reader by key and content (`parsed`, `in_parser`)."""

    def __init__(self, project: Path, entries: str, cache: FactsCache | None, jobs: int, finished: Callable[[], bool]) -> None:
        self.project = str(project)
        self.entries = entries  # repr of the entry points walked: claimed only for the same ones
        self.parser: Parser | None = None  # made at the first file to parse; the analysis takes it over
        self._cache = cache
        self._jobs = jobs
        self._finished = finished
        self._parsed: dict[FileKey, tuple[str, SourceFacts, bytes | None]] = {}  # taken from the parser
        self._parsing: dict[FileKey, str] = {}  # given to the parser: the facts-cache key
        self._known: dict[FileKey, SourceFacts] = {}  # from the facts cache: the analysis finds them there

    @property
    def parsed_files(self) -> frozenset[str]:
        """The files parsed and not taken by the analysis (absolute paths)."""
        return frozenset(key[0] for key in self._parsed)

    @property
    def parsing_files(self) -> frozenset[str]:
        """The files in the parser and not taken by the analysis (absolute paths)."""
        return frozenset(key[0] for key in self._parsing)

    def submit(self, path: Path, module: str, is_package: bool) -> None:
        key = (str(path), module, is_package)
        if key in self._parsed or key in self._parsing or key in self._known or self._finished():
            return
        try:
            data = read_user_file(key[0], limit=SOURCE_LIMIT)
        except OSError:
            return  # the analysis reads it again and reports it
        facts_key = FactsCache.key(data, module, is_package)
        cached = self._cache.get(facts_key) if self._cache is not None else None
        if cached is not None:
            self._known[key] = cached
            return
        if self.parser is None:
            from envcapture.analysis.parsepool import Parser

            self.parser = Parser(self._jobs)
        self._parsing[key] = facts_key
        self.parser.add(key, (data, module, is_package, shown_path(key[0], self.project)))

    def take(self, path: Path, module: str, is_package: bool) -> SourceFacts:
        key = (str(path), module, is_package)
        known = self._known.get(key)
        if known is not None:
            return known
        parsed = self._parsed.get(key)
        if parsed is not None:
            return parsed[1]
        if self._finished():
            raise ProbeFinished
        if key not in self._parsing:
            return SourceFacts()  # unreadable: nothing to follow from it
        assert self.parser is not None
        while not self.parser.ready(key, _WAIT):
            if self._finished():
                raise ProbeFinished
        facts, stored = self.parser.take_stored(key)
        self._parsed[key] = (self._parsing.pop(key), facts, stored)
        return facts

    def parsed(self, key: FileKey, facts_key: str) -> tuple[SourceFacts, bytes | None] | None:
        """The facts (and their `dump_facts`, when a worker made it) this walk parsed for
        ``key`` with the content ``facts_key`` names; None when it did not."""
        parsed = self._parsed.pop(key, None)
        if parsed is None or parsed[0] != facts_key:
            return None
        return parsed[1], parsed[2]

    def in_parser(self, key: FileKey, facts_key: str) -> bool:
        """Whether the parser holds ``key`` with the content ``facts_key`` names (the analysis
        then takes it from the parser); a parse of other content is dropped from it."""
        parsing = self._parsing.pop(key, None)
        if parsing is None or self.parser is None or key not in self.parser:
            return False  # (not in the parser: a job lost to a failed task, parsed again)
        if parsing != facts_key:  # the file changed since it was read here
            self.parser.forget(key)
            return False
        return True

    def close(self) -> None:
        """Stop the parser's workers, unless the analysis took the parser over (it stops them)."""
        if self.parser is not None:
            self.parser.close()


# The walk ahead not yet claimed by an analysis, per thread: the one that made it claims it (an
# analysis in another thread took one still walking, and both used its parser: KeyError).
_current: dict[int, WalkAhead] = {}


def walk_ahead(
    entries: Sequence[EntryPoint],
    project: Path,
    *,
    cache_dir: Path | None,
    use_cache: bool,
    jobs: int | None,
    target_python: str | None,
    finished: Callable[[], bool],
) -> None:
    """Walk ``entries`` through the local code until ``finished`` (see the module docstring);
    `claim_walk_ahead` hands what it parsed to the analysis. Never fails: a walk that cannot
    go on leaves what it parsed."""
    from envcapture.analysis.conditions import import_is_active
    from envcapture.analysis.walk import build_import_graph
    from envcapture.environment.model import EnvSnapshot
    from envcapture.model import Target

    _drop_current()
    cache = FactsCache(cache_dir) if use_cache else None  # its own counts: none of the analysis'
    ahead = WalkAhead(project, repr(tuple(entries)), cache, jobs if jobs is not None else (os.cpu_count() or 1), finished)
    _current[threading.get_ident()] = ahead
    # One no analysis claims (an error after the snapshot: `check --with` a distribution not
    # installed, a failed probe) is stopped at exit, while the modules its pool's shutdown
    # uses are still there (left to the interpreter's teardown, it printed an exception).
    atexit.unregister(_drop_all)
    atexit.register(_drop_all)
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    # Nothing installed, no standard-library directory: an import is local code or nothing.
    nothing_installed = EnvSnapshot(executable=sys.executable, python_version=running)
    try:
        build_import_graph(
            entries,
            project=project,
            snapshot=nothing_installed,
            target=Target(python_version=target_python or running),
            read_facts=ahead,
            evaluate=import_is_active,
        )
    except ProbeFinished:
        pass
    except Exception:
        logging.getLogger("envcapture").debug("the walk ahead stopped", exc_info=True)
    except BaseException:
        _drop_current()  # interrupted: no analysis follows, its workers stop now
        raise
    finally:
        if cache is not None:
            cache.close()


def claim_walk_ahead(project: Path, entries: Sequence[EntryPoint]) -> WalkAhead | None:
    """The walk ahead of ``entries`` in ``project`` this thread made, for the analysis' reader;
    None when none ran for them (another one of this thread is stopped)."""
    ahead = _current.pop(threading.get_ident(), None)
    if ahead is None:
        return None
    if ahead.project == str(project) and ahead.entries == repr(tuple(entries)):
        return ahead
    ahead.close()
    return None


def _drop_current() -> None:
    ahead = _current.pop(threading.get_ident(), None)
    if ahead is not None:
        ahead.close()


def _drop_all() -> None:
    while _current:
        _current.popitem()[1].close()
