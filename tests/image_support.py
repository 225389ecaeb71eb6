"""Helpers of the image tests (``from image_support import ...``): a base root file system made
from this machine's CPython, a local registry (Debian's ``docker-registry``) and a private
``dockerd``. Each says why it cannot run instead of failing: the tests skip with that reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Registry",
    "Unavailable",
    "dockerd",
    "free_port",
    "make_python_rootfs",
    "registry_server",
]


class Unavailable(Exception):
    """The tool cannot run here; ``str()`` is the reason a test skips with."""


# Left out of the copied standard library: big and never imported by the fixture jobs.
_STDLIB_SKIP = frozenset({"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages", "__pycache__"})
# glibc's libraries, which the slim images ship whole (ldd of the interpreter finds only libc/libm).
_GLIBC = ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1", "libresolv.so.2")
_LIBDIR = Path("/lib/x86_64-linux-gnu")


def _ldd(path: Path) -> set[str]:
    done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    return set(re.findall(r"(/\S+\.so[.\d]*)", done.stdout))


def make_python_rootfs(python: str, dest: Path) -> Path:
    """A root file system tarball laid out like ``python:X.Y-slim``: the CPython of ``python``
    (a pyenv build) at ``/usr/local`` with ``/usr/local/bin/python3``, the system libraries
    ``ldd`` says it and its extension modules need, glibc, ``/bin/sh`` and an ``ld.so.cache``.
    Written deterministically (sorted, mtime 0, root owned). Returns ``dest``.

    :raises Unavailable: no ``ldd``/``ldconfig``, or ``python`` is not a relocatable build.
    """
    for tool in ("ldd", "ldconfig"):
        if shutil.which(tool) is None and not Path(f"/sbin/{tool}").exists():
            raise Unavailable(f"{tool} is not installed")
    exe = Path(python).resolve()
    prefix = exe.parent.parent
    xy = re.sub(r"^python", "", exe.name)
    stdlib = prefix / "lib" / f"python{xy}"
    if not (stdlib / "os.py").is_file():
        raise Unavailable(f"{python}: no standard library at {stdlib}")
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=dest.parent))
    root = work / "root"
    try:
        shutil.copytree(
            stdlib,
            root / "usr/local/lib" / f"python{xy}",
            symlinks=True,
            ignore=lambda _d, names: [n for n in names if n in _STDLIB_SKIP or n.endswith(".pyc") or n.startswith("config-")],
        )
        (root / "usr/local/lib" / f"python{xy}" / "site-packages").mkdir()
        (root / "usr/local/bin").mkdir(parents=True)
        shutil.copy2(exe, root / "usr/local/bin" / f"python{xy}")
        os.symlink(f"python{xy}", root / "usr/local/bin/python3")
        os.symlink("python3", root / "usr/local/bin/python")
        for lib in (prefix / "lib").glob(f"libpython{xy}*.so*"):
            if lib.is_file() and not lib.is_symlink():
                shutil.copy2(lib, root / "usr/local/lib" / lib.name)
        needed: set[str] = set()
        for binary in [exe, *(stdlib / "lib-dynload").glob("*.so"), Path("/bin/sh")]:
            needed |= {lib for lib in _ldd(binary) if not lib.startswith(str(prefix))}
        needed |= {str(_LIBDIR / name) for name in _GLIBC if (_LIBDIR / name).exists()}
        for lib in sorted(needed):
            target = root / lib.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(lib), target)
        (root / "bin").mkdir(exist_ok=True)
        shutil.copy2(os.path.realpath("/bin/sh"), root / "bin/sh")
        for name in ("etc", "tmp", "proc", "dev", "sys", "root"):
            (root / name).mkdir(exist_ok=True)
        (root / "tmp").chmod(0o1777)
        (root / "etc/ld.so.conf").write_text("/usr/local/lib\n")
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "etc/group").write_text("root:x:0:\n")
        ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
        subprocess.run([ldconfig, "-r", str(root)], check=True, capture_output=True)
        paths: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                paths.append(rel)
            base = "" if rel == "." else f"{rel}/"
            paths += [base + n for n in filenames]
            paths += [base + d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]

        def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            return info

        with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
            for rel in sorted(paths, key=lambda p: p.split("/")):
                tar.add(root / rel, arcname=rel, recursive=False, filter=normalize)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bcrypt(password: str) -> str:
    try:
        import bcrypt
    except ImportError:
        htpasswd = shutil.which("htpasswd")
        if htpasswd is None:
            raise Unavailable(
                "neither the bcrypt package nor htpasswd is installed (the registry's htpasswd needs bcrypt)"
            ) from None
        done = subprocess.run([htpasswd, "-nbB", "x", password], capture_output=True, text=True, check=True)
        return done.stdout.strip().split(":", 1)[1]
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    username: str
    password: str
    docker_config: Path  # a DOCKER_CONFIG directory whose config.json holds the credentials


@contextmanager
def registry_server(root: Path) -> Iterator[Registry]:
    """Debian's ``docker-registry`` on 127.0.0.1 with htpasswd auth, storage under ``root``.

    :raises Unavailable: not installed, or it does not answer.
    """
    exe = shutil.which("docker-registry") or shutil.which("registry")
    if exe is None:
        raise Unavailable("docker-registry is not installed (apt-get install docker-registry)")
    root.mkdir(parents=True, exist_ok=True)
    user, password = "envcapture", "test-password"
    (root / "htpasswd").write_text(f"{user}:{_bcrypt(password)}\n")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: envcapture-tests\n"
        f"auth:\n  htpasswd:\n    realm: envcapture-tests\n    path: {root / 'htpasswd'}\n"
    )
    log = open(root / "registry.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([exe, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
                break
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "registry.log").read_text(errors="replace")[-500:]
                raise Unavailable(f"docker-registry did not start: {tail.strip()}")
            time.sleep(0.1)
        docker_config = root / "docker-config"
        docker_config.mkdir()
        import base64

        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        (docker_config / "config.json").write_text(json.dumps({"auths": {f"127.0.0.1:{port}": {"auth": auth}}}))
        yield Registry(host=f"127.0.0.1:{port}", username=user, password=password, docker_config=docker_config)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _ping(host: str | None) -> Any:
    import docker

    env = dict(os.environ)
    if host is not None:
        env["DOCKER_HOST"] = host
    client = docker.from_env(environment=env, timeout=300)
    client.ping()
    return client


@contextmanager
def dockerd() -> Iterator[tuple[Any, str | None]]:
    """(Docker SDK client, DOCKER_HOST or None for the default): a daemon that is already
    reachable, else a private ``dockerd`` started here as root (vfs storage, no iptables,
    no bridge; the data under a temporary directory) and stopped on exit.

    :raises Unavailable: no SDK, no daemon and none can start (the reason says why).
    """
    try:
        import docker  # noqa: F401
    except ImportError:
        raise Unavailable("the Docker SDK (pip package docker) is not installed") from None
    existing = None
    try:
        existing = _ping(os.environ.get("DOCKER_HOST"))
    except Exception as exc:  # noqa: BLE001 - any SDK or transport error means "no daemon"
        first = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if existing is not None:
        yield existing, os.environ.get("DOCKER_HOST")
        return
    exe = shutil.which("dockerd")
    if exe is None:
        raise Unavailable(f"no Docker daemon reachable ({first}) and dockerd is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise Unavailable(f"no Docker daemon reachable ({first}) and starting dockerd needs root")
    root = Path(tempfile.mkdtemp(prefix="ecdockerd-", dir="/tmp"))  # short: unix socket paths are limited
    host = f"unix://{root}/docker.sock"
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            exe,
            "--storage-driver=vfs",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            f"--data-root={root}/data",
            f"--exec-root={root}/exec",
            f"--pidfile={root}/dockerd.pid",
            f"--host={host}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        client = None
        while client is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "dockerd.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise Unavailable(f"no Docker daemon reachable ({first}) and dockerd did not start: {' | '.join(tail)}")
            if (root / "docker.sock").exists():
                try:
                    client = _ping(host)
                except Exception:  # noqa: BLE001, S110 - not ready yet
                    pass
            time.sleep(0.2)
        yield client, host
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["umount", "-R", f"{root}/exec"], capture_output=True, check=False)
        subprocess.run(["umount", "-R", f"{root}/data"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
