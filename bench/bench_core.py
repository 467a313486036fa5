"""Figures of the UI-free core that a user can notice. Not timed tests: bench/README.md.

import
    ``import cerkl_nb`` plus the client in use (``cerkl_nb.CerklClient``, ``connect``),
    against ``import requests`` and a bare interpreter; fresh interpreters, interleaved,
    medians.
paging
    All 10,000 subscribers of a sandbox in its own process, 100 a page, with 20 ms of
    latency injected on every API call: ``get_all`` one page at a time, with 4 workers
    (the default) and with 8, against the ideal (one latency per round of pages). Wall
    time, medians of rounds.
frame
    ``to_dataframe`` of 100,000 subscribers: the tracemalloc peak during the call against
    the memory the finished frame keeps, next to ``DataFrame.from_records(get_all())``.

Run::

    python bench/bench_core.py                      # everything, JSON on stdout
    python bench/bench_core.py --only import,paging --rounds 3
    python bench/bench_core.py --markdown           # the bench/README.md table of a run
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import _perf_tools  # beside this script: python puts its folder on sys.path


def bench_import(runs: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    stmts = {
        "bare": "pass",
        "requests": "import requests",
        # `import cerkl_nb` alone loads next to nothing: what is timed is the core in use.
        "cerkl_nb": "import cerkl_nb; cerkl_nb.CerklClient; cerkl_nb.connect",
    }

    def once(stmt: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", stmt], check=True, env=env, cwd=_perf_tools.ROOT)
        return time.perf_counter() - t0

    once(stmts["cerkl_nb"])  # compile the .pyc files first
    got: dict[str, list[float]] = {k: [] for k in stmts}
    for i in range(runs):
        for name in list(stmts) if i % 2 == 0 else list(reversed(stmts)):
            got[name].append(once(stmts[name]))
    med = {k: statistics.median(v) * 1000 for k, v in got.items()}
    return {"runs": runs, **{f"{k}_ms": v for k, v in med.items()}}


def bench_paging(rounds: int, latency_ms: int = 20) -> dict[str, Any]:
    with _perf_tools.Sandbox(subscribers=10_000) as sb:
        client = sb.client()
        total = client.list("subscriber", page_size=1).total
        runs = {f"{w} workers" if w > 1 else "sequential": w for w in (1, 4, 8)}
        got: dict[str, list[float]] = {k: [] for k in runs}
        sb.handle.set_faults(latency_ms=latency_ms)
        try:
            for r in range(rounds):
                for name in list(runs) if r % 2 == 0 else list(reversed(runs)):
                    t0 = time.perf_counter()
                    count = len(client.get_all("subscriber", concurrency=runs[name]))
                    got[name].append(time.perf_counter() - t0)
                    assert count == total, (name, count, total)
        finally:
            sb.handle.clear_faults()
            client.close()
    pages = math.ceil(total / 100)
    ideal = {f"{w} workers": (1 + math.ceil((pages - 1) / w)) * latency_ms / 1000 for w in (4, 8)}
    med = {k: statistics.median(v) for k, v in got.items()}
    return {
        "records": total,
        "latency_ms": latency_ms,
        "rounds": rounds,
        "wall_s": med,
        "ideal_s": {"sequential": pages * latency_ms / 1000, **ideal},
        "speedup": {k: med["sequential"] / v for k, v in med.items() if k != "sequential"},
    }


def _traced(fn: Any) -> tuple[Any, int, int]:
    """Run ``fn`` under tracemalloc: (result, peak bytes, bytes still held after)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = fn()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak - before, current - before


