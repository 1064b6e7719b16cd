"""The web page for panels and planners: one HTML page and its scripts, served by the app itself.

Everything the page needs is in ``api/static`` and served from this machine: no CDN, no web
fonts, no map tiles, so nothing about a child (nor that anyone is looking) leaves it. The page
is a plain-JavaScript client of the same JSON API as any other client; it holds no data of its
own and gets none from these routes, which therefore need no sign-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# Scripts, styles, images and fetches from this origin only: a page that holds a bearer token
# must not run or load anything from elsewhere. Inline styles are allowed for the SVG map and
# charts; the scenario map is shown in a sandboxed srcdoc frame and has its own inline script.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-src 'self' blob: data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


@router.get("/")
def index() -> FileResponse:
    """The single page; its views are chosen by the URL's hash (``/#/runs/3``)."""
    return _file(STATIC_DIR / "index.html")


@router.get("/static/{name}")
def static_file(
    name: Annotated[str, PathParam(max_length=100, pattern=r"^[A-Za-z0-9_-]+\.[a-z]+$")],
) -> FileResponse:
    """A file of the page (flat folder; the name pattern admits no path separators)."""
    path = STATIC_DIR / name
    if path.suffix not in MEDIA_TYPES or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return _file(path)
