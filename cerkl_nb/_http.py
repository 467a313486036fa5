"""Transport helpers shared by the token manager and the client.

Nothing here knows about OAuth grants or token lifetimes; that is :mod:`cerkl_nb.auth`.
This module holds what any HTTP call of the toolkit needs:

* the one origin rule (:func:`origin_of`, :func:`require_origin`): a credential goes only
  to the scheme, host and port of the configured API or token endpoint, with default
  ports filled in, so ``https://api.cerkl.com:443/v3`` and ``https://api.cerkl.com/v3``
  are the same place;
* the one 401 rule (:func:`renew_after_401`), used by :class:`~cerkl_nb.client.CerklClient`
  and by :class:`BearerAuth`;
* response parsing (:func:`parse_json_body`, :func:`api_error`), ``Retry-After``,
  jittered back-off and typed connection errors;
* keeping credentials out of tracebacks (:class:`HeaderAuth`, :func:`scrub_exception`,
  :func:`forget_credentials`);
* the proxy and CA-bundle settings of the sessions the toolkit creates, read once
  (:func:`snapshot_environment`).

Why this module is longer than 600 lines: each of those is a short rule with the
docstring that justifies it, and every HTTP call of the toolkit (client, token manager,
:class:`BearerAuth`) must share the very same rules; splitting them up would only spread
one transport layer over several files that always change together.

Keeping secrets out of tracebacks
---------------------------------
IPython's Verbose xmode, ``%debug`` and ``sys.last_value`` show the local variables of every
frame in a traceback. Two rules keep credentials out of them:

1. Our own frames never hold a plain credential in a local: the Authorization header (and
   a refresh token's form field) are written onto the prepared request by
   :class:`HeaderAuth`, inside requests, from a Secret, at the last moment.
2. requests', urllib3's and http.client's frames *do* hold them. Whatever escapes a send
   (a KeyboardInterrupt in a slow call, a UnicodeEncodeError, a connection error) first
   goes through :func:`scrub_exception`, which clears the locals of those finished frames;
   and a response's request is masked (:func:`forget_credentials`) before it leaves us.
"""

from __future__ import annotations

import base64
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import requests
from requests.auth import AuthBase

from .errors import (
    ApiError,
    BadResponse,
    ConfigurationError,
    ConnectionFailed,
    RequestTimeout,
    api_error_for_status,
)
from .redact import Secret, excerpt, redact
from .spec import is_loopback_host, origin_of
from .token import Token

if TYPE_CHECKING:  # pragma: no cover
    from .auth import TokenManager

__all__ = [
    "BearerAuth",
    "HeaderAuth",
    "api_error",
    "backoff_s",
    "basic_auth_header",
    "connection_error",
    "environment_settings",
    "forget_credentials",
    "json_bytes",
    "origin_of",
    "parse_json_body",
    "parse_retry_after",
    "renew_after_401",
    "require_origin",
    "sandbox_hint",
    "scrub_exception",
    "send",
    "sent_nothing",
    "snapshot_environment",
]

Origin = tuple[str, str, int]


# -- the one origin rule ----------------------------------------------------------------------


def api_origins(settings: Any) -> set[Origin]:
    """The origins a token may be sent to: those of ``base_url`` and ``token_url``."""
    return {origin_of(settings.base_url), origin_of(settings.token_url)}


def require_origin(url: str, settings: Any) -> None:
    """Raise :class:`ConfigurationError` unless ``url`` is on one of :func:`api_origins`."""
    origin = origin_of(url)
    if origin not in api_origins(settings):
        scheme, host, port = origin
        raise ConfigurationError(
            f"Refusing to send your token to {scheme}://{host}:{port}: it is not the "
            f"configured API ({settings.base_url}). Send the request to that API, or build "
            "a client whose Settings point at this server."
        )


# -- the one 401 rule -------------------------------------------------------------------------


