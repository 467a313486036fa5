"""A tiny scripted HTTP server on an ephemeral loopback port (real HTTP, not a mock).

Used only for the few cases the sandbox cannot produce on purpose: HTML and truncated
bodies, odd token-response shapes, redirects to another host, a server that hangs.
Each test installs a ``handler(request) -> Reply``; every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def json_reply(body: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, body, {"Content-Type": "application/json", **headers})


class LoopbackServer:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.handler: Callable[[Seen], Reply] = lambda req: Reply(404, b"")
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _do(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = Seen(self.command, self.path, dict(self.headers.items()), body)
                outer.seen.append(req)
                reply = outer.handler(req)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = reply.payload()
                self.send_response(reply.status)
                headers = {"Content-Length": str(len(data)), **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
