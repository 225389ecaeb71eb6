"""What ships, and ``verify`` as the gate: real projects built with the CLI, run offline.

The projects live in ``tests/fixtures/ship/<name>/``, each with the layout real repositories
have:

* ``editable_repo``: a package at the repository root installed with ``pip install -e .``
  and used from a script in a subdirectory (minGPT's ``projects/chargpt/chargpt.py``); the
  package reads ``assets/vocab.txt`` next to its modules;
* ``src_installed``: a ``src/`` layout project installed with ``pip install .`` (peft),
  with package data, used from ``examples/``;
* ``pkgdata``: a local package (not installed) that reads a data file next to its
  ``__init__.py`` and loads a module by computed name; its tests and ``.env`` stay home;
* ``off_path``: ``tools/run.py`` imports ``helpers.py`` of the project root, which is not on
  ``sys.path`` when the script runs: verify must fail;
* ``manual_paths``: ``type: manual`` whose ``local-paths`` leave out the imported package.

Each is captured from its own virtualenv made with CPython 3.11, built with ``envcapture
build`` (which verifies the bundle) and run with ``envcapture run`` with the network cut off
and the project and its virtualenv renamed away (`ship_support`). The files a job reads by
path: tests/runtime/test_ship_datafiles.py.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import make_venv
from ship_support import PLACEHOLDER_INDEX, SHIP, Job, Shop, build_job, cli, errors, open_shop, run_offline


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with open_shop(tmp_path_factory) as opened:
        yield opened


# --- editable install at the repository root, script in a subdirectory -------------------------


@pytest.fixture(scope="module")
def editable(shop: Shop) -> Job:
    return build_job(shop, "editable_repo", "-e", "{p}")


def test_editable_project_is_built_as_a_wheel(editable: Job) -> None:
    assert editable.build.returncode == 0, editable.build.stderr
    assert "verified offline with Python 3.11" in editable.build.stdout
    manifest = editable.manifest()
    (dist,) = manifest["distributions"]
    assert (dist["name"], dist["origin"], dist["delivery"], dist["source"]) == ("minipkg", "editable", "wheelhouse", "built")
    assert "minipkg" in manifest["verify_modules"]
    wheel = editable.bundle / dist["wheel"]
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        assert {"minipkg/model.py", "minipkg/assets/vocab.txt"} <= set(archive.namelist())
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # SOURCE_DATE_EPOCH, normalised
    # The package ships whole as local code too (its data file with it), and verify
    # knows where the script expects it.
    files = [f["path"] for f in manifest["local_code"]["files"]]
    assert files == ["minipkg/__init__.py", "minipkg/assets/vocab.txt", "minipkg/model.py", "projects/demo/demo.py"]
    assert manifest["local_code"]["packages"] == [{"name": "minipkg", "path": "minipkg"}]
    (entry,) = manifest["verify"]["entries"]
    assert (entry["path0"], entry["guarded"]) == ("projects/demo", False)
    assert {"line": 6, "module": "minipkg.model", "names": ["GPT"], "optional": False} in entry["imports"]
    assert entry["data_files"] == [{"package": "minipkg", "path": "assets/vocab.txt"}]
    # An unguarded script is never imported by verify; the note says so.
    assert 'projects/demo/demo.py: no `if __name__ == "__main__":` guard' in editable.build.stderr


def test_editable_wheel_is_reproducible(editable: Job, shop: Shop) -> None:
    again = shop.root / "editable_repo" / "again"
    done = cli("build", "--config", editable.project / "config.yaml", "--python", editable.python, "-o", again,
                "--no-progress", "--no-verify", cache=shop.root / "editable_repo" / "cache2", cwd=shop.root)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 built" in done.stdout  # a cold store: really built again
    first = {p.name: p.read_bytes() for p in (editable.bundle / "wheelhouse").iterdir()}
    second = {p.name: p.read_bytes() for p in (again / "wheelhouse").iterdir()}
    assert first == second


def test_editable_project_runs_offline_from_a_subdirectory_script(editable: Job, tmp_path: Path) -> None:
    done = run_offline(editable, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "outputs" / "results" / "demo.txt").read_text() == "demo: hello from the vocabulary\n"
    assert "demo ok" in done.stdout


# --- src layout installed with pip install . ---------------------------------------------------


@pytest.fixture(scope="module")
def src_installed(shop: Shop) -> Job:
    return build_job(shop, "src_installed", "{p}")


def test_src_layout_install_runs_offline(src_installed: Job, tmp_path: Path) -> None:
    assert src_installed.build.returncode == 0, src_installed.build.stderr
    manifest = src_installed.manifest()
    assert [(d["name"], d["origin"]) for d in manifest["distributions"]] == [("srcpkg", "local-dir")]
    assert [f["path"] for f in manifest["local_code"]["files"]] == ["examples/finetune.py"]
    done = run_offline(src_installed, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "outputs" / "results" / "tuned.txt").read_text() == "tuned 42\n"


# --- a local package with data next to its __init__.py ----------------------------------------


@pytest.fixture(scope="module")
def pkgdata(shop: Shop) -> Job:
    return build_job(shop, "pkgdata")


def test_local_package_ships_whole(pkgdata: Job) -> None:
    assert pkgdata.build.returncode == 0, pkgdata.build.stderr
    local = pkgdata.manifest()["local_code"]
    # tok/plugins.py is only loaded by a computed name; vocab/words.txt is read through
    # os.path.dirname(__file__): both ship with their package. Its tests and .env do not.
    assert [f["path"] for f in local["files"]] == ["main.py", "tok/__init__.py", "tok/plugins.py", "tok/vocab/words.txt"]
    assert local["excluded"] == [{"path": "tok/.env", "rule": "dotenv"}, {"path": "tok/tests", "rule": "tests"}]
    with tarfile.open(pkgdata.bundle / "local-code.tar.gz") as archive:
        assert sorted(archive.getnames()) == [f["path"] for f in local["files"]]
    assert "envcapture: note: left out tok/tests (tests)" in pkgdata.build.stderr


def test_local_package_with_data_runs_offline(pkgdata: Job, tmp_path: Path) -> None:
    done = run_offline(pkgdata, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "outputs" / "results" / "words.txt").read_text() == "alpha beta gamma plugins\n"


# --- refusals -------------------------------------------------------------------------------------


def test_module_not_importable_from_the_working_directory_fails_verify(shop: Shop) -> None:
    # The analysis refuses it first (import helpers is found only through the project
    # directory, tests/test_cli.py); --allow-unresolved goes on, and verify fails it.
    job = build_job(shop, "off_path", extra=("--allow-unresolved",))
    assert job.build.returncode == 3, job.build.stdout + job.build.stderr
    lines = errors(job.build.stderr)
    assert "envcapture: error: verify: local helpers (helpers.py): ModuleNotFoundError: No module named 'helpers'" in lines
    assert lines[-1].startswith("envcapture: error: bundle: the job would fail on the target")
    # The same bundle, checked with envcapture verify: exit 1 and the failed import.
    done = cli("verify", job.bundle, "--json", cache=job.cache, cwd=job.bundle.parent)
    assert done.returncode == 1, done.stderr
    failed = [(c["step"], c["subject"]) for c in json.loads(done.stdout)["checks"] if not c["ok"]]
    assert ("local", "helpers (helpers.py)") in failed and ("entry", "tools/run.py") in failed


def test_verify_passes_once_the_path_is_set(shop: Shop) -> None:
    """The fix the failure asks for (PYTHONPATH=. in cmd) makes verify pass."""
    name = "off_path_fixed"
    base = shop.root / name
    project = shutil.copytree(SHIP / "off_path", base / "project")
    config = project / "config.yaml"
    text = config.read_text("utf-8").replace(PLACEHOLDER_INDEX, shop.index.url)
    config.write_text(text.replace("cmd: python tools/run.py", "cmd: PYTHONPATH=. python tools/run.py"), "utf-8")
    python = make_venv(base / "venv", shop.python)
    done = cli(
        "build", "--config", config, "--python", python, "-o", base / "bundle", "--no-progress", cache=base / "cache", cwd=base
    )
    assert done.returncode == 0, done.stderr
    assert "verified offline" in done.stdout


def test_local_paths_that_leave_out_an_imported_module_are_refused(shop: Shop) -> None:
    job = build_job(shop, "manual_paths")
    assert job.build.returncode == 3, job.build.stdout + job.build.stderr
    assert errors(job.build.stderr) == [
        f"envcapture: error: {job.project / 'config.yaml'}:6:5: env.python.local-paths: local-paths leaves out "
        "tok/__init__.py (module tok), imported at main.py:4; add tok to local-paths or use type: auto, "
        "or --allow-unresolved"
    ]
    assert not job.bundle.exists()