def renew_after_401(resp: requests.Response, token: Token, manager: TokenManager) -> bool:
    """Decide whether a 401 is worth one refresh and one retry; if so, invalidate ``token``.

    The rule: the response is a 401 to a request that carried a Bearer token to one of the
    configured origins, and the manager refreshes automatically. A redirect to another host
    (where requests drops the Authorization header) that answers 401 is none of our
    business: no refresh, and no token is sent there. Callers retry at most once.
    """
    if resp.status_code != 401 or not manager.auto_refresh:
        return False
    req = resp.request
    if req is None or origin_of(req.url or "") not in api_origins(manager.settings):
        return False
    if not (req.headers.get("Authorization") or "").startswith("Bearer "):
        return False
    # invalidate() drops only *this* token, so N concurrent 401s cause one refresh.
    manager.invalidate(token)
    return True


# -- request side -----------------------------------------------------------------------------


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


class HeaderAuth(AuthBase):
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
            fields = {k: f.get_secret_value() for k, f in self._secret_fields.items()}
            r.prepare_body({**(self._form or {}), **fields}, None)
        return r

    def __repr__(self) -> str:
        return "HeaderAuth(***)"


def _find_unjsonable(value: Any, path: str = "body") -> tuple[str, Any] | None:
    """The first value JSON cannot represent, with its path (``body['items'][0]['when']``)."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                return f"{path} key {k!r}", k
            found = _find_unjsonable(v, f"{path}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _find_unjsonable(v, f"{path}[{i}]")
            if found:
                return found
        return None
    return path, value


def _json_advice(value: Any) -> str:
    if isinstance(value, float):
        return "JSON has no NaN or infinity: use None or a number."
    if hasattr(value, "isoformat"):
        return (
            "Convert it first, e.g. value.isoformat() or value.strftime(...) "
            "(Cerkl's examples use '2020-07-16 00:00:00'), or str(value)."
        )
    if isinstance(value, (set, frozenset)):
        return "Convert it to a list first: list(value) or sorted(value)."
    return "Convert it to a str, number, bool, None, list or dict first, e.g. str(value)."


def json_bytes(body: Any, items: Any = None) -> bytes:
    """Serialise a request body as requests would (UTF-8, no NaN), or raise a clear error.

    ``items`` (the records before wrapping) only makes the error name the value the way
    the caller wrote it (``items[0]['when']`` rather than ``body['template']...``).
    """
    import json

    try:
        return json.dumps(body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        pass
    found = None
    if items is not None:
        found = _find_unjsonable(items, "item" if isinstance(items, Mapping) else "items")
    found = found or _find_unjsonable(body)
    if found is None:  # pragma: no cover - e.g. a circular structure
        raise ConfigurationError(
            "The request body cannot be converted to JSON (a circular reference?)."
        ) from None
    where, value = found
    raise ConfigurationError(
        f"The request body is not JSON-serialisable: {redact(where)[:200]} is a "
        f"{type(value).__name__}. " + _json_advice(value)
    ) from None


# -- response side ----------------------------------------------------------------------------


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


def parse_json_body(resp: requests.Response) -> Any:
    """Return the parsed JSON body, or raise :class:`BadResponse` with a redacted excerpt."""
    text = resp.text
    ctype = resp.headers.get("Content-Type", "")
    if not text.strip():
        return None
    where = f"{resp.request.method} {resp.url.split('?', 1)[0]}"
    if "html" in ctype.lower() or text.lstrip()[:1] == "<":
        raise BadResponse(
            f"{where} returned HTML (status {resp.status_code}), not JSON: probably a proxy, "
            "login or error page.",
            status=resp.status_code,
            body_excerpt=excerpt(text, 300),
        )
    import json

    try:
        return json.loads(text)
    except ValueError:
        raise BadResponse(
            f"{where} returned a body that is not valid JSON (status {resp.status_code}, "
            f"{len(text)} chars; truncated?).",
            status=resp.status_code,
            body_excerpt=excerpt(text, 300),
        ) from None


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """Pull (code, message) out of any plausible error body."""
    if not isinstance(body, Mapping):
        return None, None
    err = body.get("error")
    if isinstance(err, Mapping):
        code = err.get("code") or err.get("type")
        msg = err.get("message") or err.get("description") or err.get("detail")
        return (str(code) if code is not None else None), (str(msg) if msg else None)
    if isinstance(err, str):
        desc = body.get("error_description") or body.get("message")
        return err, (str(desc) if desc else None)
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        msgs = [
            str(e.get("message") or e) if isinstance(e, Mapping) else str(e) for e in errors[:5]
        ]
        return None, "; ".join(msgs)
    for key in ("message", "detail", "error_description", "title"):
        if body.get(key):
            code = body.get("code")
            return (str(code) if code is not None else None), str(body[key])
    return None, None


_HINTS = {
    401: "The API rejected the token even after one refresh. Check that the credentials "
    "belong to this Cerkl instance and that CERKL_BASE_URL is right.",
    403: "The token is valid but not allowed to do this; a refresh would not help. Ask a "
    "Cerkl admin about the permissions of these API credentials.",
    404: "Check the resource name and id (GET the collection to see what exists).",
    409: "A record with the same email or external_id probably exists already.",
}
_WWW_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def api_error(
    resp: requests.Response,
    method: str,
    url: str,
    *,
    cls: type[ApiError] | None = None,
    prefix: str = "",
    hint: str | None = None,
    **extra: Any,
) -> ApiError:
    """The typed, redacted :class:`~cerkl_nb.errors.ApiError` for a failed API response."""
    status = resp.status_code
    try:
        body = parse_json_body(resp)
    except BadResponse:
        body = None
    code, message = _error_fields(body)
    if status == 401:
        # RFC 6750: the WWW-Authenticate challenge carries the precise reason.
        params = dict(_WWW_AUTH_PARAM.findall(resp.headers.get("WWW-Authenticate", "")))
        code = params.get("error") or code
        message = params.get("error_description") or message
    rid = resp.headers.get("X-Request-Id")
    path = url.split("?", 1)[0]
    text = f"{prefix}{method} {path} failed with {status} {resp.reason or ''}".rstrip()
    # A numeric code equal to the status says nothing new; a word code does.
    shown_code = code if code and code != str(status) else None
    said = [x for x in (f"[{shown_code}]" if shown_code else None, message) if x]
    if said:
        text += ": " + " ".join(said)
    if rid:
        text += f" (request id {rid})"
    return (cls or api_error_for_status(status))(
        text,
        status=status,
        code=code,
        request_id=rid,
        method=method,
        url=path,
        body_excerpt=excerpt(resp.text, 300) if resp.text else None,
        hint=hint if hint is not None else _HINTS.get(status),
        **extra,
    )


# -- connection failures ----------------------------------------------------------------------


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
    where = f"{method} {safe_url}"
    if isinstance(exc, requests.ConnectTimeout):
        return RequestTimeout(
            f"{where}: could not connect within {timeout[0]:g} s.",
            url=safe_url,
            hint=sandbox_hint(url),
        )
    if isinstance(exc, requests.ReadTimeout):
        return RequestTimeout(
            f"{where}: no answer within {timeout[1]:g} s (Settings.timeout_s).", url=safe_url
        )
    if sent_nothing(exc):
        return ConnectionFailed(
            f"{where}: connection refused or host not found.",
            url=safe_url,
            hint=sandbox_hint(url),
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return ConnectionFailed(f"{where}: TLS error ({type(exc).__name__}).", url=safe_url)
    return ConnectionFailed(
        f"{where}: the connection failed ({type(exc).__name__}: {redact(str(exc))[:200]}).",
        url=safe_url,
        hint=sandbox_hint(url),
    )


# -- keeping secrets out of tracebacks ---------------------------------------------------------


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


# -- proxies and CA bundle, read once per session ----------------------------------------------


def environment_settings(url: str) -> dict[str, Any]:
    """The proxies and CA bundle ``requests`` would read from the environment for ``url``.

    The same rules as a ``Session`` with ``trust_env=True``: ``HTTPS_PROXY`` /
    ``HTTP_PROXY`` / ``ALL_PROXY`` (any case), minus hosts matched by ``NO_PROXY``, and
    ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` for certificate verification.
    """
    import os

    from requests.utils import get_environ_proxies

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return {"proxies": get_environ_proxies(url), "verify": bundle or True}


def snapshot_environment(session: requests.Session, urls: Iterable[str]) -> None:
    """Read the environment's proxy and CA-bundle settings for ``urls`` once, for ``session``.

    Only for sessions the toolkit creates. A session with ``trust_env=True`` re-reads the
    proxy variables on every call (``get_environ_proxies`` scans the whole environment,
    twice): about a third of a call's own CPU time. Here the session stops doing that,
    and :func:`send` applies the snapshot taken now for each request's origin instead, so
    a corporate proxy configured when the client was created keeps being used, and
    ``NO_PROXY`` keeps being honoured. A later change of the environment needs a new client.
    """
    session.trust_env = False
    session._cerkl_env = {origin_of(u): environment_settings(u) for u in urls}  # type: ignore[attr-defined]


def _environment_for(session: requests.Session, url: str) -> dict[str, Any] | None:
    snapshot = getattr(session, "_cerkl_env", None)
    if snapshot is None:
        return None  # the caller's own session: requests reads the environment itself
    found = snapshot.get(origin_of(url))
    return found if found is not None else environment_settings(url)


def send(
    session: requests.Session, method: str, url: str, *, forget_body: bool = False, **kwargs: Any
) -> requests.Response:
    """``session.request`` that reads the body and leaves no credential behind either way.

    Whatever escapes (even a KeyboardInterrupt) has the frames below scrubbed first, and
    the response's request is masked before it is returned. On a session prepared by
    :func:`snapshot_environment`, the proxies and CA bundle of the snapshot are used.
    """
    env = _environment_for(session, url)
    if env is not None:
        kwargs.update(env)
    try:
        resp = session.request(method, url, **kwargs)
        resp.content  # noqa: B018 - read the body inside the timeout and the timing
    except BaseException as exc:
        scrub_exception(exc)
        raise
    forget_credentials(resp, body=forget_body)
    return resp


# -- BearerAuth: the token for plain `requests` calls ----------------------------------------------


class BearerAuth(AuthBase):
    """A ``requests`` auth that puts a fresh Bearer token on each request.

    With a :class:`~cerkl_nb.auth.TokenManager` it asks for a usable token on every request
    (fetching or refreshing as needed) and applies the same origin rule
    (:func:`require_origin`) and the same 401 rule (:func:`renew_after_401`) as the client:
    the token goes only to the configured API or token endpoint, and a 401 from there is
    refreshed once and re-sent once. With a fixed :class:`Token` it just sets the header:
    a fixed token knows no origin, so the caller decides where it goes.
    """

    def __init__(self, source: TokenManager | Token) -> None:
        self._source = source

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        source = self._source
        if isinstance(source, Token):
            return HeaderAuth(source)(r)
        require_origin(r.url or "", source.settings)
        token = source.get_token()
        HeaderAuth(token)(r)
        r.register_hook("response", self._retry_hook(source, token))
        return r

    @staticmethod
    def _retry_hook(manager: TokenManager, token: Token) -> Callable[..., requests.Response]:
        def retry_once(resp: requests.Response, **kwargs: Any) -> requests.Response:
            if getattr(resp.request, "_cerkl_retried", False):
                return resp
            if not renew_after_401(resp, token, manager):
                return resp
            prep = resp.request.copy()
            del prep.headers["Authorization"]  # the new token is set below, from a Secret
            forget_credentials(resp)
            new = manager.get_token()
            resp.content  # noqa: B018 - drain so the connection can be reused
            resp.close()
            HeaderAuth(new)(prep)
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
