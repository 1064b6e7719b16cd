"""Scenario maps: a proposed site, the children it would take, and drive-time bands around it.

A capacity planner weighing "a 120-place ASD/SEMH special free school at site X" wants to see
where the children the scenario sends there live, and how far the site reaches by road. This
module draws one map of a scenario's site: the road network in grey, the roads coloured by drive
time *to* the site in bands (0-15, 15-30, 30-45 and 45-75 minutes), the homes of the children
the scenario places there as small dots (the catchment), and the other settings faintly.

Two outputs share one preparation (:func:`prepare_scenario_map`):

* :func:`render_scenario_map` gives one self-contained HTML page (inline CSS, SVG and a few
  lines of script for pan and zoom; no tile, font or library fetched) because LA laptops are
  often offline or locked down, and because a map of children's homes must tell no third-party
  server anything. Without the script the map is still a complete static picture.
* :func:`render_scenario_png` writes a PNG for slides and papers, with matplotlib.

The homes are special-category data about children, so the map never carries a child's id,
address or coordinates as text: dots have no labels or hover titles, and counts are given in
the legend and the text summary only. Bands are told apart by label and line pattern as well as
colour, so the map reads in greyscale and to colour-blind readers.

Even unlabelled, a dot is a home: it maps back to the house. So there are two views of a
catchment. *Points* (one dot per home) is for people who work with individual children: the
CLI's ``--map-site`` on the officer's own machine, and the API's panel members, case officers
and admins, whose every view is audited. *Cells* (:class:`CellRules`, :func:`hex_cells`) is
for everyone else, a capacity planner first: homes are counted in a fixed grid of hexagons at
least :data:`MIN_CELL_KM` across in British National Grid metres, and a hexagon with fewer than
``min_count`` children is not drawn at all, so no small number, and no home, can be read off
the map or worked out by subtracting one map's figures from another's.

The drive times are the placement's: a Dijkstra on the *reversed* road graph from the site's
nearest node gives the time from every junction to the site, which is the direction a journey
to school runs, plus the site's own snap distance charged as :mod:`geodata.travel_times` does.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy.sparse.csgraph import dijkstra

from geodata.travel_times import SNAP_SPEED_KMH
from matcher.io import atomic_path
from matcher.models import Child, PrimaryNeed, Setting
from matcher.panel_pack import (
    MAP_H,
    MAP_W,
    MARKING,
    MARKING_TEXT,
    MapFrame,
    RoadSegments,
    north_arrow,
    road_paths,
    scale_bar,
)
from matcher.placement import PlacementResult
from matcher.planning import ScenarioComparison, ScenarioOutcome

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

FloatArray = npt.NDArray[np.float64]
_KM_PER_DEGREE = 111.195  # as matcher.panel_pack
IntArray = npt.NDArray[np.int64]

__all__ = [
    "BANDS",
    "DEFAULT_CELL_KM",
    "DEFAULT_MIN_COUNT",
    "LOWEST_MIN_COUNT",
    "MIN_CELL_KM",
    "CatchmentCells",
    "CellRules",
    "MapDependencyError",
    "ScenarioMapData",
    "TimeBand",
    "hex_cells",
    "isochrone_minutes",
    "prepare_scenario_map",
    "render_scenario_map",
    "render_scenario_png",
    "write_scenario_map",
]


@dataclass(frozen=True)
class TimeBand:
    """One drive-time band: ``low`` <= minutes < ``high``, drawn in ``colour`` and ``dash``.

    ``dash`` is a line pattern in map units (empty for a solid line), so that bands differ by
    more than colour alone.
    """

    low: float
    high: float
    colour: str
    dash: tuple[float, ...]
    width: float

    @property
    def label(self) -> str:
        return f"{self.low:g}–{self.high:g} minutes"


#: Bands nearest first. Colours are viridis-like (ordered light to dark in greyscale, safe for
#: the common colour-vision deficiencies), darkened at the far end for contrast on white.
BANDS: tuple[TimeBand, ...] = (
    TimeBand(0.0, 15.0, "#3b0f70", (), 3.2),
    TimeBand(15.0, 30.0, "#2c728e", (), 2.4),
    TimeBand(30.0, 45.0, "#218e5b", (7.0, 3.0), 2.2),
    TimeBand(45.0, 75.0, "#8a7a00", (2.0, 2.5), 2.2),
)
_BAND_EDGES = np.array([b.high for b in BANDS], np.float64)
#: The frame takes in the roads within this many minutes of the site, as well as the homes.
FRAME_MINUTES = 30.0

SITE_FILL = "#ffdd00"
HOME_FILL = "#d4351c"
OTHER_FILL = "#6f777b"


class MapDependencyError(RuntimeError):
    """A map output needs an optional package that is not installed (message says which)."""


# --------------------------------------------------------------------------------------------
# Cells: the catchment as counts per area, for viewers who may not see homes

#: Default width of a catchment cell in km, from one flat side of the hexagon to the other
#: (about 3.5 square km, several LSOAs in a town).
DEFAULT_CELL_KM = 2.0
#: The smallest cell allowed: below a kilometre a cell can hold a single street.
MIN_CELL_KM = 1.0
#: A cell with fewer children than this is not drawn (small-number suppression).
DEFAULT_MIN_COUNT = 5
#: The lowest suppression threshold allowed: a threshold may be raised, never lowered below it.
LOWEST_MIN_COUNT = 5
#: Fill of a cell by its count, lightest first, for counts from 1, 2, 4 and 10 times the
#: threshold (YlOrRd-like: ordered in greyscale, safe for common colour-vision deficiencies).
CELL_FILLS = ("#fed976", "#fd8d3c", "#e31a1c", "#800026")
_CELL_STEPS = (1, 2, 4, 10)
_BNG = "EPSG:27700"


@dataclass(frozen=True)
class CellRules:
    """How a catchment is shown to a viewer who may not see children's homes.

    Homes are counted in hexagons ``cell_km`` across (flat side to flat side) on a grid fixed
    in British National Grid metres (EPSG:27700) and anchored at the grid's origin: every map
    of every run uses the same cells, so no two maps can be overlaid to narrow a home down. A
    cell with fewer than ``min_count`` children is not drawn, and is not told apart from an
    empty one; only the number of children in such cells, all together, is given.

    Raises
    ------
    ValueError
        If ``cell_km`` is under :data:`MIN_CELL_KM` or ``min_count`` under
        :data:`LOWEST_MIN_COUNT`.
    """

    cell_km: float = DEFAULT_CELL_KM
    min_count: int = DEFAULT_MIN_COUNT

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cell_km) and self.cell_km >= MIN_CELL_KM):
            msg = f"cells must be at least {MIN_CELL_KM:g} km across, not {self.cell_km!r}"
            raise ValueError(msg)
        if self.min_count < LOWEST_MIN_COUNT:
            msg = f"the suppression threshold must be at least {LOWEST_MIN_COUNT}"
            raise ValueError(msg)

    @property
    def cell_label(self) -> str:
        return f"hexagons {self.cell_km:g} km across"


@dataclass(frozen=True)
class CatchmentCells:
    """A catchment counted in cells: only the cells with at least ``rules.min_count`` children.

    ``corners`` holds each drawn cell's six corners as (lon, lat), shape (cells, 6, 2), and
    ``counts`` its children. ``hidden`` counts the children living in cells too small to draw
    (or, outside the grid's reach, in no cell): they are in none of the drawn cells, and
    nothing says where.
    """

    rules: CellRules
    corners: FloatArray
    counts: IntArray
    hidden: int

    def fill(self, count: int) -> str:
        """The fill colour of a cell with ``count`` children (:data:`CELL_FILLS`)."""
        return CELL_FILLS[sum(count >= step * self.rules.min_count for step in _CELL_STEPS[1:])]

    def classes(self) -> list[tuple[str, str]]:
        """(colour, "5–9 children") for each fill class, for the legends."""
        lows = [step * self.rules.min_count for step in _CELL_STEPS]
        labels = [f"{low:,}–{high - 1:,} children" for low, high in pairwise(lows)]
        return list(zip(CELL_FILLS, [*labels, f"{lows[-1]:,} children or more"], strict=True))


def hex_cells(homes: FloatArray, rules: CellRules) -> CatchmentCells:
    """Count (lon, lat) homes in the fixed hexagon grid of ``rules``; drop the small cells.

    Hexagons are pointy-topped, ``rules.cell_km`` across the flats, centred on the axial grid
    (q, r) at x = w (q + r/2), y = 1.5 R r, with w the width and R = w/sqrt(3) the radius.
    """
    width = rules.cell_km * 1000.0
    radius = width / math.sqrt(3.0)
    empty = CatchmentCells(rules, np.empty((0, 6, 2)), np.empty(0, np.int64), 0)
    if len(homes) == 0:
        return empty
    x, y = _transformer("EPSG:4326", _BNG).transform(homes[:, 0], homes[:, 1])
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    gridded = np.isfinite(x) & np.isfinite(y)
    q, r = _hex_round(x[gridded] / width - y[gridded] / (3.0 * radius), y[gridded] / (1.5 * radius))
    keys, counts = np.unique(np.column_stack([q, r]), axis=0, return_counts=True)
    shown = counts >= rules.min_count
    keys, drawn = keys[shown], counts[shown].astype(np.int64)
    hidden = int(counts[~shown].sum()) + int((~gridded).sum())
    angles = np.radians(30.0 + 60.0 * np.arange(6))
    cx = width * (keys[:, 0] + keys[:, 1] / 2.0)
    cy = 1.5 * radius * keys[:, 1]
    corner_x = cx[:, None] + radius * np.cos(angles)[None, :]
    corner_y = cy[:, None] + radius * np.sin(angles)[None, :]
    lon, lat = _transformer(_BNG, "EPSG:4326").transform(corner_x.ravel(), corner_y.ravel())
    corners = np.stack([np.asarray(lon), np.asarray(lat)], axis=-1).reshape(-1, 6, 2)
    return CatchmentCells(rules, corners.astype(np.float64), drawn, hidden)


@lru_cache(maxsize=2)
def _transformer(source: str, target: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def _hex_round(q: FloatArray, r: FloatArray) -> tuple[IntArray, IntArray]:
    """Fractional axial coordinates to the hexagon holding them (cube rounding)."""
    s = -q - r
    rq, rr, rs = np.round(q), np.round(r), np.round(s)
    dq, dr, ds = np.abs(rq - q), np.abs(rr - r), np.abs(rs - s)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    rq = np.where(fix_q, -rr - rs, rq)
    rr = np.where(fix_r, -rq - rs, rr)
    return rq.astype(np.int64), rr.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Preparation, shared by the HTML and PNG outputs


@dataclass(frozen=True)
class ScenarioMapData:
    """Everything both outputs draw, in one place so the HTML and the PNG always agree.

    ``homes`` holds the catchment's (lon, lat) only to be projected; it is never written out
    as text, and it is empty when the map shows ``cells`` instead (then nothing of a single
    home is kept, not even in the map's frame). ``children_by_band`` has one count per band in
    :data:`BANDS` and a last count for placements over the last band (or with no time).
    ``road_band`` is each road segment's band index, -1 beyond the last band or with no route.
    """

    title: str
    scenario: str | None
    site: Setting
    frame: MapFrame
    homes: FloatArray
    n_children: int
    needs: tuple[tuple[PrimaryNeed, int], ...]
    children_by_band: tuple[int, ...]
    others: tuple[Setting, ...]
    roads: RoadSegments | None
    road_band: IntArray | None
    network_label: str | None
    cells: CatchmentCells | None = field(default=None)


def band_of(minutes: npt.ArrayLike) -> IntArray:
    """Index into :data:`BANDS` for each time; ``len(BANDS)`` beyond the last (or infinite)."""
    return np.searchsorted(_BAND_EDGES, np.asarray(minutes, np.float64), side="right").astype(
        np.int64
    )


def isochrone_minutes(network: RoadNetwork, lon: float, lat: float) -> FloatArray:
    """Minutes from every node to the point (lon, lat) by road; inf beyond the last band.

    Runs on the reversed graph (time *to* the site, the school-run direction) and adds the
    site's snap distance at :data:`geodata.travel_times.SNAP_SPEED_KMH`, as the travel matrix
    the placement used does. A home's own snap is not included: it differs from home to home.
    """
    nodes, metres = network.nearest_nodes([lon], [lat])
    snap_s = float(metres[0]) / (SNAP_SPEED_KMH / 3.6)
    limit = BANDS[-1].high * 60.0 - snap_s
    if limit <= 0:
        return np.full(network.n_nodes, np.inf)
    seconds = dijkstra(network.reverse_seconds, directed=True, indices=int(nodes[0]), limit=limit)
    return (np.asarray(seconds, np.float64) + snap_s) / 60.0


def _segments(network: RoadNetwork) -> tuple[RoadSegments, IntArray, IntArray]:
    """The network as :class:`RoadSegments` (one per two-way road), with each one's end nodes.

    As :meth:`RoadSegments.from_network`, which does not keep the node indices the drive
    times are per.
    """
    coo = network.seconds.tocoo()
    n = np.int64(max(network.n_nodes, 1))
    u, v = coo.row.astype(np.int64), coo.col.astype(np.int64)
    a, b = np.minimum(u, v), np.maximum(u, v)
    keep = a != b
    key = a[keep] * n + b[keep]
    seconds = np.asarray(coo.data, np.float64)[keep]
    order = np.lexsort((seconds, key))
    key, seconds = key[order], seconds[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    key, seconds = key[first], seconds[first]
    a, b = key // n, key % n
    lon = np.column_stack([network.lon[a], network.lon[b]]).astype(np.float64)
    lat = np.column_stack([network.lat[a], network.lat[b]]).astype(np.float64)
    mid = np.radians(lat.mean(axis=1))
    km = _KM_PER_DEGREE * np.hypot((lon[:, 1] - lon[:, 0]) * np.cos(mid), lat[:, 1] - lat[:, 0])
    kmh = km / np.maximum(seconds, 1e-3) * 3600.0
    return RoadSegments(lon, lat, kmh), a, b


def _pick_result(
    source: ScenarioComparison | ScenarioOutcome | PlacementResult, scenario: str | None
) -> tuple[PlacementResult, str | None]:
    if isinstance(source, PlacementResult):
        return source, scenario
    if isinstance(source, ScenarioOutcome):
        return source.result, source.name
    outcomes = {o.name: o for o in (source.base, *source.scenarios)}
    if scenario is None:
        if len(source.scenarios) != 1:
            names = ", ".join(o.name for o in source.scenarios) or "none"
            raise ValueError(f"say which scenario to map; the comparison has: {names}")
        chosen = source.scenarios[0]
    elif scenario in outcomes:
        chosen = outcomes[scenario]
    else:
        raise ValueError(f"no scenario named {scenario!r}; there are: {', '.join(outcomes)}")
    return chosen.result, chosen.name


def prepare_scenario_map(
    source: ScenarioComparison | ScenarioOutcome | PlacementResult,
    children: Sequence[Child],
    settings: Sequence[Setting],
    network: RoadNetwork | None,
    site_urn: str,
    *,
    scenario: str | None = None,
    title: str | None = None,
    cells: CellRules | None = None,
) -> ScenarioMapData:
    """Select the catchment, compute the drive-time bands and frame the map.

    Parameters
    ----------
    source
        A comparison (then ``scenario`` names the outcome; it may be left out when there is
        one scenario), one outcome, or a bare placement result.
    children, settings
        The *scenario's* inputs (from :func:`matcher.planning.apply_scenario`): its settings
        hold the new site and its children any added by demand growth.
    network
        The road network the journeys were timed on; None draws points only, and says so.
    site_urn
        The setting to map, usually a scenario's new setting (``NEW-1``).
    title
        The heading; default "<scenario>: <site name>".
    cells
        Count the homes in cells by these rules instead of keeping them as points: the view
        for anyone who may not see where children live. The frame is then fitted to the
        drawn cells, never to a home.
    """
    result, name = _pick_result(source, scenario)
    by_urn = {s.urn: s for s in settings}
    site = by_urn.get(site_urn)
    if site is None:
        raise ValueError(
            f"no setting with URN {site_urn!r} among the settings given: pass the scenario's "
            "settings (with its new settings), not the base round's"
        )
    by_id = {c.child_id: c for c in children}
    taken = [p for p in result.placements if p.setting_urn == site_urn]
    missing = sum(1 for p in taken if p.child_id not in by_id)
    if missing:
        raise ValueError(
            f"{missing} of the {len(taken)} children placed at {site_urn} are not among the "
            "children given: pass the scenario's children (with any added by demand growth)"
        )
    kids = [by_id[p.child_id] for p in taken]
    homes = np.array([(c.home.longitude, c.home.latitude) for c in kids], np.float64).reshape(-1, 2)
    need_counts = Counter(c.primary_need for c in kids)
    needs = tuple(
        sorted(need_counts.items(), key=lambda kv: (-kv[1], list(PrimaryNeed).index(kv[0])))
    )
    child_band = band_of([np.inf if p.minutes is None else p.minutes for p in taken])
    children_by_band = tuple(int(np.sum(child_band == k)) for k in range(len(BANDS) + 1))

    counted = None if cells is None else hex_cells(homes, cells)
    if counted is not None:
        homes = np.empty((0, 2), np.float64)
    site_xy = (site.location.longitude, site.location.latitude)
    points: list[tuple[float, float]] = [site_xy, *((float(x), float(y)) for x, y in homes)]
    if counted is not None:
        points += [(float(x), float(y)) for x, y in counted.corners.reshape(-1, 2)]
    roads: RoadSegments | None = None
    road_band: IntArray | None = None
    if network is not None:
        minutes = isochrone_minutes(network, *site_xy)
        roads, a, b = _segments(network)
        road_band = band_of(np.maximum(minutes[a], minutes[b]))
        road_band[road_band >= len(BANDS)] = -1
        near = np.flatnonzero(minutes <= FRAME_MINUTES)
        if len(near):
            lon, lat = network.lon[near], network.lat[near]
            points += [(float(lon.min()), float(lat.min())), (float(lon.max()), float(lat.max()))]
    frame = MapFrame.around(points)
    others = tuple(s for s in settings if s.urn != site_urn)
    heading = title if title is not None else f"{name}: {site.name}" if name else site.name
    return ScenarioMapData(
        title=heading,
        scenario=name,
        site=site,
        frame=frame,
        homes=homes,
        n_children=len(kids),
        needs=needs,
        children_by_band=children_by_band,
        others=others,
        roads=roads,
        road_band=road_band,
        network_label=network.label if network is not None else None,
        cells=counted,
    )


# --------------------------------------------------------------------------------------------
# Words, shared by the page, its SVG description and the PNG


def _children(n: int) -> str:
    return f"{n:,} {'child' if n == 1 else 'children'}"


def _needs_text(data: ScenarioMapData) -> str:
    return ", ".join(f"{need.value} {n:,}" for need, n in data.needs) or "none"


def _bands_text(data: ScenarioMapData) -> str:
    parts = [
        f"{band.label}: {_children(n)}"
        for band, n in zip(BANDS, data.children_by_band, strict=False)
    ]
    if data.children_by_band[-1]:
        parts.append(f"over {BANDS[-1].high:g} minutes: {_children(data.children_by_band[-1])}")
    return "; ".join(parts)


def _summary(data: ScenarioMapData) -> str:
    who = f"the scenario {data.scenario!r}" if data.scenario else "the plan"
    text = (
        f"{data.site.name} (URN {data.site.urn}): {who} places {_children(data.n_children)} "
        f"there. By primary need: {_needs_text(data)}. By journey time to the site: "
        f"{_bands_text(data)}."
    )
    if data.cells is not None:
        text += " " + _cells_text(data.cells)
    if data.roads is None:
        return text + (
            " No road network was given, so no roads or drive-time bands are drawn: the map "
            "shows locations only."
        )
    return text + (
        " Roads are coloured by drive time to the site in bands of "
        + ", ".join(b.label for b in BANDS)
        + "; grey roads are further or have no route."
    )


def _cells_text(cells: CatchmentCells) -> str:
    rules = cells.rules
    return (
        f"Homes are not shown: children are counted in {rules.cell_label}, and a hexagon with "
        f"fewer than {rules.min_count} children is not drawn "
        f"({_children(cells.hidden)} live in such hexagons)."
    )


# --------------------------------------------------------------------------------------------
# HTML


def render_scenario_map(
    source: ScenarioComparison | ScenarioOutcome | PlacementResult,
    children: Sequence[Child],
    settings: Sequence[Setting],
    network: RoadNetwork | None,
    site_urn: str,
    *,
    scenario: str | None = None,
    title: str | None = None,
    cells: CellRules | None = None,
) -> str:
    """One self-contained HTML page mapping a site's catchment and drive-time bands.

    Arguments as :func:`prepare_scenario_map`. Nothing on the page is fetched from anywhere;
    the script only pans and zooms the SVG, which is complete without it.
    """
    data = prepare_scenario_map(
        source, children, settings, network, site_urn, scenario=scenario, title=title, cells=cells
    )
    summary = _summary(data)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en-GB">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(data.title)}: scenario map</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            f'<p class="marking">{escape(MARKING)}</p>',
            f"<h1>{escape(data.title)}</h1>",
            f'<p class="lead">{escape(summary)}</p>',
            '<div class="controls" role="group" aria-label="Map view">'
            '<button type="button" data-zoom="0.7">Zoom in</button>'
            '<button type="button" data-zoom="1.4">Zoom out</button>'
            '<button type="button" data-zoom="0">Reset view</button>'
            "<span>or drag and scroll on the map</span></div>",
            f'<figure class="map-figure">{_svg(data, summary)}',
            f'<figcaption><ul class="legend">{_legend(data)}</ul></figcaption></figure>',
            _tables(data),
            f'<p class="foot">Travel times: {escape(data.network_label or "no road network")}. '
            f"{escape(MARKING_TEXT)}</p>",
            "</main>",
            f"<script>{_JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def write_scenario_map(html_text: str, path: Path | str) -> None:
    """Write the page in one step, so a half-written map never reaches a planning meeting."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(html_text, encoding="utf-8")


def _svg(data: ScenarioMapData, summary: str) -> str:
    frame = data.frame
    roads_svg, bands_svg = "", ""
    if data.roads is not None and data.road_band is not None:
        roads_svg, _ = road_paths(data.roads, frame)
        found, _ = data.roads.within(frame)
        bands_svg = _band_paths(data.roads, data.road_band, found, frame)
    others = []
    for s in data.others:
        x, y = frame.xy(s.location.longitude, s.location.latitude)
        others.append(
            f'<g class="other"><title>{escape(s.name)} (URN {escape(s.urn)})</title>'
            f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"/></g>'
        )
    if data.cells is not None:
        homes_svg = _cell_shapes(data.cells, frame)
    elif len(data.homes):
        hx, hy = frame.project(data.homes[:, 0], data.homes[:, 1])
        dots = "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2"/>' for x, y in zip(hx, hy, strict=True)
        )
        homes_svg = f'<g class="homes" aria-hidden="true">{dots}</g>'
    else:
        homes_svg = ""
    sx, sy = frame.xy(data.site.location.longitude, data.site.location.latitude)
    site_svg = (
        f'<g class="site"><title>{escape(data.site.name)} (URN {escape(data.site.urn)})</title>'
        f'<polygon points="{_star(sx, sy, 13.0)}"/>'
        f'<text x="{sx + 16:.1f}" y="{sy - 10:.1f}">{escape(data.site.name)}</text></g>'
    )
    return (
        f'<svg id="scenario-map" class="map-svg" viewBox="0 0 {MAP_W:g} {MAP_H:g}" role="img" '
        'aria-labelledby="map-title map-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="map-title">{escape(data.title)}</title>'
        f'<desc id="map-desc">{escape(summary)}</desc>'
        f'<rect class="map-bg" x="-10000" y="-10000" width="20000" height="20000"/>'
        f'<g class="roads">{roads_svg}{bands_svg}</g>'
        f"{''.join(others)}{homes_svg}{site_svg}{scale_bar(frame)}{north_arrow()}"
        "</svg>"
    )


def _cell_shapes(cells: CatchmentCells, frame: MapFrame) -> str:
    """Each drawn cell as a filled hexagon with its count written in it."""
    shapes = []
    for corners, count in zip(cells.corners, cells.counts.tolist(), strict=True):
        x, y = frame.project(corners[:, 0], corners[:, 1])
        outline = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
        shapes.append(
            f'<g class="cell"><title>{_children(count)}</title>'
            f'<polygon points="{outline}" fill="{cells.fill(count)}"/>'
            f'<text x="{x.mean():.1f}" y="{y.mean() + 5:.1f}">{count:,}</text></g>'
        )
    return f'<g class="cells">{"".join(shapes)}</g>'


def _band_paths(roads: RoadSegments, road_band: IntArray, found: IntArray, frame: MapFrame) -> str:
    """One path per band, far bands first so the nearer draw on top."""
    x, y = frame.project(roads.lon[found], roads.lat[found])
    ends = np.round(np.column_stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]]), 1)
    bands = road_band[found]
    out = []
    for k in reversed(range(len(BANDS))):
        rows = ends[bands == k]
        if len(rows):
            d = "".join(f"M{a:g} {b:g}L{c:g} {e:g}" for a, b, c, e in rows.tolist())
            out.append(f'<path class="band band-{k}" d="{d}"/>')
    return "".join(out)


