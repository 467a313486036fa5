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

from .redact import MASK, redact

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


def _sh_double(text: str) -> str:
    """Escape text for a double-quoted POSIX shell string."""
    return "".join("\\" + c if c in '\\"`$' else c for c in text)


def _sh_single(text: str) -> str:
    """Quote text as a single-quoted POSIX shell word."""
    return "'" + text.replace("'", "'\\''") + "'"


def _py(value: Any) -> str:
    import pprint

    return pprint.pformat(value, indent=1, width=88, sort_dicts=False)


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

    def to_curl(self) -> str:
        """The request as a curl command with ``$CERKL_BASE_URL`` / ``$CERKL_ACCESS_TOKEN``.

        Examples
        --------
        ``curl -X GET "$CERKL_BASE_URL/subscriber?page=1" -H "Authorization: Bearer
        $CERKL_ACCESS_TOKEN" -H "Accept: application/json"``
        """
        target = _sh_double(self.path + self._query())
        if self.base_url:
            url = f'"$CERKL_BASE_URL{target}"'
        else:
            url = f'"{_sh_double(self.url)}"'
        parts = [
            f"curl -X {self.method} {url}",
            '-H "Authorization: Bearer $CERKL_ACCESS_TOKEN"',
            '-H "Accept: application/json"',
            '-H "Accept-Language: en_US"',
        ]
        if self.request_body is not None:
            parts.append('-H "Content-Type: application/json"')
            body = json.dumps(self.request_body, ensure_ascii=False)
            parts.append(f"--data {_sh_single(body)}")
        return " \\\n  ".join(parts)

    def to_python(self, style: str = "client") -> str:
        """The request as Python a reader can paste into a notebook.

        Parameters
        ----------
        style
            ``"client"`` (default): code for a notebook that has
            ``client = cerkl_nb.connect()``. ``"requests"``: plain ``requests`` with the
            base URL and token read from ``os.environ``.
        """
        if style == "requests":
            return self._to_requests()
        if style != "client":
            raise ValueError("style must be 'client' or 'requests'")
        segs = [s for s in self.path.strip("/").split("/") if s]
        body = self.request_body
        one_item = _single_item(body)
        m = self.method.upper()
        if m == "GET" and len(segs) == 2 and not self.params:
            return f"client.get({segs[0]!r}, {_id_literal(segs[1])})"
        if m == "POST" and len(segs) == 1 and one_item is not None and not self.params:
            return f"client.create({segs[0]!r}, {_py(one_item)})"
        if m == "PUT" and len(segs) == 2 and one_item is not None and not self.params:
            return f"client.update({segs[0]!r}, {_id_literal(segs[1])}, {_py(one_item)})"
        if m == "DELETE" and len(segs) == 2 and body is None and not self.params:
            return f"client.delete({segs[0]!r}, {_id_literal(segs[1])})"
        args = [repr(m), repr(self.path)]
        if self.params:
            args.append(f"params={_py(self.params)}")
        if body is not None:
            items = _template_items(body)
            if items is not None:
                args.append(f"items={_py(items)}")
            else:
                args.append(f"json={_py(body)}")
        return f"client.request({', '.join(args)})"

    def _to_requests(self) -> str:
        lines = [
            "import os",
            "import requests",
            "",
            "resp = requests.request(",
            f"    {self.method!r},",
            f'    os.environ["CERKL_BASE_URL"] + {self.path!r},',
        ]
        if self.params:
            lines.append(f"    params={_py(self.params)},")
        if self.request_body is not None:
            lines.append(f"    json={_py(self.request_body)},")
        lines += [
            "    headers={",
            '        "Authorization": "Bearer " + os.environ["CERKL_ACCESS_TOKEN"],',
            '        "Accept": "application/json",',
            '        "Accept-Language": "en_US",',
            "    },",
            "    timeout=30,",
            ")",
            "resp.raise_for_status()",
            "print(resp.json())",
        ]
        return "\n".join(lines)

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
            "header": [
                {"key": "Accept", "value": "application/json"},
                {"key": "Accept-Language", "value": "en_US"},
            ],
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


def _single_item(body: Any) -> dict[str, Any] | None:
    items = _template_items(body)
    if items is not None and len(items) == 1 and isinstance(items[0], dict):
        return items[0]
    return None


def _template_items(body: Any) -> list[Any] | None:
    if isinstance(body, Mapping):
        tmpl = body.get("template")
        if isinstance(tmpl, Mapping) and isinstance(tmpl.get("data"), list) and len(body) == 1:
            return list(tmpl["data"])
    return None


def _id_literal(segment: str) -> str:
    return segment if segment.isdigit() else repr(segment)


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
                {"key": "tokenUrl", "value": "{{baseUrl}}/oauth/Token", "type": "string"},
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
