"""One redaction function for every place text leaves the toolkit.

Logging, ``repr``, exception messages, the request history and widget status texts all
pass through :func:`redact`. It removes two kinds of thing:

* values registered as secret with :func:`register_secret`, wherever they appear, by exact
  match. Registration is explicit, made where a secret enters the process: the client
  secret when :class:`~cerkl_nb.config.Credentials` are built, the Basic header value and
  each token the :class:`~cerkl_nb.auth.TokenManager` receives. Building a :class:`Secret`
  registers nothing;
* anything that *looks* like a credential: ``Authorization`` header values, ``Bearer``
  and ``Basic`` credentials, ``access_token=`` / ``refresh_token=`` / ``client_secret=``
  parameters and JSON fields, and 40-hex-character strings (the shape of Cerkl tokens).

The registered values are one set of at most :data:`MAX_SECRETS`, in the order they were
last registered. At the bound, the value registered longest ago is forgotten. A value in
use stays: the token manager registers its client secret and Basic value again with every
token request. A forgotten token is long dead (hundreds of token requests ago), and the
40-hex rule still masks anything with the shape of a Cerkl token.

No prefix or suffix of a secret is ever shown: a prefix is still key material.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "MAX_SECRETS", "Secret", "redact", "redact_json", "excerpt"]
__all__ += ["register_secret", "get_logger", "RedactingFilter", "install_log_redaction"]

#: What a secret is replaced with.
MASK = "***"
#: How many registered values :func:`redact` remembers (the most recently registered).
MAX_SECRETS = 256
# Shorter values are not registered: masking every "abc" in every log line would make logs
# unreadable and protect next to nothing. They are still masked by the credential patterns.
_MIN_LEN = 4

_lock = threading.Lock()
_registered: OrderedDict[str, None] = OrderedDict()
_longest_first: tuple[str, ...] = ()  # replaced whole under _lock; a value inside another
# registered value is then removed with it, never half of it


def register_secret(value: str | Secret | None) -> None:
    """Make :func:`redact` remove ``value`` wherever it appears from now on.

    Registering a value again makes it the most recent, so it is the last to be forgotten
    at :data:`MAX_SECRETS`. ``None`` and values shorter than 4 characters are ignored.
    """
    if isinstance(value, Secret):
        value = value.get_secret_value()
    if not value or len(value) < _MIN_LEN:
        return
    global _longest_first
    with _lock:
        if value in _registered:
            _registered.move_to_end(value)
            return
        _registered[value] = None
        while len(_registered) > MAX_SECRETS:
            _registered.popitem(last=False)
        _longest_first = tuple(sorted(_registered, key=len, reverse=True))


def _credential_like(value: str) -> bool:
    """Whether a word after ``Bearer``/``Basic`` looks like key material, not prose.

    Tokens and base64 credentials are long and almost always mix in digits, symbols or
    both cases; English words after "Bearer" are short and all one case.
    """
    return len(value) >= 8 and (
        len(value) >= 20
        or any(c.isdigit() or c in "+/=._~%-" for c in value)
        or (value.lower() != value and value.upper() != value)
    )


def _mask_auth_value(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(2)}{MASK}" if _credential_like(m.group(3)) else m.group(0)


_RULES: list[tuple[re.Pattern[str], Any]] = [
    # Authorization: Bearer abc / Basic abc, only when the value looks like a credential, so
    # prose such as "Bearer access token", "Basic auth" or "Bearer realm=" stays readable.
    (re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=%-]+)"), _mask_auth_value),
    # key=value in query strings, form bodies and curl -d arguments
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|client_secret|id_token|password|token)"
            r"(\s*=\s*)([^&\s\"']+)"
        ),
        r"\1\2" + MASK,
    ),
    # "key": "value" in JSON; an unterminated value (a body cut short) is masked to the end.
    (
        re.compile(
            r"(?i)([\"'](?:\w*_token|token|client_secret|secret|password)[\"']"
            r"\s*:\s*)(?:\"(?:[^\"\\]|\\.)*(?:\"|$)|'(?:[^'\\]|\\.)*(?:'|$))"
        ),
        r'\1"' + MASK + '"',
    ),
    # user:password@ in URLs
    (re.compile(r"(?i)(https?://[^/\s:@]+):[^/\s@]+@"), r"\1:" + MASK + "@"),
    # 40 lowercase hex characters: the documented shape of Cerkl access/refresh tokens.
    (re.compile(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])"), MASK),
]


def redact(text: object) -> str:
    """``str(text)`` with every registered secret and credential-like value masked.

    >>> redact("Authorization: Bearer e37b98a75db58f83edaaccdb75d15c3a38ae5e38")
    'Authorization: Bearer ***'
    """
    s = text if isinstance(text, str) else str(text)
    if not s:
        return s
    with _lock:
        values = _longest_first
    for secret in values:
        if secret in s:
            s = s.replace(secret, MASK)
    for rx, replacement in _RULES:
        s = rx.sub(replacement, s)
    return s


def excerpt(text: object, limit: int) -> str:
    """Redact ``text`` and then cut it to ``limit`` characters (never the other way round).

    Cutting first could leave the first half of a token that no rule recognises any more.
    Only a window of a long text is redacted: ``limit`` plus the longest registered value
    plus a margin, so every value that *starts* inside the excerpt is seen whole. ``bytes``
    are decoded as UTF-8 (errors replaced), only as far as the window needs.
    """
    with _lock:
        longest = len(_longest_first[0]) if _longest_first else 0
    window = limit + max(longest, 64) + 64
    if isinstance(text, (bytes, bytearray)):
        # UTF-8 needs at most 4 bytes a character: this slice holds the whole window.
        text = bytes(text[: 4 * window]).decode("utf-8", "replace")
    s = text if isinstance(text, str) else str(text)
    return redact(s[:window])[:limit]


#: JSON keys whose values are masked whole, wherever they appear in a body or parameters.
SENSITIVE_KEYS = frozenset(
    "access_token refresh_token client_secret id_token password secret token authorization".split()
)


def redact_json(value: Any) -> Any:
    """Return a copy of a JSON-able value with secret-named keys and secret values masked."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if str(k).lower() in SENSITIVE_KEYS and v else redact_json(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


