"""Optimal batch placement for a whole caseload: OR-Tools min-cost flow, lexicographic objective."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from matcher.costs import Tariffs, TransportCostModel, arc_costs
from matcher.eligibility import KIND_ORDER, EligibilityConfig, EligibleArcs, build_arcs
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
from matcher.placement_reasons import placement_reasons, values_at
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
    years = MAX_NC_YEAR - MIN_NC_YEAR + 1
    year_node = np.full((m, years), -1, np.int64)
    provision_node = np.full((m, max((len(s.provisions) for s in settings), default=0)), -1)

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
            provision_node[j, k] = add_node(label, sink, p.places_left)

    # Arrays, not a lookup per arc: a whole LA has most of a million options.
    nc_year = np.fromiter(map(attrgetter("nc_year"), children), np.int64, n)
    setting_of = arcs.setting.astype(np.int64)
    via_year = year_node.ravel()[setting_of * years + (nc_year - MIN_NC_YEAR)[arcs.child]]
    option_head = np.where((arcs.provision < 0) & (via_year >= 0), via_year, n + setting_of)
    prov = np.nonzero(arcs.provision >= 0)[0]
    option_head[prov] = provision_node[setting_of[prov], arcs.provision[prov]]

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
    placement_cost, transport_cost = arc_costs(
        children,
        settings,
        arcs.child,
        arcs.setting,
        arcs.kind,  # KIND_ORDER is PlacementKind's own order
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
        has_preferences=np.fromiter(map(bool, map(attrgetter("preferences"), children)), bool, n),
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
    """Each field of the rows as a column, from arrays and per-setting lookups: a setting's
    urn, name and LA are picked by array indexing, not looked up child by child."""
    arcs, n, m = network.arcs, len(children), len(settings)
    chosen = np.full(n, -1, np.int64)
    used = np.nonzero(flows[: len(arcs)] > 0)[0]
    chosen[arcs.child[used]] = used
    node_flow = np.zeros(network.flow.n_nodes, np.int64)
    cap_arcs = slice(len(arcs) + n, None)
    np.add.at(node_flow, network.flow.tails[cap_arcs], flows[cap_arcs])
    node_cap = np.zeros(network.flow.n_nodes, np.int64)
    node_cap[network.flow.tails[cap_arcs]] = network.flow.capacities[cap_arcs]
    preferences = [c.preferences for c in children]
    reasons = placement_reasons(preferences, settings, network, chosen, node_flow >= node_cap)

    placed = chosen >= 0
    setting = np.where(placed, values_at(arcs.setting, chosen, 0), m)  # m: no setting
    la_code = _table([s.la_code for s in settings])[setting]
    kind = np.where(placed, values_at(arcs.kind, chosen, 0), len(KIND_ORDER))
    provision = values_at(arcs.provision, chosen, -1).astype(np.int64)
    provision_kinds = [p.kind for s in settings for p in s.provisions]
    first_provision = np.cumsum([0, *(len(s.provisions) for s in settings)])  # m + 1 of them
    at_provision = first_provision[setting]
    rank = values_at(arcs.preference_rank, chosen, 0)
    ranks = rank.astype(object)
    ranks[rank == 0] = None
    minutes = values_at(arcs.minutes, chosen, 0)
    minutes_of = minutes.astype(object)
    minutes_of[~placed] = None
    placement_cost = values_at(network.placement_cost, chosen, 0)
    transport_cost = values_at(network.transport_cost, chosen, 0)
    home = np.fromiter(map(attrgetter("home_la_code"), children), object, n)
    home[~home.astype(bool)] = config.home_la_code
    away = home.astype(bool) & la_code.astype(bool) & (la_code != home)  # None: not placed
    ids = [c.child_id for c in children]
    rows = map(
        ChildPlacement,
        ids,
        _picked([s.urn for s in settings], setting),
        _picked([s.name for s in settings], setting),
        _picked(KIND_ORDER, kind),
        _picked(provision_kinds, np.where(provision >= 0, at_provision + provision, -1)),
        ranks.tolist(),
        minutes_of.tolist(),
        placement_cost.tolist(),
        transport_cost.tolist(),
        away.tolist(),
        reasons,
    )
    with_preferences = len(set(compress(ids, preferences)))
    summary = PlacementSummary(
        children=n,
        placed=int(placed.sum()),
        unplaced=n - int(placed.sum()),
        with_preferences=with_preferences,
        first_preference_met=int(np.count_nonzero(placed & (rank == 1))),
        any_preference_met=int(np.count_nonzero(placed & (rank != 0))),
        mean_minutes=float(np.mean(minutes[placed].astype(np.float64))) if placed.any() else None,
        max_minutes=float(np.max(minutes[placed].astype(np.float64))) if placed.any() else None,
        total_placement_cost=int(placement_cost[placed].sum()),
        total_transport_cost=int(transport_cost[placed].sum()),
        out_of_area=int(np.count_nonzero(away)),
        independent=int(np.count_nonzero(kind == KIND_ORDER.index(PlacementKind.INDEPENDENT))),
        travel_model=travel_model,
        eligible_arcs=len(arcs),
    )
    return PlacementResult(tuple(rows), summary)


def _picked(values: Sequence[Any], index: npt.NDArray[np.int64]) -> list[Any]:
    """``values[i]`` for each index; None where the index is past the end or -1."""
    return _table(values)[np.where(index < 0, len(values), index)].tolist()


def _table(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    """``values`` and a None after them, to be picked from by index."""
    table = np.empty(len(values) + 1, dtype=object)
    table[: len(values)] = values
    table[len(values)] = None
    return table
