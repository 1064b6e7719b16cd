"""Each drivable road between two junctions, once, with its shape: what homes snap onto.

A simplified drive network merges each chain of OSM nodes into one edge between junctions, and
rural junctions are kilometres apart. Snapping a home to the nearest *junction* would charge it
for the kilometres it never leaves the road for, so homes and settings are snapped to the
nearest point on the nearest road instead (:mod:`geodata.edge_snapping`). That needs each road's
shape and the ways it may be driven, which the routing matrix of
:class:`geodata.network.RoadNetwork` (node to node, parallel roads merged) does not keep.

A two-way road is one :class:`RoadEdges` entry with a time in each direction; a one-way road
has an infinite time against its direction. Shapes run from :attr:`RoadEdges.tail` to
:attr:`RoadEdges.head`; a road whose source had no shape is the straight line between its ends.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ROAD_COLUMNS = ("tail", "head", "forward_seconds", "backward_seconds", "snappable")


@dataclass(frozen=True, eq=False)
class RoadEdges:
    """The network's roads between junctions, each once, with shape and driving times.

    Attributes
    ----------
    tail, head
        Network node index at each end (equal for a loop, e.g. a close that returns to its
        junction).
    forward_seconds, backward_seconds
        Seconds to drive the whole road from tail to head, and from head to tail; ``inf``
        where a one-way rule forbids that direction.
    snappable
        Whether homes and settings may be snapped onto the road (not a motorway or slip road).
    shape_start
        ``shape_start[i]:shape_start[i + 1]`` are road ``i``'s points in the shape arrays.
    shape_lon, shape_lat
        WGS84 degrees of every road's points, from tail to head.
    """

    tail: IntArray
    head: IntArray
    forward_seconds: FloatArray
    backward_seconds: FloatArray
    snappable: npt.NDArray[np.bool_]
    shape_start: IntArray
    shape_lon: FloatArray
    shape_lat: FloatArray

    @property
    def n_roads(self) -> int:
        """Number of roads."""
        return len(self.tail)

    def digest_arrays(self) -> Iterator[npt.NDArray[np.generic]]:
        """Every array with a fixed dtype, for a network fingerprint."""
        yield np.ascontiguousarray(self.tail, dtype=np.int64)
        yield np.ascontiguousarray(self.head, dtype=np.int64)
        yield np.ascontiguousarray(self.forward_seconds, dtype=np.float64)
        yield np.ascontiguousarray(self.backward_seconds, dtype=np.float64)
        yield np.ascontiguousarray(self.snappable, dtype=np.bool_)
        yield np.ascontiguousarray(self.shape_start, dtype=np.int64)
        yield np.ascontiguousarray(self.shape_lon, dtype=np.float64)
        yield np.ascontiguousarray(self.shape_lat, dtype=np.float64)

    def to_table(self) -> pa.Table:
        """One row per shape point, the road's own columns null after its first point: the
        parquet cache stores shapes without a list type that older readers mishandle."""
        counts = np.diff(self.shape_start)
        road = np.repeat(np.arange(self.n_roads, dtype=np.int64), counts)
        first = np.zeros(len(road), dtype=bool)
        first[self.shape_start[:-1]] = True
        columns: dict[str, pa.Array] = {
            "road": pa.array(road),
            "lon": pa.array(self.shape_lon),
            "lat": pa.array(self.shape_lat),
        }
        for name in _ROAD_COLUMNS:
            values = np.zeros(len(road), dtype=getattr(self, name).dtype)
            values[first] = getattr(self, name)
            columns[name] = pa.array(values, mask=~first)
        return pa.table(columns)

    @classmethod
    def from_table(cls, table: pa.Table) -> RoadEdges:
        """The inverse of :meth:`to_table`.

        Raises
        ------
        KeyError, ValueError
            If the table lacks a column or its rows are not in road order.
        """
        road = table.column("road").to_numpy()
        steps = np.diff(road)
        if len(road) and (road[0] != 0 or np.any((steps != 0) & (steps != 1))):
            raise ValueError("road shapes are not stored in road order")
        n = int(road[-1]) + 1 if len(road) else 0
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(road, minlength=n), out=start[1:])
        first = start[:-1]

        def per_road(name: str, dtype: type) -> npt.NDArray[np.generic]:
            column = table.column(name).to_numpy(zero_copy_only=False)
            return np.asarray(column[first], dtype=dtype)

        return cls(
            tail=per_road("tail", np.int64).astype(np.int64),
            head=per_road("head", np.int64).astype(np.int64),
            forward_seconds=per_road("forward_seconds", np.float64).astype(np.float64),
            backward_seconds=per_road("backward_seconds", np.float64).astype(np.float64),
            snappable=per_road("snappable", np.bool_).astype(bool),
            shape_start=start,
            shape_lon=table.column("lon").to_numpy().astype(np.float64),
            shape_lat=table.column("lat").to_numpy().astype(np.float64),
        )


@dataclass(frozen=True)
class _Shapes:
    """Every edge's shape as one flat array: ``points[start[i]:start[i + 1]]`` is edge ``i``'s
    (lon, lat) points from tail to head. Flat, because a county has a million edges and a list
    of a million small arrays costs seconds and hundreds of MiB."""

    points: FloatArray
    start: IntArray
    straight: bool = False  # every shape is the straight line between its edge's ends

    def counts(self) -> IntArray:
        return np.diff(self.start)

    def positions(self, edges: IntArray) -> IntArray:
        """Indices into :attr:`points` of the given edges' points, edge after edge."""
        counts = self.counts()[edges]
        first = np.repeat(self.start[edges], counts)
        offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.asarray(first + offset, dtype=np.int64)

    def shape(self, edge: int) -> FloatArray:
        return self.points[self.start[edge] : self.start[edge + 1]]


