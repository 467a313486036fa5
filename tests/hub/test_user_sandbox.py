"""One sandbox per user, started with their notebook server (no hub needed for these).

What a shared host relies on: ``--port 0`` publishes the real URL in a private ready-file,
the sandbox ends with the process that started it, a ready-file that is not the user's
own is never taken, links follow a proxy prefix only when it is one the starter
configured, and the CLI says what to do inside a hub.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cerkl_nb.launch import cli
from cerkl_nb.launch.serverproxy import setup_cerkl_sandbox
from cerkl_nb.launch.workshop import proxy_prefixes
from cerkl_nb.sandbox import SandboxConfig, SandboxError, attach, ensure, start
from cerkl_nb.sandbox.ready import read_ready_file, write_ready_file

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERKL_", "JUPYTERHUB_"))}
    env["PYTHONPATH"] = str(ROOT)  # the subprocesses run this checkout's code
    env.update(extra)
    return env


def _wait(predicate, timeout_s: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _port_closed(url: str) -> bool:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) != 0


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it no longer serves.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_port_zero_publishes_the_real_url_in_a_private_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "state" / "sandbox.json"
    key = "k" * 32
    proc = subprocess.Popen(
        [sys.executable, "-m", "cerkl_nb.launch.cli", "sandbox", "--port", "0", "--quiet"]
        + ["--ready-file", str(ready)],
        env=_env(CERKL_SANDBOX_KEY=key),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        data = _wait(lambda: read_ready_file(ready), what="the ready-file")
        assert data["key"] == key and data["pid"] == proc.pid
        assert not data["url"].endswith(":0") and data["url"].startswith("http://127.0.0.1:")
        assert stat.S_IMODE(ready.stat().st_mode) == 0o600
        assert stat.S_IMODE(ready.parent.stat().st_mode) == 0o700
        sb = attach(data["url"], key=key)
        assert sb.client_id
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not ready.exists(), "the ready-file outlived its sandbox"
    assert _port_closed(data["url"])


def test_sandbox_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    ready = tmp_path / "sandbox.json"
    # A parent that starts the sandbox and then waits; SIGKILL gives it no chance to clean.
    parent_code = (
        "import os, subprocess, sys, time\n"
        "os.environ['CERKL_SANDBOX_PARENT_PID'] = str(os.getpid())\n"
        "subprocess.Popen([sys.executable, '-m', 'cerkl_nb.launch.cli', 'sandbox', '--port', '0',"
        f" '--quiet', '--exit-with-parent', '--ready-file', {str(ready)!r}],"
        " stdout=subprocess.DEVNULL)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], env=_env())
    try:
        data = _wait(lambda: read_ready_file(ready), what="the ready-file")
        parent.kill()
        parent.wait(timeout=30)
        _wait(lambda: _pid_gone(data["pid"]), 30, "the orphaned sandbox to end")
        _wait(lambda: _port_closed(data["url"]), 10, "the port to close")
    finally:
        if parent.poll() is None:
            parent.kill()
        data = read_ready_file(ready)
        if data and not _pid_gone(data["pid"]):
            os.kill(data["pid"], signal.SIGKILL)
    assert not ready.exists()


def test_with_sandbox_publishes_it_to_the_command_and_takes_it_down_after(tmp_path: Path) -> None:
    state = tmp_path / "home" / ".cerkl-nb"
    child = (
        "import json, os\n"
        "print(json.dumps({'url': os.environ['CERKL_SANDBOX_URL'],"
        " 'key': bool(os.environ.get('CERKL_SANDBOX_KEY')), 'pid': os.getpid()}))\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cerkl_nb.launch.cli",
            "with-sandbox",
            "--",
            sys.executable,
            "-c",
            child,
        ],
        env=_env(CERKL_NB_STATE_DIR=str(state), JUPYTERHUB_SERVICE_PREFIX="/user/ada/"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["key"] and seen["url"].startswith("http://127.0.0.1:")
    assert f"sandbox running at {seen['url']}" in out.stderr
    _wait(lambda: _port_closed(seen["url"]), 30, "the sandbox to end with its command")
    log = (state / "sandbox.log").read_text()
    assert stat.S_IMODE((state / "sandbox.log").stat().st_mode) == 0o600
    assert f"API base      {seen['url']}/v3" in log  # the sandbox's own output, in the user's dir
    _wait(lambda: not (state / "sandbox.json").exists(), 10, "the ready-file to go")


def test_binder_start_with_port_zero_exports_the_url_at_once(tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    env = _env(CERKL_SANDBOX_PORT="0", CERKL_NB_STATE_DIR=str(tmp_path / "state"))
    # binder/start runs the cerkl-nb on PATH; make sure it is one running this checkout.
    shim = tmp_path / "bin" / "cerkl-nb"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cerkl_nb.launch.cli "$@"\n')
    shim.chmod(0o755)
    env["PATH"] = f"{shim.parent}{os.pathsep}{bindir}{os.pathsep}{env.get('PATH', '')}"
    t0 = time.monotonic()
    out = subprocess.run(
        ["bash", str(ROOT / "binder" / "start"), "sh", "-c", 'echo "$CERKL_SANDBOX_URL"'],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - t0
    url = out.stdout.strip()
    assert out.returncode == 0 and url.startswith("http://127.0.0.1:"), out.stderr
    assert not url.endswith(":0")
    assert took < 20, f"binder/start took {took:.1f} s"
    _wait(lambda: _port_closed(url), 30, "no orphan after the command ended")


def test_a_ready_file_others_can_read_or_that_is_not_ours_is_ignored(tmp_path: Path) -> None:
    ready = tmp_path / "sandbox.json"
    write_ready_file(ready, url="http://127.0.0.1:1", key="x" * 32, pid=1)
    assert read_ready_file(ready) is not None
    ready.chmod(0o644)
    assert read_ready_file(ready) is None
    ready.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(ready, 54321, -1)
        assert read_ready_file(ready) is None
    link = tmp_path / "link.json"
    link.symlink_to(ready)
    assert read_ready_file(link) is None


def test_ensure_finds_the_sandbox_in_the_ready_file_when_the_environment_lost_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = start(config=SandboxConfig())
    try:
        monkeypatch.delenv("CERKL_SANDBOX_URL", raising=False)
        monkeypatch.delenv("CERKL_SANDBOX_KEY", raising=False)
        monkeypatch.setenv("CERKL_NB_STATE_DIR", str(tmp_path))
        write_ready_file(tmp_path / "sandbox.json", url=sb.root_url, key=sb.key)
        assert ensure().root_url == sb.root_url
    finally:
        sb.stop()


def test_links_follow_the_proxy_prefix_only_when_it_is_configured_and_exact() -> None:
    sb = start(config=SandboxConfig())
    try:
        app = sb._server.app
        port = sb.port
        app.set_proxy_prefixes([p.replace("{port}", str(port)) for p in proxy_prefixes("/u/ada/")])
        prefixed = f"/u/ada/proxy/{port}"

        def servers(prefix: str | None, proto: str | None = None) -> str:
            h = {"Host": "hub.example.org"}
            if prefix is not None:
                h["X-Forwarded-Prefix"] = prefix
            if proto:
                h["X-Forwarded-Proto"] = proto
            spec = requests.get(sb.openapi_url, headers=h, timeout=30).json()
            token_url = spec["components"]["securitySchemes"]["cerklOAuth"]["flows"][
                "clientCredentials"
            ]["tokenUrl"]
            assert token_url == spec["servers"][0]["url"] + "/oauth/Token"
            return spec["servers"][0]["url"]

        assert servers(prefixed) == f"http://hub.example.org{prefixed}/v3"
        assert servers("/u/ada/cerkl-sandbox/", "https") == (
            "https://hub.example.org/u/ada/cerkl-sandbox/v3"
        )
        # Anything else is ignored: another path, a look-alike, a traversal.
        for other in ("/evil", f"{prefixed}/..", "/u/ada/cerkl-sandbox/x", "//evil.example"):
            assert servers(other) == "http://hub.example.org/v3", other
        index = requests.get(
            sb.root_url + "/", headers={"X-Forwarded-Prefix": prefixed}, timeout=30
        )
        assert index.json()["token_url"].startswith(f"{sb.root_url}{prefixed}/v3/")
        with pytest.raises(ValueError):
            app.set_proxy_prefixes(["relative/path"])
    finally:
        sb.stop()


def test_server_proxy_entry_point_proxies_the_published_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERKL_SANDBOX_URL", "http://127.0.0.1:43210")
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    cfg = setup_cerkl_sandbox()
    assert cfg["command"] == [] and cfg["port"] == 43210
    assert cfg["launcher_entry"]["enabled"] is True
    monkeypatch.delenv("JUPYTERHUB_USER")
    assert setup_cerkl_sandbox()["launcher_entry"]["enabled"] is False
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="jupyter_serverproxy_servers")}
    assert names.get("cerkl-sandbox") == "cerkl_nb.launch.serverproxy:setup_cerkl_sandbox", (
        "reinstall this checkout (pip install -e .) to register the entry point"
    )


def test_server_proxy_entry_point_starts_a_sandbox_when_none_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CERKL_SANDBOX_URL", raising=False)
    monkeypatch.setenv("CERKL_NB_STATE_DIR", str(tmp_path))
    cfg = setup_cerkl_sandbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # What jupyter-server-proxy does with the template: substitute, then run.
    cmd = [
        a.replace("{port}", str(port)).replace("{base_url}", "/user/ada/") for a in cfg["command"]
    ]
    proc = subprocess.Popen(cmd, env=_env(CERKL_NB_STATE_DIR=str(tmp_path)))
    try:
        data = _wait(lambda: read_ready_file(tmp_path / "sandbox.json"), what="the ready-file")
        assert data["url"] == f"http://127.0.0.1:{port}"
        spec = requests.get(
            data["url"] + "/v3/openapi.json",
            headers={"X-Forwarded-Prefix": "/user/ada/cerkl-sandbox"},
            timeout=30,
        ).json()
        assert spec["servers"][0]["url"].endswith("/user/ada/cerkl-sandbox/v3")
        assert attach(data["url"], key=data["key"]).client_id
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_sandbox_on_a_busy_port_in_a_hub_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    monkeypatch.setenv("CERKL_SANDBOX_URL", "http://127.0.0.1:40001")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["sandbox", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "--port 0" in err
    assert "already runs your own sandbox at http://127.0.0.1:40001" in err


def test_lab_inside_a_hub_points_to_the_jupyterlab_the_learner_is_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.delenv("CERKL_SANDBOX_URL", raising=False)
    assert cli.main(["lab", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "/user/ada/lab" in err and "could not be reached" in err


def test_attach_refuses_a_published_sandbox_with_the_wrong_key() -> None:
    sb = start(config=SandboxConfig())
    try:
        with pytest.raises(SandboxError):
            attach(sb.root_url, key="w" * 43)
    finally:
        sb.stop()


def test_the_recipe_shows_exactly_the_config_file_the_hub_test_loads() -> None:
    doc = (ROOT / "docs" / "workshops.md").read_text()
    config = (ROOT / "docs" / "workshop_config.py").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert config in blocks, "docs/workshops.md must show docs/workshop_config.py verbatim"
    assert config.count('c.Spawner.cmd = ["cerkl-nb", "with-sandbox"') == 1
