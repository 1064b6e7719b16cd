"""Panel decisions: an append-only record of what the panel named for a child, why, and who."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.auth import require_roles
from api.db import (
    Caseload,
    Decision,
    DecisionDraft,
    DecisionOutcome,
    Role,
    Run,
    User,
    begin_ordered_write,
    get_session,
)
from api.routes_runs import CHILD_ROLES, get_done_run, get_result_or_404
from api.schemas import ChildIdQuery, DecisionCreate, DecisionOut, PathId

router = APIRouter(prefix="/runs/{run_id}/decisions", tags=["decisions"])

SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def decision_out(d: Decision) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        run_id=d.run_id,
        child_id=d.child_id,
        outcome=DecisionOutcome(d.outcome) if d.outcome else None,
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
    try:
        decision = record(
            session, run, body.child_id, body.outcome, body.setting_urn, body.reasons, user
        )
    except DecisionRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return decision_out(decision)


class DecisionRefused(ValueError):
    """The decision does not fit its outcome or the caseload; the message says why."""


def decided_setting(
    session: Session,
    run: Run,
    child_id: str,
    outcome: DecisionOutcome | None,
    setting_urn: str | None,
) -> str | None:
    """The setting a decision names once its outcome is applied; raise :class:`DecisionRefused`
    if the two disagree (agreeing to a setting that was not proposed, naming "another" setting
    that is the proposed one, deferring while naming one)."""
    proposed = get_result_or_404(session, run.id, child_id).result.get("setting_urn")
    if outcome is DecisionOutcome.AGREE:
        if proposed is None:
            raise DecisionRefused(
                "no setting was proposed for this child, so there is nothing to agree: "
                "name another setting, defer or refuse"
            )
        if setting_urn not in (None, proposed):
            raise DecisionRefused("to agree, name the proposed setting (or leave it out)")
        setting_urn = proposed
    elif outcome is DecisionOutcome.NAME_OTHER:
        if setting_urn is None:
            raise DecisionRefused("name the setting the panel chose instead")
        if setting_urn == proposed:
            raise DecisionRefused("that is the proposed setting: record it as agreed")
    elif outcome in (DecisionOutcome.DEFER, DecisionOutcome.REFUSE) and setting_urn is not None:
        raise DecisionRefused(f"a decision to {outcome.value} names no setting")
    if setting_urn is not None:
        caseload = session.get_one(Caseload, run.caseload_id)
        if setting_urn not in caseload.setting_urns:
            raise DecisionRefused(f"setting {setting_urn} is not among this caseload's settings")
    return setting_urn


def record(
    session: Session,
    run: Run,
    child_id: str,
    outcome: DecisionOutcome | None,
    setting_urn: str | None,
    reasons: str,
    user: User,
) -> Decision:
    """Check and append a decision (the JSON API's and the page's one way to record), and
    drop the member's draft for the child in the same transaction."""
    setting_urn = decided_setting(session, run, child_id, outcome, setting_urn)
    user_id, run_id = user.id, run.id
    # One writer at a time per child, across every server process: the time stamped on a
    # decision and its place in the record (its id) must agree, or a panel reading the history
    # would see time run backwards. The database's lock is held from here to the commit.
    decided_at = begin_ordered_write(session, f"decisions:{run_id}:{child_id}")
    decision = Decision(
        run_id=run_id,
        child_id=child_id,
        outcome=outcome.value if outcome else None,
        setting_urn=setting_urn,
        reasons=reasons,
        decided_by=user_id,
        created_at=decided_at,
    )
    session.add(decision)
    session.execute(
        delete(DecisionDraft).where(
            DecisionDraft.user_id == user_id,
            DecisionDraft.run_id == run_id,
            DecisionDraft.child_id == child_id,
        )
    )
    session.commit()
    return decision


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
