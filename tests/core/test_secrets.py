"""No secret anywhere: reprs, DEBUG logs and http.client prints, tracebacks, URLs."""

from __future__ import annotations

import base64
import http.client
import logging
import traceback

import pytest
from IPython.core.formatters import DisplayFormatter

from cerkl_nb import (
    CerklClient,
    CerklError,
    Credentials,
    FakeClock,
    InvalidCredentials,
    Settings,
    TokenManager,
    install_log_redaction,
)
from cerkl_nb.errors import ServerError
from cerkl_nb.redact import redact, register_secret
from cerkl_nb.session import AuthorizedSession

from .conftest import stat


def _collect_secrets(client) -> list[str]:
    tm = client.token_manager
    out = [tm.credentials.client_secret.get_secret_value()]
    cid = tm.credentials.client_id
    out.append(base64.b64encode(f"{cid}:{out[0]}".encode()).decode())
    tok = tm.token
    if tok is not None:
        out.append(tok.access_token.get_secret_value())
        if tok.refresh_token:
            out.append(tok.refresh_token.get_secret_value())
    return out


def test_reprs_hold_no_secret(sandbox, make_client) -> None:
    client = make_client(sandbox)
    client.list("segment", page_size=1)
    tm = client.token_manager
    objs = [
        client,
        tm,
        tm.credentials,
        tm.token,
        tm.credentials.client_secret,
        AuthorizedSession(tm),
        tm.settings,
        client.history,
        *client.history,
    ]
    secrets = _collect_secrets(client)
    assert len(secrets) == 4
    for obj in objs:
        # What a notebook displays, whichever rich forms the object offers.
        texts = [repr(obj), str(obj), *DisplayFormatter().format(obj)[0].values()]
        for text in texts:
            for s in secrets:
                assert s not in text, (type(obj).__name__, text)
                assert s[:8] not in text  # no prefixes either


def test_debug_logging_and_http_client_prints_leak_nothing(
    fresh_sandbox, make_client, caplog, capfd
) -> None:
    install_log_redaction()  # what connect() does; a bare import does not (tested below)
    saved = {n: logging.getLogger(n).level for n in list(logging.root.manager.loggerDict)}
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    old_level = http.client.HTTPConnection.debuglevel
    http.client.HTTPConnection.debuglevel = 1
    try:
        with caplog.at_level(logging.DEBUG):
            for name in list(logging.root.manager.loggerDict):
                logging.getLogger(name).setLevel(logging.DEBUG)
            client = make_client(fresh_sandbox, clock=FakeClock())
            client.list("segment")
            client.token_manager.refresh()  # sends a refresh token in a form body
            client.create("segment", {"description": "h2"})
            fresh_sandbox.revoke_all_tokens()
            client.list("segment")  # 401 -> refresh -> fallback
            bad = TokenManager(
                Credentials(fresh_sandbox.client_id, "wrong-secret-xyz"),
                Settings.for_sandbox(fresh_sandbox),
            )
            with pytest.raises(InvalidCredentials):
                bad.fetch()
            secrets = _collect_secrets(client) + ["wrong-secret-xyz"]
    finally:
        http.client.HTTPConnection.debuglevel = old_level
        logging.getLogger().setLevel(root_level)
        for name in list(logging.root.manager.loggerDict):
            logging.getLogger(name).setLevel(saved.get(name, logging.NOTSET))
    out, err = capfd.readouterr()
    assert "send:" in out or "send:" in err, "http.client debug output was expected"
    records = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("urllib3" in r.name for r in caplog.records)
    for s in secrets:
        assert s not in out and s not in err, s[:3]
        for text in records:
            assert s not in text


def _failure(call) -> BaseException:
    # Caught here, so the traceback holds only library frames below this helper (and the
    # test's own locals, which hold the secrets to look for, are not part of it).
    try:
        call()
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("expected an exception")


def test_exception_messages_and_verbose_tracebacks(fresh_sandbox, make_client) -> None:
    client = make_client(fresh_sandbox, clock=FakeClock(), max_retries=0)
    client.list("segment")
    fresh_sandbox.set_faults(fail_next={"count": 1, "status": 500})
    failures = [_failure(lambda: client.list("segment"))]
    bad = make_client(fresh_sandbox, client=(fresh_sandbox.client_id, "wrong-secret-xyz"))
    failures.append(_failure(lambda: bad.list("segment")))
    client.token_manager.fetch()
    fresh_sandbox.set_faults(fail_next={"count": 1, "status": 503, "target": "token"})
    failures.append(_failure(lambda: client.token_manager.request_token("refresh_token")))
    assert [type(f) for f in failures][:2] == [ServerError, InvalidCredentials]
    secrets = _collect_secrets(client) + _collect_secrets(bad) + ["wrong-secret-xyz"]
    for exc in failures:
        assert isinstance(exc, CerklError)
        # Like IPython's Verbose xmode: every frame's locals are rendered.
        te = traceback.TracebackException.from_exception(exc, capture_locals=True)
        text = "".join(te.format()) + str(exc) + repr(exc)
        for s in secrets:
            assert s not in text, s[:3]


