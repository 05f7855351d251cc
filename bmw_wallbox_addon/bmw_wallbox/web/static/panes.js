// The Sessions, Setup, Trace and Logs tabs.

import { chargerPath, clock, duration, el, icon, num, stamp, ago } from "./util.js";

const MAX_ROWS = 300;

// --- Sessions ------------------------------------------------------------------------------

/** One card per charger with its last sessions and the CSV download. */
export function renderSessions(container, chargers) {
  if (!chargers.length) {
    container.replaceChildren(el("p", { class: "empty", text: "No charger configured." }));
    return;
  }
  container.replaceChildren(
    ...chargers.map((c) => {
      const sessions = c.sessions || [];
      const several = (c.evses || []).length > 1 || sessions.some((s) => s.evse_id > 1);
      const total = sessions.reduce((sum, s) => sum + (s.energy_kwh || 0), 0);
      const download = el(
        "a",
        { class: "button", href: chargerPath(c.id, "sessions.csv"), download: "" },
        icon("download"),
        el("span", { text: "Download CSV" }),
      );
      const body = sessions.length
        ? el(
            "div",
            { class: "table-wrap" },
            el(
              "table",
              { class: "sessions" },
              el(
                "thead",
                {},
                el(
                  "tr",
                  {},
                  ...["Started", "Ended", "Duration", "Energy", "Token", "Stop reason", ...(several ? ["EVSE"] : [])].map((h) => el("th", { scope: "col", text: h })),
                ),
              ),
              el(
                "tbody",
                {},
                ...sessions.map((s) =>
                  el(
                    "tr",
                    {},
                    el("td", { text: stamp(s.started_at) }),
                    el("td", { text: stamp(s.ended_at) }),
                    el("td", { class: "num", text: duration(s.duration_s) }),
                    el("td", { class: "num", text: s.energy_kwh === null ? "–" : `${num(s.energy_kwh, 2)} kWh` }),
                    el("td", { text: s.token_masked && s.token_name === "unknown" ? `unknown ${s.token_masked}` : s.token_name || "–" }),
                    el("td", { text: s.stopped_reason || "–" }),
                    several ? el("td", { class: "num", text: String(s.evse_id) }) : null,
                  ),
                ),
              ),
            ),
          )
        : el("p", { class: "empty", text: "No finished sessions yet." });
      const summary = sessions.length
        ? `${c.sessions_total ?? sessions.length} sessions kept; ${num(total, 1)} kWh in the ${sessions.length} shown`
        : "Sessions appear here when they end.";
      return el(
        "article",
        { class: "card" },
        el("div", { class: "card-title" }, el("div", {}, el("h2", { text: c.name }), el("div", { class: "muted", text: summary })), download),
        body,
      );
    }),
  );
}

// --- Setup ---------------------------------------------------------------------------------

const STATUS_ICON = { ok: "check", warn: "alert", fail: "close", info: "info" };

function copyButton(text) {
  const button = el("button", { type: "button", class: "icon-button", title: "Copy", "aria-label": `Copy ${text}` }, icon("copy"));
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.title = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(button.previousElementSibling);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
    }
  });
  return button;
}

/** The checklist, the address per charger (with live connection state) and the unknown ids. */
export function renderSetup(setup, chargers, unknown) {
  const byId = new Map(chargers.map((c) => [c.id, c]));
  const items = [...(setup?.items || [])];
  for (const charger of setup?.chargers || []) {
    const live = byId.get(charger.id);
    if (live?.connected) items.push({ status: "ok", title: `${charger.name} is connected`, detail: `From ${live.remote_address || "?"}, ${live.tls ? "TLS" : "no TLS"}${live.authenticated ? ", with password" : ""}` });
    else if (live?.last_seen) items.push({ status: "warn", title: `${charger.name} is offline`, detail: `Last seen ${ago(live.last_seen)}.` });
    else items.push({ status: "warn", title: `${charger.name} has not connected yet`, detail: "Enter the address below in the installer app." });
  }
  document.getElementById("checklist").replaceChildren(
    ...items.map((item) =>
      el(
        "li",
        { class: `check ${item.status}` },
        el("span", { class: "check-icon" }, icon(STATUS_ICON[item.status] || "info")),
        el("div", {}, el("div", { class: "check-title", text: item.title }), item.detail ? el("div", { class: "muted", text: item.detail }) : null),
      ),
    ),
  );
  const problems = items.filter((i) => i.status === "fail").length;
  const badge = document.getElementById("setup-badge");
  badge.hidden = problems === 0;
  badge.textContent = String(problems);

  const urls = (setup?.chargers || []).map((c) =>
    el(
      "div",
      { class: "url-block" },
      el("div", { class: "url-name", text: c.name }),
      el(
        "dl",
        { class: "url-fields" },
        el("dt", { text: "Server URL" }),
        el("dd", {}, el("div", { class: "url-row" }, el("code", { class: "url", text: c.url }), copyButton(c.url))),
        el("dt", { text: "Station id" }),
        el("dd", {}, el("code", { text: c.id }), el("span", { class: "muted", text: " (exactly, with the asterisks)" })),
        ...(c.entity_ids?.length
          ? [el("dt", { text: "Entities" }), el("dd", {}, el("ul", { class: "entity-ids" }, ...c.entity_ids.map((id) => el("li", {}, el("code", { text: id })))))]
          : []),
        el("dt", { text: "Password" }),
        el(
          "dd",
          { class: "muted" },
          c.password ? "the one set for this charger in the app's options (security profile 2)" : "none set in the app's options: any password is accepted",
        ),
      ),
    ),
  );
  if (setup?.host === "<your-hostname>") {
    urls.push(el("p", { class: "muted", text: "Replace <your-hostname> with the name your certificate is issued for; a local DNS record must point it at Home Assistant." }));
  }
  document.getElementById("urls").replaceChildren(...(urls.length ? urls : [el("p", { class: "empty", text: "Add a charger under the option chargers first." })]));

  const unknownList = document.getElementById("unknown");
  if (!unknown.length) {
    unknownList.replaceChildren(el("p", { class: "empty", text: "None: every charger that connected is configured." }));
    return;
  }
  // Each line comes from the add-on with the id quoted and escaped (an id is whatever reached the OCPP port).
  const yaml = `chargers:\n${unknown.map((u) => u.option_line).join("\n")}`;
  unknownList.replaceChildren(
    el(
      "ul",
      { class: "unknown-list" },
      ...unknown.map((u) =>
        el("li", {}, el("code", { text: u.id }), el("span", { class: "muted", text: ` from ${u.remote_address || "?"}, ${u.attempts} attempt(s), last ${ago(u.last_seen)}` })),
      ),
    ),
    el("p", {}, "To let it connect, add it in the app's ", el("strong", { text: "Configuration" }), " tab under chargers, save and restart the app:"),
    el("div", { class: "url-row" }, el("pre", { class: "yaml", text: yaml }), copyButton(yaml)),
  );
}

