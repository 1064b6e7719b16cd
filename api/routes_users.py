"""Users: an administrator creates accounts with a role; anyone signed in can see who they are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy.orm import Session

from api.auth import CurrentUser, create_user, require_roles
from api.db import Role, User, get_session
from api.schemas import UserCreate, UserOut

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def add_user(
    body: UserCreate,
    session: Annotated[Session, Depends(get_session)],
    _admin: Annotated[User, Depends(require_roles(Role.ADMIN))],
) -> User:
    """Create a user with a role (admin only)."""
    try:
        user = create_user(session, body.username, body.password, body.role)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    return user


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    """The signed-in user, so a client can show the role and hide what it cannot do."""
    return user
