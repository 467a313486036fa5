"""History: every call recorded, bounded, exported without secrets (curl, Python, Postman)."""

from __future__ import annotations

import json
import shlex

import pytest

from cerkl_nb import History, HistoryEntry
from cerkl_nb.postman.snippets import MASKED_NOTE


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
    assert curl.startswith('curl --globoff -G "$CERKL_BASE_URL"/subscriber')
    assert '-H "Authorization: Bearer $CERKL_ACCESS_TOKEN"' in curl
    words = shlex.split(curl.replace("\\\n", " "))
    assert [words[i + 1] for i, w in enumerate(words) if w == "--data-urlencode"] == [
        "page=1",
        "page_size=2",
    ]
    words = shlex.split(e_post.to_curl().replace("\\\n", " "))
    assert words[:4] == ["curl", "--globoff", "-X", "POST"]
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
    from cerkl_nb.redact import redact_json

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
    imported = History.from_postman_collection(nested)
    assert imported == [
        {"method": "GET", "path": "/segment", "params": {"page": "2"}, "json": None, "name": ""}
    ]
    assert imported.warnings == ["'(unnamed)' goes to another host (elsewhere.example): skipped."]


def test_an_absolute_loopback_url_is_carried_and_a_lookalike_host_is_not() -> None:
    coll = {
        "item": [
            {"name": "v6", "request": "http://[::1]:8765/v3/segment/5"},
            {"name": "lo", "request": "http://127.0.0.2/v3/segment"},
            {"name": "fake", "request": "http://sandbox.localhost/v3/segment"},
        ]
    }
    imported = History.from_postman_collection(coll)
    assert [(r["name"], r["path"]) for r in imported] == [("v6", "/segment/5"), ("lo", "/segment")]
    assert "'fake' goes to another host (sandbox.localhost): skipped." in imported.warnings


def test_headers_are_recorded_redacted(sandbox, make_client) -> None:
    client = make_client(sandbox)
    client.create("segment", {"description": "headers"})
    entry = client.history.last()
    assert entry.request_headers["Authorization"] == "Bearer ***"
    assert entry.request_headers["Content-Type"] == "application/json"
    assert entry.response_headers["X-Request-Id"] == entry.request_id
    token = client.token_manager.token.access_token.get_secret_value()
    assert token not in str(entry)


def _call(**kw) -> HistoryEntry:
    return _entry(**{"params": None, **kw})


def test_logical_calls_fold_retries_and_leave_failures_out() -> None:
    h = History()
    url = "http://127.0.0.1:1/v3/segment/7"
    h.add(_call(method="GET", url=url, path="/segment/7", status=401, attempt=1))
    h.add(_call(method="GET", url=url, path="/segment/7", status=200, attempt=2))
    h.add(_call(method="GET", url=url, path="/segment/7", status=503, attempt=1))
    h.add(_call(method="GET", url=url, path="/segment/7", status=503, attempt=2))
    h.add(_call(method="GET", url=url, path="/segment/7", status=200, attempt=3))
    h.add(_call(method="GET", url=url, path="/segment/8", status=404, attempt=1))
    h.add(_call(method="POST", url=url, path="/segment", status=None, attempt=1))
    calls = h.logical_calls()
    assert [(c.path, c.status, c.attempt) for c in calls] == [
        ("/segment/7", 200, 2),
        ("/segment/7", 200, 3),
    ]
    everything = h.logical_calls(include_failed=True)
    assert [c.status for c in everything] == [200, 200, 404, None]
    assert len(h.to_postman_collection()["item"]) == 2
    assert len(h.to_postman_collection(include_failed=True)["item"]) == 4


def test_postman_items_repeat_list_keys_drop_none_and_split_next_links() -> None:
    item = _call(params={"ids": [1, 2], "skip": None, "page": 1}).to_postman_item()
    url = item["request"]["url"]
    assert url["query"] == [
        {"key": "ids", "value": "1"},
        {"key": "ids", "value": "2"},
        {"key": "page", "value": "1"},
    ]
    assert url["raw"] == "{{baseUrl}}/subscriber?ids=1&ids=2&page=1"
    nxt = _call(path="/subscriber?page=2&page_size=2").to_postman_item()["request"]["url"]
    assert nxt["path"] == ["subscriber"]
    assert nxt["query"] == [{"key": "page", "value": "2"}, {"key": "page_size", "value": "2"}]
    odd = _call(params={"q": "a&b=c #d+e"}).to_postman_item()["request"]["url"]
    assert odd["raw"].endswith("?q=a%26b%3Dc%20%23d%2Be")
    assert odd["query"] == [{"key": "q", "value": "a&b=c #d+e"}]


