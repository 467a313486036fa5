"""Faults switchable at run time: failures, rate limits, errors, latency, Retry-After."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import pytest
import requests
from sandbox_helpers import FORM, assert_api_error, basic, get_token

from cerkl_nb.sandbox import SandboxError


def test_fail_next_fails_that_many_requests_then_succeeds(fresh_api):
    sb = fresh_api.sb
    sb.set_faults(fail_next={"count": 2, "status": 503})
    statuses = [fresh_api.get("/segment/5001").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert sb.stats()["faults_injected"] == 2


def test_fault_error_bodies_are_json(fresh_api):
    fresh_api.sb.set_faults(fail_next={"count": 1, "status": 502})
    body = assert_api_error(fresh_api.get("/segment/5001"), 502)
    assert "injected" in body["error"]["message"]


def test_faults_skip_token_endpoint_by_default(fresh_api):
    sb = fresh_api.sb
    sb.set_faults(error_rate=1.0, error_status=500)
    assert get_token(sb)["access_token"]
    assert_api_error(fresh_api.get("/segment/5001"), 500)
    # ... and never touch the admin API or the OpenAPI description
    assert sb.stats()["faults_injected"] == 1
    assert requests.get(sb.openapi_url).status_code == 200


def test_token_endpoint_faults_use_the_oauth_error_shape(fresh_sandbox):
    fresh_sandbox.set_faults(fail_next={"count": 1, "status": 503, "target": "token"})
    h = {"Authorization": basic(fresh_sandbox.client_id, fresh_sandbox.client_secret), **FORM}
    r = requests.post(fresh_sandbox.token_url, data={"grant_type": "client_credentials"}, headers=h)
    assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"
    r = requests.post(fresh_sandbox.token_url, data={"grant_type": "client_credentials"}, headers=h)
    assert r.status_code == 200
    assert fresh_sandbox.stats()["token_requests"] == 2


def test_error_rate_is_deterministic(fresh_api):
    sb = fresh_api.sb

    def run():
        sb.set_faults(error_rate=0.5, error_status=503, error_seed=7)
        out = [fresh_api.get("/segment/5001").status_code for _ in range(30)]
        sb.clear_faults()
        return out

    a, b = run(), run()
    assert a == b and 503 in a and 200 in a


def test_rate_limit_answers_429_with_retry_after(fresh_api):
    sb = fresh_api.sb
    sb.set_faults(rate_limit_per_s=3)
    statuses, r = [], None
    for _ in range(10):
        r = fresh_api.get("/segment/5001")
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert 429 in statuses
    assert_api_error(r, 429)
    # The window is one second of the server clock, so the rest of it rounds up to 1 s.
    assert r.headers["Retry-After"] == "1"
    sb.advance_clock(2)  # the window is measured on the server clock
    assert fresh_api.get("/segment/5001").status_code == 200


@pytest.mark.parametrize("value", ["2", "Wed, 21 Oct 2015 07:28:00 GMT", "999999", "soon"])
def test_retry_after_can_be_set_to_any_value(fresh_api, value):
    fresh_api.sb.set_faults(rate_limit_per_s=1, retry_after=value)
    fresh_api.get("/segment/5001")
    r = fresh_api.get("/segment/5001")
    assert r.status_code == 429 and r.headers["Retry-After"] == value
    if "GMT" in value:
        parsedate_to_datetime(r.headers["Retry-After"])


def test_latency(fresh_api):
    fresh_api.sb.set_faults(latency_ms=150)
    t0 = time.perf_counter()
    assert fresh_api.get("/segment/5001").status_code == 200
    assert time.perf_counter() - t0 >= 0.15
    fresh_api.sb.clear_faults()
    t0 = time.perf_counter()
    fresh_api.get("/segment/5001")
    assert time.perf_counter() - t0 < 0.15


def test_invalid_fault_settings_are_refused(fresh_sandbox):
    for bad in (
        {"error_rate": 2},
        {"error_status": 200},
        {"latency_ms": -1},
        {"nope": 1},
        {"fail_next": {"count": 1, "status": 503, "extra": 1}},
        {"target": "everything"},
    ):
        with pytest.raises(SandboxError):
            fresh_sandbox.set_faults(**bad)
    assert fresh_sandbox._admin("GET", "faults")["error_rate"] == 0


def test_clock_and_revoke_admin(fresh_sandbox):
    before = fresh_sandbox._admin("GET", "clock")
    after = fresh_sandbox.advance_clock(3600)
    assert after["offset_s"] == 3600 and after["now"] >= before["now"] + 3600
    with pytest.raises(SandboxError):
        fresh_sandbox._admin("POST", "clock", {"advance_s": "soon"})
    assert fresh_sandbox.revoke_all_tokens() == {
        "revoked_access_tokens": 0,
        "revoked_refresh_tokens": 0,
    }
