"""The authorized session: where a token goes on the wire, and where it never goes.

As in google-auth (``AuthorizedSession.request`` asking ``Credentials.before_request`` to
apply themselves), the session asks its :class:`~cerkl_nb.auth.TokenManager` for a usable
token before each request, and it owns the one rule for a 401. Two rules are stricter
than google-auth's:

* **the origin rule**: a token goes only to the scheme, host and port of the configured
  API or token endpoint (default ports filled in: ``https://api.cerkl.com:443/v3`` is
  ``https://api.cerkl.com/v3``). A redirect elsewhere carries no token (``requests`` drops
  the header) and a 401 from there causes no refresh;
* **once only**: after a 401, one refresh and one more send, never a loop.

:class:`~cerkl_nb.client.CerklClient` sends each attempt with :meth:`AuthorizedSession.send`
and applies :meth:`AuthorizedSession.renew_after_401` in its request loop (which also
retries 429 and 5xx and records every attempt); :meth:`AuthorizedSession.request` is the
same for plain ``requests`` calls.

Verbose tracebacks (IPython's xmode, ``%debug``) show every frame's locals. No frame of
ours holds a plain credential: :class:`HeaderAuth` writes it from a Secret inside
``requests``, at the last moment. The frames of requests, urllib3 and http.client *do*
hold them, so whatever escapes :func:`send` (a KeyboardInterrupt in a slow call, a
UnicodeEncodeError) has the locals of those finished frames cleared first, and a
response's request is masked before it is returned.
"""

from __future__ import annotations

import math
import random
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.auth import AuthBase

from .errors import ConfigurationError, ConnectionFailed, RequestTimeout
from .redact import Secret, redact
from .spec import is_loopback_host, origin_of
from .token import Token

if TYPE_CHECKING:  # pragma: no cover
    from .auth import TokenManager
    from .config import Settings

__all__ = ["AuthorizedSession", "HeaderAuth", "send", "require_origin", "connection_error"]
__all__ += ["sent_nothing", "sandbox_hint", "parse_retry_after", "backoff_s"]


def _origins(settings: Settings) -> set[tuple[str, str, int]]:
    return {origin_of(settings.base_url), origin_of(settings.token_url)}


def require_origin(url: str, settings: Settings) -> None:
    """Raise :class:`ConfigurationError` unless ``url`` is on the API's or token endpoint's
    origin (scheme, host and port)."""
    origin = origin_of(url)
    if origin not in _origins(settings):
        scheme, host, port = origin
        raise ConfigurationError(
            f"Refusing to send your token to {scheme}://{host}:{port}: it is not the "
            f"configured API ({settings.base_url}). Send the request to that API, or build "
            "a client whose Settings point at this server."
        )


class HeaderAuth(AuthBase):
    """Writes the Authorization header (and optionally secret form fields) from Secrets.

    The plain values exist only inside this ``__call__``, run by requests while it
    prepares the request; the object itself holds Secrets and prints as ``***``.
    """

    __slots__ = ("_value", "_form")

    def __init__(self, value: Secret | Token, form: Mapping[str, str | Secret] | None = None):
        self._value = value
        self._form = form

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        v = self._value
        r.headers["Authorization"] = (
            v.authorization if isinstance(v, Token) else v.get_secret_value()
        )
        if self._form is not None:
            r.prepare_body({k: _plain(f) for k, f in self._form.items()}, None)
        return r

    def __repr__(self) -> str:
        return "HeaderAuth(***)"


def _plain(value: str | Secret) -> str:
    return value.get_secret_value() if isinstance(value, Secret) else value


def send(
    session: requests.Session, method: str, url: str, *, forget_body: bool = False, **kwargs: Any
) -> requests.Response:
    """``session.request`` that reads the body and leaves no credential behind either way.

    Whatever escapes (even a KeyboardInterrupt) has the frames below scrubbed first; the
    Authorization header (and with ``forget_body`` the form body) of the requests behind
    the response is masked before it is returned.
    """
    try:
        resp = session.request(method, url, **kwargs)
        resp.content  # noqa: B018 - read the body inside the timeout
    except BaseException as exc:
        _scrub(exc)
        raise
    for r in (*resp.history, resp):
        _forget(r.request, forget_body)
    return resp


def _forget(req: requests.PreparedRequest | None, body: bool = False) -> None:
    if req is None:
        return
    value = req.headers.get("Authorization")
    if value:
        req.headers["Authorization"] = value.split(" ", 1)[0] + " ***"
    if body:
        req.body = None


def _scrub(exc: BaseException) -> None:
    """Make the credentials a failed send touched unreachable from ``exc``.

    Walks ``exc`` and every exception linked to it (``__context__``, ``__cause__``, those in
    ``args`` and urllib3's ``reason``), clears the locals of each finished frame of their
    tracebacks (frames still running, such as the caller's, are skipped) and drops the
    prepared request that ``requests`` exceptions keep. Messages and line numbers stay.
    """
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        traceback.clear_frames(e.__traceback__)
        if isinstance(e, requests.RequestException):
            e.request = None
            if e.response is not None:
                for r in (*e.response.history, e.response):
                    _forget(r.request)
        todo += [e.__context__, e.__cause__, getattr(e, "reason", None), *e.args]


