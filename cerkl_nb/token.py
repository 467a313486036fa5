"""Access tokens: parsed from a token response, aged against an injectable clock.

The expiry is counted from the moment the token request was *sent*, not from when the
answer arrived: if the server took 2 s to answer, the token has 2 s less to live than
``expires_in`` says, and counting from the send time can only err on the safe side.

Deadlines use the monotonic clock, so a wall-clock jump (NTP, a laptop waking up) neither
kills a good token nor keeps a dead one; ``issued_at`` / ``expires_at`` are wall-clock
times for display only.
"""

from __future__ import annotations

import enum
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .errors import BadResponse, TokenEndpointError
from .redact import Secret, redact

__all__ = ["TokenState", "Token"]

log = logging.getLogger("cerkl_nb.token")


class TokenState(str, enum.Enum):
    """Where a token is in its life.

    ``NONE`` no token yet; ``FRESH`` usable; ``STALE`` inside the leeway: refresh before
    use; ``EXPIRED`` past its deadline.
    """

    NONE = "none"
    FRESH = "fresh"
    STALE = "stale"
    EXPIRED = "expired"

    def __str__(self) -> str:
        return self.value


def _parse_lifetime(body: Mapping[str, Any], default_lifetime_s: float) -> float:
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
        raise BadResponse(
            f"The token response has a non-numeric expires_in ({redact(repr(raw))[:40]})."
        ) from None
    if math.isnan(value) or math.isinf(value):
        raise BadResponse("The token response has an expires_in that is not a finite number.")
    return max(0.0, value)


@dataclass(frozen=True, repr=False)
class Token:
    """An OAuth 2.0 access token and what came with it.

    Attributes
    ----------
    access_token
        The bearer token (a :class:`Secret`).
    token_type
        As the server spelled it (``Bearer``, ``bearer`` ...); compared case-insensitively.
    issued_at
        Wall-clock time the token request was sent (Unix seconds).
    expires_at
        ``issued_at + lifetime_s`` (wall clock, for display).
    lifetime_s
        ``expires_in`` from the response (or the configured default).
    refresh_token
        A refresh token, when the server issued one.
    scope
        The granted scope, if the server said.
    deadline
        The monotonic time at which the token expires; what all checks use.
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

        Parameters
        ----------
        body
            The JSON object the token endpoint returned.
        sent_at, sent_monotonic
            Wall-clock and monotonic times at which the request was sent.
        default_lifetime_s
            Used (with a warning) when ``expires_in`` is missing.

        Raises
        ------
        BadResponse
            When ``access_token`` is missing or ``expires_in`` is not a number.
        TokenEndpointError
            When the token type is not Bearer.
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
        if token_type is None or token_type == "":
            # RFC 6749 requires it, but a missing type on a bearer-only API means Bearer.
            token_type = "Bearer"
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenEndpointError(
                f"The token endpoint issued a {redact(str(token_type))[:40]!r} token; "
                "only Bearer tokens are supported."
            )
        lifetime = _parse_lifetime(body, default_lifetime_s)
        refresh = body.get("refresh_token")
        scope = body.get("scope")
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

    # -- ageing ----------------------------------------------------------------------------
    def remaining_s(self, clock: Clock) -> float:
        """Seconds until expiry by the monotonic clock; never negative."""
        return max(0.0, self.deadline - clock.monotonic())

    def age_s(self, clock: Clock) -> float:
        """Seconds since the token request was sent."""
        return max(0.0, clock.monotonic() - (self.deadline - self.lifetime_s))

    def effective_leeway_s(self, leeway_s: float) -> float:
        """``min(leeway_s, lifetime_s / 10)``: short-lived tokens are not refreshed at once."""
        return min(float(leeway_s), self.lifetime_s / 10.0)

    def state(self, clock: Clock, leeway_s: float = 300.0) -> TokenState:
        """FRESH, STALE (within the effective leeway of expiry) or EXPIRED."""
        remaining = self.deadline - clock.monotonic()
        if remaining <= 0:
            return TokenState.EXPIRED
        if remaining <= self.effective_leeway_s(leeway_s):
            return TokenState.STALE
        return TokenState.FRESH

    def past_half_life(self, clock: Clock) -> bool:
        """True once half the lifetime has passed (the soft-refresh point)."""
        return clock.monotonic() >= self.deadline - self.lifetime_s / 2.0

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
            f"Token(token_type={self.token_type!r}, access_token=Secret('***'), "
            f"refresh_token={'Secret(***)' if self.refresh_token else None}, "
            f"scope={self.scope!r}, lifetime_s={self.lifetime_s:g}, "
            f"issued_at={self.issued_at:.0f}, expires_at={self.expires_at:.0f})"
        )

    __str__ = __repr__

    def _repr_html_(self) -> str:
        import html

        return html.escape(repr(self))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def __reduce__(self) -> Any:
        raise TypeError("Tokens cannot be pickled (they hold secrets)")
