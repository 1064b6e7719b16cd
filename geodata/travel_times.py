"""Child × setting travel times on the road network: one reverse Dijkstra per setting.

A caseload has thousands of homes and a few hundred settings, so the search runs from the
settings, on the reversed graph: a single :func:`scipy.sparse.csgraph.dijkstra` call per chunk
of settings gives the time from *every* node to each of them, bounded by the cutoff so that it
stops at the edge of the reachable area. Homes then read the columns of their road's two ends.

Homes and settings are snapped to the nearest point of the nearest road (never a motorway or
slip road) and join the graph at both ends of that road with the part of the road still to
drive, respecting one-way rules (:mod:`geodata.edge_snapping`). Only the stretch between a point
and its road is off the mapped network — a long private drive, an estate road missing from
OSM, a farm track — so only it is charged at :data:`SNAP_SPEED_KMH` on the straight-line
distance. A home 2 km from any road therefore costs 8 minutes more, instead of being treated as
if it stood on the road; a home on a road costs nothing extra, however far the next junction.

Results can be cached in parquet under a key made of the network's fingerprint, the points'
coordinates, the cutoff, the snap speed and the required pairs; a cache hit returns the same
arrays bit for bit.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse.csgraph import dijkstra

from geodata.edge_snapping import (
    EdgeSnaps,
    along_one_road,
    arrivals,
    departures,
    network_roads,
    snap_to_roads,
    with_virtual_sources,
)
from geodata.network import RoadNetwork
from geodata.snap_report import FAR_SNAP_METRES as FAR_SNAP_METRES
from geodata.snap_report import SNAP_SPEED_KMH, SnapReport
from matcher.models import Location
from matcher.travel import TravelTimeMatrix, required_pair_array

logger = logging.getLogger(__name__)

#: Bump when the way matrices are computed changes, so that old cache files are not reused.
MATRIX_CACHE_VERSION = "sendmatch-road-matrix-2"

#: Memory for one chunk of Dijkstra output (settings × all nodes × 8 bytes). 256 MiB is about
#: 30 settings at a time on a 1M-node network, all 300 at once on a small town's network.
DEFAULT_CHUNK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class SnappedPoints:
    """Points snapped to network nodes (junctions), for callers that need one node per point;
    travel matrices snap onto roads instead (:class:`geodata.edge_snapping.EdgeSnaps`).

    Attributes
    ----------
    nodes
        Network node index per point (int32).
    metres
        Great-circle distance from each point to its node, in metres.
    """

    nodes: npt.NDArray[np.int32]
    metres: npt.NDArray[np.float64]

    def seconds(self, snap_speed_kmh: float = SNAP_SPEED_KMH) -> npt.NDArray[np.float64]:
        """Time charged for the unmapped stretch, in seconds (metres ÷ (km/h ÷ 3.6))."""
        return self.metres / (snap_speed_kmh / 3.6)


def snap_points(network: RoadNetwork, locations: Sequence[Location]) -> SnappedPoints:
    """Snap WGS84 points to their nearest snappable network node (see
    :attr:`RoadNetwork.snappable`); :func:`compute_road_travel` snaps onto roads instead."""
    lon = np.fromiter((p.longitude for p in locations), np.float64, len(locations))
    lat = np.fromiter((p.latitude for p in locations), np.float64, len(locations))
    nodes, metres = network.nearest_nodes(lon, lat)
    return SnappedPoints(nodes, metres)


@dataclass(frozen=True)
class RoadTravelResult:
    """A road-network travel matrix with its snapping report.

    Attributes
    ----------
    matrix
        Minutes for every pair within the cutoff, plus the required pairs.
    snap
        How far homes and settings were from the network.
    from_cache
        Whether the matrix came from the disk cache.
    """

    matrix: TravelTimeMatrix
    snap: SnapReport
    from_cache: bool


def _model_label(network: RoadNetwork, snap_speed_kmh: float) -> str:
    return (
        f"road network: {network.label}; homes and settings snapped to the nearest point of "
        f"the nearest road, the distance to it charged at {snap_speed_kmh:g} km/h"
    )


def _cache_key(
    network: RoadNetwork,
    homes: EdgeSnaps,
    settings: EdgeSnaps,
    home_lonlat: npt.NDArray[np.float64],
    setting_lonlat: npt.NDArray[np.float64],
    cutoff_minutes: float,
    snap_speed_kmh: float,
    pairs: npt.NDArray[np.int64],
) -> str:
    digest = hashlib.sha256()
    digest.update(f"{MATRIX_CACHE_VERSION}|{network.fingerprint}|".encode())
    digest.update(f"{float(cutoff_minutes)!r}|{float(snap_speed_kmh)!r}|".encode())
    for array in (
        home_lonlat,
        setting_lonlat,
        homes.roads,
        homes.fraction,
        settings.roads,
        settings.fraction,
        pairs,
    ):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:32]


def _read_cache(
    path: Path,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float32]] | None:
    try:
        table = pq.read_table(path)
        meta = table.schema.metadata or {}
        if meta.get(b"version") != MATRIX_CACHE_VERSION.encode():
            return None
        return (
            table.column("row").to_numpy().astype(np.int32),
            table.column("col").to_numpy().astype(np.int32),
            table.column("minutes").to_numpy().astype(np.float32),
        )
    except (OSError, KeyError, pa.ArrowException) as exc:
        logger.warning("ignoring unreadable travel-time cache %s: %s", path, exc)
        return None


def _write_cache(
    path: Path,
    rows: npt.NDArray[np.int32],
    cols: npt.NDArray[np.int32],
    minutes: npt.NDArray[np.float32],
) -> None:
    table = pa.table(
        {"row": pa.array(rows), "col": pa.array(cols), "minutes": pa.array(minutes)}
    ).replace_schema_metadata({"version": MATRIX_CACHE_VERSION})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache folder must not stop the run
        logger.warning("could not write travel-time cache %s: %s", path, exc)


def _chunk_size(row_length: int, chunk_bytes: int) -> int:
    """Settings per Dijkstra call so that a (settings × row_length) float64 block fits."""
    return max(1, min(512, chunk_bytes // max(1, 8 * row_length)))


@dataclass(frozen=True)
class _Ends:
    """Where homes leave and settings join the graph: ``(points, 2)`` node and second arrays
    (see :func:`geodata.edge_snapping.departures` and :func:`~geodata.edge_snapping.arrivals`),
    plus each point's off-road seconds."""

    home_nodes: npt.NDArray[np.int64]
    home_road_seconds: npt.NDArray[np.float64]
    home_seconds: npt.NDArray[np.float64]
    setting_nodes: npt.NDArray[np.int64]
    setting_road_seconds: npt.NDArray[np.float64]
    setting_seconds: npt.NDArray[np.float64]


