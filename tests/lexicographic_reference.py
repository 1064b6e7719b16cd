"""The lexicographic solver as first written: a min-cost flow for every level, a reference.

``matcher.lexicographic_flow`` now solves a bypass level as a maximum flow, hands the solver
fewer nodes and sorts the residual arcs once; these are the plain versions it replaced, kept
only so that tests can check both reach the same objective on every level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from matcher.lexicographic_flow import FlowError, FlowNetwork, LexicographicSolution

IntArray = npt.NDArray[np.int64]


def _solve_level(network: FlowNetwork, costs: IntArray, capacities: IntArray) -> IntArray:
    """One min-cost flow; arcs pinned to zero by earlier levels are left out of the solver."""
    live = np.nonzero(capacities > 0)[0]
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(
        network.tails[live], network.heads[live], capacities[live], costs[live]
    )
    solver.set_nodes_supplies(np.arange(network.n_nodes), network.supplies)
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise FlowError(f"min-cost flow ended with status {status!r}")
    flows = np.zeros(len(network.tails), dtype=np.int64)
    flows[live] = solver.flows(np.arange(len(live)))
    return flows


def reference_node_potentials(
    network: FlowNetwork, costs: IntArray, capacities: IntArray, flows: IntArray
) -> IntArray:
    """Optimal duals as shortest distances in the residual graph from a virtual root.

    Label-correcting (queue-based Bellman-Ford) in numpy: each round relaxes only the arcs
    leaving nodes whose distance changed in the round before. The residual graph of an optimal
    flow has no negative cycle, so this ends; a round count beyond the node count means the
    flow was not optimal.
    """
    forward = flows < capacities
    backward = flows > 0
    r_tail = np.concatenate([network.tails[forward], network.heads[backward]])
    r_head = np.concatenate([network.heads[forward], network.tails[backward]])
    r_cost = np.concatenate([costs[forward], -costs[backward]])
    order = np.argsort(r_tail, kind="stable")
    r_tail, r_head, r_cost = r_tail[order], r_head[order], r_cost[order]
    out_start = np.searchsorted(r_tail, np.arange(network.n_nodes + 1))

    dist = np.zeros(network.n_nodes, dtype=np.int64)
    active = np.unique(r_tail)
    for _ in range(network.n_nodes + 1):
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
        active = np.unique(heads)
    raise FlowError("negative cycle in the residual graph: the flow was not optimal")


def reference_solve_lexicographic(
    network: FlowNetwork, level_costs: Sequence[IntArray]
) -> LexicographicSolution:
    """Minimise ``level_costs[0]``, then ``[1]`` among its optima, and so on."""
    if not level_costs:
        raise ValueError("at least one level of costs is needed")
    capacities = network.capacities.copy()
    supplies = network.supplies.copy()
    fixed = np.zeros(len(network.tails), dtype=np.int64)
    free = np.ones(len(network.tails), dtype=bool)
    objectives: list[int] = []
    potentials: list[IntArray] = []
    flows = fixed
    for level, costs in enumerate(level_costs):
        costs = np.asarray(costs, dtype=np.int64)
        stage = FlowNetwork(network.n_nodes, network.tails, network.heads, capacities, supplies)
        stage_flows = _solve_level(stage, costs, capacities)
        flows = fixed + stage_flows
        objectives.append(int((costs * flows).sum()))
        potentials.append(reference_node_potentials(stage, costs, capacities, stage_flows))
        if level == len(level_costs) - 1:
            break
        reduced = costs + potentials[-1][network.tails] - potentials[-1][network.heads]
        saturate = free & (reduced < 0)
        np.add.at(supplies, network.tails[saturate], -capacities[saturate])
        np.add.at(supplies, network.heads[saturate], capacities[saturate])
        fixed = fixed + np.where(saturate, capacities, 0)
        pinned = free & (reduced != 0)
        capacities = np.where(pinned, 0, capacities)
        free &= ~pinned
    return LexicographicSolution(flows, tuple(objectives), tuple(potentials), free)
