"""Capacity-planning scenarios: edits, demand growth, errors, re-solving and comparison tables.

The hand-built instance (straight-line times: 2.6 minutes a km): three children at HOME next to
special school S1, and a cluster of four children 33 km north, beyond the 75-minute secondary
limit from S1. Special school S2, half way, is 43 minutes from both and has three places.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from geodata.postcodes import PostcodeFile
from geodata.straight_line import haversine_km, straight_line_matrix
from matcher.forecast.outputs import write_projection
from matcher.forecast.types import Projection, State
from matcher.io import write_tables
from matcher.models import Child, Location, PrimaryNeed, ProvisionKind, Setting, SettingType
from matcher.placement import PlacementConfig
from matcher.planning import (
    METRICS,
    NATIONAL_EHCP_GROWTH_RATE,
    ChangePlaces,
    Closure,
    DemandGrowth,
    NewResourcedProvision,
    NewSetting,
    Scenario,
    ScenarioError,
    apply_scenario,
    compare_scenarios,
    comparison_tables,
    forecast_demand,
    grow_demand,
    growth_count,
    load_scenario,
    load_scenarios,
    parse_scenario,
    scenario_travel,
)
from matcher.travel import TravelTimeMatrix
from tests.factories import CLUSTER, HOME, child, setting
from tests.factories import planning_instance as instance

DATA = Path(__file__).parent / "data" / "planning"


def travel_for(children: Sequence[Child], settings: Sequence[Setting]) -> TravelTimeMatrix:
    """Straight-line minutes within the secondary limit, plus every preference pair."""
    column = {s.urn: j for j, s in enumerate(settings)}
    pairs = [(i, column[u]) for i, c in enumerate(children) for u in c.preferences if u in column]
    return straight_line_matrix(
        [c.child_id for c in children],
        [c.home for c in children],
        [s.urn for s in settings],
        [s.location for s in settings],
        75.0,
        required_pairs=pairs,
    )


FREE_SCHOOL = NewSetting(
    name="Northern Special Free School",
    location=CLUSTER,
    low_age=11,
    high_age=19,
    designated_needs=frozenset({PrimaryNeed.ASD, PrimaryNeed.SEMH}),
    total_places=120,
    opening_year=2027,
)


def test_new_school_next_to_an_unserved_cluster_places_them_closer() -> None:
    children, settings = instance()
    scenario = Scenario(name="free school", edits=(FREE_SCHOOL,))
    comparison = compare_scenarios(children, settings, [scenario], travel_for, PlacementConfig())
    base, (new,) = comparison.base.metrics, comparison.scenarios
    assert (base.placed, base.unplaced) == (6, 1)
    assert base.unplaced_by_need == {PrimaryNeed.ASD: 1}
    assert new.metrics.unplaced == 0 and new.metrics.placed == 7
    assert new.metrics.mean_minutes is not None and base.mean_minutes is not None
    assert new.metrics.mean_minutes < base.mean_minutes - 10
    assert comparison.change(new, "unplaced") == -1
    placed_at = {p.child_id: p.setting_urn for p in new.result.placements}
    assert {placed_at[f"K{i}"] for i in range(4)} == {"NEW-1"}


def test_closure_leaves_more_unplaced_and_longer_journeys() -> None:
    children, settings = instance()
    closure = Scenario(name="close S1", edits=(Closure(urn="S1"),))
    comparison = compare_scenarios(children, settings, [closure], travel_for)
    base, closed = comparison.base.metrics, comparison.scenarios[0].metrics
    assert closed.unplaced == 4 > base.unplaced
    assert closed.mean_minutes is not None and base.mean_minutes is not None
    assert closed.mean_minutes > base.mean_minutes
    assert closed.p90_minutes is not None and base.p90_minutes is not None
    assert closed.p90_minutes >= base.p90_minutes


def test_expanding_places_and_a_resourced_provision_place_more_children() -> None:
    children, settings = instance()
    children.append(
        child(
            "L1", home=HOME, primary_need=PrimaryNeed.SLCN, suitable_kinds={"resourced_provision"}
        )
    )
    expand = Scenario(
        name="expand",
        edits=(
            ChangePlaces(urn="S2", total_places=4),
            NewResourcedProvision(
                urn="M1", designated_needs=frozenset({PrimaryNeed.SLCN}), places=2
            ),
        ),
    )
    comparison = compare_scenarios(children, settings, [expand], travel_for)
    assert comparison.base.metrics.unplaced_by_need == {PrimaryNeed.ASD: 1, PrimaryNeed.SLCN: 1}
    assert comparison.scenarios[0].metrics.unplaced == 0
    rows = {p.child_id: p for p in comparison.scenarios[0].result.placements}
    assert rows["L1"].provision is ProvisionKind.RESOURCED_PROVISION


def test_demand_growth_adds_the_compound_number_deterministically() -> None:
    children = [child(f"A{i}", primary_need="ASD") for i in range(10)]
    children += [child(f"S{i}", primary_need="SEMH", preferences=("X",)) for i in range(5)]
    children += [child(f"G{i}", primary_need="HI") for i in range(4)]
    growth = DemandGrowth(rate=0.1, years=2, need_rates={PrimaryNeed.SEMH: 0.5}, seed=3)
    added = grow_demand(children, growth)
    by_need = {n: sum(1 for c in added if c.primary_need == n) for n in PrimaryNeed}
    # ASD 10 × (1.1² − 1) = 2.1 → 2; SEMH 5 × (1.5² − 1) = 6.25 → 6; HI 4 × 0.21 = 0.84 → 1.
    assert (by_need[PrimaryNeed.ASD], by_need[PrimaryNeed.SEMH], by_need[PrimaryNeed.HI]) == (
        2,
        6,
        1,
    )
    assert len(added) == 9
    assert added == grow_demand(children, growth)
    assert [c.home for c in added] != [
        c.home for c in grow_demand(children, growth.model_copy(update={"seed": 4}))
    ]
    ids = [c.child_id for c in added]
    assert len(set(ids)) == len(ids) and not set(ids) & {c.child_id for c in children}
    for c in added:
        assert c.preferences == () and c.nc_year == 7
        km = float(haversine_km(c.home.latitude, c.home.longitude, HOME.latitude, HOME.longitude))
        assert km <= growth.jitter_km + 1e-9


def test_demand_growth_defaults_to_the_national_rate() -> None:
    assert DemandGrowth().rate == NATIONAL_EHCP_GROWTH_RATE
    children = [child(f"A{i}") for i in range(100)]
    grown, _ = apply_scenario(children, [], Scenario(name="g", edits=(DemandGrowth(years=3),)))
    assert len(grown) == 100 + round(100 * (1.108**3 - 1))


def test_apply_scenario_leaves_inputs_unchanged() -> None:
    children, settings = instance()
    before = (copy.deepcopy(children), copy.deepcopy(settings))
    scenario = Scenario(
        name="everything",
        edits=(
            FREE_SCHOOL,
            ChangePlaces(urn="S2", total_places=0, year_places={7: 0}),
            Closure(urn="S1"),
            NewResourcedProvision(
                urn="M1", designated_needs=frozenset({PrimaryNeed.ASD}), places=4
            ),
            DemandGrowth(rate=0.5),
        ),
    )
    kids, sites = apply_scenario(children, settings, scenario)
    assert (children, settings) == before
    assert len(kids) == 7 + 4 and kids[:7] == children
    assert [s.urn for s in sites] == ["S2", "M1", "NEW-1"]
    s2 = sites[0]
    assert (s2.total_places, s2.year_places) == (0, {7: 0})
    assert sites[1].provisions[0].places == 4


def test_incremental_travel_matches_a_whole_recomputation() -> None:
    children, settings = instance()
    children[0] = children[0].model_copy(update={"preferences": ("NEW-1",)})
    scenario = Scenario(
        name="s", edits=(FREE_SCHOOL, Closure(urn="S2"), DemandGrowth(rate=0.5, seed=1))
    )
    kids, sites = apply_scenario(children, settings, scenario)
    base = travel_for(children, settings)
    fast = scenario_travel(children, settings, base, kids, sites, travel_for)
    whole = travel_for(kids, sites)
    assert fast.lookup() == pytest.approx(whole.lookup())
    assert (fast.child_ids, fast.setting_urns) == (whole.child_ids, whole.setting_urns)
    a = compare_scenarios(children, settings, [scenario], travel_for)
    b = compare_scenarios(children, settings, [scenario], travel_for, incremental_travel=False)
    assert a.scenarios[0].metrics == b.scenarios[0].metrics


def test_bad_scenario_file_names_every_field() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(DATA / "bad.json")
    text = str(caught.value)
    fields = {p.field for p in caught.value.problems}
    assert {
        "name",
        "edits[0]",
        "edits[1].total_places",
        "edits[2]",
        "edits[3]",
        "edits[4].rate",
        "edits[4].colour",
    } <= fields
    assert "bad.json: edits[1].total_places: Input should be greater than or equal to 0" in text
    assert "age range inverted" in text
    assert "give total_places and/or year_places" in text
    assert "expansion" in text  # the unknown kind is named


def test_unparseable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"not_json.json: not valid JSON: .* line 2"):
        load_scenario(DATA / "not_json.json")
    (tmp_path / "s.txt").write_text("{}")
    with pytest.raises(ScenarioError, match=r"unknown scenario file type '\.txt'"):
        load_scenario(tmp_path / "s.txt")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ScenarioError, match="a scenario file must hold a mapping"):
        load_scenario(tmp_path / "list.json")


def test_references_checked_against_the_settings() -> None:
    children, settings = instance()
    scenario = parse_scenario(
        {
            "name": "refs",
            "edits": [
                {"kind": "closure", "urn": "S9"},
                {"kind": "closure", "urn": "S1"},
                {"kind": "change_places", "urn": "S1", "total_places": 5},
                {"kind": "new_setting", **FREE_SCHOOL.model_dump(exclude={"kind"}), "urn": "S2"},
                {
                    "kind": "new_resourced_provision",
                    "urn": "S2",
                    "designated_needs": ["ASD"],
                    "places": 2,
                },
            ],
        }
    )
    with pytest.raises(ScenarioError) as caught:
        apply_scenario(children, settings, scenario, source="refs.json")
    assert [str(p) for p in caught.value.problems] == [
        "refs.json: edits[0].urn: unknown URN 'S9': no setting has this URN",
        "refs.json: edits[2].urn: unknown URN 'S1': closed by an earlier edit",
        "refs.json: edits[3].urn: duplicate URN 'S2': a setting already has it",
        "refs.json: edits[4].urn: S2 is a special setting: resourced provisions and SEN units "
        "belong to mainstream schools",
    ]


def test_good_json_file_loads_and_applies() -> None:
    scenario = load_scenario(DATA / "free_school.json")
    assert [e.kind for e in scenario.edits] == [
        "new_setting",
        "change_places",
        "new_resourced_provision",
        "demand_growth",
    ]
    children, settings = instance()
    kids, sites = apply_scenario(children, settings, scenario)
    new = sites[-1]
    assert (new.urn, new.total_places, new.year_places) == ("NEW-1", 120, {7: 20})
    assert sites[2].provisions[0].kind is ProvisionKind.SEN_UNIT
    assert len(kids) == 7 + growth_count(7, NATIONAL_EHCP_GROWTH_RATE, 2)


def test_yaml_file_loads() -> None:
    scenario = load_scenario(DATA / "free_school.yaml")
    assert [e.kind for e in scenario.edits] == ["new_setting", "closure"]


def test_bad_yaml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(path)


def test_scenario_names_must_be_distinct() -> None:
    children, settings = instance()
    with pytest.raises(ScenarioError, match="distinct"):
        compare_scenarios(children, settings, [Scenario(name="base")], travel_for)


def test_comparison_tables_have_every_metric_and_change(tmp_path: Path) -> None:
    children, settings = instance()
    scenarios = [
        Scenario(name="free school", edits=(FREE_SCHOOL,)),
        Scenario(name="close S1", edits=(Closure(urn="S1"),)),
    ]
    comparison = compare_scenarios(children, settings, scenarios, travel_for)
    main, by_need = comparison_tables(comparison)
    assert main.name == "Comparison" and by_need.name == "Unplaced by need"
    assert list(main.columns) == [
        "metric",
        "unit",
        "Base",
        "free school",
        "close S1",
        "free school: change vs base",
        "close S1: change vs base",
    ]
    rows = {r["metric"]: r for r in main.records}
    assert [m.label for m in METRICS] == list(rows)[: len(METRICS)]
    unplaced = rows["Unplaced"]
    assert (unplaced["Base"], unplaced["free school"], unplaced["close S1"]) == (1, 0, 4)
    assert unplaced["free school: change vs base"] == -1
    assert unplaced["close S1: change vs base"] == 3
    total = rows["Total cost (£ a year)"]
    assert total["Base"] == comparison.base.metrics.total_cost
    assert "straight-line" in str(rows["Travel-time model"]["Base"])
    assert [dict(r) for r in by_need.records] == [
        {
            "need": "ASD",
            "description": "autistic spectrum disorder",
            "Base": 1,
            "free school": 0,
            "close S1": 4,
            "free school: change vs base": -1,
            "close S1: change vs base": 3,
        }
    ]
    write_tables(tmp_path / "comparison.xlsx", [main, by_need])
    assert (tmp_path / "comparison.xlsx").stat().st_size > 0


def test_over_limit_and_out_of_area_are_counted() -> None:
    far = Location(latitude=52.65, longitude=-1.1)  # 50 km from HOME: 130 minutes
    settings = [
        setting(
            "FAR",
            location=far,
            setting_type=SettingType.INDEPENDENT_SPECIAL,
            designated_needs=frozenset({PrimaryNeed.ASD}),
            annual_fee=60_000,
            la_code="999",
        )
    ]
    children = [child("P1", home=HOME, preferences=("FAR",), home_la_code="855")]
    comparison = compare_scenarios(children, settings, [], travel_for)
    m = comparison.base.metrics
    assert (m.placed, m.over_phase_limit, m.out_of_area, m.independent) == (1, 1, 1, 1)
    assert m.cost_per_placed == m.total_cost > 60_000


def test_new_site_as_a_polygon_is_placed_at_its_centroid() -> None:
    square = {
        "type": "Polygon",
        "coordinates": [[[-1.2, 52.2], [-1.0, 52.2], [-1.0, 52.4], [-1.2, 52.4], [-1.2, 52.2]]],
    }
    scenario = parse_scenario(
        {
            "name": "plot",
            "edits": [
                {
                    "kind": "new_setting",
                    "name": "Plot school",
                    "site": square,
                    "low_age": 4,
                    "high_age": 19,
                    "total_places": 60,
                }
            ],
        }
    )
    edit = scenario.edits[0]
    assert isinstance(edit, NewSetting)
    assert edit.location.latitude == pytest.approx(52.3)
    assert edit.location.longitude == pytest.approx(-1.1)
    with pytest.raises(ScenarioError, match="site"):
        parse_scenario(
            {
                "name": "bad",
                "edits": [
                    {
                        "kind": "new_setting",
                        "name": "x",
                        "site": {"type": "Point", "coordinates": [0, 0]},
                        "low_age": 4,
                        "high_age": 19,
                        "total_places": 1,
                    }
                ],
            }
        )


POSTCODES = Path(__file__).parent / "data" / "postcodes" / "onspd_sample.csv"


def test_new_site_by_postcode_is_placed_at_the_postcode_file_point() -> None:
    lookup = PostcodeFile(POSTCODES)
    (scenario,) = load_scenarios([DATA / "postcode_school.yaml"], lookup)
    edit = scenario.edits[1]
    assert isinstance(edit, NewSetting)
    assert (edit.location.latitude, edit.location.longitude) == (52.5, -1.1)
    children, settings = instance()
    _, sites = apply_scenario(children, settings, scenario)
    assert next(s for s in sites if s.urn == "150002").location == CLUSTER
    assert set(lookup.cached) == {"ZZ1 1AA"}  # only the postcode the scenario uses


def test_postcode_site_without_a_postcode_file_names_file_and_field() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(DATA / "postcode_school.yaml")
    (problem,) = info.value.problems
    assert (problem.file, problem.field) == ("postcode_school.yaml", "edits[1].site")
    assert "ZZ1 1AA is a postcode, and no postcode file was given" in problem.message
    assert "--postcodes FILE" in problem.message


@pytest.mark.parametrize(
    ("site", "message"),
    [
        ("QQ1 1QQ", "postcode 'QQ1 1QQ' is not in onspd_sample.csv"),
        ("ZZ1 9ZZ", "postcode 'ZZ1 9ZZ' was terminated in 2019-06"),
        ("Old depot", "'Old depot' is not a UK postcode"),
    ],
)
def test_unknown_terminated_or_malformed_postcode_site_is_reported(
    tmp_path: Path, site: str, message: str
) -> None:
    text = (DATA / "postcode_school.yaml").read_text().replace("zz11aa", f"'{site}'")
    path = tmp_path / "depot.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenarios([path, DATA / "free_school.yaml"], PostcodeFile(POSTCODES))
    (problem,) = info.value.problems
    assert (problem.file, problem.field) == ("depot.yaml", "edits[1].site")
    assert message in problem.message


def test_a_bad_row_in_the_postcode_file_is_reported_with_its_row_and_column(
    tmp_path: Path,
) -> None:
    text = (DATA / "postcode_school.yaml").read_text().replace("zz11aa", "'ZZ2 2BD'")
    path = tmp_path / "bad_row.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenarios([path], PostcodeFile(POSTCODES))
    (problem,) = info.value.problems
    assert str(problem) == f"--postcodes: {POSTCODES}, row 7, lat: 'abc' is not a number"


# --------------------------------------------------------------------------------------------
# A forecast's year as a scenario's demand

# 2029 in four simulated futures. Means 5.75, 2.25 and 0.5, total 8.5: the rounded mean
# caseload is 9 children, floors 5, 2, 0 and the two odd children to the largest fractions
# (0.75 and 0.5): 6, 2, 1. SEMH: no current child has it, so any child's home is borrowed.
DEMAND_STATES = (
    State("ASD", "special", 8),
    State("ASD", "special", 9),
    State("SEMH", "special", 10),
)
DEMAND_2029 = [[5, 2, 1], [6, 2, 0], [6, 3, 1], [6, 2, 0]]


def save_forecast(folder: Path) -> Path:
    counts = np.zeros((4, 2, 3), np.int32)
    counts[:, 0, :] = [4, 2, 0]  # 2028, observed
    counts[:, 1, :] = DEMAND_2029
    write_projection(Projection((2028, 2029), DEMAND_STATES, counts), folder / "f_simulations.npz")
    return folder / "f.xlsx"


def demand_file(folder: Path, text: str, name: str = "plan.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_demand_scenario_places_the_forecast_years_rounded_mean(tmp_path: Path) -> None:
    save_forecast(tmp_path)
    scenario = load_scenario(
        demand_file(tmp_path, "name: demand 2029\ndemand: f.xlsx#2029\n"), read_forecasts=True
    )
    children, settings = instance()
    comparison = compare_scenarios(children, settings, [scenario], travel_for)
    assert comparison.base.metrics.children == 7  # the base is today's round
    outcome = comparison.scenarios[0]
    assert outcome.metrics.children == 9
    kids, _ = apply_scenario(children, settings, scenario)  # the same children, deterministic
    state = {c.child_id: (c.primary_need.value, c.nc_year) for c in kids}
    placed = Counter(state[p.child_id] for p in outcome.result.placements)
    assert placed == {("ASD", 8): 6, ("ASD", 9): 2, ("SEMH", 10): 1}
    assert all(p.child_id.startswith("F2029-") for p in outcome.result.placements)
    assert outcome.metrics.placed > 0


def test_a_demand_scenario_may_pick_one_simulated_future_and_keep_its_edits(
    tmp_path: Path,
) -> None:
    save_forecast(tmp_path)
    text = "name: s2\ndemand: f.xlsx#2029\ndemand_simulation: 2\nedits:\n"
    text += "  - kind: closure\n    urn: S2\n"
    scenario = load_scenario(demand_file(tmp_path, text), read_forecasts=True)
    children, settings = instance()
    kids, sites = apply_scenario(children, settings, scenario)
    assert len(kids) == sum(DEMAND_2029[2])  # simulation 2: 6 + 3 + 1
    assert [s.urn for s in sites] == ["S1", "M1"]
    homes = {c.home for c in children}
    assert not {c.home for c in kids} & homes  # borrowed and moved, never today's own


def test_demand_is_found_from_the_scenario_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forecasts, plans = tmp_path / "forecasts", tmp_path / "plans"
    forecasts.mkdir()
    plans.mkdir()
    save_forecast(forecasts)
    demand_file(plans, "name: d\ndemand: ../forecasts/f.xlsx#2029\n")
    monkeypatch.chdir(tmp_path)  # from here, ../forecasts is another folder
    scenario = load_scenarios([Path("plans/plan.yaml")], read_forecasts=True)[0]
    children, settings = instance()
    assert len(apply_scenario(children, settings, scenario)[0]) == 9
    # --demand of `sites choose` has no scenario file: its path is the working folder's.
    with pytest.raises(ScenarioError, match="no such file"):
        forecast_demand("f.xlsx#2029")
    monkeypatch.chdir(forecasts)
    assert forecast_demand("f.xlsx#2029").demand == "f.xlsx#2029"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "demand: f.xlsx",
            "plan.yaml: demand: 'f.xlsx': give the forecast and the January to place as "
            "PATH#YEAR, e.g. forecast.xlsx#2029",
        ),
        ("demand: f.xlsx#soon", "plan.yaml: demand: 'soon' is not a year"),
        ("demand: nope.xlsx#2029", "plan.yaml: demand: nope.xlsx: no such file"),
        (
            "demand: f.xlsx#2031",
            "plan.yaml: demand: 2031 is not a year of this forecast: it runs from 2028 to 2029",
        ),
        (
            "demand: f.xlsx#2029\ndemand_simulation: 4",
            "plan.yaml: demand_simulation: simulation 4 does not exist: this forecast has 4 "
            "simulations, numbered 0 to 3",
        ),
        ("demand_simulation: 1", "plan.yaml: demand_simulation: goes with demand"),
        (
            "demand: f.xlsx#2029\nedits:\n  - kind: closure\n    urn: S1\n"
            "  - kind: demand_growth\n    rate: 0.1",
            "plan.yaml: edits[1]: a scenario with demand takes its children from the forecast, "
            "which already grows demand: remove this demand_growth edit",
        ),
        (
            "demand: witan.xlsx#2029",
            "plan.yaml: demand: this forecast's settings are witan.send codes or other labels "
            "('MMSIB'), not kinds of place",
        ),
    ],
)
def test_demand_problems_name_the_file_and_field(tmp_path: Path, text: str, problem: str) -> None:
    save_forecast(tmp_path)
    witan = Projection((2029,), (State("ASD", "MMSIB", 8),), np.ones((2, 1, 1), np.int32))
    write_projection(witan, tmp_path / "witan_simulations.npz")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(demand_file(tmp_path, f"name: d\n{text}\n"), read_forecasts=True)
    assert len(caught.value.problems) == 1
    assert str(caught.value.problems[0]).startswith(problem)


def test_demand_is_refused_where_forecasts_are_not_read(tmp_path: Path) -> None:
    """A server reading uploaded scenario files must not open the paths they name."""
    save_forecast(tmp_path)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(demand_file(tmp_path, f"name: d\ndemand: {tmp_path}/f.xlsx#2029\n"))
    assert [(p.field, p.message) for p in caught.value.problems] == [
        (
            "demand",
            "a forecast named in a scenario is read on the command line only (sendmatch "
            "scenario compare): remove demand here",
        )
    ]


def test_a_forecast_gone_by_the_time_a_scenario_is_applied_is_a_problem(tmp_path: Path) -> None:
    children, settings = instance()
    scenario = Scenario(name="d", demand=f"{tmp_path / 'gone.xlsx'}#2029")
    with pytest.raises(ScenarioError) as caught:
        apply_scenario(children, settings, scenario, source="plan.yaml")
    assert [str(p) for p in caught.value.problems] == ["plan.yaml: demand: gone.xlsx: no such file"]
    with pytest.raises(ScenarioError, match=r"--demand: gone\.xlsx: no such file"):
        forecast_demand(f"{tmp_path / 'gone.xlsx'}#2029")
