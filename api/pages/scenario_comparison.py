"""A scenario comparison as the comparison page shows it: the side-by-side table in plain
words, a chart per headline measure, and the map of a new site taken from the command line's
map page (:mod:`matcher.scenario_map`) so that the page and ``--map-site`` draw the same map.

The map is the view every role may see (children counted per area, small counts not drawn),
cached with the API's maps (:data:`api.planning_jobs.map_cache`): drawing it solves the
scenario again. Its SVG is drawn with classes, styled by the rules of the map page's own
stylesheet, served here as a stylesheet of this origin (the pages' CSP allows no inline style).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.db import Caseload, Run
from api.jobs import caseload_inputs
from api.pages import planner_charts, scenario_builder
from api.pages.planner_charts import Bar, bar_chart, in_unit, signed
from api.pages.routes_runs import journey_model
from api.planning_jobs import UnknownSiteError, map_cache, map_cell_rules, render_comparison_map
from api.schemas import ComparisonOut, NewSiteOut
from matcher import io as matcher_io
from matcher.scenario_map import _CSS as MAP_CSS
from matcher.scenario_map import MapDependencyError

#: The metrics drawn as charts: what planners compare first.
CHARTED = ("placed", "mean_minutes", "out_of_area", "independent", "total_cost")
#: The comparison's measures in the pages' words (the file's labels are the CLI's).
PLAIN_LABELS = {
    "children": "Children",
    "placed": "Children with a place proposed",
    "unplaced": "Children with no place proposed",
    "with_preferences": "Children whose parents stated preferences",
    "first_preference_met": "First preference met",
    "any_preference_met": "Any preference met",
    "mean_minutes": "Average journey (minutes)",
    "p90_minutes": "Journey 9 in 10 children are within (minutes)",
    "over_phase_limit": "Journeys over the time limit for the child's age",
    "out_of_area": "Places outside the local authority",
    "independent": "Places in independent settings",
    "placement_cost": "Placement cost (£ a year)",
    "transport_cost": "Transport cost (£ a year)",
    "total_cost": "Total cost (£ a year)",
    "cost_per_placed": "Cost for each child placed (£ a year)",
}


def _map_styles() -> str:
    """The scenario map's own drawing rules (``matcher.scenario_map``), kept to the map."""
    wanted = (
        ".map-svg",
        ".map-bg",
        ".road",
        ".band",
        ".other",
        ".homes",
        ".cell",
        ".site",
        ".scale",
        ".north",
        ".key",
    )
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", MAP_CSS):
        names = [s.strip() for s in selectors.split(",")]
        if all(n.startswith(wanted) for n in names):
            body = body.replace("cursor: grab;", "").replace("var(--text)", "#0b0c0c")
            body = body.replace("var(--line)", "#b1b4b6")
            scoped = ", ".join(f".sendmatch-scenario-map {n}" for n in names)
            rules.append(f"{scoped} {{{body}}}")
    return "\n".join(rules) + "\n"


#: The planner pages' few rules of their own: charts and maps fit a phone's width, the map's
#: legend lines up its keys, a remove button sits beside its change.
PLANNER_STYLES = """
.sendmatch-chart, .sendmatch-site-map { display: block; max-width: 100%; height: auto; }
.sendmatch-site-map { border: 1px solid #b1b4b6; cursor: crosshair; }
.sendmatch-chart-figure { margin: 0 0 30px; }
.sendmatch-scenario-map .map-figure { margin: 0 0 20px; }
.sendmatch-map-legend li { display: flex; align-items: center; gap: 10px; }
.sendmatch-map-tables { display: flex; flex-wrap: wrap; column-gap: 40px; }
.sendmatch-inline-form { display: inline; }
.sendmatch-chart-legend { list-style: none; padding: 0; }
.sendmatch-chart-legend li { display: inline-flex; align-items: center; gap: 6px;
  margin-right: 20px; }
@media print { .sendmatch-chart, .sendmatch-scenario-map svg { max-width: 100%; } }
"""
MAP_STYLES = _map_styles() + PLANNER_STYLES


