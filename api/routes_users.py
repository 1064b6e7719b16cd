"""Users: an administrator creates accounts with a role, changes roles and disables leavers;
anyone signed in can see who they are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import CurrentUser, create_user, require_roles, revoke_tokens
from api.db import Role, User, get_session
from api.schemas import PathId, RequestModel, UserCreate, UserOut

router = APIRouter(prefix="/users", tags=["users"])

SessionDep = Annotated[Session, Depends(get_session, scope="function")]
AdminDep = Annotated[User, Depends(require_roles(Role.ADMIN))]


class UserUpdate(RequestModel):
    """What an administrator may change about an account; fields left out stay as they are."""

    active: bool | None = Field(
        None, description="false disables the account and ends all its sessions at once"
    )
    role: Role | None = None


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def add_user(body: UserCreate, session: SessionDep, _admin: AdminDep) -> User:
    """Create a user with a role (admin only)."""
    try:
        user = create_user(session, body.username, body.password, body.role)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    return user


@router.get("", response_model=list[UserOut])
def list_users(session: SessionDep, _admin: AdminDep) -> list[User]:
    """Every account, oldest first (admin only), to find the one to change or disable."""
    return list(session.scalars(select(User).order_by(User.id)))


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    """The signed-in user, so a client can show the role and hide what it cannot do."""
    return user


@router.patch("/{user_id}", response_model=UserOut)
def update_user(user_id: PathId, body: UserUpdate, session: SessionDep, admin: AdminDep) -> User:
    """Change a user's role or disable them (admin only).

    Disabling ends every session of theirs at once, on every server: a leaver's token stops
    working the moment they are disabled, not when it would have expired. Enabling them again
    does not revive those sessions; they sign in afresh. An administrator cannot disable or
    demote themselves, so the service is never left without one by accident.
    """
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {user_id}")
    if user.id == admin.id and (body.active is False or body.role not in (None, Role.ADMIN)):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "you cannot disable or demote yourself; another administrator can",
        )
    if body.role is not None:
        user.role = body.role.value
    if body.active is not None:
        if not body.active:
            revoke_tokens(session, user.id)
        user.active = body.active
    session.commit()
    return user
