"""Reach a sandbox in this process without a socket: a ``requests`` transport adapter.

A browser tab has no sockets: Python in Pyodide cannot listen on a port, and a request
to ``http://127.0.0.1:<port>`` would leave through the browser's ``fetch`` and find
nothing there. So in the browser the sandbox's :class:`~cerkl_nb.sandbox.app.App` runs in
the kernel itself, and :class:`SandboxAdapter` hands each ``requests`` call for the
sandbox's origin straight to :meth:`App.handle <cerkl_nb.sandbox.app.App.handle>`, the
same call the HTTP server (``server.py``) makes for a request read from a socket. Status,
headers and body are the ones the server would have written.

Three ways to use it:

* ``cerkl_nb.sandbox.start(in_process=True)`` (the default in a browser tab) returns an
  ordinary :class:`~cerkl_nb.sandbox.Sandbox` handle whose "server" is an
  :class:`InProcessServer`: its admin calls go straight to the app, and its origin is
  routed process-wide (:func:`route`), so every ``requests`` session reaches it, the
  client's as well as a tutorial's plain ``requests.post``;
* :func:`mount` puts an adapter on one session, for one origin only;
* :class:`SandboxAdapter` itself, for anyone assembling a session by hand.

Only the sandbox's own origin is ever routed (scheme, host and port must all match), so
every other URL goes out as usual.

This module imports ``requests``; ``import cerkl_nb.sandbox`` does not import it (the
sandbox stands alone), and loads this module only when an in-process sandbox starts.

Examples
--------
>>> from cerkl_nb import sandbox
>>> sb = sandbox.start(in_process=True)       # doctest: +SKIP
>>> import cerkl_nb
>>> client = cerkl_nb.connect(sandbox=sb)     # doctest: +SKIP
>>> client.get("/subscriber").status          # doctest: +SKIP
200
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
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
from .messages import Request, Response

__all__ = [
    "InProcessServer",
    "SandboxAdapter",
    "mount",
    "route",
    "routed",
    "unroute",
]

#: What the HTTP server calls itself in the ``Server`` header (``server.py``).
SERVER_NAME = "cerkl-nb-sandbox/0.1"

# In-process sandboxes get distinct origins from the dynamic port range. Nothing listens
# there: the port only names the sandbox, so two of them in one kernel never mix.
_ports = itertools.count(49152)


def _reason(status: int) -> str:
    """The reason phrase http.server sends (it takes them from ``HTTPStatus``)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _timeout_s(timeout: Any) -> float | None:
    """The read timeout out of what ``requests`` passes (a number, a pair or None)."""
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else timeout[0]
    return float(timeout) if isinstance(timeout, (int, float)) else None


def _body_bytes(body: Any) -> bytes:
    """The request body as the wire would carry it.

    ``http.client`` sends a ``str`` body as ISO-8859-1, so do the same (a character
    outside it fails the same way). File-like bodies are read; iterables joined.
    """
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("iso-8859-1")
    read = getattr(body, "read", None)
    if read is not None:
        data = read()
        return data.encode("iso-8859-1") if isinstance(data, str) else bytes(data)
    if isinstance(body, Iterable):
        return b"".join(c.encode("iso-8859-1") if isinstance(c, str) else bytes(c) for c in body)
    raise TypeError(f"cannot send a body of type {type(body).__name__}")


