"""The content-addressed store (envcapture/store.py) and ``envcapture cache info|prune``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from build_support import BuildJob, Built, bundle_files
from click.testing import CliRunner
from helpers import ReadOnlyDir

from envcapture.build.store import Store, StoreKind, key_id, usable_store
from envcapture.cli import cli


def _file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_put_and_lookup_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    src = _file(tmp_path / "a-1.0-py3-none-any.whl", b"wheel bytes")
    entry = store.put_file(src, kind=StoreKind.DOWNLOADED)
    key = {"op": "download", "name": "a", "version": "1.0"}
    store.record(key, entry)
    found = store.lookup(key)
    assert found is not None
    assert found.sha256 == entry.sha256 == __import__("hashlib").sha256(b"wheel bytes").hexdigest()
    assert found.filename == "a-1.0-py3-none-any.whl"
    assert found.path == tmp_path / "store" / "objects" / entry.sha256[:2] / entry.sha256
    assert (store.hits, store.misses) == (1, 0)
    assert store.lookup({"op": "download", "name": "a", "version": "2.0"}) is None
    assert store.misses == 1


def test_keyed_by_content_not_by_file_name(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    one = store.put_file(_file(tmp_path / "x" / "same.whl", b"one"), kind=StoreKind.BUILT)
    two = store.put_file(_file(tmp_path / "y" / "same.whl", b"two"), kind=StoreKind.BUILT)
    assert one.sha256 != two.sha256
    store.record({"k": 1}, one)
    store.record({"k": 2}, two)
    assert store.lookup({"k": 1}).path.read_bytes() == b"one"  # type: ignore[union-attr]
    assert store.lookup({"k": 2}).path.read_bytes() == b"two"  # type: ignore[union-attr]
    assert store.info().objects == 2


def test_key_id_is_canonical() -> None:
    assert key_id({"a": 1, "b": [1, 2]}) == key_id({"b": [1, 2], "a": 1})
    assert key_id({"a": 1}) != key_id({"a": "1"})


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_object_is_detected_on_use_and_dropped(tmp_path: Path, damage: str) -> None:
    store = Store(tmp_path / "store")
    entry = store.put_file(_file(tmp_path / "w.whl", b"x" * 4096), kind=StoreKind.DOWNLOADED)
    store.record({"k": "w"}, entry)
    if damage == "flip":
        entry.path.write_bytes(b"y" + b"x" * 4095)
    elif damage == "truncate":
        entry.path.write_bytes(b"x" * 100)
    else:
        entry.path.unlink()
    assert store.lookup({"k": "w"}) is None
    assert store.corrupted == (0 if damage == "delete" else 1)
    assert not entry.path.exists()  # never trusted again
    assert store.info().index_entries == 0  # its index entry is gone too


def test_leftover_temporary_files_are_never_read(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    entry = store.put_file(_file(tmp_path / "w.whl", b"whole"), kind=StoreKind.DOWNLOADED)
    # A killed writer leaves a half file in tmp/ and, at worst, an index entry without object.
    _file(store.tmp_dir / "put-half", b"wh")
    store.record({"k": "orphan"}, entry)
    entry.path.unlink()
    assert store.lookup({"k": "orphan"}) is None
    info = store.info()
    assert (info.objects, info.temporary) == (0, 1)
    old = time.time() - 7 * 3600
    os.utime(store.tmp_dir / "put-half", (old, old))
    store.prune(older_than=None)
    assert store.info().temporary == 0


def test_export_checks_the_bytes(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    entry = store.put_file(_file(tmp_path / "w.whl", b"payload"), kind=StoreKind.BUILT)
    assert store.export(entry.sha256, tmp_path / "out" / "w.whl")
    assert (tmp_path / "out" / "w.whl").read_bytes() == b"payload"
    entry.path.write_bytes(b"paylo")
    assert not store.export(entry.sha256, tmp_path / "out2" / "w.whl")
    assert not (tmp_path / "out2" / "w.whl").exists()
    assert store.corrupted == 1


def test_info_counts_per_kind(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    for i, kind in enumerate([StoreKind.DOWNLOADED, StoreKind.DOWNLOADED, StoreKind.BUILT, StoreKind.BUNDLE]):
        entry = store.put_file(_file(tmp_path / f"f{i}", b"z" * (i + 1)), kind=kind)
        store.record({"i": i}, entry)
    info = store.info()
    assert (info.objects, info.bytes, info.index_entries) == (4, 1 + 2 + 3 + 4, 4)
    assert info.per_kind == (("bundle", 1, 4), ("wheel-built", 1, 3), ("wheel-downloaded", 2, 3))


def test_prune_older_than_and_all(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    old = store.put_file(_file(tmp_path / "old", b"old"), kind=StoreKind.DOWNLOADED)
    new = store.put_file(_file(tmp_path / "new", b"new"), kind=StoreKind.DOWNLOADED)
    store.record({"k": "old"}, old)
    store.record({"k": "new"}, new)
    past = time.time() - 40 * 86400
    os.utime(old.path, (past, past))
    result = store.prune(older_than=30 * 86400)
    assert (result.objects, result.bytes, result.index_entries) == (1, 3, 1)
    assert store.lookup({"k": "new"}) is not None
    assert store.prune(everything=True).objects == 1
    assert store.info().objects == 0


def test_lookup_touches_the_object(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    entry = store.put_file(_file(tmp_path / "f", b"f"), kind=StoreKind.DOWNLOADED)
    store.record({"k": 1}, entry)
    past = time.time() - 40 * 86400
    os.utime(entry.path, (past, past))
    store.lookup({"k": 1})
    assert store.prune(older_than=30 * 86400).objects == 0  # used just now


def test_cli_cache_info_and_prune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path / "cache"))
    store = Store()
    assert store.root == tmp_path / "cache" / "store"
    entry = store.put_file(_file(tmp_path / "w.whl", b"12345"), kind=StoreKind.BUILT)
    store.record({"k": 1}, entry)
    runner = CliRunner()
    done = runner.invoke(cli, ["cache", "info", "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.output)
    assert doc["schema"] == "envcapture/cache-info"
    assert (doc["objects"], doc["bytes"]) == (1, 5)
    assert doc["per_kind"] == [{"kind": "wheel-built", "objects": 1, "bytes": 5}]
    done = runner.invoke(cli, ["cache", "info"])
    assert "wheel-built: 1 objects, 5 bytes" in done.output
    done = runner.invoke(cli, ["cache", "prune", "--older-than", "30d"])
    assert done.exit_code == 0 and "removed 0 objects" in done.output
    done = runner.invoke(cli, ["cache", "prune", "--all"])
    assert done.exit_code == 0 and "removed 1 objects (5 bytes)" in done.output
    done = runner.invoke(cli, ["cache", "prune", "--older-than", "soon"])
    assert done.exit_code == 2


def test_a_read_only_store_is_replaced_by_a_temporary_one(read_only_dir: ReadOnlyDir) -> None:
    store = Store(read_only_dir.path / "store")
    assert store.write_error() is not None
    with usable_store(store) as (usable, note):
        assert usable.root != store.root
        entry = usable.put_file(Path(__file__), kind=StoreKind.DOWNLOADED)
        assert usable.export(entry.sha256, usable.root / "copy")
    assert note == (
        f"cannot write the wheel store {store.root} ({read_only_dir.reason}): building with a temporary store in "
        f"{usable.root}, removed afterwards (set ENVCAPTURE_CACHE_DIR to a writable directory to keep the wheels)"
    )
    assert not usable.root.exists()
    writable = Store(read_only_dir.path.parent / "store")
    with usable_store(writable) as (same, no_note):
        assert (same, no_note) == (writable, "")


def test_build_with_a_read_only_cache_warns_and_ships_the_same_wheels(
    buildjob: BuildJob, cold_build: Built, read_only_dir: ReadOnlyDir, tmp_path: Path
) -> None:
    """Issue 16: ENVCAPTURE_CACHE_DIR read-only: ``build`` says so in one line per cache and
    goes on, as pip does; never a traceback, never exit 4."""
    out = tmp_path / "bundle"
    env = {**os.environ, "ENVCAPTURE_CACHE_DIR": str(read_only_dir.path)}
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "build", "-c", str(buildjob.config), "--python", str(buildjob.python),
         "-o", str(out), "--no-verify", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("envcapture: warning: ")]
    assert warnings[0] == (
        f"envcapture: warning: cannot write the analysis cache {read_only_dir.path / 'facts'} ({read_only_dir.reason}); "
        "analysed without caching (set ENVCAPTURE_CACHE_DIR to a writable directory)"
    )
    store_note = re.fullmatch(
        rf"envcapture: warning: cannot write the wheel store {re.escape(str(read_only_dir.path / 'store'))} "
        rf"\({read_only_dir.reason}\): building with a temporary store in (\S+), removed afterwards "
        r"\(set ENVCAPTURE_CACHE_DIR to a writable directory to keep the wheels\)",
        warnings[1],
    )
    assert store_note is not None and len(warnings) == 2, done.stderr
    assert not Path(store_note.group(1)).exists()
    wheels = {k: v for k, v in bundle_files(out).items() if k.startswith("wheelhouse/")}
    assert wheels == {k: v for k, v in bundle_files(cold_build.bundle).items() if k.startswith("wheelhouse/")}
    assert os.listdir(read_only_dir.path) == []
