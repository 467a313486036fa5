"""A faithful local imitation of the Cerkl Broadcast API v3.

Nobody can reach Cerkl without an account, and a public Binder must never see real
credentials, so cerkl-nb ships its own stand-in. The tutorials run against it by
default, every test uses it, and curl or Postman can be pointed at it.

Three ways to run it:

* ``cerkl-nb sandbox [--port N]`` on the command line;
* :func:`start` in a notebook or script (a background thread; ``stop()`` when done);
* the pytest fixtures ``sandbox`` / ``fresh_sandbox`` from
  :mod:`cerkl_nb.sandbox.pytest_plugin`.

In a browser tab (JupyterLite), which has no sockets, :func:`start` runs it in the kernel
itself, reached through a ``requests`` transport adapter
(:mod:`cerkl_nb.sandbox.transport`); ``start(in_process=True)`` does the same anywhere.

Only its owner can steer a sandbox (faults, clock, clients): every sandbox makes a random
key when it starts, and its admin API answers only calls that carry it. The handle from
:func:`start` holds the key; a sandbox started by ``cerkl-nb sandbox``, ``cerkl-nb lab``
or ``binder/start`` publishes it to its kernels as ``CERKL_SANDBOX_KEY`` beside
``CERKL_SANDBOX_URL``, and :func:`attach` / :func:`ensure` attach only with it.

This package imports nothing from the rest of cerkl-nb except :mod:`cerkl_nb.spec`, so a
sandbox runs without the client's dependencies.

Examples
--------
>>> from cerkl_nb import sandbox
>>> sb = sandbox.start()                      # doctest: +SKIP
>>> sb.url, sb.client_id                      # doctest: +SKIP
('http://127.0.0.1:54321/v3', 'cerkl-nb-demo')
>>> with sb.clock_offset(12 * 3600):          # doctest: +SKIP
...     ...                                   # tokens are expired in here
>>> sb.stop()                                 # doctest: +SKIP

Every choice the sandbox makes where Cerkl's documentation is silent is listed in
``docs/sandbox.md``.
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
    from .server import SandboxServer

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

    Every method talks to the sandbox's admin HTTP API (``/_sandbox/...``) and sends the
    sandbox's key with each call, so a handle from :func:`start` and one from
    :func:`attach` behave the same. The in-process handle additionally owns the server,
    for :meth:`stop`.

    Parameters
    ----------
    root_url
        ``http://host:port`` of the sandbox.
    key
        The sandbox's admin key (never shown in the repr).
    client_id, client_secret
        The demo client this handle hands out (fake, sandbox-only credentials).
    server
        The in-process server, when this handle owns one.
    """

    def __init__(
        self,
        root_url: str,
        *,
        key: str | None = None,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        server: SandboxServer | None = None,
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
        self._port = parts.port or (443 if self._https else 80)
        # A sandbox behind a path prefix (e.g. jupyter-server-proxy's /proxy/8765 on
        # Binder) keeps its admin API under the same prefix.
        self._prefix = parts.path.rstrip("/")

    # ------------------------------------------------------------------ identity
    @property
    def port(self) -> int:
        """The TCP port the sandbox listens on."""
        return self._port

    @property
    def app(self):
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
    def _admin(self, method: str, path: str, payload: dict | None = None) -> Any:
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.key:
            headers[SANDBOX_KEY_HEADER] = self.key
        target = self._prefix + "/_sandbox/" + path
        try:
            status, raw = self._exchange(method, target, body, headers)
        except (OSError, http.client.HTTPException) as e:
            raise SandboxError(f"the sandbox at {self.root_url} is not reachable: {e}") from None
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            raise SandboxError(f"unexpected answer from {self.root_url}: not JSON") from None
        if status >= 400:
            msg = data.get("error", {}).get("message") if isinstance(data, dict) else None
            raise SandboxError(f"sandbox admin {method} /_sandbox/{path}: {msg or status}")
        return data

    def _exchange(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        exchange = getattr(self._server, "exchange", None)
        if exchange is not None:
            # An in-process sandbox (transport.InProcessServer): straight to the app.
            return exchange(method, target, body, headers)
        conn = _connection(self._https, self._host, self._port, 10)
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def health(self) -> dict:
        """``GET /_sandbox/health``: status and URLs (it needs no key and tells no secret)."""
        return self._admin("GET", "health")

    def demo_client(self) -> dict:
        """``GET /_sandbox/demo-client``: the ``client_id`` and ``client_secret`` to hand out.

        The demo client as the sandbox knows it now (a re-registered one has its new
        secret); without demo clients, the first registered client.
        """
        return self._admin("GET", "demo-client")

    def stats(self) -> dict:
        """Counters: ``token_requests``, ``client_credentials``, ``refresh_token``,
        ``refresh_token_reuse``, ``api_requests``, ``statuses``, ``internal_errors`` ..."""
        return self._admin("GET", "stats")

    def reset_stats(self) -> dict:
        """Zero every counter and empty the request log."""
        return self._admin("POST", "reset-stats")

    def log(self, limit: int = 1000) -> list[dict]:
        """The most recent requests as ``{"method", "target", "status", "request_id"}``.

        Only the request line is kept (no headers), so a test can prove that no token
        ever appears in a URL.
        """
        return self._admin("GET", f"log?limit={int(limit)}")["entries"]

    def register_client(self, client_id: str, client_secret: str, **per_client: Any) -> dict:
        """Accept another client. ``per_client``: ``token_lifetime_s``,
        ``issue_refresh_token``, ``name``."""
        return self._admin(
            "POST",
            "clients",
            {"client_id": client_id, "client_secret": client_secret, **per_client},
        )

    def configure(self, **config: Any) -> dict:
        """Change :class:`SandboxConfig` settings live (``clock`` and
        ``record_issued_tokens`` only via :func:`start`)."""
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
        """Move the server clock forward (or back) so tokens expire without waiting.

        The move lasts until it is undone; prefer :meth:`clock_offset`, which undoes it.
        """
        return self._admin("POST", "clock", {"advance_s": seconds})

    @contextlib.contextmanager
    def clock_offset(self, seconds: float) -> Iterator[dict]:
        """Move the server clock by ``seconds`` inside a ``with`` block, and back after it.

        The clock moves back even when the block raises or is interrupted, so a notebook
        stopped halfway does not leave a shared sandbox hours ahead. Moves made by others
        meanwhile are kept: the offset is undone by subtraction, not by resetting.

        Yields
        ------
        dict
            The clock after the move: ``offset_s``, ``now``, ``now_utc``.

        Examples
        --------
        >>> with sb.clock_offset(13 * 3600):   # doctest: +SKIP
        ...     client.get("/segment")          # the 12-hour token has expired here
        """
        moved = self.advance_clock(seconds)  # raises before the block if refused
        try:
            yield moved
        finally:
            self.advance_clock(-seconds)

    def reset(self) -> dict:
        """Re-seed the data and forget tokens, faults, stats and clock offset."""
        return self._admin("POST", "reset")

    # ------------------------------------------------------------------ testing aid
    def issued_tokens(self) -> list[str]:
        """Every access and refresh token this sandbox has issued, oldest first.

        A testing aid, e.g. to prove that no token ever reaches a notebook's output.
        It works only on a sandbox this process started with
        ``start(config=SandboxConfig(record_issued_tokens=True))``. Tokens are never
        readable over HTTP, so an attached handle cannot ask. :meth:`reset` does not
        clear the record.

        Raises
        ------
        SandboxError
            On an attached handle, or when recording was not switched on.
        """
        if self._server is None:
            raise SandboxError(
                "issued_tokens() works only on a sandbox started in this process "
                "(tokens are never readable over HTTP)"
            )
        app = self._server.app
        if not app.config.record_issued_tokens:
            raise SandboxError(
                "this sandbox does not record tokens: start it with "
                "start(config=SandboxConfig(record_issued_tokens=True))"
            )
        return app.tokens.issued_tokens()

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


def _connection(https: bool, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
    cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
    return cls(host, port, timeout=timeout)


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

    Called with no arguments, it starts the shared default sandbox once and returns the
    same handle on later calls (safe to call from every notebook cell). Called with any
    argument, it always starts a new, separate server, which the caller should stop.

    In a browser tab (:func:`in_browser`) there are no sockets and no threads: the
    sandbox then runs in this process, and ``requests`` reaches its origin through
    :class:`~cerkl_nb.sandbox.transport.SandboxAdapter` (see that module).

    Parameters
    ----------
    host
        Interface to bind; loopback unless told otherwise.
    port
        TCP port; 0 (the default) picks a free one.
    config
        Settings; ``None`` means :class:`SandboxConfig` defaults.
    key
        The admin key; ``None`` (the default) makes a random one. Pass one when another
        process must steer this sandbox too and already holds the key.
    in_process
        ``True``: no server and no thread; the app runs in this process behind a
        ``requests`` transport adapter routed for its origin (``port`` then only names
        it; 0 picks an unused name). ``None`` (the default): only in a browser tab.

    Returns
    -------
    Sandbox
        The handle: ``.url``, ``.key``, ``.client_id``, ``.client_secret``, ``.stop()`` ...

    Raises
    ------
    ValueError
        For a port outside 0-65535 or a malformed key.
    OSError
        When the port is taken.
    """
    global _default
    from .app import App
    from .server import SandboxServer

    local = in_browser() if in_process is None else in_process
    shared = host == "127.0.0.1" and port == 0 and config is None and key is None
    shared = shared and in_process is None
    with _lock:
        if shared and _default is not None and _default._server is not None:
            if _default._server.running:
                return _default
        if local:
            from .transport import InProcessServer

            local_server = InProcessServer(App(config, key=key), port or None)
            sb = Sandbox(local_server.root_url, key=local_server.key, server=local_server)  # type: ignore[arg-type]
        else:
            server = SandboxServer(App(config, key=key), host, port)
            server.start_background()
            sb = Sandbox(server.root_url, key=server.key, server=server)
        if shared:
            _default = sb
        return sb


def attach(url: str, *, key: str | None = None, timeout_s: float = 2.0) -> Sandbox:
    """Return a handle on a sandbox running elsewhere (e.g. ``cerkl-nb sandbox``).

    The sandbox must prove that it was started for this user: it answers a fresh random
    challenge with proof that it holds the key (``key``, else ``$CERKL_SANDBOX_KEY``),
    and only then is the key sent, with which it hands out its demo client. Whatever
    else answers at ``url`` (another user's sandbox, any other server) never sees the
    key, and the handle takes no credentials from it.

    Parameters
    ----------
    url
        Its root URL or API base (``http://127.0.0.1:8765`` or ``.../v3``).
    key
        The sandbox's admin key; ``None`` reads ``$CERKL_SANDBOX_KEY``.
    timeout_s
        How long to wait for each answer.

    Raises
    ------
    SandboxError
        When no key is known, nothing answers there, what answers is not a cerkl-nb
        sandbox (any status but 200, or a body that is not a JSON object with
        ``"status": "ok"``), or it cannot prove it holds the key. :func:`ensure` then
        starts one instead.
    """
    root = url.rstrip("/")
    if root.endswith(API_PREFIX):
        root = root[: -len(API_PREFIX)]
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
    status, raw = _get(sb, f"/_sandbox/health?challenge={challenge}", {}, timeout_s)
    health = _json_object(status, raw, "status")
    if health is None:
        raise SandboxError(f"{root} does not look like a cerkl-nb sandbox")
    proof = health.get("key_proof")
    if not isinstance(proof, str) or not hmac.compare_digest(proof, key_proof(key, challenge)):
        # Checked before the key is sent anywhere: a server that cannot prove it holds the
        # key never sees it, and nothing it says is taken.
        raise SandboxError(
            f"the sandbox at {root} was not started with this key, so not for you "
            f"(check {ENV_SANDBOX_KEY}); not attaching"
        )
    status, raw = _get(sb, "/_sandbox/demo-client", {SANDBOX_KEY_HEADER: key}, timeout_s)
    demo = _json_object(status, raw, "client_secret")
    cid, secret = (demo or {}).get("client_id"), (demo or {}).get("client_secret")
    if not (isinstance(cid, str) and cid and isinstance(secret, str) and secret):
        why = _error_message(raw) or f"status {status}"
        raise SandboxError(f"the sandbox at {root} hands out no client: {why}")
    sb.client_id, sb.client_secret = cid, secret
    return sb


def _get(sb: Sandbox, path: str, headers: dict[str, str], timeout_s: float) -> tuple[int, bytes]:
    conn = _connection(sb._https, sb._host, sb._port, timeout_s)
    try:
        conn.request("GET", sb._prefix + path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException, ValueError) as e:
        # ValueError: e.g. a malformed URL that http.client cannot use.
        raise SandboxError(f"no sandbox answers at {sb.root_url}: {e}") from None
    finally:
        conn.close()


def _error_message(raw: bytes) -> str | None:
    """The message of a sandbox error body, if that is what ``raw`` is."""
    try:
        data = json.loads(raw)
        msg = data["error"]["message"]
    except (ValueError, TypeError, KeyError):
        return None
    return msg if isinstance(msg, str) else None


def _json_object(status: int, raw: bytes, required: str) -> dict | None:
    """The body when it is 200 and a JSON object with ``required`` (and, for health,
    ``"status": "ok"``), else None."""
    if status != 200:
        return None
    try:
        data = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return None
    if not isinstance(data, dict) or required not in data:
        return None
    if required == "status" and data["status"] != "ok":
        return None
    return data


def ensure() -> Sandbox:
    """Attach to ``$CERKL_SANDBOX_URL`` with ``$CERKL_SANDBOX_KEY``, else :func:`start`.

    Without those variables, the sandbox this user's notebook server published in their
    ready-file (``~/.cerkl-nb/sandbox.json``, see :mod:`cerkl_nb.sandbox.ready`) is tried.

    Without the key, or when the sandbox there refuses it, or when anything else answers
    (nothing, HTML, a 500 ...), a sandbox of this process's own is started instead. In a
    browser tab that is always the case, and the sandbox runs in the kernel (:func:`start`).
    """
    url, key = os.environ.get(ENV_SANDBOX_URL), os.environ.get(ENV_SANDBOX_KEY)
    if not (url and key) and not in_browser():
        # A login shell in a hub's terminal may have lost the environment; the sandbox
        # started with this user's server also published itself in their own ready-file.
        from .ready import default_ready_file, read_ready_file

        published = read_ready_file(default_ready_file())
        if published is not None:
            url, key = published["url"], published["key"]
    if url and key and not in_browser():  # a browser tab cannot reach another process
        try:
            return attach(url, key=key, timeout_s=1.0)
        except SandboxError:
            pass
    return start()
