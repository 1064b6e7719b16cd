"""Where to open new provision: capacitated facility location over the placement network.

A panel planning sufficiency asks "of these candidate sites, which ``k`` should become new
special schools (or resourced provisions) for these needs, with this many places each?". The
answer must be judged the way placements are judged, so this module reuses the placement solver's
eligibility (:func:`matcher.eligibility.build_arcs`), network (year-group, provision and total
capacities) and costs, and adds one binary ``open[site]`` per candidate:

* every candidate becomes a hypothetical setting (designations, places, ages 4-19 by default);
* travel comes from ``travel_for(children, settings + candidates)``, so the caller chooses road
  times (:mod:`geodata.travel_times`) or the straight-line estimate;
* CP-SAT, lexicographic like the placement flow: first the placement flow's level 1 (children
  placed, then parental preference ranks), then total annual £ (placement + transport). Transport
  is priced from journey minutes by :class:`matcher.costs.TransportCostModel`, so "cost + travel"
  is one figure in pounds; total minutes are reported alongside. (The placement solver's default
  order puts minutes before pounds; here the order is fixed to pounds before minutes, and the
  before/after plans are re-solved with that order so the comparison is like for like.)

Decomposition (``SiteChoiceConfig.restrict_to_reachable``, on by default). Only children with at
least one eligible option at some candidate can be moved by a new site directly. The CP-SAT model
keeps them and every option they have; every other child is fixed where the exact "no new site"
flow put them, and their use of each capacity node is subtracted. This is exact whenever some
optimal plan with the new sites leaves those other children where they were, which holds unless
a new site frees a place at an existing setting that a child *outside* the scope would take
(e.g. a child who could not reach any candidate and was unplaced, or a shorter journey becoming
free). Each chosen set is then re-solved with the exact flow over all children, so reported
totals are exact for that set; only the choice of set can be affected by the fixing, and only
by those freed-place knock-on effects. ``restrict_to_reachable=False`` models every child (exact,
fine to a few thousand children and a few hundred thousand options).

Warm start: every candidate is evaluated alone with the exact flow (a ranking panels also want),
the top ``k`` of that ranking are opened in the hint, and the hint's assignment is the exact
restricted flow for that set, so CP-SAT starts from a good feasible plan and only has to prove or
improve it.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from matcher.eligibility import build_arcs
from matcher.lexicographic_flow import FlowNetwork, solve_lexicographic
from matcher.models import (
    Child,
    Location,
    PrimaryNeed,
    Provision,
    ProvisionKind,
    Setting,
    SettingType,
)
from matcher.placement import (
    PlacementConfig,
    PlacementNetwork,
    PlacementResult,
    build_network,
    level_costs,
    place,
)
from matcher.side_constraints import LevelReport
from matcher.travel import TravelTimeMatrix

IntArray = npt.NDArray[np.int64]
TravelFor = Callable[[Sequence[Child], Sequence[Setting]], TravelTimeMatrix]

# A site's new provision: a special school, an AP, or a resourced provision in a mainstream school.
SITE_TYPES = ("special", "alternative_provision", "resourced_provision")


# --------------------------------------------------------------------------------------------
# Candidate sites from GeoJSON


@dataclass(frozen=True)
class CandidateSite:
    """A place where new provision could open: an id the LA uses, a name and a point."""

    site_id: str
    name: str
    location: Location


class CandidateSiteError(ValueError):
    """The candidate file cannot be used; ``problems`` lists every fault found, not just one."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


def polygon_centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    """(lon, lat) centroid of a GeoJSON Polygon or MultiPolygon (planar in degrees, which is
    fine at the size of a school site)."""
    from shapely.geometry import shape

    shp = shape(geometry)
    if shp.is_empty or shp.area == 0:
        raise ValueError("polygon has zero area")
    return float(shp.centroid.x), float(shp.centroid.y)


def _point(geometry: Any) -> tuple[float, float]:
    if not isinstance(geometry, dict):
        raise ValueError("geometry is missing")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Point":
        if not isinstance(coords, list) or len(coords) < 2:
            raise ValueError("Point needs [longitude, latitude] coordinates")
        return float(coords[0]), float(coords[1])
    if kind in ("Polygon", "MultiPolygon"):
        if not isinstance(coords, list) or not coords:
            raise ValueError(f"{kind} has no coordinates")
        return polygon_centroid(geometry)
    raise ValueError(f"geometry type {kind!r} is not Point, Polygon or MultiPolygon")


