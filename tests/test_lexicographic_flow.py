from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.lexicographic_flow import (
    FlowError,
    FlowNetwork,
    node_potentials,
    solve_lexicographic,
)


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
