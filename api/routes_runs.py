"""Runs: placements computed in the background, their status, and one child's result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import require_roles
from api.db import (
    Caseload,
    ChildRead,
    Role,
    Run,
    RunKind,
    RunResult,
    RunStatus,
    User,
    get_session,
)
from api.jobs import execute_placement_run
from api.schemas import ChildPlacementOut, PathId, RunCreate, RunOut

router = APIRouter(prefix="/runs", tags=["runs"])

SessionDep = Annotated[Session, Depends(get_session)]
# Roles that work with individual children. Planners see LA-wide figures only.
CHILD_ROLES = (Role.PANEL_MEMBER, Role.CASE_OFFICER, Role.ADMIN)


def run_out(run: Run) -> RunOut:
    return RunOut(
        id=run.id,
        kind=RunKind(run.kind),
        status=RunStatus(run.status),
        progress=run.progress,
        stage=run.stage,
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


def get_done_run(session: Session, run_id: int) -> Run:
    """A run whose results exist; 409 while it is queued or running, or if it failed."""
    run = get_run_or_404(session, run_id)
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
    user: Annotated[User, Depends(require_roles(Role.CASE_OFFICER, Role.ADMIN))],
) -> RunOut:
    """Queue a placement of a caseload; poll ``GET /runs/{id}`` until it is done or failed."""
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
    background.add_task(execute_placement_run, request.app.state.db, run.id)
    return run_out(run)


@router.get("/{run_id}", response_model=RunOut)
def get_run(
    run_id: PathId, session: SessionDep, _user: Annotated[User, Depends(require_roles(*Role))]
) -> RunOut:
    """Status and LA-wide summary (no child's data, so every role may read it)."""
    return run_out(get_run_or_404(session, run_id))


@router.get("/{run_id}/children/{child_id}", response_model=ChildPlacementOut)
def get_child(
    run_id: PathId,
    child_id: str,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(*CHILD_ROLES))],
) -> ChildPlacementOut:
    """One child's proposed placement and reason; the read is recorded in the audit trail."""
    get_done_run(session, run_id)
    row = get_result_or_404(session, run_id, child_id)
    session.add(ChildRead(user_id=user.id, run_id=run_id, child_id=child_id))
    session.commit()
    r = row.result
    return ChildPlacementOut(
        run_id=run_id,
        child_id=row.child_id,
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
    )
