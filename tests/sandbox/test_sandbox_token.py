"""The token endpoint: client authentication, grants, bad requests, and Cerkl's documented
curl command."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from urllib.parse import quote_plus

import pytest
import requests
from sandbox_helpers import FORM, assert_oauth_error, basic, raw_request

from cerkl_nb.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

HEX40 = re.compile(r"^[0-9a-f]{40}$")
UNICODE_ID = "cerkl-nb-unicode"
UNICODE_SECRET = "sandbox+secret/with=odd:chars %£€"


def post(sb, data, headers=None, url=None, **kw):
    return requests.post(url or sb.token_url, data=data, headers=headers or {}, timeout=10, **kw)


def cc(sb, headers=None, **extra):
    h = {"Authorization": basic(sb.client_id, sb.client_secret), **FORM, **(headers or {})}
    return post(sb, {"grant_type": "client_credentials", **extra}, h)


# ---------------------------------------------------------------------------- curl


def test_cerkl_documented_curl_command_verbatim(sandbox):
    """Cerkl's command works verbatim (curl required under CI=true)."""
    curl = shutil.which("curl")
    if curl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("curl is required in CI")
        pytest.skip("curl not installed")
    cmd = (
        f'curl -v {sandbox.url}/oauth/Token -H "Accept: application/json" '
        f'-H "Accept-Language: en_US" -u "{sandbox.client_id}:{sandbox.client_secret}" '
        f'-d "grant_type=client_credentials"'
    )
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert HEX40.match(body["access_token"])
    assert body["token_type"] == "Bearer" and body["expires_in"] == 43200
    assert "< HTTP/1.1 200" in out.stderr
    assert "Cache-Control: no-store" in out.stderr


# ---------------------------------------------------------------------------- success


def test_success_response_is_an_uncached_bearer_token(sandbox):
    r = cc(sandbox)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Pragma"] == "no-cache"
    assert r.headers["X-Request-Id"]
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert HEX40.match(body["access_token"]) and HEX40.match(body["refresh_token"])
    assert body["access_token"] != body["refresh_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 43200
    assert body["scope"] is None


def test_tokens_are_unique(sandbox):
    toks = {cc(sandbox).json()["access_token"] for _ in range(20)}
    assert len(toks) == 20


def test_form_field_client_authentication(sandbox):
    r = post(
        sandbox,
        {
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        FORM,
    )
    assert r.status_code == 200, r.text


def test_demo_client_lifetimes(sandbox):
    r = post(
        sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": basic("cerkl-nb-short", "sandbox-short-secret-1234")},
    )
    assert r.json()["expires_in"] == 60
    r = post(
        sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": basic("cerkl-nb-norefresh", "sandbox-norefresh-secret-1234")},
    )
    assert r.status_code == 200 and "refresh_token" not in r.json()


# ---------------------------------------------------------------------------- bad clients


def test_no_client_authentication_is_invalid_client(sandbox):
    r = post(sandbox, {"grant_type": "client_credentials"}, FORM)
    assert_oauth_error(r, 401, "invalid_client")


def test_wrong_secret_is_invalid_client(sandbox):
    r = post(
        sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": basic(DEMO_CLIENT_ID, "nope")},
    )
    body = assert_oauth_error(r, 401, "invalid_client")
    assert "nope" not in json.dumps(body)


def test_wrong_secret_in_form_fields_is_invalid_client(sandbox):
    r = post(
        sandbox,
        {"grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": "x"},
    )
    assert_oauth_error(r, 401, "invalid_client")


def test_unknown_client_is_invalid_client(sandbox):
    r = post(
        sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": basic("who-is-this", DEMO_CLIENT_SECRET)},
    )
    assert_oauth_error(r, 401, "invalid_client")


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic",
        "Basic ",
        "Bearer e37b98a75db58f83edaaccdb75d15c3a38ae5e38",
        "Digest foo",
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b":").decode(),
    ],
)
def test_malformed_basic_header_is_invalid_client(sandbox, header):
    r = post(sandbox, {"grant_type": "client_credentials"}, {"Authorization": header})
    assert_oauth_error(r, 401, "invalid_client")


# ---------------------------------------------------------------------------- Basic encodings


def _rfc6749_basic(cid: str, secret: str) -> str:
    raw = f"{quote_plus(cid)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_rfc6749_mode_needs_form_encoded_basic_credentials(fresh_sandbox):
    fresh_sandbox.configure(basic_auth_encoding="rfc6749")
    ok = post(
        fresh_sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": _rfc6749_basic(UNICODE_ID, UNICODE_SECRET)},
    )
    assert ok.status_code == 200, ok.text
    bad = post(
        fresh_sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": basic(UNICODE_ID, UNICODE_SECRET)},
    )
    body = assert_oauth_error(bad, 401, "invalid_client")
    assert "basic_auth_encoding" in body["error_description"]  # hints at the setting


def test_raw_mode_needs_raw_utf8_basic_credentials(fresh_sandbox):
    fresh_sandbox.configure(basic_auth_encoding="raw")
    ok = post(
        fresh_sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": basic(UNICODE_ID, UNICODE_SECRET)},
    )
    assert ok.status_code == 200, ok.text
    bad = post(
        fresh_sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": _rfc6749_basic(UNICODE_ID, UNICODE_SECRET)},
    )
    body = assert_oauth_error(bad, 401, "invalid_client")
    assert "basic_auth_encoding" in body["error_description"]


def test_either_mode_accepts_both_encodings(sandbox):
    for header in (basic(UNICODE_ID, UNICODE_SECRET), _rfc6749_basic(UNICODE_ID, UNICODE_SECRET)):
        r = post(sandbox, {"grant_type": "client_credentials"}, {"Authorization": header})
        assert r.status_code == 200, r.text


