"""The pages as one part of the app: their routers, and their errors answered as GOV.UK pages.

An error on a page (a run that does not exist, a role that may not see it, a form without its
CSRF field) is a GOV.UK error page with the right status, never the JSON API's ``{"detail"}``;
errors anywhere else keep the API's own handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.pages import (
    assets,
    routes_audit,
    routes_caseloads,
    routes_child,
    routes_children,
    routes_forecasts,
    routes_home,
    routes_panel_decisions,
    routes_runs,
    routes_scenarios,
    routes_users,
)
from api.pages.sessions import (
    PAGE_PREFIX,
    PageForbidden,
    PageSession,
    SignInNeeded,
    sign_in_url,
)
from api.pages.templating import render

Handler = Callable[[Request, Exception], Awaitable[Response]]

#: Page routers, in the order they are matched. Other page modules add theirs here.
ROUTERS = [
    assets.router,
    routes_home.router,
    routes_caseloads.router,
    routes_runs.router,
    routes_children.router,
    routes_child.router,  # w3: a child's page, compare, decisions, audit
    routes_panel_decisions.router,
    routes_audit.router,
    routes_users.router,
    routes_scenarios.router,
    routes_forecasts.router,
]

TITLES = {
    400: "Sorry, there is a problem with that page address or form",
    403: "You cannot use this page",
    404: "Page not found",
    409: "This cannot be done now",
    413: "The files are too large",
}


def install(app: FastAPI) -> None:
    """Include the page routers and answer the pages' errors with GOV.UK pages."""
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(PageForbidden, _forbidden)
    api_validation = cast(Handler, app.exception_handlers.get(RequestValidationError) or _reraise)
    app.add_exception_handler(StarletteHTTPException, _pages_or(http_exception_handler))
    app.add_exception_handler(RequestValidationError, _pages_or(api_validation))


def error_page(request: Request, status_code: int, message: str) -> Response:
    title = TITLES.get(status_code, "Sorry, there is a problem with the service")
    return render(
        request, "error.html", signed_in_page(request), status_code, title=title, message=message
    )


def signed_in_page(request: Request) -> PageSession | None:
    """The user :func:`api.pages.sessions.page_session` admitted to this request, if any, so
    an error page keeps their navigation and sign-out instead of looking signed out."""
    page = getattr(request.state, "page", None)
    return page if isinstance(page, PageSession) else None


async def _sign_in_needed(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    return RedirectResponse(sign_in_url(exc.next_page, exc.signed_out), status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    page = exc.page or signed_in_page(request)
    return render(request, "error.html", page, 403, title=exc.title, message=exc.message)


def _pages_or(api_handler: Callable[..., Awaitable[Response]]) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(PAGE_PREFIX):
            return await api_handler(request, exc)
        if isinstance(exc, StarletteHTTPException):
            detail = str(exc.detail)
            message = detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else ".")
            return error_page(request, exc.status_code, message)
        return error_page(request, 400, "Check the address, or go back and try again.")

    return handle


async def _reraise(_request: Request, exc: Exception) -> Response:
    raise exc
