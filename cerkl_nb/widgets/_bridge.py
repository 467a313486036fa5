"""Small anywidgets for what only the page can do.

* :class:`FrontEndBridge`: clipboard and new cells. Python cannot write the browser's
  clipboard or add a notebook cell from a button click (``IPython.set_next_input`` only
  works inside a cell execution, and a click is a comm message, not an execution). The
  page can: this widget receives one-off custom messages (never traits, so nothing is
  saved with the notebook) and answers with a report. It also loads the widgets'
  stylesheet and keeps busy buttons focusable (see ``static/bridge.js``).
* :class:`HtmlPane`: HTML that is never synced state (response data).
* :class:`LiveStatus`: a status line whose live region persists across updates.

anywidget loads each ESM from its own Blob URL, so one module cannot import another:
:func:`page_module` builds each ESM from its file plus the shared ``clipboard.js``.
"""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

__all__ = ["FrontEndBridge", "HtmlPane", "LiveStatus", "page_module"]

_STATIC = pathlib.Path(__file__).parent / "static"


#: Page code shared by the widgets' modules: the clipboard helper and the snapshot check.
_SHARED = ("clipboard.js", "snapshot.js")


def page_module(name: str | None = None, source: str = "") -> str:
    """The ESM source of ``static/<name>`` (or ``source``) with the shared helpers prepended.

    The widgets that write the clipboard (the bridge and the token panel) get the same
    ``writeClipboard()`` from ``static/clipboard.js``, and every widget with page code
    the same ``whenSnapshot()`` from ``static/snapshot.js``: one helper, one place to fix.
    """
    shared = "\n".join((_STATIC / f).read_text(encoding="utf-8") for f in _SHARED)
    own = (_STATIC / name).read_text(encoding="utf-8") if name else source
    return f"{shared}\n{own}"


class FrontEndBridge(anywidget.AnyWidget):
    """Send copy / insert-cell requests to the page and collect its reports.

    Attributes
    ----------
    sent
        The last few requests sent (kind and nonce only, never the text), for tests.
    """

    _esm = page_module("bridge.js")
    _css = _STATIC / "widgets.css"
    #: When set, the accessible name given to a ``.cerkl-response-tabs`` tab list in the
    #: composite widget around the bridge (ipywidgets' Tab has no aria-label).
    tablist_label = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("layout", widgets.Layout(height="0px", overflow="hidden", margin="0"))
        super().__init__(**kwargs)
        self._report_callbacks = widgets.CallbackDispatcher()
        self.sent: list[dict[str, str]] = []
        # The text of the last few requests, by nonce: shown instead when the page fails.
        self._texts: dict[str, str] = {}
        #: Whether the page can add notebook cells (``None`` until a view has said).
        self.can_insert_cells: bool | None = None
        self.on_msg(self._on_msg)

    def copy(self, text: str, what: str = "Text") -> str:
        """Ask the page to put ``text`` on the clipboard; returns the request's nonce."""
        return self._request({"kind": "copy", "text": text, "what": what})

    def insert_cell(self, code: str, anchor_ids: Sequence[str] = ()) -> str:
        """Ask the page to add a code cell below the cell showing one of ``anchor_ids``."""
        return self._request({"kind": "insert_cell", "code": code, "anchor_ids": list(anchor_ids)})

    def on_report(self, callback: Callable[[dict[str, Any]], None], remove: bool = False) -> None:
        """Call ``callback(report)`` when the page answers.

        ``kind`` is ``"copied"`` or ``"inserted"`` (the answer to a request), or
        ``"capabilities"`` (sent by each new view: ``insert_cell`` says whether this front
        end lets widgets add cells; Voilà, VS Code and Colab do not).
        """
        self._report_callbacks.register_callback(callback, remove=remove)

    def text_of(self, nonce: str | None) -> str | None:
        """The text or code of one of the last few requests (``None`` when unknown)."""
        return self._texts.get(nonce or "")

    def _request(self, content: dict[str, Any]) -> str:
        nonce = uuid.uuid4().hex
        content["nonce"] = nonce
        self.sent = [*self.sent[-9:], {"kind": content["kind"], "nonce": nonce}]
        self._texts = {
            **dict(list(self._texts.items())[-9:]),
            nonce: content.get("text") or content.get("code") or "",
        }
        self.send(content)
        return nonce

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("kind") == "capabilities":
            self.can_insert_cells = bool(content.get("insert_cell"))
            self.send({"kind": "live"})  # a kernel is listening: not a saved snapshot
            self._report_callbacks(content)
        elif content.get("kind") in ("copied", "inserted"):
            self._report_callbacks(content)


