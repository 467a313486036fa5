"""The in-process sandbox: a requests transport adapter instead of a socket.

Everything here runs with sockets switched off (``socket.socket`` raises), which proves
that nothing goes over the network; the comparison tests start a real HTTP sandbox first
and switch sockets off only around the in-process side.
"""

from __future__ import annotations

import http.client
import socket
import threading
import warnings

import pytest
import requests

import cerkl_nb
from cerkl_nb import sandbox as sandbox_pkg
from cerkl_nb.clock import FakeClock
from cerkl_nb.errors import RequestTimeout, ServerError
from cerkl_nb.sandbox import SandboxConfig
from cerkl_nb.sandbox.transport import InProcessServer, routed


class _NoSockets(AssertionError):
    pass


@pytest.fixture()
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket or an HTTP connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise _NoSockets("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(http.client.HTTPConnection, "connect", refuse)


@pytest.fixture()
def local():
    """A sandbox in this process (no server, no thread), stopped afterwards."""
    sb = sandbox_pkg.start(in_process=True)
    try:
        yield sb
    finally:
        sb.stop()


def test_the_client_runs_end_to_end_with_no_socket(local, no_sockets):
    client = cerkl_nb.connect(sandbox=local)
    page = client.list("subscriber", page_size=5)
    assert page.total == 300 and len(page.items) == 5
    everyone = client.get_all("subscriber")
    assert [s["id"] for s in everyone[:5]] == [s["id"] for s in page.items]
    assert len(everyone) == 300
    created = client.create("segment", {"description": "in-process"})
    assert client.get("segment", created["id"])["description"] == "in-process"
    client.delete("segment", created["id"])
    stats = local.stats()
    assert (
        stats["token_requests"] == 1 and stats["api_requests"] == 7
    )  # 1 list, 3 pages, create, get, delete


def test_an_expired_token_is_refreshed_through_the_adapter(local, no_sockets):
    client = cerkl_nb.connect(sandbox=local)
    client.list("segment", page_size=1)
    local.revoke_all_tokens()
    assert client.list("segment", page_size=1).items
    # The 401 leads to a refresh, refused (revoked too), then a new token.
    stats = client.token_manager.stats
    assert (stats["token_requests"], stats["fallbacks"]) == (3, 1)


def test_plain_requests_calls_reach_the_routed_sandbox(local, no_sockets):
    # Tutorials also call requests.get/post directly: the route covers every session.
    r = requests.get(local.url + "/subscriber", timeout=5)
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["error"]["code"] == 401


def test_admin_calls_go_straight_to_the_app(local, no_sockets):
    before = local.app.stats.as_dict()["admin_requests"]
    assert local.health()["status"] == "ok"
    with local.clock_offset(3600) as moved:
        assert moved["offset_s"] == 3600
    assert local.app.clock_offset_s == 0
    local.set_faults(fail_next={"count": 1, "status": 503})
    assert local.app.faults.active
    local.clear_faults()
    assert not local.app.faults.active
    assert local.app.stats.as_dict()["admin_requests"] == before + 5


def test_the_admin_api_still_needs_the_key(local, no_sockets):
    stranger = sandbox_pkg.Sandbox(local.root_url, key="x" * 32, server=local._server)
    with pytest.raises(sandbox_pkg.SandboxError, match="key"):
        stranger.stats()


def test_a_stopped_sandbox_is_unreachable_and_no_longer_routed(no_sockets):
    sb = sandbox_pkg.start(in_process=True)
    origin = sb.root_url
    assert origin in routed()
    sb.stop()
    assert origin not in routed()
    assert not sb.running
    with pytest.raises(sandbox_pkg.SandboxError, match="not reachable"):
        sb.stats()
    with pytest.raises(_NoSockets):
        requests.get(sb.url + "/subscriber", timeout=5)


def test_requests_is_restored_when_the_last_route_goes():
    original = requests.Session.get_adapter
    sb = sandbox_pkg.start(in_process=True)
    assert requests.Session.get_adapter is not original
    sb.stop()
    assert requests.Session.get_adapter is original


def test_only_the_sandbox_origin_is_routed(local, no_sockets):
    # Same host, another port, and a port that the sandbox's port starts with: both
    # leave as usual (and here meet the socket ban).
    for other in (
        f"http://127.0.0.1:{local.port + 1}/v3",
        f"http://127.0.0.1:{local.port // 10}/v3",
    ):
        with pytest.raises(_NoSockets):
            requests.get(other + "/subscriber", timeout=5)


def test_injected_faults_behave_as_over_http(local, no_sockets):
    client = cerkl_nb.connect(sandbox=local, max_retries=0)
    client.list("segment", page_size=1)
    local.set_faults(fail_next={"count": 1, "status": 503})
    with pytest.raises(ServerError):
        client.list("segment", page_size=1)
    local.set_faults(latency_ms=300)
    with pytest.raises(RequestTimeout):
        client.request("GET", "segment", timeout_s=0.05)
    local.clear_faults()


def test_a_dropped_answer_is_a_connection_error_as_over_http():
    over_http, in_process = _pair()
    try:
        for sb in (over_http, in_process):
            auth = (sb.client_id, sb.client_secret)
            with requests.Session() as s:
                first = s.post(
                    sb.token_url, data={"grant_type": "client_credentials"}, auth=auth, timeout=10
                )
                refresh = {
                    "grant_type": "refresh_token",
                    "refresh_token": first.json()["refresh_token"],
                }
                sb.set_faults(drop_refresh_response=1)
                with pytest.raises(requests.ConnectionError):
                    s.post(sb.token_url, data=refresh, auth=auth, timeout=10)
    finally:
        over_http.stop()
        in_process.stop()


# -- the same bytes as the HTTP server ------------------------------------------------------

FIXED = 1_790_000_000.0


def _pair():
    """A socket server and an in-process sandbox with the same data and the same clock."""
    clock = FakeClock(FIXED)
    over_http = sandbox_pkg.start(config=SandboxConfig(clock=clock), key="k" * 32)
    in_process = sandbox_pkg.start(config=SandboxConfig(clock=clock), key="k" * 32, in_process=True)
    return over_http, in_process


def _normal(resp: requests.Response, origin: str) -> tuple[int, str, dict[str, str], bytes]:
    skip = {"date", "x-request-id"}
    headers = {
        k.lower(): v.replace(origin, "ORIGIN")
        for k, v in resp.headers.items()
        if k.lower() not in skip
    }
    host = origin.split("://", 1)[1].encode()
    body = resp.content.replace(origin.encode(), b"ORIGIN").replace(host, b"HOST")
    return resp.status_code, resp.reason, headers, body


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/v3/subscriber?page=2&page_size=3", {}),
        ("GET", "/v3/openapi.json", {}),
        ("HEAD", "/v3/openapi.json", {}),
        ("POST", "/v3/oauth/Token", {"data": {"grant_type": "client_credentials"}}),
        (
            "POST",
            "/v3/segment",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        ("GET", "/v3/no-such-thing", {}),
        ("DELETE", "/v3/openapi.json", {}),
        ("POST", "/v3/oauth/Token", {"data": "grant_type=x" * 10000}),
    ],
)
def test_answers_are_byte_identical_to_the_http_server(method, path, kwargs):
    over_http, in_process = _pair()
    try:
        answers = []
        for sb in (over_http, in_process):
            with requests.Session() as s:
                answers.append(
                    _normal(
                        s.request(method, sb.root_url + path, timeout=10, **kwargs), sb.root_url
                    )
                )
        assert answers[0] == answers[1]
    finally:
        over_http.stop()
        in_process.stop()


