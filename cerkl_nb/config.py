"""Credentials and settings: where they come from, how they are checked, how they are saved.

Values are looked up key by key in this order (the first one found wins):

1. explicit arguments (``client_id=``, ``client_secret=``, ``base_url=``, ``**overrides``);
2. the process environment (``CERKL_CLIENT_ID``, ``CERKL_CLIENT_SECRET``,
   ``CERKL_BASE_URL``, ``CERKL_TOKEN_URL``, ``CERKL_BASIC_AUTH_ENCODING``);
3. a ``.env`` file, found by walking up from the working directory.

Checks happen when a :class:`Settings` or :class:`Credentials` object is built, so a bad
value fails at the line that introduced it and not inside a token request later. No error
message ever repeats a secret.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .api import PRODUCTION_BASE_URL, TOKEN_PATH
from .errors import ConfigurationError, MissingCredentials
from .redact import Secret
from .token import effective_leeway

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_BASE_URL",
    "ENV_TOKEN_URL",
    "ENV_BASIC_AUTH_ENCODING",
    "Settings",
    "Credentials",
    "load_config",
    "save_dotenv",
    "find_dotenv",
    "is_git_ignored",
    "is_loopback_host",
]

DEFAULT_BASE_URL = PRODUCTION_BASE_URL

ENV_CLIENT_ID = "CERKL_CLIENT_ID"
ENV_CLIENT_SECRET = "CERKL_CLIENT_SECRET"
ENV_BASE_URL = "CERKL_BASE_URL"
ENV_TOKEN_URL = "CERKL_TOKEN_URL"
ENV_BASIC_AUTH_ENCODING = "CERKL_BASIC_AUTH_ENCODING"

_WHERE_TO_GET = (
    "Generate credentials in Cerkl Broadcast: Settings → Integrations & Plugins → "
    "Cerkl API v3, then set CERKL_CLIENT_ID and CERKL_CLIENT_SECRET (or put them in .env)."
)
_PRODUCTION_HOST = "api.cerkl.com"


def is_loopback_host(host: str | None) -> bool:
    """Return True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    if not host:
        return False
    import ipaddress

    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(name: str, url: str, *, allow_insecure: bool) -> str:
    """Validate one URL setting and return it without a trailing slash."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{name} is empty; expected a URL such as {DEFAULT_BASE_URL}")
    if url != url.strip() or any(c.isspace() for c in url):
        raise ConfigurationError(
            f"{name} has stray whitespace: {url!r}. Remove spaces and newlines around the URL."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{name} must be an absolute http(s) URL such as {DEFAULT_BASE_URL}, got {url!r}"
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
    timeout_s
        Read timeout of every HTTP call, in seconds.
    connect_timeout_s
        Connect timeout of every HTTP call, in seconds.
    leeway_s
        Refresh a token this long before it expires. The effective leeway is capped at a
        tenth of the token's lifetime, so 60-second sandbox tokens refresh 6 s early.
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
        Allow ``http://`` to non-loopback hosts (warns). Loopback ``http://`` is always
        allowed.
    soft_refresh_min_lifetime_s
        Off (``None``) by default. When set (e.g. ``7200``), tokens living at least this
        long are also refreshed "softly" at half their life: if that refresh fails, the
        old, still valid token is kept, a warning is logged and the refresh is retried
        later (MSAL's habit). Off by default so the token panel shows one predictable
        refresh point: the leeway.
    accept_language
        Sent as ``Accept-Language`` (Cerkl's docs send ``en_US``).
    user_agent
        Sent as ``User-Agent``.
    """

    base_url: str = DEFAULT_BASE_URL
    token_url: str = ""
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    leeway_s: float = 300.0
    basic_auth_encoding: Literal["raw", "rfc6749"] = "raw"
    max_retries: int = 3
    max_retry_wait_s: float = 60.0
    default_lifetime_s: float = 43200.0
    allow_insecure: bool = False
    soft_refresh_min_lifetime_s: float | None = None
    accept_language: str = "en_US"
    user_agent: str = field(default="cerkl-nb/0.1")

    def __post_init__(self) -> None:
        base = _check_url("base_url", self.base_url, allow_insecure=self.allow_insecure)
        object.__setattr__(self, "base_url", base)
        token_url = self.token_url or base + TOKEN_PATH
        # The token URL is used exactly as configured (Cerkl's path is case-sensitive).
        token_url = _check_url("token_url", token_url, allow_insecure=self.allow_insecure)
        object.__setattr__(self, "token_url", token_url)
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

    # -- derived -----------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        """True when the base URL points at Cerkl's production host."""
        return (urlsplit(self.base_url).hostname or "").lower() == _PRODUCTION_HOST

    @property
    def is_loopback(self) -> bool:
        """True when the base URL is on this machine (for example the sandbox)."""
        return is_loopback_host(urlsplit(self.base_url).hostname)

    def leeway_for(self, lifetime_s: float) -> float:
        """The effective leeway for a token of ``lifetime_s``: ``min(leeway_s, lifetime/10)``."""
        return effective_leeway(self.leeway_s, lifetime_s)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied (and re-validated).

        Changing ``base_url`` without ``token_url`` moves the token URL along with it when
        it was the default.
        """
        if "base_url" in changes and "token_url" not in changes:
            if self.token_url == self.base_url + TOKEN_PATH:
                changes["token_url"] = ""
        _reject_unknown(changes)
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | bool | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from ``overrides``, then the environment, then ``.env``.

        Parameters
        ----------
        env
            The environment to read; ``os.environ`` by default.
        dotenv_path
            A ``.env`` file to read; ``None`` searches from the working directory upward,
            ``False`` reads no file.
        **overrides
            Any :class:`Settings` field.
        """
        values = _merged_sources(env, dotenv_path)
        return _settings_from(values, overrides)

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
        raise ConfigurationError(
            "unknown setting "
            + ", ".join(hints)
            + f"; known: {', '.join(sorted(_SETTINGS_FIELDS))}"
        )


