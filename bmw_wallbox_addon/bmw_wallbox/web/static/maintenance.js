// The Maintenance tab: per wallbox its connection health, logs (with the upload's progress) and firmware update;
// the firmware files uploaded; the support bundle. The live feed brings each charger's view (logs, firmware_update,
// health); requests go to the JSON API.

import { chargerPath, duration, el, send, stamp } from "./util.js";

const $ = (id) => document.getElementById(id);

function bytes(size) {
  if (size === null || size === undefined) return "–";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} kB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

function logRow(charger, log) {
  const done = log.received_at !== null;
  const progress = done ? bytes(log.size) : log.bytes_received ? `${bytes(log.bytes_received)} received…` : "";
  const download = done
    ? el("a", { class: "text-button", href: chargerPath(charger.id, `logs/${encodeURIComponent(log.id)}`), download: log.name, text: "Download" })
    : null;
  return el(
    "li",
    { class: "log-entry", dataset: { log: log.id } },
    el("span", { class: "log-name", text: log.name }),
    el("span", { class: "muted", text: `${log.type} · ${stamp(log.requested_at)}` }),
    el("span", { class: "log-status", text: log.status }),
    el("span", { class: "log-progress", text: progress }),
    download,
  );
}

export class MaintenanceView {
  constructor() {
    this.chargers = [];
    this.firmware = [];
    this.cards = new Map(); // per wallbox: its card's parts, built once and then updated in place
    $("firmware-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.uploadFirmware();
    });
  }

  /** Show the chargers' views: each card is built once; health, logs and firmware status are updated in place. */
  update(chargers) {
    this.chargers = chargers;
    const nodes = chargers.map((charger) => {
      let card = this.cards.get(charger.id);
      if (!card) {
        card = this.buildCard(charger);
        this.cards.set(charger.id, card);
      }
      this.fill(card, charger);
      return card.node;
    });
    const container = $("maintenance-chargers");
    if (container.children.length !== nodes.length || nodes.some((n, i) => container.children[i] !== n)) container.replaceChildren(...nodes);
  }

  /** Read the firmware files again. */
  async refreshFirmware() {
    const answer = await send("GET", "api/firmware");
    if (answer.ok) this.firmware = answer.data;
    $("firmware-list").replaceChildren(
      ...this.firmware.map((f) => el("li", { class: "firmware-file" }, el("span", { class: "log-name", text: f.name }), el("span", { class: "muted", text: `${bytes(f.size)} · SHA-256 ${f.sha256}` }))),
    );
    for (const card of this.cards.values()) {
      const chosen = card.choose.value;
      card.choose.replaceChildren(...this.firmware.map((f) => el("option", { value: f.name, text: f.name })));
      if (this.firmware.some((f) => f.name === chosen)) card.choose.value = chosen;
      card.install.disabled = !this.firmware.length;
    }
  }

  async uploadFirmware() {
    const input = $("firmware-file");
    const result = $("firmware-result");
    if (!input.files.length) return;
    const form = new FormData();
    form.append("file", input.files[0]);
    result.textContent = "Uploading…";
    try {
      const response = await fetch("api/firmware", { method: "POST", headers: { "X-Upload": "1" }, body: form });
      const data = await response.json().catch(() => ({}));
      result.textContent = response.ok ? `Stored ${data.name} (${bytes(data.size)})` : `Not stored: ${data.detail || data.error || response.status}`;
    } catch {
      result.textContent = "Not stored: the app did not answer";
    }
    await this.refreshFirmware();
  }

  buildCard(charger) {
    const type = el("select", { class: "log-type", "aria-label": "Which log" }, el("option", { value: "DiagnosticsLog", text: "Diagnostics log" }), el("option", { value: "SecurityLog", text: "Security log" }));
    const result = el("span", { class: "form-result", role: "status", "aria-live": "polite" });
    const request = el("button", {
      type: "button",
      class: "button",
      text: "Request log",
      onclick: async () => {
        result.textContent = "Asking…";
        const answer = await send("POST", chargerPath(charger.id, "get_log"), { type: type.value });
        result.textContent = answer.ok ? `Log request ${answer.data.status}` : `Not sent: ${answer.data.detail || answer.status}`;
      },
    });
    const choose = el("select", { class: "firmware-choice", "aria-label": "Firmware file" });
    const install = el("button", {
      type: "button",
      class: "button",
      text: "Install",
      disabled: true,
      onclick: async () => {
        result.textContent = "Sending the update…";
        const answer = await send("POST", chargerPath(charger.id, "update_firmware"), { name: choose.value });
        result.textContent = answer.ok ? `Update ${answer.data.status}` : `Not sent: ${answer.data.detail || answer.status}`;
      },
    });
    const card = {
      title: el("h2"),
      health: el("p", { class: "muted health" }),
      logs: el("ul", { class: "log-list", "aria-label": "Logs" }),
      firmware: el("p", { class: "firmware-status" }),
      choose,
      install,
    };
    card.node = el(
      "article",
      { class: "card maintenance-charger", dataset: { charger: charger.id } },
      card.title,
      card.health,
      el("div", { class: "toolbar" }, type, request, result),
      card.logs,
      card.firmware,
      el("div", { class: "toolbar" }, choose, install),
    );
    return card;
  }

  fill(card, charger) {
    card.title.textContent = charger.name;
    const reconnects = `${charger.reconnects_24h ?? 0} reconnects in 24 h · last boot: ${charger.boot_reason ?? "–"}`;
    card.health.textContent = charger.connected
      ? `Round trip ${charger.rtt_ms ?? "–"} ms · connected for ${duration((Date.now() - Date.parse(charger.connected_since)) / 1000)} · ${reconnects}`
      : `Offline · ${reconnects}`;
    card.logs.replaceChildren(...(charger.logs || []).map((log) => logRow(charger, log)));
    const update = charger.firmware_update;
    card.firmware.textContent = update
      ? `Firmware update ${update.name}: ${update.status} (${stamp(update.updated_at)})`
      : `Firmware ${charger.firmware ?? "unknown"}`;
  }
}
