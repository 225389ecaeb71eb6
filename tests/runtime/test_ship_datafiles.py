"""The files a job reads or runs by path ship, and ``verify`` finds them where the code expects them.

``tests/fixtures/ship/nanolike/`` is a nanoGPT-like job: ``train.py`` runs
``exec(open("configurator.py").read())``, which imports ``overrides.py`` and runs the
``config/train_x.py`` that ``cmd`` names; ``cmd`` also names ``cfg/data.yaml``; an argparse
default names ``cfg/model.yaml``; the local package ``tinylm`` reads ``assets/vocab.json``
through ``Path(__file__).parent``; ``data/tokens.txt`` is an input and ``.env`` is read when
present. None of these is imported. Built from its own CPython 3.11 virtualenv with the CLI
and run with ``envcapture run`` with the network cut off and the project and its virtualenv
renamed away (`ship_support`).
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ship_support import Job, Shop, build_job, cli, open_shop, run_offline

# What the report says of each file, and why: one line each, as `envcapture analyze` prints
# them when piped.
REPORTED = [
    "cfg/data.yaml  named in cmd",
    "cfg/model.yaml  named by train.py:16 (argparse default)",
    "config/train_x.py  named in cmd",
    "configurator.py  read by train.py:13 (exec(open(...)))",
    "overrides.py  reached from configurator.py:8",
    "tinylm/__init__.py  reached from train.py:6",
    "tinylm/assets/vocab.json  read by tinylm/vocab.py:4 (__file__-relative); "
    "read by tinylm/vocab.py:8 (Path(...).read_text(), __file__-relative)",
    "tinylm/vocab.py  reached from train.py:6",
    "train.py  entry point",
]
NOT_SHIPPED = [
    ".env  read by train.py:26 (open)  [never ships (dotenv)]",
    "data/tokens.txt  read by train.py:22 (open)  [a job input: it travels in inputs]",
]
SHIPPED = [line.split("  ")[0] for line in REPORTED]
OUTPUT = "trained on tiny_char: batch 8, model: tiny (2 layers), data: tiny_char, vocab <s> a b, 5 tokens, .env absent"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with open_shop(tmp_path_factory) as opened:
        yield opened


@pytest.fixture(scope="module")
def nanolike(shop: Shop) -> Job:
    return build_job(shop, "nanolike")


def test_the_report_lists_each_file_with_its_reason(nanolike: Job) -> None:
    done = cli("analyze", "--config", nanolike.project / "config.yaml", "--python", nanolike.python,
               cache=nanolike.cache, cwd=nanolike.project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    shipped = lines[lines.index("Local files to ship (9):") + 1 : lines.index("Read by the job, not shipped (2):")]
    assert shipped == REPORTED
    assert lines[lines.index("Read by the job, not shipped (2):") + 1 :][:2] == NOT_SHIPPED
    # The file configurator.py runs is analysed: its import of overrides ships it, and counts.
    assert "Standard library: argparse, ast, json, os, pathlib, sys" in lines


def test_json_and_explain_give_the_reasons(nanolike: Job) -> None:
    config = nanolike.project / "config.yaml"
    done = cli("analyze", "--config", config, "--python", nanolike.python, "--json", cache=nanolike.cache, cwd=nanolike.project)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    files = {f["path"]: f for f in doc["data_files"]}
    assert files["configurator.py"]["analysed"] and files["configurator.py"]["ships"]
    assert [(r["use"], r["file"], r["line"], r["how"]) for r in files["configurator.py"]["reasons"]] == [
        ("exec", "train.py", 13, "exec(open(...))")
    ]
    assert [r["text"] for r in files["cfg/data.yaml"]["reasons"]] == ["named in cmd"]
    assert (files[".env"]["ships"], files[".env"]["left_out"]) == (False, "dotenv")
    assert files["data/tokens.txt"]["left_out"] == "job-input"
    assert all(r["from_file_dir"] for r in files["tinylm/assets/vocab.json"]["reasons"])
    done = cli("analyze", "--config", config, "--python", nanolike.python, "--explain", "tinylm/assets/vocab.json",
               cache=nanolike.cache, cwd=nanolike.project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "tinylm/assets/vocab.json ships as local code because:",
        "  train.py is an entry point",
        "  train.py:6 imports tinylm.vocab (tinylm/vocab.py)",
        "  tinylm/vocab.py:4 reads tinylm/assets/vocab.json (__file__-relative)",
        "  also read by tinylm/vocab.py:8 (Path(...).read_text(), __file__-relative)",
    ]


def test_every_file_read_by_path_ships_and_verify_finds_it(nanolike: Job) -> None:
    assert nanolike.build.returncode == 0, nanolike.build.stderr
    assert "verified offline with Python 3.11" in nanolike.build.stdout
    assert "envcapture: note: left out .env (dotenv)" in nanolike.build.stderr
    local = nanolike.manifest()["local_code"]
    assert [f["path"] for f in local["files"]] == SHIPPED
    with tarfile.open(nanolike.bundle / "local-code.tar.gz") as archive:
        assert sorted(archive.getnames()) == SHIPPED  # no .env, no input
    assert local["excluded"] == [{"path": ".env", "rule": "dotenv"}]
    read = {f["path"]: (f["shipped"], f["left_out"], f["reasons"]) for f in local["read_files"]}
    assert read["configurator.py"] == (True, None, ["read by train.py:13 (exec(open(...)))"])
    assert read["data/tokens.txt"][:2] == (False, "job-input")
    # verify looked for each shipped file where the code expects it: the working directory,
    # or next to tinylm/vocab.py as imported.
    done = cli("verify", nanolike.bundle, "--json", cache=nanolike.cache, cwd=nanolike.bundle.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    checked = {c["subject"] for c in json.loads(done.stdout)["checks"] if c["step"] == "file" and c["ok"]}
    assert checked == {"cfg/data.yaml", "cfg/model.yaml", "config/train_x.py", "configurator.py", "tinylm/assets/vocab.json"}
    (entry, _) = nanolike.manifest()["verify"]["entries"]
    assert {
        "path": "tinylm/assets/vocab.json",
        "kind": "file",
        "module": "tinylm.vocab",
        "relative": "assets/vocab.json",
        "by": "read by tinylm/vocab.py:4 (__file__-relative)",
    } in entry["read_files"]


def test_verify_fails_when_a_read_file_is_not_where_the_code_expects_it(nanolike: Job, tmp_path: Path) -> None:
    bundle = shutil.copytree(nanolike.bundle, tmp_path / "bundle")
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    reads = manifest["verify"]["entries"][0]["read_files"]
    moved = next(r for r in reads if r["module"] == "tinylm.vocab")
    moved["relative"] = "assets/gone.json"  # the code would look for it elsewhere than where it ships
    (bundle / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    done = cli("verify", bundle, "--json", cache=nanolike.cache, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [(c["step"], c["subject"], c["detail"]) for c in json.loads(done.stdout)["checks"] if not c["ok"]]
    assert failed == [
        (
            "file",
            "tinylm/assets/vocab.json",
            "not found at tinylm/assets/gone.json, where the code expects it (read by tinylm/vocab.py:4 (__file__-relative))",
        )
    ]


def test_the_job_runs_offline_and_prints_what_it_read(nanolike: Job, tmp_path: Path) -> None:
    done = run_offline(nanolike, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Overriding config with config/train_x.py", OUTPUT]
    assert (tmp_path / "run" / "outputs" / "results" / "train.txt").read_text() == OUTPUT + "\n"
