"""Recording a panel decision from the pages: the question, "check your answers", the record.

A decision cannot be changed once recorded (``decisions`` is append-only), so the member sees
everything on a check page before it is written. What they type is kept as a draft
(``decision_drafts``) at every step, so signing out, a session ending or a closed tab loses
nothing; recording the decision deletes the draft in the same transaction
(:func:`api.routes_decisions.record`, the JSON API's own way to record).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import SessionDep
from api.child_details import setting_names
from api.db import Decision, DecisionDraft, DecisionOutcome, Run, RunKind, User, utcnow
from api.pages.child_words import option_rows
from api.pages.routes_child import (
    DECIDERS,
    OUTCOME_WORDS,
    decision_line,
    setting_text,
)
from api.pages.sessions import PageSession, page_form, page_session
from api.pages.templating import render
from api.routes_decisions import DecisionRefused, decided_setting, record
from api.routes_runs import get_done_run, get_result_or_404
from api.schemas import ChildIdPath, PathId

router = APIRouter(prefix="/app/runs/{run_id}/children/{child_id}", include_in_schema=False)

#: As the JSON API allows (``DecisionCreate.reasons``).
MAX_REASONS = 20_000


@dataclass
class Answers:
    """The decision as typed: an outcome code, a setting URN, reasons (any may be empty)."""

    outcome: str = ""
    setting_urn: str = ""
    reasons: str = ""


def child_url(run_id: int, child_id: str) -> str:
    return f"/app/runs/{run_id}/children/{quote(child_id, safe='')}"


def load_draft(session: Session, user_id: int, run_id: int, child_id: str) -> DecisionDraft | None:
    return session.scalar(
        select(DecisionDraft).where(
            DecisionDraft.user_id == user_id,
            DecisionDraft.run_id == run_id,
            DecisionDraft.child_id == child_id,
        )
    )


def save_draft(session: Session, user_id: int, run_id: int, child_id: str, typed: Answers) -> None:
    """Keep what was typed, replacing the member's earlier draft for the child."""
    for attempt in range(2):
        draft = load_draft(session, user_id, run_id, child_id)
        if draft is None:
            draft = DecisionDraft(user_id=user_id, run_id=run_id, child_id=child_id)
            session.add(draft)
        draft.outcome = typed.outcome or None
        draft.setting_urn = typed.setting_urn or None
        draft.reasons = typed.reasons
        draft.updated_at = utcnow()
        try:
            session.commit()
            return
        except IntegrityError:  # the same member saving from two tabs at once: update theirs
            session.rollback()
            if attempt:
                raise


def answers_of(draft: DecisionDraft | None) -> Answers:
    if draft is None:
        return Answers()
    return Answers(draft.outcome or "", draft.setting_urn or "", draft.reasons)


def check_answers(
    session: Session, run: Run, child_id: str, typed: Answers
) -> tuple[dict[str, str], str | None]:
    """Field errors (by field id) and the setting the decision would name."""
    errors: dict[str, str] = {}
    outcomes = {o.value for o in DecisionOutcome}
    if typed.outcome not in outcomes:
        errors["outcome"] = "Select what the panel decided"
    if not typed.reasons.strip():
        errors["reasons"] = "Enter the panel's reasons"
    elif len(typed.reasons) > MAX_REASONS:
        errors["reasons"] = f"Reasons must be {MAX_REASONS:,} characters or fewer"
    if "outcome" in errors:
        return errors, None
    outcome = DecisionOutcome(typed.outcome)
    setting = typed.setting_urn if outcome is DecisionOutcome.NAME_OTHER else None
    if outcome is DecisionOutcome.NAME_OTHER and not setting:
        errors["setting"] = "Select the setting the panel named"
        return errors, None
    try:
        return errors, decided_setting(session, run, child_id, outcome, setting)
    except DecisionRefused as exc:
        field = "setting" if outcome is DecisionOutcome.NAME_OTHER else "outcome"
        errors[field] = _refusal_words(str(exc))
        return errors, None


def _refusal_words(message: str) -> str:
    if message.startswith("that is the proposed setting"):
        return "That is the proposed setting: select 'Agree the proposed setting' instead"
    if message.startswith("setting "):
        return "Select a setting from the list"
    return message[:1].upper() + message[1:]


def _form(
    request: Request,
    session: Session,
    page: PageSession,
    run: Run,
    child_id: str,
    typed: Answers,
    field_errors: dict[str, str] | None = None,
) -> Response:
    result = get_result_or_404(session, run.id, child_id).result
    names = setting_names(session, run.caseload_id)
    listed = [(r.urn, r.name) for r in option_rows(result) if not r.proposed]
    on_list = {urn for urn, _ in listed}
    others = sorted(
        ((urn, name) for urn, name in names.items() if urn not in on_list), key=lambda x: x[1]
    )
    proposed = result.get("setting_urn")
    field_errors = field_errors or {}
    order = ("outcome", "setting", "reasons")
    return render(
        request,
        "decision_form.html",
        page,
        status_code=400 if field_errors else 200,
        title=f"Record a decision for child {child_id}",
        errors=[{"text": field_errors[f], "href": f"#{f}"} for f in order if f in field_errors],
        field_errors=field_errors,
        run=run,
        child_id=child_id,
        child_url=child_url(run.id, child_id),
        typed=typed,
        proposed_name=setting_text(proposed, names) if proposed else None,
        listed=listed,
        others=others,
        outcome_words=OUTCOME_WORDS,
        max_reasons=MAX_REASONS,
    )


