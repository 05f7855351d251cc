// The EVSEs of a charger with several: one card each, with its own readings, limit and controls.
// A charger with one EVSE shows none of this (its card above is the EVSE).

import { command, el, num, power } from "./util.js";

const NAMES = { start: "Start", pause: "Pause", resume: "Resume", stop: "Stop", set_current_limit: "Limit" };
const TONES = { accepted: "ok", rebooting: "warn", not_connected: "warn", not_ready: "warn", not_applicable: "warn" };

class EvseCard {
  /** One EVSE; `confirm(name)` resolves true when the user confirms a stop. */
  constructor(chargerId, evseId, confirm) {
    this.chargerId = chargerId;
    this.evseId = evseId;
    this.confirm = confirm;
    this.state = el("div", { class: "evse-state" });
    this.facts = el("dl", { class: "facts" });
    this.limit = el("input", { type: "number", min: 0, max: 32, step: 1, class: "evse-limit", "aria-label": `Current limit of EVSE ${evseId} in A` });
    const set = el("button", { type: "button", class: "button", text: "Set", "aria-label": `Set the limit of EVSE ${evseId}` });
    set.addEventListener("click", () => this.run("set_current_limit", { amps: Number(this.limit.value) }));
    this.buttons = {};
    const row = el("div", { class: "buttons evse-buttons" });
    for (const name of ["start", "pause", "resume", "stop"]) {
      const label = `${NAMES[name]} EVSE ${evseId}`;
      const button = el("button", { type: "button", class: `button ${name === "stop" ? "danger-outline" : ""}`, "aria-label": label, text: NAMES[name] });
      button.addEventListener("click", () => this.run(name));
      this.buttons[name] = button;
      row.append(button);
    }
    this.result = el("div", { class: "result", role: "status", "aria-live": "polite" });
    this.node = el(
      "article",
      { class: "card evse-card", dataset: { evse: String(evseId) }, "aria-label": `EVSE ${evseId}` },
      el("h3", { text: `EVSE ${evseId}` }),
      this.state,
      this.facts,
      el("div", { class: "slider-row" }, this.limit, set),
      row,
      this.result,
    );
  }

  update(e, c) {
    const connected = c.connected;
    const parts = [e.status || "status unknown", e.charging_state, e.token_name && e.token_name !== "no token" ? `token ${e.token_name}` : null];
    this.state.textContent = parts.filter(Boolean).join(" · ");
    const [pw, pu] = power(e.power_w);
    const limit = e.paused ? "paused (0 A)" : `${num(e.target_a, 0)} A${e.limit_a === null ? " (the charger's)" : ""}`;
    const rows = [
      ["Power", `${pw} ${pu}`],
      ["Current", `${num(e.current_a, 1)} A`],
      ["Session energy", e.transaction_id ? `${num(e.session_energy_kwh, 2)} kWh` : "no session"],
      ["Limit", limit],
      ["Applied", e.applied_limit_a === null || e.applied_limit_a === undefined ? "–" : `${num(e.applied_limit_a, 0)} A`],
    ];
    this.facts.replaceChildren(...rows.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
    this.limit.max = c.max_current_a || 32;
    if (document.activeElement !== this.limit) this.limit.value = e.limit_a ?? c.desired_limit_a ?? "";
    const running = Boolean(e.transaction_id);
    this.buttons.start.disabled = !connected || (running && !e.paused);
    this.buttons.pause.disabled = !connected || !running || e.paused;
    this.buttons.resume.disabled = !connected || !e.paused;
    this.buttons.stop.disabled = !connected || !running;
  }

  async run(name, body = {}) {
    if (name === "stop" && !(await this.confirm("stop"))) return;
    this.result.className = "result pending";
    this.result.textContent = `${NAMES[name]}: sending…`;
    const answer = await command(this.chargerId, name, { ...body, evse_id: this.evseId });
    this.result.className = `result ${TONES[answer.outcome] || "bad"}`;
    this.result.textContent = `${NAMES[name]}: ${String(answer.outcome).replace("_", " ")}${answer.detail ? ` (${answer.detail})` : ""}`;
  }
}

export class EvseCards {
  constructor(chargerId, confirm) {
    this.chargerId = chargerId;
    this.confirm = confirm;
    this.cards = new Map();
    this.node = el("div", { class: "evse-cards", hidden: true });
  }

  /** Take the charger's view: a card per EVSE when it has more than one. */
  update(c) {
    const evses = c.evses || [];
    this.node.hidden = evses.length < 2;
    if (evses.length < 2) return;
    for (const e of evses) {
      let card = this.cards.get(e.evse_id);
      if (!card) {
        card = new EvseCard(this.chargerId, e.evse_id, this.confirm);
        this.cards.set(e.evse_id, card);
        this.node.append(card.node);
      }
      card.update(e, c);
    }
  }
}
