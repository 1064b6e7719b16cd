"""The audit page for administrators: who read which child's record, and the panel's decisions,
newest first, with settings by name (through them, the DPO answers a subject access request or
a complaint without reading the database)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import SessionDep
from api.child_details import setting_names
from api.db import ChildRead, Decision, Role, Run
from api.pages import navigation
from api.pages.routes_child import decision_line
from api.pages.sessions import PageSession, page_session
from api.pages.templating import long_date, render
from api.schemas import MAX_ROW_ID

router = APIRouter(prefix="/app/audit", include_in_schema=False)
navigation.register(
    "Audit",
    "/app/audit",
    (Role.ADMIN,),
    description="See who read which child's record, and every panel decision.",
    order=80,
)

#: Rows of each table on the page, newest first.
AUDIT_ROWS = 100


def names_by_run(session: Session, run_ids: set[int]) -> dict[int, dict[str, str]]:
    """Each run's caseload's setting names (runs of one caseload share one read)."""
    query = select(Run.id, Run.caseload_id).where(Run.id.in_(run_ids))
    caseloads: dict[int, int | None] = {
        run_id: caseload for run_id, caseload in session.execute(query)
    }
    return {run_id: setting_names(session, caseloads.get(run_id)) for run_id in run_ids}


@router.get("", response_class=HTMLResponse)
def audit(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session(Role.ADMIN))],
    child: Annotated[str, Query(max_length=100)] = "",
    run: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The latest reads and decisions, for one child and/or one run if asked."""
    child_id = child.strip()
    run_id = int(run) if run.strip().isdigit() and 0 < int(run) <= MAX_ROW_ID else None
    errors = []
    if run.strip() and run_id is None:
        errors.append({"text": "Enter a run number, like 12", "href": "#run"})
    reads = select(ChildRead).order_by(ChildRead.id.desc()).limit(AUDIT_ROWS)
    decisions = select(Decision).order_by(Decision.id.desc()).limit(AUDIT_ROWS)
    if child_id:
        reads = reads.where(ChildRead.child_id == child_id)
        decisions = decisions.where(Decision.child_id == child_id)
    if run_id is not None:
        reads = reads.where(ChildRead.run_id == run_id)
        decisions = decisions.where(Decision.run_id == run_id)
    read_rows = [
        {"when": long_date(r.at), "who": r.user.username, "run": r.run_id, "child": r.child_id}
        for r in session.scalars(reads)
    ]
    found = list(session.scalars(decisions))
    names = names_by_run(session, {d.run_id for d in found})
    decision_rows = [(d.run_id, d.child_id, decision_line(d, names[d.run_id])) for d in found]
    return render(
        request,
        "audit.html",
        page,
        status_code=400 if errors else 200,
        title="Audit",
        errors=errors,
        field_errors={"run": errors[0]["text"]} if errors else {},
        child=child_id,
        run=run.strip(),
        reads=read_rows,
        decisions=decision_rows,
        limit=AUDIT_ROWS,
    )
