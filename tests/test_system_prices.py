from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.models import Child, Setting
from matcher.placement import PlacementConfig, level_costs, level_names, solve_flow
from matcher.system_prices import SystemPrices, forced_level_objectives
from matcher.travel import TravelTimeMatrix
from tests.factories import placement_instances


def _prices(
    children: list[Child], settings_: list[Setting], travel: TravelTimeMatrix, order: tuple
) -> tuple[SystemPrices, list[np.ndarray], tuple[int, ...]]:
    config = PlacementConfig(objective_order=order)
    network, solution = solve_flow(children, settings_, travel, config, lambda _s: None)
    levels = level_costs(network, len(children), order)
    prices = SystemPrices(network, solution, levels, order, len(children))
    return prices, levels, solution.level_objectives


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    placement_instances(max_children=7, max_settings=4),
    st.sampled_from([("travel", "cost"), ("cost", "travel")]),
    st.booleans(),
)
def test_marginal_cost_from_duals_equals_forced_re_solve(
    instance: tuple[list[Child], list[Setting], TravelTimeMatrix],
    order: tuple,
    exact_search: bool,
) -> None:
    children, settings_, travel = instance
    prices, levels, base = _prices(children, settings_, travel, order)
    prices.force_exact_search = exact_search
    for option in range(prices.network.n_options):
        forced = forced_level_objectives(prices.network, levels, option)
        priced = prices.marginal(option)
        if forced is None:
            assert priced is None
            continue
        assert priced is not None
        delta = [f - b for f, b in zip(forced, base, strict=True)]
        assert tuple(delta) >= (0,) * len(delta)  # the plan was optimal: forcing never helps
        expected = dict(zip(level_names(order), delta, strict=True))
        assert priced.children_unplaced == expected["placed"]
        assert priced.preferences_unmet == expected["preference_met"]
        assert priced.preference_ranks == expected["preference_rank"]
        assert priced.minutes == expected["travel"] / 10
        assert priced.pounds == expected["cost"]


def test_the_plans_own_choice_costs_nothing() -> None:
    from tests.factories import child, matrix, setting

    kids = [child("a"), child("b")]
    sets = [setting("1", total_places=1), setting("2", total_places=1)]
    prices, _levels, _base = _prices(
        kids, sets, matrix(kids, sets, np.array([[5.0, 20.0], [30.0, 10.0]])), ("travel", "cost")
    )
    own = [int(a) for a in prices.current if a < prices.network.n_options]
    assert all(prices.marginal(a).key == (0, 0, 0, 0.0, 0) for a in own)  # type: ignore[union-attr]
    other = [a for a in range(prices.network.n_options) if a not in own]
    # Swapping a and b: both journeys get longer; 5+10 → 20+30 minutes.
    costs = [prices.marginal(a) for a in other]
    assert all(c is not None and c.minutes == 35.0 for c in costs)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_instances(max_children=30, max_settings=6))
def test_fast_lexicographic_search_equals_exact_search(
    instance: tuple[list[Child], list[Setting], TravelTimeMatrix],
) -> None:
    from matcher.system_prices import _exact_distances, _LexicographicSearch

    prices, _levels, _base = _prices(*instance, ("travel", "cost"))
    u, v, w = prices._edges
    n_places = prices.network.flow.n_nodes - prices.n
    search = _LexicographicSearch(u, v, w, n_places)
    assert search.exact
    firsts = search.first_level(np.arange(n_places))
    for target in range(n_places):
        fast = search.distances(target)
        assert fast is not None
        assert np.array_equal(fast, _exact_distances(u, v, w, n_places, target))
        assert np.array_equal(fast, search.distances(target, firsts[target]))
