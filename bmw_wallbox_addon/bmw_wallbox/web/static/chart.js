// The power chart of the last hour: plain SVG, redrawn when points arrive, the size changes or time moves on.

import { num, svg } from "./util.js";

const HOUR_MS = 3600 * 1000;
const PAD = { left: 46, right: 14, top: 14, bottom: 26 };
let gradientIds = 0;

/** A step of 1, 2 or 5 x 10^n kW that gives about four grid lines up to maxKw. */
function niceStep(maxKw) {
  const raw = maxKw / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 5, 10]) {
    if (raw <= factor * power) return factor * power;
  }
  return 10 * power;
}

/** The continuous runs of points inside the window (a null value is a gap while offline). */
function runs(points, startMs) {
  const result = [];
  let current = [];
  let before = null;
  for (const [t, w] of points) {
    if (t < startMs) {
      before = w;
      continue;
    }
    if (w === null) {
      if (current.length) result.push(current);
      current = [];
      before = null;
      continue;
    }
    if (!current.length && before !== null) current.push([startMs, before]);
    before = null;
    current.push([t, w]);
  }
  if (current.length) result.push(current);
  return result;
}

export class PowerChart {
  /** A chart inside `figure`; `points` are [ms, W|null], oldest first. */
  constructor(figure) {
    this.figure = figure;
    this.points = [];
    this.live = false;
    this.gradient = `power-fill-${++gradientIds}`;
    this.svg = svg("svg", { class: "chart-svg", role: "img" });
    this.readout = figure.querySelector(".chart-readout");
    figure.querySelector(".chart-box").append(this.svg);
    new ResizeObserver(() => this.draw()).observe(this.svg);
    this.svg.addEventListener("pointermove", (event) => this.hover(event));
    this.svg.addEventListener("pointerleave", () => this.hover(null));
  }

  /** Replace all points (a fresh hello). */
  reset(points) {
    this.points = points.slice();
    this.draw();
  }

  /** Add new points and forget those older than an hour. */
  add(points, live) {
    this.live = live;
    if (points.length) this.points.push(...points);
    const oldest = Date.now() - HOUR_MS;
    while (this.points.length > 1 && this.points[1][0] < oldest) this.points.shift();
    this.draw();
  }

  draw() {
    const width = Math.max(this.svg.clientWidth, 200);
    const height = Math.max(this.svg.clientHeight, 120);
    const now = Date.now();
    const start = now - HOUR_MS;
    const values = this.points.filter(([t, w]) => w !== null && t >= start).map(([, w]) => w);
    const peak = Math.max(0, ...values);
    const maxKw = Math.max(peak / 1000, 1);
    const step = niceStep(maxKw);
    const top = Math.ceil(maxKw / step - 1e-9) * step;
    const plotW = width - PAD.left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    const x = (t) => PAD.left + ((t - start) / HOUR_MS) * plotW;
    const y = (w) => PAD.top + plotH - (w / 1000 / top) * plotH;
    this.scale = { x, y, start, plotW };

    const nodes = [
      svg(
        "defs",
        {},
        svg(
          "linearGradient",
          { id: this.gradient, x1: 0, y1: 0, x2: 0, y2: 1 },
          svg("stop", { offset: "0%", class: "fill-top" }),
          svg("stop", { offset: "100%", class: "fill-bottom" }),
        ),
      ),
    ];
    for (let kw = 0; kw <= top + 1e-9; kw += step) {
      const gy = y(kw * 1000);
      nodes.push(svg("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: gy, y2: gy }));
      nodes.push(svg("text", { class: "axis", x: PAD.left - 8, y: gy + 4, "text-anchor": "end", text: `${num(kw, step < 1 ? 1 : 0)} kW` }));
    }
    const quarter = (plotW < 420 ? 30 : 15) * 60 * 1000;
    for (let t = Math.ceil(start / quarter) * quarter; t <= now; t += quarter) {
      const label = new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      nodes.push(svg("line", { class: "grid vertical", x1: x(t), x2: x(t), y1: PAD.top, y2: PAD.top + plotH }));
      const anchor = x(t) > width - PAD.right - 24 ? "end" : "middle";
      nodes.push(svg("text", { class: "axis", x: Math.min(x(t), width - 2), y: height - 6, "text-anchor": anchor, text: label }));
    }
    const segments = runs(this.points, start);
    segments.forEach((run, index) => {
      const last = index === segments.length - 1;
      const extended = last && this.live ? [...run, [now, run[run.length - 1][1]]] : run;
      const line = extended.map(([t, w], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(w).toFixed(1)}`).join("");
      const base = y(0).toFixed(1);
      const area = `${line}L${x(extended[extended.length - 1][0]).toFixed(1)},${base}L${x(extended[0][0]).toFixed(1)},${base}Z`;
      nodes.push(svg("path", { class: "area", d: area, fill: `url(#${this.gradient})` }));
      nodes.push(svg("path", { class: "line", d: line }));
      if (last && this.live) {
        const [t, w] = extended[extended.length - 1];
        nodes.push(svg("circle", { class: "now", cx: x(t), cy: y(w), r: 4 }));
      }
    });
    if (!values.length) {
      nodes.push(svg("text", { class: "empty-chart", x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, "text-anchor": "middle", text: "No readings in the last hour" }));
    }
    this.marker = svg("g", { class: "marker", visibility: "hidden" }, svg("line", { y1: PAD.top, y2: PAD.top + plotH }), svg("circle", { r: 4 }));
    nodes.push(this.marker);
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.svg.setAttribute(
      "aria-label",
      values.length ? `Power over the last hour: now ${num(values[values.length - 1] / 1000, 2)} kW, peak ${num(peak / 1000, 2)} kW` : "Power over the last hour: no readings",
    );
    this.svg.replaceChildren(...nodes);
  }

  /** Show the reading nearest to the pointer. */
  hover(event) {
    if (!this.scale || !this.marker) return;
    const visible = this.points.filter(([t, w]) => w !== null && t >= this.scale.start);
    if (!event || !visible.length) {
      this.marker.setAttribute("visibility", "hidden");
      this.readout.textContent = "";
      return;
    }
    const box = this.svg.getBoundingClientRect();
    const viewX = ((event.clientX - box.left) / box.width) * this.svg.viewBox.baseVal.width;
    const target = this.scale.start + ((viewX - PAD.left) / this.scale.plotW) * HOUR_MS;
    let best = visible[0];
    for (const point of visible) if (Math.abs(point[0] - target) < Math.abs(best[0] - target)) best = point;
    const [t, w] = best;
    const [line, dot] = this.marker.children;
    for (const attr of ["x1", "x2"]) line.setAttribute(attr, this.scale.x(t));
    dot.setAttribute("cx", this.scale.x(t));
    dot.setAttribute("cy", this.scale.y(w));
    this.marker.setAttribute("visibility", "visible");
    const time = new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    this.readout.textContent = `${time} · ${num(w / 1000, 2)} kW`;
  }
}
