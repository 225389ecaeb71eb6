"""envcapture._http: one urllib client, http(s) only, loopback never through a proxy."""

from __future__ import annotations

import http.server
import threading
import urllib.error
from collections.abc import Iterator

import pytest

from envcapture._http import is_loopback, open_url


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.headers.get('X-Who', '')}".encode()
        self.send_response(200 if self.path == "/hello" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("127.8.9.1", True), ("[::1]", True), ("::1", True),
     ("10.0.0.1", False), ("pypi.org", False), ("", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://mirror/simple", "/simple/x/", "data:text/plain,x"])
def test_only_http_and_https_are_opened(url: str) -> None:
    with pytest.raises(ValueError, match=r"^not an http\(s\) URL"):
        open_url(url, timeout=1)


def test_loopback_goes_around_the_proxy(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy that nothing listens on: a request sent through it would fail.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with open_url(f"{server}/hello", headers={"X-Who": "there"}, timeout=5) as response:
        assert response.status == 200
        assert response.read() == b"hello there"
    with pytest.raises(urllib.error.HTTPError) as info:
        open_url(f"{server}/missing", timeout=5)
    assert info.value.code == 404
    info.value.close()
