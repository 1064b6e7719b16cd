"""Snap homes and settings onto the nearest point of the nearest drivable road.

Rural junctions are kilometres apart, so snapping a home to its nearest *junction* charged it
for up to a kilometre of "off-road" driving at the snap speed although it stood on a road. Here
each point joins the road it is nearest to, at the nearest point along it, and enters the graph
at both ends of that road with the part of the road's time still to drive:

* leaving a home on road tail→head at fraction ``f`` of its length: ``(1 - f)`` of the forward
  time to the head, ``f`` of the backward time to the tail;
* arriving at a setting: from the tail ``f`` of the forward time, from the head ``(1 - f)`` of
  the backward time;
* a one-way road has no backward time, so a point part-way along it can only go on to the head
  and is only reached from the tail;
* a home and a setting on the same road may drive straight along it (if the one-way rule lets
  them), without going round by a junction.

Only the true distance from the point to the road is charged at the snap speed.

The Dijkstra searches run from the settings on the reversed graph. SciPy's
:func:`~scipy.sparse.csgraph.dijkstra` has no per-source starting offsets, so each setting gets
a virtual node of its own with arcs to its road's two ends weighted by the arrival times
(:func:`with_virtual_sources`): one search per setting, as with junction snapping.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely

from geodata.road_edges import RoadEdges, build_road_edges

if TYPE_CHECKING:
    from geodata.network import LocalProjection, RoadNetwork

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Arcs from a virtual source must be positive: SciPy may drop explicit zeros from a sparse graph.
_MIN_ARC_SECONDS = 1e-6


@dataclass(frozen=True)
class EdgeSnaps:
    """Points snapped onto roads.

    Attributes
    ----------
    roads
        Index into the network's :class:`~geodata.road_edges.RoadEdges` per point.
    fraction
        Where along its road each point joins it: 0 at the road's tail, 1 at its head, in
        proportion to the road's length.
    metres
        Distance from each point to its road (the off-road part), in metres.
    """

    roads: IntArray
    fraction: FloatArray
    metres: FloatArray

    def seconds(self, snap_speed_kmh: float) -> FloatArray:
        """Time charged for the off-road part, in seconds (metres ÷ (km/h ÷ 3.6))."""
        return self.metres / (snap_speed_kmh / 3.6)

    def __len__(self) -> int:
        return len(self.roads)


class RoadSnapper:
    """A spatial index of the snappable roads, in metres around the network's centre."""

    def __init__(self, roads: RoadEdges, projection: LocalProjection) -> None:
        candidates = np.flatnonzero(roads.snappable)
        if len(candidates) == 0:
            candidates = np.arange(roads.n_roads)
        self._candidates = candidates
        self._projection = projection
        x, y = projection(roads.shape_lon, roads.shape_lat)
        point_road = np.repeat(np.arange(roads.n_roads), np.diff(roads.shape_start))
        wanted = np.isin(point_road, candidates)
        # Every shape has at least two points, so every candidate becomes a line.
        _, line_index = np.unique(point_road[wanted], return_inverse=True)
        self._lines = shapely.linestrings(x[wanted], y[wanted], indices=line_index)
        self._lengths = shapely.length(self._lines)
        self._tree = shapely.STRtree(self._lines)

    def snap(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> EdgeSnaps:
        """Nearest point on the nearest snappable road for each WGS84 point."""
        lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        if lon_a.shape != lat_a.shape:
            raise ValueError("lon and lat must have the same shape")
        if len(lon_a) == 0:
            return EdgeSnaps(np.empty(0, np.int64), np.empty(0), np.empty(0))
        x, y = self._projection(lon_a, lat_a)
        points = shapely.points(x, y)
        pairs, distance = self._tree.query_nearest(points, return_distance=True, all_matches=False)
        line = np.empty(len(points), dtype=np.int64)
        metres = np.empty(len(points), dtype=np.float64)
        line[pairs[0]] = pairs[1]
        metres[pairs[0]] = distance
        along = shapely.line_locate_point(self._lines[line], points)
        length = self._lengths[line]
        fraction = np.divide(along, length, out=np.zeros(len(points)), where=length > 0)
        return EdgeSnaps(self._candidates[line], np.clip(fraction, 0.0, 1.0), metres)

    def on_road_lonlat(self, snaps: EdgeSnaps) -> tuple[FloatArray, FloatArray]:
        """WGS84 lon, lat of the points where the snapped points join their roads: for maps,
        and to check where a point was snapped."""
        if len(snaps) == 0:
            return np.empty(0), np.empty(0)
        line = np.searchsorted(self._candidates, snaps.roads)
        if np.any(self._candidates[np.minimum(line, len(self._candidates) - 1)] != snaps.roads):
            raise ValueError("a snapped road is not one this snapper snaps onto")
        joins = shapely.line_interpolate_point(self._lines[line], snaps.fraction, normalized=True)
        return self._projection.inverse(shapely.get_x(joins), shapely.get_y(joins))


_SNAPPERS: weakref.WeakKeyDictionary[RoadNetwork, RoadSnapper] = weakref.WeakKeyDictionary()


def network_roads(network: RoadNetwork) -> RoadEdges:
    """The network's roads with their shapes, or straight roads between its nodes for a network
    built without them."""
    if network.roads is not None:
        return network.roads
    coo = network.seconds.tocoo()
    snappable = network.snappable[coo.row] & network.snappable[coo.col]
    return build_road_edges(coo.row, coo.col, coo.data, snappable, network.lon, network.lat)


def road_snapper(network: RoadNetwork) -> RoadSnapper:
    """The network's :class:`RoadSnapper`, built once per network."""
    snapper = _SNAPPERS.get(network)
    if snapper is None:
        from geodata.network import LocalProjection

        projection = LocalProjection.around(network.lon, network.lat)
        snapper = _SNAPPERS[network] = RoadSnapper(network_roads(network), projection)
    return snapper


def snap_to_roads(network: RoadNetwork, lon: npt.ArrayLike, lat: npt.ArrayLike) -> EdgeSnaps:
    """Snap WGS84 points onto the nearest point of the nearest snappable road (never a
    motorway or slip road)."""
    return road_snapper(network).snap(lon, lat)


def _part(seconds: FloatArray, share: FloatArray) -> FloatArray:
    """``seconds × share``, infinite (never NaN) where a direction is forbidden, except that a
    point at the very end of a one-way road stands on the junction itself (no time at all)."""
    out = np.full(len(seconds), np.inf)
    ok = np.isfinite(seconds)
    out[ok] = seconds[ok] * share[ok]
    out[share == 0] = 0.0
    return out


def departures(roads: RoadEdges, snaps: EdgeSnaps) -> tuple[IntArray, FloatArray]:
    """Where each point can join the graph, and the seconds to drive there: ``(points, 2)``
    node and time arrays, column 0 the road's head, column 1 its tail (inf if forbidden)."""
    forward = roads.forward_seconds[snaps.roads]
    backward = roads.backward_seconds[snaps.roads]
    nodes = np.column_stack([roads.head[snaps.roads], roads.tail[snaps.roads]])
    seconds = np.column_stack(
        [_part(forward, 1.0 - snaps.fraction), _part(backward, snaps.fraction)]
    )
    return nodes, seconds


def arrivals(roads: RoadEdges, snaps: EdgeSnaps) -> tuple[IntArray, FloatArray]:
    """Where each point can be reached from, and the seconds from there: ``(points, 2)``
    node and time arrays, column 0 the road's tail, column 1 its head (inf if forbidden)."""
    forward = roads.forward_seconds[snaps.roads]
    backward = roads.backward_seconds[snaps.roads]
    nodes = np.column_stack([roads.tail[snaps.roads], roads.head[snaps.roads]])
    seconds = np.column_stack(
        [_part(forward, snaps.fraction), _part(backward, 1.0 - snaps.fraction)]
    )
    return nodes, seconds


def along_one_road(
    roads: RoadEdges, homes: EdgeSnaps, settings: EdgeSnaps
) -> tuple[IntArray, IntArray, FloatArray]:
    """Homes and settings on the same road: (row, col, seconds driving straight along it).

    Only pairs the one-way rule allows are returned; the route by the road's ends is
    counted by the graph search.
    """
    by_road: defaultdict[int, list[int]] = defaultdict(list)
    for col, road in enumerate(settings.roads.tolist()):
        by_road[road].append(col)
    rows: list[int] = []
    cols: list[int] = []
    shared = np.flatnonzero(np.isin(homes.roads, settings.roads))
    for row in shared.tolist():
        for col in by_road[int(homes.roads[row])]:
            rows.append(row)
            cols.append(col)
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    road = homes.roads[r]
    step = settings.fraction[c] - homes.fraction[r]
    seconds = np.where(
        step >= 0,
        _part(roads.forward_seconds[road], np.abs(step)),
        _part(roads.backward_seconds[road], np.abs(step)),
    )
    ok = np.isfinite(seconds)
    return r[ok], c[ok], seconds[ok]


def with_virtual_sources(
    reverse_graph: sp.csr_matrix, nodes: IntArray, seconds: FloatArray
) -> sp.csr_matrix:
    """The reversed graph plus one virtual node per source (numbered from ``n_nodes``), with an
    arc to each node in ``nodes[k]`` weighted ``seconds[k]`` (inf: no arc).

    A Dijkstra search from virtual node ``n_nodes + k`` then gives, at every node, the time
    to drive from that node to source ``k``'s point. Nothing leads into a virtual node, so no
    search passes through another source's.
    """
    n = reverse_graph.shape[0]
    k = len(nodes)
    arc_seconds = np.array(seconds, dtype=np.float64, copy=True)
    same = nodes[:, 0] == nodes[:, 1]  # a loop road: one arc, the quicker way round
    arc_seconds[same, 0] = np.minimum(arc_seconds[same, 0], arc_seconds[same, 1])
    arc_seconds[same, 1] = np.inf
    finite = np.isfinite(arc_seconds)
    counts = finite.sum(axis=1)
    indptr = np.concatenate(
        [reverse_graph.indptr.astype(np.int64), reverse_graph.nnz + np.cumsum(counts)]
    )
    indices = np.concatenate([reverse_graph.indices.astype(np.int64), nodes[finite]])
    data = np.concatenate(
        [reverse_graph.data.astype(np.float64), np.maximum(arc_seconds[finite], _MIN_ARC_SECONDS)]
    )
    return sp.csr_matrix((data, indices, indptr), shape=(n + k, n + k))


def snap_percentiles(metres: FloatArray, far_metres: float) -> tuple[float, float, float, int]:
    """Median, 95th percentile and maximum snap distance, and how many are over
    ``far_metres``: the figures a travel report quotes."""
    if len(metres) == 0:
        return 0.0, 0.0, 0.0, 0
    return (
        float(np.median(metres)),
        float(np.percentile(metres, 95)),
        float(metres.max()),
        int((metres > far_metres).sum()),
    )
