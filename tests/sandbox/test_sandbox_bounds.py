"""The sandbox stays small and honest whatever it is asked.

Bounds on what a caller can make it hold (subscribers, bodies, clients, records,
connections, timeouts), no header built from input can carry a line break, token
lifetimes are finite whole seconds, a request cut off mid-headers is never carried out,
a long Retry-After is said in words, and a clock move made with ``clock_offset()`` is
always undone.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time

import pytest
import requests
from sandbox_helpers import FORM, assert_api_error, basic, get_token, raw_request

from cerkl_nb.sandbox import SandboxConfig, SandboxError, start
from cerkl_nb.sandbox.app import App
from cerkl_nb.sandbox.server import SandboxServer
from cerkl_nb.sandbox.settings import MAX_CLIENTS, MAX_SUBSCRIBERS, ClientSpec


def _bearer(sb) -> dict[str, str]:
    return {"Authorization": f"Bearer {get_token(sb)['access_token']}"}


# ---------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "setting, value",
    [
        ("subscribers", MAX_SUBSCRIBERS + 1),
        ("subscribers", 200_000),
        ("max_body_bytes", 10**9),
        ("socket_timeout_s", 10**6),
        ("socket_timeout_s", math.inf),
        ("token_lifetime_s", math.inf),
        ("token_lifetime_s", math.nan),
        ("token_lifetime_s", 0.5),
        ("refresh_token_lifetime_s", math.inf),
        ("max_connections", 0),
        ("max_records", 10**9),
    ],
)
def test_settings_beyond_their_bounds_are_refused(setting, value):
    with pytest.raises(ValueError, match=setting):
        SandboxConfig(**{setting: value})


def test_live_settings_beyond_their_bounds_are_refused(fresh_sandbox):
    for change in ({"subscribers": 200_000}, {"max_body_bytes": 10**9}):
        with pytest.raises(SandboxError):
            fresh_sandbox.configure(**change)
    # Infinity cannot even be sent as JSON; the admin API refuses the non-JSON constants.
    r = requests.post(
        fresh_sandbox.root_url + "/_sandbox/config",
        data='{"token_lifetime_s": Infinity}',
        headers={"Content-Type": "application/json", "X-Sandbox-Key": fresh_sandbox.key},
        timeout=10,
    )
    assert r.status_code == 400
    assert fresh_sandbox._admin("GET", "config")["subscribers"] == 300


def test_client_lifetimes_must_be_finite():
    for bad in (math.inf, math.nan, 0, -1, 10**12):
        with pytest.raises(ValueError, match="token_lifetime_s"):
            ClientSpec("c", "s", token_lifetime_s=bad)


def test_client_ids_secrets_and_names_are_bounded(fresh_sandbox):
    for kw in ({"client_id": "i" * 257}, {"client_secret": "s" * 1025}, {"name": "n" * 201}):
        args = {"client_id": "bounded", "client_secret": "bounded-secret", **kw}
        with pytest.raises(SandboxError, match="at most"):
            fresh_sandbox.register_client(**args)


def test_expires_in_is_a_whole_number_of_seconds(fresh_sandbox):
    fresh_sandbox.register_client("fractional", "fractional-secret-1", token_lifetime_s=90.7)
    body = get_token(fresh_sandbox, "fractional", "fractional-secret-1")
    assert body["expires_in"] == 90 and type(body["expires_in"]) is int
    # The token expires when expires_in says, not 0.7 s later.
    with fresh_sandbox.clock_offset(90):
        r = requests.get(
            fresh_sandbox.url + "/segment/5001",
            headers={"Authorization": f"Bearer {body['access_token']}"},
            timeout=10,
        )
        assert r.status_code == 401


def test_registered_clients_are_capped(fresh_sandbox):
    app = fresh_sandbox.app
    for i in range(MAX_CLIENTS):
        app.tokens.register(ClientSpec(f"bulk-{i}", "bulk-secret"))
    with pytest.raises(SandboxError, match=f"at most {MAX_CLIENTS}"):
        fresh_sandbox.register_client("one-too-many", "one-too-many-secret")
    fresh_sandbox.register_client("bulk-0", "replaced-secret")  # replacing one still works


def test_created_records_are_capped(fresh_sandbox):
    fresh_sandbox.configure(max_records=15)  # 12 segments are seeded
    h = _bearer(fresh_sandbox)
    url = fresh_sandbox.url + "/segment"

    def create(n: int) -> requests.Response:
        items = [{"description": f"capped {time.monotonic_ns()}-{i}"} for i in range(n)]
        body = {"template": {"version": "3.0", "data": items}}
        return requests.post(url, json=body, headers=h, timeout=10)

    assert create(3).status_code == 201
    r = create(1)
    assert_api_error(r, 409)
    assert "at most 15" in r.json()["error"]["message"]
    assert requests.get(url, headers=h, timeout=10).json()["total"] == 15


# ---------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "value", ["1\r\nSet-Cookie: session=stolen", "1\nX-Injected: 1", "1\r", "2\x00", "é"]
)
def test_retry_after_with_a_line_break_is_refused(fresh_sandbox, value):
    with pytest.raises(SandboxError, match="retry_after"):
        fresh_sandbox.set_faults(fail_next={"count": 1, "status": 429}, retry_after=value)
    r = requests.get(fresh_sandbox.url + "/segment", headers=_bearer(fresh_sandbox), timeout=10)
    assert r.status_code == 200 and "Set-Cookie" not in r.headers


def test_header_values_with_control_characters_are_never_sent():
    # The server's last line of defence, behind the checks on each input.
    from cerkl_nb.sandbox.messages import header_safe

    assert not header_safe("1\r\nSet-Cookie: x") and not header_safe("a\x00")
    assert header_safe("Wed, 21 Oct 2015 07:28:00 GMT")


# ---------------------------------------------------------------------------- protocol


def test_port_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="0 to 65535"):
        SandboxServer(App(), "127.0.0.1", 70000)
    with pytest.raises(ValueError, match="0 to 65535"):
        start(port=-1)


@pytest.mark.parametrize(
    "value",
    # HTTP header bytes are read as latin-1: b"\xb2" is "²", which str.isdigit() accepts
    # and int() refuses. The others are near misses of a decimal number.
    [b"\xb2", b"\xb9", b"\xbc", "١٢".encode(), b"1_0", b"+5", b"0x10", b"5 5"],
)
def test_content_length_that_is_not_ascii_digits_is_400(sandbox, value):
    status, _, body = raw_request(
        sandbox,
        b"POST /v3/segment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
        + value
        + b"\r\nContent-Type: application/json\r\n\r\n{}",
    )
    assert status == 400 and json.loads(body)["error"]["code"] == 400


def test_a_request_cut_off_mid_headers_is_never_carried_out(fresh_sandbox):
    sb = fresh_sandbox
    token = get_token(sb)["access_token"]
    sb.reset_stats()
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as s:
        # No blank line after the headers: the request never completed.
        s.sendall(
            f"DELETE /v3/segment/5002 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n".encode()
        )
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1000) == b""  # closed without an answer
    r = requests.get(sb.url + "/segment/5002", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200  # still there
    assert [e["method"] for e in sb.log()] == ["GET"]


def test_a_complete_request_whose_client_then_leaves_is_carried_out(fresh_sandbox):
    # The counterpart: a request whose headers did complete is a request.
    sb = fresh_sandbox
    token = get_token(sb)["access_token"]
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as s:
        s.sendall(
            f"DELETE /v3/segment/5002 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1000).startswith(b"HTTP/1.1 204")
    r = requests.get(sb.url + "/segment/5002", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404


def test_connections_beyond_the_cap_get_503_without_a_thread():
    sb = start(config=SandboxConfig(max_connections=4, socket_timeout_s=5))
    held: list[socket.socket] = []
    try:
        threads_before = threading.active_count()
        for _ in range(4):  # half-sent requests hold their threads
            s = socket.create_connection(("127.0.0.1", sb.port), timeout=5)
            s.sendall(b"GET /v3/segment HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(s)
        time.sleep(0.2)  # let the server accept them
        extra = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", sb.port), timeout=5)
            extra.append(s)
            held.append(s)
        for s in extra:  # answered at once, before they even send a request
            answer = s.recv(1000)
            assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
            assert b"Retry-After: 1" in answer
        assert threading.active_count() - threads_before <= 4
    finally:
        for s in held:
            s.close()
        time.sleep(0.2)
    try:
        # Once the half-sent requests are gone, the sandbox serves again.
        assert requests.get(sb.url, timeout=10).status_code == 200
    finally:
        sb.stop()


# ---------------------------------------------------------------------------- Retry-After


def test_token_endpoint_429_with_a_long_retry_after_says_how_long_to_wait(fresh_sandbox):
    fresh_sandbox.set_faults(
        fail_next={"count": 1, "status": 429, "target": "token"}, retry_after="999999"
    )
    r = requests.post(
        fresh_sandbox.token_url,
        data={"grant_type": "client_credentials"},
        headers={
            **FORM,
            "Authorization": basic(fresh_sandbox.client_id, fresh_sandbox.client_secret),
        },
        timeout=10,
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == "999999"
    body = r.json()
    assert body["error"] == "temporarily_unavailable"
    assert "wait 999999 s (about 12 days)" in body["error_description"]


def test_api_429_says_how_long_to_wait_for_an_http_date(fresh_sandbox):
    fresh_sandbox.set_faults(
        fail_next={"count": 1, "status": 429}, retry_after="Fri, 01 Jan 2100 00:00:00 GMT"
    )
    r = requests.get(fresh_sandbox.url + "/segment", headers=_bearer(fresh_sandbox), timeout=10)
    assert r.status_code == 429
    assert "days) before retrying" in r.json()["error"]["message"]


# ---------------------------------------------------------------------------- the clock


def test_clock_offset_moves_the_clock_and_restores_it(fresh_sandbox):
    sb = fresh_sandbox
    with sb.clock_offset(13 * 3600) as moved:
        assert moved["offset_s"] == 13 * 3600
        assert sb._admin("GET", "clock")["offset_s"] == 13 * 3600
    assert sb._admin("GET", "clock")["offset_s"] == 0


def test_clock_offset_restores_the_clock_when_the_block_fails(fresh_sandbox):
    sb = fresh_sandbox
    token = get_token(sb)["access_token"]
    with pytest.raises(KeyboardInterrupt):
        with sb.clock_offset(13 * 3600):
            raise KeyboardInterrupt  # a reader stopping the cell halfway
    assert sb._admin("GET", "clock")["offset_s"] == 0
    r = requests.get(sb.url + "/segment/5001", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200  # the 12-hour token is valid again


def test_clock_offset_keeps_moves_made_by_others_meanwhile(fresh_sandbox):
    sb = fresh_sandbox
    with sb.clock_offset(100):
        sb.advance_clock(5)
    assert sb._admin("GET", "clock")["offset_s"] == 5


def test_clock_offset_that_is_refused_changes_nothing(fresh_sandbox):
    with pytest.raises(SandboxError, match="out of range"):
        with fresh_sandbox.clock_offset(1e12):
            pytest.fail("the block must not run")
    assert fresh_sandbox._admin("GET", "clock")["offset_s"] == 0
