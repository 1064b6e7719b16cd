"""Optimal batch placement for a whole caseload: OR-Tools min-cost flow, lexicographic objective."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

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
    kinds = [KIND_ORDER[k] for k in arcs.kind.tolist()]
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
) -> tuple[PlacementNetwork, LexicographicSolution]:
    """Eligibility, network and the exact lexicographic optimum: shared by every entry point."""
    report("checking eligibility")
    arcs = build_arcs(children, settings, travel, config.eligibility)
    report("building the placement network")
    network = build_network(children, settings, arcs, config)
    report(
        "solving: children placed, then preferences met, then their ranks, then "
        + " then ".join(LEVEL_TITLES[name] for name in config.objective_order)
    )
    levels = level_costs(network, len(children), config.objective_order)
    return network, solve_lexicographic(network.flow, levels)


def place(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig | None = None,
    progress: ProgressCallback | None = None,
) -> PlacementResult:
    """The LA-wide optimal placement: most children placed, then preferences, minutes, pounds."""
    config = config or PlacementConfig()
    report = progress or (lambda _stage: None)
    network, solution = solve_flow(children, settings, travel, config, report)
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
    """Turn flows into one row per child, with the reason a panel would ask for."""
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

    rows = []
    for i, child in enumerate(children):
        a = int(chosen[i])
        if a < 0:
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
        s = settings[int(arcs.setting[a])]
        prov = int(arcs.provision[a])
        rank = int(arcs.preference_rank[a])
        home_la = child.home_la_code or config.home_la_code
        rows.append(
            ChildPlacement(
                child_id=child.child_id,
                setting_urn=s.urn,
                setting_name=s.name,
                placement_kind=KIND_ORDER[int(arcs.kind[a])],
                provision=s.provisions[prov].kind if prov >= 0 else None,
                preference_rank=rank or None,
                minutes=float(arcs.minutes[a]),
                placement_cost=int(network.placement_cost[a]),
                transport_cost=int(network.transport_cost[a]),
                out_of_area=bool(home_la and s.la_code and s.la_code != home_la),
                reason=explainer.placed(i, rank),
            )
        )
    return PlacementResult(tuple(rows), summarise(rows, children, travel_model, len(arcs)))


class _Explainer:
    """Words for outcomes, from the eligibility reasons and which capacities ended full."""

    def __init__(
        self,
        children: Sequence[Child],
        settings: Sequence[Setting],
        network: PlacementNetwork,
        full: npt.NDArray[np.bool_],
    ) -> None:
        self.children, self.settings, self.network, self.full = children, settings, network, full
        arcs = network.arcs
        self.options = group_by(arcs.child, len(children))
        self.excluded = group_by(arcs.excluded_child, len(children))
        self.urn_index = {s.urn: j for j, s in enumerate(settings)}

    def _full_level(self, option: int) -> str:
        head = int(self.network.option_head[option])
        if head != int(self.network.arcs.setting[option]) + len(self.children) and self.full[head]:
            return self.network.node_label[head]
        return "places"

    def _preference_ground(self, i: int, urn: str) -> str:
        arcs = self.network.arcs
        j = self.urn_index.get(urn)
        if j is None:
            return "not a known setting"
        options = self.options[i]
        hit = options[arcs.setting[options] == j]
        if len(hit):
            return f"no capacity: {self._full_level(int(hit[0]))} all taken in the optimal plan"
        excluded = self.excluded[i]
        miss = excluded[arcs.excluded_setting[excluded] == j]
        if len(miss):
            return _ground(int(arcs.excluded_reasons[miss[0]]))
        return _ground(Exclusion.NO_ROUTE)

    def placed(self, i: int, rank: int) -> str:
        child = self.children[i]
        if rank == 1:
            return "first parental preference"
        unmet = [
            f"preference {r} ({urn}) not met: {self._preference_ground(i, urn)}"
            for r, urn in enumerate(child.preferences[: (rank - 1) if rank else None], start=1)
        ]
        head = f"parental preference {rank}" if rank else "no parental preference met"
        if not child.preferences:
            head = "no parental preference; best suitable setting by travel time then cost"
        return "; ".join([head, *unmet])

    def unplaced(self, i: int) -> str:
        arcs = self.network.arcs
        options = self.options[i]
        if len(options):
            settings = len(set(arcs.setting[options].tolist()))
            return (
                f"no capacity: all places at the {settings} suitable setting(s) within reach are "
                "taken in the optimal plan"
            )
        excluded = self.excluded[i]
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
