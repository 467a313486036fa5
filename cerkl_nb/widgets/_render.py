"""HTML renderings for the explorer's response view: collapsible JSON, tables, headers.

Everything is escaped and passed through :func:`~cerkl_nb.redact.redact` first, so a
response can never inject markup or show a credential-looking value. Collapsing uses
native ``<details>``/``<summary>`` elements: keyboard operable, no JavaScript.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._common import esc

__all__ = ["json_html", "table_html", "headers_html", "human_size"]

_STYLE = (
    "<style>"
    ".cerkl-json{font-family:var(--jp-code-font-family,monospace);font-size:12px;"
    "line-height:1.45;max-height:420px;overflow:auto;padding:4px 0}"
    ".cerkl-json details>div{margin-left:1.3em;border-left:1px dotted #d0d7de;padding-left:6px}"
    ".cerkl-json summary{cursor:pointer}"
    ".cerkl-json .k{color:#8250df}.cerkl-json .s{color:#0a3069}.cerkl-json .n{color:#0550ae}"
    ".cerkl-json .b{color:#cf222e}.cerkl-json .m{color:#6e7781;font-style:italic}"
    ".cerkl-table{border-collapse:collapse;font-size:12px}"
    ".cerkl-table th,.cerkl-table td{border:1px solid #d0d7de;padding:2px 6px;text-align:left;"
    "vertical-align:top;max-width:260px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}"
    ".cerkl-table th{background:#f6f8fa;position:sticky;top:0}"
    ".cerkl-scroll{max-height:420px;overflow:auto}"
    "</style>"
)


def human_size(n: int | None) -> str:
    """``1234`` → ``"1.2 kB"``."""
    if n is None:
        return "? B"
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return f'<span class="s">{esc(json.dumps(value, ensure_ascii=False))}</span>'
    if isinstance(value, bool) or value is None:
        return f'<span class="b">{json.dumps(value)}</span>'
    if isinstance(value, (int, float)):
        return f'<span class="n">{html.escape(json.dumps(value))}</span>'
    return f'<span class="s">{esc(str(value))}</span>'


def _preview(obj: Mapping[str, Any], n: int = 3) -> str:
    """A one-line hint of an object's first scalar fields, shown while it is collapsed."""
    parts = []
    for k, v in obj.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            text = json.dumps(v, ensure_ascii=False)
            if len(text) > 32:
                text = text[:31] + "…"
            parts.append(f"{k}: {text}")
        if len(parts) == n:
            break
    return f' <span class="m">· {esc(", ".join(parts))}</span>' if parts else ""


def json_html(value: Any, *, open_depth: int = 2, max_nodes: int = 3000) -> str:
    """Pretty, collapsible JSON: objects and arrays are ``<details>`` blocks.

    Parameters
    ----------
    value
        Parsed JSON.
    open_depth
        Levels expanded at first.
    max_nodes
        Stop after this many values (a note says how many were left out).
    """
    budget = [max_nodes]
    skipped = [0]

    def node(v: Any, key: str | None, depth: int, last: bool) -> str:
        if budget[0] <= 0:
            skipped[0] += 1
            return ""
        budget[0] -= 1
        label = (
            f'<span class="k">{esc(json.dumps(key, ensure_ascii=False))}</span>: '
            if key is not None
            else ""
        )
        comma = "" if last else ","
        if isinstance(v, Mapping):
            if not v:
                return f"<div>{label}{{}}{comma}</div>"
            items = list(v.items())
            inner = "".join(
                node(val, str(k), depth + 1, i == len(items) - 1)
                for i, (k, val) in enumerate(items)
            )
            opened = " open" if depth < open_depth else ""
            count = f"{len(items)} key{'s' if len(items) != 1 else ''}"
            return (
                f"<details{opened}><summary>{label}{{ "
                f'<span class="m">{count}</span>{_preview(v)} }}'
                f"</summary><div>{inner}</div></details>"
            )
        if isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
            if not v:
                return f"<div>{label}[]{comma}</div>"
            inner = "".join(node(val, None, depth + 1, i == len(v) - 1) for i, val in enumerate(v))
            opened = " open" if depth < open_depth else ""
            return (
                f"<details{opened}><summary>{label}[ "
                f'<span class="m">{len(v)} item{"s" if len(v) != 1 else ""}</span> ]'
                f"</summary><div>{inner}</div></details>"
            )
        return f"<div>{label}{_scalar(v)}{comma}</div>"

    body = node(value, None, 0, True)
    note = (
        f'<div class="m">… {skipped[0]} more values not shown (see response.body in code)</div>'
        if skipped[0]
        else ""
    )
    return (
        f'{_STYLE}<div class="cerkl-json" role="tree" aria-label="Response body">{body}{note}</div>'
    )


def _cell(value: Any) -> str:
    if isinstance(value, Mapping):
        if "id" in value and len(value) <= 3:
            desc = value.get("description") or value.get("name")
            text = f"{value['id']}" + (f" ({desc})" if desc else "")
        else:
            text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, list):
        text = json.dumps(value, ensure_ascii=False)
    elif value is None:
        text = ""
    else:
        text = str(value)
    if len(text) > 80:
        text = text[:77] + "…"
    return esc(text)


def table_html(items: Sequence[Any], *, max_rows: int = 200) -> str:
    """A table of list items (columns: the union of keys, in order of appearance)."""
    rows = [i for i in items if isinstance(i, Mapping)]
    if not rows:
        return f"{_STYLE}<p class='m'>No list in this response.</p>"
    columns: list[str] = []
    for row in rows[:50]:
        for k in row:
            if k not in columns:
                columns.append(str(k))
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>"
        for r in rows[:max_rows]
    )
    more = (
        f"<p class='m'>Showing {max_rows} of {len(rows)} rows.</p>" if len(rows) > max_rows else ""
    )
    plural = "s" if len(rows) != 1 else ""
    caption = f"<caption style='text-align:left'>{len(rows)} item{plural}</caption>"
    return (
        f"{_STYLE}<div class='cerkl-scroll'><table class='cerkl-table'>{caption}"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{more}"
    )


def headers_html(headers: Mapping[str, Any] | None) -> str:
    """Response headers as a two-column table (values redacted)."""
    if not headers:
        return f"{_STYLE}<p class='m'>No headers (no response arrived).</p>"
    body = "".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in headers.items()
    )
    return f"{_STYLE}<table class='cerkl-table'><tbody>{body}</tbody></table>"
