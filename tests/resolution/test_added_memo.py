"""The memo of ``analysis.added`` (envcapture.resolution.addedmemo): a warm ``envcapture analyze``
neither resolves the closure nor imports what resolving needs, and every input of the
resolution invalidates it.

The CLI runs as a process, as a user or a pre-commit hook runs it, in a virtualenv of its own
(tabular, arrowlite, dist-alpha: `helpers.make_tabular_env`) that the test changes. Whether
the closure was resolved is read from the modules the process loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ReadOnlyDir, WheelFactory, make_tabular_env

from envcapture.analysis.classify import AddedDistribution
from envcapture.model import Diagnostic, DistName, Severity
from envcapture.resolution.addedmemo import AddedMemo, AddedResult, added_key

# The CLI under a wrapper that prints, at exit, which of the modules resolving needs were loaded.
_WATCHED = ("envcapture.resolution.closure", "envcapture.config.loader", "packaging", "yaml")
_WRAPPER = f"""
import atexit, sys
def dump():
    loaded = [m for m in {_WATCHED!r} if m in sys.modules]
    sys.stderr.write("@@loaded@@" + ",".join(loaded) + "\\n")
atexit.register(dump)
from envcapture.cli import main
main(sys.argv[1:])
"""


@dataclass(frozen=True)
class Run:
    added: list[tuple[str, str, str]]  # (name, rule, via)
    loaded: set[str]  # of _WATCHED
    doc: dict[str, object]

    @property
    def resolved(self) -> bool:
        return "envcapture.resolution.closure" in self.loaded


@pytest.fixture
def env(tmp_path: Path, wheel_factory: WheelFactory) -> Path:
    """The python of a tabular virtualenv this test may change."""
    return make_tabular_env(tmp_path / "env", wheel_factory)


@pytest.fixture
def job(tmp_path: Path) -> Path:
    project = tmp_path / "job"
    project.mkdir()
    (project / "main.py").write_text("import tabular\n\nprint(tabular.read_parquet('t.csv'))\n", "utf-8")
    return project


def _analyze(job: Path, python: Path, cache: Path, *extra: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "ENVCAPTURE_"))}
    env["ENVCAPTURE_CACHE_DIR"] = str(cache)
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "analyze", "main.py", "--json", "--python", str(python), *extra],
        cwd=job, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    loaded = done.stderr.split("@@loaded@@", 1)[1].strip()
    added = sorted((a["name"], a["rule"], a["via"]) for a in doc["added"])
    return Run(added=added, loaded=set(loaded.split(",")) - {""}, doc=doc)


EXTRA = ("arrowlite", "installed-extra", "tabular[parquet]")


def test_a_warm_run_reuses_added_and_loads_no_resolver(job: Path, env: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold = _analyze(job, env, cache)
    assert cold.added == [EXTRA]
    assert cold.resolved
    warm = _analyze(job, env, cache)
    assert warm.added == [EXTRA]
    assert warm.loaded == set()  # neither the closure walk nor packaging, the config loader or YAML
    assert warm.doc == cold.doc
    assert len(list((cache / "added").glob("*.json"))) == 1


def test_each_input_of_the_resolution_invalidates_the_memo(job: Path, env: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _analyze(job, env, cache).resolved
    # [tool.envcapture] with in pyproject.toml
    (job / "pyproject.toml").write_text('[tool.envcapture]\nwith = ["dist-alpha"]\n', "utf-8")
    changed = _analyze(job, env, cache)
    assert changed.resolved
    assert changed.added == [EXTRA, ("dist-alpha", "with", "pyproject.toml:2")]
    again = _analyze(job, env, cache)
    assert not again.resolved and again.added == changed.added
    (job / "pyproject.toml").write_text('[tool.envcapture]\nwith = ["dist-alpha"]\ninstalled-extras = false\n', "utf-8")
    changed = _analyze(job, env, cache)
    assert changed.resolved and changed.added == [("dist-alpha", "with", "pyproject.toml:2")]
    (job / "pyproject.toml").unlink()
    # --with and --no-installed-extras on the command line
    changed = _analyze(job, env, cache, "--with", "dist-alpha")
    assert changed.resolved and changed.added == [EXTRA, ("dist-alpha", "with", "--with dist-alpha")]
    assert not _analyze(job, env, cache, "--with", "dist-alpha").resolved
    changed = _analyze(job, env, cache, "--no-installed-extras")
    assert changed.resolved and changed.added == []
    # the environment: a distribution uninstalled, then installed again
    assert not _analyze(job, env, cache).resolved
    subprocess.run([str(env), "-m", "pip", "uninstall", "--yes", "--quiet", "arrowlite"], check=True, capture_output=True)
    changed = _analyze(job, env, cache)
    assert changed.resolved and changed.added == []
    assert not _analyze(job, env, cache).resolved


def test_a_damaged_entry_is_a_miss_and_no_cache_keeps_nothing(job: Path, env: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _analyze(job, env, cache, "--no-cache")
    assert not (cache / "added").exists()
    first = _analyze(job, env, cache)
    (entry,) = (cache / "added").glob("*.json")
    entry.write_text('{"format": 1, "key": "', "utf-8")
    damaged = _analyze(job, env, cache)
    assert damaged.resolved and damaged.added == first.added == [EXTRA]
    assert json.loads(entry.read_text("utf-8"))["key"] == entry.stem  # written again, whole
    assert not _analyze(job, env, cache).resolved


# --- the memo itself ----------------------------------------------------------------------------------


def test_entries_round_trip_and_a_failed_resolution_is_kept_as_its_warning(tmp_path: Path) -> None:
    memo = AddedMemo(tmp_path)
    row = AddedDistribution(
        name=DistName("arrowlite"), display_name="ArrowLite", version="1.0.3", rule="installed-extra",
        via="tabular[parquet]", reason="extra parquet of tabular, installed locally", parent=DistName("tabular"),
    )  # fmt: skip
    failed = Diagnostic(file=None, line=None, code="resolution-failed", message="what ships... \udce9", severity=Severity.WARNING)
    found, failure = added_key("a", b"b"), added_key("a", b"c")
    assert found != failure and added_key("ab", b"") != added_key("a", b"b")  # parts are length-prefixed
    memo.put(found, AddedResult(added=(row,)))
    memo.put(failure, AddedResult(failure=failed))
    assert memo.get(found) == AddedResult(added=(row,))
    assert memo.get(failure) == AddedResult(failure=failed)
    assert memo.get(added_key("a", b"d")) is None
    (tmp_path / "added" / f"{failure}.json").rename(tmp_path / "added" / f"{found}.json")  # another key's entry
    assert memo.get(found) is None
    assert AddedMemo(tmp_path, enabled=False).get(failure) is None


def test_a_read_only_memo_is_given_up_with_its_reason(read_only_dir: ReadOnlyDir) -> None:
    memo = AddedMemo(read_only_dir.path)
    memo.put(added_key("x"), AddedResult())
    assert memo.write_error == f"{read_only_dir.path / 'added'} ({read_only_dir.reason})"
    assert memo.get(added_key("x")) is None
