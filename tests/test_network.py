"""Road network building (geodata.network) and extract download (geodata.osm_download)."""

from __future__ import annotations

import math
import re
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components, dijkstra

from geodata import network as network_module
from geodata.network import (
    MPH_TO_KMH,
    NetworkError,
    RoadNetwork,
    SpeedModel,
    load_drive_network,
    parse_maxspeed,
    residential_sample,
    sample_pbf_path,
)
from geodata.osm_download import (
    OfflineError,
    UnknownAreaError,
    cached_extract,
    download_extract,
)

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_drive.osm"
EARTH_RADIUS_M = 6_371_009  # osmnx's great-circle radius for edge lengths


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def mph(x: float) -> float:
    """mph → metres per second."""
    return x * MPH_TO_KMH / 3.6


def route_seconds(net: RoadNetwork, from_osmid: int, to_osmid: int) -> float:
    index = {int(o): i for i, o in enumerate(net.node_ids)}
    dist = dijkstra(net.seconds, directed=True, indices=index[from_osmid])
    return float(dist[index[to_osmid]])


@pytest.fixture(scope="module", params=[True, False], ids=["simplified", "full"])
def tiny(request: pytest.FixtureRequest) -> RoadNetwork:
    return load_drive_network(TINY, use_cache=False, simplify=request.param)


# --- maxspeed and speeds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "highway", "kmh"),
    [
        ("30 mph", None, 30 * MPH_TO_KMH),
        ("30mph", None, 30 * MPH_TO_KMH),
        ("50", None, 50.0),
        ("50 km/h", None, 50.0),
        ("20 knots", None, 20 * 1.852),
        ("national", "residential", 60 * MPH_TO_KMH),
        ("national", "motorway", 70 * MPH_TO_KMH),
        ("GB:nsl_single", None, 60 * MPH_TO_KMH),
        ("GB:nsl_dual", None, 70 * MPH_TO_KMH),
        ("UK:motorway", None, 70 * MPH_TO_KMH),
        ("GB:nsl_restricted", None, 30 * MPH_TO_KMH),
        ("30 mph;40 mph", None, 35 * MPH_TO_KMH),
        (["20 mph", "30 mph"], None, 25 * MPH_TO_KMH),
        ("none", None, None),
        ("signals", None, None),
        ("0", None, None),
        ("", None, None),
        (None, None, None),
        (float("nan"), None, None),
    ],
)
def test_parse_maxspeed(tag: object, highway: str | None, kmh: float | None) -> None:
    got = parse_maxspeed(tag, highway)
    if kmh is None:
        assert got is None
    else:
        assert got == pytest.approx(kmh)


@pytest.mark.parametrize(
    ("highway", "maxspeed", "expected_mph"),
    [
        ("residential", None, 20.0),  # class default
        ("residential", "30 mph", 24.0),  # posted limit × 0.8
        ("motorway", "70 mph", 56.0),
        ("unclassified", "national", 25.0),  # implicit 60 mph capped at the class default
        ("motorway", "national", 56.0),  # 70 × 0.8 is below the motorway average of 60
        ("primary", "signals", 40.0),  # no number: class default
        ("busway", None, 20.0),  # unknown class: fallback
        (["residential", "primary"], None, 20.0),  # a list of classes: the slowest
    ],
)
def test_edge_speed(highway: object, maxspeed: object, expected_mph: float) -> None:
    assert SpeedModel().edge_kmh(highway, maxspeed) == pytest.approx(expected_mph * MPH_TO_KMH)


def test_speed_model_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SpeedModel(maxspeed_factor=0)
    with pytest.raises(ValueError):
        SpeedModel(highway_mph={"residential": -5})


# --- building from OSM XML -----------------------------------------------------------------


