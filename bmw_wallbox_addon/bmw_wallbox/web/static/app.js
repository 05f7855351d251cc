// The panel: one WebSocket (api/ws) feeds every view; commands go to the JSON API. Every URL is relative,
// so the page works under Home Assistant's ingress prefix.

import { ChargerCard } from "./cards.js";
import { MaintenanceView } from "./maintenance.js";
import { LiveList, renderFrame, renderLog, renderSessions, renderSetup } from "./panes.js";
import { TokensView } from "./tokens.js";
import { el } from "./util.js";

const state = { chargers: new Map(), cards: new Map(), unknown: [], setup: null, tokens: null };
const $ = (id) => document.getElementById(id);

// --- tabs ------------------------------------------------------------------------------------

const tabs = [...document.querySelectorAll('[role="tab"]')];

function selectTab(tab, focus = false) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) tab.focus();
  const name = tab.id.replace("tab-", "");
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (name === "setup") refreshSetup();
  if (name === "tokens") tokens.refreshEnergy();
  if (name === "maintenance") maintenance.refreshFirmware();
}

tabs.forEach((tab, index) => {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: tabs.length - 1 - index };
    if (!(event.key in moves)) return;
    event.preventDefault();
    selectTab(tabs[(index + moves[event.key] + tabs.length) % tabs.length], true);
  });
});

// --- confirmation dialog -----------------------------------------------------------------------

const dialog = $("confirm");

/** Ask before a stop or a reboot; resolves true when confirmed. */
function confirmAction({ title, text, ok }) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    const finish = (answer) => {
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onClose = () => finish(false);
    $("confirm-ok").onclick = () => finish(true);
    $("confirm-cancel").onclick = () => finish(false);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

// --- views -----------------------------------------------------------------------------------

const tokens = new TokensView(confirmAction);
const maintenance = new MaintenanceView();
let energyTimer = null;
/** Energy per token follows finished sessions; fetched at most once a second, and only while its tab is open. */
function sessionsChanged() {
  if ($("view-tokens").hidden) return;
  clearTimeout(energyTimer);
  energyTimer = setTimeout(() => tokens.refreshEnergy(), 1000);
}

const traceAction = $("trace-action");
const traceSearch = $("trace-search");
const trace = new LiveList($("trace-list"), $("trace-count"), {
  keep: 500,
  noun: "frames",
  render: renderFrame,
  matches: (e) => (!traceAction.value || e.action === traceAction.value) && (!traceSearch.value || e.frame.toLowerCase().includes(traceSearch.value.toLowerCase())),
});
const logLevel = $("log-level");
const logSearch = $("log-search");
const LEVELS = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };
const logs = new LiveList($("log-list"), $("log-count"), {
  keep: 1000,
  noun: "lines",
  render: renderLog,
  matches: (l) => (LEVELS[l.level] ?? 0) >= Number(logLevel.value) && (!logSearch.value || `${l.logger} ${l.message}`.toLowerCase().includes(logSearch.value.toLowerCase())),
});
traceAction.addEventListener("change", () => trace.refresh());
traceSearch.addEventListener("input", () => trace.refresh());
logLevel.addEventListener("change", () => logs.refresh());
logSearch.addEventListener("input", () => logs.refresh());

function updateActions(entries) {
  const known = new Set([...traceAction.options].map((o) => o.value));
  const fresh = [...new Set(entries.map((e) => e.action).filter((a) => a && !known.has(a)))];
  if (!fresh.length) return;
  const all = [...known, ...fresh].filter(Boolean).sort();
  const selected = traceAction.value;
  traceAction.replaceChildren(el("option", { value: "", text: "All actions" }), ...all.map((a) => el("option", { value: a, text: a })));
  traceAction.value = selected;
}

/** Draw the overview; `fresh` (after a hello) replaces each chart's points instead of adding to them. */
function renderOverview(fresh = false) {
  const container = $("chargers");
  if (!state.chargers.size) {
    container.replaceChildren(el("div", { class: "card empty-card" }, el("h2", { text: "No charger configured yet" }), el("p", { text: "Add your wallbox under the option chargers in the app's Configuration tab; the Setup tab shows the address to enter in the wallbox." })));
    return;
  }
  const nodes = [];
  for (const [id, view] of state.chargers) {
    let card = state.cards.get(id);
    if (card) card.update(view, fresh);
    else {
      card = new ChargerCard(view, confirmAction);
      state.cards.set(id, card);
    }
    nodes.push(card.node);
  }
  if (container.children.length !== nodes.length || nodes.some((n, i) => container.children[i] !== n)) container.replaceChildren(...nodes);
}

