"""Demand forecast runs: upload a history and a population, project, back-test, read the
tables and download the spreadsheet and witan.send's CSV files (``sendmatch forecast`` over
HTTP).

Planners and administrators start forecasts; every role reads them, since a forecast holds
LA-wide counts only. The uploaded yearly caseload files are children's records: they are
checked now, stored with the run like a caseload's files, read by the run, and never sent back.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    File,
    Form,
    HTTPException,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from api.auth import require_roles
from api.db import Caseload, Role, Run, RunInput, RunKind, User, get_session
from api.forecast_downloads import CSV_DOWNLOAD, WORKBOOK_DOWNLOAD, stored_download
from api.forecast_jobs import (
    FORM,
    ForecastFiles,
    assumption_input_problems,
    execute_forecast_run,
    forecast_problems,
    parse_years,
    read_assumptions,
    read_forecast_inputs,
)
from api.jobs import UploadedFile, safe_name
from api.routes_runs import get_done_run, run_out
from api.schemas import MAX_ROW_ID, ForecastOut, PathId, Problem, RunOut, ValidationReport
from matcher import io
from matcher.forecast.knobs import AssumptionsError, AssumptionSet

router = APIRouter(prefix="/runs", tags=["forecast"])

SessionDep = Annotated[Session, Depends(get_session, scope="function")]
#: Every role reads a forecast (LA-wide counts only), its files too.
AnyRole = Annotated[User, Depends(require_roles(*Role))]

MB = 1024 * 1024
#: A year's caseload file: one short row per child, about 1 MB for the largest English LA.
MAX_HISTORY_FILE_BYTES = 10 * MB
#: Yearly files in one forecast: enough for 15 Januaries.
MAX_HISTORY_FILES = 15
#: witan.send's transitions: one row per child per year, every year at once.
MAX_TRANSITIONS_BYTES = 50 * MB
#: Population (a row per year and NC year), costs and valid states are small tables.
MAX_POPULATION_BYTES = 5 * MB
MAX_TABLE_BYTES = MB
#: An assumptions file is a few dozen lines of YAML or JSON.
MAX_ASSUMPTIONS_BYTES = MB
#: The most one forecast's files may hold together (its request's limit, with the form).
MAX_FORECAST_FILES_BYTES = (
    max(MAX_HISTORY_FILES * MAX_HISTORY_FILE_BYTES, MAX_TRANSITIONS_BYTES)
    + MAX_POPULATION_BYTES
    + 2 * MAX_TABLE_BYTES
    + MAX_ASSUMPTIONS_BYTES
)
#: Simulated futures a web forecast may ask for: 2,000 keep the 95% bounds stable to well under
#: 1% (the command line's default is 1,000) and a large LA's run to minutes, not hours.
MAX_SIMULATIONS = 2000
DEFAULT_SIMULATIONS = 1000
DEFAULT_SEED = 42

REJECTED: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such caseload"},
    413: {"description": "a file is larger than its limit"},
    422: {
        "model": ValidationReport,
        "description": "problems found in the files or the form (a form field's problem has an "
        "empty file and the field's name)",
    },
}


@router.post(
    "/forecast",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=REJECTED,
)
def start_forecast(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN))],
    population: Annotated[
        UploadFile,
        File(
            description="general population by calendar-year and academic-year (NC year), "
            "every year of the history and of the forecast, .csv or .xlsx"
        ),
    ],
    years: Annotated[
        str,
        Form(
            max_length=20,
            description="the Januaries to project, FIRST-LAST (e.g. 2026-2032) or one year",
        ),
    ],
    history: Annotated[
        list[UploadFile] | None,
        File(
            description="yearly caseload files, one a January (year in the name, e.g. "
            "2024.csv, or a census_year column): child_id, nc_year, primary_need and "
            "kind_of_place (or setting_urn, with caseload_id); or give transitions instead"
        ),
    ] = None,
    transitions: Annotated[
        UploadFile | None,
        File(description="witan.send's transitions.csv, instead of yearly files"),
    ] = None,
    costs: Annotated[
        UploadFile | None,
        File(description="annual cost of a child by need and setting (need, setting, cost)"),
    ] = None,
    valid_states: Annotated[
        UploadFile | None,
        File(description="witan.send's valid-states.csv, with transitions only"),
    ] = None,
    assumptions: Annotated[
        UploadFile | None,
        File(
            description="the planner's assumptions (.yaml, .yml or .json, at most 1 MB), as "
            "sendmatch forecast --assume reads them; a population change is given as a rate "
            "(population.file is refused: the server opens no file an upload names)"
        ),
    ] = None,
    simulations: Annotated[
        int, Form(ge=1, le=MAX_SIMULATIONS, description="simulated futures behind the intervals")
    ] = DEFAULT_SIMULATIONS,
    seed: Annotated[
        int, Form(ge=0, le=2**32 - 1, description="the same seed gives the same forecast")
    ] = DEFAULT_SEED,
    caseload_id: Annotated[
        int | None,
        Form(
            ge=1,
            le=MAX_ROW_ID,
            description="a caseload whose settings' places the demand is set against "
            "(sufficiency); its settings file also gives the kind of place of a setting_urn",
        ),
    ] = None,
) -> RunOut | JSONResponse:
    """Queue ``sendmatch forecast`` (with its back-test, and ``sufficiency`` against the
    caseload's settings when one is named); poll ``GET /runs/{id}``, then read
    ``GET /runs/{id}/forecast``.

    Every file is checked now with the command line's readers, and the years (and an
    assumptions file's needs, settings and years) against the files: a 422 lists every problem
    (file, row, column or field path; or the form field) and nothing is stored.
    """
    caseload = _caseload_or_404(session, caseload_id)
    # A browser sends an empty part for a file input left empty: no file was given.
    uploads = [u for u in history or [] if _given(u)]
    transitions, costs, valid_states, assumptions = (
        u if u is not None and _given(u) else None
        for u in (transitions, costs, valid_states, assumptions)
    )
    form_problems = _form_problems(uploads, transitions, valid_states, years)
    if form_problems:
        return _rejected(form_problems)
    files = ForecastFiles(
        population=_read(population, "population.csv", MAX_POPULATION_BYTES),
        history=tuple(
            _read(u, f"history-{k}.csv", MAX_HISTORY_FILE_BYTES) for k, u in enumerate(uploads, 1)
        ),
        transitions=_read_optional(transitions, "transitions.csv", MAX_TRANSITIONS_BYTES),
        costs=_read_optional(costs, "costs.csv", MAX_TABLE_BYTES),
        valid_states=_read_optional(valid_states, "valid-states.csv", MAX_TABLE_BYTES),
        assumptions=_read_optional(assumptions, "assumptions.yaml", MAX_ASSUMPTIONS_BYTES),
    )
    first, last = parse_years(years)
    settings = (
        UploadedFile(caseload.settings_name, caseload.settings_data)
        if caseload is not None and files.history
        else None
    )
    assumed, problems = _assumptions_or_problems(files)
    try:
        inputs = read_forecast_inputs(files, settings)
        if not problems:
            problems = forecast_problems(
                inputs, files, first, last, against_places=caseload is not None, assumptions=assumed
            )
    except io.InputError as exc:
        problems = [*problems, *exc.problems]
    if problems:
        return _rejected([_problem(p) for p in problems])
    run = Run(
        kind=RunKind.FORECAST.value,
        caseload_id=caseload_id,
        options={
            "years": years.strip(),
            "first_year": first,
            "last_year": last,
            "simulations": simulations,
            "seed": seed,
            "made_from": "history" if files.history else "transitions",
        },
        started_by=user.id,
    )
    session.add(run)
    session.flush()
    session.add_all(
        RunInput(run_id=run.id, role=role, name=f.name, data=f.data) for role, f in files.by_role()
    )
    session.commit()
    network = getattr(request.app.state, "network", None)
    request.app.state.runs.queue(background, execute_forecast_run, run.id, network)
    return run_out(run)


@router.get(
    "/{run_id}/forecast",
    response_model=ForecastOut,
    responses={
        404: {"description": "no such forecast run"},
        409: {"description": "the run is queued, running, failed or cancelled: no forecast"},
    },
)
def get_forecast(run_id: PathId, session: SessionDep, _user: AnyRole) -> ForecastOut:
    """The forecast's tables: totals, by need, by kind of place (or setting) and by NC year,
    each January with its mean and 95% interval, costs if given, the back-test and, when the
    run named a caseload, demand against its places. LA-wide counts only."""
    run = get_done_run(session, run_id, RunKind.FORECAST)
    return ForecastOut.model_validate(run.summary)


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_TYPE = "application/zip"


def _download_responses(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {media_type: {}}, "description": what},
        404: {"description": "no such forecast run, or one made before its files were kept"},
        409: {"description": "the run is queued, running, failed or cancelled: no forecast"},
    }


@router.get(
    "/{run_id}/forecast.xlsx",
    response_class=Response,
    responses=_download_responses(
        XLSX_TYPE, "the spreadsheet `sendmatch forecast --out forecast.xlsx` writes"
    ),
)
def download_forecast_workbook(run_id: PathId, session: SessionDep, _user: AnyRole) -> Response:
    """The forecast as the command line's spreadsheet: a sheet for the total, need, setting,
    NC year and (with costs) cost, each with every witan.send statistic, the projection of
    every need x setting x NC year, and the Inputs sheet saying how it was made."""
    return _download(session, run_id, WORKBOOK_DOWNLOAD, XLSX_TYPE, f"forecast-{run_id}.xlsx")


@router.get(
    "/{run_id}/forecast-csv.zip",
    response_class=Response,
    responses=_download_responses(
        ZIP_TYPE, "witan.send's Output_*.csv files, as `sendmatch forecast --out DIR` writes"
    ),
)
def download_forecast_csv(run_id: PathId, session: SessionDep, _user: AnyRole) -> Response:
    """witan.send's ``Output_Count.csv``, ``Output_Need.csv``, ``Output_Setting.csv``,
    ``Output_AY.csv`` and (with costs) ``Output_Cost.csv``, zipped: the same columns as
    witan.send's, so the charts and reports an LA builds on them keep working."""
    return _download(session, run_id, CSV_DOWNLOAD, ZIP_TYPE, f"forecast-{run_id}-csv.zip")


def _download(session: Session, run_id: int, name: str, media_type: str, filename: str) -> Response:
    """A done forecast's stored file as an attachment (the browser saves it, never shows it)."""
    get_done_run(session, run_id, RunKind.FORECAST)
    data = stored_download(session, run_id, name)
    if data is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"forecast {run_id} was made before sendmatch kept a forecast's files: start it "
            "again to download them",
        )
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    return Response(data, media_type=media_type, headers=headers)


