"""The demand forecast pages: upload the inputs and start a forecast, watch it run, read its
results with their charts, and download its spreadsheet and witan.send's CSV files.

Starting and downloading call the JSON routes' own functions
(:func:`api.routes_forecast.start_forecast`, ``download_forecast_workbook``,
``download_forecast_csv``), so the files are checked and served
exactly as ``POST /runs/forecast`` and ``GET /runs/{id}/forecast.xlsx`` do; the downloads
here use the pages' cookie session, which a plain link sends. A forecast is LA-wide counts, so
every role reads it; planners and administrators start them, as the API allows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from api.auth import SessionDep
from api.db import Caseload, Role, RunKind, RunStatus
from api.pages import listings, navigation
from api.pages.planner_charts import (
    DemandRow,
    YearPoint,
    band_chart,
    count,
    demand_places_chart,
    legend_swatch,
    millions,
    percent,
)
from api.pages.routes_runs import STATUS_TAGS, progress_context
from api.pages.routes_scenarios import FormFields
from api.pages.sessions import PageSession, page_form, page_session
from api.pages.templating import render
from api.routes_forecast import (
    DEFAULT_SEED,
    DEFAULT_SIMULATIONS,
    MAX_HISTORY_FILES,
    MAX_SIMULATIONS,
    download_forecast_csv,
    download_forecast_workbook,
    start_forecast,
)
from api.routes_runs import get_run
from api.schemas import ForecastFigureOut, ForecastOut, PathId

router = APIRouter(prefix="/app/forecasts", include_in_schema=False)

FORECAST_ROLES = (Role.PLANNER, Role.ADMIN)
navigation.register(
    "Forecasts",
    "/app/forecasts",
    FORECAST_ROLES,
    description="Project how many children with an EHC plan you will have each January.",
    order=35,
)

#: The form's file inputs: (field name, input id).
FILE_INPUTS = (
    ("history", "forecast-history"),
    ("transitions", "forecast-transitions"),
    ("valid_states", "forecast-valid-states"),
    ("population", "forecast-population"),
    ("costs", "forecast-costs"),
    ("assumptions", "forecast-assumptions"),
)
#: Where a problem of a form field (not a file) is shown.
FIELD_INPUTS = {
    "history": "forecast-history",
    "transitions": "forecast-transitions",
    "valid_states": "forecast-valid-states",
    "years": "forecast-years",
    "caseload_id": "forecast-caseload",
    "simulations": "forecast-simulations",
    "seed": "forecast-seed",
}
KIND_OF_PLACE = {"post16": "Post-16"}


def nc_year(value: str | int | None) -> str:
    """NC years as schools say them: N1, N2, Reception, Year 1 ... Year 20."""
    n = int(str(value))
    return {-2: "N1", -1: "N2", 0: "Reception"}.get(n, f"Year {n}")


def kind_of_place(value: str | None) -> str:
    text = str(value or "")
    return KIND_OF_PLACE.get(text, text.replace("_", " ")[:1].upper() + text.replace("_", " ")[1:])


# --------------------------------------------------------------------------------------------
# Starting a forecast


@router.get("", response_class=HTMLResponse)
def forecasts(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
) -> Response:
    return _form_page(request, session, page)


def _form_page(
    request: Request,
    session: SessionDep,
    page: PageSession,
    errors: list[dict[str, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    error_description: str | None = None,
) -> Response:
    defaults = {"years": "", "simulations": str(DEFAULT_SIMULATIONS), "seed": str(DEFAULT_SEED)}
    return render(
        request,
        "forecasts.html",
        page,
        status_code=400 if errors else 200,
        title="Forecast demand",
        errors=errors or [],
        error_description=error_description,
        field_errors=field_errors or {},
        typed={"caseload": "", **defaults, **(typed or {})},
        may_start=page.role in FORECAST_ROLES,
        caseloads=listings.recent_caseloads(session),
        forecasts=listings.recent_runs_of_kind(session, RunKind.FORECAST.value),
        status_tags=STATUS_TAGS,
        max_simulations=MAX_SIMULATIONS,
        max_history_files=MAX_HISTORY_FILES,
    )


def _files(fields: FormData, name: str) -> list[UploadFile]:
    """The files sent for an input; a browser sends an empty part for an input left empty."""
    return [f for f in fields.getlist(name) if isinstance(f, UploadFile) and f.filename]


def _form_problems(fields: FormData, typed: dict[str, str]) -> dict[str, str]:
    """The form's own mistakes, said before any file is read."""
    problems: dict[str, str] = {}
    history, transitions = _files(fields, "history"), _files(fields, "transitions")
    if not history and not transitions:
        problems["forecast-history"] = (
            "Select the yearly caseload files (or witan.send's transitions file)"
        )
    elif history and transitions:
        problems["forecast-history"] = (
            "Give the yearly caseload files or the transitions file, not both"
        )
    if not _files(fields, "population"):
        problems["forecast-population"] = "Select the general population file"
    if not typed["years"]:
        problems["forecast-years"] = "Enter the Januaries to project, like 2026-2032"
    sims = typed["simulations"].replace(",", "")
    if not (sims.isdigit() and 1 <= int(sims) <= MAX_SIMULATIONS):
        problems["forecast-simulations"] = (
            f"Enter a whole number of simulated futures from 1 to {MAX_SIMULATIONS:,}"
        )
    if not (typed["seed"].isdigit() and int(typed["seed"]) < 2**32):
        problems["forecast-seed"] = "Enter a whole number of 0 or more as the seed"
    chosen = typed["caseload"]
    if chosen and not (chosen.isdigit() and len(chosen) < 10):
        problems["forecast-caseload"] = "Select a caseload from the list, or none"
    return problems