function renderUnknown() {
  const banner = $("unknown-banner");
  banner.hidden = !state.unknown.length;
  if (state.unknown.length) {
    const ids = state.unknown.map((u) => u.id).join(", ");
    const link = el("a", { href: "#setup", text: "how to add it" });
    link.addEventListener("click", (event) => {
      event.preventDefault();
      selectTab($("tab-setup"), true);
    });
    banner.replaceChildren(el("span", { text: `Not configured, but tried to connect: ${ids}. ` }), link);
  }
}

/** What the setup checklist shows of the live state; it is redrawn only when this changes. */
function setupKey() {
  return [...state.chargers.values()].map((c) => [c.connected, c.remote_address, c.tls, c.authenticated, c.connected ? "" : c.last_seen].join("|")).join(";");
}
let shownSetupKey = null;

function renderSetupView() {
  shownSetupKey = setupKey();
  renderSetup(state.setup, [...state.chargers.values()], state.unknown);
}

function renderAll() {
  renderOverview(true);
  renderSessions($("sessions"), [...state.chargers.values()]);
  tokens.update(state.tokens, [...state.chargers.values()]);
  sessionsChanged();
  renderSetupView();
  renderUnknown();
  maintenance.update([...state.chargers.values()]);
}

async function refreshSetup() {
  try {
    const response = await fetch("api/setup");
    if (response.ok) state.setup = await response.json();
  } catch {
    return;
  }
  renderSetupView();
}
$("setup-refresh").addEventListener("click", refreshSetup);

// --- the live feed ------------------------------------------------------------------------------

const HANDLERS = {
  hello(message) {
    $("version").textContent = `v${message.version}`;
    state.chargers = new Map(message.chargers.map((c) => [c.id, c]));
    for (const id of state.cards.keys()) if (!state.chargers.has(id)) state.cards.delete(id);
    state.unknown = message.unknown;
    state.setup = message.setup;
    state.tokens = message.tokens;
    updateActions(message.trace);
    trace.reset(message.trace);
    logs.reset(message.logs);
    renderAll();
  },
  charger({ charger }) {
    const previous = state.chargers.get(charger.id) || {};
    state.chargers.set(charger.id, { ...previous, ...charger });
    state.cards.get(charger.id)?.update(charger);
    if (!state.cards.has(charger.id)) renderOverview();
    if ("sessions" in charger) {
      renderSessions($("sessions"), [...state.chargers.values()]);
      sessionsChanged();
    }
    if (setupKey() !== shownSetupKey) renderSetupView();
    maintenance.update([...state.chargers.values()]);
  },
  trace({ entries }) {
    updateActions(entries);
    trace.add(entries);
  },
  logs({ entries }) {
    logs.add(entries);
  },
  tokens(message) {
    state.tokens = message.tokens;
    tokens.update(state.tokens, [...state.chargers.values()]);
  },
  unknown({ unknown }) {
    state.unknown = unknown;
    renderUnknown();
    renderSetupView();
  },
};

const link = $("link");
function showLink(kind, text) {
  link.dataset.state = kind;
  $("link-text").textContent = text;
  document.body.classList.toggle("stale", kind !== "live");
}

let retryMs = 1000;
let retryTimer = null;

function connect() {
  clearTimeout(retryTimer);
  const url = new URL("api/ws", document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "hello") {
      retryMs = 1000;
      showLink("live", "Live");
    }
    HANDLERS[message.type]?.(message);
  });
  socket.addEventListener("close", () => {
    const seconds = Math.round(retryMs / 1000);
    showLink("offline", `Offline: reconnecting in ${seconds} s`);
    retryTimer = setTimeout(() => {
      showLink("connecting", "Reconnecting…");
      connect();
    }, retryMs);
    retryMs = Math.min(retryMs * 2, 15000);
  });
}

window.addEventListener("online", () => {
  if (link.dataset.state === "offline") connect();
});

// Durations and "ago" texts follow the clock; the chart scrolls with time.
setInterval(() => {
  for (const card of state.cards.values()) card.tick();
}, 1000);
setInterval(() => {
  for (const card of state.cards.values()) card.chart.draw();
}, 30000);

const initial = tabs.find((t) => t.id === `tab-${location.hash.slice(1)}`) || tabs[0];
selectTab(initial);
connect();
