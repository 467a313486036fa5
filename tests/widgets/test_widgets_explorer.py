"""ApiExplorer: catalogue, builder, send, response view, history, snippets, code cells."""

from __future__ import annotations

import json
import threading

import pytest
from ipywidgets.embed import embed_data
from ipywidgets.widgets.widget import _instances

import cerkl_nb
from cerkl_nb.redact import register_secret
from cerkl_nb.widgets import ApiExplorer, current_client, dashboard


@pytest.fixture()
def explorer(client):
    ex = ApiExplorer(client)
    yield ex
    ex.close()


def test_catalog_comes_from_the_sandbox_and_get_subscriber_is_preselected(explorer):
    assert explorer.builder.catalog.source == "sandbox"
    assert explorer.builder.folder.options[0] == "subscriber"
    assert explorer.builder.endpoint.value == "GET /subscriber"
    assert explorer.builder.method.value == "GET" and explorer.builder.path.value == "/subscriber"
    assert explorer.builder.query_section.layout.display is None
    assert explorer.builder.body_section.layout.display == "none"
    assert "Ready: GET /subscriber is selected" in explorer.status_text
    assert "endpoints from the sandbox&#x27;s operations" in explorer.builder.catalog_note.value


def test_send_shows_status_time_size_json_table_and_headers(explorer, client):
    explorer.send_button.click()
    resp = explorer.last_response
    assert resp is not None and resp.status == 200
    assert explorer.response.summary_text.startswith("200 OK · ")
    assert " ms · " in explorer.response.summary_text and "kB" in explorer.response.summary_text
    assert "<details" in explorer.response.body.value  # collapsible JSON
    assert "<table" in explorer.response.table.value and "email" in explorer.response.table.value
    assert "Content-Type" in explorer.response.headers.value or "content-type" in (
        explorer.response.headers.value.lower()
    )
    assert explorer.status_kind == "ok" and "items" in explorer.status_text
    assert len(client.history) == 1
    assert explorer.history.options[0][1] == client.history.entries()[-1].id


def test_path_parameters_from_a_concrete_path_and_a_404_in_the_response_view(explorer):
    ep = explorer.select("GET", "/subscriber/987654321")
    assert ep is not None and ep.path == "/subscriber/{id}"
    assert explorer.builder.path_inputs["id"].value == "987654321"
    assert explorer.send() is None
    assert isinstance(explorer.last_error, cerkl_nb.NotFound)
    assert explorer.response.summary_text.startswith("404 Not Found")
    assert explorer.status_kind == "error" and "404" in explorer.status_text
    assert explorer.response.body.value  # the error body is shown


def test_empty_path_parameter_and_bad_body_are_reported_without_sending(explorer, client):
    explorer.select("GET", "/subscriber/{id}")
    explorer.send_button.click()
    assert "path parameter {id} is empty" in explorer.status_text
    explorer.select("POST", "/segment")
    assert json.loads(explorer.builder.body.value)["template"]["version"] == "3.0"
    explorer.builder.body.value = '{"template": '
    explorer.send_button.click()
    assert "the body is not valid JSON" in explorer.status_text
    assert len(client.history) == 0


def test_post_with_the_template_body_creates_a_record(explorer):
    explorer.select("POST", "/segment")
    body = json.loads(explorer.builder.body.value)
    body["template"]["data"][0]["description"] = "Widget test segment"
    body["template"]["data"][0].pop("external_id", None)
    explorer.builder.body.value = json.dumps(body)
    resp = explorer.send()
    assert resp is not None and resp.status in (200, 201)
    assert resp.items[0]["description"] == "Widget test segment"