def _ends(
    network: RoadNetwork, homes: EdgeSnaps, settings: EdgeSnaps, snap_speed_kmh: float
) -> _Ends:
    roads = network_roads(network)
    home_nodes, home_road_seconds = departures(roads, homes)
    setting_nodes, setting_road_seconds = arrivals(roads, settings)
    return _Ends(
        home_nodes,
        home_road_seconds,
        homes.seconds(snap_speed_kmh),
        setting_nodes,
        setting_road_seconds,
        settings.seconds(snap_speed_kmh),
    )


def _setting_sources(
    ends: _Ends, cols: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Distinct ways of joining the graph among the given settings (settings at the same point
    share a search): their nodes, seconds and each setting's source index."""
    if len(cols) == 0:
        return np.empty((0, 2), np.int64), np.empty((0, 2)), np.empty(0, np.int64)
    keys = np.column_stack(
        [ends.setting_nodes[cols].astype(np.float64), ends.setting_road_seconds[cols]]
    )
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    return unique[:, :2].astype(np.int64), unique[:, 2:], inverse.reshape(-1).astype(np.int64)


def _home_totals(
    dist: npt.NDArray[np.float64], ends: _Ends, rows: npt.NDArray[np.int64] | slice
) -> npt.NDArray[np.float64]:
    """Seconds from each home (``rows``) to each searched setting point, road part only: the
    quicker of leaving by either end of the home's road."""
    nodes = ends.home_nodes[rows]
    road = ends.home_road_seconds[rows]
    by_head = dist[:, nodes[:, 0]] + road[None, :, 0]
    by_tail = dist[:, nodes[:, 1]] + road[None, :, 1]
    return np.asarray(np.minimum(by_head, by_tail))


_Pairs = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


def _within_cutoff(
    network: RoadNetwork,
    ends: _Ends,
    cutoff_seconds: float,
    chunk_bytes: int,
    direct: _Pairs,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """All (row, col, seconds) with door-to-door seconds ≤ ``cutoff_seconds``: by way of the
    graph, or straight along a road that a home and a setting share (``direct``: row, col and
    door-to-door seconds of such pairs)."""
    n_homes = len(ends.home_seconds)
    empty = np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float64)
    if n_homes == 0 or len(ends.setting_seconds) == 0:
        return empty
    # A setting whose own snap already exceeds the cutoff reaches nobody.
    reachable = np.flatnonzero(ends.setting_seconds <= cutoff_seconds)
    source_nodes, source_seconds, inverse = _setting_sources(ends, reachable)
    graph = with_virtual_sources(network.reverse_seconds, source_nodes, source_seconds)
    first_virtual = network.n_nodes
    step = _chunk_size(max(graph.shape[0], 2 * n_homes), chunk_bytes)
    cheapest_home = float(ends.home_seconds.min())
    rows_out: list[npt.NDArray[np.int32]] = []
    cols_out: list[npt.NDArray[np.int32]] = []
    secs_out: list[npt.NDArray[np.float64]] = []
    for start in range(0, len(source_nodes), step):
        count = min(step, len(source_nodes) - start)
        in_chunk = (inverse >= start) & (inverse < start + count)
        cols = reachable[in_chunk]
        source_row = inverse[in_chunk] - start
        # Network time may use whatever the cheapest snaps at both ends leave over.
        limit = max(0.0, cutoff_seconds - float(ends.setting_seconds[cols].min()) - cheapest_home)
        sources = first_virtual + start + np.arange(count)
        dist = dijkstra(graph, directed=True, indices=sources, limit=limit, min_only=False)
        at_homes = _home_totals(dist, ends, slice(None))  # (sources, homes)
        del dist
        total = at_homes[source_row] + ends.home_seconds[None, :] + ends.setting_seconds[cols, None]
        _apply_direct(total, cols, direct, len(ends.setting_seconds))
        col_pos, row = np.nonzero(total <= cutoff_seconds)
        rows_out.append(row.astype(np.int32))
        cols_out.append(cols[col_pos].astype(np.int32))
        secs_out.append(total[col_pos, row])
    if not rows_out:
        return empty
    return np.concatenate(rows_out), np.concatenate(cols_out), np.concatenate(secs_out)


def _pair_times(
    network: RoadNetwork,
    pairs: npt.NDArray[np.int64],
    ends: _Ends,
    chunk_bytes: int,
) -> npt.NDArray[np.float64]:
    """Unbounded door-to-door seconds by way of the graph for the given (row, col) pairs."""
    out = np.empty(len(pairs), dtype=np.float64)
    cols = np.unique(pairs[:, 1])
    source_nodes, source_seconds, inverse = _setting_sources(ends, cols)
    source_of_col = np.full(len(ends.setting_seconds), -1, dtype=np.int64)
    source_of_col[cols] = inverse
    pair_source = source_of_col[pairs[:, 1]]
    graph = with_virtual_sources(network.reverse_seconds, source_nodes, source_seconds)
    step = _chunk_size(graph.shape[0], chunk_bytes)
    for start in range(0, len(source_nodes), step):
        count = min(step, len(source_nodes) - start)
        sel = np.flatnonzero((pair_source >= start) & (pair_source < start + count))
        sources = network.n_nodes + start + np.arange(count)
        dist = dijkstra(graph, directed=True, indices=sources, min_only=False)
        rows, pair_cols = pairs[sel, 0], pairs[sel, 1]
        road = _home_totals(dist, ends, rows)  # (sources, selected pairs)
        out[sel] = (
            road[pair_source[sel] - start, np.arange(len(sel))]
            + ends.home_seconds[rows]
            + ends.setting_seconds[pair_cols]
        )
    return out


def _apply_direct(
    total: npt.NDArray[np.float64], cols: npt.NDArray[np.int64], direct: _Pairs, n_cols: int
) -> None:
    """Lower ``total`` (chunk columns × homes) to the straight-along-the-road time where a
    home and one of the chunk's settings share a road. Few pairs do, so only they are touched."""
    rows, pair_cols, seconds = direct
    if len(rows) == 0:
        return
    position = np.full(n_cols, -1, dtype=np.int64)
    position[cols] = np.arange(len(cols))
    here = position[pair_cols] >= 0
    np.minimum.at(total, (position[pair_cols[here]], rows[here]), seconds[here])


def _quicker_than_direct(
    pairs: npt.NDArray[np.int64], seconds: npt.NDArray[np.float64], direct: _Pairs
) -> npt.NDArray[np.float64]:
    """``seconds`` of the given pairs, lowered where the pair shares a road (``direct``)."""
    along = {
        (r, c): t
        for r, c, t in zip(direct[0].tolist(), direct[1].tolist(), direct[2].tolist(), strict=True)
    }
    out = seconds.copy()
    for i, (r, c) in enumerate(pairs.tolist()):
        if (r, c) in along:
            out[i] = min(out[i], along[(r, c)])
    return out


def _along_one_road_totals(
    network: RoadNetwork, homes: EdgeSnaps, settings: EdgeSnaps, ends: _Ends
) -> _Pairs:
    """Door-to-door seconds of the pairs that may drive straight along a shared road."""
    rows, cols, road = along_one_road(network_roads(network), homes, settings)
    return rows, cols, road + ends.home_seconds[rows] + ends.setting_seconds[cols]


def compute_road_travel(
    network: RoadNetwork,
    child_ids: Sequence[str],
    homes: Sequence[Location],
    setting_urns: Sequence[str],
    setting_locations: Sequence[Location],
    cutoff_minutes: float,
    required_pairs: Iterable[tuple[int, int]] | npt.NDArray[np.int64] = (),
    cache_dir: Path | None = None,
    *,
    snap_speed_kmh: float = SNAP_SPEED_KMH,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> RoadTravelResult:
    """Door-to-door driving minutes for every child × setting pair within a cutoff.

    Parameters
    ----------
    network
        The drive network (:func:`geodata.network.load_drive_network`).
    child_ids, homes
        Row order of the matrix, and each child's home.
    setting_urns, setting_locations
        Column order of the matrix, and each setting's location.
    cutoff_minutes
        Pairs slower than this are left out (they are "too far"). Typically the longest
        journey any child may be given, e.g. 75 minutes for secondary age (DfE guidance).
    required_pairs
        ``(child_row, setting_col)`` pairs returned whatever their time, e.g. parents'
        preferences, so that a panel can see how far a preferred school is. Only the settings
        they name get a second, unbounded search.
    cache_dir
        Folder for the parquet cache; no caching when None.
    snap_speed_kmh
        Speed charged on the distance from a point to its road.
    chunk_bytes
        Memory for one chunk of Dijkstra output (settings × nodes × 8 bytes).

    Returns
    -------
    RoadTravelResult
        ``matrix`` (minutes as float32, pairs sorted by row then column, ``model`` naming the
        network), ``snap`` (distances to the network) and ``from_cache``.

    Raises
    ------
    ValueError
        If ids and locations differ in length, the cutoff is not a positive number, or a
        required pair is out of range.
    """
    if len(child_ids) != len(homes):
        raise ValueError(f"{len(child_ids)} child ids but {len(homes)} homes")
    if len(setting_urns) != len(setting_locations):
        raise ValueError(f"{len(setting_urns)} setting URNs but {len(setting_locations)} locations")
    if not (np.isfinite(cutoff_minutes) and cutoff_minutes > 0):
        raise ValueError(f"cutoff_minutes must be a positive number, got {cutoff_minutes!r}")
    if not snap_speed_kmh > 0:
        raise ValueError("snap_speed_kmh must be positive")
    pairs = required_pair_array(required_pairs, len(child_ids), len(setting_urns))

    home_snap = _snap_locations(network, homes)
    setting_snap = _snap_locations(network, setting_locations)
    model = _model_label(network, snap_speed_kmh)

    cache_path: Path | None = None
    if cache_dir is not None:
        home_lonlat = np.array([(p.longitude, p.latitude) for p in homes], dtype=np.float64)
        setting_lonlat = np.array(
            [(p.longitude, p.latitude) for p in setting_locations], dtype=np.float64
        )
        key = _cache_key(
            network,
            home_snap,
            setting_snap,
            home_lonlat,
            setting_lonlat,
            cutoff_minutes,
            snap_speed_kmh,
            pairs,
        )
        cache_path = Path(cache_dir) / f"road-matrix-{key}.parquet"
        if cache_path.exists():
            cached = _read_cache(cache_path)
            if cached is not None:
                rows, cols, minutes = cached
                matrix = TravelTimeMatrix(
                    tuple(child_ids), tuple(setting_urns), rows, cols, minutes, model
                )
                report = _report(
                    network, homes, home_snap, setting_snap, snap_speed_kmh, matrix, cutoff_minutes
                )
                return RoadTravelResult(matrix, report, from_cache=True)

    cutoff_seconds = float(cutoff_minutes) * 60.0
    ends = _ends(network, home_snap, setting_snap, snap_speed_kmh)
    direct = _along_one_road_totals(network, home_snap, setting_snap, ends)
    rows, cols, secs = _within_cutoff(network, ends, cutoff_seconds, chunk_bytes, direct)
    n_cols = len(setting_urns)
    if len(pairs):
        found = rows.astype(np.int64) * n_cols + cols
        missing = pairs[~np.isin(pairs[:, 0] * n_cols + pairs[:, 1], found)]
        if len(missing):
            extra = _quicker_than_direct(
                missing, _pair_times(network, missing, ends, chunk_bytes), direct
            )
            ok = np.isfinite(extra)  # the network is strongly connected, so always true
            rows = np.concatenate([rows, missing[ok, 0].astype(np.int32)])
            cols = np.concatenate([cols, missing[ok, 1].astype(np.int32)])
            secs = np.concatenate([secs, extra[ok]])
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    minutes = (secs[order] / 60.0).astype(np.float32)
    if cache_path is not None:
        _write_cache(cache_path, rows, cols, minutes)
    matrix = TravelTimeMatrix(tuple(child_ids), tuple(setting_urns), rows, cols, minutes, model)
    report = _report(
        network, homes, home_snap, setting_snap, snap_speed_kmh, matrix, cutoff_minutes
    )
    logger.info(
        "road travel matrix: %d children × %d settings, %d pairs within %g min; %s",
        len(child_ids),
        len(setting_urns),
        len(rows),
        cutoff_minutes,
        report.summary(),
    )
    return RoadTravelResult(matrix, report, from_cache=False)


def _report(
    network: RoadNetwork,
    homes: Sequence[Location],
    home_snap: EdgeSnaps,
    setting_snap: EdgeSnaps,
    snap_speed_kmh: float,
    matrix: TravelTimeMatrix,
    cutoff_minutes: float,
) -> SnapReport:
    places: tuple[str, ...] = ()
    if network.places is not None and len(network.places):
        lon = np.fromiter((p.longitude for p in homes), np.float64, len(homes))
        lat = np.fromiter((p.latitude for p in homes), np.float64, len(homes))
        places = tuple(network.places.nearest(lon, lat))
    # Required pairs may lie beyond the cutoff: they do not make a home "in reach".
    # (minutes are float32: a pair at the cutoff may round a hair above it)
    within = matrix.minutes <= cutoff_minutes * (1 + 1e-6)
    in_reach = np.flatnonzero(np.bincount(matrix.rows[within], minlength=len(homes)))
    return SnapReport(
        home_snap,
        setting_snap,
        snap_speed_kmh,
        home_places=places,
        cutoff_minutes=float(cutoff_minutes),
        homes_in_reach=in_reach,
    )


def _snap_locations(network: RoadNetwork, locations: Sequence[Location]) -> EdgeSnaps:
    lon = np.fromiter((p.longitude for p in locations), np.float64, len(locations))
    lat = np.fromiter((p.latitude for p in locations), np.float64, len(locations))
    return snap_to_roads(network, lon, lat)


def road_travel_matrix(
    network: RoadNetwork,
    child_ids: Sequence[str],
    homes: Sequence[Location],
    setting_urns: Sequence[str],
    setting_locations: Sequence[Location],
    cutoff_minutes: float,
    required_pairs: Iterable[tuple[int, int]] | npt.NDArray[np.int64] = (),
    cache_dir: Path | None = None,
) -> TravelTimeMatrix:
    """The matrix of :func:`compute_road_travel`, without the snapping report.

    Use :func:`compute_road_travel` to see how far homes and settings were from the network.
    """
    return compute_road_travel(
        network,
        child_ids,
        homes,
        setting_urns,
        setting_locations,
        cutoff_minutes,
        required_pairs,
        cache_dir,
    ).matrix
