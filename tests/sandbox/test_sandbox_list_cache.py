"""List responses are served from cached record JSON, byte for byte as a fresh render.

The reference for "fresh" is computed here, independently of the cache: every stored
record rendered with ``render_any`` and the whole envelope encoded at once, as the sandbox
did before it cached anything. Writes of every kind (create, update, delete, membership,
deletions that change other records) must show up in the very next list.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from cerkl_nb.sandbox.render import dumps, envelope_json, render_any
from cerkl_nb.sandbox.resources import EXAMPLES, RESOURCES

LISTS = ["subscriber", "segment", "category", "content", "blast", "unsubscribe"]


def _fresh_page(sb: Any, collection: str, page: int, size: int) -> bytes:
    """The list body as an uncached render of the store would give it."""
    app = sb.app
    res = RESOURCES[collection]
    base = sb.url
    with app.store.lock:
        recs = list(app.store.data[res.self_path].values())
        total = len(recs)
        start = (page - 1) * size
        data = [render_any(res, r, base) for r in recs[start : start + size]]

    def url(p: int) -> str:
        return f"{base}/{collection}?" + urlencode({"page": p, "page_size": size})

    return dumps(
        {
            "version": "3.0",
            "href": url(page),
            "data": data,
            "page": page,
            "page_size": size,
            "total": total,
            "links": {
                "self": url(page),
                "next": url(page + 1) if start + size < total else None,
                "prev": url(page - 1) if page > 1 else None,
            },
        }
    )


def _writable(rec: dict, collection: str = "subscriber") -> dict:
    """The writable fields of a listed record, references as ``{"id": n}``."""
    out = {}
    for f in RESOURCES[collection].writable:
        v = rec.get(f.name)
        if isinstance(v, dict) and "id" in v:
            v = {"id": v["id"]}
        elif isinstance(v, list):
            v = [{"id": x["id"]} if isinstance(x, dict) and "type" not in x else x for x in v]
        out[f.name] = v
    return out


def _assert_all_pages_fresh(api: Any, collection: str, size: int = 40) -> None:
    page = 1
    while True:
        r = api.get(f"/{collection}", params={"page": page, "page_size": size})
        assert r.status_code == 200, r.text
        assert r.content == _fresh_page(api.sb, collection, page, size), (collection, page)
        if r.json()["links"]["next"] is None:
            return
        page += 1


def test_envelope_json_equals_encoding_the_whole_dict() -> None:
    items = [{"id": 1, "name": 'Zoë \u2028 "q"'}, {"id": 2, "x": [1, None, True]}]
    head = {"version": "3.0", "href": 'http://h/v3/x?filters_json={"data":[]}'}
    tail = {"page": 1, "total": 2, "links": {"next": None}}
    encoded = [dumps(i) for i in items]
    assert envelope_json(head, encoded, tail) == dumps({**head, "data": items, **tail})
    assert envelope_json(head, [], tail) == dumps({**head, "data": [], **tail})
    assert envelope_json({}, encoded, {}) == dumps({"data": items})


def test_list_bodies_are_byte_identical_before_and_after_writes(fresh_api) -> None:
    api = fresh_api
    for name in LISTS:
        _assert_all_pages_fresh(api, name)
        _assert_all_pages_fresh(api, name)  # the second time from the cache
    assert len(api.sb.app.store.rendered) > 0

    subs = api.get("/subscriber", params={"page_size": 50}).json()["data"]
    sid = subs[0]["id"]
    segs = api.get("/segment", params={"page_size": 100}).json()["data"]
    # A segment with room for one more member, and a subscriber not in it yet.
    sizes = sorted(segs, key=lambda g: g["subscriber_count"])
    gid = sizes[0]["id"]
    page = api.get(f"/segment/{gid}/subscriber", params={"page_size": 100}).json()["data"]
    joiner = next(s["id"] for s in subs[3:] if s["id"] not in {m["id"] for m in page})
    segs = [sizes[0], sizes[-1]]
    writes = [
        lambda: api.put(f"/subscriber/{sid}", {**_writable(subs[0]), "job_title": "Cache buster"}),
        lambda: api.post("/subscriber", [{**EXAMPLES["subscriber"], "external_id": "EMP-9"}]),
        lambda: api.post(f"/segment/{gid}/subscriber", [{"id": joiner}]),
        lambda: api.delete(f"/segment/{gid}/subscriber/{joiner}"),
        lambda: api.delete(f"/subscriber/{subs[2]['id']}"),  # also changes segment counts
        lambda: api.delete(f"/segment/{segs[1]['id']}"),  # also changes content and blasts
        lambda: api.put(f"/segment/{gid}", {**_writable(segs[0], "segment"), "description": "New"}),
    ]
    for write in writes:
        r = write()
        assert r.status_code in (200, 201, 204), r.text
        for name in LISTS:
            _assert_all_pages_fresh(api, name)


def test_each_address_gets_its_own_links(fresh_api) -> None:
    api = fresh_api
    port = api.sb.port
    # The same page through two addresses, twice: the second round comes from kept pages.
    for _ in range(2):
        for host in ("127.0.0.1", "localhost"):
            hdr = {"Host": f"{host}:{port}"}
            body = json.loads(api.get("/subscriber", params={"page_size": 3}, headers=hdr).content)
            root = f"http://{host}:{port}/v3/"
            assert body["href"].startswith(root + "subscriber?")
            assert all(item["self"].startswith(root) for item in body["data"])


def test_kept_pages_follow_filters_and_page_size_and_stay_within_their_bound(fresh_api) -> None:
    api = fresh_api
    rendered = api.sb.app.store.rendered
    rendered.max_page_bytes = 60_000  # a few pages of 40 subscribers
    for _ in range(2):
        _assert_all_pages_fresh(api, "subscriber", size=40)
        _assert_all_pages_fresh(api, "subscriber", size=7)
    assert 0 < rendered._page_bytes <= 60_000

    first = api.get("/subscriber", params={"page_size": 5}).json()["data"][0]
    f = json.dumps({"id": {"eq": first["id"]}})
    for _ in range(2):
        filtered = api.get("/subscriber", params={"page_size": 5, "filters_json": f}).json()
        assert [x["id"] for x in filtered["data"]] == [first["id"]] and filtered["total"] == 1
        assert "filters_json" in filtered["links"]["self"]
        _assert_all_pages_fresh(api, "subscriber", size=5)
    api.delete(f"/subscriber/{first['id']}")
    after = api.get("/subscriber", params={"page_size": 5, "filters_json": f}).json()
    assert after["data"] == [] and after["total"] == 0


def test_rows_that_are_not_stored_records_are_not_cached(fresh_api) -> None:
    api = fresh_api
    sid = api.get("/subscriber", params={"page_size": 1}).json()["data"][0]["id"]
    api.sb.app.store.rendered.clear()
    r = api.get(f"/subscriber/{sid}/subscriber_interest")
    assert r.status_code == 200, r.text
    assert len(api.sb.app.store.rendered) == 0
