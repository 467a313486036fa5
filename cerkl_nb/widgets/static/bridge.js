// FrontEndBridge (anywidget ESM): does for Python what only the page can do.
//
//  {kind: "copy", text, what, nonce}               -> the clipboard
//  {kind: "insert_cell", code, anchor_ids, nonce}  -> a new code cell below the cell whose
//      output shows one of `anchor_ids`, through JupyterLab's notebook model (Voilà,
//      VS Code and Colab have none: each view says up front whether it can).
// Each request is answered with {kind: "copied" | "inserted", ok, error, nonce}.
//
// For the composite widget it sits in (the credentials form, the explorer) it also does
// what ipywidgets' stock controls cannot: a button with the class "cerkl-busy" stays
// focusable but is marked aria-disabled and aria-busy, and clicks on it are dropped (a
// disabled button would drop the keyboard focus to <body>); a tab list inside
// ".cerkl-response-tabs" (the explorer's response view) gets its accessible name; and a
// status line's content element becomes a live region (it persists across updates).

const handled = new Set();
const WIDGET_MIME = "application/vnd.jupyter.widget-view+json";
const COMPOSITE = ".cerkl-credentials-form, .cerkl-api-explorer";

function anchorIndex(shared, anchorIds) {
  const cells = shared.cells || [];
  for (let i = cells.length - 1; i >= 0; i--) {
    if (cells[i].cell_type !== "code") continue;
    let outputs = [];
    try {
      outputs = cells[i].getOutputs ? cells[i].getOutputs() : cells[i].toJSON().outputs;
    } catch (err) {
      outputs = [];
    }
    for (const out of outputs || []) {
      const data = out && out.data && out.data[WIDGET_MIME];
      if (data && anchorIds.includes(data.model_id)) return i;
    }
  }
  return -1;
}

function domIndex(el) {
  const cell = el.closest(".jp-Cell");
  const nb = el.closest(".jp-Notebook");
  if (!cell || !nb) return -1;
  const attr = cell.getAttribute("data-windowed-list-index");
  if (attr) return Number(attr);
  return Array.from(nb.querySelectorAll(".jp-Cell")).indexOf(cell);
}

// JupyterLab's widget manager holds the notebook's document context; other front ends
// have none. This reach into the manager is not a documented API, so it is checked up
// front and reported.
function notebookModel(model) {
  const context = model.widget_manager && model.widget_manager.context;
  const shared = context && context.model && context.model.sharedModel;
  return shared && typeof shared.insertCell === "function" ? shared : null;
}

function insertCell(model, el, code, anchorIds) {
  const shared = notebookModel(model);
  if (!shared) return null;
  let index = anchorIndex(shared, anchorIds);
  if (index < 0) index = domIndex(el);
  const at = index >= 0 ? index + 1 : shared.cells.length;
  shared.insertCell(at, { cell_type: "code", source: code, metadata: {} });
  return at;
}

function markBusy(root) {
  for (const b of root.querySelectorAll("button")) {
    if (b.classList.contains("cerkl-busy")) {
      b.setAttribute("aria-disabled", "true");
      b.setAttribute("aria-busy", "true");
    } else if (b.hasAttribute("aria-busy")) {
      b.removeAttribute("aria-disabled");
      b.removeAttribute("aria-busy");
    }
  }
  const list = root.querySelector(".cerkl-response-tabs [role='tablist']");
  if (list && !list.hasAttribute("aria-label")) list.setAttribute("aria-label", "Response view");
  for (const line of root.querySelectorAll(".cerkl-status-line .widget-html-content")) {
    if (line.getAttribute("role") === "status") continue;
    line.setAttribute("role", "status");
    line.setAttribute("aria-live", "polite");
    line.setAttribute("aria-atomic", "true");
  }
}

function decorate(el) {
  // The composite is rendered around this view a moment after render() returns.
  let root = null;
  let observer = null;
  const dropBusyClicks = (event) => {
    if (event.target.closest && event.target.closest("button.cerkl-busy")) {
      event.stopPropagation();
      event.preventDefault();
    }
  };
  const attach = () => {
    root = el.closest(COMPOSITE);
    if (!root) return false;
    markBusy(root);
    observer = new MutationObserver(() => markBusy(root));
    observer.observe(root, { subtree: true, childList: true, attributeFilter: ["class"] });
    root.addEventListener("click", dropBusyClicks, true);
    return true;
  };
  let tries = 0;
  const timer = setInterval(() => (attach() || ++tries > 50) && clearInterval(timer), 100);
  return () => {
    clearInterval(timer);
    if (observer) observer.disconnect();
    if (root) root.removeEventListener("click", dropBusyClicks, true);
  };
}

function showSnapshot(el) {
  // A saved snapshot: say so at the top of the form or explorer (its buttons do nothing).
  const root = el.closest(COMPOSITE);
  if (!root || root.querySelector(":scope > .cerkl-snapshot")) return;
  const note = document.createElement("div");
  note.className = "cerkl-banner cerkl-banner-binder cerkl-snapshot";
  note.setAttribute("role", "note");
  note.textContent =
    "Snapshot saved with the notebook: not connected to a kernel, so these controls do " +
    "nothing. Run the cell again for live widgets.";
  root.prepend(note);
}

async function fulfil(model, el, msg, say) {
  const { nonce } = msg;
  if (msg.kind === "copy") {
    const { ok, error } = await writeClipboard(msg.text || "");
    say(ok ? `${msg.what || "Text"} copied to the clipboard` : "Copy failed");
    model.send({ kind: "copied", ok, nonce, what: msg.what || "", error });
    return;
  }
  let at = null;
  let error = "This front end does not let widgets add cells.";
  try {
    at = insertCell(model, el, msg.code || "", msg.anchor_ids || []);
  } catch (err) {
    error = String((err && err.message) || err);
  }
  say(at !== null ? "Code cell inserted below" : "Insert failed");
  model.send({ kind: "inserted", ok: at !== null, index: at, nonce, error: at === null ? error : null });
}

function render({ model, el }) {
  el.classList.add("cerkl-bridge");
  const undecorate = decorate(el);
  const { say } = liveRegion(el);
  const onMsg = (msg) => {
    if (!msg || !["copy", "insert_cell"].includes(msg.kind) || handled.has(msg.nonce)) return;
    handled.add(msg.nonce); // the same model may be shown in several views: act once
    fulfil(model, el, msg, say);
  };
  model.on("msg:custom", onMsg);
  const capabilities = { kind: "capabilities", insert_cell: notebookModel(model) !== null };
  const stopWatch = whenSnapshot(model, capabilities, "live", () => showSnapshot(el));
  return () => {
    stopWatch();
    undecorate();
    model.off("msg:custom", onMsg);
  };
}

export default { render };
