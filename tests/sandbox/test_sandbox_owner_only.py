"""Only the sandbox's owner can steer it, and a handle attaches only to its own sandbox.

Every sandbox makes a random key when it starts. Its admin API answers only calls that
carry the key, refuses web pages (a foreign ``Origin``) and DNS-rebound names (a ``Host``
that is not loopback), and takes bodies only as JSON. ``attach()`` checks that the
sandbox holds the key before sending it, and takes the demo client only from a sandbox
that passed that check.
"""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests
from sandbox_helpers import get_token, raw_request

from cerkl_nb.sandbox import SandboxConfig, SandboxError, attach, ensure, start
from cerkl_nb.spec import is_loopback_host

ADMIN_CALLS = [
    ("POST", "faults", {"fail_next": {"count": 5, "status": 503}}),
    ("POST", "clock", {"advance_s": 86400}),
    ("POST", "revoke", None),
    ("POST", "config", {"token_lifetime_s": 1}),
    ("POST", "clients", {"client_id": "intruder", "client_secret": "intruder-secret"}),
    ("POST", "reset", None),
    ("DELETE", "faults", None),
    ("GET", "demo-client", None),
    ("GET", "stats", None),
]


def _call(sb, method, path, body=None, **headers):
    data = json.dumps(body) if body is not None else None
    if data is not None:
        headers.setdefault("Content-Type", "application/json")
    return requests.request(
        method, f"{sb.root_url}/_sandbox/{path}", data=data, headers=headers, timeout=10
    )


@pytest.mark.parametrize("method, path, body", ADMIN_CALLS)
def test_admin_calls_without_the_key_are_refused_and_change_nothing(
    fresh_sandbox, method, path, body
):
    sb = fresh_sandbox
    token = get_token(sb)["access_token"]
    r = _call(sb, method, path, body)
    assert r.status_code == 403, r.text
    assert "X-Sandbox-Key" in r.json()["error"]["message"]
    r = _call(sb, method, path, body, **{"X-Sandbox-Key": "not-the-key-" + "x" * 30})
    assert r.status_code == 403 and "another key" in r.json()["error"]["message"]
    # Nothing moved: no fault, same clock, the token still works, no new client.
    assert sb._admin("GET", "faults")["fail_next"]["count"] == 0
    assert sb._admin("GET", "clock")["offset_s"] == 0
    ok = requests.get(sb.url + "/segment/5001", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    ids = [c["client_id"] for c in sb._admin("GET", "clients")["clients"]]
    assert "intruder" not in ids


def test_the_handle_sends_its_key_and_the_key_is_random_per_sandbox(fresh_sandbox):
    other = start(config=SandboxConfig())
    try:
        assert fresh_sandbox.key and other.key and fresh_sandbox.key != other.key
        assert len(fresh_sandbox.key) >= 32
        fresh_sandbox.set_faults(latency_ms=1)  # the handle's own calls work
        assert fresh_sandbox._admin("GET", "faults")["latency_ms"] == 1
        r = _call(other, "POST", "clock", {"advance_s": 60}, **{"X-Sandbox-Key": fresh_sandbox.key})
        assert r.status_code == 403  # one sandbox's key does not steer another
    finally:
        other.stop()


def test_the_key_is_never_in_a_repr_or_an_admin_answer(fresh_sandbox):
    sb = fresh_sandbox
    assert sb.key not in repr(sb) and sb.key not in str(sb)
    assert sb.key not in repr(sb.app)
    for path in ("health", "stats", "config", "clients", "log", "faults", "clock", "demo-client"):
        assert sb.key not in json.dumps(sb._admin("GET", path)), path


def test_admin_bodies_must_be_declared_json(fresh_sandbox):
    key = {"X-Sandbox-Key": fresh_sandbox.key}
    body = json.dumps({"latency_ms": 5000})
    for ctype in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        h = dict(key, **({"Content-Type": ctype} if ctype else {}))
        r = requests.post(fresh_sandbox.root_url + "/_sandbox/faults", data=body, headers=h)
        assert r.status_code == 415, (ctype, r.text)
    assert fresh_sandbox._admin("GET", "faults")["latency_ms"] == 0


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://localhost:8888", "http://127.0.0.1:1"]
)
def test_admin_refuses_web_pages_even_with_the_key(fresh_sandbox, origin):
    r = _call(
        fresh_sandbox,
        "POST",
        "clock",
        {"advance_s": 3600},
        **{"X-Sandbox-Key": fresh_sandbox.key, "Origin": origin},
    )
    assert r.status_code == 403 and "Origin" in r.json()["error"]["message"]
    assert fresh_sandbox._admin("GET", "clock")["offset_s"] == 0


