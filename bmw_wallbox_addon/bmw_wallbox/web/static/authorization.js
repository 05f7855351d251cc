// Each charger's authorization on the Tokens tab: which tokens may charge, whether the wallbox asks for one,
// and its local list, with the switches the wallbox allows and the honest result of each.

import { chargerPath, el, send, sentence } from "./util.js";

const TONES = { accepted: "ok", rebooting: "warn", not_connected: "warn", not_applicable: "warn", not_supported: "warn" };

export class AuthorizationCards {
  /** Cards drawn into `container`; the last result per charger survives redraws. */
  constructor(container) {
    this.side = container;
    /** The last result per charger card: [class, text]. */
    this.results = new Map();
    this.tokens = { chargers: [], remote_start: "Home Assistant" };
  }

  /** Draw one card per charger from the token picture of the live feed. */
  render(tokens) {
    this.tokens = tokens;
    this.side.replaceChildren(...tokens.chargers.map((auth) => this.authCard(auth)));
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

}
