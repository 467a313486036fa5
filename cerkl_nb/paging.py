"""Paging, filtering and DataFrames of Cerkl list responses.

Cerkl documents ``page`` (default 1), ``page_size`` (default 100) and a ``filters_json``
query parameter, but not the response envelope, so responses are read defensively: a
total under ``total`` / ``total_count`` / ``count`` / ``meta.total`` (or ``X-Total-Count``),
a next page under ``links.next``, ``next`` or a ``Link: <...>; rel="next"`` header. Paging
stops at whichever signal comes first: the total is reached, there is no next link, or a
page is shorter than ``page_size``.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .errors import BadResponse, ConfigurationError, MissingDependency
from .redact import get_logger
from .spec import FILTER_OPERATORS

__all__ = ["Page", "filters_json", "extract_total", "extract_next", "iter_items"]
__all__ += ["DEFAULT_CONCURRENCY", "frame_from_items", "require_pandas"]

log = get_logger("cerkl_nb.paging")

# Any operator name made of a-z and _ is passed through (FILTER_OPERATORS are only those
# known to work): Cerkl does not publish its full set.
_OPERATOR_NAME = re.compile(r"^[a-z_]+$")
#: Pages fetched at once when the server reports a total. Four hide most of the latency of
#: a remote API (at 20 ms a call, 10,000 records take about a quarter of the sequential
#: time) without hammering it.
DEFAULT_CONCURRENCY = 4
# Pages requested ahead of the one being read, per worker: a bound on memory.
_AHEAD = 4


@dataclass(frozen=True)
class Page:
    """One page of a collection.

    Attributes
    ----------
    items
        The records.
    page, page_size
        As the server reported them (or as requested when it did not say).
    total, next_url
        The total number of records and the next page's URL, when the server says.
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

    @classmethod
    def from_response(
        cls,
        body: Any,
        items: list[dict[str, Any]],
        headers: Mapping[str, str],
        page: int,
        size: int,
    ) -> Page:
        """The page a list response describes (``page`` and ``size``: what was asked for)."""
        meta = body if isinstance(body, Mapping) else {}
        said, nxt = extract_next(body, headers)
        got_page, got_size = meta.get("page"), meta.get("page_size")
        return cls(
            items=items,
            page=got_page if isinstance(got_page, int) and not isinstance(got_page, bool) else page,
            page_size=got_size if isinstance(got_size, int) and got_size > 0 else size,
            total=extract_total(body, headers),
            next_url=nxt,
            raw=body,
            has_next=(nxt is not None) if said else None,
        )

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items)


def _filter_value(value: Any, op: str) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S")  # the format of Cerkl's filter example
    if isinstance(value, _dt.date):
        return value.strftime("%Y-%m-%d 00:00:00")
    if op == "in":
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ConfigurationError(f"the 'in' operator needs a list of values, got {value!r}")
        return [_filter_value(v, "eq") for v in value]
    if isinstance(value, (set, frozenset, tuple)):
        return [_filter_value(v, "eq") for v in value]
    return value


