"""The HTTP layer: a standard-library threaded HTTP/1.1 server around :class:`App`.

Ordinary requests (``METHOD TARGET HTTP/1.x`` and ``Name: value`` lines of printable
ASCII) are parsed here directly; everything else goes through ``http.server``'s own
parser (it is robust against the odd inputs a fuzzer throws at it), and everything it
would answer with an HTML error page is turned into a JSON body. Connections are
keep-alive, one daemon thread each, and an idle or stalled connection is closed after
``socket_timeout_s``.

Bounds: at most ``max_connections`` connections are served at once (one more is answered
503 and closed, without a thread); a request whose header block never ended (the client
went away mid-headers) is never executed; a body is read only up to ``max_body_bytes``.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import App
from .messages import Request, Response, header_safe

__all__ = ["SandboxServer"]

log = logging.getLogger("cerkl_nb.sandbox")

_REASONS = BaseHTTPRequestHandler.responses
_date_cache: list = [0, ""]
# ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
_CONTENT_LENGTH = re.compile(r"^[0-9]{1,12}$")
# http.client refuses more than 100 header lines; one more lets it say so (431).
_MAX_HEADER_LINES = 101
_BUSY_BODY = (
    b'{"error":{"code":503,"message":"the sandbox is serving too many connections; retry"}}'
)
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
) % (len(_BUSY_BODY), _BUSY_BODY)


# An ordinary request line and header line (see _Handler._parse_plain_request).
_PLAIN_REQUEST_LINE = re.compile(rb"([!-~]+) ([!-~]+) (HTTP/1\.[01])\r?\n")
_PLAIN_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t\x20-\x7e]*)\r?\n")


class _Headers:
    """Request headers, answering like ``http.client.HTTPMessage``: case-insensitive
    names, ``get`` gives the first value of a repeated header, ``get_all`` all of them."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        index: dict[str, list[str]] = {}
        for name, value in items:
            index.setdefault(name.lower(), []).append(value)
        self._index = index

    def get(self, name: str, default: Any = None) -> Any:
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str, failobj: Any = None) -> Any:
        values = self._index.get(name.lower())
        return list(values) if values else failobj

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def keys(self) -> list[str]:
        return [k for k, _ in self._items]


