"""Where to open new provision: capacitated facility location over the placement network.

A panel planning sufficiency asks "of these candidate sites, which ``k`` should become new
special schools (or resourced provisions) for these needs, with this many places each?". The
answer must be judged the way placements are judged, so this module reuses the placement solver's
eligibility (:func:`matcher.eligibility.build_arcs`), network (year-group, provision and total
capacities) and costs, and adds one binary ``open[site]`` per candidate:

* every candidate becomes a hypothetical setting (designations, places, ages 4-19 by default);
* travel comes from ``travel_for(children, settings + candidates)``, so the caller chooses road
  times (:mod:`geodata.travel_times`) or the straight-line estimate;
* two levels: first the placement flow's three preference levels (children placed, then
  children with a parental preference met, then preference ranks), combined with exact weights
  into one (:func:`matcher.placement.weighted_preference_level`), then total annual £
  (placement + transport). Transport
  is priced from journey minutes by :class:`matcher.costs.TransportCostModel`, so "cost + travel"
  is one figure in pounds; total minutes are reported alongside. (The placement solver's default
  order puts minutes before pounds; here the order is fixed to pounds before minutes, and the
  before/after plans are re-solved with that order so the comparison is like for like.)

Decomposition (CP-SAT and MIP; ``SiteChoiceConfig.restrict_to_reachable``, on by default;
enumeration needs none). Only children with at
least one eligible option at some candidate can be moved by a new site directly. The model
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
improve it (and a level that times out still reports that plan).

Solvers (``SiteChoiceConfig.solver``). With the sites fixed the rest is a min-cost flow, so the
hard part is only the choice of sites, and there are few of them:

* ``benders``: Benders decomposition (:mod:`matcher.site_benders`): a small CP-SAT master over
  which sites open, cut by the exact flow's node potentials; every child in every flow, each
  level exact, a proven bound at every step, stopping at ``SiteChoiceConfig.gap`` or the time
  limit. The only solver for several sizes or designations per site and a capital budget
  besides enumeration.

* ``enumerate``: every allowed set of sites, each solved by the exact lexicographic flow over
  every child (no decomposition); proven optimal for the whole LA by exhaustion. 20 candidates
  and k = 2 are 190 flows.
* ``cp-sat``: one binary per site and per option, ``x ≤ open`` for every option at a candidate
  (the disaggregated linking) as well as each site's capacity row.
* ``mip``: the same model in HiGHS (SciPy's ``milp``).
* ``auto`` (the default): ``enumerate`` when the "no new site" flow's time × the number of
  sets fits in ``time_limit``, else ``benders``.

Bounds. Each level reports the best bound proven: the solver's own, the exact flow with every
candidate open (a relaxation of "k sites", valid for level 1, and for level 2 when level 1 is no
better with every site open), and with ``lp_bound`` the LP relaxation of the model given the
plan's level 1 value. At LA scale the LP relaxation is weak for level 1 (fractional sites spread
their places over every candidate) and slow, and CP-SAT's own bound depends on the CPU it gets,
so the gap is closed by enumeration rather than by bounding (``benchmarks/RESULTS.md``).

"At most k" (``at_most``, with ``site_cost`` £ a year per site opened): level 2 adds the sites'
running cost, so a site opens only when it places more children or meets more preferences
(level 1 comes first, whatever the cost), or saves more in placements and transport than it
costs. No site at all is a valid answer.

Options per site (:class:`SiteOption`: places, designations, type, capital and running cost),
given for every site (``options``) or per site in the candidate file; a facility is one option
of one candidate, at most one opens per candidate, and ``capital_budget`` caps their capital.
Candidate files are read by :mod:`matcher.candidate_sites`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from matcher.candidate_sites import (
    SITE_TYPES,
    CandidateSite,
    CandidateSiteError,
    SiteOption,
    load_candidates,
    parse_candidates,
    parse_gap,
    parse_sizes,
    polygon_centroid,
)
from matcher.models import Child, PrimaryNeed, Provision, ProvisionKind, Setting, SettingType
from matcher.placement import PlacementConfig, PlacementResult, place
from matcher.side_constraints import LevelReport
from matcher.site_benders import BendersProgress, ProgressCallback, solve_benders
from matcher.site_models import (
    SiteRule,
    SolvedChoice,
    enumerate_sets,
    exact_levels,
    scope_model,
    solve_cp_sat,
    solve_mip,
    tighten_bounds,
)
from matcher.site_network import FREE, HELD_UNPLACED, OpeningRule, SiteProblem, build_site_problem
from matcher.travel import TravelTimeMatrix

__all__ = [
    "BendersProgress",
    "CandidateSite",
    "CandidateSiteError",
    "SiteOption",
    "load_candidates",
    "parse_candidates",
    "parse_gap",
    "parse_sizes",
    "polygon_centroid",
]

TravelFor = Callable[[Sequence[Child], Sequence[Setting]], TravelTimeMatrix]

SolverName = Literal["auto", "enumerate", "benders", "cp-sat", "mip"]


@dataclass(frozen=True)
class SiteChoiceConfig:
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    low_age: int = 4
    high_age: int = 19
    restrict_to_reachable: bool = True  # see the module docstring: the decomposition
    workers: int = 2
    urn_prefix: str = "SITE-"  # a candidate's hypothetical setting is "SITE-<id>"
    la_code: str | None = None  # the LA of the new provision (for out-of-area counts)
    # "auto": "enumerate" when every subset's exact flow fits in the time limit, else
    # "benders" ("cp-sat" and "mip" are the facility-location model); see the module docstring.
    solver: SolverName = "auto"
    # Also bound the cost level by the LP relaxation (HiGHS). Off by default: at 5,000 children
    # it did not finish within a 60 s limit (benchmarks/RESULTS.md), so it mostly costs time.
    lp_bound: bool = False
    at_most: bool = False  # open up to k sites: one that does not pay for itself stays shut
    site_cost: int = 0  # £ a year to run each site opened (annualised capital + fixed costs)
    gap: float = 0.0  # benders: stop once the cost level is proven within this fraction
    capital_budget: int | None = None  # £: the options' capital costs opened together, at most


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
    first_preference_met: int = 0
    any_preference_met: int = 0

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
            s.first_preference_met,
            s.any_preference_met,
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
    option: SiteOption | None = None  # the size/designation opened (None: the run's)
    # Where its children are placed with no new site: setting URN (or "unplaced") → children.
    came_from: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunnerUp:
    """The best other set of sites the solver saw, and its cost: for enumeration the true
    second best; for Benders the best other set it evaluated (no proof of second place)."""

    site_ids: tuple[str, ...]
    level_one: int
    cost: int  # £ a year: placements, transport and the sites' running costs
    proven_second: bool


@dataclass(frozen=True)
class SiteChoice:
    chosen: tuple[ChosenSite, ...]
    with_sites: Totals
    without: Totals  # "no new site"
    result: PlacementResult  # the full plan with the chosen sites (exact flow)
    status: str  # OPTIMAL, FEASIBLE (time limit), WITHIN_GAP (benders at --gap); CP-SAT: UNKNOWN
    levels: tuple[LevelReport, ...]  # whole-LA objective and bound per level
    alone: tuple[SiteAlone, ...]  # every candidate alone, best first
    hint: tuple[str, ...]  # site ids opened in the warm start
    scope_children: int  # children in the CP-SAT model
    fixed_children: int  # children fixed at the "no new site" plan
    model_options: int  # option variables in the CP-SAT model
    travel_model: str
    seconds: float
    notes: tuple[str, ...] = ()
    site_cost: int = 0  # £ a year per site opened, in the cost level's objective
    solver: str = "cp-sat"  # the one that ran ("auto" resolved)
    runner_up: RunnerUp | None = None
    flows: int = 0  # exact flows solved to choose (benders and enumerate)

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
    suffix: str = "",
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
        "urn": f"{config.urn_prefix}{site.site_id}{suffix}",
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


@dataclass(frozen=True)
class SiteFacilities:
    """Every way of opening every candidate: one hypothetical setting each, and the rule."""

    settings: list[Setting]
    candidate_of: list[int]
    options: list[SiteOption | None]
    rule: OpeningRule

    def label(self, candidates: Sequence[CandidateSite], f: int) -> str:
        site_id = candidates[self.candidate_of[f]].site_id
        option = self.options[f]
        return site_id if option is None else f"{site_id} ({option.label})"


def site_facilities(
    candidates: Sequence[CandidateSite],
    designations: tuple[PrimaryNeed | str, ...],
    places: int,
    setting_type: str,
    config: SiteChoiceConfig,
    options: Sequence[SiteOption] | None,
    k: int,
) -> SiteFacilities:
    """A facility per option of each candidate (its own options, else ``options``, else the run's
    places): URN ``SITE-<id>``, or ``SITE-<id>-<n>`` for the n-th of several options."""
    settings, candidate_of, chosen_options = [], [], []
    running, capital = [], []
    for c, site in enumerate(candidates):
        own: Sequence[SiteOption | None] = site.options or options or [None]
        for n, option in enumerate(own, start=1):
            if option is not None:
                _check_option(option, site.site_id)
            suffix = f"-{n}" if len(own) > 1 else ""
            settings.append(
                candidate_setting(
                    site,
                    option.designations or designations if option else designations,
                    option.places if option else places,
                    (option.setting_type or setting_type) if option else setting_type,
                    config,
                    suffix,
                )
            )
            candidate_of.append(c)
            chosen_options.append(option)
            running.append(config.site_cost + (option.running_cost if option else 0))
            capital.append(option.capital_cost if option else 0)
    rule = OpeningRule(
        k,
        config.at_most,
        np.asarray(candidate_of, np.int64),
        np.asarray(running, np.int64),
        np.asarray(capital, np.int64),
        config.capital_budget,
    )
    return SiteFacilities(settings, candidate_of, chosen_options, rule)


def _check_option(option: SiteOption, site_id: str) -> None:
    where = f"site {site_id!r}, option {option.label!r}"
    if option.places < 1:
        raise ValueError(f"{where}: places must be at least 1")
    if option.capital_cost < 0 or option.running_cost < 0:
        raise ValueError(f"{where}: capital and running costs must be zero or more pounds")


def _check_request(k: int, n_candidates: int, places: int, config: SiteChoiceConfig) -> None:
    if not 1 <= k <= n_candidates:
        raise ValueError(f"k must be between 1 and the {n_candidates} candidate sites")
    if places < 1:
        raise ValueError("places must be at least 1")
    if config.site_cost < 0:
        raise ValueError("site_cost must be zero or more pounds a year")
    if not 0 <= config.gap < 1:
        raise ValueError("gap must be a fraction from 0 up to (not including) 1, e.g. 0.001")
    if config.capital_budget is not None and config.capital_budget < 0:
        raise ValueError("capital_budget must be zero or more pounds")


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
    *,
    options: Sequence[SiteOption] | None = None,
    on_progress: ProgressCallback | None = None,
) -> SiteChoice:
    """Choose ``k`` of ``candidates`` (at most ``k`` with ``config.at_most``) to open with
    ``places`` places for ``designations`` (or, with ``options``, in one of those ways each).

    Maximises children placed (with parental preferences, as the placement flow does), then
    minimises the LA's annual £ for placements and transport, plus ``config.site_cost`` and each
    option's running cost for each site opened; see the module docstring for the solvers and
    their bounds. ``time_limit`` is the solver's, in seconds (the flows around it are extra and
    take seconds at LA scale). ``on_progress`` hears Benders' best set and proven bound at every
    step.
    """
    started = time.perf_counter()
    config = config or SiteChoiceConfig()
    placement = replace(config.placement, objective_order=("cost", "travel"))
    designations = tuple(designations)
    _check_request(k, len(candidates), places, config)
    facilities = site_facilities(candidates, designations, places, setting_type, config, options, k)
    sites = facilities.settings
    clash = {s.urn for s in settings} & {s.urn for s in sites}
    if clash:
        raise ValueError(f"candidate urns clash with existing settings: {sorted(clash)}")
    all_settings = [*settings, *sites]
    travel = travel_for(children, all_settings)
    problem = build_site_problem(children, all_settings, travel, placement, len(settings))
    rule = facilities.rule

    flow_started = time.perf_counter()
    base_choice, _, _ = problem.solve([])
    flow_seconds = time.perf_counter() - flow_started
    solver = config.solver
    if solver == "auto":
        # Every set's exact flow, if that fits the time (as long as the flows just run).
        fits = rule.count_at_most() * flow_seconds <= time_limit
        solver = "enumerate" if fits else "benders"
    plain = options is None and rule.capital_budget is None
    if solver in ("cp-sat", "mip") and not (plain and not any(c.options for c in candidates)):
        raise ValueError(
            f"solver {solver} takes one size per site and no budget: use benders or enumerate"
        )
    if solver == "benders":
        solved = solve_benders(problem, rule, time_limit, config.gap, config.workers, on_progress)
        outcome = _Outcome(solved, solved.levels, (), (), len(children), 0, 0)
    else:
        outcome = _solve_by_model(problem, rule, base_choice, solver, config, time_limit)
    return _site_choice(
        children,
        settings,
        candidates,
        facilities,
        travel,
        placement,
        solver,
        outcome,
        config,
        started,
    )


@dataclass(frozen=True)
class _Outcome:
    """What a solver returns to :func:`choose_sites`, before the plans are re-solved."""

    solved: SolvedChoice
    levels: tuple[LevelReport, ...]
    alone: tuple[SiteAlone, ...]
    hint: tuple[int, ...]
    scope_children: int
    fixed_children: int
    model_options: int


def _solve_by_model(
    problem: SiteProblem,
    rule: OpeningRule,
    base_choice: Any,
    solver: str,
    config: SiteChoiceConfig,
    time_limit: float,
) -> _Outcome:
    """Enumeration, or the facility-location model in CP-SAT or HiGHS (see the module
    docstring): every facility alone first, for the ranking and the warm start."""
    n_sites = rule.n_facilities
    alone = []
    for c in range(n_sites):
        choice, one, money = problem.solve([c])
        alone.append(SiteAlone(str(c), int((choice >= 0).sum()), money, one))
    order = sorted(range(n_sites), key=lambda c: (alone[c].level_one, alone[c].total_cost, c))
    hint_sites = order[: rule.k]
    ranked = tuple(alone[c] for c in order)
    n = problem.n_children
    if solver == "enumerate":
        solved = enumerate_sets(problem, rule)
        return _Outcome(solved, solved.levels, ranked, tuple(hint_sites), n, 0, 0)
    arcs = problem.network.arcs
    if config.restrict_to_reachable:
        in_scope = np.zeros(n, bool)
        in_scope[arcs.child[problem.site_of_option >= 0]] = True
    else:
        in_scope = np.ones(n, bool)
    # Outside the scope, children keep the no-new-site plan: placed where they were, or unplaced.
    fixed = np.where(in_scope, FREE, np.where(base_choice >= 0, base_choice, HELD_UNPLACED))
    hint_choice, _, _ = problem.solve(hint_sites, fixed)
    scope = scope_model(problem, in_scope, fixed, n_sites)
    site_rule = SiteRule(rule.k, rule.at_most, config.site_cost)
    if solver == "mip":
        fallback = (hint_sites, hint_choice)
        solved = solve_mip(scope, site_rule, time_limit, fallback, relax=False)
    else:
        solved = solve_cp_sat(scope, site_rule, hint_sites, hint_choice, time_limit, config.workers)
    levels = exact_levels(problem, fixed, solved, site_rule)
    levels = tighten_bounds(problem, scope, site_rule, levels, n_sites, config.lp_bound, time_limit)
    return _Outcome(
        solved,
        levels,
        ranked,
        tuple(hint_sites),
        int(in_scope.sum()),
        int((~in_scope).sum()),
        len(scope.options),
    )


def _notes(solver: str, outcome: _Outcome, config: SiteChoiceConfig, k: int) -> list[str]:
    notes = []
    if solver == "enumerate":
        notes.append(
            "every allowed set of sites solved by the exact flow over every child: optimal for "
            "the whole LA"
        )
    elif solver == "benders":
        status = {
            "OPTIMAL": "proven optimal",
            "WITHIN_GAP": f"proven within the {config.gap:.2%} gap asked for",
        }.get(outcome.solved.status, "the best found in the time limit")
        notes.append(
            f"Benders decomposition: every child in every flow; the choice is {status}, with "
            "the bound proven on each level"
        )
    elif not config.restrict_to_reachable:
        notes.append("every child modelled: the site choice is exact up to the reported gap")
    else:
        notes.append(
            f"{outcome.fixed_children} children with no candidate within reach held at their "
            "'no new site' placement while sites were chosen (see the module docstring); totals "
            "below are the exact flow for the chosen sites"
        )
    opened = len(outcome.solved.open_sites)
    if config.at_most and opened < k:
        notes.append(
            f"{opened} of at most {k} sites opened: another site would not pay for its running cost"
        )
    return notes


def _site_choice(
    children: Sequence[Child],
    settings: Sequence[Setting],
    candidates: Sequence[CandidateSite],
    facilities: SiteFacilities,
    travel: TravelTimeMatrix,
    placement: PlacementConfig,
    solver: str,
    outcome: _Outcome,
    config: SiteChoiceConfig,
    started: float,
) -> SiteChoice:
    """The chosen sites' plan and the "no new site" plan, placed in full, and the report."""
    chosen_sites = outcome.solved.open_sites
    chosen_settings = [facilities.settings[f] for f in chosen_sites]
    ids = [c.child_id for c in children]
    with_result = place(
        children,
        [*settings, *chosen_settings],
        travel.reindexed(ids, [s.urn for s in settings] + [s.urn for s in chosen_settings]),
        placement,
    )
    without_result = place(
        children, settings, travel.reindexed(ids, [s.urn for s in settings]), placement
    )
    need_of = {c.child_id: c.primary_need.value for c in children}
    before = {r.child_id: r.setting_urn or "unplaced" for r in without_result.placements}
    chosen = []
    for f, s in zip(chosen_sites, chosen_settings, strict=True):
        rows = [r for r in with_result.placements if r.setting_urn == s.urn]
        by_need = Counter(need_of[r.child_id] for r in rows)
        came_from = Counter(before[r.child_id] for r in rows)
        chosen.append(
            ChosenSite(
                candidates[facilities.candidate_of[f]],
                s.urn,
                len(rows),
                dict(sorted(by_need.items())),
                float(sum(r.minutes or 0.0 for r in rows)),
                facilities.options[f],
                dict(came_from.most_common()),
            )
        )
    runner_up = None
    if outcome.solved.runner_up is not None:
        one, cost, sets = outcome.solved.runner_up
        runner_up = RunnerUp(
            tuple(facilities.label(candidates, f) for f in sets), one, cost, solver == "enumerate"
        )
    return SiteChoice(
        chosen=tuple(chosen),
        with_sites=Totals.of(with_result),
        without=Totals.of(without_result),
        result=with_result,
        status=outcome.solved.status,
        levels=outcome.levels,
        alone=tuple(
            replace(a, site_id=facilities.label(candidates, int(a.site_id))) for a in outcome.alone
        ),
        hint=tuple(facilities.label(candidates, f) for f in outcome.hint),
        scope_children=outcome.scope_children,
        fixed_children=outcome.fixed_children,
        model_options=outcome.model_options,
        travel_model=travel.model,
        seconds=time.perf_counter() - started,
        notes=tuple(_notes(solver, outcome, config, facilities.rule.k)),
        site_cost=config.site_cost,
        solver=solver,
        runner_up=runner_up,
        flows=outcome.solved.flows,
    )
