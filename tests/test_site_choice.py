"""Site choice: hand instances with a known answer, brute force over k-subsets, GeoJSON errors."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from geodata.postcodes import PostcodeFile
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


SOLVERS = ["enumerate", "benders", "cp-sat", "mip"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("restrict", [False, True])
@pytest.mark.parametrize("solver", SOLVERS)
def test_matches_brute_force_over_all_k_subsets(seed: int, restrict: bool, solver: str) -> None:
    children, existing, candidates = random_instance(seed)
    config = SiteChoiceConfig(restrict_to_reachable=restrict, solver=solver)  # type: ignore[arg-type]
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


POSTCODES = Path(__file__).parent / "data" / "postcodes" / "onspd_sample.csv"


def test_candidates_by_postcode_from_geojson_and_csv() -> None:
    lookup = PostcodeFile(POSTCODES)
    geojson = load_candidates(DATA / "candidates_postcodes.geojson", lookup)
    assert [(s.site_id, s.location.latitude, s.location.longitude) for s in geojson] == [
        ("north", 52.5, -1.1),
        ("south", 52.01, -1.1),
    ]
    table = load_candidates(DATA / "candidates.csv", lookup)
    assert [(s.site_id, s.name) for s in table] == [
        ("north", "Old depot (North)"),
        ("south", "Former library"),
        ("east", "Farm plot"),
    ]
    assert table[2].location == Location(latitude=52.9, longitude=1.6)


def test_candidate_postcodes_without_a_file_or_unknown_are_reported_by_row() -> None:
    with pytest.raises(CandidateSiteError) as info:
        load_candidates(DATA / "candidates.csv")
    assert info.value.problems == [
        "row 2: field 'postcode': ZZ1 1AA is a postcode, and no postcode file was given: pass "
        "--postcodes FILE (the ONS Postcode Directory CSV or Code-Point Open), or give "
        "coordinates",
        "row 4: field 'postcode': ZZ99 9AC is a postcode, and no postcode file was given: pass "
        "--postcodes FILE (the ONS Postcode Directory CSV or Code-Point Open), or give "
        "coordinates",
    ]
    data = json.loads((DATA / "candidates_postcodes.geojson").read_text())
    data["features"][0]["properties"]["postcode"] = "ZZ1 9ZZ"
    with pytest.raises(CandidateSiteError, match=r"feature 0: field 'postcode': postcode 'ZZ1 "):
        parse_candidates(data, postcodes=PostcodeFile(POSTCODES))


def test_candidate_csv_needs_its_columns_and_points(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("site,where\na,b\n")
    with pytest.raises(CandidateSiteError, match="row 1: columns id and postcode"):
        load_candidates(bad)
    bad.write_text("id,latitude,longitude,postcode\na,91,0,\na,52,-1,\nb,,,\n")
    with pytest.raises(CandidateSiteError) as info:
        load_candidates(bad)
    assert info.value.problems == [
        "row 2: fields 'latitude', 'longitude': not a WGS84 point ('91', '0')",
        "row 3: field 'id' 'a' repeats row 2",
        "row 4: field 'postcode': blank, and no latitude and longitude",
    ]


def south_cluster() -> tuple[list[Child], list[Setting], list[CandidateSite]]:
    """Six ASD children whom an existing special school 28 km north can take (about 72
    minutes, inside the secondary limit), a candidate among them and one further off."""
    children, existing, _ = clusters()
    existing = [existing[0].model_copy(update={"total_places": 10})]
    return children[:6], existing, [site("south", 52.01), site("south2", 52.06)]


@pytest.mark.parametrize("solver", SOLVERS)
def test_at_most_k_opens_only_sites_that_pay_for_themselves(solver: str) -> None:
    children, existing, candidates = south_cluster()

    def chosen(site_cost: int, at_most: bool = True) -> list[str]:
        config = SiteChoiceConfig(at_most=at_most, site_cost=site_cost, solver=solver)  # type: ignore[arg-type]
        choice = choose_sites(children, existing, candidates, travel_for, 2, ["ASD"], 10, config)
        assert choice.gap == 0.0
        return sorted(c.site.site_id for c in choice.chosen)

    # Everyone is placed either way: a site is only worth its running cost in transport saved.
    assert chosen(0, at_most=False) == ["south", "south2"]  # exactly k, even if one is idle
    assert chosen(1) == ["south"]  # south2 is further for every child: not worth even £1
    assert chosen(10_000_000) == []  # the transport saved is less than the site's cost


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("site_cost", [0, 20_000, 200_000])
@pytest.mark.parametrize("solver", SOLVERS)
def test_at_most_k_matches_brute_force_over_all_smaller_subsets(
    seed: int, site_cost: int, solver: str
) -> None:
    children, existing, candidates = random_instance(seed)
    config = SiteChoiceConfig(
        at_most=True,
        site_cost=site_cost,
        restrict_to_reachable=False,
        solver=solver,  # type: ignore[arg-type]
    )
    choice = choose_sites(children, existing, candidates, travel_for, 3, ["ASD", "SEMH"], 2, config)
    assert choice.gap == 0.0
    best = min(
        (placed, money + site_cost * size)
        for size in range(4)
        for placed, money in subset_values(children, existing, candidates, size, 2)
    )
    got = (-choice.with_sites.placed, choice.with_sites.total_cost + site_cost * len(choice.chosen))
    assert got == best
    assert choice.objective == got[1]


def subset_values(
    children: list[Child],
    existing: list[Setting],
    candidates: list[CandidateSite],
    size: int,
    places: int,
) -> list[tuple[int, int]]:
    """(−placed, £ a year) of every ``size``-subset of candidates, by the placement flow."""
    config = PlacementConfig(objective_order=("cost", "travel"))
    values = []
    for subset in itertools.combinations(candidates, size):
        sites = [candidate_setting(c, ["ASD", "SEMH"], places) for c in subset]
        settings = [*existing, *sites]
        summary = place(children, settings, travel_for(children, settings), config).summary
        values.append(
            (-summary.placed, summary.total_placement_cost + summary.total_transport_cost)
        )
    return values


def test_solvers_agree_and_report_bounds_below_the_plan() -> None:
    children, existing, candidates = random_instance(5)
    choices = {
        solver: choose_sites(
            children,
            existing,
            candidates,
            travel_for,
            2,
            ["ASD", "SEMH"],
            2,
            SiteChoiceConfig(solver=solver),  # type: ignore[arg-type]
        )
        for solver in SOLVERS
    }
    assert len({c.objective for c in choices.values()}) == 1
    assert [c.solver for c in choices.values()] == SOLVERS
    assert all(c.levels[1].best_bound <= c.objective for c in choices.values())


def test_negative_site_cost_is_refused() -> None:
    children, existing, candidates = clusters()
    with pytest.raises(ValueError, match="site_cost"):
        choose_sites(
            children,
            existing,
            candidates,
            travel_for,
            1,
            ["ASD"],
            10,
            SiteChoiceConfig(site_cost=-1),
        )


def test_auto_enumerates_only_when_every_subsets_flow_fits_the_time_limit() -> None:
    children, existing, candidates = clusters()
    roomy = choose_sites(children, existing, candidates, travel_for, 2, ["ASD"], 10)
    assert roomy.solver == "enumerate" and roomy.status == "OPTIMAL"
    tight = choose_sites(
        children, existing, candidates, travel_for, 2, ["ASD"], 10, time_limit=1e-6
    )
    assert tight.solver == "benders"
    assert sorted(c.site.site_id for c in tight.chosen) == ["north", "south"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lp_relaxation_bounds_the_cost_level_from_below(seed: int) -> None:
    """The LP bound (``lp_bound``) must never exceed the optimum that enumeration proves."""
    from matcher import site_models as sc
    from matcher.site_network import build_site_problem

    children, existing, candidates = random_instance(seed)
    exact = choose_sites(children, existing, candidates, travel_for, 2, ["ASD", "SEMH"], 2)
    assert exact.solver == "enumerate"
    sites = [candidate_setting(c, ["ASD", "SEMH"], 2) for c in candidates]
    settings = [*existing, *sites]
    placement = PlacementConfig(objective_order=("cost", "travel"))
    problem = build_site_problem(
        children, settings, travel_for(children, settings), placement, len(existing)
    )
    fixed = np.full(len(children), -1, np.int64)
    scope = sc.scope_model(problem, np.ones(len(children), bool), fixed, len(candidates))
    rule = sc.SiteRule(2, False, 0)
    lp = sc.solve_mip(scope, rule, 10.0, relax=True, level_one_at_most=exact.levels[0].objective)
    assert lp.levels[1].best_bound <= exact.objective
    # And no weaker than the trivial bound (every option at its cheapest).
    coefficients, constant = scope.level(problem.full_money())
    assert lp.levels[1].best_bound >= constant + int(np.minimum(coefficients, 0).sum())


@pytest.mark.parametrize("solver", SOLVERS)
def test_children_out_of_reach_and_unplaced_count_in_every_solvers_levels(solver: str) -> None:
    """A child no setting or candidate can reach stays unplaced outside the model; each level's
    value must still be the whole LA's, the same for every solver, and within its bound."""
    children, existing, candidates = clusters()
    children.append(child("FAR", home=at(54.5), suitable_kinds=SPECIAL_ONLY))
    config = SiteChoiceConfig(solver=solver)  # type: ignore[arg-type]
    choice = choose_sites(children, existing, candidates, travel_for, 1, ["ASD"], 10, config)
    # FAR is outside the facility-location model; enumeration and Benders hold no child.
    held = 0 if solver in ("enumerate", "benders") else 1
    assert choice.fixed_children == held and choice.solver == solver
    reference = choose_sites(children, existing, candidates, travel_for, 1, ["ASD"], 10)
    assert choice.levels[0].objective == reference.levels[0].objective
    assert choice.levels[0].best_bound <= choice.levels[0].objective
    assert choice.objective == choice.with_sites.total_cost
    assert choice.with_sites.unplaced == 1 + 2  # FAR, and the north cluster beyond 2 places


