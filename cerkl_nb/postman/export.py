"""Postman Collection v2.1 export of a request history.

:class:`~cerkl_nb.postman.history.History` delegates its Postman methods here; their docstrings
describe the files. The export runs on its own in Postman and Newman: collection-level
OAuth 2.0 auth plus a pre-request script that fetches a token (Newman never does), one
item per logical call with a status test, created ids carried in collection variables
and unique values (``external_id``, ``email``) suffixed per run. Credentials are always
``{{variables}}``, never values. docs/postman.md has the details.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..errors import MissingCredentials
from ..redact import MASK
from ..spec import (
    API_PREFIX,
    ENV_CLIENT_SECRET,
    FILTER_OPERATORS,
    SANDBOX_DEFAULT_PORT,
    TOKEN_PATH,
    default_headers,
    is_loopback_host,
    unwrap_items,
)
from .snippets import MASKED_NOTE, query_pairs

if TYPE_CHECKING:
    from .history import HistoryEntry

__all__ = [
    "POSTMAN_SCHEMA",
    "logical_calls",
    "save_postman",
    "to_postman_collection",
    "to_postman_environment",
    "to_postman_item",
]


def logical_calls(
    entries: Sequence[HistoryEntry], *, include_failed: bool = False
) -> list[HistoryEntry]:
    """One entry per logical call: its last attempt, oldest first.

    As :meth:`cerkl_nb.History.logical_calls`, over ``entries`` (oldest first).
    """
    calls: list[HistoryEntry] = []
    for e in entries:
        # A retry replaces the latest attempt before it of the same request.
        for i in range(len(calls) - 1, -1, -1) if e.attempt > 1 else ():
            if calls[i].attempt == e.attempt - 1 and _request_of(calls[i]) == _request_of(e):
                calls[i] = e
                break
        else:
            calls.append(e)
    return calls if include_failed else [c for c in calls if c.ok]


def to_postman_collection(
    entries: Sequence[HistoryEntry],
    name: str = "Cerkl API v3 (cerkl-nb)",
    *,
    base_url: str | None = None,
    include_failed: bool = False,
) -> dict[str, Any]:
    """The collection of :meth:`cerkl_nb.History.to_postman_collection`, from ``entries``."""
    import uuid

    base = base_url or _default_base_url(entries)
    export = _PostmanExport(logical_calls(entries, include_failed=include_failed))
    items = export.items()
    variables = {"baseUrl": base, "tokenUrl": "{{baseUrl}}" + TOKEN_PATH}
    variables |= {"accessToken": "", "accessTokenExpiresAt": ""}
    if export.uses_run_id and items:
        items[0].setdefault("event", []).insert(0, _event("prerequest", _NEW_RUN_ID_JS))
        variables["runId"] = ""
    variables |= dict.fromkeys(export.variables, "")
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
        # What Postman's Authorization tab shows: OAuth 2.0, client credentials, Basic header.
        "auth": {"type": "oauth2", "oauth2": _strings(_OAUTH2)},
        "event": [_event("prerequest", _TOKEN_JS)],
        "variable": _strings(variables),
        "item": items,
    }


def to_postman_environment(
    entries: Sequence[HistoryEntry],
    name: str = "Cerkl sandbox (cerkl-nb)",
    *,
    base_url: str | None = None,
    client_id: str = "",
    client_secret_from_env: bool = False,
) -> dict[str, Any]:
    """The environment of :meth:`cerkl_nb.History.to_postman_environment`."""
    import uuid

    secret = os.environ.get(ENV_CLIENT_SECRET, "") if client_secret_from_env else ""
    if client_secret_from_env and not secret:
        raise MissingCredentials(
            f"{ENV_CLIENT_SECRET} is not set in this process's environment: set it, or leave "
            "client_secret_from_env off and fill clientSecret in Postman"
        )
    values = [
        ("baseUrl", base_url or _default_base_url(entries), "default"),
        ("tokenUrl", "{{baseUrl}}" + TOKEN_PATH, "default"),
        ("clientId", client_id, "default"),
        ("clientSecret", secret, "secret"),
    ]
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "values": [{"key": k, "value": v, "type": t, "enabled": True} for k, v, t in values],
        "_postman_variable_scope": "environment",
    }


def save_postman(
    entries: Sequence[HistoryEntry],
    directory: str | os.PathLike[str],
    stem: str = "cerkl-session",
    **options: Any,
) -> tuple[Path, Path]:
    """Write the collection and its environment; see :meth:`cerkl_nb.History.save_postman`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    coll_opts = {k: options.pop(k) for k in ("name", "include_failed") if k in options}
    base = options.get("base_url")
    coll = to_postman_collection(entries, base_url=base, **coll_opts)
    env = to_postman_environment(entries, **options)
    paths = (
        folder / f"{stem}.postman_collection.json",
        folder / f"{stem}.postman_environment.json",
    )
    for path, doc in zip(paths, (coll, env), strict=True):
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return paths


