"""Benchmark the sandbox: requests/s and p50/p99 latency, plus memory across a soak run.

The sandbox runs in its own process (``python -m cerkl_nb.launch.cli sandbox``), the load
generator in others (``--processes`` worker processes, each with ``--connections``
threads holding one persistent HTTP/1.1 keep-alive connection). Nothing outside the
standard library is needed; if ``wrk`` is installed, ``--wrk`` adds its figures too.

Scenarios:

* ``single``: ``GET /v3/subscriber/100001`` (goal: >= 1,000 requests/s);
* ``list``: ``GET /v3/subscriber?page_size=100``;
* ``token``: ``POST /v3/oauth/Token`` (client credentials, HTTP Basic);
* ``soak``: ``--soak`` (default 100,000) single GETs while the sandbox's RSS is sampled.

Usage::

    python bench/bench_sandbox.py                  # all scenarios, 10 s each
    python bench/bench_sandbox.py --duration 3 --soak 20000
    python bench/bench_sandbox.py --json out.json --wrk
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

DEMO = ("cerkl-nb-demo", "sandbox-demo-secret-1234")
BASIC = "Basic " + base64.b64encode(f"{DEMO[0]}:{DEMO[1]}".encode()).decode()
TOKEN_BODY = b"grant_type=client_credentials"


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


# The admin key the benchmark's sandbox is started with (through the environment, as
# binder/start does), so the benchmark can read the server's counters afterwards.
ADMIN_KEY = secrets.token_urlsafe(32)


def start_sandbox(port: int, subscribers: int) -> tuple[subprocess.Popen, float]:
    """Start ``cerkl-nb sandbox`` and return (process, seconds until it answered)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cerkl_nb.launch.cli",
            "sandbox",
            "--port",
            str(port),
            "--quiet",
            "--subscribers",
            str(subscribers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "CERKL_SANDBOX_KEY": ADMIN_KEY},
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/health", timeout=0.2):
                return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.005)
    proc.kill()
    raise SystemExit("the sandbox did not start: " + proc.stderr.read().decode()[-2000:])


def get_token(port: int) -> str:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(
        "POST",
        "/v3/oauth/Token",
        body=TOKEN_BODY,
        headers={"Authorization": BASIC, "Content-Type": "application/x-www-form-urlencoded"},
    )
    body = json.loads(c.getresponse().read())
    c.close()
    return body["access_token"]


# --------------------------------------------------------------------------- load


def _conn_loop(
    port: int,
    method: str,
    path: str,
    headers: dict,
    body: bytes | None,
    stop_at: float,
    quota: int | None,
    lat: list[float],
    errors: list[int],
) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pc = time.perf_counter
    n = 0
    while True:
        if quota is not None:
            if n >= quota:
                break
        elif pc() >= stop_at:
            break
        t0 = pc()
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            r.read()
            if r.status >= 400:
                errors[0] += 1
        except (OSError, http.client.HTTPException):
            errors[0] += 1
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        lat.append(pc() - t0)
        n += 1
    c.close()


