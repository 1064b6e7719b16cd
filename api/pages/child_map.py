"""The child page's map: the child's home and each option, drawn as inline SVG on the server.

No tiles and no script (the pages' policy allows neither): a plain projection of the points,
a numbered marker per option (the numbers of the list beside it), a house for the home and a
scale bar. The home's position is only ever a drawing: no coordinate is written as text, and
the picture's text alternative names the options with their distance and direction from home.
When the server has a road network (``sendmatch serve --osm``), its roads are drawn underneath,
the fastest first, as the JSON API's ``GET /network/roads`` selects them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import Request

from api.pages.child_words import OptionRow
from api.roads import RoadIndex, road_index

WIDTH, HEIGHT, MARGIN = 640, 420, 36
#: An option further than this many times the median option's distance is drawn at the edge.
OUTLIER_RATIO = 3.0
KM_PER_DEGREE = 111.32
#: Roads drawn at most (fastest first): the main skeleton of a county-wide view, and a page
#: of well under 200 kB; a town-sized view has fewer roads than this.
MAX_MAP_ROADS = 1_500
COMPASS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")


@dataclass
class MapMarker:
    """One spot on the map: the options there (a school's general places and its resourced
    provision share a spot), numbered as in the list."""

    label: str
    x: float
    y: float
    proposed: bool
    preference: bool
    beyond: bool  # further than the map shows: drawn at its edge, in its direction


@dataclass
class ChildMap:
    """What the template draws; ``description`` is the picture's text alternative."""

    width: int
    height: int
    home: tuple[float, float]
    markers: list[MapMarker]
    scale_px: float
    scale_text: str
    description: str
    #: Road segments as (x1, y1, x2, y2) in the picture; empty without a road network.
    roads: list[tuple[float, float, float, float]] = field(default_factory=list)
    roads_total: int = 0


def child_map(
    home: Mapping[str, float] | None,
    rows: Sequence[OptionRow],
    roads: RoadIndex | None = None,
) -> ChildMap | None:
    """The map of home and options; None when the home or every option has no position.

    The map's reach is set by the nearer options: one far away (an independent school in
    the next county) would shrink every other to a dot on the home, so an option more than
    :data:`OUTLIER_RATIO` times the median distance is drawn at the map's edge, in its
    direction, and the text alternative gives its true distance.
    """
    placed = [r for r in rows if r.location]
    if home is None or not placed:
        return None
    lat0 = math.radians(float(home["lat"]))

    def km(point: Mapping[str, float]) -> tuple[float, float]:
        east = (float(point["lon"]) - float(home["lon"])) * KM_PER_DEGREE * math.cos(lat0)
        north = (float(point["lat"]) - float(home["lat"])) * KM_PER_DEGREE
        return east, north

    spots: dict[tuple[float, float], list[OptionRow]] = {}
    for r in placed:
        assert r.location is not None
        spots.setdefault(km(r.location), []).append(r)
    distances = sorted(math.hypot(e, n) for e, n in spots)
    median = distances[len(distances) // 2]
    shown = [d for d in distances if d <= OUTLIER_RATIO * max(median, 0.5)]
    reach = max(0.5, *(shown or distances))
    scale = min((WIDTH / 2 - MARGIN) / reach, (HEIGHT / 2 - MARGIN) / reach)
    centre = (WIDTH / 2, HEIGHT / 2)
    markers = []
    for (east, north), here in spots.items():
        distance = math.hypot(east, north)
        beyond = distance > reach
        if beyond:  # onto the edge of the drawn square, in the same direction
            east, north = (east / distance * reach, north / distance * reach)
        markers.append(
            MapMarker(
                ",".join(str(r.number) for r in here),
                round(centre[0] + east * scale, 1),
                round(centre[1] - north * scale, 1),
                any(r.proposed for r in here),
                any(r.preference_rank is not None for r in here),
                beyond,
            )
        )
    bar_km = _nice_km(reach / 2)
    drawn = ChildMap(
        WIDTH,
        HEIGHT,
        centre,
        markers,
        round(bar_km * scale, 1),
        f"{bar_km:g} km",
        _description(placed, [km(r.location) for r in placed if r.location], reach),
    )
    if roads is not None:
        _draw_roads(drawn, roads, float(home["lon"]), float(home["lat"]), scale)
    return drawn


def _draw_roads(drawn: ChildMap, roads: RoadIndex, lon0: float, lat0: float, scale: float) -> None:
    """The roads meeting the picture's box, fastest first, projected as the markers are."""
    km_east = KM_PER_DEGREE * math.cos(math.radians(lat0))
    half_east = drawn.width / 2 / scale / km_east
    half_north = drawn.height / 2 / scale / KM_PER_DEGREE
    rows = roads.in_box(lat0 - half_north, lon0 - half_east, lat0 + half_north, lon0 + half_east)
    shown = rows[:MAX_MAP_ROADS]
    cx, cy = drawn.home

    def x(lon: float) -> float:
        return round(cx + (lon - lon0) * km_east * scale, 1)

    def y(lat: float) -> float:
        return round(cy - (lat - lat0) * KM_PER_DEGREE * scale, 1)

    drawn.roads = [
        (x(a), y(b), x(c), y(d))
        for a, b, c, d in zip(
            roads.lon_a[shown].tolist(),
            roads.lat_a[shown].tolist(),
            roads.lon_b[shown].tolist(),
            roads.lat_b[shown].tolist(),
            strict=True,
        )
    ]
    drawn.roads_total = len(rows)


def map_roads(request: Request) -> RoadIndex | None:
    """The server's roads to draw under a map, or None when it was started without ``--osm``."""
    if getattr(request.app.state, "network", None) is None:
        return None
    return road_index(request.app)


def _nice_km(km: float) -> float:
    """The longest round length (0.1, 0.2, 0.5, 1, 2, 5 ... km) not over ``km``."""
    steps = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
    return float(max([s for s in steps if s <= km] or [steps[0]]))


def _description(
    rows: Sequence[OptionRow], spots: Sequence[tuple[float, float]], reach: float
) -> str:
    parts = []
    for r, (east, north) in zip(rows, spots, strict=True):
        distance = math.hypot(east, north)
        bearing = math.degrees(math.atan2(east, north)) % 360
        direction = COMPASS[round(bearing / 45) % 8]
        edge = " (beyond the edge of the map)" if distance > reach else ""
        parts.append(f"{r.number}: {r.name}, {distance:.1f} km {direction} of home{edge}")
    return "Map of the child's home and the options on the list. " + "; ".join(parts) + "."
