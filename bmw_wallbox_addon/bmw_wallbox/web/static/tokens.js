// The Tokens tab: the token list (masked ids), cards presented lately with "Add as…", each charger's
// authorization (policy, whether it asks, its local list) and energy per token per month.

import { ago, chargerPath, el, icon, num } from "./util.js";

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
const TONES = { accepted: "ok", rebooting: "warn", not_connected: "warn", not_applicable: "warn", not_supported: "warn" };

/** Send a JSON request; always resolves with {ok, status, data}, also when the add-on does not answer. */
async function send(method, path, body) {
  try {
    const response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  } catch {
    return { ok: false, status: 0, data: { detail: "the add-on did not answer; is it running?" } };
  }
}

function sentence(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
}

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
    this.dirty = false;
    this.energyRows = [];
    /** The last result per charger card, kept across redraws: [class, text]. */
    this.results = new Map();
    const $ = (id) => document.getElementById(id);
    this.list = $("tokens");
    this.unknownList = $("unknown-tokens");
    this.unknownCard = $("unknown-tokens-card");
    this.side = $("authorization");
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
    if (this.editing) {
      this.dirty = true; // drawn when the edit ends, so typing is not lost
      return;
    }
    this.render();
  }

  render() {
    this.dirty = false;
    this.renderTokens();
    this.renderUnknown();
    this.renderAuthorization();
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
      token.allowed && !token.remote_start
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

  // --- each charger's authorization ----------------------------------------------------------------

  renderAuthorization() {
    this.side.replaceChildren(...this.tokens.chargers.map((auth) => this.authCard(auth)));
  }

  authCard(auth) {
    const slug = auth.charger.replace(/[^A-Za-z0-9]/g, "-");
    const [shownClass, shownText] = this.results.get(auth.charger) || ["form-result", ""];
    const result = el("div", { class: shownClass, role: "status", "aria-live": "polite", text: shownText });
    const run = async (method, path, body, button) => {
      if (button) button.disabled = true;
      result.className = "form-result";
      result.textContent = "Sending…";
      const answer = await send(method, path, body);
      const tone = TONES[answer.data.outcome] || (answer.ok ? "ok" : "bad");
      const text = sentence(answer.data.detail || (answer.ok ? "Saved" : `HTTP ${answer.status}`));
      this.results.set(auth.charger, [`form-result ${tone}`, text]);
      const shown = this.side.querySelector(`.auth-card[data-charger="${CSS.escape(auth.charger)}"] > .form-result`) || result;
      shown.className = `form-result ${tone}`;
      shown.textContent = text;
      if (button) button.disabled = false;
    };
    const radio = (value, label, hint) =>
      el(
        "label",
        { class: "choice" },
        el("input", {
          type: "radio",
          name: `policy-${slug}`,
          value,
          checked: auth.policy === value,
          onchange: () => run("PUT", chargerPath(auth.charger, "authorization"), { policy: value }),
        }),
        el("span", {}, el("span", { class: "choice-title", text: label }), el("span", { class: "muted", text: hint })),
      );
    const policy = el(
      "fieldset",
      { class: "policy" },
      el("legend", { text: "Which tokens may charge" }),
      radio("accept_all", "Every token", "Unknown cards are accepted too; blocked ones are refused."),
      radio("known_only", "Only tokens in the list", `Allowed tokens and remote starts (${this.tokens.remote_start}).`),
    );
    return el(
      "article",
      { class: "card auth-card", dataset: { charger: auth.charger } },
      el("h2", { text: `Authorization: ${auth.name}` }),
      policy,
      this.readerBlock(auth, run),
      this.localListBlock(auth, run),
      result,
    );
  }

  readerBlock(auth, run) {
    const path = chargerPath(auth.charger, "charger_authorization");
    const button = (enabled, text) => {
      const node = el("button", { type: "button", class: `button${enabled ? " primary" : ""}`, text, disabled: !auth.connected || auth.charger_asks_writable === false });
      node.addEventListener("click", () => run("PUT", path, { enabled }, node));
      return node;
    };
    let text;
    let action = null;
    let tone = "";
    if (auth.charger_asks === false) {
      tone = "warn";
      text = "This wallbox does not ask for a token: plugging in starts a session without one, recorded as “no token”. The policy above applies only to tokens the wallbox presents.";
      action = button(true, "Switch authorization on");
    } else if (auth.charger_asks === true) {
      text = "The wallbox asks for a card (or the car's token) before it charges.";
      action = button(false, "Switch authorization off");
    } else {
      text = auth.connected ? "The wallbox has not reported whether it asks for a token." : "Not known yet: shown once the wallbox has connected.";
    }
    if (action && auth.charger_asks_writable === false) text += " The wallbox does not allow changing this.";
    return el("section", { class: `auth-block ${tone}` }, el("h3", { text: "Card reader" }), el("p", { text }), action);
  }

  localListBlock(auth, run) {
    const list = auth.local_list;
    const size = list.max_entries ? ` (${list.max_entries} at most, ${list.per_message || "?"} per message)` : "";
    let text;
    let tone = "";
    let action = null;
    const button = (label, method, path, body) => {
      const node = el("button", { type: "button", class: "button", text: label, disabled: !auth.connected });
      node.addEventListener("click", () => run(method, path, body, node));
      return node;
    };
    if (list.supported === false || list.status === "unsupported") {
      tone = "warn";
      text = "This wallbox has no local list: cards work only while the add-on runs.";
    } else if (list.enabled === false) {
      tone = "warn";
      text = `The wallbox's local list is off${size}: cards work only while the add-on runs.`;
      if (list.writable !== false) action = button("Switch local list on", "PUT", chargerPath(auth.charger, "local_list"), { enabled: true });
    } else if (list.status === "in_sync") {
      text = `Up to date: version ${list.version}, ${list.entries} token${list.entries === 1 ? "" : "s"}${size}. Allowed cards work while the add-on is down.`;
      if (list.left_out) {
        tone = "warn";
        text += ` ${list.left_out} allowed token(s) did not fit.`;
      }
    } else if (list.status === "failed") {
      tone = "bad";
      text = `Not up to date: ${list.detail}.`;
      action = button("Send again", "POST", chargerPath(auth.charger, "local_list/sync"));
    } else if (list.status === "updating") {
      text = "Sending the list to the wallbox…";
    } else {
      text = auth.connected ? "Waiting for the wallbox's device model." : "Sent when the wallbox connects.";
    }
    return el("section", { class: `auth-block ${tone}` }, el("h3", { text: "Local list" }), el("p", { text }), action);
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
