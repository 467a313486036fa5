"""A notebook saved with widget state and reopened: the widgets say they are a snapshot.

JupyterLab's "save widget state" writes the widgets' models into the notebook. Reopened
with a new kernel, the views render from that saved state, connected to nothing: their
buttons do nothing. The token panel and the explorer must say so (and not offer "click
Refresh"), and the response view, which is never saved, must say it was not saved.
"""

from __future__ import annotations

import json
import time

import nbformat
import pytest
from dashboard_flow import get_token, send_for_200

pytestmark = [pytest.mark.ui, pytest.mark.slow]

NOTEBOOK = "snapshot.ipynb"
WIDGETS_PLUGIN = "@jupyter-widgets/jupyterlab-manager:plugin"
STATE_MIME = "application/vnd.jupyter.widget-state+json"


def _write_notebook(root) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import cerkl_nb\n\ncerkl_nb.dashboard()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, root / NOTEBOOK)


def _saved_state(path) -> dict:
    return json.loads(path.read_text()).get("metadata", {}).get("widgets", {}).get(STATE_MIME, {})


def test_a_reopened_notebook_says_its_widgets_are_a_snapshot(
    jupyter_lab, browser, sandbox, artifacts_dir
):
    from playwright.sync_api import expect

    _write_notebook(jupyter_lab.root)
    jupyter_lab.set_theme("light")
    jupyter_lab.put_setting(WIDGETS_PLUGIN, {"saveState": True})
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    page = context.new_page()
    try:
        # A live dashboard: a token, a 200, then the notebook saved with widget state.
        jupyter_lab.open_notebook(page, NOTEBOOK)
        jupyter_lab.run_first_cell(page)
        panel = get_token(page, click_timeout_ms=60_000)
        explorer = send_for_200(page)
        expect(page.locator(".cerkl-snapshot")).to_have_count(0)  # live: no snapshot note
        page.locator(".jp-Notebook").click()
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while not _saved_state(jupyter_lab.root / NOTEBOOK).get("state"):
            assert time.monotonic() < deadline, "the notebook was not saved with widget state"
            page.wait_for_timeout(300)
        context.close()
        jupyter_lab.stop_kernel_of(NOTEBOOK)

        # Reopened: a new kernel, and views of the saved models.
        context = browser.new_context(viewport={"width": 1280, "height": 2000})
        page = context.new_page()
        jupyter_lab.open_notebook(page, NOTEBOOK)
        panel = page.locator(".cerkl-token-panel")
        expect(panel.locator("[data-f='notice']")).to_contain_text(
            "Snapshot saved with the notebook", timeout=30_000
        )
        state_text = panel.locator("[data-f='state-text']").inner_text()
        assert "Refresh" not in state_text, state_text
        assert (
            panel.get_by_role("button", name="Refresh", exact=True).get_attribute("aria-disabled")
            == "true"
        )
        explorer = page.locator(".cerkl-api-explorer")
        expect(explorer.locator(".cerkl-snapshot")).to_contain_text("not connected to a kernel")
        body = explorer.locator(".cerkl-response-tabs .cerkl-html-pane").first
        expect(body).to_contain_text("Response not saved with the notebook")
    except Exception:
        page.screenshot(path=str(artifacts_dir / "snapshot-failure.png"), full_page=True)
        print("JupyterLab log:\n" + jupyter_lab.log_tail())
        raise
    finally:
        context.close()
        jupyter_lab.put_setting(WIDGETS_PLUGIN, {"saveState": False})
        jupyter_lab.stop_kernel_of(NOTEBOOK)
