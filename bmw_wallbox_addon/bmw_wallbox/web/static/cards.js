// One charger on the overview: state in words, live values, the power chart, controls and details.

import { PowerChart } from "./chart.js";
import { EvseCards } from "./evses.js";
import { budgetNote } from "./site.js";
import { ago, command, duration, el, icon, num, power, stamp, when } from "./util.js";

const COMMAND_NAMES = {
  start: "Start",
  pause: "Pause",
  resume: "Resume",
  stop: "Stop",
  reset: "Reboot",
  set_current_limit: "Current limit",
  set_max_current: "Current limit (keeps a pause)",
  connect: "Limit on connect",
  charger_authorization_on: "Ask for a card: on",
  charger_authorization_off: "Ask for a card: off",
  local_list_on: "Local list: on",
  local_list_off: "Local list: off",
  local_list: "Send the token list",
  clear_cache: "Clear the card cache",
};

const OUTCOMES = {
  accepted: ["ok", "accepted"],
  rebooting: ["warn", "rebooting"],
  rejected: ["bad", "rejected by the wallbox"],
  timeout: ["bad", "no answer from the wallbox"],
  not_connected: ["warn", "wallbox not connected"],
  not_ready: ["warn", "status not known yet"],
  not_applicable: ["warn", "not possible now"],
  not_supported: ["warn", "not supported by this wallbox"],
  invalid: ["bad", "invalid value"],
  unknown_charger: ["bad", "unknown charger"],
  no_answer: ["bad", "no answer from the app"],
};

const CONFIRM = {
  stop: {
    title: "Stop charging?",
    text: "Stop ends the session. This wallbox then starts a new one only after the car is unplugged. To interrupt charging for a while, use Pause instead.",
    ok: "Stop session",
  },
  reset: {
    title: "Reboot the wallbox?",
    text: "The wallbox restarts and is offline for about a minute. With a car plugged in, it starts a new session by itself.",
    ok: "Reboot",
  },
};

/** The charging state in words a user understands: {key, title, detail, icon}. */
export function describe(c) {
  if (!c.connected) {
    return {
      key: "offline",
      title: "Offline",
      detail: c.last_seen ? `Last seen ${ago(c.last_seen)}` : "Has never connected: see Setup",
      icon: "offline",
    };
  }
  const restored = c.status_source === "restored" || c.transaction_source === "restored";
  const state = describeLive(c);
  const note = budgetNote(c);
  if (note && c.transaction_id && !c.paused && (state.key === "charging" || state.key === "paused")) {
    if (c.budget_limit_a === 0) state.title = "Paused by the site budget";
    state.detail = note;
  }
  if (restored) state.detail = `${state.detail} (last known state: waiting for the wallbox to confirm it)`;
  return state;
}

function describeLive(c) {
  if (c.status === "Faulted") return { key: "fault", title: "Fault", detail: "The wallbox reports a fault; see Logs.", icon: "alert" };
  if (c.status === "Unavailable") return { key: "fault", title: "Unavailable", detail: "The wallbox is out of service.", icon: "alert" };
  const limit = `${num(c.desired_limit_a, 0)} A`;
  switch (c.charging_state) {
    case "Charging":
      return { key: "charging", title: "Charging", detail: `At up to ${limit} per phase`, icon: "bolt" };
    case "SuspendedEVSE":
      return c.paused
        ? { key: "paused", title: "Paused", detail: "You paused charging; the session stays open.", icon: "pause" }
        : { key: "paused", title: "Paused by the wallbox", detail: "The wallbox offers no current right now.", icon: "pause" };
    case "SuspendedEV":
      return { key: "waiting", title: "Car is not charging", detail: "The car paused itself: full, scheduled or waiting.", icon: "sleep" };
    case "EVConnected":
      return { key: "waiting", title: "Car connected", detail: c.paused ? "Paused: press Resume to charge." : "Waiting for charging to begin.", icon: "plug" };
    default:
      break;
  }
  if (c.status === "Occupied") return { key: "waiting", title: "Car connected", detail: "No session running: press Start to charge.", icon: "plug" };
  if (c.status === "Reserved") return { key: "waiting", title: "Reserved", detail: "The wallbox is reserved.", icon: "plug" };
  return {
    key: "idle",
    title: "No car connected",
    detail: c.paused ? "Paused: the next session waits for Resume." : `Ready: plug in to charge at up to ${limit}.`,
    icon: "plug",
  };
}

function tile(label, unitDefault) {
  const value = el("span", { class: "value-number", text: "–" });
  const unit = el("span", { class: "unit", text: unitDefault });
  const sub = el("div", { class: "tile-sub" });
  return { node: el("div", { class: "tile" }, el("div", { class: "tile-label", text: label }), el("div", { class: "tile-value" }, value, unit), sub), value, unit, sub };
}

