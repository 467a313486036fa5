"""The OAuth 2.0 client-credentials lifecycle: fetch, refresh, re-fetch, single flight.

:class:`TokenManager` owns one token for one client; the
:class:`~cerkl_nb.session.AuthorizedSession` asks it for one before each API request::

    no token ─────────────────────────────> client_credentials            how="fetch"
    stale/expired, refresh token held ────> refresh_token grant           how="refresh"
        └─ invalid_grant or any failure ──> client_credentials            how="fallback"
    invalid_client anywhere ──────────────> stop, raise InvalidCredentials (never retried)

Retries (:meth:`TokenManager._post_token`, the token endpoint's whole policy): a
client-credentials POST may be repeated (at worst it mints an extra token) on 5xx, 429,
``temporarily_unavailable``, connection errors and read timeouts. A refresh POST is
repeated only when the connection failed before anything was sent: after a read timeout
the server may have rotated the refresh token already, so replaying it would trip reuse
detection (RFC 9700 §4.14.2); we fall back to client credentials instead.

Single flight: the first thread to meet a stale token sends the one token request; the
others wait for its result. I/O and listener callbacks happen outside the lock. Tokens live
in memory only, one chain per manager, so two notebooks never race into reuse detection.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus, urlsplit

import requests

from .clock import SYSTEM_CLOCK, Clock
from .config import Credentials, Settings
from .errors import (
    AuthError,
    BadResponse,
    CerklError,
    ConnectionFailed,
    InvalidCredentials,
    InvalidGrant,
    MissingCredentials,
    TokenEndpointError,
    UnsupportedGrant,
    parse_json_body,
)
from .redact import Secret, get_logger, redact, register_secret
from .session import HeaderAuth, backoff_s, connection_error, parse_retry_after, send, sent_nothing
from .spec import default_headers
from .token import Token, TokenState

__all__ = ["TokenEvent", "TokenManager", "basic_auth_header"]

log = get_logger("cerkl_nb.auth")

How = Literal["fetch", "refresh", "fallback"]


def basic_auth_header(client_id: str, client_secret: str, encoding: str = "raw") -> str:
    """The HTTP Basic ``Authorization`` value for the client credentials.

    ``"raw"``: base64 of the UTF-8 bytes of ``id:secret``, as ``curl -u`` sends it (Cerkl's
    documented example). ``"rfc6749"``: form-encode both halves first (RFC 6749 §2.3.1).
    Both are UTF-8, never latin-1 (``requests.HTTPBasicAuth`` fails on ``€``).
    """
    if encoding == "rfc6749":
        client_id, client_secret = quote_plus(client_id), quote_plus(client_secret)
    pair = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True)
class TokenEvent:
    """Something happened to a :class:`TokenManager`'s token. Sent to listeners.

    Attributes
    ----------
    kind
        ``"token"``: a new token arrived (``token`` and ``how`` are set). ``"error"``: a
        token request failed (``error``, redacted). ``"busy"``: a token request started
        (``busy=True``) or ended (``busy=False``), always before its token/error event.
    how
        ``"fetch"`` (client credentials), ``"refresh"`` (refresh-token grant) or
        ``"fallback"`` (client credentials after a failed refresh).
    at
        Wall-clock time of the event (Unix seconds).
    """

    kind: Literal["token", "error", "busy"]
    how: How | None = None
    token: Token | None = None
    error: Exception | None = None
    at: float = 0.0
    busy: bool | None = None


@dataclass
class _Flight:
    """One token request in progress; waiters read its outcome."""

    old: Token | None
    thread: int = 0
    done: bool = False
    token: Token | None = None
    error: BaseException | None = None


_RETRYABLE_OAUTH = ("temporarily_unavailable", "server_error")


def _can_retry(status: int, error: CerklError) -> bool:
    """Whether a failed token response is worth another client-credentials request."""
    if not isinstance(error, TokenEndpointError) or isinstance(error, UnsupportedGrant):
        return False
    return status >= 500 or status == 429 or error.error in _RETRYABLE_OAUTH


class TokenManager:
    """Holds one client's token and renews it: fetch, refresh, fallback, single flight.

    Parameters
    ----------
    credentials
        The client ID and secret.
    settings
        URLs, timeouts, leeway and retry policy; :class:`Settings` defaults otherwise.
    session
        A ``requests.Session`` to send token requests with (a new one by default).
    clock
        Time source; :data:`~cerkl_nb.clock.SYSTEM_CLOCK` by default.

    Attributes
    ----------
    auto_refresh
        When True (default), :meth:`get_token` refreshes stale/expired tokens and a 401
        causes one refresh. When False the current token is used until you call
        :meth:`refresh` (handy for watching a token expire in a tutorial).
    """

    def __init__(
        self,
        credentials: Credentials,
        settings: Settings | None = None,
        *,
        session: requests.Session | None = None,
        clock: Clock | None = None,
    ) -> None:
        if credentials is None:
            raise MissingCredentials("TokenManager needs Credentials(client_id, client_secret).")
        if not isinstance(credentials, Credentials):
            raise TypeError(f"credentials must be Credentials, not {type(credentials).__name__}")
        self._credentials = credentials
        self.settings = settings if settings is not None else Settings()
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self.auto_refresh = True
        # Computed once and kept masked, so it is never a plain local in a traceback.
        self._basic = Secret(
            basic_auth_header(
                credentials.client_id,
                credentials.client_secret.get_secret_value(),
                self.settings.basic_auth_encoding,
            )
        )
        self._register_credentials()
        self._cond = threading.Condition(threading.Lock())
        self._token: Token | None = None
        self._flight: _Flight | None = None
        self._listeners: list[Callable[[TokenEvent], None]] = []
        self._stats = dict.fromkeys(
            ("fetches", "refreshes", "fallbacks", "failures", "token_requests"), 0
        )

    @property
    def credentials(self) -> Credentials:
        """The credentials in use."""
        return self._credentials

    @property
    def token(self) -> Token | None:
        """The current token, or None (never triggers a request)."""
        return self._token

    @property
    def busy(self) -> bool:
        """True while a token request is in flight."""
        return self._flight is not None

    @property
    def state(self) -> TokenState:
        """The state of the current token against this manager's clock and leeway."""
        tok = self._token
        return TokenState.NONE if tok is None else tok.state(self.clock, self.settings.leeway_s)

    @property
    def stats(self) -> dict[str, int]:
        """Counts of ``fetches``, ``refreshes``, ``fallbacks``, ``failures``, ``token_requests``."""
        return dict(self._stats)

    def add_listener(self, callback: Callable[[TokenEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on every :class:`TokenEvent`; returns a remover.

        Callbacks run in the thread that caused the event, outside any lock; an exception in
        one is logged and swallowed, so a broken UI cannot break a token request.
        """
        with self._cond:
            self._listeners.append(callback)

        def remove() -> None:
            with self._cond:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def _emit(self, event: TokenEvent) -> None:
        with self._cond:
            listeners = list(self._listeners)
        for cb in listeners:
            try:
                cb(event)
            except Exception:
                log.exception("token listener %r failed", cb)

    def get_token(self) -> Token:
        """A usable token, fetched or refreshed first when needed (one request for any
        number of threads meeting a stale token; no lock while it is fresh)."""
        tok = self._token
        if tok is not None and (
            not self.auto_refresh
            or tok.state(self.clock, self.settings.leeway_s) is TokenState.FRESH
        ):
            return tok
        return self._run("auto")

    def fetch(self) -> Token:
        """Request a new client-credentials token now (joins one already in flight)."""
        return self._run("fetch")

    def refresh(self) -> Token:
        """Renew now: the refresh-token grant when one is held, else (or when it fails) client
        credentials. Never replays a refresh after a read timeout; joins one in flight."""
        return self._run("refresh")

    def invalidate(self, token: Token | None = None) -> None:
        """Mark the current token expired (keeping its refresh token), e.g. after a 401.

        With ``token``, only when it is still the current one: a token another thread has
        already replaced is left alone, so N concurrent 401s cause one refresh.
        """
        with self._cond:
            cur = self._token
            if cur is None or (token is not None and cur is not token):
                return
            if cur.remaining_s(self.clock) > 0:
                self._token = dataclasses.replace(
                    cur,
                    deadline=min(cur.deadline, self.clock.monotonic()),
                    expires_at=min(cur.expires_at, self.clock.time()),
                )

    def clear(self) -> None:
        """Forget the token and its refresh token entirely."""
        with self._cond:
            self._token = None

    def request_token(self, grant_type: str, **form: str) -> Token:
        """Send one token request with any grant, unretried, and return the token unstored
        (to show the wire format, or an unsupported grant's :class:`UnsupportedGrant`)."""
        return self._post_token(grant_type, form, replay_safe=False)

    def close(self) -> None:
        """Close the session if this manager created it."""
        if self._owns_session:
            self._session.close()

    def _run(self, mode: str) -> Token:
        """Join the token request in flight, or become its leader and send it."""
        flight = self._join_or_lead(mode)
        if flight.done:
            if flight.error is not None:
                raise flight.error
            return flight.token  # type: ignore[return-value]
        self._emit(TokenEvent("busy", at=self.clock.time(), busy=True))
        new: Token | None = None
        error: BaseException | None = None
        try:
            new, how = self._renew(mode, flight.old)
        except BaseException as exc:  # KeyboardInterrupt too: waiters must be released
            error = exc
        with self._cond:
            if new is not None:
                self._token = new  # refresh token saved before anyone sees the access token
                self._stats[{"fetch": "fetches", "refresh": "refreshes"}.get(how, "fallbacks")] += 1
            else:
                self._stats["failures"] += 1
            flight.token, flight.error, flight.done = new, error, True
            self._flight = None
            self._cond.notify_all()
        now = self.clock.time()
        self._emit(TokenEvent("busy", at=now, busy=False))
        if new is not None:
            self._emit(TokenEvent("token", how=how, token=new, at=now))
            return new
        if isinstance(error, Exception):
            self._emit(TokenEvent("error", error=error, at=now))
        raise error  # type: ignore[misc]

    def _join_or_lead(self, mode: str) -> _Flight:
        """A finished flight to read the outcome of, or a new one this thread leads."""
        with self._cond:
            flight = self._flight
            if flight is not None:
                if flight.thread == threading.get_ident():
                    # A listener of our own "busy" event asked for a token: waiting for
                    # ourselves would deadlock.
                    if self._token is not None:
                        return _Flight(None, done=True, token=self._token)
                    raise CerklError(
                        "A token listener asked for a token while that token was being "
                        "requested; read manager.token instead."
                    )
                while not flight.done:
                    self._cond.wait()
                return flight
            tok = self._token
            if mode == "auto" and tok is not None:
                # Double-checked: another thread may have renewed while we waited.
                fresh = tok.state(self.clock, self.settings.leeway_s) is TokenState.FRESH
                if fresh or not self.auto_refresh:
                    return _Flight(None, done=True, token=tok)
            self._flight = _Flight(old=tok, thread=threading.get_ident())
            return self._flight

    def _renew(self, mode: str, old: Token | None) -> tuple[Token, How]:
        if mode == "fetch" or old is None or old.refresh_token is None:
            return self._post_token("client_credentials", {}, replay_safe=True), "fetch"
        try:
            new = self._post_token("refresh_token", {"refresh_token": old.refresh_token})
        except InvalidCredentials:
            raise
        except (AuthError, BadResponse, ConnectionFailed) as exc:
            log.info(
                "Refresh failed (%s: %s); requesting a new client-credentials token.",
                type(exc).__name__,
                redact(str(exc)).splitlines()[0][:200],
            )
            if isinstance(exc, (InvalidGrant, ConnectionFailed)):
                # Dead, or possibly consumed by a server whose answer we lost: never present
                # it again (a replay would trip reuse detection). A 5xx, by contrast, leaves
                # the refresh token usable for a later attempt.
                with self._cond:
                    if self._token is old:
                        self._token = dataclasses.replace(old, refresh_token=None)
            return self._post_token("client_credentials", {}, replay_safe=True), "fallback"
        if new.refresh_token is None:
            # RFC 6749 §6: no new refresh token means the old one stays valid.
            new = dataclasses.replace(new, refresh_token=old.refresh_token)
        return new, "refresh"

    def _register_credentials(self) -> None:
        """Register the secret and Basic value again: redaction forgets them last."""
        basic = self._basic.get_secret_value()
        for value in (self._credentials.client_secret, basic, basic.split(" ", 1)[1]):
            register_secret(value)

    def _post_token(
        self, grant: str, form: Mapping[str, str | Secret], *, replay_safe: bool = False
    ) -> Token:
        """Send one token request and retry it while that is safe: the whole retry policy."""
        s = self.settings
        timeout = (s.connect_timeout_s, s.timeout_s)
        headers = {
            **default_headers(s.accept_language),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": s.user_agent,
        }
        # The Basic value and a refresh token are written by HeaderAuth inside requests:
        # no plain credential is ever a local of this frame.
        auth = HeaderAuth(self._basic, {"grant_type": grant, **form})
        self._register_credentials()
        for attempt in itertools.count(1):
            sent_at, sent_mono = self.clock.time(), self.clock.monotonic()
            self._stats["token_requests"] += 1
            log.debug("token request: POST %s grant_type=%s (try %d)", s.token_url, grant, attempt)
            wait: float | None = None
            try:
                resp = send(
                    self._session,
                    "POST",
                    s.token_url,
                    headers=headers,
                    auth=auth,
                    timeout=timeout,
                    allow_redirects=False,
                    forget_body=True,
                )
            except requests.RequestException as exc:
                error: CerklError = connection_error(exc, "POST", s.token_url, timeout)
                retry = replay_safe or sent_nothing(exc)
            else:
                try:
                    return self._token_from(resp, sent_at, sent_mono, grant)
                except (AuthError, BadResponse) as exc:
                    error = exc
                    retry = replay_safe and _can_retry(resp.status_code, exc)
                    wait = parse_retry_after(resp.headers.get("Retry-After"), self.clock.time())
            if wait is None:
                wait = backoff_s(attempt - 1, s.max_retry_wait_s)
            if not retry or attempt > s.max_retries or wait > s.max_retry_wait_s:
                raise error from None
            log.info(
                "token request failed (%s); retrying in %.2f s",
                redact(str(error)).splitlines()[0][:200],
                wait,
            )
            self.clock.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _token_from(
        self, resp: requests.Response, sent_at: float, sent_mono: float, grant: str
    ) -> Token:
        """The token in a token response, or the typed error it stands for."""
        status, url = resp.status_code, self.settings.token_url
        log.debug("token response: %d for grant_type=%s", status, grant)
        if 300 <= status < 400:
            where = urlsplit(resp.headers.get("Location", "")).netloc or "another location"
            raise TokenEndpointError(
                f"The token endpoint {url} answered {status} (redirect to {where}). Not "
                "followed: following would replay your client credentials and form body. "
                "Set CERKL_TOKEN_URL to the final address if the move is legitimate.",
                status=status,
            )
        try:
            body = parse_json_body(resp)
        except BadResponse as exc:
            if 200 <= status < 300:  # a success body holds the tokens: no excerpt of it
                raise BadResponse(exc.message, status=status) from None
            if status >= 500:
                msg = f"The token endpoint answered {status} with a non-JSON body."
                raise TokenEndpointError(msg, status=status) from None
            raise
        if status >= 300:
            raise self._token_error(status, body, grant)
        if not isinstance(body, dict):
            raise BadResponse(
                f"The token endpoint answered {status} without a JSON object.", status=status
            )
        token = Token.from_response(
            body,
            sent_at=sent_at,
            sent_monotonic=sent_mono,
            default_lifetime_s=self.settings.default_lifetime_s,
        )
        register_secret(token.access_token)  # where a token enters the process
        register_secret(token.refresh_token)
        return token

    def _token_error(self, status: int, body: Any, grant: str) -> AuthError:
        """The typed error for a token endpoint's error answer (RFC 6749 §5.2)."""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):  # an API-style error object on the token endpoint
            error = error.get("code") or error.get("message")
        error = str(error) if error is not None else None
        desc = body.get("error_description") if isinstance(body, dict) else None
        desc = str(desc) if desc else None
        said = f" ({error}{': ' + desc if desc else ''})" if error else ""
        fields = {"error": error, "status": status, "description": desc}
        if error == "invalid_client" or (status == 401 and error in (None, "unauthorized")):
            return InvalidCredentials(
                f"The client ID or secret was rejected{said or ' (invalid_client)'}.",
                **{**fields, "error": error or "invalid_client"},
                hint=self._invalid_client_hint(),
            )
        if error == "invalid_grant":
            return InvalidGrant(f"The token endpoint rejected the {grant} grant{said}.", **fields)
        if error in ("unsupported_grant_type", "unauthorized_client"):
            return UnsupportedGrant(
                f"The token endpoint does not allow grant_type={grant}{said}. Cerkl API v3 "
                "issues tokens with grant_type=client_credentials (and refresh_token).",
                **fields,
            )
        return TokenEndpointError(
            f"The token endpoint answered {status}{said} for grant_type={grant}.", **fields
        )

    def _invalid_client_hint(self) -> str:
        hint = (
            "Check CERKL_CLIENT_ID and CERKL_CLIENT_SECRET, or generate new credentials in "
            "Cerkl Broadcast: Settings → Integrations & Plugins → Cerkl API v3."
        )
        if not self._credentials.secret_is_unreserved:
            used = self.settings.basic_auth_encoding
            other = "rfc6749" if used == "raw" else "raw"
            hint += (
                " Your client ID or secret has characters outside A-Za-z0-9-._~, which "
                "servers encode differently in HTTP Basic auth: you use "
                f"basic_auth_encoding={used!r}; try basic_auth_encoding={other!r}."
            )
        return hint

    def __repr__(self) -> str:
        return (
            f"TokenManager(client_id={self._credentials.client_id!r}, "
            f"token_url={self.settings.token_url!r}, state={self.state.value}, "
            f"auto_refresh={self.auto_refresh})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("TokenManager cannot be pickled (it holds secrets)")
