"""cache.py: per-file extraction results keyed by content, whole analyses keyed by their inputs
and checked by stat then digest; damaged entries are misses."""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from helpers import ReadOnlyDir

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.cache import FACTS_DATABASE, FactsCache, dump_facts, load_facts
from envcapture.analysis.classify import Analysis, CacheStats
from envcapture.analysis.imports import extract_source_facts
from envcapture.analysis.model import SourceFacts
from envcapture.environment.model import EnvSnapshot

SOURCE = b"import json\ntry:\n    import yaml\nexcept ImportError:\n    yaml = None\n\ndef f():\n    import numpy\n"


def test_round_trip_is_exact() -> None:
    facts = extract_source_facts(SOURCE, module="pkg.mod", is_package=False, path="pkg/mod.py")
    again = load_facts(dump_facts(facts))
    assert again == facts and again.fact_digest == facts.fact_digest is not None  # compared apart: not part of ==


class _OtherLayout:
    """Pickles as facts of a layout with other fields would: the values, one more or less."""

    def __init__(self, values: tuple[object, ...]) -> None:
        self.values = values

    def __reduce__(self) -> tuple[object, ...]:
        from envcapture.analysis import cache

        return cache._rebuild, (SourceFacts, self.values)


def test_facts_of_another_layout_are_a_miss() -> None:
    facts = extract_source_facts(SOURCE, module="pkg.mod", is_package=False, path="pkg/mod.py")
    values = tuple(getattr(facts, field.name) for field in dataclasses.fields(facts))
    assert load_facts(pickle.dumps(_OtherLayout(values))) == facts
    assert load_facts(pickle.dumps(_OtherLayout((*values, "a field more")))) is None
    assert load_facts(pickle.dumps(_OtherLayout(values[:-1]))) is None


def test_key_depends_on_content_module_and_kind() -> None:
    key = FactsCache.key(SOURCE, "pkg.mod", False)
    assert key != FactsCache.key(SOURCE + b"\n", "pkg.mod", False)
    assert key != FactsCache.key(SOURCE, "pkg.other", False)  # relative imports depend on it
    assert key != FactsCache.key(SOURCE, "pkg.mod", True)


def test_puts_are_written_by_flush_in_one_database(tmp_path: Path) -> None:
    cache = FactsCache(tmp_path)
    facts = extract_source_facts(SOURCE, module="m", is_package=False)
    key = cache.key(SOURCE, "m", False)
    assert cache.get(key) is None
    assert not (tmp_path / "facts").exists()  # a read creates nothing
    cache.put(key, facts)
    assert cache.get(key) == facts  # kept in memory until flushed
    assert FactsCache(tmp_path).get(key) is None and not (tmp_path / "facts").exists()
    cache.close()
    assert os.listdir(tmp_path / "facts") == [FACTS_DATABASE]
    again = FactsCache(tmp_path)
    assert again.get(key) == facts and (again.hits, again.misses) == (1, 0)
    assert (cache.hits, cache.misses) == (1, 1)


def _stored(tmp_path: Path, entries: int) -> tuple[list[str], SourceFacts]:
    """A database of ``entries`` rows (several pages), and their keys."""
    facts = extract_source_facts(SOURCE, module="m", is_package=False)
    cache = FactsCache(tmp_path)
    keys = [cache.key(SOURCE + b"# %d\n" % i, "m", False) for i in range(entries)]
    for key in keys:
        cache.put(key, facts)
    cache.close()
    return keys, facts


