"""The straight-line estimate: distances, the cutoff, and required pairs beyond it.

``required_pairs`` must mean what it means for the road network (see test_travel_times.py):
every pair within the cutoff, plus the named pairs whatever their time, each pair once.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from geodata.straight_line import (
    DEFAULT_DETOUR_FACTOR,
    DEFAULT_SPEED_KMH,
    haversine_km,
    straight_line_matrix,
)
from matcher.models import Location
from matcher.travel import TravelTimeMatrix


def points(rng: np.random.Generator, n: int) -> list[Location]:
    """Points in a ~40 km box in Suffolk."""
    return [
        Location(
            latitude=float(52.0 + 0.35 * rng.random()), longitude=float(0.5 + 0.6 * rng.random())
        )
        for _ in range(n)
    ]


def dense_minutes(homes: list[Location], settings: list[Location]) -> np.ndarray:
    km = haversine_km(
        np.array([h.latitude for h in homes])[:, None],
        np.array([h.longitude for h in homes])[:, None],
        np.array([s.latitude for s in settings]),
        np.array([s.longitude for s in settings]),
    )
    return km * DEFAULT_DETOUR_FACTOR / DEFAULT_SPEED_KMH * 60.0


def as_dict(matrix: TravelTimeMatrix) -> dict[tuple[int, int], float]:
    return {
        (int(r), int(c)): float(m)
        for r, c, m in zip(matrix.rows, matrix.cols, matrix.minutes, strict=True)
    }


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert haversine_km(52.0, 0.0, 53.0, 0.0) == pytest.approx(111.2, abs=0.1)


def test_cutoff_and_required_pairs_match_a_dense_computation() -> None:
    rng = np.random.default_rng(7)
    homes, settings = points(rng, 50), points(rng, 12)
    dense = dense_minutes(homes, settings)
    cutoff = float(np.quantile(dense, 0.3))
    far = [(int(i), int(j)) for i, j in zip(*np.nonzero(dense > cutoff), strict=True)][:15]
    near = [(int(i), int(j)) for i, j in zip(*np.nonzero(dense <= cutoff), strict=True)][:5]
    required = [*far, *near, far[0]]  # a pair within the cutoff and a repeat change nothing
    ids = [f"C{i}" for i in range(len(homes))]
    urns = [f"U{j}" for j in range(len(settings))]

    plain = straight_line_matrix(ids, homes, urns, settings, cutoff, chunk_rows=7)
    with_pairs = straight_line_matrix(ids, homes, urns, settings, cutoff, required, chunk_rows=7)

    expected_plain = {
        (int(i), int(j)): float(dense[i, j])
        for i, j in zip(*np.nonzero(dense <= cutoff), strict=True)
    }
    assert as_dict(plain).keys() == expected_plain.keys()
    got = as_dict(with_pairs)
    assert got.keys() == expected_plain.keys() | set(far)
    assert len(got) == len(with_pairs.rows)  # each pair once
    for pair, minutes in got.items():
        assert minutes == pytest.approx(dense[pair], rel=1e-5)
    # sorted by row then column, as the road-network matrix is
    keys = with_pairs.rows.astype(np.int64) * len(urns) + with_pairs.cols
    assert np.all(np.diff(keys) > 0)
    assert "straight-line estimate" in with_pairs.model


def test_infinite_cutoff_keeps_every_pair() -> None:
    rng = np.random.default_rng(3)
    homes, settings = points(rng, 5), points(rng, 4)
    matrix = straight_line_matrix(
        ["a", "b", "c", "d", "e"], homes, list("WXYZ"), settings, math.inf
    )
    assert len(matrix.rows) == 20


@pytest.mark.parametrize(
    ("pairs", "message"),
    [([(5, 0)], "out of range"), ([(0, -1)], "out of range")],
)
def test_required_pairs_out_of_range(pairs: list[tuple[int, int]], message: str) -> None:
    rng = np.random.default_rng(1)
    homes, settings = points(rng, 5), points(rng, 2)
    with pytest.raises(ValueError, match=message):
        straight_line_matrix(list("abcde"), homes, ["U1", "U2"], settings, 30.0, pairs)


def test_bad_arguments() -> None:
    rng = np.random.default_rng(2)
    homes, settings = points(rng, 2), points(rng, 2)
    with pytest.raises(ValueError, match="child ids"):
        straight_line_matrix(["a"], homes, ["U1", "U2"], settings, 30.0)
    with pytest.raises(ValueError, match="cutoff_minutes"):
        straight_line_matrix(["a", "b"], homes, ["U1", "U2"], settings, 0.0)
    with pytest.raises(ValueError, match="detour_factor"):
        straight_line_matrix(["a", "b"], homes, ["U1", "U2"], settings, 30.0, detour_factor=0.5)


def test_no_children_or_no_settings() -> None:
    rng = np.random.default_rng(4)
    empty = straight_line_matrix([], [], ["U1"], points(rng, 1), 30.0)
    assert len(empty.rows) == 0
    none = straight_line_matrix(["a"], points(rng, 1), [], [], 30.0)
    assert len(none.rows) == 0


def _reference_matrix(
    homes: list[Location],
    settings: list[Location],
    cutoff: float,
    required: list[tuple[int, int]],
    chunk_rows: int = 4096,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dense blockwise computation the screened one replaced, kept to compare against."""
    minutes_per_km = DEFAULT_DETOUR_FACTOR / DEFAULT_SPEED_KMH * 60.0
    slat = np.array([p.latitude for p in settings], dtype=np.float64)
    slon = np.array([p.longitude for p in settings], dtype=np.float64)
    hlat = np.array([p.latitude for p in homes], dtype=np.float64)
    hlon = np.array([p.longitude for p in homes], dtype=np.float64)
    rows, cols, mins = [np.empty(0, np.int32)], [np.empty(0, np.int32)], [np.empty(0, np.float32)]
    for start in range(0, len(homes), chunk_rows):
        stop = min(start + chunk_rows, len(homes))
        minutes = haversine_km(hlat[start:stop, None], hlon[start:stop, None], slat, slon)
        minutes *= minutes_per_km
        r, c = np.nonzero(minutes <= cutoff)
        rows.append((r + start).astype(np.int32))
        cols.append(c.astype(np.int32))
        mins.append(minutes[r, c].astype(np.float32))
    row, col, minute = np.concatenate(rows), np.concatenate(cols), np.concatenate(mins)
    pairs = np.unique(np.asarray(required, np.int64).reshape(-1, 2), axis=0)
    if len(pairs):
        found = row.astype(np.int64) * len(settings) + col
        missing = pairs[~np.isin(pairs[:, 0] * len(settings) + pairs[:, 1], found)]
        if len(missing):
            i, j = missing[:, 0], missing[:, 1]
            extra = haversine_km(hlat[i], hlon[i], slat[j], slon[j]) * minutes_per_km
            row = np.concatenate([row, i.astype(np.int32)])
            col = np.concatenate([col, j.astype(np.int32)])
            minute = np.concatenate([minute, extra.astype(np.float32)])
            order = np.lexsort((col, row))
            row, col, minute = row[order], col[order], minute[order]
    return row, col, minute


