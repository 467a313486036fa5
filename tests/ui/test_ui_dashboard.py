"""The quick start in a real JupyterLab: empty notebook → 200 on GET /subscriber.

One import, one call, then clicks in headless Chromium:

1. Get New Access Token → the token panel shows a live countdown;
2. the countdown goes down over two seconds while the page sends the kernel no comm
   message (it ticks in the browser);
3. Refresh → the expiry moves;
4. Send in the explorer (GET /subscriber is preselected) → status 200;
5. Insert as code cell → a new cell with the cerkl_nb call appears below.

A screenshot of the dashboard is saved to ``test-artifacts/dashboard.png`` (the README's
two-theme screenshots come from ``test_ui_accessibility.py``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.ui, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

NOTEBOOK = "quickstart.ipynb"
HMS = re.compile(r"^(\d\d):(\d\d):(\d\d)$")


def _write_notebook(root) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import cerkl_nb\n\ncerkl_nb.dashboard()"),
        # Not part of the quick start: keeps the kernel busy to show the countdown
        # does not need it.
        nbformat.v4.new_code_cell("import time\n\ntime.sleep(6)"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / NOTEBOOK)


def _seconds(text: str) -> int:
    m = HMS.match(text.strip())
    assert m, f"not a countdown: {text!r}"
    h, mi, s = (int(g) for g in m.groups())
    return h * 3600 + mi * 60 + s


class CommCounter:
    """Counts comm messages on the page's kernel websocket, in each direction."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, str, str]] = []

    def attach(self, ws) -> None:
        if "/api/kernels/" not in ws.url:
            return
        ws.on("framesent", lambda payload: self._on_frame("to-kernel", payload))
        ws.on("framereceived", lambda payload: self._on_frame("from-kernel", payload))

    def _on_frame(self, direction: str, payload) -> None:
        data = payload if isinstance(payload, (bytes, bytearray)) else str(payload).encode()
        for kind in (b"comm_msg", b"comm_open", b"comm_close"):
            if kind in data:
                self.frames.append((time.monotonic(), direction, kind.decode()))
                break

    def count_since(self, t0: float, direction: str) -> int:
        return sum(1 for t, d, _ in self.frames if t >= t0 and d == direction)


