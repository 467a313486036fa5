"""Property-based fuzzing of what the OpenAPI description cannot describe.

Two layers are fuzzed here with Hypothesis:

* the token endpoint's client authentication: random form bodies (or raw bytes) and
  random ``Authorization`` headers, including Basic values that are not base64, not
  UTF-8 or have no colon;
* raw bytes on the socket: request lines and headers that ``http.server`` must parse.

Every described operation is fuzzed by ``test_sandbox_schemathesis.py`` instead, from the
sandbox's own OpenAPI description (positive and negative cases, every response checked
against the description). The two find different kinds of bug: Schemathesis finds 5xx
and answers that drift from the description; only hand-written strategies reach header
decoding and HTTP framing, which no schema describes. The run is bounded
(``CERKL_FUZZ_EXAMPLES``, default 150 per test); the server's ``internal_errors`` counter
must stay at zero.
"""

from __future__ import annotations

import base64
import json
import os
import socket

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerkl_nb.sandbox import SandboxConfig, start

N = int(os.environ.get("CERKL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=N,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


class _Target(dict):
    def __repr__(self) -> str:  # keep Hypothesis' falsifying-example output short
        return "<fuzz target>"


@pytest.fixture(scope="module")
def target():
    """A sandbox of the fuzz tests' own and a session on it."""
    sb = start(config=SandboxConfig(subscribers=50))
    session = requests.Session()
    yield _Target({"sb": sb, "s": session})
    session.close()
    stats = sb.stats()
    sb.stop()
    assert stats["internal_errors"] == 0, stats


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(
            ["grant_type", "refresh_token", "client_id", "client_secret", "scope", "x"]
        ),
        st.one_of(
            st.sampled_from(["client_credentials", "refresh_token", "password", ""]),
            st.text(max_size=20),
        ),
        max_size=4,
    ),
    auth=st.one_of(
        st.none(),
        st.just("demo"),
        st.text(max_size=30),
        st.binary(max_size=30).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    ),
    ctype=st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "text/plain", None]
    ),
    raw=st.one_of(st.none(), st.binary(max_size=80)),
)
def test_fuzz_token_endpoint(target, form, auth, ctype, raw):
    t = target
    sb = t["sb"]
    headers = {}
    if auth == "demo":
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{sb.client_id}:{sb.client_secret}".encode()).decode()
        )
    elif auth is not None:
        # requests refuses to send control characters or edge whitespace in headers;
        # keep what it can send (the raw-socket test covers the rest).
        clean = "".join(ch for ch in auth if 32 <= ord(ch) < 127).strip()
        if clean:
            headers["Authorization"] = clean
    if ctype:
        headers["Content-Type"] = ctype
    r = t["s"].post(
        sb.token_url, data=raw if raw is not None else form, headers=headers, timeout=10
    )
    assert r.status_code in (200, 400, 401, 413), (r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    if r.status_code == 200:
        assert body["token_type"] == "Bearer" and body["access_token"]
    elif r.status_code != 413:  # 413 is refused before the body is read: an API error
        assert set(body) == {"error", "error_description"}, body
        assert r.headers["Cache-Control"] == "no-store"


@FUZZ
@given(
    line=st.one_of(
        st.binary(max_size=60),
        st.tuples(
            st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"FOO", b"", b"get"]),
            st.one_of(
                st.binary(max_size=40),
                st.sampled_from([b"/v3/subscriber", b"/", b"*", b"/_sandbox/stats"]),
            ),
            st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/x", b""]),
        ).map(lambda p: b" ".join(p)),
    ),
    headers=st.lists(st.binary(max_size=40), max_size=4),
)
def test_fuzz_raw_socket(target, line, headers):
    sb = target["sb"]
    payload = line.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    for h in headers:
        payload += h.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    payload += b"\r\n"
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)  # no more input: the server must answer or close, not hang
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            chunks.append(c)
    data = b"".join(chunks)
    if not data:
        return  # closed without answering (e.g. an empty request line)
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), data[:100]
    status = int(status_line.split()[1])
    assert status < 500 or status == 505, data[:300]
    head, _, body = data.partition(b"\r\n\r\n")
    if body and b"application/json" in head:
        json.loads(body.split(b"HTTP/1.1 ")[0])