def _star(x: float, y: float, r: float) -> str:
    angles = np.radians(np.arange(10) * 36.0 - 90.0)
    radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
    return " ".join(
        f"{x + rr * np.cos(t):.1f},{y + rr * np.sin(t):.1f}"
        for rr, t in zip(radii, angles, strict=True)
    )


def _line_key(colour: str, width: float, dash: tuple[float, ...]) -> str:
    pattern = f' stroke-dasharray="{" ".join(f"{d:g}" for d in dash)}"' if dash else ""
    return (
        '<svg class="key" width="40" height="12" aria-hidden="true">'
        f'<line x1="2" y1="6" x2="38" y2="6" stroke="{colour}" stroke-width="{width:g}"{pattern}/>'
        "</svg>"
    )


def _legend(data: ScenarioMapData) -> str:
    items = [
        '<li><svg class="key" width="40" height="28" viewBox="-14 -14 28 28" aria-hidden="true">'
        f'<polygon points="{_star(0, 0, 12.0)}" fill="{SITE_FILL}" stroke="#0b0c0c" '
        f'stroke-width="1.5"/></svg>The site: {escape(data.site.name)} '
        f"(URN {escape(data.site.urn)})</li>",
    ]
    if data.cells is not None:
        items += [
            '<li><svg class="key" width="40" height="16" aria-hidden="true"><rect x="10" y="1" '
            f'width="20" height="14" fill="{colour}" stroke="#0b0c0c"/></svg>A hexagon '
            f"{data.cells.rules.cell_km:g} km across holding the homes of {label} placed at the "
            "site; the number in it is the count</li>"
            for colour, label in data.cells.classes()
        ]
        items.append(
            f"<li>Not drawn: hexagons with fewer than {data.cells.rules.min_count} children "
            f"({_children(data.cells.hidden)} in all)</li>"
        )
    else:
        items.append(
            '<li><svg class="key" width="40" height="12" aria-hidden="true"><circle cx="20" '
            f'cy="6" r="4" fill="{HOME_FILL}" stroke="#fff"/></svg>Home of a child placed at the '
            f"site: {_children(data.n_children)} (homes are not labelled)</li>"
        )
    if data.roads is not None:
        for band, n in zip(BANDS, data.children_by_band, strict=False):
            items.append(
                f"<li>{_line_key(band.colour, band.width, band.dash)}Roads {band.label}' drive "
                f"to the site; {_children(n)} placed here travel {band.label}</li>"
            )
        items.append(
            f"<li>{_line_key('#b1b4b6', 2.0, ())}Roads over {BANDS[-1].high:g} minutes from the "
            "site or with no route. Roads © OpenStreetMap contributors.</li>"
        )
    else:
        items.append(
            "<li>No road network was given (straight-line travel-time estimate): no roads or "
            "drive-time bands are drawn, only locations.</li>"
        )
    if data.others:
        items.append(
            '<li><svg class="key" width="40" height="12" aria-hidden="true"><rect x="16" y="2" '
            f'width="8" height="8" fill="{OTHER_FILL}" fill-opacity="0.5"/></svg>Other settings '
            f"({len(data.others):,}); hover over one for its name</li>"
        )
    return "".join(items)