def to_postman_item(entry: HistoryEntry) -> dict[str, Any]:
    """One request as a Postman item; see :meth:`cerkl_nb.HistoryEntry.to_postman_item`."""
    return _PostmanExport([entry]).item(entry)


# -- the export --------------------------------------------------------------------------------

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
# Values the sandbox (and Cerkl) keep unique: a second run needs fresh ones.
_UNIQUE_KEYS = frozenset({"external_id", "email"})
_ID_KEY = re.compile(r"(?:^|_)id$|[a-z]Id$")
_VAR_MARK = "@@cerkl-nb-var:{}@@"
_OAUTH2 = {
    "grant_type": "client_credentials",
    "accessTokenUrl": "{{tokenUrl}}",
    "clientId": "{{clientId}}",
    "clientSecret": "{{clientSecret}}",
    "accessToken": "{{accessToken}}",
    "client_authentication": "header",
    "addTokenTo": "header",
    "headerPrefix": "Bearer",
    "tokenName": "cerkl",
}


def _headers() -> list[dict[str, str]]:
    """The client's default headers as Postman's key/value list."""
    return [{"key": k, "value": v} for k, v in default_headers().items()]


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
        header: HEADERS,
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
}""".replace("HEADERS", json.dumps(_headers()))

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


def _strings(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v, "type": "string"} for k, v in values.items()]


def _request_of(e: HistoryEntry) -> tuple[Any, ...]:
    return e.method, e.url, e.params, e.request_body


def _default_base_url(entries: Sequence[HistoryEntry]) -> str:
    """The sandbox's standard address for a sandbox session, else the session's base."""
    base = next((e.base_url for e in reversed(entries) if e.base_url), "")
    if not base or is_loopback_host(urlsplit(base).hostname):
        return f"http://127.0.0.1:{SANDBOX_DEFAULT_PORT}{API_PREFIX}"
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
        return str(self._leaf(key, value))

    # items ----------------------------------------------------------------------------------
    def item(self, call: HistoryEntry) -> dict[str, Any]:
        path, _, own_query = call.path.partition("?")
        pairs = parse_qsl(own_query, keep_blank_values=True) + query_pairs(call.params)
        self._remember_unique(call.request_body)
        segs = [
            s if s not in self.ids else f"{{{{{self.ids[s]}}}}}"
            for s in (unquote(p) for p in path.strip("/").split("/"))
            if s
        ]
        segs = [quote(s, safe="{}@:!$'()*+,;=") if "{{" not in s else s for s in segs]
        query = [{"key": k, "value": self._param(k, v)} for k, v in pairs]
        raw = "{{baseUrl}}/" + "/".join(segs)
        if query:
            raw += "?" + "&".join(
                f"{_query_text(q['key'])}={_query_text(q['value'])}" for q in query
            )
        url: dict[str, Any] = {"raw": raw, "host": ["{{baseUrl}}"], "path": segs}
        if query:
            url["query"] = query
        request: dict[str, Any] = {"method": call.method, "header": _headers(), "url": url}
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
        parts = [p for p in path.split("/") if p]
        if call.method != "POST" or call.status != 201 or not call.response_excerpt:
            return []
        if len(parts) != 1:
            return []
        created = _created_ids(call.response_excerpt)
        stem = re.sub(r"\W+", "_", parts[0]).strip("_") or "item"
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
