"""The package as a new user gets it: the wheel with its ``lab`` extra in a fresh virtual
environment, used in an empty folder outside the checkout.

One test walks the user's path: ``cerkl-nb lab --no-browser`` copies the tutorials, runs
the sandbox and serves notebook 0 (with no news prompt in front of it); notebook 0 then runs
top to bottom there and is saved with its outputs, as a user's run would save it; a second
``cerkl-nb lab`` keeps that edited notebook as it was; and one line of Python reaches the
sandbox from the environment. Nothing here imports the checkout: no ``PYTHONPATH``, a
``HOME`` of the test's own, and a virtual environment without system site-packages.

pip installs with ``--no-compile`` (the packages' bytecode is written when first imported
instead), which halves the install's time and changes nothing a user sees.
"""

from __future__ import annotations

import hashlib
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

from cerkl_nb.launch.tutorials import DEFAULT_FOLDER, FIRST_NOTEBOOK

from .building import ROOT, Dist

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TOKEN = "install-test-token"


def _get(url: str, timeout_s: float = 30, method: str = "GET") -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


@pytest.fixture(scope="module")
def user(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A fresh venv with ``cerkl-nb[lab]`` from the wheel, and a user's environment for it."""
    base = tmp_path_factory.mktemp("user")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    drop = ("CERKL_", "PYTHON", "JUPYTER", "VIRTUAL_ENV", "MPL", "IPYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        HOME=str(base / "home"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        JUPYTER_CONFIG_DIR=str(base / "jupyter-config"),
        JUPYTER_DATA_DIR=str(base / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(base / "jupyter-runtime"),
        TMPDIR=str(base),
    )
    (base / "home").mkdir()
    started = time.monotonic()
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile"]
    done = subprocess.run(
        [*pip, f"{dist.wheel}[lab]"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"pip install cerkl-nb[lab] into a fresh venv: {time.monotonic() - started:.0f} s")
    empty = base / "empty"
    empty.mkdir()
    assert ROOT not in empty.parents
    return {"venv": venv, "env": env, "cwd": empty, "base": base}


def _lab(user: dict, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    cmd = [str(user["venv"] / "bin" / "cerkl-nb"), "lab", "--no-browser", "--port", str(port)]
    cmd += ["--sandbox-port", "0", f"--IdentityProvider.token={TOKEN}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=user["cwd"],
            env=user["env"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, port


def _serves_notebook_zero(proc: subprocess.Popen[bytes], port: int, log: Path) -> tuple[bytes, str]:
    """Wait until Lab serves notebook 0; return its contents and the sandbox's root URL."""
    api = f"http://127.0.0.1:{port}/api/contents/notebooks/{FIRST_NOTEBOOK}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status, body = _get(api, timeout_s=5)
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        pytest.fail(f"JupyterLab did not serve {FIRST_NOTEBOOK}:\n{log.read_text()[-3000:]}")
    found = re.search(r"Cerkl sandbox at (http://127\.0\.0\.1:\d+)/v3", log.read_text())
    assert found, log.read_text()
    return body, found.group(1)


def _ended(proc: subprocess.Popen[bytes], port: int, sandbox: str) -> int:
    """Wait for ``cerkl-nb lab`` to end; JupyterLab and the sandbox must be gone with it."""
    try:
        code = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    for url in (f"http://127.0.0.1:{port}/api/status", sandbox + "/_sandbox/health"):
        with pytest.raises(OSError):  # nothing listens any more
            _get(url, timeout_s=2)
    return code


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_user_gets_the_tutorials_a_sandbox_and_notebook_zero_that_runs(
    user: dict,
) -> None:
    tutorials = user["cwd"] / DEFAULT_FOLDER
    first = tutorials / "notebooks" / FIRST_NOTEBOOK
    log = user["base"] / "lab-1.log"
    proc, port = _lab(user, log)
    sandbox = "http://127.0.0.1:9"  # until the log names it
    try:
        body, sandbox = _serves_notebook_zero(proc, port, log)
        assert json.loads(body)["type"] == "notebook"
        assert first.is_file() and (tutorials / ".env.example").is_file()
        assert (tutorials / "docs" / "sandbox.md").is_file()
        assert _get(sandbox + "/_sandbox/health")[0] == 200
        assert _get(f"http://127.0.0.1:{port}/api/contents/docs/sandbox.md")[0] == 200
        page = _get(f"http://127.0.0.1:{port}/lab")[1].decode()
        config = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S)
        assert ANNOUNCEMENTS in json.loads(config.group(1))["disabledExtensions"]
        # File > Shut Down in JupyterLab: cerkl-nb lab ends, and its sandbox with it.
        assert _get(f"http://127.0.0.1:{port}/api/shutdown", method="POST")[0] == 200
    except BaseException:
        proc.terminate()
        _ended(proc, port, sandbox)
        raise
    assert _ended(proc, port, sandbox) == 0, log.read_text()[-3000:]
    assert "copied" in log.read_text()

    # Notebook 0, run top to bottom where the user has it, and saved with its outputs.
    run = subprocess.run(
        [str(user["venv"] / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute"]
        + ["--inplace", "--ExecutePreprocessor.timeout=120", FIRST_NOTEBOOK],
        cwd=first.parent,
        env=user["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    outputs = [o for c in json.loads(first.read_text())["cells"] for o in c.get("outputs", [])]
    assert outputs and not [o for o in outputs if o["output_type"] == "error"]
    edited = _sha256(first)

    # A second run reuses the folder and keeps the edited notebook as it was.
    log = user["base"] / "lab-2.log"
    proc, port = _lab(user, log)
    sandbox = "http://127.0.0.1:9"
    try:
        body, sandbox = _serves_notebook_zero(proc, port, log)
        served = json.loads(body)["content"]["cells"]
        assert any(c.get("outputs") for c in served), "Lab serves the user's saved run"
    finally:
        # A supervisor's SIGTERM to cerkl-nb lab alone ends JupyterLab and the sandbox too.
        proc.terminate()
        _ended(proc, port, sandbox)
    assert _sha256(first) == edited
    assert "copied" not in log.read_text() and not (tutorials / DEFAULT_FOLDER).exists()


def test_one_line_of_python_reaches_the_sandbox_from_the_installed_package(user: dict) -> None:
    code = "import cerkl_nb; print(cerkl_nb.connect(sandbox=True).list('subscriber').total)"
    done = subprocess.run(
        [str(user["venv"] / "bin" / "python"), "-c", code],
        cwd=user["cwd"],
        env=user["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip()) > 0
    where = subprocess.run(
        [str(user["venv"] / "bin" / "python"), "-c", "import cerkl_nb; print(cerkl_nb.__file__)"],
        cwd=user["cwd"],
        env=user["env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(user["venv"]) in where and str(ROOT) not in where
