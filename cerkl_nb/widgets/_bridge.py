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
import traitlets

__all__ = ["FrontEndBridge", "HtmlPane"]

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


_PANE_ESM = """
// HtmlPane: HTML that arrives in one-off messages, never in a synced trait, so a
// notebook saved with widget state holds none of it. A new view asks for the content.
function render({ model, el }) {
  el.classList.add("cerkl-html-pane");
  const onMsg = (msg) => {
    if (msg && msg.kind === "html") el.innerHTML = msg.html || "";
  };
  model.on("msg:custom", onMsg);
  try {
    model.send({ kind: "want" });
  } catch (err) {
    // no kernel (a saved notebook opened without one): nothing to show, by design
  }
  // ipywidgets' Tab has no aria-label: name the enclosing tab list for screen readers.
  const label = model.get("tablist_label");
  const timer = label
    ? setTimeout(() => {
        const list = el.closest(".cerkl-response-tabs")?.querySelector("[role='tablist']");
        if (list && !list.hasAttribute("aria-label")) list.setAttribute("aria-label", label);
      }, 0)
    : null;
  return () => {
    clearTimeout(timer);
    model.off("msg:custom", onMsg);
  };
}
export default { render };
"""


class HtmlPane(anywidget.AnyWidget):
    """Like ``ipywidgets.HTML``, but the HTML is not synced state.

    :attr:`value` is a plain Python attribute; each change goes to the page in a one-off
    custom message, and a view rendered later (a second view, a re-opened notebook with a
    live kernel) asks for it. Saved widget state and ``embed_data`` therefore hold no
    response data (personal data such as subscriber e-mail addresses).
    """

    _esm = _PANE_ESM
    #: When set, the accessible name given to the enclosing ``.cerkl-response-tabs`` tab list.
    tablist_label = traitlets.Unicode("").tag(sync=True)

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
