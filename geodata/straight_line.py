"""Straight-line travel estimate: only for data with no road network.

Straight lines lie about rivers, estuaries and motorways, so every matrix this module makes is
labelled as an estimate, and the road-network model is used wherever an OSM extract is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from matcher.models import Location
from matcher.travel import TravelTimeMatrix

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
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    chunk_rows: int = 4096,
) -> TravelTimeMatrix:
    """Estimated minutes = haversine km × detour factor ÷ speed, kept where ≤ ``cutoff_minutes``.

    Works in row chunks so that a 25k × 600 problem never holds a dense float64 matrix.
    """
    if detour_factor < 1 or speed_kmh <= 0:
        raise ValueError("detour_factor must be ≥ 1 and speed_kmh > 0")
    slat = np.array([loc.latitude for loc in locations])
    slon = np.array([loc.longitude for loc in locations])
    hlat = np.array([loc.latitude for loc in homes])
    hlon = np.array([loc.longitude for loc in homes])
    rows, cols, mins = [], [], []
    for start in range(0, len(homes), chunk_rows):
        stop = min(start + chunk_rows, len(homes))
        km = haversine_km(hlat[start:stop, None], hlon[start:stop, None], slat, slon)
        minutes = km * detour_factor / speed_kmh * 60.0
        r, c = np.nonzero(minutes <= cutoff_minutes)
        rows.append((r + start).astype(np.int32))
        cols.append(c.astype(np.int32))
        mins.append(minutes[r, c].astype(np.float32))
    model = (
        f"straight-line estimate (haversine × {detour_factor:g} detour ÷ {speed_kmh:g} km/h): "
        "not a road network time"
    )
    return TravelTimeMatrix(
        tuple(child_ids),
        tuple(setting_urns),
        np.concatenate(rows) if rows else np.empty(0, np.int32),
        np.concatenate(cols) if cols else np.empty(0, np.int32),
        np.concatenate(mins) if mins else np.empty(0, np.float32),
        model,
    )
