"""The planner's scenario pages: build a scenario, compare it (or scenario files) with a
caseload, and read the comparison with its charts and the map of each new site.

Starting a comparison calls the JSON route's own function
(:func:`api.routes_planning.start_scenario_compare`) with the built file, so the page and
``POST /runs/scenario-compare`` check a scenario the same way, and ``sendmatch scenario
compare`` reads the file the builder downloads. A comparison holds LA-wide figures only, so
every role may read it; planners and administrators build and start them, as the API allows.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import FormData, Headers

from api.auth import SessionDep
from api.caseload_cache import recent_caseload_inputs
from api.db import Caseload, Role, RunKind, RunStatus
from api.pages import listings, navigation, scenario_builder, scenario_comparison
from api.pages.routes_runs import STATUS_TAGS, progress_context
from api.pages.scenario_builder import Change, DraftError
from api.pages.sessions import PageSession, page_form, page_session
from api.pages.templating import render
from api.routes_planning import MAX_SCENARIO_FILES, start_scenario_compare
from api.routes_runs import get_done_run, get_run, get_run_or_404
from api.schemas import ComparisonOut, PathId
from matcher import io as matcher_io
from matcher.io import RoundInputs
from matcher.models import SettingType
from matcher.needs import NEED_DESCRIPTIONS, PrimaryNeed

router = APIRouter(prefix="/app/scenarios", include_in_schema=False)

PLANNING_ROLES = (Role.PLANNER, Role.ADMIN)
navigation.register(
    "Scenarios",
    "/app/scenarios",
    PLANNING_ROLES,
    description="Try a new special school, more places or a closure, and see what changes.",
    order=30,
)

STATIC = Path(__file__).resolve().parent / "static"
FIELD_LABELS = {
    "setting-name": "Name of the new setting",
    "setting-type": "Kind of setting",
    "postcode": "Where the setting is",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "low-age": "Youngest age",
    "high-age": "Oldest age",
    "needs": "Needs it is for",
    "total-places": "Places",
    "opening-year": "Year it opens",
    "annual-fee": "Annual fee",
    "change-urn": "Setting",
    "change-places": "New number of places",
    "close-urn": "Setting that closes",
    "provision-urn": "Mainstream school",
    "provision-needs": "Needs the provision is for",
    "provision-places": "Places in the provision",
}
LIMITS = (
    ("primary_limit_minutes", "primary", "45"),
    ("secondary_limit_minutes", "secondary", "75"),
)


async def form_fields(request: Request) -> FormData:
    """The posted form, read once (Starlette keeps it) so a plain route can take every field,
    including the lists of ticked needs."""
    return await request.form()


FormFields = Annotated[FormData, Depends(form_fields)]


def _network(request: Request) -> Any:
    return getattr(request.app.state, "network", None)


def _caseload_inputs(request: Request, caseload: Caseload) -> RoundInputs:
    """The caseload as the comparison will read it (from memory when just read)."""
    return recent_caseload_inputs(caseload, _network(request))


# --------------------------------------------------------------------------------------------
# The start page: choose a caseload to build on, or compare files you have


@router.get("", response_class=HTMLResponse)
def scenarios(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
) -> Response:
    return _start_page(request, session, page)


def _start_page(
    request: Request,
    session: SessionDep,
    page: PageSession,
    errors: list[dict[str, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "scenarios.html",
        page,
        status_code=400 if errors else 200,
        title="Compare planning scenarios",
        errors=errors or [],
        field_errors=field_errors or {},
        typed={"caseload": "", **{n: v for n, _, v in LIMITS}, **(typed or {})},
        caseloads=listings.recent_caseloads(session),
        may_start=page.role in PLANNING_ROLES,
        comparisons=listings.recent_runs_of_kind(session, RunKind.SCENARIO_COMPARE.value),
        status_tags=STATUS_TAGS,
        max_files=MAX_SCENARIO_FILES,
    )


@router.post("/upload", response_class=HTMLResponse)
def compare_files(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    page: Annotated[PageSession, Depends(page_form(*PLANNING_ROLES))],
    fields: FormFields,
) -> Response:
    """Compare scenario files the planner has (as the old page did): each checked as the
    command line checks it, every problem listed, nothing stored if any."""
    typed = {k: str(fields.get(k, "")).strip() for k in ("caseload", *(n for n, _, _ in LIMITS))}
    uploads = [f for f in fields.getlist("scenarios") if hasattr(f, "filename") and f.filename]
    field_errors = _limit_problems(typed)
    caseload = _chosen_caseload(session, typed["caseload"])
    if caseload is None:
        field_errors["upload-caseload"] = "Select the caseload to compare the scenarios on"
    if not uploads:
        field_errors["scenario-files"] = "Select one or more scenario files (.yaml, .yml or .json)"
    elif len(uploads) > MAX_SCENARIO_FILES:
        field_errors["scenario-files"] = f"Select at most {MAX_SCENARIO_FILES} scenario files"
    if field_errors or caseload is None:
        errors = [{"text": t, "href": f"#{f}"} for f, t in field_errors.items()]
        return _start_page(request, session, page, errors, field_errors, typed)
    started = _start_comparison(request, background, session, page, caseload, uploads, typed)
    if isinstance(started, int):
        return RedirectResponse(f"/app/scenarios/{started}", status_code=303, background=background)
    errors = [{"text": text, "href": "#scenario-files"} for text in started]
    return _start_page(
        request, session, page, errors, {"scenario-files": "Fix the problems listed above"}, typed
    )


def _chosen_caseload(session: SessionDep, typed: str) -> Caseload | None:
    return session.get(Caseload, int(typed)) if typed.isdigit() and len(typed) < 10 else None


def _limit_problems(typed: dict[str, str]) -> dict[str, str]:
    problems = {}
    for name, phase, _ in LIMITS:
        try:
            minutes = float(typed.get(name, ""))
        except ValueError:
            minutes = -1
        if not 0 < minutes <= 300:
            problems[name] = f"Enter a {phase} journey limit between 1 and 300 minutes"
    return problems


def _start_comparison(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    page: PageSession,
    caseload: Caseload,
    uploads: list[Any],
    typed: dict[str, str],
) -> int | list[str]:
    """The new run's id, or each problem the API's checks found (file, field: message)."""
    answer = start_scenario_compare(
        request,
        background,
        session,
        page.user,
        caseload.id,
        uploads,
        float(typed["primary_limit_minutes"]),
        float(typed["secondary_limit_minutes"]),
        None,
    )
    if hasattr(answer, "id"):
        return int(answer.id)
    import json

    report = json.loads(bytes(answer.body))
    return [
        ", ".join(str(p[k]) for k in ("file", "field") if p.get(k)) + f": {p['message']}"
        for p in report.get("problems", [])
    ] or [str(report.get("detail", "The scenario files could not be used"))]


# --------------------------------------------------------------------------------------------
# The builder


@router.get("/new", response_class=HTMLResponse)
def builder(
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session(*PLANNING_ROLES))],
    caseload: str = "",
) -> Response:
    chosen = _chosen_caseload(session, caseload.strip())
    if chosen is None:
        problem = {"caseload": "Select the caseload to build the scenario on"}
        return _start_page(
            request, session, page, [{"text": problem["caseload"], "href": "#caseload"}], problem
        )
    return _builder_page(request, page, chosen, [])


@router.post("/new", response_class=HTMLResponse)
def build(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    page: Annotated[PageSession, Depends(page_form(*PLANNING_ROLES))],
    fields: FormFields,
) -> Response:
    """Every builder form posts here with the changes so far: add, remove, download or run."""
    caseload = _chosen_caseload(session, str(fields.get("caseload", "")).strip())
    if caseload is None:
        problem = {"caseload": "Select the caseload to build the scenario on"}
        return _start_page(
            request, session, page, [{"text": problem["caseload"], "href": "#caseload"}], problem
        )
    try:
        changes = scenario_builder.read_draft(str(fields.get("draft", "")))
    except DraftError as err:
        message = f"{str(err)[:1].upper()}{str(err)[1:]}: start the scenario again"
        return _builder_page(request, page, caseload, [], {"changes": message}, status_code=400)
    action = str(fields.get("action", ""))
    text = {k: str(v) for k, v in fields.items() if isinstance(v, str)}
    if action.startswith("remove-") and action[7:].isdigit():
        index = int(action[7:])
        kept = [c for i, c in enumerate(changes) if i != index]
        return _builder_page(request, page, caseload, kept, typed=_final_fields(text))
    inputs = _inputs_or_none(request, caseload)
    if action in {"download", "run"}:
        return _finish(request, background, session, page, caseload, changes, inputs, text, action)
    checked = _add(fields, changes, inputs, action)
    if checked is None:
        return _builder_page(request, page, caseload, changes, typed=_final_fields(text))
    if checked.field_errors:
        ticked = {k: [str(v) for v in fields.getlist(k)] for k in ("needs", "provision_needs")}
        return _builder_page(
            request,
            page,
            caseload,
            checked.changes,
            checked.field_errors,
            text,
            400,
            ticked=ticked,
        )
    return _builder_page(
        request, page, caseload, checked.changes, typed=_final_fields(text), added=True
    )


def _final_fields(text: dict[str, str]) -> dict[str, str]:
    """The fields of the last form (name, description, limits), kept as the draft changes."""
    keep = ("scenario_name", "description", *(n for n, _, _ in LIMITS))
    return {k: text[k] for k in keep if k in text}


def _inputs_or_none(request: Request, caseload: Caseload) -> RoundInputs | None:
    try:
        return _caseload_inputs(request, caseload)
    except matcher_io.InputError:
        return None  # said when the comparison starts, as the API says it


def _add(
    fields: FormData, changes: list[Change], inputs: RoundInputs | None, action: str
) -> scenario_builder.Checked | None:
    text = {k: str(v) for k, v in fields.items() if isinstance(v, str)}
    if action == "new_setting":
        edit, postcode, problems = scenario_builder.new_setting_edit(
            {
                "setting_name": text.get("setting_name", ""),
                "setting_type": text.get("setting_type", ""),
                "postcode": text.get("postcode", ""),
                "latitude": text.get("latitude", ""),
                "longitude": text.get("longitude", ""),
                "low_age": text.get("low_age", ""),
                "high_age": text.get("high_age", ""),
                "total_places": text.get("total_places", ""),
                "opening_year": text.get("opening_year", ""),
                "annual_fee": text.get("annual_fee", ""),
            },
            [str(n) for n in fields.getlist("needs")],
        )
        return scenario_builder.add_change(changes, edit, problems, inputs, FIELD_LABELS, postcode)
    if action == "change_places":
        edit, problems = scenario_builder.change_places_edit(
            text.get("change_urn", ""), text.get("change_places", "")
        )
    elif action == "closure":
        edit, problems = scenario_builder.closure_edit(text.get("close_urn", ""))
    elif action == "new_resourced_provision":
        edit, problems = scenario_builder.provision_edit(
            text.get("provision_urn", ""),
            [str(n) for n in fields.getlist("provision_needs")],
            text.get("provision_places", ""),
        )
    else:
        return None
    return scenario_builder.add_change(changes, edit, problems, inputs, FIELD_LABELS)


def _finish(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    page: PageSession,
    caseload: Caseload,
    changes: list[Change],
    inputs: RoundInputs | None,
    text: dict[str, str],
    action: str,
) -> Response:
    """Download the scenario file, or compare it with the caseload: first its name and the
    whole file checked by the file format's parser."""
    typed = _final_fields(text)
    name = typed.get("scenario_name", "").strip()
    description = typed.get("description", "").strip()
    field_errors: dict[str, str] = {}
    if not name:
        field_errors["scenario-name"] = "Enter a name for the scenario"
    elif len(name) > 64:
        field_errors["scenario-name"] = "Enter a name of 64 characters or fewer"
    if not changes:
        field_errors["changes"] = "Add at least one change to the scenario"
    if action == "run":
        field_errors.update(_limit_problems(typed))
    if not field_errors:
        for problem in scenario_builder.scenario_problems(changes, inputs, name):
            field_errors.setdefault("changes", _change_problem(problem.field, problem.message))
    if field_errors:
        return _builder_page(request, page, caseload, changes, field_errors, text, status_code=400)
    content = scenario_builder.scenario_file_text(name, description, changes)
    filename = scenario_builder.file_name(name)
    if action == "download":
        headers = {
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        }
        return Response(content, media_type="application/yaml; charset=utf-8", headers=headers)
    upload = UploadFile(
        io.BytesIO(content.encode("utf-8")),
        filename=filename,
        headers=Headers({"content-type": "application/yaml"}),
    )
    started = _start_comparison(request, background, session, page, caseload, [upload], typed)
    if isinstance(started, int):
        return RedirectResponse(f"/app/scenarios/{started}", status_code=303, background=background)
    problems = {"changes": "; ".join(started)}
    return _builder_page(request, page, caseload, changes, problems, text, status_code=400)


