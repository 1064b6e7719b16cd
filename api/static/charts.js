// Small accessible bar charts in SVG. Each chart has a text label naming every value, and the
// page shows the same figures in a data table, so the chart is never the only way to read them.

const SVG_NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const PALETTE = ["#505a5f", "#1d70b8", "#00703c", "#912b88", "#b58840", "#d4351c"];

/**
 * A horizontal bar chart.
 *
 * @param {string} title  what the chart shows, e.g. "Mean travel (minutes)"
 * @param {{label: string, value: number|null}[]} bars  one bar per scenario
 * @param {function(number): string} format  how to write a value
 * @returns {HTMLElement} a <figure>
 */
export function barChart(title, bars, format) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.className = "chart-title";
  caption.textContent = title;
  const values = bars.map((b) => (typeof b.value === "number" ? b.value : 0));
  const max = Math.max(0, ...values);
  const min = Math.min(0, ...values);
  const range = max - min || 1;
  const labelW = 190;
  const valueW = 130;
  const plotW = 380;
  const rowH = 30;
  const width = labelW + plotW + valueW;
  const height = bars.length * rowH + 10;
  const zeroX = labelW + ((0 - min) / range) * plotW;
  const description = bars
    .map((b) => `${b.label}: ${typeof b.value === "number" ? format(b.value) : "no value"}`)
    .join("; ");
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `${title}. ${description}.`,
    focusable: "false",
  });
  bars.forEach((b, i) => {
    const y = 5 + i * rowH;
    const v = values[i];
    const x1 = labelW + ((Math.min(v, 0) - min) / range) * plotW;
    const w = (Math.abs(v) / range) * plotW;
    const label = el("text", { x: labelW - 8, y: y + rowH * 0.62, "text-anchor": "end", "font-size": 14, fill: "#0b0c0c", "font-family": "Arial, sans-serif" });
    label.textContent = b.label.length > 26 ? `${b.label.slice(0, 25)}…` : b.label;
    const bar = el("rect", { x: x1, y: y + 4, width: Math.max(w, 1), height: rowH - 10, fill: PALETTE[i % PALETTE.length] });
    const value = el("text", { x: labelW + plotW + 8, y: y + rowH * 0.62, "font-size": 14, fill: "#0b0c0c", "font-family": "Arial, sans-serif" });
    value.textContent = typeof b.value === "number" ? format(b.value) : "–";
    svg.append(label, bar, value);
  });
  svg.append(el("line", { x1: zeroX, x2: zeroX, y1: 0, y2: height, stroke: "#0b0c0c", "stroke-width": 1 }));
  figure.append(caption, svg);
  return figure;
}

/**
 * A line chart of a count over the years: the observed years as a dark line with dots, then the
 * projection's mean as a blue line inside its shaded 95% interval.
 *
 * @param {string} title  what the chart shows
 * @param {{year: number, value: number}[]} observed  the years counted
 * @param {{year: number, mean: number, low: number, high: number}[]} projected  from the last
 *   observed year on
 * @param {function(number): string} format  how to write a value
 * @returns {HTMLElement} a <figure> with its legend
 */
