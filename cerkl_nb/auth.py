"""The OAuth 2.0 client-credentials lifecycle: fetch, refresh, re-fetch, single-flight.

:class:`TokenManager` owns one token for one client. It decides *what* to send; the
``requests`` session only sends. The order of operations when a token is needed::

    no token ─────────────────────────────> client_credentials            how="fetch"
    stale/expired, refresh token held ────> refresh_token grant           how="refresh"
        └─ invalid_grant or any failure ──> client_credentials            how="fallback"
    invalid_client anywhere ──────────────> stop, raise InvalidCredentials (never retried)

Retries: a client-credentials POST may be repeated (at worst it mints an extra token), on
5xx, 429, connection errors and read timeouts. A refresh POST is repeated only when the
connection failed before anything was sent: after a read timeout the server may have
rotated the refresh token already, so replaying it would trip reuse detection (RFC 9700
§4.14.2); we fall back to client credentials instead.

Single-flight: all managers for the same (token URL, client ID) in this process share one
condition variable. Whoever first meets a stale token becomes the leader and sends the one
token request; everyone else waits and then reuses the result. Network I/O and listener
callbacks happen outside the lock.

Token storage (checklist K4): tokens live in memory only, one chain per manager. Two
notebooks or processes never share a refresh token, so with rotation on they cannot race
each other into reuse detection; each simply holds its own token.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus, urlsplit

import requests
from requests.auth import AuthBase

from .clock import SYSTEM_CLOCK, Clock
from .config import Credentials, Settings, is_loopback_host
from .errors import (
    AuthError,
    BadResponse,
    CerklError,
    ConfigurationError,
    ConnectionFailed,
    InvalidCredentials,
    InvalidGrant,
    MissingCredentials,
    RequestTimeout,
    TokenEndpointError,
    UnsupportedGrant,
)
from .redact import Secret, excerpt, install_log_redaction, redact
from .token import Token, TokenState

__all__ = ["TokenEvent", "TokenManager", "BearerAuth", "basic_auth_header"]

log = logging.getLogger("cerkl_nb.auth")
install_log_redaction()

EventKind = Literal["token", "error", "busy"]
How = Literal["fetch", "refresh", "fallback"]


@dataclass(frozen=True)
class TokenEvent:
    """Something happened to a :class:`TokenManager`'s token. Sent to listeners.

    Attributes
    ----------
    kind
        ``"token"``: a new token arrived (``token`` and ``how`` are set).
        ``"error"``: a token request failed (``error`` is set). When ``warning`` is True the
        failure was a *soft* refresh at half-life and the old token is still in use.
        ``"busy"``: a token request started (``busy=True``) or ended (``busy=False``);
        every start is followed by exactly one end, before the matching token/error event.
    how
        ``"fetch"`` (client credentials), ``"refresh"`` (refresh-token grant) or
        ``"fallback"`` (client credentials after a failed refresh); ``None`` otherwise.
    token
        The new token for ``"token"`` events.
    error
        The exception for ``"error"`` events (its message is already redacted).
    at
        Wall-clock time of the event (Unix seconds).
    busy
        For ``"busy"`` events: True at the start, False at the end.
    warning
        For ``"error"`` events: True when the failure is not fatal.
    """

    kind: EventKind
    how: How | None = None
    token: Token | None = None
    error: Exception | None = None
    at: float = 0.0
    busy: bool | None = None
    warning: bool = False


def basic_auth_header(client_id: str, client_secret: str, encoding: str = "raw") -> str:
    """Return an HTTP Basic ``Authorization`` value for the client credentials.

    Parameters
    ----------
    client_id, client_secret
        The credentials.
    encoding
        ``"raw"``: base64 of the UTF-8 bytes of ``id:secret``, as ``curl -u`` sends it.
        ``"rfc6749"``: form-encode both halves first (RFC 6749 §2.3.1).
        Both are UTF-8, never latin-1 (``requests.HTTPBasicAuth`` fails on ``€``).
    """
    if encoding == "rfc6749":
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    elif encoding == "raw":
        pair = f"{client_id}:{client_secret}"
    else:  # pragma: no cover - Settings validates this
        raise ValueError(f"unknown basic_auth_encoding {encoding!r}")
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


# -- shared HTTP helpers (the client uses them too) ------------------------------------------


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date) into seconds from now; None if junk."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    import email.utils  # lazily: only HTTP-date Retry-After values need it
    from datetime import timezone

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now_wall)


def backoff_s(attempt: int, cap: float, base: float = 0.5) -> float:
    """Jittered exponential back-off for retry ``attempt`` (0-based), at most ``cap``."""
    return min(cap, base * (2**attempt)) * random.uniform(0.5, 1.0)


def sandbox_hint(url: str) -> str | None:
    """A next step for connection failures to loopback URLs (the sandbox is probably down)."""
    _, host, port = origin_of(url)
    if is_loopback_host(host):
        return (
            "This is a local address where nothing answers: it looks like the sandbox is not "
            f"running (on port {port}). Start one there with "
            f"`cerkl-nb sandbox --port {port}` in a terminal. "
            "If this URL came from CERKL_BASE_URL in your environment or .env (a sandbox from "
            "an earlier session: its port changes every run), remove CERKL_BASE_URL and "
            "CERKL_TOKEN_URL there instead; with no credentials configured, "
            "`cerkl_nb.connect()` starts a sandbox by itself."
        )
    return "Check the URL, your network connection and any proxy settings."


def sent_nothing(exc: requests.RequestException) -> bool:
    """True when the request certainly never left this machine (connect-phase failure)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        from urllib3.exceptions import NewConnectionError

        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError)
    return False


