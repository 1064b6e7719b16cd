"""The caseload pages: the list of uploads (mine or everyone's) and the upload form.

Uploading uses the JSON route's own check-and-store (:func:`api.routes_caseloads.store_caseload`),
so a file is judged the same way from either; every problem is listed by file, row and column
in a GOV.UK error summary, each linking to the file input to change.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth import SessionDep
from api.db import Role
from api.pages import listings, navigation
from api.pages.sessions import PageSession, page_form, page_session
from api.pages.templating import render
from api.routes_caseloads import read_upload, store_caseload
from matcher import io

router = APIRouter(prefix="/app/caseloads", include_in_schema=False)

UPLOADERS = (Role.CASE_OFFICER, Role.ADMIN)
#: The upload form's file inputs: (field, what the user calls it, required).
FILE_FIELDS = (
    ("children", "caseload", True),
    ("settings", "settings", True),
    ("tariffs", "banding framework", False),
)

navigation.register(
    "Caseloads",
    "/app/caseloads",
    tuple(Role),
    description="The caseloads uploaded for placement rounds: who uploaded them and when.",
    order=10,
)


@router.get("", response_class=HTMLResponse)
def caseloads(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
    show: str = "all",
) -> Response:
    mine, found, links = listings.whose_list(
        show,
        request.query_params.get("page"),
        page.user.id,
        partial(listings.caseloads_page, session),
        "/app/caseloads",
    )
    return render(
        request,
        "caseloads.html",
        page,
        title="Caseloads",
        mine=mine,
        found=found,
        pagination=links,
        may_upload=page.role in UPLOADERS,
    )


@router.get("/upload", response_class=HTMLResponse)
def upload_form(
    request: Request, page: Annotated[PageSession, Depends(page_session(*UPLOADERS))]
) -> Response:
    return _form(request, page)


@router.post("/upload", response_class=HTMLResponse)
async def upload(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_form(*UPLOADERS))],
) -> Response:
    """Check the files; store them only if there is no problem at all, then offer a run."""
    form = await request.form()
    uploads = {
        name: value
        for name, _, _ in FILE_FIELDS
        if isinstance(value := form.get(name), UploadFile) and value.filename
    }
    day, month, year = (
        str(form.get(f"year_start-{part}", "")).strip() for part in ("day", "month", "year")
    )
    field_errors = {
        name: f"Select the {what} file"
        for name, what, required in FILE_FIELDS
        if required and name not in uploads
    }
    start, real = _school_year_start(day, month, year)
    if not real:
        field_errors["year_start"] = "Enter a real date for the first day of the school year"
    if field_errors:
        errors = [{"text": t, "href": f"#{_anchor(f)}"} for f, t in field_errors.items()]
        return _form(request, page, errors, field_errors, (day, month, year), 400)
    files = {
        name: read_upload(upload, f"{name}.csv")  # type: ignore[arg-type]
        for name, upload in uploads.items()
    }
    network = getattr(request.app.state, "network", None)
    try:
        caseload = await run_in_threadpool(
            store_caseload,
            session,
            page.user,
            (files["children"], files["settings"]),
            files.get("tariffs"),
            start or io.next_september(),  # blank: the next 1 September
            network,
        )
    except io.InputError as exc:
        field_of = {f.name: name for name, f in files.items()}
        errors, field_errors = _problems(exc.problems, field_of)
        return _form(request, page, errors, field_errors, (day, month, year), 422, len(errors))
    return RedirectResponse(f"/app/runs/new?caseload={caseload.id}&uploaded=1", status_code=303)


def _school_year_start(day: str, month: str, year: str) -> tuple[date | None, bool]:
    """The date typed (None when all three boxes are blank), and whether it is a real date."""
    if not (day or month or year):
        return None, True
    try:
        return date(int(year), int(month), int(day)), True
    except ValueError:
        return None, False


def _anchor(field: str) -> str:
    return "year_start-day" if field == "year_start" else field


def _problems(
    problems: list[io.InputProblem], field_of: dict[str, str]
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The error summary's items (file, row, column: message) and each file input's message."""
    errors: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    for p in problems:
        field = field_of.get(p.file, "children")
        counts[field] = counts.get(field, 0) + 1
        where = ", ".join(x for x in (p.file, f"row {p.row}" if p.row else "", p.field) if x)
        errors.append({"text": f"{where}: {p.message}", "href": f"#{field}"})
    field_errors = {
        field: f"{n} problem{'' if n == 1 else 's'} in this file: see the list above"
        for field, n in counts.items()
    }
    return errors, field_errors


def _form(
    request: Request,
    page: PageSession,
    errors: list[dict[str, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    typed: tuple[str, str, str] = ("", "", ""),
    status_code: int = 200,
    problem_count: int = 0,
) -> Response:
    return render(
        request,
        "caseload_upload.html",
        page,
        status_code=status_code,
        title="Upload a caseload",
        errors=errors or [],
        field_errors=field_errors or {},
        typed=dict(zip(("day", "month", "year"), typed, strict=True)),
        error_description=(
            f"{problem_count} problem{'' if problem_count == 1 else 's'} found; nothing was "
            "stored. Fix the files and upload them again."
            if problem_count
            else None
        ),
    )
