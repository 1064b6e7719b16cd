"""Runs: placements computed in the background, their status and progress, cancelling them,
the list of a run's children, and one child's result with its tailored list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request, status
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.auth import require_roles
from api.child_reads import AuditUnavailable, read_recorder
from api.db import (
    Caseload,
    Role,
    Run,
    RunKind,
    RunResult,
    RunStatus,
    User,
    get_session,
    utcnow,
)
from api.jobs import (
    execute_placement_run,
    is_interrupted,
    mark_interrupted_runs,
    rows_changed,
)
from api.schemas import (
    MAX_ROW_ID,
    ChildIdPath,
    ChildPlacementOut,
    ChildSummaryOut,
    PathId,
    RunCreate,
    RunOut,
    TailoredListOut,
)

router = APIRouter(prefix="/runs", tags=["runs"])

SessionDep = Annotated[Session, Depends(get_session, scope="function")]
# Roles that work with individual children. Planners see LA-wide figures only.
CHILD_ROLES = (Role.PANEL_MEMBER, Role.CASE_OFFICER, Role.ADMIN)
# Roles that start runs, and so may stop them.
RUN_ROLES = (Role.CASE_OFFICER, Role.ADMIN)
# Planners start scenario comparisons and forecasts, so they may stop those too.
PLANNER_RUNS = (RunKind.SCENARIO_COMPARE, RunKind.FORECAST)
#: Children per page of a run's child list: a page a browser renders at once.
MAX_CHILDREN_PAGE = 1000


def run_out(run: Run) -> RunOut:
    return RunOut(
        id=run.id,
        kind=RunKind(run.kind),
        status=RunStatus(run.status),
        progress=run.progress,
        stage=run.stage,
        cancel_requested=run.cancel_requested,
        caseload_id=run.caseload_id,
        started_by=run.starter.username,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        summary=run.summary,
        error=run.error,
    )


def get_run_or_404(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such run")
    return run


def get_done_run(session: Session, run_id: int, kind: RunKind | None = None) -> Run:
    """A run whose results exist; 409 while it is queued or running, or if it failed.

    With ``kind``, a run of another kind is a 404: its results have another shape and live
    under another path.
    """
    run = get_run_or_404(session, run_id)
    if kind is not None and run.kind != kind:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"run {run_id} is a {run.kind} run, not {kind.value}"
        )
    if run.status != RunStatus.DONE:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the run is {run.status}, not done")
    return run


def get_result_or_404(session: Session, run_id: int, child_id: str) -> RunResult:
    row = session.scalar(
        select(RunResult).where(RunResult.run_id == run_id, RunResult.child_id == child_id)
    )
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child in this run")
    return row


@router.post("", response_model=RunOut, status_code=status.HTTP_202_ACCEPTED)
def start_run(
    body: RunCreate,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(*RUN_ROLES))],
) -> RunOut:
    """Queue a placement of a caseload and every child's tailored list; poll ``GET /runs/{id}``
    (``progress``, ``stage``) until it is done, failed or cancelled."""
    if session.get(Caseload, body.caseload_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such caseload")
    run = Run(
        kind="placement",
        caseload_id=body.caseload_id,
        options=body.model_dump(exclude={"caseload_id"}),
        started_by=user.id,
    )
    session.add(run)
    session.commit()
    request.app.state.runs.queue(
        background, execute_placement_run, run.id, getattr(request.app.state, "network", None)
    )
    return run_out(run)


@router.post(
    "/{run_id}/cancel",
    response_model=RunOut,
    responses={409: {"description": "the run has finished: nothing to cancel"}},
)
def cancel_run(
    run_id: PathId,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(*RUN_ROLES, Role.PLANNER))],
) -> RunOut:
    """Stop a run. A queued run is cancelled at once; a running one is asked to stop and ends
    ``cancelled`` at its next check (between stages), keeping no results. Asking again is
    harmless; a run that has already finished cannot be cancelled (409). Planners may stop
    scenario comparisons and forecasts only."""
    found = get_run_or_404(session, run_id)
    if user.role == Role.PLANNER and found.kind not in PLANNER_RUNS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "your role does not allow this")
    # Conditional updates, so a run that starts or finishes meanwhile is never half-cancelled.
    queued = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
        .values(
            status=RunStatus.CANCELLED.value,
            cancel_requested=True,
            stage="cancelled",
            finished_at=utcnow(),
        )
    )
    if rows_changed(queued) == 0:
        session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.RUNNING.value)
            .values(cancel_requested=True, stage="stopping: cancel requested")
        )
    session.commit()
    run = get_run_or_404(session, run_id)
    session.refresh(run)
    if run.status in (RunStatus.DONE, RunStatus.FAILED):
        raise HTTPException(status.HTTP_409_CONFLICT, f"the run is {run.status}: nothing to cancel")
    return run_out(run)


@router.get("/{run_id}", response_model=RunOut)
def get_run(
    run_id: PathId,
    session: SessionDep,
    _user: Annotated[User, Depends(require_roles(*Role))],
) -> RunOut:
    """Status and LA-wide summary (no child's data, so every role may read it).

    A run whose process stopped beating is marked failed here, so a poller learns of a crash
    in another server process without waiting for a restart. Whether it stopped is judged
    from the row just read: a poll of a live run writes nothing and takes no lock, and only a
    stale run is written, in the request's own session (one connection per request: a second
    one, with many pollers, would wait for connections they all hold).
    """
    run = get_run_or_404(session, run_id)
    if is_interrupted(run):
        mark_interrupted_runs(session, [run_id])
        session.commit()
        session.refresh(run)
    return run_out(run)


@router.get("/{run_id}/children", response_model=list[ChildSummaryOut])
def list_children(
    run_id: PathId,
    session: SessionDep,
    _user: Annotated[User, Depends(require_roles(*CHILD_ROLES))],
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_CHILDREN_PAGE)] = 100,
    unplaced_only: bool = False,
) -> list[ChildSummaryOut]:
    """A page of the run's children, by child id: enough to pick one. Opening a child's record
    (``GET /runs/{id}/children/{child_id}``) is what the audit trail records."""
    get_done_run(session, run_id, RunKind.PLACEMENT)
    result = RunResult.result
    query = (
        select(
            RunResult.child_id,
            result["setting_urn"].as_string(),
            result["setting_name"].as_string(),
            result["placement_kind"].as_string(),
            result["preference_rank"].as_integer(),
            result["travel_minutes"].as_float(),
        )
        .where(RunResult.run_id == run_id)
        .order_by(RunResult.child_id)
        .offset(offset)
        .limit(limit)
    )
    if unplaced_only:
        query = query.where(result["setting_urn"].as_string().is_(None))
    return [
        ChildSummaryOut(
            child_id=child_id,
            setting_urn=urn,
            setting_name=name,
            placement_kind=kind,
            preference_rank=rank,
            travel_minutes=minutes,
        )
        for child_id, urn, name, kind, rank, minutes in session.execute(query)
    ]


@router.get(
    "/{run_id}/children/{child_id}",
    response_model=ChildPlacementOut,
    responses={503: {"description": "the read could not be audited, so nothing was sent"}},
)
def get_child(
    run_id: PathId,
    child_id: ChildIdPath,
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(*CHILD_ROLES))],
) -> ChildPlacementOut:
    """One child's proposed placement, its reason and the child's tailored list (the options,
    the settings ruled out and why, each parental preference's ground). The read is committed
    to the audit trail before anything is sent."""
    get_done_run(session, run_id, RunKind.PLACEMENT)
    r = get_result_or_404(session, run_id, child_id).result
    user_id = user.id
    session.commit()  # end the read transaction: the audit writer must not wait for it
    try:
        read_recorder(request.app).record(user_id, run_id, child_id)
    except AuditUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{exc}; try again") from None
    return ChildPlacementOut(
        run_id=run_id,
        child_id=child_id,
        setting_urn=r["setting_urn"],
        setting_name=r["setting_name"],
        placement_kind=r["placement_kind"],
        provision=r["provision"],
        preference_rank=r["preference_rank"],
        travel_minutes=r["travel_minutes"],
        placement_cost=r["placement_cost"],
        transport_cost=r["transport_cost"],
        out_of_area=r["out_of_area"] == "yes",
        reason=r["reason"],
        tailored_list=(
            TailoredListOut.model_validate(r["tailored_list"]) if r.get("tailored_list") else None
        ),
    )
