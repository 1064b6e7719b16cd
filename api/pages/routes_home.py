"""Signing in and out of the pages, and the home page listing what the user's role can do."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import SessionDep, authenticate, issue_token, live_token
from api.db import Role, utcnow
from api.pages import navigation
from api.pages.sessions import (
    COOKIE,
    COOKIE_PATH,
    HOME,
    SIGN_IN,
    PageSession,
    cookie_max_age,
    cookie_token,
    local_page,
    page_form,
    page_session,
)
from api.pages.templating import render
from api.sign_in_throttle import SignInGuard, SignInRefused

router = APIRouter(prefix="/app", include_in_schema=False)

navigation.register(
    "Home", HOME, tuple(Role), description="What you can do in this service.", order=0
)

#: Longest username or password read from the form; longer ones simply do not match.
MAX_FIELD = 1000
#: The sign-in form's own CSRF pair (login CSRF: another site must not sign a user in to an
#: account of its choosing). There is no session yet to derive a field from, so the form
#: carries a random value that must equal the cookie set with it ("double submit").
SIGN_IN_COOKIE = "sendmatch_sign_in"
SIGN_IN_FIELD = "sign_in_token"
#: How long a sign-in form may be left open before it must be reloaded.
SIGN_IN_FORM_SECONDS = 30 * 60
FORM_EXPIRED = "Your sign-in form expired, try again"


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request, next: str = HOME, signed_out: bool = False, done: bool = False
) -> Response:
    """The sign-in form; "You have been signed out" when a session ended under the user."""
    notice = (
        "You have been signed out. Sign in again to carry on."
        if signed_out
        else "You have signed out."
        if done
        else None
    )
    return _form(request, local_page(next), notice=notice)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
    sign_in_token: Annotated[str, Form()] = "",
) -> Response:
    """Check the form's token against its cookie, then the password (throttled as
    ``POST /auth/token``), then set the session cookie and go back to the page asked for, if
    it is one of ours."""
    username, password, next_page = username[:MAX_FIELD].strip(), password[:MAX_FIELD], next
    if not _form_is_ours(request, sign_in_token):
        return _form(request, next_page, username, {"username": FORM_EXPIRED}, status_code=400)
    field_errors = {}
    if not username:
        field_errors["username"] = "Enter your username"
    if not password:
        field_errors["password"] = "Enter your password"
    if field_errors:
        return _form(request, next_page, username, field_errors, status_code=400)
    guard: SignInGuard = request.app.state.sign_in
    address = request.client.host if request.client else "unknown"
    try:
        guard.check(username, address)
        with guard.password_check():
            guard.check(username, address)
            user = authenticate(session, username, password)
    except SignInRefused as exc:
        message = (
            "Sign-in is busy. Wait a few seconds and try again."
            if exc.status == 503
            else "There have been too many failed sign-ins for this username or from this "
            f"computer. Try again in {-(-exc.retry_after // 60)} minutes."
        )
        return _form(
            request,
            next_page,
            username,
            {"username": message},
            status_code=exc.status,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if user is None:
        guard.failed(username, address)
        message = "Enter a correct username and password"
        return _form(request, next_page, username, {"username": message}, status_code=401)
    guard.succeeded(username)
    response = RedirectResponse(local_page(next_page), status_code=303)
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    response.set_cookie(
        COOKIE,
        issue_token(session, user),
        max_age=cookie_max_age(),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    session: SessionDep,
    _page: Annotated[PageSession, Depends(page_form())],
) -> Response:
    """End the session as ``POST /auth/logout`` does, and forget the cookie."""
    token = cookie_token(request)
    row = live_token(session, token) if token else None
    if row is not None:
        row.revoked_at = utcnow()
        session.commit()
    response = RedirectResponse(f"{SIGN_IN}?done=1", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, page: Annotated[PageSession, Depends(page_session())]) -> Response:
    tasks = [e for e in navigation.entries_for(page.role) if e.href != HOME]
    return render(request, "home.html", page, title="Home", tasks=tasks)


def _form(
    request: Request,
    next_page: str,
    username: str = "",
    field_errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in form with a fresh token in its hidden field and in its cookie."""
    field_errors = field_errors or {}
    errors = [{"text": text, "href": f"#{field}"} for field, text in field_errors.items()]
    form_token = secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        None,
        status_code=status_code,
        headers=headers,
        title="Sign in",
        errors=errors,
        field_errors=field_errors,
        username=username,
        next_page=local_page(next_page),
        notice=notice,
        sign_in_field=SIGN_IN_FIELD,
        sign_in_token=form_token,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        form_token,
        max_age=SIGN_IN_FORM_SECONDS,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def _form_is_ours(request: Request, sent: str) -> bool:
    """Whether the form's token equals its cookie: only our own sign-in page, read by this
    browser, can know it (the cookie is HttpOnly and SameSite=Strict)."""
    kept = request.cookies.get(SIGN_IN_COOKIE, "")
    if not kept or not sent or len(sent) > MAX_FIELD:
        return False
    return hmac.compare_digest(kept.encode(), sent.encode())