_PANE_ESM = """
// HtmlPane: HTML that arrives in one-off messages, never in a synced trait, so a
// notebook saved with widget state holds none of it. A new view asks for the content.
//
// A JSON body is one tab stop however long it is (a roving tabindex): Tab reaches the
// first visible section, the arrow keys move between sections, Right/Left open and
// close one, Enter/Space toggle it (native <details>).
function visibleSummaries(el) {
  return Array.from(el.querySelectorAll(".cerkl-json summary")).filter(
    (s) => s.getClientRects().length > 0,
  );
}

function rove(el) {
  const all = el.querySelectorAll(".cerkl-json summary");
  all.forEach((s, i) => s.setAttribute("tabindex", i === 0 ? "0" : "-1"));
}

function onKey(el, event) {
  const here = event.target;
  if (!here || here.tagName !== "SUMMARY") return;
  const list = visibleSummaries(el);
  const i = list.indexOf(here);
  let next = null;
  if (event.key === "ArrowDown") next = list[i + 1];
  else if (event.key === "ArrowUp") next = list[i - 1];
  else if (event.key === "Home") next = list[0];
  else if (event.key === "End") next = list[list.length - 1];
  else if (event.key === "ArrowRight" && !here.parentElement.open) here.parentElement.open = true;
  else if (event.key === "ArrowLeft" && here.parentElement.open) here.parentElement.open = false;
  else if (event.key === "ArrowLeft") {
    const parent = here.parentElement.parentElement.closest("details");
    next = parent ? parent.querySelector(":scope > summary") : null;
  } else return;
  event.preventDefault();
  if (next) {
    here.setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  }
}

function render({ model, el }) {
  el.classList.add("cerkl-html-pane");
  const onMsg = (msg) => {
    if (msg && msg.kind === "html") {
      el.innerHTML = msg.html || "";
      rove(el);
    }
  };
  const keys = (event) => onKey(el, event);
  el.addEventListener("keydown", keys);
  model.on("msg:custom", onMsg);
  // Ask for the content; a saved snapshot has none (by design), and says so.
  const stopWatch = whenSnapshot(model, { kind: "want" }, "html", () => {
    const note = model.get("unsaved_note");
    if (!note) return;
    const p = document.createElement("p");
    p.className = "cerkl-note";
    p.textContent = note;
    el.replaceChildren(p);
  });
  return () => {
    stopWatch();
    el.removeEventListener("keydown", keys);
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

    _esm = page_module(source=_PANE_ESM)
    #: Shown instead of the content in a saved snapshot (no kernel to ask): the content
    #: is never saved, so say so rather than show an empty box.
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


_STATUS_ESM = """
// LiveStatus: one live region for the widget's whole life. Screen readers announce a
// change of its text; a region re-created with each update (ipywidgets' HTML) is missed.
const ICONS = { info: "ℹ", ok: "✔", warn: "⚠", error: "✖", busy: "…" };
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "cerkl-status";
  box.setAttribute("role", "status");
  box.setAttribute("aria-live", "polite");
  box.setAttribute("aria-atomic", "true");
  el.appendChild(box);
  const update = () => {
    const text = model.get("text") || "";
    const kind = model.get("kind") || "info";
    box.dataset.kind = kind;
    box.replaceChildren();
    if (!text) return;
    const icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.className = `cerkl-${kind === "busy" ? "note" : kind}`;
    icon.textContent = `${ICONS[kind] || ICONS.info} `;
    box.append(icon, text);
  };
  model.on("change:text", update);
  model.on("change:kind", update);
  update();
  return () => {
    model.off("change:text", update);
    model.off("change:kind", update);
  };
}
export default { render };
"""


class LiveStatus(anywidget.AnyWidget):
    """A status line: icon, coloured bar and text, in a live region that persists.

    The text is plain (already redacted by the caller) and is shown as text, never as
    HTML, so it cannot inject markup.
    """

    _esm = _STATUS_ESM
    #: ``"info"``, ``"ok"``, ``"warn"``, ``"error"`` or ``"busy"``.
    kind = traitlets.Unicode("info").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
