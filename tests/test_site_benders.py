"""Benders decomposition for site choice (matcher.site_benders) against enumeration.

Enumeration solves every allowed set by the exact flow, so it is the reference: on every small
random instance Benders must reach the same objective on both levels (ties may pick another set
of equal value), and every cut it derives must bound every set's true value from below.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.candidate_sites import SiteOption, load_candidates, parse_gap, parse_sizes
from matcher.models import Child, Location, PlacementKind, PrimaryNeed, Setting, SettingType
from matcher.placement import PlacementConfig
from matcher.site_benders import BendersProgress, FacilityArcs, evaluate
from matcher.site_choice import (
    CandidateSite,
    CandidateSiteError,
    SiteChoiceConfig,
    choose_sites,
    site_facilities,
)
from matcher.site_network import build_site_problem
from tests.factories import child, setting
from tests.test_site_choice import travel_for

SPECIAL_ONLY = frozenset({PlacementKind.SPECIAL})
NEEDS = [PrimaryNeed.ASD, PrimaryNeed.SEMH, PrimaryNeed.SLD]


def at(lat: float, lon: float) -> Location:
    return Location(latitude=lat, longitude=lon)


def instance(
    seed: int, n_children: int, n_candidates: int
) -> tuple[list[Child], list[Setting], list[CandidateSite]]:
    """Children (some with parental preferences), three small special schools and a mainstream
    school, and candidate points, all in a box ~25 km across so reach varies."""
    rng = np.random.default_rng(seed)

    def point() -> Location:
        return at(52.0 + rng.uniform(0, 0.25), -1.1 + rng.uniform(0, 0.35))

    existing = [
        setting(
            f"90000{j}",
            setting_type=SettingType.SPECIAL,
            designated_needs=frozenset({NEEDS[j % 3]}),
            location=point(),
            low_age=4,
            high_age=19,
            total_places=int(rng.integers(1, 4)),
        )
        for j in range(3)
    ] + [setting("800001", location=point(), low_age=4, high_age=16, total_places=3)]
    urns = [s.urn for s in existing]
    children = []
    for i in range(n_children):
        wants = rng.permutation(urns)[: int(rng.integers(0, 3))] if rng.random() < 0.5 else []
        children.append(
            child(
                f"C{i}",
                nc_year=int(rng.integers(0, 12)),
                home=point(),
                primary_need=NEEDS[int(rng.integers(0, 3))],
                suitable_kinds=SPECIAL_ONLY if rng.random() < 0.7 else None,
                preferences=tuple(str(u) for u in wants),
            )
        )
    candidates = [CandidateSite(f"s{j}", f"Site {j}", point()) for j in range(n_candidates)]
    return children, existing, candidates


def solve(
    children: list[Child],
    existing: list[Setting],
    candidates: list[CandidateSite],
    k: int,
    config: SiteChoiceConfig,
    options: Sequence[SiteOption] | None = None,
    setting_type: str = "special",
) -> tuple[int, int]:
    choice = choose_sites(
        children,
        existing,
        candidates,
        travel_for,
        k,
        ["ASD", "SEMH"],
        2,
        config,
        setting_type,
        options=options,
    )
    return choice.levels[0].objective, choice.levels[1].objective


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    seed=st.integers(0, 10_000),
    n_children=st.integers(4, 16),
    n_candidates=st.integers(2, 5),
    k=st.integers(1, 3),
    at_most=st.booleans(),
    site_cost=st.sampled_from([0, 30_000, 300_000]),
    sized=st.booleans(),
    budget=st.sampled_from([None, 1, 2]),
    setting_type=st.sampled_from(["special", "resourced_provision"]),
)
def test_benders_reaches_enumerations_objective_on_both_levels(
    seed: int,
    n_children: int,
    n_candidates: int,
    k: int,
    at_most: bool,
    site_cost: int,
    sized: bool,
    budget: int | None,
    setting_type: str,
) -> None:
    children, existing, candidates = instance(seed, n_children, n_candidates)
    k = min(k, n_candidates)
    # Two sizes: the large one costs £1m of capital; ``budget`` large sites at most.
    options = [SiteOption(1), SiteOption(3, capital_cost=1_000_000)] if sized else None
    capital = None if budget is None or not sized else budget * 1_000_000
    common = {"at_most": at_most, "site_cost": site_cost, "capital_budget": capital}
    enumerate_config = SiteChoiceConfig(solver="enumerate", **common)  # type: ignore[arg-type]
    exact = solve(children, existing, candidates, k, enumerate_config, options, setting_type)
    config = SiteChoiceConfig(solver="benders", **common)  # type: ignore[arg-type]
    choice = choose_sites(
        children,
        existing,
        candidates,
        travel_for,
        k,
        ["ASD", "SEMH"],
        2,
        config,
        setting_type,
        options=options,
    )
    assert (choice.levels[0].objective, choice.levels[1].objective) == exact
    assert choice.status == "OPTIMAL" and choice.gap == 0.0
    assert all(level.best_bound == level.objective for level in choice.levels)
    if capital is not None:
        spent = sum(c.option.capital_cost for c in choice.chosen if c.option)
        assert spent <= capital


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_every_cut_is_tight_at_its_set_and_below_every_sets_true_value(seed: int) -> None:
    """Level 1 cuts bound every set; £ cuts bound every set at the level-1 optimum (of sets of
    k = 2), and each is exact at the set it came from."""
    children, existing, candidates = instance(seed, 16, 5)
    facilities = site_facilities(
        candidates, ("ASD", "SEMH"), 2, "special", SiteChoiceConfig(), None, 2
    )
    settings_all = [*existing, *facilities.settings]
    placement = PlacementConfig(objective_order=("cost", "travel"))
    problem = build_site_problem(
        children, settings_all, travel_for(children, settings_all), placement, len(existing)
    )
    arcs = FacilityArcs.of(problem)
    n = len(candidates)
    sets = [s for size in range(n + 1) for s in itertools.combinations(range(n), size)]
    found = {s: evaluate(problem, arcs, facilities.rule, s) for s in sets}
    best_one = min(e.level_one for s, e in found.items() if len(s) == 2)

    def value(cut_constant: int, coefficients: np.ndarray, s: tuple[int, ...]) -> int:
        return cut_constant - int(coefficients[list(s)].sum())

    for origin, e in found.items():
        one = e.level_one_cut
        assert value(one.constant, one.coefficients, origin) == e.level_one
        money = e.money_cut(best_one)
        assert money is not None
        if e.level_one == best_one:
            assert value(money.constant, money.coefficients, origin) == e.money
        for s, true in found.items():
            assert value(one.constant, one.coefficients, s) <= true.level_one
            if true.level_one == best_one:
                assert value(money.constant, money.coefficients, s) <= true.money


def test_progress_reports_a_bound_never_above_the_best_and_ends_proven() -> None:
    children, existing, candidates = instance(11, 16, 5)
    steps: list[BendersProgress] = []
    choice = choose_sites(
        children,
        existing,
        candidates,
        travel_for,
        2,
        ["ASD", "SEMH"],
        2,
        SiteChoiceConfig(solver="benders"),
        on_progress=steps.append,
    )
    assert steps and all(s.bound <= s.best for s in steps)
    assert steps[-1].level == 2 and steps[-1].gap == 0.0
    assert choice.flows == steps[-1].flows >= 2  # the core point and the empty set at least
    assert choice.runner_up is not None and not choice.runner_up.proven_second


def test_out_of_time_keeps_a_real_plan_and_a_bound_below_it() -> None:
    """With no time, the search stops at its first allowed set: a whole plan, not proven, whose
    bounds are still valid (checked against enumeration)."""
    children, existing, candidates = instance(5, 16, 5)
    config = SiteChoiceConfig(solver="benders")
    choice = choose_sites(
        children, existing, candidates, travel_for, 2, ["ASD", "SEMH"], 2, config, time_limit=1e-9
    )
    exact = solve(children, existing, candidates, 2, SiteChoiceConfig(solver="enumerate"))
    assert len(choice.chosen) == 2
    assert choice.levels[0].best_bound <= exact[0] <= choice.levels[0].objective
    assert choice.levels[1].best_bound <= choice.levels[1].objective
    if choice.levels[0].proven_optimal:
        assert choice.levels[1].best_bound <= exact[1]


def test_gap_stops_within_the_gap_asked() -> None:
    children, existing, candidates = instance(3, 16, 5)
    config = SiteChoiceConfig(solver="benders", gap=0.05)
    choice = choose_sites(children, existing, candidates, travel_for, 2, ["ASD", "SEMH"], 2, config)
    exact = solve(children, existing, candidates, 2, SiteChoiceConfig(solver="enumerate"))
    assert choice.levels[0].objective == exact[0]
    assert choice.levels[1].best_bound <= exact[1] <= choice.levels[1].objective
    assert choice.levels[1].objective - choice.levels[1].best_bound <= 0.05 * choice.objective
    assert choice.status in ("OPTIMAL", "WITHIN_GAP")


def test_a_budget_no_set_meets_is_refused_in_words() -> None:
    children, existing, candidates = instance(2, 6, 3)
    options = [SiteOption(2, capital_cost=5_000_000)]
    for solver in ("enumerate", "benders"):
        config = SiteChoiceConfig(solver=solver, capital_budget=1_000_000)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="no set of sites meets the rules"):
            choose_sites(
                children, existing, candidates, travel_for, 1, ["ASD"], 2, config, options=options
            )


def test_the_facility_location_models_refuse_sizes() -> None:
    children, existing, candidates = instance(2, 6, 3)
    with pytest.raises(ValueError, match="use benders or enumerate"):
        choose_sites(
            children,
            existing,
            candidates,
            travel_for,
            1,
            ["ASD"],
            2,
            SiteChoiceConfig(solver="cp-sat"),
            options=[SiteOption(1), SiteOption(2)],
        )


def test_chosen_sites_say_where_their_children_were_placed_before() -> None:
    children, existing, candidates = instance(4, 16, 4)
    choice = choose_sites(children, existing, candidates, travel_for, 2, ["ASD", "SEMH"], 2)
    for site in choice.chosen:
        assert sum(site.came_from.values()) == site.children
        assert set(site.came_from) <= {s.urn for s in existing} | {"unplaced"}


def test_candidate_csv_rows_are_options_of_their_site(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(
        "id,name,latitude,longitude,places,designations,capital_cost,running_cost\n"
        'A,Old depot,52.1,-1.0,60,ASD;SEMH,"£4,000,000",250000\n'
        "A,,,,120,ASD,7000000,400000\n"
        "B,Farm,52.2,-1.1,80,,0,0\n"
    )
    sites = load_candidates(path)
    assert [s.site_id for s in sites] == ["A", "B"]
    assert sites[0].options == (
        SiteOption(60, ("ASD", "SEMH"), None, 4_000_000, 250_000),
        SiteOption(120, ("ASD",), None, 7_000_000, 400_000),
    )
    assert sites[1].options == (SiteOption(80),)


def test_candidate_csv_option_faults_name_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(
        "id,latitude,longitude,places,designations,capital_cost,setting_type\n"
        "A,52.1,-1.0,0,ASD,0,special\n"
        "B,52.1,-1.0,60,XYZ,0,special\n"
        "C,52.1,-1.0,60,ASD,lots,special\n"
        "D,52.1,-1.0,60,ASD,0,castle\n"
        "E,,,60,ASD,0,special\n"
        "D,52.3,-1.0,80,ASD,0,special\n"
    )
    with pytest.raises(CandidateSiteError) as caught:
        load_candidates(path)
    problems = caught.value.problems
    assert problems[0].startswith("row 2: field 'places'")
    assert problems[1].startswith("row 3: field 'designations'")
    assert problems[2].startswith("row 4: field 'capital_cost'")
    assert problems[3].startswith("row 5: field 'setting_type'")
    assert problems[4].startswith("row 7: field 'latitude': differs from row 5 of site 'D'")
    assert problems[5].startswith("row 6: field 'postcode'")


def test_geojson_options_are_read_and_checked(tmp_path: Path) -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-1.0, 52.1]},
        "properties": {"id": "A", "options": [{"places": 60}, {"places": "x"}]},
    }
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with pytest.raises(CandidateSiteError, match=r"feature 0: options\[1\]: field 'places'"):
        load_candidates(path)
    feature["properties"]["options"] = [{"places": 60, "running_cost": 1000}]  # type: ignore[index]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    assert load_candidates(path)[0].options == (SiteOption(60, running_cost=1000),)


def test_gap_and_sizes_options_parse_or_say_why() -> None:
    assert parse_gap("0.1%") == pytest.approx(0.001)
    assert parse_gap("0.001") == pytest.approx(0.001)
    with pytest.raises(ValueError, match="percentage"):
        parse_gap("a lot")
    with pytest.raises(ValueError, match="percentage"):
        parse_gap("100%")
    assert parse_sizes("60:4000000:250000,120") == [
        SiteOption(60, capital_cost=4_000_000, running_cost=250_000),
        SiteOption(120),
    ]
    assert parse_sizes(None) is None
    with pytest.raises(ValueError, match="--sizes '60:x'"):
        parse_sizes("60:x")


# --------------------------------------------------------------------------------------------
# sendmatch sites choose


def sites_choose(files: Path, *extra: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from matcher import cli

    args = [
        *("sites", "choose", "--k", "1", "--designations", "ASD,SLD", "--places", "20"),
        *("--children", str(files / "children.csv"), "--settings", str(files / "settings.csv")),
        *("--out", str(files / "sites.xlsx"), "--year-start", "2026-09-01"),
        *("--time-limit", "20"),
        *extra,
    ]
    result = CliRunner().invoke(cli.app, args)
    return result.exit_code, " ".join(result.output.split())


def test_sites_choose_benders_with_sizes_budget_and_gap(files: Path) -> None:
    from openpyxl import load_workbook

    sites = files / "sites.csv"
    sites.write_text(
        "id,latitude,longitude,places,capital_cost\n"
        "near,52.25,0.70,20,3000000\n"
        "near,,,40,9000000\n"
        "far,52.24,0.69,20,1000000\n"
    )
    code, output = sites_choose(
        files,
        *("--candidates", str(sites), "--solver", "benders", "--gap", "0.1%"),
        *("--capital-budget", "5000000"),
    )
    assert code == 0, output
    assert "Runner-up" in output
    rows = list(load_workbook(files / "sites.xlsx")["Chosen sites"].iter_rows(values_only=True))
    assert rows[0][:3] == ("site_id", "name", "option") and "placed_before_at" in rows[0]
    assert len(rows) == 2 and rows[1][2] == "20 places"  # 40 places is over the budget


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--gap", "lots"), "--gap 'lots': give a percentage such as 0.1%"),
        (("--sizes", "60:x"), "--sizes '60:x': field 'capital_cost'"),
        (("--solver", "cp-sat", "--sizes", "20,40"), "solver cp-sat takes one size per site"),
    ],
)
def test_sites_choose_refuses_bad_options_in_words(
    files: Path, extra: tuple[str, ...], message: str
) -> None:
    sites = files / "sites.csv"
    sites.write_text("id,latitude,longitude\nnear,52.25,0.70\n")
    code, output = sites_choose(files, "--candidates", str(sites), *extra)
    assert code == 2 and message in output
    assert "Traceback" not in output and not (files / "sites.xlsx").exists()
