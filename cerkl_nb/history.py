"""A bounded log of API calls, each exportable as curl, Python or a Postman collection.

Every exported form uses placeholders for credentials, never values:
``$CERKL_ACCESS_TOKEN`` / ``$CERKL_BASE_URL`` in curl, ``client = cerkl_nb.connect()``
(which reads ``CERKL_CLIENT_ID`` / ``CERKL_CLIENT_SECRET``) or ``os.environ[...]`` in
Python, and ``{{baseUrl}}`` / ``{{accessToken}}`` / ``{{clientId}}`` /
``{{clientSecret}}`` variables in Postman. Request bodies are stored already redacted.

The Postman export (:meth:`History.to_postman_collection`) runs on its own in Postman and
Newman; the import (:meth:`History.from_postman_collection`) resolves a collection's
variables and lists, in ``warnings``, whatever it could not carry. docs/postman.md has
the details.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .api import API_PREFIX, FILTER_OPERATORS, PRODUCTION_HOST, TOKEN_PATH, unwrap_items
from .redact import MASK, redact
from .snippets import _HEADERS, MASKED_NOTE, Snippets, _query_pairs

__all__ = ["HistoryEntry", "History", "PostmanImport", "redact_json"]

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

    def _snippets(self) -> Snippets:
        return Snippets(self.method, self.path, self.params, self.request_body)

    def to_curl(self) -> str:
        """The request as a curl command with ``$CERKL_BASE_URL`` / ``$CERKL_ACCESS_TOKEN``.

        Every value is single-quoted, so pasting it into any shell runs only curl.

        Examples
        --------
        ``curl --globoff -G "$CERKL_BASE_URL"/subscriber -H "Authorization: Bearer
        $CERKL_ACCESS_TOKEN" -H 'Accept: application/json' ... --data-urlencode page=1``
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
        """This request as a Postman v2.1 item using ``{{baseUrl}}``, with a status test.

        Lists become repeated query keys, ``None`` parameters are left out, and a path
        that carries its own query (a followed ``next`` link) is split into path and query.
        """
        return _PostmanExport([self]).item(self)


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

    def logical_calls(self, *, include_failed: bool = False) -> list[HistoryEntry]:
        """One entry per logical call: its last attempt, oldest first.

        A retry (``attempt`` 2, 3 ...) and the resend after a token re-fetch replace the
        attempt before them, so each call appears once, with its outcome.

        Parameters
        ----------
        include_failed
            Keep calls whose final answer was an error (4xx/5xx or none at all).
        """
        calls: list[HistoryEntry] = []
        for e in self.entries():
            if e.attempt > 1:
                for i in range(len(calls) - 1, -1, -1):
                    c = calls[i]
                    if c.attempt == e.attempt - 1 and _same_call(c, e):
                        calls[i] = e
                        break
                else:
                    calls.append(e)
            else:
                calls.append(e)
        return calls if include_failed else [c for c in calls if c.ok]

    def to_postman_collection(
        self,
        name: str = "Cerkl API v3 (cerkl-nb)",
        *,
        base_url: str | None = None,
        include_failed: bool = False,
    ) -> dict[str, Any]:
        """Export the session as a Postman Collection v2.1 that replays on its own.

        * Collection-level **OAuth 2.0** auth (Grant type Client Credentials, Access Token
          URL ``{{tokenUrl}}``, Client ID/Secret ``{{clientId}}``/``{{clientSecret}}``,
          "Send as Basic Auth header"), so the Postman app's *Get New Access Token* works;
          plus a collection pre-request script that fetches a token with Basic auth when
          ``accessToken`` is empty or expired, because Newman never fetches one itself.
        * One item per logical call (:meth:`logical_calls`); each has a status test.
        * Ids created during the session become collection variables (``segmentId``),
          set by a test script from the response and used by the requests that follow.
        * ``external_id`` and ``email`` values get a per-run suffix (``{{runId}}``), so
          the collection runs green again and again.

        No credential is in the file: pair it with :meth:`to_postman_environment` and fill
        in the client secret there.

        Parameters
        ----------
        name
            The collection's name.
        base_url
            Default ``{{baseUrl}}``: the sandbox's standard address for a sandbox session,
            the session's own API base otherwise.
        include_failed
            Also export calls that failed (their test expects the same error status).
        """
        import uuid

        entries = self.entries()
        base = base_url or _default_base_url(entries)
        export = _PostmanExport(self.logical_calls(include_failed=include_failed))
        items = export.items()
        if export.uses_run_id and items:
            items[0].setdefault("event", []).insert(0, _event("prerequest", _NEW_RUN_ID_JS))
        return {
            "info": {
                "_postman_id": str(uuid.uuid4()),
                "name": name,
                "description": "Exported by cerkl-nb. Import it with its environment, fill "
                "clientId and clientSecret there (never in the collection), and run it: "
                "the collection's pre-request script gets the token, or use Authorization "
                "→ Get New Access Token → Use Token.",
                "schema": POSTMAN_SCHEMA,
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
                    {"key": "headerPrefix", "value": "Bearer", "type": "string"},
                    {"key": "tokenName", "value": "cerkl", "type": "string"},
                ],
            },
            "event": [_event("prerequest", _TOKEN_JS)],
            "variable": [
                {"key": "baseUrl", "value": base, "type": "string"},
                {"key": "tokenUrl", "value": "{{baseUrl}}" + TOKEN_PATH, "type": "string"},
                {"key": "accessToken", "value": "", "type": "string"},
                {"key": "accessTokenExpiresAt", "value": "", "type": "string"},
                *([{"key": "runId", "value": "", "type": "string"}] if export.uses_run_id else []),
                *({"key": v, "value": "", "type": "string"} for v in export.variables),
            ],
            "item": items,
        }

    def to_postman_environment(
        self,
        name: str = "Cerkl sandbox (cerkl-nb)",
        *,
        base_url: str | None = None,
        client_id: str = "",
        client_secret_from_env: bool = False,
    ) -> dict[str, Any]:
        """The Postman environment that goes with :meth:`to_postman_collection`.

        It holds ``baseUrl``, ``tokenUrl``, ``clientId`` and ``clientSecret``; the secret
        is empty (type *secret*) for you to fill in Postman, or on Newman's command line
        with ``--env-var clientSecret=...``.

        Parameters
        ----------
        name
            The environment's name.
        base_url
            As in :meth:`to_postman_collection`.
        client_id
            The client ID to fill in (it is not a secret).
        client_secret_from_env
            Only when set: copy ``CERKL_CLIENT_SECRET`` from this process's environment
            into the file. Such a file is a credential: keep it out of git.
        """
        import os
        import uuid

        secret = ""
        if client_secret_from_env:
            secret = os.environ.get("CERKL_CLIENT_SECRET", "")
            if not secret:
                raise ValueError("CERKL_CLIENT_SECRET is not set in this process's environment")
        base = base_url or _default_base_url(self.entries())
        return {
            "id": str(uuid.uuid4()),
            "name": name,
            "values": [
                {"key": "baseUrl", "value": base, "type": "default", "enabled": True},
                {
                    "key": "tokenUrl",
                    "value": "{{baseUrl}}" + TOKEN_PATH,
                    "type": "default",
                    "enabled": True,
                },
                {"key": "clientId", "value": client_id, "type": "default", "enabled": True},
                {"key": "clientSecret", "value": secret, "type": "secret", "enabled": True},
            ],
            "_postman_variable_scope": "environment",
        }

    def save_postman(
        self,
        directory: str | os.PathLike[str],
        stem: str = "cerkl-session",
        **options: Any,
    ) -> tuple[Path, Path]:
        """Write the collection and its environment as JSON files; return both paths.

        ``<stem>.postman_collection.json`` and ``<stem>.postman_environment.json`` (the
        names Postman's Import dialog recognises). ``options`` go to
        :meth:`to_postman_collection` (``name``, ``base_url``, ``include_failed``) and
        :meth:`to_postman_environment` (``client_id``, ``client_secret_from_env``).
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        coll_opts = {k: options.pop(k) for k in ("name", "include_failed") if k in options}
        base = options.get("base_url")
        coll = self.to_postman_collection(base_url=base, **coll_opts)
        env = self.to_postman_environment(**options)
        paths = (
            folder / f"{stem}.postman_collection.json",
            folder / f"{stem}.postman_environment.json",
        )
        for path, doc in zip(paths, (coll, env), strict=True):
            path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "utf-8")
        return paths

    @staticmethod
    def from_postman_collection(
        collection: Mapping[str, Any],
        environment: Mapping[str, Any] | None = None,
        *,
        variables: Mapping[str, Any] | None = None,
    ) -> PostmanImport:
        """Turn a Postman v2.1 collection back into requests a client can replay.

        Variables are resolved as Postman does: ``variables`` (given here) over the
        environment's over the collection's, plus the dynamic ``{{$guid}}``,
        ``{{$randomUUID}}``, ``{{$timestamp}}``, ``{{$isoTimestamp}}`` and
        ``{{$randomInt}}``; path variables (``/segment/:segment_id``) take their values
        from the URL's ``variable`` list. ``{{baseUrl}}`` may end with ``/v3`` or not.

        Nothing is dropped or changed without a word: what cannot be carried (scripts,
        auth blocks, custom headers, other hosts, bodies that are not JSON, variables
        nobody defines) is listed in the result's ``warnings``, and a request that could
        not be carried faithfully is left out rather than sent differently.

        Parameters
        ----------
        collection
            The collection (the parsed ``.postman_collection.json``).
        environment
            Optionally a Postman environment (the parsed ``.postman_environment.json``).
        variables
            Values that win over both (for example ``{"subscriberId": 1001}``).

        Returns
        -------
        PostmanImport
            A ``list`` of ``{"name", "method", "path", "params", "json"}`` dicts, as
            before, with ``.warnings`` (list of str) and ``.replay(client)``. Replay one
            by hand with ``client.request(r["method"], r["path"], params=r["params"],
            json=r["json"])``; ``params`` maps a repeated key to a list.
        """
        return _PostmanImporter(collection, environment, variables).run()


# -- Postman export ----------------------------------------------------------------------------

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
# Values the sandbox (and Cerkl) keep unique: a second run needs fresh ones.
_UNIQUE_KEYS = frozenset({"external_id", "email"})
_ID_KEY = re.compile(r"(?:^|_)id$|[a-z]Id$")
_VAR_MARK = "@@cerkl-nb-var:{}@@"

_TOKEN_JS = """\
// Newman never presses "Get New Access Token": when accessToken is empty or about to
// expire, fetch one with the client credentials (HTTP Basic), as Cerkl's curl example does.
var token = pm.collectionVariables.get("accessToken");
var expiresAt = Number(pm.collectionVariables.get("accessTokenExpiresAt") || 0);
if (!token || Date.now() > expiresAt - 30000) {
    var clientId = pm.variables.get("clientId");
    var clientSecret = pm.variables.get("clientSecret");
    if (!clientId || !clientSecret) {
        throw new Error("Fill clientId and clientSecret in the environment first.");
    }
    pm.sendRequest({
        url: pm.variables.replaceIn("{{tokenUrl}}"),
        method: "POST",
        header: [
            { key: "Accept", value: "application/json" },
            { key: "Accept-Language", value: "en_US" }
        ],
        auth: {
            type: "basic",
            basic: [
                { key: "username", value: clientId },
                { key: "password", value: clientSecret }
            ]
        },
        body: {
            mode: "urlencoded",
            urlencoded: [{ key: "grant_type", value: "client_credentials" }]
        }
    }, function (err, res) {
        if (err || res.code !== 200) {
            console.error("token request failed", err || res.code);
            return;
        }
        var body = res.json();
        pm.collectionVariables.set("accessToken", body.access_token);
        pm.collectionVariables.set(
            "accessTokenExpiresAt", Date.now() + 1000 * (Number(body.expires_in) || 0));
    });
}"""

_NEW_RUN_ID_JS = """\
// A fresh suffix for values that must be unique (external_id, email) on every run.
pm.collectionVariables.set(
    "runId", Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36));"""

_ITEMS_JS = """\
var body = pm.response.json();
var found = (body && body.template && body.template.data) || (body && body.data) || body;
var items = Array.isArray(found) ? found : [found];"""


def _event(listen: str, code: str) -> dict[str, Any]:
    return {"listen": listen, "script": {"type": "text/javascript", "exec": code.splitlines()}}


def _same_call(a: HistoryEntry, b: HistoryEntry) -> bool:
    return (a.method, a.url, a.params, a.request_body) == (
        b.method,
        b.url,
        b.params,
        b.request_body,
    )


def _default_base_url(entries: list[HistoryEntry]) -> str:
    """The sandbox's standard address for a sandbox session, else the session's base."""
    from .lab import DEFAULT_SANDBOX_PORT

    base = next((e.base_url for e in reversed(entries) if e.base_url), "")
    host = (urlsplit(base).hostname or "").lower()
    if not base or host in ("127.0.0.1", "localhost", "::1"):
        return f"http://127.0.0.1:{DEFAULT_SANDBOX_PORT}{API_PREFIX}"
    return base


def _query_text(value: str) -> str:
    # Keep {{variables}} and JSON readable; encode only what would change the query's
    # meaning (&, =, #, +, %) or is not allowed in a URL (spaces, controls).
    return quote(value, safe="!$'()*,/:;?@[]{}\"<>|^`~")


class _PostmanExport:
    """Turns logical calls into items, with variables for created ids and unique values."""

    def __init__(self, calls: list[HistoryEntry]) -> None:
        self.calls = calls
        self.ids: dict[str, str] = {}  # created id (as text) -> variable name
        self.unique: dict[str, str] = {}  # a unique literal -> its per-run form
        self.variables: list[str] = []
        self.uses_run_id = False

    def items(self) -> list[dict[str, Any]]:
        return [self.item(c) for c in self.calls]

    # values ---------------------------------------------------------------------------------
    def _remember_unique(self, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if str(k) in _UNIQUE_KEYS and isinstance(v, str) and v and v != MASK:
                    if v not in self.unique:
                        local, at, domain = v.partition("@")
                        self.unique[v] = (
                            f"{local}+{{{{runId}}}}@{domain}" if at else f"{v}-{{{{runId}}}}"
                        )
                        self.uses_run_id = True
                else:
                    self._remember_unique(v)
        elif isinstance(value, list):
            for v in value:
                self._remember_unique(v)

    def _leaf(self, key: str, value: Any) -> Any:
        if isinstance(value, str) and value in self.unique:
            return self.unique[value]
        if _ID_KEY.search(key) and key != "external_id" and not isinstance(value, bool):
            var = self.ids.get(str(value)) if isinstance(value, (int, str)) else None
            if var:
                return _VAR_MARK.format(var) if isinstance(value, int) else f"{{{{{var}}}}}"
        return value

    def _walk(self, value: Any, key: str = "") -> Any:
        if isinstance(value, Mapping):
            # In a filter ({"id": {"eq": 5013}}) the value belongs to the field, not to "eq".
            return {
                k: self._walk(v, key if k in FILTER_OPERATORS and key else str(k))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._walk(v, key) for v in value]
        return self._leaf(key, value)

    def _json_text(self, value: Any, indent: int | None = None) -> str:
        text = json.dumps(
            self._walk(value),
            indent=indent,
            ensure_ascii=False,
            separators=None if indent else (",", ":"),
        )
        # A numeric id becomes a bare {{variable}}: Postman substitutes text, so the body
        # sent is `"id": 5013` again, a number, as in the session.
        return re.sub(r'"@@cerkl-nb-var:(\w+)@@"', r"{{\1}}", text)

    def _param(self, key: str, value: str) -> str:
        if key == "filters_json":
            try:
                return self._json_text(json.loads(value))
            except ValueError:
                pass
        return str(self._leaf(key, _int_or_text(value)))

    # items ----------------------------------------------------------------------------------
    def item(self, call: HistoryEntry) -> dict[str, Any]:
        path, _, own_query = call.path.partition("?")
        pairs = parse_qsl(own_query, keep_blank_values=True) + _query_pairs(call.params)
        self._remember_unique(call.request_body)
        segs = [
            s if s not in self.ids else f"{{{{{self.ids[s]}}}}}"
            for s in (unquote(p) for p in path.strip("/").split("/"))
            if s
        ]
        segs = [quote(s, safe="{}@:!$'()*+,;=") if "{{" not in s else s for s in segs]
        query = []
        for k, v in pairs:
            shown = self._param(k, v)
            shown = re.sub(r"@@cerkl-nb-var:(\w+)@@", r"{{\1}}", shown)
            query.append({"key": k, "value": shown})
        raw = "{{baseUrl}}/" + "/".join(segs)
        if query:
            raw += "?" + "&".join(
                f"{_query_text(q['key'])}={_query_text(q['value'])}" for q in query
            )
        url: dict[str, Any] = {"raw": raw, "host": ["{{baseUrl}}"], "path": segs}
        if query:
            url["query"] = query
        request: dict[str, Any] = {
            "method": call.method,
            "header": [{"key": name, "value": value} for name, value in _HEADERS],
            "url": url,
        }
        if call.request_body is not None:
            request["header"].append({"key": "Content-Type", "value": "application/json"})
            request["body"] = {
                "mode": "raw",
                "raw": self._json_text(call.request_body, indent=2),
                "options": {"raw": {"language": "json"}},
            }
        name = f"{call.method} /{'/'.join(segs)}"
        status = call.status if call.status is not None else 200
        tests = [
            f"pm.test({json.dumps(f'{name} answers {status}')}, function () {{",
            f"    pm.response.to.have.status({status});",
            "});",
        ]
        tests += self._capture_ids(call, path)
        item: dict[str, Any] = {
            "name": name,
            "request": request,
            "event": [_event("test", "\n".join(tests))],
        }
        if MASK in json.dumps([call.params, call.request_body, call.path]):
            # Redaction replaced a value that looked like a secret: say so where Postman
            # shows it, rather than let a run send "***" without a word.
            request["description"] = MASKED_NOTE
        return item

    def _capture_ids(self, call: HistoryEntry, path: str) -> list[str]:
        """Script lines that store the ids a create answered with; registers the variables."""
        # Only a create (POST to a collection such as /segment) makes a new id; a nested POST
        # (a membership) answers with a record that already existed.
        if call.method != "POST" or call.status != 201 or not call.response_excerpt:
            return []
        if len([p for p in path.strip("/").split("/") if p]) != 1:
            return []
        created = _created_ids(call.response_excerpt)
        resource = next(
            (p for p in reversed(path.strip("/").split("/")) if p and not p.isdigit()), "item"
        )
        stem = re.sub(r"\W+", "_", resource).strip("_") or "item"
        stem = re.sub(r"_(\w)", lambda m: m.group(1).upper(), stem) + "Id"
        lines: list[str] = []
        for index, ident in enumerate(created):
            if ident in self.ids:
                continue
            var, n = stem, 2
            while var in self.variables:
                var, n = f"{stem}{n}", n + 1
            self.ids[ident] = var
            self.variables.append(var)
            lines.append(f"pm.collectionVariables.set({json.dumps(var)}, items[{index}].id);")
        return [_ITEMS_JS, *lines] if lines else []


def _created_ids(excerpt: str) -> list[str]:
    """The ids in a create's response (the excerpt may be cut: then the first one only)."""
    try:
        return [str(i["id"]) for i in unwrap_items(json.loads(excerpt)) if "id" in i]
    except (ValueError, TypeError, KeyError):
        m = re.search(r'"id"\s*:\s*(\d+|"[^"]*")', excerpt)
        return [m.group(1).strip('"')] if m else []