def _http_date() -> str:
    # HTTP/1.1 servers send Date; formatting it once a second keeps it off the hot path.
    now = int(time.time())
    if now != _date_cache[0]:
        _date_cache[:] = [now, formatdate(now, usegmt=True)]
    return _date_cache[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cerkl-nb-sandbox/0.1"
    sys_version = ""
    # Small JSON responses on keep-alive connections: without TCP_NODELAY, Nagle plus
    # delayed ACKs add ~40 ms to every request.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.app.config.socket_timeout_s
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    # -- http.server hooks ------------------------------------------------------
    def handle_one_request(self) -> None:
        """Like the standard one, but every method goes to one dispatcher."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = ""
                self.request_version = ""
                self.command = ""
                self._send_error_json(414, "request line too long")
                self.close_connection = True
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            lines = self._read_header_block()
            if lines is None:
                # The client went away before the blank line that ends the headers: the
                # request is incomplete, so it must not be carried out (a DELETE cut off
                # mid-headers is not a DELETE).
                self.close_connection = True
                return
            if not self._parse_plain_request(lines):
                # Anything out of the ordinary goes through the standard library's parser.
                self._stream = self.rfile
                self.rfile = io.BytesIO(b"".join(lines))  # type: ignore[assignment]
                if not self.parse_request():
                    return  # parse_request already answered (through send_error)
            self._serve()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    def _read_header_block(self) -> list[bytes] | None:
        """Read the header lines up to the blank line; None when the stream ended first.

        ``http.client.parse_headers`` (used by ``parse_request``) stops quietly at the
        end of the stream, so it cannot tell a complete request from a cut-off one. The
        block is read here, then parsed from memory.
        """
        rfile = self.rfile
        lines: list[bytes] = []
        while len(lines) <= _MAX_HEADER_LINES:
            line = rfile.readline(65537)
            if not line:
                return None
            lines.append(line)
            if line in (b"\r\n", b"\n") or len(line) > 65536:
                break
        return lines

    def _parse_plain_request(self, lines: list[bytes]) -> bool:
        """Parse an ordinary HTTP/1.x request without the e-mail parser; False: not ordinary.

        Ordinary means: ``METHOD TARGET HTTP/1.0`` or ``HTTP/1.1`` with single spaces and
        printable ASCII, and ``Name: value`` header lines of printable ASCII, ending in a
        blank line. For those, ``parse_request`` would set exactly what is set here (the
        e-mail parser it uses is most of a small request's cost). Everything else, from
        folded headers to HTTP/0.9, is left to ``parse_request``, so odd input gets the
        standard library's answer.
        """
        m = _PLAIN_REQUEST_LINE.fullmatch(self.raw_requestline)
        if m is None or len(lines) >= _MAX_HEADER_LINES or lines[-1] not in (b"\r\n", b"\n"):
            return False
        items: list[tuple[str, str]] = []
        for line in lines[:-1]:
            h = _PLAIN_HEADER.fullmatch(line)
            if h is None or len(line) > 65536:  # http.client's limit: 431 from its parser
                return False
            items.append((h[1].decode("ascii"), h[2].decode("ascii")))
        headers = _Headers(items)
        if "expect" in headers:
            return False  # "Expect: 100-continue" is answered by parse_request's own path
        self.command, path, self.request_version = (g.decode("ascii") for g in m.groups())
        self.requestline = self.raw_requestline.decode("ascii").rstrip("\r\n")
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        self.headers = headers  # type: ignore[assignment]
        conntype = (headers.get("Connection") or "").lower()
        self.close_connection = self.request_version == "HTTP/1.0"
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive":
            self.close_connection = False
        return True

    def parse_request(self) -> bool:
        try:
            return super().parse_request()
        finally:
            stream = getattr(self, "_stream", None)
            if stream is not None:
                self.rfile, self._stream = stream, None

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Called by ``parse_request`` on malformed requests: answer in JSON, then close."""
        self._send_error_json(code, message or _REASONS.get(code, ("Error",))[0])
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # The access log is written by App.handle (redacted); silence the stdlib's.
        pass

    # -- our code ---------------------------------------------------------------
    def _send_error_json(self, code: int, message: str) -> None:
        self._write(self._err(code, message), head=False)

    def _err(self, status: int, message: str) -> Response:
        return self.server.app.protocol_error(
            status, message, getattr(self, "command", "") or "", getattr(self, "path", "") or ""
        )

    def _serve(self) -> None:
        app: App = self.server.app
        method = self.command
        headers = self.headers
        te = headers.get("Transfer-Encoding")
        if te is not None:
            self._write(
                self._err(411, "chunked request bodies are not supported; send Content-Length"),
                False,
            )
            self.close_connection = True
            return
        cl = headers.get_all("Content-Length") or []
        body = b""
        if cl:
            if len(set(cl)) != 1 or not _CONTENT_LENGTH.match(cl[0].strip()):
                self._write(self._err(400, "invalid Content-Length header"), False)
                self.close_connection = True
                return
            n = int(cl[0])
            if n > app.config.max_body_bytes:
                # Do not read it: answer and close, so a huge upload cannot tie us up.
                self._write(
                    self._err(413, f"the body is larger than {app.config.max_body_bytes} bytes"),
                    False,
                )
                self.close_connection = True
                return
            if n:
                body = self.rfile.read(n)
                if len(body) < n:
                    self.close_connection = True  # client went away mid-body
                    return
        req = Request(method, self.path, headers, body, self.client_address[0])
        resp = app.handle(req)
        if resp.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(resp, head=(method == "HEAD"))
        if resp.close:
            self.close_connection = True

    def _write(self, resp: Response, head: bool) -> None:
        reason = _REASONS.get(resp.status, ("",))[0]
        lines = [
            f"HTTP/1.1 {resp.status} {reason}",
            "Server: " + self.server_version,
            "Date: " + _http_date(),
        ]
        for k, v in resp.headers:
            if header_safe(k) and header_safe(v):
                lines.append(f"{k}: {v}")
            else:  # never split a response: inputs are checked earlier, this is the backstop
                log.error("dropped a response header with a control character: %r", k)
        if resp.status != 204 and resp.status >= 200:
            lines.append(f"Content-Length: {len(resp.body)}")
        if resp.close or self.close_connection:
            lines.append("Connection: close")
        elif getattr(self, "request_version", "") == "HTTP/1.0":
            lines.append("Connection: keep-alive")  # HTTP/1.0 keep-alive must be confirmed
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        payload = head_bytes if (head or resp.status == 204) else head_bytes + resp.body
        try:
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], app: App) -> None:
        self.app = app
        self._slots = threading.BoundedSemaphore(app.config.max_connections)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.address_family = family
        super().__init__(addr, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, up to max_connections: past that, answer 503 from
        # the accepting thread and close, so half-sent requests cannot pile up threads.
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        try:
            thread.start()
        except RuntimeError:
            # The thread never ran, so the slot is still ours to give back. Anything else
            # (a signal's KeyboardInterrupt while start() waits) comes after the thread
            # began: that thread owns the slot and releases it itself.
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Errors outside App.handle (socket-level) must not print tracebacks to stderr.
        log.debug("connection error from %s", client_address, exc_info=True)


class SandboxServer:
    """A running sandbox: the listening socket, its serving thread and the app.

    Parameters
    ----------
    app
        The application to serve.
    host, port
        Where to listen. Port 0 picks a free port.
    """

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"the port must be from 0 to 65535 (0: any free port), got {port!r}")
        self.app = app
        self.httpd = _Server((host, port), app)
        self.host = host
        self.port = self.httpd.server_address[1]
        shown = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in shown:
            shown = f"[{shown}]"
        self.root_url = f"http://{shown}:{self.port}"
        app.default_host = f"{shown}:{self.port}"
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start_background(self) -> None:
        """Serve from a daemon thread (returns at once; the socket is already listening)."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"cerkl-nb-sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` or a KeyboardInterrupt in the calling thread.

        The accept loop runs in its own thread; the calling thread only waits. A signal
        handler that raises (Ctrl-C, or the CLI's SIGTERM) therefore interrupts a wait,
        never the accept loop half-way through handing a connection to its thread.
        """
        self.start_background()
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop accepting, close open connections and release the port. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._thread is not None:
            # shutdown() waits for serve_forever to notice; it would hang if never started.
            self.httpd.shutdown()
        self._close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _close(self) -> None:
        self.httpd.close_all()
        self.httpd.server_close()

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return not self._stopped.is_set()

    @property
    def key(self) -> str:
        """The admin key (``X-Sandbox-Key``) that steers this sandbox."""
        return self.app.key
