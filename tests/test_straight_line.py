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
