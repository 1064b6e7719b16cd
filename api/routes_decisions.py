"""Panel decisions: an append-only record of what the panel named for a child, why, and who."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import require_roles
from api.db import Caseload, Decision, Role, User, begin_ordered_write, get_session
from api.routes_runs import CHILD_ROLES, get_done_run, get_result_or_404
from api.schemas import ChildIdQuery, DecisionCreate, DecisionOut, PathId

router = APIRouter(prefix="/runs/{run_id}/decisions", tags=["decisions"])

SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def decision_out(d: Decision) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        run_id=d.run_id,
        child_id=d.child_id,
        setting_urn=d.setting_urn,
        reasons=d.reasons,
        decided_by=d.decider.username,
        created_at=d.created_at,
    )


@router.post("", response_model=DecisionOut, status_code=status.HTTP_201_CREATED)
def record_decision(
    run_id: PathId,
    body: DecisionCreate,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(Role.PANEL_MEMBER, Role.ADMIN))],
) -> DecisionOut:
    """Add a decision; an earlier decision for the child is kept, never overwritten."""
    run = get_done_run(session, run_id)
    get_result_or_404(session, run_id, body.child_id)
    if body.setting_urn is not None:
        caseload = session.get_one(Caseload, run.caseload_id)
        if body.setting_urn not in caseload.setting_urns:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"setting {body.setting_urn} is not among this caseload's settings",
            )
    # One writer at a time per child, across every server process: the time stamped on a
    # decision and its place in the record (its id) must agree, or a panel reading the history
    # would see time run backwards. The database's lock is held from here to the commit.
    decided_at = begin_ordered_write(session, f"decisions:{run_id}:{body.child_id}")
    decision = Decision(
        run_id=run_id,
        child_id=body.child_id,
        setting_urn=body.setting_urn,
        reasons=body.reasons,
        decided_by=user.id,
        created_at=decided_at,
    )
    session.add(decision)
    session.commit()
    return decision_out(decision)


@router.get("", response_model=list[DecisionOut])
def list_decisions(
    run_id: PathId,
    session: SessionDep,
    _user: Annotated[User, Depends(require_roles(*CHILD_ROLES))],
    child_id: ChildIdQuery = None,
) -> list[DecisionOut]:
    """The decisions of a run (or one child), oldest first: the last is the one in force."""
    get_done_run(session, run_id)
    query = select(Decision).where(Decision.run_id == run_id).order_by(Decision.id)
    if child_id is not None:
        query = query.where(Decision.child_id == child_id)
    return [decision_out(d) for d in session.scalars(query)]
