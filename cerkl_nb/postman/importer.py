"""Postman Collection v2.1 import: turn a collection back into requests a client replays.

:meth:`cerkl_nb.History.from_postman_collection` delegates here. Variables resolve as in
Postman; whatever cannot be carried (scripts, auth blocks, custom headers, other hosts,
bodies that are not JSON, undefined variables) is named in :attr:`PostmanImport.warnings`,
and such a request is left out rather than sent differently. docs/postman.md has the
details.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import CerklError
from ..spec import API_PREFIX, PRODUCTION_HOST, TOKEN_PATH, is_loopback_host

__all__ = ["PostmanImport", "from_postman_collection"]

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

    later, params = r["later"], r["params"]
    out = {**r, "path": sub(later["path"])}
    if params:
        out["params"] = {
            k: [*map(sub, v)] if isinstance(v, list) else sub(v) for k, v in params.items()
        }
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

        def one(m: re.Match[str]) -> str:
            name = m.group(1).strip()
            if not name.startswith("$"):
                return self.values.get(name, m.group(0))
            value = _dynamic(name)
            if value is None:
                self.warn(f"{label!r}: the dynamic variable {{{{{name}}}}} is unknown.")
            return m.group(0) if value is None else value

        for _ in range(10):  # a bound, for variables that refer to each other
            text, before = _VAR.sub(one, text), text
            if text == before:
                break
        return text

    def _unresolved(self, text: str) -> list[str]:
        return [m.group(1).strip() for m in _VAR.finditer(text)]

    # one request ----------------------------------------------------------------------------
    def _request(self, req: Mapping[str, Any], label: str) -> dict[str, Any] | None:
        """One request to replay, or None (with a warning) when it cannot be carried.

        The dict has ``method``, ``path``, ``params`` and ``json``, plus ``later`` when a
        script of an earlier request sets one of its variables.
        """
        raw, path_vars, pairs = _url_parts(req.get("url"))
        if not raw:
            self.warn(f"{label!r} has no URL: skipped.")
            return None
        path = self._path(raw, path_vars, label)
        if path is None or not self._carried(req, path, label):
            return None
        params = self._params(pairs, label)
        result: dict[str, Any] = {
            "method": str(req.get("method") or "GET").upper(),
            "path": path,
            "params": params or None,
            "json": None,
        }
        body = self._body(req, label)
        if body is None:
            return None
        result["json"] = body.get("json")
        pending = [
            *self._unresolved(path),
            *self._unresolved(json.dumps(params)),
            *body.get("names", ()),
        ]
        unknown = sorted({n for n in pending if n not in self.set_by_scripts})
        if unknown:
            self.warn(
                f"{label!r}: no variable defines {', '.join('{{' + n + '}}' for n in unknown)}; "
                "skipped."
            )
            return None
        if pending:
            # Filled in by the replay, once the scripts' variables have their values.
            later = {"raw": body["raw"]} if "raw" in body else {}
            later["path"] = path
            result["later"] = later
        return result

    def _carried(self, req: Mapping[str, Any], path: str, label: str) -> bool:
        """False for a token request; warn about the auth block and headers not carried."""
        if path.lower().rstrip("/") == TOKEN_PATH.lower():
            self.warn(
                f"{label!r} is a token request: skipped, the client gets its own token "
                "(same Basic-auth client-credentials request)."
            )
            return False
        if req.get("auth") and (req["auth"] or {}).get("type") not in ("inherit",):
            self.warn(
                f"{label!r}: its {req['auth'].get('type')} auth block is not carried; the "
                "client sends its own token."
            )
        for h in req.get("header") or []:
            if isinstance(h, Mapping) and not h.get("disabled"):
                if str(h.get("key", "")).lower() not in _SENT_ANYWAY:
                    self.warn(f"{label!r}: the header {h.get('key')!r} is not carried.")
        return True

    def _params(self, pairs: list[tuple[str, str]], label: str) -> dict[str, Any]:
        """Query pairs with variables resolved; a repeated key maps to a list."""
        params: dict[str, Any] = {}
        for k, v in pairs:
            k, v = self.resolve(k, label), self.resolve(v, label)
            if k in params:
                prev = params[k]
                params[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
            else:
                params[k] = v
        return params

    def _body(self, req: Mapping[str, Any], label: str) -> dict[str, Any] | None:
        """The body, or None (with a warning) when it cannot be carried.

        ``{}`` for no body, ``{"json": value}``, or ``{"raw": text, "names": [...]}`` while
        it waits for variables that a script of an earlier request sets.
        """
        body = req.get("body")
        if not isinstance(body, Mapping) or body.get("disabled"):
            return {}
        mode = body.get("mode")
        if mode == "raw" and str(body.get("raw") or "").strip():
            return self._raw_body(req, body, label)
        if mode == "urlencoded":
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
        if mode in ("formdata", "file", "graphql"):
            self.warn(f"{label!r}: a {mode} body cannot be carried: skipped.")
            return None
        return {}

    def _raw_body(
        self, req: Mapping[str, Any], body: Mapping[str, Any], label: str
    ) -> dict[str, Any] | None:
        """A raw body as JSON, or kept as text until the replay fills its variables."""
        text = self.resolve(str(body["raw"]), label)
        names = self._unresolved(text)
        if names and set(names) <= self.set_by_scripts:
            return {"raw": text, "names": names}
        if not _declares_json(req, body):
            self.warn(
                f"{label!r}: its raw body is sent as JSON (application/json); "
                "Postman sends it as text/plain, since neither a Content-Type "
                "header nor Body → raw → JSON says otherwise."
            )
        try:
            return {"json": json.loads(text)}
        except ValueError as exc:
            self.warn(
                f"{label!r}: its raw body is not JSON after substituting variables "
                f"({exc.msg} at line {exc.lineno}): skipped, rather than sent "
                "without its body."
            )
            return None

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
            if host and host != PRODUCTION_HOST and not is_loopback_host(host):
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


def _url_parts(url: Any) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
    """A request URL (an object or a string) as address, path variables, query pairs."""
    if not isinstance(url, Mapping):
        raw, _, qs = str(url or "").partition("?")
        return raw, {}, parse_qsl(qs, keep_blank_values=True)
    path_vars: dict[str, str] = {}
    for v in url.get("variable") or []:
        if isinstance(v, Mapping) and v.get("key"):
            path_vars[str(v["key"])] = "" if v.get("value") is None else str(v["value"])
    pairs = [
        (str(q["key"]), "" if q.get("value") is None else str(q["value"]))
        for q in url.get("query") or []
        if isinstance(q, Mapping) and q.get("key") is not None and not q.get("disabled")
    ]
    return _url_without_query(url), path_vars, pairs


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


def from_postman_collection(
    collection: Mapping[str, Any],
    environment: Mapping[str, Any] | None = None,
    *,
    variables: Mapping[str, Any] | None = None,
) -> PostmanImport:
    """Turn a Postman v2.1 collection back into requests a client can replay.

    The work behind :meth:`cerkl_nb.History.from_postman_collection`, which documents
    the parameters and the result.
    """
    return _PostmanImporter(collection, environment, variables).run()