def _int_or_text(value: str) -> Any:
    return int(value) if re.fullmatch(r"-?[1-9]\d*|0", value) else value


# -- Postman import ----------------------------------------------------------------------------

_VAR = re.compile(r"\{\{([^{}]+)\}\}")
_PATH_VAR = re.compile(r"^:(\w+)$")
_SET_FROM_RESPONSE = re.compile(
    r"pm\.(?:collectionVariables|environment|globals|variables)\.set\(\s*[\"'](\w+)[\"']"
    r"\s*,([^;]*?\bid\b[^;]*)\)\s*;?"
)
_SENT_ANYWAY = {"accept", "accept-language", "content-type", "authorization", "user-agent"}


class PostmanImport(list):
    """Requests imported from a Postman collection: a ``list`` of dicts plus what was lost.

    Attributes
    ----------
    warnings
        One sentence for each thing that could not be carried (scripts, auth blocks,
        headers, other hosts, bodies, variables), naming the request.
    """

    def __init__(self, requests: list[dict[str, Any]], warnings: list[str]) -> None:
        super().__init__(requests)
        self.warnings = warnings

    def replay(self, client: Any, *, stop_on_error: bool = False) -> list[Any]:
        """Send every request with ``client``; return its response or the error, in order.

        A variable that a collection script sets from a response's ``id`` (the usual
        ``pm.collectionVariables.set("segmentId", pm.response.json().data[0].id)``) is
        taken from the first item of that request's response, so chained ids work.
        """
        from .errors import CerklError

        captured: dict[str, Any] = {}
        results: list[Any] = []
        for r in self:
            req = _fill_later(r, captured) if r.get("later") else r
            try:
                resp = client.request(
                    req["method"], req["path"], params=req["params"], json=req["json"]
                )
            except CerklError as exc:
                results.append(exc)
                if stop_on_error:
                    break
                continue
            results.append(resp)
            for var in r.get("sets", ()):
                if resp.items and "id" in resp.items[0]:
                    captured[var] = resp.items[0]["id"]
        return results


