"""Straight-line travel estimate: only for data with no road network.

Straight lines lie about rivers, estuaries and motorways, so every matrix this module makes is
labelled as an estimate, and the road-network model is used wherever an OSM extract is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from matcher.models import Location
from matcher.travel import TravelTimeMatrix, required_pair_array

EARTH_RADIUS_KM = 6371.0088
# Road distance is typically 1.2-1.4 × the crow-fly distance in England; 1.3 is a common middle.
DEFAULT_DETOUR_FACTOR = 1.3
# An average door-to-door taxi/minibus speed mixing urban and rural roads.
DEFAULT_SPEED_KMH = 30.0


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in kilometres (broadcasting)."""
    p1, l1, p2, l2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def straight_line_matrix(
    child_ids: Sequence[str],
    homes: Sequence[Location],
    setting_urns: Sequence[str],
    locations: Sequence[Location],
    cutoff_minutes: float,
    required_pairs: Iterable[tuple[int, int]] = (),
    *,
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    chunk_rows: int = 4096,
) -> TravelTimeMatrix:
    """Estimated minutes = haversine km × detour factor ÷ speed, kept where ≤ ``cutoff_minutes``.

    The same interface as :func:`geodata.travel_times.road_travel_matrix`, so that a caller
    picks a model and nothing else changes.

    Parameters
    ----------
    child_ids, homes
        Row order of the matrix, and each child's home.
    setting_urns, locations
        Column order of the matrix, and each setting's location.
    cutoff_minutes
        Pairs slower than this are left out ("too far"); ``math.inf`` keeps every pair.
    required_pairs
        ``(child_row, setting_col)`` pairs returned whatever their time, e.g. parents'
        preferences: a parent may prefer a distant setting, and the solver must still weigh it
        and say why it was or was not named, rather than see it as unreachable.
    detour_factor, speed_kmh
        Road distance ÷ crow-fly distance, and the average door-to-door speed in km/h.
    chunk_rows
        Homes per block, so that a 25k × 600 problem never holds a dense float64 matrix.

    Returns
    -------
    TravelTimeMatrix
        Minutes as float32, pairs sorted by row then column, ``model`` saying it is an estimate.

    Raises
    ------
    ValueError
        If ids and locations differ in length, the cutoff is not positive, the detour factor
        or speed is out of range, or a required pair is out of range.
    """
    if len(child_ids) != len(homes):
        raise ValueError(f"{len(child_ids)} child ids but {len(homes)} homes")
    if len(setting_urns) != len(locations):
        raise ValueError(f"{len(setting_urns)} setting URNs but {len(locations)} locations")
    if not cutoff_minutes > 0:
        raise ValueError(f"cutoff_minutes must be positive, got {cutoff_minutes!r}")
    if detour_factor < 1 or speed_kmh <= 0:
        raise ValueError("detour_factor must be ≥ 1 and speed_kmh > 0")
    pairs = required_pair_array(required_pairs, len(homes), len(locations))
    slat = np.array([loc.latitude for loc in locations], dtype=np.float64)
    slon = np.array([loc.longitude for loc in locations], dtype=np.float64)
    hlat = np.array([loc.latitude for loc in homes], dtype=np.float64)
    hlon = np.array([loc.longitude for loc in homes], dtype=np.float64)
    minutes_per_km = detour_factor / speed_kmh * 60.0
    rows: list[npt.NDArray[np.int32]] = []
    cols: list[npt.NDArray[np.int32]] = []
    mins: list[npt.NDArray[np.float32]] = []
    for start in range(0, len(homes), chunk_rows):
        stop = min(start + chunk_rows, len(homes))
        minutes = haversine_km(hlat[start:stop, None], hlon[start:stop, None], slat, slon)
        minutes *= minutes_per_km
        r, c = np.nonzero(minutes <= cutoff_minutes)
        rows.append((r + start).astype(np.int32))
        cols.append(c.astype(np.int32))
        mins.append(minutes[r, c].astype(np.float32))
    row = np.concatenate(rows) if rows else np.empty(0, np.int32)
    col = np.concatenate(cols) if cols else np.empty(0, np.int32)
    minute = np.concatenate(mins) if mins else np.empty(0, np.float32)

    if len(pairs):
        # Pairs beyond the cutoff: only these few, computed directly.
        n_cols = len(locations)
        found = row.astype(np.int64) * n_cols + col
        missing = pairs[~np.isin(pairs[:, 0] * n_cols + pairs[:, 1], found)]
        if len(missing):
            i, j = missing[:, 0], missing[:, 1]
            extra = haversine_km(hlat[i], hlon[i], slat[j], slon[j]) * minutes_per_km
            row = np.concatenate([row, i.astype(np.int32)])
            col = np.concatenate([col, j.astype(np.int32)])
            minute = np.concatenate([minute, extra.astype(np.float32)])
            order = np.lexsort((col, row))
            row, col, minute = row[order], col[order], minute[order]

    model = (
        f"straight-line estimate (haversine × {detour_factor:g} detour ÷ {speed_kmh:g} km/h): "
        "not a road network time"
    )
    return TravelTimeMatrix(tuple(child_ids), tuple(setting_urns), row, col, minute, model)
