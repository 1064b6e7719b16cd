"""Lexicographic distances between places of the residual graph, for many places at once.

Pricing an option (``matcher.system_prices``) needs one distance: from the place the option
enters back to the place its child leaves. A whole LA's lists need it from every place to each
of the places children hold (about 2,500 at 25,000 children), and one search per such place
was most of the time of every list. Three facts about the residual graph of an optimal plan
make them cheap (figures for the 25,000-child benchmark LA):

1. Places joined both ways by moves that cost nothing at any level (a setting with places left,
   its year groups with places left, the sink) are one node: 3,098 places become 2,251 nodes.
2. A move dearer than the route round by the busiest node is on no shortest path and is
   dropped: 127,346 moves become 5,474.
3. The busiest nodes (hubs) are searched to once. A route either passes no hub, or has a last
   hub: the route to that hub is known, and the rest passes no hub. Without its hubs the graph
   falls apart, so a search that stops at hubs reaches a few hundred nodes, not thousands.

Each level of the lexicographic objective is then one scipy Dijkstra for a batch of targets,
on the block-diagonal graph of every target's reach and edges still tight at the earlier
levels (``min_only``: the blocks are apart, so each is searched from its own target). Weights
follow :class:`LexicographicSearch`; an exact pure Python search takes over for any target
whose distances float64 could round.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: Distance to a place that cannot be reached.
UNREACHABLE = np.iinfo(np.int64).max
_EXACT_LIMIT = 2.0**52
#: Hubs searched to once (3. above). More hubs shrink every other search and add one search
#: each; from 64 to 128 the total hardly changes at 25,000 children (benchmarks/tailored_lists).
HUBS = 64
#: Cells (targets × edges or places) of one batch's arrays: about 100 MB of working memory.
_BATCH_CELLS = 4_000_000


class LexicographicSearch:
    """Lexicographic distances to any target: one Dijkstra per level on the tight edges.

    Level k uses weights ``r_k + M_k·ψ_k`` where ψ_k sums the earlier levels' weights: ψ
    telescopes along tight paths (a constant to subtract) and is ≥ 1 on any edge positive at an
    earlier level, so with M_k > max |r_k| every tight weight is non-negative. The weights do
    not depend on the target, so they are made once; per target only the tight set changes.

    ``u``/``v`` must be sorted by (v, u): the transposed graph's CSR order.
    """

    def __init__(self, u: IntArray, v: IntArray, w: IntArray, n_places: int) -> None:
        self.u, self.v, self.w, self.n_places = u, v, w, n_places
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

    def many(self, targets: IntArray, exact: bool = False) -> Reach:
        """Distances to each of ``targets`` from the places that reach it.

        ``exact``: the pure Python search for every target (the check on the fast one).
        """
        if exact or not self.exact or not len(targets):
            return self._exactly(targets, np.ones(len(targets), bool), None)
        index, values, rounded = self._batch(targets)
        return self._exactly(targets, rounded, Reach(index, values))

    def _exactly(self, targets: IntArray, which: BoolArray, reach: Reach | None) -> Reach:
        """``reach`` with the ``which`` targets' distances found by the exact search."""
        levels = self.w.shape[0]
        if reach is None:
            empty = np.full((levels, 1), UNREACHABLE, np.int64)
            reach = Reach(np.full((len(targets), self.n_places), -1, np.int64), empty)
        if not which.any():
            return reach
        index, parts = reach.index.copy(), [reach.values[:, :-1]]
        size = reach.values.shape[1] - 1
        for b in np.nonzero(which)[0].tolist():
            found = exact_distances(self.u, self.v, self.w, self.n_places, int(targets[b]))
            places = np.nonzero(found[0] != UNREACHABLE)[0]
            index[b] = -1
            index[b, places] = size + np.arange(len(places))
            parts.append(found[:, places])
            size += len(places)
        parts.append(np.full((levels, 1), UNREACHABLE, np.int64))
        return Reach(index, np.concatenate(parts, axis=1))

    def _batch(self, targets: IntArray) -> tuple[IntArray, IntArray, BoolArray]:
        """Float64 distances for a batch, as :class:`Reach`'s arrays, and which targets'
        distances might have rounded (found again exactly).

        After the first level only the places each target reaches are kept, numbered target by
        target, so a batch's graph is as small as the targets' reach.
        """
        u, v, n, count = self.u, self.v, self.n_places, len(targets)
        first = np.atleast_2d(dijkstra(self.first, indices=targets))
        reached = np.isfinite(first)
        index = np.where(reached, np.cumsum(reached.ravel()).reshape(count, n) - 1, -1)
        owner = np.repeat(np.arange(count), reached.sum(axis=1))
        sources = index[np.arange(count), targets]
        dist = first[reached]
        block, edge = np.nonzero(reached[:, u] & reached[:, v])  # by target, then (v, u)
        heads, tails = index[block, v[edge]], index[block, u[edge]]
        levels = len(self.weights)
        values = np.full((levels, len(dist) + 1), UNREACHABLE, np.int64)
        offset_sum = np.zeros(len(dist), np.float64)
        rounded = np.zeros(count, bool)
        for k, (weight, m_k) in enumerate(zip(self.weights, self.multipliers, strict=True)):
            if k:
                indptr = np.zeros(len(dist) + 1, np.int64)
                np.cumsum(np.bincount(heads, minlength=len(dist)), out=indptr[1:])
                graph = sp.csr_matrix((weight[edge], tails, indptr), shape=(len(dist),) * 2)
                dist = dijkstra(graph, indices=sources, min_only=True)
            lost = ~(np.abs(dist) < _EXACT_LIMIT)  # too big for float64, or cut off by it
            rounded[owner[lost]] = True
            dist[lost] = 0.0
            values[k, :-1] = np.rint(dist - m_k * offset_sum)
            if k < levels - 1:
                tight = dist[tails] == weight[edge] + dist[heads]
                edge, heads, tails = edge[tight], heads[tight], tails[tight]
                offset_sum += dist
        return index, values, rounded


