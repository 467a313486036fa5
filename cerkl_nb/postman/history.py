"""A bounded log of API calls, each exportable as curl, Python or a Postman collection.

Every exported form holds placeholders for credentials, never values: ``$CERKL_ACCESS_TOKEN``
in curl, ``os.environ[...]`` or ``client`` in Python, ``{{clientSecret}}`` and its kin in
Postman. Request bodies are stored already redacted. The Postman methods delegate to
:mod:`cerkl_nb.postman.export` and :mod:`cerkl_nb.postman.importer`.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..redact import get_logger
from . import export
from .importer import PostmanImport, from_postman_collection
from .snippets import Snippets

__all__ = ["HistoryEntry", "History"]

log = get_logger("cerkl_nb.postman.history")

_ids = itertools.count(1)


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
        return export.to_postman_item(self)


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
        attempt before them. ``include_failed`` keeps calls whose final answer was an
        error (4xx/5xx or none at all).
        """
        return export.logical_calls(self.entries(), include_failed=include_failed)

    def to_postman_collection(
        self,
        name: str = "Cerkl API v3 (cerkl-nb)",
        *,
        base_url: str | None = None,
        include_failed: bool = False,
    ) -> dict[str, Any]:
        """The session as a Postman Collection v2.1 that runs on its own in Postman and Newman.

        Collection-level OAuth 2.0 (client credentials, Basic auth header) for Postman's
        *Get New Access Token*, a pre-request script that fetches a token for Newman, one
        item per :meth:`logical_calls` entry with a status test, created ids as collection
        variables and ``external_id`` / ``email`` values made unique per run. No credential
        is in the file: pair it with :meth:`to_postman_environment`. docs/postman.md has
        every part.

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
        return export.to_postman_collection(
            self.entries(), name, base_url=base_url, include_failed=include_failed
        )

    def to_postman_environment(
        self,
        name: str = "Cerkl sandbox (cerkl-nb)",
        *,
        base_url: str | None = None,
        client_id: str = "",
        client_secret_from_env: bool = False,
    ) -> dict[str, Any]:
        """The Postman environment for :meth:`to_postman_collection`.

        It holds ``baseUrl``, ``tokenUrl``, ``clientId`` (``client_id``, not a secret) and
        ``clientSecret``, left empty (type *secret*) for Postman or Newman's
        ``--env-var clientSecret=...``. Only ``client_secret_from_env=True`` copies
        ``CERKL_CLIENT_SECRET`` into it, and such a file is a credential: keep it out of git.
        """
        return export.to_postman_environment(
            self.entries(),
            name,
            base_url=base_url,
            client_id=client_id,
            client_secret_from_env=client_secret_from_env,
        )

    def save_postman(
        self,
        directory: str | os.PathLike[str],
        stem: str = "cerkl-session",
        **options: Any,
    ) -> tuple[Path, Path]:
        """Write ``<stem>.postman_collection.json`` and ``<stem>.postman_environment.json``.

        ``options`` go to :meth:`to_postman_collection` (``name``, ``base_url``,
        ``include_failed``) and :meth:`to_postman_environment` (``client_id``,
        ``client_secret_from_env``). Returns both paths.
        """
        return export.save_postman(self.entries(), directory, stem, **options)

    @staticmethod
    def from_postman_collection(
        collection: Mapping[str, Any],
        environment: Mapping[str, Any] | None = None,
        *,
        variables: Mapping[str, Any] | None = None,
    ) -> PostmanImport:
        """Turn a parsed Postman v2.1 collection back into requests a client can replay.

        Variables resolve as in Postman: ``variables`` over the ``environment``'s over the
        collection's, plus dynamic ones (``{{$guid}}`` ...) and path variables
        (``/segment/:id``); ``{{baseUrl}}`` may end with ``/v3`` or not. Whatever cannot
        be carried (scripts, auth blocks, custom headers, other hosts, bodies that are not
        JSON, undefined variables) is named in the result's ``warnings``, and such a
        request is left out rather than sent differently. docs/postman.md has the list.

        Returns
        -------
        PostmanImport
            A list of ``{"name", "method", "path", "params", "json"}`` dicts with
            ``.warnings`` and ``.replay(client)``; one replays by hand with
            ``client.request(r["method"], r["path"], params=r["params"], json=r["json"])``.
        """
        return from_postman_collection(collection, environment, variables=variables)
