"""The part of the dashboard's walk-through that every front end shares.

Get New Access Token, the countdown ticking in the browser, Send, and Copy token: the
Notebook 7 and Voila tests drive these the same way, then check what differs (inserting a
cell, or showing the code instead).
"""

from __future__ import annotations

import re
from typing import Any

HMS = re.compile(r"^(\d\d):(\d\d):(\d\d)$")


def countdown_seconds(text: str) -> int:
    """``"11:59:58"`` → 43198; fails the test on anything that is not a countdown."""
    m = HMS.match(text.strip())
    assert m, f"not a countdown: {text!r}"
    h, mi, s = (int(g) for g in m.groups())
    return h * 3600 + mi * 60 + s


def get_token(page: Any, *, click_timeout_ms: int) -> Any:
    """Press Get New Access Token and wait for a fresh token; return the token panel."""
    from playwright.sync_api import expect

    form = page.locator(".cerkl-credentials-form")
    form.get_by_role("button", name="Get New Access Token").click(timeout=click_timeout_ms)
    panel = page.locator(".cerkl-token-panel")
    expect(panel.locator("[data-f='badge']")).to_have_text("fresh", timeout=30_000)
    return panel


def send_for_200(page: Any) -> Any:
    """Send the explorer's preselected call and wait for 200 OK; return the explorer."""
    from playwright.sync_api import expect

    explorer = page.locator(".cerkl-api-explorer")
    explorer.get_by_role("button", name="Send", exact=True).click()
    expect(explorer.locator(".cerkl-response-status")).to_contain_text("200 OK", timeout=30_000)
    return explorer


def token_countdown_send_copy(page: Any, *, click_timeout_ms: int) -> tuple[Any, Any]:
    """Get a token, watch the countdown tick, send the preselected call, copy the token.

    Returns the token panel's and the explorer's locators.
    """
    from playwright.sync_api import expect

    panel = get_token(page, click_timeout_ms=click_timeout_ms)
    countdown = panel.locator("[data-f='countdown']")
    first = countdown_seconds(countdown.inner_text())
    page.wait_for_timeout(2_300)
    assert countdown_seconds(countdown.inner_text()) < first, "the countdown does not tick"

    explorer = send_for_200(page)
    body = explorer.locator(".cerkl-response-tabs .cerkl-html-pane").first
    expect(body).to_contain_text("email", timeout=10_000)

    panel.get_by_role("button", name="Copy token").click()
    expect(panel.locator("[data-act='copy']")).to_have_text("Copied ✓", timeout=10_000)
    return panel, explorer
