"""Reach a sandbox in this process without a socket: a ``requests`` transport adapter.

A browser tab has no sockets, so there the sandbox's :class:`~cerkl_nb.sandbox.app.App`
runs in the kernel and :class:`SandboxAdapter` hands each ``requests`` call for its origin
to ``App.handle``, answering as the HTTP server would. An :class:`InProcessServer`'s
origin is routed for every ``requests`` session (:func:`route`), and no other origin is.
This module imports ``requests``, so ``import cerkl_nb.sandbox`` does not load it.
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import ProtocolError

from ..spec import origin_of
from .app import App
from .messages import Request, reason, wire_headers

__all__ = ["InProcessServer", "SandboxAdapter", "route", "routed", "unroute"]

# In-process sandboxes get distinct origins from the dynamic port range. Nothing listens
# there: the port only names the sandbox, so two of them in one kernel never mix.
_ports = itertools.count(49152)


def _timeout_s(timeout: Any) -> float | None:
    """The read timeout out of what ``requests`` passes (a number, a pair or None)."""
    if isinstance(timeout, tuple):
        timeout = timeout[-1]
    return float(timeout) if isinstance(timeout, (int, float)) else None


def _body_bytes(body: Any) -> bytes:
    """The request body as ``http.client`` would send it (a ``str`` as ISO-8859-1)."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("iso-8859-1")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if hasattr(body, "read"):
        return _body_bytes(body.read())
    if isinstance(body, Iterable):
        return b"".join(_body_bytes(chunk) for chunk in body)
    raise TypeError(f"cannot send a body of type {type(body).__name__}")


class SandboxAdapter(BaseAdapter):
    """A ``requests`` transport adapter that answers from an in-process sandbox ``app``
    (``host``: the ``Host`` of a request that has none).

    A dropped connection (an injected fault) raises ``ConnectionError`` as a real one does,
    and an answer slower than the read timeout raises ``ReadTimeout`` after the fact (the
    request was carried out, as over a socket).
    """

    def __init__(self, app: App, host: str | None = None) -> None:
        super().__init__()
        self.app = app
        self.host = host or app.default_host

    def __repr__(self) -> str:
        return f"SandboxAdapter(host={self.host!r})"

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Answer one prepared request from the app (the ``BaseAdapter`` interface)."""
        method, target = (request.method or "GET").upper(), request.path_url
        headers = CaseInsensitiveDict(request.headers or {})
        # http.client adds Host from the URL, and the app reads it (links, the admin API's
        # loopback check): add it the same way.
        headers.setdefault("Host", urlsplit(request.url or "").netloc or self.host)
        body = _body_bytes(request.body)
        length = [str(len(body))] if body else []
        resp, _ = self.app.check_body(headers.get("Transfer-Encoding"), length, method, target)
        if resp is None:
            started = time.perf_counter()
            resp = self.app.handle(Request(method, target, headers, body, "127.0.0.1"))
            limit = _timeout_s(timeout)
            if limit is not None and time.perf_counter() - started > limit:
                raise requests.ReadTimeout(
                    f"the in-process sandbox took longer than the read timeout ({limit:g} s)",
                    request=request,
                )
        if resp.drop:
            raise requests.ConnectionError(
                ProtocolError(
                    "Connection aborted.",
                    RemoteDisconnected("Remote end closed connection without response"),
                ),
                request=request,
            )
        out = requests.Response()
        out.status_code, out.reason = resp.status, reason(resp.status)
        out.headers = CaseInsensitiveDict(wire_headers(resp))
        head = method == "HEAD" or resp.status == 204
        out.raw = io.BytesIO(b"" if head else resp.body)
        out.encoding = get_encoding_from_headers(out.headers)
        out.url, out.request, out.connection = request.url or "", request, self
        return out

    def close(self) -> None:
        """Nothing to close: there is no connection."""


# -- process-wide routing ---------------------------------------------------------------------

_routes: dict[tuple[str, str, int], SandboxAdapter] = {}
_routes_lock = threading.Lock()
_original_get_adapter: Any = None


def _get_adapter(self: requests.Session, url: str) -> BaseAdapter:
    """``Session.get_adapter`` with the routed sandbox origins looked up first."""
    if _routes:
        try:
            adapter = _routes.get(origin_of(url))
        except ValueError:
            adapter = None
        if adapter is not None:
            return adapter
    return _original_get_adapter(self, url)


def route(url: str, app: App) -> SandboxAdapter:
    """Route every ``requests`` session's calls for ``url``'s origin to ``app``.

    Sessions made anywhere (the client's, a widget's, a plain ``requests.get``) must reach
    a sandbox that has no server behind its origin. :func:`unroute` undoes it.
    """
    global _original_get_adapter
    key = origin_of(url)
    adapter = SandboxAdapter(app, f"{key[1]}:{key[2]}")
    with _routes_lock:
        if _original_get_adapter is None:
            _original_get_adapter = requests.Session.get_adapter
            requests.Session.get_adapter = _get_adapter  # type: ignore[method-assign]
        _routes[key] = adapter
    return adapter


def unroute(url: str) -> None:
    """Stop routing ``url``'s origin; with no route left, ``requests`` is as it was."""
    global _original_get_adapter
    with _routes_lock:
        _routes.pop(origin_of(url), None)
        if not _routes and _original_get_adapter is not None:
            requests.Session.get_adapter = _original_get_adapter  # type: ignore[method-assign]
            _original_get_adapter = None


def routed() -> list[str]:
    """The origins routed to in-process sandboxes now (``http://host:port``)."""
    with _routes_lock:
        return [f"{s}://{h}:{p}" for s, h, p in _routes]


class InProcessServer:
    """Stands where :class:`~cerkl_nb.sandbox.server.SandboxServer` stands, with no socket.

    A handle built on it sends its admin calls to :meth:`exchange`, and while it runs, its
    origin is routed process-wide (:func:`route`). ``port`` only names the sandbox in its
    URLs (``None``: the next one from 49152 up); nothing listens on it.
    """

    def __init__(self, app: App, port: int | None = None) -> None:
        self.app = app
        self.port = next(_ports) if port is None else port
        if isinstance(self.port, bool) or not 1 <= self.port <= 65535:
            raise ValueError(f"the port must be from 1 to 65535, got {port!r}")
        self.root_url = f"http://127.0.0.1:{self.port}"
        app.default_host = f"127.0.0.1:{self.port}"
        self.running = True
        route(self.root_url, app)

    def __repr__(self) -> str:
        return f"<InProcessServer {self.root_url} {'running' if self.running else 'stopped'}>"

    def exchange(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """One request to the app, as the handle's admin calls make it: status and body
        (``OSError`` after :meth:`stop`, as a stopped server refuses connections)."""
        if not self.running:
            raise ConnectionRefusedError(f"the in-process sandbox {self.root_url} was stopped")
        h = {k.lower(): v for k, v in headers.items()}
        h.setdefault("host", self.app.default_host)
        resp = self.app.handle(Request(method, target, h, body or b"", "127.0.0.1"))
        if resp.drop:
            raise ConnectionResetError("the sandbox dropped the connection")
        return resp.status, resp.body

    def stop(self) -> None:
        """Stop routing this sandbox's origin. Idempotent."""
        if self.running:
            self.running = False
            unroute(self.root_url)