class SandboxAdapter(BaseAdapter):
    """A ``requests`` transport adapter that answers from an in-process sandbox app.

    Each request becomes the :class:`~cerkl_nb.sandbox.messages.Request` the HTTP server
    would have built (method, request target, headers with ``Host``, body) and goes to
    :meth:`App.handle <cerkl_nb.sandbox.app.App.handle>`; the answer comes back with the
    headers the server adds (``Server``, ``Date``, ``Content-Length``). A dropped
    connection (a fault the sandbox was told to inject) raises ``ConnectionError`` as a
    real one does, and an answer slower than the read timeout raises ``ReadTimeout``
    after the fact (the request was carried out, as it would have been over a socket).

    Parameters
    ----------
    app
        The sandbox application to answer from.
    host
        What to send as ``Host`` when the request has none (``127.0.0.1:port``).
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
        method = (request.method or "GET").upper()
        headers = CaseInsensitiveDict(request.headers or {})
        if "Host" not in headers:
            # http.client adds Host from the URL; the app reads it (links, the admin
            # API's loopback check), so add it the same way.
            parts = urlsplit(request.url or "")
            headers["Host"] = parts.netloc or self.host
        body = _body_bytes(request.body)
        resp = self._server_checks(headers, body, method, request.path_url)
        if resp is None:
            started = time.perf_counter()
            resp = self.app.handle(Request(method, request.path_url, headers, body, "127.0.0.1"))
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
        return self._build(request, resp, head=(method == "HEAD"))

    def _server_checks(
        self, headers: CaseInsensitiveDict, body: bytes, method: str, target: str
    ) -> Response | None:
        """The two refusals the HTTP server makes before the app sees a request."""
        if "Transfer-Encoding" in headers:
            return self.app.protocol_error(
                411, "chunked request bodies are not supported; send Content-Length", method, target
            )
        limit = self.app.config.max_body_bytes
        if len(body) > limit:
            return self.app.protocol_error(
                413, f"the body is larger than {limit} bytes", method, target
            )
        return None

    def _build(
        self, request: requests.PreparedRequest, resp: Response, head: bool
    ) -> requests.Response:
        """A ``requests.Response`` with the status line and headers the server writes."""
        out = requests.Response()
        out.status_code = resp.status
        out.reason = _reason(resp.status)
        hdrs = CaseInsensitiveDict()
        hdrs["Server"] = SERVER_NAME
        hdrs["Date"] = formatdate(time.time(), usegmt=True)
        for k, v in resp.headers:
            hdrs[k] = v
        if resp.status != 204 and resp.status >= 200:
            hdrs["Content-Length"] = str(len(resp.body))
        if resp.close:
            hdrs["Connection"] = "close"
        out.headers = hdrs
        payload = b"" if (head or resp.status == 204) else resp.body
        out.raw = io.BytesIO(payload)
        out.encoding = get_encoding_from_headers(hdrs)
        out.url = request.url or ""
        out.request = request
        out.connection = self
        return out

    def close(self) -> None:
        """Nothing to close: there is no connection."""


def mount(session: requests.Session, sandbox: Any) -> SandboxAdapter:
    """Send ``session``'s requests for the sandbox's origin (only) to its in-process app.

    Parameters
    ----------
    session
        A ``requests.Session``, e.g. ``client.session`` (which a client shares with its
        token manager).
    sandbox
        A handle whose ``.app`` is in this process (``start(in_process=True)``, or any
        handle from :func:`~cerkl_nb.sandbox.start`).

    Returns
    -------
    SandboxAdapter
        The adapter now mounted for ``<scheme>://<host>:<port>/``.

    Raises
    ------
    ValueError
        When the handle has no in-process app (an attached sandbox).
    """
    app = getattr(sandbox, "app", None)
    if app is None:
        raise ValueError("this sandbox does not run in this process: nothing to mount")
    scheme, host, port = origin_of(sandbox.root_url)
    adapter = SandboxAdapter(app, f"{host}:{port}")
    # requests picks the longest matching prefix, and the trailing slash keeps
    # http://127.0.0.1:4915 from matching http://127.0.0.1:49152.
    session.mount(f"{scheme}://{host}:{port}/", adapter)
    if port == (443 if scheme == "https" else 80):
        session.mount(f"{scheme}://{host}/", adapter)
    return adapter


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

    The in-process sandbox needs this in a browser tab, where its origin has no server
    behind it at all: sessions made anywhere (the client's, a widget's, a plain
    ``requests.get``) must reach it. Other origins are untouched; :func:`unroute` undoes
    it.

    Returns
    -------
    SandboxAdapter
        The adapter that now answers for that origin.
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
    key = origin_of(url)
    with _routes_lock:
        _routes.pop(key, None)
        if not _routes and _original_get_adapter is not None:
            requests.Session.get_adapter = _original_get_adapter  # type: ignore[method-assign]
            _original_get_adapter = None


def routed() -> list[str]:
    """The origins routed to in-process sandboxes now (``http://host:port``)."""
    with _routes_lock:
        return [f"{s}://{h}:{p}" for s, h, p in _routes]


# -- the in-process "server" behind a Sandbox handle -------------------------------------------


class InProcessServer:
    """Stands where :class:`~cerkl_nb.sandbox.server.SandboxServer` stands, with no socket.

    A :class:`~cerkl_nb.sandbox.Sandbox` handle built on it sends its admin calls to
    :meth:`exchange` (straight to the app), and while it runs, its origin is routed
    process-wide (:func:`route`).

    Parameters
    ----------
    app
        The application.
    port
        The port that names this sandbox in its URLs; ``None`` takes the next one from
        49152 up. Nothing listens on it.
    """

    def __init__(self, app: App, port: int | None = None) -> None:
        self.app = app
        self.host = "127.0.0.1"
        self.port = next(_ports) if port is None else port
        if isinstance(self.port, bool) or not 1 <= self.port <= 65535:
            raise ValueError(f"the port must be from 1 to 65535, got {port!r}")
        self.root_url = f"http://{self.host}:{self.port}"
        app.default_host = f"{self.host}:{self.port}"
        self._stopped = False
        route(self.root_url, app)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<InProcessServer {self.root_url} {state}>"

    @property
    def key(self) -> str:
        """The admin key (``X-Sandbox-Key``) that steers this sandbox."""
        return self.app.key

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return not self._stopped

    def exchange(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """One request to the app, as the handle's admin calls make it: status and body.

        Raises
        ------
        OSError
            After :meth:`stop`, as a stopped server refuses connections.
        """
        if self._stopped:
            raise ConnectionRefusedError(f"the in-process sandbox {self.root_url} was stopped")
        h = {k.lower(): v for k, v in headers.items()}
        h.setdefault("host", self.app.default_host)
        resp = self.app.handle(Request(method, target, h, body or b"", "127.0.0.1"))
        if resp.drop:
            raise ConnectionResetError("the sandbox dropped the connection")
        return resp.status, resp.body

    def stop(self) -> None:
        """Stop routing this sandbox's origin. Idempotent."""
        if not self._stopped:
            self._stopped = True
            unroute(self.root_url)