def connection_error(
    exc: requests.RequestException, method: str, url: str, timeout: tuple[float, float]
) -> ConnectionFailed:
    """Translate a requests exception into a typed, redacted :class:`ConnectionFailed`."""
    safe_url = url.split("?", 1)[0]
    if isinstance(exc, requests.ConnectTimeout):
        return RequestTimeout(
            f"{method} {safe_url}: could not connect within {timeout[0]:g} s.",
            url=safe_url,
            hint=sandbox_hint(url),
        )
    if isinstance(exc, requests.ReadTimeout):
        return RequestTimeout(
            f"{method} {safe_url}: no answer within {timeout[1]:g} s (Settings.timeout_s).",
            url=safe_url,
        )
    if sent_nothing(exc):
        return ConnectionFailed(
            f"{method} {safe_url}: connection refused or host not found.",
            url=safe_url,
            hint=sandbox_hint(url),
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return ConnectionFailed(
            f"{method} {safe_url}: TLS error ({type(exc).__name__}).", url=safe_url
        )
    return ConnectionFailed(
        f"{method} {safe_url}: the connection failed ({type(exc).__name__}: "
        f"{redact(str(exc))[:200]}).",
        url=safe_url,
        hint=sandbox_hint(url),
    )


def parse_json_body(resp: requests.Response) -> Any:
    """Return the parsed JSON body, or raise :class:`BadResponse` with a redacted excerpt."""
    text = resp.text
    ctype = resp.headers.get("Content-Type", "")
    if not text.strip():
        return None
    if "html" in ctype.lower() or text.lstrip()[:1] == "<":
        raise BadResponse(
            f"{resp.request.method} {resp.url.split('?', 1)[0]} returned HTML (status "
            f"{resp.status_code}), not JSON: probably a proxy, login or error page.",
            status=resp.status_code,
            body_excerpt=excerpt(text, 300),
        )
    try:
        import json

        return json.loads(text)
    except ValueError:
        raise BadResponse(
            f"{resp.request.method} {resp.url.split('?', 1)[0]} returned a body that is not "
            f"valid JSON (status {resp.status_code}, {len(text)} chars; truncated?).",
            status=resp.status_code,
            body_excerpt=excerpt(text, 300),
        ) from None


# -- keeping secrets out of tracebacks ----------------------------------------------------------
#
# IPython's Verbose xmode, %debug, sys.last_value and traceback_with_variables show the
# local variables of every frame in a traceback. Two rules keep credentials out of them:
#
# 1. Our own frames never hold a plain credential in a local: the Authorization header (and
#    a refresh token's form field) are written onto the prepared request by a small auth
#    object inside requests (`_HeaderAuth`), from a Secret, at the last moment.
# 2. requests', urllib3's and http.client's frames *do* hold them (the prepared request,
#    the header list, the encoded body). Whatever escapes a send (a KeyboardInterrupt in
#    a slow call, a TypeError, a UnicodeEncodeError, a connection error) first goes
#    through scrub_exception(), which clears the locals of those finished frames and drops
#    the request objects that requests' exceptions carry. And a response's request is
#    masked (forget_credentials) before the response leaves the send helper.


def scrub_exception(exc: BaseException) -> None:
    """Make credentials that a failed send touched unreachable from ``exc``.

    Walks ``exc`` and every exception linked to it (``__context__``, ``__cause__``,
    exceptions in ``args`` and urllib3's ``reason``), clears the local variables of each
    finished frame of their tracebacks (``traceback.clear_frames``; frames still running,
    such as the caller's, are skipped by it) and removes the prepared request that
    ``requests`` exceptions keep. Line numbers and the exception messages are untouched.
    """
    import traceback

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        traceback.clear_frames(e.__traceback__)
        if isinstance(e, requests.RequestException):
            resp = e.response
            e.request = None
            if resp is not None:
                forget_credentials(resp)
        linked = [e.__context__, e.__cause__, getattr(e, "reason", None), *e.args]
        todo += [x for x in linked if isinstance(x, BaseException)]


def forget_credentials(resp: requests.Response, *, body: bool = False) -> None:
    """Mask the Authorization header (and, with ``body``, the form body) of the requests
    behind ``resp`` and its redirect history, once they are no longer needed."""
    for r in (*resp.history, resp):
        req = r.request
        if req is None:
            continue
        value = req.headers.get("Authorization")
        if value:
            req.headers["Authorization"] = value.split(" ", 1)[0] + " ***"
        if body and req.body:
            req.body = None


class _HeaderAuth(AuthBase):
    """Writes one Authorization header (and optionally form fields) from Secrets.

    The plain values exist only inside this ``__call__``, run by requests while it
    prepares the request; the object itself holds Secrets and prints as ``***``.
    """

    __slots__ = ("_value", "_form", "_secret_fields")

    def __init__(
        self,
        value: Secret | Token,
        form: Mapping[str, str] | None = None,
        secret_fields: Mapping[str, Secret] | None = None,
    ) -> None:
        self._value = value
        self._form = form
        self._secret_fields = secret_fields

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        v = self._value
        r.headers["Authorization"] = (
            v.authorization if isinstance(v, Token) else v.get_secret_value()
        )
        if self._secret_fields:
            r.prepare_body(
                {
                    **(self._form or {}),
                    **{k: f.get_secret_value() for k, f in self._secret_fields.items()},
                },
                None,
            )
        return r

    def __repr__(self) -> str:
        return "_HeaderAuth(***)"


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL, with the default port filled in."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), port


def _is_ours(resp: requests.Response, token: Token, origins: set[tuple[str, str, int]]) -> bool:
    """Whether ``resp`` answers a request that carries ``token`` and went to our API.

    requests copies response hooks onto redirected requests and strips Authorization
    when a redirect leaves the host: a 401 from there is none of our business.
    """
    import hmac

    req = resp.request
    if req is None or origin_of(req.url or "") not in origins:
        return False
    return hmac.compare_digest(
        (req.headers.get("Authorization") or "").encode(), token.authorization.encode()
    )


class BearerAuth(AuthBase):
    """A ``requests`` auth that puts a fresh Bearer token on each request.

    With a :class:`TokenManager` it asks for a usable token on every request (fetching or
    refreshing as needed) and, on a 401, refreshes once and re-sends once. With a fixed
    :class:`Token` it just sets the header.

    The origin rule (with a :class:`TokenManager`): the token is attached only to requests
    whose origin (scheme, host, port) is that of the manager's ``base_url`` or
    ``token_url``; any other URL raises :class:`~cerkl_nb.errors.ConfigurationError`
    before anything is sent. The 401 refresh-and-retry acts only on a response to a
    request that still carries the token we attached *and* comes from one of those
    origins, so a redirect to another host (where ``requests`` drops the header) that
    answers 401 is returned as is: no refresh, and no token sent there. A fixed
    :class:`Token` knows no origin: the caller decides where it goes.
    """

    def __init__(self, source: TokenManager | Token) -> None:
        self._source = source

    def _origins(self) -> set[tuple[str, str, int]]:
        manager = self._source
        assert isinstance(manager, TokenManager)
        s = manager.settings
        return {origin_of(s.base_url), origin_of(s.token_url)}

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if isinstance(self._source, Token):
            _HeaderAuth(self._source)(r)
            return r
        if origin_of(r.url or "") not in self._origins():
            o = origin_of(r.url or "")
            raise ConfigurationError(
                f"Refusing to attach your token to {o[0]}://{o[1]}:{o[2]}: it is not the "
                f"configured API ({self._source.settings.base_url}). Send the request to "
                "that API, or build a TokenManager whose Settings point at this server."
            )
        token = self._source.get_token()
        _HeaderAuth(token)(r)
        r.register_hook("response", self._make_retry_hook(token))
        return r

    def _make_retry_hook(self, token: Token) -> Callable[..., requests.Response]:
        manager = self._source
        assert isinstance(manager, TokenManager)
        origins = self._origins()

        def retry_once(resp: requests.Response, **kwargs: Any) -> requests.Response:
            if resp.status_code != 401 or getattr(resp.request, "_cerkl_retried", False):
                return resp
            if not manager.auto_refresh or not _is_ours(resp, token, origins):
                return resp
            prep = resp.request.copy()
            del prep.headers["Authorization"]  # the new token is set below, from a Secret
            forget_credentials(resp)
            manager.invalidate(token)
            new = manager.get_token()
            resp.content  # noqa: B018 - drain so the connection can be reused
            resp.close()
            _HeaderAuth(new)(prep)
            prep._cerkl_retried = True  # type: ignore[attr-defined]
            try:
                retried = resp.connection.send(prep, **kwargs)
            except BaseException as exc:
                scrub_exception(exc)
                raise
            retried.history.append(resp)
            retried.request = prep
            return retried

        return retry_once

    def __repr__(self) -> str:
        return "BearerAuth(***)"


@dataclass
class _Flight:
    """One token request in progress; waiters read its outcome."""

    mode: str
    old: Token | None
    thread: int = 0
    done: bool = False
    token: Token | None = None
    error: BaseException | None = None

    def outcome(self) -> Token:
        if self.error is not None:
            if self.mode == "soft" and self.old is not None:
                return self.old
            raise self.error
        assert self.token is not None
        return self.token


class _KeyState:
    """What all managers of one (token URL, client ID) share: the single-flight lock."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.owner: TokenManager | None = None
        self.owner_thread = 0


_KEYS: dict[tuple[str, str], _KeyState] = {}
_KEYS_LOCK = threading.Lock()


def _key_state(token_url: str, client_id: str) -> _KeyState:
    with _KEYS_LOCK:
        return _KEYS.setdefault((token_url, client_id), _KeyState())


_RETRYABLE_OAUTH = {"temporarily_unavailable", "server_error"}


class _Retryable(Exception):
    """Internal: this token attempt may be repeated."""

    def __init__(self, error: CerklError, wait_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait_s = wait_s


class TokenManager:
    """Holds one client's token and renews it: fetch, refresh, fallback, single-flight.

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
        When True (default), :meth:`get_token` refreshes stale/expired tokens and the client
        refreshes once on a 401. When False the current token is used until you call
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
        # The Basic header is computed once and kept masked, so it is never a plain local
        # in a traceback or a repr.
        self._basic = Secret(
            basic_auth_header(
                credentials.client_id,
                credentials.client_secret.get_secret_value(),
                self.settings.basic_auth_encoding,
            )
        )
        # Also register the base64 value alone, for redaction wherever it appears.
        Secret(self._basic.get_secret_value().split(" ", 1)[1])
        self._ks = _key_state(self.settings.token_url, credentials.client_id)
        self._token: Token | None = None
        self._flight: _Flight | None = None
        self._soft_not_before = -math.inf
        self._listeners: list[Callable[[TokenEvent], None]] = []
        self._listeners_lock = threading.Lock()
        self._stats = {
            "fetches": 0,
            "refreshes": 0,
            "fallbacks": 0,
            "failures": 0,
            "token_requests": 0,
        }
        self.auth = BearerAuth(self)

    # -- read-only views -------------------------------------------------------------------
    @property
    def credentials(self) -> Credentials:
        """The credentials in use."""
        return self._credentials

    @property
    def token(self) -> Token | None:
        """The current token, or None (never triggers a request)."""
        return self._token

    @property
    def state(self) -> TokenState:
        """The state of the current token against this manager's clock and leeway."""
        tok = self._token
        if tok is None:
            return TokenState.NONE
        return tok.state(self.clock, self.settings.leeway_s)

    @property
    def busy(self) -> bool:
        """True while a token request is in flight."""
        return self._flight is not None

    @property
    def stats(self) -> dict[str, int]:
        """Counters: ``fetches``, ``refreshes``, ``fallbacks``, ``failures``, ``token_requests``."""
        return dict(self._stats)

    @property
    def session(self) -> requests.Session:
        """The session token requests go through."""
        return self._session

    # -- listeners -------------------------------------------------------------------------
    def add_listener(self, callback: Callable[[TokenEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on every :class:`TokenEvent`; returns a remover.

        Callbacks run in the thread that caused the event, outside any lock. An exception
        in a callback is logged and swallowed, so a broken UI cannot break a token request.
        """
        with self._listeners_lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._listeners_lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def _emit(self, event: TokenEvent) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for cb in listeners:
            try:
                cb(event)
            except Exception:
                log.exception("token listener %r failed", cb)

    # -- the public operations -------------------------------------------------------------
    def get_token(self) -> Token:
        """Return a usable token, fetching or refreshing first when needed.

        Fast path without a lock when the token is fresh. Any number of threads meeting a
        stale token cause one token request.
        """
        tok = self._token
        if tok is not None:
            if tok.state(self.clock, self.settings.leeway_s) is TokenState.FRESH:
                if self._soft_due(tok):
                    return self._run("soft")
                return tok
            if not self.auto_refresh:
                return tok
        return self._run("auto")

    def fetch(self) -> Token:
        """Request a new client-credentials token now (joins one already in flight)."""
        return self._run("fetch")

    def refresh(self) -> Token:
        """Renew now: refresh-token grant when one is held, else / on failure client credentials.

        Never replays a refresh after a read timeout. Joins a request already in flight.
        """
        return self._run("refresh")

    def invalidate(self, token: Token | None = None) -> None:
        """Mark the current token expired (keeping its refresh token), e.g. after a 401.

        Parameters
        ----------
        token
            Only invalidate if this is still the current token; a token that another
            thread has already replaced is left alone, so N concurrent 401s cause one
            refresh.
        """
        with self._ks.cond:
            cur = self._token
            if cur is None or (token is not None and cur is not token):
                return
            now = self.clock.monotonic()
            if cur.remaining_s(self.clock) > 0:
                self._token = dataclasses.replace(
                    cur,
                    deadline=min(cur.deadline, now),
                    expires_at=min(cur.expires_at, self.clock.time()),
                )

    def clear(self) -> None:
        """Forget the token and its refresh token entirely."""
        with self._ks.cond:
            self._token = None

    def request_token(self, grant_type: str, **form: str) -> Token:
        """Send one token request with any grant (the builder that fetch/refresh use).

        Does not store the token. Useful to show the wire format in a tutorial, or to see
        how the server answers an unsupported grant (raises :class:`UnsupportedGrant`).
        """
        return self._post_token(grant_type, extra=form, replay_safe=False)

    def close(self) -> None:
        """Close the session if this manager created it."""
        if self._owns_session:
            self._session.close()

    # -- internals -------------------------------------------------------------------------
    def _soft_due(self, tok: Token) -> bool:
        min_life = self.settings.soft_refresh_min_lifetime_s
        return (
            self.auto_refresh
            and min_life is not None
            and tok.lifetime_s >= min_life
            and tok.past_half_life(self.clock)
            and self.clock.monotonic() >= self._soft_not_before
        )

    def _run(self, mode: str) -> Token:
        ks = self._ks
        with ks.cond:
            while True:
                flight = self._flight
                if flight is not None:
                    if mode == "soft" and self._token is not None:
                        return self._token  # someone is already renewing; keep going
                    if flight.thread == threading.get_ident():
                        # A listener of our own "busy" event asked for a token: waiting
                        # for ourselves would deadlock.
                        if self._token is not None:
                            return self._token
                        raise CerklError(
                            "A token listener asked for a token while that token was being "
                            "requested; read manager.token instead."
                        )
                    while not flight.done:
                        ks.cond.wait()
                    return flight.outcome()
                if ks.owner is not None and ks.owner_thread != threading.get_ident():
                    # Another manager for the same client is busy: wait, then re-check.
                    if mode == "soft" and self._token is not None:
                        return self._token
                    ks.cond.wait()
                    continue
                tok = self._token
                if mode == "auto" and tok is not None:
                    # Double-checked: another thread may have renewed while we waited.
                    if (
                        not self.auto_refresh
                        or tok.state(self.clock, self.settings.leeway_s) is TokenState.FRESH
                    ):
                        return tok
                if mode == "soft" and (tok is None or not self._soft_due(tok)):
                    if tok is not None and tok.state(self.clock, self.settings.leeway_s) is (
                        TokenState.FRESH
                    ):
                        return tok
                    mode = "auto"
                flight = self._flight = _Flight(mode=mode, old=tok, thread=threading.get_ident())
                ks.owner = self
                ks.owner_thread = flight.thread
                break

        self._emit(TokenEvent("busy", at=self.clock.time(), busy=True))
        how: How | None = None
        new: Token | None = None
        error: BaseException | None = None
        try:
            new, how = self._renew(mode, flight.old)
        except BaseException as exc:  # KeyboardInterrupt too: waiters must be released
            error = exc

        with ks.cond:
            if new is not None:
                self._token = new  # refresh token saved before anyone sees the access token
                self._stats[{"fetch": "fetches", "refresh": "refreshes"}.get(how, "fallbacks")] += 1
                flight.token = new
            else:
                self._stats["failures"] += 1
                flight.error = error
                if mode == "soft":
                    # Retry the soft refresh later, not on every request.
                    tok = flight.old
                    wait = 60.0 if tok is None else max(30.0, tok.remaining_s(self.clock) / 10)
                    self._soft_not_before = self.clock.monotonic() + wait
            flight.done = True
            self._flight = None
            ks.owner = None
            ks.owner_thread = 0
            ks.cond.notify_all()

        now = self.clock.time()
        self._emit(TokenEvent("busy", at=now, busy=False))
        if new is not None:
            self._emit(TokenEvent("token", how=how, token=new, at=now))
            return new
        assert error is not None
        soft = mode == "soft" and flight.old is not None
        if isinstance(error, Exception):
            self._emit(TokenEvent("error", error=error, at=now, warning=soft))
        if soft and isinstance(error, Exception):
            log.warning(
                "Soft token refresh failed (%s); keeping the current token, which is still "
                "valid for %.0f s.",
                redact(str(error)).splitlines()[0][:200],
                flight.old.remaining_s(self.clock) if flight.old else 0.0,
            )
            return flight.old  # type: ignore[return-value]
        raise error

    def _renew(self, mode: str, old: Token | None) -> tuple[Token, How]:
        if mode == "fetch":
            return self._client_credentials(), "fetch"
        if old is not None and old.refresh_token is not None:
            try:
                return self._refresh_grant(old), "refresh"
            except InvalidCredentials:
                raise
            except (AuthError, BadResponse, ConnectionFailed) as exc:
                log.info(
                    "Refresh failed (%s: %s); requesting a new client-credentials token.",
                    type(exc).__name__,
                    redact(str(exc)).splitlines()[0][:200],
                )
                if isinstance(exc, (InvalidGrant, ConnectionFailed)):
                    # Dead, or possibly consumed by a server whose answer we lost: never
                    # present it again (a replay would trip reuse detection). A 5xx, by
                    # contrast, leaves the refresh token usable for a later attempt.
                    with self._ks.cond:
                        if self._token is old:
                            self._token = dataclasses.replace(old, refresh_token=None)
                return self._client_credentials(), "fallback"
        return self._client_credentials(), "fetch"

    def _client_credentials(self) -> Token:
        return self._post_token("client_credentials", replay_safe=True)

    def _refresh_grant(self, old: Token) -> Token:
        assert old.refresh_token is not None
        new = self._post_token("refresh_token", refresh=old.refresh_token, replay_safe=False)
        if new.refresh_token is None:
            # RFC 6749 §6: no new refresh token means the old one stays valid.
            new = dataclasses.replace(new, refresh_token=old.refresh_token)
        return new

    def _send_token_request(
        self, grant: str, refresh: Secret | None, extra: Mapping[str, str] | None
    ) -> requests.Response:
        # No plain credential is a local of this frame (or of any frame of ours): the Basic
        # value and the refresh token are written by _HeaderAuth inside requests, and the
        # frames below are scrubbed if anything escapes (see scrub_exception).
        s = self.settings
        form = {"grant_type": grant, **(extra or {})}
        try:
            resp = self._session.post(
                s.token_url,
                data=form,
                headers={
                    "Accept": "application/json",
                    "Accept-Language": s.accept_language,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": s.user_agent,
                },
                timeout=(s.connect_timeout_s, s.timeout_s),
                allow_redirects=False,
                auth=_HeaderAuth(
                    self._basic, form, {"refresh_token": refresh} if refresh is not None else None
                ),
            )
        except BaseException as exc:
            scrub_exception(exc)
            raise
        forget_credentials(resp, body=True)
        return resp

    def _post_token(
        self,
        grant: str,
        *,
        refresh: Secret | None = None,
        extra: Mapping[str, str] | None = None,
        replay_safe: bool,
    ) -> Token:
        """Send one token request, retrying when that is safe. The only request builder."""
        s = self.settings
        url = s.token_url
        timeout = (s.connect_timeout_s, s.timeout_s)
        attempt = 0
        while True:
            sent_at = self.clock.time()
            sent_mono = self.clock.monotonic()
            self._stats["token_requests"] += 1
            log.debug("token request: POST %s grant_type=%s (attempt %d)", url, grant, attempt + 1)
            try:
                try:
                    resp = self._send_token_request(grant, refresh, extra)
                except requests.RequestException as exc:
                    err = connection_error(exc, "POST", url, timeout)
                    if replay_safe or sent_nothing(exc):
                        raise _Retryable(err) from None
                    raise err from None
                return self._handle_token_response(resp, sent_at, sent_mono, grant, replay_safe)
            except _Retryable as r:
                if attempt >= s.max_retries:
                    raise r.error from None
                wait = r.wait_s if r.wait_s is not None else backoff_s(attempt, s.max_retry_wait_s)
                if wait > s.max_retry_wait_s:
                    raise r.error from None
                log.info(
                    "token request failed (%s); retrying in %.2f s",
                    redact(str(r.error)).splitlines()[0][:200],
                    wait,
                )
                self.clock.sleep(wait)
                attempt += 1

    def _handle_token_response(
        self,
        resp: requests.Response,
        sent_at: float,
        sent_mono: float,
        grant: str,
        replay_safe: bool,
    ) -> Token:
        status = resp.status_code
        url = self.settings.token_url
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
            if 200 <= status < 300:
                # A success body holds the tokens: keep no excerpt of it at all.
                raise BadResponse(exc.message, status=status) from None
            if status >= 500 and replay_safe:
                raise _Retryable(
                    TokenEndpointError(
                        f"The token endpoint answered {status} with a non-JSON body.",
                        status=status,
                    )
                ) from None
            raise exc from None
        if 200 <= status < 300:
            if not isinstance(body, dict):
                raise BadResponse(
                    f"The token endpoint answered {status} without a JSON object.", status=status
                )
            return Token.from_response(
                body,
                sent_at=sent_at,
                sent_monotonic=sent_mono,
                default_lifetime_s=self.settings.default_lifetime_s,
            )
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):  # an API-style error object on the token endpoint
            error = error.get("code") or error.get("message")
        error = str(error) if error is not None else None
        desc = body.get("error_description") if isinstance(body, dict) else None
        desc = str(desc) if desc else None
        said = f" ({error}{': ' + desc if desc else ''})" if error else ""
        if error == "invalid_client" or (status == 401 and error in (None, "unauthorized")):
            hint = (
                "Check CERKL_CLIENT_ID and CERKL_CLIENT_SECRET, or generate new credentials in "
                "Cerkl Broadcast: Settings → Integrations & Plugins → Cerkl API v3."
            )
            if not self._credentials.secret_is_unreserved:
                other = "rfc6749" if self.settings.basic_auth_encoding == "raw" else "raw"
                hint += (
                    " Your client ID or secret has characters outside A-Za-z0-9-._~, which "
                    "servers encode differently in HTTP Basic auth: you use "
                    f"basic_auth_encoding={self.settings.basic_auth_encoding!r}; try "
                    f"basic_auth_encoding={other!r}."
                )
            raise InvalidCredentials(
                f"The client ID or secret was rejected{said or ' (invalid_client)'}.",
                error=error or "invalid_client",
                status=status,
                description=desc,
                hint=hint,
            )
        if error == "invalid_grant":
            raise InvalidGrant(
                f"The token endpoint rejected the {grant} grant{said}.",
                error=error,
                status=status,
                description=desc,
            )
        if error in ("unsupported_grant_type", "unauthorized_client"):
            raise UnsupportedGrant(
                f"The token endpoint does not allow grant_type={grant}{said}. Cerkl API v3 "
                "issues tokens with grant_type=client_credentials (and refresh_token).",
                error=error,
                status=status,
                description=desc,
            )
        exc = TokenEndpointError(
            f"The token endpoint answered {status}{said} for grant_type={grant}.",
            error=error,
            status=status,
            description=desc,
        )
        if replay_safe and (status >= 500 or status == 429 or error in _RETRYABLE_OAUTH):
            wait = parse_retry_after(resp.headers.get("Retry-After"), self.clock.time())
            raise _Retryable(exc, wait)
        raise exc

    # -- display ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"TokenManager(client_id={self._credentials.client_id!r}, "
            f"token_url={self.settings.token_url!r}, state={self.state.value}, "
            f"auto_refresh={self.auto_refresh})"
        )

    def _repr_html_(self) -> str:
        import html

        return html.escape(repr(self))

    def __reduce__(self) -> Any:
        raise TypeError("TokenManager cannot be pickled (it holds secrets)")
