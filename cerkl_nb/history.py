"""A bounded log of API calls, each exportable as curl, Python or a Postman collection.

Every exported form uses placeholders for credentials, never values:
``$CERKL_ACCESS_TOKEN`` / ``$CERKL_BASE_URL`` in curl, ``client = cerkl_nb.connect()``
(which reads ``CERKL_CLIENT_ID`` / ``CERKL_CLIENT_SECRET``) or ``os.environ[...]`` in
Python, and ``{{baseUrl}}`` / ``{{accessToken}}`` / ``{{clientId}}`` /
``{{clientSecret}}`` variables in Postman. Request bodies are stored already redacted.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from .config import TOKEN_PATH
from .redact import MASK, redact
from .snippets import _HEADERS, Snippets

__all__ = ["HistoryEntry", "History", "redact_json"]

log = logging.getLogger("cerkl_nb.history")

_SENSITIVE_KEYS = {
    "access_token",
    "refresh_token",
    "client_secret",
    "id_token",
    "password",
    "secret",
    "token",
    "authorization",
}
_ids = itertools.count(1)


def redact_json(value: Any) -> Any:
    """Return a copy of a JSON-able value with secret-named keys and secret values masked."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if str(k).lower() in _SENSITIVE_KEYS and v else redact_json(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


@dataclass(frozen=True)
class HistoryEntry:
    """One HTTP exchange with the API (every attempt, including retries).

    Attributes
    ----------
    id
        Increasing number, unique in this process.
    method, url, path
        The request; ``path`` is relative to ``base_url`` (``/subscriber``).
    params
        Query parameters as sent.
    request_body
        The JSON body, redacted (``None`` for no body).
    status
        HTTP status, or ``None`` when no response arrived.
    elapsed_s
        Seconds from send to the end of the response body.
    size
        Response body size in bytes.
    request_id
        The server's ``X-Request-Id``.
    started_at
        Wall-clock time the request was sent.
    error
        What went wrong (redacted), if anything.
    response_excerpt
        The first 500 characters of the response body, redacted.
    base_url
        The API base the path is relative to.
    attempt
        1 for the first try; 2, 3 ... for retries of the same call.
    request_headers
        Headers sent, with ``Authorization`` shown as ``Bearer ***``.
    response_headers
        Headers received, values redacted.
    """

    id: int
    method: str
    url: str
    path: str
    params: dict[str, Any] | None
    request_body: Any
    status: int | None
    elapsed_s: float
    size: int
    request_id: str | None
    started_at: float
    error: str | None = None
    response_excerpt: str | None = None
    base_url: str = ""
    attempt: int = 1
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None

    @staticmethod
    def next_id() -> int:
        """A new entry id."""
        return next(_ids)

    @property
    def ok(self) -> bool:
        """True for a 2xx/3xx response."""
        return self.status is not None and self.status < 400

    def _query(self) -> str:
        return ("?" + urlencode(self.params, doseq=True)) if self.params else ""

    def _snippets(self) -> Snippets:
        return Snippets(self.method, self.path, self.params, self.request_body)

    def to_curl(self) -> str:
        """The request as a curl command with ``$CERKL_BASE_URL`` / ``$CERKL_ACCESS_TOKEN``.

        Examples
        --------
        ``curl -G "$CERKL_BASE_URL/subscriber" -H "Authorization: Bearer
        $CERKL_ACCESS_TOKEN" -H "Accept: application/json" ... --data-urlencode page=1``
        """
        return self._snippets().curl()

    def to_python(self, style: str = "client") -> str:
        """The request as Python a reader can paste into a notebook.

        Parameters
        ----------
        style
            ``"client"`` (default): one expression for a notebook that has
            ``client = cerkl_nb.connect()``, such as ``client.list('segment', page=1)``.
            ``"requests"``: plain ``requests`` with the base URL and token read from
            ``os.environ``.
        """
        if style == "requests":
            return self._snippets().python_requests()
        if style != "client":
            raise ValueError("style must be 'client' or 'requests'")
        return self._snippets().cerkl_nb_call()

    def to_postman_item(self) -> dict[str, Any]:
        """This request as a Postman v2.1 item using ``{{baseUrl}}``."""
        segs = [s for s in self.path.strip("/").split("/") if s]
        url: dict[str, Any] = {
            "raw": "{{baseUrl}}" + self.path + self._query(),
            "host": ["{{baseUrl}}"],
            "path": segs,
        }
        if self.params:
            url["query"] = [{"key": str(k), "value": str(v)} for k, v in self.params.items()]
        request: dict[str, Any] = {
            "method": self.method,
            "header": [{"key": name, "value": value} for name, value in _HEADERS],
            "url": url,
        }
        if self.request_body is not None:
            request["header"].append({"key": "Content-Type", "value": "application/json"})
            request["body"] = {
                "mode": "raw",
                "raw": json.dumps(self.request_body, indent=2, ensure_ascii=False),
                "options": {"raw": {"language": "json"}},
            }
        return {"name": f"{self.method} {self.path}", "request": request}


