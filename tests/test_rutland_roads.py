"""Road realism on a real English LA: Rutland's OpenStreetMap extract.

Reads ../shared/data/osm/rutland-latest.osm.pbf (Geofabrik, February 2018; see
../shared/data/PROVENANCE.md) and skips with a message when ../shared/data is absent (a
user's fresh clone); CI has it. Facts about the roads (town centres, one-way streets, what is
drivable) are read from the extract itself with pyrosm, independently of the code under test.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from geodata.edge_snapping import EdgeSnaps, road_snapper, snap_to_roads
from geodata.network import UNSNAPPABLE_HIGHWAYS, RoadNetwork, load_drive_network
from geodata.travel_times import compute_road_travel
from matcher.models import Location

RUTLAND = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm" / "rutland-latest.osm.pbf"

pytestmark = pytest.mark.skipif(
    not RUTLAND.is_file(),
    reason=f"Rutland's OpenStreetMap extract is not at {RUTLAND} (../shared/data is absent)",
)

#: Classes of the public roads a village's houses stand on (never track or service).
VILLAGE_ROADS = {"primary", "secondary", "tertiary", "unclassified", "residential", "road"}


def at(lat: float, lon: float) -> Location:
    return Location(latitude=lat, longitude=lon)


def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.asarray(lon2) - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))


def metres_to(points: Any, lines: Any) -> np.ndarray:
    """Great-circle metres from each point to the nearest point of its line."""
    ends = shapely.get_point(shapely.shortest_line(points, lines), 1)
    return np.asarray(
        haversine_m(
            shapely.get_x(points), shapely.get_y(points), shapely.get_x(ends), shapely.get_y(ends)
        )
    )


@pytest.fixture(scope="module")
def rutland() -> RoadNetwork:
    return load_drive_network(RUTLAND, use_cache=False)


@pytest.fixture(scope="module")
def osm() -> Any:
    import pyrosm

    return pyrosm.OSM(str(RUTLAND))


@pytest.fixture(scope="module")
def places(osm: Any) -> dict[str, tuple[str, float, float]]:
    """name → (place kind, lon, lat) of the extract's towns and villages."""
    frame = osm.get_data_by_custom_criteria(
        custom_filter={"place": ["town", "village"]},
        filter_type="keep",
        keep_nodes=True,
        keep_ways=False,
        keep_relations=False,
    )
    out = {}
    for _, row in frame.iterrows():
        name = json.loads(row["tags"]).get("name")
        if name:
            out[name] = (row["place"], float(row["lon"]), float(row["lat"]))
    return out


@pytest.fixture(scope="module")
def drive_ways(osm: Any) -> Any:
    """pyrosm's own drivable ways (its ``driving`` filter, as the network is built from)."""
    return osm.get_network("driving")


def road_lengths_m(net: RoadNetwork) -> np.ndarray:
    roads = net.roads
    assert roads is not None
    out = np.empty(roads.n_roads)
    for i in range(roads.n_roads):
        a, b = roads.shape_start[i], roads.shape_start[i + 1]
        lon, lat = roads.shape_lon[a:b], roads.shape_lat[a:b]
        out[i] = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:]).sum()
    return out


def route_km(net: RoadNetwork, home: EdgeSnaps, school: EdgeSnaps) -> float:
    """Length of the fastest junction-to-junction route between the two points' roads (from
    the head of the home's road to the tail of the school's), summing the roads' shapes."""
    roads = net.roads
    assert roads is not None
    lengths = road_lengths_m(net)
    start, end = int(roads.head[home.roads[0]]), int(roads.tail[school.roads[0]])
    _, predecessors = dijkstra(net.seconds, indices=start, return_predecessors=True)
    path = [end]
    while path[-1] != start:
        path.append(int(predecessors[path[-1]]))
    path.reverse()
    metres = 0.0
    for u, v in itertools.pairwise(path):
        seconds = net.seconds[u, v]
        ahead = np.flatnonzero((roads.tail == u) & (roads.head == v))
        back = np.flatnonzero((roads.tail == v) & (roads.head == u))
        used = [i for i in ahead if math.isclose(roads.forward_seconds[i], seconds)]
        used += [i for i in back if math.isclose(roads.backward_seconds[i], seconds)]
        metres += lengths[used[0]]
    return metres / 1000


def test_the_drive_network_builds(rutland: RoadNetwork) -> None:
    # About 2,100 drivable ways (PROVENANCE.md): a few thousand junctions once merged.
    assert 1_500 <= rutland.n_nodes <= 5_000
    assert 3_000 <= rutland.n_edges <= 12_000
    roads = rutland.roads
    assert roads is not None and 2_000 <= roads.n_roads <= 6_000
    # Market towns have one-way streets, and dual carriageways (A1, A47) are one-way pairs.
    assert 50 <= int(np.isinf(roads.backward_seconds).sum()) <= 1_000
    assert rutland.label.startswith("OpenStreetMap extract rutland-latest.osm.pbf")


