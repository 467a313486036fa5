"""Requests, responses and error bodies: what every part of the sandbox speaks.

The application turns one :class:`Request` into one :class:`Response` and knows nothing
about sockets, so the HTTP server (``server.py``) stays small and the behaviour can be
exercised without a network. A client error anywhere is a :class:`Problem`, which
becomes the sandbox's JSON error body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "JSON",
    "Problem",
    "Request",
    "Response",
    "api_error",
    "header_safe",
    "json_response",
    "loads_strict",
]

JSON = "application/json"

# Header values we build from input (Retry-After, Location ...) must not carry a line
# break: that would let a caller add headers of their own ("response splitting").
_UNSAFE_HEADER = re.compile(r"[\x00-\x1f\x7f]")


class Problem(Exception):
    """A client error: becomes ``{"error": {"code": status, "message": message}}``.

    Parameters
    ----------
    status
        The HTTP status.
    message
        What was wrong and how to fix it.
    headers
        Extra response headers (e.g. ``Allow``).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Request:
    """One parsed HTTP request.

    Attributes
    ----------
    method
        Upper-case method.
    target
        The request target exactly as sent (path and query).
    headers
        A case-insensitive mapping with ``get(name)`` (``http.client.HTTPMessage`` or
        a ``dict`` with lower-case keys).
    body
        The raw body.
    client_ip
        The peer address.
    """

    method: str
    target: str
    headers: Any
    body: bytes = b""
    client_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        """The header's value, or ``None`` (names are case-insensitive)."""
        h = self.headers
        v = h.get(name)
        if v is None and isinstance(h, dict):
            v = h.get(name.lower())
        return v

    def content_type(self) -> str:
        """The media type without parameters, lower-case (``""`` when absent)."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()


@dataclass
class Response:
    """What to send back. ``drop=True`` closes the connection without answering."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    drop: bool = False


def header_safe(value: str) -> bool:
    """True when ``value`` can be sent as a header value (no control characters)."""
    return not _UNSAFE_HEADER.search(value)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """A JSON response with ``status`` and optional extra headers."""
    h = [("Content-Type", JSON)]
    if headers:
        h.extend(headers)
    return Response(status, _dumps(obj), h)


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The sandbox's API error body, ``{"error": {"code": ..., "message": ...}}``."""
    return json_response(
        status,
        {"error": {"code": status, "message": message}},
        list((headers or {}).items()),
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(raw: bytes) -> Any:
    """Parse UTF-8 JSON, refusing ``NaN``/``Infinity`` (not JSON, though Python allows them).

    Raises
    ------
    UnicodeDecodeError, ValueError, RecursionError
        As :func:`json.loads` would, plus ``ValueError`` for the constants.
    """
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