def _caseload_or_404(session: Session, caseload_id: int | None) -> Caseload | None:
    if caseload_id is None:
        return None
    caseload = session.get(Caseload, caseload_id)
    if caseload is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such caseload")
    return caseload


def _assumptions_or_problems(
    files: ForecastFiles,
) -> tuple[AssumptionSet | None, list[io.InputProblem]]:
    """The uploaded assumptions file checked on its own, before the forecast's files are read,
    so its problems are listed with theirs."""
    if files.assumptions is None:
        return None, []
    try:
        return read_assumptions(files.assumptions), []
    except AssumptionsError as exc:
        return None, assumption_input_problems(exc)


def _form_problems(
    history: list[UploadFile],
    transitions: UploadFile | None,
    valid_states: UploadFile | None,
    years: str,
) -> list[Problem]:
    """The form's own mistakes, before a file is read: one way in, a span of years."""
    problems = []
    if bool(history) == (transitions is not None):
        which = "both" if history else "neither"
        problems.append(
            _form_problem(
                "history",
                "give either the yearly caseload files (history) or witan.send's transitions "
                f"file (transitions), not {which}",
            )
        )
    if len(history) > MAX_HISTORY_FILES:
        problems.append(
            _form_problem("history", f"at most {MAX_HISTORY_FILES} yearly files in a forecast")
        )
    if valid_states is not None and history:
        problems.append(
            _form_problem("valid_states", "valid states go with witan.send's transitions only")
        )
    try:
        parse_years(years)
    except ValueError as exc:
        problems.append(_form_problem("years", str(exc)))
    return problems


def _form_problem(field: str, message: str) -> Problem:
    return Problem(file=FORM, row=None, field=field, message=message)


def _problem(p: io.InputProblem) -> Problem:
    return Problem(file=p.file, row=p.row, field=p.field, message=p.message)


def _rejected(problems: list[Problem]) -> JSONResponse:
    """Every problem at once, nothing stored: as a caseload upload is refused."""
    report = ValidationReport(
        detail=f"{len(problems)} problem(s) found; nothing was stored", problems=problems
    )
    return JSONResponse(report.model_dump(), status_code=422)


def _given(upload: UploadFile) -> bool:
    return bool(upload.filename) or bool(upload.size)


def _read(upload: UploadFile, fallback: str, limit: int) -> UploadedFile:
    data = upload.file.read(limit + 1)
    name = safe_name(upload.filename, fallback)
    if len(data) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"{name} is larger than {limit // MB:,} MB"
        )
    return UploadedFile(name, data)


def _read_optional(upload: UploadFile | None, fallback: str, limit: int) -> UploadedFile | None:
    return None if upload is None else _read(upload, fallback, limit)