function phases(values, unit, decimals) {
  if (!values) return "";
  return Object.entries(values)
    .sort()
    .map(([phase, value]) => `${phase}\u00a0${num(value, decimals)}`)
    .join(" · ") + `\u00a0${unit}`;
}

export class ChargerCard {
  /** Build the card; `confirm(spec)` resolves true when the user confirms a stop or reboot. */
  constructor(view, confirm) {
    this.id = view.id;
    this.confirm = confirm;
    this.result = null;
    this.pendingLimit = null;
    this.dragging = false;
    this.build();
    this.update(view, true);
  }

  build() {
    const slug = this.id.replace(/[^A-Za-z0-9]/g, "-");
    this.title = el("h2", { class: "charger-name" });
    this.idLine = el("div", { class: "charger-id mono" });
    this.pill = el("span", { class: "pill" });
    this.stateIcon = el("div", { class: "state-icon" });
    this.stateTitle = el("div", { class: "state-title" });
    this.stateDetail = el("div", { class: "state-detail" });
    this.tiles = {
      power: tile("Power", "kW"),
      current: tile("Current", "A"),
      voltage: tile("Voltage", "V"),
      session: tile("Session energy", "kWh"),
      duration: tile("Session duration", ""),
      lifetime: tile("Lifetime energy", "kWh"),
    };
    const chartFigure = el(
      "figure",
      { class: "chart" },
      el("figcaption", {}, el("span", { text: "Power, last hour" }), el("span", { class: "chart-readout muted", "aria-live": "off" })),
      el("div", { class: "chart-box" }),
    );
    this.chart = new PowerChart(chartFigure);

    this.slider = el("input", { type: "range", id: `limit-${slug}`, min: 6, max: 32, step: 1, class: "slider" });
    this.sliderOut = el("output", { for: `limit-${slug}`, class: "slider-value" });
    this.limitState = el("div", { class: "limit-state muted" });
    this.slider.addEventListener("input", () => this.showSlider(Number(this.slider.value)));
    this.slider.addEventListener("pointerdown", () => (this.dragging = true));
    this.slider.addEventListener("pointerup", () => (this.dragging = false));
    this.slider.addEventListener("change", () => this.setLimit(Number(this.slider.value)));
    this.buttons = {};
    const buttonRow = el("div", { class: "buttons" });
    for (const [name, iconName, style] of [
      ["start", "play", ""],
      ["pause", "pause", ""],
      ["resume", "play", ""],
      ["stop", "stop", "danger-outline"],
      ["reset", "restart", "danger-outline"],
    ]) {
      const button = el("button", { type: "button", class: `button ${style}`, dataset: { command: name } }, icon(iconName), el("span", { text: COMMAND_NAMES[name] }));
      button.addEventListener("click", () => this.run(name));
      this.buttons[name] = button;
      buttonRow.append(button);
    }
    this.resultLine = el("div", { class: "result", role: "status", "aria-live": "polite" });

    this.evses = new EvseCards(this.id, (name) => this.confirm(CONFIRM[name]));
    this.details = el("dl", { class: "facts" });
    this.caps = el("dl", { class: "facts" });

    this.node = el(
      "section",
      { class: "charger", "aria-label": this.id, dataset: { charger: this.id } },
      el("div", { class: "charger-head" }, el("div", {}, this.title, this.idLine), this.pill),
      el(
        "div",
        { class: "charger-grid" },
        el(
          "article",
          { class: "card status-card" },
          el("div", { class: "state-line" }, this.stateIcon, el("div", {}, this.stateTitle, this.stateDetail)),
          el("div", { class: "tiles" }, ...Object.values(this.tiles).map((t) => t.node)),
        ),
        el(
          "article",
          { class: "card control-card" },
          el("h3", { text: "Control" }),
          el("div", { class: "slider-row" }, el("label", { for: `limit-${slug}`, text: "Current limit" }), this.sliderOut),
          this.slider,
          el("div", { class: "slider-scale muted" }, el("span", { class: "scale-min" }), el("span", { class: "scale-max" })),
          this.limitState,
          buttonRow,
          this.resultLine,
        ),
        el("article", { class: "card chart-card" }, chartFigure),
        this.evses.node,
        el(
          "article",
          { class: "card details-card" },
          el("h3", { text: "Connection and device" }),
          this.details,
          el("details", { class: "caps" }, el("summary", { text: "Capabilities the wallbox reported" }), this.caps),
        ),
      ),
    );
  }

