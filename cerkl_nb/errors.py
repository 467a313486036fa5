"""The one exception tree of cerkl_nb, and how a failed response becomes one of it.

Every error the toolkit raises is a :class:`CerklError`, and every message says what
happened and what to do next. No message ever holds a client secret, an access token or
a refresh token: messages pass through :func:`cerkl_nb.redact.redact` before they are
stored. The everyday ones are also at the package's top level (``cerkl_nb.NotFound``).

::

    CerklError
    ├── ConfigurationError            bad or missing settings (fix your input)
    │   └── MissingCredentials        no client ID or secret was found
    ├── AuthError                     the token endpoint said no
    │   ├── InvalidCredentials        invalid_client: wrong ID/secret (never retried)
    │   ├── InvalidGrant              invalid_grant: refresh token dead (falls back)
    │   └── TokenEndpointError        any other token-endpoint failure
    │       └── UnsupportedGrant      unsupported_grant_type / unauthorized_client
    │                                 (also a ConfigurationError: fix the grant type)
    ├── ApiError                      the API answered with an error status
    │   ├── Unauthorized              401 even after one refresh and one retry
    │   ├── Forbidden                 403 (no refresh is attempted)
    │   ├── NotFound                  404
    │   ├── Conflict                  409
    │   ├── ValidationError           400 / 422
    │   ├── RateLimited               429 after the retry budget (has retry_after_s)
    │   ├── ServerError               5xx after the retry budget
    │   └── OutcomeUnknown            5xx/timeout on a POST: it may or may not have happened
    ├── BadResponse                   not JSON / HTML / truncated body
    ├── ConnectionFailed              could not reach the server (names the URL)
    │   └── RequestTimeout            no answer within the timeout
    └── MissingDependency             an optional package (pandas, tqdm) is not installed

:func:`api_error` builds the right :class:`ApiError` from a failed response;
:func:`parse_json_body` reads a response's JSON or raises :class:`BadResponse`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .redact import excerpt, redact


def _redacted(text: str | None) -> str | None:
    return redact(text) if text else text


class CerklError(Exception):
    """Base class of every cerkl_nb error: ``message`` (what happened and what to do) and
    an optional ``hint`` appended on its own line, both redacted before they are stored."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = redact(message)
        self.hint = _redacted(hint)
        super().__init__(self.message if not self.hint else f"{self.message}\n{self.hint}")


class ConfigurationError(CerklError, ValueError):
    """A setting is missing or malformed; the user must fix their input."""


class MissingCredentials(ConfigurationError):
    """No client ID or no client secret could be found."""


class AuthError(CerklError):
    """The token endpoint refused to issue a token.

    Attributes
    ----------
    error
        The RFC 6749 §5.2 error code (``invalid_client``, ``invalid_grant`` ...), if any.
    status
        The HTTP status of the token response, if one arrived.
    description
        The server's ``error_description``, redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        status: int | None = None,
        description: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.error, self.status, self.description = error, status, _redacted(description)
        super().__init__(message, hint=hint)


class InvalidCredentials(AuthError):
    """``invalid_client``: the client ID or secret was rejected. Never retried."""


class InvalidGrant(AuthError):
    """``invalid_grant``: the refresh token is expired, revoked or already used."""


class TokenEndpointError(AuthError):
    """Any other failure of the token endpoint (5xx, unsupported grant, bad body)."""


class UnsupportedGrant(TokenEndpointError, ConfigurationError):
    """``unsupported_grant_type`` / ``unauthorized_client``: this grant cannot be used here."""


class ApiError(CerklError):
    """The Cerkl API answered with an error status.

    Attributes
    ----------
    status, code
        HTTP status, and the machine-readable error code from the body, if any.
    request_id
        The server's request id (``X-Request-Id``), if any: quote it to support.
    method, url
        The request that failed (the URL never holds a secret).
    body_excerpt
        The first few hundred characters of the response body, redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        body_excerpt: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status, self.code, self.request_id, self.method = status, code, request_id, method
        self.url, self.body_excerpt = _redacted(url), _redacted(body_excerpt)
        super().__init__(message, hint=hint)


class Unauthorized(ApiError):
    """401 after one forced refresh and one retry."""


