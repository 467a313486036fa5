"""TokenManager against the sandbox: credentials, grants, rotation, single flight, retries."""

from __future__ import annotations

import base64
import threading

import pytest
import requests

from cerkl_nb import (
    ConfigurationError,
    Credentials,
    FakeClock,
    InvalidCredentials,
    Settings,
    TokenManager,
    TokenState,
)
from cerkl_nb.auth import basic_auth_header
from cerkl_nb.errors import TokenEndpointError, UnsupportedGrant
from cerkl_nb.session import AuthorizedSession

from .conftest import stat
from .loopback import LoopbackServer, Reply, json_reply

UNICODE_ID = "cerkl-nb-unicode"
UNICODE_SECRET = "sandbox+secret/with=odd:chars %£€"


def manager(sb, clock=None, client=None, **overrides) -> TokenManager:
    creds = Credentials(*client) if client else Credentials.for_sandbox(sb)
    settings = (
        Settings.for_sandbox(sb).replace(**overrides) if overrides else Settings.for_sandbox(sb)
    )
    return TokenManager(creds, settings, clock=clock)


def test_basic_header_encodings() -> None:
    raw = basic_auth_header("id", "a b€", "raw")
    assert base64.b64decode(raw.split()[1]).decode() == "id:a b€"
    rfc = basic_auth_header("id", "a b€", "rfc6749")
    assert base64.b64decode(rfc.split()[1]).decode() == "id:a+b%E2%82%AC"
    # Identical for unreserved secrets.
    assert basic_auth_header("id", "Az09-._~", "raw") == basic_auth_header(
        "id", "Az09-._~", "rfc6749"
    )


def test_fetch_sends_the_documented_request(loopback) -> None:
    loopback.handler = lambda req: json_reply(
        {"access_token": "tok-1234567890", "token_type": "Bearer", "expires_in": 60}
    )
    settings = Settings(base_url=loopback.url + "/v3")
    tm = TokenManager(Credentials("my-id", "my-secret-1"), settings)
    tok = tm.fetch()
    req = loopback.seen[0]
    assert (req.method, req.path) == ("POST", "/v3/oauth/Token")
    assert req.body == b"grant_type=client_credentials"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.headers["Accept"] == "application/json"
    assert req.headers["Accept-Language"] == "en_US"
    assert (
        req.headers["Authorization"] == "Basic " + base64.b64encode(b"my-id:my-secret-1").decode()
    )
    assert tok.lifetime_s == 60 and tm.state is TokenState.FRESH


@pytest.mark.parametrize(
    "client",
    [
        ("cerkl-nb-demo", "wrong-secret-123"),  # right id, wrong secret
        ("no-such-client", "whatever-123"),  # unknown id
        ("cerkl-nb:demo", "sandbox-demo-secret-1234"),  # ':' in the id breaks Basic
    ],
)
def test_bad_credentials_raise_invalid_credentials_without_retry(sandbox, client) -> None:
    tm = manager(sandbox, client=client)
    before = stat(sandbox, "token_requests")
    with pytest.raises(InvalidCredentials) as info:
        tm.get_token()
    assert stat(sandbox, "token_requests") - before == 1  # never retried
    assert info.value.error == "invalid_client" and info.value.status == 401
    text = str(info.value) + repr(info.value)
    assert client[1] not in text
    assert "Integrations & Plugins" in text
    assert tm.stats["failures"] == 1 and tm.token is None


def test_no_credentials_at_all_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigurationError):
        TokenManager(Credentials("", ""))  # type: ignore[arg-type]


@pytest.mark.parametrize("server_mode", ["raw", "rfc6749"])
@pytest.mark.parametrize("client_mode", ["raw", "rfc6749"])
def test_basic_encodings_against_the_server(fresh_sandbox, server_mode, client_mode) -> None:
    fresh_sandbox.configure(basic_auth_encoding=server_mode)
    tm = manager(
        fresh_sandbox, client=(UNICODE_ID, UNICODE_SECRET), basic_auth_encoding=client_mode
    )
    if server_mode == client_mode:
        assert tm.get_token().access_token
        return
    with pytest.raises(InvalidCredentials) as info:
        tm.get_token()
    msg = str(info.value)
    assert "basic_auth_encoding" in msg and f"try basic_auth_encoding='{server_mode}'" in msg
    assert UNICODE_SECRET not in msg


