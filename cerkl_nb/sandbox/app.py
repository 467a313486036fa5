"""The sandbox application: routing, the token endpoint, the resources, admin, faults.

:class:`App` turns one :class:`Request` into one :class:`Response`. It knows nothing
about sockets, so the HTTP server (``server.py``) stays small and the whole behaviour can
be exercised without a network. The route table :data:`ROUTES` is the single source of
truth: the dispatcher matches against it and ``openapi.py`` describes it, so the
description cannot drift from what is served.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ..redact import redact
from .config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ClientSpec, SandboxConfig
from .faults import Faults
from .oauth import OAuthError, TokenService
from .resources import CONTENT_TYPES, EXAMPLES, LOOKUP, LOOKUPS, RESOURCES, Resource
from .store import Problem, Store, format_date, parse_filters

__all__ = ["App", "Request", "Response", "Route", "ROUTES", "API_PREFIX", "TOKEN_PATH"]

log = logging.getLogger("cerkl_nb.sandbox")

API_PREFIX = "/v3"
TOKEN_PATH = "/v3/oauth/Token"
MAX_PAGE_SIZE = 100
VERSION = "3.0"

_JSON = "application/json"
_HOST_RX = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$")
_SLASHES = re.compile(r"/{2,}")
_ID_RX = re.compile(r"^[0-9]{1,15}$")  # ASCII digits only (\d also matches Arabic-Indic)


# --------------------------------------------------------------------------- messages


@dataclass
class Request:
    """One parsed HTTP request.

    Attributes
    ----------
    method
        Upper-case method.
    target
        The request target exactly as sent (path and query).
    headers
        A case-insensitive mapping with ``get(name)`` (``http.client.HTTPMessage`` or
        a ``dict`` with lower-case keys).
    body
        The raw body.
    client_ip
        The peer address.
    """

    method: str
    target: str
    headers: Any
    body: bytes = b""
    client_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        h = self.headers
        v = h.get(name)
        if v is None and isinstance(h, dict):
            v = h.get(name.lower())
        return v


@dataclass
class Response:
    """What to send back. ``drop=True`` closes the connection without answering."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    drop: bool = False


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    h = [("Content-Type", _JSON)]
    if headers:
        h.extend(headers)
    return Response(status, _dumps(obj), h)


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The API error body chosen for the sandbox (facts §4 R5)."""
    return json_response(
        status,
        {"error": {"code": status, "message": message}},
        list((headers or {}).items()),
    )


def oauth_error(err: OAuthError) -> Response:
    """An RFC 6749 §5.2 error body, with ``WWW-Authenticate: Basic`` on 401."""
    h = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    if err.status == 401:
        h.append(("WWW-Authenticate", 'Basic realm="cerkl-sandbox", charset="UTF-8"'))
    return json_response(err.status, {"error": err.error, "error_description": err.description}, h)


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    """One operation the sandbox serves (and describes in OpenAPI).

    Attributes
    ----------
    method, path
        ``GET`` and ``/subscriber/{id}`` (relative to ``/v3``).
    handler
        Name of the :class:`App` method that serves it.
    tag
        OpenAPI tag (the explorer groups by it).
    resource
        Key into :data:`RESOURCES` (or a lookup name) describing the items.
    kind
        ``list``, ``get``, ``create``, ``update``, ``delete``, ``template``, ``token``,
        ``add_member``, ``remove_member``, ``remove_member_body``.
    sandbox_only
        Not part of Cerkl's documented API (``x-sandbox-only`` in OpenAPI).
    """

    method: str
    path: str
    handler: str
    tag: str
    summary: str
    resource: str | None = None
    kind: str = "get"
    sandbox_only: bool = False
    filterable: bool = True
    description: str = ""

    @property
    def operation_id(self) -> str:
        if self.kind == "template":  # /blast/template must not clash with /blast_template
            return f"get_{self.resource}_body_template"
        slug = re.sub(r"[{}]", "", self.path).strip("/").replace("/", "_") or "root"
        return f"{self.method.lower()}_{slug}"


def _build_routes() -> list[Route]:
    r: list[Route] = []

    def add(method: str, path: str, handler: str, tag: str, summary: str, res: str | None,
            kind: str, only: bool = False, **kw: Any) -> None:  # fmt: skip
        r.append(Route(method, path, handler, tag, summary, res, kind, only, **kw))

    def crud(name: str, plural: str, ops: str = "LCGUD", template: bool = True) -> None:
        # L list, C create, G get, U update, D delete: the usual shape of a Cerkl resource.
        if template:
            add("GET", f"/{name}/template", "template", name, f"Template for {name} bodies",
                name, "template", True)  # fmt: skip
        if "L" in ops:
            add("GET", f"/{name}", "list_collection", name, f"List {plural}", name, "list")
        if "C" in ops:
            add("POST", f"/{name}", "create", name, f"Create {plural}", name, "create")
        if "G" in ops:
            add("GET", f"/{name}/{{id}}", "get_one", name, f"Get one {name}", name, "get")
        if "U" in ops:
            add("PUT", f"/{name}/{{id}}", "update", name, f"Update a {name}", name, "update")
        if "D" in ops:
            add("DELETE", f"/{name}/{{id}}", "delete", name, f"Delete a {name}", name, "delete")

    r.append(Route("POST", "/oauth/Token", "token", "oauth", "Get an access token", kind="token"))

    crud("subscriber", "subscribers")
    r[-1] = Route(
        "DELETE", "/subscriber/{id}", "delete", "subscriber", "Delete (unsubscribe) a subscriber",
        "subscriber", "delete",
        description="The subscriber becomes an /unsubscribe record with the same id.",
    )  # fmt: skip
    add("GET", "/subscriber/{id}/subscriber_interest", "subscriber_interest", "subscriber",
        "Categories a subscriber cares most about", "subscriber_interest", "list")  # fmt: skip
    crud("unsubscribe", "former subscribers", "LG", template=False)

    crud("segment", "segments")
    add("GET", "/segment/{id}/subscriber", "segment_members", "segment",
        "List a segment's members", "subscriber", "list")  # fmt: skip
    add("POST", "/segment/{id}/subscriber", "add_member", "segment",
        "Add one subscriber to a segment", "segment_member", "add_member")  # fmt: skip
    add("DELETE", "/segment/{id}/subscriber", "remove_member_body", "segment",
        "Remove a subscriber from a segment (id in the body)", "segment_member",
        "remove_member_body", filterable=False)  # fmt: skip
    add("DELETE", "/segment/{id}/subscriber/{subscriber_id}", "remove_member", "segment",
        "Remove a subscriber from a segment", None, "remove_member")  # fmt: skip

    crud("category", "categories")
    add("GET", "/category/{id}/subscriber", "category_subscribers", "category",
        "Subscribers interested in a category", "subscriber", "list")  # fmt: skip

    crud("blast", "blasts")
    i = next(n for n, rt in enumerate(r) if rt.path == "/blast" and rt.method == "POST")
    r[i] = Route(
        "POST", "/blast", "create", "blast", "Create blasts", "blast", "create",
        description="Status 2 (Sending now) is recorded as sent (4) at once; nobody is emailed.",
    )  # fmt: skip

    # Content: one read side, four write sides (reads of stories etc. go through /content).
    crud("content", "content (all types)", "LG", template=False)
    for ctype in CONTENT_TYPES:
        crud(ctype, f"{ctype} content", "CUD")

    add("GET", "/content_insights", "insights", "insights", "Engagement per piece of content",
        "content_insights", "list")  # fmt: skip
    add("GET", "/subscriber_insights", "insights", "insights", "Engagement per subscriber",
        "subscriber_insights", "list")  # fmt: skip

    # Lookup lists. Only three are documented by Cerkl; the rest are sandbox inventions.
    documented = {"subscriber_privacy_level", "subscriber_status", "blast_status"}
    for name in LOOKUPS:
        add("GET", f"/{name}", "lookup_list", "lookup", f"List {name} values", name, "list",
            name not in documented)  # fmt: skip
        add("GET", f"/{name}/{{id}}", "lookup_get", "lookup", f"Get one {name} value", name,
            "get", True)  # fmt: skip
    return r


ROUTES: list[Route] = _build_routes()


def _compile(routes: list[Route]) -> list[tuple[re.Pattern[str], list[Route]]]:
    # Group by path so a path matched with the wrong method gives 405 + Allow. Static
    # paths ("/subscriber/template") come before parametrised ones ("/subscriber/{id}").
    groups: dict[str, list[Route]] = {}
    for rt in routes:
        groups.setdefault(rt.path, []).append(rt)
    ordered = sorted(groups, key=lambda p: ("{" in p, p.count("{"), p))
    out = []
    for p in ordered:
        rx = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", p) + "$"
        out.append((re.compile(rx), groups[p]))
    return out


# --------------------------------------------------------------------------- stats


class Stats:
    """Counters for ``GET /_sandbox/stats`` (tests assert on them)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.c: collections.Counter[str] = collections.Counter()
            self.statuses: collections.Counter[str] = collections.Counter()
            self.token_errors: collections.Counter[str] = collections.Counter()
            self.grants_issued: collections.Counter[str] = collections.Counter()
            self.ring.clear()
            self.since = time.time()

    def bump(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.c[key] += n


# --------------------------------------------------------------------------- the app


@dataclass
class _Ctx:
    req: Request
    route: Route
    params: dict[str, str]
    query: dict[str, str]
    base: str
    path: str


class App:
    """The sandbox application.

    Parameters
    ----------
    config
        Settings; ``None`` means the defaults.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.clock_offset_s = 0.0
        self.default_host = "127.0.0.1"
        self.started_at = time.time()
        self.faults = Faults()
        self.stats = Stats()
        self.tokens = TokenService(self.config, self.now)
        self.store = self._new_store()
        self._routes = _compile(ROUTES)
        self._seq = itertools.count(1)
        self._spec_cache: dict[str, bytes] = {}
        self._admin: dict[tuple[str, str], Callable[[Request, dict[str, str]], Response]] = {
            ("GET", "/_sandbox/health"): self._a_health,
            ("GET", "/_sandbox/stats"): self._a_stats,
            ("POST", "/_sandbox/reset-stats"): self._a_reset_stats,
            ("GET", "/_sandbox/log"): self._a_log,
            ("GET", "/_sandbox/faults"): self._a_get_faults,
            ("POST", "/_sandbox/faults"): self._a_set_faults,
            ("DELETE", "/_sandbox/faults"): self._a_clear_faults,
            ("GET", "/_sandbox/clock"): self._a_get_clock,
            ("POST", "/_sandbox/clock"): self._a_clock,
            ("POST", "/_sandbox/revoke"): self._a_revoke,
            ("GET", "/_sandbox/clients"): self._a_get_clients,
            ("POST", "/_sandbox/clients"): self._a_clients,
            ("GET", "/_sandbox/config"): self._a_get_config,
            ("POST", "/_sandbox/config"): self._a_config,
            ("POST", "/_sandbox/reset"): self._a_reset,
        }

    def _new_store(self) -> Store:
        return Store(
            subscribers=self.config.subscribers,
            seed=self.config.seed,
            now=self.now,
            reply_to_domain=self.config.reply_to_domain,
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
            resp = api_error(p.status, p.message, p.headers)
        except Exception:
            # A bug in the sandbox. Count it (the fuzz test asserts zero) and answer with
            # a JSON 500 that names the request id, instead of a dropped connection.
            log.exception("internal error in the sandbox (request %s)", rid)
            self.stats.bump("internal_errors")
            resp = api_error(500, f"internal sandbox error (bug); request id {rid}")
        resp.headers.append(("X-Request-Id", rid))
        if req.target.startswith("/_sandbox"):
            # Admin traffic is not counted or logged: stats describe the API's traffic.
            return resp
        st = self.stats
        with st.lock:
            st.c["requests_total"] += 1
            st.statuses[str(resp.status) if not resp.drop else "dropped"] += 1
            # Method and target only: never headers. Tests use this to prove that no
            # token ever travels in a URL (checklist H7).
            st.ring.append(
                {
                    "method": req.method,
                    "target": req.target,
                    "status": resp.status,
                    "request_id": rid,
                }
            )
        if log.isEnabledFor(logging.INFO):
            auth = req.header("Authorization")
            log.info(
                redact(
                    f'{req.client_ip} "{req.method} {req.target}" {resp.status} '
                    f"{len(resp.body)} {1000 * (time.perf_counter() - t0):.1f}ms"
                    + (f" authorization={auth!r}" if auth else "")
                )
            )
        return resp

    def protocol_error(
        self, status: int, message: str, method: str = "", target: str = ""
    ) -> Response:
        """A JSON error for a request the HTTP layer rejected before it reached :meth:`handle`."""
        rid = f"sbx-{next(self._seq):08d}"
        resp = api_error(status, message)
        resp.headers.append(("X-Request-Id", rid))
        resp.close = True
        with self.stats.lock:
            self.stats.c["requests_total"] += 1
            self.stats.c["protocol_errors"] += 1
            self.stats.statuses[str(status)] += 1
            self.stats.ring.append(
                {"method": method, "target": target[:200], "status": status, "request_id": rid}
            )
        return resp

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
            return self._admin_dispatch(req, path, query)
        if path in ("/openapi.json", "/v3/openapi.json"):
            if req.method not in ("GET", "HEAD"):
                raise Problem(405, "use GET", {"Allow": "GET, HEAD"})
            return self._openapi(req)
        if path == TOKEN_PATH or (self.config.lowercase_token_alias and path == "/v3/oauth/token"):
            return self._with_faults("token", req, lambda: self._token(req, query))
        if path in ("/", "/v3"):
            if req.method not in ("GET", "HEAD"):
                raise Problem(405, "use GET", {"Allow": "GET, HEAD"})
            return self._index(req)
        if path.startswith("/v3/"):
            self.stats.bump("api_requests")
            return self._with_faults("api", req, lambda: self._api(req, path[3:], query))
        raise Problem(404, f"no such path {path!r}; the API lives under /v3 (see /v3/openapi.json)")

    def _with_faults(self, kind: str, req: Request, serve: Callable[[], Response]) -> Response:
        d = self.faults.decide(kind, self.now()) if self.faults.active else None
        if d is not None:
            if d.sleep_s:
                time.sleep(d.sleep_s)
            if d.status is not None:
                self.stats.bump("faults_injected")
                if kind == "token":
                    self.stats.bump("token_requests")
                h = {"Retry-After": d.retry_after} if d.retry_after is not None else {}
                msg = f"injected fault ({d.reason}): the sandbox answered {d.status} on purpose"
                if kind == "token":
                    code = "temporarily_unavailable" if d.status in (429, 503) else "server_error"
                    r = json_response(
                        d.status,
                        {"error": code, "error_description": msg},
                        [("Cache-Control", "no-store"), *h.items()],
                    )
                    return r
                return api_error(d.status, msg, h)
        return serve()

    # ------------------------------------------------------------------ helpers
    def _base(self, req: Request) -> str:
        host = req.header("Host")
        if not host or not _HOST_RX.match(host):
            host = self.default_host
        return f"http://{host}{API_PREFIX}"

    def _index(self, req: Request) -> Response:
        base = self._base(req)
        return json_response(
            200,
            {
                "name": "cerkl-nb sandbox: a local imitation of the Cerkl Broadcast API v3",
                "api_base": base,
                "token_url": base + "/oauth/Token",
                "openapi_url": base + "/openapi.json",
                "docs": "docs/sandbox.md in the cerkl-nb repository",
            },
        )

    def _openapi(self, req: Request) -> Response:
        base = self._base(req)
        body = self._spec_cache.get(base)
        if body is None:
            from .openapi import build_openapi

            body = json.dumps(build_openapi(base), separators=(",", ":")).encode()
            if len(self._spec_cache) > 16:
                self._spec_cache.clear()
            self._spec_cache[base] = body
        return Response(200, body, [("Content-Type", _JSON)])

    # ------------------------------------------------------------------ token endpoint
    def _token(self, req: Request, query: str) -> Response:
        self.stats.bump("token_requests")
        try:
            if req.method != "POST":
                raise OAuthError(405, "invalid_request", "the token endpoint only accepts POST")
            body, grant = self._token_inner(req, query)
        except OAuthError as e:
            with self.stats.lock:
                self.stats.token_errors[e.error] += 1
            r = oauth_error(e)
            if e.status == 405:
                r.headers.append(("Allow", "POST"))
            return r
        with self.stats.lock:
            self.stats.grants_issued[grant] += 1
        r = json_response(200, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
        if grant == "refresh_token" and self.faults.take_drop_refresh():
            # Checklist R6: the refresh happened (old token retired) but the answer is lost.
            self.stats.bump("faults_injected")
            r.drop = True
        return r

    def _token_inner(self, req: Request, query: str) -> tuple[dict, str]:
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise OAuthError(
                400,
                "invalid_request",
                "send the token request as application/x-www-form-urlencoded form data "
                f"(got {ctype or 'no Content-Type'})",
            )
        if query:
            try:
                qnames = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
            except ValueError:
                qnames = set()
            if qnames & {
                "client_id",
                "client_secret",
                "grant_type",
                "refresh_token",
                "access_token",
            }:
                raise OAuthError(
                    400,
                    "invalid_request",
                    "credentials and grant parameters belong in the POST body, never in the URL",
                )
        try:
            text = req.body.decode("utf-8")
            pairs = parse_qsl(
                text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=50
            )
        except (UnicodeDecodeError, ValueError):
            raise OAuthError(
                400,
                "invalid_request",
                "the body is not valid UTF-8 form data (or has too many fields)",
            ) from None
        params: dict[str, str] = {}
        for k, v in pairs:
            if k in params:
                raise OAuthError(400, "invalid_request", f"parameter {k!r} is repeated")
            params[k] = v

        auth = req.header("Authorization")
        body_id, body_secret = params.get("client_id"), params.get("client_secret")
        if auth is not None and body_secret is not None:
            raise OAuthError(
                400,
                "invalid_request",
                "the client authenticated in more than one way (Basic header and "
                "client_secret in the body); use exactly one",
            )
        grant = params.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", "grant_type is missing")
        if grant in ("client_credentials", "refresh_token"):
            self.stats.bump(grant)
        else:
            raise OAuthError(
                400,
                "unsupported_grant_type",
                f"grant_type {grant[:40]!r} is not supported; "
                "use client_credentials or refresh_token",
            )

        client = self._authenticate_client(auth, body_id, body_secret)
        scope = params.get("scope")
        if scope and scope.strip():
            raise OAuthError(400, "invalid_scope", "Cerkl API v3 has no scopes; leave scope out")
        if grant == "client_credentials":
            return self.tokens.issue(client), grant
        rt = params.get("refresh_token")
        if not rt:
            raise OAuthError(400, "invalid_request", "refresh_token is missing")
        try:
            body, _ = self.tokens.refresh_grant(client, rt)
        except OAuthError as e:
            if "already used" in e.description:
                self.stats.bump("refresh_token_reuse")
            raise
        return body, grant

    def _authenticate_client(
        self, auth: str | None, body_id: str | None, body_secret: str | None
    ) -> ClientSpec:
        if auth is not None:
            candidates = self.tokens.parse_basic(auth)
            if body_id is not None and body_id not in {c[0] for c in candidates}:
                raise OAuthError(
                    400, "invalid_request", "client_id in the body differs from the Basic header"
                )
        elif body_id is not None:
            if body_secret is None:
                raise OAuthError(401, "invalid_client", "client_secret is missing")
            candidates = [(body_id, body_secret)]
        else:
            raise OAuthError(
                401,
                "invalid_client",
                "no client authentication: send HTTP Basic (curl -u id:secret) or "
                "client_id and client_secret form fields",
            )
        for cid, secret in candidates:
            client = self.tokens.authenticate(cid, secret)
            if client is not None:
                return client
        hint = ""
        if auth is not None and self.config.basic_auth_encoding != "either":
            # Would the other Basic encoding have worked? Say so: it is the classic trap.
            mode = self.config.basic_auth_encoding
            other = "rfc6749" if mode == "raw" else "raw"
            alt = self.tokens.parse_basic(auth, mode=other)
            if any(self.tokens.authenticate(c, s) for c, s in alt):
                hint = (
                    f" (this sandbox decodes Basic credentials as {mode!r}; your client "
                    f"seems to encode them as {other!r}: check the basic_auth_encoding setting)"
                )
        raise OAuthError(
            401,
            "invalid_client",
            "client authentication failed: unknown client or wrong secret" + hint,
        )

    # ------------------------------------------------------------------ API
    def _api(self, req: Request, path: str, query: str) -> Response:
        method = req.method
        for rx, group in self._routes:
            m = rx.match(path)
            if m is None:
                continue
            route = None
            for rt in group:
                if rt.method == method or (method == "HEAD" and rt.method == "GET"):
                    route = rt
                    break
            if route is None:
                allow = sorted(
                    {rt.method for rt in group}
                    | ({"HEAD"} if any(rt.method == "GET" for rt in group) else set())
                )
                if method == "OPTIONS":
                    return Response(204, b"", [("Allow", ", ".join([*allow, "OPTIONS"]))])
                raise Problem(
                    405,
                    f"{method} is not allowed on /v3{path}; allowed: {', '.join(allow)}",
                    {"Allow": ", ".join(allow)},
                )
            if route.kind == "token":  # pragma: no cover - served before routing
                break
            self._require_bearer(req, query)
            ctx = _Ctx(req, route, m.groupdict(), self._query(query), self._base(req), path)
            return getattr(self, route.handler)(ctx)
        raise Problem(404, f"no such endpoint: /v3{path} (see /v3/openapi.json for the list)")

    def _require_bearer(self, req: Request, query: str) -> None:
        if "access_token=" in query:
            raise Problem(
                400,
                "do not put the access token in the URL (it leaks into logs); "
                "send it as Authorization: Bearer <token>",
            )
        auth = req.header("Authorization")
        reason = None
        if not auth:
            reason = (
                "no access token: send Authorization: Bearer <token> (get one from /v3/oauth/Token)"
            )
        else:
            parts = auth.split(None, 1)
            if len(parts) != 2 or parts[0].lower() != "bearer":
                reason = "expected Authorization: Bearer <token>"
            else:
                rec, why = self.tokens.check_bearer(parts[1].strip())
                if rec is None:
                    reason = why
        if reason is not None:
            raise Problem(
                401,
                reason,
                {
                    "WWW-Authenticate": 'Bearer realm="cerkl-sandbox", error="invalid_token", '
                    f'error_description="{reason}"'
                },
            )

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

    # rendering -------------------------------------------------------------
    def render(self, res: Resource, rec: dict, base: str) -> dict:
        """Turn a stored record into its JSON form (references as {"id", "self"})."""
        out: dict[str, Any] = {}
        for f in res.fields:
            if f.name == "self":
                out["self"] = f"{base}/{res.self_path}/{rec['id']}"
                continue
            v = rec.get(f.name)
            k = f.kind
            if v is None:
                out[f.name] = [] if k in ("refs", "merge_fields") else None
            elif k == "ref":
                out[f.name] = {"id": v, "self": f"{base}/{f.target}/{v}"}
            elif k == "refs":
                out[f.name] = [{"id": i, "self": f"{base}/{f.target}/{i}"} for i in v]
            elif k == "merge_fields":
                out[f.name] = [
                    {
                        "id": m["id"],
                        "type": {"id": m["type"], "self": f"{base}/merge_field_type/{m['type']}"},
                        "value": m["value"],
                    }
                    for m in v
                ]
            else:
                out[f.name] = v
        return out

    def _render_any(self, res: Resource, rec: dict, base: str) -> dict:
        if res.self_path == "content" and rec.get("content_type") in CONTENT_TYPES:
            res = CONTENT_TYPES[rec["content_type"]]
        return self.render(res, rec, base)

    def _single(self, status: int, res: Resource, recs: list[dict], ctx: _Ctx) -> Response:
        data = [self._render_any(res, r, ctx.base) for r in recs]
        href = (
            data[0].get("self") if len(data) == 1 and "self" in data[0] else f"{ctx.base}{ctx.path}"
        )
        h = [("Location", href)] if status == 201 and len(data) == 1 else None
        return json_response(status, {"version": VERSION, "href": href, "data": data}, h)

    def _page(self, ctx: _Ctx, res: Resource, records, total_hint: int | None) -> Response:
        page, size = self._paging(ctx)
        preds = []
        if ctx.route.filterable:
            preds = parse_filters(ctx.query.get("filters_json"), res)
        start = (page - 1) * size
        with self.store.lock:
            rows, total = self.store.select(
                records() if callable(records) else records, preds, start, start + size, total_hint
            )
            data = [self._render_any(res, r, ctx.base) for r in rows]
        link_q: dict[str, str] = {}
        if "filters_json" in ctx.query:
            link_q["filters_json"] = ctx.query["filters_json"]

        def url(p: int) -> str:
            return f"{ctx.base}{ctx.path}?" + urlencode({"page": p, "page_size": size, **link_q})

        return json_response(
            200,
            {
                "version": VERSION,
                "href": url(page),
                "data": data,
                "page": page,
                "page_size": size,
                "total": total,
                "links": {
                    "self": url(page),
                    "next": url(page + 1) if start + size < total else None,
                    "prev": url(page - 1) if page > 1 else None,
                },
            },
        )

    # handlers ----------------------------------------------------------------
    def list_collection(self, ctx: _Ctx) -> Response:
        res = RESOURCES[ctx.route.resource]
        coll = self.store.data[res.self_path]
        return self._page(ctx, res, lambda: coll.values(), len(coll))

    def get_one(self, ctx: _Ctx) -> Response:
        res = RESOURCES[ctx.route.resource]
        rid = self._id(ctx)
        with self.store.lock:
            rec = self.store.data[res.self_path].get(rid)
            if rec is None:
                raise Problem(404, f"there is no {res.name} with id {rid}")
            return self._single(200, res, [rec], ctx)

    def _template_items(self, ctx: _Ctx) -> list:
        ctype = (ctx.req.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise Problem(
                415,
                f"send the body as application/json (got {ctype or 'no Content-Type'})",
            )
        if not ctx.req.body:
            raise Problem(
                400, 'the body is empty; send {"template": {"version": "3.0", "data": [...]}}'
            )
        try:
            body = json.loads(ctx.req.body.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise Problem(400, "the body is not valid UTF-8") from None
        except RecursionError:
            raise Problem(400, "the JSON body is nested too deeply") from None
        except ValueError as e:
            raise Problem(400, f"malformed JSON: {e}") from None
        if not isinstance(body, dict) or "template" not in body:
            raise Problem(
                400, 'the body must be {"template": {"version": "3.0", "data": [ {...} ]}}'
            )
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
        if len(data) > 1000:
            raise Problem(400, "template.data holds more than 1000 items")
        # Any template.version is accepted (Cerkl's own examples say "string"); we echo 3.0.
        return data

    def create(self, ctx: _Ctx) -> Response:
        res = RESOURCES[ctx.route.resource]
        items = self._template_items(ctx)
        created = self.store.create(res, items)
        return self._single(201, res, created, ctx)

    def update(self, ctx: _Ctx) -> Response:
        res = RESOURCES[ctx.route.resource]
        rid = self._id(ctx)
        with self.store.lock:
            self.store.get(res, rid)  # 404 before body errors
        items = self._template_items(ctx)
        if len(items) != 1:
            raise Problem(400, "a PUT updates one object: template.data must hold exactly one item")
        rec = self.store.update(res, rid, items[0])
        return self._single(200, res, [rec], ctx)

    def delete(self, ctx: _Ctx) -> Response:
        res = RESOURCES[ctx.route.resource]
        self.store.delete(res, self._id(ctx))
        return Response(204)

    def template(self, ctx: _Ctx) -> Response:
        res = RESOURCES[ctx.route.resource] if ctx.route.resource in RESOURCES else None
        hints: dict[str, Any] = {}
        if res is not None:
            for f in res.writable:
                hints[f.name] = _hint(f)
        return json_response(
            200,
            {
                "template": {"version": VERSION, "data": [hints]},
                "example": {
                    "template": {"version": VERSION, "data": [EXAMPLES.get(ctx.route.resource, {})]}
                },
                "x-sandbox-only": True,
            },
        )

    def subscriber_interest(self, ctx: _Ctx) -> Response:
        sid = self._id(ctx)
        with self.store.lock:
            if sid not in self.store.data["subscriber"]:
                raise Problem(404, f"there is no subscriber with id {sid}")
            rows = self.store.interest_rows(sid)
        res = RESOURCES["subscriber_interest"]
        return self._page(ctx, res, rows, None)

    def segment_members(self, ctx: _Ctx) -> Response:
        gid = self._id(ctx)
        with self.store.lock:
            self.store.get(RESOURCES["segment"], gid)
            members = self.store.members[gid]
            subs = self.store.data["subscriber"]
            rows = [subs[s] for s in sorted(members) if s in subs]
        return self._page(ctx, RESOURCES["subscriber"], rows, None)

    def add_member(self, ctx: _Ctx) -> Response:
        gid = self._id(ctx)
        with self.store.lock:
            self.store.get(RESOURCES["segment"], gid)
        sub = self.store.add_member(gid, self._template_items(ctx))
        return self._single(201, RESOURCES["subscriber"], [sub], ctx)

    def remove_member(self, ctx: _Ctx) -> Response:
        self.store.remove_member(self._id(ctx), self._id(ctx, "subscriber_id"))
        return Response(204)

    def remove_member_body(self, ctx: _Ctx) -> Response:
        gid = self._id(ctx)
        with self.store.lock:
            self.store.get(RESOURCES["segment"], gid)
        items = self._template_items(ctx)
        if len(items) != 1 or not isinstance(items[0], dict) or "id" not in items[0]:
            raise Problem(400, "template.data must hold exactly one {'id': <subscriber id>}")
        sid = items[0]["id"]
        if isinstance(sid, dict):
            sid = sid.get("id")
        if not isinstance(sid, int) or isinstance(sid, bool) or sid < 1:
            raise Problem(400, "template.data[0].id must be a positive integer")
        self.store.remove_member(gid, sid)
        return Response(204)

    def category_subscribers(self, ctx: _Ctx) -> Response:
        cid = self._id(ctx)
        with self.store.lock:
            self.store.get(RESOURCES["category"], cid)
            rows = self.store.category_subscribers(cid)
        return self._page(ctx, RESOURCES["subscriber"], rows, None)

    def insights(self, ctx: _Ctx) -> Response:
        res = RESOURCES[ctx.route.resource]
        with self.store.lock:
            rows = (
                self.store.content_insight_rows()
                if res.name == "content_insights"
                else self.store.subscriber_insight_rows()
            )
        return self._page(ctx, res, rows, None)

    def lookup_list(self, ctx: _Ctx) -> Response:
        name = ctx.route.resource
        rows = [{"id": i, "description": d} for i, d in LOOKUPS[name]]
        return self._page(ctx, _LOOKUP_RESOURCES[name], rows, None)

    def lookup_get(self, ctx: _Ctx) -> Response:
        name = ctx.route.resource
        rid = self._id(ctx)
        for i, d in LOOKUPS[name]:
            if i == rid:
                row = {"id": i, "description": d}
                return self._single(200, _LOOKUP_RESOURCES[name], [row], ctx)
        raise Problem(404, f"there is no {name} with id {rid}")

    # ------------------------------------------------------------------ admin
    def _admin_dispatch(self, req: Request, path: str, query: str) -> Response:
        self.stats.bump("admin_requests")
        if not _is_loopback(req.client_ip):
            raise Problem(403, "the /_sandbox admin API only answers loopback clients")
        fn = self._admin.get((req.method, path))
        if fn is None:
            allowed = sorted(m for (m, p) in self._admin if p == path)
            if allowed:
                raise Problem(405, f"use {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
            raise Problem(404, f"no such admin endpoint {path!r}; see docs/sandbox.md")
        return fn(req, self._query(query))

    @staticmethod
    def _admin_body(req: Request) -> dict:
        if not req.body.strip():
            return {}
        ctype = (req.header("Content-Type") or "application/json").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise Problem(415, "admin bodies are application/json")
        try:
            body = json.loads(req.body.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Problem(400, "malformed JSON body") from None
        if not isinstance(body, dict):
            raise Problem(400, "the admin body must be a JSON object")
        return body

    def health(self, base: str) -> dict:
        return {
            "status": "ok",
            "api_base": base,
            "token_url": base + "/oauth/Token",
            "openapi_url": base + "/openapi.json",
            "demo_client": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
            "uptime_s": round(time.time() - self.started_at, 3),
            "server_time_utc": format_date(self.now()),
        }

    def _a_health(self, req: Request, q: dict) -> Response:
        return json_response(200, self.health(self._base(req)))

    def stats_dict(self) -> dict:
        st = self.stats
        with st.lock:
            c = dict(st.c)
            out = {
                "requests_total": c.get("requests_total", 0),
                "api_requests": c.get("api_requests", 0),
                "admin_requests": c.get("admin_requests", 0),
                "token_requests": c.get("token_requests", 0),
                "client_credentials": c.get("client_credentials", 0),
                "refresh_token": c.get("refresh_token", 0),
                "tokens_issued": sum(st.grants_issued.values()),
                "grants_issued": dict(st.grants_issued),
                "refresh_token_reuse": c.get("refresh_token_reuse", 0),
                "token_errors": dict(st.token_errors),
                "statuses": dict(st.statuses),
                "faults_injected": c.get("faults_injected", 0),
                "internal_errors": c.get("internal_errors", 0),
                "protocol_errors": c.get("protocol_errors", 0),
                "since": st.since,
                "recent_requests": list(st.ring)[-50:],
            }
        out.update(self.tokens.counts())
        return out

    def _a_stats(self, req: Request, q: dict) -> Response:
        return json_response(200, self.stats_dict())

    def _a_reset_stats(self, req: Request, q: dict) -> Response:
        self.stats.reset()
        return json_response(200, self.stats_dict())

    def _a_log(self, req: Request, q: dict) -> Response:
        limit = q.get("limit", "1000")
        if not _ID_RX.match(limit):
            raise Problem(400, "limit must be a non-negative integer")
        with self.stats.lock:
            entries = list(self.stats.ring)
        n = int(limit)
        return json_response(200, {"entries": entries[-n:] if n else []})

    def _a_get_faults(self, req: Request, q: dict) -> Response:
        return json_response(200, self.faults.public())

    def _a_set_faults(self, req: Request, q: dict) -> Response:
        body = self._admin_body(req)
        try:
            self.faults.update(**body)
        except (ValueError, TypeError) as e:
            raise Problem(400, str(e)) from None
        self.tokens.expire_early_s = self.faults.s.expire_early_s
        return json_response(200, self.faults.public())

    def _a_clear_faults(self, req: Request, q: dict) -> Response:
        self.faults.clear()
        self.tokens.expire_early_s = 0.0
        return json_response(200, self.faults.public())

    def _clock_info(self) -> dict:
        now = self.now()
        return {"offset_s": self.clock_offset_s, "now": now, "now_utc": format_date(now)}

    def _a_get_clock(self, req: Request, q: dict) -> Response:
        return json_response(200, self._clock_info())

    def _a_clock(self, req: Request, q: dict) -> Response:
        body = self._admin_body(req)
        adv = body.get("advance_s")
        if set(body) - {"advance_s"} or isinstance(adv, bool) or not isinstance(adv, int | float):
            raise Problem(400, 'send {"advance_s": <seconds>} (a number, may be negative)')
        if not -1e10 < adv < 1e10:
            raise Problem(400, "advance_s is out of range")
        self.clock_offset_s += float(adv)
        return json_response(200, self._clock_info())

    def _a_revoke(self, req: Request, q: dict) -> Response:
        return json_response(200, self.tokens.revoke_all())

    def _a_get_clients(self, req: Request, q: dict) -> Response:
        return json_response(200, {"clients": [c.public() for c in self.tokens.clients.values()]})

    def _a_clients(self, req: Request, q: dict) -> Response:
        body = self._admin_body(req)
        allowed = {"client_id", "client_secret", "name", "token_lifetime_s", "issue_refresh_token"}
        if set(body) - allowed:
            raise Problem(
                400, f"unknown key(s) {sorted(set(body) - allowed)}; allowed: {sorted(allowed)}"
            )
        try:
            spec = ClientSpec(**body)
        except (TypeError, ValueError) as e:
            raise Problem(400, str(e)) from None
        self.tokens.register(spec)
        return json_response(201, spec.public())

    def _a_get_config(self, req: Request, q: dict) -> Response:
        return json_response(200, self.config.public())

    def _a_config(self, req: Request, q: dict) -> Response:
        body = self._admin_body(req)
        for name in ("clock", "record_issued_tokens"):
            if name in body:
                raise Problem(
                    400,
                    f"{name} can only be set in-process: start(config=SandboxConfig({name}=...))",
                )
        try:
            self.apply_config(**body)
        except (TypeError, ValueError) as e:
            raise Problem(400, str(e)) from None
        return json_response(200, self.config.public())

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

    def _a_reset(self, req: Request, q: dict) -> Response:
        self.reset()
        return json_response(200, {"reset": True})

    def reset(self) -> None:
        """Re-seed the data, forget all tokens, clear faults, stats and clock offset."""
        self.store = self._new_store()
        self.tokens.revoke_all()
        self.tokens.refresh.clear()
        self.tokens.families.clear()
        self.tokens.refresh_by_client.clear()
        self.faults.clear()
        self.tokens.expire_early_s = 0.0
        self.clock_offset_s = 0.0
        self.stats.reset()


# One Resource per lookup list (its name is its URL), built once.
_LOOKUP_RESOURCES = {name: Resource(name, LOOKUP.fields, name) for name in LOOKUPS}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "localhost") or ip.startswith("::ffff:127.")


# Type hints shown by the sandbox-only /<resource>/template endpoints.
_HINTS: dict[str, Any] = {
    "str": "string",
    "email": "string (email)",
    "int": "integer",
    "bool": "boolean",
    "date": "string (YYYY-MM-DD HH:MM:SS, UTC)",
    "ref": {"id": "integer"},
    "refs": [{"id": "integer"}],
    "merge_fields": [{"id": "integer", "type": {"id": "integer"}, "value": "string"}],
}
_REQUIRED_HINTS: dict[str, Any] = {
    "str": "string (required)",
    "email": "string (email, required)",
    "int": "integer (required)",
    "date": "string (YYYY-MM-DD HH:MM:SS, UTC; required)",
    "ref": {"id": "integer (required)"},
}


def _hint(f) -> Any:
    return _REQUIRED_HINTS.get(f.kind, "required") if f.required else _HINTS[f.kind]
