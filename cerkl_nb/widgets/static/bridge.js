// FrontEndBridge (anywidget ESM): does for Python what only the page can do.
//
//  {kind: "copy", text, what, nonce}          -> navigator.clipboard (textarea fallback)
//  {kind: "insert_cell", code, anchor_ids, nonce}
//       -> a new code cell below the cell whose output shows one of `anchor_ids`,
//          through JupyterLab's notebook model (the widget manager's document context);
//          where that is not reachable (another front end) the code goes to the clipboard.
// Each request is answered with {kind: "copied" | "inserted", ok, how, error, nonce}.

const handled = new Set();
const WIDGET_MIME = "application/vnd.jupyter.widget-view+json";

async function writeClipboard(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (err) {
    // fall back below
  }
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.setAttribute("readonly", "");
  ta.style.position = "fixed";
  ta.style.opacity = "0";
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (err) {
    ok = false;
  }
  ta.remove();
  return ok;
}

function cellOutputs(cell) {
  try {
    if (typeof cell.getOutputs === "function") return cell.getOutputs() || [];
    const json = typeof cell.toJSON === "function" ? cell.toJSON() : null;
    return (json && json.outputs) || [];
  } catch (err) {
    return [];
  }
}

function anchorIndex(shared, anchorIds) {
  const cells = shared.cells || [];
  for (let i = cells.length - 1; i >= 0; i--) {
    const cell = cells[i];
    if (cell.cell_type !== "code") continue;
    for (const out of cellOutputs(cell)) {
      const data = out && out.data && out.data[WIDGET_MIME];
      if (data && anchorIds.includes(data.model_id)) return i;
    }
  }
  return -1;
}

function domIndex(el) {
  const cellNode = el.closest(".jp-Cell");
  const nb = el.closest(".jp-Notebook");
  if (!cellNode || !nb) return -1;
  const attr = cellNode.getAttribute("data-windowed-list-index");
  if (attr !== null && attr !== "") return Number(attr);
  return Array.from(nb.querySelectorAll(".jp-Cell")).indexOf(cellNode);
}

function insertCell(model, el, code, anchorIds) {
  const manager = model.widget_manager;
  const context = manager && manager.context;
  const shared = context && context.model && context.model.sharedModel;
  if (!shared || typeof shared.insertCell !== "function") {
    return null;
  }
  let index = anchorIndex(shared, anchorIds || []);
  if (index < 0 && el) index = domIndex(el);
  const at = index >= 0 ? index + 1 : shared.cells.length;
  shared.insertCell(at, { cell_type: "code", source: code, metadata: {} });
  return at;
}

function render({ model, el }) {
  el.classList.add("cerkl-bridge");
  const live = document.createElement("div");
  live.setAttribute("aria-live", "polite");
  live.setAttribute("aria-atomic", "true");
  live.style.cssText =
    "position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap";
  el.appendChild(live);
  const say = (text) => {
    live.textContent = "";
    setTimeout(() => (live.textContent = text), 50);
  };

  async function onMsg(msg) {
    if (!msg || !msg.kind) return;
    if (msg.nonce) {
      if (handled.has(msg.nonce)) return;
      handled.add(msg.nonce);
    }
    if (msg.kind === "copy") {
      const ok = await writeClipboard(msg.text || "");
      say(ok ? `${msg.what || "Text"} copied to the clipboard` : "Copy failed");
      model.send({ kind: "copied", ok, how: "clipboard", nonce: msg.nonce, what: msg.what || "",
                   error: ok ? null : "The browser refused clipboard access." });
    } else if (msg.kind === "insert_cell") {
      let at = null;
      let error = null;
      try {
        at = insertCell(model, el, msg.code || "", msg.anchor_ids || []);
      } catch (err) {
        error = String(err && err.message ? err.message : err);
      }
      if (at !== null) {
        say("Code cell inserted below");
        model.send({ kind: "inserted", ok: true, how: "notebook", index: at, nonce: msg.nonce });
      } else {
        const ok = await writeClipboard(msg.code || "");
        say(ok ? "Code copied to the clipboard" : "Insert failed");
        model.send({
          kind: "inserted",
          ok: false,
          how: ok ? "clipboard" : "none",
          nonce: msg.nonce,
          error: error || "This front end does not let widgets add cells.",
        });
      }
    }
  }
  model.on("msg:custom", onMsg);
  return () => model.off("msg:custom", onMsg);
}

export default { render };
