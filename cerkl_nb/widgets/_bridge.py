"""Small anywidgets for what only the page can do.

* :class:`FrontEndBridge`: the clipboard and new cells. Python cannot write the browser's
  clipboard or add a cell from a click (a click is a comm message, not an execution); the
  page can. The bridge sends it one-off messages (never traits, so nothing is saved with
  the notebook) and hears its reports. It also loads the widgets' stylesheet and keeps
  busy buttons focusable.
* :class:`HtmlPane`: HTML that is never synced state (response data).
* :class:`StatusLine`: a status line (an ``ipywidgets.HTML``) the bridge keeps a live region.
"""

from __future__ import annotations

import html
import pathlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ..redact import redact

STATIC = pathlib.Path(__file__).parent / "static"


def page_module(name: str) -> str:
    """The ESM ``static/<name>`` with ``static/shared.js`` prepended.

    anywidget loads each module from its own Blob URL, so modules cannot import each
    other: this gives every widget the same clipboard, live-region and snapshot helpers.
    """
    return "\n".join((STATIC / f).read_text(encoding="utf-8") for f in ("shared.js", name))


class FrontEndBridge(anywidget.AnyWidget):
    """Send copy / insert-cell requests to the page and collect its reports."""

    _esm = page_module("bridge.js")
    _css = STATIC / "widgets.css"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("layout", widgets.Layout(height="0px", overflow="hidden", margin="0"))
        super().__init__(**kwargs)
        self._report_callbacks = widgets.CallbackDispatcher()
        self._texts: dict[str, str] = {}  # the last requests' text, shown when the page fails
        #: Whether the page can add notebook cells (``None`` until a view has said).
        self.can_insert_cells: bool | None = None
        self.on_msg(self._on_msg)

    def copy(self, text: str, what: str = "Text") -> str:
        """Ask the page to put ``text`` on the clipboard; returns the request's nonce."""
        return self._request({"kind": "copy", "text": text, "what": what}, text)

    def insert_cell(self, code: str, anchor_ids: Sequence[str] = ()) -> str:
        """Ask the page to add a code cell below the cell showing one of ``anchor_ids``."""
        content = {"kind": "insert_cell", "code": code, "anchor_ids": list(anchor_ids)}
        return self._request(content, code)

    def on_report(self, callback: Callable[[dict[str, Any]], None], remove: bool = False) -> None:
        """Call ``callback(report)`` when the page answers.

        ``report["kind"]`` is ``"copied"`` or ``"inserted"`` (with ``ok``, ``error`` and
        ``text``, what the request carried), or ``"capabilities"`` (from each
        new view: ``insert_cell`` says whether this front end lets widgets add cells).
        """
        self._report_callbacks.register_callback(callback, remove=remove)

    def _request(self, content: dict[str, Any], text: str) -> str:
        nonce = content["nonce"] = uuid.uuid4().hex
        self._texts = {**dict(list(self._texts.items())[-9:]), nonce: text}
        self.send(content)
        return nonce

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "capabilities":
            self.can_insert_cells = bool(content.get("insert_cell"))
            self.send({"kind": "live"})  # a kernel is listening: not a saved snapshot
        elif kind in ("copied", "inserted"):
            text = self._texts.get(content.get("nonce") or "", "")
            content = {**content, "error": redact(content.get("error") or ""), "text": text}
        else:
            return
        self._report_callbacks(content)


class HtmlPane(anywidget.AnyWidget):
    """Like ``ipywidgets.HTML``, but :attr:`value` is not synced state.

    Each change goes to the page in a one-off message, and a view rendered later asks for
    it; saved widget state and ``embed_data`` hold none of it.
    """

    _esm = page_module("pane.js")
    #: Shown in a saved snapshot (no kernel to ask) instead of an empty box.
    unsaved_note = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._value = ""
        self.on_msg(self._on_msg)

    @property
    def value(self) -> str:
        """The HTML shown (kept in the kernel only)."""
        return self._value

    @value.setter
    def value(self, html: str) -> None:
        self._value = html or ""
        self._push()

    def _push(self) -> None:
        if self.comm is not None:
            self.send({"kind": "html", "html": self._value})

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") == "want":
            self._push()


class StatusLine(widgets.HTML):
    """A status line: icon, coloured bar and text (redacted, escaped: never markup).

    The bridge's page code makes the line's content element a polite live region. That
    element persists across updates (only its children change), so screen readers announce
    each new text; a region re-created with each update would be missed.
    """

    _ICONS = {"info": "ℹ", "ok": "✔", "warn": "⚠", "error": "✖", "busy": "…"}

    def __init__(self) -> None:
        super().__init__()
        self.add_class("cerkl-status-line")
        #: ``"info"``, ``"ok"``, ``"warn"``, ``"error"`` or ``"busy"``, and the plain text.
        self.kind, self.text = "info", ""

    def show(self, kind: str, text: str) -> None:
        """Show ``text`` (redacted) as a ``kind`` message."""
        self.kind, self.text = kind, redact(text)
        colour = "note" if kind == "busy" else kind
        icon = f"<span aria-hidden='true' class='cerkl-{colour}'>{self._ICONS[kind]} </span>"
        line = f"<div class='cerkl-status' data-kind='{kind}'>{icon}{html.escape(self.text)}</div>"
        self.value = line if text else ""
