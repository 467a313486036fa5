"""CerklClient: the Cerkl Broadcast API v3 over one ``requests.Session``.

What it adds to a bare session, in the order a call meets it:

* a Bearer token from the :class:`~cerkl_nb.auth.TokenManager` (fetched/refreshed as
  needed, single-flight);
* the ``{"template": {"version": "3.0", "data": [...]}}`` envelope on writes, and tolerant
  unwrapping of whatever envelope comes back;
* a timeout on every call;
* on 401: one forced refresh and one retry, never a loop; on 403: nothing (a new token
  would not help);
* retries with jittered back-off for 429 (``Retry-After`` in seconds or as an HTTP date,
  capped at ``max_retry_wait_s``) and, for idempotent methods only, 5xx and connection
  errors. A POST is never retried silently: a 5xx on a POST raises
  :class:`~cerkl_nb.errors.OutcomeUnknown`;
* typed exceptions with status, error code, message, request id and a redacted excerpt;
* a :class:`~cerkl_nb.postman.history.History` entry for every attempt.

All sleeping goes through the injected clock, so tests never wait.

Why this module is longer than 600 lines: it is one public class, :class:`CerklClient`,
whose request loop is a handful of named steps (``_prepare``, ``_attempt``,
``_retry_wait`` ...) and whose CRUD and paging entry points each carry the parameters and
docstring a notebook user reads with ``?``; plus :func:`connect`, the front door. The
transport rules live in :mod:`cerkl_nb._http`, paging in :mod:`cerkl_nb.paging`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from . import _http
from .auth import TokenManager
from .clock import Clock
from .config import Credentials, Settings, load_config
from .errors import (
    ApiError,
    BadResponse,
    ConfigurationError,
    ConnectionFailed,
    MissingCredentials,
    OutcomeUnknown,
    RateLimited,
    RequestTimeout,
    ServerError,
    Unauthorized,
)
from .paging import (
    DEFAULT_CONCURRENCY,
    Page,
    extract_next,
    extract_total,
    filters_json,
    frame_from_items,
    iter_items,
    require_pandas,
)
from .redact import Secret, excerpt, get_logger, install_log_redaction, redact, redact_json
from .spec import ENVELOPE_VERSION, origin_of, unwrap_items, wrap_template
from .token import Token

if TYPE_CHECKING:  # pragma: no cover
    from .postman.history import History

__all__ = ["ApiResponse", "Page", "CerklClient", "connect", "TEMPLATE_VERSION", "wrap_template"]

log = get_logger("cerkl_nb.client")

#: The envelope version Cerkl's documentation uses (:data:`cerkl_nb.spec.ENVELOPE_VERSION`).
TEMPLATE_VERSION = ENVELOPE_VERSION

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRY_5XX = frozenset({500, 502, 503, 504})


# Response headers whose values are dates, sizes, media types, ids or counters: standard
# fields a server fills in itself, never with a client's credentials. Every other header
# (Set-Cookie, WWW-Authenticate, Location, anything unknown) is redacted.
_PLAIN_HEADERS = frozenset(
    {
        "age",
        "cache-control",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "date",
        "etag",
        "expires",
        "keep-alive",
        "last-modified",
        "retry-after",
        "server",
        "transfer-encoding",
        "vary",
        "x-content-type-options",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-request-id",
        "x-total-count",
    }
)


def _shown_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Response headers as the history shows them: redacted, except the plain ones."""
    return {k: v if k.lower() in _PLAIN_HEADERS else redact(v) for k, v in headers.items()}


@dataclass(frozen=True)
class ApiResponse:
    """A successful API response.

    Attributes
    ----------
    status
        HTTP status.
    headers
        Response headers (values redacted).
    body
        Parsed JSON, or None for an empty body (204).
    items
        The records in the body, unwrapped from whatever envelope it used.
    elapsed_s
        Seconds for this attempt.
    size
        Body size in bytes.
    request_id
        ``X-Request-Id``.
    method, url
        The request.
    history_id
        The id of the matching :class:`~cerkl_nb.postman.history.HistoryEntry`.
    """

    status: int
    headers: dict[str, str]
    body: Any
    items: list[dict[str, Any]]
    elapsed_s: float
    size: int
    request_id: str | None
    method: str
    url: str
    history_id: int | None = None