def _tables(data: ScenarioMapData) -> str:
    band_rows = [
        f'<tr><th scope="row">{escape(b.label)}</th><td class="num">{n:,}</td></tr>'
        for b, n in zip(BANDS, data.children_by_band, strict=False)
    ]
    band_rows.append(
        f'<tr><th scope="row">Over {BANDS[-1].high:g} minutes or no time</th>'
        f'<td class="num">{data.children_by_band[-1]:,}</td></tr>'
    )
    need_rows = [
        f'<tr><th scope="row">{escape(need.value)}</th><td class="num">{n:,}</td></tr>'
        for need, n in data.needs
    ] or ['<tr><td colspan="2">None</td></tr>']
    return (
        '<div class="tables">'
        "<table><caption>Children placed at the site, by journey time</caption>"
        '<thead><tr><th scope="col">Journey</th><th scope="col" class="num">Children</th>'
        f"</tr></thead><tbody>{''.join(band_rows)}</tbody></table>"
        "<table><caption>Children placed at the site, by primary need</caption>"
        '<thead><tr><th scope="col">Primary need</th><th scope="col" class="num">Children</th>'
        f"</tr></thead><tbody>{''.join(need_rows)}</tbody></table></div>"
    )


def _band_css() -> str:
    return "".join(
        f".band-{k} {{ stroke: {b.colour}; stroke-width: {b.width:g};"
        + (f" stroke-dasharray: {' '.join(f'{d:g}' for d in b.dash)};" if b.dash else "")
        + " }\n"
        for k, b in enumerate(BANDS)
    )


