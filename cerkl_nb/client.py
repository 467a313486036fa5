"""CerklClient: the Cerkl Broadcast API v3, one request loop, and the front door connect().

A call's body is serialised once (``items=`` wrapped in the ``template`` envelope); each
attempt goes through the :class:`~cerkl_nb.session.AuthorizedSession` (a usable token, only
to the configured origins) and is recorded, redacted, in the
:class:`~cerkl_nb.postman.history.History`. The loop of :meth:`CerklClient.request`: on
401 one refresh and one more try (the session's rule), never a loop; on 403 nothing (a
new token would not help); on 429 (every method) and, for idempotent methods only, 5xx
and lost connections, a wait (``Retry-After``, else jittered back-off, capped at
``max_retry_wait_s``) and another try, up to ``max_retries``. A POST is never retried
silently: a 5xx on a POST raises :class:`~cerkl_nb.errors.OutcomeUnknown`. Every failure
is a typed exception; all sleeping goes through the injected clock.
"""

from __future__ import annotations

import json as _json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from ._dotenv import find_dotenv
from .auth import TokenManager
from .clock import Clock
from .config import Credentials, Settings, load_config
from .errors import (
    BadResponse,
    ConfigurationError,
    ConnectionFailed,
    MissingCredentials,
    OutcomeUnknown,
    Unauthorized,
    api_error,
    parse_json_body,
)
from .paging import Page, filters_json, frame_from_items, iter_items, require_pandas
from .redact import Secret, excerpt, get_logger, install_log_redaction, redact, redact_json
from .session import AuthorizedSession, backoff_s, connection_error, parse_retry_after, sent_nothing
from .spec import ENV_BASE_URL, default_headers, origin_of, unwrap_items, wrap_template

if TYPE_CHECKING:  # pragma: no cover
    from .postman.history import History

__all__ = ["ApiResponse", "CerklClient", "connect"]

log = get_logger("cerkl_nb.client")

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRY_5XX = frozenset({500, 502, 503, 504})
_MAYBE = (
    "may or may not have been carried out: check (for example with a GET) before sending it again."
)


@dataclass(frozen=True)
class ApiResponse:
    """A successful API response.

    Attributes
    ----------
    status, headers
        HTTP status and the response headers (values redacted).
    body, items
        Parsed JSON (None for an empty body), and its records, unwrapped from whatever
        envelope it used.
    elapsed_s, size, request_id
        Seconds for this attempt, body size in bytes, ``X-Request-Id``.
    method, url, history_id
        The request, and the id of its :class:`~cerkl_nb.postman.history.HistoryEntry`.
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
    elapsed: float = 0.0  # of the last attempt
    history_id: int | None = None
    shown: dict[str, str] | None = None  # the last response's headers, redacted

    @property
    def idempotent(self) -> bool:
        return self.method in _IDEMPOTENT


def _find_unjsonable(value: Any, path: str) -> tuple[str, Any] | None:
    """The first value JSON cannot represent, with its path (``items[0]['when']``)."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                return f"{path} key {k!r}", k
            if found := _find_unjsonable(v, f"{path}[{k!r}]"):
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if found := _find_unjsonable(v, f"{path}[{i}]"):
                return found
        return None
    return path, value


def json_bytes(body: Any, items: Any = None) -> bytes:
    """Serialise a request body (UTF-8, no NaN), or raise a clear ConfigurationError.

    ``items`` (the records before wrapping) only makes the error name the value the way
    the caller wrote it (``items[0]['when']`` rather than ``body['template']...``).
    """
    try:
        return _json.dumps(body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        pass
    found = items is not None and _find_unjsonable(
        items, "item" if isinstance(items, Mapping) else "items"
    )
    found = found or _find_unjsonable(body, "body")
    if not found:  # pragma: no cover - e.g. a circular structure
        raise ConfigurationError("The request body cannot be converted to JSON (a cycle?).")
    where, value = found
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
        f"The request body is not JSON-serialisable: {redact(where)[:200]} is a "
        f"{type(value).__name__}. {advice}"
    )


