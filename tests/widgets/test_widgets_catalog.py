"""cerkl_nb.postman.catalog (UI-free): the endpoint catalogue and code snippets."""

from __future__ import annotations

import json
import shlex

import pytest
import requests

from cerkl_nb import spec
from cerkl_nb.postman.catalog import (
    Catalog,
    RequestSpec,
    fill_path,
    load_catalog,
    template_envelope,
)

_DOC = {
    "openapi": "3.0.3",
    "servers": [{"url": "http://127.0.0.1:1/v3"}],
    "paths": {
        "/v3/widget": {
            "get": {
                "tags": ["widget"],
                "summary": "List widgets",
                "parameters": [{"$ref": "#/components/parameters/page"}],
            },
            "post": {
                "tags": ["widget"],
                "summary": "Create",
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/WidgetBody"}}
                    }
                },
            },
        },
        "/v3/widget/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True}],
            "delete": {"summary": "Delete"},
        },
        "/_sandbox/reset": {"post": {"summary": "admin"}},
        "/v3/oauth/Token": {"post": {"summary": "token"}},
    },
    "components": {
        "parameters": {
            "page": {"name": "page", "in": "query", "schema": {"type": "integer", "default": 1}}
        },
        "schemas": {
            "WidgetBody": {
                "type": "object",
                "properties": {
                    "template": {
                        "type": "object",
                        "properties": {
                            "version": {"type": "string", "example": "3.0"},
                            "data": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/widget"},
                            },
                        },
                    }
                },
            },
            "widget": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "name": {"type": "string", "example": "Sprocket"},
                },
            },
        },
    },
}


def test_from_openapi_groups_strips_base_path_and_skips_admin_and_token():
    cat = Catalog.from_openapi(_DOC)
    assert [e.key for e in cat] == ["GET /widget", "POST /widget", "DELETE /widget/{id}"]
    get = cat.find("GET", "/widget")
    assert get.is_list and get.query_params[0].default == 1
    post = cat.find("POST", "/widget")
    assert post.body_template == {"template": {"version": "3.0", "data": [{"name": "Sprocket"}]}}
    assert post.fields == ("name",)
    assert cat.find("DELETE", "/widget/12").path_params[0].name == "id"
    assert cat.find("PATCH", "/nothing") is None


def test_builtin_catalog_covers_the_documented_endpoints():
    cat = Catalog.builtin()
    assert cat.default().key == "GET /subscriber"
    assert cat.resources()[0] == "subscriber"
    assert cat.find("POST", "/segment/5/subscriber").body_template == template_envelope(
        {"id": 100001}
    )
    assert cat.find("GET", "/subscriber").is_list
    assert "Catalog(" in repr(cat)
    documented = {e.key for e in spec.ENDPOINTS if e.documented and e.kind != "token"}
    assert documented <= {e.key for e in cat}
    # Implied by Cerkl's pattern, so offered against production too.
    assert cat.find("DELETE", "/subscriber/7") is not None
    # The sandbox's own inventions are not offered against production.
    keys = {e.key for e in cat}
    assert "GET /subscriber/template" not in keys and "GET /time_zone" not in keys


def test_builtin_catalog_and_sandbox_description_agree(sandbox):
    """One list of operations: the served description and the built-in catalogue carry
    the same example bodies and parameters as cerkl_nb.spec."""
    served = Catalog.from_openapi(requests.get(sandbox.openapi_url, timeout=10).json())
    builtin = Catalog.builtin()
    for ep in builtin:
        twin = served.find(ep.method, ep.path)
        assert twin is not None, ep.key
        assert twin.body_template == ep.body_template, ep.key
        assert [(p.name, p.example) for p in twin.params] == [
            (p.name, p.example) for p in ep.params
        ], ep.key
    assert len(served) == len([e for e in spec.ENDPOINTS if e.kind != "token"])


def test_load_catalog_never_probes_production_and_falls_back():
    class Fake:
        class settings:  # noqa: N801
            is_loopback = False
            base_url = "https://api.cerkl.com/v3"

    assert load_catalog(Fake()).source == "built-in"
    assert (
        load_catalog(None, openapi="http://127.0.0.1:9/openapi.json", timeout_s=0.5).source
        == "built-in"
    )
    assert len(load_catalog(openapi=_DOC)) == 3


def test_fill_path_quotes_and_complains():
    assert fill_path("/a/{id}/b/{x}", {"id": 7, "x": "a b"}) == "/a/7/b/a%20b"
    with pytest.raises(ValueError, match=r"\{id\} is empty"):
        fill_path("/a/{id}", {"id": " "})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            RequestSpec("GET", "/subscriber", {"page": 1, "page_size": 5}),
            "client.list('subscriber', page=1, page_size=5)",
        ),
        (
            RequestSpec("GET", "/segment", {"filters_json": '{"id":{"gt":1}}'}),
            "client.list('segment', filters={'id': {'gt': 1}})",
        ),
        (RequestSpec("GET", "/subscriber/7"), "client.get('subscriber', 7)"),
        (RequestSpec("DELETE", "/segment/3"), "client.delete('segment', 3)"),
        (
            RequestSpec("POST", "/category", body=template_envelope({"description": "X"})),
            "client.create('category', {'description': 'X'})",
        ),
        (
            RequestSpec("PUT", "/category/2", body=template_envelope({"description": "Y"})),
            "client.update('category', 2, {'description': 'Y'})",
        ),
        (
            RequestSpec("POST", "/segment/1/subscriber", body=template_envelope({"id": 5})),
            "client.request('POST', '/segment/1/subscriber', items=[{'id': 5}])",
        ),
    ],
)
def test_to_cerkl_nb_is_idiomatic(spec, expected):
    code = spec.to_cerkl_nb()
    assert expected in code
    compile(code, "<cell>", "exec")


def test_curl_and_python_snippets_hold_placeholders_only():
    spec = RequestSpec(
        "POST", "/segment", {"x": "it's"}, template_envelope({"description": "O'Neil"})
    )
    curl = spec.to_curl("https://api.cerkl.com/v3")
    # What the shell would run: the words after quoting, line continuations joined.
    words = shlex.split(curl.replace("\\\n", " "))
    assert words[0] == "curl" and "POST" in words
    assert "https://api.cerkl.com/v3/segment?x=it%27s" in words
    assert "Authorization: Bearer $CERKL_ACCESS_TOKEN" in words  # a placeholder, no token
    body = json.loads(next(w for w in words if w.startswith("{")))
    assert body == template_envelope({"description": "O'Neil"})
    py = spec.to_python("https://api.cerkl.com/v3")
    compile(py, "<snippet>", "exec")
    assert "requests.post(" in py and json.dumps("O'Neil")[1:-1] in py
