"""Requests, responses and error bodies: what every part of the sandbox speaks.

The application turns one :class:`Request` into one :class:`Response` and knows nothing
about sockets; the HTTP server (``server.py``) and the in-process transport
(``transport.py``) both put a response on the wire with :func:`wire_headers`, so their
answers are the same bytes. A client error anywhere is a :class:`Problem`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

__all__ = [
    "JSON",
    "SERVER_NAME",
    "Problem",
    "Request",
    "Response",
    "dumps",
    "error_response",
    "header_safe",
    "json_response",
    "loads_strict",
    "reason",
    "wire_headers",
]

JSON = "application/json"
#: What the sandbox calls itself in the ``Server`` header.
SERVER_NAME = "cerkl-nb-sandbox/0.1"

log = logging.getLogger("cerkl_nb.sandbox")
# Header values built from input (Retry-After, Location ...) must not carry a line break:
# that would let a caller add headers of their own ("response splitting").
_UNSAFE_HEADER = re.compile(r"[\x00-\x1f\x7f]")


class Problem(Exception):
    """A client error: becomes ``{"error": {"code": status, "message": message}}`` with
    extra ``headers`` (e.g. ``Allow``). The message says what was wrong and how to fix it."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Request:
    """One parsed HTTP request: upper-case ``method``, the ``target`` exactly as sent
    (path and query), ``headers`` (anything with a case-insensitive ``get``, or a ``dict``
    with lower-case keys), the raw ``body`` and the peer's ``client_ip``."""

    method: str
    target: str
    headers: Any
    body: bytes = b""
    client_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        """The header's value, or ``None`` (names are case-insensitive)."""
        v = self.headers.get(name)
        if v is None and isinstance(self.headers, dict):
            v = self.headers.get(name.lower())
        return v

    def from_loopback(self) -> bool:
        """True when the peer is this host (``127.0.0.0/8``, ``::1``, IPv4-mapped too)."""
        try:
            addr = ipaddress.ip_address(self.client_ip)
        except ValueError:
            return self.client_ip == "localhost"
        mapped = getattr(addr, "ipv4_mapped", None)
        return addr.is_loopback or (mapped is not None and mapped.is_loopback)

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


def dumps(obj: Any) -> bytes:
    """JSON as the sandbox sends it: UTF-8, no spaces."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """A JSON response with ``status`` and optional extra headers."""
    return Response(status, dumps(obj), [("Content-Type", JSON), *(headers or ())])


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The sandbox's API error body, ``{"error": {"code": ..., "message": ...}}``."""
    body = {"error": {"code": status, "message": message}}
    return json_response(status, body, list((headers or {}).items()))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(raw: bytes) -> Any:
    """Parse UTF-8 JSON, refusing ``NaN``/``Infinity`` (not JSON, though Python allows
    them) with ``ValueError``; otherwise it raises as :func:`json.loads` would."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def reason(status: int) -> str:
    """The reason phrase of a status line (``http.server`` takes them from ``HTTPStatus``)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def wire_headers(resp: Response, *, close: bool = False) -> list[tuple[str, str]]:
    """Every header sent with ``resp``: ``Server``, ``Date``, its own, ``Content-Length``,
    and ``Connection: close`` when it or the connection (``close``) ends."""
    out = [("Server", SERVER_NAME), ("Date", formatdate(usegmt=True))]
    for k, v in resp.headers:
        if header_safe(k) and header_safe(v):
            out.append((k, v))
        else:  # never split a response: inputs are checked earlier, this is the backstop
            log.error("dropped a response header with a control character: %r", k)
    if resp.status != 204 and resp.status >= 200:
        out.append(("Content-Length", str(len(resp.body))))
    if resp.close or close:
        out.append(("Connection", "close"))
    return out
