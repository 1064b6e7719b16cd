"""Optimal batch placement for a whole caseload: OR-Tools min-cost flow, lexicographic objective."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from matcher.costs import Tariffs, TransportCostModel, arc_costs
from matcher.eligibility import (
    EXCLUSION_TEXT,
    KIND_ORDER,
    EligibilityConfig,
    EligibleArcs,
    Exclusion,
    build_arcs,
    describe,
)
from matcher.garbage_collection import paused_garbage_collection
from matcher.lexicographic_flow import FlowNetwork, LexicographicSolution, solve_lexicographic
from matcher.models import (
    MAX_NC_YEAR,
    MIN_NC_YEAR,
    Child,
    PlacementKind,
    ProvisionKind,
    Setting,
)
from matcher.travel import TravelTimeMatrix

ProgressCallback = Callable[[str], None]
ObjectiveLevel = Literal["travel", "cost"]


@dataclass(frozen=True)
class PlacementConfig:
    eligibility: EligibilityConfig = field(default_factory=EligibilityConfig)
    transport: TransportCostModel = field(default_factory=TransportCostModel)
    tariffs: Tariffs = field(default_factory=Tariffs)
    home_la_code: str | None = None  # used for children whose record has no home_la_code
    # After children placed and preferences: which is minimised first. The order is
    # travel then cost; ("cost", "travel") puts the high-needs budget before journey time.
    objective_order: tuple[ObjectiveLevel, ObjectiveLevel] = ("travel", "cost")

    def __post_init__(self) -> None:
        if sorted(self.objective_order) != ["cost", "travel"]:
            raise ValueError("objective_order must name 'travel' and 'cost' once each")


@dataclass(frozen=True)
class ChildPlacement:
    """One child's outcome. ``setting_urn`` is None when unplaced; ``reason`` then says why."""

    child_id: str
    setting_urn: str | None
    setting_name: str | None
    placement_kind: PlacementKind | None
    provision: ProvisionKind | None
    preference_rank: int | None  # 1 = first preference; None = not a parental preference
    minutes: float | None
    placement_cost: int
    transport_cost: int
    out_of_area: bool
    reason: str


@dataclass(frozen=True)
class PlacementSummary:
    children: int
    placed: int
    unplaced: int
    with_preferences: int
    first_preference_met: int
    any_preference_met: int
    mean_minutes: float | None
    max_minutes: float | None
    total_placement_cost: int
    total_transport_cost: int
    out_of_area: int
    independent: int
    travel_model: str
    eligible_arcs: int


@dataclass(frozen=True)
class PlacementResult:
    placements: tuple[ChildPlacement, ...]
    summary: PlacementSummary


@dataclass(frozen=True)
class PlacementNetwork:
    """The flow network of a placement problem, kept to explain and price the optimum.

    Arcs come in this order: one per eligible option (``arcs``), one "unplaced" arc per child,
    then the capacity arcs (year group → setting, provision → setting, setting → sink).
    """

    arcs: EligibleArcs
    flow: FlowNetwork
    option_head: npt.NDArray[np.int64]  # the capacity node each option arc enters
    node_label: tuple[str, ...]  # for capacity nodes: "setting", "year 7", "resourced provision"
    placement_cost: npt.NDArray[np.int64]
    transport_cost: npt.NDArray[np.int64]
    sink: int
    # Children whose parents named at least one setting: the "preference met" level counts them.
    has_preferences: npt.NDArray[np.bool_]

    @property
    def n_options(self) -> int:
        return len(self.arcs)


