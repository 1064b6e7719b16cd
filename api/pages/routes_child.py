"""The child page: who the child is, the proposed place, the tailored list in plain words, the
map, the panel's decisions; and the page comparing up to three options side by side.

Both pages show a child's record, so each view is committed to the read audit before the page
is sent, exactly as ``GET /runs/{id}/children/{child_id}`` does (:func:`read_child`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import SessionDep
from api.child_details import details_of, setting_names
from api.child_reads import AuditUnavailable, read_recorder
from api.db import Decision, DecisionOutcome, Role, Run, RunKind
from api.pages import child_words
from api.pages.child_map import child_map, map_roads
from api.pages.child_words import OptionRow
from api.pages.routes_runs import journey_model
from api.pages.sessions import PageSession, page_session
from api.pages.templating import long_date, render
from api.routes_runs import CHILD_ROLES, get_done_run, get_result_or_404
from api.schemas import ChildIdPath, PathId

router = APIRouter(prefix="/app/runs/{run_id}/children/{child_id}", include_in_schema=False)

DECIDERS = (Role.PANEL_MEMBER, Role.ADMIN)
#: Options that can be put side by side.
MAX_COMPARED = 3
OUTCOME_WORDS = {
    DecisionOutcome.AGREE.value: "Agree the proposed setting",
    DecisionOutcome.NAME_OTHER.value: "Name another setting",
    DecisionOutcome.DEFER.value: "Defer the decision",
    DecisionOutcome.REFUSE.value: "Refuse: name no setting",
}


@dataclass
class DecisionLine:
    """A recorded decision as the pages show it: settings by name."""

    id: int
    when: str
    outcome: str
    setting: str
    reasons: str
    decided_by: str
    setting_urn: str | None
    outcome_code: str | None


def outcome_text(outcome: str | None, setting_urn: str | None) -> str:
    if outcome:
        return OUTCOME_WORDS.get(outcome, outcome)
    return "Setting named" if setting_urn else "No setting named"


def setting_text(urn: str | None, names: Mapping[str, str]) -> str:
    """A setting by name; the URN only for a setting the caseload no longer names."""
    if urn is None:
        return "None"
    return names.get(urn) or f"Setting with URN {urn}"


def decision_lines(
    session: Session, run_id: int, child_id: str, names: Mapping[str, str]
) -> list[DecisionLine]:
    """The child's decisions, oldest first (the last is the one in force)."""
    query = (
        select(Decision)
        .where(Decision.run_id == run_id, Decision.child_id == child_id)
        .order_by(Decision.id)
    )
    return [decision_line(d, names) for d in session.scalars(query)]


def decision_line(d: Decision, names: Mapping[str, str]) -> DecisionLine:
    return DecisionLine(
        id=d.id,
        when=long_date(d.created_at),
        outcome=outcome_text(d.outcome, d.setting_urn),
        setting=setting_text(d.setting_urn, names),
        reasons=d.reasons,
        decided_by=d.decider.username,
        setting_urn=d.setting_urn,
        outcome_code=d.outcome,
    )


def decided_words(latest: DecisionLine | None) -> str | None:
    """What the panel decided, for the top of the page (in place of the proposal once the
    panel has named a setting)."""
    if latest is None:
        return None
    if latest.setting_urn:
        return f"Decided: {latest.setting} (recorded {latest.when})"
    if latest.outcome_code == DecisionOutcome.DEFER.value:
        return f"Decision deferred (recorded {latest.when})"
    return f"The panel named no setting (recorded {latest.when})"


def read_child(
    request: Request, session: Session, user_id: int, run_id: int, child_id: str
) -> tuple[Run, dict[str, Any]]:
    """The run and the child's stored result, once the read is in the audit trail."""
    run = get_done_run(session, run_id, RunKind.PLACEMENT)
    result = get_result_or_404(session, run_id, child_id).result
    session.commit()  # end the read transaction: the audit writer must not wait for it
    try:
        read_recorder(request.app).record(user_id, run_id, child_id)
    except AuditUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{exc}; try again") from None
    return run, result


def by_road(run: Run) -> bool:
    return str((run.summary or {}).get("travel_model") or "").startswith("road network")


@router.get("", response_class=HTMLResponse)
def child_page(
    run_id: PathId,
    child_id: ChildIdPath,
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session(*CHILD_ROLES))],
) -> Response:
    """Everything a panel needs about one child in one run."""
    return _child_page(request, session, page, run_id, child_id)


def _child_page(
    request: Request,
    session: Session,
    page: PageSession,
    run_id: int,
    child_id: str,
    errors: list[dict[str, str]] | None = None,
    ticked: Sequence[str] = (),
) -> Response:
    run, result = read_child(request, session, page.user.id, run_id, child_id)
    details = details_of(session, run, result)
    tailored = result.get("tailored_list") or {}
    rows = child_words.option_rows(result)
    names = setting_names(session, run.caseload_id)
    decisions = decision_lines(session, run_id, child_id, names)
    nc_year = None if details is None else int(details["nc_year"])
    placed = result.get("setting_urn") is not None
    return render(
        request,
        "child.html",
        page,
        status_code=400 if errors else 200,
        title=f"Child {child_id}",
        errors=errors or [],
        run=run,
        child_id=child_id,
        about=child_words.about_rows(details, tailored.get("preferences") or []),
        preferences=child_words.preference_lines(tailored.get("preferences") or []),
        proposal=child_words.proposal_words(result, by_road(run)),
        reason=result.get("reason"),
        decided=decided_words(decisions[-1] if decisions else None),
        unplaced=None if placed else child_words.unplaced_explanation(result, nc_year, run.options),
        rows=rows,
        ticked=set(ticked),
        map=child_map(tailored.get("home"), rows, map_roads(request)),
        journeys=journey_model((run.summary or {}).get("travel_model")),
        decisions=decisions,
        may_decide=page.role in DECIDERS,
        max_compared=MAX_COMPARED,
    )


@router.get("/compare", response_class=HTMLResponse)
def compare(
    run_id: PathId,
    child_id: ChildIdPath,
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session(*CHILD_ROLES))],
    option: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Two or three options of the child's list side by side (a GET form: the address can be
    shared or bookmarked, and the back button works)."""
    chosen = list(dict.fromkeys(option or []))
    if not 2 <= len(chosen) <= MAX_COMPARED:
        message = (
            f"Select up to {MAX_COMPARED} options to compare"
            if len(chosen) > MAX_COMPARED
            else "Select at least 2 options to compare"
        )
        errors = [{"text": message, "href": "#option"}]
        return _child_page(request, session, page, run_id, child_id, errors, chosen)
    run, result = read_child(request, session, page.user.id, run_id, child_id)
    rows = {r.key: r for r in child_words.option_rows(result)}
    compared: list[OptionRow] = [rows[key] for key in chosen if key in rows]
    if len(compared) != len(chosen):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "an option is not on this child's list")
    return render(
        request,
        "child_compare.html",
        page,
        title=f"Compare options for child {child_id}",
        run=run,
        child_id=child_id,
        compared=compared,
        by_road=by_road(run),
        may_decide=page.role in DECIDERS,
    )
