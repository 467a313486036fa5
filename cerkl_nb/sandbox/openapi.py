"""The OpenAPI 3 description of what the sandbox serves, built from :mod:`cerkl_nb.spec`.

Served at ``/v3/openapi.json`` (and ``/openapi.json``) without authentication. The
sandbox's routes and this description both derive from :data:`cerkl_nb.spec.ENDPOINTS`
and the field tables beside it, so the description cannot drift from the server. It is
written for strict tools: Redocly's linter, openapi-core (responses validate, nullable
fields included) and Postman's importer (the OAuth 2.0 client-credentials scheme comes
first, and every path id and query parameter has an example that a freshly seeded
sandbox answers with 2xx). Operations that Cerkl's documentation does not describe carry
``x-sandbox-only: true``.
"""

from __future__ import annotations

from typing import Any

from ..spec import (
    ENDPOINTS,
    ENVELOPE_VERSION,
    LOOKUPS,
    MAX_BATCH_ITEMS,
    MAX_PAGE_SIZE,
    MAX_TEXT_LENGTH,
    RESOURCES,
    TOKEN_LIFETIME_S,
    TOKEN_PATH,
    Endpoint,
    Field,
    Param,
    Resource,
)

__all__ = ["build_openapi"]

_DATE_OUT = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_REF = "#/components/schemas/"

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


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def _with(s: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``s`` plus ``extra``; a ``$ref`` is wrapped in ``allOf`` (OpenAPI 3.0 ignores a
    ``$ref``'s siblings). Never used for ``nullable``: that needs a ``type`` beside it."""
    return {"allOf": [s], **extra} if "$ref" in s else {**s, **extra}


def _nullable(f: Field) -> bool:
    """Output fields that may be ``null``: everything not required, but the server's own."""
    return not (f.name in ("id", "self", "content_type") or (f.required and f.kind != "ref"))


def _out_schema(f: Field) -> dict[str, Any]:
    k = f.kind
    if k == "refs":
        return {"type": "array", "items": _ref("Ref")}
    if k == "merge_fields":
        return {"type": "array", "items": _ref("MergeField")}
    if k == "ref":
        # A nullable reference is its own component: `nullable` needs a `type` beside it,
        # which a `$ref` cannot have in OpenAPI 3.0.
        return _ref("NullableRef" if _nullable(f) else "Ref")
    if k in ("str", "email"):
        s: dict[str, Any] = {"type": "string"}
    elif k == "int":
        s = {"type": "integer"}
    elif k == "bool":
        s = {"type": "boolean"}
    else:  # date
        s = {"type": "string", "pattern": _DATE_OUT, "example": "2020-07-16 14:03:11"}
    return {**s, "nullable": True} if _nullable(f) else s


def _in_schema(f: Field) -> dict[str, Any]:
    k = f.kind
    if k == "ref":
        return _ref("RefIn" if f.required else "NullableRefIn")
    if k in ("str", "email"):
        s: dict[str, Any] = {"type": "string", "maxLength": MAX_TEXT_LENGTH}
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
    elif k == "refs":
        s = {"type": "array", "maxItems": MAX_BATCH_ITEMS, "items": _ref("RefIn")}
    else:
        s = {"type": "array", "items": _ref("MergeFieldIn")}
    if f.target:
        s["description"] = f"{f.target} ids: {{'id': n}} or a bare n."
    if not f.required:
        s["nullable"] = True
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


def _template_schema(item_ref: str, *, max_items: int = MAX_BATCH_ITEMS) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["template"],
        "properties": {
            "template": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "version": {"type": "string", "example": ENVELOPE_VERSION},
                    "data": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": max_items,
                        "items": {"$ref": item_ref},
                    },
                },
            }
        },
    }


