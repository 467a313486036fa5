"""The counters and request log of ``GET /_sandbox/stats`` and ``/_sandbox/log`` (exact,
under one lock: tests assert on them), and the masking of the access log."""

from __future__ import annotations

import collections
import re
import threading
import time
from typing import Any

from .messages import header_safe

__all__ = ["Stats", "auth_note", "mask_query"]

_COUNTERS = (
    "requests_total api_requests admin_requests token_requests client_credentials "
    "refresh_token refresh_token_reuse faults_injected internal_errors protocol_errors"
).split()


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
            out: dict[str, Any] = {k: self.c[k] for k in _COUNTERS}
            out["tokens_issued"] = sum(self.grants_issued.values())
            out["grants_issued"] = dict(self.grants_issued)
            out["token_errors"] = dict(self.token_errors)
            out["statuses"] = dict(self.statuses)
            out["since"] = self.since
            out["recent_requests"] = list(self.ring)[-50:]
            return out


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
