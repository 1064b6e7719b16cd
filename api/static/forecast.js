// The planner's forecast views: start a demand forecast from yearly caseload files (or
// witan.send's), watch it run, then read its totals with their 95% intervals, the back-test and
// demand against places, and download its spreadsheet and witan.send's CSV files. The page's
// own helpers (h, api, table, ...) come from app.js, so this file adds views, not another way
// of drawing them.

import { bandChart, demandPlacesChart } from "./charts.js";

const TABLES = ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const ASSUMPTIONS = ".yaml,.yml,.json,application/json,application/yaml";
const MAX_SIMULATIONS = 2000;

/** NC years as schools say them: N1, N2, Reception, Year 1 … Year 20. */
function ncYear(value) {
  const n = Number(value);
  if (n === -2) return "N1";
  if (n === -1) return "N2";
  if (n === 0) return "Reception";
  return `Year ${n}`;
}

const count = (n) => (typeof n === "number" ? Math.round(n).toLocaleString("en-GB") : "–");
const interval = (low, high, format = count) => `${format(low)} to ${format(high)}`;
const percent = (n) => (typeof n === "number" ? `${n.toFixed(1)}%` : "–");
const millions = (n) => (typeof n === "number" ? `£${(n / 1e6).toFixed(2)}m` : "–");

