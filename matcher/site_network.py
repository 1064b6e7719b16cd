"""The placement network with every candidate site in it, for choosing where to open provision.

Built once; a set of sites is evaluated by closing the option arcs of every other candidate, so
enumeration, the facility-location models and Benders decomposition all judge a set of sites by
the same exact lexicographic flow the placement solver uses.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matcher.eligibility import build_arcs
from matcher.lexicographic_flow import FlowNetwork, LexicographicSolution, solve_lexicographic
from matcher.models import Child, Setting
from matcher.placement import (
    PlacementConfig,
    PlacementNetwork,
    build_network,
    level_costs,
    weighted_preference_level,
)
from matcher.travel import TravelTimeMatrix

IntArray = npt.NDArray[np.int64]

# ``fixed`` in the decomposition: a child's held option, or one of these.
FREE = -1  # in the model: placed by the solver
HELD_UNPLACED = -2  # outside the model, unplaced in the no-new-site plan, and kept so


@dataclass
class SiteProblem:
    """The network with every candidate in it; a set of sites is evaluated by closing the rest."""

    network: PlacementNetwork
    level_one: IntArray
    money: IntArray
    n_children: int
    site_of_option: IntArray  # candidate index of each option, -1 for existing settings
    parent: dict[int, int]  # capacity node → next capacity node up (or the sink)
    cap_arc: dict[int, int]  # capacity node → its arc index
    n_existing: int  # settings before the candidates

    def capacities(self, open_sites: Iterable[int]) -> IntArray:
        caps = self.network.flow.capacities.copy()
        n_options = self.network.n_options
        closed = self.site_of_option >= 0
        closed &= ~np.isin(self.site_of_option, np.fromiter(open_sites, np.int64))
        caps[:n_options][closed] = 0
        return caps

    def solve(
        self, open_sites: Iterable[int], fixed: IntArray | None = None
    ) -> tuple[IntArray, int, int]:
        """Exact lexicographic flow with ``open_sites``; children with ``fixed[i] >= 0`` are held
        at that option, and those with ``fixed[i] == HELD_UNPLACED`` held unplaced. Returns
        (option chosen per child or -1, level-1 value, £ value)."""
        flow = self.network.flow
        caps = self.capacities(open_sites)
        supplies = flow.supplies.copy()
        n, n_options = self.n_children, self.network.n_options
        if fixed is not None:
            held = np.nonzero(fixed >= 0)[0]
            for node, used in self.node_use(fixed[held]).items():
                caps[self.cap_arc[node]] -= used
            removed = np.nonzero(fixed != FREE)[0]
            out = np.isin(self.network.arcs.child, removed)
            caps[:n_options][out] = 0
            caps[n_options + removed] = 0
            supplies[removed] = 0
            supplies[self.network.sink] += len(removed)
        net = FlowNetwork(flow.n_nodes, flow.tails, flow.heads, caps, supplies)
        levels = [self.level_one, self.full_money()]
        solution = solve_lexicographic(net, levels)
        choice = np.full(n, -1, np.int64)
        taken = np.nonzero(solution.flows[:n_options] > 0)[0]
        choice[self.network.arcs.child[taken]] = taken
        if fixed is not None:
            choice[fixed >= 0] = fixed[fixed >= 0]
        return choice, self.value(self.level_one, choice), self.value(self.full_money(), choice)

    def lexicographic(self, open_sites: Iterable[int]) -> tuple[LexicographicSolution, IntArray]:
        """The exact flow over every child with ``open_sites`` and the capacities it ran on, for
        Benders cuts (which need the levels' node potentials, not just the plan)."""
        flow = self.network.flow
        caps = self.capacities(open_sites)
        net = FlowNetwork(flow.n_nodes, flow.tails, flow.heads, caps, flow.supplies)
        return solve_lexicographic(net, [self.level_one, self.full_money()]), caps

    def full_money(self) -> IntArray:
        costs = np.zeros(len(self.network.flow.tails), np.int64)
        costs[: self.network.n_options] = self.money
        return costs

    def value(self, costs: IntArray, choice: IntArray) -> int:
        """A level's value for a choice of options (unplaced children priced at their arc)."""
        placed = choice >= 0
        n_options = self.network.n_options
        total = int(costs[choice[placed]].sum())
        return total + int(costs[n_options + np.nonzero(~placed)[0]].sum())

    def path(self, option: int) -> list[int]:
        node = int(self.network.option_head[option])
        nodes = []
        while node != self.network.sink:
            nodes.append(node)
            node = self.parent[node]
        return nodes

    def node_use(self, options: IntArray) -> Counter[int]:
        use: Counter[int] = Counter()
        for a in options[options >= 0].tolist():
            use.update(self.path(a))
        return use


def build_site_problem(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig,
    n_existing: int,
) -> SiteProblem:
    arcs = build_arcs(children, settings, travel, config.eligibility)
    network = build_network(children, settings, arcs, config)
    level_one = weighted_preference_level(
        network, level_costs(network, len(children), ("cost", "travel"))
    )
    money = network.placement_cost + network.transport_cost
    site_of_option = np.where(arcs.setting >= n_existing, arcs.setting - n_existing, -1)
    flow = network.flow
    start = network.n_options + len(children)
    tails = flow.tails[start:].tolist()
    heads = flow.heads[start:].tolist()
    parent = dict(zip(tails, heads, strict=True))
    cap_arc = {t: start + k for k, t in enumerate(tails)}
    return SiteProblem(
        network,
        level_one,
        money,
        len(children),
        site_of_option.astype(np.int64),
        parent,
        cap_arc,
        n_existing,
    )


@dataclass(frozen=True)
class OpeningRule:
    """Which sets of facilities may open together, and what each costs.

    A facility is one way of opening one candidate (a size, a designation set): at most one per
    candidate opens, ``k`` candidates (or up to ``k`` with ``at_most``) in all, and their capital
    cost stays within ``capital_budget``. ``running_cost`` (£ a year, the site cost included) is
    added to the cost level.
    """

    k: int
    at_most: bool
    candidate_of: IntArray
    running_cost: IntArray
    capital_cost: IntArray
    capital_budget: int | None = None

    @property
    def n_facilities(self) -> int:
        return len(self.candidate_of)

    def allows(self, facilities: Sequence[int]) -> bool:
        chosen = np.asarray(facilities, np.int64)
        if len(set(self.candidate_of[chosen].tolist())) != len(chosen):
            return False
        if len(chosen) > self.k or (not self.at_most and len(chosen) != self.k):
            return False
        budget = self.capital_budget
        return budget is None or int(self.capital_cost[chosen].sum()) <= budget

    def running(self, facilities: Sequence[int]) -> int:
        return int(self.running_cost[np.asarray(facilities, np.int64)].sum())

    def sets(self) -> Iterator[tuple[int, ...]]:
        """Every allowed set, smallest first (for enumeration)."""
        sizes = range(self.k + 1) if self.at_most else (self.k,)
        for size in sizes:
            for subset in itertools.combinations(range(self.n_facilities), size):
                if self.allows(subset):
                    yield subset

    def count_at_most(self) -> int:
        """An upper bound on how many sets :meth:`sets` yields (exact with one facility per
        candidate and no budget), without listing them: for choosing a solver."""
        per_candidate = np.bincount(self.candidate_of)
        n, widest = len(per_candidate), int(per_candidate.max(initial=1))
        sizes = range(self.k + 1) if self.at_most else (self.k,)
        return sum(math.comb(n, size) * widest**size for size in sizes)