class CerklClient:
    """A client for Cerkl Broadcast API v3.

    Parameters
    ----------
    token_manager
        Supplies tokens; built from ``credentials`` (or the environment / ``.env``) when
        omitted.
    credentials, settings, clock
        Client ID and secret when no token manager is given; base URL, timeouts and retry
        policy; time source for back-off sleeps (the token manager's by default).
    session
        A ``requests.Session`` (a new pooled one by default, shared with the token manager
        this client creates).
    history
        Where every call is recorded (a new ``History(200)`` by default).
    sandbox
        The :class:`cerkl_nb.sandbox.Sandbox` handle this client talks to, when it talks to
        one (:func:`connect` passes it); ``None`` for a real Cerkl account.

    Examples
    --------
    >>> client = cerkl_nb.connect()                              # doctest: +SKIP
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
                loaded, credentials = load_config()
                settings = settings or loaded
            if credentials is None:
                raise MissingCredentials(
                    "No credentials: set CERKL_CLIENT_ID and CERKL_CLIENT_SECRET (or .env), pass "
                    "credentials=..., or use cerkl_nb.connect() to fall back to the local sandbox."
                )
            # Explicit credentials, implicit settings: CERKL_BASE_URL etc. still apply.
            settings = settings or Settings.from_env()
            token_manager = TokenManager(credentials, settings, session=session, clock=clock)
        self.token_manager = token_manager
        self.settings = settings if settings is not None else token_manager.settings
        self.clock = clock if clock is not None else token_manager.clock
        if history is None:
            from .postman.history import History

            history = History()
        self.history = history
        self._auth = AuthorizedSession(token_manager, session)
        self._base = self.settings.base_url
        self._headers = {
            **default_headers(self.settings.accept_language),
            "User-Agent": self.settings.user_agent,
        }

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
        method, path
            HTTP method; a path relative to the base URL (``"segment"``, ``"/segment/12"``)
            or an absolute URL on the same origin (a ``links.next`` value).
        params, json
            Query parameters; a JSON body sent as is.
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
            resp, token = self._attempt(call)
            if resp is None:  # a connection error worth another try; back-off done
                continue
            if resp.status_code < 300:
                return self._success(call, resp)
            if not call.refreshed and self._auth.renew_after_401(resp, token):
                call.refreshed = True
                log.info("%s %s: 401; refreshing the token and retrying once", method, call.url)
                continue
            self.clock.sleep(self._wait_or_raise(call, resp))
            call.attempt += 1

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
        data = json_bytes(body, items) if body is not None else None
        absolute = path.startswith(("http://", "https://"))
        s = self.settings
        return _Call(
            method=method.upper(),
            url=path if absolute else self._base + "/" + path.lstrip("/"),
            params=params,
            data=data,
            logged_body=redact_json(body) if body is not None else None,
            timeout=(s.connect_timeout_s, timeout_s if timeout_s is not None else s.timeout_s),
        )

    def _attempt(self, call: _Call) -> tuple[requests.Response | None, Any]:
        """Send once and record it; (None, None) after a retryable connection error."""
        call.tries += 1
        started_at = self.clock.time()
        t0 = time.perf_counter()
        headers = self._headers
        if call.data is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            resp, token = self._auth.send(
                call.method,
                call.url,
                params=call.params,
                data=call.data,
                headers=headers,
                timeout=call.timeout,
                # Redirects for reads only: requests drops the Authorization header when a
                # redirect leaves the host, and a 307/308 would replay a write's body.
                allow_redirects=call.method in ("GET", "HEAD"),
            )
        except requests.RequestException as exc:
            err = connection_error(exc, call.method, call.url, call.timeout)
            self._record(call, started_at, time.perf_counter() - t0, None, str(err))
            s = self.settings
            if call.idempotent and not isinstance(exc, requests.ReadTimeout):
                if call.attempt < s.max_retries:
                    wait = backoff_s(call.attempt, s.max_retry_wait_s)
                    log.info("%s %s: %s; retrying in %.2f s", call.method, call.url, err, wait)
                    self.clock.sleep(wait)
                    call.attempt += 1
                    return None, None
            if not call.idempotent and not sent_nothing(exc):
                msg = f"{err.message} The {call.method} {_MAYBE}"
                raise type(err)(msg, url=err.url, hint=err.hint) from None
            raise err from None
        self._record(call, started_at, time.perf_counter() - t0, resp, None)
        return resp, token

    def _success(self, call: _Call, resp: requests.Response) -> ApiResponse:
        rid = resp.headers.get("X-Request-Id")
        try:
            parsed = parse_json_body(resp)
        except BadResponse as exc:
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
            elapsed_s=call.elapsed,
            size=len(resp.content),
            request_id=rid,
            method=call.method,
            url=redact(resp.url),
            history_id=call.history_id,
        )

    def _wait_or_raise(self, call: _Call, resp: requests.Response) -> float:
        """Seconds to wait before trying this failed response again, or its typed error."""
        status, s, method, url = resp.status_code, self.settings, call.method, call.url
        prefix = f"after {call.attempt + 1} attempts: " if call.attempt else ""
        if status == 401:
            hint = None
            if not self.token_manager.auto_refresh:
                hint = "auto_refresh is off: call client.token_manager.refresh() (or turn it on)."
            raise api_error(resp, method, url, cls=Unauthorized, hint=hint)
        if status >= 500 and not call.idempotent:
            hint = f"The {method} was not retried automatically: it {_MAYBE}"
            raise api_error(resp, method, url, cls=OutcomeUnknown, hint=hint)
        if 300 <= status < 400:
            hint = "Redirects are not followed for writes (the body and token would be replayed)."
            raise api_error(resp, method, url, hint=hint)
        if status != 429 and status not in _RETRY_5XX:
            raise api_error(resp, method, url, prefix=prefix)
        ra = parse_retry_after(resp.headers.get("Retry-After"), self.clock.time())
        too_long = ra is not None and ra > s.max_retry_wait_s
        if status == 429 and (too_long or call.attempt >= s.max_retries):
            hint = (
                f"The server asked us to wait {ra:.0f} s, longer than "
                f"max_retry_wait_s={s.max_retry_wait_s:g}; try again later."
                if too_long
                else None
            )
            raise api_error(resp, method, url, prefix=prefix, hint=hint, retry_after_s=ra)
        if call.attempt >= s.max_retries:
            raise api_error(resp, method, url, prefix=prefix)
        usable = ra is not None and not too_long
        wait = ra + backoff_s(0, 0.25) if usable else backoff_s(call.attempt, s.max_retry_wait_s)
        log.info("%s %s: %d; retrying in %.2f s", method, url, status, wait)
        return wait

    def _record(
        self,
        call: _Call,
        started_at: float,
        elapsed: float,
        resp: requests.Response | None,
        error: str | None,
    ) -> None:
        """Add one attempt to the history (redacted)."""
        from .postman.history import HistoryEntry

        shown_url, base = redact(call.url), self._base
        path = shown_url[len(base) :] if shown_url.startswith(base) else shown_url
        content = (resp.content or b"") if resp is not None else b""
        shown = {k: redact(v) for k, v in resp.headers.items()} if resp is not None else None
        sent = {**self._headers, "Authorization": "Bearer ***"}
        if call.data is not None:
            sent["Content-Type"] = "application/json"
        entry = HistoryEntry(
            id=HistoryEntry.next_id(),
            method=call.method,
            url=shown_url,
            path=path or "/",
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
            base_url=base,
            attempt=call.tries,
            request_headers=sent,
            response_headers=shown,
        )
        self.history.add(entry)
        call.elapsed, call.history_id, call.shown = elapsed, entry.id, shown

    @staticmethod
    def _path(resource: str, id: Any = None) -> str:
        resource = resource.strip("/")
        if not resource:
            raise ConfigurationError("resource must be a name such as 'subscriber'")
        return "/" + resource if id is None else f"/{resource}/{quote(str(id), safe='')}"

    @staticmethod
    def _first(r: ApiResponse) -> dict[str, Any]:
        if r.items:
            return r.items[0]
        return r.body if isinstance(r.body, dict) and "error" not in r.body else {}

    def list(
        self,
        resource: str,
        *,
        page: int = 1,
        page_size: int = 100,
        filters: Mapping[str, Any] | str | None = None,
        **params: Any,
    ) -> Page:
        """GET one page of a collection (``"subscriber"``, ``"segment/12/subscriber"`` ...).

        ``page`` counts from 1; ``filters`` is a ``filters_json`` dict (see
        :func:`~cerkl_nb.paging.filters_json`) or string; ``params`` are extra query
        parameters.
        """
        query: dict[str, Any] = {"page": page, "page_size": page_size}
        if filters:
            query["filters_json"] = filters if isinstance(filters, str) else filters_json(filters)
        query.update(params)
        r = self.request("GET", self._path(resource), params=query)
        return Page.from_response(r.body, r.items, r.headers, page, page_size)

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

    def iter_items(self, resource: str, **options: Any) -> Iterator[dict[str, Any]]:
        """Lazily yield every record of a collection, in page order; ``options`` as for
        :func:`cerkl_nb.paging.iter_items` (``page_size``, ``filters``, ``progress``,
        ``concurrency``: pages fetched at once when the server reports a total, 4 by
        default) and extra query parameters."""
        return iter_items(self, resource, **options)

    def get_all(self, resource: str, **options: Any) -> list[dict[str, Any]]:
        """Every record of a collection as a list (options as for :meth:`iter_items`)."""
        return list(self.iter_items(resource, **options))

    def to_dataframe(self, resource: str, *, normalize: bool = False, **options: Any) -> Any:
        """Every record of a collection as a pandas DataFrame (needs the ``data`` extra).

        ``normalize`` flattens nested objects (``subscriber_status.id`` columns) with
        ``pandas.json_normalize``; ``options`` as for :meth:`iter_items`. Raises
        :class:`~cerkl_nb.errors.MissingDependency` (with the install command) without
        pandas.
        """
        pd = require_pandas()
        # Built as the pages arrive, never from a list of every record (peak memory).
        return frame_from_items(pd, self.iter_items(resource, **options), normalize)

    def close(self) -> None:
        """Close the session and the token manager if this client created them."""
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

    def __reduce__(self) -> Any:
        raise TypeError("CerklClient cannot be pickled (it holds secrets)")


def _check_local_server(settings: Settings, base_url: str | None, dotenv_path: Any) -> None:
    """Fail early, and say why, when a configured *local* API does not answer: it is almost
    always a sandbox from an earlier session (saved to .env, exported in a shell), whose port
    is gone. One TCP connect to a loopback address costs well under a millisecond."""
    import os
    import socket

    _, host, port = origin_of(settings.base_url)
    try:
        with socket.create_connection((host, port), timeout=min(settings.connect_timeout_s, 2.0)):
            return
    except OSError:
        pass
    source = "the base_url argument" if base_url is not None else "CERKL_BASE_URL"
    if base_url is None and os.environ.get(ENV_BASE_URL):
        source = "the CERKL_BASE_URL environment variable"
    elif base_url is None:
        found = dotenv_path if dotenv_path not in (None, True, False) else find_dotenv()
        source += f" in {found}" if found else ""
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

    It also calls :func:`~cerkl_nb.redact.install_log_redaction` (importing the package
    changes no global state by itself), so urllib3's and requests' log records and
    http.client's debug prints are redacted too. A sandbox is reached through its handle.

    Parameters
    ----------
    client_id, client_secret, base_url, dotenv_path, **overrides
        As for :func:`~cerkl_nb.config.load_config`: explicit values win over the
        environment and ``.env``; ``overrides`` are other Settings fields.
    sandbox
        ``None`` (default): use the sandbox only when no credentials are configured.
        ``True``: always use the sandbox. ``False``: never (raise
        :class:`~cerkl_nb.errors.MissingCredentials`). A ``Sandbox`` handle: use that one.
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
    return CerklClient(credentials=Credentials.for_sandbox(sb), settings=settings, sandbox=sb)
