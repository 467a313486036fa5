"""The hard cases: what IPython's Verbose xmode, %debug and sys.last_value can reach.

A KeyboardInterrupt during a slow call, and a datetime in a body. Every frame of the
traceback (and of every chained exception) is walked: each local is rendered with repr,
and containers and the attributes of requests/urllib3/http.client/cerkl_nb objects are
followed a few levels deep, roughly what Verbose xmode and a debugger session show.
"""

from __future__ import annotations

import base64
import datetime as dt
import signal
import threading
from types import TracebackType
from typing import Any

import pytest
import requests

from cerkl_nb import CerklClient, ConfigurationError, Credentials, Settings, TokenManager

from .loopback import Reply, json_reply

SECRET = "tb-client-secret-Qx7"
ACCESS = "0f1e2d3c4b5a6978" + "8796a5b4c3d2e1f0aabbccdd"  # split: no token in git
REFRESH = "refresh-zz-9a8b7c6d5e4f3a2b1c0d-refresh"


class Boom(BaseException):
    """Stands in for KeyboardInterrupt (which pytest itself would act on)."""


_FOLLOW = ("requests", "urllib3", "http", "cerkl_nb", "socket", "email", "tests")


def _render(obj: Any, depth: int, seen: set[int], out: list[str]) -> None:
    if id(obj) in seen or depth < 0:
        return
    seen.add(id(obj))
    try:
        out.append(repr(obj))
    except Exception:  # noqa: BLE001
        return
    if isinstance(obj, (str, bytes, int, float, bool, type(None))):
        return
    if isinstance(obj, dict):
        for k, v in list(obj.items()):
            _render(k, depth - 1, seen, out)
            _render(v, depth - 1, seen, out)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for v in list(obj)[:200]:
            _render(v, depth - 1, seen, out)
        return
    module = getattr(type(obj), "__module__", "") or ""
    if module.split(".")[0] in _FOLLOW:
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            _render(attrs, depth - 1, seen, out)
        if hasattr(obj, "headers"):  # CaseInsensitiveDict and friends
            try:
                _render(dict(obj.headers), depth - 1, seen, out)
            except Exception:  # noqa: BLE001
                pass


def reachable_text(exc: BaseException) -> str:
    """Everything a Verbose traceback / debugger could show for ``exc`` and its chain."""
    out: list[str] = [str(exc), repr(exc)]
    seen: set[int] = set()
    done: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in done:
            continue
        done.add(id(e))
        _render(e, 4, seen, out)
        tb: TracebackType | None = e.__traceback__
        while tb is not None:
            for name, value in tb.tb_frame.f_locals.items():
                out.append(name)
                _render(value, 4, seen, out)
            tb = tb.tb_next
        todo += [e.__context__, e.__cause__]
        todo += [a for a in e.args if isinstance(a, BaseException)]
    return "\n".join(out)


def _secrets(tm: TokenManager) -> list[str]:
    out = [SECRET, base64.b64encode(f"tb-id:{SECRET}".encode()).decode(), ACCESS, REFRESH]
    tok = tm.token
    if tok is not None:
        out.append(tok.access_token.get_secret_value())
    return out


def _catch(call) -> BaseException:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("expected an exception")


