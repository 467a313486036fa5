"""CredentialsForm: values and clicks drive the core; the secret never stays in a trait."""

from __future__ import annotations

import json
import os
import stat

import ipywidgets as widgets
import pytest
from ipywidgets.embed import embed_data

import cerkl_nb
from cerkl_nb.widgets import CredentialsForm


def _state_text(*ws: widgets.Widget) -> str:
    return json.dumps([w.get_state() for w in ws], default=str) + json.dumps(
        embed_data(views=list(ws))["manager_state"], default=str
    )


def test_prefilled_from_a_sandbox_client_without_the_secret(client, sandbox):
    form = CredentialsForm(client)
    assert form.environment.value == "sandbox"
    assert form.client_id.value == sandbox.client_id
    assert form.client_secret.value == ""
    assert form.has_secret
    assert sandbox.client_secret not in _state_text(form)
    assert "Click Get New Access Token" in form.status_text
    assert sandbox.client_secret not in repr(form)


def test_typed_secret_is_read_once_and_cleared_from_the_password_field(sandbox, own_client):
    cid, secret = own_client
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.client_id.value = cid
    form.client_secret.value = secret  # what the page sends on blur / Enter
    assert form.client_secret.value == ""
    assert form.has_secret
    assert "received and hidden" in form.status_text
    assert secret not in _state_text(form)
    assert secret not in repr(form)


def test_get_new_access_token_builds_a_client_and_notifies(sandbox, own_client):
    cid, secret = own_client
    form = CredentialsForm(sandbox_url=sandbox.url)
    seen_clients, seen_tokens = [], []
    form.on_client(seen_clients.append)
    form.on_token(seen_tokens.append)
    form.client_id.value = cid
    form.client_secret.value = secret
    form.get_token_button.click()
    assert form.status_kind == "ok", form.status_text
    assert "Got a new access token (Bearer, valid 12 h" in form.status_text
    client = form.client
    assert client is not None and client.settings.base_url == sandbox.url
    assert client.token_manager.token is not None
    assert seen_clients == [client] and seen_tokens == [client]
    token = client.token_manager.token.access_token.get_secret_value()
    assert token not in form.status_text and token not in _state_text(form)
    # Same credentials again: the client is reused, a new token is fetched.
    form._last_done = -1e9
    form.submit()
    assert form.client is client
    assert client.token_manager.stats["fetches"] == 2
    form.on_token(seen_tokens.append, remove=True)
    form._last_done = -1e9
    form.submit()
    assert len(seen_tokens) == 2


def test_wrong_secret_gives_plain_words_and_the_fix(sandbox, own_client):
    cid, _secret = own_client
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.client_id.value = cid
    wrong = "definitely-wrong-secret-123"
    form.client_secret.value = wrong
    assert form.submit() is None
    assert form.status_kind == "error"
    assert "invalid_client" in form.status_text or "rejected" in form.status_text
    assert "Cerkl API v3" in form.status_text  # where to get new credentials
    assert wrong not in form.status_text
    assert not form.get_token_button.disabled
    with pytest.raises(cerkl_nb.InvalidCredentials):
        form.submit(raise_errors=True)


def test_missing_secret_says_what_to_do(sandbox):
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.client_id.value = "someone"
    form.get_token_button.click()
    assert form.status_kind == "error"
    assert "No client secret" in form.status_text


def test_button_is_disabled_while_in_flight_and_a_double_click_sends_one_request(
    sandbox, own_client
):
    cid, secret = own_client
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.client_id.value = cid
    form.client_secret.value = secret
    form.submit()  # build the client
    tm = form.client.token_manager
    before = tm.stats["token_requests"]
    observed = []

    def during_request(event):
        if event.kind == "busy" and event.busy:
            observed.append(form.get_token_button.disabled)
            form.get_token_button.click()  # a second click while the first is in flight

    remove = tm.add_listener(during_request)
    form._last_done = -1e9
    form.get_token_button.click()
    form.get_token_button.click()  # the second half of a double click, queued behind it
    remove()
    assert observed == [True]
    assert tm.stats["token_requests"] == before + 1
    assert not form.get_token_button.disabled


def test_empty_sandbox_form_uses_the_demo_client(sandbox_env):
    form = CredentialsForm()
    assert form.environment.value == "sandbox"
    token = form.submit()
    assert token is not None, form.status_text
    assert form.client.token_manager.credentials.client_id == sandbox_env.client_id


