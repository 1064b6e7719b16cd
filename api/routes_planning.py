"""Fair access and scenario comparison runs: start them, read their results, draw their maps.

Fair access options are children's records (panel members, case officers and admins only, each
read audited); a scenario comparison is LA-wide figures only, open to every role, and started
by planners (and admins), whose work capacity planning is. A comparison's site map shows every
role the catchment as counts per area (small counts not drawn); only the roles that work with
children may ask for the homes as points, and each home shown is recorded in the read audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.auth import require_roles
from api.db import Caseload, ChildRead, Role, Run, RunKind, User, get_session, utcnow
from api.jobs import UploadedFile, caseload_inputs, safe_name
from api.planning_jobs import (
    MapView,
    UnknownSiteError,
    execute_fair_access_run,
    execute_scenario_compare_run,
    map_cache,
    map_cell_rules,
    read_fap_history,
    render_comparison_map,
    validate_scenarios,
)
from api.routes_runs import (
    CHILD_ROLES,
    get_done_run,
    get_result_or_404,
    run_out,
)
from api.schemas import (
    MAX_ROW_ID,
    ChildIdPath,
    ComparisonOut,
    FairAccessChildOut,
    FairAccessSummaryOut,
    PathId,
    Problem,
    RunOut,
    ValidationReport,
)
from api.user_errors import stored_caseload_detail, value_free_problems
from matcher import io
from matcher.planning import ScenarioError
from matcher.scenario_map import MapDependencyError

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

router = APIRouter(prefix="/runs")

SessionDep = Annotated[Session, Depends(get_session, scope="function")]
AnyRole = Annotated[User, Depends(require_roles(*Role))]

MAX_HISTORY_BYTES = 5 * 1024 * 1024  # a history has one row per school
MAX_SCENARIO_BYTES = 1024 * 1024  # a scenario is a few edits; a megabyte is far beyond one
MAX_SCENARIO_FILES = 20

CaseloadIdForm = Annotated[int, Form(ge=1, le=MAX_ROW_ID, description="the caseload to use")]
PrimaryLimitForm = Annotated[
    float, Form(gt=0, le=300, description="journey limit in minutes, Reception to Year 6")
]
SecondaryLimitForm = Annotated[
    float, Form(gt=0, le=300, description="journey limit in minutes, Year 7 up")
]
REJECTED: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such caseload"},
    422: {"model": ValidationReport, "description": "problems found in the files"},
}
NOT_READY: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such run of this kind (or no such child in it)"},
    409: {"description": "the run is queued, running, failed or cancelled: no results"},
}


def _network(request: Request) -> RoadNetwork | None:
    """The server's road network (``sendmatch serve --osm``), else None: straight-line times."""
    return getattr(request.app.state, "network", None)


def _read(upload: UploadFile, fallback: str, limit: int) -> UploadedFile:
    data = upload.file.read(limit + 1)
    name = safe_name(upload.filename, fallback)
    if len(data) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"{name} is larger than {limit // 1024:,} KB"
        )
    return UploadedFile(name, data)


def _rejected(problems: list[Problem], detail: str | None = None) -> JSONResponse:
    """Every problem at once, nothing stored: as a caseload upload is refused."""
    report = ValidationReport(
        detail=detail or f"{len(problems)} problem(s) found; nothing was stored",
        problems=problems,
    )
    return JSONResponse(report.model_dump(), status_code=422)


def _stored_caseload_rejected(exc: io.InputError) -> JSONResponse:
    """A stored caseload that no longer reads (the server's road network changed): its
    problems without their values, since the caller may be a planner."""
    return _rejected(value_free_problems(exc.problems), stored_caseload_detail(len(exc.problems)))


def _caseload_or_404(session: Session, caseload_id: int) -> Caseload:
    caseload = session.get(Caseload, caseload_id)
    if caseload is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such caseload")
    return caseload


# --------------------------------------------------------------------------------------------
# Fair access


