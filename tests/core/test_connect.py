"""cerkl_nb.connect(): real credentials when configured, else the sandbox; and the README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import cerkl_nb
from cerkl_nb import Credentials, MissingCredentials, Settings, TokenEvent

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("CERKL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env to be found here


def test_connect_without_credentials_uses_the_sandbox(no_credentials) -> None:
    client = cerkl_nb.connect(timeout_s=10)
    assert client.settings.is_loopback and client.settings.timeout_s == 10
    assert client.sandbox is not None and client.sandbox.url == client.settings.base_url
    assert cerkl_nb.connect(sandbox=True).sandbox is not None
    assert client.list("segment", page_size=1).page == 1
    with pytest.raises(MissingCredentials):
        cerkl_nb.connect(sandbox=False)


def test_connect_prefers_configured_credentials(no_credentials, sandbox, monkeypatch) -> None:
    monkeypatch.setenv("CERKL_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("CERKL_CLIENT_SECRET", sandbox.client_secret)
    monkeypatch.setenv("CERKL_BASE_URL", sandbox.url)
    client = cerkl_nb.connect()
    assert client.settings.base_url == sandbox.url
    assert client.token_manager.credentials.client_id == sandbox.client_id
    # Configured credentials are an account, whatever its address: no handle was given.
    assert client.sandbox is None
    explicit = cerkl_nb.connect(sandbox=sandbox)
    assert explicit.settings.base_url == sandbox.url and explicit.sandbox is sandbox


def test_a_listener_may_ask_for_the_token_without_deadlock(sandbox) -> None:
    tm = cerkl_nb.TokenManager(Credentials.for_sandbox(sandbox), Settings.for_sandbox(sandbox))
    seen: list[object] = []

    def listener(event: TokenEvent) -> None:
        if event.kind == "busy" and event.busy and tm.token is not None:
            seen.append(tm.refresh())  # re-entrant: answered with the current token
        seen.append(event.kind)

    tm.add_listener(listener)
    worker = threading.Thread(target=lambda: (tm.fetch(), tm.refresh()), daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "deadlock"
    assert seen.count("busy") == 4 and seen.count("token") == 2


def _readme_python_blocks() -> list[str]:
    readme = ROOT / "README.md"
    if not readme.is_file():
        return []
    return re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)


def test_readme_python_examples_run_as_written(tmp_path) -> None:
    blocks = [b for b in _readme_python_blocks() if "cerkl_nb" in b and "dashboard" not in b]
    if not blocks:
        pytest.skip("README.md has no Python example yet")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERKL_")}
    for block in blocks:
        res = subprocess.run(
            [sys.executable, "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, block + "\n" + res.stdout + res.stderr


def test_connect_explains_a_saved_sandbox_url_that_no_longer_answers(
    no_credentials, tmp_path
) -> None:
    # save_dotenv in sandbox mode used to save the sandbox's random port; the next
    # connect() then failed with a hint to run cerkl_nb.connect(), the call that failed.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / ".env").write_text(
        "CERKL_CLIENT_ID=my-client\nCERKL_CLIENT_SECRET=my-secret-123\n"
        f"CERKL_BASE_URL=http://127.0.0.1:{port}/v3\n"
    )
    (tmp_path / ".env").chmod(0o600)
    with pytest.raises(cerkl_nb.ConnectionFailed) as info:
        cerkl_nb.connect()
    msg = str(info.value)
    assert f"http://127.0.0.1:{port}/v3" in msg and str(tmp_path / ".env") in msg
    assert "remove CERKL_BASE_URL" in msg and f"cerkl-nb sandbox --port {port}" in msg
    assert "run `cerkl_nb.connect()`" not in msg


def test_connection_refused_hint_no_longer_suggests_the_call_that_failed() -> None:
    from cerkl_nb.session import sandbox_hint

    hint = sandbox_hint("http://127.0.0.1:4567/v3/oauth/Token")
    assert "cerkl-nb sandbox --port 4567" in hint and "remove CERKL_BASE_URL" in hint
    assert "(or `cerkl_nb.connect()`)" not in hint
