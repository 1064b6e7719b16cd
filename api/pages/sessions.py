"""Who is using a page: the session cookie, its CSRF field, and the role check of each page.

The pages sign in with the same opaque tokens as the JSON API (:func:`api.auth.issue_token`),
but keep the token in an HttpOnly cookie scoped to ``/app`` instead of a script's memory, so no
script can read it. A cookie is sent by the browser on its own, which is what makes cross-site
request forgery possible, so:

- only the pages accept the cookie; the JSON API takes bearer tokens alone, and so needs no
  CSRF defence at all;
- the cookie is ``SameSite=Strict``, and every page form that changes something carries a
  field derived from the session token (:func:`csrf_token`), which another site cannot know.
"""

# No "from __future__ import annotations": FastAPI must see the closures' dependency types
# (page_form's ``signed_in``) as objects, not as names it cannot look up.

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from api.auth import TOKEN_LIFETIME, SessionDep, live_token
from api.db import Role, User

COOKIE = "sendmatch_session"
COOKIE_PATH = "/app"
CSRF_FIELD = "csrf_token"
#: Mixed into every CSRF field, so the field is good for page forms and nothing else.
CSRF_LABEL = b"sendmatch page form"
HOME = "/app/"
SIGN_IN = "/app/sign-in"
#: Where a sign-in may send the user back to: a page of ours, never another site
#: (``//evil.example`` or ``/\evil.example`` would leave it).
#: Segments each end in "/" but the last, so the pattern cannot backtrack without end.
LOCAL_PAGE = re.compile(r"^/app/(?:[A-Za-z0-9_.~-]+/)*[A-Za-z0-9_.~-]*(?:\?[A-Za-z0-9_.~=&%+-]*)?$")
#: Longest address a sign-in returns to; a longer one is nobody's bookmark.
MAX_LOCAL_PAGE = 500


@dataclass(frozen=True)
class PageSession:
    """The signed-in user of a page request, and the CSRF field their forms must carry."""

    user: User
    csrf: str

    @property
    def role(self) -> Role:
        return Role(self.user.role)


class SignInNeeded(Exception):
    """Raised by a page's dependency when there is no live session; answered with a redirect
    to the sign-in page that comes back to ``next_page`` afterwards."""

    def __init__(self, next_page: str, signed_out: bool) -> None:
        super().__init__("sign-in needed")
        self.next_page = next_page
        self.signed_out = signed_out


class PageForbidden(Exception):
    """The user's role may not see this page, or a form came without its CSRF field.

    ``page`` is the signed-in user, so the error page still offers their role's navigation.
    """

    def __init__(self, title: str, message: str, page: PageSession | None = None) -> None:
        super().__init__(title)
        self.title = title
        self.message = message
        self.page = page


def csrf_token(session_token: str) -> str:
    """The CSRF field of a session: an HMAC of its token, so it needs no storage and changes
    with every sign-in."""
    return hmac.new(session_token.encode(), CSRF_LABEL, hashlib.sha256).hexdigest()


def cookie_token(request: Request) -> str | None:
    token = request.cookies.get(COOKIE, "").strip()
    return token or None


def cookie_signed_in(session: Session, cookie_header: str) -> bool:
    """Whether a raw ``Cookie`` header holds a live session: for :mod:`api.request_limits`,
    which checks page uploads before their bodies are read."""
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return live_token(session, value) is not None
    return False


def local_page(candidate: str | None) -> str:
    """``candidate`` if it is one of our pages, else the home page: no open redirect."""
    if (
        candidate
        and len(candidate) <= MAX_LOCAL_PAGE
        and LOCAL_PAGE.fullmatch(candidate)
        and "//" not in candidate
    ):
        path = candidate.partition("?")[0]
        if not {".", ".."} & set(path.split("/")):  # no way out of /app/ by dot segments
            return candidate
    return HOME


def sign_in_url(next_page: str, signed_out: bool) -> str:
    query = f"next={quote(local_page(next_page), safe='/')}"
    return f"{SIGN_IN}?{query}&signed_out=1" if signed_out else f"{SIGN_IN}?{query}"


def page_session(*roles: Role) -> Callable[[Request, Session], PageSession]:
    """A dependency admitting the signed-in users of ``roles`` (every role when none given).

    No session: a redirect to sign-in, saying "You have been signed out" when a cookie was
    sent but has expired or was ended. A role not admitted: a GOV.UK error page (the
    navigation never links there, see :mod:`api.pages.navigation`).
    """
    allowed = {r.value for r in roles} if roles else {r.value for r in Role}

    def check(request: Request, session: SessionDep) -> PageSession:
        token = cookie_token(request)
        row = live_token(session, token) if token else None
        if row is None or token is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(here, signed_out=token is not None)
        page = PageSession(user=row.user, csrf=csrf_token(token))
        # Kept for the error pages (api.pages.site), which show the user's navigation.
        request.state.page = page
        if row.user.role not in allowed:
            raise PageForbidden(
                "You cannot use this page",
                "Your role does not include this page. Ask an administrator if you need it.",
                page,
            )
        return page

    return check


def page_form(*roles: Role) -> Callable[..., PageSession]:
    """Like :func:`page_session`, for a form post: its CSRF field must match the session's,
    else a 403 page (checked after the session, so a signed-out user is sent to sign in)."""
    signed_in = page_session(*roles)

    def check(
        page: Annotated[PageSession, Depends(signed_in)],
        csrf_token: Annotated[str, Form(max_length=200)] = "",
    ) -> PageSession:
        if not hmac.compare_digest(csrf_token.encode(), page.csrf.encode()):
            raise PageForbidden(
                "This form has expired",
                "The form was not sent from this service's own page, or was left open across "
                "a sign-in. Go back, reload the page and try again.",
                page,
            )
        return page

    return check


def cookie_max_age() -> int:
    return int(TOKEN_LIFETIME.total_seconds())


PAGE_PREFIX = "/app/"
PAGE_SIGN_IN = SIGN_IN


def signed_out_redirect() -> RedirectResponse:
    """The answer to a page form sent without a live session, before its body is read: back
    to sign in, then home (the form is lost, and its own address answers only posts)."""
    return RedirectResponse(
        sign_in_url(HOME, signed_out=True),
        status_code=303,
        headers={"Connection": "close"},
    )
