"""What it costs the whole LA's plan to put one child in one setting, from the flow's duals.

Forcing child c onto option a changes the lexicographic optimum by the cheapest residual cycle
through a: a → (a chain of other children moved) → c's current place → back to c. With the
optimal potentials of every level, each residual arc's reduced-cost vector is lexicographically
non-negative and a cycle costs the sum of its reduced costs, so the cheapest cycle is
``r(a) − r(current) + D(head(a) → head(current))`` with D a lexicographic shortest path.

Children are collapsed out of the residual graph (moving child x from place u to place v is one
edge u → v), leaving a graph on the few thousand capacity nodes. Lexicographic shortest paths
are found with one scipy Dijkstra per level, each on the previous level's tight edges, with
weights offset so they stay non-negative (see ``_lexicographic_distances``); an exact pure
Python search takes over if float64 could lose a unit.
"""

from __future__ import annotations

import heapq
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from matcher.lexicographic_flow import (
    FlowError,
    FlowNetwork,
    LexicographicSolution,
    solve_lexicographic,
)
from matcher.placement import ObjectiveLevel, PlacementNetwork, level_names

IntArray = npt.NDArray[np.int64]
_EXACT_LIMIT = 2.0**52


@dataclass(frozen=True)
class MarginalCost:
    """How much worse the LA-wide optimal plan gets; all zero for the plan's own choice."""

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
        if self.key == (0, 0, 0, 0.0, 0):
            return "no cost to the LA-wide plan"
        parts = []
        if self.children_unplaced:
            parts.append(f"{self.children_unplaced:+d} children left unplaced")
        if self.preferences_unmet:
            parts.append(
                f"{self.preferences_unmet:+d} children with none of their parents' preferences "
                "met (this one too)"
            )
        if self.preference_ranks:
            parts.append(
                f"{self.preference_ranks:+d} preference ranks across all children (this one too)"
            )
        if self.minutes:
            parts.append(f"{self.minutes:+.1f} minutes of travel")
        if self.pounds:
            sign = "+" if self.pounds > 0 else "-"
            parts.append(f"{sign}£{abs(self.pounds):,} a year")
        return "; ".join(parts)


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
        self._search = _LexicographicSearch(*self._edges, self._n_places)
        self._distances: dict[int, npt.NDArray[np.int64]] = {}
        self.force_exact_search = not self._search.exact

    def _collapsed_edges(self) -> tuple[IntArray, IntArray, IntArray]:
        """(u, v, reduced-cost vectors) of the residual graph with children collapsed out."""
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
        u, v, w = u[keep] - n, v[keep] - n, w[:, keep]
        # Keep the lexicographically cheapest edge between each pair of places; sorted by
        # (v, u), the CSR order of the transposed graph the searches run on.
        order = np.lexsort((*w[::-1], u, v))
        u, v, w = u[order], v[order], w[:, order]
        first = np.ones(len(u), bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        return u[first], v[first], w[:, first]

    def distances_to(self, node: int) -> npt.NDArray[np.int64]:
        """Lexicographic residual distance (levels × places) from every place to ``node``.

        Unreachable places hold the int64 maximum.
        """
        target = node - self.n
        if target not in self._distances:
            self._distances[target] = self._search_target(target, None)
        return self._distances[target]

    def _search_target(self, target: int, first: npt.NDArray[np.float64] | None) -> IntArray:
        found = None if self.force_exact_search else self._search.distances(target, first)
        if found is None:
            found = _exact_distances(*self._edges, self._n_places, target)
        return found

    def _columns(
        self, targets: list[int], heads: list[npt.NDArray[np.int64]], chunk: int = 256
    ) -> list[IntArray]:
        """Distances from ``heads[k]`` to ``targets[k]``, sharing first-level searches."""
        out: list[IntArray] = []
        for start in range(0, len(targets), chunk):
            block = targets[start : start + chunk]
            firsts: Sequence[npt.NDArray[np.float64] | None] = [None] * len(block)
            if not self.force_exact_search:
                firsts = list(self._search.first_level(np.asarray(block, np.int64)))
            for k, (t, first) in enumerate(zip(block, firsts, strict=True)):
                out.append(self._search_target(t, first)[:, heads[start + k]])
        return out

    def marginal_deltas(
        self, options: npt.NDArray[np.int64], workers: int = 1
    ) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Level-by-level objective change of forcing each option, and whether it can be.

        Options are grouped by the place their child leaves (one search each). With
        ``workers`` > 1 the searches are shared out to forked processes: they dominate the
        time of a whole LA's lists.
        """
        flow = self.network.flow
        options = np.asarray(options, np.int64)
        cur = self.current[self.network.arcs.child[options]]
        target = flow.heads[cur] - self.n
        delta = self.reduced[:, options] - self.reduced[:, cur]
        order = np.argsort(target, kind="stable")
        targets, starts = np.unique(target[order], return_index=True)
        groups = np.split(order, starts[1:]) if len(order) else []
        heads = [flow.heads[options[g]] - self.n for g in groups]
        cached = [t in self._distances for t in targets.tolist()]
        todo = [k for k, hit in enumerate(cached) if not hit]
        columns: dict[int, IntArray] = {
            k: self._distances[int(targets[k])][:, heads[k]] for k, hit in enumerate(cached) if hit
        }
        computed = self._parallel_columns(
            [int(targets[k]) for k in todo], [heads[k] for k in todo], workers
        )
        columns.update(zip(todo, computed, strict=True))
        big = np.iinfo(np.int64).max
        feasible = np.ones(len(options), bool)
        for k, g in enumerate(groups):
            dist = columns[k]
            ok = ~np.any(dist == big, axis=0)
            feasible[g] = ok
            delta[:, g] += np.where(ok, dist, 0)
        own = options == cur
        delta[:, own] = 0
        feasible[own] = True
        return delta, feasible

    def _parallel_columns(
        self, targets: list[int], heads: list[npt.NDArray[np.int64]], workers: int
    ) -> list[IntArray]:
        if workers <= 1 or len(targets) < 4 * workers:
            return self._columns(targets, heads)
        global _FORKED
        _FORKED = self
        try:
            context = multiprocessing.get_context("fork")
        except ValueError:  # no fork on this platform: one process it is
            return self._columns(targets, heads)
        parts = np.array_split(np.arange(len(targets)), workers * 4)
        jobs = [([targets[k] for k in part], [heads[k] for k in part]) for part in parts]
        try:
            with context.Pool(workers) as pool:
                results = pool.map(_columns_in_worker, jobs)
        finally:
            _FORKED = None
        return [col for part in results for col in part]

    def marginal(self, option: int) -> MarginalCost | None:
        """The cost of forcing ``option`` (an option arc); None where it cannot be forced.

        One at a time is how a panel asks ("and what about this one?"), so the search for the
        child's place is kept: the next option of the same child costs no search.
        """
        self.distances_to(
            int(self.network.flow.heads[self.current[self.network.arcs.child[option]]])
        )
        return self.marginals(np.array([option]))[0]

    def marginals(
        self, options: npt.NDArray[np.int64], workers: int = 1
    ) -> list[MarginalCost | None]:
        """:meth:`marginal` for many options at once."""
        delta, feasible = self.marginal_deltas(options, workers)
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


class _LexicographicSearch:
    """Lexicographic distances to any target: one Dijkstra per level on the tight edges.

    Level k uses weights ``r_k + M_k·ψ_k`` where ψ_k sums the earlier levels' weights: ψ
    telescopes along tight paths (a constant to subtract) and is ≥ 1 on any edge positive at an
    earlier level, so with M_k > max |r_k| every tight weight is non-negative. The weights do
    not depend on the target, so they are made once; per target only the tight set changes,
    and edges off it get an infinite weight rather than a new matrix.

    ``u``/``v`` must be sorted by (v, u): the transposed graph's CSR order.
    """

    def __init__(self, u: IntArray, v: IntArray, w: IntArray, n_places: int) -> None:
        self.u, self.v, self.n_places = u, v, n_places
        self.indptr = np.searchsorted(v, np.arange(n_places + 1))
        self.weights: list[npt.NDArray[np.float64]] = []
        self.multipliers: list[float] = []
        psi = np.zeros(len(u), np.float64)
        for k in range(w.shape[0]):
            m_k = float(np.abs(w[k]).max(initial=0) + 1) if k else 0.0
            weight = w[k].astype(np.float64) + m_k * psi
            self.weights.append(weight)
            self.multipliers.append(m_k)
            psi = psi + weight
        # Every relaxation adds a weight to a settled distance: both below 2^52 keeps it exact
        # in float64. Weights are checked here, distances per target.
        biggest = max((float(np.abs(x).max(initial=0)) for x in self.weights), default=0.0)
        self.exact = biggest < _EXACT_LIMIT
        # The first level needs no tight set: one call serves many targets.
        self.first = sp.csr_matrix((self.weights[0], u, self.indptr), shape=(n_places, n_places))

    def distances(
        self, target: int, first: npt.NDArray[np.float64] | None = None
    ) -> IntArray | None:
        """Distances (levels × places) to ``target``; None where float64 might have rounded."""
        u, v = self.u, self.v
        levels = len(self.weights)
        out = np.empty((levels, self.n_places), np.int64)
        live = np.arange(len(u))  # the edges tight at every level so far
        lu, lv = u, v  # the live edges' ends
        offset_sum = np.zeros(self.n_places, np.float64)
        for k, (weight, m_k) in enumerate(zip(self.weights, self.multipliers, strict=True)):
            lw = weight[live] if k else weight
            if k == 0:
                dist = dijkstra(self.first, indices=target) if first is None else first
            else:
                # Tight edges are few: a small matrix of them beats masking every edge.
                indptr = np.searchsorted(lv, np.arange(self.n_places + 1))
                graph = sp.csr_matrix((lw, lu, indptr), shape=(self.n_places, self.n_places))
                dist = dijkstra(graph, indices=target)
            finite = np.isfinite(dist)
            if np.any(np.abs(dist[finite]) >= _EXACT_LIMIT):
                return None
            out[k] = np.rint(np.where(finite, dist - m_k * offset_sum, 0.0)).astype(np.int64)
            out[k][~finite] = np.iinfo(np.int64).max
            if k < levels - 1:
                ok = finite[lu] & finite[lv]
                ok[ok] = dist[lu[ok]] == lw[ok] + dist[lv[ok]]
                live, lu, lv = live[ok], lu[ok], lv[ok]
                offset_sum += np.where(finite, dist, 0.0)
        return out

    def first_level(self, targets: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return np.atleast_2d(dijkstra(self.first, indices=targets))


_FORKED: SystemPrices | None = None  # the model a forked worker prices against


def _columns_in_worker(
    job: tuple[list[int], list[npt.NDArray[np.int64]]],
) -> list[IntArray]:
    assert _FORKED is not None, "workers are forked from a process holding the model"
    return _FORKED._columns(*job)


def _exact_distances(
    u: IntArray, v: IntArray, w: IntArray, n_places: int, target: int
) -> npt.NDArray[np.int64]:
    """Dijkstra on tuples of Python ints: exact at any size, and slower."""
    into: list[list[tuple[int, tuple[int, ...]]]] = [[] for _ in range(n_places)]
    for a, b, weight in zip(u.tolist(), v.tolist(), w.T.tolist(), strict=True):
        into[b].append((a, tuple(weight)))
    big = np.iinfo(np.int64).max
    best: dict[int, tuple[int, ...]] = {target: (0,) * w.shape[0]}
    heap: list[tuple[tuple[int, ...], int]] = [(best[target], target)]
    done: set[int] = set()
    while heap:
        d, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        for prev, weight in into[node]:
            cand = tuple(x + y for x, y in zip(d, weight, strict=True))
            if prev not in best or cand < best[prev]:
                best[prev] = cand
                heapq.heappush(heap, (cand, prev))
    out = np.full((w.shape[0], n_places), big, np.int64)
    for node, d in best.items():
        out[:, node] = d
    return out


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