def test_no_token_in_any_url(fresh_sandbox, make_client) -> None:
    client = make_client(fresh_sandbox)
    client.get_all("segment", page_size=2)
    client.token_manager.refresh()
    client.create("segment", {"description": "h7"})
    lines = [r["target"] for r in stat(fresh_sandbox, "recent_requests")]
    assert lines
    secrets = _collect_secrets(client)
    for line in lines:
        assert "access_token=" not in line and "refresh_token=" not in line
        assert "client_secret=" not in line
        for s in secrets:
            assert s not in line


def test_redact_patterns() -> None:
    register_secret("registered-secret-value")
    text = (
        "Authorization: Bearer abc.def-123 and basic Zm9vOmJhcg== "
        'refresh_token=xyz&client_secret=shh {"access_token": "q"} '
        "registered-secret-value e37b98a75db58f83edaaccdb75d15c3a38ae5e38"
    )
    out = redact(text)
    for leaked in (
        "abc.def-123",
        "Zm9vOmJhcg==",
        "xyz",
        "shh",
        '"q"',
        "registered-secret-value",
        "e37b98a75db58f83edaaccdb75d15c3a38ae5e38",
    ):
        assert leaked not in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bearer access token", "Bearer access token"),
        ("use Basic auth", "use Basic auth"),
        ('WWW-Authenticate: Bearer realm="cerkl"', 'WWW-Authenticate: Bearer realm="cerkl"'),
        ("Bearer $CERKL_ACCESS_TOKEN", "Bearer $CERKL_ACCESS_TOKEN"),
        ("Authorization: Basic Y2Vya2wtbmItZGVtbzpz", "Authorization: Basic ***"),
        ("Bearer abcdefghijklmnopqrstuvwxyz", "Bearer ***"),
        ("Bearer Abcdefgh", "Bearer ***"),
    ],
)
def test_redact_masks_credentials_but_not_prose(text: str, expected: str) -> None:
    assert redact(text) == expected


# -- truncation must come after redaction -------------------------------------------------

_AT = "e37b98a75db58f83edaaccdb75d15c3a38ae5e38"
_RT = "5d0c0f3b8e7a4c1d9f2e6b7a8c9d0e1f2a3b4c5d"


def _prefixes(text: str, secret: str, n: int = 12) -> bool:
    return any(secret[i : i + n] in text for i in range(len(secret) - n + 1))


_CUT_JSON = (
    '{"access_token":"' + _AT + '","token_type":"Bearer","expires_in":43200,'
    '"refresh_token":"' + _RT[:30]
)
# Tokens that start ~20 characters before the old 300-character cut.
_DEBUG_PAGE = "<html><body>" + "x" * 250 + " Debug: refresh_token = " + _RT + " " + _AT
_ECHO_PAGE = "<html>" + "y" * 260 + "refresh_token=" + _RT + " access_token=" + _AT


@pytest.mark.parametrize(
    ("status", "ctype", "body"),
    [
        # A success body cut short: the refresh token is unterminated.
        (200, "application/json", _CUT_JSON),
        # HTML debug pages echoing tokens, long enough to be cut mid-token.
        (400, "text/html", _DEBUG_PAGE),
        (403, "text/html", _ECHO_PAGE),
    ],
)
def test_token_endpoint_excerpts_hold_no_token_prefix(loopback, status, ctype, body) -> None:
    from .loopback import Reply

    loopback.handler = lambda req: Reply(status, body.encode(), {"Content-Type": ctype})
    settings = Settings(base_url=loopback.url + "/v3", max_retries=0)
    tm = TokenManager(Credentials("id", "secret-xyz-123"), settings)
    exc = _failure(tm.get_token)
    assert isinstance(exc, CerklError)
    blob = " ".join(
        str(x)
        for x in (exc, repr(exc), getattr(exc, "body_excerpt", ""), getattr(exc, "description", ""))
    )
    assert not _prefixes(blob, _AT) and not _prefixes(blob, _RT), blob
    if 200 <= status < 300:
        assert getattr(exc, "body_excerpt", None) is None  # no excerpt of a success body