def filters_json(conditions: Mapping[str, Any] | None = None, **django_style: Any) -> str:
    """Build the ``filters_json`` query value (compact JSON; ``requests`` URL-encodes it).

    Parameters
    ----------
    conditions
        ``{"field": {"op": value}}`` as Cerkl documents it, or ``{"field": value}`` for
        equality.
    **django_style
        ``field__op=value`` (``email__contains="@example.com"``), split at the *last*
        ``__`` when what follows is an operator name (``a-z`` and ``_``); a bare
        ``field=value`` means ``eq``. Both forms combine (AND).

    Operators are not checked against a list: :data:`~cerkl_nb.spec.FILTER_OPERATORS` are
    those known to work (Cerkl documents ``gt``); the server decides about any other (an
    unknown one comes back as a 400 :class:`~cerkl_nb.errors.ValidationError`). Dates and
    datetimes are written as in Cerkl's example (``2020-07-16 00:00:00``, UTC).

    Examples
    --------
    >>> filters_json({"date_modified_utc": {"gt": "2020-07-16 00:00:00"}})
    '{"date_modified_utc":{"gt":"2020-07-16 00:00:00"}}'
    >>> filters_json(email__contains="@example.com", id__in=[1, 2])
    '{"email":{"contains":"@example.com"},"id":{"in":[1,2]}}'
    """
    out: dict[str, dict[str, Any]] = {}

    def add(field: str, op: str, value: Any) -> None:
        if not field:
            raise ConfigurationError("a filter needs a field name")
        if not _OPERATOR_NAME.match(op):
            raise ConfigurationError(
                f"filter operator {op!r} on {field!r} is not an operator name (lower-case "
                f"letters and _); known to work: {', '.join(FILTER_OPERATORS)}"
            )
        out.setdefault(field, {})[op] = _filter_value(value, op)

    for field, spec in (conditions or {}).items():
        if not isinstance(spec, Mapping):
            spec = {"eq": spec}
        elif not spec:
            raise ConfigurationError(f"the filter on {field!r} has no operator")
        for op, value in spec.items():
            add(str(field), str(op), value)
    for key, value in django_style.items():
        field, sep, op = key.rpartition("__")
        if sep and field and _OPERATOR_NAME.match(op):
            add(field, op, value)
        else:
            add(key, "eq", value)
    if not out:
        raise ConfigurationError("filters_json() needs at least one condition")
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False, default=str)


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def extract_total(body: Any, headers: Mapping[str, str] | None = None) -> int | None:
    """The total number of records, if the response says."""
    if isinstance(body, Mapping):
        for key in ("total", "total_count", "totalCount", "count", "total_items"):
            if (t := _as_int(body.get(key))) is not None:
                return t
        for key in ("meta", "paging", "pagination"):
            if isinstance(body.get(key), Mapping) and (t := extract_total(body[key])) is not None:
                return t
    for key in ("X-Total-Count", "X-Total"):
        if headers and (t := _as_int(headers.get(key))) is not None:
            return t
    return None


def extract_next(body: Any, headers: Mapping[str, str] | None = None) -> tuple[bool, str | None]:
    """``(said, next_url)``: whether the response speaks about a next page at all, and where.

    ``said`` is False without paging information (the caller falls back to the short-page
    rule); ``(True, None)`` means "this is the last page".
    """
    if isinstance(body, Mapping):
        links = body.get("links")
        if isinstance(links, Mapping):
            nxt = links.get("next")
            if isinstance(nxt, Mapping):
                nxt = nxt.get("href")
            return True, (nxt or None) if isinstance(nxt, (str, type(None))) else None
        if isinstance(links, list):
            for link in links:
                if isinstance(link, Mapping) and link.get("rel") == "next":
                    return True, link.get("href")
            return True, None
        if "next" in body and isinstance(body["next"], (str, type(None))):
            return True, body["next"] or None
    link = headers.get("Link") if headers else None
    if link:
        for part in link.split(","):
            if 'rel="next"' in part or "rel=next" in part:
                return True, part.split(";")[0].strip().strip("<>")
        return True, None
    return False, None


def _progress(total: int | None, desc: str) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        log.warning("progress=True needs tqdm: pip install 'cerkl-nb[data]'; continuing without.")
        return None
    if sys.platform == "emscripten":
        # tqdm's monitor is a background thread, which a browser tab cannot start.
        tqdm.monitor_interval = 0
    return tqdm(total=total, desc=desc, unit="item")


def iter_items(
    client: Any,
    resource: str,
    *,
    page_size: int = 100,
    filters: Mapping[str, Any] | str | None = None,
    progress: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    start_page: int = 1,
    **params: Any,
) -> Iterator[dict[str, Any]]:
    """Yield every record of a collection in page order, fetching pages lazily.

    Parameters
    ----------
    client
        Anything with :meth:`~cerkl_nb.client.CerklClient.list`.
    resource, page_size, filters, **params
        As for :meth:`~cerkl_nb.client.CerklClient.list`.
    progress
        Show a ``tqdm.auto`` progress bar (with a total when the server gives one).
    concurrency
        Fetch up to this many pages at once when the first page reports a total (without
        one, we would not know when to stop); 1 means one page at a time, and so does a
        browser tab (Pyodide cannot start threads). At most ``4 * concurrency`` pages are
        held at once.
    """
    if page_size < 1:
        raise ConfigurationError(f"page_size must be >= 1, got {page_size}")
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be >= 1, got {concurrency}")

    def fetch(n: int) -> Page:
        return client.list(resource, page=n, page_size=page_size, filters=filters, **params)

    first = fetch(start_page)
    bar = _progress(first.total, resource) if progress else None
    # A server may clamp page_size silently: count pages with the size it reports, or the
    # short-page rule would stop after the first (clamped) page and lose records.
    size = first.page_size if 0 < first.page_size <= page_size else page_size
    pages: Iterable[Page]
    if first.total is None:
        pages = map(fetch, itertools.count(first.page + 1))
    else:
        numbers = range(first.page + 1, first.page + math.ceil(first.total / size))
        threads = concurrency > 1 and sys.platform != "emscripten"
        pages = _concurrently(fetch, numbers, concurrency) if threads else map(fetch, numbers)
    seen, prev, page = 0, None, first
    try:
        for page in itertools.chain([first], pages):
            if prev is not None:
                _check_not_repeated(resource, prev, page)
            seen += len(page.items)
            if bar is not None:
                bar.update(len(page.items))
            yield from page.items
            if _is_last(page, size, seen, first.total if first.total is not None else page.total):
                return
            prev = page
    finally:
        if bar is not None:
            bar.close()
        if hasattr(pages, "close"):
            pages.close()