def bench_frame(rows: int) -> dict[str, Any]:
    import pandas as pd

    with _perf_tools.Sandbox(subscribers=20_000, max_records=max(rows, 50_000)) as sb:
        client = sb.client()
        have, i = client.list("subscriber", page_size=1).total, 0
        while have < rows:  # the sandbox takes bodies up to 64 KiB: 200 records a POST
            n = min(200, rows - have)
            client.create_many(
                "subscriber",
                [
                    {
                        "first_name": f"Bench{i}",
                        "last_name": f"Row{j}",
                        "email": f"bench.{i}.{j}@example.com",
                        "subscriber_privacy_level": {"id": 1},
                        "subscriber_status": {"id": 1},
                    }
                    for j in range(n)
                ],
            )
            have, i = have + n, i + 1
        client.list("subscriber", page_size=1)  # history, pools and imports warmed up
        out: dict[str, Any] = {"rows": rows}
        ways = {
            "to_dataframe": lambda: client.to_dataframe("subscriber"),
            "from_records(get_all)": lambda: pd.DataFrame.from_records(
                client.get_all("subscriber")
            ),
        }
        for name, fn in ways.items():
            frame, peak, kept = _traced(fn)
            assert len(frame) == rows, (name, len(frame))
            del frame
            out[name] = {"peak_mb": peak / 2**20, "frame_mb": kept / 2**20, "ratio": peak / kept}
        client.close()
    return out


def markdown(out: dict[str, Any]) -> str:
    """The README table and the machine line for one run."""
    m, rows = out["machine"], []
    if "import" in out:
        i = out["import"]
        rows.append(
            f"| `import cerkl_nb` and the client in use vs `import requests` (fresh "
            f"interpreters, median of {i['runs']}) | {i['cerkl_nb_ms']:.1f} ms vs "
            f"{i['requests_ms']:.1f} ms: **+{i['cerkl_nb_ms'] - i['requests_ms']:.1f} ms** "
            f"(bare interpreter {i['bare_ms']:.1f} ms) |"
        )
    if "paging" in out:
        p = out["paging"]
        w, ideal, x = p["wall_s"], p["ideal_s"], p["speedup"]
        rows.append(
            f"| {p['records']:,} subscribers, 100 a page, {p['latency_ms']} ms latency per "
            f"call (median of {p['rounds']}) | sequential {w['sequential']:.2f} s; 4 workers "
            f"(default) {w['4 workers']:.2f} s, **{x['4 workers']:.2f}x** (ideal "
            f"{ideal['4 workers']:.2f} s); 8 workers {w['8 workers']:.2f} s, "
            f"**{x['8 workers']:.2f}x** (ideal {ideal['8 workers']:.2f} s) |"
        )
    if "frame" in out:
        f = out["frame"]
        new, old = f["to_dataframe"], f["from_records(get_all)"]
        rows.append(
            f"| `to_dataframe` of {f['rows']:,} subscribers: tracemalloc peak vs the frame | "
            f"peak {new['peak_mb']:.0f} MB, frame {new['frame_mb']:.0f} MB: "
            f"**{new['ratio']:.2f}x** (`from_records(get_all())`: {old['ratio']:.2f}x) |"
        )
    return (
        f"**Machine:** {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['os']}; "
        f"1-minute load average {m['load_1min_at_start']} at the start. **Date:** "
        f"{out['date']}. One run of `python bench/bench_core.py` ({out['took_s']:.0f} s).\n\n"
        "| measurement | result |\n|---|---|\n" + "\n".join(rows) + "\n"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="import,paging,frame")
    ap.add_argument("--imports", type=int, default=30, help="interpreter starts per side")
    ap.add_argument("--rounds", type=int, default=5, help="paging rounds (median)")
    ap.add_argument("--rows", type=int, default=100_000, help="rows for the frame section")
    ap.add_argument("--markdown", action="store_true", help="print the README table too")
    args = ap.parse_args()
    only, started = set(args.only.split(",")), dt.datetime.now(dt.timezone.utc)
    out: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _perf_tools.machine(),
    }
    if "import" in only:
        out["import"] = bench_import(args.imports)
    if "paging" in only:
        out["paging"] = bench_paging(args.rounds)
    if "frame" in only:
        out["frame"] = bench_frame(args.rows)
    out["took_s"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    print(json.dumps(out, indent=2))
    if args.markdown:
        print(markdown(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
