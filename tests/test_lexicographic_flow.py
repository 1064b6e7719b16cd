from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.graph.python import min_cost_flow

from matcher.lexicographic_flow import (
    FlowError,
    FlowNetwork,
    node_potentials,
    solve_lexicographic,
)
from tests.lexicographic_reference import reference_solve_lexicographic


@st.composite
def assignment_networks(draw: st.DrawFn) -> tuple[FlowNetwork, list[np.ndarray]]:
    """Bipartite transport networks: sources → pools (capacitated) → sink, plus a bypass."""
    n_src = draw(st.integers(1, 4))
    n_pool = draw(st.integers(1, 3))
    sink = n_src + n_pool
    tails, heads, caps = [], [], []
    for i in range(n_src):
        for j in range(n_pool):
            if draw(st.booleans()):
                tails.append(i)
                heads.append(n_src + j)
                caps.append(1)
        tails.append(i)
        heads.append(sink)  # "unplaced" bypass keeps every instance feasible
        caps.append(1)
    for j in range(n_pool):
        tails.append(n_src + j)
        heads.append(sink)
        caps.append(draw(st.integers(0, 3)))
    supplies = np.zeros(sink + 1, np.int64)
    supplies[:n_src] = 1
    supplies[sink] = -n_src
    net = FlowNetwork(
        sink + 1,
        np.array(tails, np.int64),
        np.array(heads, np.int64),
        np.array(caps, np.int64),
        supplies,
    )
    levels = [
        np.array(draw(st.lists(st.integers(-5, 9), min_size=len(tails), max_size=len(tails))))
        for _ in range(draw(st.integers(1, 3)))
    ]
    return net, levels


def _brute(net: FlowNetwork, levels: list[np.ndarray]) -> tuple[int, ...]:
    """Every 0/1 flow (capacities are small) that conserves flow; best level tuple."""
    best: tuple[int, ...] | None = None
    ranges = [range(int(c) + 1) for c in net.capacities]
    for flows in itertools.product(*ranges):
        f = np.array(flows)
        balance = np.zeros(net.n_nodes, np.int64)
        np.add.at(balance, net.tails, f)
        np.add.at(balance, net.heads, -f)
        if not np.array_equal(balance, net.supplies):
            continue
        value = tuple(int((lv * f).sum()) for lv in levels)
        if best is None or value < best:
            best = value
    assert best is not None
    return best


@settings(max_examples=80, deadline=None)
@given(assignment_networks())
def test_levels_equal_brute_force_lexicographic_optimum(
    case: tuple[FlowNetwork, list[np.ndarray]],
) -> None:
    net, levels = case
    if np.prod([int(c) + 1 for c in net.capacities], dtype=float) > 200_000:
        return  # too many flows to enumerate; other examples cover the property
    solution = solve_lexicographic(net, levels)
    assert solution.level_objectives == _brute(net, levels)


@settings(max_examples=40, deadline=None)
@given(assignment_networks())
def test_a_plan_without_prices_is_the_same_plan(
    case: tuple[FlowNetwork, list[np.ndarray]],
) -> None:
    net, levels = case
    priced = solve_lexicographic(net, levels)
    plan = solve_lexicographic(net, levels, priced=False)
    assert np.array_equal(plan.flows, priced.flows)
    assert plan.level_objectives == priced.level_objectives
    assert len(plan.level_potentials) == len(levels) - 1
    with pytest.raises(ValueError, match="priced=False"):
        _ = plan.potentials


@settings(max_examples=80, deadline=None)
@given(assignment_networks())
def test_potentials_price_every_residual_arc_non_negatively(
    case: tuple[FlowNetwork, list[np.ndarray]],
) -> None:
    net, levels = case
    solution = solve_lexicographic(net, levels[:1])
    pi = node_potentials(net, levels[0], net.capacities, solution.flows)
    reduced = levels[0] + pi[net.tails] - pi[net.heads]
    assert np.all(reduced[solution.flows < net.capacities] >= 0)
    assert np.all(reduced[solution.flows > 0] <= 0)


