"""What it costs the whole LA's plan to put one child in one setting, from the flow's duals.

Forcing child c onto option a changes the lexicographic optimum by the cheapest residual cycle
through a: a → (a chain of other children moved) → c's current place → back to c. With the
optimal potentials of every level, each residual arc's reduced-cost vector is lexicographically
non-negative and a cycle costs the sum of its reduced costs, so the cheapest cycle is
``r(a) − r(current) + D(head(a) → head(current))`` with D a lexicographic shortest path.

Children are collapsed out of the residual graph (moving child x from place u to place v is one
edge u → v), leaving a graph on the few thousand capacity nodes; the distances on it, for every
option at once, come from :mod:`matcher.residual_distances`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from matcher.lexicographic_flow import (
    FlowError,
    FlowNetwork,
    LexicographicSolution,
    solve_lexicographic,
)
from matcher.placement import ObjectiveLevel, PlacementNetwork, level_names
from matcher.residual_distances import UNREACHABLE, PlaceDistances

IntArray = npt.NDArray[np.int64]


class MarginalCost(NamedTuple):
    """How much worse the LA-wide optimal plan gets; all zero for the plan's own choice.

    A named tuple: a whole LA's lists make hundreds of thousands (see ``ListedOption``).
    """

    children_unplaced: int
    # Children whose parents named settings and would have none of them met (this one too).
    preferences_unmet: int
    preference_ranks: int  # e.g. one child moved from their 1st to their 2nd preference = 1
    minutes: float  # total one-way journey minutes across the LA
    pounds: int  # a year, placements plus transport

    @property
    def key(self) -> tuple[int, int, int, float, int]:
        return (
            self.children_unplaced,
            self.preferences_unmet,
            self.preference_ranks,
            self.minutes,
            self.pounds,
        )

    def describe(self) -> str:
        """The cost in words: each level that changes, or that nothing does."""
        words = [word(value) for word, value in zip(MARGINAL_WORDS, self, strict=True) if value]
        return "; ".join(words) or NO_COST_TEXT


#: Each level of a :class:`MarginalCost` in words, for a change that is not zero.
MARGINAL_WORDS: tuple[Callable[[Any], str], ...] = (
    lambda n: f"{n:+d} children left unplaced",
    lambda n: f"{n:+d} children with none of their parents' preferences met (this one too)",
    lambda n: f"{n:+d} preference ranks across all children (this one too)",
    lambda x: f"{x:+.1f} minutes of travel",
    lambda n: f"{'+' if n > 0 else '-'}£{abs(n):,} a year",
)
NO_COST_TEXT = "no cost to the LA-wide plan"


class SystemPrices:
    """A warm model: the optimal plan and its duals, ready to price any child's options."""

    def __init__(
        self,
        network: PlacementNetwork,
        solution: LexicographicSolution,
        level_costs: Sequence[IntArray],
        order: tuple[ObjectiveLevel, ...],
        n_children: int,
    ) -> None:
        self.network, self.order, self.n = network, order, n_children
        flow = network.flow
        self.flows = solution.flows
        self.reduced = np.stack(
            [
                np.asarray(c, np.int64) + p[flow.tails] - p[flow.heads]
                for c, p in zip(level_costs, solution.level_potentials, strict=True)
            ]
        )
        n_opt = network.n_options
        self.current = np.arange(n_opt, n_opt + n_children, dtype=np.int64)  # unplaced arcs
        used = np.nonzero(self.flows[:n_opt] > 0)[0]
        self.current[network.arcs.child[used]] = used
        self._edges = self._collapsed_edges()
        self._n_places = flow.n_nodes - n_children
        # Made now, so that a warm model prices its first child as fast as the next.
        self._places = PlaceDistances(*self._edges, self._n_places)
        self._distances: dict[int, npt.NDArray[np.int64]] = {}
        # The pure Python search for every distance: the check on the fast one (tests).
        self.force_exact_search = False

    def _collapsed_edges(self) -> tuple[IntArray, IntArray, IntArray]:
        """(u, v, reduced-cost vectors) of the residual graph with children collapsed out,
        in no particular order."""
        net, flow, n = self.network, self.network.flow, self.n
        n_opt = net.n_options
        child_of = np.concatenate([net.arcs.child.astype(np.int64), np.arange(n)])
        arc_ids = np.arange(n_opt + n)
        moves = arc_ids[arc_ids != self.current[child_of]]
        cur = self.current[child_of[moves]]
        u = flow.heads[cur]
        v = flow.heads[moves]
        w = self.reduced[:, moves] - self.reduced[:, cur]
        cap = np.arange(n_opt + n, len(flow.tails))
        fwd = cap[self.flows[cap] < flow.capacities[cap]]
        bwd = cap[self.flows[cap] > 0]
        u = np.concatenate([u, flow.tails[fwd], flow.heads[bwd]])
        v = np.concatenate([v, flow.heads[fwd], flow.tails[bwd]])
        w = np.concatenate([w, self.reduced[:, fwd], -self.reduced[:, bwd]], axis=1)
        keep = u != v
        # A pair of places may come more than once (two children making the same move): the
        # distances keep the cheapest (``PlaceDistances``).
        return u[keep] - n, v[keep] - n, w[:, keep]

    @property
    def places(self) -> PlaceDistances:
        """The reduced graph the distances come from (made again if the search changes)."""
        if self._places.exact != self.force_exact_search:
            self._places = PlaceDistances(
                *self._edges, self._n_places, exact=self.force_exact_search
            )
            self._distances.clear()
        return self._places

    def distances_to(self, node: int) -> npt.NDArray[np.int64]:
        """Lexicographic residual distance (levels × places) from every place to ``node``.

        Unreachable places hold the int64 maximum.
        """
        target = node - self.n
        places = self.places
        if target not in self._distances:
            self._distances[target] = places.to(target)
        return self._distances[target]

    def marginal_deltas(
        self, options: npt.NDArray[np.int64]
    ) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Level-by-level objective change of forcing each option, and whether it can be.

        Every option's distance comes from one bulk call (searches shared by every child
        leaving the same place); places already searched one at a time are reused.
        One process: the bulk search prices a whole LA in well under a second, and forked
        workers made it slower (benchmarks/tailored_lists.py).
        """
        flow = self.network.flow
        options = np.asarray(options, np.int64)
        cur = self.current[self.network.arcs.child[options]]
        target = flow.heads[cur] - self.n
        head = flow.heads[options] - self.n
        places = self.places
        dist = np.empty((self.reduced.shape[0], len(options)), np.int64)
        cached = np.isin(target, np.fromiter(self._distances, np.int64, len(self._distances)))
        for t in np.unique(target[cached]).tolist():
            mine = np.nonzero(target == t)[0]
            dist[:, mine] = self._distances[t][:, head[mine]]
        todo = np.nonzero(~cached)[0]
        dist[:, todo] = places.between(head[todo], target[todo])
        feasible = dist[0] != UNREACHABLE
        delta = self.reduced[:, options] - self.reduced[:, cur]
        delta += np.where(feasible, dist, 0)
        own = options == cur
        delta[:, own] = 0
        feasible[own] = True
        return delta, feasible

    def marginal(self, option: int) -> MarginalCost | None:
        """The cost of forcing ``option`` (an option arc); None where it cannot be forced.

        One at a time is how a panel asks ("and what about this one?"), so the search for the
        child's place is kept: the next option of the same child costs no search.
        """
        self.distances_to(
            int(self.network.flow.heads[self.current[self.network.arcs.child[option]]])
        )
        return self.marginals(np.array([option]))[0]

    def marginals(self, options: npt.NDArray[np.int64]) -> list[MarginalCost | None]:
        """:meth:`marginal` for many options at once."""
        delta, feasible = self.marginal_deltas(options)
        return [
            self.as_marginal(delta[:, i].tolist()) if ok else None
            for i, ok in enumerate(feasible.tolist())
        ]

    def as_marginal(self, delta: list[int]) -> MarginalCost:
        by_name = dict(zip(level_names(self.order), delta, strict=True))
        return MarginalCost(
            children_unplaced=by_name["placed"],
            preferences_unmet=by_name["preference_met"],
            preference_ranks=by_name["preference_rank"],
            minutes=by_name["travel"] / 10.0,
            pounds=by_name["cost"],
        )


def forced_level_objectives(
    network: PlacementNetwork, level_costs: Sequence[IntArray], option: int
) -> tuple[int, ...] | None:
    """The lexicographic optimum with ``option`` forced, by re-solving: the check on duals.

    None where no plan can use the option (its places are all gone).
    """
    flow = network.flow
    child, head = int(flow.tails[option]), int(flow.heads[option])
    supplies = flow.supplies.copy()
    supplies[child] -= 1
    supplies[head] += 1
    capacities = flow.capacities.copy()
    capacities[option] = 0
    forced = FlowNetwork(flow.n_nodes, flow.tails, flow.heads, capacities, supplies)
    try:
        solved = solve_lexicographic(forced, level_costs)
    except FlowError:
        return None
    return tuple(
        obj + int(np.asarray(c)[option])
        for obj, c in zip(solved.level_objectives, level_costs, strict=True)
    )