@router.post("", response_class=HTMLResponse)
def start(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    page: Annotated[PageSession, Depends(page_form(*FORECAST_ROLES))],
    fields: FormFields,
) -> Response:
    """Check every file as ``POST /runs/forecast`` does; the forecast's page, or every
    problem listed with its file, row and column, each linked to its input."""
    typed = {
        k: str(fields.get(k, "")).strip() for k in ("years", "simulations", "seed", "caseload")
    }
    field_errors = _form_problems(fields, typed)
    caseload_id = int(typed["caseload"]) if typed["caseload"].isdigit() else None
    if caseload_id is not None and session.get(Caseload, caseload_id) is None:
        field_errors["forecast-caseload"] = "Select a caseload from the list, or none"
    if field_errors:
        errors = [{"text": t, "href": f"#{f}"} for f, t in field_errors.items()]
        return _form_page(request, session, page, errors, field_errors, typed)

    def one(name: str) -> UploadFile | None:
        found = _files(fields, name)
        return found[0] if found else None

    population = one("population")
    assert population is not None  # checked above
    answer = start_forecast(
        request,
        background,
        session,
        page.user,
        population,  # type: ignore[arg-type]  # Starlette's UploadFile, as FastAPI passes it
        typed["years"],
        _files(fields, "history") or None,  # type: ignore[arg-type]
        one("transitions"),  # type: ignore[arg-type]
        one("costs"),  # type: ignore[arg-type]
        one("valid_states"),  # type: ignore[arg-type]
        one("assumptions"),  # type: ignore[arg-type]
        int(typed["simulations"].replace(",", "")),
        int(typed["seed"]),
        caseload_id,
    )
    if hasattr(answer, "id"):
        return RedirectResponse(
            f"/app/forecasts/{answer.id}", status_code=303, background=background
        )
    errors, field_errors = _upload_problems(fields, bytes(answer.body))
    told = f"{len(errors)} problem(s) found; nothing was stored. Fix them and start again."
    return _form_page(request, session, page, errors, field_errors, typed, told)


