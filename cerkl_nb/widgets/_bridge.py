"""FrontEndBridge: a tiny anywidget for what only the page can do (clipboard, new cells).

Python cannot write the browser's clipboard or add a notebook cell from a button click
(``IPython.set_next_input`` only works inside a cell execution, and a click is a comm
message, not an execution). The page can: this widget receives one-off custom messages
(never traits, so nothing is saved with the notebook) and answers with a report.
"""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import ipywidgets as widgets

__all__ = ["FrontEndBridge"]

_STATIC = pathlib.Path(__file__).parent / "static"


class FrontEndBridge(anywidget.AnyWidget):
    """Send copy / insert-cell requests to the page and collect its reports.

    Attributes
    ----------
    sent
        The last few requests sent (kind and nonce only, never the text), for tests.
    """

    _esm = _STATIC / "bridge.js"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("layout", widgets.Layout(height="0px", overflow="hidden", margin="0"))
        super().__init__(**kwargs)
        self._report_callbacks = widgets.CallbackDispatcher()
        self.sent: list[dict[str, str]] = []
        self.on_msg(self._on_msg)

    def copy(self, text: str, what: str = "Text") -> str:
        """Ask the page to put ``text`` on the clipboard; returns the request's nonce."""
        return self._request({"kind": "copy", "text": text, "what": what})

    def insert_cell(self, code: str, anchor_ids: Sequence[str] = ()) -> str:
        """Ask the page to add a code cell below the cell showing one of ``anchor_ids``."""
        return self._request({"kind": "insert_cell", "code": code, "anchor_ids": list(anchor_ids)})

    def on_report(self, callback: Callable[[dict[str, Any]], None], remove: bool = False) -> None:
        """Call ``callback(report)`` when the page answers (``kind`` copied / inserted)."""
        self._report_callbacks.register_callback(callback, remove=remove)

    def _request(self, content: dict[str, Any]) -> str:
        nonce = uuid.uuid4().hex
        content["nonce"] = nonce
        self.sent = [*self.sent[-9:], {"kind": content["kind"], "nonce": nonce}]
        self.send(content)
        return nonce

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") in ("copied", "inserted"):
            self._report_callbacks(content)
