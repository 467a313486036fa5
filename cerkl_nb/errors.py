"""The one exception tree of cerkl_nb.

Every error the toolkit raises is a :class:`CerklError`, and every message says what
happened and what to do next. No message ever holds a client secret, an access token or
a refresh token: messages pass through :func:`cerkl_nb.redact.redact` before they are
stored.

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

``ApiError`` carries ``status``, ``code``, ``message``, ``request_id``, ``method``,
``url`` and a redacted ``body_excerpt``.
"""

from __future__ import annotations

from typing import Any

from .redact import redact

__all__ = [
    "CerklError",
    "ConfigurationError",
    "MissingCredentials",
    "AuthError",
    "InvalidCredentials",
    "InvalidGrant",
    "TokenEndpointError",
    "UnsupportedGrant",
    "ApiError",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "ValidationError",
    "RateLimited",
    "ServerError",
    "OutcomeUnknown",
    "BadResponse",
    "ConnectionFailed",
    "RequestTimeout",
    "MissingDependency",
    "api_error_for_status",
]


class CerklError(Exception):
    """Base class of every cerkl_nb error.

    Parameters
    ----------
    message
        What happened and what to do. It is redacted before it is stored.
    hint
        Optional extra advice, appended to the message on its own line.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = redact(message)
        self.hint = redact(hint) if hint else None
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
        self.error = error
        self.status = status
        self.description = redact(description) if description else None
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
    status
        HTTP status code.
    code
        Machine-readable error code from the body, if any.
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
        self.status = status
        self.code = code
        self.request_id = request_id
        self.method = method
        self.url = redact(url) if url else url
        self.body_excerpt = redact(body_excerpt) if body_excerpt else body_excerpt
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
    """429 after the retry budget ran out.

    Attributes
    ----------
    retry_after_s
        How long the server asked us to wait, in seconds, if it said.
    """

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
    status
        HTTP status of the response.
    body_excerpt
        A short redacted excerpt of the body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body_excerpt: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.body_excerpt = redact(body_excerpt) if body_excerpt else body_excerpt
        super().__init__(message, hint=hint)


class ConnectionFailed(CerklError, ConnectionError):
    """The server could not be reached.

    Attributes
    ----------
    url
        The URL we tried (never holds a secret).
    """

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None) -> None:
        self.url = redact(url) if url else url
        super().__init__(message, hint=hint)


class RequestTimeout(ConnectionFailed, TimeoutError):
    """No answer arrived within the configured timeout."""


class MissingDependency(CerklError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


_STATUS_CLASSES: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
}


def api_error_for_status(status: int) -> type[ApiError]:
    """Return the :class:`ApiError` subclass that matches an HTTP status.

    Parameters
    ----------
    status
        The HTTP status code of an error response.

    Returns
    -------
    type[ApiError]
        The most specific subclass; :class:`ServerError` for 5xx, :class:`ApiError` otherwise.
    """
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    return ApiError
