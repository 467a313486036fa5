"""Access tokens: parsed from a token response, aged against an injectable clock.

The expiry is counted from the moment the token request was *sent*, not from when the
answer arrived: if the server took 2 s to answer, the token has 2 s less to live than
``expires_in`` says, and counting from the send time can only err on the safe side.

A token is aged by two clocks, and the one that says "older" wins:

* the monotonic clock (``deadline``), which a wall-clock step backwards (NTP, a user
  changing the time) cannot rewind, so a backward step never extends a token's life;
* the wall clock (``expires_at``), because the monotonic clock of many systems stops while
  the machine is suspended: after a laptop sleeps through the expiry, monotonic time says
  the token is fresh, but the wall clock has moved on and so has the server.

So a token is EXPIRED (or STALE) as soon as *either* clock says so. The cost: a forward
wall-clock step larger than the leeway makes the manager refresh once, early; the new token
is dated by the new wall clock, so there is no refresh storm. (The system clock also uses
``CLOCK_BOOTTIME`` where Linux offers it, which keeps counting through a suspend.)
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
from .redact import Secret, get_logger, redact

__all__ = ["TokenState", "Token"]

log = get_logger("cerkl_nb.token")


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


def effective_leeway(leeway_s: float, lifetime_s: float) -> float:
    """``min(leeway_s, lifetime_s / 10)``: short-lived tokens are not refreshed at once."""
    return min(float(leeway_s), max(0.0, float(lifetime_s)) / 10.0)


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
        ``issued_at + lifetime_s`` (wall clock): shown to people, and the second expiry
        check, which catches a suspend the monotonic clock slept through.
    lifetime_s
        ``expires_in`` from the response (or the configured default).
    refresh_token
        A refresh token, when the server issued one.
    scope
        The granted scope, if the server said.
    deadline
        The monotonic time at which the token expires. Checks use it *and* ``expires_at``
        (whichever is earlier; see the module docstring).
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
            refresh_token=(Secret(refresh) if isinstance(refresh, str) and refresh else None),
            scope=str(scope) if scope not in (None, "") else None,
            deadline=float(sent_monotonic) + lifetime,
        )

    # -- ageing ----------------------------------------------------------------------------
    def _remaining(self, clock: Clock) -> float:
        """Seconds left by whichever clock says less (may be negative).

        Monotonic: ``deadline - monotonic()``. Wall: ``expires_at - time()``; a wall clock
        that went backwards only makes this larger, so ``min`` ignores it and it can never
        extend a token's life.
        """
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
        """FRESH, STALE (within the effective leeway of expiry) or EXPIRED.

        EXPIRED/STALE as soon as either the monotonic or the wall clock says so (see the
        module docstring: suspend stops the monotonic clock on many systems).
        """
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
            f"refresh_token={self.refresh_token!r}, "
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