def sandbox_hint(url: str) -> str:
    """The next step after a connection failure (for loopback: the sandbox is not running)."""
    _, host, port = origin_of(url)
    if not is_loopback_host(host):
        return "Check the URL, your network connection and any proxy settings."
    return (
        "This is a local address where nothing answers: it looks like the sandbox is not "
        f"running (on port {port}). Start one there with `cerkl-nb sandbox --port {port}` in "
        "a terminal. If this URL came from CERKL_BASE_URL in your environment or .env (a "
        "sandbox from an earlier session: its port changes every run), remove CERKL_BASE_URL "
        "and CERKL_TOKEN_URL there instead; with no credentials configured, "
        "`cerkl_nb.connect()` starts a sandbox by itself."
    )


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
    """The typed, redacted :class:`ConnectionFailed` for a ``requests`` exception."""
    safe_url = url.split("?", 1)[0]
    where = f"{method} {safe_url}"
    if isinstance(exc, requests.ConnectTimeout):
        msg, cls = f"{where}: could not connect within {timeout[0]:g} s.", RequestTimeout
    elif isinstance(exc, requests.ReadTimeout):
        msg = f"{where}: no answer within {timeout[1]:g} s (Settings.timeout_s)."
        return RequestTimeout(msg, url=safe_url)
    elif sent_nothing(exc):
        msg, cls = f"{where}: connection refused or host not found.", ConnectionFailed
    elif isinstance(exc, requests.exceptions.SSLError):
        return ConnectionFailed(f"{where}: TLS error ({type(exc).__name__}).", url=safe_url)
    else:
        detail = f"{type(exc).__name__}: {redact(str(exc))[:200]}"
        msg, cls = f"{where}: the connection failed ({detail}).", ConnectionFailed
    return cls(msg, url=safe_url, hint=sandbox_hint(url))


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) as seconds from now; None if absent or junk."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    import email.utils  # only HTTP-date values need it
    from datetime import timezone

    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now_wall)


def backoff_s(attempt: int, cap: float, base: float = 0.5) -> float:
    """Jittered exponential back-off before retry ``attempt`` (0-based), at most ``cap``."""
    return min(cap, base * (2**attempt)) * random.uniform(0.5, 1.0)


class AuthorizedSession:
    """A ``requests.Session`` that carries a :class:`~cerkl_nb.auth.TokenManager`'s token.

    Parameters
    ----------
    manager
        Supplies the token (fetched or refreshed as needed, single flight).
    session
        The ``requests.Session`` to send with; a new one by default. Its own settings stay
        as they are (``trust_env``: proxies and CA bundles from the environment).

    Examples
    --------
    >>> s = AuthorizedSession(client.token_manager)                 # doctest: +SKIP
    >>> s.request("GET", client.settings.base_url + "/segment").json()  # doctest: +SKIP
    """

    def __init__(self, manager: TokenManager, session: requests.Session | None = None) -> None:
        self.manager = manager
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()

    def send(self, method: str, url: str, **kwargs: Any) -> tuple[requests.Response, Token]:
        """Send once with a usable token; returns the response and the token it carried.

        Raises :class:`ConfigurationError` before anything is sent when ``url`` is not on
        the configured origins, and ``requests`` exceptions as they come (scrubbed).
        """
        require_origin(url, self.manager.settings)
        token = self.manager.get_token()
        return send(self.session, method, url, auth=HeaderAuth(token), **kwargs), token

    def renew_after_401(self, resp: requests.Response, token: Token) -> bool:
        """The one 401 rule: whether ``resp`` is worth one refresh and one more send.

        True (and ``token`` is invalidated) for a 401 to a request that carried a Bearer
        token to one of the configured origins, when the manager refreshes automatically.
        Only ``token`` is invalidated, so N concurrent 401s cause one refresh. Callers send
        again at most once.
        """
        req = resp.request
        if resp.status_code != 401 or not self.manager.auto_refresh or req is None:
            return False
        if origin_of(req.url or "") not in _origins(self.manager.settings):
            return False  # a redirect elsewhere answered: none of our business
        if not (req.headers.get("Authorization") or "").startswith("Bearer "):
            return False
        self.manager.invalidate(token)
        return True

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """``requests.Session.request`` with the token applied and one refresh after a 401."""
        resp, token = self.send(method, url, **kwargs)
        if self.renew_after_401(resp, token):
            resp.close()
            resp, _ = self.send(method, url, **kwargs)
        return resp

    def close(self) -> None:
        """Close the ``requests.Session`` if this object created it."""
        if self._owns_session:
            self.session.close()

    def __repr__(self) -> str:
        return f"AuthorizedSession({self.manager!r})"