def test_filters_json_builder(explorer, client):
    target = client.list("subscriber", page_size=1).items[0]
    explorer.select("GET", "/subscriber")
    explorer.builder.add_filter_button.click()
    row = explorer.builder.filter_rows[0]
    row.field.value = "email"
    row.op.value = "eq"
    row.value.value = target["email"]
    assert json.loads(explorer.builder.filters_json.value) == {"email": {"eq": target["email"]}}
    resp = explorer.send()
    assert resp is not None and [i["id"] for i in resp.items] == [target["id"]]
    row.op.value = "in"
    row.value.value = "1, 2"
    assert json.loads(explorer.builder.filters_json.value) == {"email": {"in": [1, 2]}}
    row.remove.click()
    assert explorer.builder.filters_json.value == "" and not explorer.builder.filter_rows
    explorer.builder.filters_json.value = "{not json"
    explorer.send()
    assert "filters_json is not valid JSON" in explorer.status_text


def test_history_select_loads_and_rerun_sends_again(explorer, client):
    explorer.builder.page_size.value = 3
    explorer.send()
    explorer.select("GET", "/category")
    first_id = client.history.entries()[0].id
    explorer.history.value = first_id  # a click in the history list
    assert explorer.builder.path.value == "/subscriber" and explorer.builder.page_size.value == 3
    explorer.rerun_button.click()
    assert len(client.history) == 2
    last = client.history.entries()[-1]
    assert last.path == "/subscriber" and last.params["page_size"] == 3
    assert explorer.last_response.status == 200
    assert explorer.rerun(10**9) is None and "no longer in the history" in explorer.status_text
    explorer.history.value = None
    explorer.rerun_button.click()
    assert "Select a request" in explorer.status_text


def test_requests_made_by_code_appear_in_the_history(explorer, client):
    client.list("category", page_size=1)
    assert "GET /category" in explorer.history.options[0][0]
    t = threading.Thread(target=lambda: client.list("segment", page_size=1))
    t.start()
    t.join()
    explorer.send()  # the next main-thread interaction applies the relayed update
    labels = [o[0] for o in explorer.history.options]
    assert any("/segment" in label for label in labels)


def test_copy_as_curl_and_python_go_through_a_one_off_message(explorer, client, monkeypatch):
    sent = []
    monkeypatch.setattr(explorer.bridge, "send", lambda content, buffers=None: sent.append(content))
    client.token_manager.fetch()
    token = client.token_manager.token.access_token.get_secret_value()
    curl = explorer.copy_as_curl()
    assert curl.startswith("curl ") and " -G " in curl and "$CERKL_ACCESS_TOKEN" in curl
    assert "page_size=100" in curl
    py = explorer.copy_as_python()
    assert 'os.environ["CERKL_ACCESS_TOKEN"]' in py
    compile(py, "<snippet>", "exec")
    assert [m["kind"] for m in sent] == ["copy", "copy"]
    assert sent[0]["text"] == curl and sent[1]["text"] == py
    for text in (curl, py, json.dumps(explorer.get_state(), default=str)):
        assert token not in text
    explorer.bridge._handle_custom_msg({"kind": "copied", "ok": False, "error": "denied"}, [])
    assert explorer.status_kind == "warn" and "denied" in explorer.status_text


def test_insert_as_code_cell_sends_runnable_cerkl_nb_code(explorer, client, monkeypatch):
    sent = []
    monkeypatch.setattr(explorer.bridge, "send", lambda content, buffers=None: sent.append(content))
    explorer.set_anchor("dashboard-model-id")
    explorer.builder.page_size.value = 2
    code = explorer.insert_code_cell()
    assert sent[-1]["kind"] == "insert_cell" and sent[-1]["code"] == code
    assert sent[-1]["anchor_ids"] == ["dashboard-model-id", explorer.model_id]
    assert "client.list('subscriber', page=1, page_size=2)" in code
    assert current_client() is client
    namespace: dict = {}
    exec(compile(code, "<cell>", "exec"), namespace)  # the inserted cell runs as is
    assert len(namespace["page"].items) == 2
    nonce = sent[-1]["nonce"]
    explorer.bridge._handle_custom_msg({"kind": "inserted", "ok": True, "nonce": nonce}, [])
    assert explorer.status_kind == "ok" and "Inserted a new code cell" in explorer.status_text
    # A page that could not insert the cell after all: the code is shown to copy.
    report = {"kind": "inserted", "ok": False, "nonce": nonce, "error": "no notebook"}
    explorer.bridge._handle_custom_msg(report, [])
    assert explorer.status_kind == "warn" and "no notebook" in explorer.status_text
    assert "client.list(&#x27;subscriber&#x27;" in explorer.snippet.value


