"""cerkl_nb.spec: the one home for facts about Cerkl API v3 (pure data, no network)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from cerkl_nb import spec


def test_api_module_uses_the_standard_library_only():
    tree = ast.parse(Path(spec.__file__).read_text(encoding="utf-8"))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert not relative
    assert {m.split(".")[0] for m in modules} <= set(sys.stdlib_module_names) | {"__future__"}


def test_addresses_follow_cerkls_documentation():
    assert spec.PRODUCTION_TOKEN_URL == "https://api.cerkl.com/v3/oauth/Token"  # capital T
    assert spec.PRODUCTION_BASE_URL + spec.TOKEN_PATH == spec.PRODUCTION_TOKEN_URL
    assert spec.DOCUMENTED_FILTER_OPERATORS == ("gt",)
    assert set(spec.DOCUMENTED_FILTER_OPERATORS) <= set(spec.FILTER_OPERATORS)


def test_wrap_template_takes_one_record_or_several():
    one = spec.wrap_template({"id": 1})
    assert one == {"template": {"version": "3.0", "data": [{"id": 1}]}}
    assert spec.wrap_template([{"id": 1}, {"id": 2}])["template"]["data"] == [{"id": 1}, {"id": 2}]
    assert spec.unwrap_items(one) == [{"id": 1}]
    assert spec.is_envelope({"data": []}) and not spec.is_envelope({"id": 1})
    assert not spec.is_envelope([{"data": []}])


def test_find_endpoint_prefers_static_paths_and_matches_concrete_ones():
    assert spec.find_endpoint("get", "/subscriber/template").kind == "template"
    assert spec.find_endpoint("GET", "/subscriber/100001").key == "GET /subscriber/{id}"
    assert spec.find_endpoint("GET", "subscriber/1/subscriber_interest?page=2").model == (
        "subscriber_interest"
    )
    assert spec.find_endpoint("DELETE", "/segment/1/subscriber/2").kind == "remove_member"
    assert spec.find_endpoint("PATCH", "/subscriber/1") is None
    assert spec.find_endpoint("GET", "/nothing/here") is None


def test_endpoints_are_unique_and_complete():
    keys = [ep.key for ep in spec.ENDPOINTS]
    assert len(keys) == len(set(keys)) == 73
    for ep in spec.ENDPOINTS:
        assert [p.name for p in ep.path_params] == [
            p.name for p in ep.params if p.location == "path"
        ], ep.key
        assert all(p.example is not None for p in ep.params), ep.key
        with_body = ep.kind in ("create", "update", "add_member", "remove_member_body")
        assert (ep.example is not None) == with_body, ep.key


def test_example_bodies_are_copies():
    ep = spec.find_endpoint("POST", "/subscriber")
    body = ep.example_body
    body["template"]["data"][0]["subscriber_status"]["id"] = 4
    assert ep.example_body["template"]["data"][0]["subscriber_status"] == {"id": 1}


def test_update_examples_leave_unique_values_out():
    """A PUT example can go to any record: it holds no value another record owns."""
    for ep in spec.ENDPOINTS:
        if ep.kind == "update":
            unique = {f.name for f in spec.RESOURCES[ep.model].fields if f.unique}
            assert not unique & set(ep.example), ep.key
