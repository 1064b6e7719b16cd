"""Caseload imports: upload the round's files, all checked at once, all stored or none."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.auth import require_roles
from api.db import Caseload, Role, User, get_session
from api.jobs import UploadedFile, load_uploaded_round, safe_name
from api.schemas import CaseloadOut, PathId, Problem, ValidationReport
from matcher import io

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

router = APIRouter(prefix="/caseloads", tags=["caseloads"])

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # far above a 25,000-child caseload; stops a runaway upload


def read_upload(upload: UploadFile, fallback: str) -> UploadedFile:
    """An uploaded file's name and bytes; 413 past :data:`MAX_UPLOAD_BYTES` (also for the
    upload page)."""
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{safe_name(upload.filename, fallback)} is larger than "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
        )
    return UploadedFile(safe_name(upload.filename, fallback), data)


def caseload_out(caseload: Caseload) -> CaseloadOut:
    return CaseloadOut(
        id=caseload.id,
        children=caseload.n_children,
        settings=caseload.n_settings,
        tariffs=caseload.n_tariffs,
        year_start=caseload.year_start,
        uploaded_by=caseload.uploader.username,
        created_at=caseload.created_at,
    )


def store_caseload(
    session: Session,
    user: User,
    files: tuple[UploadedFile, UploadedFile],
    tariff_file: UploadedFile | None,
    start: date,
    network: RoadNetwork | None,
) -> Caseload:
    """Check the files with the CLI's reader and store them (committed); ``io.InputError``
    with every problem, and nothing stored, if any check fails. Shared with the upload page."""
    inputs = load_uploaded_round(files[0], files[1], tariff_file, start, network)
    caseload = Caseload(
        children_name=files[0].name,
        children_data=files[0].data,
        settings_name=files[1].name,
        settings_data=files[1].data,
        tariffs_name=None if tariff_file is None else tariff_file.name,
        tariffs_data=None if tariff_file is None else tariff_file.data,
        year_start=start,
        n_children=len(inputs.children),
        n_settings=len(inputs.settings),
        n_tariffs=len(inputs.tariffs),
        setting_urns=[s.urn for s in inputs.settings],
        uploaded_by=user.id,
    )
    session.add(caseload)
    session.commit()
    return caseload


@router.post(
    "",
    response_model=CaseloadOut,
    status_code=status.HTTP_201_CREATED,
    responses={422: {"model": ValidationReport, "description": "problems found in the files"}},
)
def upload_caseload(
    request: Request,
    session: Annotated[Session, Depends(get_session, scope="function")],
    user: Annotated[User, Depends(require_roles(Role.CASE_OFFICER, Role.ADMIN))],
    children: Annotated[UploadFile, File(description="caseload, .csv or .xlsx")],
    settings: Annotated[UploadFile, File(description="settings, .csv or .xlsx")],
    tariffs: Annotated[UploadFile | None, File(description="banding framework")] = None,
    year_start: Annotated[
        date | None, Form(description="first day of the school year; default next 1 September")
    ] = None,
) -> CaseloadOut | JSONResponse:
    """Check the files with the CLI's reader; store them only if there is no problem at all.

    A 422 lists every problem (file, Excel row, column, message) so the officer can fix the
    files in one pass; nothing is stored then, so no run can start on half a caseload.
    """
    start = year_start or io.next_september()
    files = (read_upload(children, "children.csv"), read_upload(settings, "settings.csv"))
    tariff_file = read_upload(tariffs, "tariffs.csv") if tariffs is not None else None
    try:
        caseload = store_caseload(
            session, user, files, tariff_file, start, getattr(request.app.state, "network", None)
        )
    except io.InputError as exc:
        report = ValidationReport(
            detail=f"{len(exc.problems)} problem(s) found; nothing was stored",
            problems=[
                Problem(file=p.file, row=p.row, field=p.field, message=p.message)
                for p in exc.problems
            ],
        )
        return JSONResponse(report.model_dump(), status_code=422)
    return caseload_out(caseload)


@router.get("/{caseload_id}", response_model=CaseloadOut)
def get_caseload(
    caseload_id: PathId,
    session: Annotated[Session, Depends(get_session, scope="function")],
    _user: Annotated[User, Depends(require_roles(*Role))],
) -> CaseloadOut:
    """Counts and provenance of an upload (no children's data: open to every role)."""
    caseload = session.get(Caseload, caseload_id)
    if caseload is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such caseload")
    return caseload_out(caseload)
