"""The child page's map with the server's roads: the roads in the picture's box, fastest
first, projected exactly as the markers are; none without a road network."""

from __future__ import annotations

import numpy as np
import pytest

from api.pages import child_map as map_module
from api.pages.child_map import child_map
from api.pages.child_words import option_rows
from api.roads import RoadIndex
from tests.test_child_words import option

HOME = {"lat": 52.2420, "lon": 0.7180}
SCHOOL = {"lat": 52.2380, "lon": 0.7250}


def roads(*segments: tuple[float, float, float, float]) -> RoadIndex:
    """A road index of (lon_a, lat_a, lon_b, lat_b) segments, already fastest first."""
    a = np.array(segments, dtype=np.float64)
    n = len(segments)
    return RoadIndex(
        lon_a=a[:, 0],
        lat_a=a[:, 1],
        lon_b=a[:, 2],
        lat_b=a[:, 3],
        seconds=np.full(n, 10.0),
        kmh=np.full(n, 30.0),
        source="test network",
    )


def result() -> dict[str, object]:
    located = {**option("A", proposed=True), "location": SCHOOL}
    return {"setting_urn": "A", "tailored_list": {"options": [located], "preferences": []}}


def test_roads_in_view_are_drawn_where_the_markers_are_and_far_ones_left_out() -> None:
    network = roads(
        (HOME["lon"], HOME["lat"], SCHOOL["lon"], SCHOOL["lat"]),  # home to the school
        (1.5, 53.0, 1.6, 53.1),  # 80 km away: outside the picture
    )
    drawn = child_map(HOME, option_rows(result()), network)
    assert drawn is not None
    assert drawn.roads_total == 1 and len(drawn.roads) == 1
    x1, y1, x2, y2 = drawn.roads[0]
    (marker,) = drawn.markers
    assert (x1, y1) == drawn.home
    assert abs(x2 - marker.x) <= 0.1 and abs(y2 - marker.y) <= 0.1


def test_without_a_network_no_roads_and_a_cap_on_a_dense_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = child_map(HOME, option_rows(result()))
    assert plain is not None and plain.roads == [] and plain.roads_total == 0
    step = 0.0001
    dense = roads(
        *((HOME["lon"] + i * step, HOME["lat"], HOME["lon"], HOME["lat"] + step) for i in range(30))
    )
    monkeypatch.setattr(map_module, "MAX_MAP_ROADS", 10)
    drawn = child_map(HOME, option_rows(result()), dense)
    assert drawn is not None and drawn.roads_total == 30 and len(drawn.roads) == 10
    # The fastest first: the index's own order, so the first ten segments.
    assert drawn.roads[0][0] == drawn.home[0]