def build_network(
    children: Sequence[Child],
    settings: Sequence[Setting],
    arcs: EligibleArcs,
    config: PlacementConfig,
) -> PlacementNetwork:
    """Nested capacities as a tree: year-group places feed the setting's total places.

    Resourced provision and SEN unit places are commissioned by the LA apart from the school's
    own places, so they count against the provision alone: a full school with a vacancy in its
    resourced provision can still fill it.
    """
    n, m = len(children), len(settings)
    sink = n + m
    labels: list[str] = ["child"] * n + ["setting"] * m + ["sink"]
    cap_tails: list[int] = list(range(n, n + m))
    cap_heads: list[int] = [sink] * m
    cap_caps: list[int] = [s.places_left for s in settings]
    year_node = np.full((m, MAX_NC_YEAR - MIN_NC_YEAR + 1), -1, np.int64)
    provision_node: dict[tuple[int, int], int] = {}

    def add_node(label: str, head: int, capacity: int) -> int:
        labels.append(label)
        cap_tails.append(len(labels) - 1)
        cap_heads.append(head)
        cap_caps.append(capacity)
        return len(labels) - 1

    for j, s in enumerate(settings):
        for year in sorted(s.year_places):
            left = s.year_places_left(year) or 0
            year_node[j, year - MIN_NC_YEAR] = add_node(f"year {year} places", n + j, left)
        for k, p in enumerate(s.provisions):
            label = f"{p.kind.value.replace('_', ' ')} places"
            provision_node[(j, k)] = add_node(label, sink, p.places_left)

    nc_year = np.array([c.nc_year for c in children], np.int64)
    setting_of = arcs.setting.astype(np.int64)
    via_year = year_node[setting_of, nc_year[arcs.child] - MIN_NC_YEAR]
    option_head = np.where((arcs.provision < 0) & (via_year >= 0), via_year, n + setting_of)
    prov = np.nonzero(arcs.provision >= 0)[0]
    if len(prov):
        option_head[prov] = [
            provision_node[(j, k)]
            for j, k in zip(arcs.setting[prov].tolist(), arcs.provision[prov].tolist(), strict=True)
        ]

    child_nodes = np.arange(n, dtype=np.int64)
    tails = np.concatenate(
        [arcs.child.astype(np.int64), child_nodes, np.asarray(cap_tails, np.int64)]
    )
    heads = np.concatenate(
        [option_head, np.full(n, sink, np.int64), np.asarray(cap_heads, np.int64)]
    )
    caps = np.concatenate([np.ones(len(arcs) + n, np.int64), np.asarray(cap_caps, np.int64)])
    supplies = np.zeros(len(labels), np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    kinds = np.array(KIND_ORDER, dtype=object)[arcs.kind]
    placement_cost, transport_cost = arc_costs(
        children,
        settings,
        arcs.child,
        arcs.setting,
        kinds,
        arcs.minutes,
        config.tariffs,
        config.transport,
    )
    return PlacementNetwork(
        arcs=arcs,
        flow=FlowNetwork(len(labels), tails, heads, caps, supplies),
        option_head=option_head,
        node_label=tuple(labels),
        placement_cost=placement_cost,
        transport_cost=transport_cost,
        sink=sink,
        has_preferences=np.array([bool(c.preferences) for c in children], bool),
    )


#: The levels every plan is judged by, in order, before travel and cost (``objective_order``).
PREFERENCE_LEVELS = ("placed", "preference_met", "preference_rank")
#: Each level in words, for reports and tables.
LEVEL_TITLES = {
    "placed": "children placed",
    "preference_met": "children with a parental preference met",
    "preference_rank": "preference ranks",
    "travel": "travel time",
    "cost": "cost",
}


def level_names(order: Sequence[ObjectiveLevel] = ("travel", "cost")) -> tuple[str, ...]:
    """The names of :func:`level_costs`' levels, in the order they are solved."""
    return (*PREFERENCE_LEVELS, *order)


def level_costs(
    network: PlacementNetwork,
    n_children: int,
    order: Sequence[ObjectiveLevel] = ("travel", "cost"),
) -> list[npt.NDArray[np.int64]]:
    """The objective's levels, one cost per arc each, in the order of :func:`level_names`.

    1. children left unplaced (1 per unplaced arc);
    2. children whose parents named settings and have none of them met (1 on every arc of such
       a child that is not a preference, the unplaced arc included): section 39's duty is to
       name the school the parents ask for, so as many families as possible get one of theirs
       before any family's ranking is weighed;
    3. preference ranks among them: a k-th preference costs k - 1;
    then travel (tenths of a minute) and cost (pounds a year) in ``order``.

    Separate levels rather than one weighted sum: no weight (such as "a setting that is not a
    preference costs as much as the longest list") can be right for every caseload, and the
    lexicographic solver keeps each level exact however large the LA.
    """
    arcs = network.arcs
    n_arcs = len(network.flow.tails)
    rank = arcs.preference_rank.astype(np.int64)
    has_preferences = network.has_preferences.astype(np.int64)

    def level(
        option_costs: npt.NDArray[np.int64], unplaced: npt.NDArray[np.int64] | int = 0
    ) -> npt.NDArray[np.int64]:
        costs = np.zeros(n_arcs, np.int64)
        costs[: len(arcs)] = option_costs
        costs[len(arcs) : len(arcs) + n_children] = unplaced
        return costs

    later = {
        "travel": np.rint(arcs.minutes.astype(np.float64) * 10).astype(np.int64),
        "cost": network.placement_cost + network.transport_cost,
    }
    return [
        level(np.zeros(len(arcs), np.int64), 1),
        level(np.where(rank > 0, 0, has_preferences[arcs.child]), has_preferences),
        level(np.maximum(rank - 1, 0)),
        *(level(later[name]) for name in order),
    ]


def weighted_preference_level(
    network: PlacementNetwork, levels: Sequence[npt.NDArray[np.int64]]
) -> npt.NDArray[np.int64]:
    """The three preference levels of ``levels`` as one cost with exact weights.

    For models that take one objective at a time (site choice's CP-SAT and MIP). Each weight
    exceeds the widest swing of everything below it in any plan: ``rank_span`` is one more than
    the largest total of preference ranks, and a child placed outweighs every family's
    preference and rank together. Exact, but the numbers grow with the caseload squared, which
    is why the placement flow itself solves the levels one after another instead.
    """
    placed, met, rank = (np.asarray(level, np.int64) for level in levels[:3])
    n_children = len(network.has_preferences)
    child_arcs = network.n_options + n_children
    worst_rank = np.zeros(n_children, np.int64)
    np.maximum.at(worst_rank, network.flow.tails[:child_arcs], rank[:child_arcs])
    rank_span = int(worst_rank.sum()) + 1
    met_span = (int(network.has_preferences.sum()) + 1) * rank_span
    return placed * met_span + met * rank_span + rank


def solve_flow(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig,
    report: ProgressCallback,
    arcs: EligibleArcs | None = None,
    *,
    priced: bool = True,
) -> tuple[PlacementNetwork, LexicographicSolution]:
    """Eligibility (unless ``arcs`` are given), network and the exact lexicographic optimum:
    shared by every entry point. ``priced=False``: a plan only, without the last level's
    potentials (:func:`~matcher.lexicographic_flow.solve_lexicographic`)."""
    if arcs is None:
        report("checking eligibility")
        arcs = build_arcs(children, settings, travel, config.eligibility)
    report("building the placement network")
    network = build_network(children, settings, arcs, config)
    report(
        "solving: children placed, then preferences met, then their ranks, then "
        + " then ".join(LEVEL_TITLES[name] for name in config.objective_order)
    )
    levels = level_costs(network, len(children), config.objective_order)
    return network, solve_lexicographic(network.flow, levels, priced=priced)


def place(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig | None = None,
    progress: ProgressCallback | None = None,
    arcs: EligibleArcs | None = None,
) -> PlacementResult:
    """The LA-wide optimal placement: most children placed, then preferences, minutes, pounds.

    ``arcs``: :func:`~matcher.eligibility.build_arcs` already applied (by the round pipeline,
    which may time fewer journeys); by default, applied here to ``travel``.
    """
    config = config or PlacementConfig()
    report = progress or (lambda _stage: None)
    network, solution = solve_flow(children, settings, travel, config, report, arcs, priced=False)
    report("explaining the result")
    return explain_solution(children, settings, network, solution.flows, travel.model, config)


def explain_solution(
    children: Sequence[Child],
    settings: Sequence[Setting],
    network: PlacementNetwork,
    flows: npt.NDArray[np.int64],
    travel_model: str,
    config: PlacementConfig,
) -> PlacementResult:
    """Turn flows into one row per child, with the reason a panel would ask for.

    A whole LA's rows and reasons are hundreds of thousands of small objects, none of them
    garbage: the cyclic collector is paused meanwhile rather than walking them all again.
    """
    with paused_garbage_collection():
        return _explained(children, settings, network, flows, travel_model, config)


def _explained(
    children: Sequence[Child],
    settings: Sequence[Setting],
    network: PlacementNetwork,
    flows: npt.NDArray[np.int64],
    travel_model: str,
    config: PlacementConfig,
) -> PlacementResult:
    arcs = network.arcs
    chosen = np.full(len(children), -1, np.int64)
    used = np.nonzero(flows[: len(arcs)] > 0)[0]
    chosen[arcs.child[used]] = used
    node_flow = np.zeros(network.flow.n_nodes, np.int64)
    cap_arcs = slice(len(arcs) + len(children), None)
    np.add.at(node_flow, network.flow.tails[cap_arcs], flows[cap_arcs])
    node_cap = np.zeros(network.flow.n_nodes, np.int64)
    node_cap[network.flow.tails[cap_arcs]] = network.flow.capacities[cap_arcs]
    full = node_flow >= node_cap
    explainer = _Explainer(children, settings, network, full)

    # Plain lists, read child by child: indexing numpy arrays one element at a time is slow.
    placed_at = chosen.tolist()
    setting_of = _at(arcs.setting, chosen, 0).tolist()
    provision_of = _at(arcs.provision, chosen, -1).tolist()
    rank_of = _at(arcs.preference_rank, chosen, 0).tolist()
    kind_of = _at(arcs.kind, chosen, 0).tolist()
    minutes_of = _at(arcs.minutes, chosen, 0).tolist()
    placement_cost = _at(network.placement_cost, chosen, 0).tolist()
    transport_cost = _at(network.transport_cost, chosen, 0).tolist()
    rows = []
    for i, child in enumerate(children):
        if placed_at[i] < 0:
            rows.append(
                ChildPlacement(
                    child.child_id,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    0,
                    0,
                    False,
                    explainer.unplaced(i),
                )
            )
            continue
        s = settings[setting_of[i]]
        prov, rank = provision_of[i], rank_of[i]
        home_la = child.home_la_code or config.home_la_code
        rows.append(
            ChildPlacement(
                child_id=child.child_id,
                setting_urn=s.urn,
                setting_name=s.name,
                placement_kind=KIND_ORDER[kind_of[i]],
                provision=s.provisions[prov].kind if prov >= 0 else None,
                preference_rank=rank or None,
                minutes=minutes_of[i],
                placement_cost=placement_cost[i],
                transport_cost=transport_cost[i],
                out_of_area=bool(home_la and s.la_code and s.la_code != home_la),
                reason=explainer.placed(i, rank),
            )
        )
    return PlacementResult(tuple(rows), summarise(rows, children, travel_model, len(arcs)))


class _Explainer:
    """Words for outcomes, from the eligibility reasons and which capacities ended full.

    The grounds for every unmet preference are worked out together, by looking each
    (child, setting) pair up among the options and excluded pairs at once, so that explaining
    a whole LA's plan costs a few array passes rather than array work per child.
    """

    def __init__(
        self,
        children: Sequence[Child],
        settings: Sequence[Setting],
        network: PlacementNetwork,
        full: npt.NDArray[np.bool_],
    ) -> None:
        self.children, self.network, self.full = children, network, full
        arcs = network.arcs
        self.options = _PairIndex(arcs.child, arcs.setting, len(settings))
        self.excluded = _PairIndex(arcs.excluded_child, arcs.excluded_setting, len(settings))
        self.grounds = self._preference_grounds({s.urn: j for j, s in enumerate(settings)})

    def _preference_grounds(self, urn_index: dict[str, int]) -> dict[tuple[int, str], str]:
        """Why each child's each preference could not be named, were it not."""
        named = [
            (i, urn, urn_index.get(urn, -1))
            for i, child in enumerate(self.children)
            for urn in child.preferences
        ]
        if not named:
            return {}
        child = np.array([i for i, _, _ in named], np.int64)
        setting = np.array([j for _, _, j in named], np.int64)
        option = self.options.first(child, setting)
        excluded = self.excluded.first(child, setting)
        arcs, n = self.network.arcs, len(self.children)
        head = _at(self.network.option_head, option, 0)
        own = (head != _at(arcs.setting, option, 0).astype(np.int64) + n) & self.full[head]
        reasons = _at(arcs.excluded_reasons, excluded, int(Exclusion.NO_ROUTE))
        labels = self.network.node_label
        grounds = {}
        for k, (i, urn, j) in enumerate(named):
            if j < 0:
                grounds[(i, urn)] = "not a known setting"
            elif option[k] >= 0:
                level = labels[int(head[k])] if own[k] else "places"
                grounds[(i, urn)] = f"no capacity: {level} all taken in the optimal plan"
            else:
                grounds[(i, urn)] = _ground(int(reasons[k]))
        return grounds

    def placed(self, i: int, rank: int) -> str:
        child = self.children[i]
        if rank == 1:
            return "first parental preference"
        unmet = [
            f"preference {r} ({urn}) not met: {self.grounds[(i, urn)]}"
            for r, urn in enumerate(child.preferences[: (rank - 1) if rank else None], start=1)
        ]
        head = f"parental preference {rank}" if rank else "no parental preference met"
        if not child.preferences:
            head = "no parental preference; best suitable setting by travel time then cost"
        return "; ".join([head, *unmet])

    def unplaced(self, i: int) -> str:
        arcs = self.network.arcs
        options = self.options.of_child(i)
        if len(options):
            settings = len(set(arcs.setting[options].tolist()))
            return (
                f"no capacity: all places at the {settings} suitable setting(s) within reach are "
                "taken in the optimal plan"
            )
        excluded = self.excluded.of_child(i)
        if not len(excluded):
            return "no setting within the travel-time cutoff of home"
        reasons = arcs.excluded_reasons[excluded]
        counts = {
            text: int(np.count_nonzero(reasons & int(flag)))
            for flag, text in EXCLUSION_TEXT.items()
            if np.any(reasons & int(flag))
        }
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        detail = "; ".join(f"{k} ({v})" for k, v in ranked)
        return f"no suitable setting: of {len(excluded)} setting(s) considered, {detail}"


class _PairIndex:
    """(child, setting) pairs, to find a pair or a child's pairs by binary search.

    Eligibility lists pairs in (child, setting) order, then the few preferences the travel
    matrix did not reach: a couple of sorted runs, each searched as it is. Any other order is
    sorted once.
    """

    def __init__(
        self, child: npt.NDArray[np.int32], setting: npt.NDArray[np.int32], m: int
    ) -> None:
        self.m = m
        keys = child.astype(np.int64) * m + setting
        breaks = np.flatnonzero(keys[1:] < keys[:-1]) + 1
        if len(breaks) <= _MAX_RUNS:
            self.order: npt.NDArray[np.int64] | None = None
        else:
            self.order = np.argsort(keys, kind="stable")  # equal keys keep their first first
            keys, breaks = keys[self.order], np.empty(0, np.int64)
        self.keys = keys
        starts, stops = np.r_[0, breaks].tolist(), np.r_[breaks, len(keys)].tolist()
        self.runs = list(zip(starts, stops, strict=True))

    def _entries(self, at: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return at if self.order is None else self.order[at]

    def first(
        self, child: npt.NDArray[np.int64], setting: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """The first entry for each pair (-1 where there is none); settings < 0 never match."""
        wanted = child * self.m + setting
        found = np.full(len(wanted), -1, np.int64)
        for lo, hi in self.runs:
            if hi == lo:
                continue
            at = np.minimum(np.searchsorted(self.keys[lo:hi], wanted), hi - lo - 1) + lo
            hit = (found < 0) & (self.keys[at] == wanted) & (setting >= 0)
            found[hit] = self._entries(at[hit])
        return found

    def of_child(self, i: int) -> npt.NDArray[np.int64]:
        """Every entry of child ``i`` (in no particular order)."""
        bounds = [
            lo + np.searchsorted(self.keys[lo:hi], [i * self.m, (i + 1) * self.m])
            for lo, hi in self.runs
        ]
        at = np.concatenate([np.arange(a, b) for a, b in bounds]).astype(np.int64)
        return self._entries(at)


# Sorted runs searched one by one before the pairs are sorted instead.
_MAX_RUNS = 8


def _at(values: npt.NDArray[Any], index: npt.NDArray[np.int64], missing: int) -> npt.NDArray[Any]:
    """``values[index]``, with ``missing`` where the index is -1 (and for empty ``values``)."""
    out = np.full(len(index), missing, dtype=values.dtype)
    found = index >= 0
    out[found] = values[index[found]]
    return out


@cache
def _ground(reasons: int) -> str:
    """The s.39 ground a panel would cite for a preference that cannot be named."""
    suitability = reasons & ~(Exclusion.OVER_TRAVEL_LIMIT | Exclusion.NO_ROUTE)
    if suitability:
        return "unsuitable for the child's age or SEN: " + "; ".join(describe(suitability))
    return "journey: " + "; ".join(describe(reasons))


def group_by(keys: npt.NDArray[np.int32], n: int) -> list[npt.NDArray[np.int64]]:
    """Indices of ``keys`` grouped by key value 0..n-1 (e.g. each child's arcs)."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def summarise(
    rows: Sequence[ChildPlacement],
    children: Sequence[Child],
    travel_model: str,
    eligible_arcs: int,
) -> PlacementSummary:
    placed = [r for r in rows if r.setting_urn is not None]
    minutes = [r.minutes for r in placed if r.minutes is not None]
    with_prefs = {c.child_id for c in children if c.preferences}
    return PlacementSummary(
        children=len(rows),
        placed=len(placed),
        unplaced=len(rows) - len(placed),
        with_preferences=len(with_prefs),
        first_preference_met=sum(1 for r in placed if r.preference_rank == 1),
        any_preference_met=sum(1 for r in placed if r.preference_rank is not None),
        mean_minutes=float(np.mean(minutes)) if minutes else None,
        max_minutes=float(np.max(minutes)) if minutes else None,
        total_placement_cost=sum(r.placement_cost for r in placed),
        total_transport_cost=sum(r.transport_cost for r in placed),
        out_of_area=sum(1 for r in placed if r.out_of_area),
        independent=sum(1 for r in placed if r.placement_kind is PlacementKind.INDEPENDENT),
        travel_model=travel_model,
        eligible_arcs=eligible_arcs,
    )
