"""A local imitation of the Cerkl Broadcast API v3, for tutorials and tests.

Run it with ``cerkl-nb sandbox``, :func:`start` (a background thread; in a browser tab, in
the kernel itself: :mod:`cerkl_nb.sandbox.transport`) or the pytest fixtures of
:mod:`cerkl_nb.sandbox.pytest_plugin`. Only the holder of a sandbox's random key steers it;
:func:`attach` and :func:`ensure` attach only to a sandbox that proves it holds the key.
It imports nothing of cerkl-nb but :mod:`cerkl_nb.spec`. The contract, and every choice
made where Cerkl's documentation is silent: ``docs/sandbox.md``.
"""

from __future__ import annotations

import contextlib
import hmac
import http.client
import json
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..spec import (
    API_PREFIX,
    ENV_SANDBOX_KEY,
    ENV_SANDBOX_URL,
    OPENAPI_PATH,
    SANDBOX_KEY_HEADER,
    TOKEN_PATH,
)
from .settings import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_CLIENTS,
    ClientSpec,
    SandboxConfig,
    key_proof,
)

if TYPE_CHECKING:
    from .app import App
    from .server import SandboxServer
    from .transport import InProcessServer

__all__ = [
    "DEMO_CLIENTS",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "ClientSpec",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "attach",
    "ensure",
    "in_browser",
    "start",
]


class SandboxError(RuntimeError):
    """An admin call to the sandbox failed (bad argument, or the sandbox is gone)."""


