"""CerklClient against the sandbox: 401/403 policy, retries, faults, typed errors, long runs."""

from __future__ import annotations

import email.utils
import threading
import tracemalloc

import pytest

from cerkl_nb import (
    ApiError,
    CerklClient,
    ConfigurationError,
    ConnectionFailed,
    Credentials,
    FakeClock,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Settings,
    TokenManager,
    ValidationError,
)
from cerkl_nb.errors import BadResponse, Forbidden, RequestTimeout, ServerError, Unauthorized

from .loopback import LoopbackServer, Reply, json_reply

TOKEN = {"access_token": "tok-abcdef-123456", "token_type": "Bearer", "expires_in": 3600}


def test_readme_flow_token_list_create(sandbox, make_client) -> None:
    client = make_client(sandbox)
    page = client.list("subscriber", page_size=5)
    assert len(page.items) == 5 and page.total and page.page == 1 and page.has_next
    seg = client.create("segment", {"description": "Engineers (core test)"})
    assert seg["id"] and seg["description"] == "Engineers (core test)"
    assert client.get("segment", seg["id"])["id"] == seg["id"]
    upd = client.update("segment", seg["id"], {"description": "Eng 2"})
    assert upd.get("description", "Eng 2") == "Eng 2"
    client.delete("segment", seg["id"])
    with pytest.raises(NotFound) as info:
        client.get("segment", seg["id"])
    assert info.value.status == 404 and info.value.request_id
    assert "request id" in str(info.value)


def test_filters_reach_the_server(sandbox, make_client) -> None:
    client = make_client(sandbox)
    first = client.list("subscriber", page_size=1).items[0]
    found = client.list("subscriber", filters={"email": {"eq": first["email"]}})
    assert [i["id"] for i in found.items] == [first["id"]]


def test_server_side_expiry_revocation_or_restart_trigger_one_refresh(fresh_sandbox, make_client):
    client = make_client(fresh_sandbox)
    expected = client.list("segment").items
    fresh_sandbox.revoke_all_tokens()  # a restart forgets every token
    fresh_sandbox.reset_stats()
    assert client.list("segment").items == expected != []
    s = fresh_sandbox.stats()
    assert s["token_requests"] == 2  # refresh (revoked -> invalid_grant) then fallback
    assert s["statuses"].get("401") == 1
    assert client.token_manager.stats["fallbacks"] == 1
    # The server expires tokens earlier than expires_in says.
    fresh_sandbox.set_faults(expire_early_s=43200 - 10)
    fresh_sandbox.advance_clock(20)
    fresh_sandbox.reset_stats()
    client.list("segment")
    s = fresh_sandbox.stats()
    assert s["statuses"].get("401") == 1 and s["refresh_token"] == 1


def test_repeated_401_stops_after_one_refresh_and_retry(fresh_sandbox, make_client) -> None:
    client = make_client(fresh_sandbox)
    fresh_sandbox.set_faults(expire_early_s=10**8)  # every token is dead on arrival
    with pytest.raises(Unauthorized) as info:
        client.list("segment")
    s = fresh_sandbox.stats()
    assert s["statuses"].get("401") == 2 and s["token_requests"] == 2
    assert info.value.code == "invalid_token" and "expired" in str(info.value)
    assert len(client.history) == 2


def test_403_does_not_refresh(fresh_sandbox, make_client) -> None:
    client = make_client(fresh_sandbox)
    client.list("segment")
    fresh_sandbox.set_faults(fail_next={"count": 1, "status": 403})
    with pytest.raises(Forbidden) as info:
        client.list("segment")
    assert client.token_manager.stats["token_requests"] == 1
    assert info.value.status == 403 and "a refresh would not help" in str(info.value)


def test_bare_401_is_treated_like_invalid_token(loopback) -> None:
    n = {"api": 0}

    def handler(req):
        if "oauth" in req.path:
            return json_reply(TOKEN)
        n["api"] += 1
        return Reply(401, b"") if n["api"] == 1 else json_reply({"data": [{"id": 1}]})

    loopback.handler = handler
    client = CerklClient(
        TokenManager(Credentials("id", "secret-123"), Settings(base_url=loopback.url + "/v3"))
    )
    assert client.get("x", 1) == {"id": 1}
    assert client.token_manager.stats["token_requests"] == 2 and n["api"] == 2


def test_auto_refresh_off_lets_the_401_through(fresh_sandbox, make_client) -> None:
    client = make_client(fresh_sandbox)
    expected = client.list("segment").items
    client.token_manager.auto_refresh = False
    fresh_sandbox.revoke_all_tokens()
    with pytest.raises(Unauthorized, match="auto_refresh is off"):
        client.list("segment")
    client.token_manager.refresh()
    assert client.list("segment").items == expected != []