def no_cp_sat_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    from ortools.sat.python import cp_model

    monkeypatch.setattr(cp_model.CpSolver, "solve", lambda self, model: cp_model.UNKNOWN)


def no_highs_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    import scipy.optimize
    from scipy.optimize import OptimizeResult

    def no_plan(*args: object, **kwargs: object) -> OptimizeResult:
        return OptimizeResult(x=None, status=1, message="Time limit reached", fun=None)

    monkeypatch.setattr(scipy.optimize, "milp", no_plan)


@pytest.mark.parametrize(
    ("solver", "no_plan", "status"),
    [("cp-sat", no_cp_sat_plan, "UNKNOWN"), ("mip", no_highs_plan, "FEASIBLE")],
)
def test_a_solver_without_a_solution_keeps_the_warm_start_plan(
    solver: str,
    no_plan: Callable[[pytest.MonkeyPatch], None],
    status: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A level where the solver finds no plan in its time must report the warm start (a real,
    whole plan) with a bound that proves nothing, never an empty or invented choice."""
    no_plan(monkeypatch)
    children, existing, candidates = random_instance(4)
    config = SiteChoiceConfig(solver=solver)  # type: ignore[arg-type]
    choice = choose_sites(children, existing, candidates, travel_for, 2, ["ASD", "SEMH"], 2, config)
    assert choice.status == status
    assert sorted(c.site.site_id for c in choice.chosen) == sorted(choice.hint)
    assert all(level.best_bound <= level.objective for level in choice.levels)
    assert choice.objective == choice.with_sites.total_cost
