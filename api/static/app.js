// sendmatch web page: a small front end on the JSON API, no build step, no external assets.
//
// Views are chosen by the URL's hash (#/runs/3/children/C001). Every view starts with one <h1>,
// which receives focus after navigation so that screen reader users hear where they are. The
// bearer token is kept in sessionStorage: it goes when the tab is closed.

import { barChart } from "./charts.js";
import { makeForecastViews } from "./forecast.js";
import { renderMap } from "./map.js";

const TOKEN_KEY = "sendmatch.token";
const RECENT_KEY = "sendmatch.recent";
const POLL_MS = 600;

const viewRoot = document.getElementById("view");
const announcer = document.getElementById("announcer");
let user = null;
let navigation = null; // AbortController of the current view: stops its polling on navigation
let firstLoad = true; // no view shown yet (redirects while loading are not navigations)

// ---------------------------------------------------------------- small DOM helpers

/** Build an element: h("a", {href: "#/"}, "text", child, ...). Text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function announce(text) {
  announcer.textContent = "";
  window.setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

const pounds = (n) => (typeof n === "number" ? `£${Math.round(n).toLocaleString("en-GB")}` : "–");
const minutes = (n) => (typeof n === "number" ? `${n.toFixed(1)} min` : "–");
const humanise = (s) => (s ? String(s).replaceAll("_", " ") : "–");
const when = (iso) => (iso ? new Date(iso).toLocaleString("en-GB") : "–");

function ordinal(n) {
  const s = ["th", "st", "nd", "rd"];
  const v = n % 100;
  return `${n}${s[(v - 20) % 10] || s[v] || s[0]}`;
}

function preference(rank) {
  return typeof rank === "number" ? `${ordinal(rank)} preference` : "Not a preference";
}

function heading(text, caption) {
  return h("h1", { tabindex: "-1" }, caption ? h("span", { class: "caption" }, caption) : null, text);
}

function table(caption, columns, rows, { numeric = [] } = {}) {
  const wrap = h("div", { class: "table-wrap" });
  const t = h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, c)))),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h(
          "tr",
          {},
          cells.map((c, i) =>
            i === 0 ? h("th", { scope: "row" }, c) : h("td", { class: numeric.includes(i) ? "num" : null }, c),
          ),
        ),
      ),
    ),
  );
  wrap.append(t);
  return wrap;
}

function summaryList(pairs) {
  return h("dl", { class: "summary" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** The GOV.UK error summary: a heading, then each problem linking to the field to fix. */
function errorSummary(items, detail) {
  const box = h(
    "div",
    { class: "error-summary", tabindex: "-1", "aria-labelledby": "error-summary-title" },
    h("div", { role: "alert" },
      h("h2", { id: "error-summary-title" }, "There is a problem"),
      detail ? h("p", {}, detail) : null,
      h("ul", {}, items.map(({ text, href }) => h("li", {}, href ? h("a", { href, onclick: focusTarget }, text) : text))),
    ),
  );
  return box;
}

/** Links in an error summary move focus to their field (hash links would change the view). */
function focusTarget(event) {
  event.preventDefault();
  const id = event.currentTarget.getAttribute("href").slice(1);
  const target = document.getElementById(id);
  if (target) {
    target.scrollIntoView({ block: "center" });
    target.focus();
  }
}

function showErrors(container, items, detail) {
  container.replaceChildren();
  if (!items.length) return;
  const box = errorSummary(items, detail);
  container.append(box);
  box.focus();
  if (!document.title.startsWith("Error: ")) document.title = `Error: ${document.title}`;
}

function clearErrors(container) {
  container.replaceChildren();
  document.title = document.title.replace(/^Error: /, "");
}

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body.detail === "string" ? body.detail : null;
    super(detail || `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Call the API: JSON in and out, or a FormData body; raises ApiError unless 2xx. */
async function api(path, { method = "GET", json, form, signal, raw = false } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  const response = await fetch(path, { method, headers, body, signal });
  if (response.status === 401 && path !== "/auth/token") {
    signOut("Your session has ended. Sign in again.");
    throw new ApiError(401, null);
  }
  if (raw && response.ok) return response;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A failed run's error: its first line, then each problem (file, row, field: reason) listed. */
function runErrorText(error, fallback) {
  const [first, ...problems] = (error || fallback).split("\n").filter((line) => line.trim());
  const lead = h("p", {}, first);
  return problems.length ? [lead, h("ul", {}, problems.map((p) => h("li", {}, p)))] : [lead];
}

function problemText(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  const body = error.body;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  if (error.status === 403) return "Your role does not allow this.";
  if (error.status === 404) return `Not found: ${error.message}`;
  return error.message;
}

function remember(kind, item) {
  const recent = JSON.parse(sessionStorage.getItem(RECENT_KEY) || '{"caseloads":[],"runs":[]}');
  recent[kind] = [item, ...recent[kind].filter((x) => x.id !== item.id)].slice(0, 10);
  sessionStorage.setItem(RECENT_KEY, JSON.stringify(recent));
}

function recent() {
  return JSON.parse(sessionStorage.getItem(RECENT_KEY) || '{"caseloads":[],"runs":[]}');
}

// ---------------------------------------------------------------- session

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  user = null;
  updateHeader();
  const params = message ? `?message=${encodeURIComponent(message)}` : "";
  if (!location.hash.startsWith("#/sign-in")) location.hash = `#/sign-in${params}`;
}

function updateHeader() {
  const nav = document.getElementById("site-nav");
  const who = document.getElementById("signed-in");
  nav.hidden = !user;
  who.hidden = !user;
  who.textContent = user ? `Signed in as ${user.username} (${humanise(user.role)})` : "";
  for (const li of nav.querySelectorAll("[data-role]")) {
    li.hidden = !user || li.dataset.role !== user.role;
  }
  for (const a of nav.querySelectorAll("a")) {
    const here = location.hash.startsWith(a.getAttribute("href"));
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

document.getElementById("sign-out").addEventListener("click", () => signOut("You have signed out."));

// The skip link moves focus to the main content without changing the hash (the view's URL).
document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});

