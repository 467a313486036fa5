// TokenPanel front end (anywidget ESM): small views, each redrawn by model.on("change:...").
//
// The countdown ticks here, from the absolute `expires_at` (epoch ms) against Date.now():
// no message to the kernel, and it keeps going while the kernel is busy. Buttons send
// one-off {kind} messages; the token only arrives in a one-off {kind: "copy"} message,
// straight to the clipboard. Unavailable buttons stay focusable (aria-disabled, clicks
// ignored): a disabled one would drop the focus to <body>. Helpers come from shared.js.

const FIVE_MIN_MS = 5 * 60 * 1000;
const SNAPSHOT_NOTICE =
  "Snapshot saved with the notebook: this panel is not connected to a kernel, so its " +
  "buttons do nothing. Run the cell again for a live token panel.";
const BADGES = { none: "no token", fresh: "fresh", soon: "refresh soon", expired: "expired" };
const copiedNonces = new Set();

const pad = (n) => String(n).padStart(2, "0");

export function formatHMS(ms) {
  // Round up: 00:00:00 shows only once the token has expired.
  const total = Math.max(0, Math.ceil(ms / 1000));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  return `${pad(h)}:${pad(m)}:${pad(s)}`;
}

function spoken(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const [h, m] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60)];
  const unit = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = h ? [unit(h, "hour")] : [];
  if (m || !h) parts.push(unit(m, "minute"));
  return parts.join(" ");
}

// The widgets' one time format (as Python's clock_text): 24-hour HH:MM:SS and the zone,
// with the date (YYYY-MM-DD) when it is not today.
export function localTime(ms, nowMs = Date.now()) {
  if (!ms) return "—";
  const d = new Date(ms);
  const parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d);
  const zone = parts.find((p) => p.type === "timeZoneName");
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const day = (x) => `${x.getFullYear()}-${pad(x.getMonth() + 1)}-${pad(x.getDate())}`;
  const shown = zone ? `${time} ${zone.value}` : time;
  return day(d) === day(new Date(nowMs)) ? shown : `${day(d)} ${shown}`;
}

const TEMPLATE = `
<section class="ctp" aria-label="Access token">
  <header class="ctp-head">
    <span class="ctp-title">Access token</span>
    <span class="ctp-badge" data-f="badge">no token</span>
    <span class="ctp-env" data-f="env"></span>
  </header>
  <dl class="ctp-grid">
    <dt>Type</dt><dd data-f="type">—</dd>
    <dt>Token</dt><dd><code data-f="masked">—</code></dd>
    <dt>Issued at</dt><dd data-f="issued">—</dd>
    <dt>Expires at</dt><dd data-f="expires">—</dd>
    <dt>Expires in</dt><dd><span class="ctp-countdown" data-f="countdown" role="timer" aria-live="off">--:--:--</span></dd>
    <dt>Refresh token</dt><dd data-f="rt">—</dd>
    <dt>Last refresh</dt><dd data-f="last">—</dd>
  </dl>
  <div class="ctp-bar" data-f="bar" role="progressbar" aria-label="Remaining token lifetime"
       aria-valuemin="0" aria-valuemax="100" aria-valuenow="0">
    <div class="ctp-bar-fill" data-f="fill"></div>
  </div>
  <div class="ctp-state" data-f="state-text">No token yet.</div>
  <div class="ctp-error" role="alert" data-f="error"></div>
  <div class="ctp-notice" role="status" data-f="notice"></div>
  <div class="ctp-buttons" role="group" aria-label="Token actions">
    <button type="button" data-act="refresh" title="Use the refresh token (or get a new token if that fails)">Refresh</button>
    <button type="button" data-act="new_token" title="Request a brand-new token with the client credentials">Get New Access Token</button>
    <button type="button" data-act="auto" role="switch" aria-checked="true" title="When on, a request made with an expired or expiring token renews it first; nothing happens between requests">Auto-refresh on next request: on</button>
    <button type="button" data-act="copy" title="Copy the full access token to the clipboard (it is never shown)">Copy token</button>
  </div>
</section>`;

