"""cerkl-nb against its peers, in one interleaved run. Figures for bench/README.md.

Sections (each can be chosen with ``--only``):

calls
    CPU per call of one ``GET /segment/{id}`` (+ JSON parsing): a raw ``requests.Session``
    with a hand-set Bearer header, ``CerklClient.request``, Authlib's and
    requests-oauthlib's ``OAuth2Session`` and ``httpx.Client``; batches interleaved in
    rotating order, median of the rounds. Goal: cerkl-nb <= 0.85x raw requests.
tokens
    CPU per client-credentials token: ``Session.post`` (HTTP Basic, form body, ``.json()``),
    ``TokenManager.fetch()``, Authlib and requests-oauthlib ``fetch_token``, ``httpx``.
    Goal: cerkl-nb <= 1.05x ``Session.post``.
secrets
    CPU of the same cerkl-nb GET with 5, 100 and 1,000 values registered for redaction
    (what a kernel has after that many token refreshes). Goal: flat within 5%.
paging
    10,000 subscribers, page_size 100, 20 ms latency injected by the sandbox on every API
    call (fault ``latency``): ``get_all`` with 1, 4 and 8 workers, 8 threads of plain
    requests, and the ideal (one latency per round of pages). Wall time, median of rounds.
    Goals: 4 workers >= 3.5x sequential; 8 workers within 20% of the 8 plain threads.
frame
    ``to_dataframe`` of 100,000 subscribers: tracemalloc peak during the call against the
    memory the finished frame keeps, next to the old way (``DataFrame.from_records`` of
    ``get_all``). Goal: peak <= 1.2x the frame.
sandbox
    Requests/s and server CPU per request of ``GET /v3/subscriber?page_size=100`` on this
    sandbox and on the sandbox as it was before the list cache (``--baseline-rev``), and
    on Prism (``@stoplight/prism-cli``) mocking the sandbox's own OpenAPI description;
    interleaved. Goal: >= 4x the baseline's requests/s.

Peers are optional (``pip install 'cerkl-nb[bench]'``; Prism: ``npm install --prefix
bench/.tools @stoplight/prism-cli``): a missing one is skipped with a note.

Run::

    python bench/bench_perf.py                  # everything, JSON on stdout
    python bench/bench_perf.py --only calls,tokens --rounds 5
    python bench/bench_perf.py > r.json && python bench/bench_perf.py --markdown r.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _perf_tools import (  # noqa: E402
    ROOT,
    Sandbox,
    app_cpu_us,
    free_port,
    interleaved,
    machine,
    package_at,
)

# The sandbox as it was before the list cache (the last commit before that work).
BASELINE_REV = "e8813c9"
# requests-oauthlib refuses plain http; the sandbox is on loopback.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
NOTES: list[str] = []


def _client(sb: Sandbox) -> Any:
    import cerkl_nb

    h = sb.handle
    manager = cerkl_nb.TokenManager(
        cerkl_nb.Credentials.for_sandbox(h), cerkl_nb.Settings.for_sandbox(h)
    )
    return cerkl_nb.CerklClient(manager)


def _peer_sessions(sb: Sandbox, token: str) -> dict[str, Any]:
    """Authenticated sessions of the peers that are installed."""
    out: dict[str, Any] = {}
    tok = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
    try:
        from authlib.integrations.requests_client import OAuth2Session as AuthlibSession

        out["Authlib"] = AuthlibSession(sb.client_id, sb.client_secret, token=tok)
    except ImportError:
        NOTES.append("Authlib not installed: skipped (pip install 'cerkl-nb[bench]').")
    try:
        from oauthlib.oauth2 import BackendApplicationClient
        from requests_oauthlib import OAuth2Session

        client = BackendApplicationClient(client_id=sb.client_id)
        out["requests-oauthlib"] = OAuth2Session(client=client, token=tok)
    except ImportError:
        NOTES.append("requests-oauthlib not installed: skipped.")
    try:
        import httpx

        out["httpx"] = httpx.Client(headers={"Authorization": f"Bearer {token}"})
    except ImportError:
        NOTES.append("httpx not installed: skipped.")
    return out


def bench_calls(sb: Sandbox, n: int, rounds: int) -> dict[str, Any]:
    import requests

    client = _client(sb)
    token = client.token_manager.get_token().access_token.get_secret_value()
    sid = client.list("segment", page_size=1).items[0]["id"]
    url = f"{sb.url}/segment/{sid}"
    raw = requests.Session()
    hdr = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def get_raw() -> None:
        r = raw.get(url, headers=hdr, timeout=30)
        r.raise_for_status()
        r.json()

    fns = {"requests": get_raw, "cerkl-nb": lambda: client.request("GET", f"/segment/{sid}")}
    for name, s in _peer_sessions(sb, token).items():

        def get(s: Any = s) -> None:
            r = s.get(url, headers={"Accept": "application/json"}, timeout=30)
            r.raise_for_status()
            r.json()

        fns[name] = get
    med = interleaved(fns, n, rounds)
    client.close()
    base = med["requests"]
    return {k: {"cpu_us": v * 1e6, "ratio": v / base} for k, v in med.items()}


def bench_tokens(sb: Sandbox, n: int, rounds: int) -> dict[str, Any]:
    import requests

    import cerkl_nb

    h = sb.handle
    manager = cerkl_nb.TokenManager(
        cerkl_nb.Credentials.for_sandbox(h), cerkl_nb.Settings.for_sandbox(h)
    )
    raw = requests.Session()
    basic = cerkl_nb.auth.basic_auth_header(sb.client_id, sb.client_secret)
    form = {"grant_type": "client_credentials"}

    def post_raw() -> None:
        hdr = {"Authorization": basic, "Accept": "application/json"}
        r = raw.post(sb.token_url, data=form, headers=hdr, timeout=30)
        r.raise_for_status()
        r.json()

    fns = {"Session.post": post_raw, "cerkl-nb": manager.fetch}
    try:
        from authlib.integrations.requests_client import OAuth2Session as AuthlibSession

        a = AuthlibSession(sb.client_id, sb.client_secret)
        fns["Authlib"] = lambda: a.fetch_token(sb.token_url, grant_type="client_credentials")
    except ImportError:
        pass
    try:
        from oauthlib.oauth2 import BackendApplicationClient
        from requests_oauthlib import OAuth2Session

        ro = OAuth2Session(client=BackendApplicationClient(client_id=sb.client_id))
        fns["requests-oauthlib"] = lambda: ro.fetch_token(
            sb.token_url, client_id=sb.client_id, client_secret=sb.client_secret
        )
    except ImportError:
        pass
    try:
        import httpx

        hx = httpx.Client()

        def post_httpx() -> None:
            r = hx.post(sb.token_url, data=form, auth=(sb.client_id, sb.client_secret))
            r.raise_for_status()
            r.json()

        fns["httpx"] = post_httpx
    except ImportError:
        pass
    med = interleaved(fns, n, rounds, warm=20)
    manager.close()
    base = med["Session.post"]
    return {k: {"cpu_us": v * 1e6, "ratio": v / base} for k, v in med.items()}


def bench_secrets(sb: Sandbox, n: int, rounds: int) -> dict[str, Any]:
    import importlib

    R = importlib.import_module("cerkl_nb.redact")
    client = _client(sb)
    sid = client.list("segment", page_size=1).items[0]["id"]
    base_state = R._registry_state()
    have = R.registered_count()
    sizes = (5, 100, 1000)
    pool = [secrets.token_hex(20) for _ in range(max(sizes))]
    per: dict[int, list[float]] = {k: [] for k in sizes}
    alone: dict[int, list[float]] = {k: [] for k in sizes}
    r0 = client.request("GET", f"/segment/{sid}")
    body = json.dumps(r0.body).encode()
    url = f"{sb.url}/segment/{sid}?page=1&page_size=100"
    try:
        for r in range(rounds):
            for size in sizes if r % 2 == 0 else reversed(sizes):
                R._restore_registry(base_state)
                for v in pool[: max(0, size - have)]:
                    R.register_secret(v, transient=True)
                for _ in range(5):
                    client.request("GET", f"/segment/{sid}")
                t0 = time.process_time()
                for _ in range(n):
                    client.request("GET", f"/segment/{sid}")
                per[size].append((time.process_time() - t0) / n)
                # The redaction a call does, alone: the excerpt of a body and the URL.
                t0 = time.process_time()
                for _ in range(10 * n):
                    R.excerpt(body, 500)
                    R.redact(url)
                alone[size].append((time.process_time() - t0) / (10 * n))
    finally:
        R._restore_registry(base_state)
        client.close()
    return {"by_count": _spread(per), "redaction_alone": _spread(alone)}


def _spread(per: dict[int, list[float]]) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in per.items()}
    lo = min(med.values())
    out = {str(k): {"cpu_us": v * 1e6, "vs_fastest": v / lo} for k, v in med.items()}
    return {"sizes": out, "spread": max(med.values()) / lo - 1}


def _plain_threads(sb: Sandbox, token: str, pages: int, workers: int) -> int:
    import requests

    hdr = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=workers)
    session.mount("http://", adapter)

    def get(p: int) -> int:
        q = {"page": p, "page_size": 100}
        r = session.get(f"{sb.url}/subscriber", params=q, headers=hdr, timeout=30)
        r.raise_for_status()
        return len(r.json()["data"])

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(get, range(1, pages + 1)))


def bench_paging(sb: Sandbox, rounds: int, latency_ms: int = 20) -> dict[str, Any]:
    client = _client(sb)
    total = client.list("subscriber", page_size=1).total
    pages = math.ceil(total / 100)
    token = client.token_manager.get_token().access_token.get_secret_value()
    runs = {
        "sequential": lambda: len(client.get_all("subscriber", concurrency=1)),
        "4 workers": lambda: len(client.get_all("subscriber", concurrency=4)),
        "8 workers": lambda: len(client.get_all("subscriber", concurrency=8)),
        "8 plain threads": lambda: _plain_threads(sb, token, pages, 8),
    }
    got: dict[str, list[float]] = {k: [] for k in runs}
    sb.handle.set_faults(latency_ms=latency_ms)
    try:
        for r in range(rounds):
            names = list(runs) if r % 2 == 0 else list(reversed(runs))
            for name in names:
                t0 = time.perf_counter()
                count = runs[name]()
                got[name].append(time.perf_counter() - t0)
                assert count == total, (name, count, total)
    finally:
        sb.handle.clear_faults()
        client.close()
    med = {k: statistics.median(v) for k, v in got.items()}
    lat = latency_ms / 1000
    return {
        "records": total,
        "wall_s": med,
        "ideal_s": {f"{w} workers": (1 + math.ceil((pages - 1) / w)) * lat for w in (4, 8)},
        "speedup_4": med["sequential"] / med["4 workers"],
        "8_vs_plain": med["8 workers"] / med["8 plain threads"],
    }


def _grow(sb: Sandbox, rows: int) -> None:
    """Add subscribers until the sandbox holds ``rows`` (200 a POST)."""
    client = _client(sb)
    have = client.list("subscriber", page_size=1).total
    i = 0
    while have < rows:
        n = min(200, rows - have)  # the sandbox takes bodies up to 64 KiB
        items = [
            {
                "first_name": f"Bench{i}",
                "last_name": f"Row{j}",
                "email": f"bench.{i}.{j}@example.com",
                "subscriber_privacy_level": {"id": 1},
                "subscriber_status": {"id": 1},
            }
            for j in range(n)
        ]
        client.create_many("subscriber", items)
        have += n
        i += 1
    client.close()


def _traced(fn: Any) -> tuple[Any, int, int]:
    """Run ``fn`` under tracemalloc: (result, peak bytes, bytes still held after)."""
    import gc

    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = fn()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak - before, current - before


def bench_frame(sb: Sandbox, rows: int) -> dict[str, Any]:
    import pandas as pd

    _grow(sb, rows)
    client = _client(sb)
    client.token_manager.get_token()
    client.list("subscriber", page_size=1)  # history, pools and imports warmed up
    out: dict[str, Any] = {"rows": rows}
    for name, fn in {
        "to_dataframe": lambda: client.to_dataframe("subscriber"),
        "from_records(get_all)": lambda: pd.DataFrame.from_records(client.get_all("subscriber")),
    }.items():
        frame, peak, kept = _traced(fn)
        assert len(frame) == rows, (name, len(frame))
        del frame
        out[name] = {"peak_mb": peak / 2**20, "frame_mb": kept / 2**20, "ratio": peak / kept}
    client.close()
    return out


def _prism(spec_url: str) -> tuple[subprocess.Popen | None, int, str]:
    """Prism mocking the sandbox's OpenAPI description, or (None, 0, why not)."""
    exe = ROOT / "bench" / ".tools" / "node_modules" / ".bin" / "prism"
    found = str(exe) if exe.exists() else shutil.which("prism")
    if not found:
        how = "npm install --prefix bench/.tools @stoplight/prism-cli"
        return None, 0, f"Prism not installed ({how})"
    import requests

    spec = Path(ROOT / "bench" / ".tools" / "sandbox-openapi.json")
    spec.write_bytes(requests.get(spec_url, timeout=30).content)
    port = free_port()
    cmd = [found, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in ("/subscriber", "/v3/subscriber"):
            try:
                r = requests.get(
                    f"http://127.0.0.1:{port}{path}?page_size=100",
                    headers={"Authorization": "Bearer x" * 5, "Accept": "application/json"},
                    timeout=2,
                )
                if r.status_code == 200:
                    return proc, port, path
            except requests.RequestException:
                pass
        time.sleep(0.5)
    proc.terminate()
    return None, 0, "Prism did not answer within 60 s"


def bench_sandbox(seconds: float, rounds: int, threads: int, baseline_rev: str) -> dict[str, Any]:
    path = "/v3/subscriber?page_size=100"
    old_tree = package_at(baseline_rev)
    with Sandbox() as new, Sandbox(pythonpath=old_tree) as old:
        tokens = {"cached": new.token(), "baseline": old.token()}
        targets: dict[str, Any] = {"cached": (new, path), "baseline": (old, path)}
        targets["single-item GET"] = (new, "/v3/subscriber/100001")
        proc, port, prism_path = _prism(new.url + "/openapi.json")
        if proc is None:
            NOTES.append(f"Prism skipped: {prism_path}.")
        results: dict[str, list[dict[str, float]]] = {k: [] for k in targets}
        if proc is not None:
            results["Prism"] = []
        try:
            for r in range(rounds):
                names = list(results) if r % 2 == 0 else list(reversed(results))
                for name in names:
                    if name == "Prism":
                        results[name].append(_prism_load(port, prism_path, threads, seconds))
                        continue
                    sb, p = targets[name]
                    tok = tokens["baseline" if sb is old else "cached"]
                    results[name].append(sb.load(p, tok, threads, seconds))
        finally:
            if proc is not None:
                proc.terminate()
    out = {
        k: {m: statistics.median(x[m] for x in v) for m in v[0] if m != "seconds"}
        for k, v in results.items()
    }
    out["list_speedup"] = out["cached"]["rps"] / out["baseline"]["rps"]
    out["server_cpu_ratio"] = out["baseline"]["server_cpu_ms"] / out["cached"]["server_cpu_ms"]
    app = {"cached": [], "baseline": []}
    for _ in range(3):
        app["baseline"].append(app_cpu_us(old_tree))
        app["cached"].append(app_cpu_us())
    out["app_cpu_us"] = {
        k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in app.items()
    }
    out["app_list_ratio"] = (
        out["app_cpu_us"]["baseline"]["list"] / out["app_cpu_us"]["cached"]["list"]
    )
    return out


def _prism_load(port: int, path: str, threads: int, seconds: float) -> dict[str, float]:
    from _perf_tools import _LOADGEN

    out = subprocess.run(
        [sys.executable, "-c", _LOADGEN, "127.0.0.1", str(port), path + "?page_size=100"]
        + ["x" * 40, str(threads), str(seconds)],
        capture_output=True,
        check=True,
        text=True,
    )
    res = json.loads(out.stdout)
    res["rps"] = res["requests"] / res["seconds"]
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="calls,tokens,secrets,paging,frame,sandbox")
    ap.add_argument("--calls", type=int, default=50, help="calls per batch")
    ap.add_argument("--rounds", type=int, default=31, help="interleaved batches per side")
    ap.add_argument("--paging-rounds", type=int, default=5)
    ap.add_argument("--rows", type=int, default=100_000, help="rows for the frame section")
    ap.add_argument("--seconds", type=float, default=3.0, help="per sandbox load run")
    ap.add_argument("--threads", type=int, default=4, help="connections of the load run")
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--markdown", metavar="JSON", help="print the README table of a result")
    args = ap.parse_args()
    if args.markdown:
        from _perf_report import markdown

        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    only = set(args.only.split(","))
    started = dt.datetime.now(dt.timezone.utc)
    out: dict[str, Any] = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    if only & {"calls", "tokens", "secrets"}:
        with Sandbox() as sb:
            if "calls" in only:
                out["calls"] = bench_calls(sb, args.calls, args.rounds)
            if "tokens" in only:
                out["tokens"] = bench_tokens(sb, max(30, args.calls // 2), args.rounds)
            if "secrets" in only:
                # Small batches, many rounds: the sizes alternate often, so load bursts
                # from other processes hit every size alike.
                out["secrets"] = bench_secrets(sb, max(10, args.calls // 5), 3 * args.rounds)
    if "paging" in only:
        with Sandbox(subscribers=10_000) as sb:
            out["paging"] = bench_paging(sb, args.paging_rounds)
    if "frame" in only:
        with Sandbox(subscribers=20_000, max_records=max(args.rows, 50_000)) as sb:
            out["frame"] = bench_frame(sb, args.rows)
    if "sandbox" in only:
        rounds = max(3, min(5, args.rounds))
        out["sandbox"] = bench_sandbox(args.seconds, rounds, args.threads, args.baseline_rev)
    out["notes"] = NOTES
    out["took_s"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
