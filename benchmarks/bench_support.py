"""What the build benchmarks share (bench_build.py, bench_torch.py; run as scripts, so
``benchmarks/`` is on ``sys.path``): a checked subprocess, a bundle's digest, a CPython 3.11."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path


def run_checked(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``cmd``'s result; exits with its output when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    return done  # type: ignore[no-any-return]


def digest_dir(path: Path) -> str:
    """One SHA-256 over every file's relative path and bytes (read in chunks: wheels of GBs)."""
    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        if item.is_file():
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
            with item.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def python_311(given: str | None) -> str:
    """``given``, else this interpreter when it is a 3.11, else pyenv's newest 3.11."""
    if given is not None:
        return given
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = sorted(Path("/root/.pyenv/versions").glob("3.11.*/bin/python"))
    if not found:
        sys.exit("no CPython 3.11: pass --python")
    return str(found[-1])