def comparison_context(result: ComparisonOut) -> dict[str, Any]:
    columns = result.scenarios
    changed = [c for c in columns if not c.base]
    rows = []
    for metric in result.metrics:
        fmt = in_unit(metric.unit)
        rows.append(
            {
                "label": PLAIN_LABELS.get(metric.key, metric.label),
                "values": [fmt(getattr(c.figures, metric.key)) for c in columns],
                "changes": [
                    signed(fmt)(getattr(c.change, metric.key) if c.change else None)
                    for c in changed
                ],
            }
        )
    needs = sorted({n.need for c in columns for n in c.unplaced_by_need})
    descriptions = {n.need: n.description for c in columns for n in c.unplaced_by_need}

    def count_of(items: list[Any] | None, need: str) -> int:
        return next((n.count for n in items or [] if n.need == need), 0)

    need_rows = [
        {
            "label": f"{descriptions[need][:1].upper()}{descriptions[need][1:]} ({need})",
            "values": [count_of(c.unplaced_by_need, need) for c in columns],
            "changes": [
                signed(planner_charts.count)(count_of(c.unplaced_by_need_change, need))
                for c in changed
            ],
        }
        for need in needs
    ]
    charts = []
    for metric in result.metrics:
        if metric.key in CHARTED:
            label = PLAIN_LABELS.get(metric.key, metric.label)
            bars = [Bar(c.name, getattr(c.figures, metric.key)) for c in columns]
            charts.append((label, bar_chart(label, bars, in_unit(metric.unit))))
    return {
        "columns": columns,
        "changed": changed,
        "rows": rows,
        "need_rows": need_rows,
        "charts": charts,
        "journeys": journey_model(columns[0].travel_model if columns else ""),
        "sites": result.sites,
        "kinds": scenario_builder.NEW_SETTING_TYPES,
    }


def site_map(request: Request, session: Session, run: Run, site: NewSiteOut) -> dict[str, Any]:
    """The command line's map of a new site (children counted per area of the server's size,
    small counts not drawn: what every role may see), taken apart to sit in the page."""
    cells = map_cell_rules()
    key = (
        request.app.state.db.url,
        run.id,
        run.created_at,
        site.urn,
        site.scenario,
        "html",
        "cells",
        cells,
    )
    drawn = map_cache.get(key)
    if drawn is None:
        caseload = session.get_one(Caseload, run.caseload_id)
        try:
            inputs = caseload_inputs(caseload, getattr(request.app.state, "network", None))
            drawn = render_comparison_map(
                inputs,
                run.options,
                site.urn,
                site.scenario,
                "html",
                getattr(request.app.state, "network", None),
                cells=cells,
            )
        except (matcher_io.InputError, UnknownSiteError, MapDependencyError, ValidationError):
            return {"site": site, "problem": "The map of this site cannot be drawn now."}
        map_cache.put(key, drawn)
    return {"site": site, **map_parts(drawn.body.decode("utf-8"))}


def map_parts(html: str) -> dict[str, Markup]:
    """The summary, the SVG with its legend, and the tables of the map's page, with GOV.UK's
    classes on the tables; the page's own styles and script are left behind."""

    def between(start: str, end: str) -> str:
        at = html.find(start)
        stop = html.find(end, at)
        return "" if at < 0 or stop < 0 else html[at : stop + len(end)]

    tables = between('<div class="tables">', "</table></div>")
    for plain, styled in (
        ("<table>", '<table class="govuk-table">'),
        ("<caption>", '<caption class="govuk-table__caption govuk-table__caption--s">'),
        (
            '<th scope="col" class="num">',
            '<th scope="col" class="govuk-table__header govuk-table__header--numeric">',
        ),
        ('<th scope="col">', '<th scope="col" class="govuk-table__header">'),
        ('<th scope="row">', '<th scope="row" class="govuk-table__header">'),
        ('<td class="num">', '<td class="govuk-table__cell govuk-table__cell--numeric">'),
        ("<td colspan", '<td class="govuk-table__cell" colspan'),
        ("<tr>", '<tr class="govuk-table__row">'),
    ):
        tables = tables.replace(plain, styled)
    figure = between('<figure class="map-figure">', "</figure>")
    figure = figure.replace('<ul class="legend">', '<ul class="govuk-list sendmatch-map-legend">')
    lead = between('<p class="lead">', "</p>").replace('class="lead"', 'class="govuk-body"')
    return {"summary": Markup(lead), "figure": Markup(figure), "tables": Markup(tables)}