def test_keeps_only_the_strongly_connected_drive_network(tiny: RoadNetwork) -> None:
    ids = set(tiny.node_ids.tolist())
    # 9: one-way dead end; 10: private service road; 20-22: fragment; 100-103: building.
    assert ids.isdisjoint({9, 10, 20, 21, 22, 100, 101, 102, 103})
    assert {1, 2, 3, 6, 7, 8, 12} <= ids
    n_components, _ = connected_components(tiny.seconds, directed=True, connection="strong")
    assert n_components == 1
    assert "tiny_drive.osm" in tiny.label


def test_hand_checked_route_time(tiny: RoadNetwork) -> None:
    # 1 → 2 → 3 on the primary at 40 mph × 0.8 = 32 mph, then 3 → 7 on the tertiary whose
    # "national" limit is capped at the tertiary average of 30 mph:
    # 1313.5 m / 14.305 m/s + 656.7 m / 13.411 m/s = 91.8 s + 49.0 s = 140.8 s.
    primary = metres(53.8, -1.56, 53.8, -1.54)
    tertiary = metres(53.8, -1.54, 53.8, -1.53)
    expected = primary / mph(32) + tertiary / mph(30)
    assert expected == pytest.approx(140.8, abs=0.1)
    assert route_seconds(tiny, 1, 7) == pytest.approx(expected, rel=1e-6)
    assert route_seconds(tiny, 7, 1) == pytest.approx(expected, rel=1e-6)


def test_one_way_street_is_directed(tiny: RoadNetwork) -> None:
    # 6 → 2 is the one-way street, 20 mph posted → 16 mph.
    down = metres(53.805, -1.55, 53.8, -1.55) / mph(16)
    assert route_seconds(tiny, 6, 2) == pytest.approx(down, rel=1e-6)
    # 2 → 6 must go round: 2 → 1 on the primary, then 1 → 4 → 6 on residential at 20 mph.
    around = metres(53.8, -1.55, 53.8, -1.56) / mph(32) + (
        metres(53.8, -1.56, 53.805, -1.56) + metres(53.805, -1.56, 53.805, -1.55)
    ) / mph(20)
    assert route_seconds(tiny, 2, 6) == pytest.approx(around, rel=1e-6)
    assert around > 2 * down


def test_footway_is_not_a_shortcut(tiny: RoadNetwork) -> None:
    # 2 → 8 by road is 2 → 3 → 7 → 8; the 556 m footway 2-8 would take about a minute.
    secondary = metres(53.8, -1.53, 53.795, -1.55) / (50 * 0.8 / 3.6)
    expected = metres(53.8, -1.55, 53.8, -1.54) / mph(32) + (
        metres(53.8, -1.54, 53.8, -1.53) / mph(30) + secondary
    )
    assert route_seconds(tiny, 2, 8) == pytest.approx(expected, rel=1e-6)


def test_node_roles(tiny: RoadNetwork) -> None:
    index = {int(o): i for i, o in enumerate(tiny.node_ids)}
    residential = {int(tiny.node_ids[i]) for i in tiny.residential_nodes}
    # 8 touches only the dropped one-way stub 8 → 9, so it is not residential.
    assert {1, 2, 3, 6} <= residential
    assert residential.isdisjoint({7, 8, 12})
    assert not tiny.snappable[index[12]]  # only on the motorway
    assert tiny.snappable[index[7]]


def test_nearest_nodes_skip_the_motorway(tiny: RoadNetwork) -> None:
    # A point on the motorway at node 11 is 657 m from node 12 but snaps to node 7 (1313 m).
    nodes, dist = tiny.nearest_nodes([-1.50], [53.80])
    assert int(tiny.node_ids[nodes[0]]) == 7
    assert dist[0] == pytest.approx(metres(53.8, -1.50, 53.8, -1.53), rel=1e-3)


def test_parallel_edges_keep_the_fastest() -> None:
    net = RoadNetwork.from_edges(
        node_ids=[10, 11],
        lon=[0.0, 0.001],
        lat=[0.0, 0.0],
        u=[0, 0, 1],
        v=[1, 1, 0],
        seconds=[30.0, 12.0, 20.0],
        highway=["primary", "residential", "primary"],
        label="two nodes",
    )
    assert net.seconds[0, 1] == 12.0
    assert net.seconds[1, 0] == 20.0
    assert net.n_edges == 2
    assert net.residential_nodes.tolist() == [0, 1]


