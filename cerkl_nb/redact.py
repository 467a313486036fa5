"""One redaction function for every place text leaves the toolkit.

Logging, ``repr``, exception messages, the request history and widget status texts all
pass through :func:`redact`. It removes two kinds of thing:

* values the process has registered as secret (every :class:`Secret`, every token the
  token manager receives), wherever they appear, by exact match. Client secrets are
  remembered for the life of the process; access and refresh tokens only the most recent
  :data:`MAX_TRANSIENT_SECRETS` (see :func:`register_secret`), which keeps both memory and
  the cost of each call bounded;
* anything that *looks* like a credential: ``Authorization`` header values, ``Bearer``
  and ``Basic`` credentials, ``access_token=`` / ``refresh_token=`` / ``client_secret=``
  parameters and JSON fields, and 40-hex-character strings (the shape of Cerkl tokens).

No prefix or suffix of a secret is ever shown: a prefix is still key material.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "Secret",
    "redact",
    "redact_json",
    "get_logger",
    "register_secret",
    "excerpt",
    "MAX_TRANSIENT_SECRETS",
    "RedactingFilter",
    "install_log_redaction",
]

#: What a secret is replaced with.
MASK = "***"

_lock = threading.Lock()
# Registered secret values, in two bounded-by-design stores:
#
# * ``_pinned``: client secrets, Basic credentials and any value registered with
#   ``transient=False`` (the default). A process holds a handful of these; they are kept
#   for the life of the process, so a secret stays redacted even after the object that
#   held it died.
# * ``_transient``: access and refresh tokens (``transient=True``), one or two per token
#   request. Only the most recent :data:`MAX_TRANSIENT_SECRETS` are kept (oldest
#   forgotten first), so a kernel that runs for weeks with short-lived tokens does not
#   grow without bound. A forgotten token is long dead by then (1,000 Cerkl tokens are
#   500 days of 12-hour tokens), and the 40-hex pattern below still masks anything with
#   the shape of a Cerkl token.
_pinned: set[str] = set()
_transient: OrderedDict[str, None] = OrderedDict()
#: How many access/refresh tokens redact() remembers by exact value.
MAX_TRANSIENT_SECRETS = 1000

# How redact() finds registered values, at a cost that does not grow with their number.
#
# Tokens are made of URL-safe characters (hex, base64url, JWT): any occurrence of such a
# value lies inside a maximal run of those characters, so one C-level regex scan finds the
# runs and a set lookup per run says whether it is a secret. A run longer than every
# registered length is checked window by window, one window size per distinct registered
# length (a handful), never once per secret. Only the few values with other characters
# or shorter than _MIN_WORD (client secrets with punctuation, Basic headers) are searched
# by substring, longest first. A "word" contained in one of those is searched by
# substring too, so the longer value is still removed whole.
_WORD_CLASS = "A-Za-z0-9_~.\\-"
_MIN_WORD = 16
_WORD = re.compile(f"[{_WORD_CLASS}]{{{_MIN_WORD},}}")
_words: set[str] = set()  # registered URL-safe values of _MIN_WORD+ characters
_word_lengths: dict[int, int] = {}  # length -> how many registered words have it
#: Distinct word lengths, longest first (replaced whole, read without the lock).
_lengths: tuple[int, ...] = ()
#: Every other registered value, longest first (replaced whole, read without the lock).
_others: tuple[str, ...] = ()
#: Length of the longest registered value (for :func:`excerpt`'s window).
_longest = 0

# Values shorter than this are not registered for exact-match redaction: masking every
# "abc" in every log line would make logs unreadable while protecting next to nothing (a
# three-character secret can be guessed). Credentials accepts such secrets (Cerkl decides
# what a valid secret is); they are still masked wherever they appear in a credential
# pattern (Basic header, ``client_secret=``, JSON fields).
_MIN_REGISTERED_LEN = 4


# Pattern rules, each guarded by cheap lower-case substring tests: redact() runs on every
# history entry and log record, so clean text must not pay for five regex scans.
def _credential_like(value: str) -> bool:
    """Whether a word after ``Bearer``/``Basic`` looks like key material, not prose.

    Tokens and base64 credentials are long and almost always mix in digits, symbols or
    both cases; English words after "Bearer" are short and all one case.
    """
    if len(value) < 8:
        return False
    return (
        len(value) >= 20
        or any(c.isdigit() for c in value)
        or any(c in "+/=._~%-" for c in value)
        or (value.lower() != value and value.upper() != value)
    )


def _mask_auth_value(m: re.Match[str]) -> str:
    if not _credential_like(m.group(3)):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{MASK}"


_Replacement = str | Callable[[re.Match[str]], str]

_RULES: list[tuple[tuple[str, ...], re.Pattern[str], _Replacement]] = [
    # Authorization: Bearer abc / Basic abc (header form, any case, quoted or not), but only
    # when the value looks like a credential (see _credential_like), so prose such as
    # "Bearer access token", "Basic auth" or "Bearer realm=" stays readable.
    (
        ("bearer", "basic"),
        re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=%-]+)"),
        _mask_auth_value,
    ),
    # key=value in query strings, form bodies and curl -d arguments
    (
        ("token", "secret=", "secret =", "password"),
        re.compile(
            r"(?i)\b(access_token|refresh_token|client_secret|id_token|password|token)"
            r"(\s*=\s*)([^&\s\"']+)"
        ),
        r"\1\2" + MASK,
    ),
    # "key": "value" in JSON
    (
        ("token", "secret", "password"),
        # An unterminated value (a body cut short) is masked to the end of the text.
        re.compile(
            r"(?i)([\"'](?:\w*_token|token|client_secret|secret|password)[\"']"
            r"\s*:\s*)(?:\"(?:[^\"\\]|\\.)*(?:\"|$)|'(?:[^'\\]|\\.)*(?:'|$))"
        ),
        r'\1"' + MASK + '"',
    ),
    # user:password@ in URLs
    (("@",), re.compile(r"(?i)(https?://[^/\s:@]+):[^/\s@]+@"), r"\1:" + MASK + "@"),
]
# 40 lowercase hex characters: the documented shape of Cerkl access/refresh tokens.
_HEX40_QUICK = re.compile(r"[0-9a-f]{40}")
_HEX40 = re.compile(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])")


def register_secret(value: str | None, *, transient: bool = False) -> None:
    """Remember a value so that :func:`redact` removes it wherever it appears.

    Registering costs a few set and dict operations, whatever the number of values
    already registered, and so does each :func:`redact` call: a kernel that is issued a
    token every minute does not get slower.

    Parameters
    ----------
    value
        A client secret, access token or refresh token. ``None`` and values shorter than
        4 characters are ignored.
    transient
        True for access/refresh tokens: only the most recent
        :data:`MAX_TRANSIENT_SECRETS` of those are remembered. False (default) for client
        secrets, which are remembered for the life of the process.
    """
    if not value or len(value) < _MIN_REGISTERED_LEN:
        return
    with _lock:
        if value in _pinned:
            return
        if transient:
            if value in _transient:
                _transient.move_to_end(value)
                return
            _transient[value] = None
            _add(value)
            while len(_transient) > MAX_TRANSIENT_SECRETS:
                _discard(_transient.popitem(last=False)[0])
        else:
            if _transient.pop(value, None) is None:
                _add(value)
            _pinned.add(value)


def _is_word(value: str) -> bool:
    return len(value) >= _MIN_WORD and _WORD.fullmatch(value) is not None


def _add(value: str) -> None:
    """Index a newly registered value (caller holds ``_lock``)."""
    global _others, _lengths, _longest
    others = _others
    if _is_word(value) and not any(value in o for o in others):
        _words.add(value)
        n = len(value)
        _word_lengths[n] = _word_lengths.get(n, 0) + 1
        if _word_lengths[n] == 1:
            _lengths = tuple(sorted(_word_lengths, reverse=True))
    else:
        # Words inside this value move to substring search, so it is removed whole.
        inside = [w for w in _words if w in value] if _words else []
        for w in inside:
            _drop_word(w)
        _others = tuple(sorted((*others, value, *inside), key=len, reverse=True))
    _longest = max(_longest, len(value))


def _drop_word(value: str) -> None:
    global _lengths
    _words.discard(value)
    n = len(value)
    _word_lengths[n] -= 1
    if not _word_lengths[n]:
        del _word_lengths[n]
        _lengths = tuple(sorted(_word_lengths, reverse=True))


def _discard(value: str) -> None:
    """Forget a value (caller holds ``_lock``)."""
    global _others, _longest
    if value in _words:
        _drop_word(value)
    elif value in _others:
        _others = tuple(o for o in _others if o != value)
    if len(value) == _longest:
        _longest = max((_lengths[0] if _lengths else 0, *map(len, _others[:1])), default=0)


def _registry_state() -> tuple[Any, ...]:
    """A copy of the registry, for tests that register many values and then restore it."""
    with _lock:
        return dict(_transient), set(_pinned)


def _restore_registry(state: tuple[Any, ...]) -> None:
    """Put back a registry saved by :func:`_registry_state` (tests only)."""
    global _others, _lengths, _longest
    transient, pinned = state
    with _lock:
        _transient.clear()
        _pinned.clear()
        _words.clear()
        _word_lengths.clear()
        _others, _lengths, _longest = (), (), 0
        for v in transient:
            _transient[v] = None
            _add(v)
        for v in pinned:
            _pinned.add(v)
            _add(v)


def registered_count() -> int:
    """How many values :func:`redact` currently removes by exact match."""
    return len(_pinned) + len(_transient)


def excerpt(text: object, limit: int) -> str:
    """Redact ``text`` and then cut it to ``limit`` characters (never the other way round).

    Cutting first could leave the first half of a token that no rule recognises any more.
    Only a window of the text is redacted (long bodies stay cheap): ``limit`` plus the
    length of the longest registered secret plus a margin, so every value that *starts*
    inside the excerpt is seen whole; pattern rules mask a value cut at the window's end.
    ``bytes`` are decoded as UTF-8 (errors replaced), only as far as the window needs.
    """
    window = limit + max(_longest, 64) + 64
    if isinstance(text, (bytes, bytearray)):
        # UTF-8 needs at most 4 bytes a character: this slice holds the whole window.
        text = bytes(text[: 4 * window]).decode("utf-8", "replace")
    s = text if isinstance(text, str) else str(text)
    return redact(s[:window] if len(s) > window else s)[:limit]


def _mask_words(m: re.Match[str]) -> str:
    """Replacement for one run of URL-safe characters: mask every registered word in it."""
    run = m.group(0)
    words = _words
    if run in words:
        return MASK
    n = len(run)
    lengths = [k for k in _lengths if k < n]
    if not lengths:
        return run
    # Leftmost, then longest: one window per distinct registered length at each position.
    out: list[str] = []
    i = last = 0
    while i <= n - lengths[-1]:
        for k in lengths:
            if i + k <= n and run[i : i + k] in words:
                out.append(run[last:i])
                out.append(MASK)
                i = last = i + k
                break
        else:
            i += 1
    if not out:
        return run
    out.append(run[last:])
    return "".join(out)


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
    if not s:
        return s
    for secret in _others:
        if secret in s:  # a C substring search: far cheaper than a regex alternation
            s = s.replace(secret, MASK)
    if _words and len(s) >= _MIN_WORD:
        s = _WORD.sub(_mask_words, s)
    low = s.lower()
    for keys, rx, repl in _RULES:
        if any(k in low for k in keys):
            s = rx.sub(repl, s)
    if _HEX40_QUICK.search(s) is not None:
        s = _HEX40.sub(MASK, s)
    return s


#: JSON keys whose values are masked whole, wherever they appear in a body or parameters.
SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "id_token",
        "password",
        "secret",
        "token",
        "authorization",
    }
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
    value with :meth:`get_secret_value`. Creating a Secret registers its value with
    :func:`redact`, so the value is masked in any log or message that later holds it.

    Parameters
    ----------
    value
        The secret text.
    transient
        True for access/refresh tokens (see :func:`register_secret`).
    """

    __slots__ = ("_value", "__weakref__")

    def __init__(self, value: str, *, transient: bool = False) -> None:
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"Secret needs a str, got {type(value).__name__}")
        self._value = value
        register_secret(value, transient=transient)

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
        # Filters run before any formatter, so exc_text is usually still None here and
        # the handler's formatter would render exc_info later, unredacted. Render the
        # traceback now and store it redacted: logging.Formatter.format() uses a record's
        # exc_text as is and only formats exc_info itself when exc_text is empty.
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
    propagate from its children), so each module's logger gets its own filter, here,
    where the module creates it. Other libraries' loggers are left alone unless
    :func:`install_log_redaction` is called.
    """
    logger = logging.getLogger(name)
    _add_filter(logger)
    return logger


#: Other libraries' loggers that see our traffic (URLs, and headers at DEBUG level).
THIRD_PARTY_LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.util.retry",
    "urllib3.poolmanager",
    "requests",
)


def _redacting_print(*args: object, **kwargs: Any) -> None:
    import builtins

    builtins.print(*(redact(a) for a in args), **kwargs)


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Redact secrets in urllib3's and requests' log records and http.client's debug prints.

    An explicit call, never made on import: :func:`cerkl_nb.connect` makes it, and so may
    an application that wants the protection without ``connect()``. It attaches
    :class:`RedactingFilter` to :data:`THIRD_PARTY_LOGGERS`, to every ``cerkl_nb`` logger
    that exists and to ``extra_loggers``.

    ``http.client`` does not log: with ``HTTPConnection.debuglevel = 1`` it *prints* every
    request it sends, headers and body included (so ``Authorization: Basic ...`` and
    ``refresh_token=...``). We shadow the builtin ``print`` inside the ``http.client``
    module with one that redacts first; it is only ever called when that debug switch is
    on, and it prints the same lines, minus the credentials.

    Parameters
    ----------
    extra_loggers
        More logger names to protect.
    """
    ours = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "cerkl_nb"]
    for name in (*THIRD_PARTY_LOGGERS, "cerkl_nb", *ours, *extra_loggers):
        _add_filter(logging.getLogger(name))
    import http.client

    if getattr(http.client, "print", None) is not _redacting_print:
        http.client.print = _redacting_print  # type: ignore[attr-defined]
