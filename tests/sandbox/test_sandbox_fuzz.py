"""Property-based fuzzing: no input yields a 5xx, a hang, or a response that breaks the
OpenAPI description.

Three layers are fuzzed with Hypothesis:

* every operation in the OpenAPI description, with random path ids, query strings,
  content types and bodies (some valid examples with mutated fields, some junk);
* the token endpoint, with random form bodies and Authorization headers;
* raw bytes on the socket (request lines and headers http.server must parse).

Each JSON response is validated against the schema the description gives for its
status (or ``default``). The run is bounded (``CERKL_FUZZ_EXAMPLES``, default 150 per
test) so CI finishes well under a minute; the server's ``internal_errors`` counter must
stay at zero.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import socket

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_helpers import require

from cerkl_nb.sandbox import SandboxConfig, start
from cerkl_nb.sandbox.openapi import to_json_schema

jsonschema = require("jsonschema")
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
    """A sandbox of the fuzz tests' own, plus a token, a session and the description."""
    sb = start(config=SandboxConfig(subscribers=50))
    session = requests.Session()
    tok = session.post(
        sb.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sb.client_id, sb.client_secret),
    ).json()["access_token"]
    spec = session.get(sb.openapi_url).json()
    ops = [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]
    validators: dict[int, jsonschema.Validator] = {}
    yield _Target(
        {"sb": sb, "s": session, "token": tok, "spec": spec, "ops": ops, "validators": validators}
    )
    stats = sb.stats()
    sb.stop()
    assert stats["internal_errors"] == 0, stats


def _validator(t: dict, schema: dict) -> jsonschema.Validator:
    key = id(schema)
    v = t["validators"].get(key)
    if v is None:
        doc = to_json_schema({**copy.deepcopy(schema), "components": t["spec"]["components"]})
        v = t["validators"][key] = jsonschema.Draft202012Validator(doc)
    return v


def check_response(t: dict, op: dict, r: requests.Response) -> None:
    """No 5xx; every response is described; JSON bodies match their schema."""
    assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text[:300])
    assert r.headers.get("X-Request-Id")
    responses = op["responses"]
    described = responses.get(str(r.status_code)) or responses.get("default")
    assert described is not None, (r.status_code, list(responses))
    content = described.get("content")
    if not content:
        assert r.content == b"", r.content[:200]
        return
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    _validator(t, content["application/json"]["schema"]).validate(body)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

ids = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["100001", "5001", "501", "20001", "3001", "1", "2"]),
    st.text(alphabet="abc-_.~0123456789%", min_size=1, max_size=12),
    st.just("9" * 30),
)

query_values = st.one_of(
    st.integers(-5, 200).map(str),
    st.text(max_size=10),
    st.sampled_from(["", "1", "100", "101", "0"]),
)


def _filters():
    fields = st.sampled_from(
        [
            "id",
            "email",
            "description",
            "date_modified_utc",
            "subscriber_status",
            "private",
            "nope",
            "self",
        ]
    )
    ops_ = st.sampled_from(
        ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "like", "regex"]
    )
    cond = st.dictionaries(ops_, json_values, min_size=1, max_size=2)
    good = st.dictionaries(fields, cond, max_size=2).map(json.dumps)
    return st.one_of(good, st.text(max_size=30), json_values.map(json.dumps))


@st.composite
def api_requests(draw, ops):
    method, path, op = draw(st.sampled_from(ops))
    concrete = re.sub(r"\{\w+\}", lambda _: draw(ids), path)
    params = {}
    for p in op.get("parameters", []):
        if p["in"] == "query" and draw(st.booleans()):
            params[p["name"]] = (
                draw(_filters()) if p["name"] == "filters_json" else draw(query_values)
            )
    if draw(st.integers(0, 9)) == 0:
        params[draw(st.text(min_size=1, max_size=8))] = draw(st.text(max_size=8))
    headers = {}
    body = None
    if method in ("POST", "PUT", "DELETE"):
        rb = op.get("requestBody", {}).get("content", {})
        ctype = draw(
            st.sampled_from(
                ["application/json", "application/json", "text/plain", None, *rb.keys()]
            )
        )
        if ctype:
            headers["Content-Type"] = ctype
        kind = draw(st.integers(0, 3))
        if kind == 0 and "application/json" in rb:
            example = copy.deepcopy(
                rb["application/json"].get("example", {"template": {"data": [{}]}})
            )
            item = example["template"]["data"][0]
            if item and draw(st.booleans()):
                key = draw(st.sampled_from(sorted(item)))
                item[key] = draw(json_values)
            if draw(st.booleans()):
                item[draw(st.text(max_size=8))] = draw(json_values)
            body = json.dumps(example).encode()
        elif kind == 1:
            body = json.dumps(draw(json_values)).encode()
        elif kind == 2:
            body = draw(st.binary(max_size=64))
        else:
            body = json.dumps(
                {"template": {"version": draw(json_values), "data": draw(json_values)}}
            ).encode()
    auth = draw(st.integers(0, 9))
    return method, concrete, params, headers, body, auth, op


@FUZZ
@given(data=st.data())
def test_fuzz_every_operation(target, data):
    t = target
    method, path, params, headers, body, auth, op = data.draw(api_requests(t["ops"]))
    if path.startswith("/oauth"):
        return  # fuzzed separately below
    if auth == 0:
        pass  # no token
    elif auth == 1:
        headers["Authorization"] = "Bearer " + data.draw(
            st.text(alphabet="0123456789abcdef", max_size=40)
        )
    else:
        headers["Authorization"] = "Bearer " + t["token"]
    r = t["s"].request(
        method, t["sb"].url + path, params=params, headers=headers, data=body, timeout=10
    )
    if r.status_code == 401 and auth >= 2:
        raise AssertionError(f"valid token refused: {r.text}")
    check_response(t, op, r)


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
    op = t["spec"]["paths"]["/oauth/Token"]["post"]
    check_response(t, op, r)
    if r.status_code == 200:
        assert r.headers["Cache-Control"] == "no-store"
    else:
        assert r.status_code in (400, 401, 413)


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
