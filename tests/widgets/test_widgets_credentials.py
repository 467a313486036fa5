"""CredentialsForm: values and clicks drive the core; the secret never stays in a trait."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess

import ipywidgets as widgets
import pytest
from dotenv import dotenv_values
from ipywidgets.embed import embed_data

import cerkl_nb
from cerkl_nb.widgets import CredentialsForm, dashboard
from cerkl_nb.widgets._common import clock_text


def is_busy(button) -> bool:
    """Marked busy (focusable, aria-busy on the page), the way the widgets mark a button."""
    return "cerkl-busy" in button._dom_classes


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
    assert not form.get_token_button.disabled and not is_busy(form.get_token_button)
    with pytest.raises(cerkl_nb.InvalidCredentials):
        form.submit(raise_errors=True)


def test_missing_secret_says_what_to_do(sandbox):
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.client_id.value = "someone"
    form.get_token_button.click()
    assert form.status_kind == "error"
    assert "No client secret" in form.status_text


def test_button_is_busy_while_in_flight_and_a_double_click_sends_one_request(sandbox, own_client):
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
            observed.append(is_busy(form.get_token_button))
            form.get_token_button.click()  # a second click while the first is in flight

    remove = tm.add_listener(during_request)
    form._last_done = -1e9
    form.get_token_button.click()
    form.get_token_button.click()  # the second half of a double click, queued behind it
    remove()
    assert observed == [True]
    assert tm.stats["token_requests"] == before + 1
    assert not form.get_token_button.disabled and not is_busy(form.get_token_button)


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
    env.chmod(0o600)
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
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30)
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.client_id.value = cid
    form.client_secret.value = secret
    written = form.save_env(repo / ".env")
    assert written is not None and written.is_file()
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    assert dotenv_values(written)["CERKL_CLIENT_ID"] == cid
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


def test_binder_warning_only_on_binder(sandbox, monkeypatch):
    assert CredentialsForm(sandbox_url=sandbox.url).binder_banner.layout.display == "none"
    monkeypatch.setenv("BINDER_SERVICE_HOST", "10.0.0.1")
    on_binder = CredentialsForm(sandbox_url=sandbox.url)
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
    env.chmod(0o600)
    form = CredentialsForm(client)  # shows the sandbox demo client
    assert form.load_env(env) is not None
    assert form.environment.value == "production"
    assert form.client_id.value == "real-id" and form.has_secret
    assert form.credentials().client_secret.get_secret_value() == "real-secret-value"


def test_refused_credentials_from_env_still_name_the_variables(sandbox, tmp_path):
    form_env = tmp_path / ".env"
    form_env.write_text(
        f"CERKL_CLIENT_ID=nobody\nCERKL_CLIENT_SECRET=wrong\nCERKL_BASE_URL={sandbox.url}\n"
    )
    form_env.chmod(0o600)
    from cerkl_nb.widgets import CredentialsForm

    form = CredentialsForm(sandbox_url=sandbox.url)
    form.load_env(form_env)
    assert form.submit() is None
    assert "CERKL_CLIENT_ID" in form.status_text
    assert form.client is None
    form.close()


def test_form_status_matches_the_token_held_and_follows_refreshes(client):
    client.token_manager.fetch()
    dash = dashboard(client)
    assert "an access token is held" in dash.form.status_text
    assert "Click Get New Access Token." not in dash.form.status_text.split("held")[0]
    dash.form.submit()
    first = dash.form.status_text
    assert "local time" not in first
    assert re.search(r"until (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d \S+\)", first)
    dash.panel.get_new_token()  # renewed elsewhere: the form's text follows
    assert dash.form.status_text.startswith("The access token was renewed")
    expires = clock_text(client.token_manager.token.expires_at)
    assert expires in dash.form.status_text
    assert re.fullmatch(r"(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d \S+ · .*", dash.panel.last_refresh)
    dash.close()


def test_a_token_from_the_panel_replaces_the_ready_status_but_not_an_error(client):
    dash = dashboard(client)
    assert dash.form.status_text.startswith("Ready:")
    dash.panel.get_new_token()
    assert dash.form.status_text.startswith("Got a new access token")
    dash.form.environment.value = "custom"
    dash.form.base_url.value = ""
    dash.form.submit()  # an error: no custom URL
    error = dash.form.status_text
    assert dash.form.status_kind == "error"
    dash.panel.get_new_token()
    assert dash.form.status_text == error  # the error stays for the user to read
    dash.close()


class _RecordingComm:
    """Stands in for a widget's comm: records every message the kernel sends on it."""

    kernel = "recording"

    def __init__(self, real) -> None:
        self._real = real
        self.sent: list = []

    def send(self, data=None, buffers=None, **_kwargs) -> None:
        self.sent.append(data)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _typed_in_page(control, value: str) -> None:
    """Deliver the message a page sends when the user typed ``value`` into ``control``."""
    msg = {"method": "update", "state": {"value": value}, "buffer_paths": []}
    control._handle_msg({"content": {"data": msg}, "buffers": []})