DeciderPage = Annotated[PageSession, Depends(page_session(*DECIDERS))]
DeciderForm = Annotated[PageSession, Depends(page_form(*DECIDERS))]


@router.get("/decision", response_class=HTMLResponse)
def decision_form(
    run_id: PathId,
    child_id: ChildIdPath,
    request: Request,
    session: SessionDep,
    page: DeciderPage,
    setting: str = "",
) -> Response:
    """The decision question, filled in from the member's draft (or from the compare page's
    "record a decision naming ...")."""
    run = get_done_run(session, run_id, RunKind.PLACEMENT)
    result = get_result_or_404(session, run_id, child_id).result
    typed = answers_of(load_draft(session, page.user.id, run_id, child_id))
    if setting:
        agree = setting == result.get("setting_urn")
        typed.outcome = (DecisionOutcome.AGREE if agree else DecisionOutcome.NAME_OTHER).value
        typed.setting_urn = "" if agree else setting[:20]
    return _form(request, session, page, run, child_id, typed)


@router.post("/decision", response_class=HTMLResponse)
def decision_answers(
    run_id: PathId,
    child_id: ChildIdPath,
    request: Request,
    session: SessionDep,
    page: DeciderForm,
    outcome: Annotated[str, Form()] = "",
    setting: Annotated[str, Form()] = "",
    reasons: Annotated[str, Form()] = "",
) -> Response:
    """Keep the answers as the draft, then on to "check your answers" (or back with errors)."""
    run = get_done_run(session, run_id, RunKind.PLACEMENT)
    get_result_or_404(session, run_id, child_id)
    typed = Answers(outcome[:20], setting[:20], reasons[: MAX_REASONS + 1])
    save_draft(session, page.user.id, run_id, child_id, typed)
    errors, _ = check_answers(session, run, child_id, typed)
    if errors:
        return _form(request, session, page, run, child_id, typed, errors)
    return RedirectResponse(f"{child_url(run_id, child_id)}/decision/check", status_code=303)


@router.get("/decision/check", response_class=HTMLResponse)
def check_page(
    run_id: PathId,
    child_id: ChildIdPath,
    request: Request,
    session: SessionDep,
    page: DeciderPage,
) -> Response:
    """Everything the record will say, with a way back to change each answer."""
    run = get_done_run(session, run_id, RunKind.PLACEMENT)
    typed = answers_of(load_draft(session, page.user.id, run_id, child_id))
    errors, setting_urn = check_answers(session, run, child_id, typed)
    if errors:
        return _form(request, session, page, run, child_id, typed, errors)
    names = setting_names(session, run.caseload_id)
    return render(
        request,
        "decision_check.html",
        page,
        title="Check the decision before recording it",
        run=run,
        child_id=child_id,
        child_url=child_url(run_id, child_id),
        outcome=OUTCOME_WORDS[typed.outcome],
        setting=setting_text(setting_urn, names) if setting_urn else "None",
        reasons=typed.reasons,
        decider=page.user.username,
    )


@router.post("/decision/check")
def record_decision(
    run_id: PathId,
    child_id: ChildIdPath,
    request: Request,
    session: SessionDep,
    page: DeciderForm,
) -> Response:
    """Record the checked draft; the record cannot be changed afterwards."""
    run = get_done_run(session, run_id, RunKind.PLACEMENT)
    typed = answers_of(load_draft(session, page.user.id, run_id, child_id))
    errors, _ = check_answers(session, run, child_id, typed)
    if errors:  # no draft (recorded already, from another tab) or one made invalid since
        return RedirectResponse(f"{child_url(run_id, child_id)}/decision", status_code=303)
    outcome = DecisionOutcome(typed.outcome)
    setting = typed.setting_urn if outcome is DecisionOutcome.NAME_OTHER else None
    user: User = page.user
    decision = record(session, run, child_id, outcome, setting, typed.reasons, user)
    return RedirectResponse(
        f"{child_url(run_id, child_id)}/decisions/{decision.id}", status_code=303
    )


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
def recorded(
    run_id: PathId,
    child_id: ChildIdPath,
    decision_id: PathId,
    request: Request,
    session: SessionDep,
    page: DeciderPage,
) -> Response:
    """The confirmation: the decision as recorded, with its reference."""
    run = get_done_run(session, run_id, RunKind.PLACEMENT)
    decision = session.get(Decision, decision_id)
    if decision is None or decision.run_id != run_id or decision.child_id != child_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such decision for this child")
    line = decision_line(decision, setting_names(session, run.caseload_id))
    return render(
        request,
        "decision_done.html",
        page,
        title="Decision recorded",
        run=run,
        child_id=child_id,
        child_url=child_url(run_id, child_id),
        line=line,
    )