class Forbidden(ApiError):
    """403: the token is valid but not allowed to do this. No refresh is attempted."""


class NotFound(ApiError):
    """404: no such resource or id."""


class Conflict(ApiError):
    """409: duplicate email/external_id, or a state that forbids the change."""


class ValidationError(ApiError):
    """400/422: the request body, query or path was rejected."""


class RateLimited(ApiError):
    """429 after the retry budget; ``retry_after_s``: how long the server asked us to wait."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **kw)


class ServerError(ApiError):
    """5xx after the retry budget ran out."""


class OutcomeUnknown(ApiError):
    """A non-idempotent request (POST) failed in a way that hides whether it happened."""


class BadResponse(CerklError):
    """The server answered, but not with the JSON we expected (HTML, truncated, empty).

    Attributes
    ----------
    status, body_excerpt
        HTTP status of the response, and a short redacted excerpt of the body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body_excerpt: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status, self.body_excerpt = status, _redacted(body_excerpt)
        super().__init__(message, hint=hint)


class ConnectionFailed(CerklError, ConnectionError):
    """The server could not be reached; ``url`` is the one we tried (it holds no secret)."""

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None) -> None:
        self.url = _redacted(url)
        super().__init__(message, hint=hint)


class RequestTimeout(ConnectionFailed, TimeoutError):
    """No answer arrived within the configured timeout."""


class MissingDependency(CerklError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


# -- from a failed response ----------------------------------------------------------------

_STATUS_CLASSES: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
}
_HINTS = {
    401: "The API rejected the token even after one refresh. Check that the credentials "
    "belong to this Cerkl instance and that CERKL_BASE_URL is right.",
    403: "The token is valid but not allowed to do this; a refresh would not help. Ask a "
    "Cerkl admin about the permissions of these API credentials.",
    404: "Check the resource name and id (GET the collection to see what exists).",
    409: "A record with the same email or external_id probably exists already.",
}
_WWW_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_json_body(resp: Any) -> Any:
    """The parsed JSON body of a ``requests`` response (None when empty), or raise
    :class:`BadResponse` with a redacted excerpt for HTML and for broken JSON."""
    text = resp.text
    if not text.strip():
        return None
    where, status = f"{resp.request.method} {resp.url.split('?', 1)[0]}", resp.status_code
    if "html" in resp.headers.get("Content-Type", "").lower() or text.lstrip()[:1] == "<":
        said = f"HTML (status {status}), not JSON: probably a proxy, login or error page."
    else:
        try:
            return json.loads(text)
        except ValueError:
            said = f"a body that is not valid JSON (status {status}, {len(text)} chars; "
            said += "truncated?)."
    raise BadResponse(f"{where} returned {said}", status=status, body_excerpt=excerpt(text, 300))


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """(code, message) out of any plausible error body."""
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
        return None, "; ".join(
            str(e.get("message") or e) if isinstance(e, Mapping) else str(e) for e in errors[:5]
        )
    for key in ("message", "detail", "error_description", "title"):
        if body.get(key):
            code = body.get("code")
            return (str(code) if code is not None else None), str(body[key])
    return None, None


def api_error(
    resp: Any,
    method: str,
    url: str,
    *,
    cls: type[ApiError] | None = None,
    prefix: str = "",
    hint: str | None = None,
    **extra: Any,
) -> ApiError:
    """The typed, redacted :class:`ApiError` for a failed ``requests`` response: the class
    of its status unless ``cls`` says, with the server's code, message and request id, and
    the next step to take."""
    status = resp.status_code
    try:
        body = json.loads(resp.text) if resp.text.strip() else None
    except ValueError:
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
    said = [x for x in (f"[{code}]" if code and code != str(status) else None, message) if x]
    if said:
        text += ": " + " ".join(said)
    if rid:
        text += f" (request id {rid})"
    if cls is None:
        cls = _STATUS_CLASSES.get(status, ServerError if status >= 500 else ApiError)
    return cls(
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


#: Every exception class above, and the two functions.
__all__ = [
    n for n, v in list(globals().items()) if isinstance(v, type) and issubclass(v, CerklError)
]
__all__ += ["api_error", "parse_json_body"]