const can = {
  upload: () => user && ["case_officer", "admin"].includes(user.role),
  decide: () => user && ["panel_member", "admin"].includes(user.role),
  audit: () => user && user.role === "admin",
  forecast: () => user && ["planner", "admin"].includes(user.role),
};

// ---------------------------------------------------------------- views

function viewSignIn(params) {
  const errors = h("div");
  const message = params.get("message");
  const username = h("input", { type: "text", id: "username", name: "username", autocomplete: "username", spellcheck: "false", required: true });
  const password = h("input", { type: "password", id: "password", name: "password", autocomplete: "current-password", required: true });
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "form-group" }, h("label", { for: "username" }, "Username"), username),
    h("div", { class: "form-group" }, h("label", { for: "password" }, "Password"), password),
    h("button", { type: "submit", class: "button" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const items = [];
    if (!username.value.trim()) items.push({ text: "Enter your username", href: "#username" });
    if (!password.value) items.push({ text: "Enter your password", href: "#password" });
    if (items.length) return showErrors(errors, items);
    const body = new URLSearchParams({ username: username.value.trim(), password: password.value });
    try {
      const response = await fetch("/auth/token", { method: "POST", body });
      if (!response.ok) {
        password.value = "";
        return showErrors(errors, [{ text: "The username or password is not right", href: "#username" }]);
      }
      sessionStorage.setItem(TOKEN_KEY, (await response.json()).access_token);
      user = await api("/users/me");
      updateHeader();
      location.hash = "#/";
    } catch (error) {
      showErrors(errors, [{ text: problemText(error) }]);
    }
  });
  return [
    errors,
    heading("Sign in"),
    message ? h("div", { class: "notification", role: "status" }, h("p", {}, message)) : null,
    h("p", {}, "Sign in with the account your administrator gave you."),
    form,
  ];
}

function viewHome() {
  const r = recent();
  return [
    heading(`Hello, ${user.username}`, "sendmatch"),
    h("p", { class: "lead" }, "Propose placements for a round of children with EHC plans, see each child's tailored list and record the panel's decisions."),
    h("h2", {}, "What do you want to do?"),
    h(
      "ul",
      {},
      can.upload() ? h("li", {}, h("a", { href: "#/upload" }, "Upload a caseload and start a placement run")) : null,
      h("li", {}, h("a", { href: "#/runs" }, "Open a run and its children")),
      h("li", {}, h("a", { href: "#/scenarios" }, "Compare planning scenarios")),
      h("li", {}, h("a", { href: "#/forecast" }, can.forecast() ? "Forecast demand for places" : "Read a demand forecast")),
      can.audit() ? h("li", {}, h("a", { href: "#/audit" }, "See the audit trail")) : null,
    ),
    r.runs.length ? [h("h2", {}, "Your recent runs"), recentRuns(r.runs)] : null,
  ];
}

const RUN_PAGES = { scenario_compare: "scenarios", forecast: "forecast" };

function recentRuns(runs) {
  return h("ul", {}, runs.map((x) => h("li", {}, h("a", { href: `#/${RUN_PAGES[x.kind] || "runs"}/${x.id}` }, `Run ${x.id}`), ` (${humanise(x.kind)}${x.caseload_id ? `, caseload ${x.caseload_id}` : ""})`)));
}

function fileGroup(id, label, hint, accept) {
  return h(
    "div",
    { class: "form-group", id: `${id}-group` },
    h("label", { for: id }, label),
    h("span", { class: "hint", id: `${id}-hint` }, hint),
    h("span", { class: "error-message", id: `${id}-error`, hidden: true }),
    h("input", { type: "file", id, name: id, accept, "aria-describedby": `${id}-hint` }),
  );
}

function setFieldError(form, id, text) {
  const group = form.querySelector(`#${id}-group`);
  const message = form.querySelector(`#${id}-error`);
  const input = form.querySelector(`#${id}`);
  if (text) {
    group.classList.add("form-group--error");
    message.hidden = false;
    message.textContent = `Error: ${text}`;
    input.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
    input.setAttribute("aria-invalid", "true");
  } else {
    group.classList.remove("form-group--error");
    message.hidden = true;
    message.textContent = "";
    input.setAttribute("aria-describedby", `${id}-hint`);
    input.removeAttribute("aria-invalid");
  }
}

function viewUpload() {
  if (!can.upload()) return forbidden("Upload a caseload");
  const errors = h("div");
  const result = h("div");
  const accept = ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  const form = h(
    "form",
    { novalidate: true },
    fileGroup("children", "Caseload (children)", "One row per child: a .csv or .xlsx file.", accept),
    fileGroup("settings", "Settings", "The settings that could be named: a .csv or .xlsx file.", accept),
    fileGroup("tariffs", "Banding framework (optional)", "Your top-up bands: a .csv or .xlsx file.", accept),
    h(
      "div",
      { class: "form-group" },
      h("label", { for: "year_start" }, "First day of the school year (optional)"),
      h("span", { class: "hint", id: "year_start-hint" }, "Turns dates of birth into year groups. Leave blank for the next 1 September."),
      h("input", { type: "date", id: "year_start", name: "year_start", "aria-describedby": "year_start-hint" }),
    ),
    h("button", { type: "submit", class: "button" }, "Upload and check"),
  );
  const fields = ["children", "settings", "tariffs"];
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.replaceChildren();
    for (const f of fields) setFieldError(form, f, null);
    const items = [];
    for (const [f, what] of [["children", "caseload"], ["settings", "settings"]]) {
      if (!form.querySelector(`#${f}`).files.length) {
        const text = `Select the ${what} file`;
        items.push({ text, href: `#${f}` });
        setFieldError(form, f, text);
      }
    }
    if (items.length) return showErrors(errors, items);
    const data = new FormData();
    for (const f of fields) {
      const input = form.querySelector(`#${f}`);
      if (input.files.length) data.append(f, input.files[0]);
    }
    const year = form.querySelector("#year_start").value;
    if (year) data.append("year_start", year);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    announce("Checking the files…");
    try {
      const caseload = await api("/caseloads", { method: "POST", form: data });
      clearErrors(errors);
      remember("caseloads", { id: caseload.id });
      showUploaded(result, caseload);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && error.body && Array.isArray(error.body.problems)) {
        const names = {};
        for (const f of fields) {
          const input = form.querySelector(`#${f}`);
          if (input.files.length) names[input.files[0].name] = f;
        }
        const perField = {};
        const problems = error.body.problems.map((p) => {
          const field = names[p.file] || "children";
          perField[field] = (perField[field] || 0) + 1;
          const where = [p.file, p.row ? `row ${p.row}` : null, p.field].filter(Boolean).join(", ");
          return { text: `${where}: ${p.message}`, href: `#${field}` };
        });
        for (const [f, n] of Object.entries(perField)) {
          setFieldError(form, f, `${n} problem${n === 1 ? "" : "s"} in this file: see the list above`);
        }
        showErrors(errors, problems, `${error.body.detail}. Fix the files and upload them again.`);
      } else {
        showErrors(errors, [{ text: problemText(error) }]);
      }
    } finally {
      button.disabled = false;
    }
  });
  return [
    errors,
    heading("Upload a caseload"),
    h("p", {}, "The files are checked all at once. If anything is wrong, every problem is listed with its file, row and column, and nothing is stored."),
    result,
    form,
  ];
}

