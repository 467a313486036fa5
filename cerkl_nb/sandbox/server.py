"""The HTTP layer: the standard library's threaded HTTP/1.1 server around :class:`App`.

``http.server`` parses every request; whatever it would answer with an HTML error page is
answered with the sandbox's JSON error body instead. Connections are keep-alive, one
daemon thread each, at most ``max_connections`` at once (one more is answered 503 and
closed, without a thread); an idle or stalled connection is closed after
``socket_timeout_s``; a body is read only up to ``max_body_bytes``; a request whose
header block never ended is never carried out.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import App
from .messages import SERVER_NAME, Request, Response, reason, wire_headers

__all__ = ["SandboxServer"]

log = logging.getLogger("cerkl_nb.sandbox")

# http.client refuses more than 100 header lines; one more lets it say so (431).
_MAX_HEADER_LINES = 101
_BUSY_BODY = (
    b'{"error":{"code":503,"message":"the sandbox is serving too many connections; retry"}}'
)
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
) % (len(_BUSY_BODY), _BUSY_BODY)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    sys_version = ""
    # Small JSON answers on keep-alive connections: without TCP_NODELAY, Nagle's algorithm
    # meeting delayed ACKs adds about 40 ms to every request.
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

    def handle_one_request(self) -> None:
        """Like the standard one, but a cut-off header block is never served, and every
        method goes to one dispatcher."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414, "request line too long")
                return
            block = self._header_block()
            if block is None:
                # The client went away before the blank line that ends the headers: the
                # request is incomplete and must not be carried out (a DELETE cut off
                # mid-headers is not a DELETE).
                self.close_connection = True
                return
            stream, self.rfile = self.rfile, io.BytesIO(block)
            try:
                parsed = self.parse_request()  # on failure it has answered (send_error)
            finally:
                self.rfile = stream
            if parsed:
                self._serve()
                self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _header_block(self) -> bytes | None:
        """The header lines up to the blank line; None when the stream ended first.

        ``parse_request`` stops quietly at the end of the stream, so it cannot tell a
        complete request from a cut-off one: the block is read here and parsed from memory.
        """
        lines: list[bytes] = []
        while len(lines) <= _MAX_HEADER_LINES:
            line = self.rfile.readline(65537)
            if not line:
                return None
            lines.append(line)
            if line in (b"\r\n", b"\n") or len(line) > 65536:
                break
        return b"".join(lines)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Called by ``parse_request`` on malformed requests: answer in JSON, then close."""
        self._write(self._refuse(code, message or reason(code)), head=False)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the access log is written by App.handle, redacted

    def _refuse(self, status: int, message: str) -> Response:
        command, path = getattr(self, "command", "") or "", getattr(self, "path", "") or ""
        return self.server.app.protocol_error(status, message, command, path)

    def _serve(self) -> None:
        app: App = self.server.app
        refusal, n = app.check_body(
            self.headers.get("Transfer-Encoding"),
            self.headers.get_all("Content-Length") or [],
            self.command,
            self.path,
        )
        if refusal is not None:
            # Not read: answer and close, so a huge or unframed upload cannot tie us up.
            self._write(refusal, head=False)
            self.close_connection = True
            return
        body = self.rfile.read(n) if n else b""
        if len(body) < n:
            self.close_connection = True  # the client went away mid-body
            return
        req = Request(self.command, self.path, self.headers, body, self.client_address[0])
        resp = app.handle(req)
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(resp, head=(self.command == "HEAD"))
        if resp.close:
            self.close_connection = True

    def _write(self, resp: Response, head: bool) -> None:
        headers = wire_headers(resp, close=self.close_connection)
        if not (resp.close or self.close_connection) and self.request_version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))  # HTTP/1.0 keep-alive is confirmed
        lines = [f"HTTP/1.1 {resp.status} {reason(resp.status)}"]
        lines += [f"{k}: {v}" for k, v in headers]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if not head and resp.status != 204:
            payload += resp.body
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
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_BUSY)
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
            (self._conns.add if add else self._conns.discard)(conn)

    def close_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Errors outside App.handle (socket-level) must not print tracebacks to stderr.
        log.debug("connection error from %s", client_address, exc_info=True)


class SandboxServer:
    """A running sandbox: the socket listening on ``host`` and ``port`` (0: a free one),
    its serving thread and the ``app``."""

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
        self.httpd.close_all()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return not self._stopped.is_set()

    @property
    def key(self) -> str:
        """The admin key (``X-Sandbox-Key``) that steers this sandbox."""
        return self.app.key
