"""The children of a placement run: find, filter, sort, export, and a panel pack of them.

Everything the list shows is in its address (search, filters, sort, page; see
:mod:`api.pages.children_query`), and every download takes the same address, so a CSV, a
workbook or a panel pack of "all children matching this filter" holds exactly the children
the list shows across its pages. The list reads the ``run_children`` index, never the
children's JSON results, so a page costs the same at 600 children or 60,000.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import SessionDep
from api.db import Run, RunKind, RunStatus
from api.pages import children_query as cq
from api.pages import navigation
from api.pages.sessions import PageSession, page_form, page_session
from api.pages.templating import render
from api.routes_runs import CHILD_ROLES, get_done_run
from api.routes_web import SECURITY_HEADERS
from api.run_panel_pack import MAX_PACK_CHILDREN, pack_pdf, stored_panel_pack
from api.schemas import PathId
from matcher.output_files import Table, write_tables
from matcher.panel_pack import CHROMIUM_NAMES, find_chromium

router = APIRouter(prefix="/app", include_in_schema=False)

#: Where a child's own page is; the list links each id there.
CHILD_PAGE = "/app/runs/{run_id}/children/{child_id}"
#: Export columns: (heading, value of a listed child).
EXPORT_COLUMNS = (
    "child_id",
    "primary_need",
    "nc_year",
    "phase",
    "placement_kind",
    "setting_name",
    "setting_urn",
    "preference_rank",
    "preference_met",
    "travel_minutes",
    "annual_cost",
    "decision",
)
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

navigation.register(
    "Children",
    "/app/children",
    CHILD_ROLES,
    description="Find children in a placement run, export them, and make a panel pack.",
    order=40,
)


@router.get("/children", response_class=HTMLResponse)
def latest_children(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session(*CHILD_ROLES))],
) -> Response:
    """The navigation's "Children": the latest finished placement run's list."""
    latest = session.scalar(
        select(Run.id)
        .where(Run.kind == RunKind.PLACEMENT.value, Run.status == RunStatus.DONE.value)
        .order_by(Run.id.desc())
        .limit(1)
    )
    if latest is None:
        return render(request, "children_none.html", page, title="Children")
    return RedirectResponse(f"/app/runs/{latest}/children", status_code=303)


@router.get("/runs/{run_id}/children", response_class=HTMLResponse)
def children_list(
    run_id: PathId,
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session(*CHILD_ROLES))],
) -> Response:
    run = get_done_run(session, run_id, RunKind.PLACEMENT)
    return render(request, "children_list.html", page, **list_context(session, run, request, page))


def list_context(
    session: Session,
    run: Run,
    request: Request,
    page: PageSession,
    **extra: Any,
) -> dict[str, Any]:
    """What the list page shows, for the list and for a panel-pack form sent back."""
    settings = cq.run_settings(session, run.id)
    filters = cq.read_filters(request.query_params, [urn for urn, _ in settings])
    total = cq.count_children(session, run.id, filters)
    pages = max(1, -(-total // cq.PAGE_SIZE))
    number = min(filters.page, pages)  # a page past the end shows the last, never a dead page
    offset = (number - 1) * cq.PAGE_SIZE
    rows = cq.children_page(session, run.id, filters, offset, cq.PAGE_SIZE)
    base = f"/app/runs/{run.id}/children"
    setting_names = dict(settings)
    return {
        "title": f"Children in run {run.id}",
        "run": run,
        "filters": filters,
        "total": total,
        "first": offset + 1,
        "last": offset + len(rows),
        "rows": rows,
        "base": base,
        "pagination": pagination(filters, number, pages, base),
        "columns": cq.COLUMNS,
        "settings": settings,
        "setting_names": setting_names,
        "years": cq.run_years(session, run.id),
        "choices": cq.FILTER_CHOICES,
        "labels": cq.FILTER_LABELS,
        "year_name": cq.year_name,
        "kind_names": cq.KIND_NAMES,
        "phase_names": cq.PHASE_NAMES,
        "decision_names": cq.DECISION_NAMES,
        "preference_names": cq.PREFERENCE_NAMES,
        "active": [
            (name, _value_text(name, value, setting_names)) for name, value in filters.active()
        ],
        "child_page": lambda child_id: CHILD_PAGE.format(
            run_id=run.id, child_id=quote(child_id, safe="")
        ),
        "pack_cap": MAX_PACK_CHILDREN,
        "chromium": find_chromium() is not None,
        "chromium_names": ", ".join(CHROMIUM_NAMES),
        "may_pack": True,
        **extra,
    }


def _value_text(name: str, value: str, setting_names: dict[str, str]) -> str:
    if name == "q":
        return f"“{value}”"
    if name == "year":
        return cq.year_name(int(value))
    if name == "setting":
        return setting_names.get(value, value)
    return cq.FILTER_CHOICES[name].get(value, value)


def pagination(
    filters: cq.ChildFilters, number: int, pages: int, base: str
) -> dict[str, Any] | None:
    """GOV.UK pagination: first, last, this page and its neighbours, ellipses between."""
    if pages <= 1:
        return None

    def href(n: int) -> str:
        query = filters.query(page=n)
        return f"{base}?{query}" if query else base

    shown = sorted(n for n in {1, pages, number - 1, number, number + 1} if 1 <= n <= pages)
    items: list[dict[str, Any]] = []
    for previous, n in zip([0, *shown], shown, strict=False):
        if previous and n - previous > 1:
            items.append({"ellipsis": True})
        items.append({"number": n, "href": href(n), "current": n == number})
    return {
        "previous": {"href": href(number - 1)} if number > 1 else None,
        "next": {"href": href(number + 1)} if number < pages else None,
        "items": items,
    }


# --------------------------------------------------------------------------------------------
# Downloads


def export_records(session: Session, run_id: int, filters: cq.ChildFilters) -> list[dict[str, Any]]:
    """Every child the list shows under ``filters``, all pages, in its order."""
    query = cq.children_select(run_id, filters)
    return [
        {
            "child_id": c.child_id,
            "primary_need": c.primary_need,
            "nc_year": c.nc_year,
            "phase": cq.PHASE_NAMES.get(c.phase or "", None),
            "placement_kind": cq.KIND_NAMES.get(c.placement_kind or "", None),
            "setting_name": c.setting_name,
            "setting_urn": c.setting_urn,
            "preference_rank": c.preference_rank,
            "preference_met": cq.PREFERENCE_NAMES[c.preference_met],
            "travel_minutes": c.travel_minutes,
            "annual_cost": c.annual_cost,
            "decision": cq.DECISION_NAMES.get(c.decision, c.decision),
        }
        for c in session.execute(query)
    ]


@router.get("/runs/{run_id}/children/download/{kind}")
def download_children(
    run_id: PathId,
    kind: str,
    request: Request,
    session: SessionDep,
    _page: Annotated[PageSession, Depends(page_session(*CHILD_ROLES))],
) -> Response:
    """The list as CSV or XLSX: every page of it, written by the command line's writers
    (atomic, formula text neutralised in CSV and stored as text in XLSX)."""
    get_done_run(session, run_id, RunKind.PLACEMENT)
    if kind not in MEDIA_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such download")
    settings = cq.run_settings(session, run_id)
    filters = cq.read_filters(request.query_params, [urn for urn, _ in settings])
    records = export_records(session, run_id, filters)
    name = f"run-{run_id}-children.{kind}"
    with tempfile.TemporaryDirectory(prefix="sendmatch-export-") as folder:
        path = Path(folder) / name
        write_tables(path, [Table("Children", EXPORT_COLUMNS, records)], csv_tables=1)
        body = path.read_bytes()
    return _attachment(body, MEDIA_TYPES[kind], name)


def _attachment(body: bytes, media_type: str, name: str) -> Response:
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
    }
    return Response(body, media_type=media_type, headers=headers)


@router.post("/runs/{run_id}/children/panel-pack", response_class=HTMLResponse)
def panel_pack(
    run_id: PathId,
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_form(*CHILD_ROLES))],
    child: Annotated[list[str] | None, Form(max_length=100)] = None,
    scope: Annotated[str, Form(max_length=20)] = "selected",
    pack_format: Annotated[str, Form(alias="format", max_length=10)] = "html",
) -> Response:
    """The ticked children's pages (or all matching the filter, up to the cap) as one HTML
    file or one PDF, the same pages as ``sendmatch panel-pack``."""
    run = get_done_run(session, run_id, RunKind.PLACEMENT)
    if scope == "all":
        settings = cq.run_settings(session, run_id)
        filters = cq.read_filters(request.query_params, [urn for urn, _ in settings])
        total = cq.count_children(session, run_id, filters)
        if total > MAX_PACK_CHILDREN:
            return _pack_problem(
                session,
                run,
                request,
                page,
                "scope",
                f"{total:,} children match this filter: a panel pack holds at most "
                f"{MAX_PACK_CHILDREN} children. Narrow the filter, or tick the children "
                "on the panel's agenda.",
            )
        ids = [c.child_id for c, _ in cq.children_page(session, run_id, filters, 0, total)]
    else:
        ids = list(dict.fromkeys(child or []))
        if not ids:
            return _pack_problem(
                session,
                run,
                request,
                page,
                "pack-children",
                "Tick the children to put in the panel pack, or choose all children matching "
                "this filter",
            )
        if len(ids) > MAX_PACK_CHILDREN:
            return _pack_problem(
                session,
                run,
                request,
                page,
                "pack-children",
                f"A panel pack holds at most {MAX_PACK_CHILDREN} children: "
                f"{len(ids):,} were ticked",
            )
    if not ids:
        return _pack_problem(session, run, request, page, "scope", "No child matches this filter")
    network = getattr(request.app.state, "network", None)
    pack = stored_panel_pack(session, run, ids, network)
    stem = f"run-{run_id}-panel-pack-{date.today().isoformat()}"
    if pack.children == 0:
        return _pack_problem(
            session, run, request, page, "pack-children", "None of those children is in this run"
        )
    if pack_format == "pdf":
        pdf = pack_pdf(pack.html)
        if pdf is None:
            return _pack_problem(
                session,
                run,
                request,
                page,
                "pack-format",
                "The PDF could not be made: it needs Chromium or Google Chrome on the server. "
                "Download the HTML panel pack and print it from your browser instead",
            )
        return _attachment(pdf, "application/pdf", f"{stem}.pdf")
    return _attachment(pack.html.encode(), "text/html; charset=utf-8", f"{stem}.html")


def _pack_problem(
    session: Session, run: Run, request: Request, page: PageSession, field: str, message: str
) -> Response:
    context = list_context(session, run, request, page)
    return render(
        request,
        "children_list.html",
        page,
        status_code=400,
        errors=[{"text": message, "href": f"#{field}"}],
        pack_error=message,
        **context,
    )
