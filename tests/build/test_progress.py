"""Issue 13 item 7: progress of large downloads, and a store that a killed build leaves whole.

A 6 MB wheel is served slowly by an index on 127.0.0.1 (tests/index_server.py, ``rate``):
on a terminal (a pty) the build shows a bar with the bytes of the download; in a pipe it
prints one line per wheel; killed (SIGKILL, the whole process group) in the middle of the
download, it leaves no partial file in the store but the debris of its own download
directory, which the next build removes while it succeeds.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pty
import random
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from build_support import pyenv_python
from helpers import make_venv, pip_install
from index_server import IndexServer

from envcapture._fs import temp_prefix
from envcapture.build.store import Store, StoreKind

SIZE = 6_000_000
RATE = 1_500_000  # bytes per second: a download of 4 s


def _big_wheel(out_dir: Path) -> Path:
    """big-pkg 1.0: a pure wheel of ``SIZE`` random bytes, stored uncompressed."""
    blob = random.Random(13).randbytes(SIZE)
    files = {"big_pkg/__init__.py": b"SIZE = %d\n" % SIZE, "big_pkg/blob.bin": blob}
    info = "big_pkg-1.0.dist-info"
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: big-pkg\nVersion: 1.0\n"
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: envcapture-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = ""
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / "big_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return wheel


@dataclass(frozen=True)
class BigJob:
    project: Path
    python: Path
    wheel: Path
    server: IndexServer


@pytest.fixture(scope="module")
def big_job(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    py311 = sys.executable if sys.version_info[:2] == (3, 11) else pyenv_python("3.11")
    if py311 is None:
        pytest.skip("no CPython 3.11 on this machine")
    root = tmp_path_factory.mktemp("big-job")
    wheel = _big_wheel(root / "index")
    python = make_venv(root / "venv", py311)
    pip_install(python, "--no-deps", "big-pkg==1.0", find_links=[root / "index"])
    server = IndexServer(root / "index").start()
    project = root / "project"
    project.mkdir()
    (project / "main.py").write_text("import big_pkg\n", "utf-8")
    (project / "config.yaml").write_text(
        f"name: big\ncmd: python main.py\nenv:\n  python:\n    type: auto\n    pip:\n      index-url: {server.url}\n", "utf-8"
    )
    yield BigJob(project=project, python=python, wheel=wheel, server=server)
    server.stop()


def _build_cmd(job: BigJob, out: Path) -> list[str]:
    return [sys.executable, "-m", "envcapture.cli", "build", "--config", "config.yaml", "--python", str(job.python),
            "-o", str(out), "--no-verify"]  # fmt: skip


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "ENVCAPTURE_CACHE_DIR": str(cache), "COLUMNS": "120"}


def _partial_downloads(tmp: Path) -> list[Path]:
    return [p for p in tmp.rglob("*.whl") if p.is_file() and 0 < p.stat().st_size < SIZE]


@pytest.mark.slow
def test_a_build_killed_mid_download_leaves_no_partial_file_and_the_rerun_succeeds(big_job: BigJob, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    store = Store(cache / "store")
    big_job.server.rate = RATE
    proc = subprocess.Popen(
        _build_cmd(big_job, tmp_path / "bundle"), cwd=big_job.project, env=_env(cache),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while not [p for p in _partial_downloads(store.tmp_dir) if p.stat().st_size > 256 * 1024]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the build and its pip, mid-download
        proc.communicate()
        big_job.server.rate = None
    # Nothing partial in the store: no object, no index entry; the bytes pip had received lie
    # in the killed build's own download directory (pip's TMPDIR), named after its pid.
    assert list(store.objects_dir.glob("*/*")) == [] and list(store.index_dir.glob("*/*")) == []
    debris = sorted(p.name for p in store.tmp_dir.iterdir())
    assert debris and all(name.startswith(f"envcapture-dl-{proc.pid}-") for name in debris), debris
    partial = _partial_downloads(store.tmp_dir)
    assert partial and all(f"envcapture-dl-{proc.pid}-" in str(p) and "/pip/" in str(p) for p in partial)
    assert not (tmp_path / "bundle").exists()

    rerun = subprocess.run(
        _build_cmd(big_job, tmp_path / "bundle"), cwd=big_job.project, env=_env(cache),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert f"envcapture: wheel 1/1: big-pkg 1.0 downloaded (6.0 MB) from {big_job.server.url}\n" in rerun.stderr
    assert not [p for p in store.tmp_dir.iterdir() if f"-{proc.pid}-" in p.name]  # the debris went
    objects = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in store.objects_dir.glob("*/*")}
    assert all(name == digest for name, digest in objects.items())  # every object whole
    assert hashlib.sha256(big_job.wheel.read_bytes()).hexdigest() in objects
    shipped = tmp_path / "bundle" / "wheelhouse" / big_job.wheel.name
    assert shipped.read_bytes() == big_job.wheel.read_bytes()


def _read_all(fd: int, sink: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            return
        if not data:
            return
        sink.append(data)


@pytest.mark.slow
def test_a_large_download_shows_a_bar_on_a_terminal(big_job: BigJob, tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    big_job.server.rate = RATE
    shown: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(primary, shown), daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            _build_cmd(big_job, tmp_path / "bundle"), cwd=big_job.project, env={**_env(tmp_path / "cache"), "TERM": "xterm"},
            stdout=subprocess.PIPE, stderr=secondary, timeout=600, check=False,
        )  # fmt: skip
    finally:
        big_job.server.rate = None
        os.close(secondary)
        reader.join(timeout=10)
        os.close(primary)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(shown).decode("utf-8", "replace"))
    assert done.returncode == 0, screen
    assert "downloading big-pkg 1.0" in screen
    amounts = re.findall(r"(\d+\.\d) MB of 6\.0 MB", screen)
    assert len(set(amounts)) >= 2, screen  # the bar moved as bytes came in
    assert "envcapture: wheel 1/1" not in screen  # a terminal gets the bar, not the lines of a pipe


# --- the store's staging files -------------------------------------------------------------------


def test_an_object_is_staged_under_its_writers_pid_and_a_dead_writers_file_is_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "store")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.tmp_dir.mkdir(parents=True)
    stale = store.tmp_dir / f"envcapture-put-{dead.pid}-abc.tmp"  # killed while staging an object
    stale.write_bytes(b"half an object")
    source = tmp_path / "x-1-py3-none-any.whl"
    source.write_bytes(b"wheel bytes")
    renamed: list[str] = []
    rename = os.replace

    def watch(src: str, dst: str) -> None:  # the real rename, watched
        renamed.append(Path(src).name)
        rename(src, dst)

    monkeypatch.setattr(os, "replace", watch)
    entry = store.put_file(source, kind=StoreKind.DOWNLOADED)
    monkeypatch.undo()
    assert renamed and renamed[0].startswith(temp_prefix("put")) and renamed[0].endswith(".tmp")
    assert entry.path.read_bytes() == b"wheel bytes" and entry.path.name == hashlib.sha256(b"wheel bytes").hexdigest()
    assert not stale.exists() and list(store.tmp_dir.iterdir()) == []