def test_residential_sample_draws_residential_nodes(tiny: RoadNetwork) -> None:
    picks = residential_sample(tiny, 50, np.random.default_rng(0))
    assert set(picks.tolist()) <= set(tiny.residential_nodes.tolist())


# --- cache ---------------------------------------------------------------------------------


def test_cache_hit_returns_the_same_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_drive_network(TINY, tmp_path)
    # Nodes, routing edges and road shapes.
    assert len(list(tmp_path.glob("network-*.parquet"))) == 3

    def no_build(*args: Any, **kwargs: Any) -> RoadNetwork:
        raise AssertionError("the cached network should have been used")

    monkeypatch.setattr(network_module, "_build", no_build)
    second = load_drive_network(TINY, tmp_path)
    assert second.fingerprint == first.fingerprint
    assert second.label == first.label
    np.testing.assert_array_equal(second.node_ids, first.node_ids)
    np.testing.assert_array_equal(second.lon, first.lon)
    np.testing.assert_array_equal(second.residential_nodes, first.residential_nodes)
    np.testing.assert_array_equal(second.snappable, first.snappable)
    assert (second.seconds != first.seconds).nnz == 0
    assert first.roads is not None and second.roads is not None
    for name in ("tail", "head", "forward_seconds", "backward_seconds", "shape_lon"):
        np.testing.assert_array_equal(getattr(second.roads, name), getattr(first.roads, name))
    # Other build options are another cache entry.
    with pytest.raises(AssertionError, match="cached network"):
        load_drive_network(TINY, tmp_path, simplify=False)


def test_cache_key_follows_file_content(tmp_path: Path) -> None:
    copy = tmp_path / "area.osm"
    copy.write_bytes(TINY.read_bytes())
    cache = tmp_path / "cache"
    before = load_drive_network(copy, cache)
    # Make the primary road a 20 mph street: the cache must not return the old network.
    copy.write_text(TINY.read_text(encoding="utf-8").replace('"40 mph"', '"20 mph"'), "utf-8")
    after = load_drive_network(copy, cache)
    assert after.fingerprint != before.fingerprint
    assert route_seconds(after, 1, 2) == pytest.approx(2 * route_seconds(before, 1, 2))


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    first = load_drive_network(TINY, tmp_path)
    for path in tmp_path.glob("network-*.edges.parquet"):
        path.write_bytes(b"not parquet")
    again = load_drive_network(TINY, tmp_path)
    assert again.fingerprint == first.fingerprint


def test_cache_entry_without_road_shapes_is_rebuilt(tmp_path: Path) -> None:
    # An entry missing its shapes file (an interrupted write) must not load as a network
    # without shapes: homes would silently snap onto straight lines between junctions.
    first = load_drive_network(TINY, tmp_path)
    for path in tmp_path.glob("network-*.roads.parquet"):
        path.unlink()
    again = load_drive_network(TINY, tmp_path)
    assert again.roads is not None and again.fingerprint == first.fingerprint
    assert len(list(tmp_path.glob("network-*.roads.parquet"))) == 1


# --- user mistakes -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match=r"not found: .*nowhere\.osm\.pbf"):
        load_drive_network(tmp_path / "nowhere.osm.pbf", tmp_path)


def test_unknown_file_type(tmp_path: Path) -> None:
    path = tmp_path / "roads.csv"
    path.write_text("a,b\n")
    with pytest.raises(NetworkError, match=r"roads\.csv: unknown OpenStreetMap file type"):
        load_drive_network(path, tmp_path)


@pytest.mark.parametrize("name", ["broken.osm", "broken.osm.pbf"])
def test_unreadable_file_names_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"this is not OpenStreetMap data\x00\x01")
    with pytest.raises(
        NetworkError, match=f"could not read OpenStreetMap file .*{re.escape(name)}"
    ):
        load_drive_network(path, use_cache=False)


