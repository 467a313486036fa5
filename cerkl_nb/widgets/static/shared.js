// Page code every widget module shares. anywidget loads each ESM from its own Blob URL,
// so one module cannot import another: Python prepends this file to each of them
// (cerkl_nb/widgets/_bridge.py: page_module).

// A visually hidden live region appended to `parent`; say(text) announces `text` (cleared
// first, so the same sentence is announced again).
function liveRegion(parent) {
  const node = document.createElement("div");
  node.setAttribute("aria-live", "polite");
  node.setAttribute("aria-atomic", "true");
  node.style.cssText =
    "position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap";
  parent.appendChild(node);
  const say = (text) => {
    node.textContent = "";
    setTimeout(() => (node.textContent = text), 50);
  };
  return { node, say };
}

async function writeClipboard(text) {
  // Returns {ok, error}. navigator.clipboard needs a secure context and focus; the
  // textarea fallback covers plain-http hosts and a page that lost focus.
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return { ok: true, error: null };
    }
  } catch (err) {
    // fall through to the textarea method
  }
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.setAttribute("readonly", "");
  ta.setAttribute("aria-hidden", "true");
  ta.style.cssText = "position:fixed;opacity:0";
  const previous = document.activeElement;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (err) {
    ok = false;
  }
  ta.value = "";
  ta.remove();
  // The textarea took the focus to select its text: give it back.
  if (previous && typeof previous.focus === "function") previous.focus();
  return ok ? { ok: true, error: null } : { ok: false, error: "The browser refused clipboard access." };
}

// Saved widget state (a notebook reopened with "save widget state" on, an nbconvert HTML
// page) renders views connected to no kernel: their buttons do nothing. Each view asks
// the kernel once; with no answer within SNAPSHOT_MS it is a snapshot and says so.
const SNAPSHOT_MS = 4000;

function whenSnapshot(model, ask, answerKind, onSnapshot) {
  let answered = false;
  const onAnswer = (msg) => {
    if (msg && msg.kind === answerKind) answered = true;
  };
  model.on("msg:custom", onAnswer);
  let sent = true;
  try {
    model.send(ask);
  } catch (err) {
    sent = false; // no kernel connection at all
  }
  const timer = setTimeout(() => answered || onSnapshot(), sent ? SNAPSHOT_MS : 0);
  return () => {
    clearTimeout(timer);
    model.off("msg:custom", onAnswer);
  };
}
