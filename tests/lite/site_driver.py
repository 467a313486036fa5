"""Drive the in-browser site with Chromium: run the tutorials, time the first 200.

Run by ``test_lite_site.py`` as a subprocess, inside a network namespace of its own
(``unshare -n``) when the machine allows it, so that nothing but loopback exists for the
server and the browser. It serves the site with ``python -m http.server`` on 127.0.0.1,
opens notebook 00 twice (a cold visit on a fresh profile, then a warm second visit in the
same profile), then every tutorial, and writes what it saw as JSON.

Every request the page or its workers make is routed through Playwright: one to anything
but the site's own loopback origin is recorded and refused.

Usage::

    python tests/lite/site_driver.py --site _site --out result.json \
        --artifacts test-artifacts/lite [--loopback-up] [--notebooks 00 03 ...]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import re
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    # Nothing in the background: no component updates, safe-browsing lists, sync,
    # field trials or domain-reliability reports.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-pings",
]
FIRST_200_MARK = "Total subscribers:"  # notebook 00 prints it under the first API answer
IDLE = re.compile(r"Pyodide\) \| Idle")
NUMBERED = re.compile(r"^\[\d+\]:$")
PROMPTS_JS = "els => els.map(e => e.textContent.trim())"
STATUS_JS = (
    "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
    ".map(e => e.textContent).join(' | ')"
)
OUTPUTS_JS = """() => [...document.querySelectorAll(
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")]
    .map(e => e.textContent)"""


def bring_up_loopback() -> None:
    """``ip link set lo up`` without iproute2 (a new network namespace starts with it down)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, siocgifflags, ifr))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def interfaces() -> list[str]:
    """The network interfaces this process can see (``lo`` alone inside the namespace)."""
    return sorted(name for _, name in socket.if_nameindex())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """``python -m http.server`` on loopback for the site; stopped by its process id."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port), "-d", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("http.server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_idle(page: Any, timeout_s: float) -> float:
    """Wait until the status bar says the Pyodide kernel is idle; returns the time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if IDLE.search(page.evaluate(STATUS_JS)):
            return time.perf_counter()
        page.wait_for_timeout(200)
    raise TimeoutError(f"the kernel was not idle within {timeout_s:g} s")


def run_all(page: Any) -> None:
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")


def wait_done(page: Any, timeout_s: float) -> list[str]:
    """Wait until every code cell has its number and the kernel is idle (or it stalls:
    after an error, Run All leaves the rest unnumbered). Returns the prompts."""
    deadline = time.monotonic() + timeout_s
    stalled_since = None
    prompts: list[str] = []
    while time.monotonic() < deadline:
        prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", PROMPTS_JS)
        idle = bool(IDLE.search(page.evaluate(STATUS_JS)))
        if idle and prompts and all(NUMBERED.match(p) for p in prompts):
            return prompts
        if idle and not any(p == "[*]:" for p in prompts):
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 5:
                return prompts
        else:
            stalled_since = None
        page.wait_for_timeout(300)
    return prompts


def open_notebook(context: Any, base: str, name: str) -> tuple[Any, float]:
    page = context.new_page()
    started = time.perf_counter()
    page.goto(f"{base}/lab/index.html?path={name}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=120_000)
    return page, started


def visit_start_here(context: Any, base: str, artifacts: Path, label: str) -> dict[str, Any]:
    """Notebook 00: navigation -> kernel idle -> Run All -> the first 200 on screen."""
    page, t0 = open_notebook(context, base, "00-start-here.ipynb")
    ui = time.perf_counter()
    idle = wait_idle(page, 180)
    run_all(page)
    page.wait_for_selector(f"text={FIRST_200_MARK}", timeout=180_000)
    first = time.perf_counter()
    prompts = wait_done(page, 180)
    countdown = []
    with contextlib.suppress(Exception):
        page.wait_for_selector(".ctp-countdown", timeout=30_000)
        countdown.append(page.text_content(".ctp-countdown"))
        page.wait_for_timeout(2000)
        countdown.append(page.text_content(".ctp-countdown"))
    page.screenshot(path=str(artifacts / f"00-start-here-{label}.png"))
    result = {
        "visit": label,
        "ui_s": round(ui - t0, 2),
        "kernel_idle_s": round(idle - t0, 2),
        "first_200_s": round(first - t0, 2),
        "prompts": prompts,
        "countdown": countdown,
        "stderr": page.evaluate(OUTPUTS_JS),
    }
    page.close()
    return result


def run_notebook(context: Any, base: str, name: str, artifacts: Path) -> dict[str, Any]:
    page, t0 = open_notebook(context, base, name)
    try:
        wait_idle(page, 180)
        run_all(page)
        prompts = wait_done(page, 600)
        result = {
            "notebook": name,
            "seconds": round(time.perf_counter() - t0, 1),
            "prompts": prompts,
            "stderr": page.evaluate(OUTPUTS_JS),
        }
    except Exception as exc:  # reported, not raised: the other notebooks still run
        result = {"notebook": name, "failure": f"{type(exc).__name__}: {exc}"}
    page.screenshot(path=str(artifacts / f"{Path(name).stem}.png"))
    page.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--loopback-up", action="store_true")
    parser.add_argument("--notebooks", nargs="*", default=None, help="prefixes, e.g. 00 03")
    args = parser.parse_args(argv)
    if args.loopback_up:
        bring_up_loopback()
    from playwright.sync_api import sync_playwright

    args.artifacts.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in (args.site / "files").glob("*.ipynb"))
    if args.notebooks:
        names = [n for n in names if n.startswith(tuple(args.notebooks))]
    result: dict[str, Any] = {"interfaces": interfaces(), "outside": [], "notebooks": []}
    with serve(args.site) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(base + "/"):
                route.continue_()
            else:
                result["outside"].append(url)
                route.abort()

        def new_context() -> Any:
            # A fresh profile: no cache, no service worker, no saved workspace.
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", guard)
            return context

        context = new_context()
        result["cold"] = visit_start_here(context, base, args.artifacts, "cold")
        args.out.write_text(json.dumps(result, indent=2))
        # The second visit in the same profile: cached files, service worker in place.
        result["warm"] = visit_start_here(context, base, args.artifacts, "warm")
        args.out.write_text(json.dumps(result, indent=2))
        context.close()
        for name in names:
            context = new_context()
            result["notebooks"].append(run_notebook(context, base, name, args.artifacts))
            context.close()
            args.out.write_text(json.dumps(result, indent=2))
        browser.close()
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