def test_load_env_reads_the_file_and_keeps_the_secret_out_of_widgets(tmp_path, sandbox):
    env = tmp_path / "proj" / ".env"
    env.parent.mkdir()
    env.write_text(
        f"CERKL_CLIENT_ID=from-dotenv\nCERKL_CLIENT_SECRET=dotenv-secret-xyz\n"
        f"CERKL_BASE_URL={sandbox.url}\n"
    )
    form = CredentialsForm(sandbox_url=sandbox.url)
    creds = form.load_env(env)
    assert creds is not None and creds.client_id == "from-dotenv"
    assert form.client_id.value == "from-dotenv"
    assert form.environment.value == "sandbox"
    assert form.has_secret and form.client_secret.value == ""
    assert "dotenv-secret-xyz" not in _state_text(form)
    assert "Loaded" in form.status_text and str(env) in form.status_text


def test_load_env_button_without_a_file_explains(sandbox):
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.load_button.click()
    assert form.status_kind == "error"
    assert ".env.example" in form.status_text


def test_load_env_falls_back_to_environment_variables(monkeypatch, sandbox):
    monkeypatch.setenv("CERKL_CLIENT_ID", "env-id")
    monkeypatch.setenv("CERKL_CLIENT_SECRET", "env-secret-abc")
    form = CredentialsForm(sandbox_url=sandbox.url)
    assert form.load_env() is not None
    assert form.client_id.value == "env-id"
    assert "environment variables" in form.status_text
    assert form.environment.value == "production"
    assert form.production_banner.layout.display is None


def test_save_env_writes_0600_and_warns_when_not_git_ignored(tmp_path, sandbox, own_client):
    cid, secret = own_client
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.client_id.value = cid
    form.client_secret.value = secret
    written = form.save_env(repo / ".env")
    assert written is not None and written.is_file()
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    assert f"CERKL_CLIENT_ID={cid}" in written.read_text()
    assert form.status_kind == "warn" and ".gitignore" in form.status_text
    assert secret not in form.status_text
    # The sandbox's URL is local (its port changes every run), so it is left out, and
    # the status line says why.
    assert "local address" in form.status_text
    assert "CERKL_BASE_URL" not in written.read_text()
    # Once ignored: no git warning, and nothing else to say for a non-local URL.
    (repo / ".gitignore").write_text(".env\n")
    form.save_env(repo / ".env")
    assert ".gitignore" not in form.status_text and "0600" in form.status_text
    form.environment.value = "production"
    form.client_id.value = cid
    form.client_secret.value = secret
    form.save_env(repo / ".env")
    assert form.status_kind == "ok" and "0600" in form.status_text, form.status_text


def test_production_banner_and_custom_url(sandbox):
    form = CredentialsForm(sandbox_url=sandbox.url)
    assert form.production_banner.layout.display == "none"
    form.environment.value = "production"
    assert form.production_banner.layout.display is None
    assert form.base_url.value == "https://api.cerkl.com/v3" and form.base_url.disabled
    form.environment.value = "custom"
    assert not form.base_url.disabled
    form.base_url.value = "https://api.cerkl.com/v3"
    assert form.production_banner.layout.display is None
    form.base_url.value = "http://insecure.example.com/v3"
    assert form.production_banner.layout.display == "none"
    form.client_id.value = "x"
    form.set_secret("some-secret-value")
    form.get_token_button.click()
    assert form.status_kind == "error" and "http://" in form.status_text


def test_binder_warning_only_on_binder(sandbox):
    assert CredentialsForm(sandbox_url=sandbox.url).binder_banner.layout.display == "none"
    on_binder = CredentialsForm(sandbox_url=sandbox.url, env={"BINDER_SERVICE_HOST": "10.0.0.1"})
    assert on_binder.binder_banner.layout.display is None
    assert "Never paste real Cerkl credentials" in on_binder.binder_banner.value


def test_switching_away_from_the_sandbox_drops_the_demo_client(client, sandbox):
    form = CredentialsForm(client)
    assert form.client_id.value == sandbox.client_id and form.has_secret
    form.environment.value = "production"
    assert form.client_id.value == "" and not form.has_secret
    assert "demo client only works with the sandbox" in form.status_text
    form.environment.value = "sandbox"
    assert form.submit() is not None  # empty sandbox form: the demo client again


def test_loading_production_credentials_over_the_demo_client_keeps_them(client, tmp_path):
    env = tmp_path / "real.env"
    env.write_text("CERKL_CLIENT_ID=real-id\nCERKL_CLIENT_SECRET=real-secret-value\n")
    form = CredentialsForm(client)  # shows the sandbox demo client
    assert form.load_env(env) is not None
    assert form.environment.value == "production"
    assert form.client_id.value == "real-id" and form.has_secret
    assert form.credentials().client_secret.get_secret_value() == "real-secret-value"
