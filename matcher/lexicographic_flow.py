"""Exact lexicographic min-cost flow on OR-Tools' ``SimpleMinCostFlow``.

A single weighted objective cannot rank "placed > preference > minutes > pounds" exactly for a
whole LA: the weights would need ~n⁴ headroom and overflow int64 long before 25,000 children
(and OR-Tools' cost scaling multiplies costs by the node count on top). Instead each level is
solved in turn, and between levels the network is cut down to the previous level's optimal
face: with optimal node potentials π, complementary slackness says every optimal flow leaves an
arc of positive reduced cost empty and fills one of negative reduced cost, so those arcs are
fixed and only zero-reduced-cost arcs stay free. Each level then has small integer costs, and
the potentials are kept: they are the duals the tailored lists price options with.

A level that only counts units sent down "bypass" arcs (the placement's first level: one per
child left unplaced) is a maximum flow in disguise, and is solved as one: OR-Tools' max flow
takes a tenth of the time its cost-scaling min-cost flow takes on the same network. See
:func:`_bypass_level`.

OR-Tools is imported at the first solve, not with this module: loading its library takes
40 ms that a command should not pay before it starts reading its files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class FlowError(RuntimeError):
    """The solver could not prove an optimum (a bug or an inconsistent network, never input)."""


@dataclass(frozen=True)
class FlowNetwork:
    """Arcs (tail → head, capacity) and node supplies (positive = source)."""

    n_nodes: int
    tails: IntArray
    heads: IntArray
    capacities: IntArray
    supplies: IntArray


@dataclass(frozen=True)
class LexicographicSolution:
    flows: IntArray
    level_objectives: tuple[int, ...]
    # Optimal node potentials of each level, on that level's restricted face. Together they make
    # every residual arc's reduced-cost vector lexicographically non-negative.
    level_potentials: tuple[IntArray, ...]
    free: npt.NDArray[np.bool_]  # arcs still free (zero reduced cost) at every earlier level
    # False when the last level's potentials were not asked for (``priced=False``): then
    # ``level_potentials`` holds every level's but the last.
    priced: bool = True

    @property
    def potentials(self) -> IntArray:
        if not self.priced:
            raise ValueError("the last level's potentials were not computed (priced=False)")
        return self.level_potentials[-1]


def _solve_level(network: FlowNetwork, costs: IntArray, capacities: IntArray) -> IntArray:
    """One level's optimal flow; arcs pinned to zero by earlier levels are left out."""
    live = np.nonzero(capacities > 0)[0]
    bypass = _bypass_level(network, costs, capacities, live)
    if bypass is not None:
        return _max_flow_level(network, capacities, live, bypass)
    flows = np.zeros(len(network.tails), dtype=np.int64)
    forced, supplies = _forced_arcs(network, capacities, live)
    flows[forced] = network.supplies[network.tails[forced]]
    live = np.setdiff1d(live, forced, assume_unique=True)
    # Only the nodes the solver still sees, numbered afresh: its work grows with them.
    node = np.zeros(network.n_nodes, bool)
    node[network.tails[live]] = True
    node[network.heads[live]] = True
    node[supplies != 0] = True
    number = np.cumsum(node) - 1
    from ortools.graph.python import min_cost_flow  # at the first solve: see module docstring

    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(
        number[network.tails[live]], number[network.heads[live]], capacities[live], costs[live]
    )
    solver.set_nodes_supplies(np.arange(int(node.sum())), supplies[node])
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise FlowError(f"min-cost flow ended with status {status!r}")
    flows[live] = solver.flows(np.arange(len(live)))
    return flows


def _forced_arcs(
    network: FlowNetwork, capacities: IntArray, live: IntArray
) -> tuple[IntArray, IntArray]:
    """Arcs every feasible flow fills with their tail's supply, and the supplies without them.

    A source no arc enters and one arc leaves must send its whole supply down that arc: once
    the earlier levels have fixed most children's choices, many children are such sources, and
    leaving them to the solver would only slow it down.
    """
    tails = network.tails[live]
    degree_out = np.bincount(tails, minlength=network.n_nodes)
    degree_in = np.bincount(network.heads[live], minlength=network.n_nodes)
    supplies = network.supplies
    single = (degree_out[tails] == 1) & (degree_in[tails] == 0) & (supplies[tails] > 0)
    forced = live[single & (capacities[live] >= supplies[tails])]
    moved = supplies[network.tails[forced]]
    supplies = supplies.copy()
    supplies[network.tails[forced]] -= moved
    np.add.at(supplies, network.heads[forced], moved)
    return forced, supplies


