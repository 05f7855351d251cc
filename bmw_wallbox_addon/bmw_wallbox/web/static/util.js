// Small helpers shared by the panel's modules: DOM building, formatting, the JSON API.

/** Create an element: el("div", {class: "x", text: "hi"}, child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** Icons as SVG path data on a 24x24 grid. */
export const ICONS = {
  bolt: "M13.5 3 6 13.5h5L10 21l8-11h-5.2z",
  play: "M8 5.5v13l10.5-6.5z",
  pause: "M7 5h3.5v14H7zm6.5 0H17v14h-3.5z",
  stop: "M6.5 6.5h11v11h-11z",
  restart: "M12 4a8 8 0 1 0 7.75 10h-2.1A6 6 0 1 1 12 6c1.66 0 3.14.69 4.22 1.78L13 11h7V4l-2.35 2.35A7.96 7.96 0 0 0 12 4z",
  plug: "M9 2v5H7v4a5 5 0 0 0 4 4.9V22h2v-6.1A5 5 0 0 0 17 11V7h-2V2h-2v5h-2V2z",
  sleep: "M12 3a9 9 0 1 0 9 9 7 7 0 0 1-9-9z",
  alert: "M12 2 1 21h22zm-1 7h2v6h-2zm0 8h2v2h-2z",
  offline: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM4 12a8 8 0 0 1 12.9-6.3L5.7 16.9A7.96 7.96 0 0 1 4 12zm8 8a7.96 7.96 0 0 1-4.9-1.7L18.3 7.1A8 8 0 0 1 12 20z",
  check: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z",
  info: "M11 7h2v2h-2zm0 4h2v6h-2zm1-9a10 10 0 1 0 0 20 10 10 0 0 0 0-20z",
  close: "M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12z",
  download: "M5 20h14v-2H5zM19 9h-4V3H9v6H5l7 7z",
  copy: "M16 1H4a2 2 0 0 0-2 2v14h2V3h12zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11z",
};

/** An inline icon. */
export function icon(name, cls = "icon") {
  return svg("svg", { class: cls, viewBox: "0 0 24 24", "aria-hidden": "true" }, svg("path", { d: ICONS[name], "fill-rule": "evenodd" }));
}

/** A number with fixed decimals, or an en dash when unknown. */
export function num(value, decimals = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString(undefined, { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Power as [value, unit]: W below 1 kW, kW above. */
export function power(watts) {
  if (watts === null || watts === undefined) return ["–", "kW"];
  if (Math.abs(watts) < 1000) return [num(watts, 0), "W"];
  return [num(watts / 1000, 2), "kW"];
}

/** A duration in seconds as "1 h 05 min", "4 min 10 s" or "12 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || seconds < 0) return "–";
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m > 0) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

/** How long ago, in words: "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(iso) {
  if (!iso) return "never";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400 * 2) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

/** A time of day (today) or a date and time (earlier). */
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return sameDay ? time : `${date.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

/** A full local date and time, for tooltips and tables. */
export function stamp(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** hh:mm:ss.mmm of a timestamp, for the trace and the logs. */
export function clock(iso) {
  const date = new Date(iso);
  const ms = String(date.getMilliseconds()).padStart(3, "0");
  return `${date.toLocaleTimeString([], { hour12: false })}.${ms}`;
}

/** A path under the charger in the JSON API, relative to the page. */
export function chargerPath(id, tail) {
  return `api/chargers/${encodeURIComponent(id)}/${tail}`;
}

/** Send a command; always resolves with {outcome, detail}, also when the add-on does not answer. */
export async function command(id, name, body) {
  const path = chargerPath(id, name === "set_current_limit" ? "current_limit" : name);
  try {
    const response = await fetch(path, {
      method: name === "set_current_limit" ? "PUT" : "POST",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    return { outcome: data.outcome || `HTTP ${response.status}`, detail: data.detail || "", at: data.at, command: name, ...data };
  } catch (error) {
    return { command: name, outcome: "no_answer", detail: "the app did not answer; is it running?", at: new Date().toISOString() };
  }
}

/** Send a JSON request; always resolves with {ok, status, data}, also when the add-on does not answer. */
export async function send(method, path, body) {
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

/** A text with its first letter in upper case (details come as sentence parts). */
export function sentence(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
}
