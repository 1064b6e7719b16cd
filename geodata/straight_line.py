"""Straight-line travel estimate: only for data with no road network.

Straight lines lie about rivers, estuaries and motorways, so every matrix this module makes is
labelled as an estimate, and the road-network model is used wherever an OSM extract is given.

A whole LA is tens of millions of (home, setting) pairs, most of them beyond the cutoff. A cheap
test finds the pairs that may be within it (dot products of unit vectors, a block of homes at
a time); only those get the haversine formula, evaluated operation for operation as
:func:`haversine_km` does, so every kept pair has the same minutes as a dense computation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from matcher.models import Location
from matcher.travel import TravelTimeMatrix, required_pair_array

EARTH_RADIUS_KM = 6371.0088
# Road distance is typically 1.2-1.4 × the crow-fly distance in England; 1.3 is a common middle.
DEFAULT_DETOUR_FACTOR = 1.3
# An average door-to-door taxi/minibus speed mixing urban and rural roads.
DEFAULT_SPEED_KMH = 30.0
# Slack on the cheap test, in units of 1 − cos(angle): far above its rounding error (~1e-15),
# far below the ~1e-6 of a journey of minutes, so it only ever adds a few pairs to check.
_SCREEN_SLACK = 1e-9
_Block = tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float32]]
# Pairs screened at once: small enough that a block's arrays (a few MB) stay in cache.
_BLOCK_PAIRS = 1 << 18
# Fewer blocks than twice this run on one thread.
_BLOCKS_PER_THREAD = 4


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
    required_pairs: Iterable[tuple[int, int]] | npt.NDArray[np.int64] = (),
    *,
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    chunk_rows: int | None = None,
    screen: PairScreen | None = None,
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
        Homes per block (default: about 260,000 pairs a block), so that a 25k × 600
        problem never holds a dense float64 matrix.
    screen
        Only the pairs it keeps, each within its home's own cutoff, besides the required
        pairs: for a round that needs options only, not every exclusion within reach.

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
    home_points = _Points.of(homes)
    setting_points = _Points.of(locations)
    minutes_per_km = detour_factor / speed_kmh * 60.0
    n_cols = len(locations)
    rows_per_block = chunk_rows or max(1, _BLOCK_PAIRS // max(n_cols, 1))
    within = _Cutoffs(cutoff_minutes, screen)
    floors = _screen_floors(within.row_minutes(len(homes)) / minutes_per_km)

    # A required pair is missing exactly when its minutes, computed as below, are over (or
    # when the screen would drop it).
    extra = _pair_km(home_points, setting_points, pairs[:, 0], pairs[:, 1]) * minutes_per_km
    over = ~within(extra, pairs[:, 0])
    if screen is not None:
        over |= ~screen.keep(pairs[:, 0], pairs[:, 1])
    beyond: npt.NDArray[np.int64] = pairs[over]
    beyond_minutes = extra[over].astype(np.float32)
    starts = np.arange(0, len(homes), rows_per_block)
    bounds = np.append(starts, len(homes))
    block_of_beyond = np.asarray(np.searchsorted(beyond[:, 0], bounds), np.int64)

    def block(k: int) -> _Block:
        start, stop = int(bounds[k]), int(bounds[k + 1])
        near = _cosines(home_points.unit[start:stop], setting_points.unit)
        r, c = np.nonzero(near >= floors[start:stop, None])
        r += start
        if screen is not None:
            wanted = screen.keep(r, c)
            r, c = r[wanted], c[wanted]
        minutes = _pair_km(home_points, setting_points, r, c)
        minutes *= minutes_per_km
        keep = within(minutes, r)
        found = (
            r[keep].astype(np.int32),
            c[keep].astype(np.int32),
            minutes[keep].astype(np.float32),
        )
        named = slice(block_of_beyond[k], block_of_beyond[k + 1])
        return _merge_sorted(found, beyond[named], beyond_minutes[named], n_cols)

    blocks = _in_parallel(block, len(starts))
    row = np.concatenate([rows for rows, _, _ in blocks]) if blocks else np.empty(0, np.int32)
    col = np.concatenate([cols for _, cols, _ in blocks]) if blocks else np.empty(0, np.int32)
    minute = np.concatenate([m for _, _, m in blocks]) if blocks else np.empty(0, np.float32)

    model = (
        f"straight-line estimate (haversine × {detour_factor:g} detour ÷ {speed_kmh:g} km/h): "
        "not a road network time"
    )
    return TravelTimeMatrix(tuple(child_ids), tuple(setting_urns), row, col, minute, model)


class PairScreen(Protocol):
    """Which pairs a round needs timed: each home's own cutoff, and a test of the pairs."""

    @property
    def cutoffs(self) -> npt.NDArray[np.floating[Any]]:
        """Minutes, each home's: pairs slower than this are not needed."""
        ...

    def keep(
        self, rows: npt.NDArray[np.integer[Any]], cols: npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.bool_]:
        """Whether each (home row, setting column) pair is needed at all."""
        ...