def test_file_without_roads(tmp_path: Path) -> None:
    path = tmp_path / "no_roads.osm"
    path.write_text(
        '<osm version="0.6"><node id="1" lat="53.8" lon="-1.5"/><node id="2" lat="53.81" '
        'lon="-1.5"/><way id="5"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/>'
        "</way></osm>"
    )
    with pytest.raises(NetworkError, match=r"no_roads\.osm: the OSM file has no drivable roads"):
        load_drive_network(path, use_cache=False)


# --- the PBF sample shipped with pyrosm ----------------------------------------------------


def test_helsinki_sample_pbf(tmp_path: Path) -> None:
    path = sample_pbf_path()
    assert path.name == "Helsinki.osm.pbf" and path.is_file()
    net = load_drive_network(path, tmp_path, simplify=False)
    assert net.n_nodes > 1000
    assert len(net.residential_nodes) > 100
    n_components, _ = connected_components(net.seconds, directed=True, connection="strong")
    assert n_components == 1
    assert "Helsinki.osm.pbf" in net.label
    # Central Helsinki lies around 60.17 N, 24.94 E.
    assert 60.1 < float(np.median(net.lat)) < 60.2
    assert 24.9 < float(np.median(net.lon)) < 25.0
    # Every edge takes time; one-way streets make the graph asymmetric.
    assert net.seconds.data.min() > 0
    assert (net.seconds != net.seconds.T).nnz > 0
    cached = load_drive_network(path, tmp_path, simplify=False)
    assert cached.fingerprint == net.fingerprint


# --- downloading extracts ------------------------------------------------------------------


def test_download_then_cache_hit_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyrosm

    calls: list[str] = []

    def fake_get_data(dataset: str, directory: str | None = None, **kwargs: Any) -> str:
        calls.append(dataset)
        assert directory is not None
        path = Path(directory) / "west-yorkshire-latest.osm.pbf"
        path.write_bytes(b"pbf bytes")
        return str(path)

    monkeypatch.setattr(pyrosm, "get_data", fake_get_data)
    first = download_extract("West Yorkshire", tmp_path)
    assert first == tmp_path / "west-yorkshire-latest.osm.pbf"
    assert calls == ["West Yorkshire"]

    def offline(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("a cached extract must not be fetched again")

    monkeypatch.setattr(pyrosm, "get_data", offline)
    assert download_extract("west_yorkshire", tmp_path) == first
    assert download_extract("west-yorkshire", tmp_path) == first
    assert cached_extract("West Yorkshire", tmp_path) == first
    assert cached_extract("kent", tmp_path) is None


class _NoNetwork:
    """An opener for pyrosm that fails as an offline machine does."""

    def __init__(self) -> None:
        self.calls = 0

    def open(self, request: Any, timeout: float | None = None) -> Any:
        self.calls += 1
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_offline_download_raises_a_readable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyrosm.utils.download as pyrosm_download

    monkeypatch.setattr(pyrosm_download, "_sleep", lambda seconds: None, raising=False)
    opener = _NoNetwork()
    with pytest.raises(OfflineError) as caught:
        download_extract("rutland", tmp_path, opener=opener)
    message = str(caught.value)
    assert "'rutland'" in message
    assert "could not be reached" in message
    assert str(tmp_path) in message
    assert caught.value.url is not None and "rutland" in caught.value.url
    assert opener.calls >= 1
    assert not list(tmp_path.glob("*.pbf"))
    assert cached_extract("rutland", tmp_path) is None


def test_unknown_area(tmp_path: Path) -> None:
    with pytest.raises(UnknownAreaError, match="unknown OpenStreetMap extract 'west_yorkshir'"):
        download_extract("west_yorkshir", tmp_path, opener=_NoNetwork())
    with pytest.raises(UnknownAreaError):
        download_extract("  ", tmp_path)
