"""The service's front door (``/``) and the security headers of what the pages serve.

The web pages are the server-rendered GOV.UK pages of :mod:`api.pages` under ``/app/``. The
single-page app that was served from here (``/classic/`` and ``/static/``) was retired once
each of its views had a page there.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import RedirectResponse

router = APIRouter(include_in_schema=False)

#: For answers that are not pages, such as downloads: nothing in them may run a script, be
#: framed or send a form. Each page replaces this with its own policy, which allows GOV.UK
#: Frontend's scripts by a nonce (:func:`api.pages.templating.page_policy`).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/")
def root() -> RedirectResponse:
    """The service's front door: the GOV.UK pages (``api.pages``)."""
    return RedirectResponse("/app/", status_code=status.HTTP_303_SEE_OTHER)
