"""Site choice: hand instances with a known answer, brute force over k-subsets, GeoJSON errors."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from geodata.straight_line import straight_line_matrix
from matcher.eligibility import EligibilityConfig
from matcher.models import Child, Location, PlacementKind, PrimaryNeed, Setting, SettingType
from matcher.placement import PlacementConfig, place
from matcher.site_choice import (
    CandidateSite,
    CandidateSiteError,
    SiteChoiceConfig,
    candidate_setting,
    choose_sites,
    load_candidates,
    parse_candidates,
)
from matcher.travel import TravelTimeMatrix
from tests.factories import child, setting

DATA = Path(__file__).parent / "data" / "site_choice"
SPECIAL_ONLY = frozenset({PlacementKind.SPECIAL})


def travel_for(children: Sequence[Child], settings: Sequence[Setting]) -> TravelTimeMatrix:
    return straight_line_matrix(
        [c.child_id for c in children],
        [c.home for c in children],
        [s.urn for s in settings],
        [s.location for s in settings],
        cutoff_minutes=EligibilityConfig().cutoff_minutes,
    )


def at(lat: float, lon: float = -1.1) -> Location:
    return Location(latitude=lat, longitude=lon)


def site(site_id: str, lat: float, lon: float = -1.1) -> CandidateSite:
    return CandidateSite(site_id, f"Site {site_id}", at(lat, lon))


def clusters() -> tuple[list[Child], list[Setting], list[CandidateSite]]:
    """Six ASD children in the south, four in the north (55 km apart: out of reach of each
    other), one small ASD special school between them, and three candidate sites."""
    south = [
        child(f"S{i}", home=at(52.0 + 0.005 * i), suitable_kinds=SPECIAL_ONLY) for i in range(6)
    ]
    north = [
        child(f"N{i}", home=at(52.5 + 0.005 * i), suitable_kinds=SPECIAL_ONLY) for i in range(4)
    ]
    existing = [
        setting(
            "900001",
            setting_type=SettingType.SPECIAL,
            designated_needs=frozenset({PrimaryNeed.ASD}),
            location=at(52.25),
            total_places=2,
        )
    ]
    candidates = [site("far", 53.2), site("north", 52.51), site("south", 52.01)]
    return south + north, existing, candidates


def test_site_next_to_the_unserved_cluster_is_chosen() -> None:
    children, existing, candidates = clusters()
    choice = choose_sites(
        children, existing, candidates, travel_for, k=1, designations=["ASD"], places=10
    )
    assert [c.site.site_id for c in choice.chosen] == ["south"]
    assert choice.chosen[0].by_need == {"ASD": 6}
    assert choice.without.placed == 2 and choice.with_sites.placed == 6 + 2
    assert choice.gap == 0.0 and choice.status == "OPTIMAL"
    assert choice.alone[0].site_id == "south" and choice.alone[-1].site_id == "far"


def test_two_sites_serve_two_clusters() -> None:
    children, existing, candidates = clusters()
    choice = choose_sites(
        children, existing, candidates, travel_for, k=2, designations=["ASD"], places=10
    )
    assert sorted(c.site.site_id for c in choice.chosen) == ["north", "south"]
    assert choice.with_sites.placed == 10
    assert choice.with_sites.total_cost > choice.without.total_cost  # more children placed
    assert choice.levels[0].proven_optimal and choice.levels[1].proven_optimal


def test_wrong_designation_is_not_chosen_for_need() -> None:
    children, existing, candidates = clusters()
    choice = choose_sites(
        children, existing, candidates, travel_for, k=1, designations=["SEMH"], places=10
    )
    assert choice.with_sites.placed == choice.without.placed == 2
    assert choice.chosen[0].children == 0


def random_instance(
    seed: int,
) -> tuple[list[Child], list[Setting], list[CandidateSite]]:
    rng = np.random.default_rng(seed)
    needs = [PrimaryNeed.ASD, PrimaryNeed.SEMH, PrimaryNeed.SLD]

    def point() -> Location:
        return at(52.0 + rng.uniform(0, 0.25), -1.1 + rng.uniform(0, 0.35))

    children = [
        child(
            f"C{i}",
            nc_year=int(rng.integers(0, 12)),
            home=point(),
            primary_need=needs[int(rng.integers(0, 3))],
            suitable_kinds=SPECIAL_ONLY if rng.random() < 0.7 else None,
        )
        for i in range(18)
    ]
    existing = [
        setting(
            f"90000{j}",
            setting_type=SettingType.SPECIAL,
            designated_needs=frozenset({needs[j % 3]}),
            location=point(),
            low_age=4,
            high_age=19,
            total_places=int(rng.integers(1, 4)),
        )
        for j in range(3)
    ] + [setting("800001", location=point(), low_age=4, high_age=16, total_places=3)]
    candidates = [CandidateSite(f"s{j}", f"Site {j}", point()) for j in range(5)]
    return children, existing, candidates


def brute_force(
    children: list[Child],
    existing: list[Setting],
    candidates: list[CandidateSite],
    k: int,
    places: int,
) -> tuple[int, int]:
    """Best (−placed, £) over every k-subset, each evaluated with the placement flow."""
    config = PlacementConfig(objective_order=("cost", "travel"))
    best = None
    for subset in itertools.combinations(candidates, k):
        sites = [candidate_setting(c, ["ASD", "SEMH"], places) for c in subset]
        settings = [*existing, *sites]
        summary = place(children, settings, travel_for(children, settings), config).summary
        value = (-summary.placed, summary.total_placement_cost + summary.total_transport_cost)
        best = value if best is None else min(best, value)
    assert best is not None
    return best


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("restrict", [False, True])
def test_matches_brute_force_over_all_k_subsets(seed: int, restrict: bool) -> None:
    children, existing, candidates = random_instance(seed)
    config = SiteChoiceConfig(restrict_to_reachable=restrict)
    choice = choose_sites(children, existing, candidates, travel_for, 2, ["ASD", "SEMH"], 2, config)
    assert choice.gap == 0.0 and choice.levels[0].gap == 0.0
    got = (-choice.with_sites.placed, choice.with_sites.total_cost)
    assert got == brute_force(children, existing, candidates, 2, 2)
    if not restrict:
        assert choice.fixed_children == 0
    # The CP-SAT objective is the whole LA's £, equal to the exact re-solve of the chosen set.
    assert choice.objective == choice.with_sites.total_cost


def test_k_out_of_range_is_refused() -> None:
    children, existing, candidates = clusters()
    with pytest.raises(ValueError, match="k must be"):
        choose_sites(children, existing, candidates, travel_for, 4, ["ASD"], 10)


def test_load_points_and_polygon_centroid() -> None:
    sites = load_candidates(DATA / "candidates.geojson")
    assert [s.site_id for s in sites] == ["north", "south"]
    assert sites[0].name == "Old depot, North"
    assert sites[1].location.latitude == pytest.approx(52.01)
    assert sites[1].location.longitude == pytest.approx(-1.10)


def test_bad_geojson_lists_every_problem_with_feature_and_field() -> None:
    with pytest.raises(CandidateSiteError) as info:
        load_candidates(DATA / "bad.geojson")
    problems = info.value.problems
    assert problems[0] == "feature 0: field 'id' is missing or blank"
    assert "feature 1: field 'geometry'" in problems[1] and "LineString" in problems[1]
    assert "feature 2: field 'geometry'" in problems[2] and "out of range" in problems[2]
    assert problems[3] == "feature 3: field 'id' 'a' repeats feature 1"
    assert len(problems) == 4


def test_not_json_and_not_feature_collection(tmp_path: Path) -> None:
    broken = tmp_path / "x.geojson"
    broken.write_text("{not json")
    with pytest.raises(CandidateSiteError, match="not valid JSON at line 1"):
        load_candidates(broken)
    with pytest.raises(CandidateSiteError, match="not a GeoJSON FeatureCollection"):
        parse_candidates(json.loads('{"type": "Feature"}'))
    with pytest.raises(CandidateSiteError, match="cannot read"):
        load_candidates(tmp_path / "missing.geojson")
