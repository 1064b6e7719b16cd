from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.models import Child, PrimaryNeed, Setting
from matcher.placement import place
from matcher.side_constraints import SideConstraints, place_with_side_constraints
from matcher.travel import TravelTimeMatrix
from tests.factories import child, matrix, placement_instances, setting


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_instances(max_children=8, max_settings=4), st.booleans())
def test_cp_sat_without_binding_constraints_proves_the_flow_optimum(
    instance: tuple[list[Child], list[Setting], TravelTimeMatrix], cost_first: bool
) -> None:
    children, settings_, travel = instance
    loose = SideConstraints(budget_cap=10**9, time_limit_seconds=20)
    out = place_with_side_constraints(children, settings_, travel, loose)
    assert all(level.proven_optimal for level in out.levels)
    assert tuple(level.objective for level in out.levels) == out.flow_levels
    flow = place(children, settings_, travel)
    assert out.result.summary.placed == flow.summary.placed


def test_siblings_are_kept_together_when_a_setting_suits_both() -> None:
    kids = [child("a", sibling_group="g1"), child("b", sibling_group="g1")]
    sets = [setting("1", total_places=1), setting("2", total_places=1), setting("3")]
    minutes = np.array([[5.0, 50.0, 30.0], [50.0, 5.0, 30.0]])
    travel = matrix(kids, sets, minutes)
    apart = {r.child_id: r.setting_urn for r in place(kids, sets, travel).placements}
    assert apart == {"a": "1", "b": "2"}
    out = place_with_side_constraints(
        kids, sets, travel, SideConstraints(keep_siblings_together=True)
    )
    together = {r.child_id: r.setting_urn for r in out.result.placements}
    assert together == {"a": "3", "b": "3"}
    assert out.levels[0].proven_optimal


def test_siblings_no_setting_suits_are_noted_not_dropped() -> None:
    kids = [child("a", sibling_group="g"), child("b", sibling_group="g", nc_year=1)]
    sets = [setting("1"), setting("2", low_age=4, high_age=11)]
    travel = matrix(kids, sets, np.full((2, 2), 10.0))
    out = place_with_side_constraints(
        kids, sets, travel, SideConstraints(keep_siblings_together=True)
    )
    assert out.result.summary.placed == 2
    assert any("sibling group g" in note for note in out.notes)


def test_need_share_cap_spreads_one_need_across_settings() -> None:
    kids = [child(f"c{i}", primary_need=PrimaryNeed.SEMH) for i in range(4)]
    sets = [setting("1", total_places=4), setting("2", total_places=4)]
    travel = matrix(kids, sets, np.tile([[5.0, 20.0]], (4, 1)))
    assert Counter(r.setting_urn for r in place(kids, sets, travel).placements) == {"1": 4}
    out = place_with_side_constraints(kids, sets, travel, SideConstraints(max_need_share=0.5))
    assert Counter(r.setting_urn for r in out.result.placements) == {"1": 2, "2": 2}


def test_budget_cap_is_never_exceeded() -> None:
    kids = [child(f"c{i}") for i in range(3)]
    sets = [setting("1", top_up=20_000)]
    travel = matrix(kids, sets, np.full((3, 1), 10.0))
    full = place(kids, sets, travel).summary
    spend = full.total_placement_cost + full.total_transport_cost
    cap = spend * 2 // 3
    out = place_with_side_constraints(kids, sets, travel, SideConstraints(budget_cap=cap))
    summary = out.result.summary
    assert summary.total_placement_cost + summary.total_transport_cost <= cap
    assert summary.placed == 2
    assert out.levels[0].gap == 0.0
