"""Small anywidgets for what only the page can do.

* :class:`FrontEndBridge`: clipboard and new cells. Python cannot write the browser's
  clipboard or add a notebook cell from a click (``IPython.set_next_input`` only works in
  a cell execution, and a click is a comm message). The page can: the bridge sends it
  one-off custom messages (never traits, so nothing is saved with the notebook) and hears
  its report. It also loads the widgets' stylesheet and keeps busy buttons focusable.
* :class:`HtmlPane`: HTML that is never synced state (response data).
* :class:`LiveStatus`: a status line whose live region persists across updates.
"""

from __future__ import annotations

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
    """The ESM ``static/<name>`` with ``static/shared.js`` (clipboard, snapshot) prepended.

    anywidget loads each module from its own Blob URL, so modules cannot import each
    other: this gives every widget the same ``writeClipboard()`` and ``whenSnapshot()``.
    """
    return "\n".join((STATIC / f).read_text(encoding="utf-8") for f in ("shared.js", name))


class FrontEndBridge(anywidget.AnyWidget):
    """Send copy / insert-cell requests to the page and collect its reports."""

    _esm = page_module("bridge.js")
    _css = STATIC / "widgets.css"
    #: The accessible name given to a ``.cerkl-response-tabs`` tab list in the composite
    #: widget around the bridge (ipywidgets' Tab has no aria-label).
    tablist_label = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("layout", widgets.Layout(height="0px", overflow="hidden", margin="0"))
        super().__init__(**kwargs)
        self._report_callbacks = widgets.CallbackDispatcher()
        # The text of the last few requests, by nonce: shown instead when the page fails.
        self._texts: dict[str, str] = {}
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

        ``report["kind"]`` is ``"copied"`` or ``"inserted"`` (with ``ok``, ``how``,
        ``error`` and ``text``: what the request carried), or ``"capabilities"`` (sent by
        each new view: ``insert_cell`` says whether this front end lets widgets add cells;
        Voilà, VS Code and Colab do not).
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
            content = {
                **content,
                "error": redact(content.get("error") or ""),
                "text": self._texts.get(content.get("nonce") or "", ""),
            }
        else:
            return
        self._report_callbacks(content)


class HtmlPane(anywidget.AnyWidget):
    """Like ``ipywidgets.HTML``, but the HTML is not synced state.

    :attr:`value` is a plain attribute; each change goes to the page in a one-off message,
    and a view rendered later (a second view, a re-opened notebook with a live kernel)
    asks for it. Saved widget state and ``embed_data`` hold no response data (personal
    data such as subscriber e-mail addresses).
    """

    _esm = page_module("pane.js")
    #: Shown in a saved snapshot (no kernel to ask) instead of an empty box.
    unsaved_note = traitlets.Unicode("").tag(sync=True)

    def __init__(self, value: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._value = value
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


class LiveStatus(anywidget.AnyWidget):
    """A status line: icon, coloured bar and plain text, in a live region that persists.

    The text is redacted and shown as text, never as HTML, so it cannot inject markup.
    """

    _esm = page_module("status.js")
    #: ``"info"``, ``"ok"``, ``"warn"``, ``"error"`` or ``"busy"``.
    kind = traitlets.Unicode("info").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)

    def show(self, kind: str, text: str) -> None:
        """Show ``text`` (redacted) as a ``kind`` message."""
        with self.hold_sync():
            self.kind = kind
            self.text = redact(text)
