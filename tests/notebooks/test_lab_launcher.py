"""``cerkl_nb.launch.lab.run_lab``: the sandbox plus JupyterLab on the tutorials, opened at notebook 0."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cerkl_nb.launch.cli import parse_options
from cerkl_nb.launch.lab import (
    DEFAULT_SANDBOX_PORT,
    LabOptions,
    find_notebooks,
    lab_command,
    lab_root,
)
from cerkl_nb.launch.tutorials import FIRST_NOTEBOOK

ROOT = Path(__file__).resolve().parents[2]


def test_parse_options_separates_our_options_from_jupyter_lab_ones() -> None:
    opts = parse_options(
        ["--port", "8890", "--no-browser", "--ServerApp.token=", "--sandbox-port", "0", "--", "-y"]
    )
    assert opts.port == 8890
    assert opts.no_browser
    assert opts.sandbox_port == 0
    assert opts.extra == ["--ServerApp.token=", "-y"]
    defaults = parse_options([])
    assert (defaults.port, defaults.no_browser, defaults.sandbox_port) == (
        None,
        False,
        DEFAULT_SANDBOX_PORT,
    )


def test_parse_options_rejects_a_bad_port() -> None:
    with pytest.raises(SystemExit):
        parse_options(["--sandbox-port", "70000"])


#: Files outside notebooks/ that the notebooks link to. (``.env.example`` is a dot file,
#: which Jupyter does not serve; notebook 0 prints it instead, checked when it runs.)
MENTIONED_FILES = ["docs/sandbox.md", "docs/security.md", "docs/postman.md"]


def test_lab_command_serves_the_project_and_opens_notebook_zero() -> None:
    nbdir = ROOT / "notebooks"
    cmd = lab_command(
        LabOptions(port=8890, no_browser=True, extra=["--foo"]),
        nbdir,
        python="py",
        is_root=False,
    )
    assert cmd[:3] == ["py", "-m", "jupyterlab"]
    # The project folder, so docs/ and .env.example open in the same Lab (as on Binder).
    assert f"--ServerApp.root_dir={ROOT.resolve()}" in cmd
    assert f"--LabApp.default_url=/lab/tree/notebooks/{FIRST_NOTEBOOK}" in cmd
    assert "--ServerApp.port=8890" in cmd and "--no-browser" in cmd
    assert "--allow-root" not in cmd
    assert cmd[-1] == "--foo"


def test_binder_opens_the_same_notebook_under_the_same_root() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"urlpath=lab/tree/notebooks/{FIRST_NOTEBOOK}" in readme
    assert lab_root(ROOT / "notebooks") == ROOT.resolve()


def test_a_copy_of_the_notebooks_alone_is_served_as_it_is(tmp_path: Path) -> None:
    copy = tmp_path / "tutorials"
    copy.mkdir()
    (copy / FIRST_NOTEBOOK).write_text("{}")
    assert lab_root(copy) == copy.resolve()
    cmd = lab_command(LabOptions(), copy, is_root=False)
    assert f"--ServerApp.root_dir={copy.resolve()}" in cmd
    assert f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}" in cmd


def test_lab_command_adds_allow_root_only_as_root_and_only_once() -> None:
    nbdir = ROOT / "notebooks"
    assert "--allow-root" in lab_command(LabOptions(), nbdir, is_root=True)
    twice = lab_command(LabOptions(extra=["--allow-root"]), nbdir, is_root=True)
    assert twice.count("--allow-root") == 1


def test_find_notebooks_from_the_checkout_and_from_the_current_directory(tmp_path: Path) -> None:
    nbdir = (ROOT / "notebooks").resolve()
    assert find_notebooks(cwd=ROOT) == nbdir
    assert find_notebooks(cwd=nbdir) == nbdir
    # Nothing here: fall back to the source checkout next to the package.
    assert find_notebooks(cwd=tmp_path) == nbdir
    # A copy of the tutorials in the current directory wins over the checkout.
    copy = tmp_path / "notebooks"
    copy.mkdir()
    (copy / FIRST_NOTEBOOK).write_text("{}")
    assert find_notebooks(cwd=tmp_path) == copy.resolve()
    assert find_notebooks(copy) == copy.resolve()
    with pytest.raises(FileNotFoundError, match="does not contain"):
        find_notebooks(tmp_path / "nowhere")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout_s: float = 30) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=timeout_s) as r:
            return r.status, r.headers.get("Location", "")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location", "")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_cerkl_nb_lab_serves_notebook_zero_with_a_sandbox_and_stops_it(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERKL_")}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
    )
    # Through the CLI entry point, as the README's `cerkl-nb lab` runs it.
    code = (
        "import sys; from cerkl_nb.launch.cli import main; "
        f"sys.exit(main(['lab', '--no-browser', '--port', '{port}', '--sandbox-port', '0', "
        "'--IdentityProvider.token=']))"
    )
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        status, location = 0, ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                # Short while polling for the server; the later calls may take longer on
                # a loaded machine (a fresh JupyterLab's first contents request is slow).
                status, location = _get(f"http://127.0.0.1:{port}/", timeout_s=2)
                break
            except OSError:
                time.sleep(0.3)
        assert status == 302, log.read_text()
        assert location.rstrip("?").endswith(f"/lab/tree/notebooks/{FIRST_NOTEBOOK}")
        for path in [f"notebooks/{FIRST_NOTEBOOK}", *MENTIONED_FILES]:
            assert _get(f"http://127.0.0.1:{port}/api/contents/{path}")[0] == 200, path
        # Notebook 0 comes first: JupyterLab's news prompt is switched off for this server.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=30) as r:
            page = r.read().decode()
        config = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S)
        disabled = json.loads(config.group(1))["disabledExtensions"]
        assert "@jupyterlab/apputils-extension:announcements" in disabled
        found = re.search(r"Cerkl sandbox at (http://127\.0\.0\.1:\d+)/v3", log.read_text())
        assert found, log.read_text()
        sandbox_root = found.group(1)
        assert _get(sandbox_root + "/_sandbox/health")[0] == 200

        # Ctrl-C in the terminal reaches both processes; both must end, the sandbox too.
        os.killpg(proc.pid, signal.SIGINT)
        # lab.py waits 10 s for JupyterLab, then terminates it and waits up to 30 s more.
        assert proc.wait(timeout=75) is not None
        with pytest.raises(OSError):
            _get(sandbox_root + "/_sandbox/health", timeout_s=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
