"""The OpenAPI 3 description of what the sandbox serves, built from :mod:`cerkl_nb.spec`.

The routes and this description both derive from :data:`cerkl_nb.spec.ENDPOINTS` and the
field tables beside it, so they cannot drift apart. It is written for strict tools
(Redocly's linter, openapi-core, Postman's importer): see docs/sandbox.md §9.
"""

from __future__ import annotations

import json
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
_INT: dict[str, Any] = {"type": "integer"}
_STR: dict[str, Any] = {"type": "string"}

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
_OAUTH_ERRORS = (
    "invalid_request invalid_client invalid_grant unauthorized_client unsupported_grant_type "
    "invalid_scope temporarily_unavailable server_error"
).split()


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def _object(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {"type": "object"}
    if required:  # OpenAPI 3.0 forbids an empty required list
        out["required"] = required
    return {**out, "properties": props, **extra}


def _nullable(f: Field) -> bool:
    """Output fields that may be ``null``: everything not required, but the server's own."""
    return not (f.name in ("id", "self", "content_type") or (f.required and f.kind != "ref"))


_SCALARS: dict[str, dict[str, Any]] = {"str": _STR, "email": _STR, "int": _INT}
_SCALARS["bool"] = {"type": "boolean"}


def _out_schema(f: Field) -> dict[str, Any]:
    if f.kind in ("refs", "merge_fields"):
        return {"type": "array", "items": _ref("Ref" if f.kind == "refs" else "MergeField")}
    if f.kind == "ref":
        # `nullable` needs a `type` beside it, which a `$ref` cannot have in OpenAPI 3.0.
        return _ref("NullableRef" if _nullable(f) else "Ref")
    s = _SCALARS.get(f.kind) or {**_STR, "pattern": _DATE_OUT, "example": "2020-07-16 14:03:11"}
    return {**s, "nullable": True} if _nullable(f) else s


def _in_schema(f: Field) -> dict[str, Any]:
    k = f.kind
    if k == "ref":
        return _ref("RefIn" if f.required else "NullableRefIn")
    if k in ("str", "email"):
        s: dict[str, Any] = {**_STR, "maxLength": MAX_TEXT_LENGTH}
        if k == "email":
            s["format"] = "email"
    elif k == "int":
        s = {**_INT, "minimum": 0}
    elif k == "date":
        s = {**_STR, "description": "'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601"}
        s["example"] = "2020-07-20 15:00:00"
    elif k == "bool":
        s = {"type": "boolean"}
    elif k == "refs":
        s = {"type": "array", "maxItems": MAX_BATCH_ITEMS, "items": _ref("RefIn")}
    else:  # merge_fields
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
        props[f.name] = (
            {**s, "description": f.description} if f.description and "$ref" not in s else s
        )
    required = [f.name for f in res.fields if f.name in ("id", "self")]
    return _object(props, required, description=res.description)


def _write_schema(res: Resource, update: bool) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in res.fields:
        if not f.readonly:
            props[f.name] = _in_schema(f)
        elif f.name == "id" and update:
            props[f.name] = {**_INT, "description": "Optional; must equal the id in the URL."}
        else:  # OpenAPI 3.0 ignores a `$ref`'s siblings: wrap it to mark it readOnly
            s = _out_schema(f)
            props[f.name] = (
                {"allOf": [s], "readOnly": True} if "$ref" in s else {**s, "readOnly": True}
            )
    required = [f.name for f in res.writable if (f.required_on_update if update else f.required)]
    return _object(props, required, additionalProperties=False)


def _template_schema(item_ref: str, max_items: int = MAX_BATCH_ITEMS) -> dict[str, Any]:
    data = {"type": "array", "minItems": 1, "maxItems": max_items, "items": {"$ref": item_ref}}
    version = {**_STR, "example": ENVELOPE_VERSION}
    return _object(
        {"template": _object({"version": version, "data": data}, ["data"])}, ["template"]
    )


def _envelope(item_ref: str, paged: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "version": {**_STR, "enum": [ENVELOPE_VERSION]},
        "href": _STR,
        "data": {"type": "array", "items": {"$ref": item_ref}},
    }
    if paged:
        link = {**_STR, "nullable": True}
        props["page"] = {**_INT, "minimum": 1}
        props["page_size"] = {**_INT, "minimum": 1, "maximum": MAX_PAGE_SIZE}
        props["total"] = {**_INT, "minimum": 0}
        links = {"self": _STR, "next": link, "prev": link}
        props["links"] = _object(links, ["self", "next", "prev"])
    return _object(props, list(props))


def _schema_name(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


def _err(desc: str, oauth: bool = False) -> dict[str, Any]:
    schema = {"anyOf": [_ref("OAuthError"), _ref("Error")]} if oauth else _ref("Error")
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _parameter(p: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.type}
    schema.update(
        {k: getattr(p, k) for k in ("minimum", "maximum", "default") if getattr(p, k) is not None}
    )
    out: dict[str, Any] = {"name": p.name, "in": p.location}
    if p.required or p.location == "path":
        out["required"] = True
    if p.description:
        out["description"] = p.description
    out["schema"] = schema
    if p.example is not None:
        out["example"] = p.example
    return out


def _token_operation(op: dict[str, Any]) -> dict[str, Any]:
    op["security"] = [{"clientBasic": []}, {}]
    op["description"] = (
        "RFC 6749 token endpoint. Authenticate the client with HTTP Basic (or "
        "client_id/client_secret form fields, never both). Cerkl's documented command:\n\n"
        f'curl -v <base>{TOKEN_PATH} -H "Accept: application/json" -H "Accept-Language: '
        'en_US" -u "<id>:<secret>" -d "grant_type=client_credentials"'
    )
    form = {"schema": _ref("TokenRequest"), "example": {"grant_type": "client_credentials"}}
    op["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": form}}
    op["responses"] = {
        "200": {
            "description": "A new access token (Cache-Control: no-store).",
            "content": _json(_ref("TokenResponse")),
        },
        "400": _err("invalid_request, unsupported_grant_type, invalid_grant, invalid_scope", True),
        "401": _err("invalid_client (with WWW-Authenticate: Basic)", True),
        "default": _err("413, 429 or 5xx", True),
    }
    return op


# The answers every authenticated operation can give besides its own.
_STANDARD_RESPONSES = {
    "401": {
        "description": "Missing, expired or revoked access token.",
        "headers": {
            "WWW-Authenticate": {
                "description": 'Bearer realm="cerkl-sandbox", error="invalid_token"',
                "schema": _STR,
            }
        },
        "content": _json(_ref("Error")),
    },
    "default": _err("Any other error (400, 404, 405, 409, 413, 415, 429, 5xx)."),
}
_NOT_FOUND = _err("No object with this id.")


def _responses(ep: Endpoint, schemas: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """The answers of one operation of ``ep.kind`` (it may add a request body to ``op``)."""
    status = str(ep.status)
    if ep.kind == "list":
        envelope = _json(_envelope(_item_ref(ep.model, schemas), True))
        ok = {"description": "One page of results.", "content": envelope}
        return {status: ok, "400": _err("Bad page, page_size or filters_json.")}
    if ep.kind == "get":
        envelope = _json(_envelope(_item_ref(ep.model, schemas), False))
        ok = {"description": "The object, as a one-item data list.", "content": envelope}
        return {status: ok, "404": _NOT_FOUND}
    if ep.kind in ("create", "update", "add_member"):
        if ep.kind == "add_member":
            body_ref, out_item = _REF + "SegmentMemberTemplate", _item_ref("subscriber", schemas)
        else:
            name = _schema_name(str(ep.model)) + ("Update" if ep.kind == "update" else "Create")
            schemas.setdefault(name, _write_schema(RESOURCES[str(ep.model)], ep.kind == "update"))
            schemas.setdefault(name + "Template", _template_schema(_REF + name))
            body_ref, out_item = _REF + name + "Template", _item_ref(ep.model, schemas)
        op["requestBody"] = {
            "required": True,
            "content": _json({"$ref": body_ref}, ep.example_body),
        }
        ok = {
            "description": "The stored object(s), as a data list.",
            "content": _json(_envelope(out_item, False)),
        }
        if ep.status == 201:
            location = "The created object's URL (for a new membership: the subscriber's URL)."
            ok["headers"] = {"Location": {"description": location, "schema": _STR}}
        return {
            status: ok,
            "400": _err("Invalid envelope or field."),
            "404": _NOT_FOUND,
            "409": _err("Duplicate (email, external_id, membership) or a forbidden change."),
        }
    if ep.kind in ("delete", "remove_member", "remove_member_body"):
        if ep.kind == "remove_member_body":
            body = _json(_ref("SegmentMemberTemplate"), ep.example_body)
            op["requestBody"] = {"required": True, "content": body}
        return {
            status: {"description": "Deleted."},
            "404": _NOT_FOUND,
            "409": _err("The object cannot be deleted in its state."),
        }
    if ep.kind == "template":
        op["description"] = (
            "Stand-in for Cerkl's 'self-documenting template endpoints': the writable "
            "fields with type hints, plus an example body."
        )
        hints = {
            "description": "A template with type hints.",
            "content": _json(_ref("TemplateHints")),
        }
        return {status: hints}
    raise ValueError(f"no OpenAPI shape for endpoint kind {ep.kind!r}")  # pragma: no cover


def _operation(ep: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": ep.operation_id, "tags": [ep.resource]}
    op["summary"] = ep.summary
    if ep.description:
        op["description"] = ep.description
    if ep.sandbox_only:
        op["x-sandbox-only"] = True
    if ep.kind == "token":
        return _token_operation(op)
    if ep.params:
        op["parameters"] = [_parameter(p) for p in ep.params]
    op["responses"] = {**_responses(ep, schemas, op), **_STANDARD_RESPONSES}
    return op


def _item_ref(res_name: str | None, schemas: dict[str, Any]) -> str:
    if res_name in LOOKUPS:
        return _REF + "Lookup"
    name = _schema_name(str(res_name))
    if name not in schemas:
        schemas[name] = _item_schema(RESOURCES[str(res_name)])
    return _REF + name


def _ref_object(*, nullable: bool = False, minimum: int | None = None) -> dict[str, Any]:
    ident = {**_INT, "minimum": minimum} if minimum is not None else _INT
    out = _object({"id": ident, "self": _STR}, ["id"])
    return {**out, "nullable": True} if nullable else out


def _components() -> dict[str, Any]:
    """Every shared schema: references and lookups, then errors and the token's shapes."""
    ref_in = {**_INT, "minimum": 1}
    error = _object({"code": _INT, "message": _STR}, ["code", "message"])
    token = {**_STR, "pattern": "^[0-9a-f]{40}$"}
    return {
        "Ref": _ref_object(),
        "NullableRef": _ref_object(nullable=True),
        "RefIn": {"oneOf": [_ref_object(minimum=1), ref_in]},
        # null matches only the first branch (the object is nullable, the integer is not).
        "NullableRefIn": {"oneOf": [_ref_object(nullable=True, minimum=1), ref_in]},
        "MergeField": _object({"id": _INT, "type": _ref("Ref"), "value": _STR}),
        "MergeFieldIn": _object(
            {"id": ref_in, "type": _ref("RefIn"), "value": {**_STR, "maxLength": MAX_TEXT_LENGTH}},
            ["id", "type", "value"],
            additionalProperties=False,
        ),
        "Lookup": _object(
            {"id": _INT, "description": _STR, "self": _STR}, ["id", "description", "self"]
        ),
        "SegmentMemberTemplate": _template_schema(_REF + "SegmentMember", max_items=1),
        "SegmentMember": _object({"id": _ref("RefIn")}, ["id"]),
        "TemplateHints": _object(
            {
                "template": {"type": "object"},
                "example": {"type": "object"},
                "x-sandbox-only": {"type": "boolean"},
            },
            ["template"],
        ),
        "Error": _object({"error": error}, ["error"]),
        "OAuthError": _object(
            {"error": {**_STR, "enum": _OAUTH_ERRORS}, "error_description": _STR}, ["error"]
        ),
        "TokenRequest": {
            **_object(
                {
                    "grant_type": {**_STR, "enum": ["client_credentials", "refresh_token"]},
                    **{
                        name: _STR
                        for name in ("refresh_token", "client_id", "client_secret", "scope")
                    },
                },
                ["grant_type"],
            ),
            # Cerkl's documented form; without it Postman's importer fills every field.
            "example": {"grant_type": "client_credentials"},
        },
        "TokenResponse": _object(
            {
                "access_token": token,
                "token_type": {**_STR, "example": "Bearer"},
                "expires_in": {"type": "number", "example": TOKEN_LIFETIME_S},
                "refresh_token": token,
                "scope": {**_STR, "nullable": True},
            },
            ["access_token", "token_type", "expires_in"],
        ),
    }


def build_openapi(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document for a sandbox whose API base (``servers``, and the token
    URL's base) is ``base_url``, e.g. ``http://127.0.0.1:8765/v3``."""
    schemas = _components()
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, schemas)
    tags = [
        {"name": tag, "description": _TAG_TEXT.get(tag, "")}
        for tag in dict.fromkeys(ep.resource for ep in ENDPOINTS)
    ]
    oauth = {"clientCredentials": {"tokenUrl": base_url + TOKEN_PATH, "scopes": {}}}
    doc = {
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
                    "flows": oauth,
                },
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
        },
        # OAuth 2.0 first: Postman's importer builds the collection's auth from the first.
        "security": [{"cerklOAuth": []}, {"bearerAuth": []}],
    }
    # The builders share small schema objects; the document gets one of its own in each place.
    return json.loads(json.dumps(doc))