def test_non_optimal_flow_is_detected() -> None:
    # Two parallel arcs; sending the flow on the dearer one leaves a negative residual cycle.
    net = FlowNetwork(
        2,
        np.array([0, 0, 1]),
        np.array([1, 1, 0]),
        np.array([1, 1, 1]),
        np.array([0, 0]),
    )
    costs = np.array([5, 1, 0])
    with pytest.raises(FlowError):
        node_potentials(net, costs, net.capacities, np.array([1, 0, 1]))


# --- Placement-shaped networks: the bypass level, forced arcs, against the plain solver -------


def placement_network(
    rng: np.random.Generator,
    n_children: int,
    n_pools: int,
    *,
    density: float = 0.4,
    twist: str = "",
) -> tuple[FlowNetwork, list[np.ndarray]]:
    """Children (supply 1, an "unplaced" arc to the sink) → year pools → settings → sink.

    Level 0 counts children left unplaced, as the placement's does; the levels after it are
    random small costs. ``twist`` bends the shape so that the max-flow shortcut must not apply
    (or must cope): "entering" gives a child an arc in, "two prices" prices bypass arcs
    differently, "two sinks" splits the demand, "short bypass" leaves a child's bypass arc too
    small for its supply, "double" gives some children supply 2 and room for both, "split"
    the same room as two bypass arcs.
    """
    n_settings = max(1, n_pools // 2)
    pool0, setting0 = n_children, n_children + n_pools
    sink = setting0 + n_settings
    n_nodes = sink + 1 + (1 if twist == "two sinks" else 0)
    tails, heads, caps = [], [], []
    supplies = np.zeros(n_nodes, np.int64)
    for i in range(n_children):
        supplies[i] = 2 if twist in ("double", "split") and i % 3 == 0 else 1
        chosen = np.flatnonzero(rng.random(n_pools) < density)
        for p in chosen:
            tails.append(i), heads.append(pool0 + p), caps.append(int(supplies[i]))
    option_arcs = len(tails)
    if twist == "short bypass":  # child 0 sends 2: 1 by bypass, 1 by a free direct arc
        supplies[0] = 2
        tails.append(0), heads.append(sink), caps.append(1)
        option_arcs += 1
    for i in range(n_children):
        room = 1 if twist == "short bypass" and i == 0 else int(supplies[i])
        for share in [1] * room if twist == "split" else [room]:
            tails.append(i), heads.append(sink), caps.append(share)
    n_bypass = len(tails) - option_arcs
    for p in range(n_pools):
        tails.append(pool0 + p), heads.append(setting0 + p % n_settings)
        caps.append(int(rng.integers(0, 4)))
    for s in range(n_settings):
        tails.append(setting0 + s), heads.append(sink), caps.append(int(rng.integers(1, 6)))
    supplies[sink] = -supplies[:n_children].sum()
    if twist == "entering" and n_children > 1:
        tails.append(1), heads.append(0), caps.append(1)
    if twist == "two sinks":
        tails.append(sink), heads.append(sink + 1), caps.append(1)
        supplies[sink] += 1
        supplies[sink + 1] = -1
    net = FlowNetwork(
        n_nodes,
        np.array(tails, np.int64),
        np.array(heads, np.int64),
        np.array(caps, np.int64),
        supplies,
    )
    unplaced = np.zeros(len(tails), np.int64)
    unplaced[option_arcs : option_arcs + n_bypass] = 1
    if twist == "two prices":
        unplaced[option_arcs] = 2
    levels = [unplaced]
    for _ in range(int(rng.integers(1, 4))):
        level = np.zeros(len(tails), np.int64)
        level[:option_arcs] = rng.integers(0, 6, option_arcs)
        levels.append(level)
    return net, levels


def _lexicographically_non_negative(vectors: np.ndarray) -> np.ndarray:
    """Per column: is the first non-zero entry positive (or is the column all zero)?"""
    nonzero = vectors != 0
    first = np.argmax(nonzero, axis=0)
    value = vectors[first, np.arange(vectors.shape[1])]
    return ~nonzero.any(axis=0) | (value > 0)


def _check_solution(net: FlowNetwork, levels: list[np.ndarray], solution) -> None:  # type: ignore[no-untyped-def]
    flows = solution.flows
    assert np.all(flows >= 0) and np.all(flows <= net.capacities)
    balance = np.zeros(net.n_nodes, np.int64)
    np.add.at(balance, net.tails, flows)
    np.add.at(balance, net.heads, -flows)
    assert np.array_equal(balance, net.supplies)
    assert solution.level_objectives == tuple(int((lv * flows).sum()) for lv in levels)
    # The duals the tailored lists price with: every residual arc lexicographically priced ≥ 0.
    reduced = np.stack(
        [
            lv + p[net.tails] - p[net.heads]
            for lv, p in zip(levels, solution.level_potentials, strict=True)
        ]
    )
    room, used = flows < net.capacities, flows > 0
    assert np.all(_lexicographically_non_negative(reduced[:, room]))
    assert np.all(_lexicographically_non_negative(-reduced[:, used]))


TWISTS = ["", "double", "split", "entering", "two prices", "two sinks", "short bypass"]


@pytest.mark.parametrize("twist", TWISTS)
@pytest.mark.parametrize("seed", range(8))
def test_placement_shaped_levels_equal_the_plain_solver(seed: int, twist: str) -> None:
    rng = np.random.default_rng(seed)
    net, levels = placement_network(
        rng, int(rng.integers(2, 60)), int(rng.integers(1, 12)), twist=twist
    )
    expected = reference_solve_lexicographic(net, levels)
    solution = solve_lexicographic(net, levels)
    assert solution.level_objectives == expected.level_objectives
    _check_solution(net, levels, solution)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(TWISTS), st.floats(0.05, 0.9))