def _envelope(item_ref: str, paged: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "version": {"type": "string", "enum": [ENVELOPE_VERSION]},
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
    schema = _ref("Error")
    if oauth:
        schema = {"anyOf": [_ref("OAuthError"), _ref("Error")]}
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _parameter(p: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.type}
    for key in ("minimum", "maximum", "default"):
        if getattr(p, key) is not None:
            schema[key] = getattr(p, key)
    out: dict[str, Any] = {"name": p.name, "in": p.location}
    if p.required or p.location == "path":
        out["required"] = True
    if p.description:
        out["description"] = p.description
    out["schema"] = schema
    if p.example is not None:
        out["example"] = p.example
    return out


_LOCATION = {
    "description": "The created object's URL (for a new membership: the subscriber's URL).",
    "schema": {"type": "string"},
}


def _token_operation(op: dict[str, Any]) -> dict[str, Any]:
    op["security"] = [{"clientBasic": []}, {}]
    op["description"] = (
        "RFC 6749 token endpoint. Authenticate the client with HTTP Basic (or "
        "client_id/client_secret form fields, never both). Cerkl's documented command:\n\n"
        f'curl -v <base>{TOKEN_PATH} -H "Accept: application/json" -H "Accept-Language: '
        'en_US" -u "<id>:<secret>" -d "grant_type=client_credentials"'
    )
    op["requestBody"] = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": _ref("TokenRequest"),
                "example": {"grant_type": "client_credentials"},
            }
        },
    }
    op["responses"] = {
        "200": {
            "description": "A new access token (Cache-Control: no-store).",
            "content": {"application/json": {"schema": _ref("TokenResponse")}},
        },
        "400": _err("invalid_request, unsupported_grant_type, invalid_grant, invalid_scope", True),
        "401": _err("invalid_client (with WWW-Authenticate: Basic)", True),
        "default": _err("413, 429 or 5xx", True),
    }
    return op


def _standard_responses() -> dict[str, Any]:
    """The answers every authenticated operation can give besides its own."""
    return {
        "401": {
            "description": "Missing, expired or revoked access token.",
            "headers": {
                "WWW-Authenticate": {
                    "description": 'Bearer realm="cerkl-sandbox", error="invalid_token"',
                    "schema": {"type": "string"},
                }
            },
            "content": {"application/json": {"schema": _ref("Error")}},
        },
        "default": _err("Any other error (400, 404, 405, 409, 413, 415, 429, 5xx)."),
    }


