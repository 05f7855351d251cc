// The Tokens tab: the token list (masked ids), cards presented lately with "Add as…", each charger's
// authorization (authorization.js) and energy per token per month.

import { AuthorizationCards } from "./authorization.js";
import { ago, chargerPath, el, icon, num, send, sentence } from "./util.js";

const TYPES = [
  ["ISO14443", "RFID card (ISO 14443)"],
  ["ISO15693", "RFID tag (ISO 15693)"],
  ["eMAID", "Car (eMAID, Plug & Charge)"],
  ["MacAddress", "Car (MAC address)"],
  ["KeyCode", "Key code"],
  ["Local", "Local id"],
  ["Central", "Central id"],
];
const TYPE_NAMES = Object.fromEntries(TYPES);

function showResult(node, ok, text) {
  node.className = `form-result ${ok ? "ok" : "bad"}`;
  node.textContent = sentence(text);
}

export class TokensView {
  /** Build the static parts; `confirm(spec)` resolves true when the user confirms a deletion. */
  constructor(confirm) {
    this.confirm = confirm;
    this.tokens = { tokens: [], unknown: [], chargers: [], remote_start: "Home Assistant" };
    this.chargers = [];
    this.editing = null;
    this.energyRows = [];
    const $ = (id) => document.getElementById(id);
    this.list = $("tokens");
    this.unknownList = $("unknown-tokens");
    this.unknownCard = $("unknown-tokens-card");
    this.authorization = new AuthorizationCards($("authorization"));
    this.form = $("token-add");
    this.formResult = $("token-add-result");
    this.opener = $("token-add-open");
    this.month = $("energy-month");
    this.energy = $("energy");
    this.badge = $("tokens-badge");
    $("token-type").replaceChildren(...TYPES.map(([value, text]) => el("option", { value, text })));
    this.opener.addEventListener("click", () => this.openForm(this.form.hidden));
    $("token-add-cancel").addEventListener("click", () => this.openForm(false));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.addToken($("token-name").value, $("token-id").value, $("token-type").value);
    });
    this.month.addEventListener("change", () => this.renderEnergy());
  }

  openForm(open) {
    this.form.hidden = !open;
    this.opener.setAttribute("aria-expanded", String(open));
    this.formResult.textContent = "";
    if (open) document.getElementById("token-name").focus();
  }

  async addToken(name, id, type) {
    const answer = await send("POST", "api/tokens", { name, id_token: id, type });
    if (!answer.ok) return showResult(this.formResult, false, answer.data.detail || `HTTP ${answer.status}`);
    this.form.reset();
    this.openForm(false);
  }

  /** Take the latest token picture (from the live feed) and the chargers' views. */
  update(tokens, chargers) {
    if (tokens) this.tokens = tokens;
    if (chargers) this.chargers = chargers;
    if (this.editing) return; // drawn when the edit ends, so typing is not lost
    this.render();
  }

  render() {
    this.renderTokens();
    this.renderUnknown();
    this.authorization.render(this.tokens);
    this.badge.hidden = !this.tokens.unknown.length;
    this.badge.textContent = String(this.tokens.unknown.length);
  }

  endEdit() {
    this.editing = null;
    this.render();
  }

  // --- the list -------------------------------------------------------------------------------

  renderTokens() {
    const tokens = this.tokens.tokens;
    if (!tokens.length) {
      this.list.replaceChildren(el("li", { class: "empty", text: "No tokens yet. Add one, or tap a card at the wallbox and add it from the list above." }));
      return;
    }
    this.list.replaceChildren(...tokens.map((token) => this.tokenRow(token)));
  }

  tokenRow(token) {
    const badges = [
      token.allowed ? null : el("span", { class: "tag bad", text: "Blocked" }),
      token.remote_start ? el("span", { class: "tag", text: "Remote start" }) : null,
      token.group ? el("span", { class: "tag", text: `Group ${token.group}` }) : null,
    ];
    const main = el(
      "div",
      { class: "token-main" },
      el("div", { class: "token-name" }, el("strong", { text: token.name }), ...badges),
      el("div", { class: "muted" }, el("span", { class: "mono", text: token.masked }), ` · ${TYPE_NAMES[token.type] || token.type}`),
    );
    const result = el("div", { class: "form-result", role: "status", "aria-live": "polite" });
    const change = async (body) => {
      const answer = await send("PATCH", `api/tokens/${encodeURIComponent(token.ref)}`, body);
      if (!answer.ok) showResult(result, false, answer.data.detail || `HTTP ${answer.status}`);
    };
    const actions = el(
      "div",
      { class: "token-actions" },
      el("button", { type: "button", class: "text-button", text: "Rename", onclick: () => this.rename(row, token, result) }),
      el("button", { type: "button", class: "text-button", text: token.allowed ? "Block" : "Allow", onclick: () => change({ allowed: !token.allowed }) }),
      token.remote_start
        ? el("button", { type: "button", class: "text-button", text: "Not for remote start", onclick: () => change({ remote_start: false }) })
        : token.allowed
          ? el("button", { type: "button", class: "text-button", text: "Use for remote start", onclick: () => change({ remote_start: true }) })
          : null,
      el("button", { type: "button", class: "text-button danger-text", text: "Delete", onclick: () => this.remove(token, result) }),
    );
    const row = el("li", { class: `token-row${token.allowed ? "" : " blocked"}`, dataset: { ref: token.ref } }, main, actions, result);
    return row;
  }

  rename(row, token, result) {
    this.editing = token.ref;
    const input = el("input", { type: "text", value: token.name, maxlength: 40, "aria-label": `New name for ${token.name}` });
    const save = async () => {
      const answer = await send("PATCH", `api/tokens/${encodeURIComponent(token.ref)}`, { name: input.value });
      if (!answer.ok) return showResult(result, false, answer.data.detail || `HTTP ${answer.status}`);
      if (answer.data.name) Object.assign(token, answer.data);
      this.endEdit();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") save();
      if (event.key === "Escape") this.endEdit();
    });
    row.querySelector(".token-main").replaceChildren(input);
    row.querySelector(".token-actions").replaceChildren(
      el("button", { type: "button", class: "button primary", text: "Save", onclick: save }),
      el("button", { type: "button", class: "text-button", text: "Cancel", onclick: () => this.endEdit() }),
    );
    input.focus();
    input.select();
  }

  async remove(token, result) {
    const sure = await this.confirm({
      title: `Delete ${token.name}?`,
      text: "The token leaves the list (and the wallboxes' local lists). Its sessions keep its name.",
      ok: "Delete",
    });
    if (!sure) return;
    const answer = await send("DELETE", `api/tokens/${encodeURIComponent(token.ref)}`);
    if (!answer.ok) showResult(result, false, answer.data.detail || `HTTP ${answer.status}`);
  }

  // --- presented, not in the list -----------------------------------------------------------------

  renderUnknown() {
    const unknown = this.tokens.unknown;
    this.unknownCard.hidden = !unknown.length;
    const names = new Map(this.chargers.map((c) => [c.id, c.name]));
    this.unknownList.replaceChildren(
      ...unknown.map((seen) => {
        const result = el("div", { class: "form-result", role: "status", "aria-live": "polite" });
        const told = seen.status === "Accepted" ? "accepted" : `told ${seen.status}`;
        const row = el(
          "li",
          { class: "token-row unknown", dataset: { ref: seen.ref } },
          el(
            "div",
            { class: "token-main" },
            el("div", { class: "token-name" }, el("strong", { class: "mono", text: seen.masked }), el("span", { class: "tag", text: TYPE_NAMES[seen.type] || seen.type })),
            el("div", { class: "muted", text: `At ${names.get(seen.charger) || seen.charger}, ${ago(seen.last_seen)}; ${told}${seen.attempts > 1 ? ` (${seen.attempts}×)` : ""}` }),
          ),
          el(
            "div",
            { class: "token-actions" },
            el("button", { type: "button", class: "button primary", text: "Add as…", onclick: () => this.addAs(row, seen, result) }),
            el("button", { type: "button", class: "text-button", text: "Dismiss", onclick: () => send("DELETE", `api/tokens/unknown/${encodeURIComponent(seen.ref)}`) }),
          ),
          result,
        );
        return row;
      }),
    );
  }

  addAs(row, seen, result) {
    this.editing = seen.ref;
    const input = el("input", { type: "text", value: `Card ${seen.masked}`, maxlength: 40, "aria-label": `Name for the token ${seen.masked}` });
    const add = async () => {
      const answer = await send("POST", "api/tokens", { name: input.value, unknown: seen.ref });
      if (!answer.ok) return showResult(result, false, answer.data.detail || `HTTP ${answer.status}`);
      this.endEdit();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") add();
      if (event.key === "Escape") this.endEdit();
    });
    row.querySelector(".token-actions").replaceChildren(
      input,
      el("button", { type: "button", class: "button primary", text: "Add", onclick: add }),
      el("button", { type: "button", class: "text-button", text: "Cancel", onclick: () => this.endEdit() }),
    );
    input.focus();
    input.select();
  }

  // --- energy per token --------------------------------------------------------------------------------

  /** Fetch energy per token and month (in the browser's time zone) and draw the chosen month. */
  async refreshEnergy() {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const answer = await send("GET", `api/tokens/energy?tz=${encodeURIComponent(zone)}`);
    if (!answer.ok) return;
    this.zone = answer.data.tz;
    this.energyRows = answer.data.rows;
    const months = [...new Set(this.energyRows.map((r) => r.month))].sort().reverse();
    const chosen = months.includes(this.month.value) ? this.month.value : months[0];
    this.month.replaceChildren(...months.map((m) => el("option", { value: m, text: new Date(`${m}-15T12:00:00`).toLocaleDateString([], { month: "long", year: "numeric" }) })));
    this.month.closest("label").hidden = !months.length;
    if (chosen) this.month.value = chosen;
    this.renderEnergy();
  }

  renderEnergy() {
    const rows = this.energyRows.filter((r) => r.month === this.month.value);
    if (!rows.length) {
      this.energy.replaceChildren(el("p", { class: "empty", text: "No finished sessions yet." }));
      return;
    }
    const csv = (token) =>
      this.chargers.map((c) =>
        el(
          "a",
          {
            class: "icon-link",
            href: `${chargerPath(c.id, "sessions.csv")}?${new URLSearchParams({ token, month: this.month.value, tz: this.zone || "UTC" })}`,
            download: "",
            title: `CSV of ${token}, ${c.name}`,
            "aria-label": `CSV of ${token}, ${c.name}`,
          },
          icon("download"),
          this.chargers.length > 1 ? el("span", { text: c.name }) : null,
        ),
      );
    const total = rows.reduce((sum, r) => sum + r.energy_kwh, 0);
    this.energy.replaceChildren(
      el(
        "div",
        { class: "table-wrap" },
        el(
          "table",
          { class: "sessions energy-table" },
          el("thead", {}, el("tr", {}, ...["Token", "Sessions", "Energy", "CSV"].map((h) => el("th", { scope: "col", text: h })))),
          el(
            "tbody",
            {},
            ...rows.map((r) =>
              el(
                "tr",
                { dataset: { token: r.token } },
                el("td", { text: r.token }),
                el("td", { class: "num", text: String(r.sessions) }),
                el("td", { class: "num", text: `${num(r.energy_kwh, 2)} kWh` }),
                el("td", {}, ...csv(r.token)),
              ),
            ),
          ),
          el("tfoot", {}, el("tr", {}, el("th", { scope: "row", text: "Total" }), el("td"), el("td", { class: "num", text: `${num(total, 2)} kWh` }), el("td"))),
        ),
      ),
    );
  }
}