class Secret:
    """A string that never shows itself.

    ``repr``, ``str``, f-strings and rich displays all print ``Secret('***')``; read the
    value with :meth:`get_secret_value`. Building one registers nothing with
    :func:`redact`: call :func:`register_secret` where a secret enters the process.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"Secret needs a str, got {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        """Return the secret text. Use it only to put it on the wire."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret('{MASK}')" if self._value else "Secret('')"

    __str__ = _repr_html_ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": repr(self)}

    def __reduce__(self) -> Any:  # pickling would write the secret to disk
        raise TypeError("Secret values cannot be pickled")


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message, traceback and stack in place."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            msg = str(record.msg)
        record.msg, record.args = redact(msg), None
        # Filters run before any formatter, which would render exc_info later, unredacted.
        # Render the traceback now: Formatter.format() uses a record's exc_text as it is.
        if record.exc_info and not record.exc_text:
            try:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            except Exception:  # a broken exception must not lose the record
                record.exc_text = f"(traceback unavailable: {record.exc_info[0]!r})"
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _add_filter(logger: logging.Logger) -> None:
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


def get_logger(name: str) -> logging.Logger:
    """The logger of one of the toolkit's modules, redacting its own records.

    A filter on a logger sees only the records logged *to that logger* (not those that
    propagate from its children), so each module's logger gets its own filter, here.
    Other libraries' loggers are left alone unless :func:`install_log_redaction` is called.
    """
    logger = logging.getLogger(name)
    _add_filter(logger)
    return logger


#: Other libraries' loggers that see our traffic (URLs, and headers at DEBUG level).
THIRD_PARTY_LOGGERS = ("urllib3", "requests") + tuple(
    "urllib3." + m for m in "connectionpool connection response util.retry poolmanager".split()
)


def _redacting_print(*args: object, **kwargs: Any) -> None:
    import builtins

    builtins.print(*(redact(a) for a in args), **kwargs)


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Redact secrets in urllib3's and requests' log records and http.client's debug prints.

    An explicit call, never made on import: :func:`cerkl_nb.connect` makes it, and so may
    an application that wants the protection without ``connect()``. It attaches
    :class:`RedactingFilter` to :data:`THIRD_PARTY_LOGGERS`, to every ``cerkl_nb`` logger
    and to ``extra_loggers``. ``http.client`` does not log: with
    ``HTTPConnection.debuglevel = 1`` it *prints* every request, headers and body included,
    so the builtin ``print`` inside the ``http.client`` module is shadowed by one that
    redacts first (only ever called when that debug switch is on).
    """
    ours = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "cerkl_nb"]
    for name in (*THIRD_PARTY_LOGGERS, "cerkl_nb", *ours, *extra_loggers):
        _add_filter(logging.getLogger(name))
    import http.client

    if getattr(http.client, "print", None) is not _redacting_print:
        http.client.print = _redacting_print  # type: ignore[attr-defined]
