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


def test_builtin_catalog_covers_the_documented_endpoints():
    cat = Catalog.builtin()
    assert cat.default().key == "GET /subscriber"
    assert cat.resources()[0] == "subscriber"
    assert cat.find("POST", "/segment/5/subscriber").example_body == template_envelope(
        {"id": 100001}
    )
    assert "filters_json" in {p.name for p in cat.find("GET", "/subscriber").query_params}
    assert "email" in cat.find("GET", "/subscriber").filter_fields
    assert "Catalog(" in repr(cat)
    documented = {e.key for e in spec.ENDPOINTS if e.documented and e.kind != "token"}
    assert documented <= {e.key for e in cat}
    # Implied by Cerkl's pattern, so offered against production too.
    assert cat.find("DELETE", "/subscriber/7") is not None
    # The sandbox's own inventions are not offered against production.
    keys = {e.key for e in cat}
    assert "GET /subscriber/template" not in keys and "GET /time_zone" not in keys


def test_catalog_entries_are_the_spec_endpoints_with_every_fact():
    for cat in (Catalog.builtin(), Catalog.builtin(sandbox=True)):
        for ep in cat:
            assert ep is spec.find_endpoint(ep.method, ep.path), ep.key
    sandbox_only = Catalog.builtin(sandbox=True).find("GET", "/segment/5/subscriber")
    assert sandbox_only.sandbox_only and sandbox_only.filter_fields[:2] == ("id", "first_name")


def test_sandbox_catalog_is_what_the_sandbox_describes(sandbox):
    """The explorer offers a sandbox exactly the operations its description serves, each
    with the same sandbox-only mark and example body."""
    doc = requests.get(sandbox.openapi_url, timeout=10).json()
    served = {
        f"{method.upper()} {path.removeprefix('/v3')}": op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method != "parameters" and "/oauth/" not in path and not path.startswith("/_sandbox")
    }
    cat = Catalog.builtin(sandbox=True)
    assert {e.key for e in cat} == set(served)
    for ep in cat:
        op = served[ep.key]
        assert op.get("x-sandbox-only", False) is ep.sandbox_only, ep.key
        example = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        assert example.get("example") == ep.example_body, ep.key


def test_load_catalog_offers_the_sandbox_only_on_this_machine(client):
    class Production:
        class settings:  # noqa: N801
            is_loopback = False
            base_url = "https://api.cerkl.com/v3"

    assert load_catalog(Production()).source == "built-in"
    assert load_catalog(None).source == "built-in"
    local = load_catalog(client)
    assert local.source == "sandbox" and local.find("GET", "/subscriber/template") is not None
    assert len(local) == len([e for e in spec.ENDPOINTS if e.kind != "token"])


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
