"""The sandbox's OAuth 2.0 token service: clients, access tokens and refresh tokens.

Behaviour follows RFC 6749 (client credentials §4.4, refresh §6, errors §5.2), with
refresh-token rotation and reuse detection from RFC 9700 §4.14.2. Where Cerkl's docs
are silent the choice is in ``docs/sandbox.md``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from .settings import DEMO_CLIENTS, MAX_CLIENTS, ClientSpec, SandboxConfig

__all__ = ["OAuthError", "TokenService", "AccessToken", "RefreshToken"]


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``{"error": code, "error_description": description}``."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class AccessToken:
    client_id: str
    expires_at: float
    family: int


@dataclass
class RefreshToken:
    client_id: str
    expires_at: float
    family: int
    retired: bool = False  # used once already (rotation): presenting it again is reuse
    revoked: bool = False


@dataclass
class _Family:
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)


def new_token() -> str:
    """40 lowercase hex characters, the shape of Cerkl's documented sample token."""
    return secrets.token_hex(20)


class TokenService:
    """Issues and checks tokens.

    Parameters
    ----------
    config
        The live :class:`SandboxConfig` (read on every call, so ``configure()`` applies
        at once).
    now
        The server clock (includes ``advance_clock`` offsets).
    """

    def __init__(self, config: SandboxConfig, now) -> None:
        self.config = config
        self.now = now
        self.lock = threading.Lock()
        self.clients: dict[str, ClientSpec] = {}
        self.registered: dict[str, ClientSpec] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.families: dict[int, _Family] = {}
        # Per-client live access tokens in issue order, to cap memory (oldest first).
        self.by_client: dict[str, OrderedDict[str, None]] = {}
        self.refresh_by_client: dict[str, OrderedDict[str, None]] = {}
        self._family_seq = 0
        self.expire_early_s = 0.0
        self.reuse_detected = 0
        # Every token issued, in order, when config.record_issued_tokens is on (a
        # testing aid, readable in-process only: Sandbox.issued_tokens()).
        self._issued: list[str] = []
        self.reload_clients()

    # ------------------------------------------------------------------ clients
    def reload_clients(self) -> None:
        """Rebuild the client table from the configuration plus run-time registrations."""
        clients: dict[str, ClientSpec] = {}
        if self.config.demo_clients:
            for c in DEMO_CLIENTS:
                clients[c.client_id] = c
        for c in self.config.clients:
            clients[c.client_id] = c
        clients.update(self.registered)  # registered at run time: they win
        self.clients = clients

    def register(self, spec: ClientSpec) -> None:
        """Add or replace a client.

        Replacing a client does not revoke the tokens it already holds: Cerkl does not say
        that a new secret ends old sessions, and tokens stay valid until they expire.

        Raises
        ------
        ValueError
            When :data:`~cerkl_nb.sandbox.settings.MAX_CLIENTS` are registered already.
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

    # ------------------------------------------------------------------ basic auth
    def parse_basic(self, header: str, mode: str | None = None) -> list[tuple[str, str]]:
        """Decode ``Authorization: Basic ...`` into candidate (id, secret) pairs.

        ``mode`` is a :data:`~cerkl_nb.sandbox.settings.BASIC_AUTH_ENCODINGS` value
        (default: the configured one). In ``either`` mode both the raw and the
        form-decoded reading are returned (raw first), and the first that authenticates
        wins.

        Raises
        ------
        OAuthError
            401 ``invalid_client`` when the header is not valid Basic credentials.
        """
        parts = header.strip().split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "basic":
            raise OAuthError(
                401,
                "invalid_client",
                "client authentication failed: use HTTP Basic (Authorization: Basic "
                "base64(client_id:client_secret)) or client_id/client_secret form fields",
            )
        b64 = parts[1].strip()
        try:
            raw = base64.b64decode(b64, validate=True)
            text = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            raise OAuthError(
                401,
                "invalid_client",
                "malformed Basic credentials: expected base64 of 'client_id:client_secret' "
                "in UTF-8",
            ) from None
        if ":" not in text:
            raise OAuthError(
                401, "invalid_client", "malformed Basic credentials: no ':' between id and secret"
            )
        cid, secret = text.split(":", 1)
        mode = mode or self.config.basic_auth_encoding
        out = []
        if mode in ("raw", "either"):
            out.append((cid, secret))
        if mode in ("rfc6749", "either"):
            pair = (unquote_plus(cid), unquote_plus(secret))
            if pair not in out:
                out.append(pair)
        return out

    # ------------------------------------------------------------------ issuing
    def _lifetime(self, client: ClientSpec) -> int:
        # Whole seconds: expires_in is an integer in RFC 6749 §5.1, and the token expires
        # exactly when expires_in says (a fraction is cut off, never added).
        return int(client.token_lifetime_s or self.config.token_lifetime_s)

    def issue(self, client: ClientSpec, family: int | None = None) -> dict:
        """Mint an access token (and a refresh token if configured) for ``client``."""
        now = self.now()
        lifetime = self._lifetime(client)
        give_refresh = (
            client.issue_refresh_token
            if client.issue_refresh_token is not None
            else self.config.issue_refresh_tokens
        )
        with self.lock:
            if family is None:
                self._family_seq += 1
                family = self._family_seq
            fam = self.families.setdefault(family, _Family())
            token = new_token()
            if self.config.record_issued_tokens:
                self._issued.append(token)
            self.access[token] = AccessToken(client.client_id, now + lifetime, family)
            fam.access.add(token)
            live = self.by_client.setdefault(client.client_id, OrderedDict())
            live[token] = None
            while len(live) > self.config.max_tokens_per_client:
                old, _ = live.popitem(last=False)
                gone = self.access.pop(old, None)
                if gone is not None:
                    self._forget(gone.family, access=old)
            body = {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "scope": None,
            }
            if give_refresh:
                rt = new_token()
                if self.config.record_issued_tokens:
                    self._issued.append(rt)
                self.refresh[rt] = RefreshToken(
                    client.client_id, now + self.config.refresh_token_lifetime_s, family
                )
                fam.refresh.add(rt)
                body["refresh_token"] = rt
                rlive = self.refresh_by_client.setdefault(client.client_id, OrderedDict())
                rlive[rt] = None
                while len(rlive) > self.config.max_tokens_per_client:
                    old, _ = rlive.popitem(last=False)
                    gone_r = self.refresh.pop(old, None)
                    if gone_r is not None:
                        self._forget(gone_r.family, refresh=old)
        return body

    def issued_tokens(self) -> list[str]:
        """A copy of every token recorded so far (see ``record_issued_tokens``)."""
        with self.lock:
            return list(self._issued)

    def _forget(self, family: int, access: str | None = None, refresh: str | None = None) -> None:
        # Memory cap: a client's oldest tokens are forgotten beyond max_tokens_per_client,
        # and a family with nothing left is dropped, so long benchmark runs stay flat.
        fam = self.families.get(family)
        if fam is None:
            return
        fam.access.discard(access)  # type: ignore[arg-type]
        fam.refresh.discard(refresh)  # type: ignore[arg-type]
        if not fam.access and not fam.refresh:
            del self.families[family]

    def refresh_grant(self, client: ClientSpec, refresh_token: str) -> tuple[dict, str]:
        """Validate and use a refresh token; return (token response, old refresh token).

        Raises
        ------
        OAuthError
            400 ``invalid_grant`` for unknown, expired, revoked, foreign or reused tokens.
        """
        now = self.now()
        with self.lock:
            rec = self.refresh.get(refresh_token)
            if rec is None or rec.client_id != client.client_id:
                # Same answer for "never existed" and "another client's": no oracle.
                raise OAuthError(400, "invalid_grant", "the refresh token is invalid or unknown")
            if rec.retired:
                self.reuse_detected += 1
                if self.config.reuse_revokes_family:
                    fam = self.families.get(rec.family)
                    if fam:
                        for rt in fam.refresh:
                            if rt in self.refresh:
                                self.refresh[rt].revoked = True
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
                fam = self.families.get(rec.family)
                if fam:
                    for at in fam.access:
                        self.access.pop(at, None)
                    fam.access.clear()
            if self.config.rotate_refresh_tokens:
                rec.retired = True
        body = self.issue(client, family=rec.family)
        if not self.config.rotate_refresh_tokens and "refresh_token" in body:
            # Without rotation the same refresh token stays valid and is returned again.
            with self.lock:
                self.refresh.pop(body["refresh_token"], None)
                self.refresh_by_client.get(client.client_id, OrderedDict()).pop(
                    body["refresh_token"], None
                )
                self.families.setdefault(rec.family, _Family()).refresh.discard(
                    body["refresh_token"]
                )
            body["refresh_token"] = refresh_token
        return body, refresh_token

    # ------------------------------------------------------------------ checking
    def check_bearer(self, token: str) -> tuple[AccessToken | None, str]:
        """Return (record, "") for a usable token, else (None, reason)."""
        rec = self.access.get(token)
        if rec is None:
            return None, "the access token is unknown or was revoked"
        if self.now() >= rec.expires_at - self.expire_early_s:
            return None, "the access token has expired"
        live = self.by_client.get(rec.client_id)
        if live is not None and len(live) > self.config.max_tokens_per_client // 2:
            # Near the memory cap, keep the order least-recently-*used* first, so a token
            # in active use is never the one forgotten (a token benchmark running next to
            # an API benchmark must not invalidate the API benchmark's token).
            with self.lock:
                if token in live:
                    live.move_to_end(token)
        return rec, ""

    def revoke_all(self) -> dict:
        """Forget every access token and revoke every refresh token."""
        with self.lock:
            n_access = len(self.access)
            n_refresh = sum(1 for r in self.refresh.values() if not r.revoked)
            self.access.clear()
            self.by_client.clear()
            for r in self.refresh.values():
                r.revoked = True
            for fam in self.families.values():
                fam.access.clear()
        return {"revoked_access_tokens": n_access, "revoked_refresh_tokens": n_refresh}

    def counts(self) -> dict:
        now = self.now()
        return {
            "live_access_tokens": sum(1 for r in self.access.values() if r.expires_at > now),
            "live_refresh_tokens": sum(
                1
                for r in self.refresh.values()
                if not r.revoked and not r.retired and r.expires_at > now
            ),
        }
