"""A placement run's summary for the run page: counts with percentages, breakdowns by primary
need, phase and kind of place, each setting's fill, and a map of the LA drawn as inline SVG.

A run's results say where each child is proposed; who the child is (need, year) and what each
setting holds (places, on roll, where it is) are in the caseload's files, read with the same
reader as the run (:func:`api.jobs.caseload_inputs`). At 25,000 children that takes seconds,
so the overview is prepared in a thread of its own on the first view (the page says so and
reloads itself) and kept in memory for later views (a few runs at a time): a finished run never
changes. The map draws at most :data:`MAX_FLOWS` lines, so its page stays small at any size.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import Caseload, Database, Run, RunResult
from api.jobs import caseload_inputs
from matcher.models import PlacementKind
from matcher.needs import NEED_DESCRIPTIONS, PrimaryNeed

#: Runs whose overview is kept in memory.
CACHED_RUNS = 4
NOT_PLACED = "No place proposed"
KIND_NAMES = {
    PlacementKind.MAINSTREAM.value: "Mainstream school",
    PlacementKind.RESOURCED_PROVISION.value: "Resourced provision or SEN unit",
    PlacementKind.SPECIAL.value: "Special school",
    PlacementKind.INDEPENDENT.value: "Independent or non-maintained special school",
    PlacementKind.ALTERNATIVE_PROVISION.value: "Alternative provision",
}
#: Map drawing: the SVG's width, its margin, and the smallest area children are grouped by
#: (about 1 km), so the lines show where children come from, never a home.
MAP_WIDTH, MAP_MARGIN, AREA_DEGREES = 800, 24, 0.01
#: Most lines on the map: areas grow (doubling) until the lines fit, then the biggest are kept.
MAX_FLOWS = 1500
#: Areas stop growing at this size (about 16 km); past it an area says little.
MAX_AREA_DEGREES = 0.16

log = logging.getLogger(__name__)
KIND_COLOURS = {
    PlacementKind.MAINSTREAM.value: "#1d70b8",
    PlacementKind.RESOURCED_PROVISION.value: "#00703c",
    PlacementKind.SPECIAL.value: "#912b88",
    PlacementKind.INDEPENDENT.value: "#d4351c",
    PlacementKind.ALTERNATIVE_PROVISION.value: "#505a5f",
}


def phase_name(nc_year: int) -> str:
    """The phase of education of a National Curriculum year, as schools name it."""
    if nc_year < 0:
        return "Early years"
    if nc_year <= 6:
        return "Primary (Reception to Year 6)"
    if nc_year <= 11:
        return "Secondary (Years 7 to 11)"
    return "Post-16 (Year 12 and over)"


def need_name(code: str) -> str:
    try:
        description = NEED_DESCRIPTIONS[PrimaryNeed(code)]
    except ValueError:
        return code
    return description[:1].upper() + description[1:]


@dataclass
class Breakdown:
    """Children, placed, and first preferences met, for one value of a grouping."""

    name: str
    children: int = 0
    placed: int = 0
    first_preference: int = 0


@dataclass
class SettingFill:
    """A setting's places, children on roll, and children this run proposes for it."""

    number: int
    urn: str
    name: str
    kind: str
    places: int
    on_roll: int
    proposed: int
    x: float = 0.0
    y: float = 0.0


@dataclass
class RunOverview:
    """Everything the run page shows beyond the run's own summary."""

    by_need: list[Breakdown]
    by_phase: list[Breakdown]
    by_kind: list[Breakdown]
    settings: list[SettingFill]
    #: Lines from an area (its centre in map coordinates) to a setting, with how many children.
    flows: list[tuple[float, float, float, float, int]] = field(default_factory=list)
    height: int = 0
    #: The side of the areas the lines start from, in kilometres (about).
    area_km: float = 1.0
    #: Lines left off the map (the smallest), when there were more than :data:`MAX_FLOWS`.
    flows_left_off: int = 0
    #: Why the overview could not be made, in words for the page; None when it was.
    problem: str | None = None


_cache: OrderedDict[tuple[str, int], RunOverview] = OrderedDict()
_preparing: set[tuple[str, int]] = set()
_lock = threading.Lock()


def run_overview(database: Database, run: Run, network: Any = None) -> RunOverview | None:
    """The overview of a finished placement run, or None while it is being prepared (the
    first view starts that, in a thread of its own)."""
    key = (str(database.engine.url), run.id)  # run numbers repeat across databases (tests)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        if key in _preparing:
            return None
        _preparing.add(key)
    threading.Thread(
        target=_prepare, args=(database, run.id, key, network), name="run-overview", daemon=True
    ).start()
    return None


def _prepare(database: Database, run_id: int, key: tuple[str, int], network: Any) -> None:
    try:
        with database.sessions() as session:
            overview = _build(session, session.get_one(Run, run_id), network)
    except Exception as exc:  # the page must say so rather than wait for ever
        log.warning("run %s overview failed (%s)", run_id, type(exc).__name__)
        overview = RunOverview(
            [],
            [],
            [],
            [],
            problem="The caseload's files could not be read again for the "
            "breakdowns and the map. Upload them again to see each problem.",
        )
    with _lock:
        _preparing.discard(key)
        _cache[key] = overview
        while len(_cache) > CACHED_RUNS:
            _cache.popitem(last=False)


