// A plain vector map in SVG: no tiles, no external library, works offline.
// Positions use a local equirectangular projection (metres east and north of the centre),
// which is accurate to well under 1% across an LA.

const SVG_NS = "http://www.w3.org/2000/svg";
const M_PER_DEG_LAT = 110540;
const M_PER_DEG_LON = 111320;

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  for (const c of children) node.append(c);
  return node;
}

function projector(points) {
  const lat0 = points.reduce((s, p) => s + p.lat, 0) / points.length;
  const lon0 = points.reduce((s, p) => s + p.lon, 0) / points.length;
  const kx = M_PER_DEG_LON * Math.cos((lat0 * Math.PI) / 180);
  return {
    xy: (p) => [(p.lon - lon0) * kx, -(p.lat - lat0) * M_PER_DEG_LAT],
  };
}

function niceDistance(metres) {
  const steps = [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
  return steps.filter((s) => s <= metres).pop() || steps[0];
}

/**
 * Draw a map of a child's home and options into `container`.
 *
 * @param {HTMLElement} container  where the figure goes
 * @param {object} data  {home, options: [{n, name, location, proposed}], excluded: [...], label}
 * @returns {{setRoads: function(object): void, bounds: object}}
 */
export function renderMap(container, data) {
  const id = `map-${Math.random().toString(36).slice(2, 8)}`;
  const points = [];
  if (data.home) points.push(data.home);
  for (const o of data.options) if (o.location) points.push(o.location);
  for (const x of data.excluded) if (x.location) points.push(x.location);
  const figure = document.createElement("figure");
  figure.className = "map-figure";
  container.append(figure);
  if (points.length === 0) {
    const p = document.createElement("p");
    p.textContent = "No locations to show on a map.";
    figure.append(p);
    return { setRoads: () => {}, bounds: null };
  }
  const proj = projector(points);
  const xy = points.map(proj.xy);
  let minX = Math.min(...xy.map((p) => p[0]));
  let maxX = Math.max(...xy.map((p) => p[0]));
  let minY = Math.min(...xy.map((p) => p[1]));
  let maxY = Math.max(...xy.map((p) => p[1]));
  const aspect = 0.62; // height / width of the map
  // Wide enough for every point across, and tall enough for every point up and down.
  const span = Math.max(maxX - minX, (maxY - minY) / aspect, 400);
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  const home = { w: span * 1.25, cx, cy };
  const view = { ...home };

  const controls = document.createElement("div");
  controls.className = "map-controls";
  controls.setAttribute("role", "group");
  controls.setAttribute("aria-label", "Map controls");
  const status = document.createElement("p");
  status.className = "hint";
  status.id = `${id}-status`;
  status.setAttribute("aria-live", "polite");

  const svg = el("svg", {
    class: "map-svg",
    role: "img",
    "aria-labelledby": `${id}-title ${id}-desc`,
    id,
    focusable: "false",
  });
  const title = el("title", { id: `${id}-title` });
  title.textContent = data.label || "Map";
  const desc = el("desc", { id: `${id}-desc` });
  desc.textContent =
    `The home and ${data.options.length} listed option(s), numbered as in the list, and ` +
    `${data.excluded.length} setting(s) that cannot be named, in grey. The same information ` +
    "is in the tables on this page.";
  svg.append(title, desc);
  const roadLayer = el("g", { class: "roads", "aria-hidden": "true" });
  const markerLayer = el("g", { class: "markers", "aria-hidden": "true" });
  const scaleLayer = el("g", { class: "scale", "aria-hidden": "true" });
  svg.append(roadLayer, markerLayer, scaleLayer);

  function draw() {
    const w = view.w;
    const hgt = w * aspect;
    svg.setAttribute("viewBox", `${view.cx - w / 2} ${view.cy - hgt / 2} ${w} ${hgt}`);
    const r = w / 70;
    markerLayer.replaceChildren();
    for (const x of data.excluded) {
      if (!x.location) continue;
      const [px, py] = proj.xy(x.location);
      const g = el("g", { class: "marker marker--excluded" });
      g.append(
        el("circle", { cx: px, cy: py, r: r * 0.7, fill: "#6f777b", stroke: "#ffffff", "stroke-width": r * 0.15 }),
        el("path", {
          d: `M${px - r * 0.35} ${py - r * 0.35} L${px + r * 0.35} ${py + r * 0.35} M${px - r * 0.35} ${py + r * 0.35} L${px + r * 0.35} ${py - r * 0.35}`,
          stroke: "#ffffff",
          "stroke-width": r * 0.18,
        }),
      );
      markerLayer.append(g);
    }
    // Draw options from last to first so that number 1 ends up on top.
    for (const o of [...data.options].reverse()) {
      if (!o.location) continue;
      const [px, py] = proj.xy(o.location);
      const fill = o.proposed ? "#00703c" : "#1d70b8";
      const g = el("g", { class: o.proposed ? "marker marker--proposed" : "marker marker--option" });
      g.append(el("circle", { cx: px, cy: py, r, fill, stroke: "#0b0c0c", "stroke-width": r * (o.proposed ? 0.3 : 0.12) }));
      const t = el("text", {
        x: px,
        y: py + r * 0.38,
        "text-anchor": "middle",
        "font-size": r * 1.1,
        "font-weight": "700",
        fill: "#ffffff",
        "font-family": "Arial, sans-serif",
      });
      t.textContent = String(o.n);
      g.append(t);
      markerLayer.append(g);
    }
    if (data.home) {
      const [px, py] = proj.xy(data.home);
      const s = r * 1.1;
      const g = el("g", { class: "marker marker--home" });
      g.append(
        el("path", {
          d: `M${px} ${py - s * 1.2} L${px + s} ${py - s * 0.2} L${px + s * 0.7} ${py - s * 0.2} L${px + s * 0.7} ${py + s} L${px - s * 0.7} ${py + s} L${px - s * 0.7} ${py - s * 0.2} L${px - s} ${py - s * 0.2} Z`,
          fill: "#0b0c0c",
          stroke: "#ffdd00",
          "stroke-width": r * 0.15,
        }),
      );
      markerLayer.append(g);
    }
    // Scale bar, bottom left.
    scaleLayer.replaceChildren();
    const len = niceDistance(w / 4);
    const x0 = view.cx - w / 2 + w * 0.03;
    const y0 = view.cy + hgt / 2 - hgt * 0.05;
    scaleLayer.append(
      el("rect", { x: x0 - r * 0.3, y: y0 - r * 1.8, width: len + r * 0.6, height: r * 2.3, fill: "#ffffff", opacity: 0.85 }),
      el("path", { d: `M${x0} ${y0 - r * 0.5} L${x0} ${y0} L${x0 + len} ${y0} L${x0 + len} ${y0 - r * 0.5}`, stroke: "#0b0c0c", "stroke-width": r * 0.15, fill: "none" }),
    );
    const label = el("text", { x: x0 + len / 2, y: y0 - r * 0.6, "text-anchor": "middle", "font-size": r * 0.9, fill: "#0b0c0c", "font-family": "Arial, sans-serif" });
    label.textContent = len >= 1000 ? `${len / 1000} km` : `${len} m`;
    scaleLayer.append(label);
    const km = (v) => (v / 1000).toFixed(v < 10000 ? 1 : 0);
    status.textContent = `Showing an area ${km(w)} km wide by ${km(hgt)} km high.`;
  }

  function button(text, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "button button--secondary";
    b.textContent = text;
    b.setAttribute("aria-controls", id);
    b.addEventListener("click", () => {
      action();
      draw();
    });
    controls.append(b);
    return b;
  }
  button("Zoom in", () => { view.w = Math.max(view.w / 1.5, 100); });
  button("Zoom out", () => { view.w = Math.min(view.w * 1.5, home.w * 20); });
  button("Move north", () => { view.cy -= view.w * aspect * 0.25; });
  button("Move south", () => { view.cy += view.w * aspect * 0.25; });
  button("Move west", () => { view.cx -= view.w * 0.25; });
  button("Move east", () => { view.cx += view.w * 0.25; });
  button("Reset map", () => Object.assign(view, home));

  const caption = document.createElement("figcaption");
  caption.className = "hint";
  caption.textContent = data.caption || "";
  const legend = document.createElement("ul");
  legend.className = "map-legend";
  const key = (svgMarkup, text) => {
    const li = document.createElement("li");
    const icon = el("svg", { width: 18, height: 18, viewBox: "-10 -10 20 20", "aria-hidden": "true", focusable: "false" });
    icon.append(svgMarkup);
    li.append(icon, document.createTextNode(text));
    legend.append(li);
  };
  key(el("path", { d: "M0 -9 L8 -1 L5 -1 L5 8 L-5 8 L-5 -1 L-8 -1 Z", fill: "#0b0c0c" }), "Home");
  key(el("circle", { r: 8, fill: "#00703c", stroke: "#0b0c0c", "stroke-width": 2 }), "Proposed placement");
  key(el("circle", { r: 8, fill: "#1d70b8" }), "Other option, numbered as in the list");
  key(el("circle", { r: 6, fill: "#6f777b" }), "Setting that cannot be named");
  const roadsKey = document.createElement("li");
  roadsKey.textContent = "Roads: not available on this server";
  legend.append(roadsKey);

  figure.append(controls, svg, status, legend, caption);
  draw();

  // Bounds of the initial view in degrees, for asking the server for its roads.
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const dLat = (Math.max(...lats) - Math.min(...lats)) * 0.5 + 0.005;
  const dLon = (Math.max(...lons) - Math.min(...lons)) * 0.5 + 0.005;
  const bounds = {
    south: Math.min(...lats) - dLat,
    north: Math.max(...lats) + dLat,
    west: Math.min(...lons) - dLon,
    east: Math.max(...lons) + dLon,
  };

  function setRoads(geojson) {
    const parts = [];
    const line = (coords) => {
      const pts = coords.map(([lon, lat]) => proj.xy({ lat, lon }));
      if (pts.length > 1) parts.push(`M${pts.map(([x, y]) => `${x.toFixed(1)} ${y.toFixed(1)}`).join(" L")}`);
    };
    for (const f of geojson.features || []) {
      const g = f.geometry || {};
      if (g.type === "LineString") line(g.coordinates);
      else if (g.type === "MultiLineString") g.coordinates.forEach(line);
    }
    roadLayer.replaceChildren(
      el("path", {
        d: parts.join(" "),
        fill: "none",
        stroke: "#b1b4b6",
        "stroke-width": 2,
        "vector-effect": "non-scaling-stroke",
        "stroke-linecap": "round",
        "stroke-linejoin": "round",
      }),
    );
    roadsKey.textContent = `Roads (${parts.length} road segments, © OpenStreetMap contributors)`;
    svg.dataset.roads = String(parts.length);
  }

  return { setRoads, bounds };
}
