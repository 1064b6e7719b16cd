from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.models import Child, Setting
from matcher.placement import PlacementConfig, level_costs, level_names, solve_flow
from matcher.residual_distances import UNREACHABLE, PlaceDistances, exact_distances
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


def _exact_pairs(
    u: np.ndarray,
    v: np.ndarray,
    w: np.ndarray,
    n_places: int,
    heads: np.ndarray,
    targets: np.ndarray,
) -> np.ndarray:
    """The reference: one exact pure Python search per target, on the graph as given."""
    out = np.empty((w.shape[0], len(heads)), np.int64)
    for t in np.unique(targets).tolist():
        mine = np.nonzero(targets == t)[0]
        out[:, mine] = exact_distances(u, v, w, n_places, t)[:, heads[mine]]
    return out


def _every_pair(n_places: int) -> tuple[np.ndarray, np.ndarray]:
    heads, targets = np.meshgrid(np.arange(n_places), np.arange(n_places))
    return heads.ravel(), targets.ravel()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_instances(max_children=30, max_settings=6), st.sampled_from([0, 1, 2, 64]))
def test_bulk_distances_and_prices_equal_one_exact_search_per_place(
    instance: tuple[list[Child], list[Setting], TravelTimeMatrix], hubs: int
) -> None:
    prices, _levels, _base = _prices(*instance, ("travel", "cost"))
    u, v, w = prices._edges
    n_places = prices.network.flow.n_nodes - prices.n
    heads, targets = _every_pair(n_places)
    bulk = PlaceDistances(u, v, w, n_places, hubs=hubs).between(heads, targets)
    assert np.array_equal(bulk, _exact_pairs(u, v, w, n_places, heads, targets))
    # Every option priced at once: its reduced cost and one exact search from its place back
    # to the place its child leaves (the per-child pricing this replaced, in its exact mode).
    flow, options = prices.network.flow, np.arange(prices.network.n_options)
    current = prices.current[prices.network.arcs.child]
    dist = _exact_pairs(
        u, v, w, n_places, flow.heads[options] - prices.n, flow.heads[current] - prices.n
    )
    feasible = (dist[0] != UNREACHABLE) | (options == current)
    expected = prices.reduced[:, options] - prices.reduced[:, current]
    expected += np.where(dist[0] != UNREACHABLE, dist, 0)
    expected[:, options == current] = 0
    delta, ok = prices.marginal_deltas(options)
    assert np.array_equal(delta, expected) and np.array_equal(ok, feasible)
    # One option at a time (the search for its child's place kept) prices the same.
    assert prices.marginals(options) == [prices.marginal(int(a)) for a in options]


@st.composite
def residual_graphs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Random graphs of lexicographically non-negative edges, one per pair of places, many of
    them free (zero at every level) so that places merge, sorted as the searches want."""
    n = draw(st.integers(1, 12))
    pairs = draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40, unique=True)
    )
    pairs = [(a, b) for a, b in pairs if a != b]
    levels = draw(st.integers(1, 4))
    columns = []
    for _ in pairs:
        lead = draw(st.integers(0, levels))  # levels before the first non-zero one
        vector = [0] * levels
        if lead < levels:
            vector[lead] = draw(st.integers(1, 5))
            for k in range(lead + 1, levels):
                vector[k] = draw(st.integers(-5, 5))
        columns.append(vector)
    u = np.array([a for a, _ in pairs], np.int64)
    v = np.array([b for _, b in pairs], np.int64)
    w = np.array(columns, np.int64).T.reshape(levels, len(pairs))
    order = np.lexsort((u, v))
    return u[order], v[order], w[:, order], n


@settings(max_examples=150, deadline=None)
@given(residual_graphs(), st.sampled_from([0, 1, 3, 64]))
def test_contracted_pruned_and_hub_routed_distances_equal_exact_ones(
    graph: tuple[np.ndarray, np.ndarray, np.ndarray, int], hubs: int
) -> None:
    u, v, w, n = graph
    heads, targets = _every_pair(n)
    bulk = PlaceDistances(u, v, w, n, hubs=hubs).between(heads, targets)
    assert np.array_equal(bulk, _exact_pairs(u, v, w, n, heads, targets))


def test_distances_too_big_for_float64_are_found_exactly() -> None:
    # A chain 3 → 2 → 1 → 0 with a shortcut 3 → 0: each weight fits float64 exactly, their
    # sums do not, so the fast search hands those targets to the exact one.
    big = 2**51 + 1
    u = np.array([1, 3, 2, 3], np.int64)
    v = np.array([0, 0, 1, 2], np.int64)
    w = np.array([[0, 1, 0, 0], [big, 0, big, big]], np.int64)
    heads, targets = _every_pair(4)
    expected = _exact_pairs(u, v, w, 4, heads, targets)
    assert expected[1, (targets == 0) & (heads == 3)] == [3 * big], "the chain, beyond 2^52"
    for hubs in (0, 1):
        assert np.array_equal(
            PlaceDistances(u, v, w, 4, hubs=hubs).between(heads, targets), expected
        )
    # Weights themselves too big for float64: every search is the exact one.
    huge = w.copy()
    huge[1] *= 4
    expected = _exact_pairs(u, v, huge, 4, heads, targets)
    assert np.array_equal(PlaceDistances(u, v, huge, 4).between(heads, targets), expected)