@router.post(
    "/fair-access",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=REJECTED,
    tags=["fair access"],
)
def start_fair_access(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(Role.CASE_OFFICER, Role.ADMIN))],
    caseload_id: CaseloadIdForm,
    history: Annotated[
        UploadFile | None,
        File(
            description="fair access placements per school in the last 12 months (columns urn, "
            "placements_last_12_months), .csv or .xlsx; without it every school starts at zero"
        ),
    ] = None,
    max_per_school: Annotated[
        int | None, Form(ge=1, le=10_000, description="at most this many per school this round")
    ] = None,
    time_limit_seconds: Annotated[
        float, Form(ge=1, le=600, description="seconds for CP-SAT")
    ] = 10.0,
    primary_limit_minutes: PrimaryLimitForm = 45.0,
    secondary_limit_minutes: SecondaryLimitForm = 75.0,
) -> RunOut | JSONResponse:
    """Queue ``sendmatch fair-access`` on a caseload; poll ``GET /runs/{id}`` until done.

    The history file is checked now with the CLI's reader: a 422 lists every problem (file,
    row, column) and nothing is stored.
    """
    _caseload_or_404(session, caseload_id)
    history_file = None
    if history is not None:
        history_file = _read(history, "history.csv", MAX_HISTORY_BYTES)
        try:
            read_fap_history(history_file)
        except io.InputError as exc:
            return _rejected(
                [
                    Problem(file=p.file, row=p.row, field=p.field, message=p.message)
                    for p in exc.problems
                ]
            )
    run = Run(
        kind=RunKind.FAIR_ACCESS.value,
        caseload_id=caseload_id,
        options={
            "primary_limit_minutes": primary_limit_minutes,
            "secondary_limit_minutes": secondary_limit_minutes,
            "max_per_school": max_per_school,
            "time_limit_seconds": time_limit_seconds,
        },
        input_name=None if history_file is None else history_file.name,
        input_data=None if history_file is None else history_file.data,
        started_by=user.id,
    )
    session.add(run)
    session.commit()
    request.app.state.runs.queue(background, execute_fair_access_run, run.id, _network(request))
    return run_out(run)


@router.get(
    "/{run_id}/fair-access",
    response_model=FairAccessSummaryOut,
    responses=NOT_READY,
    tags=["fair access"],
)
def get_fair_access_summary(
    run_id: PathId, session: SessionDep, _user: AnyRole
) -> FairAccessSummaryOut:
    """LA-wide figures: each school's load, the highest load, and the solver's proof."""
    run = get_done_run(session, run_id, RunKind.FAIR_ACCESS)
    return FairAccessSummaryOut.model_validate(run.summary)


@router.get(
    "/{run_id}/fair-access/{child_id}",
    response_model=FairAccessChildOut,
    responses=NOT_READY,
    tags=["fair access"],
)
def get_fair_access_child(
    run_id: PathId,
    child_id: ChildIdPath,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(*CHILD_ROLES))],
) -> FairAccessChildOut:
    """One child's proposed school, the balanced alternatives and the excluded schools, each
    with its reason; the read is recorded in the audit trail."""
    get_done_run(session, run_id, RunKind.FAIR_ACCESS)
    row = get_result_or_404(session, run_id, child_id)
    session.add(ChildRead(user_id=user.id, run_id=run_id, child_id=child_id))
    session.commit()
    return FairAccessChildOut.model_validate({"run_id": run_id, **row.result})


# --------------------------------------------------------------------------------------------
# Scenario comparison


@router.post(
    "/scenario-compare",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=REJECTED,
    tags=["scenarios"],
)
def start_scenario_compare(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN))],
    caseload_id: CaseloadIdForm,
    scenarios: Annotated[
        list[UploadFile],
        File(description="scenario files (.yaml, .yml or .json): each a name and its edits"),
    ],
    primary_limit_minutes: PrimaryLimitForm = 45.0,
    secondary_limit_minutes: SecondaryLimitForm = 75.0,
    la_code: Annotated[
        str | None, Form(max_length=10, description="home LA for children whose record has none")
    ] = None,
) -> RunOut | JSONResponse:
    """Queue ``sendmatch scenario compare`` of the scenario files against a caseload.

    The files are checked now as the CLI checks them (each field, distinct names, URNs that
    exist in the caseload): a 422 gives every problem with its file and field path
    (``edits[2].total_places``) and nothing is stored.
    """
    caseload = _caseload_or_404(session, caseload_id)
    if len(scenarios) > MAX_SCENARIO_FILES:
        raise HTTPException(
            422,
            f"at most {MAX_SCENARIO_FILES} scenario files in one comparison",
        )
    files = [
        _read(upload, f"scenario-{k}.yaml", MAX_SCENARIO_BYTES)
        for k, upload in enumerate(scenarios, start=1)
    ]
    try:
        loaded = validate_scenarios(caseload_inputs(caseload, _network(request)), files)
    except io.InputError as exc:
        return _stored_caseload_rejected(exc)
    except ScenarioError as exc:
        return _rejected(
            [Problem(file=p.file, row=None, field=p.field, message=p.message) for p in exc.problems]
        )
    run = Run(
        kind=RunKind.SCENARIO_COMPARE.value,
        caseload_id=caseload_id,
        options={
            "primary_limit_minutes": primary_limit_minutes,
            "secondary_limit_minutes": secondary_limit_minutes,
            "la_code": la_code,
            "scenario_names": [s.name for s in loaded],
            "scenario_files": [{"name": f.name, "text": f.data.decode("utf-8")} for f in files],
        },
        started_by=user.id,
    )
    session.add(run)
    session.commit()
    request.app.state.runs.queue(
        background, execute_scenario_compare_run, run.id, _network(request)
    )
    return run_out(run)


