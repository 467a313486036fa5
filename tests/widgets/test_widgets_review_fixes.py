"""Fixes from the second browser review: environment switch, failed fetch, privacy, wording."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import ipywidgets as widgets
import pytest
from ipywidgets.embed import embed_data
from ipywidgets.widgets.widget import _instances

import cerkl_nb
from cerkl_nb.widgets import ApiExplorer, dashboard
from cerkl_nb.widgets._common import FOCUS_STYLE, clock_text

STATIC = Path(cerkl_nb.__file__).parent / "widgets" / "static"


# -- 1. environment switch ----------------------------------------------------------------
def test_switching_environment_warns_and_blocks_send_until_a_new_client(client):
    dash = dashboard(client)
    dash.form.submit()
    assert dash.environment_notice == "" and not dash.explorer.send_button.disabled
    sent_before = len(client.history)

    dash.form.environment.value = "production"
    notice = dash.environment_notice
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
    assert dash.panel.notice == "" and dash.environment_notice == ""
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


# -- 2. a wrong secret keeps the working client ------------------------------------------
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


def test_refused_credentials_from_env_still_name_the_variables(sandbox, tmp_path):
    form_env = tmp_path / ".env"
    form_env.write_text(
        f"CERKL_CLIENT_ID=nobody\nCERKL_CLIENT_SECRET=wrong\nCERKL_BASE_URL={sandbox.url}\n"
    )
    from cerkl_nb.widgets import CredentialsForm

    form = CredentialsForm(sandbox_url=sandbox.url)
    form.load_env(form_env)
    assert form.submit() is None
    assert "CERKL_CLIENT_ID" in form.status_text
    assert form.client is None
    form.close()


# -- 3. no response data in widget state ---------------------------------------------------
def test_response_data_is_not_in_widget_state_and_can_be_cleared(client):
    dash = dashboard(client)
    dash.form.submit()
    ex = dash.explorer
    pushed: list = []
    ex.response_table.send = lambda content, buffers=None: pushed.append(content)  # type: ignore[method-assign]
    resp = ex.send()
    emails = [item["email"] for item in resp.items if item.get("email")]
    assert emails and emails[0] in ex.response_table.value  # shown in the browser ...
    assert any(emails[0] in m.get("html", "") for m in pushed)  # ... via a one-off message
    for model_id, w in list(_instances.items()):
        state = json.dumps(w.get_state(), default=str)
        assert emails[0] not in state, f"response data in {type(w).__name__} {model_id}"
    manager_state = json.dumps(embed_data(views=[dash])["manager_state"], default=str)
    assert emails[0] not in manager_state
    # A view rendered later asks for the content.
    pushed.clear()
    ex.response_table._handle_custom_msg({"kind": "want"}, [])
    assert pushed and emails[0] in pushed[0]["html"]

    ex.clear_button.click()
    assert ex.response_body.value == ex.response_table.value == ex.response_headers.value == ""
    assert ex.last_response is None and ex.response_status_text == "No response yet."
    assert "not saved with the notebook" in (ApiExplorer.__doc__ or "")
    dash.close()


# -- 5 / 8. wording and one time format ----------------------------------------------------
def test_clock_text_is_24_hour_with_zone_and_date_when_not_today():
    now = time.time()
    today = clock_text(now, now=now)
    assert re.fullmatch(r"\d\d:\d\d:\d\d \S+", today)
    tomorrow = clock_text(now + 86_400, now=now)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", tomorrow)


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


def test_token_row_shows_the_mask_alone(client):
    dash = dashboard(client)
    dash.form.submit()
    assert dash.panel.masked_token == "••••••••" and dash.panel.token_type == "Bearer"
    dash.close()


# -- 6. a typed path follows the catalogue ------------------------------------------------
def test_typed_single_item_path_selects_its_endpoint_and_sends_no_paging(client):
    ex = ApiExplorer(client)
    client.token_manager.fetch()
    assert ex.endpoint.value == "GET /subscriber"
    ex.response_tabs.selected_index = 1
    ex.path.value = "/segment/999999"
    assert ex.endpoint.value == "GET /segment/{id}" and ex.folder.value == "segment"
    assert ex.path.value == "/segment/999999"  # what was typed stays
    assert ex.current_request().params == {}
    assert ex.send() is None
    assert ex.last_error is not None and ex.last_error.status == 404
    assert ex.response_tabs.selected_index == 0  # the error body is in view
    assert ex.status_text.count("/segment/999999") == 1
    assert "failed: GET" not in ex.status_text
    sent = client.history.entries()[-1]
    assert not sent.params
    # Back to the list path: the list endpoint and its paging come back.
    ex.path.value = "/subscriber"
    assert ex.endpoint.value == "GET /subscriber"
    assert ex.current_request().params == {"page": 1, "page_size": 100}
    # A path the catalogue does not know: no endpoint selected.
    ex.path.value = "/nowhere/at/all"
    assert ex.endpoint.value is None
    ex.close()


# -- 7. accessibility --------------------------------------------------------------------
def test_buttons_have_clean_names_a_focus_ring_and_the_tabs_a_label(client):
    dash = dashboard(client)
    buttons = [w for w in list(_instances.values()) if isinstance(w, widgets.Button)]
    assert buttons and all(b.icon == "" for b in buttons)
    assert any(getattr(c, "value", None) == FOCUS_STYLE for c in dash.form.children)
    assert "focus-visible" in FOCUS_STYLE and "2px" in FOCUS_STYLE
    assert dash.explorer.response_body.tablist_label == "Response view"
    assert "cerkl-response-tabs" in dash.explorer.response_tabs._dom_classes
    dash.close()


# -- 4 / 5 / 9. the token panel's page code ----------------------------------------------
@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_token_panel_js_rounds_up_and_redraws_on_state_change(tmp_path):
    js = (STATIC / "token_panel.js").read_text()
    assert "text !== lastText || state !== lastState" in js  # bar + aria on expiry
    assert "the next request renews it automatically (or click Refresh)" in js
    assert "Copied ✓" in js  # visible confirmation
    assert '<dt>Token</dt><dd><code data-f="masked">—</code></dd>' in js
    mod = tmp_path / "panel.mjs"
    mod.write_text(js)
    script = (
        f"import {{ formatHMS, localTime }} from {json.dumps(mod.as_uri())};\n"
        "const now = new Date(2026, 10, 29, 16, 0, 0).getTime();\n"
        "console.log(JSON.stringify([formatHMS(500), formatHMS(0), formatHMS(-5),\n"
        "  formatHMS(3599001), localTime(now + 3600e3, now), localTime(now + 86400e3, now),\n"
        "  localTime(0, now)]));\n"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    a, zero, neg, hour, today, tomorrow, empty = json.loads(out)
    assert (a, zero, neg, hour) == ("00:00:01", "00:00:00", "00:00:00", "01:00:00")
    assert re.fullmatch(r"17:00:00( \S+)?", today)
    assert re.fullmatch(r"2026-11-30 16:00:00( \S+)?", tomorrow)
    assert empty == "—"