@pytest.mark.parametrize(
    ("origin", "destination"), [("Oakham", "Uppingham"), ("Uppingham", "Oakham")]
)
def test_oakham_to_uppingham_is_about_ten_km_by_the_a6003(
    rutland: RoadNetwork, places: dict[str, tuple[str, float, float]], origin: str, destination: str
) -> None:
    # Town centres from the extract's place=town nodes. The A6003 between them is about 10 km
    # (6 miles) of primary road: about 10 minutes at its 40 mph class average.
    _, lon_a, lat_a = places[origin]
    _, lon_b, lat_b = places[destination]
    result = compute_road_travel(rutland, ["c"], [at(lat_a, lon_a)], ["s"], [at(lat_b, lon_b)], 60)
    minutes = float(result.matrix.minutes[0])
    km = route_km(rutland, result.snap.homes, result.snap.settings)
    # Metres read as kilometres (or the reverse) is 1,000 times out; a detour round a
    # wrongly closed or one-way road is kilometres longer.
    assert 8.5 <= km <= 12.5
    # The legal 60 mph without the 0.8 factor or the class cap gives about 6 minutes; mph
    # read as km/h about 15; seconds read as minutes hours.
    assert 8.0 <= minutes <= 13.0
    assert 45 <= km / (minutes / 60) <= 75  # km/h: a rural A-road's average, not its limit


def test_uppingham_high_street_east_is_one_way(rutland: RoadNetwork, drive_ways: Any) -> None:
    street = drive_ways[
        (drive_ways["name"] == "High Street East") & (drive_ways["oneway"] == "yes")
    ]
    assert len(street) >= 1, "the extract's one-way High Street East, Uppingham"
    line = shapely.line_merge(street.geometry.values[0])
    # Points a quarter and three quarters along, in the way's drawn direction (its one-way
    # direction): A is upstream of B.
    a = shapely.line_interpolate_point(line, 0.25, normalized=True)
    b = shapely.line_interpolate_point(line, 0.75, normalized=True)
    points = [at(a.y, a.x), at(b.y, b.x)]
    result = compute_road_travel(rutland, ["a", "b"], points, ["a", "b"], points, 30)
    assert float(result.snap.homes.metres.max()) < 1.0  # on the street, not at a junction
    lookup = result.matrix.lookup()
    with_flow, against = lookup[(0, 1)], lookup[(1, 0)]
    half_street_m = float(haversine_m(a.x, a.y, b.x, b.y))
    assert with_flow * 60 == pytest.approx(half_street_m / (20 * 1.609344 / 3.6), rel=0.2)
    assert against > with_flow + 0.5  # round the block: at least half a minute more


def test_every_one_way_road_is_driven_only_with_its_flow(rutland: RoadNetwork) -> None:
    roads = rutland.roads
    assert roads is not None
    snapper = road_snapper(rutland)
    one_way = np.flatnonzero(
        np.isinf(roads.backward_seconds) & roads.snappable & (road_lengths_m(rutland) > 40)
    )
    assert len(one_way) >= 30
    n = len(one_way)
    upstream = EdgeSnaps(one_way, np.full(n, 0.2), np.zeros(n))
    downstream = EdgeSnaps(one_way, np.full(n, 0.8), np.zeros(n))
    lon_a, lat_a = snapper.on_road_lonlat(upstream)
    lon_b, lat_b = snapper.on_road_lonlat(downstream)
    homes = [at(y, x) for x, y in zip(lon_a, lat_a, strict=True)]
    schools = [at(y, x) for x, y in zip(lon_b, lat_b, strict=True)]
    ids = [str(i) for i in range(n)]
    forward = compute_road_travel(
        rutland, ids, homes, ids, schools, 120, [(i, i) for i in range(n)]
    )
    backward = compute_road_travel(
        rutland, ids, schools, ids, homes, 120, [(i, i) for i in range(n)]
    )
    # Points stand on their own road (never on a coincident one the wrong way round).
    assert (forward.snap.homes.roads == one_way).mean() > 0.95
    same_road = (forward.snap.homes.roads == one_way) & (forward.snap.settings.roads == one_way)
    with_flow = np.array([forward.matrix.lookup()[(i, i)] for i in range(n)])
    against = np.array([backward.matrix.lookup()[(i, i)] for i in range(n)])
    np.testing.assert_allclose(
        with_flow[same_road] * 60,
        0.6 * roads.forward_seconds[one_way][same_road],
        rtol=0.01,
        atol=0.5,
    )
    assert np.all(against[same_road] > with_flow[same_road])


