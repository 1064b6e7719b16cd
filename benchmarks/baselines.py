"""Baselines the exact lexicographic flow is benchmarked against, and the objective they share.

Both baselines read the problem from a built :class:`matcher.placement.PlacementNetwork` and the
level costs of :func:`matcher.placement.level_costs`, so eligibility, capacities and prices are
exactly those the flow sees:

* :func:`greedy` places children one at a time, in the order given, each to its best option
  that still has room at every capacity level (year group or provision, then setting total).
* :func:`lsa` solves the seat-expanded assignment problem with
  ``scipy.optimize.linear_sum_assignment`` under one weighted scalar cost. Seats can only stand
  for a single capacity per setting, so it accepts only networks with no year-group or provision
  nodes (see ``simplify_settings`` in ``placement_scale.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from matcher.placement import PlacementNetwork

IntArray = npt.NDArray[np.int64]
FLOAT64_EXACT = 2**53  # integers up to here are exact in float64


@dataclass(frozen=True)
class Objective:
    """The lexicographic objective of a placement, in the flow's own integer units.

    ``preference_cost`` is the flow's level-1 cost over placed children (k-th preference costs
    k-1, a setting the parents did not ask for costs K, the longest preference list); ``tenths``
    is level 2 (journey tenths of a minute) and ``pounds`` level 3 (placement + transport, £/yr).
    """

    placed: int
    preference_cost: int
    first_preferences: int
    tenths: int
    pounds: int

    def key(self) -> tuple[int, int, int, int]:
        """Smaller is better: most placed, then preference cost, then minutes, then pounds."""
        return (-self.placed, self.preference_cost, self.tenths, self.pounds)

    @property
    def minutes(self) -> float:
        return self.tenths / 10


def objective(network: PlacementNetwork, levels: Sequence[IntArray], chosen: IntArray) -> Objective:
    """The objective of ``chosen`` (option index per child, -1 = unplaced).

    ``levels`` must be in the default order (preference, travel, cost).
    """
    used = chosen[chosen >= 0]
    return Objective(
        placed=len(used),
        preference_cost=int(levels[0][used].sum()),
        first_preferences=int((network.arcs.preference_rank[used] == 1).sum()),
        tenths=int(levels[1][used].sum()),
        pounds=int(levels[2][used].sum()),
    )


def chosen_from_flows(network: PlacementNetwork, n_children: int, flows: IntArray) -> IntArray:
    """Option index per child from the flow on the option arcs."""
    chosen = np.full(n_children, -1, np.int64)
    used = np.nonzero(flows[: network.n_options] > 0)[0]
    chosen[network.arcs.child[used]] = used
    return chosen


def _capacity_tree(network: PlacementNetwork, n_children: int) -> tuple[IntArray, IntArray]:
    """Parent node and capacity of every capacity node (parent -1 above the setting totals)."""
    flow = network.flow
    start = network.n_options + n_children
    parent = np.full(flow.n_nodes, -1, np.int64)
    capacity = np.zeros(flow.n_nodes, np.int64)
    parent[flow.tails[start:]] = flow.heads[start:]
    capacity[flow.tails[start:]] = flow.capacities[start:]
    parent[network.sink] = -1
    parent[parent == network.sink] = -1
    return parent, capacity


def check_feasible(network: PlacementNetwork, n_children: int, chosen: IntArray) -> list[str]:
    """Problems with ``chosen``: wrong child on an option, or any capacity exceeded."""
    problems: list[str] = []
    placed = np.nonzero(chosen >= 0)[0]
    if np.any(network.arcs.child[chosen[placed]] != placed):
        problems.append("an option was given to a child it does not belong to")
    parent, capacity = _capacity_tree(network, n_children)
    load = np.zeros(network.flow.n_nodes, np.int64)
    node = network.option_head[chosen[placed]]
    while len(node):
        np.add.at(load, node, 1)
        node = parent[node]
        node = node[node >= 0]
    over = np.nonzero(load > capacity)[0]
    if len(over):
        problems.append(f"{len(over)} capacity node(s) over capacity, e.g. node {int(over[0])}")
    return problems


def greedy(
    network: PlacementNetwork,
    levels: Sequence[IntArray],
    n_children: int,
    child_order: IntArray | None = None,
) -> IntArray:
    """Each child in ``child_order`` (default: input order) to its best option with room.

    Best = lowest preference cost, then minutes, then pounds; ties by option index.
    """
    n_opt = network.n_options
    arcs = network.arcs
    order = np.arange(n_children) if child_order is None else np.asarray(child_order)
    position = np.empty(n_children, np.int64)
    position[order] = np.arange(n_children)
    ranked = np.lexsort(
        (
            np.arange(n_opt),
            levels[2][:n_opt],
            levels[1][:n_opt],
            levels[0][:n_opt],
            position[arcs.child],
        )
    )
    parent, capacity = _capacity_tree(network, n_children)
    # The chain of capacity nodes above each option's head, as Python tuples for a fast loop.
    heads = network.option_head
    chains: dict[int, tuple[int, ...]] = {}
    for h in np.unique(heads).tolist():
        chain = [h]
        while parent[chain[-1]] >= 0:
            chain.append(int(parent[chain[-1]]))
        chains[h] = tuple(chain)
    left = capacity.tolist()
    owner = arcs.child[ranked].tolist()
    head_of = heads[ranked].tolist()
    chosen = np.full(n_children, -1, np.int64)
    placed_child = -1
    for option, child, head in zip(ranked.tolist(), owner, head_of, strict=True):
        if child == placed_child:
            continue
        path = chains[head]
        if all(left[node] > 0 for node in path):
            for node in path:
                left[node] -= 1
            chosen[child] = option
            placed_child = child
    return chosen


@dataclass(frozen=True)
class LsaWeights:
    """One scalar cost per (child, seat): the levels folded with weights."""

    unplaced: float
    preference: float
    tenth_minute: float
    pound: float
    exact: bool  # True when the weights make the scalar optimum the lexicographic one


def lsa_weights(
    network: PlacementNetwork, levels: Sequence[IntArray], n_children: int
) -> LsaWeights:
    """Exact lexicographic weights where float64 can hold them, else placed-exact weights.

    Exact weights need each level to outweigh the largest possible *total* of the levels below
    it, so the largest total grows like n⁴ and passes 2⁵³ (float64's exact integers) already at
    a few hundred children. The fallback keeps the top level exact (leaving a child unplaced
    outweighs every other child's whole cost, so the most children are placed) and weights the
    levels below per option: one preference step outweighs any single option's minutes and
    pounds, one tenth of a minute any single option's pounds. That is not lexicographic over
    totals: a scalar solver may trade one child's preference for minutes saved across many.
    """
    n_opt = network.n_options
    arcs = network.arcs
    tenths, pounds = (np.asarray(level[:n_opt]) for level in levels[1:3])
    k = max(int(arcs.preference_rank.max(initial=0)), 1)

    def per_child_max(values: IntArray) -> int:
        out = np.zeros(n_children, np.int64)
        np.maximum.at(out, arcs.child, values)
        return int(out.sum())

    w_tenth = per_child_max(pounds) + 1
    w_pref = w_tenth * (per_child_max(tenths) + 1)
    w_unplaced = w_pref * (n_children * k + 1)
    if w_unplaced * n_children < FLOAT64_EXACT:
        return LsaWeights(float(w_unplaced), float(w_pref), float(w_tenth), 1.0, exact=True)
    w_tenth = int(pounds.max(initial=0)) + 1
    w_pref = w_tenth * (int(tenths.max(initial=0)) + 1)
    # A placed child costs less than (k + 1) preference steps, so n (k + 1) steps bound the rest.
    w_unplaced = w_pref * (n_children * (k + 1) + 1)
    return LsaWeights(float(w_unplaced), float(w_pref), float(w_tenth), 1.0, exact=False)


def seat_count(network: PlacementNetwork, n_settings: int, n_children: int) -> IntArray:
    """Seats per setting: its places left, but no more than the children eligible for it."""
    _, capacity = _capacity_tree(network, n_children)
    eligible = np.bincount(network.arcs.setting, minlength=n_settings)
    return np.minimum(capacity[n_children : n_children + n_settings], eligible).astype(np.int64)


def lsa_cells(network: PlacementNetwork, n_settings: int, n_children: int) -> int:
    return n_children * int(seat_count(network, n_settings, n_children).sum())


def lsa(
    network: PlacementNetwork,
    levels: Sequence[IntArray],
    n_children: int,
    n_settings: int,
    weights: LsaWeights,
) -> IntArray:
    """Seat-expanded assignment: rows are children, columns are seats.

    Each setting's places become that many identical seats (capped at the children eligible
    for it, which loses nothing). A child may sit only in seats of settings it is eligible for;
    every other cell costs the unplaced weight, so a child matched to such a seat is unplaced.
    That stands in for one "unplaced" dummy column per child without doubling the matrix: with
    at least as many seats as children every row is matched, and with fewer the unmatched rows
    are a constant count.
    """
    arcs = network.arcs
    n_opt = network.n_options
    if np.any(network.option_head != n_children + arcs.setting.astype(np.int64)):
        raise ValueError("seat expansion needs a network with only setting totals")
    seats = seat_count(network, n_settings, n_children)
    seat_start = np.concatenate([[0], np.cumsum(seats)])
    cost = (
        weights.preference * levels[0][:n_opt].astype(np.float64)
        + weights.tenth_minute * levels[1][:n_opt].astype(np.float64)
        + weights.pound * levels[2][:n_opt].astype(np.float64)
    )
    matrix = np.full((n_children, int(seat_start[-1])), weights.unplaced, np.float64)
    by_setting = np.argsort(arcs.setting, kind="stable")
    bounds = np.searchsorted(arcs.setting[by_setting], np.arange(n_settings + 1))
    for j in range(n_settings):
        if seats[j] == 0:
            continue
        options = by_setting[bounds[j] : bounds[j + 1]]
        block = matrix[:, seat_start[j] : seat_start[j + 1]]
        block[arcs.child[options], :] = cost[options, None]
    rows, cols = linear_sum_assignment(matrix)
    del matrix
    seat_setting = np.repeat(np.arange(n_settings), seats)
    # In a totals-only network each (child, setting) pair has at most one option.
    pair = arcs.child.astype(np.int64) * n_settings + arcs.setting
    pair_order = np.argsort(pair, kind="stable")
    wanted = rows.astype(np.int64) * n_settings + seat_setting[cols]
    at = np.searchsorted(pair[pair_order], wanted)
    at = np.minimum(at, len(pair_order) - 1)
    hit = pair[pair_order[at]] == wanted if len(pair_order) else np.zeros(len(rows), bool)
    chosen = np.full(n_children, -1, np.int64)
    chosen[rows[hit]] = pair_order[at[hit]]
    return chosen
