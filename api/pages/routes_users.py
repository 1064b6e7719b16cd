"""The users page for administrators: everyone's account and role, adding an account, and
turning an account off (which ends its sessions at once) or on again.

Adding and changing go through the JSON routes' own functions (:mod:`api.routes_users`), so
their rules hold here too: names are unique regardless of case, passwords have at least 12
characters, and an administrator cannot turn off their own account.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import MIN_PASSWORD_LENGTH, SessionDep, create_user
from api.db import Role
from api.pages import navigation
from api.pages.sessions import PageSession, page_form, page_session
from api.pages.templating import ROLE_NAMES, render
from api.routes_users import UserUpdate, list_users, update_user
from api.schemas import PathId

router = APIRouter(prefix="/app/users", include_in_schema=False)

navigation.register(
    "Users",
    "/app/users",
    (Role.ADMIN,),
    description="Add people, choose what each may do, and turn off a leaver's account.",
    order=90,
)
#: What each role may do, as the users page explains it.
ROLE_HINTS = {
    Role.CASE_OFFICER.value: (
        "Uploads caseloads, starts placement runs and sees children's records."
    ),
    Role.PANEL_MEMBER.value: "Sees children's records and records the panel's decisions.",
    Role.PLANNER.value: (
        "Compares scenarios and forecasts demand; sees figures for the whole LA only."
    ),
    Role.ADMIN.value: "Everything, and manages users.",
}


@router.get("", response_class=HTMLResponse)
def users(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session(Role.ADMIN))],
    added: str = "",
) -> Response:
    # Named only if it is an account, so a crafted link cannot put words on the page.
    known = added and any(a.username == added for a in list_users(session, page.user))
    return _page(request, session, page, notice=f"{added} can now sign in." if known else None)


@router.post("", response_class=HTMLResponse)
def add(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_form(Role.ADMIN))],
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    """Add an account (as ``POST /users``), or show the form again with what is wrong."""
    username = username.strip()[:200]
    field_errors: dict[str, str] = {}
    if not username:
        field_errors["username"] = "Enter a username"
    if len(password) < MIN_PASSWORD_LENGTH:
        field_errors["password"] = f"Enter a password of at least {MIN_PASSWORD_LENGTH} characters"
    if role not in ROLE_NAMES:
        field_errors["role"] = "Select what the person may do"
    if not field_errors:
        try:
            create_user(session, username, password[:1024], Role(role))
        except ValueError as exc:
            message = str(exc)
            field = "password" if "password" in message else "username"
            field_errors[field] = message[:1].upper() + message[1:]
        else:
            session.commit()
            return RedirectResponse(f"/app/users?added={username}", status_code=303)
    session.rollback()
    errors = [
        {"text": t, "href": f"#{'role' if f == 'role' else f}"} for f, t in field_errors.items()
    ]
    typed = {"username": username, "role": role}
    return _page(request, session, page, errors, field_errors, typed, status_code=400)


@router.post("/{user_id}/active")
def set_active(
    user_id: PathId,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_form(Role.ADMIN))],
    active: Annotated[str, Form()] = "",
) -> Response:
    """Turn an account off (ending its sessions) or on, as ``PATCH /users/{id}``."""
    try:
        update_user(user_id, UserUpdate(active=active == "yes", role=None), session, page.user)
    except HTTPException as exc:
        if exc.status_code != 409:
            raise
        return RedirectResponse("/app/users?refused=self", status_code=303)
    return RedirectResponse("/app/users", status_code=303)


def _page(
    request: Request,
    session: SessionDep,
    page: PageSession,
    errors: list[dict[str, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    refused = request.query_params.get("refused") == "self"
    return render(
        request,
        "users.html",
        page,
        status_code=status_code,
        title="Users",
        accounts=list_users(session, page.user),
        errors=errors or [],
        field_errors=field_errors or {},
        typed=typed or {},
        notice=notice,
        refused=refused,
        role_hints=ROLE_HINTS,
        min_password=MIN_PASSWORD_LENGTH,
    )
