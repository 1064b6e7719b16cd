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

Every function takes the levels as :func:`~matcher.placement.level_costs` returns them for
``order`` (default: travel before cost) and reads them by name, so a caller that solved with
``("cost", "travel")`` passes that order and still gets minutes and pounds right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from matcher.placement import ObjectiveLevel, PlacementNetwork, level_names

IntArray = npt.NDArray[np.int64]
FLOAT64_EXACT = 2**53  # integers up to here are exact in float64
DEFAULT_ORDER: tuple[ObjectiveLevel, ObjectiveLevel] = ("travel", "cost")


@dataclass(frozen=True)
class Objective:
    """The lexicographic objective of a placement, in the flow's own integer units.

    One field per level of :func:`matcher.placement.level_costs`: children placed, children whose
    parents named settings and got none of them (``preferences_unmet``), the total of preference
    ranks (a k-th preference costs k-1, ``rank_cost``), journey tenths of a minute and pounds a
    year (placement + transport). ``first_preferences`` is reported, not optimised.
    """

    placed: int
    preferences_unmet: int
    rank_cost: int
    first_preferences: int
    tenths: int
    pounds: int

    def key(self) -> tuple[int, int, int, int, int]:
        """Smaller is better, in the flow's default level order (travel before cost)."""
        return (-self.placed, self.preferences_unmet, self.rank_cost, self.tenths, self.pounds)

    def level_objectives(self, n_children: int) -> tuple[int, int, int, int, int]:
        """The five level totals as the flow reports them (unplaced children first)."""
        return (n_children - self.placed, self.preferences_unmet, self.rank_cost, *self.key()[3:])

    @property
    def minutes(self) -> float:
        return self.tenths / 10


def named_levels(
    levels: Sequence[IntArray], order: Sequence[ObjectiveLevel] = DEFAULT_ORDER
) -> dict[str, IntArray]:
    """``levels`` by name, so nothing below depends on where travel and cost sit."""
    names = level_names(order)
    if len(levels) != len(names):
        msg = f"expected {len(names)} levels ({', '.join(names)}), got {len(levels)}"
        raise ValueError(msg)
    return dict(zip(names, levels, strict=True))


def plan_arcs(network: PlacementNetwork, chosen: IntArray) -> IntArray:
    """The arcs a plan uses out of each child: its option, or the child's unplaced arc."""
    unplaced = np.nonzero(chosen < 0)[0]
    return np.concatenate([chosen[chosen >= 0], network.n_options + unplaced])


