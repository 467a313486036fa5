"""start / attach / ensure / stop, the admin API through the handle, the CLI and the access log."""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from sandbox_helpers import basic, get_token

from cerkl_nb.sandbox import (
    SandboxConfig,
    SandboxError,
    attach,
    ensure,
    start,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_twice_shares_one_sandbox():
    a = start()
    try:
        b = start()
        assert b is a  # calling twice is safe
        assert a.url == f"http://127.0.0.1:{a.port}/v3"
        assert a.token_url == a.url + "/oauth/Token"
        assert a.openapi_url == a.url + "/openapi.json"
        assert a.root_url == f"http://127.0.0.1:{a.port}"
        assert a.client_id == "cerkl-nb-demo" and a.client_secret
        other = start(config=SandboxConfig(seed=1))
        assert other is not a and other.port != a.port
        other.stop()
    finally:
        a.stop()
    c = start()  # after stop, a new default starts
    assert c is not a
    c.stop()
    c.stop()  # idempotent


def test_stop_releases_the_port_and_closes_connections():
    sb = start(config=SandboxConfig())
    s = requests.Session()
    t = get_token(sb)["access_token"]
    assert s.get(sb.url + "/segment/5001", headers={"Authorization": f"Bearer {t}"}).ok
    sb.stop()
    assert not sb.running
    with pytest.raises(requests.ConnectionError):
        s.get(sb.url + "/segment/5001", headers={"Authorization": f"Bearer {t}"}, timeout=2)
    with socket.socket() as probe:  # the port can be bound again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", sb.port))


def test_attach_and_handles_behave_alike(fresh_sandbox):
    other = attach(fresh_sandbox.url, key=fresh_sandbox.key)  # the API base works too
    assert other.root_url == fresh_sandbox.root_url and not other.owned
    assert other.client_id == fresh_sandbox.client_id
    other.register_client("via-attach", "attached-secret-1")
    assert get_token(fresh_sandbox, "via-attach", "attached-secret-1")
    other.stop()  # does nothing to a server it does not own
    assert fresh_sandbox.running
    assert other.stats()["token_requests"] == 1


def test_attach_to_nothing_fails_clearly():
    with pytest.raises(SandboxError, match="no sandbox"):
        attach(f"http://127.0.0.1:{_free_port()}", key="k" * 43)


@contextlib.contextmanager
def _impostor(status: int, body: bytes, content_type: str = "application/json"):
    """A loopback http.server that answers every GET with ``status`` and ``body``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


IMPOSTORS = {
    "json-list": (200, b"[]", "application/json"),
    "json-string": (200, b'"ok"', "application/json"),
    "json-null": (200, b"null", "application/json"),
    "json-other-object": (200, b'{"status": "up"}', "application/json"),
    "html": (200, b"<!doctype html><title>Jupyter</title>", "text/html"),
    "not-utf8": (200, b"\xff\xfe{", "application/json"),
    "empty": (200, b"", "application/json"),
    "500": (500, b'{"status": "ok"}', "application/json"),
    "404-html": (404, b"<h1>Not Found</h1>", "text/html"),
}


@pytest.mark.parametrize("kind", IMPOSTORS)
def test_attach_refuses_anything_but_a_sandbox(kind, monkeypatch):
    with _impostor(*IMPOSTORS[kind]) as url:
        with pytest.raises(SandboxError):
            attach(url, key="k" * 43)
        # ensure() falls back to a sandbox of its own instead of crashing.
        monkeypatch.setenv("CERKL_SANDBOX_URL", url)
        monkeypatch.setenv("CERKL_SANDBOX_KEY", "k" * 43)
        sb = ensure()
        try:
            assert sb.owned and sb.running and sb.root_url != url
        finally:
            sb.stop()


def test_attach_to_a_malformed_url_fails_clearly(monkeypatch):
    with pytest.raises(SandboxError):
        attach("http://127.0.0.1:notaport", key="k" * 43)
    monkeypatch.setenv("CERKL_SANDBOX_URL", "http://127.0.0.1:notaport")
    monkeypatch.setenv("CERKL_SANDBOX_KEY", "k" * 43)
    sb = ensure()
    try:
        assert sb.owned and sb.running
    finally:
        sb.stop()


def test_issued_tokens_only_in_process_and_only_when_asked(fresh_sandbox):
    sb = start(config=SandboxConfig(record_issued_tokens=True))
    try:
        assert sb.issued_tokens() == []
        first = get_token(sb)
        second = get_token(sb)
        issued = sb.issued_tokens()
        assert issued == [
            first["access_token"],
            first["refresh_token"],
            second["access_token"],
            second["refresh_token"],
        ]
        issued.clear()  # a copy: the record is not changed
        assert len(sb.issued_tokens()) == 4
        sb.reset()  # the record survives a reset (a leak test wants every token)
        assert len(sb.issued_tokens()) == 4
        # Never over HTTP: no admin answer holds a token, and it cannot be switched on there.
        for path in ("health", "stats", "config", "clients", "log", "faults", "clock"):
            text = json.dumps(sb._admin("GET", path))
            assert not any(t in text for t in sb.issued_tokens()), path
        with pytest.raises(SandboxError, match="in-process"):
            fresh_sandbox.configure(record_issued_tokens=True)
        with pytest.raises(SandboxError, match="only on a sandbox started in this process"):
            attach(sb.url, key=sb.key).issued_tokens()
    finally:
        sb.stop()
    with pytest.raises(SandboxError, match="record_issued_tokens=True"):
        fresh_sandbox.issued_tokens()  # owned, but recording is off
    assert fresh_sandbox._admin("GET", "config")["record_issued_tokens"] is False
    with pytest.raises(ValueError):
        SandboxConfig(record_issued_tokens="yes")


def test_ensure_attaches_with_url_and_key_else_starts_its_own(monkeypatch, fresh_sandbox):
    monkeypatch.setenv("CERKL_SANDBOX_URL", fresh_sandbox.root_url)
    monkeypatch.setenv("CERKL_SANDBOX_KEY", fresh_sandbox.key)
    sb = ensure()
    assert sb.root_url == fresh_sandbox.root_url and not sb.owned
    assert sb.key == fresh_sandbox.key
    monkeypatch.setenv("CERKL_SANDBOX_URL", f"http://127.0.0.1:{_free_port()}")
    sb = ensure()
    try:
        assert sb.owned and sb.running
    finally:
        sb.stop()


def test_configure_validates_and_reseeds(fresh_api):
    sb = fresh_api.sb
    with pytest.raises(SandboxError):
        sb.configure(basic_auth_encoding="latin-1")
    with pytest.raises(SandboxError):
        sb.configure(not_a_setting=1)
    with pytest.raises(SandboxError):
        sb.configure(token_lifetime_s=-5)
    sb.configure(token_lifetime_s=60)
    assert get_token(sb)["expires_in"] == 60
    sb.configure(subscribers=25)
    assert fresh_api.get("/subscriber").json()["total"] == 25


def test_register_client_validation(fresh_sandbox):
    with pytest.raises(SandboxError):
        fresh_sandbox.register_client("", "x")
    with pytest.raises(SandboxError):
        fresh_sandbox.register_client("a:b", "x")
    with pytest.raises(SandboxError):
        fresh_sandbox.register_client("ok", "x", token_lifetime_s="long")
    listed = fresh_sandbox._admin("GET", "clients")["clients"]
    assert "cerkl-nb-demo" in [c["client_id"] for c in listed]
    assert all("client_secret" not in c for c in listed)


def test_reset(fresh_api):
    sb = fresh_api.sb
    fresh_api.delete("/segment/5002")
    sb.set_faults(latency_ms=10)
    sb.reset()
    fresh_api.renew()
    assert fresh_api.get("/segment/5002").status_code == 200
    assert sb._admin("GET", "faults")["latency_ms"] == 0


def test_health_and_admin_errors(sandbox):
    h = sandbox.health()
    assert h["status"] == "ok" and h["api_base"] == sandbox.url
    key = {"X-Sandbox-Key": sandbox.key}
    r = requests.put(sandbox.root_url + "/_sandbox/stats", headers=key, timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = requests.post(
        sandbox.root_url + "/_sandbox/faults",
        data="{",
        headers={"Content-Type": "application/json", **key},
        timeout=10,
    )
    assert r.status_code == 400


def test_access_log_never_shows_authorization_values(fresh_sandbox, caplog):
    caplog.set_level(logging.INFO, logger="cerkl_nb.sandbox")
    tok = get_token(fresh_sandbox)["access_token"]
    requests.get(fresh_sandbox.url + "/segment/5001", headers={"Authorization": f"Bearer {tok}"})
    lines = [r.getMessage() for r in caplog.records if r.name == "cerkl_nb.sandbox"]
    assert any("/v3/oauth/Token" in line for line in lines)
    assert any("Bearer ***" in line for line in lines)
    requests.get(fresh_sandbox.url + f"/segment?page=1&access_token={tok}", timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "cerkl_nb.sandbox"]
    assert any("access_token=***" in line for line in lines)
    text = "\n".join(lines)
    assert tok not in text
    assert fresh_sandbox.client_secret not in text
    assert basic(fresh_sandbox.client_id, fresh_sandbox.client_secret).split()[1] not in text


def test_quiet_by_default(fresh_sandbox, capsys):
    get_token(fresh_sandbox)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_cli_becomes_ready_and_serves_cerkls_documented_curl_command():
    # How fast it becomes ready is measured in bench/, not asserted here.
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cerkl_nb.launch.cli", "sandbox", "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 10
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1).ok
            except requests.ConnectionError:
                time.sleep(0.01)
        assert ready, "cerkl-nb sandbox did not answer its health check within 10 s"
        if shutil.which("curl") or os.environ.get("CI") == "true":
            # Cerkl's documented command, verbatim, against `cerkl-nb sandbox`.
            cmd = (
                f"curl -v http://127.0.0.1:{port}/v3/oauth/Token "
                '-H "Accept: application/json" -H "Accept-Language: en_US" '
                '-u "cerkl-nb-demo:sandbox-demo-secret-1234" -d "grant_type=client_credentials"'
            )
            out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20)
            assert json.loads(out.stdout)["token_type"] == "Bearer", out.stderr
        r = requests.post(
            f"http://127.0.0.1:{port}/v3/oauth/Token",
            data={"grant_type": "client_credentials"},
            auth=("cerkl-nb-demo", "sandbox-demo-secret-1234"),
        )
        assert r.status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/v3" in out
    assert "cerkl-nb-demo" in out and "sandbox-demo-secret-1234" in out
    assert "curl -v" in out and "sandbox-only" in out


def test_cli_help_and_bad_args():
    from cerkl_nb.launch.cli import main

    assert main([]) == 1
    with pytest.raises(SystemExit):
        main(["sandbox", "--port", "notaport"])
    assert main(["sandbox", "--subscribers", "-3", "--port", "0"]) == 2


@pytest.mark.parametrize(
    "args, says",
    [
        (["--port", "70000"], "65535"),
        (["--token-lifetime", "inf"], "finite"),
        (["--token-lifetime", "nan"], "finite"),
        (["--subscribers", "200000"], "subscribers"),
    ],
)
def test_cli_bad_values_get_a_clear_message_not_a_traceback(args, says, capsys):
    from cerkl_nb.launch.cli import main

    try:
        code = main(["sandbox", "--port", "0", *args])
    except SystemExit as e:  # refused by the argument parser: a usage message
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_handle_behind_a_path_prefix():
    from cerkl_nb.sandbox import Sandbox

    sb = Sandbox("https://hub.example.org/user/x/proxy/8765/")
    assert sb.url == "https://hub.example.org/user/x/proxy/8765/v3"
    assert sb._prefix == "/user/x/proxy/8765" and sb.port == 443


def test_200_concurrent_requests_with_one_token_all_succeed(fresh_sandbox):
    from concurrent.futures import ThreadPoolExecutor

    fresh_sandbox.reset_stats()
    tok = get_token(fresh_sandbox)["access_token"]

    def one(i: int) -> int:
        r = requests.get(
            f"{fresh_sandbox.url}/subscriber?page_size=5&page={1 + i % 50}",
            headers={"Authorization": f"Bearer {tok}"},
            timeout=10,
        )
        return r.status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(one, range(200)))
    assert statuses == [200] * 200
    st = fresh_sandbox.stats()
    assert st["token_requests"] == 1 and st["api_requests"] == 200
    assert st["internal_errors"] == 0


def test_an_interrupt_while_handing_a_connection_to_its_thread_still_stops_the_server(
    monkeypatch,
):
    # Ctrl-C or SIGTERM can land while Thread.start() waits for the new thread, after
    # that thread has already served its connection and given its slot back. The
    # interrupt must reach the caller (not turn into a swallowed "released too many
    # times" error, leaving a sandbox that ignores SIGTERM) and every slot stays usable.
    from cerkl_nb.sandbox import server as server_mod
    from cerkl_nb.sandbox.app import App

    sb = server_mod.SandboxServer(App(SandboxConfig()))
    real_thread = threading.Thread

    class InterruptedStart(real_thread):
        def start(self) -> None:
            super().start()
            self.join(10)  # the connection is served and its slot released
            raise KeyboardInterrupt

    try:
        client, served = socket.socketpair()
        client.close()  # the handler sees EOF at once and ends
        monkeypatch.setattr(server_mod.threading, "Thread", InterruptedStart)
        with pytest.raises(KeyboardInterrupt):
            sb.httpd.process_request(served, ("127.0.0.1", 0))
        monkeypatch.setattr(server_mod.threading, "Thread", real_thread)
        limit = sb.app.config.max_connections
        assert all(sb.httpd._slots.acquire(blocking=False) for _ in range(limit))
        assert not sb.httpd._slots.acquire(blocking=False)
    finally:
        sb.stop()


def test_serve_forever_stops_on_keyboard_interrupt_and_frees_the_port():
    import _thread

    from cerkl_nb.sandbox import server as server_mod
    from cerkl_nb.sandbox.app import App

    sb = server_mod.SandboxServer(App(SandboxConfig()))
    port = sb.port
    # Raised in the serving (main) thread, as Ctrl-C's or the CLI's SIGTERM handler does.
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sb.serve_forever()
    timer.join()
    assert not sb.running
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