def _worker(args: tuple) -> tuple[list[float], int, float]:
    port, method, path, headers, body, duration, quota, conns = args
    start = time.perf_counter()
    stop_at = start + duration if duration else 0.0
    lats: list[list[float]] = [[] for _ in range(conns)]
    errs = [[0] for _ in range(conns)]
    per = None if quota is None else [quota // conns + (i < quota % conns) for i in range(conns)]
    threads = [
        threading.Thread(
            target=_conn_loop,
            args=(
                port,
                method,
                path,
                headers,
                body,
                stop_at,
                per[i] if per else None,
                lats[i],
                errs[i],
            ),
        )
        for i in range(conns)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for lat in lats for x in lat], sum(e[0] for e in errs), time.perf_counter() - start


def run_load(
    port: int,
    method: str,
    path: str,
    headers: dict,
    body: bytes | None,
    *,
    duration: float | None,
    total: int | None,
    processes: int,
    connections: int,
    pool: Any,
) -> dict:
    quota = None if total is None else total // processes
    jobs = [
        (port, method, path, headers, body, duration, quota, connections) for _ in range(processes)
    ]
    t0 = time.perf_counter()
    results = pool.map(_worker, jobs)
    wall = time.perf_counter() - t0
    lat = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    n = len(lat)
    return {
        "requests": n,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "wall_s": round(wall, 3),
        "rps": round(n / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(1000 * lat[n // 2], 3) if n else None,
        "p99_ms": round(1000 * lat[min(n - 1, int(n * 0.99))], 3) if n else None,
        "mean_ms": round(1000 * statistics.fmean(lat), 3) if n else None,
    }


def run_wrk(port: int, path: str, headers: dict, duration: float, connections: int) -> dict | None:
    """Optional: measure with wrk (C load generator) when it is installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{int(duration)}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=duration + 30,
    ).stdout
    res: dict[str, Any] = {"raw": out}
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith("Requests/sec:"):
            res["rps"] = float(parts[1])
        elif parts[:1] == ["50%"]:
            res["p50"] = parts[1]
        elif parts[:1] == ["99%"]:
            res["p99"] = parts[1]
    return res


# --------------------------------------------------------------------------- main


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per timed scenario")
    ap.add_argument("--processes", type=int, default=2, help="load-generator processes")
    ap.add_argument("--connections", type=int, default=4, help="keep-alive connections per process")
    ap.add_argument(
        "--soak", type=int, default=100_000, help="requests in the memory soak (0: skip)"
    )
    ap.add_argument("--subscribers", type=int, default=300, help="seeded subscribers")
    ap.add_argument("--scenarios", default="single,list,token", help="comma-separated subset")
    ap.add_argument("--wrk", action="store_true", help="also measure with wrk if installed")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = ap.parse_args(argv)

    port = free_port()
    proc, ready_s = start_sandbox(port, args.subscribers)
    results: dict[str, Any] = {
        "machine": machine(),
        "startup_s": round(ready_s, 3),
        "settings": vars(args),
    }
    print(f"sandbox pid {proc.pid} on port {port}, ready in {ready_s * 1000:.0f} ms", flush=True)
    try:
        token = get_token(port)
        bearer = {"Authorization": f"Bearer {token}"}
        scenarios = {
            "single": ("GET", "/v3/subscriber/100001", bearer, None),
            "list": ("GET", "/v3/subscriber?page_size=100", bearer, None),
            "token": (
                "POST",
                "/v3/oauth/Token",
                {"Authorization": BASIC, "Content-Type": "application/x-www-form-urlencoded"},
                TOKEN_BODY,
            ),
        }
        ctx = mp.get_context("fork")
        with ctx.Pool(args.processes) as pool:
            # warm-up: imports, caches, first connections
            run_load(
                port,
                "GET",
                "/v3/subscriber/100001",
                bearer,
                None,
                duration=None,
                total=2000,
                processes=args.processes,
                connections=args.connections,
                pool=pool,
            )
            for name in [s for s in args.scenarios.split(",") if s]:
                method, path, headers, body = scenarios[name]
                if name != "token":
                    headers = {"Authorization": f"Bearer {get_token(port)}"}
                r = run_load(
                    port,
                    method,
                    path,
                    headers,
                    body,
                    duration=args.duration,
                    total=None,
                    processes=args.processes,
                    connections=args.connections,
                    pool=pool,
                )
                r["path"] = f"{method} {path}"
                results[name] = r
                print(
                    f"{name:7s} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:.2f} ms  "
                    f"p99 {r['p99_ms']:.2f} ms  errors {r['errors']}",
                    flush=True,
                )
                if args.wrk and method == "GET":
                    w = run_wrk(
                        port, path, headers, args.duration, args.processes * args.connections
                    )
                    if w:
                        results[name + "_wrk"] = {k: v for k, v in w.items() if k != "raw"}
                        rps, p50, p99 = w.get("rps"), w.get("p50"), w.get("p99")
                        print(f"        wrk: {rps} req/s p50 {p50} p99 {p99}")

            if args.soak:
                samples: list[tuple[float, int]] = []
                done = threading.Event()

                def sample() -> None:
                    t0 = time.perf_counter()
                    while not done.is_set():
                        samples.append((round(time.perf_counter() - t0, 2), rss_kib(proc.pid)))
                        done.wait(0.5)

                # A fresh token: the token scenario above issued far more than
                # max_tokens_per_client tokens, so the first one may have been forgotten.
                bearer = {"Authorization": f"Bearer {get_token(port)}"}
                before = rss_kib(proc.pid)
                th = threading.Thread(target=sample, daemon=True)
                th.start()
                r = run_load(
                    port,
                    "GET",
                    "/v3/subscriber/100001",
                    bearer,
                    None,
                    duration=None,
                    total=args.soak,
                    processes=args.processes,
                    connections=args.connections,
                    pool=pool,
                )
                done.set()
                th.join()
                after = rss_kib(proc.pid)
                rss = [s[1] for s in samples]
                q = max(1, len(rss) // 10)
                r.update(
                    {
                        "rss_before_kib": before,
                        "rss_after_kib": after,
                        "rss_max_kib": max(rss),
                        "rss_first_10pct_kib": max(rss[:q]),
                        "rss_last_10pct_kib": max(rss[-q:]),
                        "rss_samples": samples,
                    }
                )
                results["soak"] = r
                print(
                    f"soak    {r['requests']} requests at {r['rps']:.1f} req/s, RSS "
                    f"{before} -> {after} KiB (max {max(rss)} KiB), errors {r['errors']}"
                )
        stats_req = urllib.request.Request(
            f"http://127.0.0.1:{port}/_sandbox/stats", headers={"X-Sandbox-Key": ADMIN_KEY}
        )
        with urllib.request.urlopen(stats_req, timeout=10) as f:
            st = json.load(f)
        results["server_internal_errors"] = st["internal_errors"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