def test_admin_accepts_its_own_origin(fresh_sandbox):
    own = f"http://127.0.0.1:{fresh_sandbox.port}"
    r = _call(fresh_sandbox, "GET", "clock", **{"X-Sandbox-Key": fresh_sandbox.key, "Origin": own})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "api.cerkl.com.localhost", "localhost.evil.example", "10.0.0.1", ""]
)
def test_admin_refuses_a_host_that_is_not_a_loopback_name(fresh_sandbox, host):
    # What a DNS-rebound page sends: the right address, its own name in Host.
    head = f"Host: {host}\r\n" if host else ""
    status, _, body = raw_request(
        fresh_sandbox,
        (
            f"POST /_sandbox/revoke HTTP/1.1\r\n{head}X-Sandbox-Key: {fresh_sandbox.key}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n"
        ).encode(),
    )
    assert status == 403 and b"Host" in body


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("localhost", True),
        ("localhost:8765", True),
        ("127.0.0.1:8765", True),
        ("127.3.4.5", True),
        ("[::1]:8765", True),
        ("LOCALHOST", True),
        ("api.cerkl.com.localhost", False),
        ("sub.localhost:80", False),
        ("0.0.0.0", False),
        ("[::]:1", False),
        ("127.0.0.1.nip.io", False),
        (None, False),
    ],
)
def test_only_literal_loopback_names_count_as_loopback(host, loopback):
    assert is_loopback_host(host) is loopback


def test_health_tells_no_secret(fresh_sandbox):
    text = requests.get(fresh_sandbox.root_url + "/_sandbox/health", timeout=10).text
    assert fresh_sandbox.client_secret not in text
    assert fresh_sandbox.key not in text
    assert "demo_client" not in text and "client_secret" not in text


def test_demo_client_comes_from_a_keyed_endpoint_as_the_sandbox_knows_it(fresh_sandbox):
    sb = fresh_sandbox
    assert sb.demo_client() == {"client_id": sb.client_id, "client_secret": sb.client_secret}
    sb.register_client(sb.client_id, "re-registered-secret-1")  # the demo client, new secret
    attached = attach(sb.root_url, key=sb.key)
    assert attached.client_secret == "re-registered-secret-1"
    assert get_token(attached)["access_token"]


def test_attach_works_for_a_sandbox_without_demo_clients():
    sb = start(config=SandboxConfig(demo_clients=False))
    try:
        with pytest.raises(SandboxError, match="accepts no client"):
            attach(sb.root_url, key=sb.key)
        sb.register_client("team-client", "team-client-secret-1")
        attached = attach(sb.root_url, key=sb.key)
        assert (attached.client_id, attached.client_secret) == (
            "team-client",
            "team-client-secret-1",
        )
        assert get_token(attached)["access_token"]
    finally:
        sb.stop()


def test_attach_needs_a_key(fresh_sandbox, monkeypatch):
    monkeypatch.delenv("CERKL_SANDBOX_KEY", raising=False)
    with pytest.raises(SandboxError, match="CERKL_SANDBOX_KEY"):
        attach(fresh_sandbox.root_url)
    monkeypatch.setenv("CERKL_SANDBOX_KEY", fresh_sandbox.key)
    assert attach(fresh_sandbox.root_url).key == fresh_sandbox.key


def test_attach_refuses_another_users_sandbox_without_sending_the_key(fresh_sandbox):
    mine = "my-own-key-" + "m" * 32
    before = fresh_sandbox.stats()["admin_requests"]
    with pytest.raises(SandboxError, match="not started with this key"):
        attach(fresh_sandbox.root_url, key=mine)
    # One health check, and no keyed call followed it: the key never left this process.
    assert fresh_sandbox.stats()["admin_requests"] == before + 2  # the check + stats()


def test_a_server_that_answers_ok_to_everything_never_sees_the_key():
    seen: list[bytes] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(5)
    port = srv.getsockname()[1]
    body = b'{"status": "ok", "key_proof": "00", "client_id": "x", "client_secret": "y"}'

    def serve() -> None:
        for _ in range(2):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                seen.append(conn.recv(65536))
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                )

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    key = "secret-key-" + "s" * 32
    try:
        with pytest.raises(SandboxError, match="not started with this key"):
            attach(f"http://127.0.0.1:{port}", key=key)
    finally:
        srv.close()
        t.join(5)
    assert seen and not any(key.encode() in req for req in seen)


def test_ensure_starts_its_own_sandbox_when_the_key_does_not_match(fresh_sandbox, monkeypatch):
    monkeypatch.setenv("CERKL_SANDBOX_URL", fresh_sandbox.root_url)
    monkeypatch.setenv("CERKL_SANDBOX_KEY", "someone-elses-key-" + "k" * 30)
    sb = ensure()
    try:
        assert sb.owned and sb.root_url != fresh_sandbox.root_url
    finally:
        sb.stop()
    monkeypatch.delenv("CERKL_SANDBOX_KEY")
    sb = ensure()  # a URL alone is not enough either
    try:
        assert sb.owned and sb.root_url != fresh_sandbox.root_url
    finally:
        sb.stop()


def test_a_key_can_be_chosen_and_a_bad_one_is_refused():
    sb = start(config=SandboxConfig(), key="chosen-key-0123456789abcdef")
    try:
        assert sb.key == "chosen-key-0123456789abcdef"
        assert attach(sb.root_url, key="chosen-key-0123456789abcdef").client_id
    finally:
        sb.stop()
    for bad in ("short", "with space " * 3, "new\nline" * 4):
        with pytest.raises(ValueError, match="key"):
            start(config=SandboxConfig(), key=bad)
