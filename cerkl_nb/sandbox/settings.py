"""The sandbox's settings and the OAuth clients it knows (docs/sandbox.md §2 and §3).

Plain data, so it travels over the admin API as JSON (``POST /_sandbox/config``,
``POST /_sandbox/clients``) as well as to :func:`cerkl_nb.sandbox.start`; only ``clock``
(an object) and ``record_issued_tokens`` are in-process only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BASIC_AUTH_ENCODINGS",
    "MAX_CLIENTS",
    "MAX_LIFETIME_S",
    "ClientSpec",
    "DEMO_CLIENTS",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "SandboxConfig",
    "key_proof",
]

#: How the token endpoint decodes an HTTP Basic header: ``raw`` (what ``curl -u`` sends),
#: ``rfc6749`` (then form-url-decoded, RFC 6749 §2.3.1), or ``either`` (raw first).
BASIC_AUTH_ENCODINGS = ("raw", "rfc6749", "either")

#: Bounds that keep a sandbox, often running inside the user's kernel, small whatever it
#: is asked (a lifetime is finite, so ``expires_in`` stays a JSON integer).
MAX_LIFETIME_S = 10 * 365 * 86400
MAX_SUBSCRIBERS = 20_000
MAX_BODY_BYTES = 1 << 20
MAX_SOCKET_TIMEOUT_S = 600.0
MAX_CONNECTIONS = 1000
MAX_CLIENTS = 1000
MAX_RECORDS = 200_000


def _check_lifetime(name: str, v: Any) -> None:
    """``ValueError`` unless ``v`` is a usable lifetime in seconds."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number of seconds, got {v!r}")
    if not 1 <= v <= MAX_LIFETIME_S:
        raise ValueError(f"{name} must be between 1 and {MAX_LIFETIME_S} seconds, got {v!r}")


def key_proof(key: str, challenge: str) -> str:
    """What a sandbox answers to ``challenge`` to prove it holds ``key``, without showing it.

    :func:`~cerkl_nb.sandbox.attach` checks it before it sends the key anywhere: a server
    that does not know the key cannot answer, and learns nothing it could replay.
    """
    msg = b"cerkl-nb sandbox key proof:" + challenge.encode("utf-8")
    return hmac.new(key.encode("utf-8"), msg, hashlib.sha256).hexdigest()


#: The default demo client. Fake, public, sandbox-only: it works nowhere else.
DEMO_CLIENT_ID = "cerkl-nb-demo"
DEMO_CLIENT_SECRET = "sandbox-demo-secret-1234"


