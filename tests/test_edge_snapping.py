"""Snapping onto roads, not junctions (geodata.road_edges, geodata.edge_snapping).

Hand checks on tests/data/tiny_drive.osm (see its header for the map). Speeds: Main Road 1-2-3
is tagged 40 mph, driven at 32 mph; Loop Lane 1-4-6-5-3 is untagged residential, 20 mph; One Way
Street 6 → 2 is tagged 20 mph, driven at 16 mph.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely

from geodata.edge_snapping import snap_to_roads
from geodata.network import MPH_TO_KMH, RoadNetwork, load_drive_network
from geodata.road_edges import build_road_edges
from geodata.travel_times import compute_road_travel, road_travel_matrix
from matcher.models import Location

TINY = Path(__file__).parent / "data" / "tiny_drive.osm"
EARTH_RADIUS_M = 6_371_009


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def seconds_at(mph: float, distance_m: float) -> float:
    return distance_m / (mph * MPH_TO_KMH / 3.6)


def at(lat: float, lon: float) -> Location:
    return Location(latitude=lat, longitude=lon)


def minutes(net: RoadNetwork, home: Location, setting: Location) -> float:
    matrix = road_travel_matrix(net, ["c"], [home], ["s"], [setting], cutoff_minutes=60)
    assert len(matrix.minutes) == 1
    return float(matrix.minutes[0])


@pytest.fixture(scope="module")
def tiny() -> RoadNetwork:
    return load_drive_network(TINY, use_cache=False)


def test_roads_keep_their_shape_and_one_way_rule(tiny: RoadNetwork) -> None:
    roads = tiny.roads
    assert roads is not None
    by_ends = {
        (int(tiny.node_ids[t]), int(tiny.node_ids[h])): i
        for i, (t, h) in enumerate(zip(roads.tail, roads.head, strict=True))
    }
    # Two-way roads once each (not once per direction), the one-way street once.
    assert sorted(by_ends) == [(1, 2), (1, 6), (2, 3), (3, 6), (3, 7), (6, 2), (7, 8), (7, 12)]
    one_way = by_ends[(6, 2)]
    assert np.isinf(roads.backward_seconds[one_way])
    assert roads.forward_seconds[one_way] == pytest.approx(
        seconds_at(16, metres(53.805, -1.55, 53.8, -1.55)), rel=1e-6
    )
    two_way = [i for k, i in by_ends.items() if k != (6, 2)]
    np.testing.assert_array_equal(roads.forward_seconds[two_way], roads.backward_seconds[two_way])
    # Loop Lane 1-4-6 keeps its corner at node 4 although node 4 is merged away.
    lane = by_ends[(1, 6)]
    shape = slice(roads.shape_start[lane], roads.shape_start[lane + 1])
    assert list(zip(roads.shape_lat[shape], roads.shape_lon[shape], strict=True)) == [
        (53.8, -1.56),
        (53.805, -1.56),
        (53.805, -1.55),
    ]
    assert not roads.snappable[by_ends[(7, 12)]]  # the motorway


def test_home_on_a_road_between_junctions_is_not_charged_off_road(tiny: RoadNetwork) -> None:
    # Halfway along Main Road between junctions 1 and 2: 328 m from either junction, on a road.
    home, school = at(53.8, -1.555), at(53.8, -1.54)
    result = compute_road_travel(tiny, ["c"], [home], ["s"], [school], 60)
    assert float(result.snap.homes.metres[0]) < 1.0
    expected = seconds_at(32, metres(53.8, -1.555, 53.8, -1.54))
    assert float(result.matrix.minutes[0]) == pytest.approx(expected / 60, abs=0.1 / 60)


def test_snaps_onto_the_road_shape_not_the_straight_line_between_its_ends(
    tiny: RoadNetwork,
) -> None:
    # 0.0001° west of Loop Lane's first leg (1 → 4), far from the straight line 1 → 6.
    snaps = snap_to_roads(tiny, [-1.5601], [53.8025])
    assert float(snaps.metres[0]) == pytest.approx(metres(53.8025, -1.5601, 53.8025, -1.56), 0.01)
    roads = tiny.roads
    assert roads is not None
    road = int(snaps.roads[0])
    assert (int(tiny.node_ids[roads.tail[road]]), int(tiny.node_ids[roads.head[road]])) == (1, 6)
    # 278 m along a 1,213 m road.
    assert float(snaps.fraction[0]) == pytest.approx(278 / 1213, abs=0.002)


def test_one_way_street_part_way_along(tiny: RoadNetwork) -> None:
    middle, junction_6 = at(53.8025, -1.55), at(53.805, -1.55)
    half_street = seconds_at(16, metres(53.805, -1.55, 53.8025, -1.55))
    # With the one-way rule: on to junction 2, then Main Road to 1 and Loop Lane back to 6.
    round_by_1 = (
        half_street
        + seconds_at(32, metres(53.8, -1.55, 53.8, -1.56))
        + seconds_at(20, metres(53.8, -1.56, 53.805, -1.56) + metres(53.805, -1.56, 53.805, -1.55))
    )
    assert minutes(tiny, junction_6, middle) == pytest.approx(half_street / 60, abs=0.1 / 60)
    assert minutes(tiny, middle, junction_6) == pytest.approx(round_by_1 / 60, abs=0.1 / 60)


def test_home_and_setting_on_one_road_drive_straight_along_it(tiny: RoadNetwork) -> None:
    # Both on Main Road between junctions 1 and 2: no detour by either junction.
    home, school = at(53.8, -1.558), at(53.8, -1.552)
    direct = seconds_at(32, metres(53.8, -1.558, 53.8, -1.552))
    assert minutes(tiny, home, school) == pytest.approx(direct / 60, abs=0.1 / 60)
    assert minutes(tiny, school, home) == pytest.approx(direct / 60, abs=0.1 / 60)
    # On One Way Street: straight along it with the flow, round by junction 1 against it.
    upper, lower = at(53.80375, -1.55), at(53.80125, -1.55)
    street = seconds_at(16, metres(53.805, -1.55, 53.8, -1.55))
    assert minutes(tiny, upper, lower) == pytest.approx(street / 2 / 60, abs=0.1 / 60)
    round_by_1 = (
        street / 4
        + seconds_at(32, metres(53.8, -1.55, 53.8, -1.56))
        + seconds_at(20, metres(53.8, -1.56, 53.805, -1.56) + metres(53.805, -1.56, 53.805, -1.55))
        + street / 4
    )
    assert minutes(tiny, lower, upper) == pytest.approx(round_by_1 / 60, abs=0.1 / 60)


def test_snap_report_quotes_the_95th_percentile(tiny: RoadNetwork) -> None:
    homes = [at(53.8, -1.555 + k * 1e-4) for k in range(19)] + [at(53.81, -1.555)]
    result = compute_road_travel(
        tiny, [f"c{k}" for k in range(20)], homes, ["s"], [at(53.8, -1.54)], 60
    )
    line = result.snap.summary()
    assert "95th percentile" in line and "1 over 500 m" in line
    # The tiny network has no place names: the note counts the home without naming a village.
    assert result.snap.place_notes() == ["1 home(s) more than 500 m from a road."]


def test_two_way_roads_pair_despite_rounding_and_parallel_roads_stay_apart() -> None:
    # Edges 0/1: one road both ways, times differing in the last bit (lengths summed in opposite
    # orders). Edges 2/3: two different roads between junctions 1 and 2 (one bends), one-way
    # each. Edge 4: a one-way loop.
    lon = np.array([0.0, 0.01, 0.02])
    lat = np.array([52.0, 52.0, 52.0])
    straight = shapely.LineString([(0.0, 52.0), (0.01, 52.0)])
    bend_there = shapely.LineString([(0.01, 52.0), (0.015, 52.01), (0.02, 52.0)])
    bend_back = shapely.LineString([(0.02, 52.0), (0.015, 52.0), (0.01, 52.0)])
    loop = shapely.LineString([(0.02, 52.0), (0.025, 52.01), (0.03, 52.0), (0.02, 52.0)])
    roads = build_road_edges(
        [0, 1, 1, 2, 2],
        [1, 0, 2, 1, 2],
        [23.002471814602714, 23.002471814602718, 50.0, 40.0, 30.0],
        [True] * 5,
        lon,
        lat,
        [straight, shapely.reverse(straight), bend_there, bend_back, loop],
    )
    one_way = np.isinf(roads.backward_seconds).tolist()
    found = sorted(zip(roads.tail.tolist(), roads.head.tolist(), one_way, strict=True))
    assert found == [(0, 1, False), (1, 2, True), (2, 1, True), (2, 2, True)]