def parse_candidates(data: Any, source: str = "candidates") -> list[CandidateSite]:
    """Candidate sites from a parsed GeoJSON FeatureCollection; see :func:`load_candidates`."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise CandidateSiteError(source, ["not a GeoJSON FeatureCollection"])
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise CandidateSiteError(source, ["the FeatureCollection has no features"])
    problems: list[str] = []
    sites: list[CandidateSite] = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict):
            problems.append(f"{where}: not a GeoJSON Feature")
            continue
        props = feature.get("properties") or {}
        raw_id = props.get("id", feature.get("id")) if isinstance(props, dict) else None
        site_id = str(raw_id).strip() if raw_id is not None else ""
        if not site_id:
            problems.append(f"{where}: field 'id' is missing or blank")
        elif site_id in seen:
            problems.append(f"{where}: field 'id' {site_id!r} repeats feature {seen[site_id]}")
        else:
            seen[site_id] = index
        try:
            lon, lat = _point(feature.get("geometry"))
            location = Location(latitude=lat, longitude=lon)
        except (ValueError, TypeError, KeyError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "validation error" in message:
                message = f"coordinates out of range (lon {lon}, lat {lat}; WGS84 expected)"
            problems.append(f"{where}: field 'geometry': {message}")
            continue
        if site_id and seen.get(site_id) == index:
            name = props.get("name") if isinstance(props, dict) else None
            sites.append(CandidateSite(site_id, str(name or site_id), location))
    if problems:
        raise CandidateSiteError(source, problems)
    return sites


def load_candidates(path: str | Path) -> list[CandidateSite]:
    """Read candidate sites from a GeoJSON FeatureCollection of Points or Polygons (WGS84).

    Each feature needs an ``id`` property (or feature id); ``name`` is optional. A Polygon site
    is placed at its centroid. Every fault is collected, naming the feature index and the field,
    so an officer can fix the file in one pass.

    Raises
    ------
    CandidateSiteError
        With ``problems``, one line per fault.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CandidateSiteError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    except json.JSONDecodeError as exc:
        raise CandidateSiteError(
            str(path), [f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]
        ) from exc
    return parse_candidates(data, str(path))


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class SiteChoiceConfig:
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    low_age: int = 4
    high_age: int = 19
    restrict_to_reachable: bool = True  # see the module docstring: the decomposition
    workers: int = 2
    urn_prefix: str = "SITE-"  # a candidate's hypothetical setting is "SITE-<id>"
    la_code: str | None = None  # the LA of the new provision (for out-of-area counts)


@dataclass(frozen=True)
class Totals:
    """One plan's headline figures, for "with the new sites" against "no new site"."""

    placed: int
    unplaced: int
    placement_cost: int
    transport_cost: int
    total_minutes: float
    independent: int
    out_of_area: int

    @property
    def total_cost(self) -> int:
        return self.placement_cost + self.transport_cost

    @classmethod
    def of(cls, result: PlacementResult) -> Totals:
        s = result.summary
        minutes = sum(r.minutes or 0.0 for r in result.placements if r.setting_urn)
        return cls(
            s.placed,
            s.unplaced,
            s.total_placement_cost,
            s.total_transport_cost,
            float(minutes),
            s.independent,
            s.out_of_area,
        )


@dataclass(frozen=True)
class SiteAlone:
    """A candidate opened on its own (exact flow): the heuristic ranking and the CP-SAT hint."""

    site_id: str
    placed: int
    total_cost: int
    level_one: int  # placed and preferences, as the flow scores it (lower is better)


@dataclass(frozen=True)
class ChosenSite:
    site: CandidateSite
    urn: str
    children: int
    by_need: dict[str, int]
    total_minutes: float


@dataclass(frozen=True)
class SiteChoice:
    chosen: tuple[ChosenSite, ...]
    with_sites: Totals
    without: Totals  # "no new site"
    result: PlacementResult  # the full plan with the chosen sites (exact flow)
    status: str  # CP-SAT status of the last level: OPTIMAL or FEASIBLE
    levels: tuple[LevelReport, ...]  # whole-LA objective and bound per level
    alone: tuple[SiteAlone, ...]  # every candidate alone, best first
    hint: tuple[str, ...]  # site ids opened in the warm start
    scope_children: int  # children in the CP-SAT model
    fixed_children: int  # children fixed at the "no new site" plan
    model_options: int  # option variables in the CP-SAT model
    travel_model: str
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def objective(self) -> int:
        return self.levels[-1].objective

    @property
    def best_bound(self) -> int:
        return self.levels[-1].best_bound

    @property
    def gap(self) -> float:
        """Relative gap of the cost level, on the whole LA's annual £ (0 when proven)."""
        return self.levels[-1].gap

    @property
    def absolute_gap(self) -> int:
        """£ a year by which a better choice of sites could at most improve on this one."""
        return 0 if self.levels[-1].proven_optimal else self.objective - self.best_bound