_CSS = (
    """
:root { --text: #0b0c0c; --muted: #505a5f; --line: #b1b4b6; }
body { margin: 0; color: var(--text); font-family: Arial, "Helvetica Neue", sans-serif;
  line-height: 1.4; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.5rem; }
h1 { font-size: 1.8rem; margin: 0.3rem 0 0.6rem; }
.marking { margin: 0; font-weight: bold; letter-spacing: 0.04em; font-size: 0.85rem; }
.lead { max-width: 60em; }
.controls { display: flex; gap: 0.5rem; align-items: center; margin: 0.5rem 0;
  color: var(--muted); font-size: 0.9rem; }
.controls button { font: inherit; padding: 0.2rem 0.6rem; }
button:focus { outline: 3px solid #ffdd00; }
.map-figure { margin: 0; }
.map-svg { display: block; width: 100%; height: auto; border: 2px solid var(--line);
  cursor: grab; touch-action: none; }
.map-bg { fill: #fbfbfa; }
.road { fill: none; stroke: #c4c7c9; stroke-width: 1.3; stroke-linecap: round; }
.road-main { stroke: #9ea3a6; stroke-width: 2.6; }
.band { fill: none; stroke-linecap: round; }
"""
    + _band_css()
    + f"""
.other rect {{ fill: {OTHER_FILL}; fill-opacity: 0.5; }}
.homes circle {{ fill: {HOME_FILL}; stroke: #fff; stroke-width: 1; }}
.cell polygon {{ fill-opacity: 0.75; stroke: var(--text); stroke-width: 1; }}
.cell text {{ font: bold 13px Arial, sans-serif; text-anchor: middle; fill: var(--text);
  stroke: #fff; stroke-width: 3px; paint-order: stroke; stroke-linejoin: round; }}
.site polygon {{ fill: {SITE_FILL}; stroke: var(--text); stroke-width: 2; }}
.site text, .scale text, .north text {{ font-family: Arial, sans-serif; font-weight: bold; }}
.site text {{ font-size: 16px; fill: var(--text); stroke: #fff; stroke-width: 4px;
  paint-order: stroke; stroke-linejoin: round; }}
.scale-bg {{ fill: #fff; fill-opacity: 0.85; }}
.scale path {{ fill: none; stroke: var(--text); stroke-width: 3; }}
.scale text, .north text {{ text-anchor: middle; fill: var(--text); }}
.scale text {{ font-size: 14px; }}
.north path {{ fill: var(--text); }}
.north text {{ font-size: 15px; }}
.legend {{ list-style: none; padding: 0; margin: 0.5rem 0; }}
.legend li {{ display: flex; align-items: center; gap: 0.5rem; margin: 0.2rem 0; }}
.key {{ flex: none; }}
.tables {{ display: flex; flex-wrap: wrap; gap: 2rem; }}
table {{ border-collapse: collapse; }}
caption {{ text-align: left; font-weight: bold; padding-bottom: 0.3rem; }}
th, td {{ border-bottom: 1px solid var(--line); padding: 0.25rem 0.6rem; text-align: left; }}
.num {{ text-align: right; }}
.foot {{ color: var(--muted); font-size: 0.85rem; border-top: 1px solid var(--line);
  padding-top: 0.4rem; margin-top: 1.5rem; }}
@media print {{ .controls {{ display: none; }} }}
"""
)