def _token_server(loopback, api=None) -> None:
    def handler(req):
        if "oauth" in req.path:
            return json_reply(
                {"access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 3600}
            )
        return api(req) if api else json_reply({"data": [{"id": 1}]})

    loopback.handler = handler


def _client(loopback, session=None, **settings) -> CerklClient:
    s = Settings(base_url=loopback.url + "/v3", max_retries=0, **settings)
    tm = TokenManager(Credentials("tb-id", SECRET), s, session=session)
    return CerklClient(tm, session=session)


def _raise_boom(resp, **kwargs):
    raise Boom("interrupted")


@pytest.mark.parametrize("where", ["api", "token-fetch", "token-refresh"])
def test_an_interrupt_inside_requests_leaves_no_secret_reachable(loopback, where) -> None:
    _token_server(loopback)
    session = requests.Session()
    client = _client(loopback, session=session)
    tm = client.token_manager
    if where != "token-fetch":
        tm.get_token()  # a refresh token is held now
    # A response hook runs deep inside requests (Session.send), where the prepared request
    # with its Authorization header and form body are plain locals.
    session.hooks["response"].append(_raise_boom)
    if where == "api":
        exc = _catch(lambda: client.request("POST", "segment", items={"description": "x"}))
    elif where == "token-fetch":
        exc = _catch(tm.fetch)
    else:
        exc = _catch(tm.refresh)
    assert isinstance(exc, Boom)
    text = reachable_text(exc)
    for s in _secrets(tm):
        assert s not in text, s[:4]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs POSIX interval timers")
@pytest.mark.parametrize("target", ["api", "token"])
def test_a_real_keyboard_interrupt_during_a_slow_call(loopback, target) -> None:
    # kb.ipy / kb2.ipy: the interrupt arrives while the socket read blocks.
    assert threading.current_thread() is threading.main_thread()

    def api(req):
        return Reply(200, b'{"data": []}', {"Content-Type": "application/json"}, delay_s=2.0)

    client = _client(loopback, timeout_s=5)
    _token_server(loopback, api)
    tm = client.token_manager
    tm.get_token()
    if target == "token":

        def slow_token(req):
            if "oauth" in req.path:
                return Reply(200, b"{}", {"Content-Type": "application/json"}, delay_s=2.0)
            return api(req)

        loopback.handler = slow_token

    def on_alarm(*_: Any) -> None:
        raise Boom("KeyboardInterrupt")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        exc = _catch(lambda: client.list("segment") if target == "api" else tm.refresh())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert isinstance(exc, Boom)
    # The interrupt really arrived deep inside the socket read.
    tb, names = exc.__traceback__, []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "recv_into" in names or "readinto" in names, names
    text = reachable_text(exc)
    for s in _secrets(tm):
        assert s not in text, s[:4]


def test_a_datetime_in_a_body_is_a_clear_configuration_error(loopback) -> None:
    # dt.ipy: json.dumps used to fail inside requests, under a frame holding the header.
    _token_server(loopback)
    client = _client(loopback)
    tm = client.token_manager
    tm.get_token()
    exc = _catch(
        lambda: client.create("segment", {"description": "x", "when": dt.datetime(2020, 1, 1)})
    )
    assert isinstance(exc, ConfigurationError)
    msg = str(exc)
    assert "not JSON-serialisable" in msg and "'when'" in msg and "datetime" in msg
    assert "isoformat" in msg and "str(value)" in msg
    for bad, word in (({1, 2}, "list("), (float("nan"), "NaN")):
        e = _catch(lambda bad=bad: client.request("POST", "segment", json={"v": bad}))
        assert isinstance(e, ConfigurationError) and word in str(e)
    assert not [s for s in loopback.seen if "oauth" not in s.path]  # nothing was sent
    text = reachable_text(exc)
    for s in _secrets(tm):
        assert s not in text, s[:4]


def test_a_unicode_error_inside_http_client_leaves_no_secret(loopback) -> None:
    # A header http.client cannot encode as latin-1 fails deep inside the send, below
    # frames that hold the Authorization header.
    _token_server(loopback)
    client = _client(loopback)
    tm = client.token_manager
    tm.get_token()
    bad = CerklClient(tm, settings=tm.settings.replace(user_agent="cerkl-nb/\u20ac"))
    exc = _catch(lambda: bad.list("segment"))
    assert isinstance(exc, UnicodeEncodeError), type(exc)
    text = reachable_text(exc)
    for s in _secrets(tm):
        assert s not in text, s[:4]
    # ... and the same on the token endpoint.
    tm2 = TokenManager(Credentials("tb-id", SECRET), bad.settings)
    exc = _catch(tm2.fetch)
    assert isinstance(exc, UnicodeEncodeError), type(exc)
    text = reachable_text(exc)
    for s in _secrets(tm):
        assert s not in text, s[:4]


def test_responses_leave_no_credential_on_their_request(loopback) -> None:
    _token_server(loopback)
    session = requests.Session()
    captured: list[requests.Response] = []
    session.hooks["response"].append(lambda r, **kw: captured.append(r))
    client = _client(loopback, session=session)
    client.token_manager.get_token()
    client.token_manager.refresh()
    assert client.request("GET", "segment").status == 200
    # What went on the wire was real ...
    wire = loopback.seen
    assert wire[0].headers["Authorization"].startswith("Basic ")
    assert b"refresh_token=" + REFRESH.encode() in wire[1].body
    assert wire[2].headers["Authorization"] == "Bearer " + ACCESS
    # ... but once sent, the requests behind the responses no longer hold it, so a later
    # exception in our code cannot reach it through a `resp` local.
    assert [r.request.headers["Authorization"] for r in captured] == [
        "Basic ***",
        "Basic ***",
        "Bearer ***",
    ]
    assert captured[1].request.body is None