def test_registered_client_with_its_own_secret(fresh_sandbox):
    fresh_sandbox.register_client("my-test-client", "my-own-secret-€", token_lifetime_s=5)
    r = post(
        fresh_sandbox,
        {"grant_type": "client_credentials"},
        {"Authorization": basic("my-test-client", "my-own-secret-€")},
    )
    assert r.status_code == 200 and r.json()["expires_in"] == 5


# ---------------------------------------------------------------------------- bad requests


def test_credentials_in_basic_and_body_is_invalid_request(sandbox):
    r = post(
        sandbox,
        {
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)},
    )
    assert_oauth_error(r, 400, "invalid_request")


def test_credentials_in_the_query_string_are_refused(sandbox):
    url = f"{sandbox.token_url}?client_id={DEMO_CLIENT_ID}&client_secret={DEMO_CLIENT_SECRET}"
    r = post(sandbox, {"grant_type": "client_credentials"}, url=url)
    assert_oauth_error(r, 400, "invalid_request")


def test_get_on_the_token_endpoint_is_405(sandbox):
    r = requests.get(
        sandbox.token_url, headers={"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)}
    )
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert r.json()["error"] == "invalid_request"
    assert "access_token" not in r.text


def test_missing_grant_type_is_invalid_request(sandbox):
    r = post(sandbox, {"foo": "bar"}, {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)})
    assert_oauth_error(r, 400, "invalid_request")
    r = post(
        sandbox, {"grant_type": ""}, {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)}
    )
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("grant", ["password", "authorization_code", "foo", "CLIENT_CREDENTIALS"])
def test_other_grant_types_are_unsupported(sandbox, grant):
    r = post(
        sandbox, {"grant_type": grant}, {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)}
    )
    assert_oauth_error(r, 400, "unsupported_grant_type")


def test_repeated_grant_type_is_invalid_request(sandbox):
    r = post(
        sandbox,
        "grant_type=client_credentials&grant_type=client_credentials",
        {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), **FORM},
    )
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", None])
def test_a_body_that_is_not_form_data_is_invalid_request(sandbox, ctype):
    h = {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)}
    if ctype:
        h["Content-Type"] = ctype
    r = requests.post(sandbox.token_url, data=b'{"grant_type":"client_credentials"}', headers=h)
    assert_oauth_error(r, 400, "invalid_request")


def test_a_body_that_is_not_utf8_is_invalid_request(sandbox):
    r = post(
        sandbox,
        b"grant_type=client_credentials&x=\xff\xfe",
        {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), **FORM},
    )
    assert_oauth_error(r, 400, "invalid_request")
    r = post(
        sandbox,
        "grant_type=client_credentials&x=%FF%FE",
        {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), **FORM},
    )
    assert_oauth_error(r, 400, "invalid_request")


def test_a_body_too_large_is_413(sandbox):
    big = "grant_type=client_credentials&pad=" + "a" * 70000
    r = post(sandbox, big, {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), **FORM})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == 413


def test_unknown_parameters_and_an_empty_scope_are_ignored(sandbox):
    r = cc(sandbox, foo="bar", scope="", audience="x")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("scope", ["read", "admin write", "*"])
def test_a_scope_is_invalid_scope(sandbox, scope):
    r = cc(sandbox, scope=scope)
    assert_oauth_error(r, 400, "invalid_scope")


# ---------------------------------------------------------------------------- path casing


def test_lower_case_token_path_is_an_alias_that_can_be_switched_off(fresh_sandbox):
    lower = fresh_sandbox.url + "/oauth/token"
    h = {"Authorization": basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)}
    assert (
        post(fresh_sandbox, {"grant_type": "client_credentials"}, h, url=lower).status_code == 200
    )
    fresh_sandbox.configure(lowercase_token_alias=False)
    r = post(fresh_sandbox, {"grant_type": "client_credentials"}, h, url=lower)
    assert r.status_code == 404
    r = post(
        fresh_sandbox,
        {"grant_type": "client_credentials"},
        h,
        url=fresh_sandbox.url + "/OAUTH/TOKEN",
    )
    assert r.status_code == 404
    assert post(fresh_sandbox, {"grant_type": "client_credentials"}, h).status_code == 200


def test_token_endpoint_raw_curl_bytes(sandbox):
    """The exact bytes curl sends (checked against a raw socket, not requests)."""
    auth = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
    body = b"grant_type=client_credentials"
    req = (
        f"POST /v3/oauth/Token HTTP/1.1\r\nHost: 127.0.0.1:{sandbox.port}\r\n"
        f"Authorization: Basic {auth}\r\nUser-Agent: curl/7.88.1\r\nAccept: application/json\r\n"
        f"Accept-Language: en_US\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    ).encode() + body
    status, headers, data = raw_request(sandbox, req)
    assert status == 200 and headers["cache-control"] == "no-store"
    assert HEX40.match(json.loads(data)["access_token"])


def test_stats_count_token_requests(fresh_sandbox):
    fresh_sandbox.reset_stats()
    cc(fresh_sandbox)
    post(fresh_sandbox, {"grant_type": "client_credentials"}, FORM)  # invalid_client
    st = fresh_sandbox.stats()
    assert st["token_requests"] == 2
    assert st["client_credentials"] == 2
    assert st["grants_issued"] == {"client_credentials": 1}
    assert st["token_errors"] == {"invalid_client": 1}
    assert st["statuses"] == {"200": 1, "401": 1}
