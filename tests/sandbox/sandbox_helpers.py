"""Helpers shared by the sandbox tests (imported as a plain module)."""

from __future__ import annotations

import base64
import http.client
import importlib
import os
import socket
from dataclasses import dataclass
from typing import Any

import requests

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(client_id: str, secret: str) -> str:
    """A raw (curl -u style) Basic header value."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def get_token(sb: Any, client_id: str | None = None, secret: str | None = None) -> dict:
    r = requests.post(
        sb.token_url,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(client_id or sb.client_id, secret or sb.client_secret)},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


@dataclass
class Api:
    """A tiny authenticated client over one sandbox (requests.Session, keep-alive)."""

    sb: Any
    session: requests.Session
    token: str

    def h(self, extra: dict | None = None) -> dict:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(
            self.sb.url + path, headers=self.h(kw.pop("headers", None)), timeout=10, **kw
        )

    def post(self, path: str, items: list | None = None, **kw: Any) -> requests.Response:
        if items is not None:
            kw["json"] = {"template": {"version": "3.0", "data": items}}
        return self.session.post(
            self.sb.url + path, headers=self.h(kw.pop("headers", None)), timeout=10, **kw
        )

    def put(self, path: str, item: dict | None = None, **kw: Any) -> requests.Response:
        if item is not None:
            kw["json"] = {"template": {"version": "3.0", "data": [item]}}
        return self.session.put(
            self.sb.url + path, headers=self.h(kw.pop("headers", None)), timeout=10, **kw
        )

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.session.delete(
            self.sb.url + path, headers=self.h(kw.pop("headers", None)), timeout=10, **kw
        )

    def renew(self) -> None:
        self.token = get_token(self.sb)["access_token"]


def raw_request(sb: Any, data: bytes, *, timeout: float = 5.0) -> tuple[int | None, dict, bytes]:
    """Send raw bytes to the sandbox and parse one HTTP response (status, headers, body).

    Returns ``(None, {}, b"")`` when the server closed the connection without answering.
    """
    with socket.create_connection(("127.0.0.1", sb.port), timeout=timeout) as s:
        s.sendall(data)
        f = s.makefile("rb")
        line = f.readline()
        if not line:
            return None, {}, b""
        status = int(line.split()[1])
        msg = http.client.parse_headers(f)
        headers = {k.lower(): v for k, v in msg.items()}
        n = int(headers.get("content-length", "0"))
        body = f.read(n) if n else b""
        return status, headers, body


def assert_api_error(r: requests.Response, status: int) -> dict:
    """The response has ``status`` and the sandbox's JSON error body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"]["code"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert r.headers.get("X-Request-Id")
    return body


def assert_oauth_error(r: requests.Response, status: int, error: str) -> dict:
    """The response has ``status`` and an RFC 6749 §5.2 error body with ``error``."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == error, body
    assert body.get("error_description")
    assert r.headers.get("Cache-Control") == "no-store"
    if status == 401:
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    return body


def require(module: str):
    """Import a test-only dependency: skip without it locally, fail without it in CI.

    The fuzz and schema tests must run in CI, so a missing package there is
    an error, not a silent skip.
    """
    import pytest

    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)
