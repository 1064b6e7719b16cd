"""GOV.UK Frontend's built files and our print stylesheet, served by sendmatch itself.

The files come from the ``govuk-frontend`` npm package at the version pinned in
``package-lock.json``, installed into ``node_modules`` by ``make setup`` (``npm ci``), never
copied into the repository by hand and never fetched from a CDN at view time. Only a fixed set
of names is served, each resolved inside its folder, so no path reaches any other file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, PlainTextResponse, Response

router = APIRouter(include_in_schema=False)

ROOT = Path(__file__).resolve().parents[2]
#: GOV.UK Frontend's built files (``govuk-frontend.min.css``, ``.min.js``; ``assets/`` below).
GOVUK_DIST = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
OUR_STATIC = Path(__file__).resolve().parent / "static"
MISSING = (
    "GOV.UK Frontend is not installed on this server, so pages show without their styles: "
    "run make setup (it runs npm ci) and restart the server."
)
#: The top-level files: GOV.UK Frontend's built CSS and JS, and ours.
TOP_FILES = {
    "govuk-frontend.min.css": "govuk",
    "govuk-frontend.min.js": "govuk",
    "manifest.json": "govuk-assets",
    "sendmatch.css": "ours",
}
ASSET_NAME = r"^(?:(?:fonts|images)/)?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9]+)+$"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/manifest+json",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
#: An hour: the files change only when the pinned version does, and a deploy restarts the server.
ASSET_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"}


def govuk_installed(dist: Path | None = None) -> bool:
    return ((dist or GOVUK_DIST) / "govuk-frontend.min.css").is_file()


def asset_file(name: str, dist: Path | None = None) -> Path | None:
    """The file served as ``/assets/{name}``, or None: only the fixed top-level names, or a
    font or image of GOV.UK Frontend's ``assets`` folder, each checked to stay inside it."""
    if not re.fullmatch(ASSET_NAME, name) or Path(name).suffix not in MEDIA_TYPES:
        return None
    dist = dist or GOVUK_DIST
    top = TOP_FILES.get(name)
    if top == "ours":
        base = OUR_STATIC
    elif top == "govuk":
        base = dist
    elif top == "govuk-assets" or name.startswith(("fonts/", "images/")):
        base = dist / "assets"
    else:
        return None
    path = (base / name).resolve()
    if not path.is_relative_to(base.resolve()) or not path.is_file():
        return None
    return path


@router.get("/assets/{name:path}", response_model=None)
def asset(name: Annotated[str, PathParam(max_length=120)]) -> Response:
    path = asset_file(name)
    if path is None:
        if not govuk_installed() and TOP_FILES.get(name) != "ours":
            return PlainTextResponse(MISSING, status_code=404, headers=ASSET_HEADERS)
        return PlainTextResponse("No such file.", status_code=404, headers=ASSET_HEADERS)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=ASSET_HEADERS)
