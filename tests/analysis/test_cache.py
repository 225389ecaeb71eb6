"""cache.py: per-file extraction results keyed by content; damaged entries are misses."""

from __future__ import annotations

import threading
from pathlib import Path

from envcapture.analysis.cache import FactsCache, facts_from_json, facts_to_json
from envcapture.analysis.imports import extract_source_facts

SOURCE = b"import json\ntry:\n    import yaml\nexcept ImportError:\n    yaml = None\n\ndef f():\n    import numpy\n"


def test_round_trip_is_exact() -> None:
    facts = extract_source_facts(SOURCE, module="pkg.mod", is_package=False, path="pkg/mod.py")
    assert facts_from_json(facts_to_json(facts)) == facts


def test_key_depends_on_content_module_and_kind() -> None:
    key = FactsCache.key(SOURCE, "pkg.mod", False)
    assert key != FactsCache.key(SOURCE + b"\n", "pkg.mod", False)
    assert key != FactsCache.key(SOURCE, "pkg.other", False)  # relative imports depend on it
    assert key != FactsCache.key(SOURCE, "pkg.mod", True)


def test_hit_after_put_and_damaged_entries_are_misses(tmp_path: Path) -> None:
    cache = FactsCache(tmp_path)
    facts = extract_source_facts(SOURCE, module="m", is_package=False)
    key = cache.key(SOURCE, "m", False)
    assert cache.get(key) is None
    cache.put(key, facts)
    assert cache.get(key) == facts
    entry = next((tmp_path / "facts").rglob("*.json"))
    for damage in (b"", b"{not json", entry.read_bytes()[: len(entry.read_bytes()) // 2], b'{"key": "other", "facts": {}}'):
        entry.write_bytes(damage)
        assert cache.get(key) is None
    assert (cache.hits, cache.misses) == (1, 5)
    assert not list((tmp_path / "facts").rglob("*.tmp"))


def test_concurrent_writers_leave_a_valid_entry(tmp_path: Path) -> None:
    facts = extract_source_facts(SOURCE, module="m", is_package=False)
    key = FactsCache.key(SOURCE, "m", False)

    def writer() -> None:
        cache = FactsCache(tmp_path)
        for _ in range(50):
            cache.put(key, facts)
            got = cache.get(key)
            assert got is None or got == facts

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert FactsCache(tmp_path).get(key) == facts
    assert not list((tmp_path / "facts").rglob("*.tmp"))


def test_disabled_cache_reads_and_writes_nothing(tmp_path: Path) -> None:
    cache = FactsCache(tmp_path, enabled=False)
    facts = extract_source_facts(SOURCE, module="m", is_package=False)
    key = cache.key(SOURCE, "m", False)
    cache.put(key, facts)
    assert cache.get(key) is None
    assert not (tmp_path / "facts").exists()
