"""Credentials and settings: where they come from, how they are checked, how they are saved.

Values are looked up key by key in this order (the first one found wins):

1. explicit arguments (``client_id=``, ``client_secret=``, ``base_url=``, ``**overrides``);
2. the process environment (``CERKL_CLIENT_ID``, ``CERKL_CLIENT_SECRET``,
   ``CERKL_BASE_URL``, ``CERKL_TOKEN_URL``, ``CERKL_BASIC_AUTH_ENCODING``);
3. a ``.env`` file (see :mod:`cerkl_nb._dotenv`: found by walking up from the working
   directory, no further than the repository root or the home directory, and ignored when
   another user owns it or may write it).

The URL settings are taken only from the source that supplied the credentials, so a
``.env`` cannot point credentials from the environment at another server. Secrets are
wrapped in a :class:`~cerkl_nb.redact.Secret` the moment they are read (verbose
tracebacks show locals). Every check runs when a :class:`Settings` or :class:`Credentials`
is built, so a bad value fails at the line that introduced it, and no message repeats a
secret.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ._dotenv import read_dotenv, write_dotenv
from .errors import ConfigurationError, MissingCredentials
from .redact import Secret, register_secret
from .spec import (
    ENV_BASE_URL,
    ENV_BASIC_AUTH_ENCODING,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_TOKEN_URL,
    PRODUCTION_BASE_URL,
    PRODUCTION_HOST,
    TOKEN_PATH,
    is_loopback_host,
)
from .token import effective_leeway

__all__ = ["Settings", "Credentials", "load_config", "save_dotenv"]

_WHERE_TO_GET = (
    "Generate credentials in Cerkl Broadcast: Settings → Integrations & Plugins → "
    "Cerkl API v3, then set CERKL_CLIENT_ID and CERKL_CLIENT_SECRET (or put them in .env)."
)
_URL_KEYS = (ENV_BASE_URL, ENV_TOKEN_URL)
#: Client IDs of the sandbox's built-in demo clients start with this (see cerkl_nb.sandbox).
SANDBOX_DEMO_PREFIX = "cerkl-nb-"


def _check_url(name: str, url: str, *, allow_insecure: bool) -> str:
    """Validate one URL setting and return it without a trailing slash."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{name} is empty; expected a URL such as {PRODUCTION_BASE_URL}")
    if url != url.strip() or any(c.isspace() for c in url):
        raise ConfigurationError(
            f"{name} has stray whitespace: {url!r}. Remove spaces and newlines around the URL."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{name} must be an absolute http(s) URL such as {PRODUCTION_BASE_URL}, got {url!r}"
        )
    if parts.username or parts.password:
        raise ConfigurationError(f"{name} must not contain a user name or password.")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must not contain a query string or fragment: {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        if not allow_insecure:
            raise ConfigurationError(
                f"{name} uses plain http:// for a non-local host ({parts.hostname}); your token "
                "and secret would travel unencrypted. Use https://. (http:// is allowed only for "
                "loopback addresses such as the local sandbox; pass allow_insecure=True to "
                "override for a test server you trust.)"
            )
        warnings.warn(
            f"{name} uses plain http:// for {parts.hostname}: credentials and tokens travel "
            "unencrypted (allow_insecure=True).",
            UserWarning,
            stacklevel=4,
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Where the API lives and how the toolkit behaves. Immutable; use :meth:`replace`.

    Parameters
    ----------
    base_url
        API base, ``https://api.cerkl.com/v3`` by default.
    token_url
        Token endpoint; defaults to ``base_url + "/oauth/Token"``.
    timeout_s, connect_timeout_s
        Read and connect timeouts of every HTTP call, in seconds.
    leeway_s
        Refresh a token this long before it expires, at most a tenth of its lifetime (so
        60-second sandbox tokens refresh 6 s early).
    basic_auth_encoding
        ``"raw"`` (like ``curl -u``; Cerkl's documented example) or ``"rfc6749"`` (RFC 6749
        §2.3.1: form-encode id and secret before base64). Identical for secrets made of
        ``A-Za-z0-9-._~``.
    max_retries
        Retries after the first attempt, for 429 and (idempotent calls only) 5xx and
        connection errors.
    max_retry_wait_s
        The longest single wait we accept; a ``Retry-After`` above it raises
        :class:`~cerkl_nb.errors.RateLimited` instead of blocking the notebook.
    default_lifetime_s
        Token lifetime assumed when a token response has no ``expires_in`` (Cerkl: 12 h).
    allow_insecure
        Allow ``http://`` to non-loopback hosts (warns); loopback ``http://`` always is.
    accept_language, user_agent
        Sent as ``Accept-Language`` (Cerkl's docs send ``en_US``) and ``User-Agent``.
    """

    base_url: str = PRODUCTION_BASE_URL
    token_url: str = ""
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    leeway_s: float = 300.0
    basic_auth_encoding: Literal["raw", "rfc6749"] = "raw"
    max_retries: int = 3
    max_retry_wait_s: float = 60.0
    default_lifetime_s: float = 43200.0
    allow_insecure: bool = False
    accept_language: str = "en_US"
    user_agent: str = "cerkl-nb/0.1"

    def __post_init__(self) -> None:
        base = _check_url("base_url", self.base_url, allow_insecure=self.allow_insecure)
        # The token URL is used exactly as configured (Cerkl's path is case-sensitive).
        token_url = _check_url(
            "token_url", self.token_url or base + TOKEN_PATH, allow_insecure=self.allow_insecure
        )
        object.__setattr__(self, "base_url", base)
        object.__setattr__(self, "token_url", token_url)
        token_host = (urlsplit(token_url).hostname or "").lower()
        if token_host != PRODUCTION_HOST and not is_loopback_host(token_host):
            warnings.warn(
                f"The token URL's host {token_host} is neither {PRODUCTION_HOST} nor this "
                "machine: your client ID and secret will be sent there. Check CERKL_TOKEN_URL "
                "and CERKL_BASE_URL if you did not mean that.",
                UserWarning,
                stacklevel=3,
            )
        if self.basic_auth_encoding not in ("raw", "rfc6749"):
            raise ConfigurationError(
                f"basic_auth_encoding must be 'raw' or 'rfc6749', got {self.basic_auth_encoding!r}"
            )
        for name in ("timeout_s", "connect_timeout_s", "max_retry_wait_s", "default_lifetime_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.leeway_s, (int, float)) or self.leeway_s < 0:
            raise ConfigurationError(f"leeway_s must be >= 0, got {self.leeway_s!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigurationError(f"max_retries must be an int >= 0, got {self.max_retries!r}")

    @property
    def is_production(self) -> bool:
        """True when the base URL points at Cerkl's production host."""
        return (urlsplit(self.base_url).hostname or "").lower() == PRODUCTION_HOST

    @property
    def is_loopback(self) -> bool:
        """True when the base URL is on this machine (for example the sandbox)."""
        return is_loopback_host(urlsplit(self.base_url).hostname)

    def leeway_for(self, lifetime_s: float) -> float:
        """The effective leeway for a token of ``lifetime_s``: ``min(leeway_s, lifetime/10)``."""
        return effective_leeway(self.leeway_s, lifetime_s)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and checked; misspelled fields are refused.

        Changing ``base_url`` alone moves the token URL along when it was the default.
        """
        if "base_url" in changes and "token_url" not in changes:
            if self.token_url == self.base_url + TOKEN_PATH:
                changes["token_url"] = ""
        _reject_unknown(changes)
        return dataclasses.replace(self, **changes)

    @classmethod
    def for_sandbox(cls, handle: Any, **overrides: Any) -> Settings:
        """Settings for a running sandbox handle (its ``url`` and ``token_url``)."""
        return cls(base_url=handle.url, token_url=handle.token_url, **overrides)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | bool | None = None,
        **overrides: Any,
    ) -> Settings:
        """Settings from ``overrides``, then ``env`` (``os.environ``), then ``.env``
        (``dotenv_path``: a file; ``None`` searches; ``False`` reads none)."""
        env = _read_environment(env)  # the secret wrapped at once (verbose tracebacks)
        return load_config(None, None, None, dotenv_path, env=env, **overrides)[0]

    def __repr__(self) -> str:
        return (
            f"Settings(base_url={self.base_url!r}, token_url={self.token_url!r}, "
            f"basic_auth_encoding={self.basic_auth_encoding!r}, leeway_s={self.leeway_s:g}, "
            f"timeout_s={self.timeout_s:g})"
        )


_SETTINGS_FIELDS = {f.name for f in dataclasses.fields(Settings)}


def _reject_unknown(kwargs: Mapping[str, Any]) -> None:
    unknown = sorted(set(kwargs) - _SETTINGS_FIELDS)
    if unknown:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(_SETTINGS_FIELDS), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        known = ", ".join(sorted(_SETTINGS_FIELDS))
        raise ConfigurationError(f"unknown setting {', '.join(hints)}; known: {known}")


def _bad_character(text: str) -> str | None:
    """What is wrong with a credential's characters, or None. In a frame of its own: the
    plain text must not be a local of the frame that raises (verbose tracebacks)."""
    import unicodedata

    if text != text.strip():
        return "has stray whitespace at the start or end (a copied newline or space?)."
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text):
        return "contains a control character or line break (tab, newline, U+2028 ...)."
    return None


def _check_credential(name: str, value: str | Secret) -> None:
    """Reject values that cannot be what the user meant, without echoing them."""
    problem = _bad_character(value.get_secret_value() if isinstance(value, Secret) else value)
    if problem:
        raise ConfigurationError(f"{name} {problem} Paste it again, without it.")


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True, init=False)
class Credentials:
    """An OAuth 2.0 client ID and secret; the secret is a :class:`~cerkl_nb.redact.Secret`.

    Building them registers the secret for redaction (where it enters the process).

    Parameters
    ----------
    client_id
        The client ID from Cerkl (not secret, but not shown in full by the widgets either).
    client_secret
        The client secret; a plain ``str`` is wrapped in a :class:`Secret`.

    Raises
    ------
    MissingCredentials
        When either value is empty.
    ConfigurationError
        When either value has leading/trailing whitespace or control characters.
    """

    client_id: str
    client_secret: Secret

    def __init__(self, client_id: str, client_secret: str | Secret) -> None:
        # Wrapped before anything else, so this frame shows Secret('***') in a verbose
        # traceback (a generated dataclass __init__ would hold the plain value).
        if isinstance(client_secret, str):
            client_secret = Secret(client_secret)
        if isinstance(client_secret, Secret):
            register_secret(client_secret)
        object.__setattr__(self, "client_id", client_id)
        object.__setattr__(self, "client_secret", client_secret)
        if not client_secret:
            missing = "client ID and secret" if not client_id else "client secret"
            raise MissingCredentials(f"No {missing} given. {_WHERE_TO_GET}")
        if not isinstance(client_id, str) or not client_id:
            raise MissingCredentials(f"No client ID given. {_WHERE_TO_GET}")
        if not isinstance(client_secret, Secret):
            raise ConfigurationError(
                f"client_secret must be a str or Secret, not {type(client_secret).__name__}"
            )
        _check_credential("client ID", client_id)
        _check_credential("client secret", client_secret)

    @classmethod
    def for_sandbox(cls, handle: Any) -> Credentials:
        """The demo client of a running sandbox (a fake, sandbox-only pair)."""
        return cls(handle.client_id, Secret(handle.client_secret))

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | bool | None = None,
    ) -> Credentials:
        """``CERKL_CLIENT_ID`` / ``CERKL_CLIENT_SECRET`` from the environment or ``.env``.

        Raises :class:`MissingCredentials` when either is missing.
        """
        env = _read_environment(env)  # the secret wrapped at once (verbose tracebacks)
        creds = load_config(None, None, None, dotenv_path, env=env)[1]
        if creds is None:
            raise MissingCredentials(
                f"{ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} are not set. {_WHERE_TO_GET}"
            )
        return creds

    @property
    def secret_is_unreserved(self) -> bool:
        """True when id and secret have only ``A-Za-z0-9-._~`` (both Basic encodings agree)."""
        return _UNRESERVED.issuperset(self.client_id + self.client_secret.get_secret_value())

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret=Secret('***'))"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling would write the secret to disk
        raise TypeError("Credentials cannot be pickled (they hold a secret)")


def _read_environment(env: Mapping[str, Any] | None) -> dict[str, str | Secret]:
    """The CERKL_ values of ``env`` (``os.environ``), the secret wrapped at once."""
    source = os.environ if env is None else env
    return {
        k: (Secret(v) if k == ENV_CLIENT_SECRET and isinstance(v, str) else v)
        for k, v in source.items()
        if k.startswith("CERKL_") and v != ""
    }


def _pick_sources(
    env_values: dict[str, Any], file_values: dict[str, Any], explicit: bool, urls_given: bool
) -> dict[str, Any]:
    """Environment over .env, key by key, except that URLs come with the credentials.

    When the credentials come from one place (arguments, the environment or .env), URL
    settings from any other place are dropped with a warning: otherwise a .env in a shared
    folder could send the environment's credentials to its own token URL.
    """
    creds_keys = (ENV_CLIENT_ID, ENV_CLIENT_SECRET)
    merged = {**file_values, **env_values}
    if explicit:
        owner, where = None, "your arguments"
    elif any(k in env_values for k in creds_keys):
        owner, where = env_values, "the environment"
    elif any(k in file_values for k in creds_keys):
        owner, where = file_values, "the .env file"
    else:
        return merged
    for key in _URL_KEYS:
        merged.pop(key, None)
        if owner is not None and key in owner:
            merged[key] = owner[key]
        elif not urls_given and (key in env_values or key in file_values):
            warnings.warn(
                f"Ignoring {key}: the credentials come from {where}, and URL settings are "
                "taken only from the same place as the credentials.",
                UserWarning,
                stacklevel=4,
            )
    return merged


def load_config(
    client_id: str | None = None,
    client_secret: str | Secret | None = None,
    base_url: str | None = None,
    dotenv_path: str | os.PathLike[str] | bool | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> tuple[Settings, Credentials | None]:
    """Resolve settings and credentials: arguments, then the environment, then ``.env``.

    Parameters
    ----------
    client_id, client_secret, base_url
        Explicit values, which win over everything else. With explicit credentials, URL
        settings come only from ``base_url`` and ``overrides``.
    dotenv_path
        A ``.env`` file; ``None`` searches from the working directory up; ``False`` none.
    env
        The environment (``os.environ`` by default).
    **overrides
        Any other :class:`Settings` field.

    Returns
    -------
    tuple[Settings, Credentials | None]
        ``None`` for credentials when neither an ID nor a secret was found anywhere.

    Raises
    ------
    MissingCredentials
        When only one of ID and secret was found.
    ConfigurationError
        For malformed values, and for a ``.env`` that is not UTF-8.
    """
    # Wrapped at once: a verbose traceback of any error below shows Secret('***'), also for
    # an `env` mapping passed in (rebound to its CERKL_ values, the secret wrapped).
    client_secret = Secret(client_secret) if isinstance(client_secret, str) else client_secret
    env = _read_environment(env)
    if base_url is not None:
        overrides["base_url"] = base_url
    overrides = {k: v for k, v in overrides.items() if v is not None}
    _reject_unknown(overrides)
    explicit = client_id is not None or client_secret is not None
    urls_given = "base_url" in overrides or "token_url" in overrides
    values = _pick_sources(
        env, read_dotenv(dotenv_path, (ENV_CLIENT_SECRET,)), explicit, urls_given
    )
    kwargs: dict[str, Any] = {}
    for key, name in ((ENV_BASE_URL, "base_url"), (ENV_TOKEN_URL, "token_url")):
        if key in values:
            kwargs[name] = values[key]
    if ENV_BASIC_AUTH_ENCODING in values:
        kwargs["basic_auth_encoding"] = values[ENV_BASIC_AUTH_ENCODING]
    if "base_url" in overrides and "token_url" not in overrides:
        kwargs.pop("token_url", None)  # an explicit base URL moves the token URL with it
    settings = Settings(**{**kwargs, **overrides})
    cid = client_id if client_id is not None else values.get(ENV_CLIENT_ID)
    secret = client_secret if client_secret is not None else values.get(ENV_CLIENT_SECRET)
    if not cid and not secret:
        return settings, None
    either = (
        f"To use the local sandbox instead, leave BOTH {ENV_CLIENT_ID} and "
        f"{ENV_CLIENT_SECRET} empty (in the environment and in .env). {_WHERE_TO_GET}"
    )
    if not cid:
        raise MissingCredentials(
            f"A client secret was found but no client ID ({ENV_CLIENT_ID} is missing). {either}"
        )
    if not secret:
        raise MissingCredentials(
            f"A client ID was found but no client secret ({ENV_CLIENT_SECRET} is missing). "
            + either
        )
    return settings, Credentials(cid, secret)


def _urls_to_save(settings: Settings, loopback_urls: bool) -> dict[str, str]:
    ours: dict[str, str] = {}
    if settings.base_url != PRODUCTION_BASE_URL:
        ours[ENV_BASE_URL] = settings.base_url
    if settings.token_url != settings.base_url + TOKEN_PATH:
        ours[ENV_TOKEN_URL] = settings.token_url
    skipped = [k for k in ours if is_loopback_host(urlsplit(ours[k]).hostname)]
    if skipped and not loopback_urls:
        for key in skipped:
            del ours[key]
        warnings.warn(
            f"Not saving {' and '.join(skipped)}: {settings.base_url} is a local address "
            "(a sandbox's port changes every run, so the saved URL would point at nothing "
            "next time). Pass loopback_urls=True to save it anyway, for a sandbox you "
            "always start with `cerkl-nb sandbox --port N`.",
            UserWarning,
            stacklevel=3,
        )
    if settings.basic_auth_encoding != "raw":
        ours[ENV_BASIC_AUTH_ENCODING] = settings.basic_auth_encoding
    return ours


def save_dotenv(
    credentials: Credentials,
    settings: Settings | None = None,
    path: str | os.PathLike[str] = ".env",
    *,
    loopback_urls: bool = False,
) -> Path:
    """Write credentials (and non-default URLs) to a ``.env`` file with mode 0600.

    Other lines of the file are kept; our keys are replaced and read back to check (see
    :func:`cerkl_nb._dotenv.write_dotenv`). The sandbox needs no ``.env``
    (:func:`cerkl_nb.connect` uses it whenever no credentials are configured), so its demo
    credentials are refused, and loopback URLs are left out (with a warning) unless
    ``loopback_urls=True``: a sandbox gets a new port every run.

    Parameters
    ----------
    credentials
        What to save.
    settings
        When given, ``CERKL_BASE_URL`` and ``CERKL_TOKEN_URL`` are saved too unless they
        are the production defaults.
    path
        The file to write; ``.env`` in the working directory by default.
    loopback_urls
        Also save loopback URLs, e.g. for a sandbox always started with ``--port N``.

    Returns
    -------
    pathlib.Path
        The absolute path written.

    Raises
    ------
    ConfigurationError
        For the sandbox's demo credentials, a ``path`` that is a symbolic link, and a value
        that would not read back identically. A warning says when git does not ignore the
        file or already tracks it.
    """
    if credentials.client_id.startswith(SANDBOX_DEMO_PREFIX):
        raise ConfigurationError(
            f"Not saving the sandbox's demo credentials ({credentials.client_id}): the sandbox "
            "needs no .env. With no credentials configured, cerkl_nb.connect() starts (or "
            "finds) the sandbox and uses its demo client by itself, on whatever port it gets. "
            "Save a .env only for real Cerkl credentials."
        )
    ours: dict[str, str | Secret] = {
        ENV_CLIENT_ID: credentials.client_id,
        ENV_CLIENT_SECRET: credentials.client_secret,
    }
    ours.update(_urls_to_save(settings, loopback_urls) if settings is not None else {})
    return write_dotenv(Path(path), ours, drop=_URL_KEYS)
