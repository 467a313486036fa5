"""Shared parts of ``bench/bench_core.py``: a sandbox in a child process, the machine line.

Not timed tests: helpers that produce figures for bench/README.md.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import socket
import subprocess
import sys
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandbox:
    """A sandbox in a child process, so that its work does not share our GIL."""

    def __init__(self, subscribers: int = 300, max_records: int = 50_000) -> None:
        self.port = free_port()
        self.key = secrets.token_urlsafe(32)
        cmd = [sys.executable, "-c", _LAUNCH, str(self.port), self.key]
        self.proc = subprocess.Popen(
            [*cmd, str(subscribers), str(max_records)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(self.proc.stderr.read().decode())
        info = json.loads(line)
        self.url = info["url"]
        self.root = self.url.rsplit("/v3", 1)[0]
        self._handle: Any = None

    @property
    def handle(self) -> Any:
        """A ``cerkl_nb.sandbox`` handle (faults, credentials), attached with the key."""
        if self._handle is None:
            from cerkl_nb.sandbox import attach

            self._handle = attach(self.root, key=self.key)
        return self._handle

    def client(self) -> Any:
        """A client of this sandbox, as a notebook would build it."""
        import cerkl_nb

        return cerkl_nb.connect(sandbox=self.handle)

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
