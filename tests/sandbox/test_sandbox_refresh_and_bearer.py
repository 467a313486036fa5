"""Refresh tokens (rotation, reuse, loss, absence) and Bearer checks on the API (missing,
malformed, expired, revoked, expired early)."""

from __future__ import annotations

import http.client
import json

import requests
from sandbox_helpers import FORM, assert_api_error, assert_oauth_error, basic, get_token

from cerkl_nb.clock import FakeClock
from cerkl_nb.sandbox import SandboxConfig, start


def refresh(sb, rt, client_id=None, secret=None):
    h = {"Authorization": basic(client_id or sb.client_id, secret or sb.client_secret), **FORM}
    return requests.post(
        sb.token_url,
        data={"grant_type": "refresh_token", "refresh_token": rt},
        headers=h,
        timeout=10,
    )


def api_get(sb, token, path="/segment/5001"):
    return requests.get(sb.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


# ---------------------------------------------------------------------------- refresh


def test_refresh_rotates_the_refresh_token(fresh_sandbox):
    first = get_token(fresh_sandbox)
    r = refresh(fresh_sandbox, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert r.headers["Cache-Control"] == "no-store"
    # The old access token stays valid until it expires (docs/sandbox.md).
    assert api_get(fresh_sandbox, first["access_token"]).status_code == 200
    assert api_get(fresh_sandbox, second["access_token"]).status_code == 200
    st = fresh_sandbox.stats()
    assert st["refresh_token"] == 1 and st["grants_issued"]["refresh_token"] == 1


def test_reused_refresh_token_is_invalid_grant(fresh_sandbox):
    first = get_token(fresh_sandbox)
    second = refresh(fresh_sandbox, first["refresh_token"]).json()
    assert_oauth_error(refresh(fresh_sandbox, first["refresh_token"]), 400, "invalid_grant")
    assert fresh_sandbox.stats()["refresh_token_reuse"] == 1
    # Without family revocation the newest refresh token still works.
    assert refresh(fresh_sandbox, second["refresh_token"]).status_code == 200


def test_reuse_can_revoke_the_whole_token_family(fresh_sandbox):
    fresh_sandbox.configure(reuse_revokes_family=True)
    first = get_token(fresh_sandbox)
    second = refresh(fresh_sandbox, first["refresh_token"]).json()
    assert_oauth_error(refresh(fresh_sandbox, first["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(refresh(fresh_sandbox, second["refresh_token"]), 400, "invalid_grant")
    # client_credentials still works: that is the client's fallback.
    assert get_token(fresh_sandbox)["access_token"]


def test_no_rotation_returns_same_refresh_token(fresh_sandbox):
    fresh_sandbox.configure(rotate_refresh_tokens=False)
    first = get_token(fresh_sandbox)
    r1 = refresh(fresh_sandbox, first["refresh_token"]).json()
    r2 = refresh(fresh_sandbox, first["refresh_token"]).json()
    assert r1["refresh_token"] == r2["refresh_token"] == first["refresh_token"]


def test_revoke_access_on_refresh(fresh_sandbox):
    fresh_sandbox.configure(revoke_access_on_refresh=True)
    first = get_token(fresh_sandbox)
    refresh(fresh_sandbox, first["refresh_token"])
    assert api_get(fresh_sandbox, first["access_token"]).status_code == 401


def test_refresh_token_of_another_client_is_invalid_grant(fresh_sandbox):
    first = get_token(fresh_sandbox)
    r = refresh(
        fresh_sandbox, first["refresh_token"], "cerkl-nb-short", "sandbox-short-secret-1234"
    )
    assert_oauth_error(r, 400, "invalid_grant")


def test_garbage_expired_and_revoked_refresh_tokens_are_invalid_grant(fresh_sandbox):
    assert_oauth_error(refresh(fresh_sandbox, "0" * 40), 400, "invalid_grant")
    assert_oauth_error(refresh(fresh_sandbox, "not a token"), 400, "invalid_grant")
    t = get_token(fresh_sandbox)
    fresh_sandbox.advance_clock(15 * 86400)  # past the 14-day refresh lifetime
    assert_oauth_error(refresh(fresh_sandbox, t["refresh_token"]), 400, "invalid_grant")
    fresh_sandbox.advance_clock(-15 * 86400)
    t = get_token(fresh_sandbox)
    fresh_sandbox.revoke_all_tokens()
    assert_oauth_error(refresh(fresh_sandbox, t["refresh_token"]), 400, "invalid_grant")


def test_refresh_token_missing(sandbox):
    h = {"Authorization": basic(sandbox.client_id, sandbox.client_secret), **FORM}
    r = requests.post(sandbox.token_url, data={"grant_type": "refresh_token"}, headers=h)
    assert_oauth_error(r, 400, "invalid_request")


def test_refresh_without_client_authentication_is_invalid_client(sandbox):
    t = get_token(sandbox)
    r = requests.post(
        sandbox.token_url,
        data={"grant_type": "refresh_token", "refresh_token": t["refresh_token"]},
        headers=FORM,
    )
    assert_oauth_error(r, 401, "invalid_client")


def test_a_lost_refresh_answer_still_retires_the_old_refresh_token(fresh_sandbox):
    t = get_token(fresh_sandbox)
    fresh_sandbox.set_faults(drop_refresh_response=1)
    conn = http.client.HTTPConnection("127.0.0.1", fresh_sandbox.port, timeout=5)
    conn.request(
        "POST",
        "/v3/oauth/Token",
        body=f"grant_type=refresh_token&refresh_token={t['refresh_token']}",
        headers={
            "Authorization": basic(fresh_sandbox.client_id, fresh_sandbox.client_secret),
            **FORM,
        },
    )
    try:
        conn.getresponse()
        raise AssertionError("expected the connection to be dropped")
    except (http.client.RemoteDisconnected, ConnectionError):
        pass
    finally:
        conn.close()
    # The rotation happened: the old refresh token is now spent.
    assert_oauth_error(refresh(fresh_sandbox, t["refresh_token"]), 400, "invalid_grant")
    assert get_token(fresh_sandbox)["access_token"]  # client_credentials fallback works


def test_clients_can_be_issued_no_refresh_token(fresh_sandbox):
    fresh_sandbox.configure(issue_refresh_tokens=False)
    assert "refresh_token" not in get_token(fresh_sandbox)
    fresh_sandbox.register_client("r7", "r7-secret-value", issue_refresh_token=True)
    assert "refresh_token" in get_token(fresh_sandbox, "r7", "r7-secret-value")


# ---------------------------------------------------------------------------- bearer


def _assert_invalid_token(r):
    body = assert_api_error(r, 401)
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    return body


def test_missing_and_bad_bearer_tokens_are_401_invalid_token(sandbox):
    _assert_invalid_token(requests.get(sandbox.url + "/subscriber"))
    _assert_invalid_token(api_get(sandbox, "e37b98a75db58f83edaaccdb75d15c3a38ae5e38"))
    r = requests.get(
        sandbox.url + "/subscriber",
        headers={"Authorization": basic(sandbox.client_id, sandbox.client_secret)},
    )
    _assert_invalid_token(r)
    r = requests.get(sandbox.url + "/subscriber", headers={"Authorization": "Bearer"})
    _assert_invalid_token(r)


def test_bearer_scheme_case_insensitive(sandbox):
    t = get_token(sandbox)["access_token"]
    r = requests.get(sandbox.url + "/segment/5001", headers={"Authorization": f"bearer {t}"})
    assert r.status_code == 200


def test_refresh_token_is_not_an_access_token(sandbox):
    t = get_token(sandbox)
    _assert_invalid_token(api_get(sandbox, t["refresh_token"]))


def test_token_in_query_string_refused(sandbox):
    t = get_token(sandbox)["access_token"]
    r = requests.get(f"{sandbox.url}/subscriber?access_token={t}")
    assert_api_error(r, 400)


def test_expiry_by_advancing_the_clock(fresh_sandbox):
    t = get_token(fresh_sandbox)["access_token"]
    fresh_sandbox.advance_clock(43199)
    assert api_get(fresh_sandbox, t).status_code == 200
    fresh_sandbox.advance_clock(1)
    body = _assert_invalid_token(api_get(fresh_sandbox, t))
    assert "expired" in body["error"]["message"]


def test_short_lived_demo_client(fresh_sandbox):
    t = get_token(fresh_sandbox, "cerkl-nb-short", "sandbox-short-secret-1234")["access_token"]
    fresh_sandbox.advance_clock(61)
    _assert_invalid_token(api_get(fresh_sandbox, t))


def test_tokens_revoked_mid_session_are_refused(fresh_sandbox):
    t = get_token(fresh_sandbox)
    assert api_get(fresh_sandbox, t["access_token"]).status_code == 200
    out = fresh_sandbox.revoke_all_tokens()
    assert out == {"revoked_access_tokens": 1, "revoked_refresh_tokens": 1}
    _assert_invalid_token(api_get(fresh_sandbox, t["access_token"]))
    t2 = get_token(fresh_sandbox)["access_token"]  # the client's recovery path
    assert api_get(fresh_sandbox, t2).status_code == 200


def test_the_server_can_expire_tokens_early(fresh_sandbox):
    t = get_token(fresh_sandbox)
    assert t["expires_in"] == 43200
    fresh_sandbox.set_faults(expire_early_s=600)
    fresh_sandbox.advance_clock(43200 - 599)
    _assert_invalid_token(api_get(fresh_sandbox, t["access_token"]))
    fresh_sandbox.clear_faults()
    assert api_get(fresh_sandbox, t["access_token"]).status_code == 200


def test_injected_fake_clock():
    clock = FakeClock(start=1_800_000_000)
    sb = start(config=SandboxConfig(clock=clock, token_lifetime_s=60))
    try:
        t = get_token(sb)["access_token"]
        clock.advance(59)
        assert api_get(sb, t).status_code == 200
        clock.advance(1)
        assert api_get(sb, t).status_code == 401
        assert sb._admin("GET", "clock")["now"] == 1_800_000_060
    finally:
        sb.stop()


def test_token_never_in_access_log_urls(fresh_sandbox):
    """The request log holds method and target only, so a client test can grep it for secrets."""
    t = get_token(fresh_sandbox)["access_token"]
    api_get(fresh_sandbox, t)
    entries = fresh_sandbox.log()
    assert [e["target"] for e in entries] == ["/v3/oauth/Token", "/v3/segment/5001"]
    assert all(t not in json.dumps(e) for e in entries)
    assert set(entries[0]) == {"method", "target", "status", "request_id"}


def test_token_memory_cap_keeps_tokens_in_use():
    sb = start(config=SandboxConfig(max_tokens_per_client=10))
    try:
        used = get_token(sb)["access_token"]
        idle = get_token(sb)["access_token"]
        for _ in range(30):
            get_token(sb)
            assert api_get(sb, used).status_code == 200
        assert api_get(sb, idle).status_code == 401  # forgotten: least recently used
        assert sb.stats()["live_access_tokens"] <= 10
    finally:
        sb.stop()