def test_created_ids_and_unique_values_become_variables() -> None:
    h = History()
    body = {"template": {"version": "3.0", "data": [{"external_id": "x-1", "email": "a@b.c"}]}}
    created = '{"version":"3.0","data":[{"id":5013,"external_id":"x-1"}]}'
    h.add(
        _call(
            method="POST", path="/segment", request_body=body, status=201, response_excerpt=created
        )
    )
    member = {"template": {"version": "3.0", "data": [{"id": 5013}]}}
    h.add(_call(method="POST", path="/segment/5013/subscriber", request_body=member, status=201))
    h.add(_call(path="/segment", params={"filters_json": '{"id":{"eq":5013}}'}))
    h.add(_call(path="/segment", params={"filters_json": '{"external_id":{"eq":"x-1"}}'}))
    coll = h.to_postman_collection()
    create, add, by_id, by_ext = coll["item"]
    raw = create["request"]["body"]["raw"]
    assert '"external_id": "x-1-{{runId}}"' in raw and '"email": "a+{{runId}}@b.c"' in raw
    tests = next(e for e in create["event"] if e["listen"] == "test")
    assert 'pm.collectionVariables.set("segmentId", items[0].id);' in tests["script"]["exec"]
    assert add["request"]["url"]["path"] == ["segment", "{{segmentId}}", "subscriber"]
    # A numeric id stays a number in the body Postman sends.
    assert '"id": {{segmentId}}' in add["request"]["body"]["raw"]
    assert by_id["request"]["url"]["query"][0]["value"] == '{"id":{"eq":{{segmentId}}}}'
    assert by_ext["request"]["url"]["query"][0]["value"] == '{"external_id":{"eq":"x-1-{{runId}}"}}'
    # The first item starts a new run id, so a second run does not collide with the first.
    first_scripts = [e["listen"] for e in create["event"]]
    assert first_scripts[0] == "prerequest"
    assert all(any(e["listen"] == "test" for e in i["event"]) for i in coll["item"])


def test_a_masked_value_is_announced_in_the_export() -> None:
    h = History()
    from cerkl_nb.redact import redact_json

    # As the client records it: redacted on the way in.
    body = redact_json({"password": "hunter2-long"})
    h.add(_call(method="POST", path="/segment", request_body=body))
    h.add(_call(path="/segment/1"))
    masked, plain = h.to_postman_collection()["item"]
    assert "hunter2-long" not in json.dumps(masked)
    assert masked["request"]["description"] == MASKED_NOTE
    assert "description" not in plain["request"]


def test_base_url_defaults_to_the_standard_sandbox_or_the_sessions_api() -> None:
    sandbox_session = History()
    sandbox_session.add(_call(base_url="http://127.0.0.1:41234/v3"))
    variables = {v["key"]: v["value"] for v in sandbox_session.to_postman_collection()["variable"]}
    assert variables["baseUrl"] == "http://127.0.0.1:8765/v3"
    cerkl_session = History()
    cerkl_session.add(_call(base_url="https://api.cerkl.com/v3"))
    env = {v["key"]: v["value"] for v in cerkl_session.to_postman_environment()["values"]}
    assert env["baseUrl"] == "https://api.cerkl.com/v3"
    assert env["tokenUrl"] == "{{baseUrl}}/oauth/Token"


def test_the_secret_enters_an_environment_file_only_when_asked(monkeypatch) -> None:
    monkeypatch.setenv("CERKL_CLIENT_SECRET", "from-the-environment-123")
    h = History()
    default = {v["key"]: v for v in h.to_postman_environment(client_id="me")["values"]}
    assert default["clientSecret"]["value"] == "" and default["clientId"]["value"] == "me"
    asked = {v["key"]: v for v in h.to_postman_environment(client_secret_from_env=True)["values"]}
    assert asked["clientSecret"] == {
        "key": "clientSecret",
        "value": "from-the-environment-123",
        "type": "secret",
        "enabled": True,
    }
    monkeypatch.delenv("CERKL_CLIENT_SECRET")
    with pytest.raises(ValueError, match="CERKL_CLIENT_SECRET is not set"):
        h.to_postman_environment(client_secret_from_env=True)
