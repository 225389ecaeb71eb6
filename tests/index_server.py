"""A real PEP 503 "simple" index served over HTTP on the loopback, for pip, uv and envcapture.

``IndexServer(directory)`` serves every wheel/sdist in ``directory``:

* ``/simple/`` lists the projects, ``/simple/<normalized-name>/`` their files, each link
  ``../../files/<filename>#sha256=<hex>`` with ``data-requires-python`` from the wheel;
* ``/files/<filename>`` serves the bytes; anything else is a 404.

It binds an ephemeral port on 127.0.0.1 and runs in a daemon thread; ``url`` can name
another host that resolves to the loopback (``http://vm:PORT/simple``), which pip treats
as insecure unless it is a ``--trusted-host``. ``requests`` records every path served.
``credentials=("user", "token")`` makes every path require that HTTP Basic auth;
``rate`` (bytes per second) serves files slowly, in 64 KiB chunks, to watch a download.

The ``index_server`` fixture is a factory: ``index_server(wheels_dir)``; servers stop at
teardown. Import it into a test module: ``from index_server import index_server``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

__all__ = ["IndexServer", "build_fixture_wheel", "index_dirs", "index_server", "loopback_alias"]


def build_fixture_wheel(source: Path, out_dir: Path) -> Path:
    """Build the wheel of the small setuptools project at ``source`` without setuptools.

    Reads ``[project]`` (name, version, requires-python, dependencies,
    optional-dependencies) and ``[tool.setuptools] packages`` from ``pyproject.toml`` and
    ``[bdist_wheel] plat_name`` from ``setup.cfg``; writes a spec-compliant wheel (METADATA
    2.1, WHEEL, RECORD with hashes) with fixed timestamps, so the bytes, and hashes, are
    the same on every run. ~100x faster than ``pip wheel`` with setuptools, which matters
    for an index of a dozen wheels built per session.
    """
    import configparser

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((source / "pyproject.toml").read_text("utf-8"))["project"]
    setuptools_cfg = tomllib.loads((source / "pyproject.toml").read_text("utf-8")).get("tool", {}).get("setuptools", {})
    name, version = project["name"], project["version"]
    plat = "any"
    cfg = source / "setup.cfg"
    if cfg.exists():
        parser = configparser.ConfigParser()
        parser.read(cfg)
        plat = parser.get("bdist_wheel", "plat_name", fallback="any")
    dist = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    tag = f"py3-none-{plat}"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if project.get("requires-python"):
        meta.append(f"Requires-Python: {project['requires-python']}")
    meta += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    for extra, deps in sorted(project.get("optional-dependencies", {}).items()):
        meta.append(f"Provides-Extra: {extra}")
        for dep in deps:
            marker = f'extra == "{extra}"'
            meta.append(f"Requires-Dist: {dep} ; {marker}" if ";" not in dep else f"Requires-Dist: {dep} and {marker}")
    files: dict[str, bytes] = {}
    for package in setuptools_cfg.get("packages", []):
        for path in sorted((source / package).rglob("*.py")):
            files[path.relative_to(source).as_posix()] = path.read_bytes()
    info = f"{dist}.dist-info"
    files[f"{info}/METADATA"] = ("\n".join(meta) + "\n").encode()
    files[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: envcapture-tests\nRoot-Is-Purelib: true\nTag: {tag}\n").encode()
    record = ""
    for arcname, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{arcname},sha256={digest},{len(data)}\n"
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in files.items():
            entry = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return wheel


def _project(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except ValueError:
        return None


def _requires_python(path: Path) -> str | None:
    if not path.name.endswith(".whl"):
        return None
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".dist-info/METADATA"):
                meta = Parser().parsestr(archive.read(name).decode("utf-8"))
                return meta.get("Requires-Python")
    return None


class IndexServer:
    """A PEP 503 index of the files in ``directory`` on 127.0.0.1 (see the module doc)."""

    def __init__(
        self,
        directory: Path,
        *,
        host_name: str = "127.0.0.1",
        credentials: tuple[str, str] | None = None,
        rate: float | None = None,
        json_pages: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.json_pages = json_pages  # PEP 691 JSON project pages (with PEP 700 sizes) to who asks
        self.host_name = host_name
        self.credentials = credentials
        self.rate = rate  # bytes per second for /files/ (None: at once); may change while serving
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
                pass

            def do_HEAD(self) -> None:
                self.do_GET(head=True)

            def do_GET(self, head: bool = False) -> None:
                server.requests.append(self.path)
                if server.credentials is not None:
                    user, token = server.credentials
                    expected = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="index"')
                        self.end_headers()
                        return
                status, body, ctype = server._route(unquote(self.path.split("?", 1)[0]), self.headers.get("Accept", ""))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return
                rate = server.rate if self.path.startswith("/files/") else None
                if not rate:
                    self.wfile.write(body)
                    return
                chunk = 64 * 1024
                try:
                    for start in range(0, len(body), chunk):
                        self.wfile.write(body[start : start + chunk])
                        self.wfile.flush()
                        time.sleep(chunk / rate)
                except OSError:  # the client went away (killed mid-download)
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The index URL, ``http://<host_name>:<port>/simple``."""
        return f"http://{self.host_name}:{self.port}/simple"

    @property
    def files_url(self) -> str:
        return f"http://{self.host_name}:{self.port}/files"

    def start(self) -> IndexServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _files(self) -> dict[str, list[Path]]:
        projects: dict[str, list[Path]] = {}
        for path in sorted(self.directory.iterdir()):
            name = _project(path.name)
            if name is not None:
                projects.setdefault(canonicalize_name(name), []).append(path)
        return projects

    def _route(self, path: str, accept: str = "") -> tuple[int, bytes, str]:
        projects = self._files()
        parts = [p for p in path.split("/") if p]
        if parts == ["simple"]:
            links = "".join(f'<a href="{n}/">{n}</a>\n' for n in sorted(projects))
            return 200, _page("Simple index", links), "text/html"
        if len(parts) == 2 and parts[0] == "simple":
            files = projects.get(canonicalize_name(parts[1]))
            if not files or parts[1] != canonicalize_name(parts[1]):
                return 404, b"not found", "text/plain"
            if self.json_pages and _SIMPLE_JSON in accept:
                entries = []
                for file in files:
                    entry = {"filename": file.name, "url": f"../../files/{file.name}", "size": file.stat().st_size}
                    entry["hashes"] = {"sha256": hashlib.sha256(file.read_bytes()).hexdigest()}
                    rp = _requires_python(file)
                    if rp:
                        entry["requires-python"] = rp
                    entries.append(entry)
                doc = {"meta": {"api-version": "1.1"}, "name": parts[1], "files": entries}
                return 200, json.dumps(doc).encode(), _SIMPLE_JSON
            links = ""
            for file in files:
                digest = hashlib.sha256(file.read_bytes()).hexdigest()
                rp = _requires_python(file)
                attr = f' data-requires-python="{html.escape(rp)}"' if rp else ""
                links += f'<a href="../../files/{file.name}#sha256={digest}"{attr}>{file.name}</a>\n'
            return 200, _page(f"Links for {parts[1]}", links), "text/html"
        if len(parts) == 2 and parts[0] == "files":
            file = self.directory / parts[1]
            if file.is_file() and file.parent == self.directory:
                return 200, file.read_bytes(), "application/octet-stream"
        return 404, b"not found", "text/plain"