def test_the_typed_secret_is_never_sent_back_to_any_front_end(sandbox):
    secret = "typed-secret-never-echoed-1234"
    form = CredentialsForm(sandbox_url=sandbox.url)
    comm = _RecordingComm(form.client_secret.comm)
    form.client_secret.comm = comm
    _typed_in_page(form.client_secret, secret)
    assert form.has_secret and form.client_secret.value == ""
    assert comm.sent, "the kernel sent nothing (the recording comm is not wired)"
    assert all(secret not in json.dumps(m) for m in comm.sent), comm.sent
    # The same message to a stock Password field is echoed to every front end, secret
    # included: what the form's field turns off.
    stock = widgets.Password()
    stock_comm = _RecordingComm(stock.comm)
    stock.comm = stock_comm
    _typed_in_page(stock, secret)
    assert any(
        m.get("method") == "echo_update" and secret in json.dumps(m) for m in stock_comm.sent
    )


def test_switching_to_the_sandbox_drops_real_credentials(client, sandbox, tmp_path):
    env = tmp_path / "real.env"
    env.write_text("CERKL_CLIENT_ID=real-id\nCERKL_CLIENT_SECRET=real-secret-value\n")
    env.chmod(0o600)
    form = CredentialsForm(client)
    form.load_env(env)
    assert form.environment.value == "production" and form.client_id.value == "real-id"
    form.environment.value = "sandbox"
    assert form.client_id.value == "" and not form.has_secret
    assert "never sent to the sandbox" in form.status_text
    assert form.credentials().client_id == sandbox.client_id  # the demo client
    assert form.submit() is not None
    assert form.client.token_manager.credentials.client_id == sandbox.client_id
    # Typed ones too: a secret typed while on production is dropped on the switch.
    form.environment.value = "production"
    form.client_id.value = "real-id"
    form.set_secret("another-real-secret")
    form.environment.value = "sandbox"
    assert form.client_id.value == "" and not form.has_secret


def test_after_a_refused_secret_the_form_says_so_and_each_try_is_visibly_new(
    sandbox, own_client, monkeypatch
):
    cid, _secret = own_client
    form = CredentialsForm(sandbox_url=sandbox.url)
    form.client_id.value = cid
    form.client_secret.value = "refused-secret-123"
    assert form.submit() is None
    assert "refused" in form.client_secret.placeholder  # not "secret held in memory"
    times = iter(["10:00:00 UTC", "10:00:07 UTC"])
    monkeypatch.setattr("cerkl_nb.widgets.credentials.clock_text", lambda _at: next(times))
    form._last_done = -1e9
    form.submit()
    second = form.status_text
    form._last_done = -1e9
    form.submit()
    # The same refusal twice, visibly two answers: each names its time.
    assert "(10:00:00 UTC)" in second and "(10:00:07 UTC)" in form.status_text
    # Another environment: the error about the previous one goes.
    form.environment.value = "custom"
    assert form.status_kind == "info" and "Environment: custom URL" in form.status_text


def test_a_form_on_its_own_does_not_point_at_a_token_panel(client):
    form = CredentialsForm(client)
    form.submit()
    assert form.status_text.startswith("Got a new access token")
    assert "token panel" not in form.status_text
    dash = dashboard(client)
    dash.form.submit()
    assert "The token panel shows its countdown." in dash.form.status_text
    dash.close()
