"""Real-browser fixtures: JupyterLab on a temporary directory, driven by headless Chromium.

The system's ``chromium`` (Debian's package) is launched through Playwright's
``executable_path``, as Playwright's own browser downloads are not used. One JupyterLab
subprocess serves the whole test session (starting one takes several seconds), on a free
loopback port with a fixed token; it is stopped by its process id at the end. Tests
switch its theme through the settings API and open their notebooks in workspaces of
their own.

Without Chromium or Playwright these tests skip with the reason, except under
``CI=true``, where a missing browser is a failure (``.ci/run`` installs chromium).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in containers
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the browser test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    """The system Chromium (``$CERKL_CHROMIUM`` overrides)."""
    explicit = os.environ.get("CERKL_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed (pip install playwright; no browser download needed)")
    path = find_chromium()
    if path is None:
        _missing("Chromium is not installed (apt-get install -y chromium)")
    return path  # type: ignore[return-value]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings_dir: Path) -> None:
    """User settings for a quiet, reproducible JupyterLab (no news toast, no update check)."""
    notif = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notif.parent.mkdir(parents=True, exist_ok=True)
    notif.write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})
    )


THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


class JupyterLab:
    """A running JupyterLab server, and the steps every browser test takes in it."""

    def __init__(self, proc: subprocess.Popen, url: str, token: str, root: Path, log: Path):
        self.proc = proc
        self.url = url
        self.token = token
        self.root = root
        self.log = log

    def notebook_url(self, name: str) -> str:
        """The notebook in a workspace of its own (no tabs restored from another test)."""
        workspace = "ws-" + secrets.token_hex(4)
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?token={self.token}"

    def api(self, method: str, path: str, **kwargs):
        """A call to the server's REST API (``path`` from the root, such as ``/api/...``)."""
        import requests

        headers = {"Authorization": f"token {self.token}"}
        resp = requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp

    def voila_url(self, name: str) -> str:
        """``name`` rendered by Voilà (served by the same server when it is installed)."""
        return f"{self.url}/voila/render/{name}?token={self.token}"

    def put_setting(self, plugin: str, values: dict) -> None:
        """Set a plugin's user settings (pages opened from now on use them)."""
        self.api("PUT", f"/lab/api/settings/{plugin}", json={"raw": json.dumps(values)})

    def set_theme(self, theme: str) -> None:
        """Make ``"light"`` or ``"dark"`` the theme of pages opened from now on."""
        self.put_setting("@jupyterlab/apputils-extension:themes", {"theme": THEMES[theme]})

    def stop_kernel_of(self, name: str) -> None:
        """Shut down the session (and kernel) of notebook ``name``."""
        for session in self.api("GET", "/api/sessions").json():
            if session.get("path") == name:
                self.api("DELETE", f"/api/sessions/{session['id']}")

    def open_notebook(self, page, name: str, *, app: str = "lab") -> None:
        """Open ``name`` and wait until its kernel is idle (an early Shift+Enter is lost).

        ``app="notebook"`` opens it in Notebook 7 (served by the same server when the
        ``notebook`` package is installed) instead of JupyterLab. Voilà, which runs the
        notebook itself, is opened with :meth:`voila_url`.
        """
        if app == "notebook":
            url = f"{self.url}/notebooks/{name}?token={self.token}"
        else:
            url = self.notebook_url(name)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
        )

    def run_first_cell(self, page) -> int:
        """Run the first cell; retry while the page shows it was never queued.

        A Shift+Enter sent while the notebook is still settling can be lost. The prompt
        turns to ``[*]`` the moment the page queues the execution, so a prompt still
        showing ``[ ]`` means "press again", and a queued cell is never run twice.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout
        from playwright.sync_api import expect

        prompt = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-prompt")
        for attempt in range(1, 9):
            accept_kernel_dialog(page)
            try:
                # Short timeout: a dialog that pops up late intercepts the click; accept
                # it and try again rather than waiting 30 s.
                page.locator(".jp-Notebook .jp-Cell .cm-content").first.click(timeout=3_000)
            except PlaywrightTimeout:
                continue
            page.keyboard.press("Shift+Enter")
            try:
                expect(prompt).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=4_000)
                return attempt
            except AssertionError:
                continue
        raise AssertionError("the first cell never started running")

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def accept_kernel_dialog(page) -> None:
    """Accept JupyterLab's "Select Kernel" dialog if it shows (the default is right)."""
    for _ in range(10):
        dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
        if not dialog.count():
            return
        try:
            dialog.first.locator("button.jp-mod-accept").click(timeout=2_000)
        except Exception:  # it may close by itself between the check and the click
            pass
        page.wait_for_timeout(300)


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory, chromium_path, sandbox) -> Iterator[JupyterLab]:
    """JupyterLab on a temporary directory; its kernels use the test session's sandbox."""
    import requests

    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    root.mkdir()
    for sub in ("settings", "workspaces", "config", "data", "runtime", "ipython"):
        (base / sub).mkdir()
    _write_settings(base / "settings")
    port = _free_port()
    token = secrets.token_hex(16)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CERKL_", "BINDER_", "JUPYTER"))
    }
    env.update(
        {
            # The kernel's cerkl_nb.connect() attaches to this sandbox (no credentials set).
            "CERKL_SANDBOX_URL": sandbox.url,
            # The key that proves the sandbox is ours (attach() asks for it).
            "CERKL_SANDBOX_KEY": sandbox.key,
            "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
            "JUPYTER_CONFIG_DIR": str(base / "config"),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "IPYTHONDIR": str(base / "ipython"),
            "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
        }
    )
    log = base / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--allow-root",
        "--LabApp.news_url=",
        "--ServerApp.open_browser=False",
    ]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    lab = JupyterLab(proc, url, token, root, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited early:\n{lab.log_tail()}", pytrace=False)
            try:
                if requests.get(f"{url}/lab?token={token}", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start in 60 s:\n{lab.log_tail()}", pytrace=False)
            time.sleep(0.3)
        yield lab
    finally:
        # Stop the server we started (its own process group: kernels go with it).
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the
# main thread while it is open, which would break later tests that call asyncio.run().
# A Chromium launch costs about a second; the JupyterLab server stays session-wide.
@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob("*-failure.png"):  # from an earlier failed run
        stale.unlink()
    return ARTIFACTS