def test_429_retry_after_seconds(fresh_sandbox, make_client) -> None:
    clock = FakeClock()
    client = make_client(fresh_sandbox, clock=clock)
    expected = client.list("segment").items
    fresh_sandbox.set_faults(fail_next={"count": 1, "status": 429}, retry_after="2")
    assert client.list("segment").items == expected != []
    assert len(clock.sleeps) == 1 and 2 <= clock.sleeps[0] <= 2.5


def test_429_retry_after_http_date(loopback) -> None:
    clock = FakeClock()
    n = {"api": 0}
    when = email.utils.formatdate(clock.time() + 7, usegmt=True)

    def handler(req):
        if "oauth" in req.path:
            return json_reply(TOKEN)
        n["api"] += 1
        if n["api"] == 1:
            return json_reply(
                {"error": {"code": 429, "message": "slow down"}}, 429, **{"Retry-After": when}
            )
        return json_reply({"data": []})

    loopback.handler = handler
    client = CerklClient(
        TokenManager(
            Credentials("id", "secret-123"), Settings(base_url=loopback.url + "/v3"), clock=clock
        )
    )
    client.list("x")
    assert len(clock.sleeps) == 1 and 6 <= clock.sleeps[0] <= 7.5


@pytest.mark.parametrize("value", ["999999", "junk"])
def test_huge_or_junk_retry_after(fresh_sandbox, make_client, value) -> None:
    clock = FakeClock()
    client = make_client(fresh_sandbox, clock=clock, max_retries=2)
    client.list("segment")
    fresh_sandbox.set_faults(fail_next={"count": 5, "status": 429}, retry_after=value)
    with pytest.raises(RateLimited) as info:
        client.list("segment")
    if value == "999999":
        assert info.value.retry_after_s == 999999 and clock.sleeps == []  # gives up at once
    else:
        assert info.value.retry_after_s is None and len(clock.sleeps) == 2
    assert all(s <= 60 for s in clock.sleeps)  # never sleeps for hours in a notebook cell


def test_503_twice_then_success(fresh_sandbox, make_client) -> None:
    clock = FakeClock()
    client = make_client(fresh_sandbox, clock=clock)
    expected = client.list("segment").items
    fresh_sandbox.set_faults(fail_next={"count": 2, "status": 503})
    assert client.list("segment").items == expected != []
    assert len(clock.sleeps) == 2 and clock.sleeps[1] > 0
    assert [e.status for e in client.history][-3:] == [503, 503, 200]
    assert [e.attempt for e in client.history][-3:] == [1, 2, 3]


def test_500_forever_gives_up_with_status_and_request_id(fresh_sandbox, make_client) -> None:
    clock = FakeClock()
    client = make_client(fresh_sandbox, clock=clock, max_retries=3)
    client.list("segment")
    fresh_sandbox.set_faults(error_rate=1.0, error_status=500)
    with pytest.raises(ServerError) as info:
        client.list("segment")
    assert info.value.status == 500 and info.value.request_id
    assert "500" in str(info.value) and info.value.request_id in str(info.value)
    assert len(clock.sleeps) == 3  # 4 attempts in all
    assert Credentials.for_sandbox(fresh_sandbox).client_secret.get_secret_value() not in str(
        info.value
    )


def test_post_is_never_retried(fresh_sandbox, make_client) -> None:
    clock = FakeClock()
    client = make_client(fresh_sandbox, clock=clock)
    client.list("segment")
    fresh_sandbox.set_faults(fail_next={"count": 1, "status": 503})
    with pytest.raises(OutcomeUnknown, match="may or may not") as info:
        client.create("segment", {"description": "maybe"})
    assert info.value.status == 503 and clock.sleeps == []
    assert [e.method for e in client.history][-1:] == ["POST"]
    assert sum(e.method == "POST" for e in client.history) == 1


def test_connection_refused_names_the_url_and_the_sandbox() -> None:
    srv = LoopbackServer()
    url = srv.url + "/v3"
    srv.close()  # the port is now closed
    clock = FakeClock()
    client = CerklClient(
        TokenManager(Credentials("id", "secret-123"), Settings(base_url=url), clock=clock)
    )
    with pytest.raises(ConnectionFailed) as info:
        client.list("segment")
    msg = str(info.value)
    assert url + "/oauth/Token" in msg and "sandbox is not running" in msg
    assert "cerkl-nb sandbox" in msg


def test_connection_refused_on_the_api(sandbox) -> None:
    srv = LoopbackServer()
    dead = srv.url + "/v3"
    srv.close()
    settings = Settings(base_url=dead, token_url=sandbox.token_url, max_retries=1)
    clock = FakeClock()
    client = CerklClient(TokenManager(Credentials.for_sandbox(sandbox), settings, clock=clock))
    with pytest.raises(ConnectionFailed, match="sandbox is not running"):
        client.list("segment")
    assert len(clock.sleeps) == 1  # GET retried once
    with pytest.raises(ConnectionFailed):
        client.create("segment", {"description": "x"})
    assert len(clock.sleeps) == 1  # POST not retried


