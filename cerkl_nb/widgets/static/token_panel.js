// TokenPanel front end (anywidget ESM).
//
// The countdown is computed here from the absolute `expires_at` (epoch ms) against
// Date.now(): a setInterval updates the text and the bar, with no message to the kernel,
// so it keeps ticking while the kernel is busy. Buttons send one-off {kind: ...}
// messages to Python; the token itself only ever arrives in a one-off {kind: "copy"}
// message and goes straight to the clipboard (writeClipboard() comes from clipboard.js,
// which Python prepends to this module).
//
// While a token request runs, the buttons stay focusable (a disabled button would drop
// the keyboard focus to <body>): they are marked aria-disabled / aria-busy and their
// clicks are ignored.

const FIVE_MIN_MS = 5 * 60 * 1000;
const SNAPSHOT_NOTICE =
  "Snapshot saved with the notebook: this panel is not connected to a kernel, so its " +
  "buttons do nothing. Run the cell again for a live token panel.";
const handledNonces = new Set();

function pad(n) {
  return String(n).padStart(2, "0");
}

export function formatHMS(ms) {
  // Round up: 00:00:00 shows only once the token has expired.
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${pad(h)}:${pad(m)}:${pad(s)}`;
}

function spoken(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const parts = [];
  if (h) parts.push(`${h} hour${h === 1 ? "" : "s"}`);
  if (m || !h) parts.push(`${m} minute${m === 1 ? "" : "s"}`);
  return parts.join(" ");
}

// One time format everywhere (as the Python side's clock_text): 24-hour HH:MM:SS and
// the zone, with the date (YYYY-MM-DD) when it is not today.
export function localTime(ms, nowMs = Date.now()) {
  if (!ms) return "—";
  const d = new Date(ms);
  const now = new Date(nowMs);
  let zone = "";
  try {
    const part = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(d)
      .find((p) => p.type === "timeZoneName");
    zone = part ? ` ${part.value}` : "";
  } catch (err) {
    zone = "";
  }
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`;
  const sameDay =
    d.getFullYear() === now.getFullYear() &&
    d.getMonth() === now.getMonth() &&
    d.getDate() === now.getDate();
  return sameDay ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
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
  <div class="ctp-bar" role="progressbar" aria-label="Remaining token lifetime"
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
  <div class="ctp-sr-only" aria-live="polite" aria-atomic="true" data-f="live"></div>
</section>`;

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function markUnavailable(button, unavailable, busy) {
  // aria-disabled, not disabled: the button keeps the keyboard focus.
  button.setAttribute("aria-disabled", unavailable ? "true" : "false");
  if (busy) button.setAttribute("aria-busy", "true");
  else button.removeAttribute("aria-busy");
}

function render({ model, el }) {
  el.classList.add("cerkl-token-panel");
  el.innerHTML = TEMPLATE;
  const f = (name) => el.querySelector(`[data-f="${name}"]`);
  const btn = (act) => el.querySelector(`[data-act="${act}"]`);
  const bar = el.querySelector(".ctp-bar");
  const section = el.querySelector(".ctp");
  const live = f("live");

  let lastText = "";
  let lastState = "";
  // True when no kernel answers: a view of saved widget state (see snapshot.js).
  let snapshot = false;
  let forceState = false;
  let copyLabelTimer = null;
  let lastSerial = model.get("token_serial");
  // Announce the 5-minute mark only when we cross it while watching, not on first render.
  let wasAboveFive = null;

  function announce(text) {
    // Clear first so the same sentence is announced again.
    live.textContent = "";
    setTimeout(() => {
      live.textContent = text;
    }, 50);
  }

  function remainingMs() {
    const exp = model.get("expires_at");
    if (!exp) return null;
    return exp - (Date.now() + (model.get("clock_offset_ms") || 0));
  }

  function tick() {
    const rem = remainingMs();
    let state = "none";
    let text = "—";
    let pct = 0;
    if (rem !== null) {
      const lifeMs = Math.max(1, model.get("lifetime_s") * 1000);
      const leewayMs = model.get("leeway_s") * 1000;
      text = formatHMS(rem);
      pct = Math.max(0, Math.min(100, (rem / lifeMs) * 100));
      state = rem <= 0 ? "expired" : rem <= leewayMs ? "soon" : "fresh";
      const aboveFive = rem > FIVE_MIN_MS;
      if (wasAboveFive === true && !aboveFive && rem > 0) {
        announce("Access token expires in 5 minutes");
      }
      if (lastState && lastState !== "expired" && state === "expired") {
        announce("Access token expired");
      }
      wasAboveFive = aboveFive;
    }
    // Redraw when the text or the state changes (at expiry the text stays 00:00:00 but
    // the bar and its aria-valuetext must say "expired").
    if (text !== lastText || state !== lastState) {
      f("countdown").textContent = text;
      lastText = text;
      f("fill").style.width = `${pct.toFixed(2)}%`;
      bar.setAttribute("aria-valuenow", String(Math.round(pct)));
      bar.setAttribute(
        "aria-valuetext",
        rem === null ? "no token" : rem <= 0 ? "expired" : `${spoken(rem)} left`,
      );
    }
    if (state !== lastState || forceState) {
      forceState = false;
      section.dataset.state = state;
      const badge = {
        none: "no token",
        fresh: "fresh",
        soon: "refresh soon",
        expired: "expired",
      }[state];
      f("badge").textContent = badge;
      f("state-text").textContent = snapshot
        ? "Snapshot: the token as it was when the notebook was saved."
        : {
        none: "No token yet. Click Get New Access Token.",
        fresh: "Fresh: the token is valid.",
        soon: model.get("auto_refresh")
          ? "Refresh soon: the token is inside its refresh window; the next request refreshes it first."
          : "Refresh soon: the token is inside its refresh window. Click Refresh (auto-refresh is off).",
        expired: model.get("auto_refresh")
          ? "Expired: the next request renews it automatically (or click Refresh)."
          : "Expired: requests need a new token. Click Refresh (auto-refresh is off).",
      }[state];
      lastState = state;
    }
  }

  function update() {
    f("env").textContent = model.get("environment") || "";
    f("type").textContent = model.get("token_type") || "—";
    f("masked").textContent = model.get("masked_token") || "—";
    f("issued").textContent = localTime(model.get("issued_at"));
    f("expires").textContent = localTime(model.get("expires_at"));
    f("rt").textContent = model.get("expires_at")
      ? model.get("has_refresh_token")
        ? "held (hidden)"
        : "none (a refresh gets a new token with the client credentials)"
      : "—";
    f("last").textContent = model.get("last_refresh") || "—";
    // The error and notice regions stay in the page (empty when there is nothing to
    // say): a live region created or unhidden with its text is often not announced.
    setText(f("notice"), snapshot ? SNAPSHOT_NOTICE : model.get("notice") || "");
    setText(f("error"), model.get("error") || "");
    const busy = model.get("busy");
    const hasClient = model.get("has_client") && !snapshot;
    section.setAttribute("aria-busy", busy ? "true" : "false");
    markUnavailable(btn("refresh"), busy || !hasClient, busy);
    markUnavailable(btn("new_token"), busy || !hasClient, busy);
    markUnavailable(btn("copy"), busy || snapshot || !model.get("expires_at"), busy);
    const auto = model.get("auto_refresh");
    btn("auto").setAttribute("aria-checked", auto ? "true" : "false");
    btn("auto").textContent = `Auto-refresh on next request: ${auto ? "on" : "off"}`;
    btn("refresh").textContent = busy ? "Working…" : "Refresh";
    lastText = ""; // force a redraw of the countdown with the new expiry
    forceState = true; // the state text depends on auto_refresh too
    tick();
  }

  function onSerial() {
    const serial = model.get("token_serial");
    if (serial !== lastSerial) {
      announce(lastSerial === 0 ? "New access token received" : "Access token refreshed");
      lastSerial = serial;
      wasAboveFive = null;
    }
  }

  async function onMsg(msg) {
    if (!msg || msg.kind !== "copy") return;
    if (msg.nonce) {
      // The same model may be shown in several views; copy once.
      if (handledNonces.has(msg.nonce)) return;
      handledNonces.add(msg.nonce);
    }
    const result = await writeClipboard(msg.text || "");
    msg.text = "";
    announce(result.ok ? `${msg.what || "Text"} copied to the clipboard` : "Copy failed");
    // A short visible confirmation on the button too (not only for screen readers).
    const copyBtn = btn("copy");
    copyBtn.textContent = result.ok ? "Copied ✓" : "Copy failed";
    clearTimeout(copyLabelTimer);
    copyLabelTimer = setTimeout(() => {
      copyBtn.textContent = "Copy token";
    }, 2000);
    model.send({ kind: "copied", ok: result.ok, error: result.error || null });
  }

  const clicks = [
    ["refresh", () => model.send({ kind: "refresh" })],
    ["new_token", () => model.send({ kind: "new_token" })],
    ["auto", () => model.send({ kind: "auto_refresh", value: !model.get("auto_refresh") })],
    ["copy", () => model.send({ kind: "copy_token" })],
  ];
  for (const [act, fn] of clicks) {
    btn(act).addEventListener("click", () => {
      if (btn(act).getAttribute("aria-disabled") === "true") return;
      fn();
    });
  }

  const traits = [
    "environment",
    "token_type",
    "masked_token",
    "issued_at",
    "expires_at",
    "lifetime_s",
    "leeway_s",
    "clock_offset_ms",
    "has_refresh_token",
    "last_refresh",
    "error",
    "notice",
    "auto_refresh",
    "busy",
    "has_client",
  ];
  for (const t of traits) model.on(`change:${t}`, update);
  model.on("change:token_serial", onSerial);
  model.on("msg:custom", onMsg);

  update();
  const timer = setInterval(tick, 250);
  const stopWatch = whenSnapshot(model, { kind: "hello" }, "hello", () => {
    snapshot = true;
    section.dataset.snapshot = "true";
    update();
  });

  return () => {
    stopWatch();
    clearInterval(timer);
    clearTimeout(copyLabelTimer);
    for (const t of traits) model.off(`change:${t}`, update);
    model.off("change:token_serial", onSerial);
    model.off("msg:custom", onMsg);
  };
}

export default { render };
