"""Benchmark what a sandbox user notices: start-up, a list of 100, paging, memory over a soak.

The sandbox runs in its own process (``python -m cerkl_nb.launch.cli sandbox``); the load
comes from threads of this process, each with one keep-alive HTTP/1.1 connection.
Standard library only.

Scenarios:

* ``startup``: ``cerkl-nb sandbox`` spawned until its first 200 (Python start-up
  included), and ``cerkl_nb.sandbox.start()`` in a fresh interpreter until its first 200;
  the median of ``--runs`` each;
* ``list``: ``GET /v3/subscriber?page_size=100``, one client (latency) and
  ``--connections`` clients (requests/s);
* ``paging``: all pages of a 10,000-subscriber organisation, 100 a page, one client, and
  the sandbox's RSS afterwards;
* ``soak``: ``--soak`` single-item GETs while the sandbox's RSS is sampled.

Usage::

    python bench/bench_sandbox.py                   # everything, about a minute
    python bench/bench_sandbox.py --soak 20000 --json out.json
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

BASIC = "Basic " + base64.b64encode(b"cerkl-nb-demo:sandbox-demo-secret-1234").decode()
ADMIN_KEY = secrets.token_urlsafe(32)  # given through the environment, as binder/start does


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_sandbox(subscribers: int) -> tuple[subprocess.Popen, int, float]:
    """Spawn ``cerkl-nb sandbox``; return (process, port, seconds until its first 200)."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cerkl_nb.launch.cli", "sandbox", "--port", str(port)]
        + ["--quiet", "--subscribers", str(subscribers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "CERKL_SANDBOX_KEY": ADMIN_KEY},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/health", timeout=0.5):
                return proc, port, time.perf_counter() - t0
        except OSError:
            time.sleep(0.005)
    proc.kill()
    raise SystemExit("the sandbox did not start: " + proc.stderr.read().decode()[-2000:])


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def get_token(port: int) -> str:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    form = {"Authorization": BASIC, "Content-Type": "application/x-www-form-urlencoded"}
    c.request("POST", "/v3/oauth/Token", body=b"grant_type=client_credentials", headers=form)
    token = json.loads(c.getresponse().read())["access_token"]
    c.close()
    return token


def load(port: int, path: str, token: str, connections: int, total: int) -> dict[str, Any]:
    """``total`` GETs of ``path`` over ``connections`` keep-alive connections."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(n: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(n):
            t0 = time.perf_counter()
            c.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            r = c.getresponse()
            r.read()
            mine.append(time.perf_counter() - t0)
            if r.status != 200:
                with lock:
                    errors[0] += 1
        c.close()
        with lock:
            lat.extend(mine)

    share = [total // connections + (i < total % connections) for i in range(connections)]
    threads = [threading.Thread(target=client, args=(n,)) for n in share]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {
        "requests": len(lat),
        "errors": errors[0],
        "rps": round(len(lat) / wall, 1),
        "p50_ms": round(1000 * lat[len(lat) // 2], 2),
        "p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 2),
    }


# Run in a fresh interpreter: import, start(), a token and a list of 100 (argv[1]: Basic).
_IN_PROCESS = """
import time
t0 = time.perf_counter()
import http.client, json, sys
from cerkl_nb import sandbox
sb = sandbox.start()
c = http.client.HTTPConnection("127.0.0.1", sb.port)
c.request("POST", "/v3/oauth/Token", body=b"grant_type=client_credentials",
          headers={"Authorization": sys.argv[1],
                   "Content-Type": "application/x-www-form-urlencoded"})
tok = json.loads(c.getresponse().read())["access_token"]
c.request("GET", "/v3/subscriber?page_size=100", headers={"Authorization": "Bearer " + tok})
r = c.getresponse(); r.read(); assert r.status == 200
print(time.perf_counter() - t0)
"""


def startup(runs: int) -> dict[str, Any]:
    cli = []
    for _ in range(runs):
        proc, _, ready = start_sandbox(300)
        cli.append(ready)
        stop(proc)
    inproc = [
        float(
            subprocess.run(
                [sys.executable, "-c", _IN_PROCESS, BASIC],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]
    return {
        "cli_first_200_ms": round(1000 * statistics.median(cli), 1),
        "cli_runs_ms": [round(1000 * x, 1) for x in cli],
        "in_process_first_list_ms": round(1000 * statistics.median(inproc), 1),
        "in_process_runs_ms": [round(1000 * x, 1) for x in inproc],
    }


def paging(subscribers: int) -> dict[str, Any]:
    proc, port, ready = start_sandbox(subscribers)
    try:
        token = get_token(port)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        seen, page, t0 = 0, 1, time.perf_counter()
        while True:
            c.request(
                "GET",
                f"/v3/subscriber?page={page}&page_size=100",
                headers={"Authorization": f"Bearer {token}"},
            )
            body = json.loads(c.getresponse().read())
            seen += len(body["data"])
            if body["links"]["next"] is None:
                break
            page += 1
        wall = time.perf_counter() - t0
        c.close()
        return {
            "subscribers": seen,
            "pages": page,
            "seconds": round(wall, 3),
            "ms_per_page": round(1000 * wall / page, 2),
            "startup_ms": round(1000 * ready),
            "rss_kib": rss_kib(proc.pid),
        }
    finally:
        stop(proc)


def soak(total: int, connections: int) -> dict[str, Any]:
    proc, port, _ = start_sandbox(300)
    try:
        token = get_token(port)
        load(port, "/v3/subscriber/100001", token, connections, 2000)  # warm-up
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(rss_kib(proc.pid))
                done.wait(0.5)

        before = rss_kib(proc.pid)
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        r = load(port, "/v3/subscriber/100001", token, connections, total)
        done.set()
        th.join()
        q = max(1, len(samples) // 10)
        r.update(
            rss_before_kib=before,
            rss_after_kib=rss_kib(proc.pid),
            rss_max_kib=max(samples),
            rss_first_10pct_kib=max(samples[:q]),
            rss_last_10pct_kib=max(samples[-q:]),
        )
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/_sandbox/stats", headers={"X-Sandbox-Key": ADMIN_KEY}
        )
        with urllib.request.urlopen(req, timeout=10) as f:
            r["server_internal_errors"] = json.load(f)["internal_errors"]
        return r
    finally:
        stop(proc)


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        model = next(
            (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model
        )
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=5, help="start-ups measured of each kind")
    ap.add_argument("--requests", type=int, default=2000, help="list requests per measurement")
    ap.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    ap.add_argument("--soak", type=int, default=50_000, help="requests in the soak (0: skip)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {"machine": machine(), "settings": vars(args)}
    results["startup"] = startup(args.runs)
    print("startup", results["startup"], flush=True)
    proc, port, _ = start_sandbox(300)
    try:
        token = get_token(port)
        path = "/v3/subscriber?page_size=100"
        load(port, path, token, 1, 200)  # warm-up
        results["list_one_client"] = load(port, path, token, 1, args.requests)
        results["list_parallel"] = load(port, path, token, args.connections, args.requests)
    finally:
        stop(proc)
    print("list   ", results["list_one_client"], results["list_parallel"], flush=True)
    results["paging_10k"] = paging(10_000)
    print("paging ", results["paging_10k"], flush=True)
    if args.soak:
        results["soak"] = soak(args.soak, args.connections)
        print("soak   ", results["soak"], flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
