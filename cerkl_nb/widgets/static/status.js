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