def _bypass_level(
    network: FlowNetwork, costs: IntArray, capacities: IntArray, live: IntArray
) -> npt.NDArray[np.bool_] | None:
    """Which live arcs cost, if this level only counts flow that bypasses the network.

    That is: one node takes all the demand; every node with supply has no arc in and a costly
    arc (or several) straight to that node, with room for its whole supply; and every costly
    arc is one of these, at one price. A flow's cost is then that price times the supply the
    free arcs do not carry, so the optimum is a maximum flow over the free arcs, the rest sent
    by bypass. The placement's first level has this shape: every child is a source with an
    "unplaced" arc to the sink. None when the level has another shape.
    """
    level = costs[live]
    if len(live) == 0 or level.min() < 0 or not level.any():
        return None
    priced = level > 0
    demand = np.flatnonzero(network.supplies < 0)
    if len(demand) != 1 or network.supplies.sum() != 0 or np.ptp(level[priced]) != 0:
        return None
    tails, heads = network.tails[live[priced]], network.heads[live[priced]]
    sources = np.flatnonzero(network.supplies > 0)
    entered = np.zeros(network.n_nodes, bool)
    entered[network.heads[live]] = True
    room = np.bincount(tails, weights=capacities[live[priced]], minlength=network.n_nodes)
    if (
        np.any(heads != demand[0])
        or np.any(entered[sources])
        or np.any(network.supplies[tails] <= 0)
        or np.any(room[sources] < network.supplies[sources])
    ):
        return None
    return priced


def _max_flow_level(
    network: FlowNetwork, capacities: IntArray, live: IntArray, bypass: npt.NDArray[np.bool_]
) -> IntArray:
    """A :func:`_bypass_level`: most flow over the free arcs, each source's rest by bypass."""
    free_arcs, bypass_arcs = live[~bypass], live[bypass]
    sources = np.flatnonzero(network.supplies > 0)
    root = network.n_nodes
    from ortools.graph.python import max_flow  # at the first solve: see module docstring

    solver = max_flow.SimpleMaxFlow()
    solver.add_arcs_with_capacity(
        np.concatenate([network.tails[free_arcs], np.full(len(sources), root)]),
        np.concatenate([network.heads[free_arcs], sources]),
        np.concatenate([capacities[free_arcs], network.supplies[sources]]),
    )
    status = solver.solve(root, int(np.flatnonzero(network.supplies < 0)[0]))
    if status != solver.OPTIMAL:
        raise FlowError(f"max flow ended with status {status!r}")
    flows = np.zeros(len(network.tails), dtype=np.int64)
    flows[free_arcs] = solver.flows(np.arange(len(free_arcs)))
    left = network.supplies.copy()
    left[sources] -= solver.flows(np.arange(len(free_arcs), len(free_arcs) + len(sources)))
    # Each source's rest down its bypass arcs in turn, each up to its capacity.
    bypass_arcs = bypass_arcs[np.argsort(network.tails[bypass_arcs], kind="stable")]
    tail, room = network.tails[bypass_arcs], capacities[bypass_arcs]
    before = np.cumsum(room) - room
    starts = np.flatnonzero(np.r_[True, tail[1:] != tail[:-1]])
    before -= np.repeat(before[starts], np.diff(np.r_[starts, len(tail)]))
    flows[bypass_arcs] = np.clip(left[tail] - before, 0, room)
    return flows


def node_potentials(
    network: FlowNetwork, costs: IntArray, capacities: IntArray, flows: IntArray
) -> IntArray:
    """Optimal duals as shortest distances in the residual graph from a virtual root.

    Label-correcting (queue-based Bellman-Ford) in numpy: each round relaxes only the arcs
    leaving nodes whose distance changed in the round before. The residual graph of an optimal
    flow has no negative cycle, so this ends; a round count beyond the node count means the
    flow was not optimal.
    """
    return _ResidualArcs.of(network).potentials(costs, capacities, flows)


