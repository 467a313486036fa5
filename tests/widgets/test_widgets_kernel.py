"""In a real ipykernel: listener events from other threads reach the widgets via the loop."""

from __future__ import annotations

import re

import nbformat
import pytest

pytestmark = pytest.mark.slow


def test_thread_updates_are_applied_by_the_kernel_loop(sandbox_env, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(src)
        for src in (
            "import threading\n"
            "import cerkl_nb\n"
            "from cerkl_nb.widgets import dashboard\n"
            "dash = dashboard()\n"
            "t = threading.Thread(target=dash.client.token_manager.fetch)\n"
            "t.start(); t.join()\n"
            "print('loop', dash.panel._relay._loop is not None)\n"
            "print('before', dash.panel.expires_at > 0)",
            # No call into the widgets in between: the kernel's event loop applied the
            # relayed update while it was idle between the two cells.
            "print('after', dash.panel.expires_at > 0, len(dash.panel._relay._pending))",
            # A whole flow, then the dashboard is displayed (its state is saved by nbclient).
            "dash.form.submit()\n"
            "dash.panel.refresh()\n"
            "print('status', dash.explorer.send().status)\n"
            "dash",
        )
    ]
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    out = "".join(o.get("text", "") for c in nb.cells for o in c.outputs)
    assert "loop True" in out, out
    assert "before False" in out, out
    assert "after True 0" in out, out
    assert "status 200" in out, out
    # The executed notebook, with the widget state nbclient stores, holds no secret and
    # nothing shaped like a Cerkl token (40 hex characters).
    saved = nbformat.writes(nb)
    assert "application/vnd.jupyter.widget-state+json" in saved
    assert sandbox_env.client_secret not in saved
    assert re.search(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])", saved) is None
