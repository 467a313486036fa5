"""Benchmarks of the UI-free core. Not timed tests: figures for bench/README.md.

Three measurements, each against a sandbox running in its own process
(``cerkl-nb sandbox --port P``), so server work does not share our GIL:

1. Per-call overhead: ``CerklClient.request("GET", ...)`` versus a plain
   ``requests.Session().get`` with a hand-set Bearer header (and ``.json()``), on the same
   sandbox, interleaved call by call, median of N calls each. Target: ratio <= 1.10.
2. Import cost: ``import cerkl_nb`` versus ``import requests`` in fresh interpreters,
   interleaved, median of M runs each. Target: at most 50 ms more.
3. Paging: all 10,000 subscribers with 20 ms injected latency per API call, page_size 100,
   sequential versus concurrent. Target: concurrent at least 3x faster.

Run::

    python bench/bench_core.py              # prints the figures
    python bench/bench_core.py --markdown   # prints a section for bench/README.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _perf_tools  # beside this script: python puts its folder on sys.path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxProcess:
    """``cerkl-nb sandbox`` in a subprocess, stopped on exit."""

    def __init__(self, subscribers: int) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            "-c",
            "import sys; from cerkl_nb.launch.cli import main; sys.exit(main())",
            "sandbox",
            "--port",
            str(self.port),
            "--quiet",
            "--subscribers",
            str(subscribers),
        ]
        import secrets

        # The sandbox's admin key goes through the environment, as binder/start passes it.
        self.key = secrets.token_urlsafe(32)
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "CERKL_SANDBOX_KEY": self.key},
        )
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = self.root + "/v3"
        deadline = time.monotonic() + 60
        import requests

        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode())
            try:
                requests.get(self.root + "/_sandbox/health", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        from cerkl_nb.sandbox import attach

        self.handle = attach(self.root, key=self.key)

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def bench_overhead(sb: SandboxProcess, n: int) -> dict[str, float]:
    import requests

    import cerkl_nb

    client = cerkl_nb.CerklClient(
        cerkl_nb.TokenManager(
            cerkl_nb.Credentials.for_sandbox(sb.handle), cerkl_nb.Settings.for_sandbox(sb.handle)
        )
    )
    token = client.token_manager.get_token().access_token.get_secret_value()
    plain = requests.Session()
    headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
    url = sb.url + "/segment"
    params = {"page": 1, "page_size": 1}

    def ours() -> None:
        client.request("GET", "/segment", params=params)

    def theirs() -> None:
        r = plain.get(url, params=params, headers=headers, timeout=30)
        r.raise_for_status()
        r.json()

    for _ in range(200):  # warm connections, caches and the server
        ours()
        theirs()
    t_ours: list[float] = []
    t_theirs: list[float] = []
    for i in range(n):
        pair = (ours, theirs) if i % 2 == 0 else (theirs, ours)
        for fn in pair:
            t0 = time.perf_counter()
            fn()
            (t_ours if fn is ours else t_theirs).append(time.perf_counter() - t0)
    med_o, med_t = statistics.median(t_ours), statistics.median(t_theirs)
    client.close()
    plain.close()
    return {
        "n": n,
        "client_median_ms": med_o * 1000,
        "plain_median_ms": med_t * 1000,
        "ratio": med_o / med_t,
        "overhead_us": (med_o - med_t) * 1e6,
    }


def bench_import(runs: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}

    def once(stmt: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", stmt], check=True, env=env, cwd=ROOT)
        return time.perf_counter() - t0

    # `import cerkl_nb` alone loads next to nothing (the names are imported on first use),
    # so what is timed is the core in use: the client and everything it imports.
    core = "import cerkl_nb; cerkl_nb.CerklClient; cerkl_nb.connect"
    once(core)  # compile .pyc files first
    base, ours, bare = [], [], []
    for i in range(runs):
        order = ("requests", "cerkl_nb", "") if i % 2 == 0 else ("cerkl_nb", "requests", "")
        for mod in order:
            stmt = {"requests": "import requests", "cerkl_nb": core, "": "pass"}[mod]
            {"requests": base, "cerkl_nb": ours, "": bare}[mod].append(once(stmt))
    mb, mo, mz = statistics.median(base), statistics.median(ours), statistics.median(bare)
    return {
        "runs": runs,
        "python_ms": mz * 1000,
        "requests_ms": mb * 1000,
        "cerkl_nb_ms": mo * 1000,
        "extra_ms": (mo - mb) * 1000,
    }


def bench_paging(sb: SandboxProcess, concurrency: int, rounds: int) -> dict[str, float]:
    import cerkl_nb

    client = cerkl_nb.CerklClient(
        cerkl_nb.TokenManager(
            cerkl_nb.Credentials.for_sandbox(sb.handle), cerkl_nb.Settings.for_sandbox(sb.handle)
        )
    )
    client.token_manager.get_token()
    sb.handle.set_faults(latency_ms=20)
    seq, conc = [], []
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            a = client.get_all("subscriber", page_size=100, concurrency=1)
            seq.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = client.get_all("subscriber", page_size=100, concurrency=concurrency)
            conc.append(time.perf_counter() - t0)
            assert len(a) == len(b) == 10_000, (len(a), len(b))
            assert [x["id"] for x in a] == [x["id"] for x in b]
    finally:
        sb.handle.clear_faults()
        client.close()
    ms, mc = statistics.median(seq), statistics.median(conc)
    return {
        "records": 10_000,
        "concurrency": concurrency,
        "sequential_s": ms,
        "concurrent_s": mc,
        "speedup": ms / mc,
    }


def machine() -> str:
    m = _perf_tools.machine()
    return f"{m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['os']}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000, help="calls per side for the overhead")
    ap.add_argument("--imports", type=int, default=30, help="interpreter starts per side")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3, help="paging rounds (median)")
    ap.add_argument("--markdown", action="store_true", help="print a bench/README.md section")
    args = ap.parse_args()

    imp = bench_import(args.imports)
    with SandboxProcess(subscribers=10_000) as sb:
        ovh = bench_overhead(sb, args.calls)
        pag = bench_paging(sb, args.concurrency, args.rounds)

    ok = {
        "overhead": ovh["ratio"] <= 1.10,
        "import": imp["extra_ms"] <= 50,
        "paging": pag["speedup"] >= 3,
    }
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.markdown:
        verdict = {k: "pass" if v else "FAIL" for k, v in ok.items()}
        rows = [
            (
                "per-call overhead: `CerklClient` GET vs plain `requests.Session` GET with a "
                f"hand-set Bearer header, interleaved, median of {ovh['n']:,} calls each",
                "ratio <= 1.10",
                f"{ovh['client_median_ms']:.3f} ms vs {ovh['plain_median_ms']:.3f} ms: "
                f"**ratio {ovh['ratio']:.3f}** ({ovh['overhead_us']:+.0f} µs a call)",
                verdict["overhead"],
            ),
            (
                "`import cerkl_nb` vs `import requests` (fresh interpreters, interleaved, "
                f"median of {imp['runs']} each)",
                "<= 50 ms more",
                f"{imp['cerkl_nb_ms']:.1f} ms vs {imp['requests_ms']:.1f} ms: "
                f"**+{imp['extra_ms']:.1f} ms** (bare interpreter {imp['python_ms']:.1f} ms)",
                verdict["import"],
            ),
            (
                "all 10,000 subscribers, page_size 100, 20 ms injected latency per API call "
                f"(median of {args.rounds} rounds)",
                "concurrent >= 3x faster",
                f"sequential {pag['sequential_s']:.2f} s, concurrent "
                f"({pag['concurrency']} workers) {pag['concurrent_s']:.2f} s: "
                f"**{pag['speedup']:.1f}x**",
                verdict["paging"],
            ),
        ]
        table = "\n".join("| " + " | ".join(r) + " |" for r in rows)
        print(
            f"""
## Core

Measured {when} on {machine()} with `python bench/bench_core.py --markdown` (the sandbox
runs in its own process: `cerkl-nb sandbox --port P --subscribers 10000 --quiet`).

| measurement | target | result | verdict |
|---|---|---|---|
{table}

The overhead pays for the token check (a lock-free fast path while the token is fresh),
the history entry (with a redacted response excerpt), typed-error handling, tolerant
unwrapping and the response object. Concurrent paging needs the total from the first
page; without one, paging stays sequential.
"""
        )
    else:
        print("machine:", machine())
        print("overhead:", {k: round(v, 4) for k, v in ovh.items()})
        print("import:", {k: round(v, 2) for k, v in imp.items()})
        print("paging:", {k: round(v, 3) for k, v in pag.items()})
        print("targets met:", ok)
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
