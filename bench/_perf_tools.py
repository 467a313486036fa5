"""Shared parts of ``bench/bench_perf.py``: sandbox processes, load generation, timing.

Not timed tests: helpers that produce figures for bench/README.md.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Runs in a child process: a sandbox with the given size, its demo client printed as JSON
# (a fake demo secret that exists only in this sandbox), then waits to be terminated.
_LAUNCH = """
import json, sys, time
from cerkl_nb.sandbox import start
from cerkl_nb.sandbox.settings import SandboxConfig
port, key, subs, max_records = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = SandboxConfig(subscribers=subs, max_records=max_records)
sb = start(port=port, config=cfg, key=key)
print(json.dumps({"url": sb.url, "token_url": sb.token_url, "client_id": sb.client_id,
                  "client_secret": sb.client_secret}), flush=True)
while True:
    time.sleep(3600)
"""

# Runs in a child process: `threads` keep-alive connections GET `path` for `seconds`.
_LOADGEN = """
import http.client, json, sys, threading, time
host, port, path, token, threads, seconds = sys.argv[1:7]
port, threads, seconds = int(port), int(threads), float(seconds)
counts, errors = [0] * threads, [0] * threads
def run(i):
    c = http.client.HTTPConnection(host, port, timeout=30)
    h = {"Authorization": "Bearer " + token, "Accept": "application/json"}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        c.request("GET", path, headers=h)
        r = c.getresponse()
        r.read()
        counts[i] += 1
        errors[i] += r.status != 200
ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
t0 = time.perf_counter()
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps({"requests": sum(counts), "errors": sum(errors),
                  "seconds": time.perf_counter() - t0}))
"""


# Runs in a child process: CPU per request of the sandbox application alone (no HTTP),
# for a list of 100 subscribers and a single subscriber.
_APP_CPU = """
import json, time
from cerkl_nb.sandbox.app import App
from cerkl_nb.sandbox.settings import DEMO_CLIENTS, SandboxConfig
from cerkl_nb.sandbox.messages import Request
app = App(SandboxConfig())
tok = app.tokens.issue(DEMO_CLIENTS[0])["access_token"]
h = {"host": "127.0.0.1:8765", "authorization": "Bearer " + tok, "accept": "application/json"}
out = {}
for name, target in (("list", "/v3/subscriber?page_size=100"), ("single", "/v3/subscriber/100001")):
    req = Request("GET", target, h)
    assert app.handle(req).status == 200
    t = time.process_time()
    for _ in range(1000):
        app.handle(req)
    out[name] = (time.process_time() - t) / 1000 * 1e6
cache = getattr(app.store, "rendered", None)  # absent before the list cache
if hasattr(cache, "keep_page"):
    # A page asked for the first time since the last write: whole pages are not kept yet,
    # each record's JSON is (the first read of a page while paging through a list).
    req = Request("GET", "/v3/subscriber?page_size=100", h)
    t = time.process_time()
    for _ in range(1000):
        cache._pages, cache._page_bytes = {}, 0
        app.handle(req)
    out["list_first_read"] = (time.process_time() - t) / 1000 * 1e6
print(json.dumps(out))
"""


def app_cpu_us(pythonpath: str | None = None) -> dict[str, float]:
    """CPU µs per request inside the sandbox application (``pythonpath``: another copy)."""
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    out = subprocess.run(
        [sys.executable, "-c", _APP_CPU],
        cwd=pythonpath or ROOT,
        env=env,
        capture_output=True,
        check=True,
        text=True,
    )
    return json.loads(out.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sandbox:
    """A sandbox in a child process (``pythonpath`` selects another copy of the package)."""

    def __init__(
        self, subscribers: int = 300, max_records: int = 50_000, pythonpath: str | None = None
    ) -> None:
        self.port = free_port()
        self.key = secrets.token_urlsafe(32)
        env = {**os.environ}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        cmd = [sys.executable, "-c", _LAUNCH, str(self.port), self.key]
        self.proc = subprocess.Popen(
            [*cmd, str(subscribers), str(max_records)],
            cwd=pythonpath or ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(self.proc.stderr.read().decode())
        info = json.loads(line)
        self.url, self.token_url = info["url"], info["token_url"]
        self.client_id, self.client_secret = info["client_id"], info["client_secret"]
        self.root = self.url.rsplit("/v3", 1)[0]
        self._handle: Any = None

    @property
    def handle(self) -> Any:
        """A ``cerkl_nb.sandbox`` handle (faults, credentials), attached with the key."""
        if self._handle is None:
            from cerkl_nb.sandbox import attach

            self._handle = attach(self.root, key=self.key)
        return self._handle

    def token(self) -> str:
        import requests

        r = requests.post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
            timeout=30,
        )
        r.raise_for_status()
        return r.json()["access_token"]

    def load(self, path: str, token: str, threads: int, seconds: float) -> dict[str, float]:
        """Requests/s and server CPU per request for GET ``path`` from a load process."""
        cpu0 = cpu_seconds(self.proc.pid)
        out = subprocess.run(
            [sys.executable, "-c", _LOADGEN, "127.0.0.1", str(self.port), path, token]
            + [str(threads), str(seconds)],
            capture_output=True,
            check=True,
            text=True,
        )
        res = json.loads(out.stdout)
        n = max(res["requests"], 1)
        res["server_cpu_ms"] = (cpu_seconds(self.proc.pid) - cpu0) / n * 1000
        res["rps"] = res["requests"] / res["seconds"]
        return res

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def package_at(rev: str) -> str:
    """A temporary directory holding ``cerkl_nb`` as it was at git revision ``rev``."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", rev, "cerkl_nb"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    where = tempfile.mkdtemp(prefix="cerkl-nb-baseline-")
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(where, filter="data")
    return where


def cpu_per_call(fn: Callable[[], Any], n: int) -> float:
    """CPU seconds of this process per call of ``fn``, over ``n`` calls."""
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n


def interleaved(
    fns: dict[str, Callable[[], Any]], n: int, rounds: int, warm: int = 50
) -> dict[str, float]:
    """Median CPU per call of each function, batches interleaved in rotating order."""
    names = list(fns)
    for name in names:
        for _ in range(warm):
            fns[name]()
    got: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        if r % 2:
            order.reverse()
        for name in order:
            got[name].append(cpu_per_call(fns[name], n))
    return {k: statistics.median(v) for k, v in got.items()}


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load_1min_at_start": f"{load:.1f}",
    }