def _reversed_twins(shapes: _Shapes, first: IntArray, second: IntArray) -> npt.NDArray[np.bool_]:
    """Whether each ``second`` edge's shape is ``first``'s reversed (to 1e-9 degrees)."""
    if shapes.straight:  # the caller pairs edges with swapped ends: straight lines match
        return np.ones(len(first), dtype=bool)
    counts = shapes.counts()
    same = counts[first] == counts[second]
    a, b = first[same], second[same]
    if len(a) == 0:
        return same
    n = counts[a]
    pair = np.repeat(np.arange(len(a)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    here = shapes.points[shapes.start[a][pair] + k]
    there = shapes.points[shapes.start[b][pair] + n[pair] - 1 - k]
    differs = np.any(np.abs(here - there) > 1e-9, axis=1)
    out = same.copy()
    out[same] = np.bincount(pair, weights=differs, minlength=len(a)) == 0
    return out


def _twin_pairs(
    tails: IntArray, heads: IntArray, seconds: FloatArray, shapes: _Shapes
) -> tuple[IntArray, IntArray, IntArray]:
    """Pair each directed edge with the one that drives the same road the other way.

    OSM readers give a two-way road as two directed edges with the same ends swapped, the same
    time (to rounding: lengths are summed in opposite orders) and the reversed shape; parallel
    roads between the same junctions differ in time or shape. Returns the forward and backward
    edge of each pair, and the edges left alone (one-way roads).

    Nearly every pair of junctions has one edge each way: those are matched with array
    operations; the rest (parallel roads, loops) one by one.
    """
    low, high = np.minimum(tails, heads), np.maximum(tails, heads)
    order = np.lexsort((tails > heads, high, low))
    key_low, key_high = low[order], high[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (key_low[1:] != key_low[:-1]) | (key_high[1:] != key_high[:-1])
    group = np.cumsum(new_group) - 1
    size = np.bincount(group)
    first_of = np.flatnonzero(new_group)
    # Groups of exactly two, one each way (sorted: the up edge first).
    simple = (size == 2) & (tails[order[first_of]] < heads[order[first_of]])
    simple &= (
        tails[order[np.minimum(first_of + 1, len(order) - 1)]]
        > heads[order[np.minimum(first_of + 1, len(order) - 1)]]
    )
    up = order[first_of[simple]]
    down = order[first_of[simple] + 1]
    twins = np.isclose(seconds[up], seconds[down], rtol=1e-9, atol=1e-9)
    twins &= _reversed_twins(shapes, up, down)
    forward = [up[twins]]
    backward = [down[twins]]
    alone = [up[~twins], down[~twins], order[first_of[size == 1]]]
    irregular = np.flatnonzero((size > 2) | ((size == 2) & ~simple))
    in_irregular = np.isin(group, irregular)
    f, b, a = _pair_one_by_one(
        order[in_irregular], group[in_irregular], tails, heads, seconds, shapes
    )
    forward.append(f)
    backward.append(b)
    alone.append(a)
    return np.concatenate(forward), np.concatenate(backward), np.concatenate(alone)


def _pair_one_by_one(
    edges: IntArray,
    group: IntArray,
    tails: IntArray,
    heads: IntArray,
    seconds: FloatArray,
    shapes: _Shapes,
) -> tuple[IntArray, IntArray, IntArray]:
    """:func:`_twin_pairs` for groups of parallel roads and loops."""
    members: defaultdict[int, list[int]] = defaultdict(list)
    for edge, g in zip(edges.tolist(), group.tolist(), strict=True):
        members[g].append(edge)
    forward: list[int] = []
    backward: list[int] = []
    alone: list[int] = []
    for free in members.values():
        while free:
            i = free.pop(0)
            match = next(
                (
                    j
                    for j in free
                    if tails[j] == heads[i]
                    and heads[j] == tails[i]
                    and math.isclose(seconds[i], seconds[j], rel_tol=1e-9, abs_tol=1e-9)
                    and len(shapes.shape(j)) == len(shapes.shape(i))
                    and np.allclose(shapes.shape(j)[::-1], shapes.shape(i), atol=1e-9)
                ),
                None,
            )
            if match is None:
                alone.append(i)
            else:
                free.remove(match)
                forward.append(i)
                backward.append(match)
    as_array = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
    return as_array(forward), as_array(backward), as_array(alone)


def _edge_shapes(
    geometry: Sequence[object] | None,
    tails: IntArray,
    heads: IntArray,
    lon: FloatArray,
    lat: FloatArray,
) -> _Shapes:
    """Each edge's lon/lat shape from tail to head; the straight line when the source has
    none (an unsimplified or hand-made network)."""
    ends = np.stack(
        [np.column_stack([lon[tails], lat[tails]]), np.column_stack([lon[heads], lat[heads]])],
        axis=1,
    )
    if geometry is None:
        return _Shapes(
            ends.reshape(-1, 2), np.arange(0, 2 * len(tails) + 1, 2, dtype=np.int64), True
        )
    geoms = np.asarray(
        [g if isinstance(g, shapely.LineString) and not g.is_empty else None for g in geometry],
        dtype=object,
    )
    missing = np.array([g is None for g in geoms], dtype=bool)
    if missing.any():
        geoms[missing] = shapely.linestrings(ends[missing])
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    start = np.zeros(len(geoms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(index, minlength=len(geoms)), out=start[1:])
    shapes = _Shapes(np.ascontiguousarray(coords, dtype=np.float64), start)
    # A shape drawn from head to tail (some readers keep the way's own order) is turned.
    first = coords[start[:-1]]
    to_tail = np.hypot(*(first - ends[:, 0]).T)
    to_head = np.hypot(*(first - ends[:, 1]).T)
    turned = np.flatnonzero(to_head < to_tail)
    if len(turned):
        where = shapes.positions(turned)
        counts = shapes.counts()[turned]
        edge_start = np.repeat(start[turned], counts)
        edge_last = edge_start + np.repeat(counts, counts) - 1
        shapes.points[where] = coords[edge_start + edge_last - where]
    return shapes


def build_road_edges(
    tails: npt.ArrayLike,
    heads: npt.ArrayLike,
    seconds: npt.ArrayLike,
    snappable: npt.ArrayLike,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    geometry: Sequence[object] | None = None,
) -> RoadEdges:
    """The roads of a directed edge list, two-way roads merged into one entry.

    Parameters
    ----------
    tails, heads
        Per directed edge: node index of each end (loops allowed).
    seconds
        Per directed edge: driving time of the whole edge.
    snappable
        Per directed edge: whether points may be snapped onto it.
    lon, lat
        Per node: WGS84 degrees (for straight shapes).
    geometry
        Per directed edge: a shapely ``LineString`` in WGS84, or None for a straight edge;
        None for all straight.
    """
    t = np.asarray(tails, dtype=np.int64)
    h = np.asarray(heads, dtype=np.int64)
    secs = np.asarray(seconds, dtype=np.float64)
    snap = np.asarray(snappable, dtype=bool)
    xs, ys = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    if geometry is not None and len(geometry) != len(t):
        raise ValueError("geometry must give one value (or None) per edge")
    shapes = _edge_shapes(geometry, t, h, xs, ys)
    paired_forward, paired_backward, alone = _twin_pairs(t, h, secs, shapes)
    forward = np.concatenate([paired_forward, alone])
    backward_seconds = np.concatenate([secs[paired_backward], np.full(len(alone), np.inf)])
    backward_snappable = np.concatenate([snap[paired_backward], np.zeros(len(alone), bool)])
    counts = shapes.counts()[forward]
    start = np.zeros(len(forward) + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    points = shapes.points[shapes.positions(forward)]
    return RoadEdges(
        tail=t[forward],
        head=h[forward],
        forward_seconds=secs[forward],
        backward_seconds=backward_seconds,
        snappable=snap[forward] | backward_snappable,
        shape_start=start,
        shape_lon=np.ascontiguousarray(points[:, 0], dtype=np.float64),
        shape_lat=np.ascontiguousarray(points[:, 1], dtype=np.float64),
    )
