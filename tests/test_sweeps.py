"""Scenario sweeps: the product of options, Dask equal to sequential, progress, ranking.

The instance is test_planning's (straight-line times, 2.6 minutes a km): three children at HOME
next to special school S1, four in a cluster 33 km north beyond the 75-minute limit from S1, and
special school S2 half way with three places, so one cluster child is unplaced in the base.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from matcher.models import Location, SettingType
from matcher.placement import PlacementConfig
from matcher.planning import NewResourcedProvision, NewSetting, ScenarioError, apply_scenario
from matcher.site_choice import CandidateSite
from matcher.sweeps import (
    DaskNotInstalledError,
    StraightLineTravel,
    run_sweep,
    run_sweep_sequential,
    sweep_scenarios,
    sweep_table,
)
from tests.factories import CLUSTER, HOME
from tests.factories import planning_instance as instance


def _distributed() -> Any:
    """Dask's distributed: a dependency of sendmatch, so its absence is a failure, not a skip."""
    import distributed

    return distributed


SOUTH = Location(latitude=51.9, longitude=-1.1)
TRAVEL = StraightLineTravel(75.0)
CANDIDATES = [
    CandidateSite("c01", "Northern site", CLUSTER),
    CandidateSite("c02", "Town site", HOME),
    CandidateSite("c03", "Southern site", SOUTH),
]
DESIGNATIONS = [["ASD"], ["ASD", "SEMH"]]
SIZES = [2, 4]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with _distributed().LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def test_product_builds_every_scenario_in_order() -> None:
    scenarios = sweep_scenarios(CANDIDATES, DESIGNATIONS, SIZES, low_age=11, high_age=19)
    assert [s.name for s in scenarios] == [
        f"{c} {d} {n}" for c in ("c01", "c02", "c03") for d in ("ASD", "ASD+SEMH") for n in (2, 4)
    ]
    first = scenarios[3]
    assert len(first.edits) == 1
    edit = first.edits[0]
    assert isinstance(edit, NewSetting)
    assert edit.urn == "SITE-c01"
    assert edit.location == CLUSTER
    assert edit.designated_needs == {"ASD", "SEMH"}
    assert edit.total_places == 4
    assert (edit.low_age, edit.high_age, edit.setting_type) == (11, 19, SettingType.SPECIAL)
    children, settings = instance()
    _, sites = apply_scenario(children, settings, first)
    assert sites[-1].urn == "SITE-c01"


def test_resourced_provision_and_bad_options() -> None:
    (scenario,) = sweep_scenarios(CANDIDATES[:1], [["SLD"]], [6], "resourced_provision")
    new, provision = scenario.edits
    assert isinstance(new, NewSetting) and new.setting_type is SettingType.MAINSTREAM
    assert isinstance(provision, NewResourcedProvision) and provision.places == 6
    children, settings = instance()
    _, sites = apply_scenario(children, settings, scenario)
    assert sites[-1].provisions[0].places == 6
    with pytest.raises(ValueError, match="XYZ"):
        sweep_scenarios(CANDIDATES, [["XYZ"]], SIZES)
    with pytest.raises(ValueError, match="setting_type"):
        sweep_scenarios(CANDIDATES, DESIGNATIONS, SIZES, "castle")
    with pytest.raises(ValueError, match="twice"):
        sweep_scenarios([CANDIDATES[0], CANDIDATES[0]], DESIGNATIONS, SIZES)


def test_straight_line_travel_pickles() -> None:
    children, settings = instance()
    again = pickle.loads(pickle.dumps(TRAVEL))
    assert again == TRAVEL
    a, b = TRAVEL(children, settings), again(children, settings)
    assert (a.rows.tolist(), a.cols.tolist(), a.minutes.tolist()) == (
        b.rows.tolist(),
        b.cols.tolist(),
        b.minutes.tolist(),
    )


