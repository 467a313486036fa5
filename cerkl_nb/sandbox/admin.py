"""The admin API, ``/_sandbox/...``: how tests, notebooks and the handle steer a sandbox.

Only its owner may call it (docs/sandbox.md §8): every call but ``GET /_sandbox/health``
carries the sandbox's key in ``X-Sandbox-Key``; bodies must be JSON; a foreign ``Origin``
or a ``Host`` that is not a loopback name is refused; only loopback clients are answered.
Health tells nothing secret, and given ``?challenge=`` it proves that the sandbox holds
the key (:func:`~cerkl_nb.sandbox.settings.key_proof`) without showing it.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..spec import SANDBOX_KEY_HEADER, is_loopback_host
from .filters import format_date
from .messages import JSON, Problem, Request, Response, json_response, loads_strict
from .settings import DEMO_CLIENT_ID, ClientSpec, key_proof

if TYPE_CHECKING:
    from .app import App

__all__ = ["Admin"]

_DIGITS = re.compile(r"^[0-9]{1,15}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")

Handler = Callable[[Request, dict[str, str]], Any]  # a Response, or the JSON of a 200


class Admin:
    """The admin endpoints of one :class:`~cerkl_nb.sandbox.app.App`."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "/_sandbox/health"): self.health,
            ("GET", "/_sandbox/demo-client"): self.demo_client,
            ("GET", "/_sandbox/stats"): self.stats,
            ("POST", "/_sandbox/reset-stats"): self.reset_stats,
            ("GET", "/_sandbox/log"): self.log,
            ("GET", "/_sandbox/faults"): self.get_faults,
            ("POST", "/_sandbox/faults"): self.set_faults,
            ("DELETE", "/_sandbox/faults"): self.clear_faults,
            ("GET", "/_sandbox/clock"): self.get_clock,
            ("POST", "/_sandbox/clock"): self.move_clock,
            ("POST", "/_sandbox/revoke"): self.revoke,
            ("GET", "/_sandbox/clients"): self.get_clients,
            ("POST", "/_sandbox/clients"): self.register_client,
            ("GET", "/_sandbox/config"): self.get_config,
            ("POST", "/_sandbox/config"): self.set_config,
            ("POST", "/_sandbox/reset"): self.reset,
        }

    # ------------------------------------------------------------------ dispatch
    def __call__(self, req: Request, path: str, query: dict[str, str]) -> Response:
        """Check who is asking, then serve one admin request."""
        self.app.stats.bump("admin_requests")
        self._check_caller(req)
        fn = self.routes.get((req.method, path))
        if path != "/_sandbox/health":
            self._check_key(req)
        if fn is None:
            allowed = sorted(m for (m, p) in self.routes if p == path)
            if allowed:
                raise Problem(405, f"use {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
            raise Problem(404, f"no such admin endpoint {path!r}; see docs/sandbox.md")
        out = fn(req, query)
        return out if isinstance(out, Response) else json_response(200, out)

    def _check_caller(self, req: Request) -> None:
        if not req.from_loopback():
            raise Problem(403, "the /_sandbox admin API only answers loopback clients")
        host = req.header("Host")
        if not is_loopback_host(host):
            raise Problem(
                403,
                "the /_sandbox admin API only answers requests addressed to localhost, "
                "127.0.0.1 or [::1] (the Host header names another host)",
            )
        origin = req.header("Origin")
        if origin is not None and origin.rstrip("/").lower() != f"http://{host}".lower():
            raise Problem(403, "the /_sandbox admin API does not answer web pages (Origin)")

    def _check_key(self, req: Request) -> None:
        sent = req.header(SANDBOX_KEY_HEADER)
        if not sent:
            raise Problem(
                403,
                f"the /_sandbox admin API needs the sandbox's key in the {SANDBOX_KEY_HEADER} "
                "header (the handle from start() sends it; a sandbox started elsewhere "
                "publishes it as CERKL_SANDBOX_KEY)",
            )
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), self.app.key.encode()):
            raise Problem(
                403, f"wrong {SANDBOX_KEY_HEADER}: this sandbox was started with another key"
            )

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        if not req.body.strip():
            return {}
        if req.content_type() != JSON:
            raise Problem(415, "admin bodies must be sent as Content-Type: application/json")
        try:
            body = loads_strict(req.body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise Problem(400, "malformed JSON body") from None
        if not isinstance(body, dict):
            raise Problem(400, "the admin body must be a JSON object")
        return body

    # ------------------------------------------------------------------ endpoints
    def health(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        """Status and addresses, nothing secret; with ``?challenge=`` (16 to 128 URL-safe
        characters) also ``key_proof``, which proves the key is held without revealing it."""
        base = self.app.base(req)
        out: dict[str, Any] = {
            "status": "ok",
            "api_base": base,
            "token_url": base + "/oauth/Token",
            "openapi_url": base + "/openapi.json",
            "uptime_s": round(time.time() - self.app.started_at, 3),
            "server_time_utc": format_date(self.app.now()),
        }
        challenge = q.get("challenge")
        if challenge is not None:
            if not _CHALLENGE.match(challenge):
                raise Problem(400, "challenge must be 16 to 128 characters from A-Z a-z 0-9 _ -")
            out["key_proof"] = key_proof(self.app.key, challenge)
        return out

    def demo_client(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        """The client an attached handle hands out: the demo client as it is now (with a
        new secret once re-registered), else the first client registered."""
        clients = self.app.tokens.clients
        spec = clients.get(DEMO_CLIENT_ID) or next(iter(clients.values()), None)
        if spec is None:
            raise Problem(
                409, "this sandbox accepts no client: register one with register_client()"
            )
        return {"client_id": spec.client_id, "client_secret": spec.client_secret}

    def stats(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        return {**self.app.stats.as_dict(), **self.app.tokens.counts()}

    def reset_stats(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        self.app.stats.reset()
        return self.stats(req, q)

    def log(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        limit = q.get("limit", "1000")
        if not _DIGITS.match(limit):
            raise Problem(400, "limit must be a non-negative integer")
        with self.app.stats.lock:
            entries = list(self.app.stats.ring)
        return {"entries": entries[-int(limit) :] if int(limit) else []}

    def get_faults(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        return self.app.faults.public()

    def set_faults(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        body = self._body(req)
        try:
            self.app.faults.update(**body)
        except (ValueError, TypeError) as e:
            raise Problem(400, str(e)) from None
        self.app.tokens.expire_early_s = self.app.faults.s.expire_early_s
        return self.app.faults.public()

    def clear_faults(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        self.app.faults.clear()
        self.app.tokens.expire_early_s = 0.0
        return self.app.faults.public()

    def get_clock(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        now = self.app.now()
        return {"offset_s": self.app.clock_offset_s, "now": now, "now_utc": format_date(now)}

    def move_clock(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        body = self._body(req)
        adv = body.get("advance_s")
        if set(body) - {"advance_s"} or isinstance(adv, bool) or not isinstance(adv, int | float):
            raise Problem(400, 'send {"advance_s": <seconds>} (a number, may be negative)')
        if not -1e10 < adv < 1e10:
            raise Problem(400, "advance_s is out of range")
        self.app.clock_offset_s += float(adv)
        return self.get_clock(req, q)

    def revoke(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        return self.app.tokens.revoke_all()

    def get_clients(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        return {"clients": [c.public() for c in self.app.tokens.clients.values()]}

    def register_client(self, req: Request, q: dict[str, str]) -> Response:
        body = self._body(req)
        allowed = {"client_id", "client_secret", "name", "token_lifetime_s", "issue_refresh_token"}
        if set(body) - allowed:
            raise Problem(
                400, f"unknown key(s) {sorted(set(body) - allowed)}; allowed: {sorted(allowed)}"
            )
        try:
            spec = ClientSpec(**body)
            self.app.tokens.register(spec)
        except (TypeError, ValueError) as e:
            raise Problem(400, str(e)) from None
        return json_response(201, spec.public())

    def get_config(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        return self.app.config.public()

    def set_config(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        body = self._body(req)
        for name in ("clock", "record_issued_tokens"):
            if name in body:
                raise Problem(
                    400,
                    f"{name} can only be set in-process: start(config=SandboxConfig({name}=...))",
                )
        try:
            self.app.apply_config(**body)
        except (TypeError, ValueError) as e:
            raise Problem(400, str(e)) from None
        return self.app.config.public()

    def reset(self, req: Request, q: dict[str, str]) -> dict[str, Any]:
        self.app.reset()
        return {"reset": True}
