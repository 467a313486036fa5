"""The OpenAPI 3 description of what the sandbox serves, built from the route table.

Served at ``/v3/openapi.json`` (and ``/openapi.json``) without authentication. Because
it is generated from :data:`cerkl_nb.sandbox.app.ROUTES` and the field tables in
``resources.py``, it cannot drift from the server. The explorer builds its catalogue
from it: operations are grouped by tag, and every write operation carries an
``example`` body to pre-fill the editor.
"""

from __future__ import annotations

import copy
from typing import Any

from .app import MAX_PAGE_SIZE, ROUTES, Route
from .resources import EXAMPLES, LOOKUPS, RESOURCES, Field, Resource

__all__ = ["build_openapi", "to_json_schema"]

_DATE_OUT = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"

_TAG_TEXT = {
    "oauth": "OAuth 2.0 token endpoint (client credentials and refresh token grants).",
    "subscriber": "Subscribers, their interests and their deletion into unsubscribes.",
    "unsubscribe": "Former subscribers (read only).",
    "segment": "Manual segments and their members.",
    "category": "Interest categories.",
    "blast": "One-off emails (the sandbox never sends anything).",
    "content": "Read side of all content: stories, events, needs and links.",
    "story": "Write side of stories.",
    "event": "Write side of events.",
    "need": "Write side of needs.",
    "link": "Write side of links.",
    "insights": "Engagement figures (deterministic fake numbers).",
    "lookup": "Read-only value lists that bodies refer to by id.",
}


def _with(s: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``s`` plus ``extra``; a ``$ref`` is wrapped in ``allOf`` (OpenAPI 3.0 ignores a
    ``$ref``'s siblings)."""
    return {"allOf": [s], **extra} if "$ref" in s else {**s, **extra}


def _out_schema(f: Field) -> dict[str, Any]:
    k = f.kind
    if k in ("str", "email"):
        s: dict[str, Any] = {"type": "string"}
    elif k == "int":
        s = {"type": "integer"}
    elif k == "bool":
        s = {"type": "boolean"}
    elif k == "date":
        s = {"type": "string", "pattern": _DATE_OUT, "example": "2020-07-16 14:03:11"}
    elif k == "ref":
        s = {"$ref": "#/components/schemas/Ref"}
    elif k == "refs":
        return {"type": "array", "items": {"$ref": "#/components/schemas/Ref"}}
    else:  # merge_fields
        return {"type": "array", "items": {"$ref": "#/components/schemas/MergeField"}}
    if f.name in ("id", "self", "content_type") or (f.required and f.kind != "ref"):
        return s
    return _with(s, nullable=True)


def _in_schema(f: Field) -> dict[str, Any]:
    k = f.kind
    if k in ("str", "email"):
        s: dict[str, Any] = {"type": "string", "maxLength": 20000}
        if k == "email":
            s["format"] = "email"
    elif k == "int":
        s = {"type": "integer", "minimum": 0}
    elif k == "bool":
        s = {"type": "boolean"}
    elif k == "date":
        s = {
            "type": "string",
            "description": "'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601",
            "example": "2020-07-20 15:00:00",
        }
    elif k == "ref":
        s = {"$ref": "#/components/schemas/RefIn"}
    elif k == "refs":
        s = {"type": "array", "items": {"$ref": "#/components/schemas/RefIn"}}
    else:
        s = {"type": "array", "items": {"$ref": "#/components/schemas/MergeFieldIn"}}
    if f.target:
        s = _with(s, description=f"A {f.target} id: {{'id': n}} or a bare n.")
    if not f.required:
        s = _with(s, nullable=True)
    return s


def _item_schema(res: Resource) -> dict[str, Any]:
    props = {}
    for f in res.fields:
        s = _out_schema(f)
        if f.description and "$ref" not in s:
            s = {**s, "description": f.description}
        props[f.name] = s
    req = [f.name for f in res.fields if f.name in ("id", "self")]
    out: dict[str, Any] = {"type": "object", "properties": props, "description": res.description}
    if req:  # OpenAPI 3.0 forbids an empty required list
        out["required"] = req
    return out


def _write_schema(res: Resource, update: bool) -> dict[str, Any]:
    props = {}
    for f in res.fields:
        if f.readonly:
            if f.name == "id" and update:
                s = {"type": "integer", "description": "Optional; must equal the id in the URL."}
            else:
                s = _with(_out_schema(f), readOnly=True)
        else:
            s = _in_schema(f)
        props[f.name] = s
    req = [f.name for f in res.writable if (f.required_on_update if update else f.required)]
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if req:
        out["required"] = req
    return out


def _template_schema(item_ref: str, *, max_items: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "array", "minItems": 1, "items": {"$ref": item_ref}}
    if max_items:
        data["maxItems"] = max_items
    return {
        "type": "object",
        "required": ["template"],
        "properties": {
            "template": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "version": {"type": "string", "example": "3.0"},
                    "data": data,
                },
            }
        },
    }


