"""The bench/README.md table for a ``bench_perf.py`` result (JSON), with met / not met."""

from __future__ import annotations

from typing import Any


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _peers(section: dict[str, Any], base: str) -> str:
    return "; ".join(
        f"{k} {v['cpu_us']:.0f} µs ({v['ratio']:.2f}x)"
        for k, v in section.items()
        if k not in (base, "cerkl-nb")
    )


def _core_rows(out: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    if "calls" in out:
        c = out["calls"]
        r = c["cerkl-nb"]["ratio"]
        rows.append(
            (
                "single GET, CPU per call vs a raw `requests.Session` "
                f"({c['requests']['cpu_us']:.0f} µs)",
                "<= 0.85x",
                f"**{r:.2f}x** ({c['cerkl-nb']['cpu_us']:.0f} µs). Peers: {_peers(c, 'requests')}",
                _verdict(r <= 0.85),
            )
        )
    if "tokens" in out:
        t = out["tokens"]
        r = t["cerkl-nb"]["ratio"]
        rows.append(
            (
                f"token fetch, CPU vs `Session.post` ({t['Session.post']['cpu_us']:.0f} µs)",
                "<= 1.05x",
                f"**{r:.2f}x** ({t['cerkl-nb']['cpu_us']:.0f} µs). "
                f"Peers: {_peers(t, 'Session.post')}",
                _verdict(r <= 1.05),
            )
        )
    if "secrets" in out:
        for key, what, digits in (
            ("by_count", "the same GET with 5 / 100 / 1,000 values registered for redaction", 0),
            ("redaction_alone", "the redaction of one call alone (body excerpt and URL)", 1),
        ):
            s = out["secrets"][key]
            by = ", ".join(f"{k}: {v['cpu_us']:.{digits}f} µs" for k, v in s["sizes"].items())
            rows.append(
                (
                    what,
                    "flat within 5%",
                    f"{by}: **spread {s['spread'] * 100:.1f}%**",
                    _verdict(s["spread"] <= 0.05),
                )
            )
    return rows


def _paging_rows(out: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    if "paging" in out:
        p = out["paging"]
        w, ideal = p["wall_s"], p["ideal_s"]
        rows.append(
            (
                f"{p['records']:,} subscribers, 100 a page, 20 ms latency: 4 workers vs "
                "sequential (wall time)",
                ">= 3.5x",
                f"sequential {w['sequential']:.2f} s, 4 workers {w['4 workers']:.2f} s "
                f"(ideal {ideal['4 workers']:.2f} s): **{p['speedup_4']:.2f}x**",
                _verdict(p["speedup_4"] >= 3.5),
            )
        )
        rows.append(
            (
                "same, 8 workers vs 8 threads of plain requests",
                "within 20%",
                f"8 workers {w['8 workers']:.2f} s, 8 plain threads "
                f"{w['8 plain threads']:.2f} s (ideal {ideal['8 workers']:.2f} s): "
                f"**{p['8_vs_plain']:.2f}x**",
                _verdict(p["8_vs_plain"] <= 1.2),
            )
        )
    if "frame" in out:
        f = out["frame"]
        new, old = f["to_dataframe"], f["from_records(get_all)"]
        rows.append(
            (
                f"`to_dataframe` of {f['rows']:,} subscribers: tracemalloc peak vs the "
                "memory the frame keeps",
                "<= 1.2x",
                f"peak {new['peak_mb']:.0f} MB, frame {new['frame_mb']:.0f} MB: "
                f"**{new['ratio']:.2f}x** (the old `from_records(get_all())`: "
                f"{old['ratio']:.2f}x)",
                _verdict(new["ratio"] <= 1.2),
            )
        )
    return rows


def _sandbox_rows(out: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    if "sandbox" not in out:
        return []
    s = out["sandbox"]
    new, old = s["cached"], s["baseline"]
    prism = s.get("Prism")
    other = f"; single-item GET {s['single-item GET']['rps']:,.0f} req/s"
    other += f"; Prism {prism['rps']:,.0f} req/s" if prism else "; Prism skipped"
    app = s["app_cpu_us"]
    return [
        (
            "sandbox `GET /v3/subscriber?page_size=100`, requests/s over HTTP vs the "
            "sandbox before the list cache",
            ">= 4x",
            f"{new['rps']:,.0f} vs {old['rps']:,.0f} req/s: **{s['list_speedup']:.2f}x**" + other,
            _verdict(s["list_speedup"] >= 4),
        ),
        (
            "same, sandbox process CPU per request (HTTP server included)",
            "(context)",
            f"{new['server_cpu_ms']:.2f} ms vs {old['server_cpu_ms']:.2f} ms: "
            f"**{s['server_cpu_ratio']:.2f}x** less",
            "",
        ),
        (
            "same, CPU in the sandbox application alone (no HTTP)",
            "(context)",
            f"{app['cached']['list']:.0f} µs vs {app['baseline']['list']:.0f} µs: "
            f"**{s['app_list_ratio']:.1f}x** less (single item: "
            f"{app['cached']['single']:.0f} µs; a page read for the first time since the "
            f"last write: {app['cached'].get('list_first_read', float('nan')):.0f} µs)",
            "",
        ),
    ]


def markdown(out: dict[str, Any]) -> str:
    """The README table and the machine line for one run."""
    m = out["machine"]
    rows = _core_rows(out) + _paging_rows(out) + _sandbox_rows(out)
    table = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    notes = "".join(f"\n* {n}" for n in out.get("notes", []))
    return (
        f"**Machine:** {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['os']}; "
        f"1-minute load average {m['load_1min_at_start']} at the start. "
        f"**Date:** {out['date']}. One run of `python bench/bench_perf.py` "
        f"({out['took_s']:.0f} s).\n\n"
        "| measurement | goal | result | verdict |\n|---|---|---|---|\n"
        f"{table}\n" + (f"\nNotes:{notes}\n" if notes else "")
    )
