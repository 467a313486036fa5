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
* a :class:`~cerkl_nb.history.History` entry for every attempt.

All sleeping goes through the injected clock, so tests never wait.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from .api import ENVELOPE_VERSION, wrap_template
from .auth import (
    TokenManager,
    _HeaderAuth,
    backoff_s,
    connection_error,
    forget_credentials,
    origin_of,
    parse_json_body,
    parse_retry_after,
    scrub_exception,
    sent_nothing,
)
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
    api_error_for_status,
)
from .history import History, HistoryEntry, redact_json
from .paging import (
    extract_next,
    extract_total,
    filters_json,
    iter_items,
    require_pandas,
    unwrap_items,
)
from .redact import excerpt, redact
from .token import Token

__all__ = ["ApiResponse", "Page", "CerklClient", "connect", "TEMPLATE_VERSION"]

log = logging.getLogger("cerkl_nb.client")

#: The envelope version Cerkl's documentation uses (:data:`cerkl_nb.api.ENVELOPE_VERSION`).
TEMPLATE_VERSION = ENVELOPE_VERSION

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRY_5XX = frozenset({500, 502, 503, 504})
_WWW_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


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
        The id of the matching :class:`~cerkl_nb.history.HistoryEntry`.
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


@dataclass(frozen=True)
class Page:
    """One page of a collection.

    Attributes
    ----------
    items
        The records.
    page, page_size
        As the server reported them (or as requested when it did not say).
    total
        Total number of records, when the server says.
    next_url
        The next page's URL, when the server gives one.
    raw
        The parsed body.
    has_next
        True/False when the server spoke about a next page, None when it did not.
    """

    items: list[dict[str, Any]]
    page: int
    page_size: int
    total: int | None
    next_url: str | None
    raw: Any
    has_next: bool | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items)


