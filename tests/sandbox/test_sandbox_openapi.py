"""The OpenAPI description: valid, served without auth, complete, and truthful."""

from __future__ import annotations

import copy
import re

import pytest
import requests
from sandbox_helpers import require

from cerkl_nb.sandbox.app import ROUTES
from cerkl_nb.sandbox.openapi import to_json_schema

jsonschema = require("jsonschema")
validate = require("openapi_spec_validator").validate


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


def test_every_route_is_described_and_tagged(spec):
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert ops == {(rt.method, rt.path) for rt in ROUTES}
    tag_names = {t["name"] for t in spec["tags"]}
    for item in spec["paths"].values():
        for op in item.values():
            assert op["tags"][0] in tag_names and op["operationId"] and op["summary"]


def test_facts_file_endpoints_are_present(spec):
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
    assert spec["paths"]["/subscriber/template"]["get"]["x-sandbox-only"] is True
    assert "x-sandbox-only" not in spec["paths"]["/subscriber"]["get"]
    assert not any(p.startswith("/_sandbox") for p in spec["paths"])


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
        media = put["requestBody"]["content"]["application/json"]
        assert media["example"]["template"]["data"]
        # The example for PUT is the create example; PUT it back (external ids unchanged).
        r = api.get(
            ("/content/" if path in ("/story", "/event", "/need", "/link") else path + "/")
            + str(rid)
        )
        item = r.json()["data"][0]
        r = api.put(f"{path}/{rid}", item)
        assert r.status_code == 200, (path, r.text)
    member = spec["paths"]["/segment/{id}/subscriber"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    seg = created["/segment"]
    r = api.post(f"/segment/{seg}/subscriber", json=member["example"])
    assert r.status_code == 201, r.text


def test_responses_match_the_description(api, spec):
    """A tour of GET endpoints: every body validates against its documented schema."""
    for path, item in spec["paths"].items():
        op = item.get("get")
        if op is None:
            continue
        concrete = path.replace(
            "{id}",
            {
                "/segment": "5001",
                "/category": "501",
                "/content": "20001",
                "/unsubscribe": "0",
            }.get("/" + path.split("/")[1], "1"),
        )
        if concrete.startswith("/subscriber/1"):
            concrete = concrete.replace("/subscriber/1", "/subscriber/100001", 1)
        if concrete.startswith("/blast/1"):
            concrete = "/blast/3001"
        if concrete.startswith("/unsubscribe/0"):
            concrete = "/unsubscribe/" + str(api.get("/unsubscribe").json()["data"][0]["id"])
        r = api.get(concrete)
        assert r.status_code == 200, (concrete, r.text)
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        schema_validator(spec, schema).validate(r.json())
