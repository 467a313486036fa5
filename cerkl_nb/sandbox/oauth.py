"""The sandbox's OAuth 2.0 token service: clients, access tokens and refresh tokens.

RFC 6749 (client credentials §4.4, refresh §6), with refresh-token rotation and reuse
detection from RFC 9700 §4.14.2; the token endpoint's HTTP side is ``token_endpoint.py``.
"""

from __future__ import annotations

import hmac
import itertools
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .settings import DEMO_CLIENTS, MAX_CLIENTS, ClientSpec, SandboxConfig

__all__ = ["Grant", "OAuthError", "TokenService"]


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``{"error": code, "error_description": description}``."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class Grant:
    """What an issued token stands for. A family is one chain of refreshes."""

    client_id: str
    expires_at: float
    family: int
    retired: bool = False  # a refresh token used once already (rotation): again is reuse
    revoked: bool = False


class _Tokens(dict[str, Grant]):
    """Tokens and their grants; per client, beyond ``cap`` the least recently used go."""

    def __init__(self) -> None:
        super().__init__()
        self._order: dict[str, OrderedDict[str, None]] = {}

    def add(self, token: str, grant: Grant, cap: int) -> None:
        self[token] = grant
        live = self._order.setdefault(grant.client_id, OrderedDict())
        live[token] = None
        while len(live) > cap:
            self.pop(live.popitem(last=False)[0], None)

    def discard(self, token: str) -> None:
        grant = self.pop(token, None)
        if grant is not None:
            self._order[grant.client_id].pop(token, None)

    def used(self, token: str, client_id: str) -> None:
        live = self._order.get(client_id)
        if live is not None and token in live:
            live.move_to_end(token)

    def clear(self) -> None:
        super().clear()
        self._order.clear()


def new_token() -> str:
    """40 lowercase hex characters, the shape of Cerkl's documented sample token."""
    return secrets.token_hex(20)