def objective(
    network: PlacementNetwork,
    levels: Sequence[IntArray],
    chosen: IntArray,
    order: Sequence[ObjectiveLevel] = DEFAULT_ORDER,
) -> Objective:
    """The objective of ``chosen`` (option index per child, -1 = unplaced), level by level.

    Sums each level's arc costs over the arcs the plan uses, the unplaced arcs included (they
    carry the "preference met" level for children whose parents named settings), exactly as the
    flow's level objectives are summed; capacity arcs cost nothing at any level.
    """
    by_name = named_levels(levels, order)
    used = plan_arcs(network, chosen)
    total = {name: int(costs[used].sum()) for name, costs in by_name.items()}
    placed = int((chosen >= 0).sum())
    if total["placed"] != len(chosen) - placed:
        msg = f"the placed level counts {total['placed']} unplaced, the plan {len(chosen) - placed}"
        raise ValueError(msg)
    return Objective(
        placed=placed,
        preferences_unmet=total["preference_met"],
        rank_cost=total["preference_rank"],
        first_preferences=int((network.arcs.preference_rank[chosen[chosen >= 0]] == 1).sum()),
        tenths=total["travel"],
        pounds=total["cost"],
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
    order: Sequence[ObjectiveLevel] = DEFAULT_ORDER,
) -> IntArray:
    """Each child in ``child_order`` (default: input order) to its best option with room.

    Best by the flow's levels below "placed" (any option with room beats leaving the child
    unplaced): a preference before any other setting, then the lower rank, then the later
    levels in ``order``; ties by option index.
    """
    n_opt = network.n_options
    arcs = network.arcs
    by_name = named_levels(levels, order)
    child_order = np.arange(n_children) if child_order is None else np.asarray(child_order)
    position = np.empty(n_children, np.int64)
    position[child_order] = np.arange(n_children)
    # np.lexsort sorts by its last key first.
    keys = [by_name[name][:n_opt] for name in reversed(level_names(order)[1:])]
    ranked = np.lexsort((np.arange(n_opt), *keys, position[arcs.child]))
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
    """One weight per level, in :func:`matcher.placement.level_names` order, folded to a scalar."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    exact: bool  # True when the weights make the scalar optimum the lexicographic one

    def of(self, name: str) -> float:
        return self.weights[self.names.index(name)]


def lsa_weights(
    network: PlacementNetwork,
    levels: Sequence[IntArray],
    n_children: int,
    order: Sequence[ObjectiveLevel] = DEFAULT_ORDER,
) -> LsaWeights:
    """Exact lexicographic weights where float64 can hold them, else placed-exact weights.

    Exact weights, from the last level up: each level's weight exceeds the largest weighted
    total of all the levels below it in any plan, so one child placed outweighs every
    unmet family, ranks, minutes and pounds together; one family's preference met outweighs
    all ranks, minutes and pounds; and so on. The largest total of a level is the sum over
    children of their costliest arc (the unplaced arc included) at that level. The product grows
    like n⁵ and passes 2⁵³ (float64's exact integers) long before a real caseload.

    The fallback keeps the top level exact (an unplaced child outweighs every other level's
    total, so the most children are placed) and weights each level below per option: one unmet
    family outweighs any single option's rank, minutes and pounds, one rank step any option's
    minutes and pounds, one tenth of a minute any option's pounds. That is not lexicographic
    over totals: a scalar solver may trade one family's preference for minutes saved across many.
    """
    names = level_names(order)
    child_arcs = network.n_options + n_children
    tails = network.flow.tails[:child_arcs]
    costs = [np.asarray(level[:child_arcs]) for level in named_levels(levels, order).values()]

    def largest_total(values: IntArray) -> int:
        out = np.zeros(n_children, np.int64)
        np.maximum.at(out, tails, values)
        return int(out.sum())

    spans = [largest_total(c) for c in costs]
    weights = _level_weights(spans)
    if weights[0] * (spans[0] + 1) < FLOAT64_EXACT:
        return LsaWeights(names, tuple(map(float, weights)), exact=True)
    weights = _level_weights([int(c.max(initial=0)) for c in costs])
    # Below "placed", one arc weighs less than two unmet-family steps, so every child together
    # less than 2n of them: one child placed outweighs that.
    weights[0] = weights[1] * (2 * n_children + 1)
    return LsaWeights(names, tuple(map(float, weights)), exact=False)


def _level_weights(spans: Sequence[int]) -> list[int]:
    """Weights, top level first, for levels whose costs range over 0..spans[i].

    The last level weighs 1 and each level above weighs the one below times (that one's span
    + 1), so one unit of a level outweighs all the levels below it at their largest.
    """
    weights = [1]
    for span in reversed(spans[1:]):
        weights.append(weights[-1] * (span + 1))
    return weights[::-1]


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
    for it, which loses nothing). Every cell is priced relative to leaving its child unplaced:
    a child's own options cost their weighted levels minus the child's weighted unplaced arc,
    and every other cell costs 0, so a child matched to such a seat, or to no seat when there
    are fewer seats than children, is unplaced. The scalar total is then the plan's weighted
    objective less a constant (every child's unplaced cost), whatever the matrix's shape: that
    stands in for one "unplaced" dummy column per child without doubling the matrix, even
    though the unplaced cost differs between children with and without preferences.
    """
    arcs = network.arcs
    n_opt = network.n_options
    if np.any(network.option_head != n_children + arcs.setting.astype(np.int64)):
        raise ValueError("seat expansion needs a network with only setting totals")
    seats = seat_count(network, n_settings, n_children)
    seat_start = np.concatenate([[0], np.cumsum(seats)])
    weighted = np.zeros(n_opt + n_children, np.float64)
    for w, costs in zip(weights.weights, levels, strict=True):
        weighted += w * np.asarray(costs[: n_opt + n_children], np.float64)
    cost = weighted[:n_opt] - weighted[n_opt + arcs.child.astype(np.int64)]
    matrix = np.zeros((n_children, int(seat_start[-1])), np.float64)
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