def test_without_a_client_the_builtin_catalog_and_a_clear_error():
    ex = ApiExplorer()
    assert ex.builder.catalog.source == "built-in"
    assert ex.builder.endpoint.value == "GET /subscriber"
    ex.send_button.click()
    assert ex.status_kind == "error" and "Get New Access Token" in ex.status_text
    ex.close()


def test_connection_errors_show_in_the_response_view(sandbox):
    client = cerkl_nb.connect(sandbox=sandbox)
    dead = cerkl_nb.CerklClient(
        client.token_manager, settings=client.settings.replace(base_url="http://127.0.0.1:9/v3")
    )
    ex = ApiExplorer(dead)
    assert ex.send() is None
    assert ex.response.summary_text.startswith("No response") or "Error" in ex.response.summary_text
    assert ex.status_kind == "error"
    ex.close()


def test_folder_and_endpoint_dropdowns_drive_the_builder(explorer):
    explorer.builder.folder.value = "segment"
    assert explorer.builder.endpoint.value.split(" ")[1].startswith("/segment")
    key = next(v for _label, v in explorer.builder.endpoint.options if v == "POST /segment")
    explorer.builder.endpoint.value = key
    assert (
        explorer.builder.method.value == "POST"
        and explorer.builder.body_section.layout.display is None
    )
    explorer.builder.method.value = "GET"
    assert explorer.builder.body_section.layout.display == "none"
    explorer.builder.path.value = "/segment/{id}/subscriber"
    assert list(explorer.builder.path_inputs) == ["id"]


def test_response_data_is_not_in_widget_state_and_can_be_cleared(client):
    dash = dashboard(client)
    dash.form.submit()
    ex = dash.explorer
    pushed: list = []
    ex.response.table.send = lambda content, buffers=None: pushed.append(content)  # type: ignore[method-assign]
    resp = ex.send()
    emails = [item["email"] for item in resp.items if item.get("email")]
    assert emails and emails[0] in ex.response.table.value  # shown in the browser ...
    assert any(emails[0] in m.get("html", "") for m in pushed)  # ... via a one-off message
    for model_id, w in list(_instances.items()):
        state = json.dumps(w.get_state(), default=str)
        assert emails[0] not in state, f"response data in {type(w).__name__} {model_id}"
    manager_state = json.dumps(embed_data(views=[dash])["manager_state"], default=str)
    assert emails[0] not in manager_state
    # A view rendered later asks for the content.
    pushed.clear()
    ex.response.table._handle_custom_msg({"kind": "want"}, [])
    assert pushed and emails[0] in pushed[0]["html"]

    ex.clear_button.click()
    assert ex.response.body.value == ex.response.table.value == ex.response.headers.value == ""
    assert ex.last_response is None and ex.response.summary_text == "No response yet."
    assert "not saved with the notebook" in (ApiExplorer.__doc__ or "")
    dash.close()


def test_typed_single_item_path_selects_its_endpoint_and_sends_no_paging(client):
    ex = ApiExplorer(client)
    client.token_manager.fetch()
    assert ex.builder.endpoint.value == "GET /subscriber"
    ex.response.tabs.selected_index = 1
    ex.builder.path.value = "/segment/999999"
    assert ex.builder.endpoint.value == "GET /segment/{id}" and ex.builder.folder.value == "segment"
    assert ex.builder.path.value == "/segment/999999"  # what was typed stays
    assert ex.current_request().params == {}
    assert ex.send() is None
    assert ex.last_error is not None and ex.last_error.status == 404
    assert ex.response.tabs.selected_index == 0  # the error body is in view
    assert ex.status_text.count("/segment/999999") == 1
    assert "failed: GET" not in ex.status_text
    sent = client.history.entries()[-1]
    assert not sent.params
    # Back to the list path: the list endpoint and its paging come back.
    ex.builder.path.value = "/subscriber"
    assert ex.builder.endpoint.value == "GET /subscriber"
    assert ex.current_request().params == {"page": 1, "page_size": 100}
    # A path the catalogue does not know: no endpoint selected.
    ex.builder.path.value = "/nowhere/at/all"
    assert ex.builder.endpoint.value is None
    ex.close()


