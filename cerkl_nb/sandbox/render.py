"""How stored records look on the wire, and the hints of the template endpoints.

The store keeps references as bare ids; a response shows each as ``{"id", "self"}`` with
a URL built from the address the client used, and dates as Cerkl writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .resources import CONTENT_TYPES, LOOKUP, LOOKUPS, Field, Resource

__all__ = [
    "LOOKUP_RESOURCES",
    "RenderCache",
    "dumps",
    "envelope_json",
    "hint",
    "render",
    "render_any",
]


def render(res: Resource, rec: dict, base: str) -> dict:
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


def render_any(res: Resource, rec: dict, base: str) -> dict:
    """Like :func:`render`; an item of /content is rendered as its own content type."""
    if res.self_path == "content" and rec.get("content_type") in CONTENT_TYPES:
        res = CONTENT_TYPES[rec["content_type"]]
    return render(res, rec, base)


def dumps(obj: Any) -> bytes:
    """JSON as the sandbox sends it: UTF-8, no spaces (the same as ``messages._dumps``)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def envelope_json(head: Mapping[str, Any], items: list[bytes], tail: Mapping[str, Any]) -> bytes:
    """``{**head, "data": [items...], **tail}`` as JSON, from items already encoded.

    Byte for byte what :func:`dumps` gives for the whole dict (the same separators and key
    order), without encoding the items again.
    """
    parts = [dumps(dict(head))[:-1] + (b',"data":[' if head else b'"data":[')]
    parts.append(b",".join(items))
    parts.append(b"]" + (b"," + dumps(dict(tail))[1:] if tail else b"}"))
    return b"".join(parts)


class RenderCache:
    """The JSON of stored records as a list shows them, kept until the store changes.

    A list page of 100 subscribers used to render and encode 100 dicts on every request;
    a cached record costs one dict lookup. Entries are keyed by the record object, the
    base URL the client used (links depend on it) and the resource it is shown as, and
    hold the record itself, so a key can never be taken over by another object. The
    :class:`~cerkl_nb.sandbox.store.Store` calls :meth:`clear` on every write, under its
    lock; reads happen under the same lock. Only records that are in the store are
    cached (rows computed per request, such as interests, are rendered each time), and
    at most :attr:`max_entries`, so memory stays bounded.
    """

    max_entries = 50_000
    #: Whole list pages are kept too, up to this many bytes in all.
    max_page_bytes = 32 * 1024 * 1024

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str, str], tuple[dict, bytes]] = {}
        self._pages: dict[tuple, bytes] = {}
        self._page_bytes = 0

    def clear(self) -> None:
        """Forget every entry (after any write to the store)."""
        self._entries = {}
        self._pages = {}
        self._page_bytes = 0

    def page(self, key: tuple) -> bytes | None:
        """The body of a whole list page kept under ``key``, or None.

        A page of a whole collection is a function of the store and of the request's
        base URL, path, page, page size and filters, which the caller puts in ``key``.
        A client paging through a list asks for the same pages again and again between
        writes; a kept page is answered with one lookup instead of selecting rows and
        building links.
        """
        return self._pages.get(key)

    def keep_page(self, key: tuple, body: bytes) -> None:
        """Keep a page's body (call under the store's lock, like every read)."""
        if self._page_bytes + len(body) > self.max_page_bytes:
            self._pages, self._page_bytes = {}, 0
        self._pages[key] = body
        self._page_bytes += len(body)

    def __len__(self) -> int:
        return len(self._entries)

    def json_items(
        self, res: Resource, rows: Iterable[dict], base: str, stored: Mapping[int, dict] | None
    ) -> list[bytes]:
        """The JSON of each row as :func:`render_any` shows it, cached for stored records.

        Parameters
        ----------
        res
            The resource the rows are listed as.
        rows
            The records.
        base
            The API base URL of this request.
        stored
            The store's collection the rows come from, or None: a row is cached only when
            it *is* the record stored under its id there.
        """
        entries = self._entries
        out: list[bytes] = []
        for rec in rows:
            key = (id(rec), base, res.name)
            hit = entries.get(key)
            if hit is not None and hit[0] is rec:
                out.append(hit[1])
                continue
            encoded = dumps(render_any(res, rec, base))
            if stored is not None and stored.get(rec.get("id")) is rec:
                if len(entries) >= self.max_entries:
                    entries = self._entries = {}
                entries[key] = (rec, encoded)
            out.append(encoded)
        return out


# One Resource per lookup list (its name is its URL), built once.
LOOKUP_RESOURCES = {name: Resource(name, LOOKUP.fields, name) for name in LOOKUPS}


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


def hint(f: Field) -> Any:
    """What the sandbox-only template endpoint shows for one field."""
    return _REQUIRED_HINTS.get(f.kind, "required") if f.required else _HINTS[f.kind]