def _envelope(item_ref: str, paged: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "version": {"type": "string", "enum": ["3.0"]},
        "href": {"type": "string"},
        "data": {"type": "array", "items": {"$ref": item_ref}},
    }
    req = ["version", "href", "data"]
    if paged:
        props.update(
            {
                "page": {"type": "integer", "minimum": 1},
                "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                "total": {"type": "integer", "minimum": 0},
                "links": {
                    "type": "object",
                    "required": ["self", "next", "prev"],
                    "properties": {
                        "self": {"type": "string"},
                        "next": {"type": "string", "nullable": True},
                        "prev": {"type": "string", "nullable": True},
                    },
                },
            }
        )
        req += ["page", "page_size", "total", "links"]
    return {"type": "object", "required": req, "properties": props}


def _schema_name(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


def _err(desc: str, oauth: bool = False) -> dict[str, Any]:
    ref = "#/components/schemas/OAuthError" if oauth else "#/components/schemas/Error"
    schema: dict[str, Any] = {"$ref": ref}
    if oauth:
        schema = {"anyOf": [{"$ref": ref}, {"$ref": "#/components/schemas/Error"}]}
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


_LIST_PARAMS = [
    {
        "name": "page",
        "in": "query",
        "description": "1-based page number.",
        "schema": {"type": "integer", "minimum": 1, "default": 1},
    },
    {
        "name": "page_size",
        "in": "query",
        "description": f"Items per page, 1 to {MAX_PAGE_SIZE}.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 100},
    },
    {
        "name": "filters_json",
        "in": "query",
        "description": (
            'URL-encoded JSON: {"<field>": {"<op>": <value>}}. Operators: eq, ne, gt, gte, '
            "lt, lte, contains, in. Several fields and operators combine with AND."
        ),
        "schema": {"type": "string"},
        "example": '{"date_modified_utc": {"gt": "2020-07-16 00:00:00"}}',
    },
]


def _path_params(path: str) -> list[dict[str, Any]]:
    out = []
    for name in ("id", "subscriber_id"):
        if "{" + name + "}" in path:
            out.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            )
    return out


