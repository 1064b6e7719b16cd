"""The audit of who read which child's record: for administrators (and through them, the DPO)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import require_roles
from api.db import ChildRead, Role, User, get_session
from api.schemas import MAX_ROW_ID, ChildReadOut

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/reads", response_model=list[ChildReadOut])
def child_reads(
    session: Annotated[Session, Depends(get_session, scope="function")],
    _admin: Annotated[User, Depends(require_roles(Role.ADMIN))],
    child_id: Annotated[str | None, Query(max_length=100)] = None,
    run_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> list[ChildReadOut]:
    """Reads of children's records, oldest first, optionally for one child or one run."""
    query = select(ChildRead).order_by(ChildRead.id)
    if child_id is not None:
        query = query.where(ChildRead.child_id == child_id)
    if run_id is not None:
        query = query.where(ChildRead.run_id == run_id)
    rows = session.scalars(query.offset(offset).limit(limit))
    return [
        ChildReadOut(
            id=r.id, username=r.user.username, run_id=r.run_id, child_id=r.child_id, at=r.at
        )
        for r in rows
    ]