@dataclass
class _Call:
    """One API call across its attempts: what to send, and how far the retries got."""

    method: str
    url: str
    params: Mapping[str, Any] | None
    data: bytes | None
    logged_body: Any
    timeout: tuple[float, float]
    attempt: int = 0  # retries spent (429, 5xx, connection errors)
    tries: int = 0  # requests sent, for the history
    refreshed: bool = False  # the one 401 refresh has been used
    elapsed: float | None = None  # of the last attempt
    history_id: int | None = None
    shown: dict[str, str] | None = None  # the last response's headers, redacted

    @property
    def idempotent(self) -> bool:
        return self.method in _IDEMPOTENT

    @property
    def follow(self) -> bool:
        # Redirects are followed for reads only: requests drops the Authorization header
        # when a redirect leaves the host, and a 307/308 would replay a write's body.
        return self.method in ("GET", "HEAD")


class CerklClient:
    """A client for Cerkl Broadcast API v3.

    Parameters
    ----------
    token_manager
        Supplies tokens. Built from ``credentials`` (or the environment / ``.env``) when
        omitted.
    credentials
        Client ID and secret, when no token manager is given.
    settings
        Base URL, timeouts and retry policy (the token manager's by default).
    session
        A ``requests.Session`` (a new pooled one by default, shared with the token
        manager this client creates).
    clock
        Time source for back-off sleeps (the token manager's by default).
    history
        Where every call is recorded (a new ``History(200)`` by default).
    sandbox
        The :class:`cerkl_nb.sandbox.Sandbox` handle this client talks to, when it talks to
        one (:func:`connect` passes it); ``None`` for a real Cerkl account.

    Examples
    --------
    >>> client = cerkl_nb.connect()                              # doctest: +SKIP
    >>> client.list("subscriber", page_size=5).items              # doctest: +SKIP
    >>> client.create("segment", {"description": "Engineers"})    # doctest: +SKIP
    """

    def __init__(
        self,
        token_manager: TokenManager | None = None,
        *,
        credentials: Credentials | None = None,
        settings: Settings | None = None,
        session: requests.Session | None = None,
        clock: Clock | None = None,
        history: History | None = None,
        sandbox: Any = None,
    ) -> None:
        #: The sandbox handle, or None: known from the handle, not guessed from the address.
        self.sandbox = sandbox
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # Enough pooled connections for concurrent paging without "pool is full" churn.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        self._owns_manager = token_manager is None
        if token_manager is None:
            if credentials is None:
                loaded_settings, credentials = load_config()
                settings = settings or loaded_settings
            if credentials is None:
                raise MissingCredentials(
                    "No credentials: set CERKL_CLIENT_ID and CERKL_CLIENT_SECRET (or .env), pass "
                    "credentials=..., or use cerkl_nb.connect() to fall back to the local sandbox."
                )
            if settings is None:
                # Explicit credentials, implicit settings: CERKL_BASE_URL etc. still apply.
                settings = Settings.from_env()
            token_manager = TokenManager(credentials, settings, session=session, clock=clock)
        self.token_manager = token_manager
        self.settings = settings if settings is not None else token_manager.settings
        self.clock = clock if clock is not None else token_manager.clock
        if history is None:
            from .postman.history import History

            history = History()
        self.history = history
        if self._owns_session:
            # Proxies and CA bundle read once, not on every call (see snapshot_environment).
            urls = (self.settings.base_url, self.token_manager.settings.token_url)
            _http.snapshot_environment(session, urls)
        self._base = self.settings.base_url
        self._headers = {
            "Accept": "application/json",
            "Accept-Language": self.settings.accept_language,
            "User-Agent": self.settings.user_agent,
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        # What the history shows as sent: the real headers with the token masked.
        self._shown_headers = {**self._headers, "Authorization": "Bearer ***"}

    # -- the one request method ------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        items: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        timeout_s: float | None = None,
    ) -> ApiResponse:
        """Send one API call with auth, retries and typed errors.

        Parameters
        ----------
        method
            HTTP method.
        path
            Path relative to the base URL (``"segment"``, ``"/segment/12"``), or an
            absolute URL on the same origin (a ``links.next`` value).
        params
            Query parameters.
        json
            A JSON body sent as is.
        items
            Record(s) to wrap in the ``template`` envelope (instead of ``json``).
        timeout_s
            Read timeout for this call (``settings.timeout_s`` by default).

        Raises
        ------
        Unauthorized, Forbidden, NotFound, Conflict, ValidationError, RateLimited,
        ServerError, OutcomeUnknown, ApiError, BadResponse, ConnectionFailed, AuthError
        """
        call = self._prepare(method, path, params, json, items, timeout_s)
        while True:
            token = self.token_manager.get_token()
            resp = self._attempt(call, token)
            if resp is None:  # a connection error worth another try; back-off done
                continue
            if resp.status_code < 300:
                return self._success(call, resp)
            if not call.refreshed and _http.renew_after_401(resp, token, self.token_manager):
                call.refreshed = True
                log.info("%s %s: 401; refreshing the token and retrying once", method, call.url)
                continue
            self.clock.sleep(self._retry_wait(call, resp))
            call.attempt += 1

    # -- the named steps of request() ------------------------------------------------------
    def _prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        items: Any,
        timeout_s: float | None,
    ) -> _Call:
        """Check and serialise everything before any credential is near the call stack."""
        if items is not None and json is not None:
            raise ConfigurationError("pass either json= or items=, not both")
        body = wrap_template(items) if items is not None else json
        # Serialised here, once, and not inside requests: a value JSON cannot hold (a
        # datetime, a set, NaN) fails at this line with a clear message.
        data = _http.json_bytes(body, items) if body is not None else None
        if path.startswith(("http://", "https://")):
            _http.require_origin(path, self.settings)
            url = path
        else:
            url = self._base + "/" + path.lstrip("/")
        s = self.settings
        return _Call(
            method=method.upper(),
            url=url,
            params=params,
            data=data,
            logged_body=redact_json(body) if body is not None else None,
            timeout=(s.connect_timeout_s, timeout_s if timeout_s is not None else s.timeout_s),
        )

    def _attempt(self, call: _Call, token: Token) -> requests.Response | None:
        """Send once and record it; None after a retryable connection error (slept already)."""
        call.tries += 1
        started_at = self.clock.time()
        t0 = time.perf_counter()
        try:
            resp = _http.send(
                self.session,
                call.method,
                call.url,
                params=call.params,
                data=call.data,
                headers=self._json_headers if call.data is not None else self._headers,
                auth=_http.HeaderAuth(token),
                timeout=call.timeout,
                allow_redirects=call.follow,
            )
        except requests.RequestException as exc:
            err = _http.connection_error(exc, call.method, call.url, call.timeout)
            self._record(call, started_at, time.perf_counter() - t0, None, str(err))
            return self._after_connection_error(call, exc, err)
        call.history_id, call.shown = self._record(
            call, started_at, time.perf_counter() - t0, resp, None
        )
        return resp

    def _after_connection_error(
        self, call: _Call, exc: requests.RequestException, err: ConnectionFailed
    ) -> None:
        """Back off for a retry (idempotent calls, not after a read timeout) or raise."""
        s = self.settings
        if call.idempotent and not isinstance(exc, requests.ReadTimeout):
            if call.attempt < s.max_retries:
                wait = _http.backoff_s(call.attempt, s.max_retry_wait_s)
                log.info("%s %s: %s; retrying in %.2f s", call.method, call.url, err, wait)
                self.clock.sleep(wait)
                call.attempt += 1
                return None
        if not call.idempotent and not _http.sent_nothing(exc):
            cls = RequestTimeout if isinstance(err, RequestTimeout) else ConnectionFailed
            raise cls(
                err.message + f" The {call.method} may or may not have been carried out: "
                "check (for example with a GET) before sending it again.",
                url=err.url,
                hint=err.hint,
            ) from None
        raise err from None

    def _success(self, call: _Call, resp: requests.Response) -> ApiResponse:
        try:
            parsed = _http.parse_json_body(resp)
        except BadResponse as exc:
            rid = resp.headers.get("X-Request-Id")
            raise BadResponse(
                exc.message + (f" (request id {rid})" if rid else ""),
                status=resp.status_code,
                body_excerpt=exc.body_excerpt,
            ) from None
        return ApiResponse(
            status=resp.status_code,
            headers=call.shown or {},
            body=parsed,
            items=unwrap_items(parsed),
            elapsed_s=call.elapsed or 0.0,
            size=len(resp.content),
            request_id=resp.headers.get("X-Request-Id"),
            method=call.method,
            url=redact(resp.url),
            history_id=call.history_id,
        )

    def _retry_wait(self, call: _Call, resp: requests.Response) -> float:
        """Seconds to wait before retrying this failed response, or raise its typed error."""
        status, s = resp.status_code, self.settings
        method, url = call.method, call.url
        if status == 401:
            hint = None
            if not self.token_manager.auto_refresh:
                hint = (
                    "auto_refresh is off: call client.token_manager.refresh() (or turn "
                    "auto_refresh back on)."
                )
            raise _http.api_error(resp, method, url, cls=Unauthorized, hint=hint)
        if status == 429:
            return self._rate_limit_wait(call, resp)
        if status >= 500:
            if not call.idempotent:
                raise _http.api_error(
                    resp,
                    method,
                    url,
                    cls=OutcomeUnknown,
                    hint=f"The {method} was not retried automatically: it may or may not "
                    "have been carried out. Check (for example with a GET) before sending "
                    "it again.",
                )
            if status in _RETRY_5XX and call.attempt < s.max_retries:
                ra = _http.parse_retry_after(resp.headers.get("Retry-After"), self.clock.time())
                if ra is not None and ra <= s.max_retry_wait_s:
                    wait = ra + _http.backoff_s(0, 0.25)
                else:
                    wait = _http.backoff_s(call.attempt, s.max_retry_wait_s)
                log.info("%s %s: %d; retrying in %.2f s", method, url, status, wait)
                return wait
            prefix = f"after {call.attempt + 1} attempts: " if call.attempt else ""
            raise _http.api_error(resp, method, url, cls=ServerError, prefix=prefix)
        if 300 <= status < 400:
            raise _http.api_error(
                resp,
                method,
                url,
                cls=ApiError,
                hint="Redirects are not followed for writes (the body and token would be "
                "replayed). Check CERKL_BASE_URL.",
            )
        raise _http.api_error(resp, method, url)

    def _rate_limit_wait(self, call: _Call, resp: requests.Response) -> float:
        s = self.settings
        ra = _http.parse_retry_after(resp.headers.get("Retry-After"), self.clock.time())
        if ra is not None and ra > s.max_retry_wait_s:
            raise _http.api_error(
                resp,
                call.method,
                call.url,
                cls=RateLimited,
                retry_after_s=ra,
                hint=f"The server asked us to wait {ra:.0f} s, longer than "
                f"max_retry_wait_s={s.max_retry_wait_s:g}; try again later.",
            )
        if call.attempt >= s.max_retries:
            raise _http.api_error(
                resp,
                call.method,
                call.url,
                cls=RateLimited,
                retry_after_s=ra,
                prefix=f"after {call.attempt + 1} attempts: ",
            )
        wait = (
            ra + _http.backoff_s(0, 0.25)
            if ra is not None
            else _http.backoff_s(call.attempt, s.max_retry_wait_s)
        )
        log.info("%s %s: 429; waiting %.2f s", call.method, call.url, wait)
        return wait

    def _record(
        self,
        call: _Call,
        started_at: float,
        elapsed: float,
        resp: requests.Response | None,
        error: str | None,
    ) -> tuple[int, dict[str, str] | None]:
        """Add one attempt to the history; returns its id and the redacted response headers."""
        from .postman.history import HistoryEntry

        call.elapsed = elapsed
        url, base = call.url, self._base
        shown_url = redact(url)  # once: the path below is cut from the redacted URL
        if url.startswith(base) and shown_url.startswith(base):
            shown_path = shown_url[len(base) :]
        else:
            shown_path = shown_url
        content = (resp.content or b"") if resp is not None else b""
        shown = _shown_headers(resp.headers) if resp is not None else None
        sent = dict(self._shown_headers)
        if call.data is not None:
            sent["Content-Type"] = "application/json"
        entry = HistoryEntry(
            id=HistoryEntry.next_id(),
            method=call.method,
            url=shown_url,
            path=shown_path or "/",
            # Query parameters pass through the same key-based masking as bodies.
            params=redact_json(dict(call.params)) if call.params else None,
            request_body=call.logged_body,
            status=resp.status_code if resp is not None else None,
            elapsed_s=elapsed,
            size=len(content),
            request_id=resp.headers.get("X-Request-Id") if resp is not None else None,
            started_at=started_at,
            error=redact(error) if error else None,
            response_excerpt=excerpt(content, 500) if content else None,
            base_url=self._base,
            attempt=call.tries,
            request_headers=sent,
            response_headers=shown,
        )
        self.history.add(entry)
        return entry.id, shown

    # -- resource helpers --------------------------------------------------------------------
    @staticmethod
    def _path(resource: str, id: Any = None) -> str:
        resource = resource.strip("/")
        if not resource:
            raise ConfigurationError("resource must be a name such as 'subscriber'")
        if id is None:
            return "/" + resource
        return f"/{resource}/{quote(str(id), safe='')}"

    def list(
        self,
        resource: str,
        *,
        page: int = 1,
        page_size: int = 100,
        filters: Mapping[str, Any] | str | None = None,
        **params: Any,
    ) -> Page:
        """GET one page of a collection.

        Parameters
        ----------
        resource
            ``"subscriber"``, ``"segment"``, ``"segment/12/subscriber"`` ...
        page, page_size
            1-based page number and records per page.
        filters
            A ``filters_json`` dict (see :func:`~cerkl_nb.paging.filters_json`) or string.
        **params
            Extra query parameters.
        """
        query: dict[str, Any] = {"page": page, "page_size": page_size}
        if filters:
            query["filters_json"] = filters if isinstance(filters, str) else filters_json(filters)
        query.update(params)
        r = self.request("GET", self._path(resource), params=query)
        body = r.body if isinstance(r.body, Mapping) else {}
        said, nxt = extract_next(r.body, r.headers)
        got_page = body.get("page")
        got_size = body.get("page_size")
        return Page(
            items=r.items,
            page=got_page if isinstance(got_page, int) and not isinstance(got_page, bool) else page,
            page_size=got_size if isinstance(got_size, int) and got_size > 0 else page_size,
            total=extract_total(r.body, r.headers),
            next_url=nxt,
            raw=r.body,
            has_next=(nxt is not None) if said else None,
        )

    @staticmethod
    def _first(r: ApiResponse) -> dict[str, Any]:
        if r.items:
            return r.items[0]
        if isinstance(r.body, dict) and "error" not in r.body:
            return r.body
        return {}

    def get(self, resource: str, id: Any) -> dict[str, Any]:
        """GET one record by id."""
        r = self.request("GET", self._path(resource, id))
        rec = self._first(r)
        if not rec:
            raise BadResponse(
                f"GET {self._path(resource, id)} returned no record.", status=r.status
            )
        return rec

    def create(self, resource: str, item: Mapping[str, Any]) -> dict[str, Any]:
        """POST one record (wrapped in the template envelope); returns the created record.

        Never retried automatically: on a 5xx or timeout it raises
        :class:`~cerkl_nb.errors.OutcomeUnknown` / :class:`ConnectionFailed`.
        """
        return self._first(self.request("POST", self._path(resource), items=[dict(item)]))

    def create_many(
        self, resource: str, items: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """POST several records in one envelope; returns the created records."""
        return self.request("POST", self._path(resource), items=[dict(i) for i in items]).items

    def update(self, resource: str, id: Any, item: Mapping[str, Any]) -> dict[str, Any]:
        """PUT one record; returns the updated record (or ``{}`` when the body is empty)."""
        return self._first(self.request("PUT", self._path(resource, id), items=[dict(item)]))

    def delete(self, resource: str, id: Any) -> None:
        """DELETE one record."""
        self.request("DELETE", self._path(resource, id))

    def iter_items(
        self,
        resource: str,
        *,
        page_size: int = 100,
        filters: Mapping[str, Any] | str | None = None,
        progress: bool = False,
        concurrency: int = DEFAULT_CONCURRENCY,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Lazily yield every record of a collection (see :func:`cerkl_nb.paging.iter_items`).

        Parameters
        ----------
        resource
            Collection path, e.g. ``"subscriber"``.
        page_size, filters, **params
            As for :meth:`list`.
        progress
            Show a progress bar (needs ``tqdm``).
        concurrency
            Fetch up to this many pages at once when the server reports a total (default
            4; 1 = one page at a time). Items come in page order either way.
        """
        options = dict(page_size=page_size, filters=filters, progress=progress)
        return iter_items(self, resource, concurrency=concurrency, **options, **params)

    def get_all(self, resource: str, **options: Any) -> list[dict[str, Any]]:
        """Every record of a collection as a list (options as for :meth:`iter_items`)."""
        return list(self.iter_items(resource, **options))

    def to_dataframe(self, resource: str, *, normalize: bool = False, **options: Any) -> Any:
        """Every record of a collection as a pandas DataFrame (needs the ``data`` extra).

        Parameters
        ----------
        normalize
            Flatten nested objects (``subscriber_status.id`` columns) with
            ``pandas.json_normalize``.
        **options
            As for :meth:`iter_items` (``page_size``, ``filters``, ``progress`` ...).

        Raises
        ------
        MissingDependency
            When pandas is not installed (says how to install it).
        """
        pd = require_pandas()
        # Built as the pages arrive, never from a list of every record (peak memory).
        return frame_from_items(pd, self.iter_items(resource, **options), normalize)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self.session.close()
        if self._owns_manager:
            self.token_manager.close()

    def __enter__(self) -> CerklClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"CerklClient(base_url={self._base!r}, "
            f"client_id={self.token_manager.credentials.client_id!r}, "
            f"token={self.token_manager.state.value}, calls={len(self.history)})"
        )

    def _repr_html_(self) -> str:
        import html

        return html.escape(repr(self))

    def __reduce__(self) -> Any:
        raise TypeError("CerklClient cannot be pickled (it holds secrets)")


def _check_local_server(settings: Settings, base_url: str | None, dotenv_path: Any) -> None:
    """Fail early, and say why, when a configured *local* API does not answer.

    A loopback base URL in the configuration is almost always a sandbox from an earlier
    session (saved to .env, exported in a shell): its port is gone. One TCP connect to
    the loopback address costs well under a millisecond when nothing listens.
    """
    import os
    import socket

    _, host, port = origin_of(settings.base_url)
    try:
        with socket.create_connection((host, port), timeout=min(settings.connect_timeout_s, 2.0)):
            return
    except OSError:
        pass
    if base_url is not None:
        source = "the base_url argument"
    elif os.environ.get("CERKL_BASE_URL"):
        source = "the CERKL_BASE_URL environment variable"
    else:
        from .config import find_dotenv

        found = dotenv_path if dotenv_path not in (None, True, False) else find_dotenv()
        source = f"CERKL_BASE_URL in {found}" if found else "CERKL_BASE_URL"
    raise ConnectionFailed(
        f"Nothing answers at {settings.base_url}, the API address configured by {source}. "
        "It is a local address, probably a sandbox from an earlier session: a sandbox gets a "
        "new port every time it starts.",
        url=settings.base_url,
        hint=(
            "Either remove CERKL_BASE_URL and CERKL_TOKEN_URL there (and the credentials too, "
            "if they are the sandbox's demo pair: with no credentials configured, "
            "cerkl_nb.connect() starts a sandbox by itself), or start a sandbox on that port "
            f"first: `cerkl-nb sandbox --port {port}` in a terminal."
        ),
    )


def connect(
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    base_url: str | None = None,
    dotenv_path: Any = None,
    sandbox: Any = None,
    **overrides: Any,
) -> CerklClient:
    """A ready client: real credentials when configured, else the local sandbox.

    It also calls :func:`~cerkl_nb.redact.install_log_redaction`, so that urllib3's and
    requests' log records and http.client's debug prints of this process are redacted too
    (importing the package changes no such global state by itself). A sandbox is reached
    through its handle only: :meth:`Settings.for_sandbox` and :meth:`Credentials.for_sandbox`.

    Parameters
    ----------
    client_id, client_secret, base_url
        Explicit values (win over the environment and ``.env``).
    dotenv_path
        A ``.env`` file (``None``: search from the working directory; ``False``: none).
    sandbox
        ``None`` (default): use the sandbox only when no credentials are configured.
        ``True``: always use the sandbox. ``False``: never (raise
        :class:`~cerkl_nb.errors.MissingCredentials`). A ``Sandbox`` object: use that one.
    **overrides
        Other :class:`~cerkl_nb.config.Settings` fields (``timeout_s``, ``leeway_s`` ...).
    """
    # Wrapped at once: a verbose traceback of any error below shows Secret('***').
    client_secret = Secret(client_secret) if isinstance(client_secret, str) else client_secret
    install_log_redaction()
    if sandbox is None or sandbox is False:
        settings, creds = load_config(client_id, client_secret, base_url, dotenv_path, **overrides)
        if creds is not None:
            if settings.is_loopback:
                _check_local_server(settings, base_url, dotenv_path)
            return CerklClient(credentials=creds, settings=settings)
        if sandbox is False:
            raise MissingCredentials(
                "No credentials found (CERKL_CLIENT_ID / CERKL_CLIENT_SECRET, arguments or "
                ".env) and sandbox=False."
            )
    if sandbox is None or sandbox is True:
        # Imported here: the sandbox is only needed when there are no real credentials.
        from .sandbox import ensure

        sb = ensure()
        log.info("No credentials configured: using the local sandbox at %s", sb.url)
    else:
        sb = sandbox
    settings = Settings.for_sandbox(sb)
    if overrides:
        settings = settings.replace(**{k: v for k, v in overrides.items() if v is not None})
    # One pooled session serves both the token endpoint and the API.
    return CerklClient(credentials=Credentials.for_sandbox(sb), settings=settings, sandbox=sb)