def _operation(rt: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": rt.operation_id,
        "tags": [rt.tag],
        "summary": rt.summary,
    }
    if rt.description:
        op["description"] = rt.description
    if rt.sandbox_only:
        op["x-sandbox-only"] = True
    params = _path_params(rt.path)
    std = {
        "401": {
            "description": "Missing, expired or revoked access token.",
            "headers": {
                "WWW-Authenticate": {
                    "description": 'Bearer realm="cerkl-sandbox", error="invalid_token"',
                    "schema": {"type": "string"},
                }
            },
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
        "default": _err("Any other error (400, 404, 405, 409, 413, 415, 429, 5xx)."),
    }
    if rt.kind == "token":
        op["security"] = [{"clientBasic": []}, {}]
        op["description"] = (
            "RFC 6749 token endpoint. Authenticate the client with HTTP Basic (or "
            "client_id/client_secret form fields, never both). Cerkl's documented command:\n\n"
            'curl -v <base>/oauth/Token -H "Accept: application/json" -H "Accept-Language: '
            'en_US" -u "<id>:<secret>" -d "grant_type=client_credentials"'
        )
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"$ref": "#/components/schemas/TokenRequest"},
                    "example": {"grant_type": "client_credentials"},
                }
            },
        }
        op["responses"] = {
            "200": {
                "description": "A new access token (Cache-Control: no-store).",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/TokenResponse"}}
                },
            },
            "400": _err(
                "invalid_request, unsupported_grant_type, invalid_grant, invalid_scope", True
            ),
            "401": _err("invalid_client (with WWW-Authenticate: Basic)", True),
            "default": _err("413, 429 or 5xx", True),
        }
        return op

    op["security"] = [{"bearerAuth": []}, {"cerklOAuth": []}]
    res_name = rt.resource
    if rt.kind == "list":
        item = _item_ref(res_name, schemas)
        op["parameters"] = params + copy.deepcopy(_LIST_PARAMS)
        op["responses"] = {
            "200": {
                "description": "One page of results.",
                "content": {"application/json": {"schema": _envelope(item, True)}},
            },
            "400": _err("Bad page, page_size or filters_json."),
            **std,
        }
    elif rt.kind == "get":
        item = _item_ref(res_name, schemas)
        op["parameters"] = params
        op["responses"] = {
            "200": {
                "description": "The object, as a one-item data list.",
                "content": {"application/json": {"schema": _envelope(item, False)}},
            },
            "404": _err("No object with this id."),
            **std,
        }
    elif rt.kind in ("create", "update", "add_member"):
        if rt.kind == "add_member":
            body_ref = "#/components/schemas/SegmentMemberTemplate"
            out_item = _item_ref("subscriber", schemas)
            example = {"template": {"version": "3.0", "data": [EXAMPLES["segment_member"]]}}
        else:
            sname = _schema_name(res_name) + ("Update" if rt.kind == "update" else "Create")
            schemas.setdefault(sname, _write_schema(RESOURCES[res_name], rt.kind == "update"))
            tname = sname + "Template"
            schemas.setdefault(tname, _template_schema(f"#/components/schemas/{sname}"))
            body_ref = f"#/components/schemas/{tname}"
            out_item = _item_ref(res_name, schemas)
            example = {"template": {"version": "3.0", "data": [EXAMPLES[res_name]]}}
        op["parameters"] = params
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": body_ref}, "example": example}},
        }
        code = "200" if rt.kind == "update" else "201"
        op["responses"] = {
            code: {
                "description": "The stored object(s), as a data list.",
                "content": {"application/json": {"schema": _envelope(out_item, False)}},
            },
            "400": _err("Invalid envelope or field."),
            "404": _err("No object with this id."),
            "409": _err("Duplicate (email, external_id, membership) or a forbidden change."),
            **std,
        }
    elif rt.kind in ("delete", "remove_member", "remove_member_body"):
        op["parameters"] = params
        if rt.kind == "remove_member_body":
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/SegmentMemberTemplate"},
                        "example": {"template": {"version": "3.0", "data": [{"id": 100001}]}},
                    }
                },
            }
        op["responses"] = {
            "204": {"description": "Deleted."},
            "404": _err("No object with this id."),
            "409": _err("The object cannot be deleted in its state."),
            **std,
        }
    elif rt.kind == "template":
        op["description"] = (
            "Sandbox-only stand-in for Cerkl's 'self-documenting template endpoints': the "
            "writable fields with type hints, plus an example body."
        )
        op["responses"] = {
            "200": {
                "description": "A template with type hints.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/TemplateHints"}}
                },
            },
            **std,
        }
    return op


def _item_ref(res_name: str, schemas: dict[str, Any]) -> str:
    if res_name in LOOKUPS:
        return "#/components/schemas/Lookup"
    name = _schema_name(res_name)
    if name not in schemas:
        schemas[name] = _item_schema(RESOURCES[res_name])
    return f"#/components/schemas/{name}"