class Sandbox:
    """A handle on a running sandbox, in this process or another.

    Every method is a call to the sandbox's admin API (``/_sandbox/...``) with its ``key``
    (never shown in the repr), so a handle from :func:`start` and one from :func:`attach`
    behave the same; a handle from :func:`start` also owns the ``server``, for
    :meth:`stop`. ``root_url`` may carry a proxy's path prefix; ``client_id`` and
    ``client_secret`` are the fake demo client the handle hands out.
    """

    def __init__(
        self,
        root_url: str,
        *,
        key: str | None = None,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        server: SandboxServer | InProcessServer | None = None,
    ) -> None:
        self.root_url = root_url.rstrip("/")
        self.url = self.root_url + API_PREFIX
        self.token_url = self.url + TOKEN_PATH
        self.openapi_url = self.url + OPENAPI_PATH
        self.key = key
        self.client_id = client_id
        self.client_secret = client_secret
        self._server = server
        parts = urlsplit(self.root_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self.port: int = parts.port or (443 if self._https else 80)
        # Behind a path prefix (jupyter-server-proxy's /proxy/8765) the admin API is too.
        self._prefix = parts.path.rstrip("/")

    @property
    def app(self) -> App | None:
        """The in-process :class:`~cerkl_nb.sandbox.app.App` (``None`` when attached)."""
        return self._server.app if self._server is not None else None

    @property
    def owned(self) -> bool:
        """True when this handle started the server (and :meth:`stop` stops it)."""
        return self._server is not None

    def __repr__(self) -> str:
        state = "owned" if self.owned else "attached"
        return f"Sandbox(url={self.url!r}, client_id={self.client_id!r}, {state})"

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ admin calls
    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout_s: float
    ) -> tuple[int, bytes]:
        """One request to ``path`` under the sandbox's root: status and body."""
        if self._server is not None and hasattr(self._server, "exchange"):
            return self._server.exchange(method, self._prefix + path, body, headers)  # no socket
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self.port, timeout=timeout_s)
        try:
            conn.request(method, self._prefix + path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _admin(self, method: str, path: str, payload: dict | None = None) -> Any:
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.key:
            headers[SANDBOX_KEY_HEADER] = self.key
        try:
            status, raw = self._request(method, "/_sandbox/" + path, body, headers, 10)
        except (OSError, http.client.HTTPException) as e:
            raise SandboxError(f"the sandbox at {self.root_url} is not reachable: {e}") from None
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            raise SandboxError(f"unexpected answer from {self.root_url}: not JSON") from None
        if status >= 400:
            why = _message(data) or status
            raise SandboxError(f"sandbox admin {method} /_sandbox/{path}: {why}")
        return data

    def health(self) -> dict:
        """Status and URLs (no key needed, nothing secret)."""
        return self._admin("GET", "health")

    def demo_client(self) -> dict:
        """The ``client_id`` and ``client_secret`` the sandbox hands out now."""
        return self._admin("GET", "demo-client")

    def stats(self) -> dict:
        """The counters of docs/sandbox.md §8 (``token_requests``, ``statuses`` ...)."""
        return self._admin("GET", "stats")

    def reset_stats(self) -> dict:
        """Zero every counter and empty the request log."""
        return self._admin("POST", "reset-stats")

    def log(self, limit: int = 1000) -> list[dict]:
        """The most recent requests as ``{"method", "target", "status", "request_id"}``
        (the request line only, so a test can prove no token travels in a URL)."""
        return self._admin("GET", f"log?limit={int(limit)}")["entries"]

    def register_client(self, client_id: str, client_secret: str, **per_client: Any) -> dict:
        """Accept another client (``name``, ``token_lifetime_s``, ``issue_refresh_token``)."""
        spec = {"client_id": client_id, "client_secret": client_secret, **per_client}
        return self._admin("POST", "clients", spec)

    def configure(self, **config: Any) -> dict:
        """Change :class:`SandboxConfig` settings live (``clock`` and
        ``record_issued_tokens`` only through :func:`start`)."""
        if "clients" in config:
            config["clients"] = [
                c.public() | {"client_secret": c.client_secret} if isinstance(c, ClientSpec) else c
                for c in config["clients"]
            ]
        return self._admin("POST", "config", config)

    def set_faults(self, **faults: Any) -> dict:
        """Switch faults on: ``latency_ms``, ``rate_limit_per_s``, ``retry_after``,
        ``error_rate``, ``error_status``, ``fail_next={"count": 2, "status": 503}``,
        ``drop_refresh_response``, ``expire_early_s``, ``target`` ("api"|"token"|"all")."""
        return self._admin("POST", "faults", faults)

    def clear_faults(self) -> dict:
        """Switch every fault off."""
        return self._admin("DELETE", "faults")

    def revoke_all_tokens(self) -> dict:
        """Revoke every access and refresh token, as a server may do mid-session."""
        return self._admin("POST", "revoke")

    def advance_clock(self, seconds: float) -> dict:
        """Move the server clock by ``seconds`` until moved back (prefer :meth:`clock_offset`)."""
        return self._admin("POST", "clock", {"advance_s": seconds})

    @contextlib.contextmanager
    def clock_offset(self, seconds: float) -> Iterator[dict]:
        """Move the server clock by ``seconds`` inside a ``with`` block, and back after it,
        also when the block raises; by subtraction, so moves made by others meanwhile stay.
        Yields the clock after the move (``offset_s``, ``now``, ``now_utc``)."""
        moved = self.advance_clock(seconds)  # raises before the block if refused
        try:
            yield moved
        finally:
            self.advance_clock(-seconds)

    def reset(self) -> dict:
        """Re-seed the data and forget tokens, faults, stats and clock offset."""
        return self._admin("POST", "reset")

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token this sandbox has issued, oldest first.

        A testing aid (to prove that no token reaches a notebook), only for a sandbox this
        process started with ``SandboxConfig(record_issued_tokens=True)``, else
        :class:`SandboxError`: tokens are never readable over HTTP. :meth:`reset` keeps it.
        """
        if self._server is None:
            raise SandboxError(
                "issued_tokens() works only on a sandbox started in this process "
                "(tokens are never readable over HTTP)"
            )
        if not self._server.app.config.record_issued_tokens:
            raise SandboxError(
                "this sandbox does not record tokens: start it with "
                "start(config=SandboxConfig(record_issued_tokens=True))"
            )
        return self._server.app.tokens.issued_tokens()

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Stop the server if this handle owns it (an attached handle does nothing)."""
        global _default
        if self._server is None:
            return
        self._server.stop()
        with _lock:
            if _default is self:
                _default = None

    @property
    def running(self) -> bool:
        """True while the sandbox answers its health check."""
        if self._server is not None and not self._server.running:
            return False
        try:
            self.health()
            return True
        except SandboxError:
            return False


_lock = threading.Lock()
_default: Sandbox | None = None


def in_browser() -> bool:
    """True in a browser tab (Pyodide / JupyterLite): no sockets, no threads."""
    return sys.platform == "emscripten"


def start(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config: SandboxConfig | None = None,
    key: str | None = None,
    in_process: bool | None = None,
) -> Sandbox:
    """Start a sandbox in a background (daemon) thread and return its handle.

    With no arguments it starts the shared default sandbox once and returns the same
    handle on later calls (safe in every notebook cell); with any argument it starts a
    new, separate one, which the caller should stop. It listens on ``host`` and ``port``
    (0: a free one) with ``config`` (``None``: the defaults) and the admin ``key``
    (``None``: a random one). ``in_process=True`` starts no socket and no thread:
    ``requests`` reaches the app through a transport adapter routed for its origin, and
    ``port`` only names it; ``None`` (the default) does so only in a browser tab.

    Raises
    ------
    ValueError
        For a port outside 0-65535 or a malformed key.
    OSError
        When the port is taken.
    """
    global _default
    from .app import App

    shared = (host, port, config, key, in_process) == ("127.0.0.1", 0, None, None, None)
    with _lock:
        if shared and _default is not None and _default._server is not None:
            if _default._server.running:
                return _default
        app = App(config, key=key)
        if in_browser() if in_process is None else in_process:
            from .transport import InProcessServer

            server: SandboxServer | InProcessServer = InProcessServer(app, port or None)
        else:
            from .server import SandboxServer

            server = SandboxServer(app, host, port)
            server.start_background()
        sb = Sandbox(server.root_url, key=app.key, server=server)
        if shared:
            _default = sb
        return sb


def attach(url: str, *, key: str | None = None, timeout_s: float = 2.0) -> Sandbox:
    """Return a handle on a sandbox running elsewhere (e.g. ``cerkl-nb sandbox``).

    ``url`` is its root URL or API base. The sandbox must first answer a fresh random
    challenge with proof that it holds the key (``key``, else ``$CERKL_SANDBOX_KEY``);
    only then is the key sent, to fetch the demo client the handle hands out, so whatever
    else answers at ``url`` never sees it. Each answer is awaited ``timeout_s``.

    Raises
    ------
    SandboxError
        When no key is known, nothing answers, what answers is not a cerkl-nb sandbox, or
        it cannot prove it holds the key.
    """
    root = url.rstrip("/")
    root = root[: -len(API_PREFIX)] if root.endswith(API_PREFIX) else root
    key = key if key is not None else os.environ.get(ENV_SANDBOX_KEY)
    if not key:
        raise SandboxError(
            f"no key for the sandbox at {root}: attach only with the key it was started "
            f"with (set {ENV_SANDBOX_KEY}, as cerkl-nb lab and binder/start do)"
        )
    try:
        sb = Sandbox(root, key=key)
    except ValueError as e:  # e.g. a port that is not a number
        raise SandboxError(f"not a usable sandbox URL: {root!r}: {e}") from None
    challenge = secrets.token_urlsafe(24)
    status, health = _get(sb, f"/_sandbox/health?challenge={challenge}", {}, timeout_s)
    if status != 200 or not isinstance(health, dict) or health.get("status") != "ok":
        raise SandboxError(f"{root} does not look like a cerkl-nb sandbox")
    proof = health.get("key_proof")
    if not isinstance(proof, str) or not hmac.compare_digest(proof, key_proof(key, challenge)):
        # Checked before the key is sent anywhere: a server that cannot prove it holds the
        # key never sees it, and nothing it says is taken.
        raise SandboxError(
            f"the sandbox at {root} was not started with this key, so not for you "
            f"(check {ENV_SANDBOX_KEY}); not attaching"
        )
    status, demo = _get(sb, "/_sandbox/demo-client", {SANDBOX_KEY_HEADER: key}, timeout_s)
    ok = status == 200 and isinstance(demo, dict)
    cid, secret = (demo.get("client_id"), demo.get("client_secret")) if ok else (None, None)
    if not (isinstance(cid, str) and cid and isinstance(secret, str) and secret):
        why = _message(demo) or f"status {status}"
        raise SandboxError(f"the sandbox at {root} hands out no client: {why}")
    sb.client_id, sb.client_secret = cid, secret
    return sb


def _get(sb: Sandbox, path: str, headers: dict[str, str], timeout_s: float) -> tuple[int, Any]:
    """The status and the JSON of a GET (``{}`` when the body is not JSON)."""
    try:
        status, raw = sb._request("GET", path, None, headers, timeout_s)
    except (OSError, http.client.HTTPException, ValueError) as e:
        # ValueError: e.g. a malformed URL that http.client cannot use.
        raise SandboxError(f"no sandbox answers at {sb.root_url}: {e}") from None
    try:
        return status, json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return status, {}


def _message(data: Any) -> str | None:
    """The message of a sandbox error body, if that is what ``data`` is."""
    error = data.get("error") if isinstance(data, dict) else None
    msg = error.get("message") if isinstance(error, dict) else None
    return msg if isinstance(msg, str) else None


def ensure() -> Sandbox:
    """Attach to ``$CERKL_SANDBOX_URL`` with ``$CERKL_SANDBOX_KEY``, else to the sandbox in
    this user's ready-file (:mod:`cerkl_nb.sandbox.ready`), else (and always in a browser
    tab) :func:`start` one in this process."""
    if in_browser():  # a browser tab cannot reach another process
        return start()
    url, key = os.environ.get(ENV_SANDBOX_URL), os.environ.get(ENV_SANDBOX_KEY)
    if not (url and key):
        # A login shell in a hub's terminal may have lost the environment; the sandbox
        # started with this user's server also published itself in their own ready-file.
        from .ready import default_ready_file, read_ready_file

        published = read_ready_file(default_ready_file())
        if published is not None:
            url, key = published["url"], published["key"]
    if url and key:
        try:
            return attach(url, key=key, timeout_s=1.0)
        except SandboxError:
            pass
    return start()