def test_requests_httpbasicauth_cannot_even_send_this_secret(sandbox) -> None:
    # Why we build the header ourselves: requests encodes Basic credentials as latin-1.
    with pytest.raises(UnicodeEncodeError):
        requests.post(
            sandbox.token_url,
            data={"grant_type": "client_credentials"},
            auth=requests.auth.HTTPBasicAuth(UNICODE_ID, UNICODE_SECRET),
            timeout=5,
        )


def test_unsupported_grant_is_a_configuration_error(sandbox) -> None:
    tm = manager(sandbox)
    with pytest.raises(UnsupportedGrant) as info:
        tm.request_token("password", username="u", password="p")
    assert isinstance(info.value, ConfigurationError)
    assert info.value.error == "unsupported_grant_type"


def test_fetch_reuse_and_listeners(sandbox) -> None:
    tm = manager(sandbox)
    events = []
    remove = tm.add_listener(events.append)
    tm.add_listener(lambda e: 1 / 0)  # a broken listener is logged, not raised
    t1 = tm.get_token()
    assert tm.get_token() is t1  # cached: no second request
    assert tm.stats["fetches"] == 1 and tm.stats["token_requests"] == 1
    kinds = [(e.kind, e.busy, e.how) for e in events]
    assert kinds == [("busy", True, None), ("busy", False, None), ("token", None, "fetch")]
    assert events[-1].token is t1
    remove()
    tm.fetch()
    assert len(events) == 3 and tm.stats["fetches"] == 2


def test_proactive_refresh_against_a_fake_clock(fresh_sandbox) -> None:
    clock = FakeClock()
    tm = manager(fresh_sandbox, clock=clock)
    tok = tm.get_token()
    clock.advance(43200 - 300 - 1)  # just before the leeway
    assert tm.get_token() is tok and tm.stats["token_requests"] == 1
    clock.advance(2)  # inside the leeway
    assert tm.state is TokenState.STALE
    new = tm.get_token()
    assert new is not tok and tm.stats["token_requests"] == 2 and tm.stats["refreshes"] == 1
    assert stat(fresh_sandbox, "refresh_token") == 1


def test_rotation_saves_the_new_refresh_token(fresh_sandbox) -> None:
    tm = manager(fresh_sandbox)
    first = tm.fetch()
    second = tm.refresh()
    assert second.refresh_token is not None and second.refresh_token != first.refresh_token
    assert tm.token is second  # stored before it was returned
    third = tm.refresh()  # uses the rotated one: no reuse, no fallback
    assert tm.stats["refreshes"] == 2 and tm.stats["fallbacks"] == 0
    assert third.refresh_token != second.refresh_token
    assert stat(fresh_sandbox, "refresh_token_reuse") == 0


def test_no_rotation_keeps_the_old_refresh_token(fresh_sandbox) -> None:
    fresh_sandbox.configure(rotate_refresh_tokens=False)
    tm = manager(fresh_sandbox)
    first = tm.fetch()
    second = tm.refresh()
    assert second.refresh_token == first.refresh_token
    tm.refresh()
    assert tm.stats["refreshes"] == 2 and tm.stats["fallbacks"] == 0


def test_reused_refresh_token_falls_back_to_client_credentials(fresh_sandbox) -> None:
    import dataclasses

    fresh_sandbox.configure(reuse_revokes_family=True)
    tm = manager(fresh_sandbox)
    first = tm.fetch()
    tm.refresh()
    # Simulate a stale copy of the chain (e.g. restored from elsewhere): the old refresh
    # token is presented again; the server reports reuse and revokes the family.
    tm._token = dataclasses.replace(tm.token, refresh_token=first.refresh_token)
    events = []
    tm.add_listener(events.append)
    tok = tm.refresh()
    assert tok.access_token and tm.stats["fallbacks"] == 1
    assert [e.how for e in events if e.kind == "token"] == ["fallback"]
    assert stat(fresh_sandbox, "refresh_token_reuse") == 1


def test_revoked_refresh_token_falls_back(fresh_sandbox) -> None:
    tm = manager(fresh_sandbox)
    tm.fetch()
    fresh_sandbox.revoke_all_tokens()
    tm.refresh()
    assert tm.stats["fallbacks"] == 1
    assert stat(fresh_sandbox, "client_credentials") == 2