class TokenService:
    """Issues and checks tokens, reading the live ``config`` on every call (so
    ``configure()`` applies at once) and the server clock ``now``."""

    def __init__(self, config: SandboxConfig, now: Callable[[], float]) -> None:
        self.config = config
        self.now = now
        self.lock = threading.Lock()
        self.clients: dict[str, ClientSpec] = {}
        self.registered: dict[str, ClientSpec] = {}
        # Each client keeps at most max_tokens_per_client of each kind, so memory stays
        # flat however many tokens a loop asks for; a token in use is kept.
        self.access = _Tokens()
        self.refresh = _Tokens()
        self._families = itertools.count(1)
        self.expire_early_s = 0.0
        # Every token issued, when config.record_issued_tokens is on (a testing aid,
        # readable in-process only: Sandbox.issued_tokens()).
        self._issued: list[str] = []
        self.reload_clients()

    # ------------------------------------------------------------------ clients
    def reload_clients(self) -> None:
        """Rebuild the client table from the configuration plus run-time registrations."""
        configured = (*(DEMO_CLIENTS if self.config.demo_clients else ()), *self.config.clients)
        # Clients registered at run time win.
        self.clients = {**{c.client_id: c for c in configured}, **self.registered}

    def register(self, spec: ClientSpec) -> None:
        """Add or replace a client (``ValueError`` beyond ``MAX_CLIENTS``).

        Replacing a client does not revoke its tokens: Cerkl does not say that a new
        secret ends old sessions.
        """
        with self.lock:
            if spec.client_id not in self.registered and len(self.registered) >= MAX_CLIENTS:
                raise ValueError(f"at most {MAX_CLIENTS} clients can be registered")
            self.registered[spec.client_id] = spec
            self.clients = {**self.clients, spec.client_id: spec}

    def authenticate(self, client_id: str, client_secret: str) -> ClientSpec | None:
        """Return the client if the secret matches, comparing in constant time."""
        spec = self.clients.get(client_id)
        # Compare against a dummy when the id is unknown so timing does not reveal
        # which client ids exist.
        expected = spec.client_secret if spec is not None else "x" * 32
        ok = hmac.compare_digest(client_secret.encode("utf-8"), expected.encode("utf-8"))
        return spec if (ok and spec is not None) else None

    # ------------------------------------------------------------------ issuing
    def _lifetime(self, client: ClientSpec) -> int:
        # Whole seconds: expires_in is an integer in RFC 6749 §5.1, and the token expires
        # exactly when expires_in says (a fraction is cut off, never added).
        return int(client.token_lifetime_s or self.config.token_lifetime_s)

    def issue(self, client: ClientSpec, family: int | None = None, keep: str = "") -> dict:
        """Mint an access token (and a refresh token if configured) for ``client``.

        ``family``: the chain a refresh continues; ``keep``: a refresh token to hand back
        instead of a new one (refreshing without rotation).
        """
        now, cap = self.now(), self.config.max_tokens_per_client
        lifetime = self._lifetime(client)
        give_refresh = client.issue_refresh_token
        if give_refresh is None:
            give_refresh = self.config.issue_refresh_tokens
        with self.lock:
            family = next(self._families) if family is None else family
            token = new_token()
            self.access.add(token, Grant(client.client_id, now + lifetime, family), cap)
            issued = [token]
            body = {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}
            body["scope"] = None
            if give_refresh and keep:
                body["refresh_token"] = keep
            elif give_refresh:
                rt = new_token()
                expires = now + self.config.refresh_token_lifetime_s
                self.refresh.add(rt, Grant(client.client_id, expires, family), cap)
                body["refresh_token"] = rt
                issued.append(rt)
            if self.config.record_issued_tokens:
                self._issued.extend(issued)
        return body

    def issued_tokens(self) -> list[str]:
        """A copy of every token recorded so far (see ``record_issued_tokens``)."""
        with self.lock:
            return list(self._issued)

    def refresh_grant(self, client: ClientSpec, refresh_token: str) -> dict:
        """Use a refresh token and return the token response; ``invalid_grant`` for an
        unknown, expired, revoked, foreign or reused one."""
        now = self.now()
        with self.lock:
            rec = self.refresh.get(refresh_token)
            if rec is None or rec.client_id != client.client_id:
                # Same answer for "never existed" and "another client's": no oracle.
                raise OAuthError(400, "invalid_grant", "the refresh token is invalid or unknown")
            if rec.retired:
                if self.config.reuse_revokes_family:
                    for grant in self.refresh.values():
                        grant.revoked = grant.revoked or grant.family == rec.family
                raise OAuthError(
                    400,
                    "invalid_grant",
                    "the refresh token was already used (refresh tokens rotate: use the "
                    "newest one, or request a new token with client_credentials)",
                )
            if rec.revoked:
                raise OAuthError(400, "invalid_grant", "the refresh token was revoked")
            if rec.expires_at <= now:
                raise OAuthError(400, "invalid_grant", "the refresh token has expired")
            if self.config.revoke_access_on_refresh:
                for token in [t for t, g in self.access.items() if g.family == rec.family]:
                    self.access.discard(token)
            rotate = self.config.rotate_refresh_tokens
            rec.retired = rotate
        # Without rotation the same refresh token stays valid and is returned again.
        return self.issue(client, family=rec.family, keep="" if rotate else refresh_token)

    # ------------------------------------------------------------------ checking
    def check_bearer(self, token: str) -> tuple[Grant | None, str]:
        """Return (grant, "") for a usable access token, else (None, reason)."""
        rec = self.access.get(token)
        if rec is None:
            return None, "the access token is unknown or was revoked"
        if self.now() >= rec.expires_at - self.expire_early_s:
            return None, "the access token has expired"
        with self.lock:
            self.access.used(token, rec.client_id)  # in use: the last to be forgotten
        return rec, ""

    def revoke_all(self) -> dict:
        """Forget every access token and revoke every refresh token."""
        with self.lock:
            n_access = len(self.access)
            n_refresh = sum(1 for r in self.refresh.values() if not r.revoked)
            self.access.clear()
            for r in self.refresh.values():
                r.revoked = True
        return {"revoked_access_tokens": n_access, "revoked_refresh_tokens": n_refresh}

    def forget_all(self) -> None:
        """Forget every token and the early-expiry fault (a reset)."""
        with self.lock:
            self.access.clear()
            self.refresh.clear()
            self.expire_early_s = 0.0

    def counts(self) -> dict:
        """The live (usable) access and refresh tokens."""
        now = self.now()
        with self.lock:
            access = sum(1 for r in self.access.values() if r.expires_at > now)
            refresh = sum(
                1
                for r in self.refresh.values()
                if not (r.revoked or r.retired) and r.expires_at > now
            )
        return {"live_access_tokens": access, "live_refresh_tokens": refresh}
