"""History: every call recorded, bounded, exported without secrets (curl, Python, Postman)."""

from __future__ import annotations

import json
import shlex

from cerkl_nb import History, HistoryEntry


def _entry(**kw) -> HistoryEntry:
    base = dict(
        id=HistoryEntry.next_id(),
        method="GET",
        url="http://127.0.0.1:1/v3/subscriber",
        path="/subscriber",
        params={"page": 1, "page_size": 100},
        request_body=None,
        status=200,
        elapsed_s=0.01,
        size=10,
        request_id="r1",
        started_at=0.0,
        base_url="http://127.0.0.1:1/v3",
    )
    base.update(kw)
    return HistoryEntry(**base)


def test_every_call_is_recorded_with_its_details(sandbox, make_client) -> None:
    client = make_client(sandbox)
    seen = []
    client.history.add_listener(seen.append)
    client.list("subscriber", page_size=2)
    seg = client.create("segment", {"description": "history test", "external_id": "h-1"})
    e_list, e_post = client.history.entries()[-2:]
    assert (e_list.method, e_list.path, e_list.status) == ("GET", "/subscriber", 200)
    assert e_list.params == {"page": 1, "page_size": 2}
    assert e_list.request_id and e_list.size > 0 and e_list.elapsed_s > 0
    assert (
        e_post.status == 201 and e_post.request_body["template"]["data"][0]["external_id"] == "h-1"
    )
    assert str(seg["id"]) in (e_post.response_excerpt or "")
    assert seen[-2:] == [e_list, e_post]


def test_to_curl_and_to_python_use_placeholders(sandbox, make_client) -> None:
    client = make_client(sandbox)
    client.list("subscriber", page_size=2)
    client.create("segment", {"description": 'it\'s "quoted" $HOME'})
    secrets = [
        client.token_manager.token.access_token.get_secret_value(),
        client.token_manager.credentials.client_secret.get_secret_value(),
    ]
    e_list, e_post = client.history.entries()[-2:]
    curl = e_list.to_curl()
    assert curl.startswith('curl -G "$CERKL_BASE_URL/subscriber"')
    assert '-H "Authorization: Bearer $CERKL_ACCESS_TOKEN"' in curl
    words = shlex.split(curl.replace("\\\n", " "))
    assert [words[i + 1] for i, w in enumerate(words) if w == "--data-urlencode"] == [
        "page=1",
        "page_size=2",
    ]
    words = shlex.split(e_post.to_curl().replace("\\\n", " "))
    assert words[:3] == ["curl", "-X", "POST"]
    body = json.loads(words[words.index("--data-raw") + 1])
    assert body["template"]["data"][0]["description"] == 'it\'s "quoted" $HOME'
    assert e_list.to_python() == "client.list('subscriber', page=1, page_size=2)"
    assert e_post.to_python().startswith("client.create('segment', {'description':")
    req = e_post.to_python(style="requests")
    assert 'os.environ["CERKL_ACCESS_TOKEN"]' in req and 'os.environ["CERKL_BASE_URL"]' in req
    for text in (curl, e_post.to_curl(), e_list.to_python(), req):
        for s in secrets:
            assert s not in text
    # The Python snippet runs as written against a client.
    ns = {"client": client}
    exec(e_list.to_python(), ns)  # noqa: S102 - our own generated snippet


def test_python_snippets_for_each_shape() -> None:
    assert _entry(path="/segment/12", params=None).to_python() == "client.get('segment', 12)"
    assert _entry(method="DELETE", path="/segment/12", params=None).to_python() == (
        "client.delete('segment', 12)"
    )
    put = _entry(
        method="PUT",
        path="/segment/12",
        params=None,
        request_body={"template": {"version": "3.0", "data": [{"description": "x"}]}},
    )
    assert put.to_python() == "client.update('segment', 12, {'description': 'x'})"
    many = _entry(
        method="POST",
        path="/segment",
        params=None,
        request_body={"template": {"version": "3.0", "data": [{"a": 1}, {"a": 2}]}},
    )
    assert many.to_python() == "client.create_many('segment', [{'a': 1}, {'a': 2}])"
    nested = _entry(
        method="POST",
        path="/segment/12/subscriber",
        params=None,
        request_body={"template": {"version": "3.0", "data": [{"id": 5}]}},
    )
    assert nested.to_python() == (
        "client.request('POST', '/segment/12/subscriber', items=[{'id': 5}])"
    )
    other = _entry(method="POST", path="/segment", params=None, request_body={"x": 1})
    assert other.to_python() == "client.request('POST', '/segment', json={'x': 1})"
    assert _entry(path="/segment/007", params=None).to_python() == "client.get('segment', '007')"


def test_request_bodies_are_redacted() -> None:
    from cerkl_nb.history import redact_json

    body = {"password": "hunter2-long", "nested": [{"client_secret": "abc"}], "ok": "fine"}
    assert redact_json(body) == {
        "password": "***",
        "nested": [{"client_secret": "***"}],
        "ok": "fine",
    }


def test_bounded_and_clearable() -> None:
    h = History(maxlen=3)
    for i in range(5):
        h.add(_entry(request_id=str(i)))
    assert len(h) == 3 and [e.request_id for e in h] == ["2", "3", "4"]
    assert h.last().request_id == "4" and h.get(h.last().id) is h.last()
    h.clear()
    assert len(h) == 0


def test_postman_round_trip_has_variables_not_values(sandbox, make_client) -> None:
    client = make_client(sandbox)
    client.list("subscriber", page_size=2, filters={"email": {"contains": "@example.com"}})
    seg = client.create("segment", {"description": "postman"})
    client.get("segment", seg["id"])
    coll = client.history.to_postman_collection(name="t")
    text = json.dumps(coll)
    assert coll["info"]["schema"].endswith("/v2.1.0/collection.json")
    assert coll["auth"]["type"] == "oauth2"
    auth = {kv["key"]: kv["value"] for kv in coll["auth"]["oauth2"]}
    assert auth["clientId"] == "{{clientId}}" and auth["clientSecret"] == "{{clientSecret}}"
    assert auth["accessToken"] == "{{accessToken}}"
    assert all(i["request"]["url"]["raw"].startswith("{{baseUrl}}/") for i in coll["item"])
    for s in (
        client.token_manager.token.access_token.get_secret_value(),
        client.token_manager.credentials.client_secret.get_secret_value(),
    ):
        assert s not in text
    replay = History.from_postman_collection(json.loads(text))
    assert [r["method"] for r in replay][-3:] == ["GET", "POST", "GET"]
    n = len(client.history)
    for r in replay[-3:]:
        client.request(r["method"], r["path"], params=r["params"], json=r["json"])
    assert len(client.history) == n + 3
    nested = {
        "item": [
            {"name": "f", "item": [{"request": "{{baseUrl}}/segment?page=2"}]},
            {"request": {"method": "GET", "url": "https://elsewhere.example/x"}},
        ]
    }
    assert History.from_postman_collection(nested) == [
        {"method": "GET", "path": "/segment", "params": {"page": "2"}, "json": None}
    ]


def test_headers_are_recorded_redacted(sandbox, make_client) -> None:
    client = make_client(sandbox)
    client.create("segment", {"description": "headers"})
    entry = client.history.last()
    assert entry.request_headers["Authorization"] == "Bearer ***"
    assert entry.request_headers["Content-Type"] == "application/json"
    assert entry.response_headers["X-Request-Id"] == entry.request_id
    token = client.token_manager.token.access_token.get_secret_value()
    assert token not in str(entry)
