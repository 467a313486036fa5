"""The sandbox's own parser for ordinary requests agrees with the standard library's.

Plain ``METHOD TARGET HTTP/1.x`` requests with ``Name: value`` headers skip the e-mail
parser that ``http.server`` uses. Whenever that shortcut takes a request, what it sets
(method, path, version, keep-alive, every header's first and all values) must equal what
``BaseHTTPRequestHandler.parse_request`` sets for the same bytes; whatever it declines
goes to ``parse_request`` itself.
"""

from __future__ import annotations

import io

import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_helpers import get_token

from cerkl_nb.sandbox.server import _Handler

_NAMES = ["Host", "Accept", "Authorization", "Connection", "content-length", "X-Odd_Name!"]
_VALUES = ["", "close", "keep-alive", "Keep-Alive", " 12", "Bearer abc.def", "a\tb ", "1, 2"]


def _handler(request_line: bytes) -> _Handler:
    h = object.__new__(_Handler)  # no socket: only the parsing methods are used
    h.raw_requestline = request_line
    h.wfile = io.BytesIO()
    h.request_version = h.default_request_version
    h.close_connection = True
    return h


def _parsed(h: _Handler) -> tuple:
    names = {k.lower() for k in h.headers.keys()} | {"missing"}
    headers = {n: (h.headers.get(n), h.headers.get_all(n)) for n in sorted(names)}
    return (h.command, h.path, h.request_version, h.close_connection, h.requestline, headers)


def _both(request_line: bytes, lines: list[bytes]) -> tuple[tuple | None, tuple | None]:
    fast = _handler(request_line)
    took = fast._parse_plain_request(lines)
    slow = _handler(request_line)
    slow.rfile = io.BytesIO(b"".join(lines))
    slow.send_error = lambda *args, **kwargs: None  # a refusal shows as slow = None
    ok = super(_Handler, slow).parse_request()  # the standard library's, unchanged
    return (_parsed(fast) if took else None), (_parsed(slow) if ok else None)


def test_an_ordinary_request_takes_the_shortcut_and_matches_the_standard_parser() -> None:
    line = b"GET //v3/subscriber?page_size=100 HTTP/1.1\r\n"
    block = [
        b"Host: 127.0.0.1:8765\r\n",
        b"Authorization: Bearer abc\r\n",
        b"accept:  application/json\r\n",
        b"Accept: text/plain\r\n",
        b"Connection: keep-alive\r\n",
        b"\r\n",
    ]
    fast, slow = _both(line, block)
    assert fast is not None and fast == slow
    assert fast[1] == "/v3/subscriber?page_size=100"
    assert fast[5]["accept"] == ("application/json", ["application/json", "text/plain"])


def test_unusual_requests_are_left_to_the_standard_parser() -> None:
    declined = [
        (b"GET / HTTP/1.1\r\n", [b"X: folded\r\n", b"  continued\r\n", b"\r\n"]),
        (b"GET / HTTP/1.1\r\n", [b"X: caf\xe9\r\n", b"\r\n"]),
        (b"GET / HTTP/1.1\r\n", [b"Expect: 100-continue\r\n", b"\r\n"]),
        (b"GET  /  HTTP/1.1\r\n", [b"\r\n"]),
        (b"GET / HTTP/2.0\r\n", [b"\r\n"]),
        (b"GET /\r\n", [b"\r\n"]),
        (b"GET / HTTP/1.1\r\n", [b"Bad Name: x\r\n", b"\r\n"]),
        (b"GET / HTTP/1.1\r\n", [b"X: a\x0bb\r\n", b"\r\n"]),
        (b"GET / HTTP/1.1\r\n", [b"X: " + b"a" * 65532 + b"\r\n", b"\r\n"]),  # too long
    ]
    for line, block in declined:
        assert not _handler(line)._parse_plain_request(block), (line[:40], block[0][:40])
    fast, slow = _both(b"GET / HTTP/1.1\r\n", [b"X: " + b"a" * 65532 + b"\r\n", b"\r\n"])
    assert fast is None and slow is None  # http.client refuses a header line that long


_token = st.text("!#$%&'*+.^_`|~09AZaz-", min_size=1, max_size=8)
_header_line = st.one_of(
    st.tuples(st.sampled_from(_NAMES), st.sampled_from(_VALUES)).map(
        lambda nv: f"{nv[0]}:{nv[1]}\r\n".encode()
    ),
    st.tuples(_token, st.text(" \t!~az\x7f\xe9\x0b\x85\r", max_size=6)).map(
        lambda nv: f"{nv[0]}:{nv[1]}\r\n".encode("latin-1")
    ),
    st.sampled_from([b" folded\r\n", b"no colon\r\n", b":empty\r\n", b"X: y\n"]),
)
_request_line = st.tuples(
    st.sampled_from(["GET", "POST", "DELETE", "G\xe9T", "get"]),
    st.sampled_from(["/", "//x", "/v3/a?b=c d", "/\x7f", "*"]),
    st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/1.01", "HTTP/0.9", "HTTP/1.1 "]),
    st.sampled_from([" ", "  ", "\t"]),
    st.sampled_from(["\r\n", "\n"]),
).map(lambda p: f"{p[0]}{p[3]}{p[1]}{p[3]}{p[2]}{p[4]}".encode("latin-1"))


@settings(max_examples=400, deadline=None, derandomize=True)  # the same examples every run
@given(_request_line, st.lists(_header_line, max_size=6), st.sampled_from([b"\r\n", b"\n"]))
def test_whenever_the_shortcut_takes_a_request_it_agrees_with_the_standard_parser(
    line: bytes, headers: list[bytes], end: bytes
) -> None:
    fast, slow = _both(line, [*headers, end])
    if fast is not None:
        assert fast == slow


def test_requests_through_the_shortcut_and_the_standard_parser_get_the_same_answer(
    fresh_sandbox,
) -> None:
    sb = fresh_sandbox
    token = get_token(sb)["access_token"]
    plain = {"Authorization": f"Bearer {token}"}
    # A header value with a non-ASCII byte sends the request down the standard path.
    odd = {**plain, "X-Note": "caf\xe9"}
    a = requests.get(f"{sb.url}/segment", params={"page_size": 3}, headers=plain, timeout=10)
    b = requests.get(f"{sb.url}/segment", params={"page_size": 3}, headers=odd, timeout=10)
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
