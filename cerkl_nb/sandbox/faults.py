"""Faults for teaching and testing, switchable while the sandbox runs (docs/sandbox.md §7).

A fault never applies to the admin endpoints (``/_sandbox/...``) or to the OpenAPI
description, so a test can always switch faults off again.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["Faults", "FaultDecision", "describe_wait"]

_TARGETS = ("api", "token", "all")


@dataclass
class _State:
    latency_ms: float = 0.0
    rate_limit_per_s: int = 0
    retry_after: str | None = None
    error_rate: float = 0.0
    error_status: int = 500
    error_seed: int = 0
    fail_next_count: int = 0
    fail_next_status: int = 503
    fail_next_target: str | None = None
    drop_refresh_response: int = 0
    expire_early_s: float = 0.0
    target: str = "api"


@dataclass
class FaultDecision:
    """What to do with one request: sleep first, then maybe answer with ``status``."""

    sleep_s: float = 0.0
    status: int | None = None
    reason: str = ""
    retry_after: str | None = None


def _num(v: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not (lo <= v <= hi):
        raise ValueError(f"{name} must be a number between {lo:g} and {hi:g}")
    return float(v)


def _status(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not (400 <= v <= 599):
        raise ValueError(f"{name} must be an HTTP error status (400-599), e.g. 500, 502 or 503")
    return v


def _retry_after(v: Any) -> str | None:
    if v is not None and (not isinstance(v, str | int) or isinstance(v, bool)):
        raise ValueError("retry_after must be a string (sent verbatim) or null")
    if v is None:
        return None
    text = str(v)
    # It becomes a header: a line break would let the caller add headers of their own.
    if len(text) > 200 or not all(" " <= ch <= "~" for ch in text):
        raise ValueError("retry_after must be at most 200 printable ASCII characters")
    return text


def describe_wait(retry_after: str | None, now: float) -> str:
    """How long ``Retry-After`` (seconds, or an HTTP date against the server clock ``now``)
    asks to wait, in words; ``""`` when it says nothing usable."""
    if retry_after is None:
        return ""
    text = retry_after.strip()
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return ""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"wait {seconds:.0f} s before retrying (Retry-After)"
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size or unit == "minutes":
            about = f"about {seconds / size:.0f} {unit}"
            return f"wait {seconds:.0f} s ({about}) before retrying (Retry-After)"
    return ""  # pragma: no cover - the loop always returns


class Faults:
    """The live fault settings plus the counters they need (rate window, RNG)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.s = _State()
        self._rng = random.Random(0)
        self._window = -1
        self._window_count = 0

    @property
    def active(self) -> bool:
        s = self.s
        return bool(
            s.latency_ms
            or s.rate_limit_per_s
            or s.error_rate
            or s.fail_next_count
            or s.drop_refresh_response
        )

    def public(self) -> dict[str, Any]:
        s = asdict(self.s)
        return {
            "latency_ms": s["latency_ms"],
            "rate_limit_per_s": s["rate_limit_per_s"],
            "retry_after": s["retry_after"],
            "error_rate": s["error_rate"],
            "error_status": s["error_status"],
            "error_seed": s["error_seed"],
            "fail_next": {
                "count": s["fail_next_count"],
                "status": s["fail_next_status"],
                "target": s["fail_next_target"] or s["target"],
            },
            "drop_refresh_response": s["drop_refresh_response"],
            "expire_early_s": s["expire_early_s"],
            "target": s["target"],
        }

    def clear(self) -> None:
        with self.lock:
            self.s = _State()
            self._rng = random.Random(0)
            self._window = -1
            self._window_count = 0

    def update(self, **faults: Any) -> None:
        """Change some settings; the others keep their values.

        Raises
        ------
        ValueError
            For unknown names or out-of-range values (nothing is changed then).
        """
        new = _State(**asdict(self.s))
        for key, v in faults.items():
            if key == "latency_ms":
                new.latency_ms = _num(v, key, 0, 60000)
            elif key == "rate_limit_per_s":
                new.rate_limit_per_s = int(_num(v, key, 0, 1e6))
            elif key == "retry_after":
                new.retry_after = _retry_after(v)
            elif key == "error_rate":
                new.error_rate = _num(v, key, 0, 1)
            elif key == "error_status":
                new.error_status = _status(v, key)
            elif key == "error_seed":
                new.error_seed = int(_num(v, key, 0, 2**31))
            elif key == "fail_next":
                if v is None:
                    new.fail_next_count = 0
                    continue
                if isinstance(v, bool) or isinstance(v, int):
                    v = {"count": v}
                if not isinstance(v, dict) or set(v) - {"count", "status", "target"}:
                    raise ValueError('fail_next must look like {"count": 2, "status": 503}')
                new.fail_next_count = int(_num(v.get("count", 1), "fail_next.count", 0, 1e6))
                new.fail_next_status = _status(v.get("status", 503), "fail_next.status")
                t = v.get("target")
                if t is not None and t not in _TARGETS:
                    raise ValueError(f"fail_next.target must be one of {_TARGETS}")
                new.fail_next_target = t
            elif key == "drop_refresh_response":
                if v is True:
                    v = 1_000_000
                new.drop_refresh_response = int(_num(v or 0, key, 0, 1e6))
            elif key == "expire_early_s":
                new.expire_early_s = _num(v, key, 0, 1e9)
            elif key == "target":
                if v not in _TARGETS:
                    raise ValueError(f"target must be one of {_TARGETS}")
                new.target = v
            else:
                raise ValueError(
                    f"unknown fault {key!r}; known: latency_ms, rate_limit_per_s, retry_after, "
                    "error_rate, error_status, error_seed, fail_next, drop_refresh_response, "
                    "expire_early_s, target"
                )
        with self.lock:
            if new.error_seed != self.s.error_seed or "error_rate" in faults:
                self._rng = random.Random(new.error_seed)
            self.s = new

    def decide(self, kind: str, now: float) -> FaultDecision | None:
        """Decide the fault for one request of ``kind`` (``"api"`` or ``"token"``)."""
        s = self.s
        if not self.active:
            return None
        applies = s.target == "all" or s.target == kind
        d = FaultDecision()
        with self.lock:
            if applies and s.latency_ms:
                d.sleep_s = s.latency_ms / 1000.0
            fn_target = s.fail_next_target or s.target
            if s.fail_next_count and (fn_target == "all" or fn_target == kind):
                s.fail_next_count -= 1
                d.status = s.fail_next_status
                d.reason = "fail_next"
                d.retry_after = s.retry_after
                return d
            if not applies:
                return d if d.sleep_s else None
            if s.rate_limit_per_s:
                window = math.floor(now)
                if window != self._window:
                    self._window, self._window_count = window, 0
                self._window_count += 1
                if self._window_count > s.rate_limit_per_s:
                    d.status = 429
                    d.reason = f"rate limit of {s.rate_limit_per_s} requests per second"
                    wait = max(1, math.ceil(window + 1 - now))
                    d.retry_after = s.retry_after if s.retry_after is not None else str(wait)
                    return d
            if s.error_rate and self._rng.random() < s.error_rate:
                d.status = s.error_status
                d.reason = f"error_rate {s.error_rate:g}"
                d.retry_after = s.retry_after
                return d
        return d if d.sleep_s else None

    def take_drop_refresh(self) -> bool:
        """Consume one 'drop the refresh response' (the answer to a refresh is lost) if armed."""
        with self.lock:
            if self.s.drop_refresh_response > 0:
                self.s.drop_refresh_response -= 1
                return True
        return False