function showUploaded(container, caseload) {
  const start = h("button", { type: "button", class: "button", id: "start-run" }, "Start a placement run");
  const box = h(
    "div",
    { class: "notification notification--success", tabindex: "-1" },
    h("h2", {}, `Caseload ${caseload.id} uploaded`),
    h("p", {}, `${caseload.children} children and ${caseload.settings} settings` + (caseload.tariffs ? ` and ${caseload.tariffs} top-up rates` : "") + ` for the school year starting ${caseload.year_start}. No problems were found.`),
    h("div", { class: "button-group" }, start, h("a", { class: "button button--secondary", href: `#/scenarios?caseload=${caseload.id}` }, "Compare scenarios on it")),
  );
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const run = await api("/runs", { method: "POST", json: { caseload_id: caseload.id } });
      remember("runs", { id: run.id, kind: run.kind, caseload_id: run.caseload_id });
      location.hash = `#/runs/${run.id}`;
    } catch (error) {
      start.disabled = false;
      box.append(h("p", { class: "error-message", role: "alert" }, `Error: ${problemText(error)}`));
    }
  });
  container.replaceChildren(box);
  box.focus();
  announce(`Caseload ${caseload.id} uploaded. No problems were found.`);
}

function forbidden(title) {
  return [heading(title), h("p", {}, `Your role (${humanise(user.role)}) does not allow this.`)];
}

function viewRuns(params) {
  const errors = h("div");
  const r = recent();
  const open = h(
    "form",
    { novalidate: true },
    h("div", { class: "form-group" }, h("label", { for: "run-id" }, "Run number"), h("input", { type: "number", id: "run-id", min: 1, inputmode: "numeric" })),
    h("button", { type: "submit", class: "button button--secondary" }, "Open run"),
  );
  open.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = Number(open.querySelector("#run-id").value);
    if (!Number.isInteger(id) || id < 1) return showErrors(errors, [{ text: "Enter a run number, like 12", href: "#run-id" }]);
    location.hash = `#/runs/${id}`;
  });
  const parts = [errors, heading("Runs")];
  if (can.upload()) {
    const caseloadInput = h("input", { type: "number", id: "caseload-id", min: 1, inputmode: "numeric", value: params.get("caseload") || (r.caseloads[0] ? r.caseloads[0].id : "") });
    const primary = h("input", { type: "number", id: "primary-limit", min: 1, max: 300, value: 45, "aria-describedby": "limit-hint" });
    const secondary = h("input", { type: "number", id: "secondary-limit", min: 1, max: 300, value: 75, "aria-describedby": "limit-hint" });
    const start = h(
      "form",
      { novalidate: true },
      h("div", { class: "form-group" }, h("label", { for: "caseload-id" }, "Caseload number"), caseloadInput),
      h("fieldset", {},
        h("legend", {}, "Journey limits in minutes"),
        h("span", { class: "hint", id: "limit-hint" }, "The DfE's best-practice limits are 45 minutes for primary and 75 for secondary age."),
        h("div", { class: "form-group" }, h("label", { for: "primary-limit" }, "Primary (Reception to Year 6)"), primary),
        h("div", { class: "form-group" }, h("label", { for: "secondary-limit" }, "Secondary (Year 7 up)"), secondary),
      ),
      h("button", { type: "submit", class: "button" }, "Start a placement run"),
    );
    start.addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = Number(caseloadInput.value);
      const items = [];
      if (!Number.isInteger(id) || id < 1) items.push({ text: "Enter the caseload number, like 3", href: "#caseload-id" });
      for (const [input, label] of [[primary, "primary"], [secondary, "secondary"]]) {
        const v = Number(input.value);
        if (!(v > 0 && v <= 300)) items.push({ text: `Enter a ${label} journey limit between 1 and 300 minutes`, href: `#${input.id}` });
      }
      if (items.length) return showErrors(errors, items);
      try {
        const run = await api("/runs", {
          method: "POST",
          json: { caseload_id: id, primary_limit_minutes: Number(primary.value), secondary_limit_minutes: Number(secondary.value) },
        });
        remember("runs", { id: run.id, kind: run.kind, caseload_id: run.caseload_id });
        location.hash = `#/runs/${run.id}`;
      } catch (error) {
        showErrors(errors, [{ text: problemText(error), href: "#caseload-id" }]);
      }
    });
    parts.push(h("h2", {}, "Start a placement run"), start);
  }
  parts.push(h("h2", {}, "Open a run"), open);
  if (r.runs.length) parts.push(h("h2", {}, "Your recent runs"), recentRuns(r.runs));
  return parts;
}

/** Progress of a run: a progress bar and a live status line, polled until the run ends; a cancel
 * button unless the user's role may not cancel it. */