def test_unexpected_error_in_our_handlers_is_shown_and_fails_the_test(widget_errors, client):
    from cerkl_nb.widgets import ApiExplorer

    explorer = ApiExplorer(client)

    def broken(*_a, **_k):
        raise KeyError("not a CerklError")

    explorer._send_spec = broken  # type: ignore[method-assign]
    explorer.send_button.click()
    # Shown to the user in plain words ...
    assert "Unexpected error (KeyError)" in explorer.status_text
    # ... and recorded, so a test that did not expect it fails.
    assert widget_errors.records
    widget_errors.clear()
    explorer.close()


def test_numbers_and_credential_fields_in_the_body_view_are_redacted():
    from cerkl_nb.widgets._render import json_html

    register_secret("8675309123")  # a numeric secret the process knows
    shown = json_html(
        {"pin": 8675309123, "access_token": "short-tok-1", "nested": [{"n": 8675309123}]},
        open_depth=0,
    )
    assert "8675309123" not in shown and "short-tok-1" not in shown
    assert shown.count("***") >= 3  # leaves, and the collapsed preview, are masked


def test_choosing_another_endpoint_clears_the_previous_response(explorer):
    assert explorer.send().status == 200
    assert explorer.response.summary_text.startswith("200 OK")
    explorer.builder.folder.value = "segment"
    assert explorer.last_response is None
    assert explorer.response.summary_text == "No response yet."
    assert explorer.response.body.value == ""
    assert explorer.status_text.startswith("Ready: GET /segment")


def test_where_cells_cannot_be_added_the_code_is_shown_to_copy(explorer, monkeypatch):
    sent = []
    monkeypatch.setattr(explorer.bridge, "send", lambda content, buffers=None: sent.append(content))
    # A view in a front end without a notebook model (Voilà, VS Code, Colab) says so.
    explorer.bridge._handle_custom_msg({"kind": "capabilities", "insert_cell": False}, [])
    assert explorer.insert_button.description == "Show as code"
    code = explorer.insert_code_cell()
    assert [m["kind"] for m in sent] == ["live"]  # no request the page cannot fulfil
    assert explorer.snippet.layout.display is None
    assert "client.list(&#x27;subscriber&#x27;" in explorer.snippet.value
    assert "does not let widgets add cells" in explorer.status_text
    assert code.startswith("# The explorer's request as a cerkl_nb call.")


def test_a_refused_clipboard_shows_the_snippet_instead(explorer, monkeypatch):
    sent = []
    monkeypatch.setattr(explorer.bridge, "send", lambda content, buffers=None: sent.append(content))
    curl = explorer.copy_as_curl()
    assert explorer.snippet.layout.display == "none"
    report = {"kind": "copied", "ok": False, "nonce": sent[-1]["nonce"], "what": "curl command"}
    explorer.bridge._handle_custom_msg({**report, "error": "denied"}, [])
    assert (
        explorer.status_kind == "warn" and "the curl command is shown below" in explorer.status_text
    )
    assert explorer.snippet.layout.display is None
    assert "$CERKL_ACCESS_TOKEN" in explorer.snippet.value and "curl " in explorer.snippet.value
    assert curl.splitlines()[0].replace("'", "&#x27;") in explorer.snippet.value
    # Another endpoint: the old snippet goes.
    explorer.builder.folder.value = "segment"
    assert explorer.snippet.layout.display == "none"
