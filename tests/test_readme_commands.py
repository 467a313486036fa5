"""The README's Quickstart: exactly two commands, and both work as written.

The test command is the one `.ci/run` reads out of the README and runs, so CI proves it.
The first command (install, then JupyterLab on the tutorials with the sandbox running) is
run here verbatim, in its own process group, and stopped once both servers answer.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def _quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the Quickstart has no bash block"
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    return [re.sub(r"\s+#.*$", "", ln).strip() for ln in lines]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_quickstart_is_exactly_two_commands() -> None:
    cmds = _quickstart_commands()
    assert len(cmds) == 2, cmds
    assert "cerkl-nb lab" in cmds[0]
    assert "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` extracts the test command from the README; check it finds this one."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pattern = re.search(r"grep -m1 -E '([^']+)' README\.md", ci)
    assert pattern, ".ci/run no longer reads the test command from README.md"
    readme_lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    first = next(ln for ln in readme_lines if re.search(pattern.group(1), ln))
    assert re.sub(r"\s+#.*$", "", first).strip() == _quickstart_commands()[1]


@pytest.mark.slow
def test_first_quickstart_command_starts_lab_and_sandbox() -> None:
    cmd = _quickstart_commands()[0]
    port, token = _free_port(), "readme-test-token"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERKL_")}
    # No browser to open here; JupyterLab reads its port and token from the environment.
    env.update(JUPYTER_PORT=str(port), JUPYTER_TOKEN=token, BROWSER="true")
    proc = subprocess.Popen(
        ["bash", "-c", cmd],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    # A reader thread, so a quiet process never blocks the polling loop.
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        sandbox_url = None
        lab_ok = False
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"Cerkl sandbox at (http://\S+/v3)", "".join(output))
            sandbox_url = m.group(1) if m else None
            if sandbox_url:
                try:
                    r = requests.get(
                        f"http://127.0.0.1:{port}/api/contents/notebooks/00-start-here.ipynb",
                        params={"token": token, "content": "0"},
                        timeout=2,
                    )
                    lab_ok = r.status_code == 200
                except requests.ConnectionError:
                    lab_ok = False
            if lab_ok:
                break
            time.sleep(0.5)
        log = "".join(output)
        assert proc.poll() is None, f"the command ended early:\n{log[-3000:]}"
        assert sandbox_url, f"no sandbox URL printed:\n{log[-3000:]}"
        assert lab_ok, f"JupyterLab did not serve notebook 0 on port {port}:\n{log[-3000:]}"
        health = requests.get(sandbox_url.rsplit("/v3", 1)[0] + "/_sandbox/health", timeout=5)
        assert health.status_code == 200
        lab = requests.get(f"http://127.0.0.1:{port}/lab", params={"token": token}, timeout=10)
        assert lab.status_code == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