def _change_problem(field: str | None, message: str) -> str:
    found = re.match(r"edits\[(\d+)\]", field or "")
    where = f"Change {int(found.group(1)) + 1}" if found else "The scenario"
    return f"{where}: {message}"


def _builder_page(
    request: Request,
    page: PageSession,
    caseload: Caseload,
    changes: list[Change],
    field_errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
    added: bool = False,
    ticked: dict[str, list[str]] | None = None,
) -> Response:
    field_errors = field_errors or {}
    try:
        inputs: RoundInputs | None = _caseload_inputs(request, caseload)
    except matcher_io.InputError:
        inputs = None
    settings = sorted(inputs.settings if inputs else [], key=lambda s: s.name)
    names = {s.urn: s.name for s in settings}
    return render(
        request,
        "scenario_builder.html",
        page,
        status_code=status_code,
        title="Build a scenario",
        errors=[{"text": t, "href": f"#{f}"} for f, t in field_errors.items()],
        field_errors=field_errors,
        typed={
            "scenario_name": "",
            "description": "",
            **{n: v for n, _, v in LIMITS},
            **(typed or {}),
        },
        ticked=ticked or {},
        caseload=caseload,
        unreadable=inputs is None,
        changes=changes,
        described=[scenario_builder.describe(c, names) for c in changes],
        draft=scenario_builder.write_draft(changes),
        settings=settings,
        mainstream=[s for s in settings if s.setting_type == SettingType.MAINSTREAM],
        site_map=scenario_builder.site_map(settings, changes),
        map_width=scenario_builder.MAP_WIDTH,
        kinds=scenario_builder.NEW_SETTING_TYPES,
        needs=[(n.value, NEED_DESCRIPTIONS[n]) for n in PrimaryNeed],
        postcodes=scenario_builder.postcode_source() is not None,
        added=added,
        max_changes=scenario_builder.MAX_CHANGES,
    )


