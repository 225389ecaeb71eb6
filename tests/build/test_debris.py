"""Issue 16 item 8: temporary files of builds that were killed are removed by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from envcapture._fs import remove_debris, temp_prefix


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_debris_of_dead_builds_is_removed_live_ones_kept(tmp_path: Path) -> None:
    dead = _dead_pid()
    (tmp_path / f"envcapture-dl-{dead}-abc").mkdir()
    (tmp_path / f"envcapture-dl-{dead}-abc" / "x.whl").write_bytes(b"x")
    (tmp_path / f"envcapture-pip-{dead}-q.log").write_text("log")
    mine = tmp_path / f"{temp_prefix('dl')}live"
    mine.mkdir()
    (tmp_path / "envcapture-dl-oldstyle").mkdir()  # no pid: not ours to judge
    assert remove_debris(tmp_path, "dl") == 1
    assert remove_debris(tmp_path, "pip") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "envcapture-dl-oldstyle"])


def test_pip_logs_are_named_after_their_process() -> None:
    assert temp_prefix("pip") == f"envcapture-pip-{os.getpid()}-"
    assert tempfile.gettempdir()  # the directory run_pip sweeps once per process
