"""Counters and the request log that ``GET /_sandbox/stats`` and ``/_sandbox/log`` show,
and the masking of the access log.

Tests assert on them (one token request for ten threads, no 5xx, no token in a URL), so
they are exact and guarded by one lock.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from typing import Any

from .messages import header_safe

__all__ = ["Stats", "auth_note", "mask_query"]


class Stats:
    """Counters for the API traffic, plus a ring of the most recent request lines."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self.reset()

    def reset(self) -> None:
        """Zero every counter and empty the request log."""
        with self.lock:
            self.c: collections.Counter[str] = collections.Counter()
            self.statuses: collections.Counter[str] = collections.Counter()
            self.token_errors: collections.Counter[str] = collections.Counter()
            self.grants_issued: collections.Counter[str] = collections.Counter()
            self.ring.clear()
            self.since = time.time()

    def bump(self, key: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``key``."""
        with self.lock:
            self.c[key] += n

    def record(
        self, method: str, target: str, status: int, rid: str, *, dropped: bool = False
    ) -> None:
        """Count one answered request and keep its request line (never its headers).

        Only the method and target are kept, so a test can prove from the log that no
        token ever travels in a URL. ``dropped``: the connection closed unanswered.
        """
        with self.lock:
            self.c["requests_total"] += 1
            self.statuses["dropped" if dropped else str(status)] += 1
            entry = {"method": method, "target": target, "status": status, "request_id": rid}
            self.ring.append(entry)

    def as_dict(self) -> dict[str, Any]:
        """The counters as ``GET /_sandbox/stats`` shows them."""
        with self.lock:
            c = dict(self.c)
            return {
                "requests_total": c.get("requests_total", 0),
                "api_requests": c.get("api_requests", 0),
                "admin_requests": c.get("admin_requests", 0),
                "token_requests": c.get("token_requests", 0),
                "client_credentials": c.get("client_credentials", 0),
                "refresh_token": c.get("refresh_token", 0),
                "tokens_issued": sum(self.grants_issued.values()),
                "grants_issued": dict(self.grants_issued),
                "refresh_token_reuse": c.get("refresh_token_reuse", 0),
                "token_errors": dict(self.token_errors),
                "statuses": dict(self.statuses),
                "faults_injected": c.get("faults_injected", 0),
                "internal_errors": c.get("internal_errors", 0),
                "protocol_errors": c.get("protocol_errors", 0),
                "since": self.since,
                "recent_requests": list(self.ring)[-50:],
            }


_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:access_token|refresh_token|client_secret|password|token|key)=)[^&#]*"
)


def mask_query(target: str) -> str:
    """The request target for the access log, with secret-looking query values masked.

    The sandbox refuses a token in the URL, but the refusal is logged: the log must not
    repeat what the client leaked. (The request log of ``/_sandbox/log`` keeps targets as
    sent, so tests can find such a leak; it never leaves the process unasked.)
    """
    return _SECRET_QUERY.sub(r"\1***", target)


def auth_note(auth: str | None) -> str:
    """The Authorization header for the access log: its scheme only, never the value."""
    if not auth:
        return ""
    scheme = auth.split(None, 1)[0][:20] if auth.strip() else ""
    return f" authorization='{scheme} ***'" if header_safe(scheme) else " authorization='***'"