def _fill_later(r: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the variables a script set during the replay (``later``) into one request."""

    def sub(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            v = values.get(m.group(1).strip())
            return m.group(0) if v is None else str(v)

        return _VAR.sub(one, text)

    later = r["later"]
    out = dict(r)
    out["path"] = sub(later["path"])
    out["params"] = (
        {k: [sub(x) for x in v] if isinstance(v, list) else sub(v) for k, v in r["params"].items()}
        if r["params"]
        else r["params"]
    )
    if later.get("raw") is not None:
        out["json"] = json.loads(sub(later["raw"]))
    return out


class _PostmanImporter:
    def __init__(
        self,
        collection: Mapping[str, Any],
        environment: Mapping[str, Any] | None,
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.collection = collection
        self.values: dict[str, str] = {}
        for v in collection.get("variable") or []:
            if isinstance(v, Mapping) and v.get("key") and not v.get("disabled"):
                self.values[str(v["key"])] = "" if v.get("value") is None else str(v["value"])
        for v in (environment or {}).get("values") or []:
            if isinstance(v, Mapping) and v.get("key") and v.get("enabled", True):
                self.values[str(v["key"])] = "" if v.get("value") is None else str(v["value"])
        for k, v in (variables or {}).items():
            self.values[str(k)] = str(v)
        self.warnings: list[str] = []
        self.out: list[dict[str, Any]] = []
        self.set_by_scripts: set[str] = set()

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def run(self) -> PostmanImport:
        auth = self.collection.get("auth")
        if isinstance(auth, Mapping) and auth.get("type") not in (None, "noauth"):
            self.warn(
                f"The collection's {auth.get('type')} auth block is not carried: the client "
                "gets and sends its own token."
            )
        self._scripts(self.collection, "the collection")
        self._walk(self.collection.get("item"), "")
        return PostmanImport(self.out, self.warnings)

    def _scripts(self, node: Mapping[str, Any], where: str) -> list[str]:
        """Warn about scripts; return the variables they set from a response id."""
        sets: list[str] = []
        for ev in node.get("event") or []:
            if not isinstance(ev, Mapping):
                continue
            script = ev.get("script") or {}
            code = script.get("exec") if isinstance(script, Mapping) else None
            code = "\n".join(code) if isinstance(code, list) else str(code or "")
            if not code.strip():
                continue
            found = [m.group(1) for m in _SET_FROM_RESPONSE.finditer(code)]
            note = (
                f"; its setting of {', '.join(found)} from the response id is reproduced on replay"
                if found and ev.get("listen") == "test"
                else ""
            )
            self.warn(f"The {ev.get('listen', '?')} script of {where} is not run{note}.")
            if ev.get("listen") == "test":
                sets += found
        self.set_by_scripts.update(sets)
        return sets

    def _walk(self, items: Any, folder: str) -> None:
        for item in items or []:
            if not isinstance(item, Mapping):
                continue
            name = str(item.get("name") or "")
            label = f"{folder}{name}" if name else f"{folder}(unnamed)"
            if "item" in item:
                self._scripts(item, f"folder {label!r}")
                if item.get("auth"):
                    self.warn(f"The auth block of folder {label!r} is not carried.")
                self._walk(item["item"], f"{label} / ")
                continue
            req = item.get("request")
            if isinstance(req, str):
                req = {"method": "GET", "url": req}
            if not isinstance(req, Mapping):
                self.warn(f"{label!r} has no request: skipped.")
                continue
            sets = self._scripts(item, f"request {label!r}")
            parsed = self._request(req, label)
            if parsed is not None:
                parsed["name"] = name
                if sets:
                    parsed["sets"] = sets
                self.out.append(parsed)

    # variables ------------------------------------------------------------------------------
    def resolve(self, text: str, label: str) -> str:
        """Substitute variables (nested ones too); unknown ones stay for the caller to report."""
        scope = self.values
        for _ in range(10):
            changed = False

            def one(m: re.Match[str]) -> str:
                nonlocal changed
                name = m.group(1).strip()
                if name.startswith("$"):
                    value = _dynamic(name)
                    if value is None:
                        self.warn(f"{label!r}: the dynamic variable {{{{{name}}}}} is unknown.")
                        return m.group(0)
                    changed = True
                    return value
                if name in scope:
                    changed = True
                    return scope[name]
                return m.group(0)

            text = _VAR.sub(one, text)
            if not changed:
                break
        return text

    def _unresolved(self, text: str) -> list[str]:
        return [m.group(1).strip() for m in _VAR.finditer(text)]

    # one request ----------------------------------------------------------------------------
    def _request(self, req: Mapping[str, Any], label: str) -> dict[str, Any] | None:
        method = str(req.get("method") or "GET").upper()
        url = req.get("url")
        path_vars: dict[str, str] = {}
        pairs: list[tuple[str, str]] = []
        if isinstance(url, Mapping):
            for v in url.get("variable") or []:
                if isinstance(v, Mapping) and v.get("key"):
                    path_vars[str(v["key"])] = "" if v.get("value") is None else str(v["value"])
            raw = _url_without_query(url)
            for q in url.get("query") or []:
                if isinstance(q, Mapping) and q.get("key") is not None and not q.get("disabled"):
                    pairs.append((str(q["key"]), "" if q.get("value") is None else str(q["value"])))
        else:
            raw = str(url or "")
            raw, _, qs = raw.partition("?")
            pairs = parse_qsl(qs, keep_blank_values=True)
        if not raw:
            self.warn(f"{label!r} has no URL: skipped.")
            return None
        path = self._path(raw, path_vars, label)
        if path is None:
            return None
        if path.lower().rstrip("/") == TOKEN_PATH.lower():
            self.warn(
                f"{label!r} is a token request: skipped, the client gets its own token "
                "(same Basic-auth client-credentials request)."
            )
            return None
        if req.get("auth") and (req["auth"] or {}).get("type") not in ("inherit",):
            self.warn(
                f"{label!r}: its {req['auth'].get('type')} auth block is not carried; the "
                "client sends its own token."
            )
        for h in req.get("header") or []:
            if isinstance(h, Mapping) and not h.get("disabled"):
                if str(h.get("key", "")).lower() not in _SENT_ANYWAY:
                    self.warn(f"{label!r}: the header {h.get('key')!r} is not carried.")

        params: dict[str, Any] = {}
        for k, v in pairs:
            k, v = self.resolve(k, label), self.resolve(v, label)
            if k in params:
                prev = params[k]
                params[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
            else:
                params[k] = v
        result: dict[str, Any] = {
            "method": method,
            "path": path,
            "params": params or None,
            "json": None,
        }
        later: dict[str, Any] = {}
        pending = self._unresolved(path) + self._unresolved(json.dumps(params))
        body = req.get("body")
        if isinstance(body, Mapping) and not body.get("disabled"):
            mode = body.get("mode")
            if mode == "raw" and str(body.get("raw") or "").strip():
                text = self.resolve(str(body["raw"]), label)
                names = self._unresolved(text)
                if names and set(names) <= self.set_by_scripts:
                    later["raw"] = text
                    pending += names
                else:
                    if not _declares_json(req, body):
                        self.warn(
                            f"{label!r}: its raw body is sent as JSON (application/json); "
                            "Postman sends it as text/plain, since neither a Content-Type "
                            "header nor Body → raw → JSON says otherwise."
                        )
                    try:
                        result["json"] = json.loads(text)
                    except ValueError as exc:
                        self.warn(
                            f"{label!r}: its raw body is not JSON after substituting variables "
                            f"({exc.msg} at line {exc.lineno}): skipped, rather than sent "
                            "without its body."
                        )
                        return None
            elif mode == "urlencoded":
                form = [
                    (
                        self.resolve(str(f.get("key", "")), label),
                        self.resolve(str(f.get("value", "")), label),
                    )
                    for f in body.get("urlencoded") or []
                    if isinstance(f, Mapping) and not f.get("disabled")
                ]
                self.warn(
                    f"{label!r}: its urlencoded body ({', '.join(k for k, _ in form)}) cannot be "
                    "sent: the Cerkl API takes JSON bodies; skipped."
                )
                return None
            elif mode in ("formdata", "file", "graphql"):
                self.warn(f"{label!r}: a {mode} body cannot be carried: skipped.")
                return None
        unknown = sorted({n for n in pending if n not in self.set_by_scripts})
        if unknown:
            self.warn(
                f"{label!r}: no variable defines {', '.join('{{' + n + '}}' for n in unknown)}; "
                "skipped."
            )
            return None
        if pending:
            later["path"] = path
            result["later"] = later
        return result

    def _path(self, raw: str, path_vars: Mapping[str, str], label: str) -> str | None:
        """The path relative to the API base, or None (with a warning) for another host."""
        raw = raw.strip()
        base_var = raw.startswith("{{baseUrl}}")
        if base_var:
            rest = self.resolve(raw[len("{{baseUrl}}") :], label)
            base = self.resolve("{{baseUrl}}", label)
            # {{baseUrl}} may be the API base (…/v3) or the host alone (…/v3 in the path).
            if not urlsplit(base).path.rstrip("/").endswith(API_PREFIX) and (
                rest == API_PREFIX or rest.startswith(API_PREFIX + "/")
            ):
                rest = rest[len(API_PREFIX) :]
            path = rest
        else:
            full = self.resolve(raw, label)
            parts = urlsplit(
                full if "://" in full else "//" + full if not full.startswith("/") else full
            )
            host = (parts.hostname or "").lower()
            if host and host != PRODUCTION_HOST and host not in ("127.0.0.1", "localhost", "::1"):
                self.warn(f"{label!r} goes to another host ({host}): skipped.")
                return None
            path = parts.path
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                path = path[len(API_PREFIX) :]
            elif host:
                self.warn(f"{label!r}: {host} without {API_PREFIX} is not the API: skipped.")
                return None
            if host:
                self.warn(
                    f"{label!r}: its absolute URL on {host} is sent to the client's own API base."
                )
        segs = []
        for seg in path.split("/"):
            m = _PATH_VAR.match(seg)
            if m:
                name = m.group(1)
                value = path_vars.get(name)
                if value is None or value == "":
                    self.warn(f"{label!r}: the path variable :{name} has no value; skipped.")
                    return None
                seg = self.resolve(value, label)
            segs.append(seg)
        path = "/".join(segs)
        path, _, _fragment = path.partition("#")
        return "/" + path.lstrip("/")


def _url_without_query(url: Mapping[str, Any]) -> str:
    """A URL object's address without its query, as Postman reads it.

    Postman's collection SDK builds the URL from ``host`` / ``path`` when the object has
    them (``raw`` is then only a display copy); ``raw`` counts only when both are absent.
    """
    raw = url.get("raw")
    if not url.get("host") and not url.get("path"):
        return raw.partition("?")[0] if isinstance(raw, str) else ""
    host = url.get("host")
    host = ".".join(str(h) for h in host) if isinstance(host, list) else str(host or "")
    path = url.get("path")
    path = "/".join(str(p) for p in path) if isinstance(path, list) else str(path or "")
    if not host and not path:
        return ""
    protocol = url.get("protocol")
    port = url.get("port")
    text = (f"{protocol}://" if protocol else "") + host + (f":{port}" if port else "")
    return text + ("/" + path.lstrip("/") if path else "")


def _declares_json(req: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """True when Postman would send this raw body as JSON."""
    for h in req.get("header") or []:
        if isinstance(h, Mapping) and not h.get("disabled"):
            if str(h.get("key", "")).lower() == "content-type":
                return "json" in str(h.get("value", "")).lower()
    options = body.get("options")
    raw = options.get("raw") if isinstance(options, Mapping) else None
    return isinstance(raw, Mapping) and raw.get("language") == "json"


def _dynamic(name: str) -> str | None:
    import random
    import time
    import uuid
    from datetime import datetime, timezone

    if name in ("$guid", "$randomUUID"):
        return str(uuid.uuid4())
    if name == "$timestamp":
        return str(int(time.time()))
    if name == "$isoTimestamp":
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if name == "$randomInt":
        return str(random.randint(0, 1000))  # noqa: S311 - test data, as Postman's
    return None
