"""One redaction function for every place text leaves the toolkit.

Logging, ``repr``, exception messages, the request history and widget status texts all
pass through :func:`redact`. It removes two kinds of thing:

* values the process has registered as secret (every :class:`Secret`, every token the
  token manager receives), wherever they appear, by exact match;
* anything that *looks* like a credential: ``Authorization`` header values, ``Bearer``
  and ``Basic`` credentials, ``access_token=`` / ``refresh_token=`` / ``client_secret=``
  parameters and JSON fields, and 40-hex-character strings (the shape of Cerkl tokens).

No prefix or suffix of a secret is ever shown: a prefix is still key material.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Iterable

__all__ = [
    "MASK",
    "Secret",
    "redact",
    "register_secret",
    "RedactingFilter",
    "install_log_redaction",
]

#: What a secret is replaced with.
MASK = "***"

_lock = threading.Lock()
# Registered secret values. Kept as a plain set of strings (not weak): a token that was
# ever issued to this process must stay redacted even after the object holding it died.
_registered: set[str] = set()
_pattern_cache: re.Pattern[str] | None = None

# Secrets shorter than this are not registered for exact-match redaction: masking every
# "a" in every log line would make logs unreadable, and such secrets are refused anyway.
_MIN_REGISTERED_LEN = 6

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer abc / Basic abc (header form, any case, quoted or not)
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=%-]+"), r"\1 " + MASK),
    # key=value in query strings, form bodies and curl -d arguments
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|client_secret|id_token|password|token)"
            r"=([^&\s\"']+)"
        ),
        r"\1=" + MASK,
    ),
    # "key": "value" in JSON
    (
        re.compile(
            r"(?i)([\"'](?:access_token|refresh_token|client_secret|id_token|password)[\"']"
            r"\s*:\s*)[\"'][^\"']*[\"']"
        ),
        r'\1"' + MASK + '"',
    ),
    # user:password@ in URLs
    (re.compile(r"(?i)(https?://[^/\s:@]+):[^/\s@]+@"), r"\1:" + MASK + "@"),
    # 40 lowercase hex characters: the documented shape of Cerkl access/refresh tokens
    (re.compile(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])"), MASK),
]


def register_secret(value: str | None) -> None:
    """Remember a value so that :func:`redact` removes it wherever it appears.

    Parameters
    ----------
    value
        A client secret, access token or refresh token. ``None`` and very short values
        are ignored.
    """
    global _pattern_cache
    if not value or len(value) < _MIN_REGISTERED_LEN:
        return
    with _lock:
        if value in _registered:
            return
        _registered.add(value)
        _pattern_cache = None


def _registered_pattern() -> re.Pattern[str] | None:
    global _pattern_cache
    with _lock:
        if _pattern_cache is None and _registered:
            # Longest first, so a secret that contains another is removed whole.
            alts = sorted(_registered, key=len, reverse=True)
            _pattern_cache = re.compile("|".join(re.escape(a) for a in alts))
        return _pattern_cache


def redact(text: object) -> str:
    """Return ``text`` as a string with every secret and credential-like value masked.

    Parameters
    ----------
    text
        Anything; it is converted with ``str()`` first.

    Returns
    -------
    str
        The text with registered secrets and credential patterns replaced by ``***``.

    Examples
    --------
    >>> redact("Authorization: Bearer e37b98a75db58f83edaaccdb75d15c3a38ae5e38")
    'Authorization: Bearer ***'
    """
    s = text if isinstance(text, str) else str(text)
    pat = _registered_pattern()
    if pat is not None:
        s = pat.sub(MASK, s)
    for rx, repl in _PATTERNS:
        s = rx.sub(repl, s)
    return s


class Secret:
    """A string that never shows itself.

    ``repr``, ``str``, f-strings and rich displays all print ``Secret('***')``; read the
    value with :meth:`get_secret_value`. Creating a Secret registers its value with
    :func:`redact`, so the value is masked in any log or message that later holds it.

    Parameters
    ----------
    value
        The secret text.
    """

    __slots__ = ("_value", "__weakref__")

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"Secret needs a str, got {type(value).__name__}")
        self._value = value
        register_secret(value)

    def get_secret_value(self) -> str:
        """Return the secret text. Use it only to put it on the wire."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        import hmac

        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret('{MASK}')" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def _repr_html_(self) -> str:
        return repr(self)

    def _repr_mimebundle_(self, include: Iterable[str] | None = None, exclude=None) -> dict:
        return {"text/plain": repr(self)}

    def __reduce__(self):  # pickling would write the secret to disk
        raise TypeError("Secret values cannot be pickled")


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message and arguments in place."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            msg = str(record.msg)
        record.msg = redact(msg)
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_installed: weakref.WeakSet[logging.Handler] = weakref.WeakSet()
_LOGGERS = ("cerkl_nb", "urllib3", "requests")


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Attach :class:`RedactingFilter` to the toolkit's loggers and to urllib3's.

    Filters on a logger only see records logged to that logger, so we attach to the
    loggers that can see our traffic. ``http.client`` prints with ``print`` when its
    debuglevel is raised; that path is covered by the client never putting secrets in
    anything but headers and bodies that urllib3 does not echo at DEBUG.

    Parameters
    ----------
    extra_loggers
        More logger names to protect.
    """
    for name in (*_LOGGERS, *extra_loggers):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
