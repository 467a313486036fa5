"""The OpenAPI description: valid, served without auth, complete, and truthful."""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from sandbox_helpers import require

from cerkl_nb import spec as cerkl_api
from cerkl_nb.sandbox import openapi

jsonschema = require("jsonschema")
validate = require("openapi_spec_validator").validate


def to_json_schema(schema: Any) -> Any:
    """Convert OpenAPI 3.0 schema quirks (``nullable``) to plain JSON Schema for jsonschema."""
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


@pytest.fixture(scope="module")
def spec(sandbox):
    r = requests.get(sandbox.openapi_url)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    return r.json()


def schema_validator(spec: dict, schema: dict) -> jsonschema.Validator:
    """A JSON Schema validator for ``schema`` whose #/components refs resolve in ``spec``."""
    doc = to_json_schema({**copy.deepcopy(schema), "components": spec["components"]})
    return jsonschema.Draft202012Validator(doc)


def test_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_served_at_both_urls_without_auth(sandbox, spec):
    assert requests.get(sandbox.root_url + "/openapi.json").json() == spec
    assert spec["servers"][0]["url"] == sandbox.url
    flows = spec["components"]["securitySchemes"]["cerklOAuth"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == sandbox.token_url
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # OAuth 2.0 first: Postman's importer builds the collection's auth from it.
    assert spec["security"][0] == {"cerklOAuth": []}
    assert flows["clientCredentials"]["tokenUrl"] == sandbox.url + cerkl_api.TOKEN_PATH


def test_description_derives_from_the_facts_module_only():
    """openapi.py reads cerkl_nb.spec and the standard library: no app, no core."""
    tree = ast.parse(Path(openapi.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.level, node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert {m for level, m in imported if level} == {"spec"}
    plain = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert not {m for level, m in imported if not level} - {"__future__", "typing"}
    assert plain <= {"copy", "json", "re"}


def test_every_operation_is_described_and_tagged(spec):
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert ops == {(ep.method, ep.path) for ep in cerkl_api.ENDPOINTS}
    tag_names = {t["name"] for t in spec["tags"]}
    for item in spec["paths"].values():
        for op in item.values():
            assert op["tags"][0] in tag_names and op["operationId"] and op["summary"]


def test_endpoints_in_cerkls_documentation_are_described(spec):
    expected = [
        "/oauth/Token",
        "/subscriber",
        "/subscriber/{id}",
        "/subscriber/{id}/subscriber_interest",
        "/subscriber_privacy_level",
        "/subscriber_status",
        "/unsubscribe",
        "/unsubscribe/{id}",
        "/segment",
        "/segment/{id}",
        "/segment/{id}/subscriber",
        "/category",
        "/category/{id}",
        "/blast",
        "/blast/{id}",
        "/blast_status",
        "/content",
        "/content/{id}",
        "/story",
        "/story/{id}",
        "/event",
        "/event/{id}",
        "/need",
        "/need/{id}",
        "/link",
        "/link/{id}",
        "/content_insights",
        "/subscriber_insights",
    ]
    for p in expected:
        assert p in spec["paths"], p


def test_list_operations_have_paging_parameters(spec):
    for path, item in spec["paths"].items():
        get = item.get("get")
        if get and "page" in {p["name"] for p in get.get("parameters", [])}:
            names = {p["name"] for p in get["parameters"]}
            assert {"page", "page_size", "filters_json"} <= names, path
            size = next(p for p in get["parameters"] if p["name"] == "page_size")
            assert size["schema"]["maximum"] == 100


def test_sandbox_only_operations_are_marked(spec):
    """x-sandbox-only on exactly the operations Cerkl's documentation does not describe."""
    for ep in cerkl_api.ENDPOINTS:
        op = spec["paths"][ep.path][ep.method.lower()]
        assert op.get("x-sandbox-only", False) is ep.sandbox_only, ep.key
    assert spec["paths"]["/subscriber/template"]["get"]["x-sandbox-only"] is True
    assert spec["paths"]["/category/{id}"]["put"]["x-sandbox-only"] is True
    assert "x-sandbox-only" not in spec["paths"]["/subscriber"]["get"]
    assert "x-sandbox-only" not in spec["paths"]["/segment/{id}/subscriber"]["post"]
    assert not any(p.startswith("/_sandbox") for p in spec["paths"])


def test_every_parameter_has_an_example(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                assert "example" in p, (method, path, p["name"])


def test_every_operation_is_really_served(sandbox, spec):
    """No described operation answers 404/405: without a token each says 401."""
    for path, item in spec["paths"].items():
        concrete = re.sub(r"\{\w+\}", "1", path)
        for method in item:
            r = requests.request(method.upper(), sandbox.url + concrete)
            if path == "/oauth/Token":
                assert r.status_code in (400, 401)
            else:
                assert r.status_code == 401, (method, path, r.status_code)


def test_write_examples_validate_and_work(api, spec):
    """Each write operation's example matches its schema and is accepted by the server."""
    created: dict[str, int] = {}
    order = ["/category", "/segment", "/subscriber", "/blast", "/story", "/event", "/need", "/link"]
    for path in order:
        op = spec["paths"][path]["post"]
        media = op["requestBody"]["content"]["application/json"]
        example = copy.deepcopy(media["example"])
        schema_validator(spec, media["schema"]).validate(example)
        item = example["template"]["data"][0]
        for key in ("email", "external_id"):
            if key in item:  # keep unique fields unique across test runs
                item[key] = (
                    item[key].replace("@", f"+{id(api)}@")
                    if key == "email"
                    else f"{item[key]}-{id(api)}"
                )
        r = api.post(path, json=example)
        assert r.status_code == 201, (path, r.text)
        body = r.json()
        schema_validator(
            spec, op["responses"]["201"]["content"]["application/json"]["schema"]
        ).validate(body)
        created[path] = body["data"][0]["id"]
    for path, rid in created.items():
        put = spec["paths"].get(path + "/{id}", {}).get("put")
        if put is None:
            continue
        # The PUT example leaves out unique values (they belong to other records), so it
        # can be sent to any record: here the one just created.
        media = put["requestBody"]["content"]["application/json"]
        schema_validator(spec, media["schema"]).validate(media["example"])
        r = api.put(f"{path}/{rid}", json=media["example"])
        assert r.status_code == 200, (path, r.text)
    member = spec["paths"]["/segment/{id}/subscriber"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    seg = created["/segment"]
    r = api.post(f"/segment/{seg}/subscriber", json=member["example"])
    assert r.status_code == 201, r.text


def test_responses_match_the_description(api, spec):
    """A tour of GET endpoints with the described example ids: every body validates."""
    for path, item in spec["paths"].items():
        op = item.get("get")
        if op is None:
            continue
        ids = {p["name"]: p["example"] for p in op.get("parameters", []) if p["in"] == "path"}
        concrete = path.format(**ids)
        r = api.get(concrete)
        assert r.status_code == 200, (concrete, r.text)
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        schema_validator(spec, schema).validate(r.json())