function stateText(state, auto, snapshot) {
  if (snapshot) return "Snapshot: the token as it was when the notebook was saved.";
  if (state === "none") return "No token yet. Click Get New Access Token.";
  if (state === "fresh") return "Fresh: the token is valid.";
  if (state === "soon") {
    return auto
      ? "Refresh soon: the token is inside its refresh window; the next request refreshes it first."
      : "Refresh soon: the token is inside its refresh window. Click Refresh (auto-refresh is off).";
  }
  return auto
    ? "Expired: the next request renews it automatically (or click Refresh)."
    : "Expired: requests need a new token. Click Refresh (auto-refresh is off).";
}

// -- views: each draws one part of the panel from the model ---------------------------------

function showToken(ui, model) {
  const expires = model.get("expires_at");
  ui.env.textContent = model.get("environment") || "";
  ui.type.textContent = model.get("token_type") || "—";
  ui.masked.textContent = model.get("masked_token") || "—";
  ui.issued.textContent = localTime(model.get("issued_at"));
  ui.expires.textContent = localTime(expires);
  ui.rt.textContent = !expires
    ? "—"
    : model.get("has_refresh_token")
      ? "held (hidden)"
      : "none (a refresh gets a new token with the client credentials)";
  ui.last.textContent = model.get("last_refresh") || "—";
}

function showMessages(ui, model, snapshot) {
  // The error and notice regions stay in the page, empty when there is nothing to say:
  // a live region created or unhidden with its text is often not announced.
  const set = (node, text) => node.textContent !== text && (node.textContent = text);
  set(ui.notice, snapshot ? SNAPSHOT_NOTICE : model.get("notice") || "");
  set(ui.error, model.get("error") || "");
}

function showButtons(ui, model, snapshot) {
  const busy = model.get("busy");
  const live = model.get("has_client") && !snapshot;
  const mark = (button, unavailable) => {
    button.setAttribute("aria-disabled", unavailable ? "true" : "false");
    if (busy) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  };
  ui.section.setAttribute("aria-busy", busy ? "true" : "false");
  mark(ui.act.refresh, busy || !live);
  mark(ui.act.new_token, busy || !live);
  mark(ui.act.copy, busy || snapshot || !model.get("expires_at"));
  const auto = model.get("auto_refresh");
  ui.act.auto.setAttribute("aria-checked", auto ? "true" : "false");
  ui.act.auto.textContent = `Auto-refresh on next request: ${auto ? "on" : "off"}`;
  ui.act.refresh.textContent = busy ? "Working…" : "Refresh";
}

// The countdown, the bar and the state: drawn on every tick that changes them (and on
// demand), announced when the token crosses the 5-minute mark or expires while watched.
function countdown(ui, model, say, view) {
  let shown = { text: "", state: "", aboveFive: null };
  const tick = (force = false) => {
    const exp = model.get("expires_at");
    const rem = exp ? exp - (Date.now() + (model.get("clock_offset_ms") || 0)) : null;
    const leeway = model.get("leeway_s") * 1000;
    const state = rem === null ? "none" : rem <= 0 ? "expired" : rem <= leeway ? "soon" : "fresh";
    const text = rem === null ? "—" : formatHMS(rem);
    const aboveFive = rem === null ? null : rem > FIVE_MIN_MS;
    if (shown.aboveFive === true && aboveFive === false && rem > 0) {
      say("Access token expires in 5 minutes");
    }
    if (shown.state && shown.state !== "expired" && state === "expired") {
      say("Access token expired");
    }
    if (force || text !== shown.text || state !== shown.state) {
      const life = Math.max(1, model.get("lifetime_s") * 1000);
      const pct = rem === null ? 0 : Math.max(0, Math.min(100, (rem / life) * 100));
      ui.countdown.textContent = text;
      ui.fill.style.width = `${pct.toFixed(2)}%`;
      ui.bar.setAttribute("aria-valuenow", String(Math.round(pct)));
      const left = rem === null ? "no token" : rem <= 0 ? "expired" : `${spoken(rem)} left`;
      ui.bar.setAttribute("aria-valuetext", left);
      ui.section.dataset.state = state;
      ui.badge.textContent = BADGES[state];
      ui["state-text"].textContent = stateText(state, model.get("auto_refresh"), view.snapshot);
    }
    shown = { text, state, aboveFive: rem === null ? shown.aboveFive : aboveFive };
  };
  // A new token: the 5-minute mark is announced only when crossed while watching it.
  tick.newToken = () => (shown.aboveFive = null);
  return tick;
}

