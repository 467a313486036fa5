"""filters_json, tolerant unwrapping and the page iterator's stop rules."""

from __future__ import annotations

import datetime as dt
import json
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from cerkl_nb import (
    CerklClient,
    ConfigurationError,
    Credentials,
    Settings,
    TokenManager,
    ValidationError,
    filters_json,
)
from cerkl_nb.errors import BadResponse, MissingDependency
from cerkl_nb.paging import extract_next, extract_total
from cerkl_nb.spec import unwrap_items

from .loopback import LoopbackServer, Reply, json_reply

TOKEN = {"access_token": "tok-abcdef-123456", "token_type": "bearer", "expires_in": 3600}


def test_filters_json_documented_and_django_forms() -> None:
    doc = filters_json({"date_modified_utc": {"gt": "2020-07-16 00:00:00"}})
    assert json.loads(doc) == {"date_modified_utc": {"gt": "2020-07-16 00:00:00"}}
    both = json.loads(
        filters_json(
            {"status": 1},
            email__contains="@example.com",
            id__in=(1, 2),
            date_modified_utc__gte=dt.datetime(2020, 7, 16, 2, 0, tzinfo=dt.timezone.utc),
            first_name="Ada",
        )
    )
    assert both == {
        "status": {"eq": 1},
        "email": {"contains": "@example.com"},
        "id": {"in": [1, 2]},
        "date_modified_utc": {"gte": "2020-07-16 02:00:00"},
        "first_name": {"eq": "Ada"},
    }
    rng = json.loads(filters_json(id__gt=1, id__lt=5))
    assert rng == {"id": {"gt": 1, "lt": 5}}
    # The client does not enforce the sandbox's operator list (Cerkl documents only gt):
    # any operator-like name is passed through, and both forms agree.
    assert json.loads(filters_json({"id": {"between": [1, 2]}})) == {"id": {"between": [1, 2]}}
    assert json.loads(filters_json(email__like="x")) == {"email": {"like": "x"}}
    assert json.loads(filters_json(email__like="x")) == json.loads(
        filters_json({"email": {"like": "x"}})
    )
    assert json.loads(filters_json(date_modified_utc__not_in=[1])) == {
        "date_modified_utc": {"not_in": [1]}
    }
    assert json.loads(filters_json(first_name="Ada", a__b__gt=2)) == {
        "first_name": {"eq": "Ada"},
        "a__b": {"gt": 2},
    }
    assert json.loads(filters_json(email__Like="x")) == {"email__Like": {"eq": "x"}}
    for bad in ("GT", "$gt", "", "g t", "like-ish"):
        with pytest.raises(ConfigurationError, match="not an operator name"):
            filters_json({"id": {bad: 1}})
    with pytest.raises(ConfigurationError, match="list"):
        filters_json(id__in=3)
    with pytest.raises(ConfigurationError):
        filters_json()


@pytest.mark.parametrize(
    "body",
    [
        [{"id": 1}, {"id": 2}],
        {"data": [{"id": 1}, {"id": 2}]},
        {"version": "3.0", "data": [{"id": 1}, {"id": 2}], "total": 2},
        {"items": [{"id": 1}, {"id": 2}]},
        {"results": [{"id": 1}, {"id": 2}]},
        {
            "collection": {
                "items": [
                    {"data": [{"name": "id", "value": 1}]},
                    {"data": [{"name": "id", "value": 2}]},
                ]
            }
        },
        {"template": {"version": "3.0", "data": [{"id": 1}, {"id": 2}]}},
    ],
)
def test_unwrap_items_accepts_plausible_envelopes(body) -> None:
    assert [i["id"] for i in unwrap_items(body)] == [1, 2]


def test_unwrap_items_single_objects_and_empties() -> None:
    assert unwrap_items({"data": {"id": 7}}) == [{"id": 7}]
    assert unwrap_items({"id": 7, "description": "x"}) == [{"id": 7, "description": "x"}]
    assert unwrap_items(None) == [] and unwrap_items({"data": None}) == []
    assert unwrap_items({"error": {"code": 404}}) == []


def test_extract_total_and_next() -> None:
    assert extract_total({"total": 5}) == 5
    assert extract_total({"meta": {"total_count": "7"}}) == 7
    assert extract_total({}, {"X-Total-Count": "9"}) == 9
    assert extract_total({"total": True}) is None
    assert extract_next({"links": {"next": "http://x/2"}}) == (True, "http://x/2")
    assert extract_next({"links": {"next": None}}) == (True, None)
    assert extract_next({"links": [{"rel": "next", "href": "u"}]}) == (True, "u")
    assert extract_next({}, {"Link": '<http://x/3>; rel="next"'}) == (True, "http://x/3")
    assert extract_next({"data": []}) == (False, None)


def _client(srv: LoopbackServer, clock=None) -> CerklClient:
    settings = Settings(base_url=srv.url + "/v3", max_retries=1)
    return CerklClient(TokenManager(Credentials("id", "secret-123"), settings, clock=clock))