def _find_unjsonable(value: Any, path: str = "body") -> tuple[str, Any] | None:
    """The first value JSON cannot represent, with its path (``body['items'][0]['when']``)."""
    import math

    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                return f"{path} key {k!r}", k
            found = _find_unjsonable(v, f"{path}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _find_unjsonable(v, f"{path}[{i}]")
            if found:
                return found
        return None
    return path, value


def _json_bytes(body: Any, items: Any = None) -> bytes:
    """Serialise a request body as requests would (UTF-8, no NaN), or raise a clear error.

    ``items`` (the records before wrapping) only makes the error name the value the way
    the caller wrote it (``items[0]['when']`` rather than ``body['template']...``).
    """
    import json

    try:
        return json.dumps(body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        pass
    found = None
    if items is not None:
        found = _find_unjsonable(items, "item" if isinstance(items, Mapping) else "items")
    found = found or _find_unjsonable(body)
    if found is None:  # pragma: no cover - e.g. a circular structure
        raise ConfigurationError(
            "The request body cannot be converted to JSON (a circular reference?)."
        ) from None
    where, value = found
    kind = type(value).__name__
    if isinstance(value, float):
        advice = "JSON has no NaN or infinity: use None or a number."
    elif hasattr(value, "isoformat"):
        advice = (
            "Convert it first, e.g. value.isoformat() or value.strftime(...) "
            "(Cerkl's examples use '2020-07-16 00:00:00'), or str(value)."
        )
    elif isinstance(value, (set, frozenset)):
        advice = "Convert it to a list first: list(value) or sorted(value)."
    else:
        advice = "Convert it to a str, number, bool, None, list or dict first, e.g. str(value)."
    raise ConfigurationError(
        f"The request body is not JSON-serialisable: {redact(where)[:200]} is a {kind}. " + advice
    ) from None


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """Pull (code, message) out of any plausible error body."""
    if not isinstance(body, Mapping):
        return None, None
    err = body.get("error")
    if isinstance(err, Mapping):
        code = err.get("code") or err.get("type")
        msg = err.get("message") or err.get("description") or err.get("detail")
        return (str(code) if code is not None else None), (str(msg) if msg else None)
    if isinstance(err, str):
        desc = body.get("error_description") or body.get("message")
        return err, (str(desc) if desc else None)
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        msgs = [
            str(e.get("message") or e) if isinstance(e, Mapping) else str(e) for e in errors[:5]
        ]
        return None, "; ".join(msgs)
    for key in ("message", "detail", "error_description", "title"):
        if body.get(key):
            code = body.get("code")
            return (str(code) if code is not None else None), str(body[key])
    return None, None


_HINTS = {
    401: "The API rejected the token even after one refresh. Check that the credentials "
    "belong to this Cerkl instance and that CERKL_BASE_URL is right.",
    403: "The token is valid but not allowed to do this; a refresh would not help. Ask a "
    "Cerkl admin about the permissions of these API credentials.",
    404: "Check the resource name and id (GET the collection to see what exists).",
    409: "A record with the same email or external_id probably exists already.",
}


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
    ) -> None:
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
        self.history = history if history is not None else History()
        self._base = self.settings.base_url
        parts = urlsplit(self._base)
        self._origin = (parts.scheme, parts.netloc.lower())
        self._headers = {
            "Accept": "application/json",
            "Accept-Language": self.settings.accept_language,
            "User-Agent": self.settings.user_agent,
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        # What the history shows as sent: the real headers with the token masked.
        self._shown_headers = {**self._headers, "Authorization": "Bearer ***"}

    # -- plumbing --------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if (parts.scheme, parts.netloc.lower()) != self._origin:
                raise ConfigurationError(
                    f"Refusing to send your token to {parts.scheme}://{parts.netloc}: it is not "
                    f"the configured API ({self._base})."
                )
            return path
        return self._base + "/" + path.lstrip("/")

    def _record(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Any,
        started_at: float,
        elapsed: float,
        resp: requests.Response | None,
        error: str | None,
        attempt: int,
    ) -> tuple[int, dict[str, str] | None]:
        path = url[len(self._base) :] if url.startswith(self._base) else url
        if resp is not None:
            content = resp.content or b""
            # Redact, then cut (cutting first could leave half a token no rule recognises).
            shown_text = excerpt(content, 500) if content else None
            shown = {k: redact(v) for k, v in resp.headers.items()}
        else:
            content, shown_text, shown = b"", None, None
        sent = dict(self._shown_headers)
        if body is not None:
            sent["Content-Type"] = "application/json"
        entry = HistoryEntry(
            id=HistoryEntry.next_id(),
            method=method,
            url=redact(url),
            path=redact(path) or "/",
            # Query parameters pass through the same key-based masking as bodies
            # (access_token, refresh_token, client_secret, token, password ...).
            params=redact_json(dict(params)) if params else None,
            request_body=body,
            status=resp.status_code if resp is not None else None,
            elapsed_s=elapsed,
            size=len(content),
            request_id=resp.headers.get("X-Request-Id") if resp is not None else None,
            started_at=started_at,
            error=redact(error) if error else None,
            response_excerpt=shown_text,
            base_url=self._base,
            attempt=attempt,
            request_headers=sent,
            response_headers=shown,
        )
        self.history.add(entry)
        return entry.id, shown

    def _error(
        self,
        resp: requests.Response,
        method: str,
        url: str,
        *,
        cls: type[ApiError] | None = None,
        prefix: str = "",
        hint: str | None = None,
        **extra: Any,
    ) -> ApiError:
        status = resp.status_code
        try:
            body = parse_json_body(resp)
        except BadResponse:
            body = None
        code, message = _error_fields(body)
        if status == 401:
            # RFC 6750: the WWW-Authenticate challenge carries the precise reason.
            params = dict(_WWW_AUTH_PARAM.findall(resp.headers.get("WWW-Authenticate", "")))
            code = params.get("error") or code
            message = params.get("error_description") or message
        rid = resp.headers.get("X-Request-Id")
        path = url.split("?", 1)[0]
        text = f"{prefix}{method} {path} failed with {status} {resp.reason or ''}".rstrip()
        # A numeric code equal to the status says nothing new; a word code does.
        shown_code = code if code and code != str(status) else None
        if shown_code or message:
            text += ": " + " ".join(
                str(x) for x in (f"[{shown_code}]" if shown_code else None, message) if x
            )
        if rid:
            text += f" (request id {rid})"
        cls = cls or api_error_for_status(status)
        return cls(
            text,
            status=status,
            code=code,
            request_id=rid,
            method=method,
            url=path,
            body_excerpt=excerpt(resp.text, 300) if resp.text else None,
            hint=hint if hint is not None else _HINTS.get(status),
            **extra,
        )

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        data: bytes | None,
        token: Token,
        timeout: tuple[float, float],
        follow: bool,
    ) -> requests.Response:
        # No plain Authorization value is a local of any frame of ours: _HeaderAuth writes
        # it inside requests, from the token's Secret; whatever escapes the send (even a
        # KeyboardInterrupt) has the frames below cleared first (auth.scrub_exception); and
        # the response's request is masked before it leaves here.
        try:
            resp = self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=self._json_headers if data is not None else self._headers,
                auth=_HeaderAuth(token),
                timeout=timeout,
                allow_redirects=follow,
            )
            resp.content  # noqa: B018 - read the body inside the timeout and the timing
        except BaseException as exc:
            scrub_exception(exc)
            raise
        forget_credentials(resp)
        return resp

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
            absolute URL on the same host (a ``links.next`` value).
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
        method = method.upper()
        if items is not None and json is not None:
            raise ConfigurationError("pass either json= or items=, not both")
        body = wrap_template(items) if items is not None else json
        # Serialised here, once, and not inside requests: a value JSON cannot hold (a
        # datetime, a set, NaN) fails at this line with a clear message, before any
        # credential is anywhere near the call stack.
        data = _json_bytes(body, items) if body is not None else None
        url = self._url(path)
        s = self.settings
        timeout = (s.connect_timeout_s, timeout_s if timeout_s is not None else s.timeout_s)
        idempotent = method in _IDEMPOTENT
        # Redirects are followed for reads only: requests drops the Authorization header
        # when a redirect leaves the host, and a 307/308 would replay a write's body.
        follow = method in ("GET", "HEAD")
        logged_body = redact_json(body) if body is not None else None
        tm = self.token_manager
        attempt = 0
        refreshed = False
        tries = 0
        while True:
            tries += 1
            token = tm.get_token()
            started_at = self.clock.time()
            t0 = time.perf_counter()
            try:
                resp = self._send(method, url, params, data, token, timeout, follow)
            except requests.RequestException as exc:
                elapsed = time.perf_counter() - t0
                err = connection_error(exc, method, url, timeout)
                self._record(
                    method, url, params, logged_body, started_at, elapsed, None, str(err), tries
                )
                retry_ok = (
                    idempotent
                    and not isinstance(exc, requests.ReadTimeout)
                    and attempt < s.max_retries
                )
                if retry_ok:
                    wait = backoff_s(attempt, s.max_retry_wait_s)
                    log.info("%s %s: %s; retrying in %.2f s", method, url, type(exc).__name__, wait)
                    self.clock.sleep(wait)
                    attempt += 1
                    continue
                if not idempotent and not sent_nothing(exc):
                    cls = RequestTimeout if isinstance(err, RequestTimeout) else ConnectionFailed
                    raise cls(
                        err.message + f" The {method} may or may not have been carried out: "
                        "check (for example with a GET) before sending it again.",
                        url=err.url,
                        hint=err.hint,
                    ) from None
                raise err from None
            elapsed = time.perf_counter() - t0
            status = resp.status_code
            history_id, shown = self._record(
                method, url, params, logged_body, started_at, elapsed, resp, None, tries
            )
            if status < 300:
                try:
                    parsed = parse_json_body(resp)
                except BadResponse as exc:
                    rid = resp.headers.get("X-Request-Id")
                    raise BadResponse(
                        exc.message + (f" (request id {rid})" if rid else ""),
                        status=status,
                        body_excerpt=exc.body_excerpt,
                    ) from None
                return ApiResponse(
                    status=status,
                    headers=shown or {},
                    body=parsed,
                    items=unwrap_items(parsed),
                    elapsed_s=elapsed,
                    size=len(resp.content),
                    request_id=resp.headers.get("X-Request-Id"),
                    method=method,
                    url=redact(resp.url),
                    history_id=history_id,
                )
            if status == 401:
                if not refreshed and tm.auto_refresh:
                    # One forced refresh and one retry; invalidate() only drops *this*
                    # token, so concurrent 401s cause a single refresh.
                    refreshed = True
                    tm.invalidate(token)
                    log.info("%s %s: 401; refreshing the token and retrying once", method, url)
                    continue
                hint = (
                    None
                    if tm.auto_refresh
                    else (
                        "auto_refresh is off: call client.token_manager.refresh() (or turn "
                        "auto_refresh back on)."
                    )
                )
                raise self._error(resp, method, url, cls=Unauthorized, hint=hint)
            if status == 429:
                ra = parse_retry_after(resp.headers.get("Retry-After"), self.clock.time())
                if ra is not None and ra > s.max_retry_wait_s:
                    raise self._error(
                        resp,
                        method,
                        url,
                        cls=RateLimited,
                        retry_after_s=ra,
                        hint=f"The server asked us to wait {ra:.0f} s, longer than "
                        f"max_retry_wait_s={s.max_retry_wait_s:g}; try again later.",
                    )
                if attempt < s.max_retries:
                    wait = (
                        (ra + backoff_s(0, 0.25))
                        if ra is not None
                        else backoff_s(attempt, s.max_retry_wait_s)
                    )
                    log.info("%s %s: 429; waiting %.2f s", method, url, wait)
                    self.clock.sleep(wait)
                    attempt += 1
                    continue
                raise self._error(
                    resp,
                    method,
                    url,
                    cls=RateLimited,
                    retry_after_s=ra,
                    prefix=f"after {attempt + 1} attempts: ",
                )
            if status >= 500:
                if not idempotent:
                    raise self._error(
                        resp,
                        method,
                        url,
                        cls=OutcomeUnknown,
                        hint=f"The {method} was not retried automatically: it may or may not "
                        "have been carried out. Check (for example with a GET) before sending "
                        "it again.",
                    )
                if status in _RETRY_5XX and attempt < s.max_retries:
                    ra = parse_retry_after(resp.headers.get("Retry-After"), self.clock.time())
                    if ra is not None and ra <= s.max_retry_wait_s:
                        wait = ra + backoff_s(0, 0.25)
                    else:
                        wait = backoff_s(attempt, s.max_retry_wait_s)
                    log.info("%s %s: %d; retrying in %.2f s", method, url, status, wait)
                    self.clock.sleep(wait)
                    attempt += 1
                    continue
                raise self._error(
                    resp,
                    method,
                    url,
                    cls=ServerError,
                    prefix=f"after {attempt + 1} attempts: " if attempt else "",
                )
            if 300 <= status < 400:
                raise self._error(
                    resp,
                    method,
                    url,
                    cls=ApiError,
                    hint="Redirects are not followed for writes (the body and token would be "
                    "replayed). Check CERKL_BASE_URL.",
                )
            raise self._error(resp, method, url)

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
        concurrency: int = 1,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Lazily yield every record of a collection (see :func:`cerkl_nb.paging.iter_items`)."""
        return iter_items(
            self,
            resource,
            page_size=page_size,
            filters=filters,
            progress=progress,
            concurrency=concurrency,
            **params,
        )

    def get_all(
        self,
        resource: str,
        *,
        page_size: int = 100,
        filters: Mapping[str, Any] | str | None = None,
        progress: bool = False,
        concurrency: int = 1,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Every record of a collection as a list."""
        return list(
            self.iter_items(
                resource,
                page_size=page_size,
                filters=filters,
                progress=progress,
                concurrency=concurrency,
                **params,
            )
        )

    def to_dataframe(
        self,
        resource: str,
        *,
        page_size: int = 100,
        filters: Mapping[str, Any] | str | None = None,
        progress: bool = False,
        concurrency: int = 1,
        normalize: bool = False,
        **params: Any,
    ) -> Any:
        """Every record of a collection as a pandas DataFrame (needs the ``data`` extra).

        Parameters
        ----------
        normalize
            Flatten nested objects (``subscriber_status.id`` columns) with
            ``pandas.json_normalize``.

        Raises
        ------
        MissingDependency
            When pandas is not installed (says how to install it).
        """
        pd = require_pandas()
        records = self.get_all(
            resource,
            page_size=page_size,
            filters=filters,
            progress=progress,
            concurrency=concurrency,
            **params,
        )
        return pd.json_normalize(records) if normalize else pd.DataFrame.from_records(records)

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
    settings = sb.settings
    if overrides:
        settings = settings.replace(**{k: v for k, v in overrides.items() if v is not None})
    # One pooled session serves both the token endpoint and the API.
    return CerklClient(credentials=sb.credentials, settings=settings)