@router.get(
    "/{run_id}/comparison", response_model=ComparisonOut, responses=NOT_READY, tags=["scenarios"]
)
def get_comparison(run_id: PathId, session: SessionDep, _user: AnyRole) -> ComparisonOut:
    """The side-by-side table (base first, each scenario and its change against the base),
    unplaced children by need, and the new sites: LA-wide figures only."""
    run = get_done_run(session, run_id, RunKind.SCENARIO_COMPARE)
    return ComparisonOut.model_validate(run.summary)


@router.get(
    "/{run_id}/comparison/map",
    response_class=HTMLResponse,
    responses={
        200: {
            "content": {"text/html": {}, "image/png": {}},
            "description": "the map: an offline HTML page (pan and zoom), or a PNG",
        },
        403: {"description": "view=points asked for by a role that may not see homes"},
        404: {"description": "no such comparison run, or the site is not in it"},
        409: {"description": "the run is not done, or its caseload no longer passes the checks"},
        501: {"description": "a PNG needs matplotlib, which the server does not have"},
        503: {"description": "the homes' reads could not be audited, so nothing was sent"},
    },
    tags=["scenarios"],
)
def get_comparison_map(
    run_id: PathId,
    request: Request,
    session: SessionDep,
    user: AnyRole,
    site: Annotated[
        str, Query(min_length=1, max_length=32, description="URN of a setting, e.g. a new site")
    ],
    scenario: Annotated[
        str | None,
        Query(
            max_length=64,
            description="the scenario to map it in (or Base); default: the first that has it",
        ),
    ] = None,
    format: Annotated[Literal["html", "png"], Query(description="html or png")] = "html",
    view: Annotated[
        MapView,
        Query(
            description="cells: children counted per hexagon, small counts not drawn (every "
            "role); points: each home as a dot (panel members, case officers and admins, "
            "every home shown recorded in the read audit)"
        ),
    ] = "cells",
) -> Response:
    """The CLI's ``--map-site`` map: the catchment of the site in the scenario, and
    drive-time bands. Self-contained: nothing is fetched from anywhere.

    By default the catchment is counted in hexagons of the server's size
    (``SENDMATCH_MAP_CELL_KM``, default 2 km across) and a hexagon with fewer children than
    ``SENDMATCH_MAP_MIN_COUNT`` (default 5) is not drawn. ``view=points`` draws each home as
    an unlabelled dot instead; every child shown is written to the read audit before the map
    is sent.
    """
    if view == "points" and user.role not in CHILD_ROLES:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "your role sees the catchment counted per area (view=cells); homes are shown to "
            "panel members, case officers and admins only",
        )
    run = get_done_run(session, run_id, RunKind.SCENARIO_COMPARE)
    cells = map_cell_rules() if view == "cells" else None
    key = (request.app.state.db.url, run_id, run.created_at, site, scenario, format, view, cells)
    drawn = map_cache.get(key)
    if drawn is None:
        caseload = session.get_one(Caseload, run.caseload_id)
        try:
            inputs = caseload_inputs(caseload, _network(request))
            drawn = render_comparison_map(
                inputs, run.options, site, scenario, format, _network(request), cells=cells
            )
        except io.InputError as exc:
            detail = stored_caseload_detail(len(exc.problems))
            raise HTTPException(status.HTTP_409_CONFLICT, detail) from None
        except UnknownSiteError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except MapDependencyError as exc:
            raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, str(exc)) from None
        map_cache.put(key, drawn)
    if drawn.child_ids:
        _audit_homes_shown(request, session, user, run_id, drawn.child_ids)
    media = "text/html; charset=utf-8" if format == "html" else "image/png"
    # Children's data either way: no shared cache (proxy, browser disk) may keep the map.
    return Response(drawn.body, media_type=media, headers={"Cache-Control": "no-store"})


def _audit_homes_shown(
    request: Request, session: Session, user: User, run_id: int, child_ids: tuple[str, ...]
) -> None:
    """One read per child whose home the map shows, committed before the map is sent.

    A dot is the child's home, read from the child's record: it is audited as opening the
    record is, one row per child, so the trail answers "who has seen where this child lives".
    """
    user_id = user.id
    session.commit()  # end the read transaction: the audit's write must not wait for it
    at = utcnow()
    rows = [{"user_id": user_id, "run_id": run_id, "child_id": c, "at": at} for c in child_ids]
    try:
        with request.app.state.db.sessions() as audit, audit.begin():
            audit.execute(insert(ChildRead), rows)
    except SQLAlchemyError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the homes shown could not be recorded in the audit trail; try again",
        ) from None
