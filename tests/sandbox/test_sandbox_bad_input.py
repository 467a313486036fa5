"""Bad input never yields a 500 or a hang: each gets the right 4xx with a JSON body."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests
from sandbox_helpers import assert_api_error, get_token, raw_request

from cerkl_nb.sandbox import SandboxConfig, start


def jpost(api, path, data, ctype="application/json"):
    return api.session.post(
        api.sb.url + path, data=data, headers=api.h({"Content-Type": ctype}), timeout=10
    )


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"{not json", "malformed JSON"),
        (b'{"template": ', "malformed JSON"),
        (b"", "empty"),
        (b"[]", "template"),
        (b'"template"', "template"),
        (b'{"template": []}', "template must be an object"),
        (b'{"template": {"version": "3.0"}}', "template.data is missing"),
        (b'{"template": {"data": {"description": "x"}}}', "must be a list"),
        (b'{"template": {"data": []}}', "empty"),
        (b'{"template": {"data": ["x"]}}', "must be a JSON object"),
        (b'{"template": {"data": [{"description": NaN}]}}', "malformed JSON"),
        (b'{"template": {"data": [{"description": "\xff"}]}}', "UTF-8"),
        (b"[" * 100000, "nested"),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, bytes) else None,
)
def test_malformed_bodies(api, data, fragment):
    r = jpost(api, "/category", data)
    status = 413 if len(data) > 65536 else 400
    body = assert_api_error(r, status)
    if status == 400:
        assert fragment in body["error"]["message"], body


def test_deeply_nested_json_within_limit(api):
    r = jpost(api, "/category", b"[" * 60000 + b"]" * 0)
    assert_api_error(r, 400)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(api, ctype):
    data = json.dumps({"template": {"data": [{"description": "x"}]}}).encode()
    assert_api_error(jpost(api, "/category", data, ctype), 415)


def test_json_content_type_with_charset_ok(api):
    data = json.dumps({"template": {"data": [{"description": "x"}]}}).encode()
    assert jpost(api, "/category", data, "application/json; charset=utf-8").status_code == 201


def test_oversized_body_is_413(api):
    data = json.dumps({"template": {"data": [{"description": "x" * 70000}]}}).encode()
    body = assert_api_error(jpost(api, "/category", data), 413)
    assert "larger" in body["error"]["message"]


def test_too_long_field_is_400(api):
    data = json.dumps({"template": {"data": [{"description": "x" * 30000}]}}).encode()
    assert_api_error(jpost(api, "/category", data), 400)


@pytest.mark.parametrize(
    "path", ["/nope", "/subscriber/1/nope", "/oauth", "/SUBSCRIBER", "/subscriber/1/2/3"]
)
def test_unknown_api_path_is_404(api, path):
    assert_api_error(api.get(path), 404)


def test_unknown_path_outside_api(sandbox):
    for p in ("/nope", "/v2/subscriber", "/favicon.ico"):
        assert_api_error(requests.get(sandbox.root_url + p), 404)
    key = {"X-Sandbox-Key": sandbox.key}
    assert_api_error(requests.get(sandbox.root_url + "/_sandbox/nope", headers=key), 404)


def test_unknown_path_without_token_is_404_not_401(sandbox):
    assert_api_error(requests.get(sandbox.url + "/nope"), 404)


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("PATCH", "/subscriber/100001", "DELETE, GET, HEAD, PUT"),
        ("DELETE", "/subscriber", "GET, HEAD, POST"),
        ("POST", "/content", "GET, HEAD"),
        ("PUT", "/blast_status", "GET, HEAD"),
        ("GET", "/story/20001", "DELETE, PUT"),
        ("BREW", "/segment", "GET, HEAD, POST"),
    ],
)
def test_wrong_method_is_405_with_allow(api, method, path, allow):
    r = api.session.request(method, api.sb.url + path, headers=api.h())
    assert_api_error(r, 405)
    assert r.headers["Allow"] == allow


def test_options_lists_methods(api):
    r = api.session.options(api.sb.url + "/segment", headers=api.h())
    assert r.status_code == 204 and "POST" in r.headers["Allow"]


def test_head_works_like_get_without_body(api):
    r = api.session.head(api.sb.url + "/segment/5001", headers=api.h())
    assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("rid", ["abc", "-1", "1.5", "1e3", "%20", "0x10", "9" * 40, "１２"])
def test_non_integer_id_is_400(api, rid):
    body = assert_api_error(api.get(f"/subscriber/{rid}"), 400)
    assert "positive integer" in body["error"]["message"]


def test_zero_and_unknown_ids_are_404(api):
    assert_api_error(api.get("/subscriber/0"), 404)
    assert_api_error(api.get("/subscriber/999999999"), 404)
    assert_api_error(api.put("/segment/1", {"description": "x"}), 404)
    assert_api_error(api.delete("/category/1"), 404)


def test_negative_page(api):
    assert_api_error(api.get("/segment?page=-1"), 400)


# ---------------------------------------------------------------------------- raw HTTP


def raw(sb, text: bytes):
    return raw_request(sb, text)


def test_garbage_request_line(sandbox):
    status, headers, body = raw(sandbox, b"HELLO\r\n\r\n")
    assert status == 400 and json.loads(body)["error"]["code"] == 400


def test_bad_http_version(sandbox):
    status, _, body = raw(sandbox, b"GET / HTTP/9.9\r\n\r\n")
    assert status == 505 and json.loads(body)["error"]["code"] == 505


def test_invalid_content_length(sandbox):
    status, _, body = raw(
        sandbox,
        b"POST /v3/segment HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    )
    assert status == 400 and json.loads(body)["error"]["code"] == 400


def test_conflicting_content_lengths(sandbox):
    status, _, _ = raw(
        sandbox,
        b"POST /v3/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    )
    assert status == 400


def test_chunked_body_is_411(sandbox):
    status, _, body = raw(
        sandbox,
        b"POST /v3/segment HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    assert status == 411 and json.loads(body)["error"]["code"] == 411


def test_huge_declared_body_is_413_without_reading(sandbox):
    status, headers, _ = raw(
        sandbox,
        b"POST /v3/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
    )
    assert status == 413 and headers["connection"] == "close"


def test_too_many_headers(sandbox):
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    status, _, body = raw(sandbox, b"GET /v3 HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
    assert status == 431 and json.loads(body)["error"]["code"] == 431


def test_request_line_too_long(sandbox):
    status, _, _ = raw(sandbox, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
    assert status == 414


def test_bad_percent_encoding_and_odd_query(api):
    assert_api_error(api.get("/subscriber?page=%ZZ"), 400)
    r = api.get("/subscriber?&&=&page_size=1&%FF=%FE")
    assert r.status_code == 200


def test_stalled_body_does_not_hang_the_server():
    """A client that promises a body and never sends it is cut off after the timeout."""
    sb = start(config=SandboxConfig(socket_timeout_s=0.5))
    try:
        t = get_token(sb)["access_token"]
        s = socket.create_connection(("127.0.0.1", sb.port), timeout=5)
        s.sendall(b"POST /v3/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        t0 = time.monotonic()
        assert s.recv(100) == b""  # closed by the server, no answer
        assert time.monotonic() - t0 < 3
        s.close()
        # and the server still serves others meanwhile
        r = requests.get(sb.url + "/segment/5001", headers={"Authorization": f"Bearer {t}"})
        assert r.status_code == 200
    finally:
        sb.stop()


def test_keep_alive_survives_errors(api):
    """Errors do not close a keep-alive connection (except where the body was unread)."""
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", api.sb.port, timeout=5)
    for path in ("/v3/nope", "/v3/subscriber/abc", "/v3/segment/5001"):
        c.request("GET", path, headers={"Authorization": f"Bearer {api.token}"})
        r = c.getresponse()
        r.read()
        assert r.status in (404, 400, 200)
    assert r.status == 200
    c.close()


def test_no_internal_errors_after_all_this(sandbox):
    assert sandbox.stats()["internal_errors"] == 0