def test_damaged_rows_are_misses_and_are_replaced(tmp_path: Path) -> None:
    [key], facts = _stored(tmp_path, 1)
    path = tmp_path / "facts" / FACTS_DATABASE
    with closing(sqlite3.connect(path)) as db:
        [(entry,)] = db.execute("SELECT entry FROM facts").fetchall()
    damages = (b"", b"{not json", entry[: len(entry) // 2], b'{"key": "other", "facts": {}}', b"[1]", 7, "text")
    for damage in damages:
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("UPDATE facts SET entry = ?", (damage,))
        cache = FactsCache(tmp_path)
        assert cache.get(key) is None and cache.misses == 1
        cache.put(key, facts)  # parsed again: the row is replaced
        cache.close()
        assert FactsCache(tmp_path).get(key) == facts


def test_a_damaged_database_is_all_misses_and_is_replaced(tmp_path: Path) -> None:
    """Garbage, a truncated file, a page of zeros: never an error; the next write starts a new
    database (and drops a journal left for the damaged one)."""
    keys, facts = _stored(tmp_path, 300)
    path = tmp_path / "facts" / FACTS_DATABASE
    whole = path.read_bytes()
    damages = (b"not a database" * 500, whole[: len(whole) // 2], whole[:50], whole[:4096] + bytes(4096) + whole[8192:])
    for damage in damages:
        path.write_bytes(damage)
        path.with_name(FACTS_DATABASE + "-journal").write_bytes(b"a journal of the damaged file")
        cache = FactsCache(tmp_path)
        assert [cache.get(key) for key in keys] == [None] * len(keys)
        cache.put(keys[0], facts)
        cache.close()
        assert cache.write_error == ""
        assert os.listdir(tmp_path / "facts") == [FACTS_DATABASE]
        healed = FactsCache(tmp_path)
        assert [healed.get(key) is not None for key in keys[:2]] == [True, False]


def test_concurrent_processes_share_the_database(tmp_path: Path) -> None:
    """Analyses in parallel processes, each reading and writing its batches: no write fails,
    none is lost."""
    writer = (
        "import sys\nfrom pathlib import Path\n"
        "from envcapture.analysis.cache import FactsCache\nfrom envcapture.analysis.imports import extract_source_facts\n"
        "facts = extract_source_facts(b'import json\\n', module='m', is_package=False)\n"
        "for batch in range(20):\n"
        "    cache = FactsCache(Path(sys.argv[1]))\n"
        "    keys = [cache.key(b'%s %d %d' % (sys.argv[2].encode(), batch, i), 'm', False) for i in range(50)]\n"
        "    shared = cache.key(b'shared %d' % batch, 'm', False)\n"
        "    assert cache.get(shared) in (None, facts)\n"
        "    for key in (*keys, shared):\n"
        "        cache.put(key, facts)\n"
        "    cache.close()\n"
        "    assert cache.write_error == '', cache.write_error\n"
        "    assert all(FactsCache(Path(sys.argv[1])).get(key) == facts for key in keys)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(tmp_path), f"p{n}"]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with closing(sqlite3.connect(tmp_path / "facts" / FACTS_DATABASE)) as db:
        assert db.execute("SELECT count(*) FROM facts").fetchone() == (4 * 20 * 50 + 20,)


def test_a_write_waits_for_another_writers_lock(tmp_path: Path) -> None:
    _, facts = _stored(tmp_path, 2)
    locked, new = threading.Event(), FactsCache.key(b"new", "m", False)

    def another_analysis_commits() -> None:
        with closing(sqlite3.connect(tmp_path / "facts" / FACTS_DATABASE, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(0.5)
            other.execute("COMMIT")

    committer = threading.Thread(target=another_analysis_commits)
    committer.start()
    locked.wait(10)
    cache = FactsCache(tmp_path)
    cache.put(new, facts)
    started = time.monotonic()
    cache.close()
    waited = time.monotonic() - started
    committer.join()
    assert cache.write_error == "" and waited >= 0.3
    assert FactsCache(tmp_path).get(new) == facts


def test_the_database_replaces_the_json_entries_of_earlier_versions(tmp_path: Path) -> None:
    old = tmp_path / "facts" / "ab" / ("ab" + "0" * 62 + ".json")
    old.parent.mkdir(parents=True)
    old.write_text("{}")
    _stored(tmp_path, 1)
    assert os.listdir(tmp_path / "facts") == [FACTS_DATABASE]


def test_disabled_cache_reads_and_writes_nothing(tmp_path: Path) -> None:
    cache = FactsCache(tmp_path, enabled=False)
    facts = extract_source_facts(SOURCE, module="m", is_package=False)
    key = cache.key(SOURCE, "m", False)
    cache.put(key, facts)
    assert cache.get(key) is None
    assert not (tmp_path / "facts").exists()


# --- the whole-analysis cache ------------------------------------------------------------------

SNAPSHOT = EnvSnapshot(executable=sys.executable, python_version="3.11.7")


def _project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "main.py").write_text("import pkg\nimport helper\nimport numpy\n")
    (root / "pkg" / "__init__.py").write_text("from . import a, b\n")
    (root / "pkg" / "a.py").write_text("import json\n")
    (root / "pkg" / "b.py").write_text("from .a import x\nimport yaml\n")
    old = time.time() - 60  # older than the cache's two-second distrust of fresh stats
    for path in [root, *root.rglob("*")]:
        os.utime(path, (old, old))
    return root


def _run(project: Path, cache: Path | None, **options: object) -> Analysis:
    opts = AnalysisOptions(cache_dir=cache, use_cache=cache is not None, **options)  # type: ignore[arg-type]
    return analyze(["main.py"], project=project, options=opts, snapshot=SNAPSHOT)


def _same(one: Analysis, two: Analysis) -> bool:
    return replace(one, stats=CacheStats()) == replace(two, stats=CacheStats())


def test_warm_run_is_the_recorded_analysis(tmp_path: Path) -> None:
    project = _project(tmp_path / "job")
    cold = _run(project, tmp_path / "c")
    assert (cold.stats.parsed, cold.stats.hits) == (4, 0)
    shutil.rmtree(tmp_path / "c" / "facts")  # served by the analysis entry, not by per-file facts
    warm = _run(project, tmp_path / "c")
    assert (warm.stats.hits, warm.stats.misses, warm.stats.parsed) == (4, 0, 0)
    assert _same(cold, warm)
    os.utime(project / "pkg" / "a.py")  # touched, same bytes: vouched for by its digest
    assert _run(project, tmp_path / "c").stats.parsed == 0


def test_an_edit_reparses_only_the_edited_file(tmp_path: Path) -> None:
    project = _project(tmp_path / "job")
    _run(project, tmp_path / "c")
    (project / "pkg" / "a.py").write_text("import json\nimport requests\n")
    edited = _run(project, tmp_path / "c")
    assert (edited.stats.parsed, edited.stats.hits) == (1, 3)
    assert _same(edited, _run(project, None))
    assert "requests" in {u.module for u in edited.unresolved}


def test_an_edit_that_moves_no_import_keeps_the_recorded_analysis(tmp_path: Path) -> None:
    """An edited file whose facts are the recorded ones (by the digest of the statements they
    come from, else parsed again) changes nothing: no walk, the recorded analysis; an edit
    that moves an import changes the answer."""
    project = _project(tmp_path / "job")
    cold = _run(project, tmp_path / "c")
    with (project / "pkg" / "b.py").open("a") as fh:
        fh.write("\nVERSION = 2\n")  # a statement no fact can come from
    edited = _run(project, tmp_path / "c")
    # The statements its facts come from are unchanged: not even parsed (their digest says so).
    assert (edited.stats.parsed, edited.stats.hits, edited.stats.misses) == (0, 4, 0)
    assert _same(edited, cold) and _same(edited, _run(project, None))
    again = _run(project, tmp_path / "c")
    assert (again.stats.parsed, again.stats.hits) == (0, 4)  # the edit was recorded
    (project / "pkg" / "b.py").write_text("from .a import x  # an import's line changed\nimport yaml\n")
    reparsed = _run(project, tmp_path / "c")
    assert reparsed.stats.parsed == 1 and _same(reparsed, cold)  # parsed: the same facts, no walk
    (project / "pkg" / "b.py").write_text("\nfrom .a import x\nimport yaml\n")  # the same imports, a line lower
    moved = _run(project, tmp_path / "c")
    assert moved.stats.parsed == 1 and _same(moved, _run(project, None))
    assert [e.site.line for e in moved.graph.edges if e.importer == "pkg/b.py"] == [2, 3]


def test_a_recorded_graph_is_read_when_first_used_and_equals_the_walked_one(tmp_path: Path) -> None:
    project = _project(tmp_path / "job")
    cold = _run(project, tmp_path / "c")
    warm = _run(project, tmp_path / "c")
    assert warm.stats.parsed == 0
    assert warm.graph == cold.graph and cold.graph == warm.graph
    assert hash(warm.graph) == hash(cold.graph) and repr(warm.graph) == repr(cold.graph)
    assert [e.resolution.module for e in warm.graph.edges] == [e.resolution.module for e in cold.graph.edges]
    os.utime(project / "pkg" / "a.py")  # the entry is written again with the graph it holds
    rewritten = _run(project, tmp_path / "c")
    assert rewritten.graph == cold.graph and _run(project, tmp_path / "c").graph == cold.graph


def test_a_new_module_on_the_path_is_seen(tmp_path: Path) -> None:
    """helper was unresolved; a helper.py created next to main.py changes the answer."""
    project = _project(tmp_path / "job")
    before = _run(project, tmp_path / "c")
    assert "helper" in {u.module for u in before.unresolved}
    (project / "helper.py").write_text("import csv\n")
    old = time.time() - 60
    os.utime(project, (old, old))  # even with the directory's stat put back, its listing differs
    after = _run(project, tmp_path / "c")
    assert "helper.py" in {f.path for f in after.local_files}
    assert _same(after, _run(project, None))


def test_damaged_entries_are_misses_and_keys_do_not_collide(tmp_path: Path) -> None:
    one = _project(tmp_path / "one")
    two = _project(tmp_path / "two")
    first = _run(one, tmp_path / "c")
    [entry] = (tmp_path / "c" / "analyses").iterdir()
    for damage in (b"", b"not a pickle", entry.read_bytes()[: entry.stat().st_size // 2]):
        entry.write_bytes(damage)
        again = _run(one, tmp_path / "c")
        assert _same(first, again) and again.stats.hits == 4  # per-file facts still serve
    other = _run(two, tmp_path / "c")
    assert other.stats.parsed == 0  # per-file facts are shared by content, the analyses are not
    assert len(list((tmp_path / "c" / "analyses").iterdir())) == 2
    assert _run(one, tmp_path / "c", target_python="3.10").target.python_version == "3.10"
    assert not list((tmp_path / "c").rglob("*.tmp"))


def test_an_analysis_heals_a_damaged_facts_database(tmp_path: Path) -> None:
    project = _project(tmp_path / "job")
    cold = _run(project, tmp_path / "c")
    (tmp_path / "c" / "facts" / FACTS_DATABASE).write_bytes(b"\0garbage" * 1000)
    shutil.rmtree(tmp_path / "c" / "analyses")
    damaged = _run(project, tmp_path / "c")
    assert (damaged.stats.parsed, damaged.stats.write_error) == (4, "") and _same(damaged, cold)
    shutil.rmtree(tmp_path / "c" / "analyses")
    healed = _run(project, tmp_path / "c")
    assert (healed.stats.parsed, healed.stats.hits) == (0, 4) and _same(healed, cold)


def test_no_cache_writes_no_analysis(tmp_path: Path) -> None:
    project = _project(tmp_path / "job")
    opts = AnalysisOptions(cache_dir=tmp_path / "c", use_cache=False)
    analyze(["main.py"], project=project, options=opts, snapshot=SNAPSHOT)
    assert not (tmp_path / "c").exists()


def test_a_read_only_cache_is_skipped_with_its_reason(tmp_path: Path, read_only_dir: ReadOnlyDir) -> None:
    """Issue 16: the analysis goes on without caching, as pip does with an unwritable cache;
    the reason names the cache directory and the system's words, and no write is retried."""
    project = _project(tmp_path / "job")
    analysis = _run(project, read_only_dir.path)
    assert analysis.stats.write_error == f"{read_only_dir.path / 'facts'} ({read_only_dir.reason})"
    assert analysis.stats.parsed == 4
    assert _same(analysis, _run(project, None))
    assert os.listdir(read_only_dir.path) == []
    assert _run(project, tmp_path / "writable").stats.write_error == ""


def test_the_command_warns_once_and_goes_on_with_a_read_only_cache(tmp_path: Path, read_only_dir: ReadOnlyDir) -> None:
    project = _project(tmp_path / "job")

    def analyze_cli(*extra: str, cache: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "ENVCAPTURE_CACHE_DIR": str(cache)}
        return subprocess.run([sys.executable, "-m", "envcapture.cli", "analyze", "main.py", "--python", sys.executable, *extra],
                              cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    done = analyze_cli(cache=read_only_dir.path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"envcapture: warning: cannot write the analysis cache {read_only_dir.path / 'facts'} ({read_only_dir.reason}); "
        "analysed without caching (set ENVCAPTURE_CACHE_DIR to a writable directory, or pass --no-cache)"
    ]
    assert done.stdout == analyze_cli("--no-cache", cache=tmp_path / "unused").stdout
    assert analyze_cli("--no-cache", cache=read_only_dir.path).stderr == ""  # nothing to write, nothing to say


# --- the files the code reads by path are part of both caches ---------------------------------------


def test_file_references_round_trip() -> None:
    source = b"import numpy as np\nexec(open('configurator.py').read())\nx = np.load('x.npy')\n"
    facts = extract_source_facts(source, module="__main__", is_package=False)
    assert [r.path for r in facts.file_refs] == ["configurator.py", "x.npy"]
    assert load_facts(dump_facts(facts)) == facts


def _reading_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "main.py").write_text("import json\ncfg = json.load(open('cfg/a.json'))\nexec(open('extra.py').read())\n")
    (root / "extra.py").write_text("import csv\n")
    old = time.time() - 60
    for path in [root, *root.rglob("*")]:
        os.utime(path, (old, old))
    return root


def test_a_file_the_code_reads_is_seen_when_it_appears(tmp_path: Path) -> None:
    project = _reading_project(tmp_path / "job")
    before = _run(project, tmp_path / "c")
    assert [f.path for f in before.data_files] == ["extra.py"]
    assert "csv" in before.stdlib  # the file main.py runs is analysed
    (project / "cfg").mkdir()
    (project / "cfg" / "a.json").write_text("{}")
    old = time.time() - 60
    os.utime(project, (old, old))  # the project's listing is what changed (cfg/ appeared)
    after = _run(project, tmp_path / "c")
    assert [f.path for f in after.data_files] == ["cfg/a.json", "extra.py"]
    assert _same(after, _run(project, None))
    warm = _run(project, tmp_path / "c")
    assert warm.stats.parsed == 0 and warm.data_files == after.data_files


def test_the_files_cmd_names_are_part_of_the_key(tmp_path: Path) -> None:
    project = _reading_project(tmp_path / "job")
    (project / "a.yaml").write_text("")
    (project / "b.yaml").write_text("")

    def named(cmd: str) -> list[str]:
        opts = AnalysisOptions(cache_dir=tmp_path / "c")
        analysis = analyze(config={"cmd": cmd, "env": {"python": "auto"}}, project=project, options=opts, snapshot=SNAPSHOT)
        return [f.path for f in analysis.data_files if any(r.how == "named in cmd" for r in f.reasons)]

    assert named("python main.py --cfg a.yaml") == ["a.yaml"]
    assert named("python main.py --cfg b.yaml") == ["b.yaml"]  # the same entry points, another answer


def test_cached_facts_keep_alternatives_and_branches() -> None:
    """What the classification reads of a site survives the facts cache: a warm run (or an edit
    elsewhere) must not turn ``try: import gymnasium / except ImportError: import gym`` into
    two optional imports, nor an import under a run-time ``if`` into an unguarded one."""
    source = (
        "import sys\ntry:\n    import gymnasium as gym\nexcept ImportError:\n    import gym\n"
        "if '--wandb' in sys.argv:\n    import wandb\n"
    )
    facts = extract_source_facts(source, module="train", is_package=False)
    again = load_facts(dump_facts(facts))
    kept = [(s.module, s.alternative_group, s.fallback, s.branch) for s in again.imports]
    assert kept == [(s.module, s.alternative_group, s.fallback, s.branch) for s in facts.imports]
    assert ("gym", 2, True, False) in kept
    assert ("wandb", None, False, True) in kept


def test_a_graph_pickles_its_edges_by_columns_and_comes_back_equal_with_its_shared_parts(tmp_path: Path) -> None:
    """A recorded graph stores its edges as columns (the sites and resolutions by value, once
    each): it comes back equal, field for field, and an object two edges shared is one again."""
    from envcapture.analysis import cache as cache_module

    project = _project(tmp_path / "job")
    (project / "pkg" / "c.py").write_text(
        "import sys\nif sys.platform == 'win32':\n    import winreg\ntry:\n    import ujson as json\nexcept ImportError:\n    import json\n"
    )
    (project / "main.py").write_text("import pkg\nimport pkg.c\nimport helper\nimport numpy\nimport os, os.path\n")
    graph = _run(project, None).graph
    shared = graph.edges[0].resolution
    edges = (*graph.edges, replace(graph.edges[1], resolution=shared, active=False))
    graph = replace(graph, edges=edges)
    blob = cache_module._dumps(graph, lazy_graphs=False)
    again = cache_module._loads(blob)
    assert type(again) is type(graph) and again == graph
    assert [repr(e) for e in again.edges] == [repr(e) for e in graph.edges]
    assert again.edges[-1].resolution is again.edges[0].resolution
    assert any(e.site.conditions for e in again.edges) and any(e.site.alternative_group for e in again.edges)
    stored = cache_module._loads(cache_module._dumps(graph))  # the lazy form of a recorded analysis
    assert stored == graph and stored.edges == graph.edges