# --------------------------------------------------------------------------------------------
# Our script and the map's styles


@router.get("/site-map.js")
def site_map_script() -> Response:
    """The builder's one script: a click on the map fills the latitude and longitude."""
    return Response(
        (STATIC / "scenario-site-map.js").read_text(encoding="utf-8"),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/planner.css")
def planner_styles() -> Response:
    """The map's and charts' styles (a stylesheet of this origin: the CSP allows no inline
    style)."""
    return PlainTextResponse(
        scenario_comparison.MAP_STYLES,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# --------------------------------------------------------------------------------------------
# A comparison


@router.get("/{run_id}", response_class=HTMLResponse)
def comparison(
    run_id: PathId,
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
    refresh: str = "on",
) -> Response:
    """A comparison's progress, then the side-by-side table, its charts and the new sites,
    each with a link to its map (a page of its own: drawing it places the children again)."""
    run = get_run(run_id, session, page.user)
    if run.kind != RunKind.SCENARIO_COMPARE:
        return RedirectResponse(f"/app/runs/{run_id}", status_code=303)
    context: dict[str, Any] = {}
    if run.status == RunStatus.DONE:
        result = ComparisonOut.model_validate(get_run_or_404(session, run_id).summary)
        context = scenario_comparison.comparison_context(result)
    return render(
        request,
        "scenario.html",
        page,
        title=f"Scenario comparison {run.id}",
        run=run,
        **progress_context(run, refresh, page.role in PLANNING_ROLES),
        **context,
    )


@router.get("/{run_id}/map", response_class=HTMLResponse)
def site_map_page(
    run_id: PathId,
    request: Request,
    session: SessionDep,
    page: Annotated[PageSession, Depends(page_session())],
    site: str = "0",
) -> Response:
    """The map of a new setting in its scenario: where the children placed there live,
    counted per area (small counts not drawn), with its tables; every role sees this view."""
    run = get_done_run(session, run_id, RunKind.SCENARIO_COMPARE)
    result = ComparisonOut.model_validate(run.summary)
    if not (site.isdigit() and int(site) < len(result.sites)):
        raise HTTPException(404, "this comparison has no such new setting")
    chosen = result.sites[int(site)]
    return render(
        request,
        "scenario_map.html",
        page,
        title=f"Map of {chosen.name} in {chosen.scenario}",
        run=run,
        site_map=scenario_comparison.site_map(request, session, run, chosen),
    )
