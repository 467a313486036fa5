"""The dashboard end to end (headless), and the walk for secrets through every widget."""

from __future__ import annotations

import json
import subprocess
import sys

from ipywidgets.embed import embed_data
from ipywidgets.widgets.widget import _instances

import cerkl_nb
from cerkl_nb.widgets import Dashboard, dashboard


def test_import_cerkl_nb_does_not_import_the_widget_layer():
    code = (
        "import sys, cerkl_nb; "
        "bad = [m for m in ('cerkl_nb.widgets', 'ipywidgets', 'anywidget', 'traitlets', 'IPython') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_one_call_and_two_clicks_to_a_200_on_get_subscriber(sandbox_env):
    dash = cerkl_nb.dashboard() if hasattr(cerkl_nb, "dashboard") else dashboard()
    assert isinstance(dash, Dashboard)
    assert dash.form.environment.value == "sandbox"
    assert dash.form.client_id.value == sandbox_env.client_id
    assert dash.explorer.builder.endpoint.value == "GET /subscriber"
    dash.form.get_token_button.click()  # click 1
    assert dash.panel.state == "fresh" and dash.panel.masked_token
    dash.explorer.send_button.click()  # click 2
    assert dash.explorer.last_response.status == 200
    assert dash.explorer.response.summary_text.startswith("200 OK")
    assert dash.client is dash.explorer.client
    dash.close()


def test_dashboard_rejects_mixed_arguments(client):
    import pytest

    with pytest.raises(TypeError):
        dashboard(client, base_url="https://x")


def test_new_credentials_in_the_form_switch_panel_and_explorer(sandbox, client, own_client):
    cid, secret = own_client
    dash = dashboard(client)
    dash.form.client_id.value = cid
    dash.form.client_secret.value = secret
    dash.form.get_token_button.click()
    new = dash.form.client
    assert new is not client
    assert dash.panel.token_manager is new.token_manager
    assert dash.panel.expires_at > 0
    assert dash.explorer.client is new
    assert dash.explorer.send().status == 200
    dash.close()


def test_no_secret_or_token_in_any_widget_state_after_a_whole_flow(sandbox, own_client):
    cid, secret = own_client
    dash = dashboard(cerkl_nb.connect(sandbox=sandbox))
    form, panel, explorer = dash.form, dash.panel, dash.explorer
    sent: list = []
    panel.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    explorer.bridge.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]

    # credentials typed into the form → token → refresh → requests → snippets → copy
    form.client_id.value = cid
    form.client_secret.value = secret
    form.get_token_button.click()
    tm = dash.client.token_manager
    tokens = {tm.token.access_token.get_secret_value(), tm.token.refresh_token.get_secret_value()}
    panel._handle_custom_msg({"kind": "refresh"}, [])
    tokens |= {tm.token.access_token.get_secret_value(), tm.token.refresh_token.get_secret_value()}
    panel._handle_custom_msg({"kind": "new_token"}, [])
    tokens |= {tm.token.access_token.get_secret_value(), tm.token.refresh_token.get_secret_value()}
    explorer.send_button.click()
    explorer.select("GET", "/subscriber/424242")
    explorer.send_button.click()  # a 404 error path too
    explorer.curl_button.click()
    explorer.python_button.click()
    explorer.insert_button.click()
    panel._handle_custom_msg({"kind": "copy_token"}, [])
    assert len(tokens) == 6
    assert form.status_kind == "ok" and explorer.last_error is not None

    secrets_ = [secret, *tokens]
    # every live widget's state, and the embeddable state of the dashboard
    for model_id, w in list(_instances.items()):
        state = json.dumps(w.get_state(), default=str)
        for s in secrets_:
            assert s not in state, f"a secret is in the state of {type(w).__name__} {model_id}"
    manager_state = json.dumps(embed_data(views=[dash])["manager_state"], default=str)
    reprs = repr(dash) + repr(form) + repr(panel) + repr(explorer)
    bundle = json.dumps(dash._repr_mimebundle_(), default=str)
    texts = form.status_text + explorer.status_text + panel.error + panel.last_refresh
    for s in secrets_:
        assert s not in manager_state
        assert s not in reprs and s not in bundle and s not in texts
    # Only the explicit Copy token message carried the token, once.
    carrying = [m for m in sent if any(s in json.dumps(m) for s in secrets_)]
    assert [m["kind"] for m in carrying] == ["copy"] and carrying[0]["what"] == "access token"
    dash.close()


def test_switching_environment_warns_and_blocks_send_until_a_new_client(client):
    dash = dashboard(client)
    dash.form.submit()
    assert dash.explorer.environment_notice == "" and not dash.explorer.send_button.disabled
    sent_before = len(client.history)

    dash.form.environment.value = "production"
    notice = dash.explorer.environment_notice
    assert notice.startswith("Environment changed to Cerkl production: click Get New Access Token")
    assert dash.panel.notice == notice
    assert dash.explorer.send_button.disabled and dash.explorer.rerun_button.disabled
    assert dash.explorer.status_kind == "warn"
    assert "Environment changed" in dash.explorer.status_text
    assert dash.explorer.send() is None  # a script's send() is refused too
    assert len(client.history) == sent_before  # nothing went to the sandbox

    dash.form.environment.value = "custom"
    dash.form.base_url.value = "https://cerkl.example.test/v3"
    assert "custom URL https://cerkl.example.test/v3" in dash.panel.notice

    # Back to the sandbox: the client in use matches again.
    dash.form.environment.value = "sandbox"
    assert dash.panel.notice == "" and dash.explorer.environment_notice == ""
    assert not dash.explorer.send_button.disabled
    assert dash.explorer.send().status == 200
    dash.close()


def test_a_new_client_for_the_new_environment_clears_the_notice(sandbox, client, own_client):
    cid, secret = own_client
    dash = dashboard(client)
    dash.form.environment.value = "custom"
    dash.form.base_url.value = "https://cerkl.example.test/v3"
    assert dash.panel.notice
    dash.form.base_url.value = sandbox.url  # a "custom" URL that is the sandbox again
    dash.form.client_id.value = cid
    dash.form.set_secret(secret)
    assert dash.form.submit() is not None
    assert dash.explorer.client is dash.form.client and dash.panel.notice == ""
    assert not dash.explorer.send_button.disabled
    dash.close()


def test_wrong_secret_keeps_old_client_token_and_history(client, own_client):
    cid, _secret = own_client
    dash = dashboard(client)
    dash.form.submit()
    assert dash.explorer.send().status == 200
    history_before = list(dash.explorer.history.options)
    expires_before = dash.panel.expires_at
    tm_before = dash.panel.token_manager
    adopted: list = []
    dash.form.on_client(adopted.append)

    dash.form.client_id.value = cid
    dash.form.client_secret.value = "not-the-secret"  # typed: read and cleared
    assert dash.form.submit() is None

    assert adopted == []
    assert dash.form.client is client and dash.explorer.client is client
    assert dash.panel.token_manager is tm_before and dash.panel.expires_at == expires_before
    assert client.token_manager.token is not None
    assert list(dash.explorer.history.options) == history_before
    status = dash.form.status_text
    assert dash.form.status_kind == "error"
    assert "check the client ID and secret you typed".lower() in status.lower()
    assert "Generate New OAuth Credentials" in status
    assert "CERKL_CLIENT_SECRET" not in status
    assert dash.explorer.send().status == 200  # still works with the old client
    dash.close()