def test_small_placement_shaped_levels_equal_brute_force(
    seed: int, twist: str, density: float
) -> None:
    rng = np.random.default_rng(seed)
    net, levels = placement_network(rng, int(rng.integers(1, 4)), 2, density=density, twist=twist)
    if np.prod([int(c) + 1 for c in net.capacities], dtype=float) > 200_000:
        return  # too many flows to enumerate; other examples cover the property
    solution = solve_lexicographic(net, levels)
    assert solution.level_objectives == _brute(net, levels)
    _check_solution(net, levels, solution)


def test_a_placement_sized_network_equals_the_plain_solver() -> None:
    """Thousands of children, many forced to one option after the first levels."""
    rng = np.random.default_rng(2025)
    net, levels = placement_network(rng, 3000, 120, density=0.03)
    levels.append(rng.integers(0, 1000, len(net.tails)).astype(np.int64))
    expected = reference_solve_lexicographic(net, levels)
    solution = solve_lexicographic(net, levels)
    assert solution.level_objectives == expected.level_objectives
    _check_solution(net, levels, solution)


def test_the_unplaced_level_is_solved_as_a_maximum_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting children left unplaced needs no costs: a max flow answers it, ten times faster
    than a min-cost flow at LA scale; only the levels after it use the min-cost solver."""
    calls: list[str] = []
    real = min_cost_flow.SimpleMinCostFlow

    def counted() -> object:
        calls.append("min-cost flow")
        return real()

    monkeypatch.setattr(min_cost_flow, "SimpleMinCostFlow", counted)
    net, levels = placement_network(np.random.default_rng(5), 40, 8)
    seen: list[int] = []
    solve_lexicographic(net, levels, on_level=lambda level, arcs: seen.append(level))
    assert seen == list(range(len(levels)))
    assert len(calls) == len(levels) - 1


@pytest.mark.parametrize("twist", ["entering", "two prices", "two sinks", "short bypass"])
def test_other_shapes_are_not_taken_for_a_bypass_level(
    twist: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = min_cost_flow.SimpleMinCostFlow

    def counted() -> object:
        calls.append("min-cost flow")
        return real()

    monkeypatch.setattr(min_cost_flow, "SimpleMinCostFlow", counted)
    net, levels = placement_network(np.random.default_rng(6), 30, 6, twist=twist)
    solution = solve_lexicographic(net, levels)
    assert len(calls) == len(levels)
    assert solution.level_objectives == reference_solve_lexicographic(net, levels).level_objectives