function runProgress(runId, signal, onFinished, { cancellable = true } = {}) {
  const label = h("p", { id: `progress-label-${runId}`, class: "hint" }, "How far the run has got");
  const bar = h("div", { class: "progress-bar" });
  const meter = h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0, "aria-labelledby": `progress-label-${runId}`, id: "run-progress" },
    bar,
  );
  const stage = h("p", { role: "status", "aria-live": "polite", id: "run-stage" }, "Waiting for the run to start…");
  const cancel = h("button", { type: "button", class: "button button--warning", id: "cancel-run" }, "Cancel this run");
  const box = h("div", { class: "run-progress" }, label, meter, stage, cancel);
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`/runs/${runId}/cancel`, { method: "POST" });
      announce("Cancelling the run…");
    } catch (error) {
      cancel.disabled = false;
      stage.textContent = `The run could not be cancelled: ${problemText(error)}`;
    }
  });
  let lastText = "";
  async function poll() {
    if (signal.aborted) return;
    let run;
    try {
      run = await api(`/runs/${runId}`, { signal });
    } catch (error) {
      if (signal.aborted) return;
      stage.textContent = `Could not read the run: ${problemText(error)}`;
      return;
    }
    const pct = Math.round((run.status === "done" ? 1 : run.progress || 0) * 100);
    bar.style.width = `${pct}%`;
    meter.setAttribute("aria-valuenow", pct);
    meter.setAttribute("aria-valuetext", `${pct}%${run.stage ? `: ${run.stage}` : ""}`);
    const text = {
      queued: "Queued: waiting to start.",
      running: `Running${run.stage ? `: ${run.stage}` : ""} (${pct}% done).`,
      done: "Done.",
      failed: "The run failed.",
      cancelled: "The run was cancelled.",
    }[run.status] || run.status;
    if (text !== lastText) {
      stage.textContent = text;
      lastText = text;
    }
    const finished = ["done", "failed", "cancelled"].includes(run.status);
    cancel.hidden = finished || !cancellable;
    if (finished) {
      onFinished(run);
    } else {
      window.setTimeout(poll, POLL_MS);
    }
  }
  poll();
  return box;
}

const SUMMARY_LABELS = {
  children: "Children",
  placed: "Placed",
  unplaced: "Unplaced",
  with_preferences: "Children with parental preferences",
  first_preference_met: "First preference met",
  any_preference_met: "Any preference met",
  mean_minutes: "Mean journey (minutes)",
  max_minutes: "Longest journey (minutes)",
  total_placement_cost: "Placement cost (£ a year)",
  total_transport_cost: "Transport cost (£ a year)",
  out_of_area: "Out-of-area placements",
  independent: "Independent placements",
  travel_model: "Travel-time model",
};

function formatSummaryValue(key, value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    if (key.includes("cost")) return pounds(value);
    if (key.includes("minutes")) return value.toFixed(1);
    if (key.includes("share") || key.includes("pct")) return `${(value * (value <= 1 ? 100 : 1)).toFixed(1)}%`;
    return value.toLocaleString("en-GB");
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function runSummary(summary) {
  const pairs = Object.entries(summary || {})
    .filter(([, v]) => v === null || typeof v !== "object")
    .map(([k, v]) => [SUMMARY_LABELS[k] || humanise(k).replace(/^./, (c) => c.toUpperCase()), formatSummaryValue(k, v)]);
  return summaryList(pairs);
}

async function viewRun(params, signal) {
  const runId = Number(params.get("id"));
  const run = await api(`/runs/${runId}`, { signal });
  remember("runs", { id: run.id, kind: run.kind, caseload_id: run.caseload_id });
  if (RUN_PAGES[run.kind]) {
    location.replace(`#/${RUN_PAGES[run.kind]}/${runId}`);
    return [];
  }
  const results = h("div", { id: "run-results" });
  const progress = runProgress(runId, signal, (finished) => {
    if (finished.status === "done") {
      results.replaceChildren(
        h("h2", {}, "Results"),
        h("div", { class: "button-group" }, h("a", { class: "button", href: `#/runs/${runId}/children`, id: "see-children" }, "See the children in this run")),
        runSummary(finished.summary),
      );
      announce("The run is done. Its results are below.");
    } else if (finished.status === "failed") {
      results.replaceChildren(h("div", { class: "error-summary", role: "alert" }, h("h2", {}, "The run failed"), ...runErrorText(finished.error, "No reason was given.")));
    } else {
      results.replaceChildren(h("p", {}, "This run was cancelled. Start another from the runs page."));
    }
  });
  return [
    heading(`Placement run ${runId}`, `Caseload ${run.caseload_id}`),
    summaryList([
      ["Started by", run.started_by],
      ["Created", when(run.created_at)],
    ]),
    h("h2", {}, "Progress"),
    progress,
    results,
  ];
}

async function viewChildren(params, signal) {
  const runId = Number(params.get("id"));
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const unplaced = params.get("unplaced") === "1";
  const limit = 50;
  const query = new URLSearchParams({ offset, limit, unplaced_only: unplaced });
  const children = await api(`/runs/${runId}/children?${query}`, { signal });
  const link = (o, u) => `#/runs/${runId}/children?offset=${o}${u ? "&unplaced=1" : ""}`;
  const filter = h(
    "form",
    { class: "form-group" },
    h("div", { class: "checkbox" }, h("input", { type: "checkbox", id: "unplaced-only", checked: unplaced }), h("label", { for: "unplaced-only" }, "Only children without a placement")),
    h("button", { type: "submit", class: "button button--secondary" }, "Apply"),
  );
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = link(0, filter.querySelector("#unplaced-only").checked);
  });
  const find = h(
    "form",
    {},
    h("div", { class: "form-group" }, h("label", { for: "child-id" }, "Child id"), h("input", { type: "text", id: "child-id", spellcheck: "false" })),
    h("button", { type: "submit", class: "button button--secondary" }, "Open child"),
  );
  find.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = find.querySelector("#child-id").value.trim();
    if (id) location.hash = `#/runs/${runId}/children/${encodeURIComponent(id)}`;
  });
  const rows = children.map((c) => [
    h("a", { href: `#/runs/${runId}/children/${encodeURIComponent(c.child_id)}` }, c.child_id),
    c.setting_name ? `${c.setting_name} (${c.setting_urn})` : h("span", { class: "tag tag--red" }, "Unplaced"),
    humanise(c.placement_kind),
    preference(c.preference_rank),
    minutes(c.travel_minutes),
  ]);
  const pager = h(
    "nav",
    { class: "pagination", "aria-label": "Pages of children" },
    offset > 0 ? h("a", { href: link(Math.max(0, offset - limit), unplaced) }, "Previous page") : null,
    h("span", {}, children.length ? `Children ${offset + 1} to ${offset + children.length}` : "No children on this page"),
    children.length === limit ? h("a", { href: link(offset + limit, unplaced) }, "Next page") : null,
  );
  return [
    heading("Children in this run", `Placement run ${runId}`),
    h("p", {}, "Opening a child's record is recorded in the audit trail."),
    filter,
    table("Children and their proposed placements", ["Child", "Proposed setting", "Kind of place", "Preference", "Journey"], rows, { numeric: [4] }),
    pager,
    h("h2", {}, "Open a child by id"),
    find,
  ];
}