# Pan and zoom by rewriting the SVG's viewBox: drag, wheel, and buttons for the keyboard.
_JS = f"""
(function () {{
  var svg = document.getElementById("scenario-map"), W = {MAP_W:g}, H = {MAP_H:g};
  var vb = [0, 0, W, H], drag = null;
  function set() {{ svg.setAttribute("viewBox", vb.join(" ")); }}
  function zoom(f, px, py) {{
    var w = Math.min(W * 2, Math.max(W / 40, vb[2] * f)); f = w / vb[2];
    vb = [px - (px - vb[0]) * f, py - (py - vb[1]) * f, vb[2] * f, vb[3] * f]; set();
  }}
  function at(e) {{
    var r = svg.getBoundingClientRect();
    return [vb[0] + (e.clientX - r.left) / r.width * vb[2],
            vb[1] + (e.clientY - r.top) / r.height * vb[3]];
  }}
  svg.addEventListener("wheel", function (e) {{
    e.preventDefault(); var p = at(e); zoom(e.deltaY < 0 ? 0.8 : 1.25, p[0], p[1]);
  }}, {{ passive: false }});
  svg.addEventListener("pointerdown", function (e) {{
    drag = [e.clientX, e.clientY]; svg.setPointerCapture(e.pointerId);
  }});
  svg.addEventListener("pointermove", function (e) {{
    if (!drag) return;
    var r = svg.getBoundingClientRect();
    vb[0] -= (e.clientX - drag[0]) / r.width * vb[2];
    vb[1] -= (e.clientY - drag[1]) / r.height * vb[3];
    drag = [e.clientX, e.clientY]; set();
  }});
  svg.addEventListener("pointerup", function () {{ drag = null; }});
  document.querySelectorAll("[data-zoom]").forEach(function (b) {{
    b.addEventListener("click", function () {{
      var f = parseFloat(b.getAttribute("data-zoom"));
      if (f === 0) {{ vb = [0, 0, W, H]; set(); }}
      else zoom(f, vb[0] + vb[2] / 2, vb[1] + vb[3] / 2);
    }});
  }});
}})();
"""