def _build(session: Session, run: Run, network: Any) -> RunOverview:
    caseload = session.get_one(Caseload, run.caseload_id)
    inputs = caseload_inputs(caseload, network)
    result = RunResult.result
    rows = session.execute(
        select(
            RunResult.child_id,
            result["setting_urn"].as_string(),
            result["placement_kind"].as_string(),
            result["preference_rank"].as_integer(),
            result[("tailored_list", "home", "lat")].as_float(),
            result[("tailored_list", "home", "lon")].as_float(),
        ).where(RunResult.run_id == run.id)
    ).all()
    children = {c.child_id: c for c in inputs.children}
    groups: dict[str, dict[str, Breakdown]] = {"need": {}, "phase": {}, "kind": {}}
    proposed: Counter[str] = Counter()
    areas: Counter[tuple[float, float, str]] = Counter()
    for child_id, urn, kind, rank, lat, lon in rows:
        child = children.get(child_id)
        if child is None:
            continue
        keys = {
            "need": need_name(child.primary_need.value),
            "phase": phase_name(child.nc_year),
            "kind": KIND_NAMES.get(kind or "", NOT_PLACED),
        }
        for group, key in keys.items():
            line = groups[group].setdefault(key, Breakdown(key))
            line.children += 1
            line.placed += urn is not None
            line.first_preference += rank == 1
        if urn is not None:
            proposed[urn] += 1
            if lat is not None and lon is not None:
                areas[(_area(lat), _area(lon), urn)] += 1
    settings = [
        SettingFill(
            number=i,
            urn=s.urn,
            name=s.name,
            kind=s.placement_kind.value,
            places=s.total_places,
            on_roll=s.on_roll,
            proposed=proposed[s.urn],
        )
        for i, s in enumerate(sorted(inputs.settings, key=lambda s: s.name), start=1)
    ]
    overview = RunOverview(
        by_need=_ordered(groups["need"]),
        by_phase=sorted(groups["phase"].values(), key=lambda b: _PHASE_ORDER.get(b.name, 9)),
        by_kind=_ordered(groups["kind"]),
        settings=settings,
    )
    points = {s.urn: s.location for s in inputs.settings}
    _project(overview, points, areas)
    return overview


_PHASE_ORDER = {phase_name(y): i for i, y in enumerate((-1, 0, 7, 12))}


def _ordered(lines: dict[str, Breakdown]) -> list[Breakdown]:
    return sorted(lines.values(), key=lambda b: (-b.children, b.name))


def _area(degrees: float, size: float = AREA_DEGREES) -> float:
    """The centre of the area of side ``size`` degrees that ``degrees`` falls in."""
    return round(round(degrees / size) * size, 6)


def _project(
    overview: RunOverview, points: dict[str, Any], areas: Counter[tuple[float, float, str]]
) -> None:
    """Settings and flows in SVG coordinates: an equirectangular projection at the LA's
    latitude, which keeps distances true enough across a county."""
    lats = [p.latitude for p in points.values()] + [a[0] for a in areas]
    lons = [p.longitude for p in points.values()] + [a[1] for a in areas]
    if not lats:
        overview.height = 0
        return
    squash = math.cos(math.radians(sum(lats) / len(lats)))
    west, east = min(lons), max(lons)
    south, north = min(lats), max(lats)
    span_x = max((east - west) * squash, 1e-3)
    span_y = max(north - south, 1e-3)
    scale = (MAP_WIDTH - 2 * MAP_MARGIN) / max(span_x, span_y)
    overview.height = int(span_y * scale + 2 * MAP_MARGIN)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (
            round(MAP_MARGIN + (lon - west) * squash * scale, 1),
            round(MAP_MARGIN + (north - lat) * scale, 1),
        )

    for s in overview.settings:
        s.x, s.y = xy(points[s.urn].latitude, points[s.urn].longitude)
    at = {s.urn: (s.x, s.y) for s in overview.settings}
    size, lines = _coarsened(areas)
    kept = sorted(lines.items(), key=lambda item: -item[1])[:MAX_FLOWS]
    overview.area_km = round(size * 111, 1)
    overview.flows_left_off = len(lines) - len(kept)
    overview.flows = [(*xy(lat, lon), *at[urn], n) for (lat, lon, urn), n in kept if urn in at]


def _coarsened(
    areas: Counter[tuple[float, float, str]],
) -> tuple[float, Counter[tuple[float, float, str]]]:
    """The lines by area of the smallest size (doubling from :data:`AREA_DEGREES`) at which
    there are at most :data:`MAX_FLOWS` of them, or of the largest size allowed."""
    size = AREA_DEGREES
    while True:
        lines: Counter[tuple[float, float, str]] = Counter()
        for (lat, lon, urn), n in areas.items():
            lines[(_area(lat, size), _area(lon, size), urn)] += n
        if len(lines) <= MAX_FLOWS or size * 2 > MAX_AREA_DEGREES:
            return size, lines
        size *= 2