def _check_credential(name: str, value: str) -> None:
    """Reject values that cannot be what the user meant, without echoing them."""
    if value != value.strip():
        raise ConfigurationError(
            f"{name} has stray whitespace at the start or end (a copied newline or space?). "
            "Paste it again without surrounding spaces."
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigurationError(
            f"{name} contains a control character (tab or newline). Paste it again."
        )


@dataclass(frozen=True)
class Credentials:
    """An OAuth 2.0 client ID and secret. The secret is a :class:`~cerkl_nb.redact.Secret`.

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

    def __post_init__(self) -> None:
        secret = self.client_secret
        if secret is None or (isinstance(secret, (str, Secret)) and not secret):
            missing = "client ID and secret" if not self.client_id else "client secret"
            raise MissingCredentials(f"No {missing} given. {_WHERE_TO_GET}")
        if not isinstance(self.client_id, str) or not self.client_id:
            raise MissingCredentials(f"No client ID given. {_WHERE_TO_GET}")
        if not isinstance(secret, Secret):
            if not isinstance(secret, str):
                raise ConfigurationError(
                    f"client_secret must be a str or Secret, not {type(secret).__name__}"
                )
            secret = Secret(secret)
            object.__setattr__(self, "client_secret", secret)
        _check_credential("client ID", self.client_id)
        _check_credential("client secret", secret.get_secret_value())

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | bool | None = None,
    ) -> Credentials:
        """Read ``CERKL_CLIENT_ID`` / ``CERKL_CLIENT_SECRET`` from the environment or ``.env``.

        Raises
        ------
        MissingCredentials
            When either is missing.
        """
        values = _merged_sources(env, dotenv_path)
        creds = _credentials_from(values.get(ENV_CLIENT_ID), values.get(ENV_CLIENT_SECRET))
        if creds is None:
            raise MissingCredentials(
                f"{ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} are not set. {_WHERE_TO_GET}"
            )
        return creds

    @property
    def secret_is_unreserved(self) -> bool:
        """True when the secret has only ``A-Za-z0-9-._~`` (both Basic encodings agree)."""
        return _is_unreserved(self.client_secret.get_secret_value()) and _is_unreserved(
            self.client_id
        )

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret=Secret('***'))"

    __str__ = __repr__

    def _repr_html_(self) -> str:
        import html

        return html.escape(repr(self))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def __reduce__(self) -> Any:  # pickling would write the secret to disk
        raise TypeError("Credentials cannot be pickled (they hold a secret)")


_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _is_unreserved(text: str) -> bool:
    return all(c in _UNRESERVED for c in text)


def _credentials_from(
    client_id: str | None, client_secret: str | Secret | None
) -> Credentials | None:
    """Build credentials from two optional values; None when both are absent."""
    if not client_id and not client_secret:
        return None
    both_empty = (
        f"To use the local sandbox instead, leave BOTH {ENV_CLIENT_ID} and "
        f"{ENV_CLIENT_SECRET} empty (in the environment and in .env)."
    )
    if not client_id:
        raise MissingCredentials(
            f"A client secret was found but no client ID ({ENV_CLIENT_ID} is missing). "
            f"{both_empty} {_WHERE_TO_GET}"
        )
    if not client_secret:
        raise MissingCredentials(
            f"A client ID was found but no client secret ({ENV_CLIENT_SECRET} is missing). "
            f"{both_empty} {_WHERE_TO_GET}"
        )
    return Credentials(client_id, client_secret)  # type: ignore[arg-type]


# -- .env ----------------------------------------------------------------------------------


def find_dotenv(start: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the nearest ``.env`` in ``start`` (default: the working directory) or above."""
    from pathlib import Path

    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def _read_dotenv(path: str | os.PathLike[str] | bool | None) -> dict[str, str]:
    from pathlib import Path

    if path is False:
        return {}
    found = find_dotenv() if path is None or path is True else Path(path)
    if found is None or not Path(found).is_file():
        if path not in (None, True):
            raise ConfigurationError(f"dotenv_path {str(path)!r} does not exist")
        return {}
    # python-dotenv is imported here, not at module level, to keep `import cerkl_nb` fast.
    from dotenv import dotenv_values

    # interpolate=False: a secret such as "x${HOME}y" or "p$ss" is read exactly as written
    # (python-dotenv would otherwise expand ${HOME} and friends inside values).
    return {k: v for k, v in dotenv_values(found, interpolate=False).items() if v is not None}


def _merged_sources(
    env: Mapping[str, str] | None, dotenv_path: str | os.PathLike[str] | bool | None
) -> dict[str, str]:
    """Environment over .env, key by key; empty values count as absent."""
    values = {k: v for k, v in _read_dotenv(dotenv_path).items() if v != ""}
    source = os.environ if env is None else env
    for key, value in source.items():
        if key.startswith("CERKL_") and value != "":
            values[key] = value
    return values


def _settings_from(values: Mapping[str, str], overrides: Mapping[str, Any]) -> Settings:
    overrides = {k: v for k, v in overrides.items() if v is not None}
    _reject_unknown(overrides)
    kwargs: dict[str, Any] = {}
    if ENV_BASE_URL in values:
        kwargs["base_url"] = values[ENV_BASE_URL]
    if ENV_TOKEN_URL in values:
        kwargs["token_url"] = values[ENV_TOKEN_URL]
    if ENV_BASIC_AUTH_ENCODING in values:
        kwargs["basic_auth_encoding"] = values[ENV_BASIC_AUTH_ENCODING]
    if "base_url" in overrides and "token_url" not in overrides:
        # An explicit base URL moves the token URL with it unless one is given explicitly.
        kwargs.pop("token_url", None)
    kwargs.update(overrides)
    return Settings(**kwargs)


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
    client_id, client_secret
        Explicit credentials (win over everything else).
    base_url
        Explicit API base URL.
    dotenv_path
        A ``.env`` file; ``None`` searches from the working directory up; ``False`` none.
    env
        The environment mapping (``os.environ`` by default); for tests.
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
        For malformed values.
    """
    values = _merged_sources(env, dotenv_path)
    if base_url is not None:
        overrides["base_url"] = base_url
    settings = _settings_from(values, overrides)
    cid = client_id if client_id is not None else values.get(ENV_CLIENT_ID)
    secret = client_secret if client_secret is not None else values.get(ENV_CLIENT_SECRET)
    return settings, _credentials_from(cid, secret)


def _gitignore_patterns(path: Path) -> list[tuple[Path, str]]:
    return [
        (path.parent, line.rstrip("\n"))
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def is_git_ignored(path: str | os.PathLike[str]) -> bool | None:
    """Tell whether git would ignore ``path``, without running git.

    Reads ``.gitignore`` files from the repository root down to the file's folder and
    ``.git/info/exclude``; handles negation, anchoring and directory patterns, which covers
    the ways people ignore ``.env``.

    Returns
    -------
    bool | None
        ``None`` when ``path`` is not inside a git work tree.
    """
    import fnmatch
    from pathlib import Path

    target = Path(path).resolve()
    root = next((p for p in target.parents if (p / ".git").exists()), None)
    if root is None:
        return None
    rules: list[tuple[Path, str]] = []
    exclude = root / ".git" / "info" / "exclude"
    if exclude.is_file():
        rules += [(root, pat) for _, pat in _gitignore_patterns(exclude)]
    folders = [root, *[p for p in reversed(target.parents) if root in p.parents]]
    for folder in folders:
        gi = folder / ".gitignore"
        if gi.is_file():
            rules += _gitignore_patterns(gi)
    ignored = False
    for base, raw in rules:
        pat = raw.strip()
        negate = pat.startswith("!")
        if negate:
            pat = pat[1:]
        dir_only = pat.endswith("/")
        pat = pat.rstrip("/")
        if not pat:
            continue
        try:
            rel = target.relative_to(base).as_posix()
        except ValueError:
            continue
        if pat.startswith("**/"):  # "**/x" matches x at any depth, like a bare "x"
            pat = pat[3:]
        anchored = "/" in pat
        pat = pat.lstrip("/")
        matched = False
        if anchored:
            matched = fnmatch.fnmatchcase(rel, pat) or any(
                fnmatch.fnmatchcase("/".join(rel.split("/")[: i + 1]), pat)
                for i in range(len(rel.split("/")) - 1)
            )
        else:
            names = rel.split("/")
            # A pattern without a slash matches any path component (directories only
            # for the ancestors, the file itself unless dir_only).
            candidates = names[:-1] if dir_only else names
            matched = any(fnmatch.fnmatchcase(n, pat) for n in candidates)
        if matched:
            ignored = not negate
    return ignored


def _is_sandbox_demo_client(credentials: Credentials) -> bool:
    import hmac

    # Imported only here: the sandbox package is not needed to save real credentials.
    from .sandbox.config import DEMO_CLIENTS

    secret = credentials.client_secret.get_secret_value().encode()
    return any(
        spec.client_id == credentials.client_id
        and hmac.compare_digest(spec.client_secret.encode(), secret)
        for spec in DEMO_CLIENTS
    )


def save_dotenv(
    credentials: Credentials,
    settings: Settings | None = None,
    path: str | os.PathLike[str] = ".env",
    *,
    loopback_urls: bool = False,
) -> Path:
    """Write credentials (and non-default URLs) to a ``.env`` file with mode 0600.

    Other lines already in the file are kept; our keys are replaced. The file is written
    to a temporary file created with mode 0600 and then renamed, so the secret is never
    readable by others, not even for a moment.

    The sandbox needs no ``.env``: :func:`cerkl_nb.connect` uses it whenever no
    credentials are configured. So the sandbox's well-known demo credentials are refused,
    and a loopback (``localhost`` / ``127.0.0.1``) base or token URL is not written unless
    ``loopback_urls=True``: a sandbox gets a new port every run, so a saved one points at
    nothing next time.

    Parameters
    ----------
    credentials
        What to save.
    settings
        When given and not the production defaults, ``CERKL_BASE_URL`` and
        ``CERKL_TOKEN_URL`` are saved too (loopback URLs only with ``loopback_urls``).
    path
        The file to write; ``.env`` in the working directory by default.
    loopback_urls
        Also save loopback URLs, e.g. for a sandbox you always start with
        ``cerkl-nb sandbox --port N``.

    Returns
    -------
    pathlib.Path
        The absolute path written.

    Raises
    ------
    ConfigurationError
        For the sandbox's demo credentials.

    Warns
    -----
    UserWarning
        When the file sits in a git work tree and is not git-ignored, and when loopback
        URLs were left out.
    """
    import tempfile
    from pathlib import Path

    if _is_sandbox_demo_client(credentials):
        raise ConfigurationError(
            f"Not saving the sandbox's demo credentials ({credentials.client_id}): the sandbox "
            "needs no .env. With no credentials configured, cerkl_nb.connect() starts (or "
            "finds) the sandbox and uses its demo client by itself, on whatever port it gets. "
            "Save a .env only for real Cerkl credentials."
        )
    target = Path(path).resolve()
    ours: dict[str, str] = {
        ENV_CLIENT_ID: credentials.client_id,
        ENV_CLIENT_SECRET: credentials.client_secret.get_secret_value(),
    }
    if settings is not None:
        if settings.base_url != DEFAULT_BASE_URL:
            ours[ENV_BASE_URL] = settings.base_url
        if settings.token_url != settings.base_url + TOKEN_PATH:
            ours[ENV_TOKEN_URL] = settings.token_url
        skipped = [
            key
            for key in (ENV_BASE_URL, ENV_TOKEN_URL)
            if key in ours and is_loopback_host(urlsplit(ours[key]).hostname)
        ]
        if skipped and not loopback_urls:
            for key in skipped:
                del ours[key]
            warnings.warn(
                f"Not saving {' and '.join(skipped)}: {settings.base_url} is a local address "
                "(a sandbox's port changes every run, so the saved URL would point at nothing "
                "next time). Pass loopback_urls=True to save it anyway, for a sandbox you "
                "always start with `cerkl-nb sandbox --port N`.",
                UserWarning,
                stacklevel=2,
            )
        if settings.basic_auth_encoding != "raw":
            ours[ENV_BASIC_AUTH_ENCODING] = settings.basic_auth_encoding
    lines: list[str] = []
    if target.is_file():
        for line in target.read_text(encoding="utf-8").splitlines():
            key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if key in ours or key in (ENV_BASE_URL, ENV_TOKEN_URL):
                continue
            lines.append(line)
    for key, value in ours.items():
        lines.append(f"{key}={_dotenv_quote(value)}")
    text = "\n".join(lines) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".env.", dir=target.parent)  # mkstemp uses mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.chmod(target, 0o600)
    if is_git_ignored(target) is False:
        warnings.warn(
            f"{target} is inside a git repository but is not git-ignored: add '.env' to "
            ".gitignore before you commit, or your client secret will be published.",
            UserWarning,
            stacklevel=2,
        )
    return target


def _dotenv_quote(value: str) -> str:
    """Quote a value for python-dotenv when it has characters it would treat specially."""
    if value and all(c.isalnum() or c in "-._~:/@+=,%" for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