# --------------------------------------------------------------------------------------------
# PNG


def render_scenario_png(
    source: ScenarioComparison | ScenarioOutcome | PlacementResult,
    children: Sequence[Child],
    settings: Sequence[Setting],
    network: RoadNetwork | None,
    site_urn: str,
    path: Path | str,
    *,
    scenario: str | None = None,
    title: str | None = None,
    dpi: int = 150,
    cells: CellRules | None = None,
) -> Path:
    """Write the same map as a PNG (for slides and papers) with matplotlib; return the path.

    Raises
    ------
    MapDependencyError
        If matplotlib is not installed; the message says how to install it.
    """
    try:
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patheffects import withStroke
    except ImportError as err:
        raise MapDependencyError(
            "writing a PNG map needs matplotlib, which is not installed; install it with "
            "`pip install matplotlib`, or write the HTML map instead"
        ) from err

    data = prepare_scenario_map(
        source, children, settings, network, site_urn, scenario=scenario, title=title, cells=cells
    )
    frame = data.frame
    fig = Figure(figsize=(11.0, 5.6), dpi=dpi)
    ax = fig.add_axes((0.01, 0.07, 0.6, 0.83))
    ax.set_xlim(0, MAP_W)
    ax.set_ylim(MAP_H, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#fbfbfa")
    handles: list[Line2D] = [
        Line2D(
            [],
            [],
            ls="",
            marker="*",
            ms=16,
            mfc=SITE_FILL,
            mec="#0b0c0c",
            mew=1.2,
            label=f"The site: {data.site.name}",
        ),
        *_png_home_keys(data, Line2D),
    ]
    if data.roads is not None and data.road_band is not None:
        found, _ = data.roads.within(frame)
        x, y = frame.project(data.roads.lon[found], data.roads.lat[found])
        lines = np.stack(
            [np.column_stack([x[:, 0], y[:, 0]]), np.column_stack([x[:, 1], y[:, 1]])], 1
        )
        ax.add_collection(LineCollection(list(lines), colors="#c4c7c9", linewidths=0.9))
        bands = data.road_band[found]
        for k in reversed(range(len(BANDS))):
            band = BANDS[k]
            style = (0, tuple(d / band.width * 1.6 for d in band.dash)) if band.dash else "solid"
            ax.add_collection(
                LineCollection(
                    list(lines[bands == k]),
                    colors=band.colour,
                    linewidths=band.width * 0.55,
                    linestyles=style,
                    capstyle="round",
                )
            )
        for band, n in zip(BANDS, data.children_by_band, strict=False):
            handles.append(
                Line2D(
                    [],
                    [],
                    color=band.colour,
                    lw=band.width * 0.55,
                    ls=(0, tuple(d / band.width * 1.6 for d in band.dash))
                    if band.dash
                    else "solid",
                    label=f"{band.label}' drive; {_children(n)} placed",
                )
            )
        handles.append(
            Line2D(
                [], [], color="#b1b4b6", lw=1.5, label=f"Over {BANDS[-1].high:g} min or no route"
            )
        )
    if data.others:
        ox, oy = frame.project(
            np.array([s.location.longitude for s in data.others]),
            np.array([s.location.latitude for s in data.others]),
        )
        ax.scatter(ox, oy, s=18, marker="s", c=OTHER_FILL, alpha=0.5, linewidths=0, zorder=3)
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="s",
                ms=5,
                mfc=OTHER_FILL,
                mec="none",
                alpha=0.5,
                label=f"Other settings ({len(data.others):,})",
            )
        )
    if data.cells is not None:
        _png_cells(ax, data.cells, frame, withStroke)
    elif len(data.homes):
        hx, hy = frame.project(data.homes[:, 0], data.homes[:, 1])
        ax.scatter(hx, hy, s=14, c=HOME_FILL, edgecolors="white", linewidths=0.5, zorder=4)
    sx, sy = frame.xy(data.site.location.longitude, data.site.location.latitude)
    ax.scatter([sx], [sy], s=320, marker="*", c=SITE_FILL, edgecolors="#0b0c0c", zorder=5)
    ax.text(
        sx + 12,
        sy - 10,
        data.site.name,
        fontsize=9,
        fontweight="bold",
        zorder=6,
        path_effects=[withStroke(linewidth=3, foreground="white")],
    )
    km = _scale_km(frame)
    length = km * frame.units_per_km
    ax.plot(
        [16, 16, 16 + length, 16 + length],
        [MAP_H - 25, MAP_H - 18, MAP_H - 18, MAP_H - 25],
        color="#0b0c0c",
        lw=2,
        zorder=6,
    )
    ax.text(16 + length / 2, MAP_H - 28, f"{km:g} km", ha="center", fontsize=8, zorder=6)
    ax.annotate(
        "N",
        xy=(MAP_W - 26, 16),
        xytext=(MAP_W - 26, 52),
        ha="center",
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "#0b0c0c"},
    )
    if data.roads is None:
        handles.append(Line2D([], [], ls="", label="No road network: locations only"))
    fig.legend(
        handles=handles, loc="center left", bbox_to_anchor=(0.62, 0.5), frameon=False, fontsize=9
    )
    fig.suptitle(data.title, x=0.01, ha="left", fontsize=13, fontweight="bold")
    fig.text(
        0.01,
        0.02,
        f"{MARKING_TEXT}. Roads © OpenStreetMap contributors."
        if data.roads is not None
        else MARKING_TEXT,
        fontsize=7,
        color="#505a5f",
    )
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target