async function viewChild(params, signal) {
  const runId = Number(params.get("id"));
  const childId = params.get("child");
  const child = await api(`/runs/${runId}/children/${encodeURIComponent(childId)}`, { signal });
  const list = child.tailored_list;
  const options = list ? list.options : [];
  const parts = [
    h("p", {}, h("a", { href: `#/runs/${runId}/children` }, "Back to the children in this run")),
    heading(`Child ${child.child_id}`, `Placement run ${runId}`),
    h("h2", {}, "Proposed placement"),
    summaryList([
      ["Setting", child.setting_name ? `${child.setting_name} (URN ${child.setting_urn})` : "No placement proposed"],
      ["Kind of place", humanise(child.placement_kind) + (child.provision ? ` (${humanise(child.provision)})` : "")],
      ["Parental preference", preference(child.preference_rank)],
      ["Journey", minutes(child.travel_minutes)],
      ["Placement cost", `${pounds(child.placement_cost)} a year`],
      ["Transport cost", `${pounds(child.transport_cost)} a year`],
      ["Out of area", child.out_of_area ? "Yes" : "No"],
      ["Why", child.reason],
    ]),
  ];
  if (list) {
    parts.push(h("h2", {}, "Map"));
    const mapBox = h("div", { id: "child-map" });
    parts.push(mapBox);
    parts.push(
      h("h2", {}, "Tailored list"),
      h("p", {}, "The settings that suit this child, cheapest to the LA-wide plan first. Numbers match the map."),
      table(
        "Options for this child",
        ["Setting", "Number on map", "Kind of place", "Needs met", "Journey", "Places left", "Placement cost a year", "Transport cost a year", "Preference", "Effect on the LA-wide plan", "Why listed"],
        options.map((o, i) => [
          [o.name, h("br"), h("span", { class: "hint" }, `URN ${o.urn}`), o.proposed ? [" ", h("strong", { class: "tag" }, "Proposed")] : null],
          String(i + 1),
          humanise(o.placement_kind) + (o.provision ? ` (${humanise(o.provision)})` : ""),
          o.needs_matched.length ? o.needs_matched.join(", ") : "–",
          minutes(o.minutes),
          String(o.places_left),
          pounds(o.placement_cost),
          pounds(o.transport_cost),
          preference(o.preference_rank),
          o.marginal_text,
          o.why_listed,
        ]),
        { numeric: [4, 5, 6, 7] },
      ),
      h("h2", {}, "Settings that cannot be named"),
      list.excluded.length
        ? table(
            "Settings within reach that cannot be named, and why",
            ["Setting", "Type", "Journey", "Preference", "Reasons"],
            list.excluded.map((x) => [
              [x.name, h("br"), h("span", { class: "hint" }, `URN ${x.urn}`)],
              humanise(x.setting_type),
              minutes(x.minutes),
              preference(x.preference_rank),
              h("ul", {}, x.reasons.map((reason) => h("li", {}, reason))),
            ]),
            { numeric: [2] },
          )
        : h("p", {}, "None."),
      list.excluded_not_shown
        ? h("p", {}, `${list.excluded_not_shown} more setting(s) are not shown: `, list.excluded_not_shown_reasons.map((r) => `${r.reason} (${r.count})`).join("; "), ".")
        : null,
      h("h2", {}, "Parental preferences"),
      list.preferences.length
        ? table(
            "Parental preferences and the section 39 grounds",
            ["Rank", "Setting", "Met", "Ground (Children and Families Act 2014, s.39)", "Evidence"],
            list.preferences.map((p) => [ordinal(p.rank), `${p.name} (URN ${p.urn})`, p.met ? "Yes" : "No", p.ground, p.evidence]),
          )
        : h("p", {}, "The parents stated no preference."),
    );
    // Drawn once the container is in the document (after this view is attached).
    queueMicrotask(() => drawChildMap(mapBox, child, signal));
  } else {
    parts.push(h("div", { class: "inset" }, h("p", {}, "This run has no tailored list for this child.")));
  }
  parts.push(decisionSection(runId, child, options, list ? list.preferences : [], signal));
  return parts;
}

async function drawChildMap(container, child, signal) {
  const list = child.tailored_list;
  const map = renderMap(container, {
    label: `Map of child ${child.child_id}'s home and options`,
    caption: "Positions are drawn to scale. Journey times are by road, as in the tables.",
    home: list.home,
    options: list.options.map((o, i) => ({ n: i + 1, name: o.name, location: o.location, proposed: o.proposed })),
    excluded: list.excluded,
  });
  if (!map.bounds) return;
  const q = new URLSearchParams(Object.entries(map.bounds).map(([k, v]) => [k, v.toFixed(5)]));
  try {
    const response = await fetch(`/network/roads?${q}`, { headers: { Authorization: `Bearer ${token()}` }, signal });
    if (response.ok) map.setRoads(await response.json());
  } catch {
    // No roads: the plain map stands on its own.
  }
}