def test_no_home_on_a_drivable_road_is_charged_more_than_50_m_off_road(
    rutland: RoadNetwork, drive_ways: Any
) -> None:
    # 400 homes on the extract's own drivable ways (pyrosm's geometry, not the network's),
    # left out: roads homes are never snapped to, and ways cut off from the routable network
    # (e.g. an estate reached only by a private road, a dual carriageway cut at the
    # extract's edge) -- those homes are rightly charged the way to the nearest routable road.
    roads = rutland.roads
    assert roads is not None
    routable = set(zip(np.round(roads.shape_lon, 7), np.round(roads.shape_lat, 7), strict=True))
    ways = drive_ways[~drive_ways["highway"].isin(UNSNAPPABLE_HIGHWAYS)]
    lines = shapely.line_merge(ways.geometry.values)
    coords, index = shapely.get_coordinates(lines, return_index=True)
    vertex_in = np.array([(round(x, 7), round(y, 7)) in routable for x, y in coords], dtype=bool)
    all_in = np.bincount(index, weights=~vertex_in, minlength=len(lines)) == 0
    assert all_in.mean() > 0.95  # nearly every drivable way is routable
    rng = np.random.default_rng(18)
    chosen = rng.choice(np.flatnonzero(all_in), 400)
    points = shapely.line_interpolate_point(lines[chosen], rng.uniform(0, 1, 400), normalized=True)
    homes = [at(p.y, p.x) for p in points]
    result = compute_road_travel(
        rutland, [f"c{i}" for i in range(400)], homes, ["s"], [homes[0]], 120
    )
    off_road = result.snap.homes.metres
    assert float(off_road.max()) <= 50.0
    assert result.snap.far_homes().size == 0


def test_village_homes_join_the_village_road_not_a_farm_track(
    rutland: RoadNetwork,
    places: dict[str, tuple[str, float, float]],
    drive_ways: Any,
    osm: Any,
) -> None:
    villages = {n: p for n, p in places.items() if p[0] == "village"}
    assert len(villages) >= 40
    lon = np.array([p[1] for p in villages.values()])
    lat = np.array([p[2] for p in villages.values()])
    snaps = snap_to_roads(rutland, lon, lat)
    join_lon, join_lat = road_snapper(rutland).on_road_lonlat(snaps)
    joins = shapely.points(join_lon, join_lat)
    # Where each village centre joins the network is on one of the extract's drivable ways,
    # of a class villages' houses stand on.
    tree = shapely.STRtree(drive_ways.geometry.values)
    way = tree.nearest(joins)
    assert max(metres_to(joins, drive_ways.geometry.values[way])) < 2.0
    classes = set(drive_ways["highway"].values[way])
    assert classes <= VILLAGE_ROADS, classes
    # Farm tracks and service roads are in the extract, near several village centres, but
    # no village joins one: they are not in the drive network.
    everything = osm.get_network("all")
    tracks = everything[everything["highway"].isin(["track", "service"])]
    centres = shapely.points(lon, lat)
    track = shapely.STRtree(tracks.geometry.values).nearest(centres)
    to_track = metres_to(centres, tracks.geometry.values[track])
    assert (to_track < snaps.metres).any()  # a track or service road is nearer (2 villages)
    # Village centres are on or beside their main street: none further than 100 m from it.
    assert float(np.median(snaps.metres)) <= 40.0
    assert float(snaps.metres.max()) <= 100.0


def test_unreachable_homes_are_named_by_the_nearest_village(
    rutland: RoadNetwork, places: dict[str, tuple[str, float, float]]
) -> None:
    # A school in Oakham and a 5-minute limit: homes in Oakham reach it, homes in Barrowden
    # and Ketton (20 km away) do not.
    assert rutland.places is not None and len(rutland.places) >= 50
    homes = [at(places[n][2], places[n][1]) for n in ("Oakham", "Barrowden", "Ketton", "Ketton")]
    _, school_lon, school_lat = places["Oakham"]
    result = compute_road_travel(
        rutland,
        ["a", "b", "c", "d"],
        homes,
        ["s"],
        [at(school_lat + 0.001, school_lon)],
        cutoff_minutes=5,
    )
    assert result.snap.unreachable_homes().tolist() == [1, 2, 3]
    notes = result.snap.place_notes()
    assert notes == [
        "3 home(s) with no setting within 5 minutes by road, nearest Ketton (2), Barrowden (1)."
    ]
    assert "3 home(s) with no setting within 5 minutes" in result.snap.summary()
    assert "Ketton" not in result.snap.summary()  # the logged line names no place


def test_cached_network_keeps_road_shapes_and_place_names(
    rutland: RoadNetwork, tmp_path: Path
) -> None:
    built = load_drive_network(RUTLAND, tmp_path)
    cached = load_drive_network(RUTLAND, tmp_path)
    assert cached.fingerprint == built.fingerprint == rutland.fingerprint
    assert cached.roads is not None and rutland.roads is not None
    np.testing.assert_array_equal(cached.roads.shape_lon, rutland.roads.shape_lon)
    np.testing.assert_array_equal(cached.roads.backward_seconds, rutland.roads.backward_seconds)
    assert cached.places is not None and rutland.places is not None
    assert cached.places.names == rutland.places.names
    assert {"Oakham", "Uppingham", "Ketton"} <= set(cached.places.names)
