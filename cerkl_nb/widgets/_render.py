"""The explorer's response view, and its HTML: summary line, JSON, tables, headers.

Everything is redacted, then escaped, so a response can never inject markup or show a
credential-looking value: every leaf of a JSON body, numbers included (a numeric secret is
a secret), and a value whose *field name* marks it as a credential (``"access_token"``).
Collapsing uses native ``<details>`` elements (keyboard operable, no JavaScript).
"""

from __future__ import annotations

import http
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets

from ..errors import ApiError
from ..redact import MASK, redact
from ._bridge import HtmlPane
from ._common import esc

NO_RESPONSE_HTML = "<div class='cerkl-response-status cerkl-note'>No response yet.</div>"


def reason(status: int | None) -> str:
    """The standard phrase of an HTTP status (``404`` → ``"Not Found"``), or ``""``."""
    if status is None:
        return ""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _leaf_text(key: str | None, value: Any) -> str:
    """A JSON leaf as redacted text.

    The value alone is redacted (a registered secret, a token's shape), and so is the
    ``"key": value`` pair: redact() knows credential field names (``access_token``,
    ``client_secret`` ...), which only show in the pair.
    """
    text = json.dumps(value, ensure_ascii=False)
    shown = redact(text)
    if key is not None and shown == text:
        pair = json.dumps({key: value}, ensure_ascii=False)
        if redact(pair) != pair:
            shown = json.dumps(MASK)
    return shown


