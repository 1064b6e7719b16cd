"""Scenario maps: the site, its catchment and drive-time bands, as HTML and PNG."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from geodata.network import RoadNetwork, load_drive_network
from matcher.models import Child, Location, PrimaryNeed, Setting
from matcher.placement import PlacementConfig, PlacementResult, place
from matcher.planning import ScenarioComparison, ScenarioOutcome, scenario_metrics
from matcher.scenario_map import (
    BANDS,
    MapDependencyError,
    band_of,
    isochrone_minutes,
    prepare_scenario_map,
    render_scenario_map,
    render_scenario_png,
)
from tests.factories import child, matrix, setting

TINY_OSM = Path(__file__).parent / "data" / "tiny_drive.osm"
SITE_NAME = "Oak & <Ash> School"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def at(lat: float, lon: float) -> Location:
    return Location(latitude=lat, longitude=lon)


HOMES = [at(53.7987, -1.5432), at(53.8021, -1.5217), at(53.7961, -1.5583)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> RoadNetwork:
    return load_drive_network(TINY_OSM, tmp_path_factory.mktemp("cache"))


def small_scenario() -> tuple[list[Child], list[Setting], PlacementResult]:
    """Two children go to the new site NEW-1; the third is nearer the other school."""
    kids = [
        child("KIDALPHA", home=HOMES[0], primary_need=PrimaryNeed.ASD),
        child("KIDBRAVO", home=HOMES[1], primary_need=PrimaryNeed.SEMH),
        child("KIDCHARLIE", home=HOMES[2]),
    ]
    sets = [
        setting(
            "NEW-1",
            name=SITE_NAME,
            setting_type="special",
            designated_needs=frozenset({"ASD", "SEMH"}),
            location=at(53.8, -1.54),
        ),
        setting("1", name="Main Road School", location=at(53.8, -1.56)),
    ]
    minutes = np.array([[5.0, 50.0], [20.0, 40.0], [40.0, 5.0]])
    return kids, sets, place(kids, sets, matrix(kids, sets, minutes), PlacementConfig())


def test_html_draws_site_catchment_roads_and_bands(tiny: RoadNetwork) -> None:
    kids, sets, result = small_scenario()
    html = render_scenario_map(result, kids, sets, tiny, "NEW-1", scenario="Free school")
    assert 'class="site"' in html and "<polygon" in html
    assert '<path class="road' in html  # grey roads from panel_pack's drawing
    assert 'class="band band-0"' in html  # every tiny road is within 15 minutes
    for band in BANDS:
        assert f"Roads {band.label}' drive" in html
    assert html.count("<circle") >= 2 and "2 children" in html
    assert 'role="img"' in html and '<title id="map-title">' in html
    assert "By primary need: SEMH 1, ASD 1." in html  # taken by need, in DfE order on ties
    assert "0–15 minutes: 1 child; 15–30 minutes: 1 child" in html
    # Self-contained: nothing fetched.
    assert not re.search(r"""(src|href)=["']?https?:""", html)
    assert "<link" not in html


def test_html_leaks_no_child_id_or_home_coordinates(tiny: RoadNetwork) -> None:
    kids, sets, result = small_scenario()
    for network in (tiny, None):
        html = render_scenario_map(result, kids, sets, network, "NEW-1")
        for c in kids:
            assert c.child_id not in html
            for value in (c.home.latitude, c.home.longitude):
                for text in (f"{value}", f"{value:.3f}", f"{value:.2f}"):
                    assert text not in html


def test_names_are_escaped(tiny: RoadNetwork) -> None:
    kids, sets, result = small_scenario()
    html = render_scenario_map(result, kids, sets, tiny, "NEW-1", title="<b>Plan</b> & more")
    assert SITE_NAME not in html and "Oak &amp; &lt;Ash&gt; School" in html
    assert "<b>Plan</b>" not in html and "&lt;b&gt;Plan&lt;/b&gt; &amp; more" in html


def test_without_a_network_points_only_and_says_so() -> None:
    kids, sets, result = small_scenario()
    html = render_scenario_map(result, kids, sets, None, "NEW-1")
    assert "No road network was given" in html
    assert '<path class="road' not in html and '<path class="band' not in html
    assert 'class="site"' in html and html.count("<circle") >= 2


def test_png_is_written(tiny: RoadNetwork, tmp_path: Path) -> None:
    kids, sets, result = small_scenario()
    for network, name in ((tiny, "roads.png"), (None, "points.png")):
        out = render_scenario_png(result, kids, sets, network, "NEW-1", tmp_path / name, dpi=60)
        data = out.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_png_without_matplotlib_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kids, sets, result = small_scenario()
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MapDependencyError, match="needs matplotlib"):
        render_scenario_png(result, kids, sets, None, "NEW-1", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_isochrones_time_the_journey_to_the_site() -> None:
    # A line of five junctions: 8 minutes towards node 0, 30 minutes away from it.
    n = 5
    u = [*range(1, n), *range(n - 1)]
    v = [*range(n - 1), *range(1, n)]
    seconds = [8 * 60.0] * (n - 1) + [30 * 60.0] * (n - 1)
    network = RoadNetwork.from_edges(
        np.arange(n),
        -1.5 + 0.01 * np.arange(n),
        np.full(n, 53.8),
        u,
        v,
        seconds,
        ["residential"] * len(u),
        "line",
    )
    minutes = isochrone_minutes(network, -1.5, 53.8)
    order = np.argsort(network.lon)
    np.testing.assert_allclose(minutes[order], [0, 8, 16, 24, 32], atol=1e-6)
    assert band_of(minutes[order]).tolist() == [0, 0, 1, 1, 2]
    assert band_of([74.9, 75.0, np.inf]).tolist() == [3, 4, 4]


def test_a_comparison_needs_a_known_scenario_name(tiny: RoadNetwork) -> None:
    kids, sets, result = small_scenario()
    metrics = scenario_metrics(kids, result, PlacementConfig())
    one = ScenarioOutcome("Free school", None, metrics, result, "t")
    comparison = ScenarioComparison(base=one, scenarios=(one,))
    data = prepare_scenario_map(comparison, kids, sets, tiny, "NEW-1")
    assert data.scenario == "Free school" and data.n_children == 2
    with pytest.raises(ValueError, match="no scenario named"):
        prepare_scenario_map(comparison, kids, sets, tiny, "NEW-1", scenario="Nope")


def test_wrong_inputs_are_explained() -> None:
    kids, sets, result = small_scenario()
    with pytest.raises(ValueError, match="no setting with URN"):
        render_scenario_map(result, kids, sets, None, "NEW-9")
    with pytest.raises(ValueError, match="not among the children given"):
        render_scenario_map(result, kids[2:], sets, None, "NEW-1")
