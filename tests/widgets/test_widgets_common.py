"""What the widgets share: the time format, the page code, busy buttons, status lines."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import ipywidgets as widgets
import pytest
from ipywidgets.widgets.widget import _instances
from node_tools import node

import cerkl_nb
from cerkl_nb.widgets import TokenPanel, dashboard
from cerkl_nb.widgets._bridge import FrontEndBridge, HtmlPane, StatusLine
from cerkl_nb.widgets._common import clock_text, set_busy

STATIC = Path(cerkl_nb.__file__).parent / "widgets" / "static"


def is_busy(button) -> bool:
    """Marked busy (focusable, aria-busy on the page), the way the widgets mark a button."""
    return "cerkl-busy" in button._dom_classes


def test_clock_text_is_24_hour_with_zone_and_date_when_not_today():
    now = time.time()
    today = clock_text(now, now=now)
    assert re.fullmatch(r"\d\d:\d\d:\d\d \S+", today)
    tomorrow = clock_text(now + 86_400, now=now)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", tomorrow)


def test_one_clipboard_helper_shared_by_the_bridge_and_the_token_panel():
    definition = "async function writeClipboard("
    files = {p.name: p.read_text() for p in STATIC.glob("*.js")}
    assert [name for name, text in files.items() if definition in text] == ["shared.js"]
    for esm in (FrontEndBridge._esm, TokenPanel._esm):
        assert esm.count(definition) == 1 and "writeClipboard(msg" in esm


def test_buttons_have_clean_names_and_busy_keeps_them_enabled(client):
    dash = dashboard(client)
    buttons = [w for w in list(_instances.values()) if isinstance(w, widgets.Button)]
    # No icon: ipywidgets draws it with an icon font whose glyph joins the button's name.
    assert buttons and all(b.icon == "" for b in buttons)
    send = dash.explorer.send_button
    set_busy(send, True)
    assert is_busy(send) and not send.disabled  # focusable; the page marks it aria-busy
    set_busy(send, False)
    assert not is_busy(send)
    # The page code names the response tab list; the stylesheet draws a 2px focus ring.
    assert 'setAttribute("aria-label", "Response view")' in FrontEndBridge._esm
    css = (STATIC / "widgets.css").read_text()
    assert re.search(r"input:focus-visible[^{]*\{[^}]*outline: 2px solid", css, re.S)
    dash.close()


def test_status_lines_update_one_persistent_live_region(client):
    dash = dashboard(client)
    status = dash.form.status
    assert isinstance(status, StatusLine)
    model_id = status.model_id
    dash.form.submit()
    assert dash.form.status.model_id == model_id  # the same widget, its text changed
    assert status.kind == "ok" and status.text == dash.form.status_text
    assert "<" not in status.text
    status.show("error", "<img src=x onerror=alert(1)> failed")
    assert "<img" not in status.value and "&lt;img" in status.value  # text, never markup
    # The page code makes the line's persistent content element the live region.
    assert '".cerkl-status-line .widget-html-content"' in FrontEndBridge._esm
    assert 'setAttribute("aria-live", "polite")' in FrontEndBridge._esm
    dash.close()


@pytest.mark.parametrize("widget", [FrontEndBridge, HtmlPane, TokenPanel])
def test_page_code_is_valid_javascript(widget, tmp_path):
    # The modules exactly as the page loads them (shared helpers prepended).
    module = tmp_path / f"{widget.__name__}.mjs"
    module.write_text(widget._esm)
    proc = subprocess.run(
        [str(node()), "--check", str(module)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr


def test_each_view_can_tell_a_live_kernel_from_a_saved_snapshot(client, monkeypatch):
    # Page code that hears nothing back within a few seconds says it shows saved state;
    # with a kernel, each widget answers at once.
    dash = dashboard(client)
    answers: list = []
    for w in (dash.panel, dash.explorer.bridge, dash.explorer.response.body):
        monkeypatch.setattr(w, "send", lambda content, buffers=None: answers.append(content))
    dash.panel._handle_custom_msg({"kind": "hello"}, [])
    dash.explorer.bridge._handle_custom_msg({"kind": "capabilities", "insert_cell": True}, [])
    dash.explorer.response.body._handle_custom_msg({"kind": "want"}, [])
    assert [a["kind"] for a in answers] == ["hello", "live", "html"]
    assert "not saved with the notebook" in dash.explorer.response.body.unsaved_note
    dash.close()