def test_lost_refresh_response_is_not_replayed(fresh_sandbox) -> None:
    tm = manager(fresh_sandbox)
    tm.fetch()
    fresh_sandbox.set_faults(drop_refresh_response=1)
    tok = tm.refresh()
    assert tok.access_token
    assert stat(fresh_sandbox, "refresh_token") == 1  # exactly one refresh attempt
    assert stat(fresh_sandbox, "client_credentials") == 2  # then a new token
    assert tm.stats["fallbacks"] == 1
    assert stat(fresh_sandbox, "refresh_token_reuse") == 0


def test_no_refresh_token_means_client_credentials_again(sandbox) -> None:
    clock = FakeClock()
    tm = manager(
        sandbox, clock=clock, client=("cerkl-nb-norefresh", "sandbox-norefresh-secret-1234")
    )
    tok = tm.get_token()
    assert not tok.has_refresh_token
    clock.advance(43200)
    tm.get_token()
    assert tm.stats == {**tm.stats, "fetches": 2, "refreshes": 0, "fallbacks": 0}


def test_32_threads_on_an_expired_token_make_one_token_request(fresh_sandbox) -> None:
    clock = FakeClock()
    tm = manager(fresh_sandbox, clock=clock)
    tm.get_token()
    clock.advance(43200 + 1)
    fresh_sandbox.set_faults(latency_ms=50, target="token")  # widen the race window
    fresh_sandbox.reset_stats()
    barrier = threading.Barrier(32)
    results, errors = [], []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(tm.get_token())
        except Exception as exc:  # pragma: no cover - would fail the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(results) == 32 and len({id(r) for r in results}) == 1
    assert stat(fresh_sandbox, "token_requests") == 1
    assert stat(fresh_sandbox, "refresh_token") == 1  # one refresh-token use
    assert stat(fresh_sandbox, "refresh_token_reuse") == 0


