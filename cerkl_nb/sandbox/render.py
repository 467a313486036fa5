"""How stored records look on the wire, and the hints of the template endpoints.

The store keeps references as bare ids; a response shows each as ``{"id", "self"}`` with
a URL built from the address the client used, and dates as Cerkl writes them.
"""

from __future__ import annotations

from typing import Any

from ..spec import CONTENT_TYPES, LOOKUP, LOOKUPS, Field, Resource

__all__ = ["LOOKUP_RESOURCES", "hint", "render", "render_any"]


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