def _paged(n_total: int, style: str):
    """A handler serving n_total records with one of several envelope styles."""

    def handler(req):
        if req.path.startswith("/v3/oauth/Token"):
            return json_reply(TOKEN)
        q = parse_qs(urlsplit(req.path).query)
        page, size = int(q["page"][0]), int(q["page_size"][0])
        ids = list(range((page - 1) * size + 1, min(page * size, n_total) + 1))
        items = [{"id": i} for i in ids]
        if style == "bare":
            return json_reply(items)
        if style == "total":
            return json_reply({"data": items, "total": n_total})
        if style == "links":
            nxt = f"{srv_url[0]}/v3/x?page={page + 1}" if page * size < n_total else None
            return json_reply({"items": items, "links": {"next": nxt}})
        raise AssertionError(style)

    srv_url: list[str] = []
    return handler, srv_url


@pytest.mark.parametrize("style", ["bare", "total", "links"])
@pytest.mark.parametrize("n_total", [0, 1, 9, 10, 25])
def test_iterator_stops_by_total_next_link_or_short_page(loopback, style, n_total) -> None:
    handler, srv_url = _paged(n_total, style)
    srv_url.append(loopback.url)
    loopback.handler = handler
    client = _client(loopback)
    ids = [i["id"] for i in client.iter_items("x", page_size=10)]
    assert ids == list(range(1, n_total + 1))
    api_calls = [s for s in loopback.seen if "/oauth/" not in s.path]
    expected = max(1, -(-n_total // 10))
    # Without a total or next link, an exactly-full last page costs one extra (empty) call.
    if style == "bare" and n_total % 10 == 0 and n_total:
        expected += 1
    assert len(api_calls) == expected
    client.close()


def test_concurrent_paging_gives_the_same_items_in_order(loopback) -> None:
    handler, srv_url = _paged(95, "total")
    srv_url.append(loopback.url)
    loopback.handler = handler
    client = _client(loopback)
    assert [i["id"] for i in client.iter_items("x", page_size=10, concurrency=4)] == list(
        range(1, 96)
    )
    client.close()


def test_progress_bar_and_dataframe(loopback, capsys) -> None:
    handler, srv_url = _paged(30, "total")
    srv_url.append(loopback.url)
    loopback.handler = handler
    client = _client(loopback)
    assert len(client.get_all("x", page_size=10, progress=True)) == 30
    df = client.to_dataframe("x", page_size=10)
    assert list(df["id"]) == list(range(1, 31))
    client.close()


def test_to_dataframe_without_pandas_says_how_to_install(loopback, monkeypatch) -> None:
    loopback.handler = lambda req: json_reply(TOKEN) if "oauth" in req.path else json_reply([])
    client = _client(loopback)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependency, match=r"pip install 'cerkl-nb\[data\]'"):
        client.to_dataframe("x")
    assert isinstance(MissingDependency("x"), ImportError)
    client.close()


def test_bad_paging_arguments() -> None:
    client = CerklClient(TokenManager(Credentials("id", "secret-123"), Settings()))
    with pytest.raises(ConfigurationError):
        next(client.iter_items("x", page_size=0))
    client.close()


def test_envelope_wrapping_on_writes(loopback) -> None:
    bodies = []

    def handler(req):
        if "oauth" in req.path:
            return json_reply(TOKEN)
        bodies.append(json.loads(req.body) if req.body else None)
        if req.method == "DELETE":
            return Reply(204)
        return json_reply({"data": [{"id": 5, "description": "Eng"}]}, 201)

    loopback.handler = handler
    client = _client(loopback)
    assert client.create("segment", {"description": "Eng"}) == {"id": 5, "description": "Eng"}
    assert client.update("segment", 5, {"description": "Eng"})["id"] == 5
    assert client.create_many("segment", [{"description": "a"}, {"description": "b"}])
    assert client.delete("segment", 5) is None
    assert bodies[0] == {"template": {"version": "3.0", "data": [{"description": "Eng"}]}}
    assert len(bodies[2]["template"]["data"]) == 2
    assert bodies[3] is None
    client.close()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_server_that_clamps_page_size_loses_no_records(loopback, concurrency) -> None:
    def handler(req):
        if "oauth" in req.path:
            return json_reply(TOKEN)
        q = parse_qs(urlsplit(req.path).query)
        page = int(q["page"][0])
        ids = list(range((page - 1) * 10 + 1, min(page * 10, 35) + 1))
        return json_reply({"data": [{"id": i} for i in ids], "page_size": 10, "total": 35})

    loopback.handler = handler
    client = _client(loopback)
    got = [i["id"] for i in client.iter_items("x", page_size=25, concurrency=concurrency)]
    assert got == list(range(1, 36))
    client.close()


def test_unknown_operator_reaches_the_server_which_answers(sandbox, make_client) -> None:
    client = make_client(sandbox)
    with pytest.raises(ValidationError, match="unknown operator 'no_such_op'"):
        client.list("subscriber", filters={"email": {"no_such_op": "x"}})
    with pytest.raises(ValidationError, match="unknown operator 'no_such_op'"):
        client.list("subscriber", filters=filters_json(email__no_such_op="x"))
    assert client.list("subscriber", filters={"id": {"gt": 1}}, page_size=1).items


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_server_that_ignores_page_is_not_paged_forever(loopback, concurrency) -> None:
    # No total, no links, full pages, same records every time: the loop never
    # ended. islice() keeps the unfixed code from hanging this test.
    import itertools

    def handler(req):
        if "/oauth/" in req.path:
            return json_reply(TOKEN)
        return json_reply({"data": [{"id": 1}, {"id": 2}, {"id": 3}]})

    loopback.handler = handler
    client = _client(loopback)
    got: list[int] = []
    with pytest.raises(BadResponse, match="ignore the page parameter"):
        for item in itertools.islice(client.iter_items("x", page_size=3), 60):
            got.append(item["id"])
    assert got == [1, 2, 3]
    client.close()


def test_a_server_that_ignores_page_but_gives_a_total_stops_at_the_total(loopback) -> None:
    import itertools

    def handler(req):
        if "/oauth/" in req.path:
            return json_reply(TOKEN)
        page = int(parse_qs(urlsplit(req.path).query)["page"][0])
        # Distinct records on every page but a page count beyond what the total allows.
        ids = [page * 10 + i for i in range(3)]
        return json_reply({"data": [{"id": i} for i in ids], "total": 7})

    loopback.handler = handler
    client = _client(loopback)
    got = [i["id"] for i in itertools.islice(client.iter_items("x", page_size=3), 60)]
    # Pages 1-3 hold 9 records; the total (7) stops the walk after page 3, which is yielded
    # whole: a short total never cuts a page the server sent.
    assert got == [10, 11, 12, 20, 21, 22, 30, 31, 32]
    client.close()


# -- concurrency by default, order, and DataFrames built as pages arrive ----------------------


def test_pages_are_fetched_concurrently_by_default(loopback) -> None:
    import threading

    # Pages 2 and 3 each wait until the other has arrived: one page at a time would time
    # out here (and answer 500), so every item arriving proves two requests were in flight.
    both = threading.Barrier(2, timeout=10)
    handler, srv_url = _paged(40, "total")
    srv_url.append(loopback.url)

    def overlapping(req):
        if "page=2&" in req.path or "page=3&" in req.path:
            try:
                both.wait()
            except threading.BrokenBarrierError:
                return Reply(500, b"")
        return handler(req)

    loopback.handler = overlapping
    client = _client(loopback)
    assert [i["id"] for i in client.iter_items("x", page_size=10)] == list(range(1, 41))
    client.close()


@pytest.mark.parametrize("concurrency", [1, 2, 4, 8])
def test_concurrent_paging_gives_the_sequential_items_in_order(
    sandbox, make_client, concurrency
) -> None:
    client = make_client(sandbox)
    sequential = client.get_all("subscriber", page_size=7, concurrency=1)
    got = client.get_all("subscriber", page_size=7, concurrency=concurrency)
    assert got == sequential
    ids = [r["id"] for r in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == client.list("subscriber").total


def test_to_dataframe_equals_a_frame_of_all_records(sandbox, make_client) -> None:
    pd = pytest.importorskip("pandas")
    client = make_client(sandbox)
    records = client.get_all("subscriber", page_size=50)
    pd.testing.assert_frame_equal(
        client.to_dataframe("subscriber", page_size=50), pd.DataFrame.from_records(records)
    )
    pd.testing.assert_frame_equal(
        client.to_dataframe("subscriber", page_size=50, normalize=True),
        pd.json_normalize(records),
    )


def test_frame_from_items_matches_from_records_for_uneven_records(monkeypatch) -> None:
    pd = pytest.importorskip("pandas")
    from cerkl_nb import paging

    records = [
        {"id": 1, "a": None, "s": "x", "d": {"id": 1}},
        {"id": 2, "b": 3, "s": None},
        {"s": "y", "id": 3, "a": 2.5, "b": None, "d": None},
        {},
        {"id": 4, "t": True},
        {"id": 5, "t": None},
        {"id": 6, "t": False, "a": 1.0},
    ]
    for n in range(len(records) + 1):
        part = records[:n]
        pd.testing.assert_frame_equal(
            paging.frame_from_items(pd, iter(part)), pd.DataFrame.from_records(part)
        )
    monkeypatch.setattr(paging, "FRAME_CHUNK", 2)
    pd.testing.assert_frame_equal(
        paging.frame_from_items(pd, iter(records), normalize=True), pd.json_normalize(records)
    )
