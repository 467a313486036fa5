"""Paging (page, page_size ≤ 100, totals, links) and filters_json."""

from __future__ import annotations

import json

import pytest
from sandbox_helpers import assert_api_error


def page(api, path="/subscriber", **params):
    r = api.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_defaults_and_envelope(fresh_api):
    body = page(fresh_api)
    assert body["page"] == 1 and body["page_size"] == 100
    assert body["total"] == 300  # the default seed size
    assert len(body["data"]) == 100
    assert body["links"]["prev"] is None
    assert body["links"]["self"] == body["href"]
    assert body["links"]["next"].endswith("/v3/subscriber?page=2&page_size=100")
    ids = [s["id"] for s in body["data"]]
    assert ids == sorted(ids)  # id ascending


def test_walk_all_pages_with_next_links(fresh_api):
    seen, url, pages = [], fresh_api.sb.url + "/subscriber?page_size=70", 0
    while url:
        body = fresh_api.session.get(url, headers=fresh_api.h()).json()
        seen += [s["id"] for s in body["data"]]
        url = body["links"]["next"]
        pages += 1
    assert pages == 5 and len(seen) == 300 == len(set(seen))


def test_list_links_follow_the_address_the_client_used(fresh_api):
    port = fresh_api.sb.port
    for host in ("127.0.0.1", "localhost", "127.0.0.1"):
        hdr = {"Host": f"{host}:{port}"}
        body = fresh_api.get("/subscriber", params={"page_size": 3}, headers=hdr).json()
        root = f"http://{host}:{port}/v3/"
        assert body["href"].startswith(root + "subscriber?")
        assert body["links"]["next"].startswith(root + "subscriber?")
        assert all(item["self"].startswith(root) for item in body["data"])


def test_past_the_end_is_empty(fresh_api):
    body = page(fresh_api, page=99, page_size=10)
    assert body["data"] == [] and body["total"] == 300
    assert body["links"]["next"] is None and body["links"]["prev"].endswith("page=98&page_size=10")


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": -1},
        {"page": "abc"},
        {"page": "1.5"},
        {"page": ""},
        {"page_size": 0},
        {"page_size": 101},
        {"page_size": -5},
        {"page_size": "ten"},
        {"page": "9" * 40},
    ],
)
def test_page_and_page_size_out_of_bounds_are_400(api, params):
    body = assert_api_error(api.get("/subscriber", params=params), 400)
    assert "page" in body["error"]["message"]


def test_repeated_page_param(api):
    assert_api_error(api.get("/subscriber?page=1&page=2"), 400)


def test_page_size_100_allowed(api):
    assert len(page(api, page_size=100)["data"]) == 100


def test_documented_segment_filter(api):
    f = {"date_modified_utc": {"gt": "2020-07-16 00:00:00"}}
    body = page(api, "/segment", filters_json=json.dumps(f))
    assert body["data"]
    assert all(s["date_modified_utc"] > "2020-07-16 00:00:00" for s in body["data"])
    assert "filters_json" in body["links"]["self"]


def _ids(api, path, f, **extra):
    return [x["id"] for x in page(api, path, filters_json=json.dumps(f), **extra)["data"]]


def test_operators(api):
    all_ids = [s["id"] for s in page(api, "/segment")["data"]]
    first = all_ids[0]
    assert _ids(api, "/segment", {"id": {"eq": first}}) == [first]
    assert first not in _ids(api, "/segment", {"id": {"ne": first}})
    assert _ids(api, "/segment", {"id": {"gte": all_ids[2], "lt": all_ids[4]}}) == all_ids[2:4]
    assert _ids(api, "/segment", {"id": {"gt": all_ids[-2]}}) == all_ids[-1:]
    assert _ids(api, "/segment", {"id": {"lte": all_ids[1]}}) == all_ids[:2]
    assert _ids(api, "/segment", {"id": {"in": all_ids[3:5]}}) == all_ids[3:5]
    staff = _ids(api, "/segment", {"description": {"contains": "STAFF"}})
    assert staff == [first]  # "All Staff", case-insensitive
    assert _ids(api, "/segment", {"description": {"like": "staff"}}) == staff


def test_filters_combine_with_and(api):
    f = {"subscriber_status": {"eq": 1}, "department": {"eq": "Engineering"}}
    body = page(api, filters_json=json.dumps(f))
    assert body["total"] > 0
    for s in body["data"]:
        assert s["subscriber_status"]["id"] == 1 and s["department"] == "Engineering"
    assert body["total"] < page(api)["total"]


def test_filter_on_email_and_bool(fresh_api):
    api = fresh_api
    body = page(api, filters_json=json.dumps({"email": {"contains": "@example.com"}}), page_size=1)
    assert body["total"] == 300  # every seeded subscriber
    body = page(api, "/content", filters_json=json.dumps({"private": {"eq": True}}))
    assert body["total"] > 0
    assert all(c["private"] is True for c in body["data"])


def test_filter_iso_date_value(api):
    a = _ids(api, "/segment", {"date_created_utc": {"gte": "2021-01-01T00:00:00Z"}})
    b = _ids(api, "/segment", {"date_created_utc": {"gte": "2021-01-01 00:00:00"}})
    assert a == b


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"nope": {"eq": 1}}',
        '{"description": {"regex": "x"}}',
        '{"description": "Engineers"}',
        '{"description": {}}',
        '{"id": {"eq": "one"}}',
        '{"id": {"in": 5}}',
        '{"private": {"gt": true}}',
        '{"date_created_utc": {"gt": "yesterday"}}',
        '{"id": {"contains": "1"}}',
        '{"self": {"eq": "x"}}',
        '{"id": {"gt": null}}',
        "[" * 5000,
    ],
)
def test_bad_filters_are_400(api, raw):
    body = assert_api_error(api.get("/segment", params={"filters_json": raw}), 400)
    assert "filters_json" in body["error"]["message"]


def test_filters_on_sub_collections(fresh_api):
    api = fresh_api
    f = json.dumps({"department": {"eq": "Sales"}})
    body = page(api, "/segment/5001/subscriber", filters_json=f)
    assert body["total"] > 0 and all(s["department"] == "Sales" for s in body["data"])
    body = page(api, "/content_insights", filters_json=json.dumps({"content_type": {"eq": "need"}}))
    assert body["total"] == 6 and {r["content_type"] for r in body["data"]} == {"need"}


def test_large_organisation():
    import requests
    from sandbox_helpers import get_token

    from cerkl_nb.sandbox import SandboxConfig, start

    sb = start(config=SandboxConfig(subscribers=10_000))
    try:
        t = get_token(sb)["access_token"]
        r = requests.get(
            sb.url + "/subscriber?page=100&page_size=100", headers={"Authorization": f"Bearer {t}"}
        )
        body = r.json()
        assert body["total"] == 10_000 and len(body["data"]) == 100
        assert body["links"]["next"] is None
    finally:
        sb.stop()


def test_seed_is_deterministic():
    from cerkl_nb.sandbox.seed import seeded_store

    a, b = seeded_store(seed=7), seeded_store(seed=7)
    assert a.data["subscriber"] == b.data["subscriber"]
    assert a.data["content"] == b.data["content"]
    assert seeded_store(seed=8).data["subscriber"] != a.data["subscriber"]