  /** Take a new view from the live feed. */
  update(view, first = false) {
    const previous = this.view;
    this.view = { ...(previous || {}), ...view };
    const c = this.view;
    if (first) this.chart.reset(view.points || []);
    else this.chart.add(view.points || [], c.connected);
    this.chart.live = c.connected;
    this.title.textContent = c.name;
    this.idLine.textContent = c.id;
    this.pill.className = `pill ${c.connected ? "ok" : "off"}`;
    this.pill.textContent = c.connected ? `Online since ${when(c.connected_since)}` : c.disconnected_at ? `Offline since ${when(c.disconnected_at)}` : "Offline";
    this.pill.title = c.connected ? stamp(c.connected_since) : stamp(c.disconnected_at);
    const state = describe(c);
    this.node.dataset.state = state.key;
    this.stateIcon.replaceChildren(icon(state.icon));
    this.stateTitle.textContent = state.key === "charging" && c.power_w ? `Charging at ${power(c.power_w).join(" ")}` : state.title;
    this.stateDetail.textContent = state.detail;

    const [pw, pu] = power(c.power_w);
    this.setTile("power", pw, pu, c.connected ? (c.meter_updated_at ? `Updated ${ago(c.meter_updated_at)}` : "No reading yet") : "Offline");
    this.setTile("current", num(c.current_a, 1), "A", phases(c.current_phases_a, "A", 1) || "Average per phase");
    this.setTile("voltage", num(c.voltage_v, 0), "V", phases(c.voltage_phases_v, "V", 0));
    const last = c.last_reading || {};
    if (c.connected) this.setTile("lifetime", num(c.energy_kwh, 1), "kWh", "Meter register");
    else this.setTile("lifetime", num(last.energy_kwh, 1), "kWh", last.at ? `Last reading ${ago(last.at)}` : "No reading yet");
    this.tick();

    const max = c.max_current_a || 32;
    this.slider.max = max;
    this.node.querySelector(".scale-min").textContent = "6 A";
    this.node.querySelector(".scale-max").textContent = `${max} A`;
    if (this.pendingLimit === null && !this.dragging && document.activeElement !== this.slider) {
      this.slider.value = c.desired_limit_a;
      this.showSlider(c.desired_limit_a);
    }
    this.limitState.textContent = this.limitText(c);
    const running = Boolean(c.transaction_id);
    this.buttons.start.disabled = !c.connected || (running && !c.paused);
    const limits = c.limits_supported !== false;
    this.slider.disabled = !limits;
    this.buttons.pause.disabled = c.paused || !limits;
    this.buttons.resume.disabled = !c.paused || !limits;
    this.buttons.stop.disabled = !c.connected || !running;
    this.buttons.reset.disabled = !c.connected;
    // The one action that moves things forward is highlighted.
    const primary = c.paused ? "resume" : c.connected && !running && c.status === "Occupied" ? "start" : null;
    for (const [name, button] of Object.entries(this.buttons)) button.classList.toggle("primary", name === primary);
    this.evses.update(c);
    if (c.last_command && (!this.result || Date.parse(c.last_command.at) > Date.parse(this.result.at))) this.showResult(c.last_command);

    this.fillFacts(this.details, [
      ["Remote address", c.remote_address || "–"],
      ["Encryption", c.connected || c.remote_address ? (c.tls ? "TLS (wss://)" : "none (ws://)") : "–"],
      ["Authentication", c.connected || c.remote_address ? (c.authenticated ? "Basic Auth password" : "none") : "–"],
      ["Last seen", c.last_seen ? `${stamp(c.last_seen)} (${ago(c.last_seen)})` : "never"],
      ["Vendor", c.vendor || "–"],
      ["Model", c.model || "–"],
      ["Firmware", c.firmware || "–"],
      ["Serial number", c.serial || "–"],
      ...(c.upstream ? [["Upstream backend", upstreamText(c.upstream)]] : []),
    ]);
    const caps = c.capabilities || {};
    this.fillFacts(this.caps, [
      ["Phases", caps.phases ?? "–"],
      ["Maximum current", caps.max_current_a ? `${caps.max_current_a} A` : "–"],
      ["Measurands", (caps.measurands || []).join(", ") || "–"],
      ["Smart charging", caps.smart_charging === null || caps.smart_charging === undefined ? "–" : caps.smart_charging ? `yes (${(caps.rate_units || []).join(", ")})` : "no"],
      ["Profile stack levels", caps.profile_stack_level ?? "–"],
      ["Periods per schedule", caps.periods_per_schedule ?? "–"],
      ["Profiles at most", caps.max_profiles ?? "–"],
      ["Phase switching", caps.phase_switching === null || caps.phase_switching === undefined ? "–" : caps.phase_switching ? "yes" : "no"],
      ["Limit method in use", c.profile_strategy || "–"],
      ["Reported", caps.reported_at ? stamp(caps.reported_at) : "not yet"],
    ]);
  }

