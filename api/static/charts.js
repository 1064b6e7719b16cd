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
