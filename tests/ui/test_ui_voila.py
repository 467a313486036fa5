"""The dashboard in Voilà: render, token, countdown, Send, copy, and the insert fallback.

Voilà shows a notebook's outputs as an app, with no notebook model: a widget cannot add
a cell there. The explorer learns that from the page up front, so its button offers the
code to copy instead ("Show as code"), and shows it in a selectable box. Voilà is served
by the same Jupyter server as JupyterLab when the ``voila`` package is installed (no
second server start); without it the test is skipped with the reason.
"""

from __future__ import annotations

import nbformat
import pytest
from dashboard_flow import token_countdown_send_copy
from node_tools import node_module_dir

pytestmark = [pytest.mark.ui, pytest.mark.slow]

NOTEBOOK = "voila.ipynb"


def test_the_dashboard_works_in_voila_and_offers_the_code_instead_of_a_cell(
    jupyter_lab, browser, artifacts_dir
):
    from playwright.sync_api import expect

    pytest.importorskip("voila", reason="Voilà is not installed")
    axe_source = (node_module_dir("axe-core") / "axe.min.js").read_text(encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import cerkl_nb\n\ncerkl_nb.dashboard()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, jupyter_lab.root / NOTEBOOK)
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        page.goto(jupyter_lab.voila_url(NOTEBOOK), wait_until="domcontentloaded")
        panel, explorer = token_countdown_send_copy(page, click_timeout_ms=90_000)

        # No notebook model here: the button says what it can do, and does it.
        show = explorer.get_by_role("button", name="Show as code")
        expect(show).to_be_visible(timeout=10_000)
        show.click()
        snippet = explorer.locator(".cerkl-snippet")
        expect(snippet).to_contain_text("client.list('subscriber'", timeout=10_000)
        expect(explorer).to_contain_text("does not let widgets add cells")

        page.add_script_tag(content=axe_source)
        violations = page.evaluate(
            """async () => (await axe.run({ include: [[".cerkl-dashboard"]] },
                                          { resultTypes: ["violations"] })).violations
                .filter((v) => v.impact === "critical" || v.impact === "serious")
                .map((v) => v.id)"""
        )
        assert not violations, f"axe-core in Voilà: {violations}"
    except Exception:
        page.screenshot(path=str(artifacts_dir / "voila-failure.png"), full_page=True)
        print("server log:\n" + jupyter_lab.log_tail())
        raise
    finally:
        context.close()
