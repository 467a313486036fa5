"""The dashboard in Notebook 7: render, token, countdown, Send, copy, insert, axe-core.

Notebook 7 is served by the same Jupyter server as JupyterLab when the ``notebook``
package is installed, so this costs no second server start. Without the package the
test is skipped with the reason.
"""

from __future__ import annotations

import nbformat
import pytest
from dashboard_flow import token_countdown_send_copy
from node_tools import node_module_dir

pytestmark = [pytest.mark.ui, pytest.mark.slow]

NOTEBOOK = "notebook7.ipynb"


def test_the_dashboard_works_in_notebook_7(jupyter_lab, browser, artifacts_dir):
    from playwright.sync_api import expect

    pytest.importorskip("notebook", minversion="7", reason="Notebook 7 is not installed")
    axe_source = (node_module_dir("axe-core") / "axe.min.js").read_text(encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import cerkl_nb\n\ncerkl_nb.dashboard()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, jupyter_lab.root / NOTEBOOK)
    jupyter_lab.set_theme("light")
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        jupyter_lab.open_notebook(page, NOTEBOOK, app="notebook")
        # Notebook 7's own shell, not JupyterLab's.
        assert "/notebooks/" in page.url and page.locator(".jp-LabShell").count() == 0
        jupyter_lab.run_first_cell(page)
        panel, explorer = token_countdown_send_copy(page, click_timeout_ms=60_000)

        # Insert as code cell: Notebook 7 has a notebook model, so the cell appears.
        cells = page.locator(".jp-Notebook .jp-Cell")
        before = cells.count()
        explorer.get_by_role("button", name="Insert as code cell").click()
        expect(cells).to_have_count(before + 1, timeout=15_000)
        expect(cells.nth(1)).to_contain_text("client.list('subscriber'")

        page.add_script_tag(content=axe_source)
        violations = page.evaluate(
            """async () => (await axe.run({ include: [[".cerkl-dashboard"]] },
                                          { resultTypes: ["violations"] })).violations
                .filter((v) => v.impact === "critical" || v.impact === "serious")
                .map((v) => v.id)"""
        )
        assert not violations, f"axe-core in Notebook 7: {violations}"
    except Exception:
        page.screenshot(path=str(artifacts_dir / "notebook7-failure.png"), full_page=True)
        print("server log:\n" + jupyter_lab.log_tail())
        raise
    finally:
        context.close()
        jupyter_lab.stop_kernel_of(NOTEBOOK)