@dataclass(frozen=True)
class ClientSpec:
    """One OAuth client the sandbox accepts: its credentials, a label for
    ``GET /_sandbox/clients``, and overrides of the token lifetime and of whether it gets
    refresh tokens (``None``: the :class:`SandboxConfig` setting)."""

    client_id: str
    client_secret: str
    name: str = ""
    token_lifetime_s: float | None = None
    issue_refresh_token: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ValueError("client_id must be a non-empty string")
        if ":" in self.client_id:
            # RFC 7617: a Basic user-id cannot contain a colon, so such a client could
            # never authenticate with Basic.
            raise ValueError("client_id must not contain ':'")
        if not isinstance(self.client_secret, str) or not self.client_secret:
            raise ValueError("client_secret must be a non-empty string")
        if not isinstance(self.name, str):
            raise ValueError("name must be a string")
        # Bounded, so a thousand registered clients stay a few hundred KiB.
        for field_name, limit in (("client_id", 256), ("client_secret", 1024), ("name", 200)):
            if len(getattr(self, field_name)) > limit:
                raise ValueError(f"{field_name} must be at most {limit} characters")
        if self.token_lifetime_s is not None:
            _check_lifetime("token_lifetime_s", self.token_lifetime_s)
        if self.issue_refresh_token is not None and not isinstance(self.issue_refresh_token, bool):
            raise ValueError("issue_refresh_token must be true or false")

    def public(self) -> dict[str, Any]:
        """Return the client's settings without its secret."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "client_secret"}


#: Well-known fake clients every sandbox accepts (unless ``demo_clients=False``).
DEMO_CLIENTS: tuple[ClientSpec, ...] = (
    ClientSpec(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "Default demo client (12-hour tokens)"),
    ClientSpec(
        "cerkl-nb-short",
        "sandbox-short-secret-1234",
        "Demo client with 60-second tokens",
        token_lifetime_s=60,
    ),
    ClientSpec(
        "cerkl-nb-norefresh",
        "sandbox-norefresh-secret-1234",
        "Demo client that never gets a refresh token",
        issue_refresh_token=False,
    ),
    # A secret that differs between raw and RFC 6749 Basic encodings, to teach the trap.
    ClientSpec(
        "cerkl-nb-unicode",
        "sandbox+secret/with=odd:chars %£€",
        "Demo client whose secret needs encoding care",
    ),
)


@dataclass
class SandboxConfig:
    """Server-wide settings, all changeable while running (``Sandbox.configure()``).

    Each is described in docs/sandbox.md §3; invalid values raise ``ValueError``. The
    ``max_*`` settings bound memory and threads, ``clock`` is any object with ``time()``
    (e.g. :class:`cerkl_nb.clock.FakeClock`), and ``record_issued_tokens`` is a testing
    aid for :meth:`cerkl_nb.sandbox.Sandbox.issued_tokens`.
    """

    token_lifetime_s: float = 43200
    refresh_token_lifetime_s: float = 14 * 86400
    rotate_refresh_tokens: bool = True
    reuse_revokes_family: bool = False
    revoke_access_on_refresh: bool = False
    issue_refresh_tokens: bool = True
    basic_auth_encoding: str = "either"
    lowercase_token_alias: bool = True
    subscribers: int = 300
    seed: int = 42
    max_body_bytes: int = 65536
    reply_to_domain: str = "example.com"
    socket_timeout_s: float = 30.0
    max_connections: int = 100
    max_records: int = 50_000
    max_tokens_per_client: int = 10000
    demo_clients: bool = True
    clients: tuple[ClientSpec, ...] = ()
    clock: Any = field(default=None, repr=False, compare=False)
    record_issued_tokens: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid setting."""
        for name in ("token_lifetime_s", "refresh_token_lifetime_s"):
            _check_lifetime(name, getattr(self, name))
        v = self.socket_timeout_s
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if not number or not 0 < v <= MAX_SOCKET_TIMEOUT_S:
            raise ValueError(
                f"socket_timeout_s must be a number of seconds above 0 and at most "
                f"{MAX_SOCKET_TIMEOUT_S:g}, got {v!r}"
            )
        bounds = {
            "subscribers": (0, MAX_SUBSCRIBERS),
            "seed": (0, 2**63),
            "max_body_bytes": (1024, MAX_BODY_BYTES),
            "max_tokens_per_client": (1, 10**6),
            "max_connections": (1, MAX_CONNECTIONS),
            "max_records": (1, MAX_RECORDS),
        }
        for name, (lo, hi) in bounds.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {v!r}")
        for f in dataclasses.fields(self):
            if f.type == "bool" and not isinstance(getattr(self, f.name), bool):
                raise ValueError(f"{f.name} must be true or false")
        if self.basic_auth_encoding not in BASIC_AUTH_ENCODINGS:
            raise ValueError(
                f"basic_auth_encoding must be one of {', '.join(BASIC_AUTH_ENCODINGS)}"
            )
        if not isinstance(self.reply_to_domain, str) or not self.reply_to_domain:
            raise ValueError("reply_to_domain must be a non-empty string")
        if len(self.clients) > MAX_CLIENTS:
            raise ValueError(f"at most {MAX_CLIENTS} clients")
        self.clients = tuple(
            c if isinstance(c, ClientSpec) else ClientSpec(**c) for c in self.clients
        )
        if self.clock is not None and not callable(getattr(self.clock, "time", None)):
            raise ValueError("clock must have a time() method")

    def public(self) -> dict[str, Any]:
        """Return the JSON-able settings (no clock, no client secrets)."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("clock", "clients")
        }
        out["clients"] = [c.public() for c in self.clients]
        return out

    def replace(self, **changes: Any) -> SandboxConfig:
        """Return a validated copy with ``changes`` applied; unknown names raise."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)
