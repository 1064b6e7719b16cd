"""The run pages: the list of runs (mine or everyone's), starting a placement run from a
caseload, and a run's page with its progress and then its summary.

Starting, reading and cancelling call the JSON routes' own functions
(:mod:`api.routes_runs`), so the pages and the API cannot disagree about who may do what.
While a run is queued or running its page asks the browser to load it again every
:data:`REFRESH_SECONDS` (the ``Refresh`` header), with a link to stop that.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.auth import SessionDep
from api.db import Caseload, Role, RunKind, RunStatus
from api.pages import listings, navigation, run_summary
from api.pages.run_summary import run_overview
from api.pages.sessions import PageSession, page_form, page_session
from api.pages.templating import render
from api.routes_runs import (
    CHILD_ROLES,
    PLANNER_RUNS,
    RUN_ROLES,
    cancel_run,
    get_run,
    get_run_or_404,
    start_run,
)
from api.schemas import PathId, RunCreate, RunOut

router = APIRouter(prefix="/app/runs", include_in_schema=False)

REFRESH_SECONDS = 2
KIND_NAMES = {
    RunKind.PLACEMENT.value: "Placement",
    RunKind.FAIR_ACCESS.value: "Fair access",
    RunKind.SCENARIO_COMPARE.value: "Scenario comparison",
    RunKind.FORECAST.value: "Demand forecast",
}
STATUS_TAGS = {
    RunStatus.QUEUED.value: ("Waiting to start", "govuk-tag--grey"),
    RunStatus.RUNNING.value: ("Running", "govuk-tag--blue"),
    RunStatus.DONE.value: ("Finished", "govuk-tag--green"),
    RunStatus.FAILED.value: ("Failed", "govuk-tag--red"),
    RunStatus.CANCELLED.value: ("Cancelled", "govuk-tag--yellow"),
}
FINISHED = (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED)


def progress_context(
    run: RunOut, refresh: str, may_cancel: bool, preparing: bool = False
) -> dict[str, Any]:
    """What every run page (placement, comparison, forecast) shows of a run's progress, for
    ``run_progress.html``; ``headers`` makes the page reload itself every
    :data:`REFRESH_SECONDS` while the run works (or its summary is ``preparing``), unless the
    user turned that off (``refresh=off``: WCAG 2.2.1)."""
    finished = run.status in FINISHED
    auto = (not finished or preparing) and refresh != "off"
    return {
        "headers": {"Refresh": str(REFRESH_SECONDS)} if auto else None,
        "finished": finished,
        "auto": auto,
        "percent_done": round(100 * (1.0 if run.status == RunStatus.DONE else run.progress)),
        "may_cancel": not finished and may_cancel,
        "status_tags": STATUS_TAGS,
    }


#: The kinds of run with a page of their own; the others are shown at /app/runs/{id}.
OWN_PAGES = {
    RunKind.SCENARIO_COMPARE.value: "/app/scenarios/{id}",
    RunKind.FORECAST.value: "/app/forecasts/{id}",
}
LIMIT_FIELDS = (
    ("primary_limit_minutes", "primary", 45),
    ("secondary_limit_minutes", "secondary", 75),
)

navigation.register(
    "Runs",
    "/app/runs",
    tuple(Role),
    description="Placement runs and other calculations: how far they have got, and their results.",
    order=20,
)


def journey_model(label: object) -> str:
    """How a run timed journeys, in words for a reader rather than a modeller."""
    text = str(label or "")
    if text.startswith("straight-line"):
        return "Estimated from straight-line distances, not from roads"
    if text.startswith("road network"):
        return "Along roads, on this server's road map"
    return text


def may_cancel(role: Role, kind: str) -> bool:
    """Who may stop a run, as :func:`api.routes_runs.cancel_run` decides it."""
    return role in RUN_ROLES or (role == Role.PLANNER and kind in PLANNER_RUNS)


@router.get("", response_class=HTMLResponse)
def runs(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
    show: str = "all",
) -> Response:
    mine, found, links = listings.whose_list(
        show,
        request.query_params.get("page"),
        page.user.id,
        partial(listings.runs_page, session),
        "/app/runs",
    )
    return render(
        request,
        "runs.html",
        page,
        title="Runs",
        mine=mine,
        found=found,
        pagination=links,
        may_start=page.role in RUN_ROLES,
        kind_names=KIND_NAMES,
        status_tags=STATUS_TAGS,
    )


@router.get("/new", response_class=HTMLResponse)
def new_run(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session(*RUN_ROLES))],
) -> Response:
    chosen = request.query_params.get("caseload", "")
    uploaded = None
    if chosen.isdigit() and request.query_params.get("uploaded"):
        uploaded = session.get(Caseload, int(chosen))
    typed = {"caseload": chosen, **{name: str(v) for name, _, v in LIMIT_FIELDS}}
    return _start_form(request, session, page, typed, uploaded=uploaded)


@router.post("", response_class=HTMLResponse)
def start(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    page: Annotated[PageSession, Depends(page_form(*RUN_ROLES))],
    caseload: Annotated[str, Form()] = "",
    primary_limit_minutes: Annotated[str, Form()] = "",
    secondary_limit_minutes: Annotated[str, Form()] = "",
) -> Response:
    """Start a placement run through :func:`api.routes_runs.start_run`; then its page."""
    typed = {
        "caseload": caseload.strip(),
        "primary_limit_minutes": primary_limit_minutes.strip(),
        "secondary_limit_minutes": secondary_limit_minutes.strip(),
    }
    field_errors: dict[str, str] = {}
    if not typed["caseload"].isdigit() or session.get(Caseload, int(typed["caseload"])) is None:
        field_errors["caseload"] = "Select the caseload to place"
    for name, phase, _ in LIMIT_FIELDS:
        try:
            minutes = float(typed[name])
        except ValueError:
            minutes = -1
        if not 0 < minutes <= 300:
            field_errors[name] = f"Enter a {phase} journey limit between 1 and 300 minutes"
    if field_errors:
        errors = [{"text": t, "href": f"#{f}"} for f, t in field_errors.items()]
        return _start_form(request, session, page, typed, errors, field_errors)
    try:
        body = RunCreate(
            caseload_id=int(typed["caseload"]),
            primary_limit_minutes=float(typed["primary_limit_minutes"]),
            secondary_limit_minutes=float(typed["secondary_limit_minutes"]),
            la_code=None,
        )
    except ValidationError:
        errors = [{"text": "Check the caseload and the journey limits", "href": "#caseload"}]
        return _start_form(request, session, page, typed, errors, {})
    run = start_run(body, request, background, session, page.user)
    return RedirectResponse(f"/app/runs/{run.id}", status_code=303, background=background)


@router.get("/{run_id}", response_class=HTMLResponse)
def run_page(
    run_id: PathId,
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
    refresh: str = "on",
) -> Response:
    """A run's page: while it works, its progress (reloaded every 2 seconds unless the user
    stops that); once finished, what happened and, for a placement, its summary."""
    run = get_run(run_id, session, page.user)
    overview, preparing = None, False
    if run.status == RunStatus.DONE and run.kind == RunKind.PLACEMENT:
        network = getattr(request.app.state, "network", None)
        overview = run_overview(request.app.state.db, get_run_or_404(session, run_id), network)
        preparing = overview is None
    return render(
        request,
        "run.html",
        page,
        title=f"{KIND_NAMES[run.kind.value]} run {run.id}",
        run=run,
        **progress_context(run, refresh, may_cancel(page.role, run.kind.value), preparing),
        kind_names=KIND_NAMES,
        own_page=OWN_PAGES.get(run.kind.value, "").format(id=run.id),
        summary=run.summary or {},
        journeys=journey_model((run.summary or {}).get("travel_model")),
        overview=overview,
        preparing=preparing,
        # Where children live (by area) is for the roles that see children's records.
        show_flows=page.role in CHILD_ROLES,
        setting_kinds=run_summary.KIND_NAMES,
        kind_colours=run_summary.KIND_COLOURS,
        map_width=run_summary.MAP_WIDTH,
    )


@router.post("/{run_id}/cancel")
def cancel(
    run_id: PathId,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_form())],
) -> Response:
    """Ask the run to stop (as ``POST /runs/{id}/cancel``); back to its own page either way
    (a comparison's or a forecast's, where the form was)."""
    try:
        cancel_run(run_id, session, page.user)
    except HTTPException as exc:
        if exc.status_code != 409:  # finished meanwhile: its page says how it ended
            raise
    kind = get_run_or_404(session, run_id).kind
    return RedirectResponse(OWN_PAGES.get(kind, "/app/runs/{id}").format(id=run_id), 303)


def _start_form(
    request: Request,
    session: SessionDep,
    page: PageSession,
    typed: dict[str, str],
    errors: list[dict[str, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    uploaded: Caseload | None = None,
) -> Response:
    return render(
        request,
        "run_new.html",
        page,
        status_code=400 if errors else 200,
        title="Start a placement run",
        errors=errors or [],
        field_errors=field_errors or {},
        typed=typed,
        caseloads=listings.recent_caseloads(session),
        uploaded=uploaded,
    )