_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def _page(title: str, links: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
        f"<title>{title}</title></head><body>\n{links}</body></html>\n"
    ).encode()


def loopback_alias() -> str | None:
    """A host name other than ``localhost`` that resolves to 127.0.0.0/8 (from /etc/hosts),
    so pip treats an index there as plain HTTP on a remote host; ``None`` when none does."""
    for name in ("vm", "runsc", socket.gethostname()):
        try:
            address = socket.gethostbyname(name)
        except OSError:
            continue
        if address.startswith("127.") and name != "localhost":
            return name
    return None


@pytest.fixture
def index_server() -> Iterator[object]:
    """Factory: ``index_server(directory, host_name=..., credentials=...)`` -> a started `IndexServer`."""
    started: list[IndexServer] = []

    def factory(directory: Path, **kwargs: object) -> IndexServer:
        server = IndexServer(directory, **kwargs).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


# --- the fixture distributions of the lock/index tests -----------------------------------------

PRIVATE_INDEX = (
    "lock-app",
    "lock-linuxdep",
    "lock-extras",
    "lock-speedup",
    "lock-private",
    "lock-localver",
    "lock-localver-public",
)
"""Projects under tests/fixtures/dists served by the "private" index (the --index-url)."""
PUBLIC_INDEX = ("lock-private-public", "lock-localver-public")
"""Served by the second, "public" index: lock-private 9.0 shadows the private 1.0."""


@pytest.fixture(scope="session")
def index_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(private, public) directories of fixture wheels, built once per session."""
    from helpers import FIXTURE_DISTS

    private = tmp_path_factory.mktemp("index-private")
    public = tmp_path_factory.mktemp("index-public")
    for name in PRIVATE_INDEX:
        build_fixture_wheel(FIXTURE_DISTS / name, private)
    for name in PUBLIC_INDEX:
        build_fixture_wheel(FIXTURE_DISTS / name, public)
    return private, public
