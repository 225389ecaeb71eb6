"""Entry points that are not plain scripts, built with the CLI and run offline.

``tests/fixtures/ship/entries`` runs three kinds of entry point, one per line of a
multi-line ``cmd: |``: ``python -m tool`` (a package with ``__main__.py`` whose modules
import each other absolutely), ``python app`` (a directory with ``__main__.py``: the
directory is ``sys.path[0]``, so its sibling module is a top-level import) and ``./run_me``
(an executable script without ``.py`` and a ``#!/usr/bin/env python3`` line, importing a
module next to it). Each line appends to the job's output; ``sh -e`` semantics run them in
order. Captured from a CPython 3.11 virtualenv, built with ``envcapture build`` (which
verifies the bundle) and run with ``envcapture run`` with the network cut off and the
project and its virtualenv renamed away (`ship_support`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ship_support import Job, Shop, build_job, open_shop, run_offline


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with open_shop(tmp_path_factory) as opened:
        yield opened


@pytest.fixture(scope="module")
def entries(shop: Shop) -> Job:
    return build_job(shop, "entries")


def test_every_kind_of_entry_point_ships_what_it_imports(entries: Job) -> None:
    assert entries.build.returncode == 0, entries.build.stderr
    files = {f["path"]: f["mode"] for f in entries.manifest()["local_code"]["files"]}
    assert sorted(files) == [
        "app/__main__.py",
        "app/applib.py",
        "run_me",
        "scriptlib.py",
        "tool/__init__.py",
        "tool/__main__.py",
        "tool/core.py",
        "tool/helpers.py",
    ]
    assert files["run_me"] == "0755"  # the shebang script stays executable


def test_every_line_runs_offline_in_order(entries: Job, tmp_path: Path) -> None:
    done = run_offline(entries, tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "run" / "outputs" / "results" / "entries.txt"
    assert out.read_text("utf-8").splitlines() == [
        "-M TOOL",
        "directory with __main__.py",
        "shebang script without .py",
    ]