def _json_content(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _list_responses(ep: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    envelope = _envelope(_item_ref(ep.model, schemas), True)
    return {
        str(ep.status): {
            "description": "One page of results.",
            "content": _json_content(envelope),
        },
        "400": _err("Bad page, page_size or filters_json."),
    }


def _get_responses(ep: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    envelope = _envelope(_item_ref(ep.model, schemas), False)
    return {
        str(ep.status): {
            "description": "The object, as a one-item data list.",
            "content": _json_content(envelope),
        },
        "404": _err("No object with this id."),
    }


def _write_responses(ep: Endpoint, schemas: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """Create, update and add-member: a template body in, the stored object(s) out."""
    if ep.kind == "add_member":
        body_ref = _REF + "SegmentMemberTemplate"
        out_item = _item_ref("subscriber", schemas)
    else:
        sname = _schema_name(str(ep.model)) + ("Update" if ep.kind == "update" else "Create")
        schemas.setdefault(sname, _write_schema(RESOURCES[str(ep.model)], ep.kind == "update"))
        tname = sname + "Template"
        schemas.setdefault(tname, _template_schema(_REF + sname))
        body_ref = _REF + tname
        out_item = _item_ref(ep.model, schemas)
    op["requestBody"] = {
        "required": True,
        "content": _json_content({"$ref": body_ref}, ep.example_body),
    }
    success: dict[str, Any] = {
        "description": "The stored object(s), as a data list.",
        "content": _json_content(_envelope(out_item, False)),
    }
    if ep.status == 201:
        success["headers"] = {"Location": _LOCATION}
    return {
        str(ep.status): success,
        "400": _err("Invalid envelope or field."),
        "404": _err("No object with this id."),
        "409": _err("Duplicate (email, external_id, membership) or a forbidden change."),
    }


def _delete_responses(ep: Endpoint, schemas: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    if ep.kind == "remove_member_body":
        op["requestBody"] = {
            "required": True,
            "content": _json_content(_ref("SegmentMemberTemplate"), ep.example_body),
        }
    return {
        str(ep.status): {"description": "Deleted."},
        "404": _err("No object with this id."),
        "409": _err("The object cannot be deleted in its state."),
    }


def _template_responses(
    ep: Endpoint, schemas: dict[str, Any], op: dict[str, Any]
) -> dict[str, Any]:
    op["description"] = (
        "Stand-in for Cerkl's 'self-documenting template endpoints': the writable "
        "fields with type hints, plus an example body."
    )
    return {
        str(ep.status): {
            "description": "A template with type hints.",
            "content": _json_content(_ref("TemplateHints")),
        },
    }


def _operation(ep: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "tags": [ep.resource],
        "summary": ep.summary,
    }
    if ep.description:
        op["description"] = ep.description
    if ep.sandbox_only:
        op["x-sandbox-only"] = True
    if ep.kind == "token":
        return _token_operation(op)
    if ep.params:
        op["parameters"] = [_parameter(p) for p in ep.params]
    if ep.kind == "list":
        responses = _list_responses(ep, schemas)
    elif ep.kind == "get":
        responses = _get_responses(ep, schemas)
    elif ep.kind in ("create", "update", "add_member"):
        responses = _write_responses(ep, schemas, op)
    elif ep.kind in ("delete", "remove_member", "remove_member_body"):
        responses = _delete_responses(ep, schemas, op)
    elif ep.kind == "template":
        responses = _template_responses(ep, schemas, op)
    else:  # pragma: no cover - api.ENDPOINTS names only the kinds above
        raise ValueError(f"no OpenAPI shape for endpoint kind {ep.kind!r}")
    op["responses"] = {**responses, **_standard_responses()}
    return op


def _item_ref(res_name: str | None, schemas: dict[str, Any]) -> str:
    if res_name in LOOKUPS:
        return _REF + "Lookup"
    name = _schema_name(str(res_name))
    if name not in schemas:
        schemas[name] = _item_schema(RESOURCES[str(res_name)])
    return _REF + name


def _ref_object(*, nullable: bool = False, minimum: int | None = None) -> dict[str, Any]:
    ident: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        ident["minimum"] = minimum
    out: dict[str, Any] = {
        "type": "object",
        "required": ["id"],
        "properties": {"id": ident, "self": {"type": "string"}},
    }
    if nullable:
        out["nullable"] = True
    return out


def _components() -> dict[str, Any]:
    """Every shared schema: record references and lookups, then errors and token shapes."""
    return {**_reference_components(), **_error_and_token_components()}


def _reference_components() -> dict[str, Any]:
    return {
        "Ref": _ref_object(),
        "NullableRef": _ref_object(nullable=True),
        "RefIn": {"oneOf": [_ref_object(minimum=1), {"type": "integer", "minimum": 1}]},
        # null matches only the first branch (the object is nullable, the integer is not).
        "NullableRefIn": {
            "oneOf": [_ref_object(nullable=True, minimum=1), {"type": "integer", "minimum": 1}]
        },
        "MergeField": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "type": _ref("Ref"),
                "value": {"type": "string"},
            },
        },
        "MergeFieldIn": {
            "type": "object",
            "required": ["id", "type", "value"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": _ref("RefIn"),
                "value": {"type": "string", "maxLength": MAX_TEXT_LENGTH},
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
        "SegmentMemberTemplate": _template_schema(_REF + "SegmentMember", max_items=1),
        "SegmentMember": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": _ref("RefIn")},
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
    }


def _error_and_token_components() -> dict[str, Any]:
    return {
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
            # Cerkl's documented form; without it Postman's importer fills every field.
            "example": {"grant_type": "client_credentials"},
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
                "expires_in": {"type": "number", "example": TOKEN_LIFETIME_S},
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
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, schemas)
    tags = [
        {"name": tag, "description": _TAG_TEXT.get(tag, "")}
        for tag in dict.fromkeys(ep.resource for ep in ENDPOINTS)
    ]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Cerkl Broadcast API v3 (cerkl-nb sandbox)",
            "version": ENVELOPE_VERSION,
            "description": (
                "A local, faithful imitation of the Cerkl Broadcast API v3 served by "
                "cerkl-nb. Operations marked x-sandbox-only are not described in Cerkl's "
                "documentation. Where Cerkl's docs are silent, the sandbox's choices are "
                "listed in docs/sandbox.md."
            ),
            "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
        },
        "servers": [{"url": base_url, "description": "this sandbox"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "cerklOAuth": {
                    "type": "oauth2",
                    "description": "Cerkl's client-credentials grant (HTTP Basic client auth).",
                    "flows": {
                        "clientCredentials": {"tokenUrl": base_url + TOKEN_PATH, "scopes": {}}
                    },
                },
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
        },
        # The OAuth 2.0 scheme comes first: Postman's importer builds the collection's
        # auth from the first one (OAuth 2.0, client credentials).
        "security": [{"cerklOAuth": []}, {"bearerAuth": []}],
    }