def test_api_excerpts_and_history_hold_no_token_prefix(loopback) -> None:
    from .loopback import Reply, json_reply

    junk = "z" * 270  # puts a token across the 300-character mark of error excerpts ...
    page = (  # ... and one across the 500-character mark of history excerpts
        '{"note": "' + "q" * 450 + '", "access_token": "' + _AT + '", '
        '"refresh_token": "' + _RT + '"}'
    )

    def handler(req):
        if "oauth" in req.path:
            return json_reply({"access_token": "tok-abcdef-123456", "expires_in": 3600})
        if req.path.startswith("/v3/bad"):
            return Reply(400, ("<html>" + junk + "Bearer " + _AT).encode(), {})
        return Reply(200, page.encode(), {"Content-Type": "application/json"})

    loopback.handler = handler
    settings = Settings(base_url=loopback.url + "/v3", max_retries=0)
    client = CerklClient(TokenManager(Credentials("id", "secret-xyz-123"), settings))
    client.request("GET", "ok")
    exc = _failure(lambda: client.request("GET", "bad"))
    texts = [str(exc), str(getattr(exc, "body_excerpt", ""))]
    texts += [str(e.response_excerpt) for e in client.history]
    for text in texts:
        assert not _prefixes(text, _AT) and not _prefixes(text, _RT), text


def test_redact_masks_an_unterminated_json_token_value() -> None:
    cut = '{"access_token": "abc123def456ghi789jkl012mno345pq'
    assert redact(cut) == '{"access_token": "***"'
    assert "x9y8" not in redact('{"id_token": "x9y8z7w6v5u4t3s2')
    assert redact('{"token_type": "Bearer", "expires_in": 5}') == (
        '{"token_type": "Bearer", "expires_in": 5}'
    )


# -- log tracebacks ------------------------------------------------------------------------


def test_the_packages_own_log_records_and_tracebacks_are_redacted(caplog) -> None:
    import io

    import cerkl_nb.client  # noqa: F401 - its logger redacts its own records; no global call

    secret = "Zq8-log-traceback-secret"
    register_secret(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("cerkl_nb.client")
    log.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="cerkl_nb"):
            try:
                raise RuntimeError(f"failed with Bearer {_AT} and {secret}")
            except RuntimeError:
                log.exception("request failed")
            log.info("where am I", stack_info=True, extra={})
            log.warning("stack of %s", secret, stack_info=True)
    finally:
        log.removeHandler(handler)
    out = stream.getvalue() + caplog.text
    assert "Traceback" in out and "RuntimeError" in out and "request failed" in out
    assert "Stack (most recent call last)" in out
    assert _AT not in out and secret not in out
    for rec in caplog.records:
        assert _AT not in (rec.exc_text or "") and secret not in (rec.stack_info or "")


# -- registration ----------------------------------------------------------------------------


def test_the_token_manager_registers_each_token_it_receives(loopback) -> None:
    from .loopback import json_reply

    loopback.handler = lambda req: json_reply(
        {"access_token": "plain-access-abc123", "refresh_token": "plain-refresh-xyz789"}
        | {"expires_in": 3600}
    )
    # Neither value has the 40-hex shape: only registration can mask them.
    assert redact("plain-access-abc123 plain-refresh-xyz789") == (
        "plain-access-abc123 plain-refresh-xyz789"
    )
    tm = TokenManager(Credentials("id", "secret-xyz-123"), Settings(base_url=loopback.url + "/v3"))
    tm.fetch()
    assert redact("plain-access-abc123 plain-refresh-xyz789") == "*** ***"
    basic = base64.b64encode(b"id:secret-xyz-123").decode()
    assert redact(f"{basic} secret-xyz-123") == "*** ***"


# -- history params --------------------------------------------------------------------------


def test_history_params_are_redacted(loopback) -> None:
    from .loopback import json_reply

    loopback.handler = lambda req: json_reply(
        {"access_token": "tok-abcdef-123456", "expires_in": 3600}
        if "oauth" in req.path
        else {"data": []}
    )
    settings = Settings(base_url=loopback.url + "/v3")
    client = CerklClient(TokenManager(Credentials("id", "secret-xyz-123"), settings))
    params = {
        "page": 1,
        "access_token": "q-param-token-123456",
        "password": "hunter2-hunter2",
        "client_secret": "cs-in-query-98765",
        "note": "Bearer abcdef0123456789xyz",
    }
    client.request("GET", "segment", params=params)
    entry = client.history.entries()[-1]
    assert entry.params["page"] == 1
    text = repr(entry.params) + entry.to_curl() + entry.to_python()
    for value in ("q-param-token-123456", "hunter2-hunter2", "cs-in-query-98765", "abcdef012345"):
        assert value not in text
    assert params["access_token"] == "q-param-token-123456"  # the caller's dict is untouched
