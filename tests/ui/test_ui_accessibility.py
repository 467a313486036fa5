"""The dashboard in JupyterLab Light and Dark: axe-core, text contrast, keyboard, 400 px.

One page per theme (a module-scoped fixture, parametrised by theme) shows the dashboard
after a token and a ``GET /subscriber`` (so the response view is full: 100 items). Each
check then runs on that page:

* axe-core (pinned in ``tests/node``) finds no critical or serious violation in the
  dashboard, in each response tab;
* every text colour in the dashboard has a contrast of at least 4.5:1 against the
  background it is drawn on (measured from computed styles, alpha-composited);
* keyboard only: Tab walks the dashboard without the focus ever dropping to ``<body>``,
  Enter on the busy-while-working buttons leaves the focus on them, and a 100-item
  response is one tab stop;
* at an output width of 400 px nothing overflows horizontally and no button is cut.

The figures measured are written to ``test-artifacts/a11y-<theme>.json``, a screenshot
to ``test-artifacts/dashboard-<theme>.png`` (and, with ``CERKL_NB_UPDATE_SCREENSHOT=1``,
to ``docs/``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from dashboard_flow import get_token, send_for_200
from node_tools import node_module_dir

pytestmark = [pytest.mark.ui, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "accessibility.ipynb"
MIN_CONTRAST = 4.5

# Every element under the dashboard with text of its own (or a form control), with its
# text colour and the background it is drawn on: the element's and its ancestors'
# background colours composited from the page up (semi-transparent ones included).
_CONTRAST_JS = r"""
(root) => {
  const probe = document.createElement("canvas").getContext("2d");
  function rgba(css) {
    // Any CSS colour (rgb(), color(srgb ...) from color-mix ...) to [r, g, b, a] in 0..255.
    probe.clearRect(0, 0, 1, 1);
    probe.fillStyle = "#000";
    probe.fillStyle = css;
    probe.fillRect(0, 0, 1, 1);
    const d = probe.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  }
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  function background(el) {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  }
  const lum = (c) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const out = [];
  for (const el of root.querySelectorAll("*")) {
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || !el.getClientRects().length) continue;
    if (el.closest("[aria-hidden='true']")) continue;
    const control = /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
    // Inactive controls are exempt from the contrast rule (WCAG 1.4.3).
    if (control && (el.disabled || el.type === "hidden")) continue;
    if (el.closest("button:disabled, .mod-disabled")) continue;
    const own = Array.from(el.childNodes)
      .filter((n) => n.nodeType === 3)
      .map((n) => n.textContent.trim())
      .join(" ")
      .trim();
    const text = control ? el.value || "" : own;
    if (!text) continue;
    const bg = background(el);
    const fg = over(rgba(style.color), bg);
    out.push({
      text: text.slice(0, 40),
      tag: el.tagName.toLowerCase(),
      cls: String(el.className || "").slice(0, 60),
      color: style.color,
      ratio: Math.round(ratio(fg, bg) * 100) / 100,
    });
  }
  return out;
}
"""

_FOCUS_JS = r"""
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "BODY";
  const name = el.getAttribute("aria-label") || el.textContent || el.value || "";
  return `${el.tagName.toLowerCase()}|${name.trim().slice(0, 30)}`;
}
"""


def _write_notebook(root) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import cerkl_nb\n\ncerkl_nb.dashboard()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, root / NOTEBOOK)


@pytest.fixture(scope="module")
def axe_source() -> str:
    return (node_module_dir("axe-core") / "axe.min.js").read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=["light", "dark"])
def dashboard_page(request, jupyter_lab, browser, artifacts_dir):
    """The dashboard after Get New Access Token and Send, in one JupyterLab theme."""
    from playwright.sync_api import expect

    theme = request.param
    _write_notebook(jupyter_lab.root)
    jupyter_lab.set_theme(theme)
    context = browser.new_context(viewport={"width": 1280, "height": 2000})
    page = context.new_page()
    figures: dict = {"theme": theme}
    try:
        jupyter_lab.open_notebook(page, NOTEBOOK)
        light = "true" if theme == "light" else "false"
        page.wait_for_selector(
            f"body[data-jp-theme-light='{light}']", state="attached", timeout=30_000
        )
        jupyter_lab.run_first_cell(page)
        get_token(page, click_timeout_ms=60_000)
        explorer = send_for_200(page)
        expect(explorer.locator(".cerkl-json").first).to_be_visible(timeout=10_000)
        # The dashboard in this theme, for the README (copied to docs/ only on request,
        # so a test run leaves git clean).
        shot = artifacts_dir / f"dashboard-{theme}.png"
        page.locator(".cerkl-dashboard").screenshot(path=str(shot))
        if os.environ.get("CERKL_NB_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, REPO / "docs" / shot.name)
        yield page, theme, figures
    except Exception:
        page.screenshot(path=str(artifacts_dir / f"a11y-{theme}-failure.png"), full_page=True)
        print("JupyterLab log:\n" + jupyter_lab.log_tail())
        raise
    finally:
        (artifacts_dir / f"a11y-{theme}.json").write_text(json.dumps(figures, indent=2))
        context.close()


def _select_tab(page, title: str) -> None:
    page.locator(".cerkl-response-tabs .lm-TabBar-tab", has_text=title).click()


def test_axe_finds_no_critical_or_serious_violation(dashboard_page, axe_source):
    page, theme, figures = dashboard_page
    page.add_script_tag(content=axe_source)
    found: dict[str, list] = {}
    for tab in ("Body", "Table", "Headers"):
        _select_tab(page, tab)
        result = page.evaluate(
            """async () => {
                const r = await axe.run({ include: [[".cerkl-dashboard"]] },
                                        { resultTypes: ["violations"] });
                return r.violations.map((v) => ({ id: v.id, impact: v.impact,
                  targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
            }"""
        )
        found[tab] = result
    _select_tab(page, "Body")
    figures["axe"] = found
    serious = [
        (tab, v["id"], v["impact"], v["targets"])
        for tab, violations in found.items()
        for v in violations
        if v["impact"] in ("critical", "serious")
    ]
    assert not serious, f"axe-core in JupyterLab {theme}: {serious}"


def test_every_text_colour_has_a_contrast_of_at_least_4_5(dashboard_page):
    from playwright.sync_api import expect

    page, theme, figures = dashboard_page
    dashboard = page.locator(".cerkl-dashboard")
    measured = []
    for tab in ("Body", "Table", "Headers"):
        _select_tab(page, tab)
        measured += dashboard.evaluate(_CONTRAST_JS)
    _select_tab(page, "Body")
    assert len(measured) > 50, "the probe found almost no text (broken selector?)"

    # The warning colours: another environment in the form (banner, notices).
    environment = page.locator(".cerkl-credentials-form").get_by_role(
        "combobox", name="Environment"
    )
    environment.select_option(label="Cerkl production (api.cerkl.com)")
    notice = page.locator(".cerkl-token-panel [data-f='notice']")
    expect(notice).to_contain_text("Environment changed", timeout=10_000)
    measured += dashboard.evaluate(_CONTRAST_JS)
    environment.select_option(label="Sandbox (local, fake data)")
    expect(notice).to_have_text("", timeout=10_000)

    # The error colours: a 404 (then back to GET /subscriber for the other checks).
    explorer = page.locator(".cerkl-api-explorer")
    path = explorer.get_by_role("textbox", name="Path", exact=True)
    status = explorer.locator(".cerkl-response-status")
    send = explorer.get_by_role("button", name="Send", exact=True)
    path.fill("/segment/999999")
    send.click()
    expect(status).to_contain_text("404 Not Found", timeout=30_000)
    measured += dashboard.evaluate(_CONTRAST_JS)
    path.fill("/subscriber")
    send.click()
    expect(status).to_contain_text("200 OK", timeout=30_000)
    by_colour: dict[str, dict] = {}
    for m in measured:
        worst = by_colour.get(m["color"])
        if worst is None or m["ratio"] < worst["ratio"]:
            by_colour[m["color"]] = m
    figures["contrast"] = sorted(by_colour.values(), key=lambda m: m["ratio"])
    low = [m for m in measured if m["ratio"] < MIN_CONTRAST]
    assert not low, f"text below {MIN_CONTRAST}:1 in JupyterLab {theme}: {low[:10]}"


def test_keyboard_only_focus_never_drops_to_body(dashboard_page):
    from playwright.sync_api import expect

    page, theme, figures = dashboard_page
    focus = lambda: page.evaluate(_FOCUS_JS)  # noqa: E731

    # Enter on the buttons that are busy while they work: the focus stays on them.
    form = page.locator(".cerkl-credentials-form")
    panel = page.locator(".cerkl-token-panel")
    explorer = page.locator(".cerkl-api-explorer")
    pressed = {}
    for name, button, done in (
        (
            "Get New Access Token (form)",
            form.get_by_role("button", name="Get New Access Token"),
            form.locator(".cerkl-status[data-kind='ok']"),
        ),
        (
            "Refresh (panel)",
            panel.get_by_role("button", name="Refresh", exact=True),
            panel.locator("[data-f='last']", has_text="refresh"),
        ),
        (
            "Send (explorer)",
            explorer.get_by_role("button", name="Send", exact=True),
            explorer.locator(".cerkl-response-status", has_text="200 OK"),
        ),
    ):
        button.focus()
        page.keyboard.press("Enter")
        expect(done).to_be_visible(timeout=30_000)
        page.wait_for_timeout(500)  # the busy state has come and gone
        pressed[name] = focus()
        assert pressed[name] != "BODY", f"focus dropped to <body> after Enter on {name}"
    figures["focus_after_enter"] = pressed

    # Tab through the whole dashboard, from the form's first control to past History.
    environment = form.get_by_role("combobox", name="Environment")
    environment.focus()
    ring = environment.evaluate(
        "(el) => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth]; }"
    )
    figures["focus_ring_on_select"] = ring
    assert ring == ["solid", "2px"], f"the focused select's ring is {ring}"
    stops = [focus()]
    for _ in range(80):
        page.keyboard.press("Tab")
        here = focus()
        stops.append(here)
        assert here != "BODY", f"focus dropped to <body> after {stops[-6:]}"
        inside = page.evaluate("() => !!document.activeElement.closest('.cerkl-dashboard')")
        if not inside:
            break
    figures["tab_stops"] = stops
    body_tab = stops.index("li|Body")
    history = next(i for i in range(body_tab, len(stops)) if stops[i].startswith("select|"))
    figures["tab_stops_body_tab_to_history"] = history - body_tab
    # The Body tab (Table and Headers are reached with the arrow keys in the tab list),
    # the JSON view (one stop however many items it shows), then History.
    assert history - body_tab <= 3, stops[body_tab : history + 1]


def test_no_horizontal_overflow_at_400_px(dashboard_page):
    page, theme, figures = dashboard_page
    output = page.locator(".jp-OutputArea-output", has=page.locator(".cerkl-dashboard"))
    output.evaluate("(el) => { el.style.width = '400px'; el.style.maxWidth = '400px'; }")
    page.wait_for_timeout(300)
    report = output.evaluate(
        """(out) => {
            const edge = out.getBoundingClientRect().right + 1;
            const wide = [];
            for (const el of out.querySelectorAll("*")) {
                if (!el.getClientRects().length) continue;
                if (el.parentElement && el.parentElement.closest(".cerkl-scroll, .cerkl-json"))
                    continue;  // inside a scroll region: it scrolls, by design
                const r = el.getBoundingClientRect();
                const by = Math.round(r.right - edge);
                if (r.right > edge) wide.push(`${el.tagName} ${el.className} ${by}px`);
            }
            const cut = Array.from(out.querySelectorAll("button"))
                .filter((b) => b.getClientRects().length && b.scrollWidth > b.clientWidth + 1)
                .map((b) => b.textContent.trim());
            return { wide: wide.slice(0, 10), cut, scroll: out.scrollWidth - out.clientWidth };
        }"""
    )
    output.evaluate("(el) => { el.style.width = ''; el.style.maxWidth = ''; }")
    figures["at_400px"] = report
    assert report["scroll"] <= 0 and not report["wide"], report
    assert not report["cut"], f"buttons cut short at 400 px: {report['cut']}"