def candidate_setting(
    site: CandidateSite,
    designations: Iterable[PrimaryNeed | str],
    places: int,
    setting_type: str = "special",
    config: SiteChoiceConfig | None = None,
) -> Setting:
    """The hypothetical setting a candidate would become.

    ``resourced_provision`` is a mainstream school with no general places and one resourced
    provision of ``places``; the other types are settings of that type with ``places`` places.
    """
    config = config or SiteChoiceConfig()
    needs = frozenset(PrimaryNeed(n) for n in designations)
    if setting_type not in SITE_TYPES:
        raise ValueError(f"setting_type must be one of {', '.join(SITE_TYPES)}")
    common: dict[str, Any] = {
        "urn": f"{config.urn_prefix}{site.site_id}",
        "name": site.name,
        "location": site.location,
        "low_age": config.low_age,
        "high_age": config.high_age,
        "la_code": config.la_code,
    }
    if setting_type == "resourced_provision":
        provision = Provision(
            kind=ProvisionKind.RESOURCED_PROVISION, designated_needs=needs, places=places
        )
        return Setting(
            **common, setting_type=SettingType.MAINSTREAM, total_places=0, provisions=(provision,)
        )
    return Setting(
        **common,
        setting_type=SettingType(setting_type),
        designated_needs=needs,
        total_places=places,
    )