def _scalar(key: str | None, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        cls = "b"
    elif isinstance(value, (int, float)):
        cls = "n"
    else:
        cls, value = "s", value if isinstance(value, str) else str(value)
    return f'<span class="{cls}">{esc(_leaf_text(key, value))}</span>'


def _preview(obj: Mapping[str, Any], n: int = 3) -> str:
    """A one-line hint of an object's first scalar fields, shown while it is collapsed."""
    parts = []
    for k, v in obj.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            text = _leaf_text(str(k), v)
            if len(text) > 32:
                text = text[:31] + "…"
            parts.append(f"{k}: {text}")
        if len(parts) == n:
            break
    return f' <span class="m">· {esc(", ".join(parts))}</span>' if parts else ""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def json_html(value: Any, *, open_depth: int = 2, max_nodes: int = 3000) -> str:
    """Pretty, collapsible JSON: objects and arrays are ``<details>`` blocks.

    ``open_depth`` levels are expanded at first; after ``max_nodes`` values the rest is
    left out (a note says how many).
    """
    budget, skipped = max_nodes, 0

    def node(v: Any, key: str | None, depth: int, last: bool) -> str:
        nonlocal budget, skipped
        if budget <= 0:
            skipped += 1
            return ""
        budget -= 1
        label = f'<span class="k">{esc(json.dumps(key, ensure_ascii=False))}</span>: '
        label = label if key is not None else ""
        if isinstance(v, Mapping):
            items: list[tuple[str | None, Any]] = [(str(k), x) for k, x in v.items()]
            brackets, count, hint = "{}", _plural(len(items), "key"), _preview(v)
        elif isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
            items = [(None, x) for x in v]
            brackets, count, hint = "[]", _plural(len(items), "item"), ""
        else:
            return f"<div>{label}{_scalar(key, v)}{'' if last else ','}</div>"
        if not items:
            return f"<div>{label}{brackets}{'' if last else ','}</div>"
        inner = "".join(
            node(x, k, depth + 1, i == len(items) - 1) for i, (k, x) in enumerate(items)
        )
        return (
            f"<details{' open' if depth < open_depth else ''}><summary>{label}{brackets[0]} "
            f'<span class="m">{count}</span>{hint} {brackets[1]}</summary>'
            f"<div>{inner}</div></details>"
        )

    body = node(value, None, 0, True)
    note = f"… {skipped} more values not shown (see response.body in code)" if skipped else ""
    note = f'<div class="m">{note}</div>' if note else ""
    # A group, not role="tree": a tree needs treeitem children, which <details> are not.
    return f'<div class="cerkl-json" role="group" aria-label="Response body">{body}{note}</div>'


def _cell(value: Any) -> str:
    if isinstance(value, Mapping) and "id" in value and len(value) <= 3:
        desc = value.get("description") or value.get("name")
        text = f"{value['id']}" + (f" ({desc})" if desc else "")
    elif isinstance(value, (Mapping, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = "" if value is None else str(value)
    return esc(text if len(text) <= 80 else text[:77] + "…")


def _scroll_region(label: str, inner: str) -> str:
    """A scrolling box the keyboard can reach (and scroll with the arrow keys)."""
    return (
        f'<div class="cerkl-scroll" role="region" tabindex="0" aria-label="{esc(label)}">'
        f"{inner}</div>"
    )


def table_html(items: Sequence[Any], *, max_rows: int = 200) -> str:
    """A table of list items (columns: the union of keys, in order of appearance)."""
    rows = [i for i in items if isinstance(i, Mapping)]
    if not rows:
        return "<p class='cerkl-note'>No list in this response.</p>"
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
    more = f"<p class='cerkl-note'>Showing {max_rows} of {len(rows)} rows.</p>"
    caption = f"<caption>{_plural(len(rows), 'item')}</caption>"
    table = (
        f"<table class='cerkl-table'>{caption}<thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
    return _scroll_region("Response items table", table) + (more if len(rows) > max_rows else "")


def headers_html(headers: Mapping[str, Any] | None) -> str:
    """Response headers as a two-column table (values redacted)."""
    if not headers:
        return "<p class='cerkl-note'>No headers (no response arrived).</p>"
    body = "".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in headers.items()
    )
    return _scroll_region(
        "Response headers", f"<table class='cerkl-table'><tbody>{body}</tbody></table>"
    )


class ResponseView(widgets.VBox):
    """The explorer's response view: a summary line, and Body / Table / Headers tabs.

    The tabs are :class:`~cerkl_nb.widgets._bridge.HtmlPane` s: what they show is never
    saved with the notebook.
    """

    def __init__(self) -> None:
        note = "Response not saved with the notebook: run the cell again, then Send."
        self.summary = widgets.HTML(NO_RESPONSE_HTML)
        self.body, self.table, self.headers = (HtmlPane(unsaved_note=note) for _ in range(3))
        self.tabs = widgets.Tab([self.body, self.table, self.headers])
        self.tabs.titles = ("Body", "Table", "Headers")
        self.tabs.add_class("cerkl-response-tabs")
        super().__init__([self.summary, self.tabs])

    @property
    def summary_text(self) -> str:
        """The summary line as plain text (``"200 OK · 12 ms · 1.2 kB · GET ..."``)."""
        return re.sub(r"<[^>]+>", "", self.summary.value)

    def show(self, method: str, path: str, resp: Any) -> None:
        """Show a response to ``method path``."""
        timing = f" · {resp.elapsed_s * 1000:.0f} ms · {_human_size(resp.size)}"
        kind = "ok" if resp.status < 300 else "warn"
        self._fill(
            _summary(kind, method, path, resp.status, resp.request_id, timing),
            json_html(resp.body) if resp.body is not None else "<p><i>(empty body)</i></p>",
            table_html(resp.items or []),
            headers_html(resp.headers),
        )

    def show_error(self, method: str, path: str, err: BaseException, message: str) -> None:
        """Show a failed request: the server's body when there is one, else ``message``."""
        status, rid = getattr(err, "status", None), getattr(err, "request_id", None)
        excerpt = (err.body_excerpt or "") if isinstance(err, ApiError) else None
        if excerpt is None:  # no response at all
            body = f"<pre style='white-space:pre-wrap'>{esc(message)}</pre>"
        elif excerpt:  # the server's body
            try:
                body = json_html(json.loads(excerpt))
            except ValueError:
                body = f"<pre>{esc(excerpt)}</pre>"
        else:
            body = ""
        summary = _summary("error", method, path, status, rid, "")
        self._fill(summary, body, table_html([]), headers_html(None))
        self.tabs.selected_index = 0  # the error is in the Body tab

    def clear(self) -> None:
        """Show no response."""
        self._fill(NO_RESPONSE_HTML, "", "", "")

    def _fill(self, summary: str, body: str, table: str, headers: str) -> None:
        self.summary.value = summary
        self.body.value, self.table.value, self.headers.value = body, table, headers


def _summary(kind: str, method: str, path: str, status: Any, request_id: Any, timing: str) -> str:
    head = f"{status} {reason(status)}" if status else "No response"
    rid = f" · request id {esc(request_id)}" if request_id else ""
    return (
        f"<div class='cerkl-response-status'><b class='cerkl-{kind}'>{esc(head)}</b>"
        f"{timing} · {esc(method)} {esc(path)}{rid}</div>"
    )


def _human_size(n: int | None) -> str:
    """``1234`` → ``"1.2 kB"``."""
    if n is None:
        return "? B"
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"
