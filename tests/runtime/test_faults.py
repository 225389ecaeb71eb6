"""Issue 16: the runtime against faults and crafted bundles: a full disk, output paths
that leave the run directory, two runs on one directory, I/O errors at setup."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from envcapture.errors import InputError
from envcapture.runtime.run import RunState, run_bundle

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the runtime targets Linux")


def _envcapture(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envcapture.cli", *args],
        cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def _plain_bundle(tmp_path: Path, cmd: str, extra: str = "") -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "in.txt").write_text("in\n")
    (project / "config.yaml").write_text(f"name: j\ncmd: {cmd}\ninputs:\n  - in.txt\n{extra}")
    out = tmp_path / "bundle"
    done = _envcapture("build", "-c", str(project / "config.yaml"), "-o", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    return out


def _status(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "status.json").read_text()))


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_during_the_run_fails_cleanly(tmp_path: Path, small_disk: Path) -> None:
    # the job writes 20 MB to stdout on a 2 MB disk: the log fills it
    bundle = _plain_bundle(tmp_path, "head -c 20000000 /dev/zero")
    run_dir = small_disk / "run"
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "run", str(bundle), "--workdir", str(run_dir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert time.monotonic() - began < 60
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    status = _status(run_dir)
    assert status["state"] == "Failed"
    assert status["exit_code"] == 0  # the job itself ran to its end, drained
    assert status["error"].startswith(f"{run_dir / 'logs' / 'stdout.log'}: cannot write the log after ")
    assert "No space left on device; the rest of the job's output was not kept" in status["error"]


def test_run_directory_too_small_for_the_inputs(tmp_path: Path, small_disk: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "big.bin").write_bytes(os.urandom(4 << 20))  # incompressible: 4 MB on a 2 MB disk
    (project / "config.yaml").write_text("name: j\ncmd: ls\ninputs:\n  - big.bin\n")
    bundle = tmp_path / "bundle"
    assert _envcapture("build", "-c", str(project / "config.yaml"), "-o", str(bundle), "--no-progress").returncode == 0
    run_dir = small_disk / "run"
    done = _envcapture("run", str(bundle), "--workdir", str(run_dir))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("envcapture: error:")]
    assert lines == [
        f"envcapture: error: bundle/inputs.tar.gz: cannot be unpacked into {run_dir / 'work' / 'big.bin'}: No space left on device"
    ]
    status = _status(run_dir)
    assert (status["state"], status["error"]) == ("Failed", lines[0].removeprefix("envcapture: error: "))


def _crafted(bundle: Path, **job: Any) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["job"].update(job)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("path", ["../../escaped/evil.bin", "/tmp/envcapture-escape/evil.bin", "a/../../evil.bin", ""])
def test_crafted_output_paths_never_leave_the_run_directory(tmp_path: Path, path: str) -> None:
    bundle = _plain_bundle(tmp_path, "ls")
    _crafted(bundle, outputs=[{"path": path, "var": "O"}])
    run_dir = tmp_path / "runs" / "run"
    with pytest.raises(InputError) as caught:
        run_bundle(bundle, run_dir, stdout=None, stderr=None)
    assert str(caught.value) == (
        f"manifest.json: job.outputs[0].path: {path!r} is not a path inside the job's working directory; "
        "refusing to write outside the run directory"
    )
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["run"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["status.json"]
    assert not Path("/tmp/envcapture-escape").exists() and not (tmp_path / "escaped").exists()
    assert _status(run_dir)["state"] == RunState.FAILED.value


def test_crafted_input_paths_are_refused(tmp_path: Path) -> None:
    bundle = _plain_bundle(tmp_path, "ls")
    _crafted(bundle, inputs=[{"path": "../x", "var": "X", "type": "file"}])
    with pytest.raises(InputError, match=r"job.inputs\[0\].path: '../x' is not a path inside"):
        run_bundle(bundle, tmp_path / "run", stdout=None, stderr=None)


def test_second_run_on_a_claimed_directory_is_refused(tmp_path: Path) -> None:
    # two runs that both saw the directory empty: the O_EXCL marker lets one through
    from envcapture.runtime.run import _Status

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _Status(run_dir, tmp_path).create()
    with pytest.raises(InputError) as caught:
        _Status(run_dir, tmp_path).create()
    assert str(caught.value) == f"{run_dir}: another run started in this directory; give a new --workdir"


def test_unwritable_run_directory_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    bundle = _plain_bundle(tmp_path, "ls")
    done = _envcapture("run", str(bundle), "--workdir", str(parent / "run"))
    assert done.returncode == 2
    assert f"envcapture: error: {parent / 'run'}: cannot create the run directory: Permission denied" in done.stderr


def _tar_gz(path: Path, entries: dict[str, bytes]) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_an_input_entry_never_overwrites_local_code(tmp_path: Path) -> None:
    from envcapture.runtime.run import _extract

    work = tmp_path / "work"
    work.mkdir()
    local = _tar_gz(tmp_path / "local-code.tar.gz", {"train.py": b"print('mine')\n", "cfg.py": b"A = 1\n"})
    assert _extract(local, work, "b/local-code.tar.gz") == 2
    same = _tar_gz(tmp_path / "same.tar.gz", {"cfg.py": b"A = 1\n", "data.csv": b"x\n"})
    assert _extract(same, work, "b/inputs.tar.gz", over="local-code.tar.gz") == 1  # identical bytes: skipped
    evil = _tar_gz(tmp_path / "evil.tar.gz", {"train.py": b"import os; os.system('evil')\n"})
    with pytest.raises(InputError) as caught:
        _extract(evil, work, "b/inputs.tar.gz", over="local-code.tar.gz")
    assert str(caught.value) == "b/inputs.tar.gz: entry 'train.py' would overwrite train.py of local-code.tar.gz; refused"
    assert (work / "train.py").read_bytes() == b"print('mine')\n"


def _pgid_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def test_killed_runtime_takes_the_job_with_it(tmp_path: Path) -> None:
    bundle = _plain_bundle(tmp_path, "sleep 313 & sleep 314")  # a shell and two children
    run_dir = tmp_path / "run"
    runtime = subprocess.Popen(
        [sys.executable, "-m", "envcapture.cli", "run", str(bundle), "--workdir", str(run_dir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (run_dir / "status.json").exists() and _status(run_dir).get("pid"):
                break
            time.sleep(0.1)
        pgid = int(_status(run_dir)["pid"])
        time.sleep(0.3)
        assert len(_pgid_members(pgid)) >= 2
        runtime.kill()
        runtime.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _pgid_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _pgid_members(pgid) == []
    finally:
        if runtime.poll() is None:
            runtime.kill()


def test_nul_in_a_crafted_cmd_is_exit_126_not_a_crash(tmp_path: Path) -> None:
    bundle = _plain_bundle(tmp_path, "ls")
    _crafted(bundle, cmd="py\x00thon main.py")
    run_dir = tmp_path / "run"
    done = _envcapture("run", str(bundle), "--workdir", str(run_dir))
    assert done.returncode == 1, done.stderr
    assert "envcapture: cannot start 'py\\x00thon': embedded null byte" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    status = _status(run_dir)
    assert (status["state"], status["exit_code"]) == ("Failed", 126)


def test_build_output_on_a_full_disk_is_one_line_exit_3(tmp_path: Path, small_disk: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "big.bin").write_bytes(os.urandom(4 << 20))  # incompressible: 4 MB on a 2 MB disk
    (project / "config.yaml").write_text("name: j\ncmd: ls\ninputs:\n  - big.bin\n")
    done = _envcapture("build", "-c", str(project / "config.yaml"), "-o", str(small_disk / "bundle"), "--no-progress")
    assert done.returncode == 3, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"envcapture: error: {small_disk}/bundle.tmp-")
    assert line.endswith("/inputs.tar.gz: cannot write the archive: No space left on device")
    assert os.listdir(small_disk) == []  # the partial bundle is removed


def test_build_output_on_a_read_only_disk_is_one_line_exit_3(tmp_path: Path, small_disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    bundle_dir = small_disk / "bundle"
    project = tmp_path / "project"
    project.mkdir()
    (project / "in.txt").write_text("x\n")
    (project / "config.yaml").write_text("name: j\ncmd: ls\ninputs:\n  - in.txt\n")
    done = _envcapture("build", "-c", str(project / "config.yaml"), "-o", str(bundle_dir), "--no-progress")
    assert done.returncode == 3, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"envcapture: error: {small_disk}/bundle.tmp-")
    assert line.endswith(": cannot create the bundle directory: Read-only file system")
