// The site power budget on the overview: what the main fuse leaves, and why a wallbox charges below what was asked.

import { el, num } from "./util.js";

const STATES = {
  ok: ["ok", "Within the budget", "The house leaves enough room on the main fuse."],
  limited: ["warn", "Limiting charging", "The house draws so much that the wallboxes get less than asked."],
  failsafe: ["bad", "Failsafe", "The grid meter cannot be seen: every wallbox gets the failsafe current."],
};

function perPhase(values) {
  return values ? values.map((v, i) => `L${i + 1}\u00a0${num(v, 1)}`).join(" · ") + "\u00a0A" : "–";
}

/** The site card; hidden while the budget is off (no main fuse set). */
export class SiteCard {
  constructor() {
    this.title = el("h2", { text: "Site power budget" });
    this.badge = el("span", { class: "site-badge" });
    this.detail = el("p", { class: "site-detail" });
    this.rows = el("dl", { class: "site-figures" });
    this.node = el("div", { class: "card site-card", id: "site-card", hidden: true }, el("div", { class: "card-head" }, this.title, this.badge), this.detail, this.rows);
  }

  /** Show ``GET api/site`` and the chargers' names (id -> name). */
  update(site, names) {
    this.node.hidden = !site || site.state === "off";
    if (this.node.hidden) return;
    const [tone, word, text] = STATES[site.state] || ["warn", site.state, ""];
    this.badge.className = `site-badge ${tone}`;
    this.badge.textContent = word;
    this.detail.textContent = site.problem ? `${text} ${site.problem}.` : text;
    const shares = Object.entries(site.allocations || {}).map(([id, amps]) => `${names.get(id) || id}: ${amps === null ? "–" : `${num(amps, 1)} A`}`);
    const figures = [
      ["Main fuse", `${site.main_fuse_a} A per phase`],
      ["Grid", perPhase(site.phase_currents_a)],
      ["Household", perPhase(site.household_a)],
      ["Headroom", perPhase(site.headroom_a)],
      ["Meter reported", site.meter_age_s === null ? "not yet" : `${num(site.meter_age_s, 0)} s ago`],
      ["Shares", shares.join(" · ") || "–"],
    ];
    this.rows.replaceChildren(...figures.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
  }
}

/** Why a charger charges below what was asked, in words (null when it does not). */
export function budgetNote(c) {
  if (c.limited_by === "budget") {
    return c.budget_limit_a === 0
      ? "Paused by the site budget: the house needs the current now. Charging resumes by itself; your limit and pause are kept."
      : `The site budget allows ${num(c.budget_limit_a, 1)} A now (you asked ${num(c.desired_limit_a, 0)} A).`;
  }
  if (c.limited_by === "failsafe") return `The grid meter cannot be seen: the failsafe ${num(c.budget_limit_a, 0)} A applies.`;
  return null;
}
