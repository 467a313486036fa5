"""The token endpoint, ``POST /v3/oauth/Token``: HTTP in, RFC 6749 answers out.

It reads the form body, the client's authentication (HTTP Basic or form fields) and the
grant type, in the order of docs/sandbox.md §4, and answers with RFC 6749 §5.1 and §5.2
bodies; :class:`~cerkl_nb.sandbox.oauth.TokenService` holds the clients and tokens.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote_plus

from .faults import Faults
from .messages import Request, Response, json_response
from .oauth import OAuthError, TokenService
from .settings import ClientSpec, SandboxConfig
from .stats import Stats

__all__ = ["TokenEndpoint", "basic_credentials", "oauth_error"]

_NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
# Parameters that must never travel in a URL (they would land in access logs).
_SECRET_PARAMS = {"client_id", "client_secret", "grant_type", "refresh_token", "access_token"}


def _invalid_request(description: str) -> OAuthError:
    return OAuthError(400, "invalid_request", description)


def _invalid_client(description: str) -> OAuthError:
    return OAuthError(401, "invalid_client", description)


def oauth_error(err: OAuthError, headers: dict[str, str] | None = None) -> Response:
    """An RFC 6749 §5.2 error body, with ``WWW-Authenticate: Basic`` on 401."""
    h = [*_NO_STORE, *(headers or {}).items()]
    if err.status == 401:
        h.append(("WWW-Authenticate", 'Basic realm="cerkl-sandbox", charset="UTF-8"'))
    return json_response(err.status, {"error": err.error, "error_description": err.description}, h)


def basic_credentials(header: str, mode: str) -> list[tuple[str, str]]:
    """Decode ``Authorization: Basic ...`` into candidate (id, secret) pairs (401
    ``invalid_client`` when it is not Basic credentials). ``mode`` is a
    ``basic_auth_encoding``: ``either`` gives the raw reading, then the form-decoded one."""
    parts = header.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        raise _invalid_client(
            "client authentication failed: use HTTP Basic (Authorization: Basic "
            "base64(client_id:client_secret)) or client_id/client_secret form fields",
        )
    try:
        text = base64.b64decode(parts[1].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _invalid_client(
            "malformed Basic credentials: expected base64 of 'client_id:client_secret' in UTF-8",
        ) from None
    if ":" not in text:
        raise _invalid_client("malformed Basic credentials: no ':' between id and secret")
    cid, secret = text.split(":", 1)
    out = [(cid, secret)] if mode in ("raw", "either") else []
    decoded = (unquote_plus(cid), unquote_plus(secret))
    if mode in ("rfc6749", "either") and decoded not in out:
        out.append(decoded)
    return out


class TokenEndpoint:
    """Serves the token endpoint with ``tokens``, counting in ``stats`` and consulting
    ``faults`` for the dropped refresh response."""

    def __init__(
        self, config: SandboxConfig, tokens: TokenService, stats: Stats, faults: Faults
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.stats = stats
        self.faults = faults

    def __call__(self, req: Request, query: str) -> Response:
        """Answer one token request."""
        self.stats.bump("token_requests")
        try:
            if req.method != "POST":
                raise OAuthError(405, "invalid_request", "the token endpoint only accepts POST")
            body, grant = self._grant(req, query)
        except OAuthError as e:
            with self.stats.lock:
                self.stats.token_errors[e.error] += 1
            r = oauth_error(e)
            if e.status == 405:
                r.headers.append(("Allow", "POST"))
            return r
        with self.stats.lock:
            self.stats.grants_issued[grant] += 1
        r = json_response(200, body, list(_NO_STORE))
        if grant == "refresh_token" and self.faults.take_drop_refresh():
            # The refresh happened (the old token is retired) but the answer is lost: a
            # client must not replay the refresh, and must fall back to client_credentials.
            self.stats.bump("faults_injected")
            r.drop = True
        return r

    # ------------------------------------------------------------------ reading
    def _grant(self, req: Request, query: str) -> tuple[dict, str]:
        params = self._form(req, query)
        auth = req.header("Authorization")
        body_id, body_secret = params.get("client_id"), params.get("client_secret")
        if auth is not None and body_secret is not None:
            raise _invalid_request(
                "the client authenticated in more than one way (Basic header and "
                "client_secret in the body); use exactly one",
            )
        grant = params.get("grant_type")
        if not grant:
            raise _invalid_request("grant_type is missing")
        if grant not in ("client_credentials", "refresh_token"):
            raise OAuthError(
                400,
                "unsupported_grant_type",
                f"grant_type {grant[:40]!r} is not supported; "
                "use client_credentials or refresh_token",
            )
        self.stats.bump(grant)
        client = self._authenticate(auth, body_id, body_secret)
        scope = params.get("scope")
        if scope and scope.strip():
            raise OAuthError(400, "invalid_scope", "Cerkl API v3 has no scopes; leave scope out")
        if grant == "client_credentials":
            return self.tokens.issue(client), grant
        rt = params.get("refresh_token")
        if not rt:
            raise _invalid_request("refresh_token is missing")
        try:
            body = self.tokens.refresh_grant(client, rt)
        except OAuthError as e:
            if "already used" in e.description:
                self.stats.bump("refresh_token_reuse")
            raise
        return body, grant

    @staticmethod
    def _form(req: Request, query: str) -> dict[str, str]:
        ctype = req.content_type()
        if ctype != "application/x-www-form-urlencoded":
            raise _invalid_request(
                "send the token request as application/x-www-form-urlencoded form data "
                f"(got {ctype or 'no Content-Type'})",
            )
        if query:
            try:
                qnames = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
            except ValueError:
                qnames = set()
            if qnames & _SECRET_PARAMS:
                raise _invalid_request(
                    "credentials and grant parameters belong in the POST body, never in the URL",
                )
        try:
            pairs = parse_qsl(
                req.body.decode("utf-8"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=50,
            )
        except (UnicodeDecodeError, ValueError):
            raise _invalid_request(
                "the body is not valid UTF-8 form data (or has too many fields)",
            ) from None
        params: dict[str, str] = {}
        for k, v in pairs:
            if k in params:
                raise _invalid_request(f"parameter {k!r} is repeated")
            params[k] = v
        return params

    # ------------------------------------------------------------------ client auth
    def _authenticate(
        self, auth: str | None, body_id: str | None, body_secret: str | None
    ) -> ClientSpec:
        if auth is not None:
            candidates = basic_credentials(auth, self.config.basic_auth_encoding)
            if body_id is not None and body_id not in {c[0] for c in candidates}:
                raise _invalid_request("client_id in the body differs from the Basic header")
        elif body_id is not None:
            if body_secret is None:
                raise _invalid_client("client_secret is missing")
            candidates = [(body_id, body_secret)]
        else:
            raise _invalid_client(
                "no client authentication: send HTTP Basic (curl -u id:secret) or "
                "client_id and client_secret form fields",
            )
        for cid, secret in candidates:
            client = self.tokens.authenticate(cid, secret)
            if client is not None:
                return client
        raise _invalid_client(
            "client authentication failed: unknown client or wrong secret"
            + self._encoding_hint(auth),
        )

    def _encoding_hint(self, auth: str | None) -> str:
        """Say so when the other Basic encoding would have worked: it is the classic trap."""
        if auth is None or self.config.basic_auth_encoding == "either":
            return ""
        mode = self.config.basic_auth_encoding
        other = "rfc6749" if mode == "raw" else "raw"
        alt = basic_credentials(auth, other)
        if not any(self.tokens.authenticate(c, s) for c, s in alt):
            return ""
        return (
            f" (this sandbox decodes Basic credentials as {mode!r}; your client "
            f"seems to encode them as {other!r}: check the basic_auth_encoding setting)"
        )