  /** Refresh what depends on the clock (durations, "ago"). */
  tick() {
    const c = this.view;
    if (c.transaction_id) {
      this.setTile("session", num(c.session_energy_kwh, 2), "kWh", `Since ${when(c.session_started_at)}`);
      // A charger clock a little ahead of ours must not make the duration negative.
      const seconds = Math.max(0, (Date.now() - Date.parse(c.session_started_at)) / 1000);
      this.setTile("duration", duration(seconds), "", "Running");
    } else if (c.last_session) {
      this.setTile("session", num(c.last_session.energy_kwh, 2), "kWh", "Last session");
      this.setTile("duration", duration(c.last_session.duration_s), "", `Ended ${ago(c.last_session.ended_at)}`);
    } else {
      this.setTile("session", "–", "kWh", "No session yet");
      this.setTile("duration", "–", "", "");
    }
  }

  setTile(key, value, unit, sub) {
    const t = this.tiles[key];
    t.value.textContent = value;
    t.unit.textContent = unit;
    t.sub.textContent = sub;
  }

  fillFacts(list, rows) {
    list.replaceChildren(...rows.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: String(value) })]));
  }

  /** What the wallbox enforces compared with what was asked, honestly. */
  limitText(c) {
    if (c.limits_supported === false) return "This wallbox does not support current limits: it charges at its own maximum, and pause, resume and the slider cannot work.";
    const target = c.paused ? "0 A (paused)" : `${num(c.desired_limit_a, 0)} A`;
    if (!c.connected) return `${target} is applied when the wallbox connects.`;
    if (c.limit_in_sync) return c.paused ? "Paused: the wallbox confirmed 0 A. Resume or move the slider to charge." : `The wallbox confirmed ${target}.`;
    if (c.limit_in_sync === false) {
      const actual = c.applied_limit_a === null || c.applied_limit_a === undefined ? "no limit from the app" : `${num(c.applied_limit_a, 0)} A`;
      return `Not confirmed: asked for ${target}, the wallbox has ${actual}.`;
    }
    return `Waiting for the wallbox to confirm ${target}.`;
  }

  showSlider(amps) {
    this.sliderOut.textContent = `${num(amps, 0)} A`;
    this.slider.setAttribute("aria-valuetext", `${num(amps, 0)} amperes`);
  }

  showResult(result) {
    this.result = result;
    const [tone, words] = OUTCOMES[result.outcome] || ["bad", result.outcome];
    const name = COMMAND_NAMES[result.command] || result.command;
    const detail = result.detail ? result.detail.charAt(0).toUpperCase() + result.detail.slice(1) : "";
    this.resultLine.className = `result ${tone}`;
    this.resultLine.replaceChildren(
      el("div", { class: "result-head" }, el("strong", { text: `${name}: ${words}` }), el("time", { datetime: result.at, text: when(result.at) })),
      detail ? el("div", { class: "result-detail", text: detail }) : null,
    );
  }

  busy(label) {
    this.resultLine.className = "result pending";
    this.resultLine.replaceChildren(el("span", { class: "spinner", "aria-hidden": "true" }), el("span", { text: `${label}: sending…` }));
  }

  async setLimit(amps) {
    this.pendingLimit = amps;
    this.busy(`${COMMAND_NAMES.set_current_limit} ${amps} A`);
    try {
      this.showResult(await command(this.id, "set_current_limit", { amps }));
    } finally {
      this.pendingLimit = null;
    }
  }

  async run(name) {
    if (CONFIRM[name] && !(await this.confirm(CONFIRM[name]))) return;
    const buttons = Object.values(this.buttons);
    const enabled = buttons.map((b) => !b.disabled);
    buttons.forEach((b) => (b.disabled = true));
    this.busy(COMMAND_NAMES[name]);
    try {
      this.showResult(await command(this.id, name));
    } finally {
      buttons.forEach((b, i) => (b.disabled = !enabled[i]));
      this.update({});
    }
  }
}

/** The upstream link in one line: connected or not since when, what waits, what was dropped, the last error. */
function upstreamText(u) {
  const parts = [u.connected ? `connected since ${stamp(u.since)}` : `not connected${u.since ? ` since ${stamp(u.since)}` : ""}`];
  if (u.queued) parts.push(`${u.queued} waiting`);
  if (u.dropped) parts.push(`${u.dropped} dropped`);
  if (u.limit_a != null) parts.push(`its limit ${u.limit_a} A`);
  if (!u.connected && u.last_error) parts.push(u.last_error);
  return parts.join(", ");
}