def test_slow_server_times_out_at_the_configured_timeout(fresh_sandbox, make_client) -> None:
    import time

    client = make_client(fresh_sandbox, timeout_s=0.25)
    client.list("segment")
    fresh_sandbox.set_faults(latency_ms=1500)
    t0 = time.perf_counter()
    with pytest.raises(RequestTimeout, match="no answer within 0.25 s"):
        client.list("segment")
    assert time.perf_counter() - t0 < 1.2  # read timeouts are not retried
    with pytest.raises(RequestTimeout, match="may or may not"):
        client.create("segment", {"description": "slow"})


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<html><body>Sign in</body></html>", {"Content-Type": "text/html"}),
        Reply(200, b'{"data": [{"id": 1}', {"Content-Type": "application/json"}),
        Reply(200, b"not json at all", {"Content-Type": "text/plain"}),
        Reply(502, b"<html>Bad gateway</html>", {"Content-Type": "text/html"}),
    ],
)
def test_html_and_broken_bodies_raise_bad_response_or_server_error(loopback, reply) -> None:
    loopback.handler = lambda req: json_reply(TOKEN) if "oauth" in req.path else reply
    client = CerklClient(
        TokenManager(
            Credentials("id", "secret-123"), Settings(base_url=loopback.url + "/v3", max_retries=0)
        )
    )
    expected = ServerError if reply.status >= 500 else BadResponse
    with pytest.raises(expected) as info:
        client.list("x")
    if expected is BadResponse:
        assert info.value.body_excerpt and len(info.value.body_excerpt) <= 300


def test_typed_errors_for_4xx(sandbox, make_client) -> None:
    client = make_client(sandbox)
    with pytest.raises(ValidationError) as info:
        client.list("subscriber", page_size=1000)  # above the sandbox's maximum
    assert info.value.status == 400 and info.value.message
    with pytest.raises(NotFound):
        client.get("no_such_resource", 1)
    with pytest.raises(ApiError) as info:
        client.request("POST", "/segment", json={"not": "a template"})
    assert 400 <= info.value.status < 500 and info.value.body_excerpt


def test_redirects_do_not_carry_the_token_to_another_host(loopback) -> None:
    other = LoopbackServer()
    try:
        other.handler = lambda req: json_reply({"data": [{"id": 9}]})

        def handler(req):
            if "oauth" in req.path:
                return json_reply(TOKEN)
            return Reply(302, b"", {"Location": f"http://localhost:{other.port}/v3/x/1"})

        loopback.handler = handler
        client = CerklClient(
            TokenManager(Credentials("id", "secret-123"), Settings(base_url=loopback.url + "/v3"))
        )
        client.get("x", 1)
        assert other.seen and "Authorization" not in other.seen[0].headers
        with pytest.raises(ConfigurationError, match="Refusing to send your token"):
            client.request("GET", f"http://localhost:{other.port}/v3/x")
    finally:
        other.close()


def test_simulated_36_hours(fresh_sandbox, make_client) -> None:
    clock = FakeClock()
    client = make_client(fresh_sandbox, clock=clock)
    threads_before = None
    for i in range(36 * 6):  # a call every 10 minutes for 36 h
        client.list("segment", page_size=1)
        clock.advance(600)
        fresh_sandbox.advance_clock(600)
        if i == 5:
            threads_before = threading.active_count()  # server threads have settled
    stats = client.token_manager.stats
    # 12-hour tokens renewed at the leeway: fetched at 0 h, refreshed at 12 h and 24 h.
    assert (stats["fetches"], stats["refreshes"], stats["fallbacks"]) == (1, 2, 0), stats
    assert fresh_sandbox.stats()["statuses"].get("401", 0) == 0
    assert threading.active_count() <= threads_before + 2
    assert len(client.history) == 200  # bounded


def test_ten_thousand_records_in_constant_memory(fresh_sandbox, make_client) -> None:
    fresh_sandbox.configure(subscribers=10_000)
    client = make_client(fresh_sandbox)
    # The sandbox serves from this process and caches each record's JSON on first list:
    # fill its cache before tracing, so that only the client's memory is measured.
    for _ in client.iter_items("subscriber", page_size=100):
        pass
    tracemalloc.start()
    count = 0
    it = client.iter_items("subscriber", page_size=100)
    for i, _ in enumerate(it):
        count += 1
        if i == 150:
            tracemalloc.reset_peak()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    total = client.list("subscriber", page_size=1).total
    assert total >= 10_000 and count == total  # every record once, none twice
    assert peak < 8 * 1024 * 1024  # a few pages, never the whole collection


def test_client_from_credentials_and_context_manager(sandbox) -> None:
    with CerklClient(
        credentials=Credentials.for_sandbox(sandbox), settings=Settings.for_sandbox(sandbox)
    ) as client:
        assert client.list("segment", page_size=1).page == 1