def _upload_problems(fields: FormData, body: bytes) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The API's 422 as the error summary: each problem linked to the input of its file (by
    the file's name) or of its form field, and a count beside each input."""
    report = json.loads(body)
    by_name = {f.filename: input_id for name, input_id in FILE_INPUTS for f in _files(fields, name)}
    fallback = "forecast-history" if _files(fields, "history") else "forecast-transitions"
    errors: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    for p in report.get("problems", []):
        input_id = by_name.get(p.get("file")) or FIELD_INPUTS.get(p.get("field") or "", fallback)
        counts[input_id] = counts.get(input_id, 0) + 1
        where = ", ".join(
            str(part)
            for part in (p.get("file"), f"row {p['row']}" if p.get("row") else None, p.get("field"))
            if part
        )
        errors.append(
            {"text": f"{where}: {p['message']}" if where else p["message"], "href": f"#{input_id}"}
        )
    field_errors = {
        input_id: f"{n} problem{'' if n == 1 else 's'} here: see the list above"
        for input_id, n in counts.items()
    }
    return errors, field_errors


# --------------------------------------------------------------------------------------------
# A forecast


@router.get("/{run_id}", response_class=HTMLResponse)
def forecast(
    run_id: PathId,
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
    year: str = "",
    refresh: str = "on",
) -> Response:
    """A forecast's progress, then its results: totals, charts, tables and downloads."""
    run = get_run(run_id, session, page.user)
    if run.kind != RunKind.FORECAST:
        return RedirectResponse(f"/app/runs/{run_id}", status_code=303)
    context: dict[str, Any] = {}
    if run.status == RunStatus.DONE and run.summary:
        context = forecast_context(ForecastOut.model_validate(run.summary), year)
    return render(
        request,
        "forecast.html",
        page,
        title=f"Forecast {run.id}",
        run=run,
        **progress_context(run, refresh, page.role in FORECAST_ROLES),
        **context,
    )


def _interval(
    low: float | None, high: float | None, fmt: Callable[[float | None], str] = count
) -> str:
    return f"{fmt(low)} to {fmt(high)}"


def _group_table(
    rows: Sequence[ForecastFigureOut],
    years: Sequence[int],
    name: Callable[[Any], str],
    numeric: bool = False,
) -> list[dict[str, Any]]:
    groups = list(dict.fromkeys(r.group for r in rows))
    if numeric:
        groups.sort(key=lambda g: int(str(g)))
    cell = {(r.group, r.calendar_year): r for r in rows}
    out = []
    for g in groups:
        cells = []
        for y in years:
            r = cell.get((g, y))
            cells.append(f"{count(r.mean)} ({_interval(r.low_95, r.high_95)})" if r else "–")
        out.append({"name": name(g), "cells": cells})
    return out


def forecast_context(f: ForecastOut, year: str = "") -> dict[str, Any]:
    """What the forecast page shows, from ``GET /runs/{id}/forecast``'s document."""
    projected = [r for r in f.total if r.calendar_year >= f.base_year]
    chart = band_chart(
        "Children and young people with an EHC plan each January",
        [YearPoint(o.calendar_year, o.children) for o in f.observed],
        [YearPoint(r.calendar_year, r.mean, r.low_95, r.high_95) for r in projected],
        count,
    )
    cost_of = {r.calendar_year: r for r in f.cost or []}
    totals = []
    for r in f.total:
        c = cost_of.get(r.calendar_year)
        totals.append(
            {
                "year": f"{r.calendar_year}"
                + (" (observed)" if r.calendar_year == f.base_year else ""),
                "mean": count(r.mean),
                "interval": _interval(r.low_95, r.high_95),
                "cost": millions(c.mean) if c else "–",
                "cost_interval": _interval(c.low_95, c.high_95, millions) if c else "–",
            }
        )
    context: dict[str, Any] = {
        "f": f,
        "total_chart": chart,
        "totals": totals,
        "swatches": [
            (legend_swatch("#0b0c0c"), "Observed"),
            (legend_swatch("#1d70b8"), "Projected mean"),
            (legend_swatch("#1d70b8", 0.2), "95% interval"),
        ],
        "groups": [
            ("By primary need", "Primary need", _group_table(f.by_need, f.years, str)),
            (
                "By kind of place",
                "Kind of place",
                _group_table(f.by_setting, f.years, kind_of_place),
            ),
            ("By NC year", "NC year", _group_table(f.by_nc_year, f.years, nc_year, numeric=True)),
        ],
        "backtest": _backtest(f),
        "percent": percent,
        "count": count,
    }
    if f.sufficiency is not None:
        context.update(_sufficiency(f, year))
    return context