def _concurrently(fetch: Any, numbers: Iterable[int], concurrency: int) -> Iterator[Page]:
    """The pages of ``numbers`` in order, at most ``_AHEAD * concurrency`` requested ahead."""
    todo = iter(numbers)
    window: deque[Future[Page]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cerkl-page") as pool:
        try:
            for n in itertools.islice(todo, _AHEAD * concurrency):
                window.append(pool.submit(fetch, n))
            while window:
                page = window.popleft().result()
                for n in itertools.islice(todo, 1):
                    window.append(pool.submit(fetch, n))
                yield page
        finally:
            for fut in window:
                fut.cancel()


def _check_not_repeated(resource: str, prev: Page, page: Page) -> None:
    """Raise when a page repeats the previous one: the server ignores ``page`` (without a
    total or next links, such a server would otherwise be paged forever)."""

    def identity(items: list[dict[str, Any]]) -> list[Any]:
        ids = [it.get("id") for it in items]
        return ids if None not in ids else list(items)

    if page.items and identity(page.items) == identity(prev.items):
        raise BadResponse(
            f"GET {resource}: page {page.page} returned the same records as page "
            f"{prev.page}; the server seems to ignore the page parameter. Stopped "
            "instead of paging forever; the records of the earlier pages were already "
            "returned. Use client.list() and check what the server does with page=."
        )


def _is_last(page: Page, page_size: int, seen: int, total: int | None) -> bool:
    if not page.items or page.has_next is False or (total is not None and seen >= total):
        return True
    return len(page.items) < page_size


def require_pandas() -> Any:
    """Import pandas or raise :class:`MissingDependency` with the install command."""
    try:
        import pandas
    except ImportError:
        raise MissingDependency(
            "to_dataframe() needs pandas, which is not installed. Install it with "
            "`pip install 'cerkl-nb[data]'` (or `pip install pandas`), or use get_all() "
            "for a list of dicts."
        ) from None
    return pandas


#: Records turned into DataFrame columns at a time by :func:`frame_from_items` (normalize).
FRAME_CHUNK = 10_000


def frame_from_items(pd: Any, items: Iterable[dict[str, Any]], normalize: bool = False) -> Any:
    """A DataFrame of ``items``, built as they arrive instead of from a list of them all.

    ``DataFrame.from_records(list(items))`` holds every record's dict and the finished
    frame at once (1.4 to 1.8 times the frame at its peak). Here each record's values go
    straight into per-column lists; the result equals ``DataFrame.from_records`` of the
    same records (column order, dtypes, NaN for missing values). With ``normalize``, each
    :data:`FRAME_CHUNK` records are flattened by ``pandas.json_normalize`` and concatenated.
    """
    if normalize:
        frames, chunk = [], []
        for rec in items:
            chunk.append(rec)
            if len(chunk) >= FRAME_CHUNK:
                frames.append(pd.json_normalize(chunk))
                chunk = []
        if chunk or not frames:
            frames.append(pd.json_normalize(chunk))
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    columns: dict[str, list[Any]] = {}
    n = 0
    for rec in items:
        for name, values in columns.items():
            if name not in rec:
                values.append(math.nan)
        for name, value in rec.items():
            columns.setdefault(name, [math.nan] * n).append(value)
        n += 1
    if not columns:
        return pd.DataFrame.from_records([{}] * n)
    # Each list is dropped as soon as its Series exists, and the frame takes the Series
    # without a copy: the lists, the arrays and the frame never coexist in full.
    return pd.DataFrame({name: pd.Series(columns.pop(name)) for name in list(columns)}, copy=False)