def test_empty_notebook_to_200_with_one_call_and_clicks(
    jupyter_lab, browser, sandbox, artifacts_dir
):
    from playwright.sync_api import expect

    _write_notebook(jupyter_lab.root)
    jupyter_lab.set_theme("light")
    context = browser.new_context(viewport={"width": 1280, "height": 2200})
    page = context.new_page()
    comms = CommCounter()
    page.on("websocket", comms.attach)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    try:
        jupyter_lab.open_notebook(page, NOTEBOOK)
        jupyter_lab.run_first_cell(page)
        form = page.locator(".cerkl-credentials-form")
        get_token = form.get_by_role("button", name="Get New Access Token")
        expect(get_token).to_be_visible(timeout=60_000)

        panel = page.locator(".cerkl-token-panel")
        countdown = panel.locator("[data-f='countdown']")
        expires = panel.locator("[data-f='expires']")
        expect(countdown).to_have_text("—")
        tokens_before = sandbox.stats().get("tokens_issued")

        # Typing a secret (not needed with the sandbox's demo client): the kernel reads it
        # once and clears the field, so it never stays in widget state.
        secret_field = form.locator("input[type='password']")
        secret_field.fill(sandbox.client_secret)
        secret_field.press("Tab")  # the field syncs on blur
        expect(form).to_contain_text("Client secret received and hidden", timeout=10_000)
        # ... in the status line, a live region that screen readers announce.
        expect(form.get_by_role("status")).to_contain_text("Client secret received")
        expect(secret_field).to_have_value("")

        # Click 1: Get New Access Token. A double click, even: one token request.
        grants_before = sandbox.stats()["client_credentials"]
        get_token.dblclick()
        expect(countdown).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"), timeout=20_000)
        expect(panel.locator("[data-f='badge']")).to_have_text("fresh")
        expect(panel.locator("[data-f='masked']")).to_contain_text("••••")
        expect(get_token).to_be_enabled()
        page.wait_for_timeout(300)  # let the click's own messages drain
        assert sandbox.stats()["client_credentials"] == grants_before + 1

        # The countdown ticks in the browser: it goes down while the page sends no comm
        # message to the kernel.
        t0 = time.monotonic()
        first = _seconds(countdown.inner_text())
        page.wait_for_timeout(2_300)
        second = _seconds(countdown.inner_text())
        sent_during = comms.count_since(t0, "to-kernel")
        received_during = comms.count_since(t0, "from-kernel")
        assert second < first, f"countdown did not go down: {first} → {second}"
        assert first - second <= 4
        assert sent_during == 0, f"{sent_during} comm messages sent while counting down"
        assert received_during == 0, f"{received_during} comm messages from the kernel meanwhile"
        assert comms.frames, "the websocket observer saw no comm traffic at all (broken probe?)"

        # Refresh: the expiry moves (the new token is issued ~2.5 s later).
        expiry_before = expires.inner_text()
        panel.get_by_role("button", name="Refresh", exact=True).click()
        expect(expires).not_to_have_text(expiry_before, timeout=20_000)
        expect(panel.locator("[data-f='last']")).to_contain_text("refresh", timeout=10_000)
        expect(panel.locator("[data-f='error']")).to_be_hidden()
        # Screen readers hear it (aria-live="polite").
        expect(panel.locator("[data-f='live']")).to_have_text("Access token refreshed")

        # Click 2: Send (GET /subscriber is preselected) → 200.
        explorer = page.locator(".cerkl-api-explorer")
        # Buttons carry no icon-font glyph: their accessible names are the plain labels.
        explorer.get_by_role("button", name="Send", exact=True).click()
        status = explorer.locator(".cerkl-response-status")
        expect(status).to_contain_text("200 OK", timeout=20_000)
        expect(status).to_contain_text("GET /subscriber")
        # The body arrives in a one-off message (not widget state) and is rendered.
        body_pane = explorer.locator(".cerkl-response-tabs .cerkl-html-pane").first
        expect(body_pane).to_contain_text("email", timeout=10_000)
        expect(explorer.get_by_role("tablist", name="Response view")).to_have_count(1)
        stats = sandbox.stats()
        if tokens_before is not None and "tokens_issued" in stats:
            assert stats["tokens_issued"] >= tokens_before + 2

        # A screenshot as a test artifact (scroll the dashboard into view first).
        dashboard = page.locator(".cerkl-dashboard")
        dashboard.scroll_into_view_if_needed()
        shot = artifacts_dir / "dashboard.png"
        dashboard.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000

        # Copy token: a visible confirmation on the button, not only for screen readers.
        panel.get_by_role("button", name="Copy token").click()
        expect(panel.locator("[data-act='copy']")).to_have_text(
            re.compile(r"^(Copied ✓|Copy failed)$"), timeout=10_000
        )

        # The countdown keeps ticking while the kernel is busy in another cell.
        cells = page.locator(".jp-Notebook .jp-Cell")
        cells.nth(1).locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        busy = page.locator(".jp-Notebook-ExecutionIndicator[data-status='busy']")
        expect(busy).to_be_visible(timeout=10_000)
        first = _seconds(countdown.inner_text())
        page.wait_for_timeout(2_300)
        second = _seconds(countdown.inner_text())
        assert busy.is_visible(), "the kernel finished sleeping too early for this check"
        assert second < first, f"countdown stalled while the kernel was busy: {first} → {second}"
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        expect(idle).to_be_visible(timeout=20_000)

        # Insert as code cell: a new cell below the dashboard holds the equivalent
        # cerkl_nb call, and it runs.
        cells_before = cells.count()
        explorer.get_by_role("button", name="Insert as code cell").click()
        expect(cells).to_have_count(cells_before + 1, timeout=15_000)
        new_cell = cells.nth(1)
        expect(new_cell).to_contain_text("client.list('subscriber'", timeout=10_000)
        expect(explorer).to_contain_text("Inserted a new code cell", timeout=10_000)
        new_cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        output = new_cell.locator(".jp-OutputArea-output")
        expect(output).to_contain_text("'email'", timeout=30_000)

        # Another environment in the form: the panel says so and Send is disabled until
        # a client for it exists; back to the sandbox, all is as before.
        env = form.get_by_role("combobox", name="Environment")
        env.select_option(label="Cerkl production (api.cerkl.com)")
        notice = panel.locator("[data-f='notice']")
        expect(notice).to_contain_text("Environment changed to Cerkl production", timeout=10_000)
        send = explorer.get_by_role("button", name="Send", exact=True)
        expect(send).to_be_disabled()
        env.select_option(label="Sandbox (local, fake data)")
        expect(notice).to_be_hidden(timeout=10_000)
        expect(send).to_be_enabled()

        ours = [e for e in console_errors if "anywidget" in e or "cerkl" in e.lower()]
        assert not ours, f"browser console errors from the widgets: {ours}"
    except Exception:
        page.screenshot(path=str(artifacts_dir / "dashboard-failure.png"), full_page=True)
        print("JupyterLab log:\n" + jupyter_lab.log_tail())
        print("console errors:\n" + "\n".join(console_errors[-20:]))
        raise
    finally:
        context.close()


def test_countdown_announces_five_minutes_left(jupyter_lab, browser, sandbox):
    """A short-lived token crosses the 5-minute mark while we watch: aria-live says so."""
    from playwright.sync_api import expect

    sandbox.register_client("ui-short-lived", "ui-short-lived-secret-1", token_lifetime_s=315)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import cerkl_nb\n"
            "from cerkl_nb.widgets import TokenPanel\n\n"
            "client = cerkl_nb.connect(client_id='ui-short-lived',\n"
            "                          client_secret='ui-short-lived-secret-1',\n"
            f"                          base_url={sandbox.url!r})\n"
            "client.token_manager.fetch()\n"
            "TokenPanel(client)"
        )
    ]
    nbformat.write(nb, jupyter_lab.root / "five_minutes.ipynb")
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    try:
        jupyter_lab.open_notebook(page, "five_minutes.ipynb")
        jupyter_lab.run_first_cell(page)
        panel = page.locator(".cerkl-token-panel")
        countdown = panel.locator("[data-f='countdown']")
        expect(countdown).to_have_text(re.compile(r"^00:05:[01]\d$"), timeout=60_000)
        live = panel.locator("[data-f='live']")
        expect(live).to_have_text("Access token expires in 5 minutes", timeout=25_000)
        expect(countdown).to_have_text(re.compile(r"^00:04:5\d$"))
        expect(panel.locator("[data-f='badge']")).to_have_text("fresh")
    except Exception:
        page.screenshot(path=str(REPO / "test-artifacts" / "five-minutes-failure.png"))
        raise
    finally:
        context.close()
