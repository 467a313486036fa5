"""The sandbox application: one :class:`Request` in, one :class:`Response` out.

:class:`App` owns the state (data, tokens, faults, clock, counters) and sends each
request to its place: the admin API (``admin.py``), the token endpoint
(``token_endpoint.py``), the OpenAPI description, or a resource handler below, chosen by
the route table (``routes.py``). It knows nothing about sockets, so the whole behaviour
can be exercised without a network.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ..spec import (
    API_PREFIX,
    ENVELOPE_VERSION,
    EXAMPLES,
    LOOKUPS,
    MAX_BATCH_ITEMS,
    MAX_PAGE_SIZE,
    OPENAPI_PATH,
    RESOURCES,
    TOKEN_PATH,
    Endpoint,
    Resource,
)
from .admin import Admin
from .faults import Faults, describe_wait
from .filters import parse_filters
from .messages import (
    JSON,
    Problem,
    Request,
    Response,
    error_response,
    json_response,
    loads_strict,
)
from .oauth import OAuthError, TokenService
from .render import LOOKUP_RESOURCES, hint, render_any
from .routes import ROUTES, Router
from .seed import seeded_store
from .settings import SandboxConfig
from .stats import Stats, auth_note, mask_query
from .store import Store
from .token_endpoint import TokenEndpoint, oauth_error

__all__ = ["App", "Request", "Response"]

log = logging.getLogger("cerkl_nb.sandbox")

VERSION = ENVELOPE_VERSION

_HOST_RX = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$")
_SLASHES = re.compile(r"/{2,}")
# A proxy prefix: absolute path segments of URL-safe characters, no dot segments.
_PREFIX_RX = re.compile(r"^(/[A-Za-z0-9_~!$&'()*+,;=:@%-][A-Za-z0-9._~!$&'()*+,;=:@%-]*)+$")
_ID_RX = re.compile(r"^[0-9]{1,15}$")  # ASCII digits only (\d also matches Arabic-Indic)
_ENVELOPE = '{"template": {"version": "3.0", "data": [ {...} ]}}'
_KEY_RX = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")
# ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
_CONTENT_LENGTH = re.compile(r"^[0-9]{1,12}$")


@dataclass
class _Ctx:
    req: Request
    ep: Endpoint
    params: dict[str, str]
    query: dict[str, str]
    base: str
    path: str


class App:
    """The sandbox application, with ``config`` (``None``: the defaults) and the admin
    ``key`` (``None``: a random one). Whoever holds the key can steer the sandbox, so it is
    never shown in a repr, a log line or an answer."""

    def __init__(self, config: SandboxConfig | None = None, *, key: str | None = None) -> None:
        if key is not None and not (isinstance(key, str) and _KEY_RX.match(key)):
            raise ValueError(
                "the sandbox key must be 16 to 256 characters from A-Z a-z 0-9 . _ ~ + / = -"
            )
        self.config = config or SandboxConfig()
        self.key = key or secrets.token_urlsafe(32)
        self.clock_offset_s = 0.0
        self.default_host = "127.0.0.1"
        #: Path prefixes a reverse proxy on this host may serve the sandbox under (e.g.
        #: jupyter-server-proxy's ``/user/NAME/proxy/PORT``); see :meth:`base`.
        self.proxy_prefixes: frozenset[str] = frozenset()
        self.started_at = time.time()
        self.faults = Faults()
        self.stats = Stats()
        self.tokens = TokenService(self.config, self.now)
        self.store = self._new_store()
        self.admin = Admin(self)
        self.token_endpoint = TokenEndpoint(self.config, self.tokens, self.stats, self.faults)
        self._router = Router(ROUTES)
        self._seq = itertools.count(1)

    def __repr__(self) -> str:
        return f"<cerkl_nb.sandbox App on {self.default_host}>"

    def _new_store(self) -> Store:
        return seeded_store(
            subscribers=self.config.subscribers,
            seed=self.config.seed,
            now=self.now,
            reply_to_domain=self.config.reply_to_domain,
            max_records=self.config.max_records,
        )

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        """The server clock: the configured clock plus ``advance_clock`` offsets."""
        clock = self.config.clock
        return (clock.time() if clock is not None else time.time()) + self.clock_offset_s

    # ------------------------------------------------------------------ entry point
    def handle(self, req: Request) -> Response:
        """Answer one request. Never raises; an unexpected error becomes a JSON 500."""
        t0 = time.perf_counter()
        rid = f"sbx-{next(self._seq):08d}"
        try:
            resp = self._dispatch(req)
        except Problem as p:
            resp = error_response(p.status, p.message, p.headers)
        except Exception:
            # A bug in the sandbox. Count it (the fuzz test asserts zero) and answer with
            # a JSON 500 that names the request id, instead of a dropped connection.
            log.exception("internal error in the sandbox (request %s)", rid)
            self.stats.bump("internal_errors")
            resp = error_response(500, f"internal sandbox error (bug); request id {rid}")
        resp.headers.append(("X-Request-Id", rid))
        if req.target.startswith("/_sandbox"):
            # Admin traffic is not counted or logged: stats describe the API's traffic.
            return resp
        self.stats.record(req.method, req.target, resp.status, rid, dropped=resp.drop)
        if log.isEnabledFor(logging.INFO):
            log.info(
                '%s "%s %s" %s %d %.1fms%s',
                req.client_ip,
                req.method,
                mask_query(req.target),
                resp.status,
                len(resp.body),
                1000 * (time.perf_counter() - t0),
                auth_note(req.header("Authorization")),
            )
        return resp

    def protocol_error(
        self, status: int, message: str, method: str = "", target: str = ""
    ) -> Response:
        """A JSON error for a request the HTTP layer rejected before it reached :meth:`handle`."""
        rid = f"sbx-{next(self._seq):08d}"
        resp = error_response(status, message)
        resp.headers.append(("X-Request-Id", rid))
        resp.close = True
        self.stats.bump("protocol_errors")
        self.stats.record(method, target[:200], status, rid)
        return resp

    def check_body(
        self, transfer_encoding: str | None, content_length: list[str], method: str, target: str
    ) -> tuple[Response | None, int]:
        """How many body bytes the HTTP layer may read, or its refusal to read any: a
        chunked body (411), ``Content-Length`` values that disagree or are not ASCII digits
        (400), a body over ``max_body_bytes`` (413)."""
        status, message = 0, ""
        if transfer_encoding is not None:
            status, message = 411, "chunked request bodies are not supported; send Content-Length"
        elif content_length and (
            len(set(content_length)) != 1 or not _CONTENT_LENGTH.match(content_length[0].strip())
        ):
            status, message = 400, "invalid Content-Length header"
        elif content_length and int(content_length[0]) > self.config.max_body_bytes:
            status, message = 413, f"the body is larger than {self.config.max_body_bytes} bytes"
        if status:
            return self.protocol_error(status, message, method, target), 0
        return None, int(content_length[0]) if content_length else 0

    def _dispatch(self, req: Request) -> Response:
        target = req.target
        if target.startswith(("http://", "https://")):
            # absolute-form request target (proxies): keep path and query only
            rest = target.split("://", 1)[1]
            target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        path, _, query = target.partition("?")
        if not path.startswith("/"):
            raise Problem(400, "the request target must start with '/'")
        if "//" in path:
            # Cerkl's own docs write /v3//content_insights; accept doubled slashes.
            path = _SLASHES.sub("/", path)
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]

        if path.startswith("/_sandbox"):
            return self.admin(req, path, self._query(query))
        if path in (OPENAPI_PATH, API_PREFIX + OPENAPI_PATH):
            self._get_only(req)
            return self._openapi(req)
        token = API_PREFIX + TOKEN_PATH  # /v3/oauth/Token
        if path == token or (self.config.lowercase_token_alias and path == token.lower()):
            return self._with_faults("token", req, lambda: self.token_endpoint(req, query))
        if path in ("/", API_PREFIX):
            self._get_only(req)
            return self._index(req)
        if path.startswith(API_PREFIX + "/"):
            self.stats.bump("api_requests")
            rel = path[len(API_PREFIX) :]
            return self._with_faults("api", req, lambda: self._api(req, rel, query))
        raise Problem(404, f"no such path {path!r}; the API lives under /v3 (see /v3/openapi.json)")

    @staticmethod
    def _get_only(req: Request) -> None:
        if req.method not in ("GET", "HEAD"):
            raise Problem(405, "use GET", {"Allow": "GET, HEAD"})

    def _with_faults(self, kind: str, req: Request, serve: Callable[[], Response]) -> Response:
        d = self.faults.decide(kind, self.now()) if self.faults.active else None
        if d is None:
            return serve()
        if d.sleep_s:
            time.sleep(d.sleep_s)
        if d.status is None:
            return serve()
        self.stats.bump("faults_injected")
        h = {"Retry-After": d.retry_after} if d.retry_after is not None else {}
        msg = f"injected fault ({d.reason}): the sandbox answered {d.status} on purpose"
        wait = describe_wait(d.retry_after, self.now())
        if wait:
            # Say how long, in words, as the client's RateLimited does: a Retry-After of
            # days should not look like "try again".
            msg += f"; {wait}"
        if kind == "token":
            self.stats.bump("token_requests")
            code = "temporarily_unavailable" if d.status in (429, 503) else "server_error"
            return oauth_error(OAuthError(d.status, code, msg), h)
        return error_response(d.status, msg, h)

    # ------------------------------------------------------------------ helpers
    def set_proxy_prefixes(self, prefixes: list[str] | tuple[str, ...]) -> None:
        """Accept ``X-Forwarded-Prefix`` with exactly one of ``prefixes`` (``ValueError``
        for one that is not an absolute path of URL-safe segments)."""
        clean = set()
        for p in prefixes:
            p = p.rstrip("/")
            if not _PREFIX_RX.match(p) or "/./" in p + "/" or "/../" in p + "/":
                raise ValueError(f"not a usable proxy prefix: {p!r} (an absolute URL path)")
            clean.add(p)
        self.proxy_prefixes = frozenset(clean)

    def base(self, req: Request) -> str:
        """The API base URL as this request addressed the sandbox (Host, else our own).

        Behind a proxy that serves the sandbox under a path (jupyter-server-proxy on a
        hub), links carry ``X-Forwarded-Prefix``, but only from this host and only when it
        is exactly a configured prefix (:meth:`set_proxy_prefixes`), so a page cannot point
        the links of an answer anywhere else.
        """
        host = req.header("Host")
        if not host or not _HOST_RX.match(host):
            host = self.default_host
        scheme, prefix = "http", ""
        if self.proxy_prefixes and req.from_loopback():
            wanted = (req.header("X-Forwarded-Prefix") or "").rstrip("/")
            if wanted in self.proxy_prefixes:
                prefix = wanted
                proto = (req.header("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
                scheme = "https" if proto == "https" else "http"
        return f"{scheme}://{host}{prefix}{API_PREFIX}"

    def _index(self, req: Request) -> Response:
        base = self.base(req)
        name = "cerkl-nb sandbox: a local imitation of the Cerkl Broadcast API v3"
        urls = {
            "api_base": base,
            "token_url": base + TOKEN_PATH,
            "openapi_url": base + OPENAPI_PATH,
        }
        docs = "docs/sandbox.md in the cerkl-nb repository"
        return json_response(200, {"name": name, **urls, "docs": docs})

    def _openapi(self, req: Request) -> Response:
        from .openapi import build_openapi  # only when asked: it is the largest module

        return json_response(200, build_openapi(self.base(req)))

    # ------------------------------------------------------------------ API
    def _api(self, req: Request, path: str, query: str) -> Response:
        found = self._router.match(req.method, path)
        if isinstance(found, Response):  # OPTIONS
            return found
        route, params = found
        if route.endpoint.kind == "token":  # served before routing; another casing is not it
            raise Problem(404, f"no such endpoint: /v3{path} (the token URL is /v3/oauth/Token)")
        self._require_bearer(req, query)
        ctx = _Ctx(req, route.endpoint, params, self._query(query), self.base(req), path)
        return getattr(self, route.handler)(ctx)

    def _require_bearer(self, req: Request, query: str) -> None:
        if "access_token=" in query:
            raise Problem(
                400,
                "do not put the access token in the URL (it leaks into logs); "
                "send it as Authorization: Bearer <token>",
            )
        parts = (req.header("Authorization") or "").split(None, 1)
        if not parts:
            why = (
                "no access token: send Authorization: Bearer <token> (get one from /v3/oauth/Token)"
            )
        elif len(parts) != 2 or parts[0].lower() != "bearer":
            why = "expected Authorization: Bearer <token>"
        else:
            why = self.tokens.check_bearer(parts[1].strip())[1]
        if why:
            challenge = (
                f'Bearer realm="cerkl-sandbox", error="invalid_token", error_description="{why}"'
            )
            raise Problem(401, why, {"WWW-Authenticate": challenge})

    @staticmethod
    def _query(query: str) -> dict[str, str]:
        if not query:
            return {}
        out: dict[str, str] = {}
        try:
            pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=100)
        except ValueError:
            raise Problem(400, "too many query parameters") from None
        for k, v in pairs:
            if k in out and k in ("page", "page_size", "filters_json"):
                raise Problem(400, f"query parameter {k!r} is repeated")
            out[k] = v
        return out

    @staticmethod
    def _id(ctx: _Ctx, name: str = "id") -> int:
        raw = ctx.params[name]
        if not _ID_RX.match(raw):
            raise Problem(400, f"{name} in the path must be a positive integer, got {raw[:40]!r}")
        return int(raw)

    def _paging(self, ctx: _Ctx) -> tuple[int, int]:
        q = ctx.query
        page, size = q.get("page", "1"), q.get("page_size", str(MAX_PAGE_SIZE))
        if not _ID_RX.match(page) or int(page) < 1:
            raise Problem(400, f"page must be an integer >= 1, got {page[:40]!r}")
        if not _ID_RX.match(size) or not (1 <= int(size) <= MAX_PAGE_SIZE):
            raise Problem(
                400, f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {size[:40]!r}"
            )
        return int(page), int(size)

    def _single(self, status: int, res: Resource, recs: list[dict], ctx: _Ctx) -> Response:
        data = [render_any(res, r, ctx.base) for r in recs]
        href = (
            data[0].get("self") if len(data) == 1 and "self" in data[0] else f"{ctx.base}{ctx.path}"
        )
        h = [("Location", href)] if status == 201 and len(data) == 1 else None
        return json_response(status, {"version": VERSION, "href": href, "data": data}, h)

    def _page(self, ctx: _Ctx, res: Resource, rows: Collection[dict]) -> Response:
        """One page of ``rows`` (in id order), filtered by ``filters_json`` where it applies."""
        page, size = self._paging(ctx)
        preds = parse_filters(ctx.query.get("filters_json"), res) if ctx.ep.filterable else []
        start = (page - 1) * size
        with self.store.lock:  # rows may be a view of the stored data
            if preds:
                rows = [r for r in rows if all(p(r) for p in preds)]
            total = len(rows)
            data = [
                render_any(res, r, ctx.base) for r in itertools.islice(rows, start, start + size)
            ]
        link_q = {"filters_json": ctx.query["filters_json"]} if "filters_json" in ctx.query else {}

        def url(p: int) -> str:
            return f"{ctx.base}{ctx.path}?" + urlencode({"page": p, "page_size": size, **link_q})

        links = {
            "self": url(page),
            "next": url(page + 1) if start + size < total else None,
            "prev": url(page - 1) if page > 1 else None,
        }
        body = {"version": VERSION, "href": links["self"], "data": data, "page": page}
        return json_response(200, {**body, "page_size": size, "total": total, "links": links})

    def _template_items(self, ctx: _Ctx) -> list:
        """The items of the request's ``{"template": {"version", "data": [...]}}`` body."""
        ctype = ctx.req.content_type()
        if ctype != JSON and not ctype.endswith("+json"):
            raise Problem(
                415, f"send the body as application/json (got {ctype or 'no Content-Type'})"
            )
        if not ctx.req.body:
            raise Problem(400, f"the body is empty; send {_ENVELOPE}")
        try:
            body = loads_strict(ctx.req.body)
        except UnicodeDecodeError:
            raise Problem(400, "the body is not valid UTF-8") from None
        except RecursionError:
            raise Problem(400, "the JSON body is nested too deeply") from None
        except ValueError as e:
            raise Problem(400, f"malformed JSON: {e}") from None
        if not isinstance(body, dict) or "template" not in body:
            raise Problem(400, f"the body must be {_ENVELOPE}")
        tpl = body["template"]
        if not isinstance(tpl, dict):
            raise Problem(400, "template must be an object with version and data")
        if "data" not in tpl:
            raise Problem(400, "template.data is missing: it must be a list of objects")
        data = tpl["data"]
        if not isinstance(data, list):
            raise Problem(400, "template.data must be a list (even for one object)")
        if not data:
            raise Problem(400, "template.data is empty")
        if len(data) > MAX_BATCH_ITEMS:
            raise Problem(400, f"template.data holds more than {MAX_BATCH_ITEMS} items")
        # Any template.version is accepted (Cerkl's own examples say "string"); we echo 3.0.
        return data

    # handlers ----------------------------------------------------------------
    def list_collection(self, ctx: _Ctx) -> Response:
        res = RESOURCES[str(ctx.ep.model)]
        return self._page(ctx, res, self.store.data[res.self_path].values())

    def get_one(self, ctx: _Ctx) -> Response:
        res = RESOURCES[str(ctx.ep.model)]
        with self.store.lock:
            return self._single(200, res, [self.store.get(res, self._id(ctx))], ctx)

    def create(self, ctx: _Ctx) -> Response:
        res = RESOURCES[str(ctx.ep.model)]
        return self._single(201, res, self.store.create(res, self._template_items(ctx)), ctx)

    def update(self, ctx: _Ctx) -> Response:
        res, rid = RESOURCES[str(ctx.ep.model)], self._id(ctx)
        self.store.get(res, rid)  # 404 before body errors
        items = self._template_items(ctx)
        if len(items) != 1:
            raise Problem(400, "a PUT updates one object: template.data must hold exactly one item")
        return self._single(200, res, [self.store.update(res, rid, items[0])], ctx)

    def delete(self, ctx: _Ctx) -> Response:
        self.store.delete(RESOURCES[str(ctx.ep.model)], self._id(ctx))
        return Response(204)

    def template(self, ctx: _Ctx) -> Response:
        res = RESOURCES.get(str(ctx.ep.model))
        hints = {f.name: hint(f) for f in res.writable} if res is not None else {}
        example = {"version": VERSION, "data": [EXAMPLES.get(str(ctx.ep.model), {})]}
        body = {"template": {"version": VERSION, "data": [hints]}, "example": {"template": example}}
        return json_response(200, {**body, "x-sandbox-only": True})

    def subscriber_interest(self, ctx: _Ctx) -> Response:
        sid = self._id(ctx)
        with self.store.lock:
            if sid not in self.store.data["subscriber"]:
                raise Problem(404, f"there is no subscriber with id {sid}")
            rows = self.store.interest_rows(sid)
        res = RESOURCES["subscriber_interest"]
        return self._page(ctx, res, rows)

    def segment_members(self, ctx: _Ctx) -> Response:
        gid = self._id(ctx)
        with self.store.lock:
            self.store.get(RESOURCES["segment"], gid)
            members = self.store.members[gid]
            subs = self.store.data["subscriber"]
            rows = [subs[s] for s in sorted(members) if s in subs]
        return self._page(ctx, RESOURCES["subscriber"], rows)

    def add_member(self, ctx: _Ctx) -> Response:
        gid = self._id(ctx)
        self.store.get(RESOURCES["segment"], gid)  # 404 before body errors
        sub = self.store.add_member(gid, Store.member_id(self._template_items(ctx)))
        return self._single(201, RESOURCES["subscriber"], [sub], ctx)

    def remove_member(self, ctx: _Ctx) -> Response:
        self.store.remove_member(self._id(ctx), self._id(ctx, "subscriber_id"))
        return Response(204)

    def remove_member_body(self, ctx: _Ctx) -> Response:
        gid = self._id(ctx)
        self.store.get(RESOURCES["segment"], gid)  # 404 before body errors
        self.store.remove_member(gid, Store.member_id(self._template_items(ctx)))
        return Response(204)

    def category_subscribers(self, ctx: _Ctx) -> Response:
        cid = self._id(ctx)
        with self.store.lock:
            self.store.get(RESOURCES["category"], cid)
            rows = self.store.category_subscribers(cid)
        return self._page(ctx, RESOURCES["subscriber"], rows)

    def insights(self, ctx: _Ctx) -> Response:
        res = RESOURCES[str(ctx.ep.model)]
        with self.store.lock:
            rows = (
                self.store.content_insight_rows()
                if res.name == "content_insights"
                else self.store.subscriber_insight_rows()
            )
        return self._page(ctx, res, rows)

    def lookup_list(self, ctx: _Ctx) -> Response:
        name = ctx.ep.model
        rows = [{"id": i, "description": d} for i, d in LOOKUPS[name]]
        return self._page(ctx, LOOKUP_RESOURCES[name], rows)

    def lookup_get(self, ctx: _Ctx) -> Response:
        name = ctx.ep.model
        rid = self._id(ctx)
        for i, d in LOOKUPS[name]:
            if i == rid:
                row = {"id": i, "description": d}
                return self._single(200, LOOKUP_RESOURCES[name], [row], ctx)
        raise Problem(404, f"there is no {name} with id {rid}")

    # ------------------------------------------------------------------ state
    def apply_config(self, **changes: Any) -> None:
        """Change settings live; ``subscribers``/``seed``/``reply_to_domain`` re-seed the data."""
        new = self.config.replace(**changes)  # validates, and turns client dicts into ClientSpec
        reseed = any(
            getattr(new, k) != getattr(self.config, k)
            for k in ("subscribers", "seed", "reply_to_domain")
        )
        # Mutate in place: the token service holds a reference to the same object.
        for k in changes:
            setattr(self.config, k, getattr(new, k))
        self.tokens.reload_clients()
        if reseed:
            self.store = self._new_store()
        self.store.max_records = self.config.max_records

    def reset(self) -> None:
        """Re-seed the data, forget all tokens, clear faults, stats and clock offset."""
        self.store = self._new_store()
        self.tokens.forget_all()
        self.faults.clear()
        self.clock_offset_s = 0.0
        self.stats.reset()
