"""Child × setting travel times on the road network: one reverse Dijkstra per setting.

A caseload has thousands of homes and a few hundred settings, so the search runs from the
settings, on the reversed graph: a single :func:`scipy.sparse.csgraph.dijkstra` call per chunk
of settings gives the time from *every* node to each of them, bounded by the cutoff so that it
stops at the edge of the reachable area. Homes then just read their node's column.

Homes and settings are snapped to the nearest network node (never a motorway or slip road).
The stretch between a point and its node is not on the mapped network — a long private drive,
an estate road missing from OSM, a farm track — so it is charged at :data:`SNAP_SPEED_KMH` on
the straight-line distance. A home 2 km from any road therefore costs 8 minutes more, instead
of being treated as if it stood on the road.

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

from geodata.network import RoadNetwork
from matcher.models import Location
from matcher.travel import TravelTimeMatrix, required_pair_array

logger = logging.getLogger(__name__)

#: Bump when the way matrices are computed changes, so that old cache files are not reused.
MATRIX_CACHE_VERSION = "sendmatch-road-matrix-1"

#: Speed (km/h) charged on the straight line between a point and its snapped node: a car
#: crawling along an unmapped drive or estate road, or, for a home far from any road, a
#: deliberately heavy penalty so that it is not treated as standing on the network.
SNAP_SPEED_KMH = 15.0

#: Snaps longer than this (metres) are listed as suspicious in :class:`SnapReport`: the point is
#: probably outside the extract or its coordinates are wrong.
FAR_SNAP_METRES = 500.0

#: Memory for one chunk of Dijkstra output (settings × all nodes × 8 bytes). 256 MiB is about
#: 30 settings at a time on a 1M-node network, all 300 at once on a small town's network.
DEFAULT_CHUNK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class SnappedPoints:
    """Points snapped to a network.

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
    :attr:`RoadNetwork.snappable`)."""
    lon = np.fromiter((p.longitude for p in locations), np.float64, len(locations))
    lat = np.fromiter((p.latitude for p in locations), np.float64, len(locations))
    nodes, metres = network.nearest_nodes(lon, lat)
    return SnappedPoints(nodes, metres)


@dataclass(frozen=True)
class SnapReport:
    """How far each home and setting was from the road network.

    Attributes
    ----------
    homes, settings
        Snapping of each child's home (matrix row order) and each setting (column order).
    snap_speed_kmh
        Speed charged on the snap distance.
    far_metres
        Threshold above which a snap is listed by :meth:`far_homes` / :meth:`far_settings`.
    """

    homes: SnappedPoints
    settings: SnappedPoints
    snap_speed_kmh: float = SNAP_SPEED_KMH
    far_metres: float = FAR_SNAP_METRES

    def far_homes(self) -> npt.NDArray[np.int64]:
        """Rows whose home is more than :attr:`far_metres` from any road node."""
        return np.flatnonzero(self.homes.metres > self.far_metres)

    def far_settings(self) -> npt.NDArray[np.int64]:
        """Columns whose setting is more than :attr:`far_metres` from any road node."""
        return np.flatnonzero(self.settings.metres > self.far_metres)

    def summary(self) -> str:
        """One line for logs and reports, e.g. ``homes: median 38 m, max 2,110 m, 3 over 500 m``."""

        def describe(what: str, metres: npt.NDArray[np.float64]) -> str:
            if len(metres) == 0:
                return f"{what}: none"
            far = int((metres > self.far_metres).sum())
            return (
                f"{what}: median {np.median(metres):,.0f} m, max {metres.max():,.0f} m, "
                f"{far} over {self.far_metres:,.0f} m"
            )

        return (
            f"snapped to the road network ({describe('homes', self.homes.metres)}; "
            f"{describe('settings', self.settings.metres)}); "
            f"snap distance charged at {self.snap_speed_kmh:g} km/h"
        )


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
        f"road network: {network.label}; homes and settings snapped to the nearest road node, "
        f"the snap distance charged at {snap_speed_kmh:g} km/h"
    )


def _cache_key(
    network: RoadNetwork,
    homes: SnappedPoints,
    settings: SnappedPoints,
    home_lonlat: npt.NDArray[np.float64],
    setting_lonlat: npt.NDArray[np.float64],
    cutoff_minutes: float,
    snap_speed_kmh: float,
    pairs: npt.NDArray[np.int64],
) -> str:
    digest = hashlib.sha256()
    digest.update(f"{MATRIX_CACHE_VERSION}|{network.fingerprint}|".encode())
    digest.update(f"{float(cutoff_minutes)!r}|{float(snap_speed_kmh)!r}|".encode())
    for array in (home_lonlat, setting_lonlat, homes.nodes, settings.nodes, pairs):
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


def _within_cutoff(
    network: RoadNetwork,
    home_nodes: npt.NDArray[np.int32],
    home_seconds: npt.NDArray[np.float64],
    setting_nodes: npt.NDArray[np.int32],
    setting_seconds: npt.NDArray[np.float64],
    cutoff_seconds: float,
    chunk_bytes: int,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """All (row, col, seconds) with door-to-door seconds ≤ ``cutoff_seconds``."""
    if len(home_nodes) == 0 or len(setting_nodes) == 0:
        return np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float64)
    graph = network.reverse_seconds
    # Settings that share a node share a search; a setting whose own snap already exceeds the
    # cutoff reaches nobody.
    reachable = np.flatnonzero(setting_seconds <= cutoff_seconds)
    unique_nodes, inverse = np.unique(setting_nodes[reachable], return_inverse=True)
    step = _chunk_size(max(network.n_nodes, len(home_nodes)), chunk_bytes)
    cheapest_home = float(home_seconds.min()) if len(home_seconds) else 0.0
    rows_out: list[npt.NDArray[np.int32]] = []
    cols_out: list[npt.NDArray[np.int32]] = []
    secs_out: list[npt.NDArray[np.float64]] = []
    for start in range(0, len(unique_nodes), step):
        sources = unique_nodes[start : start + step]
        in_chunk = (inverse >= start) & (inverse < start + len(sources))
        cols = reachable[in_chunk]
        source_row = inverse[in_chunk] - start
        # Network time may use whatever the cheapest snaps at both ends leave over.
        limit = max(0.0, cutoff_seconds - float(setting_seconds[cols].min()) - cheapest_home)
        dist = dijkstra(graph, directed=True, indices=sources, limit=limit, min_only=False)
        at_homes = dist[:, home_nodes]  # (sources, homes)
        del dist
        total = at_homes[source_row] + home_seconds[None, :] + setting_seconds[cols, None]
        col_pos, row = np.nonzero(total <= cutoff_seconds)
        rows_out.append(row.astype(np.int32))
        cols_out.append(cols[col_pos].astype(np.int32))
        secs_out.append(total[col_pos, row])
    if not rows_out:
        return np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float64)
    return np.concatenate(rows_out), np.concatenate(cols_out), np.concatenate(secs_out)


def _pair_times(
    network: RoadNetwork,
    pairs: npt.NDArray[np.int64],
    home_nodes: npt.NDArray[np.int32],
    home_seconds: npt.NDArray[np.float64],
    setting_nodes: npt.NDArray[np.int32],
    setting_seconds: npt.NDArray[np.float64],
    chunk_bytes: int,
) -> npt.NDArray[np.float64]:
    """Unbounded door-to-door seconds for the given (row, col) pairs only."""
    out = np.empty(len(pairs), dtype=np.float64)
    pair_nodes = setting_nodes[pairs[:, 1]]
    unique_nodes, inverse = np.unique(pair_nodes, return_inverse=True)
    step = _chunk_size(network.n_nodes, chunk_bytes)
    for start in range(0, len(unique_nodes), step):
        sources = unique_nodes[start : start + step]
        sel = np.flatnonzero((inverse >= start) & (inverse < start + len(sources)))
        dist = dijkstra(network.reverse_seconds, directed=True, indices=sources, min_only=False)
        rows, cols = pairs[sel, 0], pairs[sel, 1]
        out[sel] = (
            dist[inverse[sel] - start, home_nodes[rows]]
            + home_seconds[rows]
            + setting_seconds[cols]
        )
    return out


def compute_road_travel(
    network: RoadNetwork,
    child_ids: Sequence[str],
    homes: Sequence[Location],
    setting_urns: Sequence[str],
    setting_locations: Sequence[Location],
    cutoff_minutes: float,
    required_pairs: Iterable[tuple[int, int]] = (),
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
        Speed charged on the distance from a point to its network node.
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

    home_snap = snap_points(network, homes)
    setting_snap = snap_points(network, setting_locations)
    report = SnapReport(home_snap, setting_snap, snap_speed_kmh)
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
                return RoadTravelResult(matrix, report, from_cache=True)

    cutoff_seconds = float(cutoff_minutes) * 60.0
    home_seconds = home_snap.seconds(snap_speed_kmh)
    setting_seconds = setting_snap.seconds(snap_speed_kmh)
    rows, cols, secs = _within_cutoff(
        network,
        home_snap.nodes,
        home_seconds,
        setting_snap.nodes,
        setting_seconds,
        cutoff_seconds,
        chunk_bytes,
    )
    if len(pairs):
        n_cols = len(setting_urns)
        found = rows.astype(np.int64) * n_cols + cols
        missing = pairs[~np.isin(pairs[:, 0] * n_cols + pairs[:, 1], found)]
        if len(missing):
            extra = _pair_times(
                network,
                missing,
                home_snap.nodes,
                home_seconds,
                setting_snap.nodes,
                setting_seconds,
                chunk_bytes,
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
    logger.info(
        "road travel matrix: %d children × %d settings, %d pairs within %g min; %s",
        len(child_ids),
        len(setting_urns),
        len(rows),
        cutoff_minutes,
        report.summary(),
    )
    return RoadTravelResult(matrix, report, from_cache=False)


def road_travel_matrix(
    network: RoadNetwork,
    child_ids: Sequence[str],
    homes: Sequence[Location],
    setting_urns: Sequence[str],
    setting_locations: Sequence[Location],
    cutoff_minutes: float,
    required_pairs: Iterable[tuple[int, int]] = (),
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
