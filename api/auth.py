"""Who is calling, and may they: password hashing, bearer tokens and role checks.

Passwords are hashed with Argon2id through ``pwdlib`` (a maintained library; no home-made
crypto). Tokens are random, opaque and short-lived, and only their SHA-256 is stored, so a
leaked database backup cannot be used to act as a panel member. Opaque tokens rather than JWTs
because logging someone out, or disabling a leaver, must take effect at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pwdlib import PasswordHash
from sqlalchemy import ColumnElement, func, literal, select, update
from sqlalchemy.orm import Session

from api.db import Role, Token, User, get_session, utcnow
from api.schemas import USERNAME_PATTERN, TokenOut
from api.sign_in_throttle import SignInGuard, SignInRefused

TOKEN_LIFETIME = timedelta(hours=8)  # one working day: a shared office PC is not left signed in
MIN_PASSWORD_LENGTH = 12

password_hash = PasswordHash.recommended()
# Verified against when the username is unknown, so a failed login takes as long either way and
# response times do not reveal which usernames exist.
_DUMMY_HASH = password_hash.hash("not a real password")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token")
router = APIRouter(prefix="/auth", tags=["auth"])

SessionDep = Annotated[Session, Depends(get_session, scope="function")]

NOT_SIGNED_IN = "not signed in, or the session has expired or was ended"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, username: str, password: str, role: Role) -> User:
    """Add a user (not committed); ValueError if the name is not allowed or taken, or the
    password too short.

    Names are taken regardless of case (``PM2`` is taken when ``pm2`` exists), as the database's
    unique index on ``lower(username)`` has it: two accounts a person cannot tell apart in an
    audit trail must not exist. The rule on characters is :data:`api.schemas.USERNAME_PATTERN`,
    for ``sendmatch create-admin`` as for ``POST /users``.
    """
    if not re.fullmatch(USERNAME_PATTERN, username) or len(username) > 150:
        msg = (
            "a username has 1 to 150 characters, each a letter A-Z or a-z, a digit, "
            "or one of . _ @ -"
        )
        raise ValueError(msg)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    taken = session.scalar(select(User.username).where(_same_username(username)))
    if taken is not None:
        same = "" if taken == username else f" (as {taken!r}: case does not count)"
        raise ValueError(f"the username {username!r} is taken{same}")
    user = User(username=username, password_hash=password_hash.hash(password), role=role.value)
    session.add(user)
    session.flush()
    return user


def create_first_admin(session: Session, username: str, password: str) -> User:
    """Create and commit the first administrator of an empty database.

    Refuses once any user exists, so it cannot be used to slip in a second admin around the
    role checks of ``POST /users``.
    """
    if session.scalar(select(func.count(User.id))):
        raise ValueError("users exist already; an admin creates further users with POST /users")
    user = create_user(session, username, password, Role.ADMIN)
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this username (any case) and password, else None, taking as long
    either way."""
    user = session.scalar(select(User).where(_same_username(username)))
    if user is None:
        password_hash.verify(password, _DUMMY_HASH)
        return None
    if not password_hash.verify(password, user.password_hash) or not user.active:
        return None
    return user


def issue_token(session: Session, user: User) -> str:
    """A new random token for ``user`` (committed); the caller sees it once, we keep its hash."""
    token = secrets.token_urlsafe(32)
    session.add(
        Token(token_hash=hash_token(token), user_id=user.id, expires_at=utcnow() + TOKEN_LIFETIME)
    )
    session.commit()
    return token


@router.post(
    "/token",
    response_model=TokenOut,
    responses={
        429: {"description": "too many failed sign-ins for the username or from the address"},
        503: {"description": "too many sign-ins at once; try again in a few seconds"},
    },
)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, session: SessionDep
) -> TokenOut:
    """OAuth2 password flow: username and password in, bearer token out.

    Throttled (:mod:`api.sign_in_throttle`): a username or address with too many recent
    failures gets 429 with ``Retry-After``, and its password is not checked at all.
    """
    guard: SignInGuard = request.app.state.sign_in
    address = request.client.host if request.client else "unknown"
    try:
        guard.check(form.username, address)
        with guard.password_check():
            # Again: failures may have been counted while this sign-in waited for a worker,
            # and a burst must not get more guesses than the limit.
            guard.check(form.username, address)
            user = authenticate(session, form.username, form.password)
    except SignInRefused as exc:
        raise HTTPException(
            exc.status, exc.detail, headers={"Retry-After": str(exc.retry_after)}
        ) from None
    if user is None:
        guard.failed(form.username, address)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    guard.succeeded(form.username)
    return TokenOut(
        access_token=issue_token(session, user),
        token_type="bearer",
        expires_in=int(TOKEN_LIFETIME.total_seconds()),
    )


def live_token(session: Session, token: str) -> Token | None:
    """The row of ``token`` if it is unexpired, not revoked and of an active user, else None.

    Shared by :func:`current_token` and by :mod:`api.request_limits`, which checks the token
    before a request's body is read.
    """
    row = session.scalar(
        select(Token).where(
            Token.token_hash == hash_token(token),
            Token.expires_at > utcnow(),
            Token.revoked_at.is_(None),
        )
    )
    return row if row is not None and row.user.active else None


def current_token(token: Annotated[str, Depends(oauth2_scheme)], session: SessionDep) -> Token:
    """The caller's live token: unexpired, not revoked, of an active user; 401 otherwise."""
    row = live_token(session, token)
    if row is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"}
        )
    return row


def current_user(token: Annotated[Token, Depends(current_token)]) -> User:
    """The user a live bearer token belongs to; 401 otherwise."""
    return token.user


CurrentUser = Annotated[User, Depends(current_user)]


def revoke_tokens(session: Session, user_id: int) -> int:
    """End every live session of a user (not committed); returns how many were ended."""
    result = session.execute(
        update(Token)
        .where(Token.user_id == user_id, Token.revoked_at.is_(None), Token.expires_at > utcnow())
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def logout(token: Annotated[Token, Depends(current_token)], session: SessionDep) -> Response:
    """End this session: the token stops working at once, on every server process."""
    token.revoked_at = utcnow()
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency admitting only ``roles``: every endpoint states who it serves."""
    allowed = {r.value for r in roles}

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role does not allow this")
        return user

    return check


def _same_username(username: str) -> ColumnElement[bool]:
    # Both sides lowered by the database, so the comparison is the unique index's own.
    return func.lower(User.username) == func.lower(literal(username))