function decisionSection(runId, child, options, preferences, signal) {
  const section = h("section", { "aria-labelledby": "decision-heading" });
  const history = h("div", { id: "decision-history" });
  const errors = h("div");
  const done = h("div", { role: "status" });
  section.append(h("h2", { id: "decision-heading" }, "Panel decision"), errors, done);
  if (can.decide()) {
    const listed = new Set(options.map((o) => o.urn));
    const select = h(
      "select",
      { id: "decision-setting", name: "setting", "aria-describedby": "decision-setting-hint" },
      h("optgroup", { label: "Tailored list" }, options.map((o, i) => h("option", { value: o.urn, selected: o.proposed }, `${i + 1}. ${o.name} (URN ${o.urn})${o.proposed ? ", proposed" : ""}`))),
    );
    const others = preferences.filter((p) => !listed.has(p.urn));
    if (others.length) {
      select.append(h("optgroup", { label: "Parental preferences not on the list" }, others.map((p) => h("option", { value: p.urn }, `${p.name} (URN ${p.urn})`))));
    }
    if (!options.length && child.setting_urn) {
      select.append(h("option", { value: child.setting_urn, selected: true }, `${child.setting_name} (URN ${child.setting_urn}), proposed`));
    }
    select.append(h("option", { value: "" }, "None: name no setting"));
    const reasons = h("textarea", { id: "decision-reasons", name: "reasons", rows: 5, "aria-describedby": "decision-reasons-hint" });
    const form = h(
      "form",
      { novalidate: true },
      h("div", { class: "form-group", id: "decision-setting-group" },
        h("label", { for: "decision-setting" }, "Setting named by the panel"),
        h("span", { class: "hint", id: "decision-setting-hint" }, "Numbers are those on the list and the map."),
        select,
      ),
      h("div", { class: "form-group", id: "decision-reasons-group" },
        h("label", { for: "decision-reasons" }, "Reasons for the decision"),
        h("span", { class: "hint", id: "decision-reasons-hint" }, "These are kept in the record with your name and cannot be changed later. Do not write the child's name."),
        reasons,
      ),
      h("button", { type: "submit", class: "button" }, "Record the decision"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      done.replaceChildren();
      if (!reasons.value.trim()) {
        reasons.setAttribute("aria-invalid", "true");
        return showErrors(errors, [{ text: "Enter the reasons for the decision", href: "#decision-reasons" }]);
      }
      reasons.removeAttribute("aria-invalid");
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        await api(`/runs/${runId}/decisions`, {
          method: "POST",
          json: { child_id: child.child_id, setting_urn: select.value || null, reasons: reasons.value.trim() },
        });
        clearErrors(errors);
        reasons.value = "";
        done.replaceChildren(h("div", { class: "notification notification--success" }, h("p", {}, "The decision has been recorded. It is at the end of the history below.")));
        await loadHistory(runId, child.child_id, history, signal);
      } catch (error) {
        showErrors(errors, [{ text: problemText(error), href: "#decision-setting" }]);
      } finally {
        button.disabled = false;
      }
    });
    section.append(form);
  } else {
    section.append(h("p", {}, "Only panel members record decisions."));
  }
  section.append(h("h3", { id: "history-heading" }, "Decision history"), history);
  loadHistory(runId, child.child_id, history, signal);
  return section;
}

async function loadHistory(runId, childId, container, signal) {
  try {
    const decisions = await api(`/runs/${runId}/decisions?child_id=${encodeURIComponent(childId)}`, { signal });
    container.replaceChildren(decisionTable(decisions, "Decisions for this child, oldest first; the last is in force", false));
  } catch (error) {
    if (!signal.aborted) container.replaceChildren(h("p", {}, `The history could not be read: ${problemText(error)}`));
  }
}

function decisionTable(decisions, caption, withChild) {
  if (!decisions.length) return h("p", {}, "No decisions have been recorded.");
  return table(
    caption,
    ["When", "Decided by", ...(withChild ? ["Child"] : []), "Setting named", "Reasons"],
    decisions.map((d) => [when(d.created_at), d.decided_by, ...(withChild ? [d.child_id] : []), d.setting_urn ? `URN ${d.setting_urn}` : "None", d.reasons]),
  );
}

async function viewAudit(params, signal) {
  if (!can.audit()) return forbidden("Audit trail");
  const runId = params.get("run") || "";
  const childId = params.get("child") || "";
  const errors = h("div");
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "form-group" }, h("label", { for: "audit-run" }, "Run number (optional)"), h("span", { class: "hint", id: "audit-run-hint" }, "Give a run number to see its panel decisions too."), h("input", { type: "number", id: "audit-run", min: 1, value: runId, "aria-describedby": "audit-run-hint" })),
    h("div", { class: "form-group" }, h("label", { for: "audit-child" }, "Child id (optional)"), h("input", { type: "text", id: "audit-child", value: childId, spellcheck: "false" })),
    h("button", { type: "submit", class: "button button--secondary" }, "Show"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    const r = form.querySelector("#audit-run").value.trim();
    const c = form.querySelector("#audit-child").value.trim();
    if (r && !(Number.isInteger(Number(r)) && Number(r) > 0)) return showErrors(errors, [{ text: "Enter a run number, like 12", href: "#audit-run" }]);
    if (r) q.set("run", r);
    if (c) q.set("child", c);
    location.hash = `#/audit?${q}`;
  });
  const query = new URLSearchParams({ limit: 1000 });
  if (runId) query.set("run_id", runId);
  if (childId) query.set("child_id", childId);
  const reads = await api(`/audit/reads?${query}`, { signal });
  const parts = [
    errors,
    heading("Audit trail"),
    h("p", {}, "Who opened which child's record, and what the panel decided."),
    form,
    h("h2", {}, "Records opened"),
    reads.length
      ? table("Reads of children's records, oldest first", ["When", "Who", "Run", "Child"], reads.map((r) => [when(r.at), r.username, String(r.run_id), r.child_id]))
      : h("p", {}, "No records have been opened."),
  ];
  if (runId) {
    const q = childId ? `?child_id=${encodeURIComponent(childId)}` : "";
    let decisions;
    try {
      decisions = decisionTable(await api(`/runs/${runId}/decisions${q}`, { signal }), `Panel decisions in run ${runId}, oldest first`, true);
    } catch (error) {
      decisions = h("p", {}, `The decisions could not be read: ${problemText(error)}`);
    }
    parts.push(h("h2", {}, "Panel decisions"), decisions);
  } else {
    parts.push(h("h2", {}, "Panel decisions"), h("p", {}, "Give a run number above to see its decisions."));
  }
  return parts;
}