def _png_home_keys(data: ScenarioMapData, line: Any) -> list[Any]:
    """Legend entries for the homes: one dot, or a patch per cell class and the hidden count."""
    if data.cells is None:
        label = f"Home of a child placed there ({_children(data.n_children)})"
        return [line([], [], ls="", marker="o", ms=6, mfc=HOME_FILL, mec="white", label=label)]
    heading = f"Homes counted in {data.cells.rules.cell_label}:"
    keys = [line([], [], ls="", label=heading)]
    keys += [
        line([], [], ls="", marker="h", ms=10, mfc=colour, mec="#0b0c0c", label=label)
        for colour, label in data.cells.classes()
    ]
    hidden = f"Not drawn: cells under {data.cells.rules.min_count} ({_children(data.cells.hidden)})"
    return [*keys, line([], [], ls="", label=hidden)]


def _png_cells(ax: Any, cells: CatchmentCells, frame: MapFrame, halo: Any) -> None:
    from matplotlib.patches import Polygon

    for corners, count in zip(cells.corners, cells.counts.tolist(), strict=True):
        x, y = frame.project(corners[:, 0], corners[:, 1])
        ax.add_patch(
            Polygon(
                np.column_stack([x, y]),
                closed=True,
                facecolor=cells.fill(count),
                edgecolor="#0b0c0c",
                alpha=0.75,
                linewidth=0.6,
                zorder=4,
            )
        )
        ax.text(
            float(x.mean()),
            float(y.mean()),
            f"{count:,}",
            ha="center",
            va="center",
            fontsize=7,
            fontweight="bold",
            zorder=5,
            path_effects=[halo(linewidth=2, foreground="white")],
        )


def _scale_km(frame: MapFrame) -> float:
    """The scale bar's length in km, as :func:`matcher.panel_pack.scale_bar` chooses it."""
    most = 0.25 * MAP_W / frame.units_per_km
    step = 10.0 ** np.floor(np.log10(most))
    return float(max((m * step for m in (1.0, 2.0, 5.0) if m * step <= most), default=step))