@dataclass
class _Problem:
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
        at that option. Returns (option chosen per child or -1, level-1 value, £ value)."""
        flow = self.network.flow
        caps = self.capacities(open_sites)
        supplies = flow.supplies.copy()
        n, n_options = self.n_children, self.network.n_options
        if fixed is not None:
            held = np.nonzero(fixed >= 0)[0]
            for node, used in self.node_use(fixed[held]).items():
                caps[self.cap_arc[node]] -= used
            out = np.isin(self.network.arcs.child, held)
            caps[:n_options][out] = 0
            caps[n_options + held] = 0
            supplies[held] = 0
            supplies[self.network.sink] += len(held)
        net = FlowNetwork(flow.n_nodes, flow.tails, flow.heads, caps, supplies)
        levels = [self.level_one, self.full_money()]
        solution = solve_lexicographic(net, levels)
        choice = np.full(n, -1, np.int64)
        taken = np.nonzero(solution.flows[:n_options] > 0)[0]
        choice[self.network.arcs.child[taken]] = taken
        if fixed is not None:
            choice[fixed >= 0] = fixed[fixed >= 0]
        return choice, self.value(self.level_one, choice), self.value(self.full_money(), choice)

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


def _build_problem(
    children: Sequence[Child],
    settings: Sequence[Setting],
    travel: TravelTimeMatrix,
    config: PlacementConfig,
    n_existing: int,
) -> _Problem:
    arcs = build_arcs(children, settings, travel, config.eligibility)
    network = build_network(children, settings, arcs, config)
    level_one = level_costs(network, len(children), ("cost", "travel"))[0]
    money = network.placement_cost + network.transport_cost
    site_of_option = np.where(arcs.setting >= n_existing, arcs.setting - n_existing, -1)
    flow = network.flow
    start = network.n_options + len(children)
    tails = flow.tails[start:].tolist()
    heads = flow.heads[start:].tolist()
    parent = dict(zip(tails, heads, strict=True))
    cap_arc = {t: start + k for k, t in enumerate(tails)}
    return _Problem(
        network,
        level_one,
        money,
        len(children),
        site_of_option.astype(np.int64),
        parent,
        cap_arc,
        n_existing,
    )


def choose_sites(
    children: Sequence[Child],
    settings: Sequence[Setting],
    candidates: Sequence[CandidateSite],
    travel_for: TravelFor,
    k: int,
    designations: Iterable[PrimaryNeed | str],
    places: int,
    config: SiteChoiceConfig | None = None,
    setting_type: str = "special",
    time_limit: float = 60.0,
) -> SiteChoice:
    """Choose ``k`` of ``candidates`` to open with ``places`` places for ``designations``.

    Maximises children placed (with parental preferences, as the placement flow does), then
    minimises the LA's annual £ for placements and transport; see the module docstring for the
    model, the decomposition and the warm start. ``time_limit`` is CP-SAT's, in seconds, split
    between the two levels (the flows around it are extra and take seconds at LA scale).
    """
    started = time.perf_counter()
    config = config or SiteChoiceConfig()
    placement = replace(config.placement, objective_order=("cost", "travel"))
    designations = tuple(designations)
    if not 1 <= k <= len(candidates):
        raise ValueError(f"k must be between 1 and the {len(candidates)} candidate sites")
    if places < 1:
        raise ValueError("places must be at least 1")
    sites = [candidate_setting(c, designations, places, setting_type, config) for c in candidates]
    clash = {s.urn for s in settings} & {s.urn for s in sites}
    if clash:
        raise ValueError(f"candidate urns clash with existing settings: {sorted(clash)}")
    all_settings = [*settings, *sites]
    travel = travel_for(children, all_settings)
    problem = _build_problem(children, all_settings, travel, placement, len(settings))
    n_sites = len(sites)

    base_choice, _, _ = problem.solve([])
    alone = []
    for c in range(n_sites):
        choice, one, money = problem.solve([c])
        alone.append(SiteAlone(candidates[c].site_id, int((choice >= 0).sum()), money, one))
    order = sorted(range(n_sites), key=lambda c: (alone[c].level_one, alone[c].total_cost, c))
    hint_sites = order[:k]

    arcs = problem.network.arcs
    n = len(children)
    if config.restrict_to_reachable:
        in_scope = np.zeros(n, bool)
        in_scope[arcs.child[problem.site_of_option >= 0]] = True
    else:
        in_scope = np.ones(n, bool)
    fixed = np.where(in_scope, -1, base_choice)
    hint_choice, _, _ = problem.solve(hint_sites, fixed)

    levels, chosen_sites, status = _solve_cp_sat(
        problem, in_scope, fixed, hint_sites, hint_choice, k, n_sites, time_limit, config.workers
    )

    # Opening every candidate relaxes "exactly k": its exact flow bounds both levels, and often
    # far tighter than CP-SAT's own bound on the cost level.
    _, all_one, all_money = problem.solve(range(n_sites))
    first, second = levels
    first = replace(first, best_bound=max(first.best_bound, all_one))
    first = replace(
        first, proven_optimal=first.proven_optimal or first.objective <= first.best_bound
    )
    if first.proven_optimal and first.objective == all_one:
        second = replace(second, best_bound=max(second.best_bound, all_money))
        second = replace(
            second, proven_optimal=second.proven_optimal or second.objective <= all_money
        )
    levels = (first, second)

    notes = []
    if not config.restrict_to_reachable:
        notes.append("every child modelled: the site choice is exact up to the reported gap")
    else:
        notes.append(
            f"{int((~in_scope).sum())} children with no candidate within reach held at their "
            "'no new site' placement while sites were chosen (see the module docstring); totals "
            "below are the exact flow for the chosen sites"
        )
    chosen_settings = [sites[c] for c in chosen_sites]
    with_result = place(
        children,
        [*settings, *chosen_settings],
        travel.reindexed(
            [c.child_id for c in children],
            [s.urn for s in settings] + [s.urn for s in chosen_settings],
        ),
        placement,
    )
    without_result = place(
        children,
        settings,
        travel.reindexed([c.child_id for c in children], [s.urn for s in settings]),
        placement,
    )
    need_of = {c.child_id: c.primary_need.value for c in children}
    chosen = []
    for c, s in zip(chosen_sites, chosen_settings, strict=True):
        rows = [r for r in with_result.placements if r.setting_urn == s.urn]
        by_need = Counter(need_of[r.child_id] for r in rows)
        chosen.append(
            ChosenSite(
                candidates[c],
                s.urn,
                len(rows),
                dict(sorted(by_need.items())),
                float(sum(r.minutes or 0.0 for r in rows)),
            )
        )
    return SiteChoice(
        chosen=tuple(chosen),
        with_sites=Totals.of(with_result),
        without=Totals.of(without_result),
        result=with_result,
        status=status,
        levels=levels,
        alone=tuple(alone[c] for c in order),
        hint=tuple(candidates[c].site_id for c in hint_sites),
        scope_children=int(in_scope.sum()),
        fixed_children=int((~in_scope).sum()),
        model_options=int(np.isin(arcs.child, np.nonzero(in_scope)[0]).sum()),
        travel_model=travel.model,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )


def _solve_cp_sat(
    problem: _Problem,
    in_scope: npt.NDArray[np.bool_],
    fixed: IntArray,
    hint_sites: Sequence[int],
    hint_choice: IntArray,
    k: int,
    n_sites: int,
    time_limit: float,
    workers: int,
) -> tuple[tuple[LevelReport, ...], list[int], str]:
    """open[site] binaries and one binary per option of each child in scope; two levels."""
    network = problem.network
    arcs = network.arcs
    n_options = network.n_options
    scope_children = np.nonzero(in_scope)[0]
    options = np.nonzero(np.isin(arcs.child, scope_children))[0]

    model = cp_model.CpModel()
    is_open = [model.new_bool_var(f"open{c}") for c in range(n_sites)]
    model.add(sum(is_open) == k)
    x = {int(a): model.new_bool_var(f"x{a}") for a in options.tolist()}
    by_child: dict[int, list[int]] = defaultdict(list)
    for a in x:
        by_child[int(arcs.child[a])].append(a)
    for opts in by_child.values():
        if len(opts) > 1:
            model.add_at_most_one(x[a] for a in opts)
    for a in x:
        site = int(problem.site_of_option[a])
        if site >= 0:
            model.add_implication(x[a], is_open[site])

    # Capacity nodes: what is left after the fixed children; a candidate's only when open.
    fixed_use = problem.node_use(fixed[fixed >= 0])
    into: dict[int, list[int]] = defaultdict(list)
    node_site: dict[int, int] = {}  # every node on an option's path belongs to its setting
    for a in x:
        for node in problem.path(a):
            into[node].append(a)
            node_site[node] = int(problem.site_of_option[a])
    caps = network.flow.capacities
    for node, opts in into.items():
        left = int(caps[problem.cap_arc[node]]) - fixed_use.get(node, 0)
        if len(opts) <= left:
            continue
        site = node_site[node]
        if site >= 0:
            model.add(sum(x[a] for a in opts) <= left * is_open[site])
        else:
            model.add(sum(x[a] for a in opts) <= left)

    # Constant parts: fixed children's options, and every scope child's unplaced cost.
    fixed_children = np.nonzero(fixed >= 0)[0]
    unplaced_arc = n_options + np.arange(problem.n_children)

    def expr(costs: IntArray) -> tuple[cp_model.LinearExprT, int]:
        const = int(costs[fixed[fixed_children]].sum()) + int(
            costs[unplaced_arc[scope_children]].sum()
        )
        coeffs = [int(costs[a]) - int(costs[unplaced_arc[arcs.child[a]]]) for a in x]
        return cp_model.LinearExpr.weighted_sum(list(x.values()), coeffs), const

    for c in range(n_sites):
        model.add_hint(is_open[c], c in hint_sites)
    for a in x:
        model.add_hint(x[a], bool(hint_choice[arcs.child[a]] == a))

    reports = []
    status_name = "OPTIMAL"
    values_open: list[int] = list(hint_sites)
    names = ("children placed and preferences", "cost (placement + transport, £ a year)")
    for index, costs in enumerate((problem.level_one, problem.full_money())):
        level_expr, const = expr(costs)
        model.minimize(level_expr)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(time_limit / 2, 0.1)
        solver.parameters.num_workers = workers
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            raise RuntimeError(f"CP-SAT found no plan (status {solver.status_name(status)})")
        objective = round(solver.objective_value)
        bound = math.ceil(solver.best_objective_bound - 1e-6)
        proven = status == cp_model.OPTIMAL
        reports.append(LevelReport(names[index], objective + const, bound + const, proven))
        status_name = solver.status_name(status)
        values_open = [c for c in range(n_sites) if solver.value(is_open[c])]
        # Next level among this level's best found plans; the hint carries the solution on.
        model.add(level_expr <= objective)
        model.clear_hints()
        for c in range(n_sites):
            model.add_hint(is_open[c], bool(solver.value(is_open[c])))
        for var in x.values():
            model.add_hint(var, bool(solver.value(var)))
    return tuple(reports), values_open, status_name