def test_explicit_refresh_while_busy_joins_the_flight(fresh_sandbox) -> None:
    fresh_sandbox.set_faults(latency_ms=100, target="token")
    tm = manager(fresh_sandbox)
    out = []
    ts = [threading.Thread(target=lambda: out.append(tm.fetch())) for _ in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert stat(fresh_sandbox, "token_requests") == 1 and len({id(t) for t in out}) == 1


def test_token_endpoint_503_is_retried_with_backoff(fresh_sandbox) -> None:
    clock = FakeClock()
    fresh_sandbox.set_faults(fail_next={"count": 2, "status": 503, "target": "token"})
    tm = manager(fresh_sandbox, clock=clock)
    assert tm.fetch().access_token
    assert tm.stats["token_requests"] == 3
    assert len(clock.sleeps) == 2 and all(0 < s <= 60 for s in clock.sleeps)


def test_token_endpoint_gives_up_after_max_retries(fresh_sandbox) -> None:
    clock = FakeClock()
    fresh_sandbox.set_faults(fail_next={"count": 10, "status": 503, "target": "token"})
    tm = manager(fresh_sandbox, clock=clock, max_retries=2)
    with pytest.raises(TokenEndpointError) as info:
        tm.fetch()
    assert info.value.status == 503 and tm.stats["token_requests"] == 3


def test_after_a_read_timeout_client_credentials_are_retried_but_a_refresh_is_not(loopback) -> None:
    calls = []

    def handler(req):
        calls.append(req.body)
        if len(calls) == 1 or b"refresh_token" in req.body:
            return Reply(200, b"{}", delay_s=0.6)  # too slow: the client times out
        return json_reply(
            {
                "access_token": f"tok-{len(calls)}-abcdef",
                "token_type": "Bearer",
                "expires_in": 600,
                "refresh_token": "rt-abcdef-123456",
            }
        )

    loopback.handler = handler
    clock = FakeClock()
    settings = Settings(base_url=loopback.url + "/v3", timeout_s=0.3)
    tm = TokenManager(Credentials("id", "secret-123"), settings, clock=clock)
    assert tm.fetch().access_token  # first attempt timed out, the retry worked
    assert len(calls) == 2
    calls.clear()
    tm.refresh()  # the refresh times out; it is not replayed, client credentials instead
    assert [b"refresh_token" in c for c in calls] == [True, False]
    assert tm.stats["fallbacks"] == 1


def test_token_redirect_to_another_host_is_not_followed(loopback) -> None:
    from .loopback import LoopbackServer

    other = LoopbackServer()
    try:
        other.handler = lambda req: json_reply({"access_token": "stolen-123456"})
        loopback.handler = lambda req: Reply(
            307, b"", {"Location": f"http://localhost:{other.port}/v3/oauth/Token"}
        )
        tm = TokenManager(Credentials("id", "secret-123"), Settings(base_url=loopback.url + "/v3"))
        with pytest.raises(TokenEndpointError, match="Not followed") as info:
            tm.fetch()
        assert info.value.status == 307
        assert other.seen == []  # neither the credentials nor the body went anywhere
        assert tm.stats["token_requests"] == 1
    finally:
        other.close()


def test_odd_but_valid_token_responses(loopback) -> None:
    loopback.handler = lambda req: json_reply(
        {"access_token": "tok-abcdefgh", "token_type": "bearer", "extra": {"x": 1}}
    )
    tm = TokenManager(
        Credentials("id", "secret-123"),
        Settings(base_url=loopback.url + "/v3", default_lifetime_s=900),
    )
    with pytest.warns(UserWarning, match="expires_in"):
        tok = tm.fetch()
    assert tok.lifetime_s == 900 and not tok.has_refresh_token


def test_an_authorized_session_for_plain_requests(sandbox) -> None:
    session = AuthorizedSession(manager(sandbox))
    r = session.request("GET", sandbox.url + "/segment", timeout=10)
    assert r.status_code == 200
    tm2 = manager(sandbox)
    tm2.get_token()
    sandbox.revoke_all_tokens()  # the server forgot it: the session refreshes once
    r = AuthorizedSession(tm2).request("GET", sandbox.url + "/segment", timeout=10)
    assert r.status_code == 200 and tm2.stats["fallbacks"] + tm2.stats["fetches"] == 2


def test_wall_clock_jumps_cause_no_refresh_storm(sandbox) -> None:
    clock = FakeClock()
    tm = manager(sandbox, clock=clock)
    tok = tm.get_token()
    clock.jump_wall(-86400)  # NTP steps the clock back a day: no effect at all
    assert tm.get_token() is tok and tok.remaining_s(clock) > 0
    clock.jump_wall(+3 * 86400)  # ... and forward three: one early refresh, then calm
    new = tm.get_token()
    assert new is not tok and tm.stats["token_requests"] == 2
    for _ in range(5):
        assert tm.get_token() is new
    assert tm.stats["token_requests"] == 2


def test_suspend_past_expiry_is_noticed(sandbox) -> None:
    # A laptop sleeps through the expiry: the monotonic clock of many systems stops during
    # a suspend, the wall clock does not. The manager must not report FRESH for a dead token.
    clock = FakeClock()
    tm = manager(sandbox, clock=clock)
    tok = tm.get_token()
    clock.jump_wall(tok.lifetime_s + 60)
    assert tm.state is TokenState.EXPIRED and tok.remaining_s(clock) == 0
    assert tm.get_token() is not tok and tm.stats["token_requests"] == 2
    assert tm.state is TokenState.FRESH


def test_api_calls_from_32_threads_share_one_refresh(fresh_sandbox, make_client) -> None:
    clock = FakeClock()
    client = make_client(fresh_sandbox, clock=clock)
    client.list("segment", page_size=1)
    clock.advance(43200)
    fresh_sandbox.advance_clock(43200)  # the server agrees the token is dead
    fresh_sandbox.set_faults(latency_ms=20, target="token")
    fresh_sandbox.reset_stats()
    barrier = threading.Barrier(32)
    ok, errors = [], []

    def call() -> None:
        barrier.wait()
        try:
            ok.append(client.list("segment", page_size=1))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(ok) == 32
    s = fresh_sandbox.stats()
    assert s["token_requests"] == 1 and s["refresh_token"] == 1
    assert s["refresh_token_reuse"] == 0 and s["statuses"].get("401", 0) == 0


def test_the_session_never_refreshes_for_or_sends_to_another_origin(loopback) -> None:
    # Our API redirects to another host, which answers
    # 401. requests strips Authorization on the redirect, but the 401 hook used to refresh
    # and re-send to that host with "Bearer <new token>".
    other = LoopbackServer()
    try:
        other.handler = lambda req: Reply(401, b"", {"WWW-Authenticate": "Bearer"})

        def handler(req):
            if "oauth" in req.path:
                return json_reply(
                    {"access_token": f"tok-{len(loopback.seen)}-abcdef1234", "expires_in": 3600}
                )
            return Reply(302, b"", {"Location": f"http://localhost:{other.port}/steal"})

        loopback.handler = handler
        tm = TokenManager(Credentials("id", "secret-123"), Settings(base_url=loopback.url + "/v3"))
        first = tm.get_token()
        session = AuthorizedSession(tm)
        r = session.request("GET", loopback.url + "/v3/segment", timeout=10)
        assert r.status_code == 401 and [h.status_code for h in r.history] == [302]
        assert other.seen and all("Authorization" not in s.headers for s in other.seen)
        assert len(other.seen) == 1  # no re-send
        assert tm.token is first and tm.stats["token_requests"] == 1  # no refresh
        # The token is never attached to a request for a foreign origin in the first place.
        with pytest.raises(ConfigurationError, match="Refusing to send your token"):
            session.request("GET", f"http://localhost:{other.port}/x", timeout=10)
        with pytest.raises(ConfigurationError, match="Refusing"):
            session.request("GET", f"http://127.0.0.1:{other.port}/x", timeout=10)
        assert len(other.seen) == 1
    finally:
        other.close()


def test_the_session_still_retries_a_401_from_our_own_api_once(loopback) -> None:
    calls = {"api": 0}

    def handler(req):
        if "oauth" in req.path:
            return json_reply(
                {"access_token": f"tok-{len(loopback.seen)}-abcdef1234", "expires_in": 3600}
            )
        calls["api"] += 1
        return Reply(401, b"") if calls["api"] == 1 else json_reply({"data": []})

    loopback.handler = handler
    # Default ports are part of the origin: http://host:80 == http://host.
    tm = TokenManager(Credentials("id", "secret-123"), Settings(base_url=loopback.url + "/v3"))
    r = AuthorizedSession(tm).request("GET", loopback.url + "/v3/segment", timeout=10)
    assert r.status_code == 200 and tm.stats["token_requests"] == 2
    api = [s for s in loopback.seen if "oauth" not in s.path]
    assert [s.headers["Authorization"] for s in api] == [
        "Bearer tok-1-abcdef1234",
        "Bearer tok-3-abcdef1234",
    ]


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://api.cerkl.com:443/v3/segment", True),
        ("https://API.cerkl.com/v3/segment?page=2", True),
        ("https://api.cerkl.com./v3/segment", True),
        ("https://api.cerkl.com:8443/v3/segment", False),
        ("http://api.cerkl.com/v3/segment", False),
        ("https://api.cerkl.com.evil.example/v3", False),
    ],
)
def test_default_ports_are_part_of_the_one_origin_rule(url, same) -> None:
    from cerkl_nb.session import require_origin
    from cerkl_nb.spec import origin_of

    assert (origin_of(url) == origin_of("https://api.cerkl.com/v3")) is same
    if same:
        require_origin(url, Settings())
    else:
        with pytest.raises(ConfigurationError, match="Refusing to send your token"):
            require_origin(url, Settings())


def test_client_and_session_accept_and_refuse_the_same_urls(loopback) -> None:
    from cerkl_nb import CerklClient

    loopback.handler = lambda req: (
        json_reply({"access_token": "tok-origin-abcdef1234", "expires_in": 3600})
        if "oauth" in req.path
        else json_reply({"data": []})
    )
    tm = TokenManager(Credentials("id", "secret-123"), Settings(base_url=loopback.url + "/v3"))
    client = CerklClient(tm)
    session = AuthorizedSession(tm)
    port = loopback.port
    for url, ok in [
        (f"http://127.0.0.1:{port}/v3/segment", True),
        (f"HTTP://127.0.0.1:{port}/v3/segment", True),
        (f"http://localhost:{port}/v3/segment", False),
        (f"http://127.0.0.1:{port + 1}/v3/segment", False),
    ]:
        if ok:
            assert client.request("GET", url).status == 200
            assert session.request("GET", url, timeout=10).status_code == 200
        else:
            with pytest.raises(ConfigurationError, match="Refusing to send your token"):
                client.request("GET", url)
            with pytest.raises(ConfigurationError, match="Refusing to send your token"):
                session.request("GET", url, timeout=10)
    client.close()
