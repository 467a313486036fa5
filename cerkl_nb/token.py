"""Access tokens: parsed from a token response, aged against an injectable clock.

The expiry is counted from the moment the token request was *sent*: if the server took
2 s to answer, the token has 2 s less to live than ``expires_in`` says. A token is aged by
two clocks, and the one that says "older" wins:

* the monotonic clock (``deadline``), which a wall-clock step backwards (NTP, a user
  changing the time) cannot rewind, so a backward step never extends a token's life;
* the wall clock (``expires_at``), because the monotonic clock of many systems stops while
  the machine is suspended: after a laptop sleeps through the expiry, the wall clock has
  moved on, and so has the server.

The cost: a forward wall-clock step larger than the leeway makes the manager refresh once,
early; the new token is dated by the new wall clock, so there is no refresh storm.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .errors import BadResponse, TokenEndpointError
from .redact import Secret, redact

__all__ = ["TokenState", "Token", "effective_leeway"]


class TokenState(str, enum.Enum):
    """``NONE`` no token yet; ``FRESH`` usable; ``STALE`` inside the leeway: refresh before
    use; ``EXPIRED`` past its deadline."""

    NONE = "none"
    FRESH = "fresh"
    STALE = "stale"
    EXPIRED = "expired"

    def __str__(self) -> str:
        return self.value


def effective_leeway(leeway_s: float, lifetime_s: float) -> float:
    """``min(leeway_s, lifetime_s / 10)``: short-lived tokens are not refreshed at once."""
    return min(float(leeway_s), max(0.0, float(lifetime_s)) / 10.0)


def _lifetime(body: Mapping[str, Any], default_lifetime_s: float) -> float:
    raw = body.get("expires_in")
    if raw is None or raw == "":
        warnings.warn(
            f"The token response has no expires_in; assuming {default_lifetime_s:g} s "
            "(Settings.default_lifetime_s).",
            UserWarning,
            stacklevel=4,
        )
        return float(default_lifetime_s)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        shown = redact(repr(raw))[:40]
        raise BadResponse(f"The token response has a non-numeric expires_in ({shown}).") from None
    if not math.isfinite(value):
        raise BadResponse("The token response has an expires_in that is not a finite number.")
    return max(0.0, value)


@dataclass(frozen=True, repr=False)
class Token:
    """An OAuth 2.0 access token and what came with it.

    Attributes
    ----------
    access_token, refresh_token
        The bearer token, and the refresh token when the server issued one (Secrets).
    token_type
        As the server spelled it (``Bearer``, ``bearer`` ...).
    issued_at, expires_at
        Wall-clock times (Unix seconds) the token request was sent and the token expires.
    lifetime_s
        ``expires_in`` from the response (or the configured default).
    scope
        The granted scope, if the server said.
    deadline
        The monotonic time at which the token expires.
    """

    access_token: Secret
    token_type: str
    issued_at: float
    expires_at: float
    lifetime_s: float
    refresh_token: Secret | None
    scope: str | None
    deadline: float

    @classmethod
    def from_response(
        cls,
        body: Mapping[str, Any],
        *,
        sent_at: float,
        sent_monotonic: float,
        default_lifetime_s: float = 43200.0,
    ) -> Token:
        """Build a token from a parsed RFC 6749 §5.1 response.

        ``sent_at`` and ``sent_monotonic`` are the wall-clock and monotonic times the
        request was sent; ``default_lifetime_s`` is used (with a warning) without
        ``expires_in``. Raises :class:`BadResponse` without an ``access_token`` or with a
        non-numeric ``expires_in``, :class:`TokenEndpointError` for a non-Bearer token.
        """
        if not isinstance(body, Mapping):
            raise BadResponse("The token response is not a JSON object.")
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise BadResponse(
                "The token response has no access_token. Keys present: "
                + ", ".join(sorted(str(k) for k in body)[:20])
            )
        token_type = body.get("token_type")
        if token_type in (None, ""):  # required by RFC 6749, but on a bearer-only API: Bearer
            token_type = "Bearer"
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenEndpointError(
                f"The token endpoint issued a {redact(str(token_type))[:40]!r} token; "
                "only Bearer tokens are supported."
            )
        lifetime = _lifetime(body, default_lifetime_s)
        refresh, scope = body.get("refresh_token"), body.get("scope")
        if isinstance(scope, (list, tuple)):
            scope = " ".join(str(s) for s in scope)
        return cls(
            access_token=Secret(access),
            token_type=token_type,
            issued_at=float(sent_at),
            expires_at=float(sent_at) + lifetime,
            lifetime_s=lifetime,
            refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
            scope=str(scope) if scope not in (None, "") else None,
            deadline=float(sent_monotonic) + lifetime,
        )

    def _remaining(self, clock: Clock) -> float:
        # A wall clock that went backwards only makes the second estimate larger, so min()
        # ignores it: it can never extend a token's life.
        return min(self.deadline - clock.monotonic(), self.expires_at - clock.time())

    def remaining_s(self, clock: Clock) -> float:
        """Seconds until expiry (the smaller of the monotonic and wall estimates); >= 0."""
        return max(0.0, self._remaining(clock))

    def age_s(self, clock: Clock) -> float:
        """Seconds since the token request was sent (the larger of the two estimates)."""
        return max(0.0, self.lifetime_s - self._remaining(clock))

    def effective_leeway_s(self, leeway_s: float) -> float:
        """``min(leeway_s, lifetime_s / 10)``: short-lived tokens are not refreshed at once."""
        return effective_leeway(leeway_s, self.lifetime_s)

    def state(self, clock: Clock, leeway_s: float = 300.0) -> TokenState:
        """FRESH, STALE (within the effective leeway of expiry) or EXPIRED, as soon as either
        the monotonic or the wall clock says so."""
        remaining = self._remaining(clock)
        if remaining <= 0:
            return TokenState.EXPIRED
        if remaining <= self.effective_leeway_s(leeway_s):
            return TokenState.STALE
        return TokenState.FRESH

    @property
    def has_refresh_token(self) -> bool:
        """Whether a refresh token came with this token."""
        return self.refresh_token is not None

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (``Bearer <token>``). Do not print it."""
        return "Bearer " + self.access_token.get_secret_value()

    def masked(self) -> str:
        """A display form that shows no part of the token."""
        return f"{self.token_type} ••••••••"

    def __repr__(self) -> str:
        return (
            # The Secrets' own reprs, so every mask in the toolkit has one form.
            f"Token(token_type={self.token_type!r}, access_token={self.access_token!r}, "
            f"refresh_token={self.refresh_token!r}, scope={self.scope!r}, "
            f"lifetime_s={self.lifetime_s:g}, issued_at={self.issued_at:.0f}, "
            f"expires_at={self.expires_at:.0f})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Tokens cannot be pickled (they hold secrets)")
