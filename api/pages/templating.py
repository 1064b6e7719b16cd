"""Rendering a page: Jinja2 with GOV.UK Frontend's macros, a fresh CSP nonce, the layout's data.

Templates live in ``api/templates`` (ours) and in the ``govuk-frontend-jinja`` package (GOV.UK
Frontend's components, ``{% from "govuk_frontend_jinja/components/table/macro.html" import
govukTable %}``). Every page extends ``layout.html``, which extends the package's page template.

The only scripts a page runs are GOV.UK Frontend's own (its module and the template's one-line
``js-enabled`` switch), each carrying the request's nonce; the policy allows no other script,
so markup a bug let through could not run. Maps and charts are inline SVG drawn here.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader
from markupsafe import Markup

from api.db import Role
from api.pages import assets, navigation
from api.pages.sessions import CSRF_FIELD, PageSession
from api.routes_web import SECURITY_HEADERS

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SERVICE_NAME = "Place children with SEND"
#: Dates are shown as an English office reads them, whatever the server's clock zone.
LOCAL_ZONE = ZoneInfo("Europe/London")

environment = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(TEMPLATES),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    ),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page_policy(nonce: str) -> str:
    """The pages' Content Security Policy: scripts of this origin with the nonce only, styles
    and images and fonts of this origin, no frames, forms posting here alone."""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "frame-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def long_date(value: datetime | date | None) -> str:
    """GOV.UK style: "30 November 2026 at 1:05pm", in UK time."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        return f"{value.day} {value:%B %Y}"
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(LOCAL_ZONE)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def whole_number(value: float | int | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def percent(part: float | int | None, whole: float | int | None) -> str:
    """ "12%" (one decimal place below 10%), or "" when there is no whole to divide by."""
    if part is None or not whole:
        return ""
    share = 100 * part / whole
    return f"{share:.1f}%" if 0 < share < 10 else f"{share:.0f}%"


def money(value: float | int | None) -> str:
    return "" if value is None else f"£{value:,.0f}"


environment.filters.update(
    long_date=long_date, whole_number=whole_number, percent=percent, money=money
)
#: What each role is called on the pages.
ROLE_NAMES = {
    Role.CASE_OFFICER.value: "Case officer",
    Role.PANEL_MEMBER.value: "Panel member",
    Role.PLANNER.value: "Planner",
    Role.ADMIN.value: "Administrator",
}
environment.globals.update(role_names=ROLE_NAMES)


def render(
    request: Request,
    template: str,
    page: PageSession | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """``template`` as a full page for ``page``'s user (None: signed out), with the layout's
    navigation for their role, the CSRF field for their forms and a new CSP nonce."""
    nonce = secrets.token_urlsafe(16)
    html = environment.get_template(template).render(
        cspNonce=nonce,
        service_name=SERVICE_NAME,
        page=page,
        user=None if page is None else page.user,
        csrf_field=CSRF_FIELD,
        csrf_value="" if page is None else page.csrf,
        csrf_input=Markup(
            f'<input type="hidden" name="{CSRF_FIELD}" value="{"" if page is None else page.csrf}">'
        ),
        navigation=(
            [] if page is None else navigation.navigation_items(page.role, request.url.path)
        ),
        assets_missing=not assets.govuk_installed(),
        **context,
    )
    response_headers = {
        **SECURITY_HEADERS,
        "Content-Security-Policy": page_policy(nonce),
        "Cache-Control": "no-store",
        **(headers or {}),
    }
    return HTMLResponse(html, status_code=status_code, headers=response_headers)
