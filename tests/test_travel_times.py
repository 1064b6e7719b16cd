"""Road-network travel matrices (geodata.travel_times)."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from geodata.network import (
    MPH_TO_KMH,
    LocalProjection,
    RoadNetwork,
    load_drive_network,
    sample_pbf_path,
)
from geodata.travel_times import (
    SNAP_SPEED_KMH,
    compute_road_travel,
    road_travel_matrix,
)
from matcher.models import Location
from matcher.travel import TravelTimeMatrix

TINY = Path(__file__).parent / "data" / "tiny_drive.osm"
EARTH_RADIUS_M = 6_371_009


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def at(lat: float, lon: float) -> Location:
    return Location(latitude=lat, longitude=lon)


@pytest.fixture(scope="module")
def tiny() -> RoadNetwork:
    return load_drive_network(TINY, use_cache=False)


@pytest.fixture(scope="module")
def helsinki() -> RoadNetwork:
    return load_drive_network(sample_pbf_path(), use_cache=False, simplify=False)


def nearest_on_roads(net: RoadNetwork, p: Location) -> tuple[int, float, float]:
    """Brute force over every straight piece of every snappable road, independent of the
    spatial index: (road, fraction along it, metres off the road), in the same local metres
    as the code under test."""
    roads = net.roads
    assert roads is not None
    projection = LocalProjection.around(net.lon, net.lat)
    x, y = projection(roads.shape_lon, roads.shape_lat)
    (px,), (py,) = projection(np.array([p.longitude]), np.array([p.latitude]))
    best = (-1, 0.0, math.inf)
    for road in np.flatnonzero(roads.snappable):
        a, b = roads.shape_start[road], roads.shape_start[road + 1]
        xs, ys = x[a:b], y[a:b]
        seg = np.hypot(np.diff(xs), np.diff(ys))
        total = float(seg.sum())
        before = np.concatenate([[0.0], np.cumsum(seg)])
        for k in range(len(seg)):
            dx, dy = xs[k + 1] - xs[k], ys[k + 1] - ys[k]
            t = 0.0 if seg[k] == 0 else ((px - xs[k]) * dx + (py - ys[k]) * dy) / seg[k] ** 2
            t = min(1.0, max(0.0, t))
            d = math.hypot(px - xs[k] - t * dx, py - ys[k] - t * dy)
            if d < best[2]:
                along = before[k] + t * seg[k]
                best = (int(road), along / total if total else 0.0, d)
    return best


def networkx_minutes(
    net: RoadNetwork, homes: list[Location], settings: list[Location], snap_kmh: float
) -> np.ndarray:
    """Reference door-to-door minutes: each home and setting snapped onto its nearest road by
    brute force, joined to a networkx graph by arcs to (homes) or from (settings) both ends of
    its road with the partial times the one-way rules allow, plus a direct arc when both stand
    on one road; networkx Dijkstra from each home, plus the off-road metres at the snap speed."""
    roads = net.roads
    assert roads is not None
    graph = nx.from_scipy_sparse_array(net.seconds, create_using=nx.DiGraph)
    forward, backward = roads.forward_seconds, roads.backward_seconds
    home_snaps = [nearest_on_roads(net, p) for p in homes]
    setting_snaps = [nearest_on_roads(net, p) for p in settings]
    for j, (road, f, _) in enumerate(setting_snaps):
        if np.isfinite(forward[road]):
            graph.add_edge(int(roads.tail[road]), ("s", j), weight=forward[road] * f)
        if np.isfinite(backward[road]) or f == 1:  # at the head of a one-way road: there
            graph.add_edge(
                int(roads.head[road]), ("s", j), weight=0 if f == 1 else backward[road] * (1 - f)
            )
    for i, (road, f, _) in enumerate(home_snaps):
        if np.isfinite(forward[road]):
            graph.add_edge(("h", i), int(roads.head[road]), weight=forward[road] * (1 - f))
        if np.isfinite(backward[road]) or f == 0:  # at the tail of a one-way road: there
            graph.add_edge(
                ("h", i), int(roads.tail[road]), weight=0 if f == 0 else backward[road] * f
            )
        for j, (s_road, s_f, _) in enumerate(setting_snaps):
            if s_road == road:
                direct = forward[road] * (s_f - f) if s_f >= f else backward[road] * (f - s_f)
                if np.isfinite(direct):
                    graph.add_edge(("h", i), ("s", j), weight=direct)
    out = np.full((len(homes), len(settings)), np.inf)
    for i, (_, _, h_m) in enumerate(home_snaps):
        lengths = nx.single_source_dijkstra_path_length(graph, ("h", i), weight="weight")
        for j, (_, _, s_m) in enumerate(setting_snaps):
            if ("s", j) in lengths:
                out[i, j] = (lengths[("s", j)] + (h_m + s_m) / (snap_kmh / 3.6)) / 60.0
    return out


def dense(matrix: TravelTimeMatrix) -> np.ndarray:
    out = np.full((len(matrix.child_ids), len(matrix.setting_urns)), np.nan)
    out[matrix.rows, matrix.cols] = matrix.minutes
    return out


def random_points(net: RoadNetwork, count: int, rng: np.random.Generator) -> list[Location]:
    """Points near random nodes, jittered up to ~100 m so that snapping matters."""
    nodes = rng.integers(0, net.n_nodes, count)
    return [
        at(
            float(net.lat[i] + rng.uniform(-1e-3, 1e-3)),
            float(net.lon[i] + rng.uniform(-2e-3, 2e-3)),
        )
        for i in nodes
    ]


def test_hand_checked_home_to_setting(tiny: RoadNetwork) -> None:
    # Home at node 1, setting at node 7: the route of test_network's hand check, 140.8 s.
    expected_s = metres(53.8, -1.56, 53.8, -1.54) / (32 * MPH_TO_KMH / 3.6) + metres(
        53.8, -1.54, 53.8, -1.53
    ) / (30 * MPH_TO_KMH / 3.6)
    matrix = road_travel_matrix(
        tiny, ["c1"], [at(53.8, -1.56)], ["s7"], [at(53.8, -1.53)], cutoff_minutes=10
    )
    assert matrix.rows.tolist() == [0] and matrix.cols.tolist() == [0]
    assert float(matrix.minutes[0]) == pytest.approx(expected_s / 60, rel=1e-5)
    assert matrix.model.startswith("road network: OpenStreetMap extract tiny_drive.osm")


def test_snap_distance_is_charged(tiny: RoadNetwork) -> None:
    # 2 km due north of node 6: nowhere near a road. The snap costs 2 km at 15 km/h = 8 min.
    home = at(53.805 + 2000 / 111_195, -1.55)
    result = compute_road_travel(tiny, ["far"], [home], ["s2"], [at(53.8, -1.55)], 60)
    snap_m = float(result.snap.homes.metres[0])
    assert snap_m == pytest.approx(2000, rel=1e-3)
    on_road = metres(53.805, -1.55, 53.8, -1.55) / (16 * MPH_TO_KMH / 3.6)  # one-way 6 → 2
    expected = (on_road + snap_m / (SNAP_SPEED_KMH / 3.6)) / 60
    # The home joins Loop Lane within a metre of node 6 (the local projection is not exactly
    # great-circle), so the road part may differ from the hand figure by a fraction of a second.
    assert float(result.matrix.minutes[0]) == pytest.approx(expected, abs=0.5 / 60)
    assert result.snap.far_homes().tolist() == [0]
    assert result.snap.far_settings().tolist() == []
    assert "over 500 m" in result.snap.summary()


def test_matches_networkx_and_honours_cutoff(helsinki: RoadNetwork) -> None:
    rng = np.random.default_rng(7)
    homes = random_points(helsinki, 120, rng)
    settings = random_points(helsinki, 25, rng)
    reference = networkx_minutes(helsinki, homes, settings, SNAP_SPEED_KMH)
    cutoff = float(np.quantile(reference[np.isfinite(reference)], 0.4))
    # A tiny chunk budget forces several Dijkstra chunks.
    result = compute_road_travel(
        helsinki,
        [f"c{i}" for i in range(len(homes))],
        homes,
        [f"s{j}" for j in range(len(settings))],
        settings,
        cutoff,
        chunk_bytes=8 * helsinki.n_nodes * 4,
    )
    got = dense(result.matrix)
    within = reference <= cutoff
    assert within.sum() > 100 and (~within).sum() > 100  # the cutoff really cuts
    np.testing.assert_allclose(got[within], reference[within], rtol=1e-5)
    assert np.isnan(got[~within]).all()
    assert float(result.matrix.minutes.max()) <= cutoff
    # Pairs sorted by row then column, unique.
    keys = result.matrix.rows.astype(np.int64) * len(settings) + result.matrix.cols
    assert np.all(np.diff(keys) > 0)


def test_required_pairs_beyond_the_cutoff(helsinki: RoadNetwork) -> None:
    rng = np.random.default_rng(11)
    homes = random_points(helsinki, 40, rng)
    settings = random_points(helsinki, 8, rng)
    reference = networkx_minutes(helsinki, homes, settings, SNAP_SPEED_KMH)
    cutoff = float(np.quantile(reference, 0.3))
    far = np.argwhere(reference > cutoff)
    required = [(int(r), int(c)) for r, c in far[:: max(1, len(far) // 6)]]
    near = np.argwhere(reference <= cutoff)
    required.append((int(near[0, 0]), int(near[0, 1])))  # already in: must not be duplicated
    ids = [f"c{i}" for i in range(len(homes))]
    urns = [f"s{j}" for j in range(len(settings))]
    plain = road_travel_matrix(helsinki, ids, homes, urns, settings, cutoff)
    with_required = road_travel_matrix(
        helsinki, ids, homes, urns, settings, cutoff, required_pairs=required
    )
    lookup = with_required.lookup()
    assert len(with_required.rows) == len(plain.rows) + len(required) - 1
    for r, c in required:
        assert lookup[(r, c)] == pytest.approx(reference[r, c], rel=1e-5)
    assert set(plain.lookup()) <= set(lookup)
    # Only the required pairs exceed the cutoff.
    over = {k for k, m in lookup.items() if m > cutoff}
    assert over == {p for p in required if reference[p] > cutoff}


def test_cache_hit_returns_the_identical_matrix(helsinki: RoadNetwork, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    homes = random_points(helsinki, 60, rng)
    settings = random_points(helsinki, 10, rng)
    ids = [f"c{i}" for i in range(60)]
    urns = [f"s{j}" for j in range(10)]
    first = compute_road_travel(
        helsinki, ids, homes, urns, settings, 6.0, [(0, 0)], cache_dir=tmp_path
    )
    second = compute_road_travel(
        helsinki, ids, homes, urns, settings, 6.0, [(0, 0)], cache_dir=tmp_path
    )
    assert not first.from_cache and second.from_cache
    for name in ("rows", "cols", "minutes"):
        a, b = getattr(first.matrix, name), getattr(second.matrix, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert second.matrix.model == first.matrix.model
    assert second.matrix.child_ids == tuple(ids)
    np.testing.assert_array_equal(second.snap.homes.metres, first.snap.homes.metres)
    # Anything that changes the answer is a different cache entry.
    assert not compute_road_travel(
        helsinki, ids, homes, urns, settings, 7.0, [(0, 0)], cache_dir=tmp_path
    ).from_cache
    assert not compute_road_travel(
        helsinki, ids, homes, urns, settings, 6.0, cache_dir=tmp_path
    ).from_cache
    moved = [at(homes[0].latitude + 1e-4, homes[0].longitude), *homes[1:]]
    assert not compute_road_travel(
        helsinki, ids, moved, urns, settings, 6.0, [(0, 0)], cache_dir=tmp_path
    ).from_cache


def test_settings_sharing_a_node_and_empty_inputs(tiny: RoadNetwork) -> None:
    homes = [at(53.8, -1.56), at(53.805, -1.54)]
    same = at(53.8, -1.53)
    matrix = road_travel_matrix(tiny, ["a", "b"], homes, ["x", "y"], [same, same], 30)
    d = dense(matrix)
    np.testing.assert_array_equal(d[:, 0], d[:, 1])
    assert np.isfinite(d).all()
    empty = road_travel_matrix(tiny, [], [], ["x"], [same], 30)
    assert len(empty.rows) == 0 and empty.child_ids == ()
    no_settings = road_travel_matrix(tiny, ["a"], homes[:1], [], [], 30)
    assert len(no_settings.rows) == 0


def test_rejects_bad_arguments(tiny: RoadNetwork) -> None:
    home, school = [at(53.8, -1.56)], [at(53.8, -1.53)]
    with pytest.raises(ValueError, match="1 child ids but 0 homes"):
        road_travel_matrix(tiny, ["a"], [], ["s"], school, 30)
    with pytest.raises(ValueError, match="setting URNs"):
        road_travel_matrix(tiny, ["a"], home, ["s", "t"], school, 30)
    with pytest.raises(ValueError, match="cutoff_minutes"):
        road_travel_matrix(tiny, ["a"], home, ["s"], school, 0)
    with pytest.raises(ValueError, match="out of range"):
        road_travel_matrix(tiny, ["a"], home, ["s"], school, 30, required_pairs=[(0, 1)])