function viewScenarioForm(params) {
  const errors = h("div");
  const r = recent();
  const caseloadInput = h("input", { type: "number", id: "scenario-caseload", min: 1, value: params.get("caseload") || (r.caseloads[0] ? r.caseloads[0].id : "") });
  const filesInput = h("input", { type: "file", id: "scenario-files", multiple: true, accept: ".yaml,.yml,.json", "aria-describedby": "scenario-files-hint" });
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "form-group" }, h("label", { for: "scenario-caseload" }, "Caseload number"), caseloadInput),
    h("div", { class: "form-group", id: "scenario-files-group" },
      h("label", { for: "scenario-files" }, "Scenario files"),
      h("span", { class: "hint", id: "scenario-files-hint" }, "One or more .yaml or .json files, each a scenario: new settings, more places, closures or demand growth."),
      filesInput,
    ),
    h("button", { type: "submit", class: "button" }, "Compare with the base"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const items = [];
    const id = Number(caseloadInput.value);
    if (!Number.isInteger(id) || id < 1) items.push({ text: "Enter the caseload number, like 3", href: "#scenario-caseload" });
    if (!filesInput.files.length) items.push({ text: "Select at least one scenario file", href: "#scenario-files" });
    if (items.length) return showErrors(errors, items);
    const data = new FormData();
    data.append("caseload_id", String(id));
    for (const f of filesInput.files) data.append("scenarios", f);
    try {
      const run = await api("/runs/scenario-compare", { method: "POST", form: data });
      remember("runs", { id: run.id, kind: run.kind, caseload_id: run.caseload_id });
      location.hash = `#/scenarios/${run.id}`;
    } catch (error) {
      const problems = error instanceof ApiError && error.body && Array.isArray(error.body.problems) ? error.body.problems : null;
      if (problems) {
        showErrors(errors, problems.map((p) => ({ text: [p.file, p.row ? `row ${p.row}` : null, p.field].filter(Boolean).join(", ") + `: ${p.message}`, href: "#scenario-files" })), error.body.detail);
      } else {
        showErrors(errors, [{ text: problemText(error), href: "#scenario-files" }]);
      }
    }
  });
  return [
    errors,
    heading("Compare scenarios"),
    h("p", {}, "Place the same caseload under each scenario and compare it with the base: children placed, journeys, out-of-area and independent placements, and cost."),
    form,
  ];
}

async function viewScenario(params, signal) {
  const runId = Number(params.get("id"));
  const run = await api(`/runs/${runId}`, { signal });
  const results = h("div", { id: "comparison" });
  const progress = runProgress(runId, signal, async (finished) => {
    if (finished.status !== "done") {
      results.replaceChildren(...(finished.status === "failed" ? runErrorText(`The comparison failed: ${finished.error || "no reason given"}`) : [h("p", {}, "The comparison was cancelled.")]));
      return;
    }
    try {
      const comparison = await api(`/runs/${runId}/comparison`, { signal });
      renderComparison(results, runId, comparison, signal);
      announce("The comparison is ready below.");
    } catch (error) {
      if (!signal.aborted) results.replaceChildren(h("p", {}, `The comparison could not be read: ${problemText(error)}`));
    }
  });
  return [heading(`Scenario comparison ${runId}`, `Caseload ${run.caseload_id}`), h("h2", {}, "Progress"), progress, results];
}

function formatUnit(unit) {
  return (v) => {
    if (typeof v !== "number") return "–";
    if (unit === "pounds") return pounds(v);
    if (unit === "minutes") return v.toFixed(1);
    return v.toLocaleString("en-GB");
  };
}

function signed(format) {
  return (v) => (typeof v === "number" && v > 0 ? `+${format(v)}` : format(v));
}

/** The metrics drawn as charts: what planners compare first. */
const CHARTED = ["placed", "mean_minutes", "out_of_area", "independent", "total_cost"];

function renderComparison(container, runId, comparison, signal) {
  const columns = comparison.scenarios;
  const changed = columns.filter((c) => !c.base);
  const out = [
    h("h2", {}, "Side by side"),
    h("p", {}, "The base is the caseload as uploaded; each scenario is the base with its edits. A change is the scenario minus the base."),
    table(
      "The base and each scenario",
      ["Measure", ...columns.map((c) => c.name), ...changed.map((c) => `${c.name}: change against the base`)],
      [
        ...comparison.metrics.map((m) => {
          const f = formatUnit(m.unit);
          return [m.label, ...columns.map((c) => f(c.figures[m.key])), ...changed.map((c) => signed(f)(c.change ? c.change[m.key] : null))];
        }),
        ["Travel-time model", ...columns.map((c) => c.travel_model), ...changed.map(() => "")],
      ],
      { numeric: [...columns.keys(), ...changed.keys()].map((_, i) => i + 1) },
    ),
  ];
  const needs = [...new Set(columns.flatMap((c) => c.unplaced_by_need.map((n) => n.need)))].sort();
  if (needs.length) {
    const count = (list, need) => {
      const found = (list || []).find((n) => n.need === need);
      return found ? found.count : 0;
    };
    const description = (need) => columns.flatMap((c) => c.unplaced_by_need).find((n) => n.need === need).description;
    out.push(
      h("h2", {}, "Unplaced children by primary need"),
      table(
        "Children left unplaced, by primary need",
        ["Primary need", ...columns.map((c) => c.name), ...changed.map((c) => `${c.name}: change`)],
        needs.map((need) => [`${description(need)} (${need})`, ...columns.map((c) => String(count(c.unplaced_by_need, need))), ...changed.map((c) => signed(String)(count(c.unplaced_by_need_change, need)))]),
        { numeric: [...columns.keys(), ...changed.keys()].map((_, i) => i + 1) },
      ),
    );
  }
  const charts = h("div", { class: "charts" });
  for (const key of CHARTED) {
    const metric = comparison.metrics.find((m) => m.key === key);
    if (!metric) continue;
    charts.append(barChart(metric.label, columns.map((c) => ({ label: c.name, value: c.figures[key] })), formatUnit(metric.unit)));
  }
  out.push(h("h2", {}, "Charts"), h("p", { class: "hint" }, "Each chart shows one measure for the base and each scenario. The figures are in the table above."), charts);

  out.push(h("h2", {}, "New sites"));
  const mapBox = h("div", { id: "comparison-map" });
  if (comparison.sites.length) {
    out.push(
      table(
        "Settings the scenarios add",
        ["Setting", "Scenario", "Type", "Places", "Designated needs", "Children placed there"],
        comparison.sites.map((x) => [`${x.name} (URN ${x.urn})`, x.scenario, humanise(x.setting_type), String(x.total_places), x.designated_needs.join(", ") || "–", String(x.children_placed)]),
        { numeric: [3, 5] },
      ),
    );
    const select = h("select", { id: "map-site" }, comparison.sites.map((x, i) => h("option", { value: String(i) }, `${x.name} (URN ${x.urn}) in ${x.scenario}`)));
    const show = h("button", { type: "button", class: "button button--secondary" }, "Show the map");
    const siteOf = () => comparison.sites[Number(select.value)];
    show.addEventListener("click", () => loadComparisonMap(mapBox, runId, siteOf(), signal));
    out.push(
      h("h3", {}, "Map of a new site"),
      h("div", { class: "form-group" }, h("label", { for: "map-site" }, "Site to map"), select),
      show,
      mapBox,
    );
    queueMicrotask(() => loadComparisonMap(mapBox, runId, siteOf(), signal));
  } else {
    out.push(h("p", {}, "The scenarios add no new settings, so there is no site to map."));
  }
  container.replaceChildren(...out);
}

