// HtmlPane: HTML that arrives in one-off messages, never in a synced trait, so a
// notebook saved with widget state holds none of it. A new view asks for the content.
//
// A JSON body is one tab stop however long it is (a roving tabindex): Tab reaches the
// first section, the arrow keys move between the visible ones, Right/Left open and close
// one, Enter/Space toggle it (native <details>).
function onKey(el, event) {
  const here = event.target;
  if (!here || here.tagName !== "SUMMARY") return;
  const all = Array.from(el.querySelectorAll(".cerkl-json summary"));
  const list = all.filter((s) => s.getClientRects().length > 0);
  const i = list.indexOf(here);
  const details = here.parentElement;
  let next = null;
  if (event.key === "ArrowDown") next = list[i + 1];
  else if (event.key === "ArrowUp") next = list[i - 1];
  else if (event.key === "Home") next = list[0];
  else if (event.key === "End") next = list[list.length - 1];
  else if (event.key === "ArrowRight" && !details.open) details.open = true;
  else if (event.key === "ArrowLeft" && details.open) details.open = false;
  else if (event.key === "ArrowLeft") {
    const parent = details.parentElement.closest("details");
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
    if (!msg || msg.kind !== "html") return;
    el.innerHTML = msg.html || "";
    el.querySelectorAll(".cerkl-json summary").forEach((s, i) => (s.tabIndex = i ? -1 : 0));
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