def _backtest(f: ForecastOut) -> list[list[str]]:
    def split(held: int, horizon: int, level: str, key: str) -> str:
        row = next(
            (
                r
                for r in f.backtest
                if (r.held_out_year, r.horizon, r.level) == (held, horizon, level)
            ),
            None,
        )
        return percent(getattr(row, key)) if row else "–"

    return [
        [
            str(r.held_out_year),
            str(r.horizon),
            count(r.projected),
            _interval(r.low_95, r.high_95),
            count(r.truth),
            percent(r.error_pct),
            "Yes" if r.covered else "No",
            percent(r.trivial_error_pct),
            split(r.held_out_year, r.horizon, "need", "split_error_pct"),
            split(r.held_out_year, r.horizon, "need", "trivial_split_error_pct"),
            split(r.held_out_year, r.horizon, "setting", "split_error_pct"),
            split(r.held_out_year, r.horizon, "setting", "trivial_split_error_pct"),
        ]
        for r in f.backtest
        if r.level == "total"
    ]


def _sufficiency(f: ForecastOut, year: str) -> dict[str, Any]:
    """Demand against places for the January asked for (the first projected one by default)."""
    s = f.sufficiency
    assert s is not None
    years = list(dict.fromkeys(r.calendar_year for r in s.rows))
    default = next((y for y in years if y > f.base_year), years[0] if years else f.base_year)
    chosen = int(year) if year.isdigit() and int(year) in years else default
    needs = [
        r for r in s.by_need if r.calendar_year == chosen and (r.demand_high_95 > 0 or r.places > 0)
    ]

    def need_name(need: str) -> str:
        return "All needs" if need == "all" else need

    chart = demand_places_chart(
        f"Projected demand against places by need, January {chosen}",
        [
            DemandRow(need_name(r.need), r.demand_mean, r.demand_low_95, r.demand_high_95, r.places)
            for r in needs
        ],
        count,
    )
    rows = [
        [
            f"{kind_of_place(r.kind_of_place)}, {r.phase}, "
            + ("all needs" if r.need == "all" else r.need),
            count(r.demand_mean),
            _interval(r.demand_low_95, r.demand_high_95),
            "not compared" if r.places is None else count(r.places),
            "–" if r.planned_places is None else count(r.planned_places),
            "–" if r.shared_places is None else count(r.shared_places),
            count(r.shortfall_mean),
            "–" if r.shortfall_mean is None else _interval(r.shortfall_low_95, r.shortfall_high_95),
        ]
        for r in s.rows
        if r.calendar_year == chosen
    ]
    return {
        "sufficiency": s,
        "sufficiency_years": years,
        "sufficiency_year": chosen,
        "need_chart": chart,
        "need_swatches": [
            (legend_swatch("#1d70b8"), "Projected demand (line: 95% interval)"),
            (legend_swatch("#505a5f"), "Places designated for the need"),
        ],
        "need_rows": [
            [
                need_name(r.need),
                count(r.demand_mean),
                _interval(r.demand_low_95, r.demand_high_95),
                count(r.places),
                count(r.shared_places),
            ]
            for r in needs
        ],
        "sufficiency_rows": rows,
    }


# --------------------------------------------------------------------------------------------
# Downloads, with the pages' session


@router.get("/{run_id}/forecast.xlsx")
def workbook(
    run_id: PathId,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
) -> Response:
    """The spreadsheet ``sendmatch forecast --out forecast.xlsx`` writes."""
    return download_forecast_workbook(run_id, session, page.user)


@router.get("/{run_id}/forecast-csv.zip")
def csv_files(
    run_id: PathId,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
) -> Response:
    """witan.send's Output_*.csv files, zipped."""
    return download_forecast_csv(run_id, session, page.user)
