"""A corporate proxy set in the environment carries the client's calls (real HTTP, loopback).

The client's sessions are plain ``requests`` sessions that trust the environment, so API and
token calls go through ``HTTP_PROXY`` / ``HTTPS_PROXY``, ``NO_PROXY`` is honoured, and a
change of the environment applies from the next call on.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from cerkl_nb import CerklClient, Credentials, Settings, TokenManager

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te"}


class _ForwardProxy(ThreadingHTTPServer):
    """A plain-HTTP forward proxy: takes absolute-URI requests, forwards, records them."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[tuple[str, str]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ForwardProxy

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _forward(self) -> None:
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self.send_error(400, "absolute http:// URL expected")
            return
        self.server.seen.append((self.command, target.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = _forward


@pytest.fixture
def proxy() -> Iterator[_ForwardProxy]:
    srv = _ForwardProxy()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without any proxy settings of the machine running the tests."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def _client(sb) -> CerklClient:
    settings = Settings.for_sandbox(sb)
    return CerklClient(TokenManager(Credentials.for_sandbox(sb), settings))


def test_calls_and_token_requests_go_through_the_environments_proxy(
    sandbox, proxy, proxy_env
) -> None:
    # Loopback hosts are usually in NO_PROXY; with an empty NO_PROXY the sandbox is reached
    # through the proxy like any remote API would be.
    proxy_env.setenv("HTTP_PROXY", proxy.url)
    proxy_env.setenv("NO_PROXY", "")
    with _client(sandbox) as client:
        page = client.list("segment", page_size=2)
        assert page.items
        seen = [f"{m} {p}" for m, p in proxy.seen]
        assert "POST /v3/oauth/Token" in seen
        assert "GET /v3/segment" in seen
        assert client.session.trust_env is True
        # Read on every call, as requests does: without the proxy, the next call goes direct.
        proxy_env.delenv("HTTP_PROXY")
        before = len(proxy.seen)
        client.get("segment", page.items[0]["id"])
        assert len(proxy.seen) == before


def test_no_proxy_is_honoured(sandbox, proxy, proxy_env) -> None:
    proxy_env.setenv("HTTP_PROXY", proxy.url)
    proxy_env.setenv("NO_PROXY", "localhost,127.0.0.1,::1")
    with _client(sandbox) as client:
        assert client.list("segment", page_size=2).items
    assert proxy.seen == []


def test_a_session_of_the_callers_own_keeps_reading_the_environment(
    sandbox, proxy, proxy_env
) -> None:
    import requests

    session = requests.Session()
    settings = Settings.for_sandbox(sandbox)
    manager = TokenManager(Credentials.for_sandbox(sandbox), settings, session=session)
    with CerklClient(manager, session=session) as client:
        assert session.trust_env is True
        client.list("segment", page_size=1)
        assert proxy.seen == []
        proxy_env.setenv("HTTP_PROXY", proxy.url)
        proxy_env.setenv("NO_PROXY", "")
        client.list("segment", page_size=1)
        assert [p for _, p in proxy.seen] == ["/v3/segment"]
    session.close()