@dataclass(frozen=True)
class _ResidualArcs:
    """Every arc in both directions, sorted by the node it leaves, once for all levels.

    A level's residual graph is a subset of these (forward where the arc has room, backward
    where it carries flow), taken in this order, so no level sorts arcs again.
    """

    n_nodes: int
    entry: npt.NDArray[np.int32]  # arc, or n_arcs + arc for its backward direction
    arc: npt.NDArray[np.int32]  # the network arc each entry runs along
    backward: npt.NDArray[np.bool_]
    tail: npt.NDArray[np.int32]
    head: npt.NDArray[np.int32]

    @classmethod
    def of(cls, network: FlowNetwork) -> _ResidualArcs:
        n_arcs = len(network.tails)
        ends = np.concatenate([network.tails, network.heads]).astype(np.int32)
        entry = _stable_order(ends).astype(np.int32)
        backward = entry >= n_arcs
        return cls(
            network.n_nodes,
            entry,
            np.where(backward, entry - n_arcs, entry),
            backward,
            ends[entry],
            ends[np.where(backward, entry - n_arcs, entry + n_arcs)],
        )

    def potentials(self, costs: IntArray, capacities: IntArray, flows: IntArray) -> IntArray:
        """:func:`node_potentials` of an optimal ``flows``."""
        # Which directions have room, decided per arc and then looked up as bytes: cheaper than
        # gathering flows and capacities for both directions of every arc.
        room = np.concatenate([flows < capacities, flows > 0])
        keep = np.flatnonzero(room[self.entry])
        r_tail, r_head = self.tail[keep], self.head[keep]
        r_cost = costs[self.arc[keep]]
        r_cost = np.where(self.backward[keep], -r_cost, r_cost)
        out_start = np.searchsorted(r_tail, np.arange(self.n_nodes + 1))

        dist = np.zeros(self.n_nodes, dtype=np.int64)
        changed = np.zeros(self.n_nodes, dtype=bool)
        changed[r_tail] = True
        active = np.flatnonzero(changed)
        for _ in range(self.n_nodes + 1):
            if len(active) == 0:
                return dist
            starts, stops = out_start[active], out_start[active + 1]
            counts = stops - starts
            arc = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            heads = r_head[arc]
            candidate = dist[r_tail[arc]] + r_cost[arc]
            better = candidate < dist[heads]
            heads, candidate = heads[better], candidate[better]
            if len(heads) == 0:
                return dist
            np.minimum.at(dist, heads, candidate)
            changed[:] = False
            changed[heads] = True
            active = np.flatnonzero(changed)
        raise FlowError("negative cycle in the residual graph: the flow was not optimal")


def _stable_order(nodes: npt.NDArray[np.int32]) -> IntArray:
    """A stable argsort of node numbers (below 2³²): two 16-bit passes, which numpy radix-sorts
    in linear time, rather than a comparison sort of millions of arcs."""
    order = np.argsort((nodes & 0xFFFF).astype(np.uint16), kind="stable")
    high = (nodes[order] >> 16).astype(np.uint16)
    return order[np.argsort(high, kind="stable")] if high.any() else order


def solve_lexicographic(
    network: FlowNetwork,
    level_costs: Sequence[IntArray],
    *,
    on_level: Callable[[int, int], None] | None = None,
    priced: bool = True,
) -> LexicographicSolution:
    """Minimise ``level_costs[0]``, then ``[1]`` among its optima, and so on.

    ``on_level(level, arcs)`` is called as each level starts, with the number of arcs still
    free for it (benchmarks time the levels with it). ``priced=False`` skips the last level's
    potentials, which only pricing (tailored lists, site choice) reads: a plan alone needs
    the earlier levels' to fix each level's optimal face.
    """
    if not level_costs:
        raise ValueError("at least one level of costs is needed")
    capacities = network.capacities.copy()
    supplies = network.supplies.copy()
    fixed = np.zeros(len(network.tails), dtype=np.int64)
    free = np.ones(len(network.tails), dtype=bool)
    objectives: list[int] = []
    potentials: list[IntArray] = []
    residual = _ResidualArcs.of(network)
    flows = fixed
    for level, costs in enumerate(level_costs):
        if on_level is not None:
            on_level(level, int(np.count_nonzero(capacities)))
        costs = np.asarray(costs, dtype=np.int64)
        stage = FlowNetwork(network.n_nodes, network.tails, network.heads, capacities, supplies)
        stage_flows = _solve_level(stage, costs, capacities)
        flows = fixed + stage_flows
        objectives.append(int((costs * flows).sum()))
        last = level == len(level_costs) - 1
        if priced or not last:
            potentials.append(residual.potentials(costs, capacities, stage_flows))
        if last:
            break
        reduced = costs + potentials[-1][network.tails] - potentials[-1][network.heads]
        saturate = free & (reduced < 0)
        np.add.at(supplies, network.tails[saturate], -capacities[saturate])
        np.add.at(supplies, network.heads[saturate], capacities[saturate])
        fixed = fixed + np.where(saturate, capacities, 0)
        pinned = free & (reduced != 0)
        capacities = np.where(pinned, 0, capacities)
        free &= ~pinned
    return LexicographicSolution(flows, tuple(objectives), tuple(potentials), free, priced)
