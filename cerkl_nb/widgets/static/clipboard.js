// The one clipboard helper of the widgets' page code.
//
// anywidget loads each widget's ESM from its own Blob URL, so one widget's module cannot
// import another's. Python therefore prepends this file to each ESM that needs it
// (see cerkl_nb/widgets/_bridge.py: page_module), and both widgets share this code.

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
  ta.style.position = "fixed";
  ta.style.opacity = "0";
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
