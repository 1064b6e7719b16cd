"""The server's road network, drawn: roads in a box as GeoJSON for the web page's offline map.

The web page has no tile server to call (children's homes are on it, and LA networks are often
closed to the internet), so it draws the very roads the journeys were timed on. The network
keeps only junction coordinates and travel seconds, so each road is a straight line between
two junctions of the simplified graph: a schematic map, faithful to what the solver used.
Fastest roads come first, so a capped answer for a wide box is the main road skeleton.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status

from api.auth import require_roles
from api.db import Role, User
from api.schemas import LineString, RoadFeature, RoadProperties, RoadsOut

if TYPE_CHECKING:
    from geodata.network import RoadNetwork

router = APIRouter(prefix="/network", tags=["network"])

#: Roads returned by default, and at most: enough for a town at street level, and a payload
#: (about 150 bytes a road) a browser draws smoothly.
DEFAULT_ROADS = 5_000
MAX_ROADS = 20_000
EARTH_RADIUS_M = 6_371_009.0
NO_NETWORK = (
    "this server has no road network: start it with `sendmatch serve --osm FILE` to draw roads "
    "and time journeys on them"
)


@dataclass(frozen=True)
class RoadIndex:
    """Each road once (the two directions of a two-way road merged, keeping the faster),
    sorted fastest first, with its end points as arrays a box query can mask at once."""

    lon_a: npt.NDArray[np.float64]
    lat_a: npt.NDArray[np.float64]
    lon_b: npt.NDArray[np.float64]
    lat_b: npt.NDArray[np.float64]
    seconds: npt.NDArray[np.float64]
    kmh: npt.NDArray[np.float64]
    source: str

    @classmethod
    def of(cls, network: RoadNetwork) -> RoadIndex:
        graph = network.seconds.tocoo()
        u = np.minimum(graph.row, graph.col).astype(np.int64)
        v = np.maximum(graph.row, graph.col).astype(np.int64)
        seconds = np.asarray(graph.data, np.float64)
        # Fastest direction first, then one row per junction pair.
        order = np.lexsort((seconds, v, u))
        u, v, seconds = u[order], v[order], seconds[order]
        first = np.ones(len(u), bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        u, v, seconds = u[first], v[first], seconds[first]
        metres = _haversine_m(network.lon[u], network.lat[u], network.lon[v], network.lat[v])
        kmh = np.divide(metres * 3.6, seconds, out=np.zeros_like(metres), where=seconds > 0)
        fastest = np.lexsort((-metres, -kmh))
        u, v = u[fastest], v[fastest]
        return cls(
            lon_a=network.lon[u],
            lat_a=network.lat[u],
            lon_b=network.lon[v],
            lat_b=network.lat[v],
            seconds=seconds[fastest],
            kmh=kmh[fastest],
            source=network.label,
        )

    def in_box(self, south: float, west: float, north: float, east: float) -> npt.NDArray[np.int64]:
        """Roads whose extent meets the box (a road crossing it counts), fastest first."""
        inside = (
            (np.minimum(self.lat_a, self.lat_b) <= north)
            & (np.maximum(self.lat_a, self.lat_b) >= south)
            & (np.minimum(self.lon_a, self.lon_b) <= east)
            & (np.maximum(self.lon_a, self.lon_b) >= west)
        )
        return np.flatnonzero(inside)

    def geojson(self, rows: npt.NDArray[np.int64], total: int) -> RoadsOut:
        def r6(values: npt.NDArray[np.float64]) -> list[float]:
            return [round(x, 6) for x in values.tolist()]

        lon_a, lat_a, lon_b, lat_b = (
            r6(a[rows]) for a in (self.lon_a, self.lat_a, self.lon_b, self.lat_b)
        )
        features = [
            RoadFeature(
                geometry=LineString(coordinates=[(lon_a[k], lat_a[k]), (lon_b[k], lat_b[k])]),
                properties=RoadProperties(seconds=round(s, 1), kmh=round(h, 1)),
            )
            for k, (s, h) in enumerate(
                zip(self.seconds[rows].tolist(), self.kmh[rows].tolist(), strict=True)
            )
        ]
        return RoadsOut(
            features=features, total=total, truncated=len(rows) < total, source=self.source
        )


def _haversine_m(
    lon1: npt.NDArray[np.float64],
    lat1: npt.NDArray[np.float64],
    lon2: npt.NDArray[np.float64],
    lat2: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


_index_lock = threading.Lock()


def road_index(app: FastAPI) -> RoadIndex:
    """The app's road index, built on first use (a second for a county), then kept."""
    network: RoadNetwork | None = getattr(app.state, "network", None)
    if network is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_NETWORK)
    with _index_lock:
        index: RoadIndex | None = getattr(app.state, "road_index", None)
        if index is None:
            index = RoadIndex.of(network)
            app.state.road_index = index
    return index


Latitude = Annotated[float, Query(ge=-90, le=90, description="WGS84 degrees")]
Longitude = Annotated[float, Query(ge=-180, le=180, description="WGS84 degrees")]


@router.get("/roads", response_model=RoadsOut, responses={404: {"description": NO_NETWORK}})
def get_roads(
    request: Request,
    south: Latitude,
    west: Longitude,
    north: Latitude,
    east: Longitude,
    _user: Annotated[User, Depends(require_roles(*Role))],
    limit: Annotated[int, Query(ge=1, le=MAX_ROADS)] = DEFAULT_ROADS,
) -> RoadsOut:
    """The roads journeys are timed on, inside a box, for the web page's map.

    No child's data: every role may read it. At most ``limit`` roads, fastest first; ``total``
    and ``truncated`` say when a closer view would show more.
    """
    if not (south <= north and west <= east) or not all(
        math.isfinite(x) for x in (south, west, north, east)
    ):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "the box must have south <= north and west <= east (WGS84 degrees)",
        )
    index = road_index(request.app)
    rows = index.in_box(south, west, north, east)
    return index.geojson(rows[:limit], total=len(rows))