def _in_parallel(block: Callable[[int], _Block], n_blocks: int) -> list[_Block]:
    """Every block, in order, on as many threads as there are cores (up to two).

    numpy's array operations release the interpreter lock, so on a whole LA the blocks of
    homes are timed side by side; a handful of blocks is not worth a thread.
    """
    if n_blocks < _BLOCKS_PER_THREAD * 2 or (os.cpu_count() or 1) < 2:
        return [block(k) for k in range(n_blocks)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(block, range(n_blocks)))


@dataclass(frozen=True)
class _Cutoffs:
    """The cutoff, and a screen's own per home: compared as eligibility compares journeys.

    Eligibility compares a pair's stored (float32) minutes with the limit, so the screen's
    cutoffs are compared the same way, and no pair it would find eligible is left out.
    """

    minutes: float
    screen: PairScreen | None

    def __call__(
        self, minutes: npt.NDArray[np.float64], rows: npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.bool_]:
        within = minutes <= self.minutes
        if self.screen is not None:
            within &= minutes.astype(np.float32) <= self.screen.cutoffs[rows]
        return within

    def row_minutes(self, n_rows: int) -> npt.NDArray[np.float64]:
        """Each home's cutoff, for the cheap test."""
        rows = np.full(n_rows, self.minutes, np.float64)
        if self.screen is None:
            return rows
        return np.minimum(rows, np.asarray(self.screen.cutoffs, np.float64))


@dataclass(frozen=True)
class _Points:
    """What the formula needs of each point, computed once per point rather than per pair."""

    lat: npt.NDArray[np.float64]  # radians
    lon: npt.NDArray[np.float64]  # radians
    cos_lat: npt.NDArray[np.float64]
    unit: npt.NDArray[np.float64]  # (n, 3) unit vectors, for the cheap test

    @classmethod
    def of(cls, locations: Sequence[Location]) -> _Points:
        lat = np.radians(np.array([p.latitude for p in locations], dtype=np.float64))
        lon = np.radians(np.array([p.longitude for p in locations], dtype=np.float64))
        cos_lat = np.cos(lat)
        unit = np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=1)
        return cls(lat, lon, cos_lat, unit.reshape(len(lat), 3))


def _screen_floors(km: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:func:`_screen_floor` of each home's own cutoff (a round has a few distinct ones)."""
    distinct, which = np.unique(km, return_inverse=True)
    return np.array([_screen_floor(float(k)) for k in distinct], np.float64)[which.reshape(-1)]


def _screen_floor(km: float) -> float:
    """Lowest cos(angle) between two unit vectors whose pair may lie within ``km``.

    Haversine's ``a`` is (1 − cos angle) ÷ 2; a pair within ``km`` has
    ``a ≤ sin²(km ÷ 2R)``. The slack keeps every pair the exact formula would keep.
    """
    half_angle = km / (2 * EARTH_RADIUS_KM)
    if not math.isfinite(half_angle) or half_angle >= math.pi / 2:
        return -math.inf
    return 1.0 - 2.0 * math.sin(half_angle) ** 2 - _SCREEN_SLACK


def _cosines(
    homes: npt.NDArray[np.float64], settings: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Dot products of every home with every setting, on this thread (no BLAS threads)."""
    out = np.multiply.outer(homes[:, 0], settings[:, 0])
    out += np.multiply.outer(homes[:, 1], settings[:, 1])
    out += np.multiply.outer(homes[:, 2], settings[:, 2])
    return out


def _pair_km(
    homes: _Points, settings: _Points, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """:func:`haversine_km` of the given pairs, the same floating-point operations in order."""
    p1, l1, p2, l2 = homes.lat[rows], homes.lon[rows], settings.lat[cols], settings.lon[cols]
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + homes.cos_lat[rows] * settings.cos_lat[cols] * np.sin((l2 - l1) / 2) ** 2
    )
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def _merge_sorted(
    block: _Block, pairs: npt.NDArray[np.int64], minutes: npt.NDArray[np.float32], n_cols: int
) -> _Block:
    """Insert a few sorted, new pairs into a block's row-then-column order without a sort."""
    if not len(pairs):
        return block
    row, col, minute = block
    keys = row.astype(np.int64) * n_cols + col
    at = np.searchsorted(keys, pairs[:, 0] * n_cols + pairs[:, 1])
    return (
        np.insert(row, at, pairs[:, 0].astype(np.int32)),
        np.insert(col, at, pairs[:, 1].astype(np.int32)),
        np.insert(minute, at, minutes),
    )