def _components() -> dict[str, Any]:
    return {
        "Ref": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "integer"}, "self": {"type": "string"}},
        },
        "RefIn": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "integer", "minimum": 1},
                        "self": {"type": "string"},
                    },
                },
                {"type": "integer", "minimum": 1},
            ]
        },
        "MergeField": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "type": {"$ref": "#/components/schemas/Ref"},
                "value": {"type": "string"},
            },
        },
        "MergeFieldIn": {
            "type": "object",
            "required": ["id", "type", "value"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": {"$ref": "#/components/schemas/RefIn"},
                "value": {"type": "string"},
            },
        },
        "Lookup": {
            "type": "object",
            "required": ["id", "description", "self"],
            "properties": {
                "id": {"type": "integer"},
                "description": {"type": "string"},
                "self": {"type": "string"},
            },
        },
        "SegmentMemberTemplate": _template_schema(
            "#/components/schemas/SegmentMember", max_items=1
        ),
        "SegmentMember": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"$ref": "#/components/schemas/RefIn"}},
        },
        "TemplateHints": {
            "type": "object",
            "required": ["template"],
            "properties": {
                "template": {"type": "object"},
                "example": {"type": "object"},
                "x-sandbox-only": {"type": "boolean"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "integer"},
                        "message": {"type": "string"},
                    },
                }
            },
        },
        "OAuthError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "string",
                    "enum": [
                        "invalid_request",
                        "invalid_client",
                        "invalid_grant",
                        "unauthorized_client",
                        "unsupported_grant_type",
                        "invalid_scope",
                        "temporarily_unavailable",
                        "server_error",
                    ],
                },
                "error_description": {"type": "string"},
            },
        },
        "TokenRequest": {
            "type": "object",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials", "refresh_token"]},
                "refresh_token": {"type": "string"},
                "client_id": {"type": "string"},
                "client_secret": {"type": "string"},
                "scope": {"type": "string"},
            },
        },
        "TokenResponse": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in"],
            "properties": {
                "access_token": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
                "token_type": {"type": "string", "example": "Bearer"},
                "expires_in": {"type": "number", "example": 43200},
                "refresh_token": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
                "scope": {"type": "string", "nullable": True},
            },
        },
    }


def build_openapi(base_url: str) -> dict[str, Any]:
    """Return the OpenAPI 3.0 document for a sandbox whose API base is ``base_url``.

    Parameters
    ----------
    base_url
        E.g. ``http://127.0.0.1:8765/v3``; used for ``servers`` and the token URL.
    """
    schemas = _components()
    paths: dict[str, dict[str, Any]] = {}
    for rt in ROUTES:
        paths.setdefault(rt.path, {})[rt.method.lower()] = _operation(rt, schemas)
    tags = [
        {"name": tag, "description": _TAG_TEXT.get(tag, "")}
        for tag in dict.fromkeys(rt.tag for rt in ROUTES)
    ]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Cerkl Broadcast API v3 (cerkl-nb sandbox)",
            "version": "3.0",
            "description": (
                "A local, faithful imitation of the Cerkl Broadcast API v3 served by "
                "cerkl-nb. Operations marked x-sandbox-only are not part of Cerkl's "
                "documented API. Where Cerkl's docs are silent, the sandbox's choices are "
                "listed in docs/sandbox.md."
            ),
        },
        "servers": [{"url": base_url, "description": "this sandbox"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "cerklOAuth": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {"tokenUrl": base_url + "/oauth/Token", "scopes": {}}
                    },
                },
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
        },
        "security": [{"bearerAuth": []}, {"cerklOAuth": []}],
    }


def to_json_schema(schema: Any) -> Any:
    """Convert OpenAPI 3.0 schema quirks (``nullable``) to plain JSON Schema.

    Used by the tests to validate responses with ``jsonschema``.
    """
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: to_json_schema(v) for k, v in schema.items() if k not in ("nullable", "example")}
    if schema.get("nullable"):
        if "type" in out:
            t = out["type"]
            out["type"] = [t, "null"] if isinstance(t, str) else [*t, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out