function copier(ui, model, say) {
  let timer = null;
  const onMsg = async (msg) => {
    if (!msg || msg.kind !== "copy" || copiedNonces.has(msg.nonce)) return;
    copiedNonces.add(msg.nonce); // the same model may be shown in several views: copy once
    const result = await writeClipboard(msg.text || "");
    msg.text = "";
    say(result.ok ? `${msg.what || "Text"} copied to the clipboard` : "Copy failed");
    // A short visible confirmation on the button too, not only for screen readers.
    ui.act.copy.textContent = result.ok ? "Copied ✓" : "Copy failed";
    clearTimeout(timer);
    timer = setTimeout(() => (ui.act.copy.textContent = "Copy token"), 2000);
    model.send({ kind: "copied", ok: result.ok, error: result.error });
  };
  onMsg.stop = () => clearTimeout(timer);
  return onMsg;
}

function listen(model, traits, fn) {
  for (const t of traits) model.on(`change:${t}`, fn);
  return () => traits.forEach((t) => model.off(`change:${t}`, fn));
}

const TOKEN_TRAITS = ["environment", "token_type", "masked_token", "issued_at", "expires_at",
  "lifetime_s", "leeway_s", "clock_offset_ms", "has_refresh_token", "last_refresh"];
const CONTROL_TRAITS = ["error", "notice", "auto_refresh", "busy", "has_client", "expires_at"];
const CLICKS = {
  refresh: () => ({ kind: "refresh" }),
  new_token: () => ({ kind: "new_token" }),
  auto: (model) => ({ kind: "auto_refresh", value: !model.get("auto_refresh") }),
  copy: () => ({ kind: "copy_token" }),
};

function render({ model, el }) {
  el.classList.add("cerkl-token-panel");
  el.innerHTML = TEMPLATE;
  const ui = { section: el.querySelector(".ctp"), act: {} };
  el.querySelectorAll("[data-f]").forEach((n) => (ui[n.dataset.f] = n));
  el.querySelectorAll("[data-act]").forEach((n) => (ui.act[n.dataset.act] = n));
  const { node: live, say } = liveRegion(ui.section);
  live.dataset.f = "live";
  const view = { snapshot: false }; // true when no kernel answers (see shared.js)
  const tick = countdown(ui, model, say, view);
  const token = () => (showToken(ui, model), tick(true));
  const controls = () => {
    showMessages(ui, model, view.snapshot);
    showButtons(ui, model, view.snapshot);
    tick(true); // the state text depends on auto_refresh too
  };
  let serial = model.get("token_serial");
  const onSerial = () => {
    say(serial === 0 ? "New access token received" : "Access token refreshed");
    serial = model.get("token_serial");
    tick.newToken();
  };
  const onCopy = copier(ui, model, say);
  for (const [act, message] of Object.entries(CLICKS)) {
    ui.act[act].addEventListener("click", () => {
      if (ui.act[act].getAttribute("aria-disabled") !== "true") model.send(message(model));
    });
  }
  const stops = [
    listen(model, TOKEN_TRAITS, token),
    listen(model, CONTROL_TRAITS, controls),
    listen(model, ["token_serial"], onSerial),
  ];
  model.on("msg:custom", onCopy);
  token();
  controls();
  const timer = setInterval(() => tick(), 250);
  const stopWatch = whenSnapshot(model, { kind: "hello" }, "hello", () => {
    view.snapshot = true;
    ui.section.dataset.snapshot = "true";
    controls();
  });
  return () => {
    stopWatch();
    clearInterval(timer);
    onCopy.stop();
    stops.forEach((stop) => stop());
    model.off("msg:custom", onCopy);
  };
}

export default { render };