export function bandChart(title, observed, projected, format) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.className = "chart-title";
  caption.textContent = title;
  const years = [...observed.map((p) => p.year), ...projected.map((p) => p.year)];
  const first = Math.min(...years);
  const last = Math.max(...years);
  const top = niceCeiling(Math.max(1, ...observed.map((p) => p.value), ...projected.map((p) => p.high)));
  const left = 70;
  const right = 20;
  const plotW = 600;
  const plotH = 260;
  const topPad = 12;
  const width = left + plotW + right;
  const height = topPad + plotH + 40;
  const x = (year) => left + (last === first ? plotW / 2 : ((year - first) / (last - first)) * plotW);
  const y = (value) => topPad + plotH - (value / top) * plotH;
  const text = (attrs, content) => {
    const node = el("text", { "font-size": 13, fill: "#0b0c0c", "font-family": "Arial, sans-serif", ...attrs });
    node.textContent = content;
    return node;
  };
  const described = [
    observed.length ? `Observed: ${observed.map((p) => `${p.year} ${format(p.value)}`).join(", ")}` : "",
    projected.length
      ? `projected: ${projected.map((p) => `${p.year} ${format(p.mean)} (95% interval ${format(p.low)} to ${format(p.high)})`).join(", ")}`
      : "",
  ].filter(Boolean);
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `${title}. ${described.join("; ")}.`,
    focusable: "false",
  });
  for (let k = 0; k <= 4; k += 1) {
    const value = (top * k) / 4;
    svg.append(
      el("line", { x1: left, x2: left + plotW, y1: y(value), y2: y(value), stroke: "#b1b4b6", "stroke-width": 1 }),
      text({ x: left - 8, y: y(value) + 4, "text-anchor": "end" }, format(value)),
    );
  }
  const step = Math.max(1, Math.ceil((last - first + 1) / 12));
  for (let year = first; year <= last; year += step) {
    svg.append(text({ x: x(year), y: topPad + plotH + 20, "text-anchor": "middle" }, String(year)));
  }
  if (projected.length) {
    const band = [...projected.map((p) => `${x(p.year)},${y(p.high)}`), ...[...projected].reverse().map((p) => `${x(p.year)},${y(p.low)}`)];
    svg.append(
      el("polygon", { points: band.join(" "), fill: "#1d70b8", "fill-opacity": 0.2, stroke: "none" }),
      el("polyline", { points: projected.map((p) => `${x(p.year)},${y(p.mean)}`).join(" "), fill: "none", stroke: "#1d70b8", "stroke-width": 3 }),
    );
  }
  if (observed.length) {
    svg.append(el("polyline", { points: observed.map((p) => `${x(p.year)},${y(p.value)}`).join(" "), fill: "none", stroke: "#0b0c0c", "stroke-width": 2 }));
    for (const p of observed) svg.append(el("circle", { cx: x(p.year), cy: y(p.value), r: 4, fill: "#0b0c0c" }));
  }
  svg.append(el("line", { x1: left, x2: left + plotW, y1: y(0), y2: y(0), stroke: "#0b0c0c", "stroke-width": 1 }));
  const legend = document.createElement("ul");
  legend.className = "chart-legend";
  for (const [colour, label] of [["#0b0c0c", "Observed"], ["#1d70b8", "Projected mean"], ["rgba(29, 112, 184, 0.2)", "95% interval"]]) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "chart-swatch";
    swatch.style.background = colour;
    item.append(swatch, label);
    legend.append(item);
  }
  figure.append(caption, svg, legend);
  return figure;
}

/** A round number at or above ``value`` for the top of an axis: 1, 2, 2.5 or 5 times a power of ten. */
function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  const nice = [1, 2, 2.5, 5, 10].find((m) => m * power >= value);
  return nice * power;
}

/**
 * Demand against places: for each row, a blue bar of the projected demand with a black line
 * across its 95% interval, and under it a grey bar of the places.
 *
 * @param {string} title  what the chart shows
 * @param {{label: string, demand: number, low: number, high: number, places: number}[]} rows
 * @param {function(number): string} format  how to write a value
 * @returns {HTMLElement} a <figure> with its legend
 */
export function demandPlacesChart(title, rows, format) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.className = "chart-title";
  caption.textContent = title;
  const top = niceCeiling(Math.max(1, ...rows.flatMap((r) => [r.high, r.places])));
  const labelW = 150;
  const plotW = 440;
  const valueW = 190;
  const rowH = 44;
  const width = labelW + plotW + valueW;
  const height = rows.length * rowH + 10;
  const x = (value) => labelW + (value / top) * plotW;
  const text = (attrs, content) => {
    const node = el("text", { "font-size": 13, fill: "#0b0c0c", "font-family": "Arial, sans-serif", ...attrs });
    node.textContent = content;
    return node;
  };
  const described = rows
    .map((r) => `${r.label}: demand ${format(r.demand)} (95% interval ${format(r.low)} to ${format(r.high)}), places ${format(r.places)}`)
    .join("; ");
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}. ${described}.`, focusable: "false" });
  rows.forEach((r, i) => {
    const y = 5 + i * rowH;
    svg.append(
      text({ x: labelW - 8, y: y + rowH * 0.5, "text-anchor": "end" }, r.label),
      el("rect", { x: labelW, y: y + 4, width: Math.max(x(r.demand) - labelW, 1), height: 16, fill: "#1d70b8" }),
      el("line", { x1: x(r.low), x2: x(r.high), y1: y + 12, y2: y + 12, stroke: "#0b0c0c", "stroke-width": 2 }),
      el("rect", { x: labelW, y: y + 22, width: Math.max(x(r.places) - labelW, 1), height: 12, fill: "#505a5f" }),
      text({ x: labelW + plotW + 8, y: y + 17 }, `demand ${format(r.demand)}`),
      text({ x: labelW + plotW + 8, y: y + 33 }, `places ${format(r.places)}`),
    );
  });
  svg.append(el("line", { x1: labelW, x2: labelW, y1: 0, y2: height, stroke: "#0b0c0c", "stroke-width": 1 }));
  const legend = document.createElement("ul");
  legend.className = "chart-legend";
  for (const [colour, label] of [["#1d70b8", "Projected demand (line: 95% interval)"], ["#505a5f", "Places designated for the need"]]) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "chart-swatch";
    swatch.style.background = colour;
    item.append(swatch, label);
    legend.append(item);
  }
  figure.append(caption, svg, legend);
  return figure;
}