def test_dask_sweep_equals_sequential() -> None:
    _distributed()
    children, settings = instance()
    scenarios = sweep_scenarios(CANDIDATES, DESIGNATIONS, SIZES, low_age=11)
    config = PlacementConfig()
    sequential = run_sweep_sequential(children, settings, scenarios, TRAVEL, config)
    parallel = run_sweep(children, settings, scenarios, TRAVEL, config, workers=2)
    assert parallel == sequential
    assert [r.scenario for r in parallel.rows] == [s.name for s in scenarios]


def test_progress_sees_every_task_on_a_scheduler(cluster: Any) -> None:
    children, settings = instance()
    scenarios = sweep_scenarios(CANDIDATES, DESIGNATIONS, SIZES, low_age=11)
    seen: list[tuple[int, int]] = []
    result = run_sweep(
        children,
        settings,
        scenarios,
        TRAVEL,
        scheduler=cluster.scheduler_address,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(k, len(scenarios)) for k in range(1, len(scenarios) + 1)]
    assert result == run_sweep_sequential(children, settings, scenarios, TRAVEL)


def test_a_client_is_reused_and_left_open(cluster: Any) -> None:
    children, settings = instance()
    scenarios = sweep_scenarios(CANDIDATES[:1], [["ASD"]], [4], low_age=11)
    with _distributed().Client(cluster) as client:
        run_sweep(children, settings, scenarios, TRAVEL, client=client)
        assert client.status == "running"


def test_site_next_to_the_unserved_cluster_ranks_best() -> None:
    children, settings = instance()
    scenarios = sweep_scenarios(CANDIDATES, DESIGNATIONS, SIZES, low_age=11)
    result = run_sweep_sequential(children, settings, scenarios, TRAVEL)
    assert result.base.unplaced == 1
    best = result.best()
    assert best[0].site_id == "c01"
    assert best[0].metrics.unplaced == 0
    assert result.change(best[0], "unplaced") == -1
    assert result.change(best[0], "mean_minutes") < 0  # type: ignore[operator]
    assert {r.site_id for r in result.best("mean_minutes", n=4)} == {"c01"}
    # Sites in town or to the south cannot reach the cluster: nobody more is placed.
    assert all(r.metrics.unplaced == 1 for r in result.rows if r.site_id != "c01")
    assert result.best("placed")[0].site_id == "c01"


def test_sweep_table_has_the_base_and_every_change() -> None:
    children, settings = instance()
    scenarios = sweep_scenarios(CANDIDATES, DESIGNATIONS, SIZES, low_age=11)
    result = run_sweep_sequential(children, settings, scenarios, TRAVEL)
    table = sweep_table(result)
    assert table.name == "Sweep"
    assert len(table.records) == len(scenarios) + 1
    assert table.records[0]["scenario"] == "Base"
    assert "Unplaced: change vs base" in table.columns
    row = next(r for r in table.records if r["scenario"] == "c01 ASD 4")
    assert row["Unplaced: change vs base"] == -1
    assert row["designations"] == "ASD" and row["places"] == 4
    ranked = sweep_table(result, by="unplaced")
    assert ranked.records[1]["site_id"] == "c01"


def test_names_are_checked_before_solving() -> None:
    children, settings = instance()
    scenarios = sweep_scenarios(CANDIDATES[:1], [["ASD"]], [4])
    with pytest.raises(ScenarioError):
        run_sweep_sequential(children, settings, scenarios * 2, TRAVEL)


def test_without_dask_falls_back_or_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import now raises ImportError
    children, settings = instance()
    scenarios = sweep_scenarios(CANDIDATES[:1], [["ASD"]], [4], low_age=11)
    result = run_sweep(children, settings, scenarios, TRAVEL)
    assert result == run_sweep_sequential(children, settings, scenarios, TRAVEL)
    with pytest.raises(DaskNotInstalledError, match=r"dask\[distributed\]"):
        run_sweep(children, settings, scenarios, TRAVEL, scheduler="tcp://127.0.0.1:8786")