def test_an_authorized_list_is_byte_identical_to_the_http_server():
    over_http, in_process = _pair()
    try:
        answers = []
        for sb in (over_http, in_process):
            client = cerkl_nb.connect(sandbox=sb)
            token = client.token_manager.get_token().access_token.get_secret_value()
            with requests.Session() as s:
                r = s.get(
                    sb.url + "/subscriber",
                    params={"page": 3, "page_size": 4},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )
            answers.append(_normal(r, sb.root_url))
        assert answers[0][0] == 200
        assert answers[0] == answers[1]
    finally:
        over_http.stop()
        in_process.stop()


# -- in a browser tab (sys.platform == "emscripten") ---------------------------------------


@pytest.fixture()
def browser(monkeypatch: pytest.MonkeyPatch):
    """Pretend to be Pyodide: the platform says emscripten and threads cannot start.

    Only the two facts the code branches on are faked; the shared default sandbox is
    restored afterwards.
    """

    def no_threads(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr("sys.platform", "emscripten")
    monkeypatch.setattr(threading.Thread, "start", no_threads)
    saved = sandbox_pkg._default
    sandbox_pkg._default = None
    try:
        yield
    finally:
        made = sandbox_pkg._default
        sandbox_pkg._default = saved
        if made is not None:
            made.stop()


def test_in_a_browser_start_runs_the_sandbox_in_process(browser, no_sockets):
    sb = sandbox_pkg.start()
    assert isinstance(sb._server, InProcessServer)
    assert sandbox_pkg.start() is sb  # the shared default, as outside the browser
    assert sb.owned and sb.running and sb.client_secret
    client = cerkl_nb.connect(sandbox=sb)
    assert client.list("subscriber", page_size=1).total == 300


def test_in_a_browser_ensure_does_not_try_to_attach(browser, no_sockets, monkeypatch):
    monkeypatch.setenv("CERKL_SANDBOX_URL", "http://127.0.0.1:8765")
    monkeypatch.setenv("CERKL_SANDBOX_KEY", "k" * 32)
    sb = sandbox_pkg.ensure()
    assert isinstance(sb._server, InProcessServer)
    assert cerkl_nb.connect().settings.base_url == sb.url  # connect() finds it too


def test_in_a_browser_concurrent_paging_is_sequential_and_starts_no_thread(browser, no_sockets):
    client = cerkl_nb.connect(sandbox=sandbox_pkg.start())
    sequential = client.get_all("subscriber", page_size=40)
    four_at_once = client.get_all("subscriber", page_size=40, concurrency=4)
    assert [s["id"] for s in four_at_once] == [s["id"] for s in sequential]
    assert len(sequential) == 300


def test_in_a_browser_the_progress_bar_starts_no_monitor_thread(browser, no_sockets, monkeypatch):
    tqdm_auto = pytest.importorskip("tqdm.auto")
    # As in a fresh kernel: no monitor yet, and tqdm would start one.
    monkeypatch.setattr(tqdm_auto.tqdm, "monitor", None)
    monkeypatch.setattr(tqdm_auto.tqdm, "monitor_interval", 10)
    client = cerkl_nb.connect(sandbox=sandbox_pkg.start())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm warns when its thread cannot start
        assert len(client.get_all("subscriber", progress=True)) == 300
    assert tqdm_auto.tqdm.monitor is None


def test_outside_a_browser_concurrent_paging_does_use_threads(local, no_sockets, monkeypatch):
    # The counterpart of the test above: it would pass vacuously if paging never used
    # threads at all.
    started = []
    real_start = threading.Thread.start

    def counting(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", counting)
    client = cerkl_nb.connect(sandbox=local)
    client.get_all("subscriber", page_size=40, concurrency=4)
    assert any(name.startswith("cerkl-page") for name in started)


def test_in_a_browser_the_widgets_start_no_thread(browser, no_sockets):
    pytest.importorskip("ipywidgets")
    pytest.importorskip("anywidget")
    from cerkl_nb.widgets import dashboard

    board = dashboard()
    assert board.client.settings.is_loopback
    board.panel.refresh()
    assert board.client.token_manager.token is not None
    board.close()