async function loadComparisonMap(container, runId, site, signal) {
  const q = new URLSearchParams({ site: site.urn, scenario: site.scenario });
  container.replaceChildren(h("p", { role: "status" }, "Drawing the map…"));
  try {
    // The map needs the bearer token, which an <iframe src> cannot send: fetch it, then show it
    // in a sandboxed frame (its scripts run, but it cannot reach this page or its token).
    const response = await api(`/runs/${runId}/comparison/map?${q}`, { signal, raw: true });
    const html = await response.text();
    const frame = h("iframe", {
      class: "map-iframe",
      id: "site-map",
      title: `Map of ${site.name} (URN ${site.urn}) in ${site.scenario}: the children placed there, counted per area, and drive-time bands`,
      sandbox: "allow-scripts",
    });
    frame.srcdoc = html;
    container.replaceChildren(frame);
  } catch (error) {
    if (!signal.aborted) container.replaceChildren(h("p", {}, `No map: ${problemText(error)}`));
  }
}

// ---------------------------------------------------------------- forecasts (forecast.js)

const forecast = makeForecastViews({
  h,
  api,
  ApiError,
  heading,
  table,
  summaryList,
  showErrors,
  clearErrors,
  setFieldError,
  problemText,
  runProgress,
  runErrorText,
  announce,
  remember,
  recent,
  humanise,
  when,
  canForecast: () => can.forecast(),
  role: () => (user ? user.role : ""),
});

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^\/sign-in$/, viewSignIn, { public: true }],
  [/^\/?$/, viewHome],
  [/^\/upload$/, viewUpload],
  [/^\/runs$/, viewRuns],
  [/^\/runs\/(?<id>\d+)$/, viewRun],
  [/^\/runs\/(?<id>\d+)\/children$/, viewChildren],
  [/^\/runs\/(?<id>\d+)\/children\/(?<child>[^/]+)$/, viewChild],
  [/^\/audit$/, viewAudit],
  [/^\/scenarios$/, viewScenarioForm],
  [/^\/scenarios\/(?<id>\d+)$/, viewScenario],
  [/^\/forecast$/, forecast.viewForecastForm],
  [/^\/forecast\/(?<id>\d+)$/, forecast.viewForecast],
];

async function route() {
  if (navigation) navigation.abort();
  navigation = new AbortController();
  const signal = navigation.signal;
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  const params = new URLSearchParams(query);
  let match = null;
  let view = null;
  let options = {};
  for (const [pattern, fn, opts] of ROUTES) {
    match = pattern.exec(path);
    if (match) {
      view = fn;
      options = opts || {};
      break;
    }
  }
  if (!options.public && !user) {
    if (token()) {
      try {
        user = await api("/users/me");
      } catch {
        return;
      }
    } else {
      location.replace("#/sign-in");
      return;
    }
  }
  updateHeader();
  if (match && match.groups) {
    for (const [k, v] of Object.entries(match.groups)) params.set(k, decodeURIComponent(v));
  }
  viewRoot.setAttribute("aria-busy", "true");
  let nodes;
  try {
    nodes = view ? await view(params, signal) : [heading("Page not found"), h("p", {}, h("a", { href: "#/" }, "Go to the start page"))];
  } catch (error) {
    if (signal.aborted) return;
    if (error instanceof ApiError && error.status === 401) return;
    nodes = [heading("Sorry, this could not be shown"), h("div", { class: "error-summary", role: "alert" }, h("p", {}, problemText(error))), h("p", {}, h("a", { href: "#/" }, "Go to the start page"))];
  }
  if (signal.aborted) return;
  viewRoot.replaceChildren(...[nodes].flat(Infinity).filter(Boolean));
  viewRoot.removeAttribute("aria-busy");
  const h1 = viewRoot.querySelector("h1");
  document.title = `${h1 ? h1.lastChild.textContent : "sendmatch"} – sendmatch`;
  // After a navigation, focus goes to the new view's heading, so a screen reader reads where
  // the user now is. Not on the first load: there the skip link stays the first Tab stop.
  if (h1 && !firstLoad) h1.focus();
  firstLoad = false;
  window.scrollTo(0, 0);
  markScrollable();
}

/** A table wider than the screen scrolls sideways: its box is then a named region that
 * keyboard users can reach (Tab) and scroll (arrow keys). */
function markScrollable() {
  for (const wrap of viewRoot.querySelectorAll(".table-wrap")) {
    const caption = wrap.querySelector("caption");
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", `${caption ? caption.textContent : "Table"} (scrolls sideways)`);
    } else {
      for (const a of ["tabindex", "role", "aria-label"]) wrap.removeAttribute(a);
    }
  }
}

window.addEventListener("resize", markScrollable);
new MutationObserver(() => markScrollable()).observe(viewRoot, { childList: true, subtree: true });

window.addEventListener("hashchange", route);
route();