@dataclass
class History:
    """A bounded, thread-safe log of :class:`HistoryEntry`, newest last.

    Parameters
    ----------
    maxlen
        How many entries to keep; older ones are dropped.
    """

    maxlen: int = 200
    _entries: deque[HistoryEntry] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _listeners: list[Callable[[HistoryEntry], None]] = field(
        init=False, repr=False, default_factory=list
    )

    def __post_init__(self) -> None:
        self._entries = deque(maxlen=self.maxlen)

    def add(self, entry: HistoryEntry) -> None:
        """Append an entry and tell the listeners (errors in listeners are logged)."""
        with self._lock:
            self._entries.append(entry)
            listeners = list(self._listeners)
        for cb in listeners:
            try:
                cb(entry)
            except Exception:
                log.exception("history listener %r failed", cb)

    def add_listener(self, callback: Callable[[HistoryEntry], None]) -> Callable[[], None]:
        """Call ``callback(entry)`` for each new entry; returns a remover."""
        with self._lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def entries(self) -> list[HistoryEntry]:
        """A snapshot list, oldest first."""
        with self._lock:
            return list(self._entries)

    def last(self) -> HistoryEntry | None:
        """The newest entry, if any."""
        with self._lock:
            return self._entries[-1] if self._entries else None

    def get(self, entry_id: int) -> HistoryEntry | None:
        """The entry with this id, if still kept."""
        with self._lock:
            return next((e for e in self._entries if e.id == entry_id), None)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"History({len(self)} entries, maxlen={self.maxlen})"

    def to_postman_collection(
        self, name: str = "Cerkl API v3 (cerkl-nb)", *, base_url: str | None = None
    ) -> dict[str, Any]:
        """Export as a Postman Collection v2.1 with variables for every credential.

        The collection's ``oauth2`` auth uses ``{{clientId}}`` / ``{{clientSecret}}`` /
        ``{{tokenUrl}}`` and ``{{accessToken}}``; the variables ship empty except
        ``baseUrl`` (and ``tokenUrl``, which derives from it).
        """
        import uuid

        entries = self.entries()
        if base_url is None:
            base_url = next((e.base_url for e in reversed(entries) if e.base_url), "")
        return {
            "info": {
                "_postman_id": str(uuid.uuid4()),
                "name": name,
                "description": "Exported by cerkl-nb. Fill clientId and clientSecret in a "
                "Postman environment (never in the collection) and get a token from the "
                "Authorization tab.",
                "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
            },
            "auth": {
                "type": "oauth2",
                "oauth2": [
                    {"key": "grant_type", "value": "client_credentials", "type": "string"},
                    {"key": "accessTokenUrl", "value": "{{tokenUrl}}", "type": "string"},
                    {"key": "clientId", "value": "{{clientId}}", "type": "string"},
                    {"key": "clientSecret", "value": "{{clientSecret}}", "type": "string"},
                    {"key": "accessToken", "value": "{{accessToken}}", "type": "string"},
                    {"key": "client_authentication", "value": "header", "type": "string"},
                    {"key": "addTokenTo", "value": "header", "type": "string"},
                    {"key": "tokenName", "value": "cerkl", "type": "string"},
                ],
            },
            "variable": [
                {"key": "baseUrl", "value": base_url, "type": "string"},
                {"key": "tokenUrl", "value": "{{baseUrl}}" + TOKEN_PATH, "type": "string"},
                {"key": "clientId", "value": "", "type": "string"},
                {"key": "clientSecret", "value": "", "type": "string"},
                {"key": "accessToken", "value": "", "type": "string"},
            ],
            "item": [e.to_postman_item() for e in entries],
        }

    @staticmethod
    def from_postman_collection(collection: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Turn a Postman v2.1 collection back into requests a client can replay.

        Returns
        -------
        list[dict]
            Each ``{"method", "path", "params", "json"}``; replay with
            ``client.request(r["method"], r["path"], params=r["params"], json=r["json"])``.
            Folders are flattened; absolute URLs outside ``{{baseUrl}}`` are skipped.
        """
        out: list[dict[str, Any]] = []

        def walk(items: Any) -> None:
            for item in items or []:
                if not isinstance(item, Mapping):
                    continue
                if "item" in item:
                    walk(item["item"])
                    continue
                req = item.get("request")
                if isinstance(req, str):
                    req = {"method": "GET", "url": req}
                if not isinstance(req, Mapping):
                    continue
                parsed = _postman_request(req)
                if parsed is not None:
                    out.append(parsed)

        walk(collection.get("item"))
        return out


def _postman_request(req: Mapping[str, Any]) -> dict[str, Any] | None:
    url = req.get("url")
    params: dict[str, Any] = {}
    if isinstance(url, Mapping):
        raw = str(url.get("raw", ""))
        for q in url.get("query") or []:
            if isinstance(q, Mapping) and not q.get("disabled"):
                params[str(q.get("key"))] = q.get("value")
    else:
        raw = str(url or "")
    path, _, query = raw.partition("?")
    if not params and query:
        from urllib.parse import parse_qsl

        params = dict(parse_qsl(query, keep_blank_values=True))
    if path.startswith("{{baseUrl}}"):
        path = path[len("{{baseUrl}}") :]
    elif urlsplit(path).scheme:
        log.info("skipping a Postman request outside {{baseUrl}}: %s", redact(path))
        return None
    body = None
    b = req.get("body")
    if isinstance(b, Mapping) and b.get("mode") == "raw" and b.get("raw"):
        try:
            body = json.loads(b["raw"])
        except ValueError:
            body = None
    return {
        "method": str(req.get("method", "GET")).upper(),
        "path": "/" + path.lstrip("/"),
        "params": params or None,
        "json": body,
    }