export function makeForecastViews(ui) {
  const { h, api, ApiError, heading, table, summaryList, showErrors, clearErrors, setFieldError } = ui;

  function kind(value) {
    if (value === "post16") return "post-16";
    return ui.humanise(value);
  }

  function inputGroup(id, label, hint, input) {
    input.setAttribute("id", id);
    input.setAttribute("aria-describedby", `${id}-hint`);
    return h(
      "div",
      { class: "form-group", id: `${id}-group` },
      h("label", { for: id }, label),
      h("span", { class: "hint", id: `${id}-hint` }, hint),
      h("span", { class: "error-message", id: `${id}-error`, hidden: true }),
      input,
    );
  }

  function fileInput(multiple = false, accept = TABLES) {
    return h("input", { type: "file", accept, multiple });
  }

  // Which input a problem belongs to: by the file's name, or by the form field's.
  const FIELD_INPUTS = {
    history: "forecast-history",
    transitions: "forecast-transitions",
    valid_states: "forecast-valid-states",
    years: "forecast-years",
    caseload_id: "forecast-caseload",
    simulations: "forecast-simulations",
    seed: "forecast-seed",
  };

  /** An input's error beside it; an input in a closed <details> is shown, so its link works. */
  function markInput(form, id, text) {
    setFieldError(form, id, text);
    const details = form.querySelector(`#${id}`).closest("details");
    if (text && details) details.open = true;
  }

  function viewForecastForm(params) {
    const errors = h("div");
    const parts = [errors, heading("Forecast demand"), h("p", { class: "lead" }, "Project how many children and young people with an EHC plan you will have each January, by primary need, kind of place and NC year, with the range 19 in 20 simulated futures fall in.")];
    const open = openForm();
    if (!ui.canForecast()) {
      parts.push(h("p", {}, `Planners and administrators start forecasts. Your role (${ui.humanise(ui.role())}) can read them: open one by its run number.`), open);
      return parts;
    }
    const r = ui.recent();
    const inputs = {
      history: fileInput(true),
      transitions: fileInput(),
      validStates: fileInput(),
      population: fileInput(),
      costs: fileInput(),
      assumptions: fileInput(false, ASSUMPTIONS),
      years: h("input", { type: "text", name: "years", spellcheck: "false", value: params.get("years") || "" }),
      simulations: h("input", { type: "number", name: "simulations", min: 1, max: MAX_SIMULATIONS, value: 1000, inputmode: "numeric" }),
      seed: h("input", { type: "number", name: "seed", min: 0, value: 42, inputmode: "numeric" }),
      caseload: h("input", { type: "number", name: "caseload_id", min: 1, inputmode: "numeric", value: params.get("caseload") || "" }),
    };
    const form = h(
      "form",
      { novalidate: true },
      inputGroup("forecast-history", "Yearly caseload files", "One .csv or .xlsx file per January (the SEN2 census or your caseload export), at least two years running: child_id, nc_year, primary_need and kind_of_place. Name each file by its year, like 2024.csv. Select them all at once.", inputs.history),
      h(
        "details",
        {},
        h("summary", {}, "Using witan.send's files instead"),
        inputGroup("forecast-transitions", "Transitions file (instead of yearly files)", "witan.send's transitions.csv, as it is.", inputs.transitions),
        inputGroup("forecast-valid-states", "Valid states (optional)", "witan.send's valid-states.csv: the NC years and needs each setting takes.", inputs.validStates),
      ),
      inputGroup("forecast-population", "General population", "calendar-year, academic-year and population for every year of your files and of the forecast (ONS estimates and projections).", inputs.population),
      inputGroup("forecast-costs", "Costs (optional)", "need, setting and cost: the annual cost of a child by need and kind of place; a blank need prices the kind of place for every need.", inputs.costs),
      inputGroup("forecast-assumptions", "Assumptions file (optional)", "A .yaml or .json file of what you know the past does not show: more joiners of a need, a shift between kinds of place, a new school's places, population growth as a rate (like rate: 0.005). Needs, kinds of place and years must be the forecast's. At most 1 MB.", inputs.assumptions),
      inputGroup("forecast-years", "Januaries to project", "The first and last, like 2026-2032. The projection starts from the last January in your files.", inputs.years),
      inputGroup("forecast-caseload", "Caseload to compare with its places (optional)", "A caseload's number: projected demand is set against the places in its settings file, year by year.", inputs.caseload),
      h(
        "details",
        {},
        h("summary", {}, "Simulations and seed"),
        inputGroup("forecast-simulations", "Simulated futures", `Between 1 and ${MAX_SIMULATIONS.toLocaleString("en-GB")}. More make the 95% intervals steadier and take longer.`, inputs.simulations),
        inputGroup("forecast-seed", "Random seed", "The same files, simulations and seed give the same forecast.", inputs.seed),
      ),
      h("button", { type: "submit", class: "button" }, "Check the files and start the forecast"),
    );
    const ids = Object.values(FIELD_INPUTS).concat(["forecast-population", "forecast-costs", "forecast-assumptions"]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      for (const id of ids) setFieldError(form, id, null);
      const items = [];
      const problem = (id, text) => {
        items.push({ text, href: `#${id}` });
        markInput(form, id, text);
      };
      const history = inputs.history.files.length;
      const transitions = inputs.transitions.files.length;
      if (!history && !transitions) problem("forecast-history", "Select the yearly caseload files (or witan.send's transitions file)");
      if (history && transitions) problem("forecast-history", "Give the yearly caseload files or the transitions file, not both");
      if (!inputs.population.files.length) problem("forecast-population", "Select the general population file");
      if (!/^\s*\d{4}(\s*[-–]\s*\d{4})?\s*$/.test(inputs.years.value)) problem("forecast-years", "Enter the Januaries to project, like 2026-2032");
      const sims = Number(inputs.simulations.value);
      if (!(Number.isInteger(sims) && sims >= 1 && sims <= MAX_SIMULATIONS)) problem("forecast-simulations", `Enter a whole number of simulated futures from 1 to ${MAX_SIMULATIONS.toLocaleString("en-GB")}`);
      const seed = Number(inputs.seed.value);
      if (!(Number.isInteger(seed) && seed >= 0)) problem("forecast-seed", "Enter a whole number of 0 or more as the seed");
      const caseload = inputs.caseload.value.trim();
      if (caseload && !(Number.isInteger(Number(caseload)) && Number(caseload) >= 1)) problem("forecast-caseload", "Enter a caseload number, like 3, or leave it blank");
      if (items.length) return showErrors(errors, items);

      const data = new FormData();
      for (const f of inputs.history.files) data.append("history", f);
      for (const [field, input] of [["transitions", inputs.transitions], ["valid_states", inputs.validStates], ["population", inputs.population], ["costs", inputs.costs], ["assumptions", inputs.assumptions]]) {
        if (input.files.length) data.append(field, input.files[0]);
      }
      data.append("years", inputs.years.value.trim());
      data.append("simulations", String(sims));
      data.append("seed", String(seed));
      if (caseload) data.append("caseload_id", caseload);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      ui.announce("Checking the files…");
      try {
        const run = await api("/runs/forecast", { method: "POST", form: data });
        clearErrors(errors);
        ui.remember("runs", { id: run.id, kind: run.kind, caseload_id: run.caseload_id });
        location.hash = `#/forecast/${run.id}`;
      } catch (error) {
        showUploadProblems(form, errors, inputs, error);
      } finally {
        button.disabled = false;
      }
    });
    parts.push(
      h("p", {}, "The files are checked all at once. If anything is wrong, every problem is listed with its file, row and column, and nothing is stored. Your yearly files are kept with the forecast and never shown again; the forecast itself holds counts only."),
      form,
      h("h2", {}, "Open a forecast"),
      open,
    );
    if (r.runs.some((x) => x.kind === "forecast")) {
      parts.push(h("h2", {}, "Your recent forecasts"), h("ul", {}, r.runs.filter((x) => x.kind === "forecast").map((x) => h("li", {}, h("a", { href: `#/forecast/${x.id}` }, `Forecast ${x.id}`)))));
    }
    return parts;
  }

  /** A 422's problems in the error summary, each linked to its input and counted beside it. */
  function showUploadProblems(form, errors, inputs, error) {
    const problems = error instanceof ApiError && error.status === 422 && error.body && Array.isArray(error.body.problems) ? error.body.problems : null;
    if (!problems) {
      showErrors(errors, [{ text: ui.problemText(error), href: "#forecast-history" }]);
      return;
    }
    const byName = {};
    for (const f of inputs.history.files) byName[f.name] = "forecast-history";
    for (const [id, input] of [["forecast-transitions", inputs.transitions], ["forecast-valid-states", inputs.validStates], ["forecast-population", inputs.population], ["forecast-costs", inputs.costs], ["forecast-assumptions", inputs.assumptions]]) {
      if (input.files.length) byName[input.files[0].name] = id;
    }
    const perInput = {};
    const items = problems.map((p) => {
      const id = (p.file ? byName[p.file] : FIELD_INPUTS[p.field]) || (inputs.history.files.length ? "forecast-history" : "forecast-transitions");
      perInput[id] = (perInput[id] || 0) + 1;
      const where = [p.file, p.row ? `row ${p.row}` : null, p.field].filter(Boolean).join(", ");
      return { text: `${where}: ${p.message}`, href: `#${id}` };
    });
    for (const [id, n] of Object.entries(perInput)) {
      markInput(form, id, `${n} problem${n === 1 ? "" : "s"} here: see the list above`);
    }
    showErrors(errors, items, `${error.body.detail}. Fix them and start the forecast again.`);
  }

  function openForm() {
    const errors = h("div");
    const input = h("input", { type: "number", id: "forecast-run-id", min: 1, inputmode: "numeric" });
    const form = h(
      "form",
      { novalidate: true },
      errors,
      h("div", { class: "form-group" }, h("label", { for: "forecast-run-id" }, "Forecast's run number"), input),
      h("button", { type: "submit", class: "button button--secondary" }, "Open forecast"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const id = Number(input.value);
      if (!Number.isInteger(id) || id < 1) return showErrors(errors, [{ text: "Enter a run number, like 12", href: "#forecast-run-id" }]);
      location.hash = `#/forecast/${id}`;
    });
    return form;
  }

  async function viewForecast(params, signal) {
    const runId = Number(params.get("id"));
    const run = await api(`/runs/${runId}`, { signal });
    if (run.kind !== "forecast") {
      location.replace(`#/runs/${runId}`);
      return [];
    }
    ui.remember("runs", { id: run.id, kind: run.kind, caseload_id: run.caseload_id });
    const results = h("div", { id: "forecast-results" });
    const progress = ui.runProgress(
      runId,
      signal,
      async (finished) => {
        if (finished.status === "failed") {
          results.replaceChildren(h("div", { class: "error-summary", role: "alert" }, h("h2", {}, "The forecast failed"), ...ui.runErrorText(finished.error, "No reason was given.")));
          return;
        }
        if (finished.status !== "done") {
          results.replaceChildren(h("p", {}, "This forecast was cancelled. Start another from the forecast page."));
          return;
        }
        try {
          const forecast = await api(`/runs/${runId}/forecast`, { signal });
          results.replaceChildren(...renderForecast(forecast, runId));
          ui.announce("The forecast is ready below.");
        } catch (error) {
          if (!signal.aborted) results.replaceChildren(h("p", {}, `The forecast could not be read: ${ui.problemText(error)}`));
        }
      },
      { cancellable: ui.canForecast() },
    );
    return [
      heading(`Forecast ${runId}`, "Demand forecast"),
      summaryList([
        ["Started by", run.started_by],
        ["Created", ui.when(run.created_at)],
        ["Compared with the places of", run.caseload_id ? `Caseload ${run.caseload_id}` : "No caseload"],
      ]),
      h("h2", {}, "Progress"),
      progress,
      results,
    ];
  }

  /**
   * A chart whose drawing scrolls sideways on a narrow screen rather than shrink its text to a
   * few pixels (style.css gives it a least width); its title and legend stay in view. While it
   * scrolls, its box is a named region reachable by Tab, as app.js makes a wide table's.
   */
  function legible(figure) {
    const svg = figure.querySelector("svg");
    const title = figure.querySelector("figcaption");
    const box = h("div", { class: "chart-scroll" });
    svg.replaceWith(box);
    box.append(svg);
    new ResizeObserver(() => {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", `${title ? title.textContent : "Chart"} (scrolls sideways)`);
      } else {
        for (const a of ["tabindex", "role", "aria-label"]) box.removeAttribute(a);
      }
    }).observe(box);
    return figure;
  }

  /** The name the server gives a download (Content-Disposition), else the link's own. */
  function attachmentName(response, fallback) {
    const match = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
    return match ? match[1] : fallback;
  }

  /**
   * A download link (a plain <a href download>, as GOV.UK's). The API answers only with the
   * bearer token, which a link cannot send: a click fetches the file with it, as a blob, and
   * saves that under the server's file name. A failure is said beside the link.
   */
  function downloadLink(path, filename, text, hint, id) {
    const message = h("span", { class: "error-message", id: `${id}-error`, hidden: true });
    const link = h("a", { href: path, download: filename, id, "aria-describedby": `${id}-hint` }, text);
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      message.hidden = true;
      ui.announce(`Downloading ${text}…`);
      try {
        const response = await api(path, { raw: true });
        const url = URL.createObjectURL(await response.blob());
        h("a", { href: url, download: attachmentName(response, filename) }).click();
        // Revoked later, not at once: the browser may still be reading it to save the file.
        window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
        ui.announce(`${text} downloaded.`);
      } catch (error) {
        message.textContent = `${text} could not be downloaded: ${ui.problemText(error)}`;
        message.hidden = false;
        ui.announce(message.textContent);
      }
    });
    return h("li", {}, link, h("span", { class: "hint", id: `${id}-hint` }, hint), message);
  }

  function downloadSection(runId, f) {
    const cost = f.cost ? " and Output_Cost.csv" : "";
    return [
      h("h2", {}, "Download the forecast"),
      h(
        "ul",
        { class: "downloads" },
        downloadLink(
          `/runs/${runId}/forecast.xlsx`,
          `forecast-${runId}.xlsx`,
          "Forecast spreadsheet (XLSX)",
          `The file sendmatch forecast --out forecast.xlsx writes: the total, needs, kinds of place, NC years${f.cost ? ", costs" : ""} and every need by kind of place and NC year, each January with witan.send's statistics, and how the forecast was made.`,
          "download-forecast-xlsx",
        ),
        downloadLink(
          `/runs/${runId}/forecast-csv.zip`,
          `forecast-${runId}-csv.zip`,
          "witan.send's CSV files (ZIP)",
          `Output_Count.csv, Output_Need.csv, Output_Setting.csv, Output_AY.csv${cost}, with witan.send's columns, for the charts and reports you build on witan.send's outputs.`,
          "download-forecast-csv",
        ),
      ),
    ];
  }

  function renderForecast(f, runId) {
    const out = [];
    const projected = f.total.filter((row) => row.calendar_year >= f.base_year);
    out.push(
      h("h2", {}, "Children and young people with an EHC plan"),
      summaryList([
        ["Made from", f.source],
        ["Simulated futures", `${f.simulations.toLocaleString("en-GB")} (seed ${f.seed})`],
        ["Last January in the files", String(f.base_year)],
      ]),
      h("p", {}, `Each January's mean over ${f.simulations.toLocaleString("en-GB")} simulated futures, and its 95% interval: 19 in 20 futures fall within it. Plan within the interval, not at the mean. January ${f.base_year} is counted from your files.`),
      legible(
        bandChart(
          "Children and young people with an EHC plan each January",
          f.observed.map((o) => ({ year: o.calendar_year, value: o.children })),
          projected.map((row) => ({ year: row.calendar_year, mean: row.mean, low: row.low_95, high: row.high_95 })),
          count,
        ),
      ),
    );
    const costOf = Object.fromEntries((f.cost || []).map((row) => [row.calendar_year, row]));
    const columns = ["January", "Mean", "95% interval", ...(f.cost ? ["Cost a year (mean)", "Cost 95% interval"] : [])];
    out.push(
      table(
        "Projected children with an EHC plan, each January",
        columns,
        f.total.map((row) => {
          const cost = costOf[row.calendar_year];
          return [
            String(row.calendar_year) + (row.calendar_year === f.base_year ? " (observed)" : ""),
            count(row.mean),
            interval(row.low_95, row.high_95),
            ...(f.cost ? [millions(cost && cost.mean), cost ? interval(cost.low_95, cost.high_95, millions) : "–"] : []),
          ];
        }),
        { numeric: f.cost ? [1, 2, 3, 4] : [1, 2] },
      ),
    );
    if (f.assumptions && f.assumptions.length) {
      out.push(h("h3", {}, "Assumptions applied"), h("ul", {}, f.assumptions.map((line) => h("li", {}, line))));
    }
    if (f.notes.length) out.push(h("div", { class: "inset" }, f.notes.map((n) => h("p", {}, n))));
    out.push(...downloadSection(runId, f));
    out.push(
      h("h2", {}, "By primary need, kind of place and NC year"),
      h("p", {}, "Each cell is the mean, then its 95% interval."),
      groupTable("By primary need", "Primary need", f.by_need, f.years, (g) => g),
      groupTable("By kind of place", "Kind of place", f.by_setting, f.years, kind),
      groupTable("By NC year", "NC year", f.by_nc_year, f.years, ncYear),
    );
    out.push(...backtestSection(f));
    out.push(...sufficiencySection(f));
    return out;
  }

  function groupTable(caption, label, rows, years, name) {
    const groups = [...new Set(rows.map((r) => r.group))];
    if (label === "NC year") groups.sort((a, b) => Number(a) - Number(b));
    const cell = Object.fromEntries(rows.map((r) => [`${r.group}|${r.calendar_year}`, r]));
    return table(
      caption,
      [label, ...years.map(String)],
      groups.map((g) => [
        name(g),
        ...years.map((y) => {
          const r = cell[`${g}|${y}`];
          return r ? `${count(r.mean)} (${interval(r.low_95, r.high_95)})` : "–";
        }),
      ]),
      { numeric: years.map((_, i) => i + 1) },
    );
  }

  function backtestSection(f) {
    const parts = [
      h("h2", {}, "How far to trust it: the back-test"),
      h("p", {}, "Your last Januaries projected from the years before them, against what happened, beside a trivial forecast (last year's growth applied to every group). The error across needs or kinds of place adds up how far each group's projection was from the truth, as a share of all children."),
    ];
    if (!f.backtest.length) {
      parts.push(h("div", { class: "inset" }, h("p", {}, f.backtest_note || "No back-test.")));
      return parts;
    }
    const split = (year, horizon, level, key) => {
      const row = f.backtest.find((r) => r.held_out_year === year && r.horizon === horizon && r.level === level);
      return row ? percent(row[key]) : "–";
    };
    const totals = f.backtest.filter((r) => r.level === "total");
    parts.push(
      table(
        "Back-test: held-out Januaries projected from earlier ones",
        ["January", "Years ahead", "Projected", "95% interval", "Actual", "Error", "Actual inside the interval", "Trivial forecast's error", "Error across needs", "Trivial, across needs", "Error across kinds of place", "Trivial, across kinds of place"],
        totals.map((r) => [
          String(r.held_out_year),
          String(r.horizon),
          count(r.projected),
          interval(r.low_95, r.high_95),
          count(r.truth),
          percent(r.error_pct),
          r.covered ? "Yes" : "No",
          percent(r.trivial_error_pct),
          split(r.held_out_year, r.horizon, "need", "split_error_pct"),
          split(r.held_out_year, r.horizon, "need", "trivial_split_error_pct"),
          split(r.held_out_year, r.horizon, "setting", "split_error_pct"),
          split(r.held_out_year, r.horizon, "setting", "trivial_split_error_pct"),
        ]),
        { numeric: [1, 2, 3, 4, 5, 7, 8, 9, 10, 11] },
      ),
    );
    return parts;
  }

  function sufficiencySection(f) {
    const parts = [h("h2", {}, "Demand against places")];
    const s = f.sufficiency;
    if (!s) {
      parts.push(h("p", {}, "Name a caseload when you start a forecast to compare projected demand with the places in its settings file."));
      return parts;
    }
    parts.push(h("p", {}, `Projected demand against the places in caseload ${s.caseload_id}'s settings file. Resourced provision, special, independent and alternative provision places are compared; mainstream, post-16 and other arrangements show demand only.`));
    if (s.shortfalls.length) {
      parts.push(h("h3", {}, "The biggest shortfalls each year"), h("ul", { class: "shortfalls" }, s.shortfalls.map((x) => h("li", {}, x.sentence))));
    } else {
      parts.push(h("p", {}, "No shortfall of places in any year: projected demand is within the places of every kind, phase and need compared."));
    }
    const years = [...new Set(s.rows.map((r) => r.calendar_year))];
    const select = h("select", { id: "sufficiency-year" }, years.map((y) => h("option", { value: String(y) }, String(y))));
    select.value = String(years.find((y) => y > f.base_year) || years[0]);
    const holder = h("div", { id: "sufficiency-table" });
    const draw = () => {
      const year = Number(select.value);
      // Needs with neither children nor places of their own are left out.
      const needs = s.by_need.filter((r) => r.calendar_year === year && (r.demand_high_95 > 0 || r.places > 0));
      const needName = (need) => (need === "all" ? "All needs" : need);
      holder.replaceChildren(
        h("h4", {}, `By need, January ${year}`),
        h("p", {}, "Children in resourced provision, special, independent and alternative provision, every phase together, against the places designated for each need. Places a setting shares between several needs are not in a need's bar; the table gives them. Needs with no projected children and no places of their own are not shown."),
        legible(
          demandPlacesChart(
            `Projected demand against places by need, January ${year}`,
            needs.map((r) => ({ label: needName(r.need), demand: r.demand_mean, low: r.demand_low_95, high: r.demand_high_95, places: r.places })),
            count,
          ),
        ),
        table(
          `Demand against places by need in January ${year}`,
          ["Need", "Projected demand", "95% interval", "Places for the need", "Places shared with other needs"],
          needs.map((r) => [needName(r.need), count(r.demand_mean), interval(r.demand_low_95, r.demand_high_95), count(r.places), count(r.shared_places)]),
          { numeric: [1, 2, 3, 4] },
        ),
        h("h4", {}, `Every kind of place, phase and need, January ${year}`),
        table(
          `Demand against places in January ${year}`,
          ["Kind of place, phase and need", "Projected demand", "95% interval", "Places", "Planned places", "Shared with other needs", "Shortfall (mean)", "Shortfall 95% interval"],
          s.rows
            .filter((r) => r.calendar_year === year)
            .map((r) => [
              `${kind(r.kind_of_place)}, ${r.phase}, ${r.need === "all" ? "all needs" : r.need}`,
              count(r.demand_mean),
              interval(r.demand_low_95, r.demand_high_95),
              r.places === null ? "not compared" : count(r.places),
              r.planned_places === null ? "–" : count(r.planned_places),
              r.shared_places === null ? "–" : count(r.shared_places),
              count(r.shortfall_mean),
              r.shortfall_mean === null ? "–" : interval(r.shortfall_low_95, r.shortfall_high_95),
            ]),
          { numeric: [1, 2, 3, 4, 5, 6, 7] },
        ),
      );
    };
    select.addEventListener("change", draw);
    draw();
    parts.push(
      h("h3", {}, "Demand and places, year by year"),
      h("p", {}, "Choose a January. A shortfall below zero is places to spare."),
      h("div", { class: "form-group" }, h("label", { for: "sufficiency-year" }, "January"), select),
      holder,
    );
    return parts;
  }

  return { viewForecastForm, viewForecast };
}