def _scattered(
    rng: np.random.Generator, n: int, lat: float, lon: float, half: float
) -> list[Location]:
    """Points in a box of half-side ``half`` degrees, clamped to valid coordinates."""
    return [
        Location(
            latitude=float(np.clip(lat + half * rng.uniform(-1, 1), -90, 90)),
            longitude=float(np.clip(lon + 2 * half * rng.uniform(-1, 1), -180, 180)),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", range(12))
def test_screened_matrix_is_identical_to_the_dense_computation(seed: int) -> None:
    """Same pairs, same float32 minutes to the bit, in the same order, whatever the scale,
    cutoff, block size and named pairs: the cheap screen may only ever save work."""
    rng = np.random.default_rng(seed)
    half = float(rng.choice([0.02, 0.3, 1.5, 20.0, 80.0]))  # a town to half the globe
    lat, lon = float(rng.uniform(-60, 60)), float(rng.uniform(-150, 150))
    homes = _scattered(rng, int(rng.integers(1, 120)), lat, lon, half)
    settings = _scattered(rng, int(rng.integers(1, 40)), lat, lon, half)
    dense = dense_minutes(homes, settings)
    cutoff = float(rng.choice([np.quantile(dense, rng.uniform(0.05, 0.95)), dense.max(), math.inf]))
    required = [
        (int(rng.integers(len(homes))), int(rng.integers(len(settings))))
        for _ in range(int(rng.integers(0, 30)))
    ]
    ids = [f"C{i}" for i in range(len(homes))]
    urns = [f"U{j}" for j in range(len(settings))]
    chunk = int(rng.choice([1, 5, 64])) if seed % 2 else None

    got = straight_line_matrix(ids, homes, urns, settings, cutoff, required, chunk_rows=chunk)

    row, col, minute = _reference_matrix(homes, settings, cutoff, required)
    assert np.array_equal(got.rows, row)
    assert np.array_equal(got.cols, col)
    assert got.minutes.tobytes() == minute.tobytes()


def test_pairs_on_the_cutoff_are_kept_as_the_dense_computation_keeps_them() -> None:
    """A cutoff equal to a pair's own minutes keeps it: the screen's slack must not lose it."""
    rng = np.random.default_rng(11)
    homes, settings = points(rng, 40), points(rng, 9)
    dense = dense_minutes(homes, settings)
    for cutoff in np.sort(dense.ravel())[::37]:
        got = straight_line_matrix(
            [f"C{i}" for i in range(40)], homes, list("ABCDEFGHI"), settings, float(cutoff)
        )
        row, col, minute = _reference_matrix(homes, settings, float(cutoff), [])
        assert np.array_equal(got.rows, row) and np.array_equal(got.cols, col)
        assert got.minutes.tobytes() == minute.tobytes()