@dataclass(frozen=True)
class Reach:
    """Distances to some targets: ``values[:, index[b, x]]`` from place x to target b.

    Only the places a target reaches hold a column; the others' index is −1, the last column,
    :data:`UNREACHABLE` at every level.
    """

    index: IntArray  # targets × places
    values: IntArray  # levels × (columns + 1)

    def dense(self) -> IntArray:
        """Levels × targets × places."""
        return self.values[:, self.index]


def exact_distances(
    u: IntArray, v: IntArray, w: IntArray, n_places: int, target: int
) -> npt.NDArray[np.int64]:
    """Dijkstra on tuples of Python ints: exact at any size, and slower."""
    into: list[list[tuple[int, tuple[int, ...]]]] = [[] for _ in range(n_places)]
    for a, b, weight in zip(u.tolist(), v.tolist(), w.T.tolist(), strict=True):
        into[b].append((a, tuple(weight)))
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
    out = np.full((w.shape[0], n_places), UNREACHABLE, np.int64)
    for node, d in best.items():
        out[:, node] = d
    return out


class PlaceDistances:
    """Lexicographic distances between places, reduced once and then asked for in bulk.

    ``u``, ``v``, ``w``: the residual graph on places (an edge u → v: a child at u moves to v,
    with its levels × edges reduced-cost vectors, each lexicographically non-negative), in any
    order; a pair may come more than once, the cheapest counts. ``exact``: every search by
    the pure Python one (the check).
    """

    def __init__(
        self,
        u: IntArray,
        v: IntArray,
        w: IntArray,
        n_places: int,
        hubs: int = HUBS,
        exact: bool = False,
    ) -> None:
        self.levels, self.exact = w.shape[0], exact
        self.component, cu, cv, cw = _contract(u, v, w, n_places)
        n = self.n_nodes = int(self.component.max(initial=-1)) + 1
        cu, cv, cw = _prune(cu, cv, cw, n, exact)
        degree = np.bincount(cu, minlength=n) + np.bincount(cv, minlength=n)
        self.hubs = np.argsort(-degree, kind="stable")[: min(hubs, int(np.sum(degree > 0)))]
        self.hub_index = np.full(n, -1, np.int64)
        self.hub_index[self.hubs] = np.arange(len(self.hubs))
        # to_hub[:, i, x]: the distance from x to hub i, through anything.
        self.to_hub = LexicographicSearch(cu, cv, cw, n).many(self.hubs, exact).dense()
        # The rest: no edge into a hub, so a search from a target reaches a hub last of all
        # and goes no further: the route from there is known (``to_hub``).
        rest = self.hub_index[cv] < 0
        self.rest = LexicographicSearch(cu[rest], cv[rest], cw[:, rest], n)

    def between(self, heads: IntArray, targets: IntArray) -> IntArray:
        """Distances (levels × pairs) from each of ``heads`` to the place beside it in
        ``targets``; :data:`UNREACHABLE` in every level where there is no route.

        A route either passes no hub, or has a last hub: head → hub (``to_hub``) and then,
        passing no other hub, → target (the search from the target, which stops at hubs).
        """
        key = self.component[targets] * self.n_nodes + self.component[heads]
        pairs, back = np.unique(key, return_inverse=True)
        ph, pt = pairs % self.n_nodes, pairs // self.n_nodes
        out = np.full((self.levels, len(pairs)), UNREACHABLE, np.int64)
        at_hub = self.hub_index[pt] >= 0
        out[:, at_hub] = self.to_hub[:, self.hub_index[pt[at_hub]], ph[at_hub]]
        order = np.nonzero(~at_hub)[0]  # pairs sorted by target already (the key)
        found, first = np.unique(pt[order], return_index=True)
        first = np.append(first, len(order))
        batch = max(1, _BATCH_CELLS // (4 * max(len(self.rest.u), self.n_nodes, 1)))
        for start in range(0, len(found), batch):
            stop = min(start + batch, len(found))
            reach = self.rest.many(found[start:stop], self.exact)
            mine = order[first[start] : first[stop]]
            which = np.repeat(np.arange(stop - start), np.diff(first[start : stop + 1]))
            direct = reach.values[:, reach.index[which, ph[mine]]]
            from_hubs = reach.values[:, reach.index[:, self.hubs]]  # levels × targets × hubs
            out[:, mine] = _lexicographic_min(direct, self._via_hubs(from_hubs, which, ph[mine]))
        out[:, ph == pt] = 0
        return out[:, back.reshape(-1)]

    def to(self, target: int) -> IntArray:
        """Distances (levels × places) from every place to ``target``."""
        places = np.arange(len(self.component), dtype=np.int64)
        return self.between(places, np.full(len(places), target, np.int64))

    def _via_hubs(self, from_hubs: IntArray, which: IntArray, heads: IntArray) -> IntArray:
        """The best route through a last hub, for each pair (levels × pairs).

        ``from_hubs``: levels × targets × hubs, from each hub to each target passing no other
        hub; ``which``: each pair's target in it. Few hubs reach a target this way, so the
        candidates are listed and their least taken pair by pair.
        """
        out = np.full((self.levels, len(heads)), UNREACHABLE, np.int64)
        pair, hub = np.nonzero((from_hubs[0] != UNREACHABLE)[which])  # sorted by pair
        if not len(pair):
            return out
        first_leg = self.to_hub[:, hub, heads[pair]]
        ok = first_leg[0] != UNREACHABLE
        candidates = np.where(ok, first_leg + from_hubs[:, which[pair], hub], UNREACHABLE)
        starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        sizes = np.diff(np.append(starts, len(pair)))
        alive = np.ones(len(pair), bool)
        for k in range(self.levels):
            level = np.where(alive, candidates[k], UNREACHABLE)
            least = np.minimum.reduceat(level, starts)
            out[k, pair[starts]] = least
            alive &= level == np.repeat(least, sizes)
        return out


def _lexicographic_min(a: IntArray, b: IntArray) -> IntArray:
    """Pair by pair, the lexicographically lesser of two (levels × pairs) arrays."""
    return np.where(_lexicographically_greater(a, b), b, a)


def _sorted_by_head(u: IntArray, v: IntArray, w: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """One edge per pair of places, the lexicographically cheapest, sorted by (v, u)."""
    order = lexicographic_order(v, u, *w)
    u, v, w = u[order], v[order], w[:, order]
    first = np.ones(len(u), bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[first], v[first], w[:, first]


def _contract(
    u: IntArray, v: IntArray, w: IntArray, n_places: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Places joined both ways at no cost, as one node: (node of each place, the edges)."""
    free = ~np.any(w != 0, axis=0)
    graph = sp.csr_matrix(
        (np.ones(int(free.sum())), (u[free], v[free])), shape=(n_places, n_places)
    )
    _, component = connected_components(graph, directed=True, connection="strong")
    component = component.astype(np.int64)
    cu, cv = component[u], component[v]
    apart = cu != cv
    return (component, *_sorted_by_head(cu[apart], cv[apart], w[:, apart]))


def _prune(
    u: IntArray, v: IntArray, w: IntArray, n: int, exact: bool
) -> tuple[IntArray, IntArray, IntArray]:
    """Drop every edge dearer than the route round by the busiest node.

    An edge strictly dearer than some route between its ends is on no shortest path (swap the
    route in and the path gets cheaper), so all of them can go at once; a tie stays.
    """
    if not len(u):
        return u, v, w
    degree = np.bincount(u, minlength=n) + np.bincount(v, minlength=n)
    hub = np.array([int(np.argmax(degree))], np.int64)
    to_hub, from_hub = _hub_distances(u, v, w, n, hub, exact)
    ok = (to_hub[0, 0, u] != UNREACHABLE) & (from_hub[0, 0, v] != UNREACHABLE)
    around = to_hub[:, 0, u[ok]] + from_hub[:, 0, v[ok]]
    dearer = np.zeros(len(u), bool)
    dearer[np.nonzero(ok)[0][_lexicographically_greater(w[:, ok], around)]] = True
    return u[~dearer], v[~dearer], w[:, ~dearer]


def _hub_distances(
    u: IntArray, v: IntArray, w: IntArray, n: int, hubs: IntArray, exact: bool
) -> tuple[IntArray, IntArray]:
    """(every node → each hub, each hub → every node), levels × hubs × nodes each."""
    to_hub = LexicographicSearch(u, v, w, n).many(hubs, exact).dense()
    order = np.lexsort((v, u))  # reversed edges, sorted by their new head
    from_hub = LexicographicSearch(v[order], u[order], w[:, order], n).many(hubs, exact).dense()
    return to_hub, from_hub


def _lexicographically_greater(a: IntArray, b: IntArray) -> BoolArray:
    """Column by column: is ``a`` lexicographically greater than ``b``?"""
    differ = a != b
    first = np.argmax(differ, axis=0)
    columns = np.arange(a.shape[1])
    return differ.any(axis=0) & (a[first, columns] > b[first, columns])


def lexicographic_order(*keys: npt.NDArray[np.integer] | npt.NDArray[np.bool_]) -> IntArray:
    """``np.lexsort`` with the most significant key first, and keys whose ranges allow it
    packed into one int64: fewer passes over a whole LA's rows or edges."""
    if not len(keys[0]):
        return np.zeros(0, np.int64)
    packed: list[IntArray] = []
    span = 0
    for key in keys:
        low, width = int(key.min()), int(key.max()) - int(key.min()) + 1
        shifted = key.astype(np.int64) - low
        if packed and span * width < 2**62:
            packed[-1] = packed[-1] * width + shifted
            span *= width
        else:
            packed.append(shifted)
            span = width
    return np.lexsort(packed[::-1])
