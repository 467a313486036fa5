"""No secret anywhere: reprs (H1), DEBUG logs and http.client prints (H2), tracebacks (H5),
URLs (H7)."""

from __future__ import annotations

import base64
import http.client
import logging
import traceback

import pytest

from cerkl_nb import (
    CerklError,
    Credentials,
    FakeClock,
    InvalidCredentials,
    Secret,
    ServerError,
    TokenManager,
    redact,
)

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


def test_h1_reprs_hold_no_secret(sandbox, make_client) -> None:
    client = make_client(sandbox)
    client.list("segment", page_size=1)
    tm = client.token_manager
    objs = [
        client,
        tm,
        tm.credentials,
        tm.token,
        tm.credentials.client_secret,
        tm.auth,
        tm.settings,
        client.history,
        *client.history,
    ]
    secrets = _collect_secrets(client)
    assert len(secrets) == 4
    for obj in objs:
        texts = [repr(obj), str(obj)]
        for meth in ("_repr_html_", "_repr_mimebundle_"):
            if hasattr(obj, meth):
                texts.append(str(getattr(obj, meth)()))
        for text in texts:
            for s in secrets:
                assert s not in text, (type(obj).__name__, text)
                assert s[:8] not in text  # no prefixes either


def test_h2_debug_logging_and_http_client_prints_leak_nothing(
    fresh_sandbox, make_client, caplog, capfd
) -> None:
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
                Credentials(fresh_sandbox.client_id, "wrong-secret-xyz"), fresh_sandbox.settings
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


def test_h5_exception_messages_and_verbose_tracebacks(fresh_sandbox, make_client) -> None:
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


def test_h7_no_token_in_any_url(fresh_sandbox, make_client) -> None:
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
    Secret("registered-secret-value")
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