// --- Trace and logs: newest first, filtered, at most MAX_ROWS rows in the page ---------------

/** A live list that keeps the entries and shows the filtered newest MAX_ROWS. */
export class LiveList {
  constructor(list, count, { keep, matches, render, noun }) {
    this.list = list;
    this.count = count;
    this.keep = keep;
    this.matches = matches;
    this.render = render;
    this.noun = noun;
    this.entries = [];
  }

  /** Replace every entry (newest first). */
  reset(entries) {
    this.entries = entries.slice(0, this.keep);
    this.refresh();
  }

  /** Put new entries (newest first) on top. */
  add(entries) {
    this.entries = entries.concat(this.entries).slice(0, this.keep);
    const shown = entries.filter(this.matches);
    if (shown.length) this.list.querySelector(":scope > li.empty")?.remove();
    this.list.prepend(...shown.map(this.render));
    while (this.list.children.length > MAX_ROWS) this.list.lastElementChild.remove();
    this.updateCount();
  }

  /** Render again after a filter changed. */
  refresh() {
    const shown = this.entries.filter(this.matches).slice(0, MAX_ROWS);
    this.list.replaceChildren(...shown.map(this.render));
    if (!shown.length) this.list.append(el("li", { class: "empty", text: this.entries.length ? `No ${this.noun} match the filter.` : `No ${this.noun} yet.` }));
    this.updateCount();
  }

  updateCount() {
    const matching = this.entries.filter(this.matches).length;
    this.count.textContent = `${Math.min(matching, MAX_ROWS)} of ${this.entries.length} ${this.noun}`;
  }
}

const FRAME_KIND = { 2: "call", 3: "result", 4: "error" };
/** Arrow and words per trace direction; the upstream backend's frames and decisions are marked "upstream". */
const DIRECTIONS = {
  in: (id) => ["←", `from ${id}`],
  out: (id) => ["→", `to ${id}`],
  upstream_in: (id) => ["⇠", `from the upstream backend of ${id}`],
  upstream_out: (id) => ["⇢", `to the upstream backend of ${id}`],
  upstream: (id) => ["◆", `decision on a request of the upstream backend of ${id}`],
};

/** One trace row: a summary line that opens to the pretty-printed frame. */
export function renderFrame(entry) {
  let kind = "";
  let pretty = entry.frame;
  try {
    const frame = JSON.parse(entry.frame);
    kind = FRAME_KIND[frame[0]] || "";
    pretty = JSON.stringify(frame, null, 2);
  } catch {
    kind = "malformed";
  }
  const [arrow, who] = DIRECTIONS[entry.direction] ? DIRECTIONS[entry.direction](entry.charger) : ["→", `to ${entry.charger}`];
  return el(
    "li",
    { class: `frame ${entry.direction}`, dataset: { action: entry.action || "", kind } },
    el(
      "details",
      {},
      el(
        "summary",
        {},
        el("time", { datetime: entry.at, text: clock(entry.at) }),
        el("span", { class: "dir", title: who, "aria-label": who, text: arrow }),
        el("span", { class: "action", text: entry.action || "(no action)" }),
        el("span", { class: `kind kind-${kind}`, text: kind }),
        el("span", { class: "preview mono", text: entry.frame }),
      ),
      el("pre", { class: "mono", text: pretty }),
    ),
  );
}

/** One log row. */
export function renderLog(line) {
  return el(
    "li",
    { class: `log ${line.level.toLowerCase()}` },
    el("time", { datetime: line.at, text: clock(line.at) }),
    el("span", { class: "level", text: line.level }),
    el("span", { class: "logger", text: line.logger.replace(/^bmw_wallbox\./, "") }),
    el("span", { class: "message", text: line.message }),
  );
}
