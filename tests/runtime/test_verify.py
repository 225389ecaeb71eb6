"""``envcapture verify``: offline install into a fresh virtualenv, then imports (envcapture/builders/verify.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from build_support import INDEX_WHEELS, BuildJob, Built
from click.testing import CliRunner

from envcapture.cli import cli
from envcapture.errors import InputError
from envcapture.runtime import verify as verify_mod
from envcapture.runtime.verify import (
    Check,
    offline_prefix,
    read_manifest,
    verify_bundle,
)


def _copy(built: Built, dest: Path) -> Path:
    shutil.copytree(built.bundle, dest)
    return dest


def _edit_manifest(bundle: Path, **changes: object) -> None:
    path = bundle / "manifest.json"
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def test_cli_verify_ok(cold_build: Built) -> None:
    done = CliRunner().invoke(cli, ["verify", str(cold_build.bundle), "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert (doc["schema"], doc["ok"]) == ("envcapture/verify", True)
    steps = [(c["step"], c["subject"]) for c in doc["checks"]]
    assert ("install", "requirements.lock.txt") in steps
    assert [s for step, s in steps if step == "import"] == ["editdep", "psutil", "vcsdep"]
    assert sum(1 for step, _ in steps if step == "hash") == 7
    if offline_prefix():
        assert doc["offline_method"].startswith("network cut off by unshare -")
    assert "PIP_NO_INDEX=1, proxies at 127.0.0.1:9" in doc["offline_method"]


def test_install_is_offline(cold_build: Built, buildjob: BuildJob, tmp_path: Path) -> None:
    """Without psutil's wheel the install fails, although the lock names an index that
    serves psutil and that index is up: verification never reaches the network."""
    bundle = _copy(cold_build, tmp_path / "bundle")
    (bundle / "wheelhouse" / INDEX_WHEELS["psutil"]).unlink()
    manifest = json.loads((bundle / "manifest.json").read_text())
    _edit_manifest(bundle, artifacts=[a for a in manifest["artifacts"] if "psutil" not in a["path"]])
    assert buildjob.index.url in (bundle / "requirements.lock.txt").read_text()
    before = len(buildjob.index.requests)
    result = verify_bundle(bundle)
    assert not result.ok
    install = next(c for c in result.checks if c.step == "install")
    assert not install.ok
    assert "psutil" in install.detail
    assert len(buildjob.index.requests) == before  # the index was never asked
    assert Check(step="import", subject="psutil", ok=False, detail="not tried: the install failed") in result.failures


def test_cli_verify_human_output_says_how_the_network_was_cut_and_leads_with_failure(cold_build: Built, tmp_path: Path) -> None:
    ok = CliRunner().invoke(cli, ["verify", str(cold_build.bundle)])
    assert ok.exit_code == 0, ok.output
    first = ok.stdout.splitlines()[0]
    assert first.startswith("verified with Python ")
    assert "(no network namespace)" not in first
    if offline_prefix():
        assert "offline: network cut off by unshare -" in first and "(an empty network namespace)" in first
    bundle = _copy(cold_build, tmp_path / "bundle")
    (bundle / "wheelhouse" / INDEX_WHEELS["psutil"]).unlink()
    failed = CliRunner().invoke(cli, ["verify", str(bundle)])
    assert failed.exit_code == 1
    lines = failed.stdout.splitlines()
    assert lines[0].startswith("verify FAILED: ") and "verified" not in failed.stdout, failed.stdout
    assert any(line.startswith("  FAILED hash wheelhouse/") for line in lines)


def test_tampered_wheel_and_missing_module_fail(cold_build: Built, tmp_path: Path) -> None:
    bundle = _copy(cold_build, tmp_path / "bundle")
    wheel = bundle / "wheelhouse" / "build_vcsdep-1.2.0-py3-none-any.whl"
    data = bytearray(wheel.read_bytes())
    data[-30] ^= 0xFF
    wheel.write_bytes(bytes(data))
    result = verify_bundle(bundle)
    failed = {(c.step, c.subject) for c in result.failures}
    assert ("hash", "wheelhouse/build_vcsdep-1.2.0-py3-none-any.whl") in failed
    assert ("install", "requirements.lock.txt") in failed  # pip's --require-hashes refuses it too

    bundle2 = _copy(cold_build, tmp_path / "bundle2")
    _edit_manifest(bundle2, verify_modules=["editdep", "no_such_module", "psutil"])
    done = CliRunner().invoke(cli, ["verify", str(bundle2)])
    assert done.exit_code == 1
    assert "FAILED import no_such_module: ModuleNotFoundError: No module named 'no_such_module'" in done.stdout
    assert "ok: " in done.stdout and "7 hash, 2 import, 1 install, " in done.stdout  # then the job's own checks


def test_no_interpreter_of_the_target_version_skips_with_exit_3(cold_build: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_mod, "find_interpreter", lambda *a, **k: None)
    done = CliRunner().invoke(cli, ["verify", str(cold_build.bundle)])
    assert done.exit_code == 3
    assert (
        "envcapture: error: verify bundle: no CPython 3.11 on this machine; verification skipped "
        "(install Python 3.11 (pyenv install 3.11) or pass --python PATH)"
    ) in done.output


def test_read_manifest_checks_schema_and_major(cold_build: Built, tmp_path: Path) -> None:
    assert read_manifest(cold_build.bundle)["schema"] == "envcapture/manifest"
    bundle = _copy(cold_build, tmp_path / "bundle")
    _edit_manifest(bundle, schema_version="2.0")
    with pytest.raises(InputError, match=r"manifest schema_version '2\.0'; this envcapture reads 1\.3 \(major 1\)$"):
        read_manifest(bundle)
    _edit_manifest(bundle, schema="envcapture/environment", schema_version="1.0")
    with pytest.raises(InputError, match=r"not an envcapture manifest \(schema 'envcapture/environment'\)$"):
        read_manifest(bundle)
    with pytest.raises(InputError, match=r"no such file; is .* an envcapture bundle\?$"):
        read_manifest(tmp_path)
    done = CliRunner().invoke(cli, ["verify", str(tmp_path)])
    assert done.exit_code == 2
